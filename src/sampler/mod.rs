//! Prioritised task sampling (paper §5, Algorithm 1 lines "Select a task t ~ p",
//! "Update score s_t", "Update ALL selection probabilities p and IS weights w").
//!
//! Each task `t = 0, …, T − 1` carries a smoothed difficulty score `s_t > 0`. With the
//! prioritisation exponent `α ≥ 0` and the importance-sampling exponent `β ∈ [0, 1]`:
//!
//! ```text
//! score update   s_t ← γ·s_t + (1 − γ)·max(scorer(B_t), floor)        (only the sampled task)
//! priority       q_t = s_t^α                                          (α = 0 → q_t = 1: uniform)
//! probability    p_t = q_t / Σ_t' q_t'
//! IS weight      w_t = (T·p_t)^(−β) / max_t' (T·p_t')^(−β) = (q_min / q_t)^β ∈ (0, 1]
//! ```
//!
//! The maximum weight belongs to the task with the smallest priority, so `max_t w_t` needs
//! `q_min = min_t q_t`. [`TaskSampler`] keeps the priorities in two segment trees over the
//! same leaves — sums for drawing and minima for the weights — so a draw, an update and a
//! weight all cost O(log T) and "update ALL probabilities and weights" is implicit.
//!
//! Internal nodes are always *recomputed from their two children* (never updated by adding a
//! delta), so every internal node is the same deterministic function of the leaves that a
//! fresh build computes: the trees cannot drift (see `notes/theory-references.md`, A4).
//! [`TaskSampler::rebuild`] and the periodic rebuild of [`SamplerConfig::rebuild_every`]
//! are a belt-and-braces guard that, with this design, reproduce the same bits.
//!
//! The module also holds:
//! * the scorers of §5 and §6.2 ([`Scorer`], [`ScoreInput`], [`RewardVariance`],
//!   [`MaxDeviationFromEqual`], [`MeanDeviationFromEqual`], [`MeanAbsTdError`],
//!   [`GradientNorm`]);
//! * [`UniformSubsetSampler`] and [`task_from_seed`], which create tasks (m-subsets of a
//!   universe of M entities) lazily when `C(M, m)` is far too large to enumerate;
//! * [`NaiveSampler`], an O(T) implementation of the same formulas used as the test oracle.

mod descent;

use crate::error::{Error, Result};
use crate::policy::Isa;
use rand::{Rng, RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

// ---------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------

/// Parameters of the task sampler (§5; defaults from the paper's Appendix A.1).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SamplerConfig {
    /// Prioritisation exponent `α ≥ 0` in `p_t = s_t^α / Σ s^α`; `α = 0` is uniform sampling
    /// (the "MTL without prioritised sampling" of Fig. 4). Default 0.5 (A.1).
    pub alpha: f64,
    /// Importance-sampling exponent `β ∈ [0, 1]` in `w_t = (T p_t)^(−β) / max w`; `β = 1`
    /// fully compensates the sampling bias. Default 1.0 (A.1).
    pub beta: f64,
    /// Smoothing `γ ∈ [0, 1)` in `s_t ← γ s_t + (1 − γ) scorer(B_t)`; `γ = 0` keeps only the
    /// latest score. `γ = 1` would freeze the scores (the scorer would be ignored), so it is
    /// rejected. Default 0.2 (A.1).
    pub smoothing: f64,
    /// Score `s_t` every task starts with (`> 0`, finite). Default 1.0: all tasks start with the
    /// same score, hence equally likely (`p_t = 1/T`, `w_t = 1`) until they are scored, and every
    /// task keeps a positive probability of being visited (as PER gives new items a priority).
    pub initial_score: f64,
    /// Lower bound applied to each raw scorer value before smoothing (`> 0`, finite), so that
    /// `s_t > 0` and `p_t > 0` for every task: a task whose score is 0 would never be drawn again
    /// and would give `w_t = ∞`. Default 1e-6.
    pub score_floor: f64,
    /// Rebuild both trees from the scores every `rebuild_every` updates (`0` = never). Because
    /// nodes are recomputed from their children the rebuild reproduces the same bits; it is kept
    /// as a cheap guard (amortised O(T / rebuild_every) per update). Default `1 << 20`,
    /// independent of T.
    pub rebuild_every: u64,
}

impl Default for SamplerConfig {
    fn default() -> Self {
        SamplerConfig {
            alpha: 0.5,
            beta: 1.0,
            smoothing: 0.2,
            initial_score: 1.0,
            score_floor: 1e-6,
            rebuild_every: 1 << 20,
        }
    }
}

impl SamplerConfig {
    /// Checks every field against its documented range.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming `alpha` (not finite or `< 0`), `beta` (not in
    /// `[0, 1]`), `smoothing` (not in `[0, 1)`), `initial_score` or `score_floor` (not finite
    /// or `≤ 0`).
    pub fn validate(&self) -> Result<()> {
        if !(self.alpha.is_finite() && self.alpha >= 0.0) {
            return Err(Error::param(
                "alpha",
                self.alpha,
                "prioritisation exponent must be finite and >= 0",
            ));
        }
        if !(0.0..=1.0).contains(&self.beta) {
            return Err(Error::param(
                "beta",
                self.beta,
                "importance-sampling exponent must be in [0, 1]",
            ));
        }
        if !(0.0..1.0).contains(&self.smoothing) {
            return Err(Error::param(
                "smoothing",
                self.smoothing,
                "smoothing factor gamma must be in [0, 1)",
            ));
        }
        if !(self.initial_score.is_finite() && self.initial_score > 0.0) {
            return Err(Error::param(
                "initial_score",
                self.initial_score,
                "initial score must be finite and > 0",
            ));
        }
        if !(self.score_floor.is_finite() && self.score_floor > 0.0) {
            return Err(Error::param(
                "score_floor",
                self.score_floor,
                "score floor must be finite and > 0",
            ));
        }
        Ok(())
    }

    /// The smoothed score after observing `raw`: `γ·old + (1 − γ)·max(raw, floor)`, raised to
    /// `min(floor, old)` if rounding put it below that bound.
    ///
    /// # Errors
    /// [`Error::NonFinite`] (`score`, index `task`) if `raw` is NaN or infinite;
    /// [`Error::Overflow`] if the smoothed value overflows.
    fn smooth(&self, task: usize, old: f64, raw: f64) -> Result<f64> {
        if !raw.is_finite() {
            return Err(Error::NonFinite {
                what: "score",
                index: task,
                value: raw,
            });
        }
        let g = self.smoothing;
        // A convex combination of `old` and a value ≥ floor is ≥ min(floor, old) in exact
        // arithmetic, but can round one ulp below it; clamp so that s_t ≥ min(floor, old) holds
        // exactly (hence s_t ≥ floor once a score is ≥ floor, and s_t > 0 always).
        let s = (g * old + (1.0 - g) * raw.max(self.score_floor)).max(self.score_floor.min(old));
        if !s.is_finite() {
            return Err(Error::Overflow {
                what: format!("smoothed score of task {task} overflows f64 (raw score {raw})"),
            });
        }
        Ok(s)
    }
}

/// `q = s^α`, with the common exponents special-cased: `α = 0` gives exactly 1, `α = 1` gives
/// `s`, `α = 0.5` the correctly rounded `√s` and `α = 2` the correctly rounded `s·s` (`powf`
/// is not guaranteed correctly rounded; other exponents use it).
#[inline]
fn priority_of(s: f64, alpha: f64) -> f64 {
    if alpha == 0.0 {
        1.0
    } else if alpha == 1.0 {
        s
    } else if alpha == 0.5 {
        s.sqrt()
    } else if alpha == 2.0 {
        s * s
    } else {
        s.powf(alpha)
    }
}

/// `x^β` for the weight ratio `x = q_min / q_t ∈ (0, 1]`.
#[inline]
fn pow_beta(x: f64, beta: f64) -> f64 {
    if beta == 0.0 {
        1.0
    } else if beta == 1.0 {
        x
    } else {
        x.powf(beta)
    }
}

/// Checks that a priority is usable: finite and `> 0`.
fn check_priority(task: usize, s: f64, q: f64, alpha: f64) -> Result<()> {
    if q.is_finite() && q > 0.0 {
        Ok(())
    } else {
        Err(Error::Overflow {
            what: format!(
                "priority s^alpha = {s}^{alpha} = {q} of task {task} is not a finite positive number"
            ),
        })
    }
}

fn alloc_filled(len: usize, value: f64, what: &str) -> Result<Vec<f64>> {
    let mut v = Vec::new();
    v.try_reserve_exact(len).map_err(|_| Error::Overflow {
        what: format!("cannot allocate {len} f64 values for {what}"),
    })?;
    v.resize(len, value);
    Ok(v)
}

fn task_out_of_range(task: usize, tasks: usize) -> Error {
    Error::param("task", task, format!("task index must be < T = {tasks}"))
}

