//! LSTD-Q and LSPI cost (`theory::lspi`).
//!
//! * `lstd_q/<basis>/<N>`: accumulate `A = Σ φ(φ − γφ')ᵀ`, `b = Σ φ r` over `N` samples for a
//!   fixed policy and solve by LU — one LSPI iteration without the greedy step. Bases: the
//!   50-chain RBF basis (`d = 22`, 10 Gaussians + constant per action), the 50-chain tabular
//!   basis (`d = 100`) and the §6.1 allocation features (`d = 21`, γ = 0, ridge regression).
//!   Accumulation skips zero features, so per sample it costs `nnz(φ)·nnz(φ ∪ φ')` multiply-adds:
//!   121 for the RBF basis, 1–2 for the tabular one, 441 for the allocation features.
//! * `lstd_solve/<d>`: the LU solve alone, `(2/3)d³` FLOP.
//! * `lspi/chain20_poly`: LSPI on L&P's 20-chain (`d = 10`, 5000 samples, until convergence:
//!   5–7 iterations).
//!
//! * `bound/mdp50`: Theorem 1 on a 50-state, 2-action random MDP: the concentrability
//!   coefficients `c(m)` for `m ≤ 50` by the exact dynamic program (O(A·S³) per `m`), the series
//!   `C'`, `C''` with their tail bounds, and the bound's terms.
//!
//! Throughput is declared in samples.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use pimtl::theory::features::{AllocationFeatures, Features, PolynomialBasis, RbfBasis, TabularBasis};
use pimtl::theory::lspi::{chain_walk, lspi, lstd_q, random_walk_samples, LspiConfig, LstdQ, Sample};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::hint::black_box;

fn bench_lstd(c: &mut Criterion) {
    let chain = chain_walk(50, &[10, 41], 0.9, 0.9).expect("valid chain");
    let rbf = RbfBasis::chain(50, 2, 10, 4.0).expect("valid basis");
    let tab = TabularBasis::new(50, 2).expect("valid basis");
    let policy = |s: &usize| usize::from(*s >= 25);
    let mut group = c.benchmark_group("lstd_q");
    group.sample_size(20);
    for n in [2_000usize, 10_000, 20_000] {
        let samples = random_walk_samples(&chain, n / 500, 500, 1).expect("samples");
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(BenchmarkId::new("chain50_rbf_d22", n), |b| {
            b.iter(|| black_box(lstd_q(&rbf, black_box(&samples), policy, 0.9, 1e-6).expect("solve")))
        });
        group.bench_function(BenchmarkId::new("chain50_tabular_d100", n), |b| {
            b.iter(|| black_box(lstd_q(&tab, black_box(&samples), policy, 0.9, 1e-6).expect("solve")))
        });
    }
    // §6.1 features: m = 10, 31 candidates, bandit samples.
    let mut cands = vec![vec![0.1; 10]];
    for i in 0..10 {
        for k in [1.0f64, 2.0, 3.0] {
            let z = k.exp() + 9.0;
            cands.push(
                (0..10)
                    .map(|j| if j == i { k.exp() / z } else { 1.0 / z })
                    .collect(),
            );
        }
    }
    let alloc = AllocationFeatures::new(cands).expect("valid candidates");
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    for n in [2_000usize, 20_000] {
        let samples: Vec<Sample<Vec<f64>>> = (0..n)
            .map(|_| {
                let x: Vec<f64> = (0..10).map(|_| rng.random::<f64>()).collect();
                Sample::terminal(x, rng.random_range(0..31), rng.random::<f64>())
            })
            .collect();
        // `Features<[f64]>` over `Vec<f64>` states via a small adapter.
        struct VecStates<'a>(&'a AllocationFeatures);
        impl Features<Vec<f64>> for VecStates<'_> {
            fn dim(&self) -> usize {
                Features::<[f64]>::dim(self.0)
            }
            fn n_actions(&self) -> usize {
                Features::<[f64]>::n_actions(self.0)
            }
            fn phi(&self, state: &Vec<f64>, action: usize, out: &mut [f64]) {
                self.0.phi(state.as_slice(), action, out)
            }
        }
        let f = VecStates(&alloc);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(BenchmarkId::new("alloc_d21_bandit", n), |b| {
            b.iter(|| black_box(lstd_q(&f, black_box(&samples), |_| 0, 0.0, 1e-2).expect("solve")))
        });
    }
    group.finish();

    let mut group = c.benchmark_group("lstd_solve");
    for (d, label) in [(22usize, "d22"), (100, "d100")] {
        let mut acc = LstdQ::new(d, 0.9).expect("valid");
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let (mut phi, mut next) = (vec![0.0; d], vec![0.0; d]);
        for _ in 0..4 * d {
            phi.iter_mut().for_each(|v| *v = rng.random::<f64>());
            next.iter_mut().for_each(|v| *v = rng.random::<f64>());
            acc.add(&phi, Some(&next), 1.0).expect("shapes");
        }
        group.bench_function(label, |b| b.iter(|| black_box(acc.solve(1e-6).expect("solve"))));
    }
    group.finish();

    let chain20 = chain_walk(20, &[1, 20], 0.9, 0.9).expect("valid chain");
    let poly = PolynomialBasis::new(20, 2, 4).expect("valid basis");
    let samples = random_walk_samples(&chain20, 10, 500, 1).expect("samples");
    let cfg = LspiConfig::new(0.9);
    let mut group = c.benchmark_group("lspi");
    group.throughput(Throughput::Elements(samples.len() as u64));
    group.bench_function("chain20_poly", |b| {
        b.iter(|| black_box(lspi(&poly, black_box(&samples), &cfg).expect("lspi")))
    });
    group.finish();
}

fn bench_bound(c: &mut Criterion) {
    use pimtl::theory::bound::{concentrability, theorem1, BoundInputs};
    use pimtl::theory::mdp::FiniteMdp;
    let mdp = FiniteMdp::random(50, 2, 0.9, 7).expect("valid MDP");
    let uniform = nalgebra::DVector::from_element(50, 1.0 / 50.0);
    let mut group = c.benchmark_group("bound");
    group.sample_size(10);
    group.bench_function("mdp50", |b| {
        b.iter(|| {
            let series = concentrability(&mdp, &uniform, &uniform, 50).expect("finite");
            let inputs = BoundInputs {
                gamma: 0.9,
                r_max: mdp.max_abs_reward(),
                c: 1.0,
                c_prime: series.c_prime.upper(),
                c_second: series.c_second.upper(),
                nu_mu: 0.01,
                l: 1.0,
                d: 100,
                k: 20,
                delta: 0.05,
                n: 1e6,
                lemma4_min_n: 0.0,
                e0: 0.0,
                e1: 0.0,
                e2: 0.0,
                epsilon: 0.1,
            };
            black_box(theorem1(&inputs).expect("valid inputs"))
        })
    });
    group.finish();
}

criterion_group!(lstd, bench_lstd, bench_bound);
criterion_main!(lstd);
