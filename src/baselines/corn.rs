//! CORN: correlation-driven nonparametric learning (Li, Hoi & Gopalkrishnan 2011), the CORN-U
//! expert with universal-portfolios 0.4.17's defaults.
//!
//! B. Li, S. C. H. Hoi and V. Gopalkrishnan, "CORN: Correlation-driven nonparametric learning
//! approach for portfolio selection", ACM TIST 2(3), 21, 2011 (Algorithm 1, one expert). After day
//! `t` (relatives `x_0 … x_t`), with window `w` and threshold `ρ`:
//!
//! ```text
//! f_k     = (x_k, x_{k−1}, …, x_{k−w+1})                     the market window ending on day k
//! c_k     = corr(f_t, f_k)                                  Pearson, over the w·m entries
//! C_t     = { k : w − 1 ≤ k ≤ t − 1, c_k ≥ ρ }               similar past windows (NaN never is)
//! b_{t+1} = argmax_{b ≥ 0, Σ b ≤ 1} Σ_{k ∈ C_t} ln(b·x_{k+1} + 1 − Σ b)   (uniform if C_t = ∅)
//! ```
//!
//! As in the package (`CORN(window=5, rho=0.1)`, its fast version): `b` is uniform on days
//! `0 … w`, the first decision uses day `w`'s window, and the log-optimal portfolio of the matched
//! days may keep cash (`Σ b ≤ 1`, cash relative 1), which universal-portfolios' SLSQP allows.
//! [`Corn`] offers both: [`Corn::new`] is fully invested, and with [`Corn::with_cash`]`(true)`
//! (the package's default, [`Corn::default`]) `weights` writes the assets' weights and then the
//! cash weight [`Corn::cash`], which [`crate::portfolio::simulate`] trades through a cash account
//! ([`OnlineStrategy::holds_cash`]); see the type's documentation.
//!
//! The log-optimal portfolio is solved exactly (a projected Newton method on the support,
//! certified by the KKT gap `max_i g_i − 1 ≤ 1e-10` with `g_i = mean_k x_{k+1,i} / (b·x_{k+1})`)
//! and warm-started from the previous day's solution; universal-portfolios uses SLSQP at
//! `ftol = 1e-6` with a finite-difference gradient, which stops earlier.
//!
//! Cost per day: the correlations are dot products of contiguous `w·m` blocks of the stored
//! history, O(t·w·m); the solver is O(|C_t|·(m + |S|²)) per Newton iteration with `S` the
//! support. The whole history is kept (O(N·m) memory).

use super::ons::project_in_norm;
use super::{check_assets, check_day, check_out, OnlineStrategy};
use crate::error::{Error, Result};
use serde::Serialize;

/// universal-portfolios' default window of CORN.
pub const CORN_DEFAULT_WINDOW: usize = 5;
/// universal-portfolios' default correlation threshold of CORN.
pub const CORN_DEFAULT_RHO: f64 = 0.1;
/// Optimality tolerance of the log-optimal solve (KKT gap `max_i g_i − 1`).
pub const CORN_TOLERANCE: f64 = 1e-10;

/// The parameters of [`Corn`] (recorded in a run's configuration).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct CornParams {
    /// Window `w ≥ 1` (days per market window).
    pub window: usize,
    /// Correlation threshold `ρ ∈ [−1, 1]`.
    pub rho: f64,
    /// Whether the log-optimal portfolio may keep cash (`Σ b ≤ 1`), as universal-portfolios does.
    pub cash: bool,
}

/// CORN with window `w` and threshold `ρ`; see the [module documentation](self).
///
/// [`weights`](OnlineStrategy::weights) writes the assets' weights. With cash allowed
/// ([`Corn::with_cash`]) it writes one entry more, the cash weight [`Corn::cash`] (the assets
/// then sum to `1 − cash`), and [`holds_cash`](OnlineStrategy::holds_cash) is `true`: the
/// simulator appends the cash asset (relative 1) and charges a move into or out of cash once,
/// universal-portfolios' convention `r = 1 + Σ_i b_i (x_i − 1) − c Σ_i |b_i − b̃_i|`. Without
/// cash (the default of [`Corn::new`]) the log-optimal portfolio is taken on the simplex.
#[derive(Clone, Debug)]
pub struct Corn {
    params: CornParams,
    assets: usize,
    /// Every observed day, minus 1 (`z = x − 1`: the correlations are shift-invariant and the
    /// dot products lose less to cancellation), `[day][asset]`.
    history: Vec<f64>,
    /// Per complete window ending on day `k ≥ w − 1`: (sum, centred sum of squares) of `f_k − 1`.
    moments: Vec<(f64, f64)>,
    /// The current decision over the assets and, last, cash.
    b: Vec<f64>,
    /// The last log-optimal solution (warm start), assets then cash.
    warm: Vec<f64>,
    seen: usize,
}

