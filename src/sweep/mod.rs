//! Sweep expansion: the spec's grid or random search, crossed with seeds,
//! becomes a list of trials before anything runs (so `validate` can show it).
//! A TPE search expands to its random start-up configurations; the runner
//! then asks [`next_round`] for each further round, from the stored results
//! of the earlier ones.
//!
//! A knob applies to a model that has a param of that name (a dotted key,
//! `retriever.params.dim`, sets a param inside one; a pipeline passes a key
//! it lacks to the stages that have it); elsewhere it is skipped, not an
//! error. Popularity values whose method a model does not
//! implement are skipped for that model. Identical resolved configurations
//! collapse into one trial.

use std::collections::BTreeSet;

use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;
use serde::{Deserialize, Serialize};
use serde_yaml::{Mapping, Value};
use sha2::{Digest, Sha256};

use crate::data::{hex_prefix, FeatureNames};
use crate::format::describe_values;
use crate::models::{popularity_methods, Inert, ModelConfig, ModelKind};
use crate::seed::mix;
use crate::spec::{Distribution, ModelEntry, Spec, SpecIssue};

mod halving;
mod tpe;

/// One (model, params, seed) to train and evaluate.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Trial {
    /// Stable hash of model, name, params and seed: the results folder name.
    pub id: String,
    /// The same hash without the seed: groups a configuration's seeds.
    pub config_id: String,
    pub model_index: usize,
    pub model_name: String,
    pub model: ModelKind,
    /// Every param, defaults filled.
    pub params: Mapping,
    /// The swept keys and this trial's values, in sweep order.
    pub knobs: Mapping,
    pub seed_index: usize,
    pub seed: u64,
    /// The validation fold this replicate holds out (`selection.folds`;
    /// None with the single validation part).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fold: Option<usize>,
    /// A selected configuration retrained on train ∪ validation and scored
    /// on test only (`selection.refit`; docs/statistics.md).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub refit: bool,
}

/// How a replicate reads in tables and logs: its seed's position, then the
/// validation fold it held out (`selection.folds`) and `refit` where they
/// apply: `2`, `2 (fold 2)`, `2 refit`.
pub fn replicate_label(seed_index: usize, fold: Option<usize>, refit: bool) -> String {
    let fold = fold.map_or(String::new(), |f| format!(" (fold {f})"));
    format!("{seed_index}{fold}{}", if refit { " refit" } else { "" })
}

impl Trial {
    /// [`replicate_label`] of this trial.
    pub fn replicate(&self) -> String {
        replicate_label(self.seed_index, self.fold, self.refit)
    }

    /// Whether `stored` computed what this trial computes: the same model,
    /// name, params, seed and fold (the id hashes exactly these). Where the model
    /// sits in the spec (`model_index`), which of its keys were swept
    /// (`knobs`) and the seed's position only label the trial, so
    /// inserting, removing or reordering models reruns nothing else.
    pub fn same_work(&self, stored: &Trial) -> bool {
        self.id == stored.id
            && self.model == stored.model
            && self.model_name == stored.model_name
            && self.params == stored.params
            && self.seed == stored.seed
            && self.fold == stored.fold
            && self.refit == stored.refit
    }
}

/// Which knob values reached which model, for `validate` and the report.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct KnobUsage {
    pub model: String,
    pub knob: String,
    pub applied: Vec<Value>,
    /// Values not applied, with why (`not a param of ...`).
    pub skipped: Vec<Value>,
    pub note: String,
}

