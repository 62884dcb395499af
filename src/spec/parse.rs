//! From YAML text to a validated [`Spec`], collecting every problem.
//!
//! Each top-level section is deserialized on its own, so a type error in
//! `dataset` does not hide an unknown key in `models`; range and cross-field
//! checks then run on every section that parsed.

use std::path::Path;
use std::str::FromStr;

use serde::de::DeserializeOwned;
use serde_yaml::{Mapping, Value};

use super::error::{SpecError, SpecIssue};
use super::location::{Position, PositionIndex};
use super::*;
use crate::describe::{describe_serde_error_in, did_you_mean, humanize, join_path, Issues};
use crate::eval::{Family, MetricKind};

pub(super) const TOP_KEYS: &[&str] = &[
    "name",
    "question",
    "seed",
    "dataset",
    "split",
    "evaluation",
    "models",
    "sweep",
    "selection",
    "compare",
    "check",
    "report",
    "simulation",
];

/// A `--set key.path=value` override applied to the YAML before validation,
/// e.g. `--set dataset.path=../shared/datasets/ml-100k/u.data`.
#[derive(Debug, Clone, PartialEq)]
pub struct Override {
    pub path: String,
    pub value: Value,
    /// `KEY=VALUE` as given, so `recsweep plan` can pass it on to its jobs.
    pub text: String,
}

impl FromStr for Override {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (path, raw) = s
            .split_once('=')
            .ok_or_else(|| format!("`{s}` is not KEY=VALUE (e.g. dataset.path=data/u.data)"))?;
        if path.is_empty() || path.split('.').any(str::is_empty) {
            return Err(format!("`{path}` is not a key path (e.g. split.method)"));
        }
        let value = serde_yaml::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_string()));
        Ok(Self {
            path: path.to_string(),
            value,
            text: s.to_string(),
        })
    }
}

/// The text of the spec file at `path`.
pub fn read_spec(path: &Path) -> Result<String, SpecError> {
    std::fs::read_to_string(path).map_err(|source| SpecError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Validates spec `text` (`file` names it in messages): every section, then
/// `later` on the whole spec once everything else holds (the planning layer
/// passes the sweep's expansion there), its issues located like the rest.
pub fn parse_spec_with(
    text: &str,
    file: &Path,
    overrides: &[Override],
    later: &mut dyn FnMut(&Spec) -> Vec<SpecIssue>,
) -> Result<Spec, SpecError> {
    let index = PositionIndex::build(text);
    let mut c = Collector {
        index: &index,
        issues: Vec::new(),
    };
    let spec = c.parse(text, overrides, later);
    match spec {
        Some(spec) if c.issues.is_empty() => Ok(spec),
        _ => Err(SpecError::Invalid {
            file: file.to_path_buf(),
            issues: c.issues,
        }),
    }
}

/// How many mistakes one section may report before the rest are left.
const MAX_REPAIRS: usize = 64;

/// The key a message suggests ("did you mean `source`?"), if any.
fn suggestion(message: &str) -> Option<&str> {
    let rest = message.split_once("did you mean `")?.1;
    rest.split_once('`').map(|(key, _)| key)
}

/// Removes the mapping key at `path` (`a.b[2].c`, relative to `value`);
/// false when there is no such key to remove (a missing field, a wrong
/// type of the whole value): then nothing more can be learned.
fn remove_at(value: &mut Value, path: &str) -> bool {
    let mut segments: Vec<&str> = Vec::new();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let mut rest = part;
        if let Some(open) = rest.find('[') {
            segments.push(&rest[..open]);
            rest = &rest[open..];
            while let Some(close) = rest.find(']') {
                segments.push(&rest[..=close]);
                rest = &rest[close + 1..];
            }
        } else {
            segments.push(rest);
        }
    }
    let Some((last, parents)) = segments.split_last() else {
        return false;
    };
    let mut node = value;
    for segment in parents.iter().filter(|s| !s.is_empty()) {
        let next = match segment.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            Some(i) => i.parse::<usize>().ok().and_then(|i| match node {
                Value::Sequence(items) => items.get_mut(i),
                _ => None,
            }),
            None => match node {
                Value::Mapping(map) => map.get_mut(*segment),
                _ => None,
            },
        };
        match next {
            Some(n) => node = n,
            None => return false,
        }
    }
    match node {
        Value::Mapping(map) => map.remove(*last).is_some(),
        _ => false,
    }
}

