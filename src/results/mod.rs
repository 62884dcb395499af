//! The results model: a results folder read for analysis. Loads the trial
//! records, groups them into configurations and selects one per model
//! (`selection`), averages each user's values over seeds, and compares
//! configurations with paired tests corrected as one family
//! (`significance`). The report renders it; `check` decides on it.

mod refit;
mod selection;
mod significance;

use crate::eval::{MetricId, PerUser};
use crate::format::describe_knobs;
use crate::per_user_file::{self, PerUserFileError, PerUserTable};
use crate::store::{ExperimentRecord, ResultsDir, StoreError, TrialRecord};

pub use refit::{refit_trial, refit_trials};
pub use selection::{configurations, select, Configuration, Part};
pub use significance::{
    contrast, contrast_over_seeds, correct, edge_phrases, find_pair, pairwise, sensitivity,
    Contrast, Edge, KnobValue, Sensitivity, Verdict, POWER,
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

/// The knobs whose selected value sits on an edge of what was tried, from
/// the stored results of an experiment (what `validate` warns about once a
/// run has stored them); none where the results hold no experiment.
pub fn stored_edges(results: &ResultsDir, context: &str) -> Result<Vec<String>, StoreError> {
    let Ok(record) = results.read_experiment() else {
        return Ok(Vec::new());
    };
    if record.context != context {
        return Ok(Vec::new());
    }
    let (records, _) = load_records(results, &record)?;
    let spec = &record.spec;
    let configs = configurations(&record.expansion, &records);
    let seed_values = |c: &Configuration| per_seed(results, c).ok();
    let knobs = sensitivity(
        &configs,
        spec.selection.metric,
        Part::selection(&spec.split),
        &seed_values,
        &spec.compare,
        spec.seed,
    );
    Ok(edge_phrases(&knobs))
}

/// Each seed's per-user values of one configuration, in seed order (seeds
/// share the split, so users line up).
#[derive(Debug, Clone)]
pub struct SeedValues(pub Vec<PerUser>);

impl SeedValues {
    /// One metric's values, `[seed][user]`; None when a seed lacks it or
    /// there is no seed.
    pub fn column(&self, metric: MetricId) -> Option<Vec<Vec<f64>>> {
        let columns: Option<Vec<Vec<f64>>> = self
            .0
            .iter()
            .map(|p| p.column(metric).map(<[f64]>::to_vec))
            .collect();
        columns.filter(|c| !c.is_empty())
    }

    /// Each user's values averaged over the seeds; None without a seed.
    pub fn averaged(&self) -> Option<PerUser> {
        let mut seeds = self.0.iter();
        let mut acc = seeds.next()?.clone();
        for next in seeds {
            add_columns(&mut acc.values, &next.values);
        }
        divide_columns(&mut acc.values, self.0.len());
        Some(acc)
    }
}

/// A configuration's per-user values, seed by seed.
pub fn per_seed(results: &ResultsDir, config: &Configuration) -> Result<SeedValues, StoreError> {
    config
        .trials
        .iter()
        .map(|t| results.read_per_user(&t.trial.id))
        .collect::<Result<_, _>>()
        .map(SeedValues)
}

/// `acc[c][n] += next[c][n]`: one seed's per-user values into the sum.
fn add_columns(acc: &mut [Vec<f64>], next: &[Vec<f64>]) {
    for (a, b) in acc.iter_mut().zip(next) {
        for (x, y) in a.iter_mut().zip(b) {
            *x += y;
        }
    }
}

/// The sum over `seeds` seeds made a mean.
fn divide_columns(acc: &mut [Vec<f64>], seeds: usize) {
    for column in acc {
        for v in column.iter_mut() {
            *v /= seeds as f64;
        }
    }
}

/// A model of a results folder as the report compares it: its selected
/// configuration, each user's values averaged over that configuration's
/// seeds, users by their original ids (what `compare` pairs with a file).
#[derive(Debug, Clone)]
pub struct SelectedModel {
    pub model: String,
    /// The selected configuration's knobs (`defaults` when none).
    pub configuration: String,
    pub seeds: usize,
    /// Each user's values averaged over the seeds.
    pub table: PerUserTable,
    /// Each seed's table (same users and columns), in seed order.
    pub per_seed: Vec<PerUserTable>,
}

#[derive(Debug, thiserror::Error)]
pub enum SelectedModelError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    PerUser(#[from] PerUserFileError),
    #[error("{}: no model named `{model}`{hint}; its models: {}", results.display(), models.join(", "))]
    UnknownModel {
        results: std::path::PathBuf,
        model: String,
        hint: String,
        models: Vec<String>,
    },
    #[error("{}: model `{model}` has no successful trial to compare", results.display())]
    NothingSucceeded {
        results: std::path::PathBuf,
        model: String,
    },
    #[error("{}: the seeds of `{model}`'s selected configuration hold different users", results.display())]
    SeedsDisagree {
        results: std::path::PathBuf,
        model: String,
    },
}

/// The names of the models a results folder holds, in spec order.
pub fn model_names(record: &ExperimentRecord) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for t in &record.expansion.trials {
        if !names.contains(&t.model_name) {
            names.push(t.model_name.clone());
        }
    }
    names
}

