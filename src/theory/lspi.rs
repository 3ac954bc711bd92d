//! LSTD-Q and least-squares policy iteration (LSPI), the algorithm Theorem 1 (§4) analyses.
//!
//! Lagoudakis & Parr (2003), with the linear model `Q_w(x, a) = φ(x, a)ᵀ w` of
//! [`Features`] and a finite action set.
//!
//! ## LSTD-Q
//! For samples `(x_n, a_n, r_n, x'_n)` and a policy `π` (the action taken at the next state):
//!
//! ```text
//! A = Σ_n φ(x_n, a_n) (φ(x_n, a_n) − γ φ(x'_n, π(x'_n)))ᵀ + λ I
//! b = Σ_n φ(x_n, a_n) r_n
//! w = A⁻¹ b            (solved by LU with partial pivoting, never by forming A⁻¹)
//! ```
//!
//! `w` is the fixed point of the projected Bellman equation `Φw = Π_μ T^π Φw` on the sample
//! distribution (plus the ridge `λ`). An absorbing next state contributes a zero next-`φ`; a
//! next-state *distribution* `Σ_y p_y δ_y` (model-based LSTD-Q) contributes `Σ_y p_y φ(y, π(y))`.
//! With `γ = 0` (the bandit setting of §6.1: one-step reward, i.i.d. states) `A = Σ φφᵀ + λI`
//! and LSTD-Q is ridge regression of `r` on `φ(x, a)`.
//!
//! The ridge `λ I` is Lagoudakis & Parr's "initialise A to δI" (their §5.1, citing Nedić &
//! Bertsekas 2003), which keeps `A` invertible before every feature has been seen. It is
//! absolute (added to sums over `N` samples), so its bias fades as `O(λ/N)`; the default
//! [`DEFAULT_RIDGE`] = 1e-6 is negligible for the chain-walk bases and only matters for features
//! no sample excites. A system whose LU pivots span more than `1/(d·ε_mach)` (relative smallest
//! pivot below `d·2.2e-16`, the rank tolerance MATLAB's `rank` uses on singular values) is
//! reported as singular — an error, never garbage weights.
//!
//! ## LSPI
//! Start from `w_0` (zero by default, so the first policy takes action 0 everywhere: the
//! greedy action is the *first* maximiser, a deterministic tie-break as in L&P's code). At
//! iteration `k = 1, 2, …`: `π_k = greedy(Q̃_{w_{k−1}})`, `w_k = LSTD-Q(π_k)`. Stop when
//!
//! 1. `π_k` equals `π_{k−1}` on the sample set (the greedy actions at every next state, which
//!    is all LSTD-Q sees of the policy; `w_k` would then equal `w_{k−1}` exactly), or
//! 2. `‖w_k − w_{k−1}‖₂ < tol` (L&P's criterion, default 1e-5), or
//! 3. the iteration cap (not converged).
//!
//! `Q̃` is `Q_w` truncated to `[−V_max, V_max]` when [`LspiConfig::v_max`] is set (Theorem 1 acts
//! greedily on truncated value functions). Truncation is monotone, so it changes the greedy
//! action only through ties it creates among actions whose values exceed the cap.
//!
//! Multi-task LSPI (Corollary 1) is LSPI on the pooled samples of all tasks: [`pool`].
//!
//! ## Sample sources on finite MDPs
//! [`random_walk_samples`] (uniformly random actions, L&P's data collection),
//! [`model_samples`] (every state–action pair once with its exact next-state distribution:
//! model-based LSTD-Q under the uniform state–action weighting), and [`chain_walk`] (the
//! chain-walk MDPs of L&P §9.1).

use super::features::Features;
use super::mdp::FiniteMdp;
use crate::error::{Error, Result};
use nalgebra::{DMatrix, DVector};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

/// Default ridge `λ` added to the diagonal of `A` (absolute; see the module docs).
pub const DEFAULT_RIDGE: f64 = 1e-6;

