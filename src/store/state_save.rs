//! The state-save path of an agent runtime: after each reply, replace the session's state
//! (what AgentScope's `update_session_state` does), or append the turn's messages to
//! `state.context`, without the caller copying the rest of the record.

use std::sync::Arc;

use super::entry::Entry;
use super::{splice, SessionStore};
use crate::encode::{check_record_size, encode_context_message};
use crate::model::{AgentState, Msg, SessionRecord};
use crate::persist::ctx_line;
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
        let make = move |current: &Arc<Entry>| {
            // The old state's copy is cheap: its messages are shared, not copied.
            let mut copy = SessionRecord::clone(&current.record);
            copy.state = state.clone();
            copy.updated_at = current.next_updated_at();
            self.encode_entry(copy, self.next_version())
        };
        self.replace_with(user_id, agent_id, id, None, make, super::put_of)
    }

    /// Appends `messages` to the session's `state.context`, oldest first; `updated_at` is set
    /// to now and the version bumped. This is the save of a turn: the caller copies nothing,
    /// and the record is not encoded again: the new messages' encodings are spliced into the
    /// stored JSON (see the README's "Saving a turn"). Fails with [`StoreError::NotFound`] if
    /// there is no such session, and with the size and depth errors of an update.
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
        // Encoded (and checked) once, before any lock, whatever the retries.
        let encoded = messages
            .iter()
            .map(|m| encode_context_message(m))
            .collect::<Result<Vec<_>, _>>()?;
        let make = |current: &Arc<Entry>| {
            let updated_at = current.next_updated_at();
            let max = self.inner.max_record_bytes;
            appended(
                current,
                &messages,
                &encoded,
                updated_at,
                self.next_version(),
                max,
            )
        };
        // The journal gets the new messages, not the record: its line does not grow with the
        // context either.
        let line = |current: &Entry, new: &Entry| {
            let record = &new.record;
            let updated_at = record.timestamp_format.format(&record.updated_at);
            let ids = (user_id, agent_id, id);
            ctx_line(ids, (current.version, new.version), &updated_at, &encoded)
        };
        self.replace_with(user_id, agent_id, id, None, make, line)
    }
}

/// `current` with `messages` (whose encodings are `encoded`) appended to its `state.context`,
/// as version `version` with `updated_at`: spliced into the stored JSON where its marks
/// allow, encoded whole otherwise. Refused past `max_record_bytes`.
pub(super) fn appended(
    current: &Entry,
    messages: &[Arc<Msg>],
    encoded: &[Vec<u8>],
    updated_at: chrono::DateTime<chrono::Utc>,
    version: u64,
    max_record_bytes: usize,
) -> Result<Entry, StoreError> {
    let mut copy = SessionRecord::clone(&current.record);
    copy.state.context.extend(messages.iter().cloned());
    copy.updated_at = updated_at;
    let format = copy.timestamp_format;
    let Some(marks) = current.marks else {
        return Entry::encode(copy, version, max_record_bytes, format);
    };
    let updated_at = format!("\"{}\"", format.format(&copy.updated_at));
    let (json, marks) =
        splice::append_context(&current.json, marks, updated_at.as_bytes(), encoded);
    check_record_size(&copy.id, json.len(), max_record_bytes)?;
    Ok(Entry {
        record: Arc::new(copy),
        json: Arc::from(json),
        version,
        marks,
    })
}
