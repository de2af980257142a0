//! The behavioural contract of a session backend, written against `SessionBackend` so that
//! every backend runs the same checks. `contract_tests!(make)` instantiates them.

use std::sync::Arc;

use agent_sessions::model::{
    format_timestamp, parse_timestamp, SessionRecord, SessionSource, TextOrBlocks,
};
use agent_sessions::{
    Cursor, ListQuery, ListSessionsResponse, NewSession, Order, SessionBackend, StoreError,
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

/// A change a test applies in an update.
type Change = fn(&mut SessionRecord);

fn assert_json_matches<B: SessionBackend>(b: &B, q: &ListQuery) {
    assert_eq!(
        b.list_json(q),
        serde_json::to_vec(&b.list(q)).unwrap(),
        "list_json differs from list for {q:?}"
    );
}

pub fn create_uses_agentscope_defaults<B: SessionBackend>(b: &B) {
    let rec = b.create(NewSession::new("user-1", "agent-1")).unwrap();
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
    assert_eq!(b.get("user-1", "agent-1", &rec.id).unwrap(), rec);

    let named = b
        .create(
            NewSession::new("user-1", "agent-1")
                .workspace_id("ws")
                .name("First"),
        )
        .unwrap();
    assert_eq!(named.config.workspace_id, "ws");
    assert_eq!(named.config.name, "First");
}

pub fn insert_keeps_the_record_and_refuses_duplicates<B: SessionBackend>(b: &B) {
    let records = fixture("records.json");
    for r in records.as_array().unwrap() {
        let rec: SessionRecord = serde_json::from_value(r.clone()).unwrap();
        let stored = b.insert(rec.clone()).unwrap();
        assert_eq!(*stored, rec);
    }
    let first: SessionRecord = serde_json::from_value(records[0].clone()).unwrap();
    let mut changed = first.clone();
    changed.config.name = "other".into();
    let err = b.insert(changed).unwrap_err();
    assert!(matches!(err, StoreError::DuplicateId { .. }), "{err}");
    assert_eq!(*b.get("user-1", "agent-a", &first.id).unwrap(), first);
    // The same id for another user or agent is another session.
    let mut elsewhere = first.clone();
    elsewhere.user_id = "user-9".into();
    b.insert(elsewhere).unwrap();
    assert_eq!(b.count("user-1", "agent-a"), 5);
    assert_eq!(b.count("user-9", "agent-a"), 1);
}

pub fn list_matches_the_reference_answer<B: SessionBackend>(b: &B) {
    let records = fixture("records.json");
    // Insert in an order unlike the answer's, to prove the list sorts.
    let mut all: Vec<Value> = records.as_array().unwrap().clone();
    all.reverse();
    all.swap(0, 3);
    for r in all {
        b.insert(serde_json::from_value(r).unwrap()).unwrap();
    }
    let expected = fixture("list_user-1_agent-a.json");
    let mut expected_norm = expected.clone();
    for s in expected_norm["sessions"].as_array_mut().unwrap() {
        *s = normalise_record(s.take());
    }
    let q = ListQuery::new("user-1", "agent-a");
    assert_eq!(serde_json::to_value(b.list(&q)).unwrap(), expected_norm);
    let from_json: Value = serde_json::from_slice(&b.list_json(&q)).unwrap();
    assert_eq!(from_json, expected_norm);
    assert_json_matches(b, &q);
}

pub fn list_orders_with_ties_broken_by_id<B: SessionBackend>(b: &B) {
    // created: s1 < s2 = s3 < s4 ; updated: s4 < s1 < s3 = s2
    for (id, c, u) in [
        ("s3", 20, 30),
        ("s1", 10, 25),
        ("s4", 40, 5),
        ("s2", 20, 30),
    ] {
        b.insert(record_at("u", "a", id, c * 1_000_000, u * 1_000_000))
            .unwrap();
    }
    let list = |o: Order| ids(&b.list(&ListQuery::new("u", "a").order(o)));
    assert_eq!(list(Order::CreatedAsc), ["s1", "s2", "s3", "s4"]);
    assert_eq!(list(Order::CreatedDesc), ["s4", "s3", "s2", "s1"]);
    assert_eq!(list(Order::UpdatedAsc), ["s4", "s1", "s2", "s3"]);
    assert_eq!(list(Order::UpdatedDesc), ["s3", "s2", "s1", "s4"]);
    assert_eq!(
        ids(&b.list(&ListQuery::new("u", "a"))),
        list(Order::CreatedDesc)
    );
    for o in Order::ALL {
        assert_json_matches(b, &ListQuery::new("u", "a").order(o).limit(2).offset(1));
    }
}

pub fn list_pages_by_limit_and_offset_with_total_before_paging<B: SessionBackend>(b: &B) {
    for i in 0..10 {
        b.insert(record_at("u", "a", &format!("s{i}"), i * 1000, i * 1000))
            .unwrap();
    }
    let q = || ListQuery::new("u", "a").order(Order::CreatedAsc);
    let all = b.list(&q());
    assert_eq!(all.total, 10);
    assert_eq!(all.sessions.len(), 10, "no limit means all");
    let page = b.list(&q().limit(3).offset(4));
    assert_eq!(ids(&page), ["s4", "s5", "s6"]);
    assert_eq!(page.total, 10);
    assert_eq!(b.list(&q().limit(3).offset(9)).sessions.len(), 1);
    let past = b.list(&q().offset(50));
    assert!(past.sessions.is_empty());
    assert_eq!(past.total, 10);
    let zero = b.list(&q().limit(0));
    assert!(zero.sessions.is_empty());
    assert_eq!(zero.total, 10);
    assert_json_matches(b, &q().limit(3).offset(4));
    assert_json_matches(b, &q().limit(0));
}

pub fn list_filters_count_only_matching<B: SessionBackend>(b: &B) {
    for i in 0..12 {
        let mut new = NewSession::new("u", "a")
            .id(format!("s{i:02}"))
            .workspace_id(if i % 2 == 0 { "even" } else { "odd" });
        if i % 3 == 0 {
            new = new
                .source(SessionSource::Schedule)
                .source_schedule_id(format!("sched-{}", i % 2));
        }
        b.create(new).unwrap();
    }
    let q = || ListQuery::new("u", "a").order(Order::CreatedAsc);
    let sched = b.list(&q().source(SessionSource::Schedule));
    assert_eq!(sched.total, 4);
    assert!(sched
        .sessions
        .iter()
        .all(|s| s.source == SessionSource::Schedule));
    let even = b.list(&q().workspace_id("even").limit(2).offset(1));
    assert_eq!(even.total, 6);
    assert_eq!(even.sessions.len(), 2);
    assert!(even
        .sessions
        .iter()
        .all(|s| s.config.workspace_id == "even"));
    let both = b.list(&q().source_schedule_id("sched-0").workspace_id("even"));
    assert_eq!(ids(&both), ["s00", "s06"]);
    assert_eq!(both.total, 2);
    let user = b.list(&q().source(SessionSource::User).workspace_id("odd"));
    assert_eq!(user.total, 4); // odd: 1,3,5,7,9,11 minus schedule 3,9
    assert_json_matches(b, &q().workspace_id("even").limit(2).offset(1));
}

pub fn cursor_pages_stay_correct_under_inserts<B: SessionBackend>(b: &B) {
    for i in 0..10 {
        b.insert(record_at("u", "a", &format!("s{i:02}"), 100 + i, 100 + i))
            .unwrap();
    }
    let mut q = ListQuery::new("u", "a").limit(3);
    let mut seen = Vec::new();
    let mut round = 0;
    loop {
        let page = b.list(&q);
        assert_eq!(page.total, b.count("u", "a"));
        seen.extend(ids(&page));
        // Others insert newer sessions (before the cursor) and an old one (after it).
        b.insert(record_at(
            "u",
            "a",
            &format!("new{round}"),
            10_000 + round,
            0,
        ))
        .unwrap();
        if round == 1 {
            b.insert(record_at("u", "a", "old", 1, 1)).unwrap();
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
    let first = b.list(&ListQuery::new("u", "a").order(Order::CreatedAsc).limit(2));
    let c = Cursor::after(first.sessions.last().unwrap(), Order::CreatedAsc);
    let c: Cursor = c.to_string().parse().unwrap();
    let next = b.list(&ListQuery::new("u", "a").limit(2).cursor(c.clone()));
    assert_eq!(ids(&next), ["s01", "s02"]);
    assert_json_matches(b, &ListQuery::new("u", "a").limit(2).cursor(c));
}

pub fn update_is_atomic_and_keeps_identity<B: SessionBackend>(b: &B) {
    let rec = b.create(NewSession::new("u", "a").name("before")).unwrap();
    let v1 = b.get_versioned("u", "a", &rec.id).unwrap();
    let updated = b
        .update("u", "a", &rec.id, |r| r.config.name = "after".into())
        .unwrap();
    assert_eq!(updated.config.name, "after");
    assert!(updated.updated_at >= rec.updated_at);
    assert_eq!(updated.created_at, rec.created_at);
    let v2 = b.get_versioned("u", "a", &rec.id).unwrap();
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
        let err = b.update("u", "a", &rec.id, change).unwrap_err();
        assert!(
            matches!(err, StoreError::IdentityChanged { field: f, .. } if f == field),
            "{err}"
        );
        assert_eq!(b.get_versioned("u", "a", &rec.id).unwrap(), v2, "{field}");
    }
    let missing = b.update("u", "a", "nope", |r| r.config.name = "x".into());
    assert!(matches!(missing, Err(StoreError::NotFound { .. })));
    let elsewhere = b.update("v", "a", &rec.id, |r| r.config.name = "x".into());
    assert!(matches!(elsewhere, Err(StoreError::NotFound { .. })));
}

pub fn compare_and_swap_refuses_stale_versions<B: SessionBackend>(b: &B) {
    let rec = b.create(NewSession::new("u", "a")).unwrap();
    let v1 = b.get_versioned("u", "a", &rec.id).unwrap().version;
    let v2 = b
        .update_if_version("u", "a", &rec.id, v1, |r| r.config.name = "A".into())
        .unwrap();
    let err = b
        .update_if_version("u", "a", &rec.id, v1, |r| r.config.name = "B".into())
        .unwrap_err();
    assert!(
        matches!(err, StoreError::VersionConflict { expected, actual, .. } if expected == v1 && actual == v2.version),
        "{err}"
    );
    assert_eq!(b.get("u", "a", &rec.id).unwrap().config.name, "A");
    // A deleted and re-created session never takes an old version.
    b.delete("u", "a", &rec.id).unwrap();
    b.create(NewSession::new("u", "a").id(rec.id.clone()))
        .unwrap();
    let stale = b.update_if_version("u", "a", &rec.id, v2.version, |r| {
        r.config.name = "C".into();
    });
    assert!(matches!(stale, Err(StoreError::VersionConflict { .. })));
}

pub fn delete_removes_and_reports_missing<B: SessionBackend>(b: &B) {
    let rec = b.create(NewSession::new("u", "a")).unwrap();
    let err = b.delete("v", "a", &rec.id).unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }));
    let err = b.delete("u", "b", &rec.id).unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }));
    assert_eq!(b.delete("u", "a", &rec.id).unwrap(), rec);
    assert!(b.get("u", "a", &rec.id).is_none());
    let again = b.delete("u", "a", &rec.id).unwrap_err();
    assert!(matches!(again, StoreError::NotFound { .. }), "{again}");
    assert_eq!(b.list(&ListQuery::new("u", "a")).total, 0);
    // The scope works again after it emptied.
    b.create(NewSession::new("u", "a").id(rec.id.clone()))
        .unwrap();
    assert_eq!(b.count("u", "a"), 1);
}

