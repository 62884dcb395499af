//! The few neural-network pieces the towers, NCF and DCN need, with
//! hand-written backward passes: a dense layer, a cross layer, ReLU,
//! inverted dropout, L2 normalisation, in-batch sampled softmax and binary
//! cross-entropy. Hand-written because
//! they are small and a Rust autodiff framework (burn, candle) would add a
//! long build and hide the determinism guarantees; each backward pass has a
//! finite-difference test below.
//!
//! Activations are batch × features matrices (faer) of a [`Real`]: the
//! models train in f32 ([`Trained`]) and the finite-difference tests below
//! run the same code in f64; scoring converts to f32.

use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatMut, MatRef, Par};
use rand::Rng;
use rand_pcg::Pcg64Mcg;
use rayon::prelude::*;

use super::real::{Real, Trained};
use super::train::{Example, Moments, Step, Table};
use super::{Scorer, ServingCost};

/// y = x·W + b, with W stored input × output.
#[derive(Debug, Clone)]
pub struct Dense<T: Real = Trained> {
    pub w: Mat<T>,
    pub b: Vec<T>,
    moments_w: Moments<T>,
    moments_b: Moments<T>,
}

/// Gradients of a dense layer's weights.
#[derive(Debug, Clone)]
pub struct DenseGrad<T: Real = Trained> {
    pub w: Mat<T>,
    pub b: Vec<T>,
}

impl<T: Real> Dense<T> {
    /// Glorot-uniform weights, zero bias.
    pub fn new(inputs: usize, outputs: usize, rng: &mut Pcg64Mcg) -> Self {
        let limit = (6.0 / (inputs + outputs) as f64).sqrt();
        Self {
            w: Mat::from_fn(inputs, outputs, |_, _| {
                T::of(limit * (2.0 * rng.random::<f64>() - 1.0))
            }),
            b: vec![T::zero(); outputs],
            moments_w: Moments::new(inputs * outputs),
            moments_b: Moments::new(outputs),
        }
    }

    pub fn inputs(&self) -> usize {
        self.w.nrows()
    }

    pub fn outputs(&self) -> usize {
        self.w.ncols()
    }

    pub fn forward(&self, x: MatRef<T>) -> Mat<T> {
        let mut y = Mat::from_fn(x.nrows(), self.outputs(), |_, j| self.b[j]);
        matmul_rows(y.as_mut(), Accum::Add, x, self.w.as_ref(), T::one());
        y
    }

    /// Gradients for weights and input given the output gradient `dy`; `l2`
    /// adds the gradient of l2·‖W‖².
    pub fn backward(&self, x: MatRef<T>, dy: MatRef<T>, l2: f64) -> (DenseGrad<T>, Mat<T>) {
        let twice = T::of(2.0 * l2);
        let mut w = Mat::from_fn(self.inputs(), self.outputs(), |i, j| twice * self.w[(i, j)]);
        matmul_rows(w.as_mut(), Accum::Add, x.transpose(), dy, T::one());
        let b = (0..self.outputs())
            .map(|j| dy.col(j).iter().copied().sum())
            .collect();
        let mut dx = Mat::zeros(x.nrows(), self.inputs());
        matmul_rows(
            dx.as_mut(),
            Accum::Replace,
            dy,
            self.w.transpose(),
            T::one(),
        );
        (DenseGrad { w, b }, dx)
    }

    /// l2·‖W‖² (biases are not regularised).
    pub fn penalty(&self, l2: f64) -> f64 {
        if l2 == 0.0 {
            return 0.0;
        }
        let mut sum = 0.0;
        for j in 0..self.outputs() {
            for i in 0..self.inputs() {
                sum += (self.w[(i, j)] * self.w[(i, j)]).wide();
            }
        }
        l2 * sum
    }

    pub fn update(&mut self, grad: &DenseGrad<T>, step: &Step) {
        let rows = self.inputs();
        // faer stores columns contiguously; update column by column.
        for j in 0..self.outputs() {
            step.apply(
                column_mut(self.w.as_mut(), j),
                &mut self.moments_w,
                j * rows,
                column(grad.w.as_ref(), j),
            );
        }
        step.apply(&mut self.b, &mut self.moments_b, 0, &grad.b);
    }

    pub fn parameters(&self) -> u64 {
        (self.inputs() * self.outputs() + self.outputs()) as u64
    }

    pub fn is_finite(&self) -> bool {
        self.b.iter().all(|v| v.is_finite())
            && (0..self.outputs()).all(|j| self.w.col(j).iter().all(|v| v.is_finite()))
    }
}

/// Dense layers applied in turn, each with dropout on its input, ReLU on its
/// output except, when `linear_output`, the last (a tower's output layer).
#[derive(Debug, Clone)]
pub struct Stack<T: Real = Trained> {
    pub layers: Vec<Dense<T>>,
    linear_output: bool,
}

/// What a training forward pass keeps for the backward pass.
pub struct StackCache<T: Real = Trained> {
    /// Each layer's input after dropout.
    inputs: Vec<Mat<T>>,
    masks: Vec<Option<Mat<T>>>,
    /// Each layer's output after its activation.
    outputs: Vec<Mat<T>>,
}

