//! The meta-federated-learning experiment of §A.2 (Fig. 6): aggregation policies learned by PPO
//! with STL (one fixed task) and MTL (tasks drawn from a universe of clients), against FedAvg, on
//! real images.
//!
//! Protocol:
//! 1. Load an MNIST-format data set (Fashion-MNIST from Debian's `dataset-fashion-mnist` by
//!    default). Build a universe of clients of `samples` images with the paper's skew: a fifth of
//!    the clients see only labels 6–9, the rest only labels 0–5 (`federated::skewed_universe`).
//!    Hold out `test_clients` of them (same ratio) for testing; the others are the training
//!    universe.
//! 2. The evaluation set of the state and reward: `eval_samples` random images of the test
//!    split. Testing: every image of the test split.
//! 3. Draw `train_tasks` tasks of the training universe (8 common + 2 rare-label clients each);
//!    the STL task is the first of them. Draw `test_tasks` tasks of held-out clients.
//! 4. Train the equivariant recurrent policy (Elman RNN, `hidden` units, over the `H` most recent
//!    accuracies) with PPO: STL on its task, MTL on tasks sampled from the training tasks (α = 0;
//!    P-MTL with `alpha > 0`), both for the same number of updates × episodes, i.e. the same
//!    number of environment steps.
//! 5. Test on every test task and on the STL task, each with one episode seed shared by all
//!    methods (so the clients' local training is identical): FedAvg with uniform weights, FedAvg
//!    with data-size weights (reported only when client sizes differ; equal sizes make it
//!    uniform), the fixed rare-half reweighting (the headroom; it knows the labels), and the two
//!    policies acting deterministically (the Dirichlet mean). Record the aggregate's accuracy on
//!    the full test split after every round and the weights given to every client.
//!
//! With `dirichlet_alpha = Some(α)` the universe is a Dirichlet(α) label partition instead
//! (`federated::dirichlet`; the first `train_clients` clients train, the rest are held out) and
//! tasks are uniform subsets of `clients_per_task` clients: the usual non-IID benchmark, for
//! studies beyond the paper's setup.
//!
//! Deterministic for a seed: every task, episode and draw derives from [`FederatedExperimentConfig::seed`];
//! local training is the same for any number of threads.

use super::runner::{self, ExperimentConfig};
use crate::data::idx::{load_dir, Dataset};
use crate::envs::federated::{ClientPool, FederatedEnv, FederatedEnvConfig, LabelledSet};
use crate::error::{Error, Result};
use crate::federated::client::{sgd_epoch, ClientModel, ConvNet, SoftmaxRegression};
use crate::federated::fedavg::{accuracy, rare_half_weights};
use crate::federated::partition::{dirichlet, draw_from_pools, gather, skewed_universe};
use crate::learn::dirichlet::DirichletPolicy;
use crate::learn::mtl::Mode;
use crate::learn::ppo::{allocation, EpisodicTaskEnv, Ppo, PpoConfig, UpdateStats};
use crate::plot::{line_chart, Series};
use crate::policy::{Cell, EncoderConfig, EquivariantPolicy, PolicyConfig, Workspace};
use crate::sampler::{MeanAbsTdError, SamplerConfig};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The client model of the experiment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
pub enum ClientKind {
    /// The paper's network: 5×5 convolution with 32 channels, ReLU, dense softmax output.
    Cnn,
    /// Softmax regression on the pixels (quick runs).
    Softmax,
}

