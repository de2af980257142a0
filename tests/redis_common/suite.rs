//! Behaviour of a `SessionBackend`, written async against the trait, run on the Redis
//! backend (standalone and cluster) and, as a reference, on the in-memory store.

use agent_sessions::model::{
    format_timestamp, AgentRecord, ContentBlock, Msg, Object, Role, SessionRecord, SessionSource,
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

fn ids(page: &ListSessionsResponse) -> Vec<String> {
    page.sessions.iter().map(|s| s.id.clone()).collect()
}

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

fn msg(text: &str) -> Msg {
    Msg::new("user", Role::User, vec![ContentBlock::text(text)])
}

fn data(name: &str) -> Object {
    let mut d = Object::new();
    d.insert("name".into(), name.into());
    d
}

async fn list(b: &dyn SessionBackend, q: &ListQuery) -> ListSessionsResponse {
    let page = b.list(q).await.unwrap();
    let json = b.list_json(q).await.unwrap();
    assert_eq!(
        json,
        serde_json::to_vec(&page).unwrap(),
        "list_json differs from list for {q:?}"
    );
    page
}

async fn count(b: &dyn SessionBackend, u: &str, a: &str) -> usize {
    b.count(u, a).await.unwrap()
}

pub async fn create_get_and_json(b: &dyn SessionBackend) {
    let rec = b
        .create(NewSession::new("user-1", "agent-1"))
        .await
        .unwrap();
    assert_eq!(rec.record.id.len(), 32);
    assert_eq!(rec.record.created_at, rec.record.updated_at);
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
    let records = fixture("records.json");
    for r in records.as_array().unwrap() {
        let rec: SessionRecord = serde_json::from_value(r.clone()).unwrap();
        let stored = b.insert(rec.clone()).await.unwrap();
        assert_eq!(*stored.record, rec);
        assert_eq!(
            *b.get(&rec.user_id, &rec.agent_id, &rec.id)
                .await
                .unwrap()
                .unwrap()
                .record,
            rec
        );
    }
    let first: SessionRecord = serde_json::from_value(records[0].clone()).unwrap();
    let mut changed = first.clone();
    changed.config.name = "other".into();
    let err = b.insert(changed).await.unwrap_err();
    assert!(matches!(err, StoreError::DuplicateId { .. }), "{err}");
    let mut elsewhere = first.clone();
    elsewhere.user_id = "user-9".into();
    b.insert(elsewhere).await.unwrap();
    assert_eq!(count(b, "user-1", "agent-a").await, 5);
    assert_eq!(count(b, "user-9", "agent-a").await, 1);
}

pub async fn list_matches_the_reference_answer(b: &dyn SessionBackend) {
    let mut all: Vec<Value> = fixture("records.json").as_array().unwrap().clone();
    all.reverse();
    all.swap(0, 3);
    for r in all {
        b.insert(serde_json::from_value(r).unwrap()).await.unwrap();
    }
    let expected = fixture("list_user-1_agent-a.json");
    let page = list(b, &ListQuery::new("user-1", "agent-a")).await;
    let want: Vec<String> = expected["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids(&page), want);
    assert_eq!(
        page.total,
        usize::try_from(expected["total"].as_u64().unwrap()).unwrap()
    );
}

pub async fn list_orders_with_ties_broken_by_id(b: &dyn SessionBackend) {
    for (id, c, u) in [
        ("s3", 20, 30),
        ("s1", 10, 25),
        ("s4", 40, 5),
        ("s2", 20, 30),
        ("s0", -5, -7),
    ] {
        b.insert(record_at("u", "a", id, c * 1_000_000, u * 1_000_000))
            .await
            .unwrap();
    }
    let by = |o| ListQuery::new("u", "a").order(o);
    assert_eq!(
        ids(&list(b, &by(Order::CreatedAsc)).await),
        ["s0", "s1", "s2", "s3", "s4"]
    );
    assert_eq!(
        ids(&list(b, &by(Order::CreatedDesc)).await),
        ["s4", "s3", "s2", "s1", "s0"]
    );
    assert_eq!(
        ids(&list(b, &by(Order::UpdatedAsc)).await),
        ["s0", "s4", "s1", "s2", "s3"]
    );
    assert_eq!(
        ids(&list(b, &by(Order::UpdatedDesc)).await),
        ["s3", "s2", "s1", "s4", "s0"]
    );
    for o in Order::ALL {
        let page = list(b, &by(o).limit(2).offset(1)).await;
        assert_eq!(page.total, 5);
        assert_eq!(page.sessions.len(), 2);
    }
}

pub async fn list_pages_with_total_before_paging(b: &dyn SessionBackend) {
    for i in 0..10 {
        b.insert(record_at("u", "a", &format!("s{i}"), i * 1000, i * 1000))
            .await
            .unwrap();
    }
    let q = || ListQuery::new("u", "a").order(Order::CreatedAsc);
    let all = list(b, &q()).await;
    assert_eq!((all.total, all.sessions.len()), (10, 10));
    let page = list(b, &q().limit(3).offset(4)).await;
    assert_eq!(ids(&page), ["s4", "s5", "s6"]);
    assert_eq!(page.total, 10);
    assert_eq!(list(b, &q().limit(3).offset(9)).await.sessions.len(), 1);
    let past = list(b, &q().offset(50)).await;
    assert!(past.sessions.is_empty());
    assert_eq!(past.total, 10);
    let zero = list(b, &q().limit(0)).await;
    assert!(zero.sessions.is_empty());
    assert_eq!(zero.total, 10);
    let huge = list(b, &q().limit(usize::MAX).offset(usize::MAX)).await;
    assert!(huge.sessions.is_empty());
    assert_eq!(huge.total, 10);
}

pub async fn list_filters_count_only_matching(b: &dyn SessionBackend) {
    for i in 0..12 {
        let mut new = NewSession::new("u", "a")
            .id(format!("s{i:02}"))
            .workspace_id(if i % 2 == 0 { "even" } else { "odd\0\"é" });
        if i % 3 == 0 {
            new = new
                .source(SessionSource::Schedule)
                .source_schedule_id(format!("sched-{}", i % 2));
        }
        b.create(new).await.unwrap();
    }
    let q = || ListQuery::new("u", "a").order(Order::CreatedAsc);
    let sched = list(b, &q().source(SessionSource::Schedule)).await;
    assert_eq!(sched.total, 4);
    let even = list(b, &q().workspace_id("even").limit(2).offset(1)).await;
    assert_eq!(ids(&even), ["s02", "s04"]);
    assert_eq!(even.total, 6);
    let both = list(b, &q().source_schedule_id("sched-0").workspace_id("even")).await;
    assert_eq!(ids(&both), ["s00", "s06"]);
    let user = list(b, &q().source(SessionSource::User).workspace_id("odd\0\"é")).await;
    assert_eq!(user.total, 4);
    assert_eq!(
        list(b, &q().source(SessionSource::from("channel")))
            .await
            .total,
        0
    );
    // A filter with a cursor: the page starts past it, the total counts every match.
    let c = Cursor::at(Order::CreatedDesc, 0, "zzz");
    let page = list(b, &q().workspace_id("even").cursor(c.clone())).await;
    assert_eq!(page.total, 6);
    assert!(
        page.sessions.is_empty(),
        "every session is newer than the cursor"
    );
    let first = list(b, &ListQuery::new("u", "a").workspace_id("even").limit(2)).await;
    assert_eq!(ids(&first), ["s10", "s08"]);
    let next = ListQuery::new("u", "a")
        .workspace_id("even")
        .limit(2)
        .next_page(&first)
        .unwrap();
    let second = list(b, &next).await;
    assert_eq!(ids(&second), ["s06", "s04"]);
    assert_eq!(second.total, 6);
    let skip = list(b, &next.offset(1)).await;
    assert_eq!(ids(&skip), ["s04", "s02"]);
}

pub async fn cursor_pages_stay_correct_under_inserts(b: &dyn SessionBackend) {
    for i in 0..10 {
        b.insert(record_at("u", "a", &format!("s{i:02}"), 100 + i, 100 + i))
            .await
            .unwrap();
    }
    let mut q = ListQuery::new("u", "a").limit(3);
    let mut seen = Vec::new();
    let mut round = 0;
    loop {
        let page = list(b, &q).await;
        assert_eq!(page.total, count(b, "u", "a").await);
        seen.extend(ids(&page));
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
    let first = list(
        b,
        &ListQuery::new("u", "a").order(Order::CreatedAsc).limit(2),
    )
    .await;
    let c = Cursor::after(first.sessions.last().unwrap(), Order::CreatedAsc);
    let c: Cursor = c.to_string().parse().unwrap();
    let next = list(b, &ListQuery::new("u", "a").limit(2).cursor(c)).await;
    assert_eq!(ids(&next), ["s01", "s02"]);
    // An updated_* cursor.
    let up = list(
        b,
        &ListQuery::new("u", "a").order(Order::UpdatedAsc).limit(2),
    )
    .await;
    let c = Cursor::after(up.sessions.last().unwrap(), Order::UpdatedAsc);
    let rest = list(b, &ListQuery::new("u", "a").cursor(c)).await;
    assert_eq!(rest.sessions.len() + 2, rest.total);
}

pub async fn update_is_atomic_and_keeps_identity(b: &dyn SessionBackend) {
    let rec = b
        .create(NewSession::new("u", "a").name("before"))
        .await
        .unwrap();
    let id = rec.record.id.clone();
    let updated = b
        .update("u", "a", &id, &mut |r| r.config.name = "after".into())
        .await
        .unwrap();
    assert_eq!(updated.record.config.name, "after");
    assert!(updated.record.updated_at >= rec.record.updated_at);
    assert!(updated.version > rec.version);
    let v2 = b.get("u", "a", &id).await.unwrap().unwrap();
    assert_eq!(v2, updated);
    // Listed by updated_at with the new time.
    let page = list(b, &ListQuery::new("u", "a").order(Order::UpdatedDesc)).await;
    assert_eq!(page.sessions[0].config.name, "after");
    let changes: [(&str, Change); 4] = [
        ("id", |r| r.id = "other".into()),
        ("user_id", |r| r.user_id = "other".into()),
        ("agent_id", |r| r.agent_id = "other".into()),
        ("created_at", |r| {
            r.created_at += chrono::Duration::seconds(1);
        }),
    ];
    for (field, mut change) in changes {
        let err = b.update("u", "a", &id, &mut change).await.unwrap_err();
        assert!(
            matches!(err, StoreError::IdentityChanged { field: f, .. } if f == field),
            "{err}"
        );
        assert_eq!(b.get("u", "a", &id).await.unwrap().unwrap(), v2);
    }
    let missing = b
        .update("u", "a", "nope", &mut |r| r.config.name = "x".into())
        .await;
    assert!(matches!(missing, Err(StoreError::NotFound { .. })));
    let elsewhere = b
        .update("v", "a", &id, &mut |r| r.config.name = "x".into())
        .await;
    assert!(matches!(elsewhere, Err(StoreError::NotFound { .. })));
}

pub async fn compare_and_swap_refuses_stale_versions(b: &dyn SessionBackend) {
    let rec = b.create(NewSession::new("u", "a")).await.unwrap();
    let id = rec.record.id.clone();
    let v1 = rec.version;
    let v2 = b
        .update_if_version("u", "a", &id, v1, &mut |r| r.config.name = "A".into())
        .await
        .unwrap();
    let err = b
        .update_if_version("u", "a", &id, v1, &mut |r| r.config.name = "B".into())
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::VersionConflict { expected, actual, .. } if expected == v1 && actual == v2.version),
        "{err}"
    );
    assert_eq!(
        b.get("u", "a", &id)
            .await
            .unwrap()
            .unwrap()
            .record
            .config
            .name,
        "A"
    );
    b.delete("u", "a", &id).await.unwrap();
    let again = b
        .create(NewSession::new("u", "a").id(id.clone()))
        .await
        .unwrap();
    assert!(again.version > v2.version);
    let stale = b
        .update_if_version("u", "a", &id, v2.version, &mut |r| {
            r.config.name = "C".into();
        })
        .await;
    assert!(matches!(stale, Err(StoreError::VersionConflict { .. })));
    // Erasing the user does not make versions start over.
    b.delete_all("u").await.unwrap();
    let after_erasure = b
        .create(NewSession::new("u", "a").id(id.clone()))
        .await
        .unwrap();
    assert!(after_erasure.version > again.version);
}

pub async fn delete_removes_and_reports_missing(b: &dyn SessionBackend) {
    let rec = b.create(NewSession::new("u", "a")).await.unwrap();
    let id = rec.record.id.clone();
    assert!(matches!(
        b.delete("v", "a", &id).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        b.delete("u", "b", &id).await,
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(b.delete("u", "a", &id).await.unwrap(), rec.record);
    assert!(b.get("u", "a", &id).await.unwrap().is_none());
    assert!(matches!(
        b.delete("u", "a", &id).await,
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(list(b, &ListQuery::new("u", "a")).await.total, 0);
    b.create(NewSession::new("u", "a").id(id)).await.unwrap();
    assert_eq!(count(b, "u", "a").await, 1);
}

pub async fn delete_agent_and_delete_all_touch_only_their_scope(b: &dyn SessionBackend) {
    for (u, a, n) in [
        ("u", "a", 3),
        ("u", "b", 2),
        ("v", "a", 4),
        ("u", "c:{x}%", 1),
    ] {
        for i in 0..n {
            let s = b
                .create(NewSession::new(u, a).id(format!("s:{i}}}")))
                .await
                .unwrap();
            b.append_message(u, a, &s.record.id, msg("hi"))
                .await
                .unwrap();
        }
    }
    assert_eq!(b.delete_agent("u", "a").await.unwrap(), 3);
    assert_eq!(b.delete_agent("u", "a").await.unwrap(), 0);
    assert_eq!(
        (
            count(b, "u", "a").await,
            count(b, "u", "b").await,
            count(b, "v", "a").await
        ),
        (0, 2, 4)
    );
    // Histories went with their sessions: a re-created session starts empty.
    b.create(NewSession::new("u", "a").id("s:0}"))
        .await
        .unwrap();
    assert_eq!(b.message_count("u", "a", "s:0}").await.unwrap(), 0);
    assert_eq!(b.delete_all("u").await.unwrap(), 4);
    assert_eq!(b.delete_all("nobody").await.unwrap(), 0);
    assert_eq!(b.delete_all("").await.unwrap(), 0);
    assert_eq!((count(b, "u", "b").await, count(b, "v", "a").await), (0, 4));
    assert_eq!(list(b, &ListQuery::new("v", "a")).await.total, 4);
    b.create(NewSession::new("u", "b").id("s:0}"))
        .await
        .unwrap();
    assert_eq!(b.message_count("u", "b", "s:0}").await.unwrap(), 0);
}

pub async fn users_never_see_each_other(b: &dyn SessionBackend) {
    let a = b
        .create(NewSession::new("alice", "bot").id("same").name("alice's"))
        .await
        .unwrap();
    b.create(NewSession::new("mallory", "bot").id("same"))
        .await
        .unwrap();
    b.update("mallory", "bot", "same", &mut |r| {
        r.config.name = "pwned".into();
    })
    .await
    .unwrap();
    b.delete("mallory", "bot", "same").await.unwrap();
    assert_eq!(
        b.get("alice", "bot", "same").await.unwrap().unwrap().record,
        a.record
    );
    assert_eq!(b.delete_all("mallory").await.unwrap(), 0);
    assert!(b.get("alice ", "bot", "same").await.unwrap().is_none());
    assert!(b.get("ALICE", "bot", "same").await.unwrap().is_none());
    // Ids that would break a naive hash tag or key name are separate scopes.
    for (u, ag) in [
        ("alice}", "bot"),
        ("{alice", "bot"),
        ("alice", "bot:x"),
        ("alice|bot", "x"),
    ] {
        assert!(b.get(u, ag, "same").await.unwrap().is_none(), "{u} {ag}");
        b.create(NewSession::new(u, ag).id("same")).await.unwrap();
    }
    assert_eq!(count(b, "alice", "bot").await, 1);
    assert_eq!(list(b, &ListQuery::new("alicebot", "")).await.total, 0);
    assert_eq!(
        list(b, &ListQuery::new("", "")).await,
        ListSessionsResponse::default()
    );
}

pub async fn unknown_scopes_list_empty(b: &dyn SessionBackend) {
    assert_eq!(
        list(b, &ListQuery::new("nobody", "nothing").limit(5)).await,
        ListSessionsResponse::default()
    );
    assert_eq!(
        b.list_json(&ListQuery::new("nobody", "nothing"))
            .await
            .unwrap(),
        br#"{"sessions":[],"total":0}"#
    );
}

pub async fn bad_input_is_refused_and_changes_nothing(b: &dyn SessionBackend) {
    let long = "x".repeat(1025);
    for (new, field) in [
        (NewSession::new("", "a"), "user_id"),
        (NewSession::new("u", ""), "agent_id"),
        (NewSession::new("u", "a").id(""), "id"),
        (NewSession::new(long.clone(), "a"), "user_id"),
        (NewSession::new("u", long.clone()), "agent_id"),
        (NewSession::new("u", "a").id(long.clone()), "id"),
    ] {
        match b.create(new).await.unwrap_err() {
            StoreError::EmptyId { field: f } | StoreError::IdTooLong { field: f, .. } => {
                assert_eq!(f, field);
            }
            other => panic!("unexpected {other}"),
        }
    }
    b.create(NewSession::new("x".repeat(1024), "a"))
        .await
        .unwrap();
    assert_eq!(b.delete_all(&"x".repeat(1024)).await.unwrap(), 1);
    assert_eq!(count(b, "u", "a").await, 0);
    // Too deep.
    let mut deep = serde_json::json!(1);
    for _ in 0..200 {
        deep = Value::Array(vec![deep]);
    }
    let rec = b.create(NewSession::new("u", "a")).await.unwrap();
    let err = b
        .update("u", "a", &rec.record.id, &mut |r| {
            r.extra.insert("deep".into(), deep.clone());
        })
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::TooDeep { .. }), "{err}");
}

pub async fn agents_register_list_update_and_unregister(b: &dyn SessionBackend) {
    let a = b
        .register_agent(AgentRecord::new("u", data("one")))
        .await
        .unwrap();
    let two = b
        .register_agent(AgentRecord::new("u", data("two")))
        .await
        .unwrap();
    let three = b
        .register_agent(AgentRecord::new("u", data("three")))
        .await
        .unwrap();
    let names = |v: Vec<std::sync::Arc<AgentRecord>>| -> Vec<String> {
        v.iter().map(|r| r.name().unwrap().to_owned()).collect()
    };
    assert_eq!(names(b.agents("u").await.unwrap()), ["one", "two", "three"]);
    let dup = b.register_agent(AgentRecord::clone(&a)).await.unwrap_err();
    assert!(matches!(dup, StoreError::DuplicateAgent { .. }), "{dup}");
    let renamed = b
        .update_agent("u", &a.id, &mut |d| {
            d.insert("name".into(), "uno".into());
        })
        .await
        .unwrap();
    assert_eq!(renamed.name(), Some("uno"));
    assert_eq!(renamed.created_at, a.created_at);
    assert_eq!(b.agent("u", &a.id).await.unwrap().unwrap(), renamed);
    assert!(b.agent("mallory", &a.id).await.unwrap().is_none());
    assert!(b.agents("mallory").await.unwrap().is_empty());

    b.create(NewSession::new("u", &two.id)).await.unwrap();
    assert!(b.agent_known("u", &two.id).await.unwrap());
    assert!(b.agent_known("u", &three.id).await.unwrap());
    b.create(NewSession::new("u", "unregistered"))
        .await
        .unwrap();
    assert!(b.agent_known("u", "unregistered").await.unwrap());
    assert!(!b.agent_known("u", "nobody").await.unwrap());
    assert!(!b.agent_known("mallory", &two.id).await.unwrap());
    assert_eq!(b.unregister_agent("u", &two.id).await.unwrap(), two);
    assert_eq!(count(b, "u", &two.id).await, 0);
    assert!(!b.agent_known("u", &two.id).await.unwrap());
    assert_eq!(names(b.agents("u").await.unwrap()), ["uno", "three"]);
    assert!(matches!(
        b.unregister_agent("u", &two.id).await,
        Err(StoreError::AgentNotFound { .. })
    ));
    assert!(matches!(
        b.update_agent("u", &two.id, &mut |_| {}).await,
        Err(StoreError::AgentNotFound { .. })
    ));
    // delete_all unregisters every agent.
    assert_eq!(b.delete_all("u").await.unwrap(), 1);
    assert!(b.agents("u").await.unwrap().is_empty());
    let again = b.register_agent(AgentRecord::clone(&a)).await.unwrap();
    assert_eq!(again.id, a.id);
}

pub async fn messages_append_replace_and_page(b: &dyn SessionBackend) {
    let s = b
        .create(NewSession::new("u", "a").id("s:1{}"))
        .await
        .unwrap();
    let id = s.record.id.clone();
    assert!(matches!(
        b.append_message("u", "a", "nope", msg("x")).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        b.messages("u", "a", "nope", 0, 10).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        b.message_count("v", "a", &id).await,
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(b.messages("u", "a", &id, 0, 10).await.unwrap(), vec![]);
    let mut texts = Vec::new();
    for i in 0..5 {
        let m = msg(&format!("m{i}"));
        assert_eq!(b.append_message("u", "a", &id, m).await.unwrap(), i);
        texts.push(format!("m{i}"));
    }
    // The same id as the last one replaces it.
    let mut reply = msg("Hel");
    assert_eq!(
        b.append_message("u", "a", &id, reply.clone())
            .await
            .unwrap(),
        5
    );
    reply.content = vec![ContentBlock::text("Hello")];
    assert_eq!(
        b.append_message("u", "a", &id, reply.clone())
            .await
            .unwrap(),
        5
    );
    assert_eq!(b.message_count("u", "a", &id).await.unwrap(), 6);
    let all = b.messages("u", "a", &id, 0, usize::MAX).await.unwrap();
    assert_eq!(all.last().unwrap().text(), "Hello");
    assert_eq!(*all[5], reply);
    let page: Vec<String> = b
        .messages("u", "a", &id, 2, 2)
        .await
        .unwrap()
        .iter()
        .map(|m| m.text())
        .collect();
    assert_eq!(page, ["m2", "m3"]);
    assert!(b.messages("u", "a", &id, 2, 0).await.unwrap().is_empty());
    assert!(b.messages("u", "a", &id, 50, 5).await.unwrap().is_empty());
    let newest = b.messages_before("u", "a", &id, None, 2).await.unwrap();
    assert_eq!(
        (newest[0].text(), newest[1].text()),
        ("Hello".into(), "m4".into())
    );
    let older = b
        .messages_before("u", "a", &id, Some(&newest[1].id), 2)
        .await
        .unwrap();
    assert_eq!(
        (older[0].text(), older[1].text()),
        ("m3".into(), "m2".into())
    );
    let oldest = b
        .messages_before("u", "a", &id, Some(&all[0].id), 5)
        .await
        .unwrap();
    assert!(oldest.is_empty());
    let err = b
        .messages_before("u", "a", &id, Some("no-such"), 5)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidCursor { .. }), "{err}");
    // Appending does not rewrite the record: its version is unchanged.
    assert_eq!(
        b.get("u", "a", &id).await.unwrap().unwrap().version,
        s.version
    );
    // Deleting the session deletes its history.
    b.delete("u", "a", &id).await.unwrap();
    b.create(NewSession::new("u", "a").id(id.clone()))
        .await
        .unwrap();
    assert_eq!(b.message_count("u", "a", &id).await.unwrap(), 0);
    assert!(b
        .messages_before("u", "a", &id, None, 5)
        .await
        .unwrap()
        .is_empty());
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

pub async fn records_over_the_size_limit_are_refused(b: &dyn SessionBackend, limit: usize) {
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
        .update("u", "a", &rec.record.id, &mut |r| {
            r.config.name.clone_from(&huge);
        })
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::RecordTooLarge { .. }), "{err}");
    assert_eq!(b.get("u", "a", &rec.record.id).await.unwrap().unwrap(), rec);
    assert_eq!(count(b, "u", "a").await, 1);
}

/// Instantiates every test of this suite with a backend made by `$make` (an async
/// expression giving `Option<backend>`; `None` skips).
#[macro_export]
macro_rules! redis_suite {
    ($make:expr) => {
        $crate::redis_suite!(@each $make;
            create_get_and_json,
            insert_keeps_the_record_and_refuses_duplicates,
            list_matches_the_reference_answer,
            list_orders_with_ties_broken_by_id,
            list_pages_with_total_before_paging,
            list_filters_count_only_matching,
            cursor_pages_stay_correct_under_inserts,
            update_is_atomic_and_keeps_identity,
            compare_and_swap_refuses_stale_versions,
            delete_removes_and_reports_missing,
            delete_agent_and_delete_all_touch_only_their_scope,
            users_never_see_each_other,
            unknown_scopes_list_empty,
            bad_input_is_refused_and_changes_nothing,
            agents_register_list_update_and_unregister,
            messages_append_replace_and_page,
            find_session_prefers_the_named_agent,
        );
    };
    (@each $make:expr; $($name:ident),+ $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                let Some(backend) = $make.await else { return };
                $crate::redis_common::suite::$name(&backend).await;
            }
        )+
    };
}
