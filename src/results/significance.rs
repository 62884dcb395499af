//! Significance for the report: every pair of selected configurations and,
//! per knob, its best value against the runner-up, all on the selection
//! metric's per-user test values, over users and seeds (the users test on
//! seed-averaged values, the seed variance added by
//! [`crate::stats::difference_over_users_and_seeds`]), corrected as one
//! family, each with the smallest difference it could have detected.

use std::collections::BTreeMap;

use serde_yaml::Value;

use super::{Configuration, Part, SeedValues};
use crate::eval::{Direction, MetricId};
use crate::spec::CompareSpec;
use crate::stats::{
    adjust, defined_pairs, difference_over_users_and_seeds, differences, mean_over_users_and_seeds,
    paired_t, permutation, wilcoxon, Correction, Effect, Estimate, StatsError, TestKind,
};

/// The power at which the report states each comparison's detectable
/// difference (the usual 80% of power analyses).
pub const POWER: f64 = 0.8;

/// One comparison of A against B (differences A − B).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Contrast {
    pub a: String,
    pub b: String,
    pub mean_a: f64,
    pub mean_b: f64,
    pub relative_diff: Option<f64>,
    pub cohens_dz: Option<f64>,
    pub p_raw: f64,
    /// Corrected over the report's family; filled once the family is known.
    pub p_adjusted: f64,
    /// Users compared: those where both sides are defined.
    pub users: usize,
    /// Users left out because the metric is undefined (NaN) for them on
    /// either side (head/tail metrics, pop_lift).
    pub undefined: usize,
    /// Seeds of A and B (1 for values of one run or already averaged).
    pub seeds: (usize, usize),
    /// Δ over users and seeds: its standard error and degrees of freedom.
    pub estimate: Estimate,
    /// The smallest |Δ| this comparison detects with [`POWER`] at its
    /// per-comparison level after correction; filled by [`correct`].
    pub detectable: Option<f64>,
}

/// What a comparison allows one to say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// A is significantly ahead of B (after correction), in the metric's
    /// direction.
    Better,
    /// A is significantly behind B.
    Worse,
    /// Not significant, and the 95% interval holds 0 and lies within
    /// ±the detectable difference: any real difference is smaller than
    /// this comparison could see (criterion's noise threshold).
    NoDetectableDifference,
    /// Not significant, but the interval reaches beyond the detectable
    /// difference or excludes 0 before correction: more users or seeds
    /// could still tell them apart.
    Inconclusive,
}

impl Verdict {
    /// The verdict naming side A: `pipeline better`, `index worse`.
    pub fn naming(self, a: &str) -> String {
        match self {
            Verdict::Better => format!("{a} better"),
            Verdict::Worse => format!("{a} worse"),
            other => other.as_str().to_string(),
        }
    }

    /// The verdict as said of A in a sentence about A against B.
    pub fn of_a(self) -> &'static str {
        match self {
            Verdict::Better => "significantly better",
            Verdict::Worse => "significantly worse",
            Verdict::NoDetectableDifference => "no detectable difference",
            Verdict::Inconclusive => "inconclusive",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Better => "A better",
            Verdict::Worse => "A worse",
            Verdict::NoDetectableDifference => "no detectable difference",
            Verdict::Inconclusive => "inconclusive",
        }
    }
}

/// The contrast of `a` against `b` among `pairs`, with +1.0 where it is
/// stored as a − b and −1.0 where as b − a: multiply its differences by it.
pub fn find_pair<'a>(pairs: &'a [Contrast], a: &str, b: &str) -> Option<(&'a Contrast, f64)> {
    pairs.iter().find_map(|p| {
        if p.a == a && p.b == b {
            Some((p, 1.0))
        } else if p.a == b && p.b == a {
            Some((p, -1.0))
        } else {
            None
        }
    })
}

impl Contrast {
    pub fn diff(&self) -> f64 {
        self.mean_a - self.mean_b
    }

    /// The 95% interval of `sign` × Δ (`sign` from [`find_pair`]).
    pub fn signed_interval(&self, sign: f64) -> Option<(f64, f64)> {
        let (lo, hi) = self.interval()?;
        Some(match sign < 0.0 {
            true => (-hi, -lo),
            false => (lo, hi),
        })
    }

    pub fn significant(&self, alpha: f64) -> bool {
        self.p_adjusted < alpha
    }

