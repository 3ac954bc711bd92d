//! envs::federated (§A.2): an episode with uniform weights is FedAvg exactly; a policy that
//! favours the rare-label clients beats it; and PPO runs end to end on it.

use pimtl::envs::federated::{ClientPool, FederatedEnv, FederatedEnvConfig, LabelledSet, STATE_FEATURES};
use pimtl::federated::{run_federated, ClientModel, FedConfig, SoftmaxRegression, WeightsRule};
use pimtl::learn::mtl::Mode;
use pimtl::learn::ppo::{EpisodicTaskEnv, Ppo, PpoConfig};
use pimtl::policy::{Cell, EncoderConfig, EquivariantPolicy, PolicyConfig};
use pimtl::sampler::MeanAbsTdError;
use pimtl::Result;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::sync::Arc;

const D: usize = 16;

/// Ten-class toy images: class `c` lights pixel `c` (plus noise), so a linear model separates
/// them. `labels` restricts the classes a client sees.
fn toy_set(n: usize, labels: std::ops::RangeInclusive<u8>, seed: u64) -> LabelledSet {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let classes: Vec<u8> = labels.collect();
    let mut s = LabelledSet::default();
    for i in 0..n {
        let y = classes[i % classes.len()];
        for p in 0..D {
            let v: f32 = rng.random_range(0.0..0.3);
            s.images.push(if p == y as usize { v + 0.7 } else { v });
        }
        s.labels.push(y);
    }
    s
}

/// Five clients: 0–3 see labels 0–5, client 4 sees 6–9.
fn pool() -> Arc<ClientPool> {
    let mut clients: Vec<LabelledSet> = (0..4).map(|k| toy_set(60, 0..=5, k)).collect();
    clients.push(toy_set(60, 6..=9, 9));
    Arc::new(ClientPool {
        clients,
        is_rare: vec![false, false, false, false, true],
    })
}

fn env(tasks: Vec<Vec<usize>>, rounds: usize) -> FederatedEnv<SoftmaxRegression> {
    FederatedEnv::new(
        SoftmaxRegression::new(D, 10).unwrap(),
        pool(),
        tasks,
        Arc::new(toy_set(200, 0..=9, 77)),
        FederatedEnvConfig {
            rounds,
            history: 2,
            epochs: 1,
            batch: 10,
            lr: 1.0,
            deviation: true,
        },
    )
    .unwrap()
}

#[test]
fn uniform_weights_replay_fedavg_bit_for_bit() -> Result<()> {
    let mut e = env(vec![vec![0, 1, 2, 3, 4]], 6);
    let seed = 42;
    let mut state = Vec::new();
    e.reset(0, seed, &mut state)?;
    let mut rewards = Vec::new();
    loop {
        let (r, done) = e.step(&[0.2; 5], &mut state)?;
        rewards.push(r);
        if done {
            break;
        }
    }
    let model = SoftmaxRegression::new(D, 10)?;
    let p = pool();
    let clients: Vec<(&[f32], &[u8])> = p
        .clients
        .iter()
        .map(|c| (c.images.as_slice(), c.labels.as_slice()))
        .collect();
    let eval = toy_set(200, 0..=9, 77);
    let cfg = FedConfig {
        rounds: 6,
        epochs: 1,
        batch: 10,
        lr: 1.0,
        seed,
    };
    let curve = run_federated(
        &model,
        &model.init(seed),
        &clients,
        &WeightsRule::Uniform,
        &cfg,
        (&eval.images, &eval.labels),
    )?;
    assert_eq!(rewards, curve);
    Ok(())
}

#[test]
fn favouring_the_rare_client_beats_uniform_averaging() -> Result<()> {
    let mut e = env(vec![vec![0, 1, 2, 3, 4]], 8);
    let run = |e: &mut FederatedEnv<SoftmaxRegression>, w: &[f64]| -> Result<f64> {
        let mut s = Vec::new();
        e.reset(0, 5, &mut s)?;
        let mut total = 0.0;
        loop {
            let (r, done) = e.step(w, &mut s)?;
            total += r;
            if done {
                return Ok(total);
            }
        }
    };
    let uniform = run(&mut e, &[0.2; 5])?;
    let rare = run(&mut e, &[0.125, 0.125, 0.125, 0.125, 0.5])?;
    assert!(rare > uniform, "rare-half {rare} vs uniform {uniform}");
    Ok(())
}

#[test]
fn the_state_exposes_the_rare_client() -> Result<()> {
    let mut e = env(vec![vec![0, 1, 2, 3, 4]], 3);
    let mut s = Vec::new();
    e.reset(0, 1, &mut s)?;
    let h = e.window();
    assert_eq!(s.len(), 5 * h * STATE_FEATURES);
    // The rare client's local model knows only 4 of 10 classes: lowest accuracy, negative deviation.
    let latest = e.latest_accuracies();
    let min = latest.iter().copied().fold(f64::INFINITY, f64::min);
    assert_eq!(latest[4], min, "{latest:?}");
    let dev_rare = s[(4 * h + h - 1) * STATE_FEATURES + 1];
    assert!(dev_rare < 0.0);
    Ok(())
}

#[test]
fn ppo_runs_on_the_federated_environment_deterministically() -> Result<()> {
    let run = || -> Result<Vec<f64>> {
        let policy = EquivariantPolicy::<f64>::new(
            PolicyConfig {
                encoder: EncoderConfig::Recurrent {
                    cell: Cell::Elman,
                    features: STATE_FEATURES,
                    hidden: 4,
                },
                previous_allocation: false,
                pooled_context: false,
                score_hidden: 0,
                output_init_scale: 0.1,
            },
            0,
        )?;
        let cfg = PpoConfig {
            mode: Mode::Mtl,
            updates: 3,
            minibatch: 4,
            seed: 9,
            ..PpoConfig::default()
        };
        let mut ppo = Ppo::new(
            policy,
            env(vec![vec![0, 1, 4], vec![2, 3, 4]], 4),
            MeanAbsTdError,
            cfg,
        )?;
        ppo.run(|_, _| Ok(Vec::new()))?;
        assert_eq!(ppo.env_steps(), 3 * 4);
        Ok(ppo.policy.params().to_vec())
    };
    // Local training runs on rayon's threads; its result does not depend on their number.
    assert_eq!(run()?, run()?);
    Ok(())
}

#[test]
fn the_plain_state_holds_only_the_accuracies() -> Result<()> {
    let mut with = env(vec![vec![0, 1, 4]], 3);
    let mut plain = FederatedEnv::new(
        SoftmaxRegression::new(D, 10)?,
        pool(),
        vec![vec![0, 1, 4]],
        Arc::new(toy_set(200, 0..=9, 77)),
        FederatedEnvConfig {
            deviation: false,
            ..*with.config()
        },
    )?;
    assert_eq!(plain.features(), 1);
    let (mut a, mut b) = (Vec::new(), Vec::new());
    with.reset(0, 4, &mut a)?;
    plain.reset(0, 4, &mut b)?;
    // The plain state is every other entry of the full one: the accuracies.
    let accuracies: Vec<f64> = a.chunks_exact(STATE_FEATURES).map(|f| f[0]).collect();
    assert_eq!(b, accuracies);
    Ok(())
}
