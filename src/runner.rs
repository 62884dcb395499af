//! Runs an experiment: load and split the data once, then train and evaluate
//! every trial that is not already done, in parallel, storing each as it
//! finishes. Progress goes to a callback; the library never prints.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::Instant;

use rayon::prelude::*;

use crate::claim::{claim_path, Attempt, Claims};
use crate::data::{
    self, CsrMatrix, DataError, DatasetStats, Features, Preferences, RandomisedTest, TrueRelevance,
};
use crate::eval::{
    evaluate, evaluate_stages, fit_exponent, sampled_candidates, serving_time, Direction,
    Evaluation, Family, ItemStats, MetricSet, PropensityEstimate, PropensityFit, ServingTime,
    Target,
};
use crate::models::{
    held_out_negative_share, ExternalExtras, ExternalJob, FitInput, Monitor, Penalized, Reuse,
    Scorer, ServingCost, Stages, TrainingCurve,
};
use crate::plan::ValidSpec;
use crate::results::{configurations, load_records, refit_trials, Part};
use crate::seed::mix;
use crate::simulation::{simulate, FittedTruth, Recommender, SimulationRun, World};
use crate::spec::{Protocol, Spec};
use crate::split::{self, Split, SplitError};
use crate::store::{
    ExperimentRecord, IndexRecord, Outcome, ProtocolSummary, ResultsDir, RunInfo, StageRecord,
    StoreError, TrialRecord, FORMAT,
};
use crate::sweep::{stable_hash, Expansion, Trial};

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Split(#[from] SplitError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("simulation.truth: fitting {model} on the whole log failed: {message}")]
    Truth { model: String, message: String },
    #[error("{key}: {value} is more than the catalogue's {items} items; {why}")]
    BeyondCatalogue {
        key: String,
        value: u64,
        items: usize,
        why: &'static str,
    },
    #[error("evaluation.propensity.estimate: {message}")]
    Propensity { message: String },
    #[error("cannot start {jobs} worker threads: {message}")]
    Threads { jobs: usize, message: String },
    #[error("sweep: proposing round {round}: {}", .issues.iter().map(|i| format!("{}: {}", i.path, i.message)).collect::<Vec<_>>().join("; "))]
    Proposal {
        round: usize,
        issues: Vec<crate::spec::SpecIssue>,
    },
}

