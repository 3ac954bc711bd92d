//! TCO2: Transaction Cost Optimization with a moving-average prediction (Li, Wang, Huang & Hoi
//! 2018).
//!
//! The update is TCO1's (see [`super::tco1`]): from the drifted weights `b̃_t`,
//! `b_{t+1} = Π_Δ(b̃_t + sign(d) ⊙ max(0, |d| − 10 γ))`, `d = η (v − v̄ 1)`,
//! `v = x̂ / (b̃_t·x̂)`, with OLMAR's moving-average prediction over the last `w` prices `p`:
//!
//! ```text
//! x̂ = (1/w) Σ_{k=t−w+1}^{t} p_k / p_t
//! ```
//!
//! As in universal-portfolios 0.4.17 (`algos/tco.py`, benches/compare/OLPS.md §3), `b` stays
//! uniform until day `w` (the first step is after day `t = w`, so `b_0 … b_w` are uniform).
//! Defaults: `w = 5`, `η = 10`, `γ = 0`.

use super::tco1::{check_tco_params, tco_update};
use super::{check_assets, check_day, check_out, OnlineStrategy, PriceWindow};
use crate::error::{Error, Result};
use serde::Serialize;

/// The parameters of [`Tco2`] (recorded in a run's configuration).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Tco2Params {
    /// Moving-average window `w` (prices).
    pub window: usize,
    /// Step size `η`.
    pub eta: f64,
    /// Transaction-cost rate `γ` the strategy plans for (fraction, e.g. 0.001 for 0.1 %).
    pub fee: f64,
}

/// TCO2 with window `w`, step size `η` and planned cost rate `γ`; see the
/// [module documentation](self).
#[derive(Clone, Debug)]
pub struct Tco2 {
    params: Tco2Params,
    b: Vec<f64>,
    seen: usize,
    prices: PriceWindow,
    x_pred: Vec<f64>,
    next: Vec<f64>,
}

impl Default for Tco2 {
    /// universal-portfolios' defaults: `w = 5`, `η = 10`, `γ = 0`.
    fn default() -> Tco2 {
        Tco2::with(Tco2Params {
            window: 5,
            eta: 10.0,
            fee: 0.0,
        })
    }
}

impl Tco2 {
    /// TCO2 with `window` ≥ 2, `eta` = η (finite, > 0) and `fee` = γ (finite, in `[0, 1)`).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] (`window`, `eta` or `fee`) outside those ranges.
    pub fn new(window: usize, eta: f64, fee: f64) -> Result<Tco2> {
        if window < 2 {
            return Err(Error::param("window", window, "the window must be ≥ 2"));
        }
        check_tco_params(eta, fee)?;
        Ok(Tco2::with(Tco2Params { window, eta, fee }))
    }

    fn with(params: Tco2Params) -> Tco2 {
        Tco2 {
            params,
            b: Vec::new(),
            seen: 0,
            prices: PriceWindow::default(),
            x_pred: Vec::new(),
            next: Vec::new(),
        }
    }

    /// The parameters.
    pub fn params(&self) -> Tco2Params {
        self.params
    }
}

impl OnlineStrategy for Tco2 {
    fn name(&self) -> String {
        let p = &self.params;
        format!("TCO2 (w = {}, η = {}, γ = {})", p.window, p.eta, p.fee)
    }

    fn reset(&mut self, assets: usize) -> Result<()> {
        check_assets(assets)?;
        self.b = crate::simplex::uniform(assets);
        self.seen = 0;
        self.prices = PriceWindow::new(assets, self.params.window);
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
        if t < self.params.window {
            return Ok(());
        }
        let k = self.prices.days();
        for (i, x) in self.x_pred.iter_mut().enumerate() {
            let s: f64 = (0..k)
                .map(|j| self.prices.get(j, i) / self.prices.price()[i])
                .sum();
            *x = s / k as f64;
        }
        let p = self.params;
        tco_update(&mut self.b, y, &self.x_pred, p.eta, p.fee, &mut self.next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_checked() {
        assert!(Tco2::new(1, 10.0, 0.0).is_err());
        assert!(Tco2::new(5, f64::INFINITY, 0.0).is_err());
        assert!(Tco2::new(5, 10.0, 1.0).is_err());
        assert_eq!(
            Tco2::default().params(),
            Tco2::new(5, 10.0, 0.0).unwrap().params()
        );
    }

    #[test]
    fn waits_for_the_window_then_steps() {
        // w = 2: uniform after days 0 and 1; after day 2 (x = (2, 1), prices (2, 1) then (4, 1)):
        // x̂ = ((2 + 4)/2/4, 1) = (¾, 1), b̃ = (2/3, 1/3), b̃·x̂ = 5/6, v = (0.9, 1.2),
        // d = 10·(−0.15, 0.15): Π(2/3 − 1.5, 1/3 + 1.5) = (0, 1).
        let mut s = Tco2::new(2, 10.0, 0.0).unwrap();
        s.reset(2).unwrap();
        let mut b = [0.0; 2];
        for y in [[1.0, 1.0], [2.0, 1.0]] {
            s.observe(&y).unwrap();
            s.weights(&mut b).unwrap();
            assert_eq!(b, [0.5, 0.5]);
        }
        s.observe(&[2.0, 1.0]).unwrap();
        s.weights(&mut b).unwrap();
        assert!((b[0]).abs() < 1e-12 && (b[1] - 1.0).abs() < 1e-12);
    }
}
