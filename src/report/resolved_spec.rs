//! The appendix's resolved spec.

use std::fmt::Write;

use super::markdown::section;
use super::Report;

/// The spec with every default filled in.
pub(super) fn render(out: &mut String, report: &Report) {
    let spec = &report.record.spec;
    section(out, "Resolved spec");
    let _ = writeln!(
        out,
        "Every default filled in; `recsweep run` on this spec reproduces these results.\n"
    );
    let yaml = serde_yaml::to_string(spec).expect("specs serialize");
    let _ = writeln!(out, "```yaml\n{}```", yaml);
}
