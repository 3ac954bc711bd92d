//! Classic online-portfolio-selection baselines, the back-test loop and transaction costs.
//!
//! # Data and timing
//! Price relatives are passed as one flat slice in row-major `[day][asset]` order together with
//! the number of assets: `y[n·m + i] = v_{n,i} / v_{n−1,i}`, the close of asset `i` on day `n`
//! over its close on day `n − 1`. An [`OnlineStrategy`] chooses the allocation `a_n` of day `n`
//! seeing only the relatives of days `0 … n−1` (no look-ahead); this is the timing convention of
//! universal-portfolios (`Algo.weights`: `B[t]` is fixed before `x_t` is revealed).
//!
//! # Wealth and costs
//! [`backtest`] starts with wealth 1 and, on every day `n`,
//!
//! ```text
//! w'_{n−1}   = a_{n−1} ⊙ y_{n−1} / (a_{n−1} · y_{n−1})      drifted weights at the close of day n−1
//! turnover_n = Σ_i |a_{n,i} − w'_{n−1,i}|                    (0 on day 0: the first purchase is free)
//! r_n        = μ_n · (a_n · y_n)                             period return (gross growth factor)
//! W_n        = W_{n−1} · r_n
//! ```
//!
//! where the transaction remainder factor `μ_n` depends on the [`Fee`] model:
//! * [`Fee::None`]: `μ = 1`;
//! * [`Fee::Linear`]`(c)`: `μ = 1 − c Σ_i |a_i − w'_i|` ([`linear_remainder`]), PGPortfolio's training
//!   approximation;
//! * [`Fee::Exact`]`(c)`: the fixed point of Jiang, Xu & Liang (2017), eq. 14, with equal buying and
//!   selling rates ([`transaction_remainder`]);
//! * [`Fee::Additive`]`(c)`: universal-portfolios' convention `r = a·y − c Σ_i |a_i − w'_i|` (the
//!   fee is subtracted from the growth instead of multiplying it; the two differ by
//!   `c · turnover · (a·y − 1)`, a second-order term).
//!
//! # Strategies
//! * [`EqualCrp`], [`Crp`], [`Bcrp`]: constant rebalanced portfolios (Cover 1991, "Universal
//!   portfolios", Math. Finance 1(1)); [`Bcrp`] is the best one in hindsight on a range of days.
//! * [`BuyAndHold`]: uniform buy-and-hold (the market index of equal initial weights).
//! * [`BestAsset`]: the single asset with the largest wealth in hindsight.
//! * [`Olmar`]: On-Line Moving Average Reversion, OLMAR-1 (Li & Hoi 2012, ICML).
//! * [`Pamr`]: Passive-Aggressive Mean Reversion (Li, Zhao, Hoi & Gopalkrishnan 2012, Machine
//!   Learning 87(2)).
//!
//! [`project_to_simplex`] is the Euclidean projection of Duchi, Shalev-Shwartz, Singer & Chandra
//! (2008) used by OLMAR and PAMR.

pub mod crp;
pub mod cwmr;
pub mod momentum;
pub mod olmar;
pub mod pamr;
pub mod rmr;
pub mod rprt;
pub mod tco1;
pub mod tco2;
pub mod wmamr;

pub use crp::{Bcrp, BestAsset, BuyAndHold, Crp, EqualCrp};
pub use cwmr::Cwmr;
pub use momentum::Momentum;
pub use olmar::{Olmar, OlmarWarmup};
pub use pamr::Pamr;
pub use rmr::Rmr;
pub use rprt::Rprt;
pub use tco1::Tco1;
pub use tco2::Tco2;
pub use wmamr::Wmamr;

use crate::error::{Error, Result};
use serde::Serialize;

/// An online portfolio-selection strategy, fed one day at a time: on day `n` it chooses an
/// allocation having observed the relatives of days `0 … n−1` only.
///
/// The simulator ([`backtest`]) drives it as
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
    check_rows(y, assets, day)
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

/// How transaction costs reduce wealth when the portfolio is rebalanced.
///
/// In every variant `c` is the commission rate charged on each side of a trade (buying and
/// selling); it must lie in `[0, 1)`. `c = 0.0025` is the 0.25 % of Jiang et al. (2017) and of
/// the paper's §6.2.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub enum Fee {
    /// No costs: `μ = 1`.
    None,
    /// Linear remainder `μ = 1 − c Σ_i |a_i − w'_i|` (PGPortfolio's training loss), period return
    /// `μ · a·y`.
    Linear(f64),
    /// Exact remainder of Jiang et al. (2017), eq. 14, without a cash asset: `μ` is the fixed point
    /// of `μ = 1 − (2c − c²) Σ_i max(w'_i − μ a_i, 0)` (see [`transaction_remainder`]); period
    /// return `μ · a·y`.
    Exact(f64),
    /// universal-portfolios' convention: period return `max(a·y − c Σ_i |a_i − w'_i|, 0)`.
    Additive(f64),
}

