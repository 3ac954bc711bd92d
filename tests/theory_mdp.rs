//! Properties of `pimtl::theory::mdp`: Bellman fixed points, value/policy iteration, stationary
//! distributions, the average MDP, and the task distance `ε` of Theorem 1 under the
//! permutations of Definition 1.

use nalgebra::DVector;
use pimtl::theory::mdp::{
    all_deterministic_policies, bellman_difference, epsilon, weighted_l2, FiniteMdp, TabularPolicy,
};
use pimtl::Error;
use proptest::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// A random MDP whose transition rows may contain zeros (so chains can be reducible or
/// periodic): each row has integer weights in 0..4, at least one of them positive.
fn sparse_mdp() -> impl Strategy<Value = FiniteMdp> {
    (1usize..6, 1usize..4, 0.0f64..0.95).prop_flat_map(|(s, a, g)| {
        (
            proptest::collection::vec(-1.0f64..1.0, s * a),
            proptest::collection::vec(0u8..4, s * a * s),
        )
            .prop_map(move |(r, w)| {
                let mut p = Vec::with_capacity(s * a * s);
                for row in w.chunks(s) {
                    let mut row: Vec<f64> = row.iter().map(|&x| f64::from(x)).collect();
                    if row.iter().all(|&x| x == 0.0) {
                        row[0] = 1.0;
                    }
                    let sum: f64 = row.iter().sum();
                    p.extend(row.iter().map(|x| x / sum));
                }
                FiniteMdp::new(s, a, r, p, g).unwrap()
            })
    })
}

/// A random stochastic policy for `mdp`, from raw weights.
fn policy_from(mdp: &FiniteMdp, weights: &[f64]) -> TabularPolicy {
    let (s, a) = (mdp.states(), mdp.actions());
    let mut probs = Vec::with_capacity(s * a);
    for st in 0..s {
        let w: Vec<f64> = (0..a)
            .map(|i| weights[(st * a + i) % weights.len()] + 1e-3)
            .collect();
        let sum: f64 = w.iter().sum();
        probs.extend(w.iter().map(|x| x / sum));
    }
    TabularPolicy::stochastic(probs, s, a).unwrap()
}

