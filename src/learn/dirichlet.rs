//! The stochastic allocation policy PPO explores with (§A.2): a Dirichlet distribution on the
//! simplex whose mean follows the equivariant network's softmax output.
//!
//! For the network's allocation `a = π_θ(x)` (a point of the simplex, `m` entities) the action is
//!
//! ```text
//! w ~ Dirichlet(α),   α_i = κ a_i + α_min,   α_0 = Σ_i α_i = κ + m α_min
//! log p(w | a) = lnΓ(α_0) − Σ_i lnΓ(α_i) + Σ_i (α_i − 1) ln w_i
//! ∂ log p / ∂a_i = κ (ψ(α_0) − ψ(α_i) + ln w_i)
//! E[w] = α / α_0 = (κ a + α_min) / (κ + m α_min)
//! ```
//!
//! **Why a Dirichlet and not a Gaussian on the logits.** The action must lie on the simplex, and
//! the Dirichlet lives there: no squashing, no change of variables, an exact log-density. Its
//! parameters are a function of the allocation `a` itself, so the policy's hand-written backward
//! pass (which takes `∂L/∂a`) serves PPO unchanged; a Gaussian on the scores would need `∂L/∂s`
//! and a density on the `m − 1`-dimensional logit space. The concentration `κ` sets the
//! exploration: `Var(w_i) = α_i (α_0 − α_i) / (α_0² (α_0 + 1))`, which for a small floor is about
//! `a_i (1 − a_i) / (κ + 1)` (with `κ = 50`, `m = 10`, `a_i = 0.1`: a standard deviation of 0.04).
//! The floor `α_min > 0` keeps every `α_i` away from 0, where `ψ(α_i) → −∞` and samples underflow;
//! it makes every weight at least a little explored and bounds the gradient.
//!
//! The deterministic action used for testing is the distribution's mean [`DirichletPolicy::mean`].

use crate::error::{Error, Result};
use rand::Rng;
use rand_distr::{Distribution, Gamma};

/// ψ(x) = d lnΓ(x) / dx for `x > 0`: the recurrence `ψ(x) = ψ(x + 1) − 1/x` up to `x ≥ 10`, then
/// the asymptotic series `ln x − 1/(2x) − Σ_k B_{2k} / (2k x^{2k})` to `x^{−10}` (error below
/// 1e-13 for `x ≥ 10`).
pub fn digamma(mut x: f64) -> f64 {
    let mut acc = 0.0;
    while x < 10.0 {
        acc -= 1.0 / x;
        x += 1.0;
    }
    let inv = 1.0 / x;
    let inv2 = inv * inv;
    let series = inv2
        * (1.0 / 12.0
            - inv2 * (1.0 / 120.0 - inv2 * (1.0 / 252.0 - inv2 * (1.0 / 240.0 - inv2 * (1.0 / 132.0)))));
    acc + x.ln() - 0.5 * inv - series
}

/// lnΓ(x) for `x > 0` (libm's `lgamma`).
pub fn ln_gamma(x: f64) -> f64 {
    libm::lgamma(x)
}

/// The Dirichlet exploration policy around the network's allocation (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DirichletPolicy {
    /// Concentration `κ > 0`: larger is less exploration.
    pub concentration: f64,
    /// Floor `α_min > 0` added to every `α_i`.
    pub floor: f64,
}

impl DirichletPolicy {
    /// A Dirichlet policy with concentration `κ` and floor `α_min`.
    ///
    /// # Errors
    /// `κ` or `α_min` not finite and positive.
    pub fn new(concentration: f64, floor: f64) -> Result<Self> {
        if !(concentration.is_finite() && concentration > 0.0) {
            return Err(Error::param(
                "concentration",
                concentration,
                "must be finite and > 0",
            ));
        }
        if !(floor.is_finite() && floor > 0.0) {
            return Err(Error::param("dirichlet floor", floor, "must be finite and > 0"));
        }
        Ok(Self { concentration, floor })
    }

    /// `α_i = κ a_i + α_min`.
    pub fn alpha(&self, a: f64) -> f64 {
        self.concentration * a + self.floor
    }

    /// The mean action `E[w] = (κ a + α_min) / (κ + m α_min)`, written into `out`.
    pub fn mean(&self, a: &[f64], out: &mut [f64]) {
        let total = self.concentration * a.iter().sum::<f64>() + self.floor * a.len() as f64;
        for (o, &ai) in out.iter_mut().zip(a) {
            *o = self.alpha(ai) / total;
        }
    }

    /// Draws `w ~ Dirichlet(κ a + α_min)` into `w` by normalising independent `Gamma(α_i, 1)`
    /// draws; entries are floored at 1e-300 so that `ln w_i` stays finite.
    ///
    /// # Errors
    /// An allocation entry that is negative or not finite.
    pub fn sample<R: Rng + ?Sized>(&self, a: &[f64], rng: &mut R, w: &mut [f64]) -> Result<()> {
        let mut total = 0.0;
        for (i, (wi, &ai)) in w.iter_mut().zip(a).enumerate() {
            if !(ai.is_finite() && ai >= 0.0) {
                return Err(Error::param(
                    "allocation",
                    format!("a[{i}] = {ai}"),
                    "must be finite and ≥ 0",
                ));
            }
            let g = Gamma::new(self.alpha(ai), 1.0)
                .map_err(|e| Error::param("dirichlet alpha", self.alpha(ai), e.to_string()))?;
            *wi = g.sample(rng);
            total += *wi;
        }
        for wi in w.iter_mut() {
            *wi = (*wi / total).max(1e-300);
        }
        Ok(())
    }

