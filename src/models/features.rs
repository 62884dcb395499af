//! A model's input for one side (users or items), docs/spec.md "Features":
//! the id embedding (unless `ids` turns it off for the side) ⊕ an embedding per categorical
//! feature ⊕ the mean of a multi-valued feature's token embeddings ⊕ the
//! numeric features, concatenated. Two-tower towers, NCF's MLP and DCN's
//! input all read a side through this one encoder.
//!
//! An entity without train interactions (a cold item or user) has no
//! trained id embedding, so its id segment is zero: it is scored from its
//! features alone, which is what makes cold-start evaluation honest.

use faer::{Mat, MatRef};
use rand_pcg::Pcg64Mcg;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use super::real::{Real, Trained};
use super::train::{self, RowGrads, Step, Table};
use super::{FitInput, ModelError, ParamIssue};
use crate::data::{FeatureColumn, FeatureNames, FeatureValues, Features, Side};

/// The `features` param: `all` the dataset has, or the columns named
/// (from either side's table; `[]` reads none). A value, not an absent
/// key, so a sweep can set it like any knob.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum FeatureSet {
    #[default]
    All,
    Named(Vec<String>),
}

impl FeatureSet {
    fn names(&self) -> Option<&[String]> {
        match self {
            FeatureSet::All => None,
            FeatureSet::Named(names) => Some(names),
        }
    }
}

impl Serialize for FeatureSet {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            FeatureSet::All => s.serialize_str("all"),
            FeatureSet::Named(names) => names.serialize(s),
        }
    }
}

impl schemars::JsonSchema for FeatureSet {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "FeatureSet".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "`all` or a list of feature column names",
            "anyOf": [{"const": "all"}, {"type": "array", "items": {"type": "string"}}],
        })
    }
}

impl<'de> Deserialize<'de> for FeatureSet {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> Visitor<'de> for Visit {
            type Value = FeatureSet;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("`all` or a list of feature column names")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<FeatureSet, E> {
                if v == "all" {
                    Ok(FeatureSet::All)
                } else {
                    Err(E::invalid_value(de::Unexpected::Str(v), &self))
                }
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<FeatureSet, A::Error> {
                let mut names = Vec::new();
                while let Some(name) = seq.next_element::<String>()? {
                    names.push(name);
                }
                Ok(FeatureSet::Named(names))
            }
        }
        d.deserialize_any(Visit)
    }
}

/// The `ids` param: which sides learn an id embedding. `true` (both),
/// `false` (neither: features only), `users` or `items` (the other side
/// reads features only, e.g. an item tower of features for cold items).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Ids {
    #[default]
    Both,
    Users,
    Items,
    Neither,
}

impl Ids {
    pub fn on(self, side: Side) -> bool {
        match self {
            Ids::Both => true,
            Ids::Neither => false,
            Ids::Users => side == Side::Users,
            Ids::Items => side == Side::Items,
        }
    }
}

impl Serialize for Ids {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Ids::Both => s.serialize_bool(true),
            Ids::Neither => s.serialize_bool(false),
            Ids::Users => s.serialize_str("users"),
            Ids::Items => s.serialize_str("items"),
        }
    }
}

impl schemars::JsonSchema for Ids {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Ids".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "true, false, `users` or `items`",
            "anyOf": [{"type": "boolean"}, {"enum": ["users", "items"]}],
        })
    }
}

impl<'de> Deserialize<'de> for Ids {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl Visitor<'_> for Visit {
            type Value = Ids;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("true, false, `users` or `items`")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Ids, E> {
                Ok(if v { Ids::Both } else { Ids::Neither })
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Ids, E> {
                match v {
                    "users" => Ok(Ids::Users),
                    "items" => Ok(Ids::Items),
                    _ => Err(E::invalid_value(de::Unexpected::Str(v), &self)),
                }
            }
        }
        d.deserialize_any(Visit)
    }
}