impl Corn {
    /// CORN with `window ≥ 1` and `rho ∈ [−1, 1]`, on the simplex (no cash).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] (`window` or `rho`) outside those ranges.
    pub fn new(window: usize, rho: f64) -> Result<Corn> {
        if window == 0 {
            return Err(Error::param("window", window, "the window must be ≥ 1"));
        }
        if !(-1.0..=1.0).contains(&rho) {
            return Err(Error::param(
                "rho",
                rho,
                "the correlation threshold ρ must lie in [−1, 1]",
            ));
        }
        Ok(Corn {
            params: CornParams {
                window,
                rho,
                cash: false,
            },
            assets: 0,
            history: Vec::new(),
            moments: Vec::new(),
            b: Vec::new(),
            warm: Vec::new(),
            seen: 0,
        })
    }

    /// The same strategy with cash allowed (`Σ b ≤ 1`) or not.
    pub fn with_cash(mut self, cash: bool) -> Corn {
        self.params.cash = cash;
        self
    }

    /// The parameters.
    pub fn params(&self) -> CornParams {
        self.params
    }

    /// The cash weight `1 − Σ_i b_i` of the next day (0 without cash).
    pub fn cash(&self) -> f64 {
        self.b.get(self.assets).copied().unwrap_or(0.0)
    }

    /// The decision on the risky assets renormalised to the simplex (the allocation of the
    /// invested part); equal to `weights` when no cash is held.
    pub fn risky_weights(&self, out: &mut [f64]) -> Result<()> {
        check_out(out, self.assets)?;
        let s: f64 = self.b[..self.assets].iter().sum();
        for (o, b) in out.iter_mut().zip(&self.b) {
            *o = if s > 0.0 { b / s } else { 1.0 / self.assets as f64 };
        }
        Ok(())
    }

    /// Pearson correlation of the windows ending on days `t` and `k` (NaN for a constant one).
    fn correlation(&self, t: usize, k: usize) -> f64 {
        let m = self.assets;
        let w = self.params.window;
        let n = (w * m) as f64;
        let a = &self.history[(t + 1 - w) * m..(t + 1) * m];
        let b = &self.history[(k + 1 - w) * m..(k + 1) * m];
        let dot = dot(a, b);
        let (sa, qa) = self.moments[t + 1 - w];
        let (sb, qb) = self.moments[k + 1 - w];
        (dot - sa * sb / n) / (qa * qb).sqrt()
    }

    /// The decision after day `t = seen − 1`.
    fn step(&mut self) -> Result<()> {
        let m = self.assets;
        let w = self.params.window;
        let t = self.seen - 1;
        let cash = usize::from(self.params.cash);
        if t < w {
            return Ok(());
        }
        let mut matched = Vec::new();
        for k in (w - 1)..t {
            let c = self.correlation(t, k);
            if c >= self.params.rho {
                // Rows x_{k+1} (restored from z = x − 1).
                matched.extend(self.history[(k + 1) * m..(k + 2) * m].iter().map(|z| z + 1.0));
            }
        }
        if matched.is_empty() {
            self.b.fill(0.0);
            self.b[..m].fill(1.0 / m as f64);
            return Ok(());
        }
        let b = log_optimal(&matched, m, cash == 1, &self.warm)?;
        self.warm.copy_from_slice(&b);
        self.b[..m + cash].copy_from_slice(&b);
        Ok(())
    }
}

impl Default for Corn {
    /// `w = 5`, `ρ = 0.1` and cash allowed (universal-portfolios 0.4.17).
    fn default() -> Corn {
        Corn {
            params: CornParams {
                window: CORN_DEFAULT_WINDOW,
                rho: CORN_DEFAULT_RHO,
                cash: true,
            },
            assets: 0,
            history: Vec::new(),
            moments: Vec::new(),
            b: Vec::new(),
            warm: Vec::new(),
            seen: 0,
        }
    }
}

impl OnlineStrategy for Corn {
    fn name(&self) -> String {
        let p = &self.params;
        let cash = if p.cash { ", cash allowed" } else { "" };
        format!("CORN (w = {}, ρ = {}{cash})", p.window, p.rho)
    }

