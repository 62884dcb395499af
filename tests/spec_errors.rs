//! Spec validation: every mistake is reported at once, with file, line,
//! column, key path and a fix; bad specs exit 2 and never panic.

mod common;

use common::recsweep;
use std::path::Path;

use recsweep::plan::parse_spec;
use recsweep::spec::SpecError;

fn errors(text: &str) -> String {
    match parse_spec(text, Path::new("spec.yaml"), &[]) {
        Ok(_) => panic!("expected errors for:\n{text}"),
        Err(e @ SpecError::Invalid { .. }) => e.to_string(),
        Err(e) => panic!("unexpected error {e}"),
    }
}

#[test]
fn misspelt_key_wrong_type_and_out_of_range_values_are_all_reported() {
    let text = std::fs::read_to_string("tests/specs/three_mistakes.yaml").unwrap();
    let golden = "\
spec.yaml:3:3: dataset.sorce: unknown key `sorce`; did you mean `source`? (allowed: source, path, header, separator, columns, positive, filter, features, users, items, interactions, popularity_exponent, latent_dim, affinity, exposure_bias, seed, random_test)
spec.yaml:8:7: models[0].params.l2: wrong type: found string \"lots\", expected a number; l2 takes > 0
spec.yaml:14:17: evaluation.cutoffs[1]: cutoff 0 is out of range; K must be ≥ 1
3 errors in spec.yaml";
    assert_eq!(errors(&text), golden);
}

#[test]
fn sweep_values_are_checked_against_every_model_they_reach() {
    let text = "name: x\ndataset: {source: synthetic, users: 50, items: 40, interactions: 500}\nmodels:\n  - model: ease\nsweep:\n  grid:\n    popularity: [{method: penalty, gamma: -1.0}]\n    l2: [0.0]\n";
    let e = errors(text);
    assert!(e.contains("spec.yaml:7:18: sweep.grid.popularity[0]: for model `ease`: popularity.gamma: -1 is out of range"), "{e}");
    assert!(e.contains("spec.yaml:8:10: sweep.grid.l2[0]: for model `ease`: l2: 0 is out of range; l2 must be > 0"), "{e}");
}