/// `model`'s selected configuration (by the spec's selection metric, on
/// validation where the split has one, as the report selects), its seeds'
/// per-user values averaged.
pub fn selected_model(
    results: &ResultsDir,
    model: &str,
) -> Result<SelectedModel, SelectedModelError> {
    let record = results.read_experiment()?;
    let names = model_names(&record);
    if !names.iter().any(|n| n == model) {
        let candidates: Vec<&str> = names.iter().map(String::as_str).collect();
        return Err(SelectedModelError::UnknownModel {
            results: results.root().to_path_buf(),
            model: model.to_string(),
            hint: crate::describe::did_you_mean(model, &candidates)
                .map_or(String::new(), |s| format!(" (did you mean `{s}`?)")),
            models: names,
        });
    }
    let (records, _) = load_records(results, &record)?;
    let spec = &record.spec;
    let configs = configurations(&record.expansion, &records);
    let selected = select(
        &configs,
        spec.selection.metric,
        Part::selection(&spec.split),
    )
    .into_iter()
    .map(|i| &configs[i])
    .find(|c| c.model_name == model)
    .ok_or_else(|| SelectedModelError::NothingSucceeded {
        results: results.root().to_path_buf(),
        model: model.to_string(),
    })?;
    let mut sum: Option<PerUserTable> = None;
    let mut per_seed = Vec::with_capacity(selected.trials.len());
    for trial in &selected.trials {
        let table = per_user_file::read(&results.trial_path(&trial.trial.id))?;
        sum = Some(match sum {
            None => table.clone(),
            Some(mut acc) => {
                if acc.users != table.users || acc.columns != table.columns {
                    return Err(SelectedModelError::SeedsDisagree {
                        results: results.root().to_path_buf(),
                        model: model.to_string(),
                    });
                }
                add_columns(&mut acc.values, &table.values);
                acc
            }
        });
        per_seed.push(table);
    }
    let seeds = selected.trials.len();
    let mut table = sum.ok_or_else(|| SelectedModelError::NothingSucceeded {
        results: results.root().to_path_buf(),
        model: model.to_string(),
    })?;
    divide_columns(&mut table.values, seeds);
    Ok(SelectedModel {
        model: model.to_string(),
        configuration: describe_knobs(&selected.knobs),
        seeds,
        table,
        per_seed,
    })
}

/// How sure the selection of one model's configuration is.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SelectionConfidence {
    pub model: String,
    /// Configurations of the model with stored validation values.
    pub configurations: usize,
    /// P(the selected configuration has the best validation mean), over
    /// resampled validation users and seeds.
    pub probability: f64,
}

/// `tables[c][s]`'s `metric` column over the users of any table, in user
/// order, NaN where a table lacks the user: validation folds hold out
/// different users, and the resampling draws users by position.
fn aligned_by_user(tables: &[Vec<PerUser>], metric: MetricId) -> Vec<Vec<Vec<f64>>> {
    let mut users: Vec<u32> = tables
        .iter()
        .flatten()
        .flat_map(|t| t.users.iter().copied())
        .collect();
    users.sort_unstable();
    users.dedup();
    tables
        .iter()
        .map(|seeds| {
            seeds
                .iter()
                .filter_map(|t| {
                    let column = t.column(metric)?;
                    let mut row = vec![f64::NAN; users.len()];
                    for (u, v) in t.users.iter().zip(column) {
                        if let Ok(at) = users.binary_search(u) {
                            row[at] = *v;
                        }
                    }
                    Some(row)
                })
                .collect()
        })
        .collect()
}

/// For each selected configuration (indices into `configs`), the
/// probability that it is really the best on validation of its model's
/// configurations ([`crate::stats::selection_probability`]). Models with one
/// configuration, or whose trials stored no validation values (no
/// validation split, or results of an older version), are left out.
pub fn selection_confidence(
    results: &ResultsDir,
    configs: &[Configuration],
    selected: &[usize],
    metric: MetricId,
    seed: u64,
) -> Result<Vec<SelectionConfidence>, StoreError> {
    let mut out = Vec::new();
    for &chosen in selected {
        let model = configs[chosen].model_index;
        let mine: Vec<usize> = (0..configs.len())
            .filter(|&i| configs[i].model_index == model)
            .collect();
        if mine.len() < 2 {
            continue;
        }
        let mut tables = Vec::with_capacity(mine.len());
        for &i in &mine {
            let mut seeds = Vec::new();
            for trial in &configs[i].trials {
                seeds.extend(results.read_per_user_validation(&trial.trial.id)?);
            }
            tables.push(seeds);
        }
        let values = aligned_by_user(&tables, metric);
        let Some(position) = mine.iter().position(|&i| i == chosen) else {
            continue;
        };
        let higher = metric.kind.direction() == crate::eval::Direction::Higher;
        if let Some(probability) = crate::stats::selection_probability(
            &values,
            position,
            higher,
            crate::stats::SELECTION_RESAMPLES,
            seed,
        ) {
            out.push(SelectionConfidence {
                model: configs[chosen].model_name.clone(),
                configurations: mine.len(),
                probability,
            });
        }
    }
    Ok(out)
}
