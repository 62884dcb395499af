//! The results model: a results folder read for analysis. Loads the trial
//! records, groups them into configurations and selects one per model
//! (`selection`), averages each user's values over seeds, and compares
//! configurations with paired tests corrected as one family
//! (`significance`). The report renders it; `check` decides on it.

mod selection;
mod significance;

use crate::eval::PerUser;
use crate::store::{ExperimentRecord, ResultsDir, StoreError, TrialRecord};

pub use selection::{configurations, select, Configuration, Part};
pub use significance::{
    contrast, correct, pairwise, sensitivity, Contrast, KnobValue, Sensitivity,
};

/// The stored records of the expansion's trials that match it, and how many
/// have none yet.
pub fn load_records(
    results: &ResultsDir,
    record: &ExperimentRecord,
) -> Result<(Vec<TrialRecord>, usize), StoreError> {
    let mut records: Vec<TrialRecord> = Vec::new();
    let mut missing = 0;
    for trial in &record.expansion.trials {
        match results.read_trial(&trial.id) {
            // Stored under an earlier spec, its labels (position, swept
            // keys) may be stale: the expansion's are the current ones.
            Ok(mut r) if r.context == record.context && trial.same_work(&r.trial) => {
                r.trial = trial.clone();
                records.push(r);
            }
            // Not run yet (or by another context): missing. A record that
            // exists but cannot be read or parsed is an error, never a
            // silently dropped trial.
            Ok(_) => missing += 1,
            Err(StoreError::Read { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                missing += 1
            }
            Err(e) => return Err(e),
        }
    }
    Ok((records, missing))
}

/// Each user's values averaged over a configuration's seeds (seeds share the
/// split, so users line up). None when no seed succeeded.
pub fn seed_averaged(
    results: &ResultsDir,
    config: &Configuration,
) -> Result<Option<PerUser>, StoreError> {
    let mut sum: Option<PerUser> = None;
    for trial in &config.trials {
        let per_user = results.read_per_user(&trial.trial.id)?;
        sum = Some(match sum {
            None => per_user,
            Some(mut acc) => {
                for (a, b) in acc.values.iter_mut().zip(&per_user.values) {
                    for (x, y) in a.iter_mut().zip(b) {
                        *x += y;
                    }
                }
                acc
            }
        });
    }
    let seeds = config.trials.len() as f64;
    Ok(sum.map(|mut acc| {
        for column in &mut acc.values {
            for v in column.iter_mut() {
                *v /= seeds;
            }
        }
        acc
    }))
}