/// Every setting of the federated experiment: the command line of `pimtl federated` (each
/// `default_value` is the full preset, the paper's setup with CNN clients and 50 rounds) and the
/// `config` object of its `config.json`.
#[derive(Clone, Debug, Serialize, Deserialize, clap::Args)]
pub struct FederatedExperimentConfig {
    /// Directory with train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte
    /// and t10k-labels-idx1-ubyte (each optionally .gz), e.g. MNIST proper.
    #[arg(long, default_value = crate::data::idx::FASHION_MNIST_DIR)]
    pub data: PathBuf,
    /// Client model: cnn (the paper's) or softmax.
    #[arg(long, value_enum, default_value_t = ClientKind::Cnn)]
    pub client: ClientKind,
    /// Federated rounds per episode (paper: 50).
    #[arg(long, default_value_t = 50)]
    pub rounds: usize,
    /// Local accuracies per client state H.
    #[arg(long, default_value_t = 3)]
    pub history: usize,
    /// Hidden units of the policy's RNN (paper: 10).
    #[arg(long, default_value_t = 10)]
    pub hidden: usize,
    /// The paper's plain state (each client's recent accuracies only), without the deviation of
    /// each accuracy from the task's mean.
    #[arg(long)]
    pub plain_state: bool,
    /// Clients of the training universe.
    #[arg(long, default_value_t = 50)]
    pub train_clients: usize,
    /// Held-out clients (never trained on) for the test tasks, drawn at the same rare-label ratio.
    #[arg(long, default_value_t = 20)]
    pub test_clients: usize,
    /// Clients per task (paper: 10).
    #[arg(long, default_value_t = 10)]
    pub clients_per_task: usize,
    /// Rare-label (6–9) clients per task (paper: 2); unused with a Dirichlet partition.
    #[arg(long, default_value_t = 2)]
    pub skewed: usize,
    /// Use a Dirichlet(ALPHA) label partition instead of the paper's skew (each client draws its
    /// label mix from Dirichlet(α, …, α); tasks are uniform subsets of clients; the rare-half
    /// baseline does not apply).
    #[arg(long = "dirichlet", value_name = "ALPHA", allow_negative_numbers = true)]
    pub dirichlet_alpha: Option<f64>,
    /// Training images per client (paper: 600).
    #[arg(long, default_value_t = 600)]
    pub samples: usize,
    /// Training tasks of MTL.
    #[arg(long, default_value_t = 32)]
    pub train_tasks: usize,
    /// Test tasks of held-out clients.
    #[arg(long, default_value_t = 2)]
    pub test_tasks: usize,
    /// Evaluation-set size (images of the test split) for states and rewards (paper: 1000).
    #[arg(long, default_value_t = 1000)]
    pub eval_samples: usize,
    /// Local epochs per round.
    #[arg(long, default_value_t = 1)]
    pub local_epochs: usize,
    /// Local minibatch.
    #[arg(long, default_value_t = 20)]
    pub local_batch: usize,
    /// Local SGD learning rate of the clients.
    #[arg(long, default_value_t = 0.05, allow_negative_numbers = true)]
    pub local_lr: f32,
    /// PPO iterations of each learner (STL and MTL).
    #[arg(long, default_value_t = 8)]
    pub updates: usize,
    /// Episodes per PPO iteration.
    #[arg(long, default_value_t = 2)]
    pub episodes: usize,
    /// PPO epochs per rollout.
    #[arg(long, default_value_t = 4)]
    pub ppo_epochs: usize,
    /// PPO minibatch (steps).
    #[arg(long, default_value_t = 25)]
    pub minibatch: usize,
    /// PPO Adam learning rate.
    #[arg(long, default_value_t = 0.03, allow_negative_numbers = true)]
    pub lr: f64,
    /// PPO discount γ (0.5: the weights of a round act mostly through that round's reward, and a
    /// short horizon keeps the advantage estimates of 50-round episodes from drowning in the
    /// exploration noise of later rounds).
    #[arg(long, default_value_t = 0.5, allow_negative_numbers = true)]
    pub gamma: f64,
    /// Dirichlet concentration κ of the exploration policy.
    #[arg(long, default_value_t = 20.0, allow_negative_numbers = true)]
    pub concentration: f64,
    /// Task prioritisation α (0: MTL with uniform tasks; > 0: P-MTL).
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub alpha: f64,
    /// Importance-sampling exponent β.
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    pub beta: f64,
    /// Seed of everything.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

impl ExperimentConfig for FederatedExperimentConfig {
    const NAME: &'static str = "federated";

    /// A first look (about 35 s on 2 cores): softmax-regression clients, 20 rounds, 40 PPO
    /// iterations of one episode per learner.
    fn quick_preset() -> serde_json::Value {
        serde_json::json!({ "client": "Softmax", "rounds": 20, "updates": 40, "episodes": 1 })
    }

    fn validate(&self) -> Result<()> {
        FederatedExperimentConfig::validate(self)
    }

    fn data_files(&self) -> Vec<PathBuf> {
        crate::data::idx::files_in(&self.data)
    }
}

impl FederatedExperimentConfig {
    /// The paper's setup (CNN clients, 50 rounds) on the image set in `data`: every
    /// `default_value` of the command line.
    pub fn full(data: &Path) -> Self {
        Self {
            data: data.to_path_buf(),
            ..runner::defaults::<Self>().expect("the defaults of `pimtl federated` parse")
        }
    }

    /// The full setup with [`ExperimentConfig::quick_preset`] applied.
    pub fn quick(data: &Path) -> Self {
        Self {
            data: data.to_path_buf(),
            ..runner::preset::<Self>(true).expect("the quick preset of `pimtl federated` parses")
        }
    }

