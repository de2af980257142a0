//! Message histories: appended without rewriting the session's record, paged by offset or
//! by a `before` cursor, as the in-memory store does.

use std::sync::Arc;

use super::ops_sessions::next;
use super::reply::{self, damaged};
use super::scripts;
use super::RedisBackend;
use crate::backend::not_found;
use crate::encode::encode_json;
use crate::model::Msg;
use crate::StoreError;

/// Indexes are passed to Lua as numbers: beyond this they would not be exact (and no
/// history holds this many messages).
const MAX_INDEX: usize = 1 << 40;

impl RedisBackend {
    pub(super) async fn append(
        &self,
        user_id: &str,
        agent_id: &str,
        session_id: &str,
        message: &Msg,
    ) -> Result<usize, StoreError> {
        let json = encode_json(&message.id, message, 0)?;
        if user_id.is_empty() {
            return Err(not_found(user_id, agent_id, session_id));
        }
        let user = self.user_keys(user_id);
        let scope = user.scope(agent_id);
        let mut call = scripts::APPEND_MESSAGE.prepare_invoke();
        call.key(scope.records())
            .key(scope.messages(session_id))
            .key(scope.message_ids(session_id))
            .arg(session_id)
            .arg(&message.id)
            .arg(&json);
        let index = reply::int(&self.inner.conn.script(&call).await?)?;
        usize::try_from(index).map_err(|_| not_found(user_id, agent_id, session_id))
    }

    /// Runs a history script whose reply is `{0}` (no session), `{2}` (no such message), or
    /// `{1, json...}`.
    async fn history(
        &self,
        user_id: &str,
        agent_id: &str,
        session_id: &str,
        call: &redis::ScriptInvocation<'_>,
    ) -> Result<Vec<Arc<Msg>>, StoreError> {
        let mut items = reply::array(self.inner.conn.script(call).await?)?.into_iter();
        match reply::int(&next(&mut items)?)? {
            0 => Err(not_found(user_id, agent_id, session_id)),
            2 => Err(StoreError::InvalidCursor {
                reason: "the history has no message with that id",
            }),
            1 => items
                .map(|v| reply::decode(&reply::bytes(v)?, "a message"))
                .collect(),
            n => Err(damaged(&format!("a message page answered {n}"))),
        }
    }

    pub(super) async fn message_page(
        &self,
        user_id: &str,
        agent_id: &str,
        session_id: &str,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<Arc<Msg>>, StoreError> {
        if user_id.is_empty() {
            return Err(not_found(user_id, agent_id, session_id));
        }
        let scope_keys = self.user_keys(user_id);
        let scope = scope_keys.scope(agent_id);
        let first = offset.min(MAX_INDEX);
        let last = if limit == 0 {
            "-1".to_owned()
        } else {
            (first + limit.min(MAX_INDEX) - 1).to_string()
        };
        let mut call = scripts::MESSAGES.prepare_invoke();
        call.key(scope.records())
            .key(scope.messages(session_id))
            .arg(session_id)
            .arg(first.to_string())
            .arg(last);
        self.history(user_id, agent_id, session_id, &call).await
    }

    pub(super) async fn message_page_before(
        &self,
        user_id: &str,
        agent_id: &str,
        session_id: &str,
        before: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Arc<Msg>>, StoreError> {
        if user_id.is_empty() {
            return Err(not_found(user_id, agent_id, session_id));
        }
        let user = self.user_keys(user_id);
        let scope = user.scope(agent_id);
        let mut call = scripts::MESSAGES_BEFORE.prepare_invoke();
        call.key(scope.records())
            .key(scope.messages(session_id))
            .key(scope.message_ids(session_id))
            .arg(session_id)
            .arg(if before.is_some() { "1" } else { "0" })
            .arg(before.unwrap_or_default())
            .arg(limit.min(MAX_INDEX).to_string());
        self.history(user_id, agent_id, session_id, &call).await
    }

    pub(super) async fn count_messages(
        &self,
        user_id: &str,
        agent_id: &str,
        session_id: &str,
    ) -> Result<usize, StoreError> {
        if user_id.is_empty() {
            return Err(not_found(user_id, agent_id, session_id));
        }
        let user = self.user_keys(user_id);
        let scope = user.scope(agent_id);
        let mut call = scripts::MESSAGE_COUNT.prepare_invoke();
        call.key(scope.records())
            .key(scope.messages(session_id))
            .arg(session_id);
        let n = reply::int(&self.inner.conn.script(&call).await?)?;
        usize::try_from(n).map_err(|_| not_found(user_id, agent_id, session_id))
    }
}
