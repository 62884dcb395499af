//! Markdown rendering of a [`Report`]: tables via tabled, no timestamps, so
//! the same results give the same bytes.

use std::fmt::Write;

use tabled::builder::Builder;
use tabled::settings::Style;

use super::{popularity_undefined, Contrast, Report, Section};
use crate::eval::{Direction, Family, MetricId, MetricKind, MetricSummary};
use crate::format::{format_p, format_to_precision};
use crate::results::{find_pair, Part, Verdict, POWER};
use crate::spec::Protocol;
use crate::store::Outcome;
use crate::sweep::KnobUsage;

pub fn render(report: &Report) -> String {
    let mut out = String::new();
    introduction(&mut out, report);
    dataset_section(&mut out, report);
    leaderboard_section(&mut out, report);
    published_section(&mut out, report);
    significance_section(&mut out, report);
    report.tuning.render(&mut out, report);
    sensitivity_section(&mut out, report);
    figures(&mut out, report, Section::Knobs);
    super::stages::render(&mut out, report);
    protocol_sections(&mut out, report);
    orderings_section(&mut out, report);
    super::simulation::render(&mut out, report);
    bias_section(&mut out, report);
    cost_section(&mut out, report);
    reproducibility_section(&mut out, report);
    out
}

/// The appendix: what a reader checks rather than reads (which knob reached
/// which model, every trial, training curves, embedding maps, the resolved
/// spec), in its own file beside the report so the report stays short.
pub fn render_appendix(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# recsweep report appendix: {}

Details behind [the report]({}).",
        report.record.spec.name, report.file
    );
    knobs_section(&mut out, report);
    trials_section(&mut out, report);
    training_section(&mut out, report);
    embedding_section(&mut out, report);
    resolved_spec_section(&mut out, report);
    out
}

/// "validation" or "test": where configurations were selected.
fn part_name(report: &Report) -> &'static str {
    report.selected_on.as_str()
}

/// What the randomised protocol ranks, in words.
const RANDOMISED: &str = "**randomised exposure**: each user's items shown uniformly at random from the catalogue \
     (`dataset.random_test`), ranked among themselves; positives are the shown items the user took, labelled by the synthetic generator's \
     true relevance, so no system shaped what was seen and the plain metrics need no propensities (docs/metrics.md, \"Randomised exposure\")";

/// The title, the summary sentences, the protocol and any warnings.
fn introduction(out: &mut String, report: &Report) {
    let record = &report.record;
    let spec = &report.record.spec;
    let metric = report.selection_metric;
    let part = part_name(report);
    let _ = writeln!(out, "# recsweep report: {}\n", spec.name);
    match &spec.question {
        Some(question) => {
            let _ = writeln!(out, "**Question:** {question}\n");
            let _ = writeln!(out, "**Answer:** {}\n", report.summary.join(" "));
        }
        None => {
            let _ = writeln!(out, "{}\n", report.summary.join(" "));
        }
    }
    figures(out, report, Section::Answer);
    let cold_list = spec.split.candidates == Some(crate::split::ColdCandidates::Cold);
    let protocol = match spec.evaluation.protocol.primary() {
        Protocol::Full if cold_list => "full ranking of the cold items: each user's held-out items are ranked among all items held out of training (`split.candidates: cold`)".to_string(),
        Protocol::Full => "full ranking, every item the user has not interacted with is a candidate".to_string(),
        Protocol::Randomised => RANDOMISED.to_string(),
        p @ Protocol::Sampled { .. } => format!(
            "**{p}**: each user's held-out items ranked among sampled items they never interacted with, ties ranking negatives first \
             (the NCF paper's protocol); sampled metrics can order models differently from full ranking (Krichene & Rendle 2020)"
        ),
    };
    let refit = match report.refits() {
        true => ", **refit on train ∪ validation** (models trained in epochs for the epoch count early stopping kept on validation),",
        false => "",
    };
    let _ = writeln!(
        out,
        "Each model's configuration is selected on **{part} {metric}** (mean over seeds){refit} and reported on **test**. \
         Protocol: {protocol}. ± is the half-width of a 95% interval over users and seeds (docs/statistics.md)."
    );
    let _ = writeln!(
        out,
        "\nEvery trial, the knobs each model received, training curves, embedding maps and the resolved spec are in the [appendix]({}).",
        report.appendix_file()
    );
    if report.selected_on == Part::Test {
        let _ = writeln!(
            out,
            "\n> **No validation split** (`split.validation: false`): selection used the test split, so the selected scores are optimistic."
        );
    }
    for warning in &record.expansion.warnings {
        let _ = writeln!(out, "\n> **Warning**: {warning}.");
    }
    if !report.refit_pending.is_empty() {
        let _ = writeln!(
            out,
            "\n> **Refit pending** for {}: their rows show the sweep's trials, trained on train alone; rerun `recsweep run` to refit them.",
            report.refit_pending.join(", ")
        );
    }
    for skipped in &record.expansion.skipped {
        let _ = writeln!(out, "\n> **Not run**: {skipped}.");
    }
    if report.missing > 0 {
        let _ = writeln!(
            out,
            "\n> **Incomplete**: {} of {} trials have no stored result yet (interrupted or sharded run); rerun `recsweep run` to finish them.",
            report.missing,
            record.expansion.trials.len()
        );
    }
}

