//! Constant rebalanced portfolios (Cover 1991), buy-and-hold and the best asset in hindsight.
//!
//! A constant rebalanced portfolio (CRP) `b` rebalances to the same allocation every day, so
//! without costs its wealth after `N` days is `Π_n b·y_n`. The best CRP in hindsight (BCRP) on a
//! range of days maximises the concave log-wealth
//!
//! ```text
//! L(b) = Σ_n ln(b · y_n)   over the simplex Δ_m
//! ```
//!
//! (Cover 1991, "Universal portfolios", Math. Finance 1(1), 1–29). The BCRP is the benchmark of
//! universal-portfolio regret bounds; fitted on a training range and held fixed on a later test
//! range it is also a strong static baseline for any learned policy.

use super::{check_assets, check_day, check_out, check_relatives, OnlineStrategy};
use crate::error::{Error, Result};
use crate::portfolio::cost::drift_in_place;
use nalgebra::{DMatrix, DVector};

/// Equal-weight constant rebalanced portfolio: `a_n = (1/m, …, 1/m)` every day.
///
/// Without costs its wealth is `Π_n (1/m) Σ_i y_{n,i}`.
#[derive(Clone, Copy, Debug, Default)]
pub struct EqualCrp;

impl OnlineStrategy for EqualCrp {
    fn name(&self) -> String {
        "Equal CRP".to_string()
    }

    fn reset(&mut self, assets: usize) -> Result<()> {
        check_assets(assets)
    }

    /// Writes `1/m` into every entry (`m = out.len()`: Equal CRP keeps no state, so it does not
    /// check `out` against the last reset).
    fn weights(&mut self, out: &mut [f64]) -> Result<()> {
        check_assets(out.len())?;
        out.fill(1.0 / out.len() as f64);
        Ok(())
    }

    fn observe(&mut self, relatives: &[f64]) -> Result<()> {
        check_day(relatives, relatives.len(), 0)
    }

    fn constant_allocation(&self) -> bool {
        true
    }
}

/// A constant rebalanced portfolio with given weights `b`: `a_n = b` every day.
#[derive(Clone, Debug, PartialEq)]
pub struct Crp {
    weights: Vec<f64>,
}

impl Crp {
    /// A CRP holding `weights` (a point of the simplex, tolerance 1e-6; renormalised to sum 1).
    ///
    /// # Errors
    /// As [`crate::simplex::validate_allocation`].
    pub fn new(weights: Vec<f64>) -> Result<Crp> {
        crate::simplex::validate_allocation(&weights, 1e-6)?;
        let mut weights: Vec<f64> = weights.into_iter().map(|w| w.max(0.0)).collect();
        let s: f64 = weights.iter().sum();
        weights.iter_mut().for_each(|w| *w /= s);
        Ok(Crp { weights })
    }

    /// The constant allocation `b`.
    pub fn weights(&self) -> &[f64] {
        &self.weights
    }
}

/// The reset of a fixed portfolio of `fitted` assets: only a market of `fitted` assets is valid.
fn reset_fixed(fitted: usize, assets: usize) -> Result<()> {
    check_assets(assets)?;
    if fitted != assets {
        return Err(Error::shape("assets of the fitted portfolio", fitted, assets));
    }
    Ok(())
}

impl OnlineStrategy for Crp {
    fn name(&self) -> String {
        "CRP".to_string()
    }

    fn reset(&mut self, assets: usize) -> Result<()> {
        reset_fixed(self.weights.len(), assets)
    }

    fn weights(&mut self, out: &mut [f64]) -> Result<()> {
        check_out(out, self.weights.len())?;
        out.copy_from_slice(&self.weights);
        Ok(())
    }

    fn observe(&mut self, relatives: &[f64]) -> Result<()> {
        check_day(relatives, self.weights.len(), 0)
    }

    fn constant_allocation(&self) -> bool {
        true
    }
}

/// Uniform buy-and-hold: buy `1/m` of every asset on day 0 and never trade again.
///
/// The allocation of day `n` is the drifted one, `a_{n,i} = Π_{k<n} y_{k,i} / Σ_j Π_{k<n} y_{k,j}`,
/// so the turnover is 0 and the wealth is the mean of the assets' cumulative relatives,
/// `(1/m) Σ_i Π_n y_{n,i}`. Each observed day drifts the held weights: `w ← w ⊙ y / (w·y)`.
#[derive(Clone, Debug, Default)]
pub struct BuyAndHold {
    w: Vec<f64>,
    seen: usize,
}

