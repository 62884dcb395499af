//! Item propensities for the debiased metrics: the probability that a
//! relevant item is observed in the log, modelled as a power of its train
//! popularity, p_i ∝ n_i^e (Steck 2011; Yang et al. 2018). The metrics weight
//! each hit by 1/p_i (docs/metrics.md, "Debiased accuracy").

use serde::{Deserialize, Serialize};

/// The largest exponent e accepted. The weights are (n_max / n_i)^e with
/// popularity counts below 2^32, so at e ≤ 10 every weight is below 2^320
/// (about 1e96) and every per-user sum and ratio stays finite in f64;
/// at e = 1e308 the weights are infinite and IPS/SNIPS meaningless.
const MAX_EXPONENT: f64 = 10.0;

/// The spec's `evaluation.propensity` block: an exponent, or a named preset
/// with its parameter; optionally a cap on the weights 1/p_i.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PropensitySpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exponent: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset: Option<PropensityPreset>,
    /// Yang et al. 2018: the power-law exponent γ; e = (γ + 1) / 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gamma: Option<f64>,
    /// Steck 2011: the stratification exponent β; e = β.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub beta: Option<f64>,
    /// Largest weight 1/p_i: clipping trades the estimator's bias for less
    /// variance (long-tail items with one train interaction get huge weights).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clip: Option<f64>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PropensityPreset {
    /// Yang, Cui, Xuan, Wang, Belongie, Estrin, "Unbiased offline recommender
    /// evaluation for missing-not-at-random implicit feedback", RecSys 2018.
    Yang2018,
    /// Steck, "Item popularity and recommendation accuracy", RecSys 2011:
    /// popularity-stratified recall.
    Steck2011,
}

impl PropensitySpec {
    /// The exponent e of p_i ∝ n_i^e, once the spec is checked (exactly one
    /// of `exponent` and `preset`, with the preset's parameter).
    pub fn resolved_exponent(&self) -> f64 {
        match (self.exponent, self.preset) {
            (Some(e), _) => e,
            (None, Some(PropensityPreset::Yang2018)) => (self.gamma.unwrap_or(0.0) + 1.0) / 2.0,
            (None, Some(PropensityPreset::Steck2011)) => self.beta.unwrap_or(0.0),
            (None, None) => 0.0,
        }
    }

    /// Problems, each with the key under `evaluation.propensity` it concerns.
    pub fn issues(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        let finite_nonnegative = |v: f64| v.is_finite() && v >= 0.0;
        match (self.exponent, self.preset) {
            (Some(_), Some(_)) => out.push((
                "preset",
                "give either `exponent` or `preset`, not both".to_string(),
            )),
            (None, None) => out.push((
                "exponent",
                "missing: give `exponent: E` (p_i ∝ n_i^E) or `preset: yang2018 | steck2011`"
                    .to_string(),
            )),
            (Some(e), None) if !finite_nonnegative(e) => {
                out.push(("exponent", format!("{e} must be ≥ 0 (0 = no debiasing)")));
            }
            _ => {}
        }
        let e = self.resolved_exponent();
        if e.is_finite() && e > MAX_EXPONENT {
            let key = match self.preset {
                None => "exponent",
                Some(PropensityPreset::Yang2018) => "gamma",
                Some(PropensityPreset::Steck2011) => "beta",
            };
            out.push((
                key,
                format!(
                    "gives the exponent e = {} above {MAX_EXPONENT}: weights (n_max/n_i)^e would overflow to infinity (use e ≤ {MAX_EXPONENT}; published values are 0.5–2)",
                    crate::describe::number(e)
                ),
            ));
        }
        let wanted = match self.preset {
            Some(PropensityPreset::Yang2018) => Some("gamma"),
            Some(PropensityPreset::Steck2011) => Some("beta"),
            None => None,
        };
        for (key, value) in [("gamma", self.gamma), ("beta", self.beta)] {
            match (value, wanted == Some(key)) {
                (None, true) => out.push((
                    key,
                    format!(
                        "missing: preset {} needs `{key}`",
                        if key == "gamma" {
                            "yang2018 (e = (gamma + 1) / 2)"
                        } else {
                            "steck2011 (e = beta)"
                        }
                    ),
                )),
                (Some(_), false) => out.push((
                    key,
                    format!(
                        "applies only to preset {}",
                        if key == "gamma" {
                            "yang2018"
                        } else {
                            "steck2011"
                        }
                    ),
                )),
                (Some(v), true) if !finite_nonnegative(v) => {
                    out.push((key, format!("{v} must be ≥ 0")));
                }
                _ => {}
            }
        }
        if let Some(c) = self.clip {
            if !(c.is_finite() && c >= 1.0) {
                out.push((
                    "clip",
                    format!(
                        "{c} must be ≥ 1 (weights 1/p_i are ≥ 1: the most popular item has p = 1)"
                    ),
                ));
            }
        }
        out
    }

