//! Evaluation protocols as written in a spec: `full`, or
//! `{sampled: {negatives: 100, sampler: uniform}}`, or a list of these whose
//! first is primary (selection, leaderboard, significance).
//!
//! Read by hand from the YAML value: serde_yaml 0.9 would demand `!sampled`
//! tags for a data-carrying enum, which nobody writes in a spec.

use std::fmt;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_yaml::{Mapping, Value};

/// How candidates are chosen for each evaluated user.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Protocol {
    /// Every item the user has not interacted with.
    Full,
    /// The held-out items among `negatives` sampled items the user has never
    /// interacted with, as in the NCF paper; ties rank negatives first.
    Sampled { negatives: usize, sampler: Sampler },
    /// Each user's randomised-exposure test items (`dataset.random_test`),
    /// positives and negatives, instead of the split's test part: what the
    /// user would take where no system chose what they saw.
    Randomised,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Sampler {
    #[default]
    Uniform,
    /// ∝ train popularity n_i (items without train interactions are never drawn).
    Popularity,
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Protocol::Full => write!(f, "full"),
            Protocol::Sampled { negatives, sampler } => {
                let s = match sampler {
                    Sampler::Uniform => "uniform",
                    Sampler::Popularity => "popularity",
                };
                write!(f, "sampled({negatives} {s} negatives)")
            }
            Protocol::Randomised => write!(f, "randomised"),
        }
    }
}

/// The protocols of a spec, never empty; the first is primary.
#[derive(Debug, Clone, PartialEq)]
pub struct Protocols(pub Vec<Protocol>);

impl Default for Protocols {
    fn default() -> Self {
        Self(vec![Protocol::Full])
    }
}

impl Protocols {
    pub fn primary(&self) -> Protocol {
        self.0[0]
    }

    pub fn secondary(&self) -> &[Protocol] {
        &self.0[1..]
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SampledFields {
    #[serde(default = "default_negatives")]
    negatives: usize,
    #[serde(default)]
    sampler: Sampler,
}

fn default_negatives() -> usize {
    100
}

const FORMS: &str = "`full`, `{sampled: {negatives: 100, sampler: uniform}}` (sampler: uniform | popularity) or `randomised` (dataset.random_test), or a list of these";

fn one(value: &Value) -> Result<Protocol, String> {
    match value {
        Value::String(s) if s == "full" => Ok(Protocol::Full),
        Value::String(s) if s == "randomised" => Ok(Protocol::Randomised),
        Value::String(s) if s == "sampled" => Ok(Protocol::Sampled {
            negatives: default_negatives(),
            sampler: Sampler::Uniform,
        }),
        Value::Mapping(m) if m.len() == 1 && m.contains_key("sampled") => {
            let inner = m.get("sampled").cloned().unwrap_or(Value::Null);
            let inner = if inner.is_null() {
                Value::Mapping(Mapping::new())
            } else {
                inner
            };
            let fields: SampledFields =
                serde_yaml::from_value(inner).map_err(|e| format!("in `sampled`: {e}"))?;
            if fields.negatives == 0 {
                return Err("sampled.negatives must be at least 1".into());
            }
            Ok(Protocol::Sampled {
                negatives: fields.negatives,
                sampler: fields.sampler,
            })
        }
        other => {
            let text = serde_yaml::to_string(other)
                .unwrap_or_default()
                .trim()
                .to_string();
            let hint = crate::describe::did_you_mean(&text, &["full", "sampled", "randomised"])
                .map(|s| format!("did you mean `{s}`? "))
                .unwrap_or_default();
            Err(format!("`{text}` is not a protocol; {hint}use {FORMS}"))
        }
    }
}

/// The forms `Protocols` deserializes (see `FORMS`), for `recsweep schema`.
impl schemars::JsonSchema for Protocols {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Protocols".into()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let sampler = generator.subschema_for::<Sampler>();
        let one = schemars::json_schema!({
            "oneOf": [
                {"enum": ["full", "sampled", "randomised"]},
                {
                    "type": "object",
                    "properties": {"sampled": {
                        "type": ["object", "null"],
                        "properties": {
                            "negatives": {"type": "integer", "minimum": 1, "default": default_negatives()},
                            "sampler": sampler,
                        },
                        "additionalProperties": false,
                    }},
                    "required": ["sampled"],
                    "additionalProperties": false,
                },
            ]
        });
        schemars::json_schema!({
            "description": format!("Full ranking by default; {FORMS}. The first is primary."),
            "default": "full",
            "anyOf": [one.clone(), {"type": "array", "items": one, "minItems": 1}],
        })
    }
}

impl<'de> Deserialize<'de> for Protocols {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        let list = match &value {
            Value::Sequence(items) if items.is_empty() => {
                return Err(D::Error::custom(format!("empty list; use {FORMS}")))
            }
            Value::Sequence(items) => items.iter().map(one).collect::<Result<Vec<_>, _>>(),
            other => one(other).map(|p| vec![p]),
        };
        let list = list.map_err(D::Error::custom)?;
        for (i, p) in list.iter().enumerate() {
            if list[..i].contains(p) {
                return Err(D::Error::custom(format!("protocol `{p}` is listed twice")));
            }
        }
        Ok(Protocols(list))
    }
}

impl Serialize for Protocols {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let values: Vec<Value> = self
            .0
            .iter()
            .map(|p| match p {
                Protocol::Full => Value::String("full".into()),
                Protocol::Randomised => Value::String("randomised".into()),
                Protocol::Sampled { negatives, sampler } => {
                    let mut inner = Mapping::new();
                    inner.insert("negatives".into(), Value::from(*negatives as u64));
                    inner.insert(
                        "sampler".into(),
                        serde_yaml::to_value(sampler).expect("samplers serialize"),
                    );
                    let mut outer = Mapping::new();
                    outer.insert("sampled".into(), Value::Mapping(inner));
                    Value::Mapping(outer)
                }
            })
            .collect();
        if values.len() == 1 {
            values[0].serialize(serializer)
        } else {
            values.serialize(serializer)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Protocols, String> {
        serde_yaml::from_str(text).map_err(|e| e.to_string())
    }

    #[test]
    fn single_list_and_round_trip() {
        assert_eq!(parse("full").unwrap(), Protocols(vec![Protocol::Full]));
        let both = parse("[{sampled: {negatives: 99, sampler: popularity}}, full]").unwrap();
        assert_eq!(
            both.primary(),
            Protocol::Sampled {
                negatives: 99,
                sampler: Sampler::Popularity
            }
        );
        assert_eq!(both.secondary(), &[Protocol::Full]);
        let randomised = parse("[full, randomised]").unwrap();
        assert_eq!(randomised.secondary(), &[Protocol::Randomised]);
        let text = serde_yaml::to_string(&randomised).unwrap();
        assert_eq!(parse(&text).unwrap(), randomised);
        let text = serde_yaml::to_string(&both).unwrap();
        assert_eq!(parse(&text).unwrap(), both);
        assert_eq!(
            parse("{sampled: {}}").unwrap().primary().to_string(),
            "sampled(100 uniform negatives)"
        );
    }

    #[test]
    fn mistakes_say_what_is_allowed() {
        assert!(parse("fulll")
            .unwrap_err()
            .contains("is not a protocol; did you mean `full`? use `full`"));
        assert!(parse("{sampled: {negativs: 5}}")
            .unwrap_err()
            .contains("unknown field `negativs`"));
        assert!(parse("{sampled: {negatives: 0}}")
            .unwrap_err()
            .contains("at least 1"));
        assert!(parse("[full, full]").unwrap_err().contains("listed twice"));
    }
}
