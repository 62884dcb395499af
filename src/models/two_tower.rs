//! Two-tower retrieval (docs/spec.md, "two_tower"): a user tower and an item tower, each an
//! id embedding followed by `hidden` dense layers (dropout, linear, ReLU) and
//! a linear output, optionally L2-normalised; score = dot product of the two
//! outputs; in-batch sampled softmax with temperature, masked accidental hits,
//! logQ correction and per-example weights. With `hidden: []`,
//! `normalize: false` and τ = 1 it is TensorFlow Recommenders' basic
//! retrieval model. Serving precomputes every item output, so scoring a user
//! costs one user-tower pass plus |I|·dim multiply-adds.

use faer::Mat;
use rand::SeedableRng;
use rand_pcg::Pcg64Mcg;
use serde::{Deserialize, Serialize};

use super::nn::{
    column, in_batch_softmax, normalize, normalize_backward, DenseGrad, InBatch, Stack, StackCache,
};
use super::train::{self, Examples, Fitted, Optimizer, RowGrads, Step, Table, Trainable};
use super::{
    DotProduct, FitInput, ModelConfig, ModelError, ModelKind, ParamIssue, Params, Popularity,
    Scorer, ServingCost,
};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TwoTowerParams {
    /// Embedding and output width.
    #[serde(default = "TwoTowerParams::default_dim")]
    pub dim: usize,
    /// Widths of the hidden layers of each tower.
    #[serde(default = "TwoTowerParams::default_hidden")]
    pub hidden: Vec<usize>,
    #[serde(default = "TwoTowerParams::default_epochs")]
    pub epochs: usize,
    #[serde(default = "TwoTowerParams::default_batch_size")]
    pub batch_size: usize,
    #[serde(default = "TwoTowerParams::default_learning_rate")]
    pub learning_rate: f64,
    #[serde(default = "TwoTowerParams::default_optimizer")]
    pub optimizer: Optimizer,
    /// L2-normalise both towers' outputs (scores become cosines).
    #[serde(default = "TwoTowerParams::default_normalize")]
    pub normalize: bool,
    /// Dropout rate on the input of every dense layer of both towers.
    #[serde(default)]
    pub dropout: f64,
    /// λ·‖W‖² on dense weights per batch, λ·‖row‖² on embedding rows per use.
    #[serde(default)]
    pub l2: f64,
    #[serde(default = "TwoTowerParams::default_temperature")]
    pub temperature: f64,
    /// Early stopping: epochs without a better validation metric before
    /// training stops (0: run every epoch). Needs `split.validation: true`.
    #[serde(default)]
    pub patience: usize,
    #[serde(default)]
    pub popularity: Popularity,
}

impl TwoTowerParams {
    fn default_dim() -> usize {
        64
    }
    fn default_hidden() -> Vec<usize> {
        vec![128]
    }
    fn default_epochs() -> usize {
        20
    }
    fn default_batch_size() -> usize {
        256
    }
    fn default_learning_rate() -> f64 {
        0.001
    }
    fn default_optimizer() -> Optimizer {
        Optimizer::Adam
    }
    fn default_normalize() -> bool {
        true
    }
    fn default_temperature() -> f64 {
        0.1
    }
}

impl Default for TwoTowerParams {
    fn default() -> Self {
        Self {
            dim: Self::default_dim(),
            hidden: Self::default_hidden(),
            epochs: Self::default_epochs(),
            batch_size: Self::default_batch_size(),
            learning_rate: Self::default_learning_rate(),
            optimizer: Self::default_optimizer(),
            normalize: Self::default_normalize(),
            dropout: 0.0,
            l2: 0.0,
            temperature: Self::default_temperature(),
            patience: 0,
            popularity: Popularity::None,
        }
    }
}

impl Params for TwoTowerParams {
    const KIND: ModelKind = ModelKind::TwoTower;

    fn check(&self) -> Vec<ParamIssue> {
        let mut issues = super::check_sizes(&[
            ("dim", self.dim, 1),
            ("epochs", self.epochs, 1),
            ("batch_size", self.batch_size, 2),
        ]);
        issues.extend(super::check_widths(&self.hidden));
        issues.extend(super::check_training(
            self.learning_rate,
            self.l2,
            self.dropout,
        ));
        issues.extend(super::require(
            "temperature",
            self.temperature,
            self.temperature > 0.0,
            "must be > 0",
        ));
        issues
    }
}

impl ModelConfig for TwoTowerParams {
    config_basics!(stochastic: true);

    fn scores_by_dot_product(&self) -> bool {
        !matches!(self.popularity, Popularity::Penalty { .. })
    }

