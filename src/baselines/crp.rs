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

/// [`Bcrp::fit`] lets an asset into the free set once the gradient's spread on the free set is at
/// most this fraction of the optimality gap (solving each intermediate face exactly costs Newton
/// steps that the next face undoes).
const FACE_FRACTION: f64 = 0.01;

/// Iteration cap of [`Bcrp::fit`].
pub const BCRP_MAX_ITERATIONS: usize = 2000;

/// The best constant rebalanced portfolio on a range of days: `b* = argmax_{b ∈ Δ} Σ_n ln(b·y_n)`.
///
/// Fitted by an active-set projected Newton method on the concave mean log-wealth
/// `F(b) = (1/N) Σ_n ln(b·y_n)`, with gradient `g_i = (1/N) Σ_n y_{n,i}/(b·y_n)` and negative
/// Hessian `H = (1/N) Σ_n y_n y_nᵀ / (b·y_n)²`:
///
/// 1. start at the vertex of the asset with the largest arithmetic mean relative, with only
///    that asset free (the log-optimal portfolio usually holds few assets, so growing the free
///    set `S` from one keeps the Newton systems small);
/// 2. on `S`, take the Newton step on the face `{Σ_{i∈S} d_i = 0}`:
///    `[H_SS 1; 1ᵀ 0] [d; ν] = [g_S; 0]` (a tiny ridge keeps it solvable for collinear assets),
///    with an exact line search on `[0, t_max]`, `t_max` the largest step keeping every weight
///    `≥ 0` (an asset that reaches 0 leaves `S`). `φ(t) = F(b + t d)` is concave, so its maximiser
///    is the root of `φ'(t) = (1/N) Σ_n q_n / (p_n + t q_n)` (`p_n = b·y_n`, `q_n = d·y_n`),
///    found by safeguarded Newton steps on `φ'`; no logarithm is taken until the end;
/// 3. when the face is nearly optimal (the spread of `g_i` on `S` at most 1 % of the gap
///    `max_i g_i − 1`, or `0.1 ·` [`BCRP_TOLERANCE`]), the asset outside `S` with the largest
///    `g_i > 1` enters `S`; if Newton wants to push it out again, a Frank–Wolfe step towards that
///    vertex with the same exact line search is taken instead;
/// 4. stop when `max_i g_i − 1 ≤` [`BCRP_TOLERANCE`] (the KKT conditions of the log-optimal
///    portfolio: `g_i ≤ 1` for all `i`, with equality on the support).
///
/// On NYSE(O) (36 assets, 5651 days) this takes 9 iterations and 6 gradient passes to a gap of
/// 2·10⁻¹²; starting from the uniform allocation with every asset free took 33.
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

/// The products `p_n = b·y_n` (summed over the free assets only: the other weights are 0), their
/// inverses `inv_n = 1/p_n`, and the gradient `g_i = (1/N) Σ_n y_{n,i} · inv_n` for every asset,
/// each `g_i` summed over the days in order. The days are taken four at a time so that `g` stays
/// in registers across them (the same additions in the same order as one day at a time).
fn gradient(rel: &[f64], m: usize, b: &[f64], free: &[bool], p: &mut [f64], inv: &mut [f64], g: &mut [f64]) {
    let n = p.len() as f64;
    let s = free_set(free);
    for ((pn, vn), y) in p.iter_mut().zip(inv.iter_mut()).zip(rel.chunks_exact(m)) {
        *pn = s.iter().map(|&i| b[i] * y[i]).sum();
        *vn = 1.0 / *pn;
    }
    g.fill(0.0);
    let (rows, invs) = (rel.chunks_exact(4 * m), inv.chunks_exact(4));
    let (rest, inv_rest) = (rows.remainder(), invs.remainder());
    for (y4, v) in rows.zip(invs) {
        let (y0, y1, y2, y3) = (&y4[..m], &y4[m..2 * m], &y4[2 * m..3 * m], &y4[3 * m..]);
        for i in 0..m {
            g[i] = (((g[i] + y0[i] * v[0]) + y1[i] * v[1]) + y2[i] * v[2]) + y3[i] * v[3];
        }
    }
    for (y, &v) in rest.chunks_exact(m).zip(inv_rest) {
        for (gi, yi) in g.iter_mut().zip(y) {
            *gi += yi * v;
        }
    }
    g.iter_mut().for_each(|gi| *gi /= n);
}

/// `F(b) = (1/N) Σ_n ln p_n` from the products `p_n = b·y_n`: the logarithm of each product of
/// eight consecutive `p_n` (one `ln` instead of eight), or of each `p_n` in a block whose product
/// is not a normal number (overflow or underflow).
fn mean_log(p: &[f64]) -> f64 {
    let mut total = 0.0;
    for c in p.chunks(8) {
        let prod: f64 = c.iter().product();
        total += if prod.is_normal() {
            prod.ln()
        } else {
            c.iter().map(|x| x.ln()).sum()
        };
    }
    total / p.len() as f64
}

