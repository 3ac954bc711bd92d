//! Linear state–action features `φ(x, a) ∈ R^d` for LSTD-Q and LSPI (paper §3 and §4).
//!
//! The paper's function space is `F = { f_α(·) = φ(·)ᵀ α : α ∈ R^d }` with basis functions
//! `φ_i ∈ B(X; L)` (§3); Theorem 1 applies LSPI to it with a finite action set. A feature map
//! here is anything implementing [`Features`]: for a state `x` and an action index
//! `a ∈ {0, …, A − 1}` it writes `φ(x, a)` into a buffer of length [`Features::dim`].
//!
//! Bases provided:
//!
//! | type | state | `φ(s, a)` | `d` |
//! |---|---|---|---|
//! | [`PolynomialBasis`] | `usize` (0-based) | block `a` = `[1, x, x², …, x^p]`, `x = 10·(s+1)/S` | `A·(p+1)` |
//! | [`RbfBasis`] | `usize` (0-based) | block `a` = `[1, exp(−(s+1−c_j)²/(2σ²))]_j` | `A·(J+1)` |
//! | [`TabularBasis`] | `usize` (0-based) | indicator `e_{a·S + s}` | `A·S` |
//! | [`AllocationFeatures`] | `[f64]` or [`AllocationState`] | `[1, x_i b_i, b_i ln b_i]_i`, `b` = candidate `a` | `2m + 1` |
//!
//! "Block `a`" means the block's entries occupy positions `a·k … a·k + k − 1` of `φ` (k = block
//! length) and every other entry is 0, so `Q(s, a) = φ(s, a)ᵀ w` has a separate linear model
//! per action — the layout of Lagoudakis & Parr's (2003) chain-walk bases `chain_basis_pol` and
//! `chain_basis_rbf`. The chain states are scaled as `10·s/S` with `s` 1-based, exactly as in
//! their code, "to avoid numerical problems" with `x⁴`.
//!
//! ## Why the §6.1 features must see entity positions
//!
//! [`AllocationFeatures`] models `R(x, b) = Σ_i x_i b_i − β_i b_i ln b_i` with one weight per
//! position for `x_i b_i` and one per position for `b_i ln b_i`, so the true reward is exactly
//! linear in it (weights `[0, 1, …, 1, −β_1, …, −β_m]`). A permutation σ of the entities maps a
//! sample `(x, b, r)` to `(σx, σb, r)`, and these per-position features to a *different* feature
//! vector (the `x_i b_i` block and the `b_i ln b_i` block are permuted). Permuted copies are
//! therefore new regression rows: they teach the model that position does not matter, which is
//! right when all `β_i` are equal (ε = 0) and a bias of size ~ε otherwise — exactly the
//! trade-off of Theorem 1. Features that are symmetric functions of the entities (say `Σ x_i b_i`
//! and `Σ b_i ln b_i`) would give `φ(σx, σb) = φ(x, b)`: a permuted copy would repeat an existing
//! row (only re-weighting the data, adding no information), and the model could not represent
//! unequal `β_i` at all.

use crate::error::{check_finite, Error, Result};
use crate::simplex::{validate_allocation, x_log_x};

/// A linear feature map `φ(x, a) ∈ R^d` over states of type `S` and a finite action set
/// `{0, …, A − 1}`; the action-value model is `Q_w(x, a) = φ(x, a)ᵀ w`.
pub trait Features<S: ?Sized> {
    /// The number of features `d`.
    fn dim(&self) -> usize;

    /// The number of actions `A`.
    fn n_actions(&self) -> usize;

    /// Writes `φ(state, action)` into `out[..d]`.
    ///
    /// `out` must have length ≥ `dim()` (the LSTD-Q and LSPI drivers guarantee it). The bases of
    /// this module write a zero vector for an action `≥ n_actions()` or a state outside the
    /// basis rather than panicking (the drivers reject such actions before calling).
    fn phi(&self, state: &S, action: usize, out: &mut [f64]);

    /// `Q_w(x, a) = φ(x, a)ᵀ w`, using `buf` (length ≥ d) as scratch space.
    fn q_value(&self, state: &S, action: usize, weights: &[f64], buf: &mut [f64]) -> f64 {
        let d = self.dim();
        self.phi(state, action, &mut buf[..d]);
        buf[..d].iter().zip(weights).map(|(p, w)| p * w).sum()
    }
}

