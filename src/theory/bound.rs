//! Concentrability coefficients, Theorem 1 in the appendix's explicit form, Corollaries 1–2.
//!
//! Paper map (§4 Assumption 1, Theorem 1, Corollaries 1–2, and the appendix proof):
//! - Assumption 1, `μ ≤ C ρ_t^π` for the greedy policies → [`assumption1_c`].
//! - Assumption 1, `c_{σ,μ}(m)`, `C'_{σ,μ} = (1−γ) Σ_{m≥0} γ^m c(m)` and
//!   `C''_{σ,μ} = (1−γ)² Σ_{m≥1} m γ^{m−1} c(m)` → [`concentrability`] (exact dynamic
//!   program), [`concentrability_brute_force`] (enumeration oracle), [`ConcentrabilitySeries`].
//! - Theorem 1 (appendix statement) → [`theorem1`]; Lazaric, Ghavamzadeh & Munos (2012)
//!   Theorem 8 as a cross-check → [`lazaric_theorem8`].
//! - Corollary 1 (`N → N·T`) → [`corollary1`]; Corollary 2 (`T = C(M, m) ≥ (M/m)^m`) →
//!   [`corollary2`].
//!
//! ## Orientation of `c_{σ,μ}(m)`
//! The paper (like Lazaric et al.) writes `c_{σ,μ}(m) = sup ‖d(μP^{π_1}…P^{π_m})/dσ‖`, but its
//! proof uses `σ A_k ≤ (1−γ) Σ_m γ^m c(m + K − k) μ`, i.e. `σ P^{π_1}…P^{π_m} ≤ c(m) μ`: the
//! Radon–Nikodym derivative of the **σ**-started distribution with respect to **μ**, as in
//! Munos (2003) and Antos et al. (2008). [`concentrability`] implements that orientation,
//! `c(m) = sup_{π_1..π_m} max_y (σ P^{π_1}…P^{π_m})(y) / μ(y)`, which is what makes the bound
//! valid. The literal written form is [`concentrability_coefficients`] with the two
//! distributions swapped.
//!
//! ## Differences between the appendix's Theorem 1 and Lazaric et al. Theorem 8
//! 1. Prefactor `2/(1−γ)²` (appendix) vs `4γ/(1−γ)²` (Lazaric et al., after their footnote 6
//!    corrected the Antos et al. coefficients that the appendix re-uses).
//! 2. The appendix puts `E_1` inside `2/(1−γ)(… + E_1)`; Lazaric et al. add `E_1` outside that
//!    factor (inside the square bracket).
//! 3. The appendix's `C''` is Lazaric et al.'s `C_{σ,μ}`; the appendix adds `C'` and the term
//!    `3ε√(2C')`.
//!
//! [`theorem1`] implements the appendix's form as stated; [`lazaric_theorem8`] the original.
//!
//! ## Which inputs the crate computes and which the user supplies
//! On a finite MDP family (tasks `M_t` and their average `M`) the crate computes exactly:
//! `γ`; `R_max` ([`crate::theory::mdp::FiniteMdp::max_abs_reward`]); `c(m)`, `C'`, `C''`
//! ([`concentrability`], with a bound on the truncated tail); `ε` over a given policy set
//! ([`crate::theory::mdp::epsilon`]); `C` of Assumption 1 over a given policy set (stationary
//! distributions of, e.g., the greedy policies LSPI visited, [`assumption1_c`]). All of these
//! at once: [`finite_family_inputs`]. Given state features `Φ` (S × d) it also computes
//! `L = max |φ_i(x)|` ([`feature_bound`]), `ω_μ` ([`gram_min_eigenvalue`]) and `E_0` over a
//! policy set ([`approximation_error`]); given the β-mixing parameters (i.i.d. samples:
//! [`Mixing::iid`]) the sample-dependent quantities `E_1`, `E_2`, `ν_μ` and the Lemma 4 sample
//! size of Lazaric et al. ([`lazaric_sample_terms`]).
//! The user supplies what depends on the learner and the sampling process: the feature space
//! (hence `d`, `L`, `E_0`), `ν_μ`, `E_1`, `E_2` (or the mixing parameters to compute them),
//! `δ`, the number of iterations `K` and the sample size `N`.
//!
//! ## Vacuous bounds
//! Any two value functions of an MDP lie in `[−V_max, V_max]`, so `‖V_t^* − V_t^{π_K}‖_σ ≤
//! 2 V_max` always. When the right-hand side exceeds that trivial bound (or a concentrability
//! coefficient is infinite) the result is [`Bound::NotApplicable`] with the terms and the
//! reason, never a bare meaningless number.

use nalgebra::{DMatrix, DVector, SymmetricEigen};

use crate::error::{check_finite, Error, Result};
use crate::tasks::{binomial, corollary2_lower_bound, log_binomial};
use crate::theory::mdp::{check_distribution, epsilon, FiniteMdp, TabularPolicy};

/// Largest number of policy sequences `|Π|^m` [`concentrability_brute_force`] will enumerate.
pub const MAX_ENUMERATED_SEQUENCES: usize = 1_000_000;

/// `num / den` with the conventions of a Radon–Nikodym derivative: `0` when `num = 0`, `+∞`
/// when `den = 0 < num`.
fn density_ratio(num: f64, den: f64) -> f64 {
    if num <= 0.0 {
        0.0
    } else if den <= 0.0 {
        f64::INFINITY
    } else {
        num / den
    }
}

/// `a·b` with `0·∞ = 0` (the measure-theoretic convention: a zero weight kills an infinite
/// coefficient).
fn mul0(a: f64, b: f64) -> f64 {
    if a == 0.0 || b == 0.0 {
        0.0
    } else {
        a * b
    }
}

fn check_pair(mdp: &FiniteMdp, start: &DVector<f64>, reference: &DVector<f64>) -> Result<()> {
    if start.len() != mdp.states() {
        return Err(Error::shape("start distribution σ", mdp.states(), start.len()));
    }
    if reference.len() != mdp.states() {
        return Err(Error::shape(
            "reference distribution μ",
            mdp.states(),
            reference.len(),
        ));
    }
    check_distribution(start, "sigma")?;
    check_distribution(reference, "mu")
}

/// Per-action transition matrices `P_a(x, y) = P(y|x, a)`.
fn action_matrices(mdp: &FiniteMdp) -> Vec<DMatrix<f64>> {
    let n = mdp.states();
    (0..mdp.actions())
        .map(|a| DMatrix::from_fn(n, n, |x, y| mdp.transition(x, a)[y]))
        .collect()
}

