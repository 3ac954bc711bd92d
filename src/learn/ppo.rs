//! Proximal Policy Optimization (Schulman et al., 2017) as the "chosen RL approach" of
//! Algorithm 1, for episodic allocation tasks such as meta federated learning (§A.2).
//!
//! One iteration of the loop:
//!
//! ```text
//! t ~ p,  w_t = (T p_t)^−β / max w                      (TaskSampler; STL: t = 0, w = 1)
//! roll out E episodes of task t:  w_n ~ Dirichlet(κ π_θ(x_n) + α_min)      (learn::dirichlet)
//! δ_n = r_n + γ V(x_{n+1}) (1 − done_n) − V(x_n)
//! A_n = δ_n + γ λ (1 − done_n) A_{n+1}                  (GAE, then normalised to mean 0, sd 1)
//! K epochs over minibatches B of the rollout:
//!   ρ_n = exp(log π_θ(w_n | x_n) − log π_old(w_n | x_n))
//!   L(θ) = −(w_t / |B|) Σ_{n∈B} min(ρ_n A_n, clip(ρ_n, 1 − ε, 1 + ε) A_n)       (Adam step)
//! V ← ridge fit of the returns A_n + V(x_n) on invariant features φ(x_n)
//! s_t ← γ_s s_t + (1 − γ_s) scorer(rewards, actions, δ)
//! ```
//!
//! The gradient reaches θ through the policy's own backward pass: `∂L/∂log π_n = −(w_t/|B|) ρ_n A_n`
//! where the unclipped term is the minimum (0 where the clip is active), times
//! `∂ log π / ∂a` from [`DirichletPolicy::log_prob_grad`].
//!
//! **Value baseline.** `V(x) = φ(x)ᵀ v` with permutation-invariant features of the state — 1,
//! `τ = n / N`, `τ²` (the step's place in the fixed horizon) and, for each input feature, the
//! mean, minimum, maximum and standard deviation over entities of its latest value and its mean
//! over entities and window — refitted by ridge regression after every update on the returns of
//! the last `value_memory` steps. A linear baseline on invariant statistics keeps the whole
//! learner permutation-invariant and costs nothing next to an environment step; the advantage
//! normalisation makes the policy update insensitive to the scale of the returns.
//!
//! Everything random comes from one `ChaCha8Rng` seeded by [`PpoConfig::seed`]: episode seeds,
//! Dirichlet draws, minibatch shuffles and task draws. A run is reproducible bit for bit.

use super::dirichlet::DirichletPolicy;
use super::mtl::{guarded_step, Mode};
use crate::error::{Error, Result};
use crate::policy::{Adam, EquivariantPolicy, Input, Scalar, Shape, Workspace};
use crate::sampler::{SamplerConfig, ScoreInput, Scorer, TaskSampler};
use rand::{Rng, RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::io::IsTerminal;

/// A set of episodic allocation tasks with a fixed horizon.
///
/// States are `[entities][window][features]` row-major, the policy's per-row input layout.
pub trait EpisodicTaskEnv {
    /// Number of tasks `T`.
    fn num_tasks(&self) -> usize;

    /// Entities `m` of task `task`.
    fn entities(&self, task: usize) -> usize;

    /// Steps per state window `H`.
    fn window(&self) -> usize;

    /// Features per entity and step.
    fn features(&self) -> usize;

    /// Steps per episode `N`.
    fn horizon(&self) -> usize;

    /// Starts an episode of task `task` whose randomness is fixed by `seed`; writes the first
    /// state into `state`.
    ///
    /// # Errors
    /// An invalid task or environment failures.
    fn reset(&mut self, task: usize, seed: u64, state: &mut Vec<f64>) -> Result<()>;

    /// Applies the allocation `action` (a point of the simplex, one weight per entity); returns
    /// the reward and whether the episode ended, and writes the next state into `state`
    /// (unchanged at the end).
    ///
    /// # Errors
    /// No episode running, an invalid action, environment failures.
    fn step(&mut self, action: &[f64], state: &mut Vec<f64>) -> Result<(f64, bool)>;
}

/// Settings of a PPO run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PpoConfig {
    /// STL (task 0 only), MTL (uniform tasks) or P-MTL (prioritised).
    pub mode: Mode,
    /// Iterations of Algorithm 1 (rollout + update).
    pub updates: usize,
    /// Episodes per rollout `E`.
    pub episodes: usize,
    /// Passes over each rollout `K`.
    pub epochs: usize,
    /// Steps per minibatch.
    pub minibatch: usize,
    /// Clip range `ε`.
    pub clip: f64,
    /// Discount `γ`.
    pub gamma: f64,
    /// GAE parameter `λ`.
    pub lambda: f64,
    /// The exploration distribution.
    pub dirichlet: DirichletPolicy,
    /// Adam learning rate.
    pub lr: f64,
    /// Gradient-norm clip.
    pub clip_norm: Option<f64>,
    /// Ridge penalty of the value fit.
    pub value_ridge: f64,
    /// Steps of recent rollouts the value is fitted on.
    pub value_memory: usize,
    /// Task sampler (α forced to 0 for MTL).
    pub sampler: SamplerConfig,
    /// Evaluate every this many updates (and at the end).
    pub eval_every: usize,
    /// Seed of the run.
    pub seed: u64,
    /// Progress bar on a terminal.
    pub progress: bool,
}

