//! Two-stage pipelines: a retriever picks each user's N best items among
//! those not yet seen, a ranker orders only those N. This is how dot-product
//! retrieval and expressive rankers (NCF, DCN) are served together, since
//! scoring the whole catalogue with an MLP costs |I| forward passes per user.
//!
//! The pipeline is a model like any other, so every metric, test and report
//! section applies to its final lists; its [`Scorer::stages`] lets the
//! evaluator score the retriever alone as well (candidate recall, the
//! ceiling a perfect ranker would reach, the ranker's lift).

use std::sync::Arc;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use serde_yaml::{Mapping, Value};

use super::reuse::timed_build;
use super::{
    FitInput, Fitted, IndexStage, Inert, ModelConfig, ModelError, ModelKind, ParamDoc, ParamIssue,
    Params, Penalized, Popularity, Rule, Scorer, ServingCost, Stages,
};
use crate::ann::{Hnsw, HnswParams, Ivf, IvfParams, MipsIndex, MAX_LINKS};
use crate::data::CsrMatrix;
use crate::data::{FeatureNames, Side};
use crate::format::describe_value;
use crate::topk::best_k;

/// One stage: a model and its params, as a spec's model entry writes them.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Stage {
    pub model: ModelKind,
    #[serde(default)]
    #[schemars(with = "serde_json::Map<String, serde_json::Value>")]
    pub params: Mapping,
}

impl Stage {
    fn of(model: ModelKind) -> Self {
        Self {
            model,
            params: Mapping::new(),
        }
    }

    fn configure(&self) -> Result<Box<dyn ModelConfig>, Vec<ParamIssue>> {
        self.model.configure(&self.params)
    }
}

/// How the retriever's candidates are found: `exact`, `{hnsw: {...}}` or
/// `{ivf: {...}}`. Read by hand from the YAML value (as `Protocol` is):
/// serde_yaml 0.9 would demand `!hnsw` tags for a data-carrying enum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Index {
    /// Every item scored, the N best kept: what an index approximates.
    #[default]
    Exact,
    /// HNSW over the retriever's item factors (crate::ann).
    Hnsw(HnswParams),
    /// IVF-flat: k-means lists, the nearest `probes` scored exactly.
    Ivf(IvfParams),
}

/// The index forms, for messages.
const INDEX_FORMS: &str =
    "`exact`, {hnsw: {m, ef_construction, ef_search}} or {ivf: {lists, probes}}";

impl Serialize for Index {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut outer = Mapping::new();
        let mut inner = Mapping::new();
        match *self {
            Index::Exact => return serializer.serialize_str("exact"),
            Index::Hnsw(p) => {
                inner.insert("m".into(), p.m.into());
                inner.insert("ef_construction".into(), p.ef_construction.into());
                inner.insert("ef_search".into(), p.ef_search.into());
                outer.insert("hnsw".into(), Value::Mapping(inner));
            }
            Index::Ivf(p) => {
                inner.insert("lists".into(), p.lists.into());
                inner.insert("probes".into(), p.probes.into());
                outer.insert("ivf".into(), Value::Mapping(inner));
            }
        }
        outer.serialize(serializer)
    }
}

impl schemars::JsonSchema for Index {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Index".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let size = serde_json::json!({"type": "integer", "minimum": 1});
        let form = |name: &str, keys: &[&str]| {
            let fields: serde_json::Map<String, serde_json::Value> =
                keys.iter().map(|k| (k.to_string(), size.clone())).collect();
            serde_json::json!({
                "type": "object",
                "properties": {name: {"type": ["object", "null"], "properties": fields, "additionalProperties": false}},
                "required": [name],
                "additionalProperties": false,
            })
        };
        schemars::json_schema!({
            "description": INDEX_FORMS,
            "anyOf": [
                {"const": "exact"},
                form("hnsw", &["m", "ef_construction", "ef_search"]),
                form("ivf", &["lists", "probes"]),
            ],
        })
    }
}

