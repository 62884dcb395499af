//! Delimited text (CSV, TSV, any one-byte separator) through the `csv`
//! crate, with each column's type inferred from all of its cells.

use std::fmt::Write as _;
use std::fs::File;
use std::path::Path;

use super::{Column, Table, TableError, Values, WriteColumn};

/// How a delimited file is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delimited {
    pub separator: u8,
    /// The first line names the columns; without one they are `column_1`,
    /// `column_2`, ...
    pub header: bool,
    /// `"` quotes fields (RFC 4180); off for RecBole atomic files, whose
    /// text may hold bare quotes.
    pub quoting: bool,
    /// Infer column types (integer, then float, then text); off, every
    /// column is text.
    pub infer: bool,
}

/// A column's type while reading: integers until a cell is not one, then
/// floats (the integers so far converted, which is exact to the same
/// rounding as parsing them), then text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Int,
    Float,
    Text,
}

/// Reads a whole delimited file. An empty cell is missing. A column is
/// integer when every present cell parses as a 64-bit integer, else float
/// when every one parses as a float (`inf` and `NaN` included), else text;
/// all cells are looked at, not a sample. A column that turns out to be text
/// after numeric rows costs one more pass over the file (its earlier cells'
/// exact text is needed).
pub fn read_delimited(path: &Path, options: Delimited) -> Result<Table, TableError> {
    let mut kinds: Option<Vec<Kind>> = None;
    loop {
        match pass(path, options, kinds.as_deref())? {
            Pass::Done(table) => return Ok(table),
            Pass::AsText(now) => kinds = Some(now),
        }
    }
}

enum Pass {
    Done(Table),
    /// Read again with these kinds: a column became text.
    AsText(Vec<Kind>),
}

/// One column being read.
struct Builder {
    values: Values,
    missing: Vec<usize>,
}

impl Builder {
    fn new(kind: Kind) -> Self {
        let values = match kind {
            Kind::Int => Values::Int(Vec::new()),
            Kind::Float => Values::Float(Vec::new()),
            Kind::Text => Values::Text(Vec::new()),
        };
        Builder {
            values,
            missing: Vec::new(),
        }
    }

    fn kind(&self) -> Kind {
        match self.values {
            Values::Int(_) => Kind::Int,
            Values::Float(_) => Kind::Float,
            _ => Kind::Text,
        }
    }

    /// Appends a cell; false when a numeric column meets a cell that is not
    /// a number (the column must be read again as text). Err(()) for text
    /// that is not UTF-8.
    fn push(&mut self, cell: &[u8]) -> Result<bool, ()> {
        if cell.is_empty() {
            self.missing.push(self.values.len());
            match &mut self.values {
                Values::Int(v) => v.push(0),
                Values::Float(v) => v.push(0.0),
                Values::Text(v) => v.push(String::new()),
                Values::Bool(v) => v.push(false),
            }
            return Ok(true);
        }
        let text = std::str::from_utf8(cell).map_err(|_| ())?;
        match &mut self.values {
            Values::Int(v) => {
                if let Ok(x) = text.parse::<i64>() {
                    v.push(x);
                    return Ok(true);
                }
                let Ok(x) = text.parse::<f64>() else {
                    return Ok(false);
                };
                let mut floats: Vec<f64> = v.iter().map(|&i| i as f64).collect();
                floats.push(x);
                self.values = Values::Float(floats);
                Ok(true)
            }
            Values::Float(v) => match text.parse::<f64>() {
                Ok(x) => {
                    v.push(x);
                    Ok(true)
                }
                Err(_) => Ok(false),
            },
            Values::Text(v) => {
                v.push(text.to_string());
                Ok(true)
            }
            Values::Bool(_) => unreachable!("delimited columns are never boolean"),
        }
    }
}

