//! The feedback loop in the report: each configuration × exploration rate
//! over rounds (mean and 95% t-interval over seeds), the oracle's loop as
//! the reference, and the cumulative endpoints (items taken, regret) tested
//! against the spec's baseline over users and seeds.

use std::fmt::Write;

use serde::Serialize;
use tabled::builder::Builder;

use super::figures::{self, Figure, Section, Series};
use super::markdown::{figures as section_figures, marker, push_table, section, with_interval};
use super::Report;
use crate::eval::{mean_ci95, MetricKind};
use crate::format::{describe_knobs, format_p, format_to_precision};
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
    /// The oracle's loop: the reference, tested against nothing.
    pub oracle: bool,
    /// Items taken over the loop against the baseline; None for the
    /// baseline and the oracle.
    pub taken: Option<Contrast>,
    /// Regret over the loop against the baseline (lower is better).
    pub regret: Option<Contrast>,
}

/// The label of the oracle's row.
pub const ORACLE: &str = "oracle (top-K by true relevance)";

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
    let mut rows = Vec::new();
    let mut baseline_label = String::new();
    let mut baseline_index = None;
    for c in configs {
        for &epsilon in &spec.epsilon {
            let found = runs(c, Some(epsilon));
            if found.is_empty() {
                continue;
            }
            let label = format!(
                "{} ({}) ε={epsilon}",
                c.model_name,
                describe_knobs(&c.knobs)
            );
            if baseline.as_ref() == Some(&(c.config_id.clone(), epsilon)) {
                baseline_index = Some(rows.len());
                baseline_label = label.clone();
            }
            rows.push((
                loop_row(spec, label, &c.model_name, epsilon, &found),
                Endpoints::of(&found),
            ));
        }
    }
    if rows.is_empty() {
        return None;
    }
    if let Some(b) = baseline_index {
        test_endpoints(&mut rows, b, compare, seed);
    }
    let mut rows: Vec<LoopRow> = rows.into_iter().map(|(r, _)| r).collect();
    // The oracle's loops depend on the seed alone: any configuration's are
    // every configuration's.
    if let Some(found) = configs
        .iter()
        .map(|c| runs(c, None))
        .find(|found| !found.is_empty())
    {
        rows.push(LoopRow {
            oracle: true,
            ..loop_row(spec, ORACLE.to_string(), "oracle", 0.0, &found)
        });
    }
    Some(Loop {
        rounds: spec.rounds,
        k: spec.k,
        baseline: baseline_label,
        rows,
    })
}

/// A configuration's runs at a rate (None: its oracle loops, one per seed).
fn runs<'a>(c: &Configuration<'a>, epsilon: Option<f64>) -> Vec<&'a SimulationRun> {
    c.trials
        .iter()
        .filter_map(|t| match &t.outcome {
            Outcome::Ok { simulation, .. } => simulation.iter().find(|s| match epsilon {
                Some(e) => !s.oracle && s.epsilon == e,
                None => s.oracle,
            }),
            Outcome::Failed { .. } => None,
        })
        .collect()
}

/// Each seed's per-user endpoints (items taken, regret): the tests run
/// over users and seeds (users align: every run covers every dense user;
/// contrast cuts a hand-edited record that does not to the users all runs
/// have).
struct Endpoints {
    taken: Vec<Vec<f64>>,
    regret: Vec<Vec<f64>>,
}

impl Endpoints {
    fn of(runs: &[&SimulationRun]) -> Self {
        Self {
            taken: runs.iter().map(|r| r.taken.clone()).collect(),
            regret: runs.iter().map(|r| r.regret.clone()).collect(),
        }
    }
}

/// A row of runs: each measure's mean and 95% half-width over seeds, round
/// by round; untested.
fn loop_row(
    spec: &SimulationSpec,
    label: String,
    model: &str,
    epsilon: f64,
    found: &[&SimulationRun],
) -> LoopRow {
    LoopRow {
        label,
        model: model.to_string(),
        epsilon,
        seeds: found.len(),
        measures: Round::MEASURES
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
            .collect(),
        oracle: false,
        taken: None,
        regret: None,
    }
}

