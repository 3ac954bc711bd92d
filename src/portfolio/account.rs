//! The incremental simulator ([`Account`]) and the back-test loop of an online strategy
//! ([`simulate`]).
//!
//! Day by day (Jiang, Xu & Liang 2017, eqs. 3, 7, 9 and 14; formulas in [`super`]):
//!
//! ```text
//! check a_n on the simplex (tolerance 1e-6), else stop: InvalidAllocation naming strategy and day
//! r_n  = period_return(fee, w'_{n−1}, a_n, y_n, first day = (n = 0))
//! W_n  = W_{n−1} · r_n
//! w'_n = a_n ⊙ y_n / (a_n · y_n)
//! ```

use super::cost::{self, TradingDay};
use super::{check_assets, check_rows, check_shape, rows_ok, Fee, OnlineStrategy};
use crate::error::{Error, Result};
use serde::Serialize;

/// Tolerance of the simplex check of every traded allocation: entries in `[−1e-6, 1 + 1e-6]`,
/// `|Σ_i a_i − 1| ≤ 1e-6` ([`crate::simplex::validate_allocation`]).
pub const ALLOCATION_TOLERANCE: f64 = 1e-6;

/// The outcome of a back-test ([`simulate`], `run_policy`): one entry per day (and per asset for
/// `weights`).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Backtest {
    /// Wealth at the close of each day, starting from 1 before day 0: `W_n = Π_{k ≤ n} r_k`.
    pub wealth: Vec<f64>,
    /// The allocations `a_n` chosen, `[day][asset]` row-major; a strategy that holds cash
    /// ([`OnlineStrategy::holds_cash`]) has one more column, last, its cash weight.
    pub weights: Vec<f64>,
    /// The period returns `r_n = μ_n · a_n·y_n` (growth factors, 1 = flat).
    pub period_returns: Vec<f64>,
    /// The turnover `Σ_i |a_{n,i} − w'_{n−1,i}|` of each day (0 on day 0).
    pub turnover: Vec<f64>,
}

impl Backtest {
    /// An empty back-test with room for `days` days of `assets` assets.
    pub fn with_capacity(days: usize, assets: usize) -> Backtest {
        Backtest {
            wealth: Vec::with_capacity(days),
            weights: Vec::with_capacity(days * assets),
            period_returns: Vec::with_capacity(days),
            turnover: Vec::with_capacity(days),
        }
    }

    /// Appends one traded day: the allocation `a`, its outcome `day` and the wealth after it.
    pub fn push(&mut self, a: &[f64], day: &TradingDay, wealth: f64) {
        self.wealth.push(wealth);
        self.period_returns.push(day.period_return);
        self.turnover.push(day.turnover);
        self.weights.extend_from_slice(a);
    }

    /// Final wealth `W_N` (1 when there are no days).
    pub fn final_wealth(&self) -> f64 {
        self.wealth.last().copied().unwrap_or(1.0)
    }

    /// Number of days back-tested.
    pub fn days(&self) -> usize {
        self.period_returns.len()
    }
}

/// A portfolio traded one day at a time: the drifted weights `w'` and the wealth `W`, under one
/// [`Fee`] model.
///
/// It starts with wealth 1 from cash: the first [`trade`](Self::trade) is free (turnover 0,
/// `μ = 1`). Both back-tests of the crate, [`simulate`] for the classic strategies and
/// `envs::portfolio::run_policy` for learned policies, trade through it.
///
/// An account made by [`with_cash`](Self::with_cash) holds a cash asset besides the `m` assets:
/// allocations have `m + 1` entries, the last one cash, whose relative is 1 every day; see there
/// for its costs.
#[derive(Clone, Debug)]
pub struct Account {
    name: String,
    fee: Fee,
    tolerance: f64,
    drifted: Vec<f64>,
    wealth: f64,
    days: usize,
    /// Whether the last entry of the allocations is cash.
    cash: bool,
    /// The relatives of a cash account's day with the cash relative 1 appended.
    with_one: Vec<f64>,
}

impl Account {
    /// A fresh account for `assets` assets: wealth 1, no day traded, drifted weights uniform
    /// (unused by the free first purchase).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for `assets = 0` or an invalid fee ([`Fee::validate`]).
    pub fn new(assets: usize, fee: Fee) -> Result<Account> {
        check_assets(assets)?;
        fee.validate()?;
        Ok(Account {
            name: "allocation".to_string(),
            fee,
            tolerance: ALLOCATION_TOLERANCE,
            drifted: crate::simplex::uniform(assets),
            wealth: 1.0,
            days: 0,
            cash: false,
            with_one: Vec::new(),
        })
    }

    /// A fresh account for `assets` assets and a cash asset: allocations `a` have `assets + 1`
    /// entries on the simplex, the last one the cash weight `a_c`, and [`trade`](Self::trade)
    /// takes the `assets` relatives of the market (the cash relative is 1). It starts all in cash.
    ///
    /// With `m` assets and the cash entry last:
    ///
    /// ```text
    /// growth    g  = Σ_{i<m} a_i y_i + a_c                 (= 1 + Σ_{i<m} a_i (y_i − 1))
    /// drift     w' = (a ⊙ (y, 1)) · (1/g)                  (the cash weight drifts too)
    /// turnover  τ  = Σ_{i<m} |a_i − w'_i|                   (the assets only)
    /// ```
    ///
    /// Moving wealth between an asset and cash is one trade, charged once, and moving it
    /// between two assets is two (universal-portfolios' convention for the cash CORN and BCRP
    /// keep: `r = 1 + Σ_i b_i (x_i − 1) − c Σ_i |b_i − b̃_i|`). The exact models use the cash
    /// form of Jiang et al. (2017), eq. 14: buying from cash pays `c_p` only, selling into it
    /// `c_s` only ([`cost::transaction_remainder`] with a cash asset).
    ///
    /// # Errors
    /// As [`new`](Self::new).
    pub fn with_cash(assets: usize, fee: Fee) -> Result<Account> {
        check_assets(assets)?;
        let mut account = Account::new(assets + 1, fee)?;
        account.drifted.fill(0.0);
        account.drifted[assets] = 1.0;
        account.cash = true;
        account.with_one = vec![1.0; assets + 1];
        Ok(account)
    }

