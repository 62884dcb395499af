//! The report's and the appendix's sections in reading order. Each section
//! is a file of its own whose `render` writes its markdown from the
//! [`Report`] (and returns nothing when it does not apply): adding one is
//! that file and a line here.

use std::fmt::Write;

use super::{
    bias, cost, dataset, embedding, introduction, knobs, leaderboard, orderings, protocols,
    published, reproducibility, resolved_spec, sensitivity, significance, simulation, stages,
    training, trials, tuning, Report,
};

type Render = fn(&mut String, &Report);

/// The report, in order: what was asked and answered, then the evidence.
const REPORT: [Render; 14] = [
    introduction::render,
    dataset::render,
    leaderboard::render,
    published::render,
    significance::render,
    tuning::render,
    sensitivity::render,
    stages::render,
    protocols::render,
    orderings::render,
    simulation::render,
    bias::render,
    cost::render,
    reproducibility::render,
];

/// The appendix: what a reader checks rather than reads (which knob reached
/// which model, every trial, training curves, embedding maps, the resolved
/// spec), in its own file beside the report so the report stays short.
const APPENDIX: [Render; 5] = [
    knobs::render,
    trials::render,
    training::render,
    embedding::render,
    resolved_spec::render,
];

pub fn render(report: &Report) -> String {
    let mut out = String::new();
    for section in REPORT {
        section(&mut out, report);
    }
    out
}

pub fn render_appendix(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# recsweep report appendix: {}

Details behind [the report]({}).",
        report.record.spec.name, report.file
    );
    for section in APPENDIX {
        section(&mut out, report);
    }
    out
}
