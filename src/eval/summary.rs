//! Summaries over users: the mean of each per-user metric with a 95%
//! confidence interval, and the catalogue-level metrics.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, StudentsT};

use super::formulas::coverage;
use super::metrics::{CatalogueMetric, MetricId, MetricSet};
use super::{PerUser, TopLists};
use crate::inequality::gini;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MetricSummary {
    pub mean: f64,
    /// Half-width of the 95% t-interval of the mean over users; absent for
    /// catalogue-level metrics and fewer than two users.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci95: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Evaluated users: those with at least one held-out item.
    pub users: usize,
    pub metrics: BTreeMap<MetricId, MetricSummary>,
}

impl Summary {
    pub fn new(per_user: &PerUser, lists: &TopLists, set: &MetricSet, n_items: usize) -> Self {
        Self {
            users: per_user.users.len(),
            metrics: summarise(
                &per_user.columns,
                &per_user.values,
                &lists.items,
                set,
                n_items,
            )
            .into_iter()
            .collect(),
        }
    }

    pub fn get(&self, metric: MetricId) -> Option<MetricSummary> {
        self.metrics.get(&metric).copied()
    }
}

/// Each per-user column's mean and interval (in column order), then each
/// catalogue-level metric of `set` from the exposure of `lists` cut at its
/// K: the one aggregation behind trial summaries and `recsweep evaluate`.
pub fn summarise(
    columns: &[MetricId],
    values: &[Vec<f64>],
    lists: &[Vec<u32>],
    set: &MetricSet,
    n_items: usize,
) -> Vec<(MetricId, MetricSummary)> {
    let mut out: Vec<(MetricId, MetricSummary)> = columns
        .iter()
        .zip(values)
        .map(|(column, values)| {
            let (mean, ci95) = mean_ci95(values);
            (*column, MetricSummary { mean, ci95 })
        })
        .collect();
    for (column, metric) in set.global_columns() {
        let mut exposure = vec![0u32; n_items];
        for list in lists {
            for &i in &list[..column.k.min(list.len())] {
                exposure[i as usize] += 1;
            }
        }
        let mean = match metric {
            CatalogueMetric::Coverage => coverage(&exposure),
            CatalogueMetric::Gini => gini(&exposure),
        };
        out.push((column, MetricSummary { mean, ci95: None }));
    }
    out
}

/// Mean and 95% t-interval half-width (None below two values), over the
/// defined values: stratified metrics and pop_lift are NaN for users where
/// they are undefined, and average over the others. An infinite value is
/// kept, so it shows in the mean instead of silently shrinking the users
/// averaged over.
pub fn mean_ci95(values: &[f64]) -> (f64, Option<f64>) {
    let defined: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
    let values = &defined[..];
    let n = values.len();
    if n == 0 {
        return (0.0, None);
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    if n < 2 {
        return (mean, None);
    }
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    let t = StudentsT::new(0.0, 1.0, (n - 1) as f64)
        .expect("degrees of freedom ≥ 1")
        .inverse_cdf(0.975);
    (mean, Some(t * (var / n as f64).sqrt()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t_interval_matches_the_textbook_value() {
        // 1..=5: mean 3, s = √2.5, t(0.975, 4) = 2.776445105.
        let (mean, ci) = mean_ci95(&[1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(mean, 3.0);
        let expected = 2.776_445_105 * (2.5f64 / 5.0).sqrt();
        assert!((ci.unwrap() - expected).abs() < 1e-8, "{ci:?}");
        assert_eq!(mean_ci95(&[4.0]), (4.0, None));
        // Undefined (NaN) values are left out; an infinite one is not.
        assert_eq!(mean_ci95(&[f64::NAN, 4.0]), (4.0, None));
        assert_eq!(mean_ci95(&[f64::INFINITY, 4.0]).0, f64::INFINITY);
    }
}
