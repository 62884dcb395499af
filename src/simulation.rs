//! Feedback-loop simulation: a model retrains on a log that its own
//! recommendations keep extending. Each round it trains on the current log,
//! recommends K unseen items to every user (ε of the slots explore), users
//! take recommended items by their true relevance (the synthetic
//! generator's [`Preferences`]: each independently, or up to a choice budget
//! by a position-discounted choice model), and the taken items join the log.
//! Per round it measures what users gained (truth utility, items taken, regret
//! against the ideal list) and how the exposure narrowed (coverage, Gini, ARP,
//! long-tail share, homogenisation). An oracle recommender (top-K by true
//! relevance) runs the same loop as the reference. docs/simulation.md defines
//! each number.

use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::data::{inclusion, log_lambda, CsrMatrix, Features, TrueRelevance};
use crate::eval::{best_k, gini, long_tail};
use crate::models::{FitInput, ModelConfig, ModelKind, Penalized, Scorer};
use crate::seed::mix;

/// The most rounds a simulation may ask for: each retrains the model, so
/// 1,000 is already days of training; the bound keeps a typo (an extra
/// zero run wild) from allocating or running forever.
const MAX_ROUNDS: usize = 1000;

/// The spec's `simulation` section.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SimulationSpec {
    #[serde(default = "SimulationSpec::default_rounds")]
    pub rounds: usize,
    /// Items recommended to every user each round.
    #[serde(default = "SimulationSpec::default_k")]
    pub k: usize,
    /// Exploration rates swept: each slot is explored with probability ε.
    #[serde(default = "SimulationSpec::default_epsilon")]
    pub epsilon: Vec<f64>,
    /// Where explored slots draw from.
    #[serde(default)]
    pub explore: Explore,
    /// The configuration the final round is tested against; default the
    /// first model at the first ε.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<SimulationBaseline>,
    /// A model fitted on the whole log that stands in for users' true
    /// preferences; required on a file source (synthetic data has its
    /// generator's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truth: Option<TruthSpec>,
    /// What becomes of items shown and not taken.
    #[serde(default, skip_serializing_if = "Impressions::is_forget")]
    pub impressions: Impressions,
    /// How users take from a list: absent, each item independently with
    /// its true relevance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub choice: Option<ChoiceSpec>,
    /// Also run the loop with the oracle recommender (top-K by true
    /// relevance), the report's reference row.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub oracle: bool,
}

/// `simulation.impressions`: whether an item shown and not taken may be
/// shown to the user again.
#[derive(
    Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Impressions {
    /// Only taken items count as seen; a rejected item may come back next
    /// round (the loop of earlier versions).
    #[default]
    Forget,
    /// A shown item is never shown to that user again, taken or not, as
    /// deployed systems that log impressions do.
    Remember,
}

impl Impressions {
    fn is_forget(&self) -> bool {
        *self == Impressions::Forget
    }
}

/// `simulation.choice`: each round a user takes at most `max` of the shown
/// items, one after another, by a multinomial logit over the items not yet
/// taken and an outside option ("take nothing more") of weight 1. Item j at
/// position p weighs δ_p · ρ_uj / (1 − ρ_uj): the odds of its true relevance,
/// so an item shown alone at the top is taken with probability ρ_uj, as
/// under independent acceptance, and items compete for the budget.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChoiceSpec {
    /// Items a user takes at most per round.
    pub max: usize,
    /// δ_p, the attention position p gets.
    #[serde(default)]
    pub position: PositionDiscount,
}

#[derive(
    Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum PositionDiscount {
    /// δ_p = 1 / log2(p + 1), the discount of DCG.
    #[default]
    Dcg,
    /// δ_p = 1: positions do not matter.
    None,
}

impl PositionDiscount {
    fn at(self, position: usize) -> f64 {
        match self {
            PositionDiscount::Dcg => 1.0 / ((position + 1) as f64).log2(),
            PositionDiscount::None => 1.0,
        }
    }
}

/// `simulation.truth`: a model fitted on the whole log; its scores divided
/// by `temperature` are the logits of the users' choice process
/// ([`crate::data::log_lambda`]).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TruthSpec {
    pub model: ModelKind,
    #[serde(default)]
    #[schemars(with = "serde_json::Map<String, serde_json::Value>")]
    pub params: serde_yaml::Mapping,
    /// Score units per logit unit: small values make the truth sharp (users
    /// take the model's top items), large ones nearly uniform.
    pub temperature: f64,
}

