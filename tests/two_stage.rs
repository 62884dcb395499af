//! Two-stage pipelines: what a pipeline ranks, what its stage metrics say,
//! and how sweep knobs reach its stages.

mod common;

use std::path::Path;

use recsweep::eval::{
    evaluate, evaluate_stages, Evaluation, ItemStats, MetricId, MetricKind, MetricSet, Target,
};
use recsweep::models::{ModelKind, Scorer};
use recsweep::plan::parse_spec;
use recsweep::runner::Experiment;
use recsweep::store::Outcome;

const DATA: &str = "name: stages\nseed: 3\n\
dataset: {source: synthetic, users: 150, items: 90, interactions: 3000, seed: 2}\n\
evaluation: {cutoffs: [5, 10], metrics: [ndcg, recall, coverage]}\n";

fn experiment() -> Experiment {
    let spec = parse_spec(
        &format!("{DATA}models: [{{model: most_pop}}]\n"),
        Path::new("stages.yaml"),
        &[],
    )
    .unwrap();
    Experiment::prepare(spec).unwrap()
}

fn fit(experiment: &Experiment, kind: ModelKind, params: &str) -> Box<dyn Scorer> {
    common::fit(kind, params, &experiment.split.train, 7).scorer
}

fn set() -> MetricSet {
    MetricSet {
        cutoffs: vec![5, 10],
        metrics: vec![MetricKind::Ndcg, MetricKind::Recall],
    }
}

/// Full ranking of test, train and validation excluded.
fn test_target(experiment: &Experiment) -> Target<'_> {
    let split = &experiment.split;
    let mut exclude = vec![&split.train];
    exclude.extend(split.validation.as_ref());
    Target {
        truth: &split.test,
        exclude,
        history: Some(&split.train),
        candidates: None,
        preferences: None,
    }
}

fn evaluate_test(experiment: &Experiment, scorer: &dyn Scorer) -> (Evaluation, ItemStats) {
    let split = &experiment.split;
    let items = ItemStats::new(split.train.column_counts(), 0.8, split.n_users());
    (
        evaluate(scorer, &test_target(experiment), &set(), &items, 32),
        items,
    )
}

const RANKER: &str = "{variant: neumf, dim: 8, hidden: [16, 8], epochs: 3}";

/// With N = |I| and an exact index every unseen item is a candidate, so the
/// pipeline's lists are its ranker's lists on full ranking (same params,
/// same seed, uniform negatives): the ranker scoring a subset of items
/// agrees with it scoring the catalogue.
#[test]
fn a_pipeline_over_the_whole_catalogue_ranks_as_its_ranker_alone() {
    let experiment = experiment();
    let n_items = experiment.split.train.n_cols();
    let pipeline = fit(
        &experiment,
        ModelKind::Pipeline,
        &format!(
            "{{retriever: {{model: mf, params: {{dim: 8, epochs: 2}}}}, candidates: {n_items}, ranker: {{model: ncf, params: {RANKER}}}}}"
        ),
    );
    let ranker = fit(&experiment, ModelKind::Ncf, RANKER);
    let (staged, _) = evaluate_test(&experiment, pipeline.as_ref());
    let (alone, _) = evaluate_test(&experiment, ranker.as_ref());
    assert_eq!(staged.lists.items, alone.lists.items);
    assert_eq!(staged.per_user.values, alone.per_user.values);
}