#[test]
fn range_and_cross_field_rules() {
    let base = "name: x\ndataset: {source: synthetic, users: 50, items: 40, interactions: 500}\nmodels: [{model: most_pop}]\n";
    for (extra, expected) in [
        (
            "split: {method: leave_one_out, test_fraction: 0.2}",
            "split.test_fraction: does not apply to leave_one_out",
        ),
        (
            "question: \"  \"",
            "question: must be one non-empty line",
        ),
        (
            "question: \"Which?\\nAnd why?\"",
            "question: must be one non-empty line",
        ),
        (
            "question: [a, b]",
            "question: wrong type",
        ),
        (
            "split: {method: temporal, test_fraction: 1.5}",
            "split.test_fraction: 1.5 is out of range",
        ),
        (
            "selection: {folds: 1}",
            "selection.folds: 1 folds: use 2 to 20",
        ),
        // Out of range either way: an error, neither a division by zero
        // nor an endless expansion on the way to it.
        (
            "selection: {folds: 0}",
            "selection.folds: 0 folds: use 2 to 20",
        ),
        (
            "selection: {folds: 1000000000000}",
            "selection.folds: 1000000000000 folds: use 2 to 20",
        ),
        (
            "split: {validation: false}\nselection: {folds: 3}",
            "selection.folds: folds rotate the validation part, and this split has none",
        ),
        (
            "split: {method: temporal, validation: true}\nselection: {folds: 3}",
            "selection.folds: the temporal split has one validation part",
        ),
        (
            "selection: {metric: coverage@10}",
            "selection.metric: `coverage` is not a per-user accuracy metric",
        ),
        (
            "selection: {metric: ndcg@5}",
            "cutoff 5 is not among evaluation.cutoffs",
        ),
        (
            // Undefined for users whose held-out items are all head items.
            "evaluation: {metrics: [ndcg, recall_tail]}\nselection: {metric: recall_tail@10}",
            "selection.metric: `recall_tail` is not a per-user accuracy metric defined for every user; use one of recall, ndcg, hit_rate, mrr, map, precision",
        ),
        ("sweep: {seeds: 0}", "sweep.seeds: must be at least 1"),
        ("sweep: {grid: {l2: []}}", "sweep.grid.l2: empty list"),
        (
            "sweep: {random: {samples: 3, space: {l2: {log_uniform: [0.0, 1.0]}}}}",
            "needs 0 < lo < hi",
        ),
        (
            "evaluation: {metrics: [ndcg, ndcg]}",
            "evaluation.metrics[1]: `ndcg` is listed twice",
        ),
        (
            "evaluation: {protocol: sampeld}",
            "`sampeld` is not a protocol; did you mean `sampled`?",
        ),
        ("bogus: 1", "bogus: unknown key `bogus`"),
        (
            "compare: {baseline: mostpop}",
            "compare.baseline: `mostpop` is not a model of this spec; did you mean `most_pop`?",
        ),
        (
            "compare: {alpha: 1.5}",
            "compare.alpha: 1.5 is out of range",
        ),
        ("compare: {test: ttest}", "unknown value `ttest`"),
        (
            "evaluation: {metrics: [ndcg, ips_ndcg]}",
            "evaluation.metrics[1]: `ips_ndcg` weights hits by inverse item propensities; add an evaluation.propensity block",
        ),
        (
            "evaluation: {metrics: [ndcg], propensity: {exponent: 0.5}}",
            "evaluation.propensity: no debiased metric uses it",
        ),
        (
            "evaluation: {metrics: [snips_recall], propensity: {preset: yang2018}}",
            "evaluation.propensity.gamma: missing: preset yang2018 (e = (gamma + 1) / 2) needs `gamma`",
        ),
        (
            "evaluation: {metrics: [snips_recall], propensity: {exponent: 0.5, preset: steck2011, beta: 0.5}}",
            "evaluation.propensity.preset: give one of `exponent`, `preset` and `estimate`",
        ),
        (
            "evaluation: {metrics: [snips_recall], propensity: {exponent: 0.5, clip: 0.5}}",
            "evaluation.propensity.clip: 0.5 must be ≥ 1",
        ),
        (
            "simulation: {truth: {model: ease, params: {l2: -1.0}, temperature: 0.0}}",
            "simulation.truth.temperature: 0 must be > 0",
        ),
        (
            "simulation: {epsilon: [0.1, 1.5]}",
            "simulation.epsilon[1]: 1.5 must lie in [0, 1]",
        ),
        ("simulation: {rounds: 0}", "simulation.rounds: 0 is out of range; must be 1 to 1000"),
        (
            "simulation: {truth: {model: external, params: {command: [x]}, temperature: 1.0}}",
            "simulation.truth.model: an external model cannot run in a simulation",
        ),
        (
            "simulation: {baseline: {model: nope}}",
            "simulation.baseline.model: `nope` is not a model of this spec (models: most_pop)",
        ),
        (
            "simulation: {epsilon: [0.1], baseline: {model: most_pop, epsilon: 0.0}}",
            "simulation.baseline.epsilon: 0 is not among simulation.epsilon",
        ),
        (
            "simulation: {k: 5, choice: {max: 6}}",
            "simulation.choice.max: 6 is out of range; must be 1 to k (5)",
        ),
        (
            "simulation: {impressions: always}",
            "simulation.impressions: unknown value `always` (allowed: forget, remember)",
        ),
        (
            "evaluation: {metrics: [snips_recall], propensity: {exponent: 0.5, gamma: 1.0}}",
            "evaluation.propensity.gamma: applies only to preset yang2018",
        ),
    ] {
        let e = errors(&format!("{base}{extra}\n"));
        assert!(
            e.contains(expected),
            "for `{extra}` expected `{expected}` in:\n{e}"
        );
    }
    let synthetic = |dataset: &str, protocol: &str| {
        errors(&format!(
            "name: x\ndataset: {{source: synthetic, users: 50, items: 40, interactions: 500{dataset}}}\nevaluation: {{protocol: {protocol}}}\nmodels: [{{model: most_pop}}]\n"
        ))
    };
    for (dataset, protocol, expected) in [
        (
            ", random_test: {items_per_user: 10}",
            "[randomised, full]",
            "evaluation.protocol: randomised cannot come first",
        ),
        (
            "",
            "[full, randomised]",
            "evaluation.protocol: randomised ranks a randomised-exposure test set: add `dataset.random_test",
        ),
        (
            ", random_test: {items_per_user: 10}",
            "full",
            "dataset.random_test: nothing reads the randomised test set",
        ),
        (
            ", random_test: {items_per_user: 41}",
            "[full, randomised]",
            "dataset.random_test.items_per_user: 41 is out of range; must be 1 to 40 (the items)",
        ),
        (
            ", random_test: {items_per_user: 5, per_user: 3}",
            "[full, randomised]",
            "unknown key `per_user`",
        ),
    ] {
        let e = synthetic(dataset, protocol);
        assert!(e.contains(expected), "expected `{expected}` in:\n{e}");
    }
    let e = errors("name: x\ndataset: {source: synthetic}\nevaluation: {metrics: [ips_recall], propensity: {estimate: randomised, exponent: 0.5}}\nmodels: [{model: most_pop}]\n");
    for expected in [
        "evaluation.propensity.estimate: randomised fits the exponent to a randomised-exposure test set",
        "evaluation.propensity.estimate: give one of `exponent`, `preset` and `estimate`",
    ] {
        assert!(e.contains(expected), "{expected} in {e}");
    }
    let csv = "source: csv, path: a.csv, columns: {user: 0, item: 1}";
    for (dataset, expected) in [
        (
            format!("{csv}, random_test: {{items_per_user: 5}}"),
            "dataset.random_test.items_per_user: only the synthetic source draws a randomised test; a file source reads one: use `path: FILE`",
        ),
        (
            format!("{csv}, random_test: {{path: b.csv}}"),
            "dataset.random_test: a randomised test holds ratings of shown items, positive or not: add `positive: {min_rating: R}`",
        ),
        (
            "source: synthetic, random_test: {path: b.csv}".into(),
            "dataset.random_test.path: the synthetic source draws its randomised test",
        ),
        (
            "source: dense, path: a.ascii, header: true".into(),
            "dataset.header: `header` does not apply to source `dense`",
        ),
    ] {
        let e = errors(&format!(
            "name: x\ndataset: {{{dataset}}}\nevaluation: {{protocol: [full, randomised]}}\nmodels: [{{model: most_pop}}]\n"
        ));
        assert!(e.contains(expected), "expected `{expected}` in:\n{e}");
    }
    let e = errors(
        "name: x\ndataset: {source: synthetic, exposure_bias: -1.0}\nmodels: [{model: most_pop}]\n",
    );
    assert!(e.contains("dataset.exposure_bias: must be ≥ 0"), "{e}");
    let e = errors("name: x\ndataset: {source: csv, path: a.csv, columns: {user: 0, item: 1}}\nevaluation: {metrics: [truth_ndcg]}\nmodels: [{model: most_pop}]\n");
    assert!(
        e.contains("evaluation.metrics[0]: `truth_ndcg` needs known true preferences, which only `source: synthetic` has; a `csv` log has none"),
        "{e}"
    );
    let e = errors("name: x\ndataset: {source: csv, path: a.csv, columns: {user: 0, item: 1}}\nmodels: [{model: most_pop}]\nsimulation: {rounds: 2}\n");
    assert!(
        e.contains("simulation.truth: missing: users accept recommendations with their true preferences, which only `source: synthetic` knows"),
        "{e}"
    );
    let e = errors("name: x\ndataset: {source: csv, users: 5}\nmodels: [{model: most_pop}, {model: most_pop}]\n");
    assert!(
        e.contains("dataset.users: `users` does not apply to source `csv`"),
        "{e}"
    );
    assert!(
        e.contains("missing required key `path` for source `csv`"),
        "{e}"
    );
    assert!(
        e.contains("model name `most_pop` is already used by models[0]"),
        "{e}"
    );
    let e = errors("name: x\ndataset: {source: synthetic, users: 50, items: 40, interactions: 500}\nmodels: [{model: most_pop}]\n\
report:\n  published:\n    - {model: A, source: paper, metrics: {ndcg@7: 0.1, arp@10: 5.0}}\n    - {model: '', source: paper, metrics: {}}\n");
    for expected in [
        "report.published[0].metrics.ndcg@7: recsweep does not evaluate ndcg@7 here",
        "report.published[0].metrics.arp@10: `arp` is not an accuracy metric",
        "report.published[1].model: must not be empty",
        "report.published[1].metrics: empty",
    ] {
        assert!(e.contains(expected), "{expected} in {e}");
    }
}

