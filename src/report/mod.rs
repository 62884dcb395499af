//! The report: built from a results folder alone (so `recsweep report`
//! rebuilds it byte for byte), as a plain model that renderers turn into
//! formats. Markdown is the one format today.

mod embedding;
mod features;
pub mod figures;
mod files;
pub mod index;
mod markdown;
mod orderings;
mod published;
mod simulation;
mod stages;
mod tuning;
mod visuals;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::eval::{mean_ci95, Direction, MetricId, MetricKind, MetricSummary, ServingTime};
use crate::format::{describe_knobs, format_correlation, format_p, format_to_precision};
use crate::models::ServingCost;
use crate::results::{
    configurations, contrast_over_seeds, correct, find_pair, load_records, pairwise, per_seed,
    refit_trials, select, selection_confidence, sensitivity, Configuration, Part, SeedValues,
    SelectionConfidence, Verdict,
};
use crate::stats::{kendall_tau_b, mean_over_users_and_seeds};
use crate::store::{ExperimentRecord, Outcome, ResultsDir, StoreError, TrialRecord};

pub use crate::results::{Contrast, Sensitivity};
pub use embedding::EmbeddingRow;
pub use figures::{Figure, Section};
pub use files::write;
pub use markdown::{render as render_markdown, render_appendix};
pub use orderings::{OrderingTau, Orderings};
pub use published::{Standing, StandingRow};
pub use simulation::{Loop, LoopRow, ORACLE};
pub use stages::StageRow;
pub use tuning::{Tuning, TuningRow};

/// A selected configuration of one model.
#[derive(Debug, Clone, Serialize)]
pub struct LeaderRow {
    pub model: String,
    pub kind: String,
    pub knobs: String,
    pub seeds: usize,
    /// Selection metric on the selection split, mean over seeds.
    pub selection_value: f64,
    /// Test metrics: per-user values averaged over seeds first, then mean and
    /// 95% CI over users; catalogue metrics are means over seeds.
    pub test: BTreeMap<MetricId, MetricSummary>,
    /// Standard deviation over seeds of the test selection metric.
    pub seed_sd: Option<f64>,
    pub fit_seconds: f64,
    pub score_micros_per_user: f64,
    /// Scoring timed apart, pooled over seeds (None for records of
    /// versions that did not time it).
    pub serving: Option<ServingTime>,
    pub cost: ServingCost,
    /// Its trials, in seed order.
    pub trial_ids: Vec<String>,
}

/// How a secondary protocol orders models compared with the primary one, on
/// the test selection metric.
#[derive(Debug, Clone, Serialize)]
pub struct ProtocolAgreement {
    pub protocol: String,
    /// (model, primary value, secondary value) of the selected configurations.
    pub models: Vec<(String, f64, f64)>,
    /// Kendall's τ-b between the two orderings of the selected configurations.
    pub tau_models: Option<f64>,
    /// The same over every configuration of the sweep.
    pub tau_configurations: Option<f64>,
    pub configurations: usize,
}

/// The training curves of a selected configuration's sweep trials, in seed
/// order: refits are left out, since only the sweep's trials were monitored
/// on validation.
pub fn sweep_curves<'a>(
    trials: &'a [TrialRow],
    row: &'a LeaderRow,
) -> impl Iterator<Item = &'a crate::models::TrainingCurve> {
    trials
        .iter()
        .filter(move |t| !t.refit && t.model == row.model && t.knobs == row.knobs)
        .filter_map(|t| match &t.outcome {
            Outcome::Ok { curve, .. } => curve.as_ref(),
            Outcome::Failed { .. } => None,
        })
}

#[derive(Debug, Clone, Serialize)]
pub struct TrialRow {
    pub id: String,
    pub model: String,
    pub knobs: String,
    pub seed_index: usize,
    /// A selected configuration retrained on train ∪ validation: what the
    /// leaderboard scores under `selection.refit`.
    pub refit: bool,
    pub outcome: Outcome,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub record: ExperimentRecord,
    pub selection_metric: MetricId,
    pub selected_on: Part,
    /// A few sentences written from the results (best model, what mattered,
    /// the accuracy/bias trade-off).
    pub summary: Vec<String>,
    pub leaderboard: Vec<LeaderRow>,
    /// Every pair of selected configurations on the selection metric (test).
    pub pairs: Vec<Contrast>,
    pub sensitivity: Vec<Sensitivity>,
    /// How much search each model got (docs/statistics.md, "Tuning").
    pub tuning: Tuning,
    /// How sure each model's selection is.
    pub selection: Vec<SelectionConfidence>,
    /// Every pipeline configuration's stages at the selection metric's K.
    pub stages: Vec<StageRow>,
    /// Agreement of each secondary protocol with the primary one.
    pub protocols: Vec<ProtocolAgreement>,
    /// Naive vs debiased vs true orders of the models, when evaluated.
    pub orderings: Option<Orderings>,
    /// The feedback-loop simulation, when the spec has one.
    pub simulation: Option<Loop>,
    /// The selected models beside `report.published`, when the spec has it.
    pub published: Option<Standing>,
    pub trials: Vec<TrialRow>,
    pub figures: Vec<Figure>,
    pub embedding: Vec<EmbeddingRow>,
    /// Where the figures go, relative to the report file (`<report stem>/`
    /// unless the CLI says otherwise).
    pub figure_dir: String,
    /// The report's own file name (the appendix links back to it).
    pub file: String,
    /// Trials of the expansion with no stored record yet (an unfinished or
    /// sharded run).
    pub missing: usize,
    /// Under `selection.refit`: models whose refits are not all stored, so
    /// their rows show the sweep's trials.
    pub refit_pending: Vec<String>,
}

