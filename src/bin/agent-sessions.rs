//! `agent-sessions`: AgentScope 2.0.0's session API over an in-memory (or durable) store.
//!
//! ```text
//! agent-sessions serve [--addr 127.0.0.1:8080] [--data-dir DIR] [--seed FILE] [--max-body-bytes N]
//! ```
//!
//! It prints `listening on http://ADDR` on stdout once it accepts connections, and stops
//! gracefully on SIGINT or SIGTERM: requests in flight finish, a durable store takes a last
//! snapshot and flushes, and it prints `stopped`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use agent_sessions::server::{self, Options};
use agent_sessions::SessionStore;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    version,
    about = "AgentScope 2.0.0's session API over an embedded store"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API until SIGINT or SIGTERM.
    Serve(Serve),
}

#[derive(clap::Args)]
struct Serve {
    /// The address to listen on (port 0 picks a free one; the line printed names it).
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// Keep the sessions in this directory (created if needed), so a restart keeps them.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Load sessions from a list answer, `{"sessions": [...], "total": n}` (an export, or an
    /// answer captured from AgentScope); their agents become known. With --data-dir, only
    /// into an empty store, so restarts keep what clients changed.
    #[arg(long, value_name = "FILE")]
    seed: Option<PathBuf>,
    /// The largest request body accepted, in bytes (413 above it).
    #[arg(long, value_name = "BYTES", default_value_t = Options::DEFAULT_MAX_BODY_BYTES)]
    max_body_bytes: usize,
}

fn main() -> ExitCode {
    let Command::Serve(args) = Cli::parse().command;
    match serve(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("agent-sessions: {message}");
            ExitCode::FAILURE
        }
    }
}

fn serve(args: &Serve) -> Result<(), String> {
    let store = match &args.data_dir {
        Some(dir) => {
            SessionStore::open(dir).map_err(|e| format!("cannot open {}: {e}", dir.display()))?
        }
        None => SessionStore::new(),
    };
    if let Some(seed) = &args.seed {
        if store.is_empty() {
            let n = store
                .import_json(seed)
                .map_err(|e| format!("cannot seed from {}: {e}", seed.display()))?;
            eprintln!(
                "agent-sessions: seeded {n} sessions from {}",
                seed.display()
            );
        } else {
            eprintln!(
                "agent-sessions: not seeding from {}: the store is not empty ({} sessions)",
                seed.display(),
                store.len()
            );
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let options = Options::default().max_body_bytes(args.max_body_bytes);
    let app = server::router_with(store.clone(), &options);
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.addr)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", args.addr))?;
        let addr = listener
            .local_addr()
            .map_err(|e| format!("cannot read the listening address: {e}"))?;
        println!("listening on http://{addr}");
        flush_stdout();
        server::serve_router(listener, app, shutdown_signal())
            .await
            .map_err(|e| format!("server error: {e}"))
    })?;
    drop(runtime);
    store
        .close()
        .map_err(|e| format!("cannot close the store: {e}"))?;
    println!("stopped");
    flush_stdout();
    Ok(())
}

fn flush_stdout() {
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
