//! # agent-sessions
//!
//! An embedded, concurrent, in-memory store of AI-agent sessions whose records and list API
//! are wire-compatible with AgentScope 2.0.0's session service (`GET /sessions/` with header
//! `x-user-id` and query `agent_id`, answering `{"sessions": [SessionRecord], "total": n}`).
//!
//! - [`model`]: the wire types, [`SessionRecord`] and everything in it. Records written by
//!   AgentScope (or by newer versions of it) round-trip unchanged, unknown fields included.
//! - [`SessionStore`]: the store. A cheap-to-clone, `Send + Sync` handle; create, get,
//!   insert, update (atomic, with compare-and-swap), delete, and list by (user, agent) with
//!   order, paging, cursors and filters. [`SessionStore::list_json`] answers with the bytes of
//!   the list answer without serializing anything.
//! - [`SessionBackend`]: the async, fallible contract every backend honours, usable as
//!   `Arc<dyn SessionBackend>`, with the query types they share ([`ListQuery`], [`Cursor`],
//!   [`Order`], [`NewSession`], [`Versioned`]). The in-memory store is one backend; Redis
//!   (feature `redis`) is another.
//! - [`StoreError`]: the one error type; every failure leaves the store unchanged.
//! - `server` (feature `server`): AgentScope 2.0.0's HTTP session API over a store (axum),
//!   a `TestServer` for tests, and the `agent-sessions` binary.
//!
//! ```
//! use agent_sessions::{ListQuery, NewSession, SessionStore};
//! let store = SessionStore::new();
//! store.create(NewSession::new("user-1", "agent-1").name("First"))?;
//! let page = store.list(&ListQuery::new("user-1", "agent-1").limit(20));
//! assert_eq!(page.total, 1);
//! # Ok::<(), agent_sessions::StoreError>(())
//! ```

mod backend;
mod encode;
mod error;
#[cfg(feature = "redis")]
pub mod import;
pub mod model;
mod persist;
#[cfg(feature = "redis")]
pub mod redis;
#[cfg(feature = "server")]
pub mod server;
mod stats;
mod store;

pub use backend::{
    AgentChange, Cursor, ListQuery, NewSession, Order, SessionBackend, SessionChange, UnknownOrder,
    Versioned,
};
pub use error::StoreError;
pub use model::{ListSessionsResponse, SessionRecord};
pub use persist::{FsyncPolicy, Recovery, SnapshotReport, TornTail};
pub use stats::{HistogramSnapshot, JournalStats};
pub use store::{SessionStore, SessionStoreBuilder};

#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
