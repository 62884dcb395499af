//! Reading interaction files: MovieLens layouts (detected from the first
//! line), generic CSV/TSV with a column mapping, and Parquet.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use super::prepare::{Ids, RawLog};
use super::DataError;
use super::{ColumnRef, ColumnsSpec, DataSource, DatasetSpec};
use crate::table::{self, Column, Delimited, Table, Values};

/// Which MovieLens release a file is, from its first line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MovieLensLayout {
    /// ML-100K `u.data`: tab-separated, no header.
    UData,
    /// ML-1M/10M `ratings.dat`: `::`-separated, no header.
    Dat,
    /// ML-20M/25M/latest `ratings.csv`: comma-separated with a header.
    Csv,
}

pub(crate) fn read(spec: &DatasetSpec) -> Result<RawLog, DataError> {
    let path = spec.path.clone().unwrap_or_default();
    let format = |message: String| DataError::Format {
        path: path.clone(),
        message,
    };
    match spec.source {
        DataSource::Movielens => read_movielens(&path),
        DataSource::Csv | DataSource::Tsv => {
            let separator = spec.separator.unwrap_or(if spec.source == DataSource::Csv {
                ','
            } else {
                '\t'
            });
            let separator = u8::try_from(separator).map_err(|_| {
                format(format!(
                    "separator `{separator}` is not a single-byte character"
                ))
            })?;
            let header = spec.header.unwrap_or(true);
            let frame = read_csv(&path, separator, header)?;
            let columns = spec
                .columns
                .as_ref()
                .ok_or_else(|| format("columns are required".into()))?;
            from_frame(&frame, columns, &path, Rows::Lines { header })
        }
        DataSource::Parquet => {
            let frame = table::read_parquet(&path).map_err(|e| {
                e.into_error(
                    |source| DataError::Open {
                        path: path.clone(),
                        source,
                    },
                    format,
                )
            })?;
            let columns = spec
                .columns
                .as_ref()
                .ok_or_else(|| format("columns are required".into()))?;
            from_frame(&frame, columns, &path, Rows::Parquet)
        }
        DataSource::Adjacency => read_adjacency(&path),
        DataSource::Dense => read_dense(&path),
        DataSource::Synthetic => unreachable!("synthetic data is generated, not read"),
    }
}

fn open(path: &Path) -> Result<File, DataError> {
    File::open(path).map_err(|source| DataError::Open {
        path: path.to_path_buf(),
        source,
    })
}

fn read_movielens(path: &Path) -> Result<RawLog, DataError> {
    let mut first = String::new();
    BufReader::new(open(path)?)
        .read_line(&mut first)
        .map_err(|source| DataError::Open {
            path: path.to_path_buf(),
            source,
        })?;
    let layout = detect(&first).ok_or_else(|| DataError::Format {
        path: path.to_path_buf(),
        message: format!(
            "not a MovieLens ratings file: expected u.data (user<TAB>item<TAB>rating<TAB>timestamp), ratings.dat (user::item::rating::timestamp) or ratings.csv (userId,movieId,rating,timestamp); first line is `{}`",
            first.trim_end()
        ),
    })?;
    let index = |i| Some(ColumnRef::Index(i));
    let name = |n: &str| Some(ColumnRef::Name(n.to_string()));
    let (frame, columns) = match layout {
        MovieLensLayout::UData => (
            read_csv(path, b'\t', false)?,
            [index(0), index(1), index(2), index(3)],
        ),
        // Separators are one byte: splitting `a::b` on ':' yields an
        // empty field between every pair of values, so values sit at 0, 2, 4, 6.
        MovieLensLayout::Dat => (
            read_csv(path, b':', false)?,
            [index(0), index(2), index(4), index(6)],
        ),
        MovieLensLayout::Csv => (
            read_csv(path, b',', true)?,
            [
                name("userId"),
                name("movieId"),
                name("rating"),
                name("timestamp"),
            ],
        ),
    };
    let [user, item, rating, timestamp] = columns;
    let columns = ColumnsSpec {
        user: user.expect("set above"),
        item: item.expect("set above"),
        rating,
        timestamp,
    };
    let header = layout == MovieLensLayout::Csv;
    from_frame(&frame, &columns, path, Rows::Lines { header })
}

