//! Portfolio optimisation with transaction costs (§6.2, §A.1; Jiang et al. 2017).
//!
//! Data: price relatives `y_{n,i} = v_{n,i} / v_{n−1,i}` for days `n = 0 … D−1` (optionally
//! the day's high and low over its close). Prices are recovered as `v_n = Π_{k ≤ n} y_k` with
//! `v_{−1} = 1`.
//!
//! * **State** of asset `i` when deciding day `n` (before `y_n` is known): its previous
//!   allocation `w_{i,n−1}` and the window of its `H` most recent prices over the latest close,
//!   `v_{i,n−H}/v_{i,n−1}, …, v_{i,n−1}/v_{i,n−1}` — one step per day with `F = 1` feature (close)
//!   or `F = 3` (close, high, low, each over the latest close). Features are fed centred,
//!   `ratio − 1`; a constant shift is absorbed by the encoder's first bias, so this only
//!   improves conditioning.
//! * **Drift**: after the day, `w_{i,n} = a_{i,n} y_{i,n} / Σ_j a_{j,n} y_{j,n}`.
//! * **Reward**: `R_n = ln(μ_n · Σ_i a_{i,n} y_{i,n})`, with the transaction remainder factor
//!   `μ_n` from rebalancing `w_{n−1}` to `a_n`: exact (Jiang et al.'s fixed-point iteration,
//!   [`crate::portfolio::cost::transaction_remainder`]) or its linear approximation
//!   `μ ≈ 1 − c Σ_i |w_{i,n−1} − a_{i,n}|` ([`crate::portfolio::cost::linear_remainder`]; the
//!   paper writes "β ≈ c Σ|w − a|", a typo for this). Growth, drift and both `μ` come from
//!   [`crate::portfolio::cost`], the back-test ([`run_policy`]) trades through the same
//!   [`crate::portfolio::Account`] as the classic baselines.
//! * **Training** (direct policy gradient, [`crate::learn::pg`]): minibatches of `B` consecutive
//!   training days with a geometric start (Jiang et al.'s online stochastic batch learning,
//!   [`crate::replay::IndexReplay`]); the previous allocation of day `n` is the drifted weight
//!   of the action stored for day `n − 1` in the portfolio-vector memory
//!   ([`crate::replay::PortfolioVectorMemory`]), treated as a constant input; the reward uses the
//!   linear `μ`, charged by default against the drift of the policy's own action of day `n − 1`
//!   inside the minibatch ([`CostReference::Batch`]; charging it against the memory's stale
//!   weights froze the pooled policy, issue #16), with gradient
//!   `∂R_n/∂a_{n,i} = y_{n,i} / (a_n·y_n) − c·sign(a_{n,i} − w_{n,i}) / μ_n` plus the term through
//!   `w_n`'s dependence on `a_{n−1}` (see [`PortfolioTasks`]'s `rewards`).
//! * **Cash** (optional): an extra entity with `y = 1` and flat features.

use crate::error::{Error, Result};
use crate::learn::mtl::TaskEnvironment;
use crate::learn::pg::{DifferentiableTaskEnv, Minibatch};
use crate::policy::{EquivariantPolicy, Scalar, Shape};
use crate::portfolio::cost::{drift, growth, linear_remainder};
use crate::portfolio::{Account, Backtest, Fee};
use crate::replay::{IndexReplay, PortfolioVectorMemory, StartDistribution};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Which previous weights `w_{n−1}` the training reward's transaction cost is charged against.
///
/// The policy's *input* is always the drifted action stored in the task's portfolio-vector
/// memory (the minibatch is evaluated in one batched pass); the *cost* can use either.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
pub enum CostReference {
    /// The drift of the policy's own action of the previous day inside the minibatch
    /// (PGPortfolio's training loss); the memory's value only for the minibatch's first day.
    /// The cost then follows the current policy, as it does in a back-test.
    #[default]
    Batch,
    /// The memory's drifted stored action for every day: weights written when the day was last
    /// drawn, possibly by a much older policy (in MTL with `T` tasks, about `T` times older
    /// than in STL). Kept for the ablation of issue #16.
    Memory,
}

/// The market: price relatives of `assets` assets over `days` days.
#[derive(Clone, Debug)]
pub struct Market {
    assets: usize,
    days: usize,
    /// `[day][asset]` price relatives.
    relatives: Vec<f64>,
    /// `[asset][day + 1]` log prices, `ln v_{n}` at index `n + 1`, `ln v_{−1} = 0` at index 0.
    log_prices: Vec<f64>,
    /// `[day][asset]` `ln(high/close)` and `ln(low/close)`, when given.
    high_low: Option<(Vec<f64>, Vec<f64>)>,
}

