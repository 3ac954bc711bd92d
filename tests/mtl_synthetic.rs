//! Algorithm 1 end to end on the synthetic allocation of §6.1 (no external data): P-MTL and MTL
//! beat the equal allocation on held-out entities, STL on one task with the same number of
//! gradient steps and samples does worse than MTL on average over seeds, a resumed run ends
//! identical to an uninterrupted one, a divergence stops the run with a clear error, the
//! importance weight scales the gradient the trainer steps with, and the gradient-norm scorer
//! sees the unweighted gradient.

use pimtl::envs::synthetic_tasks::{SyntheticTasks, SyntheticTasksConfig};
use pimtl::learn::mtl::{MinibatchStats, Mode, MtlConfig, TaskEnvironment, Trainer, UpdateRule};
use pimtl::learn::pg::PolicyGradient;
use pimtl::policy::{Adam, Optimizer};
use pimtl::policy::{EquivariantPolicy, PolicyConfig};
use pimtl::sampler::{GradientNorm, MaxDeviationFromEqual, SamplerConfig, ScoreInput, Scorer};
use pimtl::tasks::{draw_tasks, split_entities, Task};
use rand::SeedableRng;

const M: usize = 40;
const HOLDOUT: usize = 10;
const TASK_SIZE: usize = 5;

struct Setup {
    betas: Vec<f64>,
    train_tasks: Vec<Task>,
    holdout_tasks: Vec<Task>,
    data: SyntheticTasksConfig,
}

/// ε = 0: every entity has β = 0.5. Tasks of m = 5 entities from 30 training entities; held-out
/// tasks from the 10 entities never trained on.
fn setup(seed: u64, tasks: usize) -> Setup {
    let (train, hold) = split_entities(M, HOLDOUT, seed).unwrap();
    let relabel = |ts: Vec<Task>, ids: &[usize]| -> Vec<Task> {
        ts.into_iter()
            .map(|t| Task::new(t.entities().iter().map(|&i| ids[i]).collect(), M).unwrap())
            .collect()
    };
    let train_tasks = relabel(draw_tasks(train.len(), TASK_SIZE, tasks, seed).unwrap(), &train);
    let holdout_tasks = relabel(draw_tasks(hold.len(), TASK_SIZE, 20, seed + 1).unwrap(), &hold);
    Setup {
        betas: vec![0.5; M],
        train_tasks,
        holdout_tasks,
        data: SyntheticTasksConfig {
            samples_per_task: 8,
            nuisance_features: 2,
            noise_std: 0.5,
            initial_samples: None,
        },
    }
}

fn policy(seed: u64) -> EquivariantPolicy<f64> {
    EquivariantPolicy::new(PolicyConfig::mlp(3, vec![16]), seed).unwrap()
}

fn config(mode: Mode, seed: u64, iterations: usize) -> MtlConfig {
    MtlConfig {
        mode,
        iterations,
        sampler: SamplerConfig {
            alpha: if mode == Mode::PMtl { 0.5 } else { 0.0 },
            ..SamplerConfig::default()
        },
        lr: 0.01,
        eval_every: iterations,
        seed,
        ..MtlConfig::default()
    }
}

/// Trains in `mode` on `tasks` and returns (held-out regret, equal-allocation regret).
fn train(s: &Setup, tasks: Vec<Task>, mode: Mode, seed: u64, iterations: usize) -> (f64, f64) {
    let env = SyntheticTasks::new(s.betas.clone(), tasks, s.data.clone(), seed).unwrap();
    let rule = PolicyGradient::new(8).unwrap();
    let mut t = Trainer::new(
        policy(seed),
        env,
        rule,
        MaxDeviationFromEqual,
        config(mode, seed, iterations),
    )
    .unwrap();
    t.run(|_, _| Ok(vec![]), None).unwrap();
    t.env.evaluate(&t.policy, &s.holdout_tasks, 200, 99).unwrap()
}