    /// `log p(w | a)` (see the module docs).
    pub fn log_prob(&self, a: &[f64], w: &[f64]) -> f64 {
        let alpha0: f64 = a.iter().map(|&ai| self.alpha(ai)).sum();
        let mut lp = ln_gamma(alpha0);
        for (&ai, &wi) in a.iter().zip(w) {
            let al = self.alpha(ai);
            lp += (al - 1.0) * wi.ln() - ln_gamma(al);
        }
        lp
    }

    /// `∂ log p(w | a) / ∂a_i = κ (ψ(α_0) − ψ(α_i) + ln w_i)` into `out`.
    pub fn log_prob_grad(&self, a: &[f64], w: &[f64], out: &mut [f64]) {
        let alpha0: f64 = a.iter().map(|&ai| self.alpha(ai)).sum();
        let psi0 = digamma(alpha0);
        for ((o, &ai), &wi) in out.iter_mut().zip(a).zip(w) {
            *o = self.concentration * (psi0 - digamma(self.alpha(ai)) + wi.ln());
        }
    }

    /// Differential entropy of `Dirichlet(κ a + α_min)`:
    /// `ln B(α) + (α_0 − m) ψ(α_0) − Σ_i (α_i − 1) ψ(α_i)`, with `ln B(α) = Σ lnΓ(α_i) − lnΓ(α_0)`.
    pub fn entropy(&self, a: &[f64]) -> f64 {
        let alpha0: f64 = a.iter().map(|&ai| self.alpha(ai)).sum();
        let m = a.len() as f64;
        let mut h = -ln_gamma(alpha0) + (alpha0 - m) * digamma(alpha0);
        for &ai in a {
            let al = self.alpha(ai);
            h += ln_gamma(al) - (al - 1.0) * digamma(al);
        }
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;
    use rand::SeedableRng;

    #[test]
    fn digamma_known_values_and_recurrence() {
        // ψ(1) = −γ (Euler–Mascheroni), ψ(1/2) = −γ − 2 ln 2.
        let euler = 0.577_215_664_901_532_9;
        assert_relative_eq!(digamma(1.0), -euler, epsilon = 1e-12);
        assert_relative_eq!(digamma(0.5), -euler - 2.0 * 2f64.ln(), epsilon = 1e-12);
        for &x in &[0.1, 0.7, 3.3, 12.0, 250.0] {
            assert_relative_eq!(digamma(x + 1.0) - digamma(x), 1.0 / x, epsilon = 1e-11);
            // ψ is the derivative of lnΓ (central difference).
            let h = 1e-5 * x.max(1.0);
            let fd = (ln_gamma(x + h) - ln_gamma(x - h)) / (2.0 * h);
            assert_relative_eq!(digamma(x), fd, epsilon = 1e-6, max_relative = 1e-6);
        }
    }

    #[test]
    fn log_prob_gradient_matches_finite_differences() {
        let d = DirichletPolicy::new(20.0, 0.5).unwrap();
        let a = [0.1, 0.5, 0.15, 0.25];
        let w = [0.2, 0.3, 0.1, 0.4];
        let mut g = [0.0; 4];
        d.log_prob_grad(&a, &w, &mut g);
        for i in 0..4 {
            let (mut ap, mut am) = (a, a);
            ap[i] += 1e-6;
            am[i] -= 1e-6;
            let fd = (d.log_prob(&ap, &w) - d.log_prob(&am, &w)) / 2e-6;
            assert_relative_eq!(g[i], fd, epsilon = 1e-5, max_relative = 1e-6);
        }
    }

    #[test]
    fn uniform_dirichlet_density_and_entropy() {
        // κ a + α_min = 1 for every entity: the uniform density on the simplex, (m − 1)!.
        let d = DirichletPolicy::new(2.0, 0.5).unwrap();
        let a = [0.25; 4];
        let w = [0.1, 0.2, 0.3, 0.4];
        assert_relative_eq!(d.log_prob(&a, &w), 6f64.ln(), epsilon = 1e-12);
        assert_relative_eq!(d.entropy(&a), -(6f64.ln()), epsilon = 1e-12);
    }

    #[test]
    fn samples_have_the_stated_mean() {
        let d = DirichletPolicy::new(30.0, 0.5).unwrap();
        let a = [0.6, 0.3, 0.1];
        let mut mean = [0.0; 3];
        d.mean(&a, &mut mean);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let mut acc = [0.0; 3];
        let mut w = [0.0; 3];
        let n = 20_000;
        for _ in 0..n {
            d.sample(&a, &mut rng, &mut w).unwrap();
            assert_relative_eq!(w.iter().sum::<f64>(), 1.0, epsilon = 1e-12);
            for (s, v) in acc.iter_mut().zip(&w) {
                *s += v / n as f64;
            }
        }
        for i in 0..3 {
            // Standard error of each mean is below 0.001.
            assert!((acc[i] - mean[i]).abs() < 0.005, "{acc:?} vs {mean:?}");
        }
    }

    #[test]
    fn invalid_settings_are_errors() {
        assert!(DirichletPolicy::new(0.0, 0.5).is_err());
        assert!(DirichletPolicy::new(f64::NAN, 0.5).is_err());
        assert!(DirichletPolicy::new(10.0, 0.0).is_err());
        let d = DirichletPolicy::new(10.0, 0.5).unwrap();
        let mut w = [0.0; 2];
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        assert!(d.sample(&[f64::NAN, 1.0], &mut rng, &mut w).is_err());
    }
}
