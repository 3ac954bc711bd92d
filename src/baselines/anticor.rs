//! Anticor: the anti-correlation heuristic (Borodin, El-Yaniv & Gogan 2004), as universal-portfolios
//! 0.4.17 computes it.
//!
//! A. Borodin, R. El-Yaniv and V. Gogan, "Can we learn to beat the best stock", Journal of
//! Artificial Intelligence Research 21, 579–594, 2004 (Algorithm Anticor_w). With window `w`, after
//! day `t` the last `2w` relatives are split into the older window `X_old = y_{t−2w+1 … t−w}` and
//! the recent window `X_rec = y_{t−w+1 … t}`. With population moments over the `w` days of each
//! window (`μ_i` the mean of asset `i` in the recent window):
//!
//! ```text
//! M(i, j)     = (E[rec_i · old_j] − E[rec_i] E[old_j]) / √(D[rec_i] D[old_j]),   D[x] = E[x²] − E[x]²
//! claim(i→j)  = M(i, j) + |M(i, i)|·[M(i, i) < 0] + |M(j, j)|·[M(j, j) < 0]
//!               if i ≠ j, μ_i > μ_j and M(i, j) > 0, else 0 (a NaN claim counts as 0)
//! transfer    = b_t(i) · claim(i→j) / Σ_k claim(i→k)    (0 for a row without claims)
//! b_{t+1}(i)  = b_t(i) + Σ_j transfer(j→i) − Σ_j transfer(i→j)
//! ```
//!
//! As in the package (and unlike the paper's `Mcor(i, j)`, which pairs older `i` with recent `j`),
//! `M(i, j)` correlates the *recent* window of `i` with the *older* window of `j`, relatives are
//! used as they are (not their logarithms), and `b_t` is the previous target allocation (not the
//! drifted one). `b` is uniform until `2w` days have been seen. universal-portfolios' default is
//! `w = 30`.
//!
//! The window means are kept as pandas' rolling means (running sums with Kahan compensation, and
//! the exact value when a window holds one repeated value), so that exact ties of `μ` and zero
//! variances (an unchanged price over a whole window, frequent in NYSE) come out as in the package;
//! summing each window afresh changes the NYSE(N) wealth by 2.6 %. O(m²) per day.
//!
//! The `m²` rolling means of `rec_i · old_j` and the `m²` entries of `M` are the whole cost (a
//! division, a square root and a division per pair and day). They are kept structure-of-arrays
//! and updated by loops over contiguous slices without branches (masks and selects), which the
//! compiler vectorises; each floating-point operation is the one of the scalar, conditional form,
//! in the same order, so the allocations are the same bits as a plain per-pair implementation.

use super::{check_assets, check_day, check_out, OnlineStrategy};
use crate::error::{Error, Result};
use serde::Serialize;

/// universal-portfolios' default window of Anticor.
pub const ANTICOR_DEFAULT_WINDOW: usize = 30;

/// The parameters of [`Anticor`] (recorded in a run's configuration).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct AnticorParams {
    /// Window `w ≥ 2` (days per correlation window; two windows are compared).
    pub window: usize,
}

/// Anticor with window `w`; see the [module documentation](self).
///
/// The hot loop is the update of the `m²` rolling means of `rec_i · old_j` every day; they are
/// kept structure-of-arrays (`RollingMeans`) over a flat ring of the last `2w + 1` days, so a
/// day costs a few floating-point operations per pair and no allocation.
#[derive(Clone, Debug)]
pub struct Anticor {
    window: usize,
    m: usize,
    b: Vec<f64>,
    seen: usize,
    /// The last `2w + 1` days, day `t` in row `t mod (2w + 1)`.
    ring: Vec<f64>,
    ex: RollingMeans,
    ex2: RollingMeans,
    ey: RollingMeans,
    ey2: RollingMeans,
    exy: RollingMeans,
    work: Workspace,
}

