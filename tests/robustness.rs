//! Bad input never panics and gets the documented exit status; concurrent
//! runs on one results folder share the work. Each test is named for the
//! input it feeds.

use std::path::Path;
use std::process::{Command as Process, Output, Stdio};

mod common;

use common::{bad_input, recsweep, stderr};

const SMALL: &str = "name: small\nseed: 1\n\
dataset: {source: synthetic, users: 120, items: 60, interactions: 1500, seed: 2}\n\
evaluation: {cutoffs: [5, 10]}\nmodels:\n  - model: most_pop\n  - model: ease\n";

fn with_spec(text: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("spec.yaml"), text).unwrap();
    dir
}

/// A folder with the SMALL spec, run into `res/`.
fn small_run() -> tempfile::TempDir {
    let dir = with_spec(SMALL);
    let run = recsweep(
        dir.path(),
        &["run", "spec.yaml", "--quiet", "--results", "res"],
    );
    assert!(run.status.success(), "{}", stderr(&run));
    dir
}

/// Runs the command with its standard output closed before it writes.
fn with_closed_stdout(dir: &Path, args: &[&str]) -> Output {
    let mut child = Process::new(env!("CARGO_BIN_EXE_recsweep"))
        .current_dir(dir)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    child.wait_with_output().unwrap()
}

