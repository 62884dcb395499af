//! Parquet files through Apache Arrow's `parquet` crate, at its column level
//! (no Arrow arrays): reading every flat column of a file, and writing the
//! tables recsweep stores.

use std::cell::Cell;
use std::fs::File;
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::Arc;

use rayon::prelude::*;

use parquet::basic::{
    Compression, ConvertedType, LogicalType, Repetition, TimeUnit, Type as Physical,
};
use parquet::column::reader::{ColumnReader, ColumnReaderImpl};
use parquet::data_type::{
    ByteArray, ByteArrayType, DataType, DoubleType, FloatType, Int32Type, Int64Type,
};
use parquet::file::properties::WriterProperties;
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::{ColumnDescriptor, Type};

use super::{Column, Table, TableError, Values, WriteColumn};

/// Records decoded per call into a column reader.
const BATCH: usize = 64 * 1024;
/// Rows per row group written: big enough for compression and dictionary
/// pages to pay off, small enough that readers stream.
const ROW_GROUP: usize = 1 << 20;

/// Reads every column of a Parquet file. Flat columns of the physical types
/// boolean, int32, int64, float, double and byte array (text) are read;
/// unsigned integers, decimals, dates and timestamps by their logical type.
/// Nested columns, int96 and fixed-length byte arrays are errors naming the
/// column. Every codec Parquet writers use by default (snappy, zstd, gzip,
/// lz4, brotli) is read.
pub fn read_parquet(path: &Path) -> Result<Table, TableError> {
    let file = File::open(path).map_err(TableError::Open)?;
    let reader = guarded(|| SerializedFileReader::new(file).map_err(format))?;
    let schema = reader.metadata().file_metadata().schema_descr_ptr();
    // Columns are independent: each is decoded on its own rayon task (the
    // same cells in the same order at any thread count), through its own
    // file handle, as reads seek.
    let columns = (0..schema.num_columns())
        .into_par_iter()
        .map(|i| {
            let file = File::open(path).map_err(TableError::Open)?;
            let reader = guarded(|| SerializedFileReader::new(file).map_err(format))?;
            let descr = schema.column(i);
            let kind = kind(&descr)?;
            let mut column = Column {
                name: descr.path().string(),
                values: match kind {
                    Kind::Bool => Values::Bool(Vec::new()),
                    Kind::Int { .. } | Kind::Time(_) => Values::Int(Vec::new()),
                    Kind::Float | Kind::Decimal(_) => Values::Float(Vec::new()),
                    Kind::Text => Values::Text(Vec::new()),
                },
                missing: Vec::new(),
            };
            guarded(|| {
                for group in 0..reader.num_row_groups() {
                    let row_group = reader.get_row_group(group).map_err(format)?;
                    let chunk = row_group.get_column_reader(i).map_err(format)?;
                    read_chunk(chunk, kind, &descr, &mut column)?;
                }
                Ok(column)
            })
        })
        .collect::<Result<Vec<Column>, TableError>>()?;
    if let Some(c) = columns.iter().find(|c| c.len() != columns[0].len()) {
        return Err(TableError::Format(format!(
            "not a readable Parquet file: column `{}` has {} rows, `{}` has {}",
            c.name,
            c.len(),
            columns[0].name,
            columns[0].len()
        )));
    }
    Ok(Table { columns })
}

thread_local! {
    /// Set while this thread runs the Parquet parser under [`guarded`].
    static GUARDED: Cell<bool> = const { Cell::new(false) };
}

/// Runs the `parquet` crate's parser so that a panic becomes a format error.
/// It panics on some corrupt files (2 distinct assertions in 29 of 8,345
/// byte-flipped or truncated copies of a fixture, when this was written),
/// and bad input must end in exit 2 with the file named, never a panic.
fn guarded<T>(parse: impl FnOnce() -> Result<T, TableError>) -> Result<T, TableError> {
    let before = GUARDED.replace(true);
    let result = std::panic::catch_unwind(AssertUnwindSafe(parse));
    GUARDED.set(before);
    result.unwrap_or_else(|payload| {
        let why = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("no message");
        Err(TableError::Format(format!(
            "not a readable Parquet file: the reader failed on it ({why})"
        )))
    })
}

/// Installs a panic hook that stays silent for panics [`guarded`] turns into
/// errors, and otherwise prints as the default hook does; for the binary,
/// whose users should see the error naming their file, not the parser's
/// panic message above it.
pub fn quiet_guarded_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !GUARDED.get() {
            default(info);
        }
    }));
}