    /// The 95% interval of Δ over users and seeds.
    pub fn interval(&self) -> Option<(f64, f64)> {
        self.estimate.interval(0.95)
    }

    /// Whether A is ahead of B on a metric of this direction.
    pub fn ahead(&self, direction: Direction) -> bool {
        match direction {
            Direction::Higher => self.diff() > 0.0,
            Direction::Lower => self.diff() < 0.0,
        }
    }

    pub fn verdict(&self, alpha: f64, direction: Direction) -> Verdict {
        if self.significant(alpha) {
            return if self.ahead(direction) {
                Verdict::Better
            } else {
                Verdict::Worse
            };
        }
        match (self.interval(), self.detectable) {
            (Some((lo, hi)), Some(mde)) if -mde < lo && lo <= 0.0 && 0.0 <= hi && hi < mde => {
                Verdict::NoDetectableDifference
            }
            (None, _) if self.diff() == 0.0 => Verdict::NoDetectableDifference,
            _ => Verdict::Inconclusive,
        }
    }
}

/// One value of a knob: its best configuration's metric on the selection
/// split and on test.
#[derive(Debug, Clone, serde::Serialize)]
pub struct KnobValue {
    pub value: String,
    /// The selection metric on the selection split, mean over seeds.
    pub selection: f64,
    /// The selection metric on test, mean over seeds.
    pub test: f64,
    /// Its 95% half-width over users and seeds.
    pub test_ci95: Option<f64>,
}

/// A knob's values for one model: each value's best configuration.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Sensitivity {
    pub model: String,
    pub knob: String,
    /// Each value's best configuration, in sweep order.
    pub values: Vec<KnobValue>,
    /// Best value by the selection split, against the runner-up, on test.
    pub best_vs_second: Option<Contrast>,
    /// Where the selected value lies when it is the smallest or largest of
    /// three or more numbers tried: the optimum may lie beyond the grid.
    pub edge: Option<Edge>,
}

/// `mf temperature = 1 (the largest of 3 tried)` for each knob whose
/// selected value sits on an edge.
pub fn edge_phrases(sensitivity: &[Sensitivity]) -> Vec<String> {
    sensitivity
        .iter()
        .filter_map(|s| {
            let edge = s.edge?;
            let value = &s.best_vs_second.as_ref()?.a;
            Some(format!(
                "{} {} = {value} (the {} of {} tried)",
                s.model,
                s.knob,
                edge.as_str(),
                s.values.len()
            ))
        })
        .collect()
}

/// The end of a numeric knob's tried values that its selected value sits on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Edge {
    Smallest,
    Largest,
}

impl Edge {
    /// Of numbers tried (three or more, so an edge is informative), which
    /// end `selected` sits on, if any.
    pub fn of(selected: f64, tried: &[f64]) -> Option<Edge> {
        if tried.len() < 3 {
            return None;
        }
        let min = tried.iter().copied().fold(f64::INFINITY, f64::min);
        let max = tried.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if selected == min {
            Some(Edge::Smallest)
        } else if selected == max {
            Some(Edge::Largest)
        } else {
            None
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Edge::Smallest => "smallest",
            Edge::Largest => "largest",
        }
    }
}

pub fn run_test(
    test: TestKind,
    d: &[f64],
    spec: &CompareSpec,
    seed: u64,
) -> Result<f64, StatsError> {
    Ok(match test {
        TestKind::PairedT => paired_t(d)?.p_value,
        TestKind::Wilcoxon => wilcoxon(d)?.p_value,
        TestKind::Permutation => permutation(d, spec.permutations, seed)?,
    })
}

/// A against B on one metric's per-user values of one run each (users
/// aligned): [`contrast_over_seeds`] with one seed a side.
pub fn contrast(
    a: (&str, &[f64]),
    b: (&str, &[f64]),
    spec: &CompareSpec,
    seed: u64,
) -> Option<Contrast> {
    contrast_over_seeds((a.0, &[a.1.to_vec()]), (b.0, &[b.1.to_vec()]), spec, seed)
}

