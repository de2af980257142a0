//! The Redis backend under concurrent writers, on a standalone server and on a Cluster:
//! updates lose no increment, lists' totals are exact at their instant, and two separately
//! connected backends see each other's writes.
//!
//! Needs `AGENT_SESSIONS_REDIS_URL` and `AGENT_SESSIONS_REDIS_CLUSTER_URLS` (run under
//! `scripts/with-redis.sh`).
#![cfg(feature = "redis")]

#[path = "common/redis_env.rs"]
mod redis_env;

use std::collections::HashSet;
use std::sync::Arc;

use agent_sessions::redis::RedisBackend;
use agent_sessions::{ListQuery, NewSession, SessionBackend};

const TASKS: usize = 16;
const UPDATES: usize = 50;

async fn no_lost_update(b: RedisBackend) {
    let s = b.create(NewSession::new("u", "a")).await.unwrap();
    let id = Arc::new(s.record.id.clone());
    let mut tasks = Vec::new();
    for _ in 0..TASKS {
        let (b, id) = (b.clone(), Arc::clone(&id));
        tasks.push(tokio::spawn(async move {
            let mut versions = Vec::new();
            for _ in 0..UPDATES {
                let v = b
                    .update("u", "a", &id, &mut |r| r.state.cur_iter += 1)
                    .await
                    .unwrap();
                versions.push(v.version);
            }
            versions
        }));
    }
    let mut versions = HashSet::new();
    for t in tasks {
        for v in t.await.unwrap() {
            assert!(versions.insert(v), "version {v} was handed out twice");
        }
    }
    let end = b.get("u", "a", &id).await.unwrap().unwrap();
    assert_eq!(
        usize::try_from(end.record.state.cur_iter).unwrap(),
        TASKS * UPDATES
    );
    assert!(versions.iter().all(|&v| v <= end.version && v > s.version));
}

async fn totals_are_exact_under_creates_and_deletes(b: RedisBackend) {
    for i in 0..20 {
        b.create(NewSession::new("u", "a").id(format!("seed{i}")))
            .await
            .unwrap();
    }
    let mut writers = Vec::new();
    for w in 0..4 {
        let b = b.clone();
        writers.push(tokio::spawn(async move {
            for i in 0..40 {
                let id = format!("w{w}-{i}");
                b.create(NewSession::new("u", "a").id(id.clone()))
                    .await
                    .unwrap();
                if i % 2 == 0 {
                    b.delete("u", "a", &id).await.unwrap();
                }
            }
        }));
    }
    let mut checks = 0;
    while writers.iter().any(|w| !w.is_finished()) || checks < 5 {
        let page = b.list(&ListQuery::new("u", "a")).await.unwrap();
        assert_eq!(page.total, page.sessions.len(), "total and page disagree");
        let filtered = b
            .list(&ListQuery::new("u", "a").source(agent_sessions::model::SessionSource::User))
            .await
            .unwrap();
        assert_eq!(filtered.total, filtered.sessions.len());
        let ids: HashSet<_> = page.sessions.iter().map(|s| &s.id).collect();
        assert_eq!(ids.len(), page.sessions.len(), "a session listed twice");
        checks += 1;
    }
    for w in writers {
        w.await.unwrap();
    }
    assert_eq!(b.count("u", "a").await.unwrap(), 20 + 4 * 20);
    assert_eq!(
        b.list(&ListQuery::new("u", "a")).await.unwrap().total,
        20 + 4 * 20
    );
}

async fn two_backends_share_one_store(one: RedisBackend, two: RedisBackend) {
    let s = one
        .create(NewSession::new("u", "a").name("from one"))
        .await
        .unwrap();
    let seen = two.get("u", "a", &s.record.id).await.unwrap().unwrap();
    assert_eq!(seen, s);
    let changed = two
        .update("u", "a", &s.record.id, &mut |r| {
            r.config.name = "from two".into();
        })
        .await
        .unwrap();
    assert_eq!(
        one.get("u", "a", &s.record.id).await.unwrap().unwrap(),
        changed
    );
    let stale = one
        .update_if_version("u", "a", &s.record.id, s.version, &mut |r| {
            r.config.name = "lost".into();
        })
        .await;
    assert!(stale.is_err(), "a stale compare-and-swap went through");
    two.append_message(
        "u",
        "a",
        &s.record.id,
        agent_sessions::model::Msg::new("u", agent_sessions::model::Role::User, vec![]),
    )
    .await
    .unwrap();
    assert_eq!(one.message_count("u", "a", &s.record.id).await.unwrap(), 1);
    assert_eq!(two.delete_all("u").await.unwrap(), 1);
    assert!(one.get("u", "a", &s.record.id).await.unwrap().is_none());
}

mod standalone {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn no_update_is_lost() {
        if let Some(b) = redis_env::standalone().await {
            no_lost_update(b).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn totals_are_exact() {
        if let Some(b) = redis_env::standalone().await {
            totals_are_exact_under_creates_and_deletes(b).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_backends_see_each_others_writes() {
        let prefix = redis_env::unique("two");
        let b = || redis_env::builder().key_prefix(prefix.clone());
        let (Some(one), Some(two)) = (
            redis_env::standalone_with(b()).await,
            redis_env::standalone_with(b()).await,
        ) else {
            return;
        };
        two_backends_share_one_store(one, two).await;
    }
}

mod cluster {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn no_update_is_lost() {
        if let Some(b) = redis_env::cluster().await {
            no_lost_update(b).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn totals_are_exact() {
        if let Some(b) = redis_env::cluster().await {
            totals_are_exact_under_creates_and_deletes(b).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_backends_see_each_others_writes() {
        let prefix = redis_env::unique("two");
        let b = || redis_env::builder().key_prefix(prefix.clone());
        let (Some(one), Some(two)) = (
            redis_env::cluster_with(b()).await,
            redis_env::cluster_with(b()).await,
        ) else {
            return;
        };
        two_backends_share_one_store(one, two).await;
    }
}