impl<'de> Deserialize<'de> for Index {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let value = Value::deserialize(deserializer)?;
        let fields = |v: &Value, allowed: &[&str]| -> Result<Mapping, D::Error> {
            let map = match v {
                Value::Mapping(m) => m.clone(),
                Value::Null => Mapping::new(),
                _ => return Err(D::Error::custom(format!("expected {INDEX_FORMS}"))),
            };
            for key in map.keys() {
                let key = key.as_str().unwrap_or("?");
                if !allowed.contains(&key) {
                    return Err(D::Error::custom(format!(
                        "unknown key `{key}` (allowed: {})",
                        allowed.join(", ")
                    )));
                }
            }
            Ok(map)
        };
        let size = |map: &Mapping, key: &str, default: usize| -> Result<usize, D::Error> {
            match map.get(key) {
                None => Ok(default),
                Some(v) => v
                    .as_u64()
                    .map(|n| n as usize)
                    .ok_or_else(|| D::Error::custom(format!("{key}: expected a whole number ≥ 0"))),
            }
        };
        match &value {
            Value::String(s) if s == "exact" => Ok(Index::Exact),
            Value::Mapping(m) if m.len() == 1 => {
                let (name, v) = m.iter().next().expect("one entry");
                match name.as_str() {
                    Some("hnsw") => {
                        let map = fields(v, &["m", "ef_construction", "ef_search"])?;
                        let d = HnswParams::default();
                        Ok(Index::Hnsw(HnswParams {
                            m: size(&map, "m", d.m)?,
                            ef_construction: size(&map, "ef_construction", d.ef_construction)?,
                            ef_search: size(&map, "ef_search", d.ef_search)?,
                        }))
                    }
                    Some("ivf") => {
                        let map = fields(v, &["lists", "probes"])?;
                        let d = IvfParams::default();
                        Ok(Index::Ivf(IvfParams {
                            lists: size(&map, "lists", d.lists)?,
                            probes: size(&map, "probes", d.probes)?,
                        }))
                    }
                    _ => Err(D::Error::custom(format!("expected {INDEX_FORMS}"))),
                }
            }
            _ => Err(D::Error::custom(format!("expected {INDEX_FORMS}"))),
        }
    }
}

/// Sizes of an index, as (key, value, least value, largest value).
fn counts(sizes: &[(&str, usize, usize, usize)]) -> Vec<ParamIssue> {
    sizes
        .iter()
        .filter_map(|&(key, value, min, max)| Rule::Count(min, max).issue(key, &value, ""))
        .collect()
}

impl Index {
    fn check(&self) -> Vec<ParamIssue> {
        match *self {
            Index::Exact => Vec::new(),
            Index::Hnsw(HnswParams {
                m,
                ef_construction,
                ef_search,
            }) => counts(&[
                ("index.hnsw.m", m, 2, MAX_LINKS),
                ("index.hnsw.ef_construction", ef_construction, 1, usize::MAX),
                ("index.hnsw.ef_search", ef_search, 1, usize::MAX),
            ]),
            Index::Ivf(IvfParams { lists, probes }) => {
                let mut issues = counts(&[
                    ("index.ivf.lists", lists, 1, usize::MAX),
                    ("index.ivf.probes", probes, 1, usize::MAX),
                ]);
                if probes > lists {
                    issues.push(ParamIssue::new(
                        "index.ivf.probes",
                        format!("{probes} is out of range; probes must be ≤ lists ({lists})"),
                    ));
                }
                issues
            }
        }
    }

    /// What a built index depends on besides the factors: its build
    /// settings and the seed, never the search's breadth.
    fn build_settings(&self, seed: u64) -> String {
        match *self {
            Index::Exact => "exact".to_string(),
            Index::Hnsw(p) => format!(
                "hnsw m={} ef_construction={} seed={seed}",
                p.m, p.ef_construction
            ),
            Index::Ivf(p) => format!("ivf lists={} seed={seed}", p.lists),
        }
    }

    /// How widely each search looks: HNSW's ef_search, IVF's probes.
    fn breadth(&self) -> usize {
        match *self {
            Index::Exact => 0,
            Index::Hnsw(p) => p.ef_search,
            Index::Ivf(p) => p.probes,
        }
    }

