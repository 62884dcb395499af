//! The feedback-loop simulation end to end: its rounds do not depend on the
//! thread count, the report tests the final round against the baseline, and
//! exploration widens what users are shown (docs/simulation.md).

mod common;

use std::path::Path;

use recsweep::plan::parse_spec;
use recsweep::report;
use recsweep::runner::{self, Experiment, RunOptions};
use recsweep::simulation::SimulationRun;
use recsweep::store::{Outcome, ResultsDir};

const SPEC: &str = "name: loop\nseed: 9\n\
dataset: {source: synthetic, users: 300, items: 150, interactions: 6000, exposure_bias: 1.0, seed: 4}\n\
split: {method: random_holdout, test_fraction: 0.2, validation: false}\n\
evaluation: {cutoffs: [10], metrics: [ndcg, truth_ndcg]}\n\
models:\n  - model: most_pop\n  - model: ials\n    params: {dim: 8, iterations: 4, solver: cg}\n  - model: two_tower\n    params: {dim: 8, hidden: [], epochs: 2, batch_size: 128}\n\
sweep: {seeds: 2}\n\
simulation: {rounds: 3, k: 5, epsilon: [0.0, 0.5], baseline: {model: ials, epsilon: 0.0}}\n";

fn runs(experiment: &Experiment, jobs: usize) -> Vec<Vec<SimulationRun>> {
    let dir = tempfile::tempdir().unwrap();
    let results = ResultsDir::new(dir.path().join("loop"));
    let options = RunOptions {
        jobs: Some(jobs),
        ..RunOptions::default()
    };
    runner::run(experiment, &results, &options, &|_| {}).unwrap();
    experiment
        .expansion
        .trials
        .iter()
        .map(|t| match results.read_trial(&t.id).unwrap().outcome {
            Outcome::Ok { simulation, .. } => simulation,
            Outcome::Failed { error } => panic!("{error}"),
        })
        .collect()
}

#[test]
fn rounds_are_deterministic_for_a_seed_at_any_thread_count() {
    let experiment =
        Experiment::prepare(parse_spec(SPEC, Path::new("loop.yaml"), &[]).unwrap()).unwrap();
    // Every model repeats per seed under a simulation, most_pop included.
    assert_eq!(experiment.expansion.trials.len(), 6);
    let one = runs(&experiment, 1);
    assert_eq!(one, runs(&experiment, 2));
    for trial in &one {
        assert_eq!(trial.len(), 2);
        for run in trial {
            assert_eq!(run.rounds.len(), 3);
            assert_eq!(run.final_utility.len(), 300);
        }
    }
    // most_pop shows everyone the most popular items they have not seen;
    // exploring half the slots shows far more of the catalogue.
    let most_pop = &one[0];
    let (greedy, exploring) = (
        most_pop[0].rounds[0].coverage,
        most_pop[1].rounds[0].coverage,
    );
    assert!(
        exploring > greedy + 0.3,
        "coverage {greedy} at ε 0, {exploring} at ε 0.5"
    );
    // Seeds differ (acceptance draws), so most_pop's two trials do too.
    assert_ne!(one[0], one[1]);
}

#[test]
fn the_report_tests_the_final_round_against_the_baseline() {
    let (_, ran) = common::run_spec(SPEC);
    let results = ran.results;
    let report = report::build(&results).unwrap();
    let l = report.simulation.as_ref().unwrap();
    assert_eq!(l.baseline, "ials (defaults) ε=0");
    // 3 models × 2 rates; every row but the baseline has a contrast.
    assert_eq!(l.rows.len(), 6);
    assert_eq!(l.rows.iter().filter(|r| r.versus.is_none()).count(), 1);
    assert!(l.rows.iter().all(|r| r.seeds == 2));
    // The opening answers with the loop first: the row of highest final
    // truth utility, against the baseline.
    let utility = |r: &recsweep::report::LoopRow| r.measures[0].last().unwrap().0;
    let best = l
        .rows
        .iter()
        .max_by(|a, b| utility(a).total_cmp(&utility(b)))
        .unwrap();
    let answer = format!(
        "After {} rounds of the feedback loop, **{}** keeps the highest truth utility (",
        l.rounds, best.label
    );
    // After the biased-log warning the synthetic truth may raise, before the
    // models' leaderboard.
    let at = report.summary.iter().position(|s| s.starts_with(&answer));
    assert!(at.is_some_and(|i| i <= 1), "{:?}", report.summary);
    let text = report::render_markdown(&report);
    assert!(text.contains("## Feedback loop"), "{text}");
    assert!(text.contains("loop-jaccard.svg"));
}

/// On a file source a fitted model stands in for the truth: the loop runs
/// on it, its relevances are probabilities, and the report names it.
#[test]
fn a_model_fitted_on_a_real_log_stands_in_for_the_truth() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log.csv");
    let mut text = String::from("user,item\n");
    for u in 0..80u32 {
        for j in 0..8u32 {
            // Two taste groups over 50 items, with overlap.
            let item = (u % 2) * 20 + (u * 7 + j * 3) % 30;
            text.push_str(&format!("u{u},i{item}\n"));
        }
    }
    std::fs::write(&log, text).unwrap();
    let spec = format!(
        "name: real\nseed: 2\n\
         dataset: {{source: csv, path: {}, columns: {{user: user, item: item}}}}\n\
         split: {{method: random_holdout, test_fraction: 0.2, validation: false}}\n\
         evaluation: {{cutoffs: [10], metrics: [ndcg]}}\n\
         models:\n  - model: most_pop\n  - model: itemknn\n\
         simulation: {{rounds: 2, k: 5, truth: {{model: ease, params: {{l2: 10.0}}, temperature: 0.1}}}}\n",
        log.display()
    );
    let experiment =
        Experiment::prepare(parse_spec(&spec, Path::new("real.yaml"), &[]).unwrap()).unwrap();
    assert!(experiment.preferences.is_none() && experiment.fitted_truth.is_some());
    let trials = runs(&experiment, 2);
    for trial in &trials {
        let run = &trial[0];
        assert_eq!(run.rounds.len(), 2);
        assert!(run.final_utility.iter().all(|u| (0.0..=1.0).contains(u)));
        assert!(run.rounds[0].truth_utility > 0.0);
    }
    let results_dir = tempfile::tempdir().unwrap();
    let results = ResultsDir::new(results_dir.path().join("real"));
    runner::run(&experiment, &results, &RunOptions::default(), &|_| {}).unwrap();
    let text = report::render_markdown(&report::build(&results).unwrap());
    assert!(
        text.contains("**ease fitted on the whole log** (l2=10)"),
        "{text}"
    );
}

#[test]
fn validate_says_what_each_trial_simulates() {
    let spec =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments/feedback-loop-synthetic.yaml");
    let out = common::recsweep(Path::new("."), &["validate", spec.to_str().unwrap()]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("25 trials\neach trial then simulates 10 rounds of 10 recommendations per user at ε = 0, 0.1 (truth: the synthetic generator's preferences)"),
        "{text}"
    );
}
