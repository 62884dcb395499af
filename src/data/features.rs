//! Side information: a user table and an item table of typed feature
//! columns (`dataset.features`), read from CSV/TSV/Parquet with declared
//! columns or from RecBole atomic files (`.user`, `.item`) whose header
//! cells carry the types, and encoded per dense id of the interaction log.
//!
//! Every value a model reads is a small integer token (0 = unknown: a
//! missing cell, an id without a row) or a standardised number, so the
//! models need no strings and no knowledge of the files.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{hex_prefix, DataError, Interactions};
use crate::table::{self, Delimited};

/// `dataset.features`: one optional table per side.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FeaturesSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub users: Option<FeatureTableSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items: Option<FeatureTableSpec>,
}

/// One feature table.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FeatureTableSpec {
    pub path: PathBuf,
    /// Detected from the extension when absent: `.user`/`.item` are RecBole
    /// atomic files, `.parquet` Parquet, `.tsv` TSV, anything else CSV.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<TableFormat>,
    /// CSV/TSV field separator (default `,` / tab).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub separator: Option<char>,
    /// The id column; default `user_id`/`item_id` when present, else the
    /// first column.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The feature columns and their types. Required for CSV/TSV/Parquet;
    /// for atomic files every header column is used with its header type,
    /// and an entry here overrides that type.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub columns: std::collections::BTreeMap<String, ColumnSpec>,
    /// Atomic files: header columns left out (e.g. a title).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skip: Vec<String>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TableFormat {
    Csv,
    Tsv,
    Parquet,
    Atomic,
}

/// How one column is read.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ColumnSpec {
    #[serde(rename = "type")]
    pub kind: FeatureType,
    /// `multi`: the token separator inside a cell (default `|`; a space in
    /// atomic token_seq columns).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub separator: Option<String>,
    /// `numeric`: quantile buckets (a categorical feature) instead of
    /// standardised values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buckets: Option<usize>,
    /// Cell values that mean "missing" besides an empty cell (e.g. `unknown`,
    /// `NA`): they get the unknown token (numeric: the mean).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<String>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FeatureType {
    /// One token per row.
    Categorical,
    /// Several tokens in one cell, mean-pooled by the models.
    Multi,
    /// A number: standardised (mean 0, sd 1 over the log's entities), or
    /// bucketised by quantiles with `buckets`.
    Numeric,
}

impl FeatureType {
    pub fn as_str(self) -> &'static str {
        match self {
            FeatureType::Categorical => "categorical",
            FeatureType::Multi => "multi",
            FeatureType::Numeric => "numeric",
        }
    }
}

/// Which side of the interaction a table describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Users,
    Items,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Users => "users",
            Side::Items => "items",
        }
    }

    /// `user` or `item`, for messages.
    pub fn singular(self) -> &'static str {
        match self {
            Side::Users => "user",
            Side::Items => "item",
        }
    }

    fn default_id(self) -> &'static str {
        match self {
            Side::Users => "user_id",
            Side::Items => "item_id",
        }
    }
}

impl FeatureTableSpec {
    pub fn format(&self) -> TableFormat {
        self.format
            .unwrap_or_else(|| match self.path.extension().and_then(|e| e.to_str()) {
                Some("user" | "item") => TableFormat::Atomic,
                Some("parquet") => TableFormat::Parquet,
                Some("tsv") => TableFormat::Tsv,
                _ => TableFormat::Csv,
            })
    }

    /// The feature columns this table yields, in file order (atomic files)
    /// or name order (declared columns), without reading the data: what a
    /// spec's `features:` params may name. Atomic files have their header
    /// line read.
    pub fn feature_names(&self, side: Side) -> Result<Vec<(String, FeatureType)>, String> {
        match self.format() {
            TableFormat::Atomic => {
                let header = atomic_header(&self.path)?;
                self.atomic_columns(&header, side)
                    .map(|cols| cols.into_iter().map(|(n, _, c)| (n, c.kind)).collect())
            }
            _ => Ok(self
                .columns
                .iter()
                .map(|(n, c)| (n.clone(), c.kind))
                .collect()),
        }
    }

