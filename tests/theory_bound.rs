//! Properties of `pimtl::theory::bound`: the concentrability dynamic program against brute
//! force, the truncated series and their tail bounds, and the structure of Theorem 1 and its
//! corollaries (monotone in N, 1/√N scaling, linear in ε); and every constant of Theorem 1,
//! Lazaric et al.'s Theorem 8, Corollary 1, the sample terms (E_1, E_2, Λ, ν_μ, Lemma 4's n) and
//! C', C'' pinned against the independent reference values of `scripts/theorem1_reference.py`
//! (`tests/data/theorem1_reference.json`).

use nalgebra::{DMatrix, DVector};
use pimtl::theory::bound::{
    approximation_error, assumption1_c, concentrability, concentrability_brute_force,
    concentrability_coefficients, corollary1, corollary2, feature_bound, finite_family_inputs,
    gram_min_eigenvalue, lazaric_sample_terms, lazaric_theorem8, theorem1, Bound, BoundInputs,
    ConcentrabilitySeries, LearnerInputs, Mixing,
};
use pimtl::theory::mdp::{all_deterministic_policies, FiniteMdp, TabularPolicy};
use proptest::prelude::*;

/// A tiny MDP (S ≤ 3, A ≤ 2) with sparse rows, and two distributions that may have zeros.
fn tiny() -> impl Strategy<Value = (FiniteMdp, DVector<f64>, DVector<f64>)> {
    (1usize..4, 1usize..3, 0.1f64..0.95).prop_flat_map(|(s, a, g)| {
        (
            proptest::collection::vec(0u8..3, s * a * s),
            proptest::collection::vec(0u8..4, s),
            proptest::collection::vec(0u8..4, s),
        )
            .prop_map(move |(w, sig, mu)| {
                let mut p = Vec::new();
                for row in w.chunks(s) {
                    let mut row: Vec<f64> = row.iter().map(|&x| f64::from(x)).collect();
                    if row.iter().all(|&x| x == 0.0) {
                        let last = row.len() - 1;
                        row[last] = 1.0;
                    }
                    let sum: f64 = row.iter().sum();
                    p.extend(row.iter().map(|x| x / sum));
                }
                let dist = |v: Vec<u8>| {
                    let mut v: Vec<f64> = v.into_iter().map(f64::from).collect();
                    if v.iter().all(|&x| x == 0.0) {
                        v[0] = 1.0;
                    }
                    let sum: f64 = v.iter().sum();
                    DVector::from_vec(v.into_iter().map(|x| x / sum).collect())
                };
                (
                    FiniteMdp::new(s, a, vec![0.0; s * a], p, g).unwrap(),
                    dist(sig),
                    dist(mu),
                )
            })
    })
}

/// MDPs on which `c(m)` is a real supremum: `S ∈ 2..=4` states, `A ∈ 2..=3` actions, sparse
/// random rows, and `σ ≠ μ`, both strictly positive and neither uniform. ([`tiny`] keeps the
/// degenerate cases: one state or action, zeros in `σ` and `μ`.)
fn non_trivial() -> impl Strategy<Value = (FiniteMdp, DVector<f64>, DVector<f64>)> {
    (2usize..5, 2usize..4)
        .prop_flat_map(|(s, a)| {
            (
                proptest::collection::vec(0u8..4, s * a * s),
                proptest::collection::vec(1u8..8, s),
                proptest::collection::vec(1u8..8, s),
            )
                .prop_map(move |(w, sig, mu)| {
                    let mut p = Vec::new();
                    for (r, row) in w.chunks(s).enumerate() {
                        let mut row: Vec<f64> = row.iter().map(|&x| f64::from(x)).collect();
                        if row.iter().all(|&x| x == 0.0) {
                            row[r % s] = 1.0;
                        }
                        let sum: f64 = row.iter().sum();
                        p.extend(row.iter().map(|x| x / sum));
                    }
                    let dist = |v: Vec<u8>| {
                        let sum: f64 = v.iter().map(|&x| f64::from(x)).sum();
                        DVector::from_vec(v.into_iter().map(|x| f64::from(x) / sum).collect())
                    };
                    (
                        FiniteMdp::new(s, a, vec![0.0; s * a], p, 0.9).unwrap(),
                        dist(sig),
                        dist(mu),
                    )
                })
        })
        .prop_filter("sigma != mu, neither uniform", |(_, sigma, mu)| {
            let uniform = |v: &DVector<f64>| v.iter().all(|&x| x == v[0]);
            sigma != mu && !uniform(sigma) && !uniform(mu)
        })
}

/// The largest `m ≤ 4` with `|Π|^m ≤ 20 000` deterministic policy sequences to enumerate.
fn enumerable_m(policies: usize) -> usize {
    (1..=4)
        .take_while(|&m| policies.pow(m as u32) <= 20_000)
        .last()
        .unwrap_or(0)
}

fn close(a: f64, b: f64) -> bool {
    (a.is_infinite() && b.is_infinite()) || (a - b).abs() <= 1e-12 * (1.0 + a.abs().max(b.abs()))
}

fn base_inputs() -> BoundInputs {
    BoundInputs {
        gamma: 0.9,
        r_max: 1.0,
        c: 2.0,
        c_prime: 1.5,
        c_second: 3.0,
        nu_mu: 0.5,
        l: 1.0,
        d: 4,
        k: 10,
        delta: 0.05,
        n: 1000.0,
        lemma4_min_n: 0.0,
        e0: 0.1,
        e1: 0.2,
        e2: 0.3,
        epsilon: 0.1,
    }
}