    fn reset(&mut self, assets: usize) -> Result<()> {
        check_assets(assets)?;
        let m = assets;
        let cash = usize::from(self.params.cash);
        self.assets = m;
        self.history.clear();
        self.moments.clear();
        self.b = vec![1.0 / m as f64; m + cash];
        if cash == 1 {
            self.b[m] = 0.0;
        }
        self.warm = vec![1.0 / (m + cash) as f64; m + cash];
        self.seen = 0;
        Ok(())
    }

    fn weights(&mut self, out: &mut [f64]) -> Result<()> {
        check_out(out, self.b.len())?;
        out.copy_from_slice(&self.b);
        Ok(())
    }

    fn holds_cash(&self) -> bool {
        self.params.cash
    }

    fn observe(&mut self, y: &[f64]) -> Result<()> {
        let m = self.assets;
        check_day(y, m, self.seen)?;
        self.history.extend(y.iter().map(|x| x - 1.0));
        self.seen += 1;
        let w = self.params.window;
        if self.seen >= w {
            let f = &self.history[(self.seen - w) * m..];
            let n = f.len() as f64;
            let s: f64 = f.iter().sum();
            let mean = s / n;
            let q: f64 = f.iter().map(|z| (z - mean) * (z - mean)).sum();
            self.moments.push((s, q));
        }
        self.step()
    }
}

/// Dot product with four accumulators (vectorises).
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let mut acc = [0.0; 4];
    let ca = a.chunks_exact(4);
    let cb = b.chunks_exact(4);
    let tail: f64 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for k in 0..4 {
            acc[k] += x[k] * y[k];
        }
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}

/// Iteration cap of [`log_optimal`].
const LOG_OPTIMAL_MAX_ITERATIONS: usize = 500;

