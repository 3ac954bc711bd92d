//! The portfolio environment and experiment (§6.2): environment and policy together are
//! permutation-equivariant, no look-ahead, the training reward's gradient is right, the
//! experiment is reproducible and independent of the thread count, and bad settings are errors.

use pimtl::envs::portfolio::{run_policy, Market, PortfolioConfig, PortfolioTasks};
use pimtl::experiments::portfolio::{run, write_results, PortfolioExperimentConfig};
use pimtl::learn::mtl::TaskEnvironment;
use pimtl::learn::pg::{DifferentiableTaskEnv, Minibatch};
use pimtl::policy::{EquivariantPolicy, PolicyConfig};
use pimtl::portfolio::Fee;
use pimtl::replay::StartDistribution;
use proptest::prelude::*;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::sync::Arc;

fn market(assets: usize, days: usize, seed: u64) -> Market {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let rel = (0..assets * days)
        .map(|_| rng.random_range(0.96..1.045))
        .collect();
    Market::new(assets, rel, None).unwrap()
}

fn cfg(window: usize) -> PortfolioConfig {
    PortfolioConfig {
        window,
        commission: 0.0025,
        cash: false,
        start: StartDistribution::Geometric { bias: 0.01 },
        feature_scale: 1.0,
        cost_reference: pimtl::envs::portfolio::CostReference::Batch,
    }
}

fn policy(seed: u64) -> EquivariantPolicy<f64> {
    let mut c = PolicyConfig::paper_portfolio(1);
    c.encoder = pimtl::policy::EncoderConfig::Recurrent {
        cell: pimtl::policy::Cell::Elman,
        features: 1,
        hidden: 6,
    };
    EquivariantPolicy::new(c, seed).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Reordering a task's assets reorders the back-test's weights the same way and leaves the
    /// wealth unchanged (Definition 1 carried through the environment and transaction costs).
    #[test]
    fn environment_and_policy_are_equivariant(seed in any::<u64>(), m in 2usize..7) {
        let mk = market(8, 60, seed);
        let p = policy(seed ^ 5);
        let c = cfg(5);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut assets: Vec<usize> = (0..8).collect();
        rand::seq::SliceRandom::shuffle(&mut assets[..], &mut rng);
        assets.truncate(m);
        let mut perm: Vec<usize> = (0..m).collect();
        rand::seq::SliceRandom::shuffle(&mut perm[..], &mut rng);
        let permuted: Vec<usize> = perm.iter().map(|&i| assets[i]).collect();
        let a = run_policy(&p, &mk, &c, &assets, 10, 60, Fee::Exact(0.0025)).unwrap();
        let b = run_policy(&p, &mk, &c, &permuted, 10, 60, Fee::Exact(0.0025)).unwrap();
        for (u, v) in a.wealth.iter().zip(&b.wealth) {
            prop_assert!((u / v - 1.0).abs() < 1e-9, "{} vs {}", u, v);
        }
        for d in 0..50 {
            for (k, &i) in perm.iter().enumerate() {
                prop_assert!((b.weights[d * m + k] - a.weights[d * m + i]).abs() < 1e-9);
            }
        }
    }
}

/// The weights chosen on day n do not change when the data after day n is cut off.
#[test]
fn no_look_ahead() {
    let full = market(5, 80, 1);
    let cut = Market::new(5, full.relatives()[..60 * 5].to_vec(), None).unwrap();
    let p = policy(2);
    let a = run_policy(&p, &full, &cfg(10), &[0, 2, 4], 20, 80, Fee::Exact(0.0025)).unwrap();
    let b = run_policy(&p, &cut, &cfg(10), &[0, 2, 4], 20, 60, Fee::Exact(0.0025)).unwrap();
    assert_eq!(&a.weights[..b.weights.len()], &b.weights[..]);
    assert_eq!(&a.wealth[..b.wealth.len()], &b.wealth[..]);
}

/// The training reward `ln(μ · a·y)` with linear μ and its gradient `dR/da`, checked by central
/// differences on random allocations.
#[test]
fn training_reward_gradient_matches_finite_differences() {
    let mk = Arc::new(market(6, 100, 3));
    let mut env = PortfolioTasks::new(mk, vec![vec![0, 1, 2, 3]], cfg(10), 90).unwrap();
    assert_eq!(env.num_tasks(), 1);
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let mut mb = Minibatch::default();
    env.minibatch(0, 8, &mut rng, &mut mb).unwrap();
    let m = 4;
    let mut a: Vec<f64> = (0..8 * m).map(|_| rng.random_range(0.05..1.0)).collect();
    for row in a.chunks_mut(m) {
        let s: f64 = row.iter().sum();
        row.iter_mut().for_each(|v| *v /= s);
    }
    let (mut r, mut g) = (vec![0.0; 8], vec![0.0; 8 * m]);
    env.rewards(0, &mb, &a, &mut r, &mut g).unwrap();
    let h = 1e-7;
    for j in 0..8 * m {
        let (mut ap, mut am) = (a.clone(), a.clone());
        ap[j] += h;
        am[j] -= h;
        let (mut rp, mut rm, mut scratch) = (vec![0.0; 8], vec![0.0; 8], vec![0.0; 8 * m]);
        env.rewards(0, &mb, &ap, &mut rp, &mut scratch).unwrap();
        env.rewards(0, &mb, &am, &mut rm, &mut scratch).unwrap();
        // dr_da[j] is the derivative of the minibatch's total reward: with costs charged against
        // the previous day's action, a_n enters R_n and R_{n+1}.
        let fd = (rp.iter().sum::<f64>() - rm.iter().sum::<f64>()) / (2.0 * h);
        assert!((fd - g[j]).abs() < 1e-5, "entry {j}: fd {fd} vs {}", g[j]);
    }
    assert!(
        env.minibatch(0, 1000, &mut rng, &mut mb).is_err(),
        "a minibatch larger than the training days"
    );
}

