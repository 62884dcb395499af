//! The report's opening: title, question, the answer (sentences written
//! from the numbers alone, [`summarise`]), protocol and warnings.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::markdown::{figures, part_name, RANDOMISED};
use super::{
    popularity_undefined, stages, Contrast, LeaderRow, Loop, Orderings, ProtocolAgreement, Report,
    Section, Sensitivity, StageRow, Standing, Tuning,
};
use crate::eval::{Direction, MetricId, MetricKind};
use crate::format::{format_correlation, format_p, format_to_precision};
use crate::results::{
    contrast_over_seeds, find_pair, Part, SeedValues, SelectionConfidence, Verdict,
};
use crate::spec::Protocol;
use crate::store::ExperimentRecord;

/// The title, the summary sentences, the protocol and any warnings.
pub(super) fn render(out: &mut String, report: &Report) {
    let record = &report.record;
    let spec = &report.record.spec;
    let metric = report.selection_metric;
    let part = part_name(report);
    let _ = writeln!(out, "# recsweep report: {}\n", spec.name);
    match &spec.question {
        Some(question) => {
            let _ = writeln!(out, "**Question:** {question}\n");
            let _ = writeln!(out, "**Answer:** {}\n", report.summary.join(" "));
        }
        None => {
            let _ = writeln!(out, "{}\n", report.summary.join(" "));
        }
    }
    figures(out, report, Section::Answer);
    let cold_list = spec.split.candidates == Some(crate::split::ColdCandidates::Cold);
    let protocol = match spec.evaluation.protocol.primary() {
        Protocol::Full if cold_list => "full ranking of the cold items: each user's held-out items are ranked among all items held out of training (`split.candidates: cold`)".to_string(),
        Protocol::Full => "full ranking, every item the user has not interacted with is a candidate".to_string(),
        Protocol::Randomised => RANDOMISED.to_string(),
        p @ Protocol::Sampled { .. } => format!(
            "**{p}**: each user's held-out items ranked among sampled items they never interacted with, ties ranking negatives first \
             (the NCF paper's protocol); sampled metrics can order models differently from full ranking (Krichene & Rendle 2020)"
        ),
    };
    let refit = match report.refits() {
        true => ", **refit on train ∪ validation** (models trained in epochs for the epoch count early stopping kept on validation),",
        false => "",
    };
    let over = match spec.selection.folds {
        Some(k) => format!(
            "mean over **{k} validation folds** and seeds: replicate r holds out fold r mod {k}"
        ),
        None => "mean over seeds".to_string(),
    };
    let _ = writeln!(
        out,
        "Each model's configuration is selected on **{part} {metric}** ({over}){refit} and reported on **test**. \
         Protocol: {protocol}. ± is the half-width of a 95% interval over users and seeds (docs/statistics.md)."
    );
    let _ = writeln!(
        out,
        "\nEvery trial, the knobs each model received, training curves, embedding maps and the resolved spec are in the [appendix]({}).",
        report.appendix_file()
    );
    if report.selected_on == Part::Test {
        let _ = writeln!(
            out,
            "\n> **No validation split** (`split.validation: false`): selection used the test split, so the selected scores are optimistic."
        );
    }
    for warning in &record.expansion.warnings {
        let _ = writeln!(out, "\n> **Warning**: {warning}.");
    }
    if !report.refit_pending.is_empty() {
        let _ = writeln!(
            out,
            "\n> **Refit pending** for {}: their rows show the sweep's trials, trained on train alone; rerun `recsweep run` to refit them.",
            report.refit_pending.join(", ")
        );
    }
    for skipped in &record.expansion.skipped {
        let _ = writeln!(out, "\n> **Not run**: {skipped}.");
    }
    if report.missing > 0 {
        let _ = writeln!(
            out,
            "\n> **Incomplete**: {} of {} trials have no stored result yet (interrupted or sharded run); rerun `recsweep run` to finish them.",
            report.missing,
            record.expansion.trials.len()
        );
    }
}

/// The report's opening sentences, from the numbers alone: a model is
/// called best only when it is significantly ahead of every other, a knob
/// only said to matter in the direction its test went, and popularity bias
/// compared only with a test and where popularity is defined.
pub(super) fn summarise(facts: &Facts, missing: usize) -> Vec<String> {
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

/// What the summary sentences are written from.
pub(super) struct Facts<'a> {
    pub(super) record: &'a ExperimentRecord,
    pub(super) leaderboard: &'a [LeaderRow],
    pub(super) pairs: &'a [Contrast],
    pub(super) sensitivity: &'a [Sensitivity],
    pub(super) selection: &'a [SelectionConfidence],
    pub(super) orderings: Option<&'a Orderings>,
    /// Each selected model's per-seed values (for tests beyond `pairs`).
    pub(super) seeds: &'a BTreeMap<String, SeedValues>,
    pub(super) metric: MetricId,
    pub(super) protocols: &'a [ProtocolAgreement],
    pub(super) stages: &'a [StageRow],
    pub(super) simulation: Option<&'a Loop>,
    pub(super) published: Option<&'a Standing>,
    pub(super) tuning: &'a Tuning,
}

