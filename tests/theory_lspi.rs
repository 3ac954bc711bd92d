//! LSTD-Q and LSPI checked against known results (issue "Theory you can run", item 5).
//!
//! * The chain walk of Lagoudakis & Parr (2003, §9.1), with their parameters: success
//!   probability 0.9, γ = 0.9, reward of the *current* state, uniformly random actions,
//!   10 episodes × 500 steps (20-chain) or 20 × 500 (50-chain), zero initial weights, first-max
//!   tie-break, ε = 1e-5 on the weight change. Run with `--nocapture` to see the iteration
//!   counts per seed.
//! * Random small MDPs: LSPI with the tabular basis reaches the policy-iteration optimum
//!   (exactly with model-based samples, within a value-loss tolerance with sampled data).
//! * LSTD-Q against an independent dense solve, ridge behaviour, singular systems, bad input.

use nalgebra::{DMatrix, DVector};
use pimtl::theory::features::{Features, PolynomialBasis, RbfBasis, TabularBasis};
use pimtl::theory::lspi::{
    chain_walk, greedy_table, lspi, lstd_q, model_samples, pool, random_walk_samples, LspiConfig, LstdQ,
    Next, Sample, StopReason,
};
use pimtl::theory::mdp::{FiniteMdp, TabularPolicy};

/// L&P settings: ε = 1e-5, a generous cap, and (like their code) no early stop on a repeated
/// policy, so `iterations` counts solves up to the first weight change below ε.
fn lp_config() -> LspiConfig {
    let mut cfg = LspiConfig::new(0.9);
    cfg.max_iterations = 30;
    cfg.stop_on_policy_repeat = false;
    cfg
}

/// Tie-aware comparison with the exact optimum: the states where `π(s)` is not within `tol` of
/// `max_a Q*(s, a)`.
fn wrong_states(mdp: &FiniteMdp, policy: &[usize], tol: f64) -> Vec<usize> {
    let (_, pi_star, _) = mdp.policy_iteration(1000).unwrap();
    let q = mdp.evaluate_q(&pi_star).unwrap();
    (0..mdp.states())
        .filter(|&s| {
            let best = (0..mdp.actions())
                .map(|a| q[(s, a)])
                .fold(f64::NEG_INFINITY, f64::max);
            q[(s, policy[s])] < best - tol
        })
        .collect()
}

fn value_loss(mdp: &FiniteMdp, policy: &[usize]) -> f64 {
    let (v_star, _, _) = mdp.policy_iteration(1000).unwrap();
    let v = mdp
        .evaluate(&TabularPolicy::deterministic(policy.to_vec(), mdp.actions()).unwrap())
        .unwrap();
    (v_star - v).amax()
}

#[test]
fn chain20_polynomial_finds_the_optimal_policy() {
    let mdp = chain_walk(20, &[1, 20], 0.9, 0.9).unwrap();
    let optimal: Vec<usize> = (0..20).map(|s| usize::from(s >= 10)).collect();
    let (_, pi_star, _) = mdp.policy_iteration(100).unwrap();
    assert_eq!(pi_star.as_actions().unwrap(), optimal, "exact optimum L×10, R×10");
    let basis = PolynomialBasis::new(20, 2, 4).unwrap();
    for seed in 1..=5 {
        let samples = random_walk_samples(&mdp, 10, 500, seed).unwrap();
        let res = lspi(&basis, &samples, &lp_config()).unwrap();
        let mut early = lp_config();
        early.stop_on_policy_repeat = true;
        let res_early = lspi(&basis, &samples, &early).unwrap();
        let policy = greedy_table(&basis, res.weights.as_slice(), 20, None).unwrap();
        println!(
            "chain20 poly seed {seed}: {} iterations to ‖Δw‖ < 1e-5 ({} with stop on a repeated policy), \
             weight changes {:?}",
            res.iterations,
            res_early.iterations,
            res.history
                .iter()
                .map(|h| format!("{:.2e}", h.weight_change))
                .collect::<Vec<_>>()
        );
        assert!(
            res.converged && res.reason == StopReason::WeightChange,
            "seed {seed}: {res:?}"
        );
        assert!(res.iterations <= 10, "seed {seed}: {} iterations", res.iterations);
        assert_eq!(policy, optimal, "seed {seed}");
        assert_eq!(
            res_early.weights, res.weights,
            "early stop returns the same fixed point"
        );
        assert_eq!(res_early.iterations + 1, res.iterations);
    }
}

