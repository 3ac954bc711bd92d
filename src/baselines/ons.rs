//! ONS: the online Newton step portfolio (Agarwal, Hazan, Kale & Schapire 2006).
//!
//! A. Agarwal, E. Hazan, S. Kale and R. E. Schapire, "Algorithms for portfolio management based on
//! the Newton method", ICML 2006 (Fig. 1). After day `n` with relative `y_n` and previous
//! allocation `b_n`, ONS accumulates the gradients of `ln(b·y)` and takes a Newton-like step,
//! projected back onto the simplex in the norm of the accumulated curvature:
//!
//! ```text
//! g_n     = y_n / (b_n·y_n)
//! A_n     = I + Σ_{k ≤ n} g_k g_kᵀ
//! v_n     = (1 + 1/β) Σ_{k ≤ n} g_k
//! p_{n+1} = Π_A(δ A_n⁻¹ v_n),   Π_A(z) = argmin_{p ∈ Δ} (p − z)ᵀ A_n (p − z)
//! b_{n+1} = (1 − η) p_{n+1} + η/m
//! ```
//!
//! with `b_0` uniform; universal-portfolios' defaults are `δ = 1/8`, `β = 1`, `η = 0`. Since
//! `A (δ A⁻¹ v) = δ v`, the projection is the simplex-constrained quadratic programme
//! `min_p ½ pᵀ A p − δ vᵀ p`, solved here exactly (to rounding) by a primal active-set method
//! ([`project_in_norm`]) instead of an interior-point solver: universal-portfolios' cvxopt call at
//! its default tolerances stops at an interior iterate (zero weights come out near 1e-9), which
//! moves the final wealth by up to 2.6e-3 (benches/compare/OLPS.md §3); the exact projection
//! matches its `ONS@tight` runs. O(m²) per day for the update plus O(|F|³) per active-set
//! iteration (`F` the support), warm-started from the previous allocation.

use super::{check_assets, check_day, check_out, OnlineStrategy};
use crate::error::{Error, Result};
use nalgebra::{DMatrix, DVector};
use serde::Serialize;

/// The parameters of [`Ons`] (recorded in a run's configuration).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct OnsParams {
    /// Step scale `δ > 0`.
    pub delta: f64,
    /// Gradient weight `β > 0` (the step uses `1 + 1/β`).
    pub beta: f64,
    /// Mixing with the uniform portfolio, `η ∈ [0, 1]`.
    pub eta: f64,
}

/// Online Newton step; see the [module documentation](self).
#[derive(Clone, Debug)]
pub struct Ons {
    params: OnsParams,
    /// `A_n`, `m × m` row-major.
    a: Vec<f64>,
    /// `v_n`.
    v: Vec<f64>,
    b: Vec<f64>,
    seen: usize,
}

impl Ons {
    /// ONS with `delta` (finite, > 0), `beta` (finite, > 0) and `eta` ∈ [0, 1].
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] (`delta`, `beta` or `eta`) outside those ranges.
    pub fn new(delta: f64, beta: f64, eta: f64) -> Result<Ons> {
        if !(delta.is_finite() && delta > 0.0) {
            return Err(Error::param("delta", delta, "δ must be finite and > 0"));
        }
        if !(beta.is_finite() && beta > 0.0) {
            return Err(Error::param("beta", beta, "β must be finite and > 0"));
        }
        if !(0.0..=1.0).contains(&eta) {
            return Err(Error::param("eta", eta, "η must lie in [0, 1]"));
        }
        Ok(Ons {
            params: OnsParams { delta, beta, eta },
            a: Vec::new(),
            v: Vec::new(),
            b: Vec::new(),
            seen: 0,
        })
    }

    /// The parameters.
    pub fn params(&self) -> OnsParams {
        self.params
    }
}

impl Default for Ons {
    /// `δ = 0.125`, `β = 1`, `η = 0` (universal-portfolios 0.4.17).
    fn default() -> Ons {
        Ons {
            params: OnsParams {
                delta: 0.125,
                beta: 1.0,
                eta: 0.0,
            },
            a: Vec::new(),
            v: Vec::new(),
            b: Vec::new(),
            seen: 0,
        }
    }
}

impl OnlineStrategy for Ons {
    fn name(&self) -> String {
        let p = &self.params;
        format!("ONS (δ = {}, β = {}, η = {})", p.delta, p.beta, p.eta)
    }

    fn reset(&mut self, assets: usize) -> Result<()> {
        check_assets(assets)?;
        let m = assets;
        self.a = vec![0.0; m * m];
        for i in 0..m {
            self.a[i * m + i] = 1.0;
        }
        self.v = vec![0.0; m];
        self.b = crate::simplex::uniform(m);
        self.seen = 0;
        Ok(())
    }

