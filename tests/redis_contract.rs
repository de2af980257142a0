//! The Redis backend on a standalone server against the behavioural suite (and the in-memory
//! store against the same suite, as the reference it is checked against).
//!
//! Needs `AGENT_SESSIONS_REDIS_URL` (run under `scripts/with-redis.sh`).
#![cfg(feature = "redis")]

#[allow(dead_code)] // the fixture trait is for the other contract tests
mod contract;
mod redis_common;

/// The crate's contract suite (`tests/contract/`).
mod contract_suite {
    crate::contract_on_redis!(crate::redis_common::standalone());
}

/// This backend's own suite: agents, messages, `find_session`, ids that would break keys.
mod redis_suite {
    crate::redis_suite!(crate::redis_common::standalone());
}

#[tokio::test]
async fn records_over_the_size_limit_are_refused() {
    let limit = 4096;
    let Some(b) =
        redis_common::standalone_with(redis_common::builder().max_record_bytes(limit)).await
    else {
        return;
    };
    contract::records_over_the_size_limit_are_refused(&b, limit).await;
}

#[tokio::test]
async fn id_limit_is_configurable() {
    use agent_sessions::{NewSession, SessionBackend, StoreError};
    let Some(b) = redis_common::standalone_with(redis_common::builder().max_id_bytes(4)).await
    else {
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
    use agent_sessions::SessionBackend;
    let Some(b) = redis_common::standalone().await else {
        return;
    };
    b.health_check().await.unwrap();
    assert!(format!("{b:?}").contains("Standalone"));
}

/// The suite itself, on the in-memory store: what the Redis backend must match.
mod reference {
    #[allow(clippy::unused_async)] // the suite's fixtures are futures
    async fn store() -> Option<agent_sessions::SessionStore> {
        Some(agent_sessions::SessionStore::new())
    }

    crate::redis_suite!(store());
}
