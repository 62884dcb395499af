//! Reads `dataset.features`' tables and encodes them per dense id of the
//! interaction log: columns resolved by declaration or atomic header, rows
//! matched to ids, each column encoded by its type.

use std::collections::HashMap;

use super::feature_values::{FeatureColumn, FeatureValues, Features, SideFeatures, TableStats};
use super::features::{ColumnSpec, FeatureTableSpec, FeatureType, FeaturesSpec, TableFormat};
use super::Side;
use super::{DataError, Interactions};
use crate::table::{self, Delimited};

/// Reads and encodes every table of `spec` against the log's ids.
pub fn load_features(spec: &FeaturesSpec, data: &Interactions) -> Result<Features, DataError> {
    let side = |table: &Option<FeatureTableSpec>, side, labels: &[String]| {
        table
            .as_ref()
            .map(|t| read_table(t, side, labels))
            .transpose()
    };
    Ok(Features {
        users: side(&spec.users, Side::Users, &data.user_labels)?,
        items: side(&spec.items, Side::Items, &data.item_labels)?,
    })
}

/// The key ids are matched by: integers compare as numbers (`007` is 7, as
/// the interaction loader reads it), anything else as trimmed text.
fn id_key(s: &str) -> String {
    let t = s.trim();
    t.parse::<i64>()
        .map_or_else(|_| t.to_string(), |n| n.to_string())
}

fn read_table(
    spec: &FeatureTableSpec,
    side: Side,
    labels: &[String],
) -> Result<SideFeatures, DataError> {
    let path = &spec.path;
    let err = |message: String| DataError::Format {
        path: path.clone(),
        message,
    };
    let format = spec.format();
    let frame = open_table(spec)?;
    let names: Vec<String> = frame.names().into_iter().map(str::to_string).collect();
    let (columns, id_column) = resolve_columns(spec, side, &names).map_err(err)?;
    let text = |name: &str| -> Result<Vec<Option<String>>, DataError> {
        let column = frame.column(name).ok_or_else(|| {
            err(format!(
                "column `{name}` not found; the file has columns {}",
                names.join(", ")
            ))
        })?;
        Ok(column
            .clone()
            .into_texts()
            .into_iter()
            .map(|v| v.map(|v| v.trim().to_string()).filter(|v| !v.is_empty()))
            .collect())
    };
    let ids = text(&id_column)?;
    let rows = match_rows(&ids, labels, &id_column, side, format).map_err(err)?;
    let mut out = Vec::with_capacity(columns.len());
    for (frame_name, name, c) in columns {
        let cells = text(&frame_name)?;
        out.push(encode_column(name, &c, &cells, &rows.row_of, format).map_err(err)?);
    }
    Ok(SideFeatures {
        columns: out,
        stats: TableStats {
            path: path.display().to_string(),
            rows: ids.len(),
            rows_not_in_log: rows.not_in_log,
            ids_without_row: labels.len() - rows.matched,
        },
    })
}

/// The table's cells, every column as text (no inference): the types are
/// the spec's or the header's, and a bad cell gets its line.
fn open_table(spec: &FeatureTableSpec) -> Result<table::Table, DataError> {
    let path = &spec.path;
    let err = |message: String| DataError::Format {
        path: path.clone(),
        message,
    };
    let format = spec.format();
    match format {
        TableFormat::Parquet => table::read_parquet(path),
        TableFormat::Csv | TableFormat::Tsv | TableFormat::Atomic => {
            let separator = match (format, spec.separator) {
                (TableFormat::Atomic, _) => b'\t',
                (_, Some(c)) => u8::try_from(c)
                    .map_err(|_| err(format!("separator `{c}` is not a single-byte character")))?,
                (TableFormat::Tsv, None) => b'\t',
                _ => b',',
            };
            let options = Delimited {
                separator,
                header: true,
                quoting: format != TableFormat::Atomic,
                infer: false,
            };
            table::read_delimited(path, options)
        }
    }
    .map_err(|e| {
        e.into_error(
            |source| DataError::Open {
                path: path.clone(),
                source,
            },
            |message| err(format!("cannot read as a feature table: {message}")),
        )
    })
}

/// Where a row is, as a message names it.
fn row_label(format: TableFormat, row: usize) -> String {
    match format {
        TableFormat::Parquet => format!("row {}", row + 1),
        _ => format!("line {}", row + 2),
    }
}

/// (column name in the file, feature name, how read) per feature column.
type ColumnPlan = Vec<(String, String, ColumnSpec)>;

