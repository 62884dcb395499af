//! What every trial of an experiment shares, prepared once: the data, its
//! split, the expanded trials, each protocol's candidates and what the
//! spec's evaluation, simulation and refits need.

use std::time::Instant;

use crate::data::{
    self, CsrMatrix, DataError, DatasetStats, Features, Preferences, RandomisedTest,
};
use crate::eval::{fit_exponent, sampled_candidates, Family, PropensityEstimate, PropensityFit};
use crate::models::ExternalExtras;
use crate::plan::ValidSpec;
use crate::seed::mix;
use crate::simulation::FittedTruth;
use crate::spec::{Protocol, Spec};
use crate::split::{self, Split};
use crate::store::{ExperimentRecord, FORMAT};
use crate::sweep::{stable_hash, Expansion};

use super::RunError;

/// Everything trials share: data, split, expansion, sampled candidates.
pub struct Experiment {
    pub spec: Spec,
    /// Original ids of the dense users and items: all trials need of the
    /// log once it is split (its rows, 400 MB at 20M, are dropped then).
    pub labels: Labels,
    pub dataset: DatasetStats,
    /// The dataset's user and item features (none when it declares none).
    pub features: Features,
    /// The split of validation fold 0, the only one without
    /// `selection.folds` (its statistics are the ones reported).
    pub split: Split,
    pub expansion: Expansion,
    pub context: String,
    /// One per protocol of the spec, in its order (the first is primary),
    /// for fold 0.
    pub candidates: Vec<Candidates>,
    /// Folds 1..k of `selection.folds` (empty without): the same test part
    /// and test candidates, another validation part.
    other_folds: Vec<FoldParts>,
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

/// One validation fold's split and its candidates per protocol.
struct FoldParts {
    split: Split,
    candidates: Vec<Candidates>,
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
    // Folds change what each trial trains on; a spec without them keeps
    // its old context.
    let context = match spec.selection.folds {
        Some(k) => stable_hash(&(&context, "folds", k)),
        None => context,
    };
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
    /// The split and candidates a trial validating on `fold` uses (fold 0
    /// for None: no folds, or a refit).
    pub fn fold(&self, fold: Option<usize>) -> (&Split, &[Candidates]) {
        match fold.filter(|&f| f > 0) {
            Some(f) => {
                let other = &self.other_folds[f - 1];
                (&other.split, &other.candidates)
            }
            None => (&self.split, &self.candidates),
        }
    }

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
        let mut splits = match spec.selection.folds {
            Some(k) => split::folds(&data, &spec.split, spec.seed, k)?,
            None => vec![split::split(&data, &spec.split, spec.seed)?],
        };
        let split = splits.remove(0);
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
        let draw_all = |split: &Split| -> Vec<Candidates> {
            spec.evaluation
                .protocol
                .0
                .iter()
                .enumerate()
                .map(|(i, p)| Candidates::draw(*p, i, split, randomised.as_ref(), spec.seed))
                .collect()
        };
        let candidates = draw_all(&split);
        // Test candidates stay fold 0's: a popularity sampler reads each
        // fold's train, and every fold must rank the same test lists.
        let other_folds = splits
            .into_iter()
            .map(|split| {
                let mut own = draw_all(&split);
                for (c, first) in own.iter_mut().zip(&candidates) {
                    c.test.clone_from(&first.test);
                }
                FoldParts {
                    split,
                    candidates: own,
                }
            })
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
            other_folds,
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
