//! The report's "Tuning" section, all of it here (rows, figures, markdown):
//! how much search each model got (its budget, the configurations and
//! trials it ran and their training seconds), when its best configuration
//! was found, and where the selected value sits on an edge of what was
//! tried. Which tuned model wins depends on how much tuning each got
//! (Rendle et al. 2019; Shehzad & Jannach 2023), so the report says
//! whether the budgets were equal.

use std::fmt::Write;

use serde::Serialize;

use super::figures::{self as draw, Figure, Section, Series, XAxis};
use super::markdown::{figures, push_table, section, table};
use super::Report;
use crate::eval::{Direction, MetricId};
use crate::format::{describe_knobs, format_to_precision};
use crate::results::{edge_phrases, Configuration, Part, Sensitivity};
use crate::spec::Spec;
use crate::store::Outcome;

/// Each searched model's tuning, and the models with nothing to tune.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Tuning {
    /// "grid", "random" or "TPE", and any successive halving.
    pub search: String,
    /// A random or TPE search, whose order is the order of discovery.
    pub ordered: bool,
    pub rows: Vec<TuningRow>,
    /// Models with one configuration (no swept param reached them).
    pub untuned: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TuningRow {
    pub model: String,
    /// Configurations the spec allowed it (random samples or TPE trials;
    /// None for a grid, whose budget is its product).
    pub budget: Option<usize>,
    /// The budget is the model's own (`models[i].trials`), not the sweep's.
    pub overridden: bool,
    pub configurations: usize,
    /// Trials over all seeds, and of them those that failed.
    pub trials: usize,
    pub failed: usize,
    /// Under successive halving: the epochs its trials were trained for at
    /// most (each trial's cap, summed), the budget halving spends.
    pub epochs: Option<u64>,
    /// Training seconds summed over its trials.
    pub fit_seconds: f64,
    /// The selected configuration's selection value and where in the search
    /// (1-based configuration number) it was reached.
    pub best: f64,
    pub found_at: usize,
    pub selected: String,
    /// Knobs whose selected value is the smallest or largest tried.
    pub edges: Vec<String>,
    /// After each configuration: training seconds spent so far and the best
    /// selection value so far (NaN before the first that finished).
    #[serde(skip)]
    pub progress: Vec<(f64, f64)>,
    #[serde(skip)]
    pub style: usize,
}

/// The rows of the models with more than one configuration, in spec order;
/// `style` gives each model its look in the report's figures.
pub fn build(
    spec: &Spec,
    configs: &[Configuration],
    metric: MetricId,
    part: Part,
    sensitivity: &[Sensitivity],
    style: &dyn Fn(&str) -> usize,
) -> Tuning {
    let search = match (&spec.sweep.random, &spec.sweep.tpe) {
        (Some(_), _) => "random",
        (None, Some(_)) => "TPE",
        (None, None) => "grid",
    };
    let halving = spec.sweep.fidelity.as_ref();
    let better = |a: f64, b: f64| match metric.kind.direction() {
        Direction::Higher => a > b,
        Direction::Lower => a < b,
    };
    let mut tuning = Tuning {
        search: match halving {
            Some(f) => format!(
                "{search} search, with successive halving over {} epochs",
                f.rungs()
                    .iter()
                    .map(u64::to_string)
                    .collect::<Vec<_>>()
                    .join(" → ")
            ),
            None => format!("{search} search"),
        },
        ordered: search != "grid",
        ..Tuning::default()
    };
    for (index, entry) in spec.models.iter().enumerate() {
        let mine: Vec<&Configuration> = configs.iter().filter(|c| c.model_index == index).collect();
        let name = spec.model_name(index);
        if mine.len() < 2 {
            tuning.untuned.push(name);
            continue;
        }
        let (distinct, ordinal) = distinct_configurations(&mine, halving.is_some());
        let (mut best, mut found_at, mut selected) = (f64::NAN, 0, String::new());
        let mut progress = Vec::new();
        let mut seconds = 0.0;
        for (i, c) in mine.iter().enumerate() {
            seconds += fit_seconds(c);
            if let Some(v) = c.mean(part, metric) {
                if best.is_nan() || better(v, best) {
                    (best, found_at, selected) = (v, ordinal[i], describe_knobs(&c.knobs));
                }
            }
            progress.push((seconds, best));
        }
        let edges = edge_phrases(
            &sensitivity
                .iter()
                .filter(|s| s.model == name)
                .cloned()
                .collect::<Vec<_>>(),
        );
        let epochs = halving.map(|_| {
            mine.iter()
                .flat_map(|c| &c.trials)
                .filter_map(|r| {
                    r.trial
                        .params
                        .get("epochs")
                        .and_then(serde_yaml::Value::as_u64)
                })
                .sum()
        });
        tuning.rows.push(TuningRow {
            style: style(&name),
            model: name,
            budget: spec.budget(index),
            overridden: entry.trials.is_some(),
            configurations: distinct,
            trials: mine.iter().map(|c| c.trials.len() + c.failed).sum(),
            failed: mine.iter().map(|c| c.failed).sum(),
            epochs,
            fit_seconds: seconds,
            best,
            found_at,
            selected,
            edges,
            progress,
        });
    }
    tuning
}

