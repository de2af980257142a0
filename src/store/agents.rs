//! The agent registry: which agents a user has registered (AgentScope's `/agent/`).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::SessionStore;
use crate::backend::agent_not_found;
use crate::encode::encode_json;
use crate::model::{now, truncate_micros, AgentRecord, Object};
use crate::persist::{agent_del_line, agent_put_line};
use crate::StoreError;

impl SessionStore {
    /// Registers an agent for its `user_id`; fails with [`StoreError::DuplicateAgent`] if
    /// the user already has one with its id.
    ///
    /// An agent is *known* to a user ([`SessionStore::agent_known`]) when it is registered or
    /// has sessions; AgentScope's HTTP API answers 404 for agents that are not.
    ///
    /// ```
    /// use agent_sessions::model::{AgentRecord, Object};
    /// use agent_sessions::SessionStore;
    /// let store = SessionStore::new();
    /// let mut data = Object::new();
    /// data.insert("name".into(), "bot".into());
    /// let agent = store.register_agent(AgentRecord::new("u", data))?;
    /// assert!(store.agent_known("u", &agent.id));
    /// assert!(!store.agent_known("v", &agent.id));
    /// assert_eq!(store.agents("u").len(), 1);
    /// # Ok::<(), agent_sessions::StoreError>(())
    /// ```
    pub fn register_agent(&self, mut record: AgentRecord) -> Result<Arc<AgentRecord>, StoreError> {
        self.check_writable()?;
        self.check_id("user_id", &record.user_id)?;
        self.check_id("agent_id", &record.id)?;
        record.created_at = truncate_micros(record.created_at);
        record.updated_at = truncate_micros(record.updated_at);
        let record = Arc::new(record);
        let line = self.encode_agent(&record)?;
        let seq = {
            let mut agents = self
                .inner
                .agents
                .entry(record.user_id.as_str().into())
                .or_default();
            if agents.contains_key(record.id.as_str()) {
                return Err(StoreError::DuplicateAgent {
                    user_id: record.user_id.clone(),
                    id: record.id.clone(),
                });
            }
            agents.insert(record.id.as_str().into(), Arc::clone(&record));
            self.log_agent(line)
        };
        self.commit(seq)?;
        Ok(record)
    }

    /// The registered agent `id` of `user_id`.
    pub fn agent(&self, user_id: &str, id: &str) -> Option<Arc<AgentRecord>> {
        self.inner.agents.get(user_id)?.get(id).cloned()
    }

    /// Every agent `user_id` registered, in the order they were registered.
    pub fn agents(&self, user_id: &str) -> Vec<Arc<AgentRecord>> {
        self.inner
            .agents
            .get(user_id)
            .map(|a| a.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Whether `agent_id` is known to `user_id`: registered, or with at least one session.
    pub fn agent_known(&self, user_id: &str, agent_id: &str) -> bool {
        self.agent(user_id, agent_id).is_some() || self.count(user_id, agent_id) > 0
    }

    /// Changes a registered agent's `data` (its `id` and owner never change) and sets
    /// `updated_at` to now. `f` runs on a copy, with no lock held; fails with
    /// [`StoreError::AgentNotFound`] if the user has no such agent.
    ///
    /// ```
    /// use agent_sessions::model::{AgentRecord, Object};
    /// use agent_sessions::SessionStore;
    /// let store = SessionStore::new();
    /// let agent = store.register_agent(AgentRecord::new("u", Object::new()))?;
    /// let agent = store.update_agent("u", &agent.id, |d| {
    ///     d.insert("name".into(), "renamed".into());
    /// })?;
    /// assert_eq!(agent.name(), Some("renamed"));
    /// # Ok::<(), agent_sessions::StoreError>(())
    /// ```
    pub fn update_agent(
        &self,
        user_id: &str,
        id: &str,
        mut f: impl FnMut(&mut Object),
    ) -> Result<Arc<AgentRecord>, StoreError> {
        self.check_writable()?;
        let not_found = || agent_not_found(user_id, id);
        loop {
            let current = self.agent(user_id, id).ok_or_else(not_found)?;
            let mut copy = AgentRecord::clone(&current);
            f(&mut copy.data);
            copy.updated_at = now().max(current.updated_at);
            let record = Arc::new(copy);
            let line = self.encode_agent(&record)?;
            let seq = {
                let mut agents = self.inner.agents.get_mut(user_id).ok_or_else(not_found)?;
                let slot = agents.get_mut(id).ok_or_else(not_found)?;
                if !Arc::ptr_eq(slot, &current) {
                    continue; // changed meanwhile: run f again on the new version
                }
                *slot = Arc::clone(&record);
                self.log_agent(line)
            };
            self.commit(seq)?;
            return Ok(record);
        }
    }

    /// Unregisters agent `id` of `user_id` and deletes its sessions; returns the agent.
    /// Fails with [`StoreError::AgentNotFound`] if it was not registered.
    pub fn unregister_agent(
        &self,
        user_id: &str,
        id: &str,
    ) -> Result<Arc<AgentRecord>, StoreError> {
        self.check_writable()?;
        let not_found = || agent_not_found(user_id, id);
        let (removed, seq) = {
            let mut agents = self.inner.agents.get_mut(user_id).ok_or_else(not_found)?;
            let removed = agents.shift_remove(id).ok_or_else(not_found)?;
            let seq = self.log_agent(self.journal_line(|| agent_del_line(user_id, [id])));
            (removed, seq)
        };
        self.inner.agents.remove_if(user_id, |_, a| a.is_empty());
        self.commit(seq)?;
        self.delete_agent(user_id, id)?;
        Ok(removed)
    }

    /// Removes every registered agent of `user_id` (part of [`SessionStore::delete_all`]).
    pub(super) fn unregister_all(&self, user_id: &str) -> Result<(), StoreError> {
        let seq = match self.inner.agents.remove(user_id) {
            Some((_, agents)) if !agents.is_empty() => {
                let line =
                    self.journal_line(|| agent_del_line(user_id, agents.keys().map(|k| &**k)));
                self.log_agent(line)
            }
            _ => None,
        };
        self.commit(seq)
    }

    /// Replays an agent journal line, or loads one from a snapshot.
    pub(super) fn load_agent_put(&self, record: AgentRecord) {
        let mut agents = self
            .inner
            .agents
            .entry(record.user_id.as_str().into())
            .or_default();
        agents.insert(record.id.as_str().into(), Arc::new(record));
    }

    /// Replays an `agent_del` journal line.
    pub(super) fn load_agent_del(&self, user_id: &str, ids: &[String]) {
        if let Some(mut agents) = self.inner.agents.get_mut(user_id) {
            for id in ids {
                agents.shift_remove(id.as_str());
            }
        }
        self.inner.agents.remove_if(user_id, |_, a| a.is_empty());
    }

    /// Checks the agent's depth and, for a durable store, makes its journal line; before any
    /// lock is taken.
    fn encode_agent(&self, record: &AgentRecord) -> Result<Option<Vec<u8>>, StoreError> {
        // The limit applies to the agent's data as the caller gave it, like a request body.
        let json = encode_json(&record.id, record, 1)?;
        Ok(self.journal_line(|| agent_put_line(&json)))
    }

    /// Like `log` for a partition: counts a change of the agent registry and appends its line.
    fn log_agent(&self, line: Option<Vec<u8>>) -> Option<u64> {
        let durable = self.inner.durable.get()?;
        durable.agent_changes.fetch_add(1, Ordering::Relaxed);
        Some(durable.journal.append_line(&line?))
    }
}
