//! The contract every session backend honours, and the query types every backend shares.
//!
//! [`SessionBackend`] is async and object-safe: the HTTP server, and code that should run on
//! more than one backend, hold an `Arc<dyn SessionBackend>`. The in-memory
//! [`SessionStore`](crate::SessionStore) honours it (and keeps its own synchronous API); the
//! Redis backend (feature `redis`) is another.

mod new_session;
mod query;

use std::sync::Arc;

use async_trait::async_trait;

use crate::model::{AgentRecord, AgentState, Msg, Object, SessionRecord};
use crate::{JournalStats, ListSessionsResponse, StoreError};

pub use new_session::NewSession;
pub use query::{Cursor, ListQuery, Order, UnknownOrder};

/// A session with the version it was read or written at.
///
/// Every write of a session (create, insert, update) gives it a new version, larger than any
/// the backend gave before, so a version never names two different states, not even across a
/// delete and a re-create with the same id. Give the version back to
/// [`SessionBackend::update_if_version`] for a compare-and-swap.
///
/// ```
/// use agent_sessions::{NewSession, SessionStore};
/// let store = SessionStore::new();
/// let rec = store.create(NewSession::new("u", "a"))?;
/// let v = store.get_versioned("u", "a", &rec.id).unwrap();
/// assert_eq!(v.record, rec);
/// # Ok::<(), agent_sessions::StoreError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Versioned {
    /// The session.
    pub record: Arc<SessionRecord>,
    /// Its version.
    pub version: u64,
}

/// A change an update makes to a private copy of a session. It may run more than once (see
/// [`SessionBackend::update`]).
pub type SessionChange<'a> = &'a mut (dyn FnMut(&mut SessionRecord) + Send);

/// A change an update makes to a private copy of an agent's `data`.
pub type AgentChange<'a> = &'a mut (dyn FnMut(&mut Object) + Send);

/// What a session backend promises. The in-memory [`SessionStore`](crate::SessionStore) is
/// one; the Redis backend (feature `redis`) is another. The crate's behavioural tests
/// (`tests/contract/`) run unchanged on every backend.
///
/// Every call is async and can fail. The semantics, which every implementation keeps:
/// - Sessions are scoped by (user, agent); ids are unique within a scope; nothing one user
///   does is visible to another.
/// - A call refused for its input (a [`StoreError`] other than
///   [`StoreError::Unavailable`]) leaves the backend unchanged.
/// - [`StoreError::Unavailable`] means the backend could not be reached or did not answer in
///   time: retry later. A write that fails so may or may not have been applied.
/// - `update` is an atomic read-modify-write whose closure may run more than once;
///   `id`, `user_id`, `agent_id` and `created_at` never change.
/// - Every write gives the session a version never used before in the backend.
/// - `list` takes its page and `total` from one instant.
///
/// ```
/// use std::sync::Arc;
/// use agent_sessions::{ListQuery, NewSession, SessionBackend, SessionStore, StoreError};
///
/// async fn newest_name(b: &dyn SessionBackend, user: &str, agent: &str) -> Result<Option<String>, StoreError> {
///     let page = b.list(&ListQuery::new(user, agent).limit(1)).await?;
///     Ok(page.sessions.first().map(|s| s.config.name.clone()))
/// }
///
/// # fn block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     let waker = std::task::Waker::noop();
/// #     let mut cx = std::task::Context::from_waker(&waker);
/// #     let mut f = std::pin::pin!(f);
/// #     loop { if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v; } }
/// # }
/// let backend: Arc<dyn SessionBackend> = Arc::new(SessionStore::new());
/// block_on(async {
///     backend.create(NewSession::new("u", "a").name("hello")).await?;
///     assert_eq!(newest_name(&*backend, "u", "a").await?.as_deref(), Some("hello"));
///     Ok::<(), StoreError>(())
/// })?;
/// # Ok::<(), StoreError>(())
/// ```
#[async_trait]
pub trait SessionBackend: Send + Sync + std::fmt::Debug {
    /// Creates a session with AgentScope's defaults for whatever `new` leaves unset. Fails
    /// with [`StoreError::DuplicateId`] if the scope already has its id.
    async fn create(&self, new: NewSession) -> Result<Versioned, StoreError>;

    /// Imports a full record as it is (ids, timestamps, state), timestamps kept to the
    /// microsecond. Fails with [`StoreError::DuplicateId`] if the scope already has its id.
    async fn insert(&self, record: SessionRecord) -> Result<Versioned, StoreError>;

    /// The session `id` of `user_id` with `agent_id` and its version, if there is one.
    async fn get(
        &self,
        user_id: &str,
        agent_id: &str,
        id: &str,
    ) -> Result<Option<Versioned>, StoreError>;

    /// The session's compact JSON, exactly `serde_json::to_vec(&*record)`.
    async fn get_json(
        &self,
        user_id: &str,
        agent_id: &str,
        id: &str,
    ) -> Result<Option<Vec<u8>>, StoreError>;

