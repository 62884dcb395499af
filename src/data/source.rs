//! Where interactions come from, as a spec's `dataset` section says: a file
//! (MovieLens, CSV/TSV/Parquet with a column mapping) or the synthetic
//! generator, and the cleaning applied after loading.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Where interactions come from. One flat struct (not an enum per source) so
/// that serde reports errors at the exact key; `check` says which keys apply
/// to which source.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DatasetSpec {
    pub source: DataSource,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub separator: Option<char>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub columns: Option<ColumnsSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub positive: Option<PositiveSpec>,
    #[serde(default)]
    pub filter: FilterSpec,
    /// User and item feature tables (any source; see [`FeaturesSpec`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub features: Option<super::FeaturesSpec>,
    /// Synthetic source only (see [`SyntheticSpec`] for meanings and defaults).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub users: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interactions: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub popularity_exponent: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latent_dim: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exposure_bias: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// A randomised-exposure test set beside the log, which
    /// `evaluation.protocol: [..., randomised]` ranks: drawn by the
    /// generator, or read from a file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub random_test: Option<RandomTestSpec>,
}

/// `dataset.random_test` (docs/metrics.md, "Randomised exposure").
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Hash, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RandomTestSpec {
    /// Synthetic source: each user is shown this many items drawn uniformly
    /// from the catalogue, and takes each with its
    /// true relevance as probability, as Yahoo! R3's survey users rated
    /// randomly shown songs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items_per_user: Option<usize>,
    /// File sources: the ratings of randomly shown items (Yahoo! R3's
    /// test file, Coat's test.ascii), read like the dataset; positives are
    /// the ratings ≥ `positive.min_rating`, every other row a negative.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
}

impl DatasetSpec {
    /// The generator settings of a synthetic source, defaults filled.
    pub fn synthetic(&self) -> SyntheticSpec {
        let d = SyntheticSpec::default();
        SyntheticSpec {
            users: self.users.unwrap_or(d.users),
            items: self.items.unwrap_or(d.items),
            interactions: self.interactions.unwrap_or(d.interactions),
            popularity_exponent: self.popularity_exponent.unwrap_or(d.popularity_exponent),
            latent_dim: self.latent_dim.unwrap_or(d.latent_dim),
            affinity: self.affinity.unwrap_or(d.affinity),
            exposure_bias: self.exposure_bias.unwrap_or(d.exposure_bias),
            seed: self.seed.unwrap_or(d.seed),
        }
    }

    /// Writes every synthetic default back, so the stored spec says exactly
    /// what was generated; all but `exposure_bias`, whose default 0 is
    /// written only when given, so specs from before it keep their context
    /// (and stored trials).
    pub fn fill_synthetic_defaults(&mut self) {
        let s = self.synthetic();
        self.users = Some(s.users);
        self.items = Some(s.items);
        self.interactions = Some(s.interactions);
        self.popularity_exponent = Some(s.popularity_exponent);
        self.latent_dim = Some(s.latent_dim);
        self.affinity = Some(s.affinity);
        self.seed = Some(s.seed);
    }
}

#[derive(
    Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum DataSource {
    Movielens,
    Csv,
    Tsv,
    Parquet,
    /// Adjacency lists, one line per user: `user item item ...` (the
    /// NGCF/LightGCN benchmark files).
    Adjacency,
    /// A dense user × item rating matrix, one whitespace-separated line per
    /// user, 0 = unobserved (the layout of Coat's train.ascii and test.ascii).
    Dense,
    #[default]
    Synthetic,
}

impl DataSource {
    pub fn as_str(self) -> &'static str {
        match self {
            DataSource::Movielens => "movielens",
            DataSource::Csv => "csv",
            DataSource::Tsv => "tsv",
            DataSource::Parquet => "parquet",
            DataSource::Adjacency => "adjacency",
            DataSource::Dense => "dense",
            DataSource::Synthetic => "synthetic",
        }
    }
}

/// Which columns of a generic log hold what. A column is named by its header
/// or, in a file without header, by its 0-based position.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ColumnsSpec {
    pub user: ColumnRef,
    pub item: ColumnRef,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rating: Option<ColumnRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<ColumnRef>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(untagged)]
pub enum ColumnRef {
    Index(usize),
    Name(String),
}

impl std::fmt::Display for ColumnRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ColumnRef::Index(i) => write!(f, "column {i}"),
            ColumnRef::Name(n) => write!(f, "column `{n}`"),
        }
    }
}

/// Turns explicit ratings into implicit positives.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PositiveSpec {
    pub min_rating: f64,
}

/// k-core style filtering, applied repeatedly until every user and item meets
/// its minimum (one pass can push others below theirs).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FilterSpec {
    #[serde(default = "one")]
    pub min_user_interactions: usize,
    #[serde(default = "one")]
    pub min_item_interactions: usize,
}

impl Default for FilterSpec {
    fn default() -> Self {
        Self {
            min_user_interactions: 1,
            min_item_interactions: 1,
        }
    }
}

/// The embedded dataset: latent factors plus Zipf-like item popularity.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntheticSpec {
    pub users: usize,
    pub items: usize,
    pub interactions: usize,
    /// Item popularity ∝ rank^(−exponent); 0 = uniform.
    pub popularity_exponent: f64,
    /// Dimension of the hidden user/item factors that generate preferences.
    pub latent_dim: usize,
    /// How strongly the factors (rather than popularity alone) drive choices.
    pub affinity: f64,
    /// Exposure bias of the log, apart from the true preferences: the system
    /// that collected it showed item i ∝ rank_i^(−exposure_bias), and users
    /// log only what they were shown, so the log's popularity skew exceeds
    /// their preferences'. 0 = users saw everything.
    pub exposure_bias: f64,
    pub seed: u64,
}

impl SyntheticSpec {
    fn default_users() -> usize {
        5000
    }
    fn default_items() -> usize {
        2000
    }
    fn default_interactions() -> usize {
        200_000
    }
    fn default_exponent() -> f64 {
        1.0
    }
    fn default_latent_dim() -> usize {
        16
    }
    fn default_affinity() -> f64 {
        2.0
    }
    fn default_seed() -> u64 {
        7
    }
}

impl Default for SyntheticSpec {
    fn default() -> Self {
        Self {
            users: Self::default_users(),
            items: Self::default_items(),
            interactions: Self::default_interactions(),
            popularity_exponent: Self::default_exponent(),
            latent_dim: Self::default_latent_dim(),
            affinity: Self::default_affinity(),
            exposure_bias: 0.0,
            seed: Self::default_seed(),
        }
    }
}

fn one() -> usize {
    1
}
