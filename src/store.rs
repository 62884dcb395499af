//! The results folder (docs/results.md). Every file is written to a temporary name
//! and renamed into place, so a crash never leaves a half-written file under
//! its final name; `trial.json` is written last and marks a trial done.
//!
//! ```text
//! results/<experiment>/
//!   experiment.yaml               resolved spec, dataset and split facts, trial list
//!   trials/<id>/trial.json        params, status, timings, cost, summaries
//!   trials/<id>/per_user.parquet  test metrics per user
//!   trials/<id>/per_user_validation.parquet  validation metrics per user
//!   trials/<id>/per_user_randomised.parquet  randomised-test metrics per user
//!                                 (selection's confidence), when validated
//!   trials/<id>/topk.parquet      test top lists (user, rank, item, score)
//! ```

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::data::DatasetStats;
use crate::eval::{MetricId, PerUser, ServingTime, Summary, TopLists};
use crate::models::{ServingCost, TrainingCurve};
use crate::spec::Spec;
use crate::split::SplitStats;
use crate::sweep::{Expansion, Trial};
use crate::table::{self, Table, Values, WriteColumn};

/// Bumped when stored results change meaning; older trials are then redone.
/// 2: a simulation run stores each user's items taken and regret over the
/// loop, which the report tests (format 1's runs lack them).
pub const FORMAT: u32 = 2;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ExperimentRecord {
    pub format: u32,
    pub recsweep_version: String,
    /// Hash of everything besides the trial itself that its numbers depend
    /// on: data fingerprint, split, evaluation, base seed, format.
    pub context: String,
    pub spec: Spec,
    pub dataset: DatasetStats,
    pub split: SplitStats,
    /// The feature tables read (dataset.features), column by column.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub features: Vec<crate::data::SideSummary>,
    pub expansion: Expansion,
    /// The propensity exponent fitted to the randomised test, when the spec
    /// asks for one (`evaluation.propensity.estimate`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub propensity_fit: Option<crate::eval::PropensityFit>,
    /// Who ran it last: absent in results from before recsweep recorded it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<RunInfo>,
}

/// The build and machine of the last `recsweep run` on a results folder,
/// for the report's reproducibility appendix. Numbers do not depend on the
/// thread count.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunInfo {
    /// `git rev-parse --short=12 HEAD` at build time, `-modified` when the
    /// working tree differed from it.
    pub git_revision: String,
    pub threads: usize,
    /// The UTC day the run started (`YYYY-MM-DD`), for the reports index;
    /// absent in records of versions before it. Reports leave it out, so
    /// the same results give the same report bytes on any day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
}

impl RunInfo {
    pub fn current(threads: usize) -> Self {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        Self {
            git_revision: env!("RECSWEEP_GIT_REVISION").to_string(),
            threads,
            date: chrono::DateTime::from_timestamp(now, 0)
                .map(|t| t.format("%Y-%m-%d").to_string()),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    Ok {
        fit_seconds: f64,
        /// Test evaluation wall time per user, in microseconds, while other
        /// trials share the cores: see `serving` for the time to compare.
        score_micros_per_user: f64,
        /// Scoring and top-K per user timed apart from training, repeated;
        /// absent in records of earlier versions.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        serving: Option<Box<crate::eval::ServingTime>>,
        cost: ServingCost,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        validation: Option<Summary>,
        test: Summary,
        /// Summaries under the spec's secondary protocols.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        secondary: Vec<ProtocolSummary>,
        /// Loss and validation metric per epoch, for epoch-trained models.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        curve: Option<TrainingCurve>,
        /// A pipeline's retriever scored alone.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stages: Option<Box<StageRecord>>,
        /// The feedback loop at each exploration rate (docs/simulation.md).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        simulation: Vec<crate::simulation::SimulationRun>,
    },
    Failed {
        error: String,
    },
}

/// A pipeline's first stage, scored alone on test (full ranking): what its
/// ranker's lift (`ndcg_lift@K` in the test summary) is measured against.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StageRecord {
    /// N: candidates passed to the ranker.
    pub candidates: usize,
    pub retriever: Summary,
    /// Retriever scoring and top-N selection per user, in microseconds.
    pub retriever_micros_per_user: f64,
    pub retriever_cost: ServingCost,
    /// The approximate index the candidates came from; absent: exact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<IndexRecord>,
    /// Under `ranker_negatives: retrieved`: the expected share of the
    /// ranker's sampled negatives that were the user's held-out positives
    /// (`models::pipeline::held_out_negative_share`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_out_negatives: Option<f64>,
}

/// What an approximate index cost to build, hold and query.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IndexRecord {
    /// As the spec wrote it, e.g. `hnsw(m=16, ef_construction=200, ef_search=64)`.
    pub index: String,
    pub build_seconds: f64,
    /// Graph links or list assignments and centroids, beyond the vectors.
    pub overhead_bytes: u64,
    /// Single-threaded searches per second: 1e6 / `search`'s median µs
    /// (in records written before `search`, one pass over the test users).
    pub queries_per_second: f64,
    /// The index's searches timed on a sample of test users, one at a time
    /// on one thread: median and range of repetitions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search: Option<ServingTime>,
    /// The retriever's exact top N timed the same way: the index's speed-up
    /// is `exact_search` over `search`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exact_search: Option<ServingTime>,
}

