//! What each model is and what each of its params means, beside the rules
//! its `check` enforces: the vocabulary `recsweep list` prints and
//! docs/spec.md's tables are generated from (a test keeps them equal). The
//! defaults are not written here: they come from the params structs.

use super::popularity::{methods_of, METHODS};
use super::ModelKind;

/// The four knob families the sweep is built around.
pub const KNOBS: [(&str, &str); 4] = [
    (
        "dropout",
        "regularisation by dropping inputs of dense layers during training",
    ),
    (
        "l2",
        "weight decay, or the ridge λ of closed-form models (its scale differs per model)",
    ),
    (
        "temperature",
        "softmax logits / τ: how sharply the loss separates positives",
    ),
    (
        "popularity",
        "popularity down-weighting: weight, subsample, logq, negatives, penalty",
    ),
];

/// One param of one model.
pub struct ParamDoc {
    pub param: &'static str,
    /// The range or the allowed values, as `check` enforces them.
    pub rule: &'static str,
    pub meaning: &'static str,
}

/// One line on what the model is, with its source.
pub fn summary(kind: ModelKind) -> &'static str {
    match kind {
        ModelKind::MostPop => "items by train popularity",
        ModelKind::Random => "uniform scores from a counter-based hash of (seed, user, item)",
        ModelKind::Itemknn => "item-item cosine neighbourhoods with shrinkage",
        ModelKind::Ease => "EASE, a closed-form item-item ridge regression (Steck 2019)",
        ModelKind::Ials => "implicit ALS with confidence weights (Hu, Koren & Volinsky 2008)",
        ModelKind::Mf => "dot-product factors trained by gradient descent (Rendle et al. 2020)",
        ModelKind::TwoTower => "a user and an item tower whose outputs meet in a dot product, trained with an in-batch softmax",
        ModelKind::Ncf => "neural collaborative filtering: GMF, MLP or NeuMF trained with sampled negatives (He et al. 2017)",
        ModelKind::Dcn => "deep & cross network DCN-v2: cross layers and a ReLU MLP over the user and item embeddings, trained with sampled negatives (Wang et al. 2021)",
        ModelKind::External => "a program outside recsweep, in any language, run once per trial; its params are its own (docs/external.md)",
        ModelKind::Pipeline => "two stages: a retriever's N best unseen items, ordered by a ranker; evaluated with candidate recall, the ranking ceiling and the lift over the retriever",
    }
}

const POPULARITY: ParamDoc = ParamDoc {
    param: "popularity",
    rule: "a method this model implements",
    meaning: "popularity down-weighting, see \"Popularity down-weighting\"",
};
const PATIENCE: ParamDoc = ParamDoc {
    param: "patience",
    rule: "≥ 0",
    meaning: "epochs without a better validation metric before training stops; 0 = never",
};
const EPOCHS: ParamDoc = ParamDoc {
    param: "epochs",
    rule: "1 to 10,000",
    meaning: "shuffled passes over the train positives",
};
const BATCH: ParamDoc = ParamDoc {
    param: "batch_size",
    rule: "≥ 1",
    meaning: "positives per gradient step",
};
const LEARNING_RATE: ParamDoc = ParamDoc {
    param: "learning_rate",
    rule: "> 0",
    meaning: "step size of the optimizer",
};
const OPTIMIZER: ParamDoc = ParamDoc {
    param: "optimizer",
    rule: "sgd, adagrad, adam",
    meaning: "updates only the rows a batch uses (lazy Adam keeps the global step)",
};
const DROPOUT: ParamDoc = ParamDoc {
    param: "dropout",
    rule: "[0, 1)",
    meaning: "inverted dropout on the input of every dense layer (training only)",
};
const DENSE_L2: ParamDoc = ParamDoc {
    param: "l2",
    rule: "≥ 0",
    meaning: "λ·‖W‖² on dense weights per batch, λ·‖row‖² on embedding rows per use",
};

const IDS: ParamDoc = ParamDoc {
    param: "ids",
    rule: "true, false, users, items",
    meaning:
        "learn an id embedding per user and item; false: features only; users or items: that side only (docs/spec.md, \"Features\")",
};
const FEATURES: ParamDoc = ParamDoc {
    param: "features",
    rule: "all, or names of dataset.features columns",
    meaning: "the feature columns read, each embedded (categorical), mean-pooled (multi) or fed as is (numeric); [] = ids only",
};

