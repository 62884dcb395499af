//! The embedded synthetic dataset, so a quickstart needs no download.
//!
//! Each user picks items without replacement with probability ∝
//! exp(−exponent·ln(rank_i) + affinity·⟨u, v_i⟩/√d): a Zipf-like popularity
//! term plus a latent-factor preference term. Collaborative models can learn
//! the factors; popularity alone explains the skew. Gumbel-top-k sampling
//! draws without replacement in one pass.

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, LogNormal, StandardNormal};
use rand_pcg::Pcg64Mcg;
use rayon::prelude::*;

use super::prepare::{Ids, RawLog};
use super::SyntheticSpec;

/// One year of seconds, from 2020-01-01 UTC: timestamps for temporal splits.
const START: i64 = 1_577_836_800;
const SPAN: f64 = 365.0 * 86_400.0;

pub fn generate(s: &SyntheticSpec) -> RawLog {
    let mut rng = Pcg64Mcg::seed_from_u64(s.seed);
    let d = s.latent_dim;
    let mut ranks: Vec<usize> = (1..=s.items).collect();
    ranks.shuffle(&mut rng);
    let log_popularity: Vec<f64> = ranks
        .iter()
        .map(|&r| -s.popularity_exponent * (r as f64).ln())
        .collect();
    let mut gaussian =
        |n: usize| -> Vec<f64> { (0..n).map(|_| StandardNormal.sample(&mut rng)).collect() };
    let item_factors = gaussian(s.items * d);
    let user_factors = gaussian(s.users * d);

    let activity = LogNormal::new(0.0, 0.75).expect("valid log-normal");
    let weights: Vec<f64> = (0..s.users).map(|_| activity.sample(&mut rng)).collect();
    let total: f64 = weights.iter().sum();
    let cap = (s.items / 2).max(1);
    let counts: Vec<usize> = weights
        .iter()
        .map(|w| ((s.interactions as f64 * w / total).round() as usize).clamp(1, cap))
        .collect();

    let per_user: Vec<Vec<(i64, i64, f64, i64)>> = (0..s.users)
        .into_par_iter()
        .map(|u| {
            let mut rng = Pcg64Mcg::seed_from_u64(
                s.seed ^ (u as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15),
            );
            let factors = &user_factors[u * d..(u + 1) * d];
            let affinity: Vec<f64> = (0..s.items)
                .map(|i| {
                    let v = &item_factors[i * d..(i + 1) * d];
                    factors.iter().zip(v).map(|(a, b)| a * b).sum::<f64>() / (d as f64).sqrt()
                })
                .collect();
            let mut keyed: Vec<(f64, usize)> = (0..s.items)
                .map(|i| {
                    let uniform: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
                    let gumbel = -(-uniform.ln()).ln();
                    (log_popularity[i] + s.affinity * affinity[i] + gumbel, i)
                })
                .collect();
            let n = counts[u];
            keyed.select_nth_unstable_by(n - 1, |a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            let mut chosen: Vec<usize> = keyed[..n].iter().map(|&(_, i)| i).collect();
            chosen.shuffle(&mut rng);
            let mut times: Vec<i64> = (0..n)
                .map(|_| START + (rng.random::<f64>() * SPAN) as i64)
                .collect();
            times.sort_unstable();
            chosen
                .into_iter()
                .zip(times)
                .map(|(i, t)| {
                    let rating = (3.5 + 1.2 * affinity[i]).round().clamp(1.0, 5.0);
                    (u as i64, i as i64, rating, t)
                })
                .collect()
        })
        .collect();

    let rows: Vec<(i64, i64, f64, i64)> = per_user.into_iter().flatten().collect();
    RawLog {
        parts: None,
        users: Ids::Int(rows.iter().map(|r| r.0).collect()),
        items: Ids::Int(rows.iter().map(|r| r.1).collect()),
        ratings: Some(rows.iter().map(|r| r.2).collect()),
        timestamps: Some(rows.iter().map(|r| r.3).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> SyntheticSpec {
        SyntheticSpec {
            users: 200,
            items: 100,
            interactions: 4000,
            popularity_exponent: 1.0,
            latent_dim: 8,
            affinity: 2.0,
            seed: 3,
        }
    }

    #[test]
    fn same_seed_same_data_and_roughly_the_asked_size() {
        let a = generate(&small());
        assert_eq!(a, generate(&small()));
        let Ids::Int(users) = &a.users else {
            panic!("integer ids")
        };
        let n = users.len() as f64;
        assert!((n - 4000.0).abs() < 400.0, "{n} interactions");
        let other = generate(&SyntheticSpec { seed: 4, ..small() });
        assert_ne!(a, other);
    }

    #[test]
    fn popularity_exponent_skews_item_counts() {
        let gini_of = |exponent: f64| {
            let Ids::Int(items) = generate(&SyntheticSpec {
                popularity_exponent: exponent,
                ..small()
            })
            .items
            else {
                panic!("integer ids")
            };
            let mut counts = vec![0u32; 100];
            for i in items {
                counts[i as usize] += 1;
            }
            crate::inequality::gini(&counts)
        };
        let (flat, skewed) = (gini_of(0.0), gini_of(1.5));
        assert!(
            skewed > flat + 0.15,
            "gini {skewed} with exponent 1.5 vs {flat} uniform"
        );
    }
}