impl KnobUsage {
    /// Column names of the knob-usage table (terminal and report alike).
    pub const HEADER: [&'static str; 5] = ["model", "knob", "applied", "skipped", "note"];

    /// This usage as a row of that table.
    pub fn row(&self) -> [String; 5] {
        [
            self.model.clone(),
            self.knob.clone(),
            describe_values(&self.applied),
            describe_values(&self.skipped),
            self.note.clone(),
        ]
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Expansion {
    pub trials: Vec<Trial>,
    pub knobs: Vec<KnobUsage>,
    /// Configurations that are valid but degenerate ("model: message"),
    /// from [`crate::models::ModelConfig::warnings`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Configurations left out because they cannot score what the split
    /// holds out ("model (settings): why"): ids-only models on a
    /// cold-start split.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<String>,
}

/// Sweep keys that reach no model of the spec: a misspelt knob
/// (`temprature`) would otherwise train every trial at the default and be
/// listed only as "not a param". A key that some other model of the spec
/// has stays a note in the Knobs table.
fn unknown_knobs(spec: &Spec) -> Vec<SpecIssue> {
    let keys: Vec<(String, String)> = spec
        .sweep
        .grid
        .keys()
        .map(|k| (k, "sweep.grid".to_string()))
        .chain(spec.sweep.random.iter().flat_map(|r| {
            r.space
                .keys()
                .map(|k| (k, "sweep.random.space".to_string()))
        }))
        .chain(
            spec.sweep
                .tpe
                .iter()
                .flat_map(|t| t.space.keys().map(|k| (k, "sweep.tpe.space".to_string()))),
        )
        .chain(spec.models.iter().enumerate().flat_map(|(i, m)| {
            m.sweep
                .keys()
                .map(move |k| (k, format!("models[{i}].sweep")))
        }))
        .map(|(k, base)| {
            let key = k.as_str().unwrap_or("?").to_string();
            (format!("{base}.{key}"), key)
        })
        .collect();
    let mut known: Vec<String> = Vec::new();
    for m in &spec.models {
        for k in m.model.param_keys() {
            if !known.contains(&k) {
                known.push(k);
            }
        }
    }
    keys.into_iter()
        .filter(|(_, key)| {
            spec.models
                .iter()
                .all(|m| m.model.knob_paths(&m.params, key, &Value::Null).is_empty())
        })
        .map(|(path, key)| {
            let candidates: Vec<&str> = known.iter().map(String::as_str).collect();
            let hint = crate::describe::did_you_mean(&key, &candidates)
                .map_or(String::new(), |s| format!("; did you mean `{s}`?"));
            SpecIssue::new(
                path,
                format!(
                    "`{key}` is a param of no model in this spec{hint} (their params: {})",
                    known.join(", ")
                ),
            )
        })
        .collect()
}

/// An axis of the sweep for one model: where it was written and its values.
struct Axis {
    key: String,
    path: String,
    values: Vec<Value>,
}

/// A model's random or TPE space: each key's distribution and where the
/// spec wrote it (the sweep's space, with the model's own `sweep:` keys
/// replacing or adding to it; a list there is a `choice`).
struct Space {
    keys: Vec<(String, Distribution, String)>,
}

impl Space {
    /// Model `index`'s space, if the spec searches one.
    fn of(spec: &Spec, index: usize) -> Option<Self> {
        let (mapping, base) = match (&spec.sweep.random, &spec.sweep.tpe) {
            (Some(r), _) => (&r.space, "sweep.random.space"),
            (None, Some(t)) => (&t.space, "sweep.tpe.space"),
            (None, None) => return None,
        };
        let own = format!("models[{index}].sweep");
        let mut keys: Vec<(String, Distribution, String)> = Vec::new();
        let entries = mapping.iter().map(|(k, v)| (k, v, base.to_string())).chain(
            spec.models[index]
                .sweep
                .iter()
                .map(|(k, v)| (k, v, own.clone())),
        );
        for (key, value, base) in entries {
            let Some(key) = key.as_str() else { continue };
            let dist = match value {
                Value::Sequence(values) => Distribution {
                    choice: Some(values.clone()),
                    ..Distribution::default()
                },
                other => match serde_yaml::from_value(other.clone()) {
                    Ok(d) => d,
                    Err(_) => continue,
                },
            };
            let entry = (key.to_string(), dist, format!("{base}.{key}"));
            match keys.iter_mut().find(|(k, _, _)| k == key) {
                Some(existing) => *existing = entry,
                None => keys.push(entry),
            }
        }
        Some(Self { keys })
    }

    /// The keys that reach model `entry` (some value of a `choice` may
    /// still not, a popularity method the model lacks).
    fn applying<'a>(
        &'a self,
        entry: &'a ModelEntry,
    ) -> impl Iterator<Item = &'a (String, Distribution, String)> {
        self.keys.iter().filter(|(key, _, _)| {
            !entry
                .model
                .knob_paths(&entry.params, key, &Value::Null)
                .is_empty()
        })
    }
}

pub fn expand(spec: &Spec) -> Result<Expansion, Vec<SpecIssue>> {
    let mut out = Expanding::new(spec);
    out.issues.extend(unknown_knobs(spec));
    for index in 0..spec.models.len() {
        let space = Space::of(spec, index);
        let configs = match (&space, &spec.sweep.random, &spec.sweep.tpe) {
            (Some(space), Some(_), _) => {
                let samples = spec.budget(index).unwrap_or_default();
                out.random_space(
                    spec,
                    index,
                    space,
                    samples,
                    format!("sampled ({samples} samples)"),
                )
            }
            (Some(space), None, Some(tpe)) => out.random_space(
                spec,
                index,
                space,
                tpe.startup(),
                format!(
                    "TPE ({} configurations: {} random, then rounds of {})",
                    spec.budget(index).unwrap_or_default(),
                    tpe.startup(),
                    tpe.round
                ),
            ),
            _ => out.grid_space(spec, index),
        };
        out.trials_of(spec, index, at_first_rung(spec, index, configs));
    }
    if let Some(fidelity) = &spec.sweep.fidelity {
        let first = Value::from(fidelity.rungs()[0]);
        let takes = |m: &ModelEntry| !m.model.knob_paths(&m.params, EPOCHS, &first).is_empty();
        // Every rung's epochs must satisfy each model's rule, as a space's
        // ends must: a rung beyond it would fail only once reached.
        let [fewest, most] = fidelity
            .epochs
            .map(|e| i64::try_from(e).unwrap_or(i64::MAX));
        let rungs = Distribution {
            int_uniform: Some([fewest, most]),
            ..Distribution::default()
        };
        for (index, entry) in spec.models.iter().enumerate().filter(|(_, m)| takes(m)) {
            let name = spec.model_name(index);
            check_ends(entry, &name, EPOCHS, &rungs, FIDELITY_PATH, &mut out.issues);
        }
        if !spec.models.iter().any(takes) {
            out.issues.push(SpecIssue::new(
                "sweep.fidelity",
                "no model of this spec trains in epochs (mf, two_tower, ncf, dcn, or a pipeline with such a stage)",
            ));
        }
    }
    let Expanding {
        trials,
        knobs,
        issues,
        warnings,
        skipped,
        names: _,
        names_unknown: _,
    } = out;
    if issues.is_empty() {
        Ok(Expansion {
            trials,
            knobs,
            warnings,
            skipped,
        })
    } else {
        Err(issues)
    }
}

/// The next round of an adaptive sweep: for each model, TPE's next
/// proposals (`sweep.tpe`: up to `round` new configurations while it has
/// fewer than its budget) and, once its search is done, successive halving's
/// next rung (`sweep.fidelity`: the best 1/eta of its highest rung, trained
/// for more epochs). Proposals come from `loss` of each configuration of
/// `expansion` (lower is better; None for one whose trials failed), with a
/// random stream fixed by the spec's seed, the model and how many
/// configurations it has. Empty when every model is done (a small discrete
/// space used up counts as done), so a runner looping on it ends. Every
/// configuration of `expansion` must have its loss: rounds and rungs see
/// whole rounds only, so they do not depend on which trial finished first.
pub fn next_round(
    spec: &Spec,
    expansion: &Expansion,
    loss: &dyn Fn(&str) -> Option<f64>,
) -> Result<Vec<Trial>, Vec<SpecIssue>> {
    if spec.sweep.tpe.is_none() && spec.sweep.fidelity.is_none() {
        return Ok(Vec::new());
    }
    let mut out = Expanding::new(spec);
    let mut new: Vec<Trial> = Vec::new();
    for index in 0..spec.models.len() {
        // Each configuration once, in expansion order.
        let mut configs: Vec<&Trial> = Vec::new();
        for t in expansion
            .trials
            .iter()
            .filter(|t| t.model_index == index && !t.refit)
        {
            if !configs.iter().any(|c| c.config_id == t.config_id) {
                configs.push(t);
            }
        }
        let proposals = tpe_round(spec, index, &configs, loss);
        let mut fresh = out.fresh_trials(spec, index, proposals, expansion);
        if fresh.is_empty() {
            let promoted = promotions(spec, &configs, loss);
            fresh = out.fresh_trials(spec, index, promoted, expansion);
        }
        new.extend(fresh);
    }
    if !out.issues.is_empty() {
        return Err(out.issues);
    }
    Ok(new)
}

/// TPE's next proposals for model `index` (at the first rung's epochs under
/// successive halving), none once its search is done.
fn tpe_round(
    spec: &Spec,
    index: usize,
    configs: &[&Trial],
    loss: &dyn Fn(&str) -> Option<f64>,
) -> Vec<Config> {
    let entry = &spec.models[index];
    let (Some(tpe), Some(space)) = (&spec.sweep.tpe, Space::of(spec, index)) else {
        return Vec::new();
    };
    let dims: Vec<(&str, tpe::Dim, &str)> = space
        .applying(entry)
        .map(|(k, d, path)| (k.as_str(), tpe::Dim::of(d), path.as_str()))
        .collect();
    // Under successive halving TPE searches the first rung alone.
    let configs: Vec<&Trial> = configs
        .iter()
        .copied()
        .filter(|c| rung_of(spec, c).is_none_or(|r| r == 0))
        .collect();
    let budget = spec.budget(index).unwrap_or(tpe.trials);
    if dims.is_empty() || configs.len() >= budget {
        return Vec::new();
    }
    let observed: Vec<tpe::Observed> = configs
        .iter()
        .map(|c| tpe::Observed {
            point: dims
                .iter()
                .map(|(k, _, _)| c.knobs.get(*k).cloned())
                .collect(),
            loss: loss(&c.config_id),
        })
        .collect();
    let tried: Vec<Vec<Option<&Value>>> = configs
        .iter()
        .map(|c| dims.iter().map(|(k, _, _)| c.knobs.get(*k)).collect())
        .collect();
    let seed = derive_seed(
        derive_seed(spec.seed, 2_000_003 + index as u64),
        configs.len() as u64,
    );
    let kinds: Vec<tpe::Dim> = dims.iter().map(|(_, d, _)| d.clone()).collect();
    let points = tpe::propose(
        &kinds,
        &observed,
        tpe.round.min(budget - configs.len()),
        seed,
        &mut |p| {
            !tried
                .iter()
                .any(|t| t.iter().zip(p).all(|(a, b)| *a == Some(b)))
        },
    );
    let proposals = points
        .into_iter()
        .map(|point| {
            let values = dims.iter().zip(point).map(|((k, _, p), v)| (*k, v, *p));
            config_of(entry, values)
        })
        .collect();
    at_first_rung(spec, index, proposals)
}

/// Successive halving's next rung for a model's `configs`: the best 1/eta
/// of its highest rung, with the next rung's epochs; none at the last rung.
fn promotions(spec: &Spec, configs: &[&Trial], loss: &dyn Fn(&str) -> Option<f64>) -> Vec<Config> {
    let Some(fidelity) = &spec.sweep.fidelity else {
        return Vec::new();
    };
    let rungs = fidelity.rungs();
    let Some(top) = configs.iter().filter_map(|c| rung_of(spec, c)).max() else {
        return Vec::new();
    };
    if top + 1 >= rungs.len() {
        return Vec::new();
    }
    let rung: Vec<&Trial> = configs
        .iter()
        .copied()
        .filter(|c| rung_of(spec, c) == Some(top))
        .collect();
    let losses: Vec<Option<f64>> = rung.iter().map(|c| loss(&c.config_id)).collect();
    halving::promote(&losses, fidelity.eta)
        .into_iter()
        .map(|i| {
            let mut knobs = rung[i].knobs.clone();
            knobs.insert(Value::from(EPOCHS), Value::from(rungs[top + 1]));
            let paths = knobs
                .keys()
                .filter_map(Value::as_str)
                .map(|k| (k.to_string(), FIDELITY_PATH.to_string()))
                .collect();
            (knobs, paths)
        })
        .collect()
}

/// The knob successive halving sets.
const EPOCHS: &str = "epochs";
const FIDELITY_PATH: &str = "sweep.fidelity.epochs";

/// The rung (index into the fidelity's rungs) a trial was trained at:
/// None without successive halving or for a model that takes no epochs.
fn rung_of(spec: &Spec, trial: &Trial) -> Option<usize> {
    let rungs = spec.sweep.fidelity.as_ref()?.rungs();
    let epochs = trial.knobs.get(EPOCHS)?.as_u64()?;
    rungs.iter().position(|&e| e == epochs)
}

/// Configurations set to train for the first rung's epochs, for a model
/// that takes `epochs`, under successive halving; unchanged otherwise.
fn at_first_rung(spec: &Spec, index: usize, configs: Vec<Config>) -> Vec<Config> {
    let entry = &spec.models[index];
    let Some(fidelity) = &spec.sweep.fidelity else {
        return configs;
    };
    let first = Value::from(fidelity.rungs()[0]);
    if entry
        .model
        .knob_paths(&entry.params, EPOCHS, &first)
        .is_empty()
    {
        return configs;
    }
    configs
        .into_iter()
        .map(|(mut knobs, mut paths)| {
            knobs.insert(Value::from(EPOCHS), first.clone());
            paths.push((EPOCHS.to_string(), FIDELITY_PATH.to_string()));
            (knobs, paths)
        })
        .collect()
}

/// What the expansion has gathered so far, model by model.
#[derive(Default)]
struct Expanding {
    trials: Vec<Trial>,
    knobs: Vec<KnobUsage>,
    issues: Vec<SpecIssue>,
    warnings: Vec<String>,
    skipped: Vec<String>,
    /// The dataset's feature columns, what `features` params may name.
    names: FeatureNames,
    /// The feature tables could not be read (already an issue): params
    /// that name columns are not checked against nothing.
    names_unknown: bool,
}

impl Expanding {
    /// The trials of `configs` for model `index` whose configuration
    /// `expansion` does not hold yet (a proposal that resolves to one
    /// already run, through an inert knob or a rounded value, runs once).
    fn fresh_trials(
        &mut self,
        spec: &Spec,
        index: usize,
        configs: Vec<Config>,
        expansion: &Expansion,
    ) -> Vec<Trial> {
        let before = self.trials.len();
        self.trials_of(spec, index, configs);
        self.trials
            .split_off(before)
            .into_iter()
            .filter(|t| !expansion.trials.iter().any(|e| e.config_id == t.config_id))
            .collect()
    }

