//! Properties that must hold for every input, checked on random cases
//! (proptest with a fixed seed, so every run checks the same cases): metric
//! ranges and monotonicity, block-size independence, top-K against a full
//! sort, p-value ranges and symmetry, and a parser that never panics.

mod common;

use std::path::Path;

use proptest::prelude::*;
use recsweep::data::CsrMatrix;
use recsweep::eval::{
    evaluate, top_k, user_metrics, ItemStats, MetricId, MetricKind, MetricSet, Target,
};
use recsweep::stats::{paired_t, permutation, wilcoxon};

const ACCURACY: [MetricKind; 6] = [
    MetricKind::Precision,
    MetricKind::Recall,
    MetricKind::Ndcg,
    MetricKind::Map,
    MetricKind::Mrr,
    MetricKind::HitRate,
];

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 128,
        // Same cases on every run; nothing written into the source tree.
        failure_persistence: None,
        rng_seed: proptest::test_runner::RngSeed::Fixed(0x5EED_2026),
        ..ProptestConfig::default()
    }
}

/// A ranked list of distinct items out of `n` and a non-empty sorted truth.
fn list_and_truth() -> impl Strategy<Value = (Vec<u32>, Vec<u32>)> {
    (5u32..60).prop_flat_map(|n| {
        (
            Just((0..n).collect::<Vec<u32>>()).prop_shuffle(),
            prop::collection::btree_set(0..n, 1..8),
            1usize..40,
        )
            .prop_map(|(all, truth, len)| {
                let len = len.min(all.len());
                (all[..len].to_vec(), truth.into_iter().collect())
            })
    })
}

