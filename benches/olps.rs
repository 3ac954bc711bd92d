//! The online-portfolio-selection family (issue #14's speed target): one whole back-test per
//! strategy of [`pimtl::baselines::registry`] with its default parameters, on NYSE(O) (36 assets ×
//! 5651 days) in universal-portfolios' data convention (day 0's relatives replaced by ones), fee
//! 0.25 % in its additive convention: the same work as universal-portfolios' `algo.run(S)` plus
//! the fee recomputation.
//!
//! Bench id `olps/<name>/nyse_o`. Without `data/nyse_o.csv` (run `scripts/fetch-data.sh`) it runs on
//! a generated market of the same shape instead and says so (id `olps/<name>/generated_36x5651`),
//! so `cargo bench` works on a fresh clone. The hindsight strategies are timed with their fit
//! (BCRP's projected Newton over all days), as universal-portfolios' `BCRP.run` does.
//!
//! `scripts/compare.sh` (ONLY=olps) runs these interleaved with universal-portfolios' own runs
//! on one pinned core and prints the ratio per strategy.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use pimtl::baselines::registry::{BuildContext, StrategySpec};
use pimtl::baselines::{backtest, Fee};
use std::hint::black_box;
use std::time::Duration;

/// NYSE(O) as universal-portfolios reads it, or a generated market of its shape.
fn market() -> (Vec<f64>, usize, &'static str) {
    let dir = std::env::var_os("PIMTL_DATA_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data"));
    if let Ok(data) = pimtl::data::prices::load("nyse_o", &dir) {
        let m = data.num_assets();
        let mut y = data.relatives;
        y[..m].fill(1.0);
        return (y, m, "nyse_o");
    }
    eprintln!(
        "olps bench: data/nyse_o.csv not found (scripts/fetch-data.sh); using a generated 36 x 5651 market"
    );
    let (m, days) = (36, 5651);
    let mut z = 0x9E37_79B9_7F4A_7C15u64;
    let y = (0..m * days)
        .map(|_| {
            z = z
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let u = (z >> 11) as f64 / (1u64 << 53) as f64;
            (0.03 * (u - 0.5)).exp()
        })
        .collect();
    (y, m, "generated_36x5651")
}

fn bench(c: &mut Criterion) {
    let (y, m, set) = market();
    let fee = Fee::Additive(0.0025);
    let ctx = BuildContext {
        relatives: &y,
        assets: m,
        fee_rate: fee.rate(),
        seed: 0,
    };
    let only = std::env::var("PIMTL_OLPS_ONLY").ok();
    let mut group = c.benchmark_group("olps");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    for spec in StrategySpec::all() {
        if only
            .as_deref()
            .is_some_and(|o| !o.split(',').any(|n| n == spec.name))
        {
            continue;
        }
        group.bench_function(BenchmarkId::new(spec.name.as_str(), set), |b| {
            b.iter(|| {
                let mut s = spec.build(&ctx).expect("default parameters build");
                black_box(
                    backtest(s.as_mut(), black_box(&y), m, fee)
                        .expect("back-test")
                        .final_wealth(),
                )
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