    /// Names the trader in error messages ("`name` on day `n`: …"; default "allocation").
    pub fn named(mut self, name: impl Into<String>) -> Account {
        self.name = name.into();
        self
    }

    /// Replaces the simplex tolerance of the allocation check (default
    /// [`ALLOCATION_TOLERANCE`]; a policy evaluated in `f32` needs about `m · 2⁻²³` more).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] (`tol`) for a negative or non-finite tolerance.
    pub fn with_tolerance(mut self, tol: f64) -> Result<Account> {
        if !(tol.is_finite() && tol >= 0.0) {
            return Err(Error::param(
                "tol",
                tol,
                "tolerance must be finite and non-negative",
            ));
        }
        self.tolerance = tol;
        Ok(self)
    }

    /// Rebalances to `a`, lets the prices move by `y` and returns what the day did; the wealth
    /// is multiplied by the period return and the drifted weights become `a ⊙ y / (a·y)`.
    ///
    /// In a cash account ([`with_cash`](Self::with_cash)) `a` has one entry more than `y`: the
    /// cash weight, last.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] for lengths other than the number of assets;
    /// [`Error::InvalidAllocation`] naming the trader and the day when `a` is non-finite or off
    /// the simplex (never renormalised); invalid relatives (see [`super::check_relatives`]); the
    /// errors of the exact remainder. The account is unchanged after an error.
    pub fn trade(&mut self, a: &[f64], y: &[f64]) -> Result<TradingDay> {
        let m = self.drifted.len();
        if a.len() != m {
            return Err(Error::shape(
                if self.cash {
                    "allocation (assets of the account, then cash)"
                } else {
                    "allocation (assets of the account)"
                },
                m,
                a.len(),
            ));
        }
        if self.cash {
            let risky = m - 1;
            if y.len() != risky {
                return Err(Error::shape(
                    "price relatives (assets of the account, without cash)",
                    risky,
                    y.len(),
                ));
            }
            if let Err(e) = check_rows(y, risky, self.days) {
                self.check_allocation(a)?;
                return Err(e);
            }
            return self.step_on(a, y);
        }
        if y.len() != m {
            return Err(Error::shape(
                "price relatives (assets of the account)",
                m,
                y.len(),
            ));
        }
        if let Err(e) = check_rows(y, m, self.days) {
            // An invalid allocation is reported first, as the check of the step would.
            crate::simplex::validate_allocation(a, self.tolerance).map_err(|e| Error::InvalidAllocation {
                reason: format!("{} on day {}: {e}", self.name, self.days),
            })?;
            return Err(e);
        }
        self.step(a, y)
    }

    /// [`trade`](Self::trade) for relatives already checked (lengths equal, every entry finite
    /// and `> 0`): the growth `a·y` is [`cost::growth`], the turnover [`cost::turnover`] and the
    /// simplex check [`on_simplex`] (a failed check is reported by
    /// [`crate::simplex::validate_allocation`], naming the entry).
    fn step(&mut self, a: &[f64], y: &[f64]) -> Result<TradingDay> {
        let growth = cost::growth(a, y);
        let risky = self.drifted.len() - usize::from(self.cash);
        let turnover = cost::turnover(&self.drifted[..risky], &a[..risky]);
        if !on_simplex(a, self.tolerance) {
            self.check_allocation(a)?;
        }
        let first = self.days == 0;
        let mu = match self.fee {
            Fee::Exact(_) | Fee::PerSide { .. } if !first => {
                cost::exact_remainder(self.fee, &self.drifted, a, self.cash)?
            }
            _ => 1.0,
        };
        let day = trading_day(self.fee, first, growth, turnover, mu);
        self.wealth *= day.period_return;
        cost::drift_by(a, y, day.growth, &mut self.drifted);
        self.days += 1;
        Ok(day)
    }

    /// [`step`](Self::step) on the market's relatives `y` (checked): for a cash account the cash
    /// relative 1 is appended.
    fn step_on(&mut self, a: &[f64], y: &[f64]) -> Result<TradingDay> {
        if !self.cash {
            return self.step(a, y);
        }
        let mut y1 = std::mem::take(&mut self.with_one);
        y1[..y.len()].copy_from_slice(y);
        let day = self.step(a, &y1);
        self.with_one = y1;
        day
    }

    /// The simplex check of [`trade`](Self::trade) on its own, naming the trader and the day.
    fn check_allocation(&self, a: &[f64]) -> Result<()> {
        crate::simplex::validate_allocation(a, self.tolerance).map_err(|e| Error::InvalidAllocation {
            reason: format!("{} on day {}: {e}", self.name, self.days),
        })
    }

