//! Approximate nearest-neighbour indexes for maximum-inner-product retrieval:
//! HNSW (Malkov & Yashunin 2018) and IVF-flat (k-means lists, exact scores
//! within the probed lists).
//!
//! Inner product is not a metric, so item vectors x are lifted to
//! x̃ = [x, √(M² − ‖x‖²)] with M the largest item norm and a query q to
//! q̃ = [q, 0]: ‖q̃ − x̃‖² = ‖q‖² + M² − 2·q·x, so the nearest item in L2
//! has the largest inner product (Bachrach et al. 2014). Both indexes work
//! on the lifted vectors. Every lifted item has the norm M, so between two
//! items as between a query and an item, −x̃·ỹ orders pairs as the L2
//! distance does: the indexes compare that one dot product, the cheapest
//! form of the distance.
//!
//! Written here rather than taken from a crate: hnsw_rs (the maintained
//! pure-Rust HNSW) inserts in parallel and draws node levels from a
//! generator it seeds itself, while recsweep's results must be the same for
//! a trial's seed at any thread count. The graph here is built
//! single-threaded, items in id order, levels from the trial's seed; every
//! tie breaks by item id.

use std::cell::Cell;
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
    /// item for which `skip` holds. `breadth` is how widely the search
    /// looks (HNSW's ef_search, IVF's probes): a setting of the search, not
    /// of the index, so one built index serves every breadth.
    fn search(
        &self,
        query: &[f32],
        n: usize,
        breadth: usize,
        skip: &dyn Fn(u32) -> bool,
    ) -> Vec<u32>;

    /// q · x_item, from the vectors the index holds.
    fn inner_product(&self, query: &[f32], item: u32) -> f32;

    /// Bytes the index holds beyond the item vectors themselves.
    fn overhead_bytes(&self) -> usize;

    /// Bytes of the (lifted, padded) item vectors it holds.
    fn vector_bytes(&self) -> usize;

    /// Analytic multiply-adds of one search for `n` items at `breadth` (the
    /// distances it typically evaluates), for the serving-cost columns.
    fn madds_per_query(&self, n: usize, breadth: usize) -> u64;
}

/// Lanes of the dot-product kernel's accumulators; rows are padded with
/// zeros to a multiple of it, so the kernel has no scalar tail.
const LANES: usize = 8;

/// a · b for slices of one length, a multiple of [`LANES`]. Two sets of
/// lane accumulators summed in a fixed order: inlined into the dispatched
/// search and build ([`search_layer`], [`build_graph`]), the compiler
/// vectorises it for the CPU's level, and every level gives the same bits.
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [[0f32; LANES]; 2];
    let (pairs_a, pairs_b) = (a.chunks_exact(2 * LANES), b.chunks_exact(2 * LANES));
    let (rest_a, rest_b) = (pairs_a.remainder(), pairs_b.remainder());
    for (x, y) in pairs_a.zip(pairs_b) {
        for l in 0..LANES {
            acc[0][l] += x[l] * y[l];
            acc[1][l] += x[LANES + l] * y[LANES + l];
        }
    }
    for (x, y) in rest_a.chunks_exact(LANES).zip(rest_b.chunks_exact(LANES)) {
        for l in 0..LANES {
            acc[0][l] += x[l] * y[l];
        }
    }
    let mut lanes = [0f32; LANES];
    for l in 0..LANES {
        lanes[l] = acc[0][l] + acc[1][l];
    }
    ((lanes[0] + lanes[4]) + (lanes[1] + lanes[5]))
        + ((lanes[2] + lanes[6]) + (lanes[3] + lanes[7]))
}

