//! What the Redis tests share: the servers' addresses from the environment
//! (`scripts/with-redis.sh` sets them), and backends isolated by a unique key prefix.
//!
//! Without the variables a test prints a skip line and returns, unless `CI=true`, where it
//! fails.

#![allow(dead_code)]

use std::time::Duration;

use agent_sessions::redis::{RedisBackend, RedisBackendBuilder};

/// The value of `var`; `None` (after a skip line) when it is unset outside CI.
pub fn env_or_skip(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Some(v),
        _ => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "{var} is not set and CI=true: run the tests under scripts/with-redis.sh"
            );
            eprintln!("skipped: {var} is not set (run under scripts/with-redis.sh)");
            None
        }
    }
}

/// A key prefix no other test uses.
pub fn unique_prefix() -> String {
    format!("t{}", uuid::Uuid::new_v4().simple())
}

/// A builder with a unique prefix.
pub fn builder() -> RedisBackendBuilder {
    RedisBackend::builder()
        .key_prefix(unique_prefix())
        .timeout(Duration::from_secs(10))
}

/// A backend on the standalone server, isolated by its prefix.
pub async fn standalone_with(b: RedisBackendBuilder) -> Option<RedisBackend> {
    let url = env_or_skip("AGENT_SESSIONS_REDIS_URL")?;
    Some(b.connect(&url).await.expect("connect"))
}

/// A backend on the cluster, isolated by its prefix.
pub async fn cluster_with(b: RedisBackendBuilder) -> Option<RedisBackend> {
    let urls = env_or_skip("AGENT_SESSIONS_REDIS_CLUSTER_URLS")?;
    let urls: Vec<&str> = urls.split(',').collect();
    Some(b.connect_cluster(&urls).await.expect("connect_cluster"))
}

pub async fn standalone() -> Option<RedisBackend> {
    standalone_with(builder()).await
}

pub async fn cluster() -> Option<RedisBackend> {
    cluster_with(builder()).await
}
pub mod suite;

/// Instantiates every test of the crate's contract suite (`tests/contract/`) with a backend
/// made by `$make` (an async expression giving `Option<backend>`; `None` skips).
#[macro_export]
macro_rules! contract_on_redis {
    ($make:expr) => {
        $crate::contract_on_redis!(@each $make;
            create_uses_agentscope_defaults,
            insert_keeps_the_record_and_refuses_duplicates,
            list_matches_the_reference_answer,
            list_orders_with_ties_broken_by_id,
            list_pages_by_limit_and_offset_with_total_before_paging,
            list_filters_count_only_matching,
            cursor_pages_stay_correct_under_inserts,
            update_is_atomic_and_keeps_identity,
            compare_and_swap_refuses_stale_versions,
            delete_removes_and_reports_missing,
            delete_agent_and_delete_all_touch_only_their_scope,
            users_never_see_each_other,
            unknown_scopes_list_empty,
            bad_input_is_refused_and_changes_nothing,
        );
    };
    (@each $make:expr; $($name:ident),+ $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                let Some(backend) = $make.await else { return };
                $crate::contract::$name(&backend).await;
            }
        )+
    };
}
