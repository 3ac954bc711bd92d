//! The portfolio experiment of §6.2 and §A.1 (Figs. 3–5): STL vs MTL vs P-MTL on real prices,
//! against classic baselines, on training tasks and on tasks of held-out instruments.
//!
//! Protocol (A.1, scaled to the data):
//! 1. Split the instruments into a training universe and held-out instruments never seen in
//!    training (the paper: 50 and 18 of 68; here `round(M · 18/68)` held out unless given).
//! 2. Split the days: decisions on the first `train_fraction` for training, the rest for testing.
//! 3. Draw `T` tasks of `m` training instruments (the paper: m = 10, T ∈ {5, 30}) and up to 10
//!    test tasks of held-out instruments.
//! 4. Train the recurrent equivariant policy by direct policy gradient (Algorithm 1) in each mode:
//!    STL (one policy per task, `steps_per_task` steps each), MTL (`α = 0`) and P-MTL (scorer:
//!    max deviation from Equal CRP; α = 0.5, β = 1, γ = 0.2), both with `T · steps_per_task` steps.
//! 5. Evaluate on the test days with the exact transaction-cost factor: learning curves of the
//!    mean test annualised return (Fig. 4), gain over Equal CRP on held-out tasks (Fig. 3), wealth
//!    and allocations over the test period for one task (Fig. 5); and the baselines (Equal CRP,
//!    uniform buy-and-hold, best asset in hindsight, BCRP fitted on the training days, OLMAR,
//!    PAMR) on exactly the same tasks, days and fees.
//! 6. Repeat for `experiments` different instrument draws and seeds.
//!
//! Independent runs go through rayon; each run derives its own seed, so results do not depend on
//! the number of threads.

use crate::baselines::{self, Fee, OnlineStrategy};
use crate::envs::portfolio::{run_policy, CostModel, CostReference, Market, PortfolioConfig, PortfolioTasks};
use crate::error::{Error, Result};
use crate::learn::mtl::{Mode, MtlConfig, Trainer};
use crate::learn::pg::PolicyGradient;
use crate::metrics::Metrics;
use crate::plot::{line_chart, Series};
use crate::policy::{EquivariantPolicy, PolicyConfig};
use crate::replay::StartDistribution;
use crate::sampler::{MaxDeviationFromEqual, SamplerConfig};
use crate::stats::{paired, Interval, Paired};
use rayon::prelude::*;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Every setting of the portfolio experiment.
#[derive(Clone, Debug, Serialize)]
pub struct PortfolioExperimentConfig {
    /// A known data set's name (e.g. `nyse_o`) or a path to a CSV file.
    pub data: String,
    /// Where known data sets live (`data/`, filled by `scripts/fetch-data.sh`).
    pub data_dir: PathBuf,
    /// Window `H` of past days per state.
    pub window: usize,
    /// Hidden units of the tanh RNN (paper: 25).
    pub hidden: usize,
    /// Minibatch of consecutive days `B`.
    pub batch: usize,
    /// Commission rate `c`.
    pub commission: f64,
    /// Add a cash entity.
    pub cash: bool,
    /// Fraction of the decision days used for training (the rest is the test period).
    pub train_fraction: f64,
    /// Held-out instruments (`None`: `round(M · 18/68)`, at least `m`).
    pub holdout: Option<usize>,
    /// Instruments per task `m` (`None`: `min(10, held-out, training/2)`).
    pub task_size: Option<usize>,
    /// Numbers of training tasks `T` to compare (paper: 5 and 30).
    pub task_counts: Vec<usize>,
    /// Held-out test tasks (at most; fewer when the held-out instruments allow fewer subsets).
    pub holdout_tasks: usize,
    /// Repetitions with different instrument draws and seeds (paper: 10).
    pub experiments: usize,
    /// Gradient steps per task: STL trains each task this long, MTL/P-MTL `T` times as long.
    pub steps_per_task: usize,
    /// Evaluations along training (learning-curve points).
    pub evaluations: usize,
    /// Adam learning rate.
    pub lr: f64,
    /// P-MTL prioritisation exponent α.
    pub alpha: f64,
    /// Importance-sampling exponent β.
    pub beta: f64,
    /// Score smoothing γ.
    pub smoothing: f64,
    /// Geometric bias of minibatch starts (larger favours recent days).
    pub geometric_bias: f64,
    /// Scale of the initial output weights (near 0: start near Equal CRP).
    pub output_init_scale: f64,
    /// Which previous weights the training reward charges costs against (issue #16: `Memory`,
    /// the stale portfolio-vector memory, froze the pooled policy).
    pub cost_reference: CostReference,
    /// Multiplier of the centred window features.
    pub feature_scale: f64,
    /// Look-back window of the time-series momentum baseline (days).
    pub momentum_window: usize,
    /// Seed of everything.
    pub seed: u64,
}