impl Default for PpoConfig {
    fn default() -> Self {
        PpoConfig {
            mode: Mode::Mtl,
            updates: 100,
            episodes: 1,
            epochs: 4,
            minibatch: 25,
            clip: 0.2,
            gamma: 0.95,
            lambda: 0.9,
            dirichlet: DirichletPolicy {
                concentration: 50.0,
                floor: 0.5,
            },
            lr: 3e-3,
            clip_norm: Some(1.0),
            value_ridge: 1e-3,
            value_memory: 2000,
            sampler: SamplerConfig::default(),
            eval_every: 10,
            seed: 0,
            progress: false,
        }
    }
}

impl PpoConfig {
    /// Checks every setting.
    ///
    /// # Errors
    /// Zero counts, `ε`, `γ`, `λ` outside their ranges, a learning rate, clip norm or ridge
    /// penalty that is not finite and positive, an invalid Dirichlet or sampler configuration,
    /// P-MTL with `α = 0`.
    pub fn validate(&self) -> Result<()> {
        for (name, v) in [
            ("updates", self.updates),
            ("episodes", self.episodes),
            ("epochs", self.epochs),
            ("minibatch", self.minibatch),
            ("eval_every", self.eval_every),
            ("value_memory", self.value_memory),
        ] {
            if v == 0 {
                return Err(Error::param(name, v, "must be at least 1"));
            }
        }
        if !(self.clip.is_finite() && self.clip > 0.0 && self.clip < 1.0) {
            return Err(Error::param("clip", self.clip, "must lie in (0, 1)"));
        }
        for (name, v) in [("gamma", self.gamma), ("lambda", self.lambda)] {
            if !(v.is_finite() && (0.0..=1.0).contains(&v)) {
                return Err(Error::param(name, v, "must lie in [0, 1]"));
            }
        }
        for (name, v) in [("lr", self.lr), ("value_ridge", self.value_ridge)] {
            if !(v.is_finite() && v > 0.0) {
                return Err(Error::param(name, v, "must be finite and > 0"));
            }
        }
        if let Some(c) = self.clip_norm {
            if !(c.is_finite() && c > 0.0) {
                return Err(Error::param("clip_norm", c, "must be finite and > 0"));
            }
        }
        DirichletPolicy::new(self.dirichlet.concentration, self.dirichlet.floor)?;
        self.mode.validate_sampler(&self.sampler)
    }
}

/// What one PPO iteration measured.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct UpdateStats {
    /// Iterations done after this one.
    pub iteration: usize,
    /// The task rolled out.
    pub task: usize,
    /// Its IS weight `w_t`.
    pub weight: f64,
    /// Mean undiscounted episode return of the rollout.
    pub mean_return: f64,
    /// Mean reward of the episodes' last step.
    pub final_reward: f64,
    /// Mean clipped-surrogate loss over the minibatches (IS-weighted).
    pub loss: f64,
    /// Fraction of samples whose ratio was clipped in the last epoch.
    pub clip_fraction: f64,
    /// Mean `log π_old − log π_new` over the rollout after the update (approximate KL).
    pub approx_kl: f64,
    /// `1 − Var(R − V) / Var(R)` of the value fit before the update.
    pub explained_variance: f64,
    /// Mean Dirichlet entropy of the rollout's states.
    pub entropy: f64,
    /// Environment steps so far.
    pub env_steps: usize,
}

