//! The experiment spec: what a user writes in YAML, validated into typed
//! sections with every default filled in.
//!
//! Parsing is section by section (see `parse`) so that a spec with several
//! mistakes reports all of them, each with its file, line, column and key path,
//! instead of stopping at the first one as plain serde would.

mod error;
mod location;
mod parse;
pub mod schema;

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_yaml::Mapping;

use crate::describe::Issues;
use crate::eval::{check_head_share, Family, MetricId, MetricKind, Need};
use crate::models::ModelKind;
use crate::stats::{Correction, TestKind};

pub use error::{SpecError, SpecIssue};
pub use location::{Position, PositionIndex};
pub use parse::{parse_spec_with, read_spec, Override};

// The sections owned by the modules that act on them, re-exported so a spec
// reads as one vocabulary.
pub use crate::data::{
    ColumnRef, ColumnsSpec, DataSource, DatasetSpec, FilterSpec, PositiveSpec, RandomTestSpec,
    SyntheticSpec,
};
pub use crate::eval::{Protocol, Protocols, Sampler};
pub use crate::simulation::SimulationSpec;
pub use crate::split::{SplitMethod, SplitSpec, Validation};

/// The base seed of a spec that names none.
pub const DEFAULT_SEED: u64 = 42;

/// A validated experiment spec with defaults filled.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub name: String,
    /// The question the experiment answers, in one sentence: the report
    /// opens with it, then its answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub question: Option<String>,
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
    /// The feedback-loop simulation (docs/simulation.md); None runs none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub simulation: Option<SimulationSpec>,
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

    /// Configurations model `index` may try under a random or TPE search:
    /// its own `trials`, else the sweep's; None for a grid (its product).
    pub fn budget(&self, index: usize) -> Option<usize> {
        let sweep = self.sweep.random.as_ref().map(|r| r.samples).or(self
            .sweep
            .tpe
            .as_ref()
            .map(|t| t.trials))?;
        Some(self.models[index].trials.unwrap_or(sweep))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
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
    /// Item propensities for the debiased metrics (ips_*, snips_*).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub propensity: Option<crate::eval::PropensitySpec>,
}

impl EvaluationSpec {
    /// Whether `m` is among what this section evaluates: one of its
    /// metrics at one of its cutoffs (or without one, for auc).
    pub fn evaluates(&self, m: MetricId) -> bool {
        self.metrics.contains(&m.kind) && (!m.kind.has_cutoff() || self.cutoffs.contains(&m.k))
    }

    fn default_cutoffs() -> Vec<usize> {
        crate::eval::DEFAULT_CUTOFFS.to_vec()
    }
    fn default_metrics() -> Vec<MetricKind> {
        MetricKind::DEFAULT.to_vec()
    }
    fn default_head_share() -> f64 {
        crate::eval::DEFAULT_HEAD_SHARE
    }
    fn default_block_users() -> usize {
        256
    }
    /// Problems of the section alone, each as (key path, message); the
    /// dataset's source decides whether truth metrics are defined.
    pub fn issues(&self, source: Option<DataSource>) -> Issues {
        let mut out = Issues::default();
        if self.cutoffs.is_empty() {
            out.push(
                "evaluation.cutoffs",
                "empty list: give at least one K, e.g. [10, 20]",
            );
        }
        for (i, k) in self.cutoffs.iter().enumerate() {
            if *k == 0 {
                out.push(
                    format!("evaluation.cutoffs[{i}]"),
                    "cutoff 0 is out of range; K must be ≥ 1",
                );
            } else if self.cutoffs[..i].contains(k) {
                out.push(
                    format!("evaluation.cutoffs[{i}]"),
                    format!("cutoff {k} is listed twice"),
                );
            }
        }
        if self.metrics.is_empty() {
            out.push(
                "evaluation.metrics",
                "empty list: give at least one metric, e.g. [ndcg, recall]",
            );
        }
        for (i, m) in self.metrics.iter().enumerate() {
            if self.metrics[..i].contains(m) {
                out.push(
                    format!("evaluation.metrics[{i}]"),
                    format!("`{}` is listed twice", m.as_str()),
                );
                continue;
            }
            let fix = match m.needs() {
                Some(Need::Pipeline) => Some("leave it out of evaluation.metrics".to_string()),
                Some(Need::Propensities) if self.propensity.is_none() => Some(
                    "add an evaluation.propensity block, e.g. `propensity: {exponent: 0.5}`".into(),
                ),
                Some(Need::TruePreferences) => source
                    .filter(|s| *s != DataSource::Synthetic)
                    .map(|s| format!("a `{}` log has none", s.as_str())),
                _ => None,
            };
            if let (Some(need), Some(fix)) = (m.needs(), fix) {
                out.push(
                    format!("evaluation.metrics[{i}]"),
                    format!("`{}` {}; {fix}", m.as_str(), need.why()),
                );
            }
        }
        if let Some(p) = &self.propensity {
            for (key, message) in p.issues() {
                out.push(format!("evaluation.propensity.{key}"), message);
            }
            if !self.metrics.iter().any(|m| m.family() == Family::Debiased) {
                out.push("evaluation.propensity",
                    "no debiased metric uses it: add ips_recall, ips_ndcg, snips_recall, snips_ndcg or pooled_snips_recall to evaluation.metrics",
                );
            }
        }
        if let Err(message) = check_head_share(self.head_share) {
            out.push("evaluation.head_share", message);
        }
        if self.block_users == 0 {
            out.push("evaluation.block_users", "must be at least 1");
        }
        out
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
            propensity: None,
        }
    }
}