/// Per-day buffers of the transfer step (reused, never reallocated after `reset`).
#[derive(Clone, Debug, Default)]
struct Workspace {
    mu: Vec<f64>,
    d_rec: Vec<f64>,
    mu_old: Vec<f64>,
    d_old: Vec<f64>,
    diag: Vec<f64>,
    /// `M(i, j)`, then the claims, `[i][j]`.
    claim: Vec<f64>,
    transfer: Vec<f64>,
    next: Vec<f64>,
    /// Σ_j claim(i → j) per row.
    total: Vec<f64>,
    /// |M(i, i)|·[M(i, i) < 0].
    extra: Vec<f64>,
}

impl Anticor {
    /// Anticor with window `window` ≥ 2 (a window of one day has no variance).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] (`window`) outside that range.
    pub fn new(window: usize) -> Result<Anticor> {
        if window < 2 {
            return Err(Error::param("window", window, "the window must be ≥ 2"));
        }
        Ok(Anticor {
            window,
            m: 0,
            b: Vec::new(),
            seen: 0,
            ring: Vec::new(),
            ex: RollingMeans::default(),
            ex2: RollingMeans::default(),
            ey: RollingMeans::default(),
            ey2: RollingMeans::default(),
            exy: RollingMeans::default(),
            work: Workspace::default(),
        })
    }

    /// The parameters.
    pub fn params(&self) -> AnticorParams {
        AnticorParams { window: self.window }
    }

    /// Feeds day `t = seen − 1` (already in the ring) to the rolling means.
    fn update_means(&mut self) {
        let (m, w, t) = (self.m, self.window, self.seen - 1);
        let cap = 2 * w + 1;
        let (r0, rw, r2w) = (t % cap, (t + cap - w) % cap, (t + cap - 2 * w) % cap);
        let ring = &self.ring;
        let x0 = &ring[r0 * m..(r0 + 1) * m];
        let xw = &ring[rw * m..(rw + 1) * m];
        let x2w = &ring[r2w * m..(r2w + 1) * m];
        // The recent window: day t enters, day t − w leaves (once the window is full).
        let gone = t >= w;
        self.ex.begin(gone);
        self.ex2.begin(gone);
        for i in 0..m {
            let (now, old) = (x0[i], xw[i]);
            self.ex.push(i, now, gone.then_some(old));
            self.ex2.push(i, now * now, gone.then_some(old * old));
        }
        if t < w {
            return;
        }
        // The older window: day t − w enters, day t − 2w leaves.
        let gone = t >= 2 * w;
        self.ey.begin(gone);
        self.ey2.begin(gone);
        for i in 0..m {
            let (now, old) = (xw[i], x2w[i]);
            self.ey.push(i, now, gone.then_some(old));
            self.ey2.push(i, now * now, gone.then_some(old * old));
        }
        // rec_i · old_j: x_t(i) x_{t−w}(j) enters, x_{t−w}(i) x_{t−2w}(j) leaves.
        self.exy.begin(gone);
        for i in 0..m {
            let (a, g) = (x0[i], xw[i]);
            let range = i * m..(i + 1) * m;
            if gone {
                self.exy.push_row_replacing(range, a, xw, g, x2w);
            } else {
                self.exy.push_row(range, a, xw);
            }
        }
    }