/// Everything trials share: data, split, expansion, sampled candidates.
pub struct Experiment {
    pub spec: Spec,
    /// Original ids of the dense users and items: all trials need of the
    /// log once it is split (its rows, 400 MB at 20M, are dropped then).
    pub labels: Labels,
    pub dataset: DatasetStats,
    /// The dataset's user and item features (none when it declares none).
    pub features: Features,
    pub split: Split,
    pub expansion: Expansion,
    pub context: String,
    /// One per protocol of the spec, in its order (the first is primary).
    pub candidates: Vec<Candidates>,
    /// Wall seconds of each preparation phase (load or generate, features,
    /// split), in order: what `run` prints so large runs can be profiled.
    pub phases: Vec<(&'static str, f64)>,
    /// The synthetic generator's true preferences, when the spec asks for
    /// truth metrics or simulates with them.
    pub preferences: Option<Preferences>,
    /// The model that stands in for the truth in a simulation
    /// (`simulation.truth`), fitted on the whole log.
    pub fitted_truth: Option<FittedTruth>,
    /// Where every trial's simulation starts: the whole log, built once
    /// (None without a `simulation` section).
    pub simulation_log: Option<CsrMatrix>,
    /// Train ∪ validation, what refit trials train on (None without
    /// `selection.refit`).
    pub refit_train: Option<CsrMatrix>,
    /// Ratings and timestamps of the log's pairs, for external programs
    /// (None without an external model, or when the log has neither).
    pub extras: Option<ExternalExtras>,
    /// The propensity exponent fitted to the randomised test
    /// (`evaluation.propensity.estimate`), which the debiased metrics use.
    pub propensity_fit: Option<PropensityFit>,
    /// The randomised-exposure test set (`dataset.random_test`).
    pub randomised: Option<RandomisedTest>,
}

/// Train and validation together: all a refit trial may learn from.
fn train_and_validation(split: &Split) -> Option<CsrMatrix> {
    let validation = split.validation.as_ref()?;
    let mut pairs: Vec<(u32, u32)> = split.train.pairs().collect();
    pairs.extend(validation.pairs());
    Some(CsrMatrix::from_pairs(
        split.n_users(),
        split.train.n_cols(),
        &pairs,
    ))
}

/// Every interaction of the split: train, validation and test together.
fn whole_log(split: &Split) -> CsrMatrix {
    let mut pairs: Vec<(u32, u32)> = split.train.pairs().collect();
    pairs.extend(split.test.pairs());
    if let Some(v) = &split.validation {
        pairs.extend(v.pairs());
    }
    CsrMatrix::from_pairs(split.n_users(), split.train.n_cols(), &pairs)
}

/// Sizes the spec states in items, which only the data bounds: a
/// pipeline's candidates N and a simulation's K. Beyond the catalogue they
/// mean nothing (every item is a candidate; no list can be that long), and
/// lists are allocated from them, so they are refused here, before any
/// trial runs (and by `validate`).
fn check_catalogue_sizes(spec: &Spec, expansion: &Expansion, items: usize) -> Result<(), RunError> {
    let beyond = |key: String, value: u64, why| RunError::BeyondCatalogue {
        key,
        value,
        items,
        why,
    };
    for trial in &expansion.trials {
        if trial.model != crate::models::ModelKind::Pipeline {
            continue;
        }
        let n = trial.params.get("candidates").and_then(|v| v.as_u64());
        if let Some(n) = n.filter(|&n| n > items as u64) {
            return Err(beyond(
                format!("models[{}] ({}).params.candidates", trial.model_index, trial.model_name),
                n,
                "the retriever would pass every item on, leaving the ranker alone: use at most the catalogue",
            ));
        }
    }
    if let Some(sim) = spec
        .simulation
        .as_ref()
        .filter(|s| s.k as u64 > items as u64)
    {
        return Err(beyond(
            "simulation.k".into(),
            sim.k as u64,
            "a round recommends K unseen items to every user: use at most the catalogue",
        ));
    }
    Ok(())
}

/// Fewer held-out items of a cold_items split than this cannot separate
/// models: a handful of items decide every user's metrics together.
const FEW_COLD_ITEMS: usize = 10;

/// Held-out parts too small to compare models on: a cold_items split that
/// ranks each user's held-out items among at most K cold items puts every
/// one of them in every top-K (recall@K is 1 for any model), and a few
/// cold items make every user's numbers hinge on the same items.
fn held_out_warnings(split: &Split, method: split::SplitMethod, k: usize) -> Vec<String> {
    let (Some(cold), split::SplitMethod::ColdItems) = (split.stats.cold_test, method) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if split.candidates.is_some() && cold <= k {
        out.push(format!(
            "the cold_items split holds out {cold} items and ranks each user's among them (candidates: cold): with K = {k} every list holds all of them, so recall@{k} is 1 for every model; raise split.test_fraction or use candidates: all"
        ));
    } else if cold < FEW_COLD_ITEMS {
        out.push(format!(
            "the cold_items split holds out only {cold} items: every user's metrics hinge on the same few items, too few to compare models; raise split.test_fraction"
        ));
    }
    out
}

/// Original user and item ids, by dense id.
pub struct Labels {
    pub users: Vec<String>,
    pub items: Vec<String>,
}

/// What a protocol ranks: None for full ranking, else each user's sampled
/// candidates, drawn once so every trial faces the same ones.
pub struct Candidates {
    pub protocol: Protocol,
    pub validation: Option<CsrMatrix>,
    pub test: Option<CsrMatrix>,
    /// The randomised protocol's own test positives, which replace the
    /// split's test part (None for every other protocol).
    pub truth: Option<CsrMatrix>,
}

impl Candidates {
    fn draw(
        protocol: Protocol,
        index: usize,
        split: &Split,
        randomised: Option<&RandomisedTest>,
        seed: u64,
    ) -> Self {
        let (negatives, sampler) = match protocol {
            Protocol::Sampled { negatives, sampler } => (negatives, sampler),
            // Full ranking: of the whole catalogue, or of the split's own
            // candidates (a cold_items split's cold items).
            Protocol::Full => {
                let own = split.candidates.as_ref();
                return Self {
                    protocol,
                    validation: own.and_then(|c| c.validation.clone()),
                    test: own.map(|c| c.test.clone()),
                    truth: None,
                };
            }
            // The spec's rules give a randomised protocol its test set.
            Protocol::Randomised => {
                return Self {
                    protocol,
                    validation: None,
                    test: randomised.map(|r| r.shown.clone()),
                    truth: randomised.map(|r| r.positives.clone()),
                }
            }
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
            truth: None,
        }
    }
}

/// The generator's true preferences, where something reads them (truth
/// metrics, the feedback loop, a drawn randomised test).
fn preferences(spec: &Spec, labels: &Labels) -> Option<Preferences> {
    let wants_truth = spec
        .evaluation
        .metrics
        .iter()
        .any(|m| m.family() == Family::Truth)
        || spec.simulation.is_some()
        || spec.dataset.random_test.is_some();
    (wants_truth && spec.dataset.source == data::DataSource::Synthetic)
        .then(|| Preferences::new(&spec.dataset.synthetic(), &labels.users, &labels.items))
}

/// What an external program is given beyond the split, where a model of
/// the spec runs one.
fn external_extras(spec: &Spec, data: &data::Interactions) -> Option<ExternalExtras> {
    spec.models
        .iter()
        .any(|m| m.model.runs_external(&m.params))
        .then(|| {
            ExternalExtras::new(
                &data.users,
                &data.items,
                data.ratings.as_deref(),
                data.timestamps.as_deref(),
            )
        })
        .flatten()
}

/// The randomised-exposure test set the spec asks for: read from its
/// file, or drawn from the generator's preferences.
fn randomised_test(
    spec: &Spec,
    preferences: Option<&Preferences>,
    n_users: usize,
    labels: &Labels,
) -> Result<Option<RandomisedTest>, RunError> {
    let Some(r) = &spec.dataset.random_test else {
        return Ok(None);
    };
    let test = match (&r.path, r.items_per_user, preferences) {
        (Some(path), _, _) => {
            RandomisedTest::read(&spec.dataset, path, &labels.users, &labels.items)?
        }
        (None, Some(n), Some(prefs)) => {
            RandomisedTest::draw(prefs, n_users, n, mix(spec.seed ^ 0x7A4D))
        }
        // The spec's rules rule this out.
        (None, _, _) => {
            return Err(RunError::Data(DataError::Content {
                source_name: "dataset.random_test".into(),
                message: "needs `items_per_user` (synthetic source) or `path` (file sources)"
                    .into(),
            }))
        }
    };
    Ok(Some(test))
}

/// The propensity exponent fitted to the randomised test
/// (`evaluation.propensity.estimate: randomised`).
fn fitted_propensity(
    spec: &Spec,
    split: &Split,
    randomised: Option<&RandomisedTest>,
) -> Result<Option<PropensityFit>, RunError> {
    let estimate = spec.evaluation.propensity.as_ref().and_then(|p| p.estimate);
    let (Some(PropensityEstimate::Randomised), Some(test)) = (estimate, randomised) else {
        return Ok(None);
    };
    let counts =
        |m: &CsrMatrix| -> Vec<f64> { m.column_counts().into_iter().map(f64::from).collect() };
    let fit = fit_exponent(
        &split.train.column_counts(),
        &counts(&test.shown),
        &counts(&test.positives),
    )
    .ok_or_else(|| RunError::Propensity {
        message: "the randomised test has no positive on an item with train interactions, or every such item is equally popular: nothing to fit; show more items per user (dataset.random_test.items_per_user)".into(),
    })?;
    Ok(Some(fit))
}

/// The hash stored trials are found by: what the numbers depend on.
fn context(
    spec: &Spec,
    dataset: &DatasetStats,
    features: &Features,
    randomised: Option<&RandomisedTest>,
) -> String {
    // Another recsweep version may compute numbers differently, so its
    // stored trials are redone rather than mixed with this one's.
    // Features change what models learn; a dataset without them keeps
    // the context (and every stored trial) it had before features.
    let fingerprint = match &spec.dataset.features {
        Some(_) => format!("{}+{}", dataset.fingerprint, features.fingerprint()),
        None => dataset.fingerprint.clone(),
    };
    let context = stable_hash(&(
        &fingerprint,
        &spec.split,
        &spec.evaluation,
        spec.seed,
        FORMAT,
        env!("CARGO_PKG_VERSION"),
    ));
    // A simulation's trials carry what the section produced, so its
    // settings enter the context; a spec without one keeps its old one.
    let context = match &spec.simulation {
        Some(sim) => stable_hash(&(&context, sim)),
        None => context,
    };
    // Likewise the randomised test set, which only its protocol and a
    // fitted propensity read: its content enters the context.
    match randomised {
        Some(test) => stable_hash(&(&context, test.fingerprint())),
        None => context,
    }
}

impl Experiment {
    pub fn prepare(valid: ValidSpec) -> Result<Self, RunError> {
        let (spec, mut expansion) = valid.into_parts();
        let mut phases = Vec::new();
        let mut clock = Instant::now();
        let mut lap = |name| {
            phases.push((name, clock.elapsed().as_secs_f64()));
            clock = Instant::now();
        };
        let (data, dataset) = match spec.split.method {
            split::SplitMethod::Files => data::load_files(&spec.dataset, &spec.split.files())?,
            _ => data::load(&spec.dataset)?,
        };
        lap(match spec.dataset.source {
            data::DataSource::Synthetic => "generate",
            _ => "load",
        });
        let features = match &spec.dataset.features {
            Some(f) => data::load_features(f, &data)?,
            None => Features::default(),
        };
        if spec.dataset.features.is_some() {
            lap("features");
        }
        let split = split::split(&data, &spec.split, spec.seed)?;
        lap("split");
        let extras = external_extras(&spec, &data);
        check_catalogue_sizes(&spec, &expansion, split.n_items())?;
        // Stored with the expansion, so `validate`, `run` and the report
        // all show them.
        for warning in held_out_warnings(&split, spec.split.method, spec.evaluation.max_cutoff()) {
            if !expansion.warnings.contains(&warning) {
                expansion.warnings.push(warning);
            }
        }
        let labels = Labels {
            users: data.user_labels,
            items: data.item_labels,
        };
        let preferences = preferences(&spec, &labels);
        if preferences.is_some() {
            lap("truth");
        }
        let randomised = randomised_test(&spec, preferences.as_ref(), split.n_users(), &labels)?;
        if randomised.is_some() {
            lap("randomised test");
        }
        let context = context(&spec, &dataset, &features, randomised.as_ref());
        let propensity_fit = fitted_propensity(&spec, &split, randomised.as_ref())?;
        let candidates = spec
            .evaluation
            .protocol
            .0
            .iter()
            .enumerate()
            .map(|(i, p)| Candidates::draw(*p, i, &split, randomised.as_ref(), spec.seed))
            .collect();
        let simulation_log = spec.simulation.as_ref().map(|_| whole_log(&split));
        let refit_train = spec
            .selection
            .refit
            .then(|| train_and_validation(&split))
            .flatten();
        let fitted_truth = match (
            spec.simulation.as_ref().and_then(|s| s.truth.as_ref()),
            &simulation_log,
        ) {
            (Some(truth), Some(log)) => {
                let fitted = FittedTruth::fit(truth, log, &features, mix(spec.seed ^ 0x7207))
                    .map_err(|message| RunError::Truth {
                        model: truth.model.as_str().to_string(),
                        message,
                    })?;
                lap("truth");
                Some(fitted)
            }
            _ => None,
        };
        Ok(Self {
            spec,
            labels,
            dataset,
            features,
            split,
            expansion,
            context,
            candidates,
            phases,
            preferences,
            fitted_truth,
            simulation_log,
            refit_train,
            extras,
            propensity_fit,
            randomised,
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
            features: self.features.summary(),
            expansion: self.expansion.clone(),
            propensity_fit: self.propensity_fit,
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
    /// The sweep is stored; this many selected configurations' seeds are
    /// to be retrained on train ∪ validation (`selection.refit`).
    Refit {
        to_run: usize,
    },
    /// An adaptive sweep (TPE, successive halving) proposed round `round`
    /// (1 is the first after the expansion's trials) from the stored
    /// results of the earlier ones.
    Round {
        round: usize,
        to_run: usize,
    },
}

#[derive(Debug, Clone, Default)]
pub struct RunSummary {
    /// Trials run by this process.
    pub ran: usize,
    /// Trials finished before this run started.
    pub skipped: usize,
    /// Trials another worker (a concurrent run or shard) finished meanwhile.
    pub elsewhere: usize,
    /// (trial id, error) of trials that failed.
    pub failed: Vec<(String, String)>,
    /// Under `selection.refit`: trials of the sweep not yet stored, which
    /// selection (and so the refit) waits for.
    pub refit_waiting: usize,
}

impl RunSummary {
    /// Adds the counts of a later batch of trials (a round, the refit).
    fn add(&mut self, later: RunSummary) {
        self.ran += later.ran;
        self.skipped += later.skipped;
        self.elsewhere += later.elsewhere;
        self.failed.extend(later.failed);
    }
}

pub fn run(
    experiment: &Experiment,
    results: &ResultsDir,
    options: &RunOptions,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<RunSummary, RunError> {
    let threads = options.jobs.unwrap_or_else(rayon::current_num_threads);
    let mut expansion = experiment.expansion.clone();
    let record = |expansion: &Expansion| ExperimentRecord {
        run: Some(RunInfo::current(threads)),
        expansion: expansion.clone(),
        ..experiment.record()
    };
    results.write_experiment(&record(&expansion))?;
    results.write_items(
        &experiment.labels.items,
        &experiment.split.train.column_counts(),
    )?;
    // An adaptive round needs every result of the rounds before it, so each
    // shard runs every round, sharing its trials through claims instead.
    let search = experiment.spec.sweep.tpe.is_some() || experiment.spec.sweep.fidelity.is_some();
    let mine: Vec<&Trial> = expansion
        .trials
        .iter()
        .enumerate()
        .filter(|(i, _)| search || options.shard.is_none_or(|s| i % s.count == s.index))
        .map(|(_, t)| t)
        .collect();
    let (done, todo) = split_finished(mine, experiment, results, options);
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
    // Fitted retrievers shared by this run's pipeline trials.
    let reuse = Reuse::default();
    let run = Run {
        experiment,
        results,
        options,
        progress,
        pool: &pool,
        reuse: &reuse,
    };
    let steps = run_claimed(&run, &todo);
    let mut summary = tally(&todo, done.len(), steps)?;
    for round in 1.. {
        let (records, _) = load_records(results, &record(&expansion))?;
        let new = propose(experiment, &expansion, &records)
            .map_err(|issues| RunError::Proposal { round, issues })?;
        if new.is_empty() {
            break;
        }
        let start = expansion.trials.len();
        expansion.trials.extend(new);
        results.write_experiment(&record(&expansion))?;
        let (done, todo) = split_finished(
            expansion.trials[start..].iter().collect(),
            experiment,
            results,
            options,
        );
        progress(Progress::Round {
            round,
            to_run: todo.len(),
        });
        let steps = run_claimed(&run, &todo);
        summary.add(tally(&todo, done.len(), steps)?);
    }
    if experiment.spec.selection.refit {
        refit(&run, &record(&expansion), &mut summary)?;
    }
    Ok(summary)
}

/// The next round of an adaptive sweep (TPE, successive halving; none for a
/// grid or random search alone), from each configuration's mean validation
/// value of the selection metric over its seeds, as a loss (lower is better).
fn propose(
    experiment: &Experiment,
    expansion: &Expansion,
    records: &[TrialRecord],
) -> Result<Vec<Trial>, Vec<crate::spec::SpecIssue>> {
    let metric = experiment.spec.selection.metric;
    let configs = configurations(expansion, records);
    let loss = |config_id: &str| {
        let config = configs.iter().find(|c| c.config_id == config_id)?;
        let value = config.mean(Part::Validation, metric)?;
        Some(match metric.kind.direction() {
            Direction::Higher => -value,
            Direction::Lower => value,
        })
    };
    crate::sweep::next_round(&experiment.spec, expansion, &loss)
}

/// (finished, to run): trials already stored under this context, unless
/// `--fresh` redoes them, and the rest.
fn split_finished<'a>(
    trials: Vec<&'a Trial>,
    experiment: &Experiment,
    results: &ResultsDir,
    options: &RunOptions,
) -> (Vec<&'a Trial>, Vec<&'a Trial>) {
    trials
        .into_iter()
        .partition(|t| !options.fresh && results.finished(t, &experiment.context).is_some())
}

/// `selection.refit`: once every trial of the sweep is stored (by this run
/// or other workers), each selected configuration's seeds retrained on
/// train ∪ validation, under claims like any trial, so the last shard to
/// finish does them and concurrent runs share them.
fn refit(run: &Run, record: &ExperimentRecord, summary: &mut RunSummary) -> Result<(), RunError> {
    let (records, missing) = load_records(run.results, record)?;
    if missing > 0 {
        summary.refit_waiting = missing;
        return Ok(());
    }
    let configs = configurations(&record.expansion, &records);
    let refits: Vec<Trial> = refit_trials(&configs, run.experiment.spec.selection.metric)
        .into_iter()
        .map(|(_, t)| t)
        .collect();
    let (done, todo) = split_finished(
        refits.iter().collect(),
        run.experiment,
        run.results,
        run.options,
    );
    (run.progress)(Progress::Refit { to_run: todo.len() });
    let steps = run_claimed(run, &todo);
    summary.add(tally(&todo, done.len(), steps)?);
    Ok(())
}

/// What every batch of trials of one `run` shares.
#[derive(Clone, Copy)]
struct Run<'a> {
    experiment: &'a Experiment,
    results: &'a ResultsDir,
    options: &'a RunOptions,
    progress: &'a (dyn Fn(Progress) + Sync),
    pool: &'a rayon::ThreadPool,
    reuse: &'a Reuse,
}

/// Runs `todo` on `pool`, each trial under a claim (crate::claim), so that
/// concurrent runs and shards on one results folder share the work: a trial
/// another live worker holds is left to it and waited for, so this run's
/// report still covers every trial. One step per trial, in order.
fn run_claimed(run: &Run, todo: &[&Trial]) -> Vec<Result<Step, StoreError>> {
    let Run {
        experiment,
        results,
        options,
        progress,
        pool,
        reuse,
    } = *run;
    let claims = Claims::start();
    let attempt = |trial: &Trial, recheck: bool| -> Result<Step, StoreError> {
        let dir = results.trial_path(&trial.id);
        let claimed = claims.acquire(&dir).map_err(|source| StoreError::Write {
            path: claim_path(&dir),
            source,
        })?;
        if let Attempt::HeldElsewhere { .. } = claimed {
            return Ok(Step::HeldElsewhere);
        }
        // Finished by another worker between planning and claiming.
        if recheck && results.finished(trial, &experiment.context).is_some() {
            claims.release(&dir);
            return Ok(Step::DoneElsewhere);
        }
        progress(Progress::Started { trial });
        let start = Instant::now();
        let record = run_trial(experiment, trial, results, reuse);
        claims.release(&dir);
        let record = record?;
        let error = match &record.outcome {
            Outcome::Failed { error } => Some(error.clone()),
            Outcome::Ok { .. } => None,
        };
        progress(Progress::Finished {
            trial,
            seconds: start.elapsed().as_secs_f64(),
            error: error.as_deref(),
        });
        Ok(Step::Ran(error))
    };
    let mut steps: Vec<Result<Step, StoreError>> = pool.install(|| {
        todo.par_iter()
            .map(|trial| attempt(trial, !options.fresh))
            .collect()
    });
    // Wait for the trials other workers hold: each ends finished (by them)
    // or free (their claim released or stale), and then this worker runs it.
    loop {
        let pending: Vec<usize> = steps
            .iter()
            .enumerate()
            .filter(|(_, s)| matches!(s, Ok(Step::HeldElsewhere)))
            .map(|(i, _)| i)
            .collect();
        if pending.is_empty() {
            break;
        }
        std::thread::sleep(WAIT_POLL);
        let retried: Vec<Result<Step, StoreError>> = pool.install(|| {
            pending
                .par_iter()
                .map(|&i| attempt(todo[i], true))
                .collect()
        });
        for (&i, step) in pending.iter().zip(retried) {
            steps[i] = step;
        }
    }
    steps
}

/// The run's summary from each trial's step.
fn tally(
    todo: &[&Trial],
    skipped: usize,
    steps: Vec<Result<Step, StoreError>>,
) -> Result<RunSummary, RunError> {
    let mut summary = RunSummary {
        skipped,
        ..RunSummary::default()
    };
    for (trial, step) in todo.iter().zip(steps) {
        match step? {
            Step::Ran(error) => {
                summary.ran += 1;
                if let Some(error) = error {
                    summary.failed.push((trial.id.clone(), error));
                }
            }
            Step::DoneElsewhere => summary.elsewhere += 1,
            Step::HeldElsewhere => unreachable!("the wait loop ends when none is held elsewhere"),
        }
    }
    Ok(summary)
}

/// How often a run looks again at trials that other workers hold.
const WAIT_POLL: std::time::Duration = std::time::Duration::from_millis(500);

/// What became of one trial in this run.
enum Step {
    /// Run here; the error if it failed.
    Ran(Option<String>),
    /// Another live worker holds its claim.
    HeldElsewhere,
    /// Another worker finished it.
    DoneElsewhere,
}

/// Everything a successful trial produced.
struct Evaluated {
    fit_seconds: f64,
    serving: Option<ServingTime>,
    cost: ServingCost,
    validation: Option<Evaluation>,
    test: Evaluation,
    secondary: Vec<ProtocolSummary>,
    curve: Option<TrainingCurve>,
    item_factors: Option<(usize, Vec<f32>)>,
    stages: Option<Box<StageRecord>>,
    simulation: Vec<SimulationRun>,
}

/// What every trial of an experiment shares for fitting and scoring.
struct Setting<'a> {
    experiment: &'a Experiment,
    /// Where external programs work, a folder per trial.
    work: PathBuf,
    popularity: Vec<u32>,
    items: ItemStats,
    set: MetricSet,
    reuse: &'a Reuse,
}

impl<'a> Setting<'a> {
    fn new(experiment: &'a Experiment, work: PathBuf, reuse: &'a Reuse) -> Self {
        let (split, spec) = (&experiment.split, &experiment.spec);
        let popularity = split.train.column_counts();
        Self {
            items: ItemStats::new(
                popularity.clone(),
                spec.evaluation.head_share,
                split.n_users(),
            )
            .with_propensity(
                spec.evaluation.propensity.as_ref(),
                experiment.propensity_fit.map(|f| f.exponent),
            ),
            popularity,
            set: MetricSet {
                cutoffs: spec.evaluation.cutoffs.clone(),
                metrics: spec.evaluation.metrics.clone(),
            },
            experiment,
            work,
            reuse,
        }
    }

