//! Deep & cross network, DCN-v2 (Wang et al. 2021): the user and item
//! inputs (id embedding and features, [`Encoder`]), concatenated as x_0, pass through cross layers
//! x_{l+1} = x_0 ⊙ (x_l·W + b) + x_l that build explicit feature crosses of
//! rising degree, and a ReLU MLP, either stacked after the crosses or in
//! parallel with them, into one logit; binary cross-entropy against sampled
//! negatives, like ncf. A ranker: like NCF, it scores one forward pass per
//! (user, item), which the serving cost reports.

use faer::Mat;
use rand::SeedableRng;
use rand_pcg::Pcg64Mcg;
use serde::{Deserialize, Serialize};

use super::features::{encoder, Encoder, EncoderGrads, FeatureSet, Ids, Inputs};
use super::nn::{
    cross_backward, cross_forward, dense_f32, examples_loss, layer_f32, Cross, Dense, DenseGrad,
    PairScorer, PerPair, Stack,
};
use super::real::{Real, Trained};
use super::train::{
    self, Example, Examples, Fitted, Optimizer, Pointwise, PointwiseSettings, Step, Trainable,
};
use super::{
    shared, FitInput, Inert, ModelConfig, ModelError, ModelKind, ParamDoc, ParamIssue, Params,
    Popularity, Rule, Scorer, ServingCost, MAX_CROSS_LAYERS, MAX_WIDTH,
};
use crate::data::{FeatureNames, Side};

/// How the cross layers and the MLP are combined.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Structure {
    /// x_0 → cross layers → MLP → logit.
    #[default]
    Stacked,
    /// [cross layers(x_0), MLP(x_0)] → logit.
    Parallel,
}

param_table! {
    pub struct DcnParams {
        dim: usize = 16 => ParamDoc::new(
            Rule::Count(1, MAX_WIDTH),
            "embedding width per side; x_0 = [user input ; item input], 2·dim wide with ids alone",
        ),
        cross_layers: usize = 2 => ParamDoc::new(
            Rule::Count(1, MAX_CROSS_LAYERS),
            "cross layers x_{l+1} = x_0 ⊙ (x_l·W + b) + x_l",
        ),
        low_rank: usize = 0 => ParamDoc::new(
            Rule::Text("0 ≤ low_rank < 2·dim"),
            "r of W = V·Uᵀ in every cross layer; 0 = full rank",
        ),
        structure: Structure = Structure::Stacked => ParamDoc::new(
            Rule::Text("stacked, parallel"),
            "MLP after the cross layers, or beside them (both outputs concatenated)",
        ),
        hidden: Vec<usize> = vec![64, 32] => ParamDoc::new(
            Rule::Widths,
            "MLP layer widths; [] = cross layers alone",
        ),
        negatives: usize = 4 => shared::NEGATIVES,
        epochs: usize = 20 => shared::EPOCHS,
        batch_size: usize = 256 => shared::BATCH_SIZE,
        learning_rate: f64 = 0.001 => shared::LEARNING_RATE,
        optimizer: Optimizer = Optimizer::Adam => shared::OPTIMIZER,
        dropout: f64 = 0.0 => shared::DROPOUT,
        l2: f64 = 0.0 => shared::DENSE_L2,
        patience: usize = 0 => shared::PATIENCE,
        popularity: Popularity = Popularity::None => shared::POPULARITY,
        ids: Ids = Ids::Both => shared::IDS,
        features: FeatureSet = FeatureSet::All => shared::FEATURES,
    }
}

impl Params for DcnParams {
    const KIND: ModelKind = ModelKind::Dcn;

    fn check(&self) -> Vec<ParamIssue> {
        let mut issues = Vec::new();
        if self.low_rank >= 2 * self.dim {
            issues.push(ParamIssue::new(
                "low_rank",
                format!(
                    "{} is out of range; low_rank must be < 2·dim = {} (0 for full rank)",
                    self.low_rank,
                    2 * self.dim
                ),
            ));
        }
        issues
    }
}

impl ModelConfig for DcnParams {
    config_basics!(stochastic: true);

    fn samples_negatives(&self) -> bool {
        true
    }

