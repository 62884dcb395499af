//! `recsweep export mlflow`: a results folder as MLflow runs, through the
//! tracking server's REST API (docs/mlflow.md). One parent run per
//! experiment (spec and context), one nested run per stored trial, the
//! report and its figures as the parent's artifacts. Exporting again adds
//! only what is missing: runs are found by their tags before any is made,
//! and a run an interrupted export left half-written is replaced.

mod rest;
mod runs;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::report;
use crate::results::{configurations, load_records, refit_trials, Part};
use crate::store::{ExperimentRecord, ResultsDir, StoreError, TrialRecord};

use rest::{Client, RunInfo};
use runs::{batches, experiment_content, trial_content, Content};
use runs::{TAG_COMPLETE, TAG_CONTEXT, TAG_PARENT, TAG_ROLE, TAG_TRIAL};

/// Where and as what to export.
pub struct MlflowOptions {
    /// The tracking server's address (`--tracking-uri` or
    /// MLFLOW_TRACKING_URI).
    pub tracking_uri: String,
    /// The MLflow experiment; default the spec's name.
    pub experiment: Option<String>,
    /// MLFLOW_TRACKING_TOKEN, sent as a bearer token.
    pub token: Option<String>,
}

/// What an export did.
#[derive(Debug)]
pub struct Exported {
    pub experiment: String,
    pub experiment_id: String,
    pub parent_run: String,
    /// Trial runs made by this export.
    pub created: usize,
    /// Trial runs an earlier export had made.
    pub present: usize,
    /// Half-written runs of an interrupted export, replaced.
    pub replaced: usize,
    /// Trials of the sweep with no stored result yet (not exported).
    pub missing: usize,
    pub artifacts: usize,
    /// The parent's artifact URI where the server does not proxy artifact
    /// uploads (so the report was not uploaded).
    pub artifacts_elsewhere: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("tracking URI `{uri}`: {reason}")]
    Uri { uri: String, reason: String },
    #[error("cannot reach the MLflow tracking server at {base}: {message}")]
    Unreachable { base: String, message: String },
    #[error("MLflow refused {call}: HTTP {status} {code}: {message}")]
    Rejected {
        call: String,
        status: u16,
        code: String,
        message: String,
    },
    #[error("MLflow answered {call} with something recsweep cannot read: {message}")]
    Answer { call: String, message: String },
    #[error("MLflow experiment `{name}` (id {id}) is deleted; restore it (`mlflow experiments restore --experiment-id {id}`, or in the UI's trash) or export under another name with --experiment")]
    Deleted { name: String, id: String },
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl ExportError {
    /// Whether the user can fix it by what they pass (exit 2): the results
    /// folder, the tracking URI, a deleted experiment's name. A server that
    /// cannot be reached or refuses a call is a failure (exit 1).
    pub fn is_input(&self) -> bool {
        match self {
            ExportError::Store(s) => s.is_input(),
            ExportError::Uri { .. } | ExportError::Deleted { .. } => true,
            _ => false,
        }
    }
}

pub fn mlflow(results: &ResultsDir, options: &MlflowOptions) -> Result<Exported, ExportError> {
    let experiment = results.read_experiment()?;
    let records = stored_records(results, &experiment)?;
    let client = Client::new(&options.tracking_uri, options.token.clone())?;
    let name = options
        .experiment
        .clone()
        .unwrap_or_else(|| experiment.spec.name.clone());
    let experiment_id = match client.experiment(&name)? {
        Some((id, true)) => return Err(ExportError::Deleted { name, id }),
        Some((id, false)) => id,
        None => client.create_experiment(&name)?,
    };
    let mine = |role: &str| {
        format!(
            "tags.`{TAG_CONTEXT}` = '{}' and tags.`{TAG_ROLE}` = '{role}'",
            experiment.context
        )
    };

    // The parent run first, complete before any trial points at it.
    let mut replaced = 0;
    let mut parent = None;
    for run in client.search(&experiment_id, &mine("experiment"))? {
        if parent.is_none() && run.tags.contains_key(TAG_COMPLETE) {
            parent = Some(run);
        } else if !run.tags.contains_key(TAG_COMPLETE) {
            client.delete_run(&run.run_id)?;
            replaced += 1;
        }
    }
    let parent = match parent {
        Some(p) => p,
        None => write_run(
            &client,
            &experiment_id,
            experiment_content(&experiment),
            &[],
        )?,
    };

    // Trials: what an earlier export completed stays; a half-written run
    // is deleted and written again.
    let mut done: BTreeMap<String, String> = BTreeMap::new();
    for run in client.search(&experiment_id, &mine("trial"))? {
        let trial = run.tags.get(TAG_TRIAL).cloned().unwrap_or_default();
        if run.tags.contains_key(TAG_COMPLETE) && !done.contains_key(&trial) {
            done.insert(trial, run.run_id);
        } else if !run.tags.contains_key(TAG_COMPLETE) {
            client.delete_run(&run.run_id)?;
            replaced += 1;
        }
    }
    let (mut created, mut present) = (0, 0);
    let nest = [(TAG_PARENT.to_string(), parent.run_id.clone())];
    for record in &records.list {
        if done.contains_key(&record.trial.id) {
            present += 1;
            continue;
        }
        write_run(
            &client,
            &experiment_id,
            trial_content(&experiment, record),
            &nest,
        )?;
        created += 1;
    }

    // The report, rebuilt from the results (never a stale file), with its
    // appendix, figures and the experiment record, uploaded every time: it
    // changes as trials finish.
    let mut artifacts = 0;
    let mut artifacts_elsewhere = None;
    for (path, bytes) in report_files(results, &experiment)? {
        if client.upload(&parent, &path, bytes)? {
            artifacts += 1;
        } else {
            artifacts_elsewhere = Some(parent.artifact_uri.clone());
            break;
        }
    }
    Ok(Exported {
        experiment: name,
        experiment_id,
        parent_run: parent.run_id,
        created,
        present,
        replaced,
        missing: records.missing,
        artifacts,
        artifacts_elsewhere,
    })
}

