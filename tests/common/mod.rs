//! The kit the integration tests share: the binary run in a folder, the
//! bad-input assertion, a spec prepared and run through the library
//! into a temporary results folder, and a scorer with fixed scores.
//!
//! Each test file is its own crate and uses part of the kit, so the parts a
//! file leaves unused are not dead code.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

use recsweep::data::CsrMatrix;
use recsweep::models::{FitInput, Fitted, ModelKind, Scorer, ServingCost};
use recsweep::plan::parse_spec;
use recsweep::runner::{self, Experiment, RunOptions, RunSummary};
use recsweep::store::ResultsDir;

/// The shard variables Slurm and Kubernetes set: cleared, so that tests run
/// inside a job array see the whole sweep.
const SHARD_VARIABLES: [&str; 5] = [
    "SLURM_ARRAY_TASK_ID",
    "SLURM_ARRAY_TASK_COUNT",
    "SLURM_ARRAY_TASK_MIN",
    "SLURM_ARRAY_TASK_MAX",
    "JOB_COMPLETION_INDEX",
];

/// `recsweep ARGS` run in `dir`.
pub fn recsweep(dir: &Path, args: &[&str]) -> Output {
    recsweep_with(dir, args, &[])
}

/// `recsweep ARGS` run in `dir` with extra environment variables.
pub fn recsweep_with(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_recsweep"));
    command.current_dir(dir).args(args);
    for var in SHARD_VARIABLES {
        command.env_remove(var);
    }
    command.envs(env.iter().copied());
    command.output().unwrap()
}

/// `recsweep run spec.yaml --quiet --results res --set SET` in `dir`: the
/// spec a test wrote, run into `res/` with one key overridden.
pub fn run_setting(dir: &Path, set: &str) -> Output {
    recsweep(
        dir,
        &[
            "run",
            "spec.yaml",
            "--quiet",
            "--results",
            "res",
            "--set",
            set,
        ],
    )
}

/// Standard error, as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Standard output then standard error, as text.
pub fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(out))
}

/// Exit status 2 with `expected` on standard error, and no panic anywhere.
pub fn bad_input(out: &Output, expected: &str) {
    let (err, all) = (stderr(out), text(out));
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(
        err.contains(expected),
        "expected `{expected}` on stderr: {all}"
    );
    assert!(!all.contains("panicked"), "{all}");
}

/// The spec `yaml` parsed and prepared (data loaded, split), as `run` does.
pub fn experiment(yaml: &str) -> Experiment {
    let spec = parse_spec(yaml, Path::new("spec.yaml"), &[]).unwrap();
    Experiment::prepare(spec).unwrap()
}

/// A sweep's results in a temporary folder, deleted when this is dropped.
pub struct Ran {
    pub results: ResultsDir,
    pub summary: RunSummary,
    _folder: tempfile::TempDir,
}

/// Every trial of `experiment` run with `options` into a fresh folder.
pub fn run(experiment: &Experiment, options: &RunOptions) -> Ran {
    let folder = tempfile::tempdir().unwrap();
    let results = runner::results_dir(folder.path(), &experiment.spec);
    let summary = runner::run(experiment, &results, options, &|_| {}).unwrap();
    Ran {
        results,
        summary,
        _folder: folder,
    }
}

/// The spec `yaml` prepared and every trial run with default options.
pub fn run_spec(yaml: &str) -> (Experiment, Ran) {
    let experiment = experiment(yaml);
    let ran = run(&experiment, &RunOptions::default());
    (experiment, ran)
}

/// Every trial of `experiment` run on `jobs` worker threads, each read
/// back by `read` (the results folder and the trial id) in expansion order:
/// what the thread-count tests compare.
pub fn read_back_with_jobs<T>(
    experiment: &Experiment,
    jobs: usize,
    read: impl Fn(&ResultsDir, &str) -> T,
) -> Vec<T> {
    let options = RunOptions {
        jobs: Some(jobs),
        ..RunOptions::default()
    };
    let ran = run(experiment, &options);
    experiment
        .expansion
        .trials
        .iter()
        .map(|t| read(&ran.results, &t.id))
        .collect()
}

/// `kind` with the params `yaml` (a YAML mapping) fitted on `train` alone
/// with `seed`, as the models' unit tests and `recsweep bench` fit.
pub fn fit(kind: ModelKind, yaml: &str, train: &CsrMatrix, seed: u64) -> Fitted {
    let params: serde_yaml::Mapping = serde_yaml::from_str(yaml).unwrap();
    let popularity = train.column_counts();
    kind.configure(&params)
        .unwrap()
        .fit(&FitInput::interactions(train, &popularity, seed))
        .unwrap()
}

/// Scores from a fixed table: a user's scores never depend on the block.
pub struct Table {
    pub items: usize,
    pub scores: Vec<f32>,
}

impl Scorer for Table {
    fn score_block(&self, users: &[u32], out: &mut [f32]) {
        for (row, &u) in out.chunks_exact_mut(self.items).zip(users) {
            let u = u as usize;
            row.copy_from_slice(&self.scores[u * self.items..(u + 1) * self.items]);
        }
    }

    fn cost(&self) -> ServingCost {
        ServingCost {
            parameters: 0,
            madds_per_user: 0,
        }
    }
}
