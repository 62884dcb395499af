//! The report: built from a results folder alone (so `recsweep report`
//! rebuilds it byte for byte), as a plain model that renderers turn into
//! formats. Markdown is the one format today.

mod embedding;
mod features;
pub mod figures;
mod markdown;
mod orderings;
mod simulation;
mod stages;
mod visuals;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::eval::{mean_ci95, MetricId, MetricSummary, PerUser, ServingTime};
use crate::format::{describe_knobs, format_number};
use crate::models::ServingCost;
use crate::results::{
    configurations, correct, load_records, pairwise, seed_averaged, select, sensitivity,
    Configuration, Part,
};
use crate::stats::kendall_tau_b;
use crate::store::{ExperimentRecord, Outcome, ResultsDir, StoreError};

pub use crate::results::{Contrast, Sensitivity};
pub use embedding::EmbeddingRow;
pub use figures::{Figure, Section};
pub use markdown::render as render_markdown;
pub use orderings::{OrderingTau, Orderings};
pub use simulation::{Loop, LoopRow};
pub use stages::StageRow;

/// A selected configuration of one model.
#[derive(Debug, Clone, Serialize)]
pub struct LeaderRow {
    pub model: String,
    pub kind: String,
    pub knobs: String,
    pub seeds: usize,
    /// Selection metric on the selection split, mean over seeds.
    pub selection_value: f64,
    /// Test metrics: per-user values averaged over seeds first, then mean and
    /// 95% CI over users; catalogue metrics are means over seeds.
    pub test: BTreeMap<MetricId, MetricSummary>,
    /// Standard deviation over seeds of the test selection metric.
    pub seed_sd: Option<f64>,
    pub fit_seconds: f64,
    pub score_micros_per_user: f64,
    /// Scoring timed apart, pooled over seeds (None for records of
    /// versions that did not time it).
    pub serving: Option<ServingTime>,
    pub cost: ServingCost,
    /// Its trials, in seed order.
    pub trial_ids: Vec<String>,
}

