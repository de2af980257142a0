//! The HTTP server (feature `server`): AgentScope 2.0.0's session API over any
//! [`SessionBackend`]: the in-memory [`SessionStore`](crate::SessionStore), a durable one, or Redis.
//!
//! [`router`] answers exactly as the reference (the AgentScope 2.0.0 `FastAPI` app) does on its
//! routes `/sessions/...` and `/agent/...`: the same statuses, bodies, `FastAPI` 422 error
//! entries, 307 slash redirects and 404/405 answers. [`serve`] runs it on a listener the
//! caller bound, until the caller's shutdown future completes; [`TestServer`] runs it on a
//! thread of its own for tests.
//!
//! | route | answer |
//! |---|---|
//! | `GET /sessions/?agent_id=` | `{"sessions": [...], "total": n}`, newest first |
//! | `POST /sessions/` | 201 `{"session_id"}` |
//! | `PATCH /sessions/{id}?agent_id=` | the updated record (and its `ETag`) |
//! | `DELETE /sessions/{id}?agent_id=` | 204 |
//! | `GET /sessions/{id}/messages?agent_id=&offset=&limit=` | `{"messages": [...], "is_running": false}` |
//! | `GET /agent/`, `POST /agent/`, `PATCH /agent/{id}`, `DELETE /agent/{id}` | the agent registry |
//! | `GET /openapi.json`, `GET /healthz` | the `OpenAPI` document; `{"status": "ok"}` (503 and what is wrong while the backend is not) |
//! | `GET /credential/`, `/workspace/mcp`, `/workspace/skill` | as the reference with nothing configured: no credentials; 503 (no workspace manager) |
//! | `GET /metrics` | the server's metrics, `OpenMetrics` text (see `metrics`) |
//!
//! Every request names its user in the `x-user-id` header; a user never sees, changes or
//! deletes another user's sessions or agents.
//!
//! Handlers await the backend and never block a runtime thread: a durable store's fsync and
//! a networked backend's round trips are awaited. When the backend is unavailable (Redis
//! unreachable, a journal that failed), requests answer 503 `{"detail": ...}` within the
//! backend's timeout, and serve again once it is back.
//!
//! ```
//! # async fn run() -> std::io::Result<()> {
//! use agent_sessions::{server, SessionStore};
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
//! let task = tokio::spawn(server::serve(listener, SessionStore::new(), async {
//!     let _ = stopped.await;
//! }));
//! // ... serve requests ...
//! let _ = stop.send(());
//! task.await.expect("the server task")?;
//! # Ok(())
//! # }
//! ```

mod auth;
mod cors;
mod errors;
mod extract;
mod json;
mod limits;
mod listener;
mod metered;
mod metrics;
mod openapi;
mod routes;
mod test_server;
mod validate;
mod version;

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::{Extension, Router};
use tokio::net::TcpListener;

use crate::SessionBackend;

pub use auth::{AuthConfigError, Identity, JwtAuth};
#[doc(hidden)]
pub use json::fuzz_body as fuzz_json_body;
pub use test_server::TestServer;
pub use version::{AgentScope, UnknownAgentScope};

