//! What each model read of the dataset's feature tables: the report's
//! features table, resolved from each trial's stored `ids` and `features`
//! params against the columns the results folder recorded.

use serde_yaml::{Mapping, Value};

use crate::data::{Side, SideSummary};
use crate::store::ExperimentRecord;

/// One distinct input configuration of one model (or pipeline stage).
#[derive(Debug, Clone, PartialEq)]
pub struct InputRow {
    pub model: String,
    /// As the spec writes `ids`: true, false, users, items.
    pub ids: String,
    pub users: Vec<String>,
    pub items: Vec<String>,
}

/// Every distinct (model, ids, features) among the experiment's trials, in
/// trial order; models without feature params are left out.
pub fn rows(record: &ExperimentRecord) -> Vec<InputRow> {
    let mut out: Vec<InputRow> = Vec::new();
    for trial in &record.expansion.trials {
        let mut stages = vec![(trial.model_name.clone(), &trial.params)];
        for stage in ["retriever", "ranker"] {
            if let Some(Value::Mapping(params)) =
                trial.params.get(stage).and_then(|s| s.get("params"))
            {
                stages.push((format!("{} ({stage})", trial.model_name), params));
            }
        }
        for (model, params) in stages {
            if let Some(row) = row(model, params, &record.features) {
                if !out.contains(&row) {
                    out.push(row);
                }
            }
        }
    }
    out
}

fn row(model: String, params: &Mapping, tables: &[SideSummary]) -> Option<InputRow> {
    let ids = crate::format::describe_value(params.get("ids")?);
    let selected: Option<Vec<&str>> = match params.get("features")? {
        Value::Sequence(names) => Some(names.iter().filter_map(Value::as_str).collect()),
        _ => None, // `all`
    };
    let read = |side: Side| -> Vec<String> {
        tables
            .iter()
            .filter(|t| t.side == side)
            .flat_map(|t| &t.columns)
            .filter(|c| {
                selected
                    .as_ref()
                    .is_none_or(|s| s.contains(&c.name.as_str()))
            })
            .map(|c| c.name.clone())
            .collect()
    };
    Some(InputRow {
        model,
        ids,
        users: read(Side::Users),
        items: read(Side::Items),
    })
}
