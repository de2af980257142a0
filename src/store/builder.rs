//! The store's builder: limits and durability settings, with their defaults.

use std::path::Path;
use std::time::Duration;

use super::SessionStore;
use crate::model::TimestampFormat;
use crate::{FsyncPolicy, StoreError};

/// Builds a [`SessionStore`] with limits other than the defaults.
///
/// ```
/// use agent_sessions::{NewSession, SessionStore, StoreError};
/// let store = SessionStore::builder().max_id_bytes(8).max_record_bytes(64 * 1024).build();
/// let err = store.create(NewSession::new("a-long-user-id", "a")).unwrap_err();
/// assert!(matches!(err, StoreError::IdTooLong { field: "user_id", .. }));
/// ```
#[derive(Clone, Debug)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct SessionStoreBuilder {
    pub(super) max_id_bytes: usize,
    pub(super) max_record_bytes: usize,
    pub(super) fsync: FsyncPolicy,
    pub(super) autosave: Option<Duration>,
    pub(super) snapshot_shards: usize,
    pub(super) timestamp_format: TimestampFormat,
    pub(super) lock_timeout: Duration,
}

impl Default for SessionStoreBuilder {
    fn default() -> Self {
        Self {
            max_id_bytes: Self::DEFAULT_MAX_ID_BYTES,
            max_record_bytes: Self::DEFAULT_MAX_RECORD_BYTES,
            fsync: FsyncPolicy::default(),
            autosave: Some(Self::DEFAULT_AUTOSAVE),
            snapshot_shards: Self::DEFAULT_SNAPSHOT_SHARDS,
            timestamp_format: TimestampFormat::default(),
            lock_timeout: Self::DEFAULT_LOCK_TIMEOUT,
        }
    }
}

impl SessionStoreBuilder {
    /// The default [`max_id_bytes`](Self::max_id_bytes): 1 KiB.
    pub const DEFAULT_MAX_ID_BYTES: usize = 1024;
    /// The default [`max_record_bytes`](Self::max_record_bytes): 16 MiB.
    pub const DEFAULT_MAX_RECORD_BYTES: usize = 16 * 1024 * 1024;

    /// The longest `user_id`, `agent_id` or session `id` accepted, in bytes (default 1 KiB).
    pub fn max_id_bytes(mut self, limit: usize) -> Self {
        self.max_id_bytes = limit;
        self
    }

    /// The largest record accepted, measured as its compact JSON, in bytes (default 16 MiB).
    pub fn max_record_bytes(mut self, limit: usize) -> Self {
        self.max_record_bytes = limit;
        self
    }

    /// The default [`autosave`](Self::autosave) interval: one minute.
    pub const DEFAULT_AUTOSAVE: Duration = Duration::from_secs(60);
    /// The default [`snapshot_shards`](Self::snapshot_shards): 4096. An autosave after 100
    /// changes in a 1M-session store rewrites ~100 small files (~2.5% of a full snapshot's
    /// time, against ~30% with 256 shards); a full snapshot, rare, pays one fsync per shard.
    pub const DEFAULT_SNAPSHOT_SHARDS: usize = 4096;

    /// When a durable store's journal is fsynced (default [`FsyncPolicy::Always`]).
    pub fn fsync(mut self, policy: FsyncPolicy) -> Self {
        self.fsync = policy;
        self
    }

    /// How often a durable store takes a snapshot if anything changed (default one minute);
    /// `None` for only when [`SessionStore::snapshot`] is called.
    pub fn autosave(mut self, interval: Option<Duration>) -> Self {
        self.autosave = interval;
        self
    }

    /// How many shards a snapshot is split into (default 4096), each (user, agent) belonging to
    /// one by a stable hash. A snapshot rewrites only the shards whose sessions changed, so
    /// more shards make small autosaves cheaper; a shard without sessions has no file.
    pub fn snapshot_shards(mut self, shards: usize) -> Self {
        self.snapshot_shards = shards.max(1);
        self
    }

    /// How the store writes records' `created_at` and `updated_at` (default
    /// [`TimestampFormat::Rfc3339`], `2026-11-28T10:12:39.573134Z`, what this crate has
    /// always written): in what it answers (`get_json`, `list_json`, the records it returns)
    /// and in its files. [`TimestampFormat::Naive`] writes them as AgentScope does
    /// (`2026-11-28T10:12:39.573134`). Either reads the other's files: only the writing
    /// differs, and a reopened store writes in its own setting.
    ///
    /// ```
    /// use agent_sessions::model::TimestampFormat;
    /// use agent_sessions::{NewSession, SessionStore};
    /// let store = SessionStore::builder().timestamp_format(TimestampFormat::Naive).build();
    /// let rec = store.create(NewSession::new("u", "a"))?;
    /// let json = store.get_json("u", "a", &rec.id).unwrap();
    /// let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
    /// assert!(!v["created_at"].as_str().unwrap().ends_with('Z'));
    /// # Ok::<(), agent_sessions::StoreError>(())
    /// ```
    pub fn timestamp_format(mut self, format: TimestampFormat) -> Self {
        self.timestamp_format = format;
        self
    }

    /// The default [`lock_timeout`](Self::lock_timeout): five seconds.
    pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(5);

    /// How long [`open`](Self::open) waits for the directory's lock while another store holds
    /// it, before it fails with [`StoreError::Locked`] (default five seconds; zero: not at
    /// all). A store just dropped or closed can hold it a moment longer (a process forked
    /// meanwhile keeps a copy of its descriptor until it execs), so a reopen right after a
    /// close waits for it instead of failing.
    ///
    /// ```
    /// use agent_sessions::{SessionStore, StoreError};
    /// use std::time::Duration;
    /// let dir = tempfile::tempdir().unwrap();
    /// let first = SessionStore::open(dir.path())?;
    /// let second = SessionStore::builder().lock_timeout(Duration::ZERO).open(dir.path());
    /// assert!(matches!(second, Err(StoreError::Locked { .. })));
    /// # drop(first);
    /// # Ok::<(), StoreError>(())
    /// ```
    pub fn lock_timeout(mut self, wait: Duration) -> Self {
        self.lock_timeout = wait;
        self
    }

    /// An in-memory store, kept nowhere.
    pub fn build(self) -> SessionStore {
        SessionStore::from_builder(&self)
    }

    /// A durable store in `dir`, created if needed, loaded with what is there (see
    /// [`SessionStore::open`]).
    ///
    /// ```
    /// use agent_sessions::{FsyncPolicy, SessionStore};
    /// use std::time::Duration;
    /// let dir = tempfile::tempdir().unwrap();
    /// let store = SessionStore::builder()
    ///     .fsync(FsyncPolicy::Every(Duration::from_millis(50)))
    ///     .autosave(Some(Duration::from_secs(10)))
    ///     .snapshot_shards(16)
    ///     .open(dir.path())?;
    /// # Ok::<(), agent_sessions::StoreError>(())
    /// ```
    pub fn open(self, dir: impl AsRef<Path>) -> Result<SessionStore, StoreError> {
        SessionStore::open_with(&self, dir.as_ref())
    }
}
