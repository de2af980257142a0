//! The Redis backend on a standalone server against the backend contract in
//! `tests/contract/` (the in-memory store runs the same contract in `tests/store_contract.rs`).
//!
//! Needs `AGENT_SESSIONS_REDIS_URL` (run under `scripts/with-redis.sh`).
#![cfg(feature = "redis")]

mod contract;
#[path = "common/redis_env.rs"]
mod redis_env;

use agent_sessions::{NewSession, SessionBackend, StoreError};

contract_tests!(redis_env::standalone());

#[tokio::test]
async fn records_over_the_size_limit_are_refused() {
    let limit = 4096;
    let Some(b) = redis_env::standalone_with(redis_env::builder().max_record_bytes(limit)).await
    else {
        return;
    };
    contract::records_over_the_size_limit_are_refused(&b, limit).await;
}

#[tokio::test]
async fn id_limit_is_configurable() {
    let Some(b) = redis_env::standalone_with(redis_env::builder().max_id_bytes(4)).await else {
        return;
    };
    b.create(NewSession::new("abcd", "a").id("s1"))
        .await
        .unwrap();
    let err = b
        .create(NewSession::new("abcde", "a").id("s2"))
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        StoreError::IdTooLong {
            field: "user_id",
            len: 5,
            limit: 4
        }
    ));
}

#[tokio::test]
async fn health_check_and_debug() {
    let Some(b) = redis_env::standalone().await else {
        return;
    };
    b.health_check().await.unwrap();
    assert!(format!("{b:?}").contains("Standalone"));
}
