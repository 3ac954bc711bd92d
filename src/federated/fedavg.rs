//! FedAvg baselines (issue 6, item 6): federated rounds with a fixed aggregation rule.
//!
//! Each round `t = 1, …, T`:
//! 1. every client `i` trains locally from the current global model `θ_{t−1}`
//!    ([`local_training`]: `epochs` epochs of minibatch SGD, in parallel, seeded per round and
//!    client);
//! 2. the new global model is the weighted average `θ_t = Σ_i a_i θ_t^i` ([`weighted_average`])
//!    with weights `a` from the [`WeightsRule`];
//! 3. the accuracy of `θ_t` on the evaluation set is recorded.
//!
//! The rules: [`WeightsRule::Uniform`] (`a_i = 1/n`), [`WeightsRule::DataSize`]
//! (`a_i = n_i / Σ_j n_j`, McMahan et al.'s FedAvg; equal to uniform when all clients have the same
//! number of samples), and [`WeightsRule::Fixed`] — e.g. [`rare_half_weights`], which gives the
//! rare-label clients of the paper's skew half of the total weight, the reweighting that shows the
//! headroom a learned aggregator can win (Fig. 6).
//!
//! Runs are deterministic: the seed of round `t` is the `t`-th output of
//! `ChaCha8Rng::seed_from_u64(seed)`, and local training and evaluation do not depend on the number
//! of threads.

use super::client::{local_training, weighted_average, ClientModel};
use crate::error::{check_finite, Error, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// How the client models of a round are averaged.
#[derive(Debug, Clone, PartialEq)]
pub enum WeightsRule {
    /// `a_i = 1/n`.
    Uniform,
    /// `a_i = n_i / Σ_j n_j` (samples per client).
    DataSize,
    /// The given weights (a point of the simplex, one per client), every round.
    Fixed(Vec<f64>),
}

impl WeightsRule {
    /// The weights of clients with `sizes[i]` samples each.
    ///
    /// # Errors
    /// No clients, a client without samples (for `DataSize`), fixed weights of the wrong length or
    /// not on the simplex (negative, non-finite, not summing to 1 within 1e-6).
    pub fn weights(&self, sizes: &[usize]) -> Result<Vec<f64>> {
        let n = sizes.len();
        if n == 0 {
            return Err(Error::param("clients", 0, "no clients to weight"));
        }
        match self {
            WeightsRule::Uniform => Ok(vec![1.0 / n as f64; n]),
            WeightsRule::DataSize => {
                if let Some(i) = sizes.iter().position(|&s| s == 0) {
                    return Err(Error::param("clients", i, "a client has no samples"));
                }
                let total: f64 = sizes.iter().map(|&s| s as f64).sum();
                Ok(sizes.iter().map(|&s| s as f64 / total).collect())
            }
            WeightsRule::Fixed(w) => {
                if w.len() != n {
                    return Err(Error::shape("fixed weights (one per client)", n, w.len()));
                }
                crate::simplex::validate_allocation(w, 1e-6)?;
                if let Some(i) = w.iter().position(|&v| v < 0.0) {
                    return Err(Error::InvalidAllocation {
                        reason: format!("weight w[{i}] = {} is negative", w[i]),
                    });
                }
                Ok(w.clone())
            }
        }
    }
}

/// Weights giving the rare-label clients (`is_rare[i]`) half of the total weight, split equally
/// among them, and the other clients the other half, split equally (the paper's skew: 2 rare
/// clients get 0.25 each, 8 common ones 0.0625 each).
///
/// # Errors
/// No rare client or no common client.
pub fn rare_half_weights(is_rare: &[bool]) -> Result<Vec<f64>> {
    let rare = is_rare.iter().filter(|&&r| r).count();
    let common = is_rare.len() - rare;
    if rare == 0 || common == 0 {
        return Err(Error::param(
            "is_rare",
            format!("{rare} rare of {}", is_rare.len()),
            "needs at least one rare-label and one common client",
        ));
    }
    Ok(is_rare
        .iter()
        .map(|&r| if r { 0.5 / rare as f64 } else { 0.5 / common as f64 })
        .collect())
}

/// Hyper-parameters of a federated run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FedConfig {
    /// Number of rounds `T` (≥ 1).
    pub rounds: usize,
    /// Local epochs per round (≥ 1).
    pub epochs: usize,
    /// Minibatch size (≥ 1).
    pub batch: usize,
    /// SGD learning rate (finite, > 0).
    pub lr: f32,
    /// Seed of the run.
    pub seed: u64,
}

impl FedConfig {
    /// The reference setup (../shared/notes/federated-references.md): 1 local epoch, batch 20,
    /// learning rate 0.05.
    pub fn paper(rounds: usize, seed: u64) -> Self {
        Self {
            rounds,
            epochs: 1,
            batch: 20,
            lr: 0.05,
            seed,
        }
    }
}

/// Accuracy of `θ` on `(images, labels)`, evaluated in parallel over chunks of 256 samples (the hit
/// count is an integer sum, so the result does not depend on the number of threads).
///
/// # Errors
/// As [`ClientModel::accuracy`].
pub fn accuracy<M: ClientModel>(model: &M, theta: &[f32], images: &[f32], labels: &[u8]) -> Result<f64> {
    let hits = class_hits(model, theta, images, labels)?;
    let (h, n) = hits.iter().fold((0, 0), |(h, n), &(a, b)| (h + a, n + b));
    Ok(h as f64 / n as f64)
}