impl Market {
    /// A market from `[day][asset]` relatives and optional `[day][asset]` high/close and
    /// low/close ratios.
    ///
    /// # Errors
    /// Zero assets, ragged lengths, non-finite or non-positive values.
    pub fn new(assets: usize, relatives: Vec<f64>, high_low: Option<(Vec<f64>, Vec<f64>)>) -> Result<Self> {
        if assets == 0 {
            return Err(Error::param("assets", 0, "need at least one asset"));
        }
        if relatives.is_empty() || !relatives.len().is_multiple_of(assets) {
            return Err(Error::shape(
                "relatives (days × assets)",
                relatives.len().div_ceil(assets).max(1) * assets,
                relatives.len(),
            ));
        }
        let days = relatives.len() / assets;
        let check = |what: &'static str, v: &[f64]| -> Result<()> {
            crate::error::check_finite(what, v)?;
            match v.iter().position(|&x| x <= 0.0) {
                Some(i) => Err(Error::param(
                    what,
                    v[i],
                    format!("day {}, asset {} must be > 0", i / assets, i % assets),
                )),
                None => Ok(()),
            }
        };
        check("relatives", &relatives)?;
        let high_low = match high_low {
            Some((h, l)) => {
                if h.len() != relatives.len() || l.len() != relatives.len() {
                    return Err(Error::shape(
                        "high/low ratios",
                        relatives.len(),
                        h.len().min(l.len()),
                    ));
                }
                check("high ratios", &h)?;
                check("low ratios", &l)?;
                Some((
                    h.iter().map(|v| v.ln()).collect(),
                    l.iter().map(|v| v.ln()).collect(),
                ))
            }
            None => None,
        };
        let mut log_prices = vec![0.0; assets * (days + 1)];
        for i in 0..assets {
            let lp = &mut log_prices[i * (days + 1)..(i + 1) * (days + 1)];
            for n in 0..days {
                lp[n + 1] = lp[n] + relatives[n * assets + i].ln();
            }
        }
        Ok(Market {
            assets,
            days,
            relatives,
            log_prices,
            high_low,
        })
    }

    /// Number of assets.
    pub fn assets(&self) -> usize {
        self.assets
    }

    /// Number of days `D`.
    pub fn days(&self) -> usize {
        self.days
    }

    /// Features per day: 1 (close) or 3 (close, high, low).
    pub fn features(&self) -> usize {
        if self.high_low.is_some() {
            3
        } else {
            1
        }
    }

    /// Relative `y_{n,i}`.
    pub fn relative(&self, day: usize, asset: usize) -> f64 {
        self.relatives[day * self.assets + asset]
    }

    /// `[day][asset]` relatives.
    pub fn relatives(&self) -> &[f64] {
        &self.relatives
    }

    /// Writes the window features of `asset` for deciding day `day` (`H ≤ day`) into `out`
    /// (`H · F` values): for `k = 0 … H−1`, day `d = day − H + k`:
    /// `v_d / v_{day−1} − 1`, and with high/low `high_d / v_{day−1} − 1`, `low_d / v_{day−1} − 1`.
    pub fn window_features(&self, asset: usize, day: usize, window: usize, out: &mut [f64]) {
        let lp = &self.log_prices[asset * (self.days + 1)..(asset + 1) * (self.days + 1)];
        let latest = lp[day]; // ln v_{day−1}
        let f = self.features();
        for k in 0..window {
            let d = day - window + k;
            let rel = lp[d + 1] - latest;
            out[k * f] = rel.exp() - 1.0;
            if let Some((h, l)) = &self.high_low {
                out[k * f + 1] = (rel + h[d * self.assets + asset]).exp() - 1.0;
                out[k * f + 2] = (rel + l[d * self.assets + asset]).exp() - 1.0;
            }
        }
    }
}

/// Settings of the portfolio environment.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PortfolioConfig {
    /// Window length `H` (days of history per state).
    pub window: usize,
    /// Commission rate `c` (default 0.25 %).
    pub commission: f64,
    /// Add a cash entity (`y = 1`).
    pub cash: bool,
    /// Geometric start distribution of training minibatches.
    pub start: StartDistribution,
    /// Which previous weights the training reward charges costs against.
    #[serde(default)]
    pub cost_reference: CostReference,
    /// Multiplier `κ` of the centred window features: the encoder sees `κ · (ratio − 1)`.
    #[serde(default = "unit_scale")]
    pub feature_scale: f64,
}

fn unit_scale() -> f64 {
    1.0
}

