//! The experiment spec: what a user writes in YAML, validated into typed
//! sections with every default filled in.
//!
//! Parsing is section by section (see `parse`) so that a spec with several
//! mistakes reports all of them, each with its file, line, column and key path,
//! instead of stopping at the first one as plain serde would.

mod error;
mod location;
mod parse;
mod protocol;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_yaml::Mapping;

use crate::eval::{MetricId, MetricKind};
use crate::models::ModelKind;
use crate::stats::{Correction, TestKind};

pub use error::{describe_serde_error, did_you_mean, SpecError, SpecIssue};
pub use location::{Position, PositionIndex};
pub use parse::{load_spec, parse_spec, Override};
pub use protocol::{Protocol, Protocols, Sampler};

/// A validated experiment spec with defaults filled.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub name: String,
    pub seed: u64,
    pub dataset: DatasetSpec,
    // Defaults let results stored before a section existed still be read.
    #[serde(default)]
    pub split: SplitSpec,
    #[serde(default)]
    pub evaluation: EvaluationSpec,
    pub models: Vec<ModelEntry>,
    #[serde(default)]
    pub sweep: SweepSpec,
    #[serde(default)]
    pub selection: SelectionSpec,
    #[serde(default)]
    pub compare: CompareSpec,
    #[serde(default)]
    pub check: CheckSpec,
    #[serde(default)]
    pub report: ReportSpec,
}

impl Spec {
    /// The display name of model entry `index`: its `name`, else its kind.
    pub fn model_name(&self, index: usize) -> String {
        let entry = &self.models[index];
        entry
            .name
            .clone()
            .unwrap_or_else(|| entry.model.as_str().to_string())
    }
}

/// Where interactions come from. One flat struct (not an enum per source) so
/// that serde reports errors at the exact key; `check` says which keys apply
/// to which source.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
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
    pub seed: Option<u64>,
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
            seed: self.seed.unwrap_or(d.seed),
        }
    }

    /// Writes every synthetic default back, so the stored spec says exactly
    /// what was generated.
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

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum DataSource {
    Movielens,
    Csv,
    Tsv,
    Parquet,
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
            DataSource::Synthetic => "synthetic",
        }
    }
}

/// Which columns of a generic log hold what. A column is named by its header
/// or, in a file without header, by its 0-based position.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ColumnsSpec {
    pub user: ColumnRef,
    pub item: ColumnRef,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rating: Option<ColumnRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<ColumnRef>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
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
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PositiveSpec {
    pub min_rating: f64,
}