fn pass(path: &Path, options: Delimited, kinds: Option<&[Kind]>) -> Result<Pass, TableError> {
    let file = File::open(path).map_err(TableError::Open)?;
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(options.separator)
        .has_headers(options.header)
        .quoting(options.quoting)
        .from_reader(file);
    let start = if options.infer { Kind::Int } else { Kind::Text };
    let mut names: Option<Vec<String>> = None;
    if options.header {
        let header = reader.byte_headers().map_err(csv_error)?;
        let mut seen = Vec::with_capacity(header.len());
        for cell in header {
            let name = std::str::from_utf8(cell)
                .map_err(|_| TableError::Format("line 1: a column name is not valid UTF-8".into()))?
                .to_string();
            if seen.contains(&name) {
                return Err(TableError::Format(format!(
                    "line 1: column name `{name}` appears twice"
                )));
            }
            seen.push(name);
        }
        names = Some(seen);
    }
    let mut builders: Vec<Builder> = match (kinds, &names) {
        (Some(k), _) => k.iter().map(|&k| Builder::new(k)).collect(),
        (None, Some(n)) => n.iter().map(|_| Builder::new(start)).collect(),
        (None, None) => Vec::new(),
    };
    let mut record = csv::ByteRecord::new();
    while reader.read_byte_record(&mut record).map_err(csv_error)? {
        if builders.is_empty() && names.is_none() {
            builders = record.iter().map(|_| Builder::new(start)).collect();
        }
        let mut not_numeric = None;
        for (at, (column, cell)) in builders.iter_mut().zip(record.iter()).enumerate() {
            match column.push(cell) {
                Ok(true) => {}
                Ok(false) => {
                    not_numeric = Some(at);
                    break;
                }
                Err(()) => {
                    let line = record.position().map_or(0, csv::Position::line);
                    return Err(TableError::Format(format!(
                        "line {line}: a cell is not valid UTF-8 text"
                    )));
                }
            }
        }
        if let Some(at) = not_numeric {
            let mut now: Vec<Kind> = builders.iter().map(Builder::kind).collect();
            now[at] = Kind::Text;
            return Ok(Pass::AsText(now));
        }
    }
    let names = names.unwrap_or_else(|| {
        (1..=builders.len())
            .map(|i| format!("column_{i}"))
            .collect()
    });
    Ok(Pass::Done(Table {
        columns: names
            .into_iter()
            .zip(builders)
            .map(|(name, b)| Column {
                name,
                values: b.values,
                missing: b.missing,
            })
            .collect(),
    }))
}

fn csv_error(e: csv::Error) -> TableError {
    let line = e.position().map(csv::Position::line);
    let at = line.map_or(String::new(), |l| format!("line {l}: "));
    TableError::Format(match e.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("{at}{len} fields where earlier lines have {expected_len}"),
        _ => format!("{at}{e}"),
    })
}

/// Writes `columns` (of equal length) as comma-separated text with a header.
pub fn write_csv(path: &Path, columns: &[WriteColumn]) -> std::io::Result<()> {
    write(path, columns, b',', true)
}

/// Writes `columns` (of equal length) as tab-separated text with a header
/// and no quoting, what splitting each line on tabs reads back (any
/// language, no CSV parser). A text cell holding a tab or a line break
/// cannot be written so: it is an error, not a shifted column.
pub fn write_tsv(path: &Path, columns: &[WriteColumn]) -> std::io::Result<()> {
    write(path, columns, b'\t', false)
}

