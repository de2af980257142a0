//! Random and almost-valid inputs through every door that takes bytes from outside: HTTP
//! requests through the router (the body parser, the extractors, validation), the cursor
//! decoder, a store directory's files at open (manifest, shards, agents, journal) and
//! `import_json`. Nothing may panic; the server never answers 500; a failed open or import
//! changes nothing.
//!
//! A smoke by default (a few hundred cases per door, seconds in all); `FUZZ_CASES=N` runs N
//! cases per door, for a long campaign.

#![cfg(feature = "server")]

use std::fs;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::OnceLock;
use std::time::Duration;

use agent_sessions::{server, Cursor, ListQuery, NewSession, SessionStore, StoreError};
use axum::body::Body;
use axum::http::Request;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use tower::ServiceExt as _;

fn cases(default: u32) -> u32 {
    std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn runner(default: u32) -> TestRunner {
    TestRunner::new(Config {
        cases: cases(default),
        failure_persistence: None,
        ..Config::default()
    })
}

/// A change to a valid input that usually breaks it, sometimes subtly.
#[derive(Clone, Debug)]
enum Edit {
    Insert(usize, u8),
    Delete(usize),
    Replace(usize, u8),
    Truncate(usize),
    /// Repeats a slice (deep nesting, long runs).
    Repeat(usize, usize, usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    let byte = prop::sample::select(
        b",:[]{}\"\\0123456789-+.eEuntfl \n\x00\x01\x7f\xc3\xa9\xff%".to_vec(),
    );
    prop_oneof![
        (any::<usize>(), byte.clone()).prop_map(|(i, b)| Edit::Insert(i, b)),
        any::<usize>().prop_map(Edit::Delete),
        (any::<usize>(), byte).prop_map(|(i, b)| Edit::Replace(i, b)),
        any::<usize>().prop_map(Edit::Truncate),
        (any::<usize>(), 1usize..8, 1usize..200).prop_map(|(i, l, n)| Edit::Repeat(i, l, n)),
    ]
}

fn apply(mut bytes: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for e in edits {
        let n = bytes.len();
        let at = |i: usize, m: usize| if m == 0 { 0 } else { i % m };
        match *e {
            Edit::Insert(i, b) => bytes.insert(at(i, n + 1), b),
            Edit::Delete(i) if n > 0 => {
                bytes.remove(at(i, n));
            }
            Edit::Replace(i, b) if n > 0 => bytes[at(i, n)] = b,
            Edit::Truncate(i) => bytes.truncate(at(i, n + 1)),
            Edit::Repeat(i, len, times) if n > 0 => {
                let start = at(i, n);
                let end = (start + len).min(n);
                let piece = bytes[start..end].to_vec();
                let tail = bytes.split_off(end);
                for _ in 0..times {
                    bytes.extend_from_slice(&piece);
                }
                bytes.extend_from_slice(&tail);
            }
            Edit::Delete(_) | Edit::Replace(..) | Edit::Repeat(..) => {}
        }
    }
    bytes
}

fn rt() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    })
}

const BODIES: &[&str] = &[
    r#"{"name":"bot","system_prompt":"p","context_config":{"trigger_ratio":0.5,"reserve_ratio":"0.1","compression_prompt":"c","summary_template":"t","summary_schema":{"a":[1,2.5,null,true]},"tool_result_limit":"7"},"react_config":{"max_iters":3,"stop_on_reject":"yes"}}"#,
    r#"{"agent_id":"AGENT","workspace_id":"w","name":"n","chat_model_config":{"type":"openai","credential_id":"c","model":"m","parameters":{"temperature":0.7,"stop":["\n","\u00e9\ud83d\ude00"]}}}"#,
    r#"{"name":null,"chat_model_config":null,"permission_mode":"bypass"}"#,
    r#"[{"a":1e308,"b":-0,"c":123456789012345678901234567890,"d":"\u0000"}]"#,
];

/// A request: method, path, headers and body.
type RawRequest = (String, String, Vec<(String, Vec<u8>)>, Vec<u8>);

