//! The one error type of the store.

use std::path::PathBuf;

/// Why a store operation was refused. Whatever the error, the store is unchanged, with two
/// exceptions: [`StoreError::Io`] on a durable store whose journal cannot be written, and
/// [`StoreError::Unavailable`] on a write to a networked backend that did not answer.
///
/// [`StoreError::is_unavailable`] tells a backend failure (retry later) from a caller's
/// mistake (do not retry as is).
///
/// Every message says what to do next.
///
/// ```
/// use agent_sessions::{SessionStore, StoreError};
/// let store = SessionStore::new();
/// let err = store.delete("user-1", "agent-1", "no-such-id").unwrap_err();
/// assert!(matches!(err, StoreError::NotFound { .. }));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// An id (`user_id`, `agent_id` or the session `id`) is empty.
    #[error("{field} is empty: every session needs a non-empty {field}")]
    EmptyId {
        /// Which id: `user_id`, `agent_id` or `id`.
        field: &'static str,
    },
    /// An id is longer than the store allows.
    #[error(
        "{field} is {len} bytes, over the limit of {limit}: use a shorter id, or raise the \
         store's `max_id_bytes`"
    )]
    IdTooLong {
        /// Which id: `user_id`, `agent_id` or `id`.
        field: &'static str,
        /// Its length in bytes.
        len: usize,
        /// The store's limit.
        limit: usize,
    },
    /// A record's compact JSON encoding is larger than the store allows.
    #[error(
        "session {id:?} encodes to {size} bytes of JSON, over the limit of {limit}: trim its \
         state (for example summarise the context), or raise the store's `max_record_bytes`"
    )]
    RecordTooLarge {
        /// The session id.
        id: String,
        /// Its compact JSON size in bytes.
        size: usize,
        /// The store's limit.
        limit: usize,
    },
    /// A record, message or agent nests JSON arrays and objects deeper than the store keeps.
    #[error(
        "{id:?} nests JSON {depth} levels deep, over the limit of {limit}: flatten the data \
         (deeper documents could not be read back from a durable store's files)"
    )]
    TooDeep {
        /// The session, message or agent id.
        id: String,
        /// How deep it nests, counted up to the first level over the limit.
        depth: usize,
        /// The limit.
        limit: usize,
    },
    /// A session with this id already exists for this user and agent.
    #[error(
        "session {id:?} already exists for user {user_id:?} and agent {agent_id:?}: use \
         `update` to change it, or give the new session another id"
    )]
    DuplicateId {
        /// The owner.
        user_id: String,
        /// The agent.
        agent_id: String,
        /// The session id.
        id: String,
    },
    /// No session with this id exists for this user and agent.
    #[error("session {id:?} not found for user {user_id:?} and agent {agent_id:?}")]
    NotFound {
        /// The owner asked for.
        user_id: String,
        /// The agent asked for.
        agent_id: String,
        /// The session id asked for.
        id: String,
    },
    /// The user already has a registered agent with this id.
    #[error("agent {id:?} is already registered for user {user_id:?}: use `update_agent`, or give the new agent another id")]
    DuplicateAgent {
        /// The owner.
        user_id: String,
        /// The agent id.
        id: String,
    },
    /// The user has no registered agent with this id.
    #[error("agent {id:?} is not registered for user {user_id:?}")]
    AgentNotFound {
        /// The owner asked for.
        user_id: String,
        /// The agent id asked for.
        id: String,
    },
    /// A compare-and-swap update found the session at another version.
    #[error(
        "session {id:?} is at version {actual}, not {expected}: someone else changed it; read \
         it again and retry"
    )]
    VersionConflict {
        /// The session id.
        id: String,
        /// The version the caller expected.
        expected: u64,
        /// The version the session is at.
        actual: u64,
    },
    /// An update tried to change a field that never changes after creation.
    #[error(
        "the update changed `{field}` of session {id:?}, which never changes after creation; \
         the session is unchanged (to move a session, insert a copy and delete the original)"
    )]
    IdentityChanged {
        /// The session id.
        id: String,
        /// `id`, `user_id`, `agent_id` or `created_at`.
        field: &'static str,
    },
    /// A list cursor that this crate did not make, or that was damaged.
    #[error("invalid list cursor: {reason}; use a cursor exactly as a previous page gave it")]
    InvalidCursor {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A record could not be encoded as JSON (a map key that is not a string, say).
    #[error("session {id:?} cannot be encoded as JSON: {source}")]
    Encode {
        /// The session id.
        id: String,
        /// What serde_json said.
        source: serde_json::Error,
    },
    /// A file of a durable store could not be read or written. When this is a journal write
    /// of a change, that change is visible in memory but may not survive a restart, and the
    /// store refuses every later write ([`StoreError::Poisoned`]).
    #[error(
        "I/O error on {}: {source}; check the disk (space, permissions), then reopen the store",
        path.display()
    )]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// A snapshot, manifest or journal file is damaged. Nothing was changed or overwritten.
    #[error(
        "{} is damaged at line {line}, column {column}: {reason}; nothing was changed: restore \
         it from a backup, or move it away to open the store without it",
        path.display()
    )]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The line (from 1) where the damage was found.
        line: usize,
        /// The column (from 1) where the damage was found.
        column: usize,
        /// What is wrong.
        reason: String,
    },
    /// A file was written in a format version this version of the crate cannot read.
    #[error(
        "{} has format version {found}, but this agent-sessions reads only version \
         {supported}: open it with the agent-sessions that wrote it, or a newer one",
        path.display()
    )]
    UnsupportedVersion {
        /// The file.
        path: PathBuf,
        /// The version it says it has.
        found: u64,
        /// The version this crate reads.
        supported: u64,
    },
    /// Another store (in this process or another) has the directory open.
    #[error(
        "{} is locked: another store has this directory open; close that store first, or use \
         another directory",
        path.display()
    )]
    Locked {
        /// The lock file.
        path: PathBuf,
    },
    /// An earlier journal write failed, so the store refuses writes it could not make durable.
    #[error(
        "the store's journal failed earlier ({reason}); writes are refused because they could \
         not be made durable: fix the cause, then reopen the store"
    )]
    Poisoned {
        /// The first failure.
        reason: String,
    },
    /// A networked backend could not be reached, or did not answer within its timeout, or
    /// failed. Retry later: the backend reconnects by itself. A write that failed so may or
    /// may not have been applied.
    #[error(
        "the session backend is unavailable ({reason}); retry later (a write that failed so may \
         or may not have been applied)"
    )]
    Unavailable {
        /// What went wrong, for the logs.
        reason: String,
    },
    /// A durable-store operation (a snapshot) on a store that is in memory only.
    #[error(
        "this store is in memory only: open one with `SessionStore::open(dir)` to take \
         snapshots"
    )]
    NotDurable,
}

impl StoreError {
    /// Whether the backend, not the call, is at fault: [`StoreError::Unavailable`], a
    /// durable store's I/O error, or a journal that failed earlier. The HTTP server answers
    /// these with 503.
    ///
    /// ```
    /// use agent_sessions::StoreError;
    /// assert!(StoreError::Unavailable { reason: "timed out".into() }.is_unavailable());
    /// assert!(!StoreError::EmptyId { field: "id" }.is_unavailable());
    /// ```
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            StoreError::Unavailable { .. } | StoreError::Io { .. } | StoreError::Poisoned { .. }
        )
    }
}
