//! The agent registry and per-session message histories: behaviour, tenant isolation, and
//! persistence across a reopen (from the journal and from a snapshot).

use agent_sessions::model::{AgentRecord, ContentBlock, Msg, Object, Role};
use agent_sessions::{NewSession, SessionStore, StoreError};

fn data(name: &str) -> Object {
    let mut d = Object::new();
    d.insert("name".into(), name.into());
    d
}

fn msg(text: &str) -> Msg {
    Msg::new("user", Role::User, vec![ContentBlock::text(text)])
}

fn texts(store: &SessionStore, u: &str, a: &str, s: &str) -> Vec<String> {
    store
        .messages(u, a, s, 0, 1000)
        .unwrap()
        .iter()
        .map(|m| m.text())
        .collect()
}

#[test]
fn agents_register_list_update_and_unregister() {
    let store = SessionStore::new();
    let a = store
        .register_agent(AgentRecord::new("u", data("one")))
        .unwrap();
    let b = store
        .register_agent(AgentRecord::new("u", data("two")))
        .unwrap();
    let names: Vec<_> = store
        .agents("u")
        .iter()
        .map(|r| r.name().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["one", "two"], "registration order");
    let dup = store.register_agent(AgentRecord::clone(&a)).unwrap_err();
    assert!(matches!(dup, StoreError::DuplicateAgent { .. }), "{dup}");

    let renamed = store
        .update_agent("u", &a.id, |d| {
            d.insert("name".into(), "uno".into());
        })
        .unwrap();
    assert_eq!(renamed.name(), Some("uno"));
    assert_eq!(renamed.created_at, a.created_at);
    assert!(renamed.updated_at >= a.updated_at);
    assert_eq!(store.agent("u", &a.id).unwrap(), renamed);

    // Unregistering deletes the agent's sessions too.
    store.create(NewSession::new("u", &b.id)).unwrap();
    assert_eq!(store.unregister_agent("u", &b.id).unwrap(), b);
    assert_eq!(store.count("u", &b.id), 0);
    assert!(!store.agent_known("u", &b.id));
    let gone = store.unregister_agent("u", &b.id).unwrap_err();
    assert!(matches!(gone, StoreError::AgentNotFound { .. }), "{gone}");
    let gone = store.update_agent("u", &b.id, |_| {}).unwrap_err();
    assert!(matches!(gone, StoreError::AgentNotFound { .. }), "{gone}");
}

#[test]
fn agents_belong_to_their_user() {
    let store = SessionStore::new();
    let a = store
        .register_agent(AgentRecord::new("alice", data("bot")))
        .unwrap();
    assert!(store.agent("mallory", &a.id).is_none());
    assert!(store.agents("mallory").is_empty());
    assert!(!store.agent_known("mallory", &a.id));
    assert!(matches!(
        store.update_agent("mallory", &a.id, |_| {}),
        Err(StoreError::AgentNotFound { .. })
    ));
    assert!(matches!(
        store.unregister_agent("mallory", &a.id),
        Err(StoreError::AgentNotFound { .. })
    ));
    assert_eq!(store.agents("alice").len(), 1);
    // A session makes an agent known without registering it.
    store
        .create(NewSession::new("mallory", "own-agent"))
        .unwrap();
    assert!(store.agent_known("mallory", "own-agent"));
    assert!(store.agent("mallory", "own-agent").is_none());
    // Erasure takes the registrations too.
    store.delete_all("alice").unwrap();
    assert!(store.agents("alice").is_empty());
}

#[test]
fn histories_append_replace_page_and_go_with_their_session() {
    let store = SessionStore::new();
    let s = store.create(NewSession::new("u", "a")).unwrap();
    for i in 0..5 {
        assert_eq!(
            store
                .append_message("u", "a", &s.id, msg(&format!("m{i}")))
                .unwrap(),
            i
        );
    }
    // The same id as the last message replaces it; as an earlier one, it is appended.
    let mut last = (*store.messages("u", "a", &s.id, 4, 1).unwrap()[0]).clone();
    last.content = vec![ContentBlock::text("m4!")];
    assert_eq!(store.append_message("u", "a", &s.id, last).unwrap(), 4);
    let first = (*store.messages("u", "a", &s.id, 0, 1).unwrap()[0]).clone();
    assert_eq!(store.append_message("u", "a", &s.id, first).unwrap(), 5);
    assert_eq!(
        texts(&store, "u", "a", &s.id),
        ["m0", "m1", "m2", "m3", "m4!", "m0"]
    );
    assert_eq!(store.message_count("u", "a", &s.id).unwrap(), 6);

    let page: Vec<String> = store
        .messages("u", "a", &s.id, 1, 2)
        .unwrap()
        .iter()
        .map(|m| m.text())
        .collect();
    assert_eq!(page, ["m1", "m2"]);
    assert!(store.messages("u", "a", &s.id, 10, 5).unwrap().is_empty());
    let bad = store.messages_before("u", "a", &s.id, Some("no-such-message"), 2);
    assert!(matches!(bad, Err(StoreError::InvalidCursor { .. })));

    // Unknown sessions and other users are not found.
    for (u, a, id) in [
        ("u", "a", "nope"),
        ("v", "a", s.id.as_str()),
        ("u", "b", s.id.as_str()),
    ] {
        assert!(matches!(
            store.messages(u, a, id, 0, 5),
            Err(StoreError::NotFound { .. })
        ));
        assert!(matches!(
            store.append_message(u, a, id, msg("x")),
            Err(StoreError::NotFound { .. })
        ));
    }
    // An update of the session keeps its history; a delete ends it.
    store
        .update("u", "a", &s.id, |r| r.config.name = "x".into())
        .unwrap();
    assert_eq!(store.message_count("u", "a", &s.id).unwrap(), 6);
    store.delete("u", "a", &s.id).unwrap();
    store
        .create(NewSession::new("u", "a").id(s.id.clone()))
        .unwrap();
    assert_eq!(store.message_count("u", "a", &s.id).unwrap(), 0);
}