fn optimal_by_q(mdp: &FiniteMdp, v_star: &DVector<f64>, pi: &TabularPolicy, tol: f64) -> bool {
    let q = mdp.q_values(v_star);
    (0..mdp.states()).all(|s| {
        let best = q.row(s).max();
        let a = pi.deterministic_action(s).unwrap();
        q[(s, a)] >= best - tol
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn bellman_fixed_point(mdp in sparse_mdp(), w in proptest::collection::vec(0.0f64..1.0, 24)) {
        let pi = policy_from(&mdp, &w);
        let v = mdp.evaluate(&pi).unwrap();
        let tv = mdp.bellman(&pi, &v);
        let scale = 1.0 + mdp.v_max();
        prop_assert!((&tv - &v).amax() <= 1e-10 * scale, "‖T^π V^π − V^π‖∞ = {}", (&tv - &v).amax());
        // Q^π(s, ·) averaged under π is V^π.
        let q = mdp.evaluate_q(&pi).unwrap();
        for s in 0..mdp.states() {
            let avg: f64 = pi.action_probs(s).iter().enumerate().map(|(a, p)| p * q[(s, a)]).sum();
            prop_assert!((avg - v[s]).abs() <= 1e-10 * scale);
        }
        // |V^π| ≤ V_max.
        prop_assert!(v.amax() <= mdp.v_max() * (1.0 + 1e-12) + 1e-12);
    }

    #[test]
    fn policy_iteration_matches_value_iteration(mdp in sparse_mdp()) {
        let (v_pi, pi_pi, _) = mdp.policy_iteration(1000).unwrap();
        let (v_vi, pi_vi, _) = mdp.value_iteration(1e-12, 100_000).unwrap();
        let scale = 1.0 + mdp.v_max();
        prop_assert!((&v_pi - &v_vi).amax() <= 1e-9 * scale);
        // Both policies are optimal (tie-aware) and V* = T* V*.
        prop_assert!(optimal_by_q(&mdp, &v_pi, &pi_pi, 1e-9 * scale));
        prop_assert!(optimal_by_q(&mdp, &v_pi, &pi_vi, 1e-9 * scale));
        prop_assert!((mdp.bellman_optimal(&v_pi) - &v_pi).amax() <= 1e-10 * scale);
        // The greedy policy of V* is optimal: its exact value is V*.
        let g = mdp.greedy(&v_pi);
        prop_assert!((mdp.evaluate(&g).unwrap() - &v_pi).amax() <= 1e-9 * scale);
    }

    #[test]
    fn stationary_distribution_is_invariant(mdp in sparse_mdp(), w in proptest::collection::vec(0.0f64..1.0, 24), det in any::<bool>()) {
        let pi = if det {
            mdp.greedy(&DVector::from_fn(mdp.states(), |s, _| w[s % w.len()]))
        } else {
            policy_from(&mdp, &w)
        };
        let rho = mdp.stationary_distribution(&pi).unwrap();
        let p = mdp.transition_matrix(&pi);
        let moved = (rho.transpose() * &p).transpose();
        prop_assert!((&moved - &rho).amax() <= 1e-10);
        prop_assert!((rho.sum() - 1.0).abs() <= 1e-12);
        prop_assert!(rho.iter().all(|&x| x >= 0.0));
    }

    #[test]
    fn optimum_dominates_every_deterministic_policy(seed in 0u64..1000, s in 1usize..5, a in 1usize..4) {
        let mdp = FiniteMdp::random(s, a, 0.8, seed).unwrap();
        let (v_star, _, _) = mdp.policy_iteration(100).unwrap();
        for pi in all_deterministic_policies(s, a).unwrap() {
            let v = mdp.evaluate(&pi).unwrap();
            prop_assert!(v.iter().zip(v_star.iter()).all(|(x, y)| *x <= y + 1e-9));
        }
    }

    #[test]
    fn epsilon_of_identical_tasks_is_zero(seed in 0u64..1000) {
        let m = FiniteMdp::random(3, 2, 0.9, seed).unwrap();
        let avg = FiniteMdp::average(&[m.clone(), m.clone(), m.clone()]).unwrap();
        let mu = DVector::from_element(3, 1.0 / 3.0);
        let eps = epsilon(&m, &avg, &all_deterministic_policies(3, 2).unwrap(), &mu).unwrap();
        prop_assert!(eps <= 1e-12);
    }
}

#[test]
fn step_samples_the_transition_row() {
    let mdp = FiniteMdp::random(4, 2, 0.9, 7).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let n = 200_000;
    let mut counts = [0usize; 4];
    for _ in 0..n {
        counts[mdp.step(1, 1, &mut rng)] += 1;
    }
    for (s2, &c) in counts.iter().enumerate() {
        let p = mdp.transition(1, 1)[s2];
        let se = (p * (1.0 - p) / n as f64).sqrt();
        assert!((c as f64 / n as f64 - p).abs() < 5.0 * se + 1e-9, "state {s2}");
    }
}

#[test]
fn random_is_reproducible_and_valid() {
    let a = FiniteMdp::random(5, 3, 0.9, 42).unwrap();
    assert_eq!(a, FiniteMdp::random(5, 3, 0.9, 42).unwrap());
    assert_ne!(a, FiniteMdp::random(5, 3, 0.9, 43).unwrap());
    assert!(a.transitions().iter().all(|&p| p > 0.0));
    assert!(FiniteMdp::random(0, 3, 0.9, 1).is_err());
    assert!(FiniteMdp::random(3, 3, 1.0, 1).is_err());
}

#[test]
fn bad_inputs_are_errors() {
    // A row that does not sum to 1.
    let e = FiniteMdp::new(2, 1, vec![0.0; 2], vec![0.5, 0.4, 0.0, 1.0], 0.9).unwrap_err();
    assert!(e.to_string().contains("sum"), "{e}");
    assert!(matches!(
        FiniteMdp::new(1, 1, vec![0.0], vec![1.0], 1.0),
        Err(Error::InvalidParameter { name: "gamma", .. })
    ));
    assert!(matches!(
        FiniteMdp::new(1, 1, vec![f64::INFINITY], vec![1.0], 0.5),
        Err(Error::NonFinite { .. })
    ));
    assert!(TabularPolicy::deterministic(vec![0, 2], 2).is_err());
    assert!(TabularPolicy::stochastic(vec![0.5, 0.6], 1, 2).is_err());
    assert!(TabularPolicy::stochastic(vec![-0.5, 1.5], 1, 2).is_err());
    let m = FiniteMdp::random(3, 2, 0.9, 1).unwrap();
    assert!(m.evaluate(&TabularPolicy::uniform(2, 2)).is_err());
    assert!(FiniteMdp::average(&[]).is_err());
    let other_gamma = FiniteMdp::random(3, 2, 0.8, 1).unwrap();
    assert!(FiniteMdp::average(&[m.clone(), other_gamma]).is_err());
    assert!(FiniteMdp::average(&[m.clone(), FiniteMdp::random(4, 2, 0.9, 1).unwrap()]).is_err());
    let mu_bad = DVector::from_vec(vec![0.5, 0.5, 0.5]);
    assert!(epsilon(&m, &m, &[TabularPolicy::uniform(3, 2)], &mu_bad).is_err());
    assert!(epsilon(&m, &m, &[], &DVector::from_element(3, 1.0 / 3.0)).is_err());
    assert!(m.value_iteration(0.0, 10).is_err());
    assert!(m.value_iteration(1e-12, 2).is_err());
    assert!(m.permuted(&[0, 0, 1], &[0, 1]).is_err());
}

#[test]
fn average_is_mean_of_rewards_and_transitions() {
    let tasks: Vec<FiniteMdp> = (0..4).map(|s| FiniteMdp::random(3, 2, 0.9, s).unwrap()).collect();
    let avg = FiniteMdp::average(&tasks).unwrap();
    for s in 0..3 {
        for a in 0..2 {
            let r: f64 = tasks.iter().map(|t| t.reward(s, a)).sum::<f64>() / 4.0;
            assert!((avg.reward(s, a) - r).abs() < 1e-15);
            for s2 in 0..3 {
                let p: f64 = tasks.iter().map(|t| t.transition(s, a)[s2]).sum::<f64>() / 4.0;
                assert!((avg.transition(s, a)[s2] - p).abs() < 1e-15);
            }
        }
    }
    // Σ_t D_t^π V = 0 for every π and V: the tasks' Bellman differences cancel on average.
    let pi = TabularPolicy::uniform(3, 2);
    let v = DVector::from_vec(vec![1.0, -2.0, 0.5]);
    let sum = tasks
        .iter()
        .map(|t| bellman_difference(t, &avg, &pi, &v))
        .fold(DVector::zeros(3), |a, b| a + b);
    assert!(sum.amax() < 1e-12);
}

// ---------------------------------------------------------------------------------------------
// Definition 1: an entity MDP, its relabellings, and ε.
// ---------------------------------------------------------------------------------------------

const LEVELS: usize = 3;
/// Allocations (a_0, a_1) on the 2-simplex; the swap of entities maps action i to 2 − i.
const ALLOCATIONS: [(f64, f64); 3] = [(0.75, 0.25), (0.5, 0.5), (0.25, 0.75)];

fn xlogx(a: f64) -> f64 {
    if a == 0.0 {
        0.0
    } else {
        a * a.ln()
    }
}

/// Per-entity level dynamics: up one level w.p. 0.6·a_i, down one level w.p. 0.3·(1 − a_i),
/// clamped at the ends.
fn entity_kernel(x: usize, a: f64) -> [f64; LEVELS] {
    let mut p = [0.0; LEVELS];
    let up = 0.6 * a;
    let down = 0.3 * (1.0 - a);
    p[(x + 1).min(LEVELS - 1)] += up;
    p[x.saturating_sub(1)] += down;
    p[x] += 1.0 - up - down;
    p
}

/// The 2-entity allocation MDP of §6.1 in miniature: state (x_0, x_1) ∈ {0,1,2}², reward
/// `R(x, a) = Σ_i (x_i/2) a_i − β_i a_i ln a_i`, entities evolving independently with the same
/// kernel. Invariant under swapping the entities iff β_0 = β_1.
fn entity_mdp(beta: [f64; 2]) -> FiniteMdp {
    let s_count = LEVELS * LEVELS;
    let mut r = Vec::new();
    let mut p = Vec::new();
    for s in 0..s_count {
        let x = [s / LEVELS, s % LEVELS];
        for &(a0, a1) in &ALLOCATIONS {
            let a = [a0, a1];
            r.push(
                (0..2)
                    .map(|i| x[i] as f64 / 2.0 * a[i] - beta[i] * xlogx(a[i]))
                    .sum(),
            );
            let k0 = entity_kernel(x[0], a0);
            let k1 = entity_kernel(x[1], a1);
            for s2 in 0..s_count {
                p.push(k0[s2 / LEVELS] * k1[s2 % LEVELS]);
            }
        }
    }
    FiniteMdp::new(s_count, ALLOCATIONS.len(), r, p, 0.9).unwrap()
}

/// The entity swap σ as a (state, action) relabelling.
fn swap() -> (Vec<usize>, Vec<usize>) {
    let states = (0..LEVELS * LEVELS)
        .map(|s| (s % LEVELS) * LEVELS + s / LEVELS)
        .collect();
    let actions = (0..ALLOCATIONS.len()).rev().collect();
    (states, actions)
}

fn max_abs_diff(a: &FiniteMdp, b: &FiniteMdp) -> f64 {
    a.rewards()
        .iter()
        .zip(b.rewards())
        .chain(a.transitions().iter().zip(b.transitions()))
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

fn family_epsilon(spread: f64) -> f64 {
    let base = entity_mdp([0.3 - spread / 2.0, 0.3 + spread / 2.0]);
    let (sp, ap) = swap();
    let tasks = [base.clone(), base.permuted(&sp, &ap).unwrap()];
    let avg = FiniteMdp::average(&tasks).unwrap();
    let mu = DVector::from_element(base.states(), 1.0 / base.states() as f64);
    let policies = all_deterministic_policies(base.states(), base.actions()).unwrap();
    tasks
        .iter()
        .map(|t| epsilon(t, &avg, &policies, &mu).unwrap())
        .fold(0.0, f64::max)
}

#[test]
fn permuted_copies_of_an_invariant_task_have_epsilon_zero() {
    // Definition 1 with a permutation-invariant reward and kernel: relabelling the entities
    // gives back the same MDP, so the average is that MDP and D_t^π V^π = 0 for every π.
    let base = entity_mdp([0.3, 0.3]);
    let (sp, ap) = swap();
    let swapped = base.permuted(&sp, &ap).unwrap();
    assert!(max_abs_diff(&base, &swapped) < 1e-15);
    let avg = FiniteMdp::average(&[base.clone(), swapped.clone()]).unwrap();
    let mu = DVector::from_element(base.states(), 1.0 / base.states() as f64);
    let policies = all_deterministic_policies(base.states(), base.actions()).unwrap();
    assert_eq!(policies.len(), 3usize.pow(9));
    for t in [&base, &swapped] {
        assert!(epsilon(t, &avg, &policies, &mu).unwrap() < 1e-12);
    }
    // The optimal policy of an invariant MDP is σ-equivariant: π*(σx) = τ(π*(x)), and V* is
    // σ-invariant (Definition 1 for the optimal policy).
    let (v, pi, _) = base.policy_iteration(100).unwrap();
    for s in 0..base.states() {
        assert!((v[sp[s]] - v[s]).abs() < 1e-10);
        let q = base.q_values(&v);
        let a = pi.deterministic_action(s).unwrap();
        // The relabelled action is optimal at the relabelled state (tie-aware).
        let a_sigma = ap[a];
        assert!(q[(sp[s], a_sigma)] >= q.row(sp[s]).max() - 1e-10);
    }
}

#[test]
fn average_of_all_relabellings_is_invariant_even_when_tasks_are_not() {
    let base = entity_mdp([0.1, 0.6]);
    let (sp, ap) = swap();
    let swapped = base.permuted(&sp, &ap).unwrap();
    assert!(max_abs_diff(&base, &swapped) > 1e-3);
    let avg = FiniteMdp::average(&[base.clone(), swapped]).unwrap();
    assert!(max_abs_diff(&avg, &avg.permuted(&sp, &ap).unwrap()) < 1e-15);
    // A σ-equivariant policy (uniform allocation everywhere) has D_t^π V^π ≠ 0 here, because
    // the reward itself differs; but D_t^π V^π of the two tasks cancel.
    let pi = TabularPolicy::deterministic(vec![1; base.states()], base.actions()).unwrap();
    let v = avg.evaluate(&pi).unwrap();
    let d = bellman_difference(&base, &avg, &pi, &v);
    // a = (1/2, 1/2): the β-terms are −(β_0 + β_1)·(1/2)ln(1/2) in both tasks → D = 0.
    assert!(d.amax() < 1e-12);
    let pi = TabularPolicy::deterministic(vec![0; base.states()], base.actions()).unwrap();
    let v = avg.evaluate(&pi).unwrap();
    let d = bellman_difference(&base, &avg, &pi, &v);
    assert!(d.amax() > 1e-3);
}

#[test]
fn epsilon_grows_linearly_with_the_beta_spread() {
    // §6.1: β_i spread by `spread` around 0.3; the kernel does not depend on β, so
    // D_t^π V = R_t^π − R^π and ε is exactly linear in the spread.
    let spreads = [0.0, 0.2, 0.4, 0.6, 0.8];
    let eps: Vec<f64> = spreads.iter().map(|&s| family_epsilon(s)).collect();
    assert!(eps[0] < 1e-12, "ε(0) = {}", eps[0]);
    for w in eps.windows(2) {
        assert!(w[1] > w[0], "ε must increase with the spread: {eps:?}");
    }
    let slope = eps[4] / 0.8;
    for (s, e) in spreads.iter().zip(&eps) {
        assert!((e - slope * s).abs() < 1e-9, "ε({s}) = {e}, slope {slope}");
    }
    // Hand value: for a = (3/4, 1/4) the reward gap between a task and the average is
    // (spread/2)·|3/4 ln 3/4 − 1/4 ln 1/4| in every state, so ε = that number.
    let gap = 0.5 * (0.75 * 0.75f64.ln() - 0.25 * 0.25f64.ln()).abs();
    assert!((slope - gap).abs() < 1e-12, "slope {slope} vs {gap}");
}

#[test]
fn weighted_norm_matches_definition() {
    let v = DVector::from_vec(vec![3.0, -4.0]);
    let mu = DVector::from_vec(vec![0.5, 0.5]);
    assert!((weighted_l2(&v, &mu) - 12.5f64.sqrt()).abs() < 1e-15);
}
