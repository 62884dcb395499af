//! The appendix's list of every stored trial, refits last, and the errors
//! of failed ones.

use std::fmt::Write;

use serde::Serialize;
use tabled::builder::Builder;

use super::markdown::{heading, push_table, section, value};
use super::Report;
use crate::eval::{MetricId, MetricKind};
use crate::format::describe_knobs;
use crate::store::{Outcome, TrialRecord};
use crate::sweep::replicate_label;

/// Every trial, then the errors of failed ones.
pub(super) fn render(out: &mut String, report: &Report) {
    let spec = &report.record.spec;
    let metric = report.selection_metric;
    section(out, "All trials");
    if report.trials.iter().any(|t| t.refit) {
        let _ = writeln!(
            out,
            "Rows whose seed says *refit* are the selected configurations retrained on train ∪ validation: \
             the leaderboard scores them, and they have no validation value.\n"
        );
    }
    let k = metric.k;
    let extra = [MetricKind::Recall, MetricKind::Coverage, MetricKind::Arp]
        .into_iter()
        .filter(|kind| spec.evaluation.metrics.contains(kind) && *kind != metric.kind)
        .map(|kind| MetricId { kind, k })
        .collect::<Vec<_>>();
    let mut header = vec![
        "trial".to_string(),
        "model".to_string(),
        "configuration".to_string(),
        "seed".to_string(),
        format!("validation {metric}"),
        format!("test {metric}"),
    ];
    header.extend(extra.iter().map(|m| format!("test {}", heading(*m))));
    header.push("fit (s)".to_string());
    let mut t = Builder::default();
    t.push_record(header);
    let mut failures = Vec::new();
    for row in &report.trials {
        let mut cells = vec![
            format!("`{}`", row.id),
            row.model.clone(),
            row.knobs.clone(),
            replicate_label(row.seed_index, row.fold, row.refit),
        ];
        match &row.outcome {
            Outcome::Ok {
                validation,
                test,
                fit_seconds,
                ..
            } => {
                let get = |s: Option<&crate::eval::Summary>, m: MetricId| {
                    s.and_then(|s| s.get(m))
                        .map_or("—".to_string(), |v| value(m.kind, v.mean))
                };
                cells.push(get(validation.as_ref(), metric));
                cells.push(get(Some(test), metric));
                cells.extend(extra.iter().map(|m| get(Some(test), *m)));
                cells.push(format!("{fit_seconds:.2}"));
            }
            Outcome::Failed { error } => {
                failures.push((row.id.clone(), error.clone()));
                cells.push("failed".to_string());
                cells.extend(std::iter::repeat_n("—".to_string(), extra.len() + 2));
            }
        }
        t.push_record(cells);
    }
    push_table(out, t);
    if !failures.is_empty() {
        section(out, "Failed trials");
        for (id, error) in failures {
            // A program's stderr (external models) follows the first line:
            // kept as a block under the item, not as loose paragraphs.
            match error.split_once('\n') {
                Some((head, rest)) => {
                    let _ = writeln!(out, "- `{id}`: {head}\n\n  ```text");
                    for line in rest.lines() {
                        let _ = writeln!(out, "  {}", line.replace("```", "` ` `"));
                    }
                    let _ = writeln!(out, "  ```");
                }
                None => {
                    let _ = writeln!(out, "- `{id}`: {error}");
                }
            }
        }
        out.push('\n');
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct TrialRow {
    pub id: String,
    pub model: String,
    pub knobs: String,
    pub seed_index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fold: Option<usize>,
    /// A selected configuration retrained on train ∪ validation: what the
    /// leaderboard scores under `selection.refit`.
    pub refit: bool,
    pub outcome: Outcome,
}

/// Every stored trial, refits last, as the appendix lists them.
pub(super) fn trial_rows(
    records: &[TrialRecord],
    refits: &[(usize, TrialRecord)],
) -> Vec<TrialRow> {
    let row = |r: &TrialRecord, refit: bool| TrialRow {
        id: r.trial.id.clone(),
        model: r.trial.model_name.clone(),
        knobs: describe_knobs(&r.trial.knobs),
        seed_index: r.trial.seed_index,
        fold: r.trial.fold,
        refit,
        outcome: r.outcome.clone(),
    };
    let trials: Vec<TrialRow> = records
        .iter()
        .map(|r| row(r, false))
        .chain(refits.iter().map(|(_, r)| row(r, true)))
        .collect();
    trials
}