impl<S: ?Sized, F: Features<S> + ?Sized> Features<S> for &F {
    fn dim(&self) -> usize {
        (**self).dim()
    }
    fn n_actions(&self) -> usize {
        (**self).n_actions()
    }
    fn phi(&self, state: &S, action: usize, out: &mut [f64]) {
        (**self).phi(state, action, out)
    }
}

fn check_positive(name: &'static str, v: usize) -> Result<()> {
    if v == 0 {
        return Err(Error::param(name, v, "must be at least 1"));
    }
    Ok(())
}

/// Lagoudakis & Parr's `chain_basis_pol`: per action, the block `[1, x, x², …, x^p]` with the
/// 0-based state `s` scaled as `x = 10·(s + 1)/S` (so `x ∈ (0, 10]`). `d = A·(p + 1)`.
#[derive(Clone, Debug, PartialEq)]
pub struct PolynomialBasis {
    n_states: usize,
    n_actions: usize,
    degree: usize,
}

impl PolynomialBasis {
    /// The basis for `n_states` states, `n_actions` actions and polynomial degree `degree`
    /// (L&P's chain walk: degree 4, two actions, `d = 10`).
    ///
    /// # Errors
    /// Zero states or actions.
    pub fn new(n_states: usize, n_actions: usize, degree: usize) -> Result<Self> {
        check_positive("n_states", n_states)?;
        check_positive("n_actions", n_actions)?;
        Ok(PolynomialBasis {
            n_states,
            n_actions,
            degree,
        })
    }
}

impl Features<usize> for PolynomialBasis {
    fn dim(&self) -> usize {
        self.n_actions * (self.degree + 1)
    }
    fn n_actions(&self) -> usize {
        self.n_actions
    }
    fn phi(&self, state: &usize, action: usize, out: &mut [f64]) {
        let d = self.dim();
        out[..d].fill(0.0);
        if *state >= self.n_states || action >= self.n_actions {
            return;
        }
        let x = 10.0 * (*state + 1) as f64 / self.n_states as f64;
        let k = self.degree + 1;
        let mut p = 1.0;
        for o in &mut out[action * k..(action + 1) * k] {
            *o = p;
            p *= x;
        }
    }
}

/// Lagoudakis & Parr's `chain_basis_rbf`: per action, the block
/// `[1, exp(−(s̃ − c_1)²/(2σ²)), …, exp(−(s̃ − c_J)²/(2σ²))]` with the 1-based state `s̃ = s + 1`.
/// `d = A·(J + 1)`.
#[derive(Clone, Debug, PartialEq)]
pub struct RbfBasis {
    n_states: usize,
    n_actions: usize,
    centres: Vec<f64>,
    sigma: f64,
}

impl RbfBasis {
    /// The basis with explicit centres `c_j` (in 1-based state units) and width `σ`.
    ///
    /// # Errors
    /// Zero states or actions, no centres, a non-finite centre, `σ` not finite and > 0.
    pub fn new(n_states: usize, n_actions: usize, centres: Vec<f64>, sigma: f64) -> Result<Self> {
        check_positive("n_states", n_states)?;
        check_positive("n_actions", n_actions)?;
        check_positive("centres", centres.len())?;
        check_finite("rbf centres", &centres)?;
        if !(sigma.is_finite() && sigma > 0.0) {
            return Err(Error::param("sigma", sigma, "must be finite and > 0"));
        }
        Ok(RbfBasis {
            n_states,
            n_actions,
            centres,
            sigma,
        })
    }

    /// `n_centres` centres spread evenly over the 1-based states, `c_j = 1 + (S − 1)·j/(J − 1)`
    /// (`linspace(1, S, J)`; a single centre sits at `(1 + S)/2`). The 50-state chain of L&P
    /// uses `J = 10`, `σ = 4`, giving `d = 22` for two actions.
    ///
    /// # Errors
    /// As [`RbfBasis::new`].
    pub fn chain(n_states: usize, n_actions: usize, n_centres: usize, sigma: f64) -> Result<Self> {
        check_positive("n_centres", n_centres)?;
        let s = n_states as f64;
        let centres = if n_centres == 1 {
            vec![(1.0 + s) / 2.0]
        } else {
            (0..n_centres)
                .map(|j| 1.0 + (s - 1.0) * j as f64 / (n_centres - 1) as f64)
                .collect()
        };
        Self::new(n_states, n_actions, centres, sigma)
    }

