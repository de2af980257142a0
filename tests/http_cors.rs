//! CORS: off by default (a preflight answers 405, as the reference); with origins in
//! `Options::cors_origins` (`serve --cors-origin`), preflights from those origins are
//! answered and every answer to them carries `Access-Control-Allow-Origin`, the answers
//! themselves unchanged.

#![cfg(feature = "server")]

mod common;

use std::io::{Read as _, Write as _};
use std::net::TcpStream;

use agent_sessions::model::AgentRecord;
use agent_sessions::server::{self, Options};
use agent_sessions::SessionStore;
use axum::body::Body;
use axum::http::Request;
use common::binary::Binary;
use common::{send, Answer};

const UI: &str = "http://127.0.0.1:5173";

fn preflight(path: &str, origin: &str, method: &str, headers: &str) -> Request<Body> {
    Request::builder()
        .method("OPTIONS")
        .uri(path)
        .header("origin", origin)
        .header("access-control-request-method", method)
        .header("access-control-request-headers", headers)
        .body(Body::empty())
        .unwrap()
}

fn get(path: &str, origin: Option<&str>) -> Request<Body> {
    let mut b = Request::get(path).header("x-user-id", "u");
    if let Some(origin) = origin {
        b = b.header("origin", origin);
    }
    b.body(Body::empty()).unwrap()
}

fn header<'a>(answer: &'a Answer, name: &str) -> Option<&'a str> {
    answer.headers.get(name).map(|v| v.to_str().unwrap())
}

/// A store where user `u` has agent `a`.
fn store() -> SessionStore {
    let store = SessionStore::new();
    let mut agent = AgentRecord::new("u", serde_json::Map::default());
    agent.id = "a".into();
    store.register_agent(agent).unwrap();
    store
}