/// A fitted model as the truth: ρ_ui from its scores as logits s_ui/τ, with
/// each user's λ_u calibrated to their count in the log it was fitted on.
pub struct FittedTruth {
    scorer: Box<dyn Scorer>,
    temperature: f64,
    log_lambda: Vec<f64>,
    n_items: usize,
}

impl FittedTruth {
    pub fn fit(
        spec: &TruthSpec,
        log: &CsrMatrix,
        features: &Features,
        seed: u64,
    ) -> Result<Self, String> {
        let config = spec.model.configure(&spec.params).map_err(|issues| {
            issues
                .iter()
                .map(|i| format!("{}: {}", i.key, i.message))
                .collect::<Vec<_>>()
                .join("; ")
        })?;
        let popularity = log.column_counts();
        let fitted = config
            .fit(&FitInput {
                features,
                ..FitInput::interactions(log, &popularity, seed)
            })
            .map_err(|e| e.to_string())?;
        let n_items = log.n_cols();
        let users: Vec<u32> = (0..log.n_rows() as u32).collect();
        let log_lambda = users
            .par_iter()
            .map(|&u| {
                let mut row = vec![0.0f32; n_items];
                fitted.scorer.score_block(&[u], &mut row);
                let logits: Vec<f64> = row
                    .iter()
                    .map(|&s| f64::from(s) / spec.temperature)
                    .collect();
                // At least one pick, at most half the catalogue, as the
                // generator's users.
                let n = (log.row(u as usize).len() as f64).clamp(1.0, (n_items / 2).max(1) as f64);
                log_lambda(&logits, n)
            })
            .collect();
        Ok(Self {
            scorer: fitted.scorer,
            temperature: spec.temperature,
            log_lambda,
            n_items,
        })
    }
}

impl TrueRelevance for FittedTruth {
    fn n_items(&self) -> usize {
        self.n_items
    }

    fn relevance(&self, user: u32, out: &mut [f64]) {
        let mut row = vec![0.0f32; self.n_items];
        self.scorer.score_block(&[user], &mut row);
        let l = self.log_lambda[user as usize];
        for (rho, &s) in out.iter_mut().zip(&row) {
            *rho = inclusion(f64::from(s) / self.temperature, l);
        }
    }
}

impl SimulationSpec {
    fn default_rounds() -> usize {
        10
    }
    fn default_k() -> usize {
        10
    }
    fn default_epsilon() -> Vec<f64> {
        vec![0.0]
    }

    /// Problems, each with its key under `simulation`.
    pub fn issues(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if !(1..=MAX_ROUNDS).contains(&self.rounds) {
            out.push((
                "rounds".into(),
                format!(
                    "{} is out of range; must be 1 to {MAX_ROUNDS} (every round retrains the model)",
                    self.rounds
                ),
            ));
        }
        if self.k == 0 {
            out.push(("k".into(), "must be at least 1".into()));
        }
        if let Some(c) = &self.choice {
            if !(1..=self.k.max(1)).contains(&c.max) {
                out.push((
                    "choice.max".into(),
                    format!(
                        "{} is out of range; must be 1 to k ({}): a user cannot take more than is shown",
                        c.max, self.k
                    ),
                ));
            }
        }
        if self.epsilon.is_empty() {
            out.push((
                "epsilon".into(),
                "empty list: give at least one rate, e.g. [0.0, 0.1]".into(),
            ));
        }
        for (i, e) in self.epsilon.iter().enumerate() {
            if !(0.0..=1.0).contains(e) {
                out.push((format!("epsilon[{i}]"), format!("{e} must lie in [0, 1]")));
            } else if self.epsilon[..i].contains(e) {
                out.push((format!("epsilon[{i}]"), format!("{e} is listed twice")));
            }
        }
        if let Some(t) = &self.truth {
            if !(t.temperature.is_finite() && t.temperature > 0.0) {
                out.push((
                    "truth.temperature".into(),
                    format!("{} must be > 0", t.temperature),
                ));
            }
            if let Err(issues) = t.model.configure(&t.params) {
                for i in issues {
                    out.push((format!("truth.params.{}", i.key), i.message));
                }
            }
        }
        if let Some(b) = &self.baseline {
            if !self.epsilon.contains(&b.epsilon) {
                out.push((
                    "baseline.epsilon".into(),
                    format!("{} is not among simulation.epsilon", b.epsilon),
                ));
            }
        }
        out
    }
}