    /// Checks the settings that can be checked without the data.
    ///
    /// # Errors
    /// Zero counts (including `H = 0`), `skewed ≥ clients_per_task`, too few held-out clients
    /// for a test task, learning rates or κ not finite and positive, `α < 0`, `β ∉ [0, 1]`.
    pub fn validate(&self) -> Result<()> {
        for (name, v) in [
            ("rounds", self.rounds),
            ("history", self.history),
            ("hidden", self.hidden),
            ("train_clients", self.train_clients),
            ("test_clients", self.test_clients),
            ("clients_per_task", self.clients_per_task),
            ("skewed", self.skewed),
            ("samples", self.samples),
            ("train_tasks", self.train_tasks),
            ("test_tasks", self.test_tasks),
            ("eval_samples", self.eval_samples),
            ("local_epochs", self.local_epochs),
            ("local_batch", self.local_batch),
            ("updates", self.updates),
            ("episodes", self.episodes),
            ("ppo_epochs", self.ppo_epochs),
            ("minibatch", self.minibatch),
        ] {
            if v == 0 {
                return Err(Error::param(name, v, "must be at least 1"));
            }
        }
        if self.skewed >= self.clients_per_task {
            return Err(Error::param(
                "skewed",
                self.skewed,
                format!("must be less than clients_per_task = {}", self.clients_per_task),
            ));
        }
        for (name, v) in [("lr", self.lr), ("concentration", self.concentration)] {
            if !(v.is_finite() && v > 0.0) {
                return Err(Error::param(name, v, "must be finite and > 0"));
            }
        }
        if !(self.local_lr.is_finite() && self.local_lr > 0.0) {
            return Err(Error::param("local_lr", self.local_lr, "must be finite and > 0"));
        }
        if !(self.alpha.is_finite() && self.alpha >= 0.0) {
            return Err(Error::param("alpha", self.alpha, "must be finite and ≥ 0"));
        }
        if !(self.gamma.is_finite() && (0.0..=1.0).contains(&self.gamma)) {
            return Err(Error::param("gamma", self.gamma, "must lie in [0, 1]"));
        }
        if !(self.beta.is_finite() && (0.0..=1.0).contains(&self.beta)) {
            return Err(Error::param("beta", self.beta, "must lie in [0, 1]"));
        }
        if let Some(a) = self.dirichlet_alpha {
            if !(a.is_finite() && a > 0.0) {
                return Err(Error::param("dirichlet_alpha", a, "must be finite and > 0"));
            }
            for (name, n) in [
                ("train_clients", self.train_clients),
                ("test_clients", self.test_clients),
            ] {
                if n < self.clients_per_task {
                    return Err(Error::param(
                        name,
                        n,
                        format!("cannot fill a task of {} clients", self.clients_per_task),
                    ));
                }
            }
            return Ok(());
        }
        let (tc, tr) = self.split_counts(self.test_clients);
        let need = (self.clients_per_task - self.skewed, self.skewed);
        if tc < need.0 || tr < need.1 {
            return Err(Error::param(
                "test_clients",
                self.test_clients,
                format!(
                    "{tc} common + {tr} rare-label held-out clients cannot fill a test task of {} + {}",
                    need.0, need.1
                ),
            ));
        }
        let (cc, cr) = self.split_counts(self.train_clients);
        if cc < need.0 || cr < need.1 {
            return Err(Error::param(
                "train_clients",
                self.train_clients,
                format!(
                    "{cc} common + {cr} rare-label training clients cannot fill a task of {} + {}",
                    need.0, need.1
                ),
            ));
        }
        Ok(())
    }

    /// `(common, rare)` clients among `n` at the paper's ratio: `rare = round(n · skewed / m)`.
    fn split_counts(&self, n: usize) -> (usize, usize) {
        let rare = (n * self.skewed * 2 + self.clients_per_task) / (2 * self.clients_per_task);
        (n - rare.min(n), rare)
    }

    fn env_config(&self) -> FederatedEnvConfig {
        FederatedEnvConfig {
            rounds: self.rounds,
            history: self.history,
            epochs: self.local_epochs,
            batch: self.local_batch,
            lr: self.local_lr,
            deviation: !self.plain_state,
        }
    }

    fn ppo_config(&self, mode: Mode) -> PpoConfig {
        PpoConfig {
            mode,
            updates: self.updates,
            episodes: self.episodes,
            epochs: self.ppo_epochs,
            minibatch: self.minibatch,
            dirichlet: DirichletPolicy {
                concentration: self.concentration,
                floor: 0.5,
            },
            lr: self.lr,
            gamma: self.gamma,
            sampler: SamplerConfig {
                alpha: self.alpha,
                beta: self.beta,
                ..SamplerConfig::default()
            },
            eval_every: self.updates,
            seed: self.seed ^ 0x5eed_0ff5,
            ..PpoConfig::default()
        }
    }

