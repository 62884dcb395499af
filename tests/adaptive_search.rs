//! Adaptive search. TPE (`sweep.tpe`): rounds proposed from the stored
//! results of earlier rounds, the same at any thread and shard count, never
//! a repeated configuration, resumable after a kill, and its spec errors
//! located. Successive halving (`sweep.fidelity`): rungs promote exactly the
//! best 1/eta of the rung below.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};

use common::{bad_input, recsweep};

/// Two models with a TPE space each: ease's l2, itemknn's neighbours and
/// shrinkage (both deterministic, so that equal proposals mean equal
/// results, and fast).
const SPEC: &str = r#"name: tuned
seed: 5
dataset: {source: synthetic, users: 300, items: 150, interactions: 6000, seed: 3}
split: {method: leave_one_out, validation: true}
evaluation: {cutoffs: [10], metrics: [ndcg, recall]}
models:
  - model: most_pop
  - model: ease
  - model: itemknn
sweep:
  tpe:
    trials: 8
    startup: 3
    round: 2
    space:
      l2: {log_uniform: [1.0, 3000.0]}
      neighbors: {int_uniform: [2, 100]}
      shrinkage: {uniform: [0.0, 50.0]}
selection: {metric: ndcg@10}
report: {path: report.md, plots: false}
"#;

fn with_spec(text: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("spec.yaml"), text).unwrap();
    dir
}

fn run(dir: &Path, results: &str, extra: &[&str]) -> String {
    let mut args = vec!["run", "spec.yaml", "--quiet", "--results", results];
    args.extend(extra);
    let out = recsweep(dir, &args);
    let all = common::text(&out);
    assert!(out.status.success(), "{all}");
    all
}

/// The trials of the stored expansion: (model, configuration id, knobs).
fn stored(dir: &Path, results: &str) -> Vec<(String, String, String)> {
    let path = dir.join(results).join("tuned/experiment.yaml");
    let record: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    record["expansion"]["trials"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["model_name"].as_str().unwrap().to_string(),
                t["id"].as_str().unwrap().to_string(),
                serde_yaml::to_string(&t["knobs"]).unwrap(),
            )
        })
        .collect()
}

