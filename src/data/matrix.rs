//! The one interaction-matrix type every model and metric shares: binary,
//! compressed sparse rows, column indices sorted within each row.

/// A binary sparse matrix in CSR form (rows are users unless transposed).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CsrMatrix {
    n_rows: usize,
    n_cols: usize,
    indptr: Vec<usize>,
    indices: Vec<u32>,
}

impl CsrMatrix {
    /// Builds from (row, col) pairs in any order; duplicates collapse to one.
    pub fn from_pairs(n_rows: usize, n_cols: usize, pairs: &[(u32, u32)]) -> Self {
        let mut counts = vec![0usize; n_rows + 1];
        for &(r, _) in pairs {
            counts[r as usize + 1] += 1;
        }
        for r in 0..n_rows {
            counts[r + 1] += counts[r];
        }
        let mut indices = vec![0u32; pairs.len()];
        let mut next = counts.clone();
        for &(r, c) in pairs {
            indices[next[r as usize]] = c;
            next[r as usize] += 1;
        }
        // Sort and deduplicate each row, compacting in place.
        let mut indptr = Vec::with_capacity(n_rows + 1);
        indptr.push(0);
        let mut write = 0;
        for r in 0..n_rows {
            let row = &mut indices[counts[r]..counts[r + 1]];
            row.sort_unstable();
            let mut last = None;
            for read in counts[r]..counts[r + 1] {
                let c = indices[read];
                if last != Some(c) {
                    indices[write] = c;
                    write += 1;
                    last = Some(c);
                }
            }
            indptr.push(write);
        }
        indices.truncate(write);
        Self {
            n_rows,
            n_cols,
            indptr,
            indices,
        }
    }

    pub fn n_rows(&self) -> usize {
        self.n_rows
    }

    pub fn n_cols(&self) -> usize {
        self.n_cols
    }

    pub fn nnz(&self) -> usize {
        self.indices.len()
    }

    /// The sorted column indices of row `r`.
    pub fn row(&self, r: usize) -> &[u32] {
        &self.indices[self.indptr[r]..self.indptr[r + 1]]
    }

    pub fn contains(&self, r: usize, c: u32) -> bool {
        self.row(r).binary_search(&c).is_ok()
    }

    /// Non-zeros per column (item popularity for a user × item matrix).
    pub fn column_counts(&self) -> Vec<u32> {
        let mut counts = vec![0u32; self.n_cols];
        for &c in &self.indices {
            counts[c as usize] += 1;
        }
        counts
    }

    /// Rows with at least one entry.
    pub fn nonempty_rows(&self) -> Vec<u32> {
        (0..self.n_rows)
            .filter(|&r| self.indptr[r + 1] > self.indptr[r])
            .map(|r| r as u32)
            .collect()
    }

    pub fn transpose(&self) -> Self {
        let pairs: Vec<(u32, u32)> = self.pairs().map(|(r, c)| (c, r)).collect();
        Self::from_pairs(self.n_cols, self.n_rows, &pairs)
    }

    pub fn pairs(&self) -> impl Iterator<Item = (u32, u32)> + '_ {
        (0..self.n_rows).flat_map(move |r| self.row(r).iter().map(move |&c| (r as u32, c)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_sorted_and_deduplicated() {
        let m = CsrMatrix::from_pairs(3, 4, &[(2, 3), (0, 1), (2, 0), (0, 1), (2, 3)]);
        assert_eq!(m.row(0), &[1]);
        assert_eq!(m.row(1), &[] as &[u32]);
        assert_eq!(m.row(2), &[0, 3]);
        assert_eq!(m.nnz(), 3);
        assert_eq!(m.column_counts(), vec![1, 1, 0, 1]);
        assert_eq!(m.nonempty_rows(), vec![0, 2]);
        let t = m.transpose();
        assert_eq!(t.row(3), &[2]);
        assert_eq!(t.transpose(), m);
    }
}
