//! The CI gate: compares a results folder with a stored baseline of per-user
//! values and fails when a tracked metric dropped significantly *and* by more
//! than the tolerance (criterion.rs's rule: statistics and a noise threshold
//! must both agree before a change is called).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::eval::{Direction, MetricId};
use crate::format::describe_knobs;
use crate::results::{
    configurations, contrast, contrast_over_seeds, load_records, per_seed, select, Part,
};
use crate::spec::{CheckSpec, CompareSpec, Protocols, SplitSpec};
use crate::stats::adjust;
use crate::store::{ResultsDir, StoreError};

pub const BASELINE_FORMAT: u32 = 1;

/// Per-user values of each model's selected configuration, tracked metrics
/// only, with what they were measured on.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Baseline {
    pub format: u32,
    pub recsweep_version: String,
    pub experiment: String,
    pub dataset_fingerprint: String,
    pub split: SplitSpec,
    pub protocol: Protocols,
    pub entries: Vec<BaselineEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BaselineEntry {
    pub model: String,
    pub configuration: String,
    pub metric: MetricId,
    /// Dense user ids; the dataset fingerprint guarantees they mean the same users.
    pub users: Vec<u32>,
    /// One per user; `null` in the file where the metric is undefined for
    /// the user (head/tail metrics, pop_lift), NaN in memory.
    #[serde(with = "nan_as_null")]
    pub values: Vec<f64>,
    /// Each seed's per-user values, where the configuration ran two or
    /// more seeds, so the gate tests over users and seeds as the report
    /// does; absent in baselines written before it (tested over users).
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        with = "nan_as_null::seeds"
    )]
    pub seeds: Vec<Vec<f64>>,
}

/// JSON has no NaN: undefined per-user values are written as `null` and
/// read back as NaN, so a baseline round-trips whatever metric it tracks.
mod nan_as_null {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(values: &[f64], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(values.iter().map(|v| (!v.is_nan()).then_some(*v)))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
        let values: Vec<Option<f64>> = Vec::deserialize(d)?;
        Ok(values.into_iter().map(|v| v.unwrap_or(f64::NAN)).collect())
    }

    /// The same, one list per seed.
    pub mod seeds {
        use serde::{Deserialize, Deserializer, Serializer};