/// The feature columns and the id column's name in the file: from a
/// RecBole atomic header (`name:type`), or from the spec's declared columns.
fn resolve_columns(
    spec: &FeatureTableSpec,
    side: Side,
    names: &[String],
) -> Result<(ColumnPlan, String), String> {
    if spec.format() == TableFormat::Atomic {
        let header: Vec<(String, String)> = names
            .iter()
            .map(|n| {
                n.split_once(':')
                    .map(|(a, b)| (a.to_string(), b.to_string()))
                    .ok_or_else(|| {
                        format!(
                            "line 1: header cell `{n}` is not `name:type` (a RecBole atomic file)"
                        )
                    })
            })
            .collect::<Result<_, _>>()?;
        let columns = spec
            .atomic_columns(&header, side)?
            .into_iter()
            .map(|(name, pos, c)| (names[pos].clone(), name, c))
            .collect();
        let plain: Vec<&str> = names
            .iter()
            .map(|n| n.split_once(':').map_or(n.as_str(), |(a, _)| a))
            .collect();
        let id = spec.id_name(plain.iter().copied(), side);
        let pos = plain
            .iter()
            .position(|n| *n == id)
            .ok_or_else(|| format!("id column `{id}` not found in the header"))?;
        return Ok((columns, names[pos].clone()));
    }
    if spec.columns.is_empty() {
        return Err(
            "no feature columns declared: add columns: {NAME: {type: categorical | multi | numeric}}".into(),
        );
    }
    let columns = names
        .iter()
        .filter_map(|name| {
            spec.columns
                .get(name)
                .map(|c| (name.clone(), name.clone(), c.clone()))
        })
        .collect();
    if let Some(missing) = spec.columns.keys().find(|k| !names.contains(k)) {
        return Err(format!(
            "column `{missing}` not found; the file has columns {}",
            names.join(", ")
        ));
    }
    Ok((
        columns,
        spec.id_name(names.iter().map(String::as_str), side),
    ))
}

/// Which row describes each entity of the log.
struct RowMatch {
    /// By dense id: the row, or None without one.
    row_of: Vec<Option<usize>>,
    /// Rows whose id the log does not have.
    not_in_log: usize,
    /// Entities with a row.
    matched: usize,
}

/// Rows to entities by id: an empty or repeated id is an error at its
/// line, and so is a table none of whose ids the log has.
fn match_rows(
    ids: &[Option<String>],
    labels: &[String],
    id_column: &str,
    side: Side,
    format: TableFormat,
) -> Result<RowMatch, String> {
    let lookup: HashMap<String, u32> = labels
        .iter()
        .enumerate()
        .map(|(i, l)| (id_key(l), i as u32))
        .collect();
    let mut row_of: Vec<Option<usize>> = vec![None; labels.len()];
    let mut not_in_log = 0;
    for (row, id) in ids.iter().enumerate() {
        let Some(id) = id else {
            return Err(format!(
                "{}: the id (`{id_column}`) is empty",
                row_label(format, row)
            ));
        };
        match lookup.get(&id_key(id)) {
            Some(&e) => {
                if let Some(first) = row_of[e as usize] {
                    return Err(format!(
                        "{}: id `{id}` is also on {}; a feature table has one row per id",
                        row_label(format, row),
                        row_label(format, first)
                    ));
                }
                row_of[e as usize] = Some(row);
            }
            None => not_in_log += 1,
        }
    }
    let matched = row_of.iter().filter(|r| r.is_some()).count();
    if matched == 0 && !labels.is_empty() {
        return Err(format!(
            "no id in column `{id_column}` matches a {} id of the log (first ids: {}; the log's: {}); is `id:` the right column?",
            side.singular(),
            ids.iter().flatten().take(3).cloned().collect::<Vec<_>>().join(", "),
            labels.iter().take(3).cloned().collect::<Vec<_>>().join(", ")
        ));
    }
    Ok(RowMatch {
        row_of,
        not_in_log,
        matched,
    })
}

/// One feature column's values per entity, by its declared type.
fn encode_column(
    name: String,
    c: &ColumnSpec,
    cells: &[Option<String>],
    row_of: &[Option<usize>],
    format: TableFormat,
) -> Result<FeatureColumn, String> {
    let n = row_of.len();
    let cell = |e: usize| {
        row_of[e]
            .and_then(|r| cells[r].as_deref())
            .filter(|v| !c.missing.iter().any(|m| m == v))
    };
    let missing = (0..n).filter(|&e| cell(e).is_none()).count();
    let values = match c.kind {
        FeatureType::Categorical => tokens(&(0..n).map(cell).collect::<Vec<_>>()),
        FeatureType::Multi => {
            let sep = c.separator.clone().unwrap_or_else(|| "|".to_string());
            sets(&(0..n).map(cell).collect::<Vec<_>>(), &sep)
        }
        FeatureType::Numeric => {
            let mut numbers = Vec::with_capacity(n);
            for (e, row) in row_of.iter().enumerate() {
                numbers.push(match cell(e) {
                    None => None,
                    Some(s) => match s.parse::<f64>() {
                        Ok(x) if x.is_finite() => Some(x),
                        _ => {
                            return Err(format!(
                                "{}: column `{name}` is `{s}`, not a finite number (list it under the column's missing: [...] if it means missing, or declare the column categorical)",
                                row_label(format, row.expect("a cell has a row"))
                            ))
                        }
                    },
                });
            }
            match c.buckets {
                Some(n) => buckets(&numbers, n),
                None => FeatureValues::Numbers(standardise(&numbers)),
            }
        }
    };
    Ok(FeatureColumn {
        name,
        kind: c.kind,
        values,
        missing,
    })
}

