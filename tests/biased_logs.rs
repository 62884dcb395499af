//! Biased logs: on synthetic data, where the generator's true preferences
//! are known, offline accuracy on the log orders models as the truth does
//! when users saw every item, and favours the most-popular baseline when the
//! log's exposure was skewed towards popular items (docs/metrics.md). A
//! randomised-exposure test set, which no system shaped, ranks the popular
//! baseline where the truth does.

mod common;

use recsweep::data::CsrMatrix;
use recsweep::eval::{evaluate, ItemStats, MetricId, MetricKind, MetricSet, Target};
use recsweep::report::{self, Orderings};

/// A fixed synthetic experiment at the given exposure bias; its orderings.
fn orderings(exposure_bias: f64) -> Orderings {
    orderings_of(exposure_bias, "", "full")
}

/// The same experiment with extra dataset keys and protocols.
fn orderings_of(exposure_bias: f64, dataset: &str, protocol: &str) -> Orderings {
    let spec = format!(
        "name: biased\nseed: 3\n\
         dataset: {{source: synthetic, users: 800, items: 300, interactions: 24000, exposure_bias: {exposure_bias}, seed: 7{dataset}}}\n\
         split: {{method: random_holdout, test_fraction: 0.2, validation: false}}\n\
         evaluation:\n  protocol: {protocol}\n  cutoffs: [10]\n  metrics: [ndcg, snips_ndcg, truth_ndcg]\n  propensity: {{exponent: 0.6}}\n\
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
    o.metrics
        .iter()
        .position(|m| m.metric.kind == kind && m.protocol.is_none())
        .unwrap()
}

#[test]
fn without_exposure_bias_the_log_orders_models_as_the_truth_does() {
    let o = orderings(0.0);
    let tau = o
        .taus
        .iter()
        .find(|t| {
            t.first.metric.kind == MetricKind::Ndcg && t.second.metric.kind == MetricKind::TruthNdcg
        })
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

#[test]
fn a_randomised_test_ranks_the_popular_baseline_where_the_truth_does() {
    let o = orderings_of(
        2.0,
        ", random_test: {items_per_user: 60}",
        "[full, randomised]",
    );
    let randomised = o
        .metrics
        .iter()
        .position(|m| m.protocol.as_deref() == Some("randomised"))
        .expect("a randomised column");
    let (naive, truth) = (
        column(&o, MetricKind::Ndcg),
        column(&o, MetricKind::TruthNdcg),
    );
    // The log promotes most_pop; the randomised test puts it where the
    // truth does. (ease and ials are within 0.001 in truth: their order is
    // noise at this size.)
    let most_pop = |c: usize| rank(&o, "most_pop", c);
    assert!(most_pop(naive) < most_pop(truth), "{o:#?}");
    assert_eq!(most_pop(randomised), most_pop(truth), "{o:#?}");
    assert_eq!(rank(&o, "random", randomised), 4);
    // Every estimator on the log is compared with the randomised order.
    let against = o.against(&o.metrics[randomised]);
    assert_eq!(against.len(), 2, "ndcg and snips_ndcg: {against:?}");
    assert!(against[0].models >= against[1].models);
    // Each τ over the selected models has its interval over users and seeds
    // (the randomised columns from the stored randomised tables), within
    // [−1, 1] and ordered; the one seed here resamples users alone.
    for t in &o.taus {
        let (low, high) = t.interval.unwrap_or_else(|| panic!("{t:?}"));
        assert!((-1.0..=high).contains(&low) && high <= 1.0, "{t:?}");
    }
}

/// Labelled candidates, as the randomised protocol ranks them: only the
/// items shown to a user are ranked, the positives among them are the truth.
#[test]
fn labelled_candidates_rank_only_the_shown_items() {
    // User 0 was shown 0, 2, 4 and took 2; user 1 was shown 1, 3, 5, 6 and
    // took 1 and 3. Items 1 (user 0) and 0 (user 1) score highest but were
    // not shown.
    let shown = CsrMatrix::from_pairs(
        2,
        7,
        &[(0, 0), (0, 2), (0, 4), (1, 1), (1, 3), (1, 5), (1, 6)],
    );
    let positives = CsrMatrix::from_pairs(2, 7, &[(0, 2), (1, 1), (1, 3)]);
    let train = CsrMatrix::from_pairs(2, 7, &[]);
    let scorer = common::Table {
        items: 7,
        scores: vec![
            0.9, 0.95, 0.5, 0.0, 0.1, 0.0, 0.0, //
            0.99, 0.2, 0.0, 0.8, 0.0, 0.9, 0.1,
        ],
    };
    let target = Target {
        truth: &positives,
        exclude: vec![&train],
        history: None,
        candidates: Some(&shown),
        preferences: None,
    };
    let set = MetricSet {
        cutoffs: vec![2],
        metrics: vec![MetricKind::Recall, MetricKind::Ndcg, MetricKind::Auc],
    };
    let items = ItemStats::new(vec![1; 7], 0.8, 2);
    let e = evaluate(&scorer, &target, &set, &items, 1);
    assert_eq!(e.lists.items, vec![vec![0, 2], vec![5, 3]]);
    let at = |kind| e.per_user.column(MetricId { kind, k: 2 }).unwrap().to_vec();
    // User 0: the positive at rank 2 of 2 → recall 1, ndcg 1/log2(3).
    // User 1: 3 at rank 2, 1 at rank 3 → recall 1/2, ndcg (1/log2 3) / (1 + 1/log2 3).
    let g = 1.0 / 3f64.log2();
    assert_eq!(at(MetricKind::Recall), vec![1.0, 0.5]);
    let ndcg = at(MetricKind::Ndcg);
    assert!(
        (ndcg[0] - g).abs() < 1e-12 && (ndcg[1] - g / (1.0 + g)).abs() < 1e-12,
        "{ndcg:?}"
    );
    // auc over the shown items only: user 0's positive 2 (0.5) beats 4
    // (0.1), not 0 (0.9): 1/2; user 1's 1 (0.2) and 3 (0.8) against 5
    // (0.9) and 6 (0.1): 2 of 4. The unshown items 1 (user 0) and 0
    // (user 1), scored highest, count for nothing.
    let auc = e
        .per_user
        .column(MetricId {
            kind: MetricKind::Auc,
            k: 0,
        })
        .unwrap();
    assert_eq!(auc, &[0.5, 0.5]);
}

/// A dense log (Coat's layout) with a randomised test file: the randomised
/// protocol ranks the file's shown items, train pairs among them included,
/// and the propensity exponent is fitted to it.
#[test]
fn a_dense_log_with_a_randomised_test_file_runs_and_fits_propensities() {
    let dir = tempfile::tempdir().unwrap();
    let (users, items) = (40usize, 12usize);
    // Item i is in user u's log when (31u + 17i) mod 12 < 12 − i: item 0 for
    // everyone, item 11 for a few.
    let train: String = (0..users)
        .map(|u| {
            let row: Vec<String> = (0..items)
                .map(|i| match (31 * u + 17 * i) % 12 < 12 - i {
                    true => (1 + (u + 2 * i) % 5).to_string(),
                    false => "0".into(),
                })
                .collect();
            row.join(" ") + "\n"
        })
        .collect();
    let test: String = (0..users)
        .map(|u| {
            let row: Vec<String> = (0..items)
                .map(|i| match (i + items - u % items) % 3 == 0 {
                    true => (1 + (3 * u + i) % 5).to_string(),
                    false => "0".into(),
                })
                .collect();
            row.join(" ") + "\n"
        })
        .collect();
    let (train_path, test_path) = (
        dir.path().join("train.ascii"),
        dir.path().join("test.ascii"),
    );
    std::fs::write(&train_path, train).unwrap();
    std::fs::write(&test_path, test).unwrap();
    let spec = format!(
        "name: coat-like\nseed: 1\n\
         dataset: {{source: dense, path: {}, positive: {{min_rating: 3}}, random_test: {{path: {}}}}}\n\
         split: {{method: random_holdout, test_fraction: 0.2, validation: false}}\n\
         evaluation:\n  protocol: [full, randomised]\n  cutoffs: [3]\n  metrics: [ndcg, snips_ndcg]\n  propensity: {{estimate: randomised}}\n\
         models:\n  - model: most_pop\n  - model: random\n  - model: itemknn\n\
         selection: {{metric: ndcg@3}}\n",
        train_path.display(),
        test_path.display()
    );
    let (experiment, ran) = common::run_spec(&spec);
    let test = experiment.randomised.as_ref().unwrap();
    // Every user is shown the 4 items i ≡ u (mod 3); none is dropped.
    assert_eq!(test.shown.nnz(), users * 4);
    assert_eq!(test.dropped, 0);
    let fit = experiment.propensity_fit.unwrap();
    assert!(
        (0.0..=10.0).contains(&fit.exponent) && fit.items > 1,
        "{fit:?}"
    );
    let o = report::build(&ran.results).unwrap().orderings.unwrap();
    let randomised = o
        .metrics
        .iter()
        .find(|m| m.protocol.is_some())
        .expect("a randomised column");
    assert_eq!(o.against(randomised).len(), 2);
}