impl<T: Real> Stack<T> {
    /// Layers of the given widths after an input of `inputs` features.
    pub fn new(inputs: usize, widths: &[usize], linear_output: bool, rng: &mut Pcg64Mcg) -> Self {
        let mut layers = Vec::with_capacity(widths.len());
        let mut prev = inputs;
        for &w in widths {
            layers.push(Dense::new(prev, w, rng));
            prev = w;
        }
        Self {
            layers,
            linear_output,
        }
    }

    fn activates(&self, layer: usize) -> bool {
        !(self.linear_output && layer + 1 == self.layers.len())
    }

    /// Evaluation-mode forward pass (no dropout).
    pub fn forward(&self, x: Mat<T>) -> Mat<T> {
        let mut x = x;
        for (k, layer) in self.layers.iter().enumerate() {
            x = layer.forward(x.as_ref());
            if self.activates(k) {
                relu(&mut x);
            }
        }
        x
    }

    /// Training forward pass with dropout rate `p` on every layer's input.
    pub fn forward_train(&self, x: Mat<T>, p: f64, rng: &mut Pcg64Mcg) -> (Mat<T>, StackCache<T>) {
        let mut cache = StackCache {
            inputs: Vec::with_capacity(self.layers.len()),
            masks: Vec::with_capacity(self.layers.len()),
            outputs: Vec::with_capacity(self.layers.len()),
        };
        let mut x = x;
        for (k, layer) in self.layers.iter().enumerate() {
            let mask = dropout(&mut x, p, rng);
            let mut y = layer.forward(x.as_ref());
            if self.activates(k) {
                relu(&mut y);
            }
            cache.inputs.push(x);
            cache.masks.push(mask);
            cache.outputs.push(y.clone());
            x = y;
        }
        (x, cache)
    }

    /// Gradients of every layer and of the stack's input, given the output
    /// gradient; `l2` adds the gradient of l2·‖W‖² per layer.
    pub fn backward(
        &self,
        cache: &StackCache<T>,
        dy: Mat<T>,
        l2: f64,
    ) -> (Vec<DenseGrad<T>>, Mat<T>) {
        let mut grads = Vec::with_capacity(self.layers.len());
        let mut dy = dy;
        for k in (0..self.layers.len()).rev() {
            if self.activates(k) {
                relu_backward(cache.outputs[k].as_ref(), &mut dy);
            }
            let (grad, mut dx) = self.layers[k].backward(cache.inputs[k].as_ref(), dy.as_ref(), l2);
            if let Some(mask) = &cache.masks[k] {
                scale_by(&mut dx, mask);
            }
            grads.push(grad);
            dy = dx;
        }
        grads.reverse();
        (grads, dy)
    }

    pub fn penalty(&self, l2: f64) -> f64 {
        self.layers.iter().map(|l| l.penalty(l2)).sum()
    }

    pub fn update(&mut self, grads: &[DenseGrad<T>], step: &Step) {
        for (layer, grad) in self.layers.iter_mut().zip(grads) {
            layer.update(grad, step);
        }
    }

    pub fn parameters(&self) -> u64 {
        self.layers.iter().map(Dense::parameters).sum()
    }

    /// Multiply-adds of one example's forward pass.
    pub fn madds(&self) -> u64 {
        self.layers
            .iter()
            .map(|l| (l.inputs() * l.outputs()) as u64)
            .sum()
    }

    /// Output features for `inputs` input features.
    pub fn width(&self, inputs: usize) -> usize {
        self.layers.last().map_or(inputs, Dense::outputs)
    }

    pub fn is_finite(&self) -> bool {
        self.layers.iter().all(Dense::is_finite)
    }
}

/// A model scored by one forward pass per (user, item) pair (ncf, dcn).
pub trait PairScorer: Send + Sync {
    /// Logits of `user` for `items` (every item when None), into `out`.
    fn score_user(&self, user: u32, items: Option<&[u32]>, out: &mut [f32]);

    fn cost(&self) -> ServingCost;
}

/// The [`Scorer`] of a [`PairScorer`]: a block is its users in turn, and a
/// ranker's candidates cost one pass each.
pub struct PerPair<S>(pub S);

impl<S: PairScorer> Scorer for PerPair<S> {
    fn score_block(&self, users: &[u32], out: &mut [f32]) {
        let n_items = out.len() / users.len().max(1);
        for (&u, row) in users.iter().zip(out.chunks_exact_mut(n_items.max(1))) {
            self.0.score_user(u, None, row);
        }
    }

    fn score_items(&self, user: u32, items: &[u32], _n_items: usize, out: &mut [f32]) {
        self.0.score_user(user, Some(items), out);
    }

    fn cost(&self) -> ServingCost {
        self.0.cost()
    }
}

/// A table's rows as an f32 matrix (rows × dim), for scoring.
pub fn matrix_f32<T: Real>(t: &Table<T>) -> Mat<f32> {
    Mat::from_fn(t.rows(), t.dim, |r, k| t.row(r as u32)[k].narrow())
}

/// A dense layer's weights in f32, for scoring.
pub fn dense_f32<T: Real>(l: &Dense<T>) -> (Mat<f32>, Vec<f32>) {
    (
        Mat::from_fn(l.inputs(), l.outputs(), |i, j| l.w[(i, j)].narrow()),
        l.b.iter().map(|&b| b.narrow()).collect(),
    )
}

