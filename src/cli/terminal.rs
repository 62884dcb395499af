//! Terminal tables for `validate`, `compare` and `evaluate`. Each returns the
//! write error of standard output (a closed pipe ends the command quietly).

use tabled::builder::Builder;
use tabled::settings::Style;

use recsweep::eval::{MetricId, MetricSummary};
use recsweep::format::describe_knobs;
use recsweep::runner::Experiment;
use recsweep::stats::{Comparison, TestKind};
use recsweep::sweep::KnobUsage;

/// `recsweep validate`: the dataset and split, the swept knobs, the trials,
/// then what the run does beyond them (later rounds, the feedback loop).
pub fn print_validation(experiment: &Experiment) -> anyhow::Result<()> {
    print_dataset(experiment)?;
    if !experiment.expansion.knobs.is_empty() {
        let mut t = Builder::default();
        t.push_record(KnobUsage::HEADER);
        for k in &experiment.expansion.knobs {
            t.push_record(k.row());
        }
        print_table(t)?;
    }
    for skipped in &experiment.expansion.skipped {
        outln!("not run: {skipped}");
    }
    let mut t = Builder::default();
    t.push_record(["#", "trial", "model", "configuration", "seed"]);
    for (i, trial) in experiment.expansion.trials.iter().enumerate() {
        t.push_record([
            (i + 1).to_string(),
            trial.id.clone(),
            trial.model_name.clone(),
            describe_knobs(&trial.knobs),
            trial.replicate(),
        ]);
    }
    print_table(t)?;
    let n = experiment.expansion.trials.len();
    let later = later_rounds(&experiment.spec.sweep);
    match later.is_empty() {
        true => outln!("{n} trials"),
        false => outln!("{n} trials to start; then {}", later.join("; then ")),
    }
    if let Some(sim) = &experiment.spec.simulation {
        outln!("{}", describe_loop(sim));
    }
    Ok(())
}

fn print_dataset(experiment: &Experiment) -> anyhow::Result<()> {
    let d = &experiment.dataset;
    let s = &experiment.split.stats;
    let mut t = Builder::default();
    t.push_record(["dataset", "value"]);
    for (k, v) in [
        ("source", d.source.clone()),
        ("users", d.users.to_string()),
        ("items", d.items.to_string()),
        ("interactions", d.interactions.to_string()),
        ("density", format!("{:.4}%", 100.0 * d.density)),
        ("item popularity Gini", format!("{:.3}", d.popularity_gini)),
        ("duplicates removed", d.duplicates.to_string()),
        ("below min_rating", d.below_min_rating.to_string()),
        ("removed by filters", d.filtered.to_string()),
        ("split", s.method.clone()),
        (
            "train / validation / test",
            format!(
                "{} / {} / {}",
                s.train_interactions,
                s.validation_interactions
                    .map_or("—".into(), |v| v.to_string()),
                s.test_interactions
            ),
        ),
        ("evaluated users", s.test_users.to_string()),
        (
            "users without a test item",
            s.users_without_test.to_string(),
        ),
    ] {
        t.push_record([k.to_string(), v]);
    }
    print_table(t)
}

/// The trials an adaptive search adds after the first ones, in words.
fn later_rounds(sweep: &recsweep::spec::SweepSpec) -> Vec<String> {
    let mut later = Vec::new();
    if let Some(tpe) = &sweep.tpe {
        later.push(format!(
            "TPE proposes each searched model's configurations in rounds of {} from the validation results of the earlier rounds, up to {} configurations per model",
            tpe.round, tpe.trials
        ));
    }
    if let Some(f) = &sweep.fidelity {
        let rungs: Vec<String> = f.rungs().iter().map(u64::to_string).collect();
        later.push(format!(
            "successive halving retrains the best 1/{} of each rung for more epochs ({})",
            f.eta,
            rungs.join(" → ")
        ));
    }
    later
}

/// The feedback loop each trial simulates, in one sentence.
fn describe_loop(sim: &recsweep::simulation::SimulationSpec) -> String {
    let rates: Vec<String> = sim.epsilon.iter().map(|e| e.to_string()).collect();
    let truth = match &sim.truth {
        Some(t) => format!("{} fitted on the whole log", t.model.as_str()),
        None => "the synthetic generator's preferences".to_string(),
    };
    let mut how = Vec::new();
    if sim.impressions == recsweep::simulation::Impressions::Remember {
        how.push("impressions remembered".to_string());
    }
    if let Some(c) = &sim.choice {
        how.push(format!("users take at most {} a round", c.max));
    }
    if sim.oracle {
        how.push("beside the oracle's loop".to_string());
    }
    let how = match how.is_empty() {
        true => String::new(),
        false => format!("; {}", how.join(", ")),
    };
    format!(
        "each trial then simulates {} rounds of {} recommendations per user at ε = {} (truth: {truth}{how})",
        sim.rounds,
        sim.k,
        rates.join(", ")
    )
}

