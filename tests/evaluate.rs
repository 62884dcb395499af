//! `recsweep evaluate` against trec_eval (pytrec_eval 0.5.11) and ranx,
//! per user, at K = 1, 5, 10, 20, 100 (tests/fixtures/trec/make_reference.py).

mod common;

use common::recsweep;
use std::collections::BTreeMap;
use std::path::Path;

use recsweep::eval::{MetricKind, MetricSet};
use recsweep::external::{
    evaluate, read_judgements, read_run, EvaluateOptions, ScorePrecision, Scores, Vocabulary,
};

type Reference = BTreeMap<String, BTreeMap<String, BTreeMap<String, f64>>>;

fn reference_from(file: &str) -> Reference {
    let text = std::fs::read_to_string(file).unwrap();
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    // Keep the per-metric tables only (the close-score file also records a count).
    let tables = value
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, v)| v.is_object())
        .map(|(k, v)| (k.clone(), serde_json::from_value(v.clone()).unwrap()))
        .collect();
    tables
}

fn reference() -> Reference {
    reference_from("tests/fixtures/trec/reference.json")
}

const CUTOFFS: [usize; 5] = [1, 5, 10, 20, 100];

fn score(
    run_file: &str,
    qrels_file: &str,
    kinds: &[MetricKind],
    precision: ScorePrecision,
) -> Scores {
    let mut vocabulary = Vocabulary::default();
    let run = read_run(Path::new(run_file), &mut vocabulary).unwrap();
    let qrels = read_judgements(Path::new(qrels_file), &mut vocabulary).unwrap();
    let set = MetricSet {
        cutoffs: CUTOFFS.to_vec(),
        metrics: kinds.to_vec(),
    };
    let options = EvaluateOptions {
        precision,
        ..EvaluateOptions::default()
    };
    evaluate(&run, &qrels, None, None, &vocabulary, &set, &options).unwrap()
}

/// Compares every per-user value of every metric the reference has; returns
/// how many differ by more than 1e-9 (after asserting all were compared).
fn mismatches(out: &Scores, expected: &BTreeMap<String, BTreeMap<String, f64>>) -> usize {
    let mut checked = 0;
    let mut differing = 0;
    for (column, values) in out.per_user.columns.iter().zip(&out.per_user.values) {
        let Some(reference) = expected.get(column) else {
            continue;
        };
        for (user, value) in out.per_user.users.iter().zip(values) {
            let want = reference[user];
            if (value - want).abs() > 1e-9 {
                eprintln!("{column} user {user}: {value} vs {want}");
                differing += 1;
            }
            checked += 1;
        }
    }
    assert_eq!(
        checked,
        40 * expected.len(),
        "every reference value compared"
    );
    differing
}

/// Checks every per-user value of every metric the reference has.
fn check(run_file: &str, source: &str, kinds: &[MetricKind]) {
    let out = score(
        run_file,
        "tests/fixtures/trec/qrels.txt",
        kinds,
        ScorePrecision::Float32,
    );
    assert_eq!(mismatches(&out, &reference()[source]), 0, "{source}");
}

/// Scores that differ only past float precision (counts plus a 1e-9 jitter)
/// are ties in trec_eval, broken by item id: the default ordering agrees
/// with it on every metric at every cutoff, and `--exact-scores` does not
/// (the fixture asserts that ordering by doubles changes 23 users' values).
#[test]
fn matches_trec_eval_when_scores_differ_past_float_precision() {
    use MetricKind::*;
    let kinds = [Precision, Recall, Ndcg, Map, Mrr];
    let expected = &reference_from("tests/fixtures/trec/reference_close.json")["trec_eval_close"];
    assert_eq!(expected.len(), kinds.len() * CUTOFFS.len());
    let run = "tests/fixtures/trec/run_close.txt";
    let qrels = "tests/fixtures/trec/qrels_close.txt";
    let default = score(run, qrels, &kinds, ScorePrecision::Float32);
    assert_eq!(mismatches(&default, expected), 0);
    let exact = score(run, qrels, &kinds, ScorePrecision::Exact);
    assert!(
        mismatches(&exact, expected) > 0,
        "exact order is not trec_eval's here"
    );
}

#[test]
fn matches_trec_eval_with_tied_scores() {
    use MetricKind::*;
    check(
        "tests/fixtures/trec/run.txt",
        "trec_eval_ties",
        &[Precision, Recall, Ndcg, Map, Mrr],
    );
}

#[test]
fn matches_trec_eval_with_distinct_scores() {
    use MetricKind::*;
    check(
        "tests/fixtures/trec/run_distinct.txt",
        "trec_eval_distinct",
        &[Precision, Recall, Ndcg, Map, Mrr],
    );
}

#[test]
fn matches_ranx_with_distinct_scores() {
    use MetricKind::*;
    check(
        "tests/fixtures/trec/run_distinct.txt",
        "ranx_distinct",
        &[Precision, Recall, Ndcg, Map, Mrr, HitRate],
    );
}

