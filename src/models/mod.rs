//! Models behind two small traits: a validated configuration fits on a split
//! ([`ModelConfig`]) and yields a scorer ([`Scorer`]) that the evaluator
//! streams users through in blocks.

/// The methods every model's [`ModelConfig`] shares: its params as stored
/// (every default filled), its popularity method, and whether the training
/// seed changes its result (`stochastic: true` repeats it over seeds).
macro_rules! config_basics {
    (stochastic: $stochastic:expr) => {
        fn params(&self) -> serde_yaml::Mapping {
            super::to_mapping(self)
        }

        fn is_stochastic(&self) -> bool {
            $stochastic
        }

        fn popularity(&self) -> &Popularity {
            &self.popularity
        }
    };
}

#[macro_use]
mod param_table;
pub mod catalog;
mod dcn;
mod ease;
mod external;
mod factors;
mod features;
#[cfg(test)]
mod gradient_check;
mod ials;
mod itemknn;
mod mf;
mod most_pop;
mod ncf;
mod nn;
mod pipeline;
mod popularity;
mod random;
mod real;
mod reuse;
mod spd_inverse;
mod train;
mod two_tower;

use std::fmt;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_yaml::{Mapping, Value};

use crate::data::{CsrMatrix, FeatureNames, Features, Side};

pub use external::{Extras as ExternalExtras, Job as ExternalJob};
pub use factors::DotProduct;
pub use features::Inputs;
use param_table::shared;
pub use param_table::{Interval, ParamDoc, Rule};
pub use pipeline::{held_out_negative_share, Index};
pub use popularity::{methods_of as popularity_methods, Penalized, Popularity};
pub use reuse::Reuse;
pub use train::{EpochLog, Fitted, Monitor, TrainingCurve};

/// `$body` with `$p` the params struct of model kind `$kind`: the one table
/// from a kind to the type its params deserialize into.
macro_rules! with_params {
    ($kind:expr, $p:ident => $body:expr) => {
        match $kind {
            ModelKind::MostPop => {
                type $p = most_pop::MostPopParams;
                $body
            }
            ModelKind::Random => {
                type $p = random::RandomParams;
                $body
            }
            ModelKind::Itemknn => {
                type $p = itemknn::ItemKnnParams;
                $body
            }
            ModelKind::Ease => {
                type $p = ease::EaseParams;
                $body
            }
            ModelKind::Ials => {
                type $p = ials::IalsParams;
                $body
            }
            ModelKind::Mf => {
                type $p = mf::MfParams;
                $body
            }
            ModelKind::TwoTower => {
                type $p = two_tower::TwoTowerParams;
                $body
            }
            ModelKind::Ncf => {
                type $p = ncf::NcfParams;
                $body
            }
            ModelKind::Dcn => {
                type $p = dcn::DcnParams;
                $body
            }
            ModelKind::Pipeline => {
                type $p = pipeline::PipelineParams;
                $body
            }
            ModelKind::External => {
                type $p = external::ExternalParams;
                $body
            }
        }
    };
}

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    MostPop,
    Random,
    Itemknn,
    Ease,
    Ials,
    Mf,
    TwoTower,
    Ncf,
    Dcn,
    Pipeline,
    External,
}

/// A problem with one param, `key` relative to the model's params.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamIssue {
    pub key: String,
    pub message: String,
}

impl ParamIssue {
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            message: message.into(),
        }
    }
}

/// A param a configuration trains without: every value gives the same
/// model, so sweeping it only repeats a trial.
#[derive(Debug, Clone, PartialEq)]
pub struct Inert {
    /// Its path relative to the model's params (`dropout`,
    /// `ranker.params.dropout`).
    pub param: String,
    /// What it acts on, and why that is absent here.
    pub why: String,
}

impl Inert {
    pub fn new(param: impl Into<String>, why: impl Into<String>) -> Self {
        Self {
            param: param.into(),
            why: why.into(),
        }
    }
}