    /// The centres `c_j` (1-based state units).
    pub fn centres(&self) -> &[f64] {
        &self.centres
    }
}

impl Features<usize> for RbfBasis {
    fn dim(&self) -> usize {
        self.n_actions * (self.centres.len() + 1)
    }
    fn n_actions(&self) -> usize {
        self.n_actions
    }
    fn phi(&self, state: &usize, action: usize, out: &mut [f64]) {
        let d = self.dim();
        out[..d].fill(0.0);
        if *state >= self.n_states || action >= self.n_actions {
            return;
        }
        let s = (*state + 1) as f64;
        let k = self.centres.len() + 1;
        let block = &mut out[action * k..(action + 1) * k];
        block[0] = 1.0;
        let two_s2 = 2.0 * self.sigma * self.sigma;
        for (o, c) in block[1..].iter_mut().zip(&self.centres) {
            *o = (-(s - c) * (s - c) / two_s2).exp();
        }
    }
}

/// The tabular (exact) basis: one indicator per state–action pair, `φ(s, a) = e_{a·S + s}`
/// (L&P's `chain_basis_exact`). Every function of `(s, a)` is representable, so LSTD-Q on it
/// returns the exact `Q^π` when every pair is weighted (model-based) or visited enough.
#[derive(Clone, Debug, PartialEq)]
pub struct TabularBasis {
    n_states: usize,
    n_actions: usize,
}

impl TabularBasis {
    /// The basis for `n_states` states and `n_actions` actions (`d = S·A`).
    ///
    /// # Errors
    /// Zero states or actions.
    pub fn new(n_states: usize, n_actions: usize) -> Result<Self> {
        check_positive("n_states", n_states)?;
        check_positive("n_actions", n_actions)?;
        Ok(TabularBasis { n_states, n_actions })
    }

    /// The number of states `S`.
    pub fn n_states(&self) -> usize {
        self.n_states
    }
}

impl Features<usize> for TabularBasis {
    fn dim(&self) -> usize {
        self.n_states * self.n_actions
    }
    fn n_actions(&self) -> usize {
        self.n_actions
    }
    fn phi(&self, state: &usize, action: usize, out: &mut [f64]) {
        out[..self.dim()].fill(0.0);
        if *state < self.n_states && action < self.n_actions {
            out[action * self.n_states + *state] = 1.0;
        }
    }
}

/// A §6.1 state seen through a reordering of the entities: entity `i` of this state is entity
/// `perm[i]` of the canonical order, so candidate allocation `b` is applied as `b_{perm[i]}` to
/// entity `i`.
///
/// A real sample `(x, b, r)` is the state with the identity order. Its permuted copy under σ,
/// `(σx, σb, r)` with `(σx)_i = x_{σ(i)}`, is the state `x' = σx` with `perm = σ` and the same
/// candidate index — each reordering is one task of Corollary 2, and pooling their samples is
/// the multi-task LSPI of Corollary 1.
#[derive(Clone, Debug, PartialEq)]
pub struct AllocationState {
    /// The entity states `x'_i ∈ [0, 1]` in this task's order.
    pub x: Vec<f64>,
    /// `perm[i]` = the canonical position whose candidate share entity `i` receives.
    pub perm: Vec<usize>,
}

impl AllocationState {
    /// A state in the canonical entity order (identity permutation).
    pub fn identity(x: Vec<f64>) -> Self {
        let perm = (0..x.len()).collect();
        AllocationState { x, perm }
    }
}

