//! The empirical-validity study of Theorem 1 (§4 and the appendix) and the engine of
//! `pimtl bound`.
//!
//! ## What is measured
//! For a family of `T` finite MDPs `M_1 … M_T` (random, with a controlled spread, or read from a
//! JSON file, see [`parse_mdp_family`]):
//!
//! 1. **Samples.** For every task, `N` i.i.d. transitions `(x, a, R_t(x, a), x' ~ P_t(·|x, a))`
//!    with `x ~ μ` and `a` uniform over the actions, held as transition counts `n_t(x, a, x')`
//!    (a sufficient statistic of tabular LSTD-Q, drawn as multinomials — exactly the
//!    distribution of `N` sequential draws — so `N` can reach 10¹³ at the cost of `S·A·S`
//!    numbers). Pooling the `T` count tables gives `N·T` samples whose empirical model converges
//!    to the **average MDP** `M` (mean `R`, mean `P`), which is what Corollary 1 runs LSPI on.
//!    Tables are nested: the one for `N` contains the one for every smaller `N` (common random
//!    numbers across `N`).
//! 2. **LSPI** on the pooled counts with the tabular state–action basis
//!    ([`TabularBasis`], `d = S·A`; [`LstdQ::add_weighted`] per distinct transition), greedy
//!    steps on `Q` truncated to `[−V_max, V_max]`, zero initial weights, ridge
//!    [`BoundConfig::ridge`], at most [`BoundConfig::max_iterations`] LSTD-Q solves. It stops
//!    early only at an exact fixed point (the greedy policy on *all* states repeats, so every
//!    further iteration would return identical weights); the policy after `K` iterations is then
//!    the final one, which is why the bound is evaluated with `K` = the cap.
//! 3. **Measured suboptimality** `‖V_t^* − V_t^{π_K}‖_σ` for every task, exactly: `V_t^*` by
//!    policy iteration, `V_t^{π_K}` by an LU solve, `σ` uniform — for three arms: the pooled
//!    (multi-task) policy, the **single-task** policy (LSPI on task `t`'s own `N` samples:
//!    Corollary 1's gain is `single − pooled`, measured, not assumed), and LSPI on `N·T` samples
//!    of task `t` itself (as many *real* samples as the pooled set: the analogue of Fig. 1's
//!    "real" arm, the pooled set being its "augmented" one; `pooled − single N·T` is the price of
//!    `ε`).
//! 4. **The right-hand side** of Theorem 1 (appendix form, [`crate::theory::bound::theorem1`] via [`corollary1`] with
//!    `N → N·T`) for every task, term by term, and the single-task bound (Theorem 1 with
//!    `ε = 0`, `N`, `C` and `C''` of `M_t`).
//! 5. **Where the bound stops being vacuous**: [`nonvacuous_frontier`] — for `S = 2, 3, …` the
//!    smallest `N` at which each bound is applicable — and one chart per spread level of the
//!    measured suboptimality against both bounds over `N` ([`write_results`]).

//! ## Choices (documented, all computed on the finite family)
//! * `σ = μ = uniform` over the states (`μ` is also the sampling distribution, so the samples
//!   are i.i.d. from `μ × uniform(A)`: [`Mixing::iid`]).
//! * The policy set over which `ε` (first condition) and `C` of Assumption 1 are maximised: all
//!   `A^S` deterministic policies when `A^S ≤` [`MAX_POLICY_SET`] — with the tabular basis every
//!   deterministic policy is greedy with respect to some function of `F̃`, so this is exactly
//!   the set Assumption 1 and Theorem 1 quantify over. Above that, a restricted set (the optimal
//!   policies of the tasks and of `M` plus every greedy policy LSPI visited); `ε` and `C` are then
//!   lower estimates of the suprema and the result says so ([`BoundResults::policy_set`]).
//! * Theorem 1's **second** condition `‖D_t^{π_k} Ṽ_{k−1}‖_μ ≤ ε ∀k` is measured on the actual
//!   LSPI iterates (`Ṽ(x) = max_a Q̃(x, a)`), and the `ε` fed to the bound is the larger of the
//!   two ([`BoundRow::epsilon`]).
//! * Learner inputs for the tabular basis: `d = S·A`, `L = 1` ([`feature_bound`]),
//!   `ω_μ = min_{s,a} μ(s)/A` (the smallest eigenvalue of the state–action Gram matrix under
//!   `μ × uniform(A)`, [`gram_min_eigenvalue`]), `E_0 = 0` up to rounding
//!   ([`approximation_error`] of the tabular state space on `M` over the policy set), and
//!   `E_1`, `E_2`, `ν_μ` from [`lazaric_sample_terms`] at `n = N·T` with i.i.d. mixing.
//! * `C'` and `C''` are the tail-inclusive upper bounds of the truncated series
//!   ([`FamilyInputs::bound_inputs`]), truncated at [`BoundConfig::truncation`].
//!
//! ## Honest reporting
//! At every practical `N` of the default study the bound is vacuous (it needs `N ≈ 10¹²` per
//! task at `S = 8`; papers/theory.md §3.6 runs the small-`S` regime where it is not). A row is `applicable` only when Lemma 4 of
//! Lazaric et al. holds at `N·T` **and** [`corollary1`] returns [`Bound::Applicable`]; otherwise
//! [`BoundRow::kind`] says why (`lemma4`, `vacuous`, `infinite-concentrability`, joined by `+`)
//! and the terms are **still reported** — when Lemma 4 fails, `ν_μ` does not exist and the terms
//! use its supremum `ω_μ/4` (the most favourable value any `N` can give), so the reported total
//! under-states the formula. [`BoundRow::required_n_per_task`] is the smallest `N` per task at
//! which the bound would become applicable with every other input fixed.
//!
//! Caveats: Theorem 1 assumes a fresh sample path at each iteration and holds with probability
//! `1 − δ` per task; the study reuses one pooled sample set for all iterations (as LSPI is used in
//! practice). With the bound vacuous, "measured ≤ bound" is guaranteed by `‖V^* − V^π‖ ≤ 2V_max`
//! and says nothing about tightness — the margins are the informative number.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Instant;

use super::runner::{self, ExperimentConfig};
use nalgebra::{DMatrix, DVector};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Binomial, Distribution};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::io::write_atomic;
use crate::theory::bound::{
    approximation_error, assumption1_c, corollary1, feature_bound, finite_family_inputs, gram_min_eigenvalue,
    lazaric_sample_terms, theorem1, Bound, BoundInputs, Failure, FamilyInputs, LearnerInputs, Mixing,
};
use crate::theory::features::{Features, TabularBasis};
use crate::theory::lspi::{greedy_table, truncate, LstdQ, DEFAULT_RIDGE};
use crate::theory::mdp::{
    all_deterministic_policies, bellman_difference, weighted_l2, FiniteMdp, TabularPolicy,
};

/// Largest `A^S` for which `ε` and `C` are maximised over all deterministic policies.
pub const MAX_POLICY_SET: usize = 4096;

use crate::data::mdp::check_sizes;
pub use crate::data::mdp::{load_mdp_family, parse_mdp_family, MAX_STATE_ACTIONS};

/// Largest Gram matrix (`d`) whose eigenvalues are computed numerically; above it the tabular
/// basis's diagonal Gram matrix gives `ω_μ = min μ(s)/A` in closed form.
const MAX_EIGEN_DIM: usize = 256;

/// Largest pooled sample size `max N · T`: samples are held as transition counts (a
/// sufficient statistic of tabular LSTD-Q), exact integers in `f64` up to `2^53`; the limit
/// keeps every sum of counts below that.
pub const MAX_POOLED_SAMPLES: usize = 1 << 50;

/// Largest pooled sample size searched for [`BoundRow::required_n_per_task`].
const MAX_SEARCH_N: f64 = 1e40;

/// Settings of the study: the command line of `pimtl bound` (each `default_value` is the study
/// reported in papers/theory.md: S = 8, A = 2 (256 deterministic policies), γ = 0.8, T = 8,
/// spreads {0, 0.02, 0.05, 0.1, 0.2, 0.4}, 20 families each, N ∈ {10, 100, 1000, 10000}, K = 50,
/// δ = 0.05) and the `config` object of its `config.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, clap::Args)]
pub struct BoundConfig {
    /// Number of states S of the random MDPs (ignored with --mdp).
    #[arg(long, default_value_t = 8)]
    pub states: usize,
    /// Number of actions A of the random MDPs (ignored with --mdp).
    #[arg(long, default_value_t = 2)]
    pub actions: usize,
    /// Discount γ ∈ (0, 1) of the random MDPs (ignored with --mdp, whose file sets its own).
    #[arg(long, default_value_t = 0.8, allow_negative_numbers = true)]
    pub gamma: f64,
    /// Number of tasks T per family (ignored with --mdp).
    #[arg(long, default_value_t = 8)]
    pub tasks: usize,
    /// Task-spread levels s ∈ [0, 1] (repeat the option): task t has R_t = R + s·U[−1, 1] (i.i.d.
    /// per entry) and P_t = (1 − s)·P + s·K_t with K_t a random kernel, around a random base MDP
    /// (R, P); s = 0 makes all tasks identical (ε = 0). Ignored with --mdp.
    #[arg(long = "spread", default_values_t = [0.0f64, 0.02, 0.05, 0.1, 0.2, 0.4], allow_negative_numbers = true)]
    pub spreads: Vec<f64>,
    /// Random families per spread level (ignored with --mdp, whose file is one family).
    #[arg(long, default_value_t = 20)]
    pub families: usize,
    /// Samples per task N (repeat the option; each ≥ 1); LSPI sees N·T pooled samples.
    #[arg(long = "samples", default_values_t = [10usize, 100, 1000, 10_000])]
    pub samples_per_task: Vec<usize>,
    /// LSPI iteration cap K (≥ 1), also the K of the bound.
    #[arg(long, default_value_t = 50)]
    pub max_iterations: usize,
    /// Confidence δ ∈ (0, 1) of the bound.
    #[arg(long, default_value_t = 0.05, allow_negative_numbers = true)]
    pub delta: f64,
    /// Ridge λ ≥ 0 of LSTD-Q (absolute, added to A's diagonal).
    #[arg(long, default_value_t = DEFAULT_RIDGE, allow_negative_numbers = true)]
    pub ridge: f64,
    /// Truncation M ≥ 1 of the concentrability series C', C'' (their tails are bounded and added).
    #[arg(long, default_value_t = 200)]
    pub truncation: usize,
    /// Master seed: every family, sample set and kernel derives from it.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// A JSON file with the family: {"gamma": g, "tasks": [{"states", "actions", "rewards",
    /// "transitions"}, …]} (see parse_mdp_family); without it random families are generated.
    #[arg(long = "mdp")]
    pub mdp_file: Option<PathBuf>,
}

