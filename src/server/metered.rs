//! The backend as the server uses it, with every write timed and every conflict counted for
//! `/metrics` (see [`super::metrics`]). Reads pass through untouched.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;

use super::metrics::Metrics;
use crate::backend::{AgentChange, SessionChange};
use crate::model::{AgentRecord, AgentState, Msg, SessionRecord};
use crate::{
    JournalStats, ListQuery, ListSessionsResponse, NewSession, SessionBackend, StoreError,
    Versioned,
};

/// A backend whose writes the server's metrics see.
#[derive(Debug)]
pub(crate) struct Metered {
    pub(crate) inner: Arc<dyn SessionBackend>,
    pub(crate) metrics: Arc<Metrics>,
}

impl Metered {
    /// Times `write` as the operation `op`.
    async fn timed<T>(
        &self,
        op: &'static str,
        write: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let started = Instant::now();
        let result = write.await;
        self.metrics.write_done(op, started.elapsed(), &result);
        result
    }
}

#[async_trait]
impl SessionBackend for Metered {
    async fn create(&self, new: NewSession) -> Result<Versioned, StoreError> {
        self.timed("create", self.inner.create(new)).await
    }

    async fn insert(&self, record: SessionRecord) -> Result<Versioned, StoreError> {
        self.timed("insert", self.inner.insert(record)).await
    }

    async fn get(
        &self,
        user_id: &str,
        agent_id: &str,
        id: &str,
    ) -> Result<Option<Versioned>, StoreError> {
        self.inner.get(user_id, agent_id, id).await
    }

    async fn get_json(
        &self,
        user_id: &str,
        agent_id: &str,
        id: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.get_json(user_id, agent_id, id).await
    }

    async fn find_session(
        &self,
        user_id: &str,
        agent_id: &str,
        id: &str,
    ) -> Result<Option<Versioned>, StoreError> {
        self.inner.find_session(user_id, agent_id, id).await
    }

    async fn update(
        &self,
        user_id: &str,
        agent_id: &str,
        id: &str,
        change: SessionChange<'_>,
    ) -> Result<Versioned, StoreError> {
        let write = self.inner.update(user_id, agent_id, id, change);
        self.timed("update", write).await
    }

    async fn update_if_version(
        &self,
        user_id: &str,
        agent_id: &str,
        id: &str,
        expected_version: u64,
        change: SessionChange<'_>,
    ) -> Result<Versioned, StoreError> {
        let write = self
            .inner
            .update_if_version(user_id, agent_id, id, expected_version, change);
        self.timed("update", write).await
    }

    async fn replace_state(
        &self,
        user_id: &str,
        agent_id: &str,
        id: &str,
        state: AgentState,
    ) -> Result<Versioned, StoreError> {
        let write = self.inner.replace_state(user_id, agent_id, id, state);
        self.timed("update", write).await
    }

    async fn append_context(
        &self,
        user_id: &str,
        agent_id: &str,
        id: &str,
        messages: Vec<Msg>,
    ) -> Result<Versioned, StoreError> {
        let write = self.inner.append_context(user_id, agent_id, id, messages);
        self.timed("update", write).await
    }

    async fn delete(
        &self,
        user_id: &str,
        agent_id: &str,
        id: &str,
    ) -> Result<Arc<SessionRecord>, StoreError> {
        self.timed("delete", self.inner.delete(user_id, agent_id, id))
            .await
    }

    async fn delete_agent(&self, user_id: &str, agent_id: &str) -> Result<usize, StoreError> {
        self.timed("delete_agent", self.inner.delete_agent(user_id, agent_id))
            .await
    }

    async fn delete_all(&self, user_id: &str) -> Result<usize, StoreError> {
        self.timed("delete_all", self.inner.delete_all(user_id))
            .await
    }

    async fn list(&self, query: &ListQuery) -> Result<ListSessionsResponse, StoreError> {
        self.inner.list(query).await
    }

    async fn list_json(&self, query: &ListQuery) -> Result<Vec<u8>, StoreError> {
        self.inner.list_json(query).await
    }

    async fn count(&self, user_id: &str, agent_id: &str) -> Result<usize, StoreError> {
        self.inner.count(user_id, agent_id).await
    }