/// y = x·W + b in f32, optionally ReLU'd: the scoring-time dense layer.
pub fn layer_f32(x: MatRef<f32>, (w, b): &(Mat<f32>, Vec<f32>), relu: bool) -> Mat<f32> {
    let mut y = Mat::from_fn(x.nrows(), w.ncols(), |_, j| b[j]);
    matmul(y.as_mut(), Accum::Add, x, w.as_ref(), 1.0, Par::Seq);
    if relu {
        for j in 0..y.ncols() {
            for v in y.col_mut(j).iter_mut() {
                *v = v.max(0.0);
            }
        }
    }
    y
}

/// A DCN-v2 cross layer (Wang et al. 2021): x_{l+1} = x_0 ⊙ (x_l·W + b) + x_l,
/// with W full rank (one D × D layer) or low rank W = V·Uᵀ (a D × r layer
/// whose bias is held at zero, then an r × D layer with the bias b).
#[derive(Debug, Clone)]
pub struct Cross<T: Real = Trained> {
    pub project: Vec<Dense<T>>,
}

/// What a training forward pass through cross layers keeps: every layer's
/// input x_l, its projection z_l, and the low-rank intermediate.
pub struct CrossCache<T: Real = Trained> {
    xs: Vec<Mat<T>>,
    zs: Vec<Mat<T>>,
    hidden: Vec<Option<Mat<T>>>,
}

impl<T: Real> Cross<T> {
    /// A layer over `width` features; `rank` 0 is full rank.
    pub fn new(width: usize, rank: usize, rng: &mut Pcg64Mcg) -> Self {
        let project = if rank == 0 {
            vec![Dense::new(width, width, rng)]
        } else {
            vec![Dense::new(width, rank, rng), Dense::new(rank, width, rng)]
        };
        Self { project }
    }

    /// z = x·W + b, and the low-rank intermediate x·V.
    fn project(&self, x: MatRef<T>) -> (Mat<T>, Option<Mat<T>>) {
        match &self.project[..] {
            [full] => (full.forward(x), None),
            [v, u] => {
                let h = v.forward(x);
                (u.forward(h.as_ref()), Some(h))
            }
            _ => unreachable!("one or two projections"),
        }
    }

    pub fn penalty(&self, l2: f64) -> f64 {
        self.project.iter().map(|l| l.penalty(l2)).sum()
    }

    /// Learned numbers: the low-rank V's held bias does not count.
    pub fn parameters(&self) -> u64 {
        self.project.iter().map(Dense::parameters).sum::<u64>()
            - (self.project.len() as u64 - 1) * self.project[0].outputs() as u64
    }

    /// Multiply-adds of one example: the projection, then x_0 ⊙ z.
    pub fn madds(&self) -> u64 {
        self.project
            .iter()
            .map(|l| (l.inputs() * l.outputs()) as u64)
            .sum::<u64>()
            + self.project[0].inputs() as u64
    }

    pub fn update(&mut self, grads: &[DenseGrad<T>], step: &Step) {
        for (layer, grad) in self.project.iter_mut().zip(grads) {
            layer.update(grad, step);
        }
    }

    pub fn is_finite(&self) -> bool {
        self.project.iter().all(Dense::is_finite)
    }

    /// Scoring-time weights in f32.
    pub fn to_f32(&self) -> Vec<(Mat<f32>, Vec<f32>)> {
        self.project.iter().map(dense_f32).collect()
    }
}

/// Cross layers in turn from x_0: the output x_L and the cache.
pub fn cross_forward<T: Real>(layers: &[Cross<T>], x0: &Mat<T>) -> (Mat<T>, CrossCache<T>) {
    let mut cache = CrossCache {
        xs: Vec::with_capacity(layers.len()),
        zs: Vec::with_capacity(layers.len()),
        hidden: Vec::with_capacity(layers.len()),
    };
    let mut x = x0.clone();
    for layer in layers {
        let (z, h) = layer.project(x.as_ref());
        let next = Mat::from_fn(x.nrows(), x.ncols(), |i, j| {
            x0[(i, j)] * z[(i, j)] + x[(i, j)]
        });
        cache.xs.push(x);
        cache.zs.push(z);
        cache.hidden.push(h);
        x = next;
    }
    (x, cache)
}