/// A trial's results under one secondary protocol.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ProtocolSummary {
    /// The protocol as written by `Protocol`'s Display, e.g. `full`.
    pub protocol: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation: Option<Summary>,
    pub test: Summary,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TrialRecord {
    pub format: u32,
    pub context: String,
    pub trial: Trial,
    #[serde(flatten)]
    pub outcome: Outcome,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot write {}: {}", path.display(), write_reason(path, source))]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is not a readable recsweep file ({message}); delete it, or rerun with --fresh", path.display())]
    Corrupt { path: PathBuf, message: String },
    #[error("{} holds no recsweep results (no experiment.yaml); run `recsweep run SPEC` first, or check the path", path.display())]
    NotResults { path: PathBuf },
}

impl StoreError {
    /// Whether the user can fix it by pointing at another path or file (exit
    /// 2): an unreadable or foreign results folder, or an output path that
    /// is a folder, lies under a file, or may not be written. A full disk or
    /// another I/O failure is not.
    pub fn is_input(&self) -> bool {
        use std::io::ErrorKind::*;
        match self {
            StoreError::NotResults { .. }
            | StoreError::Corrupt { .. }
            | StoreError::Read { .. } => true,
            StoreError::Write { source, .. } => matches!(
                source.kind(),
                PermissionDenied
                    | NotFound
                    | AlreadyExists
                    | NotADirectory
                    | IsADirectory
                    | ReadOnlyFilesystem
                    | InvalidInput
            ),
        }
    }
}

/// Why `path` cannot be written, in words: a parent that is a regular file
/// says so (the OS says "File exists" or "Not a directory").
fn write_reason(path: &Path, source: &std::io::Error) -> String {
    if path.is_dir() && source.kind() == std::io::ErrorKind::IsADirectory {
        return "it is a folder; give a file path".into();
    }
    let file_ancestor = path
        .ancestors()
        .skip(1)
        .take_while(|a| !a.as_os_str().is_empty())
        .find(|a| a.exists());
    match file_ancestor {
        Some(a) if !a.is_dir() => format!("{} is a file, not a folder", a.display()),
        _ => source.to_string(),
    }
}

/// Item labels and their train interaction counts, in item order.
pub type ItemCounts = (Vec<String>, Vec<u32>);

/// A trial's tables beside its record, each written when given: a failed
/// trial has none.
#[derive(Debug, Clone, Copy, Default)]
pub struct TrialTables<'a> {
    /// Per-user test metrics and the test top lists.
    pub test: Option<(&'a PerUser, &'a TopLists)>,
    pub validation: Option<&'a PerUser>,
    /// Per-user metrics on the randomised-exposure test.
    pub randomised: Option<&'a PerUser>,
    /// Item embeddings: the dimension and the row-major values.
    pub item_factors: Option<(usize, &'a [f32])>,
}

/// One experiment's results folder.
#[derive(Debug, Clone)]
pub struct ResultsDir {
    root: PathBuf,
}

impl ResultsDir {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn experiment_path(&self) -> PathBuf {
        self.root.join("experiment.yaml")
    }

    /// The folder of trial `id` (its record, tables and claim).
    pub fn trial_path(&self, id: &str) -> PathBuf {
        self.trial_dir(id)
    }

    fn trial_dir(&self, id: &str) -> PathBuf {
        self.root.join("trials").join(id)
    }