/// The linear value baseline `V(x) = φ(x)ᵀ v` (see the module docs).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct LinearValue {
    /// Coefficients `v` (empty before the first fit: `V = 0`).
    pub coef: Vec<f64>,
    memory_phi: Vec<Vec<f64>>,
    memory_ret: Vec<f64>,
}

impl LinearValue {
    /// Invariant features of a state `[m][H][F]` at step `n` of an `N`-step episode.
    pub fn features(
        state: &[f64],
        m: usize,
        window: usize,
        features: usize,
        n: usize,
        horizon: usize,
    ) -> Vec<f64> {
        let tau = n as f64 / horizon.max(1) as f64;
        let mut phi = vec![1.0, tau, tau * tau];
        for f in 0..features {
            let last: Vec<f64> = (0..m)
                .map(|i| state[(i * window + window - 1) * features + f])
                .collect();
            let mean = last.iter().sum::<f64>() / m as f64;
            let var = last.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / m as f64;
            let min = last.iter().copied().fold(f64::INFINITY, f64::min);
            let max = last.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let all = (0..m * window).map(|k| state[k * features + f]).sum::<f64>() / (m * window) as f64;
            phi.extend([mean, min, max, var.sqrt(), all]);
        }
        phi
    }

    /// `V(x)` from features `φ`.
    pub fn value(&self, phi: &[f64]) -> f64 {
        if self.coef.len() != phi.len() {
            return 0.0;
        }
        self.coef.iter().zip(phi).map(|(c, p)| c * p).sum()
    }

    /// Adds `(φ, R)` pairs, keeps the last `memory` of them and refits
    /// `v = (ΦᵀΦ + ridge·n·I)⁻¹ Φᵀ R`.
    ///
    /// # Errors
    /// A singular system (cannot happen with `ridge > 0` unless the data are not finite).
    pub fn fit(&mut self, phi: &[Vec<f64>], returns: &[f64], memory: usize, ridge: f64) -> Result<()> {
        self.memory_phi.extend(phi.iter().cloned());
        self.memory_ret.extend_from_slice(returns);
        if self.memory_ret.len() > memory {
            let drop = self.memory_ret.len() - memory;
            self.memory_phi.drain(..drop);
            self.memory_ret.drain(..drop);
        }
        let Some(k) = self.memory_phi.first().map(Vec::len) else {
            return Ok(());
        };
        let n = self.memory_ret.len();
        let mut a = nalgebra::DMatrix::<f64>::zeros(k, k);
        let mut b = nalgebra::DVector::<f64>::zeros(k);
        for (p, &r) in self.memory_phi.iter().zip(&self.memory_ret) {
            for i in 0..k {
                b[i] += p[i] * r;
                for j in 0..k {
                    a[(i, j)] += p[i] * p[j];
                }
            }
        }
        for i in 0..k {
            a[(i, i)] += ridge * n as f64;
        }
        let chol = a.cholesky().ok_or_else(|| Error::Diverged {
            step: n,
            reason: "value fit: the normal equations are not positive definite".into(),
        })?;
        self.coef = chol.solve(&b).iter().copied().collect();
        Ok(())
    }
}

/// One rollout of a task: `N` steps of `E` episodes, flat.
#[derive(Clone, Debug, Default)]
struct Rollout {
    entities: usize,
    states: Vec<f64>,
    actions: Vec<f64>,
    means: Vec<f64>,
    logp_old: Vec<f64>,
    rewards: Vec<f64>,
    dones: Vec<bool>,
    phi: Vec<Vec<f64>>,
    values: Vec<f64>,
    advantages: Vec<f64>,
    returns: Vec<f64>,
    td: Vec<f64>,
}

impl Rollout {
    fn len(&self) -> usize {
        self.rewards.len()
    }

    fn clear(&mut self) {
        *self = Rollout::default();
    }
}