    /// Builds the index over a retriever's item factors, from `seed`.
    fn build(&self, dim: usize, items: &[f32], seed: u64) -> Result<Box<dyn MipsIndex>, String> {
        Ok(match *self {
            Index::Exact => return Err("exact retrieval builds no index".to_string()),
            Index::Hnsw(params) => Box::new(Hnsw::build(dim, items, params, seed)),
            Index::Ivf(params) => Box::new(Ivf::build(dim, items, params, seed)?),
        })
    }
}

/// Where the ranker's sampled negatives come from.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum RankerNegatives {
    /// The ranker's own sampler over the catalogue.
    #[default]
    Uniform,
    /// The user's retrieved candidates (hard negatives): the ranker learns
    /// to order what it will be shown at serving time.
    Retrieved,
}

param_table! {
    pub struct PipelineParams {
        retriever: Stage = Stage::of(ModelKind::TwoTower) => ParamDoc::new(
            Rule::Text("{model, params}, any model but pipeline"),
            "first stage: picks each user's N best items not yet seen",
        ),
        candidates: usize = 200 => ParamDoc::new(
            Rule::Count(1, usize::MAX),
            "N, items passed to the ranker per user; at most the catalogue's items",
        ),
        index: Index = Index::Exact => ParamDoc::new(
            Rule::Text("exact, {hnsw: {2 ≤ m ≤ 256, ef_construction, ef_search}}, {ivf: {lists, probes ≤ lists}}"),
            "how the retriever's N best are found: every item scored, or an approximate index over a dot-product retriever's factors (docs/spec.md, \"Pipelines\")",
        ),
        ranker: Stage = Stage::of(ModelKind::Ncf) => ParamDoc::new(
            Rule::Text("{model, params}, any model but pipeline"),
            "second stage: orders the N candidates; scores N items per user",
        ),
        ranker_negatives: RankerNegatives = RankerNegatives::Uniform => ParamDoc::new(
            Rule::Text("uniform, retrieved"),
            "the ranker's sampled negatives from the catalogue, or from the user's retrieved candidates (ncf, dcn, mf with bpr)",
        ),
    }
}

impl PipelineParams {
    fn stages(&self) -> [(&'static str, &Stage); 2] {
        [("retriever", &self.retriever), ("ranker", &self.ranker)]
    }

    /// Both stages configured; `check` has accepted them when this runs.
    fn configured(&self) -> Result<[Box<dyn ModelConfig>; 2], ModelError> {
        let configure = |stage: &Stage| {
            stage.configure().map_err(|issues| ModelError::Numerical {
                model: "pipeline",
                message: format!(
                    "{} params no longer validate: {}",
                    stage.model.as_str(),
                    issues[0].message
                ),
            })
        };
        Ok([configure(&self.retriever)?, configure(&self.ranker)?])
    }
}

impl Params for PipelineParams {
    const KIND: ModelKind = ModelKind::Pipeline;

    fn check(&self) -> Vec<ParamIssue> {
        let mut issues = self.index.check();
        for (name, stage) in self.stages() {
            if stage.model == ModelKind::Pipeline {
                issues.push(ParamIssue::new(
                    format!("{name}.model"),
                    "a stage cannot itself be a pipeline",
                ));
                continue;
            }
            match stage.configure() {
                Ok(config) => {
                    if name == "retriever"
                        && self.index != Index::Exact
                        && !config.scores_by_dot_product()
                    {
                        issues.push(ParamIssue::new(
                            "index",
                            format!(
                                "an approximate index needs a dot-product retriever (mf, two_tower, ials) without a scoring-time penalty; this {} is not one",
                                stage.model.as_str()
                            ),
                        ));
                    }
                    if name == "ranker"
                        && self.ranker_negatives == RankerNegatives::Retrieved
                        && !config.samples_negatives()
                    {
                        issues.push(ParamIssue::new(
                            "ranker_negatives",
                            format!(
                                "`retrieved` needs a ranker trained on sampled negatives (ncf, dcn, mf with loss: bpr); this {} has none",
                                stage.model.as_str()
                            ),
                        ));
                    }
                }
                Err(problems) => issues.extend(
                    problems
                        .into_iter()
                        .map(|p| ParamIssue::new(format!("{name}.params.{}", p.key), p.message)),
                ),
            }
        }
        issues
    }
}

impl ModelConfig for PipelineParams {
    /// The params with each stage's defaults filled, so a stored trial
    /// names every value its stages ran with.
    fn params(&self) -> Mapping {
        let mut resolved = self.clone();
        for stage in [&mut resolved.retriever, &mut resolved.ranker] {
            if let Ok(config) = stage.configure() {
                stage.params = config.params();
            }
        }
        super::to_mapping(&resolved)
    }

