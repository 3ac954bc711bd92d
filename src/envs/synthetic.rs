//! The synthetic entropy-regularised allocation of §6.1.
//!
//! Each entity `i` has a scalar state `x_i ∈ [0, 1]` and a weight `β_i > 0`; an allocation `a` on
//! the simplex earns
//!
//! `R(x, a) = Σ_i x_i a_i − β_i a_i ln a_i`  (+ Gaussian noise `N(0, σ²)` when sampled).
//!
//! With equal weights `β_i = β` this is `Σ x_i a_i + β H(a)`, which is permutation invariant; the
//! spread `ε = max_i β_i − min_i β_i` measures how far it is from invariant (the paper's stand-in
//! for the Bellman difference ε of Theorem 1).
//!
//! The maximiser solves the KKT conditions `x_i − β_i (ln a_i + 1) = λ`, i.e.
//! `a_i(λ) = exp((x_i − λ)/β_i − 1)`, with `λ` chosen so that `Σ a_i(λ) = 1`; `Σ a_i(λ)` is
//! strictly decreasing in `λ`, so bisection finds it. For equal weights `a* = softmax(x/β)`.

use crate::error::{check_finite, Error, Result};
use crate::simplex::x_log_x;
use rand::{Rng, RngExt};
use rand_distr::{Distribution, Normal};

/// Centre of the weights `β_i` used by [`SyntheticAllocation::with_spread`].
pub const DEFAULT_BETA_CENTRE: f64 = 0.5;

/// The §6.1 reward over `m` entities with weights `β_1 … β_m` and reward noise `σ`.
#[derive(Clone, Debug, PartialEq)]
pub struct SyntheticAllocation {
    betas: Vec<f64>,
    noise_std: f64,
}

impl SyntheticAllocation {
    /// The reward with the given weights and noise standard deviation.
    ///
    /// # Errors
    /// No entities, a weight that is not finite and > 0, or a noise that is not finite and ≥ 0.
    pub fn new(betas: Vec<f64>, noise_std: f64) -> Result<Self> {
        if betas.is_empty() {
            return Err(Error::param("m", 0, "at least one entity is needed"));
        }
        if let Some((i, b)) = betas
            .iter()
            .enumerate()
            .find(|(_, b)| !(b.is_finite() && **b > 0.0))
        {
            return Err(Error::param("beta", b, format!("β_{i} must be finite and > 0")));
        }
        if !(noise_std.is_finite() && noise_std >= 0.0) {
            return Err(Error::param("noise_std", noise_std, "must be finite and >= 0"));
        }
        Ok(SyntheticAllocation { betas, noise_std })
    }

    /// `m` weights evenly spaced on `[c − ε/2, c + ε/2]` with centre `c` =
    /// [`DEFAULT_BETA_CENTRE`], so `max β − min β = ε` (all equal when `ε = 0` or `m = 1`).
    ///
    /// # Errors
    /// `m = 0`, `ε` not in `[0, 2c)` (weights must stay positive), invalid noise.
    pub fn with_spread(m: usize, epsilon: f64, noise_std: f64) -> Result<Self> {
        let c = DEFAULT_BETA_CENTRE;
        if !(epsilon.is_finite() && (0.0..2.0 * c).contains(&epsilon)) {
            return Err(Error::param(
                "epsilon",
                epsilon,
                format!("must be in [0, {})", 2.0 * c),
            ));
        }
        let betas = (0..m)
            .map(|i| {
                if m == 1 {
                    c
                } else {
                    c - epsilon / 2.0 + epsilon * i as f64 / (m - 1) as f64
                }
            })
            .collect();
        Self::new(betas, noise_std)
    }

    /// Number of entities `m`.
    pub fn entities(&self) -> usize {
        self.betas.len()
    }

    /// The weights `β_i`.
    pub fn betas(&self) -> &[f64] {
        &self.betas
    }

    /// Reward noise standard deviation `σ`.
    pub fn noise_std(&self) -> f64 {
        self.noise_std
    }

    /// The spread `ε = max β − min β`.
    pub fn spread(&self) -> f64 {
        let max = self.betas.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let min = self.betas.iter().cloned().fold(f64::INFINITY, f64::min);
        max - min
    }

