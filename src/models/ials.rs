//! Implicit ALS (Hu, Koren & Volinsky 2008): weighted matrix factorisation of
//! the full user × item matrix, with confidence c_ui = 1 + alpha·w_i on
//! observed pairs (w_i = 1, or popularity down-weighting) and 1 elsewhere.
//! Users and items are solved in turn in closed form; each row's solve is
//! independent, so the parallel result is exactly the sequential one.
//!
//! Row a's normal equations, given the other side's factors B:
//! (BᵀB + λI + Σ_{j∈N(a)} (c_aj − 1) b_j b_jᵀ) x_a = Σ_{j∈N(a)} c_aj b_j,
//! solved exactly (Cholesky) or by a few conjugate-gradient steps from the
//! previous x_a (Takács et al. 2011), which never forms the d × d matrix.

use faer::linalg::matmul::matmul;
use faer::linalg::solvers::Solve;
use faer::{Accum, Mat, Par, Side};
use rand::SeedableRng;
use rand_distr::{Distribution, Normal};
use rand_pcg::Pcg64Mcg;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::popularity::popularity_weights;
use super::real::{Real, Trained};
use super::{
    shared, DotProduct, FitInput, Fitted, Interval, ModelConfig, ModelError, ModelKind, ParamDoc,
    Params, Popularity, Rule, MAX_EPOCHS, MAX_WIDTH,
};
use crate::data::CsrMatrix;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Solver {
    #[default]
    Exact,
    Cg,
}

param_table! {
    pub struct IalsParams {
        dim: usize = 64 => ParamDoc::new(Rule::Count(1, MAX_WIDTH), "factors per user and item"),
        iterations: usize = 15 => ParamDoc::new(
            Rule::Count(1, MAX_EPOCHS),
            "alternating sweeps (users, then items)",
        ),
        alpha: f64 = 10.0 => ParamDoc::new(
            Rule::Real(Interval { low: 0.0, low_open: false, high: MAX_ALPHA, high_open: false }),
            "confidence c = 1 + alpha·w on observed pairs, 1 elsewhere",
        )
        .because("larger confidences make the solves ill-conditioned in float arithmetic"),
        l2: f64 = 1.0 => ParamDoc::new(
            Rule::Real(Interval { low: 0.0, low_open: true, high: MAX_L2, high_open: false }),
            "ridge λ on every factor row",
        )
        .because("the ridge keeps each solve well posed, and iALS solves in float32"),
        solver: Solver = Solver::Exact => ParamDoc::new(
            Rule::Text("exact, cg"),
            "Cholesky per row, or cg_steps conjugate-gradient steps from the previous solution (Takács et al. 2011)",
        ),
        cg_steps: usize = 3 => ParamDoc::new(
            Rule::Count(1, usize::MAX),
            "conjugate-gradient steps per row and sweep",
        ),
        popularity: Popularity = Popularity::None => shared::POPULARITY,
    }
}

/// The largest confidence slope accepted: Hu et al. use 40; beyond ~1e6
/// each solve's matrix has a condition number no float arithmetic resolves.
const MAX_ALPHA: f64 = 1e6;

impl Params for IalsParams {
    const KIND: ModelKind = ModelKind::Ials;
}

impl ModelConfig for IalsParams {
    config_basics!(stochastic: true);

    fn scores_by_dot_product(&self) -> bool {
        !matches!(self.popularity, Popularity::Penalty { .. })
    }

    fn fit(&self, input: &FitInput) -> Result<Fitted, ModelError> {
        let by_user = input.train;
        let by_item = by_user.transpose();
        let d = self.dim;
        // Confidence slope per item: alpha, or alpha·w_i with popularity weights.
        let slope: Vec<f64> = match self.popularity {
            Popularity::Weight { beta } => {
                popularity_weights(input.item_popularity, by_user.nnz(), beta)
                    .into_iter()
                    .map(|w| self.alpha * w)
                    .collect()
            }
            _ => vec![self.alpha; by_user.n_cols()],
        };
        let mut rng = Pcg64Mcg::seed_from_u64(input.seed);
        let normal = Normal::new(0.0, 0.1 / (d as f64).sqrt()).expect("a positive scale");
        // Factors in f32, as implicit and most ALS libraries keep them: half
        // the bytes of every row the solves stream through, twice the lanes.
        let mut users: Vec<Trained> = (0..by_user.n_rows() * d)
            .map(|_| Trained::of(normal.sample(&mut rng)))
            .collect();
        let mut items: Vec<Trained> = (0..by_user.n_cols() * d)
            .map(|_| Trained::of(normal.sample(&mut rng)))
            .collect();
        let slope: Vec<Trained> = slope.into_iter().map(Trained::of).collect();
        for _ in 0..self.iterations {
            self.solve_side(&mut users, &items, by_user, |_, j| slope[j as usize])?;
            self.solve_side(&mut items, &users, &by_item, |i, _| slope[i])?;
        }
        if !users.iter().chain(&items).all(|v| v.is_finite()) {
            return Err(numerical(
                "factors became infinite or NaN; lower alpha or the popularity weight's beta",
            ));
        }
        Ok(Fitted::new(Box::new(DotProduct::new(d, users, &items))))
    }
}