    /// The back-test of a fixed allocation `a` from a fresh account over the `days` days of
    /// `relatives` (each checked as the growth pass reads it), under a fee without a fixed point
    /// ([`Fee::None`], [`Fee::Linear`], [`Fee::Additive`]): bit for bit the [`Backtest`] of one [`step`](Self::step) per day.
    ///
    /// `a` is checked once (the same check on every day gives the same answer). The growth
    /// `g_n = a·y_n` ([`cost::growth`]) of every day is one pass over the days; the turnover
    /// `τ_n = Σ_i |a_i y_{n−1,i} · (1 / g_{n−1}) − a_i|` (the drift of the day before, not
    /// stored) another, four days side by side; each sum keeps the order and the operations of
    /// `step` (the turnover from −0, `i = 0, 1, …`), so only independent days are interleaved.
    /// The fee and the wealth follow day by day as in `step`, and the allocation rows are
    /// written at the end.
    fn hold_constant(&mut self, a: &[f64], relatives: &[f64], days: usize) -> Result<Backtest> {
        debug_assert_eq!(self.days, 0);
        debug_assert!(!matches!(self.fee, Fee::Exact(_) | Fee::PerSide { .. }));
        let m = a.len();
        // Day 0's relatives, then its allocation (as the day-by-day loop checks them); the
        // growth pass checks every later day's relatives as it reads them.
        check_day(&relatives[..m], 0)?;
        self.check_allocation(a)?;
        let mut growth = vec![0.0; days];
        growth_rows(&mut growth, a, relatives)?;
        // Day n's turnover from day n − 1's relatives and growth (day 0's purchase is free).
        let mut turnover = vec![0.0; days];
        turnover_rows(
            &mut turnover[1..],
            a,
            &relatives[..(days - 1) * m],
            &growth[..days - 1],
        );
        let mut out = Backtest {
            wealth: Vec::with_capacity(days),
            weights: Vec::new(),
            period_returns: Vec::with_capacity(days),
            turnover,
        };
        let mut wealth = self.wealth;
        for (n, &g) in growth.iter().enumerate() {
            let t = out.turnover[n];
            let r = trading_day(self.fee, n == 0, g, t, 1.0).period_return;
            wealth *= r;
            out.period_returns.push(r);
            out.wealth.push(wealth);
        }
        out.weights = a.repeat(days);
        // The account as `step` leaves it.
        self.wealth = wealth;
        let last = &relatives[(days - 1) * m..days * m];
        cost::drift_by(a, last, growth[days - 1], &mut self.drifted);
        self.days += days;
        Ok(out)
    }

    /// The back-test of buy and hold from the current drifted weights (day 0's allocation, on a
    /// fresh account) over the `days` days of `relatives`: every day trades the drifted
    /// weights themselves, bit for bit the [`Backtest`] of [`step`](Self::step) with the
    /// allocation `a = w'` (which [`crate::baselines::BuyAndHold`] writes) under every fee
    /// model: the turnover `Σ_i |w'_i − w'_i|` is exactly 0, so `μ = 1` and the period return is
    /// the growth in each of them. Per day: the relatives are checked, the row recorded, the
    /// growth summed and the weights drifted in place (one drift, where the strategy and the
    /// account drifted the same weights each). The simplex check runs on day 0 and after any day
    /// that does not guarantee it: non-negative weights drifted by a growth `g > 0` with a finite
    /// `1/g` stay non-negative and sum to 1 within `(m/4 + 4)·2⁻⁵³`, so the check would pass
    /// (this is what made buy and hold take a quarter longer than a fixed portfolio).
    fn hold_drifted(&mut self, relatives: &[f64], days: usize) -> Result<Backtest> {
        debug_assert_eq!(self.days, 0);
        let m = self.drifted.len();
        let mut out = Backtest::with_capacity(days, m);
        // Whether today's weights are known to pass the simplex check (see below); never with a
        // tolerance below the drift's rounding of the sum (only `with_tolerance` sets one).
        let rounding = (m as f64 / 4.0 + 4.0) * f64::EPSILON;
        let tolerant = self.tolerance >= rounding;
        let mut known = false;
        for (n, y) in relatives.chunks_exact(m).enumerate() {
            check_day(y, n)?;
            let growth = cost::growth(&self.drifted, y);
            // Checked today when not known: on the simplex, and whether exactly non-negative.
            let nonneg = known || {
                if !on_simplex(&self.drifted, self.tolerance) {
                    self.check_allocation(&self.drifted)?;
                }
                self.drifted.iter().all(|&w| w >= 0.0)
            };
            out.weights.extend_from_slice(&self.drifted);
            self.wealth *= growth;
            out.wealth.push(self.wealth);
            out.period_returns.push(growth);
            out.turnover.push(0.0);
            cost::drift_by_in_place(&mut self.drifted, y, growth);
            // Weights w ≥ 0 drifted by a growth g > 0 with a finite 1/g stay ≥ 0 and sum to 1
            // within (m/4 + 4)·2⁻⁵³ (w'_i = (w_i y_i)·(1/g), and g sums the same products), far
            // inside the tolerance: the check would pass, so it runs only when this fails.
            known = tolerant && nonneg && growth > 0.0 && (1.0 / growth).is_finite() && growth.is_finite();
            self.days += 1;
        }
        Ok(out)
    }

    /// Wealth after the days traded so far (1 before the first).
    pub fn wealth(&self) -> f64 {
        self.wealth
    }

    /// The drifted weights `w'` at the close of the last day traded (uniform before the first;
    /// a cash account: its last entry is cash, and it starts all in cash).
    pub fn drifted(&self) -> &[f64] {
        &self.drifted
    }