    /// An empty expansion that knows the dataset's feature columns.
    fn new(spec: &Spec) -> Self {
        let mut out = Self::default();
        if let Some(features) = &spec.dataset.features {
            match features.names() {
                Ok(names) => out.names = names,
                Err((path, message)) => {
                    out.issues.push(SpecIssue::new(path, message));
                    out.names_unknown = true;
                }
            }
        }
        out
    }

    /// `samples` random draws from `space` for model `index`, its ends
    /// checked against the model's rules; `note` describes the search in
    /// the Knobs table.
    fn random_space(
        &mut self,
        spec: &Spec,
        index: usize,
        space: &Space,
        samples: usize,
        note: String,
    ) -> Vec<Config> {
        let entry = &spec.models[index];
        let name = spec.model_name(index);
        let (knobs, issues) = (&mut self.knobs, &mut self.issues);
        for (key, dist, path) in &space.keys {
            let applies = space.applying(entry).any(|(k, _, _)| k == key);
            if applies {
                check_ends(entry, &name, key, dist, path, issues);
            }
            knobs.push(KnobUsage {
                model: name.clone(),
                knob: key.clone(),
                applied: Vec::new(),
                skipped: Vec::new(),
                note: if applies {
                    note.clone()
                } else {
                    not_a_param(entry.model)
                },
            });
        }
        random_configs(spec, index, samples, space)
    }