    fn weights(&mut self, out: &mut [f64]) -> Result<()> {
        check_out(out, self.b.len())?;
        out.copy_from_slice(&self.b);
        Ok(())
    }

    fn observe(&mut self, y: &[f64]) -> Result<()> {
        let m = self.b.len();
        check_day(y, m, self.seen)?;
        self.seen += 1;
        let by: f64 = self.b.iter().zip(y).map(|(b, y)| b * y).sum();
        let g: Vec<f64> = y.iter().map(|y| y / by).collect();
        let scale = 1.0 + 1.0 / self.params.beta;
        for i in 0..m {
            for j in 0..m {
                self.a[i * m + j] += g[i] * g[j];
            }
            self.v[i] += scale * g[i];
        }
        let c: Vec<f64> = self.v.iter().map(|v| self.params.delta * v).collect();
        let p = project_in_norm(&self.a, &c, &self.b)?;
        let eta = self.params.eta;
        let inv_m = 1.0 / m as f64;
        for (b, p) in self.b.iter_mut().zip(&p) {
            *b = if eta == 0.0 {
                *p
            } else {
                p * (1.0 - eta) + inv_m * eta
            };
        }
        Ok(())
    }
}

/// Iteration cap of [`project_in_norm`] per asset (each iteration adds or drops one constraint).
const ACTIVE_SET_ITERATIONS_PER_ASSET: usize = 20;