    fn is_stochastic(&self) -> bool {
        self.configured()
            .map(|stages| stages.iter().any(|s| s.is_stochastic()))
            .unwrap_or(true)
    }

    /// None: the stages carry their own popularity methods.
    fn popularity(&self) -> &Popularity {
        &Popularity::None
    }

    fn input_issues(&self, names: &FeatureNames) -> Vec<ParamIssue> {
        let Ok(stages) = self.configured() else {
            return Vec::new();
        };
        self.stages()
            .iter()
            .zip(&stages)
            .flat_map(|((name, _), config)| {
                config
                    .input_issues(names)
                    .into_iter()
                    .map(move |p| ParamIssue::new(format!("{name}.params.{}", p.key), p.message))
            })
            .collect()
    }

    /// Both stages must score the cold entity: the retriever to pass it
    /// on, the ranker to order it.
    fn scores_cold(&self, side: Side, names: &FeatureNames) -> bool {
        self.configured()
            .is_ok_and(|stages| stages.iter().all(|s| s.scores_cold(side, names)))
    }

    fn inert(&self, names: &FeatureNames) -> Vec<Inert> {
        let Ok(stages) = self.configured() else {
            return Vec::new();
        };
        self.stages()
            .iter()
            .zip(&stages)
            .flat_map(|((name, _), config)| {
                config.inert(names).into_iter().map(move |i| {
                    Inert::new(
                        format!("{name}.params.{}", i.param),
                        format!("{name}: {}", i.why),
                    )
                })
            })
            .collect()
    }

    fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Ok(stages) = self.configured() {
            for ((name, _), config) in self.stages().iter().zip(&stages) {
                out.extend(
                    config
                        .warnings()
                        .into_iter()
                        .map(|w| format!("{name}: {w}")),
                );
            }
        }
        out
    }

    /// Fits the retriever (monitored on its own full ranking), then the
    /// ranker with the same seed, monitored on the whole pipeline's
    /// validation metric, so early stopping judges what will be served.
    fn fit(&self, input: &FitInput) -> Result<Fitted, ModelError> {
        let [retriever_config, ranker_config] = self.configured()?;
        // An external stage works in a folder of its own.
        let retriever_job = input.job.map(|job| job.stage("retriever"));
        let ranker_job = input.job.map(|job| job.stage("ranker"));
        let retriever_input = FitInput {
            job: retriever_job.as_ref(),
            ..*input
        };
        let retrieved = match input.reuse {
            Some(reuse) => reuse.fit(
                self.retriever.model,
                retriever_config.as_ref(),
                &retriever_input,
            ),
            None => retriever_config.fit(&retriever_input),
        }?;
        let retriever = Penalized::wrap(
            retrieved.scorer,
            retriever_config.popularity(),
            input.item_popularity,
        );
        let n_items = input.train.n_cols();
        let index = self.build_index(
            retriever.as_ref(),
            retriever_config.as_ref(),
            &retriever_input,
        )?;
        let retrieval = Retrieval {
            retriever: retriever.as_ref(),
            index: index.as_ref(),
            candidates: self.candidates,
            n_items,
        };
        let pools = (self.ranker_negatives == RankerNegatives::Retrieved)
            .then(|| retrieval.pools(input.train));
        let monitor = input.monitor.map(|m| {
            move |ranker: &dyn Scorer| {
                m(&Staged {
                    retrieval: Retrieval { ..retrieval },
                    ranker,
                })
            }
        });
        let ranked = ranker_config.fit(&FitInput {
            job: ranker_job.as_ref(),
            train: input.train,
            item_popularity: input.item_popularity,
            seed: input.seed,
            monitor: monitor
                .as_ref()
                .map(|m| m as &(dyn Fn(&dyn Scorer) -> f64 + Sync)),
            negatives: pools.as_ref(),
            features: input.features,
            reuse: None,
        })?;
        let ranker = Penalized::wrap(
            ranked.scorer,
            ranker_config.popularity(),
            input.item_popularity,
        );
        Ok(Fitted {
            scorer: Box::new(PipelineScorer {
                retriever,
                index,
                ranker,
                candidates: self.candidates,
                n_items,
                pools,
            }),
            curve: ranked.curve,
            reused_seconds: retrieved.reused_seconds,
        })
    }
}

