//! `model: external` (docs/external.md): programs outside recsweep run per
//! trial. Needs only python3 (the example and the probe use its standard
//! library alone).

mod common;

use std::path::Path;

use recsweep::runner::{self, Experiment, RunOptions};
use recsweep::store::{Outcome, ResultsDir, TrialRecord};

/// Absolute paths of the repository's programs (the trials run in their
/// own folders; relative paths would be resolved too, see
/// `relative_paths_in_the_command_are_resolved`).
fn program(relative: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(relative)
        .display()
        .to_string()
}

const DATA: &str = r#"
seed: 3
dataset: {source: synthetic, users: 150, items: 60, interactions: 2500, seed: 5}
split: {method: leave_one_out, validation: true}
evaluation: {cutoffs: [5, 10], metrics: [recall, ndcg, mrr, coverage, arp]}
selection: {metric: ndcg@10}
"#;

/// A spec on small synthetic data with `models` (YAML list items).
fn spec(name: &str, models: &str, sweep: &str) -> String {
    format!("name: {name}\n{DATA}models:\n{models}\nsweep: {sweep}\n")
}

/// A probe entry in `mode`, with extra params.
fn probe(mode: &str, extra: &str) -> String {
    let timeout = if extra.contains("timeout") {
        ""
    } else {
        ", timeout: 60"
    };
    format!(
        "  - model: external\n    name: probe\n    params: {{command: [python3, {}], mode: {mode}{timeout}{extra}}}\n",
        program("tests/fixtures/external/probe.py")
    )
}

fn records(experiment: &Experiment, results: &ResultsDir) -> Vec<TrialRecord> {
    experiment
        .expansion
        .trials
        .iter()
        .map(|t| results.read_trial(&t.id).unwrap())
        .collect()
}

fn error_of(record: &TrialRecord) -> &str {
    match &record.outcome {
        Outcome::Failed { error } => error,
        Outcome::Ok { .. } => panic!("trial {} succeeded", record.trial.id),
    }
}

#[test]
fn params_seed_and_k_reach_the_program_and_held_out_items_do_not() {
    let dump = tempfile::tempdir().unwrap();
    let extra = format!(", dump: {}, alpha: 0.5", dump.path().display());
    let yaml = spec(
        "probe",
        &probe("ok", &extra),
        "{grid: {l2: [0.1, 0.2]}, seeds: 2}",
    );
    let (experiment, ran) = common::run_spec(&yaml);
    assert_eq!(ran.summary.failed, vec![], "{:?}", ran.summary.failed);
    let trials = &experiment.expansion.trials;
    assert_eq!(trials.len(), 4, "two l2 values × two seeds");
    let labels = &experiment.labels;
    let split = &experiment.split;
    for trial in trials {
        let input = dump.path().join(&trial.id);
        let read = |name: &str| std::fs::read_to_string(input.join(name)).unwrap();
        let params: serde_json::Value = serde_json::from_str(&read("params.json")).unwrap();
        assert_eq!(params["alpha"], 0.5);
        assert_eq!(params["mode"], "ok");
        assert_eq!(params["l2"], trial.params["l2"].as_f64().unwrap());
        assert_eq!(params["popularity"]["method"], "none");
        assert!(
            params.get("command").is_none(),
            "recsweep's own keys stay out"
        );
        let meta: serde_json::Value = serde_json::from_str(&read("trial.json")).unwrap();
        assert_eq!(meta["seed"], trial.seed);
        assert_eq!(meta["trial"], trial.id.as_str());
        assert_eq!(meta["k"], 10);
        assert_eq!(meta["list_length"], 11, "K plus one validation item");
        assert_eq!(meta["output"], "recs");
        // Train pairs exactly, never a validation or test pair, with the
        // synthetic log's ratings and timestamps.
        let train = read("train.tsv");
        assert!(
            train.starts_with("user\titem\trating\ttimestamp\n"),
            "{train}"
        );
        let mut written: Vec<(String, String)> = train
            .lines()
            .skip(1)
            .map(|l| {
                let cells: Vec<&str> = l.split('\t').collect();
                assert!(cells[2].parse::<f32>().is_ok(), "{l}");
                assert!(cells[3].parse::<i64>().is_ok(), "{l}");
                (cells[0].to_string(), cells[1].to_string())
            })
            .collect();
        let mut expected: Vec<(String, String)> = split
            .train
            .pairs()
            .map(|(u, i)| {
                (
                    labels.users[u as usize].clone(),
                    labels.items[i as usize].clone(),
                )
            })
            .collect();
        written.sort();
        expected.sort();
        assert_eq!(written, expected);
        assert!(input.join("train.parquet").is_file());
        let users = read("users.tsv").lines().count() - 1;
        assert_eq!(users, split.test.nonempty_rows().len());
    }
    // The two seeds of a configuration got different seeds.
    let seeds: std::collections::BTreeSet<u64> = trials.iter().map(|t| t.seed).collect();
    assert_eq!(seeds.len(), 2);
}