/// Exact `c(m) = sup_{π_1..π_m} max_y (start·P^{π_1}⋯P^{π_m})(y) / reference(y)` for
/// `m = 0..=max_m`, the supremum over all (deterministic or stochastic, possibly
/// non-stationary) policy sequences, plus a bound `c̄ ≥ c(m)` for every `m > max_m`.
///
/// Dynamic program (theory notes A3): all matrices are non-negative and row `x` of `P^{π_i}`
/// depends only on `π_i(x)`, so the supremum is attained target-wise by backward induction:
/// `U_0 = I`, `U_m(x, y) = max_a Σ_z P(z|x, a) U_{m−1}(z, y)` and
/// `c(m) = max_y (startᵀ U_m)(y) / reference(y)` (with `0/0 = 0` and `q/0 = ∞` for `q > 0`).
/// Stochastic policies cannot do better (the objective is multilinear). Cost O(A·S³) per `m`.
///
/// Tail bound: for `m ≥ j`, the first `m − j` steps produce some distribution, so
/// `c(m) ≤ c̄_j = max_y (max_z U_j(z, y)) / reference(y)`; the returned `c̄` is the minimum over
/// `j = 0..=max_m` (`c̄_0 = max_y 1/reference(y)`, `c̄_1` is Munos' "uniformly stochastic
/// transitions" constant).
///
/// # Errors
/// Shape errors; parameter errors if `start` or `reference` is not a distribution.
pub fn concentrability_coefficients(
    mdp: &FiniteMdp,
    start: &DVector<f64>,
    reference: &DVector<f64>,
    max_m: usize,
) -> Result<(Vec<f64>, f64)> {
    check_pair(mdp, start, reference)?;
    let n = mdp.states();
    let pa = action_matrices(mdp);
    let coefficient = |row: &nalgebra::RowDVector<f64>| -> f64 {
        (0..n)
            .map(|y| density_ratio(row[y], reference[y]))
            .fold(0.0, f64::max)
    };
    let column_max_bound = |u: &DMatrix<f64>| -> f64 {
        (0..n)
            .map(|y| density_ratio(u.column(y).max(), reference[y]))
            .fold(0.0, f64::max)
    };
    let start_row = start.transpose();
    let mut u = DMatrix::<f64>::identity(n, n);
    let mut c = Vec::with_capacity(max_m + 1);
    c.push(coefficient(&(&start_row * &u)));
    let mut tail = column_max_bound(&u);
    for _ in 1..=max_m {
        let mut next = &pa[0] * &u;
        for p in &pa[1..] {
            let cand = p * &u;
            next.zip_apply(&cand, |a, b| *a = a.max(b));
        }
        u = next;
        c.push(coefficient(&(&start_row * &u)));
        tail = tail.min(column_max_bound(&u));
    }
    Ok((c, tail))
}

/// Brute-force `c(m) = max over all sequences (π_1, …, π_m) ∈ policies^m of
/// max_y (start·P^{π_1}⋯P^{π_m})(y) / reference(y)`, by enumerating the `|policies|^m`
/// sequences. A test oracle for [`concentrability_coefficients`] (pass
/// [`crate::theory::mdp::all_deterministic_policies`]) and the exact value over a restricted
/// policy set (e.g. the greedy policies LSPI visited; the DP value is then an upper bound).
///
/// # Errors
/// Shape errors; parameter errors if a distribution is invalid, `policies` is empty (with
/// `m ≥ 1`) or `|policies|^m > ` [`MAX_ENUMERATED_SEQUENCES`].
pub fn concentrability_brute_force(
    mdp: &FiniteMdp,
    policies: &[TabularPolicy],
    start: &DVector<f64>,
    reference: &DVector<f64>,
    m: usize,
) -> Result<f64> {
    check_pair(mdp, start, reference)?;
    for pi in policies {
        mdp.check_policy(pi)?;
    }
    if m > 0 && policies.is_empty() {
        return Err(Error::param("policies", 0, "need at least one policy"));
    }
    let mut count: usize = 1;
    for _ in 0..m {
        count = count
            .checked_mul(policies.len())
            .filter(|&c| c <= MAX_ENUMERATED_SEQUENCES)
            .ok_or_else(|| {
                Error::param(
                    "m",
                    m,
                    format!("|policies|^m exceeds {MAX_ENUMERATED_SEQUENCES} sequences"),
                )
            })?;
    }
    let mats: Vec<DMatrix<f64>> = policies.iter().map(|p| mdp.transition_matrix(p)).collect();
    let n = mdp.states();
    let mut best: f64 = 0.0;
    let mut digits = vec![0usize; m];
    for _ in 0..count {
        let mut row = start.transpose();
        for &d in &digits {
            row = &row * &mats[d];
        }
        let c = (0..n)
            .map(|y| density_ratio(row[(0, y)], reference[y]))
            .fold(0.0, f64::max);
        best = best.max(c);
        for d in digits.iter_mut().rev() {
            *d += 1;
            if *d < policies.len() {
                break;
            }
            *d = 0;
        }
    }
    Ok(best)
}

/// A series truncated after finitely many terms, with a bound on what was cut off:
/// the true value lies in `[value, value + tail_bound]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Truncated {
    /// The partial sum.
    pub value: f64,
    /// An upper bound on the omitted (non-negative) tail.
    pub tail_bound: f64,
}

impl Truncated {
    /// `value + tail_bound`, a guaranteed upper bound on the full series.
    pub fn upper(&self) -> f64 {
        self.value + self.tail_bound
    }
}

/// `c_{σ,μ}(m)` for `m = 0..=M` and the two discounted-average concentrability coefficients of
/// Assumption 1, truncated at `M` with explicit tail bounds.
#[derive(Debug, Clone, PartialEq)]
pub struct ConcentrabilitySeries {
    /// `c(m)` for `m = 0..=M` (`+∞` where `σP^{π_1}…P^{π_m}` is not absolutely continuous
    /// w.r.t. `μ`).
    pub c: Vec<f64>,
    /// `c̄ ≥ c(m)` for all `m > M` (see [`concentrability_coefficients`]).
    pub tail_c: f64,
    /// The discount `γ` used.
    pub gamma: f64,
    /// `C' = (1−γ) Σ_{m=0}^{M} γ^m c(m)`; tail `≤ c̄ γ^{M+1}`.
    pub c_prime: Truncated,
    /// `C'' = (1−γ)² Σ_{m=1}^{M} m γ^{m−1} c(m)`; tail `≤ c̄ γ^M ((M+1) − Mγ)`.
    pub c_second: Truncated,
}

