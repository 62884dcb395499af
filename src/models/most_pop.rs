//! MostPop: every user gets the catalogue ordered by train popularity. The
//! floor any personalised model must clear, and the most biased one.

use super::{
    shared, FitInput, Fitted, ModelConfig, ModelError, ModelKind, Params, Popularity, Scorer,
    ServingCost,
};
use crate::data::{FeatureNames, Side};

param_table! {
    pub struct MostPopParams {
        popularity: Popularity = Popularity::None => shared::POPULARITY,
    }
}

impl Params for MostPopParams {
    const KIND: ModelKind = ModelKind::MostPop;
}

impl ModelConfig for MostPopParams {
    config_basics!(stochastic: false);

    /// Popularity needs nothing of a user, so a cold user gets the list
    /// everyone gets; a cold item has no popularity of its own (0).
    fn scores_cold(&self, side: Side, _: &FeatureNames) -> bool {
        side == Side::Users
    }

    fn fit(&self, input: &FitInput) -> Result<Fitted, ModelError> {
        Ok(Fitted::new(Box::new(MostPop {
            scores: input.item_popularity.iter().map(|&n| n as f32).collect(),
        })))
    }
}

struct MostPop {
    scores: Vec<f32>,
}

impl Scorer for MostPop {
    fn score_block(&self, _users: &[u32], out: &mut [f32]) {
        for row in out.chunks_exact_mut(self.scores.len()) {
            row.copy_from_slice(&self.scores);
        }
    }

    fn cost(&self) -> ServingCost {
        ServingCost {
            parameters: self.scores.len() as u64,
            madds_per_user: 0,
        }
    }
}