    /// The grid's combinations for model `index`, with the knobs it skips.
    fn grid_space(&mut self, spec: &Spec, index: usize) -> Vec<Config> {
        let entry = &spec.models[index];
        let name = spec.model_name(index);
        let knobs = &mut self.knobs;

        let axes = grid_axes(spec, index);
        let mut applied_axes = Vec::new();
        for axis in axes {
            let usage = usage_of(&name, entry, &axis);
            let applied = usage.applied.clone();
            knobs.push(usage);
            if !applied.is_empty() {
                applied_axes.push(Axis {
                    values: applied,
                    ..axis
                });
            }
        }
        grid_configs(&applied_axes)
    }

    /// The trials of model `index`'s configurations: each validated against
    /// the model (problems located at the values that caused them), the
    /// duplicates collapsed, repeated over seeds where the seed matters.
    fn trials_of(&mut self, spec: &Spec, index: usize, configs: Vec<Config>) {
        let entry = &spec.models[index];
        let name = spec.model_name(index);
        let (trials, issues, warnings) = (&mut self.trials, &mut self.issues, &mut self.warnings);
        let (skipped, names) = (&mut self.skipped, &self.names);
        let names_unknown = self.names_unknown;
        let runs = spec.sweep.seeds;
        // What an inert param is reset to, so its values collapse into one
        // trial: the value the spec gives it (or the default).
        let base = [entry.params.clone(), Mapping::new()]
            .iter()
            .find_map(|p| entry.model.configure(p).ok())
            .map(|c| c.params());
        let mut inert_knobs: Vec<InertKnob> = Vec::new();
        let mut seen = BTreeSet::new();
        for (overrides, paths) in configs {
            let configured = with_knobs(entry, &overrides, &paths, index, &name).and_then(|p| {
                configure_checked(
                    entry,
                    &p,
                    &paths,
                    index,
                    &name,
                    (!names_unknown).then_some(names),
                )
            });
            let config = match configured {
                Ok(c) => c,
                Err(found) => {
                    for issue in found {
                        if !issues.contains(&issue) {
                            issues.push(issue);
                        }
                    }
                    continue;
                }
            };
            let inert = if names_unknown {
                Vec::new()
            } else {
                config.inert(names)
            };
            let knobs = active_knobs(entry, &overrides, &inert, &mut inert_knobs);
            let mut resolved = config.params();
            let unused = reset_inert(entry, &overrides, &inert, base.as_ref(), &mut resolved);
            for w in config.warnings().into_iter().chain(unused) {
                let w = format!("{name}: {w}");
                if !warnings.contains(&w) {
                    warnings.push(w);
                }
            }
            let config_id = stable_hash(&(&name, entry.model, &resolved));
            if !seen.insert(config_id.clone()) {
                continue;
            }
            if let Some(why) = cannot_score_cold(spec, &name, &overrides, config.as_ref(), names) {
                skipped.push(why);
                continue;
            }
            // A simulation draws users' acceptances from the seed, so under
            // one every model repeats.
            let seeds = if config.is_stochastic() || spec.simulation.is_some() {
                runs
            } else {
                1
            };
            // Under k folds, a multiple of k replicates, so every fold
            // weighs the same in the configuration's means.
            let folds = spec.selection.fold_count();
            for seed_index in 0..seeds.div_ceil(folds) * folds {
                let seed = derive_seed(spec.seed, seed_index as u64);
                let fold = spec.selection.fold_of(seed_index);
                let id = match fold {
                    Some(f) => stable_hash(&(&name, entry.model, &resolved, seed, f)),
                    None => stable_hash(&(&name, entry.model, &resolved, seed)),
                };
                trials.push(Trial {
                    id,
                    config_id: config_id.clone(),
                    model_index: index,
                    model_name: name.clone(),
                    model: entry.model,
                    params: resolved.clone(),
                    knobs: knobs.clone(),
                    seed_index,
                    seed,
                    fold,
                    refit: false,
                });
            }
        }
        self.note_inert_knobs(&name, inert_knobs);
    }

