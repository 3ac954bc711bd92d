//! Tasks as subsets of a universe of entities, and how many of them there are.
//!
//! Paper §4 (Corollary 2) and §5: a universe `U` holds `M` entities (e.g. assets); a task is a
//! subset `U_t ⊆ U` of `m` of them, on which the agent allocates a resource. There are
//!
//! ```text
//! T = C(M, m) = M! / (m! (M − m)!)  ≥  (M / m)^m
//! ```
//!
//! distinct tasks, exponentially many in `m` (Corollary 2), which is why a single
//! permutation-invariant policy shared across tasks is worth learning.
//!
//! Formulas used here:
//!
//! ```text
//! C(n, k)      = Π_{i=1..k} (n − k + i) / i      (exact at each step: the partial product is C(n−k+i, i))
//! C(n, k)      = C(n, n − k),   C(n, k) = 0 for k > n
//! ln C(n, k)   = Σ_{i=1..k} ln(1 + (n − k) / i)  (k replaced by min(k, n − k))
//! lower bound  = (M / m)^m                        (Corollary 2)
//! ```
//!
//! Tasks are drawn reproducibly from a seed with [`rand_chacha::ChaCha8Rng`], so the same seed
//! gives the same tasks on every platform.

use crate::error::{Error, Result};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// ChaCha stream used by [`draw_tasks`], so that it is independent of [`split_entities`] even
/// when both get the same seed.
const STREAM_DRAW_TASKS: u64 = 1;
/// ChaCha stream used by [`split_entities`].
const STREAM_SPLIT_ENTITIES: u64 = 2;

fn rng_for(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng
}

/// A task `U_t ⊆ U` (§5): a non-empty list of distinct entity indices into a universe of `M` entities.
///
/// The order of the entities is the order in which the policy sees them. Because the policy is
/// permutation equivariant (§4), the order carries no information; tasks produced by
/// [`draw_tasks`] use the canonical ascending order, so that equal subsets compare equal.
///
/// (De)serialises as `{"entities": [...]}`; deserialisation re-checks that the list is non-empty
/// and free of duplicates (the range check needs the universe: see [`Task::check_universe`]).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "TaskRepr")]
pub struct Task {
    entities: Vec<usize>,
}

#[derive(Deserialize)]
struct TaskRepr {
    entities: Vec<usize>,
}

impl TryFrom<TaskRepr> for Task {
    type Error = Error;
    fn try_from(r: TaskRepr) -> Result<Self> {
        Task::new(r.entities, usize::MAX)
    }
}

impl Task {
    /// A task on the given entities (kept in the given order), in a universe of
    /// `universe_size` entities.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] (`entities`) if the list is empty, an index is
    /// `≥ universe_size`, or an index occurs twice (the error names the index and positions).
    pub fn new(entities: Vec<usize>, universe_size: usize) -> Result<Self> {
        if entities.is_empty() {
            return Err(Error::param("entities", "[]", "a task needs at least one entity"));
        }
        let task = Task { entities };
        task.check_universe(universe_size)?;
        let mut order: Vec<usize> = (0..task.entities.len()).collect();
        order.sort_unstable_by_key(|&p| task.entities[p]);
        for w in order.windows(2) {
            let (p, q) = (w[0].min(w[1]), w[0].max(w[1]));
            if task.entities[p] == task.entities[q] {
                return Err(Error::param(
                    "entities",
                    task.entities[p],
                    format!("entity index occurs twice (at positions {p} and {q})"),
                ));
            }
        }
        Ok(task)
    }

    /// Checks that every entity index is `< universe_size`.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] (`entities`) naming the first out-of-range index.
    pub fn check_universe(&self, universe_size: usize) -> Result<()> {
        match self.entities.iter().position(|&e| e >= universe_size) {
            None => Ok(()),
            Some(p) => Err(Error::param(
                "entities",
                self.entities[p],
                format!(
                    "entity index at position {p} is out of range for a universe of \
                     {universe_size} entities"
                ),
            )),
        }
    }

    /// The entity indices, in the task's order.
    pub fn entities(&self) -> &[usize] {
        &self.entities
    }