impl PipelineParams {
    /// The approximate index over the fitted retriever's item factors
    /// (None for `exact`), timed.
    /// `config` fitted on `input` (`retriever`, penalised as it serves);
    /// trials that differ only in N or the breadth share one build
    /// ([`super::Reuse::index`]).
    fn build_index(
        &self,
        retriever: &dyn Scorer,
        config: &dyn ModelConfig,
        input: &FitInput,
    ) -> Result<Option<Built>, ModelError> {
        if self.index == Index::Exact {
            return Ok(None);
        }
        let failed = |message: String| ModelError::Numerical {
            model: "pipeline",
            message,
        };
        let no_factors = || {
            failed(format!(
                "the {} retriever has no factors for an approximate index",
                self.retriever.model.as_str()
            ))
        };
        let (dim, queries) = retriever.user_factors().ok_or_else(no_factors)?;
        let build = || {
            let (_, items) = retriever.item_factors().ok_or_else(no_factors)?;
            self.index
                .build(dim, &items, input.seed)
                .map_err(|e| failed(format!("building the index: {e}")))
        };
        let settings = self.index.build_settings(input.seed);
        let (index, build_seconds) = match input.reuse {
            Some(reuse) => reuse.index(self.retriever.model, config, input, settings, build)?,
            None => timed_build(build)?,
        };
        Ok(Some(Built {
            index,
            breadth: self.index.breadth(),
            dim,
            queries: queries.to_vec(),
            description: describe_value(&serde_yaml::to_value(self.index).unwrap_or(Value::Null)),
            build_seconds,
        }))
    }
}

/// A built approximate index and the queries it serves.
struct Built {
    index: Arc<dyn MipsIndex>,
    /// How widely each search looks ([`Index::breadth`]).
    breadth: usize,
    dim: usize,
    /// The retriever's user factors (users × dim).
    queries: Vec<f32>,
    description: String,
    build_seconds: f64,
}

/// The first stage: the retriever and, where the spec names one, the
/// approximate index its candidates come from.
#[derive(Clone, Copy)]
struct Retrieval<'a> {
    retriever: &'a dyn Scorer,
    index: Option<&'a Built>,
    candidates: usize,
    n_items: usize,
}

impl<'a> Retrieval<'a> {
    /// Each user's N candidates, never an item of `exclude`: the exact top N
    /// (scored into `scratch`, users × items) or the index's answer.
    fn retrieve(
        &self,
        users: &[u32],
        exclude: &[&CsrMatrix],
        scratch: &mut [f32],
    ) -> Vec<Vec<u32>> {
        let excluded =
            |u: u32| -> Vec<&[u32]> { exclude.iter().map(|m| m.row(u as usize)).collect() };
        match self.stage() {
            Some(stage) => users
                .iter()
                .map(|&u| stage.search(u, &excluded(u), self.candidates))
                .collect(),
            None => {
                self.retriever
                    .score_block_excluding(users, exclude, scratch);
                scratch
                    .chunks_exact_mut(self.n_items.max(1))
                    .zip(users)
                    .map(|(row, &u)| best_k(row, &excluded(u), self.candidates))
                    .collect()
            }
        }
    }

    /// The first stage's cost per user: the retriever's scores over the
    /// catalogue, or its query and the index search.
    fn cost(&self) -> ServingCost {
        let retriever = self.retriever.cost();
        let madds_per_user = match self.index {
            Some(built) => {
                // The user tower's pass is what the dot products leave out.
                let dot = (self.n_items * built.dim) as u64;
                retriever.madds_per_user.saturating_sub(dot)
                    + built.index.madds_per_query(self.candidates, built.breadth)
            }
            None => retriever.madds_per_user,
        };
        ServingCost {
            parameters: retriever.parameters,
            madds_per_user,
        }
    }