    /// Each swept knob that some configuration trains without: noted in
    /// its usage row and warned about once.
    fn note_inert_knobs(&mut self, name: &str, inert_knobs: Vec<InertKnob>) {
        for t in inert_knobs.into_iter().filter(|t| !t.why.is_empty()) {
            let Some(usage) = self
                .knobs
                .iter_mut()
                .find(|u| u.model == name && u.knob == t.key)
            else {
                continue;
            };
            let warning = if t.active {
                let note = format!("no effect in some configurations: {}", t.why);
                usage.note = [usage.note.as_str(), note.as_str()]
                    .into_iter()
                    .filter(|n| !n.is_empty())
                    .collect::<Vec<_>>()
                    .join("; ");
                format!(
                    "{name}: swept `{}` has no effect in some configurations (their trials run once): {}",
                    t.key, t.why
                )
            } else {
                let applied = std::mem::take(&mut usage.applied);
                usage.skipped.extend(applied);
                usage.note = format!("no effect in this configuration: {}", t.why);
                format!(
                    "{name}: swept `{}` has no effect in this configuration (one trial runs, not one per value): {}",
                    t.key, t.why
                )
            };
            if !self.warnings.contains(&warning) {
                self.warnings.push(warning);
            }
        }
    }
}

/// A swept knob whose param some configuration trains without.
struct InertKnob {
    key: String,
    /// Why it had no effect (empty: it acted everywhere).
    why: String,
    /// Whether it acted in some configuration.
    active: bool,
}

/// The model's axes: the top-level grid, with the model's own `sweep` values
/// replacing (or adding) keys.
fn grid_axes(spec: &Spec, index: usize) -> Vec<Axis> {
    let mut axes: Vec<Axis> = Vec::new();
    let global = spec
        .sweep
        .grid
        .iter()
        .map(|(k, v)| (k, v, "sweep.grid".to_string()));
    let own = spec.models[index]
        .sweep
        .iter()
        .map(|(k, v)| (k, v, format!("models[{index}].sweep")));
    for (key, values, base) in global.chain(own) {
        let key = key.as_str().unwrap_or("?").to_string();
        let axis = Axis {
            path: format!("{base}.{key}"),
            values: values.as_sequence().cloned().unwrap_or_default(),
            key,
        };
        match axes.iter_mut().find(|a| a.key == axis.key) {
            Some(existing) => *existing = axis,
            None => axes.push(axis),
        }
    }
    axes
}

fn usage_of(name: &str, entry: &ModelEntry, axis: &Axis) -> KnobUsage {
    let kind = entry.model;
    let mut usage = KnobUsage {
        model: name.to_string(),
        knob: axis.key.clone(),
        applied: Vec::new(),
        skipped: Vec::new(),
        note: String::new(),
    };
    for value in &axis.values {
        if kind.knob_paths(&entry.params, &axis.key, value).is_empty() {
            usage.skipped.push(value.clone());
        } else {
            usage.applied.push(value.clone());
        }
    }
    if usage.applied.is_empty()
        && kind
            .knob_paths(&entry.params, &axis.key, &Value::Null)
            .is_empty()
    {
        usage.note = not_a_param(kind);
    } else if !usage.skipped.is_empty() && kind == ModelKind::Pipeline {
        usage.note = "no stage of the pipeline implements these popularity methods".to_string();
    } else if !usage.skipped.is_empty() {
        usage.note = format!(
            "{} implements popularity methods {} only",
            kind.as_str(),
            popularity_methods(kind).join(", ")
        );
    }
    usage
}

/// Why a knob does not reach a model.
fn not_a_param(kind: ModelKind) -> String {
    if kind == ModelKind::Pipeline {
        "not a param of pipeline or of its stages".to_string()
    } else {
        format!("not a param of {}", kind.as_str())
    }
}

/// A configuration's knobs (`overrides`) without those that do nothing in
/// it (`inert`): these are dropped, so their values collapse into one
/// trial, and `inert_knobs` notes, per knob, why it was inert or that some
/// configuration used it.
fn active_knobs(
    entry: &ModelEntry,
    overrides: &Mapping,
    inert: &[Inert],
    inert_knobs: &mut Vec<InertKnob>,
) -> Mapping {
    let mut knobs = overrides.clone();
    for (k, v) in overrides {
        let key = k.as_str().unwrap_or_default();
        let targets = entry.model.knob_paths(&entry.params, key, v);
        if targets.is_empty() {
            continue;
        }
        let why = targets
            .iter()
            .map(|t| inert.iter().find(|i| &i.param == t))
            .collect::<Option<Vec<_>>>();
        let at = match inert_knobs.iter().position(|t| t.key == key) {
            Some(at) => at,
            None => {
                inert_knobs.push(InertKnob {
                    key: key.to_string(),
                    why: String::new(),
                    active: false,
                });
                inert_knobs.len() - 1
            }
        };
        match why.and_then(|w| w.first().copied()) {
            Some(first) => {
                knobs.remove(k);
                inert_knobs[at].why.clone_from(&first.why);
            }
            None => inert_knobs[at].active = true,
        }
    }
    knobs
}

/// Resets each `inert` param of the `resolved` params to the value the
/// spec gives it (or its default, from `base`), so that configurations
/// differing only there are one; returns a warning for each such param the
/// spec sets, unswept, to a value other than its default.
fn reset_inert(
    entry: &ModelEntry,
    overrides: &Mapping,
    inert: &[Inert],
    base: Option<&Mapping>,
    resolved: &mut Mapping,
) -> Vec<String> {
    let mut warnings = Vec::new();
    for i in inert {
        let swept = overrides.keys().any(|k| {
            entry
                .model
                .knob_paths(&entry.params, k.as_str().unwrap_or_default(), &Value::Null)
                .contains(&i.param)
        });
        let set = get_path(&entry.params, &i.param);
        if !swept
            && set.is_some()
            && set != default_of(entry.model, &entry.params, &i.param).as_ref()
        {
            warnings.push(format!("`{}` is set but has no effect: {}", i.param, i.why));
        }
        if let Some(v) = base.and_then(|b| get_path(b, &i.param)) {
            // The path exists in the resolved params too.
            let _ = set_path(resolved, &i.param, v.clone());
        }
    }
    warnings
}

/// Whether the param problem at `key` (relative to the model's params) can
/// come from sweep knob `knob`: the knob's own param, a param under it, or
/// the param a pipeline routed it to.
/// The entry's params with a configuration's knob values set; an error at
/// the knob's path where a value cannot be set.
fn with_knobs(
    entry: &ModelEntry,
    overrides: &Mapping,
    paths: &[(String, String)],
    index: usize,
    name: &str,
) -> Result<Mapping, Vec<SpecIssue>> {
    let mut params = entry.params.clone();
    for (k, v) in overrides {
        let key = k.as_str().unwrap_or_default();
        for target in entry.model.knob_paths(&entry.params, key, v) {
            if let Err(message) = set_path(&mut params, &target, v.clone()) {
                let at = paths.iter().find(|(k, _)| k == key).map_or_else(
                    || format!("models[{index}].params"),
                    |(_, path)| path.clone(),
                );
                return Err(vec![SpecIssue::new(
                    at,
                    format!("for model `{name}`: {target}: {message}"),
                )]);
            }
        }
    }
    Ok(params)
}

/// The params checked into the model's config, and against the dataset's
/// feature columns where they are known; each problem at the knob that
/// caused it, else at the entry's params.
fn configure_checked(
    entry: &ModelEntry,
    params: &Mapping,
    paths: &[(String, String)],
    index: usize,
    name: &str,
    names: Option<&FeatureNames>,
) -> Result<Box<dyn ModelConfig>, Vec<SpecIssue>> {
    let configured = entry.model.configure(params).and_then(|c| {
        let problems = names.map_or_else(Vec::new, |n| c.input_issues(n));
        if problems.is_empty() {
            Ok(c)
        } else {
            Err(problems)
        }
    });
    configured.map_err(|problems| {
        problems
            .into_iter()
            .map(|p| {
                let path = paths
                    .iter()
                    .find(|(k, _)| knob_caused(k, &p.key))
                    .map_or_else(
                        || format!("models[{index}].params"),
                        |(_, path)| path.clone(),
                    );
                SpecIssue::new(
                    path,
                    format!("for model `{name}`: {}: {}", p.key, p.message),
                )
            })
            .collect()
    })
}

/// Why a configuration is not run on a cold split: it cannot score the
/// held-out side without train interactions (it reads no feature of it).
fn cannot_score_cold(
    spec: &Spec,
    name: &str,
    overrides: &Mapping,
    config: &dyn ModelConfig,
    names: &FeatureNames,
) -> Option<String> {
    let side = spec.split.cold_side()?;
    if config.scores_cold(side, names) {
        return None;
    }
    let settings = if overrides.is_empty() {
        String::new()
    } else {
        format!(" ({})", crate::format::describe_knobs(overrides))
    };
    Some(format!(
        "{name}{settings}: cannot score {} without train interactions (it reads no {} feature), which split.method {} holds out",
        side.as_str(),
        side.singular(),
        spec.split.method.as_str()
    ))
}

fn knob_caused(knob: &str, key: &str) -> bool {
    key == knob
        || key.starts_with(&format!("{knob}."))
        || key.starts_with(&format!("{knob}["))
        || key.split(['.', '[']).any(|part| part == knob)
}

/// The default of the param at dotted `path`: the model's own, or for a
/// pipeline's `STAGE.params.KEY` that of the stage's model.
fn default_of(kind: ModelKind, params: &Mapping, path: &str) -> Option<Value> {
    if kind == ModelKind::Pipeline {
        let (stage, rest) = path.split_once(".params.")?;
        let model = get_path(params, &format!("{stage}.model"))?;
        let model: ModelKind = serde_yaml::from_value(model.clone()).ok()?;
        return default_of(model, &Mapping::new(), rest);
    }
    get_path(&kind.configure(&Mapping::new()).ok()?.params(), path).cloned()
}

/// The param at dotted `path`, if every mapping on the way has it.
fn get_path<'a>(params: &'a Mapping, path: &str) -> Option<&'a Value> {
    match path.split_once('.') {
        Some((head, rest)) => get_path(params.get(head)?.as_mapping()?, rest),
        None => params.get(path),
    }
}

