//! The `pimtl` command line: parses arguments and calls the experiment drivers in
//! `pimtl::experiments`. Errors are printed as one line on stderr with a non-zero exit code.

use clap::{Parser, Subcommand};
use pimtl::experiments::{bound, demo, federated, fig1, portfolio};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "pimtl",
    version,
    about = "Permutation-invariant multi-task RL for resource allocation (arXiv 2102.09361)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Options every experiment takes.
#[derive(clap::Args, Clone)]
struct Common {
    /// Seed of everything.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// A small preset for a first look.
    #[arg(long)]
    quick: bool,
    /// Output folder [default: results/<experiment>-<UTC timestamp>].
    #[arg(long)]
    out: Option<PathBuf>,
}

impl Common {
    fn out_dir(&self, name: &str) -> PathBuf {
        self.out
            .clone()
            .unwrap_or_else(|| PathBuf::from(format!("results/{name}-{}", pimtl::io::utc_timestamp())))
    }
}

#[derive(Subcommand)]
enum Command {
    /// Train the equivariant policy on a toy allocation problem with a known optimum
    /// (R = Σ x_i a_i + β H(a), optimum softmax(x/β)) and print its progress.
    Demo {
        /// Entities per task during training.
        #[arg(long, default_value_t = 10)]
        entities: usize,
        /// Entities of the transfer task (never trained on).
        #[arg(long, default_value_t = 25)]
        transfer_entities: usize,
        /// Entropy weight β.
        #[arg(long, default_value_t = 0.1, allow_negative_numbers = true)]
        beta: f64,
        /// Batch size.
        #[arg(long, default_value_t = 64)]
        batch: usize,
        /// Gradient steps [default: 3000, 600 with --quick].
        #[arg(long)]
        steps: Option<usize>,
        /// Adam learning rate.
        #[arg(long, default_value_t = 0.01, allow_negative_numbers = true)]
        lr: f64,
        /// Hidden units of the per-entity MLP.
        #[arg(long, default_value_t = 16)]
        hidden: usize,
        #[command(flatten)]
        common: Common,
    },
    /// The synthetic experiment of §6.1 (Fig. 1): LSPI on N real samples against 20 real samples
    /// augmented by permutations, for ε = 0 … 0.8.
    Synthetic {
        /// Repetitions per point [default: 50, 10 with --quick].
        #[arg(long)]
        seeds: Option<usize>,
        /// Reward noise σ.
        #[arg(long, allow_negative_numbers = true)]
        noise: Option<f64>,
        #[command(flatten)]
        common: Common,
    },
    /// Theorem 1's terms for a family of finite MDPs (random, or from a JSON file) with the
    /// measured suboptimality of LSPI beside them.
    Bound {
        /// A JSON file with the family: {"gamma": g, "tasks": [{"states", "actions", "rewards",
        /// "transitions"}, …]}.
        #[arg(long)]
        mdp: Option<PathBuf>,
        /// Samples per task N (repeat for several) [default: the preset's].
        #[arg(long = "samples")]
        samples: Vec<usize>,
        #[command(flatten)]
        common: Common,
    },
    /// Portfolio optimisation (§6.2, Figs. 3–5): STL vs MTL vs P-MTL against classic baselines.
    Portfolio {
        /// A known data set (nyse_o, nyse_n, tse, djia, …; see `pimtl data`), a CSV of close
        /// prices with a date column (optional <asset>_high/<asset>_low columns), a directory
        /// with close.csv (and high.csv, low.csv), an undated CSV price path (OLPS format), or a
        /// generated exchangeable market `planted[:assets=20,days=3000,drift=0.0025,noise=0.01,regime=40,seed=0]`.
        #[arg(long, default_value = "nyse_o")]
        data: String,
        /// Folder of the known data sets.
        #[arg(long, default_value = "data")]
        data_dir: PathBuf,
        /// Experiments (instrument draws) [default: 10, 2 with --quick].
        #[arg(long)]
        experiments: Option<usize>,
        /// Training budget per task in epochs over the training days [default: 10, 2 with --quick].
        #[arg(long, allow_negative_numbers = true)]
        epochs: Option<f64>,
        /// Gradient steps per task, overriding --epochs.
        #[arg(long)]
        steps_per_task: Option<usize>,
        /// Fraction of the pre-test days, at their end, used for validation (early stopping and
        /// the learning-rate choice; 0: none, keep the last policy) [default: 0.15].
        #[arg(long, allow_negative_numbers = true)]
        validation_fraction: Option<f64>,
        /// Validation evaluations without improvement before a run stops (0: never)
        /// [default: 4, 0 with --quick].
        #[arg(long)]
        patience: Option<usize>,
        /// Validation evaluations per training run [default: 10, 4 with --quick].
        #[arg(long)]
        evaluations: Option<usize>,
        /// Distinct held-out test tasks per experiment; refused when the held-out instruments
        /// give fewer [default: 10].
        #[arg(long)]
        holdout_tasks: Option<usize>,
        /// Window of past days per state [default: 50, 20 with --quick].
        #[arg(long)]
        window: Option<usize>,
        /// Numbers of training tasks to compare (repeat) [default: 5 and 30].
        #[arg(long = "tasks")]
        tasks: Vec<usize>,
        /// Instruments per task [default: min(10, held-out, training/2)].
        #[arg(long)]
        task_size: Option<usize>,
        /// Held-out instruments [default: round(M·18/68)].
        #[arg(long)]
        holdout: Option<usize>,
        /// Commission rate c.
        #[arg(long, default_value_t = 0.0025, allow_negative_numbers = true)]
        commission: f64,
        /// Fraction of days for training.
        #[arg(long, default_value_t = 0.8, allow_negative_numbers = true)]
        train_fraction: f64,
        /// P-MTL prioritisation exponent α.
        #[arg(long, default_value_t = 0.5, allow_negative_numbers = true)]
        alpha: f64,
        /// Importance-sampling exponent β.
        #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
        beta: f64,
        /// Score smoothing γ.
        #[arg(long, default_value_t = 0.2, allow_negative_numbers = true)]
        smoothing: f64,
        /// Adam learning rates to choose from on the validation range (repeat)
        /// [default: 1e-4, 3e-4 and 1e-3; 3e-4 with --quick].
        #[arg(long = "lr", allow_negative_numbers = true)]
        lr: Vec<f64>,
        /// Add a cash asset.
        #[arg(long)]
        cash: bool,
        /// Previous weights the training cost is charged against: `batch` (the policy's own
        /// previous action in the minibatch) or `memory` (the stale portfolio-vector memory; the
        /// behaviour before issue #16's fix, for the ablation)
        #[arg(long, default_value = "batch", value_parser = ["batch", "memory"])]
        cost_reference: String,
        /// Multiplier of the centred window features fed to the encoder
        #[arg(long, default_value_t = 1.0)]
        feature_scale: f64,
        /// Threads for independent training runs (0: all cores). Results do not depend on it.
        #[arg(long, default_value_t = 0)]
        threads: usize,
        #[command(flatten)]
        common: Common,
    },
    /// Meta federated learning (§A.2, Fig. 6): aggregation policies learned by PPO (STL vs MTL)
    /// against FedAvg, on label-skewed clients of an MNIST-format image set.
    Federated {
        /// Directory with train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte
        /// and t10k-labels-idx1-ubyte (each optionally .gz), e.g. MNIST proper.
        #[arg(long, default_value = pimtl::data::idx::FASHION_MNIST_DIR)]
        data: PathBuf,
        /// Client model: cnn (the paper's) or softmax [default: cnn, softmax with --quick].
        #[arg(long, value_parser = ["cnn", "softmax"])]
        client: Option<String>,
        /// Federated rounds per episode [default: 50, 20 with --quick].
        #[arg(long)]
        rounds: Option<usize>,
        /// Local accuracies per client state H.
        #[arg(long, default_value_t = 3)]
        history: usize,
        /// Hidden units of the policy's RNN.
        #[arg(long, default_value_t = 10)]
        hidden: usize,
        /// The paper's plain state (each client's recent accuracies only), without the deviation
        /// of each accuracy from the task's mean.
        #[arg(long)]
        plain_state: bool,
        /// Clients of the training universe.
        #[arg(long, default_value_t = 50)]
        train_clients: usize,
        /// Held-out clients for the test tasks.
        #[arg(long, default_value_t = 20)]
        test_clients: usize,
        /// Clients per task.
        #[arg(long, default_value_t = 10)]
        clients_per_task: usize,
        /// Rare-label (6–9) clients per task.
        #[arg(long, default_value_t = 2)]
        skewed: usize,
        /// Training images per client.
        #[arg(long, default_value_t = 600)]
        samples: usize,
        /// Use a Dirichlet(ALPHA) label partition instead of the paper's skew.
        #[arg(long, value_name = "ALPHA", allow_negative_numbers = true)]
        dirichlet: Option<f64>,
        /// MTL training tasks.
        #[arg(long, default_value_t = 32)]
        train_tasks: usize,
        /// Test tasks of held-out clients [default: 2].
        #[arg(long)]
        test_tasks: Option<usize>,
        /// Evaluation-set size (images of the test split) for states and rewards.
        #[arg(long, default_value_t = 1000)]
        eval_samples: usize,
        /// PPO iterations of each learner [default: 8, 40 with --quick].
        #[arg(long)]
        updates: Option<usize>,
        /// Episodes per PPO iteration [default: 2, 1 with --quick].
        #[arg(long)]
        episodes: Option<usize>,
        /// PPO Adam learning rate.
        #[arg(long, default_value_t = 0.03, allow_negative_numbers = true)]
        lr: f64,
        /// PPO discount γ.
        #[arg(long, default_value_t = 0.5, allow_negative_numbers = true)]
        gamma: f64,
        /// Dirichlet concentration κ of the exploration policy.
        #[arg(long, default_value_t = 20.0, allow_negative_numbers = true)]
        concentration: f64,
        /// Task prioritisation α (0: MTL with uniform tasks; > 0: P-MTL).
        #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
        alpha: f64,
        /// Local SGD learning rate of the clients.
        #[arg(long, default_value_t = 0.05, allow_negative_numbers = true)]
        local_lr: f32,
        /// Threads for local training (0: all cores). Results do not depend on it.
        #[arg(long, default_value_t = 0)]
        threads: usize,
        #[command(flatten)]
        common: Common,
    },
    /// List the known data sets with their instruments, days and date range.
    Data {
        /// Folder of the known data sets.
        #[arg(long, default_value = "data")]
        data_dir: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Demo {
            entities,
            transfer_entities,
            beta,
            batch,
            steps,
            lr,
            hidden,
            common,
        } => run_demo(
            entities,
            transfer_entities,
            beta,
            batch,
            steps,
            lr,
            hidden,
            &common,
        ),
        Command::Synthetic { seeds, noise, common } => {
            let mut cfg = if common.quick {
                fig1::Fig1Config::quick()
            } else {
                fig1::Fig1Config::full()
            };
            cfg.seed = common.seed;
            if let Some(s) = seeds {
                cfg.seeds = s;
            }
            if let Some(n) = noise {
                cfg.noise_std = n;
            }
            cfg.validate()?;
            let out = common.out_dir("synthetic");
            let res = fig1::run(&cfg, |line| eprintln!("{line}"))?;
            pimtl::io::create_out_dir(&out)?;
            fig1::write_results(&res, &out)?;
            println!("wrote {}", out.display());
            Ok(())
        }
        Command::Bound { mdp, samples, common } => {
            let mut cfg = if common.quick {
                bound::BoundConfig::quick()
            } else {
                bound::BoundConfig::default()
            };
            cfg.seed = common.seed;
            cfg.mdp_file = mdp;
            if !samples.is_empty() {
                cfg.samples_per_task = samples;
            }
            cfg.validate()?;
            let out = common.out_dir("bound");
            let res = bound::run(&cfg, |line| eprintln!("{line}"))?;
            println!("{}", bound::print_table(&res));
            bound::write_results(&res, &out)?;
            println!("wrote {}", out.display());
            Ok(())
        }
        cmd @ Command::Federated { .. } => run_federated(cmd),
        Command::Portfolio {
            data,
            data_dir,
            experiments,
            epochs,
            steps_per_task,
            validation_fraction,
            patience,
            evaluations,
            holdout_tasks,
            window,
            tasks,
            task_size,
            holdout,
            commission,
            train_fraction,
            alpha,
            beta,
            smoothing,
            lr,
            cash,
            cost_reference,
            feature_scale,
            threads,
            common,
        } => {
            let mut cfg = if common.quick {
                portfolio::PortfolioExperimentConfig::quick(&data)
            } else {
                portfolio::PortfolioExperimentConfig::full(&data)
            };
            cfg.data_dir = data_dir;
            cfg.seed = common.seed;
            if let Some(v) = experiments {
                cfg.experiments = v;
            }
            cfg.steps_per_task = steps_per_task;
            if let Some(v) = epochs {
                cfg.epochs = v;
            }
            if let Some(v) = validation_fraction {
                cfg.validation_fraction = v;
            }
            if let Some(v) = patience {
                cfg.patience = v;
            }
            if let Some(v) = evaluations {
                cfg.evaluations = v;
            }
            if let Some(v) = holdout_tasks {
                cfg.holdout_tasks = v;
            }
            if let Some(v) = window {
                cfg.window = v;
            }
            if !tasks.is_empty() {
                cfg.task_counts = tasks;
            }
            cfg.task_size = task_size;
            cfg.holdout = holdout;
            cfg.commission = commission;
            cfg.train_fraction = train_fraction;
            cfg.alpha = alpha;
            cfg.beta = beta;
            cfg.smoothing = smoothing;
            if !lr.is_empty() {
                cfg.learning_rates = lr;
            }
            cfg.cash = cash;
            cfg.cost_reference = if cost_reference == "memory" {
                pimtl::envs::portfolio::CostReference::Memory
            } else {
                pimtl::envs::portfolio::CostReference::Batch
            };
            cfg.feature_scale = feature_scale;
            cfg.validate()?;
            let out = common.out_dir("portfolio");
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build()?;
            let res = pool.install(|| {
                portfolio::run(&cfg, |line| eprintln!("{line}"), |plan| {
                    eprintln!(
                        "portfolio: {} instruments, {} held out ({} distinct held-out tasks possible), tasks of {}, \
                         training days {}..{}, validation days {}..{}, test days {}..{}, {} feature(s) per day, \
                         {} steps per task ({:.1} steps per epoch)",
                        plan.instruments,
                        plan.holdout,
                        plan.holdout_task_space,
                        plan.task_size,
                        plan.train_days.0,
                        plan.train_days.1,
                        plan.validation_days.0,
                        plan.validation_days.1,
                        plan.test_days.0,
                        plan.test_days.1,
                        plan.features,
                        plan.steps_per_task,
                        plan.steps_per_epoch
                    )
                })
            })?;
            portfolio::write_results(&res, &out)?;
            println!("{}", portfolio::summary_table(&res));
            println!("finished in {:.1} s; wrote {}", res.seconds, out.display());
            Ok(())
        }
        Command::Data { data_dir } => {
            let sets = pimtl::data::prices::list_known(&data_dir)?;
            if sets.is_empty() {
                println!(
                    "no data sets in {} (run scripts/fetch-data.sh)",
                    data_dir.display()
                );
            }
            println!(
                "{:<10} {:>7} {:>7}  {:<25} {:<9} title",
                "name", "assets", "days", "dates", "high/low"
            );
            for s in sets {
                let dates = match (&s.first_date, &s.last_date) {
                    (Some(a), Some(b)) => format!("{a} .. {b}"),
                    _ => "-".to_string(),
                };
                println!(
                    "{:<10} {:>7} {:>7}  {:<25} {:<9} {}",
                    s.name,
                    s.assets,
                    s.days,
                    dates,
                    if s.high_low { "yes" } else { "no" },
                    s.title.as_deref().unwrap_or("")
                );
            }
            Ok(())
        }
    }
}