// ---------------------------------------------------------------------------------------------
// TaskSampler
// ---------------------------------------------------------------------------------------------

/// Leaves per block: the bottom three levels of the trees live in one cache line of priorities.
const BLOCK: usize = 8;

/// `Σ` of one block's eight priorities in the binary tree's order,
/// `((q0 + q1) + (q2 + q3)) + ((q4 + q5) + (q6 + q7))` — the bits a node over these leaves has in
/// a binary sum tree.
#[inline]
fn block_sum(q: &[f64]) -> f64 {
    ((q[0] + q[1]) + (q[2] + q[3])) + ((q[4] + q[5]) + (q[6] + q[7]))
}

/// Prioritised sampler over `T` tasks with O(log T) draw, update and IS weight (§5).
///
/// Mathematically two complete binary trees over `L = next_pow2(max(T, 8))` leaves — a sum tree
/// for drawing and a min tree for the weights — with leaf `t` holding `q_t = s_t^α` (padding
/// leaves 0 in the sum tree, ignored by the min tree):
///
/// ```text
/// sum(node) = sum(left) + sum(right)      min(node) = min(min(left), min(right))
/// total     = sum(root) = Σ_t s_t^α       q_min     = min(root)
/// ```
///
/// Stored compactly: the leaves once (`q`, `T` values padded to a multiple of 8; the blocks of
/// padding past them are implicit, with sum 0 and minimum `+∞`), and the nodes of both trees only down to
/// the level whose nodes cover a block of 8 leaves (`sum` and `min`, `2L/8` values each, node 1
/// the root, node `i` with children `2i` and `2i + 1`, block `b` at node `L/8 + b`). The three
/// levels inside a block are recomputed from its eight priorities, one cache line, in the binary
/// tree's order (`block_sum`), so every node value, every draw and every weight has the bits
/// of the full binary trees, while memory is about `8·(2T + L/2)` bytes instead of
/// `8·(T + 4L)` (1.9 MB instead of 4.8 MB at `T = 10^5`, which then fits a 2 MB L2 cache;
/// 0.19 GB instead of 0.62 GB at `T = 10^7`), and a draw plus update touches about two cache
/// lines that the top of the tree does not already hold.
///
/// Invariant: every task's priority `s_t^α` is finite and `> 0`, and the total is finite;
/// updates that would break it are rejected with [`Error::Overflow`] and leave the sampler
/// unchanged.
#[derive(Clone, PartialEq)]
pub struct TaskSampler {
    config: SamplerConfig,
    tasks: usize,
    /// `L/8`: blocks of leaves, i.e. leaves of the stored trees.
    blocks: usize,
    scores: Vec<f64>,
    /// `q_t` for `t < T`, then 0 up to a multiple of 8.
    q: Vec<f64>,
    sum: Vec<f64>,
    min: Vec<f64>,
    /// Per depth of the stored trees, the last node whose subtree holds a real task
    /// (`descent::Tree::last_real`): the batched descents test this index instead of loading
    /// the right sibling's sum.
    last_real: Vec<usize>,
    updates_since_rebuild: u64,
}

