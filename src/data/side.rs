//! The two sides of an interaction: what a feature table, a cold-start
//! split or a tower describes.

use serde::{Deserialize, Serialize};

/// Which side of the interaction a table describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Users,
    Items,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Users => "users",
            Side::Items => "items",
        }
    }

    /// `user` or `item`, for messages.
    pub fn singular(self) -> &'static str {
        match self {
            Side::Users => "user",
            Side::Items => "item",
        }
    }

    pub(super) fn default_id(self) -> &'static str {
        match self {
            Side::Users => "user_id",
            Side::Items => "item_id",
        }
    }
}
