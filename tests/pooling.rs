//! Issue #16's regression test: on a seeded exchangeable market (every asset the same regime-
//! switching process, so every task is the same MDP up to relabelling, ε = 0) the pooled policy
//! must learn at least as much as single-task policies given the same total number of gradient
//! steps, and reach a substantial fraction of what a one-line reader of the same window (20-day
//! time-series momentum) earns.
//!
//! The bug it names: the training cost was charged against the portfolio-vector memory's stale
//! weights, an L1 pull towards old actions that froze the pooled policy near Equal CRP. The same
//! check run with that cost (`CostReference::Memory`) fails, and the test asserts so, so it
//! cannot pass vacuously.

use pimtl::envs::portfolio::CostReference;
use pimtl::experiments::portfolio::{run, PortfolioExperimentConfig, PortfolioResults};

fn config(cost_reference: CostReference) -> PortfolioExperimentConfig {
    PortfolioExperimentConfig {
        window: 30,
        experiments: 4,
        task_counts: vec![8],
        steps_per_task: Some(250),
        evaluations: 2,
        // The setup measured in papers/portfolio.md: no validation range, one learning rate,
        // 3 held-out instruments, tasks of 3.
        validation_fraction: 0.0,
        learning_rates: vec![3e-4],
        patience: 0,
        holdout: Some(3),
        task_size: Some(3),
        holdout_tasks: 1,
        cost_reference,
        ..PortfolioExperimentConfig::full("planted:assets=12,days=2000,seed=5")
    }
}

/// Mean over experiments and training tasks of the gain over Equal CRP of `method`.
fn gain(res: &PortfolioResults, method: &str) -> f64 {
    let g: Vec<f64> = res
        .results
        .iter()
        .filter(|r| r.method == method && r.task_set == "train")
        .map(|r| r.gain_over_ecrp)
        .collect();
    assert!(!g.is_empty(), "{method} missing");
    g.iter().sum::<f64>() / g.len() as f64
}

#[test]
fn pooled_policy_learns_at_least_as_much_as_single_task_policies_on_exchangeable_tasks() {
    let fixed = run(&config(CostReference::Batch), |_| {}, |_| {}).unwrap();
    let (stl, mtl, momentum) = (
        gain(&fixed, "STL"),
        gain(&fixed, "MTL"),
        gain(&fixed, "Momentum (20 days)"),
    );
    eprintln!("batch cost: STL {stl:+.4}  MTL {mtl:+.4}  momentum {momentum:+.4}");
    assert!(
        momentum > 0.1,
        "the planted signal is there: momentum gains {momentum}"
    );
    // N = 8 · 250 pooled steps against 250 steps for each of the 8 single-task policies.
    assert!(mtl >= stl, "MTL {mtl} below STL {stl} at equal total steps");
    assert!(
        mtl >= 0.5 * momentum,
        "MTL {mtl} below half the momentum rule's {momentum}"
    );

    // The same check on the stale-memory cost fails: the learners stay near Equal CRP.
    let stale = run(&config(CostReference::Memory), |_| {}, |_| {}).unwrap();
    let stale_mtl = gain(&stale, "MTL");
    eprintln!(
        "memory cost: STL {:+.4}  MTL {stale_mtl:+.4}",
        gain(&stale, "STL")
    );
    assert!(
        stale_mtl < 0.5 * momentum,
        "with the stale-memory cost the pooled policy should stay far below momentum"
    );
}

#[test]
fn planted_runs_are_identical_for_the_same_seed() {
    let cfg = PortfolioExperimentConfig {
        experiments: 1,
        steps_per_task: Some(20),
        ..config(CostReference::Batch)
    };
    let a = run(&cfg, |_| {}, |_| {}).unwrap();
    let b = run(&cfg, |_| {}, |_| {}).unwrap();
    let key = |r: &PortfolioResults| -> Vec<u64> {
        r.results
            .iter()
            .map(|m| m.metrics.final_wealth.to_bits())
            .collect()
    };
    assert_eq!(key(&a), key(&b), "same seed, same wealth, bit for bit");
}
