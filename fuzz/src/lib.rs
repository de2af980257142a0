//! The fuzz targets' checks, one function per door that takes bytes from outside. Each takes
//! one input, runs it through the crate's public API and panics when a property fails: a
//! panic anywhere is the finding. `src/bin/*.rs` hand them to AFL++; `tests/fuzz_regressions.rs`
//! (at the repository's root) includes this file to replay the seeds and the saved findings.
//!
//! Every check starts from the same state for the same input (a fresh store, a fresh
//! directory), so an input that fails once fails again under `scripts/fuzz.sh repro`.

use std::fs;
use std::path::Path;
use std::str::FromStr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use agent_sessions::model::{AgentRecord, ContentBlock, Msg, Role};
use agent_sessions::server::{self, AgentScope, Identity, JwtAuth, Options};
use agent_sessions::{Cursor, ListQuery, NewSession, SessionStore, StoreError};
use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, Method, Request, Uri};
use tower::ServiceExt as _;

/// The secret of the router target's JWT mode (at least 32 bytes, as `JwtAuth` requires).
pub const JWT_SECRET: &[u8] = b"fuzz-secret-0123456789abcdef0123456789";

/// An HS256 token of [`JWT_SECRET`] for user `u`, expiring in 2100; the router seeds carry it.
pub const JWT_TOKEN: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1IiwiZXhwIjo0MTAyNDQ0ODAwfQ.Ln6QisPgbk3o-N6PVA6mNvKdu7dSAunDok7jxS11wN4";

/// Runs one input of the named target; `false` for an unknown name.
pub fn run(target: &str, data: &[u8]) -> bool {
    match target {
        "json" => json(data),
        "router" => router(data),
        "store_open" => store_open(data),
        "import" => import(data),
        "cursor" => cursor(data),
        _ => return false,
    }
    true
}

/// Every target's name, as `run`, `src/bin/` and `seeds/` spell it.
pub const TARGETS: [&str; 5] = ["json", "router", "store_open", "import", "cursor"];

/// The HTTP body decoder (`server::json`): see `agent_sessions::server::fuzz_json_body`.
pub fn json(data: &[u8]) {
    let _ = server::fuzz_json_body(data);
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
    })
}

/// A fresh scratch directory, in memory where the machine has `/dev/shm` (no disk I/O).
fn scratch() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        if let Ok(dir) = tempfile::tempdir_in(shm) {
            return dir;
        }
    }
    tempfile::tempdir().expect("a temp dir")
}

/// The store every router input starts from: user `u` with agent `a1` and session `s1`
/// (one message), user `v` with agent `a2` and session `s2`.
fn router_store() -> SessionStore {
    let store = SessionStore::new();
    for (user, agent, session) in [("u", "a1", "s1"), ("v", "a2", "s2")] {
        let mut data = serde_json::Map::new();
        data.insert("name".into(), "bot".into());
        let mut record = AgentRecord::new(user, data);
        record.id = agent.into();
        store.register_agent(record).expect("an agent");
        store
            .create(NewSession::new(user, agent).id(session).name("n"))
            .expect("a session");
        let msg = Msg::new("user", Role::User, vec![ContentBlock::text("hi")]);
        store
            .append_message(user, agent, session, msg)
            .expect("a message");
    }
    store
}

/// What the first byte of a router input selects.
#[derive(Clone, Copy, Debug)]
struct Mode(u8);

impl Mode {
    fn options(self) -> Options {
        let mut options = Options::default();
        if self.0 & 1 != 0 {
            static AUTH: OnceLock<Arc<JwtAuth>> = OnceLock::new();
            let auth = AUTH.get_or_init(|| {
                Arc::new(JwtAuth::hs256_secret(JWT_SECRET).expect("a 32-byte secret"))
            });
            options = options.identity(Identity::Jwt(Arc::clone(auth)));
        }
        if self.0 & 2 != 0 {
            options = options.agentscope(AgentScope::V2_0_11);
        }
        if self.0 & 4 != 0 {
            options = options.cors_origins(["http://localhost:5173"]);
        }
        options
    }
}

