//! Which trials run, in which rounds, on how many threads: each under a
//! claim, so concurrent runs and shards share the work, then the adaptive
//! rounds and the refits of the selected configurations.

use std::time::Instant;

use rayon::prelude::*;

use crate::claim::{claim_path, Attempt, Claims};
use crate::eval::Direction;
use crate::models::Reuse;
use crate::results::{configurations, load_records, refit_trials, Part};
use crate::store::{ExperimentRecord, Outcome, ResultsDir, RunInfo, StoreError, TrialRecord};
use crate::sweep::{Expansion, Trial};

use super::trial::run_trial;
use super::{Experiment, RunError};

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