    /// The number of entities `m`.
    pub fn len(&self) -> usize {
        self.entities.len()
    }

    /// Always `false`: a task has at least one entity.
    pub fn is_empty(&self) -> bool {
        self.entities.is_empty()
    }
}

fn gcd(mut a: u128, mut b: u128) -> u128 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// The exact binomial coefficient `C(n, k)`; `0` when `k > n`.
///
/// Multiplicative formula over `k' = min(k, n − k)` steps: after step `i` the partial result is
/// `C(n − k' + i, i)`. Each step divides out `gcd(result, i)` before multiplying, so the
/// intermediate product never exceeds the next partial result, and since the partial results
/// increase with `i`, an overflow is reported if and only if `C(n, k)` itself exceeds
/// `u128::MAX ≈ 3.4e38`.
///
/// # Errors
/// [`Error::Overflow`] naming `n` and `k` when `C(n, k) > u128::MAX` (e.g. `C(200, 100)`).
pub fn binomial(n: u64, k: u64) -> Result<u128> {
    if k > n {
        return Ok(0);
    }
    let steps = k.min(n - k);
    let base = u128::from(n - steps);
    let mut result: u128 = 1;
    for i in 1..=u128::from(steps) {
        let g = gcd(result, i);
        let (r, d) = (result / g, i / g);
        // `d` divides `base + i` because `result · (base + i) / i` is an integer and
        // gcd(r, d) = 1.
        let factor = (base + i) / d;
        result = r.checked_mul(factor).ok_or_else(|| Error::Overflow {
            what: format!("binomial coefficient C({n}, {k}) does not fit in u128"),
        })?;
    }
    Ok(result)
}

/// Largest `min(k, n − k)` for which [`log_binomial`] sums logarithms (beyond it, ln-gamma).
pub const LOG_BINOMIAL_EXACT_STEPS: u64 = 1 << 22;

/// `ln C(n, k)`, `-inf` when `k > n`.
///
/// For `k' = min(k, n − k) ≤` [`LOG_BINOMIAL_EXACT_STEPS`] an exact (compensated) sum of
/// logarithms, `ln C(n, k) = Σ_{i=1..k'} ln(1 + (n − k') / i)`, accurate to a few ulps even for
/// counts far beyond `u128` (e.g. `C(10_000, 5_000)`); cost O(k'). Beyond that,
/// `lgamma(n + 1) − lgamma(k + 1) − lgamma(n − k + 1)` in O(1), whose relative error stays near
/// `1e-14` there (the three terms are at most `ln n` times the result), so that
/// `C(2^63, 2^62)` is not a loop of `2^62` steps.
pub fn log_binomial(n: u64, k: u64) -> f64 {
    if k > n {
        return f64::NEG_INFINITY;
    }
    let k = k.min(n - k);
    if k > LOG_BINOMIAL_EXACT_STEPS {
        let (n, k) = (n as f64, k as f64);
        return libm::lgamma(n + 1.0) - libm::lgamma(k + 1.0) - libm::lgamma(n - k + 1.0);
    }
    let base = (n - k) as f64;
    // Neumaier-compensated summation.
    let (mut sum, mut comp) = (0.0_f64, 0.0_f64);
    for i in 1..=k {
        let term = (base / i as f64).ln_1p();
        let t = sum + term;
        if sum.abs() >= term.abs() {
            comp += (sum - t) + term;
        } else {
            comp += (term - t) + sum;
        }
        sum = t;
    }
    sum + comp
}

/// The lower bound `(M / m)^m ≤ C(M, m)` of Corollary 2 on the number of tasks.
///
/// # Errors
/// [`Error::InvalidParameter`] (`m`) if `m == 0` or `m > M`.
pub fn corollary2_lower_bound(universe_size: u64, task_size: u64) -> Result<f64> {
    if task_size == 0 {
        return Err(Error::param("m", 0, "task size must be at least 1"));
    }
    if task_size > universe_size {
        return Err(Error::param(
            "m",
            task_size,
            format!("task size must not exceed the universe size M = {universe_size}"),
        ));
    }
    Ok((universe_size as f64 / task_size as f64).powf(task_size as f64))
}