/// Fewer candidates than K: the list holds the candidates only, never the
/// items scored −∞ behind them.
#[test]
fn lists_hold_candidates_only() {
    let experiment = experiment();
    let pipeline = fit(
        &experiment,
        ModelKind::Pipeline,
        &format!("{{retriever: {{model: most_pop}}, candidates: 3, ranker: {{model: ncf, params: {RANKER}}}}}"),
    );
    let (evaluation, _) = evaluate_test(&experiment, pipeline.as_ref());
    assert!(evaluation.lists.items.iter().all(|l| l.len() == 3));
    let popular = {
        let counts = experiment.split.train.column_counts();
        let mut items: Vec<u32> = (0..counts.len() as u32).collect();
        items.sort_by_key(|&i| (std::cmp::Reverse(counts[i as usize]), i));
        items
    };
    // A user who has seen none of the three most popular items gets exactly
    // those three, in the ranker's order.
    let split = &experiment.split;
    for (n, &u) in evaluation.lists.users.iter().enumerate() {
        let seen = |i: &u32| {
            split.train.contains(u as usize, *i)
                || split
                    .validation
                    .as_ref()
                    .is_some_and(|v| v.contains(u as usize, *i))
        };
        if !popular[..3].iter().any(seen) {
            let mut got = evaluation.lists.items[n].clone();
            got.sort_unstable();
            let mut want = popular[..3].to_vec();
            want.sort_unstable();
            assert_eq!(got, want, "user {u}");
        }
    }
}

/// The stage metrics from `evaluate_stages` against direct computations on
/// the retriever's own lists: candidate recall is the retriever's recall@N,
/// the lift is the pipeline's ndcg minus the retriever's, per user.
#[test]
fn stage_metrics_match_the_retriever_scored_alone() {
    let experiment = experiment();
    let n = 20;
    let pipeline = fit(
        &experiment,
        ModelKind::Pipeline,
        &format!("{{retriever: {{model: mf, params: {{dim: 8, epochs: 2}}}}, candidates: {n}, ranker: {{model: ncf, params: {RANKER}}}}}"),
    );
    let (mut ranked, items) = evaluate_test(&experiment, pipeline.as_ref());
    let target = test_target(&experiment);
    let stages = pipeline.stages().expect("a pipeline has stages");
    let retriever = evaluate_stages(&mut ranked, &stages, &target, &set(), &items, 16).retriever;
    let wide = MetricSet {
        cutoffs: vec![n],
        metrics: vec![MetricKind::Recall],
    };
    let alone = evaluate(stages.retriever, &target, &wide, &items, 64);
    let id = |kind, k| MetricId { kind, k };
    assert_eq!(
        ranked
            .per_user
            .column(id(MetricKind::CandidateRecall, n))
            .unwrap(),
        alone.per_user.column(id(MetricKind::Recall, n)).unwrap()
    );
    for k in [5, 10] {
        let lift = ranked.per_user.column(id(MetricKind::NdcgLift, k)).unwrap();
        let own = ranked.per_user.column(id(MetricKind::Ndcg, k)).unwrap();
        let theirs = retriever.per_user.column(id(MetricKind::Ndcg, k)).unwrap();
        for u in 0..lift.len() {
            assert!((lift[u] - (own[u] - theirs[u])).abs() < 1e-12);
        }
        let ceiling = ranked
            .per_user
            .column(id(MetricKind::CeilingNdcg, k))
            .unwrap();
        // Nothing ranked from the candidates beats the best order of them.
        assert!(ceiling.iter().zip(own).all(|(c, o)| *c >= o - 1e-12));
        assert!(ranked.summary.get(id(MetricKind::NdcgLift, k)).is_some());
    }
    assert_eq!(retriever.lists.items.iter().map(Vec::len).max(), Some(10));
}

/// Family knobs reach the stages that have them, dotted keys set params
/// inside a stage, and a popularity method reaches only a stage that
/// implements it.
#[test]
fn sweep_knobs_reach_the_stages() {
    let spec = parse_spec(
        &format!(
            "{DATA}models:\n  - model: pipeline\n    params: {{retriever: {{model: mf, params: {{loss: softmax}}}}, ranker: {{model: ncf}}}}\n\
             sweep:\n  grid:\n    dropout: [0.1]\n    l2: [0.01]\n    retriever.params.dim: [12]\n    candidates: [40]\n    popularity: [{{method: logq, alpha: 0.5}}]\n"
        ),
        Path::new("s.yaml"),
        &[],
    )
    .unwrap();
    let experiment = Experiment::prepare(spec).unwrap();
    let trials = &experiment.expansion.trials;
    assert_eq!(trials.len(), 1, "one seed, one combination");
    let params = &trials[0].params;
    let get = |path: &str| {
        path.split('.')
            .try_fold(&serde_yaml::Value::Mapping(params.clone()), |v, k| v.get(k))
            .cloned()
    };
    let num = |v: Option<serde_yaml::Value>| v.and_then(|v| v.as_f64());
    assert_eq!(num(get("ranker.params.dropout")), Some(0.1));
    assert_eq!(num(get("retriever.params.l2")), Some(0.01));
    assert_eq!(num(get("ranker.params.l2")), Some(0.01));
    assert_eq!(num(get("retriever.params.dim")), Some(12.0));
    assert_eq!(num(get("candidates")), Some(40.0));
    // mf implements logq (with its softmax loss), ncf does not.
    let method = |stage: &str| {
        get(&format!("{stage}.params.popularity.method"))
            .and_then(|v| v.as_str().map(str::to_string))
    };
    assert_eq!(method("ranker").as_deref(), Some("none"));
    assert_eq!(method("retriever").as_deref(), Some("logq"));
}

