//! The meta-federated-learning environment of §A.2 (Fig. 6).
//!
//! A **universe** of federated clients ([`ClientPool`]) — each a set of labelled images — and a
//! list of **tasks**, each a set of `m` clients of the universe (10 in the paper). An episode of
//! task `t` is one federated-learning run of `N` rounds (50 in the paper) from a fresh global
//! model `θ_0`:
//!
//! ```text
//! round n = 1 … N:
//!   v_{i,n} = LocalSGD(θ_{n−1}, data_i)           for every client i of the task (in parallel)
//!   x_{i,n} = (acc(v_{i,n−H+1}), …, acc(v_{i,n}))  state: the H most recent local accuracies
//!   a_n     = policy(x_n)                           action: averaging weights on the simplex
//!   θ_n     = Σ_i a_{i,n} v_{i,n}                   aggregate
//!   r_n     = acc(θ_n)                              reward: accuracy on the evaluation set
//! ```
//!
//! `acc` is the accuracy on a small evaluation set (1000 samples of the test split in the paper);
//! before `H` rounds have passed, the missing history is filled with the first round's accuracy.
//! Each step of a client's state carries two features ([`STATE_FEATURES`]): the accuracy itself
//! and `10 · (acc_i − mean_j acc_j)`, its deviation from the mean over the task's clients in that
//! round. The second is a function of the accuracies the paper's state holds, computed the same
//! way for every client, so the policy stays permutation-equivariant; it hands the network the
//! comparison between clients (which client is unusual) at a usable scale instead of making the
//! per-client encoder, which sees one client at a time, infer it from raw values that differ by a
//! few hundredths. `FederatedEnvConfig::deviation = false` gives the paper's plain state (one
//! feature, the accuracy).
//! The episode's randomness — the initial model `θ_0 = model.init(seed)` and the seeds of the local
//! SGD of every round — is fixed by the episode seed, so the same seed with the same weights
//! replays the same run: two aggregation policies are compared on identical client training, and
//! with uniform weights an episode reproduces [`crate::federated::run_federated`] exactly.

use crate::error::{Error, Result};
use crate::federated::client::{local_training, weighted_average, ClientModel};
use crate::federated::fedavg::accuracy;
use crate::learn::ppo::EpisodicTaskEnv;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use std::sync::Arc;

/// Features per client and step of the state with the deviation feature (the default): the
/// accuracy and its scaled deviation from the task's mean. Without it
/// ([`FederatedEnvConfig::deviation`] `= false`, the paper's plain state) there is one.
pub const STATE_FEATURES: usize = 2;

/// Scale of the deviation feature: accuracy differences between clients are a few hundredths to
/// a few tenths; ×10 puts them on the scale of the network's tanh units.
pub const DEVIATION_SCALE: f64 = 10.0;

/// Labelled images of one client or of an evaluation set: `images` row-major
/// `[samples][input_len]`, `labels` one per sample.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LabelledSet {
    /// Pixel values.
    pub images: Vec<f32>,
    /// Class labels.
    pub labels: Vec<u8>,
}

impl LabelledSet {
    /// Number of samples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the set has no samples.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Checks the set against a model: not empty, `input_len` values per sample, labels in
    /// `0..classes`, finite pixels. `what` names the set in errors (e.g. `"client 3"`).
    ///
    /// # Errors
    /// The first violation found, as [`Error::InvalidParameter`] named `"data"`.
    pub fn validate(&self, what: &str, input_len: usize, classes: usize) -> Result<()> {
        if self.labels.is_empty() {
            return Err(Error::param("data", what, "has no samples"));
        }
        if self.images.len() != self.labels.len() * input_len {
            return Err(Error::param(
                "data",
                what,
                format!(
                    "holds {} values for {} samples: images must have {input_len} values each (the model's input size)",
                    self.images.len(),
                    self.labels.len()
                ),
            ));
        }
        if let Some(j) = self.labels.iter().position(|&y| y as usize >= classes) {
            return Err(Error::param(
                "data",
                what,
                format!(
                    "label {} at sample {j}: labels must lie in 0..{classes}",
                    self.labels[j]
                ),
            ));
        }
        if let Some(j) = self.images.iter().position(|v| !v.is_finite()) {
            return Err(Error::param(
                "data",
                what,
                format!(
                    "pixel value {} at sample {}: must be finite",
                    self.images[j],
                    j / input_len.max(1)
                ),
            ));
        }
        Ok(())
    }
}

/// The universe of clients: each client's data, and whether it is a rare-label client of the
/// paper's skew (all `false` for other partitions).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClientPool {
    /// `clients[k]`: the samples of universe client `k`.
    pub clients: Vec<LabelledSet>,
    /// `is_rare[k]`: client `k` sees only labels 6–9.
    pub is_rare: Vec<bool>,
}

