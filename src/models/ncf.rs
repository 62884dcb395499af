//! Neural collaborative filtering (He et al. 2017): GMF (element-wise product
//! of user and item embeddings), MLP (their concatenation through ReLU
//! layers with dropout) or NeuMF (both, with separate embeddings, joined
//! before a final linear unit); sigmoid output trained by binary
//! cross-entropy against `negatives` sampled items per positive. The MLP
//! reads each side through the feature [`Encoder`] (id embedding and
//! features); GMF multiplies user and item id embeddings, so unless `ids`
//! is true NeuMF is its MLP path alone.
//!
//! The similarity is learned, so nothing can be precomputed per item: scoring
//! one user against the catalogue costs |I| forward passes, which the
//! serving cost reports (the retrieval-vs-ranking gap of the field).

use faer::Mat;
use rand::SeedableRng;
use rand_pcg::Pcg64Mcg;
use serde::{Deserialize, Serialize};

use super::features::{encoder, Encoder, EncoderGrads, FeatureSet, Ids, Inputs};
use super::nn::{
    dense_f32, examples_loss, layer_f32, matrix_f32, Dense, DenseGrad, PairScorer, PerPair, Stack,
};
use super::real::{Real, Trained};
use super::train::{
    self, Example, Examples, Fitted, Optimizer, Pointwise, PointwiseSettings, RowGrads, Step,
    Table, Trainable,
};
use super::{
    shared, FitInput, Inert, ModelConfig, ModelError, ModelKind, ParamDoc, ParamIssue, Params,
    Popularity, Rule, Scorer, ServingCost, MAX_WIDTH,
};
use crate::data::{FeatureNames, Side};

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Variant {
    Gmf,
    Mlp,
    #[default]
    Neumf,
}

impl Variant {
    fn has_gmf(self) -> bool {
        self != Variant::Mlp
    }
    fn has_mlp(self) -> bool {
        self != Variant::Gmf
    }
}

