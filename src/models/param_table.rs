//! One declaration per model param: a params struct is written once, as a
//! table of `name: type = default => rule and meaning`, and
//! [`param_table!`] derives from it the struct (serde, schema), its
//! `Default`, the range checks, and the rows `recsweep list models` and
//! docs/spec.md print. The knobs several gradient-trained models share
//! (epochs, batch size, optimizer...) are declared once below and named in
//! each model's table with that model's default.
//!
//! Why a macro and not a shared struct under `#[serde(flatten)]`: serde's
//! `flatten` does not combine with `deny_unknown_fields`, which is what
//! turns a misspelt param into an error naming it; a macro keeps the flat,
//! strict struct serde derives for.

use std::any::Any;
use std::fmt;

use super::{ParamIssue, MAX_EPOCHS, MAX_NEGATIVES};

/// The values a param accepts: what `check` enforces and the catalogue
/// prints, from one value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rule {
    /// An integer from `.0` to `.1`; `usize::MAX`: no upper bound.
    Count(usize, usize),
    /// Layer widths, each 1 to [`super::MAX_WIDTH`].
    Widths,
    /// A finite real number in an interval.
    Real(Interval),
    /// Values serde enforces (an enum's names, a boolean) or the model's
    /// own `check` does (rules across params), as the catalogue says them.
    Text(&'static str),
}

/// An interval of reals; an infinite `high` has no upper bound.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    pub low: f64,
    pub low_open: bool,
    pub high: f64,
    pub high_open: bool,
}

impl Rule {
    /// > 0
    pub const POSITIVE: Rule = Rule::Real(Interval {
        low: 0.0,
        low_open: true,
        high: f64::INFINITY,
        high_open: true,
    });
    /// ≥ 0
    pub const NON_NEGATIVE: Rule = Rule::Real(Interval {
        low: 0.0,
        low_open: false,
        high: f64::INFINITY,
        high_open: true,
    });
    /// [0, 1): a rate that may be 0 but never drops everything.
    pub const FRACTION: Rule = Rule::Real(Interval {
        low: 0.0,
        low_open: false,
        high: 1.0,
        high_open: true,
    });

    /// The problem with `value` under this rule, for param `key`; `why`
    /// (when not empty) follows the rule in parentheses. None when the
    /// value passes, or when the rule is not one of `value`'s type (a
    /// test checks every table's rules fit their fields).
    pub fn issue(&self, key: &str, value: &dyn Any, why: &str) -> Option<ParamIssue> {
        let why = if why.is_empty() {
            String::new()
        } else {
            format!(" ({why})")
        };
        match *self {
            Rule::Count(min, max) => {
                let &v = value.downcast_ref::<usize>()?;
                let range = if max == usize::MAX {
                    format!("≥ {min}")
                } else {
                    format!("between {min} and {max}")
                };
                (v < min || v > max).then(|| {
                    ParamIssue::new(
                        key,
                        format!("{v} is out of range; {key} must be {range}{why}"),
                    )
                })
            }
            Rule::Widths => {
                let widths = value.downcast_ref::<Vec<usize>>()?;
                let k = widths
                    .iter()
                    .position(|&w| w == 0 || w > super::MAX_WIDTH)?;
                Some(ParamIssue::new(
                    format!("{key}[{k}]"),
                    format!(
                        "{} is out of range; layer widths must be between 1 and {}{why}",
                        widths[k],
                        super::MAX_WIDTH
                    ),
                ))
            }
            Rule::Real(interval) => {
                let &v = value.downcast_ref::<f64>()?;
                let inside = v.is_finite()
                    && if interval.low_open {
                        v > interval.low
                    } else {
                        v >= interval.low
                    }
                    && if interval.high_open {
                        v < interval.high
                    } else {
                        v <= interval.high
                    };
                let rule = if interval.high.is_infinite() {
                    self.to_string()
                } else {
                    format!("in {self}")
                };
                (!inside).then(|| {
                    ParamIssue::new(
                        key,
                        format!(
                            "{} is out of range; {key} must be {rule}{why}",
                            crate::describe::number(v)
                        ),
                    )
                })
            }
            Rule::Text(_) => None,
        }
    }

