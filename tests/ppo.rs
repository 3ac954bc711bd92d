//! PPO (learn::ppo) on a toy episodic allocation task: the hand-written gradient of the clipped
//! surrogate against finite differences, bit-for-bit reproducibility, that it learns, that the
//! importance weight scales the loss and gradient it steps with, and that bad settings are
//! rejected before any work.

use pimtl::learn::dirichlet::DirichletPolicy;
use pimtl::learn::mtl::Mode;
use pimtl::learn::ppo::{deterministic_episode, EpisodicTaskEnv, Ppo, PpoConfig};
use pimtl::policy::{EquivariantPolicy, PolicyConfig};
use pimtl::sampler::{MeanAbsTdError, SamplerConfig, ScoreInput, Scorer};
use pimtl::Result;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// `m` entities with one feature each, drawn afresh every step; reward `Σ_i w_i x_i`, so the best
/// allocation puts everything on the largest feature. Task `t` scales the features by `1 + t`.
struct Bandit {
    tasks: usize,
    m: usize,
    horizon: usize,
    n: usize,
    rng: ChaCha8Rng,
    x: Vec<f64>,
}

impl Bandit {
    fn new(tasks: usize, m: usize, horizon: usize) -> Self {
        Bandit {
            tasks,
            m,
            horizon,
            n: 0,
            rng: ChaCha8Rng::seed_from_u64(0),
            x: Vec::new(),
        }
    }

    fn draw(&mut self, state: &mut Vec<f64>) {
        self.x = (0..self.m).map(|_| self.rng.random_range(0.0..1.0)).collect();
        state.clear();
        state.extend_from_slice(&self.x);
    }
}

impl EpisodicTaskEnv for Bandit {
    fn num_tasks(&self) -> usize {
        self.tasks
    }
    fn entities(&self, _task: usize) -> usize {
        self.m
    }
    fn window(&self) -> usize {
        1
    }
    fn features(&self) -> usize {
        1
    }
    fn horizon(&self) -> usize {
        self.horizon
    }
    fn reset(&mut self, _task: usize, seed: u64, state: &mut Vec<f64>) -> Result<()> {
        self.rng = ChaCha8Rng::seed_from_u64(seed);
        self.n = 0;
        self.draw(state);
        Ok(())
    }
    fn step(&mut self, action: &[f64], state: &mut Vec<f64>) -> Result<(f64, bool)> {
        let r = action.iter().zip(&self.x).map(|(w, x)| w * x).sum();
        self.n += 1;
        self.draw(state);
        Ok((r, self.n == self.horizon))
    }
}

fn policy() -> EquivariantPolicy<f64> {
    let mut cfg = PolicyConfig::mlp(1, vec![8]);
    cfg.output_init_scale = 0.1;
    EquivariantPolicy::new(cfg, 3).unwrap()
}

fn config(mode: Mode) -> PpoConfig {
    PpoConfig {
        mode,
        updates: 60,
        episodes: 2,
        epochs: 4,
        minibatch: 10,
        lr: 0.03,
        dirichlet: DirichletPolicy {
            concentration: 20.0,
            floor: 0.5,
        },
        seed: 11,
        ..PpoConfig::default()
    }
}

/// Mean deterministic return over 20 fixed episodes.
fn deterministic_return(p: &EquivariantPolicy<f64>, d: &DirichletPolicy) -> f64 {
    let mut env = Bandit::new(1, 5, 10);
    (0..20)
        .map(|s| {
            deterministic_episode(p, d, &mut env, 0, 1000 + s, |_, _, _, _| Ok(()))
                .unwrap()
                .iter()
                .sum::<f64>()
        })
        .sum::<f64>()
        / 20.0
}

#[test]
fn surrogate_gradient_matches_finite_differences() -> Result<()> {
    let mut ppo = Ppo::new(policy(), Bandit::new(1, 4, 6), MeanAbsTdError, config(Mode::Stl))?;
    let n = ppo.collect_for_check(0)?;
    let idx: Vec<usize> = (0..n).collect();
    let mut grad = vec![0.0; ppo.policy.num_params()];
    ppo.loss_and_grad_for_check(&idx, 0.7, &mut grad)?;
    let mut scratch = grad.clone();
    let h = 1e-6;
    let mut worst = 0.0f64;
    for (j, &g) in grad.iter().enumerate() {
        let p0 = ppo.policy.params()[j];
        ppo.policy.params_mut()[j] = p0 + h;
        let lp = ppo.loss_and_grad_for_check(&idx, 0.7, &mut scratch)?;
        ppo.policy.params_mut()[j] = p0 - h;
        let lm = ppo.loss_and_grad_for_check(&idx, 0.7, &mut scratch)?;
        ppo.policy.params_mut()[j] = p0;
        let fd = (lp - lm) / (2.0 * h);
        let err = (fd - g).abs() / (1e-4 + fd.abs().max(g.abs()));
        worst = worst.max(err);
    }
    assert!(worst < 1e-5, "largest relative error {worst}");
    assert!(
        grad.iter().any(|g| g.abs() > 1e-6),
        "the gradient is not trivially zero"
    );
    Ok(())
}

