//! Per-user metric files, the exchange format of `evaluate --per-user` and
//! `compare`: a TSV with a header `user` plus one column per metric
//! (`ndcg@10`, ...), one row per user, sorted by user id. A trial folder or a
//! `per_user.parquet` is read too.
//!
//! The TSV reader is hand-written (not [`crate::table`]'s) so that every
//! error can name the exact line and user.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::table::{self, Values};

/// Per-user values of named metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct PerUserTable {
    pub users: Vec<String>,
    pub columns: Vec<String>,
    /// values[c][n]: column c for user n.
    pub values: Vec<Vec<f64>>,
}

impl PerUserTable {
    pub fn column(&self, name: &str) -> Option<&[f64]> {
        self.columns
            .iter()
            .position(|c| c == name)
            .map(|i| self.values[i].as_slice())
    }

    /// A column that must be finite for every user (a paired test needs a
    /// value per user; NaN marks users where a stratified metric is undefined).
    pub fn finite_column(&self, name: &str, path: &Path) -> Result<&[f64], PerUserFileError> {
        let format = |message: String| PerUserFileError::Format {
            path: path.to_path_buf(),
            message,
        };
        let values = self.column(name).ok_or_else(|| {
            format(format!(
                "no column `{name}`; it has {}",
                self.columns.join(", ")
            ))
        })?;
        if let Some(n) = values.iter().position(|v| !v.is_finite()) {
            return Err(format(format!(
                "{name} of user `{}` is {}; a paired test needs a finite value for every user",
                self.users[n], values[n]
            )));
        }
        Ok(values)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PerUserFileError {
    #[error("cannot read {}: {source}", path.display())]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {message}", path.display())]
    Format { path: PathBuf, message: String },
    #[error("{}:{line}: {message}", path.display())]
    Line {
        path: PathBuf,
        line: usize,
        message: String,
    },
}

/// Reads a per-user TSV, a `.parquet` file, or a trial folder.
pub fn read(path: &Path) -> Result<PerUserTable, PerUserFileError> {
    let file = if path.is_dir() {
        path.join("per_user.parquet")
    } else {
        path.to_path_buf()
    };
    let table = if file.extension().is_some_and(|e| e == "parquet") {
        read_parquet_table(&file)?
    } else {
        read_tsv(&file)?
    };
    let mut seen = HashSet::new();
    for user in &table.users {
        if !seen.insert(user) {
            return Err(PerUserFileError::Format {
                path: file,
                message: format!("user `{user}` appears twice; one row per user"),
            });
        }
    }
    Ok(table)
}

fn read_tsv(path: &Path) -> Result<PerUserTable, PerUserFileError> {
    let text = std::fs::read_to_string(path).map_err(|source| PerUserFileError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    let line_err = |line: usize, message: String| PerUserFileError::Line {
        path: path.to_path_buf(),
        line,
        message,
    };
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let (_, header) = lines.next().ok_or_else(|| {
        line_err(
            1,
            "empty file; expected a header `user<TAB>metric...`".into(),
        )
    })?;
    let fields: Vec<&str> = header.split('\t').collect();
    if fields[0] != "user" || fields.len() < 2 {
        return Err(line_err(
            1,
            format!("header must be `user` then metric columns, tab-separated (found `{header}`)"),
        ));
    }
    let columns: Vec<String> = fields[1..].iter().map(|s| s.to_string()).collect();
    let mut table = PerUserTable {
        users: Vec::new(),
        values: vec![Vec::new(); columns.len()],
        columns,
    };
    for (index, line) in lines {
        let fields: Vec<&str> = line.split('\t').collect();
        if fields.len() != table.columns.len() + 1 {
            return Err(line_err(
                index + 1,
                format!(
                    "{} fields, expected {} (user and {} metrics)",
                    fields.len(),
                    table.columns.len() + 1,
                    table.columns.len()
                ),
            ));
        }
        for (c, raw) in fields[1..].iter().enumerate() {
            let v: f64 = raw.trim().parse().map_err(|_| {
                line_err(
                    index + 1,
                    format!(
                        "user `{}`: {} is `{raw}`, not a number",
                        fields[0], table.columns[c]
                    ),
                )
            })?;
            table.values[c].push(v);
        }
        table.users.push(fields[0].to_string());
    }
    Ok(table)
}

fn read_parquet_table(path: &Path) -> Result<PerUserTable, PerUserFileError> {
    let err = |message: String| PerUserFileError::Format {
        path: path.to_path_buf(),
        message,
    };
    let mut frame = table::read_parquet(path).map_err(|e| {
        e.into_error(
            |source| PerUserFileError::Open {
                path: path.to_path_buf(),
                source,
            },
            err,
        )
    })?;
    let users: Vec<String> = frame
        .take("user")
        .ok_or_else(|| err("no `user` column".into()))?
        .into_texts()
        .into_iter()
        .map(Option::unwrap_or_default)
        .collect();
    let mut columns = Vec::new();
    let mut values = Vec::new();
    for column in &frame.columns {
        let numeric = matches!(column.values, Values::Int(_) | Values::Float(_));
        if column.name == "user_index" || !numeric {
            continue;
        }
        columns.push(column.name.clone());
        values.push(
            column
                .numbers()
                .into_iter()
                .map(|x| x.unwrap_or(f64::NAN))
                .collect(),
        );
    }
    Ok(PerUserTable {
        users,
        columns,
        values,
    })
}

/// Writes the TSV form, users in the given order.
pub fn write_tsv(path: &Path, table: &PerUserTable) -> Result<(), crate::store::StoreError> {
    let mut text = String::from("user");
    for c in &table.columns {
        let _ = write!(text, "\t{c}");
    }
    text.push('\n');
    for (n, user) in table.users.iter().enumerate() {
        text.push_str(user);
        for column in &table.values {
            let _ = write!(text, "\t{}", column[n]);
        }
        text.push('\n');
    }
    crate::store::write_atomic(path, text.as_bytes())
}

/// Pairs two tables on users. Different user sets are an error (with counts
/// and examples) unless `intersect`, which keeps the common users in A's order.
pub fn align(
    a: &PerUserTable,
    b: &PerUserTable,
    intersect: bool,
) -> Result<(Vec<usize>, Vec<usize>), String> {
    let index_b: std::collections::HashMap<&str, usize> = b
        .users
        .iter()
        .enumerate()
        .map(|(i, u)| (u.as_str(), i))
        .collect();
    let set_a: HashSet<&str> = a.users.iter().map(String::as_str).collect();
    let only_a: Vec<&str> = a
        .users
        .iter()
        .map(String::as_str)
        .filter(|u| !index_b.contains_key(u))
        .collect();
    let only_b: Vec<&str> = b
        .users
        .iter()
        .map(String::as_str)
        .filter(|u| !set_a.contains(u))
        .collect();
    if !intersect && (!only_a.is_empty() || !only_b.is_empty()) {
        let examples = |v: &[&str]| {
            v.iter()
                .take(3)
                .map(|u| format!("`{u}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut message = format!(
            "the files hold different users: A has {}, B has {}; {} only in A",
            a.users.len(),
            b.users.len(),
            only_a.len()
        );
        if !only_a.is_empty() {
            message.push_str(&format!(" (e.g. {})", examples(&only_a)));
        }
        message.push_str(&format!(", {} only in B", only_b.len()));
        if !only_b.is_empty() {
            message.push_str(&format!(" (e.g. {})", examples(&only_b)));
        }
        message.push_str(&format!(
            "; pass --intersect to compare the {} users in both",
            a.users.len() - only_a.len()
        ));
        return Err(message);
    }
    Ok(a.users
        .iter()
        .enumerate()
        .filter_map(|(i, u)| index_b.get(u.as_str()).map(|&j| (i, j)))
        .unzip())
}
