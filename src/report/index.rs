//! The reports index (`recsweep index`, reports/README.md): at the top the
//! project's question, two-tower retrieval or neural collaborative
//! filtering, answered from every experiment that compares the two, each
//! claim linked to its report; then one line per report with its question,
//! the first two sentences of its answer, the date and revision of its last
//! run.

use std::fmt::Write;

use super::{LeaderRow, Report};
use crate::format::format_to_precision;
use crate::results::{find_pair, Verdict};

/// One report of the index and where the index links it (relative to the
/// index file).
pub struct Entry {
    pub report: Report,
    pub link: String,
}

/// Model kinds the headline compares.
const TWO_TOWER: &str = "two_tower";
const NCF: &str = "ncf";

/// One experiment's two-tower against NCF: each side's best selected model
/// (the leaderboard's order) and the verdict on their difference.
struct Headline<'a> {
    entry: &'a Entry,
    tower: &'a LeaderRow,
    ncf: &'a LeaderRow,
    /// Two-tower minus NCF, its interval and its verdict (A = two-tower).
    diff: f64,
    interval: Option<(f64, f64)>,
    verdict: Verdict,
}

fn headline(entry: &Entry) -> Option<Headline<'_>> {
    let report = &entry.report;
    let best = |kind: &str| report.leaderboard.iter().find(|r| r.kind == kind);
    let (tower, ncf) = (best(TWO_TOWER)?, best(NCF)?);
    let (c, sign) = find_pair(&report.pairs, &tower.model, &ncf.model)?;
    let metric = report.selection_metric;
    let verdict = match (
        c.verdict(report.record.spec.compare.alpha, metric.kind.direction()),
        sign < 0.0,
    ) {
        (Verdict::Better, true) => Verdict::Worse,
        (Verdict::Worse, true) => Verdict::Better,
        (v, _) => v,
    };
    Some(Headline {
        entry,
        tower,
        ncf,
        diff: sign * c.diff(),
        interval: c.signed_interval(sign),
        verdict,
    })
}

/// "movielens, leave_one_out split, full ranking": the conditions a
/// verdict holds under.
fn setting(report: &Report) -> String {
    let spec = &report.record.spec;
    format!(
        "{} data, {} split, {} ranking",
        spec.dataset.source.as_str(),
        spec.split.method.as_str(),
        spec.evaluation.protocol.primary()
    )
}

/// Text for a markdown table cell: no pipes or line breaks.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// The index: the headline question's verdicts, then every report with
/// its question and answer.
pub fn render(entries: &[Entry]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# recsweep reports\n\nBuilt by `recsweep index` from the results of the shipped experiments (experiments/*.yaml); \
         rebuild it after rerunning them. Every claim links the report whose numbers support it.\n"
    );
    let _ = writeln!(
        out,
        "## Two-tower retrieval or neural collaborative filtering, and when?\n"
    );
    let headlines: Vec<Headline> = entries.iter().filter_map(headline).collect();
    if headlines.is_empty() {
        let _ = writeln!(
            out,
            "No experiment of this index compares a two_tower model with an ncf one.\n"
        );
    } else {
        let count = |v: Verdict| headlines.iter().filter(|h| h.verdict == v).count();
        let _ = writeln!(
            out,
            "{} experiment(s) compare the best selected two-tower with the best selected NCF model on their selection metric, \
             over users and seeds, corrected with the rest of each report's family: two-tower is significantly ahead in {}, \
             NCF in {}, and neither in {} ({} with no detectable difference, {} inconclusive). \
             Each verdict holds for its data, split and protocol; serving time is the median µs to score one user against the catalogue.\n",
            headlines.len(),
            count(Verdict::Better),
            count(Verdict::Worse),
            count(Verdict::NoDetectableDifference) + count(Verdict::Inconclusive),
            count(Verdict::NoDetectableDifference),
            count(Verdict::Inconclusive),
        );
        for h in &headlines {
            let _ = writeln!(out, "{}", headline_line(h));
        }
        let _ = writeln!(out);
    }
    let _ = writeln!(out, "## Every report\n");
    let _ = writeln!(out, "| report | question | answer | last run | revision |");
    let _ = writeln!(out, "|---|---|---|---|---|");
    for entry in entries {
        let _ = writeln!(out, "{}", report_row(entry));
    }
    out
}

/// One experiment's two-tower against NCF verdict, as a list item.
fn headline_line(h: &Headline) -> String {
    let report = &h.entry.report;
    let metric = report.selection_metric;
    let value = |row: &LeaderRow| {
        row.test
            .get(&metric)
            .map_or("—".to_string(), |s| match s.ci95 {
                Some(ci) if ci.is_finite() && ci > 0.0 => format!(
                    "{} ± {}",
                    format_to_precision(s.mean, Some(ci)),
                    format_to_precision(ci, Some(ci))
                ),
                _ => format_to_precision(s.mean, None),
            })
    };
    let half = h.interval.map(|(lo, hi)| (hi - lo) / 2.0);
    let interval = h.interval.map_or(String::new(), |(lo, hi)| {
        format!(
            " (95% interval {} to {})",
            format_to_precision(lo, half),
            format_to_precision(hi, half)
        )
    });
    let micros = |row: &LeaderRow| {
        row.serving
            .as_ref()
            .map_or("—".to_string(), |s| format!("{:.0} µs", s.median_micros))
    };
    let verdict = match h.verdict {
        Verdict::Better => "two-tower significantly ahead",
        Verdict::Worse => "NCF significantly ahead",
        Verdict::NoDetectableDifference => "no detectable difference",
        Verdict::Inconclusive => "inconclusive",
    };
    format!(
        "- [{name}]({link}) ({setting}{incomplete}): **{verdict}** on {metric}: {tower} {tv} against {ncf} {nv}, Δ {diff}{interval}; serving {ts} against {ns}.",
        incomplete = if report.missing > 0 { ", incomplete run" } else { "" },
        name = report.record.spec.name,
        link = h.entry.link,
        setting = setting(report),
        tower = h.tower.model,
        tv = value(h.tower),
        ncf = h.ncf.model,
        nv = value(h.ncf),
        diff = format_to_precision(h.diff, half),
        ts = micros(h.tower),
        ns = micros(h.ncf),
    )
}

/// One report's row of the "Every report" table.
fn report_row(entry: &Entry) -> String {
    let report = &entry.report;
    let run = report.record.run.as_ref();
    // The experiment's own finding and the leaderboard's: the first two
    // of the opening's sentences.
    let mut answer = match report.summary.is_empty() {
        true => "—".to_string(),
        false => report.summary[..report.summary.len().min(2)].join(" "),
    };
    if report.missing > 0 {
        answer = format!(
            "*Incomplete: {} trials not stored yet.* {answer}",
            report.missing
        );
    }
    format!(
        "| [{}]({}) | {} | {} | {} | {} |",
        report.record.spec.name,
        entry.link,
        cell(report.record.spec.question.as_deref().unwrap_or("—")),
        cell(&answer),
        run.and_then(|r| r.date.as_deref()).unwrap_or("—"),
        run.map_or("—".to_string(), |r| format!("`{}`", r.git_revision)),
    )
}
