//! How each metric is computed: the arithmetic over one user's ranked list
//! and held-out items (docs/metrics.md states every formula; they match
//! trec_eval and ranx for binary relevance), the train facts about items it
//! reads, and the columns completed once every user is scored (pooled
//! SNIPS, the stage metrics, coverage).

use super::metrics::{ListMetric, MetricId, MetricKind, MetricSet};

/// Train-set facts about items that the beyond-accuracy metrics need.
#[derive(Debug, Clone)]
pub struct ItemStats {
    /// n_i: train interactions of each item.
    pub popularity: Vec<u32>,
    /// Long-tail membership (see [`long_tail`]); the rest is head.
    pub tail: Vec<bool>,
    /// |U|: users in the train matrix, the novelty denominator.
    pub users: usize,
    /// Each item's inverse propensity 1/p_i for the debiased metrics (see
    /// [`super::PropensitySpec::weights`]); None leaves them undefined.
    pub weights: Option<Vec<f64>>,
}

impl ItemStats {
    pub fn new(popularity: Vec<u32>, head_share: f64, users: usize) -> Self {
        let tail = long_tail(&popularity, head_share);
        Self {
            popularity,
            tail,
            users,
            weights: None,
        }
    }

    /// The same facts with inverse propensities from the train popularity,
    /// at the spec's typed exponent or else the `fitted` one.
    pub fn with_propensity(
        mut self,
        propensity: Option<&super::PropensitySpec>,
        fitted: Option<f64>,
    ) -> Self {
        self.weights = propensity.and_then(|p| p.weights(&self.popularity, fitted));
        self
    }

    /// Mean train popularity of a user's history, what pop_lift compares a
    /// list against; NaN for an empty history (pop_lift is then undefined).
    pub fn mean_popularity(&self, history: &[u32]) -> f64 {
        history
            .iter()
            .map(|&i| f64::from(self.popularity[i as usize]))
            .sum::<f64>()
            / history.len() as f64
    }
}

/// The default share of train interactions held by head items (Elliot's
/// `pop_ratio` default), used by the spec and by `recsweep evaluate`.
pub const DEFAULT_HEAD_SHARE: f64 = 0.8;

/// The head-share rule (aplt's long tail): in (0, 1].
pub fn check_head_share(share: f64) -> Result<(), String> {
    if share > 0.0 && share <= 1.0 {
        Ok(())
    } else {
        Err(format!("{share} is out of range; must be in (0, 1]"))
    }
}

/// Long-tail items: sort by train popularity (ties by id); the head is the
/// shortest prefix whose interactions reach `head_share` of all; the rest is
/// tail (Elliot's `pop_ratio` rule, default [`DEFAULT_HEAD_SHARE`]).
pub fn long_tail(popularity: &[u32], head_share: f64) -> Vec<bool> {
    let mut order: Vec<usize> = (0..popularity.len()).collect();
    order.sort_by(|&a, &b| popularity[b].cmp(&popularity[a]).then(a.cmp(&b)));
    let total: u64 = popularity.iter().map(|&n| u64::from(n)).sum();
    let target = head_share * total as f64;
    let mut tail = vec![true; popularity.len()];
    let mut cumulative = 0u64;
    for i in order {
        if total == 0 || cumulative as f64 >= target {
            break;
        }
        tail[i] = false;
        cumulative += u64::from(popularity[i]);
    }
    tail
}

/// Appends one user's value of every per-user column to `out`.
///
/// `list` is the user's ranked top list (best first, at least as long as the
/// largest cutoff unless the catalogue is smaller); `truth` is the sorted set of
/// held-out items, non-empty; `history` is the mean train popularity of the
/// user's own train items (NaN when unknown), for pop_lift. Stratified
/// metrics and pop_lift are NaN where undefined (no held-out item in the
/// stratum; no history); so are the debiased metrics without `items.weights`
/// and the truth metrics without `relevance`.
pub fn user_metrics(
    list: &[u32],
    truth: &[u32],
    history: f64,
    relevance: Option<&UserRelevance>,
    set: &MetricSet,
    items: &ItemStats,
    out: &mut Vec<f64>,
) {
    let relevant: Vec<bool> = list
        .iter()
        .map(|i| truth.binary_search(i).is_ok())
        .collect();
    let stratified = set.metrics.iter().any(|m| {
        matches!(
            m,
            MetricKind::RecallHead
                | MetricKind::RecallTail
                | MetricKind::NdcgHead
                | MetricKind::NdcgTail
        )
    });
    let user = UserList {
        strata: stratified.then(|| Strata::of(list, &relevant, truth, items)),
        list,
        truth,
        relevant,
        history,
        relevance,
        items,
    };
    // auc orders every candidate by score, which a list does not hold:
    // [`super::evaluate`] fills it in.
    for _ in set.metrics.iter().filter(|m| !m.has_cutoff()) {
        out.push(f64::NAN);
    }
    for &k in &set.cutoffs {
        for &metric in &set.metrics {
            if metric.is_per_user() && metric.has_cutoff() {
                out.push(user.value(metric, k));
            }
        }
    }
}

