//! Property tests for `pimtl::simplex` (paper §3) and `pimtl::tasks` (paper §4–§5).

use pimtl::simplex::{softmax, softmax_vjp, validate_allocation, DEFAULT_TOLERANCE};
use pimtl::tasks::{binomial, corollary2_lower_bound, draw_tasks, split_entities, Task};
use proptest::prelude::*;
use std::collections::HashSet;

/// (M, m, T) with 1 ≤ m ≤ M ≤ 30 and 1 ≤ T ≤ min(C(M, m), 200).
fn task_params() -> impl Strategy<Value = (usize, usize, usize)> {
    (1usize..=30)
        .prop_flat_map(|big_m| (Just(big_m), 1usize..=big_m))
        .prop_flat_map(|(big_m, m)| {
            let total = binomial(big_m as u64, m as u64).expect("C(30, m) fits in u128");
            let max_t = total.min(200) as usize;
            (Just(big_m), Just(m), 1usize..=max_t)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn softmax_shift_invariant_and_on_simplex(
        s in prop::collection::vec(-50.0f64..50.0, 1..64),
        c in -100.0f64..100.0,
    ) {
        let a = softmax(&s);
        let shifted: Vec<f64> = s.iter().map(|x| x + c).collect();
        let b = softmax(&shifted);
        for (x, y) in a.iter().zip(&b) {
            prop_assert!((x - y).abs() <= 1e-12, "{x} vs {y}");
        }
        prop_assert!(validate_allocation(&a, DEFAULT_TOLERANCE).is_ok());
        prop_assert!(validate_allocation(&b, DEFAULT_TOLERANCE).is_ok());
    }

    #[test]
    fn softmax_vjp_matches_finite_differences(
        sg in prop::collection::vec((-5.0f64..5.0, -3.0f64..3.0), 1..16),
    ) {
        let (s, g): (Vec<f64>, Vec<f64>) = sg.into_iter().unzip();
        // L(s) = g · softmax(s), whose gradient is the VJP of softmax with g.
        let loss = |s: &[f64]| -> f64 { softmax(s).iter().zip(&g).map(|(a, g)| a * g).sum() };
        let a = softmax(&s);
        let mut grad = vec![0.0; s.len()];
        softmax_vjp(&a, &g, &mut grad);
        let h = 1e-5;
        for i in 0..s.len() {
            let mut p = s.clone();
            let mut q = s.clone();
            p[i] += h;
            q[i] -= h;
            let fd = (loss(&p) - loss(&q)) / (2.0 * h);
            prop_assert!((grad[i] - fd).abs() <= 1e-7, "i={i}: {} vs {fd}", grad[i]);
        }
    }

    #[test]
    fn binomial_pascal_and_symmetry(n in 1u64..=120, k_raw in 0u64..=120) {
        let k = k_raw % (n + 1);
        let c = binomial(n, k).unwrap();
        prop_assert_eq!(c, binomial(n, n - k).unwrap());
        if k >= 1 {
            let sum = binomial(n - 1, k - 1).unwrap() + binomial(n - 1, k).unwrap();
            prop_assert_eq!(c, sum);
        }
    }

    #[test]
    fn binomial_above_corollary2_bound(big_m in 1u64..=60, m_raw in 0u64..60) {
        let m = 1 + m_raw % big_m;
        let c = binomial(big_m, m).unwrap() as f64;
        let bound = corollary2_lower_bound(big_m, m).unwrap();
        // Equality holds for m = 1 and m = M (exact in f64); the relative slack only absorbs
        // the rounding of `powf` and of the u128 → f64 conversion.
        prop_assert!(c >= bound * (1.0 - 1e-12), "C({big_m}, {m}) = {c} < {bound}");
    }

    #[test]
    fn draw_tasks_distinct_valid_reproducible(
        (big_m, m, n) in task_params(),
        seed in any::<u64>(),
    ) {
        let tasks = draw_tasks(big_m, m, n, seed).unwrap();
        prop_assert_eq!(tasks.len(), n);
        let distinct: HashSet<&Task> = tasks.iter().collect();
        prop_assert_eq!(distinct.len(), n);
        for t in &tasks {
            prop_assert_eq!(t.len(), m);
            prop_assert!(t.entities().windows(2).all(|w| w[0] < w[1]));
            prop_assert!(t.entities().iter().all(|&e| e < big_m));
            prop_assert!(Task::new(t.entities().to_vec(), big_m).is_ok());
        }
        prop_assert_eq!(tasks, draw_tasks(big_m, m, n, seed).unwrap());
    }

    #[test]
    fn split_entities_is_partition(
        (big_m, holdout) in (1usize..=100).prop_flat_map(|big_m| (Just(big_m), 0..big_m)),
        seed in any::<u64>(),
    ) {
        let (train, hold) = split_entities(big_m, holdout, seed).unwrap();
        prop_assert_eq!(hold.len(), holdout);
        prop_assert_eq!(train.len(), big_m - holdout);
        prop_assert!(train.windows(2).all(|w| w[0] < w[1]));
        prop_assert!(hold.windows(2).all(|w| w[0] < w[1]));
        let train_set: HashSet<usize> = train.iter().copied().collect();
        prop_assert!(hold.iter().all(|e| !train_set.contains(e)));
        let mut all: Vec<usize> = train.iter().chain(&hold).copied().collect();
        all.sort_unstable();
        prop_assert_eq!(all, (0..big_m).collect::<Vec<_>>());
        prop_assert_eq!((train, hold), split_entities(big_m, holdout, seed).unwrap());
    }
}

#[test]
fn draw_tasks_large_cases_are_fast() {
    // Every one of the C(20, 10) = 184 756 tasks (dense path).
    let all = draw_tasks(20, 10, 184_756, 9).unwrap();
    assert_eq!(all.iter().collect::<HashSet<_>>().len(), 184_756);
    // Half of C(22, 11) = 705 432 plus one (dense path) and just under half (sparse path).
    assert_eq!(draw_tasks(22, 11, 352_717, 9).unwrap().len(), 352_717);
    assert_eq!(draw_tasks(22, 11, 352_716, 9).unwrap().len(), 352_716);
    // Astronomically many tasks: C(1000, 500) overflows u128.
    let big = draw_tasks(1000, 500, 100, 9).unwrap();
    assert!(big.iter().all(|t| t.len() == 500));
}
