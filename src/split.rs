//! Train / validation / test splits, each a user × item [`CsrMatrix`].
//!
//! Validation is carved from train by the same rule as test, so selecting on
//! validation mimics how the selected model will be judged on test. The
//! cold-start splits hold out whole items (or users), so the held-out
//! entities have no train interaction at all; `files` takes a split made
//! elsewhere, one file per part.
//!
//! `selection.folds: k` asks for k validation folds instead of one: the same
//! test part, and the rest (what train and validation share) partitioned so
//! that each fold validates on a disjoint share and trains on the others
//! ([`Fold`]; docs/spec.md, "Validation folds").

use std::path::PathBuf;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_pcg::Pcg64Mcg;
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use crate::data::{CsrMatrix, Interactions, Side};
use crate::describe::Issues;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SplitSpec {
    #[serde(default)]
    pub method: SplitMethod,
    /// Share of each user's (random_holdout) or of all (temporal)
    /// interactions held out, or of the items (cold_items) or users
    /// (cold_users); leave_one_out holds out exactly one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_fraction: Option<f64>,
    /// Carve a validation split from train the same way (selection uses
    /// it); with `method: files`, the validation file's path, or true to
    /// carve a random share of each user's train rows.
    #[serde(default)]
    pub validation: Validation,
    /// cold_items: rank each user's held-out items among the cold items
    /// only, or among the whole catalogue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub candidates: Option<ColdCandidates>,
    /// files: the train and test files (same loader settings as the dataset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<PathBuf>,
}

impl Default for SplitSpec {
    fn default() -> Self {
        Self {
            method: SplitMethod::LeaveOneOut,
            test_fraction: None,
            validation: Validation::default(),
            candidates: None,
            train: None,
            test: None,
        }
    }
}

impl SplitSpec {
    /// Whether the split has a validation part.
    pub fn has_validation(&self) -> bool {
        match (&self.validation, self.method) {
            (Validation::File(_), _) => true,
            (Validation::Carve(on), _) => *on,
        }
    }

    /// The side whose held-out entities have no train interaction.
    pub fn cold_side(&self) -> Option<Side> {
        match self.method {
            SplitMethod::ColdItems => Some(Side::Items),
            SplitMethod::ColdUsers => Some(Side::Users),
            _ => None,
        }
    }

    /// The three files of `method: files`, in part order.
    pub fn files(&self) -> Vec<(&'static str, &PathBuf)> {
        let validation = match &self.validation {
            Validation::File(p) => Some(p),
            Validation::Carve(_) => None,
        };
        [
            ("train", self.train.as_ref()),
            ("validation", validation),
            ("test", self.test.as_ref()),
        ]
        .into_iter()
        .filter_map(|(name, p)| Some((name, p?)))
        .collect()
    }

    /// Problems of the section alone, each as (key path, message): keys
    /// of another method, a test fraction out of range.
    pub fn issues(&self) -> Issues {
        let mut out = Issues::default();
        let method = self.method.as_str();
        if self.method != SplitMethod::Files {
            for (present, key) in [
                (self.train.is_some(), "train"),
                (self.test.is_some(), "test"),
            ] {
                if present {
                    out.push(
                        format!("split.{key}"),
                        format!("`{key}` is a file of split.method files; it does not apply to {method}"),
                    );
                }
            }
            if let Validation::File(p) = &self.validation {
                out.push(
                    "split.validation",
                    format!(
                        "`{}` is a path, which only split.method files takes; {method} carves validation itself (true or false)",
                        p.display()
                    ),
                );
            }
        } else {
            for (missing, key) in [
                (self.train.is_none(), "train"),
                (self.test.is_none(), "test"),
            ] {
                if missing {
                    out.push(
                        "split",
                        format!("missing required key `{key}` (a file path) for method files"),
                    );
                }
            }
        }
        if self.candidates.is_some() && self.method != SplitMethod::ColdItems {
            out.push(
                "split.candidates",
                format!("applies to cold_items only (which items a user's cold items are ranked against), not {method}"),
            );
        }
        match (self.method, self.test_fraction) {
            (SplitMethod::LeaveOneOut | SplitMethod::Files, Some(_)) => out.push(
                "split.test_fraction",
                format!("does not apply to {method} (leave_one_out holds out one interaction per user, files takes the parts as given)"),
            ),
            (_, Some(f)) if !(f > 0.0 && f < 1.0) => out.push(
                "split.test_fraction",
                format!("{f} is out of range; must be in (0, 1)"),
            ),
            _ => {}
        }
        out
    }

