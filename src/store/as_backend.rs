//! The in-memory store as a [`SessionBackend`].
//!
//! Reads are the synchronous ones: they take a partition lock for a few copies and never
//! wait on I/O. Writes run the synchronous write with its journal commit deferred
//! ([`deferred`](super::deferred)), then await the commit: a durable store's fsync is made by
//! a thread of its own, never on the caller's (async runtime) thread.

use std::sync::Arc;

use async_trait::async_trait;

use super::{deferred, SessionStore};
use crate::backend::{AgentChange, SessionChange};
use crate::model::{AgentRecord, AgentState, Msg, SessionRecord};
use crate::{
    JournalStats, ListQuery, ListSessionsResponse, NewSession, SessionBackend, StoreError,
    Versioned,
};

impl SessionStore {
    /// Runs a synchronous write, then waits without blocking until it is durable.
    async fn write_async<T>(
        &self,
        write: impl FnOnce() -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let (out, seq) = deferred::collect(self.id(), write);
        let (Some(seq), Some(durable)) = (seq, self.inner.durable.get()) else {
            return out;
        };
        // Awaited even when the write failed part way (`delete_all` journals in two steps):
        // what it journaled is made durable before the caller hears back.
        let committed = match durable.commit_async(seq) {
            Ok(commit) => commit.await,
            Err(e) => Err(e),
        };
        let value = out?;
        committed.map(|()| value)
    }
}

#[async_trait]
impl SessionBackend for SessionStore {
    async fn create(&self, new: NewSession) -> Result<Versioned, StoreError> {
        let record = new.into_record(crate::model::now());
        SessionBackend::insert(self, record).await
    }

    async fn insert(&self, record: SessionRecord) -> Result<Versioned, StoreError> {
        self.write_async(|| self.insert_versioned(record)).await
    }

    async fn get(
        &self,
        user_id: &str,
        agent_id: &str,
        id: &str,
    ) -> Result<Option<Versioned>, StoreError> {
        Ok(self.get_versioned(user_id, agent_id, id))
    }

    async fn get_json(
        &self,
        user_id: &str,
        agent_id: &str,
        id: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(SessionStore::get_json(self, user_id, agent_id, id))
    }

    async fn find_session(
        &self,
        user_id: &str,
        agent_id: &str,
        id: &str,
    ) -> Result<Option<Versioned>, StoreError> {
        Ok(SessionStore::find_session(self, user_id, agent_id, id))
    }

    async fn update(
        &self,
        user_id: &str,
        agent_id: &str,
        id: &str,
        change: SessionChange<'_>,
    ) -> Result<Versioned, StoreError> {
        self.write_async(|| self.update_versioned(user_id, agent_id, id, change))
            .await
    }

    async fn update_if_version(
        &self,
        user_id: &str,
        agent_id: &str,
        id: &str,
        expected_version: u64,
        change: SessionChange<'_>,
    ) -> Result<Versioned, StoreError> {
        self.write_async(|| {
            SessionStore::update_if_version(self, user_id, agent_id, id, expected_version, change)
        })
        .await
    }

    async fn replace_state(
        &self,
        user_id: &str,
        agent_id: &str,
        id: &str,
        state: AgentState,
    ) -> Result<Versioned, StoreError> {
        self.write_async(|| SessionStore::replace_state(self, user_id, agent_id, id, state))
            .await
    }

    async fn append_context(
        &self,
        user_id: &str,
        agent_id: &str,
        id: &str,
        messages: Vec<Msg>,
    ) -> Result<Versioned, StoreError> {
        self.write_async(|| SessionStore::append_context(self, user_id, agent_id, id, messages))
            .await
    }

    async fn delete(
        &self,
        user_id: &str,
        agent_id: &str,
        id: &str,
    ) -> Result<Arc<SessionRecord>, StoreError> {
        self.write_async(|| SessionStore::delete(self, user_id, agent_id, id))
            .await
    }

    async fn delete_agent(&self, user_id: &str, agent_id: &str) -> Result<usize, StoreError> {
        self.write_async(|| SessionStore::delete_agent(self, user_id, agent_id))
            .await
    }

    async fn delete_all(&self, user_id: &str) -> Result<usize, StoreError> {
        self.write_async(|| SessionStore::delete_all(self, user_id))
            .await
    }

    async fn list(&self, query: &ListQuery) -> Result<ListSessionsResponse, StoreError> {
        Ok(SessionStore::list(self, query))
    }

    async fn list_json(&self, query: &ListQuery) -> Result<Vec<u8>, StoreError> {
        Ok(SessionStore::list_json(self, query))
    }

    async fn count(&self, user_id: &str, agent_id: &str) -> Result<usize, StoreError> {
        Ok(SessionStore::count(self, user_id, agent_id))
    }

    async fn register_agent(&self, record: AgentRecord) -> Result<Arc<AgentRecord>, StoreError> {
        self.write_async(|| SessionStore::register_agent(self, record))
            .await
    }

    async fn agent(&self, user_id: &str, id: &str) -> Result<Option<Arc<AgentRecord>>, StoreError> {
        Ok(SessionStore::agent(self, user_id, id))
    }

    async fn agents(&self, user_id: &str) -> Result<Vec<Arc<AgentRecord>>, StoreError> {
        Ok(SessionStore::agents(self, user_id))
    }

    async fn agent_known(&self, user_id: &str, agent_id: &str) -> Result<bool, StoreError> {
        Ok(SessionStore::agent_known(self, user_id, agent_id))
    }

    async fn update_agent(
        &self,
        user_id: &str,
        id: &str,
        change: AgentChange<'_>,
    ) -> Result<Arc<AgentRecord>, StoreError> {
        self.write_async(|| SessionStore::update_agent(self, user_id, id, change))
            .await
    }

    async fn unregister_agent(
        &self,
        user_id: &str,
        id: &str,
    ) -> Result<Arc<AgentRecord>, StoreError> {
        self.write_async(|| SessionStore::unregister_agent(self, user_id, id))
            .await
    }

    async fn append_message(
        &self,
        user_id: &str,
        agent_id: &str,
        session_id: &str,
        message: Msg,
    ) -> Result<usize, StoreError> {
        self.write_async(|| {
            SessionStore::append_message(self, user_id, agent_id, session_id, message)
        })
        .await
    }

    async fn messages(
        &self,
        user_id: &str,
        agent_id: &str,
        session_id: &str,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<Arc<Msg>>, StoreError> {
        SessionStore::messages(self, user_id, agent_id, session_id, offset, limit)
    }

    async fn messages_before(
        &self,
        user_id: &str,
        agent_id: &str,
        session_id: &str,
        before: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Arc<Msg>>, StoreError> {
        SessionStore::messages_before(self, user_id, agent_id, session_id, before, limit)
    }

    async fn message_count(
        &self,
        user_id: &str,
        agent_id: &str,
        session_id: &str,
    ) -> Result<usize, StoreError> {
        SessionStore::message_count(self, user_id, agent_id, session_id)
    }

    async fn health_check(&self) -> Result<(), StoreError> {
        self.check_writable()
    }

    fn session_count(&self) -> Option<usize> {
        Some(self.len())
    }

    fn journal_stats(&self) -> Option<JournalStats> {
        SessionStore::journal_stats(self)
    }
}
