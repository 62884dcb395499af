//! The metric vocabulary: which metrics exist, their families, directions
//! and needs, how one is named (`ndcg@10`) and which columns a set of them
//! computes. How each is computed is in the formulas module; docs/metrics.md
//! states both.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The families of metrics, following the sections of docs/metrics.md: what
/// each needs and where it is defined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// Hits in one user's list: recall, ndcg, hit_rate, mrr, map, precision.
    Accuracy,
    /// Opt-in, by popularity: accuracy over the held-out head or long-tail
    /// items only, and pop_lift against the user's own history.
    Stratified,
    /// How popular one user's list is: arp, aplt, novelty.
    Popularity,
    /// Of the whole set of lists, not one user: coverage, gini.
    Catalogue,
    /// A pipeline's stages, computed for every pipeline trial and never
    /// requested in a spec (see [`stage_metrics`]).
    Stage,
    /// Hits weighted by inverse item propensities: they need
    /// `evaluation.propensity`.
    Debiased,
    /// Expected relevance under the synthetic generator's own preferences:
    /// defined only where the truth is known.
    Truth,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricKind {
    Recall,
    Ndcg,
    HitRate,
    Mrr,
    Map,
    Precision,
    Coverage,
    Arp,
    Aplt,
    Gini,
    Novelty,
    RecallHead,
    RecallTail,
    NdcgHead,
    NdcgTail,
    PopLift,
    CandidateRecall,
    CeilingNdcg,
    NdcgLift,
    AnnOverlap,
    IpsRecall,
    IpsNdcg,
    SnipsRecall,
    SnipsNdcg,
    PooledSnipsRecall,
    TruthUtility,
    TruthNdcg,
    Auc,
}

/// The per-user metrics of one list and its hits alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ListMetric {
    Precision,
    Recall,
    HitRate,
    Mrr,
    Ndcg,
    Map,
    Arp,
    Aplt,
    Novelty,
}

/// The metrics of the whole exposure over users rather than of a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CatalogueMetric {
    Coverage,
    Gini,
}

/// Whether larger values are better; bias metrics say which way means less
/// popularity bias.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Higher,
    Lower,
}

impl MetricKind {
    /// The metrics computed when a spec or `evaluate` names none: the
    /// first eleven of [`MetricKind::ALL`] (docs/metrics.md); the stratified ones
    /// and pop_lift are opt-in.
    pub const DEFAULT: &'static [MetricKind] = MetricKind::ALL.split_at(11).0;

