//! `selection.folds`: each configuration's replicates rotate through k
//! disjoint validation folds over one test part, selection averages over
//! them, refits learn from train ∪ validation, and the report says so.

mod common;

use std::collections::BTreeSet;

use common::{recsweep, text};

use recsweep::report;
use recsweep::results::{configurations, load_records, refit_trials};
use recsweep::sweep::Trial;

const SPEC: &str = "name: folds\nseed: 4\n\
dataset: {source: synthetic, users: 300, items: 120, interactions: 6000, seed: 3}\n\
split: {method: random_holdout, test_fraction: 0.3, validation: true}\n\
evaluation: {cutoffs: [10], metrics: [recall, ndcg]}\n\
models:\n  - model: most_pop\n  - model: mf\n    params: {dim: 8, epochs: 3, batch_size: 64}\n\
sweep:\n  grid:\n    l2: [0.0, 0.001]\n  seeds: 2\n\
selection: {metric: ndcg@10, folds: 3, refit: true}\n";

#[test]
fn replicates_rotate_through_disjoint_folds_that_share_one_test_part() {
    let (experiment, ran) = common::run_spec(SPEC);
    let results = &ran.results;
    assert!(ran.summary.failed.is_empty(), "{:?}", ran.summary.failed);

    // most_pop (seed-free) runs once per fold; mf's 2 seeds round up to 3
    // replicates per configuration, replicate r on fold r mod 3.
    let trials = &experiment.expansion.trials;
    let of =
        |model: &str| -> Vec<&Trial> { trials.iter().filter(|t| t.model_name == model).collect() };
    let folds = |ts: &[&Trial]| -> Vec<Option<usize>> { ts.iter().map(|t| t.fold).collect() };
    assert_eq!(folds(&of("most_pop")), [Some(0), Some(1), Some(2)]);
    assert_eq!(
        folds(&of("mf")),
        [Some(0), Some(1), Some(2), Some(0), Some(1), Some(2)]
    );
    assert!(of("mf").iter().all(|t| t.fold == Some(t.seed_index % 3)));
    let ids: BTreeSet<&str> = trials.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids.len(), trials.len(), "a replicate's fold enters its id");
    // Then one refit per replicate of each selected configuration, with
    // no fold: train ∪ validation is the same whichever fold it held out.
    assert_eq!(ran.summary.ran, 3 + 6 + 3 + 3);
    let (records, _) = load_records(results, &experiment.record()).unwrap();
    let configs = configurations(&experiment.expansion, &records);
    for (_, refit) in refit_trials(&configs, experiment.spec.selection.metric) {
        assert_eq!(refit.fold, None);
        assert!(results.finished(&refit, &experiment.context).is_some());
    }

    // Each fold's split: the same test part and train ∪ validation,
    // validation parts disjoint; each trial validated on its own fold's.
    let (first, _) = experiment.fold(Some(0));
    let mut validated = 0;
    for f in 0..3 {
        let (split, _) = experiment.fold(Some(f));
        assert_eq!(split.test, first.test);
        let v = split.validation.as_ref().unwrap();
        validated += v.nnz();
        for g in f + 1..3 {
            let w = experiment.fold(Some(g)).0.validation.as_ref().unwrap();
            assert!(v.pairs().all(|(u, i)| !w.contains(u as usize, i)));
        }
        for t in trials.iter().filter(|t| t.fold == Some(f)) {
            let per_user = results.read_per_user_validation(&t.id).unwrap().unwrap();
            assert_eq!(
                per_user.users,
                v.nonempty_rows(),
                "{} fold {f}",
                t.model_name
            );
        }
    }
    assert_eq!(
        validated,
        first.train.nnz() + first.validation.as_ref().unwrap().nnz()
    );

    // The report states the folds, lists them in the appendix, and still
    // says how sure mf's selection is (users matched across folds).
    let built = report::build(results).unwrap();
    let text = report::render_markdown(&built);
    assert!(text.contains("mean over **3 validation folds** and seeds"));
    assert!(text.contains("| replicates (sd) |"));
    assert!(report::render_appendix(&built).contains("| 1 (fold 1) |"));
    let mf = built.selection.iter().find(|s| s.model == "mf").unwrap();
    assert!((0.0..=1.0).contains(&mf.probability));

    // A rerun finds every replicate stored.
    let again = recsweep::runner::run(
        &experiment,
        results,
        &recsweep::runner::RunOptions::default(),
        &|_| {},
    )
    .unwrap();
    assert_eq!(again.ran, 0);
}

#[test]
fn split_writes_one_folder_per_fold_with_the_same_test() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("folds.yaml"), SPEC).unwrap();
    let out = recsweep(dir.path(), &["split", "folds.yaml", "--out", "parts"]);
    assert!(out.status.success(), "{}", text(&out));
    let read = |f: usize, part: &str| -> BTreeSet<String> {
        let path = dir.path().join(format!("parts/fold{f}/{part}.tsv"));
        let text = std::fs::read_to_string(&path).unwrap();
        text.lines().skip(1).map(str::to_string).collect()
    };
    let validation: Vec<BTreeSet<String>> = (0..3).map(|f| read(f, "validation")).collect();
    for f in 0..3 {
        assert_eq!(read(f, "test"), read(0, "test"));
        assert!(validation[f].is_disjoint(&validation[(f + 1) % 3]));
        let both: BTreeSet<String> = read(f, "train").union(&validation[f]).cloned().collect();
        assert_eq!(
            both,
            read(0, "train").union(&validation[0]).cloned().collect()
        );
    }
    assert!(!dir.path().join("parts/fold3").exists());
}