impl ConcentrabilitySeries {
    /// Builds the truncated series from `c(0..=M)`, the tail constant `c̄` and `γ ∈ [0, 1)`.
    ///
    /// `C' ≈ (1−γ) Σ_{m=0}^{M} γ^m c(m)` with tail `(1−γ) Σ_{m>M} γ^m c̄ = c̄ γ^{M+1}`;
    /// `C'' ≈ (1−γ)² Σ_{m=1}^{M} m γ^{m−1} c(m)` with tail
    /// `(1−γ)² Σ_{m>M} m γ^{m−1} c̄ = c̄ γ^M ((M+1)(1−γ) + γ) = c̄ γ^M ((M+1) − Mγ)`.
    /// Zero weights multiply infinite coefficients to zero.
    ///
    /// # Errors
    /// Parameter errors if `γ ∉ [0, 1)`, `c` is empty, or a coefficient is NaN or negative.
    pub fn from_coefficients(c: Vec<f64>, tail_c: f64, gamma: f64) -> Result<Self> {
        if !(0.0..1.0).contains(&gamma) {
            return Err(Error::param("gamma", gamma, "discount must satisfy 0 ≤ γ < 1"));
        }
        if c.is_empty() {
            return Err(Error::param("c", "[]", "need c(0)"));
        }
        if let Some((i, v)) = c
            .iter()
            .chain([&tail_c])
            .enumerate()
            .find(|(_, v)| v.is_nan() || **v < 0.0)
        {
            return Err(Error::param(
                "c",
                format!("c[{i}] = {v}"),
                "coefficients must be ≥ 0",
            ));
        }
        let big_m = c.len() - 1;
        let mut cp = 0.0;
        let mut cs = 0.0;
        for (m, &cm) in c.iter().enumerate() {
            cp += mul0((1.0 - gamma) * gamma.powi(m as i32), cm);
            if m >= 1 {
                cs += mul0((1.0 - gamma).powi(2) * m as f64 * gamma.powi(m as i32 - 1), cm);
            }
        }
        let mf = big_m as f64;
        let c_prime = Truncated {
            value: cp,
            tail_bound: mul0(gamma.powi(big_m as i32 + 1), tail_c),
        };
        let c_second = Truncated {
            value: cs,
            tail_bound: mul0(gamma.powi(big_m as i32) * ((mf + 1.0) - mf * gamma), tail_c),
        };
        Ok(Self {
            c,
            tail_c,
            gamma,
            c_prime,
            c_second,
        })
    }

    /// Whether every computed coefficient and the tail constant are finite.
    pub fn is_finite(&self) -> bool {
        self.c.iter().all(|v| v.is_finite()) && self.tail_c.is_finite()
    }
}

/// `c_{σ,μ}(m)` (proof orientation: `σ P^{π_1}…P^{π_m} ≤ c(m) μ`, see the module doc) for
/// `m = 0..=max_m` over all policies of `mdp`, and `C'`, `C''` truncated at `max_m` with tail
/// bounds. Exact via the dynamic program of [`concentrability_coefficients`].
///
/// # Errors
/// As [`concentrability_coefficients`].
pub fn concentrability(
    mdp: &FiniteMdp,
    sigma: &DVector<f64>,
    mu: &DVector<f64>,
    max_m: usize,
) -> Result<ConcentrabilitySeries> {
    let (c, tail) = concentrability_coefficients(mdp, sigma, mu, max_m)?;
    ConcentrabilitySeries::from_coefficients(c, tail, mdp.gamma())
}

/// `C` of Assumption 1 over a given policy set: the smallest `C` with `μ ≤ C ρ^π` for every
/// `π` in `policies`, i.e. `C = max_π max_x μ(x) / ρ^π(x)` (`+∞` if some `ρ^π` vanishes where
/// `μ` is positive). `ρ^π` is [`FiniteMdp::stationary_distribution`] (Cesàro limit from the
/// uniform start). Take the maximum over the tasks `M_t` for the "for all `t`" of Assumption 1.
///
/// # Errors
/// Shape errors; a parameter error if `μ` is not a distribution or `policies` is empty.
pub fn assumption1_c(mdp: &FiniteMdp, policies: &[TabularPolicy], mu: &DVector<f64>) -> Result<f64> {
    if mu.len() != mdp.states() {
        return Err(Error::shape("mu", mdp.states(), mu.len()));
    }
    check_distribution(mu, "mu")?;
    if policies.is_empty() {
        return Err(Error::param("policies", 0, "need at least one policy"));
    }
    let mut c: f64 = 0.0;
    for pi in policies {
        let rho = mdp.stationary_distribution(pi)?;
        for x in 0..mdp.states() {
            c = c.max(density_ratio(mu[x], rho[x]));
        }
    }
    Ok(c)
}

/// The inputs of Theorem 1 (appendix form), named as in the paper.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BoundInputs {
    /// Discount `γ ∈ (0, 1)`.
    pub gamma: f64,
    /// Reward bound `R_max ≥ 0` (`V_max = R_max/(1−γ)`).
    pub r_max: f64,
    /// `C` of Assumption 1 (`μ ≤ C ρ^π`); `+∞` allowed (→ not applicable).
    pub c: f64,
    /// First-order concentrability `C'_{σ,μ}`; `+∞` allowed.
    pub c_prime: f64,
    /// Second-order concentrability `C''_{σ,μ}`; `+∞` allowed.
    pub c_second: f64,
    /// `ν_μ > 0` of Lazaric et al. Lemma 4 / Eq. 14 (not the Gram eigenvalue itself).
    pub nu_mu: f64,
    /// Feature bound `L = max_i sup_x |φ_i(x)|`.
    pub l: f64,
    /// Number of features `d ≥ 1`.
    pub d: usize,
    /// Number of LSPI iterations `K ≥ 1`.
    pub k: usize,
    /// Confidence parameter `δ ∈ (0, 1)`.
    pub delta: f64,
    /// Samples per iteration `N ≥ 1` (a real number so that `N·T` cannot overflow).
    pub n: f64,
    /// The smallest `N` that satisfies Lemma 4 of Lazaric et al. (2012), Eq. 13
    /// ([`SampleTerms::lemma4_min_n`] of [`lazaric_sample_terms`], which also gives the `ν_μ`
    /// that exists only from there on). Theorem 1 assumes `N` meets it: with `N` below, the
    /// result is [`Bound::NotApplicable`] ([`Failure::Lemma4`]). In the unit of `n` (pooled
    /// samples `N·T` under [`corollary1`]).
    pub lemma4_min_n: f64,
    /// Approximation error `E_0(F) ≥ 0`.
    pub e0: f64,
    /// Estimation error `E_1 ≥ 0`.
    pub e1: f64,
    /// Estimation error `E_2 ≥ 0`.
    pub e2: f64,
    /// Task distance `ε ≥ 0` (`‖D_t^π V^π‖_μ ≤ ε`).
    pub epsilon: f64,
}

