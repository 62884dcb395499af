//! How the naive offline metric, its debiased versions and (on synthetic
//! data) the truth order the same models: when the log is biased, offline
//! accuracy rewards copying the system that collected it, and these orders
//! disagree. Kendall's τ-b between each pair says by how much. The
//! references are the truth metrics (synthetic data) and the plain metric on
//! a randomised-exposure test (the `randomised` protocol), whose items no
//! system chose.

use std::fmt::Write;

use tabled::builder::Builder;

use super::markdown::{heading, push_table, section, table, value, RANDOMISED};
use super::Report;

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use crate::eval::{Family, MetricId, MetricKind};
use crate::results::per_seed;
use crate::results::{Configuration, Part};
use crate::stats::{kendall_tau_b, tau_intervals, AGREEMENT_RESAMPLES};
use crate::store::{ResultsDir, StoreError};

/// A metric under the primary protocol (None) or a secondary one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Column {
    pub metric: MetricId,
    pub protocol: Option<String>,
}

impl Column {
    fn primary(metric: MetricId) -> Self {
        Self {
            metric,
            protocol: None,
        }
    }

    /// Whether the column orders models by something the log's bias does
    /// not shape: a truth metric, or any metric under randomised exposure.
    pub fn is_reference(&self) -> bool {
        self.protocol.is_some() || self.metric.kind.family() == Family::Truth
    }
}

impl fmt::Display for Column {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.protocol {
            None => write!(f, "{}", self.metric),
            Some(p) => write!(f, "{} ({p})", self.metric),
        }
    }
}

/// The selected models under each ordering metric, and the τ between them.
#[derive(Debug, Clone, Serialize)]
pub struct Orderings {
    /// The selection metric first (naive, as a rule), then each other
    /// debiased metric, auc (with a randomised protocol), then each other
    /// truth metric, all at its K, then the selection metric and auc under
    /// each randomised protocol.
    pub metrics: Vec<Column>,
    /// Each selected model's test value under each metric.
    pub models: Vec<(String, Vec<f64>)>,
    pub taus: Vec<OrderingTau>,
    /// Against the main reference ([`Orderings::main_reference`]): how far
    /// the closest estimator is ahead of each other one ([`add_intervals`]).
    pub leads: Vec<TauLead>,
    /// Configurations with test values under every metric.
    pub configurations: usize,
}

/// How far the estimator whose order is closest to a reference's is ahead
/// of another estimator: the difference of their τ with the reference over
/// the selected models, with its 95% interval from the same resamples of
/// users and seeds (paired: both τ move together).
#[derive(Debug, Clone, Serialize)]
pub struct TauLead {
    pub reference: Column,
    pub leader: Column,
    pub other: Column,
    /// τ(leader, reference) − τ(other, reference).
    pub difference: f64,
    pub interval: Option<(f64, f64)>,
}

impl TauLead {
    /// Whether the leader's order is closer than the other's: the paired
    /// interval lies above 0.
    pub fn settled(&self) -> bool {
        self.interval.is_some_and(|(low, _)| low > 0.0)
    }
}

/// τ-b between two orderings: over the selected models, and over every
/// configuration of the sweep.
#[derive(Debug, Clone, Serialize)]
pub struct OrderingTau {
    pub first: Column,
    pub second: Column,
    pub models: Option<f64>,
    pub configurations: Option<f64>,
    /// The 95% interval of τ over the selected models, resampling users
    /// and seeds ([`add_intervals`]); None where a column's per-user values
    /// are not stored.
    pub interval: Option<(f64, f64)>,
}

