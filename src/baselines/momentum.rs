//! Long-only time-series momentum: a trivial reader of the same price window the learned policy
//! reads (Moskowitz, Ooi & Pedersen 2012, "Time series momentum", J. Financial Economics 104(2),
//! 228–250, in its simplest long-only form).
//!
//! On day `n`, with `W` the look-back window, asset `i`'s trailing return is
//!
//! ```text
//! r_i = Π_{k = n−W}^{n−1} y_{k,i} − 1          (its price v_{n−1} / v_{n−W−1} − 1)
//! ```
//!
//! and the rule holds equal weights on the assets with `r_i > 0`:
//! `a_i = 1[r_i > 0] / #{j : r_j > 0}`, rebalanced daily. When no asset has a positive trailing
//! return (or on day 0, before any history) it holds Equal CRP, since the simplex has no cash.
//! With fewer than `W` days of history the window is what there is.
//!
//! A back-test usually starts in the middle of a series; [`Momentum::with_prelude`] hands it
//! the days before the back-test, so that on the first test day it reads the same window a
//! learned policy reads.

use super::{check_assets, check_day, check_out, check_relatives, OnlineStrategy, Window};
use crate::error::{Error, Result};

/// Long-only time-series momentum with look-back `window` days.
#[derive(Clone, Debug)]
pub struct Momentum {
    window: usize,
    /// `[day][asset]` relatives of the days before the back-test's first day.
    prelude: Vec<f64>,
    /// Assets of the prelude (0 without one).
    prelude_assets: usize,
    /// The last `window` days seen, the prelude first.
    recent: Window,
    seen: usize,
}

impl Momentum {
    /// Momentum over the last `window` days (the issue's rule: 20).
    ///
    /// # Errors
    /// `window = 0`.
    pub fn new(window: usize) -> Result<Self> {
        if window == 0 {
            return Err(Error::param("momentum window", 0, "must be at least 1 day"));
        }
        Ok(Momentum {
            window,
            prelude: Vec::new(),
            prelude_assets: 0,
            recent: Window::default(),
            seen: 0,
        })
    }

    /// The same rule, seeing `prelude` (`[day][asset]` relatives of the days just before the
    /// back-test) as history before the back-test's day 0. Only the last `window` days are kept.
    ///
    /// # Errors
    /// A prelude that is not a whole number of days of finite positive relatives.
    pub fn with_prelude(mut self, prelude: &[f64], assets: usize) -> Result<Self> {
        let days = check_relatives(prelude, assets)?;
        let keep = days.min(self.window);
        self.prelude = prelude[(days - keep) * assets..].to_vec();
        self.prelude_assets = if keep == 0 { 0 } else { assets };
        Ok(self)
    }

    /// The look-back window `W`.
    pub fn window(&self) -> usize {
        self.window
    }
}

impl OnlineStrategy for Momentum {
    fn name(&self) -> String {
        format!("Momentum ({} days)", self.window)
    }

    fn reset(&mut self, assets: usize) -> Result<()> {
        check_assets(assets)?;
        if self.prelude_assets != 0 && self.prelude_assets != assets {
            return Err(Error::shape(
                "assets of the momentum prelude",
                self.prelude_assets,
                assets,
            ));
        }
        self.recent = Window::new(assets, self.window);
        for y in self.prelude.chunks_exact(assets) {
            self.recent.push(y);
        }
        self.seen = 0;
        Ok(())
    }

    fn weights(&mut self, out: &mut [f64]) -> Result<()> {
        let assets = self.recent.assets();
        check_out(out, assets)?;
        // Trailing log-return per asset over the available window, oldest day first.
        out.fill(0.0);
        for k in 0..self.recent.days() {
            for (i, o) in out.iter_mut().enumerate() {
                *o += self.recent.get(k, i).ln();
            }
        }
        let winners = out.iter().filter(|&&r| r > 0.0).count();
        if winners == 0 {
            out.fill(1.0 / assets as f64);
        } else {
            for o in out.iter_mut() {
                *o = if *o > 0.0 { 1.0 / winners as f64 } else { 0.0 };
            }
        }
        Ok(())
    }

    fn observe(&mut self, y: &[f64]) -> Result<()> {
        check_day(y, self.recent.assets(), self.seen)?;
        self.recent.push(y);
        self.seen += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::baselines::{simulate, Fee};

    /// The allocation after observing `days` (`[day][asset]`) from a reset.
    fn after(s: &mut Momentum, days: &[f64], m: usize) -> Vec<f64> {
        s.reset(m).unwrap();
        for y in days.chunks_exact(m) {
            s.observe(y).unwrap();
        }
        let mut a = vec![0.0; m];
        s.weights(&mut a).unwrap();
        a
    }

    #[test]
    fn holds_the_assets_that_went_up_over_the_window() {
        let mut s = Momentum::new(2).unwrap();
        // Asset 0 up twice, asset 1 down then up (net down), asset 2 up then down (net up).
        let h = [1.1, 0.9, 1.2, 1.1, 1.05, 0.9];
        assert_eq!(after(&mut s, &h, 3), [0.5, 0.0, 0.5]);
        // Day 0: no history, Equal CRP.
        assert_eq!(after(&mut s, &[], 3), [1.0 / 3.0; 3]);
        // Only losers: Equal CRP.
        assert_eq!(
            after(&mut s, &[0.9, 0.95, 0.99, 0.9, 0.95, 0.99], 3),
            [1.0 / 3.0; 3]
        );
    }

    #[test]
    fn window_reads_only_the_last_w_days() {
        let mut s = Momentum::new(1).unwrap();
        // Asset 0 rose a lot long ago, fell yesterday; asset 1 rose a little yesterday.
        assert_eq!(after(&mut s, &[2.0, 1.0, 0.99, 1.01], 2), [0.0, 1.0]);
    }

    #[test]
    fn prelude_is_the_history_before_day_zero() {
        let pre = [1.1, 0.9, 1.1, 0.9];
        let test = [1.0, 1.0, 1.0, 1.0];
        let mut with = Momentum::new(3).unwrap().with_prelude(&pre, 2).unwrap();
        assert_eq!(after(&mut with, &[], 2), [1.0, 0.0]);
        // Same as a strategy that saw prelude and test as one history.
        let mut plain = Momentum::new(3).unwrap();
        let mut joined = pre.to_vec();
        joined.extend_from_slice(&test[..2]);
        assert_eq!(after(&mut with, &test[..2], 2), after(&mut plain, &joined, 2));
        let bt = simulate(&mut with, &test, 2, Fee::Exact(0.0025)).unwrap();
        assert_eq!(bt.wealth.len(), 2);
        // The prelude fixes the number of assets.
        assert!(with.reset(3).is_err());
    }

    #[test]
    fn rejects_bad_input() {
        assert!(Momentum::new(0).is_err());
        assert!(Momentum::new(3)
            .unwrap()
            .with_prelude(&[1.0, f64::NAN], 2)
            .is_err());
        let mut s = Momentum::new(3).unwrap();
        s.reset(2).unwrap();
        assert!(s.observe(&[1.0, 1.0, 1.0]).is_err());
        assert!(s.weights(&mut [0.0; 3]).is_err());
    }
}