#[test]
fn a_closed_stdout_ends_every_printing_command_quietly() {
    let dir = small_run();
    for args in [
        vec!["validate", "spec.yaml"],
        vec!["report", "res/small", "--json"],
        vec!["run", "spec.yaml", "--quiet", "--results", "res"],
    ] {
        let out = with_closed_stdout(dir.path(), &args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

/// A full device is not bad input (exit 1), but it is said plainly.
#[test]
fn a_full_stdout_is_a_clear_error() {
    let Ok(full) = std::fs::OpenOptions::new().write(true).open("/dev/full") else {
        println!("SKIPPED: no /dev/full on this system");
        return;
    };
    let dir = with_spec(SMALL);
    let out = Process::new(env!("CARGO_BIN_EXE_recsweep"))
        .current_dir(dir.path())
        .args(["validate", "spec.yaml"])
        .stdout(full)
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("cannot write to standard output"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn output_paths_that_cannot_be_written_are_bad_input() {
    let dir = with_spec(SMALL);
    std::fs::write(dir.path().join("blocker"), "a regular file").unwrap();
    std::fs::create_dir(dir.path().join("folder")).unwrap();
    let under_file = "blocker is a file, not a folder";
    bad_input(
        &recsweep(
            dir.path(),
            &["run", "spec.yaml", "--quiet", "--results", "blocker/res"],
        ),
        under_file,
    );
    bad_input(
        &common::run_setting(dir.path(), "report.path=blocker/r.md"),
        under_file,
    );
    bad_input(
        &recsweep(dir.path(), &["report", "res/small", "-o", "folder"]),
        "it is a folder",
    );
    bad_input(
        &recsweep(
            dir.path(),
            &["split", "spec.yaml", "--out", "blocker/split"],
        ),
        under_file,
    );
    bad_input(
        &recsweep(
            dir.path(),
            &["check", "res/small", "--write-baseline", "folder"],
        ),
        "it is a folder",
    );
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let fixture = |f: &str| {
        root.join("tests/fixtures/trec")
            .join(f)
            .display()
            .to_string()
    };
    bad_input(
        &recsweep(
            dir.path(),
            &[
                "evaluate",
                "--recs",
                &fixture("run.txt"),
                "--truth",
                &fixture("qrels.txt"),
                "--per-user",
                "blocker/per_user.tsv",
            ],
        ),
        under_file,
    );
    // Nothing half-written is left beside the targets.
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn ials_values_that_can_only_break_the_solver_are_rejected_at_their_key() {
    for (params, expected) in [
        (
            "{alpha: 1e308}",
            "models[0].params.alpha: 1e308 is out of range; alpha must be in [0, 1e6]",
        ),
        (
            "{popularity: {method: weight, beta: 1000}}",
            "models[0].params.popularity.beta: 1000 is out of range; beta must be in [0, 10]",
        ),
    ] {
        let spec = format!(
            "name: x\ndataset: {{source: synthetic, users: 60, items: 40, interactions: 600}}\n\
             models:\n  - model: ials\n    params: {params}\n"
        );
        let dir = with_spec(&spec);
        bad_input(
            &recsweep(dir.path(), &["run", "spec.yaml", "--quiet"]),
            expected,
        );
    }
}

#[test]
fn an_int_uniform_space_outside_the_params_rule_is_an_error_at_the_space() {
    let spec = "name: x\ndataset: {source: synthetic, users: 60, items: 40, interactions: 600}\n\
        models:\n  - model: itemknn\n\
        sweep:\n  random:\n    samples: 3\n    space:\n      neighbors: {int_uniform: [-9223372036854775808, 9223372036854775807]}\n";
    let dir = with_spec(spec);
    bad_input(
        &recsweep(dir.path(), &["validate", "spec.yaml"]),
        "sweep.random.space.neighbors: int_uniform: [-9223372036854775808, 9223372036854775807] has a bound beyond ±2^53",
    );
    let spec = spec.replace("-9223372036854775808, 9223372036854775807", "-5, 20");
    std::fs::write(dir.path().join("spec.yaml"), spec).unwrap();
    bad_input(
        &recsweep(dir.path(), &["validate", "spec.yaml"]),
        "sweep.random.space.neighbors: for model `itemknn`: the space reaches -5, where neighbors:",
    );
}

#[test]
fn non_finite_ratings_are_rejected_with_file_line_and_column() {
    for value in ["inf", "-inf", "NaN"] {
        let dir = tempfile::tempdir().unwrap();
        let log = format!("user,item,rating\n1,1,5\n2,1,{value}\n2,2,4\n");
        std::fs::write(dir.path().join("log.csv"), log).unwrap();
        let spec = "name: x\ndataset:\n  source: csv\n  path: log.csv\n  columns: {user: user, item: item, rating: rating}\n\
            models:\n  - model: most_pop\n";
        std::fs::write(dir.path().join("spec.yaml"), spec).unwrap();
        bad_input(
            &recsweep(dir.path(), &["validate", "spec.yaml"]),
            &format!(
                "log.csv: line 3: column `rating` is `{}`, not a finite number",
                value.to_lowercase().replace("nan", "NaN")
            ),
        );
    }
}

#[test]
fn degenerate_values_are_warned_about_in_validate_and_the_report() {
    let spec =
        "name: degenerate\ndataset: {source: synthetic, users: 80, items: 40, interactions: 900}\n\
        models:\n  - model: most_pop\n    params: {popularity: {method: penalty, gamma: 1e308}}\n  \
        - model: ease\n    params: {l2: 1e308}\n";
    let dir = with_spec(spec);
    let out = recsweep(dir.path(), &["validate", "spec.yaml"]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("warning: most_pop: popularity.gamma 1e308 swamps any model score"),
        "{err}"
    );
    assert!(
        err.contains("warning: ease: l2 1e308 shrinks every score"),
        "{err}"
    );
    let out = common::run_setting(dir.path(), "report.path=r.md");
    assert!(
        out.status.code().is_some_and(|c| c <= 1),
        "{}",
        stderr(&out)
    );
    let report = std::fs::read_to_string(dir.path().join("r.md")).unwrap();
    assert!(report.contains("> **Warning**: ease: l2 1e308"), "{report}");
}

#[test]
fn every_mistake_in_one_mapping_is_reported() {
    let spec = "name: x\ndataset: {source: synthetic, users: 50, items: -80, interactions: 500, sorce: x}\n\
        split: {method: leave_one_out, validaton: true, test_fraction: lots}\nmodels: [{model: most_pop}]\n";
    let dir = with_spec(spec);
    let out = recsweep(dir.path(), &["validate", "spec.yaml"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    for expected in [
        "spec.yaml:2:",
        "dataset.items:",
        "dataset.sorce: unknown key `sorce`",
        "split.validaton: unknown key `validaton`; did you mean `validation`?",
        "split.test_fraction: wrong type",
    ] {
        assert!(err.contains(expected), "expected `{expected}` in: {err}");
    }
}

/// Two runs started together on one results folder: every trial runs once,
/// in one process or the other, and the report equals a single run's.
#[test]
fn two_concurrent_runs_share_the_trials() {
    let l2: Vec<String> = (1..=20).map(|i| format!("{}.0", i * 25)).collect();
    let spec = format!(
        "name: shared\nseed: 4\n\
         dataset: {{source: synthetic, users: 400, items: 500, interactions: 12000, seed: 3}}\n\
         evaluation: {{cutoffs: [10]}}\nmodels:\n  - model: ease\n    sweep: {{l2: [{}]}}\n",
        l2.join(", ")
    );
    let dir = with_spec(&spec);
    let spawn = |results: &str| {
        Process::new(env!("CARGO_BIN_EXE_recsweep"))
            .current_dir(dir.path())
            .args([
                "run",
                "spec.yaml",
                "--quiet",
                "--jobs",
                "1",
                "--results",
                results,
            ])
            .args(["--set", "report.path=report.md"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn("together"), spawn("together"));
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    let single = spawn("alone").wait_with_output().unwrap();
    let ran = |out: &Output| -> usize {
        let err = stderr(out);
        assert!(out.status.success(), "{err}");
        let line = err.lines().find(|l| l.contains(" trials run, ")).unwrap();
        line.split_whitespace().next().unwrap().parse().unwrap()
    };
    assert_eq!(ran(&a) + ran(&b), 20, "{}\n{}", stderr(&a), stderr(&b));
    assert_eq!(ran(&single), 20);
    // No claim is left behind.
    let trials = dir.path().join("together/shared/trials");
    for entry in std::fs::read_dir(&trials).unwrap() {
        assert!(!entry.unwrap().path().join("claim").exists());
    }
    // Same numbers: mask timings in both folders, rebuild both reports.
    for results in ["together", "alone"] {
        let trials = dir.path().join(results).join("shared/trials");
        for entry in std::fs::read_dir(&trials).unwrap() {
            let path = entry.unwrap().path().join("trial.json");
            let mut record: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            record["fit_seconds"] = 0.0.into();
            record["score_micros_per_user"] = 1.0.into();
            record["serving"] = serde_json::json!({
                "median_micros": 1.0, "min_micros": 1.0, "max_micros": 1.0, "repeats": 5, "users": 8
            });
            std::fs::write(&path, record.to_string()).unwrap();
        }
        let out = recsweep(
            dir.path(),
            &[
                "report",
                &format!("{results}/shared"),
                "-o",
                &format!("{results}/report.md"),
            ],
        );
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let read = |r: &str| std::fs::read_to_string(dir.path().join(r).join("report.md")).unwrap();
    assert_eq!(read("together"), read("alone"));
}

/// A worker killed mid-trial (kill -9) leaves its claim; once it is stale,
/// another worker takes the trial over and the sweep completes.
#[test]
fn a_killed_workers_claim_is_taken_over() {
    let spec = "name: killed\nseed: 4\n\
        dataset: {source: synthetic, users: 1500, items: 1200, interactions: 60000, seed: 3}\n\
        evaluation: {cutoffs: [10]}\nmodels:\n  - model: ease\n    sweep: {l2: [100.0, 200.0, 300.0, 400.0]}\n";
    let dir = with_spec(spec);
    let start = |extra: &[&str]| {
        let mut cmd = Process::new(env!("CARGO_BIN_EXE_recsweep"));
        cmd.current_dir(dir.path())
            .args([
                "run",
                "spec.yaml",
                "--quiet",
                "--jobs",
                "1",
                "--results",
                "res",
            ])
            .args(["--set", "report.path=report.md"])
            .args(extra)
            .env("RECSWEEP_CLAIM_STALE_SECS", "2")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        cmd
    };
    let mut first = start(&[]).spawn().unwrap();
    // Wait until it holds a claim, then kill it without a chance to clean up.
    let trials = dir.path().join("res/killed/trials");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let claimed = loop {
        let held = std::fs::read_dir(&trials)
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .any(|e| e.path().join("claim").exists())
            })
            .unwrap_or(false);
        if held || std::time::Instant::now() > deadline {
            break held;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    first.kill().unwrap();
    first.wait().unwrap();
    assert!(claimed, "the first worker never claimed a trial");
    let orphaned = std::fs::read_dir(&trials)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("claim").exists() && !e.path().join("trial.json").exists())
        .count();
    assert!(orphaned >= 1, "the killed worker left no claim behind");
    let second = start(&[]).output().unwrap();
    let err = stderr(&second);
    assert!(second.status.success(), "{err}");
    // Every trial finished, none left claimed, the report complete.
    for entry in std::fs::read_dir(&trials).unwrap() {
        let path = entry.unwrap().path();
        assert!(path.join("trial.json").exists(), "{}", path.display());
        assert!(!path.join("claim").exists(), "{}", path.display());
    }
    let report = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    assert!(!report.contains("Incomplete"), "{report}");
}

/// SMALL (60 items) with `models` and `extra` sections in place of its models.
fn small_with(models: &str, extra: &str) -> String {
    format!(
        "name: small\nseed: 1\n\
dataset: {{source: synthetic, users: 120, items: 60, interactions: 1500, seed: 2}}\n\
evaluation: {{cutoffs: [5, 10]}}\n{extra}models:\n{models}"
    )
}

#[test]
fn sizes_beyond_the_catalogue_are_refused_at_their_key_before_any_trial() {
    let cases = [
        (
            small_with("  - model: pipeline\n    params: {candidates: 1000000000000}\n", ""),
            "models[0] (pipeline).params.candidates: 1000000000000 is more than the catalogue's 60 items",
        ),
        (
            small_with("  - model: most_pop\n", "simulation: {k: 1000000000000}\n"),
            "simulation.k: 1000000000000 is more than the catalogue's 60 items",
        ),
        (
            small_with("  - model: most_pop\n", "simulation: {rounds: 1000000000000}\n"),
            "simulation.rounds: 1000000000000 is out of range; must be 1 to 1000",
        ),
    ];
    for (spec, expected) in cases {
        let dir = with_spec(&spec);
        for args in [
            &["validate", "spec.yaml"][..],
            &["run", "spec.yaml", "--quiet", "--results", "r"],
        ] {
            let out = recsweep(dir.path(), args);
            bad_input(&out, expected);
            assert!(out.stdout.is_empty(), "{args:?} printed before the error");
        }
        assert!(!dir.path().join("r").exists(), "no trial may start");
    }
}

#[test]
fn propensity_weights_stay_finite_and_ips_never_falls_below_the_naive_value() {
    let dir = with_spec(&small_with("  - model: most_pop\n  - model: random\n", ""));
    let overflow = "evaluation={cutoffs: [5, 10], metrics: [recall, ndcg, ips_recall], propensity: {exponent: 1e308}}";
    let out = recsweep(dir.path(), &["validate", "spec.yaml", "--set", overflow]);
    bad_input(
        &out,
        "evaluation.propensity.exponent: gives the exponent e = 1e308 above 10",
    );
    let out = recsweep(
        dir.path(),
        &[
            "validate",
            "spec.yaml",
            "--set",
            "evaluation.propensity={preset: yang2018, gamma: 1e308}",
        ],
    );
    bad_input(&out, "evaluation.propensity.gamma: gives the exponent");

    // At the largest exponent accepted every weight is ≥ 1 and finite, so
    // each model's mean IPS recall is at least its recall, over all users.
    let largest = "evaluation={cutoffs: [5, 10], metrics: [recall, ndcg, ips_recall, snips_recall], propensity: {exponent: 10}}";
    let out = recsweep(
        dir.path(),
        &[
            "run",
            "spec.yaml",
            "--quiet",
            "--results",
            "r",
            "--set",
            largest,
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let json = recsweep(dir.path(), &["report", "r/small", "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    for row in report["leaderboard"].as_array().unwrap() {
        let mean = |m: &str| row["test"][m]["mean"].as_f64().unwrap();
        assert!(mean("ips_recall@10").is_finite() && mean("snips_recall@10").is_finite());
        assert!(mean("ips_recall@10") >= mean("recall@10"), "{row}");
    }

    // `recsweep evaluate` applies the same rule.
    std::fs::write(dir.path().join("run.tsv"), "user\titem\tscore\nu1\ta\t1\n").unwrap();
    std::fs::write(dir.path().join("truth.tsv"), "user\titem\nu1\ta\n").unwrap();
    std::fs::write(
        dir.path().join("train.tsv"),
        "user\titem\nu1\tb\nu2\ta\nu2\tb\n",
    )
    .unwrap();
    let out = recsweep(
        dir.path(),
        &[
            "evaluate",
            "--recs",
            "run.tsv",
            "--truth",
            "truth.tsv",
            "--train",
            "train.tsv",
            "--metrics",
            "ips_recall",
            "--propensity-exponent",
            "1e308",
        ],
    );
    bad_input(
        &out,
        "--propensity-exponent gives the exponent e = 1e308 above 10",
    );
}

#[test]
fn a_cold_split_that_rounds_to_no_item_is_refused_and_a_tiny_one_warned_about() {
    let dir = with_spec(&small_with("  - model: random\n", ""));
    let split = |fraction: &str| format!("split={{method: cold_items, test_fraction: {fraction}}}");
    let out = recsweep(
        dir.path(),
        &["validate", "spec.yaml", "--set", &split("0.001")],
    );
    bad_input(
        &out,
        "split.test_fraction: 0.001 of 60 items holds out round(0.001·60) = 0 items for test",
    );
    // 3 cold items ranked among themselves: every top-5 holds all of them.
    let out = recsweep(
        dir.path(),
        &["validate", "spec.yaml", "--set", &split("0.05")],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("warning: the cold_items split holds out 3 items and ranks each user's among them (candidates: cold): with K = 10 every list holds all of them"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn wrong_types_say_what_the_key_takes() {
    let cases = [
        (
            "  - model: pipeline\n    params: {ranker_negatives: 5}\n",
            "models[0].params.ranker_negatives: wrong type: found integer `5`, expected one of: uniform, retrieved",
        ),
        (
            "  - model: pipeline\n    params: {candidates: -3}\n",
            "models[0].params.candidates: invalid value: integer `-3`, expected a whole number ≥ 0; candidates takes ≥ 1",
        ),
        (
            "  - model: pipeline\n    params: {candidates: many}\n",
            "found string \"many\", expected a whole number ≥ 0; candidates takes ≥ 1",
        ),
        (
            "  - model: ncf\n    params: {dim: 1000000000000}\n",
            "models[0].params.dim: 1000000000000 is out of range; dim must be between 1 and 4096",
        ),
        ("  - model: 5\n", "models[0].model: wrong type: found integer `5`, expected one of: most_pop, random,"),
    ];
    for (models, expected) in cases {
        let dir = with_spec(&small_with(models, ""));
        bad_input(&recsweep(dir.path(), &["validate", "spec.yaml"]), expected);
    }
    let dir = with_spec(&small_with("  - model: most_pop\n", ""));
    let out = recsweep(
        dir.path(),
        &["validate", "spec.yaml", "--set", "split.method=5"],
    );
    bad_input(
        &out,
        "split.method: wrong type: found integer `5`, expected one of: leave_one_out,",
    );
    assert!(
        !stderr(&out).contains("missing required key"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn empty_and_header_only_files_are_named_as_such() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("train.csv"), "user,item\n1,1\n1,2\n2,1\n2,3\n3,2\n").unwrap();
    std::fs::write(d.join("empty.csv"), "").unwrap();
    std::fs::write(d.join("header.csv"), "user,item\n").unwrap();
    let parquet = |name: &str, users: &[i64], items: &[i64]| {
        use recsweep::table::WriteColumn;
        let file = std::fs::File::create(d.join(name)).unwrap();
        let columns = [
            WriteColumn::I64("user", users),
            WriteColumn::I64("item", items),
        ];
        recsweep::table::write_parquet(file, &columns).unwrap();
    };
    parquet("train.parquet", &[1, 1, 2, 2, 3], &[1, 2, 1, 3, 2]);
    parquet("none.parquet", &[], &[]);
    let spec = |test: &str| {
        let (source, train) = if test.ends_with("parquet") {
            ("parquet", "train.parquet")
        } else {
            ("csv", "train.csv")
        };
        format!(
            "name: files\ndataset: {{source: {source}, columns: {{user: user, item: item}}}}\n\
split: {{method: files, train: {train}, test: {test}, validation: false}}\n\
evaluation: {{cutoffs: [10]}}\nmodels: [{{model: most_pop}}]\n"
        )
    };
    for (test, expected) in [
        (
            "empty.csv",
            "empty.csv: the file is empty (no header, no rows)",
        ),
        (
            "header.csv",
            "header.csv: the file has column names but no rows",
        ),
        (
            "none.parquet",
            "none.parquet: the file has column names but no rows",
        ),
    ] {
        std::fs::write(d.join("spec.yaml"), spec(test)).unwrap();
        let out = recsweep(d, &["validate", "spec.yaml"]);
        bad_input(&out, expected);
        // The verdict comes after the data: nothing on stdout.
        assert!(
            out.stdout.is_empty(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }

    // An empty RecBole atomic feature file.
    std::fs::write(d.join("f.item"), "").unwrap();
    std::fs::write(
        d.join("spec.yaml"),
        "name: feat\ndataset: {source: csv, path: train.csv, columns: {user: user, item: item}, features: {items: {path: f.item}}}\nevaluation: {cutoffs: [10]}\nmodels: [{model: most_pop}]\n",
    )
    .unwrap();
    bad_input(
        &recsweep(d, &["validate", "spec.yaml"]),
        "f.item: line 1: the file is empty (no header, no rows)",
    );

    // `evaluate` with a header-only truth file, and `init` on a header-only log.
    std::fs::write(d.join("run.tsv"), "user\titem\tscore\n1\t1\t0.5\n").unwrap();
    std::fs::write(d.join("truth.tsv"), "user\titem\n").unwrap();
    bad_input(
        &recsweep(
            d,
            &["evaluate", "--recs", "run.tsv", "--truth", "truth.tsv"],
        ),
        "truth.tsv: the file has no rows (column names only)",
    );
    let out = recsweep(d, &["init", "header.csv"]);
    bad_input(&out, "header.csv: the file has column names but no rows");
    assert!(out.stdout.is_empty());
}

#[test]
fn inserting_reordering_or_removing_models_reruns_nothing_else() {
    let models = "  - model: ials\n    params: {dim: 8, iterations: 2}\n  - model: ease\n  - model: itemknn\n";
    let dir = with_spec(&small_with(models, ""));
    let run = |dir: &Path| {
        let out = recsweep(dir, &["run", "spec.yaml", "--quiet", "--results", "r"]);
        let err = stderr(&out);
        assert!(out.status.success(), "{err}");
        let line = err
            .lines()
            .find(|l| l.contains(" trials run, "))
            .unwrap()
            .to_string();
        let report = std::fs::read_to_string(dir.join("reports/small.md")).unwrap();
        (line, report)
    };
    let (first, _) = run(dir.path());
    assert!(first.starts_with("3 trials run, 0 already done"), "{first}");
    // A model inserted first and the others reordered: only it runs.
    let edited = "  - model: most_pop\n  - model: itemknn\n  - model: ials\n    params: {dim: 8, iterations: 2}\n  - model: ease\n";
    std::fs::write(dir.path().join("spec.yaml"), small_with(edited, "")).unwrap();
    let (second, report) = run(dir.path());
    assert!(
        second.starts_with("1 trials run, 3 already done"),
        "{second}"
    );
    // The report labels reused trials by the current spec, as a fresh run would.
    let fresh = with_spec(&small_with(edited, ""));
    let (_, expected) = run(fresh.path());
    // Everything but the measured times (the serving-cost section).
    let untimed = |text: &str| -> String {
        let mut timed = false;
        text.lines()
            .filter(|l| {
                if l.starts_with("## ") {
                    timed = l.starts_with("## Serving cost");
                }
                !timed && !l.contains("worker threads")
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(untimed(&report), untimed(&expected));
    // Removing a model reruns nothing.
    let fewer = "  - model: ease\n  - model: most_pop\n";
    std::fs::write(dir.path().join("spec.yaml"), small_with(fewer, "")).unwrap();
    let (third, _) = run(dir.path());
    assert!(third.starts_with("0 trials run, 2 already done"), "{third}");
}

#[test]
fn an_mlflow_export_names_what_is_wrong_before_and_at_the_server() {
    let dir = small_run();
    let export = |args: &[&str], env: &[(&str, &str)]| {
        let mut all = vec!["export", "mlflow"];
        all.extend_from_slice(args);
        common::recsweep_with(dir.path(), &all, env)
    };
    // Bad input, exit 2: no server named, a URI that is not a server, a
    // folder without results.
    bad_input(
        &export(&["res/small"], &[("MLFLOW_TRACKING_URI", "")]),
        "no tracking server: pass --tracking-uri",
    );
    bad_input(
        &export(&["res/small", "--tracking-uri", "file:///tmp/mlruns"], &[]),
        "tracking URI `file:///tmp/mlruns`: recsweep talks to a tracking server over its REST API",
    );
    bad_input(
        &export(&["nowhere", "--tracking-uri", "http://127.0.0.1:9"], &[]),
        "nowhere holds no recsweep results",
    );
    // A server that does not answer is a failure, exit 1, naming it (port
    // 9 of this machine: nothing listens there). MLFLOW_TRACKING_URI is
    // read where the flag is absent.
    let down = export(
        &["res/small"],
        &[("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")],
    );
    assert_eq!(down.status.code(), Some(1), "{}", stderr(&down));
    assert!(
        stderr(&down).contains("cannot reach the MLflow tracking server at http://127.0.0.1:9"),
        "{}",
        stderr(&down)
    );
}