    /// The defaults that depend on the method, written in so the stored
    /// spec names them: the test fraction, a cold split's candidates.
    pub fn fill_defaults(&mut self) {
        if self.test_fraction.is_none() {
            self.test_fraction = match self.method {
                SplitMethod::LeaveOneOut | SplitMethod::Files => None,
                SplitMethod::ColdItems | SplitMethod::ColdUsers => Some(DEFAULT_COLD_FRACTION),
                _ => Some(DEFAULT_TEST_FRACTION),
            };
        }
        if self.method == SplitMethod::ColdItems && self.candidates.is_none() {
            self.candidates = Some(ColdCandidates::default());
        }
    }
}

/// `split.validation`: a flag (carve one) or, with `method: files`, a path.
#[derive(Debug, Clone, PartialEq)]
pub enum Validation {
    Carve(bool),
    File(PathBuf),
}

impl Default for Validation {
    fn default() -> Self {
        Validation::Carve(true)
    }
}

impl Serialize for Validation {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Validation::Carve(on) => s.serialize_bool(*on),
            Validation::File(p) => p.serialize(s),
        }
    }
}

impl schemars::JsonSchema for Validation {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Validation".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "true, false, or (with method: files) a file path",
            "type": ["boolean", "string"],
            "default": true,
        })
    }
}

impl<'de> Deserialize<'de> for Validation {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl Visitor<'_> for Visit {
            type Value = Validation;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("true, false, or (with method: files) a file path")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Validation, E> {
                Ok(Validation::Carve(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Validation, E> {
                Ok(Validation::File(PathBuf::from(v)))
            }
        }
        d.deserialize_any(Visit)
    }
}

/// What a cold_items split ranks a user's held-out items against.
#[derive(
    Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ColdCandidates {
    /// The held-out (cold) items only: how well features place new items.
    #[default]
    Cold,
    /// Every item the user has not interacted with, warm ones included.
    All,
}

#[derive(
    Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum SplitMethod {
    #[default]
    LeaveOneOut,
    RandomHoldout,
    Temporal,
    ColdItems,
    ColdUsers,
    Files,
}

impl SplitMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            SplitMethod::LeaveOneOut => "leave_one_out",
            SplitMethod::RandomHoldout => "random_holdout",
            SplitMethod::Temporal => "temporal",
            SplitMethod::ColdItems => "cold_items",
            SplitMethod::ColdUsers => "cold_users",
            SplitMethod::Files => "files",
        }
    }
}

/// The share held out by random_holdout and temporal splits by default.
pub const DEFAULT_TEST_FRACTION: f64 = 0.2;
/// The share of each user's train rows a files split without a validation
/// file carves for validation: the 80/20 per-user rule of the published
/// splits it mostly reads (NGCF/LightGCN), applied once more to train.
pub const FILES_VALIDATION_FRACTION: f64 = 0.2;
/// The share of items (users) held out by cold_items (cold_users) by default.
pub const DEFAULT_COLD_FRACTION: f64 = 0.1;

#[derive(Debug, Clone)]
pub struct Split {
    pub train: CsrMatrix,
    pub validation: Option<CsrMatrix>,
    pub test: CsrMatrix,
    /// `candidates: cold`: each evaluated user's candidate items (the cold
    /// items of that part), ranked instead of the catalogue.
    pub candidates: Option<PartCandidates>,
    pub stats: SplitStats,
}

