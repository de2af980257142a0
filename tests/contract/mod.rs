//! The behavioural contract of a session backend, written against `SessionBackend` so that
//! every backend runs the same checks: the in-memory store, the durable store, Redis and Redis
//! Cluster. `contract_tests!(make)` instantiates them, `make` being a future of an
//! `Option` of a [`Fixture`] (`None` skips: a Redis test without its server outside CI).
//!
//! The checks, by area: [`sessions`] (create, insert, get, update, delete, isolation, input
//! limits, `find_session`), [`lists`] (orders, paging, filters, cursors), [`agents`] (the
//! agent registry) and [`messages`] (message histories).

use std::sync::Arc;

use agent_sessions::model::{
    format_timestamp, parse_timestamp, ContentBlock, Msg, Object, Role, SessionRecord,
};
use agent_sessions::{
    ListQuery, ListSessionsResponse, NewSession, SessionBackend, StoreError, Versioned,
};
use serde_json::Value;

pub mod agents;
pub mod lists;
pub mod messages;
pub mod sessions;

pub use agents::*;
pub use lists::*;
pub use messages::*;
pub use sessions::*;

pub fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/agentscope-2.0.0/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn normalise_record(mut v: Value) -> Value {
    for key in ["created_at", "updated_at"] {
        let t = parse_timestamp(v[key].as_str().unwrap()).unwrap();
        v[key] = Value::String(format_timestamp(&t));
    }
    v
}

fn ids(page: &ListSessionsResponse) -> Vec<String> {
    page.sessions.iter().map(|s| s.id.clone()).collect()
}

/// A record of (u, a) with this id, created at `micros` and updated at `upd_micros`.
fn record_at(u: &str, a: &str, id: &str, micros: i64, upd_micros: i64) -> SessionRecord {
    let mut v = fixture("records.json")[0].clone();
    v["id"] = id.into();
    v["user_id"] = u.into();
    v["agent_id"] = a.into();
    let t = |m: i64| format_timestamp(&chrono::DateTime::from_timestamp_micros(m).unwrap());
    v["created_at"] = t(micros).into();
    v["updated_at"] = t(upd_micros).into();
    serde_json::from_value(v).unwrap()
}

/// A user message with this text.
fn msg(text: &str) -> Msg {
    Msg::new("user", Role::User, vec![ContentBlock::text(text)])
}

/// Agent data with this name.
fn data(name: &str) -> Object {
    let mut d = Object::new();
    d.insert("name".into(), name.into());
    d
}

/// A change a test applies in an update.
type Change = fn(&mut SessionRecord);

/// A backend seen as the checks use it: the calls of `SessionBackend`, with the record (not
/// its version) where a session is returned, and reads that must not fail unwrapped. Every
/// list is also asked for as JSON, which must be the list's serialisation byte for byte.
#[derive(Clone, Copy)]
pub struct Check<'a>(pub &'a dyn SessionBackend);

