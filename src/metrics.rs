//! Portfolio performance metrics over a back-test (§6.2 and Figs. 3–5 of the paper).
//!
//! Input: the daily period returns `r_n` (gross growth factors, `r = 1.05` is +5 %) and turnovers
//! of a back-test over `N` trading days, with 252 trading days a year. Definitions:
//!
//! ```text
//! final_wealth                 W_N = Π_n r_n                                  (W_0 = 1)
//! annualised_return            W_N^(252/N) − 1                                (geometric, CAGR)
//! arithmetic_annualised_return (mean_n r_n − 1) · 252                         (universal-portfolios)
//! annualised_volatility        std_n(r_n − 1) · √252                          (sample std, N − 1)
//! sharpe                       mean_n(r_n − 1) / std_n(r_n − 1) · √252        (risk-free rate 0)
//! max_drawdown                 max_n (1 − W_n / max_{k ≤ n} W_k), with W_0 = 1 among the peaks
//! mean_turnover                (1/N) Σ_n Σ_i |a_{n,i} − w'_{n−1,i}|           (day 0 counts as 0)
//! gain_over(a, b)              W_N(a) / W_N(b) − 1
//! ```
//!
//! Conventions compared with universal-portfolios 0.4.17 (`AlgoResult`): its `annualized_return`
//! is the arithmetic `(mean r − 1)·252`, which can be positive while the wealth goes to 0; here the
//! headline `annualised_return` is the geometric one and the arithmetic one is reported beside
//! it. Its Sharpe ratio and volatility are the same as here (pandas' sample standard deviation,
//! √252). Its maximum drawdown takes peaks from day 0's wealth on; here the initial wealth 1
//! also counts as a peak, so a loss on the first day is a drawdown. PGPortfolio reports a
//! per-period Sharpe ratio without the √252 factor.
//!
//! When the standard deviation is 0 (fewer than two days, or constant returns) the volatility is
//! 0 and the Sharpe ratio is defined as 0. Non-finite returns propagate into the metrics as NaN;
//! nothing panics.

use crate::baselines::Backtest;
use serde::Serialize;

/// Trading days per year used for annualisation.
pub const TRADING_DAYS_PER_YEAR: f64 = 252.0;

/// Performance metrics of one back-test (see the [module documentation](self) for the formulas).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Metrics {
    /// Final wealth `W_N = Π_n r_n` from an initial wealth of 1.
    pub final_wealth: f64,
    /// Geometric annualised return `W_N^(252/N) − 1`.
    pub annualised_return: f64,
    /// Arithmetic annualised return `(mean r − 1)·252` (universal-portfolios' `annualized_return`).
    pub arithmetic_annualised_return: f64,
    /// Annualised volatility `std(r − 1)·√252` (sample standard deviation).
    pub annualised_volatility: f64,
    /// Annualised Sharpe ratio `mean(r − 1)/std(r − 1)·√252` with a zero risk-free rate.
    pub sharpe: f64,
    /// Maximum drawdown `max_n (1 − W_n / max_{k ≤ n} W_k)` in `[0, 1]`, the initial wealth 1
    /// counting as a peak.
    pub max_drawdown: f64,
    /// Mean daily turnover `Σ_i |a_{n,i} − w'_{n−1,i}|`.
    pub mean_turnover: f64,
    /// Number of days `N`.
    pub days: usize,
}

impl Metrics {
    /// Metrics of a [`Backtest`] (its period returns and turnover).
    pub fn from_backtest(bt: &Backtest) -> Metrics {
        Metrics::from_period_returns(&bt.period_returns, &bt.turnover)
    }

