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

use super::terminal::terminal_width;

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
    let mut rows: Vec<Vec<String>> = table.into();
    if !args.markdown {
        // The meanings run to 200 characters and a pipeline's rule to 900:
        // those columns wrap, at spaces, to fit the screen.
        let widths = column_widths(&rows, terminal_width());
        for row in &mut rows {
            for (cell, &w) in row.iter_mut().zip(&widths) {
                *cell = wrap_words(cell, w);
            }
        }
    }
    let mut built = Builder::from(rows).build();
    if args.markdown {
        built.with(Style::markdown());
    } else {
        built.with(Style::sharp());
    }
    outln!("{built}");
    Ok(())
}

/// Each column's width in a table `total` characters wide: narrow columns
/// keep their width, and what is left is shared equally by the wide ones
/// (a column narrower than its share gives the rest back).
fn column_widths(rows: &[Vec<String>], total: usize) -> Vec<usize> {
    let n = rows.first().map_or(0, Vec::len);
    let natural: Vec<usize> = (0..n)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    // A border before each column and after the last, a space each side.
    let mut left = total.saturating_sub(3 * n + 1);
    let mut widths = natural.clone();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&c| natural[c]);
    for (placed, &c) in order.iter().enumerate() {
        let share = (left / (n - placed)).max(MIN_COLUMN);
        widths[c] = natural[c].min(share);
        left = left.saturating_sub(widths[c]);
    }
    widths
}

/// `text` in lines of at most `width` characters, broken at spaces (a
/// word longer than a line is cut). tabled's own wrapping carries the space
/// it breaks at to the next line.
fn wrap_words(text: &str, width: usize) -> String {
    // A zero width would cut no characters per line, forever.
    let width = width.max(1);
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        let mut word: Vec<char> = word.chars().collect();
        let used = line.chars().count();
        if used > 0 && used + 1 + word.len() <= width {
            line.push(' ');
            line.extend(&word);
            continue;
        }
        if used > 0 {
            lines.push(std::mem::take(&mut line));
        }
        while word.len() > width {
            lines.push(word.drain(..width).collect());
        }
        line.extend(&word);
    }
    lines.push(line);
    lines.join("\n")
}

/// The narrowest a wrapped column gets, whatever the screen.
const MIN_COLUMN: usize = 8;

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
        for p in kind.param_docs() {
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

#[cfg(test)]
mod tests {
    use super::{column_widths, wrap_words};

    #[test]
    fn narrow_columns_keep_their_width_and_wide_ones_share_the_rest() {
        let row = |a: &str, b: &str, c: &str| vec![a.to_string(), b.to_string(), c.to_string()];
        let rows = vec![row("ab", &"x".repeat(50), &"y".repeat(80))];
        // 40 − 10 for borders and padding: "ab" keeps 2, the others split 28.
        assert_eq!(column_widths(&rows, 40), vec![2, 14, 14]);
        // Room for all but the widest: it gets what the others leave.
        assert_eq!(column_widths(&rows, 100), vec![2, 44, 44]);
        assert_eq!(column_widths(&rows, 200), vec![2, 50, 80]);
    }

    #[test]
    fn words_wrap_at_spaces_and_a_long_one_is_cut() {
        assert_eq!(
            wrap_words("items by train popularity", 14),
            "items by train\npopularity"
        );
        assert_eq!(wrap_words("abcdefghij xy", 4), "abcd\nefgh\nij\nxy");
        assert_eq!(wrap_words("short", 10), "short");
    }
}