/// A pipeline trial run by the runner stores its retriever's own metrics,
/// and its lift is its ndcg minus the retriever's.
#[test]
fn a_pipeline_trial_stores_its_stages() {
    let (experiment, ran) = common::run_spec(&format!(
        "{DATA}models:\n  - model: pipeline\n    params: {{retriever: {{model: mf, params: {{dim: 8, epochs: 2}}}}, candidates: 30, ranker: {{model: dcn, params: {{dim: 4, hidden: [8], epochs: 2}}}}, ranker_negatives: retrieved}}\n"
    ));
    let results = ran.results;
    let trial = &experiment.expansion.trials[0];
    let Outcome::Ok { test, stages, .. } = results.read_trial(&trial.id).unwrap().outcome else {
        panic!("the pipeline trial failed")
    };
    let stages = stages.expect("a pipeline stores its stages");
    assert_eq!(stages.candidates, 30);
    let id = |kind, k| MetricId { kind, k };
    let ndcg = test.get(id(MetricKind::Ndcg, 10)).unwrap().mean;
    let retriever = stages.retriever.get(id(MetricKind::Ndcg, 10)).unwrap().mean;
    let lift = test.get(id(MetricKind::NdcgLift, 10)).unwrap().mean;
    assert!(
        (lift - (ndcg - retriever)).abs() < 1e-9,
        "{lift} vs {ndcg} − {retriever}"
    );
    let candidate_recall = test.get(id(MetricKind::CandidateRecall, 30)).unwrap().mean;
    let per_user = results.read_per_user(&trial.id).unwrap();
    assert!(per_user.column(id(MetricKind::CeilingNdcg, 5)).is_some());
    // Retrieved negatives: some of the candidates the ranker learned were
    // negatives are the held-out items test asks for (candidate recall > 0
    // says some test items are among them); leave-one-out holds out two
    // items per user (validation, test), so at most 2 of each 30.
    let share = stages
        .held_out_negatives
        .expect("retrieved negatives are measured");
    assert!(candidate_recall > 0.0 && share > 0.0, "{share}");
    assert!(share <= 2.0 / 30.0 + 1e-12, "{share}");
    let report = recsweep::report::render_markdown(&recsweep::report::build(&results).unwrap());
    assert!(report.contains("held-out in negatives"), "{report}");
    // The conditional hit rate: what the ranker kept of what was found.
    let recall = test.get(id(MetricKind::Recall, 10)).unwrap().mean;
    assert!(
        report.contains("recall@10 ÷ candidate recall@N"),
        "{report}"
    );
    assert!(
        report.contains(&format!("| {:.3} ", recall / candidate_recall)),
        "{report}"
    );
    assert!(
        report.contains(&format!("{:.2}%", 100.0 * share)),
        "{report}"
    );
}