/// The free set `{i : free[i]}` in ascending order.
fn free_set(free: &[bool]) -> Vec<usize> {
    (0..free.len()).filter(|&i| free[i]).collect()
}

/// The asset of the largest gradient entry (the lowest index among ties).
fn argmax(g: &[f64]) -> usize {
    (0..g.len()).fold(0, |k, i| if g[i] > g[k] { i } else { k })
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
        let mut means = vec![0.0; m];
        for y in relatives.chunks_exact(m) {
            for (a, yi) in means.iter_mut().zip(y) {
                *a += yi;
            }
        }
        let first = argmax(&means);
        let mut b = vec![0.0; m];
        b[first] = 1.0;
        let mut free = vec![false; m];
        free[first] = true;
        let mut p = vec![0.0; days];
        let mut q = vec![0.0; days];
        let mut inv = vec![0.0; days];
        let mut g = vec![0.0; m];
        let mut trial = vec![0.0; m];
        let mut entered: Option<usize> = None;
        let mut iterations = 0;
        gradient(relatives, m, &b, &free, &mut p, &mut inv, &mut g);
        while iterations < BCRP_MAX_ITERATIONS {
            let gap = g.iter().fold(f64::NEG_INFINITY, |a, &x| a.max(x)) - 1.0;
            if gap <= BCRP_TOLERANCE {
                break;
            }
            iterations += 1;
            let s = free_set(&free);
            let (gmin, gmax) = s.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &i| {
                (lo.min(g[i]), hi.max(g[i]))
            });
            // The face is solved well enough to let an asset in once its spread is small
            // against the gap; the last face is solved to 0.1 · tolerance.
            let face_optimal = gmax - gmin <= (0.1 * BCRP_TOLERANCE).max(FACE_FRACTION * gap);
            let d = if face_optimal {
                None
            } else {
                newton_direction(relatives, m, &inv, &g, &s)
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
                            let j = argmax(&g);
                            let moved = frank_wolfe_step(relatives, m, &p, &mut q, &mut b, j);
                            free[j] = true;
                            entered = None;
                            gradient(relatives, m, &b, &free, &mut p, &mut inv, &mut g);
                            if !moved {
                                break;
                            }
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
                let j = entered.unwrap_or_else(|| argmax(&g));
                let moved = frank_wolfe_step(relatives, m, &p, &mut q, &mut b, j);
                free[j] = true;
                if let Some(i) = blocking.filter(|&i| i != j && b[i] <= 0.0) {
                    free[i] = false;
                }
                entered = None;
                gradient(relatives, m, &b, &free, &mut p, &mut inv, &mut g);
                if !moved {
                    break;
                }
                continue;
            }
            entered = None;
            for (qn, y) in q.iter_mut().zip(relatives.chunks_exact(m)) {
                *qn = s.iter().zip(&d).map(|(&i, di)| di * y[i]).sum();
            }
            let t = exact_step(&p, &q, t_max);
            if t <= 0.0 {
                // No ascent along d (rounding): finish with the Frank–Wolfe fallback.
                let j = argmax(&g);
                let moved = frank_wolfe_step(relatives, m, &p, &mut q, &mut b, j);
                free[j] = true;
                gradient(relatives, m, &b, &free, &mut p, &mut inv, &mut g);
                if !moved {
                    break;
                }
                continue;
            }
            trial.copy_from_slice(&b);
            for (k, &i) in s.iter().enumerate() {
                trial[i] = (b[i] + t * d[k]).max(0.0);
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
            gradient(relatives, m, &b, &free, &mut p, &mut inv, &mut g);
        }
        let optimality_gap = (g.iter().fold(f64::NEG_INFINITY, |a, &x| a.max(x)) - 1.0).max(0.0);
        Ok(Bcrp {
            // `p` is current: every change of `b` above is followed by `gradient`.
            mean_log_return: mean_log(&p),
            weights: b,
            optimality_gap,
            iterations,
        })
    }
}

/// The maximiser on `[0, t_max]` of the concave `φ(t) = (1/N) Σ_n ln(p_n + t q_n)`: `t_max` when
/// `φ'(t_max) ≥ 0`, else the root of `φ'(t) = (1/N) Σ_n q_n / (p_n + t q_n)` by Newton steps on
/// `φ'` (`φ'' = −(1/N) Σ_n q_n² / (p_n + t q_n)²`) from `t = min(1, t_max)` (the outer Newton
/// step), kept inside the bracket `[lo, hi]` (`φ'(lo) > 0 > φ'(hi)`) and bisecting when a step
/// leaves it, until a step moves `t` by at most `10⁻¹³·t`. Returns 0 when `φ'(0) ≤ 0`.
fn exact_step(p: &[f64], q: &[f64], t_max: f64) -> f64 {
    let (d0, _) = slope(p, q, 0.0);
    if d0.is_nan() || d0 <= 0.0 {
        return 0.0;
    }
    let (mut lo, mut hi) = (0.0_f64, t_max);
    let mut t = t_max.min(1.0);
    for _ in 0..100 {
        let (d1, d2) = slope(p, q, t);
        if d1 >= 0.0 && t == t_max {
            return t_max; // ascending up to the boundary: a weight reaches 0
        }
        if d1 > 0.0 {
            lo = t;
        } else if d1 < 0.0 {
            hi = t;
        } else {
            return t;
        }
        let newton = t - d1 / d2;
        if newton > lo && newton < hi && d2 < 0.0 {
            if (newton - t).abs() <= 1e-13 * t {
                return newton;
            }
            t = newton;
        } else {
            if hi - lo <= 1e-13 * hi {
                return lo;
            }
            t = 0.5 * (lo + hi);
        }
    }
    lo
}