/// How many distinct configurations `mine` holds, and the 1-based
/// position of each one's among them: under successive halving a
/// configuration promoted to more epochs is the same configuration.
fn distinct_configurations(mine: &[&Configuration], halving: bool) -> (usize, Vec<usize>) {
    let mut distinct: Vec<serde_yaml::Mapping> = Vec::new();
    let mut ordinal: Vec<usize> = Vec::new();
    for c in mine {
        let mut knobs = c.knobs.clone();
        if halving {
            knobs.remove("epochs");
        }
        match distinct.iter().position(|d| *d == knobs) {
            Some(at) => ordinal.push(at + 1),
            None => {
                distinct.push(knobs);
                ordinal.push(distinct.len());
            }
        }
    }
    (distinct.len(), ordinal)
}

/// Training seconds of a configuration's trials (failed ones count none).
fn fit_seconds(c: &Configuration) -> f64 {
    c.trials
        .iter()
        .map(|r| match &r.outcome {
            Outcome::Ok { fit_seconds, .. } => *fit_seconds,
            Outcome::Failed { .. } => 0.0,
        })
        .sum()
}

impl Tuning {
    /// Whether every searched model tried the same number of configurations.
    pub fn equal(&self) -> bool {
        self.rows
            .windows(2)
            .all(|w| w[0].configurations == w[1].configurations)
    }

    /// The sentence on budgets, for the section and the report's answer.
    pub fn sentence(&self) -> Option<String> {
        let first = self.rows.first()?;
        if self.rows.len() == 1 {
            return Some(format!(
                "{} is the one tuned model: {} configurations ({}).",
                first.model, first.configurations, self.search
            ));
        }
        if self.equal() {
            return Some(format!(
                "Every tuned model tried {} configurations ({}).",
                first.configurations, self.search
            ));
        }
        let counts: Vec<String> = self
            .rows
            .iter()
            .map(|r| format!("{} {}", r.model, r.configurations))
            .collect();
        Some(format!(
            "**Unequal tuning budgets** (configurations tried: {}): a model given more configurations has more chances to look best on validation, so part of a difference between these models may be tuning, not model (Rendle et al. 2019).",
            counts.join(", ")
        ))
    }

