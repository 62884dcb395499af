//! The spec as a JSON Schema (`recsweep schema`), for editors that check
//! and complete YAML (the YAML language server reads it from a
//! `# yaml-language-server: $schema=...` line, which `recsweep init`
//! writes). Each section's schema is derived (schemars) from the type the
//! parser deserializes it into, so keys, types, enum values and defaults
//! cannot drift from what `validate` accepts; a model's params come from
//! the same defaults and meanings `recsweep list models` prints. Rules
//! between keys (a cutoff the selection metric needs, a knob no model has)
//! stay `validate`'s: a schema can only say what each key takes.

use schemars::generate::SchemaSettings;
use schemars::SchemaGenerator;
use serde_json::{json, Map, Value};

use super::parse::TOP_KEYS;
use super::*;
use crate::models::{catalog, popularity_methods, Popularity};

/// The file name `recsweep init` gives the schema beside a spec it writes.
pub const FILE_NAME: &str = "recsweep.schema.json";

/// The spec's JSON Schema (draft 7, which every YAML language server reads).
pub fn schema() -> Value {
    let mut generator = SchemaSettings::draft07().into_generator();
    let mut properties = Map::new();
    for key in TOP_KEYS {
        let schema = match *key {
            "name" => json!({
                "type": "string",
                "description": "the experiment's name: its results go to RESULTS/<name>, its report to reports/<name>.md",
            }),
            "question" => json!({
                "type": "string",
                "description": "the question the experiment answers, in one line: the report opens with it, then its answer",
            }),
            "seed" => json!({
                "type": "integer",
                "minimum": 0,
                "default": DEFAULT_SEED,
                "description": "the base seed of the split, the synthetic data and every trial's training seed",
            }),
            "dataset" => section::<DatasetSpec>(&mut generator),
            "split" => section::<SplitSpec>(&mut generator),
            "evaluation" => section::<EvaluationSpec>(&mut generator),
            "models" => json!({
                "type": "array",
                "minItems": 1,
                "items": model_entry(&mut generator),
                "description": "the models compared, each with its params and its own sweep (`recsweep list models`)",
            }),
            "sweep" => section::<SweepSpec>(&mut generator),
            "selection" => section::<SelectionSpec>(&mut generator),
            "compare" => section::<CompareSpec>(&mut generator),
            "check" => section::<CheckSpec>(&mut generator),
            "report" => section::<ReportSpec>(&mut generator),
            "simulation" => section::<SimulationSpec>(&mut generator),
            other => unreachable!("top-level key `{other}` has no schema"),
        };
        properties.insert(key.to_string(), schema);
    }
    json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "recsweep experiment spec",
        "description": "docs/spec.md; `recsweep validate SPEC` checks the rules between keys",
        "type": "object",
        "properties": properties,
        "required": ["name", "dataset", "models"],
        "additionalProperties": false,
        "definitions": generator.take_definitions(true),
    })
}

/// The schema as `recsweep schema` prints it and `init` writes it.
pub fn text() -> String {
    serde_json::to_string_pretty(&schema()).expect("a schema serializes") + "\n"
}

fn section<T: schemars::JsonSchema>(generator: &mut SchemaGenerator) -> Value {
    generator.subschema_for::<T>().to_value()
}

/// A model entry: its derived keys, and for each model kind the params it
/// takes, with the default, rule and meaning `recsweep list models` shows.
fn model_entry(generator: &mut SchemaGenerator) -> Value {
    let entry = section::<ModelEntry>(generator);
    let popularity = section::<Popularity>(generator);
    let mut rules = vec![entry];
    for kind in ModelKind::ALL {
        // The params struct's own schema (keys, types, defaults), inlined
        // and described with the meanings of `recsweep list models`.
        let mut params = kind.params_schema(generator).to_value();
        if let Some(reference) = params.get("$ref").and_then(Value::as_str) {
            let name = reference.rsplit('/').next().unwrap_or_default().to_string();
            params = generator.definitions_mut().remove(&name).unwrap_or(params);
        }
        for doc in kind.param_docs() {
            let Some(p) = params
                .get_mut("properties")
                .and_then(|ps| ps.get_mut(doc.param))
            else {
                continue;
            };
            let rule = match doc.param {
                "popularity" => popularity_methods(kind).join(", "),
                _ => doc.rule.to_string(),
            };
            p["description"] = json!(if rule.is_empty() {
                doc.meaning.to_string()
            } else {
                format!("{} ({rule})", doc.meaning)
            });
            if doc.param == "popularity" {
                // Only the methods this model implements.
                let default = p.get("default").cloned();
                *p = json!({
                    "allOf": [popularity.clone(), {"properties": {"method": {"enum": popularity_methods(kind)}}}],
                    "description": p["description"].clone(),
                });
                if let Some(d) = default {
                    p["default"] = d;
                }
            }
        }
        params["description"] = json!(catalog::summary(kind));
        rules.push(json!({
            "if": {"properties": {"model": {"const": kind.as_str()}}, "required": ["model"]},
            "then": {"properties": {"params": params}},
        }));
    }
    json!({ "allOf": rules })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_top_level_key_and_model_param_is_described() {
        let s = schema();
        let top: Vec<&str> = s["properties"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut expected = TOP_KEYS.to_vec();
        expected.sort_unstable();
        let mut top = top;
        top.sort_unstable();
        assert_eq!(top, expected);
        let rules = s["properties"]["models"]["items"]["allOf"]
            .as_array()
            .unwrap();
        assert_eq!(rules.len(), 1 + ModelKind::ALL.len());
        // EASE's l2: a number, default 500, with list's meaning; no key
        // beyond its params.
        let ease = rules
            .iter()
            .find(|r| r["if"]["properties"]["model"]["const"] == "ease")
            .unwrap();
        let l2 = &ease["then"]["properties"]["params"]["properties"]["l2"];
        assert_eq!(l2["type"], "number");
        assert_eq!(l2["default"], json!(500.0));
        let meaning = ModelKind::Ease
            .param_docs()
            .iter()
            .find(|p| p.param == "l2")
            .unwrap()
            .meaning;
        assert!(l2["description"].as_str().unwrap().starts_with(meaning));
        assert_eq!(
            ease["then"]["properties"]["params"]["additionalProperties"],
            false
        );
    }
}