impl ExperimentConfig for BoundConfig {
    const NAME: &'static str = "bound";

    /// A small preset (a few seconds): S = 4, A = 2, γ = 0.8, T = 3, spreads {0, 0.1, 0.3}, 3
    /// families each, N ∈ {50, 500}, K = 30.
    fn quick_preset() -> serde_json::Value {
        serde_json::json!({
            "states": 4,
            "tasks": 3,
            "spreads": [0.0, 0.1, 0.3],
            "families": 3,
            "samples_per_task": [50, 500],
            "max_iterations": 30,
        })
    }

    fn validate(&self) -> Result<()> {
        BoundConfig::validate(self)
    }

    fn data_files(&self) -> Vec<PathBuf> {
        self.mdp_file.iter().cloned().collect()
    }
}

impl BoundConfig {
    /// The small preset of [`ExperimentConfig::quick_preset`].
    pub fn quick() -> Self {
        runner::preset::<Self>(true).expect("the quick preset of `pimtl bound` parses")
    }

    /// Checks every setting.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the first setting out of range.
    pub fn validate(&self) -> Result<()> {
        for (name, v) in [
            ("families", self.families),
            ("max_iterations", self.max_iterations),
            ("truncation", self.truncation),
        ] {
            if v == 0 {
                return Err(Error::param(name, v, "must be at least 1"));
            }
        }
        if !(self.delta > 0.0 && self.delta < 1.0) {
            return Err(Error::param("delta", self.delta, "must lie in (0, 1)"));
        }
        if !(self.ridge.is_finite() && self.ridge >= 0.0) {
            return Err(Error::param("ridge", self.ridge, "must be finite and ≥ 0"));
        }
        if self.samples_per_task.is_empty() {
            return Err(Error::param("samples_per_task", "[]", "need at least one N"));
        }
        if let Some(&n) = self.samples_per_task.iter().find(|&&n| n == 0) {
            return Err(Error::param("samples_per_task", n, "each N must be ≥ 1"));
        }
        if self.mdp_file.is_some() {
            return Ok(());
        }
        check_sizes(self.states, self.actions)?;
        if !(self.gamma > 0.0 && self.gamma < 1.0) {
            return Err(Error::param("gamma", self.gamma, "must lie in (0, 1)"));
        }
        if self.tasks == 0 {
            return Err(Error::param("tasks", 0, "need at least one task"));
        }
        if self.spreads.is_empty() {
            return Err(Error::param("spreads", "[]", "need at least one spread level"));
        }
        if let Some(&s) = self.spreads.iter().find(|s| !(0.0..=1.0).contains(*s)) {
            return Err(Error::param("spreads", s, "each spread must lie in [0, 1]"));
        }
        Ok(())
    }
}

impl Default for BoundConfig {
    /// The study reported in `papers/theory.md`: every `default_value` of the command line.
    fn default() -> Self {
        runner::defaults::<Self>().expect("the defaults of `pimtl bound` parse")
    }
}

/// One (family, `N`, task) of the study: the measured suboptimality beside Theorem 1's terms.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BoundRow {
    /// The family's spread level (`None` for a family read from a file).
    pub spread: Option<f64>,
    /// Family index within its spread level.
    pub family: usize,
    /// Samples per task `N`.
    pub n_per_task: usize,
    /// Pooled samples `N·T` LSPI used.
    pub n_pooled: usize,
    /// Task index `t`.
    pub task: usize,
    /// `max_π ‖D_t^π V^π‖_μ` over the policy set (first condition of Theorem 1).
    pub epsilon_policies: f64,
    /// `max_k ‖D_t^{π_k} Ṽ_{k−1}‖_μ` over the LSPI iterates (second condition).
    pub epsilon_iterates: f64,
    /// The `ε` used in the bound: the larger of the two.
    pub epsilon: f64,
    /// `C` of Assumption 1 (max over tasks and `M`, over the policy set).
    pub c: f64,
    /// `C'` of task `t` (upper bound including the truncated tail).
    pub c_prime: f64,
    /// `C''` of the average MDP (upper bound including the tail).
    pub c_second: f64,
    /// `R_max` over the tasks and `M`.
    pub r_max: f64,
    /// `ω_μ`, the smallest eigenvalue of the feature Gram matrix under the sampling distribution.
    pub omega_mu: f64,
    /// `ν_μ` used in the bound (Lemma 4's value, or its supremum `ω_μ/4` when Lemma 4 fails).
    pub nu_mu: f64,
    /// Whether `N·T` satisfies Lemma 4 of Lazaric et al. (Eq. 13).
    pub lemma4_met: bool,
    /// Lemma 4's smallest pooled sample size (`+∞` beyond `2^60`).
    pub lemma4_min_n: f64,
    /// `E_0(F)`.
    pub e0: f64,
    /// `E_1` at `n = N·T`.
    pub e1: f64,
    /// `E_2` at `n = N·T`.
    pub e2: f64,
    /// The `K` of the bound.
    pub k: usize,
    /// Approximation term of Theorem 1.
    pub approximation: f64,
    /// Estimation term (sample part + `E_1` part).
    pub estimation: f64,
    /// Iteration term `2/(1−γ)² γ^{(K−1)/2} R_max`.
    pub iteration: f64,
    /// Transfer term `2/(1−γ)² 3ε√(2C')`.
    pub transfer: f64,
    /// The right-hand side (sum of the four terms; `+∞` if a coefficient is infinite).
    pub total: f64,
    /// The trivial bound `2 V_max`.
    pub trivial: f64,
    /// Whether the bound is informative (Lemma 4 met and the total below `2 V_max`).
    pub applicable: bool,
    /// `applicable`, or why not: `lemma4`, `vacuous`, `infinite-concentrability`, joined by `+`.
    pub kind: String,
    /// The full reason (empty when applicable).
    pub reason: String,
    /// Measured `‖V_t^* − V_t^{π_K}‖_σ` (exact) of the pooled (multi-task) LSPI policy.
    pub measured: f64,
    /// The same for LSPI on task `t`'s own `N` samples only (the unpooled single-task arm).
    pub measured_single: f64,
    /// The same for LSPI on `N·T` samples of task `t` itself (as many real samples as the pooled
    /// set: what pooling would give if the other tasks were exact copies).
    pub measured_single_nt: f64,
    /// Theorem 1 for the single-task arm (`ε = 0`, `N` samples, `C` and `C''` of task `t`
    /// alone): the right-hand side (`+∞` if a coefficient is infinite).
    pub single_total: f64,
    /// Whether that single-task bound is applicable (Lemma 4 at `N`, below `2 V_max`).
    pub single_applicable: bool,
    /// `measured ≤ total`.
    pub below: bool,
    /// `total − measured`.
    pub margin: f64,
    /// LSTD-Q solves LSPI performed (≤ `K`).
    pub lspi_iterations: usize,
    /// Whether LSPI reached an exact fixed point before the cap.
    pub lspi_fixed_point: bool,
    /// Whether `π_K` is optimal for task `t` (value loss ≤ `1e-9·(1 + ‖V_t^*‖_∞)` everywhere).
    pub optimal: bool,
    /// The smallest `N` per task at which the bound would be applicable, all else fixed (`None`
    /// if no `N ≤ 10^40/T` does: the `N`-independent terms already reach `2 V_max`).
    pub required_n_per_task: Option<f64>,
}

/// The `N`-independent inputs of one family.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FamilyRecord {
    /// Spread level (`None` for a file).
    pub spread: Option<f64>,
    /// Family index within its level.
    pub family: usize,
    /// The seed the family (and its samples) derive from.
    pub seed: u64,
    /// `ε_t` over the policy set, per task.
    pub epsilon: Vec<f64>,
    /// `C` of Assumption 1.
    pub c: f64,
    /// `C'` per task (tail-inclusive).
    pub c_prime: Vec<f64>,
    /// `C''` of the average MDP (tail-inclusive).
    pub c_second: f64,
    /// Largest truncation tail bound added to `C'` or `C''`.
    pub max_tail: f64,
    /// `R_max`.
    pub r_max: f64,
    /// `E_0(F)`.
    pub e0: f64,
    /// `ω_μ`.
    pub omega_mu: f64,
    /// Size of the policy set used for `ε`, `C` and `E_0`.
    pub policies: usize,
}