/// What the server allows, beyond what the store allows.
///
/// ```
/// use agent_sessions::server::Options;
/// let opts = Options::default().max_body_bytes(1024 * 1024);
/// assert_eq!(opts.max_body_bytes, 1024 * 1024);
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Options {
    /// The largest request body accepted, in bytes; a larger one answers 413 (default
    /// [`Options::DEFAULT_MAX_BODY_BYTES`]).
    pub max_body_bytes: usize,
    /// How callers are identified (default: the `x-user-id` header, as AgentScope).
    pub identity: Identity,
    /// The origins whose web pages may call the API (CORS): each `scheme://host[:port]`, or
    /// `*` for any. Empty by default: no CORS, as the reference (see
    /// [`Options::cors_origins`]).
    pub cors_origins: Vec<String>,
    /// The AgentScope version whose API the server answers as (default 2.0.0).
    pub agentscope: AgentScope,
    /// How the 2.0.11 routes write record timestamps; `None` (the default) for what that
    /// version writes ([`AgentScope::default_timestamps`]). The 2.0.0 routes answer the bytes
    /// the backend keeps, in the store's own setting.
    pub timestamps: Option<crate::model::TimestampFormat>,
    /// The memory that request bodies being read and parsed may take at once, in bytes
    /// (default [`Options::DEFAULT_MAX_BODY_MEMORY`]). A body that would need more than its
    /// share answers 413, one that would need more than is free now 503 (see the README's
    /// reliability section).
    pub max_body_memory: usize,
    /// How long a request head may take to arrive, from when the connection opened or
    /// finished its last answer; the connection is closed after it (default 10 s).
    pub request_head_timeout: Duration,
    /// How long a request body may take to arrive in full; 408 after it (default 60 s).
    pub body_read_timeout: Duration,
    /// How long a connection with no request in flight stays open without receiving a byte
    /// (default 5 s, uvicorn's keep-alive timeout).
    pub idle_timeout: Duration,
    /// How many connections may be open at once; beyond it the server stops accepting
    /// until one closes (default 512, below the usual limit of 1024 open files).
    pub max_connections: usize,
    /// How long a stopping server lets requests in flight finish before it closes their
    /// connections (default 10 s). Idle and stalled connections are closed at once.
    pub shutdown_timeout: Duration,
}

impl Options {
    /// The default [`Options::max_body_bytes`]: 16 MiB, the store's default record limit.
    pub const DEFAULT_MAX_BODY_BYTES: usize = 16 * 1024 * 1024;
    /// The default [`Options::max_body_memory`]: 256 MiB.
    pub const DEFAULT_MAX_BODY_MEMORY: usize = 256 * 1024 * 1024;
    /// The default [`Options::request_head_timeout`].
    pub const DEFAULT_REQUEST_HEAD_TIMEOUT: Duration = Duration::from_secs(10);
    /// The default [`Options::body_read_timeout`].
    pub const DEFAULT_BODY_READ_TIMEOUT: Duration = Duration::from_secs(60);
    /// The default [`Options::idle_timeout`].
    pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(5);
    /// The default [`Options::max_connections`].
    pub const DEFAULT_MAX_CONNECTIONS: usize = 512;
    /// The default [`Options::shutdown_timeout`].
    pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

    /// Sets [`Options::max_body_memory`].
    pub fn max_body_memory(mut self, bytes: usize) -> Self {
        self.max_body_memory = bytes;
        self
    }

    /// Sets [`Options::request_head_timeout`].
    pub fn request_head_timeout(mut self, timeout: Duration) -> Self {
        self.request_head_timeout = timeout;
        self
    }

    /// Sets [`Options::body_read_timeout`].
    pub fn body_read_timeout(mut self, timeout: Duration) -> Self {
        self.body_read_timeout = timeout;
        self
    }

    /// Sets [`Options::idle_timeout`].
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// Sets [`Options::max_connections`].
    pub fn max_connections(mut self, n: usize) -> Self {
        self.max_connections = n;
        self
    }

    /// Sets [`Options::shutdown_timeout`].
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// Sets [`Options::max_body_bytes`].
    pub fn max_body_bytes(mut self, limit: usize) -> Self {
        self.max_body_bytes = limit;
        self
    }

    /// Sets [`Options::identity`]: verified JWTs instead of the header, say.
    ///
    /// ```
    /// use agent_sessions::server::{Identity, JwtAuth, Options};
    /// let jwt = JwtAuth::hs256_secret(&[7; 32]).unwrap();
    /// let opts = Options::default().identity(Identity::Jwt(jwt.into()));
    /// assert!(matches!(opts.identity, Identity::Jwt(_)));
    /// ```
    pub fn identity(mut self, identity: Identity) -> Self {
        self.identity = identity;
        self
    }