/// None unless the spec evaluates a debiased or truth metric or ranks a
/// randomised test (`randomised`: the names of such protocols).
pub fn orderings(
    configs: &[Configuration],
    selected: &[usize],
    metric: MetricId,
    evaluated: &[crate::eval::MetricKind],
    randomised: &[String],
) -> Option<Orderings> {
    let at = |kind| MetricId::at(kind, metric.k);
    // The selection metric leads (naive unless the spec selects by a
    // debiased or truth metric, which then is not repeated).
    let other = |m: &&crate::eval::MetricKind| **m != metric.kind;
    let debiased = evaluated
        .iter()
        .filter(|m| m.family() == Family::Debiased)
        .filter(other)
        .map(|&m| at(m));
    let truth = evaluated
        .iter()
        .filter(|m| m.family() == Family::Truth)
        .filter(other)
        .map(|&m| at(m));
    // auc does not depend on how many items are ranked, so its value on
    // the biased holdout can be set against its value on a randomised test.
    let auc = Some(at(MetricKind::Auc))
        .filter(|_| evaluated.contains(&MetricKind::Auc) && !randomised.is_empty())
        .filter(|m| *m != metric);
    let under = |metric: MetricId| {
        randomised.iter().map(move |p| Column {
            metric,
            protocol: Some(p.clone()),
        })
    };
    let metrics: Vec<Column> = std::iter::once(metric)
        .chain(debiased)
        .chain(auc)
        .chain(truth)
        .map(Column::primary)
        .chain(under(metric))
        .chain(auc.into_iter().flat_map(under))
        .collect();
    if metrics.len() < 2 {
        return None;
    }
    let values = |c: &Configuration| -> Option<Vec<f64>> {
        metrics
            .iter()
            .map(|m| match &m.protocol {
                None => c.mean(Part::Test, m.metric),
                Some(p) => c.mean_under(p, Part::Test, m.metric),
            })
            .collect()
    };
    let models: Vec<(String, Vec<f64>)> = selected
        .iter()
        .filter_map(|&i| Some((configs[i].model_name.clone(), values(&configs[i])?)))
        .collect();
    let all: Vec<Vec<f64>> = configs.iter().filter_map(values).collect();
    let column = |rows: &mut dyn Iterator<Item = &Vec<f64>>, a: usize, b: usize| {
        let (x, y): (Vec<f64>, Vec<f64>) = rows.map(|r| (r[a], r[b])).unzip();
        kendall_tau_b(&x, &y)
    };
    // The selection metric against every other; each debiased metric
    // against each reference.
    let mut pairs: Vec<(usize, usize)> = (1..metrics.len()).map(|j| (0, j)).collect();
    for a in (1..metrics.len()).filter(|&a| !metrics[a].is_reference()) {
        for b in (1..metrics.len()).filter(|&b| metrics[b].is_reference()) {
            pairs.push((a, b));
        }
    }
    let taus = pairs
        .into_iter()
        .map(|(a, b)| OrderingTau {
            first: metrics[a].clone(),
            second: metrics[b].clone(),
            models: column(&mut models.iter().map(|m| &m.1), a, b),
            configurations: column(&mut all.iter(), a, b),
            interval: None,
        })
        .collect();
    Some(Orderings {
        configurations: all.len(),
        metrics,
        models,
        taus,
        leads: Vec::new(),
    })
}

