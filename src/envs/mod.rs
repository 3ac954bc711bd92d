//! Environments: the data and dynamics that turn a task's allocations into rewards.

pub mod episode;
pub mod federated;
pub mod portfolio;
pub mod synthetic;
pub mod synthetic_tasks;
