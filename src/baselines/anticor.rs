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

use super::{check_assets, check_day, check_out, OnlineStrategy, Window};
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
#[derive(Clone, Debug)]
pub struct Anticor {
    window: usize,
    b: Vec<f64>,
    seen: usize,
    recent: Window,
    ex: Vec<RollingMean>,
    ex2: Vec<RollingMean>,
    ey: Vec<RollingMean>,
    ey2: Vec<RollingMean>,
    exy: Vec<RollingMean>,
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
            b: Vec::new(),
            seen: 0,
            recent: Window::default(),
            ex: Vec::new(),
            ex2: Vec::new(),
            ey: Vec::new(),
            ey2: Vec::new(),
            exy: Vec::new(),
        })
    }

    /// The parameters.
    pub fn params(&self) -> AnticorParams {
        AnticorParams { window: self.window }
    }

    /// Feeds day `t = seen − 1` (already pushed into `recent`) to the rolling means.
    fn update_means(&mut self) {
        let m = self.b.len();
        let w = self.window;
        let t = self.seen - 1;
        let held = self.recent.days();
        // lag 0 = day t, lag w = day t − w, lag 2w = day t − 2w.
        let x = |lag: usize, i: usize| self.recent.back(lag, i);
        for i in 0..m {
            let now = x(0, i);
            let gone = (t >= w).then(|| x(w, i));
            self.ex[i].push(now, gone);
            self.ex2[i].push(now * now, gone.map(|v| v * v));
            if t >= w {
                let old = x(w, i);
                let gone = (t >= 2 * w && held > 2 * w).then(|| x(2 * w, i));
                self.ey[i].push(old, gone);
                self.ey2[i].push(old * old, gone.map(|v| v * v));
            }
        }
        if t >= w {
            for i in 0..m {
                for j in 0..m {
                    let now = x(0, i) * x(w, j);
                    let gone = (t >= 2 * w).then(|| x(w, i) * x(2 * w, j));
                    self.exy[i * m + j].push(now, gone);
                }
            }
        }
    }

    /// The transfer step from the rolling statistics of the last `2w` observed days.
    fn step(&mut self) {
        let m = self.b.len();
        let mu: Vec<f64> = self.ex.iter().map(RollingMean::mean).collect();
        let d_rec: Vec<f64> = (0..m).map(|i| self.ex2[i].mean() - mu[i] * mu[i]).collect();
        let mu_old: Vec<f64> = self.ey.iter().map(RollingMean::mean).collect();
        let d_old: Vec<f64> = (0..m)
            .map(|j| self.ey2[j].mean() - mu_old[j] * mu_old[j])
            .collect();
        let mut corr = vec![0.0; m * m];
        for i in 0..m {
            for j in 0..m {
                corr[i * m + j] =
                    (self.exy[i * m + j].mean() - mu[i] * mu_old[j]) / (d_rec[i] * d_old[j]).sqrt();
            }
        }
        let mut claim = vec![0.0; m];
        let mut transfer = vec![0.0; m * m];
        for i in 0..m {
            let mii = corr[i * m + i];
            for (j, c) in claim.iter_mut().enumerate() {
                let mij = corr[i * m + j];
                let mjj = corr[j * m + j];
                *c = 0.0;
                if i != j && mu[i] > mu[j] && mij > 0.0 {
                    *c = mij;
                    if mii < 0.0 {
                        *c += mii.abs();
                    }
                    if mjj < 0.0 {
                        *c += mjj.abs();
                    }
                }
                // numpy's nan_to_num.
                if c.is_nan() {
                    *c = 0.0;
                } else if c.is_infinite() {
                    *c = f64::MAX.copysign(*c);
                }
            }
            let total: f64 = claim.iter().sum();
            if total != 0.0 && !total.is_nan() {
                for (t, c) in transfer[i * m..(i + 1) * m].iter_mut().zip(&claim) {
                    *t = self.b[i] * c / total;
                }
            }
        }
        // b + (column sums) − (row sums), summed in numpy's order (rows one after the other for
        // the column sums, pairwise within a row for the row sums).
        let mut next = vec![0.0; m];
        for row in transfer.chunks_exact(m) {
            for (n, t) in next.iter_mut().zip(row) {
                *n += t;
            }
        }
        for (i, n) in next.iter_mut().enumerate() {
            *n = (self.b[i] + *n) - pairwise_sum(&transfer[i * m..(i + 1) * m]);
        }
        self.b = next;
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

/// A fixed-window rolling mean computed as pandas' `rolling(w).mean()` computes it (running sums
/// with separate Kahan compensations for added and removed values, and the exact last value when
/// the whole window holds one repeated value), so that ties and zero variances come out as in
/// universal-portfolios.
#[derive(Clone, Debug, Default)]
struct RollingMean {
    nobs: usize,
    sum: f64,
    comp_add: f64,
    comp_remove: f64,
    same: usize,
    prev: f64,
}

impl RollingMean {
    /// Removes `gone` (the value leaving the window, if any), then adds `val`.
    fn push(&mut self, val: f64, gone: Option<f64>) {
        if let Some(g) = gone {
            self.nobs -= 1;
            let y = -g - self.comp_remove;
            let t = self.sum + y;
            self.comp_remove = t - self.sum - y;
            self.sum = t;
        }
        self.nobs += 1;
        let y = val - self.comp_add;
        let t = self.sum + y;
        self.comp_add = t - self.sum - y;
        self.sum = t;
        if self.nobs > 1 && val == self.prev {
            self.same += 1;
        } else {
            self.same = 1;
        }
        self.prev = val;
    }

    /// The mean of the window (the caller only reads it once the window is full).
    fn mean(&self) -> f64 {
        if self.same >= self.nobs {
            self.prev
        } else {
            self.sum / self.nobs as f64
        }
    }
}

impl Default for Anticor {
    /// `w = 30` (universal-portfolios 0.4.17).
    fn default() -> Anticor {
        Anticor {
            window: ANTICOR_DEFAULT_WINDOW,
            b: Vec::new(),
            seen: 0,
            recent: Window::default(),
            ex: Vec::new(),
            ex2: Vec::new(),
            ey: Vec::new(),
            ey2: Vec::new(),
            exy: Vec::new(),
        }
    }
}

impl OnlineStrategy for Anticor {
    fn name(&self) -> String {
        format!("Anticor (w = {})", self.window)
    }

    fn reset(&mut self, assets: usize) -> Result<()> {
        check_assets(assets)?;
        self.b = crate::simplex::uniform(assets);
        self.recent = Window::new(assets, 2 * self.window + 1);
        self.ex = vec![RollingMean::default(); assets];
        self.ex2 = vec![RollingMean::default(); assets];
        self.ey = vec![RollingMean::default(); assets];
        self.ey2 = vec![RollingMean::default(); assets];
        self.exy = vec![RollingMean::default(); assets * assets];
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
        self.recent.push(y);
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

    #[test]
    fn rejects_bad_parameters() {
        assert!(Anticor::new(1).is_err());
        assert_eq!(Anticor::default().params().window, 30);
        let mut a = Anticor::default();
        assert!(a.reset(0).is_err());
    }
}