fn trial_dirs(dir: &Path, results: &str) -> BTreeSet<String> {
    std::fs::read_dir(dir.join(results).join("tuned/trials"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn rounds_are_the_same_at_any_thread_and_shard_count_and_never_repeat() {
    let dir = with_spec(SPEC);
    let log = run(dir.path(), "one", &["--jobs", "1"]);
    assert!(log.contains("round 1: 4 trials proposed"), "{log}");
    run(dir.path(), "two", &["--jobs", "2"]);
    let spawn = |shard: &str| {
        Command::new(env!("CARGO_BIN_EXE_recsweep"))
            .current_dir(dir.path())
            .args(["run", "spec.yaml", "--quiet", "--jobs", "1"])
            .args(["--results", "sharded", "--shard", shard])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn("0/2"), spawn("1/2"));
    for out in [a.wait_with_output().unwrap(), b.wait_with_output().unwrap()] {
        assert!(out.status.success(), "{}", common::stderr(&out));
    }
    let one = stored(dir.path(), "one");
    assert_eq!(one, stored(dir.path(), "two"));
    assert_eq!(one, stored(dir.path(), "sharded"));
    assert_eq!(
        trial_dirs(dir.path(), "one"),
        trial_dirs(dir.path(), "sharded")
    );
    for model in ["ease", "itemknn"] {
        let configs: Vec<&(String, String, String)> =
            one.iter().filter(|(m, _, _)| m == model).collect();
        assert_eq!(configs.len(), 8, "{model}: {configs:?}");
        let knobs: BTreeSet<&String> = configs.iter().map(|(_, _, k)| k).collect();
        assert_eq!(
            knobs.len(),
            8,
            "{model} repeated a configuration: {configs:?}"
        );
    }
    assert_eq!(one.iter().filter(|(m, _, _)| m == "most_pop").count(), 1);
    // The report covers every round's trials.
    let report = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    assert!(
        report.contains("Every tuned model tried 8 configurations (TPE search)."),
        "{report}"
    );
    assert_row(&report, "| ease ", "| 8 ");
}

/// A table row of the report starts with `start` and has `cell`.
fn assert_row(report: &str, start: &str, cell: &str) {
    assert!(
        report
            .lines()
            .any(|l| l.starts_with(start) && l.contains(cell)),
        "no row `{start}` with `{cell}`: {report}"
    );
}

/// More shards than start-up trials leave none idle: every shard runs every
/// round, so `plan` does not warn as it does for a grid.
#[test]
fn plan_does_not_call_shards_idle_under_tpe() {
    let dir = with_spec(SPEC);
    let out = recsweep(
        dir.path(),
        &["plan", "spec.yaml", "--slurm", "--shards", "40"],
    );
    assert!(out.status.success(), "{}", common::text(&out));
    assert!(
        !common::stderr(&out).contains("nothing to run"),
        "{}",
        common::text(&out)
    );
}

/// A sweep killed between rounds (here: the last trials of two rounds lost)
/// resumes to the same final trials, running only what is missing.
#[test]
fn a_killed_sweep_resumes_to_the_same_trials() {
    let dir = with_spec(SPEC);
    run(dir.path(), "res", &[]);
    let full = stored(dir.path(), "res");
    let trials = dir.path().join("res/tuned/trials");
    // Round 1's first trial and the last round's last.
    let lost = [&full[7].1, &full[full.len() - 1].1];
    for id in lost {
        std::fs::remove_dir_all(trials.join(id)).unwrap();
    }
    let log = run(dir.path(), "res", &[]);
    assert!(log.contains("2 trials run"), "{log}");
    assert_eq!(stored(dir.path(), "res"), full);
}

/// A model's own budget and ranges: explicit, applied, and reported as an
/// unequal budget.
#[test]
fn a_models_own_budget_and_space_apply_and_show() {
    let spec = SPEC
        .replace("  - model: ease\n", "  - model: ease\n    trials: 5\n")
        .replace(
            "  - model: itemknn\n",
            "  - model: itemknn\n    sweep:\n      neighbors: {int_uniform: [5, 10]}\n",
        );
    let dir = with_spec(&spec);
    run(dir.path(), "res", &[]);
    let trials = stored(dir.path(), "res");
    assert_eq!(trials.iter().filter(|(m, _, _)| m == "ease").count(), 5);
    let knn: Vec<&String> = trials
        .iter()
        .filter(|(m, _, _)| m == "itemknn")
        .map(|(_, _, k)| k)
        .collect();
    assert_eq!(knn.len(), 8);
    for knobs in knn {
        let knobs: serde_yaml::Value = serde_yaml::from_str(knobs).unwrap();
        let n = knobs["neighbors"].as_i64().unwrap();
        assert!((5..=10).contains(&n), "{n}");
    }
    let report = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    assert!(
        report.contains("**Unequal tuning budgets** (configurations tried: ease 5, itemknn 8)"),
        "{report}"
    );
    assert_row(&report, "| ease ", "| 5 (own) ");
}

/// A discrete space smaller than the budget ends when it is used up.
#[test]
fn a_small_discrete_space_ends_when_used_up() {
    let spec = SPEC.replace(
        "l2: {log_uniform: [1.0, 3000.0]}",
        "l2: {choice: [10.0, 100.0, 1000.0]}",
    );
    let dir = with_spec(&spec);
    run(dir.path(), "res", &[]);
    let ease = stored(dir.path(), "res")
        .into_iter()
        .filter(|(m, _, _)| m == "ease")
        .count();
    assert_eq!(ease, 3);
}

#[test]
fn spec_errors_name_the_tpe_key() {
    for (from, to, expected) in [
        ("    trials: 8\n", "    trials: 0\n", "sweep.tpe.trials"),
        ("    startup: 3\n", "    startup: 9\n", "sweep.tpe.startup"),
        ("    round: 2\n", "    round: 0\n", "sweep.tpe.round"),
        (
            "sweep:\n  tpe:",
            "sweep:\n  grid: {l2: [1.0]}\n  tpe:",
            "use one of `grid`, `random` or `tpe`",
        ),
        (
            "validation: true",
            "validation: false",
            "TPE proposes from validation results",
        ),
        (
            "l2: {log_uniform: [1.0, 3000.0]}",
            "l2: {log_uniform: [-1.0, 3000.0]}",
            "sweep.tpe.space.l2",
        ),
        (
            "shrinkage: {uniform: [0.0, 50.0]}",
            "shrinkag: {uniform: [0.0, 50.0]}",
            "did you mean `shrinkage`",
        ),
        (
            "  - model: ease\n",
            "  - model: ease\n    trials: 2\n",
            "models[1].trials: 2 is fewer than sweep.tpe.startup (3)",
        ),
        (
            "  - model: ease\n",
            "  - model: ease\n    sweep: {l2: {log_uniform: [0.0, 1.0]}}\n",
            "models[1].sweep.l2",
        ),
        (
            "selection: {",
            "  fidelity: {epochs: [3, 3]}\nselection: {",
            "sweep.fidelity.epochs: [3, 3] needs 1 ≤ fewest < most",
        ),
        (
            "selection: {",
            "  fidelity: {epochs: [1, 9]}\nselection: {",
            "sweep.fidelity: no model of this spec trains in epochs",
        ),
        (
            "    trials: 8\n",
            "    trials: 1000000000000\n",
            "sweep.tpe.trials: 1000000000000 is out of range; must be 1 to 100000",
        ),
        (
            "shrinkage: {uniform: [0.0, 50.0]}",
            "shrinkage: {uniform: [-1.0e308, 1.0e308]}",
            "needs lo < hi, finite and less than 1.8e308 apart",
        ),
    ] {
        let spec = SPEC.replace(from, to);
        assert_ne!(spec, SPEC, "{from}");
        let dir = with_spec(&spec);
        bad_input(&recsweep(dir.path(), &["validate", "spec.yaml"]), expected);
    }
    // Under a grid, neither a budget nor a distribution has a meaning.
    let grid = "name: g\nseed: 1\ndataset: {source: synthetic, users: 50, items: 40, interactions: 500}\n\
                models:\n  - model: ease\n    trials: 4\n    sweep: {l2: {log_uniform: [1.0, 10.0]}}\n";
    let dir = with_spec(grid);
    let out = recsweep(dir.path(), &["validate", "spec.yaml"]);
    bad_input(
        &out,
        "models[0].trials: a budget needs `sweep.random` or `sweep.tpe`",
    );
    bad_input(
        &out,
        "models[0].sweep.l2: a distribution is searched by `sweep.random` or `sweep.tpe`",
    );
    // A rung beyond a model's epoch limit is an error before anything runs.
    let halving = grid.replace(
        "  - model: ease\n    trials: 4\n    sweep: {l2: {log_uniform: [1.0, 10.0]}}\n",
        "  - model: mf\nsweep:\n  fidelity: {epochs: [1, 100000]}\n",
    );
    assert_ne!(halving, grid);
    let dir = with_spec(&halving);
    bad_input(
        &recsweep(dir.path(), &["validate", "spec.yaml"]),
        "sweep.fidelity.epochs: for model `mf`: the space reaches 100000, where epochs",
    );
}

/// The validation ndcg@10 of a stored trial.
fn validation(dir: &Path, results: &str, name: &str, id: &str) -> f64 {
    let path = dir
        .join(results)
        .join(name)
        .join("trials")
        .join(id)
        .join("trial.json");
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    record["validation"]["metrics"]["ndcg@10"]["mean"]
        .as_f64()
        .unwrap()
}

/// Nine MF configurations trained 1 epoch, the best three of them 3 epochs,
/// the best of those 9: each rung holds exactly the best third of the rung
/// below, by validation.
#[test]
fn successive_halving_promotes_the_best_third_of_each_rung() {
    let spec = r#"name: halving
seed: 2
dataset: {source: synthetic, users: 300, items: 150, interactions: 6000, seed: 3}
split: {method: leave_one_out, validation: true}
evaluation: {cutoffs: [10], metrics: [ndcg]}
models:
  - model: most_pop
  - model: mf
    params: {loss: softmax, dim: 8, batch_size: 256}
sweep:
  grid:
    l2: [0.0, 0.001, 0.01]
    temperature: [0.1, 0.5, 1.0]
  fidelity: {epochs: [1, 9], eta: 3}
selection: {metric: ndcg@10}
report: {path: report.md, plots: false}
"#;
    let dir = with_spec(spec);
    run(dir.path(), "res", &[]);
    let path = dir.path().join("res/halving/experiment.yaml");
    let record: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut rungs: Vec<Vec<(serde_yaml::Value, f64)>> = vec![Vec::new(); 3];
    for t in record["expansion"]["trials"].as_sequence().unwrap() {
        if t["model_name"] != "mf" {
            assert!(
                t["knobs"].get("epochs").is_none(),
                "most_pop takes no epochs"
            );
            continue;
        }
        let epochs = t["knobs"]["epochs"].as_u64().unwrap();
        let rung = [1, 3, 9].iter().position(|&e| e == epochs).unwrap();
        let mut knobs = t["knobs"].clone();
        knobs.as_mapping_mut().unwrap().remove("epochs");
        let value = validation(dir.path(), "res", "halving", t["id"].as_str().unwrap());
        rungs[rung].push((knobs, value));
    }
    assert_eq!(
        rungs.iter().map(Vec::len).collect::<Vec<_>>(),
        vec![9, 3, 1]
    );
    for r in 0..2 {
        let mut below = rungs[r].clone();
        below.sort_by(|a, b| b.1.total_cmp(&a.1));
        let best: Vec<&serde_yaml::Value> = below
            .iter()
            .take(rungs[r + 1].len())
            .map(|(k, _)| k)
            .collect();
        for (knobs, _) in &rungs[r + 1] {
            assert!(
                best.contains(&knobs),
                "rung {} promoted {knobs:?}, not among {best:?}",
                r + 1
            );
        }
    }
    let report = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    assert!(
        report.contains(
            "mf is the one tuned model: 9 configurations (grid search, with successive halving over 1 → 3 → 9 epochs)."
        ),
        "{report}"
    );
}