/// A against B on one metric, `x[s][u]` each side's value for user u under
/// seed s (users aligned), paired over the users defined on every seed of
/// both sides; means, effect and the users test are over their
/// seed-averaged values. The p-value counts the seeds too
/// ([`Estimate::decide`]). None when fewer than two users remain or a value
/// is infinite.
pub fn contrast_over_seeds(
    a: (&str, &[Vec<f64>]),
    b: (&str, &[Vec<f64>]),
    spec: &CompareSpec,
    seed: u64,
) -> Option<Contrast> {
    let average = |x: &[Vec<f64>]| -> Option<Vec<f64>> {
        // The shortest seed bounds the users (they line up, as seeds share
        // the split; a ragged input must not index past one).
        let users = x.iter().map(Vec::len).min()?;
        Some(
            (0..users)
                .map(|u| x.iter().map(|s| s[u]).sum::<f64>() / x.len() as f64)
                .collect(),
        )
    };
    let (avg_a, avg_b) = (average(a.1)?, average(b.1)?);
    let pairs = defined_pairs(&avg_a, &avg_b).ok()?;
    let d = differences(&pairs.a, &pairs.b).ok()?;
    let estimate = difference_over_users_and_seeds(a.1, b.1)?;
    let p_raw = estimate.decide(spec.test, run_test(spec.test, &d, spec, seed).ok()?);
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (mean_a, mean_b) = (mean(&pairs.a), mean(&pairs.b));
    let effect = Effect::of(mean_b, &d);
    Some(Contrast {
        users: d.len(),
        undefined: pairs.dropped,
        a: a.0.to_string(),
        b: b.0.to_string(),
        mean_a,
        mean_b,
        relative_diff: effect.relative_diff,
        cohens_dz: effect.cohens_dz,
        p_raw,
        p_adjusted: p_raw,
        seeds: (a.1.len(), b.1.len()),
        estimate,
        detectable: None,
    })
}

/// Sensitivity of each swept knob of each model.
pub fn sensitivity(
    configs: &[Configuration],
    metric: MetricId,
    part: Part,
    per_seed: &dyn Fn(&Configuration) -> Option<SeedValues>,
    spec: &CompareSpec,
    seed: u64,
) -> Vec<Sensitivity> {
    let better = |a: f64, b: f64| match metric.kind.direction() {
        Direction::Higher => a > b,
        Direction::Lower => a < b,
    };
    let mut out = Vec::new();
    let mut models: Vec<usize> = configs.iter().map(|c| c.model_index).collect();
    models.sort_unstable();
    models.dedup();
    for model in models {
        let mine: Vec<&Configuration> = configs.iter().filter(|c| c.model_index == model).collect();
        let mut knobs: Vec<String> = Vec::new();
        for c in &mine {
            for k in c.knobs.keys().filter_map(Value::as_str) {
                if !knobs.iter().any(|x| x == k) {
                    knobs.push(k.to_string());
                }
            }
        }
        for knob in knobs {
            // value → index (into `mine`) of its best configuration.
            let mut best: Vec<(Value, usize, f64)> = Vec::new();
            for (i, c) in mine.iter().enumerate() {
                let (Some(v), Some(score)) = (c.knobs.get(knob.as_str()), c.mean(part, metric))
                else {
                    continue;
                };
                match best.iter_mut().find(|(value, _, _)| value == v) {
                    Some(entry) if better(score, entry.2) => *entry = (v.clone(), i, score),
                    Some(_) => {}
                    None => best.push((v.clone(), i, score)),
                }
            }
            if best.len() < 2 {
                continue;
            }
            let values = best
                .iter()
                .map(|(v, i, score)| KnobValue {
                    value: crate::format::describe_value(v),
                    selection: *score,
                    test: mine[*i].mean(Part::Test, metric).unwrap_or(f64::NAN),
                    test_ci95: per_seed(mine[*i])
                        .and_then(|p| p.column(metric))
                        .and_then(|c| mean_over_users_and_seeds(&c))
                        .and_then(|e| e.ci95()),
                })
                .collect();
            let mut ranked: Vec<&(Value, usize, f64)> = best.iter().collect();
            ranked.sort_by(|a, b| match metric.kind.direction() {
                Direction::Higher => b.2.total_cmp(&a.2),
                Direction::Lower => a.2.total_cmp(&b.2),
            });
            let column = |i: usize| per_seed(mine[i]).and_then(|p| p.column(metric));
            let best_vs_second = match (column(ranked[0].1), column(ranked[1].1)) {
                (Some(a), Some(b)) => contrast_over_seeds(
                    (&crate::format::describe_value(&ranked[0].0), &a),
                    (&crate::format::describe_value(&ranked[1].0), &b),
                    spec,
                    seed,
                ),
                _ => None,
            };
            let numbers: Option<Vec<f64>> = best.iter().map(|(v, _, _)| v.as_f64()).collect();
            let edge = numbers
                .zip(ranked[0].0.as_f64())
                .and_then(|(tried, selected)| Edge::of(selected, &tried));
            out.push(Sensitivity {
                model: mine[0].model_name.clone(),
                knob,
                values,
                best_vs_second,
                edge,
            });
        }
    }
    out
}