    /// The transfer step from the rolling statistics of the last `2w` observed days.
    ///
    /// Written as branch-free passes over whole rows (the compiler vectorises them): every `M(i, j)`
    /// is computed, and a claim is selected rather than branched to, which gives the same bits as
    /// the conditional form (`x + 0 = x` for the positive claims, and a row's claims are summed in
    /// the same order `j = 0, 1, …`, the rows side by side).
    fn step(&mut self) {
        let m = self.m;
        let Workspace {
            mu,
            d_rec,
            mu_old,
            d_old,
            diag,
            claim,
            transfer,
            next,
            total,
            extra,
            ..
        } = &mut self.work;
        for i in 0..m {
            mu[i] = self.ex.mean(i);
            d_rec[i] = self.ex2.mean(i) - mu[i] * mu[i];
            mu_old[i] = self.ey.mean(i);
            d_old[i] = self.ey2.mean(i) - mu_old[i] * mu_old[i];
        }
        // M(i, j) for every pair, row by row, into `claim` (overwritten by the claims below).
        self.exy.means_into(claim);
        for i in 0..m {
            corr_row(&mut claim[i * m..(i + 1) * m], mu[i], d_rec[i], mu_old, d_old);
        }
        for i in 0..m {
            diag[i] = claim[i * m + i];
            // The diagonal's contribution |M(i, i)|·[M(i, i) < 0] (adding 0 to a positive claim
            // leaves it unchanged).
            extra[i] = if diag[i] < 0.0 { diag[i].abs() } else { 0.0 };
        }
        // claim(i → j) = M(i, j) + extra_i + extra_j where i ≠ j, μ_i > μ_j and M(i, j) > 0, else
        // 0; numpy's nan_to_num (a claim is never NaN: M(i, j) > 0).
        for i in 0..m {
            claim_row(&mut claim[i * m..(i + 1) * m], i, mu, extra);
        }
        // Σ_j claim(i → j) for every row, each from 0 in the order j = 0, 1, ….
        row_totals(total, claim, m);
        for i in 0..m {
            let (bi, ti) = (self.b[i], total[i]);
            let row = &mut transfer[i * m..(i + 1) * m];
            if ti != 0.0 && !ti.is_nan() {
                share_row(row, &claim[i * m..(i + 1) * m], bi, ti);
            } else {
                row.fill(0.0);
            }
        }
        // b + (column sums) − (row sums), summed in numpy's order (rows one after the other for
        // the column sums, pairwise within a row for the row sums).
        next.fill(0.0);
        for row in transfer.chunks_exact(m) {
            add_row(next, row);
        }
        for (i, n) in next.iter_mut().enumerate() {
            *n = (self.b[i] + *n) - pairwise_sum(&transfer[i * m..(i + 1) * m]);
        }
        std::mem::swap(&mut self.b, next);
    }
}

/// `row[j] ← (row[j] − μ_i μ_old(j)) / √(D_rec(i) D_old(j))`: a row of `M` from the means of
/// `rec_i · old_j` (a free function over slices, so that the compiler knows they do not overlap and
/// vectorises the loop).
fn corr_row(row: &mut [f64], mi: f64, di: f64, mu_old: &[f64], d_old: &[f64]) {
    let n = row.len();
    let (mu_old, d_old) = (&mu_old[..n], &d_old[..n]);
    for j in 0..n {
        row[j] = (row[j] - mi * mu_old[j]) / (di * d_old[j]).sqrt();
    }
}

/// Row `i` of `M` into claims: `M(i, j) + extra_i + extra_j` (∞ as `f64::MAX`) where `i ≠ j`,
/// `μ_i > μ_j` and `M(i, j) > 0`, else 0, selected without branches.
fn claim_row(row: &mut [f64], i: usize, mu: &[f64], extra: &[f64]) {
    let n = row.len();
    let (mu, extra) = (&mu[..n], &extra[..n]);
    let (mi, ei) = (mu[i], extra[i]);
    for j in 0..n {
        let mij = row[j];
        // A kept claim is > 0, so min(c, MAX) is nan_to_num's +∞ → MAX and leaves others alone.
        let c = ((mij + ei) + extra[j]).min(f64::MAX);
        let keep = (mi > mu[j]) & (mij > 0.0);
        row[j] = if keep { c } else { 0.0 };
    }
    // i → i never claims (μ_i > μ_i is false anyway).
    row[i] = 0.0;
}

