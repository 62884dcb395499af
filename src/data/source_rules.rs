//! The rules of a spec's `dataset` section: which keys apply to which
//! source, what a randomised test needs, the generator's ranges. The
//! section owns them; the spec parser places each problem in the file.

use super::source::{DataSource, DatasetSpec};
use crate::describe::Issues;

/// Bounds of the synthetic generator's sizes: far above any benchmark
/// (ML-20M: 138K users, 27K items, 20M interactions) and below what would
/// make its per-user and per-item tables fail to allocate.
const MAX_SYNTHETIC_SIDE: usize = 10_000_000;
const MAX_SYNTHETIC_INTERACTIONS: usize = 500_000_000;
const MAX_LATENT_DIM: usize = 1_024;

impl DatasetSpec {
    /// Problems of the section alone, each as (key path, message);
    /// `files_split`: the split's files are the data (`split.method:
    /// files`).
    pub fn issues(&self, files_split: bool) -> Issues {
        let mut out = Issues::default();
        foreign_keys(self, files_split, &mut out);
        random_test(self, &mut out);
        file_source(self, &mut out);
        if self.source == DataSource::Synthetic {
            synthetic(self, &mut out);
        }
        out
    }
}

/// Synthetic keys on a file source, or file keys on the synthetic one.
fn foreign_keys(d: &DatasetSpec, files_split: bool, out: &mut Issues) {
    let synthetic = d.source == DataSource::Synthetic;
    let set = |present: bool, key: &'static str| present.then_some(key);
    let synthetic_keys = [
        set(d.users.is_some(), "users"),
        set(d.items.is_some(), "items"),
        set(d.interactions.is_some(), "interactions"),
        set(d.popularity_exponent.is_some(), "popularity_exponent"),
        set(d.latent_dim.is_some(), "latent_dim"),
        set(d.affinity.is_some(), "affinity"),
        set(d.exposure_bias.is_some(), "exposure_bias"),
        set(d.seed.is_some(), "seed"),
    ];
    let file_keys = [
        set(d.path.is_some(), "path"),
        set(d.header.is_some(), "header"),
        set(d.separator.is_some(), "separator"),
        set(d.columns.is_some(), "columns"),
        set(d.positive.is_some(), "positive"),
    ];
    let source = d.source.as_str();
    let (foreign, hint): (Vec<&str>, &str) = if synthetic {
        (
            file_keys.iter().flatten().copied().collect(),
            "file sources",
        )
    } else {
        (
            synthetic_keys.iter().flatten().copied().collect(),
            "source: synthetic",
        )
    };
    for key in foreign {
        out.push(
            format!("dataset.{key}"),
            format!("`{key}` does not apply to source `{source}` (it is for {hint})"),
        );
    }
    match (files_split, synthetic, &d.path) {
        (false, false, None) => out.push(
            "dataset",
            format!("missing required key `path` for source `{source}`"),
        ),
        (true, false, Some(_)) => out.push(
            "dataset.path",
            "with split.method files the split's train, validation and test files are the data; remove dataset.path",
        ),
        (true, true, _) => out.push(
            "split.method",
            "files reads a split made elsewhere; it needs a file source (csv, tsv, parquet, movielens, adjacency, dense), not synthetic",
        ),
        _ => {}
    }
}

/// The generator draws a randomised test; a file source reads one, and
/// needs ratings and a threshold to tell its positives from negatives.
fn random_test(d: &DatasetSpec, out: &mut Issues) {
    let Some(r) = &d.random_test else {
        return;
    };
    let synthetic = d.source == DataSource::Synthetic;
    let at = "dataset.random_test";
    match (synthetic, r.items_per_user.is_some(), r.path.is_some()) {
        (true, _, true) => out.push(
            format!("{at}.path"),
            "the synthetic source draws its randomised test: use `items_per_user: N`",
        ),
        (true, false, false) => out.push(
            at,
            "missing `items_per_user: N`: how many items each user is shown",
        ),
        (false, true, _) => out.push(
            format!("{at}.items_per_user"),
            "only the synthetic source draws a randomised test; a file source reads one: use `path: FILE`",
        ),
        (false, false, false) => {
            out.push(at, "missing `path: FILE`: the ratings of randomly shown items")
        }
        _ => {}
    }
    if !synthetic && r.path.is_some() && d.positive.is_none() {
        out.push(
            at,
            "a randomised test holds ratings of shown items, positive or not: add `positive: {min_rating: R}` (and a rating column) to tell them apart",
        );
    }
}