    fn fit(&self, input: &FitInput) -> Result<Fitted, ModelError> {
        let mut rng = Pcg64Mcg::seed_from_u64(input.seed);
        let d = self.dim;
        let scale = 0.1 / (d as f64).sqrt();
        let mut widths = self.hidden.clone();
        if !widths.is_empty() {
            widths.push(d);
        }
        let mut model = TwoTower {
            params: self,
            users: Table::normal(input.train.n_rows(), d, scale, &mut rng),
            items: Table::normal(input.train.n_cols(), d, scale, &mut rng),
            user_tower: Stack::new(d, &widths, true, &mut rng),
            item_tower: Stack::new(d, &widths, true, &mut rng),
            examples: Examples::new(input, &self.popularity),
            rng,
            step: 0,
            scratch: Mat::new(),
        };
        train::train(
            &mut model,
            "two_tower",
            self.epochs,
            self.patience,
            input.monitor,
        )
    }
}

#[derive(Clone)]
struct TwoTower<'a> {
    params: &'a TwoTowerParams,
    users: Table,
    items: Table,
    user_tower: Stack,
    item_tower: Stack,
    examples: Examples<'a>,
    rng: Pcg64Mcg,
    step: u64,
    /// The in-batch softmax's logits, reused across batches.
    scratch: Mat<f64>,
}

/// Gradients of one side: embedding rows and tower layers.
struct SideGrads {
    rows: RowGrads,
    layers: Vec<DenseGrad>,
}

/// A tower's training forward pass, kept for its backward pass.
struct Pass {
    output: Mat<f64>,
    cache: StackCache,
    norms: Option<Vec<f64>>,
}

fn gather(table: &Table, ids: &[u32]) -> Mat<f64> {
    Mat::from_fn(ids.len(), table.dim, |a, k| table.row(ids[a])[k])
}

impl TwoTower<'_> {
    fn forward(&mut self, user_side: bool, ids: &[u32]) -> Pass {
        let (table, tower) = if user_side {
            (&self.users, &self.user_tower)
        } else {
            (&self.items, &self.item_tower)
        };
        let (mut output, cache) =
            tower.forward_train(gather(table, ids), self.params.dropout, &mut self.rng);
        let norms = self.params.normalize.then(|| normalize(&mut output));
        Pass {
            output,
            cache,
            norms,
        }
    }

    /// One batch's mean loss (l2 terms included) and gradients: forward
    /// both towers, softmax, backward.
    fn gradients(&mut self, batch: &[(u32, u32)]) -> (f64, [SideGrads; 2]) {
        let p = self.params;
        let user_ids: Vec<u32> = batch.iter().map(|&(u, _)| u).collect();
        let item_ids: Vec<u32> = batch.iter().map(|&(_, i)| i).collect();
        let weights: Vec<f64> = item_ids
            .iter()
            .map(|&i| self.examples.weight[i as usize])
            .collect();
        let corrections: Vec<f64> = item_ids
            .iter()
            .map(|&i| self.examples.correction[i as usize])
            .collect();
        let user_pass = self.forward(true, &user_ids);
        let item_pass = self.forward(false, &item_ids);
        let (loss, du, dv) = in_batch_softmax(
            user_pass.output.as_ref(),
            item_pass.output.as_ref(),
            &InBatch {
                items: &item_ids,
                weights: &weights,
                corrections: &corrections,
                temperature: p.temperature,
            },
            &mut self.scratch,
        );
        let n = batch.len() as f64;
        let mut penalty = self.user_tower.penalty(p.l2) + self.item_tower.penalty(p.l2);
        let sides = [
            (true, &user_ids, user_pass, du),
            (false, &item_ids, item_pass, dv),
        ]
        .map(|(user_side, ids, pass, grad)| {
            let mut grad = grad;
            if let Some(norms) = &pass.norms {
                normalize_backward(pass.output.as_ref(), norms, &mut grad);
            }
            let (table, tower) = if user_side {
                (&self.users, &self.user_tower)
            } else {
                (&self.items, &self.item_tower)
            };
            let (layers, dx) = tower.backward(&pass.cache, grad, p.l2);
            // dx row by row, so each embedding row's gradient is contiguous.
            let d = table.dim;
            let mut flat = vec![0.0; ids.len() * d];
            for k in 0..d {
                for (a, v) in column(dx.as_ref(), k).iter().enumerate() {
                    flat[a * d + k] = *v;
                }
            }
            let mut rows = RowGrads::default();
            for (&id, row) in ids.iter().zip(flat.chunks_exact_mut(d)) {
                let e = table.row(id);
                penalty += p.l2 * train::dot(e, e) / n;
                for (r, e) in row.iter_mut().zip(e) {
                    *r += 2.0 * p.l2 / n * e;
                }
                rows.add(id, 1.0, row);
            }
            SideGrads { rows, layers }
        });
        (loss + penalty, sides)
    }

    /// One optimizer step on a batch; returns its loss.
    fn batch(&mut self, batch: &[(u32, u32)]) -> f64 {
        let (loss, [users, items]) = self.gradients(batch);
        self.step += 1;
        let step = Step::new(self.params.optimizer, self.params.learning_rate, self.step)
            .summed_over(batch.len());
        self.user_tower.update(&users.layers, &step);
        self.users.update(&users.rows, &step);
        self.item_tower.update(&items.layers, &step);
        self.items.update(&items.rows, &step);
        loss
    }

    /// Evaluation-mode outputs of every row of one side, in f32.
    fn outputs(&self, user_side: bool) -> Vec<f32> {
        let (table, tower) = if user_side {
            (&self.users, &self.user_tower)
        } else {
            (&self.items, &self.item_tower)
        };
        let d = self.params.dim;
        let mut out = Vec::with_capacity(table.values.len());
        let ids: Vec<u32> = (0..table.rows() as u32).collect();
        for chunk in ids.chunks(4096) {
            let mut y = tower.forward(gather(table, chunk));
            if self.params.normalize {
                normalize(&mut y);
            }
            for a in 0..chunk.len() {
                out.extend((0..d).map(|k| y[(a, k)] as f32));
            }
        }
        out
    }
}