/// `total[i] = Σ_j claim[i·m + j]`, each row summed from 0 in the order `j = 0, 1, …` (the order
/// of the package's claims loop), [`TOTAL_ROWS`] rows side by side so that their sums stay in
/// registers (summing column by column through memory was a tenth of Anticor's time).
// `j` indexes eight rows at once.
#[allow(clippy::needless_range_loop)]
fn row_totals(total: &mut [f64], claim: &[f64], m: usize) {
    let mut rows = claim[..total.len() * m].chunks_exact(TOTAL_ROWS * m);
    let mut blocks = total.chunks_exact_mut(TOTAL_ROWS);
    for (t, block) in (&mut blocks).zip(&mut rows) {
        let row: [&[f64]; TOTAL_ROWS] = std::array::from_fn(|r| &block[r * m..(r + 1) * m]);
        let mut s = [0.0_f64; TOTAL_ROWS];
        for j in 0..m {
            for r in 0..TOTAL_ROWS {
                s[r] += row[r][j];
            }
        }
        t.copy_from_slice(&s);
    }
    for (t, row) in blocks
        .into_remainder()
        .iter_mut()
        .zip(rows.remainder().chunks_exact(m))
    {
        *t = row.iter().fold(0.0, |s, &c| s + c);
    }
}

/// Rows summed side by side by [`row_totals`].
const TOTAL_ROWS: usize = 8;

/// `row[j] ← b_i · claim[j] / total_i`, in the package's order (`(b_i · claim) / total`), except
/// where that product overflows: then `b_i · (claim[j] / total_i)`.
///
/// A claim can be `f64::MAX` (numpy's `nan_to_num` of an infinite `M(i, j)`, which a window with
/// an exactly zero variance and a rounding-noise covariance gives), and `b_i` can exceed 1 by an
/// ulp after the update's rounding (`1.0000000000000004` on NYSE(N) at `w = 2`). The package's
/// `b_i · MAX` is then `+∞`, the transfer `∞` (or `∞/∞ = NaN`), and every later allocation of the
/// run non-finite (NYSE(N), `w = 2`, day 6221): the package's figure is undefined there. The share
/// `claim / total` lies in `[0, 1]`, so `b_i · (claim / total)` is finite and is the transfer the
/// formula means; everywhere the package's product is finite the bits are the package's.
fn share_row(row: &mut [f64], claim: &[f64], bi: f64, ti: f64) {
    for (t, &c) in row.iter_mut().zip(claim) {
        let v = bi * c / ti;
        *t = if v.is_finite() { v } else { bi * (c / ti) };
    }
}

/// `acc[j] += row[j]`.
fn add_row(acc: &mut [f64], row: &[f64]) {
    for (a, r) in acc.iter_mut().zip(row) {
        *a += r;
    }
}

/// numpy's pairwise summation of a contiguous row (blocks of 8 partial sums up to 128 entries).
fn pairwise_sum(a: &[f64]) -> f64 {
    let n = a.len();
    if n < 8 {
        a.iter().fold(0.0, |s, x| s + x)
    } else if n <= 128 {
        let mut r = [0.0; 8];
        r.copy_from_slice(&a[..8]);
        let mut i = 8;
        while i < n - n % 8 {
            for (k, rk) in r.iter_mut().enumerate() {
                *rk += a[i + k];
            }
            i += 8;
        }
        let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for x in &a[i..] {
            res += x;
        }
        res
    } else {
        let mut n2 = n / 2;
        n2 -= n2 % 8;
        pairwise_sum(&a[..n2]) + pairwise_sum(&a[n2..])
    }
}

/// One row of a [`RollingMeans`] group, borrowed field by field.
struct Row<'a> {
    sum: &'a mut [f64],
    comp_add: &'a mut [f64],
    comp_remove: &'a mut [f64],
    same: &'a mut [f64],
    prev: &'a mut [f64],
}

