//! Popularity down-weighting (docs/spec.md, "Popularity down-weighting"). Training-time methods live in the
//! learned models; `penalty` is model-agnostic and applied here at scoring.

use serde::{Deserialize, Serialize};

use super::{ModelKind, ParamIssue, Scorer, ServingCost, Stages};
use crate::data::CsrMatrix;
use crate::describe::number;

/// Every popularity method, in the order docs and messages list them.
pub const METHODS: [&str; 6] = [
    "none",
    "weight",
    "subsample",
    "logq",
    "negatives",
    "penalty",
];

/// The popularity methods each model implements: the one table that the
/// spec parser, the sweep (which skips the others) and docs/spec.md follow.
/// `penalty` acts at scoring time, so every model has it.
pub fn methods_of(kind: ModelKind) -> &'static [&'static str] {
    match kind {
        ModelKind::MostPop | ModelKind::Random | ModelKind::Itemknn | ModelKind::Ease => {
            &["none", "penalty"]
        }
        ModelKind::Ials => &["none", "weight", "penalty"],
        // Each loss takes a subset: logq needs the softmax loss, negatives
        // BPR's sampled negatives (a rule between params: MfParams::check).
        // An external program gets every method in params.json.
        ModelKind::Mf | ModelKind::External => &METHODS,
        ModelKind::TwoTower => &["none", "weight", "subsample", "logq", "penalty"],
        ModelKind::Ncf | ModelKind::Dcn => &["none", "weight", "subsample", "negatives", "penalty"],
        // A pipeline's stages carry their own methods (the sweep routes
        // popularity knobs to them).
        ModelKind::Pipeline => &["none"],
    }
}

/// The largest `weight` exponent accepted.
const MAX_WEIGHT_BETA: f64 = 10.0;

/// One popularity down-weighting method and its strength, as written in a
/// spec: `{method: penalty, gamma: 0.5}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
#[serde(tag = "method", rename_all = "snake_case", deny_unknown_fields)]
pub enum Popularity {
    #[default]
    None,
    /// Loss weight (n_i / mean n)^(−beta) per positive, rescaled to mean 1.
    Weight { beta: f64 },
    /// Keep a positive of item i with probability min(1, sqrt(t / f_i)).
    Subsample { t: f64 },
    /// Sampled-softmax logit s/τ − alpha·log q_j (Yi et al. 2019). alpha
    /// defaults to 1, the full correction (TFRS applies it without a knob).
    Logq {
        #[serde(default = "full_correction")]
        alpha: f64,
    },
    /// Negatives drawn ∝ n_i^exponent.
    Negatives { exponent: f64 },
    /// Scoring-time s_ui − gamma·log(1 + n_i).
    Penalty { gamma: f64 },
}

fn full_correction() -> f64 {
    1.0
}

impl Popularity {
    pub fn method(&self) -> &'static str {
        match self {
            Popularity::None => "none",
            Popularity::Weight { .. } => "weight",
            Popularity::Subsample { .. } => "subsample",
            Popularity::Logq { .. } => "logq",
            Popularity::Negatives { .. } => "negatives",
            Popularity::Penalty { .. } => "penalty",
        }
    }

    /// Range check of the strength; the message names the field.
    pub fn check(&self) -> Result<(), ParamIssue> {
        let (field, value, ok, rule) = match *self {
            Popularity::None => return Ok(()),
            // (n_i / mean n)^(−beta) overflows for rare items past ~10.
            Popularity::Weight { beta } => (
                "beta",
                beta,
                (0.0..=MAX_WEIGHT_BETA).contains(&beta),
                "must be in [0, 10] (larger exponents overflow the weights)",
            ),
            Popularity::Subsample { t } => ("t", t, t > 0.0, "must be > 0"),
            Popularity::Logq { alpha } => ("alpha", alpha, alpha >= 0.0, "must be ≥ 0"),
            Popularity::Negatives { exponent } => ("exponent", exponent, true, ""),
            Popularity::Penalty { gamma } => ("gamma", gamma, gamma >= 0.0, "must be ≥ 0"),
        };
        if !value.is_finite() {
            return Err(ParamIssue::new(
                field,
                format!("{} is not a finite number", number(value)),
            ));
        }
        if !ok {
            return Err(ParamIssue::new(
                field,
                format!("{} is out of range; {field} {rule}", number(value)),
            ));
        }
        Ok(())
    }
}

