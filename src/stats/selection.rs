//! How sure a selection is: the probability, over resampled validation users
//! and seeds, that the configuration selected on validation really has the
//! best validation mean of those tried. With one held-out item per user,
//! validation means differ by noise as often as by merit; this says how
//! often (a probability near 1/n over n configurations means the choice was a
//! draw).
//!
//! Each resample draws the users with replacement (the same draw for every
//! configuration, since they share the validation users) and, for each
//! configuration, its seeds with replacement; the configuration with the
//! best resampled mean wins, ties shared. Work is split into chunks seeded
//! from (seed, chunk), so results do not depend on the thread count.

use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;
use rayon::prelude::*;

use crate::seed::mix;

/// Resamples per chunk: the unit of parallel work and of seeding.
const CHUNK: usize = 50;

/// Resamples used by the report: a Monte-Carlo standard error of at most
/// 0.016 on the probability.
pub const SELECTION_RESAMPLES: usize = 1_000;

/// `values[c][s][u]`: configuration c's validation value under seed s for
/// user u (users aligned across configurations). The probability that
/// `selected` has the best mean (the highest, or the lowest when
/// `higher_is_better` is false) over resampled users and seeds. None with
/// fewer than two configurations, a configuration without seeds, or fewer
/// than two users defined everywhere.
pub fn selection_probability(
    values: &[Vec<Vec<f64>>],
    selected: usize,
    higher_is_better: bool,
    resamples: usize,
    seed: u64,
) -> Option<f64> {
    if values.len() < 2 || selected >= values.len() || values.iter().any(Vec::is_empty) {
        return None;
    }
    let users = values.iter().flatten().map(Vec::len).min()?;
    let defined: Vec<usize> = (0..users)
        .filter(|&u| values.iter().flatten().all(|s| !s[u].is_nan()))
        .collect();
    if defined.len() < 2 || resamples == 0 {
        return None;
    }
    let chunks = resamples.div_ceil(CHUNK);
    let wins: f64 = (0..chunks)
        .into_par_iter()
        .map(|c| {
            let mut rng = Pcg64Mcg::seed_from_u64(mix(seed ^ mix(c as u64)));
            let mut weight = vec![0u32; defined.len()];
            let mut means = vec![0.0; values.len()];
            let mut won = 0.0;
            for _ in 0..CHUNK.min(resamples - c * CHUNK) {
                weight.iter_mut().for_each(|w| *w = 0);
                for _ in 0..defined.len() {
                    weight[rng.random_range(0..defined.len())] += 1;
                }
                for (mean, seeds) in means.iter_mut().zip(values) {
                    let mut sum = 0.0;
                    for _ in 0..seeds.len() {
                        let x = &seeds[rng.random_range(0..seeds.len())];
                        sum += defined
                            .iter()
                            .zip(&weight)
                            .map(|(&u, &w)| f64::from(w) * x[u])
                            .sum::<f64>();
                    }
                    *mean = if higher_is_better { sum } else { -sum };
                }
                let best = means.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                if means[selected] == best {
                    won += 1.0 / means.iter().filter(|&&m| m == best).count() as f64;
                }
            }
            won
        })
        .sum();
    Some(wins / resamples as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_distr::{Distribution, Normal};

    /// Configurations with per-user values drawn around `means`, 2 seeds ×
    /// `users` users.
    fn configurations(means: &[f64], users: usize) -> Vec<Vec<Vec<f64>>> {
        let mut rng = Pcg64Mcg::seed_from_u64(3);
        let normal = Normal::new(0.0, 0.3).unwrap();
        means
            .iter()
            .map(|m| {
                (0..2)
                    .map(|_| (0..users).map(|_| m + normal.sample(&mut rng)).collect())
                    .collect()
            })
            .collect()
    }

    #[test]
    fn two_identical_configurations_are_a_coin_flip() {
        let one = configurations(&[0.2], 500).remove(0);
        let values = vec![one.clone(), one];
        let p = selection_probability(&values, 0, true, 2_000, 1).unwrap();
        assert!((0.45..=0.55).contains(&p), "{p}");
        // Seeds that agree make every resample a tie, shared: exactly 1/2.
        let same = vec![vec![values[0][0].clone(); 2]; 2];
        assert_eq!(selection_probability(&same, 1, true, 100, 1), Some(0.5));
    }

    #[test]
    fn two_configurations_equal_in_truth_are_told_apart_by_noise_only() {
        let values = configurations(&[0.2, 0.2], 500);
        let p = selection_probability(&values, 0, true, 2_000, 1).unwrap();
        let q = selection_probability(&values, 1, true, 2_000, 1).unwrap();
        // The two probabilities share their resamples: they sum to 1.
        assert!((p + q - 1.0).abs() < 1e-12);
        // Equal in truth, but one sample: p lies away from 0 and 1.
        assert!((0.1..=0.9).contains(&p), "{p}");
    }

    #[test]
    fn a_clear_winner_is_selected_with_certainty_and_direction_counts() {
        let values = configurations(&[0.3, 0.1, 0.1], 500);
        assert_eq!(selection_probability(&values, 0, true, 500, 1), Some(1.0));
        assert_eq!(selection_probability(&values, 0, false, 500, 1), Some(0.0));
    }

    #[test]
    fn the_same_seed_gives_the_same_probability() {
        let values = configurations(&[0.2, 0.21, 0.19], 300);
        let p = selection_probability(&values, 1, true, 777, 9);
        assert_eq!(p, selection_probability(&values, 1, true, 777, 9));
        assert!(selection_probability(&values[..1], 0, true, 100, 9).is_none());
    }
}
