//! The data behind the report's figures and embedding analysis, read from
//! the results folder: summaries for the knob, trade-off and cost plots,
//! stored top-K lists and train popularity for the long tail, loss curves,
//! and item factors for the embedding section.

use std::collections::{BTreeMap, HashMap};

use super::embedding::{list_metrics, pca_map, EmbeddingRow, ItemSpace};
use super::figures::{self, Figure, Section, Series};
use super::{Contrast, LeaderRow, Sensitivity, TrialRow};
use crate::eval::{MetricId, MetricKind};
use crate::results::{find_pair, Configuration, Part};
use crate::store::{ExperimentRecord, Outcome, ResultsDir, StoreError};

/// k-means clusters for `cluster_coverage` (fewer for small catalogues).
const CLUSTERS: usize = 20;

/// Style index of the series "train interactions" (black).
const REFERENCE_STYLE: usize = 6;

pub struct Inputs<'a> {
    pub results: &'a ResultsDir,
    pub record: &'a ExperimentRecord,
    pub configs: &'a [Configuration<'a>],
    pub leaderboard: &'a [LeaderRow],
    pub sensitivity: &'a [Sensitivity],
    pub trials: &'a [TrialRow],
    pub metric: MetricId,
    /// Every pair of selected configurations on the metric.
    pub pairs: &'a [Contrast],
    /// Each selected model's per-seed, per-user test values of the metric.
    pub values: &'a BTreeMap<String, Vec<Vec<f64>>>,
}

impl Inputs<'_> {
    fn style(&self, model: &str) -> usize {
        style(self.record, model)
    }
}

/// A model's style in every figure: its position among the spec's models.
pub fn style(record: &ExperimentRecord, model: &str) -> usize {
    let mut seen: Vec<&str> = Vec::new();
    for t in &record.expansion.trials {
        if !seen.contains(&t.model_name.as_str()) {
            seen.push(&t.model_name);
        }
    }
    let i = seen.iter().position(|m| *m == model).unwrap_or(seen.len());
    // Skip the reference style.
    if i >= REFERENCE_STYLE {
        i + 1
    } else {
        i
    }
}

/// Every figure (a figure whose data are missing is left out, and one that
/// fails to draw is reported in its place) and the embedding rows.
pub fn build(inputs: &Inputs) -> Result<(Vec<Figure>, Vec<EmbeddingRow>), StoreError> {
    let protocol = inputs.record.spec.evaluation.protocol.primary().to_string();
    let mut figures = Vec::new();
    let mut push = |file: String, title: String, section: Section, svg: Result<String, String>| {
        figures.push(Figure::drawn(file, title, section, svg));
    };
    let metric = inputs.metric;
    if let Some((title, x_desc, rows)) = forest_rows(inputs, &protocol) {
        let svg = figures::forest(&title, &x_desc, &rows);
        push("forest.svg".into(), title, Section::Answer, svg);
    }
    for (file, title, series, labels) in knob_series(inputs, &protocol) {
        let svg = figures::lines(
            &title,
            &title_case_knob(&file),
            &metric.to_string(),
            &series,
            Some(&labels),
        );
        push(format!("knob-{file}.svg"), title, Section::Knobs, svg);
    }
    if let Some((title, panels)) = tradeoff_panels(inputs, &protocol) {
        let svg = figures::tradeoff(&title, &metric.to_string(), &panels);
        push("tradeoff.svg".into(), title, Section::Bias, svg);
    }
    let items = inputs.results.read_items()?;
    if let Some((labels, counts)) = &items {
        if let Some((title, series)) = long_tail(inputs, labels, counts, &protocol)? {
            let deciles: Vec<String> = (1..=10).map(|d| d.to_string()).collect();
            let svg = figures::lines(
                &title,
                "item-popularity decile (1 = most popular tenth of items)",
                "share",
                &series,
                Some(&deciles),
            );
            push("longtail.svg".into(), title, Section::Bias, svg);
        }
    }
    for (file, title, y, series) in curve_series(inputs) {
        let svg = figures::lines(&title, "epoch", &y, &series, None);
        push(file, title, Section::Training, svg);
    }
    if let Some((title, series)) = cost_series(inputs, &protocol) {
        let svg = figures::cost(&title, &metric.to_string(), &series);
        push("cost.svg".into(), title, Section::Cost, svg);
    }
    let mut rows = Vec::new();
    if let Some((labels, counts)) = &items {
        for (row, figure) in embedding(inputs, labels, counts)? {
            rows.push(row);
            if let Some((file, title, svg)) = figure {
                push(file, title, Section::Embedding, svg);
            }
        }
    }
    Ok((figures, rows))
}