/// Dataset statistics and the split.
fn dataset_section(out: &mut String, report: &Report) {
    let record = &report.record;
    let spec = &report.record.spec;
    section(out, "Dataset and split");
    let d = &record.dataset;
    let s = &record.split;
    let mut t = table(&["", "value"]);
    for (k, v) in [
        (
            "source",
            match spec.dataset.source.as_str() {
                name if name == d.source => name.to_string(),
                name => format!("{name} ({})", d.source),
            },
        ),
        ("rows read", d.rows_read.to_string()),
        ("below min_rating", d.below_min_rating.to_string()),
        ("duplicate (user, item) rows", d.duplicates.to_string()),
        ("removed by filters", d.filtered.to_string()),
        ("users", d.users.to_string()),
        ("items", d.items.to_string()),
        ("interactions", d.interactions.to_string()),
        ("density", format!("{:.4}%", 100.0 * d.density)),
        ("item popularity Gini", format!("{:.3}", d.popularity_gini)),
        ("fingerprint", format!("`{}`", d.fingerprint)),
    ] {
        t.push_record([k.to_string(), v]);
    }
    push_table(out, t);
    let mut t = table(&["split", "value"]);
    let optional = |v: Option<usize>| v.map_or("—".to_string(), |v| v.to_string());
    for (k, v) in [
        ("method", s.method.clone()),
        ("ordered by", s.ordered_by.clone()),
        ("train interactions", s.train_interactions.to_string()),
        (
            "validation interactions",
            optional(s.validation_interactions),
        ),
        ("test interactions", s.test_interactions.to_string()),
        ("evaluated users (test)", s.test_users.to_string()),
        ("evaluated users (validation)", optional(s.validation_users)),
        (
            "users without a test item (not evaluated)",
            s.users_without_test.to_string(),
        ),
        ("cold users dropped", s.cold_users_dropped.to_string()),
    ] {
        t.push_record([k.to_string(), v]);
    }
    push_table(out, t);
    // Rows of the cold-start and files splits only.
    let side = spec.split.cold_side().map_or("", |s| s.as_str());
    let cold = s
        .cold_test
        .map(|n| (format!("{side} held out for test (cold)"), n.to_string()));
    let candidates = spec.split.candidates.map(|c| {
        let what = match c {
            crate::split::ColdCandidates::Cold => "the cold test items only",
            crate::split::ColdCandidates::All => "every item the user has not interacted with",
        };
        (
            "a user's cold items ranked among".to_string(),
            what.to_string(),
        )
    });
    let without = |n: usize, what: &str| {
        (n > 0).then(|| {
            (
                format!("{what} with held-out but no train interactions (kept, evaluated)"),
                n.to_string(),
            )
        })
    };
    let extra: Vec<(String, String)> = [
        cold,
        candidates,
        without(s.users_without_train, "users"),
        without(s.items_without_train, "items"),
    ]
    .into_iter()
    .flatten()
    .collect();
    if !extra.is_empty() {
        let mut t = table(&["cold start", "value"]);
        for (k, v) in extra {
            t.push_record([k, v]);
        }
        push_table(out, t);
    }
    features_tables(out, report);
}

/// The feature tables read and which columns each model used.
fn features_tables(out: &mut String, report: &Report) {
    let record = &report.record;
    if record.features.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "Feature tables (docs/spec.md, \"Features\"); token 0 of every column is \"unknown\":\n"
    );
    let mut t = table(&["side", "column", "type", "values", "missing", "file"]);
    for side in &record.features {
        for c in &side.columns {
            t.push_record([
                side.side.as_str().to_string(),
                c.name.clone(),
                c.kind.as_str().to_string(),
                if c.values == 0 {
                    "—".to_string()
                } else {
                    c.values.to_string()
                },
                c.missing.to_string(),
                format!(
                    "{} ({} rows, {} not in the log, {} ids without a row)",
                    side.table.path,
                    side.table.rows,
                    side.table.rows_not_in_log,
                    side.table.ids_without_row
                ),
            ]);
        }
    }
    push_table(out, t);
    let rows = super::features::rows(record);
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "What each model read (an entity without train interactions uses no id embedding):\n"
    );
    let mut t = table(&["model", "id embeddings", "user features", "item features"]);
    let list = |v: &[String]| {
        if v.is_empty() {
            "—".to_string()
        } else {
            v.join(", ")
        }
    };
    for r in rows {
        t.push_record([r.model, r.ids, list(&r.users), list(&r.items)]);
    }
    push_table(out, t);
}

