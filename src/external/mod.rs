//! `recsweep evaluate`: scores recommendations that any system produced
//! against held-out interactions, with the same metric code as the harness
//! and trec_eval's ordering rules, so numbers agree with trec_eval.

mod formats;

use crate::eval::{
    pool, summarise, user_metrics, Family, ItemStats, MetricId, MetricSet, MetricSummary,
};
use crate::per_user_file::PerUserTable;

pub use formats::{
    read_judgements, read_run, FormatError, Interner, Judgement, Order, Recommendation, Vocabulary,
};

/// What `evaluate` noticed about its inputs, reported as warnings.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Notes {
    /// Repeated (user, item) rows of the run; the first was kept.
    pub duplicates: usize,
    /// Users in the run but not in the truth file: ignored.
    pub run_users_ignored: usize,
    /// Users in the truth file with no recommendation: scored as empty lists.
    pub users_without_recommendations: usize,
    /// Recommendations of items the user had already interacted with (the
    /// `seen` judgements), removed before the cutoff, and their users.
    pub seen_removed: usize,
    pub seen_users: usize,
}

#[derive(Debug, Clone)]
pub struct Scores {
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

/// How scores are compared when a run's lists are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ScorePrecision {
    /// trec_eval's rule: each score is kept as a 32-bit float (`float sim`
    /// in its `TEXT_RESULTS`), so scores equal after rounding to f32 are tied
    /// and then ordered by item id. The default, so numbers match trec_eval.
    #[default]
    Float32,
    /// Compare the parsed f64 values: scores that differ past float
    /// precision keep their order.
    Exact,
}

/// Settings of one `evaluate` call besides the metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct EvaluateOptions {
    /// Share of train interactions held by head items (aplt's long-tail rule).
    pub head_share: f64,
    pub precision: ScorePrecision,
    /// Item propensities for the debiased metrics, from train popularity.
    pub propensity: Option<crate::eval::PropensitySpec>,
}

impl Default for EvaluateOptions {
    fn default() -> Self {
        Self {
            head_share: crate::eval::DEFAULT_HEAD_SHARE,
            precision: ScorePrecision::default(),
            propensity: None,
        }
    }
}

/// Scores `run` against `truth` at every cutoff. Within a user, items are
/// ordered by score descending (or rank ascending) and ties by item id
/// compared as strings, descending, exactly as trec_eval orders documents;
/// scores are compared as trec_eval stores them unless `options.precision`
/// says otherwise. Items of a user's `seen` judgements (train, and
/// validation when scoring test) are removed from their list before the
/// cutoff, as recsweep's own models never recommend them; None scores the
/// run as given.
pub fn evaluate(
    run: &[Recommendation],
    truth: &[Judgement],
    train: Option<&[Judgement]>,
    seen: Option<&[Judgement]>,
    vocabulary: &Vocabulary,
    set: &MetricSet,
    options: &EvaluateOptions,
) -> Result<Scores, EvaluateError> {
    if train.is_none() {
        if let Some(m) = set.metrics.iter().find(|m| m.family() != Family::Accuracy) {
            return Err(EvaluateError::NeedsTrain { metric: m.as_str() });
        }
    }
    // Every item named anywhere is the catalogue.
    let n_items = vocabulary.items.len();
    let n_users = vocabulary.users.len();
    let relevant = by_user(truth.iter().filter(|j| j.relevant), n_users);
    let evaluated: Vec<u32> = (0..n_users as u32)
        .filter(|&u| !relevant[u as usize].is_empty())
        .collect();
    if evaluated.is_empty() {
        return Err(EvaluateError::NoTruth);
    }

    let mut lists: Vec<Vec<Recommendation>> = vec![Vec::new(); n_users];
    for r in run {
        lists[r.user as usize].push(*r);
    }
    let mut notes = Notes {
        run_users_ignored: (0..n_users)
            .filter(|&u| !lists[u].is_empty() && relevant[u].is_empty())
            .count(),
        ..Notes::default()
    };

    // Each user's distinct train items, for popularity and pop_lift.
    let histories = by_user(train.into_iter().flatten(), n_users);
    let mut popularity = vec![0u32; n_items];
    for &i in histories.iter().flatten() {
        popularity[i as usize] += 1;
    }
    let train_users = histories.iter().filter(|h| !h.is_empty()).count();
    let items = ItemStats::new(popularity, options.head_share, train_users)
        .with_propensity(options.propensity.as_ref(), None);
    let history = |u: u32| items.mean_popularity(&histories[u as usize]);
    let seen_items = seen.map(|s| by_user(s.iter(), n_users));
    let name_rank = name_ranks(&vocabulary.items);

    let mut users: Vec<u32> = evaluated;
    sort_ids(&mut users, &vocabulary.users);
    let k = set.max_cutoff();
    let columns = set.per_user_columns();
    let mut values = vec![Vec::with_capacity(users.len()); columns.len()];
    let mut top_lists: Vec<Vec<u32>> = Vec::with_capacity(users.len());
    let mut row = Vec::with_capacity(columns.len());
    let mut seen = vec![false; n_items];
    for &user in &users {
        let recs = &mut lists[user as usize];
        if recs.is_empty() {
            notes.users_without_recommendations += 1;
        }
        let mine = seen_items.as_ref().map(|s| &s[user as usize][..]);
        drop_repeats_and_seen(recs, &mut seen, mine, &mut notes);
        recs.sort_by(|a, b| trec_order(a, b, options.precision, &name_rank));
        let list: Vec<u32> = recs.iter().take(k).map(|r| r.item).collect();
        row.clear();
        user_metrics(
            &list,
            &relevant[user as usize],
            history(user),
            None,
            set,
            &items,
            &mut row,
        );
        for (c, v) in row.iter().enumerate() {
            values[c].push(*v);
        }
        top_lists.push(list);
    }

    let truths = users.iter().map(|&u| &relevant[u as usize][..]);
    pool(&columns, &mut values, truths, &items);
    let summary = summarise(&columns, &values, &top_lists, set, n_items);
    Ok(Scores {
        per_user: PerUserTable {
            users: users
                .iter()
                .map(|&u| vocabulary.users.name(u).to_string())
                .collect(),
            columns: columns.iter().map(MetricId::to_string).collect(),
            values,
        },
        summary,
        notes,
    })
}

