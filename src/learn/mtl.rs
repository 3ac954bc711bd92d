//! Algorithm 1: prioritised multi-task reinforcement learning (§5).
//!
//! ```text
//! initialise π_θ, replay buffers R_1 … R_T, time steps n_t ← 1
//! loop
//!   t ~ p                                    (TaskSampler: p_t = s_t^α / Σ s^α)
//!   B_t ← minibatch from R_t
//!   update θ with B_t, weighted by w_t       (UpdateRule; w_t = (T p_t)^−β / max w)
//!   s_t ← γ s_t + (1 − γ) scorer(B_t)        (only the drawn task's score)
//!   n_e environment steps of task t into R_t (TaskEnvironment::collect)
//! ```
//!
//! Modes: **STL** trains on one task only (`p = δ_t`, `w = 1`; run it once per task for one
//! policy per task), **MTL** samples tasks uniformly (`α = 0`), **P-MTL** prioritises (`α > 0`).
//!
//! Everything random comes from one `ChaCha8Rng` seeded by [`MtlConfig::seed`]; a run is
//! reproducible bit for bit, and a run resumed from a checkpoint ends identical to an
//! uninterrupted one (the checkpoint holds θ, the optimiser's moments, the task scores, the
//! generator's position, and the environment's and update rule's states).

use crate::error::{Error, Result};
use crate::policy::optim::clip_grad_norm;
use crate::policy::{Adam, EquivariantPolicy, Optimizer, Scalar};
use crate::sampler::{SamplerConfig, ScoreInput, Scorer, TaskSampler};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::io::IsTerminal;
use std::path::Path;

/// The tasks an Algorithm-1 run trains on, each with its own replay.
pub trait TaskEnvironment {
    /// Number of tasks `T`.
    fn num_tasks(&self) -> usize;

    /// Algorithm 1's inner loop: up to `steps` (n_e) environment steps of task `task` with the
    /// current policy, stored in that task's replay; returns how many were taken. Data-driven
    /// environments whose samples all exist up front take none and return 0.
    ///
    /// # Errors
    /// Environment failures.
    fn collect(&mut self, task: usize, steps: usize, rng: &mut ChaCha8Rng) -> Result<usize>;

    /// The environment's mutable state (replay contents, time pointers, memories) for a checkpoint.
    fn checkpoint_state(&self) -> serde_json::Value {
        serde_json::Value::Null
    }

    /// Restores a state written by [`checkpoint_state`](Self::checkpoint_state).
    ///
    /// # Errors
    /// A state that does not fit this environment.
    fn restore_state(&mut self, _state: &serde_json::Value) -> Result<()> {
        Ok(())
    }
}

/// What an update rule reports about one minibatch, for logging and for the task scorer.
#[derive(Clone, Debug, Default)]
pub struct MinibatchStats {
    /// The IS-weighted loss that was differentiated.
    pub loss: f64,
    /// Per-sample rewards `r_n`.
    pub rewards: Vec<f64>,
    /// The policy's allocations `π(x_n)`, `[batch][entities]`.
    pub allocations: Vec<f64>,
    /// Entities of the task.
    pub entities: usize,
    /// TD errors, for learners that have them.
    pub td_errors: Option<Vec<f64>>,
}

/// The "chosen RL approach" of Algorithm 1's update line.
pub trait UpdateRule<T: Scalar, E: TaskEnvironment> {
    /// Draws a minibatch `B_t` of task `task`, computes the loss weighted by the IS weight
    /// `weight` and **adds** its gradient dL/dθ to `grad` (the optimiser minimises L).
    ///
    /// The weighted loss must be `weight` times the unweighted one (and so its gradient):
    /// [`Trainer::step`] divides the gradient norm by `weight` to score the task.
    ///
    /// # Errors
    /// Environment or shape errors.
    fn minibatch_gradient(
        &mut self,
        policy: &EquivariantPolicy<T>,
        env: &mut E,
        task: usize,
        weight: f64,
        grad: &mut [T],
        rng: &mut ChaCha8Rng,
    ) -> Result<MinibatchStats>;

