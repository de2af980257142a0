//! `agent-sessions`: AgentScope 2.0.0's session API over an in-memory, durable or Redis store.
//!
//! ```text
//! agent-sessions serve [--addr 127.0.0.1:8080] [--log LEVEL]
//!                      [--data-dir DIR | --redis redis://HOST:PORT[/DB] | --redis-cluster URL[,URL...]]
//!                      [--redis-timeout-ms 2000] [--seed FILE] [--max-body-bytes N]
//!                      [--auth header|jwt --jwt-secret-file F | --jwt-public-key F | --jwt-jwks-file F
//!                       [--jwt-issuer ISS] [--jwt-audience AUD] [--jwt-user-claim sub]]
//! agent-sessions import (--from-agentscope-redis URL | --from-json FILE)
//!                       (--data-dir DIR | --redis URL | --redis-cluster URL[,URL...])
//! agent-sessions export --data-dir DIR --to FILE
//! ```
//!
//! `serve` prints `listening on http://ADDR` on stdout once it accepts connections, and stops
//! gracefully on SIGINT or SIGTERM: requests in flight finish, a durable store takes a last
//! snapshot and flushes, and it prints `stopped`. It logs on stderr (the store failures behind
//! its 503 answers, among others) at the level `--log LEVEL` or `RUST_LOG` sets, `info` by
//! default.

mod auth;
mod backend;
mod export;
mod import;
mod serve;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    version,
    about = "AgentScope 2.0.0's session API over an embedded store, or Redis"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API until SIGINT or SIGTERM.
    Serve(Box<serve::Args>),
    /// Copy sessions, agents and message histories into a store (idempotent).
    Import(import::Args),
    /// Write every session of a directory store into one list-shaped JSON file.
    Export(export::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let log = match &cli.command {
        Command::Serve(args) => args.log.as_deref(),
        Command::Import(_) | Command::Export(_) => None,
    };
    if let Err(message) = init_logging(log) {
        eprintln!("agent-sessions: {message}");
        return ExitCode::FAILURE;
    }
    let result = match cli.command {
        Command::Serve(args) => serve::run(&args),
        Command::Import(args) => import::run(&args),
        Command::Export(args) => export::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("agent-sessions: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Logs on stderr what `level` lets through (a level or `RUST_LOG`-style directives); without
/// it, what `RUST_LOG` does, else `info` and above.
fn init_logging(level: Option<&str>) -> Result<(), String> {
    use tracing_subscriber::EnvFilter;
    let filter = match level {
        Some(level) => {
            EnvFilter::try_new(level).map_err(|e| format!("invalid --log {level:?}: {e}"))?
        }
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    Ok(())
}

/// A Tokio runtime for a command.
fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))
}

/// Prints a line on stdout and flushes it; a closed stdout is not an error worth dying for.
fn say(line: &str) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}
