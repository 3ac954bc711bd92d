//! The synthetic experiment of §6.1 (Fig. 1): LSPI with real versus permutation-augmented data.
//!
//! ## Problem
//! `m` entities with states `x_i ~ U[0, 1]` (i.i.d., fresh every step: a contextual bandit, so
//! `γ = 0` and LSTD-Q is ridge regression of the reward on `φ(x, a)`). The reward of an
//! allocation `b` on the simplex is
//!
//! `R(x, b) = Σ_i x_i b_i − β_i b_i ln b_i  (+ N(0, σ²) noise in training data)`
//!
//! with `β_i` evenly spread on `[0.5 − ε/2, 0.5 + ε/2]`
//! ([`SyntheticAllocation::with_spread`]), so `ε = max β − min β`, the paper's stand-in for the
//! Bellman difference of Theorem 1.
//!
//! ## Actions
//! LSPI needs a finite action set; the candidates (fixed by the seed, the same for every run) are
//!
//! 1. the uniform allocation `(1/m, …, 1/m)` (candidate 0),
//! 2. each vertex-tilted allocation `softmax(κ·e_i)` for every entity `i` and every `κ` in
//!    [`Fig1Config::kappas`] (a share `e^κ/(e^κ + m − 1)` on entity `i`),
//! 3. [`Fig1Config::dirichlet_candidates`] points drawn from Dirichlet(α, …, α).
//!
//! The best candidate depends on the state (tilt towards the entity with the largest `x_i`, and
//! — when `β` varies — towards entities with small `β_i`), and bad choices cost up to ~1 in
//! reward, so the greedy choice matters.
//!
//! ## Features
//! [`AllocationFeatures`]: `φ(x, a) = [1, x_1 b_1, …, x_m b_m, b_1 ln b_1, …, b_m ln b_m]`,
//! `d = 2m + 1`, with `b` the candidate `a`. The reward is exactly linear in them (weights
//! `[0, 1, …, 1, −β_1, …, −β_m]`), and they see entity positions, so a permuted copy of a sample
//! is a new regression row (see [`crate::theory::features`] for why this is necessary).
//!
//! ## Experiments (per `ε`, per seed)
//! * **real**: LSPI on the first `N` of `N_max` i.i.d. samples `(x, a, r)` with `a` uniform
//!   over the candidates, for each `N` in [`Fig1Config::sample_sizes`].
//! * **augmented**: the first [`Fig1Config::real_samples`] of the same real samples, plus
//!   `N − 20` permuted copies: copy `n` takes real sample `n mod 20` and a fresh uniformly
//!   random permutation σ, giving `(σx, σb, r)` — the entity states and the allocation's entries
//!   permuted together, the reward kept. Each σ is one task of Corollary 2; this is multi-task
//!   LSPI on the pooled data (Corollary 1).
//!
//! The greedy policy `x ↦ argmax_a φ(x, a)ᵀ w` is scored by its *true* expected reward
//! `R(x, b)` (no noise) averaged over [`Fig1Config::eval_states`] fresh states. Seeds share
//! nothing but the candidate set; within a seed every `ε` and both experiments use the same
//! states, actions, noise draws, permutations and evaluation states (common random numbers), so
//! the gap `real − augmented` is a paired comparison. Means carry 95% Student-t confidence
//! intervals over seeds.
//!
//! References reported beside the curves: the best candidate per state (the optimum of the
//! finite action set), the uniform allocation, the behaviour policy (a uniformly random
//! candidate) and the unconstrained optimum over the simplex
//! ([`SyntheticAllocation::optimal_allocation`]).

use super::runner::{self, ExperimentConfig};
use crate::envs::synthetic::SyntheticAllocation;
use crate::error::{Error, Result};
use crate::io::write_atomic;
use crate::plot::{line_chart, Series};
use crate::simplex::softmax;
use crate::theory::features::{AllocationFeatures, AllocationState};
use crate::theory::lspi::{lspi, LspiConfig, Sample};
use rand::{Rng, RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Gamma, StandardNormal};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

