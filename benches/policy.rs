//! Throughput of the equivariant policy's forward and forward + backward passes.
//!
//! FLOP counts (a multiply-add counts 2; activations and softmax not counted), with
//! `R = B·m` entity rows, window `W`, `F` features per step, `H` hidden units:
//!
//! * Elman forward: `R · W · 2H(F + H)` + head `R · 2(H + 1)`.
//!   Paper network (B = 50, m = 10, W = 50, F = 3, H = 25): 500 · 50 · 1400 = **35.0 MFLOP**
//!   (+ 26 kFLOP head). Forward + backward counted as 3× forward: **105 MFLOP**.
//! * 100-entity case (B = 256, m = 100, W = 50, F = 3, H = 25): 25 600 · 50 · 1400 =
//!   **1.79 GFLOP** forward, **5.38 GFLOP** forward + backward.
//!
//! * GRU (the paper network with a GRU cell, `policy_{f32,f64}_gru`): forward
//!   `R · W · 6H(F + H)`, 3× the Elman count: **105 MFLOP** for the paper shape (gates and
//!   activations not counted), **315 MFLOP** forward + backward; for the 100-entity case
//!   **5.38 GFLOP** forward, **16.1 GFLOP** forward + backward.
//!
//! `forward` records the states for a backward pass (as training does); `infer` is the same
//! forward pass without recording (evaluation and back-tests; PyTorch's `torch.no_grad()`
//! forward is its counterpart in `benches/compare/policy_torch.py`), same FLOP count.
//!
//! Criterion reports time per batch; throughput is declared in samples (batch rows) per second.
//! GFLOP/s = FLOP count / time.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use pimtl::policy::config::{Cell, EncoderConfig};
use pimtl::policy::{EquivariantPolicy, Input, PolicyConfig, Scalar, Shape, Workspace};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::hint::black_box;

struct Case<T> {
    policy: EquivariantPolicy<T>,
    x: Vec<T>,
    prev: Vec<T>,
    g: Vec<T>,
    shape: Shape,
}

fn case<T: Scalar>(batch: usize, entities: usize, cell: Cell) -> Case<T> {
    let mut config = PolicyConfig::paper_portfolio(3);
    config.encoder = EncoderConfig::Recurrent {
        cell,
        features: 3,
        hidden: 25,
    };
    let policy = EquivariantPolicy::<f64>::new(config, 0)
        .expect("valid config")
        .cast::<T>();
    let shape = Shape::new(batch, entities, 50);
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let x = (0..shape.rows() * 50 * 3)
        .map(|_| T::of(rng.random_range(0.9..1.1)))
        .collect();
    let prev = vec![T::of(1.0 / entities as f64); shape.rows()];
    let g = (0..shape.rows())
        .map(|_| T::of(rng.random_range(-1.0..1.0)))
        .collect();
    Case {
        policy,
        x,
        prev,
        g,
        shape,
    }
}

fn bench_type<T: Scalar>(c: &mut Criterion, type_name: &str) {
    let cases = [
        (50usize, 10usize, "paper_b50_m10", Cell::Elman, ""),
        (256, 100, "b256_m100", Cell::Elman, ""),
        (50, 10, "paper_b50_m10", Cell::Gru, "_gru"),
        (256, 100, "b256_m100", Cell::Gru, "_gru"),
    ];
    for &(batch, entities, label, cell, suffix) in &cases {
        let k = case::<T>(batch, entities, cell);
        let mut group = c.benchmark_group(format!("policy_{type_name}{suffix}"));
        group.throughput(Throughput::Elements(batch as u64));
        if batch * entities > 10_000 {
            group.sample_size(10);
        }
        let mut ws = Workspace::new();
        let input = Input::new(&k.x, Some(&k.prev), k.shape);
        group.bench_function(BenchmarkId::new("forward", label), |b| {
            b.iter(|| {
                let a = k.policy.forward(black_box(&input), &mut ws).expect("valid input");
                black_box(a[0]);
            })
        });
        group.bench_function(BenchmarkId::new("infer", label), |b| {
            b.iter(|| {
                let a = k.policy.infer(black_box(&input), &mut ws).expect("valid input");
                black_box(a[0]);
            })
        });
        let mut grad = vec![T::zero(); k.policy.num_params()];
        group.bench_function(BenchmarkId::new("forward_backward", label), |b| {
            b.iter(|| {
                k.policy.forward(black_box(&input), &mut ws).expect("valid input");
                k.policy
                    .backward(&mut ws, &k.g, &mut grad, false)
                    .expect("valid gradient");
                black_box(grad[0]);
            })
        });
        group.finish();
    }
}

fn benches(c: &mut Criterion) {
    bench_type::<f32>(c, "f32");
    bench_type::<f64>(c, "f64");
}

criterion_group!(policy, benches);
criterion_main!(policy);