    /// Each item's weight 1/p_i, with p_i = (n_i / n_max)^e so the most
    /// popular item weighs 1 and e = 0 weighs every item 1 (the naive
    /// metrics). Items without train interactions count as seen once, as
    /// novelty does: their propensity is otherwise 0 and the weight infinite.
    pub fn weights(&self, popularity: &[u32]) -> Vec<f64> {
        let e = self.resolved_exponent();
        let max = f64::from(popularity.iter().copied().max().unwrap_or(1).max(1));
        let clip = self.clip.unwrap_or(f64::INFINITY);
        popularity
            .iter()
            .map(|&n| (max / f64::from(n.max(1))).powf(e).min(clip))
            .collect()
    }

    /// One line for the report: the exponent, where it came from, the clip.
    pub fn describe(&self) -> String {
        let source = match self.preset {
            Some(PropensityPreset::Yang2018) => format!(
                " (Yang et al. 2018 with γ = {}: e = (γ + 1) / 2)",
                self.gamma.unwrap_or(0.0)
            ),
            Some(PropensityPreset::Steck2011) => {
                format!(" (Steck 2011 with β = {}: e = β)", self.beta.unwrap_or(0.0))
            }
            None => String::new(),
        };
        let clip = self
            .clip
            .map_or(String::new(), |c| format!("; weights clipped at {c}"));
        format!(
            "p_i ∝ n_i^{}{source}{clip}",
            crate::format::format_number(self.resolved_exponent())
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(exponent: f64) -> PropensitySpec {
        PropensitySpec {
            exponent: Some(exponent),
            preset: None,
            gamma: None,
            beta: None,
            clip: None,
        }
    }

    #[test]
    fn weights_are_inverse_powers_of_relative_popularity() {
        // n = 16, 4, 1, 0: p = 1, 1/2, 1/4, 1/4 (0 counts as 1) at e = 0.5.
        assert_eq!(spec(0.5).weights(&[16, 4, 1, 0]), vec![1.0, 2.0, 4.0, 4.0]);
        assert_eq!(spec(0.0).weights(&[16, 4, 1, 0]), vec![1.0; 4]);
        let clipped = PropensitySpec {
            clip: Some(3.0),
            ..spec(0.5)
        };
        assert_eq!(clipped.weights(&[16, 4, 1]), vec![1.0, 2.0, 3.0]);
    }

    #[test]
    fn presets_resolve_to_their_exponents() {
        let yang = PropensitySpec {
            exponent: None,
            preset: Some(PropensityPreset::Yang2018),
            gamma: Some(2.0),
            beta: None,
            clip: None,
        };
        assert_eq!(yang.resolved_exponent(), 1.5);
        assert!(yang.issues().is_empty());
        let steck = PropensitySpec {
            preset: Some(PropensityPreset::Steck2011),
            gamma: None,
            beta: Some(0.3),
            ..yang.clone()
        };
        assert_eq!(steck.resolved_exponent(), 0.3);
        let wrong = PropensitySpec {
            gamma: Some(1.0),
            ..steck
        };
        let keys: Vec<&str> = wrong.issues().iter().map(|(k, _)| *k).collect();
        assert_eq!(keys, ["gamma"]);
        let missing = PropensitySpec {
            gamma: None,
            ..yang
        };
        assert_eq!(missing.issues()[0].0, "gamma");
    }
}