    pub const ALL: [MetricKind; 28] = [
        MetricKind::Recall,
        MetricKind::Ndcg,
        MetricKind::HitRate,
        MetricKind::Mrr,
        MetricKind::Map,
        MetricKind::Precision,
        MetricKind::Coverage,
        MetricKind::Arp,
        MetricKind::Aplt,
        MetricKind::Gini,
        MetricKind::Novelty,
        MetricKind::RecallHead,
        MetricKind::RecallTail,
        MetricKind::NdcgHead,
        MetricKind::NdcgTail,
        MetricKind::PopLift,
        MetricKind::CandidateRecall,
        MetricKind::CeilingNdcg,
        MetricKind::NdcgLift,
        MetricKind::AnnOverlap,
        MetricKind::IpsRecall,
        MetricKind::IpsNdcg,
        MetricKind::SnipsRecall,
        MetricKind::SnipsNdcg,
        MetricKind::PooledSnipsRecall,
        MetricKind::TruthUtility,
        MetricKind::TruthNdcg,
        MetricKind::Auc,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MetricKind::Recall => "recall",
            MetricKind::Ndcg => "ndcg",
            MetricKind::HitRate => "hit_rate",
            MetricKind::Mrr => "mrr",
            MetricKind::Map => "map",
            MetricKind::Precision => "precision",
            MetricKind::Coverage => "coverage",
            MetricKind::Arp => "arp",
            MetricKind::Aplt => "aplt",
            MetricKind::Gini => "gini",
            MetricKind::Novelty => "novelty",
            MetricKind::RecallHead => "recall_head",
            MetricKind::RecallTail => "recall_tail",
            MetricKind::NdcgHead => "ndcg_head",
            MetricKind::NdcgTail => "ndcg_tail",
            MetricKind::PopLift => "pop_lift",
            MetricKind::CandidateRecall => "candidate_recall",
            MetricKind::CeilingNdcg => "ceiling_ndcg",
            MetricKind::NdcgLift => "ndcg_lift",
            MetricKind::AnnOverlap => "ann_overlap",
            MetricKind::IpsRecall => "ips_recall",
            MetricKind::IpsNdcg => "ips_ndcg",
            MetricKind::SnipsRecall => "snips_recall",
            MetricKind::SnipsNdcg => "snips_ndcg",
            MetricKind::PooledSnipsRecall => "pooled_snips_recall",
            MetricKind::TruthUtility => "truth_utility",
            MetricKind::TruthNdcg => "truth_ndcg",
            MetricKind::Auc => "auc",
        }
    }

    /// One line on what the metric measures (docs/metrics.md defines each).
    pub fn meaning(self) -> &'static str {
        match self {
            MetricKind::Recall => "share of the user's held-out items in the top K",
            MetricKind::Ndcg => "discounted gain of the held-out items in the top K over the ideal",
            MetricKind::HitRate => "1 if any held-out item is in the top K",
            MetricKind::Mrr => "1 / rank of the first held-out item in the top K",
            MetricKind::Map => {
                "mean precision at each held-out item's rank, over the held-out items"
            }
            MetricKind::Precision => "share of the top K that is held out",
            MetricKind::Coverage => "share of the catalogue recommended to anyone",
            MetricKind::Arp => "average train popularity of the recommended items",
            MetricKind::Aplt => "share of the top K that is long tail",
            MetricKind::Gini => "inequality of how often items are recommended",
            MetricKind::Novelty => {
                "mean self-information −log2(n_i / #users) of the recommended items"
            }
            MetricKind::RecallHead => "recall over held-out head items (undefined without one)",
            MetricKind::RecallTail => {
                "recall over held-out long-tail items (undefined without one)"
            }
            MetricKind::NdcgHead => {
                "ndcg counting held-out head items only (undefined without one)"
            }
            MetricKind::NdcgTail => {
                "ndcg counting held-out long-tail items only (undefined without one)"
            }
            MetricKind::PopLift => "how much more popular the list is than the user's history",
            MetricKind::CandidateRecall => {
                "pipelines: share of the held-out items among the N candidates (@N)"
            }
            MetricKind::CeilingNdcg => {
                "pipelines: ndcg a perfect ranker would reach on the candidates"
            }
            MetricKind::NdcgLift => {
                "pipelines: ndcg of the ranked list minus the retriever's own ndcg"
            }
            MetricKind::AnnOverlap => {
                "pipelines with an index: share of its N candidates that score within the exact top N (@N)"
            }
            MetricKind::IpsRecall => {
                "hits weighted by 1/propensity over the observed held-out count (unbiased for true hits, not for recall; can exceed 1)"
            }
            MetricKind::IpsNdcg => "ndcg with each hit's gain weighted by 1/propensity",
            MetricKind::SnipsRecall => {
                "weighted hits over the user's weighted held-out items (self-normalised per user; the naive recall with one held-out item)"
            }
            MetricKind::SnipsNdcg => {
                "weighted dcg over the best weighted dcg of the held-out items (self-normalised)"
            }
            MetricKind::PooledSnipsRecall => {
                "weighted hits of all users over the weighted held-out items of all users (Steck's popularity-stratified recall)"
            }
            MetricKind::TruthUtility => {
                "synthetic data: expected share of the top K the user would take, under the generator's preferences"
            }
            MetricKind::TruthNdcg => {
                "synthetic data: dcg of the generator's relevance over the best attainable top K"
            }
            MetricKind::Auc => {
                "share of (held-out, other candidate) pairs the scores order right, ties half; no cutoff"
            }
        }
    }

    /// Which family the metric belongs to: what it needs and where it is
    /// defined. Every metric is named here, so a new one must choose.
    pub fn family(self) -> Family {
        match self {
            MetricKind::Recall
            | MetricKind::Ndcg
            | MetricKind::HitRate
            | MetricKind::Mrr
            | MetricKind::Map
            | MetricKind::Precision
            | MetricKind::Auc => Family::Accuracy,
            MetricKind::RecallHead
            | MetricKind::RecallTail
            | MetricKind::NdcgHead
            | MetricKind::NdcgTail
            | MetricKind::PopLift => Family::Stratified,
            MetricKind::Arp | MetricKind::Aplt | MetricKind::Novelty => Family::Popularity,
            MetricKind::Coverage | MetricKind::Gini => Family::Catalogue,
            MetricKind::CandidateRecall
            | MetricKind::CeilingNdcg
            | MetricKind::NdcgLift
            | MetricKind::AnnOverlap => Family::Stage,
            MetricKind::IpsRecall
            | MetricKind::IpsNdcg
            | MetricKind::SnipsRecall
            | MetricKind::SnipsNdcg
            | MetricKind::PooledSnipsRecall => Family::Debiased,
            MetricKind::TruthUtility | MetricKind::TruthNdcg => Family::Truth,
        }
    }

    /// Every family but [`Family::Catalogue`] has a value per user.
    /// What this metric needs beyond a list and its held-out items, if
    /// anything: the one statement of which metrics a context can compute,
    /// which the spec's `evaluation.metrics` and `recsweep evaluate
    /// --metrics` both apply (each saying how to give the need there).
    pub fn needs(self) -> Option<Need> {
        if self == MetricKind::Auc {
            return Some(Need::Scores);
        }
        match self.family() {
            Family::Stage => Some(Need::Pipeline),
            Family::Debiased => Some(Need::Propensities),
            Family::Truth => Some(Need::TruePreferences),
            Family::Accuracy | Family::Stratified | Family::Popularity | Family::Catalogue => None,
        }
    }

    pub fn is_per_user(self) -> bool {
        self.family() != Family::Catalogue
    }

    /// Whether the metric reads a top K: all but auc, which orders every
    /// candidate (its [`MetricId`] has k = 0 and is written `auc`).
    pub fn has_cutoff(self) -> bool {
        self != MetricKind::Auc
    }

    /// The metric of one list and its hits alone, if this is one: what
    /// [`user_metric`] computes and the stratified metrics reuse.
    pub(super) fn list_metric(self) -> Option<ListMetric> {
        match self {
            MetricKind::Precision => Some(ListMetric::Precision),
            MetricKind::Recall => Some(ListMetric::Recall),
            MetricKind::HitRate => Some(ListMetric::HitRate),
            MetricKind::Mrr => Some(ListMetric::Mrr),
            MetricKind::Ndcg => Some(ListMetric::Ndcg),
            MetricKind::Map => Some(ListMetric::Map),
            MetricKind::Arp => Some(ListMetric::Arp),
            MetricKind::Aplt => Some(ListMetric::Aplt),
            MetricKind::Novelty => Some(ListMetric::Novelty),
            MetricKind::Coverage
            | MetricKind::Gini
            | MetricKind::RecallHead
            | MetricKind::RecallTail
            | MetricKind::NdcgHead
            | MetricKind::NdcgTail
            | MetricKind::PopLift
            | MetricKind::CandidateRecall
            | MetricKind::CeilingNdcg
            | MetricKind::NdcgLift
            | MetricKind::AnnOverlap
            | MetricKind::IpsRecall
            | MetricKind::IpsNdcg
            | MetricKind::SnipsRecall
            | MetricKind::SnipsNdcg
            | MetricKind::PooledSnipsRecall
            | MetricKind::TruthUtility
            | MetricKind::TruthNdcg
            | MetricKind::Auc => None,
        }
    }

    /// The catalogue-level metric this is, if it is one (the
    /// [`Family::Catalogue`] members, computed from every list at once).
    pub fn catalogue_metric(self) -> Option<CatalogueMetric> {
        match self {
            MetricKind::Coverage => Some(CatalogueMetric::Coverage),
            MetricKind::Gini => Some(CatalogueMetric::Gini),
            _ => None,
        }
    }

    pub fn direction(self) -> Direction {
        match self {
            MetricKind::Arp | MetricKind::Gini | MetricKind::PopLift => Direction::Lower,
            _ => Direction::Higher,
        }
    }
}