/// The per-position features of §6.1 over a finite candidate set `b^(0), …, b^(A−1)` on the
/// simplex: `φ(x, a) = [1, x_1 b_1, …, x_m b_m, b_1 ln b_1, …, b_m ln b_m]` with `b = b^(a)`
/// (`0 ln 0 = 0`), `d = 2m + 1`.
///
/// The reward `R(x, b) = Σ_i x_i b_i − β_i b_i ln b_i` is exactly `φᵀ w*` with
/// `w* = [0, 1, …, 1, −β_1, …, −β_m]`, so the only error of LSTD-Q (ridge regression when γ = 0)
/// is statistical — and, with permuted copies, the bias of pretending the `β_i` are equal. See
/// the module docs for why the features must see positions.
#[derive(Clone, Debug, PartialEq)]
pub struct AllocationFeatures {
    m: usize,
    candidates: Vec<Vec<f64>>,
    /// `b_i ln b_i` for every candidate, precomputed.
    xlogx: Vec<Vec<f64>>,
}

impl AllocationFeatures {
    /// Features over the given candidate allocations, each of length `m`.
    ///
    /// # Errors
    /// No candidates, `m = 0`, a candidate of another length or not on the simplex (tolerance
    /// 1e-9).
    pub fn new(candidates: Vec<Vec<f64>>) -> Result<Self> {
        check_positive("candidates", candidates.len())?;
        let m = candidates[0].len();
        check_positive("m", m)?;
        for c in &candidates {
            if c.len() != m {
                return Err(Error::shape("candidate allocation", m, c.len()));
            }
            validate_allocation(c, 1e-9)?;
        }
        let xlogx = candidates
            .iter()
            .map(|c| c.iter().map(|&v| x_log_x(v.max(0.0))).collect())
            .collect();
        Ok(AllocationFeatures { m, candidates, xlogx })
    }

    /// The number of entities `m`.
    pub fn entities(&self) -> usize {
        self.m
    }

    /// The candidate allocations.
    pub fn candidates(&self) -> &[Vec<f64>] {
        &self.candidates
    }

    /// `Q_w(x, a)` for every candidate at once, in canonical entity order:
    /// `Q_w(x, a) = w_0 + Σ_i (w_{1+i} x_i) b^(a)_i + c_a` with `c_a = Σ_i w_{1+m+i} b^(a)_i ln b^(a)_i`
    /// — `O(A·m)` instead of `A` feature evaluations of `O(d)` each. Equal to
    /// [`Features::q_value`] up to rounding.
    ///
    /// # Errors
    /// `weights` not of length `2m + 1`, `x` not of length `m`, `out` not of length `A`.
    pub fn q_values(&self, weights: &[f64], x: &[f64], out: &mut [f64]) -> Result<()> {
        let m = self.m;
        if weights.len() != 2 * m + 1 {
            return Err(Error::shape(
                "allocation feature weights",
                2 * m + 1,
                weights.len(),
            ));
        }
        if x.len() != m {
            return Err(Error::shape("state x", m, x.len()));
        }
        if out.len() != self.candidates.len() {
            return Err(Error::shape("Q-value buffer", self.candidates.len(), out.len()));
        }
        let (w1, w2) = (&weights[1..1 + m], &weights[1 + m..]);
        for ((o, b), blogb) in out.iter_mut().zip(&self.candidates).zip(&self.xlogx) {
            let mut q = weights[0];
            for i in 0..m {
                q += w1[i] * x[i] * b[i] + w2[i] * blogb[i];
            }
            *o = q;
        }
        Ok(())
    }

    /// `φ` for entity states `x` and candidate `a` applied through `perm` (see
    /// [`AllocationState`]); `perm = None` is the identity.
    fn write(&self, x: &[f64], perm: Option<&[usize]>, action: usize, out: &mut [f64]) {
        let m = self.m;
        out[..2 * m + 1].fill(0.0);
        if action >= self.candidates.len()
            || x.len() != m
            || perm.is_some_and(|p| p.len() != m || p.iter().any(|&j| j >= m))
        {
            return;
        }
        out[0] = 1.0;
        let (b, blogb) = (&self.candidates[action], &self.xlogx[action]);
        for i in 0..m {
            let j = perm.map_or(i, |p| p[i]);
            out[1 + i] = x[i] * b[j];
            out[1 + m + i] = blogb[j];
        }
    }
}

impl Features<[f64]> for AllocationFeatures {
    fn dim(&self) -> usize {
        2 * self.m + 1
    }
    fn n_actions(&self) -> usize {
        self.candidates.len()
    }
    fn phi(&self, state: &[f64], action: usize, out: &mut [f64]) {
        self.write(state, None, action, out)
    }
}

