//! EASE (Steck 2019): a closed-form item–item linear model with a zero
//! diagonal. P = (XᵀX + λI)⁻¹, B = I − P·diag(1/diag(P)), score = x_u·B.
//! The inverse uses faer's Cholesky: XᵀX + λI is symmetric positive definite.

use faer::linalg::solvers::DenseSolveCore;
use faer::{Mat, Side};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::{
    FitInput, Fitted, ModelConfig, ModelError, ModelKind, ParamIssue, Params, Popularity, Scorer,
    ServingCost,
};
use crate::data::CsrMatrix;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EaseParams {
    /// Ridge strength λ. Its scale is that of co-occurrence counts, so useful
    /// values are large (tens to thousands), unlike the l2 of learned models.
    #[serde(default = "EaseParams::default_l2")]
    pub l2: f64,
    #[serde(default)]
    pub popularity: Popularity,
}

impl EaseParams {
    fn default_l2() -> f64 {
        500.0
    }
}

impl Default for EaseParams {
    fn default() -> Self {
        Self {
            l2: Self::default_l2(),
            popularity: Popularity::None,
        }
    }
}

impl Params for EaseParams {
    const KIND: ModelKind = ModelKind::Ease;

    fn check(&self) -> Vec<ParamIssue> {
        super::require(
            "l2",
            self.l2,
            self.l2 > 0.0,
            "must be > 0 (EASE's ridge λ keeps XᵀX + λI invertible; typical values 10–1000)",
        )
        .into_iter()
        .collect()
    }
}

/// Ridge strengths beyond this make every score underflow f32.
const MAX_USEFUL_L2: f64 = 1e30;

impl ModelConfig for EaseParams {
    config_basics!(stochastic: false);

    fn warnings(&self) -> Vec<String> {
        let mut out: Vec<String> = self.popularity.warning().into_iter().collect();
        // Scores shrink like 1/λ; stored as f32 they underflow to zero, and
        // then every list falls back to item-id order.
        if self.l2 > MAX_USEFUL_L2 {
            out.push(format!(
                "l2 {} shrinks every score below single precision: lists fall back to item-id order",
                crate::describe::number(self.l2)
            ));
        }
        out
    }

    fn fit(&self, input: &FitInput) -> Result<Fitted, ModelError> {
        let x = input.train;
        let n = x.n_cols();
        let gram = gram(x);
        let g = Mat::<f64>::from_fn(n, n, |i, j| {
            gram[i * n + j] + if i == j { self.l2 } else { 0.0 }
        });
        drop(gram);
        let llt = g.llt(Side::Lower).map_err(|e| ModelError::Numerical {
            model: "ease",
            message: format!("XᵀX + λI is not positive definite ({e:?}); raise l2"),
        })?;
        let p = llt.inverse();
        // B[i][j] = −P[i][j] / P[j][j] off the diagonal, 0 on it; stored by row.
        let mut weights = vec![0f32; n * n];
        weights.par_chunks_mut(n).enumerate().for_each(|(i, row)| {
            for (j, w) in row.iter_mut().enumerate() {
                if i != j {
                    *w = (-p[(i, j)] / p[(j, j)]) as f32;
                }
            }
        });
        Ok(Fitted::new(Box::new(Ease {
            weights,
            train: x.clone(),
            n_items: n,
        })))
    }
}

/// XᵀX as a dense row-major matrix: entry (i, j) counts users holding both.
/// Each row is computed independently (through the item's users), so the
/// parallel result is exact and order-free.
fn gram(x: &CsrMatrix) -> Vec<f64> {
    let n = x.n_cols();
    let by_item = x.transpose();
    let mut g = vec![0f64; n * n];
    g.par_chunks_mut(n).enumerate().for_each(|(i, row)| {
        for &u in by_item.row(i) {
            for &j in x.row(u as usize) {
                row[j as usize] += 1.0;
            }
        }
    });
    g
}

struct Ease {
    weights: Vec<f32>,
    train: CsrMatrix,
    n_items: usize,
}

impl Scorer for Ease {
    fn score_block(&self, users: &[u32], out: &mut [f32]) {
        out.fill(0.0);
        let n = self.n_items;
        for (row, &u) in out.chunks_exact_mut(n).zip(users) {
            for &j in self.train.row(u as usize) {
                let b = &self.weights[j as usize * n..(j as usize + 1) * n];
                for (s, w) in row.iter_mut().zip(b) {
                    *s += w;
                }
            }
        }
    }

    fn cost(&self) -> ServingCost {
        let n = self.n_items as u64;
        let mean_history = self.train.nnz() as u64 / self.train.n_rows().max(1) as u64;
        ServingCost {
            parameters: n * n,
            madds_per_user: mean_history * n,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::NO_FEATURES;

    #[test]
    fn closed_form_matches_a_hand_inverted_two_item_case() {
        // Two items, both held by users 0 and 1; item 0 also by user 2.
        // XᵀX = [[3, 2], [2, 2]]; with λ = 1: G = [[4, 2], [2, 3]], det 8,
        // P = [[3, −2], [−2, 4]] / 8; B01 = −P01/P11 = 2/4 = 0.5, B10 = 2/3.
        let x = CsrMatrix::from_pairs(3, 2, &[(0, 0), (0, 1), (1, 0), (1, 1), (2, 0)]);
        let pop = x.column_counts();
        let model = EaseParams {
            l2: 1.0,
            popularity: Popularity::None,
        }
        .fit(&FitInput {
            train: &x,
            item_popularity: &pop,
            seed: 0,
            negatives: None,
            monitor: None,
            features: &NO_FEATURES,
        })
        .unwrap()
        .scorer;
        let mut out = vec![0.0; 2];
        model.score_block(&[2], &mut out); // user 2 holds item 0: row B0
        assert!(
            (out[0] - 0.0).abs() < 1e-6 && (out[1] - 0.5).abs() < 1e-6,
            "{out:?}"
        );
        let mut both = vec![0.0; 2];
        model.score_block(&[0], &mut both); // user 0 holds both: B0 + B1
        assert!(
            (both[0] - 2.0 / 3.0).abs() < 1e-6 && (both[1] - 0.5).abs() < 1e-6,
            "{both:?}"
        );
    }
}