impl OnlineStrategy for BuyAndHold {
    fn name(&self) -> String {
        "Buy and hold".to_string()
    }

    fn reset(&mut self, assets: usize) -> Result<()> {
        check_assets(assets)?;
        self.w = crate::simplex::uniform(assets);
        self.seen = 0;
        Ok(())
    }

    fn weights(&mut self, out: &mut [f64]) -> Result<()> {
        check_out(out, self.w.len())?;
        out.copy_from_slice(&self.w);
        Ok(())
    }

    fn observe(&mut self, y: &[f64]) -> Result<()> {
        check_day(y, self.w.len(), self.seen)?;
        drift_in_place(&mut self.w, y);
        self.seen += 1;
        Ok(())
    }

    fn holds_drifted(&self) -> bool {
        true
    }
}

/// The single asset with the largest wealth `Π_n y_{n,i}` on a range, held all the time (a
/// hindsight baseline when fitted on the evaluated range).
#[derive(Clone, Debug, PartialEq)]
pub struct BestAsset {
    /// Index of the chosen asset (the lowest index among ties).
    pub asset: usize,
    /// Its log-wealth `Σ_n ln y_{n,asset}` on the fitting range.
    pub log_wealth: f64,
    assets: usize,
}

impl BestAsset {
    /// Picks `argmax_i Σ_n ln y_{n,i}` on `relatives` (`[day][asset]`).
    ///
    /// # Errors
    /// Invalid relatives (see [`super::check_relatives`]) or zero days.
    pub fn fit(relatives: &[f64], assets: usize) -> Result<BestAsset> {
        let days = check_relatives(relatives, assets)?;
        if days == 0 {
            return Err(Error::param(
                "relatives",
                "0 days",
                "cannot fit the best asset on no days",
            ));
        }
        let mut logw = vec![0.0; assets];
        for y in relatives.chunks_exact(assets) {
            for (l, yi) in logw.iter_mut().zip(y) {
                *l += yi.ln();
            }
        }
        let (asset, log_wealth) = logw.iter().enumerate().fold(
            (0, f64::NEG_INFINITY),
            |(bi, bl), (i, &l)| if l > bl { (i, l) } else { (bi, bl) },
        );
        Ok(BestAsset {
            asset,
            log_wealth,
            assets,
        })
    }
}

impl OnlineStrategy for BestAsset {
    fn name(&self) -> String {
        "Best asset".to_string()
    }

    fn reset(&mut self, assets: usize) -> Result<()> {
        reset_fixed(self.assets, assets)
    }

    fn weights(&mut self, out: &mut [f64]) -> Result<()> {
        check_out(out, self.assets)?;
        out.fill(0.0);
        out[self.asset] = 1.0;
        Ok(())
    }

    fn observe(&mut self, relatives: &[f64]) -> Result<()> {
        check_day(relatives, self.assets, 0)
    }

    fn constant_allocation(&self) -> bool {
        true
    }
}

/// Optimality tolerance of [`Bcrp::fit`]: it stops when `max_i g_i − 1 ≤ 1e-10`, where
/// `g_i = (1/N) Σ_n y_{n,i} / (b·y_n)`. Since `L/N` is concave and `Σ_i b_i g_i = 1`, this bounds
/// the per-day log-wealth gap to the optimum: `L(b*)/N − L(b)/N ≤ max_i g_i − 1`.
pub const BCRP_TOLERANCE: f64 = 1e-10;

/// Iteration cap of [`Bcrp::fit`].
pub const BCRP_MAX_ITERATIONS: usize = 2000;

