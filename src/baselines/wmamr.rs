//! WMAMR: Weighted Moving Average Mean Reversion (Gao & Zhang 2013).
//!
//! L. Gao and W. Zhang, "Weighted Moving Average Passive Aggressive Algorithm for Online
//! Portfolio Selection", IHMSC 2013. WMAMR is PAMR with the last relative replaced by the
//! average of the last `w` relatives (equal weights, as in universal-portfolios 0.4.17,
//! `algos/wmamr.py`). After day `t`, with `x̂ = (1/k) Σ_{j=t−k+1}^{t} y_j`, `k = min(w, t + 1)`
//! (the current day counts; the first days average fewer rows):
//!
//! ```text
//! ℓ       = max(0, b_t·x̂ − ε)
//! τ       = min(ℓ / ‖x̂ − x̄ 1‖², 10⁵)        (PAMR variant 0 with universal-portfolios' guard)
//! b_{t+1} = Π_Δ(b_t − τ (x̂ − x̄ 1))
//! ```
//!
//! with `b_0` uniform and `b_{t+1} = b_t` when `‖x̂ − x̄ 1‖ = 0`. Defaults: `w = 5`, `ε = 0.5`.

use super::pamr::PAMR_MAX_STEP;
use super::{check_assets, check_day, check_out, project_to_simplex, OnlineStrategy, Window};
use crate::error::{Error, Result};
use serde::Serialize;

/// The parameters of [`Wmamr`] (recorded in a run's configuration).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct WmamrParams {
    /// Moving-average window `w` (relatives).
    pub window: usize,
    /// Sensitivity `ε`.
    pub eps: f64,
}

/// WMAMR with window `w` and sensitivity `ε`; see the [module documentation](self).
#[derive(Clone, Debug)]
pub struct Wmamr {
    params: WmamrParams,
    b: Vec<f64>,
    seen: usize,
    recent: Window,
    x_pred: Vec<f64>,
    next: Vec<f64>,
}

impl Default for Wmamr {
    /// universal-portfolios' defaults: `w = 5`, `ε = 0.5`.
    fn default() -> Wmamr {
        Wmamr::with(WmamrParams { window: 5, eps: 0.5 })
    }
}

impl Wmamr {
    /// WMAMR with `window` ≥ 2 and `eps` finite and ≥ 0.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] (`window` or `eps`) outside those ranges.
    pub fn new(window: usize, eps: f64) -> Result<Wmamr> {
        if window < 2 {
            return Err(Error::param("window", window, "the window must be ≥ 2"));
        }
        if !(eps.is_finite() && eps >= 0.0) {
            return Err(Error::param(
                "eps",
                eps,
                "the sensitivity ε must be finite and ≥ 0",
            ));
        }
        Ok(Wmamr::with(WmamrParams { window, eps }))
    }

    fn with(params: WmamrParams) -> Wmamr {
        Wmamr {
            params,
            b: Vec::new(),
            seen: 0,
            recent: Window::default(),
            x_pred: Vec::new(),
            next: Vec::new(),
        }
    }

    /// The parameters.
    pub fn params(&self) -> WmamrParams {
        self.params
    }
}

impl OnlineStrategy for Wmamr {
    fn name(&self) -> String {
        format!("WMAMR (w = {}, ε = {})", self.params.window, self.params.eps)
    }

    fn reset(&mut self, assets: usize) -> Result<()> {
        check_assets(assets)?;
        self.b = crate::simplex::uniform(assets);
        self.seen = 0;
        self.recent = Window::new(assets, self.params.window);
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
        self.seen += 1;
        self.recent.push(y);
        let k = self.recent.days();
        for (i, x) in self.x_pred.iter_mut().enumerate() {
            let s: f64 = (0..k).map(|j| self.recent.get(j, i)).sum();
            *x = s / k as f64;
        }
        let m = y.len() as f64;
        let mean = self.x_pred.iter().sum::<f64>() / m;
        let norm2: f64 = self.x_pred.iter().map(|v| (v - mean) * (v - mean)).sum();
        if norm2 == 0.0 {
            return Ok(());
        }
        let bx: f64 = self.b.iter().zip(&self.x_pred).map(|(b, x)| b * x).sum();
        let tau = ((bx - self.params.eps).max(0.0) / norm2).min(PAMR_MAX_STEP);
        for ((n, b), x) in self.next.iter_mut().zip(&self.b).zip(&self.x_pred) {
            *n = b - tau * (x - mean);
        }
        project_to_simplex(&self.next, &mut self.b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_checked() {
        assert!(Wmamr::new(1, 0.5).is_err());
        assert!(Wmamr::new(5, -1.0).is_err());
        assert!(Wmamr::new(5, f64::NAN).is_err());
        assert_eq!(Wmamr::default().params(), Wmamr::new(5, 0.5).unwrap().params());
    }

    #[test]
    fn first_days_by_hand() {
        // Day 0 (ones): zero direction, b stays uniform. Day 1: x̂ = mean((1,1),(3,1)) = (2, 1),
        // x̄ = 1.5, ‖x̂ − x̄‖² = 0.5, ℓ = 1.5 − 0.5 = 1, τ = 2, b = Π(0.5 − 2·(0.5, −0.5)) = (0, 1).
        let mut s = Wmamr::default();
        s.reset(2).unwrap();
        let mut b = [0.0; 2];
        s.observe(&[1.0, 1.0]).unwrap();
        s.weights(&mut b).unwrap();
        assert_eq!(b, [0.5, 0.5]);
        s.observe(&[3.0, 1.0]).unwrap();
        s.weights(&mut b).unwrap();
        assert_eq!(b, [0.0, 1.0]);
    }
}