/// Per-user candidate lists of the validation and test parts.
#[derive(Debug, Clone)]
pub struct PartCandidates {
    pub validation: Option<CsrMatrix>,
    pub test: CsrMatrix,
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
    /// Cold-start splits: items (users) held out entirely for test.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cold_test: Option<usize>,
    /// Users and items with no train interaction but some held-out one
    /// (a files split's test-only ids): kept and evaluated, not dropped.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub users_without_train: usize,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub items_without_train: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

#[derive(Debug, thiserror::Error)]
pub enum SplitError {
    #[error("split.method temporal needs timestamps, but the dataset has none; use leave_one_out or random_holdout, or map a timestamp column")]
    NeedsTimestamps,
    #[error("split.method files needs the data read from its files (a parts column), but the dataset came from one source")]
    NoParts,
    #[error("the {method} split left no user with a test item ({users} users, {interactions} interactions); use a dataset with more interactions per user")]
    NoTestUsers {
        method: &'static str,
        users: usize,
        interactions: usize,
    },
    #[error("selection.folds: the {method} split has one validation part (the latest share of the data, or the given file), not folds; use random_holdout, leave_one_out, a cold split, or files with `validation: true`")]
    NoFolds { method: &'static str },
    #[error("selection.folds: {count} folds of the {n} {side} outside test leave a fold empty; use at most {n} folds")]
    EmptyFold {
        side: &'static str,
        n: usize,
        count: usize,
    },
    #[error("split.test_fraction: {fraction} of {n} {side} holds out round({fraction}·{n}) = 0 {side} for {part}; a {method} split needs at least one (use test_fraction ≥ {least})")]
    NothingHeldOut {
        method: &'static str,
        side: &'static str,
        part: &'static str,
        fraction: f64,
        n: usize,
        least: String,
    },
}

/// Which part each interaction row goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Train,
    Validation,
    Test,
}

/// One of k validation folds: the `index`-th share of what is not test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fold {
    pub index: usize,
    pub count: usize,
}

impl Fold {
    /// This fold's share of `rest` (shuffled or ordered by the caller):
    /// the k shares are contiguous, disjoint and cover `rest`, their sizes
    /// differing by at most one.
    fn of<'a, T>(&self, rest: &'a [T]) -> &'a [T] {
        let n = rest.len();
        &rest[self.index * n / self.count..(self.index + 1) * n / self.count]
    }
}

pub fn split(data: &Interactions, spec: &SplitSpec, seed: u64) -> Result<Split, SplitError> {
    split_fold(data, spec, seed, None)
}

/// The split of each of `count` validation folds, in fold order: the same
/// train ∪ validation and test in every one.
pub fn folds(
    data: &Interactions,
    spec: &SplitSpec,
    seed: u64,
    count: usize,
) -> Result<Vec<Split>, SplitError> {
    (0..count)
        .map(|index| split_fold(data, spec, seed, Some(Fold { index, count })))
        .collect()
}

fn split_fold(
    data: &Interactions,
    spec: &SplitSpec,
    seed: u64,
    fold: Option<Fold>,
) -> Result<Split, SplitError> {
    let fraction = spec.test_fraction.unwrap_or(DEFAULT_TEST_FRACTION);
    let validation = spec.has_validation();
    let no_folds = || match fold {
        Some(_) => Err(SplitError::NoFolds {
            method: spec.method.as_str(),
        }),
        None => Ok(()),
    };
    match spec.method {
        SplitMethod::Files => {
            if matches!(spec.validation, Validation::File(_)) {
                no_folds()?;
            }
            build(data, spec, given_parts(data, spec, seed, fold)?, 0, None)
        }
        SplitMethod::ColdItems | SplitMethod::ColdUsers => {
            cold(data, spec, fraction, validation, seed, fold)
        }
        SplitMethod::LeaveOneOut => {
            let parts = leave_one_out(data, validation, fold);
            build(data, spec, parts, 0, None)
        }
        SplitMethod::RandomHoldout => {
            let parts = random_holdout(data, fraction, validation, seed, fold);
            build(data, spec, parts, 0, None)
        }
        SplitMethod::Temporal => {
            no_folds()?;
            temporal(data, spec, fraction, validation)
        }
    }
}

/// The parts the files gave; without a validation file, one carved from
/// each user's train rows at random, as random_holdout carves its own (or
/// the fold's share of them).
fn given_parts(
    data: &Interactions,
    spec: &SplitSpec,
    seed: u64,
    fold: Option<Fold>,
) -> Result<Vec<Part>, SplitError> {
    let given = data.parts.as_ref().ok_or(SplitError::NoParts)?;
    let mut parts: Vec<Part> = given
        .iter()
        .map(|g| match g {
            0 => Part::Train,
            1 => Part::Validation,
            _ => Part::Test,
        })
        .collect();
    if spec.validation == Validation::Carve(true) {
        for (user, rows) in rows_by_user(data).into_iter().enumerate() {
            let mut train: Vec<usize> = rows
                .into_iter()
                .filter(|&r| parts[r] == Part::Train)
                .collect();
            shuffle_for_user(&mut train, user, seed);
            let carved = match fold {
                Some(f) => f.of(&train),
                None => &train[..holdout_size(train.len(), FILES_VALIDATION_FRACTION)],
            };
            for &r in carved {
                parts[r] = Part::Validation;
            }
        }
    }
    Ok(parts)
}