impl Popularity {
    /// A strength so large that the method swamps the model (see
    /// [`super::ModelConfig::warnings`]).
    pub fn warning(&self) -> Option<String> {
        match *self {
            // Scores of the models here are O(1)–O(100); past this the
            // penalty alone orders every list (least popular first).
            Popularity::Penalty { gamma } if gamma > MAX_USEFUL_GAMMA => Some(format!(
                "popularity.gamma {} swamps any model score: every user's list is ordered by popularity alone",
                number(gamma)
            )),
            _ => None,
        }
    }
}

/// Penalty strengths beyond this only rank by popularity.
const MAX_USEFUL_GAMMA: f64 = 1e3;

/// Wraps a scorer with the scoring-time penalty −gamma·log(1 + n_i).
pub struct Penalized {
    inner: Box<dyn Scorer>,
    penalty: Vec<f32>,
}

impl Penalized {
    pub fn wrap(
        inner: Box<dyn Scorer>,
        popularity: &Popularity,
        counts: &[u32],
    ) -> Box<dyn Scorer> {
        match popularity {
            Popularity::Penalty { gamma } if *gamma > 0.0 => Box::new(Self {
                inner,
                penalty: counts
                    .iter()
                    .map(|&n| (gamma * f64::from(n).ln_1p()) as f32)
                    .collect(),
            }),
            _ => inner,
        }
    }
}

impl Penalized {
    fn subtract(&self, out: &mut [f32]) {
        for row in out.chunks_exact_mut(self.penalty.len()) {
            for (s, p) in row.iter_mut().zip(&self.penalty) {
                *s -= p;
            }
        }
    }
}

impl Scorer for Penalized {
    fn score_block(&self, users: &[u32], out: &mut [f32]) {
        self.inner.score_block(users, out);
        self.subtract(out);
    }

    fn score_block_excluding(&self, users: &[u32], exclude: &[&CsrMatrix], out: &mut [f32]) {
        self.inner.score_block_excluding(users, exclude, out);
        self.subtract(out);
    }

    fn score_items(&self, user: u32, items: &[u32], n_items: usize, out: &mut [f32]) {
        self.inner.score_items(user, items, n_items, out);
        for (s, &i) in out.iter_mut().zip(items) {
            *s -= self.penalty[i as usize];
        }
    }

    fn stages(&self) -> Option<Stages<'_>> {
        self.inner.stages()
    }

    fn item_factors(&self) -> Option<(usize, Vec<f32>)> {
        self.inner.item_factors()
    }

    fn cost(&self) -> ServingCost {
        let inner = self.inner.cost();
        ServingCost {
            parameters: inner.parameters + self.penalty.len() as u64,
            madds_per_user: inner.madds_per_user + self.penalty.len() as u64,
        }
    }
}

/// Loss weight (n_i / mean n)^(−beta) per positive, rescaled so that the
/// mean over all positives is 1: the `weight` method of every model that
/// implements it (a loss weight for learned models, a confidence factor for iALS).
pub(crate) fn popularity_weights(popularity: &[u32], positives: usize, beta: f64) -> Vec<f64> {
    let mean = positives as f64 / popularity.iter().filter(|&&n| n > 0).count().max(1) as f64;
    let raw: Vec<f64> = popularity
        .iter()
        .map(|&n| {
            if n == 0 {
                1.0
            } else {
                (f64::from(n) / mean).powf(-beta)
            }
        })
        .collect();
    let over_positives: f64 = popularity
        .iter()
        .zip(&raw)
        .map(|(&n, w)| f64::from(n) * w)
        .sum();
    let scale = positives as f64 / over_positives.max(f64::MIN_POSITIVE);
    raw.into_iter().map(|w| w * scale).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn popularity_weights_average_one_over_positives_and_favour_the_tail() {
        let popularity = [10, 5, 1, 0];
        let w = popularity_weights(&popularity, 16, 0.5);
        let mean: f64 = popularity
            .iter()
            .zip(&w)
            .map(|(&n, w)| f64::from(n) * w)
            .sum::<f64>()
            / 16.0;
        assert!((mean - 1.0).abs() < 1e-12);
        assert!(w[0] < w[1] && w[1] < w[2]);
        assert_eq!(
            popularity_weights(&popularity, 16, 0.0)[..3],
            [1.0, 1.0, 1.0]
        );
    }
}