/// What a model learns from.
pub struct FitInput<'a> {
    /// Train interactions, user × item.
    pub train: &'a CsrMatrix,
    /// n_i: train interactions per item.
    pub item_popularity: &'a [u32],
    pub seed: u64,
    /// Validation metric for loss curves and early stopping; None when the
    /// split has no validation part.
    pub monitor: Option<Monitor<'a>>,
    /// Per-user pools that sampled negatives are drawn from (a pipeline's
    /// retrieved candidates, `ranker_negatives: retrieved`); None draws them
    /// from the catalogue.
    pub negatives: Option<&'a CsrMatrix>,
    /// User and item features ([`crate::data::NO_FEATURES`] when the
    /// dataset has none), aligned with the train matrix's ids.
    pub features: &'a Features,
    /// What an external program needs besides (original ids, users to
    /// recommend for, a work folder): set by the runner for a sweep's
    /// trials; None elsewhere, where an external model cannot fit.
    pub job: Option<&'a ExternalJob<'a>>,
    /// Fitted models shared by the trials of one run (a pipeline's
    /// retriever, fitted once for every N and index); None fits afresh.
    pub reuse: Option<&'a Reuse>,
}

impl<'a> FitInput<'a> {
    /// Interactions alone: no validation monitor, negative pools,
    /// features or external job (what the models' unit tests and
    /// `recsweep bench` fit on).
    pub fn interactions(train: &'a CsrMatrix, item_popularity: &'a [u32], seed: u64) -> Self {
        Self {
            train,
            item_popularity,
            seed,
            monitor: None,
            negatives: None,
            features: &crate::data::NO_FEATURES,
            job: None,
            reuse: None,
        }
    }
}

/// Serving cost of a fitted model.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct ServingCost {
    /// Learned numbers held for scoring.
    pub parameters: u64,
    /// Analytic multiply-adds to score one (average) user against the whole
    /// catalogue.
    pub madds_per_user: u64,
}

/// A fitted model.
pub trait Scorer: Send + Sync {
    /// Writes the scores of `users` for every item, row-major, into `out`
    /// (`users.len() × n_items`). Higher is better. Must not depend on which
    /// other users share the block, so results are block-size independent.
    fn score_block(&self, users: &[u32], out: &mut [f32]);

    fn cost(&self) -> ServingCost;

    /// One user's scores for `items` only, into `out` (as long as `items`).
    /// Models that pay per item scored (ncf, dcn) override it, so that a
    /// ranker on N candidates costs N forward passes; the default scores the
    /// catalogue of `n_items` and picks.
    fn score_items(&self, user: u32, items: &[u32], n_items: usize, out: &mut [f32]) {
        let mut row = vec![0.0; n_items];
        self.score_block(&[user], &mut row);
        for (o, &i) in out.iter_mut().zip(items) {
            *o = row[i as usize];
        }
    }

    /// [`Scorer::score_block`] for users whose items in `exclude` will be
    /// discarded: a pipeline spends its candidates on the other items, as a
    /// served system filters what the user has seen. Single-stage models
    /// score every item and leave the exclusion to the evaluator.
    fn score_block_excluding(&self, users: &[u32], exclude: &[&CsrMatrix], out: &mut [f32]) {
        let _ = exclude;
        self.score_block(users, out);
    }

    /// A staged model's first stage: the evaluator scores it alone too, for
    /// candidate recall, the ranking ceiling and the lift over it.
    fn stages(&self) -> Option<Stages<'_>> {
        None
    }

    /// User factors (users × dim, row-major) of a model whose scores are
    /// exactly their dot products with [`Scorer::item_factors`]: what an
    /// approximate nearest-neighbour index can serve. None for any other
    /// model (a scoring-time penalty included).
    fn user_factors(&self) -> Option<(usize, &[f32])> {
        None
    }

    /// Item embeddings (items × dim, row-major) for models that have them:
    /// for embedding analysis and tests of what the knobs do to them.
    fn item_factors(&self) -> Option<(usize, Vec<f32>)> {
        None
    }
}

/// The first stage of a staged model and how many items it passes on.
pub struct Stages<'a> {
    /// The retriever's exact scores.
    pub retriever: &'a dyn Scorer,
    /// The first stage's cost per user: the retriever's scores over the
    /// catalogue, or, behind an index, its query and the search.
    pub retrieval_cost: ServingCost,
    pub candidates: usize,
    /// The approximate index the candidates come from; None: exact top N.
    pub index: Option<IndexStage<'a>>,
    /// Under `ranker_negatives: retrieved`: each user's candidates given
    /// their train items, which the ranker drew its negatives from.
    pub negative_pools: Option<&'a CsrMatrix>,
}

