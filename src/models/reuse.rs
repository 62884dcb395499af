//! Fitted models kept for the other trials of one run that fit them alike.
//!
//! A pipeline sweep varies N and the index around one retriever: each of its
//! trials used to fit that retriever again, from the same configuration,
//! seed and data, to the same result (fits are deterministic). [`Reuse`]
//! keeps the first fit and hands it to the later trials, so a sweep over six
//! N fits its retriever once per seed, and reports what it did before. An
//! approximate index over a kept retriever is kept the same way: trials
//! that differ only in N or in the search's breadth (ef_search, probes)
//! search one built index (an HNSW build at 265K items takes 90 s here).
//!
//! It never waits for a fit another thread has started: trials run as rayon
//! tasks, and a thread waiting inside a fit may steal the very trial that
//! would wait for it, which would deadlock. Two trials that start the same
//! fit at once both fit, and the first result is kept: the same numbers,
//! some time lost.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::{FitInput, Fitted, ModelConfig, ModelError, ModelKind, Scorer, ServingCost, Stages};
use crate::ann::MipsIndex;
use crate::data::CsrMatrix;
use crate::seed::mix;

/// What the kept models may hold in all, estimated from their parameters
/// and user factors at four bytes each: enough for the factor models a
/// retriever is at 10^5 items, never a 41K-item EASE (6.7 GB), which is
/// fitted again rather than held.
const BUDGET_BYTES: u64 = 2 << 30;

/// The fitted models of one run, by configuration, seed and train data.
/// Make one per run of one experiment: the key does not cover the
/// features, which an experiment fixes.
#[derive(Default)]
pub struct Reuse {
    /// Oldest first; evicted from the front beyond [`BUDGET_BYTES`].
    kept: Mutex<Vec<Kept>>,
}

struct Kept {
    key: Key,
    value: Value,
    seconds: f64,
    bytes: u64,
}

/// A kept fitted model, or an index built over one.
#[derive(Clone)]
enum Value {
    Scorer(Arc<dyn Scorer>),
    Index(Arc<dyn MipsIndex>),
}

/// Everything a fit depends on besides the features.
#[derive(PartialEq)]
struct Key {
    model: ModelKind,
    /// The params with every default filled, as YAML.
    params: String,
    /// None for a model the seed does not change.
    seed: Option<u64>,
    /// Hash of the train matrix and the item popularity.
    data: u64,
    monitored: bool,
    /// None for the fitted model; for an index over its factors, the
    /// index's build settings and seed.
    index: Option<String>,
}

impl Reuse {
    /// `config` (a `model`) fitted on `input`: kept from an earlier trial,
    /// or fitted now and kept. The returned [`Fitted::reused_seconds`]
    /// holds the earlier fit's time. A fit that needs its own context (an
    /// external program's folder, sampled-negative pools) is never kept,
    /// and the training curve is not: the callers use the scorer alone.
    pub fn fit(
        &self,
        model: ModelKind,
        config: &dyn ModelConfig,
        input: &FitInput,
    ) -> Result<Fitted, ModelError> {
        let Some(key) = Key::of(model, config, input, None) else {
            return config.fit(input);
        };
        if let Some((Value::Scorer(scorer), seconds)) = self.get(&key) {
            return Ok(Fitted {
                reused_seconds: seconds,
                ..Fitted::new(Box::new(scorer))
            });
        }
        let start = Instant::now();
        let fitted = config.fit(input)?;
        let seconds = start.elapsed().as_secs_f64();
        let scorer: Arc<dyn Scorer> = Arc::from(fitted.scorer);
        let bytes = 4
            * (scorer.cost().parameters + scorer.user_factors().map_or(0, |(_, f)| f.len() as u64));
        self.keep(key, Value::Scorer(scorer.clone()), seconds, bytes);
        Ok(Fitted {
            scorer: Box::new(scorer),
            ..fitted
        })
    }

    /// The index `build` makes over the factors of `config` fitted on
    /// `input` (as [`Reuse::fit`] keys the fit), with its build seconds:
    /// kept from an earlier trial whose retriever and `settings` (the
    /// index's build settings and seed, never its search breadth) are the
    /// same, or built now and kept. Builds are deterministic, so a kept
    /// index is the one this trial would build.
    pub fn index(
        &self,
        model: ModelKind,
        config: &dyn ModelConfig,
        input: &FitInput,
        settings: String,
        build: impl FnOnce() -> Result<Box<dyn MipsIndex>, ModelError>,
    ) -> Result<(Arc<dyn MipsIndex>, f64), ModelError> {
        let Some(key) = Key::of(model, config, input, Some(settings)) else {
            return timed_build(build);
        };
        if let Some((Value::Index(index), seconds)) = self.get(&key) {
            return Ok((index, seconds));
        }
        let (index, seconds) = timed_build(build)?;
        let bytes = (index.vector_bytes() + index.overhead_bytes()) as u64;
        self.keep(key, Value::Index(index.clone()), seconds, bytes);
        Ok((index, seconds))
    }