impl Default for PortfolioConfig {
    fn default() -> Self {
        PortfolioConfig {
            window: 50,
            commission: 0.0025,
            cash: false,
            start: StartDistribution::Geometric { bias: 5e-4 },
            feature_scale: 1.0,
            cost_reference: CostReference::Batch,
        }
    }
}

impl PortfolioConfig {
    /// Checks the settings.
    ///
    /// # Errors
    /// A zero window, a commission outside `[0, 1)`, an invalid start distribution.
    pub fn validate(&self) -> Result<()> {
        if self.window == 0 {
            return Err(Error::param("window", 0, "must be at least 1"));
        }
        if !(0.0..1.0).contains(&self.commission) {
            return Err(Error::param("commission", self.commission, "must be in [0, 1)"));
        }
        self.start.validate()
    }
}

/// The training tasks: subsets of the market's assets sharing the training day range, each with
/// its portfolio-vector memory.
#[derive(Clone, Debug)]
pub struct PortfolioTasks {
    market: std::sync::Arc<Market>,
    config: PortfolioConfig,
    tasks: Vec<Vec<usize>>,
    replay: IndexReplay,
    pvm: Vec<PortfolioVectorMemory>,
    /// Relatives of the current minibatch's assets, `[batch][entities]`.
    y: Vec<f64>,
}

impl PortfolioTasks {
    /// Tasks `tasks` (asset indices) trained on decision days `[first_day, end_day)`.
    ///
    /// # Errors
    /// Invalid settings, an empty task list, tasks of unequal size, asset indices out of range,
    /// or a day range too short for the window.
    pub fn new(
        market: std::sync::Arc<Market>,
        tasks: Vec<Vec<usize>>,
        config: PortfolioConfig,
        end_day: usize,
    ) -> Result<Self> {
        config.validate()?;
        let m = tasks
            .first()
            .map(Vec::len)
            .ok_or_else(|| Error::param("tasks", 0, "need at least one task"))?;
        for t in &tasks {
            if t.len() != m || m == 0 {
                return Err(Error::param(
                    "tasks",
                    t.len(),
                    format!("every task needs the same size m = {m} >= 1"),
                ));
            }
            if let Some(&a) = t.iter().find(|&&a| a >= market.assets()) {
                return Err(Error::param(
                    "tasks",
                    a,
                    format!("asset index out of range (market has {})", market.assets()),
                ));
            }
        }
        let first_day = config.window;
        if end_day > market.days() || end_day <= first_day + 1 {
            return Err(Error::param(
                "end_day",
                end_day,
                format!(
                    "training days must lie in ({first_day}, {}] for a window of {first_day}",
                    market.days()
                ),
            ));
        }
        let replay = IndexReplay::new(first_day, end_day, config.start)?;
        let entities = m + usize::from(config.cash);
        let pvm = tasks
            .iter()
            .map(|_| PortfolioVectorMemory::new(end_day, entities))
            .collect::<Result<_>>()?;
        Ok(PortfolioTasks {
            market,
            config,
            tasks,
            replay,
            pvm,
            y: Vec::new(),
        })
    }

    /// Entities per task (`m`, plus one with cash).
    pub fn entities(&self) -> usize {
        self.tasks[0].len() + usize::from(self.config.cash)
    }

    /// The settings.
    pub fn config(&self) -> &PortfolioConfig {
        &self.config
    }

    /// Fills the features `[entities][window][F]` for deciding `day` on `assets` (plus cash).
    pub(crate) fn state_features(
        market: &Market,
        cfg: &PortfolioConfig,
        assets: &[usize],
        day: usize,
        out: &mut [f64],
    ) {
        let per = cfg.window * market.features();
        for (i, &a) in assets.iter().enumerate() {
            let o = &mut out[i * per..(i + 1) * per];
            market.window_features(a, day, cfg.window, o);
            if cfg.feature_scale != 1.0 {
                o.iter_mut().for_each(|v| *v *= cfg.feature_scale);
            }
        }
        if cfg.cash {
            out[assets.len() * per..(assets.len() + 1) * per].fill(0.0);
        }
    }

    pub(crate) fn day_relatives(
        market: &Market,
        cfg: &PortfolioConfig,
        assets: &[usize],
        day: usize,
        out: &mut Vec<f64>,
    ) {
        out.extend(assets.iter().map(|&a| market.relative(day, a)));
        if cfg.cash {
            out.push(1.0);
        }
    }
}

impl TaskEnvironment for PortfolioTasks {
    fn num_tasks(&self) -> usize {
        self.tasks.len()
    }

    /// Historical data: every training day already exists.
    fn collect(&mut self, _task: usize, _steps: usize, _rng: &mut ChaCha8Rng) -> Result<usize> {
        Ok(0)
    }

