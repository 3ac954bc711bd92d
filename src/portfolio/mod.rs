//! The portfolio simulator: transaction costs, drift and the back-test loop, shared by the
//! classic baselines ([`crate::baselines`]) and the learned policies
//! ([`crate::envs::portfolio::run_policy`]).
//!
//! # Data and timing
//! Price relatives are passed as one flat slice in row-major `[day][asset]` order together with
//! the number of assets: `y[n·m + i] = v_{n,i} / v_{n−1,i}`, the close of asset `i` on day `n`
//! over its close on day `n − 1`. An [`OnlineStrategy`] chooses the allocation `a_n` of day `n`
//! seeing only the relatives of days `0 … n−1` (no look-ahead); this is the timing convention of
//! universal-portfolios (`Algo.weights`: `B[t]` is fixed before `x_t` is revealed).
//!
//! # Wealth and costs
//! An [`Account`] starts with wealth 1 and, on every day `n` ([`Account::trade`]),
//!
//! ```text
//! w'_{n−1}   = a_{n−1} ⊙ y_{n−1} / (a_{n−1} · y_{n−1})      drifted weights at the close of day n−1
//! turnover_n = Σ_i |a_{n,i} − w'_{n−1,i}|                    (0 on day 0: the first purchase is free)
//! r_n        = μ_n · (a_n · y_n)                             period return (gross growth factor)
//! W_n        = W_{n−1} · r_n
//! ```
//!
//! (Jiang, Xu & Liang 2017, "A deep reinforcement learning framework for the financial portfolio
//! management problem", eqs. 3, 7, 9), where the transaction remainder factor `μ_n` depends on
//! the [`Fee`] model ([`cost::period_return`]):
//! * [`Fee::None`]: `μ = 1`;
//! * [`Fee::Linear`]`(c)`: `μ = 1 − c Σ_i |a_i − w'_i|` ([`cost::linear_remainder`]), PGPortfolio's
//!   training approximation;
//! * [`Fee::Exact`]`(c)`: the fixed point of Jiang et al. (2017), eq. 14, with equal buying and
//!   selling rates ([`cost::transaction_remainder`]);
//! * [`Fee::PerSide`]`{ buy: c_p, sell: c_s }`: the fixed point of eq. 14 with different buying
//!   and selling rates ([`cost::transaction_remainder_per_side`]);
//! * [`Fee::Additive`]`(c)`: universal-portfolios' convention `r = a·y − c Σ_i |a_i − w'_i|` (the
//!   fee is subtracted from the growth instead of multiplying it; the two differ by
//!   `c · turnover · (a·y − 1)`, a second-order term).
//!
//! [`simulate`] drives an [`OnlineStrategy`] through an [`Account`] over a whole range of days and
//! returns the [`Backtest`]; `run_policy` drives a learned policy through the same [`Account`], so
//! both back-tests share one code path.
//!
//! An allocation that is non-finite or off the simplex (tolerance [`ALLOCATION_TOLERANCE`]) stops
//! the run with [`Error::InvalidAllocation`] naming the strategy and the day; it is never
//! renormalised.

pub mod account;
pub mod cost;
pub mod strategy;

pub use account::{simulate, Account, Backtest, ALLOCATION_TOLERANCE};
pub use cost::TradingDay;
pub(crate) use strategy::{check_assets, check_day, check_out};
pub use strategy::{OnlineStrategy, PriceWindow, Window};

use crate::error::{Error, Result};
use serde::Serialize;

/// How transaction costs reduce wealth when the portfolio is rebalanced.
///
/// Every rate must lie in `[0, 1)`. In the single-rate variants `c` is the commission charged on
/// each side of a trade (buying and selling); `c = 0.0025` is the 0.25 % of Jiang et al. (2017)
/// and of the paper's §6.2.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub enum Fee {
    /// No costs: `μ = 1`.
    None,
    /// Linear remainder `μ = 1 − c Σ_i |a_i − w'_i|` (PGPortfolio's training loss), period return
    /// `μ · a·y`.
    Linear(f64),
    /// Exact remainder of Jiang et al. (2017), eq. 14, without a cash asset: `μ` is the fixed point
    /// of `μ = 1 − (2c − c²) Σ_i max(w'_i − μ a_i, 0)` (see [`cost::transaction_remainder`]);
    /// period return `μ · a·y`.
    Exact(f64),
    /// Exact remainder of Jiang et al. (2017), eq. 14, with buying rate `c_p = buy` and selling
    /// rate `c_s = sell`, without a cash asset: `μ` is the fixed point of
    /// `μ = 1 − (c_s + c_p − c_s c_p) Σ_i max(w'_i − μ a_i, 0)` (see
    /// [`cost::transaction_remainder_per_side`]); period return `μ · a·y`. Equals
    /// [`Fee::Exact`]`(c)` bit for bit when `buy = sell = c`.
    PerSide {
        /// Commission rate on the value bought, `c_p`.
        buy: f64,
        /// Commission rate on the value sold, `c_s`.
        sell: f64,
    },
    /// universal-portfolios' convention: period return `max(a·y − c Σ_i |a_i − w'_i|, 0)`.
    Additive(f64),
}