#[test]
fn mtl_and_pmtl_beat_equal_allocation_on_held_out_entities() {
    let s = setup(1, 30);
    for mode in [Mode::Mtl, Mode::PMtl] {
        let (regret, equal) = train(&s, s.train_tasks.clone(), mode, 1, 800);
        eprintln!("{mode:?}: held-out regret {regret:.5}, equal allocation {equal:.5}");
        assert!(regret < 0.5 * equal, "{mode:?}: regret {regret} vs equal {equal}");
    }
}

/// Same number of gradient steps and minibatch samples: STL sees the 8 samples of one task, MTL
/// the 8 samples of each of 30 tasks. Averaged over 6 seeds, MTL's held-out regret is lower.
#[test]
fn stl_does_worse_than_mtl_on_average() {
    let seeds = 0..6u64;
    let (mut stl_sum, mut mtl_sum) = (0.0, 0.0);
    for seed in seeds.clone() {
        let s = setup(10 + seed, 30);
        let (stl, _) = train(&s, vec![s.train_tasks[0].clone()], Mode::Stl, seed, 800);
        let (mtl, equal) = train(&s, s.train_tasks.clone(), Mode::Mtl, seed, 800);
        eprintln!("seed {seed}: STL {stl:.5}, MTL {mtl:.5}, equal {equal:.5}");
        stl_sum += stl;
        mtl_sum += mtl;
    }
    let n = seeds.count() as f64;
    eprintln!(
        "mean held-out regret: STL {:.5}, MTL {:.5}",
        stl_sum / n,
        mtl_sum / n
    );
    assert!(mtl_sum < stl_sum, "MTL {} vs STL {}", mtl_sum / n, stl_sum / n);
}

/// Algorithm 1's inner loop: with `n_e = 2`, a task's replay grows by 2 samples each time the task
/// is drawn, up to `N`; the growth is part of the checkpoint.
#[test]
fn environment_steps_fill_the_drawn_tasks_replay() {
    let mut s = setup(6, 4);
    s.data.samples_per_task = 40;
    s.data.initial_samples = Some(8);
    let env = SyntheticTasks::new(s.betas.clone(), s.train_tasks.clone(), s.data.clone(), 6).unwrap();
    let mut c = config(Mode::Mtl, 6, 30);
    c.env_steps = 2;
    let mut t = Trainer::new(
        policy(6),
        env,
        PolicyGradient::new(8).unwrap(),
        MaxDeviationFromEqual,
        c,
    )
    .unwrap();
    let mut visits = [0usize; 4];
    for _ in 0..30 {
        let (task, _) = t.step().unwrap();
        visits[task] += 1;
        assert_eq!(t.env.available(task), Some((8 + 2 * visits[task]).min(40)));
    }
    assert_eq!(visits.iter().sum::<usize>(), 30);
    let bad = SyntheticTasksConfig {
        initial_samples: Some(0),
        ..s.data.clone()
    };
    assert!(SyntheticTasks::new(s.betas.clone(), s.train_tasks.clone(), bad, 6).is_err());
}

