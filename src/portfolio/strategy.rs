//! The online-strategy interface fed one day at a time, its argument checks and the look-back
//! buffer of the window-based strategies.
//!
//! A strategy chooses the allocation of day `n` having observed the relatives of days `0 … n−1`
//! only (universal-portfolios' timing, `Algo.weights`: `B[t]` is fixed before `x_t` is revealed).

use crate::error::{Error, Result};

/// An online portfolio-selection strategy, fed one day at a time: on day `n` it chooses an
/// allocation having observed the relatives of days `0 … n−1` only.
///
/// The simulator ([`simulate`](super::simulate)) drives it as
///
/// ```text
/// reset(m)
/// for n in 0..N:  weights(a_n);  observe(y_n)
/// ```
///
/// so a stateful strategy updates its state in [`observe`](Self::observe) in O(its window) per
/// day instead of re-reading the whole history. [`weights`](Self::weights) must not change the
/// state: calling it twice between two observations gives the same allocation.
pub trait OnlineStrategy {
    /// A short human-readable name with the parameters (used in tables and plots).
    fn name(&self) -> String;

    /// Forgets everything observed so far and prepares for a market of `assets` assets.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for `assets = 0`; [`Error::ShapeMismatch`] when a strategy
    /// fitted on another number of assets (a fixed portfolio) is reset for `assets`.
    fn reset(&mut self, assets: usize) -> Result<()>;

    /// Writes the allocation of the next day (day `n`, with days `0 … n−1` observed) into `out`.
    ///
    /// The result must be a point of the probability simplex (`a_i ≥ 0`, `Σ a_i = 1`).
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] when `out.len()` differs from the number of assets of the last
    /// [`reset`](Self::reset) (or before any reset).
    fn weights(&mut self, out: &mut [f64]) -> Result<()>;

    /// Reveals the relatives `y_n` of day `n` (`relatives.len()` = assets), the day whose
    /// allocation was asked last.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] for a wrong length (or before any reset), [`Error::NonFinite`] /
    /// [`Error::InvalidParameter`] (naming the day and asset) for a non-finite or non-positive
    /// relative.
    fn observe(&mut self, relatives: &[f64]) -> Result<()>;

    /// `true` when [`weights`](Self::weights) writes the same allocation on every day and
    /// [`observe`](Self::observe) only checks its argument (a fixed portfolio: CRP, BCRP, the
    /// best asset). [`simulate`](super::simulate) then asks for the allocation once and does not
    /// call `observe` on the days it has already checked; the allocation is still checked on
    /// every day it trades. Default `false`.
    fn constant_allocation(&self) -> bool {
        false
    }

    /// `true` when [`weights`](Self::weights) writes, from day 1 on, the drifted allocation of the
    /// day before, `a_n = a_{n−1} ⊙ y_{n−1} / (a_{n−1} · y_{n−1})` computed as
    /// [`cost::drift`](super::cost::drift) computes it, and [`observe`](Self::observe) only
    /// checks its argument besides drifting (buy and hold). [`simulate`](super::simulate) then
    /// asks for the allocation of day 0 only and trades the account's own drifted weights on
    /// the later days (bit for bit what the strategy would write, so the turnover is exactly 0),
    /// without calling `observe` on the days it has already checked; the strategy's state is
    /// left at day 0. Default `false`.
    fn holds_drifted(&self) -> bool {
        false
    }

    /// `true` when the strategy may keep part of the wealth in cash (relative 1 every day):
    /// [`weights`](Self::weights) then writes `assets + 1` entries on the simplex, the assets'
    /// weights and, last, the cash weight, and [`simulate`](super::simulate) trades them through
    /// a cash account ([`Account::with_cash`](super::Account::with_cash): moving wealth between
    /// an asset and cash is charged once). [`observe`](Self::observe) still gets the `assets`
    /// relatives of the market. Default `false`.
    fn holds_cash(&self) -> bool {
        false
    }
}

/// Checks `assets ≥ 1` (the shared argument check of [`OnlineStrategy::reset`]).
pub(crate) fn check_assets(assets: usize) -> Result<()> {
    if assets == 0 {
        Err(Error::param("assets", 0, "at least one asset is required"))
    } else {
        Ok(())
    }
}

/// Checks an allocation output of a strategy reset for `assets` assets.
pub(crate) fn check_out(out: &[f64], assets: usize) -> Result<()> {
    if assets == 0 || out.len() != assets {
        Err(Error::shape(
            "allocation output (assets of the last reset)",
            assets,
            out.len(),
        ))
    } else {
        Ok(())
    }
}

/// Checks one observed day: `assets` entries, every one finite and `> 0`; `day` is its index,
/// for error messages.
pub(crate) fn check_day(y: &[f64], assets: usize, day: usize) -> Result<()> {
    if assets == 0 || y.len() != assets {
        return Err(Error::shape(
            "observed relatives (assets of the last reset)",
            assets,
            y.len(),
        ));
    }
    super::check_rows(y, assets, day)
}