/// Adds to each τ over the selected models its 95% interval over users
/// and seeds resampled together (docs/statistics.md, "Agreement between
/// orders"), and the leads of the estimator closest to the main reference
/// with their paired intervals. Each column's per-user values come from
/// the trials' stored tables (the randomised test's own table for its
/// columns); where one is not stored (results written before recsweep kept
/// them) neither is added.
pub fn add_intervals(
    o: &mut Orderings,
    results: &ResultsDir,
    configs: &[Configuration],
    selected: &[usize],
    seed: u64,
) -> Result<(), StoreError> {
    let mut tables = Vec::new();
    for (name, _) in &o.models {
        let Some(&i) = selected.iter().find(|&&i| configs[i].model_name == *name) else {
            return Ok(());
        };
        let config = &configs[i];
        let primary = per_seed(results, config)?.0;
        let mut randomised = Vec::new();
        for t in &config.trials {
            randomised.extend(results.read_per_user_randomised(&t.trial.id)?);
        }
        // Seeds resampled together need every seed's table under every
        // column: a trial without its randomised table (older results) ends
        // it.
        let needs_randomised = o.metrics.iter().any(|m| m.protocol.is_some());
        if needs_randomised && randomised.len() != primary.len() {
            return Ok(());
        }
        tables.push((primary, randomised));
    }
    // One slot per user met in any table: the resamples draw slots.
    let mut slots = BTreeMap::new();
    for (primary, randomised) in &tables {
        for table in primary.iter().chain(randomised) {
            for &u in &table.users {
                let next = slots.len();
                slots.entry(u).or_insert(next);
            }
        }
    }
    // values[m][c][s][slot], NaN where the user has no value.
    let mut values = Vec::new();
    for (primary, randomised) in &tables {
        let mut columns = Vec::new();
        for column in &o.metrics {
            let seeds = match column.protocol {
                None => primary,
                Some(_) => randomised,
            };
            let mut per_seed = Vec::new();
            for table in seeds {
                let Some(v) = table.column(column.metric) else {
                    return Ok(());
                };
                let mut row = vec![f64::NAN; slots.len()];
                for (u, x) in table.users.iter().zip(v) {
                    row[slots[u]] = *x;
                }
                per_seed.push(row);
            }
            if per_seed.is_empty() {
                return Ok(());
            }
            columns.push(per_seed);
        }
        values.push(columns);
    }
    let position = |c: &Column| o.metrics.iter().position(|m| m == c);
    let asked: Vec<(usize, (usize, usize))> = o
        .taus
        .iter()
        .enumerate()
        .filter(|(_, t)| t.models.is_some())
        .filter_map(|(i, t)| Some((i, (position(&t.first)?, position(&t.second)?))))
        .collect();
    let pairs: Vec<(usize, usize)> = asked.iter().map(|a| a.1).collect();
    let (mut leads, differences) = leads(o, &asked);
    let intervals = tau_intervals(
        &values,
        &pairs,
        &differences,
        AGREEMENT_RESAMPLES,
        seed,
        0.95,
    );
    for ((i, _), interval) in asked.into_iter().zip(intervals.taus) {
        o.taus[i].interval = interval;
    }
    for (lead, interval) in leads.iter_mut().zip(intervals.differences) {
        lead.interval = interval;
    }
    o.leads = leads;
    Ok(())
}

/// The closest estimator's lead over each other one against the main
/// reference (intervals still empty), with each lead's pair of positions
/// in `asked` (the τ given intervals, as (index in `taus`, columns)).
fn leads(o: &Orderings, asked: &[(usize, (usize, usize))]) -> (Vec<TauLead>, Vec<(usize, usize)>) {
    let Some(reference) = o.main_reference() else {
        return (Vec::new(), Vec::new());
    };
    let position = |t: &OrderingTau| {
        asked
            .iter()
            .position(|&(i, _)| o.taus[i].first == t.first && o.taus[i].second == t.second)
    };
    let ranked = o.against(reference);
    let Some((leader, others)) = ranked.split_first() else {
        return (Vec::new(), Vec::new());
    };
    others
        .iter()
        .filter_map(|other| {
            let difference = leader.models? - other.models?;
            let pair = (position(leader)?, position(other)?);
            let lead = TauLead {
                reference: reference.clone(),
                leader: leader.first.clone(),
                other: other.first.clone(),
                difference,
                interval: None,
            };
            Some((lead, pair))
        })
        .unzip()
}

impl Orderings {
    /// The order the estimators are judged against: the first column
    /// under a randomised protocol, else the first truth metric.
    pub fn main_reference(&self) -> Option<&Column> {
        let randomised = self.metrics.iter().find(|c| c.protocol.is_some());
        randomised.or_else(|| self.metrics.iter().find(|c| c.is_reference()))
    }

    /// When the selection metric orders the selected models differently
    /// from the first reference: (the reference, τ over the selected
    /// models, the model the reference ranks first). None without a
    /// reference or when the orders agree.
    pub fn misordered(&self) -> Option<(&Column, f64, &str)> {
        let selection = self.metrics.first()?;
        let tau = self
            .taus
            .iter()
            .find(|t| t.first == *selection && t.second.is_reference())?;
        let agreement = tau.models?;
        if agreement >= 1.0 {
            return None;
        }
        let column = self.metrics.iter().position(|m| *m == tau.second)?;
        let first = self
            .models
            .iter()
            .max_by(|a, b| a.1[column].total_cmp(&b.1[column]))?;
        Some((&tau.second, agreement, first.0.as_str()))
    }