    /// Checks the rule's settings against the environment before any work starts (e.g. a
    /// minibatch larger than a task's data). Default: nothing to check.
    ///
    /// # Errors
    /// Settings that cannot work with `env`.
    fn validate(&self, _env: &E) -> Result<()> {
        Ok(())
    }
}

/// STL, MTL or P-MTL.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Mode {
    /// Single-task learning on task `0` of the environment (build one environment per task).
    Stl,
    /// Multi-task learning with uniform task sampling (`α = 0`).
    Mtl,
    /// Prioritised multi-task learning with [`MtlConfig::sampler`]'s `α > 0`.
    PMtl,
}

impl Mode {
    /// Checks that an environment with `tasks` tasks suits the mode.
    ///
    /// # Errors
    /// No tasks, or STL on more than one task.
    pub fn check_tasks(self, tasks: usize) -> Result<()> {
        if tasks == 0 {
            return Err(Error::param("tasks", 0, "the environment has no tasks"));
        }
        if self == Mode::Stl && tasks != 1 {
            return Err(Error::param(
                "tasks",
                tasks,
                "STL trains one policy per task: give it a one-task environment",
            ));
        }
        Ok(())
    }

    /// Checks the sampler settings for the mode: a valid configuration, and `α > 0` in P-MTL.
    ///
    /// # Errors
    /// An invalid sampler configuration, or P-MTL with `α = 0`.
    pub fn validate_sampler(self, sampler: &SamplerConfig) -> Result<()> {
        sampler.validate()?;
        if self == Mode::PMtl && sampler.alpha == 0.0 {
            return Err(Error::param(
                "alpha",
                0.0,
                "P-MTL needs alpha > 0 (alpha = 0 is MTL)",
            ));
        }
        Ok(())
    }

    /// The sampler settings the mode runs with: `α` is forced to 0 except in P-MTL.
    pub fn sampler_config(self, mut sampler: SamplerConfig) -> SamplerConfig {
        if self != Mode::PMtl {
            sampler.alpha = 0.0;
        }
        sampler
    }
}

/// One guarded optimiser step, shared by [`Trainer`] and [`crate::learn::ppo::Ppo`]: fails with
/// [`Error::Diverged`] (at iteration `step`) on a non-finite loss or gradient norm, clips the
/// gradient's norm to `clip` when given, and steps. Returns the gradient norm before clipping.
///
/// # Errors
/// [`Error::Diverged`] as described, or when the optimiser rejects the step.
pub fn guarded_step<T: Scalar, O: Optimizer<T>>(
    optimizer: &mut O,
    params: &mut [T],
    grad: &mut [T],
    loss: f64,
    clip: Option<f64>,
    step: usize,
) -> Result<f64> {
    if !loss.is_finite() {
        return Err(Error::Diverged {
            step,
            reason: format!("loss is {loss}"),
        });
    }
    let norm = match clip {
        Some(c) => clip_grad_norm(grad, c),
        None => grad.iter().map(|g| g.value_f64().powi(2)).sum::<f64>().sqrt(),
    };
    if !norm.is_finite() {
        return Err(Error::Diverged {
            step,
            reason: format!("gradient norm is {norm}"),
        });
    }
    optimizer.step(params, grad).map_err(|e| Error::Diverged {
        step,
        reason: e.to_string(),
    })?;
    Ok(norm)
}

/// Settings of an Algorithm-1 run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MtlConfig {
    /// STL, MTL or P-MTL.
    pub mode: Mode,
    /// Iterations of the loop (gradient steps).
    pub iterations: usize,
    /// Environment steps per iteration `n_e`.
    pub env_steps: usize,
    /// Task sampler settings (α is forced to 0 in MTL mode).
    pub sampler: SamplerConfig,
    /// Adam learning rate η.
    pub lr: f64,
    /// Clip the gradient's Euclidean norm to this value (`None`: no clipping).
    pub clip_norm: Option<f64>,
    /// Evaluate every this many iterations (and at the end).
    pub eval_every: usize,
    /// Write a checkpoint every this many iterations (0: only at the end), when a checkpoint
    /// path is given.
    pub checkpoint_every: usize,
    /// Seed of the run's generator.
    pub seed: u64,
    /// Show a progress bar on a terminal, plain lines otherwise.
    pub progress: bool,
}