/// cold_items and cold_users: a share of the items (users) held out with
/// every interaction; under `candidates: cold`, each user ranks the cold
/// items only.
fn cold(
    data: &Interactions,
    spec: &SplitSpec,
    fraction: f64,
    validation: bool,
    seed: u64,
    fold: Option<Fold>,
) -> Result<Split, SplitError> {
    let side = spec.cold_side().expect("a cold split");
    let (ids, n) = match side {
        Side::Items => (&data.items, data.n_items()),
        Side::Users => (&data.users, data.n_users()),
    };
    let of =
        held_out_entities(n, fraction, validation, seed, fold).map_err(|(part, n)| match fold {
            Some(f) if part == FOLD => SplitError::EmptyFold {
                side: side.as_str(),
                n,
                count: f.count,
            },
            _ => SplitError::NothingHeldOut {
                method: spec.method.as_str(),
                side: side.as_str(),
                part,
                fraction,
                n,
                // round(f·n) ≥ 1 from f = 0.5/n on.
                least: crate::format::format_number(0.5 / n.max(1) as f64),
            },
        })?;
    let parts: Vec<Part> = ids.iter().map(|&e| of[e as usize]).collect();
    let mut split = build(data, spec, parts, 0, None)?;
    split.stats.cold_test = Some(of.iter().filter(|&&p| p == Part::Test).count());
    if side == Side::Items && spec.candidates.unwrap_or_default() == ColdCandidates::Cold {
        let users = |m: &CsrMatrix| m.nonempty_rows();
        let list =
            |part| -> Vec<u32> { (0..n as u32).filter(|&i| of[i as usize] == part).collect() };
        let rows = |m: &CsrMatrix, items: &[u32]| {
            let pairs: Vec<(u32, u32)> = users(m)
                .into_iter()
                .flat_map(|u| items.iter().map(move |&i| (u, i)))
                .collect();
            CsrMatrix::from_pairs(m.n_rows(), m.n_cols(), &pairs)
        };
        split.candidates = Some(PartCandidates {
            validation: split
                .validation
                .as_ref()
                .map(|v| rows(v, &list(Part::Validation))),
            test: rows(&split.test, &list(Part::Test)),
        });
    }
    Ok(split)
}

/// Each user's latest interaction for test, the one before for validation;
/// fold f of k validates on the (f+2)-th latest instead (users with fewer
/// than f+3 interactions have none in that fold): k single held-out items
/// per user rather than one.
fn leave_one_out(data: &Interactions, validation: bool, fold: Option<Fold>) -> Vec<Part> {
    let back = fold.map_or(0, |f| f.index);
    let mut parts = vec![Part::Train; data.len()];
    for rows in rows_by_user(data) {
        let ordered = time_ordered(data, rows);
        let n = ordered.len();
        if n >= 2 {
            parts[ordered[n - 1]] = Part::Test;
        }
        if validation && n >= 3 + back {
            parts[ordered[n - 2 - back]] = Part::Validation;
        }
    }
    parts
}

/// A seeded random share of each user's interactions for test, the same
/// share of the rest for validation (or the fold's share of the rest).
fn random_holdout(
    data: &Interactions,
    fraction: f64,
    validation: bool,
    seed: u64,
    fold: Option<Fold>,
) -> Vec<Part> {
    let mut parts = vec![Part::Train; data.len()];
    for (user, mut rows) in rows_by_user(data).into_iter().enumerate() {
        shuffle_for_user(&mut rows, user, seed);
        let n_test = holdout_size(rows.len(), fraction);
        for &r in &rows[..n_test] {
            parts[r] = Part::Test;
        }
        if validation {
            let rest = &rows[n_test..];
            let carved = match fold {
                Some(f) => f.of(rest),
                None => &rest[..holdout_size(rest.len(), fraction)],
            };
            for &r in carved {
                parts[r] = Part::Validation;
            }
        }
    }
    parts
}