/// Held-out items per popularity stratum, and the list's hits restricted to
/// each (the head and tail metrics).
struct Strata {
    head_truth: usize,
    tail_truth: usize,
    head_rel: Vec<bool>,
    tail_rel: Vec<bool>,
}

impl Strata {
    fn of(list: &[u32], relevant: &[bool], truth: &[u32], items: &ItemStats) -> Self {
        let in_tail = |i: &u32| items.tail[*i as usize];
        let tail_truth = truth.iter().filter(|i| in_tail(i)).count();
        let rel_in = |want_tail: bool| -> Vec<bool> {
            list.iter()
                .zip(relevant)
                .map(|(i, &r)| r && in_tail(i) == want_tail)
                .collect()
        };
        Self {
            head_truth: truth.len() - tail_truth,
            tail_truth,
            head_rel: rel_in(false),
            tail_rel: rel_in(true),
        }
    }
}

/// One user's ranked list read against their held-out items.
struct UserList<'a> {
    list: &'a [u32],
    truth: &'a [u32],
    /// Whether each list item is held out.
    relevant: Vec<bool>,
    /// Only when the set has head or tail metrics.
    strata: Option<Strata>,
    history: f64,
    relevance: Option<&'a UserRelevance<'a>>,
    items: &'a ItemStats,
}

impl UserList<'_> {
    /// The value of a per-user `metric` with a cutoff on the list's first `k`.
    fn value(&self, metric: MetricKind, k: usize) -> f64 {
        let (truth, items) = (self.truth, self.items);
        let top = &self.list[..k.min(self.list.len())];
        let rel = &self.relevant[..top.len()];
        match metric {
            MetricKind::RecallHead
            | MetricKind::NdcgHead
            | MetricKind::RecallTail
            | MetricKind::NdcgTail => {
                let Some(strata) = &self.strata else {
                    return f64::NAN;
                };
                let tail = matches!(metric, MetricKind::RecallTail | MetricKind::NdcgTail);
                let (n, hits) = if tail {
                    (strata.tail_truth, &strata.tail_rel)
                } else {
                    (strata.head_truth, &strata.head_rel)
                };
                let base = if matches!(metric, MetricKind::RecallHead | MetricKind::RecallTail) {
                    ListMetric::Recall
                } else {
                    ListMetric::Ndcg
                };
                if n == 0 {
                    f64::NAN
                } else {
                    user_metric(base, k, top, &hits[..top.len()], n, items)
                }
            }
            // Defined by the stages of a pipeline (stage_metrics), not by
            // one list.
            MetricKind::CandidateRecall
            | MetricKind::CeilingNdcg
            | MetricKind::NdcgLift
            | MetricKind::AnnOverlap => f64::NAN,
            MetricKind::IpsRecall
            | MetricKind::IpsNdcg
            | MetricKind::SnipsRecall
            | MetricKind::SnipsNdcg => {
                let snips = matches!(metric, MetricKind::SnipsRecall | MetricKind::SnipsNdcg);
                let gain = match metric {
                    MetricKind::IpsNdcg | MetricKind::SnipsNdcg => Gain::Ndcg,
                    _ => Gain::Recall,
                };
                let normaliser = if snips {
                    Normaliser::Snips
                } else {
                    Normaliser::Ips
                };
                match &items.weights {
                    Some(w) => debiased(normaliser, gain, k, top, rel, truth, w),
                    None => f64::NAN,
                }
            }
            // The numerator alone: [`pool`] divides the column once
            // every user's held-out items are known.
            MetricKind::PooledSnipsRecall => items.weights.as_ref().map_or(f64::NAN, |w| {
                top.iter()
                    .zip(rel)
                    .filter(|(_, &r)| r)
                    .map(|(&i, _)| w[i as usize])
                    .fold(0.0, |a, b| a + b)
            }),
            MetricKind::TruthUtility => self.relevance.map_or(f64::NAN, |r| r.utility(k, top)),
            MetricKind::TruthNdcg => self.relevance.map_or(f64::NAN, |r| r.ndcg(k, top)),
            MetricKind::PopLift => {
                let arp = user_metric(ListMetric::Arp, k, top, rel, truth.len(), items);
                let history = self.history;
                if history.is_finite() && history > 0.0 && !top.is_empty() {
                    (arp - history) / history
                } else {
                    f64::NAN
                }
            }
            // Catalogue metrics are not per user: every other kind is a
            // list metric.
            other => other.list_metric().map_or(f64::NAN, |m| {
                user_metric(m, k, top, rel, truth.len(), items)
            }),
        }
    }
}