/// The lines of a text file, each an error naming its line when it is not
/// UTF-8, for the readers that split lines by hand.
fn text_lines(
    path: &Path,
) -> Result<impl Iterator<Item = Result<String, DataError>> + '_, DataError> {
    let lines = BufReader::new(open(path)?).lines().enumerate();
    Ok(lines.map(move |(n, line)| {
        line.map_err(|e| match e.kind() {
            std::io::ErrorKind::InvalidData => DataError::Format {
                path: path.to_path_buf(),
                message: format!("line {}: not UTF-8 text", n + 1),
            },
            _ => DataError::Open {
                path: path.to_path_buf(),
                source: e,
            },
        })
    }))
}

/// Adjacency lists: each non-blank line is a user id followed by that user's
/// item ids, separated by spaces or tabs. Read here rather than through the
/// CSV reader because lines differ in length, which a table cannot hold.
/// Ids stay integers when every id is one; a blank line is skipped.
fn read_adjacency(path: &Path) -> Result<RawLog, DataError> {
    let err = |message: String| DataError::Format {
        path: path.to_path_buf(),
        message,
    };
    let mut users = Vec::new();
    let mut items = Vec::new();
    let mut lines = 0usize;
    for (n, line) in text_lines(path)?.enumerate() {
        let line = line?;
        let mut tokens = line.split_ascii_whitespace();
        let Some(user) = tokens.next() else { continue };
        lines += 1;
        for token in std::iter::once(user).chain(tokens.clone()) {
            if let Some(c) = token.chars().find(|c| matches!(c, ',' | ';' | ':' | '|')) {
                return Err(err(format!(
                    "line {}: `{token}` holds `{c}`; adjacency lists separate ids by spaces or tabs (`user item item ...`)",
                    n + 1
                )));
            }
        }
        for item in tokens {
            users.push(user.to_string());
            items.push(item.to_string());
        }
    }
    if users.is_empty() {
        return Err(err(if lines == 0 {
            "the file has no lines: there are no interactions to read".into()
        } else {
            format!("none of its {lines} lines has an item after its user id (expected `user item item ...`): there are no interactions to read")
        }));
    }
    Ok(RawLog {
        parts: None,
        users: text_ids(users),
        items: text_ids(items),
        ratings: None,
        timestamps: None,
    })
}

/// A dense rating matrix: line u (0-based, blank lines skipped) holds user
/// u's rating of every item, whitespace-separated, 0 for unobserved; each
/// non-zero entry becomes a row (user u, item = its 0-based column, the
/// rating). Read by hand like adjacency lists: a table reader would need
/// one named column per item. Every line must have as many entries as the
/// first.
fn read_dense(path: &Path) -> Result<RawLog, DataError> {
    let err = |message: String| DataError::Format {
        path: path.to_path_buf(),
        message,
    };
    let (mut users, mut items, mut ratings) = (Vec::new(), Vec::new(), Vec::new());
    let mut width: Option<(usize, usize)> = None;
    let mut user = 0i64;
    for (n, line) in text_lines(path)?.enumerate() {
        let line = line?;
        let mut entries = 0usize;
        for (column, token) in line.split_ascii_whitespace().enumerate() {
            let value: f64 = token.parse().ok().filter(|v: &f64| v.is_finite()).ok_or_else(|| {
                err(format!(
                    "line {}, entry {}: `{token}` is not a number (a dense matrix holds one rating per item, 0 = unobserved)",
                    n + 1,
                    column + 1
                ))
            })?;
            entries += 1;
            if value != 0.0 {
                users.push(user);
                items.push(column as i64);
                ratings.push(value);
            }
        }
        if entries == 0 {
            continue;
        }
        match width {
            None => width = Some((entries, n + 1)),
            Some((w, first)) if w != entries => {
                return Err(err(format!(
                    "line {} has {entries} entries, line {first} has {w}: every user's line rates every item",
                    n + 1
                )))
            }
            Some(_) => {}
        }
        user += 1;
    }
    if users.is_empty() {
        return Err(err(match width {
            None => "the file has no lines: there are no interactions to read".into(),
            Some(_) => format!("all {user} lines are 0: there are no interactions to read"),
        }));
    }
    Ok(RawLog {
        parts: None,
        users: Ids::Int(users),
        items: Ids::Int(items),
        ratings: Some(ratings),
        timestamps: None,
    })
}