    fn get(&self, key: &Key) -> Option<(Value, f64)> {
        let kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        kept.iter()
            .find(|k| k.key == *key)
            .map(|k| (k.value.clone(), k.seconds))
    }

    fn keep(&self, key: Key, value: Value, seconds: f64, bytes: u64) {
        if bytes > BUDGET_BYTES {
            return;
        }
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        // Another trial fitted it meanwhile: the same model, already kept.
        if kept.iter().any(|k| k.key == key) {
            return;
        }
        let mut total: u64 = kept.iter().map(|k| k.bytes).sum::<u64>() + bytes;
        while total > BUDGET_BYTES {
            total -= kept.remove(0).bytes;
        }
        kept.push(Kept {
            key,
            value,
            seconds,
            bytes,
        });
    }

    /// How many fitted models are kept now.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.kept.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

/// An index as `build` makes it, with the seconds it took.
pub fn timed_build(
    build: impl FnOnce() -> Result<Box<dyn MipsIndex>, ModelError>,
) -> Result<(Arc<dyn MipsIndex>, f64), ModelError> {
    let start = Instant::now();
    let index = build()?;
    Ok((Arc::from(index), start.elapsed().as_secs_f64()))
}

impl Key {
    /// The key of `config` fitted on `input` (and of the index `index`
    /// names over it); None for a fit that is never kept: one that needs its
    /// own context (an external program's folder, sampled-negative pools),
    /// or whose params do not serialise and so cannot be told apart.
    fn of(
        model: ModelKind,
        config: &dyn ModelConfig,
        input: &FitInput,
        index: Option<String>,
    ) -> Option<Self> {
        if input.job.is_some() || input.negatives.is_some() {
            return None;
        }
        Some(Self {
            model,
            params: serde_yaml::to_string(&config.params()).ok()?,
            seed: config.is_stochastic().then_some(input.seed),
            data: fingerprint(input.train, input.item_popularity),
            monitored: input.monitor.is_some(),
            index,
        })
    }
}

/// Order-sensitive hash of the matrix's shape, row pointers and columns
/// and of the popularity counts: equal data gives equal keys, and a refit's
/// train ∪ validation differs from the train.
fn fingerprint(train: &CsrMatrix, popularity: &[u32]) -> u64 {
    let mut h = mix(train.n_rows() as u64 ^ mix(train.n_cols() as u64));
    for u in 0..train.n_rows() {
        let row = train.row(u);
        h = mix(h ^ row.len() as u64);
        for &i in row {
            h = mix(h ^ u64::from(i));
        }
    }
    for &n in popularity {
        h = mix(h ^ u64::from(n));
    }
    h
}

/// A kept model serving one trial: every method forwards, the defaults
/// included, so the trial sees exactly the model that was fitted.
impl Scorer for Arc<dyn Scorer> {
    fn score_block(&self, users: &[u32], out: &mut [f32]) {
        self.as_ref().score_block(users, out)
    }

    fn cost(&self) -> ServingCost {
        self.as_ref().cost()
    }

    fn score_items(&self, user: u32, items: &[u32], n_items: usize, out: &mut [f32]) {
        self.as_ref().score_items(user, items, n_items, out)
    }

    fn score_block_excluding(&self, users: &[u32], exclude: &[&CsrMatrix], out: &mut [f32]) {
        self.as_ref().score_block_excluding(users, exclude, out)
    }

    fn stages(&self) -> Option<Stages<'_>> {
        self.as_ref().stages()
    }

    fn user_factors(&self) -> Option<(usize, &[f32])> {
        self.as_ref().user_factors()
    }