/// Default LSPI stopping tolerance on `‖w_k − w_{k−1}‖₂` (Lagoudakis & Parr's ε = 1e-5).
pub const DEFAULT_TOLERANCE: f64 = 1e-5;

/// Default LSPI iteration cap.
pub const DEFAULT_MAX_ITERATIONS: usize = 20;

/// What follows a sample's action.
#[derive(Clone, Debug, PartialEq)]
pub enum Next<S> {
    /// The episode ends (or `γ = 0`): next-state features are zero.
    Terminal,
    /// One observed next state `x'`.
    State(S),
    /// An exact next-state distribution `[(p_y, y)]` (model-based LSTD-Q); probabilities are
    /// non-negative and sum to at most 1 (a deficit is probability of termination).
    Expected(Vec<(f64, S)>),
}

/// One transition `(x, a, r, next)`.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample<S> {
    /// The state `x`.
    pub state: S,
    /// The action index `a`.
    pub action: usize,
    /// The observed reward `r`.
    pub reward: f64,
    /// What follows.
    pub next: Next<S>,
}

impl<S> Sample<S> {
    /// A transition with an observed next state.
    pub fn transition(state: S, action: usize, reward: f64, next_state: S) -> Self {
        Sample {
            state,
            action,
            reward,
            next: Next::State(next_state),
        }
    }

    /// A one-step (bandit or absorbing) sample: no next state.
    pub fn terminal(state: S, action: usize, reward: f64) -> Self {
        Sample {
            state,
            action,
            reward,
            next: Next::Terminal,
        }
    }
}

/// Concatenates the sample sets of several tasks (multi-task LSPI of Corollary 1 runs on the
/// union; with `N` samples per task and `T` tasks LSTD-Q sees `N·T` rows).
pub fn pool<S>(tasks: impl IntoIterator<Item = Vec<Sample<S>>>) -> Vec<Sample<S>> {
    tasks.into_iter().flatten().collect()
}

/// `q` clipped to `[−V_max, V_max]` (unchanged for `None`).
pub fn truncate(q: f64, v_max: Option<f64>) -> f64 {
    match v_max {
        Some(v) => q.clamp(-v, v),
        None => q,
    }
}

/// The greedy action `argmax_a Q̃_w(x, a)`, the *first* maximiser (deterministic tie-break);
/// `buf` needs length ≥ d. With zero weights this is action 0.
pub fn greedy_action<S: ?Sized, F: Features<S> + ?Sized>(
    features: &F,
    weights: &[f64],
    state: &S,
    v_max: Option<f64>,
    buf: &mut [f64],
) -> usize {
    let mut best = (0, f64::NEG_INFINITY);
    for a in 0..features.n_actions() {
        let q = truncate(features.q_value(state, a, weights, buf), v_max);
        if q > best.1 {
            best = (a, q);
        }
    }
    best.0
}

/// The greedy policy on states `0 … n_states − 1` as a table of actions.
///
/// # Errors
/// `weights` of a length other than `d`.
pub fn greedy_table<F: Features<usize> + ?Sized>(
    features: &F,
    weights: &[f64],
    n_states: usize,
    v_max: Option<f64>,
) -> Result<Vec<usize>> {
    check_weights(features.dim(), weights)?;
    let mut buf = vec![0.0; features.dim()];
    Ok((0..n_states)
        .map(|s| greedy_action(features, weights, &s, v_max, &mut buf))
        .collect())
}

fn check_weights(d: usize, weights: &[f64]) -> Result<()> {
    if weights.len() != d {
        return Err(Error::shape("LSPI weights", d, weights.len()));
    }
    Ok(())
}

/// The solution of one LSTD-Q system.
#[derive(Clone, Debug, PartialEq)]
pub struct LstdSolution {
    /// The weights `w` with `(A + λI) w = b`.
    pub weights: DVector<f64>,
    /// `min_i |U_ii| / max_i |U_ii|` of the LU factor: a cheap conditioning indicator (≈ 1 well
    /// conditioned; the system is rejected below `d·ε_mach`).
    pub pivot_ratio: f64,
    /// Relative residual `‖(A + λI)w − b‖ / (‖A + λI‖_F ‖w‖ + ‖b‖)`.
    pub residual: f64,
}