/// Each selected model's difference from the reference (the spec's
/// baseline, else the leader) on the test metric: Δ with its 95% interval
/// over users and seeds, and each seed's own Δ, the leaderboard's order.
fn forest_rows(
    inputs: &Inputs,
    protocol: &str,
) -> Option<(String, String, Vec<figures::ForestRow>)> {
    let metric = inputs.metric;
    let spec = &inputs.record.spec;
    let reference = spec
        .compare
        .baseline
        .as_deref()
        .filter(|b| inputs.leaderboard.iter().any(|r| r.model == *b))
        .or_else(|| inputs.leaderboard.first().map(|r| r.model.as_str()))?;
    let mean = |values: &[f64]| values.iter().sum::<f64>() / values.len().max(1) as f64;
    let rows: Vec<figures::ForestRow> = inputs
        .leaderboard
        .iter()
        .filter(|r| r.model != reference)
        .filter_map(|r| {
            let (c, sign) = find_pair(inputs.pairs, &r.model, reference)?;
            let reference_mean = if sign > 0.0 { c.mean_b } else { c.mean_a };
            let interval = c.signed_interval(sign);
            let seeds = inputs.values.get(&r.model).map_or(Vec::new(), |seeds| {
                seeds.iter().map(|s| mean(s) - reference_mean).collect()
            });
            Some(figures::ForestRow {
                name: r.model.clone(),
                diff: sign * c.diff(),
                interval,
                seeds,
                significant: c.significant(spec.compare.alpha),
                style: inputs.style(&r.model),
            })
        })
        .collect();
    if rows.is_empty() {
        return None;
    }
    let title = format!("Test {metric} minus {reference}'s ({protocol})");
    let x_desc = format!(
        "Δ {metric}: bar = 95% interval over users and seeds (black if significant), circles = seeds"
    );
    Some((title, x_desc, rows))
}

fn title_case_knob(file: &str) -> String {
    file.replace('-', " ")
}

pub(super) fn file_name(knob: &str) -> String {
    knob.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

/// One figure per knob: x = the knob's values, one line per model through
/// the best configuration at each value, banded by its 95% interval.
fn knob_series(inputs: &Inputs, protocol: &str) -> Vec<(String, String, Vec<Series>, Vec<String>)> {
    let mut knobs: Vec<&str> = Vec::new();
    for s in inputs.sensitivity {
        if !knobs.contains(&s.knob.as_str()) {
            knobs.push(&s.knob);
        }
    }
    knobs
        .into_iter()
        .map(|knob| {
            let mine: Vec<&Sensitivity> = inputs
                .sensitivity
                .iter()
                .filter(|s| s.knob == knob)
                .collect();
            let mut labels: Vec<String> = Vec::new();
            for s in &mine {
                for v in &s.values {
                    if !labels.contains(&v.value) {
                        labels.push(v.value.clone());
                    }
                }
            }
            let series = mine
                .iter()
                .map(|s| {
                    let position = |v: &str| labels.iter().position(|l| l == v).unwrap_or(0) as f64;
                    Series {
                        name: s.model.clone(),
                        points: s
                            .values
                            .iter()
                            .map(|v| (position(&v.value), v.test))
                            .collect(),
                        band: Some(
                            s.values
                                .iter()
                                .map(|v| v.test_ci95.unwrap_or(0.0))
                                .collect(),
                        ),
                        style: inputs.style(&s.model),
                    }
                })
                .collect();
            let title = format!(
                "Test {} by {knob} ({protocol}), best configuration per value, 95% CI",
                inputs.metric
            );
            (file_name(knob), title, series, labels)
        })
        .collect()
}

/// A scatter panel: x described in full, whether larger x is better, series.
/// One panel of a trade-off figure: its x description, whether x is
/// logarithmic, and its series.
pub(super) type Panel = (String, bool, Vec<Series>);

/// Accuracy against arp@K and coverage@K, one point per trial, per model.
fn tradeoff_panels(inputs: &Inputs, protocol: &str) -> Option<(String, Vec<Panel>)> {
    let k = inputs.metric.k;
    let metrics = &inputs.record.spec.evaluation.metrics;
    let panels: Vec<Panel> = [(MetricKind::Arp, false), (MetricKind::Coverage, true)]
        .into_iter()
        .filter(|(kind, _)| metrics.contains(kind))
        .map(|(kind, higher)| {
            let bias = MetricId { kind, k };
            let series = by_model(
                &|m| inputs.style(m),
                // The sweep's trials: a refit would plot its configuration twice.
                inputs
                    .trials
                    .iter()
                    .filter(|t| !t.refit)
                    .filter_map(|t| match &t.outcome {
                        Outcome::Ok { test, .. } => Some((
                            t.model.clone(),
                            (test.get(bias)?.mean, test.get(inputs.metric)?.mean),
                        )),
                        Outcome::Failed { .. } => None,
                    }),
            );
            let side = if higher { "right" } else { "left" };
            (format!("{bias} ({side} is less biased)"), higher, series)
        })
        .collect();
    (!panels.is_empty()).then(|| {
        (
            format!(
                "Accuracy vs popularity bias at K = {k} (test, {protocol}): one point per trial"
            ),
            panels,
        )
    })
}

/// Groups (model, point) pairs into one series per model, in first-seen order.
pub(super) fn by_model(
    style: &dyn Fn(&str) -> usize,
    points: impl Iterator<Item = (String, (f64, f64))>,
) -> Vec<Series> {
    let mut series: Vec<Series> = Vec::new();
    for (model, p) in points {
        match series.iter_mut().find(|s| s.name == model) {
            Some(s) => s.points.push(p),
            None => series.push(Series {
                style: style(&model),
                name: model,
                points: vec![p],
                band: None,
            }),
        }
    }
    series
}

/// Popularity decile (1..=10) of each item by train interactions, most
/// popular first; ties keep item order.
pub fn deciles(counts: &[u32]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..counts.len()).collect();
    order.sort_by(|&a, &b| counts[b].cmp(&counts[a]).then(a.cmp(&b)));
    let mut decile = vec![0; counts.len()];
    for (rank, &i) in order.iter().enumerate() {
        decile[i] = rank * 10 / counts.len().max(1) + 1;
    }
    decile
}