    /// What an external model of `trial` needs: the users scored (test
    /// ones, and validation ones unless it is a refit), the original ids,
    /// and a fresh folder under the results.
    fn job<'t>(&'t self, trial: &'t Trial) -> ExternalJob<'t> {
        let split = &self.experiment.split;
        let validation = split.validation.as_ref().filter(|_| !trial.refit);
        let mut targets = split.test.nonempty_rows();
        if let Some(v) = validation {
            targets.extend(v.nonempty_rows());
            targets.sort_unstable();
            targets.dedup();
        }
        // Test ranking excludes validation items the program never saw.
        let held_out = validation.map_or(0, |v| {
            (0..v.n_rows()).map(|u| v.row(u).len()).max().unwrap_or(0)
        });
        let max_cutoff = self.set.max_cutoff();
        ExternalJob {
            work: self.work.join(&trial.id),
            user_labels: &self.experiment.labels.users,
            item_labels: &self.experiment.labels.items,
            targets,
            max_cutoff,
            list_length: max_cutoff + held_out,
            trial_id: &trial.id,
            // Up to one trial per pool thread runs at once: each program
            // gets its share of the machine's cores.
            threads: (std::thread::available_parallelism().map_or(1, usize::from)
                / rayon::current_num_threads())
            .max(1),
            features: self.experiment.spec.dataset.features.as_ref(),
            extras: self.experiment.extras.as_ref(),
        }
    }