/// Ids read as text: integers when every one parses as an integer.
fn text_ids(cells: Vec<String>) -> Ids {
    match cells.iter().map(|c| c.parse::<i64>()).collect() {
        Ok(ints) => Ids::Int(ints),
        Err(_) => Ids::Str(cells),
    }
}

/// The MovieLens release a file's first line looks like (`u.data`,
/// `ratings.dat`, `ratings.csv`), for `recsweep init`.
pub fn movielens_layout(first_line: &str) -> Option<&'static str> {
    detect(first_line).map(|layout| match layout {
        MovieLensLayout::UData => "u.data",
        MovieLensLayout::Dat => "ratings.dat",
        MovieLensLayout::Csv => "ratings.csv",
    })
}

fn detect(first_line: &str) -> Option<MovieLensLayout> {
    let line = first_line.trim_end();
    if line.split("::").count() == 4 {
        Some(MovieLensLayout::Dat)
    } else if line.starts_with("userId,movieId,rating") {
        Some(MovieLensLayout::Csv)
    } else if line.split('\t').count() == 4 {
        Some(MovieLensLayout::UData)
    } else {
        None
    }
}

fn read_csv(path: &Path, separator: u8, header: bool) -> Result<Table, DataError> {
    let options = Delimited {
        separator,
        header,
        quoting: true,
        infer: true,
    };
    table::read_delimited(path, options).map_err(|e| {
        e.into_error(
            |source| DataError::Open {
                path: path.to_path_buf(),
                source,
            },
            |message| DataError::Format {
                path: path.to_path_buf(),
                message: format!("cannot parse as {}: {message}", describe(separator, header)),
            },
        )
    })
}

fn describe(separator: u8, header: bool) -> String {
    let sep = match separator {
        b'\t' => "tab".to_string(),
        b',' => "comma".to_string(),
        other => format!("`{}`", other as char),
    };
    format!(
        "{sep}-separated values {} header",
        if header { "with a" } else { "without a" }
    )
}

/// How a frame's rows map back to the file, for error locations.
#[derive(Debug, Clone, Copy)]
enum Rows {
    /// A text file: row r is on line r + 1, or r + 2 below a header.
    Lines {
        header: bool,
    },
    Parquet,
}

impl Rows {
    fn locate(self, row: usize) -> String {
        match self {
            Rows::Lines { header } => format!("line {}", row + 1 + usize::from(header)),
            Rows::Parquet => format!("row {} (counting from 1)", row + 1),
        }
    }
}

