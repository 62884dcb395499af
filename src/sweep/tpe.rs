//! Proposals of the tree-structured Parzen estimator (Bergstra et al. 2011),
//! one round at a time, from the observed losses of earlier rounds.
//!
//! Each dimension of the space gets its own estimator pair (the `tpe`
//! crate's, as hyperopt and Optuna's default sampler do): the best
//! ⌈γ·n⌉ observations (γ = 0.1) shape l(x), the rest g(x), and of 24 draws
//! from l the one with the largest l(x)/g(x) is proposed. `uniform` is
//! searched as is, `log_uniform` on the log scale, `int_uniform` as a
//! continuous range rounded to the nearest integer, `choice` as categories.
//!
//! Within a round, each proposal is told to the estimators as a loss worse
//! than any observed (the "constant liar" of parallel TPE), so the round's
//! later proposals move away from its earlier ones; a proposal equal to an
//! observed or already proposed point is drawn again.

use std::convert::Infallible;

use rand::{Rng, RngCore, SeedableRng};
use rand_pcg::Pcg64Mcg;
use serde_yaml::Value;
use tpe::{histogram_estimator, parzen_estimator, TpeOptimizer, TpeOptimizerBuilder};

use crate::spec::Distribution;

/// Draws a round makes for one proposal before it gives up on finding a
/// point that is neither observed nor proposed (a small discrete space
/// can run out of them).
const ATTEMPTS: usize = 32;

/// The share of observations that shape l(x).
const GAMMA: f64 = 0.1;

/// One dimension of the space, as TPE searches it.
#[derive(Debug, Clone, PartialEq)]
pub enum Dim {
    /// `uniform` (log: false) or `log_uniform` (log: true) in [lo, hi].
    Real { lo: f64, hi: f64, log: bool },
    /// `int_uniform`, inclusive.
    Int { lo: i64, hi: i64 },
    /// `choice`.
    Choice(Vec<Value>),
}

impl Dim {
    /// The dimension of a checked distribution.
    pub fn of(d: &Distribution) -> Self {
        if let Some([lo, hi]) = d.uniform {
            Dim::Real { lo, hi, log: false }
        } else if let Some([lo, hi]) = d.log_uniform {
            Dim::Real { lo, hi, log: true }
        } else if let Some([lo, hi]) = d.int_uniform {
            Dim::Int { lo, hi }
        } else {
            Dim::Choice(d.choice.clone().unwrap_or_default())
        }
    }

    /// The half-open range TPE searches: the log scale for `log_uniform`,
    /// each integer and each choice a unit-wide cell.
    fn bounds(&self) -> (f64, f64) {
        match self {
            Dim::Real { lo, hi, log: false } => (*lo, *hi),
            Dim::Real { lo, hi, log: true } => (lo.ln(), hi.ln()),
            Dim::Int { lo, hi } => (*lo as f64 - 0.5, *hi as f64 + 0.5),
            Dim::Choice(values) => (0.0, values.len() as f64),
        }
    }

    /// A value's position in the searched range; NaN where the value is not
    /// one the dimension holds (TPE then leaves that observation out of
    /// this dimension's estimators).
    fn encode(&self, value: &Value) -> f64 {
        let x = match self {
            Dim::Real { log: false, .. } => value.as_f64(),
            Dim::Real { log: true, .. } => value.as_f64().filter(|v| *v > 0.0).map(f64::ln),
            Dim::Int { .. } => value.as_i64().map(|v| v as f64),
            Dim::Choice(values) => values.iter().position(|v| v == value).map(|i| i as f64),
        };
        let (start, end) = self.bounds();
        // The upper end is open: a value at `hi` (or one rounding there on
        // the log scale) sits just inside it.
        x.map_or(f64::NAN, |x| {
            if x >= start && x <= end {
                x.min(end.next_down())
            } else {
                f64::NAN
            }
        })
    }

    /// The value at a position of the searched range.
    fn decode(&self, x: f64) -> Value {
        match self {
            Dim::Real { lo, hi, log: false } => Value::from(x.clamp(*lo, *hi)),
            Dim::Real { lo, hi, log: true } => Value::from(x.exp().clamp(*lo, *hi)),
            Dim::Int { lo, hi } => Value::from((x.round() as i64).clamp(*lo, *hi)),
            Dim::Choice(values) => {
                values[(x.max(0.0) as usize).min(values.len().saturating_sub(1))].clone()
            }
        }
    }

    fn optimizer(&self) -> TpeOptimizer {
        let (start, end) = self.bounds();
        let range = tpe::range(start, end).expect("checked distributions have lo < hi");
        let estimator = match self {
            Dim::Choice(_) => histogram_estimator(),
            _ => parzen_estimator(),
        };
        TpeOptimizerBuilder::new()
            .gamma(GAMMA)
            .build(estimator, range)
            .expect("γ lies in [0, 1] and 24 candidates are more than none")
    }
}

