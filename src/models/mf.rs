//! Dot-product matrix factorisation trained by gradient descent (Rendle et
//! al. 2020: a tuned dot product matches or beats learned similarities).
//!
//! - `bpr`: −w·log σ(x_u·(y_i − y_j)) with a sampled negative j per positive
//!   (uniform, or ∝ n_j^exponent with `popularity: negatives`).
//! - `softmax`: in-batch sampled softmax over the batch's items with logits
//!   x_u·y_b/τ − alpha·log q_b (logQ correction, Yi et al. 2019), accidental
//!   hits (the same item elsewhere in the batch) masked: the two-tower model
//!   without hidden layers.
//!
//! Loss and gradients are pure functions of a batch ([`bpr_batch`],
//! [`softmax_batch`]), checked against finite differences. Training runs
//! batches in a seeded order on one thread (trials run in parallel), so a
//! seed gives the same factors whatever the thread count.

use std::collections::HashMap;

use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, Par};

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Normal};
use rand_pcg::Pcg64Mcg;
use serde::{Deserialize, Serialize};
use serde_yaml::Mapping;

use super::ials::popularity_weights;
use super::{DotProduct, FitInput, ModelConfig, ModelError, ModelKind, Params, Popularity, Scorer};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Loss {
    #[default]
    Bpr,
    Softmax,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Optimizer {
    Sgd,
    #[default]
    Adagrad,
    /// Lazy Adam: moments of the rows in a batch only, with the global step
    /// for bias correction.
    Adam,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MfParams {
    #[serde(default = "MfParams::default_dim")]
    pub dim: usize,
    #[serde(default)]
    pub loss: Loss,
    #[serde(default = "MfParams::default_epochs")]
    pub epochs: usize,
    #[serde(default = "MfParams::default_batch_size")]
    pub batch_size: usize,
    #[serde(default = "MfParams::default_learning_rate")]
    pub learning_rate: f64,
    #[serde(default)]
    pub optimizer: Optimizer,
    /// λ·‖row‖² on every factor row used in a batch, per use.
    #[serde(default)]
    pub l2: f64,
    /// Softmax logits are divided by τ (softmax loss only).
    #[serde(default = "MfParams::default_temperature")]
    pub temperature: f64,
    #[serde(default)]
    pub popularity: Popularity,
}

impl MfParams {
    fn default_dim() -> usize {
        64
    }
    fn default_epochs() -> usize {
        20
    }
    fn default_batch_size() -> usize {
        256
    }
    fn default_learning_rate() -> f64 {
        0.05
    }
    fn default_temperature() -> f64 {
        1.0
    }
}

impl Default for MfParams {
    fn default() -> Self {
        Self {
            dim: Self::default_dim(),
            loss: Loss::Bpr,
            epochs: Self::default_epochs(),
            batch_size: Self::default_batch_size(),
            learning_rate: Self::default_learning_rate(),
            optimizer: Optimizer::Adagrad,
            l2: 0.0,
            temperature: Self::default_temperature(),
            popularity: Popularity::None,
        }
    }
}

impl Params for MfParams {
    const KIND: ModelKind = ModelKind::Mf;

    fn check(&self) -> Vec<(String, String)> {
        let mut issues = Vec::new();
        for (key, value, min) in [
            ("dim", self.dim, 1),
            ("epochs", self.epochs, 1),
            ("batch_size", self.batch_size, 2),
        ] {
            if value < min {
                issues.push((
                    key.to_string(),
                    format!("{value} is out of range; {key} must be ≥ {min}"),
                ));
            }
        }
        issues.extend(super::require(
            "learning_rate",
            self.learning_rate,
            self.learning_rate > 0.0,
            "must be > 0",
        ));
        issues.extend(super::require("l2", self.l2, self.l2 >= 0.0, "must be ≥ 0"));
        issues.extend(super::require(
            "temperature",
            self.temperature,
            self.temperature > 0.0,
            "must be > 0",
        ));
        match (self.loss, &self.popularity) {
            (Loss::Bpr, Popularity::Logq { .. }) => issues.push((
                "popularity.method".into(),
                "logq corrects sampled-softmax logits; use loss: softmax, or negatives/weight/subsample with bpr".into(),
            )),
            (Loss::Softmax, Popularity::Negatives { .. }) => issues.push((
                "popularity.method".into(),
                "negatives shapes BPR's sampled negatives; in-batch softmax takes its negatives from the batch (use logq)".into(),
            )),
            _ => {}
        }
        issues
    }
}

impl ModelConfig for MfParams {
    fn params(&self) -> Mapping {
        super::to_mapping(self)
    }

    fn is_stochastic(&self) -> bool {
        true
    }

    fn popularity(&self) -> &Popularity {
        &self.popularity
    }

    fn fit(&self, input: &FitInput) -> Result<Box<dyn Scorer>, ModelError> {
        let train = input.train;
        let (n_users, n_items, d) = (train.n_rows(), train.n_cols(), self.dim);
        let mut rng = Pcg64Mcg::seed_from_u64(input.seed);
        let normal = Normal::new(0.0, 0.1 / (d as f64).sqrt()).expect("a positive scale");
        let mut users = Factors::new(n_users, d, &mut |_| normal.sample(&mut rng));
        let mut items = Factors::new(n_items, d, &mut |_| normal.sample(&mut rng));
        let counts = input.item_popularity;
        let total: f64 = counts.iter().map(|&n| f64::from(n)).sum::<f64>().max(1.0);
        let weight: Vec<f64> = match self.popularity {
            Popularity::Weight { beta } => popularity_weights(counts, train.nnz(), beta),
            _ => vec![1.0; n_items],
        };
        let log_q: Vec<f64> = counts
            .iter()
            .map(|&n| (f64::from(n.max(1)) / total).ln())
            .collect();
        let alpha = match self.popularity {
            Popularity::Logq { alpha } => alpha,
            _ => 0.0,
        };
        // Negative sampling table ∝ n^exponent (uniform without `negatives`).
        let exponent = match self.popularity {
            Popularity::Negatives { exponent } => exponent,
            _ => 0.0,
        };
        let cumulative: Vec<f64> = counts
            .iter()
            .scan(0.0, |acc, &n| {
                *acc += if exponent == 0.0 {
                    1.0
                } else {
                    f64::from(n).powf(exponent)
                };
                Some(*acc)
            })
            .collect();
        let positives: Vec<(u32, u32)> = train.pairs().collect();
        let mut optimizer = OptimizerState::new(self.optimizer, n_users, n_items, d);
        for _ in 0..self.epochs {
            let mut order = positives.clone();
            order.shuffle(&mut rng);
            if let Popularity::Subsample { t } = self.popularity {
                order.retain(|&(_, i)| {
                    let f = f64::from(counts[i as usize]) / total;
                    rng.random::<f64>() < (t / f).sqrt().min(1.0)
                });
            }
            for batch in order.chunks(self.batch_size) {
                let grads = match self.loss {
                    Loss::Bpr => {
                        let triples: Vec<Triple> = batch
                            .iter()
                            .map(|&(u, i)| {
                                let j = sample_negative(&mut rng, &cumulative, |j| {
                                    train.contains(u as usize, j)
                                });
                                Triple {
                                    user: u,
                                    positive: i,
                                    negative: j,
                                    weight: weight[i as usize],
                                }
                            })
                            .collect();
                        bpr_batch(&users, &items, &triples, self.l2).1
                    }
                    Loss::Softmax => {
                        let pairs: Vec<Triple> = batch
                            .iter()
                            .map(|&(u, i)| Triple {
                                user: u,
                                positive: i,
                                negative: i,
                                weight: weight[i as usize],
                            })
                            .collect();
                        softmax_batch(
                            &users,
                            &items,
                            &pairs,
                            &log_q,
                            alpha,
                            self.temperature,
                            self.l2,
                        )
                        .1
                    }
                };
                optimizer.step(&mut users, &mut items, &grads, self.learning_rate);
            }
        }
        if !users
            .values
            .iter()
            .chain(&items.values)
            .all(|v| v.is_finite())
        {
            return Err(ModelError::Numerical {
                model: "mf",
                message: "training diverged (non-finite factors); lower learning_rate or raise l2"
                    .into(),
            });
        }
        let to_f32 = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<f32>>();
        Ok(Box::new(DotProduct::new(
            d,
            to_f32(&users.values),
            &to_f32(&items.values),
        )))
    }
}

/// A factor table: rows of `dim` values.
#[derive(Debug, Clone)]
pub struct Factors {
    dim: usize,
    values: Vec<f64>,
}

impl Factors {
    fn new(rows: usize, dim: usize, init: &mut dyn FnMut(usize) -> f64) -> Self {
        Self {
            dim,
            values: (0..rows * dim).map(init).collect(),
        }
    }

    fn row(&self, r: u32) -> &[f64] {
        &self.values[r as usize * self.dim..(r as usize + 1) * self.dim]
    }

    fn row_mut(&mut self, r: u32) -> &mut [f64] {
        &mut self.values[r as usize * self.dim..(r as usize + 1) * self.dim]
    }
}

/// A positive (user, item) with its loss weight; `negative` is BPR's sampled item.
#[derive(Debug, Clone, Copy)]
pub struct Triple {
    pub user: u32,
    pub positive: u32,
    pub negative: u32,
    pub weight: f64,
}

/// Gradients of a batch's mean loss for the rows it touched, in a flat
/// arena (one slot per row, in first-touch order).
#[derive(Debug, Default)]
pub struct Grads {
    users: RowGrads,
    items: RowGrads,
}

#[derive(Debug, Default)]
struct RowGrads {
    slots: HashMap<u32, usize>,
    rows: Vec<u32>,
    values: Vec<f64>,
}

impl RowGrads {
    fn slot(&mut self, row: u32, d: usize) -> &mut [f64] {
        let next = self.rows.len();
        let s = *self.slots.entry(row).or_insert(next);
        if s == next {
            self.rows.push(row);
            self.values.resize(self.values.len() + d, 0.0);
        }
        &mut self.values[s * d..(s + 1) * d]
    }

    fn add(&mut self, row: u32, scale: f64, v: &[f64]) {
        for (a, b) in self.slot(row, v.len()).iter_mut().zip(v) {
            *a += scale * b;
        }
    }

    #[cfg(test)]
    fn get(&self, row: u32, d: usize) -> Option<&[f64]> {
        self.slots
            .get(&row)
            .map(|&s| &self.values[s * d..(s + 1) * d])
    }

    fn iter(&self, d: usize) -> impl Iterator<Item = (u32, &[f64])> {
        self.rows
            .iter()
            .copied()
            .zip(self.values.chunks_exact(d.max(1)))
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// log σ(z), without overflow for large |z|.
fn log_sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        -(-z).exp().ln_1p()
    } else {
        z - z.exp().ln_1p()
    }
}

/// Mean BPR loss of a batch and its gradients.
pub fn bpr_batch(users: &Factors, items: &Factors, batch: &[Triple], l2: f64) -> (f64, Grads) {
    let n = batch.len() as f64;
    let mut loss = 0.0;
    let mut grads = Grads::default();
    for t in batch {
        let (x, yi, yj) = (
            users.row(t.user),
            items.row(t.positive),
            items.row(t.negative),
        );
        let diff: Vec<f64> = yi.iter().zip(yj).map(|(a, b)| a - b).collect();
        let z = dot(x, &diff);
        loss += -t.weight * log_sigmoid(z) + l2 * (dot(x, x) + dot(yi, yi) + dot(yj, yj));
        // d(−log σ(z))/dz = −σ(−z).
        let dz = -t.weight / (1.0 + z.exp()) / n;
        grads.users.add(t.user, dz, &diff);
        grads.users.add(t.user, 2.0 * l2 / n, x);
        grads.items.add(t.positive, dz, x);
        grads.items.add(t.positive, 2.0 * l2 / n, yi);
        grads.items.add(t.negative, -dz, x);
        grads.items.add(t.negative, 2.0 * l2 / n, yj);
    }
    (loss / n, grads)
}

/// Mean in-batch softmax loss and its gradients: row a's logits over the
/// batch's items b are x_a·y_b/τ − alpha·log q_b, the same item at another
/// position is masked, and the positive is position a. Logits and both
/// gradient products are matrix products (faer GEMM).
pub fn softmax_batch(
    users: &Factors,
    items: &Factors,
    batch: &[Triple],
    log_q: &[f64],
    alpha: f64,
    temperature: f64,
    l2: f64,
) -> (f64, Grads) {
    let (n, d) = (batch.len(), users.dim);
    let x = Mat::<f64>::from_fn(n, d, |a, k| users.row(batch[a].user)[k]);
    let y = Mat::<f64>::from_fn(n, d, |b, k| items.row(batch[b].positive)[k]);
    let mut logits = Mat::<f64>::zeros(n, n);
    matmul(
        logits.as_mut(),
        Accum::Replace,
        x.as_ref(),
        y.transpose(),
        1.0 / temperature,
        Par::Seq,
    );
    let mut loss = 0.0;
    // g[a][b] = w_a (p_ab − [a = b]) / (n τ): the gradient of the mean loss
    // with respect to x_a·y_b.
    let mut g = Mat::<f64>::zeros(n, n);
    for (a, ta) in batch.iter().enumerate() {
        let row: Vec<f64> = (0..n)
            .map(|b| {
                let tb = &batch[b];
                if b != a && tb.positive == ta.positive {
                    f64::NEG_INFINITY
                } else {
                    logits[(a, b)] - alpha * log_q[tb.positive as usize]
                }
            })
            .collect();
        let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        // One exp per logit (exp dominates the cost of this function).
        let shifted: Vec<f64> = row.iter().map(|l| (l - max).exp()).collect();
        let z: f64 = shifted.iter().sum();
        let log_z = max + z.ln();
        let xa = users.row(ta.user);
        let ya = items.row(ta.positive);
        loss += ta.weight * (log_z - row[a]) + l2 * (dot(xa, xa) + dot(ya, ya));
        for (b, e) in shifted.iter().enumerate() {
            let p = e / z;
            g[(a, b)] = ta.weight * (p - if b == a { 1.0 } else { 0.0 }) / (n as f64 * temperature);
        }
    }
    let mut dx = Mat::<f64>::zeros(n, d);
    let mut dy = Mat::<f64>::zeros(n, d);
    matmul(
        dx.as_mut(),
        Accum::Replace,
        g.as_ref(),
        y.as_ref(),
        1.0,
        Par::Seq,
    );
    matmul(
        dy.as_mut(),
        Accum::Replace,
        g.transpose(),
        x.as_ref(),
        1.0,
        Par::Seq,
    );
    let mut grads = Grads::default();
    let scale = 2.0 * l2 / n as f64;
    for (a, t) in batch.iter().enumerate() {
        let (xa, ya) = (users.row(t.user), items.row(t.positive));
        let gx: Vec<f64> = (0..d).map(|k| dx[(a, k)] + scale * xa[k]).collect();
        let gy: Vec<f64> = (0..d).map(|k| dy[(a, k)] + scale * ya[k]).collect();
        grads.users.add(t.user, 1.0, &gx);
        grads.items.add(t.positive, 1.0, &gy);
    }
    (loss / n as f64, grads)
}

/// A negative for a user: drawn from the cumulative table, rejecting the
/// user's own train items (a bounded number of tries, for dense users).
fn sample_negative(rng: &mut Pcg64Mcg, cumulative: &[f64], seen: impl Fn(u32) -> bool) -> u32 {
    let total = *cumulative.last().expect("a catalogue");
    let mut pick = 0;
    for _ in 0..64 {
        let r = rng.random::<f64>() * total;
        pick = cumulative
            .partition_point(|&c| c <= r)
            .min(cumulative.len() - 1) as u32;
        if !seen(pick) {
            break;
        }
    }
    pick
}

struct OptimizerState {
    kind: Optimizer,
    step: u64,
    user_moments: (Vec<f64>, Vec<f64>),
    item_moments: (Vec<f64>, Vec<f64>),
}

impl OptimizerState {
    fn new(kind: Optimizer, n_users: usize, n_items: usize, d: usize) -> Self {
        let zeros = |rows: usize| (vec![0.0; rows * d], vec![0.0; rows * d]);
        Self {
            kind,
            step: 0,
            user_moments: zeros(n_users),
            item_moments: zeros(n_items),
        }
    }

    /// Updates only the rows the batch touched.
    fn step(&mut self, users: &mut Factors, items: &mut Factors, grads: &Grads, lr: f64) {
        self.step += 1;
        let (kind, t) = (self.kind, self.step as i32);
        for (factors, moments, rows) in [
            (&mut *users, &mut self.user_moments, &grads.users),
            (&mut *items, &mut self.item_moments, &grads.items),
        ] {
            let d = factors.dim;
            // Bias corrections of Adam, once per step rather than per coordinate.
            let (c1, c2) = (1.0 / (1.0 - 0.9f64.powi(t)), 1.0 / (1.0 - 0.999f64.powi(t)));
            for (r, g) in rows.iter(d) {
                let range = r as usize * d..(r as usize + 1) * d;
                let p = factors.row_mut(r);
                // One loop per optimizer, so each is a plain zip that vectorises.
                match kind {
                    Optimizer::Sgd => {
                        for (p, g) in p.iter_mut().zip(g) {
                            *p -= lr * g;
                        }
                    }
                    Optimizer::Adagrad => {
                        for ((p, g), v) in p.iter_mut().zip(g).zip(&mut moments.1[range]) {
                            *v += g * g;
                            *p -= lr * g / (v.sqrt() + 1e-10);
                        }
                    }
                    Optimizer::Adam => {
                        let (m, v) = (&mut moments.0[range.clone()], &mut moments.1[range]);
                        for (((p, g), m), v) in p.iter_mut().zip(g).zip(m).zip(v) {
                            *m = 0.9 * *m + 0.1 * g;
                            *v = 0.999 * *v + 0.001 * g * g;
                            *p -= lr * (*m * c1) / ((*v * c2).sqrt() + 1e-8);
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(rows: usize, d: usize, seed: u64) -> Factors {
        let mut rng = Pcg64Mcg::seed_from_u64(seed);
        Factors::new(rows, d, &mut |_| rng.random::<f64>() - 0.5)
    }

    /// Central differences of `loss` against `grads` for every coordinate.
    fn check(
        users: &Factors,
        items: &Factors,
        loss: &dyn Fn(&Factors, &Factors) -> f64,
        grads: &Grads,
    ) {
        let h = 1e-6;
        for (is_user, rows) in [
            (true, users.values.len() / users.dim),
            (false, items.values.len() / items.dim),
        ] {
            for r in 0..rows as u32 {
                for k in 0..users.dim {
                    let (mut up, mut down) = (users.clone(), users.clone());
                    let (mut iup, mut idown) = (items.clone(), items.clone());
                    if is_user {
                        up.row_mut(r)[k] += h;
                        down.row_mut(r)[k] -= h;
                    } else {
                        iup.row_mut(r)[k] += h;
                        idown.row_mut(r)[k] -= h;
                    }
                    let numeric = (loss(&up, &iup) - loss(&down, &idown)) / (2.0 * h);
                    let map = if is_user { &grads.users } else { &grads.items };
                    let analytic = map.get(r, users.dim).map_or(0.0, |g| g[k]);
                    assert!(
                        (numeric - analytic).abs() < 1e-6 * (1.0 + numeric.abs()),
                        "{} row {r} coord {k}: numeric {numeric} vs analytic {analytic}",
                        if is_user { "user" } else { "item" }
                    );
                }
            }
        }
    }

    fn batch() -> Vec<Triple> {
        vec![
            Triple {
                user: 0,
                positive: 1,
                negative: 3,
                weight: 1.0,
            },
            Triple {
                user: 1,
                positive: 2,
                negative: 0,
                weight: 0.5,
            },
            Triple {
                user: 2,
                positive: 1,
                negative: 4,
                weight: 2.0,
            },
            Triple {
                user: 0,
                positive: 4,
                negative: 2,
                weight: 1.0,
            },
        ]
    }

    #[test]
    fn bpr_gradients_match_finite_differences() {
        let (users, items) = (table(3, 4, 1), table(5, 4, 2));
        let (_, grads) = bpr_batch(&users, &items, &batch(), 0.01);
        check(
            &users,
            &items,
            &|u, i| bpr_batch(u, i, &batch(), 0.01).0,
            &grads,
        );
    }

    #[test]
    fn softmax_gradients_match_finite_differences_with_temperature_logq_and_masking() {
        // Item 1 appears twice: accidental hits are masked.
        let (users, items) = (table(3, 4, 3), table(5, 4, 4));
        let log_q = [-1.0, -2.0, -0.5, -3.0, -1.5];
        let (_, grads) = softmax_batch(&users, &items, &batch(), &log_q, 0.7, 0.2, 0.01);
        check(
            &users,
            &items,
            &|u, i| softmax_batch(u, i, &batch(), &log_q, 0.7, 0.2, 0.01).0,
            &grads,
        );
    }

    #[test]
    fn log_sigmoid_is_stable_at_the_extremes() {
        for z in [-800.0f64, -30.0, -1.0, 0.0, 1.0, 30.0, 800.0] {
            let direct = -(1.0 + (-z).exp()).ln();
            let stable = log_sigmoid(z);
            assert!(stable.is_finite(), "{z}");
            if direct.is_finite() {
                assert!((stable - direct).abs() < 1e-12, "{z}: {stable} vs {direct}");
            }
        }
    }
}