/// One evaluation along training: the iteration and the named values the callback returned.
pub type Evaluation = (usize, Vec<(String, f64)>);

/// Algorithm 1 with PPO updates (see the module docs).
pub struct Ppo<T: Scalar, E: EpisodicTaskEnv, S: Scorer> {
    /// The equivariant policy being trained (its output is the Dirichlet's mean direction).
    pub policy: EquivariantPolicy<T>,
    /// The environment.
    pub env: E,
    /// The value baseline.
    pub value: LinearValue,
    scorer: S,
    sampler: TaskSampler,
    optimizer: Adam,
    rng: ChaCha8Rng,
    config: PpoConfig,
    iteration: usize,
    env_steps: usize,
    rollout: Rollout,
    ws: Workspace<T>,
    grad: Vec<T>,
    history: Vec<UpdateStats>,
}

impl<T: Scalar, E: EpisodicTaskEnv, S: Scorer> std::fmt::Debug for Ppo<T, E, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ppo")
            .field("iteration", &self.iteration)
            .field("env_steps", &self.env_steps)
            .field("config", &self.config)
            .finish()
    }
}

impl<T: Scalar, E: EpisodicTaskEnv, S: Scorer> Ppo<T, E, S> {
    /// A PPO learner for `policy` on `env`.
    ///
    /// # Errors
    /// An invalid configuration, an environment without tasks, STL on more than one task, a
    /// policy whose features or window do not fit the environment, a policy that needs previous
    /// allocations.
    pub fn new(policy: EquivariantPolicy<T>, env: E, scorer: S, config: PpoConfig) -> Result<Self> {
        config.validate()?;
        let tasks = env.num_tasks();
        config.mode.check_tasks(tasks)?;
        if policy.config().features() != env.features() {
            return Err(Error::shape(
                "policy features (per entity and step)",
                env.features(),
                policy.config().features(),
            ));
        }
        if policy.config().previous_allocation {
            return Err(Error::param(
                "previous_allocation",
                true,
                "PPO's environments carry no previous allocation: configure the policy without it",
            ));
        }
        if env.horizon() == 0 || env.window() == 0 {
            return Err(Error::param("horizon/window", 0, "must be at least 1"));
        }
        let sampler = TaskSampler::new(tasks, config.mode.sampler_config(config.sampler))?;
        let grad = vec![T::zero(); policy.num_params()];
        Ok(Ppo {
            policy,
            env,
            value: LinearValue::default(),
            scorer,
            sampler,
            optimizer: Adam::new(config.lr)?,
            rng: ChaCha8Rng::seed_from_u64(config.seed),
            config,
            iteration: 0,
            env_steps: 0,
            rollout: Rollout::default(),
            ws: Workspace::new(),
            grad,
            history: Vec::new(),
        })
    }

    /// Iterations done.
    pub fn iteration(&self) -> usize {
        self.iteration
    }

    /// Environment steps taken so far.
    pub fn env_steps(&self) -> usize {
        self.env_steps
    }

    /// The task sampler.
    pub fn sampler(&self) -> &TaskSampler {
        &self.sampler
    }

    /// Statistics of every iteration so far.
    pub fn history(&self) -> &[UpdateStats] {
        &self.history
    }

    /// The settings.
    pub fn config(&self) -> &PpoConfig {
        &self.config
    }