/// Corrects every comparison of the report together, in place, and states
/// each one's detectable difference at the per-comparison level α/m
/// (Bonferroni's, the strictest step of Holm and of Benjamini–Hochberg, so
/// the stated difference is detectable whatever the other p-values; α with
/// no correction).
pub fn correct(pairs: &mut [Contrast], knobs: &mut [Sensitivity], spec: &CompareSpec) {
    let mut raw: Vec<f64> = pairs.iter().map(|c| c.p_raw).collect();
    raw.extend(
        knobs
            .iter()
            .filter_map(|k| k.best_vs_second.as_ref().map(|c| c.p_raw)),
    );
    let mut adjusted = adjust(&raw, spec.correction).into_iter();
    for c in pairs.iter_mut() {
        c.p_adjusted = adjusted.next().expect("one adjusted p per raw p");
    }
    for c in knobs.iter_mut().filter_map(|k| k.best_vs_second.as_mut()) {
        c.p_adjusted = adjusted.next().expect("one adjusted p per raw p");
    }
    let level = match spec.correction {
        Correction::None => spec.alpha,
        _ => spec.alpha / raw.len().max(1) as f64,
    };
    let all = pairs
        .iter_mut()
        .chain(knobs.iter_mut().filter_map(|k| k.best_vs_second.as_mut()));
    for c in all {
        c.detectable = c.estimate.minimum_detectable(level, POWER);
    }
}

