//! The inverse of a symmetric positive definite matrix in its own memory,
//! as LAPACK's `potrf` + `potri` compute it: Cholesky factor L, then L⁻¹,
//! then L⁻ᵀL⁻¹, each step overwriting the lower triangle.
//!
//! Written here because faer (0.24) has the steps only with a separate
//! output: its triangular inverse writes a second n × n matrix, so EASE at
//! Gowalla's 40,981 items held two 6.7 GB f32 matrices (13.3 GB peak).
//! Here the two later steps recurse on halves and use faer's triangular
//! products for the off-diagonal blocks, whose only scratch is one
//! off-diagonal block (a quarter of the matrix) at a time.

use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::cholesky::llt::factor;
use faer::linalg::matmul::triangular::{matmul, BlockStructure};
use faer::reborrow::{Reborrow, ReborrowMut};
use faer::traits::math_utils::one;
use faer::traits::RealField;
use faer::{Accum, Mat, MatMut, Par};

/// Blocks at most this size are inverted through a copy of themselves
/// with faer's kernels; larger ones split in halves.
const BASE: usize = 128;

/// Replaces the lower triangle of the symmetric positive definite `m`
/// (only its lower triangle is read) with that of m⁻¹; the upper triangle
/// is scratch (faer's kernels may write there). Err where the Cholesky
/// factorisation breaks down (not positive definite in this precision).
pub fn invert_lower_in_place<T>(mut m: MatMut<'_, T>, par: Par) -> Result<(), String>
where
    T: RealField + Copy + std::ops::Neg<Output = T>,
{
    let n = m.nrows();
    let mut mem = MemBuffer::new(factor::cholesky_in_place_scratch::<T>(
        n,
        par,
        Default::default(),
    ));
    factor::cholesky_in_place(
        m.rb_mut(),
        Default::default(),
        par,
        MemStack::new(&mut mem),
        Default::default(),
    )
    .map_err(|e| format!("{e:?}"))?;
    drop(mem);
    triangular_inverse(m.rb_mut(), par, BASE);
    gram_of_lower(m, par, BASE);
    Ok(())
}

/// L ← L⁻¹ for the lower triangle of `l`. With L = [[A, 0], [B, C]],
/// L⁻¹ = [[A⁻¹, 0], [−C⁻¹·B·A⁻¹, C⁻¹]].
fn triangular_inverse<T>(l: MatMut<'_, T>, par: Par, base: usize)
where
    T: RealField + Copy + std::ops::Neg<Output = T>,
{
    let n = l.nrows();
    if n <= base {
        let copy = l.to_owned();
        faer::linalg::triangular_inverse::invert_lower_triangular(l, copy.as_ref(), par);
        return;
    }
    let half = n / 2;
    let (mut a, _, mut b, mut c) = l.split_at_mut(half, half);
    triangular_inverse(a.rb_mut(), par, base);
    triangular_inverse(c.rb_mut(), par, base);
    let mut t = Mat::<T>::zeros(n - half, half);
    matmul(
        t.as_mut(),
        BlockStructure::Rectangular,
        Accum::Replace,
        b.rb(),
        BlockStructure::Rectangular,
        a.rb(),
        BlockStructure::TriangularLower,
        one::<T>(),
        par,
    );
    matmul(
        b.rb_mut(),
        BlockStructure::Rectangular,
        Accum::Replace,
        c.rb(),
        BlockStructure::TriangularLower,
        t.as_ref(),
        BlockStructure::Rectangular,
        -one::<T>(),
        par,
    );
}

/// M ← MᵀM for the lower triangle of `m` (lower triangular). With
/// M = [[A, 0], [B, C]], MᵀM = [[AᵀA + BᵀB, ·], [CᵀB, CᵀC]]: the top
/// block first, while B is still B.
fn gram_of_lower<T>(m: MatMut<'_, T>, par: Par, base: usize)
where
    T: RealField + Copy + std::ops::Neg<Output = T>,
{
    let n = m.nrows();
    if n <= base {
        let copy = m.to_owned();
        matmul(
            m,
            BlockStructure::TriangularLower,
            Accum::Replace,
            copy.transpose(),
            BlockStructure::TriangularUpper,
            copy.as_ref(),
            BlockStructure::TriangularLower,
            one::<T>(),
            par,
        );
        return;
    }
    let half = n / 2;
    let (mut a, _, mut b, mut c) = m.split_at_mut(half, half);
    gram_of_lower(a.rb_mut(), par, base);
    matmul(
        a.rb_mut(),
        BlockStructure::TriangularLower,
        Accum::Add,
        b.rb().transpose(),
        BlockStructure::Rectangular,
        b.rb(),
        BlockStructure::Rectangular,
        one::<T>(),
        par,
    );
    let mut t = Mat::<T>::zeros(n - half, half);
    matmul(
        t.as_mut(),
        BlockStructure::Rectangular,
        Accum::Replace,
        c.rb().transpose(),
        BlockStructure::TriangularUpper,
        b.rb(),
        BlockStructure::Rectangular,
        one::<T>(),
        par,
    );
    b.copy_from(&t);
    drop(t);
    gram_of_lower(c.rb_mut(), par, base);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A symmetric positive definite n × n matrix: GᵀG + n·I for a fixed
    /// uneven G.
    fn spd(n: usize) -> Mat<f64> {
        let g = Mat::<f64>::from_fn(n, n, |i, j| (((i * 7 + j * 13 + i * j) % 11) as f64) - 5.0);
        let mut m = g.transpose() * &g;
        for i in 0..n {
            m[(i, i)] += n as f64;
        }
        m
    }

    /// Through several levels of halving (base 4 against n = 37, odd halves
    /// included) the lower triangle is that of the inverse: M·M⁻¹ = I.
    #[test]
    fn the_lower_triangle_becomes_the_inverses() {
        for (n, base) in [(37, 4), (37, BASE), (5, 1)] {
            let m = spd(n);
            let mut work = m.clone();
            let mut mem = MemBuffer::new(factor::cholesky_in_place_scratch::<f64>(
                n,
                Par::Seq,
                Default::default(),
            ));
            factor::cholesky_in_place(
                work.as_mut(),
                Default::default(),
                Par::Seq,
                MemStack::new(&mut mem),
                Default::default(),
            )
            .unwrap();
            triangular_inverse(work.as_mut(), Par::Seq, base);
            gram_of_lower(work.as_mut(), Par::Seq, base);
            let inverse = Mat::<f64>::from_fn(n, n, |i, j| work[(i.max(j), i.min(j))]);
            let product = &m * &inverse;
            for i in 0..n {
                for j in 0..n {
                    let want = if i == j { 1.0 } else { 0.0 };
                    assert!(
                        (product[(i, j)] - want).abs() < 1e-9,
                        "n {n} base {base}: ({i}, {j}) = {}",
                        product[(i, j)]
                    );
                }
            }
        }
    }

    /// Only the lower triangle is read: garbage above the diagonal does not
    /// change the result.
    #[test]
    fn the_upper_triangle_is_not_read() {
        let n = 20;
        let clean = spd(n);
        let mut dirty = clean.clone();
        for i in 0..n {
            for j in i + 1..n {
                dirty[(i, j)] = 1e6 + (i * n + j) as f64;
            }
        }
        let mut a = clean.clone();
        invert_lower_in_place(a.as_mut(), Par::Seq).unwrap();
        invert_lower_in_place(dirty.as_mut(), Par::Seq).unwrap();
        for i in 0..n {
            for j in 0..=i {
                assert_eq!(a[(i, j)], dirty[(i, j)]);
            }
        }
    }

    #[test]
    fn a_matrix_that_is_not_positive_definite_is_an_error() {
        let mut m = Mat::<f64>::from_fn(2, 2, |i, j| if i == j { 1.0 } else { 2.0 });
        assert!(invert_lower_in_place(m.as_mut(), Par::Seq).is_err());
    }
}