/// The first `k` items of every list, shared out by popularity decile.
pub fn decile_shares(lists: &[Vec<u32>], deciles: &[usize], k: usize) -> Vec<f64> {
    let mut shares = [0.0; 10];
    let mut total = 0.0;
    for list in lists {
        for &i in list.iter().take(k) {
            shares[deciles[i as usize] - 1] += 1.0;
            total += 1.0;
        }
    }
    shares.iter().map(|s| s / f64::max(total, 1.0)).collect()
}

fn long_tail(
    inputs: &Inputs,
    labels: &[String],
    counts: &[u32],
    protocol: &str,
) -> Result<Option<(String, Vec<Series>)>, StoreError> {
    let k = inputs.metric.k;
    let deciles = deciles(counts);
    let index: HashMap<&str, u32> = labels
        .iter()
        .enumerate()
        .map(|(i, l)| (l.as_str(), i as u32))
        .collect();
    let mut train = [0.0; 10];
    for (i, &n) in counts.iter().enumerate() {
        train[deciles[i] - 1] += f64::from(n);
    }
    let total: f64 = train.iter().sum::<f64>().max(1.0);
    let points = |shares: Vec<f64>| {
        shares
            .into_iter()
            .enumerate()
            .map(|(d, s)| (d as f64, s))
            .collect()
    };
    let mut series = vec![Series {
        name: "train interactions".into(),
        points: points(train.iter().map(|t| t / total).collect()),
        band: None,
        style: REFERENCE_STYLE,
    }];
    for row in inputs.leaderboard {
        let Some(id) = row.trial_ids.first() else {
            continue;
        };
        let lists = inputs.results.read_lists(id, &index)?;
        series.push(Series {
            name: row.model.clone(),
            points: points(decile_shares(&lists, &deciles, k)),
            band: None,
            style: inputs.style(&row.model),
        });
    }
    Ok((series.len() > 1).then(|| {
        (
            format!("Long tail: share of top-{k} slots per item-popularity decile (test, {protocol}, first seed)"),
            series,
        )
    }))
}

/// Train loss and validation metric per epoch of each selected model
/// trained in epochs (its first seed).
fn curve_series(inputs: &Inputs) -> Vec<(String, String, String, Vec<Series>)> {
    let mut loss = Vec::new();
    let mut validation = Vec::new();
    for row in inputs.leaderboard {
        let Some(curve) = super::sweep_curves(inputs.trials, row).next() else {
            continue;
        };
        loss.push(Series {
            name: row.model.clone(),
            points: curve
                .epochs
                .iter()
                .map(|e| (e.epoch as f64, e.loss))
                .collect(),
            band: None,
            style: inputs.style(&row.model),
        });
        let v: Vec<(f64, f64)> = curve
            .epochs
            .iter()
            .filter_map(|e| Some((e.epoch as f64, e.validation?)))
            .collect();
        if !v.is_empty() {
            validation.push(Series {
                name: row.model.clone(),
                points: v,
                band: None,
                style: inputs.style(&row.model),
            });
        }
    }
    let mut out = Vec::new();
    if !loss.is_empty() {
        out.push((
            "curves-loss.svg".to_string(),
            "Training loss per epoch (mean over batches; selected configurations, first seed)"
                .to_string(),
            "train loss".to_string(),
            loss,
        ));
    }
    if !validation.is_empty() {
        out.push((
            "curves-validation.svg".to_string(),
            format!(
                "Validation {} per epoch (selected configurations, first seed)",
                inputs.metric
            ),
            format!("validation {}", inputs.metric),
            validation,
        ));
    }
    out
}