/// Kahan-compensated removal of `g · z[j]` then addition of `a · x[j]` (pandas' `remove_mean`
/// then `add_mean`, in that order per series), with the run length of repeated values.
fn replace_row_products(row: Row<'_>, (a, x): (f64, &[f64]), (g, z): (f64, &[f64]), repeat: bool) {
    let n = row.sum.len();
    let Row {
        sum,
        comp_add,
        comp_remove,
        same,
        prev,
    } = row;
    let (add, remove, same, prev) = (
        &mut comp_add[..n],
        &mut comp_remove[..n],
        &mut same[..n],
        &mut prev[..n],
    );
    let (x, z) = (&x[..n], &z[..n]);
    for j in 0..n {
        let s = sum[j];
        let y = -(g * z[j]) - remove[j];
        let t = s + y;
        remove[j] = t - s - y;
        let s = t;
        let val = a * x[j];
        let y = val - add[j];
        let t = s + y;
        add[j] = t - s - y;
        sum[j] = t;
        let keep = u64::from(repeat & (val == prev[j])).wrapping_neg();
        same[j] = f64::from_bits(same[j].to_bits() & keep) + 1.0;
        prev[j] = val;
    }
}

/// Kahan-compensated addition of `a · x[j]` to running sums, with the run length of repeated
/// values (pandas' `add_mean`; `repeat`: the window held a value before).
fn add_row_products(
    sum: &mut [f64],
    comp: &mut [f64],
    same: &mut [f64],
    prev: &mut [f64],
    a: f64,
    x: &[f64],
    repeat: bool,
) {
    let n = sum.len();
    let (comp, same, prev, x) = (&mut comp[..n], &mut same[..n], &mut prev[..n], &x[..n]);
    for j in 0..n {
        let val = a * x[j];
        let s = sum[j];
        let y = val - comp[j];
        let t = s + y;
        comp[j] = t - s - y;
        sum[j] = t;
        // The run grows by one on a repeat and restarts at 1 otherwise: the run masked to +0 or
        // kept, plus 1 (a bit mask rather than a branch, so that the loop vectorises).
        let keep = u64::from(repeat & (val == prev[j])).wrapping_neg();
        same[j] = f64::from_bits(same[j].to_bits() & keep) + 1.0;
        prev[j] = val;
    }
}

/// Fixed-window rolling means of several series at once, each computed as pandas'
/// `rolling(w).mean()` computes it (running sums with separate Kahan compensations for added and
/// removed values, and the exact last value when the whole window holds one repeated value), so
/// that ties and zero variances come out as in universal-portfolios. Structure-of-arrays: every
/// series of a group shares its count of observations, and a day's update of a row of series is
/// a loop over contiguous arrays.
#[derive(Clone, Debug, Default)]
struct RollingMeans {
    /// Observations in the window (the same for every series of the group).
    nobs: usize,
    sum: Vec<f64>,
    comp_add: Vec<f64>,
    comp_remove: Vec<f64>,
    /// Length of the run of equal values ending at the last one (a small whole number, kept as
    /// `f64` so that the update loop vectorises with the sums).
    same: Vec<f64>,
    prev: Vec<f64>,
}

impl RollingMeans {
    /// `n` empty series.
    fn new(n: usize) -> RollingMeans {
        RollingMeans {
            nobs: 0,
            sum: vec![0.0; n],
            comp_add: vec![0.0; n],
            comp_remove: vec![0.0; n],
            same: vec![0.0; n],
            prev: vec![0.0; n],
        }
    }

    /// Starts a day on which every series gets one value, and (`replacing`) loses its oldest.
    fn begin(&mut self, replacing: bool) {
        if !replacing {
            self.nobs += 1;
        }
    }

    /// Series `k`: removes `gone` (the value leaving the window, if any), then adds `val`.
    #[inline(always)]
    fn push(&mut self, k: usize, val: f64, gone: Option<f64>) {
        let mut sum = self.sum[k];
        if let Some(g) = gone {
            let y = -g - self.comp_remove[k];
            let t = sum + y;
            self.comp_remove[k] = t - sum - y;
            sum = t;
        }
        let y = val - self.comp_add[k];
        let t = sum + y;
        self.comp_add[k] = t - sum - y;
        self.sum[k] = t;
        self.same[k] = if self.nobs > 1 && val == self.prev[k] {
            self.same[k] + 1.0
        } else {
            1.0
        };
        self.prev[k] = val;
    }

