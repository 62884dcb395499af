//! Feature tables, cold-start splits and bring-your-own split files, end to
//! end through the CLI on tiny fixtures written here (no MovieLens rows).

use std::path::Path;
mod common;

use common::{bad_input, recsweep, text};

/// A report with runs of spaces collapsed (table cells are padded).
fn report(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(format!("reports/{name}.md")))
        .unwrap()
        .split(' ')
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// 24 users and 16 items in two genres; users 0–11 like genre a (items
/// 0–7), users 12–23 genre b (items 8–15); RecBole atomic user and item
/// files with a token, a token_seq and a float column.
fn fixture(dir: &Path) {
    let mut log = String::from("user\titem\n");
    for u in 0..24u32 {
        let base = if u < 12 { 0 } else { 8 };
        for k in 0..5u32 {
            log.push_str(&format!("{}\t{}\n", u + 1, base + (u + k) % 8 + 1));
        }
    }
    std::fs::write(dir.join("log.tsv"), log).unwrap();
    let mut items = String::from("item_id:token\tgenre:token_seq\tyear:float\ttitle:token_seq\n");
    for i in 0..16u32 {
        let genre = if i < 8 { "a" } else { "b" };
        items.push_str(&format!("{}\t{genre} x\t{}\tmovie {i}\n", i + 1, 1990 + i));
    }
    // A row for an item not in the log: ignored and counted.
    items.push_str("99\ta\t2000\tnone\n");
    std::fs::write(dir.join("f.item"), items).unwrap();
    let mut users = String::from("user_id:token\tgroup:token\n");
    for u in 0..24u32 {
        users.push_str(&format!(
            "{}\t{}\n",
            u + 1,
            if u < 12 { "g1" } else { "g2" }
        ));
    }
    std::fs::write(dir.join("f.user"), users).unwrap();
}

const DATASET: &str =
    "dataset:\n  source: tsv\n  path: log.tsv\n  columns: {user: user, item: item}\n  \
features:\n    users: {path: f.user}\n    items: {path: f.item, skip: [title]}\n";

const TOWER: &str = "{dim: 4, hidden: [], epochs: 3, batch_size: 16, learning_rate: 0.05}";

#[test]
fn a_cold_item_split_runs_feature_models_and_lists_the_ones_it_cannot() {
    let dir = tempfile::tempdir().unwrap();
    fixture(dir.path());
    let spec = format!(
        "name: cold\nseed: 3\n{DATASET}split: {{method: cold_items, test_fraction: 0.25}}\n\
evaluation: {{cutoffs: [3, 10]}}\nmodels:\n  - model: random\n  - model: most_pop\n  - model: ease\n  \
- model: two_tower\n    params: {TOWER}\n    sweep:\n      features: [[], all]\n  \
- name: item_features\n    model: two_tower\n    params: {{ids: users, dim: 4, hidden: [], epochs: 3, batch_size: 16}}\n  \
- model: dcn\n    params: {{ids: false, dim: 4, hidden: [4], epochs: 2, batch_size: 16}}\n"
    );
    std::fs::write(dir.path().join("spec.yaml"), spec).unwrap();
    let out = recsweep(
        dir.path(),
        &["run", "spec.yaml", "--quiet", "--results", "res"],
    );
    assert!(out.status.success(), "{}", text(&out));
    let report = report(dir.path(), "cold");
    for expected in [
        "**Not run**: most_pop: cannot score items without train interactions",
        "**Not run**: ease: cannot score items",
        "**Not run**: two_tower (features=[]): cannot score items",
        "items held out for test (cold) | 4",
        "a user's cold items ranked among | the cold test items only",
        "| items | genre | multi | 3 ",
        "| items | year | numeric | — ",
        "17 rows, 1 not in the log, 0 ids without a row",
        "| item_features | users | group | genre, year |",
        "| dcn | false | group | genre, year |",
    ] {
        assert!(
            report.contains(expected),
            "missing `{expected}` in:\n{report}"
        );
    }
}