/// A spec's sections as parsed, each None where it failed.
struct Sections {
    name: Option<String>,
    question: Option<Option<String>>,
    seed: Option<u64>,
    dataset: Option<DatasetSpec>,
    split: Option<SplitSpec>,
    evaluation: Option<EvaluationSpec>,
    models: Option<Vec<ModelEntry>>,
    sweep: Option<SweepSpec>,
    selection: Option<SelectionSpec>,
    compare: Option<CompareSpec>,
    check: Option<CheckSpec>,
    report: Option<ReportSpec>,
    simulation: Option<Option<SimulationSpec>>,
}

impl Sections {
    fn is_complete(&self) -> bool {
        self.name.is_some()
            && self.question.is_some()
            && self.seed.is_some()
            && self.dataset.is_some()
            && self.split.is_some()
            && self.evaluation.is_some()
            && self.sweep.is_some()
            && self.selection.is_some()
            && self.compare.is_some()
            && self.check.is_some()
            && self.report.is_some()
            && self.simulation.is_some()
    }

    /// The spec, when every section parsed.
    fn into_spec(self) -> Option<Spec> {
        Some(Spec {
            name: self.name?,
            question: self.question?,
            seed: self.seed?,
            dataset: self.dataset?,
            split: self.split?,
            evaluation: self.evaluation?,
            models: self.models?,
            sweep: self.sweep?,
            selection: self.selection?,
            compare: self.compare?,
            check: self.check?,
            report: self.report?,
            simulation: self.simulation?,
        })
    }

    /// Defaults in place of the sections that failed; None without models.
    fn stand_in(self) -> Option<Spec> {
        Some(Spec {
            name: self.name.unwrap_or_default(),
            question: self.question.flatten(),
            seed: self.seed.unwrap_or(DEFAULT_SEED),
            dataset: self.dataset.unwrap_or_default(),
            split: self.split.unwrap_or_default(),
            evaluation: self.evaluation.unwrap_or_default(),
            models: self.models?,
            sweep: self.sweep.unwrap_or_default(),
            selection: self.selection.unwrap_or_default(),
            compare: self.compare.unwrap_or_default(),
            check: self.check.unwrap_or_default(),
            report: self.report.unwrap_or_default(),
            simulation: self.simulation.flatten(),
        })
    }
}

struct Collector<'a> {
    index: &'a PositionIndex,
    issues: Vec<SpecIssue>,
}