    fn policy_config(&self) -> PolicyConfig {
        PolicyConfig {
            encoder: EncoderConfig::Recurrent {
                cell: Cell::Elman,
                features: self.env_config().features(),
                hidden: self.hidden,
            },
            previous_allocation: false,
            pooled_context: false,
            score_hidden: 0,
            // Start near the uniform average, i.e. near FedAvg.
            output_init_scale: 0.1,
        }
    }
}

/// The data as the experiment uses it.
#[derive(Debug)]
pub struct Prepared {
    /// The universe: training clients first, then held-out clients.
    pub pool: Arc<ClientPool>,
    /// Training tasks (the STL task is the first).
    pub train_tasks: Vec<Vec<usize>>,
    /// Test tasks of held-out clients.
    pub test_tasks: Vec<Vec<usize>>,
    /// The evaluation set (state and reward).
    pub eval: Arc<LabelledSet>,
    /// The full test split.
    pub test: LabelledSet,
    /// Image height and width.
    pub image: (usize, usize),
}

/// Builds the universe, the tasks and the evaluation and test sets from a loaded data set.
///
/// # Errors
/// Labels outside 0–9; a universe the training split cannot fill (too many clients or samples);
/// an evaluation set larger than the test split.
pub fn prepare(cfg: &FederatedExperimentConfig, data: &Dataset) -> Result<Prepared> {
    cfg.validate()?;
    let total = cfg.train_clients + cfg.test_clients;
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x7a5c);
    let (partition, is_rare, train_tasks, test_tasks) = match cfg.dirichlet_alpha {
        Some(alpha) => {
            let partition = dirichlet(&data.train_labels.labels, total, cfg.samples, alpha, cfg.seed)?;
            let m = cfg.clients_per_task;
            let draw = |lo: usize, n: usize, rng: &mut ChaCha8Rng| {
                let mut v: Vec<usize> = rand::seq::index::sample(rng, n, m)
                    .iter()
                    .map(|j| lo + j)
                    .collect();
                v.sort_unstable();
                v
            };
            let train: Vec<Vec<usize>> = (0..cfg.train_tasks)
                .map(|_| draw(0, cfg.train_clients, &mut rng))
                .collect();
            let test: Vec<Vec<usize>> = (0..cfg.test_tasks)
                .map(|_| draw(cfg.train_clients, cfg.test_clients, &mut rng))
                .collect();
            (partition, vec![false; total], train, test)
        }
        None => {
            let universe = skewed_universe(
                &data.train_labels.labels,
                total,
                cfg.clients_per_task,
                cfg.skewed,
                cfg.samples,
                cfg.seed,
            )?;
            let common = universe.common_clients();
            let rare = universe.rare_clients();
            let (test_common, test_rare) = cfg.split_counts(cfg.test_clients);
            if common.len() < test_common + (cfg.clients_per_task - cfg.skewed)
                || rare.len() < test_rare + cfg.skewed
            {
                return Err(Error::param(
                    "train_clients",
                    cfg.train_clients,
                    "too few training clients of one kind left after holding out the test clients",
                ));
            }
            // Held out: the last clients of each kind (the universe's clients are already shuffled).
            let (train_common, held_common) = common.split_at(common.len() - test_common);
            let (train_rare, held_rare) = rare.split_at(rare.len() - test_rare);
            let n_common = cfg.clients_per_task - cfg.skewed;
            let train = (0..cfg.train_tasks)
                .map(|_| draw_from_pools(train_common, train_rare, n_common, cfg.skewed, &mut rng))
                .collect();
            let test = (0..cfg.test_tasks)
                .map(|_| draw_from_pools(held_common, held_rare, n_common, cfg.skewed, &mut rng))
                .collect();
            (universe.partition, universe.is_rare, train, test)
        }
    };
    let mut clients = Vec::with_capacity(total);
    for idx in &partition.clients {
        let (images, labels) = gather(&data.train_images, &data.train_labels, idx)?;
        clients.push(LabelledSet { images, labels });
    }
    let pool = Arc::new(ClientPool { clients, is_rare });
    let n_test = data.test_labels.len();
    if cfg.eval_samples > n_test {
        return Err(Error::param(
            "eval_samples",
            cfg.eval_samples,
            format!("the test split has only {n_test} images"),
        ));
    }
    let mut eval_idx: Vec<usize> = rand::seq::index::sample(&mut rng, n_test, cfg.eval_samples).into_vec();
    eval_idx.sort_unstable();
    let (images, labels) = gather(&data.test_images, &data.test_labels, &eval_idx)?;
    let eval = Arc::new(LabelledSet { images, labels });
    let all: Vec<usize> = (0..n_test).collect();
    let (images, labels) = gather(&data.test_images, &data.test_labels, &all)?;
    Ok(Prepared {
        pool,
        train_tasks,
        test_tasks,
        eval,
        test: LabelledSet { images, labels },
        image: (data.train_images.rows, data.train_images.cols),
    })
}

/// One test episode of one method on one task.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TestRun {
    /// `fedavg`, `fedavg_datasize`, `rare_half`, `stl` or `mtl`.
    pub method: String,
    /// `held_out` or `stl_task`.
    pub task_set: String,
    /// Index of the task in its set.
    pub task: usize,
    /// Universe indices of the task's clients.
    pub clients: Vec<usize>,
    /// Which of them are rare-label clients.
    pub is_rare: Vec<bool>,
    /// Reward (evaluation-set accuracy) after each round.
    pub eval_accuracy: Vec<f64>,
    /// Accuracy on the full test split after each round.
    pub test_accuracy: Vec<f64>,
    /// Weights given to each client in each round, `[round][client]`.
    pub weights: Vec<Vec<f64>>,
}

/// Everything the experiment measured.
#[derive(Clone, Debug, Serialize)]
pub struct FederatedResults {
    /// The settings.
    pub config: FederatedExperimentConfig,
    /// Parameters of the client model.
    pub client_params: usize,
    /// Test episodes.
    pub runs: Vec<TestRun>,
    /// PPO statistics of the STL learner, per iteration.
    pub stl_training: Vec<UpdateStats>,
    /// PPO statistics of the MTL learner, per iteration.
    pub mtl_training: Vec<UpdateStats>,
    /// Wall time of each phase (s): data, stl, mtl, test.
    pub phase_seconds: Vec<(String, f64)>,
    /// Total wall time (s).
    pub seconds: f64,
    /// The trained policies' parameters (STL, MTL).
    #[serde(skip)]
    pub policies: Vec<(String, EquivariantPolicy<f64>)>,
}

/// Per round of one test episode: evaluation-set accuracy, test-split accuracy, weights.
type EpisodeRecord = (Vec<f64>, Vec<f64>, Vec<Vec<f64>>);

/// Runs one test episode with weights from `choose(state)`, recording test accuracy and weights.
fn test_episode<M: ClientModel>(
    env: &mut FederatedEnv<M>,
    task: usize,
    seed: u64,
    test: &LabelledSet,
    mut choose: impl FnMut(&[f64]) -> Result<Vec<f64>>,
) -> Result<EpisodeRecord> {
    let mut state = Vec::new();
    env.reset(task, seed, &mut state)?;
    let (mut eval_acc, mut test_acc, mut weights) = (Vec::new(), Vec::new(), Vec::new());
    loop {
        let w = choose(&state)?;
        let (r, done) = env.step(&w, &mut state)?;
        eval_acc.push(r);
        let global = env.global().unwrap_or_default();
        test_acc.push(accuracy(env.model(), global, &test.images, &test.labels)?);
        weights.push(w);
        if done {
            return Ok((eval_acc, test_acc, weights));
        }
    }
}

