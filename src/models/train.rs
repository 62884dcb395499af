//! What the gradient-trained models (mf, two_tower, ncf) share: embedding
//! tables with sparse row gradients, the three optimizers, and the epoch loop
//! with its loss curve and early stopping on a validation metric.

use std::collections::HashMap;

use rand::seq::SliceRandom;
use rand::Rng;
use rand_distr::{Distribution, Normal};
use rand_pcg::Pcg64Mcg;
use serde::{Deserialize, Serialize};

use super::popularity::popularity_weights;
use super::real::{Real, Trained};
use super::{FitInput, ModelError, Popularity, Scorer};
use crate::data::CsrMatrix;

/// Scores a candidate model on the validation split: the spec's selection
/// metric, higher is better. Supplied by the runner when the split has a
/// validation part.
pub type Monitor<'a> = &'a (dyn Fn(&dyn Scorer) -> f64 + Sync);

/// A fitted model and, for models trained in epochs, how training went.
pub struct Fitted {
    pub scorer: Box<dyn Scorer>,
    pub curve: Option<TrainingCurve>,
    /// Seconds an earlier trial spent fitting what this one reuses (a
    /// pipeline's retriever, [`super::Reuse`]): added to the trial's fit
    /// time, so that it states what fitting the model costs.
    pub reused_seconds: f64,
}

impl Fitted {
    pub fn new(scorer: Box<dyn Scorer>) -> Self {
        Self {
            scorer,
            curve: None,
            reused_seconds: 0.0,
        }
    }
}

/// Train loss and validation metric per epoch, stored with the trial.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingCurve {
    pub epochs: Vec<EpochLog>,
    /// The epoch whose weights were kept (1-based): the best validation
    /// value under early stopping, else the last epoch.
    pub kept_epoch: usize,
    /// Whether patience ran out before the configured number of epochs.
    pub stopped_early: bool,
    /// Whether validation was still improving when the epoch budget ran out:
    /// the kept epoch lies within the last `patience` epochs (the last epoch
    /// when patience is 0), so more epochs might have helped. Always false
    /// without a validation monitor. Absent in trials stored before it
    /// existed, read as false.
    #[serde(default)]
    pub still_improving: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochLog {
    pub epoch: usize,
    /// Mean training loss over the epoch's batches (data term plus l2).
    pub loss: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation: Option<f64>,
}

/// A model trained one epoch at a time.
pub trait Trainable {
    /// Runs one epoch and returns its mean batch loss.
    fn epoch(&mut self) -> f64;

    /// The current weights as an evaluation-mode scorer (no dropout).
    fn scorer(&self) -> Box<dyn Scorer>;
}

/// Runs `epochs` epochs. With a monitor, evaluates after every epoch, keeps
/// the best scorer and stops once `patience` epochs pass without improvement
/// (`patience` 0: run every epoch, still keeping the best). Without one the
/// last epoch's weights are kept.
pub fn train(
    model: &mut dyn Trainable,
    name: &'static str,
    epochs: usize,
    patience: usize,
    monitor: Option<Monitor>,
) -> Result<Fitted, ModelError> {
    let mut logs = Vec::new();
    let mut best: Option<(f64, usize, Box<dyn Scorer>)> = None;
    let mut stopped_early = false;
    for epoch in 1..=epochs {
        let loss = model.epoch();
        if !loss.is_finite() {
            return Err(ModelError::Numerical {
                model: name,
                message: format!(
                    "training diverged at epoch {epoch} (loss {loss}); lower learning_rate, or bring an extreme l2, temperature or popularity strength toward its default"
                ),
            });
        }
        let validation = monitor.map(|m| {
            let scorer = model.scorer();
            let value = m(scorer.as_ref());
            if best.as_ref().is_none_or(|(b, _, _)| value > *b) {
                best = Some((value, epoch, scorer));
            }
            value
        });
        logs.push(EpochLog {
            epoch,
            loss,
            validation,
        });
        if let Some((_, best_epoch, _)) = &best {
            if patience > 0 && epoch - best_epoch >= patience && epoch < epochs {
                stopped_early = true;
                break;
            }
        }
    }
    let monitored = best.is_some();
    let (scorer, kept_epoch) = match best {
        Some((_, epoch, scorer)) => (scorer, epoch),
        None => (model.scorer(), logs.len()),
    };
    let still_improving = monitored && !stopped_early && kept_epoch + patience.max(1) > logs.len();
    Ok(Fitted {
        reused_seconds: 0.0,
        scorer,
        curve: Some(TrainingCurve {
            epochs: logs,
            kept_epoch,
            stopped_early,
            still_improving,
        }),
    })
}

