//! The `duban` binary: sets up logging and the runtime, and hands the command line to
//! [`cli`], which holds one small function per command.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;

mod cli;

fn main() -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_env("DUBAN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,duban=info"));
    // DUBAN_LOG_FORMAT=json: one JSON object a line, with time and fields, for collectors.
    let json = std::env::var("DUBAN_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    if json {
        tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_current_span(false)
            .init();
    } else {
        // Colour only on a terminal: a log file or a pipe gets plain text.
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
            .with_target(false)
            .without_time()
            .init();
    }
    let cli = cli::Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            cli::out::err_line(format!("error: cannot start the runtime: {e}"));
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli::run(cli)) {
        Ok(code) => code,
        Err(e) => {
            // The settings may be what failed: the language then comes from the environment.
            cli::out::err_line(cli::error_text(&e, cli::language()));
            ExitCode::FAILURE
        }
    }
}