/// Counts of one kind of "not applicable".
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct KindCount {
    /// The kind (see [`BoundRow::kind`]).
    pub kind: String,
    /// Rows of that kind.
    pub count: usize,
    /// One full reason, as an example.
    pub example: String,
}

/// Aggregates over the rows of one (spread, `N`) cell.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LevelSummary {
    /// Spread level (`None` for a file).
    pub spread: Option<f64>,
    /// Samples per task.
    pub n_per_task: usize,
    /// Rows (families × tasks).
    pub rows: usize,
    /// Mean `ε` used in the bound.
    pub mean_epsilon: f64,
    /// Mean measured suboptimality of the pooled (multi-task) LSPI policy.
    pub mean_measured: f64,
    /// Mean measured suboptimality of the single-task arm (task's own `N` samples).
    pub mean_measured_single: f64,
    /// Mean measured suboptimality of LSPI on `N·T` samples of the task itself.
    pub mean_measured_single_nt: f64,
    /// Rows whose single-task bound is applicable.
    pub single_applicable: usize,
    /// Rows whose pooled (Corollary 1) bound is applicable.
    pub applicable: usize,
    /// Largest measured suboptimality.
    pub max_measured: f64,
    /// Fraction of rows whose `π_K` is optimal for the task.
    pub fraction_optimal: f64,
    /// Mean approximation term.
    pub mean_approximation: f64,
    /// Mean estimation term.
    pub mean_estimation: f64,
    /// Mean iteration term.
    pub mean_iteration: f64,
    /// Mean transfer term.
    pub mean_transfer: f64,
    /// Mean total.
    pub mean_total: f64,
    /// Median of [`BoundRow::required_n_per_task`] over the rows that have one.
    pub median_required_n_per_task: Option<f64>,
}

/// The study's headline numbers.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BoundSummary {
    /// Rows (families × `N` × tasks).
    pub rows: usize,
    /// Rows with a finite bound total.
    pub finite_bound_rows: usize,
    /// Rows with `measured ≤ total` among the finite ones.
    pub below_bound: usize,
    /// `below_bound / finite_bound_rows`.
    pub fraction_below: f64,
    /// Smallest `total − measured` over the finite rows.
    pub min_margin: f64,
    /// Median `total − measured` over the finite rows.
    pub median_margin: f64,
    /// Smallest `total / measured` over the finite rows with `measured > 0`.
    pub min_ratio: Option<f64>,
    /// Median `total / measured` over the finite rows with `measured > 0`.
    pub median_ratio: Option<f64>,
    /// Rows where the bound is applicable.
    pub applicable: usize,
    /// Rows where it is not.
    pub not_applicable: usize,
    /// Why not, by kind.
    pub not_applicable_by_kind: Vec<KindCount>,
    /// Rows where no `N ≤ 10^40/T` makes the bound applicable.
    pub never_applicable: usize,
    /// Median required `N` per task over the rows that have one.
    pub median_required_n_per_task: Option<f64>,
    /// Largest measured suboptimality.
    pub max_measured: f64,
    /// Fraction of rows whose `π_K` is optimal for the task.
    pub fraction_optimal: f64,
    /// Per (spread, `N`) cell.
    pub per_level: Vec<LevelSummary>,
}

/// Everything [`run`] produces.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BoundResults {
    /// The configuration used.
    pub config: BoundConfig,
    /// `CARGO_PKG_VERSION`.
    pub crate_version: String,
    /// Where the families came from.
    pub source: String,
    /// The policy set over which `ε`, `C` and `E_0` are maximised.
    pub policy_set: String,
    /// `S`, `A`, `γ`, `T` actually used (from the file when there is one).
    pub shape: (usize, usize, f64, usize),
    /// One row per (family, `N`, task), in that order.
    pub rows: Vec<BoundRow>,
    /// The `N`-independent inputs of every family.
    pub families: Vec<FamilyRecord>,
    /// Aggregates.
    pub summary: BoundSummary,
    /// Where the bound stops being vacuous ([`nonvacuous_frontier`]).
    pub frontier: Vec<FrontierPoint>,
    /// Wall-clock time of [`run`] in seconds (not part of the reproducible output).
    pub elapsed_seconds: f64,
}

/// SplitMix64 finaliser, to derive independent seeds.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn derive(seed: u64, a: u64, b: u64) -> u64 {
    mix(mix(mix(seed) ^ a) ^ b.wrapping_mul(0x2545_F491_4F6C_DD1D))
}

/// A family of `T` tasks around a random base MDP ([`FiniteMdp::random`]): task `t` has
/// `R_t(s, a) = R(s, a) + spread·u` with `u ~ U[−1, 1]` i.i.d., and
/// `P_t(·|s, a) = (1 − spread)·P(·|s, a) + spread·K_t(·|s, a)` with `K_t` the kernel of an
/// independent random MDP (rows renormalised against rounding). `spread = 0` gives `T` copies of
/// the base (`ε = 0`); `ε` grows roughly linearly with the spread.
///
/// # Errors
/// Parameter errors for `T = 0`, a spread outside `[0, 1]`, or the errors of
/// [`FiniteMdp::random`].
pub fn generate_family(
    states: usize,
    actions: usize,
    gamma: f64,
    tasks: usize,
    spread: f64,
    seed: u64,
) -> Result<Vec<FiniteMdp>> {
    if tasks == 0 {
        return Err(Error::param("tasks", 0, "need at least one task"));
    }
    if !(0.0..=1.0).contains(&spread) {
        return Err(Error::param("spread", spread, "must lie in [0, 1]"));
    }
    let base = FiniteMdp::random(states, actions, gamma, derive(seed, 1, 0))?;
    let mut rng = ChaCha8Rng::seed_from_u64(derive(seed, 2, 0));
    (0..tasks)
        .map(|t| {
            let kernel = FiniteMdp::random(states, actions, gamma, derive(seed, 3, t as u64))?;
            let rewards: Vec<f64> = base
                .rewards()
                .iter()
                .map(|r| r + spread * (2.0 * rng.random::<f64>() - 1.0))
                .collect();
            let mut transitions: Vec<f64> = base
                .transitions()
                .iter()
                .zip(kernel.transitions())
                .map(|(p, k)| (1.0 - spread) * p + spread * k)
                .collect();
            if spread > 0.0 {
                for row in transitions.chunks_mut(states) {
                    let sum: f64 = row.iter().sum();
                    row.iter_mut().for_each(|p| *p /= sum);
                }
            }
            FiniteMdp::new(states, actions, rewards, transitions, gamma)
        })
        .collect()
}

/// What one family contributes: its rows, its record and the policy-set description.
type FamilyOutput = (Vec<BoundRow>, FamilyRecord, String);

/// One family to process.
struct Job {
    spread: Option<f64>,
    family: usize,
    seed: u64,
    tasks: Vec<FiniteMdp>,
}

/// The outcome of LSPI with the iterates Theorem 1's second condition needs.
struct LspiRun {
    /// `(π_{j+1}, Ṽ_j)` for `j = 0..=iterations` (`π_{j+1} = greedy(w_j)`).
    iterates: Vec<(TabularPolicy, DVector<f64>)>,
    /// LSTD-Q solves.
    iterations: usize,
    /// Whether an exact fixed point was reached before the cap.
    fixed_point: bool,
}

fn greedy_and_value(
    basis: &TabularBasis,
    w: &DVector<f64>,
    states: usize,
    v_max: Option<f64>,
) -> Result<(Vec<usize>, TabularPolicy, DVector<f64>)> {
    let table = greedy_table(basis, w.as_slice(), states, v_max)?;
    let mut buf = vec![0.0; basis.dim()];
    let v = DVector::from_fn(states, |s, _| {
        truncate(basis.q_value(&s, table[s], w.as_slice(), &mut buf), v_max)
    });
    let pi = TabularPolicy::deterministic(table.clone(), basis.n_actions())?;
    Ok((table, pi, v))
}

/// Transition counts of one task's i.i.d. samples: `counts[(s·A + a)·S + s']` is how often
/// `(x, a, x') = (s, a, s')` was drawn. With the tabular basis they are a sufficient statistic
/// of LSTD-Q, so a sample set of any size costs `S·A·S` numbers.
#[derive(Clone, Debug, PartialEq)]
struct Counts(Vec<f64>);

/// Draws `n` multinomial counts over `probs` (sequential conditional binomials: the `i`-th
/// count is `Binomial(n − Σ_{j<i} k_j, p_i / Σ_{j≥i} p_j)`), adding them to `out`.
fn add_multinomial(n: u64, probs: &[f64], out: &mut [f64], rng: &mut ChaCha8Rng) -> Result<()> {
    let mut left = n;
    let mut mass: f64 = probs.iter().sum();
    for (i, &p) in probs.iter().enumerate() {
        if left == 0 {
            break;
        }
        let k = if i + 1 == probs.len() || p >= mass {
            left
        } else if p <= 0.0 {
            0
        } else {
            let q = (p / mass).clamp(0.0, 1.0);
            Binomial::new(left, q)
                .map_err(|e| Error::param("binomial", q, e.to_string()))?
                .sample(rng)
        };
        out[i] += k as f64;
        left -= k;
        mass -= p;
    }
    Ok(())
}