/// Pairwise comparisons of the selected configurations, A before B in
/// leaderboard order.
pub fn pairwise(
    names: &[String],
    values: &BTreeMap<String, Vec<Vec<f64>>>,
    spec: &CompareSpec,
    seed: u64,
) -> Vec<Contrast> {
    let mut out = Vec::new();
    for (i, a) in names.iter().enumerate() {
        for b in &names[i + 1..] {
            if let (Some(x), Some(y)) = (values.get(a), values.get(b)) {
                out.extend(contrast_over_seeds((a, x), (b, y), spec, seed));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(test: TestKind) -> CompareSpec {
        CompareSpec {
            test,
            ..CompareSpec::default()
        }
    }

    /// 200 users; A's seeds lie `spread` apart around 0.15 + lead, B's at
    /// 0.15; user effects shared, small per-user noise.
    fn sides(lead: f64, spread: f64) -> (Vec<Vec<f64>>, Vec<Vec<f64>>) {
        let user = |u: usize| ((u * 37 % 101) as f64 / 101.0 - 0.5) * 0.2;
        let noise = |s: usize, u: usize| ((u * 13 + s * 7) % 11) as f64 / 11.0 * 0.02;
        let a = (0..2)
            .map(|s| {
                let b = if s == 0 { spread / 2.0 } else { -spread / 2.0 };
                (0..200)
                    .map(|u| 0.15 + lead + b + user(u) + noise(s, u))
                    .collect()
            })
            .collect();
        let b = (0..2)
            .map(|s| (0..200).map(|u| 0.15 + user(u) + noise(s + 2, u)).collect())
            .collect();
        (a, b)
    }

    #[test]
    fn seeds_that_disagree_widen_the_test_where_users_alone_would_not() {
        // The features-cold case: two seeds 0.08 apart, a lead of 0.04.
        let (a, b) = sides(0.04, 0.08);
        for test in [TestKind::PairedT, TestKind::Wilcoxon, TestKind::Permutation] {
            let c = contrast_over_seeds(("a", &a), ("b", &b), &spec(test), 1).unwrap();
            let averaged = |x: &[Vec<f64>]| -> Vec<f64> {
                (0..200).map(|u| (x[0][u] + x[1][u]) / 2.0).collect()
            };
            let flat =
                contrast(("a", &averaged(&a)), ("b", &averaged(&b)), &spec(test), 1).unwrap();
            // (The permutation test bottoms out at 1 / 10,001.)
            assert!(flat.p_raw < 1e-3, "{test:?}: users only p {}", flat.p_raw);
            assert!(c.p_raw > 0.05, "{test:?}: users and seeds p {}", c.p_raw);
            assert!(c.estimate.seeds_matter());
            assert_eq!(c.seeds, (2, 2));
        }
        // Seeds that agree leave the paired t-test as it was.
        let (a, b) = sides(0.04, 0.0);
        let c = contrast_over_seeds(("a", &a), ("b", &b), &spec(TestKind::PairedT), 1).unwrap();
        assert!(c.p_raw < 1e-6, "{}", c.p_raw);
    }

    #[test]
    fn a_pair_found_either_way_round_gives_the_same_difference() {
        let (a, b) = sides(0.04, 0.02);
        let c = contrast_over_seeds(("a", &a), ("b", &b), &spec(TestKind::PairedT), 1).unwrap();
        let pairs = [c];
        let (ab, plus) = find_pair(&pairs, "a", "b").unwrap();
        let (ba, minus) = find_pair(&pairs, "b", "a").unwrap();
        assert_eq!((plus, minus), (1.0, -1.0));
        assert!(find_pair(&pairs, "a", "c").is_none());
        let (lo, hi) = ab.signed_interval(plus).unwrap();
        assert!(lo < 0.04 && 0.04 < hi);
        // b − a: the same interval mirrored, around −Δ.
        assert_eq!(ba.signed_interval(minus), Some((-hi, -lo)));
        assert!((minus * ba.diff() + ab.diff()).abs() < 1e-15);
    }

    #[test]
    fn verdicts_follow_the_sign_the_correction_and_the_detectable_difference() {
        let (a, b) = sides(0.04, 0.0);
        let mut c = contrast_over_seeds(("a", &a), ("b", &b), &spec(TestKind::PairedT), 1).unwrap();
        assert_eq!(c.verdict(0.05, Direction::Higher), Verdict::Better);
        assert_eq!(c.verdict(0.05, Direction::Lower), Verdict::Worse);
        let mut swapped =
            contrast_over_seeds(("b", &b), ("a", &a), &spec(TestKind::PairedT), 1).unwrap();
        assert_eq!(swapped.verdict(0.05, Direction::Higher), Verdict::Worse);
        // Not significant after correction: the interval excludes 0, so
        // inconclusive rather than "no detectable difference".
        c.p_adjusted = 0.5;
        c.detectable = Some(1.0);
        assert_eq!(c.verdict(0.05, Direction::Higher), Verdict::Inconclusive);
        // Identical sides: the interval holds 0 inside ±detectable.
        swapped = contrast_over_seeds(("a", &a), ("a", &a), &spec(TestKind::PairedT), 1).unwrap();
        let mut knobs = [];
        correct(
            std::slice::from_mut(&mut swapped),
            &mut knobs,
            &spec(TestKind::PairedT),
        );
        assert_eq!(
            swapped.verdict(0.05, Direction::Higher),
            Verdict::NoDetectableDifference
        );
    }

    #[test]
    fn a_selected_value_at_either_end_of_three_or_more_numbers_is_an_edge() {
        assert_eq!(Edge::of(0.05, &[0.05, 0.1, 0.2]), Some(Edge::Smallest));
        assert_eq!(Edge::of(1.0, &[0.1, 1.0, 0.5]), Some(Edge::Largest));
        assert_eq!(Edge::of(0.1, &[0.05, 0.1, 0.2]), None);
        // Two values: every choice is an end, which says nothing.
        assert_eq!(Edge::of(0.2, &[0.1, 0.2]), None);
    }

    #[test]
    fn the_detectable_difference_uses_the_bonferroni_level_of_the_family() {
        let (a, b) = sides(0.01, 0.0);
        let one = contrast_over_seeds(("a", &a), ("b", &b), &spec(TestKind::PairedT), 1).unwrap();
        let mut family = vec![one.clone(), one.clone(), one.clone(), one];
        let mut knobs = [];
        correct(&mut family, &mut knobs, &spec(TestKind::PairedT));
        let e = family[0].estimate;
        assert_eq!(
            family[0].detectable,
            e.minimum_detectable(0.05 / 4.0, POWER)
        );
        let mut none = family.clone();
        let uncorrected = CompareSpec {
            correction: Correction::None,
            ..spec(TestKind::PairedT)
        };
        correct(&mut none, &mut knobs, &uncorrected);
        assert!(none[0].detectable < family[0].detectable);
    }
}
