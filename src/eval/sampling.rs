//! Candidates of the sampled protocol: each evaluated user's held-out items
//! plus N items the user never interacted with, drawn once per experiment
//! from a per-user seeded stream, so every model and every epoch faces the
//! same candidates (redrawing per model makes models incomparable).

use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;
use rayon::prelude::*;

use super::Sampler;
use crate::data::CsrMatrix;
use crate::seed::mix;

/// A users × items matrix whose row u holds u's candidates: the items of
/// `truth` plus up to `negatives` distinct items absent from every matrix in
/// `interacted` (fewer only when fewer exist).
pub fn sampled_candidates(
    truth: &CsrMatrix,
    interacted: &[&CsrMatrix],
    popularity: &[u32],
    negatives: usize,
    sampler: Sampler,
    seed: u64,
) -> CsrMatrix {
    let n_items = truth.n_cols();
    // Cumulative weights for the popularity sampler; uniform needs none.
    let cumulative: Vec<u64> = match sampler {
        Sampler::Uniform => Vec::new(),
        Sampler::Popularity => popularity
            .iter()
            .scan(0u64, |acc, &n| {
                *acc += u64::from(n);
                Some(*acc)
            })
            .collect(),
    };
    let users = truth.nonempty_rows();
    let rows: Vec<Vec<(u32, u32)>> = users
        .par_iter()
        .map(|&u| {
            let row = u as usize;
            let taken =
                |i: u32| truth.contains(row, i) || interacted.iter().any(|m| m.contains(row, i));
            let eligible =
                |i: u32| !taken(i) && (sampler == Sampler::Uniform || popularity[i as usize] > 0);
            let available = (0..n_items as u32).filter(|&i| eligible(i)).count();
            let mut chosen: Vec<u32> = Vec::with_capacity(negatives.min(available));
            if available <= negatives {
                chosen.extend((0..n_items as u32).filter(|&i| eligible(i)));
            } else {
                let mut rng = Pcg64Mcg::seed_from_u64(mix(seed ^ mix(u64::from(u))));
                while chosen.len() < negatives {
                    let i = match sampler {
                        Sampler::Uniform => rng.random_range(0..n_items as u32),
                        Sampler::Popularity => {
                            let total = *cumulative.last().expect("some item is popular");
                            let r = rng.random_range(0..total);
                            cumulative.partition_point(|&c| c <= r) as u32
                        }
                    };
                    if eligible(i) && !chosen.contains(&i) {
                        chosen.push(i);
                    }
                }
            }
            chosen
                .into_iter()
                .chain(truth.row(row).iter().copied())
                .map(|i| (u, i))
                .collect()
        })
        .collect();
    let pairs: Vec<(u32, u32)> = rows.into_iter().flatten().collect();
    CsrMatrix::from_pairs(truth.n_rows(), n_items, &pairs)
}

/// The ranked top `k` of a user's candidates: score descending; at equal
/// scores negatives before held-out items (the NCF evaluation's pessimistic
/// rule), then lower id. NaN scores rank last.
pub fn rank_candidates(scores: &[f32], candidates: &[u32], truth: &[u32], k: usize) -> Vec<u32> {
    let key = |i: u32| {
        let s = scores[i as usize];
        if s.is_nan() {
            f32::NEG_INFINITY
        } else {
            s
        }
    };
    let relevant = |i: u32| truth.binary_search(&i).is_ok();
    let mut list = candidates.to_vec();
    list.sort_unstable_by(|&a, &b| {
        key(b)
            .total_cmp(&key(a))
            .then(relevant(a).cmp(&relevant(b)))
            .then(a.cmp(&b))
    });
    list.truncate(k);
    list
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negatives_are_distinct_unseen_and_fixed_by_the_seed() {
        let truth = CsrMatrix::from_pairs(3, 50, &[(0, 7), (2, 9)]);
        let train = CsrMatrix::from_pairs(3, 50, &[(0, 1), (0, 2), (2, 3)]);
        let pop = vec![1u32; 50];
        let c = sampled_candidates(&truth, &[&train], &pop, 10, Sampler::Uniform, 4);
        assert_eq!(c.row(0).len(), 11);
        assert!(c.row(0).contains(&7) && !c.row(0).contains(&1) && !c.row(0).contains(&2));
        assert!(
            c.row(1).is_empty(),
            "users without held-out items get no candidates"
        );
        assert_eq!(
            c,
            sampled_candidates(&truth, &[&train], &pop, 10, Sampler::Uniform, 4)
        );
        assert_ne!(
            c,
            sampled_candidates(&truth, &[&train], &pop, 10, Sampler::Uniform, 5)
        );
        // Asking for more negatives than exist takes them all.
        let all = sampled_candidates(&truth, &[&train], &pop, 1000, Sampler::Uniform, 4);
        assert_eq!(all.row(0).len(), 50 - 2);
    }

    #[test]
    fn popularity_sampler_never_draws_unseen_items() {
        let truth = CsrMatrix::from_pairs(1, 20, &[(0, 0)]);
        let none = CsrMatrix::from_pairs(1, 20, &[]);
        let mut pop = vec![0u32; 20];
        pop[3] = 5;
        pop[4] = 1;
        pop[5] = 2;
        let c = sampled_candidates(&truth, &[&none], &pop, 2, Sampler::Popularity, 1);
        assert!(
            c.row(0).iter().all(|&i| i == 0 || (3..=5).contains(&i)),
            "{:?}",
            c.row(0)
        );
        assert_eq!(c.row(0).len(), 3);
    }

    #[test]
    fn ties_rank_negatives_first() {
        let scores = [0.5, 0.9, 0.5, 0.1];
        // Item 2 is held out and ties with negative 0: the negative wins.
        assert_eq!(
            rank_candidates(&scores, &[0, 1, 2, 3], &[2], 4),
            vec![1, 0, 2, 3]
        );
    }
}