impl Report {
    /// The appendix's file name, beside the report (so both link figures
    /// the same way): `<report stem>-appendix.md`.
    pub fn appendix_file(&self) -> String {
        format!("{}-appendix.md", self.figure_dir)
    }

    /// Whether the selected configurations are refit on train ∪ validation
    /// before test: asked for, and a validation split to select on.
    pub fn refits(&self) -> bool {
        refit_asked(&self.record.spec)
    }
}

pub fn build(results: &ResultsDir) -> Result<Report, StoreError> {
    let record = results.read_experiment()?;
    let (records, missing) = load_records(results, &record)?;
    let metric = record.spec.selection.metric;
    let selected_on = Part::selection(&record.spec.split);
    let configs = configurations(&record.expansion, &records);
    let refit = refit_asked(&record.spec);
    let refits: Vec<(usize, TrialRecord)> = match refit {
        true => refit_trials(&configs, metric)
            .into_iter()
            .filter_map(|(i, t)| Some((i, results.finished(&t, &record.context)?)))
            .collect(),
        false => Vec::new(),
    };
    let selected = select(&configs, metric, selected_on);
    let Selected {
        leaderboard,
        seeds: selected_seeds,
        refit_pending,
    } = leaderboard(results, &record, &configs, &selected, &refits)?;
    let selected_values: BTreeMap<String, Vec<Vec<f64>>> = selected_seeds
        .iter()
        .filter_map(|(name, seeds)| Some((name.clone(), seeds.column(metric)?)))
        .collect();
    let compare = &record.spec.compare;
    let (pairs, sensitivity) =
        corrected_tests(results, &record, &configs, &leaderboard, &selected_values);
    let tuning = tuning::build(
        &record.spec,
        &configs,
        metric,
        selected_on,
        &sensitivity,
        &|model| visuals::style(&record, model),
    );
    let selection = if selected_on == Part::Validation {
        selection_confidence(results, &configs, &selected, metric, record.spec.seed)?
    } else {
        Vec::new()
    };
    let (protocols, orderings) = protocol_comparisons(&record, &configs, &selected, metric);
    let trials = trial_rows(&records, &refits);
    let stages = stages::rows(results, &configs, metric.k, compare, record.spec.seed)?;
    let simulation = record.spec.simulation.as_ref().and_then(|sim| {
        simulation::build(
            &configs,
            sim,
            &record.spec.model_name(0),
            compare,
            record.spec.seed,
        )
    });
    let published = published::build(&record.spec.report.published, &leaderboard, metric);
    let summary = summarise(
        &Facts {
            record: &record,
            leaderboard: &leaderboard,
            pairs: &pairs,
            sensitivity: &sensitivity,
            selection: &selection,
            orderings: orderings.as_ref(),
            seeds: &selected_seeds,
            metric,
            protocols: &protocols,
            stages: &stages,
            simulation: simulation.as_ref(),
            published: published.as_ref(),
            tuning: &tuning,
        },
        missing,
    );
    let (mut figures, embedding) = visuals::build(&visuals::Inputs {
        results,
        record: &record,
        configs: &configs,
        leaderboard: &leaderboard,
        sensitivity: &sensitivity,
        trials: &trials,
        metric,
        pairs: &pairs,
        values: &selected_values,
    })?;
    figures.extend(stages::figures(
        &stages,
        metric,
        &record.spec.evaluation.protocol.primary().to_string(),
        &|model| visuals::style(&record, model),
    ));
    if let Some(l) = &simulation {
        figures.extend(simulation::figures(l));
    }
    figures.extend(tuning.figures(metric, selected_on));
    if !record.spec.report.plots {
        figures.clear();
    }
    let (figure_dir, file) = file_names(&record.spec);
    Ok(Report {
        figures,
        embedding,
        figure_dir,
        file,
        summary,
        record,
        selection_metric: metric,
        selected_on,
        leaderboard,
        pairs,
        sensitivity,
        tuning,
        selection,
        stages,
        protocols,
        orderings,
        simulation,
        published,
        trials,
        missing,
        refit_pending,
    })
}