impl Trainable for TwoTower<'_> {
    fn epoch(&mut self) -> f64 {
        let order = self.examples.epoch(&mut self.rng);
        let mut total = 0.0;
        let mut batches = 0;
        for batch in order.chunks(self.params.batch_size) {
            total += self.batch(batch);
            batches += 1;
        }
        let finite = self.users.is_finite()
            && self.items.is_finite()
            && self.user_tower.is_finite()
            && self.item_tower.is_finite();
        if finite {
            total / batches.max(1) as f64
        } else {
            f64::NAN
        }
    }

    fn scorer(&self) -> Box<dyn Scorer> {
        let d = self.params.dim;
        let dot = DotProduct::new(d, self.outputs(true), &self.outputs(false));
        let base = dot.cost();
        // Item outputs are an index built offline; a request runs the user
        // tower once and takes |I|·d dot products.
        let tower = self.user_tower.parameters() + self.item_tower.parameters();
        Box::new(dot.with_cost(ServingCost {
            parameters: (self.users.values.len() + self.items.values.len()) as u64 + tower,
            madds_per_user: base.madds_per_user + self.user_tower.madds(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::CsrMatrix;
    use crate::models::nn::tests::check_matrix;

    /// The whole model's loss as a function of the user embeddings, the item
    /// embeddings and the first user-tower layer, checked by finite
    /// differences through dropout (fixed by the seed), the towers,
    /// normalisation, logQ, masking and the l2 terms.
    #[test]
    fn end_to_end_gradients_match_finite_differences() {
        let train = CsrMatrix::from_pairs(
            4,
            5,
            &[(0, 0), (0, 1), (1, 1), (1, 2), (2, 3), (3, 4), (3, 0)],
        );
        let counts = train.column_counts();
        let input = FitInput {
            train: &train,
            item_popularity: &counts,
            seed: 3,
            negatives: None,
            monitor: None,
        };
        let params = TwoTowerParams {
            dim: 3,
            hidden: vec![4],
            dropout: 0.2,
            l2: 0.01,
            temperature: 0.5,
            popularity: Popularity::Logq { alpha: 0.5 },
            ..TwoTowerParams::default()
        };
        let mut rng = Pcg64Mcg::seed_from_u64(1);
        let model = TwoTower {
            params: &params,
            users: Table::normal(4, 3, 0.5, &mut rng),
            items: Table::normal(5, 3, 0.5, &mut rng),
            user_tower: Stack::new(3, &[4, 3], true, &mut rng),
            item_tower: Stack::new(3, &[4, 3], true, &mut rng),
            examples: Examples::new(&input, &params.popularity),
            rng: Pcg64Mcg::seed_from_u64(9),
            step: 0,
            scratch: Mat::new(),
        };
        // Item 1 twice: an accidental hit.
        let batch = [(0, 1), (1, 2), (3, 1), (2, 3)];
        let (_, [users, items]) = model.clone().gradients(&batch);
        let table_matrix = |t: &Table| Mat::from_fn(t.rows(), t.dim, |r, k| t.row(r as u32)[k]);
        let grad_matrix = |g: &RowGrads, rows: usize| {
            Mat::from_fn(rows, 3, |r, k| g.get(r as u32, 3).map_or(0.0, |g| g[k]))
        };
        let from_matrix = |m: &Mat<f64>| {
            Table::from_values(3, (0..m.nrows() * 3).map(|x| m[(x / 3, x % 3)]).collect())
        };
        check_matrix(
            &table_matrix(&model.users),
            &|m| {
                let mut c = model.clone();
                c.users = from_matrix(m);
                c.gradients(&batch).0
            },
            &grad_matrix(&users.rows, 4),
        );
        check_matrix(
            &table_matrix(&model.items),
            &|m| {
                let mut c = model.clone();
                c.items = from_matrix(m);
                c.gradients(&batch).0
            },
            &grad_matrix(&items.rows, 5),
        );
        check_matrix(
            &model.user_tower.layers[0].w,
            &|w| {
                let mut c = model.clone();
                c.user_tower.layers[0].w = w.clone();
                c.gradients(&batch).0
            },
            &users.layers[0].w,
        );
    }
}