/// The LSTD-Q accumulator: `A = Σ φ (φ − γ φ')ᵀ` and `b = Σ φ r`, then [`LstdQ::solve`].
///
/// Entries of `φ` that are exactly zero are skipped, so sparse bases (tabular, per-action
/// blocks) accumulate in `O(nnz(φ)·nnz(φ'))` per sample instead of `O(d²)`.
#[derive(Clone, Debug)]
pub struct LstdQ {
    dim: usize,
    gamma: f64,
    /// `A`, row-major `d × d`.
    a: Vec<f64>,
    b: Vec<f64>,
    samples: usize,
    nz: Vec<usize>,
    nz_next: Vec<usize>,
}

impl LstdQ {
    /// An empty accumulator for `d` features and discount `γ ∈ [0, 1)`.
    ///
    /// # Errors
    /// `d = 0` or `γ` outside `[0, 1)`.
    pub fn new(dim: usize, gamma: f64) -> Result<Self> {
        if dim == 0 {
            return Err(Error::param("dim", dim, "need at least one feature"));
        }
        check_gamma(gamma)?;
        Ok(LstdQ {
            dim,
            gamma,
            a: vec![0.0; dim * dim],
            b: vec![0.0; dim],
            samples: 0,
            nz: Vec::with_capacity(dim),
            nz_next: Vec::with_capacity(dim),
        })
    }

    /// Adds one sample: `A += φ (φ − γ φ')ᵀ`, `b += φ r`; `next_phi = None` means an absorbing
    /// next state (`φ' = 0`).
    ///
    /// # Errors
    /// Buffers of a length other than `d` (non-finite values are caught by [`LstdQ::solve`]).
    pub fn add(&mut self, phi: &[f64], next_phi: Option<&[f64]>, reward: f64) -> Result<()> {
        self.accumulate(phi, next_phi, reward, None)
    }

    /// Adds a sample observed `count` times: `A += count·φ (φ − γ φ')ᵀ`, `b += count·φ r` —
    /// the sufficient-statistics form of LSTD-Q, equal (up to rounding) to calling
    /// [`LstdQ::add`] `count` times. For tabular features, `count` is the number of times
    /// `(x, a, x')` was drawn, so any sample size costs one call per distinct transition.
    ///
    /// # Errors
    /// Buffers of a length other than `d`; `count` negative or not finite.
    pub fn add_weighted(
        &mut self,
        phi: &[f64],
        next_phi: Option<&[f64]>,
        reward: f64,
        count: f64,
    ) -> Result<()> {
        if !(count.is_finite() && count >= 0.0) {
            return Err(Error::param("count", count, "must be finite and >= 0"));
        }
        self.accumulate(phi, next_phi, reward, Some(count))
    }

    fn accumulate(
        &mut self,
        phi: &[f64],
        next_phi: Option<&[f64]>,
        reward: f64,
        count: Option<f64>,
    ) -> Result<()> {
        let d = self.dim;
        if phi.len() != d {
            return Err(Error::shape("LSTD-Q φ", d, phi.len()));
        }
        if let Some(n) = next_phi {
            if n.len() != d {
                return Err(Error::shape("LSTD-Q next φ", d, n.len()));
            }
        }
        self.nz.clear();
        self.nz.extend((0..d).filter(|&i| phi[i] != 0.0));
        self.nz_next.clear();
        self.nz_next.extend(self.nz.iter().copied());
        if let Some(n) = next_phi {
            if self.gamma != 0.0 {
                self.nz_next
                    .extend((0..d).filter(|&j| n[j] != 0.0 && phi[j] == 0.0));
            }
        }
        let g = self.gamma;
        for &i in &self.nz {
            let row = &mut self.a[i * d..(i + 1) * d];
            // Without a count the products are exactly those of the unweighted form.
            let pi = match count {
                Some(c) => c * phi[i],
                None => phi[i],
            };
            match next_phi {
                Some(n) if g != 0.0 => {
                    for &j in &self.nz_next {
                        row[j] += pi * (phi[j] - g * n[j]);
                    }
                }
                _ => {
                    for &j in &self.nz {
                        row[j] += pi * phi[j];
                    }
                }
            }
            self.b[i] += pi * reward;
        }
        self.samples += 1;
        Ok(())
    }