impl BoundInputs {
    /// Checks every input's range (see the field docs).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the first offending input.
    pub fn validate(&self) -> Result<()> {
        let open01 = |name: &'static str, v: f64| {
            if v > 0.0 && v < 1.0 {
                Ok(())
            } else {
                Err(Error::param(name, v, "must lie in the open interval (0, 1)"))
            }
        };
        open01("gamma", self.gamma)?;
        open01("delta", self.delta)?;
        for (name, v) in [
            ("r_max", self.r_max),
            ("l", self.l),
            ("e0", self.e0),
            ("e1", self.e1),
            ("e2", self.e2),
            ("epsilon", self.epsilon),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(Error::param(name, v, "must be finite and ≥ 0"));
            }
        }
        for (name, v) in [
            ("c", self.c),
            ("c_prime", self.c_prime),
            ("c_second", self.c_second),
        ] {
            if v.is_nan() || v < 0.0 {
                return Err(Error::param(name, v, "must be ≥ 0 (+∞ is allowed)"));
            }
        }
        if !(self.nu_mu.is_finite() && self.nu_mu > 0.0) {
            return Err(Error::param("nu_mu", self.nu_mu, "must be finite and > 0"));
        }
        if !(self.n.is_finite() && self.n >= 1.0) {
            return Err(Error::param("n", self.n, "sample size N must be finite and ≥ 1"));
        }
        if self.lemma4_min_n.is_nan() || self.lemma4_min_n < 0.0 {
            return Err(Error::param(
                "lemma4_min_n",
                self.lemma4_min_n,
                "Lemma 4's sample size must be ≥ 0 (+∞ is allowed)",
            ));
        }
        if self.d == 0 {
            return Err(Error::param("d", 0, "need at least one feature"));
        }
        if self.k == 0 {
            return Err(Error::param("k", 0, "need at least one iteration K"));
        }
        Ok(())
    }

    /// `V_max = R_max / (1 − γ)`.
    pub fn v_max(&self) -> f64 {
        self.r_max / (1.0 - self.gamma)
    }

    /// The sample factor `√(8 log(8dK/δ)/N) + 1/N` of the estimation term.
    pub fn sample_factor(&self) -> f64 {
        let log = (8.0 * self.d as f64 * self.k as f64 / self.delta).ln();
        (8.0 * log / self.n).sqrt() + 1.0 / self.n
    }
}

/// The right-hand side of the bound and its terms (which sum to `total`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BoundTerms {
    /// The common prefactor: `2/(1−γ)²` (appendix) or `4γ/(1−γ)²` (Lazaric et al.).
    pub prefactor: f64,
    /// Approximation term `prefactor·(1+γ)√(C C'')·2/√(1−γ²)·(2√2 E_0 + E_2)`.
    pub approximation: f64,
    /// Estimation term, `estimation_sample + estimation_e1`.
    pub estimation: f64,
    /// Its sample-size part
    /// `prefactor·(1+γ)√(C C'')·2/(1−γ)·γ V_max L √(d/ν_μ)·(√(8 log(8dK/δ)/N) + 1/N)`.
    pub estimation_sample: f64,
    /// Its `E_1` part: `prefactor·(1+γ)√(C C'')·2/(1−γ)·E_1` (appendix) or
    /// `prefactor·(1+γ)√(C C'')·E_1` (Lazaric et al.).
    pub estimation_e1: f64,
    /// Iteration term `prefactor·γ^{(K−1)/2} R_max`.
    pub iteration: f64,
    /// Transfer (task-distance) term `prefactor·3ε√(2C')` (zero in Lazaric et al.).
    pub transfer: f64,
    /// `approximation + estimation + iteration + transfer`.
    pub total: f64,
    /// The trivial bound `2 V_max = 2 R_max/(1−γ)`.
    pub trivial: f64,
}

/// Why a bound does not apply (one [`Bound::NotApplicable`] can have several).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// `C`, `C'` or `C''` is infinite: `μ` does not dominate the reachable distributions.
    InfiniteConcentrability,
    /// `N` is below Lemma 4's sample size ([`BoundInputs::lemma4_min_n`]): the theorem's
    /// hypothesis fails, so the right-hand side is not a bound at all.
    Lemma4,
    /// The right-hand side is at least the trivial bound `2 V_max` (or NaN).
    Vacuous,
}

impl Failure {
    /// A short name (`infinite-concentrability`, `lemma4`, `vacuous`).
    pub fn name(&self) -> &'static str {
        match self {
            Failure::InfiniteConcentrability => "infinite-concentrability",
            Failure::Lemma4 => "lemma4",
            Failure::Vacuous => "vacuous",
        }
    }
}

/// The outcome of evaluating a bound.
#[derive(Debug, Clone, PartialEq)]
pub enum Bound {
    /// Every hypothesis holds (Lemma 4's sample size included) and the right-hand side is
    /// finite and below the trivial bound `2 V_max`.
    Applicable(BoundTerms),
    /// The bound says nothing: a concentrability coefficient is infinite, `N` is below
    /// Lemma 4's sample size, or the right-hand side is at least `2 V_max`. The terms are
    /// still reported.
    NotApplicable {
        /// The terms as computed (possibly infinite).
        terms: BoundTerms,
        /// Every failed condition, in the order of [`Failure`]'s variants.
        failures: Vec<Failure>,
        /// Why the bound is not informative (one sentence per failure, joined by `; `).
        reason: String,
    },
}

impl Bound {
    /// The terms, whichever the variant.
    pub fn terms(&self) -> &BoundTerms {
        match self {
            Bound::Applicable(t) => t,
            Bound::NotApplicable { terms, .. } => terms,
        }
    }

    /// Whether the bound is informative.
    pub fn is_applicable(&self) -> bool {
        matches!(self, Bound::Applicable(_))
    }

    /// The right-hand side when applicable.
    pub fn value(&self) -> Option<f64> {
        match self {
            Bound::Applicable(t) => Some(t.total),
            Bound::NotApplicable { .. } => None,
        }
    }
}