impl Facts<'_> {
    /// On a log whose truth is known, whether the selection metric orders
    /// the models as the truth does; said first, since every sentence after
    /// it reads the selection metric.
    fn misordering(&self) -> Option<String> {
        let orderings = self.orderings?;
        let (reference, tau, first) = orderings.misordered()?;
        let interval = orderings
            .taus
            .iter()
            .find(|t| Some(&t.first) == orderings.metrics.first() && t.second == *reference)
            .and_then(|t| t.interval)
            .map_or(String::new(), |(low, high)| {
                format!(", {}", tau_interval(low, high))
            });
        let reference = match reference.protocol {
            None => format!("the true {reference}"),
            Some(_) => format!("{reference} on the randomised-exposure test"),
        };
        Some(format!(
            "This log is biased: test {} orders these models differently from {reference} (Kendall τ {} over the selected models{interval}), \
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
        // Resampled users and seeds settle the lead or not: an estimator
        // whose paired difference from the leader reaches 0 is not told
        // apart from it.
        let settled = match best.interval {
            None => String::new(),
            Some((low, high)) => {
                let leads: Vec<_> = orderings
                    .leads
                    .iter()
                    .filter(|l| l.reference == *reference && l.leader == best.first)
                    .collect();
                let close: Vec<String> = leads
                    .iter()
                    .filter(|l| l.interval.is_some() && !l.settled())
                    .map(|l| l.other.to_string())
                    .collect();
                let interval = format!(" ({})", tau_interval(low, high));
                let all_have =
                    leads.len() + 1 == taus.len() && leads.iter().all(|l| l.interval.is_some());
                match close.is_empty() {
                    true if all_have => format!(
                        "{interval}, ahead of every other estimator (each paired difference in τ has a 95% interval above 0)"
                    ),
                    true => interval,
                    false => format!(
                        "{interval}, but the paired differences in τ cannot tell it apart from {}, so the lead is not settled",
                        join_names(&close)
                    ),
                }
            }
        };
        Some(format!(
            "Against the order of {reference} on the randomised-exposure test, the estimators on the biased holdout reach Kendall τ {} \
             over the {} selected models (over all {} configurations): **{}** tracks it best{settled}.",
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
            less_biased_than_leader(
                [&best.model, &lowest_other.0.model],
                [self.value_of(best, arp), self.value_of(lowest_other.0, arp)],
                [self.value(best), self.value(lowest_other.0)],
                [arp, metric],
                &format_p(c.p_raw),
                self.beats_significantly(&best.model, &lowest_other.0.model),
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

/// The leader's lists are significantly more popular than another
/// competitive model's (`[leader, other]` names, their ARP and their
/// selection-metric values): a trade-off only where the leader is also
/// significantly more accurate; otherwise the bias buys no detectable
/// accuracy, and the sentence says that instead.
fn less_biased_than_leader(
    models: [&str; 2],
    arp_values: [String; 2],
    values: [String; 2],
    [arp, metric]: [MetricId; 2],
    p: &str,
    leader_ahead: bool,
) -> String {
    let [leader, other] = models;
    let [leader_arp, other_arp] = arp_values;
    let [leader_value, other_value] = values;
    match leader_ahead {
        true => format!(
            "Accuracy costs popularity bias here: {leader}'s lists average {leader_arp} train interactions per item ({arp}), {other}'s {other_arp} at {metric} {other_value} (p = {p})."
        ),
        false => format!(
            "{other}'s lists are less popular than {leader}'s ({arp} {other_arp} against {leader_arp}, p = {p}) while their {metric} cannot be told apart ({other_value} against {leader_value}): here popularity bias buys no detectable accuracy."
        ),
    }
}

/// A τ's interval over resampled users and seeds, in words.
fn tau_interval(low: f64, high: f64) -> String {
    match low == high {
        true => "the same in every resample of users and seeds".to_string(),
        false => format!(
            "95% interval {} to {} over users and seeds",
            format_correlation(low),
            format_correlation(high)
        ),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::contrast;
    use crate::spec::CompareSpec;

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

    /// "Accuracy costs popularity bias" only where the leader is
    /// significantly ahead; otherwise the sentence says the bias buys
    /// nothing detectable.
    #[test]
    fn a_bias_trade_off_is_claimed_only_for_a_significant_leader() {
        let at = |kind| MetricId { kind, k: 10 };
        let sentence = |ahead| {
            less_biased_than_leader(
                ["ease", "mf"],
                ["199.0".into(), "153.9".into()],
                ["0.072".into(), "0.070".into()],
                [at(MetricKind::Arp), at(MetricKind::Ndcg)],
                "7.3e-9",
                ahead,
            )
        };
        let ahead = sentence(true);
        assert!(
            ahead.starts_with("Accuracy costs popularity bias here: ease's"),
            "{ahead}"
        );
        let tied = sentence(false);
        assert!(!tied.contains("costs"), "{tied}");
        assert!(
            tied.contains(
                "mf's lists are less popular than ease's (arp@10 153.9 against 199.0, p = 7.3e-9)"
            ),
            "{tied}"
        );
        assert!(tied.contains("(0.070 against 0.072)"), "{tied}");
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
}
