//! How sure an agreement between two orders of the same models is: a
//! percentile interval of Kendall's τ-b over resampled users and seeds.
//! With a handful of models one swap moves τ by a large step, and whether
//! a swap happens depends on which users were sampled and which seeds
//! trained the models; the interval says how far τ would move.
//!
//! Each resample draws the users with replacement (one draw shared by every
//! model and column, since the orders are of the same users) and, for each
//! model, its seeds with replacement (shared by that model's columns, which
//! score the same trained models), recomputes every model's mean under
//! every column and then τ-b for each asked pair of columns, as
//! [`super::selection`] does for the selection probability. Work is split
//! into chunks seeded from (seed, chunk), so results do not depend on the
//! thread count.
//!
//! Whether one order tracks a reference better than another is a paired
//! question: both τ move with the same resampled users and seeds, so the
//! interval of their difference, taken within each resample, is narrower
//! than two overlapping intervals suggest, and is what decides it.

use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;
use rayon::prelude::*;

use super::kendall_tau_b;
use super::resampling::quantile;
use crate::seed::mix;

/// Resamples per chunk: the unit of parallel work and of seeding.
const CHUNK: usize = 50;

/// Resamples used by the report: the 2.5% and 97.5% quantiles of τ rest on
/// about 25 draws each.
pub const AGREEMENT_RESAMPLES: usize = 1_000;

/// Percentile intervals of τ and of differences between τ.
#[derive(Debug, Clone, PartialEq)]
pub struct TauIntervals {
    /// Per asked pair of columns.
    pub taus: Vec<Option<(f64, f64)>>,
    /// Per asked difference (p, q): τ of pair p minus τ of pair q.
    pub differences: Vec<Option<(f64, f64)>>,
}

/// `values[m][c][s][u]`: model m's value under column c for seed s and user
/// slot u, NaN where the user has no value in that column (slots are shared
/// by every model and column; a model's columns share its seeds). For each
/// pair `(a, b)` of columns, the percentile interval at `confidence` of
/// τ-b between the models' means under a and under b; for each difference
/// `(p, q)` (indices into `pairs`), that of τ_p − τ_q within each resample.
/// None for a pair whose τ is undefined in every resample (a resample where
/// some mean has no user is left out; a difference needs both τ), and for
/// everything when the values are not of that shape: fewer than two
/// models, models with other columns than the pairs name, a model without
/// seeds or whose columns differ in seeds, rows of other lengths, or fewer
/// than two user slots.
pub fn tau_intervals(
    values: &[Vec<Vec<Vec<f64>>>],
    pairs: &[(usize, usize)],
    differences: &[(usize, usize)],
    resamples: usize,
    seed: u64,
    confidence: f64,
) -> TauIntervals {
    let none = TauIntervals {
        taus: vec![None; pairs.len()],
        differences: vec![None; differences.len()],
    };
    let users = values
        .first()
        .and_then(|m| m.first())
        .and_then(|c| c.first())
        .map_or(0, Vec::len);
    let columns = values.first().map_or(0, Vec::len);
    let shaped = values.iter().all(|m| {
        let seeds = m.first().map_or(0, Vec::len);
        m.len() == columns
            && seeds > 0
            && m.iter()
                .all(|c| c.len() == seeds && c.iter().all(|row| row.len() == users))
    });
    let named = pairs.iter().all(|&(a, b)| a < columns && b < columns)
        && differences
            .iter()
            .all(|&(p, q)| p < pairs.len() && q < pairs.len());
    if values.len() < 2 || !shaped || !named || users < 2 || resamples == 0 {
        return none;
    }
    let chunks = resamples.div_ceil(CHUNK);
    // taus[r][p]: pair p's τ in resample r.
    let taus: Vec<Vec<Option<f64>>> = (0..chunks)
        .into_par_iter()
        .flat_map_iter(|c| {
            let mut rng = Pcg64Mcg::seed_from_u64(mix(seed ^ mix(c as u64) ^ 0x7A0));
            let mut weight = vec![0u32; users];
            (0..CHUNK.min(resamples - c * CHUNK))
                .map(|_| {
                    weight.iter_mut().for_each(|w| *w = 0);
                    for _ in 0..users {
                        weight[rng.random_range(0..users)] += 1;
                    }
                    // means[m][c] over the drawn users and seeds.
                    let means: Vec<Vec<f64>> = values
                        .iter()
                        .map(|columns| {
                            let n = columns[0].len();
                            let drawn: Vec<usize> =
                                (0..n).map(|_| rng.random_range(0..n)).collect();
                            columns
                                .iter()
                                .map(|seeds| weighted_mean(seeds, &drawn, &weight))
                                .collect()
                        })
                        .collect();
                    pairs
                        .iter()
                        .map(|&(a, b)| {
                            let x: Vec<f64> = means.iter().map(|m| m[a]).collect();
                            let y: Vec<f64> = means.iter().map(|m| m[b]).collect();
                            let defined = x.iter().chain(&y).all(|v| !v.is_nan());
                            defined.then(|| kendall_tau_b(&x, &y)).flatten()
                        })
                        .collect::<Vec<_>>()
                })
                .collect::<Vec<_>>()
        })
        .collect();
    let interval = |draws: Vec<f64>| percentile_interval(draws, confidence);
    TauIntervals {
        taus: (0..pairs.len())
            .map(|p| interval(taus.iter().filter_map(|r| r[p]).collect()))
            .collect(),
        differences: differences
            .iter()
            .map(|&(p, q)| interval(taus.iter().filter_map(|r| Some(r[p]? - r[q]?)).collect()))
            .collect(),
    }
}

