//! Full-ranking evaluation: users stream through the scorer in blocks; seen
//! items are excluded; a partial selection picks the top K; every metric is
//! computed per user. No users × items matrix is ever held.

mod formulas;
mod metrics;
mod propensity;
mod protocol;
mod sampling;
mod serving;
mod summary;

use std::time::Instant;

use rayon::prelude::*;

use crate::data::{CsrMatrix, TrueRelevance};
use crate::models::{IndexStage, Scorer, Stages};

pub use crate::inequality::gini;
pub use crate::topk::{best_k, top_k, top_k_masked};
pub use formulas::{
    auc, check_head_share, coverage, long_tail, pool, stage_metrics, user_metrics, ItemStats,
    UserRelevance, DEFAULT_HEAD_SHARE,
};
pub use metrics::{
    CatalogueMetric, Direction, Family, MetricId, MetricKind, MetricSet, Need, DEFAULT_CUTOFFS,
};
pub use propensity::{
    fit_exponent, PropensityEstimate, PropensityFit, PropensityPreset, PropensitySpec,
};
pub use protocol::{Protocol, Protocols, Sampler};
pub use sampling::{rank_candidates, sampled_candidates};
pub use serving::{search_time, serving_time, ServingTime};
pub use summary::{mean_ci95, summarise, MetricSummary, Summary};

/// Per-user values of every per-user column, for the evaluated users only.
#[derive(Debug, Clone, PartialEq)]
pub struct PerUser {
    pub users: Vec<u32>,
    pub columns: Vec<MetricId>,
    /// values[c][n]: column c of the n-th evaluated user.
    pub values: Vec<Vec<f64>>,
}

impl PerUser {
    pub fn column(&self, metric: MetricId) -> Option<&[f64]> {
        self.columns
            .iter()
            .position(|c| *c == metric)
            .map(|i| self.values[i].as_slice())
    }
}

/// Each evaluated user's ranked top list (largest cutoff).
#[derive(Debug, Clone, PartialEq)]
pub struct TopLists {
    pub users: Vec<u32>,
    pub items: Vec<Vec<u32>>,
    pub scores: Vec<Vec<f32>>,
}

#[derive(Debug, Clone)]
pub struct Evaluation {
    pub per_user: PerUser,
    pub summary: Summary,
    pub lists: TopLists,
    /// Wall-clock scoring time per evaluated user, in microseconds.
    pub micros_per_user: f64,
}

/// One block's output: top lists, their scores, and per-user metric values
/// flattened user-major.
struct ScoredBlock {
    lists: Vec<Vec<u32>>,
    list_scores: Vec<Vec<f32>>,
    values: Vec<f64>,
}

/// What [`evaluate`] does with each user's score row, the same for every
/// block.
struct UserScoring<'a> {
    target: &'a Target<'a>,
    set: &'a MetricSet,
    items: &'a ItemStats,
    /// The longest list: the largest cutoff.
    k: usize,
    /// Where auc sits among the per-user columns, when the set has it.
    auc_column: Option<usize>,
    /// True relevance and its list length, when the set has truth metrics.
    truth_of: Option<(&'a dyn TrueRelevance, usize)>,
}

impl UserScoring<'_> {
    /// User `u`'s top list from its score `row` (excluded items, or the
    /// items outside its candidates, set to −∞ on the way), its per-user
    /// metric values, and the list's scores, appended to `out`.
    fn score(&self, row: &mut [f32], u: u32, out: &mut ScoredBlock) {
        let (target, k) = (self.target, self.k);
        let history = target
            .history
            .map_or(f64::NAN, |h| self.items.mean_popularity(h.row(u as usize)));
        let truth = target.truth.row(u as usize);
        let mut list = match target.candidates {
            Some(c) => rank_candidates(row, c.row(u as usize), truth, k),
            None => {
                let excluded: Vec<&[u32]> =
                    target.exclude.iter().map(|m| m.row(u as usize)).collect();
                best_k(row, &excluded, k)
            }
        };
        // −∞ means "never recommended" (excluded items, a pipeline's
        // non-candidates): such items do not fill a short list.
        list.retain(|&i| row[i as usize] != f32::NEG_INFINITY);
        let relevance = self
            .truth_of
            .map(|(prefs, k)| TrueRow::of(prefs, u, target, k));
        let relevance = relevance.as_ref().map(TrueRow::view);
        let start = out.values.len();
        user_metrics(
            &list,
            truth,
            history,
            relevance.as_ref(),
            self.set,
            self.items,
            &mut out.values,
        );
        if let Some(c) = self.auc_column {
            out.values[start + c] = user_auc(row, u, truth, target);
        }
        out.list_scores
            .push(list.iter().map(|&i| row[i as usize]).collect());
        out.lists.push(list);
    }
}