#[test]
fn external_popularity_gives_exactly_most_pops_per_user_values() {
    let models = format!(
        "  - model: most_pop\n  - model: external\n    name: popularity_py\n    params: {{command: [python3, {}], stochastic: false, damping: 0}}\n",
        program("examples/external/popularity.py")
    );
    let (experiment, ran) = common::run_spec(&spec("pop", &models, "{seeds: 2}"));
    assert_eq!(ran.summary.failed, vec![]);
    let trials = &experiment.expansion.trials;
    assert_eq!(trials.len(), 2, "neither model repeats over seeds");
    let per_user = |t: usize| ran.results.read_per_user(&trials[t].id).unwrap();
    let (builtin, outside) = (per_user(0), per_user(1));
    assert_eq!(builtin.users, outside.users);
    assert_eq!(builtin.columns, outside.columns);
    assert_eq!(builtin.values, outside.values);
    let summary = |t: usize| match ran.results.read_trial(&trials[t].id).unwrap().outcome {
        Outcome::Ok {
            validation, test, ..
        } => (validation, test.metrics),
        Outcome::Failed { error } => panic!("{error}"),
    };
    assert_eq!(summary(0), summary(1));
}

#[test]
fn an_embeddings_model_retrieves_behind_hnsw_in_a_pipeline() {
    let models = format!(
        "  - model: pipeline\n    params:\n      retriever: {{model: external, params: {{command: [python3, {}], output: embeddings, stochastic: false}}}}\n      index: {{hnsw: {{m: 8, ef_construction: 50, ef_search: 50}}}}\n      candidates: 20\n      ranker: {{model: itemknn}}\n",
        program("examples/external/popularity.py")
    );
    let (experiment, ran) = common::run_spec(&spec("staged", &models, "{}"));
    assert_eq!(ran.summary.failed, vec![]);
    let record = &records(&experiment, &ran.results)[0];
    let Outcome::Ok { stages, .. } = &record.outcome else {
        panic!("{}", error_of(record))
    };
    let stages = stages.as_ref().expect("a pipeline records its stages");
    let index = stages.index.as_ref().expect("behind an index");
    assert!(index.index.contains("hnsw"), "{}", index.index);
    assert_eq!(stages.candidates, 20);
}

#[test]
fn failing_hanging_and_malformed_programs_fail_their_trial_with_located_errors() {
    let cases = [
        ("fail", "", "exit status 3"),
        ("fail", "", "boom: the trainer diverged"),
        ("hang", ", timeout: 0.5", "ran past its timeout of 0.5 s"),
        ("none", "", "neither recs.tsv nor recs.parquet"),
        (
            "unknown_user",
            "",
            "recs.tsv line 4: user `nobody` is not one recsweep gave",
        ),
        (
            "unknown_item",
            "",
            "recs.tsv line 4: item `no-such-item` is not one recsweep gave",
        ),
        ("duplicate", "", "lists item"),
        ("nan", "", "recs.tsv line 4: score nan is not finite"),
        (
            "not_a_number",
            "",
            "recs.tsv line 4: score `high` is not a number",
        ),
        (
            "short",
            "",
            "10 recommended items beyond its train items, 11 needed",
        ),
        ("no_score", "", "no `score` or `rank` column"),
    ];
    let models: String = cases
        .iter()
        .enumerate()
        .map(|(k, (mode, extra, _))| {
            probe(mode, extra).replace("name: probe", &format!("name: case{k}"))
        })
        .collect();
    let (experiment, ran) = common::run_spec(&spec("bad", &models, "{}"));
    assert_eq!(ran.summary.failed.len(), cases.len());
    for (record, (mode, _, expected)) in records(&experiment, &ran.results).iter().zip(cases) {
        let error = error_of(record);
        assert!(error.contains(expected), "{mode}: {error}");
        // Nothing scored is stored for a failed trial.
        let folder = ran.results.trial_path(&record.trial.id);
        assert!(!folder.join("per_user.parquet").exists(), "{mode}");
        // The work folder is kept for a look, and named.
        let work = ran.results.root().join("external").join(&record.trial.id);
        assert!(work.join("input/train.tsv").is_file(), "{mode}");
        assert!(
            error.contains(&work.display().to_string()),
            "{mode}: {error}"
        );
    }
    // The report lists them, a program's stderr as a block under its trial.
    let built = recsweep::report::build(&ran.results).unwrap();
    let appendix = recsweep::report::render_appendix(&built);
    assert!(
        appendix.contains("the end of its stderr:\n\n  ```text\n  loading data\n  boom: the trainer diverged\n  ```"),
        "{appendix}"
    );
    let duplicate = error_of(&records(&experiment, &ran.results)[6]).to_string();
    assert!(
        duplicate.contains("recs.tsv line 3 and line 4"),
        "{duplicate}"
    );
}