    fn checkpoint_state(&self) -> serde_json::Value {
        serde_json::to_value(&self.pvm).unwrap_or(serde_json::Value::Null)
    }

    fn restore_state(&mut self, state: &serde_json::Value) -> Result<()> {
        let pvm: Vec<PortfolioVectorMemory> = serde_json::from_value(state.clone())
            .map_err(|e| Error::param("env", "checkpoint", format!("not a portfolio-vector memory: {e}")))?;
        if pvm.len() != self.pvm.len() {
            return Err(Error::shape(
                "portfolio-vector memories",
                self.pvm.len(),
                pvm.len(),
            ));
        }
        self.pvm = pvm;
        Ok(())
    }
}

impl DifferentiableTaskEnv for PortfolioTasks {
    fn uses_previous_allocation(&self) -> bool {
        true
    }

    fn samples(&self, _task: usize) -> usize {
        self.replay.len()
    }

    /// Days `n_b … n_b + B − 1` (geometric start); previous allocation of day `n` = the drifted
    /// stored action of day `n − 1` (uniform when never written).
    fn minibatch(
        &mut self,
        task: usize,
        batch: usize,
        rng: &mut ChaCha8Rng,
        mb: &mut Minibatch,
    ) -> Result<()> {
        let n_b = self.replay.sample_start(rng, batch)?;
        let m = self.entities();
        let market = &*self.market;
        let per_entity = self.config.window * market.features();
        mb.shape = Shape::new(batch, m, self.config.window);
        mb.handle = n_b;
        mb.x.clear();
        mb.x.resize(batch * m * per_entity, 0.0);
        mb.prev.clear();
        mb.prev.resize(batch * m, 0.0);
        self.y.clear();
        let assets = &self.tasks[task];
        let mut y_prev = Vec::with_capacity(m);
        for b in 0..batch {
            let day = n_b + b;
            Self::state_features(
                market,
                &self.config,
                assets,
                day,
                &mut mb.x[b * m * per_entity..(b + 1) * m * per_entity],
            );
            Self::day_relatives(market, &self.config, assets, day, &mut self.y);
            y_prev.clear();
            Self::day_relatives(market, &self.config, assets, day - 1, &mut y_prev);
            let stored = self.pvm[task].get(day - 1)?;
            drift(stored, &y_prev, &mut mb.prev[b * m..(b + 1) * m]);
        }
        Ok(())
    }

    /// `R_n = ln(μ_n · a_n·y_n)` with the linear `μ_n = 1 − c Σ_i |w_{n,i} − a_{n,i}|`, and
    /// `dr_da[n] = ∂(Σ_k R_k)/∂a_n`.
    ///
    /// The weights `w_n` the cost is charged against follow [`PortfolioConfig::cost_reference`]:
    /// with [`CostReference::Batch`] (default) `w_n = a_{n−1} ⊙ y_{n−1} / (a_{n−1}·y_{n−1})` is the
    /// drift of the policy's own previous action inside the minibatch (the memory's value only
    /// for the first day), so `R_n` also depends on `a_{n−1}`:
    ///
    /// ```text
    /// ∂R_n/∂a_{n,i}   = y_{n,i} / (a_n·y_n) − c·sign(a_{n,i} − w_{n,i}) / μ_n
    /// ∂R_n/∂a_{n−1,k} = (y_{n−1,k} / G) · (g_k − Σ_j w_{n,j} g_j),
    ///                   g_j = c·sign(a_{n,j} − w_{n,j}) / μ_n,  G = a_{n−1}·y_{n−1}
    /// ```
    ///
    /// With [`CostReference::Memory`] every `w_n` is the memory's (stale) value, a constant.
    fn rewards(
        &self,
        _task: usize,
        mb: &Minibatch,
        a: &[f64],
        rewards: &mut [f64],
        dr_da: &mut [f64],
    ) -> Result<()> {
        let m = mb.shape.entities;
        let c = self.config.commission;
        let batch_prev = self.config.cost_reference == CostReference::Batch;
        let mut w = vec![0.0; m];
        let mut g = vec![0.0; m];
        dr_da[..mb.shape.batch * m].fill(0.0);
        // a_{b−1}·y_{b−1}, the previous day's growth, carried from the previous iteration.
        let mut prev_growth = f64::NAN;
        for b in 0..mb.shape.batch {
            let (ar, yr) = (&a[b * m..(b + 1) * m], &self.y[b * m..(b + 1) * m]);
            let through_prev = batch_prev && b > 0;
            if through_prev {
                drift(&a[(b - 1) * m..b * m], &self.y[(b - 1) * m..b * m], &mut w);
            } else {
                w.copy_from_slice(&mb.prev[b * m..(b + 1) * m]);
            }
            let growth = growth(ar, yr);
            let mu = linear_remainder(&w, ar, c).max(f64::MIN_POSITIVE);
            rewards[b] = (mu * growth).ln();
            for i in 0..m {
                let sign = (ar[i] - w[i]).signum() * f64::from(ar[i] != w[i]);
                g[i] = c * sign / mu;
                dr_da[b * m + i] += yr[i] / growth - g[i];
            }
            if through_prev {
                let yp = &self.y[(b - 1) * m..b * m];
                let wg: f64 = w.iter().zip(&g).map(|(w, g)| w * g).sum();
                for k in 0..m {
                    dr_da[(b - 1) * m + k] += yp[k] / prev_growth * (g[k] - wg);
                }
            }
            prev_growth = growth;
        }
        Ok(())
    }

