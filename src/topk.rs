//! Top-K selection. The exact path (partial selection over the candidates,
//! then a sort of the K chosen) defines the order; the fast path reaches the
//! same list with vectorisable scans and defers to the exact path where it
//! cannot decide cheaply.

use std::cmp::Ordering;

/// The `k` best items of `scores` (higher first; equal scores by lower item
/// id, so lists are deterministic), skipping `excluded` items. NaN scores
/// rank last.
pub fn top_k(scores: &[f32], excluded: &[bool], k: usize) -> Vec<u32> {
    let key = |i: u32| {
        let s = scores[i as usize];
        if s.is_nan() {
            f32::NEG_INFINITY
        } else {
            s
        }
    };
    let better = |a: &u32, b: &u32| -> Ordering { key(*b).total_cmp(&key(*a)).then(a.cmp(b)) };
    let mut candidates: Vec<u32> = (0..scores.len() as u32)
        .filter(|&i| !excluded[i as usize])
        .collect();
    if k == 0 {
        return Vec::new();
    }
    if candidates.len() > k {
        candidates.select_nth_unstable_by(k - 1, better);
        candidates.truncate(k);
    }
    candidates.sort_unstable_by(better);
    candidates
}

/// The `k` best items of a score row after setting the items in each of
/// `excluded`'s lists to -inf: the fast path where it decides, [`top_k`]
/// otherwise. The one top-K of full ranking, shared by the evaluator and by
/// pipelines choosing their candidates, so both choose the same items.
pub fn best_k(row: &mut [f32], excluded: &[&[u32]], k: usize) -> Vec<u32> {
    for list in excluded {
        for &i in *list {
            row[i as usize] = f32::NEG_INFINITY;
        }
    }
    top_k_masked(row, k).unwrap_or_else(|| {
        let mut mask = vec![false; row.len()];
        for list in excluded {
            for &i in *list {
                mask[i as usize] = true;
            }
        }
        top_k(row, &mask, k)
    })
}

/// Lanes of the group-maximum scan: one AVX2 register of f32.
const LANES: usize = 8;
/// Largest group: a group's maximum costs one horizontal reduction, so
/// groups are long where the catalogue allows.
const MAX_GROUP: usize = 64;

crate::dispatch! {
    /// The fast path on a row whose excluded items are already -inf: the same
    /// list as [`top_k`], or None where it cannot decide cheaply (short rows, or
    /// fewer than K items with a finite score).
    ///
    /// The row is cut into G ≥ K groups of consecutive items; the K-th largest
    /// group maximum t is a lower bound of the K-th best score (K distinct
    /// items reach it). Only groups whose maximum reaches t can hold a
    /// candidate, about K of them, so the second pass reads a few hundred
    /// scores rather than the row again; the exact order is then taken among
    /// the candidates. The maxima are lane-wise (vertical) maxima over
    /// groups of 8-float lanes, which vectorise, so the row is read once.
    pub fn top_k_masked(scores: &[f32], k: usize) -> Option<Vec<u32>> => top_k_masked_portable
}

#[inline(always)]
fn top_k_masked_portable(scores: &[f32], k: usize) -> Option<Vec<u32>> {
    if k == 0 {
        return Some(Vec::new());
    }
    // About 2K groups (tight bound), each a whole number of lanes.
    let group = (scores.len() / (2 * k) / LANES * LANES).min(MAX_GROUP);
    if group < LANES || scores.len() / group < k {
        return None;
    }
    // Plain loops, not iterator adapters: a closure is compiled as its own
    // function, without the AVX2/AVX-512 features of the dispatched body.
    let groups = scores.len().div_ceil(group);
    let mut maxima = Vec::with_capacity(groups);
    for g in scores.chunks(group) {
        let mut lanes = [f32::NEG_INFINITY; LANES];
        let whole = g.len() / LANES * LANES;
        for part in g[..whole].chunks_exact(LANES) {
            for l in 0..LANES {
                // A NaN score compares false, so it never raises the bound;
                // this form maps to one vector max instruction.
                lanes[l] = if part[l] > lanes[l] {
                    part[l]
                } else {
                    lanes[l]
                };
            }
        }
        // The row's last group may end in a partial lane.
        for (l, &s) in g[whole..].iter().enumerate() {
            lanes[l] = if s > lanes[l] { s } else { lanes[l] };
        }
        let mut m = f32::NEG_INFINITY;
        for &x in &lanes {
            m = if x > m { x } else { m };
        }
        maxima.push(m);
    }
    let mut order = maxima.clone();
    let (_, &mut bound, _) = order.select_nth_unstable_by(k - 1, |a, b| b.total_cmp(a));
    if !bound.is_finite() {
        return None;
    }
    let mut candidates = Vec::with_capacity(4 * k);
    for (g, &m) in maxima.iter().enumerate() {
        if m < bound {
            continue;
        }
        let first = g * group;
        let last = (first + group).min(scores.len());
        for (j, &s) in scores[first..last].iter().enumerate() {
            if s >= bound {
                candidates.push(rank_key(s, (first + j) as u32));
            }
        }
    }
    if candidates.len() > k {
        candidates.select_nth_unstable(k - 1);
        candidates.truncate(k);
    }
    candidates.sort_unstable();
    Some(candidates.into_iter().map(|key| key as u32).collect())
}