/// Centralised training on the pooled data of `clients`, the upper bound of any aggregation: the
/// model starts from the episode's initial parameters (`init(seed)`) and makes `rounds` rounds of
/// `local_epochs` SGD epochs over the union of the clients' samples (same minibatch and learning
/// rate as a client). Returns the accuracy on the evaluation set and on the test set after each
/// round.
fn centralised<M: ClientModel>(
    model: &M,
    prep: &Prepared,
    clients: &[usize],
    seed: u64,
    cfg: &FederatedExperimentConfig,
    test: &LabelledSet,
) -> Result<(Vec<f64>, Vec<f64>)> {
    let (mut images, mut labels) = (Vec::new(), Vec::new());
    for &k in clients {
        images.extend_from_slice(&prep.pool.clients[k].images);
        labels.extend_from_slice(&prep.pool.clients[k].labels);
    }
    let mut theta = model.init(seed);
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xce47_7a15);
    let (mut eval_acc, mut test_acc) = (Vec::with_capacity(cfg.rounds), Vec::with_capacity(cfg.rounds));
    for _ in 0..cfg.rounds {
        for _ in 0..cfg.local_epochs {
            sgd_epoch(
                model,
                &mut theta,
                &images,
                &labels,
                cfg.local_batch,
                cfg.local_lr,
                &mut rng,
            )?;
        }
        eval_acc.push(accuracy(model, &theta, &prep.eval.images, &prep.eval.labels)?);
        test_acc.push(accuracy(model, &theta, &test.images, &test.labels)?);
    }
    Ok((eval_acc, test_acc))
}

/// Runs the experiment (see the module docs); `progress` receives one line per phase and per
/// tenth of each training run.
///
/// # Errors
/// Invalid settings, unreadable or invalid data (named by file), a universe the data cannot fill,
/// a diverging learner.
pub fn run(cfg: &FederatedExperimentConfig, progress: impl Fn(&str)) -> Result<FederatedResults> {
    run_in(cfg, None, progress)
}

/// A trained learner as saved for `--resume`: parameters and training history with floats as
/// bit patterns.
#[derive(Serialize, Deserialize)]
struct LearnerCheckpoint {
    params: Vec<u64>,
    /// `UpdateStats` in field order: iteration, task, weight, mean_return, final_reward, loss,
    /// clip_fraction, approx_kl, explained_variance, entropy, env_steps.
    history: Vec<[u64; 11]>,
}

impl LearnerCheckpoint {
    fn new(params: &[f64], history: &[UpdateStats]) -> Self {
        LearnerCheckpoint {
            params: params.iter().map(|p| p.to_bits()).collect(),
            history: history
                .iter()
                .map(|h| {
                    [
                        h.iteration as u64,
                        h.task as u64,
                        h.weight.to_bits(),
                        h.mean_return.to_bits(),
                        h.final_reward.to_bits(),
                        h.loss.to_bits(),
                        h.clip_fraction.to_bits(),
                        h.approx_kl.to_bits(),
                        h.explained_variance.to_bits(),
                        h.entropy.to_bits(),
                        h.env_steps as u64,
                    ]
                })
                .collect(),
        }
    }

    fn history(&self) -> Vec<UpdateStats> {
        self.history
            .iter()
            .map(|h| UpdateStats {
                iteration: h[0] as usize,
                task: h[1] as usize,
                weight: f64::from_bits(h[2]),
                mean_return: f64::from_bits(h[3]),
                final_reward: f64::from_bits(h[4]),
                loss: f64::from_bits(h[5]),
                clip_fraction: f64::from_bits(h[6]),
                approx_kl: f64::from_bits(h[7]),
                explained_variance: f64::from_bits(h[8]),
                entropy: f64::from_bits(h[9]),
                env_steps: h[10] as usize,
            })
            .collect()
    }
}

/// [`run`] with checkpoints in `folder`: each trained learner (STL, MTL) and each test task's
/// episodes are saved when finished and read back by a resumed run instead of recomputed.
///
/// # Errors
/// As [`run`], and a checkpoint that cannot be written or read.
pub fn run_in(
    cfg: &FederatedExperimentConfig,
    folder: Option<&runner::ResultFolder>,
    progress: impl Fn(&str),
) -> Result<FederatedResults> {
    cfg.validate()?;
    let started = std::time::Instant::now();
    let data = load_dir(&cfg.data)?;
    let (rows, cols) = (data.train_images.rows, data.train_images.cols);
    match cfg.client {
        ClientKind::Cnn => run_with(cfg, ConvNet::paper(rows, cols)?, &data, started, folder, progress),
        ClientKind::Softmax => run_with(
            cfg,
            SoftmaxRegression::new(rows * cols, 10)?,
            &data,
            started,
            folder,
            progress,
        ),
    }
}

