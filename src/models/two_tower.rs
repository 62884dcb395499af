//! Two-tower retrieval (docs/spec.md, "two_tower"): a user tower and an item tower, each an
//! id embedding and the side's features ([`Encoder`]) followed by `hidden`
//! dense layers (dropout, linear, ReLU) and a linear output, optionally
//! L2-normalised; an item without train interactions is encoded from its
//! features alone; score = dot product of the two
//! outputs; in-batch sampled softmax with temperature, masked accidental hits,
//! logQ correction and per-example weights. With `hidden: []`,
//! `normalize: false` and τ = 1 it is TensorFlow Recommenders' basic
//! retrieval model. Serving precomputes every item output, so scoring a user
//! costs one user-tower pass plus |I|·dim multiply-adds.

use faer::Mat;
use rand::SeedableRng;
use rand_pcg::Pcg64Mcg;

use super::features::{encoder, Encoder, EncoderGrads, FeatureSet, Ids, Inputs};
use super::nn::{
    in_batch_softmax, normalize, normalize_backward, DenseGrad, InBatch, Stack, StackCache,
};
use super::real::{Real, Trained};
use super::train::{self, Examples, Fitted, Optimizer, Step, Trainable};
use super::{
    shared, DotProduct, FitInput, Inert, ModelConfig, ModelError, ModelKind, ParamDoc, Params,
    Popularity, Rule, Scorer, ServingCost, MAX_WIDTH,
};
use crate::data::{FeatureNames, Side};

param_table! {
    pub struct TwoTowerParams {
        dim: usize = 64 => ParamDoc::new(
            Rule::Count(1, MAX_WIDTH),
            "id embedding and output width of each tower",
        ),
        hidden: Vec<usize> = vec![128] => ParamDoc::new(
            Rule::Widths,
            "dense ReLU layers per tower, then a linear output to dim; [] = embeddings only",
        ),
        epochs: usize = 20 => shared::EPOCHS,
        batch_size: usize = 256 => shared::SOFTMAX_BATCH_SIZE,
        learning_rate: f64 = 0.001 => shared::LEARNING_RATE,
        optimizer: Optimizer = Optimizer::Adam => shared::OPTIMIZER,
        normalize: bool = true => ParamDoc::new(
            Rule::Text("true, false"),
            "L2-normalise both outputs, so scores are cosines and τ sets the logit scale",
        ),
        dropout: f64 = 0.0 => shared::DROPOUT,
        l2: f64 = 0.0 => shared::DENSE_L2,
        temperature: f64 = 0.1 => ParamDoc::new(
            Rule::POSITIVE,
            "in-batch softmax logits / τ, accidental hits masked",
        ),
        patience: usize = 0 => shared::PATIENCE,
        popularity: Popularity = Popularity::None => shared::POPULARITY,
        ids: Ids = Ids::Both => shared::IDS,
        features: FeatureSet = FeatureSet::All => shared::FEATURES,
    }
}

impl Params for TwoTowerParams {
    const KIND: ModelKind = ModelKind::TwoTower;
}

impl ModelConfig for TwoTowerParams {
    config_basics!(stochastic: true);

    fn scores_by_dot_product(&self) -> bool {
        !matches!(self.popularity, Popularity::Penalty { .. })
    }

    fn inputs(&self) -> Option<Inputs<'_>> {
        Some(Inputs::new(self.ids, &self.features))
    }

    /// With `hidden: []` and id embeddings alone a tower has no layer (see
    /// [`TwoTowerParams::model`]), so nothing drops out. With features the
    /// input may be projected to `dim`, which depends on the columns' types.
    fn inert(&self, names: &FeatureNames) -> Vec<Inert> {
        let inputs = Inputs::new(self.ids, &self.features);
        let ids_only = [Side::Users, Side::Items]
            .into_iter()
            .all(|side| !inputs.reads(names.side(side)));
        if self.hidden.is_empty() && ids_only {
            vec![Inert::new(
                "dropout",
                "dropout acts on dense layers' inputs, and with `hidden: []` and id embeddings alone the towers have none",
            )]
        } else {
            Vec::new()
        }
    }

    fn fit(&self, input: &FitInput) -> Result<Fitted, ModelError> {
        let mut model = self.model::<Trained>(input)?;
        train::train(
            &mut model,
            "two_tower",
            self.epochs,
            self.patience,
            input.monitor,
        )
    }
}

