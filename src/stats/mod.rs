//! Paired significance tests over users, effect sizes and multiplicity
//! corrections: pure functions over slices, seeded where random, with
//! reference values from scipy and statsmodels in tests/fixtures/stats.
//!
//! statrs supplies the special functions (regularised incomplete beta, erfc);
//! the tests themselves are written here because no Rust crate implements
//! scipy's exact semantics (Wilcoxon's automatic method choice, zero handling,
//! tie correction) or a fast seeded sign-flip test.

mod agreement;
mod compare;
mod correction;
mod resampling;
mod seeds;
mod selection;
mod tests_paired;

use serde::{Deserialize, Serialize};

pub use agreement::{tau_intervals, TauIntervals, AGREEMENT_RESAMPLES};
pub use compare::{
    compare, CompareOptions, Comparison, Effect, Interval, OverSeeds, PermutationOutcome, Tests,
};
pub use correction::{adjust, Correction};
pub use resampling::{bootstrap_ci, permutation};
pub use seeds::{difference_over_users_and_seeds, mean_over_users_and_seeds, Estimate};
pub use selection::{selection_probability, SELECTION_RESAMPLES};
pub use tests_paired::{paired_t, wilcoxon};

/// Sign flips of the permutation test unless a spec or flag says otherwise.
pub const DEFAULT_PERMUTATIONS: usize = 10_000;
/// Resamples of the bootstrap interval by default.
pub const DEFAULT_RESAMPLES: usize = 10_000;
/// Significance level of verdicts by default.
pub const DEFAULT_ALPHA: f64 = 0.05;
/// Confidence of intervals by default.
pub const DEFAULT_CONFIDENCE: f64 = 0.95;

/// A test statistic and its two-sided p-value.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TestResult {
    pub statistic: f64,
    pub p_value: f64,
}

/// Which test decides significance.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum TestKind {
    #[default]
    PairedT,
    Wilcoxon,
    Permutation,
}

impl TestKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TestKind::PairedT => "paired_t",
            TestKind::Wilcoxon => "wilcoxon",
            TestKind::Permutation => "permutation",
        }
    }
}

impl std::str::FromStr for TestKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "paired_t" => Ok(TestKind::PairedT),
            "wilcoxon" => Ok(TestKind::Wilcoxon),
            "permutation" => Ok(TestKind::Permutation),
            _ => Err(format!(
                "unknown test `{s}` (allowed: paired_t, wilcoxon, permutation)"
            )),
        }
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StatsError {
    #[error("a paired test needs at least 2 users, got {n}")]
    TooFew { n: usize },
    #[error("the samples differ in length ({a} and {b})")]
    Length { a: usize, b: usize },
    #[error("value {index} is not a finite number ({value})")]
    NotFinite { index: usize, value: f64 },
}

/// The paired differences a − b, checked.
pub fn differences(a: &[f64], b: &[f64]) -> Result<Vec<f64>, StatsError> {
    if a.len() != b.len() {
        return Err(StatsError::Length {
            a: a.len(),
            b: b.len(),
        });
    }
    for (index, &value) in a.iter().chain(b).enumerate() {
        if !value.is_finite() {
            return Err(StatsError::NotFinite {
                index: index % a.len().max(1),
                value,
            });
        }
    }
    if a.len() < 2 {
        return Err(StatsError::TooFew { n: a.len() });
    }
    Ok(a.iter().zip(b).map(|(x, y)| x - y).collect())
}

/// Two users' columns paired over the users where both are defined.
#[derive(Debug, Clone, PartialEq)]
pub struct DefinedPairs {
    pub a: Vec<f64>,
    pub b: Vec<f64>,
    /// Users left out because either side is NaN (undefined).
    pub dropped: usize,
}

