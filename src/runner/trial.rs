//! One trial: fit its model, score it under every protocol (and its stages,
//! and its feedback loop), and store the record, a failure included.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::time::Instant;

use crate::data::{CsrMatrix, TrueRelevance};
use crate::eval::{
    evaluate, evaluate_stages, serving_time, Evaluation, ItemStats, MetricSet, PerUser,
    ServingTime, Target,
};
use crate::models::{
    held_out_negative_share, ExternalJob, FitInput, Monitor, Penalized, Reuse, Scorer, ServingCost,
    Stages, TrainingCurve,
};
use crate::seed::mix;
use crate::simulation::{simulate, Recommender, SimulationRun, World};
use crate::spec::Protocol;
use crate::split::Split;
use crate::store::{
    IndexRecord, Outcome, ProtocolSummary, ResultsDir, StageRecord, StoreError, TrialRecord,
    TrialTables, FORMAT,
};
use crate::sweep::Trial;

use super::{Candidates, Experiment};

/// Everything a successful trial produced.
struct Evaluated {
    fit_seconds: f64,
    serving: Option<ServingTime>,
    cost: ServingCost,
    validation: Option<Evaluation>,
    test: Evaluation,
    secondary: Vec<ProtocolSummary>,
    /// The randomised-exposure test's per-user values, kept for the
    /// report's bootstrap of the estimators' agreement with it.
    randomised: Option<PerUser>,
    curve: Option<TrainingCurve>,
    item_factors: Option<(usize, Vec<f32>)>,
    stages: Option<Box<StageRecord>>,
    simulation: Vec<SimulationRun>,
}

/// What every trial of an experiment shares for fitting and scoring.
struct Setting<'a> {
    experiment: &'a Experiment,
    /// The trial's validation fold's split and candidates.
    split: &'a Split,
    candidates: &'a [Candidates],
    /// Where external programs work, a folder per trial.
    work: PathBuf,
    popularity: Vec<u32>,
    items: ItemStats,
    set: MetricSet,
    reuse: &'a Reuse,
}

impl<'a> Setting<'a> {
    fn new(
        experiment: &'a Experiment,
        fold: Option<usize>,
        work: PathBuf,
        reuse: &'a Reuse,
    ) -> Self {
        let (split, candidates) = experiment.fold(fold);
        let spec = &experiment.spec;
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
            split,
            candidates,
            work,
            reuse,
        }
    }

    /// What an external model of `trial` needs: the users scored (test
    /// ones, and validation ones unless it is a refit), the original ids,
    /// and a fresh folder under the results.
    fn job<'t>(&'t self, trial: &'t Trial) -> ExternalJob<'t> {
        let split = self.split;
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
        let (split, spec) = (self.split, &self.experiment.spec);
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
            candidates: self.candidates[0].validation.as_ref(),
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
        let split = self.split;
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
        let split = self.split;
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
        let split = self.split;
        let alone = evaluate_stages(
            test,
            stages,
            &self.test_target(&self.candidates[0]),
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
        let split = self.split;
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
        let candidates = self.candidates;
        let (validation, mut test) = self.score(scorer.as_ref(), &candidates[0], trial.refit);
        let stages = scorer
            .stages()
            .map(|stages| self.stage_record(&stages, &mut test, train, trial.refit));
        let mut randomised = None;
        let secondary = candidates[1..]
            .iter()
            .map(|c| {
                let (validation, test) = self.score(scorer.as_ref(), c, trial.refit);
                if c.protocol == Protocol::Randomised {
                    randomised = Some(test.per_user);
                }
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
            randomised,
            curve: fitted.curve,
            item_factors: scorer.item_factors(),
            stages,
        })
    }
}

/// Fits, evaluates and stores one trial. A failing or panicking model
/// becomes a failed record rather than ending the sweep.
pub(super) fn run_trial(
    experiment: &Experiment,
    trial: &Trial,
    results: &ResultsDir,
    reuse: &Reuse,
) -> Result<TrialRecord, StoreError> {
    let setting = Setting::new(
        experiment,
        trial.fold,
        results.root().join("external"),
        reuse,
    );
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
            let tables = TrialTables {
                test: Some((&e.test.per_user, &e.test.lists)),
                validation: e.validation.as_ref().map(|v| &v.per_user),
                randomised: e.randomised.as_ref(),
                item_factors: factors,
            };
            results.write_trial(&record, &tables, &labels.users, &labels.items)?;
            Ok(record)
        }
        Err(error) => {
            let record = record(Outcome::Failed { error });
            results.write_trial(
                &record,
                &TrialTables::default(),
                &labels.users,
                &labels.items,
            )?;
            Ok(record)
        }
    }
}