impl PortfolioExperimentConfig {
    /// The full protocol of A.1 (10 experiments, T ∈ {5, 30}, window 50, 25 hidden units).
    pub fn full(data: &str) -> Self {
        PortfolioExperimentConfig {
            data: data.to_string(),
            data_dir: PathBuf::from("data"),
            window: 50,
            hidden: 25,
            batch: 50,
            commission: 0.0025,
            cash: false,
            train_fraction: 0.8,
            holdout: None,
            task_size: None,
            task_counts: vec![5, 30],
            holdout_tasks: 10,
            experiments: 10,
            steps_per_task: 300,
            evaluations: 10,
            lr: 3e-4,
            alpha: 0.5,
            beta: 1.0,
            smoothing: 0.2,
            geometric_bias: 5e-4,
            output_init_scale: 0.1,
            cost_reference: CostReference::Batch,
            feature_scale: 1.0,
            momentum_window: 20,
            seed: 0,
        }
    }

    /// A first look in well under 3 minutes on 2 cores (about 30 s on NYSE(O)): 2 experiments, shorter window and training.
    pub fn quick(data: &str) -> Self {
        PortfolioExperimentConfig {
            window: 20,
            batch: 32,
            experiments: 2,
            steps_per_task: 60,
            evaluations: 4,
            holdout_tasks: 5,
            ..Self::full(data)
        }
    }

    /// Checks the settings that do not depend on the data.
    ///
    /// # Errors
    /// The first setting out of range, named.
    pub fn validate(&self) -> Result<()> {
        for (name, v) in [
            ("window", self.window),
            ("hidden", self.hidden),
            ("batch", self.batch),
            ("experiments", self.experiments),
            ("steps_per_task", self.steps_per_task),
            ("evaluations", self.evaluations),
            ("holdout_tasks", self.holdout_tasks),
            ("momentum_window", self.momentum_window),
        ] {
            if v == 0 {
                return Err(Error::param(name, 0, "must be at least 1"));
            }
        }
        if self.task_counts.is_empty() || self.task_counts.contains(&0) {
            return Err(Error::param(
                "tasks",
                format!("{:?}", self.task_counts),
                "need one or more task counts >= 1",
            ));
        }
        if !(self.train_fraction > 0.0 && self.train_fraction < 1.0) {
            return Err(Error::param(
                "train_fraction",
                self.train_fraction,
                "must be in (0, 1)",
            ));
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(Error::param("lr", self.lr, "must be finite and > 0"));
        }
        if !(self.feature_scale.is_finite() && self.feature_scale > 0.0) {
            return Err(Error::param(
                "feature_scale",
                self.feature_scale,
                "must be finite and > 0",
            ));
        }
        if !(self.output_init_scale.is_finite() && self.output_init_scale >= 0.0) {
            return Err(Error::param(
                "output_init_scale",
                self.output_init_scale,
                "must be finite and >= 0",
            ));
        }
        SamplerConfig {
            alpha: self.alpha,
            beta: self.beta,
            smoothing: self.smoothing,
            ..SamplerConfig::default()
        }
        .validate()?;
        if self.alpha == 0.0 {
            return Err(Error::param("alpha", 0.0, "P-MTL needs alpha > 0"));
        }
        self.env_config().validate()
    }

    fn env_config(&self) -> PortfolioConfig {
        PortfolioConfig {
            window: self.window,
            commission: self.commission,
            cash: self.cash,
            start: StartDistribution::Geometric {
                bias: self.geometric_bias,
            },
            feature_scale: self.feature_scale,
            cost_reference: self.cost_reference,
        }
    }
}

/// Sizes derived from the data (printed by the CLI).
#[derive(Clone, Debug, Serialize)]
pub struct Plan {
    /// Instruments in the file.
    pub instruments: usize,
    /// Held out from training.
    pub holdout: usize,
    /// Per task.
    pub task_size: usize,
    /// Decision days `[window, train_end)` for training.
    pub train_days: (usize, usize),
    /// Decision days `[train_end, days)` for testing.
    pub test_days: (usize, usize),
    /// Feature per day (1: close; 3: close, high, low).
    pub features: usize,
}

