//! A randomised-exposure test set: items shown to each user uniformly at
//! random, each labelled by whether the user takes it. The debiasing
//! literature measures its estimators against such sets (Yahoo! R3's survey
//! users rated 10 randomly shown songs, Coat's 16 random items; Schnabel et
//! al. 2016, Yang et al. 2018): a uniform draw is not shaped by the system
//! that collected the log, so metrics on it need no propensities.
//!
//! The generator draws one, its true relevance ρ_ui labelling the shown
//! items: user u takes item i with probability ρ_ui, the chance that i is
//! among u's own picks without exposure bias (docs/metrics.md, "Truth
//! metrics"). A file source reads one: ratings of shown items, positive
//! from `positive.min_rating` up.

use std::collections::HashMap;
use std::path::Path;

use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;
use rayon::prelude::*;

use super::prepare::{Ids, RawLog};
use super::{loader, CsrMatrix, DataError, DatasetSpec, TrueRelevance};
use crate::seed::mix;

/// Each user's shown items and the positives among them.
#[derive(Debug, Clone, PartialEq)]
pub struct RandomisedTest {
    /// Row u: the items shown to user u, positive or not (the labelled
    /// candidates the `randomised` protocol ranks).
    pub shown: CsrMatrix,
    /// Row u: the shown items u took. Users without one are not evaluated.
    pub positives: CsrMatrix,
    /// Rows of a file whose user or item the log does not hold (the
    /// models know nothing of them), or that repeat a (user, item) pair:
    /// left out.
    pub dropped: usize,
}

impl RandomisedTest {
    /// Shows each of `n_users` users `per_user` distinct items drawn
    /// uniformly from the whole catalogue (all of it where it is smaller),
    /// and keeps item i as a positive with probability ρ_ui. Items the user
    /// logged may be shown, as in Yahoo! R3 and Coat: leaving them out would
    /// show each item mostly to the users who did not take it, whose ρ is
    /// lower, and bias every rate estimated from the test. One seeded
    /// stream per user: the same for any thread count.
    pub fn draw(truth: &dyn TrueRelevance, n_users: usize, per_user: usize, seed: u64) -> Self {
        let n_items = truth.n_items();
        let rows: Vec<(Vec<u32>, Vec<u32>)> = (0..n_users as u32)
            .into_par_iter()
            .map_init(
                || vec![0.0; n_items],
                |rho, u| {
                    let mut rng = Pcg64Mcg::seed_from_u64(mix(seed ^ mix(u64::from(u))));
                    let shown = partial_shuffle((0..n_items as u32).collect(), per_user, &mut rng);
                    truth.relevance(u, rho);
                    let taken = shown
                        .iter()
                        .copied()
                        .filter(|&i| rng.random::<f64>() < rho[i as usize])
                        .collect();
                    (shown, taken)
                },
            )
            .collect();
        let (shown, taken): (Vec<Vec<u32>>, Vec<Vec<u32>>) = rows.into_iter().unzip();
        let matrix = |lists: &[Vec<u32>]| {
            let pairs: Vec<(u32, u32)> = lists
                .iter()
                .enumerate()
                .flat_map(|(u, items)| items.iter().map(move |&i| (u as u32, i)))
                .collect();
            CsrMatrix::from_pairs(n_users, n_items, &pairs)
        };
        Self {
            shown: matrix(&shown),
            positives: matrix(&taken),
            dropped: 0,
        }
    }

    /// Reads a randomised test from `path` with the dataset's source and
    /// column mapping; `users` and `items` are the log's labels by dense
    /// id. A row is positive when its rating reaches `positive.min_rating`.
    pub fn read(
        spec: &DatasetSpec,
        path: &Path,
        users: &[String],
        items: &[String],
    ) -> Result<Self, DataError> {
        let one = DatasetSpec {
            path: Some(path.to_path_buf()),
            ..spec.clone()
        };
        let log = loader::read(&one)?;
        let content = |message: String| DataError::Content {
            source_name: path.display().to_string(),
            message,
        };
        let (Some(ratings), Some(positive)) = (&log.ratings, &spec.positive) else {
            return Err(content(
                "a randomised test needs ratings and `positive.min_rating` to tell positives from negatives".into(),
            ));
        };
        let rows = Self::labelled(&log, ratings, positive.min_rating, users, items);
        let kept = rows.len();
        let (shown, taken): (Vec<(u32, u32)>, Vec<bool>) = rows.into_iter().unzip();
        let positives: Vec<(u32, u32)> = shown
            .iter()
            .zip(&taken)
            .filter(|(_, &t)| t)
            .map(|(p, _)| *p)
            .collect();
        if kept == 0 {
            return Err(content(format!(
                "none of its {} rows names a user and an item of the log: nothing to rank",
                ratings.len()
            )));
        }
        Ok(Self {
            shown: CsrMatrix::from_pairs(users.len(), items.len(), &shown),
            positives: CsrMatrix::from_pairs(users.len(), items.len(), &positives),
            dropped: ratings.len() - kept,
        })
    }