pub fn delete_agent_and_delete_all_touch_only_their_scope<B: SessionBackend>(b: &B) {
    for (u, a, n) in [("u", "a", 3), ("u", "b", 2), ("v", "a", 4)] {
        for _ in 0..n {
            b.create(NewSession::new(u, a)).unwrap();
        }
    }
    assert_eq!(b.delete_agent("u", "a").unwrap(), 3);
    assert_eq!(b.delete_agent("u", "a").unwrap(), 0);
    assert_eq!(
        (b.count("u", "a"), b.count("u", "b"), b.count("v", "a")),
        (0, 2, 4)
    );
    assert_eq!(b.delete_all("u").unwrap(), 2);
    assert_eq!(b.delete_all("nobody").unwrap(), 0);
    assert_eq!((b.count("u", "b"), b.count("v", "a")), (0, 4));
    assert_eq!(b.list(&ListQuery::new("v", "a")).total, 4);
    b.create(NewSession::new("u", "a")).unwrap();
    assert_eq!(b.count("u", "a"), 1);
}

pub fn users_never_see_each_other<B: SessionBackend>(b: &B) {
    let a = b
        .create(NewSession::new("alice", "bot").id("same").name("alice's"))
        .unwrap();
    let m = b
        .create(
            NewSession::new("mallory", "bot")
                .id("same")
                .name("mallory's"),
        )
        .unwrap();
    assert_eq!(b.get("alice", "bot", "same").unwrap(), a);
    assert_eq!(b.get("mallory", "bot", "same").unwrap(), m);
    let page = b.list(&ListQuery::new("mallory", "bot"));
    assert!(page.sessions.iter().all(|s| s.user_id == "mallory"));
    assert_eq!(page.total, 1);
    b.update("mallory", "bot", "same", |r| r.config.name = "pwned".into())
        .unwrap();
    b.delete("mallory", "bot", "same").unwrap();
    assert_eq!(b.get("alice", "bot", "same").unwrap(), a);
    assert_eq!(b.delete_all("mallory").unwrap(), 0);
    assert_eq!(b.count("alice", "bot"), 1);
    // Lookalike scopes are different scopes.
    assert!(b.get("alice ", "bot", "same").is_none());
    assert!(b.get("ALICE", "bot", "same").is_none());
    assert_eq!(b.list(&ListQuery::new("alicebot", "")).total, 0);
}