    /// An atomic header's feature columns: (name, position, how read),
    /// skipping the id column and `skip`.
    fn atomic_columns(
        &self,
        header: &[(String, String)],
        side: Side,
    ) -> Result<Vec<(String, usize, ColumnSpec)>, String> {
        let id = self.id_name(header.iter().map(|(n, _)| n.as_str()), side);
        for name in self.columns.keys().chain(&self.skip) {
            if !header.iter().any(|(n, _)| n == name) {
                return Err(format!(
                    "column `{name}` is not in the header (it has {})",
                    header
                        .iter()
                        .map(|(n, t)| format!("{n}:{t}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
        let mut out = Vec::new();
        for (pos, (name, ty)) in header.iter().enumerate() {
            if *name == id || self.skip.contains(name) {
                continue;
            }
            let spec = match self.columns.get(name) {
                Some(c) => c.clone(),
                None => {
                    let kind = match ty.as_str() {
                        "token" => FeatureType::Categorical,
                        "token_seq" => FeatureType::Multi,
                        "float" => FeatureType::Numeric,
                        other => {
                            return Err(format!(
                                "column `{name}` has RecBole type `{other}`, which recsweep does not read (token, token_seq, float); list it under skip"
                            ))
                        }
                    };
                    ColumnSpec {
                        kind,
                        separator: (kind == FeatureType::Multi).then(|| " ".to_string()),
                        buckets: None,
                        missing: Vec::new(),
                    }
                }
            };
            out.push((name.clone(), pos, spec));
        }
        Ok(out)
    }

    fn id_name<'a>(&self, mut names: impl Iterator<Item = &'a str> + Clone, side: Side) -> String {
        if let Some(id) = &self.id {
            return id.clone();
        }
        // Atomic files name ids `user_id`/`item_id` on either side's file;
        // any `*_id` token column first counts when the side's is absent.
        let first = names.clone().next().unwrap_or_default().to_string();
        names
            .find(|n| *n == side.default_id())
            .map(str::to_string)
            .unwrap_or(first)
    }
}

/// An atomic file's header cells as (name, type).
fn atomic_header(path: &Path) -> Result<Vec<(String, String)>, String> {
    let file = File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let mut line = String::new();
    BufReader::new(file)
        .read_line(&mut line)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if line.trim().is_empty() {
        return Err(format!(
            "{}: line 1: the file is empty (no header, no rows); a RecBole atomic file starts with `name:type` cells",
            path.display()
        ));
    }
    line.trim_end_matches(['\n', '\r'])
        .split('\t')
        .map(|cell| {
            cell.split_once(':')
                .map(|(n, t)| (n.to_string(), t.to_string()))
                .ok_or_else(|| {
                    format!(
                        "{}: line 1: header cell `{cell}` is not `name:type` (a RecBole atomic file); set format: tsv and declare columns for a plain table",
                        path.display()
                    )
                })
        })
        .collect()
}

/// The feature column names of each side, known before any data is read:
/// what models' `features` params are checked against.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FeatureNames {
    pub users: Vec<String>,
    pub items: Vec<String>,
}

impl FeatureNames {
    pub fn side(&self, side: Side) -> &[String] {
        match side {
            Side::Users => &self.users,
            Side::Items => &self.items,
        }
    }

    pub fn contains(&self, name: &str) -> bool {
        self.users.iter().chain(&self.items).any(|n| n == name)
    }
}

impl FeaturesSpec {
    /// Each side's column names; an error is (key path, message).
    pub fn names(&self) -> Result<FeatureNames, (String, String)> {
        let mut names = FeatureNames::default();
        for (side, table) in [(Side::Users, &self.users), (Side::Items, &self.items)] {
            let Some(table) = table else { continue };
            for (name, c) in &table.columns {
                let at =
                    |key: &str| format!("dataset.features.{}.columns.{name}.{key}", side.as_str());
                match (c.kind, c.buckets, c.separator.as_deref()) {
                    (FeatureType::Numeric, Some(n), _) if n < 2 => {
                        return Err((
                            at("buckets"),
                            format!("{n} is out of range; buckets must be ≥ 2"),
                        ))
                    }
                    (FeatureType::Categorical | FeatureType::Multi, Some(_), _) => {
                        return Err((at("buckets"), "applies to numeric columns only".to_string()))
                    }
                    (FeatureType::Multi, _, Some("")) => {
                        return Err((at("separator"), "must not be empty".to_string()))
                    }
                    (FeatureType::Categorical | FeatureType::Numeric, _, Some(_)) => {
                        return Err((
                            at("separator"),
                            "applies to multi columns only (tokens within a cell)".to_string(),
                        ))
                    }
                    _ => {}
                }
            }
            let found = table
                .feature_names(side)
                .map_err(|m| (format!("dataset.features.{}", side.as_str()), m))?;
            let list = match side {
                Side::Users => &mut names.users,
                Side::Items => &mut names.items,
            };
            list.extend(found.into_iter().map(|(n, _)| n));
        }
        if let Some(both) = names.users.iter().find(|n| names.items.contains(n)) {
            return Err((
                "dataset.features".to_string(),
                format!("`{both}` names a user and an item feature; models select features by name, so skip one of them (skip: [{both}]) or rename its column"),
            ));
        }
        Ok(names)
    }
}

/// One encoded feature column, one value per dense id of its side.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureColumn {
    pub name: String,
    pub kind: FeatureType,
    pub values: FeatureValues,
    /// Entities (of the log) whose value is missing or who have no row.
    pub missing: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub enum FeatureValues {
    /// One token per entity; `vocabulary[t - 1]` names token t ≥ 1, token 0
    /// is "unknown".
    Tokens {
        tokens: Vec<u32>,
        vocabulary: Vec<String>,
    },
    /// Entity e's tokens are `tokens[offsets[e]..offsets[e + 1]]`, never
    /// empty (a missing cell holds token 0).
    Sets {
        offsets: Vec<usize>,
        tokens: Vec<u32>,
        vocabulary: Vec<String>,
    },
    /// Standardised values; a missing value is 0 (the mean).
    Numbers(Vec<f64>),
}

impl FeatureValues {
    /// Tokens a model embeds (unknown included); 0 for numbers.
    pub fn cardinality(&self) -> usize {
        match self {
            FeatureValues::Tokens { vocabulary, .. } | FeatureValues::Sets { vocabulary, .. } => {
                vocabulary.len() + 1
            }
            FeatureValues::Numbers(_) => 0,
        }
    }

    /// Entity `e`'s tokens (one for categorical columns); empty for numbers.
    pub fn tokens_of(&self, e: u32) -> &[u32] {
        match self {
            FeatureValues::Tokens { tokens, .. } => std::slice::from_ref(&tokens[e as usize]),
            FeatureValues::Sets {
                offsets, tokens, ..
            } => &tokens[offsets[e as usize]..offsets[e as usize + 1]],
            FeatureValues::Numbers(_) => &[],
        }
    }
}

/// The features of one side, aligned with the log's dense ids.
#[derive(Debug, Clone, PartialEq)]
pub struct SideFeatures {
    pub columns: Vec<FeatureColumn>,
    pub stats: TableStats,
}

/// What reading a table did, for the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableStats {
    pub path: String,
    pub rows: usize,
    /// Rows whose id is not in the (filtered) log: ignored.
    pub rows_not_in_log: usize,
    /// Ids of the log with no row: every feature unknown.
    pub ids_without_row: usize,
}

/// One column as the report describes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnSummary {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: FeatureType,
    /// Distinct tokens (buckets), the unknown token excluded; 0 for numbers.
    pub values: usize,
    pub missing: usize,
}

/// One side's table as the report describes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SideSummary {
    pub side: Side,
    #[serde(flatten)]
    pub table: TableStats,
    pub columns: Vec<ColumnSummary>,
}

impl Features {
    /// What the results folder keeps of the features: names, types and
    /// counts, so a report can say what each model read.
    pub fn summary(&self) -> Vec<SideSummary> {
        [(Side::Users, &self.users), (Side::Items, &self.items)]
            .into_iter()
            .filter_map(|(side, f)| {
                let f = f.as_ref()?;
                Some(SideSummary {
                    side,
                    table: f.stats.clone(),
                    columns: f
                        .columns
                        .iter()
                        .map(|c| ColumnSummary {
                            name: c.name.clone(),
                            kind: c.kind,
                            values: c.values.cardinality().saturating_sub(1),
                            missing: c.missing,
                        })
                        .collect(),
                })
            })
            .collect()
    }
}

/// No features at all: what models fit on when a dataset has none.
pub static NO_FEATURES: Features = Features {
    users: None,
    items: None,
};

/// Both sides' features.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Features {
    pub users: Option<SideFeatures>,
    pub items: Option<SideFeatures>,
}