#[allow(dead_code)] // each test binary uses its own part
impl Check<'_> {
    pub async fn create(&self, new: NewSession) -> Result<Arc<SessionRecord>, StoreError> {
        self.create_versioned(new).await.map(|v| v.record)
    }
    pub async fn create_versioned(&self, new: NewSession) -> Result<Versioned, StoreError> {
        self.0.create(new).await
    }
    pub async fn insert(&self, record: SessionRecord) -> Result<Arc<SessionRecord>, StoreError> {
        self.0.insert(record).await.map(|v| v.record)
    }
    pub async fn get(&self, u: &str, a: &str, id: &str) -> Option<Arc<SessionRecord>> {
        self.get_versioned(u, a, id).await.map(|v| v.record)
    }
    pub async fn get_versioned(&self, u: &str, a: &str, id: &str) -> Option<Versioned> {
        self.0.get(u, a, id).await.expect("get")
    }
    pub async fn update(
        &self,
        u: &str,
        a: &str,
        id: &str,
        change: impl FnMut(&mut SessionRecord) + Send,
    ) -> Result<Arc<SessionRecord>, StoreError> {
        self.update_versioned(u, a, id, change)
            .await
            .map(|v| v.record)
    }
    pub async fn update_versioned(
        &self,
        u: &str,
        a: &str,
        id: &str,
        mut change: impl FnMut(&mut SessionRecord) + Send,
    ) -> Result<Versioned, StoreError> {
        self.0.update(u, a, id, &mut change).await
    }
    pub async fn update_if_version(
        &self,
        u: &str,
        a: &str,
        id: &str,
        expected: u64,
        mut change: impl FnMut(&mut SessionRecord) + Send,
    ) -> Result<Versioned, StoreError> {
        self.0
            .update_if_version(u, a, id, expected, &mut change)
            .await
    }
    pub async fn delete(
        &self,
        u: &str,
        a: &str,
        id: &str,
    ) -> Result<Arc<SessionRecord>, StoreError> {
        self.0.delete(u, a, id).await
    }
    pub async fn delete_agent(&self, u: &str, a: &str) -> Result<usize, StoreError> {
        self.0.delete_agent(u, a).await
    }
    pub async fn delete_all(&self, u: &str) -> Result<usize, StoreError> {
        self.0.delete_all(u).await
    }
    /// The page, after checking that `list_json` answers the same bytes.
    pub async fn list(&self, q: &ListQuery) -> ListSessionsResponse {
        let page = self.0.list(q).await.expect("list");
        assert_eq!(
            self.list_json(q).await,
            serde_json::to_vec(&page).unwrap(),
            "list_json differs from list for {q:?}"
        );
        page
    }
    pub async fn list_json(&self, q: &ListQuery) -> Vec<u8> {
        self.0.list_json(q).await.expect("list_json")
    }
    pub async fn count(&self, u: &str, a: &str) -> usize {
        self.0.count(u, a).await.expect("count")
    }
    pub async fn message_count(&self, u: &str, a: &str, id: &str) -> usize {
        self.0.message_count(u, a, id).await.expect("message_count")
    }
}

async fn assert_json_matches(b: Check<'_>, q: &ListQuery) {
    assert_eq!(
        b.list_json(q).await,
        serde_json::to_vec(&b.0.list(q).await.unwrap()).unwrap(),
        "list_json differs from list for {q:?}"
    );
}

/// Something that holds a backend for the length of a test (a durable store also holds its
/// directory; a Redis backend its key prefix).
pub trait Fixture {
    fn backend(&self) -> &dyn SessionBackend;
}

impl Fixture for agent_sessions::SessionStore {
    fn backend(&self) -> &dyn SessionBackend {
        self
    }
}

#[cfg(feature = "redis")]
impl Fixture for agent_sessions::redis::RedisBackend {
    fn backend(&self) -> &dyn SessionBackend {
        self
    }
}

impl<B: SessionBackend, T> Fixture for (B, T) {
    fn backend(&self) -> &dyn SessionBackend {
        &self.0
    }
}

/// Instantiates every contract test (each one `#[tokio::test]` of the same name) for a
/// fixture made by `$make`: a future of an `Option` of a [`Fixture`], `None` skipping the
/// test (whoever returns `None` says why).
#[macro_export]
macro_rules! contract_tests {
    ($make:expr) => {
        $crate::contract_tests!(@each $make;
            // sessions
            create_uses_agentscope_defaults,
            create_get_and_json,
            insert_keeps_the_record_and_refuses_duplicates,
            update_is_atomic_and_keeps_identity,
            compare_and_swap_refuses_stale_versions,
            delete_removes_and_reports_missing,
            delete_agent_and_delete_all_touch_only_their_scope,
            users_never_see_each_other,
            bad_input_is_refused_and_changes_nothing,
            find_session_prefers_the_named_agent,
            state_save_appends_and_replaces,
            // lists
            list_matches_the_reference_answer,
            list_orders_with_ties_broken_by_id,
            list_pages_by_limit_and_offset_with_total_before_paging,
            list_filters_count_only_matching,
            cursor_pages_stay_correct_under_inserts,
            unknown_scopes_list_empty,
            // agents
            agents_register_list_update_and_unregister,
            // messages
            messages_append_replace_and_page,
        );
    };
    (@each $make:expr; $($name:ident),+ $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                let Some(fixture) = $make.await else { return };
                $crate::contract::$name($crate::contract::Fixture::backend(&fixture)).await;
            }
        )+
    };
}