    /// Whether this rule reads values of `value`'s type (a text rule reads
    /// any): what keeps [`Rule::issue`]'s type test from hiding a typo in a
    /// table.
    #[cfg(test)]
    fn fits(&self, value: &dyn Any) -> bool {
        match self {
            Rule::Count(..) => value.is::<usize>(),
            Rule::Widths => value.is::<Vec<usize>>(),
            Rule::Real(_) => value.is::<f64>(),
            Rule::Text(_) => true,
        }
    }
}

/// A bound as the catalogue writes it: `1e6` rather than `1000000`.
fn bound(x: f64) -> String {
    if x.abs() >= 1e6 {
        format!("{x:e}")
    } else {
        crate::describe::number(x)
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Rule::Count(min, usize::MAX) => write!(f, "≥ {min}"),
            Rule::Count(min, max) => write!(
                f,
                "{} to {}",
                crate::format::format_count(min),
                crate::format::format_count(max)
            ),
            Rule::Widths => write!(
                f,
                "widths 1 to {}",
                crate::format::format_count(super::MAX_WIDTH)
            ),
            Rule::Real(i) if i.high.is_infinite() => {
                write!(f, "{} {}", if i.low_open { ">" } else { "≥" }, bound(i.low))
            }
            Rule::Real(i) => write!(
                f,
                "{}{}, {}{}",
                if i.low_open { "(" } else { "[" },
                bound(i.low),
                bound(i.high),
                if i.high_open { ")" } else { "]" }
            ),
            Rule::Text(text) => f.write_str(text),
        }
    }
}

/// One param of one model: its rule, its meaning, and why the rule is what
/// it is (shown in the error when the rule is broken).
#[derive(Debug, Clone, Copy)]
pub struct ParamDoc {
    pub param: &'static str,
    pub rule: Rule,
    pub meaning: &'static str,
    pub why: &'static str,
}

impl ParamDoc {
    /// A declaration not yet named: the table names it after its field.
    pub const fn new(rule: Rule, meaning: &'static str) -> Self {
        Self {
            param: "",
            rule,
            meaning,
            why: "",
        }
    }

    /// The same declaration with the reason its rule holds.
    pub const fn because(self, why: &'static str) -> Self {
        Self { why, ..self }
    }

    /// A shared declaration with this model's own rule.
    pub const fn with_rule(self, rule: Rule) -> Self {
        Self { rule, ..self }
    }

    pub const fn named(self, param: &'static str) -> Self {
        Self { param, ..self }
    }

    /// The problem with `value` under this param's rule, if any.
    pub fn issue(&self, value: &dyn Any) -> Option<ParamIssue> {
        self.rule.issue(self.param, value, self.why)
    }

    #[cfg(test)]
    pub fn fits(&self, value: &dyn Any) -> bool {
        self.rule.fits(value)
    }
}

/// A params struct written as its table (see the module's doc): each field
/// `name: Type = default => declaration`, the declaration a
/// [`ParamDoc::new`] or a shared one below. Yields the struct, its
/// `Default`, and its [`super::Declared`] impl (the docs and the rule
/// checks, in field order).
macro_rules! param_table {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $( $field:ident : $ty:ty = $default:expr => $doc:expr ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
        #[serde(default, deny_unknown_fields)]
        pub struct $name {
            $( pub $field: $ty, )*
        }

        impl Default for $name {
            fn default() -> Self {
                Self {
                    $( $field: $default, )*
                }
            }
        }

        impl super::Declared for $name {
            const DOCS: &'static [super::ParamDoc] = &[$( $doc.named(stringify!($field)) ),*];

            fn values(&self) -> Vec<&dyn std::any::Any> {
                vec![$( &self.$field as &dyn std::any::Any ),*]
            }
        }
    };
}

/// Declarations shared by the gradient-trained models (mf, two_tower,
/// ncf, dcn); each table gives its own default.
pub mod shared {
    use super::{ParamDoc, Rule, MAX_EPOCHS, MAX_NEGATIVES};