/// An approximate nearest-neighbour index serving a retriever's factors.
pub struct IndexStage<'a> {
    pub index: &'a dyn crate::ann::MipsIndex,
    /// How widely each search looks (HNSW's ef_search, IVF's probes).
    pub breadth: usize,
    /// The retriever's user factors: the queries.
    pub dim: usize,
    pub queries: &'a [f32],
    /// The index as the spec wrote it, e.g. `hnsw(m=16, ...)`.
    pub description: String,
    /// The build's time; of the trial that built it, where trials that
    /// differ only in N or the breadth share one index ([`Reuse`]).
    pub build_seconds: f64,
}

impl IndexStage<'_> {
    /// One user's candidates: the `n` best items the index returns, never an
    /// item in `excluded` (sorted lists).
    pub fn search(&self, user: u32, excluded: &[&[u32]], n: usize) -> Vec<u32> {
        let q = &self.queries[user as usize * self.dim..(user as usize + 1) * self.dim];
        let skip = |i: u32| excluded.iter().any(|list| list.binary_search(&i).is_ok());
        self.index.search(q, n, self.breadth, &skip)
    }
}

/// A model's validated params, ready to fit.
pub trait ModelConfig: Send + Sync + fmt::Debug {
    /// The params with every default filled, as stored in results.
    fn params(&self) -> Mapping;

    /// Whether the training seed changes the result (seeds repeat only these).
    fn is_stochastic(&self) -> bool;

    fn popularity(&self) -> &Popularity;

    fn fit(&self, input: &FitInput) -> Result<Fitted, ModelError>;

    /// Whether training draws sampled negatives ([`FitInput::negatives`]
    /// pools apply): what `ranker_negatives: retrieved` needs.
    fn samples_negatives(&self) -> bool {
        false
    }

    /// Whether the fitted scorer's scores are exactly user · item factor
    /// dot products ([`Scorer::user_factors`]): what an approximate index
    /// can serve.
    fn scores_by_dot_product(&self) -> bool {
        false
    }

    /// What a feature-taking model reads (its `ids` and `features`
    /// params); None for models of interactions alone.
    fn inputs(&self) -> Option<Inputs<'_>> {
        None
    }

    /// Problems with what the model reads, given the dataset's feature
    /// columns: a name no table has, a side left with no input.
    fn input_issues(&self, names: &FeatureNames) -> Vec<ParamIssue> {
        self.inputs()
            .map(|inputs| inputs.issues(names))
            .unwrap_or_default()
    }

    /// Whether the model gives entities of `side` with no train interaction
    /// scores of their own (from their features, or by not needing the
    /// entity at all): what a cold-start split of that side evaluates.
    fn scores_cold(&self, side: Side, names: &FeatureNames) -> bool {
        self.inputs()
            .is_some_and(|inputs| inputs.reads(names.side(side)))
    }

    /// Params this configuration trains without (dropout with no dense
    /// layer, temperature without a softmax), given the dataset's feature
    /// columns. Only what the params alone prove: a knob said to have no
    /// effect never does, though one not listed may still change nothing.
    fn inert(&self, _names: &FeatureNames) -> Vec<Inert> {
        Vec::new()
    }

    /// Values that pass the range checks but leave the model degenerate
    /// (every user gets the same list, or lists in item-id order): shown by
    /// `validate` and in the report, since such a trial fails silently.
    fn warnings(&self) -> Vec<String> {
        self.popularity().warning().into_iter().collect()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("{model}: {message}")]
    Numerical {
        model: &'static str,
        message: String,
    },
    /// The data does not give the model what its params ask to read.
    #[error("{0}")]
    Input(String),
    /// An external program failed, or wrote what cannot be scored.
    #[error("{0}")]
    External(String),
}

