//! The dataset and split section, with the feature tables.

use std::fmt::Write;

use super::markdown::{push_table, section, table};
use super::Report;

/// Dataset statistics and the split.
pub(super) fn render(out: &mut String, report: &Report) {
    let record = &report.record;
    let spec = &report.record.spec;
    section(out, "Dataset and split");
    let d = &record.dataset;
    let s = &record.split;
    let mut t = table(&["", "value"]);
    for (k, v) in [
        (
            "source",
            match spec.dataset.source.as_str() {
                name if name == d.source => name.to_string(),
                name => format!("{name} ({})", d.source),
            },
        ),
        ("rows read", d.rows_read.to_string()),
        ("below min_rating", d.below_min_rating.to_string()),
        ("duplicate (user, item) rows", d.duplicates.to_string()),
        ("removed by filters", d.filtered.to_string()),
        ("users", d.users.to_string()),
        ("items", d.items.to_string()),
        ("interactions", d.interactions.to_string()),
        ("density", format!("{:.4}%", 100.0 * d.density)),
        ("item popularity Gini", format!("{:.3}", d.popularity_gini)),
        ("fingerprint", format!("`{}`", d.fingerprint)),
    ] {
        t.push_record([k.to_string(), v]);
    }
    push_table(out, t);
    let mut t = table(&["split", "value"]);
    let optional = |v: Option<usize>| v.map_or("—".to_string(), |v| v.to_string());
    for (k, v) in [
        ("method", s.method.clone()),
        ("ordered by", s.ordered_by.clone()),
        ("train interactions", s.train_interactions.to_string()),
        (
            "validation interactions",
            optional(s.validation_interactions),
        ),
        ("test interactions", s.test_interactions.to_string()),
        ("evaluated users (test)", s.test_users.to_string()),
        ("evaluated users (validation)", optional(s.validation_users)),
        (
            "users without a test item (not evaluated)",
            s.users_without_test.to_string(),
        ),
        ("cold users dropped", s.cold_users_dropped.to_string()),
    ] {
        t.push_record([k.to_string(), v]);
    }
    push_table(out, t);
    // Rows of the cold-start and files splits only.
    let side = spec.split.cold_side().map_or("", |s| s.as_str());
    let cold = s
        .cold_test
        .map(|n| (format!("{side} held out for test (cold)"), n.to_string()));
    let candidates = spec.split.candidates.map(|c| {
        let what = match c {
            crate::split::ColdCandidates::Cold => "the cold test items only",
            crate::split::ColdCandidates::All => "every item the user has not interacted with",
        };
        (
            "a user's cold items ranked among".to_string(),
            what.to_string(),
        )
    });
    let without = |n: usize, what: &str| {
        (n > 0).then(|| {
            (
                format!("{what} with held-out but no train interactions (kept, evaluated)"),
                n.to_string(),
            )
        })
    };
    let extra: Vec<(String, String)> = [
        cold,
        candidates,
        without(s.users_without_train, "users"),
        without(s.items_without_train, "items"),
    ]
    .into_iter()
    .flatten()
    .collect();
    if !extra.is_empty() {
        let mut t = table(&["cold start", "value"]);
        for (k, v) in extra {
            t.push_record([k, v]);
        }
        push_table(out, t);
    }
    features_tables(out, report);
}

/// The feature tables read and which columns each model used.
fn features_tables(out: &mut String, report: &Report) {
    let record = &report.record;
    if record.features.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "Feature tables (docs/spec.md, \"Features\"); token 0 of every column is \"unknown\":\n"
    );
    let mut t = table(&["side", "column", "type", "values", "missing", "file"]);
    for side in &record.features {
        for c in &side.columns {
            t.push_record([
                side.side.as_str().to_string(),
                c.name.clone(),
                c.kind.as_str().to_string(),
                if c.values == 0 {
                    "—".to_string()
                } else {
                    c.values.to_string()
                },
                c.missing.to_string(),
                format!(
                    "{} ({} rows, {} not in the log, {} ids without a row)",
                    side.table.path,
                    side.table.rows,
                    side.table.rows_not_in_log,
                    side.table.ids_without_row
                ),
            ]);
        }
    }
    push_table(out, t);
    let rows = super::features::rows(record);
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "What each model read (an entity without train interactions uses no id embedding):\n"
    );
    let mut t = table(&["model", "id embeddings", "user features", "item features"]);
    let list = |v: &[String]| {
        if v.is_empty() {
            "—".to_string()
        } else {
            v.join(", ")
        }
    };
    for r in rows {
        t.push_record([r.model, r.ids, list(&r.users), list(&r.items)]);
    }
    push_table(out, t);
}
