//! Properties of `pimtl::theory::bound`: the concentrability dynamic program against brute
//! force, the truncated series and their tail bounds, and the structure of Theorem 1 and its
//! corollaries (monotone in N, 1/√N scaling, linear in ε, T tasks × N ≡ one task × NT).

use nalgebra::{DMatrix, DVector};
use pimtl::theory::bound::{
    approximation_error, assumption1_c, concentrability, concentrability_brute_force,
    concentrability_coefficients, corollary1, corollary2, feature_bound, finite_family_inputs,
    gram_min_eigenvalue, lazaric_sample_terms, lazaric_theorem8, theorem1, Bound, BoundInputs, LearnerInputs,
    Mixing,
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

    #[test]
    fn t_tasks_of_n_equal_one_task_of_nt(inp in inputs_strategy(), t in 1u32..1000) {
        let cor = corollary1(&inp, f64::from(t)).unwrap();
        let mut pooled = inp;
        pooled.n = inp.n * f64::from(t);
        let one = theorem1(&pooled).unwrap();
        prop_assert_eq!(cor.terms(), one.terms());
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
fn lazaric_form_differs_by_the_documented_constants() {
    // With E_1 = 0 and ε = 0 the two forms differ only by the prefactor: 4γ vs 2.
    let inp = BoundInputs {
        e1: 0.0,
        epsilon: 0.0,
        ..base_inputs()
    };
    let cai = theorem1(&inp).unwrap();
    let lgm = lazaric_theorem8(&inp).unwrap();
    let ratio = lgm.terms().total / cai.terms().total;
    assert!((ratio - 2.0 * inp.gamma).abs() < 1e-12, "ratio {ratio}");
    // E_1 placement: the appendix multiplies E_1 by 2/(1−γ), Lazaric et al. do not.
    let with_e1 = BoundInputs { e1: 1.0, ..inp };
    let e1_cai = theorem1(&with_e1).unwrap().terms().estimation_e1;
    let e1_lgm = lazaric_theorem8(&with_e1).unwrap().terms().estimation_e1;
    let expected = (4.0 * inp.gamma) / (2.0 * 2.0 / (1.0 - inp.gamma));
    assert!((e1_lgm / e1_cai - expected).abs() < 1e-12);
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
