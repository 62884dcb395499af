//! `selection.refit`: each selected configuration retrained on train ∪
//! validation before it is scored on test. The run adds these trials once
//! every trial of the sweep is stored (selection needs them all); the report
//! scores selected models with them.

use serde_yaml::Value;

use super::selection::{select, Configuration, Part};
use crate::eval::MetricId;
use crate::store::{Outcome, TrialRecord};
use crate::sweep::{stable_hash, Trial};

/// The refit of one seed of a selected configuration: the same model,
/// params and seed, marked `refit`, with no fold. A model trained in
/// epochs keeps the epoch count early stopping chose on validation
/// (`epochs` set to the kept epoch), since refit has no validation to stop
/// on.
pub fn refit_trial(record: &TrialRecord) -> Trial {
    let mut trial = record.trial.clone();
    let kept = match &record.outcome {
        Outcome::Ok { curve, .. } => curve.as_ref().map(|c| c.kept_epoch),
        Outcome::Failed { .. } => None,
    };
    if let Some(kept) = kept {
        let epochs = Value::from("epochs");
        if trial.params.contains_key(&epochs) {
            trial.params.insert(epochs, Value::from(kept as u64));
        }
    }
    trial.refit = true;
    // Train ∪ validation is the same whichever fold the replicate held out.
    trial.fold = None;
    trial.id = stable_hash(&(
        "refit",
        &trial.model_name,
        trial.model,
        &trial.params,
        trial.seed,
    ));
    trial
}

/// The refit trials of each model's configuration selected on validation,
/// in model order then seed order, each with its configuration's index.
pub fn refit_trials(configs: &[Configuration], metric: MetricId) -> Vec<(usize, Trial)> {
    select(configs, metric, Part::Validation)
        .into_iter()
        .flat_map(|i| configs[i].trials.iter().map(move |r| (i, refit_trial(r))))
        .collect()
}
