//! `recsweep init` tells a log's layout and columns apart and writes a
//! starter spec that `validate` accepts and `run` completes, on every loader
//! fixture and on made-up column namings.

use std::fmt::Write as _;
use std::path::Path;

mod common;

use common::recsweep;

/// `init DATA -o spec.yaml`, then `run` (validation included): both succeed.
fn init_and_run(dir: &Path, data: &str) -> String {
    let init = recsweep(dir, &["init", data, "-o", "spec.yaml", "--force"]);
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    let spec = std::fs::read_to_string(dir.join("spec.yaml")).unwrap();
    let run = common::run_setting(dir, "report.path=report.md");
    assert!(
        run.status.success(),
        "{data}: {}\n{spec}",
        String::from_utf8_lossy(&run.stderr)
    );
    spec
}

/// A made-up log: 120 users × 60 items, 15 interactions each, with the
/// given header (or none) and a row writer.
fn made_up(header: Option<&str>, row: impl Fn(usize, usize, usize) -> String) -> String {
    let mut text = String::new();
    if let Some(h) = header {
        let _ = writeln!(text, "{h}");
    }
    for u in 0..120 {
        for k in 0..15 {
            let i = (u * 7 + k * 11) % 60;
            let _ = writeln!(text, "{}", row(u, i, k));
        }
    }
    text
}

#[test]
fn loader_fixtures_get_specs_that_run() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    for (file, expect) in [
        ("clicks.csv", "user: visitor"),
        ("ratings.csv", "source: movielens"),
        ("ratings.dat", "source: movielens"),
        ("udata_layout.tsv", "source: movielens"),
        ("semicolon_no_header.txt", "separator: ;"),
        ("events.parquet", "timestamp: ts"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let data = root.join(file).display().to_string();
        let spec = init_and_run(dir.path(), &data);
        assert!(spec.contains(expect), "{file}:\n{spec}");
    }
}

#[test]
fn made_up_column_namings_are_told_apart() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "visits.csv",
            made_up(Some("visitor_id,sku,stars,ts"), |u, i, k| {
                format!(
                    "v{u},sku-{i},{},{}",
                    1 + (u + i) % 5,
                    1_700_000_000 + k * 60
                )
            }),
            vec![
                "user: visitor_id",
                "item: sku",
                "rating: stars",
                "timestamp: ts",
                "min_rating",
            ],
        ),
        (
            "plays.tsv",
            made_up(None, |u, i, k| {
                format!("listener{u}\ttrack{i}\t{}", 1_600_000_000 + k)
            }),
            vec![
                "header: false",
                "user: 0",
                "item: 1",
                "timestamp: 2",
                "by position",
            ],
        ),
        (
            "orders.txt",
            made_up(Some("customer;product_code;order_date"), |u, i, k| {
                format!("c{u};p{i};2024-01-{:02}", 1 + k)
            }),
            vec![
                "separator: ;",
                "user: customer",
                "item: product_code",
                "timestamp: order_date",
            ],
        ),
        // A purchase export with date-times, rows not in time order.
        (
            "purchases.csv",
            made_up(Some("customer,sku,purchased_at"), |u, i, k| {
                format!(
                    "c{u},s{i},2024-04-{:02} {:02}:50:12",
                    28 - (k * 7) % 15,
                    k % 24
                )
            }),
            vec!["timestamp: purchased_at", "method: leave_one_out"],
        ),
        // No timestamps, rows sorted by item: a random holdout, not the
        // last row (the highest item id) of each user.
        (
            "likes.csv",
            made_up(Some("user_id,item_id"), |u, i, _| format!("u{u},i{i}")),
            vec!["method: random_holdout", "test_fraction: 0.2"],
        ),
    ];
    for (name, text, expected) in cases {
        std::fs::write(dir.path().join(name), text).unwrap();
        let spec = init_and_run(dir.path(), name);
        for e in expected {
            assert!(spec.contains(e), "{name}: expected `{e}` in\n{spec}");
        }
    }
}

#[test]
fn an_unknown_column_is_named_by_validate_and_init_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("one.csv"),
        "when,score\n1700000000,3\n1700000100,4\n",
    )
    .unwrap();
    let init = recsweep(dir.path(), &["init", "one.csv", "-o", "spec.yaml"]);
    assert!(init.status.success());
    // The first line names the schema, written beside the spec for the
    // editor and equal to what `recsweep schema` prints.
    let spec = std::fs::read_to_string(dir.path().join("spec.yaml")).unwrap();
    assert!(
        spec.starts_with("# yaml-language-server: $schema=recsweep.schema.json\n"),
        "{spec}"
    );
    let written = std::fs::read_to_string(dir.path().join("recsweep.schema.json")).unwrap();
    let printed = recsweep(dir.path(), &["schema"]);
    assert_eq!(String::from_utf8_lossy(&printed.stdout), written);
    let validate = recsweep(dir.path(), &["validate", "spec.yaml"]);
    assert_eq!(validate.status.code(), Some(2));
    let err = String::from_utf8_lossy(&validate.stderr);
    assert!(
        err.contains("CHOOSE_A_COLUMN") && err.contains("not found"),
        "{err}"
    );
    let again = recsweep(dir.path(), &["init", "one.csv", "-o", "spec.yaml"]);
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));
}