    pub const EPOCHS: ParamDoc = ParamDoc::new(
        Rule::Count(1, MAX_EPOCHS),
        "shuffled passes over the train positives",
    );
    pub const BATCH_SIZE: ParamDoc =
        ParamDoc::new(Rule::Count(1, usize::MAX), "positives per gradient step");
    /// In-batch softmax needs a second item in the batch to contrast with.
    pub const SOFTMAX_BATCH_SIZE: ParamDoc = BATCH_SIZE
        .with_rule(Rule::Count(2, usize::MAX))
        .because("an in-batch softmax needs another item in the batch");
    /// ncf's and dcn's binary cross-entropy negatives.
    pub const NEGATIVES: ParamDoc = ParamDoc::new(
        Rule::Count(1, MAX_NEGATIVES),
        "sampled items per positive, labelled 0 in the binary cross-entropy",
    );
    pub const LEARNING_RATE: ParamDoc = ParamDoc::new(Rule::POSITIVE, "step size of the optimizer");
    pub const OPTIMIZER: ParamDoc = ParamDoc::new(
        Rule::Text("sgd, adagrad, adam"),
        "updates only the rows a batch uses (lazy Adam keeps the global step)",
    );
    pub const DROPOUT: ParamDoc = ParamDoc::new(
        Rule::FRACTION,
        "inverted dropout on the input of every dense layer (training only)",
    );
    pub const DENSE_L2: ParamDoc = ParamDoc::new(
        Rule::NON_NEGATIVE,
        "λ·‖W‖² on dense weights per batch, λ·‖row‖² on embedding rows per use",
    );
    pub const PATIENCE: ParamDoc = ParamDoc::new(
        Rule::Count(0, usize::MAX),
        "epochs without a better validation metric before training stops; 0 = never",
    );
    pub const POPULARITY: ParamDoc = ParamDoc::new(
        Rule::Text("a method this model implements"),
        "popularity down-weighting, see \"Popularity down-weighting\"",
    );
    pub const IDS: ParamDoc = ParamDoc::new(
        Rule::Text("true, false, users, items"),
        "learn an id embedding per user and item; false: features only; users or items: that side only (docs/spec.md, \"Features\")",
    );
    pub const FEATURES: ParamDoc = ParamDoc::new(
        Rule::Text("all, or names of dataset.features columns"),
        "the feature columns read, each embedded (categorical), mean-pooled (multi) or fed as is (numeric); [] = ids only",
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_print_as_the_catalogue_writes_them() {
        assert_eq!(Rule::Count(1, 4_096).to_string(), "1 to 4,096");
        assert_eq!(Rule::Count(0, usize::MAX).to_string(), "≥ 0");
        assert_eq!(Rule::POSITIVE.to_string(), "> 0");
        assert_eq!(Rule::FRACTION.to_string(), "[0, 1)");
        let ials_l2 = Rule::Real(Interval {
            low: 0.0,
            low_open: true,
            high: 1e30,
            high_open: false,
        });
        assert_eq!(ials_l2.to_string(), "(0, 1e30]");
    }

    #[test]
    fn a_broken_rule_names_the_key_the_value_and_the_reason() {
        let doc = ParamDoc::new(Rule::Count(2, usize::MAX), "")
            .because("a softmax needs two")
            .named("batch_size");
        assert!(doc.issue(&2usize).is_none());
        let issue = doc.issue(&1usize).unwrap();
        assert_eq!(issue.key, "batch_size");
        assert_eq!(
            issue.message,
            "1 is out of range; batch_size must be ≥ 2 (a softmax needs two)"
        );
        let dropout = shared::DROPOUT.named("dropout");
        assert!(dropout.issue(&0.0f64).is_none());
        assert_eq!(
            dropout.issue(&1.0f64).unwrap().message,
            "1 is out of range; dropout must be in [0, 1)"
        );
        assert!(dropout.issue(&f64::NAN).is_some());
        let hidden = ParamDoc::new(Rule::Widths, "").named("hidden");
        assert_eq!(hidden.issue(&vec![8usize, 0]).unwrap().key, "hidden[1]");
    }
}
