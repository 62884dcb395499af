//! Readers for recommendations and held-out interactions produced by other
//! systems: TREC run and qrels files, delimited text with a header, Parquet.
//!
//! Text formats are parsed by hand so that every error names the file and
//! line; Parquet goes through [`crate::table`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::table::{self, Table};

/// Ids interned as they are read: each distinct string is stored once, so a
/// 14M-row run costs 14M small records rather than 28M strings.
#[derive(Debug, Default)]
pub struct Interner {
    ids: HashMap<Box<str>, u32>,
    names: Vec<Box<str>>,
}

impl Interner {
    pub fn id(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = self.names.len() as u32;
        self.names.push(name.into());
        self.ids.insert(name.into(), id);
        id
    }

    pub fn name(&self, id: u32) -> &str {
        &self.names[id as usize]
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

/// The user and item ids of every file read for one evaluation.
#[derive(Debug, Default)]
pub struct Vocabulary {
    pub users: Interner,
    pub items: Interner,
}

/// One recommendation: user, item, and its score or rank.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Recommendation {
    pub user: u32,
    pub item: u32,
    pub order: Order,
}

/// How a list is ordered: by score (higher first) or by rank (lower first).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Order {
    Score(f64),
    Rank(f64),
}

/// One held-out interaction of the truth (or train) file.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Judgement {
    pub user: u32,
    pub item: u32,
    pub relevant: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("cannot read {}: {source}", path.display())]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {message}", path.display())]
    File { path: PathBuf, message: String },
    #[error("{}:{line}: {message}", path.display())]
    Line {
        path: PathBuf,
        line: usize,
        message: String,
    },
}

enum Layout {
    Parquet,
    /// Whitespace-separated TREC columns.
    Trec,
    /// A header line, then rows split on this byte.
    Delimited(char),
}

/// `rows` as read, or an error naming the file when there are none: a
/// header alone (or an empty Parquet file) is no run and no judgements.
fn nonempty<T>(path: &Path, rows: Vec<T>) -> Result<Vec<T>, FormatError> {
    if rows.is_empty() {
        return Err(FormatError::File {
            path: path.to_path_buf(),
            message: "the file has no rows (column names only)".into(),
        });
    }
    Ok(rows)
}

fn read_text(path: &Path) -> Result<String, FormatError> {
    std::fs::read_to_string(path).map_err(|source| FormatError::Open {
        path: path.to_path_buf(),
        source,
    })
}

/// Non-empty lines with their 1-based numbers.
fn lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim_end_matches('\r')))
        .filter(|(_, l)| !l.trim().is_empty())
}

fn layout(path: &Path, text: Option<&str>, trec_fields: usize) -> Result<Layout, FormatError> {
    if path.extension().is_some_and(|e| e == "parquet") {
        return Ok(Layout::Parquet);
    }
    let text = text.unwrap_or_default();
    let Some((_, first)) = lines(text).next() else {
        return Err(FormatError::File {
            path: path.to_path_buf(),
            message: "the file is empty".into(),
        });
    };
    let fields: Vec<&str> = first.split_whitespace().collect();
    let looks_trec = fields.len() == trec_fields
        && if trec_fields == 6 {
            fields[1].eq_ignore_ascii_case("q0")
        } else {
            fields[1] == "0" || fields[1].eq_ignore_ascii_case("q0")
        };
    if looks_trec {
        Ok(Layout::Trec)
    } else if first.contains('\t') {
        Ok(Layout::Delimited('\t'))
    } else {
        Ok(Layout::Delimited(','))
    }
}

/// A delimited header: the position of each named column.
fn columns(
    path: &Path,
    header: &str,
    separator: char,
    wanted: &[&str],
) -> Result<Vec<Option<usize>>, FormatError> {
    let names: Vec<&str> = header.split(separator).map(str::trim).collect();
    Ok(wanted.iter().map(|w| names.iter().position(|n| n == w)).collect()).and_then(|found: Vec<Option<usize>>| {
        if found[0].is_none() || found[1].is_none() {
            return Err(FormatError::Line {
                path: path.to_path_buf(),
                line: 1,
                message: format!(
                    "header `{header}` lacks `user` and `item` columns; expected TREC format or a header naming user, item{}",
                    if wanted.len() > 2 { " and score or rank" } else { "" }
                ),
            });
        }
        Ok(found)
    })
}

