//! `recsweep init DATA`: a commented starter spec from the first rows of a
//! log. The layout (MovieLens, CSV/TSV with any one-byte separator, header
//! or not, Parquet) and each column's role (user, item, rating, timestamp)
//! are told apart by name first, then by content; what stays uncertain is
//! said in a comment, and a role no column could fill is written as a
//! placeholder that `validate` names.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::path::Path;

use crate::data::{movielens_layout, unix_seconds, DataError};
use crate::table::{self, Table};

/// Below this many sampled ratings the positive threshold is written
/// commented out.
const MIN_ROWS_FOR_THRESHOLD: usize = 100;

/// Rows read to tell the columns apart.
const SAMPLE_ROWS: usize = 2000;

/// Written where no column could be told to be the user (or item): the
/// loader then reports it as a column the file does not have.
pub const PLACEHOLDER: &str = "CHOOSE_A_COLUMN";

/// What the first rows of a log say about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Detected {
    pub source: &'static str,
    /// For MovieLens: which release's layout.
    pub movielens: Option<&'static str>,
    pub header: bool,
    pub separator: Option<char>,
    /// Column names, or their 0-based positions as text without a header.
    pub columns: Vec<String>,
    pub user: Option<usize>,
    pub item: Option<usize>,
    pub rating: Option<usize>,
    pub timestamp: Option<usize>,
    /// The sampled ratings, to suggest a positive threshold.
    pub ratings: Vec<f64>,
    /// What was guessed rather than recognised, for the spec's comments.
    pub notes: Vec<String>,
}

/// Reads the first rows of `path` and tells its layout and columns apart.
pub fn detect(path: &Path) -> Result<Detected, DataError> {
    let format = |message: String| DataError::Format {
        path: path.to_path_buf(),
        message,
    };
    if path.extension().is_some_and(|e| e == "parquet") {
        let frame = table::read_parquet(path).map_err(|e| {
            e.into_error(
                |source| DataError::Open {
                    path: path.to_path_buf(),
                    source,
                },
                format,
            )
        })?;
        if let Some(why) = frame.emptiness() {
            return Err(format(format!("{why}: nothing to build a spec from")));
        }
        return Ok(from_parquet(&frame));
    }
    let file = std::fs::File::open(path).map_err(|source| DataError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    let lines: Vec<String> = BufReader::new(file)
        .lines()
        .take(SAMPLE_ROWS + 1)
        .collect::<Result<_, _>>()
        .map_err(|e| format(format!("not a text file: {e}")))?;
    let lines: Vec<&str> = lines
        .iter()
        .map(|l| l.trim_end_matches('\r'))
        .filter(|l| !l.is_empty())
        .collect();
    let Some(first) = lines.first() else {
        return Err(format("the file is empty".into()));
    };
    if let Some(layout) = movielens(&lines) {
        let mut detected = movielens_detected(layout, first);
        let split = |l: &str| -> Vec<String> {
            match layout {
                "ratings.dat" => l.split("::").map(str::to_string).collect(),
                "ratings.csv" => l.split(',').map(str::to_string).collect(),
                _ => l.split('\t').map(str::to_string).collect(),
            }
        };
        let skip = usize::from(detected.header);
        if lines.len() <= skip {
            return Err(format(NO_ROWS.into()));
        }
        detected.ratings = lines[skip..]
            .iter()
            .filter_map(|l| split(l).get(2).and_then(|v| v.trim().parse().ok()))
            .collect();
        return Ok(detected);
    }
    let separator = separator(&lines).ok_or_else(|| {
        format("found no separator (comma, tab, semicolon or |) in the first rows".into())
    })?;
    let rows: Vec<Vec<&str>> = lines.iter().map(|l| l.split(separator).collect()).collect();
    let detected = from_text(&rows, separator);
    if rows.len() <= usize::from(detected.header) {
        return Err(format(NO_ROWS.into()));
    }
    Ok(detected)
}

/// A header line alone: nothing to detect types or a split from.
const NO_ROWS: &str = "the file has column names but no rows: nothing to build a spec from";

/// A MovieLens layout: `::` or a `userId,movieId,rating` header, or four
/// tab-separated integer fields (u.data).
fn movielens(lines: &[&str]) -> Option<&'static str> {
    let layout = movielens_layout(lines[0])?;
    let integers = |l: &str| l.split('\t').all(|f| f.trim().parse::<i64>().is_ok());
    (layout != "u.data" || lines.iter().take(20).all(|l| integers(l))).then_some(layout)
}