    fn item_factors(&self) -> Option<(usize, Vec<f32>)> {
        self.as_ref().item_factors()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 20 users with 4 items each out of 15, shifted by `shift`.
    fn train(shift: u32) -> CsrMatrix {
        let pairs: Vec<(u32, u32)> = (0..20u32)
            .flat_map(|u| (0..4).map(move |k| (u, (u * 3 + k * 2 + shift) % 15)))
            .collect();
        CsrMatrix::from_pairs(20, 15, &pairs)
    }

    fn config(kind: ModelKind, params: &str) -> Box<dyn ModelConfig> {
        kind.configure(&serde_yaml::from_str(params).unwrap())
            .unwrap()
    }

    fn scores(scorer: &dyn Scorer) -> Vec<u32> {
        let users: Vec<u32> = (0..20).collect();
        let mut out = vec![0.0; 20 * 15];
        scorer.score_block(&users, &mut out);
        out.iter().map(|s| s.to_bits()).collect()
    }

    #[test]
    fn a_fit_alike_is_the_kept_model_with_its_time_and_any_difference_fits_anew() {
        let reuse = Reuse::default();
        let (data, other) = (train(0), train(1));
        let (popularity, other_popularity) = (data.column_counts(), other.column_counts());
        let mf = config(ModelKind::Mf, "{dim: 4, epochs: 2, batch_size: 8}");
        let input = |seed| FitInput::interactions(&data, &popularity, seed);
        let fresh = mf.fit(&input(7)).unwrap();
        let first = reuse.fit(ModelKind::Mf, mf.as_ref(), &input(7)).unwrap();
        let second = reuse.fit(ModelKind::Mf, mf.as_ref(), &input(7)).unwrap();
        assert_eq!(first.reused_seconds, 0.0);
        assert!(second.reused_seconds > 0.0);
        assert_eq!(reuse.len(), 1);
        assert_eq!(scores(first.scorer.as_ref()), scores(fresh.scorer.as_ref()));
        assert_eq!(
            scores(second.scorer.as_ref()),
            scores(fresh.scorer.as_ref())
        );

        // Another seed, other data, other params: each fitted and kept.
        let wider = config(ModelKind::Mf, "{dim: 5, epochs: 2, batch_size: 8}");
        let fits = [
            reuse.fit(ModelKind::Mf, mf.as_ref(), &input(8)).unwrap(),
            reuse
                .fit(
                    ModelKind::Mf,
                    mf.as_ref(),
                    &FitInput::interactions(&other, &other_popularity, 7),
                )
                .unwrap(),
            reuse.fit(ModelKind::Mf, wider.as_ref(), &input(7)).unwrap(),
        ];
        assert!(fits.iter().all(|f| f.reused_seconds == 0.0));
        assert_eq!(reuse.len(), 4);

        // The seed does not change EASE: one fit serves every seed.
        let ease = config(ModelKind::Ease, "{l2: 10.0}");
        reuse
            .fit(ModelKind::Ease, ease.as_ref(), &input(1))
            .unwrap();
        let again = reuse
            .fit(ModelKind::Ease, ease.as_ref(), &input(2))
            .unwrap();
        assert!(again.reused_seconds > 0.0);
        assert_eq!(reuse.len(), 5);
    }

    #[test]
    fn pipelines_that_differ_in_n_share_their_retriever_and_score_as_if_fitted_alone() {
        let data = train(0);
        let popularity = data.column_counts();
        let pipeline = |n: usize| {
            config(
                ModelKind::Pipeline,
                &format!("{{retriever: {{model: mf, params: {{dim: 4, epochs: 2, batch_size: 8}}}}, candidates: {n}, ranker: {{model: ncf, params: {{dim: 4, hidden: [4], epochs: 1, batch_size: 8}}}}}}"),
            )
        };
        let reuse = Reuse::default();
        let shared = FitInput {
            reuse: Some(&reuse),
            ..FitInput::interactions(&data, &popularity, 3)
        };
        let alone = FitInput::interactions(&data, &popularity, 3);
        for n in [5, 10] {
            let with = pipeline(n).fit(&shared).unwrap();
            let without = pipeline(n).fit(&alone).unwrap();
            assert_eq!(with.reused_seconds > 0.0, n == 10);
            assert_eq!(
                scores(with.scorer.as_ref()),
                scores(without.scorer.as_ref())
            );
        }
        assert_eq!(reuse.len(), 1);
    }

    /// HNSW pipelines that differ in N and ef_search search one graph:
    /// the retriever and the index are kept once each, the build's time is
    /// the first trial's, and every list is the one a trial alone serves.
    /// Another ef_construction builds anew.
    #[test]
    fn pipelines_that_differ_in_n_or_breadth_share_their_index() {
        let data = train(0);
        let popularity = data.column_counts();
        let pipeline = |n: usize, ef: usize, ef_construction: usize| {
            config(
                ModelKind::Pipeline,
                &format!("{{retriever: {{model: mf, params: {{dim: 4, epochs: 2, batch_size: 8}}}}, candidates: {n}, index: {{hnsw: {{m: 2, ef_construction: {ef_construction}, ef_search: {ef}}}}}, ranker: {{model: ncf, params: {{dim: 4, hidden: [4], epochs: 1, batch_size: 8}}}}}}"),
            )
        };
        let reuse = Reuse::default();
        let shared = FitInput {
            reuse: Some(&reuse),
            ..FitInput::interactions(&data, &popularity, 3)
        };
        let alone = FitInput::interactions(&data, &popularity, 3);
        let mut build_seconds = Vec::new();
        for (n, ef) in [(5, 2), (10, 2), (5, 12)] {
            let with = pipeline(n, ef, 8).fit(&shared).unwrap();
            let without = pipeline(n, ef, 8).fit(&alone).unwrap();
            assert_eq!(
                scores(with.scorer.as_ref()),
                scores(without.scorer.as_ref())
            );
            let stages = with.scorer.stages().unwrap();
            let index = stages.index.unwrap();
            assert_eq!(index.breadth, ef);
            build_seconds.push(index.build_seconds);
        }
        assert_eq!(reuse.len(), 2);
        assert!(build_seconds.iter().all(|&s| s == build_seconds[0]));
        pipeline(5, 2, 9).fit(&shared).unwrap();
        assert_eq!(reuse.len(), 3);
    }
}