#[test]
fn agents_and_histories_survive_a_reopen() {
    for snapshot in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let open = || {
            SessionStore::builder()
                .autosave(None)
                .open(dir.path())
                .unwrap()
        };
        let store = open();
        let a = store
            .register_agent(AgentRecord::new("u", data("bot")))
            .unwrap();
        let b = store
            .register_agent(AgentRecord::new("u", data("gone")))
            .unwrap();
        store
            .update_agent("u", &a.id, |d| {
                d.insert("name".into(), "bot2".into());
            })
            .unwrap();
        store.unregister_agent("u", &b.id).unwrap();
        let s = store.create(NewSession::new("u", &a.id)).unwrap();
        for i in 0..3 {
            store
                .append_message("u", &a.id, &s.id, msg(&format!("m{i}")))
                .unwrap();
        }
        if snapshot {
            store.snapshot().unwrap();
        }
        let mut last = (*store.messages("u", &a.id, &s.id, 2, 1).unwrap()[0]).clone();
        last.content = vec![ContentBlock::text("m2 (final)")];
        store.append_message("u", &a.id, &s.id, last).unwrap();
        store.append_message("u", &a.id, &s.id, msg("m3")).unwrap();
        let gone = store.create(NewSession::new("u", &a.id)).unwrap();
        store
            .append_message("u", &a.id, &gone.id, msg("lost"))
            .unwrap();
        store.delete("u", &a.id, &gone.id).unwrap();
        let agents_before = store.agents("u");
        drop(store);

        let store = open();
        assert_eq!(store.agents("u"), agents_before, "snapshot: {snapshot}");
        assert_eq!(store.agent("u", &a.id).unwrap().name(), Some("bot2"));
        assert!(store.agent("u", &b.id).is_none());
        assert_eq!(
            texts(&store, "u", &a.id, &s.id),
            ["m0", "m1", "m2 (final)", "m3"]
        );
        assert!(store.messages("u", &a.id, &gone.id, 0, 5).is_err());
        // And once more through a snapshot of what was replayed.
        store.snapshot().unwrap();
        drop(store);
        let store = open();
        assert_eq!(store.agents("u"), agents_before);
        assert_eq!(
            texts(&store, "u", &a.id, &s.id),
            ["m0", "m1", "m2 (final)", "m3"]
        );
    }
}

#[test]
fn replaying_appends_over_a_snapshot_that_already_has_them_adds_nothing() {
    // Appends journaled after a snapshot began may also be in the snapshot; replaying them
    // must not duplicate messages. The directory is written by hand to be in that state: the
    // snapshot holds m0..m9, and the journal it names holds m5..m9 again (the overlap), then
    // m10..m14 and a replacement of m14 (same message id: it replaces, as when it was sent).
    let dir = tempfile::tempdir().unwrap();
    let (user, agent, session) = ("u", "a", "s1");
    let record = serde_json::json!({
        "id": session, "user_id": user, "agent_id": agent,
        "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
        "config": {"workspace_id": "w", "name": "n"},
    });
    let mut messages: Vec<Msg> = (0..15).map(|i| msg(&format!("m{i}"))).collect();
    let line = |i: usize, m: &Msg| {
        let line = serde_json::json!({
            "op": "msg", "user_id": user, "agent_id": agent, "session_id": session,
            "index": i, "message": m,
        });
        format!("{line}\n")
    };
    let shard = serde_json::json!({
        "format": "agent-sessions/shard", "version": 1,
        "sessions": [{"version": 1, "record": record, "messages": &messages[..10]}],
    });
    let manifest = serde_json::json!({
        "format": "agent-sessions/manifest", "version": 1, "journal": 2, "last_version": 1,
        "shards": [{"file": "shard-0000-0000000000000002.json", "sessions": 1}],
        "agents": null,
    });
    let mut replacement = msg("m14, edited");
    replacement.id = messages[14].id.clone();
    let journal: String = (5..15)
        .map(|i| line(i, &messages[i]))
        .chain([line(14, &replacement)])
        .collect();
    let write = |name: &str, text: String| std::fs::write(dir.path().join(name), text).unwrap();
    write("manifest.json", manifest.to_string());
    write("shard-0000-0000000000000002.json", shard.to_string());
    write("journal-0000000000000002.jsonl", journal);

    let store = SessionStore::builder()
        .autosave(None)
        .snapshot_shards(1)
        .open(dir.path())
        .unwrap();
    let recovery = store.recovery().unwrap();
    assert_eq!((recovery.snapshot_sessions, recovery.journal_ops), (1, 11));
    messages[14] = replacement;
    let expected: Vec<String> = messages.iter().map(Msg::text).collect();
    assert_eq!(texts(&store, user, agent, session), expected);
}