/// Per class `c`: `(correct predictions, samples)` among the samples labelled `c`.
///
/// # Errors
/// Empty set, wrong lengths, labels `≥ classes`, non-finite inputs.
pub fn class_hits<M: ClientModel>(
    model: &M,
    theta: &[f32],
    images: &[f32],
    labels: &[u8],
) -> Result<Vec<(usize, usize)>> {
    use rayon::prelude::*;
    const CHUNK: usize = 256;
    let d = model.input_len();
    let c = model.classes();
    if labels.is_empty() {
        return Err(Error::param("labels", 0, "the evaluation set is empty"));
    }
    if images.len() != labels.len() * d {
        return Err(Error::shape(
            "images (samples × values per sample)",
            labels.len() * d,
            images.len(),
        ));
    }
    if let Some(i) = labels.iter().position(|&y| y as usize >= c) {
        return Err(Error::param(
            "labels",
            format!("{} at index {i}", labels[i]),
            format!("must lie in 0..{c}"),
        ));
    }
    let parts: Vec<Vec<(usize, usize)>> = images
        .par_chunks(CHUNK * d)
        .zip(labels.par_chunks(CHUNK))
        .map(|(x, y)| {
            let mut pred = vec![0u8; y.len()];
            model.predict(theta, x, &mut pred)?;
            let mut h = vec![(0usize, 0usize); c];
            for (&p, &t) in pred.iter().zip(y) {
                h[t as usize].1 += 1;
                if p == t {
                    h[t as usize].0 += 1;
                }
            }
            Ok(h)
        })
        .collect::<Result<_>>()?;
    let mut total = vec![(0usize, 0usize); c];
    for h in parts {
        for (t, v) in total.iter_mut().zip(h) {
            t.0 += v.0;
            t.1 += v.1;
        }
    }
    Ok(total)
}

/// Federated training with a fixed aggregation rule (see the module docs); returns the evaluation
/// accuracy of the aggregate after each round.
///
/// # Errors
/// As [`run_federated_with`].
pub fn run_federated<M: ClientModel>(
    model: &M,
    global0: &[f32],
    clients: &[(&[f32], &[u8])],
    rule: &WeightsRule,
    config: &FedConfig,
    eval: (&[f32], &[u8]),
) -> Result<Vec<f64>> {
    run_federated_with(model, global0, clients, rule, config, eval, |_, _| Ok(()))
}

/// [`run_federated`] calling `on_round(t, θ_t)` after each round `t = 1, …, T` (e.g. to evaluate
/// the aggregate on other sets or keep it); an error from `on_round` stops the run.
///
/// # Errors
/// Checked before any training: `rounds`, `epochs`, `batch` zero, `lr` not finite and positive,
/// no clients, invalid client data or `global0` (wrong lengths, labels, non-finite values), weights
/// invalid for the clients, an invalid evaluation set. During the run: a diverging client.
pub fn run_federated_with<M: ClientModel>(
    model: &M,
    global0: &[f32],
    clients: &[(&[f32], &[u8])],
    rule: &WeightsRule,
    config: &FedConfig,
    eval: (&[f32], &[u8]),
    mut on_round: impl FnMut(usize, &[f32]) -> Result<()>,
) -> Result<Vec<f64>> {
    if config.rounds == 0 {
        return Err(Error::param("rounds", 0, "must be at least 1"));
    }
    if config.epochs == 0 {
        return Err(Error::param("epochs", 0, "must be at least 1"));
    }
    if config.batch == 0 {
        return Err(Error::param("batch", 0, "must be at least 1"));
    }
    if !(config.lr.is_finite() && config.lr > 0.0) {
        return Err(Error::param("lr", config.lr, "must be finite and positive"));
    }
    if clients.is_empty() {
        return Err(Error::param("clients", 0, "no clients to train"));
    }
    if global0.len() != model.num_params() {
        return Err(Error::shape(
            "global0 (parameters)",
            model.num_params(),
            global0.len(),
        ));
    }
    check_finite("global0", global0)?;
    let d = model.input_len();
    for (i, (x, y)) in clients.iter().enumerate() {
        if y.is_empty() {
            return Err(Error::param("clients", i, "a client has no samples"));
        }
        if x.len() != y.len() * d {
            return Err(Error::shape(
                "client images (samples × values per sample)",
                y.len() * d,
                x.len(),
            ));
        }
        if let Some(j) = y.iter().position(|&v| v as usize >= model.classes()) {
            return Err(Error::param(
                "client labels",
                format!("{} at client {i}, index {j}", y[j]),
                format!("must lie in 0..{}", model.classes()),
            ));
        }
        check_finite("client images", x)?;
    }
    let sizes: Vec<usize> = clients.iter().map(|(_, y)| y.len()).collect();
    let weights = rule.weights(&sizes)?;
    let (ex, ey) = eval;
    // Validates the evaluation set (and is the accuracy of the initial model, not recorded).
    class_hits(model, global0, ex, ey)?;

    let mut seeds = ChaCha8Rng::seed_from_u64(config.seed);
    let mut global = global0.to_vec();
    let mut curve = Vec::with_capacity(config.rounds);
    let mut params: Vec<Vec<f32>> = Vec::with_capacity(clients.len());
    for t in 1..=config.rounds {
        let round_seed = seeds.next_u64();
        let trained = local_training(
            model,
            &global,
            clients,
            config.epochs,
            config.batch,
            config.lr,
            round_seed,
        )?;
        params.clear();
        params.extend(trained.into_iter().map(|(theta, _)| theta));
        weighted_average(&params, &weights, &mut global)?;
        curve.push(accuracy(model, &global, ex, ey)?);
        on_round(t, &global)?;
    }
    Ok(curve)
}