impl Features {
    pub fn side(&self, side: Side) -> Option<&SideFeatures> {
        match side {
            Side::Users => self.users.as_ref(),
            Side::Items => self.items.as_ref(),
        }
    }

    /// A content hash of every encoded value: results computed with other
    /// features are not mistaken for these.
    pub fn fingerprint(&self) -> String {
        let mut h = Sha256::new();
        for side in [&self.users, &self.items] {
            let Some(side) = side else {
                h.update([0u8]);
                continue;
            };
            for c in &side.columns {
                h.update(c.name.as_bytes());
                h.update([c.kind as u8]);
                match &c.values {
                    FeatureValues::Tokens { tokens, vocabulary } => {
                        tokens.iter().for_each(|t| h.update(t.to_le_bytes()));
                        vocabulary.iter().for_each(|v| h.update(v.as_bytes()));
                    }
                    FeatureValues::Sets {
                        offsets,
                        tokens,
                        vocabulary,
                    } => {
                        offsets
                            .iter()
                            .for_each(|o| h.update((*o as u64).to_le_bytes()));
                        tokens.iter().for_each(|t| h.update(t.to_le_bytes()));
                        vocabulary.iter().for_each(|v| h.update(v.as_bytes()));
                    }
                    FeatureValues::Numbers(v) => v.iter().for_each(|x| h.update(x.to_le_bytes())),
                }
            }
        }
        hex_prefix(&h.finalize(), 16)
    }
}

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