#[test]
fn same_seed_same_run_bit_for_bit() -> Result<()> {
    // Single-threaded by construction: the toy environment and the learner use no threads.
    let run = || -> Result<(Vec<f64>, Vec<f64>)> {
        let mut cfg = config(Mode::Mtl);
        cfg.updates = 8;
        let mut ppo = Ppo::new(policy(), Bandit::new(3, 4, 5), MeanAbsTdError, cfg)?;
        ppo.run(|_, _| Ok(Vec::new()))?;
        let returns = ppo.history().iter().map(|s| s.mean_return).collect();
        Ok((ppo.policy.params().to_vec(), returns))
    };
    let (a, ra) = run()?;
    let (b, rb) = run()?;
    assert_eq!(a, b);
    assert_eq!(ra, rb);
    Ok(())
}

#[test]
fn ppo_learns_to_allocate_to_the_best_entity() -> Result<()> {
    let d = config(Mode::Stl).dirichlet;
    let before = deterministic_return(&policy(), &d);
    let mut ppo = Ppo::new(policy(), Bandit::new(1, 5, 10), MeanAbsTdError, config(Mode::Stl))?;
    ppo.run(|_, _| Ok(Vec::new()))?;
    let after = deterministic_return(&ppo.policy, &d);
    eprintln!("deterministic return: before {before:.3}, after {after:.3}");
    // Uniform weights earn E[x] = 0.5 per step (5 per episode); all on the maximum of 5 uniforms
    // earns 5/6 per step. The Dirichlet mean's floor caps what the deterministic policy reaches.
    assert!(before < 5.3, "starts near uniform: {before}");
    assert!(after > before + 1.0, "before {before}, after {after}");
    let h = ppo.history();
    assert_eq!(h.len(), 60);
    assert_eq!(h.last().map(|s| s.env_steps), Some(60 * 2 * 10));
    Ok(())
}

#[test]
fn prioritised_mode_uses_importance_weights() -> Result<()> {
    let mut cfg = config(Mode::PMtl);
    cfg.updates = 12;
    cfg.sampler = SamplerConfig {
        alpha: 1.0,
        beta: 1.0,
        ..SamplerConfig::default()
    };
    let mut ppo = Ppo::new(policy(), Bandit::new(4, 4, 5), MeanAbsTdError, cfg)?;
    ppo.run(|_, _| Ok(Vec::new()))?;
    let w: Vec<f64> = ppo.history().iter().map(|s| s.weight).collect();
    assert!(w.iter().all(|&x| x > 0.0 && x <= 1.0 + 1e-12), "{w:?}");
    assert!(
        w.iter().any(|&x| x < 1.0 - 1e-9),
        "priorities differ, so weights do: {w:?}"
    );
    Ok(())
}

#[test]
fn bad_settings_are_rejected_before_any_work() {
    let bad = |f: fn(&mut PpoConfig)| {
        let mut c = config(Mode::Mtl);
        f(&mut c);
        Ppo::new(policy(), Bandit::new(2, 3, 4), MeanAbsTdError, c).is_err()
    };
    assert!(bad(|c| c.updates = 0));
    assert!(bad(|c| c.minibatch = 0));
    assert!(bad(|c| c.clip = 1.5));
    assert!(bad(|c| c.gamma = -0.1));
    assert!(bad(|c| c.lr = f64::NAN));
    assert!(bad(|c| c.dirichlet.concentration = 0.0));
    assert!(bad(|c| {
        c.mode = Mode::PMtl;
        c.sampler.alpha = 0.0;
    }));
    assert!(bad(|c| c.mode = Mode::Stl), "STL needs a one-task environment");
    // A policy whose input does not match the environment's features.
    let p = EquivariantPolicy::<f64>::new(PolicyConfig::mlp(2, vec![4]), 0).unwrap();
    assert!(Ppo::new(p, Bandit::new(1, 3, 4), MeanAbsTdError, config(Mode::Mtl)).is_err());
}

fn bits(v: &[f64]) -> Vec<u64> {
    v.iter().map(|x| x.to_bits()).collect()
}

fn norm(v: &[f64]) -> f64 {
    v.iter().map(|x| x * x).sum::<f64>().sqrt()
}