/// The last `capacity` observed days of relatives, oldest first: the look-back buffer of the
/// window-based strategies (OLMAR, momentum, …). Pushing a day beyond the capacity drops the
/// oldest one.
#[derive(Clone, Debug, Default)]
pub struct Window {
    assets: usize,
    capacity: usize,
    rows: std::collections::VecDeque<f64>,
}

impl Window {
    /// An empty window keeping at most `capacity` days of `assets` relatives each.
    pub fn new(assets: usize, capacity: usize) -> Window {
        Window {
            assets,
            capacity,
            rows: std::collections::VecDeque::with_capacity(assets * capacity),
        }
    }

    /// Appends day `y` (`assets` entries), dropping the oldest day when full.
    pub fn push(&mut self, y: &[f64]) {
        debug_assert_eq!(y.len(), self.assets);
        if self.capacity == 0 {
            return;
        }
        if self.days() == self.capacity {
            self.rows.drain(..self.assets);
        }
        self.rows.extend(y.iter().copied());
    }

    /// Number of assets per day.
    pub fn assets(&self) -> usize {
        self.assets
    }

    /// Number of days held (at most the capacity).
    pub fn days(&self) -> usize {
        self.rows.len().checked_div(self.assets).unwrap_or(0)
    }

    /// Relative of asset `i` on the `k`-th held day, `k = 0` the oldest.
    pub fn get(&self, k: usize, i: usize) -> f64 {
        self.rows[k * self.assets + i]
    }

    /// Relative of asset `i` `lag` days back: `lag = 0` is the last observed day.
    pub fn back(&self, lag: usize, i: usize) -> f64 {
        self.get(self.days() - 1 - lag, i)
    }

    /// Forgets every day.
    pub fn clear(&mut self) {
        self.rows.clear();
    }
}

/// The price path of the window-based strategies that read prices rather than relatives (RMR,
/// RPRT, TCO2): the current price `p_n = Π_{k ≤ n} y_k` (1 before day 0) and a [`Window`] of the
/// last `capacity` prices `p_{n−capacity+1} … p_n`, oldest first.
#[derive(Clone, Debug, Default)]
pub struct PriceWindow {
    price: Vec<f64>,
    recent: Window,
}

impl PriceWindow {
    /// The price path of `assets` assets before day 0 (`p = 1`), keeping `capacity` prices.
    pub fn new(assets: usize, capacity: usize) -> PriceWindow {
        PriceWindow {
            price: vec![1.0; assets],
            recent: Window::new(assets, capacity),
        }
    }

    /// Advances the price by day `y`'s relatives, `p ← p ⊙ y`, and keeps it in the window.
    pub fn push(&mut self, y: &[f64]) {
        for (p, yi) in self.price.iter_mut().zip(y) {
            *p *= yi;
        }
        self.recent.push(&self.price);
    }

    /// The current price `p_n` of every asset.
    pub fn price(&self) -> &[f64] {
        &self.price
    }

    /// Number of assets.
    pub fn assets(&self) -> usize {
        self.recent.assets()
    }

    /// Number of prices held (at most the capacity).
    pub fn days(&self) -> usize {
        self.recent.days()
    }

    /// Price of asset `i` on the `k`-th held day, `k = 0` the oldest.
    pub fn get(&self, k: usize, i: usize) -> f64 {
        self.recent.get(k, i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn price_window_keeps_the_last_prices() {
        let mut p = PriceWindow::new(2, 2);
        for y in [[2.0, 1.0], [0.5, 3.0], [4.0, 1.0]] {
            p.push(&y);
        }
        assert_eq!(p.price(), [4.0, 3.0]);
        assert_eq!(
            (p.days(), p.get(0, 0), p.get(0, 1), p.get(1, 0)),
            (2, 1.0, 3.0, 4.0)
        );
    }

    #[test]
    fn window_keeps_the_last_days() {
        let mut w = Window::new(2, 2);
        assert_eq!(w.days(), 0);
        w.push(&[1.0, 2.0]);
        w.push(&[3.0, 4.0]);
        w.push(&[5.0, 6.0]);
        assert_eq!((w.assets(), w.days()), (2, 2));
        assert_eq!((w.get(0, 0), w.back(0, 1)), (3.0, 6.0));
        w.clear();
        assert_eq!(w.days(), 0);
        let mut none = Window::new(2, 0);
        none.push(&[1.0, 1.0]);
        assert_eq!(none.days(), 0);
    }

    #[test]
    fn argument_checks() {
        assert!(check_assets(0).is_err() && check_assets(1).is_ok());
        assert!(check_out(&[0.0; 2], 2).is_ok() && check_out(&[0.0; 2], 3).is_err());
        assert!(check_out(&[], 0).is_err());
        assert!(check_day(&[1.0, 1.0], 2, 0).is_ok());
        assert!(check_day(&[1.0, 0.0], 2, 0).is_err() && check_day(&[1.0], 2, 0).is_err());
    }
}
