//! The state-save path of an agent runtime: after each reply, replace the session's state
//! (what AgentScope's `update_session_state` does), or append the turn's messages to
//! `state.context`, without the caller copying the rest of the record.

use std::sync::Arc;

use super::SessionStore;
use crate::model::{AgentState, Msg};
use crate::{StoreError, Versioned};

impl SessionStore {
    /// Replaces the session's `state` with `state`, as AgentScope's `update_session_state`
    /// does after each reply; `updated_at` is set to now and the version bumped. Fails with
    /// [`StoreError::NotFound`] if there is no such session.
    ///
    /// ```
    /// use agent_sessions::model::AgentState;
    /// use agent_sessions::{NewSession, SessionStore};
    /// let store = SessionStore::new();
    /// let s = store.create(NewSession::new("u", "a"))?;
    /// let mut state = AgentState::default();
    /// state.cur_iter = 3;
    /// let v = store.replace_state("u", "a", &s.id, state)?;
    /// assert_eq!(v.record.state.cur_iter, 3);
    /// # Ok::<(), agent_sessions::StoreError>(())
    /// ```
    pub fn replace_state(
        &self,
        user_id: &str,
        agent_id: &str,
        id: &str,
        state: AgentState,
    ) -> Result<Versioned, StoreError> {
        // Runs once unless another writer gets in between; a retry clones the state (its
        // messages are shared, not copied).
        let mut state = Some(state);
        let kept = state.clone();
        self.update_versioned(user_id, agent_id, id, |r| {
            r.state = match state.take() {
                Some(s) => s,
                None => kept.clone().unwrap_or_default(),
            };
        })
    }

    /// Appends `messages` to the session's `state.context`, oldest first; `updated_at` is set
    /// to now and the version bumped. This is the save of a turn: the rest of the record is
    /// neither copied by the caller nor encoded again (see the README's "Saving a turn").
    /// Fails with [`StoreError::NotFound`] if there is no such session; appending nothing
    /// still bumps the version.
    ///
    /// ```
    /// use agent_sessions::model::{ContentBlock, Msg, Role};
    /// use agent_sessions::{NewSession, SessionStore};
    /// let store = SessionStore::new();
    /// let s = store.create(NewSession::new("u", "a"))?;
    /// let question = Msg::new("user", Role::User, vec![ContentBlock::text("Hi")]);
    /// let answer = Msg::new("assistant", Role::Assistant, vec![ContentBlock::text("Hello")]);
    /// let v = store.append_context("u", "a", &s.id, [question, answer])?;
    /// assert_eq!(v.record.state.context.len(), 2);
    /// assert_eq!(v.record.state.context[1].text(), "Hello");
    /// # Ok::<(), agent_sessions::StoreError>(())
    /// ```
    pub fn append_context(
        &self,
        user_id: &str,
        agent_id: &str,
        id: &str,
        messages: impl IntoIterator<Item = Msg>,
    ) -> Result<Versioned, StoreError> {
        let messages: Vec<Arc<Msg>> = messages.into_iter().map(Arc::new).collect();
        self.update_versioned(user_id, agent_id, id, |r| {
            r.state.context.extend(messages.iter().cloned());
        })
    }
}