    /// The rows of `log` whose user and item the log's labels hold, first
    /// occurrence of each pair, with dense ids and whether each is positive.
    fn labelled(
        log: &RawLog,
        ratings: &[f64],
        min_rating: f64,
        users: &[String],
        items: &[String],
    ) -> Vec<((u32, u32), bool)> {
        let lookup = |labels: &[String]| -> HashMap<String, u32> {
            labels
                .iter()
                .enumerate()
                .map(|(i, l)| (l.clone(), i as u32))
                .collect()
        };
        let text = |ids: &Ids, r: usize| match ids {
            Ids::Int(v) => v[r].to_string(),
            Ids::Str(v) => v[r].clone(),
        };
        let (users, items) = (lookup(users), lookup(items));
        let mut seen = std::collections::HashSet::new();
        (0..ratings.len())
            .filter_map(|r| {
                let pair = (
                    *users.get(&text(&log.users, r))?,
                    *items.get(&text(&log.items, r))?,
                );
                seen.insert(pair)
                    .then_some((pair, ratings[r] >= min_rating))
            })
            .collect()
    }

    /// A content hash of the shown items and the positives.
    pub fn fingerprint(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        for m in [&self.shown, &self.positives] {
            h.update((m.nnz() as u64).to_le_bytes());
            for (u, i) in m.pairs() {
                h.update(u.to_le_bytes());
                h.update(i.to_le_bytes());
            }
        }
        super::hex_prefix(&h.finalize(), 16)
    }

    /// Users shown at least one item, and those of them who took one.
    pub fn users(&self) -> (usize, usize) {
        (
            self.shown.nonempty_rows().len(),
            self.positives.nonempty_rows().len(),
        )
    }
}

/// The first `n` items of a uniform random permutation of `items` (all of
/// them when there are no more), by a partial Fisher–Yates shuffle.
fn partial_shuffle(mut items: Vec<u32>, n: usize, rng: &mut Pcg64Mcg) -> Vec<u32> {
    let n = n.min(items.len());
    for k in 0..n {
        let j = rng.random_range(k..items.len());
        items.swap(k, j);
    }
    items.truncate(n);
    items
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ρ = 1 for even items, 0 for odd ones.
    struct EvenTaken(usize);

    impl TrueRelevance for EvenTaken {
        fn n_items(&self) -> usize {
            self.0
        }
        fn relevance(&self, _user: u32, out: &mut [f64]) {
            for (i, r) in out.iter_mut().enumerate() {
                *r = if i % 2 == 0 { 1.0 } else { 0.0 };
            }
        }
    }

    #[test]
    fn shows_distinct_items_and_labels_them_by_relevance() {
        let t = RandomisedTest::draw(&EvenTaken(12), 3, 5, 9);
        for u in 0..3 {
            let shown = t.shown.row(u);
            assert_eq!(shown.len(), 5);
            let even: Vec<u32> = shown.iter().copied().filter(|i| i % 2 == 0).collect();
            assert_eq!(t.positives.row(u), &even[..], "user {u}");
        }
        assert_eq!(t, RandomisedTest::draw(&EvenTaken(12), 3, 5, 9));
        assert_ne!(t, RandomisedTest::draw(&EvenTaken(12), 3, 5, 10));
        // More than the catalogue: every item is shown.
        let all = RandomisedTest::draw(&EvenTaken(12), 3, 50, 9);
        assert_eq!(all.shown.row(0).len(), 12);
    }

    #[test]
    fn a_file_is_read_against_the_log_s_ids() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("random.tsv");
        // User 9 and item z are not in the log; (a, y) repeats; a rating
        // of 4 or more is positive.
        std::fs::write(
            &path,
            "a\tx\t5\na\ty\t2\nb\ty\t4\n9\tx\t5\nb\tz\t1\na\ty\t5\n",
        )
        .unwrap();
        let spec: DatasetSpec = serde_yaml::from_str(
            "{source: tsv, header: false, columns: {user: 0, item: 1, rating: 2}, positive: {min_rating: 4}}",
        )
        .unwrap();
        let labels = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let (users, items) = (labels(&["a", "b"]), labels(&["w", "x", "y"]));
        let t = RandomisedTest::read(&spec, &path, &users, &items).unwrap();
        assert_eq!(t.shown.row(0), &[1, 2]);
        assert_eq!(t.shown.row(1), &[2]);
        assert_eq!(t.positives.row(0), &[1]);
        assert_eq!(t.positives.row(1), &[2]);
        assert_eq!(t.dropped, 3);
        let without = DatasetSpec {
            positive: None,
            ..spec.clone()
        };
        let e = RandomisedTest::read(&without, &path, &users, &items).unwrap_err();
        assert!(
            e.to_string()
                .contains("random.tsv: a randomised test needs ratings"),
            "{e}"
        );
        let strangers = RandomisedTest::read(&spec, &path, &labels(&["c"]), &items).unwrap_err();
        assert!(
            strangers.to_string().contains("none of its 6 rows"),
            "{strangers}"
        );
    }

    #[test]
    fn draws_are_uniform_over_the_catalogue() {
        // 4,000 users shown 2 of 10 items: each item 800 times in expectation
        // (binomial sd ≈ 25).
        let t = RandomisedTest::draw(&EvenTaken(10), 4000, 2, 3);
        let counts = t.shown.column_counts();
        for &c in &counts {
            assert!((700..=900).contains(&c), "{counts:?}");
        }
    }
}