/// The latest share of all interactions for test, the share before it for
/// validation; users left with nothing in train leave the split, counted.
fn temporal(
    data: &Interactions,
    spec: &SplitSpec,
    fraction: f64,
    validation: bool,
) -> Result<Split, SplitError> {
    let times = data
        .timestamps
        .as_ref()
        .ok_or(SplitError::NeedsTimestamps)?;
    let mut parts = vec![Part::Train; data.len()];
    let mut order: Vec<usize> = (0..data.len()).collect();
    order.sort_by_key(|&r| (times[r], r));
    let n_test = (fraction * order.len() as f64).ceil() as usize;
    let (before, after) = order.split_at(order.len() - n_test.min(order.len()));
    for &r in after {
        parts[r] = Part::Test;
    }
    if validation {
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
    build(data, spec, parts, dropped, Some(&cold))
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
        .has_validation()
        .then(|| CsrMatrix::from_pairs(nu, ni, &pairs[1]));
    let test = CsrMatrix::from_pairs(nu, ni, &pairs[2]);
    let test_users = test.nonempty_rows().len();
    let has_held_out = |u: usize| {
        !test.row(u).is_empty() || validation.as_ref().is_some_and(|v| !v.row(u).is_empty())
    };
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
        cold_test: None,
        users_without_train: (0..nu)
            .filter(|&u| train.row(u).is_empty() && has_held_out(u))
            .count(),
        items_without_train: {
            let trained = train.column_counts();
            let mut held = vec![false; ni];
            for m in [Some(&test), validation.as_ref()].into_iter().flatten() {
                for (_, i) in m.pairs() {
                    held[i as usize] = true;
                }
            }
            (0..ni).filter(|&i| trained[i] == 0 && held[i]).count()
        },
    };
    Ok(Split {
        train,
        validation,
        test,
        candidates: None,
        stats,
    })
}

/// Which part each entity (item or user) of a cold split goes to: a seeded
/// shuffle, the first round(fraction·n) to test, round(fraction·rest) of
/// the rest to validation (or the fold's share of the rest), the others to
/// train (at least one entity stays in train). A part that rounds to
/// nothing is an error, (part, n): unlike
/// a per-user holdout, where one item more is a small change, one whole
/// item or user held out where the spec asked for none makes every list
/// trivially perfect.
/// The part [`held_out_entities`] names when a fold came out empty.
const FOLD: &str = "validation fold";

fn held_out_entities(
    n: usize,
    fraction: f64,
    validation: bool,
    seed: u64,
    fold: Option<Fold>,
) -> Result<Vec<Part>, (&'static str, usize)> {
    let size = |n: usize, part| match (fraction * n as f64).round() as usize {
        0 => Err((part, n)),
        held => Ok(held.min(n.saturating_sub(1))),
    };
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut Pcg64Mcg::seed_from_u64(seed ^ 0xC01D_5EED));
    let mut of = vec![Part::Train; n];
    let n_test = size(n, "test")?;
    for &e in &order[..n_test] {
        of[e] = Part::Test;
    }
    if validation {
        let rest = &order[n_test..];
        let carved = match fold {
            Some(f) if f.of(rest).is_empty() => return Err((FOLD, rest.len())),
            Some(f) => f.of(rest),
            None => &rest[..size(rest.len(), "validation")?],
        };
        for &e in carved {
            of[e] = Part::Validation;
        }
    }
    Ok(of)
}