fn movielens_detected(layout: &'static str, first: &str) -> Detected {
    let columns = if layout == "ratings.csv" {
        first.split(',').map(str::to_string).collect()
    } else {
        ["user", "item", "rating", "timestamp"]
            .map(String::from)
            .to_vec()
    };
    Detected {
        source: "movielens",
        movielens: Some(layout),
        header: layout == "ratings.csv",
        separator: None,
        columns,
        user: Some(0),
        item: Some(1),
        rating: Some(2),
        timestamp: Some(3),
        ratings: Vec::new(),
        notes: Vec::new(),
    }
}

/// The separator that splits every sampled line into the same number (≥ 2)
/// of fields, preferring the one that gives the most.
fn separator(lines: &[&str]) -> Option<char> {
    [',', '\t', ';', '|']
        .into_iter()
        .filter_map(|sep| {
            let n = lines[0].split(sep).count();
            let consistent = lines.iter().take(50).all(|l| l.split(sep).count() == n);
            (n >= 2 && consistent).then_some((sep, n))
        })
        .max_by_key(|&(_, n)| n)
        .map(|(sep, _)| sep)
}

/// A column's sampled values, as the roles need them.
struct Profile {
    values: Vec<f64>,
    numeric: bool,
    integer: bool,
    min: f64,
    max: f64,
    distinct: usize,
    /// Every value an ISO 8601 date or date-time.
    datetime: bool,
}

fn profile(values: &[&str]) -> Profile {
    let parsed: Vec<f64> = values
        .iter()
        .filter_map(|v| v.trim().parse().ok())
        .collect();
    let numeric = !values.is_empty() && parsed.len() == values.len();
    let mut distinct: Vec<&str> = values.to_vec();
    distinct.sort_unstable();
    distinct.dedup();
    Profile {
        values: parsed.clone(),
        numeric,
        integer: numeric && parsed.iter().all(|v| v.fract() == 0.0),
        min: parsed.iter().copied().fold(f64::INFINITY, f64::min),
        max: parsed.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        distinct: distinct.len(),
        datetime: !values.is_empty() && values.iter().all(|v| unix_seconds(v).is_some()),
    }
}