    /// Metrics from daily period returns `r_n` (growth factors) and daily turnovers.
    ///
    /// `turnover` may be empty (mean turnover 0) or of any length; its mean is taken as given.
    /// With no returns the wealth is 1 and every rate is 0.
    pub fn from_period_returns(returns: &[f64], turnover: &[f64]) -> Metrics {
        let n = returns.len();
        let mean_turnover = if turnover.is_empty() {
            0.0
        } else {
            turnover.iter().sum::<f64>() / turnover.len() as f64
        };
        if n == 0 {
            return Metrics {
                final_wealth: 1.0,
                mean_turnover,
                ..Metrics::default()
            };
        }
        let nf = n as f64;
        let log_wealth: f64 = returns.iter().map(|r| r.ln()).sum();
        let final_wealth = returns.iter().product::<f64>();
        let annualised_return = if final_wealth == 0.0 {
            -1.0
        } else {
            (log_wealth * TRADING_DAYS_PER_YEAR / nf).exp() - 1.0
        };
        let mean_excess = returns.iter().map(|r| r - 1.0).sum::<f64>() / nf;
        let std = if n >= 2 {
            (returns
                .iter()
                .map(|r| (r - 1.0 - mean_excess).powi(2))
                .sum::<f64>()
                / (nf - 1.0))
                .sqrt()
        } else {
            0.0
        };
        let root = TRADING_DAYS_PER_YEAR.sqrt();
        let sharpe = if std > 0.0 { mean_excess / std * root } else { 0.0 };
        let mut wealth = 1.0_f64;
        let mut peak = 1.0_f64;
        let mut max_drawdown = 0.0_f64;
        for r in returns {
            wealth *= r;
            peak = peak.max(wealth);
            if peak > 0.0 {
                max_drawdown = max_drawdown.max(1.0 - wealth / peak);
            }
        }
        Metrics {
            final_wealth,
            annualised_return,
            arithmetic_annualised_return: mean_excess * TRADING_DAYS_PER_YEAR,
            annualised_volatility: std * root,
            sharpe,
            max_drawdown,
            mean_turnover,
            days: n,
        }
    }
}

/// Relative final-wealth gain of `a` over `b`: `W_N(a) / W_N(b) − 1` (e.g. the gain over Equal
/// CRP of Fig. 3; `0.1` = 10 % more wealth). Infinite or NaN when `b`'s wealth is 0.
pub fn gain_over(a: &Metrics, b: &Metrics) -> f64 {
    a.final_wealth / b.final_wealth - 1.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simple_metrics() {
        let m = Metrics::from_period_returns(&[1.1, 0.9, 1.2], &[0.0, 0.5, 1.0]);
        assert!((m.final_wealth - 1.188).abs() < 1e-12);
        assert!((m.max_drawdown - 0.1).abs() < 1e-12);
        assert!((m.mean_turnover - 0.5).abs() < 1e-12);
        assert!((m.annualised_return - (1.188_f64.powf(84.0) - 1.0)).abs() < 1e-6 * 1.188_f64.powf(84.0));
        assert!((m.arithmetic_annualised_return - 0.2 / 3.0 * 252.0).abs() < 1e-9);
        let std =
            ((0.1_f64 - 0.2 / 3.0).powi(2) + (-0.1_f64 - 0.2 / 3.0).powi(2) + (0.2_f64 - 0.2 / 3.0).powi(2))
                .sqrt()
                / 2.0_f64.sqrt();
        assert!((m.annualised_volatility - std * 252.0_f64.sqrt()).abs() < 1e-12);
        assert!((m.sharpe - (0.2 / 3.0) / std * 252.0_f64.sqrt()).abs() < 1e-9);
        assert_eq!(m.days, 3);
        let e = Metrics::from_period_returns(&[], &[]);
        assert_eq!(e.final_wealth, 1.0);
        assert_eq!(e.sharpe, 0.0);
        let first_loss = Metrics::from_period_returns(&[0.8, 1.5], &[]);
        assert!((first_loss.max_drawdown - 0.2).abs() < 1e-12);
        assert!((gain_over(&m, &first_loss) - (1.188 / 1.2 - 1.0)).abs() < 1e-12);
    }
}
