//! What one MLflow run holds for a recsweep experiment or trial: params,
//! metrics (with steps for curves and simulation rounds) and tags, in
//! MLflow's naming rules, cut into the batches its log-batch call accepts.
//! Pure: no I/O, so every rule here is tested without a server.

use serde_yaml::{Mapping, Value};

use crate::eval::{MetricId, Summary};
use crate::format::{describe_knobs, describe_value};
use crate::simulation::Round;
use crate::store::{ExperimentRecord, Outcome, TrialRecord};

/// MLflow's log-batch limits (docs of `runs/log-batch`): per request at
/// most 1,000 metrics, 100 params and 100 tags, and 1,000 entities in all.
pub const MAX_METRICS: usize = 1000;
pub const MAX_PARAMS: usize = 100;
pub const MAX_TAGS: usize = 100;
pub const MAX_ENTITIES: usize = 1000;

/// The longest tag value older MLflow servers store (5,000 characters;
/// newer ones take 8,000): a trial's error is cut to it.
const MAX_TAG_VALUE: usize = 5000;
/// MLflow's limit on a run name.
const MAX_RUN_NAME: usize = 250;

/// The tags by which an export finds what it wrote before.
pub const TAG_CONTEXT: &str = "recsweep.context";
pub const TAG_ROLE: &str = "recsweep.role";
pub const TAG_TRIAL: &str = "recsweep.trial_id";
/// Set by the last call for a run: a run without it was interrupted
/// half-written, and the next export replaces it.
pub const TAG_COMPLETE: &str = "recsweep.complete";
/// MLflow's own tag that nests a run under another in its UI.
pub const TAG_PARENT: &str = "mlflow.parentRunId";

#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    pub key: String,
    pub value: f64,
    pub step: u64,
}

/// One MLflow run's content.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Content {
    pub name: String,
    pub params: Vec<(String, String)>,
    pub metrics: Vec<Metric>,
    pub tags: Vec<(String, String)>,
    /// FINISHED, or FAILED for a trial that failed.
    pub status: &'static str,
}

/// What every run of an experiment is tagged with: the spec, the data
/// (its fingerprint), and the recsweep that ran it.
fn common_tags(experiment: &ExperimentRecord) -> Vec<(String, String)> {
    let mut tags = vec![
        (TAG_CONTEXT.to_string(), experiment.context.clone()),
        ("recsweep.spec".to_string(), experiment.spec.name.clone()),
        (
            "recsweep.dataset_fingerprint".to_string(),
            experiment.dataset.fingerprint.clone(),
        ),
        (
            "recsweep.version".to_string(),
            experiment.recsweep_version.clone(),
        ),
    ];
    if let Some(run) = &experiment.run {
        tags.push(("recsweep.revision".to_string(), run.git_revision.clone()));
    }
    tags
}

/// The parent run: one per experiment (spec name and context), holding the
/// report as artifacts and the experiment's shape as params.
pub fn experiment_content(experiment: &ExperimentRecord) -> Content {
    let mut tags = common_tags(experiment);
    tags.push((TAG_ROLE.to_string(), "experiment".to_string()));
    let spec = &experiment.spec;
    let mut params = vec![
        ("dataset".to_string(), experiment.dataset.source.clone()),
        ("split".to_string(), experiment.split.method.clone()),
        ("selection".to_string(), spec.selection.metric.to_string()),
        ("seed".to_string(), spec.seed.to_string()),
        (
            "trials".to_string(),
            experiment.expansion.trials.len().to_string(),
        ),
    ];
    if let Some(q) = &spec.question {
        params.push(("question".to_string(), q.clone()));
    }
    Content {
        name: spec.name.clone(),
        params,
        metrics: Vec::new(),
        tags,
        status: "FINISHED",
    }
}