/// One table per cutoff: each model's selected configuration on test.
fn leaderboard_section(out: &mut String, report: &Report) {
    let spec = &report.record.spec;
    let metric = report.selection_metric;
    let part = part_name(report);
    section(out, "Leaderboard");
    let _ = writeln!(
        out,
        "One row per model: its selected configuration, sorted by test {metric}. \
         ± is the 95% interval over users and seeds (the seeds' own spread is in `seeds (sd)`). \
         Bias metrics: higher coverage, aplt and novelty and lower arp and gini mean less popularity bias.\n"
    );
    let shown: Vec<MetricKind> = spec
        .evaluation
        .metrics
        .iter()
        .copied()
        .filter(|kind| repeats(spec, *kind).is_none())
        .collect();
    for &k in &spec.evaluation.cutoffs {
        let _ = writeln!(out, "### Test metrics at K = {k}\n");
        let metrics: Vec<MetricId> = shown.iter().map(|&kind| MetricId::at(kind, k)).collect();
        let mut header = vec![
            "model".to_string(),
            "configuration".to_string(),
            format!("{part} {metric}"),
        ];
        header.extend(metrics.iter().map(|m| heading(*m)));
        header.push("seeds (sd)".to_string());
        let baseline = spec.compare.baseline.as_deref().filter(|_| k == metric.k);
        if let Some(b) = baseline {
            header.push(format!("Δ {metric} vs {b}"));
        }
        let mut t = Builder::default();
        t.push_record(header);
        for row in &report.leaderboard {
            let mut cells = vec![
                row.model.clone(),
                row.knobs.clone(),
                value(metric.kind, row.selection_value),
            ];
            cells.extend(metrics.iter().map(|m| {
                match (popularity_undefined(&spec.split, m.kind), row.test.get(m)) {
                    (None, Some(s)) => summary(m.kind, s),
                    _ => "—".to_string(),
                }
            }));
            cells.push(match row.seed_sd {
                Some(sd) => format!("{} ({})", row.seeds, value(metric.kind, sd)),
                None => row.seeds.to_string(),
            });
            if let Some(b) = baseline {
                cells.push(versus(report, &row.model, b));
            }
            t.push_record(cells);
        }
        push_table(out, t);
    }
    let repeated: Vec<String> = spec
        .evaluation
        .metrics
        .iter()
        .filter_map(|kind| repeats(spec, *kind).map(|r| format!("{} ({r})", kind.as_str())))
        .collect();
    if !repeated.is_empty() {
        let _ = writeln!(
            out,
            "Not shown, because with one held-out item per user (leave-one-out) they repeat other columns: {}. \
             They stay in the results folder and the JSON report.\n",
            repeated.join(", ")
        );
    }
    let undefined: Vec<(&str, &str)> = spec
        .evaluation
        .metrics
        .iter()
        .filter_map(|kind| Some((kind.as_str(), popularity_undefined(&spec.split, *kind)?)))
        .collect();
    if let Some((_, reason)) = undefined.first() {
        let names: Vec<&str> = undefined.iter().map(|(name, _)| *name).collect();
        let _ = writeln!(
            out,
            "— for {}: {reason} (`split.method: cold_items`), so these metrics say nothing here.\n",
            names.join(", ")
        );
    }
}

/// What a metric repeats when every user holds out one item (leave-one-out)
/// and the metric it repeats is shown: hit_rate = recall, map = mrr,
/// precision = recall / K.
fn repeats(spec: &crate::spec::Spec, kind: MetricKind) -> Option<&'static str> {
    if spec.split.method != crate::split::SplitMethod::LeaveOneOut {
        return None;
    }
    let has = |k: MetricKind| spec.evaluation.metrics.contains(&k);
    match kind {
        MetricKind::HitRate if has(MetricKind::Recall) => Some("= recall"),
        MetricKind::Map if has(MetricKind::Mrr) => Some("= mrr"),
        MetricKind::Precision if has(MetricKind::Recall) => Some("= recall / K"),
        _ => None,
    }
}

/// Parameters, multiply-adds and times of each selected configuration.
fn cost_section(out: &mut String, report: &Report) {
    section(out, "Serving cost");
    let _ = writeln!(
        out,
        "Of each selected configuration. Multiply-adds are analytic, to score one average user against the whole catalogue. \
         Serving is the time to score one user against the catalogue and pick the top K with seen items excluded, \
         timed apart from training (trials running beside it still share the cores), after a warm-up, {} times per seed; \
         the median over seeds' medians and, in brackets, the fastest and slowest repetition. Fit times are wall-clock while trials share the cores.\n",
        crate::eval::ServingTime::REPEATS
    );
    let mut t = table(&[
        "model",
        "parameters",
        "multiply-adds / user",
        "fit (s)",
        "serving (µs / user)",
    ]);
    for row in &report.leaderboard {
        t.push_record([
            row.model.clone(),
            row.cost.parameters.to_string(),
            row.cost.madds_per_user.to_string(),
            format!("{:.2}", row.fit_seconds),
            row.serving.map_or_else(
                || {
                    format!(
                        "{:.1} (evaluation time; not timed apart)",
                        row.score_micros_per_user
                    )
                },
                |s| s.describe(),
            ),
        ]);
    }
    push_table(out, t);
    figures(out, report, Section::Cost);
}

/// Which swept values reached which model.
fn knobs_section(out: &mut String, report: &Report) {
    let record = &report.record;
    section(out, "Knobs");
    let _ = writeln!(
        out,
        "Which swept values reached which model. A knob a model does not have is skipped for it, without duplicate trials; one that cannot act in a configuration (\"no effect\") runs once there and is not counted as tested.\n"
    );
    if record.expansion.knobs.is_empty() {
        let _ = writeln!(
            out,
            "No knobs were swept: every model ran with its params.\n"
        );
    } else {
        let mut t = table(&KnobUsage::HEADER);
        for k in &record.expansion.knobs {
            t.push_record(k.row());
        }
        push_table(out, t);
    }
}