#[tokio::test]
async fn without_origins_a_preflight_answers_405_as_the_reference() {
    let app = server::router(store());
    let got = send(
        &app,
        preflight("/sessions/", UI, "POST", "content-type,x-user-id"),
    )
    .await;
    assert_eq!(got.status, 405);
    assert_eq!(got.text(), r#"{"detail":"Method Not Allowed"}"#);
    assert_eq!(header(&got, "allow"), Some("GET"));
    assert_eq!(header(&got, "access-control-allow-origin"), None);
    let simple = send(&app, get("/sessions/?agent_id=a", Some(UI))).await;
    assert_eq!(simple.status, 200);
    assert_eq!(header(&simple, "access-control-allow-origin"), None);
}

#[tokio::test]
async fn a_preflight_from_an_allowed_origin_is_answered() {
    let app = server::router_with(store(), &Options::default().cors_origins([UI]));
    for (path, method) in [
        ("/sessions/", "POST"),
        ("/sessions/abc?agent_id=a", "PATCH"),
        ("/sessions/abc?agent_id=a", "DELETE"),
        ("/agent/", "GET"),
        ("/credential/", "GET"),
    ] {
        let got = send(&app, preflight(path, UI, method, "content-type,x-user-id")).await;
        assert_eq!(got.status, 200, "{method} {path}: {}", got.text());
        assert_eq!(header(&got, "access-control-allow-origin"), Some(UI));
        let methods = header(&got, "access-control-allow-methods").unwrap();
        assert!(methods.contains(method), "{methods}");
        let allowed = header(&got, "access-control-allow-headers").unwrap();
        assert!(
            allowed.contains("x-user-id") && allowed.contains("content-type"),
            "{allowed}"
        );
        assert!(header(&got, "access-control-max-age").is_some());
        assert!(got.body.is_empty());
    }
}

#[tokio::test]
async fn answers_to_an_allowed_origin_carry_the_header_and_are_otherwise_unchanged() {
    let plain = server::router(store());
    let cors = server::router_with(store(), &Options::default().cors_origins([UI]));
    for path in [
        "/sessions/?agent_id=a",
        "/sessions/?agent_id=nope",
        "/nope",
        "/credential/",
        "/workspace/mcp?agent_id=a&session_id=s",
    ] {
        let want = send(&plain, get(path, None)).await;
        let got = send(&cors, get(path, Some(UI))).await;
        assert_eq!(got.status, want.status, "{path}");
        assert_eq!(got.body, want.body, "{path}");
        assert_eq!(got.content_type, want.content_type, "{path}");
        assert_eq!(
            header(&got, "access-control-allow-origin"),
            Some(UI),
            "{path}"
        );
        assert!(header(&got, "vary").is_some_and(|v| v.contains("origin")));
    }
    // The ETag of a PATCH is readable by the page.
    let got = send(&cors, get("/sessions/?agent_id=a", Some(UI))).await;
    let exposed = header(&got, "access-control-expose-headers").unwrap();
    assert!(exposed.contains("etag"), "{exposed}");
}

#[tokio::test]
async fn other_origins_get_no_allow_origin() {
    let app = server::router_with(store(), &Options::default().cors_origins([UI]));
    let evil = "http://evil.example";
    let got = send(&app, preflight("/sessions/", evil, "POST", "x-user-id")).await;
    assert_eq!(header(&got, "access-control-allow-origin"), None);
    let got = send(&app, get("/sessions/?agent_id=a", Some(evil))).await;
    assert_eq!(got.status, 200);
    assert_eq!(header(&got, "access-control-allow-origin"), None);
}

#[tokio::test]
async fn a_star_allows_any_origin() {
    let app = server::router_with(store(), &Options::default().cors_origins(["*"]));
    let got = send(
        &app,
        preflight(
            "/sessions/",
            "http://anything.example:81",
            "POST",
            "x-user-id",
        ),
    )
    .await;
    assert_eq!(got.status, 200);
    assert_eq!(header(&got, "access-control-allow-origin"), Some("*"));
}

#[tokio::test]
async fn an_options_request_that_is_no_preflight_still_answers_405() {
    let app = server::router_with(store(), &Options::default().cors_origins([UI]));
    let request = Request::builder()
        .method("OPTIONS")
        .uri("/sessions/")
        .header("x-user-id", "u")
        .body(Body::empty())
        .unwrap();
    let got = send(&app, request).await;
    assert_eq!(got.status, 405);
    assert_eq!(got.text(), r#"{"detail":"Method Not Allowed"}"#);
}

#[test]
fn invalid_origins_are_refused() {
    for bad in ["http://ui.example/", "ui.example", "http://ui.example/app"] {
        assert!(Options::check_cors_origin(bad).is_err(), "{bad}");
    }
    // Left out by the router (with a warning), never a panic.
    let app = server::router_with(
        SessionStore::new(),
        &Options::default().cors_origins(["http://ui.example/"]),
    );
    drop(app);
}

/// One raw HTTP/1.1 exchange: the answer's head and body as text.
fn raw(base: &str, request: &str) -> String {
    let addr = base.strip_prefix("http://").unwrap();
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

#[test]
fn the_binary_answers_preflights_for_its_cors_origins() {
    let bin = Binary::start(&["--cors-origin", UI, "--cors-origin", "http://other.test"]);
    let answer = raw(
        &bin.base,
        &format!(
            "OPTIONS /sessions/ HTTP/1.1\r\nhost: x\r\norigin: {UI}\r\n\
             access-control-request-method: POST\r\n\
             access-control-request-headers: content-type,x-user-id\r\nconnection: close\r\n\r\n"
        ),
    )
    .to_ascii_lowercase();
    assert!(answer.starts_with("http/1.1 200"), "{answer}");
    assert!(
        answer.contains(&format!("access-control-allow-origin: {UI}")),
        "{answer}"
    );
    bin.terminate();
    // Without the flag: 405, as the reference.
    let bin = Binary::start(&[]);
    let answer = raw(
        &bin.base,
        &format!(
            "OPTIONS /sessions/ HTTP/1.1\r\nhost: x\r\norigin: {UI}\r\n\
             access-control-request-method: POST\r\nconnection: close\r\n\r\n"
        ),
    );
    assert!(answer.starts_with("HTTP/1.1 405"), "{answer}");
    bin.terminate();
}

#[test]
fn the_binary_refuses_an_origin_with_a_path() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_agent-sessions"))
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--cors-origin",
            "http://ui.test/",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("invalid CORS origin"), "{err}");
}
