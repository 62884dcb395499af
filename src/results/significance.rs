//! Significance for the report: every pair of selected configurations and,
//! per knob, its best value against the runner-up, all on the selection
//! metric's per-user test values (averaged over seeds first), corrected as
//! one family.

use std::collections::BTreeMap;

use serde_yaml::Value;

use super::{Configuration, Part};
use crate::eval::{Direction, MetricId, PerUser};
use crate::spec::CompareSpec;
use crate::stats::{
    adjust, defined_pairs, differences, paired_t, permutation, wilcoxon, Effect, StatsError,
    TestKind,
};

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
}

impl Contrast {
    pub fn diff(&self) -> f64 {
        self.mean_a - self.mean_b
    }

    pub fn significant(&self, alpha: f64) -> bool {
        self.p_adjusted < alpha
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
    /// Its 95% half-width over users, averaged over seeds.
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

/// A against B on one metric's per-user values (users aligned), paired over
/// the users where both are defined; means, effect and p are over those
/// users. None when fewer than two such users remain or a value is infinite.
pub fn contrast(
    a: (&str, &[f64]),
    b: (&str, &[f64]),
    spec: &CompareSpec,
    seed: u64,
) -> Option<Contrast> {
    let pairs = defined_pairs(a.1, b.1).ok()?;
    let d = differences(&pairs.a, &pairs.b).ok()?;
    let p_raw = run_test(spec.test, &d, spec, seed).ok()?;
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
    })
}

/// Sensitivity of each swept knob of each model.
pub fn sensitivity(
    configs: &[Configuration],
    metric: MetricId,
    part: Part,
    per_user: &dyn Fn(&Configuration) -> Option<PerUser>,
    spec: &CompareSpec,
    seed: u64,
) -> Vec<Sensitivity> {
    let better = |a: f64, b: f64| match metric.kind.direction() {
        Direction::Higher => a > b,
        Direction::Lower => a < b,
    };
    let mut out = Vec::new();
    let mut models: Vec<usize> = configs.iter().map(|c| c.model_index).collect();
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
                    test_ci95: mine[*i].ci95(Part::Test, metric),
                })
                .collect();
            let mut ranked: Vec<&(Value, usize, f64)> = best.iter().collect();
            ranked.sort_by(|a, b| match metric.kind.direction() {
                Direction::Higher => b.2.total_cmp(&a.2),
                Direction::Lower => a.2.total_cmp(&b.2),
            });
            let column =
                |i: usize| per_user(mine[i]).and_then(|p| p.column(metric).map(<[f64]>::to_vec));
            let best_vs_second = match (column(ranked[0].1), column(ranked[1].1)) {
                (Some(a), Some(b)) => contrast(
                    (&crate::format::describe_value(&ranked[0].0), &a),
                    (&crate::format::describe_value(&ranked[1].0), &b),
                    spec,
                    seed,
                ),
                _ => None,
            };
            out.push(Sensitivity {
                model: mine[0].model_name.clone(),
                knob,
                values,
                best_vs_second,
            });
        }
    }
    out
}

/// Corrects every comparison of the report together, in place.
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
}

/// Pairwise comparisons of the selected configurations, A before B in
/// leaderboard order.
pub fn pairwise(
    names: &[String],
    values: &BTreeMap<String, Vec<f64>>,
    spec: &CompareSpec,
    seed: u64,
) -> Vec<Contrast> {
    let mut out = Vec::new();
    for (i, a) in names.iter().enumerate() {
        for b in &names[i + 1..] {
            if let (Some(x), Some(y)) = (values.get(a), values.get(b)) {
                out.extend(contrast((a, x), (b, y), spec, seed));
            }
        }
    }
    out
}