/// Removes from one user's list its repeated items (the first stays) and,
/// when given, the items the user has already seen (`mine`, sorted),
/// counting both in `notes`. `flags` is all false on entry and on return.
fn drop_repeats_and_seen(
    recs: &mut Vec<Recommendation>,
    flags: &mut [bool],
    mine: Option<&[u32]>,
    notes: &mut Notes,
) {
    let before = recs.len();
    recs.retain(|r| !std::mem::replace(&mut flags[r.item as usize], true));
    for r in recs.iter() {
        flags[r.item as usize] = false;
    }
    notes.duplicates += before - recs.len();
    if let Some(mine) = mine {
        let before = recs.len();
        recs.retain(|r| mine.binary_search(&r.item).is_err());
        notes.seen_removed += before - recs.len();
        notes.seen_users += usize::from(recs.len() < before);
    }
}

/// Each user's distinct items among `judgements`, sorted.
fn by_user<'a>(judgements: impl Iterator<Item = &'a Judgement>, n_users: usize) -> Vec<Vec<u32>> {
    let mut out: Vec<Vec<u32>> = vec![Vec::new(); n_users];
    for j in judgements {
        out[j.user as usize].push(j.item);
    }
    for items in &mut out {
        items.sort_unstable();
        items.dedup();
    }
    out
}

/// Each item's rank among all item ids compared as strings: trec_eval's
/// tie rule, computed once instead of comparing strings per pair.
fn name_ranks(items: &Interner) -> Vec<u32> {
    let mut by_name: Vec<u32> = (0..items.len() as u32).collect();
    by_name.sort_unstable_by(|&a, &b| items.name(a).cmp(items.name(b)));
    let mut rank = vec![0u32; items.len()];
    for (r, &i) in by_name.iter().enumerate() {
        rank[i as usize] = r as u32;
    }
    rank
}

/// trec_eval's order of two recommendations of one user: score descending
/// (as `precision` compares scores) or rank ascending, then item id as a
/// string, descending.
fn trec_order(
    a: &Recommendation,
    b: &Recommendation,
    precision: ScorePrecision,
    name_rank: &[u32],
) -> std::cmp::Ordering {
    let by_order = match (a.order, b.order) {
        (Order::Score(x), Order::Score(y)) => match precision {
            ScorePrecision::Float32 => (y as f32).total_cmp(&(x as f32)),
            ScorePrecision::Exact => y.total_cmp(&x),
        },
        (Order::Rank(x), Order::Rank(y)) => x.total_cmp(&y),
        (Order::Score(_), Order::Rank(_)) => std::cmp::Ordering::Less,
        (Order::Rank(_), Order::Score(_)) => std::cmp::Ordering::Greater,
    };
    by_order.then_with(|| name_rank[b.item as usize].cmp(&name_rank[a.item as usize]))
}

/// Numeric order when every id is an integer, else lexicographic.
fn sort_ids(ids: &mut [u32], names: &Interner) {
    let name = |u: &u32| names.name(*u);
    if ids.iter().all(|u| name(u).parse::<i64>().is_ok()) {
        ids.sort_by_key(|u| name(u).parse::<i64>().expect("checked"));
    } else {
        ids.sort_unstable_by(|a, b| name(a).cmp(name(b)));
    }
}
