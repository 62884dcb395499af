//! The two-stage section: for every pipeline configuration, how much of the
//! held-out set its N candidates hold, what a perfect ranker would reach on
//! them, what the ranker reaches and whether it beats the retriever's own
//! order (paired test over users and seeds), and what each stage costs.

use std::fmt::Write;

use serde::Serialize;
use tabled::builder::Builder;

use super::figures::{self, Figure, Section, Series};
use super::markdown::{
    figures as section_figures, push_table, section, summary, table, value, with_interval,
};
use super::visuals::{by_model, file_name, Panel};
use super::Report;
use crate::eval::{MetricId, MetricKind, MetricSummary, ServingTime};
use crate::format::{describe_knobs, format_p};
use crate::results::{contrast_over_seeds, per_seed, Configuration, Contrast};
use crate::spec::CompareSpec;
use crate::stats::{adjust, mean_over_users_and_seeds};
use crate::store::{IndexRecord, Outcome, ResultsDir, StageRecord, StoreError};

/// One pipeline configuration at the report's K, values over seeds.
#[derive(Debug, Clone, Serialize)]
pub struct StageRow {
    pub model: String,
    pub knobs: String,
    /// N.
    pub candidates: usize,
    pub seeds: usize,
    /// candidate_recall@N over users and seeds.
    pub candidate_recall: Option<MetricSummary>,
    /// ceiling_ndcg@K.
    pub ceiling: Option<MetricSummary>,
    /// ndcg@K of the retriever's own order of its candidates (for N ≥ K,
    /// the retriever alone).
    pub retriever: Option<f64>,
    /// The pipeline's ndcg@K.
    pub ranked: Option<MetricSummary>,
    /// The conditional hit rate: the pipeline's recall@K ÷ candidate
    /// recall@N (means over users and seeds), how much of what the
    /// retriever found the ranker puts in its top K. None without recall
    /// among the metrics or with no held-out item among the candidates.
    pub conditional: Option<f64>,
    /// Pipeline against its retriever on ndcg@K, over users and seeds;
    /// `p_adjusted` corrected over the section's rows.
    pub lift: Option<Contrast>,
    pub retriever_micros_per_user: f64,
    pub micros_per_user: f64,
    pub retriever_madds: u64,
    pub madds: u64,
    /// The approximate index (first seed's description, means over seeds).
    pub index: Option<IndexRow>,
    /// ann_overlap@N, with an index.
    pub overlap: Option<MetricSummary>,
    /// With an index: the pipeline against the same configuration with the
    /// exact index, on ndcg@K over users and seeds (what the index loses).
    pub versus_exact: Option<Contrast>,
    /// Under `ranker_negatives: retrieved`: the share of the ranker's
    /// sampled negatives that were held-out positives, mean over seeds.
    pub held_out_negatives: Option<f64>,
}

/// An approximate index's costs, means over seeds.
#[derive(Debug, Clone, Serialize)]
pub struct IndexRow {
    pub index: String,
    pub build_seconds: f64,
    pub overhead_bytes: f64,
    pub queries_per_second: f64,
    /// The seeds' search times pooled (median of medians, whole range);
    /// None for records that predate them.
    pub search: Option<ServingTime>,
    /// The exact top N of the same retriever, timed the same way.
    pub exact_search: Option<ServingTime>,
}

/// One seed of a pipeline configuration: its stage record, scoring µs per
/// user and multiply-adds per user.
type Staged<'a> = (&'a StageRecord, f64, u64);

/// A configuration's params without `index`, and its per-user ndcg@K per
/// seed: what pairs an indexed configuration with its exact twin.
type Twin = (serde_yaml::Mapping, Option<Vec<Vec<f64>>>);

/// A configuration's trials that ran two stages, with their scoring time
/// and multiply-adds per user.
fn staged<'a>(config: &Configuration<'a>) -> Vec<Staged<'a>> {
    config
        .trials
        .iter()
        .filter_map(|t| match &t.outcome {
            Outcome::Ok {
                stages: Some(stages),
                score_micros_per_user,
                cost,
                ..
            } => Some((stages.as_ref(), *score_micros_per_user, cost.madds_per_user)),
            _ => None,
        })
        .collect()
}