/// Every row's endpoints against those of row `baseline`, corrected as one
/// family (both endpoints of every row together).
fn test_endpoints(
    rows: &mut [(LoopRow, Endpoints)],
    baseline: usize,
    compare: &CompareSpec,
    seed: u64,
) {
    let (b_label, b_taken, b_regret) = {
        let (row, values) = &rows[baseline];
        (
            row.label.clone(),
            values.taken.clone(),
            values.regret.clone(),
        )
    };
    for (row, values) in rows.iter_mut() {
        if row.label != b_label {
            let label = row.label.as_str();
            let versus = |a: &[Vec<f64>], b: &[Vec<f64>]| {
                contrast_over_seeds((label, a), (&b_label, b), compare, seed)
            };
            row.taken = versus(&values.taken, &b_taken);
            row.regret = versus(&values.regret, &b_regret);
        }
    }
    let raw: Vec<f64> = rows
        .iter()
        .flat_map(|(r, _)| [&r.taken, &r.regret])
        .filter_map(|c| c.as_ref().map(|c| c.p_raw))
        .collect();
    let mut adjusted = adjust(&raw, compare.correction).into_iter();
    for c in rows
        .iter_mut()
        .flat_map(|(r, _)| [r.taken.as_mut(), r.regret.as_mut()])
        .flatten()
    {
        c.p_adjusted = adjusted.next().expect("one adjusted p per raw p");
    }
}

impl Loop {
    /// A measure's last-round (mean, half-width) in a row.
    fn last(&self, row: &LoopRow, name: &str) -> Option<(f64, Option<f64>)> {
        let m = Round::MEASURES.iter().position(|m| m.name == name)?;
        row.measures[m].last().copied()
    }

