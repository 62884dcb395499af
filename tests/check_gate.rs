//! `recsweep check`: passes on identical results, fails on a degraded model
//! with a readable table, ignores changes that are not significant or within
//! tolerance, and refuses a baseline from other data.

use std::path::Path;

mod common;

use common::{recsweep, recsweep_with, text};

const SPEC: &str = "name: gate\nseed: 3\n\
dataset: {source: synthetic, users: 600, items: 300, interactions: 12000, seed: 2}\n\
evaluation: {cutoffs: [10], metrics: [recall, ndcg, arp]}\n\
models:\n  - model: most_pop\n  - model: ease\n    params: {l2: 100.0}\n\
check: {metrics: [ndcg@10, arp@10]}\n";

fn run(dir: &Path, results: &str, extra: &[&str]) {
    let mut args = vec!["run", "spec.yaml", "--quiet", "--results", results];
    args.extend(extra);
    let out = recsweep(dir, &args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("spec.yaml"), SPEC).unwrap();
    run(dir.path(), "base", &[]);
    write_baseline(dir.path(), "base/gate", "baseline.json");
    dir
}

/// The spec again into `worse/`, with EASE's scores penalised by item
/// popularity: a worse ndcg and a better arp than the baseline's.
fn run_penalised(dir: &Path) {
    run(
        dir,
        "worse",
        &[
            "--set",
            "models[1].params.popularity={method: penalty, gamma: 0.3}",
        ],
    );
}

/// `recsweep check RESULTS --write-baseline FILE` in `dir`, which must succeed.
fn write_baseline(dir: &Path, results: &str, file: &str) {
    let out = recsweep(dir, &["check", results, "--write-baseline", file]);
    assert!(out.status.success(), "{}", text(&out));
}

/// `recsweep check RESULTS --baseline BASELINE EXTRA...` in `dir`, which
/// must exit with `code` (both streams shown when it does not); its table.
fn gate(dir: &Path, results: &str, baseline: &str, extra: &[&str], code: i32) -> String {
    let mut args = vec!["check", results, "--baseline", baseline];
    args.extend_from_slice(extra);
    let out = recsweep(dir, &args);
    assert_eq!(out.status.code(), Some(code), "{}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn identical_results_pass() {
    let dir = setup();
    run(dir.path(), "again", &[]);
    let table = gate(dir.path(), "again/gate", "baseline.json", &[], 0);
    assert!(table.contains("## recsweep check: passed"), "{table}");
    assert_eq!(
        table.matches("no change (not significant)").count(),
        4,
        "{table}"
    );
}

#[test]
fn a_degraded_model_fails_with_a_readable_table() {
    let dir = setup();
    run_penalised(dir.path());
    let summary = dir.path().join("summary.md");
    let out = recsweep_with(
        dir.path(),
        &["check", "worse/gate", "--baseline", "baseline.json"],
        &[("GITHUB_STEP_SUMMARY", summary.to_str().unwrap())],
    );
    assert_eq!(out.status.code(), Some(1));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("regression(s)"), "{table}");
    let ease_ndcg = table
        .lines()
        .find(|l| l.starts_with("| ease") && l.contains("ndcg@10"))
        .unwrap();
    assert!(ease_ndcg.contains("REGRESSED"), "{table}");
    // Lower popularity is better for arp: the penalty shows as an improvement.
    let ease_arp = table
        .lines()
        .find(|l| l.starts_with("| ease") && l.contains("arp@10"))
        .unwrap();
    assert!(ease_arp.contains("improved"), "{table}");
    assert_eq!(std::fs::read_to_string(summary).unwrap(), table);
}

#[test]
fn drops_within_tolerance_or_not_significant_are_ignored() {
    let dir = setup();
    run_penalised(dir.path());
    let lenient = gate(
        dir.path(),
        "worse/gate",
        "baseline.json",
        &["--tolerance-absolute", "1000"],
        0,
    );
    assert!(lenient.contains("no change (within tolerance)"));
    gate(
        dir.path(),
        "worse/gate",
        "baseline.json",
        &["--alpha", "1e-300"],
        0,
    );
}

#[test]
fn a_baseline_from_other_data_is_an_error_not_a_pass() {
    let dir = setup();
    run(dir.path(), "other", &["--set", "dataset.seed=99"]);
    let out = recsweep(
        dir.path(),
        &["check", "other/gate", "--baseline", "baseline.json"],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("dataset fingerprint") && err.contains("--write-baseline"),
        "{err}"
    );
    let missing = recsweep(
        dir.path(),
        &["check", "base/gate", "--baseline", "nope.json"],
    );
    assert_eq!(missing.status.code(), Some(2));
    let no_mode = recsweep(dir.path(), &["check", "base/gate"]);
    assert_eq!(no_mode.status.code(), Some(2));
}