/// The best constant rebalanced portfolio on a range of days: `b* = argmax_{b ∈ Δ} Σ_n ln(b·y_n)`.
///
/// Fitted by an active-set projected Newton method on the concave mean log-wealth
/// `F(b) = (1/N) Σ_n ln(b·y_n)`, with gradient `g_i = (1/N) Σ_n y_{n,i}/(b·y_n)` and negative
/// Hessian `H = (1/N) Σ_n y_n y_nᵀ / (b·y_n)²`:
///
/// 1. start from the uniform allocation with every asset free;
/// 2. on the free set `S`, take the Newton step on the face `{Σ_{i∈S} d_i = 0}`:
///    `[H_SS 1; 1ᵀ 0] [d; ν] = [g_S; 0]` (a tiny ridge keeps it solvable for collinear assets),
///    truncated at the boundary (an asset that reaches 0 leaves `S`) and backtracked (Armijo);
/// 3. when the face is optimal (`g_i` equal on `S`), the asset outside `S` with the largest
///    `g_i > 1` enters `S`; if Newton wants to push it out again, a Frank–Wolfe step towards that
///    vertex with an exact line search is taken instead;
/// 4. stop when `max_i g_i − 1 ≤` [`BCRP_TOLERANCE`] (the KKT conditions of the log-optimal
///    portfolio: `g_i ≤ 1` for all `i`, with equality on the support).
///
/// As a strategy it holds `b*` every day; the same object serves as the hindsight BCRP (fitted on
/// the evaluated range) and as a BCRP fitted on a training range and held on a test range.
#[derive(Clone, Debug, PartialEq)]
pub struct Bcrp {
    /// The fitted allocation `b*`.
    pub weights: Vec<f64>,
    /// `F(b*) = (1/N) Σ_n ln(b*·y_n)` on the fitting range.
    pub mean_log_return: f64,
    /// The certified per-day optimality gap `max_i g_i − 1` at `b*` (≤ [`BCRP_TOLERANCE`] unless
    /// the iteration cap was reached).
    pub optimality_gap: f64,
    /// Number of iterations used.
    pub iterations: usize,
}

/// Mean log-return `F(b)`, the products `p_n = b·y_n`, and the gradient `g`.
fn eval(rel: &[f64], m: usize, b: &[f64], p: &mut [f64], g: &mut [f64]) -> f64 {
    let n = p.len() as f64;
    g.fill(0.0);
    let mut f = 0.0;
    for (pn, y) in p.iter_mut().zip(rel.chunks_exact(m)) {
        *pn = b.iter().zip(y).map(|(b, y)| b * y).sum();
        f += pn.ln();
        let inv = 1.0 / *pn;
        for (gi, yi) in g.iter_mut().zip(y) {
            *gi += yi * inv;
        }
    }
    g.iter_mut().for_each(|gi| *gi /= n);
    f / n
}

fn value(rel: &[f64], m: usize, b: &[f64]) -> f64 {
    let n = (rel.len() / m) as f64;
    rel.chunks_exact(m)
        .map(|y| b.iter().zip(y).map(|(b, y)| b * y).sum::<f64>().ln())
        .sum::<f64>()
        / n
}