param_table! {
    pub struct NcfParams {
        variant: Variant = Variant::Neumf => ParamDoc::new(
            Rule::Text("gmf, mlp, neumf"),
            "element-wise product, concatenation through ReLU layers, or both joined before one sigmoid unit",
        ),
        dim: usize = 32 => ParamDoc::new(
            Rule::Count(1, MAX_WIDTH),
            "GMF factors and the MLP's embedding width per side",
        ),
        hidden: Vec<usize> = vec![64, 32, 16] => ParamDoc::new(
            Rule::Widths,
            "MLP layer widths; mlp and neumf need at least one",
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

impl Params for NcfParams {
    const KIND: ModelKind = ModelKind::Ncf;

    fn check(&self) -> Vec<ParamIssue> {
        let mut issues = Vec::new();
        if self.variant.has_mlp() && self.hidden.is_empty() {
            issues.push(ParamIssue::new(
                "hidden",
                "the mlp and neumf variants need at least one MLP layer; use variant: gmf for none",
            ));
        }
        if self.variant == Variant::Gmf && self.ids != Ids::Both {
            issues.push(ParamIssue::new(
                "ids",
                "variant gmf multiplies user and item id embeddings; without both use variant mlp or neumf",
            ));
        }
        issues
    }
}

impl ModelConfig for NcfParams {
    config_basics!(stochastic: true);

    fn samples_negatives(&self) -> bool {
        true
    }

    fn inputs(&self) -> Option<Inputs<'_>> {
        // GMF alone reads ids only.
        Some(Inputs {
            ids: self.ids,
            features: if self.variant.has_mlp() {
                Inputs::new(self.ids, &self.features).features
            } else {
                Some(&[])
            },
        })
    }

    /// Dropout acts on the MLP's layer inputs only (`check` gives the mlp
    /// and neumf variants at least one layer).
    fn inert(&self, _: &FeatureNames) -> Vec<Inert> {
        if self.variant.has_mlp() {
            Vec::new()
        } else {
            vec![Inert::new(
                "dropout",
                "dropout acts on the MLP's layers, and variant gmf has no MLP",
            )]
        }
    }

    fn fit(&self, input: &FitInput) -> Result<Fitted, ModelError> {
        let mut rng = Pcg64Mcg::seed_from_u64(input.seed);
        let (n_users, n_items, d) = (input.train.n_rows(), input.train.n_cols(), self.dim);
        let v = self.variant;
        let gmf = v.has_gmf() && self.ids == Ids::Both;
        let table = |rows, on: bool, rng: &mut Pcg64Mcg| {
            Table::normal(if on { rows } else { 0 }, d, 0.01, rng)
        };
        let gmf_users = table(n_users, gmf, &mut rng);
        let gmf_items = table(n_items, gmf, &mut rng);
        let inputs = self.inputs().expect("ncf reads features");
        let side = |side, rng: &mut Pcg64Mcg| {
            if v.has_mlp() {
                encoder(input, inputs, side, d, 0.01, rng)
            } else {
                Ok(Encoder::new(Vec::new(), false, &[], d, 0.01, rng))
            }
        };
        let mlp_users = side(Side::Users, &mut rng)?;
        let mlp_items = side(Side::Items, &mut rng)?;
        let hidden = if v.has_mlp() { &self.hidden[..] } else { &[] };
        let mlp = Stack::new(
            mlp_users.width() + mlp_items.width(),
            hidden,
            false,
            &mut rng,
        );
        let features = if gmf { d } else { 0 } + if v.has_mlp() { mlp.width(0) } else { 0 };
        let head = Dense::new(features, 1, &mut rng);
        let mut model = Ncf {
            params: self,
            net: Net {
                gmf,
                mlp_on: v.has_mlp(),
                gmf_users,
                gmf_items,
                mlp_users,
                mlp_items,
                mlp,
                head,
            },
            examples: Examples::new(input, &self.popularity),
            rng,
            step: 0,
        };
        train::train(&mut model, "ncf", self.epochs, self.patience, input.monitor)
    }
}

/// The network's weights.
#[derive(Clone)]
struct Net<T: Real = Trained> {
    /// Whether the GMF path (id embeddings) and the MLP path are on.
    gmf: bool,
    mlp_on: bool,
    gmf_users: Table<T>,
    gmf_items: Table<T>,
    mlp_users: Encoder<T>,
    mlp_items: Encoder<T>,
    mlp: Stack<T>,
    head: Dense<T>,
}

/// Gradients of one batch.
struct NetGrads<T: Real> {
    gmf_users: RowGrads<T>,
    gmf_items: RowGrads<T>,
    mlp_users: EncoderGrads<T>,
    mlp_items: EncoderGrads<T>,
    mlp: Vec<DenseGrad<T>>,
    head: DenseGrad<T>,
}

impl<T: Real> Net<T> {
    fn gmf_width(&self) -> usize {
        if self.gmf {
            self.gmf_users.dim
        } else {
            0
        }
    }
}

impl<T: Real> Pointwise for Net<T> {
    type Grads = NetGrads<T>;

    /// Mean loss (l2 included) and gradients of a batch of examples, with
    /// dropout rate `p` drawn from `rng`.
    fn gradients(
        &self,
        batch: &[Example],
        p: f64,
        l2: f64,
        rng: &mut Pcg64Mcg,
    ) -> (f64, NetGrads<T>) {
        let n = batch.len();
        let d = self.gmf_users.dim;
        let g_width = self.gmf_width();
        let users: Vec<u32> = batch.iter().map(|e| e.user).collect();
        let items: Vec<u32> = batch.iter().map(|e| e.item).collect();
        let wu = self.mlp_users.width();
        let mlp_out = if self.mlp_on {
            let (xu, xi) = (self.mlp_users.encode(&users), self.mlp_items.encode(&items));
            let x = Mat::from_fn(n, wu + xi.ncols(), |a, k| {
                if k < wu {
                    xu[(a, k)]
                } else {
                    xi[(a, k - wu)]
                }
            });
            Some(self.mlp.forward_train(x, p, rng))
        } else {
            None
        };
        let h_width = mlp_out.as_ref().map_or(0, |(h, _)| h.ncols());
        let features = Mat::from_fn(n, g_width + h_width, |a, k| {
            let e = batch[a];
            if k < g_width {
                self.gmf_users.row(e.user)[k] * self.gmf_items.row(e.item)[k]
            } else {
                mlp_out.as_ref().expect("an MLP output").0[(a, k - g_width)]
            }
        });
        let logits = self.head.forward(features.as_ref());
        let (mut loss, dz) = examples_loss(logits.as_ref(), batch);
        let (head, df) = self.head.backward(features.as_ref(), dz.as_ref(), l2);
        loss += self.head.penalty(l2) + self.mlp.penalty(l2);
        let scale = T::of(2.0 * l2 / n as f64);
        let mut grads = NetGrads {
            gmf_users: RowGrads::default(),
            gmf_items: RowGrads::default(),
            mlp_users: EncoderGrads::default(),
            mlp_items: EncoderGrads::default(),
            mlp: Vec::new(),
            head,
        };
        let mut row = vec![T::zero(); d];
        if self.gmf {
            for (a, e) in batch.iter().enumerate() {
                let (pu, qi) = (self.gmf_users.row(e.user), self.gmf_items.row(e.item));
                loss += l2 * (train::dot(pu, pu) + train::dot(qi, qi)).wide() / n as f64;
                for k in 0..d {
                    row[k] = df[(a, k)] * qi[k] + scale * pu[k];
                }
                grads.gmf_users.add(e.user, T::one(), &row);
                for k in 0..d {
                    row[k] = df[(a, k)] * pu[k] + scale * qi[k];
                }
                grads.gmf_items.add(e.item, T::one(), &row);
            }
        }
        if let Some((_, cache)) = mlp_out {
            let dh = Mat::from_fn(n, h_width, |a, k| df[(a, g_width + k)]);
            let (layers, dx) = self.mlp.backward(&cache, dh, l2);
            grads.mlp = layers;
            let (lu, gu) = self
                .mlp_users
                .backward(&users, dx.as_ref(), 0, l2, n as f64);
            let (li, gi) = self
                .mlp_items
                .backward(&items, dx.as_ref(), wu, l2, n as f64);
            loss += lu + li;
            (grads.mlp_users, grads.mlp_items) = (gu, gi);
        }
        (loss, grads)
    }

    fn update(&mut self, grads: &NetGrads<T>, step: &Step) {
        self.gmf_users.update(&grads.gmf_users, step);
        self.gmf_items.update(&grads.gmf_items, step);
        self.mlp_users.update(&grads.mlp_users, step);
        self.mlp_items.update(&grads.mlp_items, step);
        self.mlp.update(&grads.mlp, step);
        self.head.update(&grads.head, step);
    }

    fn is_finite(&self) -> bool {
        self.gmf_users.is_finite()
            && self.gmf_items.is_finite()
            && self.mlp_users.is_finite()
            && self.mlp_items.is_finite()
            && self.mlp.is_finite()
            && self.head.is_finite()
    }
}

struct Ncf<'a> {
    params: &'a NcfParams,
    net: Net,
    examples: Examples<'a>,
    rng: Pcg64Mcg,
    step: u64,
}

impl Trainable for Ncf<'_> {
    fn epoch(&mut self) -> f64 {
        let p = self.params;
        let settings = PointwiseSettings {
            negatives: p.negatives,
            batch_size: p.batch_size,
            dropout: p.dropout,
            l2: p.l2,
            optimizer: p.optimizer,
            learning_rate: p.learning_rate,
        };
        train::pointwise_epoch(
            &mut self.net,
            &settings,
            &self.examples,
            &mut self.rng,
            &mut self.step,
        )
    }

    fn scorer(&self) -> Box<dyn Scorer> {
        Box::new(PerPair(NcfScorer::new(&self.net)))
    }
}

