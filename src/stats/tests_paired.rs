//! The paired t-test and the Wilcoxon signed-rank test, with the semantics of
//! scipy.stats.ttest_rel and scipy.stats.wilcoxon (SciPy 1.17, default
//! arguments), which docs/statistics.md spells out.

use statrs::function::beta::beta_reg;
use statrs::function::erf::erfc;

use super::{mean, variance, StatsError, TestResult};

/// Two-sided paired t-test on differences `d` (scipy.stats.ttest_rel).
/// All-zero differences give t = 0, p = 1 (scipy returns NaN there).
pub fn paired_t(d: &[f64]) -> Result<TestResult, StatsError> {
    let n = d.len();
    if n < 2 {
        return Err(StatsError::TooFew { n });
    }
    let m = mean(d);
    let var = variance(d);
    if var == 0.0 {
        let (statistic, p_value) = if m == 0.0 {
            (0.0, 1.0)
        } else {
            (m.signum() * f64::INFINITY, 0.0)
        };
        return Ok(TestResult { statistic, p_value });
    }
    let t = m / (var / n as f64).sqrt();
    let df = (n - 1) as f64;
    // P(|T| ≥ |t|) = I_{df/(df+t²)}(df/2, 1/2).
    let p_value = beta_reg(df / 2.0, 0.5, df / (df + t * t));
    Ok(TestResult {
        statistic: t,
        p_value,
    })
}

/// How scipy's `method='auto'` resolves for a sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WilcoxonMethod {
    Exact,
    SignFlips,
    Normal,
}

/// Two-sided Wilcoxon signed-rank test on differences `d`, as
/// scipy.stats.wilcoxon(d) with its defaults: zero differences dropped
/// (`zero_method='wilcox'`), no continuity correction; the exact null
/// distribution when n ≤ 50 with no ties and no zeros, exact enumeration of
/// sign flips when n ≤ 13 otherwise, else the normal approximation with tie
/// correction (n counts zeros, as in scipy). The statistic is min(W+, W−).
/// All-zero differences give p = 1.
pub fn wilcoxon(d: &[f64]) -> Result<TestResult, StatsError> {
    let n_total = d.len();
    if n_total < 2 {
        return Err(StatsError::TooFew { n: n_total });
    }
    let nonzero: Vec<f64> = d.iter().copied().filter(|&x| x != 0.0).collect();
    let count = nonzero.len();
    if count == 0 {
        return Ok(TestResult {
            statistic: 0.0,
            p_value: 1.0,
        });
    }
    let (ranks, ties) = average_ranks(&nonzero);
    let r_plus: f64 = nonzero
        .iter()
        .zip(&ranks)
        .filter(|(x, _)| **x > 0.0)
        .map(|(_, r)| r)
        .sum();
    let r_minus: f64 = nonzero
        .iter()
        .zip(&ranks)
        .filter(|(x, _)| **x < 0.0)
        .map(|(_, r)| r)
        .sum();
    let has_ties = ties.iter().any(|&t| t > 1);
    let method = if n_total > 50 {
        WilcoxonMethod::Normal
    } else if !has_ties && count == n_total {
        WilcoxonMethod::Exact
    } else if n_total <= 13 {
        WilcoxonMethod::SignFlips
    } else {
        WilcoxonMethod::Normal
    };
    let p_value = match method {
        WilcoxonMethod::Normal => {
            let c = count as f64;
            let tie_term: f64 = ties.iter().map(|&t| (t as f64).powi(3) - t as f64).sum();
            let se = ((c * (c + 1.0) * (2.0 * c + 1.0) - tie_term / 2.0) / 24.0).sqrt();
            if se == 0.0 {
                1.0
            } else {
                let z = (r_plus - c * (c + 1.0) / 4.0) / se;
                erfc(z.abs() / std::f64::consts::SQRT_2)
            }
        }
        WilcoxonMethod::Exact => {
            let counts = signed_rank_counts(count);
            let total: f64 = counts.iter().sum();
            let k = r_plus.round() as usize;
            let cdf: f64 = counts[..=k].iter().sum::<f64>() / total;
            let sf: f64 = counts[k..].iter().sum::<f64>() / total;
            (2.0 * cdf.min(sf)).min(1.0)
        }
        WilcoxonMethod::SignFlips => sign_flip_p(&ranks, r_plus),
    };
    Ok(TestResult {
        statistic: r_plus.min(r_minus),
        p_value,
    })
}