impl IalsParams {
    /// Re-solves every row of `solved` given `fixed`; `matrix` lists each
    /// row's observed columns, `slope(row, col)` the confidence slope.
    ///
    /// The kernels (a Gram row, a row's solve) are compiled for
    /// AVX-512/AVX2 as well and chosen at run time ([`crate::simd`]). They
    /// are dispatched one row at a time, inside rayon's closures, because a
    /// closure is compiled as its own function: dispatching the whole side
    /// left rayon's per-row closures, and every loop in them, at baseline
    /// x86-64 (perf showed the dot products there). The arithmetic is the
    /// same on every path.
    fn solve_side<T: Real>(
        &self,
        solved: &mut [T],
        fixed: &[T],
        matrix: &CsrMatrix,
        slope: impl Fn(usize, u32) -> T + Sync,
    ) -> Result<(), ModelError> {
        let d = self.dim;
        // Gram matrix BᵀB + λI, shared by every row.
        let mut gram = vec![T::zero(); d * d];
        let l2 = T::of(self.l2);
        gram.par_chunks_mut(d)
            .enumerate()
            .for_each(|(r, row)| gram_row(fixed, r, l2, row));
        solved
            .par_chunks_mut(d)
            .enumerate()
            .try_for_each(|(a, x)| solve_row(self, &gram, fixed, matrix.row(a), |j| slope(a, j), x))
    }
}

crate::dispatch! {
    /// Row `r` of BᵀB + λI for the rows of `fixed` (each `row.len()` long).
    fn gram_row[T: Real](fixed: &[T], r: usize, l2: T, row: &mut [T]) => gram_row_portable
}

#[inline(always)]
fn gram_row_portable<T: Real>(fixed: &[T], r: usize, l2: T, row: &mut [T]) {
    let d = row.len();
    for b in fixed.chunks_exact(d) {
        let br = b[r];
        for (g, &bc) in row.iter_mut().zip(b) {
            *g += br * bc;
        }
    }
    row[r] += l2;
}

crate::dispatch! {
    /// Solves one row x given the Gram matrix, the fixed side, the row's
    /// observed columns and their confidence slopes.
    fn solve_row[T: Real, S: Fn(u32) -> T](
        params: &IalsParams,
        gram: &[T],
        fixed: &[T],
        observed: &[u32],
        slope: S,
        x: &mut [T],
    ) -> Result<(), ModelError> => solve_row_portable
}

#[inline(always)]
fn solve_row_portable<T: Real, S: Fn(u32) -> T>(
    params: &IalsParams,
    gram: &[T],
    fixed: &[T],
    observed: &[u32],
    slope: S,
    x: &mut [T],
) -> Result<(), ModelError> {
    let d = params.dim;
    let mut rhs = vec![T::zero(); d];
    for &j in observed {
        let c = T::one() + slope(j);
        for (r, &b) in rhs
            .iter_mut()
            .zip(&fixed[j as usize * d..(j as usize + 1) * d])
        {
            *r += c * b;
        }
    }
    match params.solver {
        Solver::Exact => {
            // Σ w_j b_j b_jᵀ as one product of the gathered rows
            // √w_j·b_j, added onto BᵀB + λI.
            let mut system = Mat::<T>::from_fn(d, d, |r, c| gram[r * d + c]);
            let rows = Mat::<T>::from_fn(observed.len(), d, |k, c| {
                let j = observed[k];
                slope(j).sqrt() * fixed[j as usize * d + c]
            });
            matmul(
                system.as_mut(),
                Accum::Add,
                rows.transpose(),
                rows.as_ref(),
                T::one(),
                Par::Seq,
            );
            // BᵀB + λI plus positive semidefinite terms is positive
            // definite in exact arithmetic, but float rounding leaves
            // negative eigenvalues of about ε·‖A‖ that a small λ cannot
            // outweigh: in f32 with large confidences, or when dim exceeds
            // the rows of B (rank-deficient BᵀB). Such a row is retried
            // with jitter on the diagonal, 1e-6·mean diag and ten times
            // more each try (the usual remedy for a float Cholesky); rows
            // whose first factorization succeeds are untouched.
            let mean_diag = (0..d).map(|i| system[(i, i)].wide()).sum::<f64>() / d as f64;
            let mut llt = system.llt(Side::Lower);
            let mut jitter = 1e-6 * mean_diag;
            for _ in 0..JITTER_TRIES {
                if llt.is_ok() || !jitter.is_finite() || jitter <= 0.0 {
                    break;
                }
                let mut jittered = system.clone();
                for i in 0..d {
                    jittered[(i, i)] += T::of(jitter);
                }
                llt = jittered.llt(Side::Lower);
                jitter *= 10.0;
            }
            let llt = llt.map_err(|_| {
                numerical(
                    "an exact solve met a non-positive pivot even with jitter (confidences or factors overflowed); lower alpha or the popularity weight's beta, raise l2, or use solver: cg",
                )
            })?;
            let mut solution = Mat::<T>::from_fn(d, 1, |r, _| rhs[r]);
            llt.solve_in_place(solution.as_mut());
            for (xi, r) in x.iter_mut().zip(0..d) {
                *xi = solution[(r, 0)];
            }
        }
        Solver::Cg => {
            let system = RowSystem {
                gram,
                fixed,
                observed,
                slope: &slope,
            };
            conjugate_gradient(x, &rhs, params.cg_steps, &system);
        }
    }
    Ok(())
}