    fn inputs(&self) -> Option<Inputs<'_>> {
        Some(Inputs::new(self.ids, &self.features))
    }

    /// Dropout acts on the MLP's layer inputs, not on the cross layers.
    fn inert(&self, _: &FeatureNames) -> Vec<Inert> {
        if self.hidden.is_empty() {
            vec![Inert::new(
                "dropout",
                "dropout acts on the MLP's layers (not the crosses), and `hidden: []` leaves it none",
            )]
        } else {
            Vec::new()
        }
    }

    fn fit(&self, input: &FitInput) -> Result<Fitted, ModelError> {
        let mut rng = Pcg64Mcg::seed_from_u64(input.seed);
        let (d, inputs) = (self.dim, self.inputs().expect("dcn reads features"));
        let users = encoder(input, inputs, Side::Users, d, 0.01, &mut rng)?;
        let items = encoder(input, inputs, Side::Items, d, 0.01, &mut rng)?;
        let width = users.width() + items.width();
        let cross = (0..self.cross_layers)
            .map(|_| Cross::new(width, self.low_rank, &mut rng))
            .collect();
        let mlp = Stack::new(width, &self.hidden, false, &mut rng);
        let features = match self.structure {
            Structure::Stacked => mlp.width(width),
            Structure::Parallel => width + mlp.width(width),
        };
        let head = Dense::new(features, 1, &mut rng);
        let mut model = Dcn {
            settings: PointwiseSettings {
                negatives: self.negatives,
                batch_size: self.batch_size,
                dropout: self.dropout,
                l2: self.l2,
                optimizer: self.optimizer,
                learning_rate: self.learning_rate,
            },
            net: Net {
                structure: self.structure,
                users,
                items,
                cross,
                mlp,
                head,
            },
            examples: Examples::new(input, &self.popularity),
            rng,
            step: 0,
        };
        train::train(&mut model, "dcn", self.epochs, self.patience, input.monitor)
    }
}

/// The network's weights.
#[derive(Clone)]
struct Net<T: Real = Trained> {
    structure: Structure,
    users: Encoder<T>,
    items: Encoder<T>,
    cross: Vec<Cross<T>>,
    mlp: Stack<T>,
    head: Dense<T>,
}

struct NetGrads<T: Real> {
    users: EncoderGrads<T>,
    items: EncoderGrads<T>,
    cross: Vec<Vec<DenseGrad<T>>>,
    mlp: Vec<DenseGrad<T>>,
    head: DenseGrad<T>,
}

impl<T: Real> Net<T> {
    fn width(&self) -> usize {
        self.users.width() + self.items.width()
    }
}

impl<T: Real> Pointwise for Net<T> {
    type Grads = NetGrads<T>;

    fn gradients(
        &self,
        batch: &[Example],
        p: f64,
        l2: f64,
        rng: &mut Pcg64Mcg,
    ) -> (f64, NetGrads<T>) {
        let (n, width) = (batch.len(), self.width());
        let users: Vec<u32> = batch.iter().map(|e| e.user).collect();
        let items: Vec<u32> = batch.iter().map(|e| e.item).collect();
        let (xu, xi) = (self.users.encode(&users), self.items.encode(&items));
        let wu = xu.ncols();
        let x0 = Mat::from_fn(
            n,
            width,
            |a, k| {
                if k < wu {
                    xu[(a, k)]
                } else {
                    xi[(a, k - wu)]
                }
            },
        );
        let (crossed, cross_cache) = cross_forward(&self.cross, &x0);
        let mlp_input = match self.structure {
            Structure::Stacked => crossed.clone(),
            Structure::Parallel => x0.clone(),
        };
        let (h, mlp_cache) = self.mlp.forward_train(mlp_input, p, rng);
        let features = match self.structure {
            Structure::Stacked => h,
            Structure::Parallel => Mat::from_fn(n, width + h.ncols(), |a, k| {
                if k < width {
                    crossed[(a, k)]
                } else {
                    h[(a, k - width)]
                }
            }),
        };
        let logits = self.head.forward(features.as_ref());
        let (mut loss, dz) = examples_loss(logits.as_ref(), batch);
        let (head, df) = self.head.backward(features.as_ref(), dz.as_ref(), l2);
        loss += self.head.penalty(l2)
            + self.mlp.penalty(l2)
            + self.cross.iter().map(|c| c.penalty(l2)).sum::<f64>();
        let (mlp, dx0) = match self.structure {
            Structure::Stacked => {
                let (mlp, dcrossed) = self.mlp.backward(&mlp_cache, df, l2);
                let (cross, dx0) = cross_backward(&self.cross, &x0, &cross_cache, dcrossed, l2);
                ((mlp, cross), dx0)
            }
            Structure::Parallel => {
                let dcrossed = Mat::from_fn(n, width, |a, k| df[(a, k)]);
                let dh = Mat::from_fn(n, df.ncols() - width, |a, k| df[(a, width + k)]);
                let (mlp, dx_mlp) = self.mlp.backward(&mlp_cache, dh, l2);
                let (cross, mut dx0) = cross_backward(&self.cross, &x0, &cross_cache, dcrossed, l2);
                for k in 0..width {
                    for a in 0..n {
                        dx0[(a, k)] += dx_mlp[(a, k)];
                    }
                }
                ((mlp, cross), dx0)
            }
        };
        let (mlp, cross) = mlp;
        let (lu, users) = self.users.backward(&users, dx0.as_ref(), 0, l2, n as f64);
        let (li, items) = self.items.backward(&items, dx0.as_ref(), wu, l2, n as f64);
        let grads = NetGrads {
            users,
            items,
            cross,
            mlp,
            head,
        };
        (loss + lu + li, grads)
    }