pub fn unknown_scopes_list_empty<B: SessionBackend>(b: &B) {
    let page = b.list(&ListQuery::new("nobody", "nothing").limit(5));
    assert_eq!(page, ListSessionsResponse::default());
    assert_eq!(
        b.list_json(&ListQuery::new("nobody", "nothing")),
        br#"{"sessions":[],"total":0}"#
    );
}

pub fn bad_input_is_refused_and_changes_nothing<B: SessionBackend>(b: &B) {
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
        let err = b.create(new).unwrap_err();
        match err {
            StoreError::EmptyId { field: f } | StoreError::IdTooLong { field: f, .. } => {
                assert_eq!(f, field);
            }
            other => panic!("unexpected {other}"),
        }
    }
    // 1024 bytes is still fine.
    b.create(NewSession::new("x".repeat(1024), "a")).unwrap();
    assert_eq!(b.delete_all(&"x".repeat(1024)).unwrap(), 1);
    assert_eq!(b.count("u", "a"), 0);
    assert!(b.list(&ListQuery::new("", "")).sessions.is_empty());
}

pub fn records_over_the_size_limit_are_refused<B: SessionBackend>(b: &B, limit: usize) {
    let rec = b.create(NewSession::new("u", "a")).unwrap();
    let huge = "y".repeat(limit);
    let err = b
        .create(NewSession::new("u", "a").name(huge.clone()))
        .unwrap_err();
    assert!(
        matches!(err, StoreError::RecordTooLarge { limit: l, .. } if l == limit),
        "{err}"
    );
    let err = b
        .update("u", "a", &rec.id, |r| r.config.name.clone_from(&huge))
        .unwrap_err();
    assert!(matches!(err, StoreError::RecordTooLarge { .. }), "{err}");
    assert_eq!(b.get("u", "a", &rec.id).unwrap(), rec);
    assert_eq!(b.count("u", "a"), 1);
    let _: Arc<SessionRecord> = rec;
}

/// Something that holds a backend for the length of a test (a durable store also holds its
/// directory).
pub trait Fixture {
    type Backend: SessionBackend;
    fn backend(&self) -> &Self::Backend;
}

impl Fixture for agent_sessions::SessionStore {
    type Backend = Self;
    fn backend(&self) -> &Self {
        self
    }
}

impl<B: SessionBackend, T> Fixture for (B, T) {
    type Backend = B;
    fn backend(&self) -> &B {
        &self.0
    }
}

/// Instantiates every contract test for a fixture made by `$make` (an expression).
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
            #[test]
            fn $name() {
                let fixture = $make;
                contract::$name($crate::contract::Fixture::backend(&fixture));
            }
        )+
    };
}