/// One row's system (BᵀB + λI + Σ_j slope_j b_j b_jᵀ) as a product with a
/// vector, without forming it. A struct with an inlined method rather than a
/// closure, so that it compiles inside the dispatched kernel.
struct RowSystem<'a, T, S> {
    gram: &'a [T],
    fixed: &'a [T],
    observed: &'a [u32],
    slope: &'a S,
}

impl<T: Real, S: Fn(u32) -> T> RowSystem<'_, T, S> {
    #[inline(always)]
    fn apply(&self, v: &[T], out: &mut [T]) {
        let d = v.len();
        for (r, o) in out.iter_mut().enumerate() {
            *o = dot_in_lanes(&self.gram[r * d..(r + 1) * d], v);
        }
        for &j in self.observed {
            let b = &self.fixed[j as usize * d..(j as usize + 1) * d];
            let scale = (self.slope)(j) * dot_in_lanes(b, v);
            for (o, &bj) in out.iter_mut().zip(b) {
                *o += scale * bj;
            }
        }
    }
}

/// Largest ridge λ: the solves run in float32 (largest about 3.4e38), and
/// far below that every factor is already 0.
const MAX_L2: f64 = 1e30;

/// Diagonal jitters tried on a row whose exact solve fails (1e-6 to 1e-3
/// of the mean diagonal).
const JITTER_TRIES: usize = 4;

fn numerical(message: &str) -> ModelError {
    ModelError::Numerical {
        model: "ials",
        message: message.to_string(),
    }
}

/// A dot product with eight running sums: a strict left-to-right float sum
/// cannot be vectorised, this fixed grouping can, and it is still the same
/// arithmetic on every run and thread count.
#[inline(always)]
fn dot_in_lanes<T: Real>(p: &[T], q: &[T]) -> T {
    let mut sums = [T::zero(); 8];
    let (pc, qc) = (p.chunks_exact(8), q.chunks_exact(8));
    let (pr, qr) = (pc.remainder(), qc.remainder());
    for (a, b) in pc.zip(qc) {
        for k in 0..8 {
            sums[k] += a[k] * b[k];
        }
    }
    let mut tail = T::zero();
    for (&a, &b) in pr.iter().zip(qr) {
        tail += a * b;
    }
    ((sums[0] + sums[1]) + (sums[2] + sums[3])) + ((sums[4] + sums[5]) + (sums[6] + sums[7])) + tail
}