fn run_with<M: ClientModel + Clone>(
    cfg: &FederatedExperimentConfig,
    model: M,
    data: &Dataset,
    started: std::time::Instant,
    folder: Option<&runner::ResultFolder>,
    progress: impl Fn(&str),
) -> Result<FederatedResults> {
    let prep = prepare(cfg, data)?;
    let mut phases = vec![("data".to_string(), started.elapsed().as_secs_f64())];
    progress(&format!(
        "federated: {} training + {} held-out clients of {} images ({}×{}), {} training tasks, {} test tasks, {} rounds, H = {}, {} client parameters",
        cfg.train_clients,
        cfg.test_clients,
        cfg.samples,
        prep.image.0,
        prep.image.1,
        cfg.train_tasks,
        cfg.test_tasks,
        cfg.rounds,
        cfg.history,
        model.num_params()
    ));
    let env_cfg = cfg.env_config();
    let mut trained = Vec::new();
    let mut training = Vec::new();
    for (name, mode, tasks) in [
        ("stl", Mode::Stl, vec![prep.train_tasks[0].clone()]),
        (
            "mtl",
            if cfg.alpha > 0.0 { Mode::PMtl } else { Mode::Mtl },
            prep.train_tasks.clone(),
        ),
    ] {
        let t0 = std::time::Instant::now();
        let env = FederatedEnv::new(
            model.clone(),
            prep.pool.clone(),
            tasks,
            prep.eval.clone(),
            env_cfg,
        )?;
        let policy = EquivariantPolicy::<f64>::new(cfg.policy_config(), cfg.seed)?;
        let mut ppo = Ppo::new(policy, env, MeanAbsTdError, cfg.ppo_config(mode))?;
        let every = cfg.updates.div_ceil(10).max(1);
        let key = format!("learner-{name}");
        let saved = folder
            .and_then(|f| f.saved::<LearnerCheckpoint>(&key).transpose())
            .transpose()?;
        if let Some(c) = saved {
            let params: Vec<f64> = c.params.iter().map(|&b| f64::from_bits(b)).collect();
            let policy = EquivariantPolicy::<f64>::from_params(cfg.policy_config(), params)?;
            phases.push((name.to_string(), 0.0));
            training.push(c.history());
            trained.push((name.to_string(), policy, ppo.config().clone()));
            progress(&format!("{name}: read back from its checkpoint"));
            continue;
        }
        while ppo.iteration() < cfg.updates {
            let s = ppo.step()?;
            if s.iteration % every == 0 || s.iteration == cfg.updates {
                progress(&format!(
                    "{name}: update {}/{}, task {}, return {:.3}, final accuracy {:.3}, clip {:.2}, KL {:.4}, {} env steps, {:.1} s",
                    s.iteration,
                    cfg.updates,
                    s.task,
                    s.mean_return,
                    s.final_reward,
                    s.clip_fraction,
                    s.approx_kl,
                    s.env_steps,
                    t0.elapsed().as_secs_f64()
                ));
            }
        }
        phases.push((name.to_string(), t0.elapsed().as_secs_f64()));
        if let Some(f) = folder {
            f.save(&key, &LearnerCheckpoint::new(ppo.policy.params(), ppo.history()))?;
        }
        training.push(ppo.history().to_vec());
        trained.push((name.to_string(), ppo.policy.clone(), ppo.config().clone()));
    }

    // Testing.
    let t0 = std::time::Instant::now();
    let mut test_sets = vec![("held_out", prep.test_tasks.clone())];
    test_sets.push(("stl_task", vec![prep.train_tasks[0].clone()]));
    let mut runs = Vec::new();
    for (set_name, tasks) in test_sets {
        let mut env = FederatedEnv::new(
            model.clone(),
            prep.pool.clone(),
            tasks.clone(),
            prep.eval.clone(),
            env_cfg,
        )?;
        for (t, clients) in tasks.iter().enumerate() {
            let key = format!("test-{set_name}-{t}");
            if let Some(done) = folder
                .and_then(|f| f.saved::<Vec<TestRun>>(&key).transpose())
                .transpose()?
            {
                runs.extend(done);
                continue;
            }
            let first_run = runs.len();
            let seed = cfg.seed.wrapping_add(0x7e57_0000 + t as u64) ^ u64::from(set_name == "stl_task");
            let is_rare: Vec<bool> = clients.iter().map(|&k| prep.pool.is_rare[k]).collect();
            let sizes: Vec<usize> = clients.iter().map(|&k| prep.pool.clients[k].len()).collect();
            let m = clients.len();
            let mut methods: Vec<(String, Option<Vec<f64>>)> =
                vec![("fedavg".into(), Some(vec![1.0 / m as f64; m]))];
            if sizes.iter().any(|&s| s != sizes[0]) {
                let total: usize = sizes.iter().sum();
                methods.push((
                    "fedavg_datasize".into(),
                    Some(sizes.iter().map(|&s| s as f64 / total as f64).collect()),
                ));
            }
            if let Ok(w) = rare_half_weights(&is_rare) {
                methods.push(("rare_half".into(), Some(w)));
            }
            methods.push(("stl".into(), None));
            methods.push(("mtl".into(), None));
            // The upper bound: the same model trained centrally on the union of the task's
            // clients' data, one pass over it per round (as many passes as every client makes).
            methods.push(("centralised".into(), None));
            for (method, fixed) in methods {
                let (eval_accuracy, test_accuracy, weights) = match fixed {
                    Some(w) => test_episode(&mut env, t, seed, &prep.test, |_| Ok(w.clone()))?,
                    None if method == "centralised" => {
                        let (e, a) = centralised(&model, &prep, clients, seed, cfg, &prep.test)?;
                        (e, a, Vec::new())
                    }
                    None => {
                        let (_, policy, pcfg) = trained
                            .iter()
                            .find(|(n, _, _)| *n == method)
                            .ok_or_else(|| Error::param("method", &method, "no such policy"))?;
                        // The deterministic policy: the Dirichlet mean of π_θ(x).
                        let mut ws = Workspace::new();
                        test_episode(&mut env, t, seed, &prep.test, |state| {
                            let a = allocation(policy, state, m, cfg.history, &mut ws)?;
                            let mut w = vec![0.0; m];
                            pcfg.dirichlet.mean(&a, &mut w);
                            Ok(w)
                        })?
                    }
                };
                progress(&format!(
                    "test {set_name} task {t}: {method:<9} accuracy after round 1 {:.3}, round {} {:.3}",
                    test_accuracy.first().copied().unwrap_or(f64::NAN),
                    test_accuracy.len(),
                    test_accuracy.last().copied().unwrap_or(f64::NAN)
                ));
                runs.push(TestRun {
                    method,
                    task_set: set_name.to_string(),
                    task: t,
                    clients: clients.clone(),
                    is_rare: is_rare.clone(),
                    eval_accuracy,
                    test_accuracy,
                    weights,
                });
            }
            if let Some(f) = folder {
                f.save(&key, &runs[first_run..].to_vec())?;
            }
        }
    }
    phases.push(("test".to_string(), t0.elapsed().as_secs_f64()));
    let mut training = training.into_iter();
    Ok(FederatedResults {
        config: cfg.clone(),
        client_params: model.num_params(),
        runs,
        stl_training: training.next().unwrap_or_default(),
        mtl_training: training.next().unwrap_or_default(),
        phase_seconds: phases,
        seconds: started.elapsed().as_secs_f64(),
        policies: trained.into_iter().map(|(n, p, _)| (n, p)).collect(),
    })
}