/// Evaluation-mode NCF in f32: every (user, item) pair is a forward pass.
struct NcfScorer {
    gmf: bool,
    mlp_on: bool,
    dim: usize,
    gmf_users: Vec<f32>,
    /// items × dim.
    gmf_items: Mat<f32>,
    /// Each user's and item's MLP input (its encoder's output).
    mlp_users: Mat<f32>,
    mlp_items: Mat<f32>,
    /// (W: in × out, b) per MLP layer, then the head.
    layers: Vec<(Mat<f32>, Vec<f32>)>,
    head: (Mat<f32>, Vec<f32>),
    cost: ServingCost,
}

impl NcfScorer {
    fn new<T: Real>(net: &Net<T>) -> Self {
        let n_items = net.gmf_items.rows().max(net.mlp_items.len()) as u64;
        let d = net.gmf_users.dim as u64;
        let gmf_madds = if net.gmf { d } else { 0 };
        let tables = (net.gmf_users.values.len() + net.gmf_items.values.len()) as u64
            + net.mlp_users.parameters()
            + net.mlp_items.parameters();
        Self {
            gmf: net.gmf,
            mlp_on: net.mlp_on,
            dim: net.gmf_users.dim,
            gmf_users: net.gmf_users.to_f32(),
            gmf_items: matrix_f32(&net.gmf_items),
            mlp_users: net.mlp_users.encode_all_f32(),
            mlp_items: net.mlp_items.encode_all_f32(),
            layers: net.mlp.layers.iter().map(dense_f32).collect(),
            head: dense_f32(&net.head),
            cost: ServingCost {
                parameters: tables + net.mlp.parameters() + net.head.parameters(),
                // One forward pass per item: GMF product, MLP, head.
                madds_per_user: n_items * (gmf_madds + net.mlp.madds() + net.head.inputs() as u64),
            },
        }
    }
}