fn request_strategy() -> impl Strategy<Value = RawRequest> {
    let method = prop::sample::select(vec!["GET", "POST", "PATCH", "DELETE", "HEAD", "PUT"]);
    let path = prop::sample::select(vec![
        "/agent/",
        "/agent/AGENT",
        "/sessions/",
        "/sessions",
        "/sessions/SESSION?agent_id=AGENT",
        "/sessions/SESSION/messages?agent_id=AGENT&offset=1&limit=200",
        "/sessions/?agent_id=AGENT&limit=2&offset=0&order=updated_asc&view=summary&cursor=",
        "/sessions/%E4%B8%AD/?agent_id=%ff",
        "/healthz",
        "/openapi.json",
        "/",
    ]);
    let path_edits = prop::collection::vec(edit(), 0..3);
    let user = prop::option::of(prop::sample::select(vec![
        b"u".to_vec(),
        b"".to_vec(),
        b"\xe9t\xe9".to_vec(),
        b"other".to_vec(),
    ]));
    let content_type = prop::sample::select(vec![
        "application/json",
        "text/plain",
        "application/vnd.x+json; charset=utf-8",
        "",
    ]);
    let body = (
        prop::sample::select(BODIES.to_vec()),
        prop::collection::vec(edit(), 0..4),
    )
        .prop_map(|(b, e)| apply(b.as_bytes().to_vec(), &e));
    let if_match = prop::option::of(prop::sample::select(vec!["*", "\"1\"", "W/\"1\", \"x\""]));
    (method, path, path_edits, user, content_type, body, if_match).prop_map(
        |(m, p, pe, user, ct, body, im)| {
            let path = String::from_utf8_lossy(&apply(p.as_bytes().to_vec(), &pe)).into_owned();
            let mut headers = vec![("content-type".to_owned(), ct.as_bytes().to_vec())];
            if let Some(u) = user {
                headers.push(("x-user-id".to_owned(), u));
            }
            if let Some(im) = im {
                headers.push(("if-match".to_owned(), im.as_bytes().to_vec()));
            }
            (m.to_owned(), path, headers, body)
        },
    )
}

/// Requests through the router: never a 500, never a panic, a JSON body whenever there is
/// one.
#[test]
fn http_requests_never_answer_500() {
    let store = SessionStore::new();
    let agent = store
        .register_agent(agent_sessions::model::AgentRecord::new(
            "u",
            serde_json::Map::default(),
        ))
        .unwrap();
    let session = store
        .create(NewSession::new("u", &agent.id).id("SESSION"))
        .unwrap();
    let app = server::router(store.clone());
    runner(300)
        .run(&request_strategy(), |(method, path, headers, body)| {
            let path = path
                .replace("AGENT", &agent.id)
                .replace("SESSION", &session.id);
            let mut b = Request::builder().method(method.as_str()).uri(&path);
            for (k, v) in &headers {
                b = b.header(k.as_str(), v.as_slice());
            }
            let body = String::from_utf8_lossy(&body).replace("AGENT", &agent.id);
            let Ok(request) = b.body(Body::from(body)) else {
                return Ok(()); // a URI or header the HTTP layer itself refuses
            };
            let response = rt().block_on(app.clone().oneshot(request)).unwrap();
            let status = response.status().as_u16();
            let bytes = rt()
                .block_on(axum::body::to_bytes(response.into_body(), usize::MAX))
                .unwrap();
            prop_assert!(status != 500, "{method} {path}: 500 {:?}", bytes);
            if !bytes.is_empty() && method != "HEAD" {
                prop_assert!(
                    serde_json::from_slice::<serde_json::Value>(&short_numbers(&bytes)).is_ok(),
                    "{method} {path}: {status} not JSON"
                );
            }
            Ok(())
        })
        .unwrap();
}

/// `bytes` with every run of more than 18 digits cut to one digit: an echoed integer of any
/// size is JSON, but more than `serde_json` reads without `arbitrary_precision`.
fn short_numbers(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut run = 0;
    for &b in bytes {
        run = if b.is_ascii_digit() { run + 1 } else { 0 };
        if run <= 18 {
            out.push(b);
        }
    }
    out
}

/// The cursor decoder: any text decodes or fails cleanly; a cursor round-trips.
#[test]
fn cursors_decode_or_fail_cleanly() {
    let store = SessionStore::new();
    for i in 0..5 {
        store
            .create(NewSession::new("u", "a").id(format!("s{i}")))
            .unwrap();
    }
    let q = ListQuery::new("u", "a").limit(2);
    let page = store.list(&q);
    let valid = q
        .next_page(&page)
        .and_then(|q| q.cursor)
        .unwrap()
        .to_string();
    let strategy = (
        prop::collection::vec(edit(), 0..4),
        any::<bool>(),
        ".{0,40}",
    );
    runner(2000)
        .run(&strategy, |(edits, random, text)| {
            let input = if random {
                text
            } else {
                String::from_utf8_lossy(&apply(valid.clone().into_bytes(), &edits)).into_owned()
            };
            if let Ok(c) = Cursor::from_str(&input) {
                prop_assert_eq!(Cursor::from_str(&c.to_string()).ok(), Some(c.clone()));
                let _ = store.list(&ListQuery::new("u", "a").cursor(c));
            }
            Ok(())
        })
        .unwrap();
}