/// Gradients of every cross layer's projections, and of x_0 (through the
/// products and the chain of x_l), given the gradient of x_L; `l2` adds
/// the gradient of l2·‖W‖².
pub fn cross_backward<T: Real>(
    layers: &[Cross<T>],
    x0: &Mat<T>,
    cache: &CrossCache<T>,
    dx_last: Mat<T>,
    l2: f64,
) -> (Vec<Vec<DenseGrad<T>>>, Mat<T>) {
    let (n, width) = (x0.nrows(), x0.ncols());
    let mut g = dx_last;
    let mut dx0 = Mat::<T>::zeros(n, width);
    let mut grads = Vec::with_capacity(layers.len());
    for l in (0..layers.len()).rev() {
        let z = &cache.zs[l];
        let dz = Mat::from_fn(n, width, |i, j| g[(i, j)] * x0[(i, j)]);
        for j in 0..width {
            for i in 0..n {
                dx0[(i, j)] += g[(i, j)] * z[(i, j)];
            }
        }
        let x = cache.xs[l].as_ref();
        let (layer_grads, dx) = match (&layers[l].project[..], &cache.hidden[l]) {
            ([full], None) => {
                let (grad, dx) = full.backward(x, dz.as_ref(), l2);
                (vec![grad], dx)
            }
            ([v, u], Some(h)) => {
                let (gu, dh) = u.backward(h.as_ref(), dz.as_ref(), l2);
                let (mut gv, dx) = v.backward(x, dh.as_ref(), l2);
                gv.b.iter_mut().for_each(|b| *b = T::zero());
                (vec![gv, gu], dx)
            }
            _ => unreachable!("the cache matches the layer"),
        };
        for j in 0..width {
            for i in 0..n {
                g[(i, j)] += dx[(i, j)];
            }
        }
        grads.push(layer_grads);
    }
    grads.reverse();
    for j in 0..width {
        for i in 0..n {
            dx0[(i, j)] += g[(i, j)];
        }
    }
    (grads, dx0)
}

/// Sets negative entries to zero in place.
pub fn relu<T: Real>(x: &mut Mat<T>) {
    for j in 0..x.ncols() {
        for v in x.col_mut(j).iter_mut() {
            *v = v.max(T::zero());
        }
    }
}

/// Backward of ReLU given its output: zero the gradient where it was cut.
pub fn relu_backward<T: Real>(output: MatRef<T>, grad: &mut Mat<T>) {
    for j in 0..grad.ncols() {
        for (g, &o) in column_mut(grad.as_mut(), j)
            .iter_mut()
            .zip(column(output, j))
        {
            *g = if o > T::zero() { *g } else { T::zero() };
        }
    }
}

/// Inverted dropout: each entry kept with probability 1 − p and scaled by
/// 1/(1 − p), so evaluation needs no rescaling. Returns the mask (the
/// factor applied to each entry) for the backward pass.
pub fn dropout<T: Real>(x: &mut Mat<T>, p: f64, rng: &mut Pcg64Mcg) -> Option<Mat<T>> {
    if p <= 0.0 {
        return None;
    }
    let keep = T::of(1.0 / (1.0 - p));
    let mask = Mat::from_fn(x.nrows(), x.ncols(), |_, _| {
        if rng.random::<f64>() < p {
            T::zero()
        } else {
            keep
        }
    });
    scale_by(x, &mask);
    Some(mask)
}

/// x ⊙= mask (also dropout's backward).
pub fn scale_by<T: Real>(x: &mut Mat<T>, mask: &Mat<T>) {
    for j in 0..x.ncols() {
        for i in 0..x.nrows() {
            x[(i, j)] *= mask[(i, j)];
        }
    }
}

/// Row-wise L2 normalisation; returns the norms for the backward pass.
/// Loops run down columns: faer is column-major, and a row walk would
/// stride across the whole batch at every step.
pub fn normalize<T: Real>(x: &mut Mat<T>) -> Vec<T> {
    let mut norms = vec![T::zero(); x.nrows()];
    for j in 0..x.ncols() {
        for (n, &v) in norms.iter_mut().zip(column(x.as_ref(), j)) {
            *n += v * v;
        }
    }
    let inverse: Vec<T> = norms
        .iter_mut()
        .map(|n| {
            *n = n.sqrt().max(T::of(1e-12));
            T::one() / *n
        })
        .collect();
    for j in 0..x.ncols() {
        for (v, &i) in column_mut(x.as_mut(), j).iter_mut().zip(&inverse) {
            *v *= i;
        }
    }
    norms
}

/// Backward of [`normalize`] given its output y and the row norms:
/// dz = (dy − y·(y·dy)) / ‖z‖.
pub fn normalize_backward<T: Real>(y: MatRef<T>, norms: &[T], dy: &mut Mat<T>) {
    let mut proj = vec![T::zero(); y.nrows()];
    for j in 0..y.ncols() {
        for ((p, &a), &b) in proj
            .iter_mut()
            .zip(column(y, j))
            .zip(column(dy.as_ref(), j))
        {
            *p += a * b;
        }
    }
    for j in 0..y.ncols() {
        let yj = column(y, j);
        for (((d, &a), &p), &n) in column_mut(dy.as_mut(), j)
            .iter_mut()
            .zip(yj)
            .zip(&proj)
            .zip(norms)
        {
            *d = (*d - a * p) / n;
        }
    }
}

/// Column `j` as a slice (columns of a matrix faer allocated are
/// contiguous).
pub fn column<T: Real>(x: MatRef<'_, T>, j: usize) -> &[T] {
    x.col(j)
        .try_as_col_major()
        .expect("columns are contiguous")
        .as_slice()
}

pub fn column_mut<T: Real>(x: MatMut<'_, T>, j: usize) -> &mut [T] {
    x.col_mut(j)
        .try_as_col_major_mut()
        .expect("columns are contiguous")
        .as_slice_mut()
}