fn classify(inputs: &BoundInputs, terms: BoundTerms) -> Bound {
    let mut failures = Vec::new();
    let mut reasons = Vec::new();
    let infinite: Vec<&str> = [("C", inputs.c), ("C'", inputs.c_prime), ("C''", inputs.c_second)]
        .iter()
        .filter(|(_, v)| v.is_infinite())
        .map(|(n, _)| *n)
        .collect();
    if !infinite.is_empty() {
        failures.push(Failure::InfiniteConcentrability);
        reasons.push(format!(
            "concentrability coefficient(s) {} infinite (μ does not dominate the reachable \
             state distributions)",
            infinite.join(", ")
        ));
    }
    if inputs.n < inputs.lemma4_min_n {
        failures.push(Failure::Lemma4);
        reasons.push(format!(
            "Lemma 4 of Lazaric et al. (Eq. 13) not met: N = {} but it needs N ≥ {:.4e}",
            inputs.n, inputs.lemma4_min_n
        ));
    }
    if terms.total.is_nan() || terms.total >= terms.trivial {
        failures.push(Failure::Vacuous);
        reasons.push(format!(
            "vacuous: the right-hand side {:.4e} is not below the trivial bound 2·V_max = {:.4e}",
            terms.total, terms.trivial
        ));
    }
    if failures.is_empty() {
        Bound::Applicable(terms)
    } else {
        Bound::NotApplicable {
            terms,
            failures,
            reason: reasons.join("; "),
        }
    }
}

/// Theorem 1 of the paper in the appendix's explicit form: with probability `1 − δ`,
///
/// ```text
/// ‖V_t^{π_t*} − V_t^{π_K}‖_σ ≤ 2/(1−γ)² · { (1+γ)√(C C'') [ 2/√(1−γ²) (2√2 E_0 + E_2)
///        + 2/(1−γ) ( γ V_max L √(d/ν_μ) (√(8 log(8dK/δ)/N) + 1/N) + E_1 ) ]
///        + γ^{(K−1)/2} R_max + 3ε√(2C') }
/// ```
///
/// returned term by term ([`BoundTerms`]). The theorem also needs `N` to satisfy Lemma 4 of
/// Lazaric et al. (2012): with `N <` [`BoundInputs::lemma4_min_n`] (from
/// [`lazaric_sample_terms`]) the result is [`Bound::NotApplicable`] with [`Failure::Lemma4`],
/// whatever the value of the right-hand side.
///
/// # Errors
/// [`Error::InvalidParameter`] for out-of-range inputs ([`BoundInputs::validate`]).
pub fn theorem1(inputs: &BoundInputs) -> Result<Bound> {
    inputs.validate()?;
    let g = inputs.gamma;
    let prefactor = 2.0 / (1.0 - g).powi(2);
    let conc = mul0(1.0 + g, mul0(inputs.c, inputs.c_second).sqrt());
    let approx_inner = 2.0 / (1.0 - g * g).sqrt() * (2.0 * 2f64.sqrt() * inputs.e0 + inputs.e2);
    let sample_inner =
        g * inputs.v_max() * inputs.l * (inputs.d as f64 / inputs.nu_mu).sqrt() * inputs.sample_factor();
    let approximation = mul0(prefactor * approx_inner, conc);
    let estimation_sample = mul0(prefactor * 2.0 / (1.0 - g) * sample_inner, conc);
    let estimation_e1 = mul0(prefactor * 2.0 / (1.0 - g) * inputs.e1, conc);
    let iteration = prefactor * g.powf((inputs.k as f64 - 1.0) / 2.0) * inputs.r_max;
    let transfer = mul0(prefactor * 3.0 * inputs.epsilon, (2.0 * inputs.c_prime).sqrt());
    let estimation = estimation_sample + estimation_e1;
    let terms = BoundTerms {
        prefactor,
        approximation,
        estimation,
        estimation_sample,
        estimation_e1,
        iteration,
        transfer,
        total: approximation + estimation + iteration + transfer,
        trivial: 2.0 * inputs.v_max(),
    };
    Ok(classify(inputs, terms))
}

/// Lazaric, Ghavamzadeh & Munos (2012) Theorem 8 (single task, no `ε`), as a cross-check:
///
/// ```text
/// ‖V* − V^{π_K}‖_σ ≤ 4γ/(1−γ)² · { (1+γ)√(C C'') [ 2/√(1−γ²) (2√2 E_0 + E_2)
///        + 2/(1−γ) γ V_max L √(d/ν_μ) (√(8 log(8dK/δ)/n) + 1/n) + E_1 ] + γ^{(K−1)/2} R_max }
/// ```
///
/// (`C''` here is their `C_{σ,μ}`). `inputs.epsilon` and `inputs.c_prime` are ignored; the
/// `transfer` term is 0.
///
/// # Errors
/// As [`theorem1`].
pub fn lazaric_theorem8(inputs: &BoundInputs) -> Result<Bound> {
    let mut inp = *inputs;
    inp.epsilon = 0.0;
    inp.c_prime = 0.0;
    inp.validate()?;
    let g = inp.gamma;
    let prefactor = 4.0 * g / (1.0 - g).powi(2);
    let conc = mul0(1.0 + g, mul0(inp.c, inp.c_second).sqrt());
    let approx_inner = 2.0 / (1.0 - g * g).sqrt() * (2.0 * 2f64.sqrt() * inp.e0 + inp.e2);
    let sample_inner = g * inp.v_max() * inp.l * (inp.d as f64 / inp.nu_mu).sqrt() * inp.sample_factor();
    let approximation = mul0(prefactor * approx_inner, conc);
    let estimation_sample = mul0(prefactor * 2.0 / (1.0 - g) * sample_inner, conc);
    let estimation_e1 = mul0(prefactor * inp.e1, conc);
    let iteration = prefactor * g.powf((inp.k as f64 - 1.0) / 2.0) * inp.r_max;
    let estimation = estimation_sample + estimation_e1;
    let terms = BoundTerms {
        prefactor,
        approximation,
        estimation,
        estimation_sample,
        estimation_e1,
        iteration,
        transfer: 0.0,
        total: approximation + estimation + iteration,
        trivial: 2.0 * inp.v_max(),
    };
    Ok(classify(&inp, terms))
}

/// Corollary 1: LSPI on the average MDP of `T` tasks with `N` samples each is Theorem 1 with
/// `N → N·T` (and `ε` the largest distance of a task from the average). `inputs.n` is the
/// per-task `N`; `inputs.lemma4_min_n` is compared with the pooled `N·T`, and the `ν_μ`, `E_1`,
/// `E_2` in `inputs` must be the ones computed at `N·T` ([`lazaric_sample_terms`]).
///
/// # Errors
/// A parameter error if `tasks` is not finite and ≥ 1; otherwise as [`theorem1`].
pub fn corollary1(inputs: &BoundInputs, tasks: f64) -> Result<Bound> {
    if !(tasks.is_finite() && tasks >= 1.0) {
        return Err(Error::param(
            "tasks",
            tasks,
            "number of tasks T must be finite and ≥ 1",
        ));
    }
    let mut inp = *inputs;
    inp.n = inputs.n * tasks;
    theorem1(&inp)
}

