//! OLMAR: On-Line Moving Average Reversion (Li & Hoi 2012), the OLMAR-1 variant with a simple
//! moving average.
//!
//! B. Li and S. C. H. Hoi, "On-Line Portfolio Selection with Moving Average Reversion", ICML 2012
//! (Algorithm 1 and eq. 3). On day `n + 1`, with the relatives `y_0 … y_{n}` revealed (prices
//! `p_k`, `p_{k+1} = p_k ⊙ y_k`), OLMAR predicts the next relative by the moving average of the
//! last `w` prices over today's price and moves the portfolio just far enough for the predicted
//! return to reach `ε`:
//!
//! ```text
//! x̃_{n+1} = (1/w) Σ_{k=0}^{w−1} p_{n+1−k} / p_{n+1}
//!         = (1/w) (1 + 1/y_n + 1/(y_n ⊙ y_{n−1}) + … )            (w terms)
//! x̄       = mean_i x̃_{n+1,i}
//! λ       = max(0, (ε − b_n·x̃_{n+1}) / ‖x̃_{n+1} − x̄ 1‖²)           (λ = 0 if the norm is 0)
//! b_{n+1} = Π_Δ(b_n + λ (x̃_{n+1} − x̄ 1))                           (Euclidean projection)
//! ```
//!
//! Warm-up (the paper does not specify the first days; [`OlmarWarmup`] chooses between the two
//! implementations in use):
//! * [`OlmarWarmup::Olps`] (default), Li & Hoi's own OLPS toolbox (`olmar1_run.m`,
//!   `olmar1_expert.m`): `b` stays uniform on days 0 and 1; on day `n ≥ 2` (`n` relatives known) the
//!   prediction is the last relative `y_{n−1}` while `n < w + 1`, and the moving average from
//!   `n = w + 1` on;
//! * [`OlmarWarmup::Universal`], universal-portfolios 0.4.17 (`algos/olmar.py`): `b` is uniform on
//!   day 0; on day `n ≥ 1` the prediction is the cumulative price `p_n / p_0 = Π_{k<n} y_k` while
//!   `n < w`, and the moving average from `n = w` on.
//!
//! [`OlmarWarmup::Universal`] reproduces the package run on a series whose first row is the
//! package's day of ones *with that day left out*: the package takes no step on it, so its
//! `B[t + 1]` is this port's `b_t` and the wealth is the same (tests/olps_mean_reversion.rs).
//!
//! Step cap: neither universal-portfolios 0.4.17 (`OLMAR.update`: `lam = max(0.0, (eps −
//! b·x̃) / denominator)`, no upper bound) nor the OLPS toolbox (`olmar1_expert.m`) bounds `λ`, so
//! the default is uncapped. [`Olmar::with_max_step`] opts into `λ ← min(λ, λ_max)`, the guard
//! PAMR uses (`λ_max = 10⁵` there).
//!
//! The two differ on the first few days only, but OLMAR's aggressive steps (`ε = 10`) make the
//! wealth path-dependent: on DJIA the final wealth differs by about 10 %.

use super::{check_assets, check_day, check_out, project_to_simplex, OnlineStrategy, Window};
use crate::error::{Error, Result};
use serde::Serialize;

/// How OLMAR predicts the next relative before a full moving-average window is available (see the
/// [module documentation](self)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub enum OlmarWarmup {
    /// Li & Hoi's OLPS toolbox: uniform on days 0–1, last relative while `n ≤ w`.
    #[default]
    Olps,
    /// universal-portfolios 0.4.17: uniform on day 0, cumulative price while `n < w`.
    Universal,
}

/// OLMAR-1 with an SMA window `w` and reversion threshold `ε` (the paper's defaults: `w = 5`,
/// `ε = 10`); see the [module documentation](self) for the update.
///
/// Each observed day advances the state `b_n`; the strategy keeps the last `w` relatives and the
/// cumulative price `Π_k y_k` (for the universal-portfolios warm-up), O(w·m) per day.
#[derive(Clone, Debug)]
pub struct Olmar {
    window: usize,
    eps: f64,
    warmup: OlmarWarmup,
    max_step: Option<f64>,
    b: Vec<f64>,
    seen: usize,
    recent: Window,
    cum_price: Vec<f64>,
    x_pred: Vec<f64>,
    next: Vec<f64>,
}

