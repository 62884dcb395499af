//! Train / validation / test splits, each a user × item [`CsrMatrix`].
//!
//! Validation is carved from train by the same rule as test, so selecting on
//! validation mimics how the selected model will be judged on test.

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_pcg::Pcg64Mcg;
use serde::{Deserialize, Serialize};

use crate::data::{CsrMatrix, Interactions};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SplitSpec {
    #[serde(default)]
    pub method: SplitMethod,
    /// Share of each user's (random_holdout) or of all (temporal) interactions
    /// held out; leave_one_out holds out exactly one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_fraction: Option<f64>,
    /// Carve a validation split from train the same way; selection uses it.
    #[serde(default = "yes")]
    pub validation: bool,
}

impl Default for SplitSpec {
    fn default() -> Self {
        Self {
            method: SplitMethod::LeaveOneOut,
            test_fraction: None,
            validation: true,
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum SplitMethod {
    #[default]
    LeaveOneOut,
    RandomHoldout,
    Temporal,
}

impl SplitMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            SplitMethod::LeaveOneOut => "leave_one_out",
            SplitMethod::RandomHoldout => "random_holdout",
            SplitMethod::Temporal => "temporal",
        }
    }
}

/// The share held out by random_holdout and temporal splits by default.
pub const DEFAULT_TEST_FRACTION: f64 = 0.2;

fn yes() -> bool {
    true
}

#[derive(Debug, Clone)]
pub struct Split {
    pub train: CsrMatrix,
    pub validation: Option<CsrMatrix>,
    pub test: CsrMatrix,
    pub stats: SplitStats,
}

impl Split {
    pub fn n_users(&self) -> usize {
        self.train.n_rows()
    }

