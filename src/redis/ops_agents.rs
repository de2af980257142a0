//! The agent registry: registration order, compare-and-swap updates, unregistering with the
//! agent's sessions in one script.

use std::sync::Arc;

use redis::Value;

use super::reply::{self, damaged};
use super::scripts;
use super::RedisBackend;
use crate::backend::{agent_not_found, check_id, AgentChange};
use crate::encode::encode_json;
use crate::model::{now, truncate_micros, AgentRecord};
use crate::StoreError;

impl RedisBackend {
    pub(super) async fn register(
        &self,
        mut record: AgentRecord,
    ) -> Result<Arc<AgentRecord>, StoreError> {
        check_id("user_id", &record.user_id, self.inner.max_id_bytes)?;
        check_id("agent_id", &record.id, self.inner.max_id_bytes)?;
        record.created_at = truncate_micros(record.created_at);
        record.updated_at = truncate_micros(record.updated_at);
        // The limit applies to the agent's data as the caller gave it, like a request body.
        let json = encode_json(&record.id, &record, 1)?;
        let user = self.user_keys(&record.user_id);
        let mut call = scripts::REGISTER_AGENT.prepare_invoke();
        call.key(user.agents())
            .key(user.agent_order())
            .key(user.counters())
            .arg(&record.id)
            .arg(&json);
        match reply::int(&self.inner.conn.script(&call).await?)? {
            1 => Ok(Arc::new(record)),
            0 => Err(StoreError::DuplicateAgent {
                user_id: record.user_id,
                id: record.id,
            }),
            n => Err(damaged(&format!("register_agent answered {n}"))),
        }
    }

    /// The agent and its JSON as stored.
    async fn agent_with_json(
        &self,
        user_id: &str,
        id: &str,
    ) -> Result<Option<(Arc<AgentRecord>, Vec<u8>)>, StoreError> {
        if user_id.is_empty() {
            return Ok(None);
        }
        let mut cmd = redis::cmd("HGET");
        cmd.arg(self.user_keys(user_id).agents()).arg(id);
        match self.inner.conn.command(&cmd).await? {
            Value::Nil => Ok(None),
            v => {
                let json = reply::bytes(v)?;
                Ok(Some((reply::decode(&json, "an agent")?, json)))
            }
        }
    }

    pub(super) async fn agent_record(
        &self,
        user_id: &str,
        id: &str,
    ) -> Result<Option<Arc<AgentRecord>>, StoreError> {
        Ok(self.agent_with_json(user_id, id).await?.map(|(a, _)| a))
    }

    pub(super) async fn agent_records(
        &self,
        user_id: &str,
    ) -> Result<Vec<Arc<AgentRecord>>, StoreError> {
        if user_id.is_empty() {
            return Ok(Vec::new());
        }
        let user = self.user_keys(user_id);
        let mut call = scripts::AGENTS.prepare_invoke();
        call.key(user.agents()).key(user.agent_order());
        reply::array(self.inner.conn.script(&call).await?)?
            .into_iter()
            .map(|v| reply::decode(&reply::bytes(v)?, "an agent"))
            .collect()
    }

    pub(super) async fn is_agent_known(
        &self,
        user_id: &str,
        agent_id: &str,
    ) -> Result<bool, StoreError> {
        if user_id.is_empty() {
            return Ok(false);
        }
        let user = self.user_keys(user_id);
        let mut call = scripts::AGENT_KNOWN.prepare_invoke();
        call.key(user.agents())
            .key(user.scope(agent_id).records())
            .arg(agent_id);
        Ok(reply::int(&self.inner.conn.script(&call).await?)? == 1)
    }

    pub(super) async fn change_agent(
        &self,
        user_id: &str,
        id: &str,
        change: AgentChange<'_>,
    ) -> Result<Arc<AgentRecord>, StoreError> {
        let user = self.user_keys(user_id);
        loop {
            let (current, read) = self
                .agent_with_json(user_id, id)
                .await?
                .ok_or_else(|| agent_not_found(user_id, id))?;
            let mut copy = AgentRecord::clone(&current);
            change(&mut copy.data);
            copy.updated_at = now().max(current.updated_at);
            let json = encode_json(&copy.id, &copy, 1)?;
            let mut call = scripts::REPLACE_AGENT.prepare_invoke();
            call.key(user.agents()).arg(id).arg(&read).arg(&json);
            match reply::int(&self.inner.conn.script(&call).await?)? {
                2 => return Ok(Arc::new(copy)),
                1 => {} // changed meanwhile: run the change again on the new version
                0 => return Err(agent_not_found(user_id, id)),
                n => return Err(damaged(&format!("update_agent answered {n}"))),
            }
        }
    }

    pub(super) async fn unregister(
        &self,
        user_id: &str,
        id: &str,
    ) -> Result<Arc<AgentRecord>, StoreError> {
        if user_id.is_empty() {
            return Err(agent_not_found(user_id, id));
        }
        let user = self.user_keys(user_id);
        let mut call = scripts::UNREGISTER_AGENT.prepare_invoke();
        call.key(user.agents_with_sessions())
            .key(user.agents())
            .key(user.agent_order())
            .arg(id)
            .arg(&user.scope(id).agent);
        let mut items = reply::array(self.inner.conn.script(&call).await?)?.into_iter();
        match items.next() {
            None => Err(agent_not_found(user_id, id)),
            Some(json) => reply::decode(&reply::bytes(json)?, "an agent"),
        }
    }
}
