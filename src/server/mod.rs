//! The HTTP server (feature `server`): AgentScope 2.0.0's session API over a [`SessionStore`].
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
//! | `GET /openapi.json`, `GET /healthz` | the `OpenAPI` document; `{"status": "ok"}` |
//!
//! Every request names its user in the `x-user-id` header; a user never sees, changes or
//! deletes another user's sessions or agents.
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

mod errors;
mod extract;
mod json;
mod openapi;
mod routes;
mod test_server;
mod validate;

use std::future::Future;
use std::io;

use axum::{Extension, Router};
use tokio::net::TcpListener;

use crate::SessionStore;

pub use test_server::TestServer;

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
}

impl Options {
    /// The default [`Options::max_body_bytes`]: 16 MiB, the store's default record limit.
    pub const DEFAULT_MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

    /// Sets [`Options::max_body_bytes`].
    pub fn max_body_bytes(mut self, limit: usize) -> Self {
        self.max_body_bytes = limit;
        self
    }
}

impl Default for Options {
    fn default() -> Self {
        Self {
            max_body_bytes: Self::DEFAULT_MAX_BODY_BYTES,
        }
    }
}

/// The state every request sees.
#[derive(Clone)]
struct App {
    store: SessionStore,
    max_body_bytes: usize,
}

/// The server's routes over `store`, with the default [`Options`].
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
pub fn router(store: SessionStore) -> Router {
    router_with(store, &Options::default())
}

/// The server's routes over `store`, with `options`.
pub fn router_with(store: SessionStore, options: &Options) -> Router {
    let app = App {
        store,
        max_body_bytes: options.max_body_bytes,
    };
    Router::new().fallback(routes::dispatch).with_state(app)
}

/// Serves [`router(store)`](router) on `listener` until `shutdown` completes, then finishes
/// the requests in flight and returns. The caller binds the listener (so it knows the port)
/// and decides when to stop; it also closes the store afterwards, if it is durable.
pub async fn serve<F>(listener: TcpListener, store: SessionStore, shutdown: F) -> io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    serve_router(listener, router(store), shutdown).await
}

/// Like [`serve`], for a router the caller made (with [`router_with`], or with routes and
/// layers of its own).
pub async fn serve_router<F>(listener: TcpListener, app: Router, shutdown: F) -> io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    let local = routes::LocalAddr(listener.local_addr()?);
    axum::serve(listener, app.layer(Extension(local)))
        .with_graceful_shutdown(shutdown)
        .await
}
