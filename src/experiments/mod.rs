//! Experiment drivers, one per figure or demo; the CLI (`src/main.rs`) only parses arguments and
//! calls these.

pub mod baselines;
pub mod bound;
pub mod demo;
pub mod federated;
pub mod fig1;
pub mod portfolio;
pub mod report;
pub mod runner;