/// The log-optimal portfolio `argmax_{b ∈ Δ} (1/N) Σ_n ln(b·x_n)` of the rows of `rows`
/// (`[day][asset]`, `m` columns), with a cash column of relatives 1 appended when `cash`;
/// `start` (length `m + cash`) is the warm start.
///
/// Projected Newton: at `b`, with `p_n = b·x_n`, gradient `g = (1/N) Σ x_n / p_n` and curvature
/// `H = (1/N) Σ x_n x_nᵀ / p_n²`, the quadratic model is maximised over the simplex restricted to
/// the free set `F = {i : b_i > 0 or g_i > 1}` ([`project_in_norm`] with `H_FF` + a tiny ridge),
/// and an Armijo line search is done towards it. It stops when `max_i g_i − 1 ≤`
/// [`CORN_TOLERANCE`] (then `F(b*) − F(b) ≤ max_i g_i − 1`).
fn log_optimal(rows: &[f64], m: usize, cash: bool, start: &[f64]) -> Result<Vec<f64>> {
    let d = m + usize::from(cash);
    let days = rows.len() / m;
    let nf = days as f64;
    let x = |n: usize, i: usize| if i < m { rows[n * m + i] } else { 1.0 };
    let mut b: Vec<f64> = start.to_vec();
    let mut p = vec![0.0; days];
    let mut g = vec![0.0; d];
    let eval = |b: &[f64], p: &mut [f64], g: &mut [f64]| -> f64 {
        g.fill(0.0);
        let mut f = 0.0;
        for (n, pn) in p.iter_mut().enumerate() {
            let row = &rows[n * m..(n + 1) * m];
            let mut s: f64 = row.iter().zip(b).map(|(x, b)| x * b).sum();
            if cash {
                s += b[m];
            }
            *pn = s;
            f += s.ln();
            let inv = 1.0 / s;
            for (gi, xi) in g.iter_mut().zip(row) {
                *gi += xi * inv;
            }
            if cash {
                g[m] += inv;
            }
        }
        g.iter_mut().for_each(|gi| *gi /= nf);
        f / nf
    };
    let value = |b: &[f64]| -> f64 {
        (0..days)
            .map(|n| (0..d).map(|i| x(n, i) * b[i]).sum::<f64>().ln())
            .sum::<f64>()
            / nf
    };
    let mut f = eval(&b, &mut p, &mut g);
    for _ in 0..LOG_OPTIMAL_MAX_ITERATIONS {
        let gap = g.iter().fold(f64::NEG_INFINITY, |a, &v| a.max(v)) - 1.0;
        if gap <= CORN_TOLERANCE {
            return Ok(b);
        }
        let free: Vec<usize> = (0..d).filter(|&i| b[i] > 0.0 || g[i] > 1.0).collect();
        let k = free.len();
        // H_FF and the linear term of the model: maximise gᵀy − ½(y − b)ᵀH(y − b) over y ∈ Δ_F,
        // i.e. minimise ½ yᵀHy − (g + H b)ᵀ y.
        let mut h = vec![0.0; k * k];
        for (n, &pn) in p.iter().enumerate() {
            let inv2 = 1.0 / (pn * pn * nf);
            for r in 0..k {
                let xr = x(n, free[r]) * inv2;
                for s in r..k {
                    h[r * k + s] += xr * x(n, free[s]);
                }
            }
        }
        let mut diag_max: f64 = 0.0;
        for r in 0..k {
            for s in 0..r {
                h[r * k + s] = h[s * k + r];
            }
            diag_max = diag_max.max(h[r * k + r]);
        }
        let ridge = 1e-12 * diag_max.max(1e-300);
        for r in 0..k {
            h[r * k + r] += ridge;
        }
        let bf: Vec<f64> = free.iter().map(|&i| b[i]).collect();
        let c: Vec<f64> = (0..k)
            .map(|r| g[free[r]] + (0..k).map(|s| h[r * k + s] * bf[s]).sum::<f64>())
            .collect();
        let y = project_in_norm(&h, &c, &bf)?;
        // Armijo line search on F along y − b (b outside F is 0 and stays 0).
        let slope: f64 = (0..k).map(|r| g[free[r]] * (y[r] - bf[r])).sum();
        let mut t = 1.0;
        let mut trial = b.clone();
        let mut accepted = false;
        for _ in 0..60 {
            for r in 0..k {
                trial[free[r]] = (bf[r] + t * (y[r] - bf[r])).max(0.0);
            }
            let v = value(&trial);
            if v.is_finite() && v >= f + 1e-4 * t * slope {
                accepted = true;
                break;
            }
            t *= 0.5;
        }
        if !accepted || slope <= 0.0 {
            // No ascent left at working precision.
            return Ok(b);
        }
        let s: f64 = trial.iter().sum();
        b = trial.iter().map(|v| v / s).collect();
        f = eval(&b, &mut p, &mut g);
    }
    Ok(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniform_without_matches() {
        // w = 1, ρ = 0.5: day 1 moves opposite to day 0 (correlation −1), so no day matches and
        // b = 1/m.
        let mut corn = Corn::new(1, 0.5).unwrap();
        corn.reset(2).unwrap();
        let mut out = [0.0; 2];
        for y in [[1.1, 0.9], [0.8, 1.3]] {
            corn.observe(&y).unwrap();
            corn.weights(&mut out).unwrap();
            assert_eq!(out, [0.5, 0.5]);
        }
    }

    #[test]
    fn log_optimal_closed_forms() {
        // One day: everything in the best asset.
        let b = log_optimal(&[1.2, 0.9, 1.1], 3, false, &[1.0 / 3.0; 3]).unwrap();
        assert!((b[0] - 1.0).abs() < 1e-9, "{b:?}");
        // One day where every asset falls: all cash.
        let b = log_optimal(&[0.9, 0.8], 2, true, &[1.0 / 3.0; 3]).unwrap();
        assert!((b[2] - 1.0).abs() < 1e-9, "{b:?}");
        // y = (2, 1), (0.5, 1): ln(1 + b) + ln(1 − b/2) is maximal at b = 1/2.
        let b = log_optimal(&[2.0, 1.0, 0.5, 1.0], 2, false, &[0.5, 0.5]).unwrap();
        assert!((b[0] - 0.5).abs() < 1e-9, "{b:?}");
    }

    #[test]
    fn matches_follow_the_pattern() {
        // w = 1, ρ = 0.5: after (1.2, 0.8), (1.1, 0.9) [similar], the pattern of day 1 matches
        // day 0, whose successor (1.1, 0.9) favours asset 0: b = (1, 0).
        let mut corn = Corn::new(1, 0.5).unwrap();
        corn.reset(2).unwrap();
        corn.observe(&[1.2, 0.8]).unwrap();
        corn.observe(&[1.1, 0.9]).unwrap();
        let mut out = [0.0; 2];
        corn.weights(&mut out).unwrap();
        assert!((out[0] - 1.0).abs() < 1e-9, "{out:?}");
    }

    #[test]
    fn rejects_bad_parameters() {
        assert!(Corn::new(0, 0.1).is_err());
        assert!(Corn::new(5, 1.5).is_err());
        assert!(Corn::new(5, f64::NAN).is_err());
        let d = Corn::default().params();
        assert_eq!((d.window, d.rho, d.cash), (5, 0.1, true));
    }
}
