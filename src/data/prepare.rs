//! From a raw log (original ids, every row) to clean [`Interactions`]:
//! positive threshold, duplicate removal, k-core filtering, dense ids.

use std::collections::HashMap;

use rayon::prelude::*;

use super::{DataError, DatasetStats, Interactions};
use super::{DatasetSpec, FilterSpec};

/// Original ids of one column: integer ids stay integers so that 20M-row logs
/// are not turned into 20M strings.
#[derive(Debug, Clone, PartialEq)]
pub enum Ids {
    Int(Vec<i64>),
    Str(Vec<String>),
}

impl Ids {
    /// Every id as text (what mixing integer and text ids needs).
    fn into_strings(self) -> Vec<String> {
        match self {
            Ids::Int(v) => v.iter().map(i64::to_string).collect(),
            Ids::Str(v) => v,
        }
    }

    /// The ids of several logs in order; integers stay integers when every
    /// log's are.
    fn concat(all: Vec<Ids>) -> Ids {
        if all.iter().all(|i| matches!(i, Ids::Int(_))) {
            Ids::Int(
                all.into_iter()
                    .flat_map(|i| match i {
                        Ids::Int(v) => v,
                        Ids::Str(_) => unreachable!("checked above"),
                    })
                    .collect(),
            )
        } else {
            Ids::Str(all.into_iter().flat_map(Ids::into_strings).collect())
        }
    }

    fn len(&self) -> usize {
        match self {
            Ids::Int(v) => v.len(),
            Ids::Str(v) => v.len(),
        }
    }

    /// Dense codes in sorted-id order for the rows in `keep`, and the label of
    /// each code.
    fn encode(&self, keep: &[usize]) -> (Vec<u32>, Vec<String>) {
        match self {
            Ids::Int(v) => {
                let mut unique: Vec<i64> = keep.iter().map(|&r| v[r]).collect();
                unique.sort_unstable();
                unique.dedup();
                let codes = keep
                    .iter()
                    .map(|&r| unique.binary_search(&v[r]).expect("id collected above") as u32)
                    .collect();
                (codes, unique.iter().map(i64::to_string).collect())
            }
            Ids::Str(v) => {
                let mut unique: Vec<&str> = keep.iter().map(|&r| v[r].as_str()).collect();
                unique.sort_unstable();
                unique.dedup();
                let lookup: HashMap<&str, u32> = unique
                    .iter()
                    .enumerate()
                    .map(|(i, s)| (*s, i as u32))
                    .collect();
                let codes = keep.iter().map(|&r| lookup[v[r].as_str()]).collect();
                (codes, unique.iter().map(|s| s.to_string()).collect())
            }
        }
    }
}

/// A log as read: original ids, optional ratings and timestamps, every row.
#[derive(Debug, Clone, PartialEq)]
pub struct RawLog {
    pub users: Ids,
    pub items: Ids,
    pub ratings: Option<Vec<f64>>,
    pub timestamps: Option<Vec<i64>>,
    /// The part each row belongs to (a split read from files).
    pub parts: Option<Vec<u8>>,
}

impl RawLog {
    /// Several logs (each tagged with its part) as one, rows in order.
    pub fn concat(logs: Vec<(u8, RawLog)>) -> RawLog {
        let all_have = |f: fn(&RawLog) -> bool| logs.iter().all(|(_, l)| f(l));
        let ratings = all_have(|l| l.ratings.is_some());
        let timestamps = all_have(|l| l.timestamps.is_some());
        let mut parts = Vec::new();
        let (mut users, mut items, mut r, mut t) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (part, log) in logs {
            parts.extend(std::iter::repeat_n(part, log.users.len()));
            users.push(log.users);
            items.push(log.items);
            r.extend(log.ratings.unwrap_or_default());
            t.extend(log.timestamps.unwrap_or_default());
        }
        RawLog {
            users: Ids::concat(users),
            items: Ids::concat(items),
            ratings: ratings.then_some(r),
            timestamps: timestamps.then_some(t),
            parts: Some(parts),
        }
    }
}

