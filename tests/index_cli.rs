//! `recsweep index`: the reports index answers the project's question from
//! every experiment that compares two-tower with NCF, with the sign of the
//! difference as the report has it, and lists every report.

mod common;

use common::recsweep;
use std::path::Path;

use recsweep::plan::parse_spec;
use recsweep::report;
use recsweep::runner::{self, Experiment, RunOptions};

const BOTH: &str = "name: both\nquestion: Two-tower or NCF here?\nseed: 2\n\
dataset: {source: synthetic, users: 200, items: 80, interactions: 4000, seed: 3}\n\
evaluation: {cutoffs: [10], metrics: [recall, ndcg]}\n\
models:\n  - model: most_pop\n  - model: two_tower\n    params: {dim: 8, hidden: [], epochs: 2, batch_size: 64}\n  - model: ncf\n    params: {dim: 8, hidden: [8], epochs: 2, batch_size: 64}\n\
sweep: {seeds: 2}\n";

const BASELINES: &str = "name: baselines\nseed: 2\n\
dataset: {source: synthetic, users: 200, items: 80, interactions: 4000, seed: 3}\n\
evaluation: {cutoffs: [10], metrics: [recall, ndcg]}\n\
models:\n  - model: most_pop\n  - model: ease\n";

fn run(root: &Path, text: &str) -> report::Report {
    let spec = parse_spec(text, Path::new("spec.yaml"), &[]).unwrap();
    let experiment = Experiment::prepare(spec).unwrap();
    let results = runner::results_dir(root, &experiment.spec);
    runner::run(&experiment, &results, &RunOptions::default(), &|_| {}).unwrap();
    report::build(&results).unwrap()
}

#[test]
fn the_index_answers_from_each_experiment_and_lists_every_report() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("results");
    let both = run(&root, BOTH);
    run(&root, BASELINES);
    let out = dir.path().join("reports/README.md");
    let status = recsweep(
        Path::new("."),
        &["index", root.to_str().unwrap(), "-o", out.to_str().unwrap()],
    );
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let text = std::fs::read_to_string(&out).unwrap();

    // One headline line, for the experiment with both, its Δ signed as
    // two-tower minus NCF.
    let lines: Vec<&str> = text.lines().filter(|l| l.starts_with("- [")).collect();
    assert_eq!(lines.len(), 1, "{text}");
    assert!(lines[0]
        .starts_with("- [both](both.md) (synthetic data, leave_one_out split, full ranking): **"));
    let metric = both.selection_metric;
    let mean = |kind: &str| {
        let row = both.leaderboard.iter().find(|r| r.kind == kind).unwrap();
        row.test[&metric].mean
    };
    let negative = mean("two_tower") < mean("ncf");
    assert_eq!(lines[0].contains(", Δ −"), negative, "{}", lines[0]);
    assert!(text.contains("1 experiment(s) compare"));

    // Every report, with its question (or —), its answer, date and revision.
    let row = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(&format!("| [{name}]({name}.md) |")))
            .unwrap_or_else(|| panic!("no row for {name}:\n{text}"))
            .to_string()
    };
    assert!(row("both").contains("| Two-tower or NCF here? |"));
    assert!(row("baselines").contains("| — |"));
    let answer = both.summary[..both.summary.len().min(2)].join(" ");
    assert!(row("both").contains(&answer.replace('|', "\\|")));
    let date = row("both").split(" | ").nth(3).unwrap().to_string();
    assert!(
        date.len() == 10 && date.as_bytes()[4] == b'-' && date.starts_with("20"),
        "date {date}"
    );
}

#[test]
fn an_index_of_a_folder_without_results_is_an_input_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = recsweep(Path::new("."), &["index", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains(dir.path().to_str().unwrap()));
}
