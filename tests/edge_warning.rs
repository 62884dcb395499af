//! A knob selected at the end of what was tried is said to be on the edge,
//! in the report and by `validate` once results are stored.

mod common;

use common::recsweep;
use std::path::Path;

use recsweep::plan::parse_spec;
use recsweep::report;
use recsweep::runner::{self, Experiment, RunOptions};

const SPEC: &str = "name: edges\nseed: 2\n\
dataset: {source: synthetic, users: 300, items: 100, interactions: 6000, seed: 3}\n\
evaluation: {cutoffs: [10], metrics: [recall, ndcg]}\n\
models:\n  - model: most_pop\n  - model: itemknn\n    sweep:\n      neighbors: [1, 3, 100]\n";

#[test]
fn a_value_selected_at_the_end_of_its_grid_is_flagged_in_the_report_and_by_validate() {
    let dir = tempfile::tempdir().unwrap();
    let spec_path = dir.path().join("edges.yaml");
    std::fs::write(&spec_path, SPEC).unwrap();
    let experiment = Experiment::prepare(parse_spec(SPEC, &spec_path, &[]).unwrap()).unwrap();
    let root = dir.path().join("results");
    let results = runner::results_dir(&root, &experiment.spec);
    runner::run(&experiment, &results, &RunOptions::default(), &|_| {}).unwrap();
    let built = report::build(&results).unwrap();
    let knob = built
        .sensitivity
        .iter()
        .find(|s| s.knob == "neighbors")
        .unwrap();
    assert_eq!(
        knob.best_vs_second.as_ref().unwrap().a,
        "100",
        "the largest should win here"
    );
    let phrase = "itemknn neighbors = 100 (the largest of 3 tried)";
    assert!(report::render_markdown(&built).contains(&format!(
        "**Selected on the edge of what was tried:** {phrase}"
    )));

    let validate = |results: &Path| {
        let out = recsweep(
            Path::new("."),
            &[
                "validate",
                spec_path.to_str().unwrap(),
                "--results",
                results.to_str().unwrap(),
            ],
        );
        assert!(out.status.success());
        String::from_utf8(out.stderr).unwrap()
    };
    assert!(validate(&root).contains(&format!("warning: {phrase} was selected on the edge")));
    // Before a run (no results there), nothing to say.
    assert!(!validate(&dir.path().join("elsewhere")).contains("edge"));
}