    /// The number of [`LstdQ::add`] and [`LstdQ::add_weighted`] calls.
    pub fn samples(&self) -> usize {
        self.samples
    }

    /// The accumulated `A` (without ridge).
    pub fn matrix(&self) -> DMatrix<f64> {
        DMatrix::from_row_slice(self.dim, self.dim, &self.a)
    }

    /// The accumulated `b`.
    pub fn vector(&self) -> DVector<f64> {
        DVector::from_column_slice(&self.b)
    }

    /// Solves `(A + λI) w = b` by LU with partial pivoting.
    ///
    /// # Errors
    /// No samples; `λ` negative or not finite; a non-finite entry in `A` or `b` (from non-finite
    /// features or rewards); a numerically singular system (relative smallest LU pivot below
    /// `d·ε_mach` — add a ridge `λ > 0` or samples that excite every feature); non-finite
    /// weights or a relative residual above 1e-8.
    pub fn solve(&self, ridge: f64) -> Result<LstdSolution> {
        if self.samples == 0 {
            return Err(Error::param("samples", 0, "LSTD-Q needs at least one sample"));
        }
        solve_system(self.matrix(), self.vector(), ridge)
    }
}

fn check_gamma(gamma: f64) -> Result<()> {
    if !(gamma.is_finite() && (0.0..1.0).contains(&gamma)) {
        return Err(Error::param("gamma", gamma, "discount must be in [0, 1)"));
    }
    Ok(())
}

/// Solves `(A + λI) w = b` by LU, with the conditioning and residual checks of [`LstdQ::solve`].
///
/// # Errors
/// As [`LstdQ::solve`]; also a non-square `A` or a `b` of another length.
pub fn solve_system(mut a: DMatrix<f64>, b: DVector<f64>, ridge: f64) -> Result<LstdSolution> {
    let d = a.nrows();
    if a.ncols() != d {
        return Err(Error::shape("LSTD-Q matrix columns", d, a.ncols()));
    }
    if b.len() != d {
        return Err(Error::shape("LSTD-Q vector b", d, b.len()));
    }
    if !(ridge.is_finite() && ridge >= 0.0) {
        return Err(Error::param("ridge", ridge, "must be finite and >= 0"));
    }
    if let Some(i) = a.iter().position(|v| !v.is_finite()) {
        return Err(Error::NonFinite {
            what: "LSTD-Q matrix A (features or next features)",
            index: i,
            value: a[i],
        });
    }
    if let Some(i) = b.iter().position(|v| !v.is_finite()) {
        return Err(Error::NonFinite {
            what: "LSTD-Q vector b (features or rewards)",
            index: i,
            value: b[i],
        });
    }
    for i in 0..d {
        a[(i, i)] += ridge;
    }
    let lu = a.clone().lu();
    let u = lu.u();
    let diag = u.diagonal().map(f64::abs);
    let (umin, umax) = (diag.min(), diag.max());
    let pivot_ratio = if umax > 0.0 { umin / umax } else { 0.0 };
    let singular = |why: String| {
        Error::param(
            "ridge",
            ridge,
            format!(
                "LSTD-Q system A + ridge·I ({d}×{d}) is numerically singular ({why}); \
                 use a ridge > 0 or samples that excite every feature"
            ),
        )
    };
    // Written so that a NaN ratio also counts as singular.
    if pivot_ratio.is_nan() || pivot_ratio <= d as f64 * f64::EPSILON {
        return Err(singular(format!("relative smallest LU pivot {pivot_ratio:.3e}")));
    }
    let w = lu.solve(&b).ok_or_else(|| singular("zero pivot".into()))?;
    if let Some(i) = w.iter().position(|v| !v.is_finite()) {
        return Err(singular(format!("weight {i} is {}", w[i])));
    }
    let residual = (&a * &w - &b).norm() / (a.norm() * w.norm() + b.norm()).max(f64::MIN_POSITIVE);
    if residual > 1e-8 {
        return Err(singular(format!("relative residual {residual:.3e}")));
    }
    Ok(LstdSolution {
        weights: w,
        pivot_ratio,
        residual,
    })
}