/// A line's fields (split on whitespace for TREC, else on the separator),
/// checked to number `width`; `layout` names the expected columns.
fn fields<'l>(
    path: &Path,
    line: usize,
    text: &'l str,
    separator: Option<char>,
    width: usize,
    layout: &str,
) -> Result<Vec<&'l str>, FormatError> {
    let f: Vec<&str> = match separator {
        None => text.split_whitespace().collect(),
        Some(sep) => text.split(sep).map(str::trim).collect(),
    };
    if f.len() != width {
        return Err(FormatError::Line {
            path: path.to_path_buf(),
            line,
            message: format!("{} columns, expected {width} ({layout})", f.len()),
        });
    }
    Ok(f)
}

fn number(path: &Path, line: usize, what: &str, raw: &str) -> Result<f64, FormatError> {
    raw.trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or_else(|| FormatError::Line {
            path: path.to_path_buf(),
            line,
            message: format!("{what} `{raw}` is not a finite number"),
        })
}

/// Reads a run: TREC (`user Q0 item rank score tag`; trec_eval orders by
/// score and ignores the rank column), or a header with user, item and score
/// or rank, or Parquet with those columns.
pub fn read_run(
    path: &Path,
    vocabulary: &mut Vocabulary,
) -> Result<Vec<Recommendation>, FormatError> {
    if path.extension().is_some_and(|e| e == "parquet") {
        return read_run_parquet(path, vocabulary).and_then(|rows| nonempty(path, rows));
    }
    let text = read_text(path)?;
    let mut out = Vec::new();
    match layout(path, Some(&text), 6)? {
        Layout::Trec => {
            for (line, l) in lines(&text) {
                let f = fields(path, line, l, None, 6, "user Q0 item rank score tag")?;
                out.push(Recommendation {
                    user: vocabulary.users.id(f[0]),
                    item: vocabulary.items.id(f[2]),
                    order: Order::Score(number(path, line, "score", f[4])?),
                });
            }
        }
        Layout::Delimited(sep) => {
            let mut it = lines(&text);
            let (_, header) = it.next().expect("layout saw a first line");
            let cols = columns(path, header, sep, &["user", "item", "score", "rank"])?;
            let (user, item) = (cols[0].expect("checked"), cols[1].expect("checked"));
            let (score, rank) = (cols[2], cols[3]);
            if score.is_none() && rank.is_none() {
                return Err(FormatError::Line {
                    path: path.to_path_buf(),
                    line: 1,
                    message: format!("header `{header}` needs a `score` or a `rank` column"),
                });
            }
            let width = header.split(sep).count();
            for (line, l) in it {
                let f = fields(path, line, l, Some(sep), width, "as in the header")?;
                let order = match score {
                    Some(s) => Order::Score(number(path, line, "score", f[s])?),
                    None => Order::Rank(number(path, line, "rank", f[rank.expect("one is set")])?),
                };
                out.push(Recommendation {
                    user: vocabulary.users.id(f[user]),
                    item: vocabulary.items.id(f[item]),
                    order,
                });
            }
        }
        Layout::Parquet => unreachable!("handled above"),
    }
    nonempty(path, out)
}