    /// Rolls out `E` episodes of `task` with the stochastic policy into the rollout buffer.
    fn collect(&mut self, task: usize) -> Result<()> {
        let m = self.env.entities(task);
        let (window, features, horizon) = (self.env.window(), self.env.features(), self.env.horizon());
        let dirichlet = self.config.dirichlet;
        self.rollout.clear();
        self.rollout.entities = m;
        let mut state = Vec::new();
        let mut w = vec![0.0; m];
        for _ in 0..self.config.episodes {
            let seed = self.rng.next_u64();
            self.env.reset(task, seed, &mut state)?;
            for n in 0..horizon {
                if state.len() != m * window * features {
                    return Err(Error::shape(
                        "environment state",
                        m * window * features,
                        state.len(),
                    ));
                }
                let a = allocation(&self.policy, &state, m, window, &mut self.ws)?;
                dirichlet.sample(&a, &mut self.rng, &mut w)?;
                let phi = LinearValue::features(&state, m, window, features, n, horizon);
                self.rollout.values.push(self.value.value(&phi));
                self.rollout.phi.push(phi);
                self.rollout.logp_old.push(dirichlet.log_prob(&a, &w));
                self.rollout.states.extend_from_slice(&state);
                self.rollout.actions.extend_from_slice(&w);
                self.rollout.means.extend_from_slice(&a);
                let (r, done) = self.env.step(&w, &mut state)?;
                if !r.is_finite() {
                    return Err(Error::Diverged {
                        step: n,
                        reason: format!("reward of task {task} is {r}"),
                    });
                }
                self.rollout.rewards.push(r);
                self.env_steps += 1;
                let done = done || n + 1 == horizon;
                self.rollout.dones.push(done);
                if done {
                    break;
                }
            }
        }
        self.advantages();
        Ok(())
    }

    /// GAE advantages, TD errors and returns of the rollout; normalises the advantages.
    fn advantages(&mut self) {
        let (gamma, lambda) = (self.config.gamma, self.config.lambda);
        let r = &mut self.rollout;
        let n = r.len();
        r.advantages = vec![0.0; n];
        r.td = vec![0.0; n];
        let mut next_adv = 0.0;
        for k in (0..n).rev() {
            let next_value = if r.dones[k] { 0.0 } else { r.values[k + 1] };
            let cont = if r.dones[k] { 0.0 } else { 1.0 };
            let delta = r.rewards[k] + gamma * next_value - r.values[k];
            next_adv = delta + gamma * lambda * cont * next_adv;
            r.td[k] = delta;
            r.advantages[k] = next_adv;
        }
        r.returns = r.advantages.iter().zip(&r.values).map(|(a, v)| a + v).collect();
        let mean = r.advantages.iter().sum::<f64>() / n as f64;
        let sd = (r.advantages.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / n as f64).sqrt();
        for a in &mut r.advantages {
            *a = (*a - mean) / (sd + 1e-8);
        }
    }

    /// The clipped-surrogate loss of the rollout steps `idx` under the current policy, weighted
    /// by `weight`; when `grad` is given, **adds** `∂L/∂θ` to it (otherwise no backward pass).
    /// Returns `(loss, clipped samples, Σ (log π_old − log π_new))`.
    fn surrogate(&mut self, idx: &[usize], weight: f64, grad: Option<&mut [T]>) -> Result<(f64, usize, f64)> {
        let m = self.rollout.entities;
        let row = m * self.env.window() * self.env.features();
        let b = idx.len();
        let mut x = Vec::with_capacity(b * row);
        for &k in idx {
            x.extend(
                self.rollout.states[k * row..(k + 1) * row]
                    .iter()
                    .map(|&v| T::of(v)),
            );
        }
        let shape = Shape::new(b, m, self.env.window());
        let a: Vec<f64> = self
            .policy
            .forward(&Input::new(&x, None, shape), &mut self.ws)?
            .iter()
            .map(|v| v.value_f64())
            .collect();
        let d = self.config.dirichlet;
        let eps = self.config.clip;
        let scale = -weight / b as f64;
        let want_grad = grad.is_some();
        let mut dl_da = vec![T::zero(); if want_grad { b * m } else { 0 }];
        let mut g = vec![0.0; m];
        let (mut loss, mut clipped, mut kl) = (0.0, 0, 0.0);
        for (j, &k) in idx.iter().enumerate() {
            let aj = &a[j * m..(j + 1) * m];
            let wk = &self.rollout.actions[k * m..(k + 1) * m];
            let lp = d.log_prob(aj, wk);
            let diff = lp - self.rollout.logp_old[k];
            kl -= diff;
            let ratio = diff.exp();
            let adv = self.rollout.advantages[k];
            let unclipped = ratio * adv;
            let clipped_term = ratio.clamp(1.0 - eps, 1.0 + eps) * adv;
            loss += scale * unclipped.min(clipped_term);
            // The gradient flows only where the unclipped term is the minimum.
            let active = !((adv > 0.0 && ratio > 1.0 + eps) || (adv < 0.0 && ratio < 1.0 - eps));
            if !active {
                clipped += 1;
            } else if want_grad {
                d.log_prob_grad(aj, wk, &mut g);
                let dl_dlp = scale * ratio * adv;
                for (o, gi) in dl_da[j * m..(j + 1) * m].iter_mut().zip(&g) {
                    *o = T::of(dl_dlp * gi);
                }
            }
        }
        if let Some(grad) = grad {
            self.policy.backward(&mut self.ws, &dl_da, grad, false)?;
        }
        Ok((loss, clipped, kl))
    }

