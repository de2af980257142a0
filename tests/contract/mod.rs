//! The behavioural contract of a session backend, written against `SessionBackend` so that
//! every backend runs the same checks. `contract_tests!(make)` instantiates them, `make` being
//! a future of a [`Fixture`].

use std::sync::Arc;

use agent_sessions::model::{
    format_timestamp, parse_timestamp, SessionRecord, SessionSource, TextOrBlocks,
};
use agent_sessions::{
    Cursor, ListQuery, ListSessionsResponse, NewSession, Order, SessionBackend, StoreError,
    Versioned,
};
use serde_json::Value;

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

/// A backend seen as the checks use it: the calls of `SessionBackend`, with the record (not
/// its version) where a session is returned, and reads that must not fail unwrapped.
#[derive(Clone, Copy)]
pub struct Check<'a>(pub &'a dyn SessionBackend);

#[allow(dead_code)] // each test binary uses its own part
impl Check<'_> {
    pub async fn create(&self, new: NewSession) -> Result<Arc<SessionRecord>, StoreError> {
        self.0.create(new).await.map(|v| v.record)
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
        mut change: impl FnMut(&mut SessionRecord) + Send,
    ) -> Result<Arc<SessionRecord>, StoreError> {
        self.0.update(u, a, id, &mut change).await.map(|v| v.record)
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
    pub async fn list(&self, q: &ListQuery) -> ListSessionsResponse {
        self.0.list(q).await.expect("list")
    }
    pub async fn list_json(&self, q: &ListQuery) -> Vec<u8> {
        self.0.list_json(q).await.expect("list_json")
    }
    pub async fn count(&self, u: &str, a: &str) -> usize {
        self.0.count(u, a).await.expect("count")
    }
}

/// A change a test applies in an update.
type Change = fn(&mut SessionRecord);

async fn assert_json_matches(b: Check<'_>, q: &ListQuery) {
    assert_eq!(
        b.list_json(q).await,
        serde_json::to_vec(&b.list(q).await).unwrap(),
        "list_json differs from list for {q:?}"
    );
}

pub async fn create_uses_agentscope_defaults(b: &dyn SessionBackend) {
    let b = Check(b);
    let rec = b
        .create(NewSession::new("user-1", "agent-1"))
        .await
        .unwrap();
    let hex32 =
        |s: &str| s.len() == 32 && s.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'));
    assert!(hex32(&rec.id), "{}", rec.id);
    assert!(hex32(&rec.config.workspace_id));
    assert!(hex32(&rec.state.session_id));
    assert_ne!(rec.state.session_id, rec.id);
    assert!(chrono::NaiveDateTime::parse_from_str(&rec.config.name, "%Y-%m-%d %H:%M:%S").is_ok());
    assert_eq!(rec.source, SessionSource::User);
    assert_eq!(rec.source_schedule_id, None);
    assert!(rec.config.chat_model_config.is_none());
    assert_eq!(rec.created_at, rec.updated_at);
    assert_eq!(rec.state.summary, TextOrBlocks::Text(String::new()));
    assert_eq!(rec.state.tool_context.max_cache_files, 100);
    let v = serde_json::to_value(&*rec).unwrap();
    assert_eq!(
        v["state"]["tool_context"]["max_cache_bytes"].to_string(),
        "25000.0"
    );
    assert_eq!(v["state"]["permission_context"]["mode"], "default");
    // The record as stored is the record returned.
    assert_eq!(b.get("user-1", "agent-1", &rec.id).await.unwrap(), rec);

    let named = b
        .create(
            NewSession::new("user-1", "agent-1")
                .workspace_id("ws")
                .name("First"),
        )
        .await
        .unwrap();
    assert_eq!(named.config.workspace_id, "ws");
    assert_eq!(named.config.name, "First");
}

pub async fn insert_keeps_the_record_and_refuses_duplicates(b: &dyn SessionBackend) {
    let b = Check(b);
    let records = fixture("records.json");
    for r in records.as_array().unwrap() {
        let rec: SessionRecord = serde_json::from_value(r.clone()).unwrap();
        let stored = b.insert(rec.clone()).await.unwrap();
        assert_eq!(*stored, rec);
    }
    let first: SessionRecord = serde_json::from_value(records[0].clone()).unwrap();
    let mut changed = first.clone();
    changed.config.name = "other".into();
    let err = b.insert(changed).await.unwrap_err();
    assert!(matches!(err, StoreError::DuplicateId { .. }), "{err}");
    assert_eq!(*b.get("user-1", "agent-a", &first.id).await.unwrap(), first);
    // The same id for another user or agent is another session.
    let mut elsewhere = first.clone();
    elsewhere.user_id = "user-9".into();
    b.insert(elsewhere).await.unwrap();
    assert_eq!(b.count("user-1", "agent-a").await, 5);
    assert_eq!(b.count("user-9", "agent-a").await, 1);
}