fn user_metric(
    metric: ListMetric,
    k: usize,
    top: &[u32],
    rel: &[bool],
    n_relevant: usize,
    items: &ItemStats,
) -> f64 {
    let hits = rel.iter().filter(|&&r| r).count() as f64;
    let mean_over_list = |f: &dyn Fn(usize) -> f64| {
        if top.is_empty() {
            0.0
        } else {
            top.iter().map(|&i| f(i as usize)).sum::<f64>() / top.len() as f64
        }
    };
    match metric {
        ListMetric::Precision => hits / k as f64,
        ListMetric::Recall => hits / n_relevant as f64,
        ListMetric::HitRate => f64::from(u8::from(hits > 0.0)),
        ListMetric::Mrr => rel
            .iter()
            .position(|&r| r)
            .map_or(0.0, |p| 1.0 / (p + 1) as f64),
        ListMetric::Ndcg => ndcg(rel, k, n_relevant),
        ListMetric::Map => {
            let mut found = 0.0;
            let mut sum = 0.0;
            for (p, &r) in rel.iter().enumerate() {
                if r {
                    found += 1.0;
                    sum += found / (p + 1) as f64;
                }
            }
            sum / n_relevant as f64
        }
        ListMetric::Arp => mean_over_list(&|i| f64::from(items.popularity[i])),
        ListMetric::Aplt => mean_over_list(&|i| f64::from(u8::from(items.tail[i]))),
        ListMetric::Novelty => {
            let users = items.users.max(1) as f64;
            // Items unseen in train count as seen once: −log2(0) is infinite.
            mean_over_list(&|i| -(f64::from(items.popularity[i].max(1)) / users).log2())
        }
    }
}

/// The area under the ROC curve of one user's candidates: the share of
/// (positive, negative) pairs whose positive scores higher, a tie counting
/// one half (the Mann–Whitney statistic over P·N). `scores` holds every
/// item's score (NaN ranks lowest), `positives` the sorted held-out items,
/// `negatives` the other candidates. NaN without a positive or a negative.
pub fn auc(scores: &[f32], positives: &[u32], negatives: impl Iterator<Item = u32>) -> f64 {
    let key = |i: u32| {
        let s = scores[i as usize];
        if s.is_nan() {
            f32::NEG_INFINITY
        } else {
            s
        }
    };
    let mut ranked: Vec<f32> = positives.iter().map(|&i| key(i)).collect();
    ranked.sort_by(f32::total_cmp);
    let (mut right, mut pairs) = (0.0f64, 0u64);
    for n in negatives {
        let s = key(n);
        let below = ranked.partition_point(|&p| p < s);
        let not_above = ranked.partition_point(|&p| p <= s);
        right += (ranked.len() - not_above) as f64 + 0.5 * (not_above - below) as f64;
        pairs += ranked.len() as u64;
    }
    if pairs == 0 {
        f64::NAN
    } else {
        right / pairs as f64
    }
}

/// What a debiased metric sums over a list's hits.
#[derive(Clone, Copy)]
enum Gain {
    Recall,
    Ndcg,
}

/// What a debiased metric divides its weighted gain by.
#[derive(Clone, Copy)]
enum Normaliser {
    Ips,
    Snips,
}

/// A debiased metric of one user's top list `top` (hits where `rel`), with
/// `weights` the items' 1/p_i: IPS divides the weighted hits by what the
/// naive metric divides by; SNIPS by the same weights' total over the
/// held-out items `truth` (recall) or their best weighted dcg (ndcg), so a
/// list holding every held-out item, heaviest first, scores 1.
fn debiased(
    normaliser: Normaliser,
    gain: Gain,
    k: usize,
    top: &[u32],
    rel: &[bool],
    truth: &[u32],
    weights: &[f64],
) -> f64 {
    let w = |i: u32| weights[i as usize];
    let hits = || top.iter().zip(rel).enumerate().filter(|(_, (_, &r))| r);
    let weighted: f64 = hits().map(|(_, (&i, _))| w(i)).fold(0.0, |a, b| a + b);
    let dcg: f64 = hits()
        .map(|(p, (&i, _))| w(i) * discount(p + 1))
        .fold(0.0, |a, b| a + b);
    match (normaliser, gain) {
        (Normaliser::Ips, Gain::Recall) => weighted / truth.len() as f64,
        (Normaliser::Ips, Gain::Ndcg) => dcg / ideal_dcg(k.min(truth.len())),
        (Normaliser::Snips, Gain::Recall) => weighted / truth.iter().map(|&i| w(i)).sum::<f64>(),
        (Normaliser::Snips, Gain::Ndcg) => {
            let mut heaviest: Vec<f64> = truth.iter().map(|&i| w(i)).collect();
            heaviest.sort_by(|a, b| b.total_cmp(a));
            dcg / weighted_ideal(&heaviest, k)
        }
    }
}

