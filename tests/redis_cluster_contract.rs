//! The Redis backend on a 3-master Redis Cluster against the backend contract in
//! `tests/contract/`: every call is one slot (no CROSSSLOT), whichever node the user's slot
//! lives on.
//!
//! Needs `AGENT_SESSIONS_REDIS_CLUSTER_URLS` (run under `scripts/with-redis.sh`).
#![cfg(feature = "redis")]

mod contract;
#[path = "common/redis_env.rs"]
mod redis_env;

use agent_sessions::{NewSession, SessionBackend};

contract_tests!(redis_env::cluster());

#[tokio::test]
async fn records_over_the_size_limit_are_refused() {
    let limit = 4096;
    let Some(b) = redis_env::cluster_with(redis_env::builder().max_record_bytes(limit)).await
    else {
        return;
    };
    contract::records_over_the_size_limit_are_refused(&b, limit).await;
}

/// Many users spread over every master: each user's calls still work, and `delete_all`
/// erases exactly that user's sessions.
#[tokio::test]
async fn users_on_every_node() {
    let Some(b) = redis_env::cluster().await else {
        return;
    };
    b.health_check().await.unwrap();
    for u in 0..40 {
        for a in 0..2 {
            b.create(NewSession::new(format!("user-{u}"), format!("agent-{a}")))
                .await
                .unwrap();
        }
    }
    for u in 0..40 {
        let user = format!("user-{u}");
        assert_eq!(b.count(&user, "agent-1").await.unwrap(), 1);
        assert_eq!(b.delete_all(&user).await.unwrap(), 2);
        assert_eq!(b.count(&user, "agent-0").await.unwrap(), 0);
    }
}
