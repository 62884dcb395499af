//! The report: built from a results folder alone (so `recsweep report`
//! rebuilds it byte for byte), as a plain model that renderers turn into
//! formats. Markdown is the one format today.

mod bias;
mod cost;
mod dataset;
mod embedding;
mod features;
pub mod figures;
mod files;
pub mod index;
mod introduction;
mod knobs;
mod leaderboard;
mod markdown;
mod orderings;
mod protocols;
mod published;
mod reproducibility;
mod resolved_spec;
mod sections;
mod sensitivity;
mod significance;
mod simulation;
mod stages;
mod training;
mod trials;
mod tuning;
mod visuals;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::eval::{MetricId, MetricKind};
use crate::results::{
    configurations, correct, load_records, pairwise, per_seed, refit_trials, select,
    selection_confidence, sensitivity, Configuration, Part, SelectionConfidence,
};
use crate::store::{ExperimentRecord, Outcome, ResultsDir, StoreError, TrialRecord};

pub use crate::results::{Contrast, Sensitivity};
pub use embedding::EmbeddingRow;
pub use figures::{Figure, Section};
pub use files::write;
pub use leaderboard::LeaderRow;
pub use orderings::{OrderingTau, Orderings};
pub use protocols::ProtocolAgreement;
pub use published::{Standing, StandingRow};
pub use sections::{render as render_markdown, render_appendix};
pub use simulation::{Loop, LoopRow, ORACLE};
pub use stages::StageRow;
pub use trials::TrialRow;
pub use tuning::{Tuning, TuningRow};

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
    let refits = stored_refits(results, &record, &configs);
    let selected = select(&configs, metric, selected_on);
    let leaderboard::Selected {
        leaderboard,
        seeds: selected_seeds,
        refit_pending,
    } = leaderboard::leaderboard(results, &record, &configs, &selected, &refits)?;
    let selected_values = leaderboard::columns(&selected_seeds, metric);
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
    let (protocols, orderings) =
        protocols::protocol_comparisons(results, &record, &configs, &selected, metric)?;
    let trials = trials::trial_rows(&records, &refits);
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
    let summary = introduction::summarise(
        &introduction::Facts {
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
    section_figures(&mut figures, &record, &stages, simulation.as_ref(), &tuning);
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

/// The refits of the selected configurations that are stored, each with
/// the index of the configuration it refits; none unless the spec refits.
fn stored_refits(
    results: &ResultsDir,
    record: &ExperimentRecord,
    configs: &[Configuration],
) -> Vec<(usize, TrialRecord)> {
    if !refit_asked(&record.spec) {
        return Vec::new();
    }
    refit_trials(configs, record.spec.selection.metric)
        .into_iter()
        .filter_map(|(i, t)| Some((i, results.finished(&t, &record.context)?)))
        .collect()
}

/// Adds the figures the stages, simulation and tuning sections draw after
/// the sweep's own; a spec without plots keeps none.
fn section_figures(
    figures: &mut Vec<Figure>,
    record: &ExperimentRecord,
    stages: &[StageRow],
    simulation: Option<&Loop>,
    tuning: &Tuning,
) {
    let metric = record.spec.selection.metric;
    figures.extend(stages::figures(
        stages,
        metric,
        &record.spec.evaluation.protocol.primary().to_string(),
        &|model| visuals::style(record, model),
    ));
    if let Some(l) = simulation {
        figures.extend(simulation::figures(l));
    }
    figures.extend(tuning.figures(metric, Part::selection(&record.spec.split)));
    if !record.spec.report.plots {
        figures.clear();
    }
}

/// Whether `spec` refits its selected configurations: asked for, and a
/// validation split to select on.
pub(super) fn refit_asked(spec: &crate::spec::Spec) -> bool {
    spec.selection.refit && Part::selection(&spec.split) == Part::Validation
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

#[cfg(test)]
mod tests {
    use super::*;

    use crate::split::{ColdCandidates, SplitMethod, SplitSpec};

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
