//! Successive halving's promotions (Jamieson & Talwalkar 2016): of a rung's
//! configurations, the best 1/eta by validation loss train again with more
//! epochs. Synchronous: a rung is promoted once all of it is stored, so the
//! promotions never depend on which trial finished first.

/// Positions (into `rung`) of the configurations promoted from a rung, best
/// first: the ⌈n/eta⌉ lowest losses of its n configurations, ties to the
/// earlier position. Failed configurations (None) are never promoted; a rung
/// whose every configuration failed promotes none.
pub fn promote(rung: &[Option<f64>], eta: u64) -> Vec<usize> {
    let keep = rung.len().div_ceil(eta.max(1) as usize);
    let mut finished: Vec<(usize, f64)> = rung
        .iter()
        .enumerate()
        .filter_map(|(i, l)| l.filter(|l| l.is_finite()).map(|l| (i, l)))
        .collect();
    finished.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
    finished.into_iter().take(keep).map(|(i, _)| i).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Fidelity;

    #[test]
    fn rungs_multiply_by_eta_and_end_at_the_most() {
        let rungs = |epochs, eta| Fidelity { epochs, eta }.rungs();
        assert_eq!(rungs([1, 9], 3), vec![1, 3, 9]);
        assert_eq!(rungs([2, 30], 3), vec![2, 6, 18, 30]);
        assert_eq!(rungs([5, 6], 2), vec![5, 6]);
    }

    /// A fixed table of nine configurations' losses after 1, 3 and 9
    /// epochs; halving with eta 3 keeps exactly the expected ones.
    #[test]
    fn a_fixed_table_promotes_exactly_the_expected_configurations() {
        let after = [
            // epochs:  1     3     9
            [0.90, 0.60, 0.50], // 0
            [0.50, 0.40, 0.35], // 1: best early
            [0.80, 0.30, 0.20], // 2: good late, fourth after 1 epoch: pruned
            [0.95, 0.90, 0.85], // 3
            [0.70, 0.65, 0.60], // 4: second after 1 epoch
            [0.85, 0.10, 0.05], // 5: best of all at 9, fifth after 1: pruned
            [0.99, 0.98, 0.97], // 6
            [0.88, 0.70, 0.69], // 7
            [0.75, 0.74, 0.73], // 8
        ];
        let rung0: Vec<Option<f64>> = after.iter().map(|a| Some(a[0])).collect();
        let first = promote(&rung0, 3);
        assert_eq!(first, vec![1, 4, 8]);
        let rung1: Vec<Option<f64>> = first.iter().map(|&c| Some(after[c][1])).collect();
        let second: Vec<usize> = promote(&rung1, 3).iter().map(|&p| first[p]).collect();
        assert_eq!(second, vec![1]);
    }

    #[test]
    fn failures_are_never_promoted_and_ties_keep_order() {
        assert_eq!(promote(&[None, Some(0.5), Some(0.5), None], 2), vec![1, 2]);
        assert_eq!(promote(&[None, None, None], 3), Vec::<usize>::new());
        assert_eq!(promote(&[Some(0.2)], 3), vec![0]);
    }
}