/// Chooses held-out count, task size and day ranges for `days × instruments` of data.
///
/// # Errors
/// Data too small for any protocol (fewer than 3 instruments, a training or test range shorter
/// than the minibatch / a few days), or an explicit `holdout`/`task_size` that does not fit.
pub fn plan(
    cfg: &PortfolioExperimentConfig,
    instruments: usize,
    days: usize,
    features: usize,
) -> Result<Plan> {
    if instruments < 3 {
        return Err(Error::param(
            "data",
            instruments,
            "need at least 3 instruments (training and held-out tasks)",
        ));
    }
    let holdout = match cfg.holdout {
        Some(h) => h,
        None => ((instruments as f64 * 18.0 / 68.0).round() as usize).clamp(1, instruments / 2),
    };
    if holdout == 0 || holdout >= instruments - 1 {
        return Err(Error::param(
            "holdout",
            holdout,
            format!(
                "must be in [1, {}] for {instruments} instruments",
                instruments - 2
            ),
        ));
    }
    let train_assets = instruments - holdout;
    let task_size = match cfg.task_size {
        Some(m) => m,
        None => 10.min(holdout).min(train_assets / 2).max(1),
    };
    if task_size == 0 || task_size > holdout || task_size > train_assets {
        return Err(Error::param(
            "task_size",
            task_size,
            format!(
                "must be in [1, {}] (held-out {holdout}, training {train_assets})",
                holdout.min(train_assets)
            ),
        ));
    }
    let decision_days = days.saturating_sub(cfg.window);
    let train_end = cfg.window + (decision_days as f64 * cfg.train_fraction).round() as usize;
    if train_end < cfg.window + cfg.batch + 2 || days < train_end + 5 {
        return Err(Error::param(
            "data",
            days,
            format!(
                "{days} days are too few for a window of {}, minibatches of {} and a test period \
                 (need at least {} days)",
                cfg.window,
                cfg.batch,
                ((cfg.window + cfg.batch + 2) as f64 / cfg.train_fraction).ceil() as usize + 5
            ),
        ));
    }
    Ok(Plan {
        instruments,
        holdout,
        task_size,
        train_days: (cfg.window, train_end),
        test_days: (train_end, days),
        features,
    })
}

/// One evaluated method on one task of one experiment.
#[derive(Clone, Debug, Serialize)]
pub struct MethodResult {
    /// Repetition index.
    pub experiment: usize,
    /// Training task count `T` (0 for baselines, which do not train).
    pub tasks: usize,
    /// `STL`, `MTL`, `P-MTL` or a baseline's name.
    pub method: String,
    /// `train` (a training task's instruments) or `holdout`.
    pub task_set: String,
    /// Task index within its set.
    pub task: usize,
    /// Metrics on the test days.
    pub metrics: Metrics,
    /// Relative final-wealth gain over Equal CRP on the same task.
    pub gain_over_ecrp: f64,
}

/// A learning-curve point: mean test annualised return over training tasks.
#[derive(Clone, Debug, Serialize)]
pub struct CurvePoint {
    /// Repetition index.
    pub experiment: usize,
    /// `T`.
    pub tasks: usize,
    /// `STL`, `MTL` or `P-MTL`.
    pub method: String,
    /// Fraction of training done (0 … 1).
    pub progress: f64,
    /// Mean annualised return on the test days over the training tasks.
    pub mean_annualised_return: f64,
}

/// Everything the experiment produced.
#[derive(Clone, Debug, Serialize)]
pub struct PortfolioResults {
    /// Settings.
    pub config: PortfolioExperimentConfig,
    /// Sizes chosen for the data.
    pub plan: Plan,
    /// Per method, task and experiment.
    pub results: Vec<MethodResult>,
    /// Learning curves.
    pub curves: Vec<CurvePoint>,
    /// Wealth (per test day) of MTL, STL and Equal CRP on the first training task of the first
    /// experiment with the largest `T`, and the MTL/STL allocations (Fig. 5).
    pub example: Option<ExampleTask>,
    /// Wall-clock seconds.
    pub seconds: f64,
}

/// The Fig. 5 example.
#[derive(Clone, Debug, Serialize)]
pub struct ExampleTask {
    /// Instrument names.
    pub assets: Vec<String>,
    /// Wealth per test day: (MTL, STL, Equal CRP).
    pub wealth: Vec<(f64, f64, f64)>,
    /// MTL allocations `[day][asset]`.
    pub mtl_weights: Vec<f64>,
    /// STL allocations `[day][asset]`.
    pub stl_weights: Vec<f64>,
}

struct Run {
    experiment: usize,
    tasks: usize,
    mode: Mode,
    /// Training task index (STL) or usize::MAX (multi-task).
    task: usize,
}

struct RunOutput {
    curve: Vec<(f64, Vec<f64>)>,
    policy: EquivariantPolicy<f32>,
}

fn mode_name(m: Mode) -> &'static str {
    match m {
        Mode::Stl => "STL",
        Mode::Mtl => "MTL",
        Mode::PMtl => "P-MTL",
    }
}