/// Finishes the `pooled_snips_recall` columns of `values` (one per entry of
/// `columns`; rows in the order of `truths`, each user's held-out items):
/// each user's weighted hits, as [`user_metrics`] leaves them, divided by
/// the mean over the users of their weighted held-out items. The mean over
/// users is then Σ_u hits_u / Σ_u held_u, SNIPS normalised over every test
/// pair instead of per user (Steck 2011; Yang et al. 2018), while per-user
/// values stay for intervals and paired tests. The divisor depends on the
/// held-out items alone, not on the model, so a paired difference between
/// two models is the difference of their pooled values exactly.
pub fn pool<'a>(
    columns: &[MetricId],
    values: &mut [Vec<f64>],
    truths: impl Iterator<Item = &'a [u32]>,
    items: &ItemStats,
) {
    let pooled = |c: &MetricId| c.kind == MetricKind::PooledSnipsRecall;
    let Some(weights) = &items.weights else {
        return;
    };
    if !columns.iter().any(pooled) {
        return;
    }
    let (mut total, mut users) = (0.0, 0usize);
    for truth in truths {
        total += truth.iter().map(|&i| weights[i as usize]).sum::<f64>();
        users += 1;
    }
    let mean = total / users.max(1) as f64;
    for (column, values) in columns.iter().zip(values) {
        if pooled(column) {
            values.iter_mut().for_each(|v| *v /= mean);
        }
    }
}

/// One user's relevance of every item under the synthetic generator's
/// preferences, and the largest such relevances among the items the user
/// could be recommended (descending, at least as many as the largest
/// cutoff where the catalogue allows): what the truth metrics need.
pub struct UserRelevance<'a> {
    pub row: &'a [f64],
    pub ideal: &'a [f64],
}

impl UserRelevance<'_> {
    /// truth_utility: the mean true relevance of the list's K slots.
    fn utility(&self, k: usize, top: &[u32]) -> f64 {
        top.iter()
            .map(|&i| self.row[i as usize])
            .fold(0.0, |a, b| a + b)
            / k as f64
    }

    /// truth_ndcg: the list's dcg of true relevances over the best possible.
    fn ndcg(&self, k: usize, top: &[u32]) -> f64 {
        let dcg: f64 = top
            .iter()
            .enumerate()
            .map(|(p, &i)| self.row[i as usize] * discount(p + 1))
            .fold(0.0, |a, b| a + b);
        dcg / weighted_ideal(self.ideal, k)
    }
}

/// dcg of the first k of `gains` (descending), in ranks 1, 2, …
fn weighted_ideal(gains: &[f64], k: usize) -> f64 {
    gains
        .iter()
        .take(k)
        .enumerate()
        .map(|(p, g)| g * discount(p + 1))
        .fold(0.0, |a, b| a + b)
}

/// The ideal dcg of binary gains: n relevant items in the first n ranks.
fn ideal_dcg(n: usize) -> f64 {
    (1..=n).map(discount).fold(0.0, |a, b| a + b)
}

/// One user's stage metrics, appended to `out`: candidate_recall@N (the
/// share of the `truth` items among `candidates`, the retriever's N best in
/// its order), then per cutoff K ceiling_ndcg@K (ndcg@K of the best order of
/// the candidates: their hits first) and ndcg_lift@K (ndcg@K of the final
/// list `ranked` minus that of the retriever's own top K). `truth` is sorted
/// and non-empty.
pub fn stage_metrics(
    candidates: &[u32],
    ranked: &[u32],
    truth: &[u32],
    cutoffs: &[usize],
    out: &mut Vec<f64>,
) {
    let relevant = |list: &[u32], k: usize| -> Vec<bool> {
        list.iter()
            .take(k)
            .map(|i| truth.binary_search(i).is_ok())
            .collect()
    };
    let hits = relevant(candidates, candidates.len())
        .into_iter()
        .filter(|&r| r)
        .count();
    out.push(hits as f64 / truth.len() as f64);
    for &k in cutoffs {
        out.push(ndcg(&vec![true; hits.min(k)], k, truth.len()));
        out.push(
            ndcg(&relevant(ranked, k), k, truth.len())
                - ndcg(&relevant(candidates, k), k, truth.len()),
        );
    }
}