/// Settings of the federated environment.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FederatedEnvConfig {
    /// Rounds per episode `N` (paper: 50).
    pub rounds: usize,
    /// Local accuracies per client state `H` (≥ 1).
    pub history: usize,
    /// Local epochs per round.
    pub epochs: usize,
    /// Local minibatch size.
    pub batch: usize,
    /// Local SGD learning rate.
    pub lr: f32,
    /// Add each accuracy's scaled deviation from the task's mean to the state (see the module
    /// docs); `false` gives the paper's plain state of accuracies.
    pub deviation: bool,
}

impl FederatedEnvConfig {
    /// Features per client and step of the state: 2 with the deviation feature, 1 without.
    pub fn features(&self) -> usize {
        if self.deviation {
            STATE_FEATURES
        } else {
            1
        }
    }

    /// The reference client training (1 local epoch, batch 20, learning rate 0.05; see
    /// `../shared/notes/federated-references.md`) with `rounds` rounds and history `H`.
    pub fn paper(rounds: usize, history: usize) -> Self {
        Self {
            rounds,
            history,
            epochs: 1,
            batch: 20,
            lr: 0.05,
            deviation: true,
        }
    }

    /// Checks the settings.
    ///
    /// # Errors
    /// A zero count, or a learning rate that is not finite and positive.
    pub fn validate(&self) -> Result<()> {
        for (name, v) in [
            ("rounds", self.rounds),
            ("history", self.history),
            ("epochs", self.epochs),
            ("batch", self.batch),
        ] {
            if v == 0 {
                return Err(Error::param(name, v, "must be at least 1"));
            }
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(Error::param("lr", self.lr, "must be finite and positive"));
        }
        Ok(())
    }
}

/// The running episode.
#[derive(Clone, Debug)]
struct Episode {
    task: usize,
    /// Rounds aggregated so far.
    round: usize,
    global: Vec<f32>,
    local: Vec<Vec<f32>>,
    /// `[client][H]`, oldest first.
    history: Vec<f64>,
    seeds: ChaCha8Rng,
}

/// The meta-federated-learning environment (see the module docs).
#[derive(Clone, Debug)]
pub struct FederatedEnv<M: ClientModel> {
    model: M,
    pool: Arc<ClientPool>,
    tasks: Vec<Vec<usize>>,
    eval: Arc<LabelledSet>,
    config: FederatedEnvConfig,
    episode: Option<Episode>,
}

impl<M: ClientModel> FederatedEnv<M> {
    /// An environment over `tasks` (lists of universe clients) of `pool`, rewarding accuracy on
    /// `eval`.
    ///
    /// # Errors
    /// Checked before any work: an invalid configuration; no tasks; an empty task, a task naming
    /// a client outside the universe or the same client twice; client data or the evaluation set
    /// not fitting the model (wrong image size, labels outside `0..classes`, non-finite pixels,
    /// no samples).
    pub fn new(
        model: M,
        pool: Arc<ClientPool>,
        tasks: Vec<Vec<usize>>,
        eval: Arc<LabelledSet>,
        config: FederatedEnvConfig,
    ) -> Result<Self> {
        config.validate()?;
        if tasks.is_empty() {
            return Err(Error::param("tasks", 0, "no tasks"));
        }
        if pool.is_rare.len() != pool.clients.len() {
            return Err(Error::shape(
                "is_rare (one per client)",
                pool.clients.len(),
                pool.is_rare.len(),
            ));
        }
        let mut used = vec![false; pool.clients.len()];
        for (t, task) in tasks.iter().enumerate() {
            if task.is_empty() {
                return Err(Error::param("tasks", t, "task has no clients"));
            }
            let mut seen = std::collections::BTreeSet::new();
            for &k in task {
                if k >= pool.clients.len() {
                    return Err(Error::param(
                        "tasks",
                        format!("client {k} in task {t}"),
                        format!("the universe has only {} clients", pool.clients.len()),
                    ));
                }
                if !seen.insert(k) {
                    return Err(Error::param(
                        "tasks",
                        format!("client {k} in task {t}"),
                        "appears twice",
                    ));
                }
                used[k] = true;
            }
        }
        for (k, c) in pool.clients.iter().enumerate() {
            if used[k] {
                c.validate(&format!("client {k}"), model.input_len(), model.classes())?;
            }
        }
        eval.validate("evaluation set", model.input_len(), model.classes())?;
        Ok(Self {
            model,
            pool,
            tasks,
            eval,
            config,
            episode: None,
        })
    }

    /// The client model.
    pub fn model(&self) -> &M {
        &self.model
    }

    /// The universe.
    pub fn pool(&self) -> &ClientPool {
        &self.pool
    }

    /// The tasks (universe client indices).
    pub fn tasks(&self) -> &[Vec<usize>] {
        &self.tasks
    }