/// Decodes a router input: a mode byte (bit 0: JWT identity instead of `x-user-id`; bit 1:
/// AgentScope 2.0.11; bit 2: CORS for `http://localhost:5173`), then an HTTP/1-like head,
/// `METHOD TARGET` and `name: value` lines, a blank line, and the body. `None` for what the
/// HTTP layer itself refuses (a bad method or URI); a malformed header line is skipped.
pub fn decode_request(data: &[u8]) -> Option<(u8, Request<Body>)> {
    let (&mode, rest) = data.split_first()?;
    let (head, body) = match find(rest, b"\n\n") {
        Some(i) => (&rest[..i], &rest[i + 2..]),
        None => (rest, &[][..]),
    };
    let mut lines = head
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let first = lines.next()?;
    let space = first.iter().position(|&b| b == b' ')?;
    let method = Method::from_bytes(&first[..space]).ok()?;
    let uri = Uri::try_from(&first[space + 1..]).ok()?;
    let mut request = Request::builder().method(method).uri(uri);
    for line in lines {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let value = &line[colon + 1..];
        let value = &value[value.iter().take_while(|&&b| b == b' ').count()..];
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(&line[..colon]),
            HeaderValue::from_bytes(value),
        ) {
            request = request.header(name, value);
        }
    }
    let request = request.body(Body::from(body.to_vec())).ok()?;
    Some((mode, request))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The one 5xx the server gives by design: the workspace routes, as the reference answers
/// without a workspace manager.
const WORKSPACE_503: &str = r#"{"detail":"Workspace manager is not configured."}"#;

/// The router and its extractors: one request (see [`decode_request`]) to the router over a
/// fresh in-memory store. Never a panic; never a 5xx but the workspace routes' 503; a JSON
/// answer's body is JSON.
pub fn router(data: &[u8]) {
    let Some((mode, request)) = decode_request(data) else {
        return;
    };
    let what = format!("{} {}", request.method(), request.uri());
    let app = server::router_with(router_store(), &Mode(mode).options());
    let (status, json_body, bytes) = runtime().block_on(async move {
        let response = app.oneshot(request).await.expect("the router never fails");
        let status = response.status().as_u16();
        let json_body = response
            .headers()
            .get("content-type")
            .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("a body");
        (status, json_body, bytes)
    });
    let text = String::from_utf8_lossy(&bytes);
    assert!(
        status < 500 || (status == 503 && text == WORKSPACE_503),
        "{what}: {status} {text}"
    );
    if json_body && !bytes.is_empty() {
        assert!(
            serde_json::from_slice::<serde_json::Value>(&short_numbers(&bytes)).is_ok(),
            "{what}: {status}, not JSON: {text}"
        );
    }
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

/// The files of a small valid store directory, made once: manifest, two shards, agents, and
/// a journal after the snapshot (an update, a delete, an append, a create, a message), by
/// name.
pub fn valid_dir() -> &'static [(String, Vec<u8>)] {
    static FILES: OnceLock<Vec<(String, Vec<u8>)>> = OnceLock::new();
    FILES.get_or_init(|| {
        let dir = scratch();
        let store = SessionStore::builder()
            .snapshot_shards(2)
            .autosave(None)
            .open(dir.path())
            .expect("a new store");
        let mut data = serde_json::Map::new();
        data.insert("name".into(), "bot".into());
        let agent = store
            .register_agent(AgentRecord::new("u", data))
            .expect("an agent");
        for i in 0..4 {
            store
                .create(NewSession::new("u", &agent.id).id(format!("s{i}")))
                .expect("a session");
        }
        let msg = || Msg::new("user", Role::User, vec![ContentBlock::text("hi")]);
        store
            .append_message("u", &agent.id, "s0", msg())
            .expect("a message");
        store.snapshot().expect("a snapshot");
        store
            .update("u", &agent.id, "s1", |r| r.config.name = "renamed".into())
            .expect("an update");
        store.delete("u", &agent.id, "s2").expect("a delete");
        store
            .append_context("u", &agent.id, "s3", [msg()])
            .expect("an append");
        store
            .create(NewSession::new("u", "b").id("after"))
            .expect("a session");
        store
            .append_message("u", &agent.id, "s0", msg())
            .expect("a message");
        drop(store);
        files_of(dir.path())
    })
}

