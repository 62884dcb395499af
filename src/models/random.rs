//! Random: a uniform score per (user, item), from a counter-based hash rather
//! than a stream, so a user's scores do not depend on block size or threads.

use crate::seed::mix;

use super::{
    shared, FitInput, Fitted, ModelConfig, ModelError, ModelKind, Params, Popularity, Scorer,
    ServingCost,
};
use crate::data::{FeatureNames, Side};

param_table! {
    pub struct RandomParams {
        popularity: Popularity = Popularity::None => shared::POPULARITY,
    }
}

impl Params for RandomParams {
    const KIND: ModelKind = ModelKind::Random;
}

impl ModelConfig for RandomParams {
    config_basics!(stochastic: true);

    /// Random scores are the floor any cold-start model must beat.
    fn scores_cold(&self, _: Side, _: &FeatureNames) -> bool {
        true
    }

    fn fit(&self, input: &FitInput) -> Result<Fitted, ModelError> {
        Ok(Fitted::new(Box::new(Random {
            seed: input.seed,
            n_items: input.item_popularity.len(),
        })))
    }
}

struct Random {
    seed: u64,
    n_items: usize,
}

impl Scorer for Random {
    fn score_block(&self, users: &[u32], out: &mut [f32]) {
        for (row, &u) in out.chunks_exact_mut(self.n_items).zip(users) {
            let base = mix(self.seed ^ mix(u64::from(u)));
            for (i, s) in row.iter_mut().enumerate() {
                *s = (mix(base ^ i as u64) >> 40) as f32 / (1u64 << 24) as f32;
            }
        }
    }

    fn cost(&self) -> ServingCost {
        ServingCost {
            parameters: 0,
            madds_per_user: self.n_items as u64,
        }
    }
}
