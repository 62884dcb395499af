//! `model: external`: a trainer outside recsweep, in any language, run as a
//! command per trial (docs/external.md). recsweep writes what the model may
//! learn from into an input folder, runs the command without a shell, reads
//! back recommendation lists or embeddings, checks them, and scores them
//! like any built-in model's, so sweeps, seeds, pipelines, reports and the
//! CI gate apply to it unchanged.

mod input;
mod output;
mod process;

use std::any::Any;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_yaml::{Mapping, Value};

use super::{
    Declared, FitInput, Fitted, Interval, ModelConfig, ModelError, ModelKind, ParamDoc, ParamIssue,
    Params, Popularity, Rule,
};
use crate::data::FeaturesSpec;

/// The longest `timeout` accepted: a week. Longer is a typo, and a hung
/// program would hold its shard's claim that long.
const MAX_TIMEOUT_SECONDS: f64 = 7.0 * 24.0 * 3600.0;

/// What the program writes.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Output {
    /// Ranked lists: `recs.tsv` or `recs.parquet` (user, item, score or rank).
    #[default]
    Recs,
    /// User and item vectors (`users.*`, `items.*`), scored by dot product
    /// in recsweep: servable behind its approximate indexes.
    Embeddings,
}

impl Output {
    pub fn as_str(self) -> &'static str {
        match self {
            Output::Recs => "recs",
            Output::Embeddings => "embeddings",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct ExternalParams {
    /// The argv, run without a shell; no default (check rejects it empty).
    #[serde(default)]
    pub command: Vec<String>,
    #[serde(default)]
    pub output: Output,
    /// Seconds before SIGTERM (then SIGKILL after [`process::GRACE`]).
    #[serde(default = "default_timeout")]
    pub timeout: f64,
    /// Whether the program's result depends on its seed: seeds repeat only
    /// stochastic models. True unless the user says otherwise, since
    /// recsweep cannot tell.
    #[serde(default = "yes")]
    pub stochastic: bool,
    /// Passed to the program like any param; a scoring-time `penalty` is
    /// also applied by recsweep to what the program returns, as for every
    /// model, so a program should leave that method to recsweep.
    #[serde(default)]
    pub popularity: Popularity,
    /// Everything else: the program's own params.
    #[serde(flatten)]
    #[schemars(with = "serde_json::Map<String, serde_json::Value>")]
    pub own: Mapping,
}

fn default_timeout() -> f64 {
    3600.0
}

fn yes() -> bool {
    true
}

impl Default for ExternalParams {
    fn default() -> Self {
        Self {
            command: Vec::new(),
            output: Output::default(),
            timeout: default_timeout(),
            stochastic: true,
            popularity: Popularity::None,
            own: Mapping::new(),
        }
    }
}

/// Written by hand rather than by `param_table!`: the program's own params
/// sit beside these under `flatten`, so the struct cannot deny unknown keys.
impl Declared for ExternalParams {
    const DOCS: &'static [ParamDoc] = &[
        ParamDoc::new(
            Rule::Text("a non-empty argv list"),
            "the program and its arguments, run without a shell in a fresh folder per trial (docs/external.md)",
        )
        .named("command"),
        ParamDoc::new(
            Rule::Text("recs, embeddings"),
            "what the program writes: ranked lists, or user and item vectors scored by dot product",
        )
        .named("output"),
        ParamDoc::new(
            Rule::Real(Interval {
                low: 0.0,
                low_open: true,
                high: MAX_TIMEOUT_SECONDS,
                high_open: false,
            }),
            "seconds (a week is 604800); then SIGTERM, and SIGKILL 5 s later; the trial fails",
        )
        .because("at most a week")
        .named("timeout"),
        ParamDoc::new(
            Rule::Text("true, false"),
            "whether the seed changes the result: seeds repeat only stochastic models",
        )
        .named("stochastic"),
        ParamDoc::new(
            Rule::Text("any method"),
            "passed to the program in params.json; penalty is applied by recsweep to the returned scores",
        )
        .named("popularity"),
    ];

    fn values(&self) -> Vec<&dyn Any> {
        vec![
            &self.command,
            &self.output,
            &self.timeout,
            &self.stochastic,
            &self.popularity,
        ]
    }
}

impl Params for ExternalParams {
    const KIND: ModelKind = ModelKind::External;

    fn check(&self) -> Vec<ParamIssue> {
        let mut issues = Vec::new();
        match self.command.first() {
            None => issues.push(ParamIssue::new(
                "command",
                "an external model needs a command: an argv list such as [python3, train.py]",
            )),
            Some(program) if program.trim().is_empty() => {
                issues.push(ParamIssue::new("command[0]", "the program to run is empty"))
            }
            Some(_) => {}
        }
        // params.json is JSON: its keys must be text.
        if let Some(key) = self.own.keys().find(|k| !k.is_string()) {
            issues.push(ParamIssue::new(
                format!("{key:?}"),
                "an external model's param names must be text (they become params.json keys)",
            ));
        }
        issues
    }
}

impl ModelConfig for ExternalParams {
    fn params(&self) -> Mapping {
        super::to_mapping(self)
    }