    async fn register_agent(&self, record: AgentRecord) -> Result<Arc<AgentRecord>, StoreError> {
        self.timed("register_agent", self.inner.register_agent(record))
            .await
    }

    async fn agent(&self, user_id: &str, id: &str) -> Result<Option<Arc<AgentRecord>>, StoreError> {
        self.inner.agent(user_id, id).await
    }

    async fn agents(&self, user_id: &str) -> Result<Vec<Arc<AgentRecord>>, StoreError> {
        self.inner.agents(user_id).await
    }

    async fn agent_known(&self, user_id: &str, agent_id: &str) -> Result<bool, StoreError> {
        self.inner.agent_known(user_id, agent_id).await
    }

    async fn update_agent(
        &self,
        user_id: &str,
        id: &str,
        change: AgentChange<'_>,
    ) -> Result<Arc<AgentRecord>, StoreError> {
        self.timed("update_agent", self.inner.update_agent(user_id, id, change))
            .await
    }

    async fn unregister_agent(
        &self,
        user_id: &str,
        id: &str,
    ) -> Result<Arc<AgentRecord>, StoreError> {
        self.timed("unregister_agent", self.inner.unregister_agent(user_id, id))
            .await
    }

    async fn append_message(
        &self,
        user_id: &str,
        agent_id: &str,
        session_id: &str,
        message: Msg,
    ) -> Result<usize, StoreError> {
        let write = self
            .inner
            .append_message(user_id, agent_id, session_id, message);
        self.timed("append_message", write).await
    }

    async fn messages(
        &self,
        user_id: &str,
        agent_id: &str,
        session_id: &str,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<Arc<Msg>>, StoreError> {
        self.inner
            .messages(user_id, agent_id, session_id, offset, limit)
            .await
    }

    async fn messages_before(
        &self,
        user_id: &str,
        agent_id: &str,
        session_id: &str,
        before: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Arc<Msg>>, StoreError> {
        self.inner
            .messages_before(user_id, agent_id, session_id, before, limit)
            .await
    }

    async fn message_count(
        &self,
        user_id: &str,
        agent_id: &str,
        session_id: &str,
    ) -> Result<usize, StoreError> {
        self.inner
            .message_count(user_id, agent_id, session_id)
            .await
    }

    async fn health_check(&self) -> Result<(), StoreError> {
        self.inner.health_check().await
    }

    fn session_count(&self) -> Option<usize> {
        self.inner.session_count()
    }

    fn journal_stats(&self) -> Option<JournalStats> {
        self.inner.journal_stats()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SessionStore;

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    /// The `/metrics` text of `metrics`.
    fn rendered(metrics: &Metrics) -> String {
        let body = metrics.render().into_body();
        let bytes = block_on(axum::body::to_bytes(body, usize::MAX)).unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[test]
    fn writes_are_timed_and_refused_writes_counted_by_error() {
        let store = SessionStore::new();
        let inner: Arc<dyn SessionBackend> = Arc::new(store.clone());
        let metrics = Arc::new(Metrics::new(Arc::clone(&inner)));
        let metered = Metered {
            inner,
            metrics: Arc::clone(&metrics),
        };
        let created = block_on(metered.create(NewSession::new("u", "a"))).unwrap();
        let id = created.record.id.clone();
        let stale = created.version + 100;
        let refused = block_on(metered.update_if_version("u", "a", &id, stale, &mut |_| {}));
        assert!(matches!(refused, Err(StoreError::VersionConflict { .. })));
        let again = Arc::unwrap_or_clone(created.record);
        let duplicate = block_on(metered.insert(again));
        assert!(matches!(duplicate, Err(StoreError::DuplicateId { .. })));
        // Reads are not writes.
        block_on(metered.get("u", "a", &id)).unwrap();
        let text = rendered(&metrics);
        for line in [
            r#"agent_sessions_store_conflicts_total{error="version"} 1"#,
            r#"agent_sessions_store_conflicts_total{error="duplicate"} 1"#,
            r#"agent_sessions_store_write_duration_seconds_count{op="create"} 1"#,
            r#"agent_sessions_store_write_duration_seconds_count{op="update"} 1"#,
            r#"agent_sessions_store_write_duration_seconds_count{op="insert"} 1"#,
            "agent_sessions_sessions 1",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} not in\n{text}");
        }
        assert!(!text.contains(r#"op="get""#), "{text}");
    }
}