fn from_frame(
    frame: &Table,
    columns: &ColumnsSpec,
    path: &Path,
    rows: Rows,
) -> Result<RawLog, DataError> {
    let err = |message: String| DataError::Format {
        path: path.to_path_buf(),
        message,
    };
    if let Some(why) = frame.emptiness() {
        return Err(err(format!("{why}: there are no interactions to read")));
    }
    let get = |col: &ColumnRef| -> Result<&Column, DataError> {
        let found = match col {
            ColumnRef::Name(name) => frame.column(name),
            ColumnRef::Index(i) => frame.columns.get(*i),
        };
        found.ok_or_else(|| {
            let names = frame.names();
            err(format!(
                "{col} not found; the file has {} columns: {} (name columns by header, or by 0-based position when header: false)",
                names.len(),
                names.join(", ")
            ))
        })
    };
    let users = ids(get(&columns.user)?, &columns.user, &err)?;
    let items = ids(get(&columns.item)?, &columns.item, &err)?;
    let ratings = match &columns.rating {
        Some(c) => {
            let values = numbers(get(c)?, c, &err)?;
            // `inf` and `NaN` parse as floats but are no rating: `inf` would
            // pass any min_rating, NaN none.
            if let Some(row) = values.iter().position(|v| !v.is_finite()) {
                return Err(err(format!(
                    "{}: {c} is `{}`, not a finite number",
                    rows.locate(row),
                    values[row]
                )));
            }
            Some(values)
        }
        None => None,
    };
    let timestamps = match &columns.timestamp {
        Some(c) => {
            let column = get(c)?;
            no_missing(column, c, &err)?;
            let values = match &column.values {
                Values::Int(v) => v.clone(),
                // Truncated toward zero, as a float timestamp's whole seconds.
                Values::Float(v) => v.iter().map(|&t| t as i64).collect(),
                Values::Text(cells) => {
                    let mut seconds = Vec::with_capacity(cells.len());
                    for (row, cell) in cells.iter().enumerate() {
                        let Some(t) = super::unix_seconds(cell) else {
                            return Err(err(format!(
                                "{}: {c} is `{cell}`, not a timestamp; recsweep reads {}",
                                rows.locate(row),
                                super::DATETIME_FORMS
                            )));
                        };
                        seconds.push(t);
                    }
                    seconds
                }
                other => return Err(not_numeric(c, other, &err)),
            };
            Some(values)
        }
        None => None,
    };
    Ok(RawLog {
        parts: None,
        users,
        items,
        ratings,
        timestamps,
    })
}

fn no_missing(
    column: &Column,
    name: &ColumnRef,
    err: &dyn Fn(String) -> DataError,
) -> Result<(), DataError> {
    match column.missing.first() {
        Some(row) => Err(err(format!(
            "{name} is empty or unparsable in data row {} (counting from 1, header excluded)",
            row + 1
        ))),
        None => Ok(()),
    }
}

fn not_numeric(name: &ColumnRef, values: &Values, err: &dyn Fn(String) -> DataError) -> DataError {
    err(format!(
        "{name} must be numeric but holds {} values",
        values.kind()
    ))
}

/// Integer ids stay integers (sorted numerically later); any other column's
/// cells are ids by their text.
fn ids(
    column: &Column,
    name: &ColumnRef,
    err: &dyn Fn(String) -> DataError,
) -> Result<Ids, DataError> {
    no_missing(column, name, err)?;
    Ok(match &column.values {
        Values::Int(v) => Ids::Int(v.clone()),
        _ => Ids::Str(
            column
                .clone()
                .into_texts()
                .into_iter()
                .map(Option::unwrap_or_default)
                .collect(),
        ),
    })
}