#[test]
fn chain50_rbf_is_optimal_up_to_two_states() {
    let mdp = chain_walk(50, &[10, 41], 0.9, 0.9).unwrap();
    let basis = RbfBasis::chain(50, 2, 10, 4.0).unwrap();
    assert_eq!(Features::<usize>::dim(&basis), 22);
    // States 10 and 41 (1-based) are exact ties of the optimum; the comparison is tie-aware.
    let (_, pi_star, _) = mdp.policy_iteration(100).unwrap();
    let q = mdp.evaluate_q(&pi_star).unwrap();
    for s in [9, 40] {
        assert!((q[(s, 0)] - q[(s, 1)]).abs() < 1e-9, "state {} is a tie", s + 1);
    }
    for seed in 1..=4 {
        let samples = random_walk_samples(&mdp, 20, 500, seed).unwrap();
        let res = lspi(&basis, &samples, &lp_config()).unwrap();
        let policy = greedy_table(&basis, res.weights.as_slice(), 50, None).unwrap();
        let wrong = wrong_states(&mdp, &policy, 1e-9);
        println!(
            "chain50 rbf seed {seed}: converged {} after {} iterations, wrong non-tie states (1-based) {:?}, \
             ‖V*−V^π‖∞ = {:.3}",
            res.converged,
            res.iterations,
            wrong.iter().map(|s| s + 1).collect::<Vec<_>>(),
            value_loss(&mdp, &policy)
        );
        assert!(res.converged && res.iterations <= 15, "seed {seed}: {res:?}");
        assert!(wrong.len() <= 2, "seed {seed}: wrong states {wrong:?}");
    }
}

/// L&P's documented negative result: with the degree-4 polynomial basis on the 50-chain LSPI
/// converges quickly, but to a sub-optimal policy.
#[test]
fn chain50_polynomial_converges_to_a_suboptimal_policy() {
    let mdp = chain_walk(50, &[10, 41], 0.9, 0.9).unwrap();
    let basis = PolynomialBasis::new(50, 2, 4).unwrap();
    for seed in 1..=3 {
        let samples = random_walk_samples(&mdp, 20, 500, seed).unwrap();
        let res = lspi(&basis, &samples, &lp_config()).unwrap();
        let policy = greedy_table(&basis, res.weights.as_slice(), 50, None).unwrap();
        let wrong = wrong_states(&mdp, &policy, 1e-9);
        let loss = value_loss(&mdp, &policy);
        println!(
            "chain50 poly seed {seed}: converged {} after {} iterations, {} wrong non-tie states, \
             ‖V*−V^π‖∞ = {loss:.3}",
            res.converged,
            res.iterations,
            wrong.len()
        );
        assert!(res.converged && res.iterations <= 10, "seed {seed}: {res:?}");
        assert!(
            !wrong.is_empty() && loss > 0.5,
            "seed {seed}: unexpectedly optimal"
        );
    }
}

/// Once the greedy actions at the next states repeat, LSTD-Q sees the same system and returns
/// bit-identical weights.
#[test]
fn weights_repeat_exactly_once_the_policy_repeats() {
    let mdp = chain_walk(20, &[1, 20], 0.9, 0.9).unwrap();
    let basis = PolynomialBasis::new(20, 2, 4).unwrap();
    let samples = random_walk_samples(&mdp, 10, 500, 7).unwrap();
    let mut cfg = lp_config();
    cfg.tolerance = 0.0;
    cfg.max_iterations = 12;
    let res = lspi(&basis, &samples, &cfg).unwrap();
    assert_eq!(res.reason, StopReason::IterationCap);
    let mut repeated = 0;
    for h in &res.history[1..] {
        if h.policy_changes == 0 {
            assert_eq!(h.weight_change, 0.0, "iteration {}: {h:?}", h.iteration);
            repeated += 1;
        }
    }
    assert!(
        repeated >= 3,
        "the policy should settle well within 12 iterations"
    );
}