/// Sets the param at dotted `path` (`index`, `retriever.params.dim`),
/// creating mappings on the way; an error when a value on the way is not a
/// mapping.
fn set_path(params: &mut Mapping, path: &str, value: Value) -> Result<(), String> {
    let (head, rest) = match path.split_once('.') {
        Some((head, rest)) => (head, Some(rest)),
        None => (path, None),
    };
    let key = Value::String(head.to_string());
    let Some(rest) = rest else {
        params.insert(key, value);
        return Ok(());
    };
    let slot = params
        .entry(key)
        .or_insert_with(|| Value::Mapping(Mapping::new()));
    match slot {
        Value::Mapping(inner) => set_path(inner, rest, value),
        other => Err(format!(
            "`{head}` is {}, not a mapping with `{}`",
            serde_yaml::to_string(other).unwrap_or_default().trim(),
            rest.split('.').next().unwrap_or(rest)
        )),
    }
}

/// A random space's ends must satisfy the model's rule for the param: a
/// range that reaches outside it is an error at the space's position, not a
/// draw that fails (or worse, one that passes) by chance.
fn check_ends(
    entry: &ModelEntry,
    name: &str,
    key: &str,
    dist: &Distribution,
    path: &str,
    issues: &mut Vec<SpecIssue>,
) {
    for value in ends(dist) {
        let mut params = entry.params.clone();
        for target in entry.model.knob_paths(&entry.params, key, &value) {
            // A path through a non-mapping is reported when the draw is used.
            let _ = set_path(&mut params, &target, value.clone());
        }
        let Err(problems) = entry.model.configure(&params) else {
            continue;
        };
        for p in problems {
            if !knob_caused(key, &p.key) {
                continue;
            }
            let shown = serde_yaml::to_string(&value).unwrap_or_default();
            let issue = SpecIssue::new(
                path.to_string(),
                format!(
                    "for model `{name}`: the space reaches {}, where {}: {}",
                    shown.trim(),
                    p.key,
                    p.message
                ),
            );
            if !issues.contains(&issue) {
                issues.push(issue);
            }
        }
    }
}