    /// The settings.
    pub fn config(&self) -> &FederatedEnvConfig {
        &self.config
    }

    /// The current global model `θ_n` (`None` before the first reset).
    pub fn global(&self) -> Option<&[f32]> {
        self.episode.as_ref().map(|e| e.global.as_slice())
    }

    /// Rounds aggregated in the current episode.
    pub fn round(&self) -> usize {
        self.episode.as_ref().map_or(0, |e| e.round)
    }

    /// The latest local accuracy of each client of the running episode.
    pub fn latest_accuracies(&self) -> Vec<f64> {
        let h = self.config.history;
        self.episode
            .as_ref()
            .map(|e| e.history.chunks_exact(h).map(|c| c[h - 1]).collect())
            .unwrap_or_default()
    }

    /// Local training of the episode's clients from the current global model, then their
    /// accuracies on the evaluation set pushed into the history.
    fn local_round(&self, ep: &mut Episode) -> Result<()> {
        let clients: Vec<(&[f32], &[u8])> = self.tasks[ep.task]
            .iter()
            .map(|&k| {
                let c = &self.pool.clients[k];
                (c.images.as_slice(), c.labels.as_slice())
            })
            .collect();
        let seed = ep.seeds.next_u64();
        let trained = local_training(
            &self.model,
            &ep.global,
            &clients,
            self.config.epochs,
            self.config.batch,
            self.config.lr,
            seed,
        )?;
        ep.local = trained.into_iter().map(|(theta, _)| theta).collect();
        let eval = &self.eval;
        let acc: Vec<f64> = ep
            .local
            .par_iter()
            .map(|theta| self.model.accuracy(theta, &eval.images, &eval.labels))
            .collect::<Result<_>>()?;
        let h = self.config.history;
        let first = ep.history.is_empty();
        if first {
            ep.history = acc.iter().flat_map(|&a| std::iter::repeat_n(a, h)).collect();
        } else {
            for (row, a) in ep.history.chunks_exact_mut(h).zip(acc) {
                row.rotate_left(1);
                row[h - 1] = a;
            }
        }
        Ok(())
    }

    /// The state `[client][H][F]`: per step, the accuracy and (with `deviation`) its deviation
    /// from the task's mean accuracy of that step, scaled by [`DEVIATION_SCALE`].
    fn write_state(ep: &Episode, h: usize, deviation: bool, state: &mut Vec<f64>) {
        let m = ep.history.len() / h;
        let means: Vec<f64> = (0..h)
            .map(|k| (0..m).map(|i| ep.history[i * h + k]).sum::<f64>() / m as f64)
            .collect();
        state.clear();
        for row in ep.history.chunks_exact(h) {
            for (k, &a) in row.iter().enumerate() {
                state.push(a);
                if deviation {
                    state.push(DEVIATION_SCALE * (a - means[k]));
                }
            }
        }
    }
}

impl<M: ClientModel> EpisodicTaskEnv for FederatedEnv<M> {
    fn num_tasks(&self) -> usize {
        self.tasks.len()
    }

    fn entities(&self, task: usize) -> usize {
        self.tasks.get(task).map_or(0, Vec::len)
    }

    fn window(&self) -> usize {
        self.config.history
    }

    fn features(&self) -> usize {
        self.config.features()
    }

    fn horizon(&self) -> usize {
        self.config.rounds
    }

    fn reset(&mut self, task: usize, seed: u64, state: &mut Vec<f64>) -> Result<()> {
        if task >= self.tasks.len() {
            return Err(Error::param(
                "task",
                task,
                format!("the environment has {} tasks", self.tasks.len()),
            ));
        }
        let mut ep = Episode {
            task,
            round: 0,
            global: self.model.init(seed),
            local: Vec::new(),
            history: Vec::new(),
            seeds: ChaCha8Rng::seed_from_u64(seed),
        };
        self.local_round(&mut ep)?;
        Self::write_state(&ep, self.config.history, self.config.deviation, state);
        self.episode = Some(ep);
        Ok(())
    }

