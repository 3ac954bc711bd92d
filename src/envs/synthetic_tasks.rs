//! The §6.1 allocation as a multi-task environment for Algorithm 1, with finite data per task.
//!
//! A universe of `M` entities; entity `u` has weight `β_u` (spread `ε` over the universe). Task
//! `t` is a subset `U_t` of `m` entities and owns a fixed data set of `N` samples — the batch-RL
//! setting of the paper, where data is scarce. Sample `n` of task `t` holds, per entity `i`:
//!
//! * the observed signal `x_{n,i} ~ U[0, 1]` and `k` nuisance features `z_{n,i,1..k} ~ U[0, 1]`
//!   that the reward ignores (the policy sees `[x_i, z_i]` and must learn to ignore `z`);
//! * the realised payoff `y_{n,i} = x_{n,i} + ξ_{n,i}`, `ξ ~ N(0, σ²)` — the noise of §6.1.
//!
//! The sample's reward is differentiable in the allocation:
//! `R_n(a) = Σ_i y_{n,i} a_i − β_i a_i ln a_i`, `dR_n/da_i = y_{n,i} − β_i (ln a_i + 1)`,
//! and `E[R_n(a) | x] = R(x, a)` of [`super::synthetic::SyntheticAllocation`].
//! With few samples per task a policy can fit the noise and the nuisance features; pooling the
//! samples of many tasks (MTL) is what the paper's bound says should help.

use super::synthetic::SyntheticAllocation;
use crate::error::{Error, Result};
use crate::learn::mtl::TaskEnvironment;
use crate::learn::pg::{DifferentiableTaskEnv, Minibatch};
use crate::policy::{EquivariantPolicy, Input, Scalar, Shape};
use crate::tasks::Task;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

/// Settings of a [`SyntheticTasks`] environment.
#[derive(Clone, Debug, serde::Serialize)]
pub struct SyntheticTasksConfig {
    /// Samples per task `N`.
    pub samples_per_task: usize,
    /// Nuisance features per entity `k`.
    pub nuisance_features: usize,
    /// Payoff noise `σ`.
    pub noise_std: f64,
    /// Samples of each task available before training (`None`: all `N`). The rest arrive as the
    /// task is visited: Algorithm 1's inner loop appends up to `n_e` samples to the drawn task's
    /// replay per iteration, until `N`.
    pub initial_samples: Option<usize>,
}

/// Fixed data sets for a list of tasks over a universe of weighted entities.
#[derive(Clone, Debug)]
pub struct SyntheticTasks {
    universe_betas: Vec<f64>,
    tasks: Vec<Task>,
    config: SyntheticTasksConfig,
    m: usize,
    /// Per task: features `[N][m][1 + k]`.
    features: Vec<Vec<f64>>,
    /// Per task: payoffs `[N][m]`.
    payoffs: Vec<Vec<f64>>,
    /// Per task: samples in its replay so far, `n_t` (the first `n_t` of the `N`).
    available: Vec<usize>,
}

impl SyntheticTasks {
    /// Draws the data of every task from `seed`.
    ///
    /// # Errors
    /// No tasks, tasks of different sizes, an entity index outside the universe, `N = 0`, or
    /// invalid weights / noise.
    pub fn new(
        universe_betas: Vec<f64>,
        tasks: Vec<Task>,
        config: SyntheticTasksConfig,
        seed: u64,
    ) -> Result<Self> {
        // Validates the weights and the noise.
        SyntheticAllocation::new(universe_betas.clone(), config.noise_std)?;
        let m = tasks
            .first()
            .map(Task::len)
            .ok_or_else(|| Error::param("tasks", 0, "need at least one task"))?;
        if let Some(t) = tasks.iter().find(|t| t.len() != m) {
            return Err(Error::param(
                "tasks",
                t.len(),
                format!("every task needs the same size m = {m}"),
            ));
        }
        for t in &tasks {
            t.check_universe(universe_betas.len())?;
        }
        if config.samples_per_task == 0 {
            return Err(Error::param("samples_per_task", 0, "must be at least 1"));
        }
        let initial = config.initial_samples.unwrap_or(config.samples_per_task);
        if initial == 0 || initial > config.samples_per_task {
            return Err(Error::param(
                "initial_samples",
                initial,
                format!("must be in [1, N = {}]", config.samples_per_task),
            ));
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let noise = Normal::new(0.0, config.noise_std.max(f64::MIN_POSITIVE))
            .map_err(|e| Error::param("noise_std", config.noise_std, e.to_string()))?;
        let width = 1 + config.nuisance_features;
        let n = config.samples_per_task;
        let mut features = Vec::with_capacity(tasks.len());
        let mut payoffs = Vec::with_capacity(tasks.len());
        for _ in &tasks {
            let mut f = Vec::with_capacity(n * m * width);
            let mut y = Vec::with_capacity(n * m);
            for _ in 0..n * m {
                let x: f64 = rng.random();
                f.push(x);
                for _ in 0..config.nuisance_features {
                    f.push(rng.random());
                }
                let xi = if config.noise_std > 0.0 {
                    noise.sample(&mut rng)
                } else {
                    0.0
                };
                y.push(x + xi);
            }
            features.push(f);
            payoffs.push(y);
        }
        let available = vec![initial; tasks.len()];
        Ok(SyntheticTasks {
            universe_betas,
            tasks,
            config,
            m,
            features,
            payoffs,
            available,
        })
    }

    /// The tasks.
    pub fn tasks(&self) -> &[Task] {
        &self.tasks
    }

    /// Features per entity (`1 + k`).
    pub fn features_per_entity(&self) -> usize {
        1 + self.config.nuisance_features
    }

    /// The noise-free reward of task `task` (its entities' weights).
    pub fn task_reward(&self, task: &Task) -> Result<SyntheticAllocation> {
        SyntheticAllocation::new(
            task.entities().iter().map(|&u| self.universe_betas[u]).collect(),
            0.0,
        )
    }

    /// Mean regret `E[R(x, a*(x)) − R(x, π(x))]` of `policy` on `states` fresh noise-free states of
    /// each task in `tasks` (which may hold entities never trained on), with fresh nuisance
    /// features. Returns `(mean regret, mean regret of the equal allocation)`.
    ///
    /// # Errors
    /// Tasks outside the universe, or a policy whose input width does not match.
    pub fn evaluate<T: Scalar>(
        &self,
        policy: &EquivariantPolicy<T>,
        tasks: &[Task],
        states: usize,
        seed: u64,
    ) -> Result<(f64, f64)> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let width = self.features_per_entity();
        let (mut regret, mut equal_regret, mut count) = (0.0, 0.0, 0usize);
        for task in tasks {
            task.check_universe(self.universe_betas.len())?;
            let env = self.task_reward(task)?;
            let m = task.len();
            let feats: Vec<f64> = (0..states * m * width).map(|_| rng.random::<f64>()).collect();
            let xin: Vec<T> = feats.iter().map(|&v| T::of(v)).collect();
            let a = policy.allocate(&Input::new(&xin, None, Shape::new(states, m, 1)))?;
            let uniform = vec![1.0 / m as f64; m];
            for n in 0..states {
                let x: Vec<f64> = (0..m).map(|i| feats[(n * m + i) * width]).collect();
                let an: Vec<f64> = a[n * m..(n + 1) * m].iter().map(|v| v.value_f64()).collect();
                let best = env.mean_reward_unchecked(&x, &env.optimal_allocation(&x)?);
                regret += best - env.mean_reward_unchecked(&x, &an);
                equal_regret += best - env.mean_reward_unchecked(&x, &uniform);
                count += 1;
            }
        }
        Ok((regret / count as f64, equal_regret / count as f64))
    }
}

