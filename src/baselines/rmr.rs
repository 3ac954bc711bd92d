//! RMR: Robust Median Reversion (Huang, Zhou, Li, Hoi & Zhou 2013).
//!
//! D. Huang, J. Zhou, B. Li, S. C. H. Hoi and S. Zhou, "Robust Median Reversion Strategy for
//! On-Line Portfolio Selection", IJCAI 2013 (Algorithms 1–2). RMR is OLMAR with the moving average
//! of the last `w` prices replaced by their L1 median, a robust estimate of the next price. With
//! the prices `p_t` (the cumulative product of the observed relatives) and the previous
//! allocation `b_t` (the strategy's own target, not the drifted weights):
//!
//! ```text
//! μ       = L1-median(p_{t−w+1}, …, p_t)   (Weiszfeld: start at the mean, then repeat
//!           d_k = ‖p_k − μ‖₂,  μ ← Σ_k p_k / d_k  /  Σ_k 1 / d_k
//!           while ‖μ − μ_prev‖₂ / ‖μ_prev‖₂ > τ; at least one iteration)
//! x̂_{t+1} = μ / p_t
//! λ       = max(0, (ε − b_t·x̂) / ‖x̂ − x̄ 1‖²)        (λ = 0 if the norm is 0)
//! b_{t+1} = Π_Δ(b_t + λ (x̂ − x̄ 1))                   (Euclidean projection)
//! ```
//!
//! First days, as in universal-portfolios 0.4.17 (`algos/rmr.py`, benches/compare/OLPS.md §3):
//! `b` is uniform on days 0 and 1 (no step after day 0), and while fewer than `w` days follow day
//! 0 (`t < w`) the prediction is the cumulative price `p_t` itself. Defaults: `w = 5`, `ε = 10`,
//! `τ = 0.001`.
//!
//! The package does not guard `d_k = 0` (the estimate lands on a price, which makes it NaN); here
//! the Weiszfeld iteration stops at that price, which is then the median. The iteration is also
//! capped at [`RMR_MAX_ITERATIONS`]. Neither case happens on the six reference sets.

use super::{check_assets, check_day, check_out, project_to_simplex, OnlineStrategy, PriceWindow};
use crate::error::{Error, Result};
use serde::Serialize;

/// Upper bound on the number of Weiszfeld iterations per day.
pub const RMR_MAX_ITERATIONS: usize = 10_000;

/// The parameters of [`Rmr`] (recorded in a run's configuration).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct RmrParams {
    /// Look-back window `w` (prices).
    pub window: usize,
    /// Reversion threshold `ε`.
    pub eps: f64,
    /// Relative tolerance `τ` of the Weiszfeld iterations.
    pub tau: f64,
}

/// RMR with window `w`, threshold `ε` and median tolerance `τ`; see the
/// [module documentation](self).
#[derive(Clone, Debug)]
pub struct Rmr {
    params: RmrParams,
    b: Vec<f64>,
    seen: usize,
    prices: PriceWindow,
    median: Vec<f64>,
    median_prev: Vec<f64>,
    dist: Vec<f64>,
    x_pred: Vec<f64>,
    next: Vec<f64>,
}

impl Default for Rmr {
    /// universal-portfolios' defaults: `w = 5`, `ε = 10`, `τ = 0.001`.
    fn default() -> Rmr {
        Rmr::with(RmrParams {
            window: 5,
            eps: 10.0,
            tau: 0.001,
        })
    }
}

impl Rmr {
    /// RMR with `window` ≥ 2, `eps` finite and > 0, `tau` finite and > 0.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] (`window`, `eps` or `tau`) outside those ranges.
    pub fn new(window: usize, eps: f64, tau: f64) -> Result<Rmr> {
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
        if !(tau.is_finite() && tau > 0.0) {
            return Err(Error::param(
                "tau",
                tau,
                "the median tolerance τ must be finite and > 0",
            ));
        }
        Ok(Rmr::with(RmrParams { window, eps, tau }))
    }

    fn with(params: RmrParams) -> Rmr {
        Rmr {
            params,
            b: Vec::new(),
            seen: 0,
            prices: PriceWindow::default(),
            median: Vec::new(),
            median_prev: Vec::new(),
            dist: Vec::new(),
            x_pred: Vec::new(),
            next: Vec::new(),
        }
    }

    /// The parameters.
    pub fn params(&self) -> RmrParams {
        self.params
    }