    fn stage(&self) -> Option<IndexStage<'a>> {
        self.index.map(|built| IndexStage {
            index: built.index.as_ref(),
            breadth: built.breadth,
            dim: built.dim,
            queries: &built.queries,
            description: built.description.clone(),
            build_seconds: built.build_seconds,
        })
    }

    fn stages(&self) -> Stages<'a> {
        Stages {
            retriever: self.retriever,
            retrieval_cost: self.cost(),
            candidates: self.candidates,
            index: self.stage(),
            negative_pools: None,
        }
    }

    /// Each user's candidates given their train items: the pools
    /// `ranker_negatives: retrieved` samples from.
    fn pools(&self, train: &CsrMatrix) -> CsrMatrix {
        const BLOCK: usize = 256;
        let users: Vec<u32> = (0..train.n_rows() as u32).collect();
        let pairs: Vec<(u32, u32)> = users
            .par_chunks(BLOCK)
            .flat_map_iter(|block| {
                let mut scratch = vec![0.0f32; block.len() * self.n_items];
                let lists = self.retrieve(block, &[train], &mut scratch);
                block
                    .iter()
                    .zip(lists)
                    .flat_map(|(&u, list)| list.into_iter().map(move |i| (u, i)))
                    .collect::<Vec<_>>()
            })
            .collect();
        CsrMatrix::from_pairs(train.n_rows(), self.n_items, &pairs)
    }
}

/// The two stages, borrowed: how a pipeline scores (and how its ranker is
/// monitored while it trains).
struct Staged<'a> {
    retrieval: Retrieval<'a>,
    ranker: &'a dyn Scorer,
}

impl Scorer for Staged<'_> {
    fn score_block(&self, users: &[u32], out: &mut [f32]) {
        self.score_block_excluding(users, &[], out);
    }

    /// Candidates → ranker scores for those; every other item scores −∞,
    /// so it ranks below every candidate.
    fn score_block_excluding(&self, users: &[u32], exclude: &[&CsrMatrix], out: &mut [f32]) {
        let n_items = self.retrieval.n_items;
        let lists = self.retrieval.retrieve(users, exclude, out);
        let mut ranked = Vec::with_capacity(self.retrieval.candidates.min(n_items));
        for ((row, &u), candidates) in out.chunks_exact_mut(n_items.max(1)).zip(users).zip(lists) {
            ranked.resize(candidates.len(), 0.0);
            self.ranker
                .score_items(u, &candidates, n_items, &mut ranked);
            row.fill(f32::NEG_INFINITY);
            for (&i, &s) in candidates.iter().zip(&ranked) {
                row[i as usize] = s;
            }
        }
    }

    /// The first stage (its scores, or its query and the index search),
    /// then N ranker passes.
    fn cost(&self) -> ServingCost {
        let r = &self.retrieval;
        let (retrieval, ranker) = (r.cost(), self.ranker.cost());
        let n = r.candidates.min(r.n_items) as u64;
        let per_item = ranker.madds_per_user / r.n_items.max(1) as u64;
        ServingCost {
            parameters: retrieval.parameters + ranker.parameters,
            madds_per_user: retrieval.madds_per_user + per_item * n,
        }
    }

    fn stages(&self) -> Option<Stages<'_>> {
        Some(self.retrieval.stages())
    }

    fn item_factors(&self) -> Option<(usize, Vec<f32>)> {
        self.retrieval.retriever.item_factors()
    }
}

/// A fitted pipeline: owns its stages, scores as [`Staged`].
struct PipelineScorer {
    retriever: Box<dyn Scorer>,
    index: Option<Built>,
    ranker: Box<dyn Scorer>,
    candidates: usize,
    n_items: usize,
    /// The ranker's negative pools under `ranker_negatives: retrieved`.
    pools: Option<CsrMatrix>,
}

impl PipelineScorer {
    fn retrieval(&self) -> Retrieval<'_> {
        Retrieval {
            retriever: self.retriever.as_ref(),
            index: self.index.as_ref(),
            candidates: self.candidates,
            n_items: self.n_items,
        }
    }

    fn staged(&self) -> Staged<'_> {
        Staged {
            retrieval: self.retrieval(),
            ranker: self.ranker.as_ref(),
        }
    }
}