    fn is_stochastic(&self) -> bool {
        self.stochastic
    }

    fn popularity(&self) -> &Popularity {
        &self.popularity
    }

    /// The program gets the whole catalogue, users with no train item and
    /// the feature tables: whether it scores cold entities well is its own
    /// business, and what the evaluation measures.
    fn scores_cold(&self, _: crate::data::Side, _: &crate::data::FeatureNames) -> bool {
        true
    }

    fn scores_by_dot_product(&self) -> bool {
        self.output == Output::Embeddings
    }

    fn fit(&self, input: &FitInput) -> Result<Fitted, ModelError> {
        let job = input.job.ok_or_else(|| {
            ModelError::External(
                "an external model runs only as a trial of a sweep (not in a simulation or a benchmark)"
                    .into(),
            )
        })?;
        let folders = Folders::fresh(&job.work)?;
        input::write(&folders.input, self, input, job)?;
        let timeout = Duration::from_secs_f64(self.timeout);
        let env = [
            ("RECSWEEP_INPUT", folders.input.as_path()),
            ("RECSWEEP_OUTPUT", folders.output.as_path()),
        ];
        // A failure names the folder kept for a look, and ends with the
        // program's stderr (the report shows it as a block).
        let kept = |what: String, stderr: Option<String>| {
            let mut message = format!("{what}; its files are kept in {}", job.work.display());
            if let Some(stderr) = stderr {
                message += &format!("; the end of its stderr:\n{stderr}");
            }
            ModelError::External(message)
        };
        process::run(&absolute_paths(&self.command), &folders.work, &env, timeout)
            .map_err(|f| kept(f.what, f.stderr))?;
        let read = output::read(&folders.output, self.output, input.train, job)
            .map_err(|e| kept(format!("its output: {e}"), None))?;
        // The outputs are in memory and checked: the folder is no longer needed.
        let _ = std::fs::remove_dir_all(&job.work);
        Ok(Fitted {
            curve: read.curve,
            ..Fitted::new(read.scorer)
        })
    }
}

impl ExternalParams {
    /// The program's params as `params.json` holds them: its own keys and
    /// the popularity method, as written in the spec with defaults filled.
    fn passed(&self) -> Mapping {
        let mut passed = self.own.clone();
        passed.insert(
            Value::from("popularity"),
            serde_yaml::to_value(&self.popularity).unwrap_or(Value::Null),
        );
        passed
    }
}

/// The rating and timestamp of each (user, item) pair of the log, where the
/// dataset has them: the split keeps pairs only, and a program may want
/// both (a temporal model, a rating-weighted loss). Built only for specs
/// with an external model.
#[derive(Debug, Clone)]
pub struct Extras {
    /// (user, item) of row k, sorted.
    pairs: Vec<(u32, u32)>,
    ratings: Option<Vec<f32>>,
    timestamps: Option<Vec<i64>>,
}

impl Extras {
    /// None when the log has neither ratings nor timestamps.
    pub fn new(
        users: &[u32],
        items: &[u32],
        ratings: Option<&[f32]>,
        timestamps: Option<&[i64]>,
    ) -> Option<Self> {
        if ratings.is_none() && timestamps.is_none() {
            return None;
        }
        let mut order: Vec<usize> = (0..users.len()).collect();
        order.sort_unstable_by_key(|&k| (users[k], items[k]));
        Some(Self {
            pairs: order.iter().map(|&k| (users[k], items[k])).collect(),
            ratings: ratings.map(|r| order.iter().map(|&k| r[k]).collect()),
            timestamps: timestamps.map(|t| order.iter().map(|&k| t[k]).collect()),
        })
    }

