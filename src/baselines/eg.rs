//! EG: the exponentiated-gradient portfolio (Helmbold, Schapire, Singer & Warmuth 1998).
//!
//! D. P. Helmbold, R. E. Schapire, Y. Singer and M. K. Warmuth, "On-line portfolio selection
//! using multiplicative updates", Mathematical Finance 8(4), 325–347, 1998 (the EG(η) update,
//! eq. 3). After day `n` with relative `y_n`, every weight is multiplied by the exponential of
//! its share of the day's gradient of `ln(b·y)`:
//!
//! ```text
//! b_{n+1,i} = b_{n,i} exp(η y_{n,i} / (b_n·y_n)) / Z,    Z = Σ_j b_{n,j} exp(η y_{n,j} / (b_n·y_n))
//! ```
//!
//! with `b_0` uniform. A day with equal relatives (e.g. universal-portfolios' first day of ones)
//! leaves `b` unchanged. universal-portfolios' default is `η = 0.05`.

use super::{check_assets, check_day, check_out, OnlineStrategy};
use crate::error::{Error, Result};
use serde::Serialize;

/// universal-portfolios' default learning rate of EG.
pub const EG_DEFAULT_ETA: f64 = 0.05;

/// The parameters of [`Eg`] (recorded in a run's configuration).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct EgParams {
    /// Learning rate `η > 0`.
    pub eta: f64,
}

/// Exponentiated gradient EG(η); see the [module documentation](self). O(m) per day.
#[derive(Clone, Debug)]
pub struct Eg {
    eta: f64,
    b: Vec<f64>,
    seen: usize,
}

impl Eg {
    /// EG with learning rate `eta` (finite, > 0).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] (`eta`) outside that range.
    pub fn new(eta: f64) -> Result<Eg> {
        if !(eta.is_finite() && eta > 0.0) {
            return Err(Error::param(
                "eta",
                eta,
                "the learning rate η must be finite and > 0",
            ));
        }
        Ok(Eg {
            eta,
            b: Vec::new(),
            seen: 0,
        })
    }

    /// The parameters.
    pub fn params(&self) -> EgParams {
        EgParams { eta: self.eta }
    }
}

impl Default for Eg {
    /// `η = 0.05` (universal-portfolios 0.4.17).
    fn default() -> Eg {
        Eg {
            eta: EG_DEFAULT_ETA,
            b: Vec::new(),
            seen: 0,
        }
    }
}

impl OnlineStrategy for Eg {
    fn name(&self) -> String {
        format!("EG (η = {})", self.eta)
    }

    fn reset(&mut self, assets: usize) -> Result<()> {
        check_assets(assets)?;
        self.b = crate::simplex::uniform(assets);
        self.seen = 0;
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
        let by: f64 = self.b.iter().zip(y).map(|(b, y)| b * y).sum();
        for (b, yi) in self.b.iter_mut().zip(y) {
            *b *= (self.eta * yi / by).exp();
        }
        let z: f64 = self.b.iter().sum();
        self.b.iter_mut().for_each(|b| *b /= z);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_step_closed_form() {
        // b = (1/2, 1/2), y = (2, 1): b·y = 1.5, b' ∝ (exp(η·2/1.5), exp(η/1.5)).
        let mut eg = Eg::new(0.3).unwrap();
        eg.reset(2).unwrap();
        eg.observe(&[2.0, 1.0]).unwrap();
        let mut out = [0.0; 2];
        eg.weights(&mut out).unwrap();
        let (a, b) = ((0.3_f64 * 2.0 / 1.5).exp(), (0.3_f64 / 1.5).exp());
        assert!((out[0] - a / (a + b)).abs() < 1e-15);
        assert!((out[1] - b / (a + b)).abs() < 1e-15);
    }

    #[test]
    fn equal_relatives_keep_weights() {
        let mut eg = Eg::default();
        eg.reset(3).unwrap();
        eg.observe(&[1.0; 3]).unwrap();
        let mut out = [0.0; 3];
        eg.weights(&mut out).unwrap();
        assert!(out.iter().all(|&w| (w - 1.0 / 3.0).abs() < 1e-16));
    }

    #[test]
    fn rejects_bad_parameters() {
        for eta in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(Eg::new(eta).is_err());
        }
        assert_eq!(Eg::default().params().eta, 0.05);
        let mut eg = Eg::default();
        assert!(eg.reset(0).is_err());
        eg.reset(2).unwrap();
        assert!(eg.observe(&[1.0]).is_err());
        assert!(eg.weights(&mut [0.0; 3]).is_err());
    }
}
