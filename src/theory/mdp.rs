//! Finite MDPs: exact policy evaluation, Bellman operators, the average MDP of Corollary 1 and
//! the Bellman difference `D_t^π` of Theorem 1.
//!
//! Paper map (§3, §4 and the appendix):
//! - §3: `M_t = ⟨X, A, R_t, P_t, γ⟩`, the Markov chain `M_t^π` with `R_t^π(x) = R_t(x, π(x))`,
//!   `P_t^π(·|x) = P_t(·|x, π(x))` and stationary distribution `ρ_t^π` → [`FiniteMdp`],
//!   [`FiniteMdp::reward_vector`], [`FiniteMdp::transition_matrix`],
//!   [`FiniteMdp::stationary_distribution`].
//! - §3: `(T_t^π V)(x) = R_t^π(x) + γ Σ_y P_t^π(y|x) V(y)` and its fixed point `V_t^π` →
//!   [`FiniteMdp::bellman`], [`FiniteMdp::evaluate`] (`V^π = (I − γP^π)^{-1} R^π` by LU).
//! - §3: `(T* V)(x) = max_a [R(x, a) + γ Σ_y P(y|x, a) V(y)]` → [`FiniteMdp::bellman_optimal`],
//!   [`FiniteMdp::value_iteration`], [`FiniteMdp::policy_iteration`].
//! - Definition 1: tasks that are relabellings of one another → [`FiniteMdp::permuted`].
//! - Corollary 1: the average MDP `R = (1/T) Σ_t R_t`, `P = (1/T) Σ_t P_t` →
//!   [`FiniteMdp::average`].
//! - Theorem 1: `D_t^π V = T_t^π V − T^π V` → [`bellman_difference`]; the closeness condition
//!   `‖D_t^π V^π‖_μ ≤ ε` for all `π` → [`epsilon`], with `‖f‖_μ = sqrt(Σ_x μ(x) f(x)²)` →
//!   [`weighted_l2`].
//!
//! Policies are tabular ([`TabularPolicy`]): a probability for every (state, action) pair;
//! deterministic policies are the one-hot special case.

use nalgebra::{DMatrix, DVector};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::{check_finite, Error, Result};

/// Tolerance on `|Σ_{s'} P(s'|s, a) − 1|` (and on policy rows) accepted by the constructors.
pub const TRANSITION_TOLERANCE: f64 = 1e-9;

/// Largest number of deterministic policies [`all_deterministic_policies`] will enumerate.
pub const MAX_ENUMERATED_POLICIES: usize = 1_000_000;

/// Smallest accepted ratio `min |u_ii| / max |u_ii|` of the LU pivots of a linear system
/// solved in this module; below it the system is reported as numerically singular.
const PIVOT_RATIO_FLOOR: f64 = 1e-13;

/// Solves `A X = B` by LU with partial pivoting and rejects numerically singular systems.
///
/// nalgebra's LU fails only on an exact zero pivot, so the ratio of the smallest to the
/// largest pivot magnitude (a cheap lower bound on the reciprocal condition number up to a
/// factor of the dimension) is checked against [`PIVOT_RATIO_FLOOR`], and the solution is
/// checked to be finite.
pub(crate) fn solve_checked(a: DMatrix<f64>, b: &DMatrix<f64>, what: &'static str) -> Result<DMatrix<f64>> {
    let n = a.nrows();
    if n == 0 {
        return Ok(DMatrix::zeros(0, b.ncols()));
    }
    let lu = a.lu();
    let u = lu.u();
    let (mut lo, mut hi) = (f64::INFINITY, 0.0_f64);
    for i in 0..n {
        let p = u[(i, i)].abs();
        lo = lo.min(p);
        hi = hi.max(p);
    }
    let ratio = if hi > 0.0 { lo / hi } else { 0.0 };
    if ratio.is_nan() || ratio <= PIVOT_RATIO_FLOOR {
        return Err(Error::param(
            what,
            format!("pivot ratio {ratio:.3e}"),
            "linear system is numerically singular",
        ));
    }
    let x = lu
        .solve(b)
        .ok_or_else(|| Error::param(what, "zero pivot", "linear system is singular"))?;
    check_finite(what, x.as_slice())?;
    Ok(x)
}

/// A tabular (possibly stochastic) policy: `π(a|s)` for `S` states and `A` actions.
///
/// Stored row-major as `probs[s·A + a] = π(a|s)`; each row is a probability vector.
#[derive(Debug, Clone, PartialEq)]
pub struct TabularPolicy {
    states: usize,
    actions: usize,
    probs: Vec<f64>,
}

impl TabularPolicy {
    /// The deterministic policy `π(s) = actions[s]`, i.e. `π(a|s) = 1[a = actions[s]]`.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] if `n_actions == 0` or some `actions[s] ≥ n_actions`.
    pub fn deterministic(actions: Vec<usize>, n_actions: usize) -> Result<Self> {
        if n_actions == 0 {
            return Err(Error::param("n_actions", 0, "need at least one action"));
        }
        if let Some((s, &a)) = actions.iter().enumerate().find(|(_, &a)| a >= n_actions) {
            return Err(Error::param(
                "actions",
                format!("actions[{s}] = {a}"),
                format!("must be < n_actions = {n_actions}"),
            ));
        }
        let states = actions.len();
        let mut probs = vec![0.0; states * n_actions];
        for (s, &a) in actions.iter().enumerate() {
            probs[s * n_actions + a] = 1.0;
        }
        Ok(Self {
            states,
            actions: n_actions,
            probs,
        })
    }

