//! The `newsmend` command line. Each subcommand lives in its own module under `src/cli/`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cli;

/// mimalloc, for a page's few hundred short-lived allocations (see `newsmend::alloc`).
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: newsmend::alloc::Mimalloc = newsmend::alloc::Mimalloc;

#[derive(Parser)]
#[command(
    name = "newsmend",
    version,
    about = "Repairs OCR artifacts in newspaper pages and splits them into per-article JSON records."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Process page files and directories into one .jsonl per page.
    Run(cli::run::RunArgs),
    /// Read pages as JSON Lines on stdin, write records on stdout.
    Stream(cli::stream::StreamArgs),
    /// Compare records with gold records.
    Eval(cli::eval::EvalArgs),
    /// Inspect and check rule sets.
    Rules(cli::rules::RulesArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Run(a) => cli::run::main(a),
        Command::Stream(a) => cli::stream::main(a),
        Command::Eval(a) => cli::eval::main(a),
        Command::Rules(a) => cli::rules::main(a),
    };
    ExitCode::from(code)
}