/// Draws `n_tasks` (`T`) distinct tasks of `task_size` (`m`) entities each from a universe of
/// `universe_size` (`M`) entities, each task a uniformly random `m`-subset, reproducibly from
/// `seed`.
///
/// The result is a uniformly random sample without replacement of `T` of the `C(M, m)`
/// subsets, in random order. The entities within each task are in canonical ascending order
/// (the policy is permutation equivariant, so the order carries no information).
///
/// Algorithm: subsets of size `m > M/2` are drawn as complements of `(M − m)`-subsets. If `T`
/// is more than half of `C(M, m)`, all subsets are enumerated in lexicographic order and a
/// seeded partial Fisher–Yates shuffle of their ranks picks `T` of them (memory O(C(M, m)) <
/// 2T); otherwise subsets are drawn by partial Fisher–Yates and duplicates rejected with a hash
/// set (fewer than 2T draws expected). Either way the cost is proportional to the output size.
///
/// # Errors
/// [`Error::InvalidParameter`] naming
/// - `m` if `m == 0` or `m > M`;
/// - `T` if `T == 0`, if `T > C(M, m)` (the error gives `C(M, m)`), or if `T` tasks cannot be
///   allocated.
pub fn draw_tasks(universe_size: usize, task_size: usize, n_tasks: usize, seed: u64) -> Result<Vec<Task>> {
    let (big_m, m) = (universe_size, task_size);
    if m == 0 {
        return Err(Error::param("m", 0, "task size must be at least 1"));
    }
    if m > big_m {
        return Err(Error::param(
            "m",
            m,
            format!("task size must not exceed the universe size M = {big_m}"),
        ));
    }
    if n_tasks == 0 {
        return Err(Error::param("T", 0, "at least one task must be drawn"));
    }
    // `None`: more than u128::MAX subsets, certainly more than `n_tasks`.
    let total = binomial(big_m as u64, m as u64).ok();
    if let Some(total) = total {
        if n_tasks as u128 > total {
            return Err(Error::param(
                "T",
                n_tasks,
                format!("only C({big_m}, {m}) = {total} distinct tasks of size {m} exist"),
            ));
        }
    }
    let too_many = || Error::param("T", n_tasks, "too many tasks to allocate");
    let mut out: Vec<Task> = Vec::new();
    out.try_reserve_exact(n_tasks).map_err(|_| too_many())?;

    // Draw k-subsets with k = min(m, M − m); complement them when k < m.
    let k = m.min(big_m - m);
    let complement = k < m;
    let materialise = |subset: &[usize]| -> Task {
        if !complement {
            return Task {
                entities: subset.to_vec(),
            };
        }
        let mut in_subset = vec![false; big_m];
        for &e in subset {
            in_subset[e] = true;
        }
        Task {
            entities: (0..big_m).filter(|&e| !in_subset[e]).collect(),
        }
    };
    let mut rng = rng_for(seed, STREAM_DRAW_TASKS);

    match total {
        Some(total) if 2 * (n_tasks as u128) > total => {
            // Dense: total < 2T, so enumerating every subset costs no more than the output.
            let total = usize::try_from(total).map_err(|_| too_many())?;
            let mut ranks: Vec<usize> = Vec::new();
            ranks.try_reserve_exact(total).map_err(|_| too_many())?;
            ranks.extend(0..total);
            for i in 0..n_tasks {
                let j = rng.random_range(i..total);
                ranks.swap(i, j);
            }
            // slot[rank] = output position of the subset with that rank, or usize::MAX.
            let mut slot = ranks;
            let chosen: Vec<usize> = slot[..n_tasks].to_vec();
            slot.iter_mut().for_each(|s| *s = usize::MAX);
            for (pos, &rank) in chosen.iter().enumerate() {
                slot[rank] = pos;
            }
            let mut placed: Vec<Option<Task>> = vec![None; n_tasks];
            let mut comb: Vec<usize> = (0..k).collect();
            let mut rank = 0usize;
            loop {
                if let Some(&pos) = slot.get(rank) {
                    if pos != usize::MAX {
                        placed[pos] = Some(materialise(&comb));
                    }
                }
                rank += 1;
                // Next k-subset in lexicographic order.
                let Some(i) = (0..k).rev().find(|&i| comb[i] < big_m - k + i) else {
                    break;
                };
                comb[i] += 1;
                for j in i + 1..k {
                    comb[j] = comb[j - 1] + 1;
                }
            }
            out.extend(placed.into_iter().flatten());
        }
        _ => {
            // Sparse: T ≤ C(M, m)/2, so each draw is new with probability ≥ 1/2.
            let mut pool: Vec<usize> = (0..big_m).collect();
            let mut seen: HashSet<Vec<usize>> = HashSet::with_capacity(n_tasks);
            while out.len() < n_tasks {
                for i in 0..k {
                    let j = rng.random_range(i..big_m);
                    pool.swap(i, j);
                }
                let mut subset = pool[..k].to_vec();
                subset.sort_unstable();
                if !seen.contains(&subset) {
                    out.push(materialise(&subset));
                    seen.insert(subset);
                }
            }
        }
    }
    debug_assert_eq!(out.len(), n_tasks);
    Ok(out)
}