/// Every trial, then the errors of failed ones.
fn trials_section(out: &mut String, report: &Report) {
    let spec = &report.record.spec;
    let metric = report.selection_metric;
    section(out, "All trials");
    if report.trials.iter().any(|t| t.refit) {
        let _ = writeln!(
            out,
            "Rows whose seed says *refit* are the selected configurations retrained on train ∪ validation: \
             the leaderboard scores them, and they have no validation value.\n"
        );
    }
    let k = metric.k;
    let extra = [MetricKind::Recall, MetricKind::Coverage, MetricKind::Arp]
        .into_iter()
        .filter(|kind| spec.evaluation.metrics.contains(kind) && *kind != metric.kind)
        .map(|kind| MetricId { kind, k })
        .collect::<Vec<_>>();
    let mut header = vec![
        "trial".to_string(),
        "model".to_string(),
        "configuration".to_string(),
        "seed".to_string(),
        format!("validation {metric}"),
        format!("test {metric}"),
    ];
    header.extend(extra.iter().map(|m| format!("test {}", heading(*m))));
    header.push("fit (s)".to_string());
    let mut t = Builder::default();
    t.push_record(header);
    let mut failures = Vec::new();
    for row in &report.trials {
        let mut cells = vec![
            format!("`{}`", row.id),
            row.model.clone(),
            row.knobs.clone(),
            match row.refit {
                true => format!("{} refit", row.seed_index),
                false => row.seed_index.to_string(),
            },
        ];
        match &row.outcome {
            Outcome::Ok {
                validation,
                test,
                fit_seconds,
                ..
            } => {
                let get = |s: Option<&crate::eval::Summary>, m: MetricId| {
                    s.and_then(|s| s.get(m))
                        .map_or("—".to_string(), |v| value(m.kind, v.mean))
                };
                cells.push(get(validation.as_ref(), metric));
                cells.push(get(Some(test), metric));
                cells.extend(extra.iter().map(|m| get(Some(test), *m)));
                cells.push(format!("{fit_seconds:.2}"));
            }
            Outcome::Failed { error } => {
                failures.push((row.id.clone(), error.clone()));
                cells.push("failed".to_string());
                cells.extend(std::iter::repeat_n("—".to_string(), extra.len() + 2));
            }
        }
        t.push_record(cells);
    }
    push_table(out, t);
    if !failures.is_empty() {
        section(out, "Failed trials");
        for (id, error) in failures {
            // A program's stderr (external models) follows the first line:
            // kept as a block under the item, not as loose paragraphs.
            match error.split_once('\n') {
                Some((head, rest)) => {
                    let _ = writeln!(out, "- `{id}`: {head}\n\n  ```text");
                    for line in rest.lines() {
                        let _ = writeln!(out, "  {}", line.replace("```", "` ` `"));
                    }
                    let _ = writeln!(out, "  ```");
                }
                None => {
                    let _ = writeln!(out, "- `{id}`: {error}");
                }
            }
        }
        out.push('\n');
    }
}

/// The spec with every default filled in.
fn resolved_spec_section(out: &mut String, report: &Report) {
    let spec = &report.record.spec;
    section(out, "Resolved spec");
    let _ = writeln!(
        out,
        "Every default filled in; `recsweep run` on this spec reproduces these results.\n"
    );
    let yaml = serde_yaml::to_string(spec).expect("specs serialize");
    let _ = writeln!(out, "```yaml\n{}```", yaml);
}

/// The selected models beside the results published on the same data and
/// split, best first.
fn published_section(out: &mut String, report: &Report) {
    let Some(standing) = &report.published else {
        return;
    };
    section(out, "Published results on this split");
    let _ = writeln!(
        out,
        "recsweep's selected models (test, ± over users and seeds) beside the numbers published \
         on the same data and split, ordered by {}.\n",
        standing.order
    );
    let mut header = vec!["model".to_string(), "source".to_string()];
    header.extend(standing.metrics.iter().map(|m| heading(*m)));
    let mut t = Builder::default();
    t.push_record(header);
    for row in &standing.rows {
        let mut record = vec![
            match row.ours {
                true => format!("**{}**", row.model),
                false => row.model.clone(),
            },
            row.source.clone(),
        ];
        record.extend(
            standing
                .metrics
                .iter()
                .zip(&row.values)
                .map(|(m, v)| v.as_ref().map_or("—".into(), |s| summary(m.kind, s))),
        );
        t.push_record(record);
    }
    push_table(out, t);
    if let Some(sentence) = standing.sentence() {
        let _ = writeln!(out, "{sentence}\n");
    }
}

pub(super) fn section(out: &mut String, title: &str) {
    let _ = writeln!(out, "\n## {title}\n");
}

pub(super) fn table(header: &[&str]) -> Builder {
    let mut b = Builder::default();
    b.push_record(header.iter().map(|h| h.to_string()));
    b
}