/// Settings of [`lspi`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LspiConfig {
    /// Discount `γ ∈ [0, 1)`; 0 makes every LSTD-Q solve a ridge regression.
    pub gamma: f64,
    /// Ridge `λ ≥ 0` added to `A`'s diagonal (absolute).
    pub ridge: f64,
    /// Stop when `‖w_k − w_{k−1}‖₂ < tolerance`.
    pub tolerance: f64,
    /// Iteration cap `K` (number of LSTD-Q solves).
    pub max_iterations: usize,
    /// Truncate `Q` to `[−V_max, V_max]` before acting greedily (`None`: no truncation).
    pub v_max: Option<f64>,
    /// Stop as soon as the greedy actions at all next states repeat (the weights would repeat
    /// exactly). `false` runs on until the weight criterion, as L&P's code does.
    pub stop_on_policy_repeat: bool,
}

impl LspiConfig {
    /// Defaults: ridge [`DEFAULT_RIDGE`], tolerance [`DEFAULT_TOLERANCE`], cap
    /// [`DEFAULT_MAX_ITERATIONS`], no truncation, stop on a repeated policy.
    pub fn new(gamma: f64) -> Self {
        LspiConfig {
            gamma,
            ridge: DEFAULT_RIDGE,
            tolerance: DEFAULT_TOLERANCE,
            max_iterations: DEFAULT_MAX_ITERATIONS,
            v_max: None,
            stop_on_policy_repeat: true,
        }
    }

    /// Checks every setting.
    ///
    /// # Errors
    /// `γ ∉ [0, 1)`, a negative or non-finite ridge or tolerance, a zero iteration cap, a
    /// `V_max` that is not finite and > 0.
    pub fn validate(&self) -> Result<()> {
        check_gamma(self.gamma)?;
        if !(self.ridge.is_finite() && self.ridge >= 0.0) {
            return Err(Error::param("ridge", self.ridge, "must be finite and >= 0"));
        }
        if !(self.tolerance.is_finite() && self.tolerance >= 0.0) {
            return Err(Error::param(
                "tolerance",
                self.tolerance,
                "must be finite and >= 0",
            ));
        }
        if self.max_iterations == 0 {
            return Err(Error::param("max_iterations", 0, "must be at least 1"));
        }
        if let Some(v) = self.v_max {
            if !(v.is_finite() && v > 0.0) {
                return Err(Error::param("v_max", v, "must be finite and > 0"));
            }
        }
        Ok(())
    }
}

/// Why LSPI stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum StopReason {
    /// The greedy policy on the sample set repeated (converged).
    PolicyRepeated,
    /// `‖w_k − w_{k−1}‖₂ < tolerance` (converged).
    WeightChange,
    /// The iteration cap was reached (not converged).
    IterationCap,
}

/// One LSPI iteration.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct IterationRecord {
    /// `k` (1-based).
    pub iteration: usize,
    /// `‖w_k − w_{k−1}‖₂`.
    pub weight_change: f64,
    /// Next-state greedy actions of `π_k` that differ from `π_{k−1}` (all of them at `k = 1`).
    pub policy_changes: usize,
    /// The LU pivot ratio of the solve (see [`LstdSolution::pivot_ratio`]).
    pub pivot_ratio: f64,
}