#[test]
fn not_yaml_and_not_a_mapping() {
    assert!(errors("name: [unclosed\n").contains("not valid YAML"));
    assert!(errors("- just\n- a list\n").contains("a spec is a mapping"));
    assert!(errors("name: x\n").contains("missing required key `dataset`"));
}

#[test]
fn validate_exits_2_with_every_error_and_no_panic() {
    let out = recsweep(
        Path::new("."),
        &["validate", "tests/specs/three_mistakes.yaml"],
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(
        stderr
            .matches("error: tests/specs/three_mistakes.yaml:")
            .count(),
        3,
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn missing_spec_file_and_bad_flags_exit_2() {
    let out = recsweep(Path::new("."), &["validate", "no/such/spec.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read spec no/such/spec.yaml"));
    let out = recsweep(
        Path::new("."),
        &["run", "experiments/quickstart.yaml", "--shard", "3/2"],
    );
    assert_eq!(out.status.code(), Some(2));
    let out = recsweep(
        Path::new("."),
        &["validate", "experiments/quickstart.yaml", "--set", "nokey"],
    );
    assert_eq!(out.status.code(), Some(2));
    // Zero worker threads is refused, not read as "the default".
    let out = recsweep(
        Path::new("."),
        &["run", "experiments/quickstart.yaml", "--jobs", "0"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--jobs"),
        "{out:?}"
    );
}

#[test]
fn defaults_follow_what_the_user_wrote() {
    // `cutoffs: [50, 20]`: selection (and the gate, which follows it)
    // default to ndcg at the smallest cutoff where 10 is not among them
    // (ndcg@10 where it is), and logQ to its full correction.
    let text = "name: x\ndataset: {source: synthetic, users: 50, items: 40, interactions: 500}\n\
evaluation: {cutoffs: [50, 20]}\nmodels:\n  - model: two_tower\n    params: {popularity: {method: logq}}\n";
    let valid = parse_spec(text, Path::new("spec.yaml"), &[]).unwrap_or_else(|e| panic!("{e}"));
    let spec = valid.spec();
    assert_eq!(spec.selection.metric.to_string(), "ndcg@20");
    let with_ten = parse_spec(
        &text.replace("[50, 20]", "[5, 10]"),
        Path::new("spec.yaml"),
        &[],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(with_ten.spec().selection.metric.to_string(), "ndcg@10");
    assert_eq!(spec.check.metrics, vec![spec.selection.metric]);
    let two_tower = serde_json::to_string(&valid.expansion().trials[0].params).unwrap();
    assert!(
        two_tower.contains(r#""popularity":{"method":"logq","alpha":1.0}"#),
        "{two_tower}"
    );
    // A default that cannot hold says it is one and how to set it.
    let e = errors(
        "name: x\ndataset: {source: synthetic, users: 50, items: 40, interactions: 500}\n\
evaluation: {cutoffs: [20], metrics: [recall]}\nmodels:\n  - model: most_pop\n",
    );
    assert!(
        e.contains("selection.metric (not written; its default is ndcg@10, or ndcg at the smallest cutoff without 10): `ndcg` is not among evaluation.metrics; add it there or set selection.metric"),
        "{e}"
    );
    assert!(!e.contains("check.metrics"), "{e}");
}

#[test]
fn a_sweep_key_that_reaches_no_model_is_an_error_with_a_suggestion() {
    let text = "name: x\ndataset: {source: synthetic, users: 50, items: 40, interactions: 500}\n\
models:\n  - model: two_tower\n    sweep: {temprature: [0.1, 0.2], neighbors: [5, 10]}\n  - model: itemknn\n\
sweep:\n  grid: {dropuot: [0.1]}\n";
    let e = errors(text);
    assert!(
        e.contains("spec.yaml:5:13: models[0].sweep.temprature: `temprature` is a param of no model in this spec; did you mean `temperature`?"),
        "{e}"
    );
    assert!(
        e.contains("spec.yaml:8:10: sweep.grid.dropuot: `dropuot` is a param of no model in this spec; did you mean `dropout`?"),
        "{e}"
    );
    // `neighbors` is itemknn's: under two_tower it stays a note, not an error.
    assert!(!e.contains("neighbors`"), "{e}");
    assert!(e.ends_with("2 errors in spec.yaml"), "{e}");
}

#[test]
fn a_broken_section_does_not_hide_the_sweeps_mistakes() {
    let text = "name: x\ndataset: {sorce: synthetic, users: 50, items: 40, interactions: 500}\n\
evaluation: {cutoffs: [0, 10]}\nmodels:\n  - model: two_tower\n    sweep: {dropout: [1.2, 0.1]}\n";
    let e = errors(text);
    for expected in [
        "spec.yaml:2:11: dataset.sorce: unknown key `sorce`",
        "evaluation.cutoffs[0]: cutoff 0 is out of range",
        "spec.yaml:6:23: models[0].sweep.dropout[0]: for model `two_tower`: dropout: 1.2 is out of range",
    ] {
        assert!(e.contains(expected), "expected `{expected}` in:\n{e}");
    }
}