/// Reads held-out (or train) interactions: TREC qrels (`user 0 item
/// relevance`, relevant when relevance > 0), or a header with user and item
/// (and optional `relevance`), or Parquet with those columns.
pub fn read_judgements(
    path: &Path,
    vocabulary: &mut Vocabulary,
) -> Result<Vec<Judgement>, FormatError> {
    if path.extension().is_some_and(|e| e == "parquet") {
        return read_judgements_parquet(path, vocabulary).and_then(|rows| nonempty(path, rows));
    }
    let text = read_text(path)?;
    let mut out = Vec::new();
    match layout(path, Some(&text), 4)? {
        Layout::Trec => {
            for (line, l) in lines(&text) {
                let f = fields(path, line, l, None, 4, "user 0 item relevance")?;
                out.push(Judgement {
                    user: vocabulary.users.id(f[0]),
                    item: vocabulary.items.id(f[2]),
                    relevant: number(path, line, "relevance", f[3])? > 0.0,
                });
            }
        }
        Layout::Delimited(sep) => {
            let mut it = lines(&text);
            let (_, header) = it.next().expect("layout saw a first line");
            let cols = columns(path, header, sep, &["user", "item", "relevance"])?;
            let width = header.split(sep).count();
            for (line, l) in it {
                let f = fields(path, line, l, Some(sep), width, "as in the header")?;
                let relevant = match cols[2] {
                    Some(r) => number(path, line, "relevance", f[r])? > 0.0,
                    None => true,
                };
                out.push(Judgement {
                    user: vocabulary.users.id(f[cols[0].expect("checked")]),
                    item: vocabulary.items.id(f[cols[1].expect("checked")]),
                    relevant,
                });
            }
        }
        Layout::Parquet => unreachable!("handled above"),
    }
    nonempty(path, out)
}

fn parquet(path: &Path) -> Result<Table, FormatError> {
    table::read_parquet(path).map_err(|e| {
        e.into_error(
            |source| FormatError::Open {
                path: path.to_path_buf(),
                source,
            },
            |message| FormatError::File {
                path: path.to_path_buf(),
                message,
            },
        )
    })
}

fn strings(frame: &mut Table, name: &str, path: &Path) -> Result<Vec<String>, FormatError> {
    let err = |message: String| FormatError::File {
        path: path.to_path_buf(),
        message,
    };
    let column = frame
        .take(name)
        .ok_or_else(|| err(format!("no `{name}` column")))?;
    column
        .into_texts()
        .into_iter()
        .enumerate()
        .map(|(row, v)| v.ok_or_else(|| err(format!("`{name}` is empty in row {}", row + 1))))
        .collect()
}

fn floats(frame: &Table, name: &str, path: &Path) -> Result<Option<Vec<f64>>, FormatError> {
    let Some(column) = frame.column(name) else {
        return Ok(None);
    };
    column
        .numbers()
        .into_iter()
        .enumerate()
        .map(|(row, v)| {
            v.filter(|x| x.is_finite())
                .ok_or_else(|| FormatError::File {
                    path: path.to_path_buf(),
                    message: format!(
                        "`{name}` in row {} is empty or not a finite number",
                        row + 1
                    ),
                })
        })
        .collect::<Result<Vec<f64>, _>>()
        .map(Some)
}

fn read_run_parquet(
    path: &Path,
    vocabulary: &mut Vocabulary,
) -> Result<Vec<Recommendation>, FormatError> {
    let mut frame = parquet(path)?;
    let users = strings(&mut frame, "user", path)?;
    let items = strings(&mut frame, "item", path)?;
    let orders: Vec<Order> = match (
        floats(&frame, "score", path)?,
        floats(&frame, "rank", path)?,
    ) {
        (Some(s), _) => s.into_iter().map(Order::Score).collect(),
        (None, Some(r)) => r.into_iter().map(Order::Rank).collect(),
        (None, None) => {
            return Err(FormatError::File {
                path: path.to_path_buf(),
                message: "needs a `score` or a `rank` column".into(),
            })
        }
    };
    Ok(users
        .into_iter()
        .zip(items)
        .zip(orders)
        .map(|((user, item), order)| Recommendation {
            user: vocabulary.users.id(&user),
            item: vocabulary.items.id(&item),
            order,
        })
        .collect())
}

fn read_judgements_parquet(
    path: &Path,
    vocabulary: &mut Vocabulary,
) -> Result<Vec<Judgement>, FormatError> {
    let mut frame = parquet(path)?;
    let users = strings(&mut frame, "user", path)?;
    let items = strings(&mut frame, "item", path)?;
    let relevance = floats(&frame, "relevance", path)?;
    Ok(users
        .into_iter()
        .zip(items)
        .enumerate()
        .map(|(row, (user, item))| Judgement {
            user: vocabulary.users.id(&user),
            item: vocabulary.items.id(&item),
            relevant: relevance.as_ref().is_none_or(|r| r[row] > 0.0),
        })
        .collect())
}