/// What a feature-taking model reads of a user or an item: its params
/// `ids` and `features`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Inputs<'p> {
    /// Which sides learn an id embedding.
    pub ids: Ids,
    /// The feature columns read, by name, from either side's table; None:
    /// every column the dataset has; empty: ids only.
    pub features: Option<&'p [String]>,
}

impl<'p> Inputs<'p> {
    pub fn new(ids: Ids, features: &'p FeatureSet) -> Self {
        Self {
            ids,
            features: features.names(),
        }
    }
}

impl Inputs<'_> {
    /// The columns of `side` this model reads.
    pub fn columns<'a>(&self, features: &'a Features, side: Side) -> Vec<&'a FeatureColumn> {
        let Some(table) = features.side(side) else {
            return Vec::new();
        };
        table
            .columns
            .iter()
            .filter(|c| self.features.is_none_or(|names| names.contains(&c.name)))
            .collect()
    }

    /// Unknown feature names (key `features`) and sides with neither ids
    /// nor features (key `ids`).
    pub fn issues(&self, names: &FeatureNames) -> Vec<ParamIssue> {
        let mut issues = Vec::new();
        for name in self.features.unwrap_or_default() {
            if !names.contains(name) {
                let known: Vec<&str> = names
                    .users
                    .iter()
                    .chain(&names.items)
                    .map(String::as_str)
                    .collect();
                issues.push(ParamIssue::new(
                    "features",
                    if known.is_empty() {
                        format!("`{name}`: the dataset has no feature tables (dataset.features)")
                    } else {
                        format!(
                            "`{name}` is not a feature column; the dataset has {}",
                            known.join(", ")
                        )
                    },
                ));
            }
        }
        for side in [Side::Users, Side::Items] {
            if !self.ids.on(side) && !self.reads(names.side(side)) {
                issues.push(ParamIssue::new(
                    "ids",
                    format!(
                        "no {} id embedding and no {} feature selected leaves the {} side with no input",
                        side.singular(),
                        side.singular(),
                        side.as_str()
                    ),
                ));
            }
        }
        issues
    }

    /// Whether the model reads any feature of `side`, given the names each
    /// side's table has: what scoring a cold entity of that side needs.
    pub fn reads(&self, names: &[String]) -> bool {
        match self.features {
            None => !names.is_empty(),
            Some(selected) => selected.iter().any(|s| names.contains(s)),
        }
    }
}

/// One side's encoder: its tables and the feature columns it reads.
#[derive(Debug, Clone)]
pub struct Encoder<T: Real = Trained> {
    ids: Option<Table<T>>,
    /// Entities with train interactions: only they use their id embedding.
    warm: Vec<bool>,
    fields: Vec<Field<T>>,
    dim: usize,
}

#[derive(Debug, Clone)]
struct Field<T: Real> {
    /// A copy of the column's values: a fitted model owns its inputs.
    values: FeatureValues,
    /// The token embeddings; None for a numeric column.
    table: Option<Table<T>>,
}

/// Gradients of one batch: the id rows, then each embedded field's rows.
#[derive(Debug, Default)]
pub struct EncoderGrads<T: Real = Trained> {
    ids: RowGrads<T>,
    fields: Vec<RowGrads<T>>,
}

impl<T: Real> Encoder<T> {
    /// An encoder of `warm.len()` entities, embeddings of width `dim` drawn
    /// from N(0, scale²) (ids first, then the columns in order).
    pub fn new(
        warm: Vec<bool>,
        ids: bool,
        columns: &[&FeatureColumn],
        dim: usize,
        scale: f64,
        rng: &mut Pcg64Mcg,
    ) -> Self {
        let ids = ids.then(|| Table::normal(warm.len(), dim, scale, rng));
        let fields = columns
            .iter()
            .map(|c| Field {
                values: c.values.clone(),
                table: match &c.values {
                    FeatureValues::Numbers(_) => None,
                    v => Some(Table::normal(v.cardinality(), dim, scale, rng)),
                },
            })
            .collect();
        Self {
            ids,
            warm,
            fields,
            dim,
        }
    }

