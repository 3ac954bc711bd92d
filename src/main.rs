//! The `pimtl` command line: parses arguments and calls the experiment drivers in
//! `pimtl::experiments`. Errors are printed as one line on stderr with a non-zero exit code.

use clap::{Parser, Subcommand};
use pimtl::experiments::demo::{self, DemoConfig};
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
        #[arg(long, default_value_t = 0.1)]
        beta: f64,
        /// Batch size.
        #[arg(long, default_value_t = 64)]
        batch: usize,
        /// Gradient steps (600 with --quick).
        #[arg(long)]
        steps: Option<usize>,
        /// Adam learning rate.
        #[arg(long, default_value_t = 0.01)]
        lr: f64,
        /// Hidden units of the per-entity MLP.
        #[arg(long, default_value_t = 16)]
        hidden: usize,
        /// Seed of everything.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// A short run for a first look.
        #[arg(long)]
        quick: bool,
        /// Output folder [default: results/demo-<UTC timestamp>].
        #[arg(long)]
        out: Option<PathBuf>,
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
            seed,
            quick,
            out,
        } => {
            let defaults = DemoConfig::default();
            let steps = steps.unwrap_or(if quick { 600 } else { defaults.steps });
            let cfg = DemoConfig {
                entities,
                transfer_entities,
                beta,
                batch,
                steps,
                lr,
                hidden,
                eval_every: (steps / 12).max(1),
                seed,
                ..defaults
            };
            cfg.validate()?;
            let out =
                out.unwrap_or_else(|| PathBuf::from(format!("results/demo-{}", pimtl::io::utc_timestamp())));
            println!(
                "demo: m = {entities} entities, β = {beta}, batch {batch}, {steps} steps, seed {seed}; \
                 transfer to m = {transfer_entities}"
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
            let mut csv =
                String::from("step,policy_reward,optimal_reward,equal_reward,regret,transfer_regret\n");
            for e in &evals {
                csv.push_str(&format!(
                    "{},{},{},{},{},{}\n",
                    e.step, e.policy_reward, e.optimal_reward, e.equal_reward, e.regret, e.transfer_regret
                ));
            }
            let config = serde_json::json!({ "experiment": "demo", "version": env!("CARGO_PKG_VERSION"), "config": cfg });
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
        }
    }
    Ok(())
}