impl Counts {
    /// Adds `n` samples `x ~ uniform(S)`, `a ~ uniform(A)`, `x' ~ P(·|x, a)` of `task`: a
    /// multinomial over the `S·A` pairs, then one over each pair's next states. Exactly the
    /// distribution of the counts of `n` sequential draws.
    fn add_samples(&mut self, task: &FiniteMdp, n: u64, rng: &mut ChaCha8Rng) -> Result<()> {
        let (states, actions) = (task.states(), task.actions());
        let pairs = states * actions;
        let mut per_pair = vec![0.0; pairs];
        add_multinomial(n, &vec![1.0 / pairs as f64; pairs], &mut per_pair, rng)?;
        for (sa, &k) in per_pair.iter().enumerate() {
            let (s, a) = (sa / actions, sa % actions);
            add_multinomial(
                k as u64,
                task.transition(s, a),
                &mut self.0[sa * states..(sa + 1) * states],
                rng,
            )?;
        }
        Ok(())
    }
}

/// Nested count tables of `task` at the sample sizes `sizes` (ascending): the table for
/// `sizes[i]` contains the one for `sizes[i − 1]` plus `sizes[i] − sizes[i − 1]` fresh samples
/// (common random numbers across `N`, as a prefix of one long sample path would be).
fn nested_counts(task: &FiniteMdp, sizes: &[u64], rng: &mut ChaCha8Rng) -> Result<Vec<Counts>> {
    let mut c = Counts(vec![0.0; task.states() * task.actions() * task.states()]);
    let mut have = 0;
    let mut out = Vec::with_capacity(sizes.len());
    for &n in sizes {
        c.add_samples(task, n - have, rng)?;
        have = n;
        out.push(c.clone());
    }
    Ok(out)
}

/// LSPI one LSTD-Q solve at a time on the count tables `data` (each task's counts with its own
/// rewards `R_t(s, a)`: `A = Σ_t Σ_{s,a,s'} n_t(s,a,s') φ(s,a)(φ(s,a) − γ φ(s', π(s')))ᵀ`,
/// `b = Σ n_t(s,a,s') φ(s,a) R_t(s,a)` ([`LstdQ::add_weighted`]), then `π ← greedy(Q̃)`),
/// recording every iterate.
fn run_lspi(
    basis: &TabularBasis,
    data: &[(&FiniteMdp, &Counts)],
    gamma: f64,
    cfg: &BoundConfig,
    v_max: Option<f64>,
) -> Result<LspiRun> {
    let (states, actions, d) = (basis.n_states(), basis.n_actions(), basis.dim());
    let mut w = DVector::zeros(d);
    let (mut table, pi, v) = greedy_and_value(basis, &w, states, v_max)?;
    let mut iterates = vec![(pi, v)];
    let mut fixed_point = false;
    let mut iterations = 0;
    let (mut phi, mut next_phi) = (vec![0.0; d], vec![0.0; d]);
    for k in 1..=cfg.max_iterations {
        let mut lstd = LstdQ::new(d, gamma)?;
        for (task, counts) in data {
            for (i, &n) in counts.0.iter().enumerate() {
                if n == 0.0 {
                    continue;
                }
                let (sa, next) = (i / states, i % states);
                let (s, a) = (sa / actions, sa % actions);
                basis.phi(&s, a, &mut phi);
                basis.phi(&next, table[next], &mut next_phi);
                lstd.add_weighted(&phi, Some(&next_phi), task.reward(s, a), n)?;
            }
        }
        w = lstd.solve(cfg.ridge)?.weights;
        iterations = k;
        let (next, pi, v) = greedy_and_value(basis, &w, states, v_max)?;
        iterates.push((pi, v));
        if next == table {
            fixed_point = k < cfg.max_iterations;
            break;
        }
        table = next;
    }
    Ok(LspiRun {
        iterates,
        iterations,
        fixed_point,
    })
}

/// Theorem 1 (Corollary 1) for task `t` at `N` per task, with the honest fall-backs of the
/// module doc. Returns the bound, the sample terms used and whether Lemma 4 holds.
struct Evaluated {
    bound: Option<Bound>,
    nu_mu: f64,
    lemma4_met: bool,
    lemma4_min_n: f64,
    e1: f64,
    e2: f64,
}

struct Learner {
    d: usize,
    l: f64,
    omega: f64,
    e0: f64,
}

fn evaluate_bound(
    fam: &FamilyInputs,
    learner: &Learner,
    cfg: &BoundConfig,
    t: usize,
    n_per_task: f64,
    tasks: usize,
    epsilon: f64,
) -> Result<Evaluated> {
    let pooled = n_per_task * tasks as f64;
    if !fam.c.is_finite() {
        return Ok(Evaluated {
            bound: None,
            nu_mu: learner.omega / 4.0,
            lemma4_met: false,
            lemma4_min_n: f64::INFINITY,
            e1: f64::INFINITY,
            e2: f64::INFINITY,
        });
    }
    let st = lazaric_sample_terms(
        pooled,
        learner.d,
        cfg.max_iterations,
        cfg.delta,
        learner.l,
        learner.omega,
        fam.r_max,
        fam.gamma,
        fam.c,
        Mixing::iid(),
    )?;
    let lemma4_met = st.lemma4_met && st.nu_mu.is_some();
    let nu_mu = st.nu_mu.unwrap_or(learner.omega / 4.0);
    let li = LearnerInputs {
        nu_mu,
        l: learner.l,
        d: learner.d,
        k: cfg.max_iterations,
        delta: cfg.delta,
        n: n_per_task,
        lemma4_min_n: st.lemma4_min_n,
        e0: learner.e0,
        e1: st.e1,
        e2: st.e2,
    };
    let mut inp = fam.bound_inputs(t, &li)?;
    inp.epsilon = epsilon;
    Ok(Evaluated {
        bound: Some(corollary1(&inp, tasks as f64)?),
        nu_mu,
        lemma4_met,
        lemma4_min_n: st.lemma4_min_n,
        e1: st.e1,
        e2: st.e2,
    })
}

/// Theorem 1 for the single-task arm: LSPI on task `t`'s own `N` samples, so `ε = 0`, `C` of
/// Assumption 1 and `C''` are those of `M_t` alone ([`SingleTask`]), `E_1`, `E_2`, `ν_μ` and
/// Lemma 4 at `N`. `None` when `C` is infinite.
fn evaluate_single(
    fam: &FamilyInputs,
    single: &SingleTask,
    learner: &Learner,
    cfg: &BoundConfig,
    t: usize,
    n: f64,
) -> Result<Option<Bound>> {
    if !single.c.is_finite() {
        return Ok(None);
    }
    let st = lazaric_sample_terms(
        n,
        learner.d,
        cfg.max_iterations,
        cfg.delta,
        learner.l,
        learner.omega,
        single.r_max,
        fam.gamma,
        single.c,
        Mixing::iid(),
    )?;
    let inputs = BoundInputs {
        gamma: fam.gamma,
        r_max: single.r_max,
        c: single.c,
        c_prime: 0.0,
        c_second: fam.task_concentrability[t].c_second.upper(),
        nu_mu: st.nu_mu.unwrap_or(learner.omega / 4.0),
        l: learner.l,
        d: learner.d,
        k: cfg.max_iterations,
        delta: cfg.delta,
        n,
        lemma4_min_n: st.lemma4_min_n,
        e0: single.e0,
        e1: st.e1,
        e2: st.e2,
        epsilon: 0.0,
    };
    theorem1(&inputs).map(Some)
}

/// The single-task inputs of task `t`: `C` of Assumption 1 over the policy set in `M_t` alone,
/// `R_max` of `M_t`, `E_0` of the tabular state space on `M_t`.
struct SingleTask {
    c: f64,
    r_max: f64,
    e0: f64,
}

impl SingleTask {
    fn new(task: &FiniteMdp, policies: &[TabularPolicy], mu: &DVector<f64>) -> Result<Self> {
        let states = task.states();
        Ok(SingleTask {
            c: assumption1_c(task, policies, mu)?,
            r_max: task.max_abs_reward(),
            e0: approximation_error(task, &DMatrix::identity(states, states), policies)?,
        })
    }
}

/// `A^S`, the number of deterministic policies, when it is at most [`MAX_POLICY_SET`].
fn deterministic_policy_count(states: usize, actions: usize) -> Option<usize> {
    (0..states).try_fold(1usize, |c, _| {
        c.checked_mul(actions).filter(|&c| c <= MAX_POLICY_SET)
    })
}

fn is_applicable(ev: &Evaluated) -> bool {
    ev.lemma4_met && ev.bound.as_ref().is_some_and(Bound::is_applicable)
}

/// Smallest `N` per task making the bound applicable: doubling then bisection on `log N`
/// (assumes monotonicity in `N`, which holds once `N` exceeds Lemma 4's threshold).
fn required_n(
    fam: &FamilyInputs,
    learner: &Learner,
    cfg: &BoundConfig,
    t: usize,
    tasks: usize,
    epsilon: f64,
    from: f64,
) -> Result<Option<f64>> {
    smallest_n(
        |n| {
            Ok(is_applicable(&evaluate_bound(
                fam, learner, cfg, t, n, tasks, epsilon,
            )?))
        },
        from,
        MAX_SEARCH_N / tasks as f64,
    )
}