/// Mean over the runs of `method` on `task_set` of the per-round test accuracy.
pub fn mean_curve(res: &FederatedResults, method: &str, task_set: &str) -> Vec<f64> {
    let runs: Vec<&TestRun> = res
        .runs
        .iter()
        .filter(|r| r.method == method && r.task_set == task_set)
        .collect();
    let Some(first) = runs.first() else {
        return Vec::new();
    };
    (0..first.test_accuracy.len())
        .map(|n| runs.iter().map(|r| r.test_accuracy[n]).sum::<f64>() / runs.len() as f64)
        .collect()
}

/// The methods present in the results, in the order they were run.
fn methods(res: &FederatedResults) -> Vec<String> {
    let mut m: Vec<String> = Vec::new();
    for r in &res.runs {
        if !m.contains(&r.method) {
            m.push(r.method.clone());
        }
    }
    m
}

/// Per method and task set: mean test accuracy at rounds 1, 5, 10, the last round, and over all
/// rounds (the area under the curve, what the return rewards); mean weight of the rare clients.
pub fn summary(res: &FederatedResults) -> serde_json::Value {
    let mut out = serde_json::Map::new();
    for set in ["held_out", "stl_task"] {
        let mut per = serde_json::Map::new();
        for method in methods(res) {
            let curve = mean_curve(res, &method, set);
            if curve.is_empty() {
                continue;
            }
            let at = |r: usize| curve.get(r - 1).copied();
            let runs: Vec<&TestRun> = res
                .runs
                .iter()
                .filter(|r| r.method == method && r.task_set == set)
                .collect();
            let mut rare_weight = 0.0;
            let mut count = 0.0;
            for r in &runs {
                for w in &r.weights {
                    rare_weight += w
                        .iter()
                        .zip(&r.is_rare)
                        .filter(|(_, &x)| x)
                        .map(|(v, _)| v)
                        .sum::<f64>();
                    count += 1.0;
                }
            }
            per.insert(
                method.clone(),
                serde_json::json!({
                    "round_1": at(1),
                    "round_5": at(5),
                    "round_10": at(10),
                    "final": curve.last(),
                    "mean_over_rounds": curve.iter().sum::<f64>() / curve.len() as f64,
                    "rare_clients_total_weight": (count > 0.0).then(|| rare_weight / count),
                    "tasks": runs.len(),
                }),
            );
        }
        if !per.contains_key("fedavg_datasize") && per.contains_key("fedavg") {
            per.insert(
                "fedavg_datasize".to_string(),
                serde_json::json!("equal to fedavg: every client holds the same number of samples, so data-size weights are uniform"),
            );
        }
        out.insert(set.to_string(), serde_json::Value::Object(per));
    }
    serde_json::Value::Object(out)
}

/// A plain-text table of [`summary`] for the terminal.
pub fn summary_table(res: &FederatedResults) -> String {
    let s = summary(res);
    let mut t = String::from(
        "task set   method           round 1  round 5  round 10   final   mean    rare weight\n",
    );
    for set in ["held_out", "stl_task"] {
        if let Some(obj) = s.get(set).and_then(|v| v.as_object()) {
            for (method, v) in obj {
                if let Some(note) = v.as_str() {
                    t.push_str(&format!("{set:<10} {method:<16} {note}\n"));
                    continue;
                }
                // A value, or "-" for a round past the horizon.
                let f = |k: &str| {
                    v.get(k)
                        .and_then(|x| x.as_f64())
                        .map_or_else(|| "-".to_string(), |x| format!("{x:.3}"))
                };
                t.push_str(&format!(
                    "{set:<10} {method:<16} {:>7}  {:>7}  {:>8}  {:>6}  {:>6}  {:>10}\n",
                    f("round_1"),
                    f("round_5"),
                    f("round_10"),
                    f("final"),
                    f("mean_over_rounds"),
                    f("rare_clients_total_weight")
                ));
            }
        }
    }
    t
}

