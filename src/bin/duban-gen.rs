//! Writes ledgers: the sample ledger from `samples/ledger.toml`, or large synthetic ones for
//! benchmarks.
//!
//! ```text
//! duban-gen sample samples/ledger.xlsx
//! duban-gen synthetic /tmp/ledger-100k.xlsx --measures 100000 --units 2000
//! duban-gen synthetic /tmp/real-100k.xlsx --realistic
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Writes ledger files.
#[derive(Parser)]
#[command(
    version,
    about = "Writes the sample ledger or synthetic ledgers for benchmarks"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Writes the sample ledger (66 fictional measures, written after a public report) as .xlsx.
    Sample {
        /// Where to write it.
        path: PathBuf,
    },
    /// Writes a synthetic ledger with merged cells and mixed deadline forms.
    Synthetic {
        /// Where to write it.
        path: PathBuf,
        /// How many measures.
        #[arg(long, default_value_t = 100_000)]
        measures: usize,
        /// How many units.
        #[arg(long, default_value_t = 2_000)]
        units: usize,
        /// The random seed; the same seed writes the same ledger.
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// Shaped like the ledgers offices keep: seven deadline forms in equal parts, one to
        /// four units a cell joined by 、, problems merged over five measures.
        #[arg(long)]
        realistic: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Sample { path } => duban::ingest::sample::write_sample(path)
            .map(|n| format!("wrote {n} measures to {}", path.display())),
        Command::Synthetic {
            path,
            measures,
            units,
            seed,
            realistic,
        } => match realistic {
            true => duban::ingest::sample::write_realistic(path, *measures, *units, *seed),
            false => duban::ingest::sample::write_synthetic(path, *measures, *units, *seed),
        }
        .map(|()| {
            format!(
                "wrote {measures} measures over {units} units to {}",
                path.display()
            )
        }),
    };
    match result {
        Ok(message) => {
            println!("{message}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