impl Features<AllocationState> for AllocationFeatures {
    fn dim(&self) -> usize {
        2 * self.m + 1
    }
    fn n_actions(&self) -> usize {
        self.candidates.len()
    }
    fn phi(&self, state: &AllocationState, action: usize, out: &mut [f64]) {
        self.write(&state.x, Some(&state.perm), action, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polynomial_matches_chain_basis_pol() {
        let f = PolynomialBasis::new(20, 2, 4).unwrap();
        assert_eq!(Features::<usize>::dim(&f), 10);
        let mut out = vec![9.0; 10];
        f.phi(&9, 1, &mut out);
        // s = 10 (1-based) of 20 → x = 5.
        assert_eq!(out, vec![0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 5.0, 25.0, 125.0, 625.0]);
        f.phi(&0, 0, &mut out);
        assert_eq!(&out[..5], &[1.0, 0.5, 0.25, 0.125, 0.0625]);
        assert!(out[5..].iter().all(|&v| v == 0.0));
    }

    #[test]
    fn rbf_has_constant_and_gaussians() {
        let f = RbfBasis::chain(50, 2, 10, 4.0).unwrap();
        assert_eq!(Features::<usize>::dim(&f), 22);
        assert!((f.centres()[9] - 50.0).abs() < 1e-12 && (f.centres()[0] - 1.0).abs() < 1e-12);
        let mut out = vec![0.0; 22];
        f.phi(&0, 0, &mut out);
        assert_eq!(out[0], 1.0);
        assert!((out[1] - 1.0).abs() < 1e-15);
        assert!(out[11..].iter().all(|&v| v == 0.0));
        assert!(RbfBasis::new(5, 2, vec![1.0], 0.0).is_err());
        f.phi(&0, 7, &mut out);
        assert!(out.iter().all(|&v| v == 0.0), "out-of-range action gives zeros");
    }

    #[test]
    fn tabular_is_an_indicator() {
        let f = TabularBasis::new(3, 2).unwrap();
        let mut out = vec![0.0; 6];
        f.phi(&2, 1, &mut out);
        assert_eq!(out, vec![0.0, 0.0, 0.0, 0.0, 0.0, 1.0]);
    }

    #[test]
    fn allocation_features_reproduce_reward_and_permute() {
        let cands = vec![vec![0.5, 0.3, 0.2], vec![1.0, 0.0, 0.0]];
        let f = AllocationFeatures::new(cands.clone()).unwrap();
        let betas = [0.2, 0.5, 0.7];
        let mut w = vec![0.0; 7];
        w[1..4].fill(1.0);
        for i in 0..3 {
            w[4 + i] = -betas[i];
        }
        let x = [0.1, 0.9, 0.4];
        let mut buf = vec![0.0; 7];
        for (a, b) in cands.iter().enumerate() {
            let r: f64 = (0..3).map(|i| x[i] * b[i] - betas[i] * x_log_x(b[i])).sum();
            assert!((f.q_value(&x[..], a, &w, &mut buf) - r).abs() < 1e-15);
        }
        let mut all = vec![0.0; 2];
        f.q_values(&w, &x, &mut all).unwrap();
        for (a, q) in all.iter().enumerate() {
            assert!((q - f.q_value(&x[..], a, &w, &mut buf)).abs() < 1e-14);
        }
        assert!(f.q_values(&w[..6], &x, &mut all).is_err());
        // Permuted copy: entity i of the new state is entity σ(i) of the old one.
        let sigma = vec![2, 0, 1];
        let st = AllocationState {
            x: sigma.iter().map(|&j| x[j]).collect(),
            perm: sigma.clone(),
        };
        let (mut p0, mut p1) = (vec![0.0; 7], vec![0.0; 7]);
        f.phi(&x[..], 0, &mut p0);
        f.phi(&st, 0, &mut p1);
        for i in 0..3 {
            assert_eq!(p1[1 + i], p0[1 + sigma[i]]);
            assert_eq!(p1[4 + i], p0[4 + sigma[i]]);
        }
        assert!(AllocationFeatures::new(vec![vec![0.5, 0.6]]).is_err());
        assert!(AllocationFeatures::new(vec![]).is_err());
    }
}
