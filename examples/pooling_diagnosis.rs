//! Diagnosis of issue #16: why a pooled (MTL) portfolio policy learns less than single-task
//! policies on exchangeable tasks. Trains one policy by direct policy gradient on a planted
//! market (`pimtl::data::PlantedMarket`), logging what the issue lists as candidates: the
//! allocation's distance from uniform, the score spread, per-layer gradient norms, the scale of
//! inputs and rewards, and the gradient's signal-to-noise ratio across and within tasks.
//!
//! ```text
//! cargo run --release --example pooling_diagnosis -- --mode mtl --steps 9000 --feature-scale 1
//! ```
//!
//! Prints one CSV row per evaluation (stdout) and a summary line (stderr).

use clap::Parser;
use pimtl::baselines::{self, Fee};
use pimtl::envs::portfolio::{run_policy, CostReference, Market, PortfolioConfig, PortfolioTasks};
use pimtl::learn::mtl::UpdateRule;
use pimtl::learn::pg::{DifferentiableTaskEnv, PolicyGradient};
use pimtl::metrics::{gain_over, Metrics};
use pimtl::policy::{Adam, EncoderConfig, EncoderLayout, EquivariantPolicy, Optimizer, PolicyConfig};
use pimtl::replay::StartDistribution;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::sync::Arc;