#[test]
fn resumed_run_ends_identical_to_an_uninterrupted_one() {
    let mut s = setup(3, 10);
    // Replays start with 4 of 8 samples and grow by one per visit, so the checkpoint must carry
    // the environment's state too.
    s.data.initial_samples = Some(4);
    let dir = std::env::temp_dir().join(format!("pimtl-resume-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let make = |iterations| {
        let env = SyntheticTasks::new(s.betas.clone(), s.train_tasks.clone(), s.data.clone(), 3).unwrap();
        Trainer::new(
            policy(3),
            env,
            PolicyGradient::new(4).unwrap(),
            MaxDeviationFromEqual,
            {
                let mut c = config(Mode::PMtl, 3, iterations);
                c.eval_every = 10;
                c.env_steps = 1;
                c
            },
        )
        .unwrap()
    };
    let mut straight = make(60);
    straight
        .run(|i, _| Ok(vec![("i".into(), i as f64)]), None)
        .unwrap();

    let mut first = make(30);
    first
        .run(|i, _| Ok(vec![("i".into(), i as f64)]), Some(&dir))
        .unwrap();
    let mut second = make(60);
    second.resume(&dir.join("checkpoint.json")).unwrap();
    assert_eq!(second.iteration(), 30);
    second
        .run(|i, _| Ok(vec![("i".into(), i as f64)]), Some(&dir))
        .unwrap();

    let bits = |p: &EquivariantPolicy<f64>| p.params().iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&straight.policy), bits(&second.policy));
    assert_eq!(straight.sampler().scores(), second.sampler().scores());
    for t in 0..10 {
        assert_eq!(straight.env.available(t), second.env.available(t));
    }
    assert_eq!(straight.metrics().len(), second.metrics().len());
    let csv = std::fs::read_to_string(dir.join("metrics.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 7, "{csv}");

    // A checkpoint made with another learning rate or mode is refused, naming the fields.
    let env = SyntheticTasks::new(s.betas.clone(), s.train_tasks.clone(), s.data.clone(), 3).unwrap();
    let mut other_cfg = config(Mode::Mtl, 3, 60);
    other_cfg.eval_every = 10;
    other_cfg.env_steps = 1;
    other_cfg.lr *= 2.0;
    let mut other = Trainer::new(
        policy(3),
        env,
        PolicyGradient::new(4).unwrap(),
        MaxDeviationFromEqual,
        other_cfg,
    )
    .unwrap();
    let e = other
        .resume(&dir.join("checkpoint.json"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("config.lr") && e.contains("config.mode") && e.contains("checkpoint.json"),
        "{e}"
    );

    // A corrupt checkpoint is an error naming the file.
    std::fs::write(dir.join("bad.json"), b"{\"format\": 1}").unwrap();
    let e = make(60).resume(&dir.join("bad.json")).unwrap_err().to_string();
    assert!(e.contains("bad.json"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// An update rule that reports a NaN loss from iteration 5 on.
struct Poisoned(PolicyGradient<f64>, usize);

impl UpdateRule<f64, SyntheticTasks> for Poisoned {
    fn minibatch_gradient(
        &mut self,
        policy: &EquivariantPolicy<f64>,
        env: &mut SyntheticTasks,
        task: usize,
        weight: f64,
        grad: &mut [f64],
        rng: &mut rand_chacha::ChaCha8Rng,
    ) -> pimtl::Result<MinibatchStats> {
        self.1 += 1;
        let mut stats = self.0.minibatch_gradient(policy, env, task, weight, grad, rng)?;
        if self.1 > 5 {
            stats.loss = f64::NAN;
        }
        Ok(stats)
    }
}

#[test]
fn divergence_stops_with_a_clear_error_and_keeps_the_last_good_checkpoint() {
    let s = setup(4, 5);
    let dir = std::env::temp_dir().join(format!("pimtl-diverge-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let env = SyntheticTasks::new(s.betas.clone(), s.train_tasks.clone(), s.data.clone(), 4).unwrap();
    assert_eq!(env.num_tasks(), 5);
    let mut c = config(Mode::Mtl, 4, 20);
    c.checkpoint_every = 2;
    let mut t = Trainer::new(
        policy(4),
        env,
        Poisoned(PolicyGradient::new(4).unwrap(), 0),
        MaxDeviationFromEqual,
        c,
    )
    .unwrap();
    let before = t.policy.clone();
    let e = t.run(|_, _| Ok(vec![]), Some(&dir)).unwrap_err().to_string();
    assert!(e.contains("diverged at step 5"), "{e}");
    assert_ne!(before, t.policy);
    let ck = std::fs::read_to_string(dir.join("checkpoint.json")).unwrap();
    assert!(
        ck.contains("\"iteration\":4"),
        "last good checkpoint is iteration 4"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn invalid_configurations_are_rejected_before_work() {
    let s = setup(5, 3);
    let env = || SyntheticTasks::new(s.betas.clone(), s.train_tasks.clone(), s.data.clone(), 5).unwrap();
    let bad = |c: MtlConfig| {
        Trainer::new(
            policy(0),
            env(),
            PolicyGradient::new(4).unwrap(),
            MaxDeviationFromEqual,
            c,
        )
    };
    assert!(bad(MtlConfig {
        iterations: 0,
        ..config(Mode::Mtl, 0, 10)
    })
    .is_err());
    assert!(bad(MtlConfig {
        lr: f64::NAN,
        ..config(Mode::Mtl, 0, 10)
    })
    .is_err());
    let mut c = config(Mode::PMtl, 0, 10);
    c.sampler.alpha = 0.0;
    assert!(bad(c).unwrap_err().to_string().contains("alpha"));
    let mut c = config(Mode::PMtl, 0, 10);
    c.sampler.alpha = -1.0;
    assert!(bad(c).unwrap_err().to_string().contains("alpha"));
    assert!(bad(config(Mode::Stl, 0, 10))
        .unwrap_err()
        .to_string()
        .contains("STL"));
    assert!(PolicyGradient::<f64>::new(0).is_err());
    // 8 samples per task: a minibatch of 9 is larger than the buffer.
    let e = Trainer::new(
        policy(0),
        env(),
        PolicyGradient::new(9).unwrap(),
        MaxDeviationFromEqual,
        config(Mode::Mtl, 0, 10),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("batch") && e.contains("only 8 samples"), "{e}");
}

fn bits(v: &[f64]) -> Vec<u64> {
    v.iter().map(|x| x.to_bits()).collect()
}

fn norm(v: &[f64]) -> f64 {
    v.iter().map(|x| x * x).sum::<f64>().sqrt()
}

/// `‖a − b‖ ≤ tol·‖b‖`.
fn close_in_norm(a: &[f64], b: &[f64], tol: f64) -> bool {
    let diff: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).collect();
    norm(&diff) <= tol * norm(b)
}

/// `PolicyGradient` scales `dL/da` by `−w/B` once, and the backward pass is linear in `dL/da`:
/// with a power-of-two weight every product is scaled exactly, so the gradient and the loss are
/// `w` times those of weight 1 bit for bit; with another weight, to rounding (1e-12 in norm).
#[test]
fn policy_gradient_loss_and_gradient_are_linear_in_the_weight() {
    let s = setup(8, 4);
    let env = SyntheticTasks::new(s.betas.clone(), s.train_tasks.clone(), s.data.clone(), 8).unwrap();
    let p = policy(8);
    let run = |weight: f64| {
        let mut env = env.clone();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let mut grad = vec![0.0; p.num_params()];
        let stats = PolicyGradient::new(4)
            .unwrap()
            .minibatch_gradient(&p, &mut env, 2, weight, &mut grad, &mut rng)
            .unwrap();
        (stats.loss, grad)
    };
    let (loss1, g1) = run(1.0);
    assert!(norm(&g1) > 1e-3, "the gradient is not trivially zero");
    for w in [0.25, 0.5, 2f64.powi(-10)] {
        let (loss, g) = run(w);
        assert_eq!(loss.to_bits(), (w * loss1).to_bits(), "w = {w}");
        assert_eq!(
            bits(&g),
            bits(&g1.iter().map(|x| w * x).collect::<Vec<_>>()),
            "w = {w}"
        );
    }
    for w in [0.3, 0.71] {
        let (loss, g) = run(w);
        let scaled: Vec<f64> = g1.iter().map(|x| w * x).collect();
        assert!((loss - w * loss1).abs() <= 1e-12 * (w * loss1).abs(), "w = {w}");
        assert!(close_in_norm(&g, &scaled, 1e-12), "w = {w}");
        assert!(
            !close_in_norm(&g, &g1, 0.1),
            "w = {w}: the weight changes the gradient"
        );
    }
}

/// One call of [`Recording`]'s rule: what the trainer passed and what the rule returned.
struct Call {
    task: usize,
    weight: f64,
    params: Vec<f64>,
    /// The gradient the rule added (the trainer zeroes it first), weighted by `weight`.
    grad: Vec<f64>,
    /// The same minibatch's gradient with weight 1 (on copies of the environment and generator).
    unweighted: Vec<f64>,
}

/// `PolicyGradient`, recording every call.
struct Recording(PolicyGradient<f64>, Vec<Call>);

impl UpdateRule<f64, SyntheticTasks> for Recording {
    fn minibatch_gradient(
        &mut self,
        policy: &EquivariantPolicy<f64>,
        env: &mut SyntheticTasks,
        task: usize,
        weight: f64,
        grad: &mut [f64],
        rng: &mut rand_chacha::ChaCha8Rng,
    ) -> pimtl::Result<MinibatchStats> {
        assert!(grad.iter().all(|&g| g == 0.0), "the trainer zeroes the gradient");
        let mut unweighted = vec![0.0; grad.len()];
        self.0.clone().minibatch_gradient(
            policy,
            &mut env.clone(),
            task,
            1.0,
            &mut unweighted,
            &mut rng.clone(),
        )?;
        let stats = self.0.minibatch_gradient(policy, env, task, weight, grad, rng)?;
        self.1.push(Call {
            task,
            weight,
            params: policy.params().to_vec(),
            grad: grad.to_vec(),
            unweighted,
        });
        Ok(stats)
    }
}

/// A scorer that always returns the same value.
struct Fixed(f64);

impl Scorer for Fixed {
    fn score(&self, _: &ScoreInput<'_>) -> pimtl::Result<f64> {
        Ok(self.0)
    }
}

/// A P-MTL run (α = 1, γ = 0, no clipping) over 8 tasks whose scorer always returns 0.25, so a
/// task's priority is 1 until it is drawn and 0.25 afterwards, and every weight
/// `w_t = (q_min / q_t)^β` is 1 or 0.25^β: exact in binary.
fn weighted_run(beta: f64, steps: usize) -> (Trainer<f64, SyntheticTasks, Recording, Fixed>, Vec<Vec<f64>>) {
    let s = setup(9, 8);
    let env = SyntheticTasks::new(s.betas.clone(), s.train_tasks.clone(), s.data.clone(), 9).unwrap();
    let mut c = config(Mode::PMtl, 9, steps);
    c.sampler = SamplerConfig {
        alpha: 1.0,
        beta,
        smoothing: 0.0,
        ..SamplerConfig::default()
    };
    let mut t = Trainer::new(
        policy(9),
        env,
        Recording(PolicyGradient::new(4).unwrap(), Vec::new()),
        Fixed(0.25),
        c,
    )
    .unwrap();
    let mut weights_before = Vec::new();
    for _ in 0..steps {
        weights_before.push(t.sampler().weights());
        t.step().unwrap();
    }
    (t, weights_before)
}

/// The trainer passes the drawn task's IS weight to the rule and steps Adam with exactly the
/// weighted gradient the rule returns, which is `w_t` times the minibatch's unweighted
/// gradient; against β = 0 (all weights 1) on the same draws, the first step whose weight is
/// not 1 has exactly `w_t` times the gradient and a different parameter update.
#[test]
fn trainer_steps_with_the_samplers_importance_weight() {
    const STEPS: usize = 6;
    let (weighted, weights_before) = weighted_run(1.0, STEPS);
    let (plain, _) = weighted_run(0.0, STEPS);
    let (wc, pc) = (&weighted.rule.1, &plain.rule.1);
    assert_eq!(wc.len(), STEPS);
    let mut adam = Adam::new(0.01).unwrap();
    let mut theta = policy(9).params().to_vec();
    for (k, call) in wc.iter().enumerate() {
        assert_eq!(call.task, pc[k].task, "step {k}: β does not change the draws");
        assert_eq!(
            call.weight.to_bits(),
            weights_before[k][call.task].to_bits(),
            "step {k}"
        );
        assert_eq!(pc[k].weight, 1.0);
        assert!(
            call.weight == 1.0 || call.weight == 0.25,
            "step {k}: {}",
            call.weight
        );
        let scaled: Vec<f64> = call.unweighted.iter().map(|g| call.weight * g).collect();
        assert_eq!(
            bits(&call.grad),
            bits(&scaled),
            "step {k}: gradient = w_t × unweighted"
        );
        // θ before this step is Adam applied to the recorded gradients of the previous steps.
        assert_eq!(bits(&call.params), bits(&theta), "step {k}");
        Optimizer::<f64>::step(&mut adam, &mut theta, &call.grad).unwrap();
    }
    assert_eq!(bits(weighted.policy.params()), bits(&theta));
    // The first step is uniform (w = 1); the first step with w = 0.25 comes after identical
    // steps in both runs, so it starts from the same θ and only the weight differs.
    let first = wc
        .iter()
        .position(|c| c.weight != 1.0)
        .expect("some step has w = 0.25");
    assert!(first >= 1);
    assert_eq!(bits(&wc[first].params), bits(&pc[first].params));
    assert_eq!(bits(&wc[first].unweighted), bits(&pc[first].grad));
    let quarter: Vec<f64> = pc[first].grad.iter().map(|g| 0.25 * g).collect();
    assert_eq!(bits(&wc[first].grad), bits(&quarter));
    let after = |c: &[Call]| c.get(first + 1).map(|c| bits(&c.params));
    assert_ne!(after(wc), after(pc), "the weight changes the update");
}

/// Issue #13: the GradientNorm scorer used to receive the norm of the IS-weighted gradient, so a
/// task the sampler favours (w_t < 1) was scored down by its own weight. The score recorded for
/// each step must be the norm of the unweighted minibatch gradient; the trainer divides the
/// weighted norm by w_t, exact up to rounding of that division (1e-12 relative).
#[test]
fn gradient_norm_scorer_sees_the_unweighted_gradient_norm() {
    let s = setup(11, 8);
    let env = SyntheticTasks::new(s.betas.clone(), s.train_tasks.clone(), s.data.clone(), 11).unwrap();
    let mut c = config(Mode::PMtl, 11, 12);
    c.sampler = SamplerConfig {
        alpha: 1.0,
        beta: 1.0,
        smoothing: 0.0,
        ..SamplerConfig::default()
    };
    let mut t = Trainer::new(
        policy(11),
        env,
        Recording(PolicyGradient::new(4).unwrap(), Vec::new()),
        GradientNorm,
        c,
    )
    .unwrap();
    let mut weighted_steps = 0;
    for k in 0..12 {
        let (task, _) = t.step().unwrap();
        let call = t.rule.1.last().unwrap();
        let (grad_norm, score) = t.last_step_diagnostics();
        let expected = norm(&call.unweighted);
        assert!(
            (score - expected).abs() <= 1e-12 * expected,
            "step {k}: score {score} vs {expected}"
        );
        assert_eq!(grad_norm, score);
        // γ = 0: the task's smoothed score is the raw score.
        assert_eq!(t.sampler().scores()[task], score);
        if (call.weight - 1.0).abs() > 0.01 {
            weighted_steps += 1;
            // The weighted norm, which the old code scored, is w_t times smaller.
            assert!((norm(&call.grad) - call.weight * expected).abs() <= 1e-12 * expected);
            assert!((norm(&call.grad) - score).abs() > 0.01 * expected, "step {k}");
        }
    }
    assert!(weighted_steps >= 3, "only {weighted_steps} steps had w != 1");
}
