//! Embedding analysis of models with item embeddings (two_tower, mf, ials):
//! k-means clusters of the item vectors (linfa-clustering) give two
//! beyond-accuracy metrics of the top-K lists, and PCA (linfa-reduction)
//! gives a 2-D map of the items. Dot-product models place items that are
//! co-consumed close together, so clusters are a cheap proxy for "genres"
//! and a list that stays inside one cluster is a list of near-duplicates.
//!
//! - `cluster_coverage@K`: distinct clusters among a list's first K items,
//!   divided by K (capped at 1), averaged over users.
//! - `ild@K` (intra-list diversity): mean over pairs of a list's first K
//!   items of the cosine distance 1 − cos(v_i, v_j), averaged over users.

use std::fmt::Write;

use super::markdown::{figures, push_table, section, table};
use super::{Report, Section};

use linfa::prelude::*;
use linfa_clustering::KMeans;
use linfa_reduction::Pca;
use ndarray::Array2;
use serde::Serialize;

/// Item vectors with their clusters.
pub struct ItemSpace {
    dim: usize,
    /// Unit-length rows (zero rows stay zero).
    unit: Vec<f64>,
    pub clusters: Vec<usize>,
    pub n_clusters: usize,
}

/// What the report shows for one configuration.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct EmbeddingRow {
    pub model: String,
    pub knobs: String,
    pub k: usize,
    pub clusters: usize,
    pub cluster_coverage: f64,
    pub ild: f64,
    /// Share of the PCA map's variance along its two axes.
    pub explained_variance: f64,
}

#[derive(Debug, thiserror::Error)]
#[error("embedding analysis: {0}")]
pub struct EmbeddingError(String);

fn unit_rows(dim: usize, values: &[f32]) -> Vec<f64> {
    let mut out: Vec<f64> = values.iter().map(|&v| f64::from(v)).collect();
    for row in out.chunks_exact_mut(dim.max(1)) {
        let norm = row.iter().map(|v| v * v).sum::<f64>().sqrt();
        if norm > 0.0 {
            row.iter_mut().for_each(|v| *v /= norm);
        }
    }
    out
}

impl ItemSpace {
    /// Clusters the items' directions (unit vectors: a dot-product model's
    /// scores depend on direction and norm, and norm mostly tracks
    /// popularity). k-means runs from linfa's fixed seed, so the same
    /// vectors always give the same clusters.
    pub fn cluster(dim: usize, values: &[f32], n_clusters: usize) -> Result<Self, EmbeddingError> {
        let unit = unit_rows(dim, values);
        let n = unit.len() / dim.max(1);
        let n_clusters = n_clusters.clamp(1, n.max(1));
        let records = Array2::from_shape_vec((n, dim), unit.clone())
            .map_err(|e| EmbeddingError(e.to_string()))?;
        let dataset = DatasetBase::from(records.clone());
        let model = KMeans::params(n_clusters)
            .n_runs(3)
            .max_n_iterations(100)
            .tolerance(1e-6)
            .fit(&dataset)
            .map_err(|e| EmbeddingError(e.to_string()))?;
        let clusters = model.predict(&records).to_vec();
        Ok(Self {
            dim,
            unit,
            clusters,
            n_clusters,
        })
    }

    fn row(&self, i: u32) -> &[f64] {
        &self.unit[i as usize * self.dim..(i as usize + 1) * self.dim]
    }

    /// Distinct clusters in the first `k` items, over `k`, capped at 1.
    pub fn cluster_coverage(&self, list: &[u32], k: usize) -> f64 {
        let mut seen: Vec<usize> = list
            .iter()
            .take(k)
            .map(|&i| self.clusters[i as usize])
            .collect();
        seen.sort_unstable();
        seen.dedup();
        (seen.len() as f64 / k as f64).min(1.0)
    }

    /// Mean pairwise cosine distance of the first `k` items (0 for lists
    /// of fewer than two).
    pub fn ild(&self, list: &[u32], k: usize) -> f64 {
        let list = &list[..k.min(list.len())];
        let mut sum = 0.0;
        let mut pairs = 0usize;
        for (a, &i) in list.iter().enumerate() {
            for &j in &list[a + 1..] {
                let cos: f64 = self
                    .row(i)
                    .iter()
                    .zip(self.row(j))
                    .map(|(x, y)| x * y)
                    .sum();
                sum += 1.0 - cos;
                pairs += 1;
            }
        }
        if pairs == 0 {
            0.0
        } else {
            sum / pairs as f64
        }
    }
}

/// Both metrics averaged over the lists.
pub fn list_metrics(space: &ItemSpace, lists: &[Vec<u32>], k: usize) -> (f64, f64) {
    let n = lists.len().max(1) as f64;
    let coverage = lists
        .iter()
        .map(|l| space.cluster_coverage(l, k))
        .sum::<f64>()
        / n;
    let ild = lists.iter().map(|l| space.ild(l, k)).sum::<f64>() / n;
    (coverage, ild)
}