/// Runs the whole protocol; `on_plan` sees the sizes chosen for the data before any training,
/// `progress` receives one line per finished training run.
///
/// # Errors
/// Data errors (file, line, column), settings that do not fit the data, or training divergence.
pub fn run(
    cfg: &PortfolioExperimentConfig,
    progress: impl Fn(&str) + Sync,
    on_plan: impl FnOnce(&Plan),
) -> Result<PortfolioResults> {
    let started = std::time::Instant::now();
    cfg.validate()?;
    let data = crate::data::prices::load(&cfg.data, &cfg.data_dir)?;
    crate::data::prices::check_min_days(&data, cfg.window)?;
    let high_low = match (&data.high, &data.low) {
        (Some(h), Some(l)) => Some((h.clone(), l.clone())),
        _ => None,
    };
    let market = Arc::new(Market::new(data.num_assets(), data.relatives.clone(), high_low)?);
    let plan = plan(cfg, market.assets(), market.days(), market.features())?;
    on_plan(&plan);
    let env_cfg = cfg.env_config();

    // Per experiment: instrument split and tasks.
    struct Draw {
        train_tasks: Vec<Vec<Vec<usize>>>, // per task count
        holdout_tasks: Vec<Vec<usize>>,
    }
    let mut draws = Vec::with_capacity(cfg.experiments);
    for e in 0..cfg.experiments {
        let seed = cfg.seed.wrapping_add(1000 * e as u64);
        let (train, hold) = crate::tasks::split_entities(plan.instruments, plan.holdout, seed)?;
        let mut train_tasks = Vec::new();
        for &t in &cfg.task_counts {
            let available =
                crate::tasks::binomial(train.len() as u64, plan.task_size as u64).unwrap_or(u128::MAX);
            if (t as u128) > available {
                return Err(Error::param(
                    "tasks",
                    t,
                    format!(
                        "only {available} distinct tasks of {} from {} training instruments",
                        plan.task_size,
                        train.len()
                    ),
                ));
            }
            let ts = crate::tasks::draw_tasks(train.len(), plan.task_size, t, seed + 1)?;
            train_tasks.push(
                ts.iter()
                    .map(|t| t.entities().iter().map(|&i| train[i]).collect())
                    .collect(),
            );
        }
        let n_hold = (crate::tasks::binomial(hold.len() as u64, plan.task_size as u64).unwrap_or(u128::MAX))
            .min(cfg.holdout_tasks as u128) as usize;
        let hts = crate::tasks::draw_tasks(hold.len(), plan.task_size, n_hold, seed + 2)?;
        let holdout_tasks = hts
            .iter()
            .map(|t| t.entities().iter().map(|&i| hold[i]).collect())
            .collect();
        draws.push(Draw {
            train_tasks,
            holdout_tasks,
        });
    }

    // Training runs, all independent.
    let mut runs = Vec::new();
    for (e, draw) in draws.iter().enumerate() {
        for (k, &t) in cfg.task_counts.iter().enumerate() {
            for task in 0..draw.train_tasks[k].len() {
                runs.push(Run {
                    experiment: e,
                    tasks: k,
                    mode: Mode::Stl,
                    task,
                });
            }
            runs.push(Run {
                experiment: e,
                tasks: k,
                mode: Mode::Mtl,
                task: usize::MAX,
            });
            runs.push(Run {
                experiment: e,
                tasks: k,
                mode: Mode::PMtl,
                task: usize::MAX,
            });
            let _ = t;
        }
    }
    let (test_from, test_to) = plan.test_days;
    let train_end = plan.train_days.1;
    let outputs: Vec<Result<RunOutput>> = runs
        .par_iter()
        .map(|r| {
            let all = &draws[r.experiment].train_tasks[r.tasks];
            let tasks: Vec<Vec<usize>> = if r.mode == Mode::Stl {
                vec![all[r.task].clone()]
            } else {
                all.clone()
            };
            let eval_tasks = tasks.clone();
            let iterations = cfg.steps_per_task * tasks.len();
            let seed = cfg
                .seed
                .wrapping_add(7919 * (r.experiment as u64 + 1))
                .wrapping_add(104_729 * r.task.min(10_000) as u64)
                ^ ((r.tasks as u64) << 40)
                ^ ((r.mode as u64) << 48);
            let env = PortfolioTasks::new(market.clone(), tasks, env_cfg.clone(), train_end)?;
            let mut pcfg = PolicyConfig::paper_portfolio(market.features());
            if let crate::policy::EncoderConfig::Recurrent { hidden, .. } = &mut pcfg.encoder {
                *hidden = cfg.hidden;
            }
            pcfg.previous_allocation = true;
            pcfg.output_init_scale = cfg.output_init_scale;
            let policy = EquivariantPolicy::<f32>::new(pcfg, seed)?;
            let mcfg = MtlConfig {
                mode: r.mode,
                iterations,
                env_steps: 0,
                sampler: SamplerConfig {
                    alpha: if r.mode == Mode::PMtl { cfg.alpha } else { 0.0 },
                    beta: cfg.beta,
                    smoothing: cfg.smoothing,
                    ..SamplerConfig::default()
                },
                lr: cfg.lr,
                clip_norm: Some(10.0),
                eval_every: (iterations / cfg.evaluations).max(1),
                checkpoint_every: 0,
                seed,
                progress: false,
            };
            let mut trainer = Trainer::new(
                policy,
                env,
                PolicyGradient::<f32>::new(cfg.batch)?,
                MaxDeviationFromEqual,
                mcfg,
            )?;
            let mut curve = Vec::new();
            trainer.run(
                |it, p| {
                    let mut rets = Vec::with_capacity(eval_tasks.len());
                    for assets in &eval_tasks {
                        let bt =
                            run_policy(p, &market, &env_cfg, assets, test_from, test_to, CostModel::Exact)?;
                        rets.push(Metrics::from_backtest(&bt).annualised_return);
                    }
                    curve.push((it as f64 / iterations as f64, rets));
                    Ok(vec![])
                },
                None,
            )?;
            progress(&format!(
                "experiment {} T={} {}{}: {} steps done",
                r.experiment,
                cfg.task_counts[r.tasks],
                mode_name(r.mode),
                if r.mode == Mode::Stl {
                    format!(" task {}", r.task)
                } else {
                    String::new()
                },
                iterations
            ));
            Ok(RunOutput {
                curve,
                policy: trainer.policy,
            })
        })
        .collect();
    let outputs: Vec<RunOutput> = outputs.into_iter().collect::<Result<_>>()?;

    // Learning curves: mean over the run's training tasks (STL: over its task-policies).
    let mut curves = Vec::new();
    let mut results = Vec::new();
    let fee = Fee::Exact(cfg.commission);
    let mk: &Market = &market;
    let eval = |p: &EquivariantPolicy<f32>, assets: &[usize]| -> Result<Metrics> {
        Ok(Metrics::from_backtest(&run_policy(
            p,
            mk,
            &env_cfg,
            assets,
            test_from,
            test_to,
            CostModel::Exact,
        )?))
    };
    let test_rel = |assets: &[usize]| -> Vec<f64> {
        (test_from..test_to)
            .flat_map(|d| assets.iter().map(move |&a| mk.relative(d, a)))
            .collect()
    };
    let train_rel = |assets: &[usize]| -> Vec<f64> {
        (plan.train_days.0..train_end)
            .flat_map(|d| assets.iter().map(move |&a| mk.relative(d, a)))
            .collect()
    };
    let ecrp = |assets: &[usize]| -> Result<Metrics> {
        Ok(Metrics::from_backtest(&baselines::backtest(
            &mut baselines::EqualCrp,
            &test_rel(assets),
            assets.len(),
            fee,
        )?))
    };
    let mut example = None;
    for (e, draw) in draws.iter().enumerate() {
        for (k, &t) in cfg.task_counts.iter().enumerate() {
            let idx: Vec<usize> = runs
                .iter()
                .enumerate()
                .filter(|(_, r)| r.experiment == e && r.tasks == k)
                .map(|(i, _)| i)
                .collect();
            let stl: Vec<usize> = idx
                .iter()
                .copied()
                .filter(|&i| runs[i].mode == Mode::Stl)
                .collect();
            for mode in [Mode::Stl, Mode::Mtl, Mode::PMtl] {
                let points: Vec<(f64, f64)> = if mode == Mode::Stl {
                    let n = outputs[stl[0]].curve.len();
                    (0..n)
                        .map(|j| {
                            let vals: Vec<f64> =
                                stl.iter().flat_map(|&i| outputs[i].curve[j].1.clone()).collect();
                            (outputs[stl[0]].curve[j].0, mean(&vals))
                        })
                        .collect()
                } else {
                    let i = idx
                        .iter()
                        .copied()
                        .find(|&i| runs[i].mode == mode)
                        .unwrap_or(idx[0]);
                    outputs[i].curve.iter().map(|(p, v)| (*p, mean(v))).collect()
                };
                for (progress, r) in points {
                    curves.push(CurvePoint {
                        experiment: e,
                        tasks: t,
                        method: mode_name(mode).into(),
                        progress,
                        mean_annualised_return: r,
                    });
                }
            }
            // Final metrics on training tasks and held-out tasks.
            let train_tasks = &draw.train_tasks[k];
            let mtl = idx
                .iter()
                .copied()
                .find(|&i| runs[i].mode == Mode::Mtl)
                .unwrap_or(idx[0]);
            let pmtl = idx
                .iter()
                .copied()
                .find(|&i| runs[i].mode == Mode::PMtl)
                .unwrap_or(idx[0]);
            for (j, assets) in train_tasks.iter().enumerate() {
                let base = ecrp(assets)?;
                for (name, policy) in [
                    ("STL", &outputs[stl[j]].policy),
                    ("MTL", &outputs[mtl].policy),
                    ("P-MTL", &outputs[pmtl].policy),
                ] {
                    let m = eval(policy, assets)?;
                    results.push(MethodResult {
                        experiment: e,
                        tasks: t,
                        method: name.into(),
                        task_set: "train".into(),
                        task: j,
                        gain_over_ecrp: crate::metrics::gain_over(&m, &base),
                        metrics: m,
                    });
                }
            }
            for (j, assets) in draw.holdout_tasks.iter().enumerate() {
                let base = ecrp(assets)?;
                for (name, policy) in [("MTL", &outputs[mtl].policy), ("P-MTL", &outputs[pmtl].policy)] {
                    let m = eval(policy, assets)?;
                    results.push(MethodResult {
                        experiment: e,
                        tasks: t,
                        method: name.into(),
                        task_set: "holdout".into(),
                        task: j,
                        gain_over_ecrp: crate::metrics::gain_over(&m, &base),
                        metrics: m,
                    });
                }
            }
            if example.is_none() && k + 1 == cfg.task_counts.len() {
                let assets = &train_tasks[0];
                let a = run_policy(
                    &outputs[mtl].policy,
                    mk,
                    &env_cfg,
                    assets,
                    test_from,
                    test_to,
                    CostModel::Exact,
                )?;
                let s = run_policy(
                    &outputs[stl[0]].policy,
                    mk,
                    &env_cfg,
                    assets,
                    test_from,
                    test_to,
                    CostModel::Exact,
                )?;
                let q = baselines::backtest(&mut baselines::EqualCrp, &test_rel(assets), assets.len(), fee)?;
                example = Some(ExampleTask {
                    assets: assets.iter().map(|&i| data.assets[i].clone()).collect(),
                    wealth: (0..a.wealth.len())
                        .map(|d| (a.wealth[d], s.wealth[d], q.wealth[d]))
                        .collect(),
                    mtl_weights: a.weights,
                    stl_weights: s.weights,
                });
            }
        }
        // Baselines on every task of the experiment (training tasks of the largest T, and held-out).
        let k = cfg.task_counts.len() - 1;
        let sets = [("train", &draw.train_tasks[k]), ("holdout", &draw.holdout_tasks)];
        for (set, tasks) in sets {
            for (j, assets) in tasks.iter().enumerate() {
                let rel = test_rel(assets);
                let m = assets.len();
                let base = ecrp(assets)?;
                let mut strategies: Vec<(String, Box<dyn OnlineStrategy>)> = vec![
                    ("Equal CRP".into(), Box::new(baselines::EqualCrp)),
                    ("Buy and hold".into(), Box::new(baselines::BuyAndHold::default())),
                    (
                        "Best asset (hindsight)".into(),
                        Box::new(baselines::BestAsset::fit(&rel, m)?),
                    ),
                    (
                        "BCRP (fitted on training days)".into(),
                        Box::new(baselines::Bcrp::fit(&train_rel(assets), m)?),
                    ),
                    (
                        "OLMAR".into(),
                        Box::new(
                            baselines::Olmar::new(5, 10.0)?
                                .with_warmup(baselines::olmar::OlmarWarmup::Universal),
                        ),
                    ),
                    ("PAMR".into(), Box::new(baselines::Pamr::new(0.5, 0, 500.0)?)),
                    (
                        format!("Momentum ({} days)", cfg.momentum_window),
                        Box::new(
                            baselines::Momentum::new(cfg.momentum_window)?
                                .with_prelude(&train_rel(assets), m)?,
                        ),
                    ),
                ];
                for (name, s) in strategies.iter_mut() {
                    let met = Metrics::from_backtest(&baselines::backtest(s.as_mut(), &rel, m, fee)?);
                    results.push(MethodResult {
                        experiment: e,
                        tasks: 0,
                        method: name.clone(),
                        task_set: set.into(),
                        task: j,
                        gain_over_ecrp: crate::metrics::gain_over(&met, &base),
                        metrics: met,
                    });
                }
            }
        }
    }
    Ok(PortfolioResults {
        config: cfg.clone(),
        plan,
        results,
        curves,
        example,
        seconds: started.elapsed().as_secs_f64(),
    })
}