/// Problems inside a stage are located at the stage's param or at the sweep
/// value that caused them, never a panic.
#[test]
fn stage_errors_name_the_stage_param() {
    let issues = |models: &str| match parse_spec(
        &format!("{DATA}models:\n{models}"),
        Path::new("e.yaml"),
        &[],
    ) {
        Err(recsweep::spec::SpecError::Invalid { issues, .. }) => issues
            .into_iter()
            .map(|i| format!("{}: {}", i.path, i.message))
            .collect::<Vec<_>>(),
        other => panic!("expected an invalid spec, got {:?}", other.map(|_| ())),
    };
    let found =
        issues("  - model: pipeline\n    params: {ranker: {model: ncf, params: {dropout: 2.0}}}\n");
    assert!(
        found
            .iter()
            .any(|m| m.contains("ranker.params.dropout") && m.contains("[0, 1)")),
        "{found:?}"
    );
    let found = issues("  - model: pipeline\n    sweep: {ranker.params.dropout: [0.1, 2.0]}\n");
    assert!(
        found
            .iter()
            .any(|m| m.starts_with("models[0].sweep.ranker.params.dropout[1]")),
        "{found:?}"
    );
    let found = issues("  - model: pipeline\n    params: {retriever: {model: pipeline}}\n");
    assert!(
        found
            .iter()
            .any(|m| m.contains("retriever.model") && m.contains("cannot itself be a pipeline")),
        "{found:?}"
    );
    let found = issues(
        "  - model: pipeline\n    params: {ranker: {model: two_tower}, ranker_negatives: retrieved}\n",
    );
    assert!(
        found.iter().any(|m| m.contains("ranker_negatives")),
        "{found:?}"
    );
    let found = issues(
        "  - model: pipeline\n    params: {retriever: {model: ncf}, index: {hnsw: {m: 8}}}\n",
    );
    assert!(
        found
            .iter()
            .any(|m| m.contains("index: an approximate index needs a dot-product retriever")),
        "{found:?}"
    );
    let found = issues("  - model: pipeline\n    params: {index: {hnsw: {m: 257}}}\n");
    assert!(
        found.iter().any(|m| m.contains("index.hnsw.m")),
        "{found:?}"
    );
    let found = issues("  - model: pipeline\n    params: {index: {ivf: {lists: 4, probes: 9}}}\n");
    assert!(
        found.iter().any(|m| m.contains("index.ivf.probes")),
        "{found:?}"
    );
    let found = issues("  - model: pipeline\n    sweep: {index.hnsw.ef_search: [16]}\n");
    assert!(
        found
            .iter()
            .any(|m| m.contains("`index` is exact, not a mapping")),
        "{found:?}"
    );
}

/// An HNSW index searched with ef ≥ |I| and an IVF index probing every list
/// find the exact top N, so the pipeline ranks as with the exact index and
/// every candidate is within the exact top N (ann_overlap 1).
#[test]
fn exhaustive_indexes_match_the_exact_pipeline() {
    let experiment = experiment();
    let n = 25;
    let pipeline = |index: &str| {
        fit(
            &experiment,
            ModelKind::Pipeline,
            &format!("{{retriever: {{model: mf, params: {{dim: 8, epochs: 2}}}}, candidates: {n}, index: {index}, ranker: {{model: ncf, params: {RANKER}}}}}"),
        )
    };
    let (exact, items) = evaluate_test(&experiment, pipeline("exact").as_ref());
    let target = test_target(&experiment);
    for index in [
        "{hnsw: {m: 4, ef_construction: 16, ef_search: 100}}",
        "{ivf: {lists: 6, probes: 6}}",
    ] {
        let scorer = pipeline(index);
        let (mut approximate, _) = evaluate_test(&experiment, scorer.as_ref());
        assert_eq!(approximate.lists.items, exact.lists.items, "{index}");
        let stages = scorer.stages().unwrap();
        assert!(stages.index.is_some());
        let alone = evaluate_stages(&mut approximate, &stages, &target, &set(), &items, 16);
        // Both the index's searches and the exact top N are timed, each as
        // an ordered median within its range.
        let search = alone
            .search
            .as_ref()
            .expect("an index's searches are timed");
        let exact_time = search.exact.expect("the exact top N is timed beside it");
        for t in [search.index, exact_time] {
            assert!(0.0 < t.min_micros && t.min_micros <= t.median_micros);
            assert!(t.median_micros <= t.max_micros && t.users > 0, "{t:?}");
        }
        let overlap = approximate
            .per_user
            .column(MetricId {
                kind: MetricKind::AnnOverlap,
                k: n,
            })
            .unwrap();
        assert!(overlap.iter().all(|&o| o == 1.0), "{index}: {overlap:?}");
    }
}