    /// The PPO loss of rollout steps `idx` and its gradient (overwritten into `grad`), for
    /// gradient checks; the rollout must have been collected with [`Self::collect_for_check`].
    ///
    /// # Errors
    /// Shape errors.
    pub fn loss_and_grad_for_check(&mut self, idx: &[usize], weight: f64, grad: &mut [T]) -> Result<f64> {
        grad.iter_mut().for_each(|g| *g = T::zero());
        Ok(self.surrogate(idx, weight, Some(grad))?.0)
    }

    /// Collects a rollout of `task` (as an update would) without updating anything, so that
    /// [`Self::loss_and_grad_for_check`] can be evaluated at several parameter values; returns
    /// the rollout's length.
    ///
    /// # Errors
    /// Environment failures.
    pub fn collect_for_check(&mut self, task: usize) -> Result<usize> {
        self.collect(task)?;
        Ok(self.rollout.len())
    }

    /// One iteration of Algorithm 1 with PPO (see the module docs).
    ///
    /// # Errors
    /// Environment failures; [`Error::Diverged`] on a non-finite loss or gradient.
    pub fn step(&mut self) -> Result<UpdateStats> {
        let (task, weight) = self.sampler.sample_with_weight(&mut self.rng);
        self.collect(task)?;
        let n = self.rollout.len();
        let explained_variance = {
            let ret = &self.rollout.returns;
            let mean = ret.iter().sum::<f64>() / n as f64;
            let var = ret.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / n as f64;
            let res: Vec<f64> = ret.iter().zip(&self.rollout.values).map(|(r, v)| r - v).collect();
            let rm = res.iter().sum::<f64>() / n as f64;
            let rv = res.iter().map(|r| (r - rm).powi(2)).sum::<f64>() / n as f64;
            if var > 0.0 {
                1.0 - rv / var
            } else {
                0.0
            }
        };
        let mut order: Vec<usize> = (0..n).collect();
        let (mut loss_sum, mut batches, mut clip_fraction) = (0.0, 0usize, 0.0);
        for epoch in 0..self.config.epochs {
            for i in (1..n).rev() {
                let j = self.rng.random_range(0..=i);
                order.swap(i, j);
            }
            let mut clipped_epoch = 0;
            for chunk in order.chunks(self.config.minibatch) {
                let mut grad = std::mem::take(&mut self.grad);
                grad.iter_mut().for_each(|g| *g = T::zero());
                let (loss, clipped, _) = self.surrogate(chunk, weight, Some(&mut grad))?;
                clipped_epoch += clipped;
                let result = guarded_step(
                    &mut self.optimizer,
                    self.policy.params_mut(),
                    &mut grad,
                    loss,
                    self.config.clip_norm,
                    self.iteration,
                );
                self.grad = grad;
                result?;
                loss_sum += loss;
                batches += 1;
            }
            if epoch + 1 == self.config.epochs {
                clip_fraction = clipped_epoch as f64 / n as f64;
            }
        }
        // Approximate KL of the whole rollout after the update (no gradient needed).
        let all: Vec<usize> = (0..n).collect();
        let mut approx_kl = 0.0;
        for chunk in all.chunks(self.config.minibatch) {
            approx_kl += self.surrogate(chunk, weight, None)?.2;
        }
        approx_kl /= n as f64;
        let m = self.rollout.entities;
        let d = self.config.dirichlet;
        let entropy = self
            .rollout
            .means
            .chunks_exact(m)
            .map(|a| d.entropy(a))
            .sum::<f64>()
            / n as f64;
        self.value.fit(
            &self.rollout.phi,
            &self.rollout.returns,
            self.config.value_memory,
            self.config.value_ridge,
        )?;
        let score = self.scorer.score(
            &ScoreInput::new(&self.rollout.rewards, &self.rollout.actions, m)
                .with_td_errors(&self.rollout.td),
        )?;
        self.sampler.update(task, score)?;
        let episodes = self.rollout.dones.iter().filter(|&&d| d).count().max(1);
        let finals: Vec<f64> = (0..n)
            .filter(|&k| self.rollout.dones[k])
            .map(|k| self.rollout.rewards[k])
            .collect();
        self.iteration += 1;
        let stats = UpdateStats {
            iteration: self.iteration,
            task,
            weight,
            mean_return: self.rollout.rewards.iter().sum::<f64>() / episodes as f64,
            final_reward: finals.iter().sum::<f64>() / finals.len().max(1) as f64,
            loss: loss_sum / batches.max(1) as f64,
            clip_fraction,
            approx_kl,
            explained_variance,
            entropy,
            env_steps: self.env_steps,
        };
        self.history.push(stats.clone());
        Ok(stats)
    }