impl TwoTowerParams {
    /// The untrained model: encoders, then towers, drawn from the seed.
    fn model<'a, T: Real>(&'a self, input: &'a FitInput) -> Result<TwoTower<'a, T>, ModelError> {
        let mut rng = Pcg64Mcg::seed_from_u64(input.seed);
        let d = self.dim;
        let scale = 0.1 / (d as f64).sqrt();
        let inputs = self.inputs().expect("two_tower reads features");
        let users = encoder(input, inputs, Side::Users, d, scale, &mut rng)?;
        let items = encoder(input, inputs, Side::Items, d, scale, &mut rng)?;
        // An id embedding alone enters the tower as is (TFRS's basic model
        // with `hidden: []`); wider inputs are projected to `dim`.
        let widths = |inputs: usize| {
            let mut w = self.hidden.clone();
            if !w.is_empty() || inputs != d {
                w.push(d);
            }
            w
        };
        let user_tower = Stack::new(users.width(), &widths(users.width()), true, &mut rng);
        let item_tower = Stack::new(items.width(), &widths(items.width()), true, &mut rng);
        Ok(TwoTower {
            params: self,
            users,
            items,
            user_tower,
            item_tower,
            examples: Examples::new(input, &self.popularity),
            rng,
            step: 0,
            scratch: Mat::new(),
        })
    }
}

#[derive(Clone)]
struct TwoTower<'a, T: Real = Trained> {
    params: &'a TwoTowerParams,
    users: Encoder<T>,
    items: Encoder<T>,
    user_tower: Stack<T>,
    item_tower: Stack<T>,
    examples: Examples<'a>,
    rng: Pcg64Mcg,
    step: u64,
    /// The in-batch softmax's logits, reused across batches.
    scratch: Mat<T>,
}

/// Gradients of one side: its encoder's rows and its tower's layers.
struct SideGrads<T: Real> {
    rows: EncoderGrads<T>,
    layers: Vec<DenseGrad<T>>,
}

/// A tower's training forward pass, kept for its backward pass.
struct Pass<T: Real> {
    output: Mat<T>,
    cache: StackCache<T>,
    norms: Option<Vec<T>>,
}

impl<T: Real> TwoTower<'_, T> {
    fn forward(&mut self, user_side: bool, ids: &[u32]) -> Pass<T> {
        let (table, tower) = if user_side {
            (&self.users, &self.user_tower)
        } else {
            (&self.items, &self.item_tower)
        };
        let (mut output, cache) =
            tower.forward_train(table.encode(ids), self.params.dropout, &mut self.rng);
        let norms = self.params.normalize.then(|| normalize(&mut output));
        Pass {
            output,
            cache,
            norms,
        }
    }

    /// One batch's mean loss (l2 terms included) and gradients: forward
    /// both towers, softmax, backward.
    fn gradients(&mut self, batch: &[(u32, u32)]) -> (f64, [SideGrads<T>; 2]) {
        let p = self.params;
        let user_ids: Vec<u32> = batch.iter().map(|&(u, _)| u).collect();
        let item_ids: Vec<u32> = batch.iter().map(|&(_, i)| i).collect();
        let weights: Vec<T> = item_ids
            .iter()
            .map(|&i| T::of(self.examples.weight[i as usize]))
            .collect();
        let corrections: Vec<T> = item_ids
            .iter()
            .map(|&i| T::of(self.examples.correction[i as usize]))
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
            let (l2_term, rows) = table.backward(ids, dx.as_ref(), 0, p.l2, n);
            penalty += l2_term;
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
        let ids: Vec<u32> = (0..table.len() as u32).collect();
        let mut out = Vec::with_capacity(ids.len() * d);
        for chunk in ids.chunks(4096) {
            let mut y = tower.forward(table.encode(chunk));
            if self.params.normalize {
                normalize(&mut y);
            }
            for a in 0..chunk.len() {
                out.extend((0..d).map(|k| y[(a, k)].narrow()));
            }
        }
        out
    }
}