/// Items lifted for L2 search, row-major, each row padded with zeros to
/// `stride` (a multiple of [`LANES`]).
struct Lifted {
    /// The lifted width: the item dimension plus one.
    width: usize,
    stride: usize,
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
        let stride = (dim + 1).div_ceil(LANES) * LANES;
        let mut rows = Vec::with_capacity(n * stride);
        for (x, norm) in items.chunks_exact(dim.max(1)).zip(&norms) {
            rows.extend_from_slice(x);
            rows.push((max - norm).max(0.0).sqrt());
            rows.resize(rows.len() + stride - dim - 1, 0.0);
        }
        Self {
            width: dim + 1,
            stride,
            rows,
        }
    }

    fn len(&self) -> usize {
        self.rows.len() / self.stride
    }

    /// q · x from the lifted row's first coordinates (the original x).
    fn inner_product(&self, q: &[f32], i: u32) -> f32 {
        q.iter().zip(self.row(i)).map(|(a, b)| a * b).sum()
    }

    #[inline(always)]
    fn row(&self, i: u32) -> &[f32] {
        &self.rows[i as usize * self.stride..(i as usize + 1) * self.stride]
    }

    /// q̃ = [q, 0], padded as the rows are.
    fn query(&self, q: &[f32]) -> Vec<f32> {
        let mut lifted = q.to_vec();
        lifted.resize(self.stride, 0.0);
        lifted
    }

    /// −q̃ · x̃: ordered as the lifted L2 distance (see the module's note).
    #[inline(always)]
    fn distance(&self, q: &[f32], i: u32) -> f32 {
        -dot(q, self.row(i))
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

/// HNSW build and search settings (the search's is given to each search;
/// the graph keeps the build's).
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
    /// The bottom layer's links, flat: node i's block of `1 + 2m` words at
    /// i·(1 + 2m) holds its link count, then its links. One contiguous
    /// array, as hnswlib lays it out, so a search reads no pointers.
    base: Vec<u32>,
    /// upper[i][l − 1]: node i's links on layer l ≥ 1 (none for the nodes
    /// of the bottom layer alone, most of them).
    upper: Vec<Vec<Vec<u32>>>,
    entry: u32,
    top: usize,
    /// Links per node and layer, capped as [`Hnsw::empty`] says.
    m: usize,
    ef_construction: usize,
}

/// The most links per node and layer an index takes (`m`; twice that on
/// the bottom layer, whose links are held in one array of 2·m slots per
/// node). hnswlib suggests 2–100; above this the array, not the graph,
/// would decide memory.
pub const MAX_LINKS: usize = 256;

/// The highest layer any node may reach: the graph stays shallow even for
/// unlucky draws.
const MAX_LEVEL: usize = 16;

thread_local! {
    /// Per thread, a visit mark per node and the mark of the current
    /// search: a search starts by taking a new mark instead of clearing a
    /// set (hnswlib's visited-list pool, per thread).
    static VISITED: Cell<(u32, Vec<u32>)> = const { Cell::new((0, Vec::new())) };
}

/// Each of `n` nodes' top layer, drawn from `seed` with the paper's
/// normalisation 1/ln m (layer l holds about n/m^l nodes).
fn draw_levels(n: usize, m: usize, seed: u64) -> Vec<usize> {
    let mut rng = Pcg64Mcg::seed_from_u64(seed);
    let scale = 1.0 / (m.max(2) as f64).ln();
    (0..n)
        .map(|_| {
            let u: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
            ((-u.ln() * scale) as usize).min(MAX_LEVEL)
        })
        .collect()
}

/// While inserting: how many links point at each node, per layer, so that
/// pruning never removes a node's only incoming link.
struct Incoming(Vec<Vec<u32>>);

impl Hnsw {
    /// Builds the graph over `items` (row-major, `dim` columns), inserting
    /// in id order with levels drawn from `seed`.
    pub fn build(dim: usize, items: &[f32], params: HnswParams, seed: u64) -> Self {
        let mut index = Self::empty(Lifted::new(dim, items), params);
        let levels = draw_levels(index.items.len(), index.m, seed);
        build_graph(&mut index, &levels);
        index
    }

    /// A graph over `items` with no links yet. `m` is capped at
    /// [`MAX_LINKS`] (callers check it) and at the catalogue (a node cannot
    /// link more items than there are), so the flat link array stays the
    /// size the graph can fill.
    fn empty(items: Lifted, params: HnswParams) -> Self {
        let m = params.m.clamp(1, items.len().clamp(1, MAX_LINKS));
        Self {
            base: vec![0; items.len() * (1 + 2 * m)],
            upper: Vec::with_capacity(items.len()),
            items,
            entry: 0,
            top: 0,
            m,
            ef_construction: params.ef_construction,
        }
    }