#[test]
fn features_params_and_feature_tables_give_located_errors() {
    let dir = tempfile::tempdir().unwrap();
    fixture(dir.path());
    let write = |name: &str, body: &str| std::fs::write(dir.path().join(name), body).unwrap();
    let spec = |models: &str| {
        format!("name: e\n{DATASET}evaluation: {{cutoffs: [3, 10]}}\nmodels:\n{models}")
    };
    write(
        "unknown.yaml",
        &spec("  - model: two_tower\n    params: {features: [genre, colour]}\n"),
    );
    bad_input(
        &recsweep(dir.path(), &["validate", "unknown.yaml"]),
        "`colour` is not a feature column; the dataset has group, genre, year",
    );
    write(
        "bad_ids.yaml",
        &spec("  - model: two_tower\n    params: {ids: false, features: [genre]}\n"),
    );
    bad_input(
        &recsweep(dir.path(), &["validate", "bad_ids.yaml"]),
        "no user id embedding and no user feature selected",
    );
    // A duplicated id, a word in a float column, a header that is not
    // RecBole's, an unknown skip column: each names the file and the line.
    let items = std::fs::read_to_string(dir.path().join("f.item")).unwrap();
    write("f.item", &format!("{items}3\tb\t1999\tdup\n"));
    write("ok.yaml", &spec("  - model: random\n"));
    bad_input(
        &recsweep(dir.path(), &["validate", "ok.yaml"]),
        "f.item: line 19: id `3` is also on line 4",
    );
    write("f.item", &items.replace("\t1995\t", "\tsoon\t"));
    bad_input(
        &recsweep(dir.path(), &["validate", "ok.yaml"]),
        "f.item: line 7: column `year` is `soon`, not a finite number",
    );
    write("f.item", &items.replacen("genre:token_seq", "genre", 1));
    bad_input(
        &recsweep(dir.path(), &["validate", "ok.yaml"]),
        "header cell `genre` is not `name:type`",
    );
    write("f.item", &items);
    write(
        "skip.yaml",
        &spec("  - model: random\n").replace("skip: [title]", "skip: [titel]"),
    );
    bad_input(
        &recsweep(dir.path(), &["validate", "skip.yaml"]),
        "column `titel` is not in the header",
    );
    write(
        "buckets.yaml",
        &spec("  - model: random\n").replace(
            "skip: [title]}",
            "skip: [title], columns: {year: {type: numeric, buckets: 1}}}",
        ),
    );
    bad_input(
        &recsweep(dir.path(), &["validate", "buckets.yaml"]),
        "dataset.features.items.columns.year.buckets: 1 is out of range; buckets must be ≥ 2",
    );
    // Ids that match nothing: the wrong id column, most likely.
    write("f.user", "user_id:token\tgroup:token\nu1\tg1\nu2\tg2\n");
    bad_input(
        &recsweep(dir.path(), &["validate", "ok.yaml"]),
        "no id in column `user_id:token` matches a user id of the log",
    );
}