/// The selected configurations, each scored on test: the leaderboard rows
/// (best first), their per-seed values, and the models whose refits are
/// not all stored yet.
struct Selected {
    leaderboard: Vec<LeaderRow>,
    seeds: BTreeMap<String, SeedValues>,
    refit_pending: Vec<String>,
}

/// Whether `spec` refits its selected configurations: asked for, and a
/// validation split to select on.
fn refit_asked(spec: &crate::spec::Spec) -> bool {
    spec.selection.refit && Part::selection(&spec.split) == Part::Validation
}

fn leaderboard(
    results: &ResultsDir,
    record: &ExperimentRecord,
    configs: &[Configuration],
    selected: &[usize],
    refits: &[(usize, TrialRecord)],
) -> Result<Selected, StoreError> {
    let metric = record.spec.selection.metric;
    let selected_on = Part::selection(&record.spec.split);
    let refit = refit_asked(&record.spec);
    let mut leaderboard = Vec::new();
    let mut selected_seeds = BTreeMap::new();
    let mut refit_pending = Vec::new();
    for &index in selected {
        let config = &configs[index];
        // Scored by its refits once every seed has one, else by the sweep's
        // own trials (and said so).
        let refitted: Vec<&TrialRecord> = refits
            .iter()
            .filter(|(i, _)| *i == index)
            .map(|(_, r)| r)
            .collect();
        let scored = match refitted.len() == config.trials.len() {
            true => Configuration {
                trials: refitted,
                failed: 0,
                ..config.clone()
            },
            false => {
                if refit {
                    refit_pending.push(config.model_name.clone());
                }
                config.clone()
            }
        };
        let seeds = per_seed(results, &scored)?;
        let mut row = leader_row(record, &scored, metric, selected_on, &seeds);
        row.selection_value = config.mean(selected_on, metric).unwrap_or(f64::NAN);
        leaderboard.push(row);
        selected_seeds.insert(config.model_name.clone(), seeds);
    }
    leaderboard.sort_by(|a, b| {
        let value = |r: &LeaderRow| r.test.get(&metric).map_or(f64::NEG_INFINITY, |m| m.mean);
        value(b)
            .total_cmp(&value(a))
            .then_with(|| a.model.cmp(&b.model))
    });
    Ok(Selected {
        leaderboard,
        seeds: selected_seeds,
        refit_pending,
    })
}

/// The contrasts between the selected models and the knob tests, corrected
/// together as one family.
fn corrected_tests(
    results: &ResultsDir,
    record: &ExperimentRecord,
    configs: &[Configuration],
    leaderboard: &[LeaderRow],
    values: &BTreeMap<String, Vec<Vec<f64>>>,
) -> (Vec<Contrast>, Vec<Sensitivity>) {
    let metric = record.spec.selection.metric;
    let selected_on = Part::selection(&record.spec.split);
    let compare = &record.spec.compare;
    let names: Vec<String> = leaderboard.iter().map(|r| r.model.clone()).collect();
    let mut pairs = pairwise(&names, values, compare, record.spec.seed);
    let seed_values = |c: &Configuration| per_seed(results, c).ok();
    let mut sensitivity = sensitivity(
        configs,
        metric,
        selected_on,
        &seed_values,
        compare,
        record.spec.seed,
    );
    correct(&mut pairs, &mut sensitivity, compare);
    // Under successive halving the epochs are the search's own rungs, not a
    // knob whose range could be widened.
    if record.spec.sweep.fidelity.is_some() {
        for s in sensitivity.iter_mut().filter(|s| s.knob == "epochs") {
            s.edge = None;
        }
    }
    (pairs, sensitivity)
}

/// The secondary protocols' agreement with the primary, and the orderings
/// of the estimators (a randomised test is their reference, so it joins
/// the orderings rather than the agreements).
fn protocol_comparisons(
    record: &ExperimentRecord,
    configs: &[Configuration],
    selected: &[usize],
    metric: MetricId,
) -> (Vec<ProtocolAgreement>, Option<Orderings>) {
    // A randomised test is a reference for the estimators on the biased
    // log, which the orderings compare with it.
    let protocols: Vec<ProtocolAgreement> = record
        .spec
        .evaluation
        .protocol
        .secondary()
        .iter()
        .filter(|p| **p != crate::eval::Protocol::Randomised)
        .map(|p| agreement(&p.to_string(), configs, selected, metric))
        .collect();
    let randomised: Vec<String> = record
        .spec
        .evaluation
        .protocol
        .secondary()
        .iter()
        .filter(|p| **p == crate::eval::Protocol::Randomised)
        .map(|p| p.to_string())
        .collect();
    let orderings = orderings::orderings(
        configs,
        selected,
        metric,
        &record.spec.evaluation.metrics,
        &randomised,
    );
    (protocols, orderings)
}

