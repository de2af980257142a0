//! Replays conversations recorded from the real AgentScope 2.0.0 server, in order, through
//! `router(store).oneshot(request)`, and compares every answer: status, content type,
//! `Location`, and body (ids the reference generated are mapped to ours where they first
//! appear; timestamps and default names match any such value; order and key order count).
//!
//! - `http_exchanges.json`: the recording.
//! - `http_probes.json`: more exchanges recorded the same way from the same server
//!   (`http_probes.py` beside it records them): error bodies, redirects, 405s, lax
//!   validation, the agent registry, and the reference's quirks (a session is found by user
//!   and id whatever `agent_id` says).
//! - `webui_probes.json`: the routes AgentScope's web UI calls besides sessions and agents
//!   (`/credential/`, `/workspace/...`), as the reference answers them with nothing
//!   configured (`webui_probes.py` records them).

#![cfg(feature = "server")]

mod common;

use std::path::Path;

use agent_sessions::{server, SessionStore};
use common::{send, IdMap};
use serde_json::Value;

const FIXTURES: &str = "tests/fixtures/agentscope-2.0.0";

/// The recorded server's address, unless the recording names it (`"host"`): requests carry
/// it as `Host`, so redirects name it.
const RECORDED_HOST: &str = "127.0.0.1:8701";

async fn replay(file: &str, backend: impl server::IntoBackend) -> usize {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(FIXTURES)
        .join(file);
    let recording: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let exchanges = recording["exchanges"].as_array().expect("exchanges");
    let app = server::router(backend);
    let host = recording["host"].as_str().unwrap_or(RECORDED_HOST);
    let mut ids = IdMap::default();
    let mut failures = Vec::new();
    for (i, exchange) in exchanges.iter().enumerate() {
        let req = &exchange["request"];
        let got = send(&app, common::recorded_request(req, &ids, host)).await;
        let head = req["method"] == "HEAD"; // the body is dropped on the wire
        if let Err(e) = common::check_recorded(&exchange["response"], &got, head, &mut ids) {
            let name = exchange["name"].as_str().unwrap_or("?");
            failures.push(format!("#{i} {name}: {e}"));
        }
        // Reference records were made milliseconds apart; keep creation times distinct so
        // the newest-first order cannot fall to the tie-break.
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    assert!(
        failures.is_empty(),
        "{} of {} exchanges differ:\n{}",
        failures.len(),
        exchanges.len(),
        failures.join("\n")
    );
    exchanges.len()
}

#[tokio::test]
async fn every_recorded_exchange_is_reproduced() {
    assert_eq!(replay("http_exchanges.json", SessionStore::new()).await, 30);
}

#[tokio::test]
async fn every_probed_exchange_is_reproduced() {
    assert!(replay("http_probes.json", SessionStore::new()).await > 50);
}

/// The web UI's other routes: the credential list, and the workspace routes' 503.
#[tokio::test]
async fn the_web_uis_other_routes_answer_as_the_reference_with_nothing_configured() {
    assert!(replay("webui_probes.json", SessionStore::new()).await > 50);
}

/// The same conversations with the server on Redis and on a Redis Cluster.
#[cfg(feature = "redis")]
mod on_redis {
    use super::common::redis_env;
    use super::replay;

    #[tokio::test]
    async fn every_recorded_exchange_is_reproduced_on_redis() {
        if let Some(b) = redis_env::standalone().await {
            assert_eq!(replay("http_exchanges.json", b).await, 30);
        }
    }

    #[tokio::test]
    async fn every_probed_exchange_is_reproduced_on_redis() {
        if let Some(b) = redis_env::standalone().await {
            assert!(replay("http_probes.json", b).await > 50);
        }
    }

    #[tokio::test]
    async fn every_recorded_exchange_is_reproduced_on_a_cluster() {
        if let Some(b) = redis_env::cluster().await {
            assert_eq!(replay("http_exchanges.json", b).await, 30);
        }
    }
}
