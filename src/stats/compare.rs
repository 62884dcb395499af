//! Everything `recsweep compare` and the report say about two paired
//! samples: means, every test, the bootstrap interval and effect sizes.

use serde::{Deserialize, Serialize};

use super::resampling::{bootstrap_ci, permutation};
use super::tests_paired::{paired_t, wilcoxon};
use super::{differences, mean, variance, StatsError, TestResult};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CompareOptions {
    pub permutations: usize,
    pub resamples: usize,
    pub confidence: f64,
    pub seed: u64,
}

impl Default for CompareOptions {
    fn default() -> Self {
        Self {
            permutations: super::DEFAULT_PERMUTATIONS,
            resamples: super::DEFAULT_RESAMPLES,
            confidence: super::DEFAULT_CONFIDENCE,
            seed: 0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PermutationOutcome {
    pub p_value: f64,
    pub permutations: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    pub ci_low: f64,
    pub ci_high: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Tests {
    pub paired_t: TestResult,
    pub wilcoxon: TestResult,
    pub permutation: PermutationOutcome,
    pub bootstrap: Interval,
}

/// Effect sizes; absent where undefined (B's mean is 0; the differences do
/// not vary).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Effect {
    /// (mean A − mean B) / mean B.
    pub relative_diff: Option<f64>,
    /// Cohen's d_z: mean difference / standard deviation of differences.
    pub cohens_dz: Option<f64>,
}

/// The comparison of A and B on one metric; differences are A − B. The
/// JSON form is stable (docs/statistics.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    pub metric: String,
    pub n: usize,
    pub mean_a: f64,
    pub mean_b: f64,
    pub mean_diff: f64,
    pub tests: Tests,
    pub effect: Effect,
    /// Over users and seeds, where a side has several seeds (a model of a
    /// results folder); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub users_and_seeds: Option<OverSeeds>,
}

/// The difference over users and seeds (docs/statistics.md, "Users and
/// seeds").
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct OverSeeds {
    pub seeds_a: usize,
    pub seeds_b: usize,
    pub ci_low: f64,
    pub ci_high: f64,
    pub df: f64,
    pub p_value: f64,
    /// Whether the seeds added variance beyond the users'.
    pub seeds_matter: bool,
    #[serde(skip)]
    estimate: super::Estimate,
}

impl OverSeeds {
    /// From `[seed][user]` values of each side, users aligned.
    pub fn of(a: &[Vec<f64>], b: &[Vec<f64>], confidence: f64) -> Option<Self> {
        let e = super::difference_over_users_and_seeds(a, b)?;
        let (ci_low, ci_high) = e.interval(confidence).unwrap_or((e.estimate, e.estimate));
        Some(Self {
            seeds_a: a.len(),
            seeds_b: b.len(),
            ci_low,
            ci_high,
            df: e.df,
            p_value: e.p_value(),
            seeds_matter: e.seeds_matter(),
            estimate: e,
        })
    }

    /// The verdict's p-value as the report decides it
    /// ([`super::Estimate::decide`]).
    pub fn decide(&self, test: super::TestKind, users_p: f64) -> f64 {
        self.estimate.decide(test, users_p)
    }
}

impl Effect {
    /// Effect sizes of the differences `d` = A − B, given B's mean.
    pub fn of(mean_b: f64, d: &[f64]) -> Self {
        let mean_diff = mean(d);
        let sd = variance(d).sqrt();
        Self {
            relative_diff: (mean_b != 0.0).then(|| mean_diff / mean_b),
            cohens_dz: (sd > 0.0).then(|| mean_diff / sd),
        }
    }
}

pub fn compare(
    metric: &str,
    a: &[f64],
    b: &[f64],
    options: &CompareOptions,
) -> Result<Comparison, StatsError> {
    let d = differences(a, b)?;
    let (mean_a, mean_b, mean_diff) = (mean(a), mean(b), mean(&d));
    let (ci_low, ci_high) = bootstrap_ci(&d, options.resamples, options.seed, options.confidence)?;
    Ok(Comparison {
        metric: metric.to_string(),
        n: d.len(),
        mean_a,
        mean_b,
        mean_diff,
        tests: Tests {
            paired_t: paired_t(&d)?,
            wilcoxon: wilcoxon(&d)?,
            permutation: PermutationOutcome {
                p_value: permutation(&d, options.permutations, options.seed)?,
                permutations: options.permutations,
            },
            bootstrap: Interval { ci_low, ci_high },
        },
        effect: Effect::of(mean_b, &d),
        users_and_seeds: None,
    })
}