impl Fee {
    /// The commission rate `c` (0 for [`Fee::None`]).
    pub fn rate(&self) -> f64 {
        match *self {
            Fee::None => 0.0,
            Fee::Linear(c) | Fee::Exact(c) | Fee::Additive(c) => c,
        }
    }

    /// Checks that the rate lies in `[0, 1)`.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] (`fee`) for a rate that is NaN, negative or ≥ 1.
    pub fn validate(&self) -> Result<()> {
        check_rate(self.rate())
    }
}

fn check_rate(c: f64) -> Result<()> {
    if c.is_finite() && (0.0..1.0).contains(&c) {
        Ok(())
    } else {
        Err(Error::param("fee", c, "the commission rate must lie in [0, 1)"))
    }
}

/// The outcome of [`backtest`]: one entry per day (and per asset for `weights`).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Backtest {
    /// Wealth at the close of each day, starting from 1 before day 0: `W_n = Π_{k ≤ n} r_k`.
    pub wealth: Vec<f64>,
    /// The allocations `a_n` chosen, `[day][asset]` row-major.
    pub weights: Vec<f64>,
    /// The period returns `r_n = μ_n · a_n·y_n` (growth factors, 1 = flat).
    pub period_returns: Vec<f64>,
    /// The turnover `Σ_i |a_{n,i} − w'_{n−1,i}|` of each day (0 on day 0).
    pub turnover: Vec<f64>,
}

impl Backtest {
    /// Final wealth `W_N` (1 when there are no days).
    pub fn final_wealth(&self) -> f64 {
        self.wealth.last().copied().unwrap_or(1.0)
    }