/// Tokens in sorted value order (so ids do not depend on row order); a
/// missing cell is token 0.
fn tokens(cells: &[Option<&str>]) -> FeatureValues {
    let mut vocabulary: Vec<String> = cells.iter().flatten().map(|s| s.to_string()).collect();
    vocabulary.sort();
    vocabulary.dedup();
    let token = |s: &str| {
        vocabulary
            .binary_search_by(|v| v.as_str().cmp(s))
            .expect("collected") as u32
            + 1
    };
    let tokens = cells.iter().map(|c| c.map_or(0, token)).collect();
    FeatureValues::Tokens { tokens, vocabulary }
}

fn sets(cells: &[Option<&str>], separator: &str) -> FeatureValues {
    let split = |s: &str| -> Vec<String> {
        s.split(separator)
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .collect()
    };
    let parts: Vec<Vec<String>> = cells
        .iter()
        .map(|c| c.map(split).unwrap_or_default())
        .collect();
    let mut vocabulary: Vec<String> = parts.iter().flatten().cloned().collect();
    vocabulary.sort();
    vocabulary.dedup();
    let mut offsets = vec![0];
    let mut tokens = Vec::new();
    for p in &parts {
        let mut ts: Vec<u32> = p
            .iter()
            .map(|s| vocabulary.binary_search(s).expect("collected") as u32 + 1)
            .collect();
        ts.sort_unstable();
        ts.dedup();
        if ts.is_empty() {
            ts.push(0);
        }
        tokens.extend(ts);
        offsets.push(tokens.len());
    }
    FeatureValues::Sets {
        offsets,
        tokens,
        vocabulary,
    }
}

/// (x − mean) / sd over the entities with a value; missing → 0.
fn standardise(values: &[Option<f64>]) -> Vec<f64> {
    let present: Vec<f64> = values.iter().flatten().copied().collect();
    let n = present.len().max(1) as f64;
    let mean = present.iter().sum::<f64>() / n;
    let sd = (present.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt();
    values
        .iter()
        .map(|v| match v {
            Some(x) if sd > 0.0 => (x - mean) / sd,
            _ => 0.0,
        })
        .collect()
}

/// Quantile buckets: the sorted present values cut into `n` equal-count
/// runs; a value equal to a cut goes up, so equal values share a bucket.
/// Labels name each bucket's range; missing → token 0.
fn buckets(values: &[Option<f64>], n: usize) -> FeatureValues {
    let mut sorted: Vec<f64> = values.iter().flatten().copied().collect();
    sorted.sort_by(f64::total_cmp);
    let mut cuts: Vec<f64> = (1..n)
        .filter_map(|k| sorted.get(k * sorted.len() / n).copied())
        .collect();
    cuts.dedup();
    let bucket = |x: f64| cuts.partition_point(|&c| c <= x) as u32 + 1;
    let tokens = values.iter().map(|v| v.map_or(0, bucket)).collect();
    let number = crate::describe::number;
    let vocabulary = (0..=cuts.len())
        .map(|b| match (b.checked_sub(1).map(|p| cuts[p]), cuts.get(b)) {
            (None, Some(hi)) => format!("< {}", number(*hi)),
            (Some(lo), Some(hi)) => format!("[{}, {})", number(lo), number(*hi)),
            (Some(lo), None) => format!("≥ {}", number(lo)),
            (None, None) => "all".to_string(),
        })
        .collect();
    FeatureValues::Tokens { tokens, vocabulary }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_sets_and_buckets_encode_as_documented() {
        let t = tokens(&[Some("b"), None, Some("a"), Some("b")]);
        assert_eq!(
            t,
            FeatureValues::Tokens {
                tokens: vec![2, 0, 1, 2],
                vocabulary: vec!["a".into(), "b".into()]
            }
        );
        let s = sets(&[Some("x|y"), Some(""), None, Some("y| y")], "|");
        assert_eq!(s.tokens_of(0), &[1, 2]);
        assert_eq!(s.tokens_of(1), &[0]);
        assert_eq!(s.tokens_of(2), &[0]);
        assert_eq!(s.tokens_of(3), &[2]);
        // 1..=8 in 4 buckets: cuts at the 3rd, 5th and 7th values.
        let values: Vec<Option<f64>> = (1..=8).map(|x| Some(x as f64)).chain([None]).collect();
        let FeatureValues::Tokens { tokens, vocabulary } = buckets(&values, 4) else {
            panic!()
        };
        assert_eq!(tokens, vec![1, 1, 2, 2, 3, 3, 4, 4, 0]);
        assert_eq!(vocabulary, vec!["< 3", "[3, 5)", "[5, 7)", "≥ 7"]);
        assert_eq!(
            standardise(&[Some(1.0), Some(3.0), None]),
            vec![-1.0, 1.0, 0.0]
        );
    }
}