impl ModelKind {
    pub const ALL: [ModelKind; 11] = [
        ModelKind::MostPop,
        ModelKind::Random,
        ModelKind::Itemknn,
        ModelKind::Ease,
        ModelKind::Ials,
        ModelKind::Mf,
        ModelKind::TwoTower,
        ModelKind::Ncf,
        ModelKind::Dcn,
        ModelKind::Pipeline,
        ModelKind::External,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ModelKind::MostPop => "most_pop",
            ModelKind::Random => "random",
            ModelKind::Itemknn => "itemknn",
            ModelKind::Ease => "ease",
            ModelKind::Ials => "ials",
            ModelKind::Mf => "mf",
            ModelKind::TwoTower => "two_tower",
            ModelKind::Ncf => "ncf",
            ModelKind::Dcn => "dcn",
            ModelKind::Pipeline => "pipeline",
            ModelKind::External => "external",
        }
    }

    /// Parses and range-checks params; the returned config holds every default.
    pub fn configure(self, params: &Mapping) -> Result<Box<dyn ModelConfig>, Vec<ParamIssue>> {
        with_params!(self, P => configure::<P>(params))
    }

    /// The JSON Schema of this model's params, derived from the struct
    /// `configure` deserializes them into (`recsweep schema`).
    pub fn params_schema(self, generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        with_params!(self, P => generator.subschema_for::<P>())
    }

    /// The params with every default, as a spec would write them.
    pub fn defaults(self) -> Mapping {
        if self == ModelKind::External {
            // Its command has no default, so the empty params do not
            // validate; the other keys do have one.
            return to_mapping(&external::ExternalParams::default());
        }
        self.configure(&Mapping::new())
            .expect("defaults are valid")
            .params()
    }

    /// Every param with its rule and meaning: what `recsweep list models`,
    /// the schema and docs/spec.md say of it.
    pub fn param_docs(self) -> &'static [ParamDoc] {
        with_params!(self, P => <P as Declared>::DOCS)
    }

    /// Every param this model has: the knobs a sweep can set on it.
    pub fn param_keys(self) -> Vec<String> {
        self.defaults()
            .keys()
            .filter_map(|k| k.as_str().map(str::to_string))
            .collect()
    }

    /// The params a sweep knob `key` with `value` sets on an entry of this
    /// model whose params are `params` (as written): the key itself when it
    /// is a param (popularity only with a method the model implements); a
    /// dotted key (`retriever.params.dim`, `popularity.beta`) when its first
    /// part is one; for a pipeline, the stages that have the key. Empty:
    /// the knob does not apply.
    pub fn knob_paths(self, params: &Mapping, key: &str, value: &Value) -> Vec<String> {
        let head = key.split('.').next().unwrap_or(key);
        // An external program's params are its own: it takes the knob
        // families and any key its params name (with a default there).
        let external = self == ModelKind::External
            && (catalog::KNOBS.iter().any(|(k, _)| *k == head) || params.contains_key(head));
        let takes = external || self.param_keys().iter().any(|k| k == head);
        if key.contains('.') {
            return if takes {
                vec![key.to_string()]
            } else {
                Vec::new()
            };
        }
        if takes {
            let supported = key != "popularity"
                || serde_yaml::from_value::<Popularity>(value.clone())
                    .map_or(true, |p| self.supports_popularity(p.method()));
            return if supported {
                vec![key.to_string()]
            } else {
                Vec::new()
            };
        }
        match self {
            ModelKind::Pipeline => pipeline::stage_paths(params, key, value),
            _ => Vec::new(),
        }
    }

    /// Whether an entry of this model with `params` runs an external
    /// program: it is one, or a pipeline with one as a stage.
    pub fn runs_external(self, params: &Mapping) -> bool {
        match self {
            ModelKind::External => true,
            ModelKind::Pipeline => ["retriever", "ranker"].iter().any(|stage| {
                params
                    .get(*stage)
                    .and_then(|s| s.get("model"))
                    .and_then(Value::as_str)
                    == Some(ModelKind::External.as_str())
            }),
            _ => false,
        }
    }

    /// Whether this model implements popularity method `method` (the table
    /// in [`popularity::methods_of`]).
    pub fn supports_popularity(self, method: &str) -> bool {
        popularity::methods_of(self).contains(&method)
    }
}

/// A params struct's declarations ([`param_table!`] writes this impl;
/// external's, whose own params are the program's, is written by hand).
trait Declared {
    /// Every param with its rule and meaning, in the order the struct
    /// serializes them.
    const DOCS: &'static [ParamDoc];

    /// The params' values, in [`Declared::DOCS`]'s order.
    fn values(&self) -> Vec<&dyn std::any::Any>;

    /// Each param against its own rule.
    fn rule_issues(&self) -> Vec<ParamIssue> {
        Self::DOCS
            .iter()
            .zip(self.values())
            .filter_map(|(doc, value)| doc.issue(value))
            .collect()
    }
}

/// Params of one model: serde for the shape, [`Declared`] for each
/// param's range, `check` for rules across params.
trait Params: Declared + ModelConfig + DeserializeOwned + Serialize + Default + 'static {
    const KIND: ModelKind;

    /// Problems no single param's rule sees, as (key, message).
    fn check(&self) -> Vec<ParamIssue> {
        Vec::new()
    }
}