fn write(
    path: &Path,
    columns: &[WriteColumn],
    separator: u8,
    quoting: bool,
) -> std::io::Result<()> {
    let style = match quoting {
        true => csv::QuoteStyle::Necessary,
        false => csv::QuoteStyle::Never,
    };
    let mut writer = csv::WriterBuilder::new()
        .delimiter(separator)
        .quote_style(style)
        .from_path(path)?;
    writer.write_record(columns.iter().map(WriteColumn::name))?;
    let rows = columns.first().map_or(0, WriteColumn::len);
    let mut cell = String::new();
    for row in 0..rows {
        for column in columns {
            cell.clear();
            let _ = match column {
                WriteColumn::Text(_, v) if !quoting && v[row].contains(['\t', '\n', '\r']) => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("{:?} holds a tab or a line break", v[row]),
                    ));
                }
                WriteColumn::Text(_, v) => write!(cell, "{}", v[row]),
                WriteColumn::U32(_, v) => write!(cell, "{}", v[row]),
                WriteColumn::I64(_, v) => write!(cell, "{}", v[row]),
                WriteColumn::F32(_, v) => write!(cell, "{}", v[row]),
                WriteColumn::F64(_, v) => write!(cell, "{}", v[row]),
            };
            writer.write_field(&cell)?;
        }
        writer.write_record(None::<&[u8]>)?;
    }
    writer.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    const CSV: Delimited = Delimited {
        separator: b',',
        header: true,
        quoting: true,
        infer: true,
    };

    fn read(text: &str, options: Delimited) -> Result<Table, TableError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        std::fs::write(&path, text).unwrap();
        read_delimited(&path, options)
    }

    fn texts(v: &[&str]) -> Values {
        Values::Text(v.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn each_column_gets_the_narrowest_type_all_its_cells_fit() {
        let t = read("a,b,c,d\n1,1,x,1\n-2,2.5,7,\n30,inf,y,3\n", CSV).unwrap();
        assert_eq!(t.names(), ["a", "b", "c", "d"]);
        assert_eq!(t.columns[0].values, Values::Int(vec![1, -2, 30]));
        assert_eq!(
            t.columns[1].values,
            Values::Float(vec![1.0, 2.5, f64::INFINITY])
        );
        assert_eq!(t.columns[2].values, texts(&["x", "7", "y"]));
        assert_eq!(t.columns[3].values, Values::Int(vec![1, 0, 3]));
        assert_eq!(t.columns[3].missing, [1]);
        assert_eq!(t.columns[3].text(1), None);
    }

    #[test]
    fn a_late_text_cell_keeps_the_exact_text_of_earlier_numbers() {
        // `007` must stay `007`, not the integer 7, once the column is text.
        let t = read("id\n007\n+5\n1e3\nabc\n", CSV).unwrap();
        assert_eq!(t.columns[0].values, texts(&["007", "+5", "1e3", "abc"]));
    }

    #[test]
    fn without_inference_every_column_is_text() {
        let options = Delimited {
            infer: false,
            ..CSV
        };
        let t = read("a,b\n1,2.0\n", options).unwrap();
        assert_eq!(t.columns[0].values, texts(&["1"]));
        assert_eq!(t.columns[1].values, texts(&["2.0"]));
    }

    #[test]
    fn quotes_headers_and_separators_are_honoured() {
        let t = read("u,title\n1,\"Heat, the film\"\n", CSV).unwrap();
        assert_eq!(t.columns[1].values, texts(&["Heat, the film"]));
        let atomic = Delimited {
            separator: b'\t',
            quoting: false,
            infer: false,
            ..CSV
        };
        let t = read("u\ttitle\n1\t\"Heat\n", atomic).unwrap();
        assert_eq!(t.columns[1].values, texts(&["\"Heat"]));
        let bare = Delimited {
            separator: b':',
            header: false,
            ..CSV
        };
        let t = read("1::2\n3::4\n", bare).unwrap();
        assert_eq!(t.names(), ["column_1", "column_2", "column_3"]);
        assert_eq!(t.columns[2].values, Values::Int(vec![2, 4]));
        assert_eq!(t.columns[1].missing, [0, 1]);
    }

    #[test]
    fn tsv_is_written_unquoted_and_refuses_a_cell_with_a_tab() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.tsv");
        let ids = vec!["a\"b", "c,d"];
        write_tsv(
            &path,
            &[
                WriteColumn::Text("id", ids),
                WriteColumn::F32("x", &[5.0, 0.5]),
            ],
        )
        .unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "id\tx\na\"b\t5\nc,d\t0.5\n"
        );
        let err = write_tsv(&path, &[WriteColumn::Text("id", vec!["e\tf"])]).unwrap_err();
        assert_eq!(err.to_string(), "\"e\\tf\" holds a tab or a line break");
    }

    #[test]
    fn ragged_rows_duplicate_names_and_bad_bytes_name_their_line() {
        let message = |r: Result<Table, TableError>| match r {
            Err(TableError::Format(m)) => m,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            message(read("a,b\n1,2\n3\n", CSV)),
            "line 3: 1 fields where earlier lines have 2"
        );
        assert_eq!(
            message(read("a,a\n1,2\n", CSV)),
            "line 1: column name `a` appears twice"
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("latin1.csv");
        std::fs::write(&path, b"a,b\n1,caf\xe9\n").unwrap();
        assert_eq!(
            message(read_delimited(&path, CSV)),
            "line 2: a cell is not valid UTF-8 text"
        );
        assert!(matches!(
            read_delimited(&dir.path().join("absent.csv"), CSV),
            Err(TableError::Open(_))
        ));
    }

    #[test]
    fn written_csv_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.csv");
        write_csv(
            &path,
            &[
                WriteColumn::I64("user", &[3, 1]),
                WriteColumn::F64("rating", &[4.5, 2.0]),
                WriteColumn::Text("tag", vec!["a,b", "c"]),
            ],
        )
        .unwrap();
        let t = read_delimited(&path, CSV).unwrap();
        assert_eq!(t.columns[0].values, Values::Int(vec![3, 1]));
        assert_eq!(t.columns[1].values, Values::Float(vec![4.5, 2.0]));
        assert_eq!(t.columns[2].values, texts(&["a,b", "c"]));
    }
}
