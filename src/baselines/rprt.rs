//! RPRT: Reweighted Price Relative Tracking (Lai, Yang, Fang & Wu 2018).
//!
//! Z.-R. Lai, P.-Y. Yang, L. Fang and X. Wu, "Reweighted Price Relative Tracking System for
//! Automatic Portfolio Optimization", IEEE Trans. Systems, Man, and Cybernetics: Systems 50(11),
//! 2020 (online 2018), Algorithm 1. RPRT smooths the price relatives by a reweighted tracking
//! filter `φ` and moves the portfolio along `φ`, scaled per asset by the moving-average
//! prediction `x̂` (OLMAR's, over the last `w` prices `p`). After day `t ≥ 1` with relative
//! `x_t`:
//!
//! ```text
//! x̂       = mean(p_{max(0,t−w+1)}, …, p_t) / p_t
//! γ       = θ x_t / (θ x_t + φ)                        (element-wise)
//! φ       ← γ + (1 − γ) ⊙ φ / x_t
//! λ       = max(0, (ε − b_t·φ) / ‖φ − φ̄ 1‖²)           (λ = 0 if the norm is 0)
//! b_{t+1} = Π_Δ(clip(b_t + λ diag(x̂)(φ − φ̄ 1), ±10¹⁰))
//! ```
//!
//! `b` is the strategy's own previous target. First days, as in universal-portfolios 0.4.17
//! (`algos/rprt.py`, benches/compare/OLPS.md §3): `b` is uniform on days 0 and 1, `φ` starts at
//! the relative of day 1 (so the day-1 step sets `φ = 1` and leaves `b` uniform), and the first
//! days average fewer prices. Defaults: `w = 5`, `ε = 50`, `θ = 0.8`.

use super::{check_assets, check_day, check_out, project_to_simplex, OnlineStrategy, PriceWindow};
use crate::error::{Error, Result};
use serde::Serialize;

/// Bound applied to the moved portfolio before the projection (universal-portfolios' guard).
pub const RPRT_CLIP: f64 = 1e10;

/// The parameters of [`Rprt`] (recorded in a run's configuration).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct RprtParams {
    /// Moving-average window `w` (prices).
    pub window: usize,
    /// Reversion threshold `ε`.
    pub eps: f64,
    /// Mixing parameter `θ` of the tracking filter.
    pub theta: f64,
}

/// RPRT with window `w`, threshold `ε` and filter parameter `θ`; see the
/// [module documentation](self).
#[derive(Clone, Debug)]
pub struct Rprt {
    params: RprtParams,
    b: Vec<f64>,
    seen: usize,
    prices: PriceWindow,
    phi: Vec<f64>,
    x_pred: Vec<f64>,
    next: Vec<f64>,
}

impl Default for Rprt {
    /// universal-portfolios' defaults: `w = 5`, `ε = 50`, `θ = 0.8`.
    fn default() -> Rprt {
        Rprt::with(RprtParams {
            window: 5,
            eps: 50.0,
            theta: 0.8,
        })
    }
}

impl Rprt {
    /// RPRT with `window` ≥ 2, `eps` finite and > 0 and `theta` finite and > 0.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] (`window`, `eps` or `theta`) outside those ranges.
    pub fn new(window: usize, eps: f64, theta: f64) -> Result<Rprt> {
        if window < 2 {
            return Err(Error::param("window", window, "the window must be ≥ 2"));
        }
        if !(eps.is_finite() && eps > 0.0) {
            return Err(Error::param(
                "eps",
                eps,
                "the reversion threshold ε must be finite and > 0",
            ));
        }
        if !(theta.is_finite() && theta > 0.0) {
            return Err(Error::param(
                "theta",
                theta,
                "the filter parameter θ must be finite and > 0",
            ));
        }
        Ok(Rprt::with(RprtParams { window, eps, theta }))
    }

    fn with(params: RprtParams) -> Rprt {
        Rprt {
            params,
            b: Vec::new(),
            seen: 0,
            prices: PriceWindow::default(),
            phi: Vec::new(),
            x_pred: Vec::new(),
            next: Vec::new(),
        }
    }

