//! Approximate nearest-neighbour indexes for maximum-inner-product retrieval:
//! HNSW (Malkov & Yashunin 2018) and IVF-flat (k-means lists, exact scores
//! within the probed lists).
//!
//! Inner product is not a metric, so item vectors x are lifted to
//! x̃ = [x, √(M² − ‖x‖²)] with M the largest item norm and a query q to
//! q̃ = [q, 0]: ‖q̃ − x̃‖² = ‖q‖² + M² − 2·q·x, so the nearest item in L2
//! has the largest inner product (Bachrach et al. 2014). Both indexes work
//! on the lifted vectors.
//!
//! Written here rather than taken from a crate: hnsw_rs (the maintained
//! pure-Rust HNSW) inserts in parallel and draws node levels from a
//! generator it seeds itself, while recsweep's results must be the same for
//! a trial's seed at any thread count. The graph here is built
//! single-threaded, items in id order, levels from the trial's seed; every
//! tie breaks by item id.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

use linfa::prelude::*;
use linfa_clustering::{KMeans, KMeansInit};
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;

/// An index over item vectors answering "the n items with the largest
/// inner product with this query".
pub trait MipsIndex: Send + Sync {
    /// The `n` best items for `query` (approximately), best first, never an
    /// item for which `skip` holds.
    fn search(&self, query: &[f32], n: usize, skip: &dyn Fn(u32) -> bool) -> Vec<u32>;

    /// q · x_item, from the vectors the index holds.
    fn inner_product(&self, query: &[f32], item: u32) -> f32;

    /// Bytes the index holds beyond the item vectors themselves.
    fn overhead_bytes(&self) -> usize;

    /// Analytic multiply-adds of one search for `n` items (the distances it
    /// typically evaluates), for the serving-cost columns.
    fn madds_per_query(&self, n: usize) -> u64;
}

/// Items lifted for L2 search, row-major (`n × (dim + 1)`).
struct Lifted {
    dim: usize,
    rows: Vec<f32>,
}

impl Lifted {
    fn new(dim: usize, items: &[f32]) -> Self {
        let n = items.len() / dim.max(1);
        let norms: Vec<f32> = items
            .chunks_exact(dim.max(1))
            .map(|x| x.iter().map(|v| v * v).sum::<f32>())
            .collect();
        let max = norms.iter().copied().fold(0.0f32, f32::max);
        let mut rows = Vec::with_capacity(n * (dim + 1));
        for (x, norm) in items.chunks_exact(dim.max(1)).zip(&norms) {
            rows.extend_from_slice(x);
            rows.push((max - norm).max(0.0).sqrt());
        }
        Self { dim: dim + 1, rows }
    }

    fn len(&self) -> usize {
        self.rows.len() / self.dim
    }

    /// q · x from the lifted row's first coordinates (the original x).
    fn inner_product(&self, q: &[f32], i: u32) -> f32 {
        q.iter().zip(self.row(i)).map(|(a, b)| a * b).sum()
    }

    fn row(&self, i: u32) -> &[f32] {
        &self.rows[i as usize * self.dim..(i as usize + 1) * self.dim]
    }

    /// q̃ = [q, 0].
    fn query(&self, q: &[f32]) -> Vec<f32> {
        let mut lifted = q.to_vec();
        lifted.resize(self.dim, 0.0);
        lifted
    }

    fn distance(&self, q: &[f32], i: u32) -> f32 {
        q.iter()
            .zip(self.row(i))
            .map(|(a, b)| (a - b) * (a - b))
            .sum()
    }
}

/// A (distance, item) pair ordered by distance, then item id: a total
/// order, so heaps and sorts are deterministic.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Near(f32, u32);

impl Eq for Near {}

impl Ord for Near {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0).then(self.1.cmp(&other.1))
    }
}

impl PartialOrd for Near {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// HNSW build and search settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HnswParams {
    /// Links per node and layer (2·m on the bottom layer).
    pub m: usize,
    /// Candidate list size while inserting.
    pub ef_construction: usize,
    /// Candidate list size while searching (at least the n asked for).
    pub ef_search: usize,
}