pub async fn list_matches_the_reference_answer(b: &dyn SessionBackend) {
    let b = Check(b);
    let records = fixture("records.json");
    // Insert in an order unlike the answer's, to prove the list sorts.
    let mut all: Vec<Value> = records.as_array().unwrap().clone();
    all.reverse();
    all.swap(0, 3);
    for r in all {
        b.insert(serde_json::from_value(r).unwrap()).await.unwrap();
    }
    let expected = fixture("list_user-1_agent-a.json");
    let mut expected_norm = expected.clone();
    for s in expected_norm["sessions"].as_array_mut().unwrap() {
        *s = normalise_record(s.take());
    }
    let q = ListQuery::new("user-1", "agent-a");
    assert_eq!(
        serde_json::to_value(b.list(&q).await).unwrap(),
        expected_norm
    );
    let from_json: Value = serde_json::from_slice(&b.list_json(&q).await).unwrap();
    assert_eq!(from_json, expected_norm);
    assert_json_matches(b, &q).await;
}

pub async fn list_orders_with_ties_broken_by_id(b: &dyn SessionBackend) {
    let b = Check(b);
    // created: s1 < s2 = s3 < s4 ; updated: s4 < s1 < s3 = s2
    for (id, c, u) in [
        ("s3", 20, 30),
        ("s1", 10, 25),
        ("s4", 40, 5),
        ("s2", 20, 30),
    ] {
        b.insert(record_at("u", "a", id, c * 1_000_000, u * 1_000_000))
            .await
            .unwrap();
    }
    let list = |o: Order| async move { ids(&b.list(&ListQuery::new("u", "a").order(o)).await) };
    assert_eq!(list(Order::CreatedAsc).await, ["s1", "s2", "s3", "s4"]);
    assert_eq!(list(Order::CreatedDesc).await, ["s4", "s3", "s2", "s1"]);
    assert_eq!(list(Order::UpdatedAsc).await, ["s4", "s1", "s2", "s3"]);
    assert_eq!(list(Order::UpdatedDesc).await, ["s3", "s2", "s1", "s4"]);
    assert_eq!(
        ids(&b.list(&ListQuery::new("u", "a")).await),
        list(Order::CreatedDesc).await
    );
    for o in Order::ALL {
        assert_json_matches(b, &ListQuery::new("u", "a").order(o).limit(2).offset(1)).await;
    }
}

pub async fn list_pages_by_limit_and_offset_with_total_before_paging(b: &dyn SessionBackend) {
    let b = Check(b);
    for i in 0..10 {
        b.insert(record_at("u", "a", &format!("s{i}"), i * 1000, i * 1000))
            .await
            .unwrap();
    }
    let q = || ListQuery::new("u", "a").order(Order::CreatedAsc);
    let all = b.list(&q()).await;
    assert_eq!(all.total, 10);
    assert_eq!(all.sessions.len(), 10, "no limit means all");
    let page = b.list(&q().limit(3).offset(4)).await;
    assert_eq!(ids(&page), ["s4", "s5", "s6"]);
    assert_eq!(page.total, 10);
    assert_eq!(b.list(&q().limit(3).offset(9)).await.sessions.len(), 1);
    let past = b.list(&q().offset(50)).await;
    assert!(past.sessions.is_empty());
    assert_eq!(past.total, 10);
    let zero = b.list(&q().limit(0)).await;
    assert!(zero.sessions.is_empty());
    assert_eq!(zero.total, 10);
    assert_json_matches(b, &q().limit(3).offset(4)).await;
    assert_json_matches(b, &q().limit(0)).await;
}