    /// The parameters.
    pub fn params(&self) -> RprtParams {
        self.params
    }
}

impl OnlineStrategy for Rprt {
    fn name(&self) -> String {
        let p = &self.params;
        format!("RPRT (w = {}, ε = {}, θ = {})", p.window, p.eps, p.theta)
    }

    fn reset(&mut self, assets: usize) -> Result<()> {
        check_assets(assets)?;
        self.b = crate::simplex::uniform(assets);
        self.seen = 0;
        self.prices = PriceWindow::new(assets, self.params.window);
        self.phi = vec![1.0; assets];
        self.x_pred = vec![0.0; assets];
        self.next = vec![0.0; assets];
        Ok(())
    }

    fn weights(&mut self, out: &mut [f64]) -> Result<()> {
        check_out(out, self.b.len())?;
        out.copy_from_slice(&self.b);
        Ok(())
    }

    fn observe(&mut self, y: &[f64]) -> Result<()> {
        check_day(y, self.b.len(), self.seen)?;
        self.prices.push(y);
        let t = self.seen;
        self.seen += 1;
        if t == 0 {
            return Ok(());
        }
        if t == 1 {
            self.phi.copy_from_slice(y);
        }
        let k = self.prices.days();
        for (i, x) in self.x_pred.iter_mut().enumerate() {
            let s: f64 = (0..k).map(|j| self.prices.get(j, i)).sum();
            *x = s / k as f64 / self.prices.price()[i];
        }
        let theta = self.params.theta;
        for (phi, &x) in self.phi.iter_mut().zip(y) {
            let gamma = theta * x / (theta * x + *phi);
            *phi = gamma + (1.0 - gamma) * (*phi / x);
        }
        let m = y.len() as f64;
        let mean = self.phi.iter().sum::<f64>() / m;
        let norm2: f64 = self.phi.iter().map(|v| (v - mean) * (v - mean)).sum();
        let lambda = if norm2 == 0.0 {
            0.0
        } else {
            let bphi: f64 = self.b.iter().zip(&self.phi).map(|(b, p)| b * p).sum();
            ((self.params.eps - bphi) / norm2).max(0.0)
        };
        for (i, n) in self.next.iter_mut().enumerate() {
            let v = if lambda != 0.0 {
                self.b[i] + lambda * self.x_pred[i] * (self.phi[i] - mean)
            } else {
                self.b[i]
            };
            *n = v.clamp(-RPRT_CLIP, RPRT_CLIP);
        }
        project_to_simplex(&self.next, &mut self.b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_checked() {
        assert!(Rprt::new(1, 50.0, 0.8).is_err());
        assert!(Rprt::new(5, 0.0, 0.8).is_err());
        assert!(Rprt::new(5, 50.0, f64::NAN).is_err());
        assert_eq!(
            Rprt::default().params(),
            Rprt::new(5, 50.0, 0.8).unwrap().params()
        );
    }

    #[test]
    fn first_days_by_hand() {
        // Day 1 sets φ = 1 (b stays uniform). Day 2 with x = (2, 1): γ = (1.6/2.6, 0.8/1.8),
        // φ = γ + (1 − γ) ⊙ (1/2, 1) = (1 − 0.5/2.6, 1); λ > 0 and the step favours asset 0.
        let mut s = Rprt::default();
        s.reset(2).unwrap();
        let mut b = [0.0; 2];
        s.observe(&[1.0, 1.0]).unwrap();
        s.observe(&[1.5, 1.0]).unwrap();
        s.weights(&mut b).unwrap();
        assert!((b[0] - 0.5).abs() < 1e-15 && (b[1] - 0.5).abs() < 1e-15);
        assert!(s.phi.iter().all(|&p| (p - 1.0).abs() < 1e-15));
        s.observe(&[2.0, 1.0]).unwrap();
        assert!((s.phi[0] - (1.0 - 0.5 / 2.6)).abs() < 1e-15 && s.phi[1] == 1.0);
        s.weights(&mut b).unwrap();
        // φ − φ̄ = (−d, d) with d > 0: the step buys asset 1, whose φ is higher.
        assert_eq!(b, [0.0, 1.0]);
    }
}
