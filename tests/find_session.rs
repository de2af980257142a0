//! `SessionStore::find_session`: a session found by user and id across the user's agents (the
//! reference's HTTP API keys sessions by user and id), never across users.

use agent_sessions::{NewSession, SessionStore};

#[test]
fn finds_by_user_and_id_preferring_the_named_agent() {
    let store = SessionStore::new();
    let a = store
        .create(NewSession::new("u", "a").id("s").name("under a"))
        .unwrap();
    store
        .create(NewSession::new("u", "c").id("s").name("under c"))
        .unwrap();
    store
        .create(NewSession::new("u", "b").id("only-b"))
        .unwrap();
    store
        .create(NewSession::new("v", "a").id("theirs"))
        .unwrap();

    // The named agent first; else the user's agents in byte order of their ids.
    assert_eq!(
        store
            .find_session("u", "c", "s")
            .unwrap()
            .record
            .config
            .name,
        "under c"
    );
    assert_eq!(
        store
            .find_session("u", "zzz", "s")
            .unwrap()
            .record
            .config
            .name,
        "under a"
    );
    assert_eq!(
        store
            .find_session("u", "a", "only-b")
            .unwrap()
            .record
            .agent_id,
        "b"
    );

    // The version is the session's, for a compare-and-swap.
    let found = store.find_session("u", "x", "s").unwrap();
    assert_eq!(
        found.version,
        store.get_versioned("u", "a", &a.id).unwrap().version
    );

    // Never another user's, whatever agent is named.
    assert!(store.find_session("u", "a", "theirs").is_none());
    assert!(store.find_session("w", "a", "s").is_none());
    assert!(store.find_session("u", "a", "nope").is_none());
}

#[test]
fn update_versioned_returns_the_new_version() {
    let store = SessionStore::new();
    let rec = store.create(NewSession::new("u", "a")).unwrap();
    let before = store.get_versioned("u", "a", &rec.id).unwrap().version;
    let after = store
        .update_versioned("u", "a", &rec.id, |r| r.config.name = "x".into())
        .unwrap();
    assert!(after.version > before);
    assert_eq!(after.record.config.name, "x");
    assert_eq!(
        store.get_versioned("u", "a", &rec.id).unwrap().version,
        after.version
    );
    assert!(store.update_versioned("u", "a", "nope", |_| {}).is_err());
}