fn per_cutoff(list: &[u32], truth: &[u32], cutoffs: &[usize]) -> Vec<(MetricId, f64)> {
    let set = MetricSet {
        cutoffs: cutoffs.to_vec(),
        metrics: ACCURACY.to_vec(),
    };
    let items = ItemStats::new(vec![1; 64], 0.8, 10);
    let mut out = Vec::new();
    user_metrics(list, truth, f64::NAN, None, &set, &items, &mut out);
    set.per_user_columns().into_iter().zip(out).collect()
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn accuracy_metrics_lie_in_zero_one((list, truth) in list_and_truth()) {
        for (id, v) in per_cutoff(&list, &truth, &[1, 3, 10, 50]) {
            prop_assert!((0.0..=1.0).contains(&v), "{id} = {v}");
        }
    }

    #[test]
    fn a_list_that_starts_with_every_relevant_item_has_ndcg_one(
        (list, truth) in list_and_truth()
    ) {
        let mut perfect = truth.clone();
        perfect.extend(list.iter().filter(|i| !truth.contains(i)));
        let k = truth.len().max(1) + 3;
        let ndcg = per_cutoff(&perfect, &truth, &[k])
            .into_iter()
            .find(|(id, _)| id.kind == MetricKind::Ndcg)
            .unwrap()
            .1;
        prop_assert!((ndcg - 1.0).abs() < 1e-12, "{ndcg}");
    }

    #[test]
    fn recall_never_decreases_in_k((list, truth) in list_and_truth()) {
        let cutoffs = [1, 2, 5, 10, 20, 40];
        let recall: Vec<f64> = per_cutoff(&list, &truth, &cutoffs)
            .into_iter()
            .filter(|(id, _)| id.kind == MetricKind::Recall)
            .map(|(_, v)| v)
            .collect();
        prop_assert_eq!(recall.len(), cutoffs.len());
        for w in recall.windows(2) {
            prop_assert!(w[0] <= w[1], "{:?}", recall);
        }
    }

    #[test]
    fn top_k_equals_a_full_stable_sort(
        scores in prop::collection::vec(0u8..4, 1..200),
        excluded_every in 2usize..7,
        k in 1usize..50,
    ) {
        // Few distinct values: many ties, broken by the lower id.
        let scores: Vec<f32> = scores.into_iter().map(f32::from).collect();
        let excluded: Vec<bool> = (0..scores.len()).map(|i| i % excluded_every == 0).collect();
        let mut expected: Vec<u32> = (0..scores.len() as u32)
            .filter(|&i| !excluded[i as usize])
            .collect();
        expected.sort_by(|&a, &b| scores[b as usize].total_cmp(&scores[a as usize]));
        expected.truncate(k);
        prop_assert_eq!(top_k(&scores, &excluded, k), expected);
    }

    #[test]
    fn a_users_metrics_depend_neither_on_other_users_nor_on_the_block_size(
        seed_scores in prop::collection::vec(-1.0f32..1.0, 12 * 30),
        truth_pairs in prop::collection::btree_set((0u32..12, 0u32..30), 1..60),
        block in 1usize..12,
        drop_user in 0u32..12,
    ) {
        let (n_users, n_items) = (12, 30);
        let scorer = common::Table { items: n_items, scores: seed_scores };
        let pairs: Vec<(u32, u32)> = truth_pairs.into_iter().collect();
        let truth = CsrMatrix::from_pairs(n_users, n_items, &pairs);
        let empty = CsrMatrix::from_pairs(n_users, n_items, &[]);
        let set = MetricSet { cutoffs: vec![5, 10], metrics: ACCURACY.to_vec() };
        let items = ItemStats::new(vec![1; n_items], 0.8, n_users);
        let target = Target { truth: &truth, exclude: vec![&empty], history: None, candidates: None, preferences: None };
        let whole = evaluate(&scorer, &target, &set, &items, n_users);
        let blocked = evaluate(&scorer, &target, &set, &items, block);
        prop_assert_eq!(&whole.per_user.users, &blocked.per_user.users);
        prop_assert_eq!(&whole.per_user.values, &blocked.per_user.values);
        // Without one user, everyone else scores the same.
        let fewer: Vec<(u32, u32)> = pairs.iter().copied().filter(|p| p.0 != drop_user).collect();
        let truth_fewer = CsrMatrix::from_pairs(n_users, n_items, &fewer);
        let target_fewer = Target { truth: &truth_fewer, ..target };
        let without = evaluate(&scorer, &target_fewer, &set, &items, block);
        for (n, u) in without.per_user.users.iter().enumerate() {
            let m = whole.per_user.users.iter().position(|x| x == u).unwrap();
            for c in 0..whole.per_user.values.len() {
                prop_assert_eq!(without.per_user.values[c][n], whole.per_user.values[c][m]);
            }
        }
    }

    #[test]
    fn p_values_lie_in_zero_one_and_are_symmetric(
        a in prop::collection::vec(0.0f64..1.0, 2..60),
        shift in -0.3f64..0.3,
        noise in prop::collection::vec(-0.2f64..0.2, 60),
    ) {
        let b: Vec<f64> = a.iter().zip(&noise).map(|(x, e)| x + shift + e).collect();
        let d: Vec<f64> = a.iter().zip(&b).map(|(x, y)| x - y).collect();
        let flipped: Vec<f64> = d.iter().map(|x| -x).collect();
        for (name, p, q) in [
            ("paired_t", paired_t(&d).map(|t| t.p_value), paired_t(&flipped).map(|t| t.p_value)),
            ("wilcoxon", wilcoxon(&d).map(|t| t.p_value), wilcoxon(&flipped).map(|t| t.p_value)),
            ("permutation", permutation(&d, 500, 7), permutation(&flipped, 500, 7)),
        ] {
            let (p, q) = (p.unwrap(), q.unwrap());
            prop_assert!((0.0..=1.0).contains(&p), "{name}: p = {p}");
            prop_assert!((p - q).abs() <= 1e-12 * p.max(1e-300), "{name}: {p} vs {q} after swapping");
        }
    }

    #[test]
    fn identical_samples_give_p_one(a in prop::collection::vec(0.0f64..1.0, 2..60)) {
        let d = vec![0.0; a.len()];
        prop_assert_eq!(paired_t(&d).unwrap().p_value, 1.0);
        prop_assert_eq!(wilcoxon(&d).unwrap().p_value, 1.0);
        prop_assert_eq!(permutation(&d, 200, 1).unwrap(), 1.0);
    }

    #[test]
    fn the_spec_parser_never_panics_on_yaml_like_text(
        text in "([a-z_]{1,8}: ?(\\{|\\[|-|[0-9.e+-]{1,6}|[a-z_]{1,6}|\"|\\}|\\]|, ){0,4}\n {0,4}){0,12}"
    ) {
        let result = recsweep::plan::parse_spec(&text, Path::new("fuzz.yaml"), &[]);
        if let Err(e) = result {
            prop_assert!(!e.to_string().is_empty());
        }
    }

    #[test]
    fn the_spec_parser_never_panics_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let text = String::from_utf8_lossy(&bytes);
        let _ = recsweep::plan::parse_spec(&text, Path::new("fuzz.yaml"), &[]);
    }

    #[test]
    fn mutated_valid_specs_give_located_errors_not_panics(
        cut in 0usize..400,
        insert in "[ :\\-\\[\\]{},a-z0-9\n]{0,6}",
    ) {
        let valid = "name: x\nseed: 1\ndataset: {source: synthetic, users: 40, items: 30, interactions: 300}\n\
            split: {method: leave_one_out, validation: true}\nevaluation: {cutoffs: [5, 10]}\n\
            models:\n  - model: ease\n    params: {l2: 10.0}\n  - model: itemknn\n\
            sweep:\n  grid: {neighbors: [5, 10]}\n  seeds: 2\nselection: {metric: ndcg@10}\n";
        let at = cut.min(valid.len());
        let at = (0..=at).rev().find(|&i| valid.is_char_boundary(i)).unwrap();
        let text = format!("{}{}{}", &valid[..at], insert, &valid[at..]);
        let _ = recsweep::plan::parse_spec(&text, Path::new("fuzz.yaml"), &[]);
    }
}
