//! ItemKNN: cosine item–item similarity with shrinkage, pruned to each item's
//! top-N neighbours; a user's score for i sums the similarities of i to the
//! items in their history (the item-based CF of Sarwar et al. 2001, as in
//! implicit's ItemItemRecommender).

use rayon::prelude::*;

use super::{
    shared, FitInput, Fitted, ModelConfig, ModelError, ModelKind, ParamDoc, Params, Popularity,
    Rule, Scorer, ServingCost,
};
use crate::data::CsrMatrix;

param_table! {
    pub struct ItemKnnParams {
        neighbors: usize = 100 => ParamDoc::new(Rule::Count(1, usize::MAX), "neighbours kept per item"),
        shrinkage: f64 = 10.0 => ParamDoc::new(
            Rule::NON_NEGATIVE,
            "sim(i,j) = #(U_i ∩ U_j) / (√#U_i·√#U_j + shrinkage), U_i the users of item i: damps similarities few co-occurrences support",
        ),
        popularity: Popularity = Popularity::None => shared::POPULARITY,
    }
}

impl Params for ItemKnnParams {
    const KIND: ModelKind = ModelKind::Itemknn;
}

impl ModelConfig for ItemKnnParams {
    config_basics!(stochastic: false);

    fn fit(&self, input: &FitInput) -> Result<Fitted, ModelError> {
        let x = input.train;
        let by_item = x.transpose();
        let n_items = x.n_cols();
        let norms: Vec<f64> = input
            .item_popularity
            .iter()
            .map(|&n| f64::from(n).sqrt())
            .collect();
        let neighbours: Vec<Vec<(u32, f32)>> = (0..n_items)
            .into_par_iter()
            .map_init(
                || vec![0u32; n_items],
                |co, j| self.neighbours_of(j, x, &by_item, &norms, co),
            )
            .collect();
        Ok(Fitted::new(Box::new(ItemKnn {
            neighbours,
            train: x.clone(),
            n_items,
        })))
    }
}

impl ItemKnnParams {
    /// Item j's top neighbours by shrunk cosine; `co` is a zeroed scratch of
    /// co-occurrence counts, left zeroed.
    fn neighbours_of(
        &self,
        j: usize,
        x: &CsrMatrix,
        by_item: &CsrMatrix,
        norms: &[f64],
        co: &mut [u32],
    ) -> Vec<(u32, f32)> {
        let mut touched = Vec::new();
        for &u in by_item.row(j) {
            for &i in x.row(u as usize) {
                if co[i as usize] == 0 {
                    touched.push(i);
                }
                co[i as usize] += 1;
            }
        }
        let mut sims: Vec<(u32, f32)> = touched
            .iter()
            .filter(|&&i| i as usize != j)
            .map(|&i| {
                let c = f64::from(co[i as usize]);
                (
                    i,
                    (c / (norms[j] * norms[i as usize] + self.shrinkage)) as f32,
                )
            })
            .collect();
        for &i in &touched {
            co[i as usize] = 0;
        }
        let by_similarity =
            |a: &(u32, f32), b: &(u32, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
        if sims.len() > self.neighbors {
            sims.select_nth_unstable_by(self.neighbors - 1, by_similarity);
            sims.truncate(self.neighbors);
        }
        sims.sort_unstable_by(by_similarity);
        sims
    }
}

struct ItemKnn {
    /// neighbours[j]: (i, sim(j, i)) for j's kept neighbours i.
    neighbours: Vec<Vec<(u32, f32)>>,
    train: CsrMatrix,
    n_items: usize,
}

impl Scorer for ItemKnn {
    fn score_block(&self, users: &[u32], out: &mut [f32]) {
        out.fill(0.0);
        for (row, &u) in out.chunks_exact_mut(self.n_items).zip(users) {
            for &j in self.train.row(u as usize) {
                for &(i, s) in &self.neighbours[j as usize] {
                    row[i as usize] += s;
                }
            }
        }
    }

    fn cost(&self) -> ServingCost {
        let kept: u64 = self.neighbours.iter().map(|n| n.len() as u64).sum();
        let users = self.train.n_rows().max(1) as u64;
        let touched: u64 = self
            .train
            .pairs()
            .map(|(_, j)| self.neighbours[j as usize].len() as u64)
            .sum();
        ServingCost {
            parameters: kept,
            madds_per_user: touched / users,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn similarities_follow_the_shrunk_cosine() {
        // Items 0 and 1 share users 0 and 1; item 2 is held by user 2 alone.
        let x = CsrMatrix::from_pairs(3, 3, &[(0, 0), (0, 1), (1, 0), (1, 1), (2, 2), (2, 0)]);
        let pop = x.column_counts(); // [3, 2, 1]
        let params = ItemKnnParams {
            neighbors: 1,
            shrinkage: 1.0,
            popularity: Popularity::None,
        };
        let model = params
            .fit(&FitInput::interactions(&x, &pop, 0))
            .unwrap()
            .scorer;
        // sim(0,1) = 2 / (√3·√2 + 1); sim(0,2) = 1 / (√3 + 1) is smaller: pruned.
        let mut out = vec![0.0; 3];
        model.score_block(&[1], &mut out);
        // User 1 holds 0 and 1: score(1) = sim(0,1), score(0) = sim(1,0).
        let s01 = (2.0 / (3f64.sqrt() * 2f64.sqrt() + 1.0)) as f32;
        assert!(
            (out[1] - s01).abs() < 1e-6 && (out[0] - s01).abs() < 1e-6,
            "{out:?}"
        );
        assert_eq!(out[2], 0.0);
    }
}