/// Settings of the Fig. 1 experiment: the command line of `pimtl synthetic` (each
/// `default_value` is the full preset: the paper's grid, 50 repetitions, 2000 evaluation states)
/// and the `config` object of its `config.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, clap::Args)]
pub struct Fig1Config {
    /// Entities m (paper: 10).
    #[arg(long, default_value_t = 10)]
    pub entities: usize,
    /// Spreads ε = max β − min β to run (repeat the option; paper: 0, 0.2, 0.4, 0.6, 0.8); each
    /// in [0, 1).
    #[arg(long = "epsilon", default_values_t = [0.0f64, 0.2, 0.4, 0.6, 0.8], allow_negative_numbers = true)]
    pub epsilons: Vec<f64>,
    /// Training-set sizes N (repeat the option; paper: 20 … 2000); each ≥ --real-samples.
    #[arg(long = "samples", default_values_t = [20usize, 50, 100, 200, 500, 1000, 2000])]
    pub sample_sizes: Vec<usize>,
    /// Real samples behind the augmented experiment (paper: 20).
    #[arg(long, default_value_t = 20)]
    pub real_samples: usize,
    /// Standard deviation σ of the Gaussian reward noise in training data.
    #[arg(long = "noise", default_value_t = 0.1, allow_negative_numbers = true)]
    pub noise_std: f64,
    /// Ridge λ of LSTD-Q: w = (Σ φφᵀ + λI)⁻¹ Σ φ r (absolute, on sums over N samples).
    #[arg(long, default_value_t = 1e-2, allow_negative_numbers = true)]
    pub ridge: f64,
    /// Tilts κ of the vertex-tilted candidates softmax(κ·e_i) (repeat the option).
    #[arg(long = "kappa", default_values_t = [0.5f64, 1.0, 2.0], allow_negative_numbers = true)]
    pub kappas: Vec<f64>,
    /// Number of Dirichlet(α) candidates.
    #[arg(long, default_value_t = 20)]
    pub dirichlet_candidates: usize,
    /// Concentration α > 0 of the Dirichlet candidates.
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    pub dirichlet_alpha: f64,
    /// Fresh states on which each greedy policy's true expected reward is averaged.
    #[arg(long, default_value_t = 2000)]
    pub eval_states: usize,
    /// Independent repetitions per (ε, experiment, N); ≥ 2 for intervals.
    #[arg(long, default_value_t = 50)]
    #[serde(alias = "seeds")]
    pub repetitions: usize,
    /// Master seed: candidate set and every repetition's data derive from it.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// Largest working memory the synthetic experiment accepts; larger sizes are refused up front.
pub const MEMORY_LIMIT_BYTES: f64 = 4.0 * 1024.0 * 1024.0 * 1024.0;

impl ExperimentConfig for Fig1Config {
    const NAME: &'static str = "synthetic";

    /// The same grid with 10 repetitions and 1000 evaluation states (about a second).
    fn quick_preset() -> serde_json::Value {
        serde_json::json!({ "eval_states": 1000, "repetitions": 10 })
    }

    fn validate(&self) -> Result<()> {
        Fig1Config::validate(self)
    }
}

impl Fig1Config {
    /// The paper's grid with 50 repetitions and 2000 evaluation states (a few seconds): every
    /// `default_value` of the command line.
    pub fn full() -> Self {
        runner::defaults::<Self>().expect("the defaults of `pimtl synthetic` parse")
    }

    /// The same grid with 10 repetitions and 1000 evaluation states (about a second).
    pub fn quick() -> Self {
        runner::preset::<Self>(true).expect("the quick preset of `pimtl synthetic` parses")
    }

    /// Bytes of the largest buffers, estimated before anything is allocated: the `K` candidate
    /// allocations (`K = 1 + m·|κ| + dirichlet_candidates`, each of `m` entries), the true reward
    /// of every candidate at every evaluation state, and the evaluation and training states.
    pub fn working_memory_bytes(&self) -> f64 {
        let m = self.entities as f64;
        let k = 1.0 + m * self.kappas.len() as f64 + self.dirichlet_candidates as f64;
        let n_max = self.sample_sizes.iter().copied().max().unwrap_or(0) as f64;
        8.0 * (k * m + self.eval_states as f64 * (k + m) + n_max * m)
    }