    /// Number of days back-tested.
    pub fn days(&self) -> usize {
        self.period_returns.len()
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
    check_rows(relatives, assets, 0)?;
    Ok(relatives.len() / assets)
}

/// Validates rows of relatives; `first_day` is the day index of `rows[0]`, for error messages.
pub(crate) fn check_rows(rows: &[f64], assets: usize, first_day: usize) -> Result<()> {
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

/// `1 − c Σ_i |w_i − a_i|`: the linear transaction remainder factor (PGPortfolio's training
/// approximation, Jiang et al. 2017).
///
/// `w_prev` is the drifted allocation before trading, `a` the new one. Uses the common prefix if
/// the lengths differ. Not clamped: for `c ≤ 1/2` it lies in `[1 − 2c, 1]` on the simplex.
pub fn linear_remainder(w_prev: &[f64], a: &[f64], c: f64) -> f64 {
    1.0 - c * w_prev.iter().zip(a).map(|(w, a)| (w - a).abs()).sum::<f64>()
}

/// Convergence tolerance of [`transaction_remainder`]: the returned `μ` is within this distance
/// of the exact fixed point.
pub const REMAINDER_TOLERANCE: f64 = 1e-10;

/// Iteration cap of the fixed-point loop of [`transaction_remainder`] (a bisection finishes the
/// job in the rare case, `c` close to 1, where the contraction is too slow).
pub const REMAINDER_MAX_ITERATIONS: usize = 1000;

/// The exact transaction remainder factor `μ` of Jiang, Xu & Liang (2017), eq. 14, with equal
/// buying and selling commission `c` (PGPortfolio's `calculate_pv_after_commission`).
///
/// `w_prev` is the drifted allocation before trading (`w'`), `a` the target allocation. With
/// `cash = true`, index 0 is a cash asset (trading into or out of cash costs one commission only):
///
/// ```text
/// μ = [1 − c w'_0 − (2c − c²) Σ_{i≥1} max(w'_i − μ a_i, 0)] / (1 − c a_0)
/// ```
///
/// With `cash = false` every asset is risky (`w'_0 = a_0 = 0` in the formula, the sum runs over all
/// assets): `μ = 1 − (2c − c²) Σ_i max(w'_i − μ a_i, 0)`.
///
/// The right-hand side `f(μ)` is non-decreasing in `μ` with slope at most `k = 2c − c² < 1`, so it
/// is a contraction with a unique fixed point in `[(1 − c)², 1]`. The iteration starts from
/// `μ = 1` (PGPortfolio starts from `(1 − c)²`; from 1 the iterates decrease monotonically to the
/// fixed point, and `μ = 1` is returned exactly when nothing trades); it stops
/// when `|Δμ| ≤ 1e-10 · (1 − k)`, which bounds the distance to the fixed point by
/// [`REMAINDER_TOLERANCE`] = 1e-10. After [`REMAINDER_MAX_ITERATIONS`] iterations it finishes by
/// bisection. |μ − [`linear_remainder`]| ≤ c² up to
/// O(c³) terms.
///
/// # Errors
/// [`Error::ShapeMismatch`] if the lengths differ, [`Error::InvalidAllocation`] for empty input
/// (or only a cash entry with `cash = true` is allowed: then `μ = 1`), [`Error::NonFinite`] for
/// NaN or infinite entries, [`Error::InvalidParameter`] (`fee`) for `c ∉ [0, 1)`.
pub fn transaction_remainder(w_prev: &[f64], a: &[f64], c: f64, cash: bool) -> Result<f64> {
    if a.len() != w_prev.len() {
        return Err(Error::shape("target allocation", w_prev.len(), a.len()));
    }
    if a.is_empty() {
        return Err(Error::InvalidAllocation {
            reason: "allocation is empty (m = 0)".to_string(),
        });
    }
    crate::error::check_finite("previous (drifted) allocation", w_prev)?;
    crate::error::check_finite("target allocation", a)?;
    check_rate(c)?;
    if c == 0.0 {
        return Ok(1.0);
    }
    let (w0, a0, wr, ar) = if cash {
        (w_prev[0], a[0], &w_prev[1..], &a[1..])
    } else {
        (0.0, 0.0, w_prev, a)
    };
    let k = 2.0 * c - c * c;
    let denom = 1.0 - c * a0;
    let f = |mu: f64| -> f64 {
        let s: f64 = wr.iter().zip(ar).map(|(w, a)| (w - mu * a).max(0.0)).sum();
        ((1.0 - c * w0 - k * s) / denom).clamp(0.0, 1.0)
    };
    let stop = REMAINDER_TOLERANCE * (1.0 - k);
    let mut mu = 1.0;
    for _ in 0..REMAINDER_MAX_ITERATIONS {
        let next = f(mu);
        if (next - mu).abs() <= stop {
            return Ok(next);
        }
        mu = next;
    }
    // g(μ) = f(μ) − μ is strictly decreasing with g(0) ≥ 0 ≥ g(1): bisect for its root.
    let (mut lo, mut hi) = (0.0_f64, 1.0_f64);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if f(mid) - mid > 0.0 {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi - lo <= 1e-15 {
            break;
        }
    }
    Ok(0.5 * (lo + hi))
}

/// Euclidean projection of `v` onto the probability simplex (Duchi, Shalev-Shwartz, Singer &
/// Chandra 2008, "Efficient projections onto the l1-ball", Fig. 1), written into `out`.
///
/// ```text
/// u = v sorted in decreasing order
/// ρ = max { j : u_j − (Σ_{r ≤ j} u_r − 1) / j > 0 }
/// θ = (Σ_{r ≤ ρ} u_r − 1) / ρ
/// out_i = max(v_i − θ, 0)
/// ```
///
/// # Errors
/// [`Error::ShapeMismatch`] if `out.len() != v.len()`, [`Error::InvalidAllocation`] for an empty
/// `v`, [`Error::NonFinite`] for NaN or infinite entries.
pub fn project_to_simplex(v: &[f64], out: &mut [f64]) -> Result<()> {
    if out.len() != v.len() {
        return Err(Error::shape("projection output", v.len(), out.len()));
    }
    if v.is_empty() {
        return Err(Error::InvalidAllocation {
            reason: "cannot project an empty vector onto the simplex".to_string(),
        });
    }
    crate::error::check_finite("vector to project", v)?;
    let mut u = v.to_vec();
    u.sort_unstable_by(|a, b| b.total_cmp(a));
    let mut cumsum = 0.0;
    let mut theta = 0.0;
    for (j, &uj) in u.iter().enumerate() {
        cumsum += uj;
        let t = (cumsum - 1.0) / (j + 1) as f64;
        if uj - t > 0.0 {
            theta = t;
        } else {
            break;
        }
    }
    for (o, &x) in out.iter_mut().zip(v) {
        *o = (x - theta).max(0.0);
    }
    Ok(())
}

/// Runs `strategy` over every day of `relatives` (`[day][asset]`, `assets` columns) with the given
/// fee model and returns wealth, allocations, period returns and turnover.
///
/// The strategy is [`reset`](OnlineStrategy::reset) first. Day 0 starts from cash: its purchase is
/// free (turnover 0, `μ = 1`), as in universal-portfolios. On day `n` the strategy sees the
/// relatives of days `< n` only; the formulas are in the [module documentation](self).
///
/// # Errors
/// Invalid relatives (see [`check_relatives`]); [`Error::InvalidParameter`] (`relatives`) for zero
/// days; an invalid fee ([`Fee::validate`]); any error of the strategy; and
/// [`Error::InvalidAllocation`] (naming the strategy and day) when the strategy returns an
/// allocation off the simplex (tolerance 1e-6).
pub fn backtest(
    strategy: &mut dyn OnlineStrategy,
    relatives: &[f64],
    assets: usize,
    fee: Fee,
) -> Result<Backtest> {
    let days = check_relatives(relatives, assets)?;
    if days == 0 {
        return Err(Error::param(
            "relatives",
            "0 days",
            "the back-test range has no days",
        ));
    }
    fee.validate()?;
    strategy.reset(assets)?;
    let m = assets;
    let mut out = Backtest {
        wealth: Vec::with_capacity(days),
        weights: Vec::with_capacity(days * m),
        period_returns: Vec::with_capacity(days),
        turnover: Vec::with_capacity(days),
    };
    let mut a = vec![0.0; m];
    let mut drifted = vec![0.0; m];
    let mut wealth = 1.0;
    for n in 0..days {
        strategy.weights(&mut a)?;
        crate::simplex::validate_allocation(&a, 1e-6).map_err(|e| Error::InvalidAllocation {
            reason: format!("{} on day {n}: {e}", strategy.name()),
        })?;
        let y = &relatives[n * m..(n + 1) * m];
        let turnover = if n == 0 {
            0.0
        } else {
            drifted.iter().zip(&a).map(|(w, a)| (w - a).abs()).sum()
        };
        let growth: f64 = a.iter().zip(y).map(|(a, y)| a * y).sum();
        let r = if n == 0 {
            growth
        } else {
            match fee {
                Fee::None => growth,
                Fee::Linear(c) => linear_remainder(&drifted, &a, c).max(0.0) * growth,
                Fee::Exact(c) => transaction_remainder(&drifted, &a, c, false)? * growth,
                Fee::Additive(c) => (growth - c * turnover).max(0.0),
            }
        };
        wealth *= r;
        for ((d, &ai), &yi) in drifted.iter_mut().zip(&a).zip(y) {
            *d = ai * yi / growth;
        }
        out.wealth.push(wealth);
        out.period_returns.push(r);
        out.turnover.push(turnover);
        out.weights.extend_from_slice(&a);
        strategy.observe(y)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn projection_examples() {
        let mut out = [0.0; 3];
        project_to_simplex(&[0.2, 0.3, 0.5], &mut out).unwrap();
        assert!(out
            .iter()
            .zip([0.2, 0.3, 0.5])
            .all(|(a, b)| (a - b).abs() < 1e-15));
        project_to_simplex(&[5.0, 0.0, 0.0], &mut out).unwrap();
        assert_eq!(out, [1.0, 0.0, 0.0]);
        project_to_simplex(&[1.0, 1.0, -3.0], &mut out).unwrap();
        assert_eq!(out, [0.5, 0.5, 0.0]);
        assert!(project_to_simplex(&[], &mut []).is_err());
        assert!(project_to_simplex(&[f64::NAN, 1.0, 0.0], &mut out).is_err());
    }

    #[test]
    fn remainder_examples() {
        let w = [1.0, 0.0];
        let a = [0.0, 1.0];
        let c = 0.0025;
        let mu = transaction_remainder(&w, &a, c, false).unwrap();
        assert!((mu - (1.0 - c) * (1.0 - c)).abs() < 1e-12);
        assert_eq!(transaction_remainder(&a, &a, c, false).unwrap(), 1.0);
        assert!(transaction_remainder(&w, &a, 1.0, false).is_err());
        assert!(transaction_remainder(&w, &a[..1], c, false).is_err());
        // c close to 1 still converges (bisection fallback).
        let mu = transaction_remainder(&[0.7, 0.3], &[0.2, 0.8], 0.999, false).unwrap();
        assert!((0.0..=1.0).contains(&mu));
    }
}