    /// Sets [`Options::cors_origins`]: browsers on these origins may call the API (its
    /// preflights answered, `Access-Control-Allow-Origin` on its answers). Origins that
    /// [`Options::check_cors_origin`] refuses are left out, with a warning.
    ///
    /// ```
    /// use agent_sessions::server::Options;
    /// let opts = Options::default().cors_origins(["http://localhost:5173"]);
    /// assert_eq!(opts.cors_origins, ["http://localhost:5173"]);
    /// ```
    pub fn cors_origins<S: Into<String>>(mut self, origins: impl IntoIterator<Item = S>) -> Self {
        self.cors_origins = origins.into_iter().map(Into::into).collect();
        self
    }

    /// Checks an origin for [`Options::cors_origins`]: `*`, or `scheme://host[:port]` as a
    /// browser sends it in `Origin` (no path, no trailing slash).
    ///
    /// ```
    /// use agent_sessions::server::Options;
    /// assert!(Options::check_cors_origin("http://localhost:5173").is_ok());
    /// assert!(Options::check_cors_origin("http://localhost:5173/").is_err());
    /// ```
    pub fn check_cors_origin(origin: &str) -> Result<(), String> {
        cors::check_origin(origin)
    }

    /// Sets [`Options::agentscope`]: the version whose answers the server gives.
    ///
    /// ```
    /// use agent_sessions::server::{AgentScope, Options};
    /// let opts = Options::default().agentscope(AgentScope::V2_0_11);
    /// assert_eq!(opts.agentscope, AgentScope::V2_0_11);
    /// ```
    pub fn agentscope(mut self, version: AgentScope) -> Self {
        self.agentscope = version;
        self
    }

    /// Sets [`Options::timestamps`].
    ///
    /// ```
    /// use agent_sessions::{model::TimestampFormat, server::Options};
    /// let opts = Options::default().timestamps(TimestampFormat::Rfc3339);
    /// assert_eq!(opts.timestamps, Some(TimestampFormat::Rfc3339));
    /// ```
    pub fn timestamps(mut self, format: crate::model::TimestampFormat) -> Self {
        self.timestamps = Some(format);
        self
    }
}

impl Default for Options {
    fn default() -> Self {
        Self {
            max_body_bytes: Self::DEFAULT_MAX_BODY_BYTES,
            identity: Identity::Header,
            cors_origins: Vec::new(),
            agentscope: AgentScope::default(),
            timestamps: None,
            max_body_memory: Self::DEFAULT_MAX_BODY_MEMORY,
            request_head_timeout: Self::DEFAULT_REQUEST_HEAD_TIMEOUT,
            body_read_timeout: Self::DEFAULT_BODY_READ_TIMEOUT,
            idle_timeout: Self::DEFAULT_IDLE_TIMEOUT,
            max_connections: Self::DEFAULT_MAX_CONNECTIONS,
            shutdown_timeout: Self::DEFAULT_SHUTDOWN_TIMEOUT,
        }
    }
}

/// The state every request sees.
#[derive(Clone)]
struct App {
    backend: Arc<dyn SessionBackend>,
    max_body_bytes: usize,
    identity: Identity,
    metrics: Arc<metrics::Metrics>,
    agentscope: AgentScope,
    /// How the 2.0.11 routes write record timestamps.
    timestamps: crate::model::TimestampFormat,
    /// The memory bodies being read and parsed may take, and their read timeout.
    bodies: Arc<limits::Bodies>,
}

/// What the server can serve: any [`SessionBackend`] by value, or one already shared as
/// `Arc<dyn SessionBackend>` (when the backend is chosen at run time).
///
/// ```
/// use std::sync::Arc;
/// use agent_sessions::{server, SessionBackend, SessionStore};
/// let by_value = server::router(SessionStore::new());
/// let shared: Arc<dyn SessionBackend> = Arc::new(SessionStore::new());
/// let by_arc = server::router(shared);
/// # let _ = (by_value, by_arc);
/// ```
pub trait IntoBackend {
    /// The backend, shared.
    fn into_backend(self) -> Arc<dyn SessionBackend>;
}