impl Default for MtlConfig {
    fn default() -> Self {
        MtlConfig {
            mode: Mode::PMtl,
            iterations: 1000,
            env_steps: 0,
            sampler: SamplerConfig::default(),
            lr: 1e-3,
            clip_norm: None,
            eval_every: 100,
            checkpoint_every: 0,
            seed: 0,
            progress: false,
        }
    }
}

impl MtlConfig {
    /// Checks the settings.
    ///
    /// # Errors
    /// Zero iterations or evaluation interval, a learning rate or clip norm that is not finite
    /// and positive, P-MTL with `α = 0`, or an invalid sampler configuration.
    pub fn validate(&self) -> Result<()> {
        if self.iterations == 0 {
            return Err(Error::param("iterations", 0, "must be at least 1"));
        }
        if self.eval_every == 0 {
            return Err(Error::param("eval_every", 0, "must be at least 1"));
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(Error::param("lr", self.lr, "must be finite and > 0"));
        }
        if let Some(c) = self.clip_norm {
            if !(c.is_finite() && c > 0.0) {
                return Err(Error::param("clip_norm", c, "must be finite and > 0"));
            }
        }
        self.mode.validate_sampler(&self.sampler)
    }

    fn effective_sampler(&self) -> SamplerConfig {
        self.mode.sampler_config(self.sampler)
    }
}

/// One row of `metrics.csv`: the iteration and whatever the evaluation callback measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricRow {
    /// Iterations done.
    pub iteration: usize,
    /// Mean training loss since the previous row (`None` before the first iteration).
    pub train_loss: Option<f64>,
    /// Named evaluation results.
    pub values: Vec<(String, f64)>,
}

#[derive(Serialize, Deserialize)]
struct RngState {
    seed: [u8; 32],
    stream: u64,
    word_pos: u128,
}

/// Everything needed to resume a run exactly.
#[derive(Serialize, Deserialize)]
struct Checkpoint {
    format: String,
    iteration: usize,
    config: MtlConfig,
    params: Vec<f64>,
    optimizer: Adam,
    scores: Vec<f64>,
    rng: RngState,
    env: serde_json::Value,
    metrics: Vec<MetricRow>,
    loss_sum: f64,
    loss_count: usize,
}

const CHECKPOINT_FORMAT: &str = "pimtl-mtl-checkpoint-1";

/// An Algorithm-1 run in progress.
pub struct Trainer<T: Scalar, E: TaskEnvironment, U: UpdateRule<T, E>, S: Scorer> {
    /// The shared policy π_θ.
    pub policy: EquivariantPolicy<T>,
    /// The tasks.
    pub env: E,
    /// The update rule.
    pub rule: U,
    scorer: S,
    sampler: TaskSampler,
    optimizer: Adam,
    rng: ChaCha8Rng,
    config: MtlConfig,
    iteration: usize,
    grad: Vec<T>,
    metrics: Vec<MetricRow>,
    loss_sum: f64,
    loss_count: usize,
    /// Unweighted gradient norm (before clipping) and task score of the last step (Fig. 2's data).
    last: (f64, f64),
}

impl<T: Scalar, E: TaskEnvironment, U: UpdateRule<T, E>, S: Scorer> std::fmt::Debug for Trainer<T, E, U, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trainer")
            .field("iteration", &self.iteration)
            .field("config", &self.config)
            .finish()
    }
}