/// The outcome of [`lspi`].
#[derive(Clone, Debug, PartialEq)]
pub struct LspiResult {
    /// The final weights `w_K`; act with [`greedy_action`] on them.
    pub weights: DVector<f64>,
    /// LSTD-Q solves performed (`K`).
    pub iterations: usize,
    /// Whether a convergence criterion (not the cap) stopped the run.
    pub converged: bool,
    /// Which criterion stopped the run.
    pub reason: StopReason,
    /// Per-iteration diagnostics.
    pub history: Vec<IterationRecord>,
}

fn validate_samples<S, F: Features<S> + ?Sized>(features: &F, samples: &[Sample<S>]) -> Result<()> {
    if samples.is_empty() {
        return Err(Error::param("samples", 0, "LSPI needs at least one sample"));
    }
    let n_actions = features.n_actions();
    if n_actions == 0 || features.dim() == 0 {
        return Err(Error::param(
            "features",
            features.dim(),
            "need ≥ 1 feature and ≥ 1 action",
        ));
    }
    for (n, s) in samples.iter().enumerate() {
        if s.action >= n_actions {
            return Err(Error::param(
                "sample action",
                s.action,
                format!("sample {n}: action must be < {n_actions}"),
            ));
        }
        if !s.reward.is_finite() {
            return Err(Error::NonFinite {
                what: "sample rewards",
                index: n,
                value: s.reward,
            });
        }
        if let Next::Expected(dist) = &s.next {
            let mut total = 0.0;
            for (p, _) in dist {
                if !(p.is_finite() && *p >= 0.0) {
                    return Err(Error::param("next-state probability", p, format!("sample {n}")));
                }
                total += p;
            }
            if total > 1.0 + 1e-9 {
                return Err(Error::param(
                    "next-state probabilities",
                    total,
                    format!("sample {n}: must sum to at most 1"),
                ));
            }
        }
    }
    Ok(())
}

/// Greedy actions at every next state of `samples` (in order; `Expected` contributes one per
/// support point) into `out`.
fn next_actions<S, F: Features<S> + ?Sized>(
    features: &F,
    samples: &[Sample<S>],
    weights: &[f64],
    v_max: Option<f64>,
    buf: &mut [f64],
    out: &mut Vec<usize>,
) {
    out.clear();
    for s in samples {
        match &s.next {
            Next::Terminal => {}
            Next::State(y) => out.push(greedy_action(features, weights, y, v_max, buf)),
            Next::Expected(dist) => out.extend(
                dist.iter()
                    .map(|(_, y)| greedy_action(features, weights, y, v_max, buf)),
            ),
        }
    }
}

/// Accumulates LSTD-Q for the next-state actions `acts` (as produced by [`next_actions`]).
fn accumulate<S, F: Features<S> + ?Sized>(
    features: &F,
    samples: &[Sample<S>],
    gamma: f64,
    acts: &[usize],
    lstd: &mut LstdQ,
) -> Result<()> {
    let d = features.dim();
    let (mut phi, mut next, mut tmp) = (vec![0.0; d], vec![0.0; d], vec![0.0; d]);
    let mut k = 0;
    for s in samples {
        features.phi(&s.state, s.action, &mut phi);
        let next_phi = match &s.next {
            Next::Terminal => None,
            Next::State(y) => {
                features.phi(y, acts[k], &mut next);
                k += 1;
                Some(&next[..])
            }
            Next::Expected(dist) => {
                next.fill(0.0);
                for (p, y) in dist {
                    features.phi(y, acts[k], &mut tmp);
                    k += 1;
                    next.iter_mut().zip(&tmp).for_each(|(n, t)| *n += p * t);
                }
                Some(&next[..])
            }
        };
        lstd.add(&phi, if gamma == 0.0 { None } else { next_phi }, s.reward)?;
    }
    Ok(())
}