    /// The selection metric on validation (primary protocol, before any
    /// scoring-time penalty): what epoch-trained models log and stop on.
    fn monitor(&self, scorer: &dyn Scorer) -> f64 {
        let (split, spec) = (&self.experiment.split, &self.experiment.spec);
        let selection = spec.selection.metric;
        let monitor_set = MetricSet {
            cutoffs: vec![selection.k],
            metrics: vec![selection.kind],
        };
        let validation = split
            .validation
            .as_ref()
            .expect("monitored only with validation");
        let target = Target {
            truth: validation,
            exclude: vec![&split.train],
            history: Some(&split.train),
            candidates: self.experiment.candidates[0].validation.as_ref(),
            preferences: self.experiment.preferences.as_ref().map(|p| p as _),
        };
        evaluate(
            scorer,
            &target,
            &monitor_set,
            &self.items,
            spec.evaluation.block_users,
        )
        .summary
        .get(selection)
        .map_or(f64::NAN, |m| m.mean)
    }

    /// Validation and test evaluations of `scorer` under one protocol (test
    /// only for a refit, which learned from validation).
    fn score(
        &self,
        scorer: &dyn Scorer,
        c: &Candidates,
        refit: bool,
    ) -> (Option<Evaluation>, Evaluation) {
        let split = &self.experiment.split;
        let block = self.experiment.spec.evaluation.block_users;
        // The randomised protocol has a test set alone: validation stays
        // the primary protocol's.
        let ranks_validation = !refit && c.protocol != Protocol::Randomised;
        let validation = split
            .validation
            .as_ref()
            .filter(|_| ranks_validation)
            .map(|v| {
                let target = Target {
                    truth: v,
                    exclude: vec![&split.train],
                    history: Some(&split.train),
                    candidates: c.validation.as_ref(),
                    preferences: self.experiment.preferences.as_ref().map(|p| p as _),
                };
                evaluate(scorer, &target, &self.set, &self.items, block)
            });
        (
            validation,
            evaluate(scorer, &self.test_target(c), &self.set, &self.items, block),
        )
    }