    /// A stochastic policy from `probs[s·A + a] = π(a|s)`.
    ///
    /// # Errors
    /// Shape error if `probs.len() ≠ S·A`; [`Error::NonFinite`] on NaN/∞;
    /// [`Error::InvalidParameter`] if an entry is negative or a row does not sum to 1 within
    /// [`TRANSITION_TOLERANCE`], or if `A == 0` while `S > 0`.
    pub fn stochastic(probs: Vec<f64>, states: usize, actions: usize) -> Result<Self> {
        let expected = states
            .checked_mul(actions)
            .ok_or_else(|| Error::param("states", states, "S·A overflows"))?;
        if probs.len() != expected {
            return Err(Error::shape("policy probabilities (S·A)", expected, probs.len()));
        }
        if actions == 0 && states > 0 {
            return Err(Error::param("actions", 0, "need at least one action"));
        }
        check_finite("policy probabilities", &probs)?;
        check_stochastic_rows(
            "probs",
            &probs,
            actions,
            |i| format!("probs[{i}]"),
            |s| format!("row {s}"),
            "each state's action probabilities must sum to 1",
        )?;
        Ok(Self {
            states,
            actions,
            probs,
        })
    }

    /// The uniformly random policy `π(a|s) = 1/A` (empty rows when `A = 0`).
    pub fn uniform(states: usize, actions: usize) -> Self {
        let p = if actions == 0 { 0.0 } else { 1.0 / actions as f64 };
        Self {
            states,
            actions,
            probs: vec![p; states * actions],
        }
    }

    /// Number of states `S`.
    pub fn states(&self) -> usize {
        self.states
    }

    /// Number of actions `A`.
    pub fn actions(&self) -> usize {
        self.actions
    }

    /// The distribution `π(·|s)` over actions.
    ///
    /// # Panics
    /// If `s ≥ S`.
    pub fn action_probs(&self, s: usize) -> &[f64] {
        &self.probs[s * self.actions..(s + 1) * self.actions]
    }

    /// `Some(a)` when `π(a|s) = 1` (within 1e-12), `None` for a genuinely stochastic row.
    ///
    /// # Panics
    /// If `s ≥ S`.
    pub fn deterministic_action(&self, s: usize) -> Option<usize> {
        self.action_probs(s).iter().position(|&p| p >= 1.0 - 1e-12)
    }

    /// `π(s)` for every state when the policy is deterministic, else `None`.
    pub fn as_actions(&self) -> Option<Vec<usize>> {
        (0..self.states).map(|s| self.deterministic_action(s)).collect()
    }
}

/// A finite MDP `⟨X, A, R, P, γ⟩` with `S` states and `A` actions (§3).
///
/// `R[s, a]` is stored row-major as `rewards[s·A + a]`, `P(s'|s, a)` as
/// `transitions[(s·A + a)·S + s']`.
#[derive(Debug, Clone, PartialEq)]
pub struct FiniteMdp {
    states: usize,
    actions: usize,
    rewards: Vec<f64>,
    transitions: Vec<f64>,
    gamma: f64,
}

impl FiniteMdp {
    /// Builds and validates an MDP.
    ///
    /// `rewards[s·A + a] = R(s, a)`, `transitions[(s·A + a)·S + s'] = P(s'|s, a)`.
    ///
    /// # Errors
    /// - [`Error::InvalidParameter`] if `S == 0`, `A == 0`, `γ ∉ [0, 1)`, a transition
    ///   probability is negative, or a row `P(·|s, a)` does not sum to 1 within
    ///   [`TRANSITION_TOLERANCE`];
    /// - [`Error::ShapeMismatch`] if `rewards.len() ≠ S·A` or `transitions.len() ≠ S·A·S`;
    /// - [`Error::NonFinite`] on NaN or infinite rewards or probabilities.
    pub fn new(
        states: usize,
        actions: usize,
        rewards: Vec<f64>,
        transitions: Vec<f64>,
        gamma: f64,
    ) -> Result<Self> {
        if states == 0 {
            return Err(Error::param("states", 0, "need at least one state"));
        }
        if actions == 0 {
            return Err(Error::param("actions", 0, "need at least one action"));
        }
        if !(0.0..1.0).contains(&gamma) {
            return Err(Error::param("gamma", gamma, "discount must satisfy 0 ≤ γ < 1"));
        }
        let sa = states
            .checked_mul(actions)
            .ok_or_else(|| Error::param("states", states, "S·A overflows"))?;
        let sas = sa
            .checked_mul(states)
            .ok_or_else(|| Error::param("states", states, "S·A·S overflows"))?;
        if rewards.len() != sa {
            return Err(Error::shape("rewards (S·A)", sa, rewards.len()));
        }
        if transitions.len() != sas {
            return Err(Error::shape("transitions (S·A·S)", sas, transitions.len()));
        }
        check_finite("rewards", &rewards)?;
        check_finite("transitions", &transitions)?;
        check_stochastic_rows(
            "transitions",
            &transitions,
            states,
            |i| format!("P[{i}]"),
            |row| format!("row (s = {}, a = {})", row / actions, row % actions),
            &format!("each row P(·|s, a) must sum to 1 within {TRANSITION_TOLERANCE:e}"),
        )?;
        Ok(Self {
            states,
            actions,
            rewards,
            transitions,
            gamma,
        })
    }