/// The task counts of Corollary 2 for a universe of `M` entities and tasks of `m`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Corollary2 {
    /// `M = |U|`.
    pub universe: u64,
    /// `m = |U_t|`.
    pub task_size: u64,
    /// `T = C(M, m)` exactly, or `None` when it exceeds `u128`.
    pub tasks: Option<u128>,
    /// `ln C(M, m)` (always available).
    pub log_tasks: f64,
    /// The lower bound `(M/m)^m` (`+∞` if it overflows `f64`).
    pub lower_bound: f64,
    /// `ln (M/m)^m = m ln(M/m)`.
    pub log_lower_bound: f64,
}

/// Corollary 2: there are `T = C(M, m) ≥ (M/m)^m` tasks of `m` entities in a universe of `M`.
///
/// # Errors
/// [`Error::InvalidParameter`] (`m`) if `m == 0` or `m > M`.
pub fn corollary2(universe_size: u64, task_size: u64) -> Result<Corollary2> {
    let lower_bound = corollary2_lower_bound(universe_size, task_size)?;
    let tasks = match binomial(universe_size, task_size) {
        Ok(t) => Some(t),
        Err(Error::Overflow { .. }) => None,
        Err(e) => return Err(e),
    };
    Ok(Corollary2 {
        universe: universe_size,
        task_size,
        tasks,
        log_tasks: log_binomial(universe_size, task_size),
        lower_bound,
        log_lower_bound: task_size as f64 * (universe_size as f64 / task_size as f64).ln(),
    })
}

/// The bound inputs that a finite MDP family determines exactly (see the module doc).
#[derive(Debug, Clone, PartialEq)]
pub struct FamilyInputs {
    /// The average MDP `M` of Corollary 1.
    pub average: FiniteMdp,
    /// `γ`.
    pub gamma: f64,
    /// `R_max = max` over the tasks and the average of `max |R(s, a)|`.
    pub r_max: f64,
    /// `ε_t = max_π ‖D_t^π V^π‖_μ` for each task (over the given policy set).
    pub epsilon: Vec<f64>,
    /// `C` of Assumption 1, the maximum over the tasks and the average of [`assumption1_c`].
    pub c: f64,
    /// Concentrability of the average MDP (used for `C''`, which multiplies the LSPI errors
    /// on `M`).
    pub average_concentrability: ConcentrabilitySeries,
    /// Concentrability of each task `M_t` (used for `C'`: the `ε` terms of the proof involve
    /// `(I − γP_t^π)^{-1}`).
    pub task_concentrability: Vec<ConcentrabilitySeries>,
}

impl FamilyInputs {
    /// Theorem 1's inputs for task `t`, with the user-supplied learner quantities filled in.
    /// Uses the tail-inclusive upper bounds of `C'` (task `t`) and `C''` (average), so the
    /// result is a valid bound.
    ///
    /// # Errors
    /// A parameter error if `t` is out of range.
    pub fn bound_inputs(&self, t: usize, learner: &LearnerInputs) -> Result<BoundInputs> {
        let eps = *self
            .epsilon
            .get(t)
            .ok_or_else(|| Error::param("t", t, format!("only {} tasks", self.epsilon.len())))?;
        Ok(BoundInputs {
            gamma: self.gamma,
            r_max: self.r_max,
            c: self.c,
            c_prime: self.task_concentrability[t].c_prime.upper(),
            c_second: self.average_concentrability.c_second.upper(),
            nu_mu: learner.nu_mu,
            l: learner.l,
            d: learner.d,
            k: learner.k,
            delta: learner.delta,
            n: learner.n,
            lemma4_min_n: learner.lemma4_min_n,
            e0: learner.e0,
            e1: learner.e1,
            e2: learner.e2,
            epsilon: eps,
        })
    }
}

/// The inputs of Theorem 1 that depend on the learner (features, samples, iterations).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LearnerInputs {
    /// `ν_μ > 0`.
    pub nu_mu: f64,
    /// Feature bound `L`.
    pub l: f64,
    /// Number of features `d`.
    pub d: usize,
    /// LSPI iterations `K`.
    pub k: usize,
    /// Confidence `δ`.
    pub delta: f64,
    /// Samples per iteration **per task** `N`; [`corollary1`] multiplies it by `T`.
    pub n: f64,
    /// Lemma 4's smallest sample size in pooled samples (`N·T` units,
    /// [`SampleTerms::lemma4_min_n`] at the pooled `n`).
    pub lemma4_min_n: f64,
    /// `E_0(F)`.
    pub e0: f64,
    /// `E_1`.
    pub e1: f64,
    /// `E_2`.
    pub e2: f64,
}

/// Computes every MDP-determined input of Theorem 1 for a family of tasks: the average MDP,
/// `R_max`, `ε_t` for every task, `C` of Assumption 1 (over `policies`, max over tasks and the
/// average), and `c(m)`, `C'`, `C''` truncated at `max_m` for the average and for each task.
///
/// `policies` is the set over which `ε` and `C` are maximised (e.g.
/// [`crate::theory::mdp::all_deterministic_policies`] for small MDPs, or the greedy policies an
/// LSPI run visited).
///
/// # Errors
/// Errors of [`FiniteMdp::average`], [`epsilon`], [`assumption1_c`] and [`concentrability`].
pub fn finite_family_inputs(
    tasks: &[FiniteMdp],
    policies: &[TabularPolicy],
    sigma: &DVector<f64>,
    mu: &DVector<f64>,
    max_m: usize,
) -> Result<FamilyInputs> {
    let average = FiniteMdp::average(tasks)?;
    let r_max = tasks
        .iter()
        .chain([&average])
        .map(|m| m.max_abs_reward())
        .fold(0.0, f64::max);
    let epsilon = tasks
        .iter()
        .map(|t| epsilon(t, &average, policies, mu))
        .collect::<Result<Vec<_>>>()?;
    let mut c: f64 = assumption1_c(&average, policies, mu)?;
    for t in tasks {
        c = c.max(assumption1_c(t, policies, mu)?);
    }
    let average_concentrability = concentrability(&average, sigma, mu, max_m)?;
    let task_concentrability = tasks
        .iter()
        .map(|t| concentrability(t, sigma, mu, max_m))
        .collect::<Result<Vec<_>>>()?;
    Ok(FamilyInputs {
        gamma: average.gamma(),
        average,
        r_max,
        epsilon,
        c,
        average_concentrability,
        task_concentrability,
    })
}

/// `L = max_{x,i} |φ_i(x)|` for a feature matrix `Φ` (one row per state or state-action).
pub fn feature_bound(phi: &DMatrix<f64>) -> f64 {
    phi.iter().fold(0.0, |m, v| m.max(v.abs()))
}

