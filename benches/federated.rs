//! Costs of the meta-federated-learning application (§A.2, Fig. 6): client training, aggregation,
//! evaluation and the PPO learner, on synthetic deterministic data (no data files).
//!
//! * `federated_round/cnn_10x600`: one federated round of the paper — 10 clients × 600 images,
//!   each trained for one local epoch (batch 20, lr 0.05) from the same global model with
//!   [`local_training`] (in parallel over clients, rayon), then [`weighted_average`] with uniform
//!   weights. The paper's CNN, `ConvNet::paper(28, 28)`.
//! * `client/cnn_fwd_bwd_b20`: `loss_and_grad_with` (f32) on one minibatch of 20 images with a
//!   reused workspace — one local SGD step without the parameter update.
//! * `client/cnn_fwd_b1000`: the logits of 1000 images, single-threaded — what scoring one local
//!   model on the evaluation set costs.
//! * `client/softmax_fwd_bwd_b20`: the same minibatch step for `SoftmaxRegression` (784 → 10).
//! * `ppo/update`: one `Ppo::step` (rollout of one 20-step episode + 4 epochs of clipped-surrogate
//!   updates + value fit + task-score update) on a cheap synthetic `EpisodicTaskEnv` (4 tasks of
//!   10 entities, window 3, 2 features, horizon 20, states from a seeded rng, reward
//!   `Σ_i w_i x_i` of each entity's latest last feature), with the policy of the federated
//!   experiment (Elman RNN, 10 hidden units, 2 features, f64) and `PpoConfig` defaults. The
//!   learner is warmed up until its value memory is full, so this is its steady-state cost
//!   apart from client training. Throughput in environment steps (20 per update).
//! * `ppo/federated_step_softmax`: one `EpisodicTaskEnv::step` of `FederatedEnv` with 10
//!   `SoftmaxRegression` clients × 600 images and an evaluation set of 1000 — aggregation, the
//!   reward (accuracy of the aggregate), the next round's local training and the 10 local
//!   accuracies of the state: the cost of a round in the quick preset.
//!
//! # FLOP counts
//! A multiply-add counts 2; biases, activations, softmax and the loss are not counted. For the
//! paper's CNN (28×28×1 input, 5×5 kernel, C = 32 channels, 10 classes; 24·24 output positions,
//! `F = 24·24·32 = 18 432` features, `P = 185 162` parameters), per image:
//!
//! * forward: conv `2·(24·24)·32·25 = 921 600` + dense `2·(24·24·32)·10 = 368 640`
//!   = **1 290 240 FLOP**;
//! * training (forward + backward): backward counted as ≈ 2× forward, so **3× forward =
//!   3 870 720 FLOP** (the convention of `benches/policy.rs`).
//!
//! For softmax regression (784 inputs, 10 classes): forward `2·784·10 = 15 680`, training
//! `3 × 15 680 = 47 040` FLOP per image.
//!
//! The 3× convention is an upper bound on the arithmetic these backward passes execute: neither
//! model needs the gradient with respect to its input image, so the CNN's training step executes
//! `2·conv + 3·dense = 2 949 120` FLOP per image (2.29× forward; the reported FLOP/s are 1.31×
//! the executed rate) and softmax regression's `2 × forward` (reported FLOP/s are 1.5× the
//! executed rate).
//!
//! Per iteration (all computed in code from the model dimensions):
//!
//! * `federated_round/cnn_10x600`: `10·600·3·fwd` (23.22 GFLOP) + SGD updates
//!   `10·⌈600/20⌉·2P` (111 MFLOP) + averaging `2·10·P` (3.7 MFLOP) = **23.34 GFLOP**.
//! * `client/cnn_fwd_bwd_b20`: `20·3·fwd` = 77.4 MFLOP; `client/cnn_fwd_b1000`: `1000·fwd` =
//!   1.29 GFLOP; `client/softmax_fwd_bwd_b20`: `20·3·fwd` = 0.94 MFLOP.
//! * `ppo/federated_step_softmax`: local training `10·600·3·fwd` + SGD updates `10·30·2P` +
//!   averaging `2·10·P` + 11 evaluations of 1000 images (the aggregate and the 10 local models)
//!   `11·1000·fwd` = **0.46 GFLOP** (P = 7 850).
//!
//! # Reading the numbers
//! Throughput is declared as `Throughput::Elements(FLOPs per iteration)` (except `ppo/update`,
//! in environment steps), so criterion's `thrpt` in `elem/s` is FLOP/s: GFLOP/s = criterion's
//! elem/s / 1e9 (its `Gelem/s` is GFLOP/s directly). Rounds per second = 1 / time per iteration
//! of `federated_round/cnn_10x600`; an episode of the paper's 50 rounds costs 50× that (plus 11
//! evaluations of 1000 images per round, ≈ 11× `client/cnn_fwd_b1000` / threads). The round and
//! the environment step run on rayon's pool (all cores unless `RAYON_NUM_THREADS` says
//! otherwise); the `client/*` benches are single-threaded.

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use pimtl::envs::federated::{ClientPool, FederatedEnv, FederatedEnvConfig, LabelledSet, STATE_FEATURES};
use pimtl::federated::{
    local_training, weighted_average, ClientModel, ConvNet, SoftmaxRegression, Workspace as ClientWorkspace,
};
use pimtl::learn::ppo::{EpisodicTaskEnv, Ppo, PpoConfig};
use pimtl::policy::{Cell, EncoderConfig, EquivariantPolicy, PolicyConfig};
use pimtl::sampler::MeanAbsTdError;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