    /// Writes the minibatch's actions into the task's portfolio-vector memory.
    fn record(&mut self, task: usize, mb: &Minibatch, a: &[f64]) {
        // The block lies inside the memory by construction of the start distribution.
        let _ = self.pvm[task].set_batch(mb.handle, a);
    }
}

/// Runs `policy` day by day over decision days `[from, to)` on `assets` (plus cash when
/// configured), starting from the uniform allocation with the first purchase free, and returns
/// the back-test under `fee` (the experiments pass [`Fee::Exact`]`(config.commission)`).
///
/// Every day is one [`Account::trade`], the code path of the classic baselines'
/// [`crate::portfolio::simulate`]; the policy's next previous allocation is the account's drifted
/// weights. The allocations are checked on the simplex with [`crate::portfolio::ALLOCATION_TOLERANCE`]
/// widened by `2 m ε` of the policy's scalar type (an `f32` softmax sums to 1 only up to that).
///
/// # Errors
/// A range outside the data or shorter than the window, a policy that does not fit, an invalid
/// fee, and [`Error::InvalidAllocation`] naming the day for an allocation off the simplex.
pub fn run_policy<T: Scalar>(
    policy: &EquivariantPolicy<T>,
    market: &Market,
    config: &PortfolioConfig,
    assets: &[usize],
    from: usize,
    to: usize,
    fee: Fee,
) -> Result<Backtest> {
    config.validate()?;
    if from < config.window || to > market.days() || from >= to {
        return Err(Error::param(
            "test range",
            format!("[{from}, {to})"),
            format!(
                "must lie in [{}, {}] and be non-empty",
                config.window,
                market.days()
            ),
        ));
    }
    let m = assets.len() + usize::from(config.cash);
    let per_entity = config.window * market.features();
    let steps = to - from;
    // Every day's window features at once: the encoder runs batched over the whole test range,
    // only the score head runs day by day (the previous allocation depends on the last action).
    let mut x = vec![0.0; steps * m * per_entity];
    for (n, day) in (from..to).enumerate() {
        PortfolioTasks::state_features(
            market,
            config,
            assets,
            day,
            &mut x[n * m * per_entity..(n + 1) * m * per_entity],
        );
    }
    let xt: Vec<T> = x.iter().map(|&v| T::of(v)).collect();
    let tolerance = crate::portfolio::ALLOCATION_TOLERANCE + 2.0 * m as f64 * T::epsilon().value_f64();
    let mut account = Account::new(m, fee)?.named("policy").with_tolerance(tolerance)?;
    let mut out = Backtest::with_capacity(steps, m);
    let mut y = Vec::with_capacity(m);
    let mut record = |n: usize, a: &[f64], account: &mut Account| -> Result<()> {
        y.clear();
        PortfolioTasks::day_relatives(market, config, assets, from + n, &mut y);
        let day = account.trade(a, &y)?;
        out.push(a, &day, account.wealth());
        Ok(())
    };
    // The first purchase is free; the policy starts from the uniform previous allocation.
    let start: Vec<T> = account.drifted().iter().map(|&v| T::of(v)).collect();
    let all = policy.forward_sequential(&xt, Shape::new(steps, m, config.window), &start, |n, a, prev| {
        let a: Vec<f64> = a.iter().map(|v| v.value_f64()).collect();
        record(n, &a, &mut account)?;
        for (p, w) in prev.iter_mut().zip(account.drifted()) {
            *p = T::of(*w);
        }
        Ok(())
    })?;
    let last: Vec<f64> = all[(steps - 1) * m..].iter().map(|v| v.value_f64()).collect();
    record(steps - 1, &last, &mut account)?;
    Ok(out)
}