pub(super) fn push_table(out: &mut String, builder: Builder) {
    let mut table = builder.build();
    table.with(Style::markdown());
    let _ = writeln!(out, "{table}\n");
}

fn heading(m: MetricId) -> String {
    match m.kind.direction() {
        Direction::Higher => m.to_string(),
        Direction::Lower => format!("{m} ↓"),
    }
}

pub(super) fn value(kind: MetricKind, v: f64) -> String {
    if !v.is_finite() {
        return "—".to_string();
    }
    match kind {
        MetricKind::Arp => format!("{v:.1}"),
        MetricKind::Novelty => format!("{v:.3}"),
        _ => format!("{v:.4}"),
    }
}

/// `0.185 ± 0.011`: the mean to the precision its interval supports.
pub(super) fn summary(kind: MetricKind, s: &MetricSummary) -> String {
    match s
        .ci95
        .filter(|ci| ci.is_finite() && *ci > 0.0 && s.mean.is_finite())
    {
        Some(ci) => format!(
            "{} ± {}",
            format_to_precision(s.mean, Some(ci)),
            format_to_precision(ci, Some(ci))
        ),
        None => value(kind, s.mean),
    }
}

/// `+0.0312 ▲ p=0.001`: the row minus the baseline, marked when the corrected
/// p-value is below alpha.
fn versus(report: &Report, model: &str, baseline: &str) -> String {
    if model == baseline {
        return "baseline".to_string();
    }
    let alpha = report.record.spec.compare.alpha;
    let kind = report.selection_metric.kind;
    find_pair(&report.pairs, model, baseline).map_or("—".to_string(), |(c, sign)| {
        let diff = sign * c.diff();
        format!(
            "{} {} p={}",
            signed_rounded(kind, diff, half(c)),
            marker(c.significant(alpha), diff),
            format_p(c.p_adjusted)
        )
    })
}

/// ▲ or ▼ for a significant difference by its sign, · for one that is not.
pub(super) fn marker(significant: bool, diff: f64) -> &'static str {
    match (significant, diff > 0.0) {
        (false, _) => "·",
        (true, true) => "▲",
        (true, false) => "▼",
    }
}

fn signed(kind: MetricKind, v: f64) -> String {
    let text = value(kind, v.abs());
    if v < 0.0 {
        format!("−{text}")
    } else {
        format!("+{text}")
    }
}

fn optional(v: Option<f64>, digits: usize) -> String {
    v.map_or("—".to_string(), |x| format!("{x:+.digits$}"))
}

/// Every pair of selected configurations, with the test and correction.
fn significance_section(out: &mut String, report: &Report) {
    let spec = &report.record.spec;
    let c = &spec.compare;
    let metric = report.selection_metric;
    let family = report.pairs.len()
        + report
            .sensitivity
            .iter()
            .filter(|s| s.best_vs_second.is_some())
            .count();
    section(out, "Significance");
    let _ = writeln!(
        out,
        "Paired `{}` tests over the test users on **{metric}**, over users and seeds: the users test runs on each configuration's per-user values averaged over its seeds, \
         and the variance between seeds that users do not explain is added (docs/statistics.md), so a model whose seeds disagree gets a wide interval. \
         p-values corrected with **{}** over the report's family of {family} comparisons (these pairs and the knob comparisons below); \
         significant when the corrected p < {}. Δ = A − B with its 95% interval; d_z is Cohen's effect size of paired differences. \
         *detectable* is the smallest |Δ| the comparison finds with {:.0}% power at the corrected level: a non-significant Δ whose interval holds 0 and lies within ±detectable \
         reads *no detectable difference*, any other non-significant Δ *inconclusive* (more users or seeds could tell).\n",
        c.test.as_str(),
        c.correction.as_str(),
        c.alpha,
        100.0 * POWER
    );
    if report.pairs.is_empty() {
        let _ = writeln!(
            out,
            "Fewer than two models have results: nothing to compare.\n"
        );
    } else {
        let mut t = table(&[
            "A",
            "B",
            "mean A",
            "mean B",
            "Δ (95% interval)",
            "relative",
            "d_z",
            "p corrected",
            "detectable",
            "verdict",
        ]);
        for p in &report.pairs {
            t.push_record([
                p.a.clone(),
                p.b.clone(),
                rounded(metric.kind, p.mean_a, half(p)),
                rounded(metric.kind, p.mean_b, half(p)),
                with_interval(metric.kind, p),
                p.relative_diff
                    .map_or("—".to_string(), |r| format!("{:+.1}%", 100.0 * r)),
                optional(p.cohens_dz, 3),
                format_p(p.p_adjusted),
                p.detectable.map_or("—".to_string(), |d| {
                    format!("±{}", rounded(metric.kind, d, half(p)))
                }),
                p.verdict(c.alpha, metric.kind.direction())
                    .as_str()
                    .to_string(),
            ]);
        }
        push_table(out, t);
    }
}

/// The half-width of Δ's 95% interval, which sets the precision of every
/// number in its row.
fn half(p: &Contrast) -> Option<f64> {
    p.interval()
        .map(|(lo, hi)| (hi - lo) / 2.0)
        .filter(|h| h.is_finite() && *h > 0.0)
}