/// A point the search has seen: each dimension's value (None where the
/// configuration did not use it) and its loss (lower is better; None where
/// the trial failed, counted as worse than every loss observed).
#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    pub point: Vec<Option<Value>>,
    pub loss: Option<f64>,
}

/// Up to `count` new points of the space, proposed from `observed` with the
/// random stream of `seed`. `fresh` says whether a point is new to the
/// caller (it knows which points resolve to configurations already run);
/// a point it rejects, or one proposed earlier in the round, is drawn again,
/// and after [`ATTEMPTS`] draws the round ends short.
pub fn propose(
    dims: &[Dim],
    observed: &[Observed],
    count: usize,
    seed: u64,
    fresh: &mut dyn FnMut(&[Value]) -> bool,
) -> Vec<Vec<Value>> {
    let mut stream = Stream(Pcg64Mcg::seed_from_u64(seed));
    let mut optimizers: Vec<TpeOptimizer> = dims.iter().map(Dim::optimizer).collect();
    for o in observed {
        // Failed trials rank below every finished one, pending ones too.
        let loss = o.loss.filter(|l| l.is_finite()).unwrap_or(f64::INFINITY);
        for ((optimizer, dim), value) in optimizers.iter_mut().zip(dims).zip(&o.point) {
            let x = value.as_ref().map_or(f64::NAN, |v| dim.encode(v));
            optimizer
                .tell(x, loss)
                .expect("encoded values lie in the range, losses are not NaN");
        }
    }
    let mut proposed: Vec<Vec<Value>> = Vec::new();
    'round: for _ in 0..count {
        for _ in 0..ATTEMPTS {
            let xs: Vec<f64> = optimizers
                .iter_mut()
                .map(|o| o.ask(&mut stream).unwrap_or_else(|e| match e {}))
                .collect();
            let point: Vec<Value> = dims.iter().zip(&xs).map(|(d, &x)| d.decode(x)).collect();
            let new = !proposed.contains(&point) && fresh(&point);
            // Told as the worst loss either way: a proposal as the liar, a
            // repeat so that the next draw looks elsewhere.
            for ((optimizer, dim), value) in optimizers.iter_mut().zip(dims).zip(&point) {
                optimizer
                    .tell(dim.encode(value), f64::INFINITY)
                    .expect("decoded values lie in the range");
            }
            if new {
                proposed.push(point);
                continue 'round;
            }
        }
        // TPE keeps returning to known points: uniform draws find what is
        // left of a small discrete space, or show that nothing is.
        for _ in 0..ATTEMPTS {
            let point = uniform(dims, &mut stream.0);
            if !proposed.contains(&point) && fresh(&point) {
                proposed.push(point);
                continue 'round;
            }
        }
        break;
    }
    proposed
}

/// recsweep's Pcg64Mcg stream (rand_core 0.9) as the rand_core 0.10 RNG the
/// `tpe` crate asks for, so proposals come from the same generator family
/// as every other draw of the harness.
struct Stream(Pcg64Mcg);

impl tpe_rand_core::TryRng for Stream {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok(self.0.next_u32())
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        Ok(self.0.next_u64())
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        self.0.fill_bytes(dst);
        Ok(())
    }
}

