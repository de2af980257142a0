//! Sessions: insert, read, compare-and-swap update, delete, find, count, and the version
//! blocks.

use std::sync::Arc;

use redis::Value;

use super::keys::{blocks_key, lex, UserKeys};
use super::reply::{self, damaged};
use super::scripts::{self, VERSION_BLOCK};
use super::RedisBackend;
use crate::backend::{check_identity, check_ids, not_found, SessionChange};
use crate::encode::encode_record;
use crate::model::{now, truncate_micros, SessionRecord};
use crate::{StoreError, Versioned};

/// The JSON text of a string, as the filter fields keep it.
pub(super) fn json_str(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

/// The filter fields of a record's metadata: the JSON of `source`, `source_schedule_id`
/// (`null` when absent) and `config.workspace_id`, separated by NUL bytes (JSON text never
/// holds a raw NUL).
fn filter_fields(record: &SessionRecord) -> String {
    let schedule = record
        .source_schedule_id
        .as_deref()
        .map_or_else(|| "null".to_owned(), json_str);
    format!(
        "{}\0{schedule}\0{}",
        json_str(record.source.as_str()),
        json_str(&record.config.workspace_id)
    )
}

/// The highest version a block may start at: versions stay below 2^53, exact in Lua.
const MAX_BLOCK_BASE: u64 = (1 << 53) - VERSION_BLOCK;

impl RedisBackend {
    pub(super) fn user_keys(&self, user_id: &str) -> UserKeys {
        UserKeys::new(&self.inner.prefix, user_id)
    }

    /// Reserves a block of versions for a user whose block is used up (or who has none);
    /// returns its base as the scripts take it.
    pub(super) async fn reserve_block(&self) -> Result<String, StoreError> {
        let mut cmd = redis::cmd("INCR");
        cmd.arg(blocks_key(&self.inner.prefix));
        let n = reply::int(&self.inner.conn.command(&cmd).await?)?;
        let base = u64::try_from(n)
            .ok()
            .and_then(|n| n.checked_mul(VERSION_BLOCK))
            .filter(|&b| b <= MAX_BLOCK_BASE)
            .ok_or_else(|| damaged("the version block counter is out of range"))?;
        Ok(base.to_string())
    }

    pub(super) async fn insert_record(
        &self,
        mut record: SessionRecord,
    ) -> Result<Versioned, StoreError> {
        check_ids(
            &record.user_id,
            &record.agent_id,
            &record.id,
            self.inner.max_id_bytes,
        )?;
        record.created_at = truncate_micros(record.created_at);
        record.updated_at = truncate_micros(record.updated_at);
        let json = encode_record(&record, self.inner.max_record_bytes)?;
        let user = self.user_keys(&record.user_id);
        let scope = user.scope(&record.agent_id);
        let created = lex(record.created_at.timestamp_micros());
        let updated = lex(record.updated_at.timestamp_micros());
        let filters = filter_fields(&record);
        let mut block = String::new();
        loop {
            let mut call = scripts::INSERT.prepare_invoke();
            call.key(scope.records())
                .key(scope.meta())
                .key(scope.by_created())
                .key(scope.by_updated())
                .key(user.counters())
                .key(user.agents_with_sessions())
                .arg(&record.id)
                .arg(&json)
                .arg(&created)
                .arg(&updated)
                .arg(&filters)
                .arg(&block)
                .arg(&scope.agent);
            let (word, mut rest) = reply::status(self.inner.conn.script(&call).await?)?;
            match word.as_str() {
                "ok" => {
                    let version = reply::version(&reply::bytes(next(&mut rest)?)?)?;
                    return Ok(Versioned {
                        record: Arc::new(record),
                        version,
                    });
                }
                "dup" => {
                    return Err(StoreError::DuplicateId {
                        user_id: record.user_id,
                        agent_id: record.agent_id,
                        id: record.id,
                    })
                }
                "block" if block.is_empty() => block = self.reserve_block().await?,
                _ => return Err(damaged(&format!("insert answered {word:?}"))),
            }
        }
    }

    pub(super) async fn get_versioned(
        &self,
        user_id: &str,
        agent_id: &str,
        id: &str,
    ) -> Result<Option<Versioned>, StoreError> {
        if user_id.is_empty() {
            return Ok(None);
        }
        let user = self.user_keys(user_id);
        let scope = user.scope(agent_id);
        let mut call = scripts::GET.prepare_invoke();
        call.key(scope.records()).key(scope.meta()).arg(id);
        let mut items = reply::array(self.inner.conn.script(&call).await?)?.into_iter();
        let Some(json) = items.next() else {
            return Ok(None);
        };
        let meta = reply::bytes(next(&mut items)?)?;
        Ok(Some(Versioned {
            record: reply::decode(&reply::bytes(json)?, "a session")?,
            version: reply::meta_version(&meta)?,
        }))
    }

    pub(super) async fn get_json_bytes(
        &self,
        user_id: &str,
        agent_id: &str,
        id: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        if user_id.is_empty() {
            return Ok(None);
        }
        let mut cmd = redis::cmd("HGET");
        cmd.arg(self.user_keys(user_id).scope(agent_id).records())
            .arg(id);
        match self.inner.conn.command(&cmd).await? {
            Value::Nil => Ok(None),
            v => reply::bytes(v).map(Some),
        }
    }

    pub(super) async fn find(
        &self,
        user_id: &str,
        agent_id: &str,
        id: &str,
    ) -> Result<Option<Versioned>, StoreError> {
        if user_id.is_empty() {
            return Ok(None);
        }
        let user = self.user_keys(user_id);
        let own = user.scope(agent_id).agent;
        let mut call = scripts::FIND.prepare_invoke();
        call.key(user.agents_with_sessions()).arg(id).arg(&own);
        let items = reply::array(self.inner.conn.script(&call).await?)?;
        if items.len() % 3 != 0 {
            return Err(damaged("find_session answered a partial hit"));
        }
        let mut best: Option<(String, Vec<u8>, Vec<u8>)> = None;
        let mut items = items.into_iter();
        while let Some(agent) = items.next() {
            let agent = String::from_utf8(reply::bytes(agent)?)
                .ok()
                .and_then(|a| super::keys::unescape(&a))
                .ok_or_else(|| damaged("an agent id that is not escaped text"))?;
            let json = reply::bytes(next(&mut items)?)?;
            let meta = reply::bytes(next(&mut items)?)?;
            let better = match &best {
                None => true,
                Some((b, _, _)) => agent == agent_id || (b != agent_id && agent < *b),
            };
            if better {
                best = Some((agent, json, meta));
            }
        }
        best.map(|(_, json, meta)| {
            Ok(Versioned {
                record: reply::decode(&json, "a session")?,
                version: reply::meta_version(&meta)?,
            })
        })
        .transpose()
    }

    /// `update` (`expected` is `None`) and `update_if_version`.
    pub(super) async fn update_record(
        &self,
        user_id: &str,
        agent_id: &str,
        id: &str,
        expected: Option<u64>,
        change: SessionChange<'_>,
    ) -> Result<Versioned, StoreError> {
        let user = self.user_keys(user_id);
        let scope = user.scope(agent_id);
        loop {
            let current = self
                .get_versioned(user_id, agent_id, id)
                .await?
                .ok_or_else(|| not_found(user_id, agent_id, id))?;
            if let Some(expected) = expected.filter(|&e| e != current.version) {
                return Err(StoreError::VersionConflict {
                    id: id.to_owned(),
                    expected,
                    actual: current.version,
                });
            }
            let mut copy = SessionRecord::clone(&current.record);
            change(&mut copy);
            check_identity(&current.record, &copy)?;
            copy.updated_at = now().max(current.record.updated_at);
            let json = encode_record(&copy, self.inner.max_record_bytes)?;
            let updated = lex(copy.updated_at.timestamp_micros());
            let filters = filter_fields(&copy);
            let read_version = current.version.to_string();
            let mut block = String::new();
            loop {
                let mut call = scripts::REPLACE.prepare_invoke();
                call.key(scope.records())
                    .key(scope.meta())
                    .key(scope.by_updated())
                    .key(user.counters())
                    .arg(id)
                    .arg(&read_version)
                    .arg(&json)
                    .arg(&updated)
                    .arg(&filters)
                    .arg(&block);
                let (word, mut rest) = reply::status(self.inner.conn.script(&call).await?)?;
                match word.as_str() {
                    "ok" => {
                        let version = reply::version(&reply::bytes(next(&mut rest)?)?)?;
                        return Ok(Versioned {
                            record: Arc::new(copy),
                            version,
                        });
                    }
                    "nf" => return Err(not_found(user_id, agent_id, id)),
                    "conflict" => {
                        let actual = reply::version(&reply::bytes(next(&mut rest)?)?)?;
                        if let Some(expected) = expected {
                            return Err(StoreError::VersionConflict {
                                id: id.to_owned(),
                                expected,
                                actual,
                            });
                        }
                        break; // changed meanwhile: run the change again on the new version
                    }
                    "block" if block.is_empty() => block = self.reserve_block().await?,
                    _ => return Err(damaged(&format!("update answered {word:?}"))),
                }
            }
        }
    }

    pub(super) async fn delete_record(
        &self,
        user_id: &str,
        agent_id: &str,
        id: &str,
    ) -> Result<Arc<SessionRecord>, StoreError> {
        if user_id.is_empty() {
            return Err(not_found(user_id, agent_id, id));
        }
        let user = self.user_keys(user_id);
        let scope = user.scope(agent_id);
        let mut call = scripts::DELETE.prepare_invoke();
        call.key(scope.records())
            .key(scope.meta())
            .key(scope.by_created())
            .key(scope.by_updated())
            .key(scope.messages(id))
            .key(scope.message_ids(id))
            .key(user.agents_with_sessions())
            .arg(id)
            .arg(&scope.agent);
        let mut items = reply::array(self.inner.conn.script(&call).await?)?.into_iter();
        match items.next() {
            None => Err(not_found(user_id, agent_id, id)),
            Some(json) => reply::decode(&reply::bytes(json)?, "a session"),
        }
    }

    pub(super) async fn delete_scope(
        &self,
        user_id: &str,
        agent_id: &str,
    ) -> Result<usize, StoreError> {
        if user_id.is_empty() {
            return Ok(0);
        }
        let user = self.user_keys(user_id);
        let mut call = scripts::DELETE_AGENT.prepare_invoke();
        call.key(user.agents_with_sessions())
            .arg(&user.scope(agent_id).agent);
        reply::count(&self.inner.conn.script(&call).await?)
    }

    pub(super) async fn delete_user(&self, user_id: &str) -> Result<usize, StoreError> {
        if user_id.is_empty() {
            return Ok(0);
        }
        let user = self.user_keys(user_id);
        let mut call = scripts::DELETE_ALL.prepare_invoke();
        call.key(user.agents_with_sessions())
            .key(user.agents())
            .key(user.agent_order())
            .key(user.counters());
        reply::count(&self.inner.conn.script(&call).await?)
    }

    pub(super) async fn count_scope(
        &self,
        user_id: &str,
        agent_id: &str,
    ) -> Result<usize, StoreError> {
        if user_id.is_empty() {
            return Ok(0);
        }
        let mut cmd = redis::cmd("HLEN");
        cmd.arg(self.user_keys(user_id).scope(agent_id).records());
        reply::count(&self.inner.conn.command(&cmd).await?)
    }
}

/// The next element of a reply that must have one.
pub(super) fn next(items: &mut impl Iterator<Item = Value>) -> Result<Value, StoreError> {
    items
        .next()
        .ok_or_else(|| damaged("a script reply shorter than expected"))
}