    /// Number of days traded.
    pub fn days(&self) -> usize {
        self.days
    }

    /// Number of entries of an allocation: the assets, and the cash entry of a cash account.
    pub fn assets(&self) -> usize {
        self.drifted.len()
    }

    /// Whether the last entry of the allocations is cash ([`with_cash`](Self::with_cash)).
    pub fn holds_cash(&self) -> bool {
        self.cash
    }

    /// The fee model.
    pub fn fee(&self) -> Fee {
        self.fee
    }
}

/// Runs `strategy` over every day of `relatives` (`[day][asset]`, `assets` columns) with the given
/// fee model and returns wealth, allocations, period returns and turnover.
///
/// The strategy is [`reset`](OnlineStrategy::reset) first. Day 0 starts from cash: its purchase is
/// free (turnover 0, `μ = 1`), as in universal-portfolios. On day `n` the strategy sees the
/// relatives of days `< n` only; every day is one [`Account::trade`] (formulas in the
/// [module documentation](super)).
///
/// # Errors
/// In this order: a shape that is not whole days (see [`super::check_relatives`]);
/// [`Error::InvalidParameter`] (`relatives`) for zero days; an invalid fee ([`Fee::validate`]);
/// the strategy's [`reset`](OnlineStrategy::reset); then, day by day, that day's relatives (an
/// entry that is not finite and `> 0`, named by day and asset, as
/// [`check_relatives`](super::check_relatives) names it), any error of the strategy, and
/// [`Error::InvalidAllocation`] (naming the strategy and day) when the strategy returns an
/// allocation that is non-finite or off the simplex (tolerance [`ALLOCATION_TOLERANCE`]). Each
/// day's relatives are checked when the back-test first reads them, so nothing is computed from
/// an invalid day and the first invalid day is the one reported.
pub fn simulate(
    strategy: &mut dyn OnlineStrategy,
    relatives: &[f64],
    assets: usize,
    fee: Fee,
) -> Result<Backtest> {
    let days = check_shape(relatives, assets)?;
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
    // A strategy that holds cash trades assets then cash through a cash account.
    let cash = strategy.holds_cash();
    let account = if cash {
        Account::with_cash(m, fee)?
    } else {
        Account::new(m, fee)?
    };
    let mut account = account.named(strategy.name());
    let mut a = vec![0.0; account.assets()];
    // Fast paths, bit for bit the day-by-day loop below: a fixed portfolio under a fee without
    // a fixed point (growth and turnover only, day 0's check once), and buy and hold (the
    // account's drifted weights traded as they are); neither holds cash.
    if !cash && strategy.constant_allocation() && !matches!(fee, Fee::Exact(_) | Fee::PerSide { .. }) {
        strategy.weights(&mut a)?;
        return account.hold_constant(&a, relatives, days);
    }
    if !cash && strategy.holds_drifted() {
        strategy.weights(&mut a)?;
        account.drifted.copy_from_slice(&a);
        return account.hold_drifted(relatives, days);
    }
    let mut out = Backtest::with_capacity(days, a.len());
    if strategy.constant_allocation() {
        // The allocation never changes and observing only checks the days (checked here
        // already): ask once; every day's relatives and allocation are still checked (the
        // exact remainder needs the drifted weights of every day).
        strategy.weights(&mut a)?;
        for (n, y) in relatives.chunks_exact(m).enumerate() {
            check_day(y, n)?;
            let day = account.step_on(&a, y)?;
            out.push(&a, &day, account.wealth());
        }
        return Ok(out);
    }
    for (n, y) in relatives.chunks_exact(m).enumerate() {
        check_day(y, n)?;
        strategy.weights(&mut a)?;
        let day = account.step_on(&a, y)?;
        out.push(&a, &day, account.wealth());
        strategy.observe(y)?;
    }
    Ok(out)
}

/// One day's outcome under `fee` from its growth `g`, turnover `τ` and, for the exact models,
/// their remainder `μ` (ignored by the others; formulas in [`cost::period_return`]): the first
/// day's purchase is free (`τ = 0`, `r = g`); otherwise `r = max(g − c τ, 0)` under
/// [`Fee::Additive`] and `r = μ g` with `μ = 1` ([`Fee::None`]), `max(1 − c τ, 0)`
/// ([`Fee::Linear`]) or the given `μ` (the exact models).
fn trading_day(fee: Fee, first: bool, growth: f64, turnover: f64, exact: f64) -> TradingDay {
    if first {
        return TradingDay {
            growth,
            remainder: 1.0,
            additive_fee: 0.0,
            turnover: 0.0,
            period_return: growth,
        };
    }
    let (remainder, additive_fee) = match fee {
        Fee::None => (1.0, 0.0),
        Fee::Additive(c) => (1.0, c * turnover),
        Fee::Linear(c) => ((1.0 - c * turnover).max(0.0), 0.0),
        Fee::Exact(_) | Fee::PerSide { .. } => (exact, 0.0),
    };
    let period_return = match fee {
        Fee::Additive(_) => (growth - additive_fee).max(0.0),
        _ => remainder * growth,
    };
    TradingDay {
        growth,
        remainder,
        additive_fee,
        turnover,
        period_return,
    }
}