    /// What the loop answers, for the report's opening: the configuration
    /// whose users took the most items over the whole loop, against the
    /// baseline, its regret, and the oracle's count beside it. The whole loop,
    /// not the final round: a model whose users took more earlier has less
    /// left to offer at the end (depletion).
    pub fn answer(&self, alpha: f64) -> Option<String> {
        let took = |row: &LoopRow| self.last(row, "taken").map(|(mean, _)| mean);
        let best = self
            .rows
            .iter()
            .filter(|r| !r.oracle && took(r).is_some_and(f64::is_finite))
            .max_by(|a, b| took(a).unwrap_or(0.0).total_cmp(&took(b).unwrap_or(0.0)))?;
        let number =
            |(mean, half): (f64, Option<f64>)| crate::format::format_to_precision(mean, half);
        let versus = |c: &Option<Contrast>, direction| match c {
            None => String::new(),
            Some(c) => format!(
                "; against the baseline {}: {}, {}",
                self.baseline,
                super::stages::lift_phrase(c),
                c.verdict(alpha, direction).of_a()
            ),
        };
        let is_baseline = if best.label == self.baseline {
            " (the baseline)"
        } else {
            ""
        };
        let oracle = self
            .rows
            .iter()
            .find(|r| r.oracle)
            .and_then(|o| Some((self.last(o, "taken")?, took(best)?)))
            .map(|(o, b)| {
                format!(
                    " The oracle's users took {}; this configuration reached {:.0}% of that.",
                    number(o),
                    100.0 * b / o.0
                )
            })
            .unwrap_or_default();
        Some(format!(
            "Over {} rounds of the feedback loop, users of **{}**{is_baseline} took the most items on average, {} each{}. \
             Its regret against the ideal lists is {}{}.{oracle}",
            self.rounds,
            best.label,
            number(self.last(best, "taken")?),
            versus(&best.taken, crate::eval::Direction::Higher),
            number(self.last(best, "regret")?),
            versus(&best.regret, crate::eval::Direction::Lower),
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

/// The section in the report: how the loop ran, the last round's measures
/// and the tested endpoints, and the figures.
pub fn render(out: &mut String, report: &Report) {
    let Some(l) = &report.simulation else {
        return;
    };
    let Some(sim) = &report.record.spec.simulation else {
        return;
    };
    section(out, "Feedback loop");
    let truth = match &sim.truth {
        None => "the synthetic generator's preferences (docs/metrics.md, \"Truth metrics\")".to_string(),
        Some(t) => format!(
            "a stand-in for the truth: **{} fitted on the whole log** ({}), its scores ÷ {} taken as the logits of users' choices \
             (docs/simulation.md); models that resemble it are favoured",
            t.model.as_str(),
            crate::format::describe_knobs(&t.params),
            t.temperature
        ),
    };
    let explore = match sim.explore {
        crate::simulation::Explore::Uniform => "uniformly among the items the user could be shown",
        crate::simulation::Explore::LongTail => "among the long-tail items the user could be shown",
    };
    let shown = match sim.impressions {
        crate::simulation::Impressions::Forget => {
            "items not in the log (a shown item not taken may come back)"
        }
        crate::simulation::Impressions::Remember => {
            "items not in the log and never shown to them before (impressions are remembered)"
        }
    };
    let takes = match &sim.choice {
        None => "Each user takes each recommended item independently with probability ρ".to_string(),
        Some(c) => format!(
            "Each user takes at most {} of them, one after another, by a multinomial logit over the items not yet taken \
             (weights δ_p·ρ/(1 − ρ), δ_p {}) and an outside option of weight 1",
            c.max,
            match c.position {
                crate::simulation::PositionDiscount::Dcg => "= 1/log2(p + 1) at position p",
                crate::simulation::PositionDiscount::None => "= 1",
            }
        ),
    };
    let _ = writeln!(
        out,
        "Each of {} rounds retrains the model on the current log (at first the whole dataset) and recommends to every user {} {shown}; \
         each slot is, with probability ε, filled {explore}. {takes}, where ρ is the item's true relevance under {truth}; taken items join the log. \
         Truth utility is the mean true relevance of a round's K slots; taken counts the items a user took through the round; \
         regret sums over rounds the ideal list's truth utility (the K most relevant items the user could be shown that round) minus the list's; \
         ARP and the long tail refer to the initial log; homogenisation is the mean Jaccard similarity of users' taken items so far (docs/simulation.md). \
         Mean over seeds ± the half-width of a 95% t-interval over seeds, in the last round. \
         The last two columns give each row's items taken and regret over the whole loop minus those of **{}** with 95% intervals, tested over users and seeds \
         (the spec's {} test, paired over seed-averaged users, the seeds' own variance added; {} correction over both columns).{}\n",
        l.rounds,
        l.k,
        l.baseline,
        report.record.spec.compare.test.as_str(),
        report.record.spec.compare.correction.as_str(),
        if l.rows.iter().any(|r| r.oracle) {
            " The oracle row recommends each user the K items of highest true relevance they could be shown, in its own loop: the reference."
        } else {
            ""
        },
    );
    rounds_table(out, l, report.record.spec.compare.alpha);
    section_figures(out, report, Section::Simulation);
}

/// One row per configuration: its last-round measures and its loop-wide
/// items taken and regret against the baseline.
fn rounds_table(out: &mut String, l: &Loop, alpha: f64) {
    let mut header: Vec<String> = vec!["configuration".into(), "seeds".into()];
    header.extend(Round::MEASURES.iter().map(|m| m.name.to_string()));
    header.push("taken vs baseline".into());
    header.push("regret vs baseline ↓".into());
    let mut t = Builder::default();
    t.push_record(header);
    for row in &l.rows {
        let mut cells = vec![row.label.clone(), row.seeds.to_string()];
        for values in &row.measures {
            let (mean, ci) = values.last().copied().unwrap_or((f64::NAN, None));
            // Seeds that agree to rounding (the oracle's lists) have no interval.
            let real = |ci: &f64| *ci > 1e-9 * mean.abs() && ci.is_finite();
            cells.push(match ci.filter(real) {
                Some(ci) => format!(
                    "{} ± {}",
                    format_to_precision(mean, Some(ci)),
                    format_to_precision(ci, Some(ci))
                ),
                None => format_to_precision(mean, None),
            });
        }
        for c in [&row.taken, &row.regret] {
            cells.push(match c {
                None if row.oracle => "reference".into(),
                None if row.label == l.baseline => "baseline".into(),
                None => "—".into(),
                Some(c) => format!(
                    "{} {} p={}",
                    with_interval(MetricKind::Ndcg, c),
                    marker(c.significant(alpha), c.diff()),
                    format_p(c.p_adjusted)
                ),
            });
        }
        t.push_record(cells);
    }
    push_table(out, t);
}
