//! The accuracy-against-popularity-bias section (figures only).

use std::fmt::Write;

use super::markdown::{figures, section};
use super::{Report, Section};

pub(super) fn render(out: &mut String, report: &Report) {
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