    fn max_links(&self, layer: usize) -> usize {
        if layer == 0 {
            2 * self.m
        } else {
            self.m
        }
    }

    #[inline(always)]
    fn links(&self, i: u32, layer: usize) -> &[u32] {
        if layer == 0 {
            let at = i as usize * (1 + self.max_links(0));
            &self.base[at + 1..at + 1 + self.base[at] as usize]
        } else {
            self.upper[i as usize]
                .get(layer - 1)
                .map_or(&[], Vec::as_slice)
        }
    }

    fn set_links(&mut self, i: u32, layer: usize, links: &[u32]) {
        if layer == 0 {
            let at = i as usize * (1 + self.max_links(0));
            self.base[at] = links.len() as u32;
            self.base[at + 1..at + 1 + links.len()].copy_from_slice(links);
        } else {
            self.upper[i as usize][layer - 1] = links.to_vec();
        }
    }

    #[inline(always)]
    fn insert(&mut self, i: u32, level: usize, incoming: &mut Incoming) {
        self.upper.push(vec![Vec::new(); level]);
        incoming.0.push(vec![0; level + 1]);
        if i == 0 {
            self.entry = 0;
            self.top = level;
            return;
        }
        let q = self.items.row(i).to_vec();
        let mut entries = vec![self.greedy(&q, self.entry, self.top, level)];
        for layer in (0..=level.min(self.top)).rev() {
            let found = search_layer_portable(self, &q, &entries, self.ef_construction, layer);
            let neighbours = self.select(&found, self.m.max(1), true);
            for &j in &neighbours {
                incoming.0[j as usize][layer] += 1;
                self.connect(j, i, layer, incoming);
            }
            self.set_links(i, layer, &neighbours);
            entries = found.iter().map(|n| n.1).collect();
        }
        if level > self.top {
            self.top = level;
            self.entry = i;
        }
    }

    /// Malkov & Yashunin's neighbour heuristic (their Algorithm 4, as
    /// hnswlib runs it): from `candidates`, nearest first, keep one only
    /// when it is nearer to the base than to every one kept, up to `limit`.
    /// Links then point in diverse directions, so a greedy walk crosses
    /// between clusters instead of circling inside one. With `fill`, slots
    /// the heuristic leaves empty take the nearest candidates it discarded
    /// (the paper's keepPrunedConnections). A new node's own links are
    /// filled, an overflowing list is pruned without (as hnswlib prunes):
    /// on 40,981 Gowalla iALS vectors (docs/benchmarks.md) that raised
    /// recall@100 at ef 100 from 0.79 to 0.885 at the same build time,
    /// where filling both ways reached the same recall with 30% longer
    /// builds and denser, slower-to-search lists.
    #[inline(always)]
    fn select(&self, candidates: &[Near], limit: usize, fill: bool) -> Vec<u32> {
        let mut kept: Vec<u32> = Vec::with_capacity(limit);
        for c in candidates {
            if kept.len() >= limit {
                break;
            }
            let row = self.items.row(c.1);
            let mut diverse = true;
            for &k in &kept {
                if Near(self.items.distance(row, k), k) < *c {
                    diverse = false;
                    break;
                }
            }
            if diverse {
                kept.push(c.1);
            }
        }
        if !fill {
            return kept;
        }
        for c in candidates {
            if kept.len() >= limit {
                break;
            }
            if !kept.contains(&c.1) {
                kept.push(c.1);
            }
        }
        kept
    }

