//! Portfolio environment costs (§6.2):
//!
//! * `env_step/30x10_linear` and `30x10_exact`: one trading day for 30 tasks × 10 assets — the
//!   transaction remainder `μ` (linear, or Jiang et al.'s fixed point), the growth `a·y`
//!   ([`pimtl::portfolio::cost::period_return`]) and the drift `a ⊙ y / (a·y)`. Throughput in
//!   asset-steps (300 per iteration).
//! * `mu_fixed_point/10`: the exact `μ` alone for 10 assets.
//! * `training_iteration/paper`: one Algorithm-1 iteration on `PortfolioTasks` (30 tasks of 10
//!   assets, window 50, B = 50, the paper's RNN in f32): geometric minibatch start, window features,
//!   PVM, forward + backward, reward and its gradient, Adam, task-score update.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use pimtl::envs::portfolio::{Market, PortfolioConfig, PortfolioTasks};
use pimtl::learn::mtl::{Mode, MtlConfig, Trainer};
use pimtl::learn::pg::PolicyGradient;
use pimtl::policy::{EquivariantPolicy, PolicyConfig};
use pimtl::portfolio::cost::{drift, period_return, transaction_remainder};
use pimtl::portfolio::Fee;
use pimtl::sampler::{MaxDeviationFromEqual, SamplerConfig};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::hint::black_box;
use std::sync::Arc;

fn simplex_points(rng: &mut ChaCha8Rng, n: usize, m: usize) -> Vec<f64> {
    let mut v: Vec<f64> = (0..n * m).map(|_| rng.random_range(0.01..1.0)).collect();
    for row in v.chunks_mut(m) {
        let s: f64 = row.iter().sum();
        row.iter_mut().for_each(|x| *x /= s);
    }
    v
}

fn bench(c: &mut Criterion) {
    let (tasks, m) = (30, 10);
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let a = simplex_points(&mut rng, tasks, m);
    let w0 = simplex_points(&mut rng, tasks, m);
    let y: Vec<f64> = (0..tasks * m).map(|_| rng.random_range(0.97..1.03)).collect();
    let mut group = c.benchmark_group("env_step");
    group.throughput(Throughput::Elements((tasks * m) as u64));
    for (name, fee) in [
        ("30x10_linear", Fee::Linear(0.0025)),
        ("30x10_exact", Fee::Exact(0.0025)),
    ] {
        let mut w = w0.clone();
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut total = 0.0;
                for t in 0..tasks {
                    let r = t * m..(t + 1) * m;
                    w[r.clone()].copy_from_slice(&w0[r.clone()]);
                    let o = period_return(fee, &w[r.clone()], &a[r.clone()], &y[r.clone()], false)
                        .expect("finite");
                    drift(&a[r.clone()], &y[r.clone()], &mut w[r]);
                    total += o.period_return.ln();
                }
                black_box(total)
            })
        });
    }
    group.finish();

    c.bench_function("mu_fixed_point/10", |b| {
        b.iter(|| {
            black_box(transaction_remainder(black_box(&w0[..m]), &a[..m], 0.0025, false).expect("finite"))
        })
    });

    let days = 800;
    let market = Arc::new(
        Market::new(
            40,
            (0..40 * days).map(|_| rng.random_range(0.97..1.03)).collect(),
            None,
        )
        .expect("valid market"),
    );
    let task_list: Vec<Vec<usize>> = (0..tasks)
        .map(|t| (0..m).map(|i| (t + 3 * i) % 40).collect())
        .collect();
    let env = PortfolioTasks::new(market, task_list, PortfolioConfig::default(), days).expect("valid env");
    let policy = EquivariantPolicy::<f32>::new(PolicyConfig::paper_portfolio(1), 0).expect("valid policy");
    let cfg = MtlConfig {
        mode: Mode::PMtl,
        iterations: usize::MAX,
        sampler: SamplerConfig::default(),
        ..MtlConfig::default()
    };
    let mut trainer = Trainer::new(
        policy,
        env,
        PolicyGradient::<f32>::new(50).expect("batch"),
        MaxDeviationFromEqual,
        cfg,
    )
    .expect("valid trainer");
    let mut group = c.benchmark_group("training_iteration");
    group.throughput(Throughput::Elements(50));
    group.bench_function("paper", |b| b.iter(|| trainer.step().expect("finite")));
    group.finish();
}

criterion_group!(portfolio, bench);
criterion_main!(portfolio);