impl std::fmt::Debug for TaskSampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskSampler")
            .field("tasks", &self.tasks)
            .field("total_priority", &self.total_priority())
            .field("min_priority", &self.min_priority())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl TaskSampler {
    /// A sampler over `tasks` tasks, each starting at `s_t = config.initial_score` (so
    /// `p_t = 1/T`, `w_t = 1`). O(T) time and memory.
    ///
    /// # Errors
    /// - the errors of [`SamplerConfig::validate`];
    /// - [`Error::InvalidParameter`] (`tasks`) if `tasks == 0`;
    /// - [`Error::Overflow`] if `next_pow2(T)` overflows, the arrays cannot be allocated, or
    ///   `initial_score^α` or `T · initial_score^α` is not a finite positive number.
    pub fn new(tasks: usize, config: SamplerConfig) -> Result<Self> {
        config.validate()?;
        if tasks == 0 {
            return Err(Error::param("tasks", 0, "need at least one task (T >= 1)"));
        }
        let scores = alloc_filled(tasks, config.initial_score, "task scores")?;
        Self::from_score_vec(scores, config)
    }

    /// A sampler whose smoothed scores are `scores` (e.g. restored from a checkpoint); no
    /// smoothing or floor is applied. O(T).
    ///
    /// # Errors
    /// - the errors of [`SamplerConfig::validate`];
    /// - [`Error::InvalidParameter`] (`tasks`) if `scores` is empty;
    /// - [`Error::NonFinite`] (`scores`) for the first NaN or infinite score;
    /// - [`Error::InvalidParameter`] (`scores`) for the first score `≤ 0`;
    /// - [`Error::Overflow`] as in [`TaskSampler::new`].
    pub fn from_scores(scores: &[f64], config: SamplerConfig) -> Result<Self> {
        config.validate()?;
        if scores.is_empty() {
            return Err(Error::param("tasks", 0, "need at least one task (T >= 1)"));
        }
        check_scores(scores)?;
        let mut v = Vec::new();
        v.try_reserve_exact(scores.len()).map_err(|_| Error::Overflow {
            what: format!("cannot allocate {} task scores", scores.len()),
        })?;
        v.extend_from_slice(scores);
        Self::from_score_vec(v, config)
    }

    fn from_score_vec(scores: Vec<f64>, config: SamplerConfig) -> Result<Self> {
        let tasks = scores.len();
        let leaves = tasks
            .max(BLOCK)
            .checked_next_power_of_two()
            .ok_or_else(|| Error::Overflow {
                what: format!("next power of two of T = {tasks}"),
            })?;
        let blocks = leaves / BLOCK;
        // Priorities padded to whole blocks only: blocks past the last task are never
        // descended into (their sum is 0) and never written.
        let q = alloc_filled(tasks.div_ceil(BLOCK) * BLOCK, 0.0, "task priorities")?;
        let sum = alloc_filled(2 * blocks, 0.0, "sum tree")?;
        let min = alloc_filled(2 * blocks, f64::INFINITY, "min tree")?;
        let mut sampler = TaskSampler {
            config,
            tasks,
            blocks,
            scores,
            q,
            sum,
            min,
            last_real: descent::last_real_nodes(tasks, blocks),
            updates_since_rebuild: 0,
        };
        for (t, &s) in sampler.scores.iter().enumerate() {
            check_priority(t, s, priority_of(s, config.alpha), config.alpha)?;
        }
        sampler.rebuild();
        let total = sampler.total_priority();
        if !total.is_finite() {
            return Err(Error::Overflow {
                what: format!("total priority sum_t s_t^alpha over T = {tasks} tasks is {total}"),
            });
        }
        Ok(sampler)
    }

    /// Recomputes every priority `q_t = s_t^α` from the scores, every block from its leaves and
    /// every stored node from its children, bottom-up. O(T). Also run automatically every
    /// [`SamplerConfig::rebuild_every`] updates.
    pub fn rebuild(&mut self) {
        let alpha = self.config.alpha;
        for (q, &s) in self.q.iter_mut().zip(&self.scores) {
            *q = priority_of(s, alpha);
        }
        for b in 0..self.q.len() / BLOCK {
            self.write_block(b);
        }
        for i in (1..self.blocks).rev() {
            self.sum[i] = self.sum[2 * i] + self.sum[2 * i + 1];
            self.min[i] = self.min[2 * i].min(self.min[2 * i + 1]);
        }
        self.updates_since_rebuild = 0;
    }

    /// Sets the stored node of block `b` from its eight priorities: their sum in tree order and
    /// the minimum over its real tasks (`+∞` for a block of padding only).
    #[inline]
    fn write_block(&mut self, b: usize) {
        let base = b * BLOCK;
        let q = &self.q[base..base + BLOCK];
        let real = self.tasks.saturating_sub(base).min(BLOCK);
        let min = if real == BLOCK {
            // A full block: the same minimum in a fixed tree of comparisons (priorities are
            // finite and > 0, so the order of `min` cannot change the result).
            let m = |a: f64, b: f64| a.min(b);
            m(m(m(q[0], q[1]), m(q[2], q[3])), m(m(q[4], q[5]), m(q[6], q[7])))
        } else {
            q[..real].iter().copied().fold(f64::INFINITY, f64::min)
        };
        self.sum[self.blocks + b] = block_sum(q);
        self.min[self.blocks + b] = min;
    }

    /// Writes priority `t` and recomputes its block and the block's ancestors from their
    /// children. O(log T).
    ///
    /// The new value of each ancestor is carried in a register up the path
    /// (`node = child + sibling`: IEEE addition is commutative, so this is the bits of
    /// `sum[2i] + sum[2i+1]`; likewise for the minimum), instead of being stored and loaded
    /// back at every level.
    #[inline]
    fn write_leaf(&mut self, t: usize, q: f64) {
        let b = t / BLOCK;
        self.q[t] = q;
        self.write_block(b);
        let mut i = self.blocks + b;
        let mut sum = self.sum[i];
        let mut min = self.min[i];
        // Both trees have 2·blocks entries, a power of two, and every index below is in range:
        // masking changes nothing and lets the compiler drop the four bounds checks per level.
        let mask = self.sum.len() - 1;
        debug_assert_eq!(self.min.len(), self.sum.len());
        let (sums, mins) = (&mut self.sum[..=mask], &mut self.min[..=mask]);
        while i > 1 {
            let sibling = i ^ 1;
            i >>= 1;
            sum += sums[sibling & mask];
            // Priorities are never NaN, so a compare-select is `f64::min` without its NaN
            // handling (one `minsd` instead of five instructions; equal values have equal bits).
            let other = mins[sibling & mask];
            min = if other < min { other } else { min };
            sums[i & mask] = sum;
            mins[i & mask] = min;
        }
    }

    /// Sets task `t`'s smoothed score to `s`, keeping the invariant or leaving `self` unchanged.
    fn store_score(&mut self, t: usize, s: f64) -> Result<()> {
        let alpha = self.config.alpha;
        let q = priority_of(s, alpha);
        check_priority(t, s, q, alpha)?;
        let old = self.q[t];
        self.write_leaf(t, q);
        let total = self.total_priority();
        if !total.is_finite() {
            // Recomputing from the children restores the previous bits exactly.
            self.write_leaf(t, old);
            return Err(Error::Overflow {
                what: format!("total priority overflows when task {t} gets score {s}"),
            });
        }
        self.scores[t] = s;
        self.updates_since_rebuild += 1;
        if self.config.rebuild_every > 0 && self.updates_since_rebuild >= self.config.rebuild_every {
            self.rebuild();
        }
        Ok(())
    }

    /// Observes a scorer value for task `t` and smooths it in (Algorithm 1, "Update score"):
    ///
    /// ```text
    /// s_t ← γ·s_t + (1 − γ)·max(score, floor)
    /// ```
    ///
    /// Zero and negative scores are clamped to `score_floor` (so every task keeps `p_t > 0`).
    /// Returns the new `s_t`. O(log T).
    ///
    /// # Errors
    /// On error the sampler is unchanged:
    /// - [`Error::InvalidParameter`] (`task`) if `t ≥ T`;
    /// - [`Error::NonFinite`] (`score`, index `t`) if `score` is NaN or ±∞;
    /// - [`Error::Overflow`] if `s_t`, `s_t^α` or the total priority would not be finite (or
    ///   `s_t^α` would underflow to 0).
    pub fn update(&mut self, t: usize, score: f64) -> Result<f64> {
        let old = *self
            .scores
            .get(t)
            .ok_or_else(|| task_out_of_range(t, self.tasks))?;
        let s = self.config.smooth(t, old, score)?;
        self.store_score(t, s)?;
        Ok(s)
    }

    /// A batch of [`TaskSampler::update`]s, `tasks[k]` observing `scores[k]` in order (a task
    /// that appears twice is smoothed twice, in that order); `smoothed[k]` receives the new
    /// `s_t` after the `k`-th update, as `update` returns it.
    ///
    /// The scores, priorities and trees end with the bits of the same updates made one by one:
    /// every node is recomputed from its children, so the trees are a function of the final
    /// priorities only. The batch smooths every score first (checking each, with an undo log)
    /// and then rewrites each touched leaf's path once per update, as [`TaskSampler::update`]
    /// would; the total is checked once, after the batch. (Recomputing the touched nodes level
    /// by level, each once, was measured and was slower: 9.8 vs 17.3 M draw+update/s at
    /// T = 10^5 on a Xeon model 207, because sorting the touched nodes costs more than the
    /// shared upper levels save.)
    ///
    /// # Errors
    /// All or nothing: on error the sampler is unchanged.
    /// - [`Error::InvalidParameter`] (`smoothed`) if the three slices differ in length;
    /// - the errors of [`TaskSampler::update`] for the first update that fails (index, score,
    ///   priority), or [`Error::Overflow`] if the total priority after the whole batch is not
    ///   finite.
    pub fn update_many(&mut self, tasks: &[usize], scores: &[f64], smoothed: &mut [f64]) -> Result<()> {
        if scores.len() != tasks.len() || smoothed.len() != tasks.len() {
            return Err(Error::param(
                "smoothed",
                format!(
                    "{} tasks, {} scores, {} outputs",
                    tasks.len(),
                    scores.len(),
                    smoothed.len()
                ),
                "one score and one output per task",
            ));
        }
        let alpha = self.config.alpha;
        // Old (score, priority) of each update, to undo the batch in reverse order.
        let mut undo: Vec<(f64, f64)> = Vec::with_capacity(tasks.len());
        let mut failure = None;
        for (k, (&t, &raw)) in tasks.iter().zip(scores).enumerate() {
            let step = (|| {
                let old = *self
                    .scores
                    .get(t)
                    .ok_or_else(|| task_out_of_range(t, self.tasks))?;
                let s = self.config.smooth(t, old, raw)?;
                let q = priority_of(s, alpha);
                check_priority(t, s, q, alpha)?;
                Ok::<_, Error>((old, s, q))
            })();
            match step {
                Ok((old, s, q)) => {
                    undo.push((old, self.q[t]));
                    self.scores[t] = s;
                    self.q[t] = q;
                    smoothed[k] = s;
                }
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        if let Some(e) = failure {
            self.undo_leaves(&tasks[..undo.len()], &undo);
            return Err(e);
        }
        for &t in tasks {
            self.write_leaf(t, self.q[t]);
        }
        let total = self.total_priority();
        if !total.is_finite() {
            self.undo_leaves(tasks, &undo);
            // Every touched path recomputed from the restored leaves: the previous bits.
            for &t in tasks {
                self.write_leaf(t, self.q[t]);
            }
            return Err(Error::Overflow {
                what: format!(
                    "total priority overflows after a batch of {} updates",
                    tasks.len()
                ),
            });
        }
        // The counter one-by-one updates would leave: rebuilt whenever it reaches
        // `rebuild_every`, so it ends at (old + n) mod rebuild_every.
        let count = self.updates_since_rebuild + tasks.len() as u64;
        let every = self.config.rebuild_every;
        if every > 0 && count >= every {
            self.rebuild();
            self.updates_since_rebuild = count % every;
        } else {
            self.updates_since_rebuild = count;
        }
        Ok(())
    }

    /// Restores the scores and priorities a batch overwrote, latest first (so a task updated
    /// twice gets its value from before the batch). Does not touch the trees.
    fn undo_leaves(&mut self, tasks: &[usize], undo: &[(f64, f64)]) {
        for (&t, &(s, q)) in tasks.iter().zip(undo).rev() {
            self.scores[t] = s;
            self.q[t] = q;
        }
    }

    /// Sets task `t`'s smoothed score to `s` directly (no smoothing, no floor). O(log T).
    ///
    /// # Errors
    /// As [`TaskSampler::update`], plus [`Error::InvalidParameter`] (`score`) if `s ≤ 0`.
    pub fn set_score(&mut self, t: usize, s: f64) -> Result<()> {
        if t >= self.tasks {
            return Err(task_out_of_range(t, self.tasks));
        }
        check_scores(std::slice::from_ref(&s)).map_err(|e| match e {
            Error::NonFinite { what, value, .. } => Error::NonFinite {
                what,
                index: t,
                value,
            },
            other => other,
        })?;
        self.store_score(t, s)
    }

    /// Draws a task `t` with probability `p_t`: `u = U·Σ q` with `U ~ Uniform[0, 1)`, then
    /// [`TaskSampler::find`]. O(log T); one `f64` from `rng`.
    #[inline]
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> usize {
        let u = rng.random::<f64>() * self.total_priority();
        self.find(u)
    }

    /// Draws a task and returns it with its IS weight `w_t = (q_min / q_t)^β`. O(log T).
    #[inline]
    pub fn sample_with_weight<R: Rng + ?Sized>(&self, rng: &mut R) -> (usize, f64) {
        let t = self.sample(rng);
        (t, self.weight_unchecked(t))
    }

    /// The task whose interval of the cumulative priorities contains `u`, in tree order:
    /// the `t` with `Σ_{t'<t} q_t' ≤ u < Σ_{t'≤t} q_t'` (up to rounding of the partial sums).
    ///
    /// Descends from the root, going right when `u ≥ sum(left)` *and* the right subtree has
    /// positive mass, so it never lands on a padding leaf even when rounding pushes `u` past the
    /// last boundary: `u ≥ total` (and `+∞`) gives the last task, `u < 0` and NaN give task 0.
    /// O(log T).
    #[inline]
    pub fn find(&self, u: f64) -> usize {
        let mut u = u;
        let mut i = 1usize;
        // A plain branch, not a branch-free select: measured 2-4x faster on trees that miss
        // the cache (T >= 10^5), because the CPU speculates down the predicted child and
        // starts its loads early, while a select serialises every level on the previous one.
        while i < self.blocks {
            // Request the cache line holding this node's 8 great-grandchildren (indices 8i…8i+7)
            // now, so the loads three levels down overlap with this level's instead of waiting
            // one after the other; a prefetch never faults and does not change any result.
            #[cfg(target_arch = "x86_64")]
            if 8 * i < self.sum.len() {
                use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
                // SAFETY: the pointer is in bounds of `self.sum` (checked above); a prefetch
                // reads nothing architecturally and is available on every x86_64 CPU (SSE).
                unsafe { _mm_prefetch::<_MM_HINT_T0>(self.sum.as_ptr().add(8 * i).cast::<i8>()) };
            }
            // Two levels above the blocks, request the priorities of the four blocks below
            // (four consecutive cache lines), for the same reason.
            #[cfg(target_arch = "x86_64")]
            if 4 * i >= self.blocks && 2 * i < self.blocks {
                use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
                let first = (4 * i - self.blocks) * BLOCK;
                for line in 0..4 {
                    let at = first + line * BLOCK;
                    if at < self.q.len() {
                        // SAFETY: `at < self.q.len()`; a prefetch reads nothing architecturally.
                        unsafe { _mm_prefetch::<_MM_HINT_T0>(self.q.as_ptr().add(at).cast::<i8>()) };
                    }
                }
            }
            let c = 2 * i;
            let left = self.sum[c];
            if u >= left && self.sum[c + 1] > 0.0 {
                u -= left;
                i = c + 1;
            } else {
                i = c;
            }
        }
        self.finish_in_block(i, u)
    }

    /// The last three levels of a descent that has reached the stored node `i` of a block with
    /// residual `u`: the block's eight priorities, summed in the tree's order.
    #[inline]
    fn finish_in_block(&self, i: usize, mut u: f64) -> usize {
        let base = (i - self.blocks) * BLOCK;
        let q = &self.q[base..base + BLOCK];
        let pairs = [q[0] + q[1], q[2] + q[3], q[4] + q[5], q[6] + q[7]];
        let (left, right) = (pairs[0] + pairs[1], pairs[2] + pairs[3]);
        let mut o = 0;
        if u >= left && right > 0.0 {
            u -= left;
            o = 4;
        }
        let (left, right) = (pairs[o / 2], pairs[o / 2 + 1]);
        if u >= left && right > 0.0 {
            u -= left;
            o += 2;
        }
        if u >= q[o] && q[o + 1] > 0.0 {
            o += 1;
        }
        // Cannot exceed T − 1 by construction; clamp defensively.
        (base + o).min(self.tasks - 1)
    }

    /// Draws `out.len()` tasks, each with probability `p_t`: exactly the tasks (and the
    /// generator state) of `out.len()` calls of [`TaskSampler::sample`] in a row — one `f64` per
    /// draw, in order — but the descents run side by side on the process's kernel path
    /// ([`Isa::selected`]): 32 at a time in four AVX-512 registers, 16 in four AVX2 registers, or
    /// 8 portable lanes, level by level, so their loads overlap instead of each waiting for the
    /// previous one. Every path takes the same decisions as [`TaskSampler::find`], hence the
    /// same tasks (module `descent`).
    pub fn sample_many<R: Rng + ?Sized>(&self, rng: &mut R, out: &mut [usize]) {
        self.sample_many_on(Isa::selected(), rng, out);
    }

    /// [`TaskSampler::sample_many`] on a chosen kernel path (tests force each one; the tasks are
    /// the same on every path). A path this CPU cannot run falls back to the next one it can
    /// (AVX-512 → AVX2 → portable).
    pub fn sample_many_on<R: Rng + ?Sized>(&self, isa: Isa, rng: &mut R, out: &mut [usize]) {
        const STEP: usize = 256;
        let total = self.total_priority();
        let tree = self.tree();
        let mut u = [0.0f64; STEP];
        for chunk in out.chunks_mut(STEP) {
            let u = &mut u[..chunk.len()];
            for uk in u.iter_mut() {
                *uk = rng.random::<f64>() * total;
            }
            descent::descend_batch(isa, &tree, u, chunk);
        }
    }

    /// [`TaskSampler::sample_many`], and each drawn task's IS weight `w_t = (q_min / q_t)^β`
    /// in `weights` (as prioritised replay returns them with a batch).
    ///
    /// # Panics
    /// If `weights.len() != out.len()`.
    pub fn sample_many_with_weights<R: Rng + ?Sized>(
        &self,
        rng: &mut R,
        out: &mut [usize],
        weights: &mut [f64],
    ) {
        assert_eq!(out.len(), weights.len(), "one weight per drawn task");
        self.sample_many(rng, out);
        for (w, &t) in weights.iter_mut().zip(out.iter()) {
            *w = self.weight_unchecked(t);
        }
    }

    /// The kernels' view of the trees.
    fn tree(&self) -> descent::Tree<'_> {
        descent::Tree {
            sum: &self.sum,
            q: &self.q,
            blocks: self.blocks,
            tasks: self.tasks,
            depth: self.blocks.trailing_zeros() as usize,
            last_real: &self.last_real,
        }
    }

    /// `p_t = s_t^α / Σ_t' s_t'^α`. O(1).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] (`task`) if `t ≥ T`.
    pub fn probability(&self, t: usize) -> Result<f64> {
        if t >= self.tasks {
            return Err(task_out_of_range(t, self.tasks));
        }
        Ok(self.q[t] / self.total_priority())
    }

    /// The normalised IS weight `w_t = (T p_t)^(−β) / max_t' (T p_t')^(−β) = (q_min / q_t)^β`,
    /// in `(0, 1]`, equal to 1 for the least likely task. O(1).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] (`task`) if `t ≥ T`.
    pub fn weight(&self, t: usize) -> Result<f64> {
        if t >= self.tasks {
            return Err(task_out_of_range(t, self.tasks));
        }
        Ok(self.weight_unchecked(t))
    }

    #[inline]
    fn weight_unchecked(&self, t: usize) -> f64 {
        pow_beta(self.min[1] / self.q[t], self.config.beta)
    }

    /// All probabilities `p_0, …, p_{T−1}`. O(T).
    pub fn probabilities(&self) -> Vec<f64> {
        let total = self.total_priority();
        self.priorities().iter().map(|q| q / total).collect()
    }

    /// All IS weights `w_0, …, w_{T−1}`. O(T).
    pub fn weights(&self) -> Vec<f64> {
        (0..self.tasks).map(|t| self.weight_unchecked(t)).collect()
    }

    /// The priorities `q_t = s_t^α` (the leaves of the trees).
    pub fn priorities(&self) -> &[f64] {
        &self.q[..self.tasks]
    }

    /// The smoothed scores `s_t`.
    pub fn scores(&self) -> &[f64] {
        &self.scores
    }

    /// `Σ_t s_t^α` (the root of the sum tree). O(1).
    #[inline]
    pub fn total_priority(&self) -> f64 {
        self.sum[1]
    }

    /// `q_min = min_t s_t^α` (the root of the min tree). O(1).
    #[inline]
    pub fn min_priority(&self) -> f64 {
        self.min[1]
    }

    /// The number of tasks `T`.
    pub fn len(&self) -> usize {
        self.tasks
    }

    /// Always `false`: a sampler has at least one task.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The configuration the sampler was built with.
    pub fn config(&self) -> &SamplerConfig {
        &self.config
    }
}

fn check_scores(scores: &[f64]) -> Result<()> {
    crate::error::check_finite("scores", scores)?;
    if let Some(i) = scores.iter().position(|&s| s <= 0.0) {
        return Err(Error::param(
            "scores",
            scores[i],
            format!("score of task {i} must be > 0"),
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// NaiveSampler (test oracle)
// ---------------------------------------------------------------------------------------------

/// The O(T) reference implementation of [`TaskSampler`], used as the test oracle.
///
/// Stores only the scores and evaluates the paper's formulas literally on every call:
///
/// ```text
/// p_t = s_t^α / Σ_t' s_t'^α        w_t = (T p_t)^(−β) / max_t' (T p_t')^(−β)
/// ```
///
/// Updates apply the same smoothing rule and errors as [`TaskSampler::update`], with their own
/// code (not [`SamplerConfig`]'s). Drawing scans the cumulative sums linearly.
#[derive(Clone, Debug, PartialEq)]
pub struct NaiveSampler {
    config: SamplerConfig,
    scores: Vec<f64>,
}

impl NaiveSampler {
    /// `tasks` tasks at `config.initial_score`.
    ///
    /// # Errors
    /// As [`TaskSampler::new`].
    pub fn new(tasks: usize, config: SamplerConfig) -> Result<Self> {
        config.validate()?;
        if tasks == 0 {
            return Err(Error::param("tasks", 0, "need at least one task (T >= 1)"));
        }
        let scores = alloc_filled(tasks, config.initial_score, "task scores")?;
        Ok(NaiveSampler { config, scores })
    }

    /// Tasks with the given smoothed scores.
    ///
    /// # Errors
    /// As [`TaskSampler::from_scores`] (without the overflow checks).
    pub fn from_scores(scores: &[f64], config: SamplerConfig) -> Result<Self> {
        config.validate()?;
        if scores.is_empty() {
            return Err(Error::param("tasks", 0, "need at least one task (T >= 1)"));
        }
        check_scores(scores)?;
        Ok(NaiveSampler {
            config,
            scores: scores.to_vec(),
        })
    }

    /// `s_t ← γ s_t + (1 − γ) max(score, floor)`; returns the new `s_t`. O(1).
    ///
    /// The smoothing is written out here rather than shared with [`TaskSampler::update`], so
    /// that the oracle does not inherit a mistake in the sampler's rule. Like the sampler it
    /// raises a result that rounding put below `min(floor, old)` back to that bound (a convex
    /// combination of two values `≥ min(floor, old)` cannot be below it in exact arithmetic).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] (`task`), [`Error::NonFinite`] (`score`) and
    /// [`Error::Overflow`] (`s_t` or `s_t^α` not finite positive), leaving `self` unchanged.
    pub fn update(&mut self, t: usize, score: f64) -> Result<f64> {
        let old = *self
            .scores
            .get(t)
            .ok_or_else(|| task_out_of_range(t, self.scores.len()))?;
        if !score.is_finite() {
            return Err(Error::NonFinite {
                what: "score",
                index: t,
                value: score,
            });
        }
        let (gamma, floor) = (self.config.smoothing, self.config.score_floor);
        let floored = if score < floor { floor } else { score };
        let mut s = gamma * old + (1.0 - gamma) * floored;
        let lowest = if floor < old { floor } else { old };
        if s < lowest {
            s = lowest;
        }
        if !s.is_finite() {
            return Err(Error::Overflow {
                what: format!("smoothed score of task {t} overflows f64 (raw score {score})"),
            });
        }
        check_priority(t, s, s.powf(self.config.alpha), self.config.alpha)?;
        self.scores[t] = s;
        Ok(s)
    }

    /// `Σ_t s_t^α`, summed left to right. O(T).
    pub fn total_priority(&self) -> f64 {
        self.scores.iter().map(|s| s.powf(self.config.alpha)).sum()
    }

    /// `p_t = s_t^α / Σ s^α`. O(T).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] (`task`) if `t ≥ T`.
    pub fn probability(&self, t: usize) -> Result<f64> {
        let s = *self
            .scores
            .get(t)
            .ok_or_else(|| task_out_of_range(t, self.scores.len()))?;
        Ok(s.powf(self.config.alpha) / self.total_priority())
    }

    /// `w_t = (T p_t)^(−β) / max_t' (T p_t')^(−β)`, literally. O(T).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] (`task`) if `t ≥ T`.
    pub fn weight(&self, t: usize) -> Result<f64> {
        if t >= self.scores.len() {
            return Err(task_out_of_range(t, self.scores.len()));
        }
        Ok(self.weights()[t])
    }

    /// All `p_t`. O(T).
    pub fn probabilities(&self) -> Vec<f64> {
        let total = self.total_priority();
        self.scores
            .iter()
            .map(|s| s.powf(self.config.alpha) / total)
            .collect()
    }

    /// All `w_t`. O(T).
    pub fn weights(&self) -> Vec<f64> {
        let n = self.scores.len() as f64;
        let beta = self.config.beta;
        let raw: Vec<f64> = self.probabilities().iter().map(|p| (n * p).powf(-beta)).collect();
        let max = raw.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        raw.iter().map(|w| w / max).collect()
    }

    /// Draws `t` with probability `p_t` by a linear scan of the cumulative priorities; if
    /// rounding leaves `u` beyond the last boundary, the last task is returned. O(T).
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> usize {
        let u = rng.random::<f64>() * self.total_priority();
        let mut acc = 0.0;
        for (t, s) in self.scores.iter().enumerate() {
            acc += s.powf(self.config.alpha);
            if u < acc {
                return t;
            }
        }
        self.scores.len() - 1
    }

    /// The smoothed scores `s_t`.
    pub fn scores(&self) -> &[f64] {
        &self.scores
    }

    /// The number of tasks `T`.
    pub fn len(&self) -> usize {
        self.scores.len()
    }

    /// Always `false`: a sampler has at least one task.
    pub fn is_empty(&self) -> bool {
        false
    }
}

// ---------------------------------------------------------------------------------------------
// Lazy tasks: uniformly random m-subsets
// ---------------------------------------------------------------------------------------------

/// Above this task size Floyd's algorithm keeps its partial subset in a hash set instead of a
/// sorted vector (whose insertions cost O(m)).
const SORTED_VEC_LIMIT: usize = 2048;

/// Draws uniformly random `m`-subsets of the universe `{0, …, M − 1}` (tasks `U_t`, §5),
/// without storing the `C(M, m)` possible tasks.
///
/// Uses Floyd's algorithm: for `j = M − m, …, M − 1` draw `r` uniformly in `{0, …, j}` and add
/// `r`, or `j` if `r` is already in the subset. Every `m`-subset has probability
/// `1 / C(M, m)`; in particular each entity is included with probability `m / M`.
/// Exactly `m` random draws, O(m log m) time for `m ≤ 2048` (O(m) expected above).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UniformSubsetSampler {
    universe: usize,
    size: usize,
}

impl UniformSubsetSampler {
    /// Subsets of size `m = task_size` of a universe of `M = universe_size` entities.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] (`m`) if `m == 0` or `m > M`.
    pub fn new(universe_size: usize, task_size: usize) -> Result<Self> {
        if task_size == 0 {
            return Err(Error::param("m", 0, "task size must be at least 1"));
        }
        if task_size > universe_size {
            return Err(Error::param(
                "m",
                task_size,
                format!("task size must be <= universe size M = {universe_size}"),
            ));
        }
        Ok(UniformSubsetSampler {
            universe: universe_size,
            size: task_size,
        })
    }

    /// The universe size `M`.
    pub fn universe_size(&self) -> usize {
        self.universe
    }

    /// The task size `m`.
    pub fn task_size(&self) -> usize {
        self.size
    }

    /// One uniformly random `m`-subset, sorted increasingly.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> Vec<usize> {
        let mut out = Vec::with_capacity(self.size);
        self.sample_into(rng, &mut out);
        out
    }

    /// As [`UniformSubsetSampler::sample`], writing into `out` (cleared first) to reuse its
    /// allocation.
    pub fn sample_into<R: Rng + ?Sized>(&self, rng: &mut R, out: &mut Vec<usize>) {
        out.clear();
        let (big_m, m) = (self.universe, self.size);
        if m <= SORTED_VEC_LIMIT {
            for j in (big_m - m)..big_m {
                let r = rng.random_range(0..=j);
                match out.binary_search(&r) {
                    // Every element so far is ≤ j − 1, so j goes last.
                    Ok(_) => out.push(j),
                    Err(pos) => out.insert(pos, r),
                }
            }
        } else {
            let mut set = HashSet::with_capacity(m);
            for j in (big_m - m)..big_m {
                let r = rng.random_range(0..=j);
                if !set.insert(r) {
                    set.insert(j);
                }
            }
            out.extend(set);
            out.sort_unstable();
        }
    }
}

/// Key bytes 16..32 of [`task_from_seed`]'s generator: a fixed tag so its streams differ from
/// every `ChaCha8Rng::seed_from_u64` stream used elsewhere in the crate.
const TASK_FROM_SEED_TAG: [u8; 16] = *b"pimtl/task-index";

/// Task number `index` of the lazily defined task list `seed`: a uniformly random sorted
/// `m`-subset of `{0, …, M − 1}`, drawn by [`UniformSubsetSampler`] from a `ChaCha8Rng` whose
/// 32-byte key is `seed` (little endian) ‖ `index` (little endian) ‖ `"pimtl/task-index"`.
///
/// The same `(M, m, seed, index)` gives the same task on every platform, and any task can be
/// recreated without the others, so `T` may be astronomically large.
///
/// Distinctness is **not** guaranteed: tasks are independent uniform draws, so among `K` of
/// them the probability of at least one repeat is `1 − Π_{i<K} (1 − i / C(M, m))`, at most
/// `K (K − 1) / (2 C(M, m))` (see [`repeat_probability_bound`]). For `M = 50`, `m = 10`
/// (`C ≈ 1.03·10^10`) that is `≤ 4.3·10^-8` for `K = 30` and `≤ 0.5 %` for `K = 10^4`. Use
/// `tasks::draw_tasks` when distinct tasks are required.
///
/// # Errors
/// [`Error::InvalidParameter`] (`m`) if `m == 0` or `m > M`.
pub fn task_from_seed(universe_size: usize, task_size: usize, seed: u64, index: u64) -> Result<Vec<usize>> {
    let sampler = UniformSubsetSampler::new(universe_size, task_size)?;
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    key[8..16].copy_from_slice(&index.to_le_bytes());
    key[16..].copy_from_slice(&TASK_FROM_SEED_TAG);
    let mut rng = ChaCha8Rng::from_seed(key);
    Ok(sampler.sample(&mut rng))
}

/// Birthday bound on the probability that `count = K` independent uniform `m`-subsets of `M`
/// entities contain a repeat: `min(1, K (K − 1) / (2 C(M, m)))`, computed in logarithms so it
/// works for `C(M, m)` far beyond `u128`. Returns 1 if `m > M` (no subsets, or only the
/// empty one when `m = 0` and any `K ≥ 2` repeats).
pub fn repeat_probability_bound(universe_size: u64, task_size: u64, count: u64) -> f64 {
    if count < 2 {
        return 0.0;
    }
    let log_c = crate::tasks::log_binomial(universe_size, task_size);
    if !log_c.is_finite() {
        return 1.0;
    }
    let k = count as f64;
    let log_pairs = (k * (k - 1.0) / 2.0).ln();
    (log_pairs - log_c).exp().min(1.0)
}

// ---------------------------------------------------------------------------------------------
// Scorers (§5, §6.2)
// ---------------------------------------------------------------------------------------------

/// What a scorer sees of a minibatch `B_t` (§5: "the scoring functions depend on the sampled
/// minibatch").
///
/// Only the fields a scorer reads are checked by it; the others may be empty / `None`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScoreInput<'a> {
    /// Rewards `r_n` of the minibatch, one per sample.
    pub rewards: &'a [f64],
    /// The policy's allocations `π(x_n)`, row-major `[batch][entities]`.
    pub allocations: &'a [f64],
    /// Number of entities `m = |U_t|` (the row length of `allocations`).
    pub entities: usize,
    /// Temporal-difference errors `δ_n`, when the learner has them.
    pub td_errors: Option<&'a [f64]>,
    /// Norm of the minibatch gradient `‖∇_θ L(B_t)‖` of the loss *without* the IS weight
    /// `w_t`, when the learner has it ([`crate::learn::mtl::Trainer`] passes the norm of the
    /// weighted gradient divided by `w_t`; [`crate::learn::ppo::Ppo`] passes none).
    pub grad_norm: Option<f64>,
}

impl<'a> ScoreInput<'a> {
    /// An input with rewards and allocations and no TD errors or gradient norm.
    pub fn new(rewards: &'a [f64], allocations: &'a [f64], entities: usize) -> Self {
        ScoreInput {
            rewards,
            allocations,
            entities,
            td_errors: None,
            grad_norm: None,
        }
    }

    /// The same input with `td_errors` set.
    pub fn with_td_errors(mut self, td_errors: &'a [f64]) -> Self {
        self.td_errors = Some(td_errors);
        self
    }

    /// The same input with `grad_norm` set.
    pub fn with_grad_norm(mut self, grad_norm: f64) -> Self {
        self.grad_norm = Some(grad_norm);
        self
    }

    /// Checks `allocations` against `entities` and returns the rows `π(x_n)`.
    fn allocation_rows(&self) -> Result<std::slice::ChunksExact<'a, f64>> {
        let m = self.entities;
        if m == 0 {
            return Err(Error::param("entities", 0, "need at least one entity"));
        }
        if self.allocations.is_empty() {
            return Err(Error::param(
                "allocations",
                "[]",
                "the minibatch has no allocations",
            ));
        }
        if !self.allocations.len().is_multiple_of(m) {
            let rows = self.allocations.len().div_ceil(m);
            return Err(Error::shape(
                "allocations (batch x entities)",
                rows * m,
                self.allocations.len(),
            ));
        }
        crate::error::check_finite("allocations", self.allocations)?;
        Ok(self.allocations.chunks_exact(m))
    }
}

/// A task-difficulty score computed from one minibatch (`scorer(B_t)` in Algorithm 1).
///
/// The result is fed to [`TaskSampler::update`], which floors it and smooths it.
pub trait Scorer {
    /// The score of the minibatch.
    ///
    /// # Errors
    /// When a field the scorer needs is missing, empty, mis-shaped or non-finite.
    fn score(&self, batch: &ScoreInput<'_>) -> Result<f64>;
}

/// `‖π(x_n) − 1/m‖_∞ = max_i |π(x_n)_i − 1/m|` for one row.
fn linf_from_equal(row: &[f64]) -> f64 {
    let eq = 1.0 / row.len() as f64;
    row.iter().fold(0.0, |acc, &a| acc.max((a - eq).abs()))
}

/// Population variance of the minibatch rewards (§5: "tasks on which the reward variance is high
/// … have more challenging samples"):
///
/// ```text
/// score = (1/B) Σ_n (r_n − r̄)²,   r̄ = (1/B) Σ_n r_n        (two passes)
/// ```
///
/// Errors: empty or non-finite `rewards`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RewardVariance;

impl Scorer for RewardVariance {
    fn score(&self, batch: &ScoreInput<'_>) -> Result<f64> {
        let r = batch.rewards;
        if r.is_empty() {
            return Err(Error::param("rewards", "[]", "the minibatch has no rewards"));
        }
        crate::error::check_finite("rewards", r)?;
        let n = r.len() as f64;
        let mean = r.iter().sum::<f64>() / n;
        Ok(r.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n)
    }
}

/// Maximum deviation of the minibatch allocations from Equal CRP (§6.2, the portfolio scorer):
///
/// ```text
/// score = max_n ‖π(x_n) − 1/m‖_∞
/// ```
///
/// Errors: `entities == 0`, empty, mis-shaped or non-finite `allocations`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MaxDeviationFromEqual;

impl Scorer for MaxDeviationFromEqual {
    fn score(&self, batch: &ScoreInput<'_>) -> Result<f64> {
        Ok(batch.allocation_rows()?.map(linf_from_equal).fold(0.0, f64::max))
    }
}

/// Mean over the minibatch of the deviation from Equal CRP (§6.2's text calls the portfolio
/// scorer a "mean absolute deviation"; this is that reading, averaging the same per-sample
/// deviation that [`MaxDeviationFromEqual`] maximises):
///
/// ```text
/// score = (1/B) Σ_n ‖π(x_n) − 1/m‖_∞
/// ```
///
/// Errors: as [`MaxDeviationFromEqual`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MeanDeviationFromEqual;

impl Scorer for MeanDeviationFromEqual {
    fn score(&self, batch: &ScoreInput<'_>) -> Result<f64> {
        let rows = batch.allocation_rows()?;
        let b = rows.len() as f64;
        Ok(rows.map(linf_from_equal).sum::<f64>() / b)
    }
}

/// Mean absolute TD error of the minibatch (the PER-style priority, applied to tasks):
///
/// ```text
/// score = (1/B) Σ_n |δ_n|
/// ```
///
/// Errors: `td_errors` is `None`, empty or non-finite.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MeanAbsTdError;

impl Scorer for MeanAbsTdError {
    fn score(&self, batch: &ScoreInput<'_>) -> Result<f64> {
        let d = batch.td_errors.ok_or_else(|| {
            Error::param(
                "td_errors",
                "None",
                "MeanAbsTdError needs the minibatch TD errors",
            )
        })?;
        if d.is_empty() {
            return Err(Error::param("td_errors", "[]", "the minibatch has no TD errors"));
        }
        crate::error::check_finite("td_errors", d)?;
        Ok(d.iter().map(|x| x.abs()).sum::<f64>() / d.len() as f64)
    }
}

/// The minibatch gradient norm (§6.2, Fig. 2 right: the scores correlate with it, i.e. the
/// prioritisation is gradient-based):
///
/// ```text
/// score = ‖∇_θ L(B_t)‖ = ‖∇_θ (w_t L(B_t))‖ / w_t
/// ```
///
/// with `L(B_t)` the minibatch loss **before** the importance-sampling weight `w_t`: scoring the
/// weighted gradient would scale each task's score by its own weight, pulling down exactly the
/// tasks the sampler favours (`w_t < 1`). [`crate::learn::mtl::Trainer`] supplies this norm
/// (before clipping); [`crate::learn::ppo::Ppo`] supplies no gradient norm, so this scorer
/// fails there with the error below.
///
/// Errors: `grad_norm` is `None`, non-finite or negative.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GradientNorm;

impl Scorer for GradientNorm {
    fn score(&self, batch: &ScoreInput<'_>) -> Result<f64> {
        let g = batch.grad_norm.ok_or_else(|| {
            Error::param(
                "grad_norm",
                "None",
                "GradientNorm needs the minibatch gradient norm",
            )
        })?;
        if !g.is_finite() {
            return Err(Error::NonFinite {
                what: "grad_norm",
                index: 0,
                value: g,
            });
        }
        if g < 0.0 {
            return Err(Error::param("grad_norm", g, "a norm must be >= 0"));
        }
        Ok(g)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rng() -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(7)
    }

    #[test]
    fn defaults_are_the_papers() {
        let c = SamplerConfig::default();
        assert_eq!((c.alpha, c.beta, c.smoothing), (0.5, 1.0, 0.2));
        c.validate().unwrap();
    }

    #[test]
    fn invalid_config_names_the_parameter() {
        let bad = [
            (
                SamplerConfig {
                    alpha: -1.0,
                    ..Default::default()
                },
                "alpha",
            ),
            (
                SamplerConfig {
                    alpha: f64::NAN,
                    ..Default::default()
                },
                "alpha",
            ),
            (
                SamplerConfig {
                    beta: 1.5,
                    ..Default::default()
                },
                "beta",
            ),
            (
                SamplerConfig {
                    smoothing: -0.1,
                    ..Default::default()
                },
                "smoothing",
            ),
            (
                SamplerConfig {
                    smoothing: 1.0,
                    ..Default::default()
                },
                "smoothing",
            ),
            (
                SamplerConfig {
                    initial_score: 0.0,
                    ..Default::default()
                },
                "initial_score",
            ),
            (
                SamplerConfig {
                    score_floor: f64::INFINITY,
                    ..Default::default()
                },
                "score_floor",
            ),
        ];
        for (c, name) in bad {
            match c.validate() {
                Err(Error::InvalidParameter { name: n, .. }) => assert_eq!(n, name),
                other => panic!("{name}: {other:?}"),
            }
        }
        assert!(TaskSampler::new(0, SamplerConfig::default()).is_err());
    }

    #[test]
    fn single_task() {
        let mut s = TaskSampler::new(1, SamplerConfig::default()).unwrap();
        s.update(0, 3.0).unwrap();
        assert_eq!(s.sample(&mut rng()), 0);
        assert_eq!(s.probability(0).unwrap(), 1.0);
        assert_eq!(s.weight(0).unwrap(), 1.0);
        assert!(s.probability(1).is_err());
    }

    /// Applies the same pseudo-random updates to samplers with the given `rebuild_every`.
    fn updated(tasks: usize, rebuild_every: u64) -> TaskSampler {
        let cfg = SamplerConfig {
            rebuild_every,
            ..SamplerConfig::default()
        };
        let mut s = TaskSampler::new(tasks, cfg).unwrap();
        let mut r = rng();
        for _ in 0..5000 {
            let t = s.sample(&mut r);
            s.update(t, 10f64.powf(r.random_range(-4.0..4.0))).unwrap();
        }
        s
    }

    fn bits(v: &[f64]) -> Vec<u64> {
        v.iter().map(|x| x.to_bits()).collect()
    }

    /// Module docs: every internal node is recomputed from its children, so the trees "cannot
    /// drift" and a rebuild (explicit, periodic, or a fresh build from the scores) "reproduces
    /// the same bits". Checked on every node of both trees, bit for bit.
    #[test]
    fn trees_are_the_same_bits_as_a_fresh_build_after_any_number_of_updates() {
        for tasks in [1usize, 2, 37, 64, 1000] {
            let never = updated(tasks, 0);
            let fresh = TaskSampler::from_scores(never.scores(), never.config).unwrap();
            let mut rebuilt = never.clone();
            rebuilt.rebuild();
            for other in [&fresh, &rebuilt, &updated(tasks, 1), &updated(tasks, 7)] {
                assert_eq!(bits(&other.scores), bits(&never.scores), "T = {tasks}");
                assert_eq!(bits(&other.sum), bits(&never.sum), "T = {tasks}");
                assert_eq!(bits(&other.min), bits(&never.min), "T = {tasks}");
            }
        }
    }

    /// Module docs: an update costs O(log T). It writes the task's priority, recomputes its
    /// block's node from the block's eight priorities and the node's `log2(L/8)` ancestors from
    /// their children, and writes nothing else: every other stored node, and every priority
    /// outside the task's block, is overwritten with a sentinel first and must still hold it
    /// afterwards (a rebuild, or any recomputation beyond the path, would overwrite it).
    #[test]
    fn an_update_writes_only_the_path_from_its_leaf_to_the_root() {
        let s = updated(100, 0);
        let blocks = 128 / BLOCK;
        assert_eq!(
            (s.q.len(), s.sum.len(), s.min.len(), s.scores.len()),
            (104, 2 * blocks, 2 * blocks, 100)
        );
        let (sum_sentinel, min_sentinel) = (-0.5f64, 1e300f64);
        for t in [0usize, 1, 50, 99] {
            let block = t / BLOCK;
            let path: Vec<usize> =
                std::iter::successors(Some(blocks + block), |&i| (i > 1).then_some(i / 2)).collect();
            assert_eq!(path.len(), 5, "block node plus log2(16) = 4 ancestors");
            let mut p = s.clone();
            for i in 1..2 * blocks {
                if !path.contains(&i) {
                    p.sum[i] = sum_sentinel;
                    p.min[i] = min_sentinel;
                }
            }
            for j in (0..100).filter(|j| j / BLOCK != block) {
                p.q[j] = sum_sentinel;
            }
            p.update(t, 3.0).unwrap();
            assert_eq!(p.q[t], priority_of(p.scores[t], p.config.alpha));
            for j in (0..100).filter(|j| j / BLOCK != block) {
                assert_eq!(p.q[j].to_bits(), sum_sentinel.to_bits(), "q[{j}], task {t}");
            }
            let base = block * BLOCK;
            let real = (100 - base).min(BLOCK);
            assert_eq!(p.sum[blocks + block], block_sum(&p.q[base..base + BLOCK]));
            assert_eq!(
                p.min[blocks + block],
                p.q[base..base + real]
                    .iter()
                    .copied()
                    .fold(f64::INFINITY, f64::min)
            );
            for i in 1..2 * blocks {
                if !path.contains(&i) {
                    assert_eq!(p.sum[i].to_bits(), sum_sentinel.to_bits(), "sum[{i}], task {t}");
                    assert_eq!(p.min[i].to_bits(), min_sentinel.to_bits(), "min[{i}], task {t}");
                } else if i < blocks {
                    assert_eq!(p.sum[i], p.sum[2 * i] + p.sum[2 * i + 1], "sum[{i}], task {t}");
                    assert_eq!(p.min[i], p.min[2 * i].min(p.min[2 * i + 1]), "min[{i}], task {t}");
                }
            }
        }
    }

    /// `sample_many` is `sample` called in a row: the same tasks and the same generator state
    /// after, for batch sizes below, at and above its 16 lanes, on trees of every depth.
    #[test]
    fn sample_many_is_repeated_sample() {
        let mut r = rng();
        for tasks in [1usize, 5, 8, 100, 5000] {
            let scores: Vec<f64> = (0..tasks)
                .map(|_| 10f64.powf(r.random_range(-3.0..3.0)))
                .collect();
            let s = TaskSampler::from_scores(&scores, SamplerConfig::default()).unwrap();
            for n in [0usize, 1, 7, 8, 9, 15, 16, 17, 31, 32, 33, 100, 300] {
                for isa in Isa::ALL {
                    let (mut a, mut b) = (ChaCha8Rng::seed_from_u64(9), ChaCha8Rng::seed_from_u64(9));
                    let one: Vec<usize> = (0..n).map(|_| s.sample(&mut a)).collect();
                    let mut many = vec![usize::MAX; n];
                    s.sample_many_on(isa, &mut b, &mut many);
                    assert_eq!(one, many, "T = {tasks}, n = {n}, {isa:?}");
                    assert_eq!(
                        a.random::<u64>(),
                        b.random::<u64>(),
                        "generator state, T = {tasks}, n = {n}"
                    );
                }
            }
        }
    }

    /// The full binary sum and min trees over `L` leaves (node 1 the root, node `i` with children
    /// `2i`, `2i + 1`, leaf `t` at `L + t`; padding 0 and `+∞`) and the descent that draws from
    /// them — the layout the sampler had before the blocked one, written out as a reference.
    struct FullTrees {
        leaves: usize,
        tasks: usize,
        sum: Vec<f64>,
        min: Vec<f64>,
    }

    impl FullTrees {
        fn new(priorities: &[f64]) -> Self {
            let tasks = priorities.len();
            let leaves = tasks.next_power_of_two();
            let (mut sum, mut min) = (vec![0.0; 2 * leaves], vec![f64::INFINITY; 2 * leaves]);
            sum[leaves..leaves + tasks].copy_from_slice(priorities);
            min[leaves..leaves + tasks].copy_from_slice(priorities);
            for i in (1..leaves).rev() {
                sum[i] = sum[2 * i] + sum[2 * i + 1];
                min[i] = min[2 * i].min(min[2 * i + 1]);
            }
            FullTrees {
                leaves,
                tasks,
                sum,
                min,
            }
        }

        fn find(&self, mut u: f64) -> usize {
            let mut i = 1;
            while i < self.leaves {
                let c = 2 * i;
                if u >= self.sum[c] && self.sum[c + 1] > 0.0 {
                    u -= self.sum[c];
                    i = c + 1;
                } else {
                    i = c;
                }
            }
            (i - self.leaves).min(self.tasks - 1)
        }
    }

    /// The blocked layout is the full binary trees bit for bit: every stored node equals the
    /// full tree's node of the same index (they cover the same leaves), the roots agree, and
    /// every draw lands on the same task — for `T` below, at and above a block, powers of two
    /// and not, random `u` and the edges (0, the total, just below it, beyond it, `+∞`, `−1`,
    /// NaN), after updates too.
    #[test]
    fn blocked_trees_are_the_full_binary_trees_bit_for_bit() {
        let mut r = rng();
        for tasks in [1usize, 3, 7, 8, 9, 16, 100, 1000, 4096, 5000] {
            let scores: Vec<f64> = (0..tasks)
                .map(|_| 10f64.powf(r.random_range(-3.0..3.0)))
                .collect();
            let mut s = TaskSampler::from_scores(&scores, SamplerConfig::default()).unwrap();
            for _ in 0..tasks.min(300) {
                let t = s.sample(&mut r);
                s.update(t, 10f64.powf(r.random_range(-3.0..3.0))).unwrap();
            }
            let full = FullTrees::new(s.priorities());
            assert_eq!(s.total_priority().to_bits(), full.sum[1].to_bits(), "T = {tasks}");
            assert_eq!(s.min_priority().to_bits(), full.min[1].to_bits(), "T = {tasks}");
            if tasks >= BLOCK {
                for i in 1..2 * s.blocks {
                    assert_eq!(s.sum[i].to_bits(), full.sum[i].to_bits(), "sum[{i}], T = {tasks}");
                    assert_eq!(s.min[i].to_bits(), full.min[i].to_bits(), "min[{i}], T = {tasks}");
                }
            }
            let total = s.total_priority();
            let edges = [
                0.0,
                total,
                total * (1.0 - 1e-16),
                total * 2.0,
                f64::INFINITY,
                -1.0,
                f64::NAN,
            ];
            for u in edges
                .into_iter()
                .chain((0..2000).map(|_| r.random::<f64>() * total))
            {
                assert_eq!(s.find(u), full.find(u), "T = {tasks}, u = {u}");
            }
        }
    }

    /// `SamplerConfig::smooth` documents `s ≥ min(floor, old)` *exactly*, although the convex
    /// combination can round below it: find such roundings and check the clamp.
    #[test]
    fn smoothing_never_rounds_below_min_of_floor_and_old() {
        let mut r = rng();
        let mut rounded_below = 0;
        for _ in 0..20_000 {
            let x = 10f64.powf(r.random_range(-8.0..2.0));
            let g = r.random_range(0.0..1.0);
            let cfg = SamplerConfig {
                smoothing: g,
                score_floor: x,
                initial_score: x,
                ..SamplerConfig::default()
            };
            // old = floor = raw = x: the exact value is x; rounding may land on either side.
            let combination = g * x + (1.0 - g) * x;
            let expected = if combination < x {
                rounded_below += 1;
                x
            } else {
                combination
            };
            let mut s = TaskSampler::new(2, cfg).unwrap();
            let mut n = NaiveSampler::new(2, cfg).unwrap();
            assert_eq!(s.update(0, x).unwrap(), expected);
            assert_eq!(n.update(0, x).unwrap(), expected);
        }
        assert!(
            rounded_below > 100,
            "the clamp is exercised ({rounded_below} cases)"
        );
    }

    /// `priority_of`'s special cases are the correctly rounded operations.
    #[test]
    fn common_exponents_are_special_cased() {
        let scores = [1e-6, 0.3, 1.0, 2.54, 7.0, 1e5];
        for (alpha, f) in [
            (0.0, (|_| 1.0) as fn(f64) -> f64),
            (0.5, f64::sqrt),
            (1.0, |x| x),
            (2.0, |x| x * x),
        ] {
            let cfg = SamplerConfig {
                alpha,
                ..SamplerConfig::default()
            };
            let s = TaskSampler::from_scores(&scores, cfg).unwrap();
            assert_eq!(bits(s.priorities()), bits(&scores.map(f)), "alpha = {alpha}");
        }
    }

    #[test]
    fn find_never_lands_on_padding() {
        let s = TaskSampler::from_scores(&[1.0, 2.0, 3.0], SamplerConfig::default()).unwrap();
        assert_eq!(s.find(s.total_priority()), 2);
        assert_eq!(s.find(f64::INFINITY), 2);
        assert_eq!(s.find(-1.0), 0);
        assert_eq!(s.find(f64::NAN), 0);
        assert_eq!(s.find(0.0), 0);
        assert_eq!(s.find(1.0), 1);
    }

    #[test]
    fn overflow_is_rejected_and_leaves_sampler_unchanged() {
        let cfg = SamplerConfig {
            alpha: 2.0,
            smoothing: 0.0,
            ..Default::default()
        };
        let mut s = TaskSampler::new(4, cfg).unwrap();
        let before = s.clone();
        assert!(matches!(s.update(1, 1e300), Err(Error::Overflow { .. })));
        assert_eq!(s, before);
        let cfg = SamplerConfig {
            alpha: 1.0,
            smoothing: 0.0,
            ..Default::default()
        };
        let mut s = TaskSampler::new(4, cfg).unwrap();
        s.update(0, f64::MAX).unwrap();
        let before = s.clone();
        assert!(matches!(s.update(1, f64::MAX), Err(Error::Overflow { .. })));
        assert_eq!(s, before);
    }

    #[test]
    fn subset_sampler_large_m() {
        let s = UniformSubsetSampler::new(10_000, 5_000).unwrap();
        let v = s.sample(&mut rng());
        assert_eq!(v.len(), 5_000);
        assert!(v.windows(2).all(|w| w[0] < w[1]));
        assert!(*v.last().unwrap() < 10_000);
        let all = UniformSubsetSampler::new(5, 5).unwrap().sample(&mut rng());
        assert_eq!(all, vec![0, 1, 2, 3, 4]);
    }

    #[test]
    fn task_from_seed_is_deterministic() {
        let a = task_from_seed(50, 10, 3, 17).unwrap();
        assert_eq!(a, task_from_seed(50, 10, 3, 17).unwrap());
        assert_ne!(a, task_from_seed(50, 10, 3, 18).unwrap());
        assert!(task_from_seed(5, 6, 0, 0).is_err());
        let p = repeat_probability_bound(50, 10, 30);
        assert!(p > 4.0e-8 && p < 4.3e-8, "{p}");
        // The doc's second example: K = 10^4 gives at most 0.5 %.
        let p = repeat_probability_bound(50, 10, 10_000);
        assert!(p > 4.8e-3 && p <= 5e-3, "{p}");
    }

    #[test]
    fn scorers() {
        let rewards = [1.0, 2.0, 3.0, 4.0];
        let alloc = [0.5, 0.5, 0.9, 0.1];
        let input = ScoreInput::new(&rewards, &alloc, 2);
        assert_eq!(RewardVariance.score(&input).unwrap(), 1.25);
        assert!((MaxDeviationFromEqual.score(&input).unwrap() - 0.4).abs() < 1e-15);
        assert!((MeanDeviationFromEqual.score(&input).unwrap() - 0.2).abs() < 1e-15);
        assert!(MeanAbsTdError.score(&input).is_err());
        assert!(GradientNorm.score(&input).is_err());
        let td = [-1.0, 3.0];
        let input = input.with_td_errors(&td).with_grad_norm(2.5);
        assert_eq!(MeanAbsTdError.score(&input).unwrap(), 2.0);
        assert_eq!(GradientNorm.score(&input).unwrap(), 2.5);
        let bad = ScoreInput::new(&rewards, &alloc[..3], 2);
        assert!(matches!(
            MaxDeviationFromEqual.score(&bad),
            Err(Error::ShapeMismatch { .. })
        ));
        let nan = [f64::NAN];
        assert!(matches!(
            RewardVariance.score(&ScoreInput::new(&nan, &[], 1)),
            Err(Error::NonFinite { .. })
        ));
    }
}
