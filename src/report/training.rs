//! The appendix's training curves.

use std::fmt::Write;

use super::markdown::{figures, push_table, section, table};
use super::{Report, Section};

pub(super) fn render(out: &mut String, report: &Report) {
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
