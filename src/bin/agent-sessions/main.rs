//! `agent-sessions`: AgentScope 2.0.0's session API over an in-memory, durable or Redis store.
//!
//! ```text
//! agent-sessions serve [--addr 127.0.0.1:8080]
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
//! snapshot and flushes, and it prints `stopped`.

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
    Serve(serve::Args),
    /// Copy sessions, agents and message histories into a store (idempotent).
    Import(import::Args),
    /// Write every session of a directory store into one list-shaped JSON file.
    Export(export::Args),
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
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
