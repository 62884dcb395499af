//! Full-ranking evaluation: users stream through the scorer in blocks; seen
//! items are excluded; a partial selection picks the top K; every metric is
//! computed per user. No users × items matrix is ever held.

mod metrics;
mod protocol;
mod sampling;
mod summary;
mod topk;

use std::time::Instant;

use rayon::prelude::*;

use crate::data::CsrMatrix;
use crate::models::Scorer;

pub use crate::inequality::gini;
pub use metrics::{
    coverage, long_tail, user_metrics, Direction, ItemStats, MetricId, MetricKind, MetricSet,
    DEFAULT_CUTOFFS, DEFAULT_HEAD_SHARE,
};
pub use protocol::{Protocol, Protocols, Sampler};
pub use sampling::{rank_candidates, sampled_candidates};
pub use summary::{mean_ci95, summarise, MetricSummary, Summary};
pub use topk::{top_k, top_k_masked};

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
    let start = Instant::now();
    let blocks: Vec<ScoredBlock> = users
        .par_chunks(block_users.max(1))
        .map_init(Vec::new, |scores: &mut Vec<f32>, block| {
            // One buffer per worker, reused: a fresh block-sized allocation
            // per block costs page faults comparable to the scoring itself.
            scores.resize(block.len() * n_items, 0.0);
            scorer.score_block(block, scores);
            let mut lists = Vec::with_capacity(block.len());
            let mut list_scores = Vec::with_capacity(block.len());
            let mut values = Vec::new();
            for (row, &u) in scores.chunks_exact_mut(n_items).zip(block) {
                let history = target
                    .history
                    .map_or(f64::NAN, |h| items.mean_popularity(h.row(u as usize)));
                let truth = target.truth.row(u as usize);
                let list = match target.candidates {
                    Some(c) => rank_candidates(row, c.row(u as usize), truth, k),
                    None => {
                        for m in &target.exclude {
                            for &i in m.row(u as usize) {
                                row[i as usize] = f32::NEG_INFINITY;
                            }
                        }
                        top_k_masked(row, k).unwrap_or_else(|| {
                            let mut excluded = vec![false; n_items];
                            for m in &target.exclude {
                                for &i in m.row(u as usize) {
                                    excluded[i as usize] = true;
                                }
                            }
                            top_k(row, &excluded, k)
                        })
                    }
                };
                user_metrics(&list, truth, history, set, items, &mut values);
                list_scores.push(list.iter().map(|&i| row[i as usize]).collect());
                lists.push(list);
            }
            ScoredBlock {
                lists,
                list_scores,
                values,
            }
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