/// What to rank and against what.
pub struct Target<'a> {
    /// Held-out items per user; users with none are not evaluated.
    pub truth: &'a CsrMatrix,
    /// Items never to rank (train; train and validation when scoring test).
    pub exclude: Vec<&'a CsrMatrix>,
    /// Each user's train items, whose mean popularity pop_lift compares
    /// against; None leaves pop_lift undefined.
    pub history: Option<&'a CsrMatrix>,
    /// Sampled protocol: rank only these items per user (held-out items plus
    /// sampled negatives); None for full ranking.
    pub candidates: Option<&'a CsrMatrix>,
    /// True relevance (the synthetic generator's preferences), for the
    /// truth metrics; None leaves them undefined.
    pub preferences: Option<&'a dyn TrueRelevance>,
}

pub fn evaluate(
    scorer: &dyn Scorer,
    target: &Target,
    set: &MetricSet,
    items: &ItemStats,
    block_users: usize,
) -> Evaluation {
    let n_items = target.truth.n_cols();
    let users = target.truth.nonempty_rows();
    let k = set.max_cutoff();
    let auc_column = set
        .per_user_columns()
        .iter()
        .position(|c| c.kind == MetricKind::Auc);
    let truth_of = target
        .preferences
        .filter(|_| set.metrics.iter().any(|m| m.family() == Family::Truth))
        .map(|p| (p, k));
    let user = UserScoring {
        target,
        set,
        items,
        k,
        auc_column,
        truth_of,
    };
    let start = Instant::now();
    let blocks: Vec<ScoredBlock> = users
        .par_chunks(block_users.max(1))
        .map_init(Vec::new, |scores: &mut Vec<f32>, block| {
            // One buffer per worker, reused: a fresh block-sized allocation
            // per block costs page faults comparable to the scoring itself.
            scores.resize(block.len() * n_items, 0.0);
            scorer.score_block_excluding(block, &target.exclude, scores);
            let mut out = ScoredBlock {
                lists: Vec::with_capacity(block.len()),
                list_scores: Vec::with_capacity(block.len()),
                values: Vec::new(),
            };
            for (row, &u) in scores.chunks_exact_mut(n_items).zip(block) {
                user.score(row, u, &mut out);
            }
            out
        })
        .collect();
    let elapsed = start.elapsed().as_secs_f64();

    let columns = set.per_user_columns();
    let mut values = vec![Vec::with_capacity(users.len()); columns.len()];
    let mut lists = TopLists {
        users: users.clone(),
        items: Vec::with_capacity(users.len()),
        scores: Vec::with_capacity(users.len()),
    };
    for block in blocks {
        for row in block.values.chunks_exact(columns.len().max(1)) {
            for (c, v) in row.iter().enumerate() {
                values[c].push(*v);
            }
        }
        lists.items.extend(block.lists);
        lists.scores.extend(block.list_scores);
    }
    let truths = users.iter().map(|&u| target.truth.row(u as usize));
    pool(&columns, &mut values, truths, items);
    let per_user = PerUser {
        users: users.clone(),
        columns,
        values,
    };
    let summary = Summary::new(&per_user, &lists, set, n_items);
    Evaluation {
        per_user,
        summary,
        lists,
        micros_per_user: elapsed * 1e6 / users.len().max(1) as f64,
    }
}

/// auc of user `u`'s scores `row`: the held-out items against every other
/// candidate (the protocol's or split's own, else every item not excluded).
fn user_auc(row: &[f32], u: u32, truth: &[u32], target: &Target) -> f64 {
    let r = u as usize;
    let negative = |i: &u32| truth.binary_search(i).is_err();
    match target.candidates {
        Some(c) => auc(row, truth, c.row(r).iter().copied().filter(negative)),
        None => {
            let rankable = |i: &u32| !target.exclude.iter().any(|m| m.contains(r, *i));
            let all = 0..row.len() as u32;
            auc(row, truth, all.filter(negative).filter(rankable))
        }
    }
}