/// The training positives with what the popularity methods (docs/spec.md) do
/// to them: loss weights (`weight`), per-epoch subsampling (`subsample`),
/// logit corrections (`logq`) and the negative sampler (`negatives`).
#[derive(Clone)]
pub struct Examples<'a> {
    pub train: &'a CsrMatrix,
    positives: Vec<(u32, u32)>,
    /// Loss weight per item's positives (1 without `weight`).
    pub weight: Vec<f64>,
    /// alpha·log q_i per item (0 without `logq`).
    pub correction: Vec<f64>,
    /// Item frequencies f_i = n_i / Σn.
    frequency: Vec<f64>,
    subsample: Option<f64>,
    /// Cumulative negative-sampling mass ∝ n_i^exponent (uniform without
    /// `negatives`).
    cumulative: Vec<f64>,
    /// Per-user negative pools ([`FitInput::negatives`]).
    pools: Option<&'a CsrMatrix>,
}

impl<'a> Examples<'a> {
    pub fn new(input: &FitInput<'a>, popularity: &Popularity) -> Self {
        let (train, counts) = (input.train, input.item_popularity);
        let total: f64 = counts.iter().map(|&n| f64::from(n)).sum::<f64>().max(1.0);
        let frequency: Vec<f64> = counts.iter().map(|&n| f64::from(n) / total).collect();
        let weight = match *popularity {
            Popularity::Weight { beta } => popularity_weights(counts, train.nnz(), beta),
            _ => vec![1.0; counts.len()],
        };
        let correction = match *popularity {
            // q_i: the chance a batch slot holds item i, n_i / Σn (an item
            // never seen in training gets one count, so log q is finite).
            Popularity::Logq { alpha } => counts
                .iter()
                .map(|&n| alpha * (f64::from(n.max(1)) / total).ln())
                .collect(),
            _ => vec![0.0; counts.len()],
        };
        let exponent = match *popularity {
            Popularity::Negatives { exponent } => exponent,
            _ => 0.0,
        };
        let cumulative = counts
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
        Self {
            train,
            positives: train.pairs().collect(),
            weight,
            correction,
            frequency,
            subsample: match *popularity {
                Popularity::Subsample { t } => Some(t),
                _ => None,
            },
            cumulative,
            pools: input.negatives,
        }
    }

    /// One epoch's positives: shuffled, then thinned by `subsample`.
    pub fn epoch(&self, rng: &mut Pcg64Mcg) -> Vec<(u32, u32)> {
        let mut order = self.positives.clone();
        order.shuffle(rng);
        if let Some(t) = self.subsample {
            order.retain(|&(_, i)| {
                rng.random::<f64>() < (t / self.frequency[i as usize]).sqrt().min(1.0)
            });
        }
        order
    }

    /// A negative for a user: drawn uniformly from the user's pool when
    /// there is one and it holds items not in the user's train row,
    /// otherwise from the sampling table rejecting the user's own train
    /// items (a bounded number of tries, for dense users). Pooled negatives
    /// are never the user's positives: pool items in train are skipped.
    pub fn negative(&self, rng: &mut Pcg64Mcg, user: u32) -> u32 {
        if let Some(pools) = self.pools {
            let pool = pools.row(user as usize);
            if !pool.is_empty() {
                let start = rng.random_range(0..pool.len());
                let free = (0..pool.len())
                    .map(|k| pool[(start + k) % pool.len()])
                    .find(|&j| !self.train.contains(user as usize, j));
                if let Some(j) = free {
                    return j;
                }
            }
        }
        let total = *self.cumulative.last().expect("a catalogue");
        let mut pick = 0;
        for _ in 0..64 {
            let r = rng.random::<f64>() * total;
            pick = self
                .cumulative
                .partition_point(|&c| c <= r)
                .min(self.cumulative.len() - 1) as u32;
            if !self.train.contains(user as usize, pick) {
                break;
            }
        }
        pick
    }
}