    /// Each estimator on the biased log (the selection metric and the
    /// debiased ones) with its τ against `reference`, closest order first:
    /// by τ over the selected models, then over every configuration (a
    /// few models make τ coarse: one swap among six moves it by 0.13).
    /// Empty when the reference is not a column.
    pub fn against(&self, reference: &Column) -> Vec<&OrderingTau> {
        let mut out: Vec<&OrderingTau> = self
            .taus
            .iter()
            .filter(|t| t.second == *reference && !t.first.is_reference() && t.models.is_some())
            .collect();
        let key = |t: &OrderingTau| {
            (
                t.models.unwrap_or(f64::NEG_INFINITY),
                t.configurations.unwrap_or(f64::NEG_INFINITY),
            )
        };
        out.sort_by(|a, b| {
            let (a, b) = (key(a), key(b));
            b.0.total_cmp(&a.0).then(b.1.total_cmp(&a.1))
        });
        out
    }
}

/// Links to a section's figures (SVG files next to the report).
/// Naive vs debiased vs true orders of the selected models.
pub(super) fn render(out: &mut String, report: &Report) {
    let Some(o) = &report.orderings else {
        return;
    };
    let spec = &report.record.spec;
    let randomised = o.metrics.iter().any(|m| m.protocol.is_some());
    section(
        out,
        match randomised {
            true => "Biased holdout against randomised exposure",
            false => "Naive, debiased and true orders",
        },
    );
    let mut what = Vec::new();
    if let Some(p) = &spec.evaluation.propensity {
        what.push(format!(
            "The debiased metrics weight each hit by 1/p_i with propensities from train popularity, {}.",
            p.describe(report.record.propensity_fit.as_ref())
        ));
    }
    if o.metrics
        .iter()
        .any(|m| m.metric.kind.family() == Family::Truth)
    {
        let s = spec.dataset.synthetic();
        what.push(format!(
            "The truth metrics score each list by the synthetic generator's own preferences over the whole catalogue, not by the log: the log's exposure bias is {} (0 = users were shown every item).",
            crate::format::format_number(s.exposure_bias)
        ));
    }
    if randomised {
        what.push(format!(
            "Columns marked (randomised) rank the randomised-exposure test: {RANDOMISED}."
        ));
    }
    let _ = writeln!(
        out,
        "{} Test values of the selected configurations, each with its rank under that metric.
",
        what.join(" ")
    );
    let mut header = vec!["model".to_string()];
    for m in &o.metrics {
        header.push(match &m.protocol {
            None => heading(m.metric),
            Some(p) => format!("{} ({p})", heading(m.metric)),
        });
        header.push("rank".to_string());
    }
    let mut t = Builder::default();
    t.push_record(header);
    let rank = |c: usize, v: f64| 1 + o.models.iter().filter(|m| m.1[c] > v).count();
    for (model, values) in &o.models {
        let mut row = vec![model.clone()];
        for (c, (m, v)) in o.metrics.iter().zip(values).enumerate() {
            row.push(value(m.metric.kind, *v));
            row.push(rank(c, *v).to_string());
        }
        t.push_record(row);
    }
    push_table(out, t);
    let tau = |t: Option<f64>| t.map_or("undefined".to_string(), |t| format!("{t:.3}"));
    let _ = writeln!(
        out,
        "Kendall's τ-b between the orders (1 = same order, −1 = reversed), over the {} selected models and over all {} configurations:
",
        o.models.len(),
        o.configurations
    );
    let intervals = o.taus.iter().any(|t| t.interval.is_some());
    let mut header = vec!["orders", "τ, selected models"];
    if intervals {
        header.push("95% interval (users and seeds)");
    }
    header.push("τ, all configurations");
    let mut t = table(&header);
    for p in &o.taus {
        let mut row = vec![format!("{} vs {}", p.first, p.second), tau(p.models)];
        if intervals {
            row.push(p.interval.map_or("—".to_string(), |(low, high)| {
                format!("{low:.2} to {high:.2}")
            }));
        }
        row.push(tau(p.configurations));
        t.push_record(row);
    }
    push_table(out, t);
    if intervals {
        let _ = writeln!(
            out,
            "The interval resamples users and each model's seeds together, {AGREEMENT_RESAMPLES} times, and takes τ's 2.5% and 97.5% quantiles: \
             with few models τ moves in large steps, so an interval that reaches from below 0 to 1 means these data cannot say whether the two orders agree (docs/statistics.md, \"Agreement between orders\").\n"
        );
    }
    render_leads(out, &o.leads);
}