/// Writes the `store_open` target's seeds into `dir`: for each file of [`valid_dir`], its index
/// byte and its content, named `<index>-<file name>`.
pub fn write_store_seeds(dir: &Path) -> std::io::Result<()> {
    fs::create_dir_all(dir)?;
    for (i, (name, bytes)) in valid_dir().iter().enumerate() {
        let mut seed = vec![u8::try_from(i).expect("few files")];
        seed.extend_from_slice(bytes);
        fs::write(dir.join(format!("{i}-{name}")), seed)?;
    }
    Ok(())
}

/// A directory's files but its lock, sorted by name.
fn files_of(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = fs::read_dir(dir)
        .expect("a directory")
        .map(|e| e.expect("an entry").path())
        .filter(|p| p.file_name().is_some_and(|n| n != "LOCK"))
        .map(|p| {
            let name = p
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            let bytes = fs::read(&p).expect("a file");
            (name, bytes)
        })
        .collect();
    files.sort();
    files
}

/// The snapshot, shard, agents and journal loaders: the valid directory of [`valid_dir`] with
/// one file replaced (the first byte picks it, modulo the count; the rest is its content),
/// then opened. The open succeeds, or fails with `Corrupt` or `UnsupportedVersion` and
/// changes no file.
pub fn store_open(data: &[u8]) {
    let Some((&which, content)) = data.split_first() else {
        return;
    };
    let files = valid_dir();
    let which = usize::from(which) % files.len();
    let dir = scratch();
    for (i, (name, bytes)) in files.iter().enumerate() {
        let bytes = if i == which { content } else { bytes };
        fs::write(dir.path().join(name), bytes).expect("a write");
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
            assert!(
                matches!(
                    e,
                    StoreError::Corrupt { .. } | StoreError::UnsupportedVersion { .. }
                ),
                "{}: {e:?}",
                files[which].0
            );
            assert!(
                files_of(dir.path()) == before,
                "a failed open changed files"
            );
        }
    }
}

/// `import_json`: the input as the file, imported into a store holding one session. All or
/// nothing; what was imported exports and imports again whole.
pub fn import(data: &[u8]) {
    let dir = scratch();
    let path = dir.path().join("import.json");
    fs::write(&path, data).expect("a write");
    let store = SessionStore::new();
    store
        .create(NewSession::new("u", "a").id("kept"))
        .expect("a session");
    if let Ok(n) = store.import_json(&path) {
        assert_eq!(store.len(), n + 1, "an import inserted other than it said");
        let export = dir.path().join("export.json");
        assert_eq!(store.export_json(&export).expect("an export"), n + 1);
        let again = SessionStore::new();
        assert_eq!(
            again.import_json(&export).expect("an export imports"),
            n + 1,
            "an export lost sessions"
        );
    } else {
        assert_eq!(store.len(), 1, "a failed import inserted");
        assert!(
            store.get("u", "a", "kept").is_some(),
            "a failed import removed"
        );
    }
}

/// The cursor decoder: any text decodes or fails cleanly; a decoded cursor displays as text
/// that decodes to the same cursor (display is canonical), and a list accepts it.
pub fn cursor(data: &[u8]) {
    let store = cursor_store();
    let text = String::from_utf8_lossy(data);
    if let Ok(c) = Cursor::from_str(&text) {
        let shown = c.to_string();
        assert_eq!(Cursor::from_str(&shown).ok().as_ref(), Some(&c), "{shown}");
        let _ = store.list(&ListQuery::new("u", "a").limit(2).cursor(c));
    }
}

/// The store the cursor target lists: five sessions of user `u` with agent `a`, never changed.
fn cursor_store() -> &'static SessionStore {
    static STORE: OnceLock<SessionStore> = OnceLock::new();
    STORE.get_or_init(|| {
        let store = SessionStore::new();
        for i in 0..5 {
            store
                .create(NewSession::new("u", "a").id(format!("s{i}")))
                .expect("a session");
        }
        store
    })
}

/// Makes what every input of `target` shares (the runtime, the JWT keys, the valid directory,
/// the cursor target's store) before AFL++'s fork server starts: each child then starts from
/// it, and its first input covers the same code as its last.
pub fn warm_up(target: &str) {
    match target {
        "router" => {
            let _ = (runtime(), Mode(1).options());
        }
        "store_open" => {
            let _ = valid_dir();
        }
        "cursor" => {
            let _ = cursor_store();
        }
        _ => {}
    }
}