/// `ω_μ`, the smallest eigenvalue of the Gram matrix `G_μ = Φᵀ diag(μ) Φ` (Lazaric et al.
/// Assumption 3; `> 0` iff the features are linearly independent on the support of `μ`).
///
/// # Errors
/// Shape error if `μ.len() ≠ Φ.nrows()`; [`Error::NonFinite`] on NaN entries; a parameter
/// error if `Φ` has no columns.
pub fn gram_min_eigenvalue(phi: &DMatrix<f64>, mu: &DVector<f64>) -> Result<f64> {
    if mu.len() != phi.nrows() {
        return Err(Error::shape("mu", phi.nrows(), mu.len()));
    }
    if phi.ncols() == 0 {
        return Err(Error::param("phi", "0 columns", "need at least one feature"));
    }
    check_finite("phi", phi.as_slice())?;
    check_finite("mu", mu.as_slice())?;
    let weighted = DMatrix::from_fn(phi.nrows(), phi.ncols(), |i, j| phi[(i, j)] * mu[i]);
    let gram = phi.transpose() * weighted;
    let eig = SymmetricEigen::new(gram).eigenvalues;
    Ok(eig.iter().copied().fold(f64::INFINITY, f64::min))
}

/// `E_0(F)` over a given policy set: `max_π min_α ‖Φα − V^π‖_{ρ^π}` with state features `Φ`
/// (S × d), `V^π` the exact value and `ρ^π` the stationary distribution of `π` in `mdp`.
/// The inner minimum is a weighted least-squares problem, solved by the SVD of
/// `diag(√ρ^π) Φ` (minimum-norm solution, singular values below `1e-12·σ_max` dropped, so a
/// rank-deficient matrix — e.g. `ρ^π = 0` on some states — is handled).
///
/// # Errors
/// Shape errors; errors of policy evaluation and of the stationary distribution; a parameter
/// error if `policies` is empty.
pub fn approximation_error(mdp: &FiniteMdp, phi: &DMatrix<f64>, policies: &[TabularPolicy]) -> Result<f64> {
    if phi.nrows() != mdp.states() {
        return Err(Error::shape("phi rows (states)", mdp.states(), phi.nrows()));
    }
    check_finite("phi", phi.as_slice())?;
    if policies.is_empty() {
        return Err(Error::param("policies", 0, "need at least one policy"));
    }
    let mut worst: f64 = 0.0;
    for pi in policies {
        let v = mdp.evaluate(pi)?;
        let rho = mdp.stationary_distribution(pi)?;
        let w = rho.map(f64::sqrt);
        let a = DMatrix::from_fn(phi.nrows(), phi.ncols(), |i, j| w[i] * phi[(i, j)]);
        let b = v.component_mul(&w);
        // Residual of the weighted least squares = ‖(I − proj) b‖ in the plain 2-norm.
        let svd = a.clone().svd(true, true);
        let alpha = svd
            .solve(&b, 1e-12 * svd.singular_values.max().max(f64::MIN_POSITIVE))
            .map_err(|e| Error::param("phi", "SVD", e.to_string()))?;
        let resid = (&a * alpha - &b).norm();
        worst = worst.max(resid);
    }
    Ok(worst)
}

/// β-mixing parameters `(β̄, b, κ)` of the sample path (Lazaric et al. Assumption 4:
/// `β_i ≤ β̄ exp(−b i^κ)`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Mixing {
    /// `β̄ ≥ 0`.
    pub beta_bar: f64,
    /// `b > 0` (`+∞` for independent samples).
    pub b: f64,
    /// `κ > 0`.
    pub kappa: f64,
}

impl Mixing {
    /// Independent samples: `β_i = 0`, i.e. `β̄ = 0`, `b = ∞`, so every factor
    /// `max{Λ/b, 1}^{1/κ}` equals 1.
    pub fn iid() -> Self {
        Self {
            beta_bar: 0.0,
            b: f64::INFINITY,
            kappa: 1.0,
        }
    }

    fn factor(&self, lambda: f64) -> f64 {
        (lambda / self.b).max(1.0).powf(1.0 / self.kappa)
    }
}

/// The sample-dependent quantities of Lazaric et al. (2012) for Theorem 1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SampleTerms {
    /// `Λ(n, d, δ') = 2(d+1) ln n + ln(e/δ') + log⁺ max{18(6e)^{2(d+1)}, β̄}`.
    pub lambda: f64,
    /// `E_1 = 24 V_max √(2Λ_1/n) max{Λ_1/b, 1}^{1/κ}`, `Λ_1 = Λ(n, d, δ'/4)`.
    pub e1: f64,
    /// `E_2 = 12 (V_max + L‖α*‖) √(2Λ_2/n) max{Λ_2/b, 1}^{1/κ}`,
    /// `Λ_2 = ln(4e/δ') + ln max{6, n β̄}`, `‖α*‖ = √(C/ω_μ) R_max/(1−γ)`.
    pub e2: f64,
    /// `ν_μ` from `√ν_μ = √ω_μ/2 − 6L √(2Λ/n) max{Λ/b, 1}^{1/κ}`, `None` when the right side
    /// is ≤ 0 (too few samples for Lemma 4).
    pub nu_mu: Option<f64>,
    /// The smallest integer `n` satisfying Lemma 4 (Eq. 13):
    /// `n > 288 L² Λ(n, d, δ')/ω_μ · max{Λ/b, 1}^{1/κ}` (bisection), `+∞` if beyond 2^60.
    pub lemma4_min_n: f64,
    /// Whether the given `n` satisfies Lemma 4 (the inequality of `lemma4_min_n`). With β-mixing
    /// samples (`f = max{Λ/b, 1}^{1/κ} > 1`) this does not imply that `nu_mu` exists: as written
    /// above, `√ν_μ > 0` needs `n > 288 L² Λ/ω_μ · f²` (`f` outside the square root) while Eq. 13
    /// has `f`, so check both. For i.i.d. samples (`f = 1`) the two conditions coincide.
    pub lemma4_met: bool,
}

