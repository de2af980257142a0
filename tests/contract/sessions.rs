//! Sessions one by one: create, insert, get, update, compare-and-swap, delete, the scopes
//! that keep users apart, the limits on input, and `find_session`.

use std::sync::Arc;

use agent_sessions::model::{SessionRecord, SessionSource, TextOrBlocks};
use agent_sessions::{
    ListQuery, ListSessionsResponse, NewSession, Order, SessionBackend, StoreError,
};
use serde_json::Value;

use super::{fixture, msg, Change, Check};

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

pub async fn create_get_and_json(b: &dyn SessionBackend) {
    let rec = b
        .create(NewSession::new("user-1", "agent-1"))
        .await
        .unwrap();
    assert_eq!(rec.record.id.len(), 32);
    assert_eq!(rec.record.created_at, rec.record.updated_at);
    // The session and its version, as `create` answered them.
    let got = b
        .get("user-1", "agent-1", &rec.record.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, rec);
    let json = b
        .get_json("user-1", "agent-1", &rec.record.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(json, serde_json::to_vec(&*rec.record).unwrap());
    assert!(b
        .get("user-1", "agent-2", &rec.record.id)
        .await
        .unwrap()
        .is_none());
    assert!(b
        .get_json("user-2", "agent-1", &rec.record.id)
        .await
        .unwrap()
        .is_none());
    assert!(b.get("", "", "").await.unwrap().is_none());
}

pub async fn insert_keeps_the_record_and_refuses_duplicates(b: &dyn SessionBackend) {
    let b = Check(b);
    let records = fixture("records.json");
    for r in records.as_array().unwrap() {
        let rec: SessionRecord = serde_json::from_value(r.clone()).unwrap();
        let stored = b.insert(rec.clone()).await.unwrap();
        assert_eq!(*stored, rec);
        assert_eq!(
            *b.get(&rec.user_id, &rec.agent_id, &rec.id).await.unwrap(),
            rec
        );
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

pub async fn update_is_atomic_and_keeps_identity(b: &dyn SessionBackend) {
    let b = Check(b);
    let created = b
        .create_versioned(NewSession::new("u", "a").name("before"))
        .await
        .unwrap();
    let rec = Arc::clone(&created.record);
    let v1 = b.get_versioned("u", "a", &rec.id).await.unwrap();
    let updated_v = b
        .update_versioned("u", "a", &rec.id, |r| r.config.name = "after".into())
        .await
        .unwrap();
    let updated = Arc::clone(&updated_v.record);
    assert_eq!(updated.config.name, "after");
    assert!(updated.updated_at >= rec.updated_at);
    assert_eq!(updated.created_at, rec.created_at);
    assert!(updated_v.version > created.version);
    let v2 = b.get_versioned("u", "a", &rec.id).await.unwrap();
    assert!(v2.version > v1.version);
    assert_eq!(v2.record, updated);
    assert_eq!(v2, updated_v);
    // The record handed out earlier is a snapshot: it did not change.
    assert_eq!(rec.config.name, "before");
    // Listed by updated_at with the new time.
    let page = b
        .list(&ListQuery::new("u", "a").order(Order::UpdatedDesc))
        .await;
    assert_eq!(page.sessions[0].config.name, "after");

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
    let again = b
        .create_versioned(NewSession::new("u", "a").id(rec.id.clone()))
        .await
        .unwrap();
    assert!(again.version > v2.version);
    let stale = b
        .update_if_version("u", "a", &rec.id, v2.version, |r| {
            r.config.name = "C".into();
        })
        .await;
    assert!(matches!(stale, Err(StoreError::VersionConflict { .. })));
    // Erasing the user does not make versions start over.
    b.delete_all("u").await.unwrap();
    let after_erasure = b
        .create_versioned(NewSession::new("u", "a").id(rec.id.clone()))
        .await
        .unwrap();
    assert!(after_erasure.version > again.version);
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

    // The same with message histories, ids a key name could trip on, and an agent id full
    // of them (on users of their own, "w" and "x").
    for (u, a, n) in [
        ("w", "a", 3),
        ("w", "b", 2),
        ("x", "a", 4),
        ("w", "c:{x}%", 1),
    ] {
        for i in 0..n {
            let s = b
                .create(NewSession::new(u, a).id(format!("s:{i}}}")))
                .await
                .unwrap();
            b.0.append_message(u, a, &s.id, msg("hi")).await.unwrap();
        }
    }
    assert_eq!(b.delete_agent("w", "a").await.unwrap(), 3);
    assert_eq!(b.delete_agent("w", "a").await.unwrap(), 0);
    assert_eq!(
        (
            b.count("w", "a").await,
            b.count("w", "b").await,
            b.count("x", "a").await
        ),
        (0, 2, 4)
    );
    // Histories went with their sessions: a re-created session starts empty.
    b.create(NewSession::new("w", "a").id("s:0}"))
        .await
        .unwrap();
    assert_eq!(b.message_count("w", "a", "s:0}").await, 0);
    assert_eq!(b.delete_all("w").await.unwrap(), 4);
    assert_eq!(b.delete_all("nobody").await.unwrap(), 0);
    assert_eq!(b.delete_all("").await.unwrap(), 0);
    assert_eq!((b.count("w", "b").await, b.count("x", "a").await), (0, 4));
    assert_eq!(b.list(&ListQuery::new("x", "a")).await.total, 4);
    b.create(NewSession::new("w", "b").id("s:0}"))
        .await
        .unwrap();
    assert_eq!(b.message_count("w", "b", "s:0}").await, 0);
    // The first users' sessions are where they were.
    assert_eq!((b.count("u", "a").await, b.count("v", "a").await), (1, 4));
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
    // Ids that would break a naive hash tag or key name are separate scopes.
    for (u, ag) in [
        ("alice}", "bot"),
        ("{alice", "bot"),
        ("alice", "bot:x"),
        ("alice|bot", "x"),
    ] {
        assert!(b.get(u, ag, "same").await.is_none(), "{u} {ag}");
        b.create(NewSession::new(u, ag).id("same")).await.unwrap();
    }
    assert_eq!(b.count("alice", "bot").await, 1);
    assert_eq!(b.get("alice", "bot", "same").await.unwrap(), a);
    assert_eq!(b.list(&ListQuery::new("alicebot", "")).await.total, 0);
    assert_eq!(
        b.list(&ListQuery::new("", "")).await,
        ListSessionsResponse::default()
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
    // A record nested too deep is refused.
    let mut deep = serde_json::json!(1);
    for _ in 0..200 {
        deep = Value::Array(vec![deep]);
    }
    let rec = b.create(NewSession::new("u", "a")).await.unwrap();
    let err = b
        .update("u", "a", &rec.id, |r| {
            r.extra.insert("deep".into(), deep.clone());
        })
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::TooDeep { .. }), "{err}");
}

pub async fn find_session_prefers_the_named_agent(b: &dyn SessionBackend) {
    let a = b
        .create(NewSession::new("u", "a").id("s").name("under a"))
        .await
        .unwrap();
    b.create(NewSession::new("u", "c").id("s").name("under c"))
        .await
        .unwrap();
    b.create(NewSession::new("u", "b%").id("only-b"))
        .await
        .unwrap();
    b.create(NewSession::new("v", "a").id("theirs"))
        .await
        .unwrap();
    let name = |v: Option<agent_sessions::Versioned>| v.unwrap().record.config.name.clone();
    assert_eq!(
        name(b.find_session("u", "c", "s").await.unwrap()),
        "under c"
    );
    assert_eq!(
        name(b.find_session("u", "zzz", "s").await.unwrap()),
        "under a"
    );
    assert_eq!(
        b.find_session("u", "a", "only-b")
            .await
            .unwrap()
            .unwrap()
            .record
            .agent_id,
        "b%"
    );
    let found = b.find_session("u", "x", "s").await.unwrap().unwrap();
    assert_eq!(found.version, a.version);
    assert!(b.find_session("u", "a", "theirs").await.unwrap().is_none());
    assert!(b.find_session("w", "a", "s").await.unwrap().is_none());
    assert!(b.find_session("", "a", "s").await.unwrap().is_none());
    // Byte order of agent ids, not of their escaped forms: "%" (0x25) < "A" (0x41) < "{" .
    b.create(NewSession::new("u2", "{x").id("t").name("brace"))
        .await
        .unwrap();
    b.create(NewSession::new("u2", "A").id("t").name("upper"))
        .await
        .unwrap();
    assert_eq!(
        name(b.find_session("u2", "none", "t").await.unwrap()),
        "upper"
    );
    b.create(NewSession::new("u2", "%").id("t").name("percent"))
        .await
        .unwrap();
    assert_eq!(
        name(b.find_session("u2", "none", "t").await.unwrap()),
        "percent"
    );
}

/// Not in `contract_tests!`: each backend runs it with its own limit configured.
pub async fn records_over_the_size_limit_are_refused(b: &dyn SessionBackend, limit: usize) {
    let b = Check(b);
    let rec = b.create_versioned(NewSession::new("u", "a")).await.unwrap();
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
        .update("u", "a", &rec.record.id, |r| {
            r.config.name.clone_from(&huge);
        })
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::RecordTooLarge { .. }), "{err}");
    // Unchanged, version included.
    assert_eq!(
        b.get_versioned("u", "a", &rec.record.id).await.unwrap(),
        rec
    );
    assert_eq!(b.count("u", "a").await, 1);
}