fn format(e: parquet::errors::ParquetError) -> TableError {
    TableError::Format(format!("not a readable Parquet file: {e}"))
}

/// How a column's values become [`Values`]; the physical width (int32 or
/// int64, float or double) comes with the column's reader.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Bool,
    /// int32 or int64, annotated unsigned or not.
    Int {
        unsigned: bool,
    },
    Float,
    /// int32 or int64 holding a decimal with this scale.
    Decimal(i32),
    /// A date (days) or timestamp (this many units per second), read as
    /// Unix seconds like every timestamp recsweep reads: a log split over
    /// Parquet and CSV files orders as one.
    Time(Time),
    Text,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Time {
    Days,
    PerSecond(i64),
}

impl Time {
    /// Whole Unix seconds (rounded toward the past, so order is kept except
    /// within one second), or why not.
    fn seconds(self, v: i64) -> Result<i64, String> {
        match self {
            Time::Days => v
                .checked_mul(86_400)
                .ok_or_else(|| format!("the date {v} (days since 1970) is out of range")),
            Time::PerSecond(n) => Ok(v.div_euclid(n)),
        }
    }
}

fn kind(descr: &ColumnDescriptor) -> Result<Kind, TableError> {
    let name = descr.path().string();
    let unsupported = |what: &str| {
        TableError::Format(format!(
            "column `{name}` is {what}; recsweep reads flat columns of integers, floats, text and booleans"
        ))
    };
    if descr.max_rep_level() > 0 || descr.path().parts().len() > 1 {
        return Err(unsupported("nested (a list, map or struct)"));
    }
    let logical = descr.logical_type_ref();
    let converted = descr.converted_type();
    let unsigned = match logical {
        Some(LogicalType::Integer(t)) => !t.is_signed,
        _ => matches!(
            converted,
            ConvertedType::UINT_8
                | ConvertedType::UINT_16
                | ConvertedType::UINT_32
                | ConvertedType::UINT_64
        ),
    };
    let time = match logical {
        Some(LogicalType::Date) => Some(Time::Days),
        Some(LogicalType::Timestamp(t)) => Some(Time::PerSecond(match t.unit {
            TimeUnit::MILLIS => 1_000,
            TimeUnit::MICROS => 1_000_000,
            TimeUnit::NANOS => 1_000_000_000,
        })),
        _ => match converted {
            ConvertedType::DATE => Some(Time::Days),
            ConvertedType::TIMESTAMP_MILLIS => Some(Time::PerSecond(1_000)),
            ConvertedType::TIMESTAMP_MICROS => Some(Time::PerSecond(1_000_000)),
            _ => None,
        },
    };
    let decimal = match logical {
        Some(LogicalType::Decimal(d)) => Some(d.scale),
        _ => (converted == ConvertedType::DECIMAL).then(|| descr.type_scale()),
    };
    Ok(match (descr.physical_type(), decimal) {
        (Physical::INT32 | Physical::INT64, None) if time.is_some() => {
            Kind::Time(time.expect("checked"))
        }
        (Physical::BOOLEAN, _) => Kind::Bool,
        (Physical::INT32 | Physical::INT64, Some(scale)) => Kind::Decimal(scale),
        (Physical::INT32 | Physical::INT64, None) => Kind::Int { unsigned },
        (Physical::FLOAT | Physical::DOUBLE, _) => Kind::Float,
        (Physical::BYTE_ARRAY, _) => Kind::Text,
        (Physical::INT96, _) => return Err(unsupported("int96 (a legacy timestamp)")),
        (Physical::FIXED_LEN_BYTE_ARRAY, _) => {
            return Err(unsupported(
                "a fixed-length byte array (a decimal, UUID or float16)",
            ))
        }
    })
}

