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

use faer::Mat;
use rand::SeedableRng;
use rand_pcg::Pcg64Mcg;
use serde::{Deserialize, Serialize};

use super::nn::{in_batch_softmax, log_sigmoid, InBatch};
use super::real::{Real, Trained};
use super::train::{self, dot, Examples, Fitted, Optimizer, RowGrads, Step, Table, Trainable};
use super::{
    shared, DotProduct, FitInput, Inert, ModelConfig, ModelError, ModelKind, ParamDoc, ParamIssue,
    Params, Popularity, Rule, Scorer, MAX_WIDTH,
};
use crate::data::FeatureNames;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Loss {
    #[default]
    Bpr,
    Softmax,
}

param_table! {
    pub struct MfParams {
        dim: usize = 64 => ParamDoc::new(Rule::Count(1, MAX_WIDTH), "factors per user and item"),
        loss: Loss = Loss::Bpr => ParamDoc::new(
            Rule::Text("bpr, softmax"),
            "BPR with one sampled negative per positive, or in-batch sampled softmax with accidental hits masked; popularity logq needs softmax, negatives needs bpr",
        ),
        epochs: usize = 20 => shared::EPOCHS,
        batch_size: usize = 256 => ParamDoc::new(
            Rule::Count(1, usize::MAX),
            "positives per gradient step; at least 2 with loss: softmax, whose in-batch softmax contrasts each positive with the batch's other items",
        ),
        learning_rate: f64 = 0.05 => shared::LEARNING_RATE,
        optimizer: Optimizer = Optimizer::Adagrad => shared::OPTIMIZER,
        l2: f64 = 0.0 => ParamDoc::new(
            Rule::NON_NEGATIVE,
            "λ·‖row‖² on every factor row each time a batch uses it",
        ),
        temperature: f64 = 1.0 => ParamDoc::new(Rule::POSITIVE, "softmax logits / τ (loss: softmax)"),
        patience: usize = 0 => shared::PATIENCE,
        popularity: Popularity = Popularity::None => shared::POPULARITY,
    }
}

impl Params for MfParams {
    const KIND: ModelKind = ModelKind::Mf;

    fn check(&self) -> Vec<ParamIssue> {
        let mut issues = Vec::new();
        match (self.loss, &self.popularity) {
            (Loss::Bpr, Popularity::Logq { .. }) => issues.push(ParamIssue::new(
                "popularity.method",
                "logq corrects sampled-softmax logits; use loss: softmax, or negatives/weight/subsample with bpr",
            )),
            (Loss::Softmax, Popularity::Negatives { .. }) => issues.push(ParamIssue::new(
                "popularity.method",
                "negatives shapes BPR's sampled negatives; in-batch softmax takes its negatives from the batch (use logq)",
            )),
            _ => {}
        }
        // BPR contrasts each positive with its own sampled negative; the
        // in-batch softmax with the batch's other items.
        if self.loss == Loss::Softmax && self.batch_size < 2 {
            issues.push(ParamIssue::new(
                "batch_size",
                "an in-batch softmax needs another item in the batch: use batch_size ≥ 2 with loss: softmax",
            ));
        }
        issues
    }
}

impl ModelConfig for MfParams {
    config_basics!(stochastic: true);

    fn scores_by_dot_product(&self) -> bool {
        !matches!(self.popularity, Popularity::Penalty { .. })
    }

    fn samples_negatives(&self) -> bool {
        self.loss == Loss::Bpr
    }

    fn inert(&self, _: &FeatureNames) -> Vec<Inert> {
        if self.loss == Loss::Bpr {
            vec![Inert::new(
                "temperature",
                "temperature divides softmax logits, and loss: bpr has none",
            )]
        } else {
            Vec::new()
        }
    }

