//! A durable store through the async contract: writes wait for their fsync on the store's own
//! thread, never on the caller's, and what they acknowledged survives a reopen.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Waker};

use agent_sessions::{NewSession, SessionBackend, SessionStore};

#[test]
fn an_async_durable_write_yields_instead_of_blocking_on_fsync() {
    let dir = tempfile::tempdir().unwrap();
    let store = SessionStore::builder()
        .autosave(None)
        .open(dir.path())
        .unwrap();
    let created = {
        let mut write = pin!(SessionBackend::create(
            &store,
            NewSession::new("u", "a").id("s1")
        ));
        let mut cx = Context::from_waker(Waker::noop());
        // The first poll journals the write and hands the fsync to the store's thread: it
        // cannot be done yet, because that thread is only asked in this poll.
        assert!(write.as_mut().poll(&mut cx).is_pending());
        // The change is visible in memory before it is durable, as with the blocking API.
        assert!(store.get("u", "a", "s1").is_some());
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(write).unwrap()
    };
    assert_eq!(created.record.id, "s1");
    drop(store);
    let reopened = SessionStore::open(dir.path()).unwrap();
    assert_eq!(reopened.get("u", "a", "s1").unwrap(), created.record);
}

#[tokio::test(flavor = "current_thread")]
async fn many_async_writers_on_one_thread_all_commit() {
    let dir = tempfile::tempdir().unwrap();
    let store = SessionStore::builder()
        .autosave(None)
        .open(dir.path())
        .unwrap();
    // 64 writes in flight at once on a single-threaded runtime: had any of them blocked the
    // thread on its fsync, the others could not have been started meanwhile.
    let writes = (0..64).map(|i| {
        let store = store.clone();
        tokio::spawn(async move {
            SessionBackend::create(&store, NewSession::new("u", "a").id(format!("s{i:02}"))).await
        })
    });
    let mut versions = Vec::new();
    for w in writes.collect::<Vec<_>>() {
        versions.push(w.await.unwrap().unwrap().version);
    }
    versions.sort_unstable();
    versions.dedup();
    assert_eq!(versions.len(), 64);
    drop(store);
    let reopened = SessionStore::open(dir.path()).unwrap();
    assert_eq!(reopened.count("u", "a"), 64);
}

#[tokio::test]
async fn an_update_closure_writing_to_another_store_commits_that_write_itself() {
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let one = SessionStore::builder()
        .autosave(None)
        .open(d1.path())
        .unwrap();
    let two = SessionStore::builder()
        .autosave(None)
        .open(d2.path())
        .unwrap();
    let s = one.create(NewSession::new("u", "a")).unwrap();
    let mut n = 0;
    SessionBackend::update(&one, "u", "a", &s.id, &mut |r| {
        r.state.cur_iter += 1;
        // A blocking write to another store from inside the closure: it must commit to its own
        // journal, not be deferred into this update's.
        n += 1;
        two.create(NewSession::new("u", "b").id(format!("side{n}")))
            .unwrap();
    })
    .await
    .unwrap();
    drop((one, two));
    let two = SessionStore::open(d2.path()).unwrap();
    assert_eq!(two.count("u", "b"), n);
    let one = SessionStore::open(d1.path()).unwrap();
    assert_eq!(one.get("u", "a", &s.id).unwrap().state.cur_iter, 1);
}
