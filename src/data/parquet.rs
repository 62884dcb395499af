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
    /// The message for a file that is not Parquet, as every caller words it.
    pub fn describe(&self) -> String {
        match self {
            ParquetReadError::Open(e) => e.to_string(),
            ParquetReadError::Format(m) => format!("not a readable Parquet file: {m}"),
        }
    }
}

pub fn read_parquet(path: &Path) -> Result<DataFrame, ParquetReadError> {
    let file = File::open(path).map_err(ParquetReadError::Open)?;
    ParquetReader::new(file)
        .finish()
        .map_err(|e| ParquetReadError::Format(e.to_string()))
}