impl<T: Scalar, E: TaskEnvironment, U: UpdateRule<T, E>, S: Scorer> Trainer<T, E, U, S> {
    /// A run at iteration 0.
    ///
    /// # Errors
    /// An invalid configuration, an environment without tasks, or STL on more than one task.
    pub fn new(policy: EquivariantPolicy<T>, env: E, rule: U, scorer: S, config: MtlConfig) -> Result<Self> {
        config.validate()?;
        let tasks = env.num_tasks();
        config.mode.check_tasks(tasks)?;
        rule.validate(&env)?;
        let sampler = TaskSampler::new(tasks, config.effective_sampler())?;
        let grad = vec![T::zero(); policy.num_params()];
        Ok(Trainer {
            policy,
            env,
            rule,
            scorer,
            sampler,
            optimizer: Adam::new(config.lr)?,
            rng: ChaCha8Rng::seed_from_u64(config.seed),
            config,
            iteration: 0,
            grad,
            metrics: Vec::new(),
            loss_sum: 0.0,
            loss_count: 0,
            last: (f64::NAN, f64::NAN),
        })
    }

    /// The last step's minibatch gradient norm `‖∇_θ L(B_t)‖` (before clipping, without the IS
    /// weight: the norm of the stepped gradient `w_t ∇_θ L(B_t)` divided by `w_t`, the value
    /// [`ScoreInput::grad_norm`] receives) and its scorer value `scorer(B_t)` (NaN before the
    /// first step): what Fig. 2 plots against each other.
    pub fn last_step_diagnostics(&self) -> (f64, f64) {
        self.last
    }

    /// Iterations done.
    pub fn iteration(&self) -> usize {
        self.iteration
    }

    /// The task sampler (scores, probabilities, weights).
    pub fn sampler(&self) -> &TaskSampler {
        &self.sampler
    }

    /// The evaluation rows recorded so far.
    pub fn metrics(&self) -> &[MetricRow] {
        &self.metrics
    }

    /// One iteration of Algorithm 1; returns the drawn task and the minibatch statistics.
    ///
    /// The drawn task's IS weight `w_t` is passed to the update rule, whose gradient
    /// `g_w = ∇_θ (w_t L(B_t)) = w_t ∇_θ L(B_t)` is the one the optimiser steps with. The scorer
    /// receives the norm of the *unweighted* minibatch gradient,
    ///
    /// ```text
    /// grad_norm = ‖g_w‖ / w_t = ‖∇_θ L(B_t)‖        (w_t ∈ (0, 1], before clipping)
    /// ```
    ///
    /// so a task's score measures its minibatch, not how likely the sampler made it. The
    /// identity is exact in real arithmetic; in floating point it holds to a few ulps (bit for
    /// bit when `w_t` is a power of two, for rules that scale by `w_t` once, as
    /// [`crate::learn::pg::PolicyGradient`] does).
    ///
    /// # Errors
    /// [`Error::Diverged`] when the loss or the gradient is NaN or infinite (θ is left as it was
    /// before the step); environment and update-rule errors.
    pub fn step(&mut self) -> Result<(usize, MinibatchStats)> {
        let (task, weight) = self.sampler.sample_with_weight(&mut self.rng);
        self.grad.iter_mut().for_each(|g| *g = T::zero());
        let stats = self.rule.minibatch_gradient(
            &self.policy,
            &mut self.env,
            task,
            weight,
            &mut self.grad,
            &mut self.rng,
        )?;
        let weighted_norm = guarded_step(
            &mut self.optimizer,
            self.policy.params_mut(),
            &mut self.grad,
            stats.loss,
            self.config.clip_norm,
            self.iteration,
        )?;
        // The rule's loss is w_t·L(B_t), so its gradient is w_t·∇L(B_t) and its norm
        // w_t‖∇L(B_t)‖ (w_t > 0): dividing by w_t scores the task's own minibatch, not the
        // sampler's weight of it (see `ScoreInput::grad_norm`).
        let norm = weighted_norm / weight;
        let mut input =
            ScoreInput::new(&stats.rewards, &stats.allocations, stats.entities).with_grad_norm(norm);
        if let Some(td) = &stats.td_errors {
            input = input.with_td_errors(td);
        }
        let score = self.scorer.score(&input)?;
        self.last = (norm, score);
        self.sampler.update(task, score)?;
        self.env.collect(task, self.config.env_steps, &mut self.rng)?;
        self.iteration += 1;
        self.loss_sum += stats.loss;
        self.loss_count += 1;
        Ok((task, stats))
    }

