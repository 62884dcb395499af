//! Interaction logs: loading (MovieLens, CSV/TSV/Parquet through
//! [`crate::table`], the synthetic generator), positive thresholds, deduplication, k-core filtering
//! and dense id remapping.

mod datetime;
mod feature_reader;
mod feature_values;
mod features;
mod loader;
mod matrix;
mod prepare;
mod randomised;
mod side;
mod source;
mod source_rules;
mod synthetic;
mod truth;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use datetime::{unix_seconds, DATETIME_FORMS};
pub use feature_reader::load_features;
pub use feature_values::{
    ColumnSummary, FeatureColumn, FeatureValues, Features, SideFeatures, SideSummary, TableStats,
    NO_FEATURES,
};
pub use features::{
    ColumnSpec, FeatureNames, FeatureTableSpec, FeatureType, FeaturesSpec, TableFormat,
};
pub use loader::movielens_layout;
pub use matrix::CsrMatrix;
pub use prepare::{Ids, RawLog};
pub use randomised::RandomisedTest;
pub use side::Side;
pub use source::{
    ColumnRef, ColumnsSpec, DataSource, DatasetSpec, FilterSpec, PositiveSpec, RandomTestSpec,
    SyntheticSpec,
};
pub use synthetic::{generate, Preferences};
pub use truth::{inclusion, log_lambda, TrueRelevance};

/// A cleaned interaction log with dense ids, in input order.
#[derive(Debug, Clone, PartialEq)]
pub struct Interactions {
    pub users: Vec<u32>,
    pub items: Vec<u32>,
    pub timestamps: Option<Vec<i64>>,
    pub ratings: Option<Vec<f32>>,
    /// Original id of each dense user id (ids are assigned in sorted order:
    /// numeric when every id is an integer, else lexicographic).
    pub user_labels: Vec<String>,
    pub item_labels: Vec<String>,
    /// Which file each row came from when a split's files were read
    /// (0 train, 1 validation, 2 test); None for a single source.
    pub parts: Option<Vec<u8>>,
}

impl Interactions {
    pub fn n_users(&self) -> usize {
        self.user_labels.len()
    }

    pub fn n_items(&self) -> usize {
        self.item_labels.len()
    }

    pub fn len(&self) -> usize {
        self.users.len()
    }

    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// A content hash: the same cleaned data gives the same fingerprint, so
    /// results and baselines can tell which data they came from.
    pub fn fingerprint(&self) -> String {
        let mut h = Sha256::new();
        h.update((self.n_users() as u64).to_le_bytes());
        h.update((self.n_items() as u64).to_le_bytes());
        for (&u, &i) in self.users.iter().zip(&self.items) {
            h.update(u.to_le_bytes());
            h.update(i.to_le_bytes());
        }
        for t in self.timestamps.iter().flatten() {
            h.update(t.to_le_bytes());
        }
        for r in self.ratings.iter().flatten() {
            h.update(r.to_le_bytes());
        }
        // A split read from files: moving a row between them is other data.
        for p in self.parts.iter().flatten() {
            h.update([*p]);
        }
        hex_prefix(&h.finalize(), 16)
    }
}

pub(crate) fn hex_prefix(bytes: &[u8], chars: usize) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>()
        .chars()
        .take(chars)
        .collect()
}

/// What loading did, for `validate` and the report.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DatasetStats {
    pub source: String,
    pub rows_read: usize,
    pub below_min_rating: usize,
    pub duplicates: usize,
    pub filtered: usize,
    pub users: usize,
    pub items: usize,
    pub interactions: usize,
    pub density: f64,
    /// Gini index of item popularity (0 = every item equally popular).
    pub popularity_gini: f64,
    pub has_timestamps: bool,
    pub fingerprint: String,
}

#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("cannot open {}: {source}", path.display())]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {message}", path.display())]
    Format { path: PathBuf, message: String },
    #[error("{source_name}: {message}")]
    Content {
        source_name: String,
        message: String,
    },
}

/// Loads and cleans the dataset a spec names.
pub fn load(spec: &DatasetSpec) -> Result<(Interactions, DatasetStats), DataError> {
    let (raw, name) = match spec.source {
        DataSource::Synthetic => (generate(&spec.synthetic()), "synthetic".to_string()),
        _ => {
            let path = spec.path.clone().unwrap_or_default();
            (loader::read(spec)?, path.display().to_string())
        }
    };
    prepare::prepare(raw, spec, &name)
}

/// Loads a split made elsewhere: each file (train, validation, test, in
/// that order) read with the dataset's source and column mapping, then
/// cleaned as one log whose rows remember their file
/// ([`Interactions::parts`]).
pub fn load_files(
    spec: &DatasetSpec,
    files: &[(&str, &PathBuf)],
) -> Result<(Interactions, DatasetStats), DataError> {
    let mut logs = Vec::with_capacity(files.len());
    for (name, path) in files {
        let part = match *name {
            "train" => 0u8,
            "validation" => 1,
            _ => 2,
        };
        let one = DatasetSpec {
            path: Some((*path).clone()),
            ..spec.clone()
        };
        logs.push((part, loader::read(&one)?));
    }
    let name = files
        .iter()
        .map(|(_, p)| p.display().to_string())
        .collect::<Vec<_>>()
        .join(" + ");
    prepare::prepare(RawLog::concat(logs), spec, &name)
}
