//! MovieLens 100K from ../shared/datasets (present in CI; skipped with a
//! printed reason elsewhere, since MovieLens may not be redistributed).

mod common;

use std::path::{Path, PathBuf};

use recsweep::data::load;
use recsweep::eval::{MetricId, MetricKind};
use recsweep::plan::load_spec;
use recsweep::report;
use recsweep::results::{self as selection, Part};
use recsweep::runner::{Experiment, RunOptions};
use recsweep::spec::Override;
use recsweep::store::{Outcome, TrialRecord};

fn u_data() -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/datasets/ml-100k/u.data");
    if path.exists() {
        Some(path)
    } else {
        println!(
            "skipped: {} is absent (MovieLens 100K is only present in CI)",
            path.display()
        );
        None
    }
}

#[test]
fn ml100k_has_its_published_shape() {
    let Some(path) = u_data() else { return };
    let yaml = format!("{{source: movielens, path: {}}}", path.display());
    let (data, stats) = load(&serde_yaml::from_str(&yaml).unwrap()).unwrap();
    assert_eq!(
        (stats.rows_read, data.n_users(), data.n_items()),
        (100_000, 943, 1682)
    );
    let yaml = format!(
        "{{source: movielens, path: {}, positive: {{min_rating: 4}}}}",
        path.display()
    );
    let (positives, _) = load(&serde_yaml::from_str(&yaml).unwrap()).unwrap();
    assert_eq!(positives.len(), 55_375);
}

#[test]
fn ml100k_itemknn_and_ease_beat_most_pop() {
    let Some(path) = u_data() else { return };
    let overrides: Vec<Override> =
        vec![format!("dataset.path={}", path.display()).parse().unwrap()];
    let spec = load_spec(Path::new("experiments/ml100k-baselines.yaml"), &overrides).unwrap();
    let experiment = Experiment::prepare(spec).unwrap();
    let ran = common::run(&experiment, &RunOptions::default());
    let results = ran.results;
    let summary = &ran.summary;
    assert!(summary.failed.is_empty(), "{:?}", summary.failed);
    let records: Vec<TrialRecord> = experiment
        .expansion
        .trials
        .iter()
        .map(|t| results.read_trial(&t.id).unwrap())
        .collect();
    let configs = selection::configurations(&experiment.expansion, &records);
    let ndcg = MetricId {
        kind: MetricKind::Ndcg,
        k: 10,
    };
    let recall = MetricId {
        kind: MetricKind::Recall,
        k: 10,
    };
    let chosen = selection::select(&configs, ndcg, Part::Validation);
    let test = |model: &str, metric| {
        let c = chosen
            .iter()
            .map(|&i| &configs[i])
            .find(|c| c.model_name == model)
            .unwrap();
        c.mean(Part::Test, metric).unwrap()
    };
    for metric in [ndcg, recall] {
        let pop = test("most_pop", metric);
        for model in ["itemknn", "ease"] {
            assert!(
                test(model, metric) > pop,
                "{model} {metric} {} vs most_pop {pop}",
                test(model, metric)
            );
        }
    }
    assert!(records
        .iter()
        .all(|r| matches!(r.outcome, Outcome::Ok { .. })));
    let built = report::build(&results).unwrap();
    assert_eq!(built.leaderboard.len(), 4);
}