    /// Adds `i` to `j`'s links on `layer`; past `max_links`, the heuristic
    /// [`Hnsw::select`] chooses among them. A link that is its target's only
    /// incoming one is kept (in a slot the heuristic left empty, else in
    /// place of the farthest kept link whose target has others), so pruning never cuts a node off: the search could then
    /// never reach it, whatever its ef.
    #[inline(always)]
    fn connect(&mut self, j: u32, i: u32, layer: usize, incoming: &mut Incoming) {
        let limit = self.max_links(layer);
        let mut links = self.links(j, layer).to_vec();
        links.push(i);
        incoming.0[i as usize][layer] += 1;
        if links.len() > limit {
            let at = self.items.row(j).to_vec();
            let mut near: Vec<Near> = links
                .iter()
                .map(|&k| Near(self.items.distance(&at, k), k))
                .collect();
            near.sort_unstable();
            let mut kept = self.select(&near, limit, false);
            let sole = |k: u32| incoming.0[k as usize][layer] <= 1;
            let dropped: Vec<u32> = near
                .iter()
                .map(|n| n.1)
                .filter(|k| !kept.contains(k))
                .collect();
            for &d in &dropped {
                if !sole(d) {
                    continue;
                }
                if kept.len() < limit {
                    kept.push(d);
                } else if let Some(slot) = kept.iter().rposition(|&k| !sole(k)) {
                    kept[slot] = d;
                }
            }
            for d in near.iter().map(|n| n.1).filter(|k| !kept.contains(k)) {
                incoming.0[d as usize][layer] -= 1;
            }
            links = kept;
        }
        self.set_links(j, layer, &links);
    }