/// `(N·φ'(t), N·φ''(t)) = (Σ_n r_n, −Σ_n r_n²)` with `r_n = q_n / (p_n + t q_n)`, summed in four
/// interleaved partial sums (`n mod 4`, the days past the last multiple of 4 added to the first)
/// combined as `(s_0 + s_1) + (s_2 + s_3)`, so the divisions overlap.
fn slope(p: &[f64], q: &[f64], t: f64) -> (f64, f64) {
    let mut d1 = [0.0; 4];
    let mut d2 = [0.0; 4];
    let (pc, qc) = (p.chunks_exact(4), q.chunks_exact(4));
    let (pr, qr) = (pc.remainder(), qc.remainder());
    for (p4, q4) in pc.zip(qc) {
        for l in 0..4 {
            let r = q4[l] / (p4[l] + t * q4[l]);
            d1[l] += r;
            d2[l] -= r * r;
        }
    }
    for (&pn, &qn) in pr.iter().zip(qr) {
        let r = qn / (pn + t * qn);
        d1[0] += r;
        d2[0] -= r * r;
    }
    (
        (d1[0] + d1[1]) + (d1[2] + d1[3]),
        (d2[0] + d2[1]) + (d2[2] + d2[3]),
    )
}

/// Newton direction on the face of the free set `s`: solves `[H_SS 1; 1ᵀ 0][d; ν] = [g_S; 0]`.
///
/// `inv` holds `1/p_n` for every day (from [`gradient`]).
fn newton_direction(rel: &[f64], m: usize, inv: &[f64], g: &[f64], s: &[usize]) -> Option<Vec<f64>> {
    let (k, days) = (s.len(), inv.len());
    let n = days as f64;
    // H_ac = (1/N) Σ_n u_{a,n} u_{c,n} with u_{a,n} = y_{n,s_a} / p_n: the free columns of the
    // scaled relatives, one contiguous row per asset, then one dot product per entry of the upper
    // triangle.
    let mut u = vec![0.0; k * days];
    for (nn, (y, &v)) in rel.chunks_exact(m).zip(inv).enumerate() {
        for (a, &i) in s.iter().enumerate() {
            u[a * days + nn] = y[i] * v;
        }
    }
    let mut acc = vec![0.0; k * k];
    for a in 0..k {
        for c in a..k {
            acc[a * k + c] = dot4(&u[a * days..(a + 1) * days], &u[c * days..(c + 1) * days]);
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

/// `Σ_n a_n b_n` in four interleaved partial sums, combined as in [`slope`].
fn dot4(a: &[f64], b: &[f64]) -> f64 {
    let mut acc = [0.0; 4];
    let (ac, bc) = (a.chunks_exact(4), b.chunks_exact(4));
    let (ar, br) = (ac.remainder(), bc.remainder());
    for (a4, b4) in ac.zip(bc) {
        for l in 0..4 {
            acc[l] += a4[l] * b4[l];
        }
    }
    for (x, y) in ar.iter().zip(br) {
        acc[0] += x * y;
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3])
}

/// Moves `b` towards vertex `e_j` by the exact maximiser of the concave
/// `φ(t) = F((1 − t) b + t e_j)` on `[0, 1]`: with `p_n = b·y_n` (given) and
/// `q_n = y_{n,j} − p_n`, `φ'(t) = (1/N) Σ_n q_n / (p_n + t q_n)`, the function of
/// [`exact_step`]. `q` is scratch of `p`'s length. Returns whether `b` moved (`t > 0`).
fn frank_wolfe_step(rel: &[f64], m: usize, p: &[f64], q: &mut [f64], b: &mut [f64], j: usize) -> bool {
    for ((qn, y), &pn) in q.iter_mut().zip(rel.chunks_exact(m)).zip(p) {
        *qn = y[j] - pn;
    }
    let t = exact_step(p, q, 1.0);
    for (i, bi) in b.iter_mut().enumerate() {
        *bi *= 1.0 - t;
        if i == j {
            *bi += t;
        }
    }
    t > 0.0
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
