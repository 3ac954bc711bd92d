//! Throughput of the prioritised task sampler (paper §5, Algorithm 1) and of the replay pieces.
//!
//! * `task_sampler/draw_update/T`: one Algorithm 1 iteration's sampler work — draw a task
//!   (`t ~ p`, O(log T)) and smooth a new score into it (O(log T), both trees) — with the
//!   paper's defaults (α = 0.5, β = 1, γ = 0.2, periodic rebuild every 2^20 updates included,
//!   amortised). Throughput: pairs per second (`Elements(1)` per pair).
//! * `task_sampler/draw_weight/T`: draw plus IS weight, no update.
//! * `task_sampler_batch256/draw_update/T`: 256 draws at once (`sample_many`, the same tasks as
//!   256 `sample` calls) and then their 256 updates one by one (throughput: pairs);
//!   `task_sampler_batch256/draw_weight_update_many/T`: cpprb's workload exactly — 256 draws with
//!   their IS weights (`sample_many_with_weights`), then one batched update (`update_many`, the
//!   same bits as 256 `update` calls); `task_sampler_batch256/draw/T`: the batched draws alone.
//!   The draws run on the process's kernel path (`PIMTL_ISA=portable|avx2|avx512` forces one).
//! * `replay/geometric_start`: one minibatch start `n_b` (truncated geometric, PGPortfolio's
//!   bias 5e-5, B = 50 over 5 000 indices).
//! * `replay/pvm_set_batch`: writing a B = 50, m = 10 block into the portfolio-vector memory.
//!
//! Reference (DESIGN.md): cpprb's sum tree at capacity 10^5 does ≈ 0.86 M draw+update pairs/s
//! batched and ≈ 36 k/s one at a time.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use pimtl::replay::{IndexReplay, PortfolioVectorMemory, StartDistribution};
use pimtl::sampler::{SamplerConfig, TaskSampler};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::hint::black_box;

fn sampler_with_random_scores(tasks: usize, seed: u64) -> TaskSampler {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let scores: Vec<f64> = (0..tasks).map(|_| 0.01 + 10.0 * rng.random::<f64>()).collect();
    TaskSampler::from_scores(&scores, SamplerConfig::default()).expect("valid scores")
}

fn bench_task_sampler(c: &mut Criterion) {
    let mut group = c.benchmark_group("task_sampler");
    group.throughput(Throughput::Elements(1));
    for &tasks in &[1_000usize, 100_000, 10_000_000] {
        let mut sampler = sampler_with_random_scores(tasks, 1);
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        group.bench_with_input(BenchmarkId::new("draw_update", tasks), &tasks, |b, _| {
            b.iter(|| {
                let t = sampler.sample(&mut rng);
                let score = rng.random::<f64>() * 10.0;
                black_box(sampler.update(t, score).expect("finite score"))
            })
        });
        group.bench_with_input(BenchmarkId::new("draw_weight", tasks), &tasks, |b, _| {
            b.iter(|| black_box(sampler.sample_with_weight(&mut rng)))
        });
    }
    group.finish();
    // Batches of 256, as cpprb's prioritised buffer is measured: 256 draws at once
    // (`sample_many`), then the 256 updates one after the other.
    let mut group = c.benchmark_group("task_sampler_batch256");
    group.throughput(Throughput::Elements(256));
    for &tasks in &[1_000usize, 100_000, 10_000_000] {
        let mut sampler = sampler_with_random_scores(tasks, 1);
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let mut drawn = vec![0usize; 256];
        group.bench_with_input(BenchmarkId::new("draw_update", tasks), &tasks, |b, _| {
            b.iter(|| {
                sampler.sample_many(&mut rng, &mut drawn);
                for &t in &drawn {
                    let score = rng.random::<f64>() * 10.0;
                    black_box(sampler.update(t, score).expect("finite score"));
                }
            })
        });
        // cpprb's exact workload: a batch with its IS weights, then one batched priority update.
        let mut weights = vec![0.0f64; 256];
        let mut scores = vec![0.0f64; 256];
        let mut smoothed = vec![0.0f64; 256];
        group.bench_with_input(
            BenchmarkId::new("draw_weight_update_many", tasks),
            &tasks,
            |b, _| {
                b.iter(|| {
                    sampler.sample_many_with_weights(&mut rng, &mut drawn, &mut weights);
                    for s in scores.iter_mut() {
                        *s = rng.random::<f64>() * 10.0;
                    }
                    sampler
                        .update_many(&drawn, &scores, &mut smoothed)
                        .expect("finite scores");
                    black_box((&weights, &smoothed));
                })
            },
        );
        group.bench_with_input(BenchmarkId::new("draw", tasks), &tasks, |b, _| {
            b.iter(|| {
                sampler.sample_many(&mut rng, &mut drawn);
                black_box(&drawn);
            })
        });
    }
    group.finish();
}

fn bench_replay(c: &mut Criterion) {
    let mut group = c.benchmark_group("replay");
    let mut rng = ChaCha8Rng::seed_from_u64(3);

    group.throughput(Throughput::Elements(1));
    let replay = IndexReplay::new(0, 5_000, StartDistribution::default()).expect("valid range");
    group.bench_function("geometric_start", |b| {
        b.iter(|| black_box(replay.sample_start(&mut rng, black_box(50)).expect("B <= len")))
    });

    let (batch, m) = (50usize, 10usize);
    let mut pvm = PortfolioVectorMemory::new(5_000, m).expect("valid size");
    let block: Vec<f64> = (0..batch * m).map(|i| (i % m + 1) as f64 / 55.0).collect();
    group.throughput(Throughput::Elements(batch as u64));
    group.bench_function("pvm_set_batch_b50_m10", |b| {
        b.iter(|| {
            let n_b = replay.sample_start(&mut rng, batch).expect("B <= len");
            pvm.set_batch(n_b, black_box(&block)).expect("in range");
        })
    });
    group.finish();
}

criterion_group!(benches, bench_task_sampler, bench_replay);
criterion_main!(benches);
