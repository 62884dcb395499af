//! Dense user and item factors scored by dot product: the scoring side of
//! every factor model (MF, two-tower outputs, iALS). A block of users costs one
//! matrix product (faer's GEMM), which is what makes full ranking affordable.

use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatMut, MatRef, Par};

use super::{Scorer, ServingCost};

pub struct DotProduct {
    dim: usize,
    /// n_users × dim, row-major: a user's factors are contiguous.
    users: Vec<f32>,
    /// n_items × dim.
    items: Mat<f32>,
    /// Reported serving cost, when a model adds to the plain dot product
    /// (towers in front of the factors).
    cost: Option<ServingCost>,
}

impl DotProduct {
    /// `users` and `items` are row-major (`n × dim`).
    pub fn new(dim: usize, users: Vec<f32>, items: &[f32]) -> Self {
        let n_items = items.len() / dim.max(1);
        Self {
            dim,
            users,
            items: Mat::from_fn(n_items, dim, |i, k| items[i * dim + k]),
            cost: None,
        }
    }

    /// The same scorer reporting `cost` instead of the dot product's own.
    pub fn with_cost(self, cost: ServingCost) -> Self {
        Self {
            cost: Some(cost),
            ..self
        }
    }
}

impl Scorer for DotProduct {
    fn score_block(&self, users: &[u32], out: &mut [f32]) {
        let d = self.dim;
        // Gathered user factors as a dim × block column-major matrix.
        let mut gathered = Vec::with_capacity(users.len() * d);
        for &u in users {
            gathered.extend_from_slice(&self.users[u as usize * d..(u as usize + 1) * d]);
        }
        let rhs = MatRef::from_column_major_slice(&gathered, d, users.len());
        // Row-major block × items scores = column-major items × block.
        let dst = MatMut::from_column_major_slice_mut(out, self.items.nrows(), users.len());
        // Sequential inside a block: blocks already run in parallel, and a
        // fixed kernel keeps scores independent of the thread count.
        matmul(dst, Accum::Replace, self.items.as_ref(), rhs, 1.0, Par::Seq);
    }

    fn user_factors(&self) -> Option<(usize, &[f32])> {
        Some((self.dim, &self.users))
    }

    fn item_factors(&self) -> Option<(usize, Vec<f32>)> {
        let (n, d) = (self.items.nrows(), self.dim);
        Some((d, (0..n * d).map(|k| self.items[(k / d, k % d)]).collect()))
    }

    fn cost(&self) -> ServingCost {
        if let Some(cost) = self.cost {
            return cost;
        }
        let n_items = self.items.nrows() as u64;
        let d = self.dim as u64;
        ServingCost {
            parameters: (self.users.len() as u64) + n_items * d,
            madds_per_user: n_items * d,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_scores_are_dot_products_in_row_major_order() {
        // 3 users, 2 items, dim 2.
        let users = vec![1.0, 0.0, 0.0, 1.0, 1.0, 2.0];
        let items = [3.0, 4.0, -1.0, 0.5];
        let model = DotProduct::new(2, users, &items);
        let mut out = vec![0.0; 4];
        model.score_block(&[2, 0], &mut out);
        assert_eq!(out, vec![11.0, 0.0, 3.0, -1.0]);
    }
}