/// One model of the experiment, with its fixed params and optional sweep
/// values that replace the top-level grid's for this model.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelEntry {
    pub model: ModelKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The model's params (`recsweep list models`); the schema's
    /// per-model rules name each one.
    #[serde(default)]
    #[schemars(with = "serde_json::Map<String, serde_json::Value>")]
    pub params: Mapping,
    /// Param name → the values this model tries (a grid), or a
    /// distribution (random and TPE search).
    #[serde(default, skip_serializing_if = "Mapping::is_empty")]
    #[schemars(schema_with = "model_sweep_schema")]
    pub sweep: Mapping,
    /// This model's own search budget in configurations, replacing
    /// `sweep.random.samples` or `sweep.tpe.trials`: explicit, and shown as
    /// the model's own in the report's Tuning section.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trials: Option<usize>,
}

fn model_sweep_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let distribution = generator.subschema_for::<Distribution>();
    schemars::json_schema!({
        "type": "object",
        "additionalProperties": {"anyOf": [{"type": "array"}, distribution]},
    })
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SweepSpec {
    /// Knob or param name → values; the trials are their cartesian product.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, Vec<serde_json::Value>>")]
    pub grid: Mapping,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub random: Option<RandomSearch>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tpe: Option<TpeSearch>,
    /// Successive halving over training epochs (docs/spec.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fidelity: Option<Fidelity>,
    /// Repetitions with different training seeds (stochastic models only).
    #[serde(default = "one")]
    pub seeds: usize,
}