impl FromStr for MetricKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        MetricKind::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = MetricKind::ALL.iter().map(|m| m.as_str()).collect();
                format!("unknown metric `{s}` (allowed: {})", names.join(", "))
            })
    }
}

/// A metric at a cutoff, written `ndcg@10`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MetricId {
    pub kind: MetricKind,
    pub k: usize,
}

impl MetricId {
    /// `kind` at cutoff k, or without one (k = 0) for a metric that has
    /// none: what a table of the metrics at K shows.
    pub fn at(kind: MetricKind, k: usize) -> Self {
        Self {
            kind,
            k: if kind.has_cutoff() { k } else { 0 },
        }
    }
}

impl fmt::Display for MetricId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind.has_cutoff() {
            true => write!(f, "{}@{}", self.kind.as_str(), self.k),
            false => f.write_str(self.kind.as_str()),
        }
    }
}

impl FromStr for MetricId {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Ok(kind) = s.parse::<MetricKind>() {
            if !kind.has_cutoff() {
                return Ok(Self { kind, k: 0 });
            }
        }
        let (name, k) = s
            .split_once('@')
            .ok_or_else(|| format!("`{s}` is not METRIC@K, e.g. ndcg@10"))?;
        let kind: MetricKind = name.parse()?;
        if !kind.has_cutoff() {
            return Err(format!("`{name}` has no cutoff: write `{name}`"));
        }
        let k = k
            .parse::<usize>()
            .ok()
            .filter(|k| *k > 0)
            .ok_or_else(|| format!("`{k}` in `{s}` is not a cutoff ≥ 1"))?;
        Ok(Self { kind, k })
    }
}