    fn update(&mut self, grads: &NetGrads<T>, step: &Step) {
        self.users.update(&grads.users, step);
        self.items.update(&grads.items, step);
        for (layer, g) in self.cross.iter_mut().zip(&grads.cross) {
            layer.update(g, step);
        }
        self.mlp.update(&grads.mlp, step);
        self.head.update(&grads.head, step);
    }

    fn is_finite(&self) -> bool {
        self.users.is_finite()
            && self.items.is_finite()
            && self.cross.iter().all(|c| c.is_finite())
            && self.mlp.is_finite()
            && self.head.is_finite()
    }
}

struct Dcn<'a> {
    settings: PointwiseSettings,
    net: Net,
    examples: Examples<'a>,
    rng: Pcg64Mcg,
    step: u64,
}

impl Trainable for Dcn<'_> {
    fn epoch(&mut self) -> f64 {
        train::pointwise_epoch(
            &mut self.net,
            &self.settings,
            &self.examples,
            &mut self.rng,
            &mut self.step,
        )
    }

    fn scorer(&self) -> Box<dyn Scorer> {
        Box::new(PerPair(DcnScorer::new(&self.net)))
    }
}

/// Evaluation-mode DCN in f32: one forward pass per (user, item).
struct DcnScorer {
    structure: Structure,
    /// Each user's and item's part of x_0 (its encoder's output).
    users: Mat<f32>,
    items: Mat<f32>,
    /// Each cross layer's projections (W: in × out, b).
    cross: Vec<Vec<(Mat<f32>, Vec<f32>)>>,
    mlp: Vec<(Mat<f32>, Vec<f32>)>,
    head: (Mat<f32>, Vec<f32>),
    cost: ServingCost,
}

impl DcnScorer {
    fn new<T: Real>(net: &Net<T>) -> Self {
        let per_item = net.cross.iter().map(Cross::madds).sum::<u64>()
            + net.mlp.madds()
            + net.head.inputs() as u64;
        Self {
            structure: net.structure,
            users: net.users.encode_all_f32(),
            items: net.items.encode_all_f32(),
            cross: net.cross.iter().map(Cross::to_f32).collect(),
            mlp: net.mlp.layers.iter().map(dense_f32).collect(),
            head: dense_f32(&net.head),
            cost: ServingCost {
                parameters: net.users.parameters()
                    + net.items.parameters()
                    + net.cross.iter().map(Cross::parameters).sum::<u64>()
                    + net.mlp.parameters()
                    + net.head.parameters(),
                madds_per_user: net.items.len() as u64 * per_item,
            },
        }
    }
}

impl PairScorer for DcnScorer {
    fn score_user(&self, user: u32, items: Option<&[u32]>, out: &mut [f32]) {
        let n = out.len();
        let (wu, width) = (self.users.ncols(), self.users.ncols() + self.items.ncols());
        let item = |i: usize| items.map_or(i, |s| s[i] as usize);
        let x0 = Mat::from_fn(n, width, |i, k| {
            if k < wu {
                self.users[(user as usize, k)]
            } else {
                self.items[(item(i), k - wu)]
            }
        });
        let mut x = x0.clone();
        for projections in &self.cross {
            let mut z = layer_f32(x.as_ref(), &projections[0], false);
            if let Some(u) = projections.get(1) {
                z = layer_f32(z.as_ref(), u, false);
            }
            x = Mat::from_fn(n, width, |i, k| x0[(i, k)] * z[(i, k)] + x[(i, k)]);
        }
        let mut h = match self.structure {
            Structure::Stacked => x.clone(),
            Structure::Parallel => x0,
        };
        for layer in &self.mlp {
            h = layer_f32(h.as_ref(), layer, true);
        }
        let features = match self.structure {
            Structure::Stacked => h,
            Structure::Parallel => Mat::from_fn(n, width + h.ncols(), |i, k| {
                if k < width {
                    x[(i, k)]
                } else {
                    h[(i, k - width)]
                }
            }),
        };
        let logits = layer_f32(features.as_ref(), &self.head, false);
        for (i, s) in out.iter_mut().enumerate() {
            *s = logits[(i, 0)];
        }
    }