impl Collector<'_> {
    fn extend(&mut self, issues: Issues) {
        for (path, message) in issues.0 {
            self.push(path, message);
        }
    }

    fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        let path = path.into();
        let position = self.index.find(&path);
        self.issues.push(SpecIssue {
            path,
            message: message.into(),
            position,
        });
    }

    fn parse(
        &mut self,
        text: &str,
        overrides: &[Override],
        later: &mut dyn FnMut(&Spec) -> Vec<SpecIssue>,
    ) -> Option<Spec> {
        let map = self.root(text, overrides)?;
        let sections = self.sections(&map);
        if !sections.is_complete() {
            // A section that failed (a `sorce:` typo) must not hide the
            // sweep's mistakes: expand the models over defaults in its
            // place. With the dataset in doubt, its feature columns are
            // unknown, so what the expansion says of features is left out.
            let dataset_known = sections.dataset.is_some();
            let stand_in = sections.stand_in()?;
            for issue in later(&stand_in) {
                if !dataset_known && issue.message.contains("feature") {
                    continue;
                }
                self.push(issue.path, issue.message);
            }
            return None;
        }
        let mut spec = sections.into_spec()?;
        self.check_compare(&mut spec);
        self.check_simulation(&spec);
        self.check_gate(&mut spec);
        self.check_split_with_data(&spec);
        self.check_randomised(&spec);
        if spec.report.path.is_none() {
            spec.report.path = Some(PathBuf::from(format!("reports/{}.md", spec.name)));
        }
        // The expansion runs even after other mistakes, so all of them
        // are reported at once.
        let issues = later(&spec);
        for issue in issues {
            self.push(issue.path, issue.message);
        }
        if !self.issues.is_empty() {
            return None;
        }
        Some(spec)
    }

    /// The YAML as a mapping with `--set` overrides applied and only known
    /// top-level keys; None when it is not YAML or not a mapping.
    fn root(&mut self, text: &str, overrides: &[Override]) -> Option<Mapping> {
        let mut root: Value = match serde_yaml::from_str(text) {
            Ok(v) => v,
            Err(e) => {
                let position = e.location().map(|l| Position {
                    line: l.line(),
                    column: l.column(),
                });
                self.issues.push(SpecIssue {
                    path: String::new(),
                    message: format!("not valid YAML: {e}"),
                    position,
                });
                return None;
            }
        };
        for o in overrides {
            if let Err(message) = apply_override(&mut root, o) {
                self.push("", format!("--set {}: {message}", o.path));
            }
        }
        let Value::Mapping(map) = root else {
            self.push(
                "",
                "a spec is a mapping with keys name, dataset, models (and optional split, evaluation, sweep, selection, report)",
            );
            return None;
        };
        for key in map.keys() {
            let name = key.as_str().unwrap_or("?");
            if !TOP_KEYS.contains(&name) {
                let (message, _) = humanize(&format!(
                    "unknown field `{name}`, expected one of {}",
                    TOP_KEYS
                        .iter()
                        .map(|k| format!("`{k}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
                self.push(name, message);
            }
        }
        Some(map)
    }

    /// Each section parsed on its own (None where it failed: its errors
    /// are reported), its own rules checked and its defaults filled.
    fn sections(&mut self, map: &Mapping) -> Sections {
        let name: Option<String> = self.required(map, "name");
        let question: Option<Option<String>> = self.optional(map, "question", || None);
        if let Some(Some(q)) = &question {
            if q.trim().is_empty() || q.contains('\n') {
                self.push(
                    "question",
                    "must be one non-empty line (the sentence the report opens with)".to_string(),
                );
            }
        }
        let seed: Option<u64> = self.optional(map, "seed", || DEFAULT_SEED);
        let dataset: Option<DatasetSpec> = self.required(map, "dataset");
        let split: Option<SplitSpec> = self.optional(map, "split", SplitSpec::default);
        let evaluation: Option<EvaluationSpec> =
            self.optional(map, "evaluation", EvaluationSpec::default);
        let models = self.models(map);
        let sweep: Option<SweepSpec> = self.optional(map, "sweep", SweepSpec::default);
        let mut selection: Option<SelectionSpec> =
            self.optional(map, "selection", SelectionSpec::default);
        // An unwritten selection metric (and the gate's, which defaults to
        // it) follows the cutoffs: ndcg@10 where 10 is among them (so specs
        // written before this rule select as they did), else ndcg at the
        // smallest, so that `cutoffs: [20]` alone is a valid spec.
        let metric_written = map.get("selection").and_then(|s| s.get("metric")).is_some();
        if let (Some(s), Some(e), false) = (&mut selection, &evaluation, metric_written) {
            if !e.cutoffs.contains(&s.metric.k) {
                if let Some(&k) = e.cutoffs.iter().filter(|&&k| k >= 1).min() {
                    s.metric.k = k;
                }
            }
        }
        let compare: Option<CompareSpec> = self.optional(map, "compare", CompareSpec::default);
        let check: Option<CheckSpec> = self.optional(map, "check", CheckSpec::default);
        let report: Option<ReportSpec> = self.optional(map, "report", ReportSpec::default);
        let simulation: Option<Option<SimulationSpec>> = self.optional(map, "simulation", || None);

        if let Some(name) = &name {
            self.check_name(name);
        }
        let files_split = split
            .as_ref()
            .is_some_and(|s| s.method == SplitMethod::Files);
        let dataset = dataset.map(|mut d| {
            self.extend(d.issues(files_split));
            if d.source == DataSource::Synthetic {
                d.fill_synthetic_defaults();
            }
            d
        });
        let split = split.map(|mut s| {
            self.extend(s.issues());
            s.fill_defaults();
            s
        });
        if let Some(e) = &evaluation {
            self.check_evaluation(e, dataset.as_ref().map(|d| d.source));
        }
        if let (Some(s), Some(e)) = (&selection, &evaluation) {
            self.check_selection(s, e, metric_written);
        }
        if let (Some(s), Some(sp)) = (&selection, &split) {
            if s.refit && !sp.has_validation() {
                self.push(
                    "selection.refit",
                    "refit retrains the configuration selected on validation, and this split has none (`split.validation`)",
                );
            }
            self.check_folds(s, sp);
        }
        if let Some(s) = &sweep {
            self.check_sweep(s, split.as_ref());
            if let Some(models) = &models {
                self.check_model_sweeps(s, models);
            }
        }
        if let (Some(r), Some(e)) = (&report, &evaluation) {
            self.check_published(r, e);
        }
        Sections {
            name,
            question,
            seed,
            dataset,
            split,
            evaluation,
            models,
            sweep,
            selection,
            compare,
            check,
            report,
            simulation,
        }
    }

    /// Deserializes one value, reporting a failure at its exact key path.
    /// serde stops at the first error, so after each one the offending key
    /// is dropped and the rest deserialized again (its default taking the
    /// key's place): every mistake in a section is reported, and the range
    /// checks still see the section's other values. A section that needed
    /// such repairs is reported but never used to run.
    fn deserialize<T: DeserializeOwned>(&mut self, value: &Value, path: &str) -> Option<T> {
        let mut value = value.clone();
        // Keys suggested for misspelt ones already reported: their "missing
        // key" error after the repair would only repeat the first.
        let mut suggested: Vec<String> = Vec::new();
        // Each repair removes a key, so this ends; the bound is a backstop.
        for _ in 0..MAX_REPAIRS {
            match serde_path_to_error::deserialize::<_, T>(value.clone()) {
                Ok(v) => return Some(v),
                Err(e) => {
                    let (full, message) = describe_serde_error_in::<T>(path, &e, &value);
                    if suggested
                        .iter()
                        .any(|k| message == format!("missing required key `{k}`"))
                    {
                        return None;
                    }
                    if let Some(key) = suggestion(&message) {
                        suggested.push(key.to_string());
                    }
                    let relative = full.strip_prefix(path).unwrap_or(&full);
                    // The key removed below, once reported, is not "missing" too.
                    if let Some(key) = relative.rsplit('.').next().filter(|k| !k.contains('[')) {
                        suggested.push(key.to_string());
                    }
                    let repaired = remove_at(&mut value, relative.trim_start_matches('.'));
                    self.push(full, message);
                    if !repaired {
                        return None;
                    }
                }
            }
        }
        None
    }

    fn required<T: DeserializeOwned>(&mut self, map: &Mapping, key: &str) -> Option<T> {
        match map.get(key) {
            Some(v) => self.deserialize(v, key),
            None => {
                self.push("", format!("missing required key `{key}`"));
                None
            }
        }
    }

    fn optional<T: DeserializeOwned>(
        &mut self,
        map: &Mapping,
        key: &str,
        default: impl FnOnce() -> T,
    ) -> Option<T> {
        match map.get(key) {
            Some(Value::Null) | None => Some(default()),
            Some(v) => self.deserialize(v, key),
        }
    }

    /// Each model entry, and each entry's params, is its own unit, so one bad
    /// entry does not hide problems in the next.
    fn models(&mut self, map: &Mapping) -> Option<Vec<ModelEntry>> {
        let Some(value) = map.get("models") else {
            self.push(
                "",
                "missing required key `models` (a list such as `- model: most_pop`)",
            );
            return None;
        };
        let Value::Sequence(items) = value else {
            self.push("models", "expected a list of models (`- model: ease`)");
            return None;
        };
        if items.is_empty() {
            self.push("models", "the list is empty: name at least one model");
            return None;
        }
        let mut entries = Vec::new();
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            let path = format!("models[{i}]");
            let Some(mut entry) = self.deserialize::<ModelEntry>(item, &path) else {
                ok = false;
                continue;
            };
            match entry.model.configure(&entry.params) {
                Ok(config) => entry.params = config.params(),
                Err(problems) => {
                    ok = false;
                    for p in problems {
                        self.push(join_path(&format!("{path}.params"), &p.key), p.message);
                    }
                }
            }
            entries.push(entry);
        }
        let mut seen = std::collections::BTreeMap::new();
        for (i, entry) in entries.iter().enumerate() {
            let name = entry
                .name
                .clone()
                .unwrap_or_else(|| entry.model.as_str().to_string());
            if let Some(first) = seen.insert(name.clone(), i) {
                ok = false;
                self.push(
                    format!("models[{i}]"),
                    format!("model name `{name}` is already used by models[{first}]; give each entry a distinct `name`"),
                );
            }
        }
        ok.then_some(entries)
    }

    fn check_values(&mut self, path: &str, values: &Value) {
        match values {
            Value::Sequence(v) if !v.is_empty() => {}
            Value::Sequence(_) => self.push(path, "empty list: give at least one value"),
            Value::Mapping(_) => self.push(
                path,
                "a distribution is searched by `sweep.random` or `sweep.tpe`; a grid takes a list of values, e.g. [0.0, 0.1]",
            ),
            _ => self.push(path, "expected a list of values to sweep, e.g. [0.0, 0.1]"),
        }
    }

    fn check_name(&mut self, name: &str) {
        let valid = |c: char| c.is_ascii_alphanumeric() || "._-".contains(c);
        if name.is_empty() || !name.chars().all(valid) || name.starts_with('.') {
            self.push(
                "name",
                format!(
                    "`{name}` cannot name a results folder: use letters, digits, '.', '_' and '-'"
                ),
            );
        }
    }

    /// A cold item's candidates are the split's own list: a sampled
    /// protocol would rank other items.
    fn check_split_with_data(&mut self, spec: &Spec) {
        let cold_list = spec.split.candidates == Some(crate::split::ColdCandidates::Cold);
        if cold_list
            && spec
                .evaluation
                .protocol
                .0
                .iter()
                .any(|p| *p != Protocol::Full)
        {
            self.push(
                "evaluation.protocol",
                "split.candidates cold already fixes what each user's items are ranked against; use protocol full (or candidates: all)",
            );
        }
    }

    /// The randomised protocol ranks the randomised test set, which only
    /// `dataset.random_test` provides, and never selects: validation holds
    /// no randomised part, so it follows a primary protocol. Propensities
    /// fitted to it need it too.
    fn check_randomised(&mut self, spec: &Spec) {
        let protocols = &spec.evaluation.protocol;
        let listed = protocols.0.contains(&Protocol::Randomised);
        if protocols.primary() == Protocol::Randomised {
            self.push(
                "evaluation.protocol",
                "randomised cannot come first: selection needs validation, which has no randomised part; list it after the primary protocol, e.g. [full, randomised]",
            );
        } else if listed && spec.dataset.random_test.is_none() {
            self.push(
                "evaluation.protocol",
                "randomised ranks a randomised-exposure test set: add `dataset.random_test: {items_per_user: 10}` (synthetic) or `{path: FILE}`",
            );
        }
        let estimate = spec
            .evaluation
            .propensity
            .as_ref()
            .is_some_and(|p| p.estimate.is_some());
        match (spec.dataset.random_test.is_some(), listed || estimate) {
            (true, false) => self.push(
                "dataset.random_test",
                "nothing reads the randomised test set: add `randomised` to evaluation.protocol (e.g. [full, randomised]) or fit propensities to it (`evaluation.propensity: {estimate: randomised}`)",
            ),
            (false, _) if estimate => self.push(
                "evaluation.propensity.estimate",
                "randomised fits the exponent to a randomised-exposure test set: add `dataset.random_test: {items_per_user: 10}` (synthetic) or `{path: FILE}`",
            ),
            _ => {}
        }
    }

    /// `source` is None when the dataset section itself failed to parse (its
    /// errors are reported; the source-dependent rules are skipped).
    fn check_evaluation(&mut self, e: &EvaluationSpec, source: Option<DataSource>) {
        self.extend(e.issues(source));
    }

    /// A published row names its model and source and holds values of
    /// metrics the spec evaluates.
    fn check_published(&mut self, r: &ReportSpec, e: &EvaluationSpec) {
        for (i, p) in r.published.iter().enumerate() {
            let at = format!("report.published[{i}]");
            for (text, key) in [(&p.model, "model"), (&p.source, "source")] {
                if text.trim().is_empty() {
                    self.push(format!("{at}.{key}"), "must not be empty");
                }
            }
            if p.metrics.is_empty() {
                self.push(
                    format!("{at}.metrics"),
                    "empty: give the published values, e.g. {recall@20: 0.1830}",
                );
            }
            for (m, v) in &p.metrics {
                let key = format!("{at}.metrics.{m}");
                if !v.is_finite() {
                    self.push(key, format!("{v} is not a finite number"));
                } else if m.kind.family() != Family::Accuracy {
                    self.push(
                        key,
                        format!("`{}` is not an accuracy metric; published rows compare accuracy (recall, ndcg, ...)", m.kind.as_str()),
                    );
                } else if !e.evaluates(*m) {
                    self.push(
                        key,
                        format!(
                            "recsweep does not evaluate {m} here (evaluation.metrics and evaluation.cutoffs {:?}); add it there to compare",
                            e.cutoffs
                        ),
                    );
                }
            }
        }
    }

    /// `selection.folds`: a count in range, over a split whose validation
    /// part can be carved k times (not temporal's latest share, not a
    /// given file).
    fn check_folds(&mut self, s: &SelectionSpec, sp: &SplitSpec) {
        let Some(k) = s.folds else { return };
        if !(2..=SelectionSpec::MAX_FOLDS).contains(&k) {
            self.push(
                "selection.folds",
                format!(
                    "{k} folds: use 2 to {} (one fold is the default single validation part)",
                    SelectionSpec::MAX_FOLDS
                ),
            );
        }
        if !sp.has_validation() {
            self.push(
                "selection.folds",
                "folds rotate the validation part, and this split has none (`split.validation: true`)",
            );
        } else if sp.method == SplitMethod::Temporal || matches!(sp.validation, Validation::File(_))
        {
            self.push(
                "selection.folds",
                format!(
                    "the {} split has one validation part (temporal's latest share, or a given file), not folds; use random_holdout, leave_one_out, a cold split, or files with `validation: true`",
                    sp.method.as_str()
                ),
            );
        }
    }

    fn check_selection(&mut self, s: &SelectionSpec, e: &EvaluationSpec, written: bool) {
        let m = s.metric;
        // Only `evaluation.metrics` without ndcg can make the default fail:
        // say that the user never wrote it, and where to.
        let key = if written {
            "selection.metric"
        } else {
            "selection.metric (not written; its default is ndcg@10, or ndcg at the smallest cutoff without 10)"
        };
        // Selection (and early stopping) compare means over every evaluated
        // user, so the metric must be an accuracy metric defined for each
        // user: not a bias metric, nor a head/tail one (undefined where the
        // held-out items are all of the other stratum). Debiased and truth
        // metrics are defined for every user once the spec allows them.
        if !matches!(
            m.kind.family(),
            Family::Accuracy | Family::Debiased | Family::Truth
        ) {
            let per_user: Vec<&str> = MetricKind::ALL
                .iter()
                .filter(|k| k.family() == Family::Accuracy)
                .map(|k| k.as_str())
                .collect();
            self.push(
                "selection.metric",
                format!(
                    "`{}` is not a per-user accuracy metric defined for every user; use one of {} (or a debiased or truth metric of evaluation.metrics)",
                    m.kind.as_str(),
                    per_user.join(", ")
                ),
            );
        }
        if !m.kind.has_cutoff() {
            // Selection's figures and stage tables read the metric's K.
            self.push(
                "selection.metric",
                format!(
                    "`{m}` has no cutoff; select by a metric at one of evaluation.cutoffs, e.g. ndcg@{}, and report {m} beside it",
                    e.cutoffs.first().copied().unwrap_or(10)
                ),
            );
        } else if !e.cutoffs.contains(&m.k) {
            self.push(
                "selection.metric",
                format!(
                    "cutoff {} is not among evaluation.cutoffs {:?}; add it there",
                    m.k, e.cutoffs
                ),
            );
        }
        if !e.metrics.contains(&m.kind) {
            self.push(
                key,
                format!(
                    "`{}` is not among evaluation.metrics; add it there or set selection.metric",
                    m.kind.as_str()
                ),
            );
        }
    }

    /// The loop needs known preferences (synthetic data) and a baseline
    /// that names a model of the spec.
    fn check_simulation(&mut self, spec: &Spec) {
        let Some(sim) = &spec.simulation else {
            return;
        };
        for (key, message) in sim.issues() {
            self.push(format!("simulation.{key}"), message);
        }
        if spec.dataset.source != DataSource::Synthetic && sim.truth.is_none() {
            self.push(
                "simulation.truth",
                format!(
                    "missing: users accept recommendations with their true preferences, which only `source: synthetic` knows; on a `{}` log name a model fitted on the whole log to stand in for them, e.g. `truth: {{model: ease, params: {{l2: 500.0}}, temperature: 0.05}}`",
                    spec.dataset.source.as_str()
                ),
            );
        }
        // A program outside recsweep runs per trial, not inside the loop's
        // rounds (docs/external.md, "Limits").
        let external = "an external model cannot run in a simulation; drop the simulation section or the model (docs/external.md, \"Limits\")";
        if sim
            .truth
            .as_ref()
            .is_some_and(|t| t.model == ModelKind::External)
        {
            self.push("simulation.truth.model", external.to_string());
        }
        for (i, m) in spec.models.iter().enumerate() {
            if m.model == ModelKind::External {
                self.push(format!("models[{i}].model"), external.to_string());
            }
        }
        if let Some(b) = &sim.baseline {
            let names: Vec<String> = (0..spec.models.len()).map(|i| spec.model_name(i)).collect();
            if !names.contains(&b.model) {
                self.push(
                    "simulation.baseline.model",
                    format!(
                        "`{}` is not a model of this spec (models: {})",
                        b.model,
                        names.join(", ")
                    ),
                );
            }
        }
    }

    fn check_compare(&mut self, spec: &mut Spec) {
        let names: Vec<String> = (0..spec.models.len()).map(|i| spec.model_name(i)).collect();
        let c = &mut spec.compare;
        match &c.baseline {
            Some(b) if !names.contains(b) => {
                let refs: Vec<&str> = names.iter().map(String::as_str).collect();
                let hint = did_you_mean(b, &refs)
                    .map(|s| format!("did you mean `{s}`? "))
                    .unwrap_or_default();
                self.push(
                    "compare.baseline",
                    format!(
                        "`{b}` is not a model of this spec; {hint}(models: {})",
                        names.join(", ")
                    ),
                );
            }
            Some(_) => {}
            None => {
                if names.iter().any(|n| n == "most_pop") {
                    c.baseline = Some("most_pop".into());
                }
            }
        }
        if !(c.alpha > 0.0 && c.alpha < 1.0) {
            self.push(
                "compare.alpha",
                format!("{} is out of range; must be in (0, 1)", c.alpha),
            );
        }
        if c.permutations == 0 {
            self.push("compare.permutations", "must be at least 1");
        }
    }

    fn check_gate(&mut self, spec: &mut Spec) {
        let e = &spec.evaluation;
        let c = &mut spec.check;
        if c.metrics.is_empty() {
            // The selection metric, whose own check already names what
            // is wrong with it.
            c.metrics.push(spec.selection.metric);
        } else {
            for (i, m) in c.metrics.iter().enumerate() {
                if !m.kind.is_per_user() || !e.evaluates(*m) {
                    self.push(
                        format!("check.metrics[{i}]"),
                        format!("`{m}` must be a per-user metric among evaluation.metrics at one of evaluation.cutoffs"),
                    );
                }
            }
        }
        if !(c.alpha > 0.0 && c.alpha < 1.0) {
            self.push(
                "check.alpha",
                format!("{} is out of range; must be in (0, 1)", c.alpha),
            );
        }
        let t = c.tolerance;
        let valid = |v: f64| v >= 0.0 && v.is_finite();
        if !(valid(t.absolute) && valid(t.relative)) {
            self.push(
                "check.tolerance",
                "absolute and relative tolerances must be finite and ≥ 0",
            );
        }
    }

    fn check_sweep(&mut self, s: &SweepSpec, split: Option<&SplitSpec>) {
        if s.seeds == 0 {
            self.push("sweep.seeds", "must be at least 1");
        }
        for (key, values) in &s.grid {
            let key = key.as_str().unwrap_or("?");
            self.check_values(&format!("sweep.grid.{key}"), values);
        }
        let searches = [
            (!s.grid.is_empty()).then_some("grid"),
            s.random.as_ref().map(|_| "random"),
            s.tpe.as_ref().map(|_| "tpe"),
        ];
        let given: Vec<&str> = searches.into_iter().flatten().collect();
        if given.len() > 1 {
            self.push(
                format!("sweep.{}", given[1]),
                format!(
                    "use one of `grid`, `random` or `tpe`, not {}",
                    given.join(" and ")
                ),
            );
        }
        if let Some(random) = &s.random {
            self.check_budget("sweep.random.samples", random.samples);
            self.check_space("sweep.random.space", &random.space);
        }
        if let Some(f) = &s.fidelity {
            let [fewest, most] = f.epochs;
            if !(1..most).contains(&fewest) {
                self.push(
                    "sweep.fidelity.epochs",
                    format!("[{fewest}, {most}] needs 1 ≤ fewest < most"),
                );
            }
            if f.eta < 2 {
                self.push("sweep.fidelity.eta", "must be at least 2");
            }
            if split.is_some_and(|sp| !sp.has_validation()) {
                self.push(
                    "sweep.fidelity",
                    "successive halving promotes by validation results, and this split has none (`split.validation`)",
                );
            }
            let swept = s.grid.contains_key("epochs")
                || s.random
                    .as_ref()
                    .is_some_and(|r| r.space.contains_key("epochs"))
                || s.tpe
                    .as_ref()
                    .is_some_and(|t| t.space.contains_key("epochs"));
            if swept {
                self.push(
                    "sweep.fidelity",
                    "successive halving sets `epochs` itself; remove it from the sweep",
                );
            }
        }
        if let Some(tpe) = &s.tpe {
            self.check_budget("sweep.tpe.trials", tpe.trials);
            if tpe.round == 0 {
                self.push("sweep.tpe.round", "must be at least 1");
            }
            if tpe.startup == Some(0) || tpe.startup() > tpe.trials {
                self.push(
                    "sweep.tpe.startup",
                    format!(
                        "{} must be between 1 and sweep.tpe.trials ({})",
                        tpe.startup(),
                        tpe.trials
                    ),
                );
            }
            if split.is_some_and(|sp| !sp.has_validation()) {
                self.push(
                    "sweep.tpe",
                    "TPE proposes from validation results, and this split has none (`split.validation`); tuning on test would report the tuned-for number",
                );
            }
            self.check_space("sweep.tpe.space", &tpe.space);
        }
    }

    /// A model's own `sweep:` holds lists of values under a grid, and lists
    /// (a `choice`) or distributions under a random or TPE search; its own
    /// `trials` needs a search with a budget, one that a TPE search's
    /// start-up fits in.
    fn check_model_sweeps(&mut self, s: &SweepSpec, models: &[ModelEntry]) {
        let searched = s.random.is_some() || s.tpe.is_some();
        for (i, m) in models.iter().enumerate() {
            if s.fidelity.is_some() && m.sweep.contains_key("epochs") {
                self.push(
                    format!("models[{i}].sweep.epochs"),
                    "successive halving (sweep.fidelity) sets `epochs` itself; remove it from the sweep",
                );
            }
            for (key, values) in &m.sweep {
                let path = format!("models[{i}].sweep.{}", key.as_str().unwrap_or("?"));
                match values {
                    Value::Mapping(_) if searched => {
                        if let Some(d) = self.deserialize::<Distribution>(values, &path) {
                            if let Err(message) = d.check() {
                                self.push(path, message);
                            }
                        }
                    }
                    _ => self.check_values(&path, values),
                }
            }
        }
        for (i, m) in models.iter().enumerate() {
            let Some(trials) = m.trials else { continue };
            let path = format!("models[{i}].trials");
            if s.random.is_none() && s.tpe.is_none() {
                self.push(
                    path,
                    "a budget needs `sweep.random` or `sweep.tpe`; a grid tries its whole product",
                );
                continue;
            }
            self.check_budget(&path, trials);
            if let Some(tpe) = s
                .tpe
                .as_ref()
                .filter(|t| trials > 0 && t.startup() > trials)
            {
                self.push(
                    path,
                    format!(
                        "{trials} is fewer than sweep.tpe.startup ({}), the random draws every model starts with",
                        tpe.startup()
                    ),
                );
            }
        }
    }

    /// A search's configurations per model: at least one, at most
    /// [`MAX_CONFIGURATIONS`].
    fn check_budget(&mut self, path: &str, configurations: usize) {
        if !(1..=MAX_CONFIGURATIONS).contains(&configurations) {
            self.push(
                path,
                format!("{configurations} is out of range; must be 1 to {MAX_CONFIGURATIONS}"),
            );
        }
    }

    /// Each distribution of a random or TPE space, at `base.KEY`.
    fn check_space(&mut self, base: &str, space: &Mapping) {
        for (key, value) in space {
            let key = key.as_str().unwrap_or("?");
            let path = format!("{base}.{key}");
            if let Some(d) = self.deserialize::<Distribution>(value, &path) {
                if let Err(message) = d.check() {
                    self.push(path, message);
                }
            }
        }
    }
}

/// Sets `o.path` in `root`, creating mappings on the way; `[i]` indexes lists.
fn apply_override(root: &mut Value, o: &Override) -> Result<(), String> {
    let mut node = root;
    for part in o.path.split('.') {
        let (key, index) = match part.split_once('[') {
            Some((k, rest)) => {
                let i = rest
                    .strip_suffix(']')
                    .and_then(|r| r.parse::<usize>().ok())
                    .ok_or_else(|| format!("`{part}` is not KEY or KEY[INDEX]"))?;
                (k, Some(i))
            }
            None => (part, None),
        };
        if !node.is_mapping() {
            *node = Value::Mapping(Mapping::new());
        }
        let map = node.as_mapping_mut().expect("made a mapping above");
        node = map
            .entry(Value::String(key.to_string()))
            .or_insert(Value::Null);
        if let Some(i) = index {
            let len = node.as_sequence().map_or(0, Vec::len);
            node = node
                .as_sequence_mut()
                .and_then(|s| s.get_mut(i))
                .ok_or_else(|| format!("`{key}` has {len} elements; index {i} is out of range"))?;
        }
    }
    *node = o.value.clone();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn override_sets_nested_and_indexed_keys() {
        let mut root: Value = serde_yaml::from_str("a: {b: 1}\nl: [{x: 1}, {x: 2}]").unwrap();
        apply_override(&mut root, &"a.b=hello".parse().unwrap()).unwrap();
        apply_override(&mut root, &"l[1].x=5".parse().unwrap()).unwrap();
        assert_eq!(root["a"]["b"], Value::String("hello".into()));
        assert_eq!(root["l"][1]["x"], Value::Number(5.into()));
        assert!(apply_override(&mut root, &"l[7].x=5".parse().unwrap()).is_err());
        assert!("novalue".parse::<Override>().is_err());
    }
}
