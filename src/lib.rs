//! # pimtl — permutation-invariant multi-task RL for sequential resource allocation
//!
//! (crate docs are written at the end of the foundation work)
#![deny(missing_docs)]

pub mod baselines;
pub mod data;
pub mod envs;
pub mod error;
pub mod experiments;
pub mod io;
pub mod learn;
pub mod metrics;
pub mod plot;
pub mod policy;
pub mod replay;
pub mod sampler;
pub mod simplex;
pub mod tasks;
pub mod theory;

pub use error::{Error, Result};
