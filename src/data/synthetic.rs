//! The embedded synthetic dataset, so a quickstart needs no download.
//!
//! Each user picks items without replacement with probability ∝
//! exp(−exponent·ln(rank_i) + affinity·⟨u, v_i⟩/√d): a Zipf-like popularity
//! term plus a latent-factor preference term. Collaborative models can learn
//! the factors; popularity alone explains the skew.
//!
//! Drawing is successive sampling (each pick ∝ the weights of the items not
//! yet picked), the same distribution Gumbel-top-k gives, but with random
//! numbers only per pick, not per (user, item): the affinities of a block of
//! users come from one GEMM, their weights from the vectorised exp, and each
//! user's picks from a sum tree over the catalogue (O(log |I|) a pick, a
//! picked item's weight set to 0). At MovieLens-20M size that is what makes
//! generation take seconds rather than minutes.

use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, Par};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, LogNormal, StandardNormal};
use rand_pcg::Pcg64Mcg;
use rayon::prelude::*;

use super::prepare::{Ids, RawLog};
use super::truth::{inclusion, log_lambda, TrueRelevance};
use super::SyntheticSpec;

/// One year of seconds, from 2020-01-01 UTC: timestamps for temporal splits.
const START: i64 = 1_577_836_800;
const SPAN: f64 = 365.0 * 86_400.0;
/// Users whose affinities one GEMM computes: items × this × 4 B stays in
/// cache while the block's users are drawn.
const BLOCK: usize = 8;

/// The generator's hidden state, drawn from the seed in a fixed order: what
/// the log is sampled from, and what [`Preferences`] recomputes the truth
/// from.
struct Latent {
    /// Each item's popularity rank, 1 = most popular.
    ranks: Vec<usize>,
    /// −exponent·ln(rank_i): the popularity part of the true preferences.
    log_popularity: Vec<f64>,
    item_factors: Vec<f64>,
    user_factors: Vec<f64>,
    /// Each user's number of interactions.
    counts: Vec<usize>,
}

impl Latent {
    fn draw(s: &SyntheticSpec) -> Self {
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
        Self {
            ranks,
            log_popularity,
            item_factors,
            user_factors,
            counts,
        }
    }
}

pub fn generate(s: &SyntheticSpec) -> RawLog {
    let Latent {
        ranks,
        log_popularity: preferred,
        item_factors,
        user_factors,
        counts,
    } = Latent::draw(s);
    let d = s.latent_dim;
    // What the log samples from: the true preferences times the exposure
    // of the system that collected it (rank^(−exposure_bias)); with no
    // exposure bias, the preferences themselves (x − 0 = x, bit for bit).
    let log_popularity: Vec<f64> = preferred
        .iter()
        .zip(&ranks)
        .map(|(p, &r)| p - s.exposure_bias * (r as f64).ln())
        .collect();

    // Every user's rows have a known place in the output, so blocks write
    // their own slices in parallel and nothing is collected twice.
    let rows: usize = counts.iter().sum();
    let mut out = Columns {
        users: vec![0; rows],
        items: vec![0; rows],
        ratings: vec![0.0; rows],
        times: vec![0; rows],
    };
    let items_t = Mat::from_fn(s.items, d, |i, k| item_factors[i * d + k] as f32);
    let mut parts = Vec::new();
    let mut rest = out.slices();
    for first in (0..s.users).step_by(BLOCK) {
        let users = first..(first + BLOCK).min(s.users);
        let n: usize = counts[users.clone()].iter().sum();
        let (head, tail) = rest.split_at(n);
        parts.push((users, head));
        rest = tail;
    }
    // The largest |popularity| + affinity·⟨u, v⟩/√d can reach, per user, by
    // Cauchy–Schwarz: subtracting it keeps every exponent ≤ 0 without a pass
    // for the maximum (a loose shift scales all weights alike).
    let top_popularity = log_popularity
        .iter()
        .copied()
        .fold(f64::NEG_INFINITY, f64::max);
    let longest_item = (0..s.items)
        .map(|i| norm(&item_factors[i * d..(i + 1) * d]))
        .fold(0.0, f64::max);
    let scale = 1.0 / (d as f64).sqrt();
    parts.into_par_iter().for_each_init(
        || (Mat::<f32>::zeros(s.items, BLOCK), SumTree::new(s.items)),
        |(affinity, tree), (users, mut slot)| {
            let block = Mat::from_fn(d, users.len(), |k, a| {
                user_factors[(users.start + a) * d + k] as f32
            });
            // items × users, column-major: each user's affinities contiguous.
            matmul(
                affinity.as_mut().subcols_mut(0, users.len()),
                Accum::Replace,
                items_t.as_ref(),
                block.as_ref(),
                scale as f32,
                Par::Seq,
            );
            for (a, u) in users.enumerate() {
                let mut rng = Pcg64Mcg::seed_from_u64(
                    s.seed ^ (u as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15),
                );
                let raw: &[f32] = affinity
                    .as_ref()
                    .col(a)
                    .try_as_col_major()
                    .expect("columns are contiguous")
                    .as_slice();
                let shift = top_popularity
                    + s.affinity * norm(&user_factors[u * d..(u + 1) * d]) * longest_item * scale;
                let n = counts[u];
                let weights = Weights {
                    affinity: s.affinity,
                    log_popularity: &log_popularity,
                    raw,
                    shift,
                };
                let (mine, rest) = slot.split_at(n);
                draw_user(u, n, &weights, tree, &mut rng, mine);
                slot = rest;
            }
        },
    );
    RawLog {
        parts: None,
        users: Ids::Int(out.users),
        items: Ids::Int(out.items),
        ratings: Some(out.ratings),
        timestamps: Some(out.times),
    }
}

