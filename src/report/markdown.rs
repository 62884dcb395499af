//! The formatting every report section shares: headings, tables (via
//! tabled), values rounded to their interval, verdict markers, figure
//! links. No timestamps, so the same results give the same bytes.

use std::fmt::Write;

use tabled::builder::Builder;
use tabled::settings::Style;

use super::{Contrast, Report, Section};
use crate::eval::{Direction, MetricId, MetricKind, MetricSummary};
use crate::format::format_to_precision;

/// "validation" or "test": where configurations were selected.
pub(super) fn part_name(report: &Report) -> &'static str {
    report.selected_on.as_str()
}

/// What the randomised protocol ranks, in words.
pub(super) const RANDOMISED: &str = "**randomised exposure**: each user's items shown uniformly at random from the catalogue \
     (`dataset.random_test`), ranked among themselves; positives are the shown items the user took, labelled by the synthetic generator's \
     true relevance, so no system shaped what was seen and the plain metrics need no propensities (docs/metrics.md, \"Randomised exposure\")";

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

pub(super) fn heading(m: MetricId) -> String {
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

/// ▲ or ▼ for a significant difference by its sign, · for one that is not.
pub(super) fn marker(significant: bool, diff: f64) -> &'static str {
    match (significant, diff > 0.0) {
        (false, _) => "·",
        (true, true) => "▲",
        (true, false) => "▼",
    }
}

pub(super) fn signed(kind: MetricKind, v: f64) -> String {
    let text = value(kind, v.abs());
    if v < 0.0 {
        format!("−{text}")
    } else {
        format!("+{text}")
    }
}

pub(super) fn optional(v: Option<f64>, digits: usize) -> String {
    v.map_or("—".to_string(), |x| format!("{x:+.digits$}"))
}

/// The half-width of Δ's 95% interval, which sets the precision of every
/// number in its row.
pub(super) fn half(p: &Contrast) -> Option<f64> {
    p.interval()
        .map(|(lo, hi)| (hi - lo) / 2.0)
        .filter(|h| h.is_finite() && *h > 0.0)
}

/// `v` to the precision of an interval of half-width `half`, else as
/// [`value`] writes it.
pub(super) fn rounded(kind: MetricKind, v: f64, half: Option<f64>) -> String {
    match half {
        Some(_) if v.is_finite() => format_to_precision(v, half),
        _ => value(kind, v),
    }
}

/// `+0.012` or `−0.004`: signed, to the precision of `half`.
pub(super) fn signed_rounded(kind: MetricKind, v: f64, half: Option<f64>) -> String {
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

/// The feedback loop: how each configuration's rounds went, and its final
/// round against the baseline.
pub(super) fn figures(out: &mut String, report: &Report, section: Section) {
    for f in report.figures.iter().filter(|f| f.section == section) {
        let _ = writeln!(out, "![{}]({}/{})\n", f.title, report.figure_dir, f.file);
    }
}
