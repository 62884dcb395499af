//! The reproducibility section: versions, fingerprint and seeds.

use std::fmt::Write;

use super::markdown::{push_table, section, table};
use super::Report;

pub(super) fn render(out: &mut String, report: &Report) {
    let record = &report.record;
    let spec = &record.spec;
    section(out, "Reproducibility");
    let mut seeds: Vec<u64> = record.expansion.trials.iter().map(|t| t.seed).collect();
    seeds.sort_unstable();
    seeds.dedup();
    let mut t = table(&["", "value"]);
    for (k, v) in [
        ("recsweep version", record.recsweep_version.clone()),
        (
            "git revision (last run)",
            record
                .run
                .as_ref()
                .map_or("not recorded".into(), |r| format!("`{}`", r.git_revision)),
        ),
        (
            "worker threads (last run)",
            record
                .run
                .as_ref()
                .map_or("not recorded".into(), |r| r.threads.to_string()),
        ),
        (
            "dataset fingerprint",
            format!("`{}`", record.dataset.fingerprint),
        ),
        ("results context", format!("`{}`", record.context)),
        ("spec seed", spec.seed.to_string()),
        ("seeds per configuration", spec.sweep.seeds.to_string()),
        ("distinct training seeds", seeds.len().to_string()),
    ] {
        t.push_record([k.to_string(), v]);
    }
    push_table(out, t);
    let _ = writeln!(
        out,
        "Numbers do not depend on the thread count. Each trial's seed is in its `trial.json`; \
         `recsweep run` on the resolved spec (in the appendix), with the same data file (same fingerprint), reproduces every number except timings.\n"
    );
}
