//! The feedback-loop simulation end to end: its rounds do not depend on the
//! thread count, the report tests the whole loop against the baseline beside
//! the oracle, and exploration widens what users are shown
//! (docs/simulation.md).

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

/// SPEC with the deployment-like options: impressions remembered, a choice
/// budget, the oracle.
fn deployed() -> String {
    SPEC.replace(
        "baseline: {model: ials, epsilon: 0.0}}",
        "baseline: {model: ials, epsilon: 0.0}, impressions: remember, choice: {max: 2}, oracle: true}",
    )
}

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
    let deployed =
        Experiment::prepare(parse_spec(&deployed(), Path::new("loop.yaml"), &[]).unwrap()).unwrap();
    let one = runs(&deployed, 1);
    assert_eq!(one, runs(&deployed, 2));
    for trial in &one {
        // The rates' runs, then the oracle's.
        assert_eq!(trial.len(), 3);
        assert!(trial[2].oracle && !trial[0].oracle);
        for run in trial {
            // A budget of two a round, three rounds.
            assert!(run.taken.iter().all(|&t| t <= 6.0));
        }
    }
    // The oracle's loop depends on the seed alone.
    assert_eq!(one[0][2], one[2][2]);
}

#[test]
fn the_report_tests_the_whole_loop_against_the_baseline_beside_the_oracle() {
    let (experiment, ran) = common::run_spec(&deployed());
    let results = ran.results;
    let report = report::build(&results).unwrap();
    let l = report.simulation.as_ref().unwrap();
    assert_eq!(l.baseline, "ials (defaults) ε=0");
    // 3 models × 2 rates and the oracle; every row but the baseline and the
    // oracle has both contrasts.
    assert_eq!(l.rows.len(), 7);
    let untested: Vec<&str> = l
        .rows
        .iter()
        .filter(|r| r.taken.is_none() && r.regret.is_none())
        .map(|r| r.label.as_str())
        .collect();
    assert_eq!(untested, ["ials (defaults) ε=0", report::ORACLE]);
    assert!(l.rows.iter().all(|r| r.seeds == 2));
    let measure = |name| {
        recsweep::simulation::Round::MEASURES
            .iter()
            .position(|m| m.name == name)
            .unwrap()
    };
    let (utility, regret, taken) = (
        measure("truth_utility"),
        measure("regret"),
        measure("taken"),
    );
    let oracle = l.rows.iter().find(|r| r.oracle).unwrap();
    // The ideal list is the oracle's own, so it has no regret, and in the
    // first round (one log for all) nothing shows more relevant items.
    assert!(oracle.measures[regret].iter().all(|(m, _)| m.abs() < 1e-12));
    for row in &l.rows {
        assert!(row.measures[regret].iter().all(|(m, _)| *m >= -1e-12));
        assert!(oracle.measures[utility][0].0 >= row.measures[utility][0].0 - 1e-12);
    }
    // Every run's per-user regret is a sum of ideal-minus-list gaps.
    for t in &experiment.expansion.trials {
        if let Outcome::Ok { simulation, .. } = results.read_trial(&t.id).unwrap().outcome {
            for run in &simulation {
                assert!(run.regret.iter().all(|&r| r >= -1e-12), "{:?}", run.regret);
            }
        }
    }
    // The opening answers with the loop first: the row whose users took the
    // most items, against the baseline.
    let best = l
        .rows
        .iter()
        .filter(|r| !r.oracle)
        .max_by(|a, b| {
            let (a, b) = (
                a.measures[taken].last().unwrap(),
                b.measures[taken].last().unwrap(),
            );
            a.0.total_cmp(&b.0)
        })
        .unwrap();
    let answer = format!(
        "Over {} rounds of the feedback loop, users of **{}**",
        l.rounds, best.label
    );
    // After the biased-log warning the synthetic truth may raise, before the
    // models' leaderboard.
    let at = report.summary.iter().position(|s| s.starts_with(&answer));
    assert!(at.is_some_and(|i| i <= 1), "{:?}", report.summary);
    assert!(report.summary[at.unwrap()].contains("The oracle's users took"));
    let text = report::render_markdown(&report);
    assert!(text.contains("## Feedback loop"), "{text}");
    assert!(text.contains("impressions are remembered"), "{text}");
    assert!(text.contains("| reference"), "{text}");
    assert!(text.contains("loop-regret.svg"));
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
        text.contains("25 trials\neach trial then simulates 10 rounds of 10 recommendations per user at ε = 0, 0.1 (truth: the synthetic generator's preferences; impressions remembered, users take at most 3 a round, beside the oracle's loop)"),
        "{text}"
    );
}