fn numbers(
    column: &Column,
    name: &ColumnRef,
    err: &dyn Fn(String) -> DataError,
) -> Result<Vec<f64>, DataError> {
    let values = match &column.values {
        Values::Int(v) => v.iter().map(|&x| x as f64).collect(),
        Values::Float(v) => v.clone(),
        other => return Err(not_numeric(name, other, err)),
    };
    no_missing(column, name, err)?;
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn movielens_layouts_are_detected_from_the_first_line() {
        assert_eq!(
            detect("196\t242\t3\t881250949\n"),
            Some(MovieLensLayout::UData)
        );
        assert_eq!(
            detect("1::1193::5::978300760\n"),
            Some(MovieLensLayout::Dat)
        );
        assert_eq!(
            detect("userId,movieId,rating,timestamp\n"),
            Some(MovieLensLayout::Csv)
        );
        assert_eq!(detect("a,b\n"), None);
    }

    fn adjacency(text: &[u8]) -> Result<RawLog, DataError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("train.txt");
        std::fs::write(&path, text).unwrap();
        read_adjacency(&path)
    }

    fn message(e: DataError) -> String {
        e.to_string()
    }

    #[test]
    fn adjacency_lines_become_one_pair_per_item() {
        // Tabs and repeated spaces separate alike; the blank line is skipped;
        // user 7's line has no item and adds nothing; user 0 appears twice.
        let log = adjacency(b"0 3 1\n\n2\t5  4\n7\n0 9\n").unwrap();
        let Ids::Int(users) = log.users else {
            panic!("integer ids stay integers")
        };
        let Ids::Int(items) = log.items else {
            panic!("integer ids stay integers")
        };
        assert_eq!(users, vec![0, 0, 2, 2, 0]);
        assert_eq!(items, vec![3, 1, 5, 4, 9]);
        assert!(log.ratings.is_none() && log.timestamps.is_none());
        let text = adjacency(b"ann x1 x2\nbob 3\n").unwrap();
        assert!(matches!(text.users, Ids::Str(ref u) if u == &["ann", "ann", "bob"]));
        assert!(matches!(text.items, Ids::Str(ref i) if i == &["x1", "x2", "3"]));
    }

    #[test]
    fn adjacency_errors_name_the_line() {
        let comma = message(adjacency(b"0 1 2\n1,2,3\n").unwrap_err());
        assert!(
            comma.contains("line 2: `1,2,3` holds `,`") && comma.contains("train.txt"),
            "{comma}"
        );
        let utf8 = message(adjacency(b"0 1\n1 \xff\n").unwrap_err());
        assert!(utf8.contains("line 2: not UTF-8"), "{utf8}");
        let lonely = message(adjacency(b"0\n1\n").unwrap_err());
        assert!(
            lonely.contains("none of its 2 lines has an item"),
            "{lonely}"
        );
        let empty = message(adjacency(b"\n").unwrap_err());
        assert!(empty.contains("no lines"), "{empty}");
    }

    fn dense(text: &[u8]) -> Result<RawLog, DataError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("train.ascii");
        std::fs::write(&path, text).unwrap();
        read_dense(&path)
    }

    #[test]
    fn dense_matrices_become_one_row_per_nonzero_entry() {
        // Users are line numbers (blank lines skipped), items column numbers.
        let log = dense(b"0 4 0\n\n5\t0  1\n0 0 0\n2 0 3.5\n").unwrap();
        assert_eq!(log.users, Ids::Int(vec![0, 1, 1, 3, 3]));
        assert_eq!(log.items, Ids::Int(vec![1, 0, 2, 0, 2]));
        assert_eq!(log.ratings, Some(vec![4.0, 5.0, 1.0, 2.0, 3.5]));
    }

    #[test]
    fn dense_errors_name_the_line_and_entry() {
        let word = message(dense(b"0 1\n1 x\n").unwrap_err());
        assert!(
            word.contains("line 2, entry 2: `x` is not a number") && word.contains("train.ascii"),
            "{word}"
        );
        let ragged = message(dense(b"0 1 2\n\n1 2\n").unwrap_err());
        assert!(
            ragged.contains("line 3 has 2 entries, line 1 has 3"),
            "{ragged}"
        );
        let zeros = message(dense(b"0 0\n0 0\n").unwrap_err());
        assert!(zeros.contains("all 2 lines are 0"), "{zeros}");
        let empty = message(dense(b"").unwrap_err());
        assert!(empty.contains("no lines"), "{empty}");
        let nan = message(dense(b"NaN 1\n").unwrap_err());
        assert!(nan.contains("`NaN` is not a number"), "{nan}");
    }
}
