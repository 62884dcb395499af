//! `recsweep evaluate`: scores recommendations that any system produced
//! against held-out interactions, with the same metric code as the harness
//! and trec_eval's ordering rules, so numbers agree with trec_eval.

mod formats;

use std::collections::{HashMap, HashSet};

use crate::eval::{
    coverage, gini, mean_ci95, user_metrics, ItemStats, MetricId, MetricKind, MetricSet,
    MetricSummary,
};
use crate::per_user_file::PerUserTable;

pub use formats::{read_judgements, read_run, FormatError, Judgement, Order, Recommendation};

/// What `evaluate` noticed about its inputs, reported as warnings.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Notes {
    /// Repeated (user, item) rows of the run; the first was kept.
    pub duplicates: usize,
    /// Users in the run but not in the truth file: ignored.
    pub run_users_ignored: usize,
    /// Users in the truth file with no recommendation: scored as empty lists.
    pub users_without_recommendations: usize,
}

#[derive(Debug, Clone)]
pub struct Outcome {
    pub per_user: PerUserTable,
    /// Every metric's mean (per-user metrics with a 95% interval).
    pub summary: Vec<(MetricId, MetricSummary)>,
    pub notes: Notes,
}

#[derive(Debug, thiserror::Error)]
pub enum EvaluateError {
    #[error("{metric} needs train interactions (item popularity and the catalogue); pass --train FILE or drop it from --metrics")]
    NeedsTrain { metric: &'static str },
    #[error("the truth file has no user with a relevant item (relevance > 0)")]
    NoTruth,
}

/// Scores `run` against `truth` at every cutoff. Within a user, items are
/// ordered by score descending (or rank ascending) and ties by item id
/// compared as strings, descending, exactly as trec_eval orders documents.
pub fn evaluate(
    run: &[Recommendation],
    truth: &[Judgement],
    train: Option<&[Judgement]>,
    set: &MetricSet,
    head_share: f64,
) -> Result<Outcome, EvaluateError> {
    if train.is_none() {
        if let Some(m) = set.metrics.iter().find(|m| !m.is_accuracy()) {
            return Err(EvaluateError::NeedsTrain { metric: m.as_str() });
        }
    }
    // One id space for every item named anywhere: the catalogue.
    let mut ids: HashMap<&str, u32> = HashMap::new();
    let all_items = train
        .into_iter()
        .flatten()
        .map(|j| j.item.as_str())
        .chain(truth.iter().map(|j| j.item.as_str()))
        .chain(run.iter().map(|r| r.item.as_str()));
    for item in all_items {
        let next = ids.len() as u32;
        ids.entry(item).or_insert(next);
    }
    let n_items = ids.len();

    let mut relevant: HashMap<&str, Vec<u32>> = HashMap::new();
    for j in truth.iter().filter(|j| j.relevant) {
        relevant
            .entry(j.user.as_str())
            .or_default()
            .push(ids[j.item.as_str()]);
    }
    if relevant.is_empty() {
        return Err(EvaluateError::NoTruth);
    }
    for items in relevant.values_mut() {
        items.sort_unstable();
        items.dedup();
    }

    let mut lists: HashMap<&str, Vec<&Recommendation>> = HashMap::new();
    for r in run {
        lists.entry(r.user.as_str()).or_default().push(r);
    }
    let mut notes = Notes {
        run_users_ignored: lists.keys().filter(|u| !relevant.contains_key(*u)).count(),
        ..Notes::default()
    };

    // Each user's distinct train items, for popularity and pop_lift.
    let mut histories: HashMap<&str, Vec<u32>> = HashMap::new();
    let mut popularity = vec![0u32; n_items];
    for j in train.into_iter().flatten() {
        let item = ids[j.item.as_str()];
        let own = histories.entry(j.user.as_str()).or_default();
        if !own.contains(&item) {
            own.push(item);
            popularity[item as usize] += 1;
        }
    }
    let items = ItemStats::new(popularity, head_share, histories.len());
    let history = |user: &str| {
        histories.get(user).map_or(f64::NAN, |own| {
            own.iter()
                .map(|&i| f64::from(items.popularity[i as usize]))
                .sum::<f64>()
                / own.len() as f64
        })
    };

    let mut users: Vec<&str> = relevant.keys().copied().collect();
    sort_ids(&mut users);
    let k = set.max_cutoff();
    let columns = set.per_user_columns();
    let mut values = vec![Vec::with_capacity(users.len()); columns.len()];
    let mut exposure: Vec<Vec<u32>> = vec![vec![0; n_items]; set.cutoffs.len()];
    let mut row = Vec::with_capacity(columns.len());
    for user in &users {
        let mut recs: Vec<&Recommendation> = lists.get(user).cloned().unwrap_or_default();
        if recs.is_empty() {
            notes.users_without_recommendations += 1;
        }
        let mut seen = HashSet::new();
        let before = recs.len();
        recs.retain(|r| seen.insert(r.item.as_str()));
        notes.duplicates += before - recs.len();
        recs.sort_by(|a, b| {
            let by_order = match (a.order, b.order) {
                (Order::Score(x), Order::Score(y)) => y.total_cmp(&x),
                (Order::Rank(x), Order::Rank(y)) => x.total_cmp(&y),
                (Order::Score(_), Order::Rank(_)) => std::cmp::Ordering::Less,
                (Order::Rank(_), Order::Score(_)) => std::cmp::Ordering::Greater,
            };
            by_order.then_with(|| b.item.cmp(&a.item))
        });
        let list: Vec<u32> = recs.iter().take(k).map(|r| ids[r.item.as_str()]).collect();
        row.clear();
        user_metrics(&list, &relevant[user], history(user), set, &items, &mut row);
        for (c, v) in row.iter().enumerate() {
            values[c].push(*v);
        }
        for (slot, &cut) in exposure.iter_mut().zip(&set.cutoffs) {
            for &i in &list[..cut.min(list.len())] {
                slot[i as usize] += 1;
            }
        }
    }

    let mut summary: Vec<(MetricId, MetricSummary)> = columns
        .iter()
        .zip(&values)
        .map(|(c, v)| {
            let (mean, ci95) = mean_ci95(v);
            (*c, MetricSummary { mean, ci95 })
        })
        .collect();
    for column in set.global_columns() {
        let counts = &exposure[set
            .cutoffs
            .iter()
            .position(|&c| c == column.k)
            .expect("a listed cutoff")];
        let mean = match column.kind {
            MetricKind::Coverage => coverage(counts),
            _ => gini(counts),
        };
        summary.push((column, MetricSummary { mean, ci95: None }));
    }
    Ok(Outcome {
        per_user: PerUserTable {
            users: users.iter().map(|u| u.to_string()).collect(),
            columns: columns.iter().map(MetricId::to_string).collect(),
            values,
        },
        summary,
        notes,
    })
}

/// Numeric order when every id is an integer, else lexicographic.
fn sort_ids(ids: &mut [&str]) {
    if ids.iter().all(|u| u.parse::<i64>().is_ok()) {
        ids.sort_by_key(|u| u.parse::<i64>().expect("checked"));
    } else {
        ids.sort_unstable();
    }
}