pub async fn list_filters_count_only_matching(b: &dyn SessionBackend) {
    let b = Check(b);
    for i in 0..12 {
        let mut new = NewSession::new("u", "a")
            .id(format!("s{i:02}"))
            .workspace_id(if i % 2 == 0 { "even" } else { "odd" });
        if i % 3 == 0 {
            new = new
                .source(SessionSource::Schedule)
                .source_schedule_id(format!("sched-{}", i % 2));
        }
        b.create(new).await.unwrap();
    }
    let q = || ListQuery::new("u", "a").order(Order::CreatedAsc);
    let sched = b.list(&q().source(SessionSource::Schedule)).await;
    assert_eq!(sched.total, 4);
    assert!(sched
        .sessions
        .iter()
        .all(|s| s.source == SessionSource::Schedule));
    let even = b.list(&q().workspace_id("even").limit(2).offset(1)).await;
    assert_eq!(even.total, 6);
    assert_eq!(even.sessions.len(), 2);
    assert!(even
        .sessions
        .iter()
        .all(|s| s.config.workspace_id == "even"));
    let both = b
        .list(&q().source_schedule_id("sched-0").workspace_id("even"))
        .await;
    assert_eq!(ids(&both), ["s00", "s06"]);
    assert_eq!(both.total, 2);
    let user = b
        .list(&q().source(SessionSource::User).workspace_id("odd"))
        .await;
    assert_eq!(user.total, 4); // odd: 1,3,5,7,9,11 minus schedule 3,9
    assert_json_matches(b, &q().workspace_id("even").limit(2).offset(1)).await;
}

pub async fn cursor_pages_stay_correct_under_inserts(b: &dyn SessionBackend) {
    let b = Check(b);
    for i in 0..10 {
        b.insert(record_at("u", "a", &format!("s{i:02}"), 100 + i, 100 + i))
            .await
            .unwrap();
    }
    let mut q = ListQuery::new("u", "a").limit(3);
    let mut seen = Vec::new();
    let mut round = 0;
    loop {
        let page = b.list(&q).await;
        assert_eq!(page.total, b.count("u", "a").await);
        seen.extend(ids(&page));
        // Others insert newer sessions (before the cursor) and an old one (after it).
        b.insert(record_at(
            "u",
            "a",
            &format!("new{round}"),
            10_000 + round,
            0,
        ))
        .await
        .unwrap();
        if round == 1 {
            b.insert(record_at("u", "a", "old", 1, 1)).await.unwrap();
        }
        round += 1;
        match q.next_page(&page) {
            Some(next) => q = next,
            None => break,
        }
    }
    let mut expected: Vec<String> = (0..10).rev().map(|i| format!("s{i:02}")).collect();
    expected.push("old".into());
    assert_eq!(seen, expected, "no session shown twice or skipped");

    // A cursor survives its text form, and for an ascending order pages the other way.
    let first = b
        .list(&ListQuery::new("u", "a").order(Order::CreatedAsc).limit(2))
        .await;
    let c = Cursor::after(first.sessions.last().unwrap(), Order::CreatedAsc);
    let c: Cursor = c.to_string().parse().unwrap();
    let next = b
        .list(&ListQuery::new("u", "a").limit(2).cursor(c.clone()))
        .await;
    assert_eq!(ids(&next), ["s01", "s02"]);
    assert_json_matches(b, &ListQuery::new("u", "a").limit(2).cursor(c)).await;
}

pub async fn update_is_atomic_and_keeps_identity(b: &dyn SessionBackend) {
    let b = Check(b);
    let rec = b
        .create(NewSession::new("u", "a").name("before"))
        .await
        .unwrap();
    let v1 = b.get_versioned("u", "a", &rec.id).await.unwrap();
    let updated = b
        .update("u", "a", &rec.id, |r| r.config.name = "after".into())
        .await
        .unwrap();
    assert_eq!(updated.config.name, "after");
    assert!(updated.updated_at >= rec.updated_at);
    assert_eq!(updated.created_at, rec.created_at);
    let v2 = b.get_versioned("u", "a", &rec.id).await.unwrap();
    assert!(v2.version > v1.version);
    assert_eq!(v2.record, updated);
    // The record handed out earlier is a snapshot: it did not change.
    assert_eq!(rec.config.name, "before");

    let changes: [(&str, Change); 4] = [
        ("id", |r| r.id = "other".into()),
        ("user_id", |r| r.user_id = "other".into()),
        ("agent_id", |r| r.agent_id = "other".into()),
        ("created_at", |r| {
            r.created_at += chrono::Duration::seconds(1);
        }),
    ];
    for (field, change) in changes {
        let err = b.update("u", "a", &rec.id, change).await.unwrap_err();
        assert!(
            matches!(err, StoreError::IdentityChanged { field: f, .. } if f == field),
            "{err}"
        );
        assert_eq!(
            b.get_versioned("u", "a", &rec.id).await.unwrap(),
            v2,
            "{field}"
        );
    }
    let missing = b
        .update("u", "a", "nope", |r| r.config.name = "x".into())
        .await;
    assert!(matches!(missing, Err(StoreError::NotFound { .. })));
    let elsewhere = b
        .update("v", "a", &rec.id, |r| r.config.name = "x".into())
        .await;
    assert!(matches!(elsewhere, Err(StoreError::NotFound { .. })));
}