pub(crate) fn prepare(
    raw: RawLog,
    spec: &DatasetSpec,
    source_name: &str,
) -> Result<(Interactions, DatasetStats), DataError> {
    let content = |message: String| DataError::Content {
        source_name: source_name.to_string(),
        message,
    };
    let rows_read = raw.users.len();
    let mut keep: Vec<usize> = (0..rows_read).collect();
    if let Some(positive) = &spec.positive {
        let ratings = raw.ratings.as_ref().ok_or_else(|| {
            content("positive.min_rating needs ratings, but the data has no rating column; add columns.rating or remove positive".into())
        })?;
        keep.retain(|&r| ratings[r] >= positive.min_rating);
    }
    let below_min_rating = rows_read - keep.len();

    // Each raw id column is dropped once encoded: at 20M rows each is
    // 160 MB, and loading's peak memory is here.
    let RawLog {
        users: raw_users,
        items: raw_items,
        ratings: raw_ratings,
        timestamps: raw_timestamps,
        parts: raw_parts,
    } = raw;
    let (mut users, user_labels) = raw_users.encode(&keep);
    drop(raw_users);
    let (mut items, item_labels) = raw_items.encode(&keep);
    drop(raw_items);

    let unique = first_occurrences(&users, &items, user_labels.len());
    let duplicates = keep.len() - unique.len();
    let pick = |v: &[u32], rows: &[usize]| rows.iter().map(|&k| v[k]).collect::<Vec<u32>>();
    users = pick(&users, &unique);
    items = pick(&items, &unique);
    let mut rows: Vec<usize> = unique.iter().map(|&k| keep[k]).collect();

    let before_filter = rows.len();
    k_core(
        &mut users,
        &mut items,
        &mut rows,
        (user_labels.len(), item_labels.len()),
        &spec.filter,
    );
    let filtered = before_filter - rows.len();
    if rows.is_empty() {
        return Err(content(format!(
            "no interactions left after cleaning ({rows_read} read, {below_min_rating} below min_rating, {duplicates} duplicates, {filtered} filtered); lower positive.min_rating or the filter minimums"
        )));
    }

    // Ids that survived keep their sorted order, renumbered densely.
    let (users, user_labels) = redensify(&users, user_labels);
    let (items, item_labels) = redensify(&items, item_labels);
    let interactions = Interactions {
        users,
        items,
        timestamps: raw_timestamps.map(|t| rows.iter().map(|&r| t[r]).collect()),
        ratings: raw_ratings.map(|t| rows.iter().map(|&r| t[r] as f32).collect()),
        user_labels,
        item_labels,
        parts: raw_parts.map(|p| rows.iter().map(|&r| p[r]).collect()),
    };
    let mut popularity = vec![0u32; interactions.n_items()];
    for &i in &interactions.items {
        popularity[i as usize] += 1;
    }
    let stats = DatasetStats {
        source: source_name.to_string(),
        rows_read,
        below_min_rating,
        duplicates,
        filtered,
        users: interactions.n_users(),
        items: interactions.n_items(),
        interactions: interactions.len(),
        density: interactions.len() as f64
            / (interactions.n_users() as f64 * interactions.n_items() as f64),
        popularity_gini: crate::inequality::gini(&popularity),
        has_timestamps: interactions.timestamps.is_some(),
        fingerprint: interactions.fingerprint(),
    };
    Ok((interactions, stats))
}

fn redensify(codes: &[u32], labels: Vec<String>) -> (Vec<u32>, Vec<String>) {
    let mut new_code = vec![u32::MAX; labels.len()];
    for &c in codes {
        new_code[c as usize] = 0;
    }
    let mut kept = Vec::new();
    for (old, label) in labels.into_iter().enumerate() {
        if new_code[old] == 0 {
            new_code[old] = kept.len() as u32;
            kept.push(label);
        }
    }
    (codes.iter().map(|&c| new_code[c as usize]).collect(), kept)
}

/// Positions of the first occurrence of each (user, item): implicit
/// feedback counts a repeated pair once, the earliest in input order.
/// Rows are grouped by user (a counting sort, input order kept), each
/// user's (item, row) pairs sorted so repeats sit together: linear in the
/// log and parallel over users, where one hash set of 20M pairs was the
/// slowest step of loading MovieLens-20M-size data.
fn first_occurrences(users: &[u32], items: &[u32], n_users: usize) -> Vec<usize> {
    let mut start = vec![0usize; n_users + 1];
    for &u in users {
        start[u as usize + 1] += 1;
    }
    for u in 0..n_users {
        start[u + 1] += start[u];
    }
    let mut next = start.clone();
    // Row numbers as u32 (a log has fewer than 2³² rows): 8 bytes a row.
    let mut by_user = vec![(0u32, 0u32); users.len()];
    for (r, (&u, &i)) in users.iter().zip(items).enumerate() {
        by_user[next[u as usize]] = (i, r as u32);
        next[u as usize] += 1;
    }
    let mut groups: Vec<&mut [(u32, u32)]> = Vec::with_capacity(n_users);
    let mut rest = by_user.as_mut_slice();
    for u in 0..n_users {
        let (head, tail) = rest.split_at_mut(start[u + 1] - start[u]);
        groups.push(head);
        rest = tail;
    }
    let repeats: Vec<u32> = groups
        .into_par_iter()
        .flat_map_iter(|pairs| {
            // (item, row) order: a pair's first row leads its run.
            pairs.sort_unstable();
            let mut dropped = Vec::new();
            for k in 1..pairs.len() {
                if pairs[k].0 == pairs[k - 1].0 {
                    dropped.push(pairs[k].1);
                }
            }
            dropped
        })
        .collect();
    let mut keep = vec![true; users.len()];
    for r in repeats {
        keep[r as usize] = false;
    }
    (0..users.len()).filter(|&r| keep[r]).collect()
}

