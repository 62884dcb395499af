//! recsweep: offline evaluation of recommender models.
//!
//! A YAML spec names a dataset, a split, models and a sweep of knobs; the
//! runner trains and evaluates every trial with full-ranking metrics and
//! stores per-user results from which reports are built. Each module is one
//! arrow of the data flow in docs/architecture.md.

pub mod ann;
pub mod check;
pub mod claim;
pub mod data;
pub mod describe;
pub mod eval;
pub mod export;
pub mod external;
pub mod format;
pub mod inequality;
pub mod init;
pub mod models;
pub mod per_user_file;
pub mod plan;
pub mod report;
pub mod results;
pub mod runner;
pub mod scale;
pub mod seed;
pub mod simd;
pub mod simulation;
pub mod spec;
pub mod split;
pub mod stats;
pub mod store;
pub mod sweep;
pub mod table;
pub mod topk;