impl Scorer for PipelineScorer {
    fn score_block(&self, users: &[u32], out: &mut [f32]) {
        self.staged().score_block(users, out);
    }

    fn score_block_excluding(&self, users: &[u32], exclude: &[&CsrMatrix], out: &mut [f32]) {
        self.staged().score_block_excluding(users, exclude, out);
    }

    fn cost(&self) -> ServingCost {
        self.staged().cost()
    }

    fn stages(&self) -> Option<Stages<'_>> {
        Some(Stages {
            negative_pools: self.pools.as_ref(),
            ..self.retrieval().stages()
        })
    }

    fn item_factors(&self) -> Option<(usize, Vec<f32>)> {
        self.retriever.item_factors()
    }
}

/// The share of a ranker's sampled negatives that are the user's held-out
/// positives, in expectation: a user's negatives are drawn uniformly from
/// their pool, as many per train positive, so user u contributes
/// |pool_u ∩ held-out_u| / |pool_u| with weight |train_u|. Retrieved
/// candidates exclude train items only, so a good retriever puts the very
/// items evaluation will ask for among them; this says how often the ranker
/// was taught that they are negatives. None when no user has a pool.
pub fn held_out_negative_share(
    pools: &CsrMatrix,
    train: &CsrMatrix,
    held_out: &[&CsrMatrix],
) -> Option<f64> {
    let (mut weighted, mut weight) = (0.0, 0.0);
    for u in 0..pools.n_rows() {
        let pool = pools.row(u);
        let positives = train.row(u).len() as f64;
        if pool.is_empty() || positives == 0.0 {
            continue;
        }
        let held = pool
            .iter()
            .filter(|i| held_out.iter().any(|m| m.row(u).binary_search(i).is_ok()))
            .count();
        weighted += positives * held as f64 / pool.len() as f64;
        weight += positives;
    }
    (weight > 0.0).then(|| weighted / weight)
}

/// Where a knob that is not a pipeline param lands: in each stage that has
/// a param of that name (and, for popularity, implements the method), as
/// `retriever.params.KEY` / `ranker.params.KEY`. `params` are the entry's
/// params as written.
pub fn stage_paths(params: &Mapping, key: &str, value: &Value) -> Vec<String> {
    let defaults = PipelineParams::default();
    let mut out = Vec::new();
    for (name, default) in defaults.stages() {
        let stage: Stage = params
            .get(name)
            .and_then(|v| serde_yaml::from_value(v.clone()).ok())
            .unwrap_or_else(|| default.clone());
        if stage.model == ModelKind::Pipeline {
            continue;
        }
        for path in stage.model.knob_paths(&stage.params, key, value) {
            out.push(format!("{name}.params.{path}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_held_out_share_weights_each_pool_by_its_users_train_positives() {
        // u0: pool {1, 2, 3, 4}, two train positives, items 2 (test) and 4
        // (validation) held out: 2/4. u1: pool {5, 6}, one positive,
        // nothing of it held out: 0. u2: no pool, not counted.
        // (2 · 0.5 + 1 · 0) / 3 = 1/3.
        let pools = CsrMatrix::from_pairs(3, 10, &[(0, 1), (0, 2), (0, 3), (0, 4), (1, 5), (1, 6)]);
        let train = CsrMatrix::from_pairs(3, 10, &[(0, 7), (0, 8), (1, 9), (2, 1), (2, 2), (2, 3)]);
        let test = CsrMatrix::from_pairs(3, 10, &[(0, 2), (1, 0)]);
        let validation = CsrMatrix::from_pairs(3, 10, &[(0, 4)]);
        let share = held_out_negative_share(&pools, &train, &[&validation, &test]).unwrap();
        assert!((share - 1.0 / 3.0).abs() < 1e-12, "{share}");
        // A refit's train holds validation: test alone is held out, u0 1/4.
        assert_eq!(
            held_out_negative_share(&pools, &train, &[&test]),
            Some(2.0 * 0.25 / 3.0)
        );
        let none = CsrMatrix::from_pairs(3, 10, &[]);
        assert_eq!(held_out_negative_share(&none, &train, &[&test]), None);
    }
}