/// The smallest `N ∈ [from, cap]` with `ok(N)` (to 0.1 %, rounded up), `None` if `ok(cap)` is
/// false: quadrupling, then bisection on `log N`.
fn smallest_n(ok: impl Fn(f64) -> Result<bool>, from: f64, cap: f64) -> Result<Option<f64>> {
    if !ok(cap)? {
        return Ok(None);
    }
    if ok(from)? {
        return Ok(Some(from));
    }
    let (mut lo, mut hi) = (from, from);
    while !ok(hi)? {
        lo = hi;
        hi = (hi * 4.0).min(cap);
    }
    for _ in 0..60 {
        if hi / lo < 1.0 + 1e-3 {
            break;
        }
        let mid = (lo * hi).sqrt();
        if ok(mid)? {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Ok(Some(hi.ceil()))
}

/// The tabular learner's inputs on `S` states and `A` actions under `μ` (see the module doc).
fn tabular_learner(average: &FiniteMdp, policies: &[TabularPolicy], mu: &DVector<f64>) -> Result<Learner> {
    let (states, actions) = (average.states(), average.actions());
    let d = states * actions;
    let e0 = approximation_error(average, &DMatrix::identity(states, states), policies)?;
    let (l, omega) = if d <= MAX_EIGEN_DIM {
        let phi = DMatrix::<f64>::identity(d, d);
        let mu_sa = DVector::from_fn(d, |i, _| mu[i % states] / actions as f64);
        (feature_bound(&phi), gram_min_eigenvalue(&phi, &mu_sa)?)
    } else {
        (1.0, mu.min() / actions as f64)
    };
    Ok(Learner { d, l, omega, e0 })
}

/// One point of [`BoundResults::frontier`]: how many samples a family of `S` states needs
/// before Theorem 1 says anything.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FrontierPoint {
    /// Number of states `S` (actions, `γ`, `T` and the spread as in the configuration).
    pub states: usize,
    /// The spread of the family (the configuration's smallest).
    pub spread: f64,
    /// `ε` of task 0 over all deterministic policies (the first condition only: the iterates'
    /// condition needs an LSPI run, so this `N` is a lower estimate when that term is larger).
    pub epsilon: f64,
    /// The smallest `N` per task at which Corollary 1's bound for task 0 is applicable (Lemma 4
    /// met at `N·T`, total below `2 V_max`); `None` if no `N ≤ 10^40/T` is.
    pub pooled_n_per_task: Option<f64>,
    /// The same for the single-task bound (`ε = 0`, task 0's own `N` samples).
    pub single_n: Option<f64>,
}

/// Where the bound stops being vacuous: for `S = 2, 3, …` up to the configuration's `S` (while
/// `A^S ≤` [`MAX_POLICY_SET`]), one family generated like the study's at its smallest spread,
/// and the smallest `N` per task for the pooled and the single-task bound of task 0. Empty for a
/// family read from a file.
///
/// # Errors
/// The errors of the theory functions.
pub fn nonvacuous_frontier(cfg: &BoundConfig) -> Result<Vec<FrontierPoint>> {
    if cfg.mdp_file.is_some() {
        return Ok(Vec::new());
    }
    let spread = cfg.spreads.iter().copied().fold(f64::INFINITY, f64::min);
    let mut out = Vec::new();
    for states in 2..=cfg.states {
        if deterministic_policy_count(states, cfg.actions).is_none() {
            break;
        }
        let seed = derive(cfg.seed, 1_000, states as u64);
        let tasks = generate_family(states, cfg.actions, cfg.gamma, cfg.tasks, spread, seed)?;
        let policies = all_deterministic_policies(states, cfg.actions)?;
        let mu = DVector::from_element(states, 1.0 / states as f64);
        let fam = finite_family_inputs(&tasks, &policies, &mu, &mu, cfg.truncation)?;
        let learner = tabular_learner(&fam.average, &policies, &mu)?;
        let single = SingleTask::new(&tasks[0], &policies, &mu)?;
        let pooled_n_per_task = if fam.c.is_finite() {
            required_n(&fam, &learner, cfg, 0, cfg.tasks, fam.epsilon[0], 1.0)?
        } else {
            None
        };
        let single_n = smallest_n(
            |n| {
                Ok(evaluate_single(&fam, &single, &learner, cfg, 0, n)?
                    .as_ref()
                    .is_some_and(Bound::is_applicable))
            },
            1.0,
            MAX_SEARCH_N,
        )?;
        out.push(FrontierPoint {
            states,
            spread,
            epsilon: fam.epsilon[0],
            pooled_n_per_task,
            single_n,
        });
    }
    Ok(out)
}

fn run_family(cfg: &BoundConfig, job: &Job) -> Result<FamilyOutput> {
    let tasks = &job.tasks;
    let (states, actions, gamma, n_tasks) = (
        tasks[0].states(),
        tasks[0].actions(),
        tasks[0].gamma(),
        tasks.len(),
    );
    let average = FiniteMdp::average(tasks)?;
    let r_max = tasks
        .iter()
        .chain([&average])
        .map(FiniteMdp::max_abs_reward)
        .fold(0.0, f64::max);
    let v_max = r_max / (1.0 - gamma);
    let v_trunc = (v_max > 0.0 && v_max.is_finite()).then_some(v_max);
    let uniform = DVector::from_element(states, 1.0 / states as f64);
    let (sigma, mu) = (&uniform, &uniform);
    let optimum = tasks
        .iter()
        .map(|m| m.policy_iteration(100_000))
        .collect::<Result<Vec<_>>>()?;
    // Samples: for each task, nested count tables at every N (x ~ μ uniform, a ~ uniform,
    // x' ~ P_t(·|x, a)), and — for the single-task arm with as many real samples as the pooled
    // set — nested tables at every N·T.
    let mut sizes: Vec<u64> = cfg.samples_per_task.iter().map(|&n| n as u64).collect();
    sizes.sort_unstable();
    sizes.dedup();
    let sizes_nt: Vec<u64> = sizes.iter().map(|&n| n * n_tasks as u64).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(derive(job.seed, 4, 0));
    let nested = tasks
        .iter()
        .map(|m| nested_counts(m, &sizes, &mut rng))
        .collect::<Result<Vec<_>>>()?;
    let mut rng_nt = ChaCha8Rng::seed_from_u64(derive(job.seed, 5, 0));
    let nested_nt = tasks
        .iter()
        .map(|m| nested_counts(m, &sizes_nt, &mut rng_nt))
        .collect::<Result<Vec<_>>>()?;
    // The configuration's i-th N is entry level[i] of every task's nested tables.
    let level: Vec<usize> = cfg
        .samples_per_task
        .iter()
        .map(|&n| sizes.partition_point(|&x| x < n as u64))
        .collect();
    let basis = TabularBasis::new(states, actions)?;
    let runs = level
        .iter()
        .map(|&l| {
            let pooled: Vec<(&FiniteMdp, &Counts)> =
                tasks.iter().zip(&nested).map(|(m, c)| (m, &c[l])).collect();
            run_lspi(&basis, &pooled, gamma, cfg, v_trunc)
        })
        .collect::<Result<Vec<_>>>()?;
    // The policy set for ε, C and E_0.
    let (policies, policy_set) = match deterministic_policy_count(states, actions) {
        Some(c) => (
            all_deterministic_policies(states, actions)?,
            format!("all {c} deterministic policies (exact suprema)"),
        ),
        None => {
            let mut set: Vec<TabularPolicy> = Vec::new();
            let candidates = optimum
                .iter()
                .map(|o| o.1.clone())
                .chain([average.policy_iteration(100_000)?.1])
                .chain(
                    runs.iter()
                        .flat_map(|r| r.iterates.iter().map(|(p, _)| p.clone())),
                );
            for p in candidates {
                if !set.contains(&p) {
                    set.push(p);
                }
            }
            let n = set.len();
            (
                set,
                format!(
                    "restricted: {n} policies (task and average optima, LSPI iterates); A^S exceeds \
                     {MAX_POLICY_SET}, so ε and C are lower estimates of the suprema"
                ),
            )
        }
    };
    let fam = finite_family_inputs(tasks, &policies, sigma, mu, cfg.truncation)?;
    // Learner inputs of the tabular basis.
    let learner = tabular_learner(&average, &policies, mu)?;
    let (omega, e0) = (learner.omega, learner.e0);
    let single_c = tasks
        .iter()
        .map(|task| SingleTask::new(task, &policies, mu))
        .collect::<Result<Vec<_>>>()?;
    let max_tail = fam
        .task_concentrability
        .iter()
        .map(|c| c.c_prime.tail_bound)
        .chain([fam.average_concentrability.c_second.tail_bound])
        .fold(0.0, f64::max);
    let record = FamilyRecord {
        spread: job.spread,
        family: job.family,
        seed: job.seed,
        epsilon: fam.epsilon.clone(),
        c: fam.c,
        c_prime: fam
            .task_concentrability
            .iter()
            .map(|c| c.c_prime.upper())
            .collect(),
        c_second: fam.average_concentrability.c_second.upper(),
        max_tail,
        r_max,
        e0,
        omega_mu: omega,
        policies: policies.len(),
    };
    let mut rows = Vec::new();
    for (i, (&n, run)) in cfg.samples_per_task.iter().zip(&runs).enumerate() {
        let final_policy = &run.iterates.last().expect("at least the initial iterate").0;
        for (t, task) in tasks.iter().enumerate() {
            let (v_star, _, _) = &optimum[t];
            let suboptimality = |run: &LspiRun| -> Result<f64> {
                let pi = &run.iterates.last().expect("at least the initial iterate").0;
                Ok(weighted_l2(&(v_star - task.evaluate(pi)?), sigma))
            };
            let measured_single = suboptimality(&run_lspi(
                &basis,
                &[(task, &nested[t][level[i]])],
                gamma,
                cfg,
                v_trunc,
            )?)?;
            let measured_single_nt = suboptimality(&run_lspi(
                &basis,
                &[(task, &nested_nt[t][level[i]])],
                gamma,
                cfg,
                v_trunc,
            )?)?;
            let single = evaluate_single(&fam, &single_c[t], &learner, cfg, t, n as f64)?;
            let eps_iter = run
                .iterates
                .iter()
                .map(|(pi, v)| weighted_l2(&bellman_difference(task, &average, pi, v), mu))
                .fold(0.0, f64::max);
            let epsilon = fam.epsilon[t].max(eps_iter);
            let ev = evaluate_bound(&fam, &learner, cfg, t, n as f64, n_tasks, epsilon)?;
            let v_k = task.evaluate(final_policy)?;
            let loss = v_star - &v_k;
            let measured = weighted_l2(&loss, sigma);
            let optimal = loss.amax() <= 1e-9 * (1.0 + v_star.amax());
            let mut kinds: Vec<&str> = Vec::new();
            let mut reasons = Vec::new();
            if !fam.c.is_finite() {
                kinds.push(Failure::InfiniteConcentrability.name());
                reasons.push(
                    "C of Assumption 1 is infinite (some stationary distribution vanishes where μ > 0)"
                        .to_string(),
                );
            }
            if let Some(Bound::NotApplicable { failures, reason, .. }) = &ev.bound {
                kinds.extend(failures.iter().map(Failure::name));
                reasons.push(reason.clone());
                if failures.contains(&Failure::Lemma4) {
                    reasons.push("the terms use ν_μ = ω_μ/4, its supremum".into());
                }
            }
            let terms = ev.bound.as_ref().map(|b| *b.terms());
            let inf = f64::INFINITY;
            let (approximation, estimation, iteration, transfer, total, trivial) = match terms {
                Some(tm) => (
                    tm.approximation,
                    tm.estimation,
                    tm.iteration,
                    tm.transfer,
                    tm.total,
                    tm.trivial,
                ),
                None => (inf, inf, inf, inf, inf, 2.0 * v_max),
            };
            let applicable = kinds.is_empty();
            let required = if applicable {
                Some(n as f64)
            } else if fam.c.is_finite() {
                required_n(&fam, &learner, cfg, t, n_tasks, epsilon, n as f64)?
            } else {
                None
            };
            rows.push(BoundRow {
                spread: job.spread,
                family: job.family,
                n_per_task: n,
                n_pooled: n * n_tasks,
                task: t,
                epsilon_policies: fam.epsilon[t],
                epsilon_iterates: eps_iter,
                epsilon,
                c: fam.c,
                c_prime: record.c_prime[t],
                c_second: record.c_second,
                r_max,
                omega_mu: omega,
                nu_mu: ev.nu_mu,
                lemma4_met: ev.lemma4_met,
                lemma4_min_n: ev.lemma4_min_n,
                e0,
                e1: ev.e1,
                e2: ev.e2,
                k: cfg.max_iterations,
                approximation,
                estimation,
                iteration,
                transfer,
                total,
                trivial,
                applicable,
                kind: if applicable {
                    "applicable".into()
                } else {
                    kinds.join("+")
                },
                reason: reasons.join("; "),
                measured,
                measured_single,
                measured_single_nt,
                single_total: single.as_ref().map_or(f64::INFINITY, |b| b.terms().total),
                single_applicable: single.as_ref().is_some_and(Bound::is_applicable),
                below: measured <= total,
                margin: total - measured,
                lspi_iterations: run.iterations,
                lspi_fixed_point: run.fixed_point,
                optimal,
                required_n_per_task: required,
            });
        }
    }
    Ok((rows, record, policy_set))
}

/// The median (`None` when empty), by [`crate::stats::quantile`].
fn median(v: Vec<f64>) -> Option<f64> {
    (!v.is_empty()).then(|| crate::stats::quantile(&v, 0.5))
}

/// The mean of the values (NaN when none), by [`crate::stats::mean`].
fn mean(v: impl Iterator<Item = f64>) -> f64 {
    crate::stats::mean(&v.collect::<Vec<_>>())
}

fn summarise(rows: &[BoundRow], cfg: &BoundConfig, spreads: &[Option<f64>]) -> BoundSummary {
    let finite: Vec<&BoundRow> = rows.iter().filter(|r| r.total.is_finite()).collect();
    let below = finite.iter().filter(|r| r.below).count();
    let margins: Vec<f64> = finite.iter().map(|r| r.margin).collect();
    let ratios: Vec<f64> = finite
        .iter()
        .filter(|r| r.measured > 0.0)
        .map(|r| r.total / r.measured)
        .collect();
    let mut kinds: Vec<KindCount> = Vec::new();
    for r in rows.iter().filter(|r| !r.applicable) {
        match kinds.iter_mut().find(|k| k.kind == r.kind) {
            Some(k) => k.count += 1,
            None => kinds.push(KindCount {
                kind: r.kind.clone(),
                count: 1,
                example: r.reason.clone(),
            }),
        }
    }
    let required: Vec<f64> = rows.iter().filter_map(|r| r.required_n_per_task).collect();
    let mut per_level = Vec::new();
    for &spread in spreads {
        for &n in &cfg.samples_per_task {
            let cell: Vec<&BoundRow> = rows
                .iter()
                .filter(|r| r.spread == spread && r.n_per_task == n)
                .collect();
            if cell.is_empty() {
                continue;
            }
            per_level.push(LevelSummary {
                spread,
                n_per_task: n,
                rows: cell.len(),
                mean_epsilon: mean(cell.iter().map(|r| r.epsilon)),
                mean_measured: mean(cell.iter().map(|r| r.measured)),
                mean_measured_single: mean(cell.iter().map(|r| r.measured_single)),
                mean_measured_single_nt: mean(cell.iter().map(|r| r.measured_single_nt)),
                single_applicable: cell.iter().filter(|r| r.single_applicable).count(),
                applicable: cell.iter().filter(|r| r.applicable).count(),
                max_measured: cell.iter().map(|r| r.measured).fold(0.0, f64::max),
                fraction_optimal: cell.iter().filter(|r| r.optimal).count() as f64 / cell.len() as f64,
                mean_approximation: mean(cell.iter().map(|r| r.approximation)),
                mean_estimation: mean(cell.iter().map(|r| r.estimation)),
                mean_iteration: mean(cell.iter().map(|r| r.iteration)),
                mean_transfer: mean(cell.iter().map(|r| r.transfer)),
                mean_total: mean(cell.iter().map(|r| r.total)),
                median_required_n_per_task: median(
                    cell.iter().filter_map(|r| r.required_n_per_task).collect(),
                ),
            });
        }
    }
    BoundSummary {
        rows: rows.len(),
        finite_bound_rows: finite.len(),
        below_bound: below,
        fraction_below: if finite.is_empty() {
            f64::NAN
        } else {
            below as f64 / finite.len() as f64
        },
        min_margin: margins.iter().copied().fold(f64::INFINITY, f64::min),
        median_margin: median(margins).unwrap_or(f64::NAN),
        min_ratio: ratios.iter().copied().reduce(f64::min),
        median_ratio: median(ratios),
        applicable: rows.iter().filter(|r| r.applicable).count(),
        not_applicable: rows.iter().filter(|r| !r.applicable).count(),
        not_applicable_by_kind: kinds,
        never_applicable: rows.iter().filter(|r| r.required_n_per_task.is_none()).count(),
        median_required_n_per_task: median(required),
        max_measured: rows.iter().map(|r| r.measured).fold(0.0, f64::max),
        fraction_optimal: if rows.is_empty() {
            f64::NAN
        } else {
            rows.iter().filter(|r| r.optimal).count() as f64 / rows.len() as f64
        },
        per_level,
    }
}

/// Runs the study: for every family (random families for each spread level, or the one family
/// of [`BoundConfig::mdp_file`]) and every `N`, LSPI on the pooled samples, the measured
/// suboptimality per task and Theorem 1's terms per task. Families run in parallel on the
/// available cores, each from its own derived seed, so the output does not depend on the
/// number of threads. `progress` receives one line per finished family.
///
/// # Errors
/// An invalid configuration; the file errors of [`load_mdp_family`]; numerical errors of the
/// theory functions (a singular system), reported rather than hidden.
pub fn run(cfg: &BoundConfig, mut progress: impl FnMut(&str)) -> Result<BoundResults> {
    let start = Instant::now();
    cfg.validate()?;
    let (jobs, source): (Vec<Job>, String) = match &cfg.mdp_file {
        Some(path) => {
            let tasks = load_mdp_family(path)?;
            let job = Job {
                spread: None,
                family: 0,
                seed: derive(cfg.seed, 0, 0),
                tasks,
            };
            (vec![job], format!("file {}", path.display()))
        }
        None => {
            let mut jobs = Vec::new();
            for (li, &spread) in cfg.spreads.iter().enumerate() {
                for f in 0..cfg.families {
                    let seed = derive(cfg.seed, li as u64 + 1, f as u64);
                    let tasks = generate_family(cfg.states, cfg.actions, cfg.gamma, cfg.tasks, spread, seed)?;
                    jobs.push(Job {
                        spread: Some(spread),
                        family: f,
                        seed,
                        tasks,
                    });
                }
            }
            (
                jobs,
                "random families around FiniteMdp::random (rewards ± spread·U[−1,1], kernels mixed by spread)"
                    .into(),
            )
        }
    };
    let shape = (
        jobs[0].tasks[0].states(),
        jobs[0].tasks[0].actions(),
        jobs[0].tasks[0].gamma(),
        jobs[0].tasks.len(),
    );
    let n_max = cfg.samples_per_task.iter().copied().max().unwrap_or(1);
    if n_max.saturating_mul(shape.3) > MAX_POOLED_SAMPLES {
        return Err(Error::param(
            "samples_per_task",
            format!("max N · T = {n_max}·{}", shape.3),
            format!("the pooled sample set is limited to {MAX_POOLED_SAMPLES} samples"),
        ));
    }
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(jobs.len())
        .max(1);
    let mut results: Vec<Option<Result<FamilyOutput>>> = (0..jobs.len()).map(|_| None).collect();
    std::thread::scope(|scope| {
        let (tx, rx) = mpsc::channel();
        for w in 0..threads {
            let tx = tx.clone();
            let jobs = &jobs;
            scope.spawn(move || {
                for i in (w..jobs.len()).step_by(threads) {
                    if tx.send((i, run_family(cfg, &jobs[i]))).is_err() {
                        return;
                    }
                }
            });
        }
        drop(tx);
        for (done, (i, r)) in rx.iter().enumerate() {
            let job = &jobs[i];
            let what = match job.spread {
                Some(s) => format!("spread {s}, family {}", job.family),
                None => source.clone(),
            };
            match &r {
                Ok(_) => progress(&format!("[{}/{}] {what}: done", done + 1, jobs.len())),
                Err(e) => progress(&format!("[{}/{}] {what}: error: {e}", done + 1, jobs.len())),
            }
            results[i] = Some(r);
        }
    });
    let mut rows = Vec::new();
    let mut families = Vec::new();
    let mut policy_set = String::new();
    for r in results {
        let (mut r, f, p) =
            r.unwrap_or_else(|| Err(Error::param("threads", "worker", "a worker thread stopped early")))?;
        rows.append(&mut r);
        families.push(f);
        policy_set = p;
    }
    let spreads: Vec<Option<f64>> = match cfg.mdp_file {
        Some(_) => vec![None],
        None => cfg.spreads.iter().map(|&s| Some(s)).collect(),
    };
    let summary = summarise(&rows, cfg, &spreads);
    let frontier = nonvacuous_frontier(cfg)?;
    Ok(BoundResults {
        config: cfg.clone(),
        crate_version: env!("CARGO_PKG_VERSION").to_string(),
        source,
        policy_set,
        shape,
        rows,
        families,
        summary,
        frontier,
        elapsed_seconds: start.elapsed().as_secs_f64(),
    })
}

fn json<T: Serialize>(v: &T) -> Result<Vec<u8>> {
    serde_json::to_vec_pretty(v).map_err(|e| Error::Format {
        path: None,
        reason: format!("JSON encoding failed: {e}"),
    })
}

fn opt(v: Option<f64>) -> String {
    v.map_or_else(String::new, |x| format!("{x}"))
}

/// The header of `metrics.csv`.
pub const METRICS_HEADER: &str = "spread,family,n_per_task,n_pooled,task,epsilon_policies,epsilon_iterates,\
epsilon,c,c_prime,c_second,r_max,omega_mu,nu_mu,lemma4_met,lemma4_min_n,e0,e1,e2,k,approximation,estimation,\
iteration,transfer,total,trivial,applicable,kind,measured,below,margin,lspi_iterations,lspi_fixed_point,optimal,\
required_n_per_task,measured_single,measured_single_nt,single_total,single_applicable";

/// The rows as `metrics.csv` text (header [`METRICS_HEADER`], one line per row, full precision).
pub fn metrics_csv(rows: &[BoundRow]) -> String {
    let mut csv = format!("{METRICS_HEADER}\n");
    for r in rows {
        let _ = writeln!(
            csv,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            opt(r.spread),
            r.family,
            r.n_per_task,
            r.n_pooled,
            r.task,
            r.epsilon_policies,
            r.epsilon_iterates,
            r.epsilon,
            r.c,
            r.c_prime,
            r.c_second,
            r.r_max,
            r.omega_mu,
            r.nu_mu,
            r.lemma4_met,
            r.lemma4_min_n,
            r.e0,
            r.e1,
            r.e2,
            r.k,
            r.approximation,
            r.estimation,
            r.iteration,
            r.transfer,
            r.total,
            r.trivial,
            r.applicable,
            r.kind,
            r.measured,
            r.below,
            r.margin,
            r.lspi_iterations,
            r.lspi_fixed_point,
            r.optimal,
            opt(r.required_n_per_task),
            r.measured_single,
            r.measured_single_nt,
            r.single_total,
            r.single_applicable
        );
    }
    csv
}

/// Writes `setup.json` (configuration, crate version, source, shape, policy set; the runner
/// writes `config.json`),
/// `metrics.csv` (one row per family × `N` × task, columns [`METRICS_HEADER`]) and
/// `summary.json` (the [`BoundSummary`], every [`FamilyRecord`] and the full reasons) into `out`, each atomically. Infinite values are written as `inf` in the CSV and
/// `null` in JSON.
///
/// # Errors
/// [`Error::Io`] naming the file when `out` is missing or not writable.
pub fn write_results(results: &BoundResults, out: &Path) -> Result<()> {
    #[derive(Serialize)]
    struct ConfigFile<'a> {
        config: &'a BoundConfig,
        crate_version: &'a str,
        source: &'a str,
        states: usize,
        actions: usize,
        gamma: f64,
        tasks: usize,
        policy_set: &'a str,
        sigma: &'a str,
        mu: &'a str,
        features: &'a str,
    }
    #[derive(Serialize)]
    struct SummaryFile<'a> {
        summary: &'a BoundSummary,
        families: &'a [FamilyRecord],
        frontier: &'a [FrontierPoint],
    }
    let (states, actions, gamma, tasks) = results.shape;
    write_atomic(
        &out.join("setup.json"),
        &json(&ConfigFile {
            config: &results.config,
            crate_version: &results.crate_version,
            source: &results.source,
            states,
            actions,
            gamma,
            tasks,
            policy_set: &results.policy_set,
            sigma: "uniform over states",
            mu: "uniform over states (sampling: x ~ μ, a ~ uniform, i.i.d.)",
            features: "tabular state-action basis, d = S·A, L = 1",
        })?,
    )?;
    write_atomic(&out.join("metrics.csv"), metrics_csv(&results.rows).as_bytes())?;
    write_atomic(
        &out.join("summary.json"),
        &json(&SummaryFile {
            summary: &results.summary,
            families: &results.families,
            frontier: &results.frontier,
        })?,
    )?;
    let mut levels: Vec<Option<f64>> = Vec::new();
    for l in &results.summary.per_level {
        if !levels.contains(&l.spread) {
            levels.push(l.spread);
        }
    }
    for spread in levels {
        let name = spread.map_or_else(
            || "measured_vs_bound.svg".into(),
            |x| format!("measured_vs_bound_spread_{x}.svg"),
        );
        measured_vs_bound_chart(results, spread, &out.join(name))?;
    }
    Ok(())
}