/// ndcg@k of a list whose entries are relevant where `rel` is true, with
/// `n_relevant` held-out items.
fn ndcg(rel: &[bool], k: usize, n_relevant: usize) -> f64 {
    // fold from +0.0, not sum(): an empty float sum is −0.0, which would
    // print as "-0.0000" for users without a hit.
    let dcg: f64 = rel
        .iter()
        .enumerate()
        .filter(|(_, &r)| r)
        .map(|(p, _)| discount(p + 1))
        .fold(0.0, |a, b| a + b);
    dcg / ideal_dcg(k.min(n_relevant))
}

fn discount(rank: usize) -> f64 {
    1.0 / ((rank + 1) as f64).log2()
}

/// catalog coverage: share of the catalogue that appears in at least one list.
pub fn coverage(exposure: &[u32]) -> f64 {
    if exposure.is_empty() {
        return 0.0;
    }
    exposure.iter().filter(|&&c| c > 0).count() as f64 / exposure.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::seq::SliceRandom;
    use rand::{Rng, SeedableRng};

    /// Every order of `items` (Heap's algorithm), for brute force.
    fn permutations(items: &[u32]) -> Vec<Vec<u32>> {
        if items.len() <= 1 {
            return vec![items.to_vec()];
        }
        let mut out = Vec::new();
        for (i, &first) in items.iter().enumerate() {
            let mut rest = items.to_vec();
            rest.remove(i);
            for mut tail in permutations(&rest) {
                tail.insert(0, first);
                out.push(tail);
            }
        }
        out
    }

    /// Candidate recall is a count over the candidates; the ceiling is the
    /// best ndcg@K over every order of them (brute force), computed through
    /// user_metrics; the lift is the difference of two user_metrics ndcgs.
    #[test]
    fn stage_metrics_match_brute_force() {
        let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(11);
        let stats = ItemStats::new(vec![1; 12], 0.8, 10);
        for _ in 0..200 {
            let mut catalogue: Vec<u32> = (0..12).collect();
            catalogue.shuffle(&mut rng);
            let n = rng.random_range(1..=6);
            let candidates = catalogue[..n].to_vec();
            let mut truth: Vec<u32> = (0..12).filter(|_| rng.random_bool(0.3)).collect();
            if truth.is_empty() {
                truth.push(catalogue[0]);
            }
            let mut ranked = candidates.clone();
            ranked.shuffle(&mut rng);
            let cutoffs = [1, 3, 5];
            let mut out = Vec::new();
            stage_metrics(&candidates, &ranked, &truth, &cutoffs, &mut out);
            let hits = candidates.iter().filter(|i| truth.contains(i)).count();
            assert_eq!(out[0], hits as f64 / truth.len() as f64);
            let ndcg_of = |list: &[u32], k: usize| {
                let mut v = Vec::new();
                user_metrics(
                    list,
                    &truth,
                    f64::NAN,
                    None,
                    &set(&[MetricKind::Ndcg], &[k]),
                    &stats,
                    &mut v,
                );
                v[0]
            };
            for (c, &k) in cutoffs.iter().enumerate() {
                let best = permutations(&candidates)
                    .iter()
                    .map(|p| ndcg_of(p, k))
                    .fold(0.0, f64::max);
                assert!((out[1 + 2 * c] - best).abs() < 1e-12, "ceiling@{k}");
                let lift = ndcg_of(&ranked, k) - ndcg_of(&candidates, k);
                assert!((out[2 + 2 * c] - lift).abs() < 1e-12, "lift@{k}");
            }
        }
    }

    fn set(metrics: &[MetricKind], cutoffs: &[usize]) -> MetricSet {
        MetricSet {
            cutoffs: cutoffs.to_vec(),
            metrics: metrics.to_vec(),
        }
    }

    fn stats() -> ItemStats {
        // Popularity 8,4,2,1,1,0 over 6 items, 10 users.
        ItemStats::new(vec![8, 4, 2, 1, 1, 0], 0.8, 10)
    }

    fn one(metric: MetricKind, k: usize, list: &[u32], truth: &[u32]) -> f64 {
        all(list, truth, &[metric], k, &stats())[0]
    }

    #[test]
    fn accuracy_metrics_match_hand_computed_values() {
        // List 3,0,5,1 ; relevant {0,1,4}: hits at ranks 2 and 4.
        let list = [3, 0, 5, 1];
        let truth = [0, 1, 4];
        assert_eq!(one(MetricKind::Precision, 4, &list, &truth), 0.5);
        assert_eq!(one(MetricKind::Recall, 4, &list, &truth), 2.0 / 3.0);
        assert_eq!(one(MetricKind::HitRate, 1, &list, &truth), 0.0);
        assert_eq!(one(MetricKind::HitRate, 2, &list, &truth), 1.0);
        assert_eq!(one(MetricKind::Mrr, 4, &list, &truth), 0.5);
        // dcg = 1/log2(3) + 1/log2(5); idcg = 1 + 1/log2(3) + 1/log2(4).
        let dcg = 1.0 / 3f64.log2() + 1.0 / 5f64.log2();
        let idcg = 1.0 + 1.0 / 3f64.log2() + 0.5;
        assert!((one(MetricKind::Ndcg, 4, &list, &truth) - dcg / idcg).abs() < 1e-12);
        // AP = (1/2 + 2/4) / 3.
        assert!((one(MetricKind::Map, 4, &list, &truth) - 1.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn cutoff_beyond_the_list_keeps_k_in_precision_and_ideal_dcg() {
        let list = [2, 5];
        let truth = [2];
        assert_eq!(one(MetricKind::Precision, 10, &list, &truth), 0.1);
        assert_eq!(one(MetricKind::Ndcg, 10, &list, &truth), 1.0);
        assert_eq!(one(MetricKind::Recall, 10, &list, &truth), 1.0);
    }

    #[test]
    fn ideal_dcg_is_capped_by_the_number_of_relevant_items() {
        // 3 relevant, K = 2, both top slots relevant: perfect ndcg@2.
        assert_eq!(one(MetricKind::Ndcg, 2, &[0, 1, 2], &[0, 1, 2]), 1.0);
        assert_eq!(
            one(MetricKind::Recall, 2, &[0, 1, 2], &[0, 1, 2]),
            2.0 / 3.0
        );
    }

    #[test]
    fn popularity_metrics_use_train_counts_and_the_tail_rule() {
        // Total 16; head must reach 12.8: items 0 (8), 1 (12), 2 (14) → head {0,1,2}.
        assert_eq!(stats().tail, vec![false, false, false, true, true, true]);
        let list = [0, 3, 5];
        assert_eq!(one(MetricKind::Arp, 3, &list, &[1]), 3.0);
        assert_eq!(one(MetricKind::Aplt, 3, &list, &[1]), 2.0 / 3.0);
        // −log2(8/10), −log2(1/10), −log2(1/10) (item 5 unseen counts once).
        let expected = (-(0.8f64).log2() - 2.0 * (0.1f64).log2()) / 3.0;
        assert!((one(MetricKind::Novelty, 3, &list, &[1]) - expected).abs() < 1e-12);
    }

    #[test]
    fn stratified_recall_and_pop_lift() {
        // Head {0,1,2}, tail {3,4,5}. Relevant {1, 4}; list 4, 0, 1.
        let s = set(
            &[
                MetricKind::RecallHead,
                MetricKind::RecallTail,
                MetricKind::NdcgTail,
                MetricKind::PopLift,
            ],
            &[2],
        );
        let mut out = Vec::new();
        user_metrics(&[4, 0, 1], &[1, 4], 2.0, None, &s, &stats(), &mut out);
        // Top 2 = 4, 0: tail item 4 hit (1/1), head item 1 missed (0/1).
        assert_eq!(out[0], 0.0);
        assert_eq!(out[1], 1.0);
        assert_eq!(out[2], 1.0);
        // arp@2 = (1 + 8) / 2 = 4.5; history 2 → (4.5 − 2) / 2.
        assert_eq!(out[3], 1.25);
        // No tail held-out item, no history: undefined.
        out.clear();
        user_metrics(&[4, 0], &[1], f64::NAN, None, &s, &stats(), &mut out);
        assert!(out[1].is_nan() && out[2].is_nan() && out[3].is_nan());
    }

    fn weighted(popularity: Vec<u32>, exponent: f64) -> ItemStats {
        let n = popularity.len();
        ItemStats::new(popularity, 0.8, n).with_propensity(
            Some(&super::super::PropensitySpec::from_exponent(exponent, None)),
            None,
        )
    }

    fn all(
        list: &[u32],
        truth: &[u32],
        metrics: &[MetricKind],
        k: usize,
        items: &ItemStats,
    ) -> Vec<f64> {
        let mut out = Vec::new();
        user_metrics(
            list,
            truth,
            f64::NAN,
            None,
            &set(metrics, &[k]),
            items,
            &mut out,
        );
        out
    }

    /// Equal popularity gives every item propensity 1, whatever the
    /// exponent: each debiased metric then equals its naive one, on random
    /// lists and held-out sets.
    #[test]
    fn debiased_metrics_with_equal_propensities_equal_the_naive_ones() {
        let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(5);
        let items = weighted(vec![7; 30], 0.8);
        let metrics = [
            MetricKind::Recall,
            MetricKind::Ndcg,
            MetricKind::IpsRecall,
            MetricKind::IpsNdcg,
            MetricKind::SnipsRecall,
            MetricKind::SnipsNdcg,
        ];
        for _ in 0..200 {
            let mut catalogue: Vec<u32> = (0..30).collect();
            catalogue.shuffle(&mut rng);
            let list = &catalogue[..rng.random_range(1..=15)];
            let mut truth: Vec<u32> = (0..30).filter(|_| rng.random_bool(0.2)).collect();
            if truth.is_empty() {
                truth.push(catalogue[0]);
            }
            let k = rng.random_range(1..=12);
            let v = all(list, &truth, &metrics, k, &items);
            for (naive, debiased) in [(0, 2), (1, 3), (0, 4), (1, 5)] {
                assert!((v[naive] - v[debiased]).abs() < 1e-12, "{v:?}");
            }
        }
    }

    #[test]
    fn debiased_metrics_match_hand_computed_values() {
        // Popularity 16, 4, 1, 1 at e = 0.5: weights 1, 2, 4, 4.
        let items = weighted(vec![16, 4, 1, 1, 16], 0.5);
        // Held out {0, 2}; list 2, 4, 0: hits at ranks 1 (w 4) and 3 (w 1).
        let metrics = [
            MetricKind::IpsRecall,
            MetricKind::IpsNdcg,
            MetricKind::SnipsRecall,
            MetricKind::SnipsNdcg,
        ];
        let v = all(&[2, 4, 0], &[0, 2], &metrics, 3, &items);
        assert_eq!(v[0], (4.0 + 1.0) / 2.0);
        let dcg = 4.0 + 1.0 / 4f64.log2();
        assert!((v[1] - dcg / (1.0 + 1.0 / 3f64.log2())).abs() < 1e-12);
        assert_eq!(v[2], 1.0);
        // Best weighted order: 4 at rank 1, 1 at rank 2.
        assert!((v[3] - dcg / (4.0 + 1.0 / 3f64.log2())).abs() < 1e-12);
        // Without propensities they are undefined, not naive.
        let plain = all(&[2, 4, 0], &[0, 2], &metrics, 3, &stats());
        assert!(plain.iter().all(|v| v.is_nan()));
    }

    /// Pooled SNIPS by hand: Σ weighted hits over Σ weighted held-out
    /// items across users, where per-user SNIPS averages each user's ratio.
    #[test]
    fn pooled_snips_recall_matches_a_hand_computation() {
        // Popularity 16, 4, 1, 1 at e = 0.5: weights 1, 2, 4, 4.
        let items = weighted(vec![16, 4, 1, 1], 0.5);
        let set = MetricSet {
            cutoffs: vec![1],
            metrics: vec![MetricKind::SnipsRecall, MetricKind::PooledSnipsRecall],
        };
        let columns = set.per_user_columns();
        // User a: held out {0} (w 1), list [0]: a hit of weight 1.
        // User b: held out {2} (w 4), list [1]: no hit.
        // User c: held out {1, 3} (w 2 + 4), list [3]: a hit of weight 4.
        let users: [(&[u32], &[u32]); 3] = [(&[0], &[0]), (&[1], &[2]), (&[3], &[1, 3])];
        let mut values = vec![Vec::new(); columns.len()];
        for (list, truth) in users {
            let mut row = Vec::new();
            user_metrics(list, truth, f64::NAN, None, &set, &items, &mut row);
            for (c, v) in row.into_iter().enumerate() {
                values[c].push(v);
            }
        }
        pool(&columns, &mut values, users.iter().map(|(_, t)| *t), &items);
        // Per user: 1, 0, 4/6; pooled: (1 + 0 + 4) / (1 + 4 + 6) = 5/11.
        assert_eq!(values[0], vec![1.0, 0.0, 4.0 / 6.0]);
        let mean = values[1].iter().sum::<f64>() / 3.0;
        assert!((mean - 5.0 / 11.0).abs() < 1e-12, "{mean}");
        // With one held-out item each, per-user SNIPS is the naive hit rate
        // (the weight cancels); pooled SNIPS is not.
        assert_eq!(values[0][..2], [1.0, 0.0]);
        assert!((values[1][0] + values[1][1] - 1.0 / (11.0 / 3.0)).abs() < 1e-12);
    }

    #[test]
    fn auc_counts_ordered_pairs_with_ties_half() {
        // Positives 0 (0.5) and 2 (0.9) against 1 (0.5, a tie), 3 (0.1) and
        // 4 (NaN, ranked lowest): 5 pairs right and one tie of 6.
        let scores = [0.5, 0.5, 0.9, 0.1, f32::NAN];
        let value = auc(&scores, &[0, 2], [1, 3, 4].into_iter());
        assert!((value - 5.5 / 6.0).abs() < 1e-12, "{value}");
        assert_eq!(auc(&scores, &[2], [0].into_iter()), 1.0);
        assert_eq!(auc(&scores, &[3], [0, 1, 2].into_iter()), 0.0);
        assert!(auc(&scores, &[0], std::iter::empty()).is_nan());
        assert!(auc(&scores, &[], [0].into_iter()).is_nan());
    }

    #[test]
    fn auc_is_written_without_a_cutoff_and_comes_first() {
        let id: MetricId = "auc".parse().unwrap();
        assert_eq!(
            (id.kind, id.k, id.to_string()),
            (MetricKind::Auc, 0, "auc".into())
        );
        assert!("auc@10"
            .parse::<MetricId>()
            .unwrap_err()
            .contains("has no cutoff"));
        assert!("ndcg".parse::<MetricId>().is_err());
        assert_eq!(MetricId::at(MetricKind::Auc, 10), id);
        let set = MetricSet {
            cutoffs: vec![5, 10],
            metrics: vec![MetricKind::Ndcg, MetricKind::Auc],
        };
        let names: Vec<String> = set
            .per_user_columns()
            .iter()
            .map(|c| c.to_string())
            .collect();
        assert_eq!(names, ["auc", "ndcg@5", "ndcg@10"]);
        let items = ItemStats::new(vec![1; 4], 0.8, 1);
        let mut out = Vec::new();
        user_metrics(&[1, 0], &[0], f64::NAN, None, &set, &items, &mut out);
        assert!(out[0].is_nan() && out.len() == 3, "{out:?}");
    }

    /// A perfect list (every held-out item first, heaviest first) scores
    /// SNIPS 1 at any K ≥ the held-out count; IPS then exceeds the naive 1.
    #[test]
    fn snips_of_a_perfect_list_is_one() {
        let items = weighted(vec![50, 20, 9, 3, 1, 1, 40, 2], 0.7);
        let truth = [1, 3, 4];
        let w = items.weights.as_ref().unwrap();
        let mut perfect = truth.to_vec();
        perfect.sort_by(|a, b| w[*b as usize].total_cmp(&w[*a as usize]));
        perfect.extend([0, 6, 7]);
        for k in [3, 5, 6] {
            let v = all(
                &perfect,
                &truth,
                &[
                    MetricKind::SnipsRecall,
                    MetricKind::SnipsNdcg,
                    MetricKind::IpsRecall,
                ],
                k,
                &items,
            );
            assert!(
                (v[0] - 1.0).abs() < 1e-12 && (v[1] - 1.0).abs() < 1e-12,
                "{v:?}"
            );
            assert!(v[2] > 1.0);
        }
    }

    #[test]
    fn truth_metrics_match_hand_computed_values() {
        let row = [0.5, 0.1, 0.9, 0.2, 0.05];
        // Item 2 is excluded (say, a train item): the ideal is 0.5, 0.2, 0.1.
        let ideal = [0.5, 0.2, 0.1];
        let relevance = UserRelevance {
            row: &row,
            ideal: &ideal,
        };
        let s = set(&[MetricKind::TruthUtility, MetricKind::TruthNdcg], &[2]);
        let truth_of = |list: &[u32]| {
            let mut out = Vec::new();
            user_metrics(
                list,
                &[0],
                f64::NAN,
                Some(&relevance),
                &s,
                &stats(),
                &mut out,
            );
            out
        };
        let out = truth_of(&[3, 0, 1]);
        assert!((out[0] - (0.2 + 0.5) / 2.0).abs() < 1e-12);
        let dcg = 0.2 + 0.5 / 3f64.log2();
        assert!((out[1] - dcg / (0.5 + 0.2 / 3f64.log2())).abs() < 1e-12);
        // The ideal list itself scores 1.
        let out = truth_of(&[0, 3]);
        assert!((out[1] - 1.0).abs() < 1e-12);
    }

    #[test]
    fn coverage_of_exposure_counts() {
        assert_eq!(coverage(&[3, 0, 1, 0]), 0.5);
    }
}