    /// Number of states `S`.
    pub fn states(&self) -> usize {
        self.states
    }

    /// Number of actions `A`.
    pub fn actions(&self) -> usize {
        self.actions
    }

    /// Discount factor `γ ∈ [0, 1)`.
    pub fn gamma(&self) -> f64 {
        self.gamma
    }

    /// `R(s, a)`.
    ///
    /// # Panics
    /// If `s ≥ S` or `a ≥ A`.
    pub fn reward(&self, s: usize, a: usize) -> f64 {
        assert!(a < self.actions, "action {a} out of range");
        self.rewards[s * self.actions + a]
    }

    /// The distribution `P(·|s, a)` over next states.
    ///
    /// # Panics
    /// If `s ≥ S` or `a ≥ A`.
    pub fn transition(&self, s: usize, a: usize) -> &[f64] {
        assert!(a < self.actions, "action {a} out of range");
        let row = s * self.actions + a;
        &self.transitions[row * self.states..(row + 1) * self.states]
    }

    /// The whole reward table, row-major `R[s·A + a]`.
    pub fn rewards(&self) -> &[f64] {
        &self.rewards
    }

    /// The whole transition table, `P[(s·A + a)·S + s']`.
    pub fn transitions(&self) -> &[f64] {
        &self.transitions
    }

    /// `R_max = max_{s,a} |R(s, a)|` (the uniform reward bound of §3).
    pub fn max_abs_reward(&self) -> f64 {
        self.rewards.iter().fold(0.0, |m, r| m.max(r.abs()))
    }

    /// `V_max = R_max / (1 − γ)`.
    pub fn v_max(&self) -> f64 {
        self.max_abs_reward() / (1.0 - self.gamma)
    }

    /// Checks that `pi` has this MDP's `S` and `A`.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] naming the dimension that differs.
    pub fn check_policy(&self, pi: &TabularPolicy) -> Result<()> {
        if pi.states != self.states {
            return Err(Error::shape("policy states", self.states, pi.states));
        }
        if pi.actions != self.actions {
            return Err(Error::shape("policy actions", self.actions, pi.actions));
        }
        Ok(())
    }

    fn check_vector(&self, v: &DVector<f64>, what: &'static str) -> Result<()> {
        if v.len() != self.states {
            return Err(Error::shape(what, self.states, v.len()));
        }
        check_finite(what, v.as_slice())
    }

    /// `R^π(s) = Σ_a π(a|s) R(s, a)`.
    ///
    /// # Panics
    /// If the policy's shape differs from the MDP's (see [`FiniteMdp::check_policy`]).
    pub fn reward_vector(&self, pi: &TabularPolicy) -> DVector<f64> {
        assert_eq!(
            (pi.states, pi.actions),
            (self.states, self.actions),
            "policy shape"
        );
        DVector::from_fn(self.states, |s, _| {
            pi.action_probs(s)
                .iter()
                .zip(&self.rewards[s * self.actions..(s + 1) * self.actions])
                .map(|(p, r)| p * r)
                .sum()
        })
    }

    /// `P^π(s'|s) = Σ_a π(a|s) P(s'|s, a)`, an `S × S` row-stochastic matrix.
    ///
    /// # Panics
    /// If the policy's shape differs from the MDP's.
    pub fn transition_matrix(&self, pi: &TabularPolicy) -> DMatrix<f64> {
        assert_eq!(
            (pi.states, pi.actions),
            (self.states, self.actions),
            "policy shape"
        );
        let mut m = DMatrix::zeros(self.states, self.states);
        for s in 0..self.states {
            for (a, &p) in pi.action_probs(s).iter().enumerate() {
                if p == 0.0 {
                    continue;
                }
                for (s2, &q) in self.transition(s, a).iter().enumerate() {
                    m[(s, s2)] += p * q;
                }
            }
        }
        m
    }

    /// `V^π = (I − γP^π)^{-1} R^π`, the fixed point of `T^π`, by an LU solve.
    ///
    /// `I − γP^π` is strictly diagonally dominant for `γ < 1` (its ∞-norm condition number is at
    /// most `(1 + γ)/(1 − γ)`), so the solve is well posed; the pivots are still checked.
    ///
    /// # Errors
    /// Shape error if the policy does not match; a parameter error if the system is numerically
    /// singular (γ extremely close to 1).
    pub fn evaluate(&self, pi: &TabularPolicy) -> Result<DVector<f64>> {
        self.check_policy(pi)?;
        let a = DMatrix::identity(self.states, self.states) - self.transition_matrix(pi) * self.gamma;
        let b = DMatrix::from_column_slice(self.states, 1, self.reward_vector(pi).as_slice());
        let x = solve_checked(a, &b, "policy evaluation (I − γP^π)")?;
        Ok(DVector::from_column_slice(x.as_slice()))
    }