/// Model-based LSTD-Q with the tabular basis is exact policy evaluation, so LSPI is policy
/// iteration and reaches the optimum exactly.
#[test]
fn tabular_model_based_lspi_equals_policy_iteration() {
    for seed in 0..20 {
        let (ns, na) = (3 + (seed as usize % 5), 2 + (seed as usize % 3));
        let mdp = FiniteMdp::random(ns, na, 0.9, seed).unwrap();
        let basis = TabularBasis::new(ns, na).unwrap();
        let mut cfg = LspiConfig::new(0.9);
        cfg.ridge = 0.0;
        let res = lspi(&basis, &model_samples(&mdp), &cfg).unwrap();
        assert!(res.converged, "seed {seed}");
        let policy = greedy_table(&basis, res.weights.as_slice(), ns, None).unwrap();
        assert!(value_loss(&mdp, &policy) < 1e-9, "seed {seed}");
        // The weights are Q^π of the final policy.
        let q = mdp
            .evaluate_q(&TabularPolicy::deterministic(policy.clone(), na).unwrap())
            .unwrap();
        for s in 0..ns {
            for a in 0..na {
                assert!((res.weights[a * ns + s] - q[(s, a)]).abs() < 1e-9);
            }
        }
    }
}

/// With sampled data the tabular LSTD-Q solution is the certainty-equivalence `Q^π` of the
/// empirical MDP; with many samples the greedy policy's value is close to optimal.
#[test]
fn tabular_sampled_lspi_is_near_optimal() {
    for seed in 0..6 {
        let mdp = FiniteMdp::random(5, 3, 0.8, 100 + seed).unwrap();
        let basis = TabularBasis::new(5, 3).unwrap();
        let samples = random_walk_samples(&mdp, 20, 1000, seed).unwrap();
        let res = lspi(&basis, &samples, &LspiConfig::new(0.8)).unwrap();
        let policy = greedy_table(&basis, res.weights.as_slice(), 5, None).unwrap();
        let loss = value_loss(&mdp, &policy);
        assert!(res.converged, "seed {seed}");
        assert!(loss < 0.05 * mdp.v_max(), "seed {seed}: loss {loss}");
    }
}

/// The A and b of LSTD-Q built by hand, solved by SVD: the same weights as the crate's LU path.
#[test]
fn lstd_q_matches_an_independent_dense_solve() {
    let mdp = chain_walk(50, &[10, 41], 0.9, 0.9).unwrap();
    let basis = RbfBasis::chain(50, 2, 10, 4.0).unwrap();
    let samples = random_walk_samples(&mdp, 4, 500, 3).unwrap();
    let policy = |s: &usize| usize::from(*s >= 25);
    let (gamma, ridge) = (0.9, 1e-3);
    let sol = lstd_q(&basis, &samples, policy, gamma, ridge).unwrap();
    let d = 22;
    let mut a = DMatrix::<f64>::identity(d, d) * ridge;
    let mut b = DVector::<f64>::zeros(d);
    let (mut phi, mut next) = (vec![0.0; d], vec![0.0; d]);
    for s in &samples {
        basis.phi(&s.state, s.action, &mut phi);
        let Next::State(y) = s.next else { unreachable!() };
        basis.phi(&y, policy(&y), &mut next);
        let p = DVector::from_column_slice(&phi);
        let u = DVector::from_iterator(d, phi.iter().zip(&next).map(|(f, n)| f - gamma * n));
        a += &p * u.transpose();
        b += p * s.reward;
    }
    let w = a.clone().svd(true, true).solve(&b, 1e-14).unwrap();
    let rel = (&sol.weights - &w).norm() / w.norm();
    assert!(rel < 1e-8, "relative difference {rel}");
    assert!(sol.residual < 1e-12 && sol.pivot_ratio > 0.0);
}