    /// Test items to rank (the protocol's own, or the split's test part),
    /// excluding train and validation; a randomised test ranks every item
    /// shown, whatever the log holds.
    fn test_target(&self, c: &'a Candidates) -> Target<'a> {
        let split = &self.experiment.split;
        let mut exclude = Vec::new();
        if c.truth.is_none() {
            exclude.push(&split.train);
            exclude.extend(split.validation.as_ref());
        }
        Target {
            truth: c.truth.as_ref().unwrap_or(&split.test),
            exclude,
            history: Some(&split.train),
            candidates: c.test.as_ref(),
            preferences: self.experiment.preferences.as_ref().map(|p| p as _),
        }
    }

    /// The feedback loop at each of the spec's exploration rates, from the
    /// whole log (none without a `simulation` section).
    fn simulate(
        &self,
        config: &dyn crate::models::ModelConfig,
        seed: u64,
    ) -> Result<Vec<SimulationRun>, String> {
        let experiment = self.experiment;
        let truth: Option<&dyn TrueRelevance> = match &experiment.fitted_truth {
            Some(fitted) => Some(fitted),
            None => experiment.preferences.as_ref().map(|p| p as _),
        };
        let (Some(sim), Some(truth), Some(log)) = (
            &experiment.spec.simulation,
            truth,
            &experiment.simulation_log,
        ) else {
            return Ok(Vec::new());
        };
        let world = World {
            log,
            truth,
            features: &experiment.features,
            head_share: experiment.spec.evaluation.head_share,
            block_users: experiment.spec.evaluation.block_users,
        };
        let mut runs = sim
            .epsilon
            .iter()
            .enumerate()
            .map(|(i, &epsilon)| {
                simulate(
                    Recommender::Model(config),
                    &world,
                    sim,
                    epsilon,
                    mix(seed ^ mix(0x51AD + i as u64)),
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        // The oracle's loop depends on the seed alone, so every trial of a
        // seed stores the same reference (cheap: nothing is trained).
        if sim.oracle {
            runs.push(simulate(
                Recommender::Oracle,
                &world,
                sim,
                0.0,
                mix(seed ^ mix(0x0AC1E)),
            )?);
        }
        Ok(runs)
    }

    /// A pipeline's stages scored alone on test (the retriever, its index
    /// timed beside the exact top N), the ranker's lift written into
    /// `test`, and the share of held-out items among its negatives: what
    /// `train` (the trial's) left out, validation and test, or test alone
    /// for a refit (validation was train).
    fn stage_record(
        &self,
        stages: &Stages,
        test: &mut Evaluation,
        train: &CsrMatrix,
        refit: bool,
    ) -> Box<StageRecord> {
        let split = &self.experiment.split;
        let alone = evaluate_stages(
            test,
            stages,
            &self.test_target(&self.experiment.candidates[0]),
            &self.set,
            &self.items,
            self.experiment.spec.evaluation.block_users,
        );
        Box::new(StageRecord {
            candidates: stages.candidates,
            retriever: alone.retriever.summary,
            retriever_micros_per_user: alone.retriever.micros_per_user,
            retriever_cost: stages.retrieval_cost,
            index: stages.index.as_ref().map(|index| IndexRecord {
                index: index.description.clone(),
                build_seconds: index.build_seconds,
                overhead_bytes: index.index.overhead_bytes() as u64,
                queries_per_second: alone
                    .search
                    .as_ref()
                    .map_or(f64::NAN, |s| s.index.per_second()),
                search: alone.search.as_ref().map(|s| s.index),
                exact_search: alone.search.as_ref().and_then(|s| s.exact),
            }),
            held_out_negatives: stages.negative_pools.and_then(|pools| {
                let held: Vec<&CsrMatrix> = match refit {
                    true => vec![&split.test],
                    false => split.validation.iter().chain([&split.test]).collect(),
                };
                held_out_negative_share(pools, train, &held)
            }),
        })
    }

    /// Fits the trial's model and scores it under every protocol.
    fn fit_and_score(&self, trial: &Trial) -> Result<Evaluated, String> {
        let split = &self.experiment.split;
        let config = trial
            .model
            .configure(&trial.params)
            .map_err(|_| "stored params no longer validate".to_string())?;
        let monitor = |scorer: &dyn Scorer| self.monitor(scorer);
        // A refit learns from train ∪ validation, for the epochs selection
        // kept (set in its params), with nothing left to monitor; its
        // popularity (for logQ, negatives and penalties) is that data's.
        let (train, monitor) = match (trial.refit, &self.experiment.refit_train) {
            (true, Some(both)) => (both, None),
            (true, None) => return Err("a refit trial needs a validation split".into()),
            (false, _) => (
                &split.train,
                split.validation.as_ref().map(|_| &monitor as Monitor),
            ),
        };
        let refit_popularity;
        let popularity = match trial.refit {
            true => {
                refit_popularity = train.column_counts();
                &refit_popularity
            }
            false => &self.popularity,
        };
        // Only a trial that runs an external program needs its context.
        let job = trial
            .model
            .runs_external(&trial.params)
            .then(|| self.job(trial));
        let start = Instant::now();
        let fitted = config
            .fit(&FitInput {
                job: job.as_ref(),
                train,
                item_popularity: popularity,
                seed: trial.seed,
                negatives: None,
                monitor,
                features: &self.experiment.features,
                reuse: Some(self.reuse),
            })
            .map_err(|e| e.to_string())?;
        let fit_seconds = start.elapsed().as_secs_f64() + fitted.reused_seconds;
        if let Some(job) = &job {
            // A pipeline's external stages removed their own folders on
            // success; the trial's, now empty, goes too.
            let _ = std::fs::remove_dir(&job.work);
        }
        let scorer = Penalized::wrap(fitted.scorer, config.popularity(), popularity);
        let candidates = &self.experiment.candidates;
        let (validation, mut test) = self.score(scorer.as_ref(), &candidates[0], trial.refit);
        let stages = scorer
            .stages()
            .map(|stages| self.stage_record(&stages, &mut test, train, trial.refit));
        let secondary = candidates[1..]
            .iter()
            .map(|c| {
                let (validation, test) = self.score(scorer.as_ref(), c, trial.refit);
                ProtocolSummary {
                    protocol: c.protocol.to_string(),
                    validation: validation.map(|v| v.summary),
                    test: test.summary,
                }
            })
            .collect();
        let simulation = match trial.refit {
            true => Vec::new(),
            false => self.simulate(config.as_ref(), trial.seed)?,
        };
        let target = self.test_target(&candidates[0]);
        let serving = serving_time(
            scorer.as_ref(),
            &split.test.nonempty_rows(),
            &target.exclude,
            split.test.n_cols(),
            self.set.max_cutoff(),
        );
        Ok(Evaluated {
            simulation,
            fit_seconds,
            serving,
            cost: scorer.cost(),
            validation,
            test,
            secondary,
            curve: fitted.curve,
            item_factors: scorer.item_factors(),
            stages,
        })
    }
}

/// Fits, evaluates and stores one trial. A failing or panicking model
/// becomes a failed record rather than ending the sweep.
fn run_trial(
    experiment: &Experiment,
    trial: &Trial,
    results: &ResultsDir,
    reuse: &Reuse,
) -> Result<TrialRecord, StoreError> {
    let setting = Setting::new(experiment, results.root().join("external"), reuse);
    let attempt = catch_unwind(AssertUnwindSafe(|| setting.fit_and_score(trial)));
    let outcome = attempt.unwrap_or_else(|panic| {
        Err(format!(
            "the model panicked (a recsweep bug; please report it): {}",
            panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("no message")
        ))
    });
    let record = |outcome| TrialRecord {
        format: FORMAT,
        context: experiment.context.clone(),
        trial: trial.clone(),
        outcome,
    };
    let labels = &experiment.labels;
    match outcome {
        Ok(e) => {
            let record = record(Outcome::Ok {
                fit_seconds: e.fit_seconds,
                score_micros_per_user: e.test.micros_per_user,
                serving: e.serving.map(Box::new),
                cost: e.cost,
                validation: e.validation.as_ref().map(|v| v.summary.clone()),
                test: e.test.summary.clone(),
                secondary: e.secondary,
                curve: e.curve,
                stages: e.stages,
                simulation: e.simulation,
            });
            let factors = e.item_factors.as_ref().map(|(d, v)| (*d, &v[..]));
            results.write_trial(
                &record,
                Some((&e.test.per_user, &e.test.lists)),
                e.validation.as_ref().map(|v| &v.per_user),
                factors,
                &labels.users,
                &labels.items,
            )?;
            Ok(record)
        }
        Err(error) => {
            let record = record(Outcome::Failed { error });
            results.write_trial(&record, None, None, None, &labels.users, &labels.items)?;
            Ok(record)
        }
    }
}

/// `results/<name>` under a results root.
pub fn results_dir(root: &Path, spec: &Spec) -> ResultsDir {
    ResultsDir::new(root.join(&spec.name))
}