fn run_federated(cmd: Command) -> anyhow::Result<()> {
    let Command::Federated {
        data,
        client,
        rounds,
        history,
        hidden,
        plain_state,
        train_clients,
        test_clients,
        clients_per_task,
        skewed,
        samples,
        dirichlet,
        train_tasks,
        test_tasks,
        eval_samples,
        updates,
        episodes,
        lr,
        gamma,
        concentration,
        alpha,
        local_lr,
        threads,
        common,
    } = cmd
    else {
        unreachable!("run_federated is only called with Command::Federated");
    };
    let mut cfg = if common.quick {
        federated::FederatedExperimentConfig::quick(&data)
    } else {
        federated::FederatedExperimentConfig::full(&data)
    };
    cfg.seed = common.seed;
    if let Some(c) = client {
        cfg.client = if c == "cnn" {
            federated::ClientKind::Cnn
        } else {
            federated::ClientKind::Softmax
        };
    }
    if let Some(v) = rounds {
        cfg.rounds = v;
    }
    cfg.history = history;
    cfg.hidden = hidden;
    cfg.plain_state = plain_state;
    cfg.train_clients = train_clients;
    cfg.test_clients = test_clients;
    cfg.clients_per_task = clients_per_task;
    cfg.skewed = skewed;
    cfg.samples = samples;
    cfg.dirichlet_alpha = dirichlet;
    cfg.train_tasks = train_tasks;
    if let Some(v) = test_tasks {
        cfg.test_tasks = v;
    }
    cfg.eval_samples = eval_samples;
    if let Some(v) = updates {
        cfg.updates = v;
    }
    if let Some(v) = episodes {
        cfg.episodes = v;
    }
    cfg.lr = lr;
    cfg.gamma = gamma;
    cfg.concentration = concentration;
    cfg.alpha = alpha;
    cfg.local_lr = local_lr;
    cfg.validate()?;
    let out = common.out_dir("federated");
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build()?;
    let res = pool.install(|| federated::run(&cfg, |line| eprintln!("{line}")))?;
    federated::write_results(&res, &out)?;
    println!("{}", federated::summary_table(&res));
    println!("finished in {:.1} s; wrote {}", res.seconds, out.display());
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn run_demo(
    entities: usize,
    transfer_entities: usize,
    beta: f64,
    batch: usize,
    steps: Option<usize>,
    lr: f64,
    hidden: usize,
    common: &Common,
) -> anyhow::Result<()> {
    let defaults = demo::DemoConfig::default();
    let steps = steps.unwrap_or(if common.quick { 600 } else { defaults.steps });
    let cfg = demo::DemoConfig {
        entities,
        transfer_entities,
        beta,
        batch,
        steps,
        lr,
        hidden,
        eval_every: (steps / 12).max(1),
        seed: common.seed,
        ..defaults
    };
    cfg.validate()?;
    let out = common.out_dir("demo");
    println!(
        "demo: m = {entities} entities, β = {beta}, batch {batch}, {steps} steps, seed {}; transfer to m = {transfer_entities}",
        common.seed
    );
    println!(
        "{:>6} {:>12} {:>12} {:>12} {:>10} {:>15}",
        "step", "R(policy)", "R(optimum)", "R(equal)", "regret", "transfer regret"
    );
    let (policy, evals) = demo::run(&cfg, |e| {
        println!(
            "{:>6} {:>12.5} {:>12.5} {:>12.5} {:>10.5} {:>15.5}",
            e.step, e.policy_reward, e.optimal_reward, e.equal_reward, e.regret, e.transfer_regret
        )
    })?;
    pimtl::io::create_out_dir(&out)?;
    let mut csv = String::from("step,policy_reward,optimal_reward,equal_reward,regret,transfer_regret\n");
    for e in &evals {
        csv.push_str(&format!(
            "{},{},{},{},{},{}\n",
            e.step, e.policy_reward, e.optimal_reward, e.equal_reward, e.regret, e.transfer_regret
        ));
    }
    let config =
        serde_json::json!({ "experiment": "demo", "version": env!("CARGO_PKG_VERSION"), "config": cfg });
    let summary = serde_json::json!({ "final": evals.last() });
    pimtl::io::write_atomic(
        &out.join("config.json"),
        serde_json::to_string_pretty(&config)?.as_bytes(),
    )?;
    pimtl::io::write_atomic(&out.join("metrics.csv"), csv.as_bytes())?;
    pimtl::io::write_atomic(
        &out.join("summary.json"),
        serde_json::to_string_pretty(&summary)?.as_bytes(),
    )?;
    policy.save(&out.join("policy.json"))?;
    println!("wrote {}", out.display());
    Ok(())
}