/// Scoring time against test accuracy, one point per configuration.
fn cost_series(inputs: &Inputs, protocol: &str) -> Option<(String, Vec<Series>)> {
    let series = by_model(
        &|m| inputs.style(m),
        inputs.configs.iter().filter_map(|c| {
            let micros = c.mean_of(|o| match o {
                Outcome::Ok {
                    serving: Some(s), ..
                } => Some(s.median_micros),
                Outcome::Ok {
                    score_micros_per_user,
                    ..
                } => Some(*score_micros_per_user),
                Outcome::Failed { .. } => None,
            })?;
            Some((
                c.model_name.clone(),
                (micros, c.mean(Part::Test, inputs.metric)?),
            ))
        }),
    );
    (!series.is_empty()).then(|| {
        (
            format!(
                "Scoring cost vs test {} ({protocol}): one point per configuration",
                inputs.metric
            ),
            series,
        )
    })
}

type EmbeddingOut = (
    EmbeddingRow,
    Option<(String, String, Result<String, String>)>,
);

/// cluster_coverage@K and ild@K of each selected configuration with item
/// embeddings (averaged over its seeds), and a PCA map of its first seed.
fn embedding(
    inputs: &Inputs,
    labels: &[String],
    counts: &[u32],
) -> Result<Vec<EmbeddingOut>, StoreError> {
    let k = inputs.metric.k;
    let index: HashMap<&str, u32> = labels
        .iter()
        .enumerate()
        .map(|(i, l)| (l.as_str(), i as u32))
        .collect();
    let deciles = deciles(counts);
    let mut out = Vec::new();
    for row in inputs.leaderboard {
        let mut per_seed = Vec::new();
        let mut map = None;
        for id in &row.trial_ids {
            let Some((dim, values)) = inputs.results.read_item_factors(id)? else {
                continue;
            };
            if values.len() != dim * labels.len() {
                continue;
            }
            let Ok(space) = ItemSpace::cluster(dim, &values, CLUSTERS.min(labels.len() / 5).max(2))
            else {
                continue;
            };
            let lists = inputs.results.read_lists(id, &index)?;
            per_seed.push((list_metrics(&space, &lists, k), space.n_clusters));
            if map.is_none() {
                map = pca_map(dim, &values).ok();
            }
        }
        if per_seed.is_empty() {
            continue;
        }
        let n = per_seed.len() as f64;
        let (points, explained) = map.unwrap_or_default();
        let figure = (!points.is_empty()).then(|| {
            let title = format!(
                "Item embeddings of {} ({}), PCA ({:.0}% of variance); shade and marker = popularity decile",
                row.model,
                row.knobs,
                100.0 * explained
            );
            let stride = figures::map_stride(points.len());
            let drawn = if stride > 1 {
                format!("; every {stride}th of {} items drawn", points.len())
            } else {
                String::new()
            };
            let short = format!(
                "{}: item embeddings, PCA ({:.0}% of variance{drawn})",
                row.model,
                100.0 * explained
            );
            let svg = figures::item_map(&short, &points, &deciles);
            (format!("pca-{}.svg", file_name(&row.model)), title, svg)
        });
        out.push((
            EmbeddingRow {
                model: row.model.clone(),
                knobs: row.knobs.clone(),
                k,
                clusters: per_seed[0].1,
                cluster_coverage: per_seed.iter().map(|p| p.0 .0).sum::<f64>() / n,
                ild: per_seed.iter().map(|p| p.0 .1).sum::<f64>() / n,
                explained_variance: explained,
            },
            figure,
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deciles_rank_items_by_popularity() {
        // 20 items with distinct counts 20, 19, …, 1: two items per decile.
        let counts: Vec<u32> = (1..=20).rev().collect();
        let d = deciles(&counts);
        assert_eq!(&d[..4], &[1, 1, 2, 2]);
        assert_eq!(d[19], 10);
        // Recommendations of items 0 and 19 only: half in decile 1, half in 10.
        let shares = decile_shares(&[vec![0, 19, 5], vec![19, 0, 5]], &d, 2);
        assert_eq!(shares[0], 0.5);
        assert_eq!(shares[9], 0.5);
        assert_eq!(shares.iter().sum::<f64>(), 1.0);
    }
}