/// Image height and width (Fashion-MNIST).
const SIDE: usize = 28;
/// The paper's CNN: kernel size, channels, classes.
const KERNEL: usize = 5;
const CHANNELS: usize = 32;
const CLASSES: usize = 10;
/// One round of the paper: clients, samples per client, local batch and learning rate.
const CLIENTS: usize = 10;
const SAMPLES: usize = 600;
const BATCH: usize = 20;
const LR: f32 = 0.05;
/// Evaluation-set size.
const EVAL: usize = 1000;

/// Forward FLOPs of the paper's CNN for one image: conv `2·(oh·ow)·C·k²` + dense `2·F·classes`.
fn cnn_forward_flops(model: &ConvNet) -> u64 {
    let (oh, ow) = (SIDE - KERNEL + 1, SIDE - KERNEL + 1);
    let features = oh * ow * CHANNELS;
    assert_eq!(
        model.features(),
        features,
        "the bench's dimensions match the model"
    );
    assert_eq!(
        model.num_params(),
        (KERNEL * KERNEL + 1) * CHANNELS + (features + 1) * CLASSES
    );
    (2 * oh * ow * CHANNELS * KERNEL * KERNEL + 2 * features * CLASSES) as u64
}

/// Forward FLOPs of softmax regression for one sample: `2·inputs·classes`.
fn softmax_forward_flops(model: &SoftmaxRegression) -> u64 {
    (2 * model.input_len() * model.classes()) as u64
}

/// FLOPs of one local epoch on every client plus the average: `clients·samples·3·fwd` +
/// `clients·⌈samples/batch⌉·2P` (SGD updates) + `2·clients·P` (weighted average).
fn round_flops(forward: u64, params: usize) -> u64 {
    let params = params as u64;
    let (clients, samples) = (CLIENTS as u64, SAMPLES as u64);
    clients * samples * 3 * forward
        + clients * samples.div_ceil(BATCH as u64) * 2 * params
        + 2 * clients * params
}

/// `n` images with pixels uniform in `[0, 1)` and labels uniform in `0..10`.
fn synthetic_set(rng: &mut ChaCha8Rng, n: usize, input_len: usize) -> LabelledSet {
    LabelledSet {
        images: (0..n * input_len).map(|_| rng.random_range(0.0..1.0)).collect(),
        labels: (0..n).map(|_| rng.random_range(0..CLASSES as u8)).collect(),
    }
}