    /// Best validation value so far against configurations tried, and
    /// against training seconds.
    pub fn figures(&self, metric: MetricId, part: Part) -> Vec<Figure> {
        // A grid's order says nothing about how a search progresses.
        if self.rows.is_empty() || !self.ordered {
            return Vec::new();
        }
        let part = part.as_str();
        let y = format!("best {part} {metric} so far");
        let series = |x: &dyn Fn(usize, f64) -> f64| -> Vec<Series> {
            self.rows
                .iter()
                .map(|r| Series {
                    name: r.model.clone(),
                    points: r
                        .progress
                        .iter()
                        .enumerate()
                        .filter(|(_, (_, best))| best.is_finite())
                        .map(|(i, &(seconds, best))| (x(i, seconds), best))
                        .collect(),
                    band: None,
                    style: r.style,
                })
                .collect()
        };
        let by_count = format!("Tuning: best {part} {metric} against configurations tried");
        let by_time = format!("Tuning: best {part} {metric} against training seconds");
        let time_axis = XAxis {
            desc: "training seconds spent (all seeds)",
            labels: None,
            log: true,
        };
        vec![
            Figure::drawn(
                "tuning-configurations.svg".to_string(),
                by_count.clone(),
                Section::Tuning,
                draw::lines(
                    &by_count,
                    "configurations tried",
                    &y,
                    &series(&|i, _| (i + 1) as f64),
                    None,
                ),
            ),
            Figure::drawn(
                "tuning-seconds.svg".to_string(),
                by_time.clone(),
                Section::Tuning,
                draw::line_panels(
                    &by_time,
                    &time_axis,
                    &[(y.clone(), series(&|_, s| s.max(1e-3)))],
                ),
            ),
        ]
    }

    /// The section: the budget sentence, one row per searched model, edge
    /// warnings and the figures.
    fn write(&self, out: &mut String, report: &Report) {
        if self.rows.is_empty() {
            return;
        }
        let (metric, part) = (report.selection_metric, report.selected_on);
        section(out, "Tuning");
        if let Some(sentence) = self.sentence() {
            let _ = writeln!(out, "{sentence}\n");
        }
        let part = part.as_str();
        let best = format!("best {part} {metric}");
        let halving = self.rows.iter().any(|r| r.epochs.is_some());
        let mut header = vec!["model", "budget", "configurations", "trials"];
        if halving {
            header.push("epochs (caps summed)");
        }
        header.extend(["training s", best.as_str(), "found at", "selected"]);
        let mut t = table(&header);
        for r in &self.rows {
            let budget = match (r.budget, r.overridden) {
                (Some(b), true) => format!("{b} (own)"),
                (Some(b), false) => b.to_string(),
                (None, _) => "grid".to_string(),
            };
            let trials = match r.failed {
                0 => r.trials.to_string(),
                f => format!("{} ({f} failed)", r.trials),
            };
            let mut row = vec![
                r.model.clone(),
                budget,
                r.configurations.to_string(),
                trials,
            ];
            if halving {
                row.push(r.epochs.map_or("—".to_string(), |e| e.to_string()));
            }
            row.extend([
                format!("{:.1}", r.fit_seconds),
                // NaN: every configuration failed.
                match r.best.is_finite() {
                    true => format_to_precision(r.best, None),
                    false => "—".to_string(),
                },
                match self.ordered && r.found_at > 0 {
                    true => format!("{} of {}", r.found_at, r.configurations),
                    false => "—".to_string(),
                },
                r.selected.clone(),
            ]);
            t.push_record(row);
        }
        push_table(out, t);
        if self.ordered {
            let _ = writeln!(
                out,
                "*found at*: the configuration, in search order, where the best {part} value was reached; found in the last round, the search may not have converged."
            );
        }
        for r in &self.rows {
            for edge in &r.edges {
                let _ = writeln!(
                    out,
                    "\n> **On the edge**: {edge}; the optimum may lie beyond what was tried: widen the range."
                );
            }
        }
        if !self.untuned.is_empty() {
            let _ = writeln!(
                out,
                "\nNot tuned (one configuration): {}.",
                self.untuned.join(", ")
            );
        }
        let _ = writeln!(out);
        figures(out, report, Section::Tuning);
    }
}

/// The tuning section of `report`.
pub(super) fn render(out: &mut String, report: &Report) {
    report.tuning.write(out, report);
}
