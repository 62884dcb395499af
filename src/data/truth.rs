//! True relevance: what a user would take of an item, where something knows
//! it (the synthetic generator, or a model fitted to a whole log standing in
//! for the truth). The truth metrics and the feedback-loop simulation read it
//! through [`TrueRelevance`].
//!
//! Both truths share one calibration. A user u who logs n_u items is taken
//! to pick them by successive sampling ∝ w_ui = exp(s_ui) for some logit
//! s_ui; item i's relevance ρ_ui is its probability of being among the
//! picks, in the Poisson approximation of successive sampling (each item's
//! exponential clock with rate w_ui rings before a common time λ_u):
//! ρ_ui = 1 − exp(−λ_u w_ui), with λ_u such that Σ_i ρ_ui = n_u.

/// Each item's true relevance ρ_ui ∈ [0, 1] for a user, by dense ids.
pub trait TrueRelevance: Send + Sync {
    fn n_items(&self) -> usize;

    /// ρ_ui of every item for `user`, into `out` (n_items long).
    fn relevance(&self, user: u32, out: &mut [f64]);
}

/// ln λ_u for logits `logits` and n picks, shifted so that
/// ρ_i = −expm1(−exp(s_i + ln λ)) (see [`inclusion`]).
pub fn log_lambda(logits: &[f64], n: f64) -> f64 {
    let top = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let weights: Vec<f64> = logits.iter().map(|l| (l - top).exp()).collect();
    solve_lambda(&weights, n).ln() - top
}

/// ρ = 1 − exp(−λ·exp(s)) from a logit and ln λ, without cancellation.
pub fn inclusion(logit: f64, log_lambda: f64) -> f64 {
    -(-(logit + log_lambda).exp()).exp_m1()
}

/// λ with Σ_i (1 − exp(−λ w_i)) = n (0 < n < #items): Newton's method from
/// λ = 0. The left side is increasing and concave in λ, so every step stays
/// left of the root and the iterates rise to it monotonically.
fn solve_lambda(weights: &[f64], n: f64) -> f64 {
    let mut lambda = 0.0f64;
    for _ in 0..200 {
        let (mut f, mut slope) = (-n, 0.0);
        for &w in weights {
            let e = (-lambda * w).exp();
            f += 1.0 - e;
            slope += w * e;
        }
        let step = -f / slope;
        lambda += step;
        if step.abs() <= 1e-13 * lambda {
            break;
        }
    }
    lambda
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relevances_are_probabilities_summing_to_the_count() {
        let logits: Vec<f64> = (0..50).map(|i| (f64::from(i) * 0.37).sin() * 3.0).collect();
        for n in [1.0, 7.0, 24.0] {
            let l = log_lambda(&logits, n);
            let rho: Vec<f64> = logits.iter().map(|&s| inclusion(s, l)).collect();
            assert!(rho.iter().all(|r| (0.0..=1.0).contains(r)));
            assert!((rho.iter().sum::<f64>() - n).abs() < 1e-9, "n = {n}");
            // Larger logits, larger relevance.
            let best = (0..50)
                .max_by(|&a, &b| logits[a].total_cmp(&logits[b]))
                .unwrap();
            assert!(rho.iter().all(|&r| r <= rho[best]));
        }
    }
}