/// Average ranks of |x| (1-based) and the size of each tie group.
fn average_ranks(x: &[f64]) -> (Vec<f64>, Vec<usize>) {
    let mut order: Vec<usize> = (0..x.len()).collect();
    order.sort_by(|&a, &b| x[a].abs().total_cmp(&x[b].abs()));
    let mut ranks = vec![0.0; x.len()];
    let mut ties = Vec::new();
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && x[order[end]].abs() == x[order[start]].abs() {
            end += 1;
        }
        let rank = (start + 1 + end) as f64 / 2.0;
        for &i in &order[start..end] {
            ranks[i] = rank;
        }
        ties.push(end - start);
        start = end;
    }
    (ranks, ties)
}

/// counts[w]: how many of the 2^n sign assignments of ranks 1..n give W+ = w.
fn signed_rank_counts(n: usize) -> Vec<f64> {
    let max = n * (n + 1) / 2;
    let mut counts = vec![0.0; max + 1];
    counts[0] = 1.0;
    for rank in 1..=n {
        for w in (rank..=max).rev() {
            counts[w] += counts[w - rank];
        }
    }
    counts
}

/// scipy's exact permutation test of W+ (used for n ≤ 13 with ties or zeros):
/// every sign assignment enumerated; comparisons allow a relative tolerance
/// of 100 machine epsilons, as scipy.stats.permutation_test does.
fn sign_flip_p(ranks: &[f64], observed: f64) -> f64 {
    let n = ranks.len();
    let gamma = (100.0 * f64::EPSILON * observed).abs();
    let (mut less, mut greater) = (0u64, 0u64);
    for mask in 0u64..(1 << n) {
        let w: f64 = (0..n)
            .filter(|&i| mask >> i & 1 == 1)
            .map(|i| ranks[i])
            .sum();
        less += u64::from(w <= observed + gamma);
        greater += u64::from(w >= observed - gamma);
    }
    let total = (1u64 << n) as f64;
    (2.0 * (less as f64 / total).min(greater as f64 / total)).min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_distribution_of_small_n() {
        // n = 3: W+ ∈ {0,1,2,3,3,4,5,6} over 8 sign assignments.
        assert_eq!(
            signed_rank_counts(3),
            vec![1.0, 1.0, 1.0, 2.0, 1.0, 1.0, 1.0]
        );
        // All positive, n = 5: p = 2 · (1/32).
        let r = wilcoxon(&[1.0, 2.0, 3.0, 4.0, 5.0]).unwrap();
        assert_eq!((r.statistic, r.p_value), (0.0, 0.0625));
    }

    #[test]
    fn degenerate_samples_never_give_nan() {
        assert_eq!(wilcoxon(&[0.0, 0.0, 0.0]).unwrap().p_value, 1.0);
        assert_eq!(paired_t(&[0.0, 0.0, 0.0]).unwrap().p_value, 1.0);
        assert_eq!(paired_t(&[2.0, 2.0]).unwrap().p_value, 0.0);
        assert!(matches!(paired_t(&[1.0]), Err(StatsError::TooFew { n: 1 })));
    }

    #[test]
    fn ranks_average_ties() {
        let (ranks, ties) = average_ranks(&[-2.0, 1.0, 2.0, 3.0]);
        assert_eq!(ranks, vec![2.5, 1.0, 2.5, 4.0]);
        assert_eq!(ties, vec![1, 2, 1]);
    }
}
