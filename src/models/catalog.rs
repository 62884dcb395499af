//! What each model is, the knob families and the popularity methods: the
//! vocabulary `recsweep list` prints and docs/spec.md's tables are
//! generated from (a test keeps them equal). Each param's rule and meaning
//! is declared with its field ([`super::ModelKind::param_docs`]).

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

    /// The declarations and the params structs name the same params (the
    /// tables name them by construction; external's are written by hand).
    #[test]
    fn every_param_is_documented_and_every_documented_param_exists() {
        for kind in ModelKind::ALL {
            let mut documented: Vec<&str> = kind.param_docs().iter().map(|p| p.param).collect();
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
