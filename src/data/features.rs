//! Side information as a spec declares it (`dataset.features`): a user
//! table and an item table of typed feature columns, in CSV/TSV/Parquet with
//! declared columns or in RecBole atomic files (`.user`, `.item`) whose
//! header cells carry the types, and the rules they must meet. The
//! encoded values are in feature_values.rs, the reader in
//! feature_reader.rs.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::Side;

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
    pub(super) fn atomic_columns(
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

    pub(super) fn id_name<'a>(
        &self,
        mut names: impl Iterator<Item = &'a str> + Clone,
        side: Side,
    ) -> String {
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