        pub fn serialize<S: Serializer>(seeds: &[Vec<f64>], s: S) -> Result<S::Ok, S::Error> {
            s.collect_seq(seeds.iter().map(|v| {
                v.iter()
                    .map(|x| (!x.is_nan()).then_some(*x))
                    .collect::<Vec<_>>()
            }))
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<f64>>, D::Error> {
            let seeds: Vec<Vec<Option<f64>>> = Vec::deserialize(d)?;
            Ok(seeds
                .into_iter()
                .map(|v| v.into_iter().map(|x| x.unwrap_or(f64::NAN)).collect())
                .collect())
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot read baseline {}: {message}", path.display())]
    Baseline { path: PathBuf, message: String },
    #[error("{model} {metric}: fewer than two users have a defined value on both sides, so no paired test is possible; track another metric")]
    Untestable { model: String, metric: String },
    #[error("the baseline was recorded with {what} {baseline}, the results have {current}: they cannot be compared. Refresh the baseline on purpose with `recsweep check RESULTS --write-baseline FILE`")]
    Mismatch {
        what: &'static str,
        baseline: String,
        current: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Regressed,
    Improved,
    /// Significant but within tolerance.
    WithinTolerance,
    NotSignificant,
    /// The model has no result now.
    Missing,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Regressed => "REGRESSED",
            Verdict::Improved => "improved",
            Verdict::WithinTolerance => "no change (within tolerance)",
            Verdict::NotSignificant => "no change (not significant)",
            Verdict::Missing => "MISSING",
        }
    }

    pub fn fails(self) -> bool {
        matches!(self, Verdict::Regressed | Verdict::Missing)
    }
}

#[derive(Debug, Clone)]
pub struct CheckRow {
    pub model: String,
    pub metric: MetricId,
    pub baseline: f64,
    pub current: Option<f64>,
    /// The paired test's p before correction; None for a missing model.
    pub p_raw: Option<f64>,
    pub p_adjusted: Option<f64>,
    pub verdict: Verdict,
    /// The selected configuration changed since the baseline.
    pub configuration: Option<(String, String)>,
    /// (users compared, users evaluated): fewer are compared where the
    /// metric is undefined for some users on either side.
    pub users: (usize, usize),
}

/// Builds the baseline of a results folder.
pub fn baseline(results: &ResultsDir) -> Result<Baseline, CheckError> {
    let record = results.read_experiment()?;
    let (records, _) = load_records(results, &record)?;
    let spec = &record.spec;
    let part = Part::selection(&spec.split);
    let configs = configurations(&record.expansion, &records);
    let mut entries = Vec::new();
    for index in select(&configs, spec.selection.metric, part) {
        let config = &configs[index];
        let seeds = per_seed(results, config)?;
        let Some(per_user) = seeds.averaged() else {
            continue;
        };
        for &metric in &spec.check.metrics {
            let Some(values) = per_user.column(metric) else {
                continue;
            };
            entries.push(BaselineEntry {
                model: config.model_name.clone(),
                configuration: describe_knobs(&config.knobs),
                metric,
                users: per_user.users.clone(),
                values: values.to_vec(),
                seeds: seeds
                    .column(metric)
                    .filter(|s| s.len() >= 2)
                    .unwrap_or_default(),
            });
        }
    }
    Ok(Baseline {
        format: BASELINE_FORMAT,
        recsweep_version: env!("CARGO_PKG_VERSION").to_string(),
        experiment: spec.name.clone(),
        dataset_fingerprint: record.dataset.fingerprint.clone(),
        split: spec.split.clone(),
        protocol: spec.evaluation.protocol.clone(),
        entries,
    })
}

pub fn read_baseline(path: &Path) -> Result<Baseline, CheckError> {
    let err = |message: String| CheckError::Baseline {
        path: path.to_path_buf(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    let baseline: Baseline =
        serde_json::from_str(&text).map_err(|e| err(format!("not a recsweep baseline: {e}")))?;
    if baseline.format != BASELINE_FORMAT {
        return Err(err(format!(
            "format {} is not {BASELINE_FORMAT}; write it anew",
            baseline.format
        )));
    }
    // A baseline that tracks nothing would pass every check.
    if baseline.entries.is_empty() {
        return Err(err(
            "it has no entries, so nothing would be checked; write it anew from results whose spec lists check.metrics".into(),
        ));
    }
    for (i, e) in baseline.entries.iter().enumerate() {
        if e.users.len() != e.values.len() {
            return Err(err(format!(
                "entries[{i}] ({} {}): {} users but {} values",
                e.model,
                e.metric,
                e.users.len(),
                e.values.len()
            )));
        }
        if let Some(seed) = e.seeds.iter().position(|s| s.len() != e.users.len()) {
            return Err(err(format!(
                "entries[{i}] ({} {}): {} users but {} values in seed {seed}",
                e.model,
                e.metric,
                e.users.len(),
                e.seeds[seed].len()
            )));
        }
        if e.values
            .iter()
            .chain(e.seeds.iter().flatten())
            .any(|v| v.is_infinite())
        {
            return Err(err(format!(
                "entries[{i}] ({} {}): a value is infinite",
                e.model, e.metric
            )));
        }
    }
    Ok(baseline)
}

/// Compares the results with the baseline under `settings` (the spec's
/// `check` section, possibly overridden by flags).
pub fn check(
    results: &ResultsDir,
    baseline: &Baseline,
    settings: &CheckSpec,
) -> Result<Vec<CheckRow>, CheckError> {
    let current = self::baseline(results)?;
    ensure_comparable(baseline, &current)?;
    let mut rows = compare_entries(baseline, &current, settings)?;
    decide(&mut rows, settings);
    Ok(rows)
}

/// The baseline and the results must describe the same data, split and
/// protocol, or their per-user values mean different things.
fn ensure_comparable(baseline: &Baseline, current: &Baseline) -> Result<(), CheckError> {
    let mismatch = |what, b: String, c: String| {
        if b == c {
            Ok(())
        } else {
            Err(CheckError::Mismatch {
                what,
                baseline: b,
                current: c,
            })
        }
    };
    mismatch(
        "dataset fingerprint",
        baseline.dataset_fingerprint.clone(),
        current.dataset_fingerprint.clone(),
    )?;
    mismatch(
        "split",
        format!("{:?}", baseline.split),
        format!("{:?}", current.split),
    )?;
    mismatch(
        "protocol",
        baseline.protocol.primary().to_string(),
        current.protocol.primary().to_string(),
    )
}

/// One row per baseline entry, with the raw p-value of each compared one;
/// verdicts wait for the correction.
fn compare_entries(
    baseline: &Baseline,
    current: &Baseline,
    settings: &CheckSpec,
) -> Result<Vec<CheckRow>, CheckError> {
    let now: HashMap<(&str, MetricId), &BaselineEntry> = current
        .entries
        .iter()
        .map(|e| ((e.model.as_str(), e.metric), e))
        .collect();
    let compare_spec = CompareSpec {
        test: settings.test,
        correction: settings.correction,
        alpha: settings.alpha,
        ..CompareSpec::default()
    };
    let mut rows = Vec::new();
    for entry in &baseline.entries {
        let defined = |v: &[f64]| {
            let (sum, n) = v
                .iter()
                .filter(|x| !x.is_nan())
                .fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
            sum / n as f64
        };
        let Some(cur) = now.get(&(entry.model.as_str(), entry.metric)) else {
            rows.push(CheckRow {
                model: entry.model.clone(),
                metric: entry.metric,
                baseline: defined(&entry.values),
                current: None,
                p_raw: None,
                p_adjusted: None,
                verdict: Verdict::Missing,
                configuration: None,
                users: (0, entry.users.len()),
            });
            continue;
        };
        if cur.users != entry.users {
            return Err(CheckError::Mismatch {
                what: "evaluated users",
                baseline: entry.users.len().to_string(),
                current: cur.users.len().to_string(),
            });
        }
        // The report's comparison: over users and seeds where both sides
        // kept their seeds, else paired over users; means over the users
        // where both sides are defined.
        let comparison = match (cur.seeds.is_empty(), entry.seeds.is_empty()) {
            (false, false) => contrast_over_seeds(
                ("current", &cur.seeds),
                ("baseline", &entry.seeds),
                &compare_spec,
                0,
            ),
            _ => contrast(
                ("current", &cur.values),
                ("baseline", &entry.values),
                &compare_spec,
                0,
            ),
        };
        let Some(c) = comparison else {
            return Err(CheckError::Untestable {
                model: entry.model.clone(),
                metric: entry.metric.to_string(),
            });
        };
        rows.push(CheckRow {
            model: entry.model.clone(),
            metric: entry.metric,
            baseline: c.mean_b,
            current: Some(c.mean_a),
            p_raw: Some(c.p_raw),
            p_adjusted: None,
            verdict: Verdict::NotSignificant,
            configuration: (cur.configuration != entry.configuration)
                .then(|| (entry.configuration.clone(), cur.configuration.clone())),
            users: (c.users, entry.users.len()),
        });
    }
    Ok(rows)
}

/// Corrects the raw p-values as one family and gives each compared row its
/// verdict: significant and beyond tolerance in the metric's bad direction
/// is a regression.
fn decide(rows: &mut [CheckRow], settings: &CheckSpec) {
    let raw: Vec<f64> = rows.iter().filter_map(|r| r.p_raw).collect();
    let adjusted = adjust(&raw, settings.correction);
    let compared = rows.iter_mut().filter(|r| r.p_raw.is_some());
    for (row, p) in compared.zip(adjusted) {
        row.p_adjusted = Some(p);
        let current = row.current.expect("compared rows have a current value");
        let change = match row.metric.kind.direction() {
            Direction::Higher => current - row.baseline,
            Direction::Lower => row.baseline - current,
        };
        let tolerance = settings
            .tolerance
            .absolute
            .max(settings.tolerance.relative * row.baseline.abs());
        row.verdict = if p >= settings.alpha {
            Verdict::NotSignificant
        } else if change.abs() <= tolerance {
            Verdict::WithinTolerance
        } else if change < 0.0 {
            Verdict::Regressed
        } else {
            Verdict::Improved
        };
    }
}

/// The gate's markdown summary: one row per tracked metric.
pub fn render(rows: &[CheckRow], settings: &CheckSpec) -> String {
    let failed = rows.iter().filter(|r| r.verdict.fails()).count();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "## recsweep check: {}\n",
        if failed == 0 {
            "passed".to_string()
        } else {
            format!("{failed} regression(s)")
        }
    );
    let _ = writeln!(
        out,
        "A metric regresses when its change is significant (`{}`, {}-corrected p < {}) and larger than max({} absolute, {}·baseline).\n",
        settings.test.as_str(),
        settings.correction.as_str(),
        settings.alpha,
        settings.tolerance.absolute,
        settings.tolerance.relative
    );
    let mut table = tabled::builder::Builder::default();
    table.push_record([
        "model",
        "metric",
        "baseline",
        "current",
        "Δ",
        "users",
        "p (corrected)",
        "verdict",
    ]);
    for r in rows {
        let verdict = match &r.configuration {
            Some((before, now)) => format!(
                "{} (configuration was {before}, now {now})",
                r.verdict.as_str()
            ),
            None => r.verdict.as_str().to_string(),
        };
        table.push_record([
            r.model.clone(),
            r.metric.to_string(),
            format!("{:.4}", r.baseline),
            r.current.map_or("—".into(), |c| format!("{c:.4}")),
            r.current
                .map_or("—".into(), |c| format!("{:+.4}", c - r.baseline)),
            match r.users {
                (_, total) if r.current.is_none() => total.to_string(),
                (compared, total) if compared == total => total.to_string(),
                (compared, total) => format!("{compared} of {total} (defined on both sides)"),
            },
            r.p_adjusted.map_or("—".into(), crate::format::format_p),
            verdict,
        ]);
    }
    let mut built = table.build();
    built.with(tabled::settings::Style::markdown());
    let _ = writeln!(out, "{built}");
    out
}