/// A trial's run: its model, configuration, every param flattened
/// (`params.popularity.gamma`), seed; its validation and test summaries
/// at each K; curves and simulation rounds as steps.
pub fn trial_content(experiment: &ExperimentRecord, record: &TrialRecord) -> Content {
    let trial = &record.trial;
    let mut tags = common_tags(experiment);
    tags.push((TAG_ROLE.to_string(), "trial".to_string()));
    tags.push((TAG_TRIAL.to_string(), trial.id.clone()));
    tags.push(("recsweep.config_id".to_string(), trial.config_id.clone()));
    let configuration = describe_knobs(&trial.knobs);
    let mut params = vec![
        ("model".to_string(), trial.model.as_str().to_string()),
        ("name".to_string(), trial.model_name.clone()),
        ("configuration".to_string(), configuration.clone()),
        ("seed".to_string(), trial.seed.to_string()),
        ("seed_index".to_string(), trial.seed_index.to_string()),
    ];
    if trial.refit {
        params.push(("refit".to_string(), "true".to_string()));
    }
    if let Some(fold) = trial.fold {
        params.push(("fold".to_string(), fold.to_string()));
    }
    flatten_mapping("params", &trial.params, &mut params);
    let mut name = format!(
        "{} {configuration} seed {}",
        trial.model_name,
        trial.replicate()
    );
    if name.chars().count() > MAX_RUN_NAME {
        name = name.chars().take(MAX_RUN_NAME).collect();
    }
    let (metrics, status) = match &record.outcome {
        Outcome::Ok { .. } => (outcome_metrics(experiment, &record.outcome), "FINISHED"),
        Outcome::Failed { error } => {
            tags.push((
                "recsweep.error".to_string(),
                error.chars().take(MAX_TAG_VALUE).collect(),
            ));
            (Vec::new(), "FAILED")
        }
    };
    Content {
        name,
        params,
        metrics,
        tags,
        status,
    }
}

/// A finished trial's metrics: timings, the validation and test summaries
/// (and those of secondary protocols and a pipeline's first stage), the
/// training curve and simulation rounds as steps.
fn outcome_metrics(experiment: &ExperimentRecord, outcome: &Outcome) -> Vec<Metric> {
    let Outcome::Ok {
        fit_seconds,
        score_micros_per_user,
        serving,
        validation,
        test,
        secondary,
        curve,
        stages,
        simulation,
        ..
    } = outcome
    else {
        return Vec::new();
    };
    let mut metrics = Vec::new();
    let mut put = |key: String, value: f64, step: u64| metrics.push(Metric { key, value, step });
    put("fit_seconds".into(), *fit_seconds, 0);
    put("score_micros_per_user".into(), *score_micros_per_user, 0);
    if let Some(s) = serving {
        put("serving.median_micros".into(), s.median_micros, 0);
    }
    let mut summary = |prefix: &str, s: &Summary| {
        put(format!("{prefix}.users"), s.users as f64, 0);
        for (id, m) in &s.metrics {
            let key = format!("{prefix}.{}", metric_name(*id));
            if let Some(ci) = m.ci95 {
                put(format!("{key}.ci95"), ci, 0);
            }
            put(key, m.mean, 0);
        }
    };
    if let Some(v) = validation {
        summary("validation", v);
    }
    summary("test", test);
    for p in secondary {
        let protocol = key_safe(&p.protocol);
        if let Some(v) = &p.validation {
            summary(&format!("{protocol}.validation"), v);
        }
        summary(&format!("{protocol}.test"), &p.test);
    }
    if let Some(s) = stages {
        summary("retriever.test", &s.retriever);
    }
    if let Some(c) = curve {
        let monitor = metric_name(experiment.spec.selection.metric);
        for e in &c.epochs {
            put("epoch.loss".into(), e.loss, e.epoch as u64);
            if let Some(v) = e.validation {
                put(format!("epoch.validation.{monitor}"), v, e.epoch as u64);
            }
        }
        put("kept_epoch".into(), c.kept_epoch as f64, 0);
    }
    for run in simulation {
        let prefix = match run.oracle {
            true => "simulation.oracle".to_string(),
            false => format!("simulation.epsilon_{}", describe_value(&run.epsilon.into())),
        };
        for measure in &Round::MEASURES {
            for r in 0..run.rounds.len() {
                put(
                    format!("{prefix}.{}", measure.name),
                    (measure.of)(&run.rounds, r),
                    r as u64 + 1,
                );
            }
        }
    }
    metrics
}

/// `ndcg@10` as MLflow allows a metric name (letters, digits, `_ - . / :`
/// and spaces; no `@`): `ndcg_at_10`; `auc` as it is.
pub fn metric_name(id: MetricId) -> String {
    match id.kind.has_cutoff() {
        true => format!("{}_at_{}", id.kind.as_str(), id.k),
        false => id.kind.as_str().to_string(),
    }
}

/// `sampled(100 uniform negatives)` → `sampled_100_uniform_negatives`.
fn key_safe(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        let keep = c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
        match (keep, out.ends_with('_')) {
            (true, _) => out.push(c),
            (false, false) => out.push('_'),
            (false, true) => {}
        }
    }
    out.trim_matches('_').to_string()
}

