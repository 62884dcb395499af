//! Runs an experiment: load and split the data once, then train and evaluate
//! every trial that is not already done, in parallel, storing each as it
//! finishes. Progress goes to a callback; the library never prints.
//!
//! `experiment` prepares what every trial shares, `schedule` runs the
//! trials under claims (rounds, refits, shards) and `trial` fits, scores and
//! stores one.

mod experiment;
mod schedule;
mod trial;

use std::path::Path;

use crate::data::DataError;
use crate::spec::Spec;
use crate::split::SplitError;
use crate::store::{ResultsDir, StoreError};

pub use experiment::{Candidates, Experiment, Labels};
pub use schedule::{run, Progress, RunOptions, RunSummary, Shard};

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Split(#[from] SplitError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("simulation.truth: fitting {model} on the whole log failed: {message}")]
    Truth { model: String, message: String },
    #[error("{key}: {value} is more than the catalogue's {items} items; {why}")]
    BeyondCatalogue {
        key: String,
        value: u64,
        items: usize,
        why: &'static str,
    },
    #[error("evaluation.propensity.estimate: {message}")]
    Propensity { message: String },
    #[error("cannot start {jobs} worker threads: {message}")]
    Threads { jobs: usize, message: String },
    #[error("sweep: proposing round {round}: {}", .issues.iter().map(|i| format!("{}: {}", i.path, i.message)).collect::<Vec<_>>().join("; "))]
    Proposal {
        round: usize,
        issues: Vec<crate::spec::SpecIssue>,
    },
}

/// `results/<name>` under a results root.
pub fn results_dir(root: &Path, spec: &Spec) -> ResultsDir {
    ResultsDir::new(root.join(&spec.name))
}