/// `v` to the precision of an interval of half-width `half`, else as
/// [`value`] writes it.
fn rounded(kind: MetricKind, v: f64, half: Option<f64>) -> String {
    match half {
        Some(_) if v.is_finite() => format_to_precision(v, half),
        _ => value(kind, v),
    }
}

/// `+0.012` or `−0.004`: signed, to the precision of `half`.
fn signed_rounded(kind: MetricKind, v: f64, half: Option<f64>) -> String {
    let text = rounded(kind, v.abs(), half);
    match format_to_precision(v, half).starts_with('−') {
        true => format!("−{text}"),
        false => format!("+{text}"),
    }
}

/// `+0.012 (−0.004, +0.029)`: Δ with its interval over users and seeds,
/// to the precision the interval supports.
pub(super) fn with_interval(kind: MetricKind, p: &Contrast) -> String {
    match p.interval().filter(|_| half(p).is_some()) {
        Some((lo, hi)) => format!(
            "{} ({}, {})",
            signed_rounded(kind, p.diff(), half(p)),
            signed_rounded(kind, lo, half(p)),
            signed_rounded(kind, hi, half(p))
        ),
        None => signed(kind, p.diff()),
    }
}

/// Every pipeline configuration: its candidates, its ceiling, the ranker's
/// lift over the retriever with a paired test, and the cost of each stage.
/// Each swept knob's values and its best value against the runner-up.
fn sensitivity_section(out: &mut String, report: &Report) {
    let c = &report.record.spec.compare;
    let metric = report.selection_metric;
    section(out, "Knob sensitivity");
    let part = part_name(report);
    let sweep = match report.refits() {
        true => " Test values here are the sweep's trials, trained on train alone, not the refits the leaderboard shows, so they sit below it.",
        false => "",
    };
    let _ = writeln!(
        out,
        "For each swept knob of each model: the best configuration at each value (by {part} {metric}), its {part} and test {metric}; \
         then the value selected on {part} against the runner-up on test, with the same test, correction and verdicts as above \
         (*significantly worse on test* means {part} picked the wrong value: selection by noise).{sweep}\n"
    );
    selection_table(out, report);
    if report.sensitivity.is_empty() {
        let _ = writeln!(out, "No model had a knob with two or more values.\n");
        return;
    }
    let mut t = table(&[
        "model",
        "knob",
        "value",
        &format!("{part} {metric}"),
        &format!("test {metric}"),
        "best vs runner-up (test)",
    ]);
    for s in &report.sensitivity {
        let best = s
            .values
            .iter()
            .map(|v| v.value.as_str())
            .find(|v| s.best_vs_second.as_ref().is_some_and(|c| c.a == *v));
        for (i, knob_value) in s.values.iter().enumerate() {
            let (v, selection_value, test_value) =
                (&knob_value.value, &knob_value.selection, &knob_value.test);
            let verdict = match (&s.best_vs_second, Some(v.as_str()) == best) {
                (Some(cmp), true) => format!(
                    "selected; vs {}: {} p={} {}",
                    cmp.b,
                    with_interval(metric.kind, cmp),
                    format_p(cmp.p_adjusted),
                    match cmp.verdict(c.alpha, metric.kind.direction()) {
                        Verdict::Better => "significantly better",
                        Verdict::Worse => "**significantly worse on test**",
                        v => v.as_str(),
                    }
                ),
                _ => String::new(),
            };
            t.push_record([
                if i == 0 {
                    s.model.clone()
                } else {
                    String::new()
                },
                if i == 0 {
                    s.knob.clone()
                } else {
                    String::new()
                },
                v.clone(),
                value(metric.kind, *selection_value),
                value(metric.kind, *test_value),
                verdict,
            ]);
        }
    }
    push_table(out, t);
    let edges = crate::results::edge_phrases(&report.sensitivity);
    if !edges.is_empty() {
        let _ = writeln!(
            out,
            "**Selected on the edge of what was tried:** {}. The optimum may lie beyond; extend the grid (or the search space) past it.\n",
            edges.join("; ")
        );
    }
}

/// How often each model's selected configuration stays the best on
/// validation when its users and seeds are resampled.
fn selection_table(out: &mut String, report: &Report) {
    if report.selection.is_empty() {
        return;
    }
    let metric = report.selection_metric;
    let _ = writeln!(
        out,
        "**How sure the selection is:** the share of {} resamples of the validation users and of each configuration's seeds in which the selected configuration \
         still has the best validation {metric} among its model's configurations (ties shared). \
         1/n means the choice among n configurations was a draw; validation with few held-out items per user often selects by noise.\n",
        crate::stats::SELECTION_RESAMPLES
    );
    let mut t = table(&["model", "configurations", "P(selected is best)"]);
    for c in &report.selection {
        t.push_record([
            c.model.clone(),
            c.configurations.to_string(),
            format!("{:.2}", c.probability),
        ]);
    }
    push_table(out, t);
}