/// Nested params as dotted keys: `{popularity: {method: penalty, gamma:
/// 0.5}}` under `params` gives `params.popularity.method = penalty` and
/// `params.popularity.gamma = 0.5`; a list stays one value (`[128, 64]`).
fn flatten_mapping(prefix: &str, mapping: &Mapping, out: &mut Vec<(String, String)>) {
    for (k, v) in mapping {
        let key = format!("{prefix}.{}", describe_value(k));
        match v {
            Value::Mapping(inner) if !inner.is_empty() => flatten_mapping(&key, inner, out),
            _ => out.push((key, describe_value(v))),
        }
    }
}

/// One log-batch request.
#[derive(Debug, Default, PartialEq)]
pub struct Batch {
    pub params: Vec<(String, String)>,
    pub metrics: Vec<Metric>,
    pub tags: Vec<(String, String)>,
}

/// `content`'s params, metrics and tags in as few log-batch requests as
/// MLflow's limits allow.
pub fn batches(
    mut params: Vec<(String, String)>,
    mut metrics: Vec<Metric>,
    mut tags: Vec<(String, String)>,
) -> Vec<Batch> {
    let mut out = Vec::new();
    while !(params.is_empty() && metrics.is_empty() && tags.is_empty()) {
        let p: Vec<_> = params.drain(..params.len().min(MAX_PARAMS)).collect();
        let t: Vec<_> = tags.drain(..tags.len().min(MAX_TAGS)).collect();
        let room = MAX_METRICS.min(MAX_ENTITIES - p.len() - t.len());
        let m: Vec<_> = metrics.drain(..metrics.len().min(room)).collect();
        out.push(Batch {
            params: p,
            metrics: m,
            tags: t,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(n: usize, what: &str) -> Vec<(String, String)> {
        (0..n)
            .map(|i| (format!("{what}{i}"), i.to_string()))
            .collect()
    }

    fn metrics(n: usize) -> Vec<Metric> {
        (0..n)
            .map(|i| Metric {
                key: format!("m{i}"),
                value: i as f64,
                step: 0,
            })
            .collect()
    }

    #[test]
    fn batches_respect_every_limit_and_lose_nothing() {
        // 250 params, 1,500 metrics, 120 tags: the first request carries
        // 100 + 100 tags and 800 metrics (1,000 entities), the second 100 +
        // 20 and 700, the third 50 params and the last 0 metrics.
        let b = batches(pairs(250, "p"), metrics(1500), pairs(120, "t"));
        let shape: Vec<(usize, usize, usize)> = b
            .iter()
            .map(|b| (b.params.len(), b.metrics.len(), b.tags.len()))
            .collect();
        assert_eq!(shape, vec![(100, 800, 100), (100, 700, 20), (50, 0, 0)]);
        for batch in &b {
            assert!(batch.params.len() + batch.metrics.len() + batch.tags.len() <= MAX_ENTITIES);
        }
        let keys: Vec<&str> = b
            .iter()
            .flat_map(|b| b.metrics.iter().map(|m| m.key.as_str()))
            .collect();
        assert_eq!(keys.len(), 1500);
        assert_eq!((keys[0], keys[1499]), ("m0", "m1499"));
        assert!(batches(Vec::new(), Vec::new(), Vec::new()).is_empty());
        // Metrics alone: 1,000 per request.
        let b = batches(Vec::new(), metrics(2001), Vec::new());
        assert_eq!(
            b.iter().map(|b| b.metrics.len()).collect::<Vec<_>>(),
            vec![1000, 1000, 1]
        );
    }

    #[test]
    fn names_follow_mlflows_rules() {
        let id: MetricId = "ndcg@10".parse().unwrap();
        assert_eq!(metric_name(id), "ndcg_at_10");
        assert_eq!(
            key_safe("sampled(100 uniform negatives)"),
            "sampled_100_uniform_negatives"
        );
        let params: Mapping = serde_yaml::from_str(
            "dim: 32\nhidden: [128, 64]\npopularity: {method: penalty, gamma: 0.5}\nempty: {}\n",
        )
        .unwrap();
        let mut out = Vec::new();
        flatten_mapping("params", &params, &mut out);
        let text: Vec<String> = out.iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(
            text,
            vec![
                "params.dim=32",
                "params.hidden=[128, 64]",
                "params.popularity.method=penalty",
                "params.popularity.gamma=0.5",
                "params.empty={}",
            ]
        );
    }
}