/// A uniform draw from the space.
fn uniform(dims: &[Dim], rng: &mut Pcg64Mcg) -> Vec<Value> {
    dims.iter()
        .map(|d| {
            let (start, end) = d.bounds();
            d.decode(start + rng.random::<f64>() * (end - start))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn space() -> Vec<Dim> {
        vec![
            Dim::Real {
                lo: 1e-4,
                hi: 1.0,
                log: true,
            },
            Dim::Real {
                lo: -5.0,
                hi: 5.0,
                log: false,
            },
            Dim::Int { lo: 1, hi: 64 },
            Dim::Choice(vec!["a".into(), "b".into(), "c".into()]),
        ]
    }

    /// A closed-form objective with its minimum 0 at (0.01, 1.5, 48, "b").
    fn loss(point: &[Value]) -> f64 {
        let lr = point[0].as_f64().unwrap();
        let y = point[1].as_f64().unwrap();
        let n = point[2].as_i64().unwrap() as f64;
        let c = point[3].as_str().unwrap();
        (lr.log10() + 2.0).powi(2)
            + (y - 1.5).powi(2) / 4.0
            + ((n - 48.0) / 16.0).powi(2)
            + if c == "b" { 0.0 } else { 1.0 }
    }

    fn tpe_best(seed: u64, trials: usize, startup: usize, round: usize) -> (f64, Vec<f64>) {
        let dims = space();
        let mut rng = Pcg64Mcg::seed_from_u64(seed);
        let mut seen: Vec<Observed> = (0..startup)
            .map(|_| {
                let p = uniform(&dims, &mut rng);
                Observed {
                    loss: Some(loss(&p)),
                    point: p.into_iter().map(Some).collect(),
                }
            })
            .collect();
        while seen.len() < trials {
            let n = seen.len();
            let points: Vec<Vec<Value>> = seen
                .iter()
                .map(|o| o.point.iter().flatten().cloned().collect())
                .collect();
            let batch = propose(
                &dims,
                &seen,
                round.min(trials - n),
                seed ^ n as u64,
                &mut |p| !points.iter().any(|q| q == p),
            );
            assert!(!batch.is_empty());
            for p in batch {
                seen.push(Observed {
                    loss: Some(loss(&p)),
                    point: p.into_iter().map(Some).collect(),
                });
            }
        }
        let losses: Vec<f64> = seen.iter().map(|o| o.loss.unwrap()).collect();
        (losses.iter().copied().fold(f64::INFINITY, f64::min), losses)
    }

    fn random_best(seed: u64, trials: usize) -> (f64, Vec<f64>) {
        let dims = space();
        let mut rng = Pcg64Mcg::seed_from_u64(seed);
        let losses: Vec<f64> = (0..trials)
            .map(|_| loss(&uniform(&dims, &mut rng)))
            .collect();
        (losses.iter().copied().fold(f64::INFINITY, f64::min), losses)
    }

    #[test]
    fn encode_and_decode_round_trip_at_the_ends() {
        for (dim, value) in [
            (space()[0].clone(), Value::from(1.0)),
            (space()[0].clone(), Value::from(1e-4)),
            (space()[1].clone(), Value::from(5.0)),
            (space()[2].clone(), Value::from(64)),
            (space()[2].clone(), Value::from(1)),
            (space()[3].clone(), Value::from("c")),
        ] {
            let x = dim.encode(&value);
            let (start, end) = dim.bounds();
            assert!(
                x >= start && x < end,
                "{value:?} → {x} outside [{start}, {end})"
            );
            let back = dim.decode(x);
            match (&back, &value) {
                (Value::Number(a), Value::Number(b)) if a.is_f64() => {
                    assert!((a.as_f64().unwrap() - b.as_f64().unwrap()).abs() < 1e-9)
                }
                _ => assert_eq!(back, value),
            }
        }
        assert!(space()[2].encode(&Value::from(65)).is_nan());
        assert!(space()[3].encode(&Value::from("z")).is_nan());
    }

    #[test]
    fn the_same_seed_proposes_the_same_points() {
        assert_eq!(tpe_best(7, 30, 10, 4).1, tpe_best(7, 30, 10, 4).1);
        assert_ne!(tpe_best(7, 30, 10, 4).1, tpe_best(8, 30, 10, 4).1);
    }

    #[test]
    fn a_round_never_repeats_a_point_and_ends_when_the_space_is_used_up() {
        let dims = vec![
            Dim::Int { lo: 0, hi: 1 },
            Dim::Choice(vec!["x".into(), "y".into()]),
        ];
        let observed = vec![Observed {
            point: vec![Some(Value::from(0)), Some(Value::from("x"))],
            loss: Some(1.0),
        }];
        let first = observed[0]
            .point
            .iter()
            .flatten()
            .cloned()
            .collect::<Vec<_>>();
        let batch = propose(&dims, &observed, 10, 3, &mut |p| p != first.as_slice());
        assert_eq!(batch.len(), 3, "{batch:?}");
        for (i, p) in batch.iter().enumerate() {
            assert_ne!(p, &first);
            assert!(!batch[..i].contains(p));
        }
    }

    /// TPE should find lower losses than random search at an equal budget.
    /// The rule: of 20 search seeds, TPE's best after 80 trials (10 random
    /// start-up, rounds of 4) must beat random search's best of 80 in at
    /// least 15. The seeds are fixed, so the outcome is deterministic; the
    /// rule is chosen so that a search no better than random (each seed a
    /// coin flip) would pass it with probability P(Bin(20, ½) ≥ 15) = 2.1%.
    /// A second rule is the goal of docs/benchmarks.md: the median number of
    /// trials TPE takes to reach random search's best of 80 is at most 40
    /// (it was 26 when written; at a budget of 40 it was 24, above half).
    #[test]
    fn tpe_beats_random_search_on_a_closed_form_objective() {
        let mut wins = 0;
        let mut reach = Vec::new();
        const BUDGET: usize = 80;
        for seed in 0..20u64 {
            let (random, _) = random_best(1000 + seed, BUDGET);
            let (tpe, losses) = tpe_best(1000 + seed, BUDGET, 10, 4);
            wins += usize::from(tpe < random);
            let first = losses
                .iter()
                .position(|&l| l <= random)
                .map_or(BUDGET + 1, |i| i + 1);
            reach.push(first);
        }
        reach.sort_unstable();
        let median = reach[reach.len() / 2];
        assert!(
            wins >= 15,
            "TPE won {wins} of 20; trials to reach random's best: {reach:?}"
        );
        assert!(
            median <= BUDGET / 2,
            "median trials to reach random's best of {BUDGET}: {median} ({reach:?})"
        );
    }
}