/// One user's sampling weights before exp: log popularity plus affinity
/// times the raw ⟨u, v⟩/√d, less a shift that keeps every exponent ≤ 0.
struct Weights<'a> {
    affinity: f64,
    log_popularity: &'a [f64],
    raw: &'a [f32],
    shift: f64,
}

/// Draws user `u`'s `n` items without replacement ∝ the weights, in random
/// order with sorted random times, into `slot` (exactly `n` rows).
fn draw_user(
    u: usize,
    n: usize,
    weights: &Weights,
    tree: &mut SumTree,
    rng: &mut Pcg64Mcg,
    slot: Slices,
) {
    // Floored at −700 so that no weight underflows to 0: every item stays
    // drawable (after all others), so a user always gets their count of
    // items.
    let leaves = tree.leaves_mut();
    for ((w, &p), &x) in leaves
        .iter_mut()
        .zip(weights.log_popularity)
        .zip(weights.raw)
    {
        *w = (p + weights.affinity * f64::from(x) - weights.shift).max(-700.0);
    }
    crate::simd::exp_in_place(leaves);
    tree.build();
    let mut chosen: Vec<usize> = (0..n).map(|_| tree.take(rng)).collect();
    chosen.shuffle(rng);
    let mut times: Vec<i64> = (0..n)
        .map(|_| START + (rng.random::<f64>() * SPAN) as i64)
        .collect();
    times.sort_unstable();
    for (k, (i, t)) in chosen.into_iter().zip(times).enumerate() {
        slot.users[k] = u as i64;
        slot.items[k] = i as i64;
        slot.ratings[k] = (3.5 + 1.2 * f64::from(weights.raw[i]))
            .round()
            .clamp(1.0, 5.0);
        slot.times[k] = t;
    }
}

/// The generator's true preferences, without the exposure bias of its log:
/// what the truth metrics (and nothing trained on the log) can see.
///
/// A user u who logs n_u items picks them by successive sampling ∝
/// exp(s_ui), s_ui = popularity_i + affinity·⟨u, v_i⟩/√d, so ρ_ui is the
/// calibration of [`super::truth`] with these logits over the whole
/// generated catalogue: a probability, a user's relevances add up to their
/// activity, and an item the user would likely have picked counts near 1
/// whether or not the log holds it.
pub struct Preferences {
    dim: usize,
    /// affinity/√d, the factor of ⟨u, v_i⟩.
    scale: f64,
    /// Dense users × dim, dense items × dim.
    user_factors: Vec<f64>,
    item_factors: Vec<f64>,
    log_popularity: Vec<f64>,
    /// Per dense user: ln λ_u ([`log_lambda`]).
    log_lambda: Vec<f64>,
}

impl Preferences {
    /// The preferences of the users and items the cleaned log kept, whose
    /// labels are the generator's integer ids.
    pub fn new(s: &SyntheticSpec, user_labels: &[String], item_labels: &[String]) -> Self {
        let latent = Latent::draw(s);
        let d = s.latent_dim;
        let scale = s.affinity / (d as f64).sqrt();
        let id = |label: &String| -> usize {
            label
                .parse()
                .expect("the synthetic generator's ids are integers")
        };
        let users: Vec<usize> = user_labels.iter().map(id).collect();
        let items: Vec<usize> = item_labels.iter().map(id).collect();
        let rows = |factors: &[f64], ids: &[usize]| -> Vec<f64> {
            ids.iter()
                .flat_map(|&g| factors[g * d..(g + 1) * d].iter().copied())
                .collect()
        };
        let log_lambda = users
            .par_iter()
            .map(|&u| {
                let f = &latent.user_factors[u * d..(u + 1) * d];
                let logits: Vec<f64> = (0..s.items)
                    .map(|i| {
                        latent.log_popularity[i]
                            + scale * dot(f, &latent.item_factors[i * d..(i + 1) * d])
                    })
                    .collect();
                log_lambda(&logits, latent.counts[u] as f64)
            })
            .collect();
        Self {
            dim: d,
            scale,
            user_factors: rows(&latent.user_factors, &users),
            item_factors: rows(&latent.item_factors, &items),
            log_popularity: items.iter().map(|&i| latent.log_popularity[i]).collect(),
            log_lambda,
        }
    }
}

