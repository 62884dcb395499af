//! Runs an experiment: load and split the data once, then train and evaluate
//! every trial that is not already done, in parallel, storing each as it
//! finishes. Progress goes to a callback; the library never prints.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::time::Instant;

use rayon::prelude::*;

use crate::data::{self, CsrMatrix, DataError, DatasetStats, Interactions};
use crate::eval::{evaluate, sampled_candidates, ItemStats, MetricSet, Target};
use crate::models::{FitInput, Monitor, Penalized, Scorer};
use crate::seed::mix;
use crate::spec::{Protocol, Spec};
use crate::split::{self, Split, SplitError};
use crate::store::{
    ExperimentRecord, Outcome, ProtocolSummary, ResultsDir, RunInfo, StoreError, TrialRecord,
    FORMAT,
};
use crate::sweep::{self, stable_hash, Expansion, Trial};

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Split(#[from] SplitError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot start {jobs} worker threads: {message}")]
    Threads { jobs: usize, message: String },
}

/// Everything trials share: data, split, expansion, sampled candidates.
pub struct Experiment {
    pub spec: Spec,
    pub data: Interactions,
    pub dataset: DatasetStats,
    pub split: Split,
    pub expansion: Expansion,
    pub context: String,
    /// One per protocol of the spec, in its order (the first is primary).
    pub candidates: Vec<Candidates>,
}

/// What a protocol ranks: None for full ranking, else each user's sampled
/// candidates, drawn once so every trial faces the same ones.
pub struct Candidates {
    pub protocol: Protocol,
    pub validation: Option<CsrMatrix>,
    pub test: Option<CsrMatrix>,
}

impl Candidates {
    fn draw(protocol: Protocol, index: usize, split: &Split, seed: u64) -> Self {
        let Protocol::Sampled { negatives, sampler } = protocol else {
            return Self {
                protocol,
                validation: None,
                test: None,
            };
        };
        let popularity = split.train.column_counts();
        let mut interacted = vec![&split.train, &split.test];
        interacted.extend(split.validation.as_ref());
        let seed = mix(seed ^ mix(0x5A3D_0000 + index as u64));
        let draw = |truth: &CsrMatrix, seed| {
            sampled_candidates(truth, &interacted, &popularity, negatives, sampler, seed)
        };
        Self {
            protocol,
            validation: split.validation.as_ref().map(|v| draw(v, mix(seed))),
            test: Some(draw(&split.test, seed)),
        }
    }
}

impl Experiment {
    pub fn prepare(spec: Spec) -> Result<Self, RunError> {
        let (data, dataset) = data::load(&spec.dataset)?;
        let split = split::split(&data, &spec.split, spec.seed)?;
        let expansion = sweep::expand(&spec).expect("the spec was validated, expansion included");
        let candidates = spec
            .evaluation
            .protocol
            .0
            .iter()
            .enumerate()
            .map(|(i, p)| Candidates::draw(*p, i, &split, spec.seed))
            .collect();
        // Another recsweep version may compute numbers differently, so its
        // stored trials are redone rather than mixed with this one's.
        let context = stable_hash(&(
            &dataset.fingerprint,
            &spec.split,
            &spec.evaluation,
            spec.seed,
            FORMAT,
            env!("CARGO_PKG_VERSION"),
        ));
        Ok(Self {
            spec,
            data,
            dataset,
            split,
            expansion,
            context,
            candidates,
        })
    }

    pub fn record(&self) -> ExperimentRecord {
        ExperimentRecord {
            format: FORMAT,
            recsweep_version: env!("CARGO_PKG_VERSION").to_string(),
            context: self.context.clone(),
            spec: self.spec.clone(),
            dataset: self.dataset.clone(),
            split: self.split.stats.clone(),
            expansion: self.expansion.clone(),
            run: None,
        }
    }
}

