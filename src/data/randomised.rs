//! A randomised-exposure test set: items shown to each user uniformly at
//! random, each labelled by whether the user takes it. The debiasing
//! literature measures its estimators against such sets (Yahoo! R3's survey
//! users rated 10 randomly shown songs, Coat's 16 random items; Schnabel et
//! al. 2016, Yang et al. 2018): a uniform draw is not shaped by the system
//! that collected the log, so metrics on it need no propensities.
//!
//! Here the generator's true relevance ρ_ui labels the shown items: user u
//! takes item i with probability ρ_ui, the chance that i is among u's own
//! picks without exposure bias (docs/metrics.md, "Truth metrics").

use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;
use rayon::prelude::*;

use super::{CsrMatrix, TrueRelevance};
use crate::seed::mix;

/// Each user's shown items and the positives among them.
#[derive(Debug, Clone, PartialEq)]
pub struct RandomisedTest {
    /// Row u: the items shown to user u, positive or not (the labelled
    /// candidates the `randomised` protocol ranks).
    pub shown: CsrMatrix,
    /// Row u: the shown items u took. Users without one are not evaluated.
    pub positives: CsrMatrix,
}

impl RandomisedTest {
    /// Shows each user `per_user` distinct items drawn uniformly from those
    /// absent from every matrix of `logged` (all of them where fewer
    /// remain), and keeps item i as a positive with probability ρ_ui. One
    /// seeded stream per user: the same for any thread count.
    pub fn draw(
        truth: &dyn TrueRelevance,
        logged: &[&CsrMatrix],
        per_user: usize,
        seed: u64,
    ) -> Self {
        let n_items = truth.n_items();
        let n_users = logged.first().map_or(0, |m| m.n_rows());
        let rows: Vec<(Vec<u32>, Vec<u32>)> = (0..n_users as u32)
            .into_par_iter()
            .map_init(
                || vec![0.0; n_items],
                |rho, u| {
                    let row = u as usize;
                    let unlogged: Vec<u32> = (0..n_items as u32)
                        .filter(|&i| !logged.iter().any(|m| m.contains(row, i)))
                        .collect();
                    let mut rng = Pcg64Mcg::seed_from_u64(mix(seed ^ mix(u64::from(u))));
                    let shown = partial_shuffle(unlogged, per_user, &mut rng);
                    truth.relevance(u, rho);
                    let taken = shown
                        .iter()
                        .copied()
                        .filter(|&i| rng.random::<f64>() < rho[i as usize])
                        .collect();
                    (shown, taken)
                },
            )
            .collect();
        let (shown, taken): (Vec<Vec<u32>>, Vec<Vec<u32>>) = rows.into_iter().unzip();
        let matrix = |lists: &[Vec<u32>]| {
            let pairs: Vec<(u32, u32)> = lists
                .iter()
                .enumerate()
                .flat_map(|(u, items)| items.iter().map(move |&i| (u as u32, i)))
                .collect();
            CsrMatrix::from_pairs(n_users, n_items, &pairs)
        };
        Self {
            shown: matrix(&shown),
            positives: matrix(&taken),
        }
    }

    /// Users shown at least one item, and those of them who took one.
    pub fn users(&self) -> (usize, usize) {
        (
            self.shown.nonempty_rows().len(),
            self.positives.nonempty_rows().len(),
        )
    }
}

/// The first `n` items of a uniform random permutation of `items` (all of
/// them when there are no more), by a partial Fisher–Yates shuffle.
fn partial_shuffle(mut items: Vec<u32>, n: usize, rng: &mut Pcg64Mcg) -> Vec<u32> {
    let n = n.min(items.len());
    for k in 0..n {
        let j = rng.random_range(k..items.len());
        items.swap(k, j);
    }
    items.truncate(n);
    items
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ρ = 1 for even items, 0 for odd ones.
    struct EvenTaken(usize);

    impl TrueRelevance for EvenTaken {
        fn n_items(&self) -> usize {
            self.0
        }
        fn relevance(&self, _user: u32, out: &mut [f64]) {
            for (i, r) in out.iter_mut().enumerate() {
                *r = if i % 2 == 0 { 1.0 } else { 0.0 };
            }
        }
    }

    #[test]
    fn shows_unlogged_items_and_labels_them_by_relevance() {
        let log = CsrMatrix::from_pairs(3, 12, &[(0, 0), (0, 1), (2, 4)]);
        let t = RandomisedTest::draw(&EvenTaken(12), &[&log], 5, 9);
        for u in 0..3 {
            let shown = t.shown.row(u);
            assert_eq!(shown.len(), 5);
            assert!(shown.iter().all(|&i| !log.contains(u, i)));
            let even: Vec<u32> = shown.iter().copied().filter(|i| i % 2 == 0).collect();
            assert_eq!(t.positives.row(u), &even[..], "user {u}");
        }
        assert_eq!(t, RandomisedTest::draw(&EvenTaken(12), &[&log], 5, 9));
        assert_ne!(t, RandomisedTest::draw(&EvenTaken(12), &[&log], 5, 10));
        // More than remain: every unlogged item is shown.
        let all = RandomisedTest::draw(&EvenTaken(12), &[&log], 50, 9);
        assert_eq!(all.shown.row(0).len(), 10);
        assert_eq!(all.shown.row(1).len(), 12);
    }

    #[test]
    fn draws_are_uniform_over_unlogged_items() {
        // 4,000 users shown 2 of 10 items: each item 800 times in expectation
        // (binomial sd ≈ 25); none of the logged item 0.
        let pairs: Vec<(u32, u32)> = (0..4000).map(|u| (u, 0)).collect();
        let log = CsrMatrix::from_pairs(4000, 11, &pairs);
        let t = RandomisedTest::draw(&EvenTaken(11), &[&log], 2, 3);
        let counts = t.shown.column_counts();
        assert_eq!(counts[0], 0);
        for &c in &counts[1..] {
            assert!((700..=900).contains(&c), "{counts:?}");
        }
    }
}