pub async fn compare_and_swap_refuses_stale_versions(b: &dyn SessionBackend) {
    let b = Check(b);
    let rec = b.create(NewSession::new("u", "a")).await.unwrap();
    let v1 = b.get_versioned("u", "a", &rec.id).await.unwrap().version;
    let v2 = b
        .update_if_version("u", "a", &rec.id, v1, |r| r.config.name = "A".into())
        .await
        .unwrap();
    let err = b
        .update_if_version("u", "a", &rec.id, v1, |r| r.config.name = "B".into())
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::VersionConflict { expected, actual, .. } if expected == v1 && actual == v2.version),
        "{err}"
    );
    assert_eq!(b.get("u", "a", &rec.id).await.unwrap().config.name, "A");
    // A deleted and re-created session never takes an old version.
    b.delete("u", "a", &rec.id).await.unwrap();
    b.create(NewSession::new("u", "a").id(rec.id.clone()))
        .await
        .unwrap();
    let stale = b
        .update_if_version("u", "a", &rec.id, v2.version, |r| {
            r.config.name = "C".into();
        })
        .await;
    assert!(matches!(stale, Err(StoreError::VersionConflict { .. })));
}

pub async fn delete_removes_and_reports_missing(b: &dyn SessionBackend) {
    let b = Check(b);
    let rec = b.create(NewSession::new("u", "a")).await.unwrap();
    let err = b.delete("v", "a", &rec.id).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }));
    let err = b.delete("u", "b", &rec.id).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }));
    assert_eq!(b.delete("u", "a", &rec.id).await.unwrap(), rec);
    assert!(b.get("u", "a", &rec.id).await.is_none());
    let again = b.delete("u", "a", &rec.id).await.unwrap_err();
    assert!(matches!(again, StoreError::NotFound { .. }), "{again}");
    assert_eq!(b.list(&ListQuery::new("u", "a")).await.total, 0);
    // The scope works again after it emptied.
    b.create(NewSession::new("u", "a").id(rec.id.clone()))
        .await
        .unwrap();
    assert_eq!(b.count("u", "a").await, 1);
}

pub async fn delete_agent_and_delete_all_touch_only_their_scope(b: &dyn SessionBackend) {
    let b = Check(b);
    for (u, a, n) in [("u", "a", 3), ("u", "b", 2), ("v", "a", 4)] {
        for _ in 0..n {
            b.create(NewSession::new(u, a)).await.unwrap();
        }
    }
    assert_eq!(b.delete_agent("u", "a").await.unwrap(), 3);
    assert_eq!(b.delete_agent("u", "a").await.unwrap(), 0);
    assert_eq!(
        (
            b.count("u", "a").await,
            b.count("u", "b").await,
            b.count("v", "a").await
        ),
        (0, 2, 4)
    );
    assert_eq!(b.delete_all("u").await.unwrap(), 2);
    assert_eq!(b.delete_all("nobody").await.unwrap(), 0);
    assert_eq!((b.count("u", "b").await, b.count("v", "a").await), (0, 4));
    assert_eq!(b.list(&ListQuery::new("v", "a")).await.total, 4);
    b.create(NewSession::new("u", "a")).await.unwrap();
    assert_eq!(b.count("u", "a").await, 1);
}