/// k-core style filtering, applied repeatedly until every user and item meets
/// its minimum (one pass can push others below theirs).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
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
            seed: Self::default_seed(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SplitSpec {
    #[serde(default)]
    pub method: SplitMethod,
    /// Share of each user's (random_holdout) or of all (temporal) interactions
    /// held out; leave_one_out holds out exactly one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_fraction: Option<f64>,
    /// Carve a validation split from train the same way; selection uses it.
    #[serde(default = "yes")]
    pub validation: bool,
}

impl Default for SplitSpec {
    fn default() -> Self {
        Self {
            method: SplitMethod::LeaveOneOut,
            test_fraction: None,
            validation: true,
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum SplitMethod {
    #[default]
    LeaveOneOut,
    RandomHoldout,
    Temporal,
}

impl SplitMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            SplitMethod::LeaveOneOut => "leave_one_out",
            SplitMethod::RandomHoldout => "random_holdout",
            SplitMethod::Temporal => "temporal",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EvaluationSpec {
    /// Full ranking by default. Sampled-negative protocols can order models
    /// wrongly (Krichene & Rendle 2020); they exist to reproduce papers.
    #[serde(default)]
    pub protocol: Protocols,
    #[serde(default = "EvaluationSpec::default_cutoffs")]
    pub cutoffs: Vec<usize>,
    #[serde(default = "EvaluationSpec::default_metrics")]
    pub metrics: Vec<MetricKind>,
    /// Share of train interactions that the head (most popular items) holds;
    /// every other item is long tail (aplt). Elliot's `pop_ratio`.
    #[serde(default = "EvaluationSpec::default_head_share")]
    pub head_share: f64,
    /// Users scored together in one block; bounds memory to
    /// threads × block_users × items scores. Results do not depend on it.
    #[serde(default = "EvaluationSpec::default_block_users")]
    pub block_users: usize,
}

impl EvaluationSpec {
    fn default_cutoffs() -> Vec<usize> {
        vec![10, 20, 50]
    }
    fn default_metrics() -> Vec<MetricKind> {
        MetricKind::DEFAULT.to_vec()
    }
    fn default_head_share() -> f64 {
        0.8
    }
    fn default_block_users() -> usize {
        256
    }
    /// The largest cutoff: the length of the top-K list that is computed once
    /// per user and cut for every smaller K.
    pub fn max_cutoff(&self) -> usize {
        self.cutoffs.iter().copied().max().unwrap_or(0)
    }
}

impl Default for EvaluationSpec {
    fn default() -> Self {
        Self {
            protocol: Protocols::default(),
            cutoffs: Self::default_cutoffs(),
            metrics: Self::default_metrics(),
            head_share: Self::default_head_share(),
            block_users: Self::default_block_users(),
        }
    }
}

/// One model of the experiment, with its fixed params and optional sweep
/// values that replace the top-level grid's for this model.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ModelEntry {
    pub model: ModelKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default)]
    pub params: Mapping,
    #[serde(default, skip_serializing_if = "Mapping::is_empty")]
    pub sweep: Mapping,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SweepSpec {
    /// Knob or param name → values; the trials are their cartesian product.
    #[serde(default)]
    pub grid: Mapping,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub random: Option<RandomSearch>,
    /// Repetitions with different training seeds (stochastic models only).
    #[serde(default = "one")]
    pub seeds: usize,
}

impl Default for SweepSpec {
    fn default() -> Self {
        Self {
            grid: Mapping::new(),
            random: None,
            seeds: 1,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RandomSearch {
    pub samples: usize,
    /// Knob or param name → distribution.
    pub space: Mapping,
}

/// One of `uniform: [lo, hi]`, `log_uniform: [lo, hi]`, `int_uniform: [lo, hi]`
/// (inclusive) or `choice: [values]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct Distribution {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uniform: Option<[f64; 2]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_uniform: Option<[f64; 2]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub int_uniform: Option<[i64; 2]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub choice: Option<Vec<serde_yaml::Value>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SelectionSpec {
    /// Chosen on validation, reported on test.
    #[serde(default = "SelectionSpec::default_metric")]
    pub metric: MetricId,
}

impl SelectionSpec {
    fn default_metric() -> MetricId {
        MetricId {
            kind: MetricKind::Ndcg,
            k: 10,
        }
    }
}

impl Default for SelectionSpec {
    fn default() -> Self {
        Self {
            metric: Self::default_metric(),
        }
    }
}

/// Significance testing in reports: which model is the baseline, which test
/// decides, how the family of comparisons is corrected.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CompareSpec {
    /// A model name; every selected configuration is compared with it.
    /// Defaults to `most_pop` when the spec has a model of that name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<String>,
    #[serde(default)]
    pub test: TestKind,
    #[serde(default)]
    pub correction: Correction,
    #[serde(default = "CompareSpec::default_alpha")]
    pub alpha: f64,
    /// Sign flips of the permutation test.
    #[serde(default = "CompareSpec::default_permutations")]
    pub permutations: usize,
}

impl CompareSpec {
    fn default_alpha() -> f64 {
        0.05
    }
    fn default_permutations() -> usize {
        10_000
    }
}

impl Default for CompareSpec {
    fn default() -> Self {
        Self {
            baseline: None,
            test: TestKind::PairedT,
            correction: Correction::Holm,
            alpha: Self::default_alpha(),
            permutations: Self::default_permutations(),
        }
    }
}

/// The CI gate (`recsweep check`): which metrics of each model's selected
/// configuration are tracked, and how large a significant drop must be to
/// fail the build.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CheckSpec {
    /// Default: the selection metric.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<MetricId>,
    #[serde(default)]
    pub test: TestKind,
    #[serde(default)]
    pub correction: Correction,
    #[serde(default = "CompareSpec::default_alpha")]
    pub alpha: f64,
    /// A change smaller than max(absolute, relative × |baseline|) is noise.
    #[serde(default)]
    pub tolerance: Tolerance,
}

impl Default for CheckSpec {
    fn default() -> Self {
        Self {
            metrics: Vec::new(),
            test: TestKind::PairedT,
            correction: Correction::Holm,
            alpha: CompareSpec::default_alpha(),
            tolerance: Tolerance::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Tolerance {
    #[serde(default = "Tolerance::default_absolute")]
    pub absolute: f64,
    #[serde(default = "Tolerance::default_relative")]
    pub relative: f64,
}

impl Tolerance {
    fn default_absolute() -> f64 {
        0.001
    }
    fn default_relative() -> f64 {
        0.01
    }
}

impl Default for Tolerance {
    fn default() -> Self {
        Self {
            absolute: Self::default_absolute(),
            relative: Self::default_relative(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ReportSpec {
    /// Defaults to `reports/<name>.md`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// SVG figures beside the report; off for reports that must stay a
    /// single file.
    #[serde(default = "yes")]
    pub plots: bool,
}

impl Default for ReportSpec {
    fn default() -> Self {
        Self {
            path: None,
            plots: true,
        }
    }
}

fn one() -> usize {
    1
}

fn yes() -> bool {
    true
}
