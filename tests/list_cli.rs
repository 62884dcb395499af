//! `recsweep list` prints the vocabulary from the tables the parser uses,
//! docs/spec.md holds the same tables, and completions generate for every
//! shell the README names.

use std::path::Path;

mod common;

/// `recsweep ARGS` in the crate root, succeeded: its standard output.
fn stdout_of(args: &[&str]) -> String {
    let out = common::recsweep(Path::new("."), args);
    assert!(out.status.success(), "{args:?}: {}", common::stderr(&out));
    String::from_utf8(out.stdout).unwrap()
}

/// The block of docs/spec.md below `<!-- recsweep list WHAT --markdown -->`.
fn documented(what: &str) -> String {
    let docs = std::fs::read_to_string("docs/spec.md").unwrap();
    let marker = format!("<!-- recsweep list {what} --markdown -->\n");
    let start = docs.find(&marker).expect("docs/spec.md has the marker") + marker.len();
    let end = start + docs[start..].find("<!-- end -->").expect("and its end");
    docs[start..end].to_string()
}

#[test]
fn docs_spec_tables_are_the_list_output() {
    for what in ["models", "popularity"] {
        assert_eq!(
            documented(what),
            stdout_of(&["list", what, "--markdown"]),
            "docs/spec.md's {what} table differs from `recsweep list {what} --markdown`; paste the output there"
        );
    }
}

#[test]
fn every_model_metric_and_knob_is_listed() {
    let models = stdout_of(&["list", "models"]);
    // Piped, the table wraps to 100 columns (a pipeline's rule alone is
    // 900 characters).
    let widest = models.lines().map(|l| l.chars().count()).max().unwrap();
    assert!(widest <= 100, "{widest} columns:\n{models}");
    for kind in recsweep::models::ModelKind::ALL {
        assert!(models.contains(&format!("`{}`", kind.as_str())), "{models}");
        for key in kind.param_keys() {
            assert!(models.contains(&format!("`{key}`")), "{key} in {models}");
        }
    }
    // Defaults come from the params structs: EASE's ridge is 500.
    let ease_l2 = models
        .lines()
        .skip_while(|l| !l.contains("`ease`"))
        .find(|l| l.contains("`l2`"))
        .unwrap();
    assert!(ease_l2.contains("500"), "{ease_l2}");
    let metrics = stdout_of(&["list", "metrics"]);
    for kind in recsweep::eval::MetricKind::ALL {
        assert!(
            metrics.contains(&format!("`{}@K`", kind.as_str())),
            "{metrics}"
        );
    }
    let knobs = stdout_of(&["list", "knobs"]);
    for knob in ["dropout", "l2", "temperature", "popularity"] {
        assert!(knobs.contains(&format!("`{knob}`")), "{knobs}");
    }
}

#[test]
fn completions_generate_for_bash_zsh_and_fish() {
    for shell in ["bash", "zsh", "fish"] {
        let script = stdout_of(&["completions", shell]);
        assert!(script.contains("recsweep"), "{shell}");
        assert!(
            script.contains("validate") && script.contains("list"),
            "{shell}"
        );
    }
}