impl Default for HnswParams {
    fn default() -> Self {
        Self {
            m: 16,
            ef_construction: 200,
            ef_search: 64,
        }
    }
}

/// A hierarchical navigable small-world graph over lifted item vectors.
pub struct Hnsw {
    items: Lifted,
    /// links[i][l]: item i's neighbours on layer l (0 ..= its level).
    links: Vec<Vec<Vec<u32>>>,
    /// incoming[i][l]: how many nodes link to i on layer l.
    incoming: Vec<Vec<u32>>,
    entry: u32,
    top: usize,
    params: HnswParams,
}

/// The highest layer any node may reach: the graph stays shallow even for
/// unlucky draws.
const MAX_LEVEL: usize = 16;

impl Hnsw {
    /// Builds the graph over `items` (row-major, `dim` columns), inserting
    /// in id order with levels drawn from `seed`.
    pub fn build(dim: usize, items: &[f32], params: HnswParams, seed: u64) -> Self {
        let items = Lifted::new(dim, items);
        let n = items.len();
        let mut rng = Pcg64Mcg::seed_from_u64(seed);
        let scale = 1.0 / (params.m.max(2) as f64).ln();
        let mut index = Self {
            items,
            links: Vec::with_capacity(n),
            incoming: Vec::with_capacity(n),
            entry: 0,
            top: 0,
            params,
        };
        for i in 0..n as u32 {
            let u: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
            let level = ((-u.ln() * scale) as usize).min(MAX_LEVEL);
            index.insert(i, level);
        }
        index
    }

    fn max_links(&self, layer: usize) -> usize {
        if layer == 0 {
            2 * self.params.m
        } else {
            self.params.m
        }
    }

    fn insert(&mut self, i: u32, level: usize) {
        self.links.push(vec![Vec::new(); level + 1]);
        self.incoming.push(vec![0; level + 1]);
        if i == 0 {
            self.entry = 0;
            self.top = level;
            return;
        }
        let q = self.items.row(i).to_vec();
        let mut entries = vec![self.greedy(&q, self.entry, self.top, level)];
        for layer in (0..=level.min(self.top)).rev() {
            let found = self.search_layer(&q, &entries, self.params.ef_construction, layer);
            // The m nearest (Malkov & Yashunin's simple selection; their
            // diversity heuristic is left for when recall asks for it).
            let neighbours: Vec<u32> = found
                .iter()
                .take(self.params.m.max(1))
                .map(|n| n.1)
                .collect();
            for &j in &neighbours {
                self.incoming[j as usize][layer] += 1;
                self.connect(j, i, layer);
            }
            self.links[i as usize][layer] = neighbours;
            entries = found.iter().map(|n| n.1).collect();
        }
        if level > self.top {
            self.top = level;
            self.entry = i;
        }
    }

    /// Adds `i` to `j`'s links on `layer`, keeping the closest `max_links`;
    /// a link that is its target's only incoming one is kept before a
    /// closer one, so pruning never cuts a node off (the search could then
    /// never reach it, whatever its ef).
    fn connect(&mut self, j: u32, i: u32, layer: usize) {
        let limit = self.max_links(layer);
        let mut links = std::mem::take(&mut self.links[j as usize][layer]);
        links.push(i);
        self.incoming[i as usize][layer] += 1;
        if links.len() > limit {
            let at = self.items.row(j).to_vec();
            let mut near: Vec<Near> = links
                .iter()
                .map(|&k| Near(self.items.distance(&at, k), k))
                .collect();
            near.sort_unstable();
            let sole = |k: u32| self.incoming[k as usize][layer] <= 1;
            let (mut kept, mut dropped): (Vec<Near>, Vec<Near>) = (Vec::new(), Vec::new());
            for n in near {
                if kept.len() < limit {
                    kept.push(n);
                } else {
                    dropped.push(n);
                }
            }
            // Swap each sole link back in for the farthest kept link whose
            // target has others.
            for d in dropped.iter_mut().filter(|d| sole(d.1)) {
                if let Some(slot) = kept.iter().rposition(|k| !sole(k.1)) {
                    std::mem::swap(&mut kept[slot], d);
                }
            }
            for d in &dropped {
                self.incoming[d.1 as usize][layer] -= 1;
            }
            links = kept.into_iter().map(|n| n.1).collect();
        }
        self.links[j as usize][layer] = links;
    }

