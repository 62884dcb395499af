//! Side information encoded per dense id of the interaction log: every
//! value a model reads is a small integer token (0 = unknown: a missing
//! cell, an id without a row) or a standardised number, so the models need
//! no strings and no knowledge of the files.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::features::FeatureType;
use super::hex_prefix;
use super::Side;

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
