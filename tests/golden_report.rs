//! Golden test of a whole report, figures included, on a tiny synthetic
//! result set: any change to what a report says shows up as a diff here.
//! Timings are zeroed in the stored records first (they are the only
//! numbers that vary between runs). After an intended change, regenerate:
//!   RECSWEEP_UPDATE_GOLDEN=1 cargo test --release --test golden_report

mod common;

use std::path::Path;

use recsweep::report;
use recsweep::store::Outcome;

const SPEC: &str = "name: golden\nquestion: Does EASE beat the popularity baseline on a small synthetic log?\nseed: 3\n\
dataset: {source: synthetic, users: 150, items: 60, interactions: 3000, seed: 2}\n\
evaluation: {cutoffs: [5], metrics: [recall, ndcg, coverage, arp, novelty]}\n\
models:\n  - model: most_pop\n  - model: ease\n    sweep: {l2: [1.0, 10.0, 100.0]}\n  - model: mf\n    params: {dim: 4, epochs: 3, batch_size: 64, loss: softmax}\n    sweep: {temperature: [0.5, 1.0]}\n\
sweep: {seeds: 2}\nselection: {metric: ndcg@5}\ncheck: {metrics: [ndcg@5]}\n";

#[test]
fn report_matches_the_golden_file() {
    let (experiment, ran) = common::run_spec(SPEC);
    let results = ran.results;
    // Mask timings and the machine: zero them in the stored records.
    for trial in &experiment.expansion.trials {
        let mut record = results.read_trial(&trial.id).unwrap();
        if let Outcome::Ok {
            fit_seconds,
            score_micros_per_user,
            serving,
            ..
        } = &mut record.outcome
        {
            *fit_seconds = 0.0;
            *score_micros_per_user = 1.0;
            // Timed: present, ordered and repeated; then masked.
            let s = serving.as_mut().expect("every trial is timed apart");
            assert!(s.min_micros <= s.median_micros && s.median_micros <= s.max_micros);
            assert_eq!(s.repeats, recsweep::eval::ServingTime::REPEATS);
            (s.median_micros, s.min_micros, s.max_micros) = (1.0, 0.5, 2.0);
        }
        let path = results.trial_path(&trial.id).join("trial.json");
        std::fs::write(path, serde_json::to_string_pretty(&record).unwrap()).unwrap();
    }
    results.write_experiment(&experiment.record()).unwrap();
    let built = report::build(&results).unwrap();
    let mut text = report::render_markdown(&built);
    text.push_str(&format!(
        "\n<!-- {} -->\n{}",
        built.appendix_file(),
        report::render_appendix(&built)
    ));
    for figure in &built.figures {
        text.push_str(&format!("\n<!-- {} -->\n{}\n", figure.file, figure.svg));
    }
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/report.md");
    if std::env::var_os("RECSWEEP_UPDATE_GOLDEN").is_some() {
        std::fs::write(&golden, &text).unwrap();
    }
    let expected = std::fs::read_to_string(&golden).unwrap();
    if text != expected {
        let line = text
            .lines()
            .zip(expected.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(text.lines().count().min(expected.lines().count()));
        panic!(
            "report differs from tests/golden/report.md at line {}:\n  got:      {}\n  expected: {}\n\
             (RECSWEEP_UPDATE_GOLDEN=1 regenerates it after an intended change)",
            line + 1,
            text.lines().nth(line).unwrap_or("<end>"),
            expected.lines().nth(line).unwrap_or("<end>")
        );
    }
}

#[test]
fn plots_false_leaves_the_figures_out() {
    let text = format!("{SPEC}report: {{plots: false}}\n");
    let (_, ran) = common::run_spec(&text);
    let results = ran.results;
    let built = report::build(&results).unwrap();
    assert!(built.figures.is_empty());
    assert!(!built.embedding.is_empty(), "tables stay");
    assert!(!report::render_markdown(&built).contains(".svg"));
    assert!(!report::render_appendix(&built).contains(".svg"));
}