/// `recsweep evaluate ARGS` in the crate root.
fn evaluate_cli(args: &[&str]) -> std::process::Output {
    recsweep(Path::new("."), &[&["evaluate"], args].concat())
}

/// The `--json` output of a successful call.
fn json_of(out: std::process::Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A train file where item 1 is in four users' histories and item 2 in
/// one: at propensity exponent 0.5 their weights are 1 and 2.
const DEBIASED_TRAIN: &str = "user,item\n1,1\n2,1\n3,1\n4,1\n4,2\n";

#[test]
fn bad_run_files_name_the_file_and_line_and_exit_2() {
    for (file, expected) in [
        ("short_line.txt", "short_line.txt:2: 5 columns, expected 6"),
        (
            "bad_score.txt",
            "bad_score.txt:2: score `high` is not a finite number",
        ),
        ("empty.txt", "empty.txt: the file is empty"),
        (
            "missing.txt",
            "cannot read tests/fixtures/bad_runs/missing.txt",
        ),
    ] {
        let path = format!("tests/fixtures/bad_runs/{file}");
        let out = evaluate_cli(&["--recs", &path, "--truth", "tests/fixtures/trec/qrels.txt"]);
        assert_eq!(out.status.code(), Some(2), "{file}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(expected), "{file}: {err}");
    }
}

#[test]
fn duplicates_missing_users_and_json_output() {
    let dir = tempfile::tempdir().unwrap();
    let per_user = dir.path().join("per_user.tsv");
    let out = evaluate_cli(&[
        "--recs",
        "tests/fixtures/bad_runs/duplicates.csv",
        "--truth",
        "tests/fixtures/bad_runs/truth.csv",
        "--k",
        "1,2",
        "--metrics",
        "hit_rate,precision",
        "--json",
        "--per-user",
        per_user.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("1 repeated (user, item) rows"), "{err}");
    assert!(
        err.contains("1 users of tests/fixtures/bad_runs/duplicates.csv have no relevant item"),
        "{err}"
    );
    assert!(
        err.contains("1 users of tests/fixtures/bad_runs/truth.csv have no recommendations"),
        "{err}"
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["users"], 2);
    // User 1: list 10, 12 (the duplicate 10 dropped); relevant 12 → hit@1 0, hit@2 1.
    // User 2: no list → zeros.
    assert_eq!(v["metrics"]["hit_rate@1"], 0.0);
    assert_eq!(v["metrics"]["hit_rate@2"], 0.5);
    assert_eq!(v["metrics"]["precision@2"], 0.25);
    let tsv = std::fs::read_to_string(per_user).unwrap();
    assert_eq!(
        tsv,
        "user\thit_rate@1\tprecision@1\thit_rate@2\tprecision@2\n1\t0\t0\t1\t0.5\n2\t0\t0\t0\t0\n"
    );
}

#[test]
fn rank_only_runs_are_ordered_by_rank_and_bias_metrics_need_train() {
    let out = evaluate_cli(&[
        "--recs",
        "tests/fixtures/bad_runs/ranks.tsv",
        "--truth",
        "tests/fixtures/bad_runs/truth.csv",
        "--k",
        "1",
        "--metrics",
        "hit_rate",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // Rank 1 is item 10, not relevant for user 1.
    assert_eq!(v["metrics"]["hit_rate@1"], 0.0);
    let out = evaluate_cli(&[
        "--recs",
        "tests/fixtures/bad_runs/ranks.tsv",
        "--truth",
        "tests/fixtures/bad_runs/truth.csv",
        "--metrics",
        "arp",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("arp needs train interactions"));
    let out = evaluate_cli(&[
        "--recs",
        "tests/fixtures/bad_runs/ranks.tsv",
        "--truth",
        "tests/fixtures/bad_runs/truth.csv",
        "--train",
        "tests/fixtures/bad_runs/truth.csv",
        // The truth file stands in for train: keep its items in the lists.
        "--keep-seen",
        "--k",
        "2",
        "--metrics",
        "coverage,arp",
        "--json",
    ]);
    let v = json_of(out);
    // Catalogue {12, 10}; user 1's list covers both; user 2 has none.
    assert_eq!(v["metrics"]["coverage@2"], 1.0);
    // arp: user 1 mean(n_10 = 1, n_12 = 1) = 1, user 2 empty = 0 → 0.5.
    assert_eq!(v["metrics"]["arp@2"], 0.5);
}

/// Debiased metrics of an external run: weights from the train file's
/// popularity (item 1 in four users' histories, item 2 in one: at e = 0.5,
/// w = 1 and 2); e = 0 gives the naive values; without an exponent they are
/// refused, and truth metrics always are.
#[test]
fn debiased_metrics_take_their_propensities_from_the_train_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    std::fs::write(path("train.csv"), DEBIASED_TRAIN).unwrap();
    std::fs::write(path("truth.csv"), "user,item\n5,1\n5,2\n").unwrap();
    std::fs::write(path("recs.tsv"), "user\titem\trank\n5\t2\t1\n5\t1\t2\n").unwrap();
    let run = |extra: &[&str]| {
        let (recs, truth, train) = (path("recs.tsv"), path("truth.csv"), path("train.csv"));
        let mut args = vec![
            "--recs", &recs, "--truth", &truth, "--train", &train, "--k", "2", "--json",
        ];
        args.extend(extra);
        evaluate_cli(&args)
    };
    let metrics = ["--metrics", "recall,ips_recall,snips_recall"];
    let v = json_of(run(
        &[&metrics[..], &["--propensity-exponent", "0.5"]].concat()
    ));
    assert_eq!(v["metrics"]["recall@2"], 1.0);
    assert_eq!(v["metrics"]["ips_recall@2"], 1.5);
    assert_eq!(v["metrics"]["snips_recall@2"], 1.0);
    let v = json_of(run(
        &[&metrics[..], &["--propensity-exponent", "0"]].concat()
    ));
    assert_eq!(v["metrics"]["ips_recall@2"], 1.0);
    let out = run(&metrics);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("give --propensity-exponent E"));
    let out = run(&["--metrics", "recall", "--propensity-exponent=-1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--propensity-exponent -1 must be ≥ 0"));
    let out = run(&["--metrics", "truth_ndcg"]);
    assert_eq!(out.status.code(), Some(2));
}

/// Pooled SNIPS over the run's users by hand, beside per-user SNIPS: item
/// 1 (four train users) weighs 1 and item 2 (one) 2 at e = 0.5. User 5
/// holds out {1, 2} and gets item 1; user 6 holds out {2} and gets item 1.
/// Per user: 1/3 and 0, mean 1/6; pooled: (1 + 0) / (3 + 2) = 0.2.
#[test]
fn pooled_snips_recall_of_a_run_pools_over_its_users() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    std::fs::write(path("train.csv"), DEBIASED_TRAIN).unwrap();
    std::fs::write(path("truth.csv"), "user,item\n5,1\n5,2\n6,2\n").unwrap();
    std::fs::write(path("recs.tsv"), "user\titem\trank\n5\t1\t1\n6\t1\t1\n").unwrap();
    let (recs, truth, train) = (path("recs.tsv"), path("truth.csv"), path("train.csv"));
    let out = evaluate_cli(&[
        "--recs",
        &recs,
        "--truth",
        &truth,
        "--train",
        &train,
        "--k",
        "1",
        "--metrics",
        "snips_recall,pooled_snips_recall",
        "--propensity-exponent",
        "0.5",
        "--json",
    ]);
    let v = json_of(out);
    let mean = |m: &str| v["metrics"][m].as_f64().unwrap();
    assert!((mean("snips_recall@1") - 1.0 / 6.0).abs() < 1e-12, "{v}");
    assert!((mean("pooled_snips_recall@1") - 0.2).abs() < 1e-12, "{v}");
}

/// A run that lists each user's train (and validation) items first is
/// scored as recsweep scores its own models: those items are removed
/// before the cutoff, so it equals the run without them; `--keep-seen`
/// scores it as given.
#[test]
fn seen_items_are_removed_before_the_cutoff_unless_kept() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let write = |name: &str, text: &str| std::fs::write(d.join(name), text).unwrap();
    // u1 held out c; trained on a, b; validated on v. u2 held out a.
    write("truth.tsv", "user\titem\nu1\tc\nu2\ta\n");
    write("train.tsv", "user\titem\nu1\ta\nu1\tb\nu2\tb\n");
    write("validation.tsv", "user\titem\nu1\tv\n");
    write(
        "clean.tsv",
        "user\titem\tscore\nu1\tc\t5\nu1\td\t4\nu2\ta\t5\nu2\tc\t4\n",
    );
    write(
        "seen.tsv",
        "user\titem\tscore\nu1\ta\t9\nu1\tb\t8\nu1\tv\t7\nu1\tc\t5\nu1\td\t4\nu2\tb\t9\nu2\ta\t5\nu2\tc\t4\n",
    );
    let ndcg = |recs: &str, extra: &[&str]| -> (f64, String) {
        let mut args = vec![
            "--recs",
            recs,
            "--truth",
            "truth.tsv",
            "--train",
            "train.tsv",
        ];
        args.extend(extra);
        args.extend(["--metrics", "ndcg", "--k", "1", "--json"]);
        let out = recsweep(d, &[&["evaluate"], &args[..]].concat());
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{err}");
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        (json["metrics"]["ndcg@1"].as_f64().unwrap(), err)
    };
    let (clean, _) = ndcg("clean.tsv", &[]);
    assert_eq!(clean, 1.0);
    let (removed, note) = ndcg("seen.tsv", &["--validation", "validation.tsv"]);
    assert_eq!(removed, clean);
    assert!(
        note.contains("removed 4 recommendations of 2 users that name items of their own train or validation interactions"),
        "{note}"
    );
    // Without the validation file u1's validation item v stays on top.
    assert_eq!(ndcg("seen.tsv", &[]).0, 0.5);
    let (kept, quiet) = ndcg("seen.tsv", &["--keep-seen"]);
    assert_eq!(kept, 0.0);
    assert!(!quiet.contains("removed"), "{quiet}");
}
