//! Item propensities for the debiased metrics: the probability that a
//! relevant item is observed in the log, modelled as a power of its train
//! popularity, p_i ∝ n_i^e (Steck 2011; Yang et al. 2018). The metrics weight
//! each hit by 1/p_i (docs/metrics.md, "Debiased accuracy"). The exponent is
//! typed, or fitted to a randomised-exposure test ([`fit_exponent`]).

use serde::{Deserialize, Serialize};

/// The largest exponent e accepted. The weights are (n_max / n_i)^e with
/// popularity counts below 2^32, so at e ≤ 10 every weight is below 2^320
/// (about 1e96) and every per-user sum and ratio stays finite in f64;
/// at e = 1e308 the weights are infinite and IPS/SNIPS meaningless.
const MAX_EXPONENT: f64 = 10.0;

/// The spec's `evaluation.propensity` block: an exponent, a named preset
/// with its parameter, or an estimate from the data; optionally a cap on
/// the weights 1/p_i.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PropensitySpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exponent: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset: Option<PropensityPreset>,
    /// Fit the exponent to the data instead of typing it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimate: Option<PropensityEstimate>,
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

/// Where a fitted exponent comes from.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PropensityEstimate {
    /// Fitted to the randomised-exposure test (`dataset.random_test`) by
    /// maximum likelihood ([`fit_exponent`]; docs/metrics.md).
    Randomised,
}

impl PropensitySpec {
    /// p_i ∝ n_i^exponent, weights capped at `clip`: what `recsweep
    /// evaluate`'s flags give.
    pub fn from_exponent(exponent: f64, clip: Option<f64>) -> Self {
        Self {
            exponent: Some(exponent),
            preset: None,
            estimate: None,
            gamma: None,
            beta: None,
            clip,
        }
    }

    /// The typed exponent e of p_i ∝ n_i^e, once the spec is checked
    /// (exactly one of `exponent`, `preset` and `estimate`, with the
    /// preset's parameter); None for an estimate, which the data gives.
    pub fn typed_exponent(&self) -> Option<f64> {
        match (self.exponent, self.preset) {
            (Some(e), _) => Some(e),
            (None, Some(PropensityPreset::Yang2018)) => {
                Some((self.gamma.unwrap_or(0.0) + 1.0) / 2.0)
            }
            (None, Some(PropensityPreset::Steck2011)) => Some(self.beta.unwrap_or(0.0)),
            (None, None) => None,
        }
    }

    /// Problems, each with the key under `evaluation.propensity` it concerns.
    pub fn issues(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        let finite_nonnegative = |v: f64| v.is_finite() && v >= 0.0;
        let given = [
            self.exponent.is_some(),
            self.preset.is_some(),
            self.estimate.is_some(),
        ];
        match given.iter().filter(|g| **g).count() {
            0 => out.push((
                "exponent",
                "missing: give `exponent: E` (p_i ∝ n_i^E), `preset: yang2018 | steck2011` or `estimate: randomised`"
                    .to_string(),
            )),
            1 => {}
            _ => out.push((
                if self.estimate.is_some() {
                    "estimate"
                } else {
                    "preset"
                },
                "give one of `exponent`, `preset` and `estimate`".to_string(),
            )),
        }
        if let Some(e) = self.exponent.filter(|e| !finite_nonnegative(*e)) {
            out.push(("exponent", format!("{e} must be ≥ 0 (0 = no debiasing)")));
        }
        let e = self.typed_exponent().unwrap_or(0.0);
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
    /// metrics); e is the typed exponent, else `fitted`. Items without train
    /// interactions count as seen once, as novelty does: their propensity is
    /// otherwise 0 and the weight infinite. None for an estimate not fitted.
    pub fn weights(&self, popularity: &[u32], fitted: Option<f64>) -> Option<Vec<f64>> {
        let e = self.typed_exponent().or(fitted)?;
        let max = f64::from(popularity.iter().copied().max().unwrap_or(1).max(1));
        let clip = self.clip.unwrap_or(f64::INFINITY);
        Some(
            popularity
                .iter()
                .map(|&n| (max / f64::from(n.max(1))).powf(e).min(clip))
                .collect(),
        )
    }

    /// One line for the report: the exponent, where it came from, the clip.
    pub fn describe(&self, fitted: Option<&PropensityFit>) -> String {
        if self.estimate.is_some() {
            let clip = self
                .clip
                .map_or(String::new(), |c| format!("; weights clipped at {c}"));
            return match fitted {
                Some(f) => format!("{}{clip}", f.describe()),
                None => format!("p_i ∝ n_i^e with e to be fitted to the randomised test{clip}"),
            };
        }
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
            crate::format::format_number(self.typed_exponent().unwrap_or(0.0))
        )
    }
}