    /// Checks every setting, including the working memory the sizes need.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the first setting out of range.
    pub fn validate(&self) -> Result<()> {
        let positive = [
            ("entities", self.entities),
            ("real_samples", self.real_samples),
            ("eval_states", self.eval_states),
        ];
        for (name, v) in positive {
            if v == 0 {
                return Err(Error::param(name, v, "must be at least 1"));
            }
        }
        if self.entities < 2 {
            return Err(Error::param(
                "entities",
                self.entities,
                "need at least 2 entities to permute",
            ));
        }
        if self.repetitions < 2 {
            return Err(Error::param(
                "repetitions",
                self.repetitions,
                "need at least 2 for confidence intervals",
            ));
        }
        if self.epsilons.is_empty() {
            return Err(Error::param("epsilons", "[]", "need at least one spread"));
        }
        for &e in &self.epsilons {
            if !(e.is_finite() && (0.0..1.0).contains(&e)) {
                return Err(Error::param(
                    "epsilons",
                    e,
                    "each spread must be in [0, 1) (β stays > 0)",
                ));
            }
        }
        if self.sample_sizes.is_empty() {
            return Err(Error::param("sample_sizes", "[]", "need at least one N"));
        }
        if let Some(&n) = self.sample_sizes.iter().find(|&&n| n < self.real_samples) {
            return Err(Error::param(
                "sample_sizes",
                n,
                format!("each N must be ≥ real_samples = {}", self.real_samples),
            ));
        }
        if !(self.noise_std.is_finite() && self.noise_std >= 0.0) {
            return Err(Error::param(
                "noise_std",
                self.noise_std,
                "must be finite and >= 0",
            ));
        }
        if !(self.ridge.is_finite() && self.ridge > 0.0) {
            return Err(Error::param(
                "ridge",
                self.ridge,
                "must be finite and > 0 (N can be < d)",
            ));
        }
        if let Some(&k) = self.kappas.iter().find(|k| !(k.is_finite() && **k > 0.0)) {
            return Err(Error::param("kappas", k, "each tilt must be finite and > 0"));
        }
        if !(self.dirichlet_alpha.is_finite() && self.dirichlet_alpha > 0.0) {
            return Err(Error::param(
                "dirichlet_alpha",
                self.dirichlet_alpha,
                "must be finite and > 0",
            ));
        }
        let bytes = self.working_memory_bytes();
        if bytes > MEMORY_LIMIT_BYTES {
            return Err(Error::param(
                "entities",
                self.entities,
                format!(
                    "would need about {:.1} GB of working memory (candidates K = 1 + m·|κ| + Dirichlet ones, each m long; eval_states × (K + m) and N_max × m doubles); the experiment accepts at most {:.0} GB",
                    bytes / 1e9,
                    MEMORY_LIMIT_BYTES / 1e9
                ),
            ));
        }
        Ok(())
    }
}

impl Default for Fig1Config {
    fn default() -> Self {
        Self::full()
    }
}

/// One point of a curve: the mean over seeds and its 95% interval.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Fig1Row {
    /// The spread `ε`.
    pub epsilon: f64,
    /// `real`, `augmented`, or a reference: `best_candidate`, `uniform`, `random_candidate`,
    /// `optimum` (references have `n = 0`: no training data).
    pub experiment: String,
    /// Training-set size `N` (0 for references).
    pub n: usize,
    /// Mean over seeds of the true expected reward of the policy.
    pub mean: f64,
    /// Lower end of the 95% Student-t interval of the mean.
    pub ci_low: f64,
    /// Upper end.
    pub ci_high: f64,
    /// Seeds averaged.
    pub seeds: usize,
}

/// The headline numbers for one `ε` at the largest `N`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Fig1Summary {
    /// The spread `ε`.
    pub epsilon: f64,
    /// The largest `N` of the grid (paper: 2000).
    pub n: usize,
    /// Mean true reward with `N` real samples.
    pub real: f64,
    /// Mean true reward with 20 real samples augmented to `N`.
    pub augmented: f64,
    /// Mean true reward with only the 20 real samples (the start of both curves).
    pub real_only_small: f64,
    /// `real − augmented` (paired over seeds).
    pub gap: f64,
    /// Lower end of the 95% interval of the gap.
    pub gap_ci_low: f64,
    /// Upper end.
    pub gap_ci_high: f64,
    /// `augmented − real_only_small`: what the permuted copies add to 20 real samples.
    pub augmentation_gain: f64,
    /// Mean over states of the best candidate's reward (optimum of the finite action set).
    pub best_candidate: f64,
    /// Mean reward of the uniform allocation.
    pub uniform: f64,
    /// Mean reward of the unconstrained optimum over the simplex.
    pub optimum: f64,
}

