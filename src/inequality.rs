//! Inequality of counts over a catalogue: a leaf shared by the data module
//! (the popularity Gini of a dataset) and evaluation (the Gini of exposure).

/// Gini index of counts over the whole catalogue (items never counted —
/// never recommended, never interacted with — count as 0): 0 = equal exposure, towards 1 = concentrated.
pub fn gini(exposure: &[u32]) -> f64 {
    let n = exposure.len();
    let total: f64 = exposure.iter().map(|&c| f64::from(c)).sum();
    if n == 0 || total == 0.0 {
        return 0.0;
    }
    let mut sorted = exposure.to_vec();
    sorted.sort_unstable();
    let weighted: f64 = sorted
        .iter()
        .enumerate()
        .map(|(j, &c)| (2.0 * (j + 1) as f64 - n as f64 - 1.0) * f64::from(c))
        .sum();
    weighted / (n as f64 * total)
}

#[cfg(test)]
mod tests {
    use super::gini;

    #[test]
    fn gini_of_counts() {
        assert_eq!(gini(&[5, 5, 5, 5]), 0.0);
        assert_eq!(gini(&[]), 0.0);
        // One item gets everything among 4: G = (n−1)/n = 0.75.
        assert_eq!(gini(&[0, 0, 0, 7]), 0.75);
        // Sorted 1,2,3: Σ(2j−n−1)c = −2·1 + 0 + 2·3 = 4; /(3·6) = 2/9.
        assert!((gini(&[3, 1, 2]) - 2.0 / 9.0).abs() < 1e-12);
    }
}