/// One in-batch softmax problem: row a's candidates are the batch's items,
/// its positive is position a.
pub struct InBatch<'a, T> {
    /// Item id per row: the same item at another position is an accidental
    /// hit and is masked out of row a's softmax.
    pub items: &'a [u32],
    /// Loss weight per row.
    pub weights: &'a [T],
    /// Logit correction per row's item: alpha·log q (logQ, Yi et al. 2019).
    pub corrections: &'a [T],
    pub temperature: f64,
}

/// Rows of a product computed by one task in [`matmul_rows`]: fixed, so
/// block boundaries (and every bit of the result) do not depend on how many
/// threads run them.
const BLOCK: usize = 128;

/// dst = alpha·a·b (or dst += with `Accum::Add`), in parallel over blocks
/// of rows of dst: eighths of it, at least 16 rows and at most `BLOCK`.
/// Block boundaries depend on the shape alone and each entry is computed
/// inside one block by one sequential GEMM, so the result is the same on
/// any thread count: what lets one fit use every core and stay
/// deterministic.
pub fn matmul_rows<T: Real>(dst: MatMut<T>, accum: Accum, a: MatRef<T>, b: MatRef<T>, alpha: T) {
    let size = dst.nrows().div_ceil(8).clamp(16, BLOCK);
    dst.par_row_chunks_mut(size)
        .enumerate()
        .for_each(|(k, block)| {
            let rows = block.nrows();
            matmul(block, accum, a.subrows(k * size, rows), b, alpha, Par::Seq);
        });
}

/// Mean in-batch softmax loss of query outputs `u` against candidate outputs
/// `v` (both batch × dim), with gradients: logits u_a·v_b/τ − correction_b.
/// `scratch` holds the batch × batch logits: pass the same matrix for every
/// batch of a fit, as a fresh one per batch costs a zero fill and page
/// faults (8 MB at batch 1024).
pub fn in_batch_softmax<T: Real>(
    u: MatRef<T>,
    v: MatRef<T>,
    p: &InBatch<T>,
    scratch: &mut Mat<T>,
) -> (f64, Mat<T>, Mat<T>) {
    let (n, d) = (u.nrows(), u.ncols());
    if scratch.nrows() < n {
        *scratch = Mat::zeros(n, n);
    }
    // gᵀ, column a = row a: first its logits, then, in place, the gradient
    // of the mean loss with respect to u_a·v_b,
    // g[a][b] = w_a (p_ab − [a = b]) / (n τ). faer is column-major, so a
    // row's logits are contiguous; blocks of rows run in parallel.
    let mut gt = scratch.as_mut().submatrix_mut(0, 0, n, n);
    let losses: Vec<f64> = gt
        .as_mut()
        .par_col_chunks_mut(BLOCK)
        .enumerate()
        .flat_map_iter(|(k, mut block)| {
            let first = k * BLOCK;
            let rows = u.subrows(first, block.ncols());
            matmul(
                block.as_mut(),
                Accum::Replace,
                v,
                rows.transpose(),
                T::of(1.0 / p.temperature),
                Par::Seq,
            );
            (0..block.ncols())
                .map(|c| softmax_row(first + c, column_mut(block.as_mut(), c), p, n))
                .collect::<Vec<_>>()
        })
        .collect();
    let loss: f64 = losses.iter().sum();
    let mut du = Mat::<T>::zeros(n, d);
    let mut dv = Mat::<T>::zeros(n, d);
    let gt = gt.as_ref();
    matmul_rows(du.as_mut(), Accum::Replace, gt.transpose(), v, T::one());
    matmul_rows(dv.as_mut(), Accum::Replace, gt, u, T::one());
    (loss / n as f64, du, dv)
}

crate::dispatch! {
    /// Row `a` of the in-batch softmax: turns its logits into gradients in
    /// place and returns its weighted loss. Dispatched: its loops are a
    /// third of the softmax's time, and baseline x86-64 has 128-bit vectors.
    fn softmax_row[T: Real](a: usize, row: &mut [T], p: &InBatch<T>, n: usize) -> f64 => softmax_row_body
}

/// [`softmax_row`]'s body: plain loops, no closures, so that each compiles
/// inside the dispatched variant (a closure would be its own function,
/// without the variant's vector extensions).
#[inline(always)]
fn softmax_row_body<T: Real>(a: usize, row: &mut [T], p: &InBatch<T>, n: usize) -> f64 {
    let positive = row[a] - p.corrections[a];
    let item = p.items[a];
    // Branch-free loops (select, compare-max, fixed-grouping sum) so that
    // each vectorises; the maximum runs in eight lanes (a single running
    // maximum is a chain the compiler will not split), and is the same
    // value in any order.
    let mut lanes = [T::neg_infinity(); 8];
    let mut rows = row.chunks_exact_mut(8);
    let mut corrections = p.corrections.chunks_exact(8);
    let mut items = p.items.chunks_exact(8);
    for ((l, c), other) in (&mut rows).zip(&mut corrections).zip(&mut items) {
        for k in 0..8 {
            let v = l[k] - c[k];
            l[k] = if other[k] == item {
                T::neg_infinity()
            } else {
                v
            };
            lanes[k] = if l[k] > lanes[k] { l[k] } else { lanes[k] };
        }
    }
    let tail = rows.into_remainder().iter_mut();
    for ((l, &c), &other) in tail.zip(corrections.remainder()).zip(items.remainder()) {
        let v = *l - c;
        *l = if other == item { T::neg_infinity() } else { v };
        lanes[0] = if *l > lanes[0] { *l } else { lanes[0] };
    }
    let mut max = positive;
    for lane in lanes {
        max = if lane > max { lane } else { max };
    }
    row[a] = positive;
    for l in row.iter_mut() {
        *l -= max;
    }
    T::exp_in_place(row);
    let z = sum(row);
    let scale = p.weights[a] * T::of(1.0 / (n as f64 * p.temperature));
    let (inv_z, weighted) = (scale / z, p.weights[a] * (max + z.ln() - positive));
    for e in row.iter_mut() {
        *e *= inv_z;
    }
    row[a] -= scale;
    weighted.wide()
}