/// A few conjugate-gradient steps on A x = b from the current x.
#[inline(always)]
fn conjugate_gradient<T: Real, S: Fn(u32) -> T>(
    x: &mut [T],
    b: &[T],
    steps: usize,
    a: &RowSystem<'_, T, S>,
) {
    let d = x.len();
    let mut ax = vec![T::zero(); d];
    a.apply(x, &mut ax);
    let mut r = vec![T::zero(); d];
    for i in 0..d {
        r[i] = b[i] - ax[i];
    }
    let mut p = r.clone();
    let mut rr = dot_in_lanes(&r, &r);
    let mut ap = vec![T::zero(); d];
    let converged = T::of(1e-20);
    for _ in 0..steps {
        if rr <= converged {
            break;
        }
        a.apply(&p, &mut ap);
        let step = rr / dot_in_lanes(&p, &ap);
        for i in 0..d {
            x[i] += step * p[i];
            r[i] -= step * ap[i];
        }
        let next = dot_in_lanes(&r, &r);
        for i in 0..d {
            p[i] = r[i] + next / rr * p[i];
        }
        rr = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::Declared;

    fn data() -> CsrMatrix {
        let pairs: Vec<(u32, u32)> = (0..30u32)
            .flat_map(|u| (0..6u32).map(move |k| (u, (u * 7 + k * 3) % 20)))
            .collect();
        CsrMatrix::from_pairs(30, 20, &pairs)
    }

    /// Confidences that overflow (values the range check refuses, forced
    /// here) end the fit with an error for the trial record, never a panic
    /// in a worker thread.
    #[test]
    fn overflowing_confidences_fail_the_fit_instead_of_panicking() {
        let x = data();
        let popularity = x.column_counts();
        for solver in [Solver::Exact, Solver::Cg] {
            let params = IalsParams {
                dim: 4,
                iterations: 2,
                alpha: f64::MAX,
                solver,
                ..IalsParams::default()
            };
            assert!(
                !params.rule_issues().is_empty(),
                "the range check refuses it"
            );
            let fit = params.fit(&FitInput::interactions(&x, &popularity, 1));
            let Err(ModelError::Numerical { message, .. }) = fit else {
                panic!("{solver:?}: expected a numerical error");
            };
            assert!(message.contains("lower alpha"), "{message}");
        }
    }

    #[test]
    fn exact_user_solve_satisfies_the_normal_equations() {
        let x = data();
        let params = IalsParams {
            dim: 4,
            l2: 0.5,
            alpha: 3.0,
            ..IalsParams::default()
        };
        let d = 4;
        let items: Vec<f64> = (0..20 * d)
            .map(|i| ((i * 37 % 11) as f64 - 5.0) / 10.0)
            .collect();
        let mut users = vec![0.0; 30 * d];
        params
            .solve_side(&mut users, &items, &x, |_, _| 3.0)
            .unwrap();
        // Residual of row 0: (YᵀY + λI + Σ α y yᵀ) x − Σ (1 + α) y.
        let u = &users[..d];
        let mut residual = vec![0.0; d];
        for j in 0..20 {
            let y = &items[j * d..(j + 1) * d];
            let c = if x.contains(0, j as u32) { 4.0 } else { 1.0 };
            let yx: f64 = y.iter().zip(u).map(|(a, b)| a * b).sum();
            for r in 0..d {
                residual[r] += c * yx * y[r] - if c > 1.0 { c * y[r] } else { 0.0 };
            }
        }
        for r in 0..d {
            residual[r] += 0.5 * u[r];
            assert!(residual[r].abs() < 1e-9, "{residual:?}");
        }
    }

    #[test]
    fn many_cg_steps_reach_the_exact_solution() {
        let x = data();
        let d = 4;
        let items: Vec<f64> = (0..20 * d)
            .map(|i| ((i * 13 % 7) as f64 - 3.0) / 10.0)
            .collect();
        let exact = IalsParams {
            dim: d,
            ..IalsParams::default()
        };
        let cg = IalsParams {
            dim: d,
            solver: Solver::Cg,
            cg_steps: 50,
            ..IalsParams::default()
        };
        let (mut a, mut b) = (vec![0.0; 30 * d], vec![0.0; 30 * d]);
        exact.solve_side(&mut a, &items, &x, |_, _| 10.0).unwrap();
        cg.solve_side(&mut b, &items, &x, |_, _| 10.0).unwrap();
        for (p, q) in a.iter().zip(&b) {
            assert!((p - q).abs() < 1e-8, "{p} vs {q}");
        }
    }

    /// Fits solve in f32: a side solved in f32 matches the f64 solve of
    /// the same system to f32's precision, for both solvers.
    #[test]
    fn f32_solves_match_the_f64_reference() {
        let x = data();
        let d = 8;
        let items: Vec<f64> = (0..20 * d)
            .map(|i| ((i * 13 % 7) as f64 - 3.0) / 10.0)
            .collect();
        let narrow: Vec<f32> = items.iter().map(|&v| v as f32).collect();
        for solver in [Solver::Exact, Solver::Cg] {
            let params = IalsParams {
                dim: d,
                solver,
                ..IalsParams::default()
            };
            let (mut wide, mut single) = (vec![0.0f64; 30 * d], vec![0.0f32; 30 * d]);
            params
                .solve_side(&mut wide, &items, &x, |_, _| 10.0)
                .unwrap();
            params
                .solve_side(&mut single, &narrow, &x, |_, _| 10.0)
                .unwrap();
            let scale = wide.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            for (p, q) in wide.iter().zip(&single) {
                assert!(
                    (p - f64::from(*q)).abs() < 1e-4 * scale,
                    "{solver:?}: {p} vs {q}"
                );
            }
        }
    }
}