/// `measured_vs_bound_spread_{s}.svg` (or `measured_vs_bound.svg` for a family file): for one
/// spread level, against `log10 N` (per task), the `log10` of the mean measured suboptimality of
/// the pooled and the single-task policies and of the mean of the two bounds over the rows where
/// each is applicable (so a bound's line starts where it first says something), and
/// `log10 2V_max`, the vacuity line. Zero means are left out (a log scale cannot show them;
/// `metrics.csv` has every value).
fn measured_vs_bound_chart(results: &BoundResults, spread: Option<f64>, path: &Path) -> Result<()> {
    use crate::plot::{line_chart, Series};
    let log_mean = |rows: &[&BoundRow], f: &dyn Fn(&BoundRow) -> Option<f64>| -> Option<f64> {
        let v: Vec<f64> = rows.iter().filter_map(|r| f(r)).collect();
        let m = crate::stats::mean(&v);
        (!v.is_empty() && m > 0.0 && m.is_finite()).then(|| m.log10())
    };
    let mut pts: [Vec<(f64, f64)>; 5] = Default::default();
    let mut sizes = results.config.samples_per_task.clone();
    sizes.sort_unstable();
    sizes.dedup();
    for n in sizes {
        let rows: Vec<&BoundRow> = results
            .rows
            .iter()
            .filter(|r| r.spread == spread && r.n_per_task == n)
            .collect();
        if rows.is_empty() {
            continue;
        }
        let x = (n as f64).log10();
        let values = [
            log_mean(&rows, &|r| Some(r.measured)),
            log_mean(&rows, &|r| Some(r.measured_single)),
            log_mean(&rows, &|r| r.applicable.then_some(r.total)),
            log_mean(&rows, &|r| r.single_applicable.then_some(r.single_total)),
            log_mean(&rows, &|r| Some(r.trivial)),
        ];
        for (p, v) in pts.iter_mut().zip(values) {
            if let Some(y) = v {
                p.push((x, y));
            }
        }
    }
    let series: Vec<Series> = [
        "measured, pooled (T tasks, N·T samples)",
        "measured, single task (N samples)",
        "bound, pooled (Corollary 1)",
        "bound, single task (Theorem 1, ε = 0)",
        "2·V_max (trivial bound)",
    ]
    .into_iter()
    .zip(pts)
    .filter(|(_, p)| !p.is_empty())
    .map(|(label, p)| Series::new(label, p))
    .collect();
    let title = match spread {
        Some(x) => format!("Theorem 1 at spread {x}: measured suboptimality against the bound"),
        None => "Theorem 1: measured suboptimality against the bound".into(),
    };
    line_chart(
        path,
        &title,
        "log10 N (samples per task)",
        "log10 ‖V_t* − V_t^π‖_σ (mean over rows)",
        &series,
    )
}