    /// Greedy descent from layer `from` to the layer above `to`: the closest
    /// node found, the entry point below.
    fn greedy(&self, q: &[f32], start: u32, from: usize, to: usize) -> u32 {
        let mut best = Near(self.items.distance(q, start), start);
        for layer in ((to + 1)..=from).rev() {
            loop {
                let mut moved = false;
                for &j in &self.links[best.1 as usize][layer] {
                    let candidate = Near(self.items.distance(q, j), j);
                    if candidate < best {
                        best = candidate;
                        moved = true;
                    }
                }
                if !moved {
                    break;
                }
            }
        }
        best.1
    }

    /// The `ef` nearest nodes reachable on `layer` from `entries`, nearest
    /// first.
    fn search_layer(&self, q: &[f32], entries: &[u32], ef: usize, layer: usize) -> Vec<Near> {
        let ef = ef.max(1);
        let mut visited = vec![0u64; self.links.len().div_ceil(64)];
        let mut visit = |i: u32| {
            let (word, bit) = (i as usize / 64, 1u64 << (i % 64));
            let fresh = visited[word] & bit == 0;
            visited[word] |= bit;
            fresh
        };
        let mut candidates: BinaryHeap<Reverse<Near>> = BinaryHeap::new();
        let mut found: BinaryHeap<Near> = BinaryHeap::new();
        for &e in entries {
            if visit(e) {
                let near = Near(self.items.distance(q, e), e);
                candidates.push(Reverse(near));
                found.push(near);
                if found.len() > ef {
                    found.pop();
                }
            }
        }
        while let Some(Reverse(current)) = candidates.pop() {
            if found.len() >= ef && found.peek().is_some_and(|worst| current > *worst) {
                break;
            }
            let Some(links) = self.links[current.1 as usize].get(layer) else {
                continue;
            };
            for &j in links {
                if !visit(j) {
                    continue;
                }
                let near = Near(self.items.distance(q, j), j);
                if found.len() < ef || found.peek().is_some_and(|worst| near < *worst) {
                    candidates.push(Reverse(near));
                    found.push(near);
                    if found.len() > ef {
                        found.pop();
                    }
                }
            }
        }
        found.into_sorted_vec()
    }
}

impl MipsIndex for Hnsw {
    /// Keeps max(ef_search, n) candidates on the bottom layer and drops the
    /// skipped ones; where fewer than n remain, searches again with twice
    /// the list (as a served index filters seen items).
    fn search(&self, query: &[f32], n: usize, skip: &dyn Fn(u32) -> bool) -> Vec<u32> {
        if self.links.is_empty() || n == 0 {
            return Vec::new();
        }
        let q = self.items.query(query);
        let entry = self.greedy(&q, self.entry, self.top, 0);
        let mut ef = self.params.ef_search.max(n);
        loop {
            let found: Vec<u32> = self
                .search_layer(&q, &[entry], ef, 0)
                .into_iter()
                .map(|near| near.1)
                .filter(|&i| !skip(i))
                .take(n)
                .collect();
            if found.len() >= n || ef >= self.links.len() {
                return found;
            }
            ef *= 2;
        }
    }

    fn inner_product(&self, query: &[f32], item: u32) -> f32 {
        self.items.inner_product(query, item)
    }

    fn overhead_bytes(&self) -> usize {
        self.links
            .iter()
            .flatten()
            .map(|l| l.capacity() * 4 + std::mem::size_of::<Vec<u32>>())
            .sum::<usize>()
            + self.links.len() * std::mem::size_of::<Vec<Vec<u32>>>()
            + self.items.len() * 4
    }

    /// About ef·2m distance evaluations on the bottom layer.
    fn madds_per_query(&self, n: usize) -> u64 {
        (self.params.ef_search.max(n) * 2 * self.params.m * self.items.dim) as u64
    }
}

/// IVF-flat settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IvfParams {
    /// k-means lists.
    pub lists: usize,
    /// Lists scored per query: those whose centroids are nearest.
    pub probes: usize,
}