/// The pipeline's ndcg against the retriever's own order of the same
/// candidates (pipeline − lift), over users and seeds.
fn lift_over_retriever(
    ranked: &[Vec<f64>],
    lift: &[Vec<f64>],
    compare: &CompareSpec,
    seed: u64,
) -> Option<Contrast> {
    let retrieved: Vec<Vec<f64>> = ranked
        .iter()
        .zip(lift)
        .map(|(r, l)| r.iter().zip(l).map(|(r, l)| r - l).collect())
        .collect();
    contrast_over_seeds(
        ("pipeline", ranked),
        ("retriever", &retrieved),
        compare,
        seed,
    )
}

/// Each indexed row against its exact twin (the same params but `index`),
/// where one was run.
fn versus_exact(rows: &mut [StageRow], twins: &[Twin], compare: &CompareSpec, seed: u64) {
    for i in 0..rows.len() {
        if rows[i].index.is_none() {
            continue;
        }
        let twin = (0..rows.len()).find(|&j| rows[j].index.is_none() && twins[j].0 == twins[i].0);
        if let (Some(j), Some(mine)) = (twin, &twins[i].1) {
            if let Some(exact) = &twins[j].1 {
                rows[i].versus_exact =
                    contrast_over_seeds(("index", mine), ("exact", exact), compare, seed);
            }
        }
    }
}

/// The stage rows of every pipeline configuration with results, at cutoff
/// `k`, in the order of the configurations.
pub fn rows(
    results: &ResultsDir,
    configs: &[Configuration],
    k: usize,
    compare: &CompareSpec,
    seed: u64,
) -> Result<Vec<StageRow>, StoreError> {
    let mut rows = Vec::new();
    // Per row, its twin key: the exact twin may sit in the same model entry
    // (index swept) or another (index fixed per entry).
    let mut twins: Vec<Twin> = Vec::new();
    for config in configs {
        let staged = staged(config);
        let Some((first, _, madds)) = staged.first().copied() else {
            continue;
        };
        let n = first.candidates;
        let mean = |f: &dyn Fn(&Staged) -> Option<f64>| mean_over(&staged, f);
        let ndcg = MetricId {
            kind: MetricKind::Ndcg,
            k,
        };
        // Every seed's per-user values: intervals and tests over users and
        // seeds, as everywhere in the report (docs/statistics.md).
        let per_seed = per_seed(results, config)?;
        let column = |kind, k| per_seed.column(MetricId { kind, k });
        let summary = |values: Option<Vec<Vec<f64>>>| {
            let e = mean_over_users_and_seeds(&values?)?;
            Some(MetricSummary {
                mean: e.estimate,
                ci95: e.ci95(),
            })
        };
        let ranked = column(MetricKind::Ndcg, k);
        let mut params = config.trials[0].trial.params.clone();
        params.remove("index");
        twins.push((params, ranked.clone()));
        let lift = match (&ranked, column(MetricKind::NdcgLift, k)) {
            (Some(ranked), Some(lift)) => lift_over_retriever(ranked, &lift, compare, seed),
            _ => None,
        };
        // The retriever's own order of the same candidates (its full top K
        // where N ≥ K): what the lift is measured against.
        let retriever = lift
            .as_ref()
            .map(|c| c.mean_b)
            .or_else(|| mean(&|(s, _, _)| s.retriever.get(ndcg).map(|m| m.mean)));
        let candidate_recall = summary(column(MetricKind::CandidateRecall, n));
        let conditional = match (summary(column(MetricKind::Recall, k)), &candidate_recall) {
            (Some(recall), Some(found)) if found.mean > 0.0 => Some(recall.mean / found.mean),
            _ => None,
        };
        rows.push(StageRow {
            model: config.model_name.clone(),
            knobs: describe_knobs(&config.knobs),
            candidates: n,
            seeds: staged.len(),
            candidate_recall,
            ceiling: summary(column(MetricKind::CeilingNdcg, k)),
            retriever,
            ranked: summary(ranked),
            conditional,
            lift,
            retriever_micros_per_user: mean(&|(s, _, _)| Some(s.retriever_micros_per_user))
                .unwrap_or(f64::NAN),
            micros_per_user: mean(&|(_, micros, _)| Some(*micros)).unwrap_or(f64::NAN),
            retriever_madds: first.retriever_cost.madds_per_user,
            madds,
            index: first.index.as_ref().map(|i| index_row(&i.index, &staged)),
            overlap: summary(column(MetricKind::AnnOverlap, n)),
            versus_exact: None,
            held_out_negatives: mean(&|(s, _, _)| s.held_out_negatives),
        });
    }
    versus_exact(&mut rows, &twins, compare, seed);
    // One family: every lift and every index-against-exact test.
    let raw: Vec<f64> = family(&mut rows).iter().map(|c| c.p_raw).collect();
    let adjusted = adjust(&raw, compare.correction);
    for (c, p) in family(&mut rows).into_iter().zip(adjusted) {
        c.p_adjusted = p;
    }
    Ok(rows)
}