fn bench_round(c: &mut Criterion) {
    let model = ConvNet::paper(SIDE, SIDE).expect("valid CNN");
    let forward = cnn_forward_flops(&model);
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let data: Vec<LabelledSet> = (0..CLIENTS)
        .map(|_| synthetic_set(&mut rng, SAMPLES, model.input_len()))
        .collect();
    let clients: Vec<(&[f32], &[u8])> = data
        .iter()
        .map(|s| (s.images.as_slice(), s.labels.as_slice()))
        .collect();
    let global = model.init(0);
    let weights = vec![1.0 / CLIENTS as f64; CLIENTS];
    let mut params: Vec<Vec<f32>> = Vec::with_capacity(CLIENTS);
    let mut out = Vec::with_capacity(global.len());

    let mut group = c.benchmark_group("federated_round");
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(2));
    group.measurement_time(Duration::from_secs(15));
    group.throughput(Throughput::Elements(round_flops(forward, model.num_params())));
    group.bench_function("cnn_10x600", |b| {
        b.iter(|| {
            let trained =
                local_training(&model, black_box(&global), &clients, 1, BATCH, LR, 7).expect("finite");
            params.clear();
            params.extend(trained.into_iter().map(|(theta, _)| theta));
            weighted_average(&params, &weights, &mut out).expect("valid weights");
            black_box(out[0])
        })
    });
    group.finish();
}

fn bench_client(c: &mut Criterion) {
    let cnn = ConvNet::paper(SIDE, SIDE).expect("valid CNN");
    let softmax = SoftmaxRegression::new(SIDE * SIDE, CLASSES).expect("valid model");
    let (cnn_fwd, softmax_fwd) = (cnn_forward_flops(&cnn), softmax_forward_flops(&softmax));
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let batch = synthetic_set(&mut rng, BATCH, SIDE * SIDE);
    let eval = synthetic_set(&mut rng, EVAL, SIDE * SIDE);

    let mut group = c.benchmark_group("client");
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(4));
    let theta = cnn.init(0);
    let mut grad = vec![0.0f32; theta.len()];
    let mut ws = ClientWorkspace::new();
    group.throughput(Throughput::Elements(BATCH as u64 * 3 * cnn_fwd));
    group.bench_function("cnn_fwd_bwd_b20", |b| {
        b.iter(|| {
            let loss = cnn
                .loss_and_grad_with(
                    black_box(&theta),
                    &batch.images,
                    &batch.labels,
                    &mut grad,
                    &mut ws,
                )
                .expect("valid batch");
            black_box((loss, grad[0]))
        })
    });

    let mut logits = vec![0.0f32; EVAL * CLASSES];
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    group.throughput(Throughput::Elements(EVAL as u64 * cnn_fwd));
    group.bench_function("cnn_fwd_b1000", |b| {
        b.iter(|| {
            cnn.logits(black_box(&theta), &eval.images, &mut logits)
                .expect("valid batch");
            black_box(logits[0])
        })
    });

    let theta = softmax.init(0);
    let mut grad = vec![0.0f32; theta.len()];
    let mut ws = ClientWorkspace::new();
    group.sampling_mode(SamplingMode::Auto);
    group.sample_size(100);
    group.measurement_time(Duration::from_secs(3));
    group.throughput(Throughput::Elements(BATCH as u64 * 3 * softmax_fwd));
    group.bench_function("softmax_fwd_bwd_b20", |b| {
        b.iter(|| {
            let loss = softmax
                .loss_and_grad_with(
                    black_box(&theta),
                    &batch.images,
                    &batch.labels,
                    &mut grad,
                    &mut ws,
                )
                .expect("valid batch");
            black_box((loss, grad[0]))
        })
    });
    group.finish();
}

/// A cheap episodic environment shaped like the federated one: `ENTITIES` entities, window
/// `WINDOW` of `FEATURES` values each, horizon `HORIZON`. Each step the window shifts by one and a
/// fresh step of uniform `[0, 1)` values (from the episode's seeded rng) enters; the reward is
/// `Σ_i w_i x_i` with `x_i` entity `i`'s latest value of the last feature.
struct SyntheticEpisodes {
    tasks: usize,
    state: Vec<f64>,
    rng: ChaCha8Rng,
}

const ENTITIES: usize = 10;
const WINDOW: usize = 3;
const FEATURES: usize = STATE_FEATURES;
const HORIZON: usize = 20;

impl SyntheticEpisodes {
    fn new(tasks: usize) -> Self {
        Self {
            tasks,
            state: Vec::new(),
            rng: ChaCha8Rng::seed_from_u64(0),
        }
    }

