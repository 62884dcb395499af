//! The input folder a program reads: train interactions, the users to
//! recommend for and the catalogue (TSV, which any language reads without
//! a package, and the train part again as Parquet), `params.json` and
//! `trial.json`. Held-out interactions are never written.

use std::path::Path;

use serde::Serialize;

use super::{ExternalParams, Job};
use crate::data::FeaturesSpec;
use crate::models::{FitInput, ModelError};
use crate::table::{write_parquet, write_tsv, WriteColumn};

/// `trial.json`: what a run is, besides its params.
#[derive(Serialize)]
struct TrialFile<'a> {
    trial: &'a str,
    seed: u64,
    /// The largest cutoff K the evaluation uses.
    k: usize,
    /// The unseen items each recommended user's list must hold at least.
    list_length: usize,
    /// Threads the program may use: the share of the machine recsweep's
    /// own model would have had.
    threads: usize,
    output: &'static str,
    /// The spec's feature tables as it declares them (format, id and
    /// columns), with each path naming its copy in the input folder; null
    /// without features.
    features: Option<FeaturesSpec>,
    /// Where recsweep started: the base of relative paths in the spec.
    spec_dir: String,
}

pub fn write(
    folder: &Path,
    params: &ExternalParams,
    input: &FitInput,
    job: &Job,
) -> Result<(), ModelError> {
    let io = |path: &Path, e: &dyn std::fmt::Display| {
        ModelError::External(format!("writing {}: {e}", path.display()))
    };
    let (users, items) = (job.user_labels, job.item_labels);
    let pairs: Vec<(u32, u32)> = input.train.pairs().collect();
    let train_users: Vec<&str> = pairs.iter().map(|&(u, _)| &users[u as usize][..]).collect();
    let train_items: Vec<&str> = pairs.iter().map(|&(_, i)| &items[i as usize][..]).collect();
    let (ratings, timestamps) = job.extras.map_or((None, None), |e| e.of(&pairs));
    let mut columns = vec![
        WriteColumn::Text("user", train_users),
        WriteColumn::Text("item", train_items),
    ];
    columns.extend(ratings.as_deref().map(|r| WriteColumn::F32("rating", r)));
    columns.extend(
        timestamps
            .as_deref()
            .map(|t| WriteColumn::I64("timestamp", t)),
    );
    let path = folder.join("train.tsv");
    write_tsv(&path, &columns).map_err(|e| io(&path, &e))?;
    let path = folder.join("train.parquet");
    let file = std::fs::File::create(&path).map_err(|e| io(&path, &e))?;
    write_parquet(file, &columns).map_err(|e| io(&path, &e))?;

    let targets: Vec<&str> = job
        .targets
        .iter()
        .map(|&u| &users[u as usize][..])
        .collect();
    let path = folder.join("users.tsv");
    write_tsv(&path, &[WriteColumn::Text("user", targets)]).map_err(|e| io(&path, &e))?;
    let catalogue: Vec<&str> = items.iter().map(String::as_str).collect();
    let path = folder.join("items.tsv");
    write_tsv(&path, &[WriteColumn::Text("item", catalogue)]).map_err(|e| io(&path, &e))?;

    let features = job
        .features
        .map(|spec| copy_features(folder, spec))
        .transpose()?;
    let path = folder.join("params.json");
    let passed = serde_json::to_string_pretty(&params.passed()).map_err(|e| io(&path, &e))?;
    std::fs::write(&path, passed + "\n").map_err(|e| io(&path, &e))?;
    let trial = TrialFile {
        trial: job.trial_id,
        seed: input.seed,
        k: job.max_cutoff,
        list_length: job.list_length,
        threads: job.threads,
        output: params.output.as_str(),
        features,
        spec_dir: std::env::current_dir()
            .map(|d| d.display().to_string())
            .unwrap_or_default(),
    };
    let path = folder.join("trial.json");
    let text = serde_json::to_string_pretty(&trial).map_err(|e| io(&path, &e))?;
    std::fs::write(&path, text + "\n").map_err(|e| io(&path, &e))
}

/// The feature tables linked (or, across file systems, copied) into the
/// input folder as `user_features.<ext>` and `item_features.<ext>`, and the
/// spec's declaration pointing at them.
fn copy_features(folder: &Path, spec: &FeaturesSpec) -> Result<FeaturesSpec, ModelError> {
    let mut copied = spec.clone();
    for (side, table) in [("user", &mut copied.users), ("item", &mut copied.items)] {
        let Some(table) = table else { continue };
        let ext = table
            .path
            .extension()
            .map_or(String::new(), |e| format!(".{}", e.to_string_lossy()));
        let name = format!("{side}_features{ext}");
        let target = folder.join(&name);
        if std::fs::hard_link(&table.path, &target).is_err() {
            std::fs::copy(&table.path, &target).map_err(|e| {
                ModelError::External(format!(
                    "copying {} into {}: {e}",
                    table.path.display(),
                    folder.display()
                ))
            })?;
        }
        table.path = name.into();
    }
    Ok(copied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feature_tables_are_put_in_the_input_folder_and_the_spec_points_there() {
        let dir = tempfile::tempdir().unwrap();
        let table = dir.path().join("genres.tsv");
        std::fs::write(&table, "item_id\tgenre\n1\tdrama\n").unwrap();
        let yaml = format!(
            "{{items: {{path: {}, columns: {{genre: {{type: categorical}}}}}}}}",
            table.display()
        );
        let spec: FeaturesSpec = serde_yaml::from_str(&yaml).unwrap();
        let input = dir.path().join("input");
        std::fs::create_dir(&input).unwrap();
        let copied = copy_features(&input, &spec).unwrap();
        let items = copied.items.as_ref().unwrap();
        assert_eq!(items.path, Path::new("item_features.tsv"));
        assert_eq!(items.columns, spec.items.as_ref().unwrap().columns);
        assert!(copied.users.is_none());
        assert_eq!(
            std::fs::read_to_string(input.join("item_features.tsv")).unwrap(),
            "item_id\tgenre\n1\tdrama\n"
        );
        let missing: FeaturesSpec = serde_yaml::from_str("{users: {path: /no/such.csv}}").unwrap();
        let err = copy_features(&input, &missing).unwrap_err().to_string();
        assert!(err.starts_with("copying /no/such.csv into "), "{err}");
    }
}
