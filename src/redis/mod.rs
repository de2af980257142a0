//! The Redis and Redis Cluster backend (feature `redis`): [`RedisBackend`], a
//! [`SessionBackend`](crate::SessionBackend) whose sessions, agents and message histories
//! live in Redis, so that several processes (or machines) share them.
//!
//! ```no_run
//! use agent_sessions::redis::RedisBackend;
//! use agent_sessions::{ListQuery, NewSession, SessionBackend};
//!
//! # async fn run() -> Result<(), agent_sessions::StoreError> {
//! let backend = RedisBackend::connect("redis://127.0.0.1:6379/").await?;
//! backend.create(NewSession::new("user-1", "agent-1").name("First")).await?;
//! let page = backend.list(&ListQuery::new("user-1", "agent-1").limit(20)).await?;
//! assert_eq!(page.total, 1);
//! # Ok(())
//! # }
//! ```
//!
//! # Connections, timeouts and outages
//!
//! `connect` does not wait for Redis: it checks the URL and returns, and the connection is
//! made on first use. While Redis is down, slow, or stopped, every call fails with
//! [`StoreError::Unavailable`] within about the configured timeout (default 2 s; every call
//! is bounded by it as a whole, besides the connection and response timeouts of the
//! connections), and never hangs. When Redis is back, calls succeed again on the same
//! `RedisBackend`: it reconnects by itself. So a server can start before Redis and answer
//! 503 until Redis comes up; call [`SessionBackend::health_check`](crate::SessionBackend::health_check)
//! to find out whether it is up.
//!
//! A write that failed with `Unavailable` may or may not have been applied (the request may
//! have reached Redis before the answer was lost). What survives a Redis restart is what
//! Redis's persistence kept: run Redis with `appendonly yes` and `appendfsync always` for
//! every acknowledged write to survive a crash (`everysec` may lose the last second).
//!
//! # Key layout
//!
//! Every key of one user carries the hash tag `{U}` (the escaped user id), so everything a
//! call touches is in one Cluster slot and every call is one atomic script:
//!
//! | key | type | holds |
//! |---|---|---|
//! | `P:{U}:r:A` | HASH | session id -> the record's compact JSON (exactly the bytes `serde_json::to_vec` gives) |
//! | `P:{U}:v:A` | HASH | session id -> `<version>\|<created lex><updated lex>\|<filter fields>` |
//! | `P:{U}:c:A` | ZSET | every score 0; member `<created lex><session id>` |
//! | `P:{U}:u:A` | ZSET | every score 0; member `<updated lex><session id>` |
//! | `P:{U}:m:A:I` | LIST | the session's messages (compact JSON), oldest first |
//! | `P:{U}:i:A:I` | LIST | their ids, in the same order |
//! | `P:{U}:sa` | SET | `A` of every agent the user has sessions with |
//! | `P:{U}:ag` | HASH | agent id -> the registered agent's compact JSON |
//! | `P:{U}:ao` | ZSET | agent id, scored by registration order |
//! | `P:{U}:n` | HASH | `ver`: the user's last version; `seq`: the last registration number |
//! | `P:blocks` | STRING | the backend-wide counter of version blocks |
//!
//! `P` is the key prefix (default `as`), `A` the escaped agent id, `I` the escaped session
//! id; escaping turns `%`, `{`, `}`, `:` into `%25`, `%7B`, `%7D`, `%3A`, so no id can break
//! the tag or make two keys collide. A *lex* is 16 hex digits of
//! `micros as u64 ^ 1 << 63`: the members of an index sort as bytes exactly as the store
//! sorts sessions, by (timestamp, id), and a list cursor is an exclusive `BYLEX` bound. The
//! filter fields (`source`, `source_schedule_id`, `workspace_id`, as JSON) sit in the
//! metadata so that a filtered list reads no record it does not return.
//!
//! Versions: a user's versions come from blocks of 2^20 reserved from `P:blocks` (one extra
//! round trip on the first write of a user, and once per 2^20 writes), so a version is never
//! used twice in the backend, not even after the user is erased and comes back.
//! `delete_all(user)` removes every key of the user, none is left behind.
//!
//! The scale-out unit is the user: a user's data lives on one Cluster node, users are spread
//! over the slots.
//!
//! # Round trips
//!
//! One per call (one script, or one command), except: `create`/`insert` and updates make one
//! more on a user's first write (a version block); `update`, `update_if_version` and
//! `update_agent` read first, then write with a compare-and-swap script (two, plus two per
//! retry when another writer got there first).
//!
//! Costs in Redis: a list without a filter is O(log n + offset + page); with a filter it
//! reads the metadata of all n sessions of the scope (no record is decoded). `delete_agent`,
//! `unregister_agent` and `delete_all` are O(sessions deleted) in one script, which blocks
//! that Redis node while it runs.