/// A sum with eight running totals: a strict left-to-right float sum cannot
/// be vectorised, this fixed grouping can, and it is the same arithmetic on
/// every run.
#[inline(always)]
fn sum<T: Real>(xs: &[T]) -> T {
    let mut sums = [T::zero(); 8];
    let chunks = xs.chunks_exact(8);
    let tail: T = chunks.remainder().iter().copied().sum();
    for chunk in chunks {
        for (s, &x) in sums.iter_mut().zip(chunk) {
            *s += x;
        }
    }
    ((sums[0] + sums[1]) + (sums[2] + sums[3])) + ((sums[4] + sums[5]) + (sums[6] + sums[7])) + tail
}

/// log σ(z), without overflow for large |z|.
pub fn log_sigmoid<T: Real>(z: T) -> T {
    if z >= T::zero() {
        -(-z).exp().ln_1p()
    } else {
        z - z.exp().ln_1p()
    }
}

pub fn sigmoid<T: Real>(z: T) -> T {
    if z >= T::zero() {
        T::one() / (T::one() + (-z).exp())
    } else {
        let e = z.exp();
        e / (T::one() + e)
    }
}

/// Mean weighted binary cross-entropy of logits against 0/1 labels, and the
/// gradient with respect to each logit.
pub fn binary_cross_entropy<T: Real>(logits: &[T], labels: &[T], weights: &[T]) -> (f64, Vec<T>) {
    let n = T::of(logits.len() as f64);
    let mut loss = 0.0;
    let grad = logits
        .iter()
        .zip(labels)
        .zip(weights)
        .map(|((&z, &y), &w)| {
            loss -= (w * (y * log_sigmoid(z) + (T::one() - y) * log_sigmoid(-z))).wide();
            w * (sigmoid(z) - y) / n
        })
        .collect();
    (loss / logits.len() as f64, grad)
}

