//! One task of the portfolio problem (§6.2) stepped one day at a time: the dynamics behind the
//! Gymnasium environment `pimtl/Portfolio-v0` of the Python bindings (`python/`), usable from
//! Rust as any step-by-step environment.
//!
//! A task is a subset `U` of a [`Market`]'s instruments (plus cash when configured). Deciding day
//! `n` (window `H ≤ n`), the observation is each entity's window of `H` days of centred price
//! ratios (`H · F` values, the encoder's input of [`super::portfolio`]) and its previous weight
//! `w'_{n−1}`; the action is an allocation `a_n` on the simplex; the day is one
//! [`Account::trade`] (the simulator of every back-test in the crate):
//!
//! ```text
//! r_n  = period_return(fee, w'_{n−1}, a_n, y_n)     (the first trade of an episode is free)
//! R_n  = ln r_n                                      (the reward)
//! W_n  = W_{n−1} · r_n,  w'_n = a_n ⊙ y_n / (a_n · y_n)
//! ```
//!
//! An episode covers decision days `[from, to)` and starts from wealth 1 with the uniform previous
//! weights, as [`super::portfolio::run_policy`] does, so that stepping an episode with a policy's
//! allocations reproduces that back-test. An allocation that is non-finite or off the simplex is
//! refused with [`Error::InvalidAllocation`] naming the day (never renormalised) and the episode
//! is unchanged.

use super::portfolio::{Market, PortfolioConfig, PortfolioTasks};
use crate::error::{Error, Result};
use crate::portfolio::cost::TradingDay;
use crate::portfolio::{Account, Fee, ALLOCATION_TOLERANCE};
use std::sync::Arc;

/// What one [`PortfolioEpisode::step`] did.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EpisodeStep {
    /// The reward `R_n = ln r_n` (`−∞` when an additive fee takes the whole period).
    pub reward: f64,
    /// The day's growth, remainder, fee and turnover.
    pub day: TradingDay,
    /// Wealth `W_n` after the day.
    pub wealth: f64,
    /// Whether this was the episode's last decision day (`n + 1 = to`).
    pub done: bool,
}

/// One task of a market stepped day by day (see the [module documentation](self)).
#[derive(Clone, Debug)]
pub struct PortfolioEpisode {
    market: Arc<Market>,
    window: usize,
    cash: bool,
    feature_scale: f64,
    fee: Fee,
    tolerance: f64,
    assets: Vec<usize>,
    from: usize,
    to: usize,
    day: usize,
    account: Account,
    y: Vec<f64>,
}

impl PortfolioEpisode {
    /// A task on `assets` (indices into `market`, distinct) with the window, cash entity and
    /// feature scale of `config` (its commission and training settings are not used: `fee` is
    /// the fee), ready for [`reset`](Self::reset) over the whole data (`[H, D)`).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for an invalid `config` or `fee`, no assets, an asset index out
    /// of range or repeated, or fewer than `H + 1` days of data.
    pub fn new(market: Arc<Market>, config: &PortfolioConfig, fee: Fee, assets: Vec<usize>) -> Result<Self> {
        config.validate()?;
        fee.validate()?;
        if assets.is_empty() {
            return Err(Error::param(
                "assets",
                "[]",
                "a task needs at least one instrument",
            ));
        }
        let mut seen = vec![false; market.assets()];
        for &a in &assets {
            match seen.get_mut(a) {
                None => {
                    return Err(Error::param(
                        "assets",
                        a,
                        format!(
                            "instrument index out of range (the market has {})",
                            market.assets()
                        ),
                    ))
                }
                Some(true) => return Err(Error::param("assets", a, "instrument given twice")),
                Some(s) => *s = true,
            }
        }
        if !(config.feature_scale.is_finite() && config.feature_scale > 0.0) {
            return Err(Error::param(
                "feature_scale",
                config.feature_scale,
                "must be finite and > 0",
            ));
        }
        let (from, to) = (config.window, market.days());
        if from >= to {
            return Err(Error::param(
                "window",
                config.window,
                format!(
                    "needs at least window + 1 = {} days of data, got {to}",
                    config.window + 1
                ),
            ));
        }
        let m = assets.len() + usize::from(config.cash);
        Ok(PortfolioEpisode {
            window: config.window,
            cash: config.cash,
            feature_scale: config.feature_scale,
            fee,
            tolerance: ALLOCATION_TOLERANCE,
            assets,
            from,
            to,
            day: from,
            account: Account::new(m, fee)?.named("action"),
            y: Vec::with_capacity(m),
            market,
        })
    }

    /// Replaces the simplex tolerance of the action check (default [`ALLOCATION_TOLERANCE`],
    /// `1e-6`; an `f32` softmax over `m` entities needs about `m · 2⁻²³` more).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] (`tol`) for a negative or non-finite tolerance.
    pub fn with_tolerance(mut self, tol: f64) -> Result<Self> {
        self.account = self.account.with_tolerance(tol)?;
        self.tolerance = tol;
        Ok(self)
    }