/// Every param of `kind` with its rule and meaning, in the order the
/// params struct serializes them.
pub fn params(kind: ModelKind) -> &'static [ParamDoc] {
    match kind {
        ModelKind::MostPop | ModelKind::Random => &[POPULARITY],
        ModelKind::Itemknn => &[
            ParamDoc {
                param: "neighbors",
                rule: "≥ 1",
                meaning: "neighbours kept per item",
            },
            ParamDoc {
                param: "shrinkage",
                rule: "≥ 0",
                meaning: "sim(i,j) = #(U_i ∩ U_j) / (√#U_i·√#U_j + shrinkage), U_i the users of item i",
            },
            POPULARITY,
        ],
        ModelKind::Ease => &[
            ParamDoc {
                param: "l2",
                rule: "> 0",
                meaning: "ridge λ of B = I − P·diag(1/diag P), P = (XᵀX + λI)⁻¹",
            },
            POPULARITY,
        ],
        ModelKind::Ials => &[
            ParamDoc {
                param: "dim",
                rule: "1 to 4,096",
                meaning: "factors per user and item",
            },
            ParamDoc {
                param: "iterations",
                rule: "1 to 10,000",
                meaning: "alternating sweeps (users, then items)",
            },
            ParamDoc {
                param: "alpha",
                rule: "0 ≤ alpha ≤ 1e6",
                meaning: "confidence c = 1 + alpha·w on observed pairs, 1 elsewhere; larger values leave the solves ill-conditioned",
            },
            ParamDoc {
                param: "l2",
                rule: "0 < l2 ≤ 1e30",
                meaning: "ridge λ on every factor row",
            },
            ParamDoc {
                param: "solver",
                rule: "exact, cg",
                meaning: "Cholesky per row, or cg_steps conjugate-gradient steps from the previous solution (Takács et al. 2011)",
            },
            ParamDoc {
                param: "cg_steps",
                rule: "≥ 1",
                meaning: "conjugate-gradient steps per row and sweep",
            },
            POPULARITY,
        ],
        ModelKind::Mf => &[
            ParamDoc {
                param: "dim",
                rule: "1 to 4,096",
                meaning: "factors per user and item",
            },
            ParamDoc {
                param: "loss",
                rule: "bpr, softmax",
                meaning: "BPR with one sampled negative per positive, or in-batch sampled softmax with accidental hits masked; popularity logq needs softmax, negatives needs bpr",
            },
            EPOCHS,
            BATCH,
            LEARNING_RATE,
            OPTIMIZER,
            ParamDoc {
                param: "l2",
                rule: "≥ 0",
                meaning: "λ·‖row‖² on every factor row each time a batch uses it",
            },
            ParamDoc {
                param: "temperature",
                rule: "> 0",
                meaning: "softmax logits / τ",
            },
            POPULARITY,
            PATIENCE,
        ],
        ModelKind::TwoTower => &[
            ParamDoc {
                param: "dim",
                rule: "1 to 4,096",
                meaning: "id embedding and output width of each tower",
            },
            ParamDoc {
                param: "hidden",
                rule: "widths 1 to 4,096",
                meaning: "dense ReLU layers per tower, then a linear output to dim; [] = embeddings only",
            },
            ParamDoc {
                param: "normalize",
                rule: "true, false",
                meaning: "L2-normalise both outputs, so scores are cosines and τ sets the logit scale",
            },
            DROPOUT,
            DENSE_L2,
            ParamDoc {
                param: "temperature",
                rule: "> 0",
                meaning: "in-batch softmax logits / τ, accidental hits masked",
            },
            EPOCHS,
            BATCH,
            LEARNING_RATE,
            OPTIMIZER,
            POPULARITY,
            PATIENCE,
            IDS,
            FEATURES,
        ],
        ModelKind::Ncf => &[
            ParamDoc {
                param: "variant",
                rule: "gmf, mlp, neumf",
                meaning: "element-wise product, concatenation through ReLU layers, or both joined before one sigmoid unit",
            },
            ParamDoc {
                param: "dim",
                rule: "1 to 4,096",
                meaning: "GMF factors and the MLP's embedding width per side",
            },
            ParamDoc {
                param: "hidden",
                rule: "widths 1 to 4,096, non-empty for mlp/neumf",
                meaning: "MLP layer widths",
            },
            ParamDoc {
                param: "negatives",
                rule: "1 to 1,000",
                meaning: "sampled items per positive, labelled 0 in the binary cross-entropy",
            },
            DROPOUT,
            DENSE_L2,
            EPOCHS,
            BATCH,
            LEARNING_RATE,
            OPTIMIZER,
            POPULARITY,
            PATIENCE,
            IDS,
            FEATURES,
        ],
        ModelKind::Dcn => &[
            ParamDoc {
                param: "dim",
                rule: "1 to 4,096",
                meaning: "embedding width; x_0 = [user input ; item input], 2·dim wide with ids alone",
            },
            ParamDoc {
                param: "cross_layers",
                rule: "1 to 64",
                meaning: "cross layers x_{l+1} = x_0 ⊙ (x_l·W + b) + x_l",
            },
            ParamDoc {
                param: "low_rank",
                rule: "0 ≤ low_rank < 2·dim",
                meaning: "r of W = V·Uᵀ in every cross layer; 0 = full rank",
            },
            ParamDoc {
                param: "structure",
                rule: "stacked, parallel",
                meaning: "MLP after the cross layers, or beside them (both outputs concatenated)",
            },
            ParamDoc {
                param: "hidden",
                rule: "widths 1 to 4,096",
                meaning: "MLP layer widths; [] = cross layers alone",
            },
            ParamDoc {
                param: "negatives",
                rule: "1 to 1,000",
                meaning: "sampled items per positive, labelled 0 in the binary cross-entropy",
            },
            EPOCHS,
            BATCH,
            LEARNING_RATE,
            OPTIMIZER,
            DROPOUT,
            DENSE_L2,
            PATIENCE,
            POPULARITY,
            IDS,
            FEATURES,
        ],
        ModelKind::Pipeline => &[
            ParamDoc {
                param: "retriever",
                rule: "{model, params}, any model but pipeline",
                meaning: "first stage: picks each user's N best items not yet seen",
            },
            ParamDoc {
                param: "candidates",
                rule: "≥ 1, at most the catalogue's items",
                meaning: "N, items passed to the ranker per user",
            },
            ParamDoc {
                param: "index",
                rule: "exact, {hnsw: {m ≥ 2, ef_construction, ef_search}}, {ivf: {lists, probes ≤ lists}}",
                meaning: "how the retriever's N best are found: every item scored, or an approximate index over a dot-product retriever's factors (docs/spec.md, \"Pipelines\")",
            },
            ParamDoc {
                param: "ranker",
                rule: "{model, params}, any model but pipeline",
                meaning: "second stage: orders the N candidates; scores N items per user",
            },
            ParamDoc {
                param: "ranker_negatives",
                rule: "uniform, retrieved",
                meaning: "the ranker's sampled negatives from the catalogue, or from the user's retrieved candidates (ncf, dcn, mf with bpr)",
            },
        ],
        ModelKind::External => &[
            ParamDoc {
                param: "command",
                rule: "a non-empty argv list",
                meaning: "the program and its arguments, run without a shell in a fresh folder per trial (docs/external.md)",
            },
            ParamDoc {
                param: "output",
                rule: "recs, embeddings",
                meaning: "what the program writes: ranked lists, or user and item vectors scored by dot product",
            },
            ParamDoc {
                param: "timeout",
                rule: "seconds, > 0, at most a week",
                meaning: "then SIGTERM, and SIGKILL 5 s later; the trial fails",
            },
            ParamDoc {
                param: "stochastic",
                rule: "true, false",
                meaning: "whether the seed changes the result: seeds repeat only stochastic models",
            },
            ParamDoc {
                param: "popularity",
                rule: "any method",
                meaning: "passed to the program in params.json; penalty is applied by recsweep to the returned scores",
            },
        ],
    }
}