/// Everything [`run`] computes.
#[derive(Clone, Debug, Serialize)]
pub struct Fig1Results {
    /// The configuration that produced it.
    pub config: Fig1Config,
    /// The crate version.
    pub crate_version: String,
    /// The candidate allocations (action set), candidate 0 = uniform.
    pub candidates: Vec<Vec<f64>>,
    /// One row per `(ε, experiment, N)` and per reference.
    pub rows: Vec<Fig1Row>,
    /// Headline numbers per `ε`.
    pub summary: Vec<Fig1Summary>,
    /// LSPI iterations (LSTD-Q solves) per fit, maximum over all fits (1 when γ = 0).
    pub max_lspi_iterations: usize,
    /// Wall-clock time of [`run`] in seconds.
    pub elapsed_seconds: f64,
}

/// The candidate set: uniform, `softmax(κ e_i)` for each `κ` and `i`, then `n_dirichlet`
/// Dirichlet(α) points drawn from `seed`.
///
/// # Errors
/// `m = 0`, a non-positive `κ` or `α`.
pub fn candidate_set(
    m: usize,
    kappas: &[f64],
    n_dirichlet: usize,
    alpha: f64,
    seed: u64,
) -> Result<Vec<Vec<f64>>> {
    if m == 0 {
        return Err(Error::param("entities", 0, "must be at least 1"));
    }
    let gamma = Gamma::new(alpha, 1.0).map_err(|e| Error::param("dirichlet_alpha", alpha, e.to_string()))?;
    let mut out = vec![vec![1.0 / m as f64; m]];
    for &k in kappas {
        if !(k.is_finite() && k > 0.0) {
            return Err(Error::param("kappas", k, "must be finite and > 0"));
        }
        for i in 0..m {
            let scores: Vec<f64> = (0..m).map(|j| if j == i { k } else { 0.0 }).collect();
            out.push(softmax(&scores));
        }
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for _ in 0..n_dirichlet {
        let g: Vec<f64> = (0..m).map(|_| gamma.sample(&mut rng).max(1e-300)).collect();
        let s: f64 = g.iter().sum();
        out.push(g.iter().map(|v| v / s).collect());
    }
    Ok(out)
}

/// Mean and 95 % t interval (see [`crate::stats::Interval::t95`]).
fn mean_ci(v: &[f64]) -> (f64, f64, f64) {
    let i = crate::stats::Interval::t95(v);
    (i.mean, i.lo, i.hi)
}

fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn random_permutation<R: Rng + ?Sized>(m: usize, rng: &mut R) -> Vec<usize> {
    let mut p: Vec<usize> = (0..m).collect();
    for i in (1..m).rev() {
        let j = rng.random_range(0..=i);
        p.swap(i, j);
    }
    p
}

/// The ε-independent draws of one repetition.
struct Draws {
    /// Real states `x_n` (N_max of them).
    states: Vec<Vec<f64>>,
    /// Candidate index of each real sample.
    actions: Vec<usize>,
    /// Standard-normal noise of each real sample (scaled by σ later).
    noise: Vec<f64>,
    /// Augmented copies: `(real sample index, permutation σ)`.
    copies: Vec<(usize, Vec<usize>)>,
    /// Evaluation states.
    eval: Vec<Vec<f64>>,
}

fn draw(cfg: &Fig1Config, n_candidates: usize, n_max: usize, rep: usize) -> Draws {
    let base = mix(cfg.seed ^ mix(rep as u64 + 1));
    let m = cfg.entities;
    let mut data = ChaCha8Rng::seed_from_u64(base);
    let mut perms = ChaCha8Rng::seed_from_u64(mix(base ^ 1));
    let mut evals = ChaCha8Rng::seed_from_u64(mix(base ^ 2));
    let uniform_state = |rng: &mut ChaCha8Rng| (0..m).map(|_| rng.random::<f64>()).collect::<Vec<f64>>();
    let mut states = Vec::with_capacity(n_max);
    let mut actions = Vec::with_capacity(n_max);
    let mut noise = Vec::with_capacity(n_max);
    for _ in 0..n_max {
        states.push(uniform_state(&mut data));
        actions.push(data.random_range(0..n_candidates));
        noise.push(StandardNormal.sample(&mut data));
    }
    let copies = (cfg.real_samples..n_max)
        .map(|n| (n % cfg.real_samples, random_permutation(m, &mut perms)))
        .collect();
    let eval = (0..cfg.eval_states).map(|_| uniform_state(&mut evals)).collect();
    Draws {
        states,
        actions,
        noise,
        copies,
        eval,
    }
}

/// Per-repetition outcome: `values[e][exp][k]` for ε index `e`, experiment 0 = real,
/// 1 = augmented, `k` = index into the sample sizes; `refs[e]` = (best candidate, uniform,
/// random candidate, optimum).
#[derive(Serialize, Deserialize)]
struct RepOutcome {
    values: Vec<[Vec<f64>; 2]>,
    refs: Vec<[f64; 4]>,
    max_iterations: usize,
}

fn run_repetition(
    cfg: &Fig1Config,
    envs: &[SyntheticAllocation],
    features: &AllocationFeatures,
    lspi_cfg: &LspiConfig,
    rep: usize,
) -> Result<RepOutcome> {
    let n_max = cfg.sample_sizes.iter().copied().max().unwrap_or(cfg.real_samples);
    let k = features.candidates().len();
    let dr = draw(cfg, k, n_max, rep);
    let mut out = RepOutcome {
        values: Vec::with_capacity(envs.len()),
        refs: Vec::with_capacity(envs.len()),
        max_iterations: 0,
    };
    let mut qbuf = vec![0.0; k];
    for env in envs {
        // True rewards of every candidate at every evaluation state.
        let n_eval = dr.eval.len();
        let mut truth = vec![0.0; n_eval * k];
        let (mut best, mut uni, mut rnd, mut opt) = (0.0, 0.0, 0.0, 0.0);
        for (e, x) in dr.eval.iter().enumerate() {
            let row = &mut truth[e * k..(e + 1) * k];
            for (t, c) in row.iter_mut().zip(features.candidates()) {
                *t = env.mean_reward_unchecked(x, c);
            }
            best += row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            uni += row[0];
            rnd += row.iter().sum::<f64>() / k as f64;
            opt += env.mean_reward(x, &env.optimal_allocation(x)?)?;
        }
        let ne = n_eval as f64;
        out.refs.push([best / ne, uni / ne, rnd / ne, opt / ne]);

        let reward = |n: usize| {
            env.mean_reward_unchecked(&dr.states[n], features.candidates()[dr.actions[n]].as_slice())
                + cfg.noise_std * dr.noise[n]
        };
        let real: Vec<Sample<AllocationState>> = (0..n_max)
            .map(|n| {
                Sample::terminal(
                    AllocationState::identity(dr.states[n].clone()),
                    dr.actions[n],
                    reward(n),
                )
            })
            .collect();
        let mut augmented: Vec<Sample<AllocationState>> = real[..cfg.real_samples].to_vec();
        for (j, sigma) in &dr.copies {
            let src = &real[*j];
            let x = sigma.iter().map(|&i| src.state.x[i]).collect();
            let state = AllocationState {
                x,
                perm: sigma.clone(),
            };
            augmented.push(Sample::terminal(state, src.action, src.reward));
        }
        let mut curves: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
        for (exp, data) in [&real, &augmented].into_iter().enumerate() {
            for &n in &cfg.sample_sizes {
                let fit = lspi(features, &data[..n], lspi_cfg)?;
                out.max_iterations = out.max_iterations.max(fit.iterations);
                let w = fit.weights.as_slice();
                let mut total = 0.0;
                for (e, x) in dr.eval.iter().enumerate() {
                    // Greedy = first maximiser, as `lspi::greedy_action`, in O(K·m).
                    features.q_values(w, x, &mut qbuf)?;
                    let a = qbuf
                        .iter()
                        .enumerate()
                        .fold(
                            (0, f64::NEG_INFINITY),
                            |best, (a, &q)| if q > best.1 { (a, q) } else { best },
                        )
                        .0;
                    total += truth[e * k + a];
                }
                curves[exp].push(total / ne);
            }
        }
        out.values.push(curves);
    }
    Ok(out)
}

/// Runs the experiment; `progress` receives one line per finished repetition.
///
/// # Errors
/// An invalid configuration, or an LSTD-Q failure (not expected with `ridge > 0`).
pub fn run(cfg: &Fig1Config, progress: impl FnMut(&str)) -> Result<Fig1Results> {
    run_in(cfg, None, progress)
}

/// [`run`] with a checkpoint per finished repetition in `folder` (read back by `--resume`).
///
/// # Errors
/// As [`run`], and a checkpoint that cannot be written or read.
pub fn run_in(
    cfg: &Fig1Config,
    folder: Option<&runner::ResultFolder>,
    mut progress: impl FnMut(&str),
) -> Result<Fig1Results> {
    cfg.validate()?;
    let start = Instant::now();
    let candidates = candidate_set(
        cfg.entities,
        &cfg.kappas,
        cfg.dirichlet_candidates,
        cfg.dirichlet_alpha,
        mix(cfg.seed ^ 0xC0FFEE),
    )?;
    let features = AllocationFeatures::new(candidates.clone())?;
    let envs = cfg
        .epsilons
        .iter()
        .map(|&e| SyntheticAllocation::with_spread(cfg.entities, e, cfg.noise_std))
        .collect::<Result<Vec<_>>>()?;
    let mut lspi_cfg = LspiConfig::new(0.0);
    lspi_cfg.ridge = cfg.ridge;
    lspi_cfg.max_iterations = 5;

    let (ne, ns) = (cfg.epsilons.len(), cfg.sample_sizes.len());
    // values[e][exp][k][rep] and refs[e][r][rep].
    let mut values: Vec<Vec<Vec<Vec<f64>>>> = vec![vec![vec![Vec::new(); ns]; 2]; ne];
    let mut refs: Vec<Vec<Vec<f64>>> = vec![vec![Vec::new(); 4]; ne];
    let mut max_iterations = 0;
    for rep in 0..cfg.repetitions {
        let compute = || run_repetition(cfg, &envs, &features, &lspi_cfg, rep);
        let o = match folder {
            Some(f) => f.checkpoint(&format!("rep-{rep}"), compute)?,
            None => compute()?,
        };
        max_iterations = max_iterations.max(o.max_iterations);
        for ((dst, src), (rdst, rsrc)) in values.iter_mut().zip(&o.values).zip(refs.iter_mut().zip(&o.refs)) {
            for (d_exp, s_exp) in dst.iter_mut().zip(src) {
                for (d_k, &v) in d_exp.iter_mut().zip(s_exp) {
                    d_k.push(v);
                }
            }
            for (d_r, &v) in rdst.iter_mut().zip(rsrc) {
                d_r.push(v);
            }
        }
        progress(&format!(
            "fig1: repetition {}/{} done ({:.1} s)",
            rep + 1,
            cfg.repetitions,
            start.elapsed().as_secs_f64()
        ));
    }

    let mut rows = Vec::new();
    let mut summary = Vec::new();
    let ref_names = ["best_candidate", "uniform", "random_candidate", "optimum"];
    let (k_max, n_max) = cfg
        .sample_sizes
        .iter()
        .enumerate()
        .max_by_key(|(_, &n)| n)
        .map(|(k, &n)| (k, n))
        .unwrap_or((0, 0));
    let (k_min, _) = cfg
        .sample_sizes
        .iter()
        .enumerate()
        .min_by_key(|(_, &n)| n)
        .map(|(k, &n)| (k, n))
        .unwrap_or((0, 0));
    for (e, &eps) in cfg.epsilons.iter().enumerate() {
        for (exp, name) in ["real", "augmented"].iter().enumerate() {
            for (k, &n) in cfg.sample_sizes.iter().enumerate() {
                let (mean, lo, hi) = mean_ci(&values[e][exp][k]);
                rows.push(Fig1Row {
                    epsilon: eps,
                    experiment: name.to_string(),
                    n,
                    mean,
                    ci_low: lo,
                    ci_high: hi,
                    seeds: cfg.repetitions,
                });
            }
        }
        let mut ref_means = [0.0; 4];
        for (r, name) in ref_names.iter().enumerate() {
            let (mean, lo, hi) = mean_ci(&refs[e][r]);
            ref_means[r] = mean;
            rows.push(Fig1Row {
                epsilon: eps,
                experiment: name.to_string(),
                n: 0,
                mean,
                ci_low: lo,
                ci_high: hi,
                seeds: cfg.repetitions,
            });
        }
        let diffs: Vec<f64> = values[e][0][k_max]
            .iter()
            .zip(&values[e][1][k_max])
            .map(|(r, a)| r - a)
            .collect();
        let (gap, glo, ghi) = mean_ci(&diffs);
        let real = mean_ci(&values[e][0][k_max]).0;
        let augmented = mean_ci(&values[e][1][k_max]).0;
        let small = mean_ci(&values[e][0][k_min]).0;
        summary.push(Fig1Summary {
            epsilon: eps,
            n: n_max,
            real,
            augmented,
            real_only_small: small,
            gap,
            gap_ci_low: glo,
            gap_ci_high: ghi,
            augmentation_gain: augmented - small,
            best_candidate: ref_means[0],
            uniform: ref_means[1],
            optimum: ref_means[3],
        });
    }
    Ok(Fig1Results {
        config: cfg.clone(),
        crate_version: env!("CARGO_PKG_VERSION").to_string(),
        candidates,
        rows,
        summary,
        max_lspi_iterations: max_iterations,
        elapsed_seconds: start.elapsed().as_secs_f64(),
    })
}

fn json<T: Serialize>(v: &T) -> Result<Vec<u8>> {
    serde_json::to_vec_pretty(v).map_err(|e| Error::Format {
        path: None,
        reason: format!("JSON encoding failed: {e}"),
    })
}

/// Writes `setup.json` (configuration, crate version, candidate set; the runner writes
/// `config.json`), `metrics.csv`
/// (`epsilon,experiment,N,mean,ci_low,ci_high,seeds`; references have `N = 0`),
/// `summary.json` (per ε at the largest N: real, augmented, gap with its interval, references),
/// and the plots `curves_eps<ε>.svg` (one per ε: both curves with 95% bands and reference lines)
/// and `gap.svg` (the gap at the largest N against ε). All writes are atomic.
///
/// # Errors
/// [`Error::Io`] naming the file when `out_dir` is missing or not writable.
pub fn write_results(results: &Fig1Results, out_dir: &Path) -> Result<()> {
    #[derive(Serialize)]
    struct ConfigFile<'a> {
        config: &'a Fig1Config,
        crate_version: &'a str,
        candidates: &'a [Vec<f64>],
    }
    #[derive(Serialize)]
    struct SummaryFile<'a> {
        per_epsilon: &'a [Fig1Summary],
        max_lspi_iterations: usize,
    }
    write_atomic(
        &out_dir.join("setup.json"),
        &json(&ConfigFile {
            config: &results.config,
            crate_version: &results.crate_version,
            candidates: &results.candidates,
        })?,
    )?;
    let mut csv = String::from("epsilon,experiment,N,mean,ci_low,ci_high,seeds\n");
    for r in &results.rows {
        let _ = writeln!(
            csv,
            "{},{},{},{:.6},{:.6},{:.6},{}",
            r.epsilon, r.experiment, r.n, r.mean, r.ci_low, r.ci_high, r.seeds
        );
    }
    write_atomic(&out_dir.join("metrics.csv"), csv.as_bytes())?;
    write_atomic(
        &out_dir.join("summary.json"),
        &json(&SummaryFile {
            per_epsilon: &results.summary,
            max_lspi_iterations: results.max_lspi_iterations,
        })?,
    )?;
    for &eps in &results.config.epsilons {
        let series = |name: &str| -> Vec<(f64, f64, f64, f64)> {
            results
                .rows
                .iter()
                .filter(|r| r.epsilon == eps && r.experiment == name)
                .map(|r| (r.n as f64, r.mean, r.ci_low, r.ci_high))
                .collect()
        };
        let reference = |name: &str| {
            results
                .rows
                .iter()
                .find(|r| r.epsilon == eps && r.experiment == name)
                .map_or(f64::NAN, |r| r.mean)
        };
        // N on a log scale: the x axis is log₁₀ N.
        let lg = |pts: Vec<(f64, f64, f64, f64)>| -> Vec<(f64, f64, f64, f64)> {
            pts.into_iter()
                .map(|(n, m, lo, hi)| (n.log10(), m, lo, hi))
                .collect()
        };
        let curve = |name: String, pts: Vec<(f64, f64, f64, f64)>| Series {
            name,
            points: pts.iter().map(|p| (p.0, p.1)).collect(),
            band: pts.iter().map(|p| (p.0, p.2, p.3)).collect(),
            scatter: false,
        };
        let (real, aug) = (lg(series("real")), lg(series("augmented")));
        let x_range = real
            .iter()
            .map(|p| p.0)
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
                (a.min(x), b.max(x))
            });
        let mut lines = vec![
            curve("real (N i.i.d. samples), 95 % CI".into(), real),
            curve(
                format!(
                    "augmented ({} real + permutations), 95 % CI",
                    results.config.real_samples
                ),
                aug,
            ),
        ];
        for (label, name) in [("best candidate", "best_candidate"), ("uniform", "uniform")] {
            let v = reference(name);
            if v.is_finite() && x_range.0.is_finite() {
                lines.push(Series::new(label, vec![(x_range.0, v), (x_range.1, v)]));
            }
        }
        line_chart(
            &out_dir.join(format!("curves_eps{eps:.2}.svg")),
            &format!("ε = {eps}: true expected reward of the greedy LSPI policy"),
            "log₁₀ N (training samples)",
            "expected reward",
            &lines,
        )?;
    }
    let n = results.summary.first().map_or(0, |s| s.n);
    let gap = Series {
        name: "real − augmented, 95 % CI".into(),
        points: results.summary.iter().map(|s| (s.epsilon, s.gap)).collect(),
        band: results
            .summary
            .iter()
            .map(|s| (s.epsilon, s.gap_ci_low, s.gap_ci_high))
            .collect(),
        scatter: false,
    };
    let eps_range = results
        .summary
        .iter()
        .map(|s| s.epsilon)
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
            (a.min(x), b.max(x))
        });
    line_chart(
        &out_dir.join("gap.svg"),
        &format!("gap real − augmented at N = {n}"),
        "ε = max β − min β",
        "reward gap",
        &[
            gap,
            Series::new("0", vec![(eps_range.0, 0.0), (eps_range.1, 0.0)]),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_are_on_the_simplex() {
        let c = candidate_set(10, &[0.5, 2.0], 5, 1.0, 3).unwrap();
        assert_eq!(c.len(), 1 + 20 + 5);
        for a in &c {
            crate::simplex::validate_allocation(a, 1e-12).unwrap();
        }
        assert!(candidate_set(10, &[0.0], 0, 1.0, 0).is_err());
    }

    #[test]
    fn tiny_run_is_deterministic_and_well_formed() {
        let cfg = Fig1Config {
            epsilons: vec![0.0, 0.8],
            sample_sizes: vec![20, 200],
            eval_states: 100,
            repetitions: 3,
            ..Fig1Config::quick()
        };
        let a = run(&cfg, |_| {}).unwrap();
        let b = run(&cfg, |_| {}).unwrap();
        assert_eq!(a.rows, b.rows);
        assert_eq!(a.max_lspi_iterations, 1);
        // At N = real_samples both experiments use the same data.
        for e in [0.0, 0.8] {
            let at = |exp: &str| {
                a.rows
                    .iter()
                    .find(|r| r.epsilon == e && r.experiment == exp && r.n == 20)
                    .unwrap()
                    .mean
            };
            assert_eq!(at("real"), at("augmented"));
        }
        let dir = std::env::temp_dir().join(format!("pimtl-fig1-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        write_results(&a, &dir).unwrap();
        for f in [
            "setup.json",
            "metrics.csv",
            "summary.json",
            "gap.svg",
            "curves_eps0.80.svg",
        ] {
            assert!(dir.join(f).exists(), "{f}");
        }
        let _ = std::fs::remove_dir_all(&dir);
        let bad = Fig1Config {
            sample_sizes: vec![10],
            ..Fig1Config::quick()
        };
        assert!(run(&bad, |_| {}).is_err());
    }
}