/// Every stored trial, refits last, as the appendix lists them.
fn trial_rows(records: &[TrialRecord], refits: &[(usize, TrialRecord)]) -> Vec<TrialRow> {
    let row = |r: &TrialRecord, refit: bool| TrialRow {
        id: r.trial.id.clone(),
        model: r.trial.model_name.clone(),
        knobs: describe_knobs(&r.trial.knobs),
        seed_index: r.trial.seed_index,
        refit,
        outcome: r.outcome.clone(),
    };
    let trials: Vec<TrialRow> = records
        .iter()
        .map(|r| row(r, false))
        .chain(refits.iter().map(|(_, r)| row(r, true)))
        .collect();
    trials
}

/// The figure folder (the report's stem) and the report's file name.
fn file_names(spec: &crate::spec::Spec) -> (String, String) {
    let path = spec.report.path.as_ref();
    let figure_dir = path
        .and_then(|p| p.file_stem())
        .map_or_else(|| spec.name.clone(), |s| s.to_string_lossy().into_owned());
    let file = path.and_then(|p| p.file_name()).map_or_else(
        || format!("{figure_dir}.md"),
        |s| s.to_string_lossy().into_owned(),
    );
    (figure_dir, file)
}

/// The report's opening sentences, from the numbers alone: a model is
/// called best only when it is significantly ahead of every other, a knob
/// only said to matter in the direction its test went, and popularity bias
/// compared only with a test and where popularity is defined.
fn summarise(facts: &Facts, missing: usize) -> Vec<String> {
    let Some(best) = facts.leaderboard.first() else {
        return vec!["No trial has results yet.".to_string()];
    };
    // What the experiment asks first (how a biased log, a second protocol,
    // a pipeline or a feedback loop changes the picture), then the models.
    let mut out: Vec<String> = facts.misordering().into_iter().collect();
    out.extend(facts.estimators_against_randomised());
    let primary = facts.record.spec.evaluation.protocol.primary().to_string();
    out.extend(
        facts
            .protocols
            .iter()
            .filter_map(|p| p.answer(&primary, facts.metric)),
    );
    out.extend(stages::answer(facts.stages, facts.alpha()));
    out.extend(facts.simulation.and_then(|l| l.answer(facts.alpha())));
    out.extend(facts.lead(best));
    // Unequal budgets qualify the lead, so they follow it.
    if !facts.tuning.equal() {
        out.extend(facts.tuning.sentence());
    }
    out.extend(facts.baseline_beaten(best));
    out.extend(facts.published.and_then(Standing::sentence));
    out.extend(knob_sentences(
        facts.sensitivity,
        facts.alpha(),
        facts.metric.kind.direction(),
    ));
    out.extend(facts.bias_tradeoff(best));
    let unsure: Vec<String> = facts
        .selection
        .iter()
        .filter(|c| c.probability < 0.5)
        .map(|c| {
            format!(
                "{} ({:.2} over {} configurations)",
                c.model, c.probability, c.configurations
            )
        })
        .collect();
    if !unsure.is_empty() {
        out.push(format!(
            "Validation is unsure of the selected configuration of {}: it stays best in fewer than half of the resamples of validation users and seeds.",
            join_names(&unsure)
        ));
    }
    let edges = crate::results::edge_phrases(facts.sensitivity);
    if !edges.is_empty() {
        out.push(format!(
            "Selected on the edge of what was tried, so the optimum may lie beyond: {}.",
            edges.join("; ")
        ));
    }
    if missing > 0 {
        out.push(format!(
            "{missing} trials have no result yet; rerun `recsweep run` to complete the sweep."
        ));
    }
    out
}

/// Why popularity metrics mean nothing on this split, if they do not: a
/// cold_items split holds out items with no train interactions, so a
/// held-out item has no popularity to stratify by, and lists drawn from the
/// cold items only (`candidates: cold`) have none either (every ARP is 0).
pub fn popularity_undefined(
    split: &crate::split::SplitSpec,
    kind: MetricKind,
) -> Option<&'static str> {
    use crate::split::{ColdCandidates, SplitMethod};
    if split.method != SplitMethod::ColdItems {
        return None;
    }
    let stratified = matches!(
        kind,
        MetricKind::RecallHead
            | MetricKind::RecallTail
            | MetricKind::NdcgHead
            | MetricKind::NdcgTail
    );
    let of_lists = matches!(
        kind,
        MetricKind::Arp | MetricKind::Aplt | MetricKind::Novelty | MetricKind::PopLift
    );
    let cold_lists = split.candidates == Some(ColdCandidates::Cold);
    (stratified || (of_lists && cold_lists))
        .then_some("undefined: held-out items have no train popularity")
}

