//! Per-session message histories (what `GET /sessions/{id}/messages` answers).

use std::sync::Arc;

use super::SessionStore;
use crate::encode::encode_json;
use crate::model::Msg;
use crate::persist::msg_line;
use crate::StoreError;

impl SessionStore {
    /// Appends `message` to the session's history and returns its index (from 0). As in
    /// AgentScope, a message with the same id as the last one replaces it instead (a reply
    /// streamed in parts). Fails with [`StoreError::NotFound`] if there is no such session.
    ///
    /// ```
    /// use agent_sessions::model::{ContentBlock, Msg, Role};
    /// use agent_sessions::{NewSession, SessionStore};
    /// let store = SessionStore::new();
    /// let s = store.create(NewSession::new("u", "a"))?;
    /// let mut reply = Msg::new("assistant", Role::Assistant, vec![ContentBlock::text("Hel")]);
    /// assert_eq!(store.append_message("u", "a", &s.id, reply.clone())?, 0);
    /// reply.content = vec![ContentBlock::text("Hello")];
    /// assert_eq!(store.append_message("u", "a", &s.id, reply)?, 0); // same id: replaced
    /// let page = store.messages("u", "a", &s.id, 0, 50)?;
    /// assert_eq!(page[0].text(), "Hello");
    /// # Ok::<(), agent_sessions::StoreError>(())
    /// ```
    pub fn append_message(
        &self,
        user_id: &str,
        agent_id: &str,
        session_id: &str,
        message: Msg,
    ) -> Result<usize, StoreError> {
        self.check_writable()?;
        let not_found = || crate::backend::not_found(user_id, agent_id, session_id);
        // Encoded (and checked) before any lock is taken.
        let json = encode_json(&message.id, &message, 0)?;
        let part = self.partition(user_id, agent_id).ok_or_else(not_found)?;
        let (index, seq) = {
            let mut data = part.data.write();
            if !data.by_id.contains_key(session_id) {
                return Err(not_found());
            }
            let history = data.messages.entry(session_id.into()).or_default();
            let index = match history.last() {
                Some(last) if last.id == message.id => history.len() - 1,
                _ => history.len(),
            };
            history.truncate(index);
            history.push(Arc::new(message));
            let line = self.journal_line(|| msg_line(user_id, agent_id, session_id, index, &json));
            (index, self.log(&part, line))
        };
        self.commit(seq)?;
        Ok(index)
    }

    /// Up to `limit` messages of the session's history from `offset`, oldest first (the
    /// reference's order). Fails with [`StoreError::NotFound`] if there is no such session.
    pub fn messages(
        &self,
        user_id: &str,
        agent_id: &str,
        session_id: &str,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<Arc<Msg>>, StoreError> {
        self.with_history(user_id, agent_id, session_id, |h| {
            h.iter().skip(offset).take(limit).cloned().collect()
        })
    }

    /// Up to `limit` messages, newest first, older than the message with id `before` (or from
    /// the newest when `before` is `None`): a cursor that stays correct while messages are
    /// appended. Fails with [`StoreError::NotFound`] if there is no such session, and with
    /// [`StoreError::InvalidCursor`] if the history has no message `before`.
    ///
    /// ```
    /// use agent_sessions::model::{ContentBlock, Msg, Role};
    /// use agent_sessions::{NewSession, SessionStore};
    /// let store = SessionStore::new();
    /// let s = store.create(NewSession::new("u", "a"))?;
    /// for i in 0..5 {
    ///     let m = Msg::new("user", Role::User, vec![ContentBlock::text(format!("m{i}"))]);
    ///     store.append_message("u", "a", &s.id, m)?;
    /// }
    /// let newest = store.messages_before("u", "a", &s.id, None, 2)?;
    /// assert_eq!((newest[0].text(), newest[1].text()), ("m4".into(), "m3".into()));
    /// let older = store.messages_before("u", "a", &s.id, Some(&newest[1].id), 2)?;
    /// assert_eq!((older[0].text(), older[1].text()), ("m2".into(), "m1".into()));
    /// # Ok::<(), agent_sessions::StoreError>(())
    /// ```
    pub fn messages_before(
        &self,
        user_id: &str,
        agent_id: &str,
        session_id: &str,
        before: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Arc<Msg>>, StoreError> {
        self.with_history(user_id, agent_id, session_id, |h| {
            let end = match before {
                None => Some(h.len()),
                Some(id) => h.iter().rposition(|m| m.id == id),
            };
            end.map(|end| h[..end].iter().rev().take(limit).cloned().collect())
        })?
        .ok_or(StoreError::InvalidCursor {
            reason: "the history has no message with that id",
        })
    }

    /// How many messages the session's history holds.
    pub fn message_count(
        &self,
        user_id: &str,
        agent_id: &str,
        session_id: &str,
    ) -> Result<usize, StoreError> {
        self.with_history(user_id, agent_id, session_id, <[Arc<Msg>]>::len)
    }

    /// Runs `f` on the session's history under the partition's read lock.
    fn with_history<T>(
        &self,
        user_id: &str,
        agent_id: &str,
        session_id: &str,
        f: impl FnOnce(&[Arc<Msg>]) -> T,
    ) -> Result<T, StoreError> {
        let not_found = || crate::backend::not_found(user_id, agent_id, session_id);
        let part = self.partition(user_id, agent_id).ok_or_else(not_found)?;
        let data = part.data.read();
        if !data.by_id.contains_key(session_id) {
            return Err(not_found());
        }
        Ok(f(data.messages.get(session_id).map_or(&[], Vec::as_slice)))
    }

    /// Replays a `msg` journal line: message `index` is `message` and the history ends there.
    pub(super) fn load_msg(
        &self,
        user_id: &str,
        agent_id: &str,
        session_id: &str,
        index: usize,
        message: Msg,
    ) {
        let Some(part) = self.partition(user_id, agent_id) else {
            return; // deleted later in the journal
        };
        let mut data = part.data.write();
        if !data.by_id.contains_key(session_id) {
            return;
        }
        let history = data.messages.entry(session_id.into()).or_default();
        history.truncate(index);
        history.push(Arc::new(message));
    }
}