    pub fn write_experiment(&self, record: &ExperimentRecord) -> Result<(), StoreError> {
        let text = serde_yaml::to_string(record).expect("records serialize");
        write_atomic(&self.experiment_path(), text.as_bytes())
    }

    pub fn read_experiment(&self) -> Result<ExperimentRecord, StoreError> {
        let path = self.experiment_path();
        if !path.exists() {
            return Err(StoreError::NotResults {
                path: self.root.clone(),
            });
        }
        let bytes = read_bytes(&path)?;
        serde_yaml::from_slice(&bytes).map_err(|e| StoreError::Corrupt {
            path,
            message: e.to_string(),
        })
    }

    /// Train interactions per item, by label: what the report's long-tail and
    /// embedding sections measure popularity by.
    pub fn write_items(&self, labels: &[String], train_counts: &[u32]) -> Result<(), StoreError> {
        fs::create_dir_all(&self.root).map_err(|source| StoreError::Write {
            path: self.root.clone(),
            source,
        })?;
        write_parquet(
            &self.root.join("items.parquet"),
            &[
                WriteColumn::Text("item", labels.iter().map(String::as_str).collect()),
                WriteColumn::U32("train_count", train_counts),
            ],
        )
    }

    /// (labels, train counts); None for results written before recsweep
    /// stored them.
    pub fn read_items(&self) -> Result<Option<ItemCounts>, StoreError> {
        let path = self.root.join("items.parquet");
        if !path.exists() {
            return Ok(None);
        }
        let mut frame = read_parquet(&path)?;
        let labels = texts(&mut frame, "item", &path)?;
        let counts = u32s(&mut frame, "train_count", &path)?;
        Ok(Some((labels, counts)))
    }

    /// A trial's item embeddings (items × dim, in item order), for the
    /// report's embedding analysis; None when the model has none.
    pub fn read_item_factors(&self, id: &str) -> Result<Option<(usize, Vec<f32>)>, StoreError> {
        let path = self.trial_dir(id).join("item_factors.parquet");
        if !path.exists() {
            return Ok(None);
        }
        read_factors(&path).map(Some)
    }

    /// A trial's stored top-K lists as item indices (per `index`, label →
    /// index), one list per user in stored order.
    pub fn read_lists(
        &self,
        id: &str,
        index: &std::collections::HashMap<&str, u32>,
    ) -> Result<Vec<Vec<u32>>, StoreError> {
        let path = self.trial_dir(id).join("topk.parquet");
        let mut frame = read_parquet(&path)?;
        let corrupt = |message: String| StoreError::Corrupt {
            path: path.clone(),
            message,
        };
        let users = texts(&mut frame, "user", &path)?;
        let items = texts(&mut frame, "item", &path)?;
        let mut lists: Vec<Vec<u32>> = Vec::new();
        let mut current: Option<&str> = None;
        for (user, item) in users.iter().zip(&items) {
            let (user, item) = (user.as_str(), item.as_str());
            let i = *index
                .get(item)
                .ok_or_else(|| corrupt(format!("item `{item}` is not in items.parquet")))?;
            if current != Some(user) {
                lists.push(Vec::new());
                current = Some(user);
            }
            lists.last_mut().expect("a list").push(i);
        }
        Ok(lists)
    }

    /// The stored record of `trial` if it finished successfully under the
    /// same context; anything else (missing, failed, stale, unreadable) means
    /// the trial must run again.
    pub fn finished(&self, trial: &Trial, context: &str) -> Option<TrialRecord> {
        let record = self.read_trial(&trial.id).ok()?;
        let done = record.format == FORMAT
            && record.context == context
            && trial.same_work(&record.trial)
            && matches!(record.outcome, Outcome::Ok { .. });
        done.then_some(record)
    }

    pub fn read_trial(&self, id: &str) -> Result<TrialRecord, StoreError> {
        let path = self.trial_dir(id).join("trial.json");
        let bytes = read_bytes(&path)?;
        // Bytes that are not UTF-8 are a corrupt record, not a missing one.
        serde_json::from_slice(&bytes).map_err(|e| StoreError::Corrupt {
            path,
            message: e.to_string(),
        })
    }