impl Default for IvfParams {
    fn default() -> Self {
        Self {
            lists: 256,
            probes: 8,
        }
    }
}

/// Items partitioned by k-means (on the lifted vectors); a query scores
/// the items of its `probes` nearest lists exactly.
pub struct Ivf {
    items: Lifted,
    /// lists × lifted dim, row-major.
    centroids: Vec<f32>,
    members: Vec<Vec<u32>>,
    params: IvfParams,
}

impl Ivf {
    /// k-means with linfa (at most 50 iterations), started from `lists`
    /// distinct items drawn with `seed` (Forgy initialisation: linfa's own
    /// initialisers take a generator of another rand version).
    pub fn build(dim: usize, items: &[f32], params: IvfParams, seed: u64) -> Result<Self, String> {
        let items = Lifted::new(dim, items);
        let (n, d) = (items.len(), items.dim);
        if n == 0 {
            return Err("no items to index".to_string());
        }
        let lists = params.lists.clamp(1, n);
        let records =
            Array2::from_shape_vec((n, d), items.rows.iter().map(|&v| f64::from(v)).collect())
                .map_err(|e| e.to_string())?;
        let mut rng = Pcg64Mcg::seed_from_u64(seed);
        let starts = rand::seq::index::sample(&mut rng, n, lists);
        let initial = Array2::from_shape_fn((lists, d), |(c, k)| records[(starts.index(c), k)]);
        let dataset = DatasetBase::from(records.clone());
        let model = KMeans::params(lists)
            .init_method(KMeansInit::Precomputed(initial))
            .n_runs(1)
            .max_n_iterations(50)
            .tolerance(1e-4)
            .fit(&dataset)
            .map_err(|e| e.to_string())?;
        let assigned = model.predict(&records);
        let mut members = vec![Vec::new(); lists];
        for (i, &c) in assigned.iter().enumerate() {
            members[c].push(i as u32);
        }
        let centroids = model.centroids().iter().map(|&v| v as f32).collect();
        Ok(Self {
            items,
            centroids,
            members,
            params: IvfParams { lists, ..params },
        })
    }
}

impl MipsIndex for Ivf {
    fn search(&self, query: &[f32], n: usize, skip: &dyn Fn(u32) -> bool) -> Vec<u32> {
        let q = self.items.query(query);
        let d = self.items.dim;
        let mut lists: Vec<Near> = self
            .centroids
            .chunks_exact(d)
            .enumerate()
            .map(|(c, centroid)| {
                let distance = q.iter().zip(centroid).map(|(a, b)| (a - b) * (a - b)).sum();
                Near(distance, c as u32)
            })
            .collect();
        lists.sort_unstable();
        let mut found: Vec<Near> = lists
            .iter()
            .take(self.params.probes.max(1))
            .flat_map(|list| &self.members[list.1 as usize])
            .filter(|&&i| !skip(i))
            .map(|&i| Near(self.items.distance(&q, i), i))
            .collect();
        found.sort_unstable();
        found.into_iter().take(n).map(|near| near.1).collect()
    }

    fn inner_product(&self, query: &[f32], item: u32) -> f32 {
        self.items.inner_product(query, item)
    }

    fn overhead_bytes(&self) -> usize {
        self.centroids.len() * 4 + self.items.len() * 8
    }

