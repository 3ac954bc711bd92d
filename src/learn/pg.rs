//! Direct policy gradient on differentiable rewards (§6.2):
//!
//! `θ ← θ + η ∇θ [ (1/B) Σ_{n = n_b}^{n_b + B − 1} w_t R_t(x_n, π_θ(x_n)) ]`
//!
//! The environment supplies the minibatch and, for the allocations the policy chose, each
//! sample's reward `R_n` and its gradient `dR_n/da`; the policy's hand-written backward pass turns
//! `dL/da = −(w_t / B) dR_n/da` into `dL/dθ` (the optimiser minimises `L = −(w_t/B) Σ R_n`).

use super::mtl::{MinibatchStats, TaskEnvironment, UpdateRule};
use crate::error::{Error, Result};
use crate::policy::{EquivariantPolicy, Input, Scalar, Shape, Workspace};
use rand_chacha::ChaCha8Rng;

/// A minibatch `B_t` as the environment hands it to the policy.
#[derive(Clone, Debug, Default)]
pub struct Minibatch {
    /// Features `[batch][entities][window][features]`.
    pub x: Vec<f64>,
    /// Previous allocations `[batch][entities]` (empty when the environment has none).
    pub prev: Vec<f64>,
    /// The shape.
    pub shape: Shape,
    /// An environment-defined handle (e.g. the first time index `n_b`) passed back to
    /// [`DifferentiableTaskEnv::rewards`] and [`DifferentiableTaskEnv::record`].
    pub handle: usize,
    /// Environment-defined sample indices of the minibatch (e.g. which stored samples were drawn).
    pub indices: Vec<usize>,
}

/// An environment whose reward is a differentiable function of the allocation.
pub trait DifferentiableTaskEnv: TaskEnvironment {
    /// Whether minibatches carry previous allocations (the policy must be configured to match).
    fn uses_previous_allocation(&self) -> bool;

    /// Number of samples of task `task` a minibatch can be drawn from (a minibatch larger than
    /// this is rejected before training starts).
    fn samples(&self, task: usize) -> usize;

    /// Draws a minibatch of `batch` samples of task `task` into `mb`.
    ///
    /// # Errors
    /// A batch larger than the task's data, and environment failures.
    fn minibatch(
        &mut self,
        task: usize,
        batch: usize,
        rng: &mut ChaCha8Rng,
        mb: &mut Minibatch,
    ) -> Result<()>;

    /// For allocations `a` (`[batch][entities]`) of minibatch `mb`: each sample's reward
    /// `R_t(x_n, a_n)` into `rewards` and `dR_n/da_n` into `dr_da`.
    ///
    /// # Errors
    /// Shape mismatches.
    fn rewards(
        &self,
        task: usize,
        mb: &Minibatch,
        a: &[f64],
        rewards: &mut [f64],
        dr_da: &mut [f64],
    ) -> Result<()>;

    /// Called after the gradient with the allocations the policy chose (e.g. to write them into
    /// a portfolio-vector memory). Default: nothing.
    fn record(&mut self, _task: usize, _mb: &Minibatch, _a: &[f64]) {}
}

/// The direct policy-gradient update rule with minibatches of `batch` samples.
#[derive(Clone, Debug)]
pub struct PolicyGradient<T> {
    /// Minibatch size `B`.
    pub batch: usize,
    mb: Minibatch,
    x: Vec<T>,
    prev: Vec<T>,
    a: Vec<f64>,
    dl_da: Vec<T>,
    rewards: Vec<f64>,
    dr_da: Vec<f64>,
    ws: Workspace<T>,
}

impl<T: Scalar> PolicyGradient<T> {
    /// Direct policy gradient with minibatches of `batch` samples.
    ///
    /// # Errors
    /// `batch == 0`.
    pub fn new(batch: usize) -> Result<Self> {
        if batch == 0 {
            return Err(Error::param("batch", 0, "must be at least 1"));
        }
        Ok(PolicyGradient {
            batch,
            mb: Minibatch::default(),
            x: Vec::new(),
            prev: Vec::new(),
            a: Vec::new(),
            dl_da: Vec::new(),
            rewards: Vec::new(),
            dr_da: Vec::new(),
            ws: Workspace::new(),
        })
    }
}

impl<T: Scalar, E: DifferentiableTaskEnv> UpdateRule<T, E> for PolicyGradient<T> {
    fn minibatch_gradient(
        &mut self,
        policy: &EquivariantPolicy<T>,
        env: &mut E,
        task: usize,
        weight: f64,
        grad: &mut [T],
        rng: &mut ChaCha8Rng,
    ) -> Result<MinibatchStats> {
        env.minibatch(task, self.batch, rng, &mut self.mb)?;
        let shape = self.mb.shape;
        let rows = shape.rows();
        self.x.clear();
        self.x.extend(self.mb.x.iter().map(|&v| T::of(v)));
        self.prev.clear();
        self.prev.extend(self.mb.prev.iter().map(|&v| T::of(v)));
        let prev = env.uses_previous_allocation().then_some(&self.prev[..]);
        let a = policy.forward(&Input::new(&self.x, prev, shape), &mut self.ws)?;
        self.a.clear();
        self.a.extend(a.iter().map(|v| v.value_f64()));
        self.rewards.resize(shape.batch, 0.0);
        self.dr_da.resize(rows, 0.0);
        env.rewards(task, &self.mb, &self.a, &mut self.rewards, &mut self.dr_da)?;
        // L = −(w_t / B) Σ_n R_n  ⇒  dL/da = −(w_t / B) dR/da.
        let scale = -weight / shape.batch as f64;
        self.dl_da.clear();
        self.dl_da.extend(self.dr_da.iter().map(|&d| T::of(scale * d)));
        policy.backward(&mut self.ws, &self.dl_da, grad, false)?;
        env.record(task, &self.mb, &self.a);
        let loss = scale * self.rewards.iter().sum::<f64>();
        Ok(MinibatchStats {
            loss,
            rewards: self.rewards.clone(),
            allocations: self.a.clone(),
            entities: shape.entities,
            td_errors: None,
        })
    }

    fn validate(&self, env: &E) -> Result<()> {
        for task in 0..env.num_tasks() {
            let n = env.samples(task);
            if self.batch > n {
                return Err(Error::param(
                    "batch",
                    self.batch,
                    format!("task {task} has only {n} samples: a minibatch cannot be larger than its buffer"),
                ));
            }
        }
        Ok(())
    }
}