/// Pairs `a[i]` with `b[i]` where both are defined. Stratified metrics
/// (recall_tail, ndcg_head, …) and pop_lift are NaN for users where they are
/// undefined; a paired test over such a metric compares the users for whom
/// both sides have a value. Infinite values are kept, so [`differences`]
/// still rejects them as errors.
pub fn defined_pairs(a: &[f64], b: &[f64]) -> Result<DefinedPairs, StatsError> {
    if a.len() != b.len() {
        return Err(StatsError::Length {
            a: a.len(),
            b: b.len(),
        });
    }
    let mut out = DefinedPairs {
        a: Vec::with_capacity(a.len()),
        b: Vec::with_capacity(b.len()),
        dropped: 0,
    };
    for (&x, &y) in a.iter().zip(b) {
        if x.is_nan() || y.is_nan() {
            out.dropped += 1;
        } else {
            out.a.push(x);
            out.b.push(y);
        }
    }
    Ok(out)
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

/// Sample variance (n − 1 denominator), two-pass as numpy computes it.
fn variance(values: &[f64]) -> f64 {
    let m = mean(values);
    values.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (values.len() - 1) as f64
}

/// Kendall's τ-b between two orderings (scipy.stats.kendalltau's default):
/// (concordant − discordant) / √((n₀ − ties in x)(n₀ − ties in y)). None
/// when undefined (fewer than two items, or one side all tied).
pub fn kendall_tau_b(x: &[f64], y: &[f64]) -> Option<f64> {
    let n = x.len().min(y.len());
    let (mut concordant, mut discordant, mut ties_x, mut ties_y) = (0i64, 0i64, 0i64, 0i64);
    for i in 0..n {
        for j in i + 1..n {
            let sx = (x[i] - x[j]).partial_cmp(&0.0).map_or(0, |o| o as i64);
            let sy = (y[i] - y[j]).partial_cmp(&0.0).map_or(0, |o| o as i64);
            match sx * sy {
                1 => concordant += 1,
                -1 => discordant += 1,
                _ => {}
            }
            ties_x += i64::from(sx == 0);
            ties_y += i64::from(sy == 0);
        }
    }
    let pairs = (n * n.saturating_sub(1) / 2) as i64;
    let denominator = (((pairs - ties_x) * (pairs - ties_y)) as f64).sqrt();
    (denominator > 0.0).then(|| (concordant - discordant) as f64 / denominator)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defined_pairs_drop_users_undefined_on_either_side() {
        let nan = f64::NAN;
        let p = defined_pairs(&[1.0, nan, 0.5, 0.0], &[0.0, 1.0, nan, 0.25]).unwrap();
        assert_eq!(p.a, vec![1.0, 0.0]);
        assert_eq!(p.b, vec![0.0, 0.25]);
        assert_eq!(p.dropped, 2);
        assert!(defined_pairs(&[1.0], &[1.0, 2.0]).is_err());
        // Infinite values are not "undefined": they reach differences' check.
        let inf = defined_pairs(&[f64::INFINITY, 1.0], &[0.0, 1.0]).unwrap();
        assert!(differences(&inf.a, &inf.b).is_err());
    }

    #[test]
    fn kendall_tau_b_matches_scipy() {
        // scipy.stats.kendalltau([1,2,3,4,5], [3,1,2,5,4]).statistic = 0.4
        assert!(
            (kendall_tau_b(&[1.0, 2.0, 3.0, 4.0, 5.0], &[3.0, 1.0, 2.0, 5.0, 4.0]).unwrap() - 0.4)
                .abs()
                < 1e-12
        );
        // With ties on both sides: 0.4 as well (scipy).
        let tau = kendall_tau_b(&[1.0, 2.0, 2.0, 3.0], &[1.0, 3.0, 2.0, 2.0]).unwrap();
        assert!((tau - 0.4).abs() < 1e-12, "{tau}");
        assert_eq!(kendall_tau_b(&[1.0], &[2.0]), None);
        assert_eq!(kendall_tau_b(&[1.0, 1.0], &[2.0, 3.0]), None);
    }
}