/// Tail metrics are undefined (NaN, `null` in the baseline) for users whose
/// held-out item is a head item: the baseline round-trips, and the gate
/// pairs the users defined on both sides and fails on a genuine drop.
#[test]
fn a_worse_tail_metric_fails_the_gate() {
    let dir = tempfile::tempdir().unwrap();
    let spec = "name: tail\nseed: 3\n\
        dataset: {source: synthetic, users: 800, items: 300, interactions: 16000, seed: 2}\n\
        evaluation: {cutoffs: [10], metrics: [recall, ndcg, recall_tail, ndcg_tail]}\n\
        models:\n  - model: ease\n    name: m\n    params: {l2: 100.0, popularity: {method: penalty, gamma: 1.0}}\n\
        check: {metrics: [recall_tail@10, ndcg@10]}\n";
    std::fs::write(dir.path().join("spec.yaml"), spec).unwrap();
    run(dir.path(), "base", &[]);
    write_baseline(dir.path(), "base/tail", "baseline.json");
    let text = std::fs::read_to_string(dir.path().join("baseline.json")).unwrap();
    assert!(text.contains("null"), "undefined users are stored as null");
    // The baseline checks against itself: it is readable and passes.
    let table = gate(dir.path(), "base/tail", "baseline.json", &[], 0);
    assert!(table.contains("(defined on both sides)"), "{table}");
    // Without the penalty, EASE recommends the head: tail recall drops.
    run(
        dir.path(),
        "worse",
        &["--set", "models[0].params.popularity={method: none}"],
    );
    let table = gate(dir.path(), "worse/tail", "baseline.json", &[], 1);
    let row = table
        .lines()
        .find(|l| l.contains("recall_tail@10"))
        .unwrap();
    assert!(row.contains("REGRESSED") && row.contains(" of "), "{table}");
}

#[test]
fn an_empty_or_inconsistent_baseline_is_an_error_not_a_pass() {
    let dir = setup();
    let text = std::fs::read_to_string(dir.path().join("baseline.json")).unwrap();
    let mut baseline: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut empty = baseline.clone();
    empty["entries"] = serde_json::json!([]);
    std::fs::write(dir.path().join("empty.json"), empty.to_string()).unwrap();
    // Exit 2, the error naming the file (or the entry) and what is wrong.
    let refused = |file: &str, words: [&str; 2]| {
        let out = recsweep(dir.path(), &["check", "base/gate", "--baseline", file]);
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(words.iter().all(|w| err.contains(w)), "{err}");
    };
    refused("empty.json", ["empty.json", "no entries"]);

    baseline["entries"][0]["values"]
        .as_array_mut()
        .unwrap()
        .pop();
    std::fs::write(dir.path().join("short.json"), baseline.to_string()).unwrap();
    refused("short.json", ["entries[0]", "users but"]);
}

#[test]
fn a_trial_record_that_is_not_json_is_an_error_for_report_and_check() {
    let dir = setup();
    let trials = dir.path().join("base/gate/trials");
    let first = std::fs::read_dir(&trials)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let record = first.join("trial.json");
    std::fs::write(&record, [0xff, 0xfe, 0x00, 0x13, 0x37, 0x80]).unwrap();
    let name = record
        .strip_prefix(dir.path())
        .unwrap()
        .display()
        .to_string();
    let report = recsweep(dir.path(), &["report", "base/gate", "-o", "r.md"]);
    assert_eq!(report.status.code(), Some(2));
    let err = String::from_utf8_lossy(&report.stderr);
    assert!(
        err.contains(&name) && err.contains("not a readable recsweep file"),
        "{err}"
    );
    let check = recsweep(
        dir.path(),
        &["check", "base/gate", "--baseline", "baseline.json"],
    );
    assert_eq!(check.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&check.stderr).contains(&name));
}

/// A baseline that kept its seeds is tested over users and seeds: a drop
/// that the seeds' own spread explains passes, while the same per-user
/// means without seeds (a baseline of older versions) are tested over users
/// alone and fail.
#[test]
fn the_gate_tests_over_seeds_when_the_baseline_kept_them() {
    let dir = tempfile::tempdir().unwrap();
    let spec = "name: seeded\nseed: 3\n\
dataset: {source: synthetic, users: 300, items: 120, interactions: 6000, seed: 2}\n\
evaluation: {cutoffs: [10], metrics: [recall, ndcg]}\n\
models:\n  - model: mf\n    params: {dim: 8, epochs: 3, batch_size: 64}\n\
sweep: {seeds: 2}\n\
check: {metrics: [ndcg@10]}\n";
    std::fs::write(dir.path().join("spec.yaml"), spec).unwrap();
    run(dir.path(), "base", &[]);
    write_baseline(dir.path(), "base/seeded", "kept.json");
    let mut baseline: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("kept.json")).unwrap()).unwrap();
    let entry = &mut baseline["entries"][0];
    assert_eq!(
        entry["seeds"].as_array().unwrap().len(),
        2,
        "one list per seed"
    );
    // Raise the baseline by 0.02 for every user, with its two seeds 0.3
    // apart around that: the current results now look 0.02 worse.
    let shift = |v: &serde_json::Value, by: f64| serde_json::json!(v.as_f64().unwrap() + by);
    let values: Vec<serde_json::Value> = entry["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| shift(v, 0.02))
        .collect();
    entry["values"] = values.clone().into();
    entry["seeds"] = serde_json::json!([
        values.iter().map(|v| shift(v, 0.15)).collect::<Vec<_>>(),
        values.iter().map(|v| shift(v, -0.15)).collect::<Vec<_>>(),
    ]);
    std::fs::write(dir.path().join("spread.json"), baseline.to_string()).unwrap();
    entry_without_seeds(&mut baseline);
    std::fs::write(dir.path().join("users-only.json"), baseline.to_string()).unwrap();

    gate(dir.path(), "base/seeded", "spread.json", &[], 0);
    let users_only = gate(dir.path(), "base/seeded", "users-only.json", &[], 1);
    assert!(users_only.contains("REGRESSED"));
}

fn entry_without_seeds(baseline: &mut serde_json::Value) {
    baseline["entries"][0]
        .as_object_mut()
        .unwrap()
        .remove("seeds");
}