    /// `Q(s, a) = R(s, a) + γ Σ_{s'} P(s'|s, a) V(s')`, an `S × A` matrix.
    ///
    /// # Panics
    /// If `v.len() ≠ S`.
    pub fn q_values(&self, v: &DVector<f64>) -> DMatrix<f64> {
        assert_eq!(v.len(), self.states, "value vector length");
        DMatrix::from_fn(self.states, self.actions, |s, a| {
            let next: f64 = self
                .transition(s, a)
                .iter()
                .zip(v.iter())
                .map(|(p, x)| p * x)
                .sum();
            self.reward(s, a) + self.gamma * next
        })
    }

    /// `Q^π = R + γ P V^π` with `V^π` from [`FiniteMdp::evaluate`].
    ///
    /// # Errors
    /// As [`FiniteMdp::evaluate`].
    pub fn evaluate_q(&self, pi: &TabularPolicy) -> Result<DMatrix<f64>> {
        let v = self.evaluate(pi)?;
        Ok(self.q_values(&v))
    }

    /// `(T^π V)(s) = R^π(s) + γ Σ_{s'} P^π(s'|s) V(s')`.
    ///
    /// # Panics
    /// If the policy's shape or `v.len()` differs from the MDP's.
    pub fn bellman(&self, pi: &TabularPolicy, v: &DVector<f64>) -> DVector<f64> {
        let q = self.q_values(v);
        assert_eq!(
            (pi.states, pi.actions),
            (self.states, self.actions),
            "policy shape"
        );
        DVector::from_fn(self.states, |s, _| {
            pi.action_probs(s)
                .iter()
                .enumerate()
                .map(|(a, p)| p * q[(s, a)])
                .sum()
        })
    }

    /// `(T* V)(s) = max_a [R(s, a) + γ Σ_{s'} P(s'|s, a) V(s')]`.
    ///
    /// # Panics
    /// If `v.len() ≠ S`.
    pub fn bellman_optimal(&self, v: &DVector<f64>) -> DVector<f64> {
        let q = self.q_values(v);
        DVector::from_fn(self.states, |s, _| {
            q.row(s).iter().copied().fold(f64::NEG_INFINITY, f64::max)
        })
    }

    /// The deterministic greedy policy `π(s) = argmax_a Q(s, a)` for `Q` from
    /// [`FiniteMdp::q_values`]; ties go to the first (lowest-index) maximal action.
    ///
    /// # Panics
    /// If `v.len() ≠ S`.
    pub fn greedy(&self, v: &DVector<f64>) -> TabularPolicy {
        let q = self.q_values(v);
        let actions = (0..self.states)
            .map(|s| first_argmax(q.row(s).iter().copied()))
            .collect();
        TabularPolicy::deterministic(actions, self.actions).expect("greedy actions are in range")
    }

    /// Value iteration `V_{k+1} = T* V_k` from `V_0 = 0` until `‖V_{k+1} − V_k‖_∞ ≤ tol`.
    ///
    /// Returns `(V_{k+1}, greedy(V_{k+1}), k + 1)`. At the stop,
    /// `‖V_{k+1} − V*‖_∞ ≤ γ·tol/(1 − γ)` (contraction of `T*`).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] if `tol` is not finite and positive, or if `max_iter`
    /// iterations do not reach `tol`.
    pub fn value_iteration(&self, tol: f64, max_iter: usize) -> Result<(DVector<f64>, TabularPolicy, usize)> {
        if !(tol.is_finite() && tol > 0.0) {
            return Err(Error::param("tol", tol, "tolerance must be finite and > 0"));
        }
        let mut v = DVector::zeros(self.states);
        for k in 1..=max_iter {
            let next = self.bellman_optimal(&v);
            let change = (&next - &v).amax();
            v = next;
            if change <= tol {
                let pi = self.greedy(&v);
                return Ok((v, pi, k));
            }
        }
        Err(Error::param(
            "max_iter",
            max_iter,
            format!("value iteration did not reach tolerance {tol:e}"),
        ))
    }

    /// Howard's policy iteration from the policy greedy w.r.t. `V = 0` (i.e. w.r.t. `R`).
    ///
    /// Each step evaluates `V^{π_k}` exactly and switches a state's action only when another
    /// action improves `Q^{π_k}(s, ·)` by more than `1e-12·(1 + |V^{π_k}(s)|)` (so rounding
    /// noise cannot make it cycle between tied actions); among the improving actions the first
    /// maximal one is taken. Stops when no state changes. Returns `(V^{π}, π, evaluations)`.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] if the policy still changes after `max_iter` evaluations;
    /// errors of [`FiniteMdp::evaluate`].
    pub fn policy_iteration(&self, max_iter: usize) -> Result<(DVector<f64>, TabularPolicy, usize)> {
        let mut pi = self.greedy(&DVector::zeros(self.states));
        for k in 1..=max_iter {
            let v = self.evaluate(&pi)?;
            let q = self.q_values(&v);
            let current = pi
                .as_actions()
                .expect("policy iteration keeps deterministic policies");
            let mut next = current.clone();
            for s in 0..self.states {
                let best = first_argmax(q.row(s).iter().copied());
                let margin = 1e-12 * (1.0 + v[s].abs());
                if q[(s, best)] > q[(s, current[s])] + margin {
                    next[s] = best;
                }
            }
            if next == current {
                return Ok((v, pi, k));
            }
            pi = TabularPolicy::deterministic(next, self.actions)?;
        }
        Err(Error::param(
            "max_iter",
            max_iter,
            "policy iteration did not converge",
        ))
    }