    pub fn n_items(&self) -> usize {
        self.train.n_cols()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SplitStats {
    pub method: String,
    pub train_interactions: usize,
    pub validation_interactions: Option<usize>,
    pub test_interactions: usize,
    /// Users with at least one test item: the users every test metric averages over.
    pub test_users: usize,
    pub validation_users: Option<usize>,
    /// Users with no test item (too few interactions, or none after the cut):
    /// not evaluated.
    pub users_without_test: usize,
    /// Temporal split: users whose held-out rows were dropped because they have
    /// no train interaction to recommend from.
    pub cold_users_dropped: usize,
    /// Leave-one-out orders by timestamp when the data has them, else by input order.
    pub ordered_by: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SplitError {
    #[error("split.method temporal needs timestamps, but the dataset has none; use leave_one_out or random_holdout, or map a timestamp column")]
    NeedsTimestamps,
    #[error("the {method} split left no user with a test item ({users} users, {interactions} interactions); use a dataset with more interactions per user")]
    NoTestUsers {
        method: &'static str,
        users: usize,
        interactions: usize,
    },
}

/// Which part each interaction row goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Train,
    Validation,
    Test,
}

pub fn split(data: &Interactions, spec: &SplitSpec, seed: u64) -> Result<Split, SplitError> {
    let fraction = spec.test_fraction.unwrap_or(DEFAULT_TEST_FRACTION);
    let mut parts = vec![Part::Train; data.len()];
    match spec.method {
        SplitMethod::LeaveOneOut => {
            for rows in rows_by_user(data) {
                let ordered = time_ordered(data, rows);
                let n = ordered.len();
                if n >= 2 {
                    parts[ordered[n - 1]] = Part::Test;
                }
                if spec.validation && n >= 3 {
                    parts[ordered[n - 2]] = Part::Validation;
                }
            }
        }
        SplitMethod::RandomHoldout => {
            for (user, mut rows) in rows_by_user(data).into_iter().enumerate() {
                let mut rng = Pcg64Mcg::seed_from_u64(
                    seed ^ (user as u64 + 1).wrapping_mul(0xA076_1D64_78BD_642F),
                );
                rows.shuffle(&mut rng);
                let n_test = holdout_size(rows.len(), fraction);
                for &r in &rows[..n_test] {
                    parts[r] = Part::Test;
                }
                if spec.validation {
                    let rest = &rows[n_test..];
                    for &r in &rest[..holdout_size(rest.len(), fraction)] {
                        parts[r] = Part::Validation;
                    }
                }
            }
        }
        SplitMethod::Temporal => {
            let times = data
                .timestamps
                .as_ref()
                .ok_or(SplitError::NeedsTimestamps)?;
            let mut order: Vec<usize> = (0..data.len()).collect();
            order.sort_by_key(|&r| (times[r], r));
            let n_test = (fraction * order.len() as f64).ceil() as usize;
            let (before, after) = order.split_at(order.len() - n_test.min(order.len()));
            for &r in after {
                parts[r] = Part::Test;
            }
            if spec.validation {
                let n_val = (fraction * before.len() as f64).ceil() as usize;
                for &r in &before[before.len() - n_val.min(before.len())..] {
                    parts[r] = Part::Validation;
                }
            }
            // A user with nothing in train cannot be ranked from history: all
            // their rows are held out, so they leave the split and are counted.
            let mut has_train = vec![false; data.n_users()];
            for (r, p) in parts.iter().enumerate() {
                if *p == Part::Train {
                    has_train[data.users[r] as usize] = true;
                }
            }
            let mut cold = vec![false; data.n_users()];
            for &u in &data.users {
                cold[u as usize] = !has_train[u as usize];
            }
            let dropped = cold.iter().filter(|&&c| c).count();
            return build(data, spec, parts, dropped, Some(&cold));
        }
    }
    build(data, spec, parts, 0, None)
}

fn build(
    data: &Interactions,
    spec: &SplitSpec,
    parts: Vec<Part>,
    cold_users_dropped: usize,
    excluded_users: Option<&[bool]>,
) -> Result<Split, SplitError> {
    let mut pairs = [Vec::new(), Vec::new(), Vec::new()];
    for (r, part) in parts.iter().enumerate() {
        let u = data.users[r];
        if excluded_users.is_some_and(|x| x[u as usize]) {
            continue;
        }
        let slot = match part {
            Part::Train => 0,
            Part::Validation => 1,
            Part::Test => 2,
        };
        pairs[slot].push((u, data.items[r]));
    }
    let (nu, ni) = (data.n_users(), data.n_items());
    let train = CsrMatrix::from_pairs(nu, ni, &pairs[0]);
    let validation = spec
        .validation
        .then(|| CsrMatrix::from_pairs(nu, ni, &pairs[1]));
    let test = CsrMatrix::from_pairs(nu, ni, &pairs[2]);
    let test_users = test.nonempty_rows().len();
    if test_users == 0 {
        return Err(SplitError::NoTestUsers {
            method: spec.method.as_str(),
            users: nu,
            interactions: data.len(),
        });
    }
    let stats = SplitStats {
        method: spec.method.as_str().to_string(),
        train_interactions: train.nnz(),
        validation_interactions: validation.as_ref().map(CsrMatrix::nnz),
        test_interactions: test.nnz(),
        test_users,
        validation_users: validation.as_ref().map(|v| v.nonempty_rows().len()),
        users_without_test: nu - test_users,
        cold_users_dropped,
        ordered_by: if data.timestamps.is_some() {
            "timestamp (ties: input order)".into()
        } else {
            "input order (no timestamps)".into()
        },
    };
    Ok(Split {
        train,
        validation,
        test,
        stats,
    })
}

fn rows_by_user(data: &Interactions) -> Vec<Vec<usize>> {
    let mut rows = vec![Vec::new(); data.n_users()];
    for (r, &u) in data.users.iter().enumerate() {
        rows[u as usize].push(r);
    }
    rows
}

/// A user's rows from oldest to latest; equal timestamps keep input order, so
/// the later row counts as the latest.
fn time_ordered(data: &Interactions, mut rows: Vec<usize>) -> Vec<usize> {
    if let Some(times) = &data.timestamps {
        rows.sort_by_key(|&r| (times[r], r));
    }
    rows
}

/// round(fraction·n), but at least one and never all, when n ≥ 2.
fn holdout_size(n: usize, fraction: f64) -> usize {
    if n < 2 {
        return 0;
    }
    ((fraction * n as f64).round() as usize).clamp(1, n - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three users: u0 has 4 rows, u1 has 2 (tied timestamps), u2 has 1.
    fn data() -> Interactions {
        Interactions {
            users: vec![0, 0, 1, 0, 1, 0, 2],
            items: vec![0, 1, 2, 2, 3, 3, 0],
            timestamps: Some(vec![10, 40, 5, 20, 5, 30, 50]),
            ratings: None,
            user_labels: vec!["a".into(), "b".into(), "c".into()],
            item_labels: (0..4).map(|i| i.to_string()).collect(),
        }
    }

    fn spec(method: SplitMethod, validation: bool, fraction: Option<f64>) -> SplitSpec {
        SplitSpec {
            method,
            test_fraction: fraction,
            validation,
        }
    }

    #[test]
    fn leave_one_out_holds_out_the_latest_and_breaks_ties_by_input_order() {
        let s = split(&data(), &spec(SplitMethod::LeaveOneOut, true, None), 1).unwrap();
        assert_eq!(s.test.row(0), &[1]); // t=40
        assert_eq!(s.validation.as_ref().unwrap().row(0), &[3]); // t=30
        assert_eq!(s.train.row(0), &[0, 2]);
        assert_eq!(s.test.row(1), &[3]); // tie at t=5: the later row
        assert_eq!(s.validation.as_ref().unwrap().row(1), &[] as &[u32]);
        assert_eq!(s.test.row(2), &[] as &[u32]); // one interaction: train only
        assert_eq!(s.stats.test_users, 2);
        assert_eq!(s.stats.users_without_test, 1);
    }

    #[test]
    fn parts_are_disjoint_and_cover_the_data() {
        for method in [
            SplitMethod::LeaveOneOut,
            SplitMethod::RandomHoldout,
            SplitMethod::Temporal,
        ] {
            let fraction = (method != SplitMethod::LeaveOneOut).then_some(0.2);
            let d = data();
            let s = split(&d, &spec(method, true, fraction), 9).unwrap();
            let mut total = 0;
            let mut absent_rows = 0;
            for u in 0..3 {
                let v = s.validation.as_ref().unwrap();
                for m in [s.test.row(u), v.row(u)] {
                    for i in m {
                        assert!(
                            !s.train.contains(u, *i),
                            "{method:?}: ({u},{i}) in two parts"
                        );
                    }
                }
                assert!(s.test.row(u).iter().all(|i| !v.contains(u, *i)));
                let present = s.train.row(u).len() + s.test.row(u).len() + v.row(u).len();
                if present == 0 {
                    absent_rows += d.users.iter().filter(|&&x| x as usize == u).count();
                }
                total += present;
            }
            assert_eq!(total + absent_rows, d.len(), "{method:?}");
        }
    }

    #[test]
    fn temporal_split_puts_the_latest_share_in_test_and_drops_cold_users() {
        let s = split(&data(), &spec(SplitMethod::Temporal, false, Some(0.3)), 0).unwrap();
        // ceil(0.3·7) = 3 latest rows: t=50 (u2), t=40 (u0), t=30 (u0).
        assert_eq!(s.test.row(0), &[1, 3]);
        // u2's only row is in test: no history, dropped.
        assert_eq!(s.stats.cold_users_dropped, 1);
        assert_eq!(s.test.row(2), &[] as &[u32]);
        let mut no_time = data();
        no_time.timestamps = None;
        assert!(matches!(
            split(&no_time, &spec(SplitMethod::Temporal, false, Some(0.3)), 0),
            Err(SplitError::NeedsTimestamps)
        ));
    }

    #[test]
    fn random_holdout_sizes_follow_the_fraction_and_the_seed() {
        let sp = spec(SplitMethod::RandomHoldout, false, Some(0.5));
        let a = split(&data(), &sp, 1).unwrap();
        assert_eq!(a.test.row(0).len(), 2); // round(0.5·4)
        assert_eq!(a.test.row(1).len(), 1); // at least one, never all
        assert_eq!(a.test.row(2).len(), 0); // a single row stays in train
        assert_eq!(split(&data(), &sp, 1).unwrap().test, a.test);
    }
}