/// Columns to fit a table into: the terminal's width, or 100 when standard
/// output is a file or a pipe (where nothing says how wide the reader is).
pub fn terminal_width() -> usize {
    console::Term::stdout()
        .size_checked()
        .map_or(100, |(_, cols)| usize::from(cols).max(40))
}

fn print_table(builder: Builder) -> anyhow::Result<()> {
    let mut table = builder.build();
    table.with(Style::sharp());
    outln!("{table}");
    Ok(())
}

pub fn print_comparison(c: &Comparison, decide: TestKind, alpha: f64) -> anyhow::Result<()> {
    outln!("{} over {} users; differences are A − B", c.metric, c.n);
    let mut t = Builder::default();
    t.push_record(["", "value"]);
    let pct = |v: Option<f64>| v.map_or("—".to_string(), |r| format!("{:+.2}%", 100.0 * r));
    for (k, v) in [
        ("mean A", format!("{:.6}", c.mean_a)),
        ("mean B", format!("{:.6}", c.mean_b)),
        ("mean difference", format!("{:+.6}", c.mean_diff)),
        (
            "bootstrap 95% CI",
            format!(
                "[{:+.6}, {:+.6}]",
                c.tests.bootstrap.ci_low, c.tests.bootstrap.ci_high
            ),
        ),
        ("relative difference", pct(c.effect.relative_diff)),
        (
            "Cohen's d_z",
            c.effect
                .cohens_dz
                .map_or("—".to_string(), |d| format!("{d:+.4}")),
        ),
    ] {
        t.push_record([k.to_string(), v]);
    }
    print_table(t)?;
    let mut t = Builder::default();
    t.push_record(["test", "statistic", "p-value"]);
    t.push_record([
        "paired_t".to_string(),
        format!("{:.6}", c.tests.paired_t.statistic),
        format!("{:.6e}", c.tests.paired_t.p_value),
    ]);
    t.push_record([
        "wilcoxon".to_string(),
        format!("{}", c.tests.wilcoxon.statistic),
        format!("{:.6e}", c.tests.wilcoxon.p_value),
    ]);
    t.push_record([
        format!(
            "permutation ({} sign flips)",
            c.tests.permutation.permutations
        ),
        "—".to_string(),
        format!("{:.6e}", c.tests.permutation.p_value),
    ]);
    print_table(t)?;
    let users_p = match decide {
        TestKind::PairedT => c.tests.paired_t.p_value,
        TestKind::Wilcoxon => c.tests.wilcoxon.p_value,
        TestKind::Permutation => c.tests.permutation.p_value,
    };
    let p = match &c.users_and_seeds {
        Some(s) => {
            outln!(
                "over users and seeds ({} and {} seeds): 95% CI [{:+.6}, {:+.6}], t-test p = {:.6e} (df {:.1}){}",
                s.seeds_a,
                s.seeds_b,
                s.ci_low,
                s.ci_high,
                s.p_value,
                s.df,
                if s.seeds_matter {
                    ""
                } else {
                    "; the seeds add no variance beyond the users'"
                }
            );
            s.decide(decide, users_p)
        }
        None => users_p,
    };
    let test = match c.users_and_seeds {
        Some(_) => format!("{}, over users and seeds", decide.as_str()),
        None => decide.as_str().to_string(),
    };
    if p < alpha {
        let better = if c.mean_diff > 0.0 { "higher" } else { "lower" };
        outln!("A is significantly {better} than B ({test}: p = {p:.3e} < {alpha})");
    } else {
        outln!("no significant difference ({test}: p = {p:.3e} ≥ {alpha})");
    }
    Ok(())
}

pub fn print_evaluation(users: usize, summary: &[(MetricId, MetricSummary)]) -> anyhow::Result<()> {
    outln!("{users} users evaluated");
    let mut t = Builder::default();
    t.push_record(["metric", "mean", "95% CI ±"]);
    for (m, s) in summary {
        t.push_record([
            m.to_string(),
            format!("{:.6}", s.mean),
            s.ci95.map_or("—".to_string(), |c| format!("{c:.6}")),
        ]);
    }
    print_table(t)?;
    Ok(())
}
