//! Top-K selection: a partial selection (O(n)) then a sort of the K chosen,
//! instead of sorting the whole catalogue.

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