/// LSTD-Q for a fixed policy: `w` with `(Σ φ(x,a)(φ(x,a) − γ φ(x', π(x')))ᵀ + λI) w = Σ φ r`.
///
/// # Errors
/// An empty sample set, an action out of range (in a sample or returned by `policy`), a
/// non-finite reward, invalid `γ` or `λ`, a singular system (see [`LstdQ::solve`]).
pub fn lstd_q<S, F: Features<S> + ?Sized>(
    features: &F,
    samples: &[Sample<S>],
    policy: impl Fn(&S) -> usize,
    gamma: f64,
    ridge: f64,
) -> Result<LstdSolution> {
    validate_samples(features, samples)?;
    let mut acts = Vec::new();
    for s in samples {
        match &s.next {
            Next::Terminal => {}
            Next::State(y) => acts.push(policy(y)),
            Next::Expected(dist) => acts.extend(dist.iter().map(|(_, y)| policy(y))),
        }
    }
    if let Some(&a) = acts.iter().find(|&&a| a >= features.n_actions()) {
        return Err(Error::param(
            "policy action",
            a,
            format!("must be < {}", features.n_actions()),
        ));
    }
    let mut lstd = LstdQ::new(features.dim(), gamma)?;
    accumulate(features, samples, gamma, &acts, &mut lstd)?;
    lstd.solve(ridge)
}

/// LSPI from zero initial weights; see the module docs for the iteration and stopping rules.
///
/// # Errors
/// An invalid configuration, an empty or invalid sample set, a singular LSTD-Q system.
pub fn lspi<S, F: Features<S> + ?Sized>(
    features: &F,
    samples: &[Sample<S>],
    cfg: &LspiConfig,
) -> Result<LspiResult> {
    lspi_from(features, samples, cfg, &vec![0.0; features.dim()])
}

/// LSPI from the initial weights `w_0` (the first policy is greedy with respect to them).
///
/// # Errors
/// As [`lspi`]; also `w_0` of a length other than `d` or not finite.
pub fn lspi_from<S, F: Features<S> + ?Sized>(
    features: &F,
    samples: &[Sample<S>],
    cfg: &LspiConfig,
    initial_weights: &[f64],
) -> Result<LspiResult> {
    cfg.validate()?;
    validate_samples(features, samples)?;
    let d = features.dim();
    check_weights(d, initial_weights)?;
    crate::error::check_finite("initial weights", initial_weights)?;
    let mut w = DVector::from_column_slice(initial_weights);
    let mut buf = vec![0.0; d];
    let (mut acts, mut prev_acts) = (Vec::new(), None::<Vec<usize>>);
    let mut history = Vec::new();
    for k in 1..=cfg.max_iterations {
        next_actions(features, samples, w.as_slice(), cfg.v_max, &mut buf, &mut acts);
        let policy_changes = match &prev_acts {
            Some(p) => p.iter().zip(&acts).filter(|(a, b)| a != b).count(),
            None => acts.len(),
        };
        if cfg.stop_on_policy_repeat && prev_acts.is_some() && policy_changes == 0 {
            return Ok(LspiResult {
                weights: w,
                iterations: k - 1,
                converged: true,
                reason: StopReason::PolicyRepeated,
                history,
            });
        }
        let mut lstd = LstdQ::new(d, cfg.gamma)?;
        accumulate(features, samples, cfg.gamma, &acts, &mut lstd)?;
        let sol = lstd.solve(cfg.ridge)?;
        let weight_change = (&sol.weights - &w).norm();
        history.push(IterationRecord {
            iteration: k,
            weight_change,
            policy_changes,
            pivot_ratio: sol.pivot_ratio,
        });
        w = sol.weights;
        if weight_change < cfg.tolerance {
            return Ok(LspiResult {
                weights: w,
                iterations: k,
                converged: true,
                reason: StopReason::WeightChange,
                history,
            });
        }
        prev_acts = Some(std::mem::take(&mut acts));
    }
    Ok(LspiResult {
        weights: w,
        iterations: cfg.max_iterations,
        converged: false,
        reason: StopReason::IterationCap,
        history,
    })
}

