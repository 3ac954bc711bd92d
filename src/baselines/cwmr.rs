//! CWMR: Confidence-Weighted Mean Reversion (Li, Hoi, Zhao & Gopalkrishnan 2013), the variant of
//! universal-portfolios 0.4.17 (`algos/cwmr.py`, the "Stdev" update).
//!
//! B. Li, S. C. H. Hoi, P. Zhao and V. Gopalkrishnan, "Confidence Weighted Mean Reversion
//! Strategy for Online Portfolio Selection", ACM TKDD 7(1), 2013 (Algorithm 2). The portfolio is
//! a Gaussian `N(μ, Σ)`; after day `t` with relative `x`, CWMR moves it to the closest
//! distribution under which a mean-reverting portfolio (`b·x ≤ ε` in log terms) holds with
//! confidence `η` (`θ = Φ⁻¹(η)`). With `M = μ·x`, `V = xᵀΣx`, `x_u = Σ_i Σ_ii x_i / tr Σ`:
//!
//! ```text
//! f  = (V − x_u xᵀΣ1) / M² + V θ²/2
//! a  = f² − V²θ⁴/4,  b = 2 (ε − ln M) f,  c = (ε − ln M)² − V θ²
//! λ  = min(10⁷, max(0, r₊, r₋))          (roots of a λ² + b λ + c; a NaN root never wins)
//! U  = ½ (−λθV + √(λ²θ²V² + 4V))
//! μ  ← Π_Δ(μ − λ Σ (x − x_u 1) / M)
//! Σ⁻¹ ← Σ⁻¹ + (θλ/U) x₀² 11ᵀ,  then Σ ← Σ / (m² tr Σ)
//! ```
//!
//! The covariance update is the package's, not the paper's `Σ⁻¹ + (θλ/U) diag(x)²`: `np.diag` of
//! its m×1 matrix is the first entry `x₀`, broadcast over the matrix. Starting from `Σ = I/m²`,
//! `Σ` then keeps the form `p I + q 11ᵀ`, and this port holds the two scalars `p` and
//! `s = p + m q` instead of the matrix (benches/compare/OLPS.md §3 and `olps_cwmr_structured.py`):
//!
//! ```text
//! x_u = x̄,  D = Σ_i (x_i − x̄)²,  V = p D + s m x̄²,  Σ(x − x_u 1) = p (x − x̄ 1)
//! a = (pD/M²)(pD/M² + Vθ²),  U = 2V / (λθV + √(λ²θ²V² + 4V))
//! 1/s ← 1/s + m θ λ x₀² / U;  then p, s ← p, s / (m² ((m − 1) p + s))
//! ```
//!
//! This is O(m) per day and free of the package's ill-conditioned inverse, whose rounding noise
//! makes its own figure depend on the LAPACK build (tens of per cent); it reproduces the
//! `CWMR@structured` reference. On the day of ones (`x = 1`, universal-portfolios' day 0) `a` is
//! exactly 0 and the package's `λ` is `+∞ → 10⁷`; this port copies that too. Defaults:
//! `ε = −0.5`, `η = 0.95`.

use super::{check_assets, check_day, check_out, project_to_simplex, OnlineStrategy};
use crate::error::{Error, Result};
use serde::Serialize;

/// Upper bound on `λ` (universal-portfolios' guard).
pub const CWMR_MAX_STEP: f64 = 1e7;

/// The parameters of [`Cwmr`] (recorded in a run's configuration).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct CwmrParams {
    /// Mean-reversion threshold `ε` (on `ln(μ·x)`).
    pub eps: f64,
    /// Confidence `η`.
    pub confidence: f64,
    /// `θ = Φ⁻¹(η)`, the standard normal quantile of the confidence.
    pub theta: f64,
}

/// CWMR with threshold `ε` and confidence `η`; see the [module documentation](self).
#[derive(Clone, Debug)]
pub struct Cwmr {
    params: CwmrParams,
    mu: Vec<f64>,
    p: f64,
    s: f64,
    seen: usize,
    next: Vec<f64>,
}

impl Default for Cwmr {
    /// universal-portfolios' defaults: `ε = −0.5`, `η = 0.95`.
    fn default() -> Cwmr {
        Cwmr::with(-0.5, 0.95)
    }
}