/// The stored trials of the sweep, and the refits of the selected
/// configurations where the spec asks for them.
struct Stored {
    list: Vec<TrialRecord>,
    missing: usize,
}

fn stored_records(
    results: &ResultsDir,
    experiment: &ExperimentRecord,
) -> Result<Stored, ExportError> {
    let (mut list, missing) = load_records(results, experiment)?;
    let spec = &experiment.spec;
    if spec.selection.refit && Part::selection(&spec.split) == Part::Validation {
        let configs = configurations(&experiment.expansion, &list);
        let refits: Vec<TrialRecord> = refit_trials(&configs, spec.selection.metric)
            .into_iter()
            .filter_map(|(_, t)| results.finished(&t, &experiment.context))
            .collect();
        list.extend(refits);
    }
    Ok(Stored { list, missing })
}

/// Creates a run, logs its content in batches, ends it with its status,
/// and marks it complete last.
fn write_run(
    client: &Client,
    experiment: &str,
    content: Content,
    extra_tags: &[(String, String)],
) -> Result<RunInfo, ExportError> {
    let mut tags = content.tags;
    tags.extend_from_slice(extra_tags);
    let run = client.create_run(experiment, &content.name, &tags)?;
    for batch in batches(content.params, content.metrics, Vec::new()) {
        client.log_batch(&run.run_id, &batch)?;
    }
    client.end_run(&run.run_id, content.status)?;
    client.set_tag(&run.run_id, TAG_COMPLETE, "true")?;
    Ok(run)
}

/// The parent's artifacts, path and bytes: `report/<name>.md`, its
/// appendix and figures (laid out as `recsweep report` writes them, so the
/// links work), and `experiment.yaml`.
fn report_files(
    results: &ResultsDir,
    experiment: &ExperimentRecord,
) -> Result<Vec<(String, Vec<u8>)>, ExportError> {
    let file = experiment
        .spec
        .report
        .path
        .as_deref()
        .and_then(Path::file_name)
        .map_or_else(
            || format!("{}.md", experiment.spec.name),
            |n| n.to_string_lossy().into_owned(),
        );
    let stem = Path::new(&file).file_stem().map_or_else(
        || "report".to_string(),
        |s| s.to_string_lossy().into_owned(),
    );
    let mut built = report::build(results)?;
    built.figure_dir = stem.clone();
    built.file = file.clone();
    let mut files = vec![
        (
            format!("report/{file}"),
            report::render_markdown(&built).into_bytes(),
        ),
        (
            format!("report/{}", built.appendix_file()),
            report::render_appendix(&built).into_bytes(),
        ),
    ];
    for figure in &built.figures {
        files.push((
            format!("report/{stem}/{}", figure.file),
            figure.svg.clone().into_bytes(),
        ));
    }
    let record = results.root().join("experiment.yaml");
    let bytes = std::fs::read(&record).map_err(|source| ExportError::Read {
        path: record,
        source,
    })?;
    files.push(("experiment.yaml".to_string(), bytes));
    Ok(files)
}