fn protocol_sections(out: &mut String, report: &Report) {
    let metric = report.selection_metric;
    let primary = report.record.spec.evaluation.protocol.primary();
    for a in &report.protocols {
        section(
            out,
            &format!("Protocol agreement: {} vs {primary}", a.protocol),
        );
        let tau = |t: Option<f64>| t.map_or("undefined".to_string(), |t| format!("{t:.3}"));
        let _ = writeln!(
            out,
            "Test {metric} of the selected configurations under both protocols. Kendall's τ-b between the two orderings: \
             **{}** over the {} selected models, **{}** over all {} configurations (1 = same order, −1 = reversed).\n",
            tau(a.tau_models),
            a.models.len(),
            tau(a.tau_configurations),
            a.configurations
        );
        let rank = |values: &[f64], v: f64| 1 + values.iter().filter(|&&x| x > v).count();
        let firsts: Vec<f64> = a.models.iter().map(|m| m.1).collect();
        let seconds: Vec<f64> = a.models.iter().map(|m| m.2).collect();
        let mut t = table(&["model", &primary.to_string(), "rank", &a.protocol, "rank"]);
        for (model, x, y) in &a.models {
            t.push_record([
                model.clone(),
                value(metric.kind, *x),
                rank(&firsts, *x).to_string(),
                value(metric.kind, *y),
                rank(&seconds, *y).to_string(),
            ]);
        }
        push_table(out, t);
    }
}

/// Links to a section's figures (SVG files next to the report).
/// Naive vs debiased vs true orders of the selected models.
fn orderings_section(out: &mut String, report: &Report) {
    let Some(o) = &report.orderings else {
        return;
    };
    let spec = &report.record.spec;
    let randomised = o.metrics.iter().any(|m| m.protocol.is_some());
    section(
        out,
        match randomised {
            true => "Biased holdout against randomised exposure",
            false => "Naive, debiased and true orders",
        },
    );
    let mut what = Vec::new();
    if let Some(p) = &spec.evaluation.propensity {
        what.push(format!(
            "The debiased metrics weight each hit by 1/p_i with propensities from train popularity, {}.",
            p.describe(report.record.propensity_fit.as_ref())
        ));
    }
    if o.metrics
        .iter()
        .any(|m| m.metric.kind.family() == Family::Truth)
    {
        let s = spec.dataset.synthetic();
        what.push(format!(
            "The truth metrics score each list by the synthetic generator's own preferences over the whole catalogue, not by the log: the log's exposure bias is {} (0 = users were shown every item).",
            crate::format::format_number(s.exposure_bias)
        ));
    }
    if randomised {
        what.push(format!(
            "Columns marked (randomised) rank the randomised-exposure test: {RANDOMISED}."
        ));
    }
    let _ = writeln!(
        out,
        "{} Test values of the selected configurations, each with its rank under that metric.
",
        what.join(" ")
    );
    let mut header = vec!["model".to_string()];
    for m in &o.metrics {
        header.push(match &m.protocol {
            None => heading(m.metric),
            Some(p) => format!("{} ({p})", heading(m.metric)),
        });
        header.push("rank".to_string());
    }
    let mut t = Builder::default();
    t.push_record(header);
    let rank = |c: usize, v: f64| 1 + o.models.iter().filter(|m| m.1[c] > v).count();
    for (model, values) in &o.models {
        let mut row = vec![model.clone()];
        for (c, (m, v)) in o.metrics.iter().zip(values).enumerate() {
            row.push(value(m.metric.kind, *v));
            row.push(rank(c, *v).to_string());
        }
        t.push_record(row);
    }
    push_table(out, t);
    let tau = |t: Option<f64>| t.map_or("undefined".to_string(), |t| format!("{t:.3}"));
    let _ = writeln!(
        out,
        "Kendall's τ-b between the orders (1 = same order, −1 = reversed), over the {} selected models and over all {} configurations:
",
        o.models.len(),
        o.configurations
    );
    let mut t = table(&["orders", "τ, selected models", "τ, all configurations"]);
    for p in &o.taus {
        t.push_record([
            format!("{} vs {}", p.first, p.second),
            tau(p.models),
            tau(p.configurations),
        ]);
    }
    push_table(out, t);
}

/// The feedback loop: how each configuration's rounds went, and its final
/// round against the baseline.
pub(super) fn figures(out: &mut String, report: &Report, section: Section) {
    for f in report.figures.iter().filter(|f| f.section == section) {
        let _ = writeln!(out, "![{}]({}/{})\n", f.title, report.figure_dir, f.file);
    }
}

fn bias_section(out: &mut String, report: &Report) {
    if !report.figures.iter().any(|f| f.section == Section::Bias) {
        return;
    }
    section(out, "Accuracy and popularity bias");
    let _ = writeln!(
        out,
        "Every trial's test accuracy against its popularity bias; the Pareto front joins the trials no other trial beats on both. \
         The long-tail plot shares out each selected model's recommendation slots over ten item-popularity deciles, next to how train interactions are shared: \
         a model above the train line in decile 1 amplifies popularity.\n"
    );
    figures(out, report, Section::Bias);
}

