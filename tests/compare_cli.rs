//! `recsweep compare`: the JSON shape, the paired differences, and clear
//! exit-2 errors for mismatched or broken files.

use recsweep::stats::{paired_t, wilcoxon};
use std::path::Path;

mod common;

use common::recsweep;

fn compare(args: &[&str]) -> std::process::Output {
    recsweep(Path::new("."), &[&["compare"], args].concat())
}

const A: &str = "tests/fixtures/per_user/a.tsv";
const B: &str = "tests/fixtures/per_user/b.tsv";

#[test]
fn json_has_the_documented_shape_and_values() {
    let out = compare(&[A, B, "--json", "--metric", "ndcg@10"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let a = [0.5, 0.0, 1.0, 0.63, 0.0];
    let b = [0.3, 0.0, 0.5, 0.0, 0.1];
    let d: Vec<f64> = a.iter().zip(&b).map(|(x, y)| x - y).collect();
    assert_eq!(v["metric"], "ndcg@10");
    assert_eq!(v["n"], 5);
    assert!((v["mean_diff"].as_f64().unwrap() - d.iter().sum::<f64>() / 5.0).abs() < 1e-15);
    let t = paired_t(&d).unwrap();
    assert_eq!(
        v["tests"]["paired_t"]["p_value"].as_f64().unwrap(),
        t.p_value
    );
    assert_eq!(
        v["tests"]["wilcoxon"]["statistic"].as_f64().unwrap(),
        wilcoxon(&d).unwrap().statistic
    );
    assert_eq!(v["tests"]["permutation"]["permutations"], 10_000);
    let (lo, hi) = (
        v["tests"]["bootstrap"]["ci_low"].as_f64().unwrap(),
        v["tests"]["bootstrap"]["ci_high"].as_f64().unwrap(),
    );
    assert!(lo <= hi);
    assert!(v["effect"]["relative_diff"].is_f64() && v["effect"]["cohens_dz"].is_f64());
}

#[test]
fn swapping_a_and_b_keeps_two_sided_p_and_flips_the_difference() {
    let parse =
        |o: std::process::Output| serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap();
    let ab = parse(compare(&[A, B, "--json"]));
    let ba = parse(compare(&[B, A, "--json"]));
    assert_eq!(
        ab["tests"]["paired_t"]["p_value"],
        ba["tests"]["paired_t"]["p_value"]
    );
    assert_eq!(
        ab["tests"]["wilcoxon"]["p_value"],
        ba["tests"]["wilcoxon"]["p_value"]
    );
    assert_eq!(
        ab["mean_diff"].as_f64().unwrap(),
        -ba["mean_diff"].as_f64().unwrap()
    );
}

#[test]
fn mismatched_users_fail_with_counts_and_examples_unless_intersect() {
    let out = compare(&[A, "tests/fixtures/per_user/other_users.tsv"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "A has 5, B has 3; 3 only in A (e.g. `u3`, `u4`, `u5`), 1 only in B (e.g. `u9`)"
        ),
        "{err}"
    );
    assert!(err.contains("--intersect"), "{err}");
    let out = compare(&[
        A,
        "tests/fixtures/per_user/other_users.tsv",
        "--intersect",
        "--json",
    ]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["n"], 2);
}

#[test]
fn broken_inputs_name_the_file_and_user_or_line() {
    for (file, expected) in [
        (
            "tests/fixtures/per_user/infinite.tsv",
            "ndcg@10 of user `u2` is inf",
        ),
        (
            "tests/fixtures/per_user/ragged.tsv",
            "ragged.tsv:2: 3 fields, expected 2",
        ),
        (
            "tests/fixtures/per_user/missing.tsv",
            "cannot read tests/fixtures/per_user/missing.tsv",
        ),
    ] {
        let out = compare(&[file, B]);
        assert_eq!(out.status.code(), Some(2), "{file}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(expected), "{file}: {err}");
    }
    let out = compare(&[A, B, "--metric", "mrr@10"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("no column `mrr@10`; it has ndcg@10, recall@10"));
}

/// With `--results`, a side may name a model: its selected configuration
/// (by validation, as the report selects), each user's value averaged over
/// its seeds, paired by user id with a trial folder or per-user file on the
/// other side. A name that is no model is an error naming the models.
#[test]
fn a_model_of_a_results_folder_is_its_selected_configuration_seeds_averaged() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("s.yaml"),
        "name: cmp\nseed: 5\n\
         dataset: {source: synthetic, users: 150, items: 60, interactions: 2500, seed: 2}\n\
         split: {method: leave_one_out, validation: true}\n\
         evaluation: {cutoffs: [10], metrics: [ndcg]}\n\
         models:\n  - model: most_pop\n  - model: mf\n    params: {dim: 8, epochs: 2}\n    sweep: {l2: [0.0, 0.01]}\n\
         sweep: {seeds: 2}\n",
    )
    .unwrap();
    let run = recsweep(
        dir.path(),
        &["run", "s.yaml", "--quiet", "--results", "res"],
    );
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let res = dir.path().join("res/cmp");
    let results = recsweep::store::ResultsDir::new(&res);
    let record = results.read_experiment().unwrap();
    let (records, _) = recsweep::results::load_records(&results, &record).unwrap();
    let configs = recsweep::results::configurations(&record.expansion, &records);
    let metric = record.spec.selection.metric;
    let part = recsweep::results::Part::selection(&record.spec.split);
    let selected = recsweep::results::select(&configs, metric, part)
        .into_iter()
        .map(|i| &configs[i])
        .find(|c| c.model_name == "mf")
        .unwrap();
    assert_eq!(selected.trials.len(), 2);
    let seed_means: Vec<f64> = selected
        .trials
        .iter()
        .map(|t| match &t.outcome {
            recsweep::store::Outcome::Ok { test, .. } => test.get(metric).unwrap().mean,
            recsweep::store::Outcome::Failed { error } => panic!("{error}"),
        })
        .collect();
    let first_seed = results.trial_path(&selected.trials[0].trial.id);
    let out = compare(&[
        "mf",
        first_seed.to_str().unwrap(),
        "--results",
        res.to_str().unwrap(),
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mean_a = v["mean_a"].as_f64().unwrap();
    assert!(
        (mean_a - (seed_means[0] + seed_means[1]) / 2.0).abs() < 1e-12,
        "{mean_a} vs {seed_means:?}"
    );
    assert!((v["mean_b"].as_f64().unwrap() - seed_means[0]).abs() < 1e-12);
    assert_eq!(v["n"], 150);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("A: mf in") && said.contains("2 seeds averaged"),
        "{said}"
    );
    // A model's two seeds against one run: the difference also over
    // users and seeds, with an interval around the users' mean difference.
    let seeds = &v["users_and_seeds"];
    assert_eq!(
        (seeds["seeds_a"].as_u64(), seeds["seeds_b"].as_u64()),
        (Some(2), Some(1))
    );
    let diff = v["mean_diff"].as_f64().unwrap();
    assert!(
        seeds["ci_low"].as_f64().unwrap() <= diff && diff <= seeds["ci_high"].as_f64().unwrap()
    );
    // Two models by name.
    let out = compare(&["mf", "most_pop", "--results", res.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("over users and seeds (2 and 1 seeds): 95% CI")
            && text.contains("(paired_t, over users and seeds: p = "),
        "{text}"
    );
    // Two files are one run each: no such line.
    let out = compare(&[first_seed.to_str().unwrap(), first_seed.to_str().unwrap()]);
    assert!(!String::from_utf8_lossy(&out.stdout).contains("over users and seeds"));
    let out = compare(&["mff", "most_pop", "--results", res.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no model named `mff`") && err.contains("did you mean `mf`"),
        "{err}"
    );
}