/// How a secondary protocol orders models compared with the primary one, on
/// the test selection metric.
#[derive(Debug, Clone, Serialize)]
pub struct ProtocolAgreement {
    pub protocol: String,
    /// (model, primary value, secondary value) of the selected configurations.
    pub models: Vec<(String, f64, f64)>,
    /// Kendall's τ-b between the two orderings of the selected configurations.
    pub tau_models: Option<f64>,
    /// The same over every configuration of the sweep.
    pub tau_configurations: Option<f64>,
    pub configurations: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct TrialRow {
    pub id: String,
    pub model: String,
    pub knobs: String,
    pub seed_index: usize,
    pub outcome: Outcome,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub record: ExperimentRecord,
    pub selection_metric: MetricId,
    pub selected_on: Part,
    /// A few sentences written from the results (best model, what mattered,
    /// the accuracy/bias trade-off).
    pub summary: Vec<String>,
    pub leaderboard: Vec<LeaderRow>,
    /// Every pair of selected configurations on the selection metric (test).
    pub pairs: Vec<Contrast>,
    pub sensitivity: Vec<Sensitivity>,
    /// Every pipeline configuration's stages at the selection metric's K.
    pub stages: Vec<StageRow>,
    /// Agreement of each secondary protocol with the primary one.
    pub protocols: Vec<ProtocolAgreement>,
    /// Naive vs debiased vs true orders of the models, when evaluated.
    pub orderings: Option<Orderings>,
    /// The feedback-loop simulation, when the spec has one.
    pub simulation: Option<Loop>,
    pub trials: Vec<TrialRow>,
    pub figures: Vec<Figure>,
    pub embedding: Vec<EmbeddingRow>,
    /// Where the figures go, relative to the report file (`<report stem>/`
    /// unless the CLI says otherwise).
    pub figure_dir: String,
    /// Trials of the expansion with no stored record yet (an unfinished or
    /// sharded run).
    pub missing: usize,
}

pub fn build(results: &ResultsDir) -> Result<Report, StoreError> {
    let record = results.read_experiment()?;
    let (records, missing) = load_records(results, &record)?;
    let metric = record.spec.selection.metric;
    let selected_on = Part::selection(&record.spec.split);
    let configs = configurations(&record.expansion, &records);
    let mut leaderboard = Vec::new();
    let mut selected_values = BTreeMap::new();
    for index in select(&configs, metric, selected_on) {
        let per_user = seed_averaged(results, &configs[index])?;
        if let Some(column) = per_user.as_ref().and_then(|p| p.column(metric)) {
            selected_values.insert(configs[index].model_name.clone(), column.to_vec());
        }
        leaderboard.push(leader_row(
            &record,
            &configs[index],
            metric,
            selected_on,
            per_user.as_ref(),
        ));
    }
    leaderboard.sort_by(|a, b| {
        let value = |r: &LeaderRow| r.test.get(&metric).map_or(f64::NEG_INFINITY, |m| m.mean);
        value(b)
            .total_cmp(&value(a))
            .then_with(|| a.model.cmp(&b.model))
    });
    let compare = &record.spec.compare;
    let names: Vec<String> = leaderboard.iter().map(|r| r.model.clone()).collect();
    let mut pairs = pairwise(&names, &selected_values, compare, record.spec.seed);
    let per_user = |c: &Configuration| seed_averaged(results, c).ok().flatten();
    let mut sensitivity = sensitivity(
        &configs,
        metric,
        selected_on,
        &per_user,
        compare,
        record.spec.seed,
    );
    correct(&mut pairs, &mut sensitivity, compare);
    let selected = select(&configs, metric, selected_on);
    let protocols = record
        .spec
        .evaluation
        .protocol
        .secondary()
        .iter()
        .map(|p| agreement(&p.to_string(), &configs, &selected, metric))
        .collect();
    let orderings =
        orderings::orderings(&configs, &selected, metric, &record.spec.evaluation.metrics);
    let trials: Vec<TrialRow> = records
        .iter()
        .map(|r| TrialRow {
            id: r.trial.id.clone(),
            model: r.trial.model_name.clone(),
            knobs: describe_knobs(&r.trial.knobs),
            seed_index: r.trial.seed_index,
            outcome: r.outcome.clone(),
        })
        .collect();
    let summary = summarise(&record, &leaderboard, &pairs, &sensitivity, metric, missing);
    let stages = stages::rows(results, &configs, metric.k, compare, record.spec.seed)?;
    let (mut figures, embedding) = visuals::build(&visuals::Inputs {
        results,
        record: &record,
        configs: &configs,
        leaderboard: &leaderboard,
        sensitivity: &sensitivity,
        trials: &trials,
        stages: &stages,
        metric,
    })?;
    let simulation = record.spec.simulation.as_ref().and_then(|sim| {
        simulation::build(
            &configs,
            sim,
            &record.spec.model_name(0),
            compare,
            record.spec.seed,
        )
    });
    if let Some(l) = &simulation {
        figures.extend(simulation::figures(l));
    }
    if !record.spec.report.plots {
        figures.clear();
    }
    let figure_dir = record
        .spec
        .report
        .path
        .as_ref()
        .and_then(|p| p.file_stem())
        .map_or_else(
            || record.spec.name.clone(),
            |s| s.to_string_lossy().into_owned(),
        );
    Ok(Report {
        figures,
        embedding,
        figure_dir,
        summary,
        record,
        selection_metric: metric,
        selected_on,
        leaderboard,
        pairs,
        sensitivity,
        stages,
        protocols,
        orderings,
        simulation,
        trials,
        missing,
    })
}

/// The report's opening sentences, from the numbers alone.
fn summarise(
    record: &ExperimentRecord,
    leaderboard: &[LeaderRow],
    pairs: &[Contrast],
    sensitivity: &[Sensitivity],
    metric: MetricId,
    missing: usize,
) -> Vec<String> {
    let Some(best) = leaderboard.first() else {
        return vec!["No trial has results yet.".to_string()];
    };
    let facts = Facts {
        record,
        leaderboard,
        pairs,
        metric,
        alpha: record.spec.compare.alpha,
    };
    let mut out = facts.lead(best);
    out.extend(facts.baseline_beaten(best));
    out.extend(knob_sentences(sensitivity, facts.alpha));
    out.extend(facts.bias_tradeoff(best));
    if missing > 0 {
        out.push(format!(
            "{missing} trials have no result yet; rerun `recsweep run` to complete the sweep."
        ));
    }
    out
}

/// What the summary sentences are written from.
struct Facts<'a> {
    record: &'a ExperimentRecord,
    leaderboard: &'a [LeaderRow],
    pairs: &'a [Contrast],
    metric: MetricId,
    alpha: f64,
}

