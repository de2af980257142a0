//! `agent-sessions serve`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use agent_sessions::model::TimestampFormat;
use agent_sessions::server::{self, Options};
use agent_sessions::{ListSessionsResponse, SessionBackend, StoreError};

use crate::auth::AuthArgs;
use crate::backend::StoreArgs;

#[derive(clap::Args)]
pub struct Args {
    /// The address to listen on (port 0 picks a free one; the line printed names it).
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    auth: AuthArgs,
    /// Load sessions from a list answer, `{"sessions": [...], "total": n}` (an export, or an
    /// answer captured from AgentScope); their agents become known. Into a directory store
    /// only while it is empty; into Redis, sessions already there are kept as they are.
    #[arg(long, value_name = "FILE")]
    seed: Option<PathBuf>,
    /// The largest request body accepted, in bytes (413 above it).
    #[arg(long, value_name = "BYTES", default_value_t = Options::DEFAULT_MAX_BODY_BYTES)]
    max_body_bytes: usize,
    /// Let web pages from this origin call the API (CORS): `scheme://host[:port]`, or `*` for
    /// any. Repeatable. Off by default, as in AgentScope.
    #[arg(long = "cors-origin", value_name = "ORIGIN", value_parser = cors_origin)]
    cors_origins: Vec<String>,
    /// The memory request bodies being read and parsed may take at once, in bytes (503 or
    /// 413 beyond it).
    #[arg(long, value_name = "BYTES", default_value_t = Options::DEFAULT_MAX_BODY_MEMORY)]
    max_body_memory: usize,
    /// Seconds a request head may take to arrive (the connection is closed after it).
    #[arg(long, value_name = "SECS", value_parser = secs,
          default_value = "10")]
    request_head_timeout: Duration,
    /// Seconds a request body may take to arrive in full (408 after it).
    #[arg(long, value_name = "SECS", value_parser = secs,
          default_value = "60")]
    body_read_timeout: Duration,
    /// Seconds a connection with no request in flight stays open without a byte received.
    #[arg(long, value_name = "SECS", value_parser = secs,
          default_value = "5")]
    idle_timeout: Duration,
    /// The most connections open at once; beyond it the server stops accepting until one
    /// closes.
    #[arg(long, value_name = "N", default_value_t = Options::DEFAULT_MAX_CONNECTIONS)]
    max_connections: usize,
    /// Seconds a stopping server lets requests in flight finish before closing their
    /// connections (idle and stalled connections are closed at once).
    #[arg(long, value_name = "SECS", value_parser = secs,
          default_value = "10")]
    shutdown_timeout: Duration,
    /// What to log on stderr: a level (`error`, `warn`, `info`, `debug`, `trace`) or
    /// `RUST_LOG`-style directives; default `RUST_LOG`, else `info`.
    #[arg(long, value_name = "LEVEL")]
    pub log: Option<String>,
    /// The AgentScope version to answer as: `2.0.0` (its API, byte for byte) or `2.0.11`.
    #[arg(long, value_name = "VERSION", default_value = "2.0.0")]
    agentscope: server::AgentScope,
    /// How record timestamps are written, in answers and in the store: `naive`
    /// (`2026-11-28T10:12:39.573134`, as AgentScope writes them) or `rfc3339`
    /// (`2026-11-28T10:12:39.573134Z`). Default: `naive` with `--agentscope 2.0.11`,
    /// `rfc3339` with 2.0.0 (what this server has always written).
    #[arg(long, value_name = "FORMAT", value_parser = parse_timestamps)]
    timestamps: Option<TimestampFormat>,
}

/// `--timestamps`: `naive` or `rfc3339`.
fn parse_timestamps(s: &str) -> Result<TimestampFormat, String> {
    match s {
        "naive" => Ok(TimestampFormat::Naive),
        "rfc3339" => Ok(TimestampFormat::Rfc3339),
        other => Err(format!("{other:?}: expected naive or rfc3339")),
    }
}

