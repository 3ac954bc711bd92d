//! # pimtl — permutation-invariant multi-task RL for sequential resource allocation
//!
//! An implementation of *Efficient Reinforcement Learning in Resource Allocation Problems Through
//! Permutation Invariant Multi-task Learning* (Cai, Lim, Wynter; arXiv 2102.09361).
//!
//! A policy that scores every entity with the same network and takes a softmax over the scores is
//! permutation-equivariant, `π(σx) = σπ(x)` (Definition 1). Every subset `U_t` of `m` entities out
//! of a universe of `M` is then a task (`C(M, m) ≥ (M/m)^m` of them, Corollary 2), and one shared
//! policy learns from all of them (Algorithm 1), with the sample-efficiency gain that Theorem 1
//! and Corollary 1 quantify.
//!
//! ## Quick start
//! ```
//! use pimtl::policy::{EquivariantPolicy, Input, PolicyConfig, Shape};
//! # fn main() -> pimtl::Result<()> {
//! // The paper's portfolio network (tanh RNN with 25 units over a window of 3 features per day).
//! let policy = EquivariantPolicy::<f32>::new(PolicyConfig::paper_portfolio(3), 0)?;
//! let x = vec![0.0f32; 4 * 10 * 3]; // one batch row, 4 assets, window 10
//! let prev = vec![0.25f32; 4];
//! let a = policy.allocate(&Input::new(&x, Some(&prev), Shape::new(1, 4, 10)))?;
//! assert!((a.iter().sum::<f32>() - 1.0).abs() < 1e-6);
//! # Ok(())
//! # }
//! ```
//!
//! ## The paper, section by section
//!
//! | paper | module | items |
//! |---|---|---|
//! | §3 allocations on the simplex | [`simplex`] | `softmax`, `softmax_vjp`, `entropy`, `validate_allocation` |
//! | §3 finite MDPs, Bellman operators | [`theory::mdp`] | `FiniteMdp`, `bellman`, `bellman_optimal`, `evaluate` |
//! | §4 Definition 1 | [`policy`] | `EquivariantPolicy` (tested in `tests/policy_props.rs`) |
//! | §4 Assumption 1, `C'`, `C''` | [`theory::bound`] | `concentrability`, `assumption1_c` |
//! | §4 Theorem 1 (appendix form) | [`theory::bound`] | `theorem1`, `BoundInputs`, `Bound` |
//! | §4 Bellman difference, ε | [`theory::mdp`] | `bellman_difference`, `epsilon` |
//! | §4 Corollaries 1–2 | [`theory::bound`], [`tasks`] | `corollary1`, `corollary2`, `binomial` |
//! | LSTD-Q / LSPI (Lazaric et al.) | [`theory::lspi`], [`theory::features`] | `lstd_q`, `lspi` |
//! | §5 task sampler | [`sampler`] | `TaskSampler`, `Scorer` implementations |
//! | §5 Algorithm 1 | [`learn::mtl`] | `Trainer`, `TaskEnvironment`, `UpdateRule`, `Mode` |
//! | §6.1 synthetic allocation, Fig. 1 | [`envs::synthetic`], [`experiments::fig1`] | `SyntheticAllocation`, `run` |
//! | §6.2 portfolio, direct policy gradient | [`envs::portfolio`], [`learn::pg`], [`replay`] | `PortfolioTasks`, `PolicyGradient`, `PortfolioVectorMemory` |
//! | §6.2 transaction costs (Jiang et al. 2017 eq. 14), back-test | [`portfolio`] | `Fee`, `Account`, `simulate`, `cost::transaction_remainder` |
//! | §6.2 baselines, A.1 protocol, Figs. 3–5 | [`baselines`], [`metrics`], [`experiments::portfolio`] | `EqualCrp`, `Olmar`, `Pamr`, `Momentum`, `Metrics` |
//! | §4 Cor. 1–2 controlled case (ε = 0) | [`data::planted`] | `PlantedMarket` (`--data planted:…`) |
//! | reports over repeated experiments | [`stats`] | `Interval::t95`, `sample_sd`, `paired`, `sign_test` |
//! | §A.2 clients, partitions, FedAvg | [`federated`], [`data::idx`] | `ConvNet`, `SoftmaxRegression`, `skewed_universe`, `dirichlet`, `run_federated` |
//! | §A.2 meta federated learning environment | [`envs::federated`] | `FederatedEnv`, `ClientPool`, `FederatedEnvConfig` |
//! | §A.2 PPO, stochastic simplex policy | [`learn::ppo`], [`learn::dirichlet`] | `Ppo`, `EpisodicTaskEnv`, `DirichletPolicy` |
//! | §A.2 Fig. 6 | [`experiments::federated`] | `run`, `write_results` |
//!
//! Conventions: every entry point takes a seed and uses a portable generator (`ChaCha8Rng`), so a
//! run is reproducible bit for bit single-threaded on the same machine; every error is a
//! [`Error`] naming the parameter, or the file, line and column; library code does not panic on
//! user input.
#![deny(missing_docs)]

pub mod baselines;
pub mod cli;
pub mod data;
pub mod envs;
pub mod error;
pub mod experiments;
pub mod federated;
pub mod io;
pub mod learn;
pub mod metrics;
pub mod plot;
pub mod policy;
pub mod portfolio;
pub mod replay;
pub mod sampler;
pub mod simplex;
pub mod stats;
pub mod tasks;
pub mod theory;

pub use error::{Error, Result};