    /// The same reward with entities reordered: entity `i` of the result is entity `perm[i]` here.
    ///
    /// # Errors
    /// `perm` is not a permutation of `0..m`.
    pub fn permuted(&self, perm: &[usize]) -> Result<Self> {
        let m = self.entities();
        let mut seen = vec![false; m];
        if perm.len() != m {
            return Err(Error::shape("permutation", m, perm.len()));
        }
        for &p in perm {
            if p >= m || std::mem::replace(&mut seen[p], true) {
                return Err(Error::param("perm", p, "not a permutation of 0..m"));
            }
        }
        Ok(SyntheticAllocation {
            betas: perm.iter().map(|&p| self.betas[p]).collect(),
            noise_std: self.noise_std,
        })
    }

    fn check(&self, what: &'static str, v: &[f64]) -> Result<()> {
        if v.len() != self.entities() {
            return Err(Error::shape(what, self.entities(), v.len()));
        }
        check_finite(what, v)
    }

    /// The expected reward `R(x, a) = Σ_i x_i a_i − β_i a_i ln a_i` (0 ln 0 = 0).
    ///
    /// # Errors
    /// Lengths other than `m`, or non-finite values.
    pub fn mean_reward(&self, x: &[f64], a: &[f64]) -> Result<f64> {
        self.check("state x", x)?;
        self.check("allocation a", a)?;
        Ok(self.mean_reward_unchecked(x, a))
    }

    /// [`mean_reward`](Self::mean_reward) without the checks, for hot loops over validated data.
    pub fn mean_reward_unchecked(&self, x: &[f64], a: &[f64]) -> f64 {
        x.iter()
            .zip(a)
            .zip(&self.betas)
            .map(|((x, a), b)| x * a - b * x_log_x(*a))
            .sum()
    }

    /// A noisy reward `R(x, a) + N(0, σ²)`.
    ///
    /// # Errors
    /// As [`mean_reward`](Self::mean_reward).
    pub fn sample_reward<R: Rng + ?Sized>(&self, x: &[f64], a: &[f64], rng: &mut R) -> Result<f64> {
        let mean = self.mean_reward(x, a)?;
        Ok(mean + self.noise(rng))
    }

    /// One draw of the reward noise `N(0, σ²)`.
    pub fn noise<R: Rng + ?Sized>(&self, rng: &mut R) -> f64 {
        if self.noise_std == 0.0 {
            return 0.0;
        }
        // σ was validated finite and > 0 here, so the distribution exists.
        Normal::new(0.0, self.noise_std)
            .map(|n| n.sample(rng))
            .unwrap_or(0.0)
    }

    /// `∂R/∂a_i = x_i − β_i (ln a_i + 1)` written into `out` (with `ln 0` read as `ln` of the
    /// smallest positive `f64`, so the gradient stays finite on the boundary).
    pub fn reward_gradient(&self, x: &[f64], a: &[f64], out: &mut [f64]) {
        for (((o, &x), &a), &b) in out.iter_mut().zip(x).zip(a).zip(&self.betas) {
            *o = x - b * (a.max(f64::MIN_POSITIVE).ln() + 1.0);
        }
    }

    /// A state with `x_i ~ U[0, 1]` independently.
    pub fn sample_state<R: Rng + ?Sized>(&self, rng: &mut R) -> Vec<f64> {
        (0..self.entities()).map(|_| rng.random::<f64>()).collect()
    }

