//! Migration into any [`SessionBackend`](crate::SessionBackend) from other stores (feature
//! `redis`).
//!
//! - [`import_agentscope_redis`]: copies everything AgentScope 2.0.x's `RedisStorage` keeps
//!   about sessions (agents, sessions, message histories) from its Redis into a backend,
//!   records unchanged. Idempotent and resumable: run it again after a failure, or after the
//!   source changed, and it writes only what is missing.
//!
//! ```no_run
//! use agent_sessions::import::{import_agentscope_redis, ImportOptions};
//! use agent_sessions::SessionStore;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let store = SessionStore::new();
//! let report =
//!     import_agentscope_redis("redis://127.0.0.1:6379", &store, &ImportOptions::default()).await?;
//! println!("{report}");
//! # Ok(()) }
//! ```

mod agentscope_redis;

pub use agentscope_redis::{
    import_agentscope_redis, Counts, ImportError, ImportIssue, ImportOptions, ImportReport,
    IssueKind, OnDamaged,
};
