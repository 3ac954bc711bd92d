//! TCO1: Transaction Cost Optimization with a reversal prediction (Li, Wang, Huang & Hoi 2018).
//!
//! B. Li, J. Wang, D. Huang and S. C. H. Hoi, "Transaction cost optimization for online portfolio
//! selection", Quantitative Finance 18(8), 1411–1424, 2018 (Algorithm 1). TCO takes a step
//! towards the portfolio of the best predicted growth, starting from the *drifted* weights of the
//! previous allocation, and soft-thresholds the step so that trades smaller than the cost they
//! would incur are skipped. With the previous allocation `b_t`, the relative `x_t` of day `t`
//! and a prediction `x̂` of the next relative:
//!
//! ```text
//! b̃_t     = b_t ⊙ x_t / (b_t·x_t)                       (drifted weights)
//! v       = x̂ / (b̃_t·x̂)
//! d       = η (v − v̄ 1)
//! b_{t+1} = Π_Δ(b̃_t + sign(d) ⊙ max(0, |d| − λ)),        λ = 10 γ
//! ```
//!
//! where `γ` is the proportional transaction-cost rate the strategy plans for (a fraction:
//! universal-portfolios' `trx_fee_pct`, despite its name) and `η` the step size. TCO only trades
//! less for a larger `γ`; the cost itself is charged by the back-test ([`super::Fee::Additive`]
//! is universal-portfolios' convention). TCO1 predicts the reversal `x̂ = 1 / x_t` and steps from
//! day 1 on (`b` uniform on days 0 and 1, as in universal-portfolios 0.4.17, `algos/tco.py`).
//! Defaults: `η = 10`, `γ = 0`.

use super::{check_assets, check_day, check_out, project_to_simplex, OnlineStrategy};
use crate::error::{Error, Result};
use serde::Serialize;

/// The parameters of [`Tco1`] (recorded in a run's configuration).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Tco1Params {
    /// Step size `η`.
    pub eta: f64,
    /// Transaction-cost rate `γ` the strategy plans for (fraction, e.g. 0.001 for 0.1 %).
    pub fee: f64,
}

/// Checks TCO's parameters `η` (finite, > 0) and `γ` (finite, in `[0, 1)`).
pub(crate) fn check_tco_params(eta: f64, fee: f64) -> Result<()> {
    if !(eta.is_finite() && eta > 0.0) {
        return Err(Error::param("eta", eta, "the step size η must be finite and > 0"));
    }
    if !(fee.is_finite() && (0.0..1.0).contains(&fee)) {
        return Err(Error::param(
            "fee",
            fee,
            "the planned transaction-cost rate must lie in [0, 1)",
        ));
    }
    Ok(())
}

/// TCO's update (see the [module documentation](self)): `b` (the previous allocation) becomes
/// `b_{t+1}`, given the day's relative `x`, the prediction `x_pred` and scratch `next`.
pub(crate) fn tco_update(
    b: &mut [f64],
    x: &[f64],
    x_pred: &[f64],
    eta: f64,
    fee: f64,
    next: &mut [f64],
) -> Result<()> {
    let threshold = 10.0 * fee;
    let bx: f64 = b.iter().zip(x).map(|(b, x)| b * x).sum();
    for ((n, b), x) in next.iter_mut().zip(b.iter()).zip(x) {
        *n = b * x / bx;
    }
    let bx_pred: f64 = next.iter().zip(x_pred).map(|(b, x)| b * x).sum();
    let v_mean = x_pred.iter().map(|x| x / bx_pred).sum::<f64>() / x.len() as f64;
    for (n, xp) in next.iter_mut().zip(x_pred) {
        let d = eta * (xp / bx_pred - v_mean);
        *n += d.signum() * (d.abs() - threshold).max(0.0);
    }
    project_to_simplex(next, b)
}

/// TCO1 with step size `η` and planned cost rate `γ`; see the [module documentation](self).
#[derive(Clone, Debug)]
pub struct Tco1 {
    params: Tco1Params,
    b: Vec<f64>,
    seen: usize,
    x_pred: Vec<f64>,
    next: Vec<f64>,
}

impl Default for Tco1 {
    /// universal-portfolios' defaults: `η = 10`, `γ = 0`.
    fn default() -> Tco1 {
        Tco1::with(Tco1Params { eta: 10.0, fee: 0.0 })
    }
}

impl Tco1 {
    /// TCO1 with `eta` = η (finite, > 0) and `fee` = γ (finite, in `[0, 1)`).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] (`eta` or `fee`) outside those ranges.
    pub fn new(eta: f64, fee: f64) -> Result<Tco1> {
        check_tco_params(eta, fee)?;
        Ok(Tco1::with(Tco1Params { eta, fee }))
    }

    fn with(params: Tco1Params) -> Tco1 {
        Tco1 {
            params,
            b: Vec::new(),
            seen: 0,
            x_pred: Vec::new(),
            next: Vec::new(),
        }
    }

    /// The parameters.
    pub fn params(&self) -> Tco1Params {
        self.params
    }
}

impl OnlineStrategy for Tco1 {
    fn name(&self) -> String {
        format!("TCO1 (η = {}, γ = {})", self.params.eta, self.params.fee)
    }

    fn reset(&mut self, assets: usize) -> Result<()> {
        check_assets(assets)?;
        self.b = crate::simplex::uniform(assets);
        self.seen = 0;
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
        let t = self.seen;
        self.seen += 1;
        if t == 0 {
            return Ok(());
        }
        for (p, x) in self.x_pred.iter_mut().zip(y) {
            *p = 1.0 / x;
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
        assert!(Tco1::new(0.0, 0.0).is_err());
        assert!(Tco1::new(10.0, -0.1).is_err());
        assert!(Tco1::new(10.0, f64::NAN).is_err());
        assert_eq!(Tco1::default().params(), Tco1::new(10.0, 0.0).unwrap().params());
    }

    #[test]
    fn step_by_hand() {
        // b = (½, ½), x = (2, 1): b̃ = (2/3, 1/3), x̂ = (½, 1), b̃·x̂ = 2/3, v = (¾, 3/2),
        // v̄ = 9/8, d = 10·(−3/8, 3/8) = (−3.75, 3.75). With γ = 0: Π(2/3 − 3.75, 1/3 + 3.75)
        // = (0, 1). With γ = 0.37 (threshold 3.7): Π(2/3 − 0.05, 1/3 + 0.05) = (0.6167, 0.3833).
        for (fee, want) in [(0.0, [0.0, 1.0]), (0.37, [2.0 / 3.0 - 0.05, 1.0 / 3.0 + 0.05])] {
            let mut s = Tco1::new(10.0, fee).unwrap();
            s.reset(2).unwrap();
            s.observe(&[1.0, 1.0]).unwrap();
            s.observe(&[2.0, 1.0]).unwrap();
            let mut b = [0.0; 2];
            s.weights(&mut b).unwrap();
            assert!((b[0] - want[0]).abs() < 1e-12 && (b[1] - want[1]).abs() < 1e-12);
        }
    }
}