mod backend;
mod conn;
mod keys;
mod ops_agents;
mod ops_list;
mod ops_messages;
mod ops_sessions;
mod reply;
mod scripts;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::{SessionStoreBuilder, StoreError};
use conn::Conn;

/// A [`SessionBackend`](crate::SessionBackend) on a Redis server or a Redis Cluster.
///
/// A handle: cloning is cheap and every clone shares the connection. See the
/// [module docs](self) for the key layout, the outage behaviour and the cost of each call.
///
/// ```no_run
/// use std::sync::Arc;
/// use agent_sessions::redis::RedisBackend;
/// use agent_sessions::SessionBackend;
///
/// # async fn run() -> Result<(), agent_sessions::StoreError> {
/// let backend: Arc<dyn SessionBackend> =
///     Arc::new(RedisBackend::connect("redis://127.0.0.1:6379/").await?);
/// backend.health_check().await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct RedisBackend {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    conn: Conn,
    /// The escaped key prefix.
    prefix: String,
    timeout: Duration,
    max_id_bytes: usize,
    max_record_bytes: usize,
}

const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<RedisBackend>();
};

impl RedisBackend {
    /// A builder for a backend with settings other than the defaults.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use agent_sessions::redis::RedisBackend;
    ///
    /// # async fn run() -> Result<(), agent_sessions::StoreError> {
    /// let backend = RedisBackend::builder()
    ///     .timeout(Duration::from_millis(500))
    ///     .key_prefix("sessions")
    ///     .connect("redis://127.0.0.1:6379/0")
    ///     .await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn builder() -> RedisBackendBuilder {
        RedisBackendBuilder::default()
    }

    /// A backend on the standalone server at `url` (`redis://HOST:PORT[/DB]`), with the
    /// default settings. Connects on first use (see the [module docs](self)); fails only
    /// for a URL that is not a Redis URL.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), agent_sessions::StoreError> {
    /// let backend = agent_sessions::redis::RedisBackend::connect("redis://127.0.0.1:6379/").await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::builder().connect(url).await
    }

    /// A backend on the Redis Cluster that `urls` (some of its nodes) belong to, with the
    /// default settings. Connects on first use.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), agent_sessions::StoreError> {
    /// let backend = agent_sessions::redis::RedisBackend::connect_cluster(&[
    ///     "redis://10.0.0.1:6379",
    ///     "redis://10.0.0.2:6379",
    /// ])
    /// .await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn connect_cluster<S: AsRef<str>>(urls: &[S]) -> Result<Self, StoreError> {
        Self::builder().connect_cluster(urls).await
    }

    /// The bound on every call.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), agent_sessions::StoreError> {
    /// let backend = agent_sessions::redis::RedisBackend::connect("redis://127.0.0.1/").await?;
    /// assert_eq!(backend.timeout(), std::time::Duration::from_secs(2));
    /// # Ok(())
    /// # }
    /// ```
    pub fn timeout(&self) -> Duration {
        self.inner.timeout
    }

    /// Runs `call`, failing with `Unavailable` if it does not finish within the timeout.
    async fn bounded<T>(
        &self,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(self.inner.timeout, call).await {
            Ok(result) => result,
            Err(_) => Err(StoreError::Unavailable {
                reason: format!("Redis did not answer within {:?}", self.inner.timeout),
            }),
        }
    }
}

