//! The empirical-validity study of Theorem 1 (§4 and the appendix) and the engine of
//! `pimtl bound`.
//!
//! ## What is measured
//! For a family of `T` finite MDPs `M_1 … M_T` (random, with a controlled spread, or read from a
//! JSON file, see [`parse_mdp_family`]):
//!
//! 1. **Samples.** For every task, `N` i.i.d. transitions `(x, a, R_t(x, a), x' ~ P_t(·|x, a))`
//!    with `x ~ μ` and `a` uniform over the actions. Pooling the `T` sample sets gives `N·T`
//!    samples whose empirical model converges to the **average MDP** `M` (mean `R`, mean `P`),
//!    which is what Corollary 1 runs LSPI on. Sample sets are nested: the run with `N` uses the
//!    first `N` of the `max N` samples drawn per task (common random numbers across `N`).
//! 2. **LSPI** on the pooled samples with the tabular state–action basis
//!    ([`TabularBasis`], `d = S·A`), greedy steps on `Q` truncated to `[−V_max, V_max]`, zero
//!    initial weights, ridge [`BoundConfig::ridge`], at most [`BoundConfig::max_iterations`]
//!    LSTD-Q solves. It stops early only at an exact fixed point (the greedy policy on *all*
//!    states repeats, so every further iteration would return identical weights); the policy
//!    after `K` iterations is then the final one, which is why the bound is evaluated with
//!    `K` = the cap.
//! 3. **Measured suboptimality** `‖V_t^* − V_t^{π_K}‖_σ` for every task, exactly: `V_t^*` by
//!    policy iteration, `V_t^{π_K}` by an LU solve, `σ` uniform.
//! 4. **The right-hand side** of Theorem 1 (appendix form, [`crate::theory::bound::theorem1`] via [`corollary1`] with
//!    `N → N·T`) for every task, term by term.
//!
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
//! At every practical `N` the bound is vacuous. A row is `applicable` only when Lemma 4 of
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
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::io::write_atomic;
use crate::theory::bound::{
    approximation_error, corollary1, feature_bound, finite_family_inputs, gram_min_eigenvalue,
    lazaric_sample_terms, Bound, Failure, FamilyInputs, LearnerInputs, Mixing,
};
use crate::theory::features::{Features, TabularBasis};
use crate::theory::lspi::{greedy_table, lspi_from, truncate, LspiConfig, Sample, DEFAULT_RIDGE};
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

/// Largest pooled sample set `max N · T` the study will hold in memory.
pub const MAX_POOLED_SAMPLES: usize = 10_000_000;

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
    /// Measured `‖V_t^* − V_t^{π_K}‖_σ` (exact).
    pub measured: f64,
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
    /// Mean measured suboptimality.
    pub mean_measured: f64,
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

/// LSPI one LSTD-Q solve at a time ([`lspi_from`] with a cap of 1), recording every iterate.
fn run_lspi(
    basis: &TabularBasis,
    samples: &[Sample<usize>],
    states: usize,
    gamma: f64,
    cfg: &BoundConfig,
    v_max: Option<f64>,
) -> Result<LspiRun> {
    let mut step = LspiConfig::new(gamma);
    step.ridge = cfg.ridge;
    step.tolerance = 0.0;
    step.max_iterations = 1;
    step.v_max = v_max;
    let mut w = DVector::zeros(basis.dim());
    let (mut table, pi, v) = greedy_and_value(basis, &w, states, v_max)?;
    let mut iterates = vec![(pi, v)];
    let mut fixed_point = false;
    let mut iterations = 0;
    for k in 1..=cfg.max_iterations {
        w = lspi_from(basis, samples, &step, w.as_slice())?.weights;
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
    let ok = |n: f64| -> Result<bool> {
        Ok(is_applicable(&evaluate_bound(
            fam, learner, cfg, t, n, tasks, epsilon,
        )?))
    };
    let cap = MAX_SEARCH_N / tasks as f64;
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
    // Samples: N_max per task, x ~ μ (uniform), a ~ uniform, x' ~ P_t(·|x, a).
    let n_max = cfg.samples_per_task.iter().copied().max().unwrap_or(1);
    let mut rng = ChaCha8Rng::seed_from_u64(derive(job.seed, 4, 0));
    let per_task: Vec<Vec<Sample<usize>>> = tasks
        .iter()
        .map(|m| {
            (0..n_max)
                .map(|_| {
                    let s = rng.random_range(0..states);
                    let a = rng.random_range(0..actions);
                    let next = m.step(s, a, &mut rng);
                    Sample::transition(s, a, m.reward(s, a), next)
                })
                .collect()
        })
        .collect();
    let basis = TabularBasis::new(states, actions)?;
    let runs = cfg
        .samples_per_task
        .iter()
        .map(|&n| {
            let pooled: Vec<Sample<usize>> = per_task.iter().flat_map(|s| s[..n].iter().cloned()).collect();
            run_lspi(&basis, &pooled, states, gamma, cfg, v_trunc)
        })
        .collect::<Result<Vec<_>>>()?;
    // The policy set for ε, C and E_0.
    let count = (0..states).try_fold(1usize, |c, _| {
        c.checked_mul(actions).filter(|&c| c <= MAX_POLICY_SET)
    });
    let (policies, policy_set) = match count {
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
    let d = states * actions;
    let e0 = approximation_error(&average, &DMatrix::identity(states, states), &policies)?;
    let (l, omega) = if d <= MAX_EIGEN_DIM {
        let phi = DMatrix::<f64>::identity(d, d);
        let mu_sa = DVector::from_fn(d, |i, _| mu[i % states] / actions as f64);
        (feature_bound(&phi), gram_min_eigenvalue(&phi, &mu_sa)?)
    } else {
        (1.0, mu.min() / actions as f64)
    };
    let learner = Learner { d, l, omega, e0 };
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
    for (&n, run) in cfg.samples_per_task.iter().zip(&runs) {
        let final_policy = &run.iterates.last().expect("at least the initial iterate").0;
        for (t, task) in tasks.iter().enumerate() {
            let eps_iter = run
                .iterates
                .iter()
                .map(|(pi, v)| weighted_l2(&bellman_difference(task, &average, pi, v), mu))
                .fold(0.0, f64::max);
            let epsilon = fam.epsilon[t].max(eps_iter);
            let ev = evaluate_bound(&fam, &learner, cfg, t, n as f64, n_tasks, epsilon)?;
            let (v_star, _, _) = &optimum[t];
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
    Ok(BoundResults {
        config: cfg.clone(),
        crate_version: env!("CARGO_PKG_VERSION").to_string(),
        source,
        policy_set,
        shape,
        rows,
        families,
        summary,
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
required_n_per_task";

/// The rows as `metrics.csv` text (header [`METRICS_HEADER`], one line per row, full precision).
pub fn metrics_csv(rows: &[BoundRow]) -> String {
    let mut csv = format!("{METRICS_HEADER}\n");
    for r in rows {
        let _ = writeln!(
            csv,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
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
            opt(r.required_n_per_task)
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
        })?,
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