fn mean(v: &[f64]) -> f64 {
    crate::stats::mean(v)
}

/// Per method and task set: the per-experiment mean over tasks, summarised over experiments
/// with a 95 % t interval (sample standard deviation, `n − 1`).
#[derive(Clone, Debug, Serialize)]
pub struct SummaryRow {
    /// Method.
    pub method: String,
    /// Training task count (0: baseline).
    pub tasks: usize,
    /// `train` or `holdout`.
    pub task_set: String,
    /// Relative final-wealth gain over Equal CRP: per-experiment task mean, over experiments.
    pub gain: Interval,
    /// Annualised Sharpe ratio, likewise.
    pub sharpe: Interval,
    /// Mean annualised return.
    pub annualised_return_mean: f64,
    /// Mean final wealth.
    pub final_wealth_mean: f64,
    /// Mean daily turnover.
    pub turnover_mean: f64,
}

/// A paired comparison of two methods within each experiment (same tasks, same days).
#[derive(Clone, Debug, Serialize)]
pub struct PairedRow {
    /// `"MTL − STL"` and the like.
    pub comparison: String,
    /// Training task count.
    pub tasks: usize,
    /// `train` or `holdout`.
    pub task_set: String,
    /// Per-experiment differences of the mean gain over Equal CRP, their interval and sign test.
    pub gain: Paired,
}