/// Solves `min_{p ∈ Δ} ½ pᵀ A p − cᵀ p` for a symmetric positive-definite `A` (`m × m`, row-major):
/// the projection `argmin_{p ∈ Δ} (p − z)ᵀ A (p − z)` of `z = A⁻¹ c` in the `A`-norm.
///
/// Primal active-set method started at the feasible point `start` (its zero entries form the first
/// working set `W` of constraints `p_i = 0`). Each iteration solves the equality-constrained
/// problem on the free set `F` (Cholesky of `A_FF`):
///
/// ```text
/// A_FF p_F + μ 1 = c_F,   1ᵀ p_F = 1
/// ```
///
/// If that point is feasible it is taken and the multipliers `λ_i = (A p − c)_i + μ` of the
/// working set are checked: the most negative one leaves `W` (if none is below the tolerance, the
/// KKT conditions hold and `p` is optimal). Otherwise the step towards it is cut at the first
/// weight that reaches 0, which joins `W`. The objective decreases strictly, so the method ends
/// after finitely many iterations.
///
/// # Errors
/// [`Error::InvalidAllocation`] if `A_FF` is not positive definite or the iteration cap is hit.
pub fn project_in_norm(a: &[f64], c: &[f64], start: &[f64]) -> Result<Vec<f64>> {
    let m = c.len();
    let mut p: Vec<f64> = start.iter().map(|x| x.max(0.0)).collect();
    let total: f64 = p.iter().sum();
    if total.is_finite() && total > 0.0 {
        p.iter_mut().for_each(|x| *x /= total);
    } else {
        p = crate::simplex::uniform(m);
    }
    let mut fixed: Vec<bool> = p.iter().map(|&x| x <= 0.0).collect();
    let scale = c.iter().chain(a.iter()).fold(1.0_f64, |s, x| s.max(x.abs()));
    let tol = 1e-13 * scale;
    for _ in 0..ACTIVE_SET_ITERATIONS_PER_ASSET * m + 10 {
        let free: Vec<usize> = (0..m).filter(|&i| !fixed[i]).collect();
        let k = free.len();
        let sub = DMatrix::from_fn(k, k, |r, s| a[free[r] * m + free[s]]);
        let chol = sub.cholesky().ok_or_else(|| Error::InvalidAllocation {
            reason: "A-norm projection: the curvature matrix is not positive definite".into(),
        })?;
        let u = chol.solve(&DVector::from_fn(k, |r, _| c[free[r]]));
        let e = chol.solve(&DVector::from_element(k, 1.0));
        let mu = (u.sum() - 1.0) / e.sum();
        let target: Vec<f64> = (0..k).map(|r| u[r] - mu * e[r]).collect();
        if target.iter().all(|&t| t >= 0.0) {
            for (r, &i) in free.iter().enumerate() {
                p[i] = target[r];
            }
            // Multipliers of the working set.
            let mut worst: Option<(usize, f64)> = None;
            for i in (0..m).filter(|&i| fixed[i]) {
                let grad: f64 = (0..m).map(|j| a[i * m + j] * p[j]).sum::<f64>() - c[i];
                let lambda = grad + mu;
                if lambda < -tol && worst.is_none_or(|(_, w)| lambda < w) {
                    worst = Some((i, lambda));
                }
            }
            match worst {
                None => return Ok(p),
                Some((i, _)) => fixed[i] = false,
            }
        } else {
            // Step towards the target, cut at the first weight reaching 0.
            let mut alpha = 1.0;
            let mut blocking = free[0];
            for (r, &i) in free.iter().enumerate() {
                let d = target[r] - p[i];
                if target[r] < 0.0 && d < 0.0 {
                    let t = p[i] / -d;
                    if t < alpha {
                        alpha = t;
                        blocking = i;
                    }
                }
            }
            for (r, &i) in free.iter().enumerate() {
                p[i] += alpha * (target[r] - p[i]);
            }
            p[blocking] = 0.0;
            fixed[blocking] = true;
            for &i in &free {
                if p[i] <= 0.0 {
                    p[i] = 0.0;
                    fixed[i] = true;
                }
            }
            let s: f64 = p.iter().sum();
            p.iter_mut().for_each(|x| *x /= s);
        }
    }
    Err(Error::InvalidAllocation {
        reason: "A-norm projection: active-set iteration cap reached".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_asset_projection_closed_form() {
        // ½(a1 p² + a2 (1−p)²) − c1 p − c2 (1−p) is minimised at p = (a2 + c1 − c2)/(a1 + a2),
        // clipped to [0, 1].
        let a = [1.0, 0.0, 0.0, 3.0];
        let p = project_in_norm(&a, &[0.0, 0.0], &[0.5, 0.5]).unwrap();
        assert!((p[0] - 0.75).abs() < 1e-15 && (p[1] - 0.25).abs() < 1e-15);
        let p = project_in_norm(&a, &[5.0, 0.0], &[0.5, 0.5]).unwrap();
        assert_eq!(p, vec![1.0, 0.0]);
        // Starting at a vertex, the constraint is released again.
        let p = project_in_norm(&a, &[0.0, 0.0], &[1.0, 0.0]).unwrap();
        assert!((p[0] - 0.75).abs() < 1e-15);
    }

    #[test]
    fn projection_is_identity_inside_the_simplex() {
        // z = (0.2, 0.3, 0.5) ∈ Δ: c = A z.
        let a = [2.0, 0.5, 0.0, 0.5, 3.0, 1.0, 0.0, 1.0, 4.0];
        let z = [0.2, 0.3, 0.5];
        let c: Vec<f64> = (0..3)
            .map(|i| (0..3).map(|j| a[i * 3 + j] * z[j]).sum())
            .collect();
        let p = project_in_norm(&a, &c, &[1.0 / 3.0; 3]).unwrap();
        assert!(p.iter().zip(z).all(|(p, z)| (p - z).abs() < 1e-14), "{p:?}");
    }

    #[test]
    fn two_asset_first_steps() {
        // Day of ones: g = 1, A = I + 11ᵀ, v = 2·1, the projection is uniform.
        let mut ons = Ons::default();
        ons.reset(2).unwrap();
        ons.observe(&[1.0, 1.0]).unwrap();
        let mut out = [0.0; 2];
        ons.weights(&mut out).unwrap();
        assert!((out[0] - 0.5).abs() < 1e-15);
        // Then y = (2, 1): g = (4/3, 2/3), A = [[1 + 1 + 16/9, 1 + 8/9], [1 + 8/9, 1 + 1 + 4/9]],
        // c = δ·2·(1 + 4/3, 1 + 2/3); the 2-asset closed form with the coupling term:
        // p = (a22 − a12 + c1 − c2) / (a11 + a22 − 2 a12).
        ons.observe(&[2.0, 1.0]).unwrap();
        ons.weights(&mut out).unwrap();
        let (a11, a12, a22): (f64, f64, f64) = (2.0 + 16.0 / 9.0, 1.0 + 8.0 / 9.0, 2.0 + 4.0 / 9.0);
        let (c1, c2) = (0.25 * (1.0 + 4.0 / 3.0), 0.25 * (1.0 + 2.0 / 3.0));
        let p = ((a22 - a12 + c1 - c2) / (a11 + a22 - 2.0 * a12)).clamp(0.0, 1.0);
        assert!((out[0] - p).abs() < 1e-14, "{out:?} vs {p}");
    }

    #[test]
    fn rejects_bad_parameters() {
        assert!(Ons::new(0.0, 1.0, 0.0).is_err());
        assert!(Ons::new(0.1, f64::NAN, 0.0).is_err());
        assert!(Ons::new(0.1, 1.0, 1.5).is_err());
        assert!(Ons::new(0.1, 1.0, 1.0).is_ok());
        assert_eq!(Ons::default().params().delta, 0.125);
    }
}