/// What the summary sentences are written from.
struct Facts<'a> {
    record: &'a ExperimentRecord,
    leaderboard: &'a [LeaderRow],
    pairs: &'a [Contrast],
    sensitivity: &'a [Sensitivity],
    selection: &'a [SelectionConfidence],
    orderings: Option<&'a Orderings>,
    /// Each selected model's per-seed values (for tests beyond `pairs`).
    seeds: &'a BTreeMap<String, SeedValues>,
    metric: MetricId,
    protocols: &'a [ProtocolAgreement],
    stages: &'a [StageRow],
    simulation: Option<&'a Loop>,
    published: Option<&'a Standing>,
    tuning: &'a Tuning,
}

impl Facts<'_> {
    /// On a log whose truth is known, whether the selection metric orders
    /// the models as the truth does; said first, since every sentence after
    /// it reads the selection metric.
    fn misordering(&self) -> Option<String> {
        let (reference, tau, first) = self.orderings?.misordered()?;
        let reference = match reference.protocol {
            None => format!("the true {reference}"),
            Some(_) => format!("{reference} on the randomised-exposure test"),
        };
        Some(format!(
            "This log is biased: test {} orders these models differently from {reference} (Kendall τ {} over the selected models), \
             which ranks **{first}** first; the sentences below read {}, not true quality.",
            self.metric,
            format_correlation(tau),
            self.metric
        ))
    }

    /// With a randomised-exposure test: which estimator on the biased log
    /// orders the selected models most as that test does.
    fn estimators_against_randomised(&self) -> Option<String> {
        let orderings = self.orderings?;
        let reference = orderings.metrics.iter().find(|c| c.protocol.is_some())?;
        let taus = orderings.against(reference);
        let best = taus.first()?;
        let tau = |t: Option<f64>| t.map_or("undefined".to_string(), format_correlation);
        let list: Vec<String> = taus
            .iter()
            .map(|t| format!("{} {} ({})", t.first, tau(t.models), tau(t.configurations)))
            .collect();
        Some(format!(
            "Against the order of {reference} on the randomised-exposure test, the estimators on the biased holdout reach Kendall τ {} \
             over the {} selected models (over all {} configurations): **{}** tracks it best.",
            join_names(&list),
            orderings.models.len(),
            orderings.configurations,
            best.first
        ))
    }

    fn alpha(&self) -> f64 {
        self.record.spec.compare.alpha
    }

    fn test(&self, row: &LeaderRow, m: MetricId) -> Option<f64> {
        row.test.get(&m).map(|s| s.mean)
    }

    /// The selection metric on test, to the precision its interval
    /// supports.
    fn value(&self, row: &LeaderRow) -> String {
        self.value_of(row, self.metric)
    }

    /// Any test metric of a row, to the precision its interval supports.
    fn value_of(&self, row: &LeaderRow, m: MetricId) -> String {
        row.test
            .get(&m)
            .map_or("—".to_string(), |s| format_to_precision(s.mean, s.ci95))
    }

    /// A against B on the selection metric, whichever way it was tested:
    /// (contrast, sign to make it A − B).
    fn pair(&self, a: &str, b: &str) -> Option<(&Contrast, f64)> {
        find_pair(self.pairs, a, b)
    }

    fn beats_significantly(&self, a: &str, b: &str) -> bool {
        self.pair(a, b).is_some_and(|(c, sign)| {
            let ahead = if sign > 0.0 {
                Verdict::Better
            } else {
                Verdict::Worse
            };
            c.verdict(self.alpha(), self.metric.kind.direction()) == ahead
        })
    }

    /// The leader, called best only when significantly ahead of every other
    /// model; otherwise the group that cannot be told apart from it.
    fn lead(&self, best: &LeaderRow) -> Vec<String> {
        let metric = self.metric;
        let alpha = self.alpha();
        let others: Vec<&LeaderRow> = self.leaderboard.iter().skip(1).collect();
        if others.is_empty() {
            return vec![format!(
                "Only **{}** ({}) has results: test {metric} {}.",
                best.model,
                best.knobs,
                self.value(best)
            )];
        }
        let tied: Vec<&LeaderRow> = others
            .iter()
            .copied()
            .filter(|r| !self.beats_significantly(&best.model, &r.model))
            .collect();
        // The lead is stated over the runner-up, or, when the leader is not
        // significantly best, over the first model it cannot be told from
        // (the runner-up may be significantly behind while a lower one is
        // not, as each pair has its own variance).
        let second = tied.first().copied().unwrap_or(others[0]);
        let Some((c, sign)) = self.pair(&best.model, &second.model) else {
            return vec![format!(
                "**{}** ({}) leads on test {metric} at {}; it could not be compared with {}.",
                best.model,
                best.knobs,
                self.value(best),
                second.model
            )];
        };
        let half = c.interval().map(|(lo, hi)| (hi - lo) / 2.0);
        let number = |v: f64| format_to_precision(v, half);
        let diff = number(sign * c.diff());
        let interval = c.interval().map_or(String::new(), |(lo, hi)| {
            let (lo, hi) = if sign > 0.0 { (lo, hi) } else { (-hi, -lo) };
            format!(", 95% interval {} to {}", number(lo), number(hi))
        });
        let detectable = c.detectable.map_or(String::new(), |d| {
            format!(
                "; this comparison detects differences of ±{} or more",
                number(d)
            )
        });
        if tied.is_empty() {
            // On a log the metric misorders, its leader is not "best".
            let (model, knobs, value) = (&best.model, &best.knobs, self.value(best));
            let opening = if self.misordering().is_some() {
                format!("On test {metric}, **{model}** ({knobs}) scores {value}")
            } else {
                format!("The best model on test {metric} is **{model}** ({knobs}) at {value}")
            };
            return vec![format!(
                "{opening}, significantly ahead of every other model; \
                 it leads the runner-up {} ({}) by {}{interval} (corrected p = {}).",
                second.model,
                self.value(second),
                diff,
                format_p(c.p_adjusted),
            )];
        }
        let names: Vec<String> = tied
            .iter()
            .map(|r| format!("{} ({})", r.model, self.value(r)))
            .collect();
        let alike = c.verdict(alpha, metric.kind.direction()) == Verdict::NoDetectableDifference;
        vec![format!(
            "No model is significantly best on test {metric}: **{}** ({}) leads at {}, but {} cannot be told apart from it after correction. \
             Its lead over {} is {}{interval} (corrected p = {}{detectable}){}.",
            best.model,
            best.knobs,
            self.value(best),
            join_names(&names),
            second.model,
            diff,
            format_p(c.p_adjusted),
            if alike { ": no detectable difference" } else { ": inconclusive, more users or seeds could tell" }
        )]
    }

    /// How many models beat the baseline significantly.
    fn baseline_beaten(&self, best: &LeaderRow) -> Option<String> {
        let baseline = self
            .record
            .spec
            .compare
            .baseline
            .as_deref()
            .filter(|b| *b != best.model)
            // A baseline a cold-start split left out has no row.
            .filter(|b| self.leaderboard.iter().any(|r| r.model == *b))?;
        let beaten = self
            .leaderboard
            .iter()
            .filter(|r| r.model != baseline && self.beats_significantly(&r.model, baseline))
            .count();
        Some(format!(
            "{beaten} of {} models beat the {baseline} baseline significantly.",
            self.leaderboard.len().saturating_sub(1)
        ))
    }

    /// Accuracy against popularity bias, among the models that beat the
    /// baseline significantly (a random model is trivially unbiased): said
    /// only where popularity is defined, and only with a paired test of the
    /// ARP difference (over users and seeds, at α without correction, its p
    /// given).
    fn bias_tradeoff(&self, best: &LeaderRow) -> Option<String> {
        let metric = self.metric;
        let arp = MetricId {
            kind: MetricKind::Arp,
            k: metric.k,
        };
        if popularity_undefined(&self.record.spec.split, MetricKind::Arp).is_some() {
            return None;
        }
        let baseline = self.record.spec.compare.baseline.as_deref()?;
        let competitive: Vec<(&LeaderRow, f64)> = self
            .leaderboard
            .iter()
            .filter(|r| r.model == best.model || self.beats_significantly(&r.model, baseline))
            .filter_map(|r| self.test(r, arp).map(|a| (r, a)))
            .collect();
        self.test(best, arp)?;
        let lowest_other = competitive
            .iter()
            .filter(|(r, _)| r.model != best.model)
            .min_by(|a, b| a.1.total_cmp(&b.1))?;
        let column = |model: &str| self.seeds.get(model)?.column(arp);
        let c = contrast_over_seeds(
            (&best.model, &column(&best.model)?),
            (&lowest_other.0.model, &column(&lowest_other.0.model)?),
            &self.record.spec.compare,
            self.record.spec.seed,
        )?;
        if !c.significant(self.alpha()) {
            return None;
        }
        Some(if c.diff() > 0.0 {
            format!(
                "Accuracy costs popularity bias here: {}'s lists average {} train interactions per item ({arp}), {}'s {} at {metric} {} (p = {}).",
                best.model,
                self.value_of(best, arp),
                lowest_other.0.model,
                self.value_of(lowest_other.0, arp),
                self.value(lowest_other.0),
                format_p(c.p_raw)
            )
        } else {
            format!(
                "{} is also less popularity-biased than every other model that beats {baseline} ({arp} {} against {}'s {}, p = {}).",
                best.model,
                self.value_of(best, arp),
                lowest_other.0.model,
                self.value_of(lowest_other.0, arp),
                format_p(c.p_raw)
            )
        })
    }
}