    fn step(&mut self, action: &[f64], state: &mut Vec<f64>) -> Result<(f64, bool)> {
        let mut ep = self
            .episode
            .take()
            .ok_or_else(|| Error::param("episode", "none", "call reset before step"))?;
        if ep.round >= self.config.rounds {
            self.episode = Some(ep);
            return Err(Error::param(
                "episode",
                "finished",
                "call reset to start a new one",
            ));
        }
        let result = (|| {
            weighted_average(&ep.local, action, &mut ep.global)?;
            let reward = accuracy(&self.model, &ep.global, &self.eval.images, &self.eval.labels)?;
            ep.round += 1;
            let done = ep.round == self.config.rounds;
            if !done {
                self.local_round(&mut ep)?;
                Self::write_state(&ep, self.config.history, self.config.deviation, state);
            }
            Ok((reward, done))
        })();
        self.episode = Some(ep);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::federated::client::SoftmaxRegression;

    /// Two-pixel images; class = which pixel is bright.
    fn toy_set(n: usize, offset: usize) -> LabelledSet {
        let mut s = LabelledSet::default();
        for i in 0..n {
            let y = ((i + offset) % 2) as u8;
            s.images.extend(if y == 0 { [1.0, 0.0] } else { [0.0, 1.0] });
            s.labels.push(y);
        }
        s
    }

    fn toy_env(history: usize) -> Result<FederatedEnv<SoftmaxRegression>> {
        let pool = ClientPool {
            clients: (0..4).map(|k| toy_set(10, k)).collect(),
            is_rare: vec![false; 4],
        };
        FederatedEnv::new(
            SoftmaxRegression::new(2, 2)?,
            Arc::new(pool),
            vec![vec![0, 1, 2], vec![1, 3]],
            Arc::new(toy_set(8, 0)),
            FederatedEnvConfig {
                rounds: 4,
                history,
                epochs: 1,
                batch: 5,
                lr: 0.5,
                deviation: true,
            },
        )
    }

    #[test]
    fn episode_runs_to_the_horizon_with_a_growing_history() -> Result<()> {
        let mut env = toy_env(3)?;
        let mut s = Vec::new();
        env.reset(0, 7, &mut s)?;
        assert_eq!(s.len(), 3 * 3 * STATE_FEATURES);
        // Before H rounds the history repeats the first accuracy; deviations average to zero.
        for row in s.chunks_exact(3 * STATE_FEATURES) {
            assert_eq!(row[0], row[4]);
        }
        let dev: f64 = s.chunks_exact(2).map(|f| f[1]).sum();
        assert!(dev.abs() < 1e-9, "{dev}");
        let w = [1.0 / 3.0; 3];
        let mut done = false;
        let mut n = 0;
        while !done {
            let (r, d) = env.step(&w, &mut s)?;
            assert!((0.0..=1.0).contains(&r));
            done = d;
            n += 1;
        }
        assert_eq!(n, 4);
        assert!(
            env.step(&w, &mut s).is_err(),
            "stepping past the horizon is an error"
        );
        Ok(())
    }

    #[test]
    fn same_seed_same_episode_bit_for_bit() -> Result<()> {
        let mut a = toy_env(2)?;
        let mut b = toy_env(2)?;
        let (mut sa, mut sb) = (Vec::new(), Vec::new());
        a.reset(1, 3, &mut sa)?;
        b.reset(1, 3, &mut sb)?;
        for _ in 0..4 {
            let ra = a.step(&[0.3, 0.7], &mut sa)?;
            let rb = b.step(&[0.3, 0.7], &mut sb)?;
            assert_eq!(ra, rb);
            assert_eq!(sa, sb);
        }
        assert_eq!(a.global(), b.global());
        Ok(())
    }

    #[test]
    fn bad_settings_and_actions_are_errors() -> Result<()> {
        assert!(toy_env(0).is_err(), "H = 0");
        let mut env = toy_env(2)?;
        let mut s = Vec::new();
        assert!(env.step(&[0.5, 0.5], &mut s).is_err(), "step before reset");
        assert!(env.reset(5, 0, &mut s).is_err(), "task out of range");
        env.reset(1, 0, &mut s)?;
        assert!(env.step(&[0.5, 0.6], &mut s).is_err(), "not on the simplex");
        assert!(env.step(&[1.0], &mut s).is_err(), "wrong length");
        // The episode survives a rejected action.
        assert!(env.step(&[0.5, 0.5], &mut s).is_ok());
        let pool = Arc::new(ClientPool {
            clients: vec![toy_set(4, 0)],
            is_rare: vec![false],
        });
        let model = SoftmaxRegression::new(2, 2)?;
        let cfg = FederatedEnvConfig::paper(3, 2);
        let eval = Arc::new(toy_set(4, 0));
        assert!(FederatedEnv::new(model, pool.clone(), vec![vec![1]], eval.clone(), cfg).is_err());
        assert!(FederatedEnv::new(model, pool.clone(), vec![vec![0, 0]], eval.clone(), cfg).is_err());
        assert!(FederatedEnv::new(model, pool.clone(), vec![], eval.clone(), cfg).is_err());
        let mut bad = toy_set(4, 0);
        bad.labels[2] = 2;
        assert!(FederatedEnv::new(model, pool.clone(), vec![vec![0]], Arc::new(bad), cfg).is_err());
        let mut short = toy_set(4, 0);
        short.images.pop();
        assert!(FederatedEnv::new(model, pool, vec![vec![0]], Arc::new(short), cfg).is_err());
        Ok(())
    }
}