/// The standard normal quantile `Φ⁻¹(q)` for `q ∈ (0, 1)`: Acklam's rational approximation
/// refined by two Newton steps on `Φ(x) = erfc(−x/√2)/2`.
pub fn normal_quantile(q: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969683028665376e1,
        2.209460984245205e2,
        -2.759285104469687e2,
        1.38357751867269e2,
        -3.066479806614716e1,
        2.506628277459239,
    ];
    const B: [f64; 5] = [
        -5.447609879822406e1,
        1.615858368580409e2,
        -1.556989798598866e2,
        6.680131188771972e1,
        -1.328068155288572e1,
    ];
    const C: [f64; 6] = [
        -7.784894002430293e-3,
        -3.223964580411365e-1,
        -2.400758277161838,
        -2.549732539343734,
        4.374664141464968,
        2.938163982698783,
    ];
    const D: [f64; 4] = [
        7.784695709041462e-3,
        3.224671290700398e-1,
        2.445134137142996,
        3.754408661907416,
    ];
    let tail = |r: f64| {
        (((((C[0] * r + C[1]) * r + C[2]) * r + C[3]) * r + C[4]) * r + C[5])
            / ((((D[0] * r + D[1]) * r + D[2]) * r + D[3]) * r + 1.0)
    };
    let mut x = if q < 0.02425 {
        tail((-2.0 * q.ln()).sqrt())
    } else if q > 1.0 - 0.02425 {
        -tail((-2.0 * (1.0 - q).ln()).sqrt())
    } else {
        let u = q - 0.5;
        let r = u * u;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * u
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    };
    for _ in 0..2 {
        let cdf = 0.5 * libm::erfc(-x / std::f64::consts::SQRT_2);
        let pdf = (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt();
        x -= (cdf - q) / pdf;
    }
    x
}

impl Cwmr {
    /// CWMR with `eps` = ε (finite) and `confidence` = η (in `(0.5, 1)`, so that `θ > 0`).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] (`eps` or `confidence`) outside those ranges.
    pub fn new(eps: f64, confidence: f64) -> Result<Cwmr> {
        if !eps.is_finite() {
            return Err(Error::param("eps", eps, "the threshold ε must be finite"));
        }
        if !(confidence > 0.5 && confidence < 1.0) {
            return Err(Error::param(
                "confidence",
                confidence,
                "the confidence η must lie in (0.5, 1)",
            ));
        }
        Ok(Cwmr::with(eps, confidence))
    }

    fn with(eps: f64, confidence: f64) -> Cwmr {
        Cwmr {
            params: CwmrParams {
                eps,
                confidence,
                theta: normal_quantile(confidence),
            },
            mu: Vec::new(),
            p: 0.0,
            s: 0.0,
            seen: 0,
            next: Vec::new(),
        }
    }

    /// The parameters.
    pub fn params(&self) -> CwmrParams {
        self.params
    }

    /// `λ = min(10⁷, max(0, r₊, r₋))` with Python's `max` (a NaN never replaces the running
    /// maximum) and the roots of `a = 0` taken as `±∞` by the sign of their numerator.
    fn step_size(a: f64, b: f64, c: f64) -> f64 {
        let disc = b * b - 4.0 * a * c;
        let root = |num: f64| {
            if a == 0.0 {
                if num > 0.0 {
                    f64::INFINITY
                } else if num < 0.0 {
                    f64::NEG_INFINITY
                } else {
                    f64::NAN
                }
            } else {
                num / (2.0 * a)
            }
        };
        let mut lambda = 0.0;
        if disc >= 0.0 {
            for r in [root(-b + disc.sqrt()), root(-b - disc.sqrt())] {
                if r > lambda {
                    lambda = r;
                }
            }
        }
        lambda.min(CWMR_MAX_STEP)
    }
}

impl OnlineStrategy for Cwmr {
    fn name(&self) -> String {
        format!("CWMR (ε = {}, η = {})", self.params.eps, self.params.confidence)
    }

    fn reset(&mut self, assets: usize) -> Result<()> {
        check_assets(assets)?;
        self.mu = crate::simplex::uniform(assets);
        let m = assets as f64;
        self.p = 1.0 / (m * m);
        self.s = 1.0 / (m * m);
        self.seen = 0;
        self.next = vec![0.0; assets];
        Ok(())
    }

