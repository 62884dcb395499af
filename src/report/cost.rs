//! The serving-cost section.

use std::fmt::Write;

use super::markdown::{figures, push_table, section, table};
use super::{Report, Section};

/// Parameters, multiply-adds and times of each selected configuration.
pub(super) fn render(out: &mut String, report: &Report) {
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