#[derive(Parser, Debug)]
struct Args {
    /// `stl` (task 0 only) or `mtl` (uniform over the tasks).
    #[arg(long, default_value = "mtl")]
    mode: String,
    /// Gradient steps.
    #[arg(long, default_value_t = 9000)]
    steps: usize,
    /// Training tasks.
    #[arg(long, default_value_t = 30)]
    tasks: usize,
    /// Assets per task.
    #[arg(long, default_value_t = 5)]
    task_size: usize,
    /// Multiplier of the centred window features.
    #[arg(long, default_value_t = 1.0)]
    feature_scale: f64,
    /// Multiplier of the reward (and so of the loss).
    #[arg(long, default_value_t = 1.0)]
    reward_scale: f64,
    /// Adam learning rate.
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    /// Output-weight init scale.
    #[arg(long, default_value_t = 0.1)]
    init: f64,
    /// Minibatch.
    #[arg(long, default_value_t = 50)]
    batch: usize,
    /// Window.
    #[arg(long, default_value_t = 50)]
    window: usize,
    /// Hidden units.
    #[arg(long, default_value_t = 25)]
    hidden: usize,
    /// Commission during training.
    #[arg(long, default_value_t = 0.0025)]
    commission: f64,
    /// Geometric bias of minibatch starts (0: uniform).
    #[arg(long, default_value_t = 5e-4)]
    bias: f64,
    /// Gradient-norm clip (0: none).
    #[arg(long, default_value_t = 10.0)]
    clip: f64,
    /// Charge training costs against the memory's stale weights (the old behaviour).
    #[arg(long)]
    memory_cost: bool,
    /// Drop the previous-allocation input.
    #[arg(long)]
    no_prev: bool,
    /// Planted-market spec.
    #[arg(long, default_value = "planted")]
    data: String,
    /// Evaluations.
    #[arg(long, default_value_t = 6)]
    evals: usize,
    /// Seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

fn norm(v: &[f32]) -> f64 {
    v.iter().map(|&g| f64::from(g) * f64::from(g)).sum::<f64>().sqrt()
}

fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    let data = pimtl::data::load(&a.data, std::path::Path::new("data"))?;
    let market = Arc::new(Market::new(data.num_assets(), data.relatives.clone(), None)?);
    let days = market.days();
    let train_end = a.window + ((days - a.window) as f64 * 0.8).round() as usize;
    let (train, _hold) = pimtl::tasks::split_entities(market.assets(), market.assets() / 4, a.seed)?;
    let tasks: Vec<Vec<usize>> = pimtl::tasks::draw_tasks(train.len(), a.task_size, a.tasks, a.seed + 1)?
        .iter()
        .map(|t| t.entities().iter().map(|&i| train[i]).collect())
        .collect();
    let env_cfg = PortfolioConfig {
        window: a.window,
        commission: a.commission,
        cash: false,
        start: if a.bias > 0.0 {
            StartDistribution::Geometric { bias: a.bias }
        } else {
            StartDistribution::Uniform
        },
        feature_scale: a.feature_scale,
        cost_reference: if a.memory_cost {
            CostReference::Memory
        } else {
            CostReference::Batch
        },
    };
    let eval_cfg = PortfolioConfig {
        commission: 0.0025,
        ..env_cfg.clone()
    };
    let train_tasks = if a.mode == "stl" {
        vec![tasks[0].clone()]
    } else {
        tasks.clone()
    };
    let mut env = PortfolioTasks::new(market.clone(), train_tasks.clone(), env_cfg.clone(), train_end)?;
    let mut pcfg = PolicyConfig::paper_portfolio(1);
    if let EncoderConfig::Recurrent { hidden, .. } = &mut pcfg.encoder {
        *hidden = a.hidden;
    }
    pcfg.previous_allocation = !a.no_prev;
    pcfg.output_init_scale = a.init;
    let mut policy = EquivariantPolicy::<f32>::new(pcfg, a.seed)?;
    let layout = policy.layout().clone();
    let (wx, wh, b) = match layout.encoder {
        EncoderLayout::Elman { wx, wh, b } => (wx, wh, b),
        _ => unreachable!(),
    };
    let groups = [
        ("wx", wx..wh),
        ("wh", wh..b),
        ("b", b..layout.head_v),
        ("v_h", layout.head_v..layout.head_v + a.hidden),
        ("v_prev", layout.head_v + a.hidden..layout.total),
    ];
    let mut rule = PolicyGradient::<f32>::new(a.batch)?;
    let mut opt = Adam::new(a.lr)?;
    let mut rng = ChaCha8Rng::seed_from_u64(a.seed ^ 0xD1A6);
    let mut grad = vec![0f32; layout.total];
    let (test_from, test_to) = (train_end, days);
    let mk: &Market = &market;
    let evaluate = |p: &EquivariantPolicy<f32>, set: &[Vec<usize>]| -> anyhow::Result<(f64, f64, f64)> {
        let (mut g, mut t, mut d) = (0.0, 0.0, 0.0);
        for assets in set {
            let bt = run_policy(
                p,
                &market,
                &eval_cfg,
                assets,
                test_from,
                test_to,
                Fee::Exact(eval_cfg.commission),
            )?;
            let rel: Vec<f64> = (test_from..test_to)
                .flat_map(|n| assets.iter().map(move |&i| mk.relative(n, i)))
                .collect();
            let base = baselines::simulate(&mut baselines::EqualCrp, &rel, assets.len(), Fee::Exact(0.0025))?;
            let m = Metrics::from_backtest(&bt);
            g += gain_over(&m, &Metrics::from_backtest(&base));
            t += m.mean_turnover;
            let u = 1.0 / assets.len() as f64;
            d += bt.weights.iter().map(|w| (w - u).abs()).fold(0.0, f64::max);
        }
        let n = set.len() as f64;
        Ok((g / n, t / n, d / n))
    };
    // Momentum on the same tasks, for scale.
    let mut mom = 0.0;
    for assets in &tasks {
        let rel: Vec<f64> = (test_from..test_to)
            .flat_map(|n| assets.iter().map(move |&i| mk.relative(n, i)))
            .collect();
        let pre: Vec<f64> = (train_end - 20..train_end)
            .flat_map(|n| assets.iter().map(move |&i| mk.relative(n, i)))
            .collect();
        let base = baselines::simulate(&mut baselines::EqualCrp, &rel, assets.len(), Fee::Exact(0.0025))?;
        let mut s = baselines::Momentum::new(20)?.with_prelude(&pre, assets.len())?;
        let bt = baselines::simulate(&mut s, &rel, assets.len(), Fee::Exact(0.0025))?;
        mom += gain_over(&Metrics::from_backtest(&bt), &Metrics::from_backtest(&base));
    }
    mom /= tasks.len() as f64;
    println!("step,gain_train_tasks,turnover,maxdev,score_spread,reward_mean,reward_sd,x_rms,g_wx,g_wh,g_b,g_vh,g_vprev,p_wx,p_vh,p_vprev,snr_across,snr_within");
    let eval_every = (a.steps / a.evals).max(1);
    let mut acc = [0f64; 5];
    let mut racc = (0.0, 0.0, 0usize);
    let mut spread = 0.0;
    let mut xrms = 0.0;
    for it in 0..=a.steps {
        if it % eval_every == 0 || it == a.steps {
            let (g, t, d) = evaluate(&policy, &tasks)?;
            // Gradient SNR at the current θ: ‖mean g‖ / sqrt(mean ‖g − mean‖²) over 64 minibatches,
            // drawn across tasks and within task 0.
            let mut snr = [0.0; 2];
            for (k, across) in [true, false].into_iter().enumerate() {
                let mut probe_env =
                    PortfolioTasks::new(market.clone(), tasks.clone(), env_cfg.clone(), train_end)?;
                let mut probe_rng = ChaCha8Rng::seed_from_u64(99 + it as u64);
                let mut gs: Vec<Vec<f32>> = Vec::new();
                for _ in 0..64 {
                    let task = if across {
                        probe_rng.random_range(0..tasks.len())
                    } else {
                        0
                    };
                    let mut gg = vec![0f32; layout.total];
                    rule.minibatch_gradient(
                        &policy,
                        &mut probe_env,
                        task,
                        a.reward_scale,
                        &mut gg,
                        &mut probe_rng,
                    )?;
                    gs.push(gg);
                }
                let mean: Vec<f64> = (0..layout.total)
                    .map(|j| gs.iter().map(|g| f64::from(g[j])).sum::<f64>() / gs.len() as f64)
                    .collect();
                let var: f64 = gs
                    .iter()
                    .map(|g| {
                        g.iter()
                            .zip(&mean)
                            .map(|(&x, m)| (f64::from(x) - m).powi(2))
                            .sum::<f64>()
                    })
                    .sum::<f64>()
                    / (gs.len() - 1) as f64;
                snr[k] = mean.iter().map(|m| m * m).sum::<f64>().sqrt() / var.sqrt();
            }
            let n = eval_every as f64;
            let p = policy.params();
            println!(
                "{it},{g:.5},{t:.5},{d:.5},{:.3e},{:.3e},{:.3e},{:.3e},{:.3e},{:.3e},{:.3e},{:.3e},{:.3e},{:.3e},{:.3e},{:.3e},{:.4},{:.4}",
                spread / n,
                racc.0 / racc.2.max(1) as f64,
                (racc.1 / racc.2.max(1) as f64 - (racc.0 / racc.2.max(1) as f64).powi(2)).max(0.0).sqrt(),
                xrms / n,
                acc[0] / n,
                acc[1] / n,
                acc[2] / n,
                acc[3] / n,
                acc[4] / n,
                norm(&p[groups[0].1.clone()]),
                norm(&p[groups[3].1.clone()]),
                norm(&p[groups[4].1.clone()]),
                snr[0],
                snr[1]
            );
            acc = [0.0; 5];
            racc = (0.0, 0.0, 0);
            spread = 0.0;
            xrms = 0.0;
            if it == a.steps {
                eprintln!(
                    "mode {} final gain {g:+.4} turnover {t:.4} momentum {mom:+.4}",
                    a.mode
                );
                break;
            }
        }
        let task = if a.mode == "stl" {
            0
        } else {
            rng.random_range(0..train_tasks.len())
        };
        grad.iter_mut().for_each(|g| *g = 0.0);
        let stats = rule.minibatch_gradient(&policy, &mut env, task, a.reward_scale, &mut grad, &mut rng)?;
        for (k, (_, r)) in groups.iter().enumerate() {
            if r.start < r.end {
                acc[k] += norm(&grad[r.clone()]);
            }
        }
        for r in &stats.rewards {
            racc.0 += r;
            racc.1 += r * r;
            racc.2 += 1;
        }
        let m = stats.entities;
        let mut sp = 0.0;
        for row in stats.allocations.chunks(m) {
            let (lo, hi) = row
                .iter()
                .fold((f64::MAX, f64::MIN), |(l, h), &v| (l.min(v.ln()), h.max(v.ln())));
            sp += hi - lo;
        }
        spread += sp / (stats.allocations.len() / m) as f64;
        // Input scale of this minibatch (one draw per step is enough).
        let mut mb = pimtl::learn::pg::Minibatch::default();
        let mut r2 = ChaCha8Rng::seed_from_u64(it as u64);
        env.minibatch(task, 1, &mut r2, &mut mb)?;
        xrms += (mb.x.iter().map(|v| v * v).sum::<f64>() / mb.x.len() as f64).sqrt();
        if a.clip > 0.0 {
            pimtl::policy::optim::clip_grad_norm(&mut grad, a.clip);
        }
        opt.step(policy.params_mut(), &grad)?;
    }
    Ok(())
}
