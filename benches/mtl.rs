//! One full iteration of Algorithm 1 with the paper's portfolio-sized network (§A.1): draw a task
//! from the prioritised sampler, build a minibatch of B = 50 consecutive days for m = 10 assets
//! with a 50-day window of 3 features, forward + backward through the tanh RNN (25 units), the
//! log-return reward `ln Σ_i a_i y_i` and its gradient, gradient norm, Adam step, scorer and
//! score update. The environment is synthetic (random price relatives), shaped like the
//! portfolio experiment, so the bench needs no data files.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use pimtl::learn::mtl::{Mode, MtlConfig, TaskEnvironment, Trainer};
use pimtl::learn::pg::{DifferentiableTaskEnv, Minibatch, PolicyGradient};
use pimtl::policy::{EquivariantPolicy, PolicyConfig, Shape};
use pimtl::sampler::{MaxDeviationFromEqual, SamplerConfig};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

const TASKS: usize = 30;
const ASSETS: usize = 10;
const WINDOW: usize = 50;
const FEATURES: usize = 3;
const DAYS: usize = 400;
const BATCH: usize = 50;

/// Per task: features `[day][asset][window][features]` and price relatives `[day][asset]`.
struct PaperShaped {
    features: Vec<Vec<f64>>,
    relatives: Vec<Vec<f64>>,
}

impl PaperShaped {
    fn new() -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let per_day = ASSETS * WINDOW * FEATURES;
        let features = (0..TASKS)
            .map(|_| (0..DAYS * per_day).map(|_| rng.random_range(0.9..1.1)).collect())
            .collect();
        let relatives = (0..TASKS)
            .map(|_| (0..DAYS * ASSETS).map(|_| rng.random_range(0.97..1.03)).collect())
            .collect();
        PaperShaped { features, relatives }
    }
}

impl TaskEnvironment for PaperShaped {
    fn num_tasks(&self) -> usize {
        TASKS
    }
    fn collect(&mut self, _: usize, _: usize, _: &mut ChaCha8Rng) -> pimtl::Result<usize> {
        Ok(0)
    }
}

impl DifferentiableTaskEnv for PaperShaped {
    fn uses_previous_allocation(&self) -> bool {
        true
    }
    fn samples(&self, _: usize) -> usize {
        DAYS
    }
    fn minibatch(
        &mut self,
        task: usize,
        batch: usize,
        rng: &mut ChaCha8Rng,
        mb: &mut Minibatch,
    ) -> pimtl::Result<()> {
        let start = rng.random_range(0..DAYS - batch);
        let per_day = ASSETS * WINDOW * FEATURES;
        mb.x.clear();
        mb.x.extend_from_slice(&self.features[task][start * per_day..(start + batch) * per_day]);
        mb.prev.clear();
        mb.prev.resize(batch * ASSETS, 1.0 / ASSETS as f64);
        mb.shape = Shape::new(batch, ASSETS, WINDOW);
        mb.handle = start;
        Ok(())
    }
    fn rewards(
        &self,
        task: usize,
        mb: &Minibatch,
        a: &[f64],
        rewards: &mut [f64],
        dr_da: &mut [f64],
    ) -> pimtl::Result<()> {
        let y = &self.relatives[task][mb.handle * ASSETS..];
        for b in 0..mb.shape.batch {
            let (yr, ar) = (&y[b * ASSETS..(b + 1) * ASSETS], &a[b * ASSETS..(b + 1) * ASSETS]);
            let growth: f64 = yr.iter().zip(ar).map(|(y, a)| y * a).sum();
            rewards[b] = growth.ln();
            for (d, y) in dr_da[b * ASSETS..(b + 1) * ASSETS].iter_mut().zip(yr) {
                *d = y / growth;
            }
        }
        Ok(())
    }
}

fn bench(c: &mut Criterion) {
    let policy =
        EquivariantPolicy::<f32>::new(PolicyConfig::paper_portfolio(FEATURES), 0).expect("valid config");
    let config = MtlConfig {
        mode: Mode::PMtl,
        iterations: usize::MAX,
        sampler: SamplerConfig::default(),
        lr: 1e-3,
        ..MtlConfig::default()
    };
    let rule = PolicyGradient::<f32>::new(BATCH).expect("batch > 0");
    let mut trainer =
        Trainer::new(policy, PaperShaped::new(), rule, MaxDeviationFromEqual, config).expect("valid");
    let mut group = c.benchmark_group("algorithm1");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("iteration_paper_network_f32", |b| {
        b.iter(|| trainer.step().expect("finite"));
    });
    group.finish();
}

criterion_group!(mtl, bench);
criterion_main!(mtl);
