//! Multiplicity corrections over a family of p-values, as statsmodels'
//! multipletests (`holm`, `bonferroni`, `fdr_bh`).

use serde::{Deserialize, Serialize};

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Correction {
    /// Holm–Bonferroni step-down: controls the family-wise error rate,
    /// uniformly more powerful than Bonferroni.
    #[default]
    Holm,
    Bonferroni,
    /// Benjamini–Hochberg step-up: controls the false discovery rate.
    BenjaminiHochberg,
    None,
}

impl Correction {
    pub fn as_str(self) -> &'static str {
        match self {
            Correction::Holm => "holm",
            Correction::Bonferroni => "bonferroni",
            Correction::BenjaminiHochberg => "benjamini_hochberg",
            Correction::None => "none",
        }
    }
}

/// Adjusted p-values, in the input order. Each is ≥ its raw p and ≤ 1; a
/// family of one is left unchanged.
pub fn adjust(p: &[f64], method: Correction) -> Vec<f64> {
    let m = p.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    let mut adjusted = vec![0.0; m];
    match method {
        Correction::None => adjusted.copy_from_slice(p),
        Correction::Bonferroni => {
            for (a, &raw) in adjusted.iter_mut().zip(p) {
                *a = (raw * m as f64).min(1.0);
            }
        }
        Correction::Holm => {
            let mut running = 0.0f64;
            for (rank, &i) in order.iter().enumerate() {
                running = running.max((m - rank) as f64 * p[i]);
                adjusted[i] = running.min(1.0);
            }
        }
        Correction::BenjaminiHochberg => {
            let mut running = f64::INFINITY;
            for (rank, &i) in order.iter().enumerate().rev() {
                running = running.min(p[i] / ((rank + 1) as f64 / m as f64));
                adjusted[i] = running.min(1.0);
            }
        }
    }
    adjusted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_families() {
        let p = [0.01, 0.04, 0.03, 0.005];
        // Holm: sorted 0.005·4, 0.01·3, 0.03·2, 0.04·1 → 0.02, 0.03, 0.06, 0.06 (monotone).
        let holm = adjust(&p, Correction::Holm);
        let expected = [0.03, 0.06, 0.06, 0.02];
        for (a, e) in holm.iter().zip(expected) {
            assert!((a - e).abs() < 1e-15, "{holm:?}");
        }
        // BH: sorted 0.005·4/1, 0.01·4/2, 0.03·4/3, 0.04·4/4 → 0.02, 0.02, 0.04, 0.04.
        let bh = adjust(&p, Correction::BenjaminiHochberg);
        let expected = [0.02, 0.04, 0.04, 0.02];
        for (a, e) in bh.iter().zip(expected) {
            assert!((a - e).abs() < 1e-15, "{bh:?}");
        }
        assert_eq!(adjust(&[0.3], Correction::Holm), vec![0.3]);
        assert_eq!(adjust(&[0.3, 0.6], Correction::Bonferroni), vec![0.6, 1.0]);
    }
}