/// Each metric name with the meaning `recsweep list metrics` shows.
impl schemars::JsonSchema for MetricKind {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "MetricKind".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let one_of: Vec<serde_json::Value> = MetricKind::ALL
            .iter()
            .map(|k| serde_json::json!({"const": k.as_str(), "description": k.meaning()}))
            .collect();
        schemars::json_schema!({ "oneOf": one_of })
    }
}

/// `METRIC@K` with a metric name of [`MetricKind::ALL`] and K ≥ 1.
impl schemars::JsonSchema for MetricId {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "MetricId".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let names = |cutoff: bool| -> String {
            let names: Vec<&str> = MetricKind::ALL
                .iter()
                .filter(|k| k.has_cutoff() == cutoff)
                .map(|k| k.as_str())
                .collect();
            names.join("|")
        };
        schemars::json_schema!({
            "description": "a metric at a cutoff, METRIC@K, e.g. ndcg@10, or auc, which has none (`recsweep list metrics`)",
            "type": "string",
            "pattern": format!("^(({})@[1-9][0-9]*|{})$", names(true), names(false)),
        })
    }
}

impl TryFrom<String> for MetricId {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<MetricId> for String {
    fn from(m: MetricId) -> String {
        m.to_string()
    }
}

/// What is computed: every metric at every cutoff.
#[derive(Debug, Clone)]
pub struct MetricSet {
    pub cutoffs: Vec<usize>,
    pub metrics: Vec<MetricKind>,
}

impl MetricSet {
    /// Per-user columns, cutoff-major, in the spec's order.
    pub fn per_user_columns(&self) -> Vec<MetricId> {
        self.columns(true)
    }

    /// The catalogue-level columns, each with what it computes.
    pub fn global_columns(&self) -> Vec<(MetricId, CatalogueMetric)> {
        self.columns(false)
            .into_iter()
            .filter_map(|id| Some((id, id.kind.catalogue_metric()?)))
            .collect()
    }

    /// The metrics without cutoff first (once each), then the rest
    /// cutoff-major: the order [`super::user_metrics`] writes.
    fn columns(&self, per_user: bool) -> Vec<MetricId> {
        let wanted = move |m: &&MetricKind| m.is_per_user() == per_user;
        let uncut = self
            .metrics
            .iter()
            .filter(wanted)
            .filter(|m| !m.has_cutoff())
            .map(|&kind| MetricId { kind, k: 0 });
        let cut = self.cutoffs.iter().flat_map(move |&k| {
            self.metrics
                .iter()
                .filter(wanted)
                .filter(|m| m.has_cutoff())
                .map(move |&kind| MetricId { kind, k })
        });
        uncut.chain(cut).collect()
    }

    pub fn max_cutoff(&self) -> usize {
        self.cutoffs.iter().copied().max().unwrap_or(0)
    }
}

/// Cutoffs evaluated when a spec or `evaluate --k` names none.
pub const DEFAULT_CUTOFFS: [usize; 3] = [10, 20, 50];

/// What a metric needs besides a ranked list and held-out items.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// A pipeline's stages: computed for every pipeline trial, undefined
    /// for other models and for lists from outside.
    Pipeline,
    /// Item propensities (`evaluation.propensity`).
    Propensities,
    /// Known true preferences: the synthetic generator's.
    TruePreferences,
    /// Every candidate's score, which a model has and a ranked list from
    /// outside does not.
    Scores,
}

impl Need {
    /// Why, in words that follow the metric's name.
    pub fn why(self) -> &'static str {
        match self {
            Need::Pipeline => "is a pipeline's stage metric, computed for every pipeline trial and undefined for other models",
            Need::Propensities => "weights hits by inverse item propensities",
            Need::TruePreferences => "needs known true preferences, which only `source: synthetic` has",
            Need::Scores => "orders every candidate by its score, which a ranked top list does not hold",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_cutoff_major_and_split_by_scope() {
        let s = MetricSet {
            cutoffs: vec![5, 10],
            metrics: vec![MetricKind::Ndcg, MetricKind::Coverage],
        };
        let names: Vec<String> = s.per_user_columns().iter().map(|m| m.to_string()).collect();
        assert_eq!(names, ["ndcg@5", "ndcg@10"]);
        assert_eq!(s.global_columns()[1].0.to_string(), "coverage@10");
        assert!("ndcg@0".parse::<MetricId>().is_err());
        assert!("bogus@3".parse::<MetricId>().is_err());
    }
}
