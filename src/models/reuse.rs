//! Fitted models kept for the other trials of one run that fit them alike.
//!
//! A pipeline sweep varies N and the index around one retriever: each of its
//! trials used to fit that retriever again, from the same configuration,
//! seed and data, to the same result (fits are deterministic). [`Reuse`]
//! keeps the first fit and hands it to the later trials, so a sweep over six
//! N fits its retriever once per seed, and reports what it did before.
//!
//! It never waits for a fit another thread has started: trials run as rayon
//! tasks, and a thread waiting inside a fit may steal the very trial that
//! would wait for it, which would deadlock. Two trials that start the same
//! fit at once both fit, and the first result is kept: the same numbers,
//! some time lost.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::{FitInput, Fitted, ModelConfig, ModelError, ModelKind, Scorer, ServingCost, Stages};
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
    scorer: Arc<dyn Scorer>,
    seconds: f64,
    bytes: u64,
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
        // Params that do not serialise cannot be told apart: never kept.
        let params = serde_yaml::to_string(&config.params());
        let (false, false, Ok(params)) = (input.job.is_some(), input.negatives.is_some(), params)
        else {
            return config.fit(input);
        };
        let key = Key {
            model,
            params,
            seed: config.is_stochastic().then_some(input.seed),
            data: fingerprint(input.train, input.item_popularity),
            monitored: input.monitor.is_some(),
        };
        if let Some((scorer, seconds)) = self.get(&key) {
            return Ok(Fitted {
                reused_seconds: seconds,
                ..Fitted::new(Box::new(scorer))
            });
        }
        let start = Instant::now();
        let fitted = config.fit(input)?;
        let seconds = start.elapsed().as_secs_f64();
        let scorer: Arc<dyn Scorer> = Arc::from(fitted.scorer);
        self.keep(key, scorer.clone(), seconds);
        Ok(Fitted {
            scorer: Box::new(scorer),
            ..fitted
        })
    }

    fn get(&self, key: &Key) -> Option<(Arc<dyn Scorer>, f64)> {
        let kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        kept.iter()
            .find(|k| k.key == *key)
            .map(|k| (k.scorer.clone(), k.seconds))
    }

    fn keep(&self, key: Key, scorer: Arc<dyn Scorer>, seconds: f64) {
        let bytes = 4
            * (scorer.cost().parameters + scorer.user_factors().map_or(0, |(_, f)| f.len() as u64));
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
            scorer,
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
}