/// `--shard I/N`: this process runs trials I, I+N, I+2N, ... (0-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl std::str::FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parsed = s
            .split_once('/')
            .and_then(|(i, n)| Some((i.trim().parse().ok()?, n.trim().parse().ok()?)));
        match parsed {
            Some((index, count)) if count > 0 && index < count => Ok(Self { index, count }),
            _ => Err(format!("`{s}` is not I/N with 0 ≤ I < N, e.g. 0/4")),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Worker threads; None = rayon's default (one per core).
    pub jobs: Option<usize>,
    /// Redo finished trials too.
    pub fresh: bool,
    pub shard: Option<Shard>,
}

/// What the runner reports as it goes.
pub enum Progress<'a> {
    Planned {
        to_run: usize,
        already_done: usize,
    },
    Started {
        trial: &'a Trial,
    },
    Finished {
        trial: &'a Trial,
        seconds: f64,
        error: Option<&'a str>,
    },
}

#[derive(Debug, Clone, Default)]
pub struct RunSummary {
    pub ran: usize,
    pub skipped: usize,
    /// (trial id, error) of trials that failed.
    pub failed: Vec<(String, String)>,
}

pub fn run(
    experiment: &Experiment,
    results: &ResultsDir,
    options: &RunOptions,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<RunSummary, RunError> {
    let threads = options.jobs.unwrap_or_else(rayon::current_num_threads);
    results.write_experiment(&ExperimentRecord {
        run: Some(RunInfo::current(threads)),
        ..experiment.record()
    })?;
    results.write_items(
        &experiment.data.item_labels,
        &experiment.split.train.column_counts(),
    )?;
    let mine: Vec<&Trial> = experiment
        .expansion
        .trials
        .iter()
        .enumerate()
        .filter(|(i, _)| options.shard.is_none_or(|s| i % s.count == s.index))
        .map(|(_, t)| t)
        .collect();
    let (done, todo): (Vec<&Trial>, Vec<&Trial>) = mine
        .into_iter()
        .partition(|t| !options.fresh && results.finished(t, &experiment.context).is_some());
    progress(Progress::Planned {
        to_run: todo.len(),
        already_done: done.len(),
    });
    let mut builder = rayon::ThreadPoolBuilder::new();
    if let Some(jobs) = options.jobs {
        builder = builder.num_threads(jobs);
    }
    let pool = builder.build().map_err(|e| RunError::Threads {
        jobs: options.jobs.unwrap_or(0),
        message: e.to_string(),
    })?;
    let outcomes: Vec<Result<Option<String>, StoreError>> = pool.install(|| {
        todo.par_iter()
            .map(|trial| {
                progress(Progress::Started { trial });
                let start = Instant::now();
                let record = run_trial(experiment, trial, results)?;
                let error = match &record.outcome {
                    Outcome::Failed { error } => Some(error.clone()),
                    Outcome::Ok { .. } => None,
                };
                progress(Progress::Finished {
                    trial,
                    seconds: start.elapsed().as_secs_f64(),
                    error: error.as_deref(),
                });
                Ok(error)
            })
            .collect()
    });
    let mut summary = RunSummary {
        ran: todo.len(),
        skipped: done.len(),
        failed: Vec::new(),
    };
    for (trial, outcome) in todo.iter().zip(outcomes) {
        if let Some(error) = outcome? {
            summary.failed.push((trial.id.clone(), error));
        }
    }
    Ok(summary)
}

/// Fits, evaluates and stores one trial. A failing or panicking model
/// becomes a failed record rather than ending the sweep.
fn run_trial(
    experiment: &Experiment,
    trial: &Trial,
    results: &ResultsDir,
) -> Result<TrialRecord, StoreError> {
    let split = &experiment.split;
    let spec = &experiment.spec;
    let popularity = split.train.column_counts();
    let items = ItemStats::new(
        popularity.clone(),
        spec.evaluation.head_share,
        split.n_users(),
    );
    let set = MetricSet {
        cutoffs: spec.evaluation.cutoffs.clone(),
        metrics: spec.evaluation.metrics.clone(),
    };
    let block = spec.evaluation.block_users;
    let attempt = catch_unwind(AssertUnwindSafe(|| {
        let config = trial
            .model
            .configure(&trial.params)
            .map_err(|_| "stored params no longer validate".to_string())?;
        // Epoch-trained models log the selection metric on validation (under
        // the primary protocol, before any scoring-time penalty) and stop
        // early on it.
        let selection = spec.selection.metric;
        let monitor_set = MetricSet {
            cutoffs: vec![selection.k],
            metrics: vec![selection.kind],
        };
        let monitor = |scorer: &dyn Scorer| {
            let validation = split
                .validation
                .as_ref()
                .expect("monitored only with validation");
            let target = Target {
                truth: validation,
                exclude: vec![&split.train],
                history: Some(&split.train),
                candidates: experiment.candidates[0].validation.as_ref(),
            };
            evaluate(scorer, &target, &monitor_set, &items, block)
                .summary
                .get(selection)
                .map_or(f64::NAN, |m| m.mean)
        };
        let start = Instant::now();
        let fitted = config
            .fit(&FitInput {
                train: &split.train,
                item_popularity: &popularity,
                seed: trial.seed,
                monitor: split.validation.as_ref().map(|_| &monitor as Monitor),
            })
            .map_err(|e| e.to_string())?;
        let fit_seconds = start.elapsed().as_secs_f64();
        let curve = fitted.curve;
        let scorer = Penalized::wrap(fitted.scorer, config.popularity(), &popularity);
        let run = |c: &Candidates| {
            let validation = split.validation.as_ref().map(|v| {
                let target = Target {
                    truth: v,
                    exclude: vec![&split.train],
                    history: Some(&split.train),
                    candidates: c.validation.as_ref(),
                };
                evaluate(scorer.as_ref(), &target, &set, &items, block).summary
            });
            let mut exclude = vec![&split.train];
            exclude.extend(split.validation.as_ref());
            let target = Target {
                truth: &split.test,
                exclude,
                history: Some(&split.train),
                candidates: c.test.as_ref(),
            };
            (
                validation,
                evaluate(scorer.as_ref(), &target, &set, &items, block),
            )
        };
        let (validation, test) = run(&experiment.candidates[0]);
        let secondary = experiment.candidates[1..]
            .iter()
            .map(|c| {
                let (validation, test) = run(c);
                ProtocolSummary {
                    protocol: c.protocol.to_string(),
                    validation,
                    test: test.summary,
                }
            })
            .collect();
        Ok::<_, String>((
            fit_seconds,
            scorer.cost(),
            validation,
            test,
            secondary,
            curve,
            scorer.item_factors(),
        ))
    }));
    let outcome = match attempt {
        Ok(Ok(result)) => Ok(result),
        Ok(Err(message)) => Err(message),
        Err(panic) => Err(format!(
            "the model panicked (a recsweep bug; please report it): {}",
            panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("no message")
        )),
    };
    let data = &experiment.data;
    let (record, tables) = match outcome {
        Ok((fit_seconds, cost, validation, test, secondary, curve, factors)) => {
            let record = TrialRecord {
                format: FORMAT,
                context: experiment.context.clone(),
                trial: trial.clone(),
                outcome: Outcome::Ok {
                    fit_seconds,
                    score_micros_per_user: test.micros_per_user,
                    cost,
                    validation,
                    test: test.summary.clone(),
                    secondary,
                    curve,
                },
            };
            (record, Some((test, factors)))
        }
        Err(error) => (
            TrialRecord {
                format: FORMAT,
                context: experiment.context.clone(),
                trial: trial.clone(),
                outcome: Outcome::Failed { error },
            },
            None,
        ),
    };
    results.write_trial(
        &record,
        tables.as_ref().map(|(t, _)| (&t.per_user, &t.lists)),
        tables
            .as_ref()
            .and_then(|(_, f)| f.as_ref().map(|(d, v)| (*d, &v[..]))),
        &data.user_labels,
        &data.item_labels,
    )?;
    Ok(record)
}

/// `results/<name>` under a results root.
pub fn results_dir(root: &Path, spec: &Spec) -> ResultsDir {
    ResultsDir::new(root.join(&spec.name))
}
