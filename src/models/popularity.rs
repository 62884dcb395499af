//! Popularity down-weighting (design §4). Training-time methods live in the
//! learned models; `penalty` is model-agnostic and applied here at scoring.

use serde::{Deserialize, Serialize};

use super::{Scorer, ServingCost};

/// One popularity down-weighting method and its strength, as written in a
/// spec: `{method: penalty, gamma: 0.5}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(tag = "method", rename_all = "snake_case", deny_unknown_fields)]
pub enum Popularity {
    #[default]
    None,
    /// Loss weight (n_i / mean n)^(−beta) per positive, rescaled to mean 1.
    Weight { beta: f64 },
    /// Keep a positive of item i with probability min(1, sqrt(t / f_i)).
    Subsample { t: f64 },
    /// Sampled-softmax logit s/τ − alpha·log q_j (Yi et al. 2019).
    Logq { alpha: f64 },
    /// Negatives drawn ∝ n_i^exponent.
    Negatives { exponent: f64 },
    /// Scoring-time s_ui − gamma·log(1 + n_i).
    Penalty { gamma: f64 },
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
    pub fn check(&self) -> Result<(), (String, String)> {
        let (field, value, ok, rule) = match *self {
            Popularity::None => return Ok(()),
            Popularity::Weight { beta } => ("beta", beta, beta >= 0.0, "must be ≥ 0"),
            Popularity::Subsample { t } => ("t", t, t > 0.0, "must be > 0"),
            Popularity::Logq { alpha } => ("alpha", alpha, alpha >= 0.0, "must be ≥ 0"),
            Popularity::Negatives { exponent } => ("exponent", exponent, true, ""),
            Popularity::Penalty { gamma } => ("gamma", gamma, gamma >= 0.0, "must be ≥ 0"),
        };
        if !value.is_finite() {
            return Err((field.into(), format!("{value} is not a finite number")));
        }
        if !ok {
            return Err((
                field.into(),
                format!("{value} is out of range; {field} {rule}"),
            ));
        }
        Ok(())
    }
}

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

impl Scorer for Penalized {
    fn score_block(&self, users: &[u32], out: &mut [f32]) {
        self.inner.score_block(users, out);
        for row in out.chunks_exact_mut(self.penalty.len()) {
            for (s, p) in row.iter_mut().zip(&self.penalty) {
                *s -= p;
            }
        }
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
