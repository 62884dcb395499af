//! Groups trials into configurations (a configuration's seeds together) and
//! picks, per model, the configuration with the best validation value of the
//! selection metric. Test numbers never influence the choice when a
//! validation split exists.

use serde_yaml::Mapping;

use crate::eval::{Direction, MetricId, Summary};
use crate::split::SplitSpec;
use crate::store::{Outcome, TrialRecord};
use crate::sweep::Expansion;

/// One configuration of one model, over its seeds.
#[derive(Debug, Clone)]
pub struct Configuration<'a> {
    pub model_index: usize,
    pub model_name: String,
    pub config_id: String,
    pub knobs: Mapping,
    /// Successful trials, in seed order.
    pub trials: Vec<&'a TrialRecord>,
    pub failed: usize,
}

/// Which split a number comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Part {
    Validation,
    Test,
}

impl Part {
    pub fn as_str(self) -> &'static str {
        match self {
            Part::Validation => "validation",
            Part::Test => "test",
        }
    }

    /// Where configurations are selected: on validation when the split has
    /// one, else (optimistically) on test.
    pub fn selection(split: &SplitSpec) -> Self {
        if split.has_validation() {
            Part::Validation
        } else {
            Part::Test
        }
    }
}

impl Configuration<'_> {
    fn summaries(&self, part: Part) -> Vec<&Summary> {
        self.summaries_under(None, part)
    }

    /// Summaries under the primary protocol (None) or a secondary one.
    fn summaries_under(&self, protocol: Option<&str>, part: Part) -> Vec<&Summary> {
        self.trials
            .iter()
            .filter_map(|r| match &r.outcome {
                Outcome::Ok {
                    validation,
                    test,
                    secondary,
                    ..
                } => {
                    let (validation, test) = match protocol {
                        None => (validation.as_ref(), test),
                        Some(name) => {
                            let s = secondary.iter().find(|s| s.protocol == name)?;
                            (s.validation.as_ref(), &s.test)
                        }
                    };
                    match part {
                        Part::Validation => validation,
                        Part::Test => Some(test),
                    }
                }
                Outcome::Failed { .. } => None,
            })
            .collect()
    }

    /// Mean over seeds under a secondary protocol.
    pub fn mean_under(&self, protocol: &str, part: Part, metric: MetricId) -> Option<f64> {
        let values: Vec<f64> = self
            .summaries_under(Some(protocol), part)
            .iter()
            .filter_map(|s| s.get(metric).map(|m| m.mean))
            .collect();
        (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
    }

    /// Mean over seeds of the summary value.
    pub fn mean(&self, part: Part, metric: MetricId) -> Option<f64> {
        let values: Vec<f64> = self
            .summaries(part)
            .iter()
            .filter_map(|s| s.get(metric).map(|m| m.mean))
            .collect();
        (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
    }

    /// Standard deviation over seeds of the summary value (two seeds or more).
    pub fn seed_sd(&self, part: Part, metric: MetricId) -> Option<f64> {
        let values: Vec<f64> = self
            .summaries(part)
            .iter()
            .filter_map(|s| s.get(metric).map(|m| m.mean))
            .collect();
        if values.len() < 2 {
            return None;
        }
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        let var =
            values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (values.len() - 1) as f64;
        Some(var.sqrt())
    }

    /// Mean over seeds of a per-trial number.
    pub fn mean_of(&self, f: impl Fn(&Outcome) -> Option<f64>) -> Option<f64> {
        let values: Vec<f64> = self.trials.iter().filter_map(|r| f(&r.outcome)).collect();
        (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
    }
}

/// Configurations model by model, each model's in expansion order (a TPE
/// search adds its models' configurations round by round, interleaved);
/// only trials of the expansion count.
pub fn configurations<'a>(
    expansion: &Expansion,
    records: &'a [TrialRecord],
) -> Vec<Configuration<'a>> {
    let mut configs: Vec<Configuration<'a>> = Vec::new();
    for trial in &expansion.trials {
        let index = match configs.iter().position(|c| c.config_id == trial.config_id) {
            Some(i) => i,
            None => {
                configs.push(Configuration {
                    model_index: trial.model_index,
                    model_name: trial.model_name.clone(),
                    config_id: trial.config_id.clone(),
                    knobs: trial.knobs.clone(),
                    trials: Vec::new(),
                    failed: 0,
                });
                configs.len() - 1
            }
        };
        match records.iter().find(|r| r.trial.id == trial.id) {
            Some(r) if matches!(r.outcome, Outcome::Ok { .. }) => configs[index].trials.push(r),
            _ => configs[index].failed += 1,
        }
    }
    // Stable: grid and random expansions are already in this order.
    configs.sort_by_key(|c| c.model_index);
    configs
}

/// Index (into `configs`) of each model's best configuration, by the mean over
/// seeds of `metric` on `part`; ties keep the earlier configuration. Models
/// with no successful trial are absent.
pub fn select(configs: &[Configuration], metric: MetricId, part: Part) -> Vec<usize> {
    let mut best: Vec<(usize, usize, f64)> = Vec::new();
    let better = |a: f64, b: f64| match metric.kind.direction() {
        Direction::Higher => a > b,
        Direction::Lower => a < b,
    };
    for (i, config) in configs.iter().enumerate() {
        let Some(value) = config.mean(part, metric) else {
            continue;
        };
        match best
            .iter_mut()
            .find(|(model, _, _)| *model == config.model_index)
        {
            Some(entry) if better(value, entry.2) => *entry = (config.model_index, i, value),
            Some(_) => {}
            None => best.push((config.model_index, i, value)),
        }
    }
    best.into_iter().map(|(_, i, _)| i).collect()
}