    /// The ratings and timestamps of `pairs`, each None where the log has
    /// none or a pair is not in it.
    fn of(&self, pairs: &[(u32, u32)]) -> (Option<Vec<f32>>, Option<Vec<i64>>) {
        let rows: Option<Vec<usize>> = pairs
            .iter()
            .map(|p| self.pairs.binary_search(p).ok())
            .collect();
        let Some(rows) = rows else {
            return (None, None);
        };
        (
            self.ratings
                .as_ref()
                .map(|r| rows.iter().map(|&k| r[k]).collect()),
            self.timestamps
                .as_ref()
                .map(|t| rows.iter().map(|&k| t[k]).collect()),
        )
    }
}

/// What one run of the program needs besides the model's input: who to
/// recommend for, the original ids, and where to work. The runner builds it
/// per trial; simulations and benchmarks have none.
#[derive(Debug, Clone)]
pub struct Job<'a> {
    /// The fresh folder this fit works in (made empty first).
    pub work: PathBuf,
    pub user_labels: &'a [String],
    pub item_labels: &'a [String],
    /// Dense ids of the users scored: validation and test users.
    pub targets: Vec<u32>,
    /// The largest cutoff K.
    pub max_cutoff: usize,
    /// How many unseen items each list must hold: K plus the most items a
    /// user has in parts the program does not see but the evaluation
    /// excludes (validation, when test is ranked).
    pub list_length: usize,
    pub trial_id: &'a str,
    pub threads: usize,
    /// The dataset's feature tables as the spec declares them.
    pub features: Option<&'a FeaturesSpec>,
    pub extras: Option<&'a Extras>,
}

impl Job<'_> {
    /// The job of one stage of a pipeline: its own folder.
    pub fn stage(&self, name: &str) -> Self {
        Self {
            work: self.work.join(name),
            ..self.clone()
        }
    }
}

/// The argv with paths made absolute, since the program runs in its work
/// folder: an argument naming an existing file or folder relative to where
/// recsweep runs (the program itself only when it holds a `/`; a bare name
/// is looked up in PATH).
fn absolute_paths(command: &[String]) -> Vec<String> {
    command
        .iter()
        .enumerate()
        .map(|(k, arg)| {
            let path = Path::new(arg);
            let candidate = path.is_relative() && (k > 0 || arg.contains('/'));
            match candidate.then(|| std::fs::canonicalize(path)) {
                Some(Ok(absolute)) => absolute.display().to_string(),
                _ => arg.clone(),
            }
        })
        .collect()
}

/// The work folder and its input and output folders.
struct Folders {
    work: PathBuf,
    input: PathBuf,
    output: PathBuf,
}

impl Folders {
    /// Empty folders: anything a previous, interrupted run left is removed.
    /// Absolute, since the program runs in the work folder and a results
    /// folder given relative to recsweep's own would not resolve there.
    fn fresh(work: &Path) -> Result<Self, ModelError> {
        let io =
            |e: std::io::Error| ModelError::External(format!("preparing {}: {e}", work.display()));
        let work = &std::path::absolute(work).map_err(io)?;
        if work.exists() {
            std::fs::remove_dir_all(work).map_err(io)?;
        }
        let folders = Self {
            work: work.to_path_buf(),
            input: work.join("input"),
            output: work.join("output"),
        };
        std::fs::create_dir_all(&folders.input).map_err(io)?;
        std::fs::create_dir_all(&folders.output).map_err(io)?;
        Ok(folders)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_pass_through_and_reserved_keys_are_read() {
        let params: Mapping = serde_yaml::from_str(
            "{command: [python3, x.py], output: embeddings, damping: 2.5, layers: [64, 32]}",
        )
        .unwrap();
        let config = ModelKind::External.configure(&params).unwrap();
        assert!(config.scores_by_dot_product());
        let stored = config.params();
        assert_eq!(stored["damping"], Value::from(2.5));
        assert_eq!(stored["timeout"], Value::from(3600.0));
        let parsed: ExternalParams = serde_yaml::from_value(Value::Mapping(stored)).unwrap();
        let passed = parsed.passed();
        assert_eq!(passed.len(), 3, "{passed:?}");
        assert!(passed.contains_key("layers") && passed.contains_key("popularity"));
    }

    #[test]
    fn extras_follow_their_pairs_whatever_the_log_order() {
        let (users, items) = ([1, 0, 1, 0], [5, 2, 3, 9]);
        let ratings = [4.0, 5.0, 3.0, 1.0];
        let extras = Extras::new(&users, &items, Some(&ratings), None).unwrap();
        assert_eq!(extras.of(&[(0, 9), (1, 5)]), (Some(vec![1.0, 4.0]), None));
        // A pair the log lacks gives no column rather than a wrong one.
        assert_eq!(extras.of(&[(0, 9), (1, 1)]), (None, None));
        assert!(Extras::new(&users, &items, None, None).is_none());
    }

    #[test]
    fn a_missing_command_and_a_bad_timeout_are_named() {
        let issues = ModelKind::External.configure(&Mapping::new()).unwrap_err();
        assert_eq!(issues[0].key, "command");
        let params: Mapping = serde_yaml::from_str("{command: [a], timeout: 0}").unwrap();
        let issues = ModelKind::External.configure(&params).unwrap_err();
        assert_eq!(issues[0].key, "timeout");
        let params: Mapping = serde_yaml::from_str("{command: [a], output: ranks}").unwrap();
        let issues = ModelKind::External.configure(&params).unwrap_err();
        assert_eq!(issues[0].key, "output", "{issues:?}");
    }
}