fn configure<P: Params>(params: &Mapping) -> Result<Box<dyn ModelConfig>, Vec<ParamIssue>> {
    let value = Value::Mapping(params.clone());
    let parsed: P = serde_path_to_error::deserialize(value.clone()).map_err(|e| {
        let (key, message) = crate::describe::describe_serde_error_in::<P>("", &e, &value);
        // A value of the wrong type: say what the param takes.
        let rule = P::DOCS
            .iter()
            .find(|d| {
                d.param == key && !message.contains("unknown") && !message.contains("one of:")
            })
            .map_or(String::new(), |d| format!("; {key} takes {}", d.rule));
        vec![ParamIssue {
            key,
            message: message + &rule,
        }]
    })?;
    let mut issues = parsed.rule_issues();
    issues.extend(parsed.check());
    let popularity = parsed.popularity();
    if !P::KIND.supports_popularity(popularity.method()) {
        issues.push(ParamIssue {
            key: "popularity.method".into(),
            message: format!(
                "{} does not implement popularity method `{}`",
                P::KIND.as_str(),
                popularity.method()
            ),
        });
    } else if let Err(issue) = popularity.check() {
        issues.push(ParamIssue::new(
            format!("popularity.{}", issue.key),
            issue.message,
        ));
    }
    if issues.is_empty() {
        Ok(Box::new(parsed))
    } else {
        Err(issues)
    }
}

fn to_mapping<P: Serialize>(params: &P) -> Mapping {
    match serde_yaml::to_value(params) {
        Ok(Value::Mapping(m)) => m,
        _ => unreachable!("params structs serialize to mappings"),
    }
}

/// Largest `dim` and layer width: wider than recommenders use (DLRM's
/// widest layers are 1,024), yet small enough that the allocation they
/// drive cannot abort the process (a typo of 1e12 asks for terabytes)
/// and the report's PCA map of the item vectors stays seconds.
const MAX_WIDTH: usize = 4_096;
/// Largest `epochs` or `iterations`: the per-epoch log grows with them,
/// and no fit needs more.
const MAX_EPOCHS: usize = 10_000;
/// Largest sampled `negatives` per positive (NCF uses 4; 1,000 is a
/// full softmax's worth on a small catalogue): batches grow with it.
const MAX_NEGATIVES: usize = 1_000;
/// Largest `cross_layers` of DCN (the paper uses 1–6).
const MAX_CROSS_LAYERS: usize = 64;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_list_their_keys() {
        for kind in ModelKind::ALL {
            // A pipeline's stages carry its popularity methods.
            assert_eq!(
                kind.param_keys().contains(&"popularity".to_string()),
                kind != ModelKind::Pipeline,
                "{kind:?}"
            );
        }
        assert!(ModelKind::Ease.param_keys().contains(&"l2".to_string()));
    }

    /// A rule of another type than its field would never fire
    /// ([`Rule`]'s checks read the value's type).
    #[test]
    fn every_rule_reads_its_fields_type() {
        fn fit<P: Declared + Default>() {
            let p = P::default();
            let values = p.values();
            assert_eq!(values.len(), P::DOCS.len());
            for (doc, value) in P::DOCS.iter().zip(values) {
                assert!(doc.fits(value), "{}: {:?}", doc.param, doc.rule);
            }
        }
        for kind in ModelKind::ALL {
            with_params!(kind, P => fit::<P>());
        }
    }

    #[test]
    fn bad_params_name_the_key() {
        let params: Mapping = serde_yaml::from_str("{l2: -1.0}").unwrap();
        let issues = ModelKind::Ease.configure(&params).unwrap_err();
        assert_eq!(issues[0].key, "l2");
        let params: Mapping = serde_yaml::from_str("{neighbours: 5}").unwrap();
        let issues = ModelKind::Itemknn.configure(&params).unwrap_err();
        assert_eq!(issues[0].key, "neighbours");
        assert!(
            issues[0].message.contains("did you mean `neighbors`"),
            "{}",
            issues[0].message
        );
        let params: Mapping =
            serde_yaml::from_str("{popularity: {method: logq, alpha: 1.0}}").unwrap();
        let issues = ModelKind::MostPop.configure(&params).unwrap_err();
        assert_eq!(issues[0].key, "popularity.method");
    }
}