impl TrueRelevance for Preferences {
    fn n_items(&self) -> usize {
        self.log_popularity.len()
    }

    fn relevance(&self, user: u32, out: &mut [f64]) {
        let d = self.dim;
        let f = &self.user_factors[user as usize * d..(user as usize + 1) * d];
        let log_lambda = self.log_lambda[user as usize];
        for (i, rho) in out.iter_mut().enumerate() {
            let s = self.log_popularity[i]
                + self.scale * dot(f, &self.item_factors[i * d..(i + 1) * d]);
            *rho = inclusion(s, log_lambda);
        }
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn norm(x: &[f64]) -> f64 {
    x.iter().map(|v| v * v).sum::<f64>().sqrt()
}

/// The generated columns.
struct Columns {
    users: Vec<i64>,
    items: Vec<i64>,
    ratings: Vec<f64>,
    times: Vec<i64>,
}

/// Mutable row ranges of [`Columns`].
struct Slices<'a> {
    users: &'a mut [i64],
    items: &'a mut [i64],
    ratings: &'a mut [f64],
    times: &'a mut [i64],
}

impl Columns {
    fn slices(&mut self) -> Slices<'_> {
        Slices {
            users: &mut self.users,
            items: &mut self.items,
            ratings: &mut self.ratings,
            times: &mut self.times,
        }
    }
}

impl<'a> Slices<'a> {
    /// The first `n` rows and the rest.
    fn split_at(self, n: usize) -> (Slices<'a>, Slices<'a>) {
        let (u1, u2) = self.users.split_at_mut(n);
        let (i1, i2) = self.items.split_at_mut(n);
        let (r1, r2) = self.ratings.split_at_mut(n);
        let (t1, t2) = self.times.split_at_mut(n);
        (
            Slices {
                users: u1,
                items: i1,
                ratings: r1,
                times: t1,
            },
            Slices {
                users: u2,
                items: i2,
                ratings: r2,
                times: t2,
            },
        )
    }
}

/// A complete binary tree of partial sums over the items' weights: a pick
/// descends from the root in O(log n); taking an item zeroes its leaf and
/// recomputes its ancestors as sums of their children (never by
/// subtraction, so no rounding drift accumulates). Written here because a
/// sampling crate would redraw per pick from an O(n) table.
struct SumTree {
    /// Leaves at `[size, size + n)`, node k's children at 2k and 2k + 1.
    nodes: Vec<f64>,
    size: usize,
    n: usize,
}

impl SumTree {
    fn new(n: usize) -> Self {
        let size = n.next_power_of_two();
        Self {
            nodes: vec![0.0; 2 * size],
            size,
            n,
        }
    }

    fn leaves_mut(&mut self) -> &mut [f64] {
        &mut self.nodes[self.size..self.size + self.n]
    }

    /// Sums every level from its children, deepest first (a level's
    /// pairs side by side, which the compiler vectorises).
    fn build(&mut self) {
        let mut width = self.size / 2;
        while width >= 1 {
            let (parents, children) = self.nodes.split_at_mut(2 * width);
            for (p, pair) in parents[width..]
                .iter_mut()
                .zip(children[..2 * width].chunks_exact(2))
            {
                *p = pair[0] + pair[1];
            }
            width /= 2;
        }
    }