/// The closest estimator's lead over each other one, with its paired
/// interval and what it decides.
fn render_leads(out: &mut String, leads: &[TauLead]) {
    let Some(first) = leads.first() else {
        return;
    };
    if leads.iter().all(|l| l.interval.is_none()) {
        return;
    }
    let _ = writeln!(
        out,
        "Is **{}** really the closest to {}? Its τ minus each other estimator's, over the selected models, with the 95% interval of that difference in the same resamples (both τ move with the same users and seeds, so the difference is paired):\n",
        first.leader, first.reference
    );
    let mut t = table(&[
        "estimator",
        "τ difference",
        "95% interval (paired)",
        "verdict",
    ]);
    for lead in leads {
        let (interval, verdict) = match lead.interval {
            None => ("—".to_string(), "—".to_string()),
            Some((low, high)) => (
                format!("{low:.2} to {high:.2}"),
                match (lead.settled(), high < 0.0) {
                    (true, _) => format!("{} closer", lead.leader),
                    (_, true) => format!("{} closer", lead.other),
                    _ => "not told apart".to_string(),
                },
            ),
        };
        t.push_record([
            lead.other.to_string(),
            format!("{:+.2}", lead.difference),
            interval,
            verdict,
        ]);
    }
    push_table(out, t);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn orderings(naive_vs_truth: Option<f64>) -> Orderings {
        let naive = MetricId {
            kind: MetricKind::Ndcg,
            k: 10,
        };
        let truth = MetricId {
            kind: MetricKind::TruthUtility,
            k: 10,
        };
        Orderings {
            metrics: vec![Column::primary(naive), Column::primary(truth)],
            models: vec![
                ("ease".into(), vec![0.63, 0.2]),
                ("ials".into(), vec![0.55, 0.4]),
            ],
            taus: vec![OrderingTau {
                first: Column::primary(naive),
                second: Column::primary(truth),
                models: naive_vs_truth,
                configurations: None,
                interval: None,
            }],
            leads: Vec::new(),
            configurations: 2,
        }
    }

    /// Against a randomised reference, the estimator with the highest τ
    /// leads every other one, each lead naming its pair of τ.
    #[test]
    fn the_closest_estimator_leads_each_other_against_the_randomised_order() {
        let at = |kind| MetricId { kind, k: 10 };
        let naive = Column::primary(at(MetricKind::Ndcg));
        let ips = Column::primary(at(MetricKind::IpsRecall));
        let randomised = Column {
            metric: at(MetricKind::Ndcg),
            protocol: Some("randomised".into()),
        };
        let tau = |first: &Column, second: &Column, t: f64| OrderingTau {
            first: first.clone(),
            second: second.clone(),
            models: Some(t),
            configurations: None,
            interval: None,
        };
        let o = Orderings {
            metrics: vec![naive.clone(), ips.clone(), randomised.clone()],
            models: Vec::new(),
            taus: vec![
                tau(&naive, &ips, 0.2),
                tau(&naive, &randomised, 0.1),
                tau(&ips, &randomised, 0.6),
            ],
            leads: Vec::new(),
            configurations: 0,
        };
        assert_eq!(o.main_reference(), Some(&randomised));
        let asked = [(0, (0, 1)), (1, (0, 2)), (2, (1, 2))];
        let (leads, pairs) = leads(&o, &asked);
        assert_eq!(pairs, [(2, 1)]);
        assert_eq!((&leads[0].leader, &leads[0].other), (&ips, &naive));
        assert!((leads[0].difference - 0.5).abs() < 1e-12);
        let with = |interval| TauLead {
            interval,
            ..leads[0].clone()
        };
        assert!(with(Some((0.1, 0.7))).settled());
        assert!(!with(Some((0.0, 0.7))).settled());
        assert!(!with(None).settled());
    }

    #[test]
    fn a_metric_that_misorders_the_models_names_the_truths_leader() {
        let o = orderings(Some(-1.0));
        let (truth, tau, first) = o.misordered().unwrap();
        assert_eq!(truth.metric.kind, MetricKind::TruthUtility);
        assert_eq!((tau, first), (-1.0, "ials"));
        assert!(orderings(Some(1.0)).misordered().is_none());
        assert!(orderings(None).misordered().is_none());
    }
}