/// The surrogate multiplies `−w/|B|` into each sample's `∂L/∂log π` once, and the backward pass is
/// linear: with a power-of-two weight the loss and gradient are `w` times those of weight 1 bit
/// for bit; with another weight, to rounding (1e-12 relative, the gradient in norm).
#[test]
fn surrogate_loss_and_gradient_are_linear_in_the_weight() -> Result<()> {
    let mut ppo = Ppo::new(policy(), Bandit::new(1, 4, 6), MeanAbsTdError, config(Mode::Stl))?;
    let n = ppo.collect_for_check(0)?;
    // Move θ away from the rollout's policy, so the ratios differ from 1 (at θ_old the
    // normalised advantages sum to 0 and so does the loss) and some may be clipped.
    for (j, p) in ppo.policy.params_mut().iter_mut().enumerate() {
        *p += 0.3 * (j as f64).sin();
    }
    let idx: Vec<usize> = (0..n).collect();
    let mut g1 = vec![0.0; ppo.policy.num_params()];
    let loss1 = ppo.loss_and_grad_for_check(&idx, 1.0, &mut g1)?;
    eprintln!("loss at weight 1: {loss1}");
    assert!(norm(&g1) > 1e-6 && loss1.abs() > 1e-3, "loss {loss1}");
    let mut g = vec![0.0; g1.len()];
    for w in [0.25, 0.5, 2f64.powi(-12)] {
        let loss = ppo.loss_and_grad_for_check(&idx, w, &mut g)?;
        assert_eq!(loss.to_bits(), (w * loss1).to_bits(), "w = {w}");
        assert_eq!(
            bits(&g),
            bits(&g1.iter().map(|x| w * x).collect::<Vec<_>>()),
            "w = {w}"
        );
    }
    for w in [0.3, 0.7] {
        let loss = ppo.loss_and_grad_for_check(&idx, w, &mut g)?;
        assert!((loss - w * loss1).abs() <= 1e-12 * (w * loss1).abs(), "w = {w}");
        let diff: Vec<f64> = g.iter().zip(&g1).map(|(a, b)| a - w * b).collect();
        assert!(norm(&diff) <= 1e-12 * w * norm(&g1), "w = {w}");
    }
    Ok(())
}

/// A scorer that always returns the same value.
struct Fixed(f64);

impl Scorer for Fixed {
    fn score(&self, _: &ScoreInput<'_>) -> Result<f64> {
        Ok(self.0)
    }
}

/// The learner, the sampler's weights before each step and the parameters after each step.
type WeightedRun = (Ppo<f64, Bandit, Fixed>, Vec<Vec<f64>>, Vec<Vec<f64>>);

/// P-MTL over 8 bandit tasks (α = 1, γ_s = 0) whose scorer always returns 0.25, so a task's
/// priority is 1 until it is drawn and 0.25 afterwards and every weight is 1 or 0.25^β. One
/// epoch with a single minibatch of the whole rollout and no clipping: an update's loss is the
/// surrogate of that minibatch before the step.
fn weighted_ppo(beta: f64, steps: usize) -> Result<WeightedRun> {
    let mut cfg = config(Mode::PMtl);
    cfg.updates = steps;
    cfg.epochs = 1;
    cfg.minibatch = 2 * 5;
    cfg.clip_norm = None;
    cfg.sampler = SamplerConfig {
        alpha: 1.0,
        beta,
        smoothing: 0.0,
        ..SamplerConfig::default()
    };
    let mut ppo = Ppo::new(policy(), Bandit::new(8, 4, 5), Fixed(0.25), cfg)?;
    let (mut weights, mut params) = (Vec::new(), Vec::new());
    for _ in 0..steps {
        weights.push(ppo.sampler().weights());
        ppo.step()?;
        params.push(ppo.policy.params().to_vec());
    }
    Ok((ppo, weights, params))
}

/// Each PPO update uses the drawn task's IS weight; against β = 0 on the same draws, the first
/// update whose weight is 0.25 starts from the same θ and rollout, has exactly 0.25 times the
/// loss, and moves θ differently.
#[test]
fn ppo_steps_with_the_samplers_importance_weight() -> Result<()> {
    const STEPS: usize = 5;
    let (weighted, weights, wp) = weighted_ppo(1.0, STEPS)?;
    let (plain, _, pp) = weighted_ppo(0.0, STEPS)?;
    let (wh, ph) = (weighted.history(), plain.history());
    for k in 0..STEPS {
        assert_eq!(wh[k].task, ph[k].task, "update {k}: β does not change the draws");
        assert_eq!(
            wh[k].weight.to_bits(),
            weights[k][wh[k].task].to_bits(),
            "update {k}"
        );
        assert_eq!(ph[k].weight, 1.0);
    }
    let first = wh
        .iter()
        .position(|h| h.weight != 1.0)
        .expect("some update has w = 0.25");
    assert!(first >= 1);
    assert_eq!(wh[first].weight, 0.25);
    assert_eq!(
        bits(&wp[first - 1]),
        bits(&pp[first - 1]),
        "same θ before the update"
    );
    assert_eq!(
        wh[first].mean_return.to_bits(),
        ph[first].mean_return.to_bits(),
        "same rollout"
    );
    assert_eq!(wh[first].loss.to_bits(), (0.25 * ph[first].loss).to_bits());
    assert_ne!(
        bits(&wp[first]),
        bits(&pp[first]),
        "the weight changes the update"
    );
    Ok(())
}