    /// The session `id` of `user_id`, looked up under `agent_id` first, then under the user's
    /// other agents (in byte order of their ids); `None` if the user has no session with
    /// this id. AgentScope's HTTP API finds a session whatever agent a request names.
    async fn find_session(
        &self,
        user_id: &str,
        agent_id: &str,
        id: &str,
    ) -> Result<Option<Versioned>, StoreError>;

    /// Changes a session atomically: `change` gets a private copy of the record, and the copy
    /// replaces the session with `updated_at` set to now and the version bumped. If another
    /// writer changed the session meanwhile, `change` runs again on the new version. If it
    /// changes `id`, `user_id`, `agent_id` or `created_at`, the update fails with
    /// [`StoreError::IdentityChanged`].
    async fn update(
        &self,
        user_id: &str,
        agent_id: &str,
        id: &str,
        change: SessionChange<'_>,
    ) -> Result<Versioned, StoreError>;

    /// Like [`SessionBackend::update`], but only if the session is still at
    /// `expected_version`; else fails with [`StoreError::VersionConflict`].
    async fn update_if_version(
        &self,
        user_id: &str,
        agent_id: &str,
        id: &str,
        expected_version: u64,
        change: SessionChange<'_>,
    ) -> Result<Versioned, StoreError>;

    /// Replaces the session's `state` (AgentScope's `update_session_state`), as an
    /// [`SessionBackend::update`] that sets `state` would. Backends with a cheaper way
    /// override it.
    async fn replace_state(
        &self,
        user_id: &str,
        agent_id: &str,
        id: &str,
        state: AgentState,
    ) -> Result<Versioned, StoreError> {
        self.update(user_id, agent_id, id, &mut |r| r.state = state.clone())
            .await
    }

    /// Appends `messages` to the session's `state.context`, as an [`SessionBackend::update`]
    /// that pushes them would. Backends with a cheaper way override it.
    async fn append_context(
        &self,
        user_id: &str,
        agent_id: &str,
        id: &str,
        messages: Vec<Msg>,
    ) -> Result<Versioned, StoreError> {
        let messages: Vec<Arc<Msg>> = messages.into_iter().map(Arc::new).collect();
        self.update(user_id, agent_id, id, &mut |r| {
            r.state.context.extend(messages.iter().cloned());
        })
        .await
    }

    /// Removes a session (and its message history) and returns it; fails with
    /// [`StoreError::NotFound`] if there is none.
    async fn delete(
        &self,
        user_id: &str,
        agent_id: &str,
        id: &str,
    ) -> Result<Arc<SessionRecord>, StoreError>;

    /// Removes every session of `user_id` with `agent_id` (and their histories); returns how
    /// many there were. The agent's registration stays.
    async fn delete_agent(&self, user_id: &str, agent_id: &str) -> Result<usize, StoreError>;

    /// Removes every session of `user_id` with every agent, and unregisters the user's
    /// agents (erasure of a user's data); returns how many sessions there were.
    async fn delete_all(&self, user_id: &str) -> Result<usize, StoreError>;

    /// A page of the scope's sessions and how many match in all, from one instant.
    async fn list(&self, query: &ListQuery) -> Result<ListSessionsResponse, StoreError>;

    /// The list answer as JSON bytes: the same bytes as `serde_json::to_vec(&list(query))`.
    async fn list_json(&self, query: &ListQuery) -> Result<Vec<u8>, StoreError>;

    /// How many sessions `user_id` has with `agent_id`.
    async fn count(&self, user_id: &str, agent_id: &str) -> Result<usize, StoreError>;

    /// Registers an agent for its `user_id`; fails with [`StoreError::DuplicateAgent`] if the
    /// user already has one with its id.
    async fn register_agent(&self, record: AgentRecord) -> Result<Arc<AgentRecord>, StoreError>;

    /// The registered agent `id` of `user_id`.
    async fn agent(&self, user_id: &str, id: &str) -> Result<Option<Arc<AgentRecord>>, StoreError>;

    /// Every agent `user_id` registered, in the order they were registered.
    async fn agents(&self, user_id: &str) -> Result<Vec<Arc<AgentRecord>>, StoreError>;

    /// Whether `agent_id` is known to `user_id`: registered, or with at least one session.
    async fn agent_known(&self, user_id: &str, agent_id: &str) -> Result<bool, StoreError> {
        Ok(self.agent(user_id, agent_id).await?.is_some()
            || self.count(user_id, agent_id).await? > 0)
    }

    /// Changes a registered agent's `data` and sets `updated_at` to now; `change` runs on a
    /// copy and may run more than once. Fails with [`StoreError::AgentNotFound`] if the user
    /// has no such agent.
    async fn update_agent(
        &self,
        user_id: &str,
        id: &str,
        change: AgentChange<'_>,
    ) -> Result<Arc<AgentRecord>, StoreError>;

    /// Unregisters agent `id` of `user_id` and deletes its sessions; returns the agent. Fails
    /// with [`StoreError::AgentNotFound`] if it was not registered.
    async fn unregister_agent(
        &self,
        user_id: &str,
        id: &str,
    ) -> Result<Arc<AgentRecord>, StoreError>;