    /// Series `range` (a row of the `m × m` products) on a day that only adds: `a · x[j]`.
    fn push_row(&mut self, range: std::ops::Range<usize>, a: f64, x: &[f64]) {
        let repeat = self.nobs > 1;
        add_row_products(
            &mut self.sum[range.clone()],
            &mut self.comp_add[range.clone()],
            &mut self.same[range.clone()],
            &mut self.prev[range],
            a,
            x,
            repeat,
        );
    }

    /// Series `range` on a day that removes `g · z[j]` and adds `a · x[j]`.
    fn push_row_replacing(&mut self, range: std::ops::Range<usize>, a: f64, x: &[f64], g: f64, z: &[f64]) {
        let repeat = self.nobs > 1;
        replace_row_products(
            Row {
                sum: &mut self.sum[range.clone()],
                comp_add: &mut self.comp_add[range.clone()],
                comp_remove: &mut self.comp_remove[range.clone()],
                same: &mut self.same[range.clone()],
                prev: &mut self.prev[range],
            },
            (a, x),
            (g, z),
            repeat,
        );
    }

    /// Every series' mean into `out` (the caller only reads them once the windows are full).
    fn means_into(&self, out: &mut [f64]) {
        let n = self.nobs as f64;
        let (same, prev, sum) = (
            &self.same[..out.len()],
            &self.prev[..out.len()],
            &self.sum[..out.len()],
        );
        for k in 0..out.len() {
            let q = sum[k] / n;
            let full = u64::from(same[k] >= n).wrapping_neg();
            out[k] = f64::from_bits((prev[k].to_bits() & full) | (q.to_bits() & !full));
        }
    }

    /// The mean of series `k`'s window (the caller only reads it once the window is full).
    #[inline(always)]
    fn mean(&self, k: usize) -> f64 {
        if self.same[k] >= self.nobs as f64 {
            self.prev[k]
        } else {
            self.sum[k] / self.nobs as f64
        }
    }
}

impl Default for Anticor {
    /// `w = 30` (universal-portfolios 0.4.17).
    fn default() -> Anticor {
        Anticor::new(ANTICOR_DEFAULT_WINDOW).expect("the default window is valid")
    }
}

impl OnlineStrategy for Anticor {
    fn name(&self) -> String {
        format!("Anticor (w = {})", self.window)
    }

