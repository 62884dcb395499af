//! Every loader on small fixtures shipped under tests/fixtures (made-up
//! logs in each layout; no MovieLens data), and their error messages.

use recsweep::data::{load, DatasetStats, Interactions};
use recsweep::spec::DatasetSpec;

fn load_yaml(yaml: &str) -> Result<(Interactions, DatasetStats), String> {
    let spec: DatasetSpec = serde_yaml::from_str(yaml).unwrap();
    load(&spec).map_err(|e| e.to_string())
}

#[test]
fn movielens_u_data_with_threshold() {
    let (data, stats) = load_yaml(
        "{source: movielens, path: tests/fixtures/udata_layout.tsv, positive: {min_rating: 4}}",
    )
    .unwrap();
    assert_eq!(stats.rows_read, 7);
    assert_eq!(stats.below_min_rating, 2);
    assert_eq!(data.len(), 5);
    assert_eq!(data.user_labels, ["1", "2", "3"]);
    assert_eq!(data.item_labels, ["10", "30"]);
    assert_eq!(
        data.timestamps.as_deref(),
        Some(&[100, 102, 103, 105, 106][..])
    );
}

#[test]
fn movielens_dat_and_csv_layouts_are_detected() {
    let (dat, _) = load_yaml("{source: movielens, path: tests/fixtures/ratings.dat}").unwrap();
    assert_eq!(dat.len(), 5);
    assert_eq!(dat.ratings.as_ref().unwrap()[2], 4.5);
    assert_eq!(dat.item_labels, ["10", "20", "30"]);
    let (csv, _) = load_yaml(
        "{source: movielens, path: tests/fixtures/ratings.csv, positive: {min_rating: 4.0}}",
    )
    .unwrap();
    assert_eq!(csv.len(), 3);
    assert_eq!(csv.timestamps.as_deref(), Some(&[100, 102, 103][..]));
}

#[test]
fn generic_csv_with_string_ids_and_header() {
    let (data, stats) = load_yaml(
        "{source: csv, path: tests/fixtures/clicks.csv, columns: {user: visitor, item: product, timestamp: clicked_at}}",
    )
    .unwrap();
    assert_eq!(data.user_labels, ["alice", "bob", "carol"]);
    assert_eq!(data.item_labels, ["sku-10", "sku-9"]);
    assert_eq!(data.users, [0, 1, 0, 2, 1]);
    assert!(data.ratings.is_none());
    assert_eq!(stats.interactions, 5);
}

#[test]
fn headerless_file_with_custom_separator_and_positions() {
    let (data, _) = load_yaml(
        "{source: csv, path: tests/fixtures/semicolon_no_header.txt, header: false, separator: ';', columns: {user: 0, item: 1}}",
    )
    .unwrap();
    assert_eq!(data.user_labels, ["u7", "u8"]);
    assert_eq!(data.len(), 3);
}

#[test]
fn parquet_with_mixed_id_types() {
    let (data, _) = load_yaml(
        "{source: parquet, path: tests/fixtures/events.parquet, columns: {user: uid, item: iid, rating: score, timestamp: ts}, positive: {min_rating: 2.0}}",
    )
    .unwrap();
    assert_eq!(data.user_labels, ["5", "6", "7"]);
    assert_eq!(data.item_labels, ["x", "y", "z"]);
    assert_eq!(data.timestamps.as_deref(), Some(&[1, 2, 4][..]));
}

#[test]
fn filters_apply_to_loaded_data() {
    let (data, stats) = load_yaml(
        "{source: movielens, path: tests/fixtures/udata_layout.tsv, filter: {min_user_interactions: 3}}",
    )
    .unwrap();
    assert_eq!(data.user_labels, ["1"]);
    assert_eq!(stats.filtered, 4);
}