    /// Runs to [`MtlConfig::iterations`], evaluating with `evaluate` every `eval_every`
    /// iterations and at the end. When `out` is given, `metrics.csv` is rewritten (atomically)
    /// after every evaluation and `checkpoint.json` every `checkpoint_every` iterations and at
    /// the end; a divergence keeps the last good checkpoint on disk.
    ///
    /// # Errors
    /// Errors of [`step`](Self::step), of `evaluate`, and I/O errors naming the file.
    pub fn run(
        &mut self,
        mut evaluate: impl FnMut(usize, &EquivariantPolicy<T>) -> Result<Vec<(String, f64)>>,
        out: Option<&Path>,
    ) -> Result<()> {
        let total = self.config.iterations;
        let bar = (self.config.progress && std::io::stderr().is_terminal()).then(|| {
            let b = indicatif::ProgressBar::new(total as u64);
            b.set_position(self.iteration as u64);
            b
        });
        if self.iteration == 0 && self.metrics.is_empty() {
            self.evaluate_now(&mut evaluate, out, bar.as_ref())?;
        }
        while self.iteration < total {
            self.step()?;
            if let Some(b) = &bar {
                b.set_position(self.iteration as u64);
            }
            if self.iteration.is_multiple_of(self.config.eval_every) || self.iteration == total {
                self.evaluate_now(&mut evaluate, out, bar.as_ref())?;
            }
            let every = self.config.checkpoint_every;
            if let Some(dir) = out {
                if (every > 0 && self.iteration.is_multiple_of(every)) || self.iteration == total {
                    self.save_checkpoint(&dir.join("checkpoint.json"))?;
                }
            }
        }
        if let Some(b) = bar {
            b.finish_and_clear();
        }
        Ok(())
    }

    fn evaluate_now(
        &mut self,
        evaluate: &mut impl FnMut(usize, &EquivariantPolicy<T>) -> Result<Vec<(String, f64)>>,
        out: Option<&Path>,
        bar: Option<&indicatif::ProgressBar>,
    ) -> Result<()> {
        let values = evaluate(self.iteration, &self.policy)?;
        let train_loss = (self.loss_count > 0).then(|| self.loss_sum / self.loss_count as f64);
        self.loss_sum = 0.0;
        self.loss_count = 0;
        let row = MetricRow {
            iteration: self.iteration,
            train_loss,
            values,
        };
        if self.config.progress {
            let line = format!(
                "iteration {:>7}/{}: loss {}{}",
                row.iteration,
                self.config.iterations,
                row.train_loss
                    .map_or_else(|| "-".to_string(), |l| format!("{l:.5}")),
                row.values
                    .iter()
                    .map(|(k, v)| format!(", {k} {v:.5}"))
                    .collect::<String>()
            );
            match bar {
                Some(b) => b.println(line),
                None => eprintln!("{line}"),
            }
        }
        self.metrics.push(row);
        if let Some(dir) = out {
            crate::io::write_atomic(&dir.join("metrics.csv"), metrics_csv(&self.metrics).as_bytes())?;
        }
        Ok(())
    }

    /// Writes a checkpoint to `path` atomically.
    ///
    /// # Errors
    /// I/O errors naming the file.
    pub fn save_checkpoint(&self, path: &Path) -> Result<()> {
        let ck = Checkpoint {
            format: CHECKPOINT_FORMAT.into(),
            iteration: self.iteration,
            config: self.config.clone(),
            params: self.policy.params().iter().map(|p| p.value_f64()).collect(),
            optimizer: self.optimizer.clone(),
            scores: self.sampler.scores().to_vec(),
            rng: RngState {
                seed: self.rng.get_seed(),
                stream: self.rng.get_stream(),
                word_pos: self.rng.get_word_pos(),
            },
            env: self.env.checkpoint_state(),
            metrics: self.metrics.clone(),
            loss_sum: self.loss_sum,
            loss_count: self.loss_count,
        };
        let bytes = serde_json::to_vec(&ck).map_err(|e| Error::Format {
            path: Some(path.to_path_buf()),
            reason: format!("cannot serialise checkpoint: {e}"),
        })?;
        crate::io::write_atomic(path, &bytes)
    }