/// Appends one column chunk to `column`.
fn read_chunk(
    chunk: ColumnReader,
    kind: Kind,
    descr: &ColumnDescriptor,
    column: &mut Column,
) -> Result<(), TableError> {
    let cells = Cells {
        max_def: descr.max_def_level(),
        name: &column.name,
        missing: &mut column.missing,
    };
    let unsigned = matches!(kind, Kind::Int { unsigned: true });
    let time = |v: i64| match kind {
        Kind::Time(t) => t.seconds(v),
        _ => Ok(v),
    };
    // 10^scale for a decimal; plain integers never reach a float column.
    let scale = match kind {
        Kind::Decimal(scale) => 10f64.powi(scale),
        _ => 1.0,
    };
    match (chunk, &mut column.values) {
        (ColumnReader::BoolColumnReader(r), Values::Bool(out)) => cells.place(r, out, Ok),
        (ColumnReader::Int32ColumnReader(r), Values::Int(out)) => cells.place(r, out, |v| {
            time(if unsigned {
                i64::from(v as u32)
            } else {
                i64::from(v)
            })
        }),
        (ColumnReader::Int64ColumnReader(r), Values::Int(out)) => cells.place(r, out, |v| {
            if unsigned && v < 0 {
                Err(format!(
                    "the unsigned value {} is beyond the largest signed 64-bit integer",
                    v as u64
                ))
            } else {
                time(v)
            }
        }),
        (ColumnReader::Int32ColumnReader(r), Values::Float(out)) => {
            cells.place(r, out, |v| Ok(f64::from(v) / scale))
        }
        (ColumnReader::Int64ColumnReader(r), Values::Float(out)) => {
            cells.place(r, out, |v| Ok(v as f64 / scale))
        }
        (ColumnReader::FloatColumnReader(r), Values::Float(out)) => {
            cells.place(r, out, |v| Ok(f64::from(v)))
        }
        (ColumnReader::DoubleColumnReader(r), Values::Float(out)) => cells.place(r, out, Ok),
        (ColumnReader::ByteArrayColumnReader(r), Values::Text(out)) => {
            cells.place(r, out, |v: ByteArray| {
                String::from_utf8(v.data().to_vec()).map_err(|_| "not valid UTF-8 text".into())
            })
        }
        _ => unreachable!("kind() matched the reader to the values"),
    }
}

/// Where a column chunk's cells go.
struct Cells<'a> {
    /// Definition level of a present cell (0: the column is required).
    max_def: i16,
    name: &'a str,
    missing: &'a mut Vec<usize>,
}

impl Cells<'_> {
    /// Decodes a column chunk in batches and appends its cells to `out`,
    /// converting each present value; a null becomes a placeholder whose row
    /// is recorded in `missing`.
    fn place<T: DataType, V: Default>(
        self,
        mut reader: ColumnReaderImpl<T>,
        out: &mut Vec<V>,
        mut convert: impl FnMut(T::T) -> Result<V, String>,
    ) -> Result<(), TableError> {
        let Cells {
            max_def,
            name,
            missing,
        } = self;
        let mut push = |out: &mut Vec<V>, v| {
            let row = out.len();
            out.push(convert(v).map_err(|m| {
                TableError::Format(format!("column `{name}`, row {}: {m}", row + 1))
            })?);
            Ok::<(), TableError>(())
        };
        let mut levels = Vec::new();
        let mut values = Vec::new();
        loop {
            levels.clear();
            values.clear();
            let (records, _, _) = reader
                .read_records(
                    BATCH,
                    (max_def > 0).then_some(&mut levels),
                    None,
                    &mut values,
                )
                .map_err(format)?;
            if records == 0 {
                return Ok(());
            }
            if max_def == 0 {
                for v in values.drain(..) {
                    push(out, v)?;
                }
                continue;
            }
            let mut present = values.drain(..);
            for &level in &levels {
                if level == max_def {
                    let v = present.next().ok_or_else(|| {
                        TableError::Format(format!(
                            "not a readable Parquet file: column `{name}` has fewer values than present cells"
                        ))
                    })?;
                    push(out, v)?;
                } else {
                    missing.push(out.len());
                    out.push(V::default());
                }
            }
        }
    }
}

fn schema(column: &WriteColumn) -> parquet::errors::Result<Type> {
    let (physical, logical) = match column {
        WriteColumn::Text(..) => (Physical::BYTE_ARRAY, Some(LogicalType::String)),
        WriteColumn::U32(..) => (Physical::INT32, Some(LogicalType::integer(32, false))),
        WriteColumn::I64(..) => (Physical::INT64, None),
        WriteColumn::F32(..) => (Physical::FLOAT, None),
        WriteColumn::F64(..) => (Physical::DOUBLE, None),
    };
    Type::primitive_type_builder(column.name(), physical)
        .with_repetition(Repetition::REQUIRED)
        .with_logical_type(logical)
        .build()
}

