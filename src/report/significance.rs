//! The significance section: every pair of selected models on the selection metric.

use std::fmt::Write;

use super::markdown::{half, optional, push_table, rounded, section, table, with_interval};
use super::Report;
use crate::format::format_p;
use crate::results::POWER;

/// Every pair of selected configurations, with the test and correction.
pub(super) fn render(out: &mut String, report: &Report) {
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