fn sci(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.3e}")
    } else {
        format!("{x}")
    }
}

/// A plain-text report for the CLI: for each family shown (every family when there are at most
/// three, otherwise the first family of each spread level), Theorem 1's four terms, the total,
/// the trivial bound `2 V_max` and the measured suboptimality per (`N`, task); then the summary.
pub fn print_table(results: &BoundResults) -> String {
    let mut s = String::new();
    let (states, actions, gamma, tasks) = results.shape;
    let _ = writeln!(
        s,
        "Theorem 1 (appendix form, Corollary 1: N → N·T) on {}\nS = {states}, A = {actions}, γ = {gamma}, T = \
         {tasks}, K = {}, δ = {}; σ = μ = uniform; tabular basis d = {}; policy set: {}",
        results.source,
        results.config.max_iterations,
        results.config.delta,
        states * actions,
        results.policy_set
    );
    let show_all = results.families.len() <= 3;
    for f in &results.families {
        if !show_all && f.family != 0 {
            continue;
        }
        let _ = writeln!(
            s,
            "\nfamily {}{}: C = {}, C'' = {}, R_max = {:.4}, E0 = {:.2e}, ω_μ = {:.4}",
            f.family,
            f.spread.map_or_else(String::new, |x| format!(" (spread {x})")),
            sci(f.c),
            sci(f.c_second),
            f.r_max,
            f.e0,
            f.omega_mu
        );
        let _ = writeln!(
            s,
            "{:>7} {:>4} {:>9} {:>10} {:>10} {:>10} {:>10} {:>10} {:>9} {:>10} {:>10}  status",
            "N",
            "task",
            "ε",
            "approx",
            "estim",
            "iter",
            "transfer",
            "total",
            "2·V_max",
            "measured",
            "N needed"
        );
        for r in results
            .rows
            .iter()
            .filter(|r| r.family == f.family && r.spread == f.spread)
        {
            let _ = writeln!(
                s,
                "{:>7} {:>4} {:>9.3e} {:>10} {:>10} {:>10} {:>10} {:>10} {:>9.3} {:>10.4} {:>10}  {}",
                r.n_per_task,
                r.task,
                r.epsilon,
                sci(r.approximation),
                sci(r.estimation),
                sci(r.iteration),
                sci(r.transfer),
                sci(r.total),
                r.trivial,
                r.measured,
                r.required_n_per_task.map_or_else(|| "never".into(), sci),
                if r.applicable {
                    "applicable".to_string()
                } else {
                    format!("not applicable ({})", r.kind)
                }
            );
        }
    }
    let m = &results.summary;
    let _ = writeln!(
        s,
        "\nsummary: {} rows; measured ≤ bound in {}/{} rows with a finite bound ({:.1}%); margin (bound − \
         measured) min {} median {}; ratio bound/measured median {}",
        m.rows,
        m.below_bound,
        m.finite_bound_rows,
        100.0 * m.fraction_below,
        sci(m.min_margin),
        sci(m.median_margin),
        m.median_ratio.map_or_else(|| "n/a".into(), sci)
    );
    let _ = writeln!(
        s,
        "applicable: {}, not applicable: {}",
        m.applicable, m.not_applicable
    );
    for k in &m.not_applicable_by_kind {
        let _ = writeln!(s, "  {} × {}: e.g. {}", k.count, k.kind, k.example);
    }
    let _ = writeln!(
        s,
        "N per task that would make the bound applicable: median {} ({} rows: never); π_K optimal in {:.1}% of \
         rows; largest measured suboptimality {:.4}",
        m.median_required_n_per_task.map_or_else(|| "n/a".into(), sci),
        m.never_applicable,
        100.0 * m.fraction_optimal,
        m.max_measured
    );
    let _ = writeln!(
        s,
        "\nCorollary 1's gain, measured (mean ‖V_t* − V_t^π‖_σ; pooled = LSPI on N·T samples of the T tasks, \
         single = task's own N, single N·T = task's own N·T):\n{:>8} {:>14} {:>10} {:>10} {:>11} {:>12} {:>12}",
        "spread", "N", "pooled", "single", "single N·T", "applicable", "single appl."
    );
    for l in &m.per_level {
        let _ = writeln!(
            s,
            "{:>8} {:>14} {:>10.4} {:>10.4} {:>11.4} {:>12} {:>12}",
            l.spread.map_or_else(|| "file".into(), |x| format!("{x}")),
            l.n_per_task,
            l.mean_measured,
            l.mean_measured_single,
            l.mean_measured_single_nt,
            format!("{}/{}", l.applicable, l.rows),
            format!("{}/{}", l.single_applicable, l.rows)
        );
    }
    if !results.frontier.is_empty() {
        let _ = writeln!(
            s,
            "\nwhere the bound stops being vacuous (one family per S at spread {}, task 0; smallest N per task):\n{:>4} \
             {:>10} {:>14} {:>14}",
            results.frontier[0].spread, "S", "ε", "pooled N", "single-task N"
        );
        for f in &results.frontier {
            let _ = writeln!(
                s,
                "{:>4} {:>10.3e} {:>14} {:>14}",
                f.states,
                f.epsilon,
                f.pooled_n_per_task.map_or_else(|| "never".into(), sci),
                f.single_n.map_or_else(|| "never".into(), sci)
            );
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_tasks_at_spread_zero() {
        let f = generate_family(3, 2, 0.8, 3, 0.0, 7).unwrap();
        assert!(f.windows(2).all(|w| w[0] == w[1]));
        let g = generate_family(3, 2, 0.8, 3, 0.5, 7).unwrap();
        assert_ne!(g[0], g[1]);
        assert!(generate_family(3, 2, 0.8, 3, 1.5, 7).is_err());
    }

    #[test]
    fn multinomial_counts_sum_to_n_and_have_the_right_means() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let p = [0.1, 0.0, 0.25, 0.65];
        let n = 1_000_000_000u64;
        let mut out = [0.0; 4];
        add_multinomial(n, &p, &mut out, &mut rng).unwrap();
        assert_eq!(out.iter().sum::<f64>(), n as f64);
        assert_eq!(out[1], 0.0);
        for (k, &pi) in out.iter().zip(&p) {
            let sd = (n as f64 * pi * (1.0 - pi)).sqrt();
            assert!(
                (k - n as f64 * pi).abs() <= 6.0 * sd + 1e-9,
                "{k} vs {}",
                n as f64 * pi
            );
        }
    }

    #[test]
    fn nested_counts_grow_and_match_their_sizes() {
        let task = FiniteMdp::random(3, 2, 0.8, 11).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let tables = nested_counts(&task, &[10, 1000, 1_000_000], &mut rng).unwrap();
        for (t, n) in tables.iter().zip([10.0, 1000.0, 1e6]) {
            assert_eq!(t.0.iter().sum::<f64>(), n);
        }
        for w in tables.windows(2) {
            assert!(w[0].0.iter().zip(&w[1].0).all(|(a, b)| a <= b));
        }
        // Next states only where the kernel is positive, in proportion to it at 10^6 samples.
        for (i, &c) in tables[2].0.iter().enumerate() {
            let (sa, next) = (i / 3, i % 3);
            let p = task.transition(sa / 2, sa % 2)[next];
            if p == 0.0 {
                assert_eq!(c, 0.0);
            }
            let row: f64 = tables[2].0[sa * 3..sa * 3 + 3].iter().sum();
            assert!((c - row * p).abs() <= 6.0 * (row * p * (1.0 - p)).sqrt() + 1e-9);
        }
    }

    #[test]
    fn nested_and_flat_tables_agree() {
        let flat =
            r#"{"gamma":0.5,"tasks":[{"states":2,"actions":1,"rewards":[0,1],"transitions":[0.5,0.5,0,1]}]}"#;
        let nested = r#"{"gamma":0.5,"tasks":[{"states":2,"actions":1,"rewards":[[0],[1]],"transitions":[[[0.5,0.5]],[[0,1]]]}]}"#;
        assert_eq!(
            parse_mdp_family(flat, None).unwrap(),
            parse_mdp_family(nested, None).unwrap()
        );
    }
}