impl Olmar {
    /// OLMAR-1 with moving-average window `window` (≥ 2) and threshold `eps` (finite, > 0;
    /// Li & Hoi recommend `ε > 1`, e.g. 10).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] (`window` or `eps`) outside those ranges.
    pub fn new(window: usize, eps: f64) -> Result<Olmar> {
        if window < 2 {
            return Err(Error::param(
                "window",
                window,
                "the moving-average window must be ≥ 2",
            ));
        }
        if !(eps.is_finite() && eps > 0.0) {
            return Err(Error::param(
                "eps",
                eps,
                "the reversion threshold ε must be finite and > 0",
            ));
        }
        Ok(Olmar {
            window,
            eps,
            warmup: OlmarWarmup::Olps,
            max_step: None,
            b: Vec::new(),
            seen: 0,
            recent: Window::default(),
            cum_price: Vec::new(),
            x_pred: Vec::new(),
            next: Vec::new(),
        })
    }

    /// The same strategy with another warm-up convention.
    pub fn with_warmup(mut self, warmup: OlmarWarmup) -> Olmar {
        self.warmup = warmup;
        self
    }

    /// The same strategy with the step size capped, `λ ← min(λ, λ_max)` (the default is
    /// uncapped, as in universal-portfolios and the OLPS toolbox; see the
    /// [module documentation](self)).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] (`max_step`) unless `λ_max` is finite and > 0.
    pub fn with_max_step(mut self, max_step: f64) -> Result<Olmar> {
        if !(max_step.is_finite() && max_step > 0.0) {
            return Err(Error::param(
                "max_step",
                max_step,
                "the step cap λ_max must be finite and > 0",
            ));
        }
        self.max_step = Some(max_step);
        Ok(self)
    }

    /// The step cap `λ_max`, `None` when uncapped (the default).
    pub fn max_step(&self) -> Option<f64> {
        self.max_step
    }

    /// The warm-up convention in use.
    pub fn warmup(&self) -> OlmarWarmup {
        self.warmup
    }

    /// Advances `b` from day `days − 1` to day `days`, the relatives of days `0 … days−1` having
    /// been observed (the last `w` of them are in `recent`, their product in `cum_price`).
    fn step(&mut self, days: usize) -> Result<()> {
        let m = self.b.len();
        let sma_from = match self.warmup {
            OlmarWarmup::Olps => {
                if days < 2 {
                    return Ok(());
                }
                self.window + 1
            }
            OlmarWarmup::Universal => self.window,
        };
        if days < sma_from {
            match self.warmup {
                OlmarWarmup::Olps => {
                    for (i, x) in self.x_pred.iter_mut().enumerate() {
                        *x = self.recent.back(0, i);
                    }
                }
                OlmarWarmup::Universal => self.x_pred.copy_from_slice(&self.cum_price),
            }
        } else {
            // x̃ = (1/w) Σ_{k=0}^{w−1} p_{days−k} / p_days = (1/w) Σ_k 1 / Π_{j<k} y_{days−1−j}.
            let w = self.window as f64;
            for (i, x) in self.x_pred.iter_mut().enumerate() {
                let mut cum = 1.0;
                let mut sum = 0.0;
                for k in 0..self.window {
                    sum += 1.0 / cum;
                    if k + 1 < self.window {
                        cum *= self.recent.back(k, i);
                    }
                }
                *x = sum / w;
            }
        }
        let mean = self.x_pred.iter().sum::<f64>() / m as f64;
        let denom: f64 = self.x_pred.iter().map(|x| (x - mean) * (x - mean)).sum();
        let lambda = if denom > 0.0 {
            let bx: f64 = self.b.iter().zip(&self.x_pred).map(|(b, x)| b * x).sum();
            let lambda = ((self.eps - bx) / denom).max(0.0);
            self.max_step.map_or(lambda, |cap| lambda.min(cap))
        } else {
            0.0
        };
        for ((n, b), x) in self.next.iter_mut().zip(&self.b).zip(&self.x_pred) {
            *n = b + lambda * (x - mean);
        }
        project_to_simplex(&self.next, &mut self.b)
    }
}

impl OnlineStrategy for Olmar {
    fn name(&self) -> String {
        let suffix = match self.warmup {
            OlmarWarmup::Olps => "",
            OlmarWarmup::Universal => ", universal-portfolios warm-up",
        };
        let cap = match self.max_step {
            Some(c) => format!(", λ ≤ {c}"),
            None => String::new(),
        };
        format!("OLMAR (w = {}, ε = {}{cap}{suffix})", self.window, self.eps)
    }

    fn reset(&mut self, assets: usize) -> Result<()> {
        check_assets(assets)?;
        self.b = crate::simplex::uniform(assets);
        self.x_pred = vec![0.0; assets];
        self.next = vec![0.0; assets];
        self.recent = Window::new(assets, self.window);
        self.cum_price = vec![1.0; assets];
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
        self.recent.push(y);
        for (c, yi) in self.cum_price.iter_mut().zip(y) {
            *c *= yi;
        }
        self.seen += 1;
        self.step(self.seen)
    }
}