/// `recsweep split` writes the parts; `method: files` on them gives every
/// trial the same numbers as the original split.
#[test]
fn a_files_split_of_the_exported_parts_reproduces_the_results() {
    let dir = tempfile::tempdir().unwrap();
    let models = "evaluation: {cutoffs: [5, 10]}\nmodels:\n  - model: most_pop\n  \
- model: ease\n  - model: mf\n    params: {dim: 8, epochs: 3}\n";
    let original = format!(
        "name: original\nseed: 5\ndataset: {{source: synthetic, users: 150, items: 80, interactions: 3000, seed: 4}}\n\
split: {{method: random_holdout, test_fraction: 0.2}}\n{models}"
    );
    std::fs::write(dir.path().join("original.yaml"), original).unwrap();
    let out = recsweep(dir.path(), &["split", "original.yaml", "--out", "parts"]);
    assert!(out.status.success(), "{}", text(&out));
    let files = format!(
        "name: files\nseed: 5\ndataset: {{source: tsv, columns: {{user: user, item: item}}}}\n\
split: {{method: files, train: parts/train.tsv, validation: parts/validation.tsv, test: parts/test.tsv}}\n{models}"
    );
    std::fs::write(dir.path().join("files.yaml"), files).unwrap();
    for name in ["original", "files"] {
        let out = recsweep(
            dir.path(),
            &[
                "run",
                &format!("{name}.yaml"),
                "--quiet",
                "--results",
                "res",
            ],
        );
        assert!(out.status.success(), "{}", text(&out));
    }
    let tests = |name: &str| -> Vec<(String, serde_json::Value)> {
        let mut out: Vec<_> = std::fs::read_dir(dir.path().join("res").join(name).join("trials"))
            .unwrap()
            .map(|e| {
                let path = e.unwrap().path().join("trial.json");
                let trial: serde_json::Value =
                    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
                (
                    trial["trial"]["id"].as_str().unwrap().to_string(),
                    trial["test"].clone(),
                )
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    };
    let (a, b) = (tests("original"), tests("files"));
    assert_eq!(a.len(), 3);
    assert_eq!(a, b);
}

#[test]
fn split_keys_that_do_not_fit_the_method_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let base = "name: s\ndataset: {source: synthetic, users: 50, items: 30, interactions: 500}\n\
evaluation: {cutoffs: [5]}\nmodels:\n  - model: most_pop\n";
    for (split, expected) in [
        (
            "{method: files, train: a.tsv}",
            "missing required key `test`",
        ),
        ("{method: leave_one_out, train: a.tsv}", "split.train"),
        (
            "{method: random_holdout, candidates: cold}",
            "applies to cold_items only",
        ),
        (
            "{method: temporal, validation: v.tsv}",
            "only split.method files takes",
        ),
        (
            "{method: files, train: a.tsv, test: b.tsv, validation: false}",
            "it needs a file source",
        ),
    ] {
        std::fs::write(dir.path().join("s.yaml"), format!("{base}split: {split}\n")).unwrap();
        bad_input(&recsweep(dir.path(), &["validate", "s.yaml"]), expected);
    }
}

/// The NGCF/LightGCN layout (`user item item ...`) read as a files split
/// with no validation file: validation is carved from train, the selected
/// configurations are refit on train ∪ validation, and keys the layout has
/// no use for are errors at their key.
#[test]
fn adjacency_lists_run_as_a_files_split_with_a_carved_validation_part() {
    let dir = tempfile::tempdir().unwrap();
    let (mut train, mut test) = (String::new(), String::new());
    for u in 0..30u32 {
        let items: Vec<String> = (0..13u32)
            .map(|k| ((u * 3 + k * k) % 40).to_string())
            .collect();
        train.push_str(&format!("{u} {}\n", items[..10].join(" ")));
        test.push_str(&format!("{u}\t{}\n", items[10..].join("\t")));
    }
    std::fs::write(dir.path().join("train.txt"), train).unwrap();
    std::fs::write(dir.path().join("test.txt"), test).unwrap();
    let spec = |dataset: &str| {
        format!(
            "name: lists\nseed: 2\ndataset: {dataset}\n\
split: {{method: files, train: train.txt, test: test.txt}}\nevaluation: {{cutoffs: [5]}}\n\
models:\n  - model: most_pop\n  - model: ease\n    sweep: {{l2: [1.0, 10.0]}}\n\
selection: {{metric: recall@5, refit: true}}\n\
report:\n  published:\n    - {{model: Paper-A, source: A 2020, metrics: {{recall@5: 0.0}}}}\n    \
- {{model: Paper-B, source: B 2021, metrics: {{recall@5: 1.0}}}}\n"
        )
    };
    std::fs::write(dir.path().join("spec.yaml"), spec("{source: adjacency}")).unwrap();
    let out = recsweep(
        dir.path(),
        &["run", "spec.yaml", "--quiet", "--results", "res"],
    );
    assert!(out.status.success(), "{}", text(&out));
    let report = report(dir.path(), "lists");
    // round(0.2 · 10) = 2 of each user's 10 train rows (duplicates in a
    // user's list count once, so a few users hold fewer).
    let carved = report
        .lines()
        .find(|l| l.starts_with("| validation interactions"))
        .unwrap();
    let n: usize = carved.split('|').nth(2).unwrap().trim().parse().unwrap();
    assert!((50..=60).contains(&n), "{carved}");
    assert!(report.contains("refit on train ∪ validation"), "{report}");
    // The answer says where the best stands; the section shows every row,
    // ordered by recall@5.
    let answer = report.split("\n## ").next().unwrap();
    assert!(
        answer.contains("Beside the results published on this split"),
        "{answer}"
    );
    let published = report
        .split("## Published results on this split")
        .nth(1)
        .unwrap();
    let order: Vec<&str> = ["Paper-B", "**ease**", "Paper-A"]
        .into_iter()
        .filter(|m| published.contains(m))
        .collect();
    assert_eq!(order.len(), 3, "{published}");
    let at = |m: &str| published.find(m).unwrap();
    assert!(
        at("Paper-B") < at("**ease**") && at("**ease**") < at("Paper-A"),
        "{published}"
    );
    assert!(
        published.contains("| Paper-B | B 2021 | 1.0000 |"),
        "{published}"
    );
    assert!(
        published.contains("is above Paper-A (0.0000) and below Paper-B (1.0000)"),
        "{published}"
    );
    for (dataset, key) in [
        ("{source: adjacency, separator: ','}", "dataset.separator"),
        (
            "{source: adjacency, columns: {user: 0, item: 1}}",
            "dataset.columns",
        ),
    ] {
        std::fs::write(dir.path().join("bad.yaml"), spec(dataset)).unwrap();
        bad_input(&recsweep(dir.path(), &["validate", "bad.yaml"]), key);
    }
}

/// A CSV feature table with declared columns (a `|`-separated multi
/// column, a bucketised number with a missing marker) on a cold-user split:
/// users held out entirely are ranked from their features.
#[test]
fn csv_user_features_serve_a_cold_user_split() {
    let dir = tempfile::tempdir().unwrap();
    fixture(dir.path());
    let mut users = String::from("uid,tastes,age\n");
    for u in 0..24u32 {
        let taste = if u < 12 { "a|x" } else { "b" };
        let age = if u == 5 {
            "n/a".to_string()
        } else {
            (20 + u).to_string()
        };
        users.push_str(&format!("{},{taste},{age}\n", u + 1));
    }
    std::fs::write(dir.path().join("users.csv"), users).unwrap();
    let spec = format!(
        "name: coldusers\nseed: 3\ndataset:\n  source: tsv\n  path: log.tsv\n  columns: {{user: user, item: item}}\n  \
features:\n    users:\n      path: users.csv\n      id: uid\n      columns:\n        \
tastes: {{type: multi}}\n        age: {{type: numeric, buckets: 3, missing: [n/a]}}\n\
split: {{method: cold_users, test_fraction: 0.25}}\nevaluation: {{cutoffs: [3, 10]}}\n\
models:\n  - model: most_pop\n  - model: ials\n    params: {{dim: 4}}\n  \
- model: two_tower\n    params: {TOWER}\n"
    );
    std::fs::write(dir.path().join("spec.yaml"), spec).unwrap();
    let out = recsweep(
        dir.path(),
        &["run", "spec.yaml", "--quiet", "--results", "res"],
    );
    assert!(out.status.success(), "{}", text(&out));
    let report = report(dir.path(), "coldusers");
    for expected in [
        "**Not run**: ials: cannot score users without train interactions",
        "users held out for test (cold) | 6",
        "| users | tastes | multi | 3 | 0 |",
        "| users | age | numeric | 3 | 1 |",
        "| two_tower | true | tastes, age | — |",
    ] {
        assert!(
            report.contains(expected),
            "missing `{expected}` in:\n{report}"
        );
    }
    assert!(report.contains("| most_pop |") && !report.contains("Not run**: most_pop"));
}