/// 2-D PCA coordinates of the raw item vectors and the share of variance
/// the two axes explain.
pub fn pca_map(dim: usize, values: &[f32]) -> Result<(Vec<(f64, f64)>, f64), EmbeddingError> {
    let n = values.len() / dim.max(1);
    if n < 3 {
        return Err(EmbeddingError(format!("{n} items are too few for a map")));
    }
    let records = Array2::from_shape_vec((n, dim), values.iter().map(|&v| f64::from(v)).collect())
        .map_err(|e| EmbeddingError(e.to_string()))?;
    let total: f64 = {
        let mean = records.mean_axis(ndarray::Axis(0)).expect("items");
        (&records - &mean).mapv(|v| v * v).sum()
    };
    let pca = Pca::params(2.min(dim))
        .fit(&DatasetBase::from(records.clone()))
        .map_err(|e| EmbeddingError(e.to_string()))?;
    // Squared singular values of the centred data: the variance along each
    // axis times (n − 1), as `total` is.
    let explained = pca.singular_values().mapv(|s| s * s).sum();
    let coords = pca.predict(&records);
    if coords.ncols() == 0 {
        // Every item vector equal (e.g. all zero under a huge ridge): no axis.
        return Err(EmbeddingError("the item vectors have no variance".into()));
    }
    let points = (0..n)
        // PCA keeps at most n − 1 axes: a second one may not exist.
        .map(|i| {
            let second = if coords.ncols() > 1 {
                coords[(i, 1)]
            } else {
                0.0
            };
            (coords[(i, 0)], second)
        })
        .collect();
    Ok((points, if total > 0.0 { explained / total } else { 0.0 }))
}

pub(super) fn render(out: &mut String, report: &Report) {
    if report.embedding.is_empty() {
        return;
    }
    section(out, "Embedding analysis");
    let k = report.embedding[0].k;
    let _ = writeln!(
        out,
        "For selected models with item embeddings: k-means clusters of the item vectors' directions (linfa), and two beyond-accuracy measures of the test top-{k} lists, \
         averaged over users and seeds: `cluster_coverage@{k}` (distinct clusters in a list / {k}) and `ild@{k}` (mean pairwise cosine distance of the list's items; \
         higher = less redundant). Definitions in docs/metrics.md. The maps project the item embeddings on their first two principal components, \
         shaded by popularity decile, showing whether popular items sit apart from the tail.\n"
    );
    let mut t = table(&[
        "model",
        "configuration",
        "clusters",
        &format!("cluster_coverage@{k}"),
        &format!("ild@{k}"),
        "PCA variance (2 axes)",
    ]);
    for row in &report.embedding {
        t.push_record([
            row.model.clone(),
            row.knobs.clone(),
            row.clusters.to_string(),
            format!("{:.4}", row.cluster_coverage),
            format!("{:.4}", row.ild),
            format!("{:.1}%", 100.0 * row.explained_variance),
        ]);
    }
    push_table(out, t);
    figures(out, report, Section::Embedding);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Four items in 2-D: two pointing east, one north, one west.
    fn space() -> ItemSpace {
        let values = [1.0, 0.0, 2.0, 0.0, 0.0, 1.0, -1.0, 0.0];
        ItemSpace {
            dim: 2,
            unit: unit_rows(2, &values),
            clusters: vec![0, 0, 1, 2],
            n_clusters: 3,
        }
    }

    #[test]
    fn cluster_coverage_counts_distinct_clusters_over_k() {
        let s = space();
        assert_eq!(s.cluster_coverage(&[0, 1, 2], 3), 2.0 / 3.0);
        assert_eq!(s.cluster_coverage(&[0, 2, 3], 3), 1.0);
        // Only the first K items count.
        assert_eq!(s.cluster_coverage(&[0, 1, 2, 3], 2), 0.5);
    }

    #[test]
    fn ild_is_the_mean_pairwise_cosine_distance() {
        let s = space();
        // Pairs (0,1): 0, (0,2): 1, (1,2): 1 → 2/3; norms do not matter.
        assert!((s.ild(&[0, 1, 2], 3) - 2.0 / 3.0).abs() < 1e-12);
        // East and west: distance 2.
        assert!((s.ild(&[0, 3], 2) - 2.0).abs() < 1e-12);
        assert_eq!(s.ild(&[0], 5), 0.0);
    }

    #[test]
    fn kmeans_separates_obvious_directions_and_is_repeatable() {
        // Three tight bundles of directions.
        let mut values = Vec::new();
        for k in 0..30 {
            let eps = 0.01 * (k % 10) as f32;
            values.extend(match k / 10 {
                0 => [1.0, eps, 0.0],
                1 => [eps, 1.0, 0.0],
                _ => [0.0, eps, 1.0],
            });
        }
        let a = ItemSpace::cluster(3, &values, 3).unwrap();
        let b = ItemSpace::cluster(3, &values, 3).unwrap();
        assert_eq!(a.clusters, b.clusters);
        for group in a.clusters.chunks(10) {
            assert!(group.iter().all(|&c| c == group[0]), "{:?}", a.clusters);
        }
        let mut firsts = vec![a.clusters[0], a.clusters[10], a.clusters[20]];
        firsts.dedup();
        assert_eq!(firsts.len(), 3);
    }

    #[test]
    fn identical_vectors_have_no_map() {
        let values = vec![0.0f32; 4 * 3];
        assert!(pca_map(3, &values).is_err());
    }

    #[test]
    fn pca_of_points_on_a_plane_explains_all_variance() {
        // Points in the x–y plane of 3-D space.
        let values: Vec<f32> = (0..20)
            .flat_map(|i| [i as f32, (i * i % 7) as f32, 0.0])
            .collect();
        let (points, explained) = pca_map(3, &values).unwrap();
        assert_eq!(points.len(), 20);
        assert!((explained - 1.0).abs() < 1e-9, "{explained}");
    }
}