fn from_text<'a>(rows: &[Vec<&'a str>], separator: char) -> Detected {
    let width = rows[0].len();
    // A header: a first row whose cells are all non-numeric over a column
    // that is numeric below, or whose names say what they are.
    // A row past the ones the separator was judged on may be short: its
    // missing cells read as empty.
    let cell = |r: &[&'a str], c: usize| -> &'a str { r.get(c).copied().unwrap_or("") };
    let below = |c: usize| -> Vec<&str> { rows[1..].iter().map(|r| cell(r, c)).collect() };
    // Names say what they are and hold no digits (`track2` is a value).
    let named = rows[0].iter().any(|cell| role_by_name(cell).is_some())
        && !rows[0]
            .iter()
            .any(|cell| cell.chars().any(|c| c.is_ascii_digit()));
    let numeric_below = (0..width)
        .any(|c| rows.len() > 1 && profile(&below(c)).numeric && !profile(&[rows[0][c]]).numeric);
    let header = named || numeric_below;
    let (columns, data): (Vec<String>, Vec<&Vec<&str>>) = if header {
        (
            rows[0].iter().map(|c| c.trim().to_string()).collect(),
            rows[1..].iter().collect(),
        )
    } else {
        (
            (0..width).map(|c| c.to_string()).collect(),
            rows.iter().collect(),
        )
    };
    let profiles: Vec<Profile> = (0..width)
        .map(|c| profile(&data.iter().map(|r| cell(r, c)).collect::<Vec<_>>()))
        .collect();
    let names: Vec<Option<&str>> = if header {
        columns.iter().map(|c| Some(c.as_str())).collect()
    } else {
        vec![None; width]
    };
    let source = if separator == '\t' { "tsv" } else { "csv" };
    let mut detected = assign(&names, &profiles);
    detected.source = source;
    detected.header = header;
    detected.separator = Some(separator);
    detected.columns = columns;
    detected
}

fn from_parquet(frame: &Table) -> Detected {
    let names: Vec<String> = frame.names().into_iter().map(str::to_string).collect();
    let profiles: Vec<Profile> = frame
        .columns
        .iter()
        .map(|column| {
            let values: Vec<String> = (0..column.len().min(SAMPLE_ROWS))
                .map(|row| column.text(row).unwrap_or_default())
                .collect();
            profile(&values.iter().map(String::as_str).collect::<Vec<_>>())
        })
        .collect();
    let mut detected = assign(
        &names.iter().map(|n| Some(n.as_str())).collect::<Vec<_>>(),
        &profiles,
    );
    detected.source = "parquet";
    detected.header = true;
    detected.columns = names;
    detected
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    User,
    Item,
    Rating,
    Timestamp,
    /// A column recognised but not usable (a date as text).
    Ignored,
}

/// The role a column's name says it has.
fn role_by_name(name: &str) -> Option<Role> {
    let n = name.trim().to_lowercase();
    let words: Vec<&str> = n.split(|c: char| !c.is_ascii_alphanumeric()).collect();
    let has = |keys: &[&str]| keys.iter().any(|k| n.contains(k));
    let word = |keys: &[&str]| keys.iter().any(|k| words.contains(k));
    if has(&["time", "date", "epoch", "created", "clicked"]) || word(&["ts", "at", "when"]) {
        Some(Role::Timestamp)
    } else if has(&["rating", "star", "score", "grade", "preference"]) || word(&["rate", "value"]) {
        Some(Role::Rating)
    } else if has(&[
        "user", "visitor", "customer", "client", "member", "account", "buyer", "reader", "viewer",
        "session", "person",
    ]) || word(&["uid", "u"])
    {
        Some(Role::User)
    } else if has(&[
        "item", "sku", "product", "movie", "book", "track", "song", "article", "asset", "video",
        "content", "offer", "listing", "title", "artist", "recipe",
    ]) || word(&["iid", "i", "doc", "docid"])
    {
        Some(Role::Item)
    } else {
        None
    }
}

/// Roles by name, then by content: integers beyond 1e8 (Unix seconds) and
/// ISO 8601 dates are timestamps, a numeric column with few small values is a rating, and the
/// first two remaining columns are the user and the item.
fn assign(names: &[Option<&str>], profiles: &[Profile]) -> Detected {
    let mut roles: Vec<Option<Role>> = names.iter().map(|n| n.and_then(role_by_name)).collect();
    let mut notes = Vec::new();
    let label = |c: usize| match names[c] {
        Some(n) => format!("`{n}`"),
        None => format!("column {c}"),
    };
    // The loader reads ratings as numbers, timestamps as numbers or dates.
    for (c, p) in profiles.iter().enumerate() {
        let readable = match roles[c] {
            Some(Role::Timestamp) => p.numeric || p.datetime,
            Some(Role::Rating) => p.numeric,
            _ => true,
        };
        if !readable {
            notes.push(format!(
                "{} is named like a {} but is not numeric, so it is left out",
                label(c),
                if roles[c] == Some(Role::Timestamp) {
                    "timestamp (recsweep reads Unix times and ISO 8601 dates)"
                } else {
                    "rating"
                }
            ));
            roles[c] = Some(Role::Ignored);
        }
    }
    for (c, p) in profiles.iter().enumerate() {
        if roles[c].is_some() || !(p.numeric || p.datetime) {
            continue;
        }
        let role = if p.datetime || (p.integer && p.min >= 1e8) {
            Role::Timestamp
        } else if p.distinct <= 20
            && p.min >= 0.0
            && p.max <= 10.0
            && !roles.contains(&Some(Role::Rating))
        {
            Role::Rating
        } else {
            continue;
        };
        if !roles.contains(&Some(role)) {
            roles[c] = Some(role);
            notes.push(format!(
                "{} looks like the {} by its values",
                label(c),
                match role {
                    Role::Timestamp if p.datetime => "timestamp (ISO 8601 dates)",
                    Role::Timestamp => "timestamp (large integers)",
                    _ => "rating (few small numbers)",
                }
            ));
        }
    }
    for role in [Role::User, Role::Item] {
        if roles.contains(&Some(role)) {
            continue;
        }
        if let Some(c) = (0..roles.len()).find(|&c| roles[c].is_none()) {
            roles[c] = Some(role);
            notes.push(format!(
                "{} is taken as the {} by position: check it",
                label(c),
                if role == Role::User { "user" } else { "item" }
            ));
        } else {
            notes.push(format!(
                "no column could be told to be the {}: set it where the spec says {PLACEHOLDER}",
                if role == Role::User { "user" } else { "item" }
            ));
        }
    }
    let find = |role| roles.iter().position(|r| *r == Some(role));
    let rating = find(Role::Rating);
    Detected {
        source: "csv",
        movielens: None,
        header: true,
        separator: None,
        columns: Vec::new(),
        user: find(Role::User),
        item: find(Role::Item),
        ratings: rating.map_or_else(Vec::new, |c| profiles[c].values.clone()),
        rating,
        timestamp: find(Role::Timestamp),
        notes,
    }
}

/// A name for the experiment from the file's stem: letters, digits, `-`, `_`.
fn experiment_name(path: &Path) -> String {
    let stem = path
        .file_stem()
        .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
    let name: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    if name.is_empty() {
        "my-data".into()
    } else {
        name
    }
}

/// The commented starter spec for the log at `path` (written as the user
/// gave it: recsweep resolves it from the folder it runs in).
pub fn starter_spec(path: &Path, d: &Detected) -> String {
    let name = experiment_name(path);
    let mut out = String::new();
    // Editors with the YAML language server check and complete the spec
    // against the schema this line names (relative to the spec's folder).
    let _ = writeln!(
        out,
        "# yaml-language-server: $schema={}\n\
         # (the spec's JSON Schema: `recsweep init -o` writes it beside the spec,\n\
         # `recsweep schema > {}` anywhere)",
        crate::spec::schema::FILE_NAME,
        crate::spec::schema::FILE_NAME
    );
    let _ = writeln!(
        out,
        "# Starter spec written by `recsweep init {}`.\n\
         # Check it with `recsweep validate SPEC`, run it with `recsweep run SPEC`;\n\
         # docs/spec.md explains every key, `recsweep list models` every param.",
        path.display()
    );
    for note in &d.notes {
        let _ = writeln!(out, "# NOTE: {note}.");
    }
    let _ = writeln!(
        out,
        "name: {name}\nseed: 42\ndataset:\n  source: {}",
        d.source
    );
    let _ = writeln!(out, "  path: {}", yaml_string(&path.display().to_string()));
    if let Some(layout) = d.movielens {
        let _ = writeln!(out, "  # MovieLens {layout} layout: columns are known.");
    } else {
        if d.source != "parquet" {
            let _ = writeln!(out, "  header: {}", d.header);
            if let Some(sep) = d.separator.filter(|&s| s != ',' && s != '\t') {
                let _ = writeln!(out, "  separator: {}", yaml_string(&sep.to_string()));
            }
        }
        let column = |c: Option<usize>| match c {
            Some(c) if d.header => yaml_string(&d.columns[c]),
            Some(c) => c.to_string(),
            None => PLACEHOLDER.to_string(),
        };
        let _ = write!(
            out,
            "  columns:\n    user: {}\n    item: {}\n",
            column(d.user),
            column(d.item)
        );
        for (key, c) in [("rating", d.rating), ("timestamp", d.timestamp)] {
            if c.is_some() {
                let _ = writeln!(out, "    {key}: {}", column(c));
            }
        }
    }
    if let Some(threshold) = liked_threshold(&d.ratings) {
        // On a tiny log, halving it can leave nothing to evaluate.
        let off = if d.ratings.len() < MIN_ROWS_FOR_THRESHOLD {
            "# "
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "  # Explicit ratings become implicit positives: the highest threshold that\n  # keeps at least half of the sampled rows. Remove it to keep every rating.\n  {off}positive: {{min_rating: {threshold:?}}}"
        );
    }
    let split = if d.timestamp.is_some() {
        "# Each user's latest interaction is held out for test, the one before for\n\
         # validation (leave-one-out in time order), as in the NCF and EASE papers.\n\
         split:\n  method: leave_one_out"
    } else {
        // Leave-one-out would hold out the last row in file order, and logs
        // without times are often sorted by item id: the held-out item would
        // be each user's highest id, not a typical one.
        "# No timestamp column: a seeded random 20% of each user's interactions is\n\
         # held out for test and 20% of the rest for validation. (Leave-one-out would\n\
         # hold out each user's last row in file order; logs without times are often\n\
         # sorted by item id, which makes that the highest id rather than a typical item.)\n\
         split:\n  method: random_holdout\n  test_fraction: 0.2"
    };
    let _ = writeln!(
        out,
        "{split}\n  validation: true\n\
         evaluation:\n  cutoffs: [10, 20]\n  # Full ranking (every unseen item is a candidate), accuracy and popularity bias.\n  metrics: [recall, ndcg, hit_rate, mrr, map, precision, coverage, arp, aplt, gini, novelty]"
    );
    out.push_str(MODELS);
    let _ = writeln!(out, "report:\n  path: reports/{name}.md");
    out
}

/// The highest rating value that at least half the sampled ratings reach:
/// "liked" without throwing most of a log away (4 of 5 on MovieLens). None
/// without ratings, or when only the lowest value would keep half.
fn liked_threshold(ratings: &[f64]) -> Option<f64> {
    let mut distinct: Vec<f64> = ratings.to_vec();
    distinct.sort_by(f64::total_cmp);
    distinct.dedup();
    let lowest = *distinct.first()?;
    let half = ratings.len().div_ceil(2);
    distinct
        .into_iter()
        .rev()
        .find(|&t| ratings.iter().filter(|&&r| r >= t).count() >= half)
        .filter(|&t| t > lowest)
}

/// The models and sweep of every starter spec: baselines, then a two-tower
/// retriever and dot-product MF with a small sweep of their knobs.
const MODELS: &str = "\
models:
  - model: most_pop
  - model: itemknn
    sweep:
      neighbors: [50, 200]
  # EASE solves an items × items system: drop it above ~20,000 items.
  - model: ease
    sweep:
      l2: [100.0, 500.0]
  # logQ correction on: the in-batch softmax otherwise penalises popular items for
  # being in every batch, and without it two-tower scored near random on every log
  # tried (Yi et al. 2019).
  - model: two_tower
    params: {dim: 32, hidden: [], epochs: 20, batch_size: 512, learning_rate: 0.01, patience: 3, popularity: {method: logq, alpha: 1.0}}
    sweep:
      temperature: [0.05, 0.2]
  - model: mf
    params: {dim: 32, loss: softmax, epochs: 20, batch_size: 512, patience: 3, popularity: {method: logq, alpha: 1.0}}
    sweep:
      l2: [0.0, 0.001]
sweep:
  seeds: 2
# Each model's configuration is chosen on validation ndcg@10 and reported on test.
selection:
  metric: ndcg@10
compare:
  baseline: most_pop
";

/// `s` as a YAML scalar: plain where that reads back as the same string.
fn yaml_string(s: &str) -> String {
    match serde_yaml::from_str::<serde_yaml::Value>(s) {
        Ok(serde_yaml::Value::String(back)) if back == s => s.to_string(),
        _ => serde_yaml::to_string(&serde_yaml::Value::String(s.to_string()))
            .map(|t| t.trim_end().to_string())
            .unwrap_or_else(|_| format!("{s:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(lines: &[&str]) -> Detected {
        let sep = separator(lines).unwrap();
        let rows: Vec<Vec<&str>> = lines.iter().map(|l| l.split(sep).collect()).collect();
        from_text(&rows, sep)
    }

    #[test]
    fn made_up_namings_are_recognised_by_name() {
        let d = text(&[
            "visitor_id,sku,stars,ts",
            "v1,s9,4,1700000000",
            "v2,s3,5,1700000100",
        ]);
        assert!(d.header);
        assert_eq!(
            (d.user, d.item, d.rating, d.timestamp),
            (Some(0), Some(1), Some(2), Some(3))
        );
        assert!(d.notes.is_empty(), "{:?}", d.notes);
        let d = text(&[
            "customer;product_code;event_time",
            "c1;p1;2024-01-01",
            "c2;p2;2024-01-02",
        ]);
        assert_eq!(d.separator, Some(';'));
        // ISO 8601 dates are timestamps.
        assert_eq!((d.user, d.item, d.timestamp), (Some(0), Some(1), Some(2)));
        assert!(d.notes.is_empty(), "{:?}", d.notes);
        // Unnamed, by content; a named one that holds no time is left out.
        let d = text(&[
            "a,b,c,when",
            "c1,p1,2024-04-25 22:50:12,soon",
            "c2,p2,2024-04-26T08:00:00+02:00,later",
        ]);
        assert_eq!((d.user, d.item, d.timestamp), (Some(0), Some(1), Some(2)));
        assert!(
            d.notes.iter().any(|n| n.contains("ISO 8601 dates")),
            "{:?}",
            d.notes
        );
        assert!(
            d.notes
                .iter()
                .any(|n| n.contains("`when`") && n.contains("left out")),
            "{:?}",
            d.notes
        );
    }

    #[test]
    fn without_a_header_content_decides_and_the_guesses_are_noted() {
        let d = text(&[
            "u7\ti1\t3\t1600000000",
            "u8\ti2\t5\t1600000500",
            "u7\ti2\t1\t1600000900",
        ]);
        assert!(!d.header);
        assert_eq!(
            (d.user, d.item, d.rating, d.timestamp),
            (Some(0), Some(1), Some(2), Some(3))
        );
        assert!(
            d.notes.iter().any(|n| n.contains("by position")),
            "{:?}",
            d.notes
        );
    }

    /// The separator is judged on the first 50 lines; a short row after them
    /// is read with empty cells, never indexed past its end.
    #[test]
    fn a_short_row_after_the_judged_lines_does_not_panic() {
        let mut lines: Vec<String> = (0..60).map(|k| format!("u{k},i{k},{}", k % 5)).collect();
        lines.push("u99".into());
        let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
        let d = text(&lines);
        assert_eq!((d.user, d.item), (Some(0), Some(1)));
    }

    #[test]
    fn the_liked_threshold_keeps_at_least_half() {
        // MovieLens-like: 1..5 with most at 3-5 → 4 keeps 6 of 10.
        let r = [1.0, 2.0, 3.0, 3.0, 4.0, 4.0, 4.0, 5.0, 5.0, 5.0];
        assert_eq!(liked_threshold(&r), Some(4.0));
        assert_eq!(liked_threshold(&[1.0, 1.0, 1.0, 2.0]), None);
        assert_eq!(liked_threshold(&[]), None);
    }

    #[test]
    fn a_single_usable_column_leaves_a_placeholder_that_is_noted() {
        let d = text(&["when,score", "1700000000,3", "1700000100,4"]);
        assert_eq!(d.item, None);
        assert!(
            d.notes.iter().any(|n| n.contains(PLACEHOLDER)),
            "{:?}",
            d.notes
        );
        assert!(starter_spec(Path::new("x.csv"), &d).contains(PLACEHOLDER));
    }
}