impl<T: Real> Trainable for TwoTower<'_, T> {
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
            parameters: self.users.parameters() + self.items.parameters() + tower,
            madds_per_user: base.madds_per_user + self.user_tower.madds(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::CsrMatrix;
    use crate::models::features::tests::{check_encoder, columns as feature_columns};
    use crate::models::gradient_check::check_matrix;

    // The tests run in f64: central differences need its precision.
    type Encoder = super::Encoder<f64>;
    type Stack = super::Stack<f64>;
    type TwoTower<'a> = super::TwoTower<'a, f64>;

    /// The whole model's loss as a function of the user embeddings, the item
    /// id and feature embeddings and the first user-tower layer, checked by
    /// finite differences through dropout (fixed by the seed), pooling, the
    /// towers, normalisation, logQ, masking and the l2 terms.
    #[test]
    fn end_to_end_gradients_match_finite_differences() {
        let train = CsrMatrix::from_pairs(
            4,
            5,
            &[(0, 0), (0, 1), (1, 1), (1, 2), (2, 3), (3, 4), (3, 0)],
        );
        let counts = train.column_counts();
        let input = FitInput::interactions(&train, &counts, 3);
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
        // Items read every kind of feature; item 4 is cold (no id row).
        let columns = feature_columns();
        let refs: Vec<_> = columns.iter().collect();
        let items = Encoder::new(
            vec![true, true, true, true, false],
            true,
            &refs,
            3,
            0.5,
            &mut rng,
        );
        let model = TwoTower {
            params: &params,
            users: Encoder::new(vec![true; 4], true, &[], 3, 0.5, &mut rng),
            user_tower: Stack::new(3, &[4, 3], true, &mut rng),
            item_tower: Stack::new(items.width(), &[4, 3], true, &mut rng),
            items,
            examples: Examples::new(&input, &params.popularity),
            rng: Pcg64Mcg::seed_from_u64(9),
            step: 0,
            scratch: Mat::new(),
        };
        // Item 1 twice: an accidental hit; item 4 as a cold in-batch item.
        let batch = [(0, 1), (1, 2), (3, 1), (2, 3), (3, 4)];
        let (_, [users, items]) = model.clone().gradients(&batch);
        let loss = |m: &TwoTower| m.clone().gradients(&batch).0;
        check_encoder(&model, |m| &mut m.users, &users.rows, &loss);
        check_encoder(&model, |m| &mut m.items, &items.rows, &loss);
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

    /// A features-only tower scores an item that has no train interaction
    /// exactly as a tower trained on a log where the item does not exist
    /// at all scores it from its feature row: nothing of the cold item
    /// (no id row, no example) enters training.
    #[test]
    fn a_cold_item_is_scored_from_its_features_alone() {
        use crate::data::{Features, SideFeatures, TableStats};
        let pairs = [(0, 0), (0, 1), (1, 1), (1, 2), (2, 3), (3, 0), (3, 2)];
        let with_cold = CsrMatrix::from_pairs(4, 5, &pairs); // item 4: no interaction
        let without = CsrMatrix::from_pairs(4, 4, &pairs); // item 4: not in the log
        let features = Features {
            users: None,
            items: Some(SideFeatures {
                columns: feature_columns(),
                stats: TableStats {
                    path: String::new(),
                    rows: 5,
                    rows_not_in_log: 0,
                    ids_without_row: 0,
                },
            }),
        };
        let params = TwoTowerParams {
            dim: 3,
            hidden: vec![4],
            ids: Ids::Users,
            batch_size: 3,
            learning_rate: 0.05,
            temperature: 0.5,
            ..TwoTowerParams::default()
        };
        let fit = |train: &CsrMatrix| {
            let counts = train.column_counts();
            let input = FitInput {
                job: None,
                reuse: None,
                train,
                item_popularity: &counts,
                seed: 4,
                negatives: None,
                monitor: None,
                features: &features,
            };
            let mut model = params.model::<Trained>(&input).unwrap();
            for _ in 0..5 {
                model.epoch();
            }
            let mut cold = model.item_tower.forward(model.items.encode(&[4]));
            normalize(&mut cold);
            let cold: Vec<f32> = (0..3).map(|k| cold[(0, k)] as f32).collect();
            (model.outputs(true), model.outputs(false), cold)
        };
        let (users_a, items_a, cold_a) = fit(&with_cold);
        let (users_b, items_b, cold_b) = fit(&without);
        assert_eq!(users_a, users_b, "training saw the cold item");
        assert_eq!(&items_a[..12], &items_b[..]);
        assert_eq!(&items_a[12..], &cold_b[..]);
        assert_eq!(cold_a, cold_b);
    }
}