    /// Starts an episode over decision days `[from, to)`: wealth 1, uniform previous weights, the
    /// first trade free.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] (`from`/`to`) unless `H ≤ from < to ≤ D`.
    pub fn reset(&mut self, from: usize, to: usize) -> Result<()> {
        let days = self.market.days();
        if from < self.window || from >= to || to > days {
            return Err(Error::param(
                "episode days",
                format!("[{from}, {to})"),
                format!(
                    "need window = {} <= from < to <= {days} (days of data)",
                    self.window
                ),
            ));
        }
        let m = self.entities();
        self.account = Account::new(m, self.fee)?
            .named("action")
            .with_tolerance(self.tolerance)?;
        self.from = from;
        self.to = to;
        self.day = from;
        Ok(())
    }

    /// Entities of the task `m` (instruments, plus one with cash).
    pub fn entities(&self) -> usize {
        self.assets.len() + usize::from(self.cash)
    }

    /// Window length `H`.
    pub fn window(&self) -> usize {
        self.window
    }

    /// Features per day `F` (1: close; 3: close, high, low).
    pub fn features(&self) -> usize {
        self.market.features()
    }

    /// The task's instruments (indices into the market).
    pub fn assets(&self) -> &[usize] {
        &self.assets
    }

    /// The fee model.
    pub fn fee(&self) -> Fee {
        self.fee
    }

    /// Days of data `D` in the market.
    pub fn market_days(&self) -> usize {
        self.market.days()
    }

    /// The next decision day `n` (`to` once the episode is over).
    pub fn day(&self) -> usize {
        self.day
    }

    /// The episode's decision days `[from, to)`.
    pub fn range(&self) -> (usize, usize) {
        (self.from, self.to)
    }

    /// Whether every decision day of the episode has been traded.
    pub fn is_done(&self) -> bool {
        self.day >= self.to
    }

    /// Wealth `W` so far (1 at the start).
    pub fn wealth(&self) -> f64 {
        self.account.wealth()
    }

    /// The previous weights `w'_{n−1}` the next action rebalances from (uniform at the start).
    pub fn weights(&self) -> &[f64] {
        self.account.drifted()
    }

    /// Writes the observation for deciding the next day: `window` gets `[m][H][F]` centred price
    /// ratios (`κ · (v_d / v_{n−1} − 1)`, cash all 0), `weights` the previous weights `w'_{n−1}`.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] for buffers of the wrong length; [`Error::InvalidParameter`] when
    /// the episode is over (there is no next day to decide).
    pub fn observe(&self, window: &mut [f64], weights: &mut [f64]) -> Result<()> {
        let m = self.entities();
        let per = self.window * self.features();
        if window.len() != m * per {
            return Err(Error::shape("observation window (m·H·F)", m * per, window.len()));
        }
        if weights.len() != m {
            return Err(Error::shape("observation weights (m)", m, weights.len()));
        }
        if self.is_done() {
            return Err(Error::param("day", self.day, "the episode is over: reset it"));
        }
        let cfg = self.features_config();
        PortfolioTasks::state_features(&self.market, &cfg, &self.assets, self.day, window);
        weights.copy_from_slice(self.account.drifted());
        Ok(())
    }

    /// Trades the next day with allocation `a` and moves to the day after.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] when the episode is over; [`Error::ShapeMismatch`] for an
    /// allocation of the wrong length; [`Error::InvalidAllocation`] naming the day when `a` is
    /// non-finite or off the simplex. The episode is unchanged after an error.
    pub fn step(&mut self, a: &[f64]) -> Result<EpisodeStep> {
        if self.is_done() {
            return Err(Error::param("day", self.day, "the episode is over: reset it"));
        }
        if a.len() != self.entities() {
            return Err(Error::shape(
                "action (entities of the task)",
                self.entities(),
                a.len(),
            ));
        }
        // Checked here (the account checks again) so that the message names the data's day.
        crate::simplex::validate_allocation(a, self.tolerance).map_err(|e| {
            let what = match e {
                Error::InvalidAllocation { reason } => reason,
                other => other.to_string(),
            };
            Error::InvalidAllocation {
                reason: format!(
                    "action for decision day {} (day {} of the episode): {what}",
                    self.day,
                    self.day - self.from
                ),
            }
        })?;
        self.y.clear();
        let cfg = self.features_config();
        PortfolioTasks::day_relatives(&self.market, &cfg, &self.assets, self.day, &mut self.y);
        let day = self.account.trade(a, &self.y)?;
        self.day += 1;
        Ok(EpisodeStep {
            reward: day.period_return.ln(),
            day,
            wealth: self.account.wealth(),
            done: self.is_done(),
        })
    }