/// The state-save path: `append_context` and `replace_state` change only `state` (and
/// `updated_at` and the version), as the equivalent `update` would, and what they answer is
/// what a read gives.
pub async fn state_save_appends_and_replaces(b: &dyn SessionBackend) {
    let created = b
        .create(NewSession::new("u", "a").name("kept"))
        .await
        .unwrap();
    let id = created.record.id.clone();
    let appended = b
        .append_context("u", "a", &id, vec![msg("one"), msg("two")])
        .await
        .unwrap();
    assert!(appended.version > created.version);
    let texts =
        |r: &SessionRecord| -> Vec<String> { r.state.context.iter().map(|m| m.text()).collect() };
    assert_eq!(texts(&appended.record), ["one", "two"]);
    assert_eq!(appended.record.config.name, "kept");
    assert!(appended.record.updated_at >= created.record.updated_at);
    // Nothing else changed: the record equals the created one with the messages pushed.
    let mut expected = SessionRecord::clone(&created.record);
    expected.state.context = appended.record.state.context.clone();
    expected.updated_at = appended.record.updated_at;
    assert_eq!(*appended.record, expected);
    let again = b
        .append_context("u", "a", &id, vec![msg("three")])
        .await
        .unwrap();
    assert_eq!(texts(&again.record), ["one", "two", "three"]);
    let read = b.get("u", "a", &id).await.unwrap().unwrap();
    assert_eq!(read, again);
    let json = b.get_json("u", "a", &id).await.unwrap().unwrap();
    assert_eq!(json, serde_json::to_vec(&*again.record).unwrap());
    let page = b.list(&ListQuery::new("u", "a")).await.unwrap();
    assert_eq!(page.sessions[0], again.record);

    let mut state = again.record.state.clone();
    state.context.truncate(1);
    state.cur_iter = 7;
    let replaced = b.replace_state("u", "a", &id, state.clone()).await.unwrap();
    assert!(replaced.version > again.version);
    assert_eq!(replaced.record.state, state);
    assert_eq!(replaced.record.config.name, "kept");
    assert_eq!(b.get("u", "a", &id).await.unwrap().unwrap(), replaced);

    let missing = b.append_context("u", "a", "nope", vec![msg("x")]).await;
    assert!(matches!(missing, Err(StoreError::NotFound { .. })));
    let missing = b.replace_state("v", "a", &id, state).await;
    assert!(matches!(missing, Err(StoreError::NotFound { .. })));
    assert_eq!(b.get("u", "a", &id).await.unwrap().unwrap(), replaced);
}