/// Drops rows until every user and item has its minimum of interactions.
/// Filtering one side can push the other below its minimum, so this repeats
/// until stable. `users`, `items` and `rows` are filtered together.
fn k_core(
    users: &mut Vec<u32>,
    items: &mut Vec<u32>,
    rows: &mut Vec<usize>,
    (n_users, n_items): (usize, usize),
    filter: &FilterSpec,
) {
    let (min_u, min_i) = (filter.min_user_interactions, filter.min_item_interactions);
    loop {
        let mut user_count = vec![0usize; n_users];
        let mut item_count = vec![0usize; n_items];
        for (&u, &i) in users.iter().zip(items.iter()) {
            user_count[u as usize] += 1;
            item_count[i as usize] += 1;
        }
        let ok: Vec<bool> = users
            .iter()
            .zip(items.iter())
            .map(|(&u, &i)| user_count[u as usize] >= min_u && item_count[i as usize] >= min_i)
            .collect();
        if ok.iter().all(|&b| b) {
            break;
        }
        let retain = |v: &mut Vec<u32>| {
            let mut flags = ok.iter();
            v.retain(|_| *flags.next().expect("one flag per row"));
        };
        retain(users);
        retain(items);
        let mut flags = ok.iter();
        rows.retain(|_| *flags.next().expect("one flag per row"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::PositiveSpec;

    fn raw() -> RawLog {
        RawLog {
            parts: None,
            users: Ids::Str(
                vec!["b", "a", "b", "c", "a", "b", "a"]
                    .into_iter()
                    .map(String::from)
                    .collect(),
            ),
            items: Ids::Int(vec![10, 10, 20, 10, 20, 10, 30]),
            ratings: Some(vec![5.0, 4.0, 2.0, 5.0, 5.0, 4.0, 5.0]),
            timestamps: Some(vec![1, 2, 3, 4, 5, 6, 7]),
        }
    }

    #[test]
    fn threshold_dedup_and_sorted_dense_ids() {
        let spec = DatasetSpec {
            positive: Some(PositiveSpec { min_rating: 4.0 }),
            ..DatasetSpec::default()
        };
        let (data, stats) = prepare(raw(), &spec, "t").unwrap();
        assert_eq!(stats.below_min_rating, 1);
        assert_eq!(stats.duplicates, 1); // (b,10) twice: the first (t=1) stays
        assert_eq!(data.user_labels, ["a", "b", "c"]);
        assert_eq!(data.item_labels, ["10", "20", "30"]);
        assert_eq!(data.users, [1, 0, 2, 0, 0]);
        assert_eq!(data.items, [0, 0, 0, 1, 2]);
        assert_eq!(data.timestamps.as_deref(), Some(&[1, 2, 4, 5, 7][..]));
    }

    #[test]
    fn k_core_filter_repeats_until_stable() {
        // With min 2 per user and per item: c (1 row) goes, then item 10 still
        // has a and b; item 20 has a only after b's rating-2 row... no threshold
        // here, so b keeps (b,20). Item 30 (1 row) goes, leaving a with 10, 20.
        let spec = DatasetSpec {
            filter: FilterSpec {
                min_user_interactions: 2,
                min_item_interactions: 2,
            },
            ..DatasetSpec::default()
        };
        let (data, stats) = prepare(raw(), &spec, "t").unwrap();
        assert_eq!(data.user_labels, ["a", "b"]);
        assert_eq!(data.item_labels, ["10", "20"]);
        assert_eq!(data.len(), 4);
        assert_eq!(stats.filtered, 2);
    }

    #[test]
    fn nothing_left_is_an_error_that_says_why() {
        let spec = DatasetSpec {
            positive: Some(PositiveSpec { min_rating: 9.0 }),
            ..DatasetSpec::default()
        };
        let err = prepare(raw(), &spec, "ratings.csv")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("ratings.csv") && err.contains("7 below min_rating"),
            "{err}"
        );
    }
}