pub async fn users_never_see_each_other(b: &dyn SessionBackend) {
    let b = Check(b);
    let a = b
        .create(NewSession::new("alice", "bot").id("same").name("alice's"))
        .await
        .unwrap();
    let m = b
        .create(
            NewSession::new("mallory", "bot")
                .id("same")
                .name("mallory's"),
        )
        .await
        .unwrap();
    assert_eq!(b.get("alice", "bot", "same").await.unwrap(), a);
    assert_eq!(b.get("mallory", "bot", "same").await.unwrap(), m);
    let page = b.list(&ListQuery::new("mallory", "bot")).await;
    assert!(page.sessions.iter().all(|s| s.user_id == "mallory"));
    assert_eq!(page.total, 1);
    b.update("mallory", "bot", "same", |r| r.config.name = "pwned".into())
        .await
        .unwrap();
    b.delete("mallory", "bot", "same").await.unwrap();
    assert_eq!(b.get("alice", "bot", "same").await.unwrap(), a);
    assert_eq!(b.delete_all("mallory").await.unwrap(), 0);
    assert_eq!(b.count("alice", "bot").await, 1);
    // Lookalike scopes are different scopes.
    assert!(b.get("alice ", "bot", "same").await.is_none());
    assert!(b.get("ALICE", "bot", "same").await.is_none());
    assert_eq!(b.list(&ListQuery::new("alicebot", "")).await.total, 0);
}

pub async fn unknown_scopes_list_empty(b: &dyn SessionBackend) {
    let b = Check(b);
    let page = b.list(&ListQuery::new("nobody", "nothing").limit(5)).await;
    assert_eq!(page, ListSessionsResponse::default());
    assert_eq!(
        b.list_json(&ListQuery::new("nobody", "nothing")).await,
        br#"{"sessions":[],"total":0}"#
    );
}

pub async fn bad_input_is_refused_and_changes_nothing(b: &dyn SessionBackend) {
    let b = Check(b);
    let long = "x".repeat(1025);
    let cases: Vec<(NewSession, &str)> = vec![
        (NewSession::new("", "a"), "user_id"),
        (NewSession::new("u", ""), "agent_id"),
        (NewSession::new("u", "a").id(""), "id"),
        (NewSession::new(long.clone(), "a"), "user_id"),
        (NewSession::new("u", long.clone()), "agent_id"),
        (NewSession::new("u", "a").id(long.clone()), "id"),
    ];
    for (new, field) in cases {
        let err = b.create(new).await.unwrap_err();
        match err {
            StoreError::EmptyId { field: f } | StoreError::IdTooLong { field: f, .. } => {
                assert_eq!(f, field);
            }
            other => panic!("unexpected {other}"),
        }
    }
    // 1024 bytes is still fine.
    b.create(NewSession::new("x".repeat(1024), "a"))
        .await
        .unwrap();
    assert_eq!(b.delete_all(&"x".repeat(1024)).await.unwrap(), 1);
    assert_eq!(b.count("u", "a").await, 0);
    assert!(b.list(&ListQuery::new("", "")).await.sessions.is_empty());
}

pub async fn records_over_the_size_limit_are_refused(b: &dyn SessionBackend, limit: usize) {
    let b = Check(b);
    let rec = b.create(NewSession::new("u", "a")).await.unwrap();
    let huge = "y".repeat(limit);
    let err = b
        .create(NewSession::new("u", "a").name(huge.clone()))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::RecordTooLarge { limit: l, .. } if l == limit),
        "{err}"
    );
    let err = b
        .update("u", "a", &rec.id, |r| r.config.name.clone_from(&huge))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::RecordTooLarge { .. }), "{err}");
    assert_eq!(b.get("u", "a", &rec.id).await.unwrap(), rec);
    assert_eq!(b.count("u", "a").await, 1);
    let _: Arc<SessionRecord> = rec;
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

impl<B: SessionBackend, T> Fixture for (B, T) {
    fn backend(&self) -> &dyn SessionBackend {
        &self.0
    }
}

/// Instantiates every contract test for a fixture made by `$make` (a future of a [`Fixture`]).
#[macro_export]
macro_rules! contract_tests {
    ($make:expr) => {
        $crate::contract_tests!(@each $make;
            create_uses_agentscope_defaults,
            insert_keeps_the_record_and_refuses_duplicates,
            list_matches_the_reference_answer,
            list_orders_with_ties_broken_by_id,
            list_pages_by_limit_and_offset_with_total_before_paging,
            list_filters_count_only_matching,
            cursor_pages_stay_correct_under_inserts,
            update_is_atomic_and_keeps_identity,
            compare_and_swap_refuses_stale_versions,
            delete_removes_and_reports_missing,
            delete_agent_and_delete_all_touch_only_their_scope,
            users_never_see_each_other,
            unknown_scopes_list_empty,
            bad_input_is_refused_and_changes_nothing,
        );
    };
    (@each $make:expr; $($name:ident),+ $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                let fixture = $make.await;
                contract::$name($crate::contract::Fixture::backend(&fixture)).await;
            }
        )+
    };
}
