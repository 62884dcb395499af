//! Reading a whole Parquet file into a frame: the one place that opens one,
//! for data logs, stored results, per-user files and outside runs alike.

use std::fs::File;
use std::path::Path;

use polars::prelude::*;

/// Why a Parquet file could not be read.
#[derive(Debug)]
pub enum ParquetReadError {
    /// The file could not be opened.
    Open(std::io::Error),
    /// It opened but is not a readable Parquet file (the message says why).
    Format(String),
}

impl ParquetReadError {
    /// Into a caller's error type: `open` for a file that would not open,
    /// `format` with the message for one that is not readable Parquet.
    pub fn into_error<E>(
        self,
        open: impl FnOnce(std::io::Error) -> E,
        format: impl FnOnce(String) -> E,
    ) -> E {
        match self {
            ParquetReadError::Open(e) => open(e),
            ParquetReadError::Format(m) => format(format!("not a readable Parquet file: {m}")),
        }
    }
}

pub fn read_parquet(path: &Path) -> Result<DataFrame, ParquetReadError> {
    let file = File::open(path).map_err(ParquetReadError::Open)?;
    ParquetReader::new(file)
        .finish()
        .map_err(|e| ParquetReadError::Format(e.to_string()))
}