    /// The centroids, then the probed lists' items (at their mean size).
    fn madds_per_query(&self, _n: usize) -> u64 {
        let d = self.items.dim as u64;
        let mean = self.items.len() as u64 / self.params.lists.max(1) as u64;
        d * (self.params.lists as u64 + self.params.probes.min(self.params.lists) as u64 * mean)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn random_items(n: usize, dim: usize, seed: u64) -> Vec<f32> {
        let mut rng = Pcg64Mcg::seed_from_u64(seed);
        (0..n * dim)
            .map(|_| rng.random::<f32>() * 2.0 - 1.0)
            .collect()
    }

    /// The exact top n by inner product, ties by id.
    fn exact(
        items: &[f32],
        dim: usize,
        q: &[f32],
        n: usize,
        skip: &dyn Fn(u32) -> bool,
    ) -> Vec<u32> {
        let mut scored: Vec<(f32, u32)> = items
            .chunks_exact(dim)
            .enumerate()
            .filter(|(i, _)| !skip(*i as u32))
            .map(|(i, x)| (x.iter().zip(q).map(|(a, b)| a * b).sum(), i as u32))
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        scored.into_iter().take(n).map(|s| s.1).collect()
    }

    /// The lift turns largest inner product into smallest distance.
    #[test]
    fn lifted_distance_orders_like_the_inner_product() {
        let (dim, items) = (3, random_items(50, 3, 1));
        let lifted = Lifted::new(dim, &items);
        let q = [0.3f32, -0.7, 0.2];
        let lq = lifted.query(&q);
        let mut by_distance: Vec<u32> = (0..50).collect();
        by_distance.sort_by(|&a, &b| lifted.distance(&lq, a).total_cmp(&lifted.distance(&lq, b)));
        assert_eq!(
            by_distance[..10],
            exact(&items, dim, &q, 10, &|_| false)[..]
        );
    }

    /// With ef_search at least the catalogue, the search visits every node
    /// the graph reaches, and pruning never cuts a node off: the exact top
    /// K, skips respected, even with few links per node.
    #[test]
    fn hnsw_with_a_full_candidate_list_is_exact() {
        let (dim, n) = (8, 600);
        let items = random_items(n, dim, 2);
        let params = HnswParams {
            m: 3,
            ef_construction: 64,
            ef_search: n,
        };
        let index = Hnsw::build(dim, &items, params, 3);
        let queries = random_items(20, dim, 4);
        for q in queries.chunks_exact(dim) {
            let skip = |i: u32| i.is_multiple_of(7);
            assert_eq!(index.search(q, 10, &skip), exact(&items, dim, q, 10, &skip));
        }
    }

    /// Recall rises with ef_search, and the same seed builds the same graph.
    #[test]
    fn hnsw_recall_grows_with_ef_and_the_build_is_seeded() {
        let (dim, n, k) = (16, 3000, 10);
        let items = random_items(n, dim, 5);
        let queries = random_items(50, dim, 6);
        let recall = |ef: usize| {
            let index = Hnsw::build(
                dim,
                &items,
                HnswParams {
                    m: 6,
                    ef_construction: 40,
                    ef_search: ef,
                },
                7,
            );
            let mut hits = 0;
            for q in queries.chunks_exact(dim) {
                let got = index.search(q, k, &|_| false);
                let want = exact(&items, dim, q, k, &|_| false);
                hits += got.iter().filter(|i| want.contains(i)).count();
            }
            hits as f64 / (k * 50) as f64
        };
        let (low, high) = (recall(10), recall(200));
        assert!(high > low && high > 0.95, "recall {low} → {high}");
        let a = Hnsw::build(
            dim,
            &items,
            HnswParams {
                m: 6,
                ef_construction: 40,
                ef_search: 10,
            },
            7,
        );
        let b = Hnsw::build(
            dim,
            &items,
            HnswParams {
                m: 6,
                ef_construction: 40,
                ef_search: 10,
            },
            7,
        );
        assert_eq!(a.links, b.links);
    }

    /// Probing every list scores every item: exact.
    #[test]
    fn ivf_probing_every_list_is_exact() {
        let (dim, n) = (6, 400);
        let items = random_items(n, dim, 8);
        let index = Ivf::build(
            dim,
            &items,
            IvfParams {
                lists: 12,
                probes: 12,
            },
            9,
        )
        .unwrap();
        assert_eq!(index.members.iter().map(Vec::len).sum::<usize>(), n);
        for q in random_items(10, dim, 10).chunks_exact(dim) {
            let skip = |i: u32| i < 5;
            assert_eq!(index.search(q, 15, &skip), exact(&items, dim, q, 15, &skip));
        }
        let one = Ivf::build(
            dim,
            &items,
            IvfParams {
                lists: 12,
                probes: 1,
            },
            9,
        )
        .unwrap();
        let q = &random_items(1, dim, 11);
        assert!(one.search(q, 15, &|_| false).len() <= 15);
    }
}
