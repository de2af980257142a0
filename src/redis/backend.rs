//! [`RedisBackend`] as a [`SessionBackend`]: every call bounded by the backend's timeout.

use std::sync::Arc;

use async_trait::async_trait;

use super::RedisBackend;
use crate::backend::{AgentChange, SessionChange};
use crate::model::{now, AgentRecord, Msg, SessionRecord};
use crate::{ListQuery, ListSessionsResponse, NewSession, SessionBackend, StoreError, Versioned};

#[async_trait]
impl SessionBackend for RedisBackend {
    async fn create(&self, new: NewSession) -> Result<Versioned, StoreError> {
        self.bounded(self.insert_record(new.into_record(now())))
            .await
    }

    async fn insert(&self, record: SessionRecord) -> Result<Versioned, StoreError> {
        self.bounded(self.insert_record(record)).await
    }

    async fn get(
        &self,
        user_id: &str,
        agent_id: &str,
        id: &str,
    ) -> Result<Option<Versioned>, StoreError> {
        self.bounded(self.get_versioned(user_id, agent_id, id))
            .await
    }

    async fn get_json(
        &self,
        user_id: &str,
        agent_id: &str,
        id: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        self.bounded(self.get_json_bytes(user_id, agent_id, id))
            .await
    }

    async fn find_session(
        &self,
        user_id: &str,
        agent_id: &str,
        id: &str,
    ) -> Result<Option<Versioned>, StoreError> {
        self.bounded(self.find(user_id, agent_id, id)).await
    }

    async fn update(
        &self,
        user_id: &str,
        agent_id: &str,
        id: &str,
        change: SessionChange<'_>,
    ) -> Result<Versioned, StoreError> {
        self.bounded(self.update_record(user_id, agent_id, id, None, change))
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
        self.bounded(self.update_record(user_id, agent_id, id, Some(expected_version), change))
            .await
    }

    async fn delete(
        &self,
        user_id: &str,
        agent_id: &str,
        id: &str,
    ) -> Result<Arc<SessionRecord>, StoreError> {
        self.bounded(self.delete_record(user_id, agent_id, id))
            .await
    }

    async fn delete_agent(&self, user_id: &str, agent_id: &str) -> Result<usize, StoreError> {
        self.bounded(self.delete_scope(user_id, agent_id)).await
    }

    async fn delete_all(&self, user_id: &str) -> Result<usize, StoreError> {
        self.bounded(self.delete_user(user_id)).await
    }

    async fn list(&self, query: &ListQuery) -> Result<ListSessionsResponse, StoreError> {
        self.bounded(self.list_page(query)).await
    }

    async fn list_json(&self, query: &ListQuery) -> Result<Vec<u8>, StoreError> {
        self.bounded(self.list_bytes(query)).await
    }

    async fn count(&self, user_id: &str, agent_id: &str) -> Result<usize, StoreError> {
        self.bounded(self.count_scope(user_id, agent_id)).await
    }

    async fn register_agent(&self, record: AgentRecord) -> Result<Arc<AgentRecord>, StoreError> {
        self.bounded(self.register(record)).await
    }

    async fn agent(&self, user_id: &str, id: &str) -> Result<Option<Arc<AgentRecord>>, StoreError> {
        self.bounded(self.agent_record(user_id, id)).await
    }

    async fn agents(&self, user_id: &str) -> Result<Vec<Arc<AgentRecord>>, StoreError> {
        self.bounded(self.agent_records(user_id)).await
    }

    async fn agent_known(&self, user_id: &str, agent_id: &str) -> Result<bool, StoreError> {
        self.bounded(self.is_agent_known(user_id, agent_id)).await
    }

    async fn update_agent(
        &self,
        user_id: &str,
        id: &str,
        change: AgentChange<'_>,
    ) -> Result<Arc<AgentRecord>, StoreError> {
        self.bounded(self.change_agent(user_id, id, change)).await
    }

    async fn unregister_agent(
        &self,
        user_id: &str,
        id: &str,
    ) -> Result<Arc<AgentRecord>, StoreError> {
        self.bounded(self.unregister(user_id, id)).await
    }

    async fn append_message(
        &self,
        user_id: &str,
        agent_id: &str,
        session_id: &str,
        message: Msg,
    ) -> Result<usize, StoreError> {
        self.bounded(self.append(user_id, agent_id, session_id, &message))
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
        self.bounded(self.message_page(user_id, agent_id, session_id, offset, limit))
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
        self.bounded(self.message_page_before(user_id, agent_id, session_id, before, limit))
            .await
    }

    async fn message_count(
        &self,
        user_id: &str,
        agent_id: &str,
        session_id: &str,
    ) -> Result<usize, StoreError> {
        self.bounded(self.count_messages(user_id, agent_id, session_id))
            .await
    }

    async fn health_check(&self) -> Result<(), StoreError> {
        self.bounded(async {
            match self.inner.conn.command(&redis::cmd("PING")).await? {
                redis::Value::SimpleString(s) if s == "PONG" => Ok(()),
                other => Err(super::reply::damaged(&format!("PING answered {other:?}"))),
            }
        })
        .await
    }
}