    /// Every entity's input in f32 (entities × width): what pair scorers
    /// (ncf, dcn) precompute once per fit.
    pub fn encode_all_f32(&self) -> Mat<f32> {
        let all: Vec<u32> = (0..self.len() as u32).collect();
        let x = self.encode(&all);
        Mat::from_fn(x.nrows(), x.ncols(), |r, k| x[(r, k)].narrow())
    }

    /// Entities encoded (users or items).
    pub fn len(&self) -> usize {
        self.warm.len()
    }

    /// Input features per entity.
    pub fn width(&self) -> usize {
        self.segments().map(|(_, w)| w).sum()
    }

    /// (field index or None for ids, width) of each segment, in order.
    fn segments(&self) -> impl Iterator<Item = (Option<usize>, usize)> + '_ {
        let ids = self.ids.as_ref().map(|_| (None, self.dim));
        ids.into_iter().chain(
            self.fields
                .iter()
                .enumerate()
                .map(|(f, field)| (Some(f), if field.table.is_some() { self.dim } else { 1 })),
        )
    }

    /// Writes entity `e`'s input into `out` (`width()` long).
    pub fn encode_into(&self, e: u32, out: &mut [T]) {
        let mut at = 0;
        for (field, w) in self.segments() {
            let seg = &mut out[at..at + w];
            at += w;
            match field {
                None => match (&self.ids, self.warm[e as usize]) {
                    (Some(t), true) => seg.copy_from_slice(t.row(e)),
                    _ => seg.fill(T::zero()),
                },
                Some(f) => {
                    let field = &self.fields[f];
                    match (&field.table, &field.values) {
                        (_, FeatureValues::Numbers(v)) => seg[0] = T::of(v[e as usize]),
                        (Some(t), values) => {
                            let tokens = values.tokens_of(e);
                            seg.fill(T::zero());
                            let share = T::of(1.0 / tokens.len() as f64);
                            for &tok in tokens {
                                for (s, &x) in seg.iter_mut().zip(t.row(tok)) {
                                    *s += share * x;
                                }
                            }
                        }
                        (None, _) => unreachable!("token columns have a table"),
                    }
                }
            }
        }
    }

    /// Inputs of `entities`, one row each.
    pub fn encode(&self, entities: &[u32]) -> Mat<T> {
        // Rows written contiguously, then one transposing copy into faer's
        // column-major layout (an entry at a time into it strides by the
        // batch size at every step).
        let w = self.width();
        let mut rows = vec![T::zero(); entities.len() * w];
        for (row, &e) in rows.chunks_exact_mut(w.max(1)).zip(entities) {
            self.encode_into(e, row);
        }
        Mat::from_fn(entities.len(), w, |a, k| rows[a * w + k])
    }

    /// Row gradients from the input gradient `dx` (entities × width, from
    /// column `offset` on), with the l2 term λ·‖row‖²/n per use of an
    /// embedding row; returns that term's value and the gradients.
    pub fn backward(
        &self,
        entities: &[u32],
        dx: MatRef<T>,
        offset: usize,
        l2: f64,
        n: f64,
    ) -> (f64, EncoderGrads<T>) {
        let mut grads = EncoderGrads {
            ids: RowGrads::default(),
            fields: self.fields.iter().map(|_| RowGrads::default()).collect(),
        };
        let mut penalty = 0.0;
        let mut g = vec![T::zero(); self.dim];
        let decay = T::of(2.0 * l2 / n);
        // Column a of the transpose is row a of dx, contiguous.
        let dxt = dx.transpose().to_owned();
        for (a, &e) in entities.iter().enumerate() {
            let dx = dxt.col(a);
            let mut at = offset;
            for (field, w) in self.segments() {
                let start = at;
                at += w;
                let (table, rows, tokens): (&Table<T>, &mut RowGrads<T>, &[u32]) = match field {
                    None => match (&self.ids, self.warm[e as usize]) {
                        (Some(t), true) => (t, &mut grads.ids, std::slice::from_ref(&e)),
                        _ => continue,
                    },
                    Some(f) => match &self.fields[f].table {
                        Some(t) => (t, &mut grads.fields[f], self.fields[f].values.tokens_of(e)),
                        None => continue,
                    },
                };
                let share = T::of(1.0 / tokens.len() as f64);
                for &tok in tokens {
                    let row = table.row(tok);
                    penalty += l2 * train::dot(row, row).wide() / n;
                    for k in 0..self.dim {
                        g[k] = share * dx[start + k] + decay * row[k];
                    }
                    rows.add(tok, T::one(), &g);
                }
            }
        }
        (penalty, grads)
    }

    pub fn update(&mut self, grads: &EncoderGrads<T>, step: &Step) {
        if let Some(t) = &mut self.ids {
            t.update(&grads.ids, step);
        }
        for (field, g) in self.fields.iter_mut().zip(&grads.fields) {
            if let Some(t) = &mut field.table {
                t.update(g, step);
            }
        }
    }

    /// Learned numbers (embedding rows).
    pub fn parameters(&self) -> u64 {
        self.tables().map(|t| t.values.len() as u64).sum()
    }

    pub fn is_finite(&self) -> bool {
        self.tables().all(Table::is_finite)
    }

    fn tables(&self) -> impl Iterator<Item = &Table<T>> {
        self.ids
            .iter()
            .chain(self.fields.iter().filter_map(|f| f.table.as_ref()))
    }

    #[cfg(test)]
    fn tables_mut(&mut self) -> Vec<&mut Table<T>> {
        self.ids
            .iter_mut()
            .chain(self.fields.iter_mut().filter_map(|f| f.table.as_mut()))
            .collect()
    }
}

