//! The feedback loop in the report: each configuration × exploration rate
//! over rounds (mean and 95% t-interval over seeds), and its final round
//! tested against the spec's baseline over users and seeds.

use serde::Serialize;

use super::figures::{self, Figure, Section, Series};
use crate::eval::mean_ci95;
use crate::format::describe_knobs;
use crate::results::{contrast_over_seeds, Configuration, Contrast};
use crate::simulation::{Round, SimulationRun, SimulationSpec};
use crate::spec::CompareSpec;
use crate::stats::adjust;
use crate::store::Outcome;

/// A configuration at one exploration rate, over its seeds.
#[derive(Debug, Clone, Serialize)]
pub struct LoopRow {
    pub label: String,
    pub model: String,
    pub epsilon: f64,
    pub seeds: usize,
    /// measures[m][r]: (mean, 95% half-width) over seeds of measure m at round r.
    pub measures: Vec<Vec<(f64, Option<f64>)>>,
    /// Final-round truth utility against the baseline; None for the
    /// baseline itself.
    pub versus: Option<Contrast>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Loop {
    pub rounds: usize,
    pub k: usize,
    pub baseline: String,
    pub rows: Vec<LoopRow>,
}

/// None without a simulation section or results.
pub fn build(
    configs: &[Configuration],
    spec: &SimulationSpec,
    first_model: &str,
    compare: &CompareSpec,
    seed: u64,
) -> Option<Loop> {
    fn runs<'a>(c: &Configuration<'a>, epsilon: f64) -> Vec<&'a SimulationRun> {
        c.trials
            .iter()
            .filter_map(|t| match &t.outcome {
                Outcome::Ok { simulation, .. } => simulation.iter().find(|s| s.epsilon == epsilon),
                Outcome::Failed { .. } => None,
            })
            .collect()
    }
    let (baseline_model, baseline_epsilon) = spec.baseline.as_ref().map_or_else(
        || {
            (
                first_model.to_string(),
                spec.epsilon.first().copied().unwrap_or(0.0),
            )
        },
        |b| (b.model.clone(), b.epsilon),
    );
    let baseline = configs
        .iter()
        .find(|c| c.model_name == baseline_model)
        .map(|c| (c.config_id.clone(), baseline_epsilon));
    // Each seed's per-user final utility: the test runs over users and
    // seeds (users align: every run covers every dense user; contrast cuts a
    // hand-edited record that does not to the users all runs have).
    let per_seed = |runs: &[&SimulationRun]| -> Vec<Vec<f64>> {
        runs.iter().map(|r| r.final_utility.clone()).collect()
    };
    let mut rows = Vec::new();
    let mut baseline_values = None;
    let mut baseline_label = String::new();
    for c in configs {
        for &epsilon in &spec.epsilon {
            let found = runs(c, epsilon);
            if found.is_empty() {
                continue;
            }
            let label = format!(
                "{} ({}) ε={epsilon}",
                c.model_name,
                describe_knobs(&c.knobs)
            );
            let measures = Round::MEASURES
                .iter()
                .map(|measure| {
                    (0..spec.rounds)
                        .map(|r| {
                            let values: Vec<f64> = found
                                .iter()
                                .filter(|run| r < run.rounds.len())
                                .map(|run| (measure.of)(&run.rounds, r))
                                .collect();
                            mean_ci95(&values)
                        })
                        .collect()
                })
                .collect();
            if baseline.as_ref() == Some(&(c.config_id.clone(), epsilon)) {
                baseline_values = Some(per_seed(&found));
                baseline_label = label.clone();
            }
            rows.push((
                LoopRow {
                    label,
                    model: c.model_name.clone(),
                    epsilon,
                    seeds: found.len(),
                    measures,
                    versus: None,
                },
                per_seed(&found),
            ));
        }
    }
    if rows.is_empty() {
        return None;
    }
    if let Some(b) = &baseline_values {
        for (row, values) in rows.iter_mut() {
            if row.label != baseline_label {
                row.versus =
                    contrast_over_seeds((&row.label, values), (&baseline_label, b), compare, seed);
            }
        }
        // One family: the table's rows, corrected together.
        let raw: Vec<f64> = rows
            .iter()
            .filter_map(|(r, _)| r.versus.as_ref().map(|c| c.p_raw))
            .collect();
        let mut adjusted = adjust(&raw, compare.correction).into_iter();
        for c in rows.iter_mut().filter_map(|(r, _)| r.versus.as_mut()) {
            c.p_adjusted = adjusted.next().expect("one adjusted p per raw p");
        }
    }
    Some(Loop {
        rounds: spec.rounds,
        k: spec.k,
        baseline: baseline_label,
        rows: rows.into_iter().map(|(r, _)| r).collect(),
    })
}