/// γ = 0: LSTD-Q is ridge regression, `w = (ΦᵀΦ + λI)⁻¹ Φᵀ r`; the ridge shrinks the weights
/// monotonically and vanishes as λ → 0.
#[test]
fn bandit_lstd_is_ridge_regression_and_ridge_shrinks() {
    let basis = PolynomialBasis::new(10, 2, 2).unwrap();
    let samples: Vec<Sample<usize>> = (0..40)
        .map(|n| {
            let (s, a) = (n % 10, (n / 10) % 2);
            Sample::terminal(s, a, (s as f64 * 0.3 - a as f64).sin())
        })
        .collect();
    let mut phi_rows = Vec::new();
    let mut buf = vec![0.0; 6];
    for s in &samples {
        basis.phi(&s.state, s.action, &mut buf);
        phi_rows.extend_from_slice(&buf);
    }
    let phi = DMatrix::from_row_slice(40, 6, &phi_rows);
    let r = DVector::from_iterator(40, samples.iter().map(|s| s.reward));
    let mut last_norm = f64::INFINITY;
    for ridge in [1e-9, 1e-3, 1e-1, 10.0, 1e3] {
        let sol = lstd_q(&basis, &samples, |_| 0, 0.0, ridge).unwrap();
        let normal = phi.transpose() * &phi + DMatrix::identity(6, 6) * ridge;
        let w = normal.qr().solve(&(phi.transpose() * &r)).unwrap();
        assert!(
            (&sol.weights - &w).norm() <= 1e-7 * w.norm().max(1.0),
            "ridge {ridge}"
        );
        assert!(sol.weights.norm() < last_norm, "ridge must shrink the weights");
        last_norm = sol.weights.norm();
    }
    // A huge ridge drives the weights to 0.
    let sol = lstd_q(&basis, &samples, |_| 0, 0.0, 1e12).unwrap();
    assert!(sol.weights.norm() < 1e-9);
}

/// A feature no sample excites makes A singular: without a ridge that is an error naming the
/// ridge, with a ridge its weight is 0.
#[test]
fn singular_system_is_an_error_without_ridge() {
    let basis = TabularBasis::new(4, 2).unwrap();
    let samples: Vec<Sample<usize>> = (0..3).map(|s| Sample::terminal(s, 0, 1.0)).collect();
    let err = lstd_q(&basis, &samples, |_| 0, 0.5, 0.0).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("singular") && msg.contains("ridge"), "{msg}");
    let sol = lstd_q(&basis, &samples, |_| 0, 0.5, 1e-6).unwrap();
    assert!((sol.weights[0] - 1.0).abs() < 1e-5 && sol.weights[7] == 0.0);
    // Exactly rank-deficient dense A.
    let a = DMatrix::from_row_slice(2, 2, &[1.0, 2.0, 2.0, 4.0]);
    assert!(pimtl::theory::lspi::solve_system(a, DVector::from_column_slice(&[1.0, 2.0]), 0.0).is_err());
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    let basis = TabularBasis::new(3, 2).unwrap();
    let empty: Vec<Sample<usize>> = vec![];
    assert!(lspi(&basis, &empty, &LspiConfig::new(0.9)).is_err());
    let bad_action = vec![Sample::terminal(0usize, 2, 1.0)];
    assert!(lspi(&basis, &bad_action, &LspiConfig::new(0.9)).is_err());
    let nan = vec![Sample::terminal(0usize, 0, f64::NAN)];
    assert!(lspi(&basis, &nan, &LspiConfig::new(0.9)).is_err());
    let ok = vec![Sample::transition(0usize, 0, 1.0, 1)];
    for gamma in [1.0, -0.1, f64::NAN] {
        assert!(lspi(&basis, &ok, &LspiConfig::new(gamma)).is_err());
    }
    let mut cfg = LspiConfig::new(0.5);
    cfg.ridge = -1.0;
    assert!(lspi(&basis, &ok, &cfg).is_err());
    cfg.ridge = 1e-6;
    cfg.max_iterations = 0;
    assert!(lspi(&basis, &ok, &cfg).is_err());
    let bad_prob = vec![Sample {
        state: 0usize,
        action: 0,
        reward: 0.0,
        next: Next::Expected(vec![(0.7, 1), (0.7, 2)]),
    }];
    assert!(lspi(&basis, &bad_prob, &LspiConfig::new(0.5)).is_err());
    assert!(lstd_q(&basis, &ok, |_| 5, 0.5, 1e-6).is_err());
    assert!(LstdQ::new(0, 0.5).is_err());
    let mut acc = LstdQ::new(3, 0.5).unwrap();
    assert!(acc.solve(1e-6).is_err(), "no samples");
    assert!(acc.add(&[1.0, 0.0], None, 1.0).is_err());
    acc.add(&[f64::INFINITY, 0.0, 0.0], None, 1.0).unwrap();
    assert!(acc.solve(1e-6).is_err(), "non-finite features");
    assert!(chain_walk(1, &[1], 0.9, 0.9).is_err());
    assert!(chain_walk(5, &[6], 0.9, 0.9).is_err());
}