/// Splits the entity indices `0..M` into a training set and a hold-out set of `holdout`
/// entities, uniformly at random and reproducibly from `seed`; returns `(train, holdout)`,
/// both sorted ascending.
///
/// Used to test generalisation to tasks containing entities never seen in training (§5).
///
/// # Errors
/// [`Error::InvalidParameter`] naming `M` if `M == 0`, or `holdout` if `holdout ≥ M` (the
/// training set must be non-empty; `holdout` may be 0).
pub fn split_entities(universe_size: usize, holdout: usize, seed: u64) -> Result<(Vec<usize>, Vec<usize>)> {
    if universe_size == 0 {
        return Err(Error::param("M", 0, "a universe needs at least one entity"));
    }
    if holdout >= universe_size {
        return Err(Error::param(
            "holdout",
            holdout,
            format!("must be less than M = {universe_size} so that the training set is non-empty"),
        ));
    }
    let mut rng = rng_for(seed, STREAM_SPLIT_ENTITIES);
    let mut perm: Vec<usize> = (0..universe_size).collect();
    for i in 0..holdout {
        let j = rng.random_range(i..universe_size);
        perm.swap(i, j);
    }
    let mut train = perm.split_off(holdout);
    perm.sort_unstable();
    train.sort_unstable();
    Ok((train, perm))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn param_name(e: Error) -> &'static str {
        match e {
            Error::InvalidParameter { name, .. } => name,
            other => panic!("expected InvalidParameter, got {other:?}"),
        }
    }

    #[test]
    fn task_construction() {
        let t = Task::new(vec![3, 0, 2], 4).unwrap();
        assert_eq!(t.entities(), [3, 0, 2]);
        assert_eq!(t.len(), 3);
        assert!(!t.is_empty());
        assert_eq!(param_name(Task::new(vec![], 4).unwrap_err()), "entities");
        let msg = Task::new(vec![0, 4], 4).unwrap_err().to_string();
        assert!(msg.contains("= 4") && msg.contains("position 1"), "{msg}");
        let msg = Task::new(vec![5, 1, 2, 1], 6).unwrap_err().to_string();
        assert!(msg.contains("= 1") && msg.contains("positions 1 and 3"), "{msg}");
        assert!(t.check_universe(4).is_ok());
        assert!(t.check_universe(3).is_err());
    }

    #[test]
    fn task_serde_validates() {
        let t = Task::new(vec![1, 4], 5).unwrap();
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(json, r#"{"entities":[1,4]}"#);
        assert_eq!(serde_json::from_str::<Task>(&json).unwrap(), t);
        assert!(serde_json::from_str::<Task>(r#"{"entities":[2,2]}"#).is_err());
        assert!(serde_json::from_str::<Task>(r#"{"entities":[]}"#).is_err());
    }

    #[test]
    fn binomial_small() {
        assert_eq!(binomial(5, 2).unwrap(), 10);
        assert_eq!(binomial(10, 3).unwrap(), 120);
        for n in 0..20 {
            assert_eq!(binomial(n, 0).unwrap(), 1);
            assert_eq!(binomial(n, n).unwrap(), 1);
            assert_eq!(binomial(n, n + 1).unwrap(), 0);
        }
        assert_eq!(binomial(0, 0).unwrap(), 1);
        assert_eq!(binomial(3, 7).unwrap(), 0);
        assert_eq!(binomial(u64::MAX, 1).unwrap(), u128::from(u64::MAX));
        assert_eq!(binomial(u64::MAX, u64::MAX - 1).unwrap(), u128::from(u64::MAX));
    }

    #[test]
    fn binomial_large_exact() {
        assert_eq!(binomial(67, 33).unwrap(), 14_226_520_737_620_288_370);
        assert_eq!(
            binomial(100, 50).unwrap(),
            100_891_344_545_564_193_334_812_497_256
        );
        // C(130, 65) ≈ 9.5e37 < u128::MAX ≈ 3.4e38 fits; exact value computed independently
        // with arbitrary-precision integers (Python's math.comb).
        let c65 = binomial(130, 65).unwrap();
        assert_eq!(c65, 95_067_625_827_960_698_145_584_333_020_095_113_100);
        let rel = ((c65 as f64).ln() - log_binomial(130, 65)).abs() / log_binomial(130, 65);
        assert!(rel < 1e-14, "{rel}");
    }

    #[test]
    fn binomial_overflow() {
        let e = binomial(200, 100).unwrap_err();
        match e {
            Error::Overflow { what } => assert!(what.contains("C(200, 100)"), "{what}"),
            other => panic!("{other:?}"),
        }
        // C(132, 66) ≈ 3.8e38 is just above u128::MAX; C(131, 65) ≈ 1.9e38 is just below.
        assert!(binomial(132, 66).is_err());
        assert!(binomial(131, 65).is_ok());
    }

    #[test]
    fn log_binomial_values() {
        assert_eq!(log_binomial(5, 7), f64::NEG_INFINITY);
        assert_eq!(log_binomial(9, 0), 0.0);
        assert!((log_binomial(5, 2) - 10.0_f64.ln()).abs() < 1e-15);
        let exact = binomial(67, 33).unwrap() as f64;
        assert!((log_binomial(67, 33) - exact.ln()).abs() < 1e-13);
        // ln C(200, 100) = ln 9.0549e58 (reference from exact big-integer arithmetic).
        let l = log_binomial(200, 100);
        assert!((l - 135.753_236_081_278_5).abs() < 1e-12, "{l}");
    }

    #[test]
    fn corollary2() {
        assert_eq!(corollary2_lower_bound(10, 2).unwrap(), 25.0);
        assert_eq!(corollary2_lower_bound(7, 7).unwrap(), 1.0);
        assert_eq!(param_name(corollary2_lower_bound(5, 0).unwrap_err()), "m");
        assert_eq!(param_name(corollary2_lower_bound(5, 6).unwrap_err()), "m");
        assert!(binomial(10, 2).unwrap() as f64 >= 25.0);
    }

    fn check_tasks(tasks: &[Task], big_m: usize, m: usize, n: usize) {
        assert_eq!(tasks.len(), n);
        let set: HashSet<&Task> = tasks.iter().collect();
        assert_eq!(set.len(), n, "tasks not distinct");
        for t in tasks {
            assert_eq!(t.len(), m);
            assert!(t.entities().windows(2).all(|w| w[0] < w[1]), "{t:?}");
            assert!(t.entities().iter().all(|&e| e < big_m));
        }
    }

    #[test]
    fn draw_tasks_dense_and_sparse() {
        // Every subset (dense path, including complements).
        for (big_m, m) in [(5, 2), (5, 3), (6, 6), (1, 1), (8, 1), (8, 7), (10, 5)] {
            let total = binomial(big_m as u64, m as u64).unwrap() as usize;
            check_tasks(&draw_tasks(big_m, m, total, 7).unwrap(), big_m, m, total);
            let n = total / 2 + 1;
            check_tasks(&draw_tasks(big_m, m, n, 7).unwrap(), big_m, m, n);
        }
        // Sparse path, including complements and an astronomically large C(M, m).
        check_tasks(&draw_tasks(30, 4, 1000, 1).unwrap(), 30, 4, 1000);
        check_tasks(&draw_tasks(30, 27, 1000, 1).unwrap(), 30, 27, 1000);
        check_tasks(&draw_tasks(500, 250, 50, 3).unwrap(), 500, 250, 50);
        check_tasks(&draw_tasks(10, 5, 126, 3).unwrap(), 10, 5, 126);
    }

    #[test]
    fn draw_tasks_reproducible() {
        let a = draw_tasks(20, 5, 300, 42).unwrap();
        assert_eq!(a, draw_tasks(20, 5, 300, 42).unwrap());
        assert_ne!(a, draw_tasks(20, 5, 300, 43).unwrap());
        let d = draw_tasks(6, 3, 15, 42).unwrap();
        assert_eq!(d, draw_tasks(6, 3, 15, 42).unwrap());
        assert_ne!(d, draw_tasks(6, 3, 15, 43).unwrap());
    }

    #[test]
    fn draw_tasks_roughly_uniform() {
        // Single-task draws over many seeds: each of the C(4, 2) = 6 subsets about 1/6.
        let mut counts: HashMap<Vec<usize>, usize> = HashMap::new();
        for seed in 0..6000 {
            let t = draw_tasks(4, 2, 1, seed).unwrap();
            *counts.entry(t[0].entities().to_vec()).or_default() += 1;
        }
        assert_eq!(counts.len(), 6);
        assert!(counts.values().all(|&c| (850..1150).contains(&c)), "{counts:?}");
    }

    #[test]
    fn draw_tasks_errors() {
        assert_eq!(param_name(draw_tasks(5, 0, 1, 0).unwrap_err()), "m");
        assert_eq!(param_name(draw_tasks(5, 6, 1, 0).unwrap_err()), "m");
        assert_eq!(param_name(draw_tasks(0, 1, 1, 0).unwrap_err()), "m");
        assert_eq!(param_name(draw_tasks(5, 2, 0, 0).unwrap_err()), "T");
        let e = draw_tasks(5, 2, 11, 0).unwrap_err();
        assert!(e.to_string().contains("C(5, 2) = 10"), "{e}");
        assert_eq!(param_name(e), "T");
        assert_eq!(param_name(draw_tasks(60, 30, usize::MAX, 0).unwrap_err()), "T");
        // Allowed by C(100, 50) ≈ 1e29, but not allocatable: an error, not an abort.
        assert_eq!(param_name(draw_tasks(100, 50, 1 << 60, 0).unwrap_err()), "T");
    }

    #[test]
    fn split_entities_partition() {
        let (train, hold) = split_entities(10, 3, 5).unwrap();
        assert_eq!(train.len(), 7);
        assert_eq!(hold.len(), 3);
        let mut all: Vec<usize> = train.iter().chain(&hold).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
        assert_eq!(split_entities(10, 3, 5).unwrap(), (train, hold));
        assert_eq!(split_entities(4, 0, 1).unwrap(), (vec![0, 1, 2, 3], vec![]));
        assert_eq!(param_name(split_entities(0, 0, 1).unwrap_err()), "M");
        assert_eq!(param_name(split_entities(4, 4, 1).unwrap_err()), "holdout");
    }

    #[test]
    fn log_binomial_of_huge_counts_is_immediate_and_agrees_with_the_exact_sum() {
        // Just above the switch, both forms agree to 1e-12 relative.
        let (n, k) = (3 * LOG_BINOMIAL_EXACT_STEPS, LOG_BINOMIAL_EXACT_STEPS + 1);
        let exact = {
            let base = (n - k) as f64;
            (1..=k).map(|i| (base / i as f64).ln_1p()).sum::<f64>()
        };
        let fast = log_binomial(n, k);
        assert!((fast - exact).abs() <= 1e-12 * exact, "{fast} vs {exact}");
        // C(2^63, 2^62) ≈ 2^63 ln 2 nats (less half a log factor).
        let huge = log_binomial(1 << 63, 1 << 62);
        let approx = (1u64 << 63) as f64 * std::f64::consts::LN_2;
        assert!((huge - approx).abs() < 1e-9 * approx, "{huge}");
    }
}
