//! First-order optimisers on the flat parameter vector θ. Both **minimise**: to ascend a reward,
//! pass the negated gradient.
//!
//! * SGD with momentum: `u ← μ u + g`, `θ ← θ − η u`.
//! * Adam (Kingma & Ba 2015): `m ← β1 m + (1 − β1) g`, `v ← β2 v + (1 − β2) g²`,
//!   `θ ← θ − η m̂ / (√v̂ + ε)` with `m̂ = m / (1 − β1^t)`, `v̂ = v / (1 − β2^t)`.
//!
//! A non-finite gradient is refused before θ is touched, so a NaN never reaches the parameters.

use super::Scalar;
use crate::error::{check_finite, Error, Result};
use serde::{Deserialize, Serialize};

/// An optimiser: one step from a gradient.
pub trait Optimizer<T: Scalar> {
    /// Updates `params` with `grad` (same length).
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] on a length mismatch, [`Error::NonFinite`] when `grad` holds a NaN
    /// or an infinity; in both cases `params` is unchanged.
    fn step(&mut self, params: &mut [T], grad: &[T]) -> Result<()>;
}

fn check<T: Scalar>(params: &[T], grad: &[T]) -> Result<()> {
    if params.len() != grad.len() {
        return Err(Error::shape("gradient", params.len(), grad.len()));
    }
    check_finite("gradient", grad)
}

/// Scales `grad` so its Euclidean norm is at most `max_norm`; returns the norm before clipping.
pub fn clip_grad_norm<T: Scalar>(grad: &mut [T], max_norm: f64) -> f64 {
    let norm = grad.iter().map(|g| g.value_f64().powi(2)).sum::<f64>().sqrt();
    if norm > max_norm && norm.is_finite() && norm > 0.0 {
        let s = T::of(max_norm / norm);
        for g in grad.iter_mut() {
            *g *= s;
        }
    }
    norm
}

/// Stochastic gradient descent with optional momentum.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Sgd {
    /// Learning rate η.
    pub lr: f64,
    /// Momentum μ ∈ [0, 1) (0: plain SGD).
    pub momentum: f64,
    velocity: Vec<f64>,
}

impl Sgd {
    /// SGD with learning rate `lr` and momentum `momentum`.
    ///
    /// # Errors
    /// `lr` not finite and positive, or `momentum` outside [0, 1).
    pub fn new(lr: f64, momentum: f64) -> Result<Self> {
        if !(lr.is_finite() && lr > 0.0) {
            return Err(Error::param("lr", lr, "must be finite and > 0"));
        }
        if !(0.0..1.0).contains(&momentum) {
            return Err(Error::param("momentum", momentum, "must be in [0, 1)"));
        }
        Ok(Sgd {
            lr,
            momentum,
            velocity: Vec::new(),
        })
    }
}

impl<T: Scalar> Optimizer<T> for Sgd {
    fn step(&mut self, params: &mut [T], grad: &[T]) -> Result<()> {
        check(params, grad)?;
        self.velocity.resize(params.len(), 0.0);
        for ((p, &g), u) in params.iter_mut().zip(grad).zip(self.velocity.iter_mut()) {
            *u = self.momentum * *u + g.value_f64();
            *p = T::of(p.value_f64() - self.lr * *u);
        }
        Ok(())
    }
}

/// Adam with bias correction.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Adam {
    /// Learning rate η.
    pub lr: f64,
    /// First-moment decay β1.
    pub beta1: f64,
    /// Second-moment decay β2.
    pub beta2: f64,
    /// ε in the denominator.
    pub eps: f64,
    t: u64,
    m: Vec<f64>,
    v: Vec<f64>,
}

impl Adam {
    /// Adam with learning rate `lr` and the usual β1 = 0.9, β2 = 0.999, ε = 1e-8.
    ///
    /// # Errors
    /// `lr` not finite and positive.
    pub fn new(lr: f64) -> Result<Self> {
        Self::with_betas(lr, 0.9, 0.999, 1e-8)
    }