    /// Picks an item ∝ its weight among those not taken yet, and takes it.
    fn take(&mut self, rng: &mut Pcg64Mcg) -> usize {
        loop {
            let mut r = rng.random::<f64>() * self.nodes[1];
            let mut k = 1;
            while k < self.size {
                let left = self.nodes[2 * k];
                if r < left {
                    k *= 2;
                } else {
                    r -= left;
                    k = 2 * k + 1;
                }
            }
            // Rounding can land on an empty leaf at a boundary: draw again.
            if self.nodes[k] > 0.0 {
                self.nodes[k] = 0.0;
                let mut p = k / 2;
                while p >= 1 {
                    self.nodes[p] = self.nodes[2 * p] + self.nodes[2 * p + 1];
                    p /= 2;
                }
                return k - self.size;
            }
        }
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
            exposure_bias: 0.0,
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

    /// Gini of the generated log's item counts (a `small()` catalogue).
    fn item_gini(spec: SyntheticSpec) -> f64 {
        let Ids::Int(items) = generate(&spec).items else {
            panic!("integer ids")
        };
        let mut counts = vec![0u32; spec.items];
        for i in items {
            counts[i as usize] += 1;
        }
        crate::inequality::gini(&counts)
    }

    #[test]
    fn popularity_exponent_skews_item_counts() {
        let gini_of = |popularity_exponent| {
            item_gini(SyntheticSpec {
                popularity_exponent,
                ..small()
            })
        };
        let (flat, skewed) = (gini_of(0.0), gini_of(1.5));
        assert!(
            skewed > flat + 0.15,
            "gini {skewed} with exponent 1.5 vs {flat} uniform"
        );
    }

    /// ρ is a probability and sums to each user's count over the catalogue;
    /// and it is what the log samples from: over many seeds' worth of draws
    /// of one user, an item's share of logs that hold it is ρ within the
    /// Poisson approximation's error.
    #[test]
    fn relevance_is_each_item_s_probability_of_being_logged() {
        let s = SyntheticSpec {
            users: 3,
            items: 40,
            interactions: 30,
            ..small()
        };
        let labels = |n: usize| (0..n).map(|i| i.to_string()).collect::<Vec<_>>();
        let prefs = Preferences::new(&s, &labels(3), &labels(40));
        let latent = Latent::draw(&s);
        let mut rho = vec![0.0; 40];
        prefs.relevance(1, &mut rho);
        assert!(rho.iter().all(|r| (0.0..=1.0).contains(r)));
        let total: f64 = rho.iter().sum();
        assert!((total - latent.counts[1] as f64).abs() < 1e-9, "{total}");
        // The log of user 1 under 4,000 generator seeds with the same latent
        // state is not available (the seed draws both), so sample the same
        // successive process here with the sum tree.
        let d = s.latent_dim;
        let scale = s.affinity / (d as f64).sqrt();
        let f = &latent.user_factors[d..2 * d];
        let weights: Vec<f64> = (0..40)
            .map(|i| {
                (latent.log_popularity[i]
                    + scale * dot(f, &latent.item_factors[i * d..(i + 1) * d]))
                .exp()
            })
            .collect();
        let mut rng = Pcg64Mcg::seed_from_u64(1);
        let mut held = vec![0usize; 40];
        let runs = 4000;
        for _ in 0..runs {
            let mut tree = SumTree::new(40);
            tree.leaves_mut().copy_from_slice(&weights);
            tree.build();
            for _ in 0..latent.counts[1] {
                held[tree.take(&mut rng)] += 1;
            }
        }
        for i in 0..40 {
            let share = held[i] as f64 / runs as f64;
            assert!(
                (share - rho[i]).abs() < 0.06,
                "item {i}: logged {share}, ρ {}",
                rho[i]
            );
        }
    }

    #[test]
    fn exposure_bias_skews_the_log_beyond_the_preferences() {
        let gini_of = |exposure_bias| {
            item_gini(SyntheticSpec {
                exposure_bias,
                ..small()
            })
        };
        assert!(gini_of(1.0) > gini_of(0.0) + 0.1);
    }

    /// Successive sampling: the first pick ∝ the weights, the second ∝ the
    /// weights of what is left (P(3 then 2) = 4/10 · 3/6 = 0.2); every pick
    /// distinct. 40,000 draws: binomial sd of a 0.2 share is 0.002.
    #[test]
    fn sum_tree_picks_in_proportion_among_items_not_yet_taken() {
        let mut rng = Pcg64Mcg::seed_from_u64(9);
        let weights = [1.0, 2.0, 3.0, 4.0, 0.0];
        let (mut first, mut pair) = ([0usize; 5], 0usize);
        let runs = 40_000;
        for _ in 0..runs {
            let mut tree = SumTree::new(weights.len());
            tree.leaves_mut().copy_from_slice(&weights);
            tree.build();
            let picks: Vec<usize> = (0..4).map(|_| tree.take(&mut rng)).collect();
            let mut sorted = picks.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, vec![0, 1, 2, 3], "a zero weight picked or a repeat");
            first[picks[0]] += 1;
            pair += usize::from(picks[..2] == [3, 2]);
        }
        for (k, w) in weights.iter().enumerate() {
            let share = first[k] as f64 / runs as f64;
            assert!((share - w / 10.0).abs() < 0.008, "item {k}: {share}");
        }
        let share = pair as f64 / runs as f64;
        assert!((share - 0.2).abs() < 0.008, "P(3 then 2) = {share}");
    }
}