type Config = (Mapping, Vec<(String, String)>);

/// The cartesian product of the axes, each combination with the spec path
/// of every value it took (to place errors).
fn grid_configs(axes: &[Axis]) -> Vec<Config> {
    let mut configs: Vec<Config> = vec![(Mapping::new(), Vec::new())];
    for axis in axes {
        let mut next = Vec::with_capacity(configs.len() * axis.values.len());
        for (params, paths) in &configs {
            for (j, value) in axis.values.iter().enumerate() {
                let mut p = params.clone();
                p.insert(Value::String(axis.key.clone()), value.clone());
                let mut paths = paths.clone();
                paths.push((axis.key.clone(), format!("{}[{j}]", axis.path)));
                next.push((p, paths));
            }
        }
        configs = next;
    }
    configs
}

/// `samples` draws from the space. Every key is drawn even where it does not
/// apply, so the stream (and a model's samples) does not depend on which
/// other knobs a model has; a TPE search's start-up draws are random
/// search's first ones.
fn random_configs(spec: &Spec, index: usize, samples: usize, space: &Space) -> Vec<Config> {
    let mut rng = Pcg64Mcg::seed_from_u64(derive_seed(spec.seed, 1_000_003 + index as u64));
    let entry = &spec.models[index];
    (0..samples)
        .map(|_| {
            let values: Vec<(&str, Value, &str)> = space
                .keys
                .iter()
                .map(|(key, dist, path)| (key.as_str(), draw(dist, &mut rng), path.as_str()))
                .collect();
            config_of(entry, values.into_iter())
        })
        .collect()
}

