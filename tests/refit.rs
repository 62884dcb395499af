//! `selection.refit`: each selected configuration is retrained on train ∪
//! validation (never test) for the epochs selection kept, scored on test,
//! and the report's leaderboard and comparisons use those refits.

mod common;

use std::collections::HashMap;
use std::path::Path;

use recsweep::plan::parse_spec;
use recsweep::report;
use recsweep::results::{configurations, load_records, refit_trial};
use recsweep::store::{Outcome, TrialRecord};

const SPEC: &str = "name: refit\nseed: 4\n\
dataset: {source: synthetic, users: 300, items: 120, interactions: 6000, seed: 3}\n\
split: {method: random_holdout, test_fraction: 0.3, validation: true}\n\
evaluation: {cutoffs: [10], metrics: [recall, ndcg]}\n\
models:\n  - model: most_pop\n  - model: mf\n    params: {dim: 8, epochs: 6, patience: 2, batch_size: 64}\n\
sweep:\n  grid:\n    l2: [0.0, 0.001]\n  seeds: 2\n\
selection: {metric: ndcg@10, refit: true}\n";

/// Whether every user's stored list ranks by `counts`: no item in it is less
/// popular than an unseen item left out (ties either way).
fn ranks_by(
    lists: &[Vec<u32>],
    users: &[u32],
    seen: &[&recsweep::data::CsrMatrix],
    counts: &[u32],
) -> bool {
    users.iter().zip(lists).all(|(&u, list)| {
        let lowest = list.iter().map(|&i| counts[i as usize]).min().unwrap();
        let descending = list
            .windows(2)
            .all(|w| counts[w[0] as usize] >= counts[w[1] as usize]);
        let left_out_max = (0..counts.len() as u32)
            .filter(|i| !list.contains(i) && !seen.iter().any(|m| m.contains(u as usize, *i)))
            .map(|i| counts[i as usize])
            .max()
            .unwrap_or(0);
        descending && left_out_max <= lowest
    })
}

#[test]
fn refits_learn_from_train_and_validation_never_test_and_score_the_leaderboard() {
    let (experiment, ran) = common::run_spec(SPEC);
    let results = ran.results;
    let summary = &ran.summary;
    assert!(summary.failed.is_empty(), "{:?}", summary.failed);
    // 1 most_pop trial + 2 l2 × 2 seeds of mf, then 1 + 2 refits.
    assert_eq!(summary.ran, 5 + 3);

    let (records, missing) = load_records(&results, &experiment.record()).unwrap();
    assert_eq!(missing, 0);
    let configs = configurations(&experiment.expansion, &records);
    let stored = |r: &TrialRecord| {
        let refit = refit_trial(r);
        let record = results
            .finished(&refit, &experiment.context)
            .expect("refit stored");
        (refit, record)
    };

    // mf: each seed refit for the epochs its selected trial kept, with no
    // validation to stop on or to score.
    let built = report::build(&results).unwrap();
    let mf_row = built.leaderboard.iter().find(|r| r.model == "mf").unwrap();
    let mf = configs
        .iter()
        .find(|c| c.model_name == "mf" && refit_trial(c.trials[0]).id == mf_row.trial_ids[0])
        .expect("the selected mf configuration");
    let users_with_test = experiment.split.test.nonempty_rows().len();
    for trial in &mf.trials {
        let (refit, record) = stored(trial);
        let kept = match &trial.outcome {
            Outcome::Ok { curve, .. } => curve.as_ref().unwrap().kept_epoch,
            Outcome::Failed { .. } => unreachable!(),
        };
        assert_eq!(refit.params["epochs"].as_u64(), Some(kept as u64));
        assert_eq!(refit.seed, trial.trial.seed);
        match &record.outcome {
            Outcome::Ok {
                validation,
                curve,
                test,
                ..
            } => {
                assert!(validation.is_none());
                assert_eq!(curve.as_ref().unwrap().epochs.len(), kept);
                assert_eq!(test.users, users_with_test);
            }
            Outcome::Failed { error } => panic!("{error}"),
        }
    }
    assert_eq!(mf_row.trial_ids.len(), 2);

    // most_pop ranks by the popularity it learned: train ∪ validation,
    // neither train alone nor anything of test.
    let most_pop = configs.iter().find(|c| c.model_name == "most_pop").unwrap();
    let (refit, _) = stored(most_pop.trials[0]);
    let split = &experiment.split;
    let validation = split.validation.as_ref().unwrap();
    let index: HashMap<&str, u32> = experiment
        .labels
        .items
        .iter()
        .enumerate()
        .map(|(i, l)| (l.as_str(), i as u32))
        .collect();
    let lists = results.read_lists(&refit.id, &index).unwrap();
    let users = split.test.nonempty_rows();
    assert_eq!(lists.len(), users.len());
    let train = split.train.column_counts();
    let with = |extra: &[&recsweep::data::CsrMatrix]| -> Vec<u32> {
        let mut counts = train.clone();
        for m in extra {
            for (c, n) in m.column_counts().iter().enumerate() {
                counts[c] += n;
            }
        }
        counts
    };
    let seen = [&split.train, validation];
    assert!(ranks_by(&lists, &users, &seen, &with(&[validation])));
    assert!(
        !ranks_by(&lists, &users, &seen, &train),
        "refit ranks by train alone"
    );
    assert!(
        !ranks_by(&lists, &users, &seen, &with(&[validation, &split.test])),
        "refit saw test"
    );

    // The report scores selected models by their refits and says so.
    assert_eq!(
        built
            .leaderboard
            .iter()
            .find(|r| r.model == "most_pop")
            .unwrap()
            .trial_ids,
        vec![refit.id.clone()]
    );
    assert!(built.refit_pending.is_empty());
    let text = report::render_markdown(&built);
    assert!(text.contains("**refit on train ∪ validation**"), "{text}");
    // The knob section scores the sweep's trials, and says they are not the
    // leaderboard's refits.
    assert!(text.contains("## Knob sensitivity"), "{text}");
    assert!(
        text.contains("Test values here are the sweep's trials"),
        "{text}"
    ); // The appendix lists the refits beside the sweep's trials.
    let appendix = report::render_appendix(&built);
    assert!(
        appendix.contains(&format!("`{}` | most_pop", refit.id)) && appendix.contains("0 refit"),
        "{appendix}"
    );
}

#[test]
fn refit_without_a_validation_split_is_refused_at_its_key() {
    let text = SPEC.replace("validation: true", "validation: false");
    let error = parse_spec(&text, Path::new("refit.yaml"), &[])
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("selection.refit") && error.contains("split.validation"),
        "{error}"
    );
}