/// An exponent fitted to a randomised-exposure test.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct PropensityFit {
    /// e of p_i ∝ n_i^e, within [0, MAX_EXPONENT].
    pub exponent: f64,
    /// Its standard error under the Poisson model (no overdispersion: a
    /// lower bound where items vary beyond their popularity).
    pub se: f64,
    /// Items with train interactions and shown at least once: the fit's data.
    pub items: usize,
    /// Whether the likelihood's maximum lies beyond [0, MAX_EXPONENT], so
    /// the exponent is the bound it was clamped to.
    pub at_bound: bool,
}

impl PropensityFit {
    pub fn describe(&self) -> String {
        let bound = if self.at_bound {
            " (the likelihood's maximum lies beyond the range 0 to 10: clamped)"
        } else {
            ""
        };
        let half = 1.96 * self.se;
        format!(
            "p_i ∝ n_i^{} ± {} (95%), fitted to the randomised test over {} items{bound}",
            crate::format::format_to_precision(self.exponent, Some(half)),
            crate::format::format_to_precision(half, Some(half)),
            self.items
        )
    }
}

/// Fits e of p_i ∝ n_i^e to a randomised-exposure test.
///
/// If a relevant item i is observed with probability p_i = c·n_i^e, its
/// train count is n_i ≈ p_i·U·q_i, with q_i the share of users to whom it
/// is relevant, so q_i ∝ n_i^(1−e). On the randomised test an item shown
/// s_i times is taken y_i ~ Poisson(s_i·q_i) times: a Poisson regression
/// of y_i on ln n_i with offset ln s_i, whose slope β is 1 − e (Schnabel et
/// al. 2016 estimate propensities from a missing-at-random sample the same
/// way, per rating value). For a fixed β the intercept has a closed form;
/// the profile score Σ y_i x_i − Σ y · m(β), with m(β) the mean of x_i
/// under weights s_i·e^(β x_i), decreases in β (its derivative is minus a
/// weighted variance), so bisection finds the root. `popularity`, `shown`
/// and `taken` are per item (n_i, s_i, y_i); items with n_i = 0 or s_i = 0
/// carry no information. None with no positive or no spread in n_i.
pub fn fit_exponent(popularity: &[u32], shown: &[f64], taken: &[f64]) -> Option<PropensityFit> {
    let data: Vec<(f64, f64, f64)> = popularity
        .iter()
        .zip(shown.iter().zip(taken))
        .filter(|(&n, (&s, _))| n > 0 && s > 0.0)
        .map(|(&n, (&s, &y))| (f64::from(n).ln(), s, y))
        .collect();
    let total: f64 = data.iter().map(|d| d.2).sum();
    let x_first = data.first()?.0;
    if total <= 0.0 || data.iter().all(|d| d.0 == x_first) {
        return None;
    }
    let target = data.iter().map(|d| d.2 * d.0).sum::<f64>() / total;
    // Mean and variance of x under weights s·e^(βx), shifted by the
    // largest βx so no exponential overflows.
    let moments = |beta: f64| {
        let top = data
            .iter()
            .map(|d| beta * d.0)
            .fold(f64::NEG_INFINITY, f64::max);
        let (mut w, mut wx, mut wxx) = (0.0, 0.0, 0.0);
        for &(x, s, _) in &data {
            let v = s * (beta * x - top).exp();
            w += v;
            wx += v * x;
            wxx += v * x * x;
        }
        let mean = wx / w;
        (mean, wxx / w - mean * mean)
    };
    // e ∈ [0, MAX_EXPONENT] is β ∈ [1 − MAX_EXPONENT, 1]; m(β) increases.
    let (mut lo, mut hi) = (1.0 - MAX_EXPONENT, 1.0);
    let at_bound = if moments(hi).0 <= target {
        lo = hi;
        true
    } else if moments(lo).0 >= target {
        hi = lo;
        true
    } else {
        false
    };
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if moments(mid).0 < target {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let beta = 0.5 * (lo + hi);
    // At the maximum Σμ = Σy, so the slope's Fisher information is
    // Σy times the variance of x under the fitted means.
    let variance = moments(beta).1;
    Some(PropensityFit {
        exponent: 1.0 - beta,
        se: (1.0 / (total * variance)).sqrt(),
        items: data.len(),
        at_bound,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(exponent: f64) -> PropensitySpec {
        PropensitySpec::from_exponent(exponent, None)
    }

    #[test]
    fn weights_are_inverse_powers_of_relative_popularity() {
        // n = 16, 4, 1, 0: p = 1, 1/2, 1/4, 1/4 (0 counts as 1) at e = 0.5.
        assert_eq!(
            spec(0.5).weights(&[16, 4, 1, 0], None).unwrap(),
            vec![1.0, 2.0, 4.0, 4.0]
        );
        assert_eq!(
            spec(0.0).weights(&[16, 4, 1, 0], None).unwrap(),
            vec![1.0; 4]
        );
        let clipped = PropensitySpec {
            clip: Some(3.0),
            ..spec(0.5)
        };
        assert_eq!(
            clipped.weights(&[16, 4, 1], Some(9.0)).unwrap(),
            vec![1.0, 2.0, 3.0]
        );
    }

    #[test]
    fn presets_resolve_to_their_exponents() {
        let yang = PropensitySpec {
            exponent: None,
            preset: Some(PropensityPreset::Yang2018),
            estimate: None,
            gamma: Some(2.0),
            beta: None,
            clip: None,
        };
        assert_eq!(yang.typed_exponent(), Some(1.5));
        assert!(yang.issues().is_empty());
        let steck = PropensitySpec {
            preset: Some(PropensityPreset::Steck2011),
            gamma: None,
            beta: Some(0.3),
            ..yang.clone()
        };
        assert_eq!(steck.typed_exponent(), Some(0.3));
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

    #[test]
    fn an_estimate_takes_the_fitted_exponent_and_needs_one() {
        let fitted = PropensitySpec {
            exponent: None,
            estimate: Some(PropensityEstimate::Randomised),
            ..spec(0.0)
        };
        assert!(fitted.issues().is_empty());
        assert_eq!(fitted.weights(&[16, 4], None), None);
        assert_eq!(fitted.weights(&[16, 4], Some(0.5)), Some(vec![1.0, 2.0]));
        let both = PropensitySpec {
            exponent: Some(0.5),
            ..fitted
        };
        assert_eq!(both.issues()[0].0, "estimate");
    }

    /// Expected counts exactly on the model: the fit returns the planted
    /// exponent.
    #[test]
    fn the_fit_recovers_an_exponent_from_exact_counts() {
        let popularity: Vec<u32> = (1..=300).map(|r| 2000 / r).collect();
        let shown = vec![40.0; 300];
        for planted in [0.0, 0.3, 0.6, 1.5] {
            let taken: Vec<f64> = popularity
                .iter()
                .map(|&n| 40.0 * 0.002 * f64::from(n).powf(1.0 - planted))
                .collect();
            let fit = fit_exponent(&popularity, &shown, &taken).unwrap();
            assert!((fit.exponent - planted).abs() < 1e-9, "{planted}: {fit:?}");
            assert!(!fit.at_bound && fit.items == 300);
        }
        // Taken more often the more popular, beyond the log's skew: e < 0,
        // clamped to 0.
        let taken: Vec<f64> = popularity.iter().map(|&n| f64::from(n).powi(2)).collect();
        let fit = fit_exponent(&popularity, &shown, &taken).unwrap();
        assert!(fit.at_bound && fit.exponent == 0.0, "{fit:?}");
        assert_eq!(fit_exponent(&popularity, &shown, &[0.0; 300]), None);
    }

    /// Binomial draws on a planted exponent: within ±0.05, and within the
    /// fit's own 95% interval.
    #[test]
    fn the_fit_recovers_a_planted_exponent_from_sampled_counts() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(11);
        let popularity: Vec<u32> = (1..=800).map(|r| (5000.0 / f64::from(r)) as u32).collect();
        let shown = vec![150.0; 800];
        let taken: Vec<f64> = popularity
            .iter()
            .map(|&n| {
                let q = 0.004 * f64::from(n.max(1)).powf(1.0 - 0.6);
                (0..150).filter(|_| rng.random::<f64>() < q).count() as f64
            })
            .collect();
        let fit = fit_exponent(&popularity, &shown, &taken).unwrap();
        assert!((fit.exponent - 0.6).abs() < 0.05, "{fit:?}");
        assert!((fit.exponent - 0.6).abs() < 1.96 * fit.se, "{fit:?}");
    }
}