    /// Adam with every constant given.
    ///
    /// # Errors
    /// `lr` or `eps` not finite and positive, a β outside [0, 1).
    pub fn with_betas(lr: f64, beta1: f64, beta2: f64, eps: f64) -> Result<Self> {
        if !(lr.is_finite() && lr > 0.0) {
            return Err(Error::param("lr", lr, "must be finite and > 0"));
        }
        if !(0.0..1.0).contains(&beta1) {
            return Err(Error::param("beta1", beta1, "must be in [0, 1)"));
        }
        if !(0.0..1.0).contains(&beta2) {
            return Err(Error::param("beta2", beta2, "must be in [0, 1)"));
        }
        if !(eps.is_finite() && eps > 0.0) {
            return Err(Error::param("eps", eps, "must be finite and > 0"));
        }
        Ok(Adam {
            lr,
            beta1,
            beta2,
            eps,
            t: 0,
            m: Vec::new(),
            v: Vec::new(),
        })
    }

    /// Number of steps taken.
    pub fn steps(&self) -> u64 {
        self.t
    }
}

impl<T: Scalar> Optimizer<T> for Adam {
    fn step(&mut self, params: &mut [T], grad: &[T]) -> Result<()> {
        check(params, grad)?;
        self.m.resize(params.len(), 0.0);
        self.v.resize(params.len(), 0.0);
        self.t += 1;
        let c1 = 1.0 - self.beta1.powf(self.t as f64);
        let c2 = 1.0 - self.beta2.powf(self.t as f64);
        for (((p, &g), m), v) in params
            .iter_mut()
            .zip(grad)
            .zip(self.m.iter_mut())
            .zip(self.v.iter_mut())
        {
            let g = g.value_f64();
            *m = self.beta1 * *m + (1.0 - self.beta1) * g;
            *v = self.beta2 * *v + (1.0 - self.beta2) * g * g;
            let update = self.lr * (*m / c1) / ((*v / c2).sqrt() + self.eps);
            *p = T::of(p.value_f64() - update);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Minimising f(θ) = Σ (θ_i − i)² from 0: both optimisers reach θ_i = i.
    #[test]
    fn both_optimisers_minimise_a_quadratic() {
        let target = [0.0, 1.0, 2.0, -3.0];
        let opts: Vec<Box<dyn Optimizer<f64>>> = vec![
            Box::new(Sgd::new(0.1, 0.5).unwrap()),
            Box::new(Adam::new(0.05).unwrap()),
        ];
        for mut opt in opts {
            let mut theta = vec![0.0; 4];
            for _ in 0..2000 {
                let g: Vec<f64> = theta.iter().zip(&target).map(|(t, c)| 2.0 * (t - c)).collect();
                opt.step(&mut theta, &g).unwrap();
            }
            for (t, c) in theta.iter().zip(&target) {
                assert!((t - c).abs() < 1e-3, "{t} vs {c}");
            }
        }
    }

    /// Adam's first step moves every coordinate by exactly η (m̂/√v̂ = sign(g)).
    #[test]
    fn adam_first_step_is_lr_times_sign() {
        let mut opt = Adam::new(0.01).unwrap();
        let mut p = vec![1.0f64, 1.0];
        opt.step(&mut p, &[3.0, -0.5]).unwrap();
        assert!((p[0] - 0.99).abs() < 1e-9 && (p[1] - 1.01).abs() < 1e-9);
    }

    #[test]
    fn non_finite_gradient_leaves_parameters_untouched() {
        let mut opt = Adam::new(0.01).unwrap();
        let mut p = vec![1.0f32, 2.0];
        let err = opt.step(&mut p, &[f32::NAN, 1.0]).unwrap_err();
        assert!(err.to_string().contains("gradient"));
        assert_eq!(p, vec![1.0, 2.0]);
        assert!(Sgd::new(-1.0, 0.0).is_err());
        assert!(Adam::with_betas(0.1, 1.0, 0.9, 1e-8).is_err());
    }

    #[test]
    fn clipping_bounds_the_norm() {
        let mut g = vec![3.0f64, 4.0];
        assert_eq!(clip_grad_norm(&mut g, 1.0), 5.0);
        assert!((g[0] - 0.6).abs() < 1e-12 && (g[1] - 0.8).abs() < 1e-12);
    }
}