/// `a`, `a and b`, `a, b and c`.
fn join_names(names: &[String]) -> String {
    match names {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// Which knobs' selected value beat the runner-up significantly on test,
/// which lost to it significantly (selection by noise), and which were not
/// told apart.
fn knob_sentences(sensitivity: &[Sensitivity], alpha: f64, direction: Direction) -> Vec<String> {
    let tested: Vec<(&Sensitivity, Verdict)> = sensitivity
        .iter()
        .filter_map(|s| Some((s, s.best_vs_second.as_ref()?.verdict(alpha, direction))))
        .collect();
    let names = |keep: &dyn Fn(Verdict) -> bool| {
        tested
            .iter()
            .filter(|(_, v)| keep(*v))
            .map(|(s, _)| format!("{} {}", s.model, s.knob))
            .collect::<Vec<_>>()
    };
    let mut out = Vec::new();
    let better = names(&|v| v == Verdict::Better);
    if !better.is_empty() {
        out.push(format!(
            "Knobs whose selected value beat the runner-up significantly on test: {}.",
            join_names(&better)
        ));
    }
    let worse = names(&|v| v == Verdict::Worse);
    if !worse.is_empty() {
        out.push(format!(
            "Knobs whose selected value was significantly *worse* on test than the runner-up, so validation picked the wrong value: {}.",
            join_names(&worse)
        ));
    }
    let flat = names(&|v| matches!(v, Verdict::NoDetectableDifference | Verdict::Inconclusive));
    if !flat.is_empty() {
        out.push(format!(
            "Knobs without a significant difference between their two best values: {}.",
            join_names(&flat)
        ));
    }
    out
}

impl ProtocolAgreement {
    /// Whether this protocol orders the selected models as the primary one
    /// does, and who leads under each, for the report's opening.
    fn answer(&self, primary: &str, metric: MetricId) -> Option<String> {
        let tau = self.tau_models?;
        let leader = |pick: fn(&(String, f64, f64)) -> f64| {
            let better =
                |a: &&(String, f64, f64), b: &&(String, f64, f64)| match metric.kind.direction() {
                    Direction::Higher => pick(a).total_cmp(&pick(b)),
                    Direction::Lower => pick(b).total_cmp(&pick(a)),
                };
            self.models.iter().max_by(better).map(|m| m.0.clone())
        };
        let (here, there) = (leader(|m| m.2)?, leader(|m| m.1)?);
        let order = if tau >= 1.0 - 1e-12 {
            "in the same order as"
        } else {
            "differently from"
        };
        let leaders = if here == there {
            format!("**{here}** leads under both")
        } else {
            format!(
                "**{here}** leads under the {} protocol, **{there}** under the {primary} one",
                self.protocol
            )
        };
        let all = self.tau_configurations.map_or(String::new(), |t| {
            format!(
                ", {} over all {} configurations",
                format_correlation(t),
                self.configurations
            )
        });
        Some(format!(
            "Under the {} protocol, test {metric} orders the selected models {order} the {primary} protocol does (Kendall τ {} over {} models{all}): {leaders}.",
            self.protocol,
            format_correlation(tau),
            self.models.len(),
        ))
    }
}

fn agreement(
    protocol: &str,
    configs: &[Configuration],
    selected: &[usize],
    metric: MetricId,
) -> ProtocolAgreement {
    let both = |c: &Configuration| {
        Some((
            c.mean(Part::Test, metric)?,
            c.mean_under(protocol, Part::Test, metric)?,
        ))
    };
    let models: Vec<(String, f64, f64)> = selected
        .iter()
        .filter_map(|&i| both(&configs[i]).map(|(a, b)| (configs[i].model_name.clone(), a, b)))
        .collect();
    let all: Vec<(f64, f64)> = configs.iter().filter_map(both).collect();
    let tau = |pairs: &[(f64, f64)]| {
        let (x, y): (Vec<f64>, Vec<f64>) = pairs.iter().copied().unzip();
        kendall_tau_b(&x, &y)
    };
    let model_pairs: Vec<(f64, f64)> = models.iter().map(|m| (m.1, m.2)).collect();
    ProtocolAgreement {
        protocol: protocol.to_string(),
        tau_models: tau(&model_pairs),
        tau_configurations: tau(&all),
        configurations: all.len(),
        models,
    }
}

fn leader_row(
    record: &ExperimentRecord,
    config: &Configuration,
    metric: MetricId,
    part: Part,
    per_seed: &SeedValues,
) -> LeaderRow {
    let seeds = config.trials.len();
    let mut test = BTreeMap::new();
    for column in per_seed.0.first().map_or(&[][..], |p| &p.columns[..]) {
        let Some(values) = per_seed.column(*column) else {
            continue;
        };
        // Over users and seeds; a column defined for fewer than two users
        // keeps its mean without an interval, as mean_ci95 does.
        let summary = match mean_over_users_and_seeds(&values) {
            Some(e) => MetricSummary {
                mean: e.estimate,
                ci95: e.ci95(),
            },
            None => {
                let (mean, ci95) = mean_ci95(
                    &per_seed
                        .averaged()
                        .and_then(|p| p.column(*column).map(<[f64]>::to_vec))
                        .unwrap_or_default(),
                );
                MetricSummary { mean, ci95 }
            }
        };
        test.insert(*column, summary);
    }
    for column in record
        .spec
        .evaluation
        .metrics
        .iter()
        .filter(|m| !m.is_per_user())
    {
        for &k in &record.spec.evaluation.cutoffs {
            let id = MetricId { kind: *column, k };
            if let Some(mean) = config.mean(Part::Test, id) {
                test.insert(id, MetricSummary { mean, ci95: None });
            }
        }
    }
    let ok = |f: fn(&Outcome) -> Option<f64>| config.mean_of(f).unwrap_or(0.0);
    let first_cost = config.trials.iter().find_map(|r| match &r.outcome {
        Outcome::Ok { cost, .. } => Some(*cost),
        Outcome::Failed { .. } => None,
    });
    LeaderRow {
        model: config.model_name.clone(),
        kind: record.spec.models[config.model_index]
            .model
            .as_str()
            .to_string(),
        knobs: describe_knobs(&config.knobs),
        seeds,
        selection_value: config.mean(part, metric).unwrap_or(f64::NAN),
        test,
        seed_sd: config.seed_sd(Part::Test, metric),
        fit_seconds: ok(|o| match o {
            Outcome::Ok { fit_seconds, .. } => Some(*fit_seconds),
            Outcome::Failed { .. } => None,
        }),
        score_micros_per_user: ok(|o| match o {
            Outcome::Ok {
                score_micros_per_user,
                ..
            } => Some(*score_micros_per_user),
            Outcome::Failed { .. } => None,
        }),
        serving: ServingTime::pooled(
            &config
                .trials
                .iter()
                .filter_map(|r| match &r.outcome {
                    Outcome::Ok { serving, .. } => serving.as_deref().copied(),
                    Outcome::Failed { .. } => None,
                })
                .collect::<Vec<_>>(),
        ),
        cost: first_cost.unwrap_or_default(),
        trial_ids: config.trials.iter().map(|r| r.trial.id.clone()).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::contrast;
    use crate::spec::CompareSpec;
    use crate::split::{ColdCandidates, SplitMethod, SplitSpec};

    /// A knob whose selected value is `lead` ahead of its runner-up on test
    /// for 300 users (with spread, so the test is defined).
    fn knob(name: &str, lead: f64) -> Sensitivity {
        let b: Vec<f64> = (0..300).map(|u| (u % 7) as f64 / 10.0).collect();
        let a: Vec<f64> = b
            .iter()
            .enumerate()
            .map(|(u, x)| x + lead + (u % 3) as f64 / 100.0 - 0.01)
            .collect();
        Sensitivity {
            model: "m".into(),
            knob: name.into(),
            values: Vec::new(),
            edge: None,
            best_vs_second: contrast(("x", &a), ("y", &b), &CompareSpec::default(), 0),
        }
    }

    #[test]
    fn knob_sentences_follow_the_sign_of_the_difference() {
        let knobs = [knob("won", 0.05), knob("lost", -0.05), knob("flat", 0.0)];
        let text = knob_sentences(&knobs, 0.05, Direction::Higher).join(" ");
        assert!(
            text.contains("beat the runner-up significantly on test: m won."),
            "{text}"
        );
        assert!(
            text.contains("significantly *worse* on test than the runner-up, so validation picked the wrong value: m lost."),
            "{text}"
        );
        assert!(text.contains("two best values: m flat."), "{text}");
        // Lower is better (e.g. arp): the same contrasts read the other way.
        let text = knob_sentences(&knobs, 0.05, Direction::Lower).join(" ");
        assert!(text.contains("on test: m lost."), "{text}");
    }

    #[test]
    fn popularity_metrics_are_undefined_where_held_out_items_have_no_popularity() {
        let split = |method, candidates| SplitSpec {
            method,
            candidates,
            ..SplitSpec::default()
        };
        let cold = split(SplitMethod::ColdItems, Some(ColdCandidates::Cold));
        let all = split(SplitMethod::ColdItems, Some(ColdCandidates::All));
        let warm = split(SplitMethod::LeaveOneOut, None);
        for kind in [
            MetricKind::Arp,
            MetricKind::Aplt,
            MetricKind::Novelty,
            MetricKind::PopLift,
        ] {
            assert!(popularity_undefined(&cold, kind).is_some(), "{kind:?}");
            // Lists drawn from the whole catalogue hold warm items.
            assert!(popularity_undefined(&all, kind).is_none(), "{kind:?}");
        }
        for kind in [MetricKind::RecallTail, MetricKind::NdcgHead] {
            assert!(popularity_undefined(&cold, kind).is_some());
            assert!(popularity_undefined(&all, kind).is_some());
            assert!(popularity_undefined(&warm, kind).is_none());
        }
        for kind in [MetricKind::Ndcg, MetricKind::Coverage, MetricKind::Gini] {
            assert!(popularity_undefined(&cold, kind).is_none());
        }
    }
}