#[derive(
    Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Explore {
    /// Any item the user has not interacted with.
    #[default]
    Uniform,
    /// Long-tail items (by the initial log) the user has not interacted
    /// with; any unseen item once none is left.
    LongTail,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SimulationBaseline {
    /// A model name of the spec (its first configuration in sweep order).
    pub model: String,
    #[serde(default)]
    pub epsilon: f64,
}

/// What one round showed and what users did with it, over all users.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Round {
    /// Mean over users of Σ_{i ∈ list} ρ_ui / K.
    pub truth_utility: f64,
    /// Mean accepted items per user.
    pub accepted: f64,
    /// Mean over users of the ideal list's truth utility minus the list's:
    /// the ideal is the K most relevant items the user could be shown this
    /// round (unseen, and not impressed where impressions are remembered).
    #[serde(default)]
    pub regret: f64,
    /// Share of the catalogue recommended to anyone this round.
    pub coverage: f64,
    /// Gini index of this round's recommendation counts over the catalogue.
    pub gini: f64,
    /// Mean over users of the mean initial-log popularity of their list.
    pub arp: f64,
    /// Share of recommended slots holding long-tail items (initial log).
    pub long_tail: f64,
    /// Mean Jaccard similarity of users' accepted items so far, over pairs.
    pub jaccard: f64,
}

/// A round's number as the report and its figures show it, from the
/// rounds so far (`of(rounds, r)` is round r's value, 0-based).
pub struct Measure {
    pub name: &'static str,
    pub meaning: &'static str,
    pub of: fn(&[Round], usize) -> f64,
}

impl Round {
    pub const MEASURES: [Measure; 8] = [
        Measure {
            name: "truth_utility",
            meaning: "truth utility (expected share of the K taken)",
            of: |r, i| r[i].truth_utility,
        },
        Measure {
            name: "taken",
            meaning: "items taken per user so far",
            of: |r, i| r[..=i].iter().map(|x| x.accepted).sum(),
        },
        Measure {
            name: "regret",
            meaning: "regret so far (ideal minus truth utility, summed over rounds)",
            of: |r, i| r[..=i].iter().map(|x| x.regret).sum(),
        },
        Measure {
            name: "coverage",
            meaning: "coverage (share of the catalogue shown)",
            of: |r, i| r[i].coverage,
        },
        Measure {
            name: "gini",
            meaning: "Gini of exposure",
            of: |r, i| r[i].gini,
        },
        Measure {
            name: "arp",
            meaning: "ARP (mean initial popularity shown)",
            of: |r, i| r[i].arp,
        },
        Measure {
            name: "long_tail",
            meaning: "long-tail share of the slots",
            of: |r, i| r[i].long_tail,
        },
        Measure {
            name: "jaccard",
            meaning: "homogenisation (mean Jaccard of accepted items)",
            of: |r, i| r[i].jaccard,
        },
    ];
}

/// One trial's simulation at one exploration rate, or the oracle's loop.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SimulationRun {
    pub epsilon: f64,
    /// The oracle recommender's loop (the reference), not the trial's model.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub oracle: bool,
    pub rounds: Vec<Round>,
    /// Each user's truth utility in the last round, by dense user id.
    pub final_utility: Vec<f64>,
    /// Each user's items taken over all rounds: the paired unit of the
    /// report's tests, with `regret`.
    #[serde(default)]
    pub taken: Vec<f64>,
    /// Each user's regret summed over all rounds.
    #[serde(default)]
    pub regret: Vec<f64>,
}

/// Who fills the lists of a loop.
#[derive(Clone, Copy)]
pub enum Recommender<'a> {
    /// A model configuration of the sweep, retrained every round.
    Model(&'a dyn ModelConfig),
    /// The K most relevant items the user may be shown, by the truth itself:
    /// the ideal that Chaney et al. (2018) normalise by. It explores nothing.
    Oracle,
}

/// What every simulation of an experiment starts from.
pub struct World<'a> {
    /// The initial log: every interaction of the dataset.
    pub log: &'a CsrMatrix,
    /// What users accept by: the generator's preferences or a fitted truth.
    pub truth: &'a dyn TrueRelevance,
    pub features: &'a Features,
    /// The long-tail rule's head share (`evaluation.head_share`).
    pub head_share: f64,
    pub block_users: usize,
}

