//! PAMR: Passive-Aggressive Mean Reversion (Li, Zhao, Hoi & Gopalkrishnan 2012).
//!
//! B. Li, P. Zhao, S. C. H. Hoi and V. Gopalkrishnan, "PAMR: Passive aggressive mean reversion
//! strategy for portfolio selection", Machine Learning 87(2), 221–258, 2012 (Algorithm 1 and
//! Propositions 1–3). After day `n` with relative `y_n` (mean `ȳ = (1/m) Σ_i y_{n,i}`), PAMR
//! suffers the ε-insensitive loss of a portfolio that did well and moves away from it:
//!
//! ```text
//! ℓ       = max(0, b_n·y_n − ε)
//! τ       = ℓ / ‖y_n − ȳ 1‖²                        PAMR   (variant 0)
//! τ       = min(C, ℓ / ‖y_n − ȳ 1‖²)                PAMR-1 (variant 1)
//! τ       = ℓ / (‖y_n − ȳ 1‖² + 1/(2C))             PAMR-2 (variant 2)
//! τ       = min(τ, 10⁵)                             (numerical guard, as in universal-portfolios)
//! b_{n+1} = Π_Δ(b_n − τ (y_n − ȳ 1))                 (Euclidean projection)
//! ```
//!
//! with `b_0` uniform. When `‖y_n − ȳ 1‖ = 0` (variants 0 and 1) the step direction is zero and
//! `b_{n+1} = b_n`. The paper's defaults: `ε = 0.5`, `C = 500`.

use super::{check_assets, check_day, check_out, project_to_simplex, OnlineStrategy};
use crate::error::{Error, Result};

/// Upper bound on the step size `τ` (universal-portfolios' guard against huge steps).
pub const PAMR_MAX_STEP: f64 = 1e5;

/// PAMR with sensitivity `ε`, variant 0, 1 or 2 and aggressiveness `C`; see the
/// [module documentation](self) for the update.
///
/// The state `b_n` is advanced by each observed day.
#[derive(Clone, Debug)]
pub struct Pamr {
    eps: f64,
    variant: u8,
    c: f64,
    b: Vec<f64>,
    seen: usize,
    next: Vec<f64>,
}

impl Pamr {
    /// PAMR with `eps` (finite, ≥ 0), `variant` ∈ {0, 1, 2} and `c` = C (finite, > 0; used by
    /// variants 1 and 2 only).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] (`eps`, `variant` or `C`) outside those ranges.
    pub fn new(eps: f64, variant: u8, c: f64) -> Result<Pamr> {
        if !(eps.is_finite() && eps >= 0.0) {
            return Err(Error::param(
                "eps",
                eps,
                "the sensitivity ε must be finite and ≥ 0",
            ));
        }
        if variant > 2 {
            return Err(Error::param("variant", variant, "PAMR variants are 0, 1 and 2"));
        }
        if !(c.is_finite() && c > 0.0) {
            return Err(Error::param(
                "C",
                c,
                "the aggressiveness C must be finite and > 0",
            ));
        }
        Ok(Pamr {
            eps,
            variant,
            c,
            b: Vec::new(),
            seen: 0,
            next: Vec::new(),
        })
    }

    /// Advances `b` with the relative `y` of the last revealed day.
    fn step(&mut self, y: &[f64]) -> Result<()> {
        let m = y.len() as f64;
        let mean = y.iter().sum::<f64>() / m;
        let norm2: f64 = y.iter().map(|v| (v - mean) * (v - mean)).sum();
        let by: f64 = self.b.iter().zip(y).map(|(b, y)| b * y).sum();
        let loss = (by - self.eps).max(0.0);
        let tau = match self.variant {
            0 | 1 if norm2 == 0.0 => 0.0,
            0 => loss / norm2,
            1 => (loss / norm2).min(self.c),
            _ => loss / (norm2 + 0.5 / self.c),
        }
        .min(PAMR_MAX_STEP);
        for ((n, b), v) in self.next.iter_mut().zip(&self.b).zip(y) {
            *n = b - tau * (v - mean);
        }
        project_to_simplex(&self.next, &mut self.b)
    }
}

impl OnlineStrategy for Pamr {
    fn name(&self) -> String {
        match self.variant {
            0 => format!("PAMR (ε = {})", self.eps),
            v => format!("PAMR-{v} (ε = {}, C = {})", self.eps, self.c),
        }
    }

    fn reset(&mut self, assets: usize) -> Result<()> {
        check_assets(assets)?;
        self.b = crate::simplex::uniform(assets);
        self.next = vec![0.0; assets];
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
        self.step(y)?;
        self.seen += 1;
        Ok(())
    }
}