impl Loop {
    /// What the loop answers, for the report's opening: the configuration
    /// with the highest final-round truth utility, against the baseline.
    pub fn answer(&self, alpha: f64) -> Option<String> {
        let utility = Round::MEASURES
            .iter()
            .position(|m| m.name == "truth_utility")?;
        let last = |row: &LoopRow| row.measures[utility].last().map(|(mean, _)| *mean);
        let best = self
            .rows
            .iter()
            .filter(|r| last(r).is_some_and(f64::is_finite))
            .max_by(|a, b| last(a).unwrap_or(0.0).total_cmp(&last(b).unwrap_or(0.0)))?;
        let versus = match &best.versus {
            None => "it is the baseline".to_string(),
            Some(c) => format!(
                "against the baseline {}: {}, {}",
                self.baseline,
                super::stages::lift_phrase(c),
                c.verdict(alpha, crate::eval::Direction::Higher).of_a()
            ),
        };
        let (mean, half) = *best.measures[utility].last()?;
        // The final round alone is confounded by depletion (a model whose
        // users took more earlier has less left to offer), so the items
        // taken over the whole loop stand beside it.
        let taken = Round::MEASURES.iter().position(|m| m.name == "taken")?;
        let took = |label: &str| {
            let row = self.rows.iter().find(|r| r.label == label)?;
            let (mean, half) = *row.measures[taken].last()?;
            Some(crate::format::format_to_precision(mean, half))
        };
        let taken = match (took(&best.label), took(&self.baseline)) {
            (Some(a), Some(b)) if best.label != self.baseline => {
                format!(" Over the whole loop its users took {a} items each, the baseline's {b}.")
            }
            _ => String::new(),
        };
        Some(format!(
            "After {} rounds of the feedback loop, **{}** keeps the highest truth utility ({}); {versus}.{taken}",
            self.rounds,
            best.label,
            crate::format::format_to_precision(mean, half)
        ))
    }
}

/// One figure per measure: a line per configuration and rate, with bands.
pub fn figures(l: &Loop) -> Vec<Figure> {
    Round::MEASURES
        .iter()
        .enumerate()
        .map(|(m, measure)| {
            let (name, desc) = (measure.name, measure.meaning);
            let series: Vec<Series> = l
                .rows
                .iter()
                .enumerate()
                .map(|(style, row)| Series {
                    name: row.label.clone(),
                    points: row.measures[m]
                        .iter()
                        .enumerate()
                        .map(|(r, (mean, _))| ((r + 1) as f64, *mean))
                        .collect(),
                    band: Some(
                        row.measures[m]
                            .iter()
                            .map(|(_, ci)| ci.unwrap_or(0.0))
                            .collect(),
                    ),
                    style,
                })
                .collect();
            let title = format!("Feedback loop: {desc}, K = {}", l.k);
            let svg = figures::lines(&title, "round", desc, &series, None);
            Figure::drawn(format!("loop-{name}.svg"), title, Section::Simulation, svg)
        })
        .collect()
}
