//! Biased logs: on synthetic data, where the generator's true preferences
//! are known, offline accuracy on the log orders models as the truth does
//! when users saw every item, and favours the most-popular baseline when the
//! log's exposure was skewed towards popular items (docs/metrics.md).

mod common;

use recsweep::eval::MetricKind;
use recsweep::report::{self, Orderings};

/// A fixed synthetic experiment at the given exposure bias; its orderings.
fn orderings(exposure_bias: f64) -> Orderings {
    let spec = format!(
        "name: biased\nseed: 3\n\
         dataset: {{source: synthetic, users: 800, items: 300, interactions: 24000, exposure_bias: {exposure_bias}, seed: 7}}\n\
         split: {{method: random_holdout, test_fraction: 0.2, validation: false}}\n\
         evaluation:\n  cutoffs: [10]\n  metrics: [ndcg, snips_ndcg, truth_ndcg]\n  propensity: {{exponent: 0.6}}\n\
         models:\n  - model: most_pop\n  - model: random\n  - model: ease\n    params: {{l2: 200.0}}\n  - model: ials\n    params: {{dim: 16, iterations: 8, solver: cg}}\n\
         selection: {{metric: ndcg@10}}\n"
    );
    let (_, ran) = common::run_spec(&spec);
    report::build(&ran.results).unwrap().orderings.unwrap()
}

/// Rank (1 = best) of `model` under column `c`.
fn rank(o: &Orderings, model: &str, c: usize) -> usize {
    let v = o.models.iter().find(|m| m.0 == model).unwrap().1[c];
    1 + o.models.iter().filter(|m| m.1[c] > v).count()
}

fn column(o: &Orderings, kind: MetricKind) -> usize {
    o.metrics.iter().position(|m| m.kind == kind).unwrap()
}

#[test]
fn without_exposure_bias_the_log_orders_models_as_the_truth_does() {
    let o = orderings(0.0);
    let tau = o
        .taus
        .iter()
        .find(|t| t.first.kind == MetricKind::Ndcg && t.second.kind == MetricKind::TruthNdcg)
        .unwrap();
    assert_eq!(tau.models, Some(1.0), "{o:#?}");
}

#[test]
fn with_strong_exposure_bias_most_popular_ranks_better_on_the_log_than_in_truth() {
    let o = orderings(2.0);
    let (naive, truth) = (
        column(&o, MetricKind::Ndcg),
        column(&o, MetricKind::TruthNdcg),
    );
    assert!(
        rank(&o, "most_pop", naive) < rank(&o, "most_pop", truth),
        "{o:#?}"
    );
}