impl TaskEnvironment for SyntheticTasks {
    fn num_tasks(&self) -> usize {
        self.tasks.len()
    }

    /// Appends the task's next `min(steps, N − n_t)` samples to its replay (`n_t ← n_t + …`);
    /// the samples were drawn up front from the seed, so the run stays reproducible.
    fn collect(&mut self, task: usize, steps: usize, _rng: &mut ChaCha8Rng) -> Result<usize> {
        let n_t = self
            .available
            .get_mut(task)
            .ok_or_else(|| Error::param("task", task, "no such task"))?;
        let added = steps.min(self.config.samples_per_task - *n_t);
        *n_t += added;
        Ok(added)
    }

    fn checkpoint_state(&self) -> serde_json::Value {
        serde_json::json!(self.available)
    }

    fn restore_state(&mut self, state: &serde_json::Value) -> Result<()> {
        let available: Vec<usize> = serde_json::from_value(state.clone())
            .map_err(|e| Error::param("env", "checkpoint", format!("not a list of sample counts: {e}")))?;
        if available.len() != self.available.len()
            || available
                .iter()
                .any(|&n| n == 0 || n > self.config.samples_per_task)
        {
            return Err(Error::param(
                "env",
                "checkpoint",
                "sample counts do not fit this environment",
            ));
        }
        self.available = available;
        Ok(())
    }
}

impl SyntheticTasks {
    /// Samples currently in task `task`'s replay, `n_t`.
    pub fn available(&self, task: usize) -> Option<usize> {
        self.available.get(task).copied()
    }
}

impl DifferentiableTaskEnv for SyntheticTasks {
    fn uses_previous_allocation(&self) -> bool {
        false
    }

    fn samples(&self, task: usize) -> usize {
        self.available.get(task).copied().unwrap_or(0)
    }

    /// `batch` samples drawn uniformly with replacement from the `n_t` in the task's replay.
    fn minibatch(
        &mut self,
        task: usize,
        batch: usize,
        rng: &mut ChaCha8Rng,
        mb: &mut Minibatch,
    ) -> Result<()> {
        let (m, width) = (self.m, self.features_per_entity());
        let n = self.samples(task);
        if batch > n {
            return Err(Error::param(
                "batch",
                batch,
                format!("task {task} has only {n} samples in its replay"),
            ));
        }
        let f = self
            .features
            .get(task)
            .ok_or_else(|| Error::param("task", task, "no such task"))?;
        mb.x.clear();
        mb.prev.clear();
        mb.shape = Shape::new(batch, m, 1);
        mb.handle = task;
        mb.indices.clear();
        for _ in 0..batch {
            let s = rng.random_range(0..n);
            mb.indices.push(s);
            mb.x.extend_from_slice(&f[s * m * width..(s + 1) * m * width]);
        }
        Ok(())
    }

    fn rewards(
        &self,
        task: usize,
        mb: &Minibatch,
        a: &[f64],
        rewards: &mut [f64],
        dr_da: &mut [f64],
    ) -> Result<()> {
        let m = self.m;
        let y = &self.payoffs[task];
        let betas: Vec<f64> = self.tasks[task]
            .entities()
            .iter()
            .map(|&u| self.universe_betas[u])
            .collect();
        for (b, &s) in mb.indices.iter().enumerate() {
            let mut r = 0.0;
            for i in 0..m {
                let (yi, ai, bi) = (y[s * m + i], a[b * m + i], betas[i]);
                r += yi * ai - bi * crate::simplex::x_log_x(ai);
                dr_da[b * m + i] = yi - bi * (ai.max(f64::MIN_POSITIVE).ln() + 1.0);
            }
            rewards[b] = r;
        }
        Ok(())
    }
}
