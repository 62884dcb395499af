//! EASE (Steck 2019): a closed-form item–item linear model with a zero
//! diagonal. P = (XᵀX + λI)⁻¹, B = I − P·diag(1/diag(P)), score = x_u·B.
//! The inverse uses faer's Cholesky: XᵀX + λI is symmetric positive definite.
//! It is solved in f64 up to [`F64_MAX_ITEMS`] items and in f32 above, so a
//! 41K-item catalogue fits in memory.

use faer::Mat;
use rayon::prelude::*;

use super::spd_inverse::invert_lower_in_place;
use super::{
    shared, FitInput, Fitted, ModelConfig, ModelError, ModelKind, ParamDoc, Params, Popularity,
    Rule, Scorer, ServingCost,
};
use crate::data::CsrMatrix;

param_table! {
    pub struct EaseParams {
        // Its scale is that of co-occurrence counts, so useful values are
        // large, unlike the l2 of learned models.
        l2: f64 = 500.0 => ParamDoc::new(
            Rule::POSITIVE,
            "ridge λ of B = I − P·diag(1/diag P), P = (XᵀX + λI)⁻¹",
        )
        .because("EASE's ridge λ keeps XᵀX + λI invertible; typical values 10–1000"),
        popularity: Popularity = Popularity::None => shared::POPULARITY,
    }
}

impl Params for EaseParams {
    const KIND: ModelKind = ModelKind::Ease;
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
        let weights = if n <= F64_MAX_ITEMS {
            solve::<f64>(x, self.l2)?
        } else {
            solve::<f32>(x, self.l2)?
        };
        Ok(Fitted::new(Box::new(Ease {
            weights,
            train: x.clone(),
        })))
    }
}

/// Catalogues up to this size solve in f64; larger ones in f32. The solve
/// holds one n × n matrix and a quarter of one as scratch at its peak:
/// 2.7 GB in f64 at this size, 8.4 GB in f32 at Gowalla's 40,981 items,
/// where f64 would need 16.8 GB and twice the time. docs/benchmarks.md
/// ("EASE at 41K items") has its time and memory; a unit test bounds how
/// far f32 weights stray from f64 ones.
pub const F64_MAX_ITEMS: usize = 16_384;

/// The float type of a solve, and how its result becomes f32 weights.
trait Precision: faer::traits::RealField + Copy + Send + Sync + std::ops::Neg<Output = Self> {
    fn from_count(c: f64) -> Self;
    fn into_weights(m: Mat<Self>) -> Mat<f32>;
}

impl Precision for f64 {
    fn from_count(c: f64) -> Self {
        c
    }
    fn into_weights(m: Mat<f64>) -> Mat<f32> {
        Mat::from_fn(m.nrows(), m.ncols(), |i, j| m[(i, j)] as f32)
    }
}

impl Precision for f32 {
    fn from_count(c: f64) -> Self {
        c as f32
    }
    fn into_weights(m: Mat<f32>) -> Mat<f32> {
        m
    }
}

/// B as a column-major matrix whose column j is B's row j (what a user
/// holding item j adds to every score). P is computed in the Gram matrix's
/// own memory ([`super::spd_inverse`]), so one n × n matrix is alive, plus
/// a quarter of one as scratch.
fn solve<T: Precision>(x: &CsrMatrix, l2: f64) -> Result<Mat<f32>, ModelError> {
    let n = x.n_cols();
    let mut p = gram::<T>(x, l2);
    invert_lower_in_place(p.as_mut(), faer::get_global_parallelism()).map_err(|e| {
        ModelError::Numerical {
            model: "ease",
            message: format!("XᵀX + λI is not positive definite ({e}); raise l2"),
        }
    })?;
    let diagonal: Vec<T> = (0..n).map(|k| p[(k, k)]).collect();
    for j in 0..n {
        for k in 0..j {
            p[(k, j)] = p[(j, k)];
        }
    }
    // Column j becomes B's row j: B[j][k] = −P[j][k] / P[k][k], 0 on the
    // diagonal (P is symmetric, so P[j][k] is column j's entry k).
    for_each_column(&mut p, |j, col| {
        for (k, w) in col.iter_mut().enumerate() {
            *w = if k == j {
                T::from_count(0.0)
            } else {
                -*w / diagonal[k]
            };
        }
    });
    Ok(T::into_weights(p))
}

/// `f(j, column j)` for every column of an owned matrix, in parallel.
fn for_each_column<T: Precision>(m: &mut Mat<T>, f: impl Fn(usize, &mut [T]) + Sync) {
    m.as_mut()
        .par_col_iter_mut()
        .enumerate()
        .for_each(|(j, col)| {
            let col = col
                .try_as_col_major_mut()
                .expect("an owned column is contiguous");
            f(j, col.as_slice_mut())
        });
}

/// XᵀX + λI, its lower triangle (all the Cholesky factor reads): entry
/// (i, j) counts users holding both items. Each column is counted
/// independently (through the item's users), so the parallel result is exact
/// and order-free.
fn gram<T: Precision>(x: &CsrMatrix, l2: f64) -> Mat<T> {
    let n = x.n_cols();
    let by_item = x.transpose();
    let mut g = Mat::<T>::zeros(n, n);
    for_each_column(&mut g, |j, col| {
        let one = T::from_count(1.0);
        for &u in by_item.row(j) {
            for &i in x.row(u as usize) {
                if i as usize >= j {
                    col[i as usize] += one;
                }
            }
        }
        col[j] += T::from_count(l2);
    });
    g
}

struct Ease {
    /// Column j is B's row j (see [`solve`]).
    weights: Mat<f32>,
    train: CsrMatrix,
}

impl Scorer for Ease {
    fn score_block(&self, users: &[u32], out: &mut [f32]) {
        out.fill(0.0);
        let n = self.weights.nrows();
        for (row, &u) in out.chunks_exact_mut(n).zip(users) {
            for &j in self.train.row(u as usize) {
                let b = self.weights.col_as_slice(j as usize);
                for (s, w) in row.iter_mut().zip(b) {
                    *s += w;
                }
            }
        }
    }

    fn cost(&self) -> ServingCost {
        let n = self.weights.nrows() as u64;
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
        .fit(&FitInput::interactions(&x, &pop, 0))
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

    #[test]
    fn the_f32_solve_agrees_with_the_f64_one() {
        // 60 users × 25 items with a deterministic, uneven pattern.
        let pairs: Vec<(u32, u32)> = (0..60u32)
            .flat_map(|u| {
                (0..25u32)
                    .filter(move |i| (u * 7 + i * 3 + u * i) % 5 < 2)
                    .map(move |i| (u, i))
            })
            .collect();
        let x = CsrMatrix::from_pairs(60, 25, &pairs);
        let (wide, narrow) = (
            solve::<f64>(&x, 3.0).unwrap(),
            solve::<f32>(&x, 3.0).unwrap(),
        );
        let mut largest = 0f32;
        for j in 0..25 {
            assert_eq!(narrow[(j, j)], 0.0, "zero diagonal");
            for k in 0..25 {
                largest = largest.max((wide[(k, j)] - narrow[(k, j)]).abs());
            }
        }
        assert!(largest > 0.0, "the two precisions differ somewhere");
        assert!(largest < 1e-5, "largest difference {largest}");
    }
}