impl PairScorer for NcfScorer {
    fn score_user(&self, user: u32, items: Option<&[u32]>, out: &mut [f32]) {
        let (d, n) = (self.dim, out.len());
        let item = |i: usize| items.map_or(i, |s| s[i] as usize);
        let u = user as usize * d..(user as usize + 1) * d;
        let gmf = self.gmf.then(|| {
            let pu = &self.gmf_users[u.clone()];
            Mat::from_fn(n, d, |i, k| pu[k] * self.gmf_items[(item(i), k)])
        });
        let mlp = self.mlp_on.then(|| {
            let wu = self.mlp_users.ncols();
            let mut x = Mat::from_fn(n, wu + self.mlp_items.ncols(), |i, k| {
                if k < wu {
                    self.mlp_users[(user as usize, k)]
                } else {
                    self.mlp_items[(item(i), k - wu)]
                }
            });
            for layer in &self.layers {
                x = layer_f32(x.as_ref(), layer, true);
            }
            x
        });
        let g = gmf.as_ref().map_or(0, Mat::ncols);
        let h = mlp.as_ref().map_or(0, Mat::ncols);
        let features = Mat::from_fn(n, g + h, |i, k| {
            if k < g {
                gmf.as_ref().expect("GMF features")[(i, k)]
            } else {
                mlp.as_ref().expect("MLP features")[(i, k - g)]
            }
        });
        // The logit ranks like the sigmoid and keeps its resolution.
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
    use crate::models::gradient_check::{batch, check_dense, check_table};

    // The tests run in f64: central differences need its precision.
    type Net = super::Net<f64>;
    type Encoder = super::Encoder<f64>;
    type Table = super::Table<f64>;
    type RowGrads = super::RowGrads<f64>;
    type Stack = super::Stack<f64>;
    type Dense = super::Dense<f64>;

    /// 3 users and 4 items; the items' MLP input reads every kind of
    /// feature, and item 3 is cold (no id embedding).
    fn net(variant: Variant) -> Net {
        let mut rng = Pcg64Mcg::seed_from_u64(5);
        let cols = columns();
        let refs: Vec<_> = cols.iter().collect();
        let mlp_users = Encoder::new(vec![true; 3], true, &[], 2, 0.5, &mut rng);
        let mlp_items = Encoder::new(vec![true, true, true, false], true, &refs, 2, 0.5, &mut rng);
        let width = mlp_users.width() + mlp_items.width();
        Net {
            gmf: variant.has_gmf(),
            mlp_on: variant.has_mlp(),
            gmf_users: Table::normal(3, 2, 0.5, &mut rng),
            gmf_items: Table::normal(4, 2, 0.5, &mut rng),
            mlp_users,
            mlp_items,
            mlp: Stack::new(width, &[3, 2], false, &mut rng),
            head: Dense::new(4, 1, &mut rng),
        }
    }

    /// NeuMF's loss against every embedding table (ids and features), an
    /// MLP layer and the head, through dropout (fixed by the seed), pooling,
    /// BCE and l2.
    #[test]
    fn neumf_gradients_match_finite_differences() {
        let net = net(Variant::Neumf);
        let (l2, p) = (0.01, 0.25);
        let loss = |n: &Net| {
            n.gradients(&batch(), p, l2, &mut Pcg64Mcg::seed_from_u64(8))
                .0
        };
        let (_, grads) = net.gradients(&batch(), p, l2, &mut Pcg64Mcg::seed_from_u64(8));
        type Get = fn(&mut Net) -> &mut Table;
        let tables: [(Get, &RowGrads); 2] = [
            (|n| &mut n.gmf_users, &grads.gmf_users),
            (|n| &mut n.gmf_items, &grads.gmf_items),
        ];
        for (get, g) in tables {
            check_table(&net, get, g, &loss);
        }
        check_encoder(&net, |n| &mut n.mlp_users, &grads.mlp_users, &loss);
        check_encoder(&net, |n| &mut n.mlp_items, &grads.mlp_items, &loss);
        check_dense(&net, |n| &mut n.mlp.layers[1], &grads.mlp[1], &loss);
        check_dense(&net, |n| &mut n.head, &grads.head, &loss);
    }

    #[test]
    fn scorer_logits_match_the_training_forward_pass() {
        for variant in [Variant::Gmf, Variant::Mlp, Variant::Neumf] {
            let mut net = net(variant);
            let mut rng = Pcg64Mcg::seed_from_u64(1);
            if variant == Variant::Gmf {
                net.mlp = Stack::new(0, &[], false, &mut rng);
            }
            if variant != Variant::Neumf {
                // GMF's 2 factors or the MLP's last 2 units alone.
                net.head = Dense::new(2, 1, &mut rng);
            }
            let scorer = PerPair(NcfScorer::new(&net));
            let mut out = vec![0.0f32; 2 * 4];
            scorer.score_block(&[2, 0], &mut out);
            // A single positive example's BCE loss is −log σ(z): recover z.
            for (row, user) in [(0usize, 2u32), (1, 0)] {
                for item in 0..4u32 {
                    let example = [Example {
                        user,
                        item,
                        label: 1.0,
                        weight: 1.0,
                    }];
                    let (loss, _) =
                        net.gradients(&example, 0.0, 0.0, &mut Pcg64Mcg::seed_from_u64(0));
                    let z = -(loss.exp() - 1.0).ln();
                    let s = f64::from(out[row * 4 + item as usize]);
                    assert!(
                        (s - z).abs() < 1e-4,
                        "{variant:?} ({user}, {item}): {s} vs {z}"
                    );
                }
            }
            let d = 2u64;
            let per_item = if variant.has_gmf() { d } else { 0 }
                + if variant.has_mlp() {
                    net.mlp.madds()
                } else {
                    0
                }
                + net.head.inputs() as u64;
            assert_eq!(scorer.cost().madds_per_user, 4 * per_item, "{variant:?}");
        }
    }
}