impl Facts<'_> {
    fn test(&self, row: &LeaderRow, m: MetricId) -> Option<f64> {
        row.test.get(&m).map(|s| s.mean)
    }

    /// The selection metric on test, as the report writes it.
    fn value(&self, row: &LeaderRow) -> String {
        self.test(row, self.metric)
            .map_or("—".to_string(), format_number)
    }

    /// A − B on the selection metric: (difference, corrected p, significant).
    fn pair(&self, a: &str, b: &str) -> Option<(f64, f64, bool)> {
        self.pairs.iter().find_map(|p| {
            if p.a == a && p.b == b {
                Some((p.diff(), p.p_adjusted, p.significant(self.alpha)))
            } else if p.a == b && p.b == a {
                Some((-p.diff(), p.p_adjusted, p.significant(self.alpha)))
            } else {
                None
            }
        })
    }

    fn beats_significantly(&self, a: &str, b: &str) -> bool {
        self.pair(a, b).is_some_and(|(d, _, s)| s && d > 0.0)
    }

    /// The best model, and its lead over the runner-up.
    fn lead(&self, best: &LeaderRow) -> Vec<String> {
        let metric = self.metric;
        let mut out = vec![format!(
            "The best model on test {metric} is **{}** ({}) at {}.",
            best.model,
            best.knobs,
            self.value(best)
        )];
        let second = self.leaderboard.get(1);
        if let Some((second, (diff, p, significant))) =
            second.and_then(|s| Some((s, self.pair(&best.model, &s.model)?)))
        {
            let verdict = if significant {
                "significant"
            } else {
                "not significant"
            };
            out.push(format!(
                "It leads {} ({}) by {} ({verdict}, corrected p = {}).",
                second.model,
                self.value(second),
                format_number(diff),
                format_number(p)
            ));
        }
        out
    }

    /// How many models beat the baseline significantly.
    fn baseline_beaten(&self, best: &LeaderRow) -> Option<String> {
        let baseline = self
            .record
            .spec
            .compare
            .baseline
            .as_deref()
            .filter(|b| *b != best.model)
            // A baseline a cold-start split left out has no row.
            .filter(|b| self.leaderboard.iter().any(|r| r.model == *b))?;
        let beaten = self
            .leaderboard
            .iter()
            .filter(|r| r.model != baseline && self.beats_significantly(&r.model, baseline))
            .count();
        Some(format!(
            "{beaten} of {} models beat the {baseline} baseline significantly.",
            self.leaderboard.len().saturating_sub(1)
        ))
    }

    /// Accuracy against popularity bias, among the models that beat the
    /// baseline significantly (a random model is trivially unbiased).
    fn bias_tradeoff(&self, best: &LeaderRow) -> Option<String> {
        let metric = self.metric;
        let arp = MetricId {
            kind: crate::eval::MetricKind::Arp,
            k: metric.k,
        };
        let baseline = self.record.spec.compare.baseline.as_deref()?;
        let competitive: Vec<(&LeaderRow, f64)> = self
            .leaderboard
            .iter()
            .filter(|r| r.model == best.model || self.beats_significantly(&r.model, baseline))
            .filter_map(|r| self.test(r, arp).map(|a| (r, a)))
            .collect();
        let least = competitive.iter().min_by(|a, b| a.1.total_cmp(&b.1));
        match (self.test(best, arp), least) {
            (Some(best_arp), Some((row, lowest))) if row.model != best.model => Some(format!(
                "Accuracy costs popularity bias here: {}'s lists average {} train interactions per item ({arp}), {}'s {} at {metric} {}.",
                best.model,
                format_number(best_arp),
                row.model,
                format_number(*lowest),
                self.value(row)
            )),
            (Some(best_arp), Some(_)) if competitive.len() > 1 => Some(format!(
                "{} is also the least popularity-biased of the models that beat {baseline} ({arp} {}).",
                best.model,
                format_number(best_arp)
            )),
            _ => None,
        }
    }
}