    /// Shifts every entity's window by one step and draws the newest step.
    fn advance(&mut self) {
        let row = WINDOW * FEATURES;
        for entity in self.state.chunks_exact_mut(row) {
            entity.copy_within(FEATURES.., 0);
            for v in &mut entity[row - FEATURES..] {
                *v = self.rng.random_range(0.0..1.0);
            }
        }
    }
}

impl EpisodicTaskEnv for SyntheticEpisodes {
    fn num_tasks(&self) -> usize {
        self.tasks
    }

    fn entities(&self, _task: usize) -> usize {
        ENTITIES
    }

    fn window(&self) -> usize {
        WINDOW
    }

    fn features(&self) -> usize {
        FEATURES
    }

    fn horizon(&self) -> usize {
        HORIZON
    }

    fn reset(&mut self, task: usize, seed: u64, state: &mut Vec<f64>) -> pimtl::Result<()> {
        self.rng = ChaCha8Rng::seed_from_u64(seed ^ task as u64);
        self.state = (0..ENTITIES * WINDOW * FEATURES)
            .map(|_| self.rng.random_range(0.0..1.0))
            .collect();
        state.clone_from(&self.state);
        Ok(())
    }

    fn step(&mut self, action: &[f64], state: &mut Vec<f64>) -> pimtl::Result<(f64, bool)> {
        let row = WINDOW * FEATURES;
        let reward = self
            .state
            .chunks_exact(row)
            .zip(action)
            .map(|(entity, w)| w * entity[row - 1])
            .sum();
        self.advance();
        state.clone_from(&self.state);
        Ok((reward, false))
    }
}

/// The policy of the federated experiment (`policy_config` in `src/experiments/federated.rs`).
fn federated_policy(hidden: usize) -> PolicyConfig {
    PolicyConfig {
        encoder: EncoderConfig::Recurrent {
            cell: Cell::Elman,
            features: STATE_FEATURES,
            hidden,
        },
        previous_allocation: false,
        pooled_context: false,
        score_hidden: 0,
        output_init_scale: 0.1,
    }
}

fn bench_ppo(c: &mut Criterion) {
    let policy = EquivariantPolicy::<f64>::new(federated_policy(10), 0).expect("valid policy");
    let config = PpoConfig {
        updates: usize::MAX,
        ..PpoConfig::default()
    };
    let warm_up = config.value_memory.div_ceil(HORIZON * config.episodes);
    let mut ppo = Ppo::new(policy, SyntheticEpisodes::new(4), MeanAbsTdError, config).expect("valid learner");
    for _ in 0..warm_up {
        ppo.step().expect("finite");
    }
    let mut group = c.benchmark_group("ppo");
    group.throughput(Throughput::Elements((HORIZON * ppo.config().episodes) as u64));
    group.bench_function("update", |b| {
        b.iter(|| black_box(ppo.step().expect("finite").loss))
    });

    let model = SoftmaxRegression::new(SIDE * SIDE, CLASSES).expect("valid model");
    let forward = softmax_forward_flops(&model);
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let pool = ClientPool {
        clients: (0..CLIENTS)
            .map(|_| synthetic_set(&mut rng, SAMPLES, model.input_len()))
            .collect(),
        is_rare: vec![false; CLIENTS],
    };
    let eval = synthetic_set(&mut rng, EVAL, model.input_len());
    let env_config = FederatedEnvConfig::paper(1_000_000, 3);
    let mut env = FederatedEnv::new(
        model,
        Arc::new(pool),
        vec![(0..CLIENTS).collect()],
        Arc::new(eval),
        env_config,
    )
    .expect("valid environment");
    let mut state = Vec::new();
    env.reset(0, 0, &mut state).expect("valid task");
    let weights = vec![1.0 / CLIENTS as f64; CLIENTS];
    let step_flops = round_flops(forward, model.num_params()) + (CLIENTS + 1) as u64 * EVAL as u64 * forward;
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(5));
    group.throughput(Throughput::Elements(step_flops));
    group.bench_function("federated_step_softmax", |b| {
        b.iter(|| {
            let (reward, done) = env.step(black_box(&weights), &mut state).expect("valid step");
            if done {
                env.reset(0, 0, &mut state).expect("valid task");
            }
            black_box(reward)
        })
    });
    group.finish();
}

criterion_group!(federated, bench_round, bench_client, bench_ppo);
criterion_main!(federated);