/// A user's rows in a seeded order of their own, so one user's draw does
/// not depend on another's.
fn shuffle_for_user(rows: &mut [usize], user: usize, seed: u64) {
    let mut rng =
        Pcg64Mcg::seed_from_u64(seed ^ (user as u64 + 1).wrapping_mul(0xA076_1D64_78BD_642F));
    rows.shuffle(&mut rng);
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
            parts: None,
        }
    }

    fn spec(method: SplitMethod, validation: bool, fraction: Option<f64>) -> SplitSpec {
        SplitSpec {
            method,
            test_fraction: fraction,
            validation: Validation::Carve(validation),
            ..SplitSpec::default()
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

    /// 6 users × 10 items, every user on items u..u+4 (mod 10).
    fn wide() -> Interactions {
        let (mut users, mut items) = (Vec::new(), Vec::new());
        for u in 0..6u32 {
            for k in 0..5u32 {
                users.push(u);
                items.push((u + k) % 10);
            }
        }
        Interactions {
            users,
            items,
            timestamps: None,
            ratings: None,
            user_labels: (0..6).map(|u| u.to_string()).collect(),
            item_labels: (0..10).map(|i| i.to_string()).collect(),
            parts: None,
        }
    }

    #[test]
    fn cold_items_hold_out_whole_items_and_rank_them_among_themselves() {
        let mut sp = spec(SplitMethod::ColdItems, true, Some(0.2));
        sp.candidates = Some(ColdCandidates::Cold);
        let s = split(&wide(), &sp, 3).unwrap();
        let train_items = s.train.column_counts();
        let cold: Vec<u32> = (0..10)
            .filter(|&i| s.test.column_counts()[i as usize] > 0)
            .collect();
        assert_eq!(s.stats.cold_test, Some(2)); // round(0.2·10)
        assert!(cold.len() <= 2);
        let v = s.validation.as_ref().unwrap();
        for u in 0..6 {
            for &i in s.test.row(u).iter().chain(v.row(u)) {
                assert_eq!(train_items[i as usize], 0, "held-out item {i} in train");
            }
            // Every interaction with a cold item is held out.
            for k in 0..5u32 {
                let i = (u as u32 + k) % 10;
                let held = s.test.contains(u, i) || v.contains(u, i);
                assert_eq!(held, train_items[i as usize] == 0);
            }
        }
        let c = s.candidates.as_ref().unwrap();
        for u in s.test.nonempty_rows() {
            let row = c.test.row(u as usize);
            assert!(row
                .iter()
                .all(|&i| train_items[i as usize] == 0 && s.test.column_counts()[i as usize] > 0));
            assert!(s.test.row(u as usize).iter().all(|i| row.contains(i)));
        }
        assert_eq!(split(&wide(), &sp, 3).unwrap().test, s.test);
    }

    #[test]
    fn cold_users_hold_out_every_interaction_of_a_user() {
        let sp = spec(SplitMethod::ColdUsers, false, Some(0.34));
        let s = split(&wide(), &sp, 1).unwrap();
        assert_eq!(s.stats.cold_test, Some(2)); // round(0.34·6)
        for u in 0..6 {
            assert!(s.train.row(u).is_empty() != s.test.row(u).is_empty());
        }
        assert_eq!(s.stats.users_without_train, 2);
        assert!(s.candidates.is_none());
    }

    #[test]
    fn files_take_each_row_to_the_part_it_came_from() {
        let mut d = data();
        d.parts = Some(vec![0, 2, 0, 1, 2, 0, 2]);
        let mut sp = spec(SplitMethod::Files, false, None);
        sp.validation = Validation::File("v.tsv".into());
        let s = split(&d, &sp, 0).unwrap();
        assert_eq!(s.train.row(0), &[0, 3]);
        assert_eq!(s.test.row(0), &[1]);
        assert_eq!(s.validation.as_ref().unwrap().row(0), &[2]);
        // u2's only row is a test row: kept and counted, not dropped.
        assert_eq!(s.test.row(2), &[0]);
        assert_eq!(s.stats.users_without_train, 1);
        d.parts = None;
        assert!(matches!(split(&d, &sp, 0), Err(SplitError::NoParts)));
    }

    #[test]
    fn files_without_a_validation_file_carve_a_fifth_of_each_users_train_rows() {
        // u0: items 0..10 in train, 10 and 11 in test; u1: item 0 in train,
        // item 1 in test (one train row: nothing to carve).
        let mut users = vec![0; 12];
        let mut items: Vec<u32> = (0..12).collect();
        let mut parts = vec![0u8; 10];
        parts.extend([2, 2]);
        users.extend([1, 1]);
        items.extend([0, 1]);
        parts.extend([0, 2]);
        let d = Interactions {
            users,
            items,
            timestamps: None,
            ratings: None,
            user_labels: vec!["a".into(), "b".into()],
            item_labels: (0..12).map(|i| i.to_string()).collect(),
            parts: Some(parts),
        };
        let sp = spec(SplitMethod::Files, true, None);
        let s = split(&d, &sp, 3).unwrap();
        let v = s.validation.as_ref().unwrap();
        assert_eq!(v.row(0).len(), 2, "round(0.2 · 10) rows");
        assert!(v.row(0).iter().all(|&i| i < 10), "carved from train only");
        assert_eq!(s.train.row(0).len(), 8);
        assert_eq!(s.test.row(0), &[10, 11], "test as given");
        assert_eq!((s.train.row(1), v.row(1)), (&[0u32][..], &[] as &[u32]));
        assert_eq!(s.stats.validation_interactions, Some(2));
        let again = split(&d, &sp, 3).unwrap();
        assert_eq!(again.validation.unwrap().row(0), v.row(0), "seeded");
        let draws: std::collections::BTreeSet<Vec<u32>> = (0..20)
            .map(|seed| {
                split(&d, &sp, seed)
                    .unwrap()
                    .validation
                    .unwrap()
                    .row(0)
                    .to_vec()
            })
            .collect();
        assert!(draws.len() > 1, "the seed picks the rows");
    }

    /// Every fold of `k`: the same test and train ∪ validation, validation
    /// parts pairwise disjoint; returns the folds.
    fn check_folds(d: &Interactions, sp: &SplitSpec, k: usize) -> Vec<Split> {
        let all = folds(d, sp, 5, k).unwrap();
        assert_eq!(all.len(), k);
        let union = |s: &Split| {
            let mut pairs: Vec<(u32, u32)> = s.train.pairs().collect();
            pairs.extend(s.validation.as_ref().unwrap().pairs());
            pairs.sort_unstable();
            pairs
        };
        for s in &all {
            assert_eq!(s.test, all[0].test, "{:?}: test is the same", sp.method);
            assert_eq!(
                union(s),
                union(&all[0]),
                "{:?}: train ∪ validation",
                sp.method
            );
        }
        for (a, x) in all.iter().enumerate() {
            for y in &all[a + 1..] {
                let (vx, vy) = (
                    x.validation.as_ref().unwrap(),
                    y.validation.as_ref().unwrap(),
                );
                assert!(
                    vx.pairs().all(|(u, i)| !vy.contains(u as usize, i)),
                    "{:?}: folds overlap",
                    sp.method
                );
            }
        }
        all
    }

    #[test]
    fn folds_partition_what_test_leaves_and_keep_test() {
        // random_holdout: the k shares cover every non-test row.
        let sp = spec(SplitMethod::RandomHoldout, true, Some(0.2));
        let all = check_folds(&wide(), &sp, 3);
        let validated: usize = all
            .iter()
            .map(|s| s.validation.as_ref().unwrap().nnz())
            .sum();
        assert_eq!(
            validated,
            all[0].train.nnz() + all[0].validation.as_ref().unwrap().nnz()
        );
        // leave_one_out: u0 (4 rows: items 0, 2, 3, 1 by time) validates on
        // its 2nd latest (3), then 3rd latest (2), then has none; u1 (2
        // rows) never has one.
        let sp = spec(SplitMethod::LeaveOneOut, true, None);
        let all = check_folds(&data(), &sp, 3);
        let rows: Vec<&[u32]> = all
            .iter()
            .map(|s| s.validation.as_ref().unwrap().row(0))
            .collect();
        assert_eq!(rows, [&[3u32][..], &[2], &[]]);
        assert!(all
            .iter()
            .all(|s| s.validation.as_ref().unwrap().row(1).is_empty()));
        // cold_items: 8 non-test items in shares of 2, 3 and 3.
        let sp = spec(SplitMethod::ColdItems, true, Some(0.2));
        let all = check_folds(&wide(), &sp, 3);
        let held = |s: &Split| {
            let counts = s.validation.as_ref().unwrap().column_counts();
            counts.iter().filter(|&&c| c > 0).count()
        };
        assert_eq!(all.iter().map(held).collect::<Vec<_>>(), [2, 3, 3]);
        assert!(matches!(
            folds(&wide(), &sp, 5, 9),
            Err(SplitError::EmptyFold { n: 8, count: 9, .. })
        ));
        // Temporal's one latest share and a given file have no folds.
        let sp = spec(SplitMethod::Temporal, true, Some(0.2));
        assert!(matches!(
            folds(&data(), &sp, 5, 2),
            Err(SplitError::NoFolds { .. })
        ));
        let mut d = data();
        d.parts = Some(vec![0, 2, 0, 1, 2, 0, 2]);
        let mut sp = spec(SplitMethod::Files, false, None);
        sp.validation = Validation::File("v.tsv".into());
        assert!(matches!(
            folds(&d, &sp, 5, 2),
            Err(SplitError::NoFolds { .. })
        ));
    }
}