impl Default for SweepSpec {
    fn default() -> Self {
        Self {
            grid: Mapping::new(),
            random: None,
            tpe: None,
            fidelity: None,
            seeds: 1,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RandomSearch {
    pub samples: usize,
    /// Knob or param name → distribution.
    #[schemars(with = "BTreeMap<String, Distribution>")]
    pub space: Mapping,
}

/// Tree-structured Parzen estimator search (Bergstra et al. 2011; Optuna's
/// default sampler): the first `startup` configurations are random search's
/// draws, then rounds of `round` configurations, each proposed from the
/// validation results of every earlier round (docs/spec.md, "TPE search").
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TpeSearch {
    /// Configurations per model, the start-up draws included.
    pub trials: usize,
    /// Random draws before TPE proposes; default min(10, trials), Optuna's
    /// `n_startup_trials`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub startup: Option<usize>,
    /// Configurations proposed per round. A fixed number, not the worker
    /// count, so that the proposals (which see only earlier rounds) are the
    /// same at any thread or shard count.
    #[serde(default = "TpeSearch::default_round")]
    pub round: usize,
    /// Knob or param name → distribution, as for random search.
    #[schemars(with = "BTreeMap<String, Distribution>")]
    pub space: Mapping,
}

impl TpeSearch {
    fn default_round() -> usize {
        4
    }

    /// The number of random start-up configurations.
    pub fn startup(&self) -> usize {
        self.startup.unwrap_or(self.trials.min(10))
    }
}

/// Successive halving (Jamieson & Talwalkar 2016) for models trained in
/// epochs: every configuration trains for the fewest epochs first, and the
/// best 1/eta of each rung, by validation, trains again for eta times as
/// many, up to the most. Synchronous rungs, so the promotions depend on
/// whole rungs only.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Fidelity {
    /// [fewest, most] epochs.
    pub epochs: [u64; 2],
    #[serde(default = "Fidelity::default_eta")]
    pub eta: u64,
}

impl Fidelity {
    fn default_eta() -> u64 {
        3
    }

    /// The epochs of each rung: fewest, fewest·eta, ... below the most,
    /// then the most.
    pub fn rungs(&self) -> Vec<u64> {
        let [fewest, most] = self.epochs;
        let mut rungs = Vec::new();
        let mut e = fewest.max(1);
        while e < most {
            rungs.push(e);
            e = e.saturating_mul(self.eta.max(2));
        }
        rungs.push(most);
        rungs
    }
}

/// One of `uniform: [lo, hi]`, `log_uniform: [lo, hi]`, `int_uniform: [lo, hi]`
/// (inclusive) or `choice: [values]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Distribution {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uniform: Option<[f64; 2]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_uniform: Option<[f64; 2]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub int_uniform: Option<[i64; 2]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<Vec<serde_json::Value>>")]
    pub choice: Option<Vec<serde_yaml::Value>>,
}

/// The most configurations a random or TPE search may try per model: each
/// is a stored trial (times the seeds), and the draws are held in memory.
pub const MAX_CONFIGURATIONS: usize = 100_000;

/// The largest integer magnitude a draw represents exactly (2^53).
const MAX_EXACT_INT: u64 = 1 << 53;

impl Distribution {
    /// Checks that exactly one well-formed distribution is given.
    pub fn check(&self) -> Result<(), String> {
        let d = self;
        let given = [
            d.uniform.is_some(),
            d.log_uniform.is_some(),
            d.int_uniform.is_some(),
            d.choice.is_some(),
        ];
        if given.iter().filter(|&&g| g).count() != 1 {
            return Err("give exactly one of uniform: [lo, hi], log_uniform: [lo, hi], int_uniform: [lo, hi], choice: [values]".into());
        }
        if let Some([lo, hi]) = d.uniform {
            // A width beyond f64 (−1e308 to 1e308) makes every draw infinite.
            if !((hi - lo).is_finite() && lo < hi) {
                return Err(format!(
                    "uniform: [{lo}, {hi}] needs lo < hi, finite and less than 1.8e308 apart"
                ));
            }
        }
        if let Some([lo, hi]) = d.log_uniform {
            if !(lo > 0.0 && hi.is_finite() && lo < hi) {
                return Err(format!("log_uniform: [{lo}, {hi}] needs 0 < lo < hi"));
            }
        }
        if let Some([lo, hi]) = d.int_uniform {
            if lo > hi {
                return Err(format!("int_uniform: [{lo}, {hi}] needs lo ≤ hi"));
            }
            if lo.unsigned_abs().max(hi.unsigned_abs()) > MAX_EXACT_INT {
                return Err(format!(
                    "int_uniform: [{lo}, {hi}] has a bound beyond ±2^53 ({MAX_EXACT_INT}); draws there are not exact"
                ));
            }
        }
        if d.choice.as_ref().is_some_and(Vec::is_empty) {
            return Err("choice: [] is empty".into());
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SelectionSpec {
    /// Chosen on validation, reported on test.
    #[serde(default = "SelectionSpec::default_metric")]
    pub metric: MetricId,
    /// Retrain each selected configuration on train ∪ validation (epoch
    /// models for their selected epoch count) before scoring it on test, as
    /// published protocols without a validation split train on all of train.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub refit: bool,
    /// k validation folds instead of one: each configuration runs at least
    /// k replicates, replicate r validating on fold r mod k, so selection
    /// averages over folds as well as seeds (docs/spec.md, "Validation
    /// folds").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 2, max = 20))]
    pub folds: Option<usize>,
}

impl SelectionSpec {
    /// Most folds a spec may ask for: each is a copy of the split in memory
    /// and at least one trial per configuration.
    pub const MAX_FOLDS: usize = 20;

    /// How many validation parts trials rotate through (1 without folds).
    /// Clamped to 1..=MAX_FOLDS: the sweep expands before the spec's checks
    /// report, and an out-of-range count must neither divide by zero nor
    /// expand without bound on its way to its error.
    pub fn fold_count(&self) -> usize {
        self.folds.unwrap_or(1).clamp(1, Self::MAX_FOLDS)
    }

    /// The fold replicate `replicate` holds out (None without folds).
    pub fn fold_of(&self, replicate: usize) -> Option<usize> {
        self.folds.map(|_| replicate % self.fold_count())
    }

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
            refit: false,
            folds: None,
        }
    }
}

/// Significance testing in reports: which model is the baseline, which test
/// decides, how the family of comparisons is corrected.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
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
        crate::stats::DEFAULT_ALPHA
    }
    fn default_permutations() -> usize {
        crate::stats::DEFAULT_PERMUTATIONS
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
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
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

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
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

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportSpec {
    /// Defaults to `reports/<name>.md`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// SVG figures beside the report; off for reports that must stay a
    /// single file.
    #[serde(default = "yes")]
    pub plots: bool,
    /// Results published on the same data and split, shown beside the
    /// selected models' (what a reproduction is judged against).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub published: Vec<PublishedResult>,
}

impl Default for ReportSpec {
    fn default() -> Self {
        Self {
            path: None,
            plots: true,
            published: Vec::new(),
        }
    }
}

/// One published result: a model's numbers on the spec's data and split as
/// a paper reports them.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishedResult {
    /// The model as the source names it.
    pub model: String,
    /// Where the numbers are printed: paper and table.
    pub source: String,
    /// Test values by metric at a cutoff (`recall@20: 0.1830`), each one
    /// recsweep evaluates, so the rows compare like with like.
    pub metrics: BTreeMap<MetricId, f64>,
}

fn one() -> usize {
    1
}

fn yes() -> bool {
    true
}