/// An error at each present `dataset` key, which does not apply to `to`.
fn refuse(out: &mut Issues, keys: &[(bool, &str)], to: &str) {
    for (_, key) in keys.iter().filter(|(present, _)| *present) {
        out.push(
            format!("dataset.{key}"),
            format!("`{key}` does not apply to {to}"),
        );
    }
}

/// What a file source needs (path, columns) and refuses.
fn file_source(d: &DatasetSpec, out: &mut Issues) {
    let source = d.source.as_str();
    match d.source {
        DataSource::Movielens | DataSource::Parquet => {
            refuse(
    out,
                &[
                    (d.header.is_some(), "header"),
                    (d.separator.is_some(), "separator"),
                ],
                &format!("source `{source}` (its layout is detected)"),
            );
            if d.source == DataSource::Movielens && d.columns.is_some() {
                out.push(
                    "dataset.columns",
                    "MovieLens columns are known; use source: csv or tsv for other layouts",
                );
            }
        }
        DataSource::Adjacency => refuse(
    out,
            &[
                (d.header.is_some(), "header"),
                (d.separator.is_some(), "separator"),
                (d.columns.is_some(), "columns"),
                (d.positive.is_some(), "positive"),
            ],
            "source `adjacency` (each line is `user item item ...`, whitespace-separated, without ratings)",
        ),
        DataSource::Dense => refuse(
    out,
            &[
                (d.header.is_some(), "header"),
                (d.separator.is_some(), "separator"),
                (d.columns.is_some(), "columns"),
            ],
            "source `dense` (line u holds user u's rating of every item, whitespace-separated, 0 = unobserved)",
        ),
        DataSource::Csv | DataSource::Tsv => {}
        DataSource::Synthetic => {}
    }
    if matches!(
        d.source,
        DataSource::Csv | DataSource::Tsv | DataSource::Parquet
    ) && d.columns.is_none()
    {
        out.push(
            "dataset",
            "missing required key `columns`, e.g. {user: userId, item: movieId, rating: rating, timestamp: timestamp}",
        );
    }
    if let Some(p) = &d.positive {
        if !p.min_rating.is_finite() {
            out.push("dataset.positive.min_rating", "must be a finite number");
        }
    }
}

/// The synthetic generator's ranges.
fn synthetic(d: &DatasetSpec, out: &mut Issues) {
    let s = d.synthetic();
    for (key, value) in [("dataset.users", s.users), ("dataset.items", s.items)] {
        if !(2..=MAX_SYNTHETIC_SIDE).contains(&value) {
            out.push(
                key,
                format!("{value} is out of range; must be 2 to {MAX_SYNTHETIC_SIDE}"),
            );
        }
    }
    if s.interactions > MAX_SYNTHETIC_INTERACTIONS {
        out.push(
            "dataset.interactions",
            format!(
                "{} is out of range; the generator makes at most {MAX_SYNTHETIC_INTERACTIONS} (ML-20M has 20M)",
                s.interactions
            ),
        );
    } else if s.interactions < s.users || s.interactions > s.users.saturating_mul(s.items) / 2 {
        out.push(
            "dataset.interactions",
            format!(
                "must lie between users ({}) and half of users × items ({}), so every user has one and sampling stays sparse",
                s.users,
                s.users.saturating_mul(s.items) / 2
            ),
        );
    }
    if !(s.popularity_exponent.is_finite() && s.popularity_exponent >= 0.0) {
        out.push(
            "dataset.popularity_exponent",
            "must be ≥ 0 (0 = uniform popularity)",
        );
    }
    if !(1..=MAX_LATENT_DIM).contains(&s.latent_dim) {
        out.push(
            "dataset.latent_dim",
            format!(
                "{} is out of range; must be 1 to {MAX_LATENT_DIM}",
                s.latent_dim
            ),
        );
    }
    if !(s.affinity.is_finite() && s.affinity >= 0.0) {
        out.push("dataset.affinity", "must be ≥ 0 (0 = popularity alone)");
    }
    if !(s.exposure_bias.is_finite() && s.exposure_bias >= 0.0) {
        out.push(
            "dataset.exposure_bias",
            "must be ≥ 0 (0 = users were shown every item)",
        );
    }
    if let Some(n) = d.random_test.as_ref().and_then(|r| r.items_per_user) {
        if !(1..=s.items).contains(&n) {
            out.push(
                "dataset.random_test.items_per_user",
                format!("{n} is out of range; must be 1 to {} (the items)", s.items),
            );
        }
    }
}