/// A cheap index misses some of the exact top N, and says so.
#[test]
fn a_narrow_index_loses_candidates_and_the_overlap_shows_it() {
    let experiment = experiment();
    let n = 25;
    let scorer = fit(
        &experiment,
        ModelKind::Pipeline,
        &format!("{{retriever: {{model: mf, params: {{dim: 8, epochs: 2}}}}, candidates: {n}, index: {{ivf: {{lists: 30, probes: 1}}}}, ranker: {{model: ncf, params: {RANKER}}}}}"),
    );
    let (mut ranked, items) = evaluate_test(&experiment, scorer.as_ref());
    let target = test_target(&experiment);
    evaluate_stages(
        &mut ranked,
        &scorer.stages().unwrap(),
        &target,
        &set(),
        &items,
        16,
    );
    let overlap = ranked
        .summary
        .get(MetricId {
            kind: MetricKind::AnnOverlap,
            k: n,
        })
        .unwrap()
        .mean;
    assert!(overlap > 0.0 && overlap < 1.0, "{overlap}");
}

/// Pipelines with each index and retrieved negatives give the same numbers
/// with 1 and 2 threads (timings aside).
#[test]
fn pipelines_do_not_depend_on_thread_count() {
    let spec = parse_spec(
        &format!(
            "{DATA}models:\n  - model: pipeline\n    params: {{retriever: {{model: mf, params: {{dim: 8, epochs: 2}}}}, candidates: 20, ranker: {{model: dcn, params: {{dim: 4, hidden: [8], epochs: 2}}}}, ranker_negatives: retrieved}}\n    sweep: {{index: [exact, {{hnsw: {{m: 4, ef_construction: 16, ef_search: 20}}}}, {{ivf: {{lists: 5, probes: 2}}}}]}}\n"
        ),
        Path::new("t.yaml"),
        &[],
    )
    .unwrap();
    let experiment = Experiment::prepare(spec).unwrap();
    let outcome = |jobs: usize| {
        common::read_back_with_jobs(&experiment, jobs, |results, id| {
            let Outcome::Ok { test, stages, .. } = results.read_trial(id).unwrap().outcome else {
                panic!("trial failed")
            };
            let stages = stages.expect("stages");
            (
                test,
                stages.retriever,
                stages.index.map(|i| (i.index, i.overhead_bytes)),
                results.read_per_user(id).unwrap(),
            )
        })
    };
    assert_eq!(outcome(1), outcome(2));
}

/// An index fixed in its own model entry is compared with the exact
/// pipeline of another entry that has the same params, and its retriever's
/// cost is the query and the search, not the catalogue: both stage rows
/// give the same ranker share of their pipeline's multiply-adds.
#[test]
fn an_index_in_its_own_entry_meets_its_exact_twin() {
    let stages = "retriever: {model: mf, params: {dim: 8, epochs: 2}}, candidates: 20, ranker: {model: dcn, params: {dim: 4, hidden: [8], epochs: 2}}";
    let (_, ran) = common::run_spec(&format!(
        "{DATA}models:\n  - model: pipeline\n    name: exact\n    params: {{{stages}}}\n  - model: pipeline\n    name: indexed\n    params: {{{stages}, index: {{hnsw: {{m: 4, ef_construction: 16, ef_search: 20}}}}}}\n"
    ));
    let results = ran.results;
    let report = recsweep::report::build(&results).unwrap();
    let row = |name: &str| report.stages.iter().find(|r| r.model == name).unwrap();
    let (exact, indexed) = (row("exact"), row("indexed"));
    assert!(exact.versus_exact.is_none());
    assert!(indexed.versus_exact.is_some(), "no exact twin found");
    assert_ne!(indexed.retriever_madds, exact.retriever_madds);
    assert_eq!(
        indexed.madds - indexed.retriever_madds,
        exact.madds - exact.retriever_madds
    );
}