    fn weights(&mut self, out: &mut [f64]) -> Result<()> {
        check_out(out, self.mu.len())?;
        out.copy_from_slice(&self.mu);
        Ok(())
    }

    fn observe(&mut self, x: &[f64]) -> Result<()> {
        check_day(x, self.mu.len(), self.seen)?;
        self.seen += 1;
        let m = x.len() as f64;
        let theta = self.params.theta;
        let (p, s) = (self.p, self.s);
        let big_m: f64 = self.mu.iter().zip(x).map(|(u, x)| u * x).sum();
        let xbar = x.iter().sum::<f64>() / m;
        let dev: f64 = x.iter().map(|v| (v - xbar) * (v - xbar)).sum();
        let v = p * dev + s * m * xbar * xbar;
        let d = p * dev / (big_m * big_m);
        let f = d + v * theta * theta / 2.0;
        let a = d * (d + v * theta * theta);
        let e = self.params.eps - big_m.ln();
        let b = 2.0 * e * f;
        let c = e * e - v * theta * theta;
        let lambda = Cwmr::step_size(a, b, c);
        let ltv = lambda * theta * v;
        let u = 2.0 * v / (ltv + (ltv * ltv + 4.0 * v).sqrt());
        for ((n, mu), xi) in self.next.iter_mut().zip(&self.mu).zip(x) {
            *n = mu - lambda * p * (xi - xbar) / big_m;
        }
        let kappa = theta * lambda / u * x[0] * x[0];
        let s = 1.0 / (1.0 / s + m * kappa);
        project_to_simplex(&self.next, &mut self.mu)?;
        let scale = 1.0 / (m * m * ((m - 1.0) * p + s));
        self.p = p * scale;
        self.s = s * scale;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_checked() {
        assert!(Cwmr::new(f64::NAN, 0.95).is_err());
        assert!(Cwmr::new(-0.5, 0.5).is_err());
        assert!(Cwmr::new(-0.5, 1.0).is_err());
        assert!(Cwmr::new(-0.5, f64::NAN).is_err());
        assert_eq!(Cwmr::default().params(), Cwmr::new(-0.5, 0.95).unwrap().params());
    }

    #[test]
    fn quantile_matches_scipy() {
        // scipy.stats.norm.ppf(0.95), the package's θ, to 2 ulp: after the Newton steps the
        // last bits follow libm's erfc, not scipy's ndtri (the CWMR reference tests show the
        // effect on wealth is far below their 1e-10).
        let q = normal_quantile(0.95);
        assert!((q - 1.6448536269514722).abs() <= 1e-15, "{q}");
        assert!((normal_quantile(0.975) - 1.959963984540054).abs() < 1e-15);
        assert!((normal_quantile(0.01) + 2.3263478740408408).abs() < 1e-14);
    }

    #[test]
    fn day_of_ones_caps_lambda_and_keeps_mu() {
        // x = 1: D = 0 so a = 0 and b < 0 (ln M = 0 and ε < 0, so b = εVθ² < 0): λ = 10⁷; μ stays.
        assert_eq!(Cwmr::step_size(0.0, -1.0, 0.25), CWMR_MAX_STEP);
        assert_eq!(Cwmr::step_size(1.0, 0.0, 1.0), 0.0); // no real root
        let mut s = Cwmr::default();
        s.reset(3).unwrap();
        s.observe(&[1.0, 1.0, 1.0]).unwrap();
        let mut b = [0.0; 3];
        s.weights(&mut b).unwrap();
        assert!(b.iter().all(|&v| (v - 1.0 / 3.0).abs() < 1e-15));
        // Σ is renormalised to tr Σ = 1/m² and has become nearly singular along 1.
        assert!((2.0 * s.p + s.s - 1.0 / 9.0).abs() < 1e-15);
        assert!(s.s < 1e-10 * s.p);
    }

    #[test]
    fn mean_reversion_moves_away_from_the_winner() {
        let mut s = Cwmr::default();
        s.reset(2).unwrap();
        s.observe(&[1.2, 0.9]).unwrap();
        let mut b = [0.0; 2];
        s.weights(&mut b).unwrap();
        assert!(b[0] < 0.5 && b[1] > 0.5, "{b:?}");
    }
}