/// Multi-task LSPI runs on the concatenated samples; pooling T copies of the same data gives
/// the same ridge-free solution as one copy.
#[test]
fn pooled_samples_of_identical_tasks_give_the_same_solution() {
    let mdp = chain_walk(20, &[1, 20], 0.9, 0.9).unwrap();
    let basis = PolynomialBasis::new(20, 2, 4).unwrap();
    let one = random_walk_samples(&mdp, 10, 500, 2).unwrap();
    let pooled = pool(vec![one.clone(), one.clone(), one.clone()]);
    assert_eq!(pooled.len(), 3 * one.len());
    let mut cfg = lp_config();
    cfg.ridge = 0.0;
    let (r1, r3) = (
        lspi(&basis, &one, &cfg).unwrap(),
        lspi(&basis, &pooled, &cfg).unwrap(),
    );
    assert_eq!(r1.iterations, r3.iterations);
    assert!((&r1.weights - &r3.weights).norm() < 1e-6 * r1.weights.norm());
}

/// Truncation to [−V_max, V_max] turns actions above the cap into ties, resolved to the first.
#[test]
fn truncation_caps_q_and_ties_go_to_the_first_action() {
    let basis = TabularBasis::new(1, 3).unwrap();
    let w = [5.0, 20.0, 30.0];
    assert_eq!(greedy_table(&basis, &w, 1, None).unwrap(), vec![2]);
    assert_eq!(greedy_table(&basis, &w, 1, Some(10.0)).unwrap(), vec![1]);
    assert_eq!(greedy_table(&basis, &w, 1, Some(1.0)).unwrap(), vec![0]);
    assert!(greedy_table(&basis, &w[..2], 1, None).is_err());
}

/// `LstdQ::add_weighted(…, count)` is `count` calls of `add` (the sufficient-statistics form
/// the bound study uses for its count tables); a negative or non-finite count is an error.
#[test]
fn weighted_samples_equal_repeated_samples() {
    use pimtl::theory::lspi::LstdQ;
    let phi = [0.5, 0.0, -1.25, 2.0];
    let next = [0.0, 1.0, 0.75, -0.5];
    let mut repeated = LstdQ::new(4, 0.9).unwrap();
    let mut weighted = LstdQ::new(4, 0.9).unwrap();
    for _ in 0..3 {
        repeated.add(&phi, Some(&next), 0.7).unwrap();
    }
    weighted.add_weighted(&phi, Some(&next), 0.7, 3.0).unwrap();
    let (ra, wa) = (repeated.matrix(), weighted.matrix());
    assert!((ra - wa).amax() <= 1e-12);
    assert!((repeated.vector() - weighted.vector()).amax() <= 1e-12);
    assert!(weighted.vector().iter().any(|&v| v != 0.0));
    assert!(weighted.add_weighted(&phi, None, 1.0, -1.0).is_err());
    assert!(weighted.add_weighted(&phi, None, 1.0, f64::NAN).is_err());
}