fn inputs_strategy() -> impl Strategy<Value = BoundInputs> {
    (
        (
            0.05f64..0.99,
            0.0f64..10.0,
            1.0f64..10.0,
            1.0f64..10.0,
            1.0f64..10.0,
        ),
        (1e-3f64..2.0, 0.0f64..5.0, 1usize..200, 1usize..100, 1e-4f64..0.5),
        (1.0f64..1e6, 0.0f64..1.0, 0.0f64..1.0, 0.0f64..1.0, 0.0f64..2.0),
    )
        .prop_map(
            |((gamma, r_max, c, c_prime, c_second), (nu_mu, l, d, k, delta), (n, e0, e1, e2, epsilon))| {
                BoundInputs {
                    gamma,
                    r_max,
                    c,
                    c_prime,
                    c_second,
                    nu_mu,
                    l,
                    d,
                    k,
                    delta,
                    n,
                    lemma4_min_n: 0.0,
                    e0,
                    e1,
                    e2,
                    epsilon,
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn dp_equals_brute_force((mdp, sigma, mu) in tiny(), m in 0usize..4) {
        let (c, tail) = concentrability_coefficients(&mdp, &sigma, &mu, m).unwrap();
        let policies = all_deterministic_policies(mdp.states(), mdp.actions()).unwrap();
        for (j, &cj) in c.iter().enumerate() {
            let bf = concentrability_brute_force(&mdp, &policies, &sigma, &mu, j).unwrap();
            prop_assert!(close(cj, bf), "m = {j}: DP {cj} vs brute force {bf}");
        }
        // c(0) = ‖σ/μ‖_∞ and c(m) ≥ 1 whenever finite (both sides have mass 1).
        let c0 = (0..mdp.states())
            .map(|y| if sigma[y] == 0.0 { 0.0 } else if mu[y] == 0.0 { f64::INFINITY } else { sigma[y] / mu[y] })
            .fold(0.0, f64::max);
        prop_assert!(close(c[0], c0));
        for &cj in &c {
            prop_assert!(cj >= 1.0 - 1e-12);
        }
        // c(m) ≤ 1/min μ when μ > 0 everywhere, and the tail constant bounds c(m) for m > M.
        if mu.iter().all(|&x| x > 0.0) {
            let cap = 1.0 / mu.min();
            prop_assert!(c.iter().all(|&x| x <= cap * (1.0 + 1e-12)));
        }
        let (longer, _) = concentrability_coefficients(&mdp, &sigma, &mu, m + 4).unwrap();
        for &cj in &longer[m + 1..] {
            prop_assert!(cj <= tail * (1.0 + 1e-12) || tail.is_infinite());
        }
    }

    #[test]
    fn series_truncations_are_bracketed((mdp, sigma, mu) in tiny(), m in 1usize..6) {
        let short = concentrability(&mdp, &sigma, &mu, m).unwrap();
        let long = concentrability(&mdp, &sigma, &mu, m + 40).unwrap();
        if short.is_finite() {
            // Partial sums increase with M and never exceed the tail-inclusive upper bound.
            prop_assert!(long.c_prime.value >= short.c_prime.value - 1e-12);
            prop_assert!(long.c_second.value >= short.c_second.value - 1e-12);
            prop_assert!(long.c_prime.value <= short.c_prime.upper() * (1.0 + 1e-12));
            prop_assert!(long.c_second.value <= short.c_second.upper() * (1.0 + 1e-12));
            prop_assert!(long.c_prime.upper() <= short.c_prime.upper() * (1.0 + 1e-12));
            // C', C'' ≥ 1 in the limit (every c(m) ≥ 1); the upper bounds certainly are.
            prop_assert!(short.c_prime.upper() >= 1.0 - 1e-12);
            prop_assert!(short.c_second.upper() >= 1.0 - 1e-12);
        }
    }

    #[test]
    fn bound_is_non_increasing_in_n(inp in inputs_strategy(), factor in 1.0f64..100.0) {
        let a = theorem1(&inp).unwrap();
        let mut more = inp;
        more.n = inp.n * factor;
        let b = theorem1(&more).unwrap();
        prop_assert!(b.terms().total <= a.terms().total * (1.0 + 1e-12));
        prop_assert!(b.terms().estimation_sample <= a.terms().estimation_sample * (1.0 + 1e-12));
        // Only the sample part depends on N.
        prop_assert_eq!(a.terms().approximation, b.terms().approximation);
        prop_assert_eq!(a.terms().iteration, b.terms().iteration);
        prop_assert_eq!(a.terms().transfer, b.terms().transfer);
        prop_assert_eq!(a.terms().estimation_e1, b.terms().estimation_e1);
    }

    #[test]
    fn bound_is_affine_in_epsilon(inp in inputs_strategy(), eps in 0.0f64..5.0) {
        let mut zero = inp;
        zero.epsilon = 0.0;
        let mut one = inp;
        one.epsilon = 1.0;
        let mut at = inp;
        at.epsilon = eps;
        let (t0, t1, te) = (theorem1(&zero).unwrap(), theorem1(&one).unwrap(), theorem1(&at).unwrap());
        let slope = t1.terms().transfer;
        prop_assert_eq!(t0.terms().transfer, 0.0);
        prop_assert!((te.terms().transfer - eps * slope).abs() <= 1e-12 * (1.0 + eps * slope));
        prop_assert!((te.terms().total - t0.terms().total - eps * slope).abs() <= 1e-9 * (1.0 + te.terms().total));
        // The slope is 2/(1−γ)²·3√(2C').
        let expected = 2.0 / (1.0 - inp.gamma).powi(2) * 3.0 * (2.0 * inp.c_prime).sqrt();
        prop_assert!((slope - expected).abs() <= 1e-12 * expected);
    }
}

#[test]
fn sample_term_scales_as_one_over_sqrt_n() {
    let inp = base_inputs();
    let sample = |n: f64| {
        let mut i = inp;
        i.n = n;
        theorem1(&i).unwrap().terms().estimation_sample
    };
    // Exact formula: √(8 log(8dK/δ)/N) + 1/N.
    let log = (8.0 * 4.0 * 10.0 / 0.05f64).ln();
    for n in [10.0, 1e3, 1e6] {
        let exact = ((8.0 * log / n).sqrt() + 1.0 / n) / ((8.0 * log / (4.0 * n)).sqrt() + 1.0 / (4.0 * n));
        assert!((sample(n) / sample(4.0 * n) - exact).abs() < 1e-12);
    }
    // The ratio tends to 2 as N grows (the 1/N part fades).
    let r_small = sample(10.0) / sample(40.0);
    let r_large = sample(1e8) / sample(4e8);
    assert!(r_small > 2.0 && r_small < r_large.max(2.5));
    assert!((r_large - 2.0).abs() < 1e-3, "ratio {r_large}");
    assert!(sample(1e6) * 1e3 > sample(1.0) * 0.5, "not faster than 1/√N");
}

#[test]
fn invalid_inputs_are_errors() {
    let good = base_inputs();
    assert!(theorem1(&good).is_ok());
    let cases: Vec<(&str, BoundInputs)> = vec![
        ("gamma", BoundInputs { gamma: 1.0, ..good }),
        ("gamma", BoundInputs { gamma: 0.0, ..good }),
        (
            "gamma",
            BoundInputs {
                gamma: f64::NAN,
                ..good
            },
        ),
        ("delta", BoundInputs { delta: 0.0, ..good }),
        ("delta", BoundInputs { delta: 1.0, ..good }),
        ("n", BoundInputs { n: 0.5, ..good }),
        ("n", BoundInputs { n: -10.0, ..good }),
        (
            "n",
            BoundInputs {
                n: f64::INFINITY,
                ..good
            },
        ),
        ("d", BoundInputs { d: 0, ..good }),
        ("k", BoundInputs { k: 0, ..good }),
        ("nu_mu", BoundInputs { nu_mu: 0.0, ..good }),
        ("e1", BoundInputs { e1: -0.1, ..good }),
        (
            "epsilon",
            BoundInputs {
                epsilon: f64::NAN,
                ..good
            },
        ),
        ("r_max", BoundInputs { r_max: -1.0, ..good }),
        ("c", BoundInputs { c: f64::NAN, ..good }),
        (
            "c_prime",
            BoundInputs {
                c_prime: -1.0,
                ..good
            },
        ),
    ];
    for (name, inp) in cases {
        match theorem1(&inp) {
            Err(pimtl::Error::InvalidParameter { name: got, .. }) => assert_eq!(got, name),
            other => panic!("{name}: expected an error, got {other:?}"),
        }
    }
    assert!(corollary1(&good, 0.0).is_err());
    assert!(corollary1(&good, f64::NAN).is_err());
}

#[test]
fn small_constants_give_an_applicable_bound_and_large_ones_do_not() {
    let tight = BoundInputs {
        gamma: 0.5,
        r_max: 1.0,
        c: 1.0,
        c_prime: 1.0,
        c_second: 1.0,
        nu_mu: 1.0,
        l: 1.0,
        d: 1,
        k: 40,
        delta: 0.1,
        n: 1e9,
        lemma4_min_n: 0.0,
        e0: 0.0,
        e1: 0.0,
        e2: 0.0,
        epsilon: 0.0,
    };
    let b = theorem1(&tight).unwrap();
    assert!(b.is_applicable(), "{b:?}");
    assert!(b.value().unwrap() < 2.0 * 2.0);
    match theorem1(&base_inputs()).unwrap() {
        Bound::NotApplicable { reason, terms, .. } => {
            assert!(reason.contains("vacuous"), "{reason}");
            assert!(terms.total >= terms.trivial);
        }
        b => panic!("expected vacuous, got {b:?}"),
    }
}

#[test]
fn corollary2_counts_and_bounds() {
    for (m_big, m) in [(10u64, 3u64), (50, 10), (68, 10), (20, 20), (7, 1)] {
        let c = corollary2(m_big, m).unwrap();
        let t = c.tasks.unwrap() as f64;
        assert!(
            t >= c.lower_bound * (1.0 - 1e-12),
            "C({m_big},{m}) = {t} < {}",
            c.lower_bound
        );
        assert!((c.log_tasks - t.ln()).abs() < 1e-9 * t.ln().max(1.0));
    }
    let huge = corollary2(5000, 2500).unwrap();
    assert!(huge.tasks.is_none());
    assert!(huge.log_tasks >= huge.log_lower_bound);
    assert!(corollary2(10, 0).is_err());
    assert!(corollary2(10, 11).is_err());
}

#[test]
fn uniformly_stochastic_rows_give_c_equal_one() {
    // Every row P(·|x, a) = μ: c(m) = 1 for m ≥ 1 and C' = (1−γ)c(0) + γ.
    let mu = DVector::from_vec(vec![0.2, 0.3, 0.5]);
    let sigma = DVector::from_vec(vec![0.6, 0.2, 0.2]);
    let p: Vec<f64> = (0..6).flat_map(|_| mu.iter().copied()).collect();
    let mdp = FiniteMdp::new(3, 2, vec![0.0; 6], p, 0.8).unwrap();
    let s = concentrability(&mdp, &sigma, &mu, 30).unwrap();
    assert!((s.c[0] - 3.0).abs() < 1e-12);
    assert!(s.c[1..].iter().all(|&c| (c - 1.0).abs() < 1e-12));
    assert!((s.tail_c - 1.0).abs() < 1e-12);
    assert!((s.c_prime.upper() - (0.2 * 3.0 + 0.8)).abs() < 1e-12);
    assert!((s.c_second.upper() - 1.0).abs() < 1e-12);
}

/// A 3-state, 2-action MDP in the spirit of Lazaric et al. §6.2: the stationary distributions
/// of the two constant policies vanish on different states, so no C satisfies μ ≤ C ρ^π.
#[test]
fn disjoint_stationary_supports_make_c_infinite() {
    // Action 0: 0→1, 1→0, 2→0.  Action 1: 0→2, 1→0, 2→0.
    let mut p = Vec::new();
    for s in 0..3 {
        for a in 0..2 {
            let target = match (s, a) {
                (0, 0) => 1,
                (0, 1) => 2,
                _ => 0,
            };
            let mut row = [0.0; 3];
            row[target] = 1.0;
            p.extend(row);
        }
    }
    let mdp = FiniteMdp::new(3, 2, vec![0.0, 0.0, 1.0, 1.0, 0.5, 0.5], p, 0.9).unwrap();
    let mu = DVector::from_element(3, 1.0 / 3.0);
    let pa = TabularPolicy::deterministic(vec![0, 0, 0], 2).unwrap();
    let pb = TabularPolicy::deterministic(vec![1, 1, 1], 2).unwrap();
    let rho_a = mdp.stationary_distribution(&pa).unwrap();
    assert_eq!(rho_a[2], 0.0);
    let c = assumption1_c(&mdp, &[pa.clone(), pb], &mu).unwrap();
    assert!(c.is_infinite());
    assert!(
        (assumption1_c(&mdp, &[pa], &DVector::from_vec(vec![0.5, 0.5, 0.0])).unwrap() - 1.0).abs() < 1e-12
    );
    let inp = BoundInputs { c, ..base_inputs() };
    match theorem1(&inp).unwrap() {
        Bound::NotApplicable { reason, .. } => assert!(reason.contains("infinite"), "{reason}"),
        b => panic!("{b:?}"),
    }
    // μ with a zero on a reachable state makes c(m) infinite from the step that reaches it.
    let mu0 = DVector::from_vec(vec![0.5, 0.5, 0.0]);
    let sigma = DVector::from_vec(vec![1.0, 0.0, 0.0]);
    let s = concentrability(&mdp, &sigma, &mu0, 3).unwrap();
    assert!(s.c[0].is_finite() && s.c[1].is_infinite());
    assert!(!s.is_finite() && s.c_prime.value.is_infinite());
}

#[test]
fn family_inputs_feed_theorem1() {
    let tasks: Vec<FiniteMdp> = (0..3)
        .map(|s| FiniteMdp::random(4, 2, 0.9, 100 + s).unwrap())
        .collect();
    let policies = all_deterministic_policies(4, 2).unwrap();
    let mu = DVector::from_element(4, 0.25);
    let fam = finite_family_inputs(&tasks, &policies, &mu, &mu, 60).unwrap();
    assert_eq!(fam.epsilon.len(), 3);
    assert!(fam.epsilon.iter().all(|&e| e > 0.0));
    assert!(fam.c >= 1.0 && fam.c.is_finite());
    // Tabular state features: d = S, L = 1, ω_μ = min μ.
    let phi = nalgebra::DMatrix::identity(4, 4);
    let omega = gram_min_eigenvalue(&phi, &mu).unwrap();
    assert!((omega - 0.25).abs() < 1e-12);
    assert_eq!(feature_bound(&phi), 1.0);
    let st =
        lazaric_sample_terms(1e7, 4, 10, 0.05, 1.0, omega, fam.r_max, 0.9, fam.c, Mixing::iid()).unwrap();
    assert!(st.lemma4_met && st.nu_mu.is_some());
    let learner = LearnerInputs {
        nu_mu: st.nu_mu.unwrap(),
        l: 1.0,
        d: 4,
        k: 10,
        delta: 0.05,
        n: 1e7,
        lemma4_min_n: st.lemma4_min_n,
        e0: 0.0,
        e1: st.e1,
        e2: st.e2,
    };
    let inp = fam.bound_inputs(0, &learner).unwrap();
    let b = theorem1(&inp).unwrap();
    assert!(b.terms().total.is_finite());
    assert!(fam.bound_inputs(3, &learner).is_err());
}

#[test]
fn lemma4_sample_size_is_the_threshold() {
    let terms =
        |n: f64| lazaric_sample_terms(n, 21, 10, 0.05, 1.0, 0.01, 1.0, 0.9, 2.0, Mixing::iid()).unwrap();
    let t = terms(2000.0);
    assert!(!t.lemma4_met);
    let n_min = t.lemma4_min_n;
    assert!(n_min.is_finite() && n_min > 2000.0);
    assert!(terms(n_min).lemma4_met);
    assert!(!terms(n_min - 1.0).lemma4_met);
    // E_1, E_2 decrease with n.
    assert!(terms(1e8).e1 < terms(1e6).e1);
    assert!(terms(1e8).e2 < terms(1e6).e2);
    assert!(lazaric_sample_terms(0.0, 21, 10, 0.05, 1.0, 0.01, 1.0, 0.9, 2.0, Mixing::iid()).is_err());
    assert!(lazaric_sample_terms(100.0, 21, 10, 0.05, 1.0, 0.0, 1.0, 0.9, 2.0, Mixing::iid()).is_err());
}

/// The 3-state, 2-action MDP (γ = 1/2) of the `approximation_error` test, with its two constant
/// policies. Action 0: `P = [[½, ½, 0], [½, 0, ½], [0, 1, 0]]`, `R = (1, 0, 2)`; action 1:
/// `P = [[0, 0, 1], [1, 0, 0], [½, 0, ½]]`, `R = (0, 3, 1)`.
fn two_chain_mdp() -> (FiniteMdp, TabularPolicy, TabularPolicy) {
    let rows: [[f64; 3]; 6] = [
        [0.5, 0.5, 0.0], // (s, a) = (0, 0)
        [0.0, 0.0, 1.0], // (0, 1)
        [0.5, 0.0, 0.5], // (1, 0)
        [1.0, 0.0, 0.0], // (1, 1)
        [0.0, 1.0, 0.0], // (2, 0)
        [0.5, 0.0, 0.5], // (2, 1)
    ];
    let mdp = FiniteMdp::new(
        3,
        2,
        vec![1.0, 0.0, 0.0, 3.0, 2.0, 1.0],
        rows.iter().flatten().copied().collect(),
        0.5,
    )
    .unwrap();
    let a = TabularPolicy::deterministic(vec![0, 0, 0], 2).unwrap();
    let b = TabularPolicy::deterministic(vec![1, 1, 1], 2).unwrap();
    (mdp, a, b)
}

/// `min_α ‖Φα − v‖_ρ` by the weighted normal equations `(Φᵀ D Φ) α = Φᵀ D v`, `D = diag(ρ)`,
/// solved by Cramer's rule (d = 1 or 2): independent of the library's SVD route.
fn weighted_ls_residual(phi: &[[f64; 2]], d: usize, v: &[f64], rho: &[f64]) -> f64 {
    let mut g = [[0.0; 2]; 2];
    let mut b = [0.0; 2];
    for s in 0..v.len() {
        for i in 0..d {
            b[i] += rho[s] * phi[s][i] * v[s];
            for j in 0..d {
                g[i][j] += rho[s] * phi[s][i] * phi[s][j];
            }
        }
    }
    let alpha = if d == 1 {
        [b[0] / g[0][0], 0.0]
    } else {
        let det = g[0][0] * g[1][1] - g[0][1] * g[1][0];
        [
            (b[0] * g[1][1] - g[0][1] * b[1]) / det,
            (g[0][0] * b[1] - g[1][0] * b[0]) / det,
        ]
    };
    (0..v.len())
        .map(|s| {
            let fit: f64 = (0..d).map(|i| phi[s][i] * alpha[i]).sum();
            rho[s] * (fit - v[s]).powi(2)
        })
        .sum::<f64>()
        .sqrt()
}

/// `E_0 = max_π min_α ‖Φα − V^π‖_{ρ^π}` with non-identity features, where the weighting matters
/// (with Φ = I the error is 0 whatever the norm). By hand: policy A has
/// `ρ^A = (0.4, 0.4, 0.2)` (`ρ_0 = ρ_1`, `ρ_2 = ρ_0/2`) and
/// `V^A = (I − P/2)⁻¹ R = (32, 20, 48)/19`; policy B has `ρ^B = (1/3, 0, 2/3)` (state 1 is
/// transient) and `V^B = (0.8, 3.4, 1.6)`. With the constant feature the error is the
/// ρ-weighted standard deviation of V: `√106.24 / 19` for A (ρ-mean 1.6) and `√32 / 15` for B
/// (ρ-mean 4/3). With features (1, x), x = (0, 1, 2), B is fitted exactly on its support
/// {0, 2} (0; the plain 2-norm would not be), A by the weighted normal equations. An unweighted
/// norm, a uniform weight, `ρ` in place of `√ρ` in the least squares, or another policy's
/// stationary distribution each change one of these numbers.
#[test]
fn approximation_error_weights_by_each_policys_stationary_distribution() {
    let (mdp, a, b) = two_chain_mdp();
    let v_a = [32.0 / 19.0, 20.0 / 19.0, 48.0 / 19.0];
    let rho_a = [0.4, 0.4, 0.2];
    let v_b = [0.8, 3.4, 1.6];
    let rho_b = [1.0 / 3.0, 0.0, 2.0 / 3.0];
    // The hand values agree with the library's evaluation and stationary distributions.
    for (pi, v, rho) in [(&a, &v_a, &rho_a), (&b, &v_b, &rho_b)] {
        let (ve, re) = (
            mdp.evaluate(pi).unwrap(),
            mdp.stationary_distribution(pi).unwrap(),
        );
        for s in 0..3 {
            assert!((ve[s] - v[s]).abs() < 1e-12 && (re[s] - rho[s]).abs() < 1e-12);
        }
    }
    let rel = |got: f64, want: f64| (got - want).abs() <= 1e-12 * want.max(1e-300);

    // d = 1, Φ = 1.
    let constant = DMatrix::from_element(3, 1, 1.0);
    let e_a = 106.24f64.sqrt() / 19.0;
    let e_b = 32f64.sqrt() / 15.0;
    let ones = [[1.0, 0.0]; 3];
    assert!(rel(weighted_ls_residual(&ones, 1, &v_a, &rho_a), e_a));
    assert!(rel(weighted_ls_residual(&ones, 1, &v_b, &rho_b), e_b));
    let got_a = approximation_error(&mdp, &constant, std::slice::from_ref(&a)).unwrap();
    let got_b = approximation_error(&mdp, &constant, std::slice::from_ref(&b)).unwrap();
    assert!(rel(got_a, e_a), "E_0(A) = {got_a}, expected {e_a}");
    assert!(rel(got_b, e_b), "E_0(B) = {got_b}, expected {e_b}");
    let both = approximation_error(&mdp, &constant, &[a.clone(), b.clone()]).unwrap();
    assert!(rel(both, e_a.max(e_b)), "max over policies: {both}");

    // d = 2, Φ = (1, x).
    let line = [[1.0, 0.0], [1.0, 1.0], [1.0, 2.0]];
    let phi = DMatrix::from_fn(3, 2, |s, i| line[s][i]);
    let e_a = weighted_ls_residual(&line, 2, &v_a, &rho_a);
    let got_a = approximation_error(&mdp, &phi, std::slice::from_ref(&a)).unwrap();
    assert!(rel(got_a, e_a), "E_0(A) = {got_a}, expected {e_a}");
    let got_b = approximation_error(&mdp, &phi, std::slice::from_ref(&b)).unwrap();
    assert!(got_b <= 1e-12, "B is exact on its support: {got_b}");
    let both = approximation_error(&mdp, &phi, &[b, a]).unwrap();
    assert!(rel(both, e_a), "max over policies: {both}");
    // The hand-checked value of the weighted line fit: α = (14.72, 2.88)/10.64.
    assert!((e_a - 0.503_254_151_298_692).abs() < 1e-12, "{e_a}");
}

/// `c(m)` by the dynamic program equals the brute-force maximum over all deterministic policy
/// sequences (so the supremum is attained by one of them) on MDPs with up to 4 states and 3
/// actions and non-uniform `σ ≠ μ`. A case is *trivial* when the choice of policies does not
/// matter: every constant sequence `(π, …, π)` gives the same value for every `m ≥ 1`
/// enumerated (a DP that ignored the max, took the first action, or had the product order
/// wrong would still agree there). The test counts non-trivial cases and requires most of
/// them to be.
#[test]
fn dp_equals_brute_force_on_non_trivial_mdps() {
    use proptest::test_runner::{Config, TestCaseError, TestRunner};
    let mut runner = TestRunner::new(Config {
        cases: 128,
        failure_persistence: None,
        ..Config::default()
    });
    let counts = std::cell::Cell::new((0usize, 0usize));
    runner
        .run(&non_trivial(), |(mdp, sigma, mu)| {
            let policies = all_deterministic_policies(mdp.states(), mdp.actions()).unwrap();
            let max_m = enumerable_m(policies.len());
            let (c, _) = concentrability_coefficients(&mdp, &sigma, &mu, max_m).unwrap();
            let mut choice_matters = false;
            for (j, &cj) in c.iter().enumerate() {
                let bf = concentrability_brute_force(&mdp, &policies, &sigma, &mu, j).unwrap();
                if !close(cj, bf) {
                    return Err(TestCaseError::fail(format!(
                        "m = {j}: DP {cj} vs brute force {bf}"
                    )));
                }
                if j > 0 {
                    let worst = policies
                        .iter()
                        .map(|pi| {
                            concentrability_brute_force(&mdp, std::slice::from_ref(pi), &sigma, &mu, j)
                                .unwrap()
                        })
                        .fold(f64::INFINITY, f64::min);
                    choice_matters |= worst < cj * (1.0 - 1e-9);
                }
            }
            let (n, hard) = counts.get();
            counts.set((n + 1, hard + usize::from(choice_matters)));
            Ok(())
        })
        .unwrap();
    let (n, hard) = counts.get();
    eprintln!("{hard} of {n} cases non-trivial");
    assert!(4 * hard >= 3 * n, "only {hard} of {n} cases are non-trivial");
}

/// Stochastic policies cannot beat the DP (the objective is multilinear in the policies): for
/// random sequences of random stochastic policies, the value never exceeds `c(m)` (1e-12
/// relative).
#[test]
fn stochastic_policy_sequences_never_exceed_the_dp() {
    use proptest::test_runner::{Config, TestCaseError, TestRunner};
    let strategy = non_trivial().prop_flat_map(|(mdp, sigma, mu)| {
        let (s, a) = (mdp.states(), mdp.actions());
        let policy = proptest::collection::vec(0.0f64..1.0, s * a).prop_map(move |w| {
            let mut probs = Vec::with_capacity(s * a);
            for row in w.chunks(a) {
                // Cubes push some rows close to deterministic.
                let row: Vec<f64> = row.iter().map(|x| x * x * x + 1e-3).collect();
                let sum: f64 = row.iter().sum();
                probs.extend(row.iter().map(|x| x / sum));
            }
            TabularPolicy::stochastic(probs, s, a).unwrap()
        });
        (
            Just((mdp, sigma, mu)),
            proptest::collection::vec(policy, 4),
            1usize..4,
        )
    });
    let mut runner = TestRunner::new(Config {
        cases: 128,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&strategy, |((mdp, sigma, mu), policies, m)| {
            let (c, _) = concentrability_coefficients(&mdp, &sigma, &mu, m).unwrap();
            for (j, &cj) in c.iter().enumerate() {
                // The best of the 4^j sequences of these stochastic policies.
                let v = concentrability_brute_force(&mdp, &policies, &sigma, &mu, j).unwrap();
                if v > cj * (1.0 + 1e-12) {
                    return Err(TestCaseError::fail(format!("m = {j}: stochastic {v} > DP {cj}")));
                }
            }
            Ok(())
        })
        .unwrap();
}

// ---------------------------------------------------------------------------------------------
// Every constant pinned against independent reference values (issue #13).
//
// `tests/data/theorem1_reference.json` is written by `python3 scripts/theorem1_reference.py`,
// which evaluates the formulas of the paper's appendix and of Lazaric et al. (2012) from their
// statements, not from this crate, in 50-digit decimal arithmetic starting from the exact value of
// each f64 input, and rounds each result once to f64. What is left in a comparison is this
// crate's own f64 rounding: a few ulps per operation over chains of at most ~30 operations (ln,
// sqrt, powf included), i.e. below 1e-14 relative. Hence one tolerance, `REL = 1e-12`, for every
// field: two orders of magnitude above that rounding and many orders below the effect of any
// constant (a factor such as 1 + γ, 2√2 or 24/23 moves a term by ≥ 4 %). The only cancellation,
// `√ν_μ = √ω_μ/2 − 6L√(2Λ/n)·f`, is kept below a factor 10 of amplification by the script, so
// 1e-12 also holds for `ν_μ`; Lemma 4's sample size is an integer and compared exactly (the script
// checks that the inequality is decided far from f64 rounding at both neighbouring integers).

const REL: f64 = 1e-12;

fn reference() -> &'static serde_json::Value {
    static REF: std::sync::OnceLock<serde_json::Value> = std::sync::OnceLock::new();
    REF.get_or_init(|| {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/theorem1_reference.json");
        let text = std::fs::read_to_string(path).unwrap();
        serde_json::from_str(&text).unwrap()
    })
}

/// The reference's cases of one kind (at least `min` of them).
fn ref_cases(kind: &str, min: usize) -> &'static [serde_json::Value] {
    let cases = reference()[kind]
        .as_array()
        .unwrap_or_else(|| panic!("no {kind} in the reference"));
    assert!(cases.len() >= min, "{kind}: {} cases, want ≥ {min}", cases.len());
    cases
}

fn ref_name(case: &serde_json::Value) -> &str {
    case["name"].as_str().unwrap()
}

/// A number of the reference; `null` stands for +∞ (JSON has no infinity).
fn ref_num(v: &serde_json::Value, key: &str, ctx: &str) -> f64 {
    match v.get(key) {
        Some(serde_json::Value::Null) => f64::INFINITY,
        Some(x) => x
            .as_f64()
            .unwrap_or_else(|| panic!("{ctx}: {key} is not a number")),
        None => panic!("{ctx}: no field {key} in the reference"),
    }
}

fn ref_usize(v: &serde_json::Value, key: &str, ctx: &str) -> usize {
    let x = v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{ctx}: {key} is not an integer"));
    usize::try_from(x).unwrap()
}

/// `got` equals the reference `want` to `REL` relative (exactly when `want` is 0 or infinite).
fn assert_ref(ctx: &str, field: &str, got: f64, want: f64) {
    let ok = if want.is_infinite() {
        got == want
    } else {
        (got - want).abs() <= REL * want.abs()
    };
    assert!(
        ok,
        "{ctx}: {field} = {got:e}, reference {want:e} (relative error {:e})",
        ((got - want) / want).abs()
    );
}

fn ref_bound_inputs(case: &serde_json::Value) -> BoundInputs {
    let i = &case["inputs"];
    let ctx = ref_name(case);
    let f = |key: &str| ref_num(i, key, ctx);
    BoundInputs {
        gamma: f("gamma"),
        r_max: f("r_max"),
        c: f("c"),
        c_prime: f("c_prime"),
        c_second: f("c_second"),
        nu_mu: f("nu_mu"),
        l: f("l"),
        d: ref_usize(i, "d", ctx),
        k: ref_usize(i, "k", ctx),
        delta: f("delta"),
        n: f("n"),
        lemma4_min_n: f("lemma4_min_n"),
        e0: f("e0"),
        e1: f("e1"),
        e2: f("e2"),
        epsilon: f("epsilon"),
    }
}

const TERM_FIELDS: [&str; 9] = [
    "prefactor",
    "approximation",
    "estimation_sample",
    "estimation_e1",
    "estimation",
    "iteration",
    "transfer",
    "total",
    "trivial",
];

/// Every term of `bound` and its list of failures against the reference record `want`.
fn assert_bound_ref(ctx: &str, bound: &Bound, want: &serde_json::Value) {
    let t = bound.terms();
    let got = [
        t.prefactor,
        t.approximation,
        t.estimation_sample,
        t.estimation_e1,
        t.estimation,
        t.iteration,
        t.transfer,
        t.total,
        t.trivial,
    ];
    for (field, g) in TERM_FIELDS.iter().zip(got) {
        assert_ref(ctx, field, g, ref_num(want, field, ctx));
    }
    let got_failures: Vec<&str> = match bound {
        Bound::Applicable(_) => Vec::new(),
        Bound::NotApplicable { failures, .. } => failures.iter().map(|f| f.name()).collect(),
    };
    let want_failures: Vec<&str> = want["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert_eq!(got_failures, want_failures, "{ctx}: failures");
}

#[test]
fn theorem1_matches_reference() {
    let mut applicable = 0;
    for case in ref_cases("bound_cases", 5) {
        let b = theorem1(&ref_bound_inputs(case)).unwrap();
        applicable += usize::from(b.is_applicable());
        assert_bound_ref(&format!("{} theorem1", ref_name(case)), &b, &case["theorem1"]);
    }
    assert!(
        applicable >= 1,
        "the reference should contain an applicable bound"
    );
}

#[test]
fn lazaric_theorem8_matches_reference_and_differs_by_the_documented_constants() {
    for case in ref_cases("bound_cases", 5) {
        let name = ref_name(case);
        let inp = ref_bound_inputs(case);
        let lgm = lazaric_theorem8(&inp).unwrap();
        assert_bound_ref(
            &format!("{name} lazaric_theorem8"),
            &lgm,
            &case["lazaric_theorem8"],
        );
        // On the referenced numbers: the prefactor 4γ/(1−γ)² vs 2/(1−γ)² scales every term by 2γ,
        // except E_1, which Lazaric et al. do not multiply by 2/(1−γ) (ratio 2γ·(1−γ)/2), and the
        // transfer term, which they do not have.
        let (cai, lgm) = (&case["theorem1"], &case["lazaric_theorem8"]);
        let g = inp.gamma;
        let ctx = format!("{name} Lazaric/appendix ratio");
        for (field, ratio) in [
            ("prefactor", 2.0 * g),
            ("approximation", 2.0 * g),
            ("estimation_sample", 2.0 * g),
            ("iteration", 2.0 * g),
            ("estimation_e1", g * (1.0 - g)),
        ] {
            let (a, l) = (ref_num(cai, field, &ctx), ref_num(lgm, field, &ctx));
            if a == 0.0 || a.is_infinite() {
                assert_eq!(l, a, "{ctx}: {field}");
            } else {
                assert_ref(&ctx, field, l / a, ratio);
            }
        }
        assert_eq!(ref_num(lgm, "transfer", &ctx), 0.0);
        assert_ref(
            &ctx,
            "trivial",
            ref_num(lgm, "trivial", &ctx),
            ref_num(cai, "trivial", &ctx),
        );
    }
}

#[test]
fn corollary1_matches_reference_for_several_t() {
    let mut entries = 0;
    for case in ref_cases("bound_cases", 5) {
        let name = ref_name(case);
        let inp = ref_bound_inputs(case);
        let single = ref_num(&case["theorem1"], "estimation_sample", name);
        for entry in case["corollary1"].as_array().unwrap() {
            let t = ref_num(entry, "tasks", name);
            let ctx = format!("{name} corollary1 T = {t}");
            assert_bound_ref(&ctx, &corollary1(&inp, t).unwrap(), entry);
            // Only the pooled N·T matters: half the samples per task from twice the tasks, and
            // one task with all N·T samples, give the same referenced bound.
            let half = BoundInputs {
                n: inp.n / 2.0,
                ..inp
            };
            assert_bound_ref(
                &format!("{ctx} (N/2, 2T)"),
                &corollary1(&half, 2.0 * t).unwrap(),
                entry,
            );
            let pooled = BoundInputs { n: inp.n * t, ..inp };
            assert_bound_ref(
                &format!("{ctx} (theorem1 at N·T)"),
                &theorem1(&pooled).unwrap(),
                entry,
            );
            // The reference itself moves with T (so a corollary that ignored T would fail above).
            let sample = ref_num(entry, "estimation_sample", &ctx);
            assert!(
                t == 1.0 || single.is_infinite() || sample < single,
                "{ctx}: estimation_sample {sample} vs {single} at T = 1"
            );
            entries += 1;
        }
    }
    assert!(entries >= 10, "only {entries} corollary1 entries");
}

#[test]
fn lazaric_sample_terms_match_reference() {
    let mut mixing_cases = 0;
    for case in ref_cases("sample_cases", 5) {
        let ctx = ref_name(case);
        let i = &case["inputs"];
        let f = |key: &str| ref_num(i, key, ctx);
        let mixing = Mixing {
            beta_bar: ref_num(&i["mixing"], "beta_bar", ctx),
            b: ref_num(&i["mixing"], "b", ctx),
            kappa: ref_num(&i["mixing"], "kappa", ctx),
        };
        mixing_cases += usize::from(mixing.b.is_finite());
        let (d, k) = (ref_usize(i, "d", ctx), ref_usize(i, "k", ctx));
        let terms = |n: f64| {
            lazaric_sample_terms(
                n,
                d,
                k,
                f("delta"),
                f("l"),
                f("omega"),
                f("r_max"),
                f("gamma"),
                f("c"),
                mixing,
            )
            .unwrap()
        };
        let st = terms(f("n"));
        let want = &case["expected"];
        for (field, got) in [("lambda", st.lambda), ("e1", st.e1), ("e2", st.e2)] {
            assert_ref(ctx, field, got, ref_num(want, field, ctx));
        }
        match (st.nu_mu, &want["nu_mu"]) {
            (None, serde_json::Value::Null) => {}
            (Some(nu), w) if !w.is_null() => assert_ref(ctx, "nu_mu", nu, ref_num(want, "nu_mu", ctx)),
            (got, w) => panic!("{ctx}: nu_mu = {got:?}, reference {w}"),
        }
        let n_min = ref_num(want, "lemma4_min_n", ctx);
        assert_eq!(st.lemma4_min_n, n_min, "{ctx}: lemma4_min_n");
        assert_eq!(
            st.lemma4_met,
            want["lemma4_met"].as_bool().unwrap(),
            "{ctx}: lemma4_met"
        );
        assert!(
            terms(n_min).lemma4_met && !terms(n_min - 1.0).lemma4_met,
            "{ctx}: threshold"
        );
    }
    assert!(mixing_cases >= 1, "the reference should contain a β-mixing case");
}

#[test]
fn concentrability_series_match_reference() {
    for case in ref_cases("series_cases", 3) {
        let ctx = ref_name(case);
        let c: Vec<f64> = case["c"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let s = ConcentrabilitySeries::from_coefficients(
            c,
            ref_num(case, "tail_c", ctx),
            ref_num(case, "gamma", ctx),
        )
        .unwrap();
        let want = &case["expected"];
        for (name, got) in [("c_prime", s.c_prime), ("c_second", s.c_second)] {
            assert_ref(
                ctx,
                &format!("{name}.value"),
                got.value,
                ref_num(&want[name], "value", ctx),
            );
            assert_ref(
                ctx,
                &format!("{name}.tail_bound"),
                got.tail_bound,
                ref_num(&want[name], "tail_bound", ctx),
            );
        }
    }
}