/// The central `confidence` percentile interval of `draws`; None for none.
fn percentile_interval(mut draws: Vec<f64>, confidence: f64) -> Option<(f64, f64)> {
    if draws.is_empty() {
        return None;
    }
    draws.sort_by(f64::total_cmp);
    let alpha = 1.0 - confidence;
    Some((
        quantile(&draws, alpha / 2.0),
        quantile(&draws, 1.0 - alpha / 2.0),
    ))
}

/// The mean over the drawn seeds and the weighted users of the values that
/// are defined; NaN where none is.
fn weighted_mean(seeds: &[Vec<f64>], drawn: &[usize], weight: &[u32]) -> f64 {
    let (mut sum, mut count) = (0.0, 0.0);
    for &s in drawn {
        for (&v, &w) in seeds[s].iter().zip(weight) {
            if w > 0 && !v.is_nan() {
                sum += f64::from(w) * v;
                count += f64::from(w);
            }
        }
    }
    sum / count
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three models, two columns, one seed each, over `users` users: model
    /// m scores `a[m]` under column 0 and `b[m]` under column 1 for every
    /// user, plus `spread` times a per-user pattern that differs by model
    /// and column.
    fn models(a: [f64; 3], b: [f64; 3], users: usize, spread: f64) -> Vec<Vec<Vec<Vec<f64>>>> {
        (0..3)
            .map(|m| {
                [a[m], b[m]]
                    .iter()
                    .enumerate()
                    .map(|(c, &level)| {
                        vec![(0..users)
                            .map(|u| level + spread * ((u * (7 + 4 * c) + m * 3) % 5) as f64)
                            .collect()]
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn orders_that_no_resample_can_swap_have_a_point_interval() {
        // Constant per-user values: every resample gives the same means.
        let same = models([0.1, 0.2, 0.3], [1.0, 2.0, 3.0], 50, 0.0);
        let reversed = models([0.1, 0.2, 0.3], [3.0, 2.0, 1.0], 50, 0.0);
        let pairs = [(0, 1)];
        assert_eq!(
            tau_intervals(&same, &pairs, &[], 200, 1, 0.95).taus,
            vec![Some((1.0, 1.0))]
        );
        assert_eq!(
            tau_intervals(&reversed, &pairs, &[], 200, 1, 0.95).taus,
            vec![Some((-1.0, -1.0))]
        );
    }

    #[test]
    fn close_models_give_a_wide_interval_that_holds_the_point_estimate() {
        // Models 0.001 apart against a user spread of 0.3: resamples swap
        // them, so τ ranges widely; a column against itself stays at 1.
        let close = models([0.100, 0.101, 0.102], [0.100, 0.101, 0.102], 200, 0.3);
        let got = tau_intervals(&close, &[(0, 1), (0, 0)], &[(1, 0)], 400, 3, 0.95);
        let (low, high) = got.taus[0].unwrap();
        assert!(low < 0.0 && high == 1.0, "{low} {high}");
        assert_eq!(got.taus[1], Some((1.0, 1.0)));
        // 1 − τ within each resample: never below 0, as wide as τ's range.
        assert_eq!(got.differences[0], Some((1.0 - high, 1.0 - low)));
        // Deterministic for a seed.
        assert_eq!(
            got,
            tau_intervals(&close, &[(0, 1), (0, 0)], &[(1, 0)], 400, 3, 0.95)
        );
    }

    #[test]
    fn missing_values_are_skipped_and_too_little_data_gives_none() {
        let mut some_missing = models([0.1, 0.2, 0.3], [1.0, 2.0, 3.0], 50, 0.0);
        for m in &mut some_missing {
            m[1][0][0] = f64::NAN;
        }
        assert_eq!(
            tau_intervals(&some_missing, &[(0, 1)], &[], 100, 1, 0.95).taus,
            vec![Some((1.0, 1.0))]
        );
        let one_model = vec![some_missing[0].clone()];
        assert_eq!(
            tau_intervals(&one_model, &[(0, 1)], &[(0, 0)], 100, 1, 0.95),
            TauIntervals {
                taus: vec![None],
                differences: vec![None]
            }
        );
        // A column with more seeds than its model's others, or a pair
        // naming a column no model has: no interval rather than a panic.
        let mut more_seeds = models([0.1, 0.2, 0.3], [1.0, 2.0, 3.0], 50, 0.0);
        let extra = more_seeds[0][0][0].clone();
        more_seeds[0][0].push(extra);
        assert_eq!(
            tau_intervals(&more_seeds, &[(0, 1)], &[], 100, 1, 0.95).taus,
            vec![None]
        );
        let fine = models([0.1, 0.2, 0.3], [1.0, 2.0, 3.0], 50, 0.0);
        assert_eq!(
            tau_intervals(&fine, &[(0, 2)], &[], 100, 1, 0.95).taus,
            vec![None]
        );
        // A difference naming a pair not asked for: none either.
        assert_eq!(
            tau_intervals(&fine, &[(0, 1)], &[(0, 1)], 100, 1, 0.95).differences,
            vec![None]
        );
    }

    /// The difference is taken within each resample: τ of one pair minus
    /// τ of the same pair is exactly 0 however widely τ itself moves, where
    /// two independent intervals would overlap across their whole width.
    #[test]
    fn differences_are_paired_within_each_resample() {
        let close = models([0.100, 0.101, 0.102], [0.100, 0.101, 0.102], 200, 0.3);
        let got = tau_intervals(&close, &[(0, 1), (0, 1)], &[(0, 1)], 400, 3, 0.95);
        let (low, high) = got.taus[0].unwrap();
        assert!(high - low > 1.0, "{low} {high}");
        assert_eq!(got.differences, vec![Some((0.0, 0.0))]);
    }
}