    /// The settings `state_features` and `day_relatives` read (window, cash, scale).
    fn features_config(&self) -> PortfolioConfig {
        PortfolioConfig {
            window: self.window,
            cash: self.cash,
            feature_scale: self.feature_scale,
            ..PortfolioConfig::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::baselines::EqualCrp;

    /// Three assets over six days; asset 1 doubles every day, asset 2 halves on day 3.
    fn market() -> Arc<Market> {
        let rel = vec![
            1.0, 2.0, 1.0, //
            1.1, 2.0, 1.0, //
            0.9, 2.0, 1.0, //
            1.0, 2.0, 0.5, //
            1.2, 2.0, 1.0, //
            1.0, 2.0, 1.0,
        ];
        Arc::new(Market::new(3, rel, None).unwrap())
    }

    fn config(window: usize) -> PortfolioConfig {
        PortfolioConfig {
            window,
            ..PortfolioConfig::default()
        }
    }

    #[test]
    fn observation_is_the_window_of_ratios_to_the_latest_close() {
        let ep = PortfolioEpisode::new(market(), &config(2), Fee::None, vec![1, 2]).unwrap();
        let (mut w, mut p) = (vec![0.0; 4], vec![0.0; 2]);
        ep.observe(&mut w, &mut p).unwrap();
        // Deciding day 2: asset 1's closes after days 0 and 1 are 2 and 4: ratios 2/4 − 1, 0.
        assert_eq!(w, vec![-0.5, 0.0, 0.0, 0.0]);
        assert_eq!(p, vec![0.5, 0.5]);
    }

    #[test]
    fn stepping_equal_weights_is_the_equal_crp_backtest_bit_for_bit() {
        let fee = Fee::Exact(0.0025);
        let mut ep = PortfolioEpisode::new(market(), &config(2), fee, vec![0, 2]).unwrap();
        ep.reset(2, 6).unwrap();
        let mut total = 0.0;
        let mut last = None;
        while !ep.is_done() {
            let s = ep.step(&[0.5, 0.5]).unwrap();
            total += s.reward;
            last = Some(s);
        }
        let last = last.unwrap();
        assert!(last.done);
        // Decision days 2..6 of assets 0 and 2.
        let y: Vec<f64> = (2..6)
            .flat_map(|d| [market().relative(d, 0), market().relative(d, 2)])
            .collect();
        let bt = crate::portfolio::simulate(&mut EqualCrp, &y, 2, fee).unwrap();
        assert_eq!(last.wealth.to_bits(), bt.final_wealth().to_bits());
        assert!((total - bt.final_wealth().ln()).abs() < 1e-15);
    }

    #[test]
    fn an_allocation_off_the_simplex_is_refused_and_changes_nothing() {
        let mut ep = PortfolioEpisode::new(market(), &config(1), Fee::Exact(0.01), vec![0, 1, 2]).unwrap();
        ep.step(&[0.2, 0.3, 0.5]).unwrap();
        let (day, wealth, weights) = (ep.day(), ep.wealth(), ep.weights().to_vec());
        for bad in [[0.5, 0.5, 0.5], [f64::NAN, 0.5, 0.5], [1.5, -0.5, 0.0]] {
            let err = ep.step(&bad).unwrap_err().to_string();
            assert!(err.contains("decision day 2"), "{err}");
        }
        assert!(ep.step(&[0.5, 0.5]).is_err());
        assert_eq!((ep.day(), ep.wealth(), ep.weights()), (day, wealth, &weights[..]));
    }

    #[test]
    fn cash_is_an_extra_entity_with_flat_price() {
        let cfg = PortfolioConfig {
            cash: true,
            ..config(1)
        };
        let mut ep = PortfolioEpisode::new(market(), &cfg, Fee::None, vec![1]).unwrap();
        assert_eq!(ep.entities(), 2);
        let s = ep.step(&[0.0, 1.0]).unwrap();
        assert_eq!(s.wealth, 1.0);
        let s = ep.step(&[1.0, 0.0]).unwrap();
        assert_eq!(s.wealth, 2.0);
    }

    #[test]
    fn bad_tasks_and_ranges_are_errors() {
        let m = market();
        assert!(PortfolioEpisode::new(m.clone(), &config(2), Fee::None, vec![]).is_err());
        assert!(PortfolioEpisode::new(m.clone(), &config(2), Fee::None, vec![0, 3]).is_err());
        assert!(PortfolioEpisode::new(m.clone(), &config(2), Fee::None, vec![1, 1]).is_err());
        assert!(PortfolioEpisode::new(m.clone(), &config(6), Fee::None, vec![0]).is_err());
        assert!(PortfolioEpisode::new(m.clone(), &config(2), Fee::Exact(1.5), vec![0]).is_err());
        let mut ep = PortfolioEpisode::new(m, &config(2), Fee::None, vec![0]).unwrap();
        assert!(ep.reset(1, 4).is_err());
        assert!(ep.reset(3, 3).is_err());
        assert!(ep.reset(3, 7).is_err());
        ep.reset(5, 6).unwrap();
        assert!(ep.step(&[1.0]).unwrap().done);
        assert!(ep.step(&[1.0]).is_err());
        let (mut w, mut p) = (vec![0.0; 2], vec![0.0; 1]);
        assert!(ep.observe(&mut w, &mut p).is_err());
    }
}