#[test]
fn a_rerun_resumes_and_results_do_not_depend_on_jobs() {
    let yaml = spec(
        "resume",
        &probe("ok", ", progress: true"),
        "{grid: {l2: [0.1, 0.2, 0.3]}, seeds: 2}",
    );
    let experiment = common::experiment(&yaml);
    let folder = tempfile::tempdir().unwrap();
    let results = |name: &str| ResultsDir::new(folder.path().join(name));
    let run = |results: &ResultsDir, jobs: usize| {
        let options = RunOptions {
            jobs: Some(jobs),
            ..RunOptions::default()
        };
        runner::run(&experiment, results, &options, &|_| {}).unwrap()
    };
    let (one, two) = (results("one"), results("two"));
    let first = run(&one, 1);
    assert_eq!((first.ran, first.skipped), (6, 0));
    let again = run(&one, 1);
    assert_eq!((again.ran, again.skipped), (0, 6), "nothing reruns");
    run(&two, 2);
    let outcomes = |results: &ResultsDir| -> Vec<_> {
        records(&experiment, results)
            .into_iter()
            .map(|r| match r.outcome {
                Outcome::Ok {
                    validation,
                    test,
                    curve,
                    ..
                } => (validation, test.metrics, curve),
                Outcome::Failed { error } => panic!("{error}"),
            })
            .collect()
    };
    let (a, b) = (outcomes(&one), outcomes(&two));
    assert_eq!(a, b);
    let curve = a[0]
        .2
        .as_ref()
        .expect("progress.jsonl is the training curve");
    assert_eq!((curve.epochs.len(), curve.kept_epoch), (3, 3));
    // A successful trial's work folder is removed.
    assert!(!one
        .root()
        .join("external")
        .join(&experiment.expansion.trials[0].id)
        .exists());
}

#[test]
fn relative_paths_in_the_command_are_resolved_and_a_missing_command_is_a_spec_error() {
    // Run from a folder of its own with the program and the results
    // folder both given relative to it, as the README's commands are.
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("examples/external/popularity.py");
    std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
    std::fs::copy(program("examples/external/popularity.py"), &copy).unwrap();
    let yaml = format!(
        "name: rel\n{DATA}models:\n  - model: external\n    params: {{command: [python3, examples/external/popularity.py], stochastic: false}}\nreport: {{path: rel.md}}\n"
    );
    std::fs::write(dir.path().join("rel.yaml"), yaml).unwrap();
    let out = common::recsweep(
        dir.path(),
        &["run", "rel.yaml", "--results", "results", "--quiet"],
    );
    assert!(out.status.success(), "{}", common::text(&out));
    let report = std::fs::read_to_string(dir.path().join("rel.md")).unwrap();
    assert!(report.contains("external"), "{report}");

    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        format!("name: bad\n{DATA}models:\n  - model: external\n    params: {{output: recs}}\n"),
    )
    .unwrap();
    let out = common::recsweep(dir.path(), &["validate", bad.to_str().unwrap()]);
    common::bad_input(&out, "models[0].params.command");
}