/// Writes `columns` (of equal length) as one Parquet file, zstd-compressed,
/// in row groups of 2^20 rows, on the calling thread.
pub fn write_parquet<W: std::io::Write + Send>(
    sink: W,
    columns: &[WriteColumn],
) -> parquet::errors::Result<()> {
    let rows = columns.first().map_or(0, WriteColumn::len);
    assert!(
        columns.iter().all(|c| c.len() == rows),
        "columns of a table have equal length"
    );
    let fields = columns
        .iter()
        .map(|c| schema(c).map(Arc::new))
        .collect::<Result<Vec<_>, _>>()?;
    let schema = Type::group_type_builder("schema")
        .with_fields(fields)
        .build()?;
    let properties = WriterProperties::builder()
        .set_compression(Compression::ZSTD(Default::default()))
        .set_created_by(format!("recsweep {}", env!("CARGO_PKG_VERSION")))
        .build();
    let mut writer = SerializedFileWriter::new(sink, Arc::new(schema), Arc::new(properties))?;
    for group_start in (0..rows).step_by(ROW_GROUP) {
        let rows = group_start..(group_start + ROW_GROUP).min(rows);
        let mut group = writer.next_row_group()?;
        for column in columns {
            let mut out = group.next_column()?.expect("one writer per schema field");
            match column {
                WriteColumn::Text(_, v) => {
                    let bytes: Vec<ByteArray> = v[rows.clone()]
                        .iter()
                        .map(|s| ByteArray::from(s.as_bytes().to_vec()))
                        .collect();
                    out.typed::<ByteArrayType>()
                        .write_batch(&bytes, None, None)?;
                }
                WriteColumn::U32(_, v) => {
                    // The bits of the u32: the unsigned annotation reads them back.
                    let ints: Vec<i32> = v[rows.clone()].iter().map(|&x| x as i32).collect();
                    out.typed::<Int32Type>().write_batch(&ints, None, None)?;
                }
                WriteColumn::I64(_, v) => {
                    out.typed::<Int64Type>()
                        .write_batch(&v[rows.clone()], None, None)?;
                }
                WriteColumn::F32(_, v) => {
                    out.typed::<FloatType>()
                        .write_batch(&v[rows.clone()], None, None)?;
                }
                WriteColumn::F64(_, v) => {
                    out.typed::<DoubleType>()
                        .write_batch(&v[rows.clone()], None, None)?;
                }
            }
            out.close()?;
        }
        group.close()?;
    }
    writer.close().map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(columns: &[WriteColumn]) -> Table {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.parquet");
        write_parquet(File::create(&path).unwrap(), columns).unwrap();
        read_parquet(&path).unwrap()
    }

    #[test]
    fn written_columns_read_back_exactly() {
        let table = roundtrip(&[
            WriteColumn::Text("user", vec!["a", "b", "ü"]),
            WriteColumn::U32("rank", &[1, 2, u32::MAX]),
            WriteColumn::I64("ts", &[-5, 0, i64::MAX]),
            WriteColumn::F32("score", &[0.1, -0.0, f32::INFINITY]),
            WriteColumn::F64("ndcg", &[0.25, f64::NAN, 1.0]),
        ]);
        assert_eq!(table.names(), ["user", "rank", "ts", "score", "ndcg"]);
        assert_eq!(table.rows(), 3);
        let text = |v: &[&str]| Values::Text(v.iter().map(|s| s.to_string()).collect());
        assert_eq!(table.columns[0].values, text(&["a", "b", "ü"]));
        assert_eq!(
            table.columns[1].values,
            Values::Int(vec![1, 2, i64::from(u32::MAX)])
        );
        assert_eq!(table.columns[2].values, Values::Int(vec![-5, 0, i64::MAX]));
        let Values::Float(score) = &table.columns[3].values else {
            panic!("floats read as Float")
        };
        assert_eq!(score[0] as f32, 0.1f32);
        assert!(score[1] == 0.0 && score[1].is_sign_negative());
        assert_eq!(score[2], f64::INFINITY);
        let Values::Float(ndcg) = &table.columns[4].values else {
            panic!("doubles read as Float")
        };
        assert_eq!(ndcg[0], 0.25);
        assert!(ndcg[1].is_nan());
        assert!(table.columns.iter().all(|c| c.missing.is_empty()));
    }

    #[test]
    fn tables_longer_than_a_row_group_keep_their_order() {
        let n = ROW_GROUP + 3;
        let ids: Vec<i64> = (0..n as i64).rev().collect();
        let table = roundtrip(&[WriteColumn::I64("id", &ids)]);
        assert_eq!(table.columns[0].values, Values::Int(ids));
    }

    #[test]
    fn an_empty_table_keeps_its_columns() {
        let table = roundtrip(&[WriteColumn::F64("x", &[]), WriteColumn::Text("y", vec![])]);
        assert_eq!(table.names(), ["x", "y"]);
        assert_eq!(table.rows(), 0);
    }

    #[test]
    fn a_file_that_is_not_parquet_is_a_format_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.parquet");
        std::fs::write(&path, "user,item\n1,2\n").unwrap();
        match read_parquet(&path) {
            Err(TableError::Format(m)) => assert!(m.contains("not a readable Parquet file"), "{m}"),
            other => panic!("{other:?}"),
        }
        match read_parquet(&dir.path().join("absent.parquet")) {
            Err(TableError::Open(_)) => {}
            other => panic!("{other:?}"),
        }
    }

    /// tools/parquet_fixtures.py: the same table written by pyarrow with
    /// each codec, nulls included, read back cell for cell.
    #[test]
    fn pyarrow_files_read_with_every_codec() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/parquet");
        for codec in ["none", "snappy", "gzip", "brotli", "lz4", "zstd"] {
            let t = read_parquet(&dir.join(format!("{codec}.parquet"))).unwrap();
            let column = |name: &str| t.column(name).unwrap();
            assert_eq!(
                t.names(),
                ["user", "item", "count", "rating", "score", "price", "ts", "day", "ok"]
            );
            assert_eq!(
                column("user").clone().into_texts(),
                [
                    Some("u1".to_string()),
                    Some("u2".into()),
                    Some("u1".into()),
                    None
                ]
            );
            assert_eq!(column("item").values, Values::Int(vec![10, -3, 7, 8]));
            assert_eq!(
                column("count").values,
                Values::Int(vec![0, 1, 4_000_000_000, 5])
            );
            assert_eq!(
                column("rating").numbers(),
                [Some(4.5), None, Some(1.25), Some(3.0)]
            );
            let score = column("score").numbers();
            assert_eq!(
                (score[0], score[2], score[3]),
                (Some(0.1), Some(-2.5), Some(1e300))
            );
            assert!(score[1].unwrap().is_nan());
            let price = column("price").numbers();
            for (got, want) in price.iter().zip([1.25, -0.5, 100.0, 0.01]) {
                assert!(
                    (got.unwrap() - want).abs() < 1e-12,
                    "{codec}: {got:?} vs {want}"
                );
            }
            // Timestamps (ms) and dates (days) as Unix seconds, rounded
            // toward the past: -1 ms is 1969-12-31T23:59:59.999.
            assert_eq!(
                column("ts").values,
                Values::Int(vec![0, 1_600_000_000, -1, 0])
            );
            assert_eq!(column("day").values, Values::Int(vec![86_400; 4]));
            assert_eq!(
                column("ok").clone().into_texts(),
                [
                    Some("true".to_string()),
                    Some("false".into()),
                    None,
                    Some("true".into())
                ]
            );
            assert_eq!(column("ok").missing, [2]);
        }
    }

    #[test]
    fn a_nested_column_is_an_error_naming_it() {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/parquet/nested.parquet");
        match read_parquet(&path) {
            Err(TableError::Format(m)) => {
                assert!(
                    m.contains("`tags.list.element`") && m.contains("nested"),
                    "{m}"
                )
            }
            other => panic!("{other:?}"),
        }
    }

    /// Corrupt copies of a fixture (bytes flipped, truncations) read as a
    /// table or fail with an error; some of them make the parser panic, and
    /// those panics come back as errors.
    #[test]
    fn corrupt_files_are_errors_not_panics() {
        quiet_guarded_panics();
        let fixture =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/parquet/zstd.parquet");
        let bytes = std::fs::read(fixture).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("corrupt.parquet");
        let mut copies: Vec<Vec<u8>> = Vec::new();
        for flip in [0x01u8, 0x80, 0xff] {
            copies.extend((0..bytes.len()).map(|at| {
                let mut b = bytes.clone();
                b[at] ^= flip;
                b
            }));
        }
        copies.extend((0..bytes.len()).step_by(7).map(|cut| bytes[..cut].to_vec()));
        let mut caught = 0;
        for copy in copies {
            std::fs::write(&path, &copy).unwrap();
            let read = std::panic::catch_unwind(|| read_parquet(&path));
            match read.expect("read_parquet panicked") {
                Err(TableError::Format(m)) if m.contains("the reader failed on it") => caught += 1,
                _ => {}
            }
        }
        assert!(
            caught > 0,
            "no copy reached the parser's panics: the test checks nothing"
        );
    }
}