/// The mean of `f` over the seeds where it has a value; None where none has.
fn mean_over(staged: &[Staged], f: &dyn Fn(&Staged) -> Option<f64>) -> Option<f64> {
    let values: Vec<f64> = staged.iter().filter_map(f).collect();
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

/// The index `index`'s costs, averaged over the seeds (search times pooled).
fn index_row(index: &str, staged: &[Staged]) -> IndexRow {
    let mean = |f: &dyn Fn(&IndexRecord) -> f64| {
        mean_over(staged, &|(s, _, _)| s.index.as_ref().map(f)).unwrap_or(f64::NAN)
    };
    let pooled = |f: &dyn Fn(&IndexRecord) -> Option<ServingTime>| {
        let times: Vec<ServingTime> = staged
            .iter()
            .filter_map(|(s, _, _)| s.index.as_ref().and_then(f))
            .collect();
        ServingTime::pooled(&times)
    };
    IndexRow {
        index: index.to_string(),
        build_seconds: mean(&|i| i.build_seconds),
        overhead_bytes: mean(&|i| i.overhead_bytes as f64),
        queries_per_second: mean(&|i| i.queries_per_second),
        search: pooled(&|i| i.search),
        exact_search: pooled(&|i| i.exact_search),
    }
}

/// What the pipelines answer, for the report's opening: how many ranker
/// lifts are significant, the largest, and what approximate indexes cost.
pub fn answer(rows: &[StageRow], alpha: f64) -> Vec<String> {
    let mut out = Vec::new();
    let lifts: Vec<(&StageRow, &Contrast)> = rows
        .iter()
        .filter_map(|r| Some((r, r.lift.as_ref()?)))
        .collect();
    let significant = lifts
        .iter()
        .filter(|(_, c)| c.significant(alpha) && c.diff() > 0.0)
        .count();
    if let Some((row, lift)) = lifts
        .iter()
        .max_by(|a, b| a.1.diff().total_cmp(&b.1.diff()))
    {
        // Where every ranker falls below its retriever, "largest lift"
        // would misread: name the one that comes closest instead.
        let best = match lift.diff() > 0.0 {
            true => "the largest lift is",
            false => "none ranks above its retriever on average; the closest is",
        };
        out.push(format!(
            "Ranking the retriever's candidates lifts ndcg significantly over the retriever's own order in {significant} of {} pipeline configurations; \
             {best} {}'s at N = {} ({}, {}).",
            lifts.len(),
            row.model,
            row.candidates,
            lift_phrase(lift),
            lift.verdict(alpha, crate::eval::Direction::Higher).of_a()
        ));
    }
    let losses: Vec<&Contrast> = rows
        .iter()
        .filter_map(|r| r.versus_exact.as_ref())
        .collect();
    if !losses.is_empty() {
        let lost = losses
            .iter()
            .filter(|c| c.significant(alpha) && c.diff() < 0.0)
            .count();
        out.push(format!(
            "An approximate index loses ndcg significantly against the exact one in {lost} of {} configurations.",
            losses.len()
        ));
    }
    out
}

/// `Δ 0.012, 95% interval 0.004 to 0.020`, to the interval's precision.
pub fn lift_phrase(c: &Contrast) -> String {
    let half = c.interval().map(|(lo, hi)| (hi - lo) / 2.0);
    let number = |v: f64| crate::format::format_to_precision(v, half);
    match c.interval() {
        Some((lo, hi)) => format!(
            "Δ {}, 95% interval {} to {}",
            number(c.diff()),
            number(lo),
            number(hi)
        ),
        None => format!("Δ {}", number(c.diff())),
    }
}

/// The section's tests, in row order: each row's lift, then its test
/// against the exact index.
fn family(rows: &mut [StageRow]) -> Vec<&mut Contrast> {
    rows.iter_mut()
        .flat_map(|r| [r.lift.as_mut(), r.versus_exact.as_mut()])
        .flatten()
        .collect()
}

/// The figure's series for one pipeline model, in two panels of their own
/// scales: ndcg@K of the pipeline, of its retriever and of a perfect ranker;
/// and candidate recall@N (0 to 1), against N; at each N the configuration
/// with the best pipeline ndcg.
pub fn series(rows: &[StageRow], model: &str, style: usize) -> [Vec<Series>; 2] {
    let mut best: Vec<&StageRow> = Vec::new();
    for row in rows.iter().filter(|r| r.model == model) {
        let value = |r: &StageRow| r.ranked.map_or(f64::NEG_INFINITY, |m| m.mean);
        match best.iter_mut().find(|b| b.candidates == row.candidates) {
            Some(b) if value(row) > value(b) => *b = row,
            Some(_) => {}
            None => best.push(row),
        }
    }
    best.sort_by_key(|r| r.candidates);
    let line = |name: &str, offset: usize, f: &dyn Fn(&StageRow) -> Option<f64>| Series {
        name: format!("{model}: {name}"),
        points: best
            .iter()
            .filter_map(|r| f(r).map(|y| (r.candidates as f64, y)))
            .collect(),
        band: None,
        style: style + offset,
    };
    [
        vec![
            line("pipeline ndcg", 0, &|r| r.ranked.map(|m| m.mean)),
            line("ceiling ndcg", 1, &|r| r.ceiling.map(|m| m.mean)),
            line("retriever ndcg", 2, &|r| r.retriever),
        ],
        vec![line("candidate recall@N", 3, &|r| {
            r.candidate_recall.map(|m| m.mean)
        })],
    ]
}

/// The section's figures: per pipeline, ndcg@K and candidate recall
/// against N (its best configuration at each N); and the approximate
/// indexes' overlap against their speed.
pub fn figures(
    rows: &[StageRow],
    metric: MetricId,
    protocol: &str,
    style: &dyn Fn(&str) -> usize,
) -> Vec<Figure> {
    let mut out = Vec::new();
    let mut pipelines: Vec<&str> = Vec::new();
    for row in rows {
        if !pipelines.contains(&row.model.as_str()) {
            pipelines.push(&row.model);
        }
    }
    for model in pipelines {
        let title = format!(
            "{model}: ndcg@{k} and candidate recall against N ({protocol})",
            k = metric.k
        );
        let [ndcg, recall] = series(rows, model, 0);
        let panels = [
            (format!("ndcg@{}", metric.k), ndcg),
            ("candidate recall@N".to_string(), recall),
        ];
        let x = figures::XAxis {
            desc: "candidates N",
            labels: None,
            log: true,
        };
        let svg = figures::line_panels(&title, &x, &panels);
        out.push(Figure::drawn(
            format!("stages-{}.svg", file_name(model)),
            title,
            Section::Stages,
            svg,
        ));
    }
    if let Some((title, panel)) = index_panel(rows, style) {
        let svg = figures::tradeoff(&title, "ann_overlap@N", &[panel]);
        out.push(Figure::drawn(
            "indexes.svg".into(),
            title,
            Section::Stages,
            svg,
        ));
    }
    out
}

/// Index recall against speed: one point per pipeline configuration with an
/// approximate index, one series per pipeline.
fn index_panel(rows: &[StageRow], style: &dyn Fn(&str) -> usize) -> Option<(String, Panel)> {
    let indexed: Vec<&StageRow> = rows.iter().filter(|r| r.index.is_some()).collect();
    if indexed.is_empty() {
        return None;
    }
    let series = by_model(
        style,
        indexed.iter().filter_map(|r| {
            let index = r.index.as_ref()?;
            Some((r.model.clone(), (index.queries_per_second, r.overlap?.mean)))
        }),
    );
    Some((
        "Approximate indexes: overlap with the exact top N against searches per second (test)"
            .to_string(),
        (
            "index searches per second, one thread (right is faster)".to_string(),
            true,
            series,
        ),
    ))
}

/// The section in the report: the pipelines' table, the approximate
/// indexes' table and the figures.
pub fn render(out: &mut String, report: &Report) {
    if report.stages.is_empty() {
        return;
    }
    let c = &report.record.spec.compare;
    let k = report.selection_metric.k;
    section(out, "Two-stage pipelines");
    let _ = writeln!(
        out,
        "Every pipeline configuration on test (mean ± 95% interval over users and seeds). \
         candidate recall@N is the share of held-out items among the retriever's N candidates, the ceiling of everything after; \
         ceiling ndcg@{k} is what a perfect ranker of those candidates would reach; \
         retriever ndcg@{k} is the retriever's own order of the same candidates (for N ≥ {k}, the retriever alone); \
         recall@{k} ÷ candidate recall@N is the conditional hit rate, how much of what the retriever found the ranker puts in its top {k}. \
         Δ = pipeline − retriever with its 95% interval, tested over users and seeds (paired `{}` tests on seed-averaged users, seed variance added), corrected with **{}** over the section's {} tests (these and the index-against-exact ones below); \
         significant when the corrected p < {}. Cost per user: µs measured while scoring test (retriever: scoring and top-N selection; \
         pipeline: both stages), multiply-adds analytic (retriever over the catalogue or its query and index search, ranker over N items).\n",
        c.test.as_str(),
        c.correction.as_str(),
        report
            .stages
            .iter()
            .map(|r| usize::from(r.lift.is_some()) + usize::from(r.versus_exact.is_some()))
            .sum::<usize>(),
        c.alpha
    );
    // Only pipelines whose ranker learned from retrieved negatives have it.
    let hard = report.stages.iter().any(|r| r.held_out_negatives.is_some());
    if hard {
        let _ = writeln!(
            out,
            "held-out in negatives: under `ranker_negatives: retrieved`, the share of the ranker's sampled negatives \
             that were the user's held-out (validation or test) items: retrieved candidates exclude only train items, \
             so the ranker is taught that some of the items evaluation asks for are negatives.\n"
        );
    }
    pipelines_table(out, report, hard);
    index_table(out, report);
    section_figures(out, report, Section::Stages);
}

/// The pipelines' table: one row per configuration; `hard`: with the
/// held-out-in-negatives column.
fn pipelines_table(out: &mut String, report: &Report, hard: bool) {
    let c = &report.record.spec.compare;
    let k = report.selection_metric.k;
    let mut header = vec![
        "model".to_string(),
        "configuration".to_string(),
        "N".to_string(),
        "candidate recall@N".to_string(),
        format!("ceiling ndcg@{k}"),
        format!("retriever ndcg@{k}"),
        format!("pipeline ndcg@{k}"),
        "Δ (95% interval)".to_string(),
        "p corrected".to_string(),
        "verdict".to_string(),
        format!("recall@{k} ÷ candidate recall@N"),
        "µs / user (retriever, pipeline)".to_string(),
        "multiply-adds / user (retriever, pipeline)".to_string(),
    ];
    if hard {
        header.push("held-out in negatives".to_string());
    }
    let mut t = Builder::default();
    t.push_record(header);
    for row in &report.stages {
        let show = |s: &Option<MetricSummary>| {
            s.as_ref()
                .map_or("—".into(), |s| summary(MetricKind::Ndcg, s))
        };
        let (diff, p, significant) = match &row.lift {
            Some(l) => (
                with_interval(MetricKind::Ndcg, l),
                format_p(l.p_adjusted),
                l.verdict(c.alpha, MetricKind::Ndcg.direction())
                    .naming("pipeline"),
            ),
            None => ("—".into(), "—".into(), "—".into()),
        };
        let mut cells = vec![
            row.model.clone(),
            row.knobs.clone(),
            row.candidates.to_string(),
            show(&row.candidate_recall),
            show(&row.ceiling),
            row.retriever
                .map_or("—".into(), |v| value(MetricKind::Ndcg, v)),
            show(&row.ranked),
            diff,
            p,
            significant,
            row.conditional.map_or("—".into(), |v| format!("{v:.3}")),
            format!(
                "{:.1}, {:.1}",
                row.retriever_micros_per_user, row.micros_per_user
            ),
            format!("{}, {}", row.retriever_madds, row.madds),
        ];
        if hard {
            cells.push(
                row.held_out_negatives
                    .map_or("—".into(), |s| format!("{:.2}%", 100.0 * s)),
            );
        }
        t.push_record(cells);
    }
    push_table(out, t);
}

/// Each approximate index against the exact one it stands in for.
fn index_table(out: &mut String, report: &Report) {
    let c = &report.record.spec.compare;
    let k = report.selection_metric.k;
    let indexed: Vec<_> = report.stages.iter().filter(|r| r.index.is_some()).collect();
    if !indexed.is_empty() {
        let _ = writeln!(
            out,
            "### Approximate indexes\n\n\
             ann overlap@N: the share of the index's N candidates whose exact retriever score reaches the exact N-th score \
             (ties count, as in ann-benchmarks). Searches per second: one thread, one user at a time, the median (and range) of five timed passes \
             over a sample of test users; the exact top N of the same retriever is timed the same way beside it, so the index's speed-up reads across. \
             Trials running beside it share the cores (`--jobs 1` for undisturbed figures). \
             Overhead: the graph's links or the lists and centroids, beyond the item vectors. \
             Δ vs exact: pipeline ndcg@{k} minus that of the pipeline whose params differ only in the exact index, with its 95% interval over users and seeds, \
             corrected with the lifts above.\n"
        );
        let mut t = table(&[
            "model",
            "configuration",
            "index",
            "ann overlap@N",
            "candidate recall@N",
            &format!("pipeline ndcg@{k}"),
            "Δ vs exact (95% interval)",
            "p corrected",
            "verdict",
            "build (s)",
            "overhead (MB)",
            "searches / s (range)",
            "exact top N / s (range)",
        ]);
        for row in indexed {
            let Some(index) = &row.index else { continue };
            let show = |s: &Option<MetricSummary>| {
                s.as_ref()
                    .map_or("—".into(), |s| summary(MetricKind::Ndcg, s))
            };
            t.push_record([
                row.model.clone(),
                row.knobs.clone(),
                index.index.clone(),
                show(&row.overlap),
                show(&row.candidate_recall),
                show(&row.ranked),
                row.versus_exact
                    .as_ref()
                    .map_or("—".into(), |v| with_interval(MetricKind::Ndcg, v)),
                row.versus_exact
                    .as_ref()
                    .map_or("—".into(), |v| format_p(v.p_adjusted)),
                row.versus_exact.as_ref().map_or("—".into(), |v| {
                    v.verdict(c.alpha, MetricKind::Ndcg.direction())
                        .naming("index")
                }),
                format!("{:.2}", index.build_seconds),
                format!("{:.1}", index.overhead_bytes / 1e6),
                index.search.map_or_else(
                    || format!("{:.0}", index.queries_per_second),
                    |t| t.describe_rate(),
                ),
                index.exact_search.map_or("—".into(), |t| t.describe_rate()),
            ]);
        }
        push_table(out, t);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::contrast;

    /// A pipeline row whose ranker scores `lift` above its retriever for
    /// every one of 50 users (with some spread).
    fn row(model: &str, lift: f64) -> StageRow {
        let retriever: Vec<f64> = (0..50).map(|u| 0.1 + (u % 7) as f64 * 0.01).collect();
        let ranked: Vec<f64> = retriever
            .iter()
            .enumerate()
            .map(|(u, r)| r + lift + (u % 3) as f64 * 0.001)
            .collect();
        StageRow {
            model: model.into(),
            knobs: String::new(),
            candidates: 100,
            seeds: 1,
            candidate_recall: None,
            ceiling: None,
            retriever: None,
            ranked: None,
            conditional: None,
            lift: contrast(
                ("pipeline", &ranked),
                ("retriever", &retriever),
                &CompareSpec::default(),
                1,
            ),
            retriever_micros_per_user: 1.0,
            micros_per_user: 2.0,
            retriever_madds: 1,
            madds: 2,
            index: None,
            overlap: None,
            versus_exact: None,
            held_out_negatives: None,
        }
    }

    #[test]
    fn the_answer_names_the_largest_lift_or_says_none_lifts() {
        let mut rows = vec![row("a", 0.02), row("b", -0.01)];
        for r in &mut rows {
            let lift = r.lift.as_mut().unwrap();
            lift.p_adjusted = lift.p_raw;
        }
        let said = answer(&rows, 0.05).join(" ");
        assert!(said.contains("in 1 of 2 pipeline configurations"), "{said}");
        assert!(
            said.contains("the largest lift is a's at N = 100"),
            "{said}"
        );
        let said = answer(&rows[1..], 0.05).join(" ");
        assert!(
            said.contains("none ranks above its retriever on average; the closest is b's"),
            "{said}"
        );
    }
}