    /// Appends `message` to the session's history and returns its index (from 0); a message
    /// with the same id as the last one replaces it (a reply streamed in parts). Fails with
    /// [`StoreError::NotFound`] if there is no such session.
    async fn append_message(
        &self,
        user_id: &str,
        agent_id: &str,
        session_id: &str,
        message: Msg,
    ) -> Result<usize, StoreError>;

    /// Up to `limit` messages of the session's history from `offset`, oldest first.
    async fn messages(
        &self,
        user_id: &str,
        agent_id: &str,
        session_id: &str,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<Arc<Msg>>, StoreError>;

    /// Up to `limit` messages, newest first, older than the message with id `before` (or
    /// from the newest). Fails with [`StoreError::InvalidCursor`] if the history has no
    /// message `before`.
    async fn messages_before(
        &self,
        user_id: &str,
        agent_id: &str,
        session_id: &str,
        before: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Arc<Msg>>, StoreError>;

    /// How many messages the session's history holds.
    async fn message_count(
        &self,
        user_id: &str,
        agent_id: &str,
        session_id: &str,
    ) -> Result<usize, StoreError>;

    /// `Ok` when the backend can serve: for a readiness probe. A networked backend makes a
    /// round trip; a durable store checks that its journal has not failed.
    async fn health_check(&self) -> Result<(), StoreError>;

    /// How many sessions the backend holds, where it can tell without a scan or a round trip
    /// (for metrics); `None` where it cannot (the default; the Redis backend).
    ///
    /// ```
    /// use agent_sessions::{NewSession, SessionBackend, SessionStore};
    /// let store = SessionStore::new();
    /// store.create(NewSession::new("u", "a"))?;
    /// assert_eq!(SessionBackend::session_count(&store), Some(1));
    /// # Ok::<(), agent_sessions::StoreError>(())
    /// ```
    fn session_count(&self) -> Option<usize> {
        None
    }

    /// What the backend's journal has done, for a durable store (see [`JournalStats`]);
    /// `None` for a backend without one (the default).
    fn journal_stats(&self) -> Option<JournalStats> {
        None
    }
}

/// Refuses an empty id, or one longer than `limit` bytes: the id rule every backend keeps.
pub(crate) fn check_id(field: &'static str, value: &str, limit: usize) -> Result<(), StoreError> {
    if value.is_empty() {
        return Err(StoreError::EmptyId { field });
    }
    if value.len() > limit {
        return Err(StoreError::IdTooLong {
            field,
            len: value.len(),
            limit,
        });
    }
    Ok(())
}

/// [`check_id`] for a session's three ids.
pub(crate) fn check_ids(
    user_id: &str,
    agent_id: &str,
    id: &str,
    limit: usize,
) -> Result<(), StoreError> {
    check_id("user_id", user_id, limit)?;
    check_id("agent_id", agent_id, limit)?;
    check_id("id", id, limit)
}

/// Refuses an update that changed a field that never changes after creation.
pub(crate) fn check_identity(
    before: &SessionRecord,
    after: &SessionRecord,
) -> Result<(), StoreError> {
    let field = if after.id != before.id {
        "id"
    } else if after.user_id != before.user_id {
        "user_id"
    } else if after.agent_id != before.agent_id {
        "agent_id"
    } else if after.created_at != before.created_at {
        "created_at"
    } else {
        return Ok(());
    };
    Err(StoreError::IdentityChanged {
        id: before.id.clone(),
        field,
    })
}

/// The error for a session that is not there.
pub(crate) fn not_found(user_id: &str, agent_id: &str, id: &str) -> StoreError {
    StoreError::NotFound {
        user_id: user_id.to_owned(),
        agent_id: agent_id.to_owned(),
        id: id.to_owned(),
    }
}

/// The error for an agent that is not registered.
pub(crate) fn agent_not_found(user_id: &str, id: &str) -> StoreError {
    StoreError::AgentNotFound {
        user_id: user_id.to_owned(),
        id: id.to_owned(),
    }
}

/// The list answer's bytes around its sessions: `HEAD`, the sessions joined by commas, `TAIL`,
/// the total, `}`.
pub(crate) mod list_body {
    /// What comes before the first session.
    pub(crate) const HEAD: &[u8] = b"{\"sessions\":[";
    /// What comes between the last session and the total.
    pub(crate) const TAIL: &[u8] = b"],\"total\":";
    /// The answer of an empty list.
    pub(crate) const EMPTY: &[u8] = b"{\"sessions\":[],\"total\":0}";

    /// The whole answer from each session's compact JSON and the total.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) fn join<'a>(sessions: impl IntoIterator<Item = &'a [u8]>, total: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(4096);
        out.extend_from_slice(HEAD);
        for (i, s) in sessions.into_iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(s);
        }
        finish(&mut out, total);
        out
    }

    /// Appends `TAIL`, the total and the closing brace.
    pub(crate) fn finish(out: &mut Vec<u8>, total: usize) {
        out.extend_from_slice(TAIL);
        // Writing to a Vec cannot fail.
        let _ = std::io::Write::write_fmt(out, format_args!("{total}"));
        out.push(b'}');
    }
}