/// Writes the results folder: `accuracy.csv`, `weights.csv`, `metrics.csv`, `summary.json`,
/// `setup.json`, `phases.json` (wall time per phase, not reproducible), `policy_stl.json`, `policy_mtl.json` and the figures `accuracy.svg` (Fig. 6,
/// left), `accuracy_stl_task.svg`, `weights_stl.svg`, `weights_mtl.svg` (Fig. 6, right) and
/// `training.svg`. Every file is written to a temporary name and renamed.
///
/// # Errors
/// The folder cannot be created or a file written.
pub fn write_results(res: &FederatedResults, out: &Path) -> Result<()> {
    crate::io::create_out_dir(out)?;
    let json = |v: &serde_json::Value| serde_json::to_vec_pretty(v).unwrap_or_default();
    crate::io::write_atomic(
        &out.join("setup.json"),
        &json(&serde_json::json!({ "client_params": res.client_params })),
    )?;
    let mut acc = String::from("method,task_set,task,round,eval_accuracy,test_accuracy\n");
    let mut wcsv = String::from("method,task_set,task,round,client,universe_client,rare,weight\n");
    for r in &res.runs {
        for (n, (e, t)) in r.eval_accuracy.iter().zip(&r.test_accuracy).enumerate() {
            acc.push_str(&format!(
                "{},{},{},{},{e},{t}\n",
                r.method,
                r.task_set,
                r.task,
                n + 1
            ));
        }
        for (n, w) in r.weights.iter().enumerate() {
            for (i, v) in w.iter().enumerate() {
                wcsv.push_str(&format!(
                    "{},{},{},{},{i},{},{},{v}\n",
                    r.method,
                    r.task_set,
                    r.task,
                    n + 1,
                    r.clients[i],
                    r.is_rare[i]
                ));
            }
        }
    }
    crate::io::write_atomic(&out.join("accuracy.csv"), acc.as_bytes())?;
    crate::io::write_atomic(&out.join("weights.csv"), wcsv.as_bytes())?;
    let mut m = String::from(
        "policy,iteration,task,is_weight,mean_return,final_reward,loss,clip_fraction,approx_kl,explained_variance,entropy,env_steps\n",
    );
    for (name, hist) in [("stl", &res.stl_training), ("mtl", &res.mtl_training)] {
        for s in hist {
            m.push_str(&format!(
                "{name},{},{},{},{},{},{},{},{},{},{},{}\n",
                s.iteration,
                s.task,
                s.weight,
                s.mean_return,
                s.final_reward,
                s.loss,
                s.clip_fraction,
                s.approx_kl,
                s.explained_variance,
                s.entropy,
                s.env_steps
            ));
        }
    }
    crate::io::write_atomic(&out.join("metrics.csv"), m.as_bytes())?;
    crate::io::write_atomic(
        &out.join("summary.json"),
        &json(&serde_json::json!({
            "client_params": res.client_params,
            "summary": summary(res),
        })),
    )?;
    crate::io::write_atomic(
        &out.join("phases.json"),
        &json(&serde_json::json!({ "seconds": res.seconds, "phase_seconds": res.phase_seconds })),
    )?;
    for (name, policy) in &res.policies {
        policy.save(&out.join(format!("policy_{name}.json")))?;
    }
    // Figures.
    for (set, file, title) in [
        (
            "held_out",
            "accuracy.svg",
            "Test accuracy of the aggregate, held-out clients (mean over tasks)",
        ),
        (
            "stl_task",
            "accuracy_stl_task.svg",
            "Test accuracy of the aggregate, the STL task",
        ),
    ] {
        let series: Vec<Series> = methods(res)
            .iter()
            .map(|mth| {
                let c = mean_curve(res, mth, set);
                Series::new(
                    mth.as_str(),
                    c.iter().enumerate().map(|(n, &v)| ((n + 1) as f64, v)).collect(),
                )
            })
            .filter(|s| !s.points.is_empty())
            .collect();
        line_chart(&out.join(file), title, "round", "test accuracy", &series)?;
    }
    for method in ["stl", "mtl"] {
        if let Some(r) = res
            .runs
            .iter()
            .find(|r| r.method == method && r.task_set == "held_out" && r.task == 0)
        {
            let series: Vec<Series> = (0..r.clients.len())
                .map(|i| {
                    let label = if r.is_rare[i] {
                        format!("client {i} (labels 6–9)")
                    } else {
                        format!("client {i}")
                    };
                    Series::new(
                        label,
                        r.weights
                            .iter()
                            .enumerate()
                            .map(|(n, w)| ((n + 1) as f64, w[i]))
                            .collect(),
                    )
                })
                .collect();
            line_chart(
                &out.join(format!("weights_{method}.svg")),
                &format!("Weights of the {} policy, held-out task 0", method.to_uppercase()),
                "round",
                "weight",
                &series,
            )?;
        }
    }
    let training: Vec<Series> = [("STL", &res.stl_training), ("MTL", &res.mtl_training)]
        .iter()
        .map(|(n, h)| {
            Series::new(
                *n,
                h.iter().map(|s| (s.env_steps as f64, s.mean_return)).collect(),
            )
        })
        .collect();
    line_chart(
        &out.join("training.svg"),
        "PPO training: episode return (sum of evaluation accuracies)",
        "environment steps (rounds)",
        "return",
        &training,
    )?;
    Ok(())
}