/// A directory with a snapshot (shards, agents, manifest) and a journal after it.
fn valid_dir() -> &'static Vec<(String, Vec<u8>)> {
    static FILES: OnceLock<Vec<(String, Vec<u8>)>> = OnceLock::new();
    FILES.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let store = SessionStore::builder()
            .snapshot_shards(2)
            .autosave(None)
            .open(dir.path())
            .unwrap();
        let agent = store
            .register_agent(agent_sessions::model::AgentRecord::new(
                "u",
                serde_json::Map::default(),
            ))
            .unwrap();
        for i in 0..4 {
            store
                .create(NewSession::new("u", &agent.id).id(format!("s{i}")))
                .unwrap();
        }
        store.snapshot().unwrap();
        store
            .update("u", &agent.id, "s1", |r| r.config.name = "renamed".into())
            .unwrap();
        store.delete("u", &agent.id, "s2").unwrap();
        let msg = agent_sessions::model::Msg::new(
            "user",
            agent_sessions::model::Role::User,
            vec![agent_sessions::model::ContentBlock::text("hi")],
        );
        store.append_context("u", &agent.id, "s3", [msg]).unwrap();
        store.create(NewSession::new("u", "b").id("after")).unwrap();
        drop(store);
        files_of(dir.path())
    })
}

fn files_of(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap() != "LOCK")
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let bytes = fs::read(&p).unwrap();
            (name, bytes)
        })
        .collect();
    v.sort();
    v
}

/// A store directory with one file changed: open succeeds, or fails with a typed error and
/// changes no file.
#[test]
fn damaged_directories_open_or_fail_cleanly() {
    let files = valid_dir();
    let strategy = (0..files.len(), prop::collection::vec(edit(), 1..4));
    runner(200)
        .run(&strategy, |(which, edits)| {
            let dir = tempfile::tempdir().unwrap();
            for (i, (name, bytes)) in files.iter().enumerate() {
                let bytes = if i == which {
                    apply(bytes.clone(), &edits)
                } else {
                    bytes.clone()
                };
                fs::write(dir.path().join(name), bytes).unwrap();
            }
            let before = files_of(dir.path());
            let opened = SessionStore::builder()
                .autosave(None)
                .lock_timeout(Duration::ZERO)
                .open(dir.path());
            match opened {
                Ok(store) => {
                    let _ = store.list(&ListQuery::new("u", "a"));
                    let _ = store.agents("u");
                }
                Err(e) => {
                    prop_assert!(
                        matches!(
                            e,
                            StoreError::Corrupt { .. } | StoreError::UnsupportedVersion { .. }
                        ),
                        "{}: {e}",
                        files[which].0
                    );
                    prop_assert!(
                        files_of(dir.path()) == before,
                        "a failed open changed files"
                    );
                }
            }
            Ok(())
        })
        .unwrap();
}

/// An export with changes: imported all or nothing.
#[test]
fn damaged_imports_are_all_or_nothing() {
    let export: &'static Vec<u8> = {
        static EXPORT: OnceLock<Vec<u8>> = OnceLock::new();
        EXPORT.get_or_init(|| {
            let store = SessionStore::new();
            for i in 0..3 {
                store
                    .create(NewSession::new("u", "a").id(format!("e{i}")).name("n"))
                    .unwrap();
            }
            let dir = tempfile::tempdir().unwrap();
            let path: PathBuf = dir.path().join("export.json");
            store.export_json(&path).unwrap();
            fs::read(&path).unwrap()
        })
    };
    runner(300)
        .run(&prop::collection::vec(edit(), 1..4), |edits| {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("import.json");
            fs::write(&path, apply(export.clone(), &edits)).unwrap();
            let store = SessionStore::new();
            store.create(NewSession::new("u", "a").id("kept")).unwrap();
            let expected = store.import_json(&path).map_or(1, |n| n + 1);
            prop_assert_eq!(store.len(), expected, "a failed import inserted");
            Ok(())
        })
        .unwrap();
}