/// The encoder of `side` for a model reading `inputs`, from the fit's
/// train matrix and feature tables. A side with neither ids nor features
/// has no input at all: an error, not a constant tower.
pub fn encoder<T: Real>(
    input: &FitInput,
    inputs: Inputs,
    side: Side,
    dim: usize,
    scale: f64,
    rng: &mut Pcg64Mcg,
) -> Result<Encoder<T>, ModelError> {
    let columns = inputs.columns(input.features, side);
    if !inputs.ids.on(side) && columns.is_empty() {
        return Err(ModelError::Input(format!(
            "no id embedding and no {} feature selected: the {} side has no input",
            side.singular(),
            side.as_str()
        )));
    }
    Ok(Encoder::new(
        warm(input.train, side),
        inputs.ids.on(side),
        &columns,
        dim,
        scale,
        rng,
    ))
}

/// Entities with train interactions: rows (users) or columns (items) of
/// the train matrix with at least one entry.
pub fn warm(train: &crate::data::CsrMatrix, side: Side) -> Vec<bool> {
    match side {
        Side::Users => (0..train.n_rows())
            .map(|u| !train.row(u).is_empty())
            .collect(),
        Side::Items => train.column_counts().iter().map(|&c| c > 0).collect(),
    }
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use crate::data::FeatureType;
    use crate::models::gradient_check::{check_rows, random};
    use rand::SeedableRng;

    // The tests run in f64: central differences need its precision.
    type Encoder = super::Encoder<f64>;
    type EncoderGrads = super::EncoderGrads<f64>;
    type RowGrads = super::RowGrads<f64>;

    /// Finite differences of `loss` against every table of the encoder
    /// `get` picks out of `net` (id and feature embeddings alike).
    pub fn check_encoder<N: Clone>(
        net: &N,
        get: fn(&mut N) -> &mut Encoder,
        grads: &EncoderGrads,
        loss: &dyn Fn(&N) -> f64,
    ) {
        let mut copy = net.clone();
        let enc = get(&mut copy);
        let has_ids = enc.ids.is_some();
        let embedded: Vec<usize> = (0..enc.fields.len())
            .filter(|&f| enc.fields[f].table.is_some())
            .collect();
        let row_grads: Vec<&RowGrads> = has_ids
            .then_some(&grads.ids)
            .into_iter()
            .chain(embedded.iter().map(|&f| &grads.fields[f]))
            .collect();
        for (t, g) in row_grads.into_iter().enumerate() {
            let table = get(&mut net.clone()).tables_mut()[t].clone();
            check_rows(&table, g, &|table| {
                let mut probe = net.clone();
                *get(&mut probe).tables_mut()[t] = table;
                loss(&probe)
            });
        }
    }

    /// Five items: a categorical column (item 2 unknown), a multi-valued
    /// one (item 1 has two tokens, item 3 none) and a number.
    pub fn columns() -> Vec<FeatureColumn> {
        vec![
            FeatureColumn {
                name: "studio".into(),
                kind: FeatureType::Categorical,
                values: FeatureValues::Tokens {
                    tokens: vec![1, 2, 0, 1, 2],
                    vocabulary: vec!["a".into(), "b".into()],
                },
                missing: 1,
            },
            FeatureColumn {
                name: "genre".into(),
                kind: FeatureType::Multi,
                values: FeatureValues::Sets {
                    offsets: vec![0, 1, 3, 4, 5, 7],
                    tokens: vec![1, 1, 3, 2, 0, 2, 3],
                    vocabulary: vec!["x".into(), "y".into(), "z".into()],
                },
                missing: 0,
            },
            FeatureColumn {
                name: "year".into(),
                kind: FeatureType::Numeric,
                values: FeatureValues::Numbers(vec![-1.0, 0.5, 0.5, 0.0, 1.0]),
                missing: 0,
            },
        ]
    }

    /// An encoder of the five items of [`columns`], item 2 cold.
    fn encoder(dim: usize, seed: u64) -> Encoder {
        let cols = columns();
        let refs: Vec<&FeatureColumn> = cols.iter().collect();
        let warm = vec![true, true, false, true, true];
        Encoder::new(
            warm,
            true,
            &refs,
            dim,
            0.5,
            &mut Pcg64Mcg::seed_from_u64(seed),
        )
    }

    #[test]
    fn inputs_concatenate_ids_embeddings_pooled_sets_and_numbers() {
        let enc = encoder(2, 1);
        assert_eq!(enc.width(), 2 + 2 + 2 + 1);
        let x = enc.encode(&[1, 2]);
        let id = enc.ids.as_ref().unwrap();
        let (studio, genre) = (
            enc.fields[0].table.as_ref().unwrap(),
            enc.fields[1].table.as_ref().unwrap(),
        );
        for k in 0..2 {
            assert_eq!(x[(0, k)], id.row(1)[k]);
            assert_eq!(x[(0, 2 + k)], studio.row(2)[k]);
            assert_eq!(x[(0, 4 + k)], 0.5 * (genre.row(1)[k] + genre.row(3)[k]));
            // Item 2 is cold: no id embedding; its studio is unknown (token 0).
            assert_eq!(x[(1, k)], 0.0);
            assert_eq!(x[(1, 2 + k)], studio.row(0)[k]);
        }
        assert_eq!(x[(0, 6)], 0.5);
    }

    /// Σ c·x + the l2 terms, by finite differences through every table.
    #[test]
    fn gradients_through_embeddings_and_pooling_match_finite_differences() {
        let enc = encoder(3, 2);
        let batch = [1u32, 0, 2, 1];
        let c = random(batch.len(), enc.width() + 2, 7);
        let (l2, n, offset) = (0.03, 4.0, 2);
        let loss = |e: &Encoder| {
            let x = e.encode(&batch);
            let mut s = e.backward(&batch, c.as_ref(), offset, l2, n).0;
            for a in 0..x.nrows() {
                for k in 0..x.ncols() {
                    s += c[(a, offset + k)] * x[(a, k)];
                }
            }
            s
        };
        let (_, grads) = enc.backward(&batch, c.as_ref(), offset, l2, n);
        check_encoder(&enc, |e| e, &grads, &loss);
        // The cold item's id row gets nothing.
        assert!(grads.ids.get(2, 3).is_none());
    }
}
