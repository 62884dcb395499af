//! The secondary protocols' agreement with the primary one: τ between
//! their orders of the selected models and of every configuration.

use std::fmt::Write;

use serde::Serialize;

use super::markdown::{push_table, section, table, value};
use super::{orderings, Orderings, Report};
use crate::eval::{Direction, MetricId};
use crate::format::format_correlation;
use crate::results::{Configuration, Part};
use crate::stats::kendall_tau_b;
use crate::store::{ExperimentRecord, ResultsDir, StoreError};

pub(super) fn render(out: &mut String, report: &Report) {
    let metric = report.selection_metric;
    let primary = report.record.spec.evaluation.protocol.primary();
    for a in &report.protocols {
        section(
            out,
            &format!("Protocol agreement: {} vs {primary}", a.protocol),
        );
        let tau = |t: Option<f64>| t.map_or("undefined".to_string(), |t| format!("{t:.3}"));
        let _ = writeln!(
            out,
            "Test {metric} of the selected configurations under both protocols. Kendall's τ-b between the two orderings: \
             **{}** over the {} selected models, **{}** over all {} configurations (1 = same order, −1 = reversed).\n",
            tau(a.tau_models),
            a.models.len(),
            tau(a.tau_configurations),
            a.configurations
        );
        let rank = |values: &[f64], v: f64| 1 + values.iter().filter(|&&x| x > v).count();
        let firsts: Vec<f64> = a.models.iter().map(|m| m.1).collect();
        let seconds: Vec<f64> = a.models.iter().map(|m| m.2).collect();
        let mut t = table(&["model", &primary.to_string(), "rank", &a.protocol, "rank"]);
        for (model, x, y) in &a.models {
            t.push_record([
                model.clone(),
                value(metric.kind, *x),
                rank(&firsts, *x).to_string(),
                value(metric.kind, *y),
                rank(&seconds, *y).to_string(),
            ]);
        }
        push_table(out, t);
    }
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

impl ProtocolAgreement {
    /// Whether this protocol orders the selected models as the primary one
    /// does, and who leads under each, for the report's opening.
    pub(super) fn answer(&self, primary: &str, metric: MetricId) -> Option<String> {
        let tau = self.tau_models?;
        let leader = |pick: fn(&(String, f64, f64)) -> f64| {
            let better =
                |a: &&(String, f64, f64), b: &&(String, f64, f64)| match metric.kind.direction() {
                    Direction::Higher => pick(a).total_cmp(&pick(b)),
                    Direction::Lower => pick(b).total_cmp(&pick(a)),
                };
            self.models.iter().max_by(better).map(|m| m.0.clone())
        };
        let (here, there) = (leader(|m| m.2)?, leader(|m| m.1)?);
        let order = if tau >= 1.0 - 1e-12 {
            "in the same order as"
        } else {
            "differently from"
        };
        let leaders = if here == there {
            format!("**{here}** leads under both")
        } else {
            format!(
                "**{here}** leads under the {} protocol, **{there}** under the {primary} one",
                self.protocol
            )
        };
        let all = self.tau_configurations.map_or(String::new(), |t| {
            format!(
                ", {} over all {} configurations",
                format_correlation(t),
                self.configurations
            )
        });
        Some(format!(
            "Under the {} protocol, test {metric} orders the selected models {order} the {primary} protocol does (Kendall τ {} over {} models{all}): {leaders}.",
            self.protocol,
            format_correlation(tau),
            self.models.len(),
        ))
    }
}

/// The secondary protocols' agreement with the primary, and the orderings
/// of the estimators (a randomised test is their reference, so it joins
/// the orderings rather than the agreements).
pub(super) fn protocol_comparisons(
    results: &ResultsDir,
    record: &ExperimentRecord,
    configs: &[Configuration],
    selected: &[usize],
    metric: MetricId,
) -> Result<(Vec<ProtocolAgreement>, Option<Orderings>), StoreError> {
    // A randomised test is a reference for the estimators on the biased
    // log, which the orderings compare with it.
    let protocols: Vec<ProtocolAgreement> = record
        .spec
        .evaluation
        .protocol
        .secondary()
        .iter()
        .filter(|p| **p != crate::eval::Protocol::Randomised)
        .map(|p| agreement(&p.to_string(), configs, selected, metric))
        .collect();
    let randomised: Vec<String> = record
        .spec
        .evaluation
        .protocol
        .secondary()
        .iter()
        .filter(|p| **p == crate::eval::Protocol::Randomised)
        .map(|p| p.to_string())
        .collect();
    let mut orderings = orderings::orderings(
        configs,
        selected,
        metric,
        &record.spec.evaluation.metrics,
        &randomised,
    );
    if let Some(o) = &mut orderings {
        orderings::add_intervals(o, results, configs, selected, record.spec.seed)?;
    }
    Ok((protocols, orderings))
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
