//! The appendix's knobs section: which swept values reached which model.

use std::fmt::Write;

use super::markdown::{push_table, section, table};
use super::Report;
use crate::sweep::KnobUsage;

/// Which swept values reached which model.
pub(super) fn render(out: &mut String, report: &Report) {
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
