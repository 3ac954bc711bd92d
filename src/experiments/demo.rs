//! A toy allocation problem with a known optimum, to see the equivariant policy learn.
//!
//! Each entity `i` of a task has one feature `x_i ~ U[0, 1]`; the reward of an allocation is the
//! entropy-regularised return of §6.1 with equal weights, `R(x, a) = Σ_i x_i a_i + β H(a)`, whose
//! maximiser is `a* = softmax(x / β)` with value `R* = β · ln Σ_i exp(x_i / β)`. The policy (a tanh
//! MLP shared by all entities, then a softmax) is trained by direct policy gradient on
//! `(1/B) Σ_n R(x_n, π_θ(x_n))` with Adam, using the hand-written backward pass and
//! `dR/da_i = x_i − β (ln a_i + 1)`.
//!
//! Because the network is equivariant, the policy learned with `m` entities is evaluated unchanged
//! on a task with a different number of entities (`transfer_entities`): the optimum has the same
//! form for every `m`, so an equivariant policy that learned the score `x/β` transfers.

use crate::envs::synthetic::SyntheticAllocation;
use crate::error::{Error, Result};
use crate::policy::{Adam, EquivariantPolicy, Input, Optimizer, PolicyConfig, Shape, Workspace};
use crate::simplex::softmax;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Settings of the demo: the command line of `pimtl demo` (each `default_value` is the full
/// preset) and the `config` object of its `config.json`.
#[derive(Clone, Debug, Serialize, Deserialize, clap::Args)]
pub struct DemoConfig {
    /// Entities m per task during training.
    #[arg(long, default_value_t = 10)]
    pub entities: usize,
    /// Entities of the transfer task, never trained on, evaluated with the trained policy.
    #[arg(long, default_value_t = 25)]
    pub transfer_entities: usize,
    /// Entropy weight β > 0.
    #[arg(long, default_value_t = 0.1, allow_negative_numbers = true)]
    pub beta: f64,
    /// Batch size B.
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    /// Gradient steps.
    #[arg(long, default_value_t = 3000)]
    pub steps: usize,
    /// Adam learning rate.
    #[arg(long, default_value_t = 0.01, allow_negative_numbers = true)]
    pub lr: f64,
    /// Hidden units of the per-entity MLP.
    #[arg(long, default_value_t = 16)]
    pub hidden: usize,
    /// Evaluate (and report) every this many steps.
    #[arg(long, default_value_t = 250)]
    pub eval_every: usize,
    /// Fresh states per evaluation.
    #[arg(long, default_value_t = 2000)]
    pub eval_states: usize,
    /// Seed of everything.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// Largest working memory the demo accepts (it is a toy; larger sizes are refused up front).
pub const MEMORY_LIMIT_BYTES: f64 = 4.0 * 1024.0 * 1024.0 * 1024.0;

impl Default for DemoConfig {
    /// Every `default_value` of the command line.
    fn default() -> Self {
        super::runner::defaults::<Self>().expect("the defaults of `pimtl demo` parse")
    }
}

impl super::runner::ExperimentConfig for DemoConfig {
    const NAME: &'static str = "demo";

    /// 600 steps, evaluated every 50.
    fn quick_preset() -> serde_json::Value {
        serde_json::json!({ "steps": 600, "eval_every": 50 })
    }

    fn validate(&self) -> Result<()> {
        DemoConfig::validate(self)
    }
}

impl DemoConfig {
    /// Bytes of the largest evaluation: `max(eval_states, batch) · max(entities,
    /// transfer_entities)` states of entities, each with `2·hidden + 4` doubles of input,
    /// activations and output.
    pub fn working_memory_bytes(&self) -> f64 {
        let states = self.eval_states.max(self.batch) as f64;
        let entities = self.entities.max(self.transfer_entities) as f64;
        states * entities * (2.0 * self.hidden as f64 + 4.0) * 8.0
    }

    /// Checks every setting, including the working memory the sizes need.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the first setting out of range.
    pub fn validate(&self) -> Result<()> {
        let positive = [
            ("entities", self.entities),
            ("transfer_entities", self.transfer_entities),
            ("batch", self.batch),
            ("hidden", self.hidden),
            ("eval_every", self.eval_every),
            ("eval_states", self.eval_states),
        ];
        for (name, v) in positive {
            if v == 0 {
                return Err(Error::param(name, v, "must be at least 1"));
            }
        }
        if !(self.beta.is_finite() && self.beta > 0.0) {
            return Err(Error::param("beta", self.beta, "must be finite and > 0"));
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(Error::param("lr", self.lr, "must be finite and > 0"));
        }
        let bytes = self.working_memory_bytes();
        if bytes > MEMORY_LIMIT_BYTES {
            return Err(Error::param(
                "entities",
                self.entities.max(self.transfer_entities),
                format!(
                    "would need about {:.1} GB of working memory (max(eval_states, batch) × max(entities, transfer_entities) × (2·hidden + 4) × 8 bytes); the demo accepts at most {:.0} GB",
                    bytes / 1e9,
                    MEMORY_LIMIT_BYTES / 1e9
                ),
            ));
        }
        Ok(())
    }
}

/// One evaluation of the policy on fresh states.
#[derive(Clone, Debug, Serialize)]
pub struct DemoEval {
    /// Gradient steps taken so far.
    pub step: usize,
    /// Mean reward of the policy.
    pub policy_reward: f64,
    /// Mean reward of the optimum `softmax(x/β)`.
    pub optimal_reward: f64,
    /// Mean reward of the equal allocation.
    pub equal_reward: f64,
    /// Mean regret `R* − R(π)`, ≥ 0.
    pub regret: f64,
    /// Same, on tasks of `transfer_entities` entities never trained on.
    pub transfer_regret: f64,
}

fn evaluate(
    policy: &EquivariantPolicy<f64>,
    m: usize,
    cfg: &DemoConfig,
    rng: &mut ChaCha8Rng,
) -> Result<(f64, f64, f64)> {
    let n = cfg.eval_states;
    let x: Vec<f64> = (0..n * m).map(|_| rng.random::<f64>()).collect();
    let a = policy.allocate(&Input::new(&x, None, Shape::new(n, m, 1)))?;
    let (mut pol, mut opt, mut eq) = (0.0, 0.0, 0.0);
    let uniform = vec![1.0 / m as f64; m];
    // The §6.1 reward with equal weights β_i = β: R(x, a) = Σ x_i a_i + β H(a).
    let env = SyntheticAllocation::new(vec![cfg.beta; m], 0.0)?;
    for (xs, a_row) in x.chunks(m).zip(a.chunks(m)) {
        // For equal weights the maximiser has the closed form softmax(x/β).
        let scaled: Vec<f64> = xs.iter().map(|v| v / cfg.beta).collect();
        pol += env.mean_reward_unchecked(xs, a_row);
        opt += env.mean_reward_unchecked(xs, &softmax(&scaled));
        eq += env.mean_reward_unchecked(xs, &uniform);
    }
    Ok((pol / n as f64, opt / n as f64, eq / n as f64))
}

/// Trains the policy and calls `report` after every evaluation; returns the trained policy and
/// all evaluations.
///
/// # Errors
/// An invalid configuration, or divergence (a non-finite gradient).
pub fn run(
    cfg: &DemoConfig,
    mut report: impl FnMut(&DemoEval),
) -> Result<(EquivariantPolicy<f64>, Vec<DemoEval>)> {
    cfg.validate()?;
    let mut policy = EquivariantPolicy::<f64>::new(PolicyConfig::mlp(1, vec![cfg.hidden]), cfg.seed)?;
    let mut opt = Adam::new(cfg.lr)?;
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed.wrapping_add(1));
    let mut eval_rng = ChaCha8Rng::seed_from_u64(cfg.seed.wrapping_add(2));
    let (b, m) = (cfg.batch, cfg.entities);
    let shape = Shape::new(b, m, 1);
    let train_env = SyntheticAllocation::new(vec![cfg.beta; m], 0.0)?;
    let mut ws = Workspace::new();
    let mut grad = vec![0.0; policy.num_params()];
    let mut x = vec![0.0; b * m];
    let mut dl_da = vec![0.0; b * m];
    let mut evals = Vec::new();
    for step in 0..=cfg.steps {
        if step % cfg.eval_every == 0 || step == cfg.steps {
            let (p, o, e) = evaluate(&policy, m, cfg, &mut eval_rng)?;
            let (tp, to, _) = evaluate(&policy, cfg.transfer_entities, cfg, &mut eval_rng)?;
            let ev = DemoEval {
                step,
                policy_reward: p,
                optimal_reward: o,
                equal_reward: e,
                regret: o - p,
                transfer_regret: to - tp,
            };
            report(&ev);
            evals.push(ev);
        }
        if step == cfg.steps {
            break;
        }
        x.iter_mut().for_each(|v| *v = rng.random::<f64>());
        let a = policy.forward(&Input::new(&x, None, shape), &mut ws)?;
        // Loss L = −(1/B) Σ_n R(x_n, a_n); dL/da_i = −(x_i − β(ln a_i + 1)) / B.
        for ((d, xs), a_row) in dl_da.chunks_mut(m).zip(x.chunks(m)).zip(a.chunks(m)) {
            train_env.reward_gradient(xs, a_row, d);
            d.iter_mut().for_each(|g| *g = -*g / b as f64);
        }
        grad.iter_mut().for_each(|g| *g = 0.0);
        policy.backward(&mut ws, &dl_da, &mut grad, false)?;
        opt.step(policy.params_mut(), &grad)
            .map_err(|e| Error::Diverged {
                step,
                reason: e.to_string(),
            })?;
    }
    Ok((policy, evals))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The trained policy gets close to the optimum and transfers to more entities, while the
    /// equal allocation stays far from it.
    #[test]
    fn demo_learns_the_optimum_and_transfers() {
        let cfg = DemoConfig {
            steps: 1500,
            eval_every: 1500,
            eval_states: 500,
            ..DemoConfig::default()
        };
        let (_, evals) = run(&cfg, |_| {}).unwrap();
        let (first, last) = (&evals[0], evals.last().unwrap());
        let equal_regret = last.optimal_reward - last.equal_reward;
        assert!(equal_regret > 0.05, "the toy problem is too easy: {equal_regret}");
        assert!(
            last.regret < 0.1 * equal_regret,
            "regret {} vs equal {}",
            last.regret,
            equal_regret
        );
        assert!(last.regret < first.regret);
        assert!(
            last.transfer_regret < 0.2 * equal_regret,
            "transfer regret {}",
            last.transfer_regret
        );
    }

    #[test]
    fn same_seed_same_run() {
        let cfg = DemoConfig {
            steps: 50,
            eval_every: 25,
            eval_states: 50,
            ..DemoConfig::default()
        };
        let (p, e) = run(&cfg, |_| {}).unwrap();
        let (q, f) = run(&cfg, |_| {}).unwrap();
        assert_eq!(p, q);
        assert_eq!(
            e.last().unwrap().regret.to_bits(),
            f.last().unwrap().regret.to_bits()
        );
    }

    #[test]
    fn invalid_settings_are_rejected() {
        assert!(run(
            &DemoConfig {
                beta: 0.0,
                ..DemoConfig::default()
            },
            |_| {}
        )
        .is_err());
        assert!(run(
            &DemoConfig {
                entities: 0,
                ..DemoConfig::default()
            },
            |_| {}
        )
        .is_err());
    }
}