fn write_csv(dir: &std::path::Path, assets: usize, days: usize) -> std::path::PathBuf {
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let mut s = String::from("date");
    for i in 0..assets {
        s.push_str(&format!(",A{i}"));
    }
    s.push('\n');
    let mut p = vec![100.0f64; assets];
    let start = 18_262; // 2020-01-01 as days since 1970
    for d in 0..days {
        let (y, mo, da) = pimtl::io::civil_from_days(start + d as i64);
        s.push_str(&format!("{y:04}-{mo:02}-{da:02}"));
        for v in p.iter_mut() {
            *v *= 1.0 + rng.random_range(-0.02..0.021);
            s.push_str(&format!(",{v:.6}"));
        }
        s.push('\n');
    }
    let path = dir.join("prices.csv");
    std::fs::write(&path, s).unwrap();
    path
}

fn small(path: &std::path::Path) -> PortfolioExperimentConfig {
    PortfolioExperimentConfig {
        window: 8,
        hidden: 5,
        batch: 8,
        experiments: 2,
        steps_per_task: Some(6),
        evaluations: 2,
        task_counts: vec![2, 4],
        holdout_tasks: 2,
        ..PortfolioExperimentConfig::quick(path.to_str().unwrap())
    }
}

/// A user's own 12-asset close-price file: sizes scale down, all outputs are written, the same
/// seed gives the same bytes, and 1 or 2 threads give the same results.
#[test]
fn experiment_runs_on_user_data_reproducibly_and_thread_independently() {
    let dir = std::env::temp_dir().join(format!("pimtl-portfolio-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = write_csv(&dir, 12, 160);
    let cfg = small(&path);
    let pool = |n| rayon::ThreadPoolBuilder::new().num_threads(n).build().unwrap();
    let r1 = pool(1).install(|| run(&cfg, |_| {}, |_| {})).unwrap();
    let r2 = pool(2).install(|| run(&cfg, |_| {}, |_| {})).unwrap();
    assert_eq!(r1.plan.task_size, 4, "min(10, 12/3)");
    assert_eq!(
        r1.plan.holdout, 5,
        "round(12 · 18/68) = 3 raised to 5, the fewest that give 2 distinct held-out tasks of 4"
    );
    assert!(
        r1.plan.validation_days.1 > r1.plan.validation_days.0,
        "a validation range"
    );
    assert_eq!(r1.plan.validation_days.1, r1.plan.test_days.0);
    let (o1, o2) = (dir.join("one"), dir.join("two"));
    write_results(&r1, &o1).unwrap();
    write_results(&r2, &o2).unwrap();
    for f in [
        "metrics.csv",
        "curves.csv",
        "fig4_T4.svg",
        "fig3_gain_holdout.svg",
        "fig5_wealth.svg",
        "fig5_weights_mtl.svg",
        "fig4_right_T4.svg",
        "lr_choices.csv",
        "fig2.csv",
        "fig2_score_vs_grad_norm.svg",
        "setup.json",
    ] {
        assert_eq!(
            std::fs::read(o1.join(f)).unwrap(),
            std::fs::read(o2.join(f)).unwrap(),
            "{f} differs"
        );
    }
    // summary.json holds the wall time; everything else in it comes from metrics.csv.
    assert!(o1.join("summary.json").is_file());
    let metrics = std::fs::read_to_string(o1.join("metrics.csv")).unwrap();
    for method in [
        "STL",
        "MTL",
        "P-MTL",
        "Equal CRP",
        "OLMAR",
        "PAMR",
        "BCRP (fitted on training days)",
        "Momentum (20 days)",
    ] {
        assert!(metrics.contains(&format!(",{method},")), "{method} missing");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_settings_and_too_little_data_are_errors() {
    let dir = std::env::temp_dir().join(format!("pimtl-portfolio-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = write_csv(&dir, 12, 20);
    let e = run(&small(&path), |_| {}, |_| {})
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(e.contains("too few") || e.contains("days"), "{e}");
    let path = write_csv(&dir, 12, 160);
    let mut c = small(&path);
    c.task_size = Some(7);
    assert!(run(&c, |_| {}, |_| {})
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default()
        .contains("task_size"));
    let mut c = small(&path);
    c.alpha = -0.5;
    assert!(run(&c, |_| {}, |_| {})
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default()
        .contains("alpha"));
    let mut c = small(&path);
    c.task_counts = vec![0];
    assert!(run(&c, |_| {}, |_| {}).is_err());
    assert!(Market::new(2, vec![1.0, 0.0, 1.0, 1.0], None).is_err());
    assert!(Market::new(2, vec![1.0, f64::NAN], None).is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The held-out rule on the shape of every shipped data set (no data needed): at least 10
/// distinct held-out tasks, enough training tasks for T = 30, a validation range before the test.
#[test]
fn plan_gives_ten_distinct_holdout_tasks_on_every_shipped_set() {
    use pimtl::experiments::portfolio::plan;
    let cfg = PortfolioExperimentConfig::full("unused");
    for (name, assets, days, holdout, m) in [
        ("nyse_o", 36, 5651, 11, 10),
        ("nyse_n", 23, 6431, 9, 7),
        ("tse", 88, 1259, 23, 10),
        ("djia", 30, 507, 11, 10),
        ("sp500", 25, 1276, 10, 8),
        ("msci", 24, 1043, 10, 8),
    ] {
        let p = plan(&cfg, assets, days, 1).unwrap();
        assert_eq!((p.holdout, p.task_size), (holdout, m), "{name}");
        assert!(p.holdout_task_space >= 10, "{name}: {}", p.holdout_task_space);
        let train_space = pimtl::tasks::binomial((assets - holdout) as u64, m as u64).unwrap();
        assert!(train_space >= 30, "{name}: {train_space} training tasks");
        assert!(p.train_days.1 == p.validation_days.0 && p.validation_days.1 == p.test_days.0);
        assert!(p.validation_days.1 - p.validation_days.0 >= 10, "{name}");
    }
    // Asking for more held-out tasks than the held-out instruments allow is refused.
    let strict = PortfolioExperimentConfig {
        holdout: Some(11),
        holdout_tasks: 12,
        ..cfg
    };
    let e = plan(&strict, 36, 5651, 1).unwrap_err().to_string();
    assert!(e.contains("only 11 distinct tasks of 10"), "{e}");
}

/// Final wealth of a back-tested policy with exact and linear costs, with and without cash, bit
/// for bit. Printed by the code of commit a1ea90c (before the simulator moved to
/// `pimtl::portfolio`) and reprinted once when the growth became four partial sums and the drift
/// `(a ⊙ y) · (1/g)` (2026-12-04; every entry moved by at most 4 ulps). Any other change of the
/// simulator's or the policy's arithmetic fails here.
#[test]
fn pinned_run_policy_bits() {
    let mk = market(6, 90, 11);
    let p = policy(4);
    let mut got = Vec::new();
    for cash in [false, true] {
        let mut c = cfg(8);
        c.cash = cash;
        c.commission = 0.01;
        for fee in [Fee::Exact(c.commission), Fee::Linear(c.commission)] {
            let bt = run_policy(&p, &mk, &c, &[0, 2, 3, 5], 10, 90, fee).unwrap();
            got.push(bt.final_wealth().to_bits());
            got.push(bt.turnover.iter().sum::<f64>().to_bits());
        }
    }
    // (final wealth, total turnover) for exact then linear costs, without then with cash.
    let pinned: [u64; 8] = [
        0x3ff54202366b6a45,
        0x3ff3e44d9775e4ae,
        0x3ff5425805ed77f0,
        0x3ff3e44d9775e4ae, // no cash
        0x3ff41311028c2ed1,
        0x3ff25decd7d8938a,
        0x3ff41357cffac9dc,
        0x3ff25decd7d8938a, // cash
    ];
    assert_eq!(got, pinned);
}

/// The learned policies' back-test and the baselines share one simulator: a per-side fee with
/// equal rates gives the exact fee's bits, and a cheaper side never lowers the wealth.
#[test]
fn run_policy_per_side_fee() {
    let mk = market(6, 70, 12);
    let p = policy(5);
    let c = cfg(8);
    let run = |fee| run_policy(&p, &mk, &c, &[1, 2, 4], 10, 70, fee).unwrap();
    let exact = run(Fee::Exact(0.01));
    assert_eq!(
        exact,
        run(Fee::PerSide {
            buy: 0.01,
            sell: 0.01
        })
    );
    assert!(run(Fee::PerSide { buy: 0.01, sell: 0.0 }).final_wealth() >= exact.final_wealth());
    assert!(run_policy(
        &p,
        &mk,
        &c,
        &[1, 2, 4],
        10,
        70,
        Fee::PerSide { buy: 1.0, sell: 0.0 }
    )
    .is_err());
}
