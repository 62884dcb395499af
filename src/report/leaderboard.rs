//! The leaderboard section: each selected configuration scored on test
//! (by its refits where they are stored), with its cost and bias columns.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::Serialize;
use tabled::builder::Builder;

use super::markdown::{
    half, heading, marker, part_name, push_table, section, signed_rounded, summary, value,
};
use super::{popularity_undefined, refit_asked, Report};
use crate::eval::{mean_ci95, MetricId, MetricKind, MetricSummary, ServingTime};
use crate::format::{describe_knobs, format_p};
use crate::models::ServingCost;
use crate::results::{find_pair, per_seed, Configuration, Part, SeedValues};
use crate::stats::mean_over_users_and_seeds;
use crate::store::{ExperimentRecord, Outcome, ResultsDir, StoreError, TrialRecord};

/// One table per cutoff: each model's selected configuration on test.
pub(super) fn render(out: &mut String, report: &Report) {
    let spec = &report.record.spec;
    let metric = report.selection_metric;
    let part = part_name(report);
    section(out, "Leaderboard");
    // Under validation folds a configuration's runs differ in their train
    // data as well as their seed, and the column says so.
    let (seeds, spread) = match spec.selection.folds {
        Some(_) => (
            "replicates (sd)",
            "the spread over replicates, each with its own seed and validation fold,",
        ),
        None => ("seeds (sd)", "the seeds' own spread"),
    };
    let _ = writeln!(
        out,
        "One row per model: its selected configuration, sorted by test {metric}. \
         ± is the 95% interval over users and seeds ({spread} is in `{seeds}`). \
         Bias metrics: higher coverage, aplt and novelty and lower arp and gini mean less popularity bias.\n"
    );
    let shown: Vec<MetricKind> = spec
        .evaluation
        .metrics
        .iter()
        .copied()
        .filter(|kind| repeats(spec, *kind).is_none())
        .collect();
    for &k in &spec.evaluation.cutoffs {
        let _ = writeln!(out, "### Test metrics at K = {k}\n");
        let metrics: Vec<MetricId> = shown.iter().map(|&kind| MetricId::at(kind, k)).collect();
        let mut header = vec![
            "model".to_string(),
            "configuration".to_string(),
            format!("{part} {metric}"),
        ];
        header.extend(metrics.iter().map(|m| heading(*m)));
        header.push(seeds.to_string());
        let baseline = spec.compare.baseline.as_deref().filter(|_| k == metric.k);
        if let Some(b) = baseline {
            header.push(format!("Δ {metric} vs {b}"));
        }
        let mut t = Builder::default();
        t.push_record(header);
        for row in &report.leaderboard {
            let mut cells = vec![
                row.model.clone(),
                row.knobs.clone(),
                value(metric.kind, row.selection_value),
            ];
            cells.extend(metrics.iter().map(|m| {
                match (popularity_undefined(&spec.split, m.kind), row.test.get(m)) {
                    (None, Some(s)) => summary(m.kind, s),
                    _ => "—".to_string(),
                }
            }));
            cells.push(match row.seed_sd {
                Some(sd) => format!("{} ({})", row.seeds, value(metric.kind, sd)),
                None => row.seeds.to_string(),
            });
            if let Some(b) = baseline {
                cells.push(versus(report, &row.model, b));
            }
            t.push_record(cells);
        }
        push_table(out, t);
    }
    let repeated: Vec<String> = spec
        .evaluation
        .metrics
        .iter()
        .filter_map(|kind| repeats(spec, *kind).map(|r| format!("{} ({r})", kind.as_str())))
        .collect();
    if !repeated.is_empty() {
        let _ = writeln!(
            out,
            "Not shown, because with one held-out item per user (leave-one-out) they repeat other columns: {}. \
             They stay in the results folder and the JSON report.\n",
            repeated.join(", ")
        );
    }
    let undefined: Vec<(&str, &str)> = spec
        .evaluation
        .metrics
        .iter()
        .filter_map(|kind| Some((kind.as_str(), popularity_undefined(&spec.split, *kind)?)))
        .collect();
    if let Some((_, reason)) = undefined.first() {
        let names: Vec<&str> = undefined.iter().map(|(name, _)| *name).collect();
        let _ = writeln!(
            out,
            "— for {}: {reason} (`split.method: cold_items`), so these metrics say nothing here.\n",
            names.join(", ")
        );
    }
}