    fn cost(&self) -> ServingCost {
        self.cost
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::features::tests::{check_encoder, columns};
    use crate::models::gradient_check::{batch, check_dense, check_matrix};

    // The tests run in f64: central differences need its precision.
    type Net = super::Net<f64>;
    type Encoder = super::Encoder<f64>;
    type Cross = super::Cross<f64>;
    type Stack = super::Stack<f64>;
    type Dense = super::Dense<f64>;

    /// 3 users (ids) and 4 items (ids and every kind of feature; item 3
    /// cold): x_0 is 2 + 2 + 2 + 2 + 1 = 9 wide.
    fn net(structure: Structure, rank: usize) -> Net {
        let mut rng = Pcg64Mcg::seed_from_u64(5);
        let cols = columns();
        let refs: Vec<_> = cols.iter().collect();
        let users = Encoder::new(vec![true; 3], true, &[], 2, 0.5, &mut rng);
        let items = Encoder::new(vec![true, true, true, false], true, &refs, 2, 0.5, &mut rng);
        let width = users.width() + items.width();
        let mut cross: Vec<Cross> = (0..2).map(|_| Cross::new(width, rank, &mut rng)).collect();
        // Non-zero biases, so their gradients are exercised.
        for layer in &mut cross {
            let last = layer.project.last_mut().expect("a projection");
            for (j, b) in last.b.iter_mut().enumerate() {
                *b = 0.1 * (j as f64 + 1.0);
            }
        }
        let mlp = Stack::new(width, &[3], false, &mut rng);
        let features = match structure {
            Structure::Stacked => 3,
            Structure::Parallel => width + 3,
        };
        Net {
            structure,
            users,
            items,
            cross,
            mlp,
            head: Dense::new(features, 1, &mut rng),
        }
    }

    /// The loss against every embedding table (ids and features), every cross projection
    /// (weights and bias), an MLP layer and the head, through dropout
    /// (fixed by the seed), BCE and l2; stacked and parallel, full and low
    /// rank.
    #[test]
    fn gradients_match_finite_differences() {
        for (structure, rank) in [
            (Structure::Stacked, 0),
            (Structure::Parallel, 0),
            (Structure::Stacked, 2),
            (Structure::Parallel, 2),
        ] {
            let net = net(structure, rank);
            let (l2, p) = (0.01, 0.25);
            let loss = |n: &Net| {
                n.gradients(&batch(), p, l2, &mut Pcg64Mcg::seed_from_u64(8))
                    .0
            };
            let (_, grads) = net.gradients(&batch(), p, l2, &mut Pcg64Mcg::seed_from_u64(8));
            check_encoder(&net, |n| &mut n.users, &grads.users, &loss);
            check_encoder(&net, |n| &mut n.items, &grads.items, &loss);
            for l in 0..2 {
                for j in 0..net.cross[l].project.len() {
                    check_matrix(
                        &net.cross[l].project[j].w,
                        &|w| {
                            let mut c = net.clone();
                            c.cross[l].project[j].w = w.clone();
                            loss(&c)
                        },
                        &grads.cross[l][j].w,
                    );
                }
                let last = net.cross[l].project.len() - 1;
                let b = &net.cross[l].project[last].b;
                check_matrix(
                    &Mat::from_fn(1, b.len(), |_, j| b[j]),
                    &|m| {
                        let mut c = net.clone();
                        c.cross[l].project[last].b = (0..m.ncols()).map(|j| m[(0, j)]).collect();
                        loss(&c)
                    },
                    &Mat::from_fn(1, b.len(), |_, j| grads.cross[l][last].b[j]),
                );
            }
            check_dense(&net, |n| &mut n.mlp.layers[0], &grads.mlp[0], &loss);
            check_dense(&net, |n| &mut n.head, &grads.head, &loss);
        }
    }

    /// The f32 scorer reproduces the training forward pass's logits, for
    /// the whole catalogue and for a subset of items.
    #[test]
    fn scorer_logits_match_the_training_forward_pass() {
        for (structure, rank) in [(Structure::Stacked, 0), (Structure::Parallel, 2)] {
            let net = net(structure, rank);
            let scorer = PerPair(DcnScorer::new(&net));
            let mut out = vec![0.0f32; 4];
            scorer.score_block(&[2], &mut out);
            let mut some = vec![0.0f32; 2];
            scorer.score_items(2, &[3, 1], 4, &mut some);
            assert_eq!(some, vec![out[3], out[1]]);
            for item in 0..4u32 {
                let example = [Example {
                    user: 2,
                    item,
                    label: 1.0,
                    weight: 1.0,
                }];
                let (loss, _) = net.gradients(&example, 0.0, 0.0, &mut Pcg64Mcg::seed_from_u64(0));
                let z = -(loss.exp() - 1.0).ln();
                let s = f64::from(out[item as usize]);
                assert!(
                    (s - z).abs() < 1e-4,
                    "{structure:?} item {item}: {s} vs {z}"
                );
            }
        }
    }
}
