//! # Theory you can run: §3–§4 and the appendix of the paper on finite MDPs
//!
//! Every quantity in Theorem 1 of the paper (a multi-task extension of Lazaric, Ghavamzadeh &
//! Munos 2012, Theorem 8) is computable here on a finite MDP, or is an explicit input.
//!
//! | paper | code |
//! |---|---|
//! | §3: MDP `M_t = ⟨X, A, R_t, P_t, γ⟩`, `R_t^π`, `P_t^π` | [`mdp::FiniteMdp`], [`mdp::FiniteMdp::reward_vector`], [`mdp::FiniteMdp::transition_matrix`] |
//! | §3: Bellman operator `T_t^π`, fixed point `V_t^π` | [`mdp::FiniteMdp::bellman`], [`mdp::FiniteMdp::evaluate`] |
//! | §3: optimal operator, `π_t^*`, `V_t^{π_t^*}` | [`mdp::FiniteMdp::bellman_optimal`], [`mdp::FiniteMdp::value_iteration`], [`mdp::FiniteMdp::policy_iteration`] |
//! | §3: stationary distribution `ρ_t^π` | [`mdp::FiniteMdp::stationary_distribution`] |
//! | §3: weighted norm `‖f‖_ρ` | [`mdp::weighted_l2`] |
//! | Definition 1 (relabelling entities) | [`mdp::FiniteMdp::permuted`] |
//! | Theorem 1: Bellman difference `D_t^π V = T_t^π V − T^π V` | [`mdp::bellman_difference`] |
//! | Theorem 1: `‖D_t^π V^π‖_μ ≤ ε ∀π` | [`mdp::epsilon`] |
//! | Corollary 1: the average MDP (mean `R`, mean `P`) | [`mdp::FiniteMdp::average`] |
//! | Assumption 1: `μ ≤ C ρ^π` | [`bound::assumption1_c`] |
//! | Assumption 1: `c_{σ,μ}(m)`, `C'_{σ,μ}`, `C''_{σ,μ}` | [`bound::concentrability`], [`bound::ConcentrabilitySeries`] |
//! | Theorem 1 (appendix form, all constants explicit) | [`bound::theorem1`] |
//! | Lazaric et al. (2012) Theorem 8 (cross-check, `ε = 0`) | [`bound::lazaric_theorem8`] |
//! | Corollary 1 (`N → N·T`) | [`bound::corollary1`] |
//! | Corollary 2 (`T = C(M, m) ≥ (M/m)^m`) | [`bound::corollary2`] |
//!
//! The linear feature spaces `F` and LSTD-Q/LSPI live in sibling modules written separately.

pub mod bound;
pub mod features;
pub mod lspi;
pub mod mdp;
