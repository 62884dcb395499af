//! The float type of gradient training. The neural layers, embedding
//! tables and optimizers are generic over [`Real`] so that the same code
//! trains in f32 ([`Trained`]: half the bytes moved and twice the lanes
//! per vector instruction of f64, which is what the GEMMs and the softmax's
//! exp are bound by) and runs in f64 in the finite-difference tests, whose
//! central differences need f64's precision to check a gradient tightly.
//!
//! Hyperparameters, losses and sums over batches stay f64 (converted with
//! [`Real::of`] where they meet the weights), so a curve's numbers mean the
//! same in both precisions.

use std::fmt::Debug;
use std::iter::Sum;

use faer::traits::num_traits::Float;
use faer::traits::RealField;

/// The precision the models train in.
pub type Trained = f32;

/// f32 or f64: what faer's GEMM takes, with the float operations of
/// `num_traits` and the two conversions training needs.
pub trait Real: RealField + Float + Default + Debug + Send + Sync + Sum + 'static {
    /// An f64 (a hyperparameter, a weight, an initial draw) rounded to
    /// this type.
    fn of(x: f64) -> Self;

    /// Widened to f64 (a loss added to the epoch's total).
    fn wide(self) -> f64;

    /// As f32, for scoring.
    fn narrow(self) -> f32;

    /// e^x for every x ≤ 0 of a slice (the softmax), vectorised
    /// ([`crate::simd`]).
    fn exp_in_place(xs: &mut [Self]);
}

impl Real for f64 {
    fn of(x: f64) -> Self {
        x
    }

    fn wide(self) -> f64 {
        self
    }

    fn narrow(self) -> f32 {
        self as f32
    }

    fn exp_in_place(xs: &mut [Self]) {
        crate::simd::exp_in_place(xs);
    }
}

impl Real for f32 {
    fn of(x: f64) -> Self {
        x as f32
    }

    fn wide(self) -> f64 {
        f64::from(self)
    }

    fn narrow(self) -> f32 {
        self
    }

    fn exp_in_place(xs: &mut [Self]) {
        crate::simd::exp_in_place_f32(xs);
    }
}