    fn reset(&mut self, assets: usize) -> Result<()> {
        check_assets(assets)?;
        let m = assets;
        self.m = m;
        self.b = crate::simplex::uniform(m);
        self.ring = vec![0.0; (2 * self.window + 1) * m];
        self.ex = RollingMeans::new(m);
        self.ex2 = RollingMeans::new(m);
        self.ey = RollingMeans::new(m);
        self.ey2 = RollingMeans::new(m);
        self.exy = RollingMeans::new(m * m);
        self.work = Workspace {
            mu: vec![0.0; m],
            d_rec: vec![0.0; m],
            mu_old: vec![0.0; m],
            d_old: vec![0.0; m],
            diag: vec![0.0; m],
            claim: vec![0.0; m * m],
            transfer: vec![0.0; m * m],
            next: vec![0.0; m],
            total: vec![0.0; m],
            extra: vec![0.0; m],
        };
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
        let r = self.seen % (2 * self.window + 1);
        self.ring[r * self.m..(r + 1) * self.m].copy_from_slice(y);
        self.seen += 1;
        self.update_means();
        if self.seen >= 2 * self.window {
            self.step();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniform_until_two_windows() {
        let mut a = Anticor::new(2).unwrap();
        a.reset(2).unwrap();
        let mut out = [0.0; 2];
        for y in [[1.1, 0.9], [0.9, 1.1], [1.2, 0.8]] {
            a.observe(&y).unwrap();
            a.weights(&mut out).unwrap();
            assert_eq!(out, [0.5, 0.5]);
        }
    }

    #[test]
    fn hand_checked_transfer() {
        // w = 2, older days (1, 2), (2, 1); recent days (3, 1), (4, 2) for assets (0, 1).
        // Recent means μ = (3.5, 1.5): only 0 → 1 can claim. rec_0 = (3, 4), old_1 = (2, 1):
        // M(0, 1) = (E[(6, 4)] − 3.5·1.5) / √(0.25·0.25) = (5 − 5.25)/0.25 = −1 < 0: no claim.
        // Swap the older window to (1, 1), (2, 2): old_1 = (1, 2), M(0, 1) = (5.5 − 5.25)/0.25 = 1;
        // M(0, 0) = corr(rec_0, old_0 = (1, 2)) = 1, M(1, 1) = corr((1, 2), (1, 2)) = 1: claim 1,
        // the whole weight 1/2 of asset 0 moves to asset 1.
        let mut a = Anticor::new(2).unwrap();
        a.reset(2).unwrap();
        for y in [[1.0, 1.0], [2.0, 2.0], [3.0, 1.0], [4.0, 2.0]] {
            a.observe(&y).unwrap();
        }
        let mut out = [0.0; 2];
        a.weights(&mut out).unwrap();
        assert!(
            (out[0] - 0.0).abs() < 1e-15 && (out[1] - 1.0).abs() < 1e-15,
            "{out:?}"
        );
        let mut a = Anticor::new(2).unwrap();
        a.reset(2).unwrap();
        for y in [[1.0, 2.0], [2.0, 1.0], [3.0, 1.0], [4.0, 2.0]] {
            a.observe(&y).unwrap();
        }
        a.weights(&mut out).unwrap();
        assert_eq!(out, [0.5, 0.5]);
    }

    /// Regression (NYSE(N), `w = 2`, day 6221): a claim of `f64::MAX` (an infinite `M(i, j)` from a
    /// zero variance) on a row whose weight exceeds 1 by an ulp overflowed `b_i · claim` to `+∞`,
    /// and the allocation became `(−∞, +∞)`.
    #[test]
    fn infinite_claim_on_a_weight_above_one_stays_finite() {
        // Asset 1's older window (1e-200, 2e-200) has E[x²] and E[x]² both underflowing to 0, so
        // D_old(1) = 0 while the covariance with asset 0's recent (2, 4) is 5e-201 > 0:
        // M(0, 1) = +∞, the claim 0 → 1 is MAX and the only one of row 0 (μ_0 = 3 > μ_1 = 1).
        let days = [[1.0, 1e-200], [1.0, 2e-200], [2.0, 1.0], [4.0, 1.0]];
        let mut a = Anticor::new(2).unwrap();
        a.reset(2).unwrap();
        for y in &days[..3] {
            a.observe(y).unwrap();
        }
        let (b0, b1) = (1.0000000000000004, -4.440892098500626e-16);
        a.b = vec![b0, b1];
        a.observe(&days[3]).unwrap();
        let mut out = [0.0; 2];
        a.weights(&mut out).unwrap();
        assert!(out.iter().all(|w| w.is_finite()), "{out:?}");
        // The whole weight of asset 0 moves to asset 1.
        assert_eq!(out, [0.0, b1 + b0]);
        // Where the package's product is finite its bits are kept.
        let mut row = [0.0; 3];
        share_row(&mut row, &[0.3, f64::MAX, 0.0], 0.7, 1.1);
        assert_eq!(row, [0.7 * 0.3 / 1.1, 0.7 * f64::MAX / 1.1, 0.0]);
        share_row(&mut row, &[0.0, f64::MAX, 1.0], b0, f64::MAX);
        assert_eq!(row, [0.0, b0, b0 * 1.0 / f64::MAX]);
        share_row(&mut row, &[0.3, 0.2, 0.1], 0.7, 0.6);
        assert_eq!(row, [0.7 * 0.3 / 0.6, 0.7 * 0.2 / 0.6, 0.7 * 0.1 / 0.6]);
    }

    #[test]
    fn rejects_bad_parameters() {
        assert!(Anticor::new(1).is_err());
        assert_eq!(Anticor::default().params().window, 30);
        let mut a = Anticor::default();
        assert!(a.reset(0).is_err());
    }
}
