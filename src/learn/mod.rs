//! Learning: Algorithm 1 (prioritised multi-task RL) and the update rules it is run with.
//!
//! * [`mtl`]: Algorithm 1 as a loop generic over a [`mtl::TaskEnvironment`] and an
//!   [`mtl::UpdateRule`]; STL, MTL (α = 0) and P-MTL (α > 0); checkpoints and exact resume.
//! * [`pg`]: direct policy gradient on differentiable rewards (§6.2),
//!   `θ ← θ + η ∇θ (1/B) Σ_n w_t R_t(x_n, π_θ(x_n))`.
//! * [`ppo`]: Algorithm 1 with PPO updates for episodic tasks (§A.2): clipped surrogate, GAE, a
//!   linear invariant value baseline, IS weights from the task sampler.
//! * [`dirichlet`]: the stochastic simplex policy PPO explores with, `w ~ Dirichlet(κ π_θ(x) + α_min)`.

pub mod dirichlet;
pub mod mtl;
pub mod pg;
pub mod ppo;