impl Bcrp {
    /// Fits the BCRP on `relatives` (`[day][asset]`, `assets` columns); see the type's docs.
    ///
    /// # Errors
    /// Invalid relatives (see [`super::check_relatives`]) or zero days.
    pub fn fit(relatives: &[f64], assets: usize) -> Result<Bcrp> {
        let days = check_relatives(relatives, assets)?;
        if days == 0 {
            return Err(Error::param(
                "relatives",
                "0 days",
                "cannot fit a BCRP on no days",
            ));
        }
        let m = assets;
        let mut b = crate::simplex::uniform(m);
        let mut free = vec![true; m];
        let mut p = vec![0.0; days];
        let mut g = vec![0.0; m];
        let mut trial = vec![0.0; m];
        let mut entered: Option<usize> = None;
        let mut iterations = 0;
        let mut f = eval(relatives, m, &b, &mut p, &mut g);
        while iterations < BCRP_MAX_ITERATIONS {
            let gap = g.iter().fold(f64::NEG_INFINITY, |a, &x| a.max(x)) - 1.0;
            if gap <= BCRP_TOLERANCE {
                break;
            }
            iterations += 1;
            let s: Vec<usize> = (0..m).filter(|&i| free[i]).collect();
            let (gmin, gmax) = s.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &i| {
                (lo.min(g[i]), hi.max(g[i]))
            });
            let face_optimal = gmax - gmin <= 0.1 * BCRP_TOLERANCE;
            let d = if face_optimal {
                None
            } else {
                newton_direction(relatives, m, &p, &g, &s)
            };
            let d = match d {
                Some(d) if d.iter().map(|x| x.abs()).fold(0.0, f64::max) > 1e-15 => d,
                _ => {
                    // Face optimal (or Newton failed): bring in the best asset outside, or take a
                    // Frank–Wolfe step towards the vertex of the largest gradient.
                    let j = (0..m)
                        .filter(|&i| !free[i])
                        .fold(None, |best: Option<usize>, i| match best {
                            Some(k) if g[k] >= g[i] => Some(k),
                            _ => Some(i),
                        });
                    match j {
                        Some(j) if g[j] > 1.0 + BCRP_TOLERANCE && entered != Some(j) => {
                            free[j] = true;
                            entered = Some(j);
                            continue;
                        }
                        _ => {
                            let j = (0..m).fold(0, |k, i| if g[i] > g[k] { i } else { k });
                            frank_wolfe_step(relatives, m, &mut b, j);
                            free[j] = true;
                            entered = None;
                            f = eval(relatives, m, &b, &mut p, &mut g);
                            continue;
                        }
                    }
                }
            };
            // Ratio test: largest step keeping every free weight ≥ 0.
            let mut t_max = f64::INFINITY;
            let mut blocking = None;
            for (k, &i) in s.iter().enumerate() {
                if d[k] < 0.0 {
                    let t = b[i] / -d[k];
                    if t < t_max {
                        t_max = t;
                        blocking = Some(i);
                    }
                }
            }
            if t_max <= 1e-15 {
                // The asset that just entered would leave at once: move towards its vertex instead.
                let j = entered.unwrap_or_else(|| (0..m).fold(0, |k, i| if g[i] > g[k] { i } else { k }));
                frank_wolfe_step(relatives, m, &mut b, j);
                free[j] = true;
                if let Some(i) = blocking.filter(|&i| i != j && b[i] <= 0.0) {
                    free[i] = false;
                }
                entered = None;
                f = eval(relatives, m, &b, &mut p, &mut g);
                continue;
            }
            entered = None;
            let slope: f64 = s.iter().zip(&d).map(|(&i, di)| g[i] * di).sum();
            let mut t = t_max.min(1.0);
            let mut accepted = false;
            for _ in 0..60 {
                trial.copy_from_slice(&b);
                for (k, &i) in s.iter().enumerate() {
                    trial[i] = (b[i] + t * d[k]).max(0.0);
                }
                if value(relatives, m, &trial) >= f + 1e-4 * t * slope {
                    accepted = true;
                    break;
                }
                t *= 0.5;
            }
            if !accepted {
                // No ascent possible along d (rounding): finish with the Frank–Wolfe fallback.
                let j = (0..m).fold(0, |k, i| if g[i] > g[k] { i } else { k });
                let before = f;
                frank_wolfe_step(relatives, m, &mut b, j);
                f = eval(relatives, m, &b, &mut p, &mut g);
                if f <= before {
                    break;
                }
                continue;
            }
            if t >= t_max {
                if let Some(i) = blocking {
                    trial[i] = 0.0;
                }
            }
            for (i, fr) in free.iter_mut().enumerate() {
                if trial[i] <= 0.0 {
                    trial[i] = 0.0;
                    *fr = false;
                }
            }
            let sum: f64 = trial.iter().sum();
            for (bi, ti) in b.iter_mut().zip(&trial) {
                *bi = ti / sum;
            }
            f = eval(relatives, m, &b, &mut p, &mut g);
        }
        let optimality_gap = (g.iter().fold(f64::NEG_INFINITY, |a, &x| a.max(x)) - 1.0).max(0.0);
        Ok(Bcrp {
            weights: b,
            mean_log_return: f,
            optimality_gap,
            iterations,
        })
    }
}