/// One labelled (user, item) example of a pointwise loss.
#[derive(Debug, Clone, Copy)]
pub struct Example {
    pub user: u32,
    pub item: u32,
    pub label: f64,
    pub weight: f64,
}

/// A network trained by binary cross-entropy on positives and sampled
/// negatives (ncf, dcn): what [`pointwise_epoch`] needs of it.
pub trait Pointwise {
    type Grads;

    /// Mean loss (l2 included) and gradients of a batch, with dropout rate
    /// `p` drawn from `rng`.
    fn gradients(
        &self,
        batch: &[Example],
        p: f64,
        l2: f64,
        rng: &mut Pcg64Mcg,
    ) -> (f64, Self::Grads);

    fn update(&mut self, grads: &Self::Grads, step: &Step);

    fn is_finite(&self) -> bool;
}

/// The hyperparameters of a pointwise epoch.
#[derive(Debug, Clone, Copy)]
pub struct PointwiseSettings {
    pub negatives: usize,
    pub batch_size: usize,
    pub dropout: f64,
    pub l2: f64,
    pub optimizer: Optimizer,
    pub learning_rate: f64,
}

/// One epoch: each batch of positives (label 1, the item's popularity
/// weight) brings `negatives` sampled items per positive (label 0); one
/// optimizer step per batch. Returns the mean batch loss, NaN once a weight
/// is not finite. `step` counts optimizer steps across epochs.
pub fn pointwise_epoch<N: Pointwise>(
    net: &mut N,
    settings: &PointwiseSettings,
    examples: &Examples,
    rng: &mut Pcg64Mcg,
    step: &mut u64,
) -> f64 {
    let s = settings;
    let order = examples.epoch(rng);
    let (mut total, mut batches) = (0.0, 0);
    // A batch holds at most every positive, whatever batch_size says.
    let mut batch = Vec::with_capacity(s.batch_size.min(order.len()) * (1 + s.negatives));
    for chunk in order.chunks(s.batch_size) {
        batch.clear();
        for &(u, i) in chunk {
            batch.push(Example {
                user: u,
                item: i,
                label: 1.0,
                weight: examples.weight[i as usize],
            });
            for _ in 0..s.negatives {
                batch.push(Example {
                    user: u,
                    item: examples.negative(rng, u),
                    label: 0.0,
                    weight: 1.0,
                });
            }
        }
        let (loss, grads) = net.gradients(&batch, s.dropout, s.l2, rng);
        *step += 1;
        net.update(
            &grads,
            &Step::new(s.optimizer, s.learning_rate, *step).summed_over(batch.len()),
        );
        total += loss;
        batches += 1;
    }
    if net.is_finite() {
        total / batches.max(1) as f64
    } else {
        f64::NAN
    }
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Optimizer {
    Sgd,
    #[default]
    Adagrad,
    /// Lazy Adam for embedding rows: moments of the rows in a batch only,
    /// with the global step for bias correction.
    Adam,
}

/// Optimizer state of one flat parameter vector (a dense layer, or a whole
/// embedding table updated row by row).
#[derive(Debug, Clone)]
pub struct Moments<T: Real = Trained> {
    m: Vec<T>,
    v: Vec<T>,
}

impl<T: Real> Moments<T> {
    pub fn new(len: usize) -> Self {
        Self {
            m: vec![T::zero(); len],
            v: vec![T::zero(); len],
        }
    }
}

/// One step's constants: kind, learning rate, gradient scale and Adam's
/// bias corrections.
#[derive(Debug, Clone, Copy)]
pub struct Step {
    kind: Optimizer,
    lr: f64,
    /// Factor from the gradients models compute (of the batch's mean loss)
    /// to those the optimizer follows.
    scale: f64,
    c1: f64,
    c2: f64,
}

impl Step {
    /// Step `t` (1-based) of an optimizer.
    pub fn new(kind: Optimizer, lr: f64, t: u64) -> Self {
        let t = t.min(i32::MAX as u64) as i32;
        Self {
            kind,
            lr,
            scale: 1.0,
            c1: 1.0 / (1.0 - 0.9f64.powi(t)),
            c2: 1.0 / (1.0 - 0.999f64.powi(t)),
        }
    }

    /// A step on the batch's summed loss (n × the mean), the convention of
    /// TFRS's Retrieval task and of per-example SGD in the MF literature, so
    /// that learning rates mean what they mean there. Curves still log the
    /// mean. Adam is (up to its ε) indifferent to the scale; SGD and Adagrad
    /// are not.
    pub fn summed_over(self, n: usize) -> Self {
        Self {
            scale: n as f64,
            ..self
        }
    }

    /// Updates `p` (as long as `grad`), whose optimizer state starts at
    /// `offset` in `moments`.
    pub fn apply<T: Real>(&self, p: &mut [T], moments: &mut Moments<T>, offset: usize, grad: &[T]) {
        let range = offset..offset + grad.len();
        let (lr, scale) = (T::of(self.lr), T::of(self.scale));
        // One loop per optimizer, so each is a plain zip that vectorises.
        match self.kind {
            Optimizer::Sgd => {
                let factor = T::of(self.lr * self.scale);
                for (p, &g) in p.iter_mut().zip(grad) {
                    *p -= factor * g;
                }
            }
            Optimizer::Adagrad => {
                // The accumulator starts at 0.1 (Keras' default, as in TFRS):
                // starting at 0 makes every row's first step ±lr in each
                // coordinate whatever the gradient's size.
                let (start, eps) = (T::of(0.1), T::of(1e-10));
                for ((p, &g), v) in p.iter_mut().zip(grad).zip(&mut moments.v[range]) {
                    let g = scale * g;
                    *v += g * g;
                    *p -= lr * g / ((start + *v).sqrt() + eps);
                }
            }
            Optimizer::Adam => {
                let (c1, c2) = (T::of(self.c1), T::of(self.c2));
                let (b1, b2) = (T::of(0.9), T::of(0.999));
                let (a1, a2, eps) = (T::of(0.1), T::of(0.001), T::of(1e-8));
                let (m, v) = (&mut moments.m[range.clone()], &mut moments.v[range]);
                for (((p, &g), m), v) in p.iter_mut().zip(grad).zip(m).zip(v) {
                    let g = scale * g;
                    *m = b1 * *m + a1 * g;
                    *v = b2 * *v + a2 * g * g;
                    *p -= lr * (*m * c1) / ((*v * c2).sqrt() + eps);
                }
            }
        }
    }
}

/// An embedding table: rows of `dim` values, with its optimizer state.
#[derive(Debug, Clone)]
pub struct Table<T: Real = Trained> {
    pub dim: usize,
    pub values: Vec<T>,
    moments: Moments<T>,
}

impl<T: Real> Table<T> {
    /// Rows drawn from N(0, scale²) (in f64, then rounded: both precisions
    /// start from the same draws).
    pub fn normal(rows: usize, dim: usize, scale: f64, rng: &mut Pcg64Mcg) -> Self {
        let normal = Normal::new(0.0, scale).expect("a positive scale");
        let values = (0..rows * dim).map(|_| T::of(normal.sample(rng))).collect();
        Self::from_values(dim, values)
    }

    pub fn from_values(dim: usize, values: Vec<T>) -> Self {
        let len = values.len();
        Self {
            dim,
            values,
            moments: Moments::new(len),
        }
    }

    pub fn rows(&self) -> usize {
        self.values.len() / self.dim.max(1)
    }

    pub fn row(&self, r: u32) -> &[T] {
        &self.values[r as usize * self.dim..(r as usize + 1) * self.dim]
    }

    #[cfg(test)]
    pub fn row_mut(&mut self, r: u32) -> &mut [T] {
        &mut self.values[r as usize * self.dim..(r as usize + 1) * self.dim]
    }

    /// Updates only the rows with a gradient (sparse embedding updates).
    pub fn update(&mut self, grads: &RowGrads<T>, step: &Step) {
        let d = self.dim;
        for (r, g) in grads.iter(d) {
            let offset = r as usize * d;
            step.apply(
                &mut self.values[offset..offset + d],
                &mut self.moments,
                offset,
                g,
            );
        }
    }

    pub fn to_f32(&self) -> Vec<f32> {
        self.values.iter().map(|&x| x.narrow()).collect()
    }

    pub fn is_finite(&self) -> bool {
        self.values.iter().all(|v| v.is_finite())
    }
}

/// Gradients of a batch for the rows it touched, in a flat arena (one slot
/// per row, in first-touch order, so updates run in a fixed order).
#[derive(Debug, Default)]
pub struct RowGrads<T: Real = Trained> {
    slots: HashMap<u32, usize>,
    rows: Vec<u32>,
    values: Vec<T>,
}

impl<T: Real> RowGrads<T> {
    fn slot(&mut self, row: u32, d: usize) -> &mut [T] {
        let next = self.rows.len();
        let s = *self.slots.entry(row).or_insert(next);
        if s == next {
            self.rows.push(row);
            self.values.resize(self.values.len() + d, T::zero());
        }
        &mut self.values[s * d..(s + 1) * d]
    }

    /// Adds `scale·v` to the gradient of `row`.
    pub fn add(&mut self, row: u32, scale: T, v: &[T]) {
        for (a, &b) in self.slot(row, v.len()).iter_mut().zip(v) {
            *a += scale * b;
        }
    }

    #[cfg(test)]
    pub fn get(&self, row: u32, d: usize) -> Option<&[T]> {
        self.slots
            .get(&row)
            .map(|&s| &self.values[s * d..(s + 1) * d])
    }

    pub fn iter(&self, d: usize) -> impl Iterator<Item = (u32, &[T])> {
        self.rows
            .iter()
            .copied()
            .zip(self.values.chunks_exact(d.max(1)))
    }
}

/// A dot product summed strictly left to right (the learned models' losses
/// and gradients); iALS's hot loop uses its own eight-lane sum.
pub fn dot<T: Real>(a: &[T], b: &[T]) -> T {
    a.iter().zip(b).map(|(&x, &y)| x * y).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::NO_FEATURES;
    use rand::SeedableRng;

    /// Pooled negatives come from the user's pool and are never the user's
    /// train positives, even where a pool holds some (the pipeline's never
    /// do); an empty pool falls back to the catalogue sampler.
    #[test]
    fn pooled_negatives_skip_the_users_positives() {
        let train = CsrMatrix::from_pairs(3, 10, &[(0, 1), (0, 2), (1, 5), (2, 0)]);
        let pools = CsrMatrix::from_pairs(3, 10, &[(0, 1), (0, 3), (0, 4), (1, 5), (1, 6)]);
        let counts = train.column_counts();
        let input = FitInput {
            job: None,
            reuse: None,
            train: &train,
            item_popularity: &counts,
            seed: 0,
            monitor: None,
            negatives: Some(&pools),
            features: &NO_FEATURES,
        };
        let examples = Examples::new(&input, &Popularity::None);
        let mut rng = Pcg64Mcg::seed_from_u64(3);
        let mut seen = [[false; 10]; 3];
        for _ in 0..500 {
            for u in 0..3u32 {
                let j = examples.negative(&mut rng, u);
                assert!(!train.contains(u as usize, j), "user {u} got positive {j}");
                seen[u as usize][j as usize] = true;
            }
        }
        let drawn = |u: usize| (0..10).filter(|&j| seen[u][j]).collect::<Vec<_>>();
        assert_eq!(drawn(0), vec![3, 4]);
        assert_eq!(drawn(1), vec![6]);
        assert!(drawn(2).len() > 2, "user 2 has no pool: the catalogue");
    }

    /// A fake model whose validation metric peaks at epoch 3.
    struct Peaked {
        epoch: usize,
    }

    struct Constant(f32);

    impl Scorer for Constant {
        fn score_block(&self, users: &[u32], out: &mut [f32]) {
            out[..users.len()].fill(self.0);
        }
        fn cost(&self) -> super::super::ServingCost {
            Default::default()
        }
    }

    impl Trainable for Peaked {
        fn epoch(&mut self) -> f64 {
            self.epoch += 1;
            1.0 / self.epoch as f64
        }
        fn scorer(&self) -> Box<dyn Scorer> {
            Box::new(Constant(self.epoch as f32))
        }
    }

    fn metric(scorer: &dyn Scorer) -> f64 {
        let mut out = [0.0f32];
        scorer.score_block(&[0], &mut out);
        -(f64::from(out[0]) - 3.0).abs()
    }

    #[test]
    fn early_stopping_keeps_the_best_epoch_and_stops_after_patience() {
        let mut model = Peaked { epoch: 0 };
        let fitted = train(&mut model, "test", 20, 2, Some(&metric)).unwrap();
        let curve = fitted.curve.unwrap();
        assert_eq!(curve.kept_epoch, 3);
        assert!(curve.stopped_early);
        assert_eq!(curve.epochs.len(), 5, "epochs 4 and 5 exhaust patience 2");
        assert_eq!(metric(fitted.scorer.as_ref()), 0.0);
        assert_eq!(curve.epochs[1].loss, 0.5);
        assert!(!curve.still_improving);
    }

    #[test]
    fn a_best_epoch_within_patience_of_the_budget_is_still_improving() {
        // Peaked is best at epoch 3: a budget of 4 with patience 2 ends one
        // epoch after it, before patience runs out.
        let mut model = Peaked { epoch: 0 };
        let curve = train(&mut model, "test", 4, 2, Some(&metric))
            .unwrap()
            .curve
            .unwrap();
        assert_eq!((curve.kept_epoch, curve.stopped_early), (3, false));
        assert!(curve.still_improving);
        // Patience 0 runs every epoch: improving only if the last is the best.
        let mut model = Peaked { epoch: 0 };
        let curve = train(&mut model, "test", 3, 0, Some(&metric))
            .unwrap()
            .curve
            .unwrap();
        assert!(curve.still_improving);
        let mut model = Peaked { epoch: 0 };
        let curve = train(&mut model, "test", 5, 0, Some(&metric))
            .unwrap()
            .curve
            .unwrap();
        assert_eq!(curve.kept_epoch, 3);
        assert!(!curve.still_improving);
    }

    #[test]
    fn without_a_monitor_the_last_epoch_is_kept() {
        let mut model = Peaked { epoch: 0 };
        let fitted = train(&mut model, "test", 6, 2, None).unwrap();
        let curve = fitted.curve.unwrap();
        assert_eq!((curve.kept_epoch, curve.stopped_early), (6, false));
        assert!(!curve.still_improving, "nothing was monitored");
        assert!(curve.epochs.iter().all(|e| e.validation.is_none()));
    }

    #[test]
    fn adam_first_step_moves_each_coordinate_by_the_learning_rate() {
        // With bias correction, Adam's first step is lr·sign(g).
        let mut params = vec![1.0f64, 1.0, 1.0];
        let mut moments = Moments::new(3);
        Step::new(Optimizer::Adam, 0.1, 1).apply(&mut params, &mut moments, 0, &[2.0, -0.5, 0.0]);
        let expected = [0.9, 1.1, 1.0];
        for (p, e) in params.iter().zip(expected) {
            assert!((p - e).abs() < 1e-6, "{params:?}");
        }
        let mut params = vec![1.0f64];
        let mut moments = Moments::new(1);
        let step = Step::new(Optimizer::Adagrad, 0.5, 1);
        step.apply(&mut params, &mut moments, 0, &[4.0]);
        step.apply(&mut params, &mut moments, 0, &[3.0]);
        // Accumulator 0.1 + 16, then + 9: 1 − 0.5·4/√16.1 − 0.5·3/√25.1.
        let expected = 1.0 - 2.0 / 16.1f64.sqrt() - 1.5 / 25.1f64.sqrt();
        assert!((params[0] - expected).abs() < 1e-9, "{params:?}");
        // A summed step is the mean step with n× the gradient.
        let (mut a, mut b) = (vec![1.0f64], vec![1.0f64]);
        Step::new(Optimizer::Sgd, 0.5, 1).summed_over(4).apply(
            &mut a,
            &mut Moments::new(1),
            0,
            &[0.25],
        );
        Step::new(Optimizer::Sgd, 0.5, 1).apply(&mut b, &mut Moments::new(1), 0, &[1.0]);
        assert_eq!(a, b);
    }
}