    /// The maximiser `a*(x)` by bisection on the multiplier `λ` (see the module docs), to
    /// `|Σ a − 1| < 1e-13`.
    ///
    /// # Errors
    /// `x` of the wrong length or not finite.
    pub fn optimal_allocation(&self, x: &[f64]) -> Result<Vec<f64>> {
        self.check("state x", x)?;
        let alloc = |lambda: f64| -> Vec<f64> {
            x.iter()
                .zip(&self.betas)
                .map(|(x, b)| ((x - lambda) / b - 1.0).exp())
                .collect()
        };
        // Σ a(λ) ≥ 1 at λ = min_i(x_i − β_i) − β_max·ln(m) … bracket generously and bisect.
        let m = self.entities() as f64;
        let bmax = self.betas.iter().cloned().fold(0.0, f64::max);
        let xmin = x.iter().cloned().fold(f64::INFINITY, f64::min);
        let xmax = x.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let (mut lo, mut hi) = (xmin - bmax * (1.0 + m.ln()) - 1.0, xmax + 1.0);
        for _ in 0..200 {
            let mid = 0.5 * (lo + hi);
            let s: f64 = alloc(mid).iter().sum();
            if s > 1.0 {
                lo = mid;
            } else {
                hi = mid;
            }
            if hi - lo < 1e-15 * (1.0 + mid.abs()) {
                break;
            }
        }
        let mut a = alloc(0.5 * (lo + hi));
        let s: f64 = a.iter().sum();
        a.iter_mut().for_each(|v| *v /= s);
        Ok(a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simplex::softmax;
    use rand::SeedableRng;

    #[test]
    fn optimum_is_softmax_for_equal_weights() {
        let env = SyntheticAllocation::with_spread(5, 0.0, 0.0).unwrap();
        let x = [0.1, 0.9, 0.4, 0.4, 0.0];
        let a = env.optimal_allocation(&x).unwrap();
        let s = softmax(&x.iter().map(|v| v / DEFAULT_BETA_CENTRE).collect::<Vec<_>>());
        for (u, v) in a.iter().zip(&s) {
            assert!((u - v).abs() < 1e-12);
        }
    }

    /// With unequal weights, the bisection optimum satisfies the KKT conditions and beats
    /// random points of the simplex.
    #[test]
    fn optimum_satisfies_kkt_and_beats_perturbations() {
        let env = SyntheticAllocation::with_spread(6, 0.8, 0.0).unwrap();
        assert!((env.spread() - 0.8).abs() < 1e-12);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        let x = env.sample_state(&mut rng);
        let a = env.optimal_allocation(&x).unwrap();
        let mut g = vec![0.0; 6];
        env.reward_gradient(&x, &a, &mut g);
        for gi in &g {
            assert!((gi - g[0]).abs() < 1e-9, "KKT: gradients not equal {g:?}");
        }
        let best = env.mean_reward(&x, &a).unwrap();
        for _ in 0..200 {
            let mut b: Vec<f64> = a
                .iter()
                .map(|v| v * (1.0 + 0.2 * (rng.random::<f64>() - 0.5)))
                .collect();
            let s: f64 = b.iter().sum();
            b.iter_mut().for_each(|v| *v /= s);
            assert!(env.mean_reward(&x, &b).unwrap() <= best + 1e-12);
        }
    }

    #[test]
    fn permutation_reorders_weights_and_preserves_reward() {
        let env = SyntheticAllocation::with_spread(3, 0.4, 0.0).unwrap();
        let p = env.permuted(&[2, 0, 1]).unwrap();
        assert_eq!(p.betas(), &[env.betas()[2], env.betas()[0], env.betas()[1]]);
        let (x, a) = ([0.2, 0.5, 0.9], [0.5, 0.3, 0.2]);
        let r = env.mean_reward(&x, &a).unwrap();
        let rp = p.mean_reward(&[x[2], x[0], x[1]], &[a[2], a[0], a[1]]).unwrap();
        assert!((r - rp).abs() < 1e-15);
        assert!(env.permuted(&[0, 0, 1]).is_err());
    }

    #[test]
    fn bad_parameters_are_errors() {
        assert!(SyntheticAllocation::new(vec![], 0.0).is_err());
        assert!(SyntheticAllocation::new(vec![0.1, -1.0], 0.0).is_err());
        assert!(SyntheticAllocation::with_spread(3, 1.5, 0.0).is_err());
        assert!(SyntheticAllocation::with_spread(3, 0.1, f64::NAN).is_err());
        let env = SyntheticAllocation::with_spread(2, 0.1, 0.0).unwrap();
        assert!(env.mean_reward(&[0.1], &[1.0]).is_err());
        assert!(env.mean_reward(&[0.1, f64::NAN], &[0.5, 0.5]).is_err());
    }
}