/// A popularity method: its strength param and what it does.
pub fn popularity_method(method: &str) -> (&'static str, &'static str) {
    match method {
        "none" => ("", "nothing"),
        "weight" => (
            "beta",
            "per-positive weight (n_i / mean n)^(−beta), mean 1 over positives; 0 ≤ beta ≤ 10",
        ),
        "subsample" => (
            "t",
            "each epoch keeps a positive of item i with probability min(1, √(t / f_i))",
        ),
        "logq" => (
            "alpha",
            "softmax logit s/τ − alpha·log q_j, q_j = n_j / Σn (Yi et al. 2019); alpha defaults to 1",
        ),
        "negatives" => (
            "exponent",
            "sampled negatives drawn ∝ n_j^exponent (0 = uniform)",
        ),
        "penalty" => (
            "gamma",
            "at scoring, s_ui − gamma·log(1 + n_i), gamma ≥ 0; its effect depends on each model's score scale",
        ),
        _ => ("", ""),
    }
}

/// The models that implement `method`, in `ModelKind::ALL` order.
pub fn models_with(method: &str) -> Vec<ModelKind> {
    ModelKind::ALL
        .into_iter()
        .filter(|&k| methods_of(k).contains(&method))
        .collect()
}

/// Every method, in the order docs list them.
pub fn methods() -> &'static [&'static str] {
    &METHODS
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The catalogue and the params structs name the same params.
    #[test]
    fn every_param_is_documented_and_every_documented_param_exists() {
        for kind in ModelKind::ALL {
            let mut documented: Vec<&str> = params(kind).iter().map(|p| p.param).collect();
            let mut actual = kind.param_keys();
            documented.sort_unstable();
            actual.sort_unstable();
            assert_eq!(documented, actual, "{}", kind.as_str());
        }
        for method in methods() {
            assert!(!popularity_method(method).1.is_empty(), "{method}");
        }
    }
}