    /// Runs the remaining iterations, calling `evaluate(iteration, policy)` at the start, every
    /// [`PpoConfig::eval_every`] iterations and at the end; returns the evaluations.
    ///
    /// # Errors
    /// As [`Self::step`] and `evaluate`.
    pub fn run(
        &mut self,
        mut evaluate: impl FnMut(usize, &EquivariantPolicy<T>) -> Result<Vec<(String, f64)>>,
    ) -> Result<Vec<Evaluation>> {
        let total = self.config.updates;
        let bar = (self.config.progress && std::io::stderr().is_terminal())
            .then(|| indicatif::ProgressBar::new(total as u64));
        let mut evals = Vec::new();
        if self.iteration == 0 {
            evals.push((0, evaluate(0, &self.policy)?));
        }
        while self.iteration < total {
            self.step()?;
            if let Some(b) = &bar {
                b.set_position(self.iteration as u64);
            }
            if self.iteration.is_multiple_of(self.config.eval_every) || self.iteration == total {
                evals.push((self.iteration, evaluate(self.iteration, &self.policy)?));
            }
        }
        if let Some(b) = bar {
            b.finish_and_clear();
        }
        Ok(evals)
    }
}

/// The policy's allocation `π_θ(x)` for one state `[m][window][F]`, in `f64`.
///
/// # Errors
/// A state that does not fit the policy's shape.
pub fn allocation<T: Scalar>(
    policy: &EquivariantPolicy<T>,
    state: &[f64],
    m: usize,
    window: usize,
    ws: &mut Workspace<T>,
) -> Result<Vec<f64>> {
    let x: Vec<T> = state.iter().map(|&v| T::of(v)).collect();
    let a = policy.forward(&Input::new(&x, None, Shape::new(1, m, window)), ws)?;
    Ok(a.iter().map(|v| v.value_f64()).collect())
}

/// Runs one episode of `task` with the deterministic policy (the Dirichlet mean of `π_θ`),
/// calling `on_step(env, n, weights, reward)` after every step; returns the rewards.
///
/// # Errors
/// Environment and policy errors, or an error from `on_step`.
pub fn deterministic_episode<T: Scalar, E: EpisodicTaskEnv>(
    policy: &EquivariantPolicy<T>,
    dirichlet: &DirichletPolicy,
    env: &mut E,
    task: usize,
    seed: u64,
    mut on_step: impl FnMut(&E, usize, &[f64], f64) -> Result<()>,
) -> Result<Vec<f64>> {
    let m = env.entities(task);
    let window = env.window();
    let mut state = Vec::new();
    env.reset(task, seed, &mut state)?;
    let mut ws = Workspace::new();
    let mut w = vec![0.0; m];
    let mut rewards = Vec::with_capacity(env.horizon());
    for n in 0..env.horizon() {
        let a = allocation(policy, &state, m, window, &mut ws)?;
        dirichlet.mean(&a, &mut w);
        let (r, done) = env.step(&w, &mut state)?;
        rewards.push(r);
        on_step(env, n, &w, r)?;
        if done {
            break;
        }
    }
    Ok(rewards)
}