/// Which knobs' best value beat the runner-up significantly, and which not.
fn knob_sentences(sensitivity: &[Sensitivity], alpha: f64) -> Vec<String> {
    let (mattered, flat): (Vec<&Sensitivity>, Vec<&Sensitivity>) = sensitivity
        .iter()
        .filter(|s| s.best_vs_second.is_some())
        .partition(|s| {
            s.best_vs_second
                .as_ref()
                .is_some_and(|c| c.significant(alpha))
        });
    let names = |list: &[&Sensitivity]| {
        list.iter()
            .map(|s| format!("{} {}", s.model, s.knob))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut out = Vec::new();
    if !mattered.is_empty() {
        out.push(format!(
            "Knobs whose best value beat the runner-up significantly: {}.",
            names(&mattered)
        ));
    }
    if !flat.is_empty() {
        out.push(format!(
            "Knobs without a significant difference between their two best values: {}.",
            names(&flat)
        ));
    }
    out
}

fn agreement(
    protocol: &str,
    configs: &[Configuration],
    selected: &[usize],
    metric: MetricId,
) -> ProtocolAgreement {
    let both = |c: &Configuration| {
        Some((
            c.mean(Part::Test, metric)?,
            c.mean_under(protocol, Part::Test, metric)?,
        ))
    };
    let models: Vec<(String, f64, f64)> = selected
        .iter()
        .filter_map(|&i| both(&configs[i]).map(|(a, b)| (configs[i].model_name.clone(), a, b)))
        .collect();
    let all: Vec<(f64, f64)> = configs.iter().filter_map(both).collect();
    let tau = |pairs: &[(f64, f64)]| {
        let (x, y): (Vec<f64>, Vec<f64>) = pairs.iter().copied().unzip();
        kendall_tau_b(&x, &y)
    };
    let model_pairs: Vec<(f64, f64)> = models.iter().map(|m| (m.1, m.2)).collect();
    ProtocolAgreement {
        protocol: protocol.to_string(),
        tau_models: tau(&model_pairs),
        tau_configurations: tau(&all),
        configurations: all.len(),
        models,
    }
}

fn leader_row(
    record: &ExperimentRecord,
    config: &Configuration,
    metric: MetricId,
    part: Part,
    averaged: Option<&PerUser>,
) -> LeaderRow {
    let seeds = config.trials.len();
    let mut test = BTreeMap::new();
    if let Some(averaged) = averaged {
        for (column, values) in averaged.columns.iter().zip(&averaged.values) {
            let (mean, ci95) = mean_ci95(values);
            test.insert(*column, MetricSummary { mean, ci95 });
        }
    }
    for column in record
        .spec
        .evaluation
        .metrics
        .iter()
        .filter(|m| !m.is_per_user())
    {
        for &k in &record.spec.evaluation.cutoffs {
            let id = MetricId { kind: *column, k };
            if let Some(mean) = config.mean(Part::Test, id) {
                test.insert(id, MetricSummary { mean, ci95: None });
            }
        }
    }
    let ok = |f: fn(&Outcome) -> Option<f64>| config.mean_of(f).unwrap_or(0.0);
    let first_cost = config.trials.iter().find_map(|r| match &r.outcome {
        Outcome::Ok { cost, .. } => Some(*cost),
        Outcome::Failed { .. } => None,
    });
    LeaderRow {
        model: config.model_name.clone(),
        kind: record.spec.models[config.model_index]
            .model
            .as_str()
            .to_string(),
        knobs: describe_knobs(&config.knobs),
        seeds,
        selection_value: config.mean(part, metric).unwrap_or(f64::NAN),
        test,
        seed_sd: config.seed_sd(Part::Test, metric),
        fit_seconds: ok(|o| match o {
            Outcome::Ok { fit_seconds, .. } => Some(*fit_seconds),
            Outcome::Failed { .. } => None,
        }),
        score_micros_per_user: ok(|o| match o {
            Outcome::Ok {
                score_micros_per_user,
                ..
            } => Some(*score_micros_per_user),
            Outcome::Failed { .. } => None,
        }),
        serving: ServingTime::pooled(
            &config
                .trials
                .iter()
                .filter_map(|r| match &r.outcome {
                    Outcome::Ok { serving, .. } => serving.as_deref().copied(),
                    Outcome::Failed { .. } => None,
                })
                .collect::<Vec<_>>(),
        ),
        cost: first_cost.unwrap_or_default(),
        trial_ids: config.trials.iter().map(|r| r.trial.id.clone()).collect(),
    }
}