    /// The stationary distribution `ρ^π` of `P^π` (`ρ^π P^π = ρ^π`, `Σ ρ^π = 1`), from the
    /// uniform start distribution; see [`FiniteMdp::stationary_distribution_from`].
    ///
    /// # Errors
    /// As [`FiniteMdp::stationary_distribution_from`].
    pub fn stationary_distribution(&self, pi: &TabularPolicy) -> Result<DVector<f64>> {
        let start = DVector::from_element(self.states, 1.0 / self.states as f64);
        self.stationary_distribution_from(pi, &start)
    }

    /// The Cesàro limit `ρ = lim_{n→∞} (1/n) Σ_{k<n} u (P^π)^k` from the start distribution `u`.
    ///
    /// This is always a stationary distribution (`ρ P^π = ρ`). For an irreducible chain it is
    /// the unique one, whatever `u`; for a reducible chain it is the mixture of the closed
    /// classes' stationary distributions weighted by the probability that the chain started from
    /// `u` ends up in each class. Periodic chains are handled exactly (no power iteration).
    ///
    /// Algorithm: closed communicating classes from the transitive closure of the support graph
    /// of `P^π` (entries `> 0`); for each class `C` solve `ρ_C (I − P_CC) = 0, Σ ρ_C = 1` (one
    /// equation replaced by the normalisation, an LU solve); for the transient states `T` solve
    /// `(I − P_TT) h_C = P_TC 1` for the absorption probabilities; weight
    /// `w_C = u(C) + Σ_{x∈T} u(x) h_C(x)`. Cost O(S³).
    ///
    /// # Errors
    /// Shape errors; a parameter error if `u` is not a distribution (negative, non-finite or not
    /// summing to 1 within 1e-9) or a linear system is numerically singular.
    pub fn stationary_distribution_from(
        &self,
        pi: &TabularPolicy,
        start: &DVector<f64>,
    ) -> Result<DVector<f64>> {
        self.check_policy(pi)?;
        self.check_vector(start, "start distribution")?;
        check_distribution(start, "start")?;
        let p = self.transition_matrix(pi);
        stationary_cesaro(&p, start)
    }

    /// The average MDP of Corollary 1: `R = (1/T) Σ_t R_t`, `P = (1/T) Σ_t P_t`, common `γ`.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] if `tasks` is empty or the discounts differ (compared
    /// exactly); [`Error::ShapeMismatch`] if `S` or `A` differ.
    pub fn average(tasks: &[FiniteMdp]) -> Result<FiniteMdp> {
        let first = tasks
            .first()
            .ok_or_else(|| Error::param("tasks", 0, "need at least one task to average"))?;
        for t in tasks {
            if t.states != first.states {
                return Err(Error::shape("task states", first.states, t.states));
            }
            if t.actions != first.actions {
                return Err(Error::shape("task actions", first.actions, t.actions));
            }
            if t.gamma != first.gamma {
                return Err(Error::param(
                    "gamma",
                    t.gamma,
                    format!("all tasks must share the discount γ = {}", first.gamma),
                ));
            }
        }
        let n = tasks.len() as f64;
        let mut rewards = vec![0.0; first.rewards.len()];
        let mut transitions = vec![0.0; first.transitions.len()];
        for t in tasks {
            rewards.iter_mut().zip(&t.rewards).for_each(|(a, b)| *a += b / n);
            transitions
                .iter_mut()
                .zip(&t.transitions)
                .for_each(|(a, b)| *a += b / n);
        }
        FiniteMdp::new(first.states, first.actions, rewards, transitions, first.gamma)
    }

    /// Samples `s' ~ P(·|s, a)` by inversion of one uniform draw (the last state with positive
    /// probability absorbs rounding in the cumulative sum).
    ///
    /// # Panics
    /// If `s ≥ S` or `a ≥ A`.
    pub fn step<R: rand::Rng + ?Sized>(&self, s: usize, a: usize, rng: &mut R) -> usize {
        let row = self.transition(s, a);
        let u: f64 = rng.random();
        let mut acc = 0.0;
        let mut last = 0;
        for (s2, &p) in row.iter().enumerate() {
            if p > 0.0 {
                acc += p;
                last = s2;
                if u < acc {
                    return s2;
                }
            }
        }
        last
    }

