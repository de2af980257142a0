//! End to end over real sockets: a real HTTP client (ureq) against `TestServer`, raw TCP for
//! what clients refuse to send, and the `agent-sessions` binary started as a process
//! (`--seed`, `--data-dir` across a restart, SIGTERM for a graceful stop).

#![cfg(feature = "server")]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

mod common;

use agent_sessions::server::{Options, TestServer};
use agent_sessions::{NewSession, SessionStore};
use common::binary::Binary;
use serde_json::{json, Value};

const SEED: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/agentscope-2.0.0/list_user-1_agent-a.json"
);

fn client() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

/// Status, headers and body of one request.
struct Reply {
    status: u16,
    etag: Option<String>,
    content_type: Option<String>,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

fn call(
    method: &str,
    url: &str,
    user: Option<&str>,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> Reply {
    let agent = client();
    let mut req = ureq::http::Request::builder().method(method).uri(url);
    if let Some(user) = user {
        req = req.header("x-user-id", user);
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let bytes = match body {
        Some(b) => {
            req = req.header("content-type", "application/json");
            serde_json::to_vec(b).unwrap()
        }
        None => Vec::new(),
    };
    let mut resp = agent.run(req.body(bytes).unwrap()).expect("a response");
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let (etag, content_type) = (header("etag"), header("content-type"));
    Reply {
        status: resp.status().as_u16(),
        etag,
        content_type,
        body: resp.body_mut().read_to_string().unwrap_or_default(),
    }
}

#[test]
fn a_client_lives_a_session_through_the_test_server() {
    let server = TestServer::start(SessionStore::new()).unwrap();
    let base = server.base_url();
    let user = Some("user-1");

    let agent = call(
        "POST",
        &format!("{base}/agent/"),
        user,
        &[],
        Some(&json!({"name": "bot"})),
    );
    assert_eq!(agent.status, 201);
    let agent_id = agent.json()["agent_id"].as_str().unwrap().to_owned();

    let created = call(
        "POST",
        &format!("{base}/sessions/"),
        user,
        &[],
        Some(&json!({"agent_id": agent_id, "name": "first"})),
    );
    assert_eq!(
        (created.status, created.content_type.as_deref()),
        (201, Some("application/json"))
    );
    let id = created.json()["session_id"].as_str().unwrap().to_owned();

    // What the client wrote, the store holds; what the store holds, the client reads.
    assert_eq!(
        server
            .store()
            .get("user-1", &agent_id, &id)
            .unwrap()
            .config
            .name,
        "first"
    );
    server
        .store()
        .create(NewSession::new("user-1", &agent_id).name("second"))
        .unwrap();
    let list = call(
        "GET",
        &format!("{base}/sessions/?agent_id={agent_id}"),
        user,
        &[],
        None,
    );
    assert_eq!(list.status, 200);
    let names: Vec<String> = list.json()["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["config"]["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["second", "first"]); // newest first
    assert_eq!(list.json()["total"], 2);

    let url = format!("{base}/sessions/{id}?agent_id={agent_id}");
    let messages = call(
        "GET",
        &format!("{base}/sessions/{id}/messages?agent_id={agent_id}"),
        user,
        &[],
        None,
    );
    assert_eq!(
        messages.json(),
        json!({"messages": [], "is_running": false})
    );

    let deleted = call("DELETE", &url, user, &[], None);
    assert_eq!(
        (
            deleted.status,
            deleted.body.as_str(),
            deleted.content_type.as_deref()
        ),
        (204, "", Some("application/json"))
    );
    assert_eq!(call("DELETE", &url, user, &[], None).status, 404);

    assert_eq!(
        call("GET", &format!("{base}/healthz"), None, &[], None).json(),
        json!({"status": "ok"})
    );
    let openapi = call("GET", &format!("{base}/openapi.json"), None, &[], None).json();
    assert!(openapi["paths"]["/sessions/"]["get"].is_object());
}

#[test]
fn patch_answers_an_etag_and_if_match_prevents_lost_updates() {
    let server = TestServer::start(SessionStore::new()).unwrap();
    let base = server.base_url();
    let user = Some("user-1");
    let rec = server
        .store()
        .create(NewSession::new("user-1", "agent-1"))
        .unwrap();
    let (id, agent_id) = (&rec.id, &rec.agent_id);
    let url = format!("{base}/sessions/{id}?agent_id={agent_id}");
    // PATCH answers the record with its ETag; If-Match with an old one is refused.
    let first = call("PATCH", &url, user, &[], Some(&json!({"name": "renamed"})));
    assert_eq!(first.status, 200);
    assert_eq!(first.json()["config"]["name"], "renamed");
    let etag = first.etag.expect("an ETag");
    let second = call(
        "PATCH",
        &url,
        user,
        &[("if-match", &etag)],
        Some(&json!({"permission_mode": "explore"})),
    );
    assert_eq!(second.status, 200, "{}", second.body);
    let stale = call(
        "PATCH",
        &url,
        user,
        &[("if-match", &etag)],
        Some(&json!({"name": "lost update"})),
    );
    assert_eq!(stale.status, 412, "{}", stale.body);
    assert!(stale.json()["detail"]
        .as_str()
        .unwrap()
        .contains("If-Match"));
    assert_eq!(
        server
            .store()
            .get("user-1", agent_id, id)
            .unwrap()
            .config
            .name,
        "renamed"
    );
}

#[test]
fn bad_input_on_the_wire_never_breaks_the_server() {
    let server = TestServer::start_with(
        SessionStore::new(),
        &Options::default().max_body_bytes(64 * 1024),
    )
    .unwrap();
    let base = server.base_url();

    // Over the body limit: 413 with a JSON detail, declared or streamed.
    let big = json!({"agent_id": "a", "name": "x".repeat(100 * 1024)});
    let r = call(
        "POST",
        &format!("{base}/sessions/"),
        Some("u"),
        &[],
        Some(&big),
    );
    assert_eq!(r.status, 413, "{}", r.body);
    assert!(r.json()["detail"].as_str().unwrap().contains("65536"));
    let chunked = raw(&server, b"POST /agent/ HTTP/1.1\r\nhost: x\r\nx-user-id: u\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n", Some(70 * 1024));
    assert!(chunked.starts_with("HTTP/1.1 413"), "{chunked}");

    // A header that is not UTF-8 is Latin-1 text, as in the reference: a user like any other.
    let latin1 = raw(
        &server,
        b"GET /agent/ HTTP/1.1\r\nhost: x\r\nx-user-id: caf\xe9\r\nconnection: close\r\n\r\n",
        None,
    );
    assert!(latin1.starts_with("HTTP/1.1 200"), "{latin1}");
    assert!(latin1.ends_with(r#"{"agents":[],"total":0}"#), "{latin1}");

    // A long query string: an answer, not a failure.
    let long = format!("{base}/sessions/?agent_id={}", "a".repeat(60_000));
    let r = call("GET", &long, Some("u"), &[], None);
    assert_eq!(r.status, 404);
    // Too long for the HTTP parser: refused, and the server goes on.
    let huge = format!(
        "GET /sessions/?agent_id={} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
        "a".repeat(2_000_000)
    );
    let answer = raw(&server, huge.as_bytes(), None);
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");

    // Garbage instead of HTTP: 400, and the connection is closed.
    let garbage = raw(&server, b"\x00\x01\x02 not http\r\n\r\n", None);
    assert!(garbage.starts_with("HTTP/1.1 400"), "{garbage}");

    // Malformed JSON, wrong types, unknown enum values, unknown routes: each its own 4xx
    // with a `detail`, never 5xx.
    for (status, method, path, body) in [
        (422, "POST", "/sessions/", "{not json"),
        (422, "POST", "/sessions/", r#"{"agent_id": 5}"#),
        (
            422,
            "PATCH",
            "/sessions/x?agent_id=a",
            r#"{"permission_mode": "root"}"#,
        ),
        (
            422,
            "POST",
            "/agent/",
            r#"{"name": "x", "context_config": {"trigger_ratio": "nan"}}"#,
        ),
        (
            400,
            "POST",
            "/agent/",
            &format!("{}1{}", "[".repeat(5000), "]".repeat(5000)),
        ),
        (
            422,
            "GET",
            "/sessions/?agent_id=a&limit=-1&order=sideways&cursor=zzz",
            "",
        ),
        (404, "GET", "/no/such/route", ""),
        (405, "TRACE", "/sessions/", ""),
    ] {
        let req = format!(
            "{method} {path} HTTP/1.1\r\nhost: x\r\nx-user-id: u\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        let answer = raw(&server, req.as_bytes(), None);
        let got: u16 = answer.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
        assert_eq!(got, status, "{method} {path}: {answer}");
        assert!(answer.contains("\"detail\""), "{method} {path}: {answer}");
    }

    // Still serving.
    assert_eq!(
        call("GET", &format!("{base}/healthz"), None, &[], None).status,
        200
    );
}

/// Sends raw bytes (then, if asked, that many bytes of a chunked body) and reads the answer.
fn raw(server: &TestServer, head: &[u8], chunked_body: Option<usize>) -> String {
    let mut s = TcpStream::connect(server.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let _ = s.write_all(head);
    if let Some(n) = chunked_body {
        let chunk = vec![b'x'; 8192];
        let mut sent = 0;
        while sent < n {
            if s.write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                .is_err()
                || s.write_all(&chunk).is_err()
                || s.write_all(b"\r\n").is_err()
            {
                break; // the server answered and closed early
            }
            sent += chunk.len();
        }
        let _ = s.write_all(b"0\r\n\r\n");
    }
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// The binary, started as a process; reads its "listening on" line.
#[test]
fn the_binary_serves_a_seed_and_stops_on_sigterm() {
    let bin = Binary::start(&["--seed", SEED]);
    assert!(bin.base.starts_with("http://127.0.0.1:"));
    let seed: Value = serde_json::from_slice(&std::fs::read(SEED).unwrap()).unwrap();
    let list = call(
        "GET",
        &format!("{}/sessions/?agent_id=agent-a", bin.base),
        Some("user-1"),
        &[],
        None,
    );
    assert_eq!(list.status, 200);
    let ids = |v: &Value| -> Vec<String> {
        v["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let mut seeded = ids(&seed);
    let mut served = ids(&list.json());
    assert_eq!(list.json()["total"], seed["total"]);
    seeded.sort();
    served.sort();
    assert_eq!(served, seeded);
    // The seeded agent is known; another user's view of it is not.
    assert_eq!(
        call(
            "GET",
            &format!("{}/sessions/?agent_id=agent-a", bin.base),
            Some("user-2"),
            &[],
            None
        )
        .status,
        404
    );
    bin.terminate();
}

#[test]
fn the_binary_keeps_data_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let (agent_id, session_id) = {
        let bin = Binary::start(&["--data-dir", data]);
        let agent = call(
            "POST",
            &format!("{}/agent/", bin.base),
            Some("u"),
            &[],
            Some(&json!({"name": "kept"})),
        );
        let agent_id = agent.json()["agent_id"].as_str().unwrap().to_owned();
        let session = call(
            "POST",
            &format!("{}/sessions/", bin.base),
            Some("u"),
            &[],
            Some(&json!({"agent_id": agent_id, "name": "kept"})),
        );
        assert_eq!(session.status, 201);
        let session_id = session.json()["session_id"].as_str().unwrap().to_owned();
        // As deep as a body may be (100 levels): stored, and read back after the restart.
        let deep = json!({"name": "deep", "context_config": {"summary_schema": nested(98)}});
        let created = call(
            "POST",
            &format!("{}/agent/", bin.base),
            Some("deep"),
            &[],
            Some(&deep),
        );
        assert_eq!(created.status, 201, "{}", created.body);
        let too_deep = json!({"name": "deep", "context_config": {"summary_schema": nested(99)}});
        let refused = call(
            "POST",
            &format!("{}/agent/", bin.base),
            Some("deep"),
            &[],
            Some(&too_deep),
        );
        assert_eq!(refused.status, 400, "{}", refused.body);
        bin.terminate();
        (agent_id, session_id)
    };
    // Seeding a store that already holds sessions is skipped, so restarts keep them as they are.
    let bin = Binary::start(&["--data-dir", data, "--seed", SEED]);
    let list = call(
        "GET",
        &format!("{}/sessions/?agent_id={agent_id}", bin.base),
        Some("u"),
        &[],
        None,
    )
    .json();
    assert_eq!(list["total"], 1);
    assert_eq!(list["sessions"][0]["id"], session_id.as_str());
    let agents = call("GET", &format!("{}/agent/", bin.base), Some("u"), &[], None).json();
    assert_eq!(agents["agents"][0]["data"]["name"], "kept");
    let deep = call(
        "GET",
        &format!("{}/agent/", bin.base),
        Some("deep"),
        &[],
        None,
    )
    .json();
    assert_eq!(
        deep["agents"][0]["data"]["context_config"]["summary_schema"],
        nested(98)
    );
    assert_eq!(
        call(
            "GET",
            &format!("{}/sessions/?agent_id=agent-a", bin.base),
            Some("user-1"),
            &[],
            None
        )
        .status,
        404
    );
    bin.terminate();
}

/// `{"a": {"a": ... {}}}`, `levels` objects deep.
fn nested(levels: usize) -> Value {
    (1..levels).fold(json!({}), |inner, _| json!({ "a": inner }))
}