/// Computes `E_1`, `E_2`, `ν_μ` and Lemma 4's sample size from Lazaric et al. (2012) (Theorem 5,
/// Lemma 4, Eq. 13–14), with `δ' = δ/K` (the confidence split over the `K` iterations, as the
/// `log(8dK/δ)` of Theorem 8 does).
///
/// Arguments: `n` samples, `d` features, `k` iterations, `delta`, feature bound `l`, Gram
/// eigenvalue `omega` (`ω_μ`, [`gram_min_eigenvalue`]), `r_max`, `gamma`, `c` (Assumption 1)
/// and the mixing parameters.
///
/// # Errors
/// Parameter errors for `n < 1`, `d = 0`, `k = 0`, `δ ∉ (0, 1)`, `γ ∉ (0, 1)`, `ω ≤ 0`, or a
/// negative / non-finite `l`, `r_max`, `c`, or invalid mixing parameters.
#[allow(clippy::too_many_arguments)]
pub fn lazaric_sample_terms(
    n: f64,
    d: usize,
    k: usize,
    delta: f64,
    l: f64,
    omega: f64,
    r_max: f64,
    gamma: f64,
    c: f64,
    mixing: Mixing,
) -> Result<SampleTerms> {
    if !(n.is_finite() && n >= 1.0) {
        return Err(Error::param("n", n, "must be finite and ≥ 1"));
    }
    if d == 0 {
        return Err(Error::param("d", 0, "need at least one feature"));
    }
    if k == 0 {
        return Err(Error::param("k", 0, "need at least one iteration"));
    }
    if !(delta > 0.0 && delta < 1.0) {
        return Err(Error::param("delta", delta, "must lie in (0, 1)"));
    }
    if !(gamma > 0.0 && gamma < 1.0) {
        return Err(Error::param("gamma", gamma, "must lie in (0, 1)"));
    }
    if !(omega.is_finite() && omega > 0.0) {
        return Err(Error::param(
            "omega",
            omega,
            "Gram eigenvalue ω_μ must be finite and > 0",
        ));
    }
    for (name, v) in [
        ("l", l),
        ("r_max", r_max),
        ("c", c),
        ("beta_bar", mixing.beta_bar),
    ] {
        if !(v.is_finite() && v >= 0.0) {
            return Err(Error::param(name, v, "must be finite and ≥ 0"));
        }
    }
    let b_ok = mixing.b > 0.0;
    let kappa_ok = mixing.kappa.is_finite() && mixing.kappa > 0.0;
    if !(b_ok && kappa_ok) {
        return Err(Error::param(
            "mixing",
            format!("{mixing:?}"),
            "need b > 0 and finite κ > 0",
        ));
    }
    let dp = delta / k as f64;
    let log_plus = {
        let log_x = 18f64.ln() + 2.0 * (d as f64 + 1.0) * (6f64.ln() + 1.0);
        let log_b = if mixing.beta_bar > 0.0 {
            mixing.beta_bar.ln()
        } else {
            f64::NEG_INFINITY
        };
        log_x.max(log_b).max(0.0)
    };
    let lambda_at =
        |n: f64, dl: f64| 2.0 * (d as f64 + 1.0) * n.ln() + (std::f64::consts::E / dl).ln() + log_plus;
    let v_max = r_max / (1.0 - gamma);
    let lambda = lambda_at(n, dp);
    let lambda1 = lambda_at(n, dp / 4.0);
    let e1 = 24.0 * v_max * (2.0 * lambda1 / n).sqrt() * mixing.factor(lambda1);
    let lambda2 = (4.0 * std::f64::consts::E / dp).ln() + (6f64).max(n * mixing.beta_bar).ln();
    let alpha_star = (c / omega).sqrt() * r_max / (1.0 - gamma);
    let e2 = 12.0 * (v_max + l * alpha_star) * (2.0 * lambda2 / n).sqrt() * mixing.factor(lambda2);
    let sqrt_nu = omega.sqrt() / 2.0 - 6.0 * l * (2.0 * lambda / n).sqrt() * mixing.factor(lambda);
    let nu_mu = (sqrt_nu > 0.0).then_some(sqrt_nu * sqrt_nu);
    let slack = |n: f64| {
        let lam = lambda_at(n, dp);
        n - 288.0 * l * l * lam / omega * mixing.factor(lam)
    };
    let lemma4_met = slack(n) > 0.0;
    let lemma4_min_n = {
        let (mut lo, mut hi) = (1.0_f64, 1.0_f64);
        while slack(hi) <= 0.0 && hi < 2f64.powi(60) {
            lo = hi;
            hi *= 2.0;
        }
        if slack(hi) <= 0.0 {
            f64::INFINITY
        } else if slack(1.0) > 0.0 {
            1.0
        } else {
            // Invariant: slack(lo) ≤ 0 < slack(hi).
            while hi - lo > 1.0 {
                let mid = ((lo + hi) / 2.0).floor();
                if slack(mid) > 0.0 {
                    hi = mid;
                } else {
                    lo = mid;
                }
            }
            hi
        }
    };
    Ok(SampleTerms {
        lambda,
        e1,
        e2,
        nu_mu,
        lemma4_min_n,
        lemma4_met,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs() -> BoundInputs {
        BoundInputs {
            gamma: 0.9,
            r_max: 1.0,
            c: 2.0,
            c_prime: 1.5,
            c_second: 3.0,
            nu_mu: 0.5,
            l: 1.0,
            d: 4,
            k: 10,
            delta: 0.05,
            n: 1000.0,
            lemma4_min_n: 0.0,
            e0: 0.1,
            e1: 0.2,
            e2: 0.3,
            epsilon: 0.1,
        }
    }

    #[test]
    fn terms_sum_to_total() {
        let b = theorem1(&inputs()).unwrap();
        let t = b.terms();
        let sum = t.approximation + t.estimation + t.iteration + t.transfer;
        assert!((sum - t.total).abs() <= 1e-12 * t.total);
        assert!((t.estimation - t.estimation_sample - t.estimation_e1).abs() < 1e-9);
        // Hand evaluation of the transfer term: 2/(0.01)·3·0.1·√3.
        assert!((t.transfer - 200.0 * 0.3 * 3f64.sqrt()).abs() < 1e-9);
        // Large constants → vacuous.
        assert!(!b.is_applicable());
    }

    #[test]
    fn infinite_concentrability_is_not_applicable() {
        let mut i = inputs();
        i.c = f64::INFINITY;
        match theorem1(&i).unwrap() {
            Bound::NotApplicable { reason, .. } => assert!(reason.contains("infinite")),
            b => panic!("{b:?}"),
        }
    }

    #[test]
    fn series_tail_formula() {
        // Constant c(m) = 1: C' = C'' = 1 exactly, so truncated + tail = 1 when c̄ = 1.
        let s = ConcentrabilitySeries::from_coefficients(vec![1.0; 6], 1.0, 0.7).unwrap();
        assert!((s.c_prime.upper() - 1.0).abs() < 1e-12);
        assert!((s.c_second.upper() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn corollary2_counts() {
        let c = corollary2(50, 10).unwrap();
        assert_eq!(c.tasks, Some(10_272_278_170));
        assert!(c.lower_bound <= 10_272_278_170.0);
        let big = corollary2(1000, 500).unwrap();
        assert_eq!(big.tasks, None);
        assert!(big.log_tasks >= big.log_lower_bound);
        assert!(corollary2(5, 6).is_err());
    }
}