/// Newton direction on the face of the free set `s`: solves `[H_SS 1; 1ᵀ 0][d; ν] = [g_S; 0]`.
fn newton_direction(rel: &[f64], m: usize, p: &[f64], g: &[f64], s: &[usize]) -> Option<Vec<f64>> {
    let k = s.len();
    let n = p.len() as f64;
    // The upper triangle of Σ_n y_S y_Sᵀ / p_n², row-major in a flat array: each entry is summed
    // over the days in order, and a day's update of a row is a contiguous loop of independent
    // entries (vectorised), where the matrix's column-major `h[(a, c)]` was a strided one.
    let mut acc = vec![0.0; k * k];
    let mut ys = vec![0.0; k];
    for (y, &pn) in rel.chunks_exact(m).zip(p) {
        let inv = 1.0 / pn;
        for (v, &i) in ys.iter_mut().zip(s) {
            *v = y[i] * inv;
        }
        for a in 0..k {
            outer_row(&mut acc[a * k + a..(a + 1) * k], ys[a], &ys[a..]);
        }
    }
    let mut h = DMatrix::<f64>::zeros(k + 1, k + 1);
    let mut max_diag: f64 = 0.0;
    for a in 0..k {
        for c in a..k {
            let v = acc[a * k + c] / n;
            h[(a, c)] = v;
            h[(c, a)] = v;
        }
        max_diag = max_diag.max(h[(a, a)]);
    }
    for a in 0..k {
        h[(a, a)] += 1e-12 * max_diag.max(1e-300);
        h[(a, k)] = 1.0;
        h[(k, a)] = 1.0;
    }
    let rhs = DVector::from_iterator(k + 1, s.iter().map(|&i| g[i]).chain(std::iter::once(0.0)));
    let sol = h.lu().solve(&rhs)?;
    let d: Vec<f64> = sol.iter().take(k).copied().collect();
    if d.iter().all(|x| x.is_finite()) {
        Some(d)
    } else {
        None
    }
}

/// `row[c] += ya · ys[c]`.
fn outer_row(row: &mut [f64], ya: f64, ys: &[f64]) {
    for (r, &yc) in row.iter_mut().zip(ys) {
        *r += ya * yc;
    }
}

/// Moves `b` towards vertex `e_j` by the exact maximiser of `φ(t) = F((1 − t) b + t e_j)` on
/// `[0, 1]` (φ is concave: bisection on φ').
fn frank_wolfe_step(rel: &[f64], m: usize, b: &mut [f64], j: usize) {
    // φ'(t) = (1/N) Σ_n (y_{n,j} − b·y_n) / ((1 − t) b·y_n + t y_{n,j}).
    let pb: Vec<f64> = rel
        .chunks_exact(m)
        .map(|y| b.iter().zip(y).map(|(b, y)| b * y).sum())
        .collect();
    let dphi = |t: f64| -> f64 {
        rel.chunks_exact(m)
            .zip(&pb)
            .map(|(y, &p)| (y[j] - p) / ((1.0 - t) * p + t * y[j]))
            .sum()
    };
    if dphi(0.0) <= 0.0 {
        return;
    }
    let t = if dphi(1.0) >= 0.0 {
        1.0
    } else {
        // 100 halvings, stopped once they can no longer move `lo`: when the midpoint rounds to
        // `lo` (no later step changes `lo`), or to `hi` (one evaluation decides, and the state
        // after it repeats). The result is the bits of the full 100.
        let (mut lo, mut hi) = (0.0_f64, 1.0_f64);
        for _ in 0..100 {
            let mid = 0.5 * (lo + hi);
            if mid == lo {
                break;
            }
            let at_hi = mid == hi;
            if dphi(mid) > 0.0 {
                lo = mid;
            } else {
                hi = mid;
            }
            if at_hi {
                break;
            }
        }
        lo
    };
    for (i, bi) in b.iter_mut().enumerate() {
        *bi *= 1.0 - t;
        if i == j {
            *bi += t;
        }
    }
}

impl OnlineStrategy for Bcrp {
    fn name(&self) -> String {
        "BCRP".to_string()
    }

    fn reset(&mut self, assets: usize) -> Result<()> {
        reset_fixed(self.weights.len(), assets)
    }

    fn weights(&mut self, out: &mut [f64]) -> Result<()> {
        check_out(out, self.weights.len())?;
        out.copy_from_slice(&self.weights);
        Ok(())
    }

    fn observe(&mut self, relatives: &[f64]) -> Result<()> {
        check_day(relatives, self.weights.len(), 0)
    }

    fn constant_allocation(&self) -> bool {
        true
    }
}
