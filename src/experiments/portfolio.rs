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

use super::runner::{self, ExperimentConfig};
use crate::baselines::{self, Fee, OnlineStrategy};
use crate::data::DataDirs;
use crate::envs::portfolio::{run_policy, CostReference, Market, PortfolioConfig, PortfolioTasks};
use crate::error::{Error, Result};
use crate::learn::mtl::{Mode, MtlConfig, Trainer};
use crate::learn::pg::PolicyGradient;
use crate::metrics::Metrics;
use crate::plot::{line_chart, Series};
use crate::policy::{EquivariantPolicy, PolicyConfig};
use crate::replay::StartDistribution;
use crate::sampler::{MaxDeviationFromEqual, SamplerConfig};
use crate::stats::{mean, paired, Interval, Paired};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Every setting of the portfolio experiment: the command line of `pimtl portfolio` (each
/// `default_value` is the full preset) and the `config` object of its `config.json`.
#[derive(Clone, Debug, Serialize, Deserialize, clap::Args)]
pub struct PortfolioExperimentConfig {
    /// A known data set (nyse_o, nyse_n, tse, djia, sp500, msci; see `pimtl data`), a CSV of close
    /// prices with a date column (optional `<asset>_high`/`<asset>_low` columns), a directory with
    /// close.csv (and high.csv, low.csv), an undated CSV price path (OLPS format), or a generated
    /// exchangeable market `planted[:assets=20,days=3000,drift=0.0025,noise=0.01,regime=40,seed=0]`.
    #[arg(long, default_value = "nyse_o")]
    pub data: String,
    /// Folder of the known data sets [default: $PIMTL_DATA_DIR, then ./data, then the source
    /// tree's data/, then the per-user data folder; see `pimtl data`].
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Window H of past days per state.
    #[arg(long, default_value_t = 50)]
    pub window: usize,
    /// Hidden units of the tanh RNN (paper: 25).
    #[arg(long, default_value_t = 25)]
    pub hidden: usize,
    /// Minibatch of consecutive days B.
    #[arg(long, default_value_t = 50)]
    pub batch: usize,
    /// Commission rate c.
    #[arg(long, default_value_t = 0.0025, allow_negative_numbers = true)]
    pub commission: f64,
    /// Add a cash asset.
    #[arg(long)]
    pub cash: bool,
    /// Fraction of the decision days before the test period (training and validation); the
    /// rest is the test period, looked at only in the final evaluation.
    #[arg(long, default_value_t = 0.8, allow_negative_numbers = true)]
    pub train_fraction: f64,
    /// Fraction of the pre-test days, at their end, used for validation (early stopping and the
    /// learning-rate choice; 0: none, keep the last policy; only one learning rate may be given).
    #[arg(long, default_value_t = 0.15, allow_negative_numbers = true)]
    pub validation_fraction: f64,
    /// Held-out instruments [default: round(M·18/68), raised until the held-out instruments give
    /// --holdout-tasks distinct tasks].
    #[arg(long)]
    pub holdout: Option<usize>,
    /// Instruments per task m [default: min(10, M/3)].
    #[arg(long)]
    pub task_size: Option<usize>,
    /// Numbers of training tasks T to compare (repeat the option; paper: 5 and 30).
    #[arg(long = "tasks", default_values_t = [5usize, 30])]
    pub task_counts: Vec<usize>,
    /// Distinct held-out test tasks per experiment (paper: 10); refused when the held-out
    /// instruments give fewer.
    #[arg(long, default_value_t = 10)]
    pub holdout_tasks: usize,
    /// Experiments: repetitions with different instrument draws and seeds (paper: 10).
    #[arg(long, default_value_t = 10)]
    pub experiments: usize,
    /// Training budget per task in epochs over the training days (one epoch = training days / B
    /// gradient steps): STL trains each task this long, MTL and P-MTL T times as long.
    #[arg(long, default_value_t = 10.0, allow_negative_numbers = true)]
    pub epochs: f64,
    /// Gradient steps per task, overriding --epochs when set.
    #[arg(long)]
    pub steps_per_task: Option<usize>,
    /// Validation evaluations along each training run (also the learning-curve points).
    #[arg(long, default_value_t = 10)]
    pub evaluations: usize,
    /// Evaluations without a better validation score before a run stops (0: never stop early;
    /// the best-scoring snapshot is kept either way).
    #[arg(long, default_value_t = 4)]
    pub patience: usize,
    /// Adam learning rates to choose from (repeat the option); each method takes the one with the
    /// best validation score.
    #[arg(long = "lr", default_values_t = [1e-4f64, 3e-4, 1e-3], allow_negative_numbers = true)]
    pub learning_rates: Vec<f64>,
    /// Gradient-norm clip of every training step.
    #[arg(long, default_value_t = 10.0, allow_negative_numbers = true)]
    pub clip_norm: f64,
    /// P-MTL prioritisation exponent α.
    #[arg(long, default_value_t = 0.5, allow_negative_numbers = true)]
    pub alpha: f64,
    /// Importance-sampling exponent β.
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    pub beta: f64,
    /// Score smoothing γ of the task sampler.
    #[arg(long, default_value_t = 0.2, allow_negative_numbers = true)]
    pub smoothing: f64,
    /// Geometric bias of minibatch starts (larger favours recent days).
    #[arg(long, default_value_t = 5e-4, allow_negative_numbers = true)]
    pub geometric_bias: f64,
    /// Scale of the initial output weights (near 0: start near Equal CRP).
    #[arg(long, default_value_t = 0.1, allow_negative_numbers = true)]
    pub output_init_scale: f64,
    /// Previous weights the training cost is charged against: batch (the policy's own previous
    /// action in the minibatch) or memory (the stale portfolio-vector memory; the behaviour
    /// before issue #16's fix, for the ablation).
    #[arg(long, value_enum, default_value_t = CostReference::Batch)]
    pub cost_reference: CostReference,
    /// Multiplier of the centred window features fed to the encoder.
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    pub feature_scale: f64,
    /// Look-back window of the time-series momentum baseline (days).
    #[arg(long, default_value_t = 20)]
    pub momentum_window: usize,
    /// Moving-average window of the OLMAR baseline (days, >= 2).
    #[arg(long, default_value_t = 5)]
    pub olmar_window: usize,
    /// Reversion threshold ε of the OLMAR baseline.
    #[arg(long, default_value_t = 10.0, allow_negative_numbers = true)]
    pub olmar_epsilon: f64,
    /// Sensitivity ε of the PAMR baseline (plain PAMR, variant 0).
    #[arg(long, default_value_t = 0.5, allow_negative_numbers = true)]
    pub pamr_epsilon: f64,
    /// Seed of everything.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

impl ExperimentConfig for PortfolioExperimentConfig {
    const NAME: &'static str = "portfolio";

    /// A first look in well under 3 minutes on 2 cores (about 30 s on NYSE(O)): 2 experiments,
    /// shorter window and training, one learning rate, no early stopping.
    fn quick_preset() -> serde_json::Value {
        serde_json::json!({
            "window": 20,
            "batch": 32,
            "experiments": 2,
            "epochs": 2.0,
            "evaluations": 4,
            "patience": 0,
            "learning_rates": [3e-4],
        })
    }

    fn validate(&self) -> Result<()> {
        PortfolioExperimentConfig::validate(self)
    }

    fn data_files(&self) -> Vec<PathBuf> {
        crate::data::prices::data_files(&self.data, &self.data_dirs())
    }
}

impl PortfolioExperimentConfig {
    /// The full protocol of A.1 (10 experiments, T ∈ {5, 30}, window 50, 25 hidden units) on
    /// `data`: every `default_value` of the command line.
    pub fn full(data: &str) -> Self {
        PortfolioExperimentConfig {
            data: data.to_string(),
            ..runner::defaults::<Self>().expect("the defaults of `pimtl portfolio` parse")
        }
    }

    /// The full protocol with [`ExperimentConfig::quick_preset`] applied.
    pub fn quick(data: &str) -> Self {
        PortfolioExperimentConfig {
            data: data.to_string(),
            ..runner::preset::<Self>(true).expect("the quick preset of `pimtl portfolio` parses")
        }
    }

    /// Where named data sets are looked for (see [`crate::data::locate`]).
    pub fn data_dirs(&self) -> DataDirs {
        DataDirs::resolve(self.data_dir.as_deref())
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
            ("steps_per_task", self.steps_per_task.unwrap_or(1)),
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
        if self.learning_rates.is_empty() {
            return Err(Error::param("lr", "[]", "give at least one learning rate"));
        }
        if let Some(&lr) = self.learning_rates.iter().find(|l| !(l.is_finite() && **l > 0.0)) {
            return Err(Error::param("lr", lr, "must be finite and > 0"));
        }
        if !(self.epochs.is_finite() && self.epochs > 0.0) {
            return Err(Error::param("epochs", self.epochs, "must be finite and > 0"));
        }
        if !(self.validation_fraction >= 0.0 && self.validation_fraction < 1.0) {
            return Err(Error::param(
                "validation_fraction",
                self.validation_fraction,
                "must be in [0, 1)",
            ));
        }
        if self.validation_fraction == 0.0 && self.learning_rates.len() > 1 {
            return Err(Error::param(
                "validation_fraction",
                0,
                "choosing among several learning rates needs a validation range (> 0)",
            ));
        }
        if !(self.feature_scale.is_finite() && self.feature_scale > 0.0) {
            return Err(Error::param(
                "feature_scale",
                self.feature_scale,
                "must be finite and > 0",
            ));
        }
        if !(self.clip_norm.is_finite() && self.clip_norm > 0.0) {
            return Err(Error::param(
                "clip_norm",
                self.clip_norm,
                "must be finite and > 0",
            ));
        }
        baselines::Olmar::new(self.olmar_window, self.olmar_epsilon).map_err(|_| {
            Error::param(
                "olmar_window/olmar_epsilon",
                format!("{}/{}", self.olmar_window, self.olmar_epsilon),
                "OLMAR needs a window >= 2 and a finite epsilon > 0",
            )
        })?;
        if !(self.pamr_epsilon.is_finite() && self.pamr_epsilon >= 0.0) {
            return Err(Error::param(
                "pamr_epsilon",
                self.pamr_epsilon,
                "must be finite and >= 0",
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
    /// Distinct tasks the held-out instruments allow, `C(holdout, m)` (capped at `u64::MAX`).
    pub holdout_task_space: u64,
    /// Decision days `[window, validation start)` the policies are trained on.
    pub train_days: (usize, usize),
    /// Decision days of the validation range (empty when there is none).
    pub validation_days: (usize, usize),
    /// Decision days `[test start, days)` of the final evaluation.
    pub test_days: (usize, usize),
    /// Feature per day (1: close; 3: close, high, low).
    pub features: usize,
    /// Gradient steps per epoch over the training days (`training days / batch`).
    pub steps_per_epoch: f64,
    /// Gradient steps per task (from `epochs`, or `steps_per_task` when given).
    pub steps_per_task: usize,
}

/// The smallest `h ≥ m` with `C(h, m) ≥ want`.
fn min_holdout_for(m: usize, want: usize) -> usize {
    (m..)
        .find(|&h| match crate::tasks::binomial(h as u64, m as u64) {
            Ok(c) => c >= want as u128,
            Err(_) => true,
        })
        .unwrap_or(m)
}

/// Chooses held-out count, task size and day ranges for `days × instruments` of data.
///
/// Task size `m = min(10, M/3)` unless given; held-out `h = max(round(M·18/68), smallest h with
/// C(h, m) ≥ holdout_tasks)` unless given (A.1: 18 of 68 held out, 10 test tasks). Days: the
/// first `train_fraction` of the decision days precede the test period; of those, the last
/// `validation_fraction` are the validation range.
///
/// # Errors
/// Data too small for any protocol (fewer than 3 instruments, a training, validation or test
/// range too short), an explicit `holdout`/`task_size` that does not fit, or held-out
/// instruments that give fewer distinct tasks than `holdout_tasks` — all before any work.
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
    let task_size = match cfg.task_size {
        Some(m) => m,
        None => 10.min(instruments / 3).max(1),
    };
    if task_size == 0 || 2 * task_size > instruments {
        return Err(Error::param(
            "task_size",
            task_size,
            format!(
                "must be in [1, {}] so that {instruments} instruments give training and held-out tasks",
                instruments / 2
            ),
        ));
    }
    let holdout = match cfg.holdout {
        Some(h) => h,
        None => ((instruments as f64 * 18.0 / 68.0).round() as usize)
            .max(min_holdout_for(task_size, cfg.holdout_tasks))
            .max(task_size),
    };
    if holdout < task_size || holdout + task_size > instruments {
        return Err(Error::param(
            "holdout",
            holdout,
            format!(
                "must be in [{task_size}, {}] for tasks of {task_size} out of {instruments} instruments",
                instruments - task_size
            ),
        ));
    }
    let space = crate::tasks::binomial(holdout as u64, task_size as u64).unwrap_or(u128::MAX);
    if space < cfg.holdout_tasks as u128 {
        return Err(Error::param(
            "holdout_tasks",
            cfg.holdout_tasks,
            format!(
                "{holdout} held-out instruments give only {space} distinct tasks of {task_size} \
                 (need {}; hold out at least {} instruments or use smaller tasks)",
                cfg.holdout_tasks,
                min_holdout_for(task_size, cfg.holdout_tasks)
            ),
        ));
    }
    let decision_days = days.saturating_sub(cfg.window);
    let test_start = cfg.window + (decision_days as f64 * cfg.train_fraction).round() as usize;
    let val_start = test_start
        - ((test_start.saturating_sub(cfg.window)) as f64 * cfg.validation_fraction).round() as usize;
    let need = ((cfg.window + cfg.batch + 2) as f64 / cfg.train_fraction).ceil() as usize + 5;
    if val_start < cfg.window + cfg.batch + 2 || days < test_start + 5 {
        return Err(Error::param(
            "data",
            days,
            format!(
                "{days} days are too few for a window of {}, minibatches of {}, a validation range \
                 and a test period (need at least {need} days)",
                cfg.window, cfg.batch
            ),
        ));
    }
    if cfg.validation_fraction > 0.0 && test_start - val_start < 10 {
        return Err(Error::param(
            "validation_fraction",
            cfg.validation_fraction,
            format!(
                "the validation range would have {} days (need at least 10)",
                test_start - val_start
            ),
        ));
    }
    let steps_per_epoch = (val_start - cfg.window) as f64 / cfg.batch as f64;
    let steps_per_task = cfg
        .steps_per_task
        .unwrap_or_else(|| (cfg.epochs * steps_per_epoch).ceil().max(1.0) as usize);
    Ok(Plan {
        instruments,
        holdout,
        task_size,
        holdout_task_space: u64::try_from(space).unwrap_or(u64::MAX),
        train_days: (cfg.window, val_start),
        validation_days: (val_start, test_start),
        test_days: (test_start, days),
        features,
        steps_per_epoch,
        steps_per_task,
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
    /// The learning rate chosen on the validation range (learned policies only).
    pub lr: Option<f64>,
    /// Epochs per task of the snapshot that was kept (learned policies only).
    pub epochs: Option<f64>,
}

/// A learning-curve point of the chosen learning rate: mean annualised return over the
/// run's training tasks, on the test days (computed after training from the saved snapshots)
/// and on the validation days.
#[derive(Clone, Debug, Serialize)]
pub struct CurvePoint {
    /// Repetition index.
    pub experiment: usize,
    /// `T`.
    pub tasks: usize,
    /// `STL`, `MTL` or `P-MTL`.
    pub method: String,
    /// Epochs per task trained so far (Fig. 4's x-axis).
    pub epoch: f64,
    /// Mean annualised return on the test days over the training tasks.
    pub mean_annualised_return: f64,
    /// Mean daily log-return on the validation days over the training tasks (NaN without a
    /// validation range).
    pub validation_log_return: f64,
}

/// One learning-rate candidate of one method in one experiment.
#[derive(Clone, Debug, Serialize)]
pub struct LrChoice {
    /// Repetition index.
    pub experiment: usize,
    /// `T`.
    pub tasks: usize,
    /// `STL`, `MTL` or `P-MTL`.
    pub method: String,
    /// The learning rate.
    pub lr: f64,
    /// Best validation score (mean daily log-return, averaged over the method's policies).
    pub validation_log_return: f64,
    /// Whether this rate was chosen.
    pub chosen: bool,
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
    /// Validation scores of every learning rate tried.
    pub lr_choices: Vec<LrChoice>,
    /// Fig. 5's example task (see [`ExampleTask`] for the rule that picks it).
    pub example: Option<ExampleTask>,
    /// Fig. 2's data: per training step of the STL policy of experiment 0's training task 0
    /// (largest `T`, chosen learning rate), `(scorer(B_t), gradient norm, mean reward)`.
    pub fig2: Vec<(f64, f64, f64)>,
    /// Wall-clock seconds.
    pub seconds: f64,
}

/// The Fig. 5 example: in the first experiment with the largest `T`, the training task whose
/// MTL − STL gain is the median over its tasks (a typical task, not a selected success).
#[derive(Clone, Debug, Serialize)]
pub struct ExampleTask {
    /// Training task index.
    pub task: usize,
    /// Instrument names.
    pub assets: Vec<String>,
    /// Whether the study has a cash asset: then each allocation row has `assets.len() + 1`
    /// entries, cash last (see [`ExampleTask::entities`]).
    pub cash: bool,
    /// Wealth per test day: (MTL, STL, Equal CRP).
    pub wealth: Vec<(f64, f64, f64)>,
    /// MTL allocations `[day][entity]` (the entities of [`ExampleTask::entities`]).
    pub mtl_weights: Vec<f64>,
    /// STL allocations `[day][entity]` (the entities of [`ExampleTask::entities`]).
    pub stl_weights: Vec<f64>,
}

impl ExampleTask {
    /// The names of one allocation row's entries: the instruments, then
    /// [`crate::plot::CASH`] when the study has a cash asset.
    pub fn entities(&self) -> Vec<String> {
        let mut names = self.assets.clone();
        if self.cash {
            names.push(crate::plot::CASH.to_string());
        }
        names
    }
}

struct Run {
    experiment: usize,
    tasks: usize,
    mode: Mode,
    /// The training task an STL run trains on; `None` for a multi-task run (all tasks).
    task: Option<usize>,
    /// Index into `learning_rates`.
    lr: usize,
}

/// A policy saved at an evaluation: epochs per task, parameters, validation score.
struct Snapshot {
    epoch: f64,
    params: Vec<f32>,
    validation: f64,
}

struct RunOutput {
    /// Per step `(scorer(B_t), gradient norm, mean minibatch reward)`, recorded for Fig. 2 in
    /// experiment 0's STL runs on training task 0.
    diagnostics: Vec<(f64, f64, f64)>,
    snapshots: Vec<Snapshot>,
    /// Index of the snapshot kept (best validation score; the last one without validation).
    best: usize,
    config: PolicyConfig,
}

impl RunOutput {
    fn policy(&self, i: usize) -> Result<EquivariantPolicy<f32>> {
        let i = i.min(self.snapshots.len() - 1);
        EquivariantPolicy::from_params(self.config.clone(), self.snapshots[i].params.clone())
    }
    fn kept(&self) -> Result<EquivariantPolicy<f32>> {
        self.policy(self.best)
    }
    fn best_validation(&self) -> f64 {
        self.snapshots[self.best].validation
    }
}

/// A finished training run as saved for `--resume`: floats as their bit patterns, so a resumed
/// run reads back exactly what it computed (NaN validation scores included).
#[derive(Serialize, Deserialize)]
struct RunCheckpoint {
    diagnostics: Vec<[u64; 3]>,
    /// `(epoch, params, validation)` of each snapshot.
    snapshots: Vec<(u64, Vec<u32>, u64)>,
    best: usize,
    config: PolicyConfig,
}

impl RunCheckpoint {
    fn from_output(o: &RunOutput) -> Self {
        RunCheckpoint {
            diagnostics: o
                .diagnostics
                .iter()
                .map(|&(a, b, c)| [a.to_bits(), b.to_bits(), c.to_bits()])
                .collect(),
            snapshots: o
                .snapshots
                .iter()
                .map(|s| {
                    (
                        s.epoch.to_bits(),
                        s.params.iter().map(|p| p.to_bits()).collect(),
                        s.validation.to_bits(),
                    )
                })
                .collect(),
            best: o.best,
            config: o.config.clone(),
        }
    }

    fn into_output(self) -> RunOutput {
        RunOutput {
            diagnostics: self
                .diagnostics
                .iter()
                .map(|d| (f64::from_bits(d[0]), f64::from_bits(d[1]), f64::from_bits(d[2])))
                .collect(),
            snapshots: self
                .snapshots
                .into_iter()
                .map(|(e, p, v)| Snapshot {
                    epoch: f64::from_bits(e),
                    params: p.into_iter().map(f32::from_bits).collect(),
                    validation: f64::from_bits(v),
                })
                .collect(),
            best: self.best,
            config: self.config,
        }
    }
}

fn mode_name(m: Mode) -> &'static str {
    match m {
        Mode::Stl => "STL",
        Mode::Mtl => "MTL",
        Mode::PMtl => "P-MTL",
    }
}

/// Held-out and training tasks of one experiment.
struct Draw {
    /// Per task count: tasks as instrument indices.
    train_tasks: Vec<Vec<Vec<usize>>>,
    holdout_tasks: Vec<Vec<usize>>,
}

/// Protocol step 1–3: the instrument split and the tasks of every experiment.
fn draw_experiments(cfg: &PortfolioExperimentConfig, plan: &Plan) -> Result<Vec<Draw>> {
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
        let hts = crate::tasks::draw_tasks(hold.len(), plan.task_size, cfg.holdout_tasks, seed + 2)?;
        let holdout_tasks = hts
            .iter()
            .map(|t| t.entities().iter().map(|&i| hold[i]).collect())
            .collect();
        draws.push(Draw {
            train_tasks,
            holdout_tasks,
        });
    }
    Ok(draws)
}

/// Mean daily log-return of `policy` over decision days `[from, to)` across `tasks` (exact costs).
fn mean_log_return(
    policy: &EquivariantPolicy<f32>,
    market: &Market,
    env_cfg: &PortfolioConfig,
    tasks: &[Vec<usize>],
    (from, to): (usize, usize),
) -> Result<f64> {
    let mut total = 0.0;
    for assets in tasks {
        let bt = run_policy(
            policy,
            market,
            env_cfg,
            assets,
            from,
            to,
            Fee::Exact(env_cfg.commission),
        )?;
        total += bt.period_returns.iter().map(|r| r.ln()).sum::<f64>() / bt.period_returns.len() as f64;
    }
    Ok(total / tasks.len() as f64)
}

/// Protocol step 4: one training run, with a snapshot and a validation score at every
/// evaluation, stopping after `patience` evaluations without improvement.
fn train_run(
    cfg: &PortfolioExperimentConfig,
    plan: &Plan,
    market: &Arc<Market>,
    env_cfg: &PortfolioConfig,
    r: &Run,
    tasks: Vec<Vec<usize>>,
) -> Result<RunOutput> {
    let iterations = plan.steps_per_task * tasks.len();
    let seed = cfg
        .seed
        .wrapping_add(7919 * (r.experiment as u64 + 1))
        // (10 000 stands for "all tasks" in the seed, as before the field became an Option.)
        .wrapping_add(104_729 * r.task.map_or(10_000, |t| t.min(10_000)) as u64)
        ^ ((r.tasks as u64) << 40)
        ^ ((r.mode as u64) << 48)
        ^ ((r.lr as u64) << 56);
    let env = PortfolioTasks::new(market.clone(), tasks.clone(), env_cfg.clone(), plan.train_days.1)?;
    let mut pcfg = PolicyConfig::paper_portfolio(market.features());
    if let crate::policy::EncoderConfig::Recurrent { hidden, .. } = &mut pcfg.encoder {
        *hidden = cfg.hidden;
    }
    pcfg.previous_allocation = true;
    pcfg.output_init_scale = cfg.output_init_scale;
    let policy = EquivariantPolicy::<f32>::new(pcfg.clone(), seed)?;
    let eval_every = (iterations / cfg.evaluations).max(1);
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
        lr: cfg.learning_rates[r.lr],
        clip_norm: Some(cfg.clip_norm),
        eval_every,
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
    let validate = plan.validation_days.1 > plan.validation_days.0;
    let steps_per_epoch = plan.steps_per_epoch * tasks.len() as f64;
    let snapshot = |it: usize, p: &EquivariantPolicy<f32>| -> Result<Snapshot> {
        Ok(Snapshot {
            epoch: it as f64 / steps_per_epoch,
            params: p.params().to_vec(),
            validation: if validate {
                mean_log_return(p, market, env_cfg, &tasks, plan.validation_days)?
            } else {
                f64::NAN
            },
        })
    };
    let mut snapshots = vec![snapshot(0, &trainer.policy)?];
    let (mut best, mut since) = (0usize, 0usize);
    let record = r.mode == Mode::Stl && r.experiment == 0 && r.task == Some(0);
    let mut diagnostics = Vec::new();
    for it in 1..=iterations {
        let (_, stats) = trainer.step()?;
        if record {
            let (norm, score) = trainer.last_step_diagnostics();
            diagnostics.push((score, norm, mean(&stats.rewards)));
        }
        if it % eval_every == 0 || it == iterations {
            let s = snapshot(it, &trainer.policy)?;
            let better = !validate || s.validation > snapshots[best].validation;
            snapshots.push(s);
            if better {
                best = snapshots.len() - 1;
                since = 0;
            } else {
                since += 1;
                if cfg.patience > 0 && since >= cfg.patience {
                    break;
                }
            }
        }
    }
    Ok(RunOutput {
        diagnostics,
        snapshots,
        best,
        config: pcfg,
    })
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
    run_in(cfg, None, progress, on_plan)
}

/// [`run`] with checkpoints: every finished training run is saved in `folder`, and one an
/// interrupted run already finished is read back instead of retrained (`--resume`). Each run's
/// seed depends only on the configuration and its indices, so the results are the same bytes.
///
/// # Errors
/// As [`run`], and a checkpoint that cannot be written or read.
pub fn run_in(
    cfg: &PortfolioExperimentConfig,
    folder: Option<&runner::ResultFolder>,
    progress: impl Fn(&str) + Sync,
    on_plan: impl FnOnce(&Plan),
) -> Result<PortfolioResults> {
    let started = std::time::Instant::now();
    cfg.validate()?;
    let data = crate::data::prices::load_from(&cfg.data, &cfg.data_dirs())?;
    crate::data::prices::check_min_days(&data, cfg.window)?;
    let high_low = match (&data.high, &data.low) {
        (Some(h), Some(l)) => Some((h.clone(), l.clone())),
        _ => None,
    };
    let market = Arc::new(Market::new(data.num_assets(), data.relatives.clone(), high_low)?);
    let plan = plan(cfg, market.assets(), market.days(), market.features())?;
    on_plan(&plan);
    let env_cfg = cfg.env_config();
    let draws = draw_experiments(cfg, &plan)?;

    // Training runs, all independent: every mode, task count and learning rate.
    let mut runs = Vec::new();
    for (e, draw) in draws.iter().enumerate() {
        for k in 0..cfg.task_counts.len() {
            for lr in 0..cfg.learning_rates.len() {
                for task in 0..draw.train_tasks[k].len() {
                    runs.push(Run {
                        experiment: e,
                        tasks: k,
                        mode: Mode::Stl,
                        task: Some(task),
                        lr,
                    });
                }
                for mode in [Mode::Mtl, Mode::PMtl] {
                    runs.push(Run {
                        experiment: e,
                        tasks: k,
                        mode,
                        task: None,
                        lr,
                    });
                }
            }
        }
    }
    let outputs: Vec<Result<RunOutput>> = runs
        .par_iter()
        .map(|r| {
            let all = &draws[r.experiment].train_tasks[r.tasks];
            let tasks = match r.task {
                Some(t) => vec![all[t].clone()],
                None => all.clone(),
            };
            let key = format!(
                "run-e{}-k{}-{}-t{}-lr{}",
                r.experiment,
                r.tasks,
                mode_name(r.mode).replace('-', ""),
                r.task.map_or_else(|| "all".to_string(), |t| t.to_string()),
                r.lr
            );
            let train = || train_run(cfg, &plan, &market, &env_cfg, r, tasks);
            let out = match folder {
                Some(f) => f
                    .checkpoint(&key, || Ok(RunCheckpoint::from_output(&train()?)))?
                    .into_output(),
                None => train()?,
            };
            progress(&format!(
                "experiment {} T={} {}{} lr {}: {} of {} epochs, kept epoch {:.2}",
                r.experiment,
                cfg.task_counts[r.tasks],
                mode_name(r.mode),
                r.task.map_or_else(String::new, |t| format!(" task {t}")),
                cfg.learning_rates[r.lr],
                out.snapshots
                    .last()
                    .map_or(0.0, |s| (s.epoch * 100.0).round() / 100.0),
                (plan.steps_per_task as f64 / plan.steps_per_epoch * 100.0).round() / 100.0,
                out.snapshots[out.best].epoch
            ));
            Ok(out)
        })
        .collect();
    let outputs: Vec<RunOutput> = outputs.into_iter().collect::<Result<_>>()?;

    // Step 5: choose each method's learning rate on the validation range, then evaluate on the
    // test days (for the first time) the kept snapshots and, for the curves, every snapshot.
    let fee = Fee::Exact(cfg.commission);
    let mk: &Market = &market;
    let (test_from, test_to) = plan.test_days;
    let eval = |p: &EquivariantPolicy<f32>, assets: &[usize]| -> Result<Metrics> {
        Ok(Metrics::from_backtest(&run_policy(
            p, mk, &env_cfg, assets, test_from, test_to, fee,
        )?))
    };
    let rel = |assets: &[usize], from: usize, to: usize| -> Vec<f64> {
        (from..to)
            .flat_map(|d| assets.iter().map(move |&a| mk.relative(d, a)))
            .collect()
    };
    let test_rel = |assets: &[usize]| rel(assets, test_from, test_to);
    let ecrp = |assets: &[usize]| -> Result<Metrics> {
        Ok(Metrics::from_backtest(&baselines::simulate(
            &mut baselines::EqualCrp,
            &test_rel(assets),
            assets.len(),
            fee,
        )?))
    };
    let mut curves = Vec::new();
    let mut results = Vec::new();
    let mut lr_choices = Vec::new();
    let mut example = None;
    let mut fig2 = Vec::new();
    for (e, draw) in draws.iter().enumerate() {
        for (k, &t) in cfg.task_counts.iter().enumerate() {
            // Run indices of (mode, lr) in this experiment and task count.
            let of = |mode: Mode, lr: usize| -> Vec<usize> {
                runs.iter()
                    .enumerate()
                    .filter(|(_, r)| r.experiment == e && r.tasks == k && r.mode == mode && r.lr == lr)
                    .map(|(i, _)| i)
                    .collect()
            };
            let mut chosen = std::collections::BTreeMap::new();
            for mode in [Mode::Stl, Mode::Mtl, Mode::PMtl] {
                let scores: Vec<f64> = (0..cfg.learning_rates.len())
                    .map(|lr| {
                        mean(
                            &of(mode, lr)
                                .iter()
                                .map(|&i| outputs[i].best_validation())
                                .collect::<Vec<_>>(),
                        )
                    })
                    .collect();
                let pick = (0..scores.len())
                    .reduce(|a, b| if scores[b] > scores[a] { b } else { a })
                    .unwrap_or(0);
                for (lr, &score) in scores.iter().enumerate() {
                    lr_choices.push(LrChoice {
                        experiment: e,
                        tasks: t,
                        method: mode_name(mode).into(),
                        lr: cfg.learning_rates[lr],
                        validation_log_return: score,
                        chosen: lr == pick,
                    });
                }
                let idx = of(mode, pick);
                // Learning curve of the chosen rate on the test days, from the snapshots: each
                // snapshot of each run evaluated once (runs in parallel), summed over the run's tasks.
                let per_run: Vec<Vec<f64>> = idx
                    .par_iter()
                    .map(|&i| {
                        let tasks = match runs[i].task {
                            Some(t) => std::slice::from_ref(&draw.train_tasks[k][t]),
                            None => &draw.train_tasks[k][..],
                        };
                        (0..outputs[i].snapshots.len())
                            .map(|j| {
                                let p = outputs[i].policy(j)?;
                                let mut sum = 0.0;
                                for assets in tasks {
                                    sum += eval(&p, assets)?.annualised_return;
                                }
                                Ok(sum)
                            })
                            .collect()
                    })
                    .collect::<Result<_>>()?;
                let tasks_per_run = if mode == Mode::Stl {
                    1
                } else {
                    draw.train_tasks[k].len()
                };
                let points = idx.iter().map(|&i| outputs[i].snapshots.len()).max().unwrap_or(0);
                for j in 0..points {
                    let (mut ret, mut val, mut n) = (0.0, 0.0, 0.0);
                    let mut epoch = 0.0f64;
                    for (r, &i) in idx.iter().enumerate() {
                        let o = &outputs[i];
                        // A run stopped early keeps its best snapshot from then on.
                        ret += per_run[r][if j < o.snapshots.len() { j } else { o.best }];
                        n += tasks_per_run as f64;
                        let s = &o.snapshots[j.min(o.snapshots.len() - 1)];
                        val += s.validation / idx.len() as f64;
                        epoch = epoch.max(if j < o.snapshots.len() { s.epoch } else { 0.0 });
                    }
                    curves.push(CurvePoint {
                        experiment: e,
                        tasks: t,
                        method: mode_name(mode).into(),
                        epoch,
                        mean_annualised_return: ret / n,
                        validation_log_return: val,
                    });
                }
                if mode == Mode::Stl && e == 0 && k + 1 == cfg.task_counts.len() {
                    fig2 = outputs[idx[0]].diagnostics.clone();
                }
                chosen.insert(mode_name(mode), idx);
            }
            let stl = &chosen["STL"];
            let policies = |name: &str, j: usize| -> Result<(usize, EquivariantPolicy<f32>)> {
                let idx = &chosen[name];
                let i = if name == "STL" { idx[j % idx.len()] } else { idx[0] };
                Ok((i, outputs[i].kept()?))
            };
            let record =
                |set: &str, j: usize, name: &str, i: usize, m: Metrics, base: &Metrics| MethodResult {
                    experiment: e,
                    tasks: t,
                    method: name.into(),
                    task_set: set.into(),
                    task: j,
                    gain_over_ecrp: crate::metrics::gain_over(&m, base),
                    metrics: m,
                    lr: Some(cfg.learning_rates[runs[i].lr]),
                    epochs: Some(outputs[i].snapshots[outputs[i].best].epoch),
                };
            let mut diffs = Vec::new();
            for (j, assets) in draw.train_tasks[k].iter().enumerate() {
                let base = ecrp(assets)?;
                let mut g = [0.0; 2];
                for name in ["STL", "MTL", "P-MTL"] {
                    let (i, p) = policies(name, j)?;
                    let m = eval(&p, assets)?;
                    let r = record("train", j, name, i, m, &base);
                    if name != "P-MTL" {
                        g[usize::from(name == "MTL")] = r.gain_over_ecrp;
                    }
                    results.push(r);
                }
                diffs.push((g[1] - g[0], j));
            }
            // Held-out tasks: the multi-task policies, and STL as "a policy trained on one other
            // task": held-out task j gets the STL policy of training task j mod T.
            for (j, assets) in draw.holdout_tasks.iter().enumerate() {
                let base = ecrp(assets)?;
                for name in ["STL", "MTL", "P-MTL"] {
                    let (i, p) = policies(name, j)?;
                    let m = eval(&p, assets)?;
                    results.push(record("holdout", j, name, i, m, &base));
                }
            }
            if example.is_none() && k + 1 == cfg.task_counts.len() {
                diffs.sort_by(|a, b| a.0.total_cmp(&b.0));
                let j = diffs[diffs.len() / 2].1;
                let assets = &draw.train_tasks[k][j];
                let (_, pm) = policies("MTL", 0)?;
                let pst = outputs[stl[j]].kept()?;
                let a = run_policy(&pm, mk, &env_cfg, assets, test_from, test_to, fee)?;
                let s = run_policy(&pst, mk, &env_cfg, assets, test_from, test_to, fee)?;
                let q = baselines::simulate(&mut baselines::EqualCrp, &test_rel(assets), assets.len(), fee)?;
                example = Some(ExampleTask {
                    task: j,
                    assets: assets.iter().map(|&i| data.assets[i].clone()).collect(),
                    cash: cfg.cash,
                    wealth: (0..a.wealth.len())
                        .map(|d| (a.wealth[d], s.wealth[d], q.wealth[d]))
                        .collect(),
                    mtl_weights: a.weights,
                    stl_weights: s.weights,
                });
            }
        }
        // Baselines on every task of the experiment (training tasks of the largest T, and held-out).
        results.extend(baseline_results(cfg, mk, e, draw, plan.test_days, fee)?);
    }
    Ok(PortfolioResults {
        config: cfg.clone(),
        plan,
        results,
        curves,
        lr_choices,
        example,
        fig2,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The strategies of [`crate::baselines::registry`] the study sets up itself (BCRP fitted on the
/// training days, momentum with the days before the test period, OLMAR and PAMR with the
/// study's parameters); every other online entry runs with its defaults.
const STUDY_OWN_BASELINES: [&str; 5] = ["ucrp", "bah", "momentum", "olmar", "pamr"];

/// Protocol step 5 for the baselines: every classic strategy back-tested on the test days of
/// every task of experiment `e` (the training tasks of the largest `T` and the held-out tasks),
/// with the same fee; BCRP and momentum see the days before the test period only; the online
/// family of `pimtl baselines` (UP, EG, ONS, …) runs with its defaults on the test days.
fn baseline_results(
    cfg: &PortfolioExperimentConfig,
    mk: &Market,
    e: usize,
    draw: &Draw,
    (test_from, test_to): (usize, usize),
    fee: Fee,
) -> Result<Vec<MethodResult>> {
    let rel = |assets: &[usize], from: usize, to: usize| -> Vec<f64> {
        (from..to)
            .flat_map(|d| assets.iter().map(move |&a| mk.relative(d, a)))
            .collect()
    };
    let mut results = Vec::new();
    let k = cfg.task_counts.len() - 1;
    for (set, tasks) in [("train", &draw.train_tasks[k]), ("holdout", &draw.holdout_tasks)] {
        for (j, assets) in tasks.iter().enumerate() {
            let test = rel(assets, test_from, test_to);
            let m = assets.len();
            let base = Metrics::from_backtest(&baselines::simulate(&mut baselines::EqualCrp, &test, m, fee)?);
            let before_test = rel(assets, 0, test_from);
            let mut strategies: Vec<(String, Box<dyn OnlineStrategy>)> = vec![
                ("Equal CRP".into(), Box::new(baselines::EqualCrp)),
                ("Buy and hold".into(), Box::new(baselines::BuyAndHold::default())),
                (
                    "Best asset (hindsight)".into(),
                    Box::new(baselines::BestAsset::fit(&test, m)?),
                ),
                (
                    "BCRP (fitted on training days)".into(),
                    Box::new(baselines::Bcrp::fit(&before_test, m)?),
                ),
                (
                    "OLMAR".into(),
                    Box::new(
                        baselines::Olmar::new(cfg.olmar_window, cfg.olmar_epsilon)?
                            .with_warmup(baselines::olmar::OlmarWarmup::Universal),
                    ),
                ),
                (
                    "PAMR".into(),
                    Box::new(baselines::Pamr::new(cfg.pamr_epsilon, 0, 500.0)?),
                ),
                (
                    format!("Momentum ({} days)", cfg.momentum_window),
                    Box::new(baselines::Momentum::new(cfg.momentum_window)?.with_prelude(&before_test, m)?),
                ),
            ];
            // The rest of the online family, with the defaults of `pimtl baselines`.
            let ctx = baselines::registry::BuildContext {
                relatives: &test,
                assets: m,
                fee_rate: fee.rate(),
                seed: cfg.seed,
            };
            for e in baselines::registry::entries() {
                if e.hindsight || STUDY_OWN_BASELINES.contains(&e.name) {
                    continue;
                }
                let spec = baselines::registry::StrategySpec::parse(e.name)?;
                strategies.push((e.display.to_string(), spec.build(&ctx)?));
            }
            for (name, s) in strategies.iter_mut() {
                let met = Metrics::from_backtest(&baselines::simulate(s.as_mut(), &test, m, fee)?);
                results.push(MethodResult {
                    experiment: e,
                    tasks: 0,
                    method: name.clone(),
                    task_set: set.into(),
                    task: j,
                    gain_over_ecrp: crate::metrics::gain_over(&met, &base),
                    metrics: met,
                    lr: None,
                    epochs: None,
                });
            }
        }
    }
    Ok(results)
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
    for set in ["train", "holdout"] {
        if let Some(b) = best_online_baseline(res, set) {
            s.push_str(&format!(
                "best online baseline on {set} tasks at commission {} (exact remainder): {} (gain {:+.4} [{:+.4}, {:+.4}])\n",
                res.config.commission,
                b.method,
                b.gain.mean,
                b.gain.lo,
                b.gain.hi
            ));
        }
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

/// The baseline (not learned, not fitted in hindsight on the test days) with the largest mean
/// gain over Equal CRP on `task_set` (`train` or `holdout`) tasks, over experiments.
pub fn best_online_baseline(res: &PortfolioResults, task_set: &str) -> Option<SummaryRow> {
    summarise(res)
        .into_iter()
        .filter(|r| r.tasks == 0 && r.task_set == task_set && !r.method.contains("hindsight"))
        .max_by(|a, b| a.gain.mean.total_cmp(&b.gain.mean))
}

/// Writes into `out`, each file atomically: `setup.json` (the plan derived from the data; the runner writes `config.json`), `metrics.csv` (every method × task ×
/// experiment on the test days), `curves.csv` (learning curves), `lr_choices.csv` (validation
/// score of every learning rate), `summary.json` (intervals and paired comparisons), and the
/// figures `fig2_score_vs_reward_change.svg` and `fig2_score_vs_grad_norm.svg` (with
/// `fig2.csv`: the scorer against learning signal), `fig3_gain_holdout.svg` (held-out gain per
/// method with 95 % intervals),
/// `fig4_T<T>.svg` (test return against epochs, interquartile band over experiments),
/// `fig4_right_T<T>.svg` (gain over STL against the fraction of tasks), `fig5_wealth.svg`,
/// `fig5_weights_mtl.svg` and `fig5_weights_stl.svg` (stacked allocations).
///
/// # Errors
/// I/O errors naming the file.
pub fn write_results(res: &PortfolioResults, out: &Path) -> Result<()> {
    crate::io::create_out_dir(out)?;
    let json = |v: &serde_json::Value| serde_json::to_vec_pretty(v).unwrap_or_default();
    crate::io::write_atomic(
        &out.join("setup.json"),
        &json(&serde_json::json!({ "plan": res.plan })),
    )?;
    let opt = |v: Option<f64>| v.map(|x| x.to_string()).unwrap_or_default();
    let mut csv = String::from("experiment,tasks,method,task_set,task,final_wealth,annualised_return,annualised_volatility,sharpe,max_drawdown,mean_turnover,gain_over_ecrp,lr,epochs\n");
    for r in &res.results {
        let m = &r.metrics;
        csv.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n",
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
            r.gain_over_ecrp,
            opt(r.lr),
            opt(r.epochs)
        ));
    }
    crate::io::write_atomic(&out.join("metrics.csv"), csv.as_bytes())?;
    let mut cc =
        String::from("experiment,tasks,method,epoch,mean_test_annualised_return,validation_log_return\n");
    for c in &res.curves {
        cc.push_str(&format!(
            "{},{},{},{},{},{}\n",
            c.experiment, c.tasks, c.method, c.epoch, c.mean_annualised_return, c.validation_log_return
        ));
    }
    crate::io::write_atomic(&out.join("curves.csv"), cc.as_bytes())?;
    let mut lc = String::from("experiment,tasks,method,lr,validation_log_return,chosen\n");
    for c in &res.lr_choices {
        lc.push_str(&format!(
            "{},{},{},{},{},{}\n",
            c.experiment, c.tasks, c.method, c.lr, c.validation_log_return, c.chosen
        ));
    }
    crate::io::write_atomic(&out.join("lr_choices.csv"), lc.as_bytes())?;
    let summary = summarise(res);
    crate::io::write_atomic(
        &out.join("summary.json"),
        &json(
            &serde_json::json!({ "plan": res.plan, "summary": summary, "paired": paired_comparisons(res) }),
        ),
    )?;
    // Fig. 4 left: test annualised return against epochs per task, median and interquartile
    // range over experiments (a run stopped early contributes up to its last evaluation).
    for &t in &res.config.task_counts {
        let mut series = Vec::new();
        for method in ["STL", "MTL", "P-MTL"] {
            let pts: Vec<&CurvePoint> = res
                .curves
                .iter()
                .filter(|c| c.tasks == t && c.method == method)
                .collect();
            let mut xs: Vec<f64> = pts.iter().map(|c| (c.epoch * 1e6).round() / 1e6).collect();
            xs.sort_by(f64::total_cmp);
            xs.dedup();
            let mut s = Series::new(method, Vec::new());
            for x in xs {
                let v: Vec<f64> = pts
                    .iter()
                    .filter(|c| ((c.epoch * 1e6).round() / 1e6) == x)
                    .map(|c| c.mean_annualised_return)
                    .collect();
                s.points.push((x, crate::stats::quantile(&v, 0.5)));
                s.band.push((
                    x,
                    crate::stats::quantile(&v, 0.25),
                    crate::stats::quantile(&v, 0.75),
                ));
            }
            series.push(s);
        }
        line_chart(
            &out.join(format!("fig4_T{t}.svg")),
            &format!("Test annualised return during training, {t} tasks (median, IQR over experiments)"),
            "epochs per task",
            "annualised return",
            &series,
        )?;
        // Fig. 4 right: per training task, the gain over STL; sorted, against the fraction of
        // tasks (a curve further right is a larger gain over STL on more tasks).
        let mut right = Vec::new();
        for method in ["MTL", "P-MTL"] {
            let mut g: Vec<f64> = res
                .results
                .iter()
                .filter(|r| r.tasks == t && r.method == method && r.task_set == "train")
                .filter_map(|r| {
                    res.results
                        .iter()
                        .find(|s| {
                            s.tasks == t
                                && s.method == "STL"
                                && s.task_set == "train"
                                && s.experiment == r.experiment
                                && s.task == r.task
                        })
                        .map(|s| r.gain_over_ecrp - s.gain_over_ecrp)
                })
                .collect();
            g.sort_by(|a, b| b.total_cmp(a));
            let n = g.len() as f64;
            right.push(Series::new(
                method,
                g.iter()
                    .enumerate()
                    .map(|(i, &x)| (x, (i + 1) as f64 / n))
                    .collect(),
            ));
        }
        line_chart(
            &out.join(format!("fig4_right_T{t}.svg")),
            &format!("Gain over STL per training task, {t} tasks"),
            "gain over STL (difference of gains over Equal CRP)",
            "fraction of tasks with at least this gain",
            &right,
        )?;
    }
    // Fig. 3: gain over Equal CRP on held-out instruments, per method, 95 % t interval over
    // experiments (of each experiment's mean over its held-out tasks).
    let rows = summarise(res);
    let mut items = Vec::new();
    for r in rows.iter().filter(|r| r.task_set == "holdout") {
        items.push(crate::plot::Interval95 {
            label: if r.tasks == 0 {
                r.method
                    .replace(" (fitted on training days)", "")
                    .replace(" (hindsight)", "*")
            } else {
                format!("{} T={}", r.method, r.tasks)
            },
            mean: r.gain.mean,
            lo: r.gain.lo,
            hi: r.gain.hi,
        });
    }
    crate::plot::interval_chart(
        &out.join("fig3_gain_holdout.svg"),
        "Gain over Equal CRP on held-out instruments (mean, 95 % interval over experiments)",
        "gain over Equal CRP",
        &items,
    )?;
    // Fig. 2: the P-MTL scorer against learning signal in a single-task run.
    if !res.fig2.is_empty() {
        let mut f = String::from("step,score,grad_norm,mean_reward\n");
        for (i, (s, g, r)) in res.fig2.iter().enumerate() {
            f.push_str(&format!("{},{s},{g},{r}\n", i + 1));
        }
        crate::io::write_atomic(&out.join("fig2.csv"), f.as_bytes())?;
        // Left: every 50 steps, the largest score seen against the change in mean reward.
        let windows: Vec<(f64, f64)> = res
            .fig2
            .chunks(50)
            .map(|w| {
                (
                    w.iter().map(|x| x.0).fold(f64::NEG_INFINITY, f64::max),
                    mean(&w.iter().map(|x| x.2).collect::<Vec<_>>()),
                )
            })
            .collect();
        let left: Vec<(f64, f64)> = windows
            .windows(2)
            .map(|p| (p[1].0, (p[1].1 - p[0].1).abs()))
            .collect();
        if !left.is_empty() {
            line_chart(
                &out.join("fig2_score_vs_reward_change.svg"),
                "Max score per 50 steps vs |change in mean reward| (STL, task 0)",
                "max ‖π(x) − 1/m‖∞ over 50 steps",
                "|Δ mean minibatch reward|",
                &[Series::scatter("windows of 50 steps", left)],
            )?;
        }
        line_chart(
            &out.join("fig2_score_vs_grad_norm.svg"),
            "Minibatch score vs gradient norm (STL, task 0)",
            "scorer(B_t) = max ‖π(x) − 1/m‖∞",
            "‖∇θ L‖ before clipping",
            &[Series::scatter(
                "minibatches",
                res.fig2.iter().map(|x| (x.0, x.1)).collect(),
            )],
        )?;
    }
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
                "Gain in portfolio value over Equal CRP (%), task {} (median MTL − STL): {}",
                ex.task,
                ex.assets.join(", ")
            ),
            "test day",
            "100 · (wealth / Equal CRP wealth − 1)",
            &[
                Series::new("MTL", w(|w| 100.0 * (w.0 / w.2 - 1.0))),
                Series::new("STL", w(|w| 100.0 * (w.1 / w.2 - 1.0))),
            ],
        )?;
        let entities = ex.entities();
        for (name, weights) in [("mtl", &ex.mtl_weights), ("stl", &ex.stl_weights)] {
            crate::plot::stacked_area(
                &out.join(format!("fig5_weights_{name}.svg")),
                &format!("{} allocations over the test period", name.to_uppercase()),
                "test day",
                &entities,
                weights,
            )?;
        }
    }
    Ok(())
}