/// The simplex check of every traded allocation, without branches: `|Σ_i a_i − 1| ≤ tol` (the
/// sum in [`cost::growth`]'s four partial sums) and `−tol ≤ min_i a_i`, `max_i a_i ≤ 1 + tol`.
/// A NaN or infinite entry makes the sum NaN or infinite, so it fails too. Only a failed check
/// calls [`crate::simplex::validate_allocation`], whose error names the entry; every path of the
/// account decides with this function, so they stop on the same day.
#[inline]
fn on_simplex(a: &[f64], tol: f64) -> bool {
    const L: usize = cost::GROWTH_LANES;
    let mut sum = [-0.0_f64; L];
    let mut lo = [f64::INFINITY; L];
    let mut hi = [f64::NEG_INFINITY; L];
    let mut a4 = a.chunks_exact(L);
    for c in &mut a4 {
        for k in 0..L {
            sum[k] += c[k];
            lo[k] = if c[k] < lo[k] { c[k] } else { lo[k] };
            hi[k] = if c[k] > hi[k] { c[k] } else { hi[k] };
        }
    }
    for (k, &x) in a4.remainder().iter().enumerate() {
        sum[k] += x;
        lo[k] = if x < lo[k] { x } else { lo[k] };
        hi[k] = if x > hi[k] { x } else { hi[k] };
    }
    let total = (sum[0] + sum[1]) + (sum[2] + sum[3]);
    let low = lo[0].min(lo[1]).min(lo[2].min(lo[3]));
    let high = hi[0].max(hi[1]).max(hi[2].max(hi[3]));
    (total - 1.0).abs() <= tol && low >= -tol && high <= 1.0 + tol
}

/// `out[n] = a · y_n` ([`cost::growth`]) for the `out.len()` rows `y_n` of `rows` (day `n`),
/// each row checked ([`check_day`]) as it is read.
fn growth_rows(out: &mut [f64], a: &[f64], rows: &[f64]) -> Result<()> {
    for (n, (o, y)) in out.iter_mut().zip(rows.chunks_exact(a.len())).enumerate() {
        check_day(y, n)?;
        *o = cost::growth(a, y);
    }
    Ok(())
}

/// The relatives `y` of day `n` are valid (every entry finite and `> 0`); the error of
/// [`check_rows`] names the day and the asset. [`simulate`] checks each day this way when it
/// first reads it, so a back-test reads its relatives once rather than once to check them and
/// again to trade them (on NYSE(O) the separate check was a fifth of buy and hold's time).
#[inline]
fn check_day(y: &[f64], n: usize) -> Result<()> {
    if rows_ok(y) {
        Ok(())
    } else {
        check_rows(y, y.len(), n)
    }
}

