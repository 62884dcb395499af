//! The gradient-check kit the models' tests share: central differences of
//! a loss against every entry of a dense layer, an embedding table or any
//! matrix, compared with the analytic gradient. In f64, whose precision
//! central differences need.

use faer::Mat;
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;

use super::train::Example;

type Dense = super::nn::Dense<f64>;
type DenseGrad = super::nn::DenseGrad<f64>;
type Table = super::train::Table<f64>;
type RowGrads = super::train::RowGrads<f64>;

/// A rows × cols matrix of uniform values in [−0.5, 0.5), from `seed`.
pub fn random(rows: usize, cols: usize, seed: u64) -> Mat<f64> {
    let mut rng = Pcg64Mcg::seed_from_u64(seed);
    Mat::from_fn(rows, cols, |_, _| rng.random::<f64>() - 0.5)
}

/// Four labelled examples over 3 users and 4 items, for the pointwise
/// models' gradient tests.
pub fn batch() -> Vec<Example> {
    [
        (0, 1, 1.0, 2.0),
        (0, 3, 0.0, 1.0),
        (1, 1, 0.0, 1.0),
        (2, 2, 1.0, 0.5),
    ]
    .map(|(user, item, label, weight)| Example {
        user,
        item,
        label,
        weight,
    })
    .to_vec()
}

/// Finite differences of `loss` against every entry of the embedding
/// table `get` picks out of `net`, against the sparse gradient `grads`.
pub fn check_table<N: Clone>(
    net: &N,
    get: fn(&mut N) -> &mut Table,
    grads: &RowGrads,
    loss: &dyn Fn(&N) -> f64,
) {
    let table = get(&mut net.clone()).clone();
    check_rows(&table, grads, &|t| {
        let mut probe = net.clone();
        *get(&mut probe) = t;
        loss(&probe)
    });
}

/// Central differences of `loss_with` (the loss with a table in place
/// of `table`) against every entry of `table`, vs the sparse `grads`.
pub fn check_rows(table: &Table, grads: &RowGrads, loss_with: &dyn Fn(Table) -> f64) {
    let (rows, d) = (table.rows(), table.dim);
    let at = Mat::from_fn(rows, d, |r, k| table.row(r as u32)[k]);
    let analytic = Mat::from_fn(rows, d, |r, k| grads.get(r as u32, d).map_or(0.0, |g| g[k]));
    check_matrix(
        &at,
        &|m| {
            loss_with(Table::from_values(
                d,
                (0..rows * d).map(|x| m[(x / d, x % d)]).collect(),
            ))
        },
        &analytic,
    );
}

/// Finite differences of `loss` against the weights of the dense layer
/// `get` picks out of `net`.
pub fn check_dense<N: Clone>(
    net: &N,
    get: fn(&mut N) -> &mut Dense,
    grad: &DenseGrad,
    loss: &dyn Fn(&N) -> f64,
) {
    let at = get(&mut net.clone()).w.clone();
    check_matrix(
        &at,
        &|w| {
            let mut probe = net.clone();
            get(&mut probe).w = w.clone();
            loss(&probe)
        },
        &grad.w,
    );
}

/// Central differences of `f` at `x` against `analytic`, every entry.
pub fn check_matrix(x: &Mat<f64>, f: &dyn Fn(&Mat<f64>) -> f64, analytic: &Mat<f64>) {
    let h = 1e-6;
    for i in 0..x.nrows() {
        for j in 0..x.ncols() {
            let (mut up, mut down) = (x.clone(), x.clone());
            up[(i, j)] += h;
            down[(i, j)] -= h;
            let numeric = (f(&up) - f(&down)) / (2.0 * h);
            let a = analytic[(i, j)];
            assert!(
                (numeric - a).abs() < 1e-6 * (1.0 + numeric.abs()),
                "({i}, {j}): numeric {numeric} vs analytic {a}"
            );
        }
    }
}