    /// Restores a checkpoint written by [`save_checkpoint`](Self::save_checkpoint) into this
    /// trainer (built with the same policy architecture, environment and configuration).
    ///
    /// # Errors
    /// [`Error::Format`] naming the file when it is corrupt, from a different run shape, or made
    /// with other settings (learning rate, mode, sampler, seed, …; the differing fields are
    /// named; only `iterations`, `checkpoint_every` and `progress` may change).
    pub fn resume(&mut self, path: &Path) -> Result<()> {
        let fail = |reason: String| Error::Format {
            path: Some(path.to_path_buf()),
            reason,
        };
        let bytes = crate::io::read_file(path)?;
        let ck: Checkpoint =
            serde_json::from_slice(&bytes).map_err(|e| fail(format!("not a checkpoint: {e}")))?;
        if ck.format != CHECKPOINT_FORMAT {
            return Err(fail(format!(
                "field `format` is {:?}, expected {CHECKPOINT_FORMAT:?}",
                ck.format
            )));
        }
        // A checkpoint continues the same run: every setting but the iteration budget, the
        // checkpoint interval and progress printing must agree.
        let settings = |c: &MtlConfig| {
            let mut v = serde_json::to_value(c).unwrap_or_default();
            if let Some(o) = v.as_object_mut() {
                for k in ["iterations", "checkpoint_every", "progress"] {
                    o.remove(k);
                }
            }
            v
        };
        let diffs = crate::io::json_differences("config", &settings(&ck.config), &settings(&self.config));
        if !diffs.is_empty() {
            return Err(fail(format!(
                "made with other settings than this trainer's: {}",
                diffs.join(", ")
            )));
        }
        if ck.params.len() != self.policy.num_params() {
            return Err(fail(format!(
                "field `params` has {} values, the policy has {}",
                ck.params.len(),
                self.policy.num_params()
            )));
        }
        if ck.scores.len() != self.sampler.len() {
            return Err(fail(format!(
                "field `scores` has {} tasks, the environment {}",
                ck.scores.len(),
                self.sampler.len()
            )));
        }
        if ck.params.iter().any(|p| !p.is_finite()) {
            return Err(fail("field `params` holds a non-finite value".into()));
        }
        let sampler = TaskSampler::from_scores(&ck.scores, self.config.effective_sampler())
            .map_err(|e| fail(format!("field `scores`: {e}")))?;
        self.env
            .restore_state(&ck.env)
            .map_err(|e| fail(format!("field `env`: {e}")))?;
        for (p, v) in self.policy.params_mut().iter_mut().zip(&ck.params) {
            *p = T::of(*v);
        }
        self.sampler = sampler;
        self.optimizer = ck.optimizer;
        let mut rng = ChaCha8Rng::from_seed(ck.rng.seed);
        rng.set_stream(ck.rng.stream);
        rng.set_word_pos(ck.rng.word_pos);
        self.rng = rng;
        self.iteration = ck.iteration;
        self.metrics = ck.metrics;
        self.loss_sum = ck.loss_sum;
        self.loss_count = ck.loss_count;
        Ok(())
    }
}

/// `metrics.csv`: `iteration,train_loss,<evaluation names…>`.
pub fn metrics_csv(rows: &[MetricRow]) -> String {
    let mut s = String::from("iteration,train_loss");
    if let Some(first) = rows.first() {
        for (k, _) in &first.values {
            s.push(',');
            s.push_str(k);
        }
    }
    s.push('\n');
    for r in rows {
        let loss = r.train_loss.map_or_else(String::new, |l| l.to_string());
        s.push_str(&format!("{},{loss}", r.iteration));
        for (_, v) in &r.values {
            s.push_str(&format!(",{v}"));
        }
        s.push('\n');
    }
    s
}