/// The pointwise models' (ncf, dcn) loss: the mean weighted BCE of a
/// batch's logits (batch × 1) against its examples' labels, and the
/// gradient with respect to the logits (batch × 1).
pub fn examples_loss<T: Real>(logits: MatRef<T>, batch: &[Example]) -> (f64, Mat<T>) {
    let z: Vec<T> = (0..batch.len()).map(|a| logits[(a, 0)]).collect();
    let labels: Vec<T> = batch.iter().map(|e| T::of(e.label)).collect();
    let weights: Vec<T> = batch.iter().map(|e| T::of(e.weight)).collect();
    let (loss, dz) = binary_cross_entropy(&z, &labels, &weights);
    (loss, Mat::from_fn(batch.len(), 1, |a, _| dz[a]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::gradient_check::{check_matrix, random};
    use rand::SeedableRng;

    // The tests run in f64: central differences need its precision.
    type Dense = super::Dense<f64>;
    type Stack = super::Stack<f64>;

    /// A scalar loss of a layer's output: Σ c_ij·y_ij with fixed c, so its
    /// output gradient is c.
    fn probe(y: &Mat<f64>, c: &Mat<f64>) -> f64 {
        (0..y.nrows())
            .flat_map(|i| (0..y.ncols()).map(move |j| (i, j)))
            .map(|(i, j)| y[(i, j)] * c[(i, j)])
            .sum()
    }

    #[test]
    fn dense_gradients_match_finite_differences() {
        let mut rng = Pcg64Mcg::seed_from_u64(1);
        let layer = Dense {
            b: vec![0.3, -0.2],
            ..Dense::new(3, 2, &mut rng)
        };
        let x = random(4, 3, 2);
        let c = random(4, 2, 3);
        let l2 = 0.05;
        let (grad, dx) = layer.backward(x.as_ref(), c.as_ref(), l2);
        check_matrix(&x, &|x| probe(&layer.forward(x.as_ref()), &c), &dx);
        let loss_w = |w: &Mat<f64>| {
            let l = Dense {
                w: w.clone(),
                ..layer.clone()
            };
            probe(&l.forward(x.as_ref()), &c) + l.penalty(l2)
        };
        check_matrix(&layer.w, &loss_w, &grad.w);
        let bias = Mat::from_fn(1, 2, |_, j| layer.b[j]);
        let loss_b = |b: &Mat<f64>| {
            let l = Dense {
                b: vec![b[(0, 0)], b[(0, 1)]],
                ..layer.clone()
            };
            probe(&l.forward(x.as_ref()), &c)
        };
        check_matrix(&bias, &loss_b, &Mat::from_fn(1, 2, |_, j| grad.b[j]));
    }

    #[test]
    fn dense_update_moves_every_weight_against_its_gradient() {
        let mut rng = Pcg64Mcg::seed_from_u64(1);
        let mut layer = Dense::new(3, 4, &mut rng);
        let before = layer.clone();
        let grad = DenseGrad {
            w: random(3, 4, 2),
            b: vec![1.0, -1.0, 0.5, 0.0],
        };
        let step = Step::new(super::super::train::Optimizer::Sgd, 0.1, 1);
        layer.update(&grad, &step);
        for i in 0..3 {
            for j in 0..4 {
                let moved = layer.w[(i, j)] - before.w[(i, j)];
                assert!((moved + 0.1 * grad.w[(i, j)]).abs() < 1e-12, "({i}, {j})");
            }
        }
        assert_eq!(layer.b, vec![-0.1, 0.1, -0.05, 0.0]);
    }

    #[test]
    fn relu_dropout_and_normalize_gradients_match_finite_differences() {
        let x = random(3, 4, 4);
        let c = random(3, 4, 5);
        // ReLU.
        let relu_of = |x: &Mat<f64>| {
            let mut y = x.clone();
            relu(&mut y);
            y
        };
        let mut dx = c.clone();
        relu_backward(relu_of(&x).as_ref(), &mut dx);
        check_matrix(&x, &|x| probe(&relu_of(x), &c), &dx);
        // Dropout with a fixed mask is linear in x.
        let mask = {
            let mut y = x.clone();
            dropout(&mut y, 0.5, &mut Pcg64Mcg::seed_from_u64(9)).unwrap()
        };
        assert!((0..3).any(|i| (0..4).any(|j| mask[(i, j)] == 0.0)));
        assert!((0..3).any(|i| (0..4).any(|j| mask[(i, j)] == 2.0)));
        let mut dx = c.clone();
        scale_by(&mut dx, &mask);
        let dropped = |x: &Mat<f64>| {
            let mut y = x.clone();
            scale_by(&mut y, &mask);
            y
        };
        check_matrix(&x, &|x| probe(&dropped(x), &c), &dx);
        // Normalisation.
        let normalized = |x: &Mat<f64>| {
            let mut y = x.clone();
            normalize(&mut y);
            y
        };
        let mut y = x.clone();
        let norms = normalize(&mut y);
        let mut dx = c.clone();
        normalize_backward(y.as_ref(), &norms, &mut dx);
        check_matrix(&x, &|x| probe(&normalized(x), &c), &dx);
    }

    #[test]
    fn stack_gradients_match_finite_differences_with_dropout() {
        let mut rng = Pcg64Mcg::seed_from_u64(11);
        let stack = Stack::new(3, &[5, 2], true, &mut rng);
        let x = random(4, 3, 12);
        let c = random(4, 2, 13);
        let l2 = 0.01;
        // The same seed gives the same dropout masks in every evaluation.
        let run = |s: &Stack, x: &Mat<f64>| {
            s.forward_train(x.clone(), 0.3, &mut Pcg64Mcg::seed_from_u64(14))
        };
        let (_, cache) = run(&stack, &x);
        let (grads, dx) = stack.backward(&cache, c.clone(), l2);
        check_matrix(&x, &|x| probe(&run(&stack, x).0, &c), &dx);
        for (k, grad) in grads.iter().enumerate() {
            let loss_w = |w: &Mat<f64>| {
                let mut s = stack.clone();
                s.layers[k].w = w.clone();
                probe(&run(&s, &x).0, &c) + s.penalty(l2)
            };
            check_matrix(&stack.layers[k].w, &loss_w, &grad.w);
        }
        // Without dropout the training pass is the evaluation pass.
        let plain = stack.forward_train(x.clone(), 0.0, &mut rng).0;
        assert_eq!(plain, stack.forward(x.clone()));
    }

    #[test]
    fn in_batch_softmax_gradients_match_finite_differences() {
        // Item 7 appears twice: an accidental hit, masked.
        let items = [7, 3, 7, 5];
        let weights = [1.0, 0.5, 2.0, 1.0];
        let corrections = [0.3, -0.2, 0.3, 0.1];
        let p = InBatch {
            items: &items,
            weights: &weights,
            corrections: &corrections,
            temperature: 0.2,
        };
        let (u, v) = (random(4, 3, 6), random(4, 3, 7));
        let (_, du, dv) = in_batch_softmax(u.as_ref(), v.as_ref(), &p, &mut Mat::new());
        check_matrix(
            &u,
            &|u| in_batch_softmax(u.as_ref(), v.as_ref(), &p, &mut Mat::new()).0,
            &du,
        );
        check_matrix(
            &v,
            &|v| in_batch_softmax(u.as_ref(), v.as_ref(), &p, &mut Mat::new()).0,
            &dv,
        );
    }

    /// The models train in f32: the same code in f32 gives the f64
    /// reference's loss and gradients (a tower with dropout, normalisation
    /// and the in-batch softmax with masking and logQ, 96 rows) to f32's
    /// precision.
    #[test]
    fn f32_training_matches_the_f64_reference() {
        fn narrow(m: &Mat<f64>) -> Mat<f32> {
            Mat::from_fn(m.nrows(), m.ncols(), |i, j| m[(i, j)] as f32)
        }
        /// Largest entry difference over the largest entry.
        fn gap(a: &Mat<f64>, b: &Mat<f32>) -> f64 {
            let mut worst = (0.0f64, 0.0f64);
            for j in 0..a.ncols() {
                for i in 0..a.nrows() {
                    let d = (a[(i, j)] - f64::from(b[(i, j)])).abs();
                    worst = (worst.0.max(d), worst.1.max(a[(i, j)].abs()));
                }
            }
            worst.0 / worst.1
        }
        fn run<T: Real>(x: Mat<T>, v: &Mat<T>) -> (f64, Mat<T>, Mat<T>, Mat<T>) {
            let stack = super::Stack::<T>::new(8, &[16, 6], true, &mut Pcg64Mcg::seed_from_u64(3));
            let (mut u, cache) = stack.forward_train(x, 0.2, &mut Pcg64Mcg::seed_from_u64(4));
            let norms = normalize(&mut u);
            let items: Vec<u32> = (0..96).map(|a| a % 80).collect();
            let weights: Vec<T> = (0..96).map(|a| T::of(0.5 + (a % 3) as f64)).collect();
            let corrections: Vec<T> = (0..96).map(|a| T::of(-0.01 * a as f64)).collect();
            let p = InBatch {
                items: &items,
                weights: &weights,
                corrections: &corrections,
                temperature: 0.1,
            };
            let (loss, mut du, dv) = in_batch_softmax(u.as_ref(), v.as_ref(), &p, &mut Mat::new());
            normalize_backward(u.as_ref(), &norms, &mut du);
            let (grads, dx) = stack.backward(&cache, du, 0.01);
            (loss, dv, dx, grads[0].w.clone())
        }
        let (x, v) = (random(96, 8, 5), random(96, 6, 6));
        let wide = run(x.clone(), &v);
        let narrow_run = run(narrow(&x), &narrow(&v));
        assert!(
            ((wide.0 - narrow_run.0) / wide.0).abs() < 1e-5,
            "loss {} vs {}",
            wide.0,
            narrow_run.0
        );
        for (name, a, b) in [
            ("dv", &wide.1, &narrow_run.1),
            ("dx", &wide.2, &narrow_run.2),
            ("dW", &wide.3, &narrow_run.3),
        ] {
            let g = gap(a, b);
            assert!(g < 1e-4, "{name}: relative gap {g}");
        }
    }

    #[test]
    fn in_batch_softmax_matches_a_hand_computed_case() {
        // Two rows, dim 1: u = [1, 2], v = [1, -1], τ = 1, no correction.
        // Row 0 logits [1, −1]: loss ln(e + e⁻¹) − 1; row 1 [2, −2]: ln(e² + e⁻²) + 2.
        let p = InBatch {
            items: &[0, 1],
            weights: &[1.0, 1.0],
            corrections: &[0.0, 0.0],
            temperature: 1.0,
        };
        let u = Mat::from_fn(2, 1, |i, _| [1.0, 2.0][i]);
        let v = Mat::from_fn(2, 1, |i, _| [1.0, -1.0][i]);
        let (loss, _, _) = in_batch_softmax(u.as_ref(), v.as_ref(), &p, &mut Mat::new());
        let e = std::f64::consts::E;
        let expected = ((e + 1.0 / e).ln() - 1.0 + (e * e + 1.0 / (e * e)).ln() + 2.0) / 2.0;
        assert!((loss - expected).abs() < 1e-12, "{loss} vs {expected}");
    }

    #[test]
    fn binary_cross_entropy_gradient_and_value() {
        let logits = [0.0, 2.0, -1.0, 40.0];
        let labels = [1.0, 0.0, 1.0, 1.0];
        let weights = [1.0, 1.0, 0.5, 1.0];
        let (loss, grad) = binary_cross_entropy(&logits, &labels, &weights);
        // ln 2 + ln(1 + e²) + 0.5·ln(1 + e) + ~0, over 4.
        let expected = (2f64.ln() + (1.0 + 2f64.exp()).ln() + 0.5 * (1.0 + 1f64.exp()).ln()) / 4.0;
        assert!((loss - expected).abs() < 1e-12, "{loss} vs {expected}");
        let h = 1e-6;
        for k in 0..4 {
            let (mut up, mut down) = (logits, logits);
            up[k] += h;
            down[k] -= h;
            let numeric = (binary_cross_entropy(&up, &labels, &weights).0
                - binary_cross_entropy(&down, &labels, &weights).0)
                / (2.0 * h);
            assert!(
                (numeric - grad[k]).abs() < 1e-8,
                "{k}: {numeric} vs {}",
                grad[k]
            );
        }
    }

    #[test]
    fn log_sigmoid_is_stable_at_the_extremes() {
        for z in [-800.0f64, -30.0, -1.0, 0.0, 1.0, 30.0, 800.0] {
            let direct = -(1.0 + (-z).exp()).ln();
            let stable = log_sigmoid(z);
            assert!(stable.is_finite(), "{z}");
            if direct.is_finite() {
                assert!((stable - direct).abs() < 1e-12, "{z}: {stable} vs {direct}");
            }
        }
    }
}