#[test]
fn bad_files_get_errors_that_name_file_and_fix() {
    let err = load_yaml("{source: movielens, path: tests/fixtures/nope.data}").unwrap_err();
    assert!(
        err.contains("cannot open tests/fixtures/nope.data"),
        "{err}"
    );
    let err = load_yaml("{source: movielens, path: tests/fixtures/clicks.csv}").unwrap_err();
    assert!(
        err.contains("tests/fixtures/clicks.csv: not a MovieLens ratings file"),
        "{err}"
    );
    let err = load_yaml(
        "{source: csv, path: tests/fixtures/clicks.csv, columns: {user: user, item: product}}",
    )
    .unwrap_err();
    assert!(
        err.contains("column `user` not found") && err.contains("visitor, product, clicked_at"),
        "{err}"
    );
    let err = load_yaml("{source: csv, path: tests/fixtures/bad_rating.csv, columns: {user: user, item: item, rating: rating}}").unwrap_err();
    assert!(
        err.contains("bad_rating.csv") && err.contains("column `rating` must be numeric"),
        "{err}"
    );
    let err = load_yaml("{source: csv, path: tests/fixtures/clicks.csv, columns: {user: visitor, item: product}, positive: {min_rating: 1}}").unwrap_err();
    assert!(err.contains("needs ratings"), "{err}");
    let err = load_yaml(
        "{source: parquet, path: tests/fixtures/clicks.csv, columns: {user: a, item: b}}",
    )
    .unwrap_err();
    assert!(err.contains("not a readable Parquet file"), "{err}");
}

/// ISO 8601 dates and date-times (zoned or not) are read as Unix seconds,
/// so a shuffled export orders by time; a cell that is no time is an error
/// naming its line and the accepted forms.
#[test]
fn iso_8601_timestamps_are_read_as_unix_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("purchases.csv");
    std::fs::write(
        &path,
        "customer,sku,purchased_at\n\
         c1,s2,2024-04-25 22:50:12\n\
         c1,s1,2024-04-25T20:50:12Z\n\
         c2,s3,2024-04-26T00:50:12+02:00\n\
         c2,s1,2024-04-24\n",
    )
    .unwrap();
    let yaml = |p: &std::path::Path| {
        format!(
            "{{source: csv, path: '{}', columns: {{user: customer, item: sku, timestamp: purchased_at}}}}",
            p.display()
        )
    };
    let (data, _) = load_yaml(&yaml(&path)).unwrap();
    // `date -u -d '2024-04-25 22:50:12' +%s` and the same instant in the
    // other forms.
    assert_eq!(
        data.timestamps.unwrap(),
        [1_714_085_412, 1_714_078_212, 1_714_085_412, 1_713_916_800]
    );
    let bad = dir.path().join("bad.csv");
    std::fs::write(
        &bad,
        "customer,sku,purchased_at\nc1,s1,2024-04-25\nc1,s2,25/04/2024\n",
    )
    .unwrap();
    let err = load_yaml(&yaml(&bad)).unwrap_err();
    assert!(
        err.contains("bad.csv")
            && err.contains("line 3")
            && err.contains("`25/04/2024`, not a timestamp")
            && err.contains("ISO 8601"),
        "{err}"
    );
}

/// The NGCF/LightGCN Gowalla split from ../shared/datasets (present in CI;
/// skipped with a printed reason elsewhere) has the shape its README and
/// the papers give.
#[test]
fn gowalla_has_its_published_shape() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/datasets/gowalla");
    if !dir.join("train.txt").exists() {
        println!(
            "skipped: {} is absent (Gowalla is only present in CI)",
            dir.display()
        );
        return;
    }
    let spec: DatasetSpec = serde_yaml::from_str("{source: adjacency}").unwrap();
    let (train, test) = (dir.join("train.txt"), dir.join("test.txt"));
    let (data, stats) =
        recsweep::data::load_files(&spec, &[("train", &train), ("test", &test)]).unwrap();
    assert_eq!(
        (data.n_users(), data.n_items(), stats.rows_read),
        (29_858, 40_981, 810_128 + 217_242)
    );
    let parts = data.parts.as_ref().unwrap();
    assert_eq!(parts.iter().filter(|&&p| p == 0).count(), 810_128);
}