/// One user's true relevances and the best of them among the items the
/// user could be recommended (not excluded; among the candidates where a
/// protocol or split fixes them).
struct TrueRow {
    row: Vec<f64>,
    ideal: Vec<f64>,
}

impl TrueRow {
    fn of(preferences: &dyn TrueRelevance, user: u32, target: &Target, k: usize) -> Self {
        let mut row = vec![0.0; preferences.n_items()];
        preferences.relevance(user, &mut row);
        let u = user as usize;
        let mut rankable: Vec<f64> = match target.candidates {
            Some(c) => c.row(u).iter().map(|&i| row[i as usize]).collect(),
            None => row.clone(),
        };
        if target.candidates.is_none() {
            for m in &target.exclude {
                for &i in m.row(u) {
                    rankable[i as usize] = f64::NEG_INFINITY;
                }
            }
        }
        let descending = |a: &f64, b: &f64| b.total_cmp(a);
        let k = k.min(rankable.len());
        if k > 0 && k < rankable.len() {
            rankable.select_nth_unstable_by(k - 1, descending);
        }
        rankable.truncate(k);
        rankable.sort_by(descending);
        rankable.retain(|r| r.is_finite());
        Self {
            row,
            ideal: rankable,
        }
    }

    fn view(&self) -> UserRelevance<'_> {
        UserRelevance {
            row: &self.row,
            ideal: &self.ideal,
        }
    }
}

/// What scoring a pipeline's first stage alone adds to its evaluation.
pub struct StageEvaluation {
    /// The retriever ranking the catalogue exactly, under the set.
    pub retriever: Evaluation,
    /// With an approximate index: its searches for the top N, one user at a
    /// time on one thread ([`search_time`]), and the exact top N of the
    /// retriever timed the same way ([`serving_time`]), so that the index's
    /// speed-up can be read.
    pub search: Option<IndexSearch>,
}

/// An approximate index's search time beside the exact scan's.
pub struct IndexSearch {
    pub index: ServingTime,
    pub exact: Option<ServingTime>,
}

/// Relative slack when comparing an index candidate's score with the exact
/// N-th score: the two come from different summation orders.
const SCORE_SLACK: f32 = 1e-5;

/// Scores a pipeline's retriever alone on the same target and adds the
/// stage metrics (candidate_recall@N, ceiling_ndcg@K, ndcg_lift@K, and
/// ann_overlap@N with an approximate index; see [`stage_metrics`] and
/// docs/metrics.md) to the pipeline's own evaluation `ranked`, per user and
/// in its summary.
pub fn evaluate_stages(
    ranked: &mut Evaluation,
    stages: &Stages,
    target: &Target,
    set: &MetricSet,
    items: &ItemStats,
    block_users: usize,
) -> StageEvaluation {
    let n = stages.candidates;
    let mut wide = set.clone();
    wide.cutoffs.push(n);
    let exact = evaluate(stages.retriever, target, &wide, items, block_users);
    // Each user's candidates in the retriever's order, and for an index the
    // share of them within the exact top N.
    let (candidates, overlap, search) = match &stages.index {
        None => (
            exact
                .lists
                .items
                .iter()
                .map(|l| l[..n.min(l.len())].to_vec())
                .collect::<Vec<_>>(),
            None,
            None,
        ),
        Some(index) => {
            let users = &ranked.per_user.users;
            let (candidates, overlap) = index_candidates(index, users, target, &exact, n);
            let search = search_time(index, users, &target.exclude, n).map(|time| IndexSearch {
                index: time,
                exact: serving_time(
                    stages.retriever,
                    users,
                    &target.exclude,
                    target.truth.n_cols(),
                    n,
                ),
            });
            (candidates, Some(overlap), search)
        }
    };
    push_stage_columns(ranked, &candidates, overlap, target, set, n);
    StageEvaluation {
        retriever: cut_to(&exact, set, target.truth.n_cols()),
        search,
    }
}