impl<B: SessionBackend + 'static> IntoBackend for B {
    fn into_backend(self) -> Arc<dyn SessionBackend> {
        Arc::new(self)
    }
}

impl IntoBackend for Arc<dyn SessionBackend> {
    fn into_backend(self) -> Arc<dyn SessionBackend> {
        self
    }
}

/// The server's routes over `backend`, with the default [`Options`].
///
/// ```
/// use agent_sessions::{server, SessionStore};
/// use axum::{body::Body, http::Request};
/// use tower::ServiceExt; // oneshot
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let app = server::router(SessionStore::new());
/// let request = Request::get("/healthz").body(Body::empty()).unwrap();
/// let response = app.oneshot(request).await.unwrap();
/// assert_eq!(response.status(), 200);
/// # });
/// ```
pub fn router(backend: impl IntoBackend) -> Router {
    router_with(backend, &Options::default())
}

/// The server's routes over `backend`, with `options`.
///
/// ```
/// use agent_sessions::{server, SessionStore};
/// use axum::{body::Body, http::Request};
/// use tower::ServiceExt; // oneshot
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let options = server::Options::default().cors_origins(["http://localhost:5173"]);
/// let app = server::router_with(SessionStore::new(), &options);
/// let preflight = Request::options("/sessions/")
///     .header("origin", "http://localhost:5173")
///     .header("access-control-request-method", "POST")
///     .body(Body::empty())
///     .unwrap();
/// let response = app.oneshot(preflight).await.unwrap();
/// assert_eq!(response.status(), 200);
/// assert_eq!(response.headers()["access-control-allow-origin"], "http://localhost:5173");
/// # });
/// ```
pub fn router_with(backend: impl IntoBackend, options: &Options) -> Router {
    let backend = backend.into_backend();
    let metrics = Arc::new(metrics::Metrics::new(Arc::clone(&backend)));
    let app = App {
        backend: Arc::new(metered::Metered {
            inner: backend,
            metrics: Arc::clone(&metrics),
        }),
        max_body_bytes: options.max_body_bytes,
        identity: options.identity.clone(),
        metrics: Arc::clone(&metrics),
        agentscope: options.agentscope,
        timestamps: options
            .timestamps
            .unwrap_or_else(|| options.agentscope.default_timestamps()),
        bodies: Arc::new(limits::Bodies::new(options)),
    };
    let router = Router::new()
        .fallback(routes::dispatch)
        .layer(axum::middleware::map_response(errors::log_store_errors))
        .with_state(app);
    cors::apply(router, &options.cors_origins).layer(axum::middleware::from_fn_with_state(
        metrics,
        metrics::track,
    ))
}

/// Serves [`router(backend)`](router) on `listener` until `shutdown` completes, then
/// finishes the requests in flight and returns. The caller binds the listener (so it knows
/// the port) and decides when to stop; it also closes a durable store afterwards.
pub async fn serve<F>(
    listener: TcpListener,
    backend: impl IntoBackend,
    shutdown: F,
) -> io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    serve_router(listener, router(backend), shutdown).await
}

/// Like [`serve`], for a router the caller made (with [`router_with`], or with routes and
/// layers of its own), with the default connection limits of [`Options`].
pub async fn serve_router<F>(listener: TcpListener, app: Router, shutdown: F) -> io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    serve_router_with(listener, app, &Options::default(), shutdown).await
}

/// Like [`serve_router`], with the connection limits of `options` (head, idle and shutdown
/// timeouts, the most connections at once). When `shutdown` completes the server stops
/// accepting, closes idle and stalled connections, lets requests in flight finish for up to
/// [`Options::shutdown_timeout`], and returns.
pub async fn serve_router_with<F>(
    listener: TcpListener,
    app: Router,
    options: &Options,
    shutdown: F,
) -> io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    let local = routes::LocalAddr(listener.local_addr()?);
    listener::run(listener, app.layer(Extension(local)), options, shutdown).await
}
