//! The contract every session backend honours, so code and tests can run on more than one.

use std::sync::Arc;

use crate::model::SessionRecord;
use crate::{ListQuery, ListSessionsResponse, NewSession, SessionStore, StoreError, Versioned};

/// What a session backend promises: the operations of [`SessionStore`] with the same
/// semantics. The in-memory [`SessionStore`] is one; a networked backend (Redis is planned)
/// will be another, and the crate's behavioural tests are written against this trait so they
/// can run on both.
///
/// The semantics, which every implementation keeps:
/// - Sessions are scoped by (user, agent); ids are unique within a scope; nothing one user
///   does is visible to another.
/// - Every failed call leaves the backend unchanged and says why in a [`StoreError`].
/// - `update` is an atomic read-modify-write whose closure may run more than once;
///   `id`, `user_id`, `agent_id` and `created_at` never change.
/// - Every write gives the session a version never used before in the backend.
/// - `list` takes its page and `total` from one instant.
///
/// ```
/// use agent_sessions::{ListQuery, NewSession, SessionBackend, SessionStore};
/// fn newest_name(b: &impl SessionBackend, user: &str, agent: &str) -> Option<String> {
///     let page = b.list(&ListQuery::new(user, agent).limit(1));
///     page.sessions.first().map(|s| s.config.name.clone())
/// }
/// let store = SessionStore::new();
/// store.create(NewSession::new("u", "a").name("hello"))?;
/// assert_eq!(newest_name(&store, "u", "a").as_deref(), Some("hello"));
/// # Ok::<(), agent_sessions::StoreError>(())
/// ```
pub trait SessionBackend: Send + Sync {
    /// See [`SessionStore::create`].
    fn create(&self, new: NewSession) -> Result<Arc<SessionRecord>, StoreError>;
    /// See [`SessionStore::insert`].
    fn insert(&self, record: SessionRecord) -> Result<Arc<SessionRecord>, StoreError>;
    /// See [`SessionStore::get`].
    fn get(&self, user_id: &str, agent_id: &str, id: &str) -> Option<Arc<SessionRecord>>;
    /// See [`SessionStore::get_versioned`].
    fn get_versioned(&self, user_id: &str, agent_id: &str, id: &str) -> Option<Versioned>;
    /// See [`SessionStore::update`].
    fn update<F>(
        &self,
        user_id: &str,
        agent_id: &str,
        id: &str,
        f: F,
    ) -> Result<Arc<SessionRecord>, StoreError>
    where
        F: FnMut(&mut SessionRecord);
    /// See [`SessionStore::update_if_version`].
    fn update_if_version<F>(
        &self,
        user_id: &str,
        agent_id: &str,
        id: &str,
        expected_version: u64,
        f: F,
    ) -> Result<Versioned, StoreError>
    where
        F: FnMut(&mut SessionRecord);
    /// See [`SessionStore::delete`].
    fn delete(
        &self,
        user_id: &str,
        agent_id: &str,
        id: &str,
    ) -> Result<Arc<SessionRecord>, StoreError>;
    /// See [`SessionStore::delete_agent`].
    fn delete_agent(&self, user_id: &str, agent_id: &str) -> Result<usize, StoreError>;
    /// See [`SessionStore::delete_all`].
    fn delete_all(&self, user_id: &str) -> Result<usize, StoreError>;
    /// See [`SessionStore::list`].
    fn list(&self, query: &ListQuery) -> ListSessionsResponse;
    /// See [`SessionStore::list_json`].
    fn list_json(&self, query: &ListQuery) -> Vec<u8>;
    /// See [`SessionStore::count`].
    fn count(&self, user_id: &str, agent_id: &str) -> usize;
}

impl SessionBackend for SessionStore {
    fn create(&self, new: NewSession) -> Result<Arc<SessionRecord>, StoreError> {
        SessionStore::create(self, new)
    }
    fn insert(&self, record: SessionRecord) -> Result<Arc<SessionRecord>, StoreError> {
        SessionStore::insert(self, record)
    }
    fn get(&self, user_id: &str, agent_id: &str, id: &str) -> Option<Arc<SessionRecord>> {
        SessionStore::get(self, user_id, agent_id, id)
    }
    fn get_versioned(&self, user_id: &str, agent_id: &str, id: &str) -> Option<Versioned> {
        SessionStore::get_versioned(self, user_id, agent_id, id)
    }
    fn update<F>(
        &self,
        user_id: &str,
        agent_id: &str,
        id: &str,
        f: F,
    ) -> Result<Arc<SessionRecord>, StoreError>
    where
        F: FnMut(&mut SessionRecord),
    {
        SessionStore::update(self, user_id, agent_id, id, f)
    }
    fn update_if_version<F>(
        &self,
        user_id: &str,
        agent_id: &str,
        id: &str,
        expected_version: u64,
        f: F,
    ) -> Result<Versioned, StoreError>
    where
        F: FnMut(&mut SessionRecord),
    {
        SessionStore::update_if_version(self, user_id, agent_id, id, expected_version, f)
    }
    fn delete(
        &self,
        user_id: &str,
        agent_id: &str,
        id: &str,
    ) -> Result<Arc<SessionRecord>, StoreError> {
        SessionStore::delete(self, user_id, agent_id, id)
    }
    fn delete_agent(&self, user_id: &str, agent_id: &str) -> Result<usize, StoreError> {
        SessionStore::delete_agent(self, user_id, agent_id)
    }
    fn delete_all(&self, user_id: &str) -> Result<usize, StoreError> {
        SessionStore::delete_all(self, user_id)
    }
    fn list(&self, query: &ListQuery) -> ListSessionsResponse {
        SessionStore::list(self, query)
    }
    fn list_json(&self, query: &ListQuery) -> Vec<u8> {
        SessionStore::list_json(self, query)
    }
    fn count(&self, user_id: &str, agent_id: &str) -> usize {
        SessionStore::count(self, user_id, agent_id)
    }
}