/// Each user's N candidates from the approximate index, in the exact
/// retriever's order of them, and the share within the exact top N (up to
/// float slack).
fn index_candidates(
    index: &IndexStage,
    users: &[u32],
    target: &Target,
    exact: &Evaluation,
    n: usize,
) -> (Vec<Vec<u32>>, Vec<f64>) {
    let excluded =
        |u: u32| -> Vec<&[u32]> { target.exclude.iter().map(|m| m.row(u as usize)).collect() };
    let found: Vec<Vec<u32>> = users
        .iter()
        .map(|&u| index.search(u, &excluded(u), n))
        .collect();
    let dot = |u: u32, i: u32| -> f32 {
        let q = &index.queries[u as usize * index.dim..(u as usize + 1) * index.dim];
        index.index.inner_product(q, i)
    };
    let mut overlap = Vec::with_capacity(users.len());
    let ordered = users
        .iter()
        .zip(found)
        .enumerate()
        .map(|(row, (&u, list))| {
            let mut scored: Vec<(f32, u32)> = list.iter().map(|&i| (dot(u, i), i)).collect();
            scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            let exact_scores = &exact.lists.scores[row];
            let within = match exact_scores[..n.min(exact_scores.len())].last() {
                Some(&t) => {
                    let t = t - SCORE_SLACK * t.abs().max(1.0);
                    scored.iter().filter(|(s, _)| *s >= t).count()
                }
                None => 0,
            };
            let wanted = n.min(exact_scores.len());
            overlap.push(if wanted == 0 {
                f64::NAN
            } else {
                within as f64 / wanted as f64
            });
            scored.into_iter().map(|(_, i)| i).collect()
        })
        .collect();
    (ordered, overlap)
}

/// An evaluation over a wider set cut back to `set`: its per-user columns
/// and lists of the largest cutoff (the retriever scored as a model).
fn cut_to(wide: &Evaluation, set: &MetricSet, n_items: usize) -> Evaluation {
    let own_columns = set.per_user_columns();
    let per_user = PerUser {
        users: wide.per_user.users.clone(),
        values: own_columns
            .iter()
            .map(|c| {
                wide.per_user
                    .column(*c)
                    .expect("the wide set holds the set's columns")
                    .to_vec()
            })
            .collect(),
        columns: own_columns,
    };
    fn heads<T: Clone>(lists: &[Vec<T>], k: usize) -> Vec<Vec<T>> {
        lists.iter().map(|l| l[..k.min(l.len())].to_vec()).collect()
    }
    let k = set.max_cutoff();
    let lists = TopLists {
        users: wide.lists.users.clone(),
        items: heads(&wide.lists.items, k),
        scores: heads(&wide.lists.scores, k),
    };
    let summary = Summary::new(&per_user, &lists, set, n_items);
    Evaluation {
        per_user,
        summary,
        lists,
        micros_per_user: wide.micros_per_user,
    }
}

/// The two-stage columns of the ranked evaluation: candidate recall@N,
/// ceiling ndcg and ndcg lift at each cutoff, and the index's overlap.
fn push_stage_columns(
    ranked: &mut Evaluation,
    candidates: &[Vec<u32>],
    overlap: Option<Vec<f64>>,
    target: &Target,
    set: &MetricSet,
    n: usize,
) {
    let users = &ranked.per_user.users;
    let mut columns = vec![MetricId {
        kind: MetricKind::CandidateRecall,
        k: n,
    }];
    for &k in &set.cutoffs {
        columns.push(MetricId {
            kind: MetricKind::CeilingNdcg,
            k,
        });
        columns.push(MetricId {
            kind: MetricKind::NdcgLift,
            k,
        });
    }
    let mut values = vec![Vec::with_capacity(users.len()); columns.len()];
    let mut row = Vec::with_capacity(columns.len());
    for (index, &u) in users.iter().enumerate() {
        row.clear();
        stage_metrics(
            &candidates[index],
            &ranked.lists.items[index],
            target.truth.row(u as usize),
            &set.cutoffs,
            &mut row,
        );
        for (c, v) in row.iter().enumerate() {
            values[c].push(*v);
        }
    }
    if let Some(overlap) = overlap {
        columns.push(MetricId {
            kind: MetricKind::AnnOverlap,
            k: n,
        });
        values.push(overlap);
    }
    for (column, values) in columns.into_iter().zip(values) {
        let (mean, ci95) = mean_ci95(&values);
        ranked
            .summary
            .metrics
            .insert(column, MetricSummary { mean, ci95 });
        ranked.per_user.columns.push(column);
        ranked.per_user.values.push(values);
    }
}