/// The configuration of drawn or proposed `(key, value, spec path)`s: the
/// values that reach the model (a popularity method it lacks does not).
fn config_of<'a>(
    entry: &ModelEntry,
    values: impl Iterator<Item = (&'a str, Value, &'a str)>,
) -> Config {
    let mut params = Mapping::new();
    let mut paths = Vec::new();
    for (key, value, path) in values {
        if !entry
            .model
            .knob_paths(&entry.params, key, &value)
            .is_empty()
        {
            params.insert(Value::String(key.to_string()), value);
            paths.push((key.to_string(), path.to_string()));
        }
    }
    (params, paths)
}

fn draw(d: &Distribution, rng: &mut Pcg64Mcg) -> Value {
    let u: f64 = rng.random();
    if let Some([lo, hi]) = d.uniform {
        Value::from(lo + u * (hi - lo))
    } else if let Some([lo, hi]) = d.log_uniform {
        Value::from((lo.ln() + u * (hi.ln() - lo.ln())).exp())
    } else if let Some([lo, hi]) = d.int_uniform {
        // In i128 so that no bounds overflow; within ±2^53 (checked) the
        // draw is exact and equals the i64 formula.
        let width = i128::from(hi) - i128::from(lo);
        let offset = ((u * (width + 1) as f64) as i128).min(width);
        Value::from((i128::from(lo) + offset) as i64)
    } else {
        let choices = d.choice.as_deref().unwrap_or_default();
        choices[((u * choices.len() as f64) as usize).min(choices.len() - 1)].clone()
    }
}

/// The values a distribution can reach at its ends (every value of a
/// `choice`): each must satisfy the param's rule, so no draw can break it.
fn ends(d: &Distribution) -> Vec<Value> {
    if let Some([lo, hi]) = d.uniform.or(d.log_uniform) {
        vec![Value::from(lo), Value::from(hi)]
    } else if let Some([lo, hi]) = d.int_uniform {
        vec![Value::from(lo), Value::from(hi)]
    } else {
        d.choice.clone().unwrap_or_default()
    }
}

/// The training seed of repetition `index`: the same for every model, so
/// models are compared under common random numbers.
pub fn derive_seed(base: u64, index: u64) -> u64 {
    mix(base ^ mix(index))
}

/// Short hex SHA-256 of a value's canonical JSON (object keys sorted).
pub fn stable_hash<T: Serialize>(value: &T) -> String {
    let json = serde_json::to_value(value).expect("trial data serializes to JSON");
    let text = serde_json::to_string(&json).expect("JSON values print");
    hex_prefix(&Sha256::digest(text.as_bytes()), 12)
}