    fn fit(&self, input: &FitInput) -> Result<Fitted, ModelError> {
        let train = input.train;
        let d = self.dim;
        let mut rng = Pcg64Mcg::seed_from_u64(input.seed);
        let scale = 0.1 / (d as f64).sqrt();
        let users = Table::normal(train.n_rows(), d, scale, &mut rng);
        let items = Table::normal(train.n_cols(), d, scale, &mut rng);
        let mut model = Mf::<Trained> {
            params: self,
            users,
            items,
            examples: Examples::new(input, &self.popularity),
            rng,
            step: 0,
            scratch: Mat::new(),
        };
        train::train(&mut model, "mf", self.epochs, self.patience, input.monitor)
    }
}

struct Mf<'a, T: Real> {
    params: &'a MfParams,
    users: Table<T>,
    items: Table<T>,
    examples: Examples<'a>,
    rng: Pcg64Mcg,
    step: u64,
    /// The in-batch softmax's logits, reused across batches.
    scratch: Mat<T>,
}

impl<T: Real> Trainable for Mf<'_, T> {
    fn epoch(&mut self) -> f64 {
        let p = self.params;
        let order = self.examples.epoch(&mut self.rng);
        let (mut total, mut batches) = (0.0, 0);
        for batch in order.chunks(p.batch_size) {
            let triples: Vec<Triple> = batch
                .iter()
                .map(|&(u, i)| Triple {
                    user: u,
                    positive: i,
                    negative: match p.loss {
                        Loss::Bpr => self.examples.negative(&mut self.rng, u),
                        Loss::Softmax => i,
                    },
                    weight: self.examples.weight[i as usize],
                })
                .collect();
            let (loss, grads) = match p.loss {
                Loss::Bpr => bpr_batch(&self.users, &self.items, &triples, p.l2),
                Loss::Softmax => softmax_batch(
                    &self.users,
                    &self.items,
                    &triples,
                    &self.examples.correction,
                    (p.temperature, p.l2),
                    &mut self.scratch,
                ),
            };
            self.step += 1;
            let step = Step::new(p.optimizer, p.learning_rate, self.step).summed_over(batch.len());
            self.users.update(&grads.users, &step);
            self.items.update(&grads.items, &step);
            total += loss;
            batches += 1;
        }
        if self.users.is_finite() && self.items.is_finite() {
            total / batches.max(1) as f64
        } else {
            f64::NAN
        }
    }

    fn scorer(&self) -> Box<dyn Scorer> {
        Box::new(DotProduct::new(
            self.params.dim,
            self.users.to_f32(),
            &self.items.to_f32(),
        ))
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

/// Gradients of a batch's mean loss for the rows it touched.
#[derive(Debug, Default)]
pub struct Grads<T: Real> {
    users: RowGrads<T>,
    items: RowGrads<T>,
}

/// Mean BPR loss of a batch and its gradients.
pub fn bpr_batch<T: Real>(
    users: &Table<T>,
    items: &Table<T>,
    batch: &[Triple],
    l2: f64,
) -> (f64, Grads<T>) {
    let n = batch.len() as f64;
    let decay = T::of(2.0 * l2 / n);
    let mut loss = 0.0;
    let mut grads = Grads::default();
    for t in batch {
        let (x, yi, yj) = (
            users.row(t.user),
            items.row(t.positive),
            items.row(t.negative),
        );
        let diff: Vec<T> = yi.iter().zip(yj).map(|(&a, &b)| a - b).collect();
        let z = dot(x, &diff);
        loss +=
            -t.weight * log_sigmoid(z).wide() + l2 * (dot(x, x) + dot(yi, yi) + dot(yj, yj)).wide();
        // d(−log σ(z))/dz = −σ(−z).
        let dz = -T::of(t.weight) / (T::one() + z.exp()) / T::of(n);
        grads.users.add(t.user, dz, &diff);
        grads.users.add(t.user, decay, x);
        grads.items.add(t.positive, dz, x);
        grads.items.add(t.positive, decay, yi);
        grads.items.add(t.negative, -dz, x);
        grads.items.add(t.negative, decay, yj);
    }
    (loss / n, grads)
}

/// Mean in-batch softmax loss and its gradients (the two-tower loss on raw
/// factors): `corrections` holds alpha·log q per item.
pub fn softmax_batch<T: Real>(
    users: &Table<T>,
    items: &Table<T>,
    batch: &[Triple],
    corrections: &[f64],
    (temperature, l2): (f64, f64),
    scratch: &mut Mat<T>,
) -> (f64, Grads<T>) {
    let (n, d) = (batch.len(), users.dim);
    let x = Mat::<T>::from_fn(n, d, |a, k| users.row(batch[a].user)[k]);
    let y = Mat::<T>::from_fn(n, d, |b, k| items.row(batch[b].positive)[k]);
    let ids: Vec<u32> = batch.iter().map(|t| t.positive).collect();
    let weights: Vec<T> = batch.iter().map(|t| T::of(t.weight)).collect();
    let corrections: Vec<T> = ids
        .iter()
        .map(|&i| T::of(corrections[i as usize]))
        .collect();
    let (mut loss, dx, dy) = in_batch_softmax(
        x.as_ref(),
        y.as_ref(),
        &InBatch {
            items: &ids,
            weights: &weights,
            corrections: &corrections,
            temperature,
        },
        scratch,
    );
    let mut grads = Grads::default();
    let scale = T::of(2.0 * l2 / n as f64);
    for (a, t) in batch.iter().enumerate() {
        let (xa, ya) = (users.row(t.user), items.row(t.positive));
        loss += l2 * (dot(xa, xa) + dot(ya, ya)).wide() / n as f64;
        let gx: Vec<T> = (0..d).map(|k| dx[(a, k)] + scale * xa[k]).collect();
        let gy: Vec<T> = (0..d).map(|k| dy[(a, k)] + scale * ya[k]).collect();
        grads.users.add(t.user, T::one(), &gx);
        grads.items.add(t.positive, T::one(), &gy);
    }
    (loss, grads)
}

#[cfg(test)]
mod tests {
    use super::*;

    // The tests run in f64: central differences need its precision.
    type Table = super::Table<f64>;
    type Grads = super::Grads<f64>;

    fn table(rows: usize, d: usize, seed: u64) -> Table {
        Table::normal(rows, d, 0.5, &mut Pcg64Mcg::seed_from_u64(seed))
    }

    /// Central differences of `loss` against `grads` for every coordinate.
    fn check(users: &Table, items: &Table, loss: &dyn Fn(&Table, &Table) -> f64, grads: &Grads) {
        let h = 1e-6;
        for (is_user, rows) in [(true, users.rows()), (false, items.rows())] {
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
        let corrections = [-1.0, -2.0, -0.5, -3.0, -1.5].map(|q| 0.7 * q);
        let (_, grads) = softmax_batch(
            &users,
            &items,
            &batch(),
            &corrections,
            (0.2, 0.01),
            &mut Mat::new(),
        );
        check(
            &users,
            &items,
            &|u, i| softmax_batch(u, i, &batch(), &corrections, (0.2, 0.01), &mut Mat::new()).0,
            &grads,
        );
    }

    #[test]
    fn a_batch_of_one_is_refused_for_the_softmax_alone_and_bpr_trains_on_it() {
        let params = |loss: &str| -> serde_yaml::Mapping {
            serde_yaml::from_str(&format!(
                "{{loss: {loss}, batch_size: 1, dim: 4, epochs: 1}}"
            ))
            .unwrap()
        };
        let issues = ModelKind::Mf.configure(&params("softmax")).unwrap_err();
        assert_eq!(issues.len(), 1);
        assert_eq!(issues[0].key, "batch_size");
        assert!(
            issues[0].message.contains("in-batch softmax"),
            "{}",
            issues[0].message
        );
        let bpr = ModelKind::Mf.configure(&params("bpr")).unwrap();
        let pairs: Vec<(u32, u32)> = (0..6u32).map(|u| (u, u % 4)).collect();
        let train = crate::data::CsrMatrix::from_pairs(6, 4, &pairs);
        let popularity = train.column_counts();
        let fitted = bpr
            .fit(&FitInput::interactions(&train, &popularity, 1))
            .unwrap();
        let mut scores = vec![0.0; 4];
        fitted.scorer.score_block(&[0], &mut scores);
        assert!(scores.iter().all(|s| s.is_finite()));
    }
}