    /// Writes a trial's tables, then its record (last, so that a record on
    /// disk implies its tables are complete).
    pub fn write_trial(
        &self,
        record: &TrialRecord,
        tables: &TrialTables,
        user_labels: &[String],
        item_labels: &[String],
    ) -> Result<(), StoreError> {
        let TrialTables {
            test,
            validation,
            randomised,
            item_factors,
        } = *tables;
        let dir = self.trial_dir(&record.trial.id);
        fs::create_dir_all(&dir).map_err(|source| StoreError::Write {
            path: dir.clone(),
            source,
        })?;
        if let Some((dim, values)) = item_factors {
            let rows = values.len() / dim.max(1);
            let names: Vec<String> = (0..dim).map(|k| format!("f{k}")).collect();
            let columns: Vec<Vec<f32>> = (0..dim)
                .map(|k| (0..rows).map(|r| values[r * dim + k]).collect())
                .collect();
            let columns: Vec<WriteColumn> = names
                .iter()
                .zip(&columns)
                .map(|(name, column)| WriteColumn::F32(name, column))
                .collect();
            write_parquet(&dir.join("item_factors.parquet"), &columns)?;
        }
        if let Some(per_user) = validation {
            write_per_user(
                &dir.join("per_user_validation.parquet"),
                per_user,
                user_labels,
            )?;
        }
        if let Some(per_user) = randomised {
            write_per_user(
                &dir.join("per_user_randomised.parquet"),
                per_user,
                user_labels,
            )?;
        }
        if let Some((per_user, lists)) = test {
            write_per_user(&dir.join("per_user.parquet"), per_user, user_labels)?;
            write_lists(&dir.join("topk.parquet"), lists, user_labels, item_labels)?;
        }
        let json = serde_json::to_string_pretty(record).expect("records serialize");
        write_atomic(&dir.join("trial.json"), json.as_bytes())
    }

    /// The stored per-user test metrics of a trial.
    pub fn read_per_user(&self, id: &str) -> Result<PerUser, StoreError> {
        read_per_user_file(&self.trial_dir(id).join("per_user.parquet"))
    }

    /// The stored per-user validation metrics of a trial; None where the
    /// split has no validation part or an older version did not store them.
    pub fn read_per_user_validation(&self, id: &str) -> Result<Option<PerUser>, StoreError> {
        self.read_optional(id, "per_user_validation.parquet")
    }

    /// The stored per-user metrics of a trial on the randomised-exposure
    /// test; None where the spec has no `randomised` protocol or an older
    /// version did not store them.
    pub fn read_per_user_randomised(&self, id: &str) -> Result<Option<PerUser>, StoreError> {
        self.read_optional(id, "per_user_randomised.parquet")
    }

    fn read_optional(&self, id: &str, file: &str) -> Result<Option<PerUser>, StoreError> {
        let path = self.trial_dir(id).join(file);
        if !path.exists() {
            return Ok(None);
        }
        read_per_user_file(&path).map(Some)
    }
}

/// A per-user table as `write_per_user` wrote it.
fn read_per_user_file(path: &Path) -> Result<PerUser, StoreError> {
    let mut frame = read_parquet(path)?;
    let users = u32s(&mut frame, "user_index", path)?;
    let names: Vec<String> = frame.names().into_iter().map(str::to_string).collect();
    let mut columns = Vec::new();
    let mut values = Vec::new();
    for name in names {
        let Ok(metric) = name.parse::<MetricId>() else {
            continue;
        };
        columns.push(metric);
        values.push(floats(&mut frame, &name, path)?);
    }
    Ok(PerUser {
        users,
        columns,
        values,
    })
}

fn write_per_user(
    path: &Path,
    per_user: &PerUser,
    user_labels: &[String],
) -> Result<(), StoreError> {
    let names: Vec<String> = per_user.columns.iter().map(ToString::to_string).collect();
    let mut columns = vec![
        WriteColumn::Text(
            "user",
            per_user
                .users
                .iter()
                .map(|&u| user_labels[u as usize].as_str())
                .collect(),
        ),
        WriteColumn::U32("user_index", &per_user.users),
    ];
    for (name, values) in names.iter().zip(&per_user.values) {
        columns.push(WriteColumn::F64(name, values));
    }
    write_parquet(path, &columns)
}

fn write_lists(
    path: &Path,
    lists: &TopLists,
    user_labels: &[String],
    item_labels: &[String],
) -> Result<(), StoreError> {
    let (mut users, mut ranks, mut items, mut scores) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for ((u, list), list_scores) in lists.users.iter().zip(&lists.items).zip(&lists.scores) {
        for (rank, (i, s)) in list.iter().zip(list_scores).enumerate() {
            users.push(user_labels[*u as usize].as_str());
            ranks.push(rank as u32 + 1);
            items.push(item_labels[*i as usize].as_str());
            scores.push(*s);
        }
    }
    write_parquet(
        path,
        &[
            WriteColumn::Text("user", users),
            WriteColumn::U32("rank", &ranks),
            WriteColumn::Text("item", items),
            WriteColumn::F32("score", &scores),
        ],
    )
}

