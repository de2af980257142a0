//! The `agent-sessions` binary on Redis: two processes on one Redis serve the same sessions,
//! and a Redis that stops answering, dies and comes back is answered with 503 and then served
//! again, with nothing acknowledged lost.

#![cfg(all(feature = "server", feature = "redis"))]

mod common;

use std::time::Duration;

use common::binary::Binary;
use common::redis_env::{self, PrivateRedis};
use serde_json::{json, Value};

/// Status and JSON body of one request.
fn call(method: &str, url: &str, user: &str, body: Option<&Value>) -> (u16, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into();
    let mut req = ureq::http::Request::builder()
        .method(method)
        .uri(url)
        .header("x-user-id", user);
    let bytes = match body {
        Some(b) => {
            req = req.header("content-type", "application/json");
            serde_json::to_vec(b).unwrap()
        }
        None => Vec::new(),
    };
    let mut resp = agent.run(req.body(bytes).unwrap()).expect("a response");
    let text = resp.body_mut().read_to_string().unwrap_or_default();
    let value = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
    };
    (resp.status().as_u16(), value)
}

fn create_agent(base: &str, user: &str) -> String {
    let (status, body) = call(
        "POST",
        &format!("{base}/agent/"),
        user,
        Some(&json!({"name": "bot"})),
    );
    assert_eq!(status, 201, "{body}");
    body["agent_id"].as_str().unwrap().to_owned()
}

fn create_session(base: &str, user: &str, agent: &str, name: &str) -> String {
    let (status, body) = call(
        "POST",
        &format!("{base}/sessions/"),
        user,
        Some(&json!({"agent_id": agent, "name": name})),
    );
    assert_eq!(status, 201, "{body}");
    body["session_id"].as_str().unwrap().to_owned()
}

fn names(base: &str, user: &str, agent: &str) -> (u16, Vec<String>) {
    let (status, body) = call(
        "GET",
        &format!("{base}/sessions/?agent_id={agent}"),
        user,
        None,
    );
    let names = body["sessions"]
        .as_array()
        .map(|s| {
            s.iter()
                .map(|r| r["config"]["name"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default();
    (status, names)
}

/// Waits until `/healthz` answers 200: the backend reconnects by itself, within a few of its
/// timeouts. Fails if that never happens (a bounded wait, not a timing assertion).
fn wait_healthy(base: &str) {
    for _ in 0..200 {
        if call("GET", &format!("{base}/healthz"), "u", None).0 == 200 {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the server never became healthy again");
}

#[test]
fn two_servers_on_one_redis_serve_the_same_sessions() {
    let Some(url) = redis_env::standalone_url() else {
        return;
    };
    let prefix = redis_env::unique("http2");
    let args = ["--redis", url.as_str(), "--redis-prefix", prefix.as_str()];
    let (one, two) = (Binary::start(&args), Binary::start(&args));
    let agent = create_agent(&one.base, "alice");
    create_session(&one.base, "alice", &agent, "from one");
    create_session(&two.base, "alice", &agent, "from two");
    // Each sees the other's writes, newest first.
    for base in [&one.base, &two.base] {
        assert_eq!(
            names(base, "alice", &agent),
            (200, vec!["from two".to_owned(), "from one".to_owned()])
        );
    }
    // A rename through one is what two lists; a delete through two is gone from one.
    let (_, list) = call(
        "GET",
        &format!("{}/sessions/?agent_id={agent}", two.base),
        "alice",
        None,
    );
    let first = list["sessions"][1]["id"].as_str().unwrap().to_owned();
    let (status, _) = call(
        "PATCH",
        &format!("{}/sessions/{first}?agent_id={agent}", one.base),
        "alice",
        Some(&json!({"name": "renamed"})),
    );
    assert_eq!(status, 200);
    assert_eq!(names(&two.base, "alice", &agent).1, ["from two", "renamed"]);
    let (status, _) = call(
        "DELETE",
        &format!("{}/sessions/{first}?agent_id={agent}", two.base),
        "alice",
        None,
    );
    assert_eq!(status, 204);
    assert_eq!(names(&one.base, "alice", &agent).1, ["from two"]);
    // Another user sees nothing of it, through either.
    assert_eq!(names(&one.base, "mallory", &agent).0, 404);
}

#[test]
fn a_redis_that_stops_dies_and_returns_is_answered_with_503_then_served_again() {
    let Some(mut redis) = PrivateRedis::start() else {
        return;
    };
    let url = redis.url();
    let bin = Binary::start(&["--redis", url.as_str(), "--redis-timeout-ms", "500"]);
    let base = bin.base.as_str();
    let agent = create_agent(base, "u");
    let acknowledged: Vec<String> = (0..5)
        .map(|i| create_session(base, "u", &agent, &format!("s{i}")))
        .collect();

    // Stopped: every call answers 503 with a JSON detail, and /healthz says so.
    redis.pause();
    let (status, body) = call(
        "GET",
        &format!("{base}/sessions/?agent_id={agent}"),
        "u",
        None,
    );
    assert_eq!(status, 503, "{body}");
    assert!(body["detail"].is_string(), "{body}");
    let (status, body) = call(
        "POST",
        &format!("{base}/sessions/"),
        "u",
        Some(&json!({"agent_id": agent})),
    );
    assert_eq!(status, 503, "{body}");
    let (status, health) = call("GET", &format!("{base}/healthz"), "u", None);
    assert_eq!(status, 503);
    assert_eq!(health["status"], "unavailable", "{health}");
    assert!(health["detail"].as_str().is_some_and(|d| !d.is_empty()));

    // Resumed: served again, by the same process, with no restart.
    redis.resume();
    wait_healthy(base);
    assert_eq!(names(base, "u", &agent).1.len(), 5);

    // Killed: 503; restarted on the same port and files: everything acknowledged is there.
    redis.kill();
    assert_eq!(
        call(
            "GET",
            &format!("{base}/sessions/?agent_id={agent}"),
            "u",
            None
        )
        .0,
        503
    );
    redis.restart();
    wait_healthy(base);
    let (status, list) = call(
        "GET",
        &format!("{base}/sessions/?agent_id={agent}"),
        "u",
        None,
    );
    assert_eq!(status, 200, "{list}");
    let mut ids: Vec<String> = list["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect();
    let mut want = acknowledged.clone();
    ids.sort();
    want.sort();
    assert_eq!(ids, want);
    assert_eq!(call("GET", &format!("{base}/healthz"), "u", None).0, 200);
}
