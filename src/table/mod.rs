//! Columnar tables read from delimited text and Parquet, and written to
//! Parquet: the one home of recsweep's table files, below the interaction
//! loaders, feature tables, stored results and outside runs that use them.
//!
//! recsweep only moves whole columns in and out of files; it never joins,
//! groups or filters frames. A DataFrame library (polars) did this before and
//! was half of a clean build's compile time (docs/benchmarks.md), so the
//! readers sit directly on the `csv` crate and Apache Arrow's `parquet` crate.

pub mod delimited;
pub mod parquet;

pub use self::parquet::{read_parquet, write_parquet};
pub use delimited::{read_delimited, write_csv, write_tsv, Delimited};

/// Why a table file could not be read.
#[derive(Debug)]
pub enum TableError {
    /// The file could not be opened.
    Open(std::io::Error),
    /// It opened but its content is not a readable table; the message says
    /// where (line, row or column) and why.
    Format(String),
}

impl TableError {
    /// Into a caller's error type: `open` for a file that would not open,
    /// `format` with the message for one whose content is unreadable.
    pub fn into_error<E>(
        self,
        open: impl FnOnce(std::io::Error) -> E,
        format: impl FnOnce(String) -> E,
    ) -> E {
        match self {
            TableError::Open(e) => open(e),
            TableError::Format(m) => format(m),
        }
    }
}

/// A column's values. Missing cells (an empty text field, a Parquet null)
/// hold a placeholder and are listed in [`Column::missing`].
#[derive(Debug, Clone, PartialEq)]
pub enum Values {
    /// Every signed or unsigned integer type; dates and timestamps as Unix
    /// seconds.
    Int(Vec<i64>),
    /// float, double, and decimals (scaled).
    Float(Vec<f64>),
    Text(Vec<String>),
    Bool(Vec<bool>),
}

impl Values {
    pub fn len(&self) -> usize {
        match self {
            Values::Int(v) => v.len(),
            Values::Float(v) => v.len(),
            Values::Text(v) => v.len(),
            Values::Bool(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// What the values are, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Values::Int(_) => "integer",
            Values::Float(_) => "float",
            Values::Text(_) => "text",
            Values::Bool(_) => "boolean",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub name: String,
    pub values: Values,
    /// Rows whose cell is missing, ascending.
    pub missing: Vec<usize>,
}

impl Column {
    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    pub fn is_missing(&self, row: usize) -> bool {
        self.missing.binary_search(&row).is_ok()
    }

    /// The cell of `row` as text: integers in decimal, floats in Rust's
    /// shortest round-trip form, booleans as `true`/`false`; None when missing.
    pub fn text(&self, row: usize) -> Option<String> {
        if self.is_missing(row) {
            return None;
        }
        Some(match &self.values {
            Values::Int(v) => v[row].to_string(),
            Values::Float(v) => v[row].to_string(),
            Values::Text(v) => v[row].clone(),
            Values::Bool(v) => v[row].to_string(),
        })
    }

    /// Every cell as text (see [`Column::text`]); text cells are moved, not
    /// copied.
    pub fn into_texts(self) -> Vec<Option<String>> {
        match self.values {
            Values::Text(v) => {
                let mut cells: Vec<Option<String>> = v.into_iter().map(Some).collect();
                for &row in &self.missing {
                    cells[row] = None;
                }
                cells
            }
            _ => (0..self.len()).map(|row| self.text(row)).collect(),
        }
    }

    /// Every cell as a number: integers converted, text parsed (None where it
    /// does not parse), booleans as 1 and 0; None when missing.
    pub fn numbers(&self) -> Vec<Option<f64>> {
        (0..self.len())
            .map(|row| {
                if self.is_missing(row) {
                    return None;
                }
                match &self.values {
                    Values::Int(v) => Some(v[row] as f64),
                    Values::Float(v) => Some(v[row]),
                    Values::Text(v) => v[row].trim().parse().ok(),
                    Values::Bool(v) => Some(f64::from(u8::from(v[row]))),
                }
            })
            .collect()
    }
}

/// Named columns of equal length, in file order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Table {
    pub columns: Vec<Column>,
}

impl Table {
    pub fn rows(&self) -> usize {
        self.columns.first().map_or(0, Column::len)
    }

    /// Why the table holds no data, if it holds none: what a reader says
    /// first, since an empty file has none of the columns it looks for.
    pub fn emptiness(&self) -> Option<&'static str> {
        if self.columns.is_empty() {
            Some("the file is empty (no header, no rows)")
        } else if self.rows() == 0 {
            Some("the file has column names but no rows")
        } else {
            None
        }
    }

    pub fn names(&self) -> Vec<&str> {
        self.columns.iter().map(|c| c.name.as_str()).collect()
    }

    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// Removes a column and hands it over (no copy of its cells).
    pub fn take(&mut self, name: &str) -> Option<Column> {
        let at = self.columns.iter().position(|c| c.name == name)?;
        Some(self.columns.remove(at))
    }
}

/// A column to write: its name and values. Nothing recsweep writes has a
/// missing cell, so Parquet columns are written as required.
pub enum WriteColumn<'a> {
    Text(&'a str, Vec<&'a str>),
    /// Written as int32 annotated unsigned, as Arrow's uint32.
    U32(&'a str, &'a [u32]),
    I64(&'a str, &'a [i64]),
    F32(&'a str, &'a [f32]),
    F64(&'a str, &'a [f64]),
}

impl WriteColumn<'_> {
    pub fn name(&self) -> &str {
        match self {
            WriteColumn::Text(n, _)
            | WriteColumn::U32(n, _)
            | WriteColumn::I64(n, _)
            | WriteColumn::F32(n, _)
            | WriteColumn::F64(n, _) => n,
        }
    }

    pub fn len(&self) -> usize {
        match self {
            WriteColumn::Text(_, v) => v.len(),
            WriteColumn::U32(_, v) => v.len(),
            WriteColumn::I64(_, v) => v.len(),
            WriteColumn::F32(_, v) => v.len(),
            WriteColumn::F64(_, v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