impl Fee {
    /// The commission rate `c` (0 for [`Fee::None`]; the mean `(buy + sell) / 2` for
    /// [`Fee::PerSide`], the equal rate with the same round-trip cost to first order).
    pub fn rate(&self) -> f64 {
        match *self {
            Fee::None => 0.0,
            Fee::Linear(c) | Fee::Exact(c) | Fee::Additive(c) => c,
            Fee::PerSide { buy, sell } => 0.5 * (buy + sell),
        }
    }

    /// Checks that every rate lies in `[0, 1)`.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] (`fee`) for a rate that is NaN, negative or ≥ 1.
    pub fn validate(&self) -> Result<()> {
        match *self {
            Fee::PerSide { buy, sell } => {
                cost::check_rate(buy)?;
                cost::check_rate(sell)
            }
            _ => cost::check_rate(self.rate()),
        }
    }
}

/// Validates a relatives matrix and returns its number of days.
///
/// Accepts `relatives.len() = days · assets` with every entry finite and `> 0`; zero days are
/// accepted (the caller decides whether an empty range is an error).
///
/// # Errors
/// [`Error::InvalidParameter`] (`assets`) for `assets = 0`; [`Error::ShapeMismatch`] for a
/// length that is not a multiple of `assets`; [`Error::NonFinite`] for NaN or infinite entries;
/// [`Error::InvalidParameter`] (`relatives`) naming day and asset of a zero or negative entry.
pub fn check_relatives(relatives: &[f64], assets: usize) -> Result<usize> {
    let days = check_shape(relatives, assets)?;
    check_rows(relatives, assets, 0)?;
    Ok(days)
}

/// The shape half of [`check_relatives`]: `assets > 0` and a whole number of days; returns the
/// number of days without looking at the entries.
pub(crate) fn check_shape(relatives: &[f64], assets: usize) -> Result<usize> {
    if assets == 0 {
        return Err(Error::param("assets", 0, "at least one asset is required"));
    }
    if !relatives.len().is_multiple_of(assets) {
        let days = relatives.len() / assets;
        return Err(Error::shape(
            "price relatives (a whole number of days × assets)",
            (days + 1) * assets,
            relatives.len(),
        ));
    }
    Ok(relatives.len() / assets)
}

/// Whether every entry of `rows` lies in `(0, f64::MAX]` (so is finite and `> 0`; NaN fails the
/// comparison): one pass without branches, which the compiler vectorises. [`check_rows`] names
/// the first entry that is not.
#[inline]
pub(crate) fn rows_ok(rows: &[f64]) -> bool {
    rows.iter().fold(true, |ok, &y| ok & (y > 0.0) & (y <= f64::MAX))
}

/// Validates rows of relatives; `first_day` is the day index of `rows[0]`, for error messages.
pub(crate) fn check_rows(rows: &[f64], assets: usize, first_day: usize) -> Result<()> {
    // Only a failed pass looks for the entry to report.
    if rows_ok(rows) {
        return Ok(());
    }
    for (k, &y) in rows.iter().enumerate() {
        if !y.is_finite() {
            return Err(Error::NonFinite {
                what: "price relatives",
                index: first_day * assets + k,
                value: y,
            });
        }
        if y <= 0.0 {
            return Err(Error::param(
                "relatives",
                y,
                format!(
                    "price relative of day {} asset {} must be > 0",
                    first_day + k / assets,
                    k % assets
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fee_validation() {
        for fee in [
            Fee::None,
            Fee::Linear(0.0),
            Fee::Exact(0.0025),
            Fee::Additive(0.5),
            Fee::PerSide {
                buy: 0.0,
                sell: 0.999,
            },
        ] {
            assert!(fee.validate().is_ok(), "{fee:?}");
        }
        for fee in [
            Fee::Linear(1.0),
            Fee::Exact(-0.1),
            Fee::Additive(f64::NAN),
            Fee::PerSide { buy: 1.0, sell: 0.0 },
            Fee::PerSide {
                buy: 0.0,
                sell: -1e-9,
            },
            Fee::PerSide {
                buy: 0.0,
                sell: f64::INFINITY,
            },
        ] {
            assert!(
                matches!(fee.validate(), Err(Error::InvalidParameter { .. })),
                "{fee:?}"
            );
        }
        assert_eq!(
            Fee::PerSide {
                buy: 0.001,
                sell: 0.003
            }
            .rate(),
            0.002
        );
    }

    #[test]
    fn relatives_checks_name_day_and_asset() {
        assert_eq!(check_relatives(&[1.0; 6], 3).unwrap(), 2);
        assert_eq!(check_relatives(&[], 3).unwrap(), 0);
        assert!(check_relatives(&[1.0; 5], 3).is_err());
        assert!(check_relatives(&[1.0; 3], 0).is_err());
        let e = check_relatives(&[1.0, 1.0, 1.0, -2.0], 2)
            .unwrap_err()
            .to_string();
        assert!(e.contains("day 1 asset 1"), "{e}");
        assert!(check_rows(&[1.0, f64::NAN], 2, 4).is_err());
    }
}
