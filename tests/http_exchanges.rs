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
use axum::body::Body;
use axum::http::{HeaderValue, Request};
use common::{send, Answer, IdMap};
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
        let got = send(&app, build_request(req, &ids, host)).await;
        let head = req["method"] == "HEAD"; // the body is dropped on the wire
        if let Err(e) = check(&exchange["response"], &got, head, &mut ids) {
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

/// The recorded request, with the reference's ids replaced by ours.
fn build_request(req: &Value, ids: &IdMap, host: &str) -> Request<Body> {
    let mut builder = Request::builder()
        .method(req["method"].as_str().unwrap())
        .uri(ids.apply(req["path"].as_str().unwrap()))
        .header("host", host);
    let headers = req["headers"].as_object().unwrap();
    for (k, v) in headers {
        // Header values are Latin-1 on the wire.
        let latin1: Vec<u8> = ids
            .apply(v.as_str().unwrap())
            .chars()
            .map(|c| u8::try_from(u32::from(c)).unwrap())
            .collect();
        builder = builder.header(k.as_str(), HeaderValue::from_bytes(&latin1).unwrap());
    }
    let body = match &req["body"] {
        Value::Null if req["body_hex"].is_string() => {
            Body::from(hex(req["body_hex"].as_str().unwrap()))
        }
        Value::Null => Body::empty(),
        Value::String(raw) if req["raw_body"].as_bool().unwrap_or(true) => {
            Body::from(ids.apply(raw).into_bytes())
        }
        json => Body::from(serde_json::to_vec(&ids.apply_value(json)).unwrap()),
    };
    let has_body = !req["body"].is_null() || req["body_hex"].is_string();
    let typed = headers
        .keys()
        .any(|k| k.eq_ignore_ascii_case("content-type"));
    if has_body && !typed && !req["no_content_type"].as_bool().unwrap_or(false) {
        builder = builder.header("content-type", "application/json");
    }
    builder.body(body).unwrap()
}

/// Compares our answer with the recorded one.
fn check(want: &Value, got: &Answer, head: bool, ids: &mut IdMap) -> Result<(), String> {
    let status = want["status"].as_u64().unwrap();
    if u64::from(got.status.as_u16()) != status {
        return Err(format!(
            "status {} != recorded {status}: {}",
            got.status,
            got.text()
        ));
    }
    if got.content_type.as_deref() != want["content_type"].as_str() {
        return Err(format!(
            "content type {:?} != recorded {:?}",
            got.content_type, want["content_type"]
        ));
    }
    let want_location = want["location"].as_str().map(|l| ids.apply(l));
    if got.location != want_location {
        return Err(format!(
            "location {:?} != recorded {want_location:?}",
            got.location
        ));
    }
    if let Some(allow) = want.get("allow").and_then(Value::as_str) {
        let ours = got.headers.get("allow").and_then(|v| v.to_str().ok());
        if ours != Some(allow) {
            return Err(format!("allow {ours:?} != recorded {allow:?}"));
        }
    }
    if let Some(text) = want.get("body_text").and_then(Value::as_str) {
        let text = ids.apply(text);
        if !head && got.text() != text {
            return Err(format!("body bytes {:?} != recorded {text:?}", got.text()));
        }
    }
    match &want["body"] {
        Value::Null if got.body.is_empty() || head => Ok(()),
        Value::Null => Err(format!("a body where none was recorded: {}", got.text())),
        recorded => {
            let ours: Value = serde_json::from_slice(&got.body)
                .map_err(|e| format!("body is not JSON ({e}): {}", got.text()))?;
            ids.compare("body", recorded, &ours)
        }
    }
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
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