/// At most this many user pairs enter the Jaccard mean; more users get a
/// fixed seeded sample of pairs (the same every round).
const JACCARD_PAIRS: usize = 50_000;

/// Runs the loop for one recommender at one exploration rate (the oracle
/// explores nothing: pass 0).
pub fn simulate(
    recommender: Recommender,
    world: &World,
    spec: &SimulationSpec,
    epsilon: f64,
    seed: u64,
) -> Result<SimulationRun, String> {
    let n_users = world.log.n_rows();
    let n_items = world.log.n_cols();
    let initial_popularity = world.log.column_counts();
    let tail = long_tail(&initial_popularity, world.head_share);
    let pairs = jaccard_pairs(n_users, mix(seed ^ 0x4A43));
    let mut state = LoopState {
        log: world.log.clone(),
        taken: vec![Vec::new(); n_users],
        impressed: vec![Vec::new(); n_users],
        regret: vec![0.0; n_users],
    };
    let mut rounds = Vec::with_capacity(spec.rounds);
    let mut final_utility = Vec::new();
    for round in 0..spec.rounds {
        let round_seed = mix(seed ^ mix(round as u64 + 1));
        let popularity = state.log.column_counts();
        let scorer = fit_round(
            recommender,
            &state.log,
            &popularity,
            world.features,
            round_seed,
        )
        .map_err(|e| format!("round {}: {e}", round + 1))?;
        let users: Vec<u32> = (0..n_users as u32).collect();
        let shown: Vec<Shown> = users
            .par_chunks(world.block_users.max(1))
            .flat_map_iter(|block| {
                let mut scores = match &scorer {
                    Some(scorer) => {
                        let mut scores = vec![0.0f32; block.len() * n_items];
                        scorer.score_block_excluding(block, &[&state.log], &mut scores);
                        scores
                    }
                    None => Vec::new(),
                };
                let mut rho = vec![0.0; n_items];
                block
                    .iter()
                    .enumerate()
                    .map(|(b, &u)| {
                        let blocked =
                            merged(state.log.row(u as usize), &state.impressed[u as usize]);
                        world.truth.relevance(u, &mut rho);
                        // Twice K, so explored slots that the model also
                        // ranks do not leave the list short.
                        let ranked = match scorer {
                            Some(_) => best_k(
                                &mut scores[b * n_items..(b + 1) * n_items],
                                &[&blocked],
                                2 * spec.k,
                            ),
                            None => by_truth(&rho, &blocked, 2 * spec.k),
                        };
                        let mut rng =
                            Pcg64Mcg::seed_from_u64(mix(round_seed ^ mix(u64::from(u) + 7)));
                        let list = fill_slots(&ranked, &blocked, &tail, spec, epsilon, &mut rng);
                        let took = take(&list, &rho, spec.choice.as_ref(), &mut rng);
                        let of = |items: &[u32]| {
                            items.iter().map(|&i| rho[i as usize]).sum::<f64>() / spec.k as f64
                        };
                        let utility = of(&list);
                        let ideal = of(&by_truth(&rho, &blocked, spec.k));
                        Shown {
                            list,
                            took,
                            utility,
                            regret: ideal - utility,
                        }
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        rounds.push(state.apply(&shown, spec, &tail, &initial_popularity, &pairs));
        final_utility = shown.iter().map(|s| s.utility).collect();
    }
    Ok(SimulationRun {
        epsilon,
        oracle: matches!(recommender, Recommender::Oracle),
        rounds,
        final_utility,
        taken: state.taken.iter().map(|t| t.len() as f64).collect(),
        regret: state.regret,
    })
}

/// A round's recommender: the model fitted on the log so far (its
/// popularity penalty from the log's counts), or None for the oracle.
fn fit_round(
    recommender: Recommender,
    log: &CsrMatrix,
    popularity: &[u32],
    features: &Features,
    seed: u64,
) -> Result<Option<Box<dyn Scorer>>, crate::models::ModelError> {
    let Recommender::Model(config) = recommender else {
        return Ok(None);
    };
    let fitted = config.fit(&FitInput {
        features,
        ..FitInput::interactions(log, popularity, seed)
    })?;
    Ok(Some(Penalized::wrap(
        fitted.scorer,
        config.popularity(),
        popularity,
    )))
}

/// What the loop carries from round to round.
struct LoopState {
    /// The initial log and every item taken since.
    log: CsrMatrix,
    /// Items each user took in the loop (sorted).
    taken: Vec<Vec<u32>>,
    /// Items shown and not taken, per user (sorted); kept only when
    /// impressions are remembered.
    impressed: Vec<Vec<u32>>,
    /// Each user's regret against the oracle, summed over rounds.
    regret: Vec<f64>,
}

impl LoopState {
    /// Adds what each user was `shown` and took to the state, and returns
    /// the round's exposure, bias and utility figures.
    fn apply(
        &mut self,
        shown: &[Shown],
        spec: &SimulationSpec,
        tail: &[bool],
        initial_popularity: &[u32],
        pairs: &[(u32, u32)],
    ) -> Round {
        let (n_users, n_items) = (self.log.n_rows(), self.log.n_cols());
        let mut exposure = vec![0u32; n_items];
        let (mut slots, mut tail_slots, mut arp, mut accepted) = (0usize, 0usize, 0.0, 0usize);
        let mut new_pairs: Vec<(u32, u32)> = self.log.pairs().collect();
        for (u, s) in shown.iter().enumerate() {
            for &i in &s.list {
                exposure[i as usize] += 1;
                tail_slots += usize::from(tail[i as usize]);
            }
            slots += s.list.len();
            if !s.list.is_empty() {
                arp += s
                    .list
                    .iter()
                    .map(|&i| f64::from(initial_popularity[i as usize]))
                    .sum::<f64>()
                    / s.list.len() as f64;
            }
            accepted += s.took.len();
            new_pairs.extend(s.took.iter().map(|&i| (u as u32, i)));
            self.taken[u].extend(&s.took);
            self.taken[u].sort_unstable();
            if spec.impressions == Impressions::Remember {
                self.impressed[u].extend(s.list.iter().filter(|i| !s.took.contains(i)));
                self.impressed[u].sort_unstable();
            }
            self.regret[u] += s.regret;
        }
        self.log = CsrMatrix::from_pairs(n_users, n_items, &new_pairs);
        let users = n_users.max(1) as f64;
        Round {
            truth_utility: shown.iter().map(|s| s.utility).sum::<f64>() / users,
            accepted: accepted as f64 / users,
            regret: shown.iter().map(|s| s.regret).sum::<f64>() / users,
            coverage: crate::eval::coverage(&exposure),
            gini: gini(&exposure),
            arp: arp / users,
            long_tail: if slots == 0 {
                0.0
            } else {
                tail_slots as f64 / slots as f64
            },
            jaccard: mean_jaccard(&self.taken, pairs),
        }
    }
}

/// One user's round: the list, what the user took of it, its truth utility
/// and the ideal list's utility minus it.
struct Shown {
    list: Vec<u32>,
    took: Vec<u32>,
    utility: f64,
    regret: f64,
}

/// Two sorted lists as one (the items a user may not be shown: the log's
/// and the remembered impressions).
fn merged(a: &[u32], b: &[u32]) -> Vec<u32> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    out.extend_from_slice(a);
    out.extend_from_slice(b);
    out.sort_unstable();
    out.dedup();
    out
}

/// The `k` items of highest true relevance not in `blocked` (sorted),
/// best first; ties by item id.
fn by_truth(rho: &[f64], blocked: &[u32], k: usize) -> Vec<u32> {
    let mut items: Vec<u32> = (0..rho.len() as u32)
        .filter(|i| blocked.binary_search(i).is_err())
        .collect();
    let order = |a: &u32, b: &u32| rho[*b as usize].total_cmp(&rho[*a as usize]).then(a.cmp(b));
    if items.len() > k && k > 0 {
        items.select_nth_unstable_by(k - 1, order);
    }
    items.truncate(k);
    items.sort_unstable_by(order);
    items
}

/// What a user takes of `list` (in list order is its position): each item
/// independently with its relevance, or by the choice model.
fn take(list: &[u32], rho: &[f64], choice: Option<&ChoiceSpec>, rng: &mut Pcg64Mcg) -> Vec<u32> {
    let Some(choice) = choice else {
        return list
            .iter()
            .copied()
            .filter(|&i| rng.random::<f64>() < rho[i as usize])
            .collect();
    };
    // ρ = 1 has infinite odds: capped so the outside option keeps a weight.
    let mut weights: Vec<f64> = list
        .iter()
        .enumerate()
        .map(|(p, &i)| {
            let r = rho[i as usize].clamp(0.0, 1.0 - 1e-9);
            choice.position.at(p + 1) * r / (1.0 - r)
        })
        .collect();
    let mut took = Vec::new();
    while took.len() < choice.max {
        let total = 1.0 + weights.iter().sum::<f64>();
        let mut x = rng.random::<f64>() * total - 1.0;
        if x < 0.0 {
            break;
        }
        let Some(j) = weights.iter().position(|&w| {
            x -= w;
            x < 0.0
        }) else {
            break;
        };
        took.push(list[j]);
        weights[j] = 0.0;
    }
    took
}

/// One user's K slots: each explored with probability ε (an item drawn
/// uniformly from the explore pool, minus what is seen or already listed),
/// else the model's next-best item not yet listed. `ranked` is the model's
/// order of unseen items; `seen` is sorted (the log's items, and the
/// remembered impressions).
fn fill_slots(
    ranked: &[u32],
    seen: &[u32],
    tail: &[bool],
    spec: &SimulationSpec,
    epsilon: f64,
    rng: &mut Pcg64Mcg,
) -> Vec<u32> {
    let mut list: Vec<u32> = Vec::with_capacity(spec.k.min(tail.len()));
    let mut next = ranked.iter();
    let unseen = |i: &u32| seen.binary_search(i).is_err();
    let mut pool: Option<Vec<u32>> = None;
    for _ in 0..spec.k {
        let explore = epsilon > 0.0 && rng.random::<f64>() < epsilon;
        let pick = if explore {
            let pool = pool.get_or_insert_with(|| {
                let n = tail.len() as u32;
                let all: Vec<u32> = (0..n).filter(unseen).collect();
                let from_tail: Vec<u32> =
                    all.iter().copied().filter(|&i| tail[i as usize]).collect();
                match spec.explore {
                    Explore::LongTail if !from_tail.is_empty() => from_tail,
                    _ => all,
                }
            });
            pool.retain(|i| !list.contains(i));
            pool.choose(rng).copied()
        } else {
            next.by_ref().find(|i| !list.contains(i)).copied()
        };
        match pick {
            Some(i) => list.push(i),
            None => break,
        }
    }
    list
}

/// The user pairs of the Jaccard mean: all of them when few, else a fixed
/// seeded sample of [`JACCARD_PAIRS`] distinct-user pairs.
fn jaccard_pairs(n_users: usize, seed: u64) -> Vec<(u32, u32)> {
    let all = n_users * n_users.saturating_sub(1) / 2;
    if all <= JACCARD_PAIRS {
        return (0..n_users as u32)
            .flat_map(|a| (a + 1..n_users as u32).map(move |b| (a, b)))
            .collect();
    }
    let mut rng = Pcg64Mcg::seed_from_u64(seed);
    (0..JACCARD_PAIRS)
        .map(|_| {
            let a = rng.random_range(0..n_users as u32);
            let mut b = rng.random_range(0..n_users as u32 - 1);
            if b >= a {
                b += 1;
            }
            (a.min(b), a.max(b))
        })
        .collect()
}

/// Mean |A ∩ B| / |A ∪ B| over the pairs where either user accepted
/// something (sets sorted); 0 when none did.
fn mean_jaccard(sets: &[Vec<u32>], pairs: &[(u32, u32)]) -> f64 {
    let (mut sum, mut n) = (0.0, 0usize);
    for &(a, b) in pairs {
        let (x, y) = (&sets[a as usize], &sets[b as usize]);
        if x.is_empty() && y.is_empty() {
            continue;
        }
        let (mut i, mut j, mut both) = (0, 0, 0usize);
        while i < x.len() && j < y.len() {
            match x[i].cmp(&y[j]) {
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
                std::cmp::Ordering::Equal => {
                    both += 1;
                    i += 1;
                    j += 1;
                }
            }
        }
        sum += both as f64 / (x.len() + y.len() - both) as f64;
        n += 1;
    }
    if n == 0 {
        0.0
    } else {
        sum / n as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use statrs::distribution::{ChiSquared, ContinuousCDF};

    fn spec(k: usize, explore: Explore) -> SimulationSpec {
        SimulationSpec {
            rounds: 1,
            k,
            epsilon: vec![1.0],
            explore,
            baseline: None,
            truth: None,
            impressions: Impressions::Forget,
            choice: None,
            oracle: false,
        }
    }

    /// Relevances from a table, one row per user.
    struct Table(Vec<Vec<f64>>);

    impl TrueRelevance for Table {
        fn n_items(&self) -> usize {
            self.0[0].len()
        }
        fn relevance(&self, user: u32, out: &mut [f64]) {
            out.copy_from_slice(&self.0[user as usize]);
        }
    }

    /// Two users, four items, ρ of 0 or 1 so every take is certain; most_pop
    /// recommends one item a round for two rounds (ties by item id):
    ///
    /// round 1, popularity (2, 1, 0, 0): user 0 (logged 0) gets item 1,
    /// ρ 1, taken, the ideal's ρ is 1: regret 0; user 1 (logged 0, 1) gets
    /// item 2, ρ 0, not taken, the ideal is item 3: regret 1.
    /// round 2, popularity (2, 2, 0, 0): user 0 gets item 2, ρ 0: regret 1;
    /// user 1 gets item 2 again where impressions are forgotten (regret 1
    /// more, nothing taken), item 3 where they are remembered (taken,
    /// regret 0).
    #[test]
    fn items_taken_and_regret_of_a_hand_made_loop() {
        let log = CsrMatrix::from_pairs(2, 4, &[(0, 0), (1, 0), (1, 1)]);
        let truth = Table(vec![vec![0.0, 1.0, 0.0, 1.0], vec![0.0, 0.0, 0.0, 1.0]]);
        let features = Features {
            users: None,
            items: None,
        };
        let world = World {
            log: &log,
            truth: &truth,
            features: &features,
            head_share: 0.2,
            block_users: 1,
        };
        let most_pop = ModelKind::MostPop
            .configure(&serde_yaml::Mapping::new())
            .unwrap();
        let mut s = spec(1, Explore::Uniform);
        s.rounds = 2;
        let run =
            |s: &SimulationSpec, recommender| simulate(recommender, &world, s, 0.0, 5).unwrap();
        let forget = run(&s, Recommender::Model(most_pop.as_ref()));
        assert_eq!(forget.taken, vec![1.0, 0.0]);
        assert_eq!(forget.regret, vec![1.0, 2.0]);
        assert_eq!(forget.rounds[0].regret, 0.5);
        assert_eq!(forget.rounds[1].accepted, 0.0);
        s.impressions = Impressions::Remember;
        let remember = run(&s, Recommender::Model(most_pop.as_ref()));
        assert_eq!(remember.taken, vec![1.0, 1.0]);
        assert_eq!(remember.regret, vec![1.0, 1.0]);
        let measure = |name| Round::MEASURES.iter().find(|m| m.name == name).unwrap();
        assert_eq!((measure("taken").of)(&remember.rounds, 1), 1.0);
        assert_eq!((measure("regret").of)(&remember.rounds, 1), 1.0);
        // The oracle shows user 0 item 1 then item 3, user 1 item 3: every
        // relevant item, no regret.
        let oracle = run(&s, Recommender::Oracle);
        assert!(oracle.oracle);
        assert_eq!(oracle.taken, vec![2.0, 1.0]);
        assert_eq!(oracle.regret, vec![0.0, 0.0]);
        assert!(oracle.rounds[0].truth_utility >= remember.rounds[0].truth_utility);
    }

    /// Two items of ρ = 0.5 at positions 1 and 2 (DCG: δ = 1, 1/log2 3),
    /// odds 1: weights 1 and 0.6309 beside the outside option's 1. With a
    /// budget of one, the first is taken with probability 1/2.6309 = 0.3801,
    /// the second 0.2398, neither 0.3801 (chi-square over 20,000 users, 2
    /// degrees of freedom, p > 0.001); a budget of two never takes more.
    /// One item alone at the top is taken with its relevance.
    #[test]
    fn the_choice_model_takes_by_position_discounted_odds_within_a_budget() {
        let rho = [0.5, 0.5, 0.3];
        let one = ChoiceSpec {
            max: 1,
            position: PositionDiscount::Dcg,
        };
        let mut rng = Pcg64Mcg::seed_from_u64(3);
        let mut counts = [0f64; 3];
        let n = 20_000;
        for _ in 0..n {
            match take(&[0, 1], &rho, Some(&one), &mut rng).as_slice() {
                [] => counts[2] += 1.0,
                [i] => counts[*i as usize] += 1.0,
                more => panic!("a budget of one took {more:?}"),
            }
        }
        let w = 1.0 / 3f64.log2();
        let expected = [1.0, w, 1.0].map(|x| x / (2.0 + w) * f64::from(n));
        let chi2: f64 = counts
            .iter()
            .zip(&expected)
            .map(|(o, e)| (o - e).powi(2) / e)
            .sum();
        let p = 1.0 - ChiSquared::new(2.0).unwrap().cdf(chi2);
        assert!(p > 0.001, "{counts:?} against {expected:?}: p {p}");
        let two = ChoiceSpec { max: 2, ..one };
        let mut alone = 0;
        for _ in 0..n {
            assert!(take(&[0, 1, 2], &rho, Some(&two), &mut rng).len() <= 2);
            alone += take(&[2], &rho, Some(&two), &mut rng).len();
        }
        let rate = alone as f64 / f64::from(n);
        // Binomial sd at 0.3 over 20,000: 0.0032.
        assert!((rate - 0.3).abs() < 0.015, "{rate}");
    }

    /// ε = 1 fills every slot uniformly from the user's unseen items: over
    /// 3,000 users with different seen sets, each item's count matches its
    /// expectation Σ_u [i unseen by u] · K / |unseen_u| (chi-square, 19
    /// degrees of freedom, p > 0.001).
    #[test]
    fn epsilon_one_recommends_uniformly_among_unseen_items() {
        let n_items = 20u32;
        let tail = vec![false; n_items as usize];
        let s = spec(4, Explore::Uniform);
        let model: Vec<u32> = (0..n_items).collect();
        let mut observed = [0f64; 20];
        let mut expected = [0f64; 20];
        for u in 0..3000u64 {
            let mut rng = Pcg64Mcg::seed_from_u64(mix(u));
            let seen: Vec<u32> = (0..n_items)
                .filter(|i| (u + u64::from(*i)) % 5 == 0)
                .collect();
            let ranked: Vec<u32> = model
                .iter()
                .copied()
                .filter(|i| !seen.contains(i))
                .collect();
            let list = fill_slots(&ranked, &seen, &tail, &s, 1.0, &mut rng);
            assert_eq!(list.len(), 4);
            let mut distinct = list.clone();
            distinct.sort_unstable();
            distinct.dedup();
            assert_eq!(distinct.len(), 4, "a repeat in {list:?}");
            for &i in &list {
                assert!(!seen.contains(&i));
                observed[i as usize] += 1.0;
            }
            let unseen = f64::from(n_items) - seen.len() as f64;
            for i in (0..n_items).filter(|i| !seen.contains(i)) {
                expected[i as usize] += 4.0 / unseen;
            }
        }
        let chi2: f64 = observed
            .iter()
            .zip(&expected)
            .map(|(o, e)| (o - e).powi(2) / e)
            .sum();
        let p = 1.0 - ChiSquared::new(19.0).unwrap().cdf(chi2);
        assert!(p > 0.001, "chi-square {chi2}, p {p}");
        // ε = 0 is the model's list.
        let mut rng = Pcg64Mcg::seed_from_u64(1);
        assert_eq!(
            fill_slots(&model, &[], &tail, &s, 0.0, &mut rng),
            vec![0, 1, 2, 3]
        );
    }

    #[test]
    fn long_tail_exploration_draws_tail_items_until_none_is_left() {
        let tail: Vec<bool> = (0..10).map(|i| i >= 7).collect();
        let s = spec(5, Explore::LongTail);
        let mut rng = Pcg64Mcg::seed_from_u64(3);
        let list = fill_slots(&[0, 1, 2], &[], &tail, &s, 1.0, &mut rng);
        let mut first: Vec<u32> = list[..3].to_vec();
        first.sort_unstable();
        assert_eq!(first, vec![7, 8, 9]);
        assert!(list[3..].iter().all(|&i| i < 7));
    }

    #[test]
    fn jaccard_of_hand_made_sets() {
        let sets = vec![vec![1, 2, 3], vec![2, 3, 4], vec![], vec![]];
        // (0,1): 2/4; (0,2), (0,3), (1,2), (1,3): 0; (2,3) skipped.
        let pairs = jaccard_pairs(4, 0);
        assert_eq!(pairs.len(), 6);
        assert!((mean_jaccard(&sets, &pairs) - 0.5 / 5.0).abs() < 1e-12);
    }
}
