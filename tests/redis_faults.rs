//! The Redis backend when Redis misbehaves: a stopped server (SIGSTOP), a killed one
//! (SIGKILL), one restarted on the same port and directory, one not started yet. Every call
//! fails with `Unavailable` and never hangs; afterwards the same backend value serves again
//! without anyone reconnecting it, and every write Redis acknowledged before a crash is
//! still there (`appendfsync always`).
//!
//! Needs `AGENT_SESSIONS_REDIS_SERVER_BIN` (run under `scripts/with-redis.sh`).
#![cfg(feature = "redis")]

#[path = "common/redis_env.rs"]
mod redis_env;

use std::time::{Duration, Instant};

use agent_sessions::redis::RedisBackend;
use agent_sessions::{ListQuery, NewSession, SessionBackend, StoreError};
use redis_env::PrivateRedis;

const TIMEOUT: Duration = Duration::from_millis(500);

/// "Did not hang": far longer than the timeout, so no scheduling hiccup can fail it.
const NO_HANG: Duration = Duration::from_secs(10);

async fn backend(redis: &PrivateRedis) -> RedisBackend {
    RedisBackend::builder()
        .timeout(TIMEOUT)
        .connect(&redis.url())
        .await
        .expect("a valid URL")
}

/// Runs `call` and checks that it failed with `Unavailable`, without hanging.
async fn assert_unavailable<T: std::fmt::Debug>(
    what: &str,
    call: impl std::future::Future<Output = Result<T, StoreError>>,
) {
    let started = Instant::now();
    let result = tokio::time::timeout(NO_HANG, call)
        .await
        .unwrap_or_else(|_| panic!("{what} hung for {NO_HANG:?}"));
    match result {
        Err(StoreError::Unavailable { reason }) => {
            eprintln!(
                "{what}: unavailable after {:?}: {reason}",
                started.elapsed()
            );
        }
        other => panic!("{what}: expected Unavailable, got {other:?}"),
    }
}

/// Retries `call` until it succeeds (the backend reconnects in the background), for up to
/// `NO_HANG`.
async fn eventually<T, F, Fut>(what: &str, mut call: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, StoreError>>,
{
    let deadline = Instant::now() + NO_HANG;
    loop {
        match call().await {
            Ok(v) => return v,
            Err(e) if e.is_unavailable() && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("{what}: still failing: {e}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_server_makes_calls_unavailable_then_serves_again() {
    let Some(redis) = PrivateRedis::start() else {
        return;
    };
    let b = backend(&redis).await;
    let s = b.create(NewSession::new("u", "a")).await.unwrap();
    let id = s.record.id.clone();

    redis.pause();
    assert_unavailable("get", b.get("u", "a", &id)).await;
    assert_unavailable("list", b.list(&ListQuery::new("u", "a"))).await;
    assert_unavailable("create", b.create(NewSession::new("u", "a"))).await;
    assert_unavailable(
        "update",
        b.update("u", "a", &id, &mut |r| r.state.cur_iter += 1),
    )
    .await;
    assert_unavailable("health_check", b.health_check()).await;
    // Many at once: each still bounded.
    let calls: Vec<_> = (0..20)
        .map(|_| {
            let b = b.clone();
            async move { b.count("u", "a").await }
        })
        .collect();
    for result in futures_join_all(calls).await {
        assert!(
            matches!(result, Err(StoreError::Unavailable { .. })),
            "{result:?}"
        );
    }

    redis.resume();
    eventually("health_check", || b.health_check()).await;
    let got = eventually("get", || b.get("u", "a", &id)).await.unwrap();
    assert_eq!(got.record.id, id);
    // The update sent while it was stopped may or may not have been applied.
    assert!(got.record.state.cur_iter <= 1);
    let after = b.create(NewSession::new("u", "a")).await.unwrap();
    assert!(b.get("u", "a", &after.record.id).await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_and_restarted_server_keeps_acknowledged_writes() {
    let Some(mut redis) = PrivateRedis::start() else {
        return;
    };
    let b = backend(&redis).await;
    let mut acknowledged = Vec::new();
    for i in 0..20 {
        let s = b
            .create(NewSession::new("u", "a").name(format!("s{i}")))
            .await
            .unwrap();
        acknowledged.push(s.record.id.clone());
    }
    let updated = b
        .update("u", "a", &acknowledged[0], &mut |r| {
            r.config.name = "changed".into();
        })
        .await
        .unwrap();
    let clone = b.clone();

    redis.kill();
    assert_unavailable("get", b.get("u", "a", &acknowledged[0])).await;
    assert_unavailable("create", b.create(NewSession::new("u", "a"))).await;
    assert_unavailable("list_json", clone.list_json(&ListQuery::new("u", "a"))).await;
    assert_unavailable("health_check", b.health_check()).await;

    redis.restart();
    // The same values serve again, with no reconnect by hand.
    eventually("health_check", || b.health_check()).await;
    let all = ListQuery::new("u", "a");
    let page = eventually("list", || clone.list(&all)).await;
    assert_eq!(page.total, 20);
    for id in &acknowledged {
        assert!(
            b.get("u", "a", id).await.unwrap().is_some(),
            "{id} was lost"
        );
    }
    let first = b.get("u", "a", &acknowledged[0]).await.unwrap().unwrap();
    assert_eq!(first, updated);
    // Writes work again, and versions keep growing.
    let next = b
        .update("u", "a", &acknowledged[0], &mut |r| r.state.cur_iter += 1)
        .await
        .unwrap();
    assert!(next.version > updated.version);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_made_before_redis_starts_serves_once_it_is_up() {
    let Some(mut redis) = PrivateRedis::start() else {
        return;
    };
    redis.kill();
    // Connecting does not wait for Redis.
    let b = tokio::time::timeout(NO_HANG, backend(&redis))
        .await
        .expect("connect does not hang");
    assert_unavailable("health_check", b.health_check()).await;
    assert_unavailable("create", b.create(NewSession::new("u", "a"))).await;
    redis.restart();
    eventually("health_check", || b.health_check()).await;
    eventually("create", || b.create(NewSession::new("u", "a").id("s1"))).await;
    assert_eq!(b.count("u", "a").await.unwrap(), 1);
}

#[tokio::test]
async fn a_bad_url_is_refused() {
    let err = RedisBackend::connect("http://nowhere").await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable { .. }), "{err}");
}

/// Awaits every future, concurrently.
async fn futures_join_all<F: std::future::Future + Send + 'static>(calls: Vec<F>) -> Vec<F::Output>
where
    F::Output: Send,
{
    let handles: Vec<_> = calls.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.expect("task"));
    }
    out
}