    /// A random MDP from `seed`: `R(s, a) ~ U[0, 1]` i.i.d. and each row `P(·|s, a)` drawn
    /// from the flat Dirichlet(1, …, 1) (normalised standard exponentials), so every transition
    /// probability is positive (the chain of every policy is irreducible and aperiodic).
    ///
    /// # Errors
    /// As [`FiniteMdp::new`] (`S = 0`, `A = 0`, `γ ∉ [0, 1)`).
    pub fn random(states: usize, actions: usize, gamma: f64, seed: u64) -> Result<Self> {
        if states == 0 || actions == 0 {
            return FiniteMdp::new(states, actions, vec![], vec![], gamma);
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let rewards: Vec<f64> = (0..states * actions).map(|_| rng.random::<f64>()).collect();
        let mut transitions = Vec::with_capacity(states * actions * states);
        for _ in 0..states * actions {
            let row: Vec<f64> = (0..states)
                .map(|_| -(1.0 - rng.random::<f64>()).ln() + f64::MIN_POSITIVE)
                .collect();
            let sum: f64 = row.iter().sum();
            transitions.extend(row.iter().map(|x| x / sum));
        }
        FiniteMdp::new(states, actions, rewards, transitions, gamma)
    }

    /// The relabelled MDP of Definition 1: state `s` of the result is state `state_perm[s]` of
    /// `self` and action `a` is action `action_perm[a]`:
    /// `R'(s, a) = R(σ(s), τ(a))`, `P'(s'|s, a) = P(σ(s')|σ(s), τ(a))` with `σ = state_perm`,
    /// `τ = action_perm`.
    ///
    /// For an entity MDP whose state and action are tuples over entities, a permutation of the
    /// entities induces such `(σ, τ)`. If `R` and `P` are invariant under it
    /// (`R(σx, τa) = R(x, a)`, `P(σy|σx, τa) = P(y|x, a)`) the relabelled task equals `self`.
    ///
    /// # Errors
    /// Shape errors if the lengths are not `S` and `A`; a parameter error if either is not a
    /// permutation.
    pub fn permuted(&self, state_perm: &[usize], action_perm: &[usize]) -> Result<FiniteMdp> {
        check_permutation(state_perm, self.states, "state_perm")?;
        check_permutation(action_perm, self.actions, "action_perm")?;
        let (ns, na) = (self.states, self.actions);
        let mut rewards = vec![0.0; ns * na];
        let mut transitions = vec![0.0; ns * na * ns];
        for s in 0..ns {
            for a in 0..na {
                rewards[s * na + a] = self.reward(state_perm[s], action_perm[a]);
                let row = self.transition(state_perm[s], action_perm[a]);
                for s2 in 0..ns {
                    transitions[(s * na + a) * ns + s2] = row[state_perm[s2]];
                }
            }
        }
        FiniteMdp::new(ns, na, rewards, transitions, self.gamma)
    }
}

/// Index of the first maximal element (ties → lowest index; NaN never wins).
fn first_argmax(values: impl Iterator<Item = f64>) -> usize {
    let mut best = (0, f64::NEG_INFINITY);
    for (i, x) in values.enumerate() {
        if x > best.1 {
            best = (i, x);
        }
    }
    best.0
}

fn check_permutation(perm: &[usize], n: usize, what: &'static str) -> Result<()> {
    if perm.len() != n {
        return Err(Error::shape(what, n, perm.len()));
    }
    let mut seen = vec![false; n];
    for (i, &p) in perm.iter().enumerate() {
        if p >= n || seen[p] {
            return Err(Error::param(
                what,
                format!("{what}[{i}] = {p}"),
                "not a permutation",
            ));
        }
        seen[p] = true;
    }
    Ok(())
}

/// Checks that `d` is a probability vector (finite, ≥ 0, sums to 1 within 1e-9).
pub(crate) fn check_distribution(d: &DVector<f64>, what: &'static str) -> Result<()> {
    check_finite(what, d.as_slice())?;
    if let Some(i) = d.iter().position(|&x| x < 0.0) {
        return Err(Error::param(
            what,
            format!("{what}[{i}] = {}", d[i]),
            "must be ≥ 0",
        ));
    }
    let sum = d.sum();
    if (sum - 1.0).abs() > 1e-9 {
        return Err(Error::param(
            what,
            format!("sum {sum}"),
            "a distribution must sum to 1",
        ));
    }
    Ok(())
}

/// Cesàro-limit stationary distribution of a row-stochastic `p` from start `u` (see
/// [`FiniteMdp::stationary_distribution_from`]).
fn stationary_cesaro(p: &DMatrix<f64>, u: &DVector<f64>) -> Result<DVector<f64>> {
    let n = p.nrows();
    // Transitive closure (reflexive) of the support graph.
    let mut reach = vec![false; n * n];
    for x in 0..n {
        reach[x * n + x] = true;
        for y in 0..n {
            if p[(x, y)] > 0.0 {
                reach[x * n + y] = true;
            }
        }
    }
    for k in 0..n {
        for x in 0..n {
            if reach[x * n + k] {
                for y in 0..n {
                    if reach[k * n + y] {
                        reach[x * n + y] = true;
                    }
                }
            }
        }
    }
    // A state is recurrent iff every state it reaches reaches it back.
    let recurrent: Vec<bool> = (0..n)
        .map(|x| (0..n).all(|y| !reach[x * n + y] || reach[y * n + x]))
        .collect();
    let mut class_of = vec![usize::MAX; n];
    let mut classes: Vec<Vec<usize>> = Vec::new();
    for x in 0..n {
        if recurrent[x] && class_of[x] == usize::MAX {
            let members: Vec<usize> = (0..n).filter(|&y| reach[x * n + y]).collect();
            for &y in &members {
                class_of[y] = classes.len();
            }
            classes.push(members);
        }
    }
    let transient: Vec<usize> = (0..n).filter(|&x| !recurrent[x]).collect();
    let mut rho = DVector::<f64>::zeros(n);
    // Absorption probabilities of the transient states into each class.
    let absorb = if transient.is_empty() {
        DMatrix::zeros(0, classes.len())
    } else {
        let nt = transient.len();
        let a = DMatrix::from_fn(nt, nt, |i, j| {
            (if i == j { 1.0 } else { 0.0 }) - p[(transient[i], transient[j])]
        });
        let b = DMatrix::from_fn(nt, classes.len(), |i, c| {
            classes[c].iter().map(|&y| p[(transient[i], y)]).sum()
        });
        solve_checked(a, &b, "absorption probabilities (I − P_TT)")?
    };
    for (c, members) in classes.iter().enumerate() {
        let k = members.len();
        // ρ_C (I − P_CC) = 0 with the last equation replaced by Σ ρ_C = 1, transposed.
        let mut a = DMatrix::from_fn(k, k, |i, j| {
            (if i == j { 1.0 } else { 0.0 }) - p[(members[j], members[i])]
        });
        for j in 0..k {
            a[(k - 1, j)] = 1.0;
        }
        let mut b = DMatrix::zeros(k, 1);
        b[(k - 1, 0)] = 1.0;
        let pc = solve_checked(a, &b, "stationary distribution of a closed class")?;
        let weight: f64 = members.iter().map(|&y| u[y]).sum::<f64>()
            + transient
                .iter()
                .enumerate()
                .map(|(i, &x)| u[x] * absorb[(i, c)])
                .sum::<f64>();
        for (i, &y) in members.iter().enumerate() {
            // Clamp rounding noise below zero.
            rho[y] += weight * pc[(i, 0)].max(0.0);
        }
    }
    let total = rho.sum();
    if total.is_nan() || total <= 0.0 {
        return Err(Error::param(
            "stationary distribution",
            total,
            "no mass on recurrent classes",
        ));
    }
    Ok(rho / total)
}

/// The Bellman difference of Theorem 1, `D_t^π V = T_t^π V − T^π V`
/// `= (R_t^π − R^π) + γ (P_t^π − P^π) V`, with `task = M_t` and `average = M`.
///
/// # Panics
/// If the shapes of `task`, `average`, `pi` and `v` differ.
pub fn bellman_difference(
    task: &FiniteMdp,
    average: &FiniteMdp,
    pi: &TabularPolicy,
    v: &DVector<f64>,
) -> DVector<f64> {
    task.bellman(pi, v) - average.bellman(pi, v)
}

/// The weighted norm of §3, `‖v‖_μ = sqrt(Σ_s μ_s v_s²)`.
///
/// # Panics
/// If `v.len() ≠ μ.len()`.
pub fn weighted_l2(v: &DVector<f64>, mu: &DVector<f64>) -> f64 {
    assert_eq!(v.len(), mu.len(), "weighted_l2 lengths");
    v.iter()
        .zip(mu.iter())
        .map(|(x, m)| m * x * x)
        .sum::<f64>()
        .sqrt()
}

/// `ε = max_{π ∈ policies} ‖D_t^π V^π‖_μ` (Theorem 1's first closeness condition), where `V^π`
/// is the value of `π` in the **average** MDP `M` (Theorem 1 writes `D_t^π V^π` with `V^π` the
/// value in `M`).
///
/// Pass [`all_deterministic_policies`] for the supremum over all deterministic policies (the
/// supremum over stochastic ones can be larger; the paper's policies are deterministic).
///
/// # Errors
/// Shape errors if `task`, `average`, the policies or `μ` disagree; a parameter error if
/// `policies` is empty, `γ` differs, or `μ` is not a distribution.
pub fn epsilon(
    task: &FiniteMdp,
    average: &FiniteMdp,
    policies: &[TabularPolicy],
    mu: &DVector<f64>,
) -> Result<f64> {
    check_same_shape(task, average)?;
    average.check_vector(mu, "mu")?;
    check_distribution(mu, "mu")?;
    if policies.is_empty() {
        return Err(Error::param("policies", 0, "need at least one policy"));
    }
    let mut eps: f64 = 0.0;
    for pi in policies {
        let v = average.evaluate(pi)?;
        eps = eps.max(weighted_l2(&bellman_difference(task, average, pi, &v), mu));
    }
    Ok(eps)
}

/// Checks that two MDPs share `S`, `A` and `γ`.
///
/// # Errors
/// Shape error on `S`/`A`, parameter error on `γ`.
pub fn check_same_shape(a: &FiniteMdp, b: &FiniteMdp) -> Result<()> {
    if a.states != b.states {
        return Err(Error::shape("MDP states", b.states, a.states));
    }
    if a.actions != b.actions {
        return Err(Error::shape("MDP actions", b.actions, a.actions));
    }
    if a.gamma != b.gamma {
        return Err(Error::param(
            "gamma",
            a.gamma,
            format!("MDPs must share γ = {}", b.gamma),
        ));
    }
    Ok(())
}

/// All `A^S` deterministic policies, in lexicographic order of `(π(0), …, π(S−1))` with the
/// last state varying fastest.
///
/// # Errors
/// [`Error::InvalidParameter`] if `A == 0` or `A^S > ` [`MAX_ENUMERATED_POLICIES`] (10⁶).
pub fn all_deterministic_policies(states: usize, actions: usize) -> Result<Vec<TabularPolicy>> {
    if actions == 0 {
        return Err(Error::param("actions", 0, "need at least one action"));
    }
    let mut count: usize = 1;
    for _ in 0..states {
        count = count
            .checked_mul(actions)
            .filter(|&c| c <= MAX_ENUMERATED_POLICIES)
            .ok_or_else(|| {
                Error::param(
                    "states",
                    states,
                    format!("A^S = {actions}^{states} exceeds {MAX_ENUMERATED_POLICIES} policies"),
                )
            })?;
    }
    let mut out = Vec::with_capacity(count);
    let mut digits = vec![0usize; states];
    for _ in 0..count {
        out.push(TabularPolicy::deterministic(digits.clone(), actions)?);
        for d in digits.iter_mut().rev() {
            *d += 1;
            if *d < actions {
                break;
            }
            *d = 0;
        }
    }
    Ok(out)
}

/// Checks that `values`, read as rows of `row_len`, are non-negative and each sums to 1 within
/// [`TRANSITION_TOLERANCE`] (a stochastic matrix); errors name the entry or the row.
fn check_stochastic_rows(
    what: &'static str,
    values: &[f64],
    row_len: usize,
    entry: impl Fn(usize) -> String,
    row: impl Fn(usize) -> String,
    rule: &str,
) -> Result<()> {
    if let Some(i) = values.iter().position(|&p| p < 0.0) {
        return Err(Error::param(
            what,
            format!("{} = {}", entry(i), values[i]),
            "probabilities must be ≥ 0",
        ));
    }
    for (r, chunk) in values.chunks(row_len.max(1)).enumerate() {
        let sum: f64 = chunk.iter().sum();
        if (sum - 1.0).abs() > TRANSITION_TOLERANCE {
            return Err(Error::param(
                what,
                format!("{} sums to {sum}", row(r)),
                rule.to_string(),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two_state() -> FiniteMdp {
        // State 0: action 0 stays (r = 0), action 1 goes to 1 (r = 0); state 1: stays, r = 1.
        FiniteMdp::new(
            2,
            2,
            vec![0.0, 0.0, 1.0, 1.0],
            vec![1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0],
            0.9,
        )
        .unwrap()
    }

    #[test]
    fn evaluate_matches_closed_form() {
        let m = two_state();
        let pi = TabularPolicy::deterministic(vec![1, 0], 2).unwrap();
        let v = m.evaluate(&pi).unwrap();
        assert!((v[1] - 10.0).abs() < 1e-12);
        assert!((v[0] - 9.0).abs() < 1e-12);
        let (vs, pis, _) = m.policy_iteration(10).unwrap();
        assert_eq!(pis, pi);
        assert!((vs - v).amax() < 1e-12);
    }

    #[test]
    fn rejects_bad_rows_and_gamma() {
        assert!(FiniteMdp::new(1, 1, vec![0.0], vec![0.9], 0.5).is_err());
        assert!(FiniteMdp::new(1, 1, vec![0.0], vec![1.0], 1.0).is_err());
        assert!(FiniteMdp::new(1, 1, vec![0.0], vec![1.0], -0.1).is_err());
        assert!(FiniteMdp::new(1, 1, vec![f64::NAN], vec![1.0], 0.5).is_err());
        assert!(FiniteMdp::new(1, 1, vec![0.0], vec![1.0, 0.0], 0.5).is_err());
        assert!(FiniteMdp::new(2, 1, vec![0.0; 2], vec![1.5, -0.5, 0.0, 1.0], 0.5).is_err());
        assert!(FiniteMdp::new(0, 1, vec![], vec![], 0.5).is_err());
    }

    #[test]
    fn stationary_of_reducible_and_periodic_chains() {
        // Periodic 2-cycle: ρ = (1/2, 1/2).
        let m = FiniteMdp::new(2, 1, vec![0.0; 2], vec![0.0, 1.0, 1.0, 0.0], 0.5).unwrap();
        let rho = m.stationary_distribution(&TabularPolicy::uniform(2, 1)).unwrap();
        assert!((rho[0] - 0.5).abs() < 1e-12 && (rho[1] - 0.5).abs() < 1e-12);
        // Two absorbing states 0 and 2, state 1 goes to each w.p. 1/2; uniform start → (1/2, 0, 1/2).
        let m = FiniteMdp::new(
            3,
            1,
            vec![0.0; 3],
            vec![1.0, 0.0, 0.0, 0.5, 0.0, 0.5, 0.0, 0.0, 1.0],
            0.5,
        )
        .unwrap();
        let rho = m.stationary_distribution(&TabularPolicy::uniform(3, 1)).unwrap();
        assert!((rho[0] - 0.5).abs() < 1e-12 && rho[1] == 0.0 && (rho[2] - 0.5).abs() < 1e-12);
    }

    #[test]
    fn enumerates_policies() {
        let all = all_deterministic_policies(3, 2).unwrap();
        assert_eq!(all.len(), 8);
        assert_eq!(all[1].as_actions().unwrap(), vec![0, 0, 1]);
        assert!(all_deterministic_policies(30, 2).is_err());
    }
}