/// Settings of a [`RedisBackend`]; [`RedisBackend::builder`] makes one with the defaults.
///
/// ```no_run
/// use std::time::Duration;
/// use agent_sessions::redis::RedisBackend;
///
/// # async fn run() -> Result<(), agent_sessions::StoreError> {
/// let backend = RedisBackend::builder()
///     .timeout(Duration::from_secs(1))
///     .key_prefix("as")
///     .max_id_bytes(256)
///     .max_record_bytes(1 << 20)
///     .connect_cluster(&["redis://10.0.0.1:6379"])
///     .await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
#[must_use = "a builder does nothing until `connect` or `connect_cluster` is called"]
pub struct RedisBackendBuilder {
    timeout: Duration,
    key_prefix: String,
    max_id_bytes: usize,
    max_record_bytes: usize,
}

impl Default for RedisBackendBuilder {
    fn default() -> Self {
        Self {
            timeout: Self::DEFAULT_TIMEOUT,
            key_prefix: Self::DEFAULT_KEY_PREFIX.to_owned(),
            max_id_bytes: SessionStoreBuilder::DEFAULT_MAX_ID_BYTES,
            max_record_bytes: SessionStoreBuilder::DEFAULT_MAX_RECORD_BYTES,
        }
    }
}

impl RedisBackendBuilder {
    /// The default [`timeout`](Self::timeout): 2 s.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);
    /// The default [`key_prefix`](Self::key_prefix): `as`.
    pub const DEFAULT_KEY_PREFIX: &'static str = "as";

    /// How long a call may take, all round trips included, before it fails with
    /// [`StoreError::Unavailable`] (default 2 s). Also the connection and response timeout
    /// of the connections.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// What every key starts with (default `as`), so that several backends (or tests) can
    /// share a Redis without seeing each other. Braces, `%` and `:` in it are escaped.
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.key_prefix = prefix.into();
        self
    }

    /// The longest `user_id`, `agent_id` or session `id` accepted, in bytes (default 1 KiB,
    /// as [`SessionStoreBuilder::DEFAULT_MAX_ID_BYTES`]).
    pub fn max_id_bytes(mut self, limit: usize) -> Self {
        self.max_id_bytes = limit;
        self
    }

    /// The largest record accepted, as compact JSON, in bytes (default 16 MiB, as
    /// [`SessionStoreBuilder::DEFAULT_MAX_RECORD_BYTES`]).
    pub fn max_record_bytes(mut self, limit: usize) -> Self {
        self.max_record_bytes = limit;
        self
    }

    /// A backend on the standalone server at `url` (`redis://HOST:PORT[/DB]`). Connects on
    /// first use; fails only for a URL that is not a Redis URL.
    // Async although it does not wait for Redis: the connection it sets up belongs to the
    // caller's Tokio runtime, and connecting eagerly later would not change the signature.
    #[allow(clippy::unused_async)]
    pub async fn connect(self, url: &str) -> Result<RedisBackend, StoreError> {
        let conn = Conn::standalone(url, self.timeout)?;
        Ok(self.build(conn))
    }

    /// A backend on the Redis Cluster that `urls` (some of its nodes) belong to. Connects on
    /// first use; fails only for URLs that are not Redis URLs.
    // Async although it does not wait for Redis: the connection it sets up belongs to the
    // caller's Tokio runtime, and connecting eagerly later would not change the signature.
    #[allow(clippy::unused_async)]
    pub async fn connect_cluster<S: AsRef<str>>(
        self,
        urls: &[S],
    ) -> Result<RedisBackend, StoreError> {
        let urls: Vec<&str> = urls.iter().map(AsRef::as_ref).collect();
        let conn = Conn::cluster(&urls, self.timeout)?;
        Ok(self.build(conn))
    }

    fn build(self, conn: Conn) -> RedisBackend {
        RedisBackend {
            inner: Arc::new(Inner {
                conn,
                prefix: keys::escape(&self.key_prefix),
                timeout: self.timeout,
                max_id_bytes: self.max_id_bytes,
                max_record_bytes: self.max_record_bytes,
            }),
        }
    }
}