/// What a metric repeats when every user holds out one item (leave-one-out)
/// and the metric it repeats is shown: hit_rate = recall, map = mrr,
/// precision = recall / K.
fn repeats(spec: &crate::spec::Spec, kind: MetricKind) -> Option<&'static str> {
    if spec.split.method != crate::split::SplitMethod::LeaveOneOut {
        return None;
    }
    let has = |k: MetricKind| spec.evaluation.metrics.contains(&k);
    match kind {
        MetricKind::HitRate if has(MetricKind::Recall) => Some("= recall"),
        MetricKind::Map if has(MetricKind::Mrr) => Some("= mrr"),
        MetricKind::Precision if has(MetricKind::Recall) => Some("= recall / K"),
        _ => None,
    }
}

/// `+0.0312 ▲ p=0.001`: the row minus the baseline, marked when the corrected
/// p-value is below alpha.
fn versus(report: &Report, model: &str, baseline: &str) -> String {
    if model == baseline {
        return "baseline".to_string();
    }
    let alpha = report.record.spec.compare.alpha;
    let kind = report.selection_metric.kind;
    find_pair(&report.pairs, model, baseline).map_or("—".to_string(), |(c, sign)| {
        let diff = sign * c.diff();
        format!(
            "{} {} p={}",
            signed_rounded(kind, diff, half(c)),
            marker(c.significant(alpha), diff),
            format_p(c.p_adjusted)
        )
    })
}

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

/// The selected configurations, each scored on test: the leaderboard rows
/// (best first), their per-seed values, and the models whose refits are
/// not all stored yet.
pub(super) struct Selected {
    pub(super) leaderboard: Vec<LeaderRow>,
    pub(super) seeds: BTreeMap<String, SeedValues>,
    pub(super) refit_pending: Vec<String>,
}

pub(super) fn leaderboard(
    results: &ResultsDir,
    record: &ExperimentRecord,
    configs: &[Configuration],
    selected: &[usize],
    refits: &[(usize, TrialRecord)],
) -> Result<Selected, StoreError> {
    let metric = record.spec.selection.metric;
    let selected_on = Part::selection(&record.spec.split);
    let refit = refit_asked(&record.spec);
    let mut leaderboard = Vec::new();
    let mut selected_seeds = BTreeMap::new();
    let mut refit_pending = Vec::new();
    for &index in selected {
        let config = &configs[index];
        // Scored by its refits once every seed has one, else by the sweep's
        // own trials (and said so).
        let refitted: Vec<&TrialRecord> = refits
            .iter()
            .filter(|(i, _)| *i == index)
            .map(|(_, r)| r)
            .collect();
        let scored = match refitted.len() == config.trials.len() {
            true => Configuration {
                trials: refitted,
                failed: 0,
                ..config.clone()
            },
            false => {
                if refit {
                    refit_pending.push(config.model_name.clone());
                }
                config.clone()
            }
        };
        let seeds = per_seed(results, &scored)?;
        let mut row = leader_row(record, &scored, metric, selected_on, &seeds);
        row.selection_value = config.mean(selected_on, metric).unwrap_or(f64::NAN);
        leaderboard.push(row);
        selected_seeds.insert(config.model_name.clone(), seeds);
    }
    leaderboard.sort_by(|a, b| {
        let value = |r: &LeaderRow| r.test.get(&metric).map_or(f64::NEG_INFINITY, |m| m.mean);
        value(b)
            .total_cmp(&value(a))
            .then_with(|| a.model.cmp(&b.model))
    });
    Ok(Selected {
        leaderboard,
        seeds: selected_seeds,
        refit_pending,
    })
}

fn leader_row(
    record: &ExperimentRecord,
    config: &Configuration,
    metric: MetricId,
    part: Part,
    per_seed: &SeedValues,
) -> LeaderRow {
    let seeds = config.trials.len();
    let mut test = BTreeMap::new();
    for column in per_seed.0.first().map_or(&[][..], |p| &p.columns[..]) {
        let Some(values) = per_seed.column(*column) else {
            continue;
        };
        // Over users and seeds; a column defined for fewer than two users
        // keeps its mean without an interval, as mean_ci95 does.
        let summary = match mean_over_users_and_seeds(&values) {
            Some(e) => MetricSummary {
                mean: e.estimate,
                ci95: e.ci95(),
            },
            None => {
                let (mean, ci95) = mean_ci95(
                    &per_seed
                        .averaged()
                        .and_then(|p| p.column(*column).map(<[f64]>::to_vec))
                        .unwrap_or_default(),
                );
                MetricSummary { mean, ci95 }
            }
        };
        test.insert(*column, summary);
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

/// Each selected model's per-user values of `metric`, one vector per seed.
pub(super) fn columns(
    seeds: &BTreeMap<String, SeedValues>,
    metric: MetricId,
) -> BTreeMap<String, Vec<Vec<f64>>> {
    seeds
        .iter()
        .filter_map(|(name, seeds)| Some((name.clone(), seeds.column(metric)?)))
        .collect()
}