/// A stored column, typed as recsweep writes it, taken out of the frame;
/// anything else is corrupt.
fn stored(frame: &mut Table, name: &str, path: &Path) -> Result<Values, StoreError> {
    let corrupt = |message: String| StoreError::Corrupt {
        path: path.to_path_buf(),
        message,
    };
    let column = frame
        .take(name)
        .ok_or_else(|| corrupt(format!("no column `{name}`")))?;
    if let Some(row) = column.missing.first() {
        return Err(corrupt(format!("`{name}` is empty in row {}", row + 1)));
    }
    Ok(column.values)
}

fn wrong_kind(name: &str, values: &Values, path: &Path) -> StoreError {
    StoreError::Corrupt {
        path: path.to_path_buf(),
        message: format!("`{name}` holds {} values", values.kind()),
    }
}

fn texts(frame: &mut Table, name: &str, path: &Path) -> Result<Vec<String>, StoreError> {
    match stored(frame, name, path)? {
        Values::Text(v) => Ok(v),
        other => Err(wrong_kind(name, &other, path)),
    }
}

fn u32s(frame: &mut Table, name: &str, path: &Path) -> Result<Vec<u32>, StoreError> {
    match stored(frame, name, path)? {
        Values::Int(v) => v
            .into_iter()
            .map(u32::try_from)
            .collect::<Result<_, _>>()
            .map_err(|_| StoreError::Corrupt {
                path: path.to_path_buf(),
                message: format!("`{name}` holds a value outside 0..2^32"),
            }),
        other => Err(wrong_kind(name, &other, path)),
    }
}

/// Vectors stored as columns `f0 … f{dim-1}` of a Parquet file (as trials
/// store `item_factors.parquet`), row-major (`rows × dim`).
pub fn read_factors(path: &Path) -> Result<(usize, Vec<f32>), StoreError> {
    let mut frame = read_parquet(path)?;
    let (dim, rows) = (frame.columns.len(), frame.rows());
    let columns = (0..dim)
        .map(|k| floats(&mut frame, &format!("f{k}"), path))
        .collect::<Result<Vec<_>, _>>()?;
    let values = (0..rows * dim)
        .map(|x| columns[x % dim][x / dim] as f32)
        .collect();
    Ok((dim, values))
}

fn floats(frame: &mut Table, name: &str, path: &Path) -> Result<Vec<f64>, StoreError> {
    match stored(frame, name, path)? {
        Values::Float(v) => Ok(v),
        other => Err(wrong_kind(name, &other, path)),
    }
}

fn read_bytes(path: &Path) -> Result<Vec<u8>, StoreError> {
    fs::read(path).map_err(|source| StoreError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn read_parquet(path: &Path) -> Result<Table, StoreError> {
    table::read_parquet(path).map_err(|e| {
        e.into_error(
            |source| StoreError::Read {
                path: path.to_path_buf(),
                source,
            },
            |message| StoreError::Corrupt {
                path: path.to_path_buf(),
                message,
            },
        )
    })
}

/// Writes a table to a temporary sibling, syncs it, and renames it over
/// `path` (see [`write_atomic`]).
fn write_parquet(path: &Path, columns: &[WriteColumn]) -> Result<(), StoreError> {
    let tmp = temporary(path);
    let result = (|| {
        let mut file = File::create(&tmp)?;
        table::write_parquet(&mut file, columns).map_err(std::io::Error::other)?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(|source| StoreError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes `bytes` to a temporary sibling, syncs it, and renames it over `path`.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let err = |source| StoreError::Write {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(err)?;
    }
    if path.is_dir() {
        return Err(err(std::io::Error::from(std::io::ErrorKind::IsADirectory)));
    }
    let tmp = temporary(path);
    let written = File::create(&tmp).and_then(|mut file| {
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    });
    if written.is_err() {
        // Leave nothing behind (a full disk, a path that turned into a folder).
        let _ = fs::remove_file(&tmp);
    }
    written.map_err(err)
}

fn temporary(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}