/// Per-experiment mean of `f` over the tasks of `method` × `tasks` × `task_set` (experiments
/// without such results are skipped).
fn per_experiment(
    res: &PortfolioResults,
    method: &str,
    tasks: usize,
    task_set: &str,
    f: impl Fn(&MethodResult) -> f64,
) -> Vec<f64> {
    (0..res.config.experiments)
        .filter_map(|e| {
            let g: Vec<f64> = res
                .results
                .iter()
                .filter(|r| {
                    r.experiment == e && r.method == method && r.tasks == tasks && r.task_set == task_set
                })
                .map(&f)
                .collect();
            (!g.is_empty()).then(|| mean(&g))
        })
        .collect()
}

/// The summary table (one row per method × T × task set).
pub fn summarise(res: &PortfolioResults) -> Vec<SummaryRow> {
    let mut keys: Vec<(String, usize, String)> = Vec::new();
    for r in &res.results {
        let k = (r.method.clone(), r.tasks, r.task_set.clone());
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    keys.into_iter()
        .map(|(method, tasks, task_set)| {
            let sel: Vec<&MethodResult> = res
                .results
                .iter()
                .filter(|r| r.method == method && r.tasks == tasks && r.task_set == task_set)
                .collect();
            let avg = |f: fn(&MethodResult) -> f64| mean(&sel.iter().map(|r| f(r)).collect::<Vec<_>>());
            SummaryRow {
                gain: Interval::t95(&per_experiment(res, &method, tasks, &task_set, |r| {
                    r.gain_over_ecrp
                })),
                sharpe: Interval::t95(&per_experiment(res, &method, tasks, &task_set, |r| {
                    r.metrics.sharpe
                })),
                annualised_return_mean: avg(|r| r.metrics.annualised_return),
                final_wealth_mean: avg(|r| r.metrics.final_wealth),
                turnover_mean: avg(|r| r.metrics.mean_turnover),
                method,
                tasks,
                task_set,
            }
        })
        .collect()
}

/// Paired differences MTL − STL, P-MTL − STL and P-MTL − MTL per T and task set (STL only on
/// training tasks, where each task has its own STL policy).
pub fn paired_comparisons(res: &PortfolioResults) -> Vec<PairedRow> {
    let mut rows = Vec::new();
    for &t in &res.config.task_counts {
        for set in ["train", "holdout"] {
            for (a, b) in [("MTL", "STL"), ("P-MTL", "STL"), ("P-MTL", "MTL")] {
                let x = per_experiment(res, a, t, set, |r| r.gain_over_ecrp);
                let y = per_experiment(res, b, t, set, |r| r.gain_over_ecrp);
                if x.is_empty() || x.len() != y.len() {
                    continue;
                }
                rows.push(PairedRow {
                    comparison: format!("{a} − {b}"),
                    tasks: t,
                    task_set: set.into(),
                    gain: paired(&x, &y),
                });
            }
        }
    }
    rows
}

/// The summary as an aligned text table for the terminal.
pub fn summary_table(res: &PortfolioResults) -> String {
    let mut s = format!(
        "{:<32} {:>3} {:<8} {:>9} {:>21} {:>8} {:>9}\n",
        "method", "T", "tasks", "gain", "95 % interval", "Sharpe", "turnover"
    );
    for r in summarise(res) {
        s.push_str(&format!(
            "{:<32} {:>3} {:<8} {:>+9.4} [{:>+9.4}, {:>+9.4}] {:>8.3} {:>9.4}\n",
            r.method,
            if r.tasks == 0 {
                "-".to_string()
            } else {
                r.tasks.to_string()
            },
            r.task_set,
            r.gain.mean,
            r.gain.lo,
            r.gain.hi,
            r.sharpe.mean,
            r.turnover_mean
        ));
    }
    let paired = paired_comparisons(res);
    if !paired.is_empty() {
        s.push_str(&format!(
            "\n{:<14} {:>3} {:<8} {:>9} {:>21} {:>7} {:>8}\n",
            "paired gain", "T", "tasks", "mean", "95 % interval", "+/−", "sign p"
        ));
        for p in paired {
            s.push_str(&format!(
                "{:<14} {:>3} {:<8} {:>+9.4} [{:>+9.4}, {:>+9.4}] {:>3}/{:<3} {:>8.4}\n",
                p.comparison,
                p.tasks,
                p.task_set,
                p.gain.interval.mean,
                p.gain.interval.lo,
                p.gain.interval.hi,
                p.gain.sign.positive,
                p.gain.sign.negative,
                p.gain.sign.p_value
            ));
        }
    }
    s
}

/// Writes `config.json`, `metrics.csv`, `curves.csv`, `summary.json` and the figures
/// (`fig3_gain_holdout.svg`, `fig4_T<T>.svg`, `fig5_wealth.svg`, `fig5_weights_mtl.svg`,
/// `fig5_weights_stl.svg`) into `out`, each atomically.
///
/// # Errors
/// I/O errors naming the file.
pub fn write_results(res: &PortfolioResults, out: &Path) -> Result<()> {
    crate::io::create_out_dir(out)?;
    let json = |v: &serde_json::Value| serde_json::to_vec_pretty(v).unwrap_or_default();
    let config = serde_json::json!({ "experiment": "portfolio", "version": env!("CARGO_PKG_VERSION"), "config": res.config, "plan": res.plan });
    crate::io::write_atomic(&out.join("config.json"), &json(&config))?;
    let mut csv = String::from("experiment,tasks,method,task_set,task,final_wealth,annualised_return,annualised_volatility,sharpe,max_drawdown,mean_turnover,gain_over_ecrp\n");
    for r in &res.results {
        let m = &r.metrics;
        csv.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{},{},{}\n",
            r.experiment,
            r.tasks,
            r.method,
            r.task_set,
            r.task,
            m.final_wealth,
            m.annualised_return,
            m.annualised_volatility,
            m.sharpe,
            m.max_drawdown,
            m.mean_turnover,
            r.gain_over_ecrp
        ));
    }
    crate::io::write_atomic(&out.join("metrics.csv"), csv.as_bytes())?;
    let mut cc = String::from("experiment,tasks,method,progress,mean_test_annualised_return\n");
    for c in &res.curves {
        cc.push_str(&format!(
            "{},{},{},{},{}\n",
            c.experiment, c.tasks, c.method, c.progress, c.mean_annualised_return
        ));
    }
    crate::io::write_atomic(&out.join("curves.csv"), cc.as_bytes())?;
    let summary = summarise(res);
    crate::io::write_atomic(
        &out.join("summary.json"),
        &json(
            &serde_json::json!({ "seconds": res.seconds, "plan": res.plan, "summary": summary, "paired": paired_comparisons(res) }),
        ),
    )?;
    // Fig. 4: learning curves per T, mean over experiments with min–max band.
    for &t in &res.config.task_counts {
        let mut series = Vec::new();
        for method in ["STL", "MTL", "P-MTL"] {
            let pts: Vec<&CurvePoint> = res
                .curves
                .iter()
                .filter(|c| c.tasks == t && c.method == method)
                .collect();
            let mut xs: Vec<f64> = pts.iter().map(|c| c.progress).collect();
            xs.sort_by(f64::total_cmp);
            xs.dedup();
            let mut s = Series::new(method, Vec::new());
            for x in xs {
                let v: Vec<f64> = pts
                    .iter()
                    .filter(|c| c.progress == x)
                    .map(|c| c.mean_annualised_return)
                    .collect();
                let (lo, hi) = v.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &y| {
                    (a.min(y), b.max(y))
                });
                s.points.push((x, mean(&v)));
                s.band.push((x, lo, hi));
            }
            series.push(s);
        }
        line_chart(
            &out.join(format!("fig4_T{t}.svg")),
            &format!("Test annualised return during training, {t} tasks (mean, min–max over experiments)"),
            "fraction of training",
            "annualised return",
            &series,
        )?;
    }
    // Fig. 3: gain over Equal CRP on held-out tasks, per experiment.
    let mut series = Vec::new();
    for method in ["MTL", "P-MTL"] {
        for &t in &res.config.task_counts {
            let pts: Vec<(f64, f64)> = (0..res.config.experiments)
                .map(|e| {
                    let g: Vec<f64> = res
                        .results
                        .iter()
                        .filter(|r| {
                            r.experiment == e && r.tasks == t && r.method == method && r.task_set == "holdout"
                        })
                        .map(|r| r.gain_over_ecrp)
                        .collect();
                    (e as f64, mean(&g))
                })
                .collect();
            series.push(Series::new(format!("{method}, {t} tasks"), pts));
        }
    }
    line_chart(
        &out.join("fig3_gain_holdout.svg"),
        "Gain over Equal CRP on held-out instruments",
        "experiment",
        "mean gain over Equal CRP",
        &series,
    )?;
    if let Some(ex) = &res.example {
        let d: Vec<f64> = (0..ex.wealth.len()).map(|i| i as f64).collect();
        let w = |f: fn(&(f64, f64, f64)) -> f64| {
            d.iter()
                .zip(&ex.wealth)
                .map(|(x, w)| (*x, f(w)))
                .collect::<Vec<_>>()
        };
        line_chart(
            &out.join("fig5_wealth.svg"),
            &format!(
                "Gain in portfolio value over Equal CRP (%): {}",
                ex.assets.join(", ")
            ),
            "test day",
            "100 · (wealth / Equal CRP wealth − 1)",
            &[
                Series::new("MTL", w(|w| 100.0 * (w.0 / w.2 - 1.0))),
                Series::new("STL", w(|w| 100.0 * (w.1 / w.2 - 1.0))),
            ],
        )?;
        let m = ex.assets.len();
        for (name, weights) in [("mtl", &ex.mtl_weights), ("stl", &ex.stl_weights)] {
            let series: Vec<Series> = (0..m)
                .map(|i| {
                    Series::new(
                        ex.assets[i].clone(),
                        d.iter().map(|&x| (x, weights[x as usize * m + i])).collect(),
                    )
                })
                .collect();
            line_chart(
                &out.join(format!("fig5_weights_{name}.svg")),
                &format!("{} allocations over the test period", name.to_uppercase()),
                "test day",
                "weight",
                &series,
            )?;
        }
    }
    Ok(())
}