    /// Writes the L1 median of the held prices into `self.median` (Weiszfeld iterations).
    fn l1_median(&mut self) {
        let (m, n) = (self.prices.assets(), self.prices.days());
        for i in 0..m {
            let s: f64 = (0..n).map(|k| self.prices.get(k, i)).sum();
            self.median[i] = s / n as f64;
        }
        for _ in 0..RMR_MAX_ITERATIONS {
            self.median_prev.copy_from_slice(&self.median);
            for k in 0..n {
                let d2: f64 = (0..m)
                    .map(|i| {
                        let e = self.prices.get(k, i) - self.median_prev[i];
                        e * e
                    })
                    .sum();
                self.dist[k] = d2.sqrt();
            }
            if let Some(k) = self.dist[..n].iter().position(|&d| d == 0.0) {
                for i in 0..m {
                    self.median[i] = self.prices.get(k, i);
                }
                return;
            }
            let inv_sum: f64 = self.dist[..n].iter().map(|d| 1.0 / d).sum();
            for i in 0..m {
                let s: f64 = (0..n).map(|k| self.prices.get(k, i) / self.dist[k]).sum();
                self.median[i] = s / inv_sum;
            }
            let change: f64 = self
                .median
                .iter()
                .zip(&self.median_prev)
                .map(|(a, b)| (a - b) * (a - b))
                .sum();
            let size: f64 = self.median_prev.iter().map(|a| a * a).sum();
            if change.sqrt() / size.sqrt() <= self.params.tau {
                return;
            }
        }
    }
}

/// OLMAR's step `b ← Π_Δ(b + λ (x̂ − x̄ 1))`, `λ = max(0, (ε − b·x̂) / ‖x̂ − x̄ 1‖²)` (0 for a zero
/// norm), shared by RMR.
pub(crate) fn olmar_update(b: &mut [f64], x_pred: &[f64], eps: f64, next: &mut [f64]) -> Result<()> {
    let mean = x_pred.iter().sum::<f64>() / x_pred.len() as f64;
    let denom: f64 = x_pred.iter().map(|x| (x - mean) * (x - mean)).sum();
    let lambda = if denom != 0.0 {
        let bx: f64 = b.iter().zip(x_pred).map(|(b, x)| b * x).sum();
        ((eps - bx) / denom).max(0.0)
    } else {
        0.0
    };
    for ((n, b), x) in next.iter_mut().zip(b.iter()).zip(x_pred) {
        *n = b + lambda * (x - mean);
    }
    project_to_simplex(next, b)
}

impl OnlineStrategy for Rmr {
    fn name(&self) -> String {
        let p = &self.params;
        format!("RMR (w = {}, ε = {}, τ = {})", p.window, p.eps, p.tau)
    }

    fn reset(&mut self, assets: usize) -> Result<()> {
        check_assets(assets)?;
        let w = self.params.window;
        self.b = crate::simplex::uniform(assets);
        self.seen = 0;
        self.prices = PriceWindow::new(assets, w);
        self.median = vec![0.0; assets];
        self.median_prev = vec![0.0; assets];
        self.dist = vec![0.0; w];
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
        if t < self.params.window {
            self.x_pred.copy_from_slice(self.prices.price());
        } else {
            self.l1_median();
            for ((x, mu), p) in self.x_pred.iter_mut().zip(&self.median).zip(self.prices.price()) {
                *x = mu / p;
            }
        }
        olmar_update(&mut self.b, &self.x_pred, self.params.eps, &mut self.next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_checked() {
        assert!(Rmr::new(1, 10.0, 0.001).is_err());
        assert!(Rmr::new(5, f64::NAN, 0.001).is_err());
        assert!(Rmr::new(5, 10.0, 0.0).is_err());
        assert_eq!(
            Rmr::default().params(),
            Rmr::new(5, 10.0, 0.001).unwrap().params()
        );
    }

    #[test]
    fn median_of_collinear_points_is_the_middle_one() {
        // Three prices on a line, (1,1), (2,2), (10,10): the L1 median is the middle point.
        let mut r = Rmr::new(3, 10.0, 1e-12).unwrap();
        r.reset(2).unwrap();
        for p in [[1.0, 1.0], [2.0, 2.0], [10.0, 10.0]] {
            r.prices.push(&p);
        }
        r.l1_median();
        assert!((r.median[0] - 2.0).abs() < 1e-6 && (r.median[1] - 2.0).abs() < 1e-6);
    }

    #[test]
    fn first_days_by_hand() {
        // Day 0 (ones): no step. Day 1: x̂ = p_1 = (2, 1), x̄ = 1.5, ‖x̂ − x̄‖² = 0.5,
        // λ = (10 − 1.5) / 0.5 = 17, b = Π(0.5 + 17·(0.5, −0.5)) = (1, 0).
        let mut r = Rmr::default();
        r.reset(2).unwrap();
        let mut b = [0.0; 2];
        r.observe(&[1.0, 1.0]).unwrap();
        r.weights(&mut b).unwrap();
        assert_eq!(b, [0.5, 0.5]);
        r.observe(&[2.0, 1.0]).unwrap();
        r.weights(&mut b).unwrap();
        assert_eq!(b, [1.0, 0.0]);
        r.weights(&mut b).unwrap();
        assert_eq!(b, [1.0, 0.0]);
    }
}
