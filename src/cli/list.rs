//! `recsweep list`: the spec's vocabulary, from the tables the parser and
//! the models use (defaults from the params structs, popularity support from
//! its one table, meanings from `models::catalog`). `--markdown` prints the
//! tables docs/spec.md holds, which a test keeps equal to this output.

use clap::{Args, ValueEnum};
use tabled::builder::Builder;
use tabled::settings::Style;

use recsweep::eval::{Direction, Family, MetricKind};
use recsweep::format::describe_value;
use recsweep::models::catalog;
use recsweep::models::{popularity_methods, ModelKind};

#[derive(Args)]
pub struct ListArgs {
    /// What to list
    what: ListWhat,
    /// Print a markdown table (as in docs/spec.md) instead of a terminal table
    #[arg(long)]
    markdown: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum ListWhat {
    /// Every model with its params, defaults, rules and meaning
    Models,
    /// Every metric: direction, per user or per catalogue, default or opt-in
    Metrics,
    /// The four knob families and the models that have each
    Knobs,
    /// The popularity methods, their strength and the models that implement them
    Popularity,
}

pub fn run(args: ListArgs) -> anyhow::Result<()> {
    let mut table = Builder::default();
    match args.what {
        ListWhat::Models => models(&mut table),
        ListWhat::Metrics => metrics(&mut table),
        ListWhat::Knobs => knobs(&mut table),
        ListWhat::Popularity => popularity(&mut table),
    }
    let mut built = table.build();
    if args.markdown {
        built.with(Style::markdown());
    } else {
        built.with(Style::sharp());
    }
    outln!("{built}");
    Ok(())
}

fn code(s: &str) -> String {
    format!("`{s}`")
}

fn models(t: &mut Builder) {
    t.push_record(["model", "param", "default", "rule", "meaning"]);
    for kind in ModelKind::ALL {
        let defaults = kind.defaults();
        t.push_record([
            code(kind.as_str()),
            String::new(),
            String::new(),
            String::new(),
            catalog::summary(kind).to_string(),
        ]);
        for p in catalog::params(kind) {
            // A stage's default is a model with its own defaults, which
            // that model's rows list: name the model only.
            let default = defaults.get(p.param).map_or_else(String::new, |v| {
                match v.get("model").and_then(|m| m.as_str()) {
                    Some(model) => format!("{model} (its defaults)"),
                    None => describe_value(v),
                }
            });
            let rule = if p.param == "popularity" {
                popularity_methods(kind).join(", ")
            } else {
                p.rule.to_string()
            };
            t.push_record([
                String::new(),
                code(p.param),
                default,
                rule,
                p.meaning.to_string(),
            ]);
        }
    }
}

fn metrics(t: &mut Builder) {
    t.push_record(["metric", "better", "scope", "default", "meaning"]);
    for kind in MetricKind::ALL {
        t.push_record([
            code(&format!("{}@K", kind.as_str())),
            match kind.direction() {
                Direction::Higher => "higher",
                Direction::Lower => "lower",
            }
            .to_string(),
            if kind.is_per_user() {
                "per user"
            } else {
                "catalogue"
            }
            .to_string(),
            if MetricKind::DEFAULT.contains(&kind) {
                "yes"
            } else if kind.family() == Family::Stage {
                "pipelines"
            } else {
                "opt-in"
            }
            .to_string(),
            kind.meaning().to_string(),
        ]);
    }
}

fn knobs(t: &mut Builder) {
    t.push_record(["knob", "meaning", "models with it"]);
    for (knob, meaning) in catalog::KNOBS {
        let models: Vec<&str> = ModelKind::ALL
            .into_iter()
            .filter(|k| {
                !k.knob_paths(&Default::default(), knob, &Default::default())
                    .is_empty()
            })
            .map(ModelKind::as_str)
            .collect();
        t.push_record([code(knob), meaning.to_string(), models.join(", ")]);
    }
}

fn popularity(t: &mut Builder) {
    t.push_record(["method", "meaning", "models"]);
    for method in catalog::methods() {
        let (strength, meaning) = catalog::popularity_method(method);
        let models: Vec<&str> = catalog::models_with(method)
            .into_iter()
            .map(ModelKind::as_str)
            .collect();
        let written = if strength.is_empty() {
            code(method)
        } else {
            code(&format!("{method} {{{strength}}}"))
        };
        t.push_record([written, meaning.to_string(), models.join(", ")]);
    }
}