/// An integer whose ascending order is the list's order: score descending
/// (`f32::total_cmp`), then item id ascending. The candidates are sorted as
/// these plain integers rather than through a comparator that loads two
/// scores per comparison (the sort was a fifth of the top-K's time).
#[inline(always)]
fn rank_key(score: f32, item: u32) -> u64 {
    // Flipping the sign bit of a positive float, and every bit of a negative
    // one, orders the bits as total_cmp orders the floats.
    let bits = score.to_bits();
    let ascending = if bits >> 31 == 1 {
        !bits
    } else {
        bits | 0x8000_0000
    };
    (u64::from(!ascending) << 32) | u64::from(item)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_pcg::Pcg64Mcg;

    #[test]
    fn picks_the_best_unexcluded_items_with_ties_by_id() {
        let scores = [0.5, 0.9, 0.9, f32::NAN, 0.1, 0.7];
        let excluded = [false, false, false, false, false, true];
        assert_eq!(top_k(&scores, &excluded, 3), vec![1, 2, 0]);
        // K larger than the candidates: all of them, NaN last.
        assert_eq!(top_k(&scores, &excluded, 10), vec![1, 2, 0, 4, 3]);
        assert_eq!(top_k(&scores, &excluded, 0), Vec::<u32>::new());
    }

    #[test]
    fn agrees_with_a_full_sort() {
        let scores: Vec<f32> = (0..500u32).map(|i| ((i * 7919) % 101) as f32).collect();
        let excluded: Vec<bool> = (0..500).map(|i| i % 13 == 0).collect();
        let mut all: Vec<u32> = (0..500).filter(|&i| !excluded[i as usize]).collect();
        all.sort_by(|&a, &b| {
            scores[b as usize]
                .total_cmp(&scores[a as usize])
                .then(a.cmp(&b))
        });
        assert_eq!(top_k(&scores, &excluded, 37), all[..37].to_vec());
    }

    #[test]
    fn fast_path_equals_the_exact_path_or_defers_to_it() {
        let mut rng = Pcg64Mcg::seed_from_u64(11);
        let mut deferred = 0;
        for case in 0..1000 {
            let n = rng.random_range(1..1500);
            let k = rng.random_range(0..120);
            let mut scores: Vec<f32> = (0..n)
                .map(|_| match rng.random_range(0..20) {
                    0 => f32::NAN,
                    1 => f32::NEG_INFINITY,
                    2 => -0.0,
                    _ => (rng.random_range(-4..8) as f32) / 4.0,
                })
                .collect();
            let excluded: Vec<bool> = (0..n).map(|_| rng.random_range(0..4) == 0).collect();
            let exact = top_k(&scores, &excluded, k);
            for (s, &x) in scores.iter_mut().zip(&excluded) {
                if x {
                    *s = f32::NEG_INFINITY;
                }
            }
            match top_k_masked(&scores, k) {
                Some(fast) => assert_eq!(fast, exact, "case {case}"),
                None => deferred += 1,
            }
        }
        assert!(
            deferred < 700,
            "the fast path must decide most cases ({deferred} deferred)"
        );
    }
}