pub fn run(args: &Args) -> Result<(), String> {
    let identity = args.auth.identity()?;
    let runtime = crate::runtime()?;
    let timestamps = args
        .timestamps
        .unwrap_or_else(|| args.agentscope.default_timestamps());
    let opened = runtime.block_on(args.store.open_with(timestamps))?;
    if let Some(seed) = &args.seed {
        runtime.block_on(seed_from(seed, &opened))?;
    }
    let options = Options::default()
        .max_body_bytes(args.max_body_bytes)
        .identity(identity)
        .cors_origins(args.cors_origins.iter().cloned())
        .agentscope(args.agentscope)
        .timestamps(timestamps)
        .max_body_memory(args.max_body_memory)
        .request_head_timeout(args.request_head_timeout)
        .body_read_timeout(args.body_read_timeout)
        .idle_timeout(args.idle_timeout)
        .max_connections(args.max_connections)
        .shutdown_timeout(args.shutdown_timeout);
    let app = server::router_with(Arc::clone(&opened.backend), &options);
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.addr)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", args.addr))?;
        let addr = listener
            .local_addr()
            .map_err(|e| format!("cannot read the listening address: {e}"))?;
        let shutdown = shutdown_signal()?;
        eprintln!(
            "agent-sessions: serving sessions from {}",
            opened.description
        );
        crate::say(&format!("listening on http://{addr}"));
        server::serve_router_with(listener, app, &options, shutdown)
            .await
            .map_err(|e| format!("server error: {e}"))
    })?;
    drop(runtime);
    opened.close()?;
    crate::say("stopped");
    Ok(())
}

/// A `--cors-origin` value, checked.
fn cors_origin(value: &str) -> Result<String, String> {
    Options::check_cors_origin(value).map(|()| value.to_owned())
}

/// A duration given in seconds (`10`, `0.5`).
fn secs(text: &str) -> Result<Duration, String> {
    let n: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds"))?;
    Duration::try_from_secs_f64(n).map_err(|_| format!("{text:?} is not a number of seconds"))
}

/// Seeds the store from a list-shaped file.
async fn seed_from(seed: &Path, opened: &crate::backend::Opened) -> Result<(), String> {
    let what = || format!("cannot seed from {}", seed.display());
    if let Some(store) = &opened.store {
        if !store.is_empty() {
            eprintln!(
                "agent-sessions: not seeding from {}: the store is not empty ({} sessions)",
                seed.display(),
                store.len()
            );
            return Ok(());
        }
        let n = store
            .import_json(seed)
            .map_err(|e| format!("{}: {e}", what()))?;
        eprintln!(
            "agent-sessions: seeded {n} sessions from {}",
            seed.display()
        );
        return Ok(());
    }
    let (added, kept) = insert_new(seed, &*opened.backend)
        .await
        .map_err(|e| format!("{}: {e}", what()))?;
    eprintln!(
        "agent-sessions: seeded {added} sessions from {} ({kept} were there already)",
        seed.display()
    );
    Ok(())
}

/// Inserts every session of a list-shaped file that the backend does not have; returns how
/// many were inserted and how many were there already.
pub async fn insert_new(
    path: &Path,
    backend: &dyn SessionBackend,
) -> Result<(usize, usize), String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    let answer: ListSessionsResponse =
        serde_json::from_slice(&bytes).map_err(|e| format!("not a list answer: {e}"))?;
    let (mut added, mut kept) = (0, 0);
    for record in answer.sessions {
        match backend.insert(Arc::unwrap_or_clone(record)).await {
            Ok(_) => added += 1,
            Err(StoreError::DuplicateId { .. }) => kept += 1,
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok((added, kept))
}

/// A future that completes on SIGINT (Ctrl-C) or SIGTERM. The handlers are installed now,
/// before the caller says it listens: a signal sent as soon as that line is read must stop
/// the server gracefully, not kill it.
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()> + Send + 'static, String> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let cannot = |e: std::io::Error| format!("cannot handle signals: {e}");
        let mut int = signal(SignalKind::interrupt()).map_err(cannot)?;
        let mut term = signal(SignalKind::terminate()).map_err(cannot)?;
        Ok(async move {
            tokio::select! {
                _ = int.recv() => {},
                _ = term.recv() => {},
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
        })
    }
}
