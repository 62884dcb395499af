//! The selected models beside results published on the same data and split
//! (`report.published`): the rows, and where the best model stands among
//! them, which the summary says and the section shows.

use std::fmt::Write;

use tabled::builder::Builder;

use super::markdown::{heading, push_table, section, summary};
use super::Report;

use serde::Serialize;

use super::LeaderRow;
use crate::eval::{MetricId, MetricSummary};
use crate::format::format_to_precision;
use crate::spec::PublishedResult;

/// One row: a selected model of this report or a published result.
#[derive(Debug, Clone, Serialize)]
pub struct StandingRow {
    pub model: String,
    /// "this report", or the paper and table.
    pub source: String,
    /// By metric (the union of the published ones): a summary with its
    /// interval for this report's models, the printed value for others.
    pub values: Vec<Option<MetricSummary>>,
    pub ours: bool,
}

/// Every row, ordered by `order`, best first.
#[derive(Debug, Clone, Serialize)]
pub struct Standing {
    pub metrics: Vec<MetricId>,
    /// The selection metric when one was published, else the first metric.
    pub order: MetricId,
    pub rows: Vec<StandingRow>,
}

pub fn build(
    published: &[PublishedResult],
    leaderboard: &[LeaderRow],
    selection: MetricId,
) -> Option<Standing> {
    if published.is_empty() || leaderboard.is_empty() {
        return None;
    }
    let mut metrics: Vec<MetricId> = published
        .iter()
        .flat_map(|p| p.metrics.keys().copied())
        .collect();
    metrics.sort();
    metrics.dedup();
    let order = if metrics.contains(&selection) {
        selection
    } else {
        metrics[0]
    };
    let ours = leaderboard.iter().map(|row| StandingRow {
        model: row.model.clone(),
        source: "this report".into(),
        values: metrics.iter().map(|m| row.test.get(m).cloned()).collect(),
        ours: true,
    });
    let theirs = published.iter().map(|p| StandingRow {
        model: p.model.clone(),
        source: p.source.clone(),
        values: metrics
            .iter()
            .map(|m| {
                p.metrics
                    .get(m)
                    .map(|&mean| MetricSummary { mean, ci95: None })
            })
            .collect(),
        ours: false,
    });
    let mut rows: Vec<StandingRow> = ours.chain(theirs).collect();
    let at = metrics
        .iter()
        .position(|m| *m == order)
        .expect("order is a metric");
    let key = |r: &StandingRow| r.values[at].as_ref().map_or(f64::NEG_INFINITY, |s| s.mean);
    // Stable: ties keep this report's rows first, then the spec's order.
    rows.sort_by(|a, b| key(b).total_cmp(&key(a)));
    Some(Standing {
        metrics,
        order,
        rows,
    })
}

impl Standing {
    /// Where this report's best model stands: the published results it is
    /// above and those it is not.
    pub fn sentence(&self) -> Option<String> {
        let at = self.metrics.iter().position(|m| *m == self.order)?;
        let value = |r: &StandingRow| r.values[at].as_ref().map(|s| s.mean);
        let leader = self.rows.iter().find(|r| r.ours)?;
        let best = value(leader)?;
        let names = |above: bool| -> String {
            let names: Vec<String> = self
                .rows
                .iter()
                .filter(|r| !r.ours)
                .filter_map(|r| Some((r, value(r)?)))
                .filter(|(_, v)| (*v < best) == above)
                .map(|(r, v)| format!("{} ({v:.4})", r.model))
                .collect();
            match names.as_slice() {
                [] => "none".to_string(),
                _ => names.join(", "),
            }
        };
        let ci = leader.values[at].as_ref().and_then(|s| s.ci95);
        Some(format!(
            "Beside the results published on this split, this report's best, **{}** at {} {}, is above {} and below {}.",
            leader.model,
            format_to_precision(best, ci),
            self.order,
            names(true),
            names(false),
        ))
    }
}

/// The selected models beside the results published on the same data and
/// split, best first.
pub(super) fn render(out: &mut String, report: &Report) {
    let Some(standing) = &report.published else {
        return;
    };
    section(out, "Published results on this split");
    let _ = writeln!(
        out,
        "recsweep's selected models (test, ± over users and seeds) beside the numbers published \
         on the same data and split, ordered by {}.\n",
        standing.order
    );
    let mut header = vec!["model".to_string(), "source".to_string()];
    header.extend(standing.metrics.iter().map(|m| heading(*m)));
    let mut t = Builder::default();
    t.push_record(header);
    for row in &standing.rows {
        let mut record = vec![
            match row.ours {
                true => format!("**{}**", row.model),
                false => row.model.clone(),
            },
            row.source.clone(),
        ];
        record.extend(
            standing
                .metrics
                .iter()
                .zip(&row.values)
                .map(|(m, v)| v.as_ref().map_or("—".into(), |s| summary(m.kind, s))),
        );
        t.push_record(record);
    }
    push_table(out, t);
    if let Some(sentence) = standing.sentence() {
        let _ = writeln!(out, "{sentence}\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::MetricKind;
    use std::collections::BTreeMap;

    fn row(model: &str, mean: f64) -> LeaderRow {
        LeaderRow {
            model: model.into(),
            kind: model.into(),
            knobs: String::new(),
            seeds: 1,
            selection_value: mean,
            test: BTreeMap::from([(
                RECALL,
                MetricSummary {
                    mean,
                    ci95: Some(0.002),
                },
            )]),
            seed_sd: None,
            fit_seconds: 0.0,
            score_micros_per_user: 0.0,
            serving: None,
            cost: Default::default(),
            trial_ids: Vec::new(),
        }
    }

    const RECALL: MetricId = MetricId {
        kind: MetricKind::Recall,
        k: 20,
    };

    fn paper(model: &str, recall: f64) -> PublishedResult {
        PublishedResult {
            model: model.into(),
            source: "paper".into(),
            metrics: BTreeMap::from([(RECALL, recall)]),
        }
    }

    #[test]
    fn rows_interleave_by_the_order_metric_and_the_sentence_places_the_best() {
        let standing = build(
            &[paper("MF-BPR", 0.1291), paper("LightGCN", 0.1830)],
            &[row("ease", 0.1764), row("most_pop", 0.0416)],
            RECALL,
        )
        .unwrap();
        let order: Vec<&str> = standing.rows.iter().map(|r| r.model.as_str()).collect();
        assert_eq!(order, ["LightGCN", "ease", "MF-BPR", "most_pop"]);
        assert_eq!(
            standing.sentence().unwrap(),
            "Beside the results published on this split, this report's best, **ease** at 0.1764 recall@20, \
             is above MF-BPR (0.1291) and below LightGCN (0.1830)."
        );
        assert!(build(&[], &[row("ease", 0.1)], RECALL).is_none());
    }
}
