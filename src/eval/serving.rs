//! Serving time, measured apart from training: the evaluation's own wall
//! time includes the metrics and varied several-fold between identical
//! runs. Here a fixed sample of users is scored on the calling thread, after
//! a warm-up, repeatedly, so the spread shows. Trials running beside it
//! still share the cores (no lock: a rayon worker waiting on one could take
//! up the trial that holds it and deadlock); `--jobs 1` or `recsweep bench`
//! gives undisturbed times.

use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::data::CsrMatrix;
use crate::models::{IndexStage, Scorer};
use crate::topk::best_k;

/// Users in the sample at most; fewer for slow scorers (see [`TARGET_SECONDS`]).
const MAX_USERS: usize = 256;
const MIN_USERS: usize = 8;
/// About how long one repetition should take, so a fast scorer is timed
/// over enough users to rise above the clock's resolution.
const TARGET_SECONDS: f64 = 0.02;
/// Users per scoring call, as the evaluator's blocks.
const BLOCK: usize = 32;

/// Time to score one user against the catalogue and pick the top K, with
/// seen items excluded, in microseconds: the median of [`ServingTime::REPEATS`] and
/// their range.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ServingTime {
    pub median_micros: f64,
    pub min_micros: f64,
    pub max_micros: f64,
    pub repeats: usize,
    /// Users in the sample.
    pub users: usize,
}

impl ServingTime {
    /// Timed repetitions after the warm-up.
    pub const REPEATS: usize = 5;

    /// From the µs per user of each timed repetition (at least one), over
    /// a sample of `users`.
    pub fn of(mut micros: Vec<f64>, users: usize) -> Self {
        micros.sort_by(f64::total_cmp);
        ServingTime {
            median_micros: micros[micros.len() / 2],
            min_micros: micros[0],
            max_micros: micros[micros.len() - 1],
            repeats: micros.len(),
            users,
        }
    }

    /// One time for a configuration's seeds: the median of their medians,
    /// the range over all their repetitions.
    pub fn pooled(times: &[ServingTime]) -> Option<ServingTime> {
        let mut medians: Vec<f64> = times.iter().map(|t| t.median_micros).collect();
        medians.sort_by(f64::total_cmp);
        let median_micros = match medians.len() {
            0 => return None,
            n if n % 2 == 1 => medians[n / 2],
            n => (medians[n / 2 - 1] + medians[n / 2]) / 2.0,
        };
        Some(ServingTime {
            median_micros,
            min_micros: times
                .iter()
                .map(|t| t.min_micros)
                .fold(f64::INFINITY, f64::min),
            max_micros: times.iter().map(|t| t.max_micros).fold(0.0, f64::max),
            repeats: times.iter().map(|t| t.repeats).sum(),
            users: times.iter().map(|t| t.users).min().unwrap_or(0),
        })
    }

    /// `median (min–max)`, for tables.
    pub fn describe(&self) -> String {
        format!(
            "{:.1} ({:.1}–{:.1})",
            self.median_micros, self.min_micros, self.max_micros
        )
    }

    /// The same as users (searches) per second: `median (min–max)`, the
    /// slowest repetition giving the minimum.
    pub fn describe_rate(&self) -> String {
        format!(
            "{:.0} ({:.0}–{:.0})",
            self.per_second(),
            per_second(self.max_micros),
            per_second(self.min_micros)
        )
    }

    /// Users (searches) per second at the median.
    pub fn per_second(&self) -> f64 {
        per_second(self.median_micros)
    }
}

fn per_second(micros: f64) -> f64 {
    1e6 / micros.max(1e-9)
}

/// Times `scorer` on the first users of `users` (the evaluated ones);
/// None when there are none.
pub fn serving_time(
    scorer: &dyn Scorer,
    users: &[u32],
    exclude: &[&CsrMatrix],
    n_items: usize,
    k: usize,
) -> Option<ServingTime> {
    if n_items == 0 {
        return None;
    }
    let mut scores = Vec::new();
    timed(users, |sample| {
        for block in sample.chunks(BLOCK) {
            scores.resize(block.len() * n_items, 0.0);
            scorer.score_block_excluding(block, exclude, &mut scores);
            for (row, &u) in scores.chunks_exact_mut(n_items).zip(block) {
                let excluded: Vec<&[u32]> = exclude.iter().map(|m| m.row(u as usize)).collect();
                std::hint::black_box(best_k(row, &excluded, k));
            }
        }
    })
}

/// Times an approximate index's searches for the top `n`, seen items
/// skipped, one user at a time on the calling thread, as
/// [`serving_time`] times a scorer: the index's own cost per search.
pub fn search_time(
    index: &IndexStage,
    users: &[u32],
    exclude: &[&CsrMatrix],
    n: usize,
) -> Option<ServingTime> {
    timed(users, |sample| {
        for &u in sample {
            let excluded: Vec<&[u32]> = exclude.iter().map(|m| m.row(u as usize)).collect();
            std::hint::black_box(index.search(u, &excluded, n));
        }
    })
}

/// µs per user of `pass` over a sample of `users`: a warm-up on a few
/// users sizes the sample, then [`ServingTime::REPEATS`] timed passes.
fn timed(users: &[u32], mut pass: impl FnMut(&[u32])) -> Option<ServingTime> {
    if users.is_empty() {
        return None;
    }
    let mut micros = |sample: &[u32]| {
        let start = Instant::now();
        pass(sample);
        start.elapsed().as_secs_f64() * 1e6 / sample.len() as f64
    };
    let warm = micros(&users[..users.len().min(MIN_USERS)]);
    let wanted = (TARGET_SECONDS * 1e6 / warm.max(1e-3)).ceil() as usize;
    let sample = &users[..wanted.clamp(MIN_USERS, MAX_USERS).min(users.len())];
    let times: Vec<f64> = (0..ServingTime::REPEATS).map(|_| micros(sample)).collect();
    Some(ServingTime::of(times, sample.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(median: f64, min: f64, max: f64) -> ServingTime {
        ServingTime {
            median_micros: median,
            min_micros: min,
            max_micros: max,
            repeats: ServingTime::REPEATS,
            users: 32,
        }
    }

    #[test]
    fn seeds_pool_to_the_median_of_medians_and_the_whole_range() {
        let p = ServingTime::pooled(&[t(10.0, 9.0, 12.0), t(20.0, 18.0, 30.0)]).unwrap();
        assert_eq!(
            (p.median_micros, p.min_micros, p.max_micros),
            (15.0, 9.0, 30.0)
        );
        assert_eq!(p.repeats, 2 * ServingTime::REPEATS);
        let p =
            ServingTime::pooled(&[t(3.0, 1.0, 4.0), t(10.0, 9.0, 12.0), t(5.0, 5.0, 5.0)]).unwrap();
        assert_eq!(p.median_micros, 5.0);
        assert!(ServingTime::pooled(&[]).is_none());
        assert_eq!(t(19.23, 18.0, 21.04).describe(), "19.2 (18.0–21.0)");
        assert_eq!(t(100.0, 50.0, 200.0).describe_rate(), "10000 (5000–20000)");
    }
}
