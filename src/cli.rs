//! The `pimtl` command line as a library module: the binary (`src/main.rs`) calls [`main`], the
//! Python bindings call [`run`] with an argument list.
//!
//! It parses arguments and calls the experiment drivers in [`crate::experiments`]. Every
//! experiment goes through one runner ([`crate::experiments::runner`]): its settings are one
//! struct that is both the command line and `config.json` (`--config FILE` reruns a run), its
//! output folder is complete or absent, `--resume` continues a killed run, and `--seeds`/`--shard`
//! run sweeps whose folders `pimtl report` merges.

use crate::experiments::runner::{self, ExperimentConfig, OutMode, ResultFolder, RunRecord, SeedList, Shard};
use crate::experiments::{baselines, bound, demo, federated, fig1, portfolio, report};
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use std::path::{Path, PathBuf};
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

/// How every experiment is run: preset, output folder, resume, sweeps, threads.
#[derive(clap::Args, Clone, Debug)]
struct RunArgs {
    /// Start from the small preset for a first look (options given explicitly still apply).
    #[arg(long)]
    quick: bool,
    /// Take every setting from an earlier run's config.json (or a JSON object of settings);
    /// options given explicitly still apply.
    #[arg(long = "config", value_name = "FILE")]
    config_file: Option<PathBuf>,
    /// Output folder [default: results/<experiment>-<UTC timestamp>]. It appears only when
    /// complete (with manifest.json); a sweep writes one such folder per seed, OUT/seed-S.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Replace a complete output folder (only once the new one is complete) or discard an
    /// interrupted run's staging folder.
    #[arg(long)]
    force: bool,
    /// Continue an interrupted run into the same --out from its checkpoints (refused when its
    /// settings differ); seeds of a sweep that are complete are skipped.
    #[arg(long)]
    resume: bool,
    /// Run a sweep over these seeds: A..B (B excluded), A..=B, or a list 1,4,9.
    #[arg(long)]
    seeds: Option<SeedList>,
    /// Run only this share of the sweep's seeds: i/n takes positions i, i+n, … (0-based), so n
    /// machines can split a sweep; merge the folders with `pimtl report`.
    #[arg(long, requires = "seeds")]
    shard: Option<Shard>,
    /// Threads for independent work (0: all cores). Results do not depend on it.
    #[arg(long, default_value_t = 0)]
    threads: usize,
}