/// The chain walk of Lagoudakis & Parr (2003, §9.1): states `0 … S−1` on a line (the paper's
/// `1 … S`), actions `0 = L` and `1 = R`. The chosen move succeeds with probability `p` and goes
/// the opposite way with `1 − p`; a move off either end stays put. The reward is that of the
/// *current* state, `R(s, a) = 1` if `s + 1 ∈ reward_states` (1-based, as in the paper), else 0.
///
/// L&P's settings: `S = 20`, rewards at `{1, 20}`; `S = 50`, rewards at `{10, 41}`; `p = 0.9`,
/// `γ = 0.9`.
///
/// # Errors
/// `S < 2`, a reward state outside `1 … S`, `p ∉ [0, 1]`, `γ ∉ [0, 1)`.
pub fn chain_walk(n_states: usize, reward_states: &[usize], success: f64, gamma: f64) -> Result<FiniteMdp> {
    if n_states < 2 {
        return Err(Error::param(
            "n_states",
            n_states,
            "a chain needs at least 2 states",
        ));
    }
    if let Some(&r) = reward_states.iter().find(|&&r| r == 0 || r > n_states) {
        return Err(Error::param(
            "reward_states",
            r,
            format!("1-based states in 1..={n_states}"),
        ));
    }
    if !(success.is_finite() && (0.0..=1.0).contains(&success)) {
        return Err(Error::param("success", success, "probability must be in [0, 1]"));
    }
    let (ns, na) = (n_states, 2);
    let mut rewards = vec![0.0; ns * na];
    let mut transitions = vec![0.0; ns * na * ns];
    for s in 0..ns {
        let r = if reward_states.contains(&(s + 1)) {
            1.0
        } else {
            0.0
        };
        let left = s.saturating_sub(1);
        let right = (s + 1).min(ns - 1);
        for a in 0..na {
            rewards[s * na + a] = r;
            let (intended, opposite) = if a == 0 { (left, right) } else { (right, left) };
            let row = &mut transitions[(s * na + a) * ns..(s * na + a + 1) * ns];
            row[intended] += success;
            row[opposite] += 1.0 - success;
        }
    }
    FiniteMdp::new(ns, na, rewards, transitions, gamma)
}

/// `episodes × steps` transitions of the uniformly random policy: each episode starts in a
/// uniformly random state, then repeatedly draws `a ~ U{0 … A−1}`, records
/// `(s, a, R(s, a), s' ~ P(·|s, a))` and moves to `s'` (L&P's `chain_learn` collects 10 × 500).
///
/// # Errors
/// Zero episodes or steps.
pub fn random_walk_samples(
    mdp: &FiniteMdp,
    episodes: usize,
    steps: usize,
    seed: u64,
) -> Result<Vec<Sample<usize>>> {
    if episodes == 0 || steps == 0 {
        return Err(Error::param(
            "samples",
            episodes * steps,
            "need ≥ 1 episode of ≥ 1 step",
        ));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut out = Vec::with_capacity(episodes * steps);
    for _ in 0..episodes {
        let mut s = rng.random_range(0..mdp.states());
        for _ in 0..steps {
            let a = rng.random_range(0..mdp.actions());
            let next = mdp.step(s, a, &mut rng);
            out.push(Sample::transition(s, a, mdp.reward(s, a), next));
            s = next;
        }
    }
    Ok(out)
}

/// One sample per state–action pair with the exact next-state distribution
/// (`Next::Expected`, support = states of positive probability): LSTD-Q on these is the
/// model-based projected fixed point under the uniform weighting of `(s, a)`. With the tabular
/// basis it returns `Q^π` exactly, so LSPI becomes exact policy iteration.
pub fn model_samples(mdp: &FiniteMdp) -> Vec<Sample<usize>> {
    let mut out = Vec::with_capacity(mdp.states() * mdp.actions());
    for s in 0..mdp.states() {
        for a in 0..mdp.actions() {
            let dist = mdp
                .transition(s, a)
                .iter()
                .enumerate()
                .filter(|(_, &p)| p > 0.0)
                .map(|(y, &p)| (p, y))
                .collect();
            out.push(Sample {
                state: s,
                action: a,
                reward: mdp.reward(s, a),
                next: Next::Expected(dist),
            });
        }
    }
    out
}
