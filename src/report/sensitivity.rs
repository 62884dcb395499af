//! The knob-sensitivity section and how sure each selection is.

use std::fmt::Write;

use super::markdown::{figures, part_name, push_table, section, table, value, with_interval};
use super::{Report, Section};
use crate::format::format_p;
use crate::results::Verdict;

/// Every pipeline configuration: its candidates, its ceiling, the ranker's
/// lift over the retriever with a paired test, and the cost of each stage.
/// Each swept knob's values and its best value against the runner-up.
/// The section, then the knob figures (drawn even where no knob had two
/// values: they show every swept value).
pub(super) fn render(out: &mut String, report: &Report) {
    tables(out, report);
    figures(out, report, Section::Knobs);
}

fn tables(out: &mut String, report: &Report) {
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
    let seeds = match report.record.spec.selection.folds {
        Some(k) => {
            format!("replicates (seeds over {k} validation folds; users matched across folds)")
        }
        None => "seeds".to_string(),
    };
    let _ = writeln!(
        out,
        "**How sure the selection is:** the share of {} resamples of the validation users and of each configuration's {seeds} in which the selected configuration \
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