#[derive(Subcommand)]
enum Command {
    /// Train the equivariant policy on a toy allocation problem with a known optimum
    /// (R = Σ x_i a_i + β H(a), optimum softmax(x/β)) and print its progress.
    Demo {
        #[command(flatten)]
        config: demo::DemoConfig,
        #[command(flatten)]
        run: RunArgs,
    },
    /// The synthetic experiment of §6.1 (Fig. 1): LSPI on N real samples against 20 real samples
    /// augmented by permutations, for ε = 0 … 0.8.
    Synthetic {
        #[command(flatten)]
        config: fig1::Fig1Config,
        #[command(flatten)]
        run: RunArgs,
    },
    /// Theorem 1's terms for a family of finite MDPs (random, or from a JSON file) with the
    /// measured suboptimality of LSPI beside them.
    Bound {
        #[command(flatten)]
        config: bound::BoundConfig,
        #[command(flatten)]
        run: RunArgs,
    },
    /// Portfolio optimisation (§6.2, Figs. 3–5): STL vs MTL vs P-MTL against classic baselines.
    Portfolio {
        #[command(flatten)]
        config: portfolio::PortfolioExperimentConfig,
        #[command(flatten)]
        run: RunArgs,
    },
    /// Every classic online-portfolio-selection strategy (UCRP, BAH, BCRP, OLMAR, PAMR, …) on one
    /// data set: final wealth, annualised return, Sharpe, max drawdown, turnover, wealth curves.
    Baselines {
        #[command(flatten)]
        config: baselines::BaselinesConfig,
        #[command(flatten)]
        run: RunArgs,
        /// Print the strategies with their parameters and defaults, and exit.
        #[arg(long)]
        list: bool,
    },
    /// Meta federated learning (§A.2, Fig. 6): aggregation policies learned by PPO (STL vs MTL)
    /// against FedAvg, on label-skewed clients of an MNIST-format image set.
    Federated {
        #[command(flatten)]
        config: federated::FederatedExperimentConfig,
        #[command(flatten)]
        run: RunArgs,
    },
    /// List the known data sets with their instruments, days and date range, and say where they
    /// were looked for.
    Data {
        /// Folder of the known data sets [default: the search path: $PIMTL_DATA_DIR, ./data, the
        /// source tree's data/, the per-user data folder].
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Merge result folders (seeds of a sweep, shards from several machines, single runs of one
    /// experiment) into tables with means, 95 % t intervals and paired differences (CSV, JSON,
    /// SVG).
    Report {
        /// Result folders, or folders holding them (a sweep's OUT with seed-S inside).
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// Output folder [default: results/report-<UTC timestamp>].
        #[arg(long)]
        out: Option<PathBuf>,
        /// Replace a complete output folder.
        #[arg(long)]
        force: bool,
        /// Admit folders without a manifest (written before manifests existed); the report marks
        /// them.
        #[arg(long)]
        unverified: bool,
    },
}

/// The command line's entry point: parses `std::env::args`, runs the command and turns an error
/// into one line on stderr and a failing exit code (what the `pimtl` binary does).
pub fn main() -> ExitCode {
    match run(std::env::args_os()) {
        Ok(()) => ExitCode::SUCCESS,
        // Usage errors and --help/--version print as clap formats them, with its exit codes.
        Err(e) if e.is::<clap::Error>() => match e.downcast::<clap::Error>() {
            Ok(clap_err) => clap_err.exit(),
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs one command line, `args[0]` being the program name (`["pimtl", "portfolio", "--quick"]`),
/// exactly as the `pimtl` binary does, but returns every failure instead of exiting: a parse
/// error or a `--help`/`--version` request comes back as an error carrying clap's rendered
/// message (for `--help`, the help text; [`is_help`] tells the two apart). Used by the Python
/// bindings, whose sweeps run the experiment runner in worker processes.
///
/// # Errors
/// Any parse error, and whatever the command fails with.
pub fn run<I, T>(args: I) -> anyhow::Result<()>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let matches = Cli::command().try_get_matches_from(args)?;
    let cli = Cli::from_arg_matches(&matches)?;
    let sub = matches
        .subcommand()
        .map(|(_, m)| m.clone())
        .ok_or_else(|| anyhow::anyhow!("no subcommand given"))?;
    // A misspelt PIMTL_ISA is refused here rather than silently replaced by the detected path.
    crate::policy::Isa::from_env()?;
    match cli.command {
        Command::Demo { run, .. } => execute::<demo::DemoConfig>(&sub, &run, run_demo),
        Command::Synthetic { run, .. } => execute::<fig1::Fig1Config>(&sub, &run, run_synthetic),
        Command::Bound { run, .. } => execute::<bound::BoundConfig>(&sub, &run, run_bound),
        Command::Portfolio { run, .. } => {
            execute::<portfolio::PortfolioExperimentConfig>(&sub, &run, run_portfolio)
        }
        Command::Baselines { list: true, .. } => {
            print!("{}", baselines::list());
            Ok(())
        }
        Command::Baselines { run, .. } => execute::<baselines::BaselinesConfig>(&sub, &run, run_baselines),
        Command::Federated { run, .. } => {
            execute::<federated::FederatedExperimentConfig>(&sub, &run, run_federated)
        }
        Command::Data { data_dir } => list_data(data_dir.as_deref()),
        Command::Report {
            dirs,
            out,
            force,
            unverified,
        } => {
            let out = out.unwrap_or_else(|| default_out("report"));
            let folder = ResultFolder::open(&out, OutMode::from_flags(force, false)?)?;
            let rep = report::build(&dirs, unverified)?;
            report::write(&rep, folder.dir())?;
            println!("{}", report::table(&rep));
            println!("wrote {}", folder.commit()?.display());
            Ok(())
        }
    }
}

fn default_out(name: &str) -> PathBuf {
    PathBuf::from(format!("results/{name}-{}", crate::io::utc_timestamp()))
}

/// Resolves the configuration once, opens every output folder of the run (or sweep) before any
/// work, then runs each seed, writes its timing and commits its folder.
fn execute<C: ExperimentConfig>(
    sub: &clap::ArgMatches,
    args: &RunArgs,
    body: fn(&C, &ResultFolder) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mode = OutMode::from_flags(args.force, args.resume)?;
    let (cfg, preset) = runner::resolve::<C>(sub, args.quick, args.config_file.as_deref())?;
    let base = args.out.clone().unwrap_or_else(|| default_out(C::NAME));
    let jobs: Vec<(C, PathBuf)> = match &args.seeds {
        None => vec![(cfg, base)],
        Some(SeedList(all)) => {
            let seeds = args.shard.map_or_else(|| all.clone(), |s| s.select(all));
            seeds
                .into_iter()
                .map(|s| Ok((runner::with_seed(&cfg, s)?, runner::seed_folder(&base, s))))
                .collect::<crate::Result<_>>()?
        }
    };
    let mut open = Vec::with_capacity(jobs.len());
    for (c, path) in jobs {
        if mode == OutMode::Resume && args.seeds.is_some() && path.join(runner::MANIFEST).is_file() {
            println!(
                "seed {}: {} is complete, skipped",
                runner::seed_of(&c),
                path.display()
            );
            continue;
        }
        let folder = ResultFolder::open(&path, mode)?;
        open.push((c, folder));
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.threads)
        .build()?;
    for (c, folder) in open {
        let record = RunRecord::new(C::NAME, &preset, &c, &c.data_files())?;
        folder.start(&record)?;
        if folder.resumed() {
            eprintln!("resuming {} from its checkpoints", folder.target().display());
        }
        let started = std::time::Instant::now();
        pool.install(|| body(&c, &folder))?;
        let timing = serde_json::json!({
            "seconds": started.elapsed().as_secs_f64(),
            "resumed": folder.resumed(),
            "threads": pool.current_num_threads(),
        });
        folder.write("timing.json", serde_json::to_string_pretty(&timing)?.as_bytes())?;
        let seconds = started.elapsed().as_secs_f64();
        let path = folder.commit()?;
        println!("finished in {seconds:.1} s; wrote {}", path.display());
    }
    Ok(())
}

fn progress(line: &str) {
    eprintln!("{line}");
}

fn run_synthetic(cfg: &fig1::Fig1Config, folder: &ResultFolder) -> anyhow::Result<()> {
    let res = fig1::run_in(cfg, Some(folder), progress)?;
    fig1::write_results(&res, folder.dir())?;
    Ok(())
}

fn run_bound(cfg: &bound::BoundConfig, folder: &ResultFolder) -> anyhow::Result<()> {
    let res = bound::run(cfg, progress)?;
    println!("{}", bound::print_table(&res));
    bound::write_results(&res, folder.dir())?;
    Ok(())
}

fn run_portfolio(cfg: &portfolio::PortfolioExperimentConfig, folder: &ResultFolder) -> anyhow::Result<()> {
    let res = portfolio::run_in(cfg, Some(folder), progress, |plan| {
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
    })?;
    portfolio::write_results(&res, folder.dir())?;
    println!("{}", portfolio::summary_table(&res));
    Ok(())
}

fn run_baselines(cfg: &baselines::BaselinesConfig, folder: &ResultFolder) -> anyhow::Result<()> {
    let res = baselines::run(cfg)?;
    baselines::write_results(&res, folder.dir())?;
    println!("{}", baselines::summary_table(&res));
    Ok(())
}

fn run_federated(cfg: &federated::FederatedExperimentConfig, folder: &ResultFolder) -> anyhow::Result<()> {
    let res = federated::run_in(cfg, Some(folder), progress)?;
    federated::write_results(&res, folder.dir())?;
    println!("{}", federated::summary_table(&res));
    Ok(())
}

fn run_demo(cfg: &demo::DemoConfig, folder: &ResultFolder) -> anyhow::Result<()> {
    println!(
        "demo: m = {} entities, β = {}, batch {}, {} steps, seed {}; transfer to m = {}",
        cfg.entities, cfg.beta, cfg.batch, cfg.steps, cfg.seed, cfg.transfer_entities
    );
    println!(
        "{:>6} {:>12} {:>12} {:>12} {:>10} {:>15}",
        "step", "R(policy)", "R(optimum)", "R(equal)", "regret", "transfer regret"
    );
    let (policy, evals) = demo::run(cfg, |e| {
        println!(
            "{:>6} {:>12.5} {:>12.5} {:>12.5} {:>10.5} {:>15.5}",
            e.step, e.policy_reward, e.optimal_reward, e.equal_reward, e.regret, e.transfer_regret
        )
    })?;
    let mut csv = String::from("step,policy_reward,optimal_reward,equal_reward,regret,transfer_regret\n");
    for e in &evals {
        csv.push_str(&format!(
            "{},{},{},{},{},{}\n",
            e.step, e.policy_reward, e.optimal_reward, e.equal_reward, e.regret, e.transfer_regret
        ));
    }
    folder.write("metrics.csv", csv.as_bytes())?;
    let summary = serde_json::json!({ "final": evals.last() });
    folder.write("summary.json", serde_json::to_string_pretty(&summary)?.as_bytes())?;
    policy.save(&folder.dir().join("policy.json"))?;
    Ok(())
}

fn list_data(flag: Option<&Path>) -> anyhow::Result<()> {
    let dirs = crate::data::DataDirs::resolve(flag);
    println!("data folders searched, in order:");
    for d in &dirs.dirs {
        println!(
            "  {} ({}){}",
            d.path.display(),
            d.source,
            if d.path.is_dir() { "" } else { " — absent" }
        );
    }
    let mut listed: Vec<String> = Vec::new();
    let mut rows = Vec::new();
    for d in dirs.existing() {
        for s in crate::data::prices::list_known(&d.path)? {
            if !listed.contains(&s.name) {
                listed.push(s.name.clone());
                rows.push(s);
            }
        }
    }
    if rows.is_empty() {
        println!("no data sets found (run `bash scripts/fetch-data.sh`, or set PIMTL_DATA_DIR)");
        return Ok(());
    }
    println!(
        "{:<10} {:>7} {:>7}  {:<25} {:<9} {:<40} title",
        "name", "assets", "days", "dates", "high/low", "file"
    );
    for s in rows {
        let dates = match (&s.first_date, &s.last_date) {
            (Some(a), Some(b)) => format!("{a} .. {b}"),
            _ => "-".to_string(),
        };
        println!(
            "{:<10} {:>7} {:>7}  {:<25} {:<9} {:<40} {}",
            s.name,
            s.assets,
            s.days,
            dates,
            if s.high_low { "yes" } else { "no" },
            s.path.display(),
            s.title.as_deref().unwrap_or("")
        );
    }
    Ok(())
}

/// Whether `err` (from [`run`]) is a `--help` or `--version` request rather than a failure: its
/// message is the text to show.
pub fn is_help(err: &anyhow::Error) -> bool {
    err.downcast_ref::<clap::Error>().is_some_and(|e| {
        matches!(
            e.kind(),
            clap::error::ErrorKind::DisplayHelp
                | clap::error::ErrorKind::DisplayVersion
                | clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
        )
    })
}