fn training_section(out: &mut String, report: &Report) {
    // Per selected configuration: the first seed's curve for the table, and
    // how many of its seeds ended still improving.
    let curves: Vec<(&str, &crate::models::TrainingCurve, usize, usize)> = report
        .leaderboard
        .iter()
        .filter_map(|row| {
            let seeds: Vec<&crate::models::TrainingCurve> =
                super::sweep_curves(&report.trials, row).collect();
            let improving = seeds.iter().filter(|c| c.still_improving).count();
            Some((row.model.as_str(), *seeds.first()?, improving, seeds.len()))
        })
        .collect();
    if curves.is_empty() {
        return;
    }
    section(out, "Training curves");
    let metric = report.selection_metric;
    let _ = writeln!(
        out,
        "Models trained in epochs log their mean training loss and validation {metric} after every epoch; \
         the weights kept are those of the best validation epoch (early stopping stops after `patience` epochs without improvement). \
         First seed of each selected configuration; *still improving* counts the seeds whose best epoch came within `patience` epochs of the epoch budget.\n"
    );
    let mut t = table(&[
        "model",
        "epochs run",
        "kept epoch",
        "stopped early",
        "still improving",
        "first loss",
        "last loss",
        &format!("best validation {metric}"),
    ]);
    for &(model, c, improving, seeds) in &curves {
        let best = c
            .epochs
            .iter()
            .filter_map(|e| e.validation)
            .fold(None, |b: Option<f64>, v| Some(b.map_or(v, |b| b.max(v))));
        t.push_record([
            model.to_string(),
            c.epochs.len().to_string(),
            c.kept_epoch.to_string(),
            if c.stopped_early { "yes" } else { "no" }.to_string(),
            format!("{improving} of {seeds}"),
            c.epochs
                .first()
                .map_or("—".into(), |e| format!("{:.4}", e.loss)),
            c.epochs
                .last()
                .map_or("—".into(), |e| format!("{:.4}", e.loss)),
            best.map_or("—".into(), |b| format!("{b:.4}")),
        ]);
    }
    push_table(out, t);
    let improving: Vec<String> = curves
        .iter()
        .filter(|(_, _, improving, _)| *improving > 0)
        .map(|(model, ..)| format!("`{model}`"))
        .collect();
    if !improving.is_empty() {
        let _ = writeln!(
            out,
            "**Still improving when training stopped:** {} reached the end of `epochs` with validation {metric} still rising within the patience window. \
             {}; raise `epochs` (early stopping keeps the best epoch, so a larger budget costs only time).\n",
            improving.join(", "),
            if improving.len() == 1 { "Its numbers may understate it" } else { "Their numbers may understate them" }
        );
    }
    figures(out, report, Section::Training);
}

fn embedding_section(out: &mut String, report: &Report) {
    if report.embedding.is_empty() {
        return;
    }
    section(out, "Embedding analysis");
    let k = report.embedding[0].k;
    let _ = writeln!(
        out,
        "For selected models with item embeddings: k-means clusters of the item vectors' directions (linfa), and two beyond-accuracy measures of the test top-{k} lists, \
         averaged over users and seeds: `cluster_coverage@{k}` (distinct clusters in a list / {k}) and `ild@{k}` (mean pairwise cosine distance of the list's items; \
         higher = less redundant). Definitions in docs/metrics.md. The maps project the item embeddings on their first two principal components, \
         shaded by popularity decile, showing whether popular items sit apart from the tail.\n"
    );
    let mut t = table(&[
        "model",
        "configuration",
        "clusters",
        &format!("cluster_coverage@{k}"),
        &format!("ild@{k}"),
        "PCA variance (2 axes)",
    ]);
    for row in &report.embedding {
        t.push_record([
            row.model.clone(),
            row.knobs.clone(),
            row.clusters.to_string(),
            format!("{:.4}", row.cluster_coverage),
            format!("{:.4}", row.ild),
            format!("{:.1}%", 100.0 * row.explained_variance),
        ]);
    }
    push_table(out, t);
    figures(out, report, Section::Embedding);
}

fn reproducibility_section(out: &mut String, report: &Report) {
    let record = &report.record;
    let spec = &record.spec;
    section(out, "Reproducibility");
    let mut seeds: Vec<u64> = record.expansion.trials.iter().map(|t| t.seed).collect();
    seeds.sort_unstable();
    seeds.dedup();
    let mut t = table(&["", "value"]);
    for (k, v) in [
        ("recsweep version", record.recsweep_version.clone()),
        (
            "git revision (last run)",
            record
                .run
                .as_ref()
                .map_or("not recorded".into(), |r| format!("`{}`", r.git_revision)),
        ),
        (
            "worker threads (last run)",
            record
                .run
                .as_ref()
                .map_or("not recorded".into(), |r| r.threads.to_string()),
        ),
        (
            "dataset fingerprint",
            format!("`{}`", record.dataset.fingerprint),
        ),
        ("results context", format!("`{}`", record.context)),
        ("spec seed", spec.seed.to_string()),
        ("seeds per configuration", spec.sweep.seeds.to_string()),
        ("distinct training seeds", seeds.len().to_string()),
    ] {
        t.push_record([k.to_string(), v]);
    }
    push_table(out, t);
    let _ = writeln!(
        out,
        "Numbers do not depend on the thread count. Each trial's seed is in its `trial.json`; \
         `recsweep run` on the resolved spec (in the appendix), with the same data file (same fingerprint), reproduces every number except timings.\n"
    );
}