/// `out[n] = Σ_i |a_i y_{n,i} · (1 / g_n) − a_i|` (from −0, `i = 0, 1, …`: the turnover of
/// `step` against the drift `(a ⊙ y_n) · (1 / g_n)` of `cost::drift_by`) for the `out.len()`
/// rows `y_n` of `rows` and growths `g`, four rows side by side: the sums are independent and
/// each keeps its order, so the interleaving only hides the latency of the additions.
fn turnover_rows(out: &mut [f64], a: &[f64], rows: &[f64], g: &[f64]) {
    let m = a.len();
    let mut out4 = out.chunks_exact_mut(4);
    let mut rows4 = rows.chunks_exact(4 * m);
    let mut g4 = g.chunks_exact(4);
    for ((o, y), g) in (&mut out4).zip(&mut rows4).zip(&mut g4) {
        let (y0, y1, y2, y3) = (&y[..m], &y[m..2 * m], &y[2 * m..3 * m], &y[3 * m..4 * m]);
        let r = [1.0 / g[0], 1.0 / g[1], 1.0 / g[2], 1.0 / g[3]];
        let mut t = [-0.0_f64; 4];
        for i in 0..m {
            let ai = a[i];
            t[0] += (ai * y0[i] * r[0] - ai).abs();
            t[1] += (ai * y1[i] * r[1] - ai).abs();
            t[2] += (ai * y2[i] * r[2] - ai).abs();
            t[3] += (ai * y3[i] * r[3] - ai).abs();
        }
        o.copy_from_slice(&t);
    }
    let rest = out4.into_remainder();
    for ((o, y), &gn) in rest
        .iter_mut()
        .zip(rows4.remainder().chunks_exact(m))
        .zip(g4.remainder())
    {
        let r = 1.0 / gn;
        let mut t = -0.0_f64;
        for (&ai, &yi) in a.iter().zip(y) {
            t += (ai * yi * r - ai).abs();
        }
        *o = t;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::baselines::{BuyAndHold, EqualCrp, Olmar, Pamr};

    /// Buy and hold traded day by day through [`Account::trade`] (what the fast path must
    /// match): the first error, or the final wealth's bits.
    fn buy_and_hold_day_by_day(account: &mut Account, y: &[f64], m: usize) -> Result<u64> {
        let mut s = BuyAndHold::default();
        s.reset(m)?;
        let mut a = vec![0.0; m];
        for yn in y.chunks_exact(m) {
            s.weights(&mut a)?;
            account.trade(&a, yn)?;
            s.observe(yn)?;
        }
        Ok(account.wealth().to_bits())
    }

    fn relatives(days: usize, m: usize) -> Vec<f64> {
        let mut s = 7_u64;
        (0..days * m)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                0.95 + 0.1 * ((s >> 11) as f64 / (1u64 << 53) as f64)
            })
            .collect()
    }

    #[test]
    fn account_over_n_days_equals_simulate() {
        let (days, m) = (40, 3);
        let y = relatives(days, m);
        let fees = [
            Fee::None,
            Fee::Linear(0.01),
            Fee::Exact(0.01),
            Fee::PerSide {
                buy: 0.002,
                sell: 0.02,
            },
            Fee::Additive(0.01),
        ];
        for fee in fees {
            let strategies: Vec<Box<dyn OnlineStrategy>> = vec![
                Box::new(EqualCrp),
                Box::new(BuyAndHold::default()),
                Box::new(Olmar::new(4, 10.0).unwrap()),
                Box::new(Pamr::new(0.5, 0, 500.0).unwrap()),
            ];
            for mut s in strategies {
                let bt = simulate(s.as_mut(), &y, m, fee).unwrap();
                let mut account = Account::new(m, fee).unwrap();
                s.reset(m).unwrap();
                let mut a = vec![0.0; m];
                for (n, yn) in y.chunks_exact(m).enumerate() {
                    s.weights(&mut a).unwrap();
                    let day = account.trade(&a, yn).unwrap();
                    assert_eq!(day.period_return, bt.period_returns[n]);
                    assert_eq!(day.turnover, bt.turnover[n]);
                    assert_eq!(account.wealth(), bt.wealth[n]);
                    assert_eq!(&a[..], &bt.weights[n * m..(n + 1) * m]);
                    s.observe(yn).unwrap();
                }
                assert_eq!(account.days(), days);
                assert_eq!(account.wealth(), bt.final_wealth());
            }
        }
    }

    #[test]
    fn fused_step_is_bit_for_bit_the_separate_passes() {
        let (days, m) = (60, 5);
        let y = relatives(days, m);
        let fees = [
            Fee::None,
            Fee::Linear(0.01),
            Fee::Exact(0.01),
            Fee::Additive(0.0025),
        ];
        for fee in fees {
            let mut s = Olmar::new(4, 10.0).unwrap();
            let bt = simulate(&mut s, &y, m, fee).unwrap();
            let mut drifted = crate::simplex::uniform(m);
            let mut wealth = 1.0_f64;
            for (n, yn) in y.chunks_exact(m).enumerate() {
                let a = &bt.weights[n * m..(n + 1) * m];
                crate::simplex::validate_allocation(a, ALLOCATION_TOLERANCE).unwrap();
                let day = cost::period_return(fee, &drifted, a, yn, n == 0).unwrap();
                wealth *= day.period_return;
                cost::drift_by(a, yn, day.growth, &mut drifted);
                assert_eq!(day.period_return.to_bits(), bt.period_returns[n].to_bits());
                assert_eq!(day.turnover.to_bits(), bt.turnover[n].to_bits());
                assert_eq!(wealth.to_bits(), bt.wealth[n].to_bits());
            }
        }
    }

    /// The fast paths of `simulate` (a fixed allocation: `hold_constant`; buy and hold:
    /// `hold_drifted`) against one `trade` per day of the strategy's own allocations, bit for bit,
    /// for day counts around the four-day interleaving, every fee model and a non-uniform CRP.
    #[test]
    fn fast_paths_are_bit_for_bit_one_trade_per_day() {
        use crate::baselines::Crp;
        let m = 7;
        let fees = [
            Fee::None,
            Fee::Linear(0.01),
            Fee::Exact(0.01),
            Fee::PerSide {
                buy: 0.002,
                sell: 0.02,
            },
            Fee::Additive(0.0025),
        ];
        let w = [0.3, 0.05, 0.0, 0.25, 0.1, 0.2, 0.1];
        for days in [1, 2, 3, 4, 5, 6, 7, 8, 9, 41, 43] {
            let y = relatives(days, m);
            for fee in fees {
                let strategies: Vec<Box<dyn OnlineStrategy>> = vec![
                    Box::new(EqualCrp),
                    Box::new(Crp::new(w.to_vec()).unwrap()),
                    Box::new(BuyAndHold::default()),
                ];
                for mut s in strategies {
                    let bt = simulate(s.as_mut(), &y, m, fee).unwrap();
                    let mut account = Account::new(m, fee).unwrap();
                    s.reset(m).unwrap();
                    let mut a = vec![0.0; m];
                    let mut slow = Backtest::with_capacity(days, m);
                    for yn in y.chunks_exact(m) {
                        s.weights(&mut a).unwrap();
                        let day = account.trade(&a, yn).unwrap();
                        slow.push(&a, &day, account.wealth());
                        s.observe(yn).unwrap();
                    }
                    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                    let name = s.name();
                    assert_eq!(bits(&bt.wealth), bits(&slow.wealth), "{name} {fee:?} {days}");
                    assert_eq!(bits(&bt.weights), bits(&slow.weights), "{name} {fee:?} {days}");
                    assert_eq!(bits(&bt.turnover), bits(&slow.turnover), "{name} {fee:?} {days}");
                    assert_eq!(
                        bits(&bt.period_returns),
                        bits(&slow.period_returns),
                        "{name} {fee:?} {days}"
                    );
                }
            }
        }
    }

    /// A fixed (or held) allocation off the simplex: the fast paths refuse it on day 0, naming
    /// the strategy.
    #[test]
    fn fast_paths_refuse_bad_allocations_naming_the_day() {
        struct Fixed(Vec<f64>, bool);
        impl OnlineStrategy for Fixed {
            fn name(&self) -> String {
                "fixed".to_string()
            }
            fn reset(&mut self, _: usize) -> Result<()> {
                Ok(())
            }
            fn weights(&mut self, out: &mut [f64]) -> Result<()> {
                out.copy_from_slice(&self.0);
                Ok(())
            }
            fn observe(&mut self, _: &[f64]) -> Result<()> {
                Ok(())
            }
            fn constant_allocation(&self) -> bool {
                !self.1
            }
            fn holds_drifted(&self) -> bool {
                self.1
            }
        }
        let y = relatives(5, 2);
        for held in [false, true] {
            for a in [vec![0.6, 0.6], vec![f64::NAN, 1.0], vec![1.5, -0.5]] {
                for fee in [Fee::None, Fee::Additive(0.0025), Fee::Exact(0.0025)] {
                    match simulate(&mut Fixed(a.clone(), held), &y, 2, fee) {
                        Err(Error::InvalidAllocation { reason }) => {
                            assert!(reason.starts_with("fixed on day 0"), "{reason}")
                        }
                        other => panic!("{a:?} {held}: {other:?}"),
                    }
                }
            }
        }
    }

    /// Each path checks a day's relatives when it first reads it: an entry that is not finite
    /// and `> 0` on day `d` gives the error [`super::super::check_relatives`] gives for the whole
    /// matrix (the same day and asset), for the fixed-portfolio, buy-and-hold and general paths,
    /// on the first day, a middle day and the last day.
    #[test]
    fn every_path_reports_the_first_bad_day_as_check_relatives_does() {
        let (days, m) = (9, 3);
        for (day, asset) in [(0, 0), (4, 1), (8, 2)] {
            for bad in [f64::NAN, 0.0, -1.0, f64::INFINITY] {
                let mut y = relatives(days, m);
                y[day * m + asset] = bad;
                // A later bad day must not be the one reported.
                if day + 1 < days {
                    y[(day + 1) * m] = f64::NAN;
                }
                let want = super::super::check_relatives(&y, m).unwrap_err().to_string();
                for fee in [Fee::None, Fee::Additive(0.0025), Fee::Exact(0.0025)] {
                    let strategies: Vec<Box<dyn OnlineStrategy>> = vec![
                        Box::new(EqualCrp),
                        Box::new(BuyAndHold::default()),
                        Box::new(Olmar::new(3, 10.0).unwrap()),
                    ];
                    for mut s in strategies {
                        let got = simulate(s.as_mut(), &y, m, fee).unwrap_err().to_string();
                        assert_eq!(got, want, "{} {fee:?} day {day} {bad}", s.name());
                    }
                }
            }
        }
    }

    /// Buy and hold skips the simplex check after a day whose growth keeps the weights on the
    /// simplex; a growth whose inverse overflows (relatives of 1e-310, valid but subnormal) does
    /// not, so the next day's drifted weights (infinite) are refused on that day, exactly as the
    /// day-by-day loop refuses them.
    #[test]
    fn buy_and_hold_refuses_the_weights_after_a_growth_without_inverse() {
        let m = 3;
        let mut y = relatives(6, m);
        y[2 * m..3 * m].fill(1e-310);
        let fast = simulate(&mut BuyAndHold::default(), &y, m, Fee::None).unwrap_err();
        let mut account = Account::new(m, Fee::None)
            .unwrap()
            .named(BuyAndHold::default().name());
        let slow = buy_and_hold_day_by_day(&mut account, &y, m).unwrap_err();
        assert!(matches!(fast, Error::InvalidAllocation { .. }), "{fast}");
        assert!(fast.to_string().contains("on day 3"), "{fast}");
        assert_eq!(fast.to_string(), slow.to_string());
    }

    /// With a tolerance below the drift's rounding (0 here), buy and hold's fast path checks every
    /// day and stops where the day-by-day loop stops, with the same error.
    #[test]
    fn buy_and_hold_with_a_zero_tolerance_stops_where_the_loop_stops() {
        let m = 5;
        let y = relatives(40, m);
        let mut fast = Account::new(m, Fee::None).unwrap().with_tolerance(0.0).unwrap();
        fast.drifted.fill(1.0 / m as f64);
        let fast = fast.hold_drifted(&y, 40).map(|bt| bt.final_wealth().to_bits());
        let mut slow = Account::new(m, Fee::None).unwrap().with_tolerance(0.0).unwrap();
        let slow = buy_and_hold_day_by_day(&mut slow, &y, m);
        // Some drifted sum is not exactly 1, so both refuse it, on the same day.
        let (fast, slow) = (fast.unwrap_err().to_string(), slow.unwrap_err().to_string());
        assert_eq!(fast, slow);
    }

    #[test]
    fn per_side_with_equal_rates_simulates_like_exact() {
        let y = relatives(30, 4);
        let mut s = Olmar::new(3, 10.0).unwrap();
        let exact = simulate(&mut s, &y, 4, Fee::Exact(0.0025)).unwrap();
        let sides = simulate(
            &mut s,
            &y,
            4,
            Fee::PerSide {
                buy: 0.0025,
                sell: 0.0025,
            },
        )
        .unwrap();
        assert_eq!(exact, sides);
        let cheaper = simulate(
            &mut s,
            &y,
            4,
            Fee::PerSide {
                buy: 0.0025,
                sell: 0.0,
            },
        )
        .unwrap();
        assert!(cheaper.final_wealth() >= exact.final_wealth());
    }

    #[test]
    fn trade_refuses_bad_allocations_and_keeps_the_account() {
        let mut account = Account::new(2, Fee::Exact(0.01)).unwrap().named("test");
        let day = account.trade(&[0.5, 0.5], &[1.5, 0.5]).unwrap();
        assert_eq!((day.turnover, day.period_return), (0.0, 1.0));
        for a in [[0.6, 0.6], [f64::NAN, 1.0], [1.5, -0.5]] {
            match account.trade(&a, &[1.0, 1.0]) {
                Err(Error::InvalidAllocation { reason }) => {
                    assert!(reason.starts_with("test on day 1"), "{reason}")
                }
                other => panic!("{other:?}"),
            }
        }
        assert!(matches!(
            account.trade(&[1.0], &[1.0, 1.0]),
            Err(Error::ShapeMismatch { .. })
        ));
        assert!(account.trade(&[0.5, 0.5], &[1.0, 0.0]).is_err());
        assert_eq!((account.days(), account.wealth()), (1, 1.0));
        assert_eq!(account.drifted(), &[0.75, 0.25]);
        let day = account.trade(&[0.75, 0.25], &[1.0, 1.0]).unwrap();
        assert_eq!((day.turnover, day.remainder), (0.0, 1.0));
        assert!(Account::new(0, Fee::None).is_err());
        assert!(Account::new(2, Fee::Linear(1.0)).is_err());
        assert!(Account::new(2, Fee::None).unwrap().with_tolerance(-1.0).is_err());
    }

    /// Two assets and cash: half in asset 0 (which doubles), half in cash; then everything to
    /// cash. Selling 2/3 of the wealth into cash is one trade: turnover 2/3 (not 4/3, as it would
    /// be with cash counted as an asset), and under the exact model `μ = 1 − 2c/3`.
    #[test]
    fn cash_account_charges_a_move_into_cash_once() {
        let c = 0.01;
        for fee in [
            Fee::Additive(c),
            Fee::Linear(c),
            Fee::Exact(c),
            Fee::PerSide { buy: 0.5, sell: c },
        ] {
            let mut account = Account::with_cash(2, fee).unwrap();
            assert_eq!(account.drifted(), &[0.0, 0.0, 1.0]);
            let day = account.trade(&[0.5, 0.0, 0.5], &[2.0, 1.0]).unwrap();
            assert_eq!((day.growth, day.turnover, day.period_return), (1.5, 0.0, 1.5));
            let w = account.drifted();
            assert!((w[0] - 2.0 / 3.0).abs() < 1e-15 && w[1] == 0.0 && (w[2] - 1.0 / 3.0).abs() < 1e-15);
            let day = account.trade(&[0.0, 0.0, 1.0], &[3.0, 0.5]).unwrap();
            assert!(
                (day.turnover - 2.0 / 3.0).abs() < 1e-15,
                "{fee:?}: {}",
                day.turnover
            );
            assert_eq!(day.growth, 1.0);
            // Every model charges c on the 2/3 sold (the per-side model only its selling rate:
            // nothing is bought).
            let expected = 1.0 - c * 2.0 / 3.0;
            assert!(
                (day.period_return - expected).abs() < 1e-10,
                "{fee:?}: {}",
                day.period_return
            );
            assert_eq!(account.wealth(), 1.5 * day.period_return);
        }
        let mut account = Account::with_cash(2, Fee::None).unwrap();
        assert!(matches!(
            account.trade(&[0.5, 0.5], &[1.0, 1.0]),
            Err(Error::ShapeMismatch { .. })
        ));
        assert!(matches!(
            account.trade(&[0.5, 0.0, 0.5], &[1.0, 1.0, 1.0]),
            Err(Error::ShapeMismatch { .. })
        ));
        assert!(matches!(
            account.trade(&[0.5, 0.0, 0.6], &[1.0, 1.0]),
            Err(Error::InvalidAllocation { .. })
        ));
        assert_eq!(account.days(), 0);
        assert!(Account::with_cash(0, Fee::None).is_err());
        assert!(Account::with_cash(2, Fee::Exact(1.5)).is_err());
    }

    /// A strategy that never holds cash gives, through the cash account, the bits of the
    /// ordinary account: the cash entry adds `+0` to one partial sum of the growth and nothing to
    /// the turnover or the remainder.
    #[test]
    fn cash_account_without_cash_is_the_plain_account() {
        struct NoCash(Olmar);
        impl OnlineStrategy for NoCash {
            fn name(&self) -> String {
                self.0.name()
            }
            fn reset(&mut self, m: usize) -> Result<()> {
                self.0.reset(m)
            }
            fn weights(&mut self, out: &mut [f64]) -> Result<()> {
                let m = out.len() - 1;
                out[m] = 0.0;
                self.0.weights(&mut out[..m])
            }
            fn observe(&mut self, y: &[f64]) -> Result<()> {
                self.0.observe(y)
            }
            fn holds_cash(&self) -> bool {
                true
            }
        }
        let (days, m) = (40, 5);
        let y = relatives(days, m);
        for fee in [
            Fee::None,
            Fee::Additive(0.0025),
            Fee::Exact(0.01),
            Fee::PerSide {
                buy: 0.002,
                sell: 0.02,
            },
        ] {
            let plain = simulate(&mut Olmar::new(4, 10.0).unwrap(), &y, m, fee).unwrap();
            let cash = simulate(&mut NoCash(Olmar::new(4, 10.0).unwrap()), &y, m, fee).unwrap();
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&plain.wealth), bits(&cash.wealth), "{fee:?}");
            assert_eq!(bits(&plain.turnover), bits(&cash.turnover), "{fee:?}");
            let risky: Vec<f64> = cash
                .weights
                .chunks_exact(m + 1)
                .flat_map(|r| r[..m].to_vec())
                .collect();
            assert_eq!(bits(&plain.weights), bits(&risky));
        }
    }
}