    /// Greedy descent from layer `from` to the layer above `to`: the closest
    /// node found, the entry point below.
    #[inline(always)]
    fn greedy(&self, q: &[f32], start: u32, from: usize, to: usize) -> u32 {
        let mut best = Near(self.items.distance(q, start), start);
        for layer in ((to + 1)..=from).rev() {
            loop {
                let mut moved = false;
                for &j in self.links(best.1, layer) {
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
}

crate::dispatch! {
    /// Inserts every item in id order at its drawn level, compiled per
    /// vector level so that the distance kernel inlines into the insertion.
    fn build_graph(index: &mut Hnsw, levels: &[usize]) => build_graph_portable
}

#[inline(always)]
fn build_graph_portable(index: &mut Hnsw, levels: &[usize]) {
    let mut incoming = Incoming(Vec::with_capacity(levels.len()));
    for (i, &level) in levels.iter().enumerate() {
        index.insert(i as u32, level, &mut incoming);
    }
}

crate::dispatch! {
    /// The `ef` nearest nodes reachable on `layer` from `entries`, nearest
    /// first: the search's inner loop, compiled per vector level so that
    /// the distance kernel inlines into it.
    fn search_layer(index: &Hnsw, q: &[f32], entries: &[u32], ef: usize, layer: usize) -> Vec<Near>
        => search_layer_portable
}

#[inline(always)]
fn search_layer_portable(
    index: &Hnsw,
    q: &[f32],
    entries: &[u32],
    ef: usize,
    layer: usize,
) -> Vec<Near> {
    let ef = ef.max(1);
    // Taken out of the thread-local and put back, rather than used inside
    // a closure: closures are compiled apart from this function, without
    // its vector level.
    let (mut mark, mut seen) = VISITED.take();
    // Every item, inserted yet or not: the marks are sized once per build.
    let n = index.items.len();
    if seen.len() < n || mark == u32::MAX {
        seen.clear();
        seen.resize(n, 0);
        mark = 0;
    }
    mark += 1;
    // At most every node enters the heaps, however large ef is.
    let mut candidates: BinaryHeap<Reverse<Near>> = BinaryHeap::with_capacity(ef.min(n));
    let mut found: BinaryHeap<Near> = BinaryHeap::with_capacity(ef.min(n) + 1);
    for &e in entries {
        if seen[e as usize] != mark {
            seen[e as usize] = mark;
            let near = Near(index.items.distance(q, e), e);
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
        for &j in index.links(current.1, layer) {
            if seen[j as usize] == mark {
                continue;
            }
            seen[j as usize] = mark;
            let near = Near(index.items.distance(q, j), j);
            if found.len() < ef || found.peek().is_some_and(|worst| near < *worst) {
                candidates.push(Reverse(near));
                found.push(near);
                if found.len() > ef {
                    found.pop();
                }
            }
        }
    }
    VISITED.set((mark, seen));
    found.into_sorted_vec()
}

impl MipsIndex for Hnsw {
    /// Keeps max(ef_search, n) candidates on the bottom layer (`breadth` is
    /// ef_search) and drops the skipped ones; where fewer than n remain,
    /// searches again with twice the list (as a served index filters seen
    /// items).
    fn search(
        &self,
        query: &[f32],
        n: usize,
        breadth: usize,
        skip: &dyn Fn(u32) -> bool,
    ) -> Vec<u32> {
        if self.upper.is_empty() || n == 0 {
            return Vec::new();
        }
        let q = self.items.query(query);
        let entry = self.greedy(&q, self.entry, self.top, 0);
        let mut ef = breadth.max(n);
        loop {
            let found: Vec<u32> = search_layer(self, &q, &[entry], ef, 0)
                .into_iter()
                .map(|near| near.1)
                .filter(|&i| !skip(i))
                .take(n)
                .collect();
            if found.len() >= n || ef >= self.upper.len() {
                return found;
            }
            ef *= 2;
        }
    }

    fn inner_product(&self, query: &[f32], item: u32) -> f32 {
        self.items.inner_product(query, item)
    }

    fn vector_bytes(&self) -> usize {
        self.items.rows.len() * 4
    }

    fn overhead_bytes(&self) -> usize {
        self.base.len() * 4
            + self
                .upper
                .iter()
                .map(|layers| {
                    std::mem::size_of::<Vec<Vec<u32>>>()
                        + layers
                            .iter()
                            .map(|l| l.capacity() * 4 + std::mem::size_of::<Vec<u32>>())
                            .sum::<usize>()
                })
                .sum::<usize>()
            + self.items.len() * 4
    }

    /// About ef·2m distance evaluations on the bottom layer.
    fn madds_per_query(&self, n: usize, breadth: usize) -> u64 {
        (breadth.max(n) as u64).saturating_mul(2 * self.m as u64 * self.items.width as u64)
    }
}

/// IVF-flat settings (the probes are given to each search; the index keeps
/// its lists).
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
}

impl Ivf {
    /// k-means with linfa (at most 50 iterations), started from `lists`
    /// distinct items drawn with `seed` (Forgy initialisation: linfa's own
    /// initialisers take a generator of another rand version).
    pub fn build(dim: usize, items: &[f32], params: IvfParams, seed: u64) -> Result<Self, String> {
        let items = Lifted::new(dim, items);
        let (n, d) = (items.len(), items.width);
        if n == 0 {
            return Err("no items to index".to_string());
        }
        let lists = params.lists.clamp(1, n);
        let records = Array2::from_shape_fn((n, d), |(i, k)| f64::from(items.row(i as u32)[k]));
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
        })
    }
}

impl MipsIndex for Ivf {
    /// Scores the items of the `breadth` (probes) lists whose centroids are
    /// nearest.
    fn search(
        &self,
        query: &[f32],
        n: usize,
        breadth: usize,
        skip: &dyn Fn(u32) -> bool,
    ) -> Vec<u32> {
        let q = self.items.query(query);
        let d = self.items.width;
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
            .take(breadth.max(1))
            .flat_map(|list| &self.members[list.1 as usize])
            .filter(|&&i| !skip(i))
            .map(|&i| Near(self.items.distance(&q, i), i))
            .collect();
        // Select the n nearest, then order only them: probed lists hold
        // far more items than n.
        if found.len() > n && n > 0 {
            found.select_nth_unstable(n - 1);
            found.truncate(n);
        }
        found.sort_unstable();
        found.into_iter().take(n).map(|near| near.1).collect()
    }

    fn inner_product(&self, query: &[f32], item: u32) -> f32 {
        self.items.inner_product(query, item)
    }

    fn vector_bytes(&self) -> usize {
        self.items.rows.len() * 4
    }

    fn overhead_bytes(&self) -> usize {
        self.centroids.len() * 4 + self.items.len() * 8
    }

    /// The centroids, then the probed lists' items (at their mean size).
    fn madds_per_query(&self, _n: usize, breadth: usize) -> u64 {
        let (d, lists) = (self.items.width as u64, self.members.len() as u64);
        let mean = self.items.len() as u64 / lists.max(1);
        d * (lists + (breadth as u64).min(lists) * mean)
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
            assert_eq!(
                index.search(q, 10, n, &skip),
                exact(&items, dim, q, 10, &skip)
            );
        }
    }

    /// Recall rises with the search's breadth over one built graph, and the
    /// same seed builds the same graph.
    #[test]
    fn hnsw_recall_grows_with_ef_and_the_build_is_seeded() {
        let (dim, n, k) = (16, 3000, 10);
        let items = random_items(n, dim, 5);
        let queries = random_items(50, dim, 6);
        let params = HnswParams {
            m: 6,
            ef_construction: 40,
            ef_search: 10,
        };
        let index = Hnsw::build(dim, &items, params, 7);
        let recall = |ef: usize| {
            let mut hits = 0;
            for q in queries.chunks_exact(dim) {
                let got = index.search(q, k, ef, &|_| false);
                let want = exact(&items, dim, q, k, &|_| false);
                hits += got.iter().filter(|i| want.contains(i)).count();
            }
            hits as f64 / (k * 50) as f64
        };
        let (low, high) = (recall(10), recall(200));
        assert!(high > low && high > 0.95, "recall {low} → {high}");
        let a = Hnsw::build(dim, &items, params, 7);
        let b = Hnsw::build(dim, &items, params, 7);
        assert_eq!((a.base, a.upper), (b.base, b.upper));
    }

    /// Unit vectors at 0°, 10°, 20° and −30° (their lift adds 0): seen
    /// from 0°, 20° lies nearer to 10° than to the base, so the heuristic
    /// drops it and keeps −30°; filling puts it back last.
    #[test]
    fn the_neighbour_heuristic_keeps_diverse_links_and_fill_adds_the_rest() {
        let items: Vec<f32> = [0.0f32, 10.0, 20.0, -30.0]
            .iter()
            .flat_map(|a| [a.to_radians().cos(), a.to_radians().sin()])
            .collect();
        let index = Hnsw::build(2, &items, HnswParams::default(), 1);
        let base = index.items.row(0).to_vec();
        let mut candidates: Vec<Near> = (1..4)
            .map(|k| Near(index.items.distance(&base, k), k))
            .collect();
        candidates.sort_unstable();
        assert_eq!(
            candidates.iter().map(|c| c.1).collect::<Vec<_>>(),
            [1, 2, 3]
        );
        assert_eq!(index.select(&candidates, 3, false), [1, 3]);
        assert_eq!(index.select(&candidates, 3, true), [1, 3, 2]);
        assert_eq!(index.select(&candidates, 1, true), [1]);
    }

    /// The build and the search compiled for this CPU's vector level give
    /// the graph and the lists the plain build gives, bit for bit.
    #[test]
    fn every_vector_level_builds_and_searches_alike() {
        let (dim, n) = (13, 800);
        let items = random_items(n, dim, 12);
        let params = HnswParams {
            m: 5,
            ef_construction: 30,
            ef_search: 20,
        };
        let dispatched = Hnsw::build(dim, &items, params, 13);
        let mut plain = Hnsw::empty(Lifted::new(dim, &items), params);
        build_graph_portable(&mut plain, &draw_levels(n, params.m, 13));
        assert_eq!(
            (&dispatched.base, &dispatched.upper, dispatched.entry),
            (&plain.base, &plain.upper, plain.entry)
        );
        for q in random_items(10, dim, 14).chunks_exact(dim) {
            let q = dispatched.items.query(q);
            assert_eq!(
                search_layer(&dispatched, &q, &[dispatched.entry], 20, 0),
                search_layer_portable(&plain, &q, &[plain.entry], 20, 0)
            );
        }
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
            assert_eq!(
                index.search(q, 15, 12, &skip),
                exact(&items, dim, q, 15, &skip)
            );
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
        assert!(one.search(q, 15, 1, &|_| false).len() <= 15);
    }
}
