//! The AgentScope 2.0.x Redis importer (`agent_sessions::import`), against real
//! `redis-server`s:
//!
//! - loaded with exactly the keys and values the real AgentScope 2.0.0 server wrote
//!   (`tests/fixtures/agentscope-2.0.0/redis_layout.txt`, parsed here): every record arrives
//!   unchanged, messages in order, and a second run imports nothing;
//! - resuming, damaged values, diverged histories, agents known only by their sessions,
//!   timeouts and bad URLs;
//! - against the real thing (`reference_redis_imports_to_the_same_list_answer`): the
//!   AgentScope 2.0.0 server started by `/work/shared/reference/agentscope-ref` (see
//!   `scripts/agentscope-import-check.sh`), gated on `AGENT_SESSIONS_AGENTSCOPE_REF_URL` and
//!   `AGENT_SESSIONS_AGENTSCOPE_REF_REDIS_URL`.
//!
//! Needs `redis-server` on the PATH; without it these tests skip, except when `CI=true`,
//! where they fail.

#![cfg(feature = "redis")]

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use agent_sessions::import::{
    import_agentscope_redis, Counts, ImportError, ImportOptions, ImportReport, IssueKind, OnDamaged,
};
use agent_sessions::model::{format_timestamp, parse_timestamp, ContentBlock, Msg, Role};
use agent_sessions::{SessionBackend, SessionRecord, SessionStore};
use serde_json::{json, Value};

const LAYOUT: &str = "tests/fixtures/agentscope-2.0.0/redis_layout.txt";
const USER: &str = "user-1";
const AGENT: &str = "1d1b39bd016a483da639652bc00cf023";
const WITH_MESSAGES: &str = "782fc3b7f6aa4a71a5c7b9c71f5140dc";

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// A `redis-server` of this test's own on a free loopback port, stopped on drop.
struct RedisServer {
    child: Child,
    url: String,
}

impl RedisServer {
    /// `None` (the test skips) when there is no `redis-server`, unless `CI=true`.
    fn start() -> Option<Self> {
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let spawned = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn();
            let mut child = match spawned {
                Ok(c) => c,
                Err(e) if !ci() => {
                    eprintln!("skipped: cannot run redis-server ({e})");
                    return None;
                }
                Err(e) => panic!("CI=true but redis-server cannot run: {e}"),
            };
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Some(Self {
                        child,
                        url: format!("redis://127.0.0.1:{port}"),
                    });
                }
                if child.try_wait().unwrap().is_some() {
                    break; // the port was taken meanwhile: try another
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("redis-server did not start");
    }

    async fn conn(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.url.as_str())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One key of the fixture, as the real server stored it.
#[derive(Debug)]
enum Stored {
    String(String),
    Set(Vec<String>),
    List(Vec<String>),
}

/// The `=== KEY` / `TYPE` / `RAW` / `SMEMBERS` / `LLEN` + `[i]` blocks of `redis_layout.txt`.
fn fixture_keys() -> Vec<(String, Stored)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(LAYOUT);
    let text = std::fs::read_to_string(path).unwrap();
    let mut keys = Vec::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let Some(key) = line.strip_prefix("=== KEY ") else {
            continue;
        };
        let kind = lines.next().unwrap();
        let kind = kind
            .strip_prefix("TYPE ")
            .unwrap()
            .split_whitespace()
            .next();
        let value = match kind.unwrap() {
            "string" => {
                let raw = lines.next().unwrap().strip_prefix("RAW  ").unwrap();
                Stored::String(raw.to_owned())
            }
            "set" => {
                let members = lines.next().unwrap().strip_prefix("SMEMBERS ").unwrap();
                Stored::Set(serde_json::from_str(members).unwrap())
            }
            "list" => {
                let len: usize = lines
                    .next()
                    .unwrap()
                    .strip_prefix("LLEN ")
                    .unwrap()
                    .parse()
                    .unwrap();
                let items = (0..len)
                    .map(|i| {
                        let line = lines.next().unwrap();
                        let prefix = format!("[{i}] ");
                        line.strip_prefix(&prefix).unwrap().to_owned()
                    })
                    .collect();
                Stored::List(items)
            }
            other => panic!("unexpected type {other} of {key}"),
        };
        keys.push((key.to_owned(), value));
    }
    keys
}

async fn load(server: &RedisServer, keys: &[(String, Stored)]) {
    let mut c = server.conn().await;
    for (key, value) in keys {
        let cmd = match value {
            Stored::String(raw) => {
                let mut cmd = redis::cmd("SET");
                cmd.arg(key).arg(raw);
                cmd
            }
            Stored::Set(members) => {
                let mut cmd = redis::cmd("SADD");
                cmd.arg(key).arg(members);
                cmd
            }
            Stored::List(items) => {
                let mut cmd = redis::cmd("RPUSH");
                cmd.arg(key).arg(items);
                cmd
            }
        };
        let () = cmd.query_async(&mut c).await.unwrap();
    }
}

async fn redis_cmd(server: &RedisServer, args: &[&str]) {
    let mut c = server.conn().await;
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    let _: redis::Value = cmd.query_async(&mut c).await.unwrap();
}

/// The value with its top-level timestamps as instants (naive ISO and RFC 3339 Z compare
/// equal), as `tests/contract/mod.rs` does.
fn normalise_record(mut v: Value) -> Value {
    for key in ["created_at", "updated_at"] {
        let t = parse_timestamp(v[key].as_str().unwrap()).unwrap();
        v[key] = Value::String(format_timestamp(&t));
    }
    v
}

fn json(raw: &str) -> Value {
    serde_json::from_str(raw).unwrap()
}

async fn import(url: &str, dest: &SessionStore) -> ImportReport {
    import_agentscope_redis(url, dest, &ImportOptions::default())
        .await
        .unwrap_or_else(|e| panic!("import failed: {e}"))
}

fn counts(imported: u64, skipped: u64, failed: u64) -> Counts {
    Counts {
        imported,
        skipped,
        failed,
    }
}

/// Every record of the fixture equals its source value, and every history is the source's.
async fn assert_holds_fixture(store: &SessionStore, keys: &[(String, Stored)]) {
    let prefix = format!("agentscope:user:{USER}:");
    for (key, value) in keys {
        let rest = key.strip_prefix(&prefix).unwrap();
        match (rest.split(':').collect::<Vec<_>>().as_slice(), value) {
            (["agent", a], Stored::String(raw)) => {
                let got = SessionBackend::agent(store, USER, a)
                    .await
                    .unwrap()
                    .unwrap();
                let got = serde_json::to_value(&*got).unwrap();
                assert_eq!(normalise_record(got), normalise_record(json(raw)), "{key}");
            }
            (["session", s], Stored::String(raw)) => {
                let source = json(raw);
                let agent = source["agent_id"].as_str().unwrap();
                let got = SessionBackend::get(store, USER, agent, s).await.unwrap();
                let got = serde_json::to_value(&*got.unwrap().record).unwrap();
                assert_eq!(normalise_record(got), normalise_record(source), "{key}");
            }
            (["session", s, "messages"], Stored::List(items)) => {
                let agent = AGENT;
                let got = SessionBackend::messages(store, USER, agent, s, 0, 100)
                    .await
                    .unwrap();
                let got: Vec<Value> = got
                    .iter()
                    .map(|m| serde_json::to_value(&**m).unwrap())
                    .collect();
                let want: Vec<Value> = items.iter().map(|m| json(m)).collect();
                assert_eq!(got, want, "{key}: the same messages, in order");
            }
            (["agents"], Stored::Set(ids)) => {
                let got: Vec<String> = SessionBackend::agents(store, USER)
                    .await
                    .unwrap()
                    .iter()
                    .map(|a| a.id.clone())
                    .collect();
                assert_eq!(&got, ids, "{key}");
            }
            (["agent", a, "sessions"], Stored::Set(ids)) => {
                let mut got: Vec<String> = store
                    .list(&agent_sessions::ListQuery::new(USER, *a))
                    .sessions
                    .iter()
                    .map(|s| s.id.clone())
                    .collect();
                got.sort();
                let mut want = ids.clone();
                want.sort();
                assert_eq!(got, want, "{key}");
            }
            _ => panic!("a fixture key this test does not check: {key}"),
        }
    }
}

#[tokio::test]
async fn the_fixture_imports_unchanged_and_a_second_run_imports_nothing() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let keys = fixture_keys();
    assert_eq!(keys.len(), 7, "the fixture's seven keys");
    load(&server, &keys).await;
    let store = SessionStore::new();

    let first = import(&server.url, &store).await;
    assert!(first.is_clean(), "{first}");
    assert_eq!(first.users, counts(1, 0, 0));
    assert_eq!(first.agents, counts(1, 0, 0));
    assert_eq!(first.sessions, counts(3, 0, 0));
    assert_eq!(first.messages, counts(2, 0, 0));
    assert_eq!((first.messages_replaced, first.dangling), (0, 0));
    assert_holds_fixture(&store, &keys).await;
    // The list answer is newest first, as the reference lists them.
    let ids: Vec<String> = store
        .list(&agent_sessions::ListQuery::new(USER, AGENT))
        .sessions
        .iter()
        .map(|s| s.id.clone())
        .collect();
    assert_eq!(
        ids,
        [
            "7587e3681f7b45df8ebc4d862e058619",
            "e977347b43ad4704afd609d0816a490b",
            "782fc3b7f6aa4a71a5c7b9c71f5140dc"
        ]
    );

    let second = import(&server.url, &store).await;
    assert!(second.is_clean(), "{second}");
    assert!(!second.wrote_anything(), "{second}");
    assert_eq!(second.users, counts(0, 1, 0));
    assert_eq!(second.agents, counts(0, 1, 0));
    assert_eq!(second.sessions, counts(0, 3, 0));
    assert_eq!(second.messages, counts(0, 2, 0));
    assert_holds_fixture(&store, &keys).await;
    assert_eq!(
        second.to_string().lines().next(),
        Some("users: 0 imported, 1 already present")
    );
}

#[tokio::test]
async fn small_batches_give_the_same_result() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let keys = fixture_keys();
    load(&server, &keys).await;
    // A long history, read in several LRANGE chunks.
    let msgs = format!("agentscope:user:{USER}:session:{WITH_MESSAGES}:messages");
    let mut extra = Vec::new();
    for i in 0..7 {
        let mut m = Msg::new(
            "user",
            Role::User,
            vec![ContentBlock::text(format!("m{i}"))],
        );
        m.created_at = format!("2026-12-02T01:00:0{i}.000001");
        extra.push(serde_json::to_string(&m).unwrap());
    }
    let mut c = server.conn().await;
    let () = redis::cmd("RPUSH")
        .arg(&msgs)
        .arg(&extra)
        .query_async(&mut c)
        .await
        .unwrap();
    let store = SessionStore::new();
    let options = ImportOptions::default().batch_size(2).scan_count(1);
    let report = import_agentscope_redis(&server.url, &store, &options)
        .await
        .unwrap();
    assert!(report.is_clean(), "{report}");
    assert_eq!(report.sessions, counts(3, 0, 0));
    assert_eq!(report.messages, counts(9, 0, 0));
    let got = store.messages(USER, AGENT, WITH_MESSAGES, 0, 100).unwrap();
    assert_eq!(got.len(), 9);
    for (i, m) in got[2..].iter().enumerate() {
        assert_eq!(serde_json::to_string(&**m).unwrap(), extra[i]);
    }
}

#[tokio::test]
async fn a_run_resumes_a_history_that_grew_or_whose_last_message_was_rewritten() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let keys = fixture_keys();
    load(&server, &keys).await;
    let msgs = format!("agentscope:user:{USER}:session:{WITH_MESSAGES}:messages");

    // An import that stopped after the first message (as if interrupted).
    let store = SessionStore::new();
    let first = import(&server.url, &store).await;
    assert_eq!(first.messages, counts(2, 0, 0));
    let stopped = SessionStore::new();
    let rec = store.get(USER, AGENT, WITH_MESSAGES).unwrap();
    stopped.insert(SessionRecord::clone(&rec)).unwrap();
    let m0 = store.messages(USER, AGENT, WITH_MESSAGES, 0, 1).unwrap();
    stopped
        .append_message(USER, AGENT, WITH_MESSAGES, Msg::clone(&m0[0]))
        .unwrap();
    let resumed = import(&server.url, &stopped).await;
    assert!(resumed.is_clean(), "{resumed}");
    assert_eq!(resumed.sessions, counts(2, 1, 0));
    assert_eq!(resumed.messages, counts(1, 1, 0));
    assert_holds_fixture(&stopped, &keys).await;

    // The source's last message rewritten in place (a streamed reply), and one more.
    let mut last: Value = match &keys.iter().find(|(k, _)| *k == msgs).unwrap().1 {
        Stored::List(items) => json(&items[1]),
        _ => unreachable!(),
    };
    last["content"][1]["text"] = " (edited again)".into();
    last["finished_at"] = "2026-12-02T00:20:30.000001".into();
    let next = Msg::new("user", Role::User, vec![ContentBlock::text("more")]);
    let mut c = server.conn().await;
    let () = redis::cmd("LSET")
        .arg(&msgs)
        .arg(-1)
        .arg(last.to_string())
        .query_async(&mut c)
        .await
        .unwrap();
    let () = redis::cmd("RPUSH")
        .arg(&msgs)
        .arg(serde_json::to_string(&next).unwrap())
        .query_async(&mut c)
        .await
        .unwrap();
    let again = import(&server.url, &store).await;
    assert!(again.is_clean(), "{again}");
    assert_eq!(again.messages, counts(2, 1, 0));
    assert_eq!(again.messages_replaced, 1);
    let got = store.messages(USER, AGENT, WITH_MESSAGES, 0, 100).unwrap();
    assert_eq!(got.len(), 3);
    assert_eq!(serde_json::to_value(&*got[1]).unwrap(), last);
    assert_eq!(*got[2], next);
    let settled = import(&server.url, &store).await;
    assert!(!settled.wrote_anything(), "{settled}");
}

/// Adds damaged values to the fixture: three unreadable sessions, a dangling session and
/// agent, a damaged message in a history, and an agent set that is not a set. Returns the
/// history's key and the three sessions' keys.
async fn seed_damaged(server: &RedisServer, keys: &[(String, Stored)]) -> (String, [String; 3]) {
    let p = format!("agentscope:user:{USER}");
    let index = format!("{p}:agent:{AGENT}:sessions");
    let good: Value = match &keys
        .iter()
        .find(|(k, _)| k.ends_with(":session:7587e3681f7b45df8ebc4d862e058619"))
        .unwrap()
        .1
    {
        Stored::String(raw) => json(raw),
        _ => unreachable!(),
    };
    let mut wrong_id = good.clone();
    wrong_id["id"] = "someone-else".into();
    let mut no_config = good.clone();
    no_config.as_object_mut().unwrap().remove("config");
    no_config["id"] = "s-shape".into();
    let msgs = format!("{p}:session:{WITH_MESSAGES}:messages");
    for (k, v) in [
        (format!("{p}:session:s-notjson"), "{not json".to_owned()),
        (format!("{p}:session:s-shape"), no_config.to_string()),
        (format!("{p}:session:s-wrongid"), wrong_id.to_string()),
    ] {
        redis_cmd(server, &["SET", &k, &v]).await;
    }
    redis_cmd(
        server,
        &[
            "SADD",
            &index,
            "s-notjson",
            "s-shape",
            "s-wrongid",
            "s-gone",
        ],
    )
    .await;
    redis_cmd(server, &["SADD", &format!("{p}:agents"), "agent-gone"]).await;
    redis_cmd(server, &["RPUSH", &msgs, "[not a message]", "{\"late\":1}"]).await;
    redis_cmd(server, &["SET", "agentscope:user:u2:agents", "a string"]).await;
    let shapes = [
        format!("{p}:session:s-notjson"),
        format!("{p}:session:s-shape"),
        format!("{p}:session:s-wrongid"),
    ];
    (msgs, shapes)
}

#[tokio::test]
async fn damaged_values_are_reported_by_key_and_skipped_or_fail_the_run() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let keys = fixture_keys();
    load(&server, &keys).await;
    let (msgs, shapes) = seed_damaged(&server, &keys).await;

    let store = SessionStore::new();
    let report = import(&server.url, &store).await;
    assert_eq!(report.agents, counts(1, 0, 0));
    assert_eq!(report.sessions, counts(3, 0, 3), "{report}");
    assert_eq!(report.messages, counts(2, 0, 2), "{report}");
    assert_eq!(report.dangling, 2, "s-gone and agent-gone: {report}");
    let mut damaged: Vec<(IssueKind, &str)> = report
        .issues
        .iter()
        .map(|i| (i.kind, i.key.as_str()))
        .collect();
    damaged.sort_by_key(|(_, k)| *k);
    let expect_msg = format!("{msgs}[2]");
    let mut want = vec![
        (IssueKind::Damaged, "agentscope:user:u2:agents"),
        (IssueKind::Damaged, expect_msg.as_str()),
    ];
    want.extend(shapes.iter().map(|k| (IssueKind::Damaged, k.as_str())));
    want.sort_by_key(|(_, k)| *k);
    assert_eq!(damaged, want, "{report}");
    let detail = |key: &str| {
        report
            .issues
            .iter()
            .find(|i| i.key == key)
            .unwrap()
            .detail
            .clone()
    };
    assert!(detail(&shapes[0]).starts_with("not JSON"));
    assert!(
        detail(&shapes[1]).contains("config"),
        "{}",
        detail(&shapes[1])
    );
    assert!(detail(&shapes[2]).contains("someone-else"));
    assert!(detail(&expect_msg).contains("the 1 after it"));
    // Everything else arrived; the damaged history stops before its damaged message.
    assert_holds_fixture(&store, &keys).await;
    assert!(report
        .to_string()
        .contains(&format!("damaged {}", shapes[0])));

    // The same source with OnDamaged::Fail stops at the first, naming its key.
    let strict = ImportOptions::default().on_damaged(OnDamaged::Fail);
    let err = import_agentscope_redis(&server.url, &SessionStore::new(), &strict)
        .await
        .unwrap_err();
    match &err {
        ImportError::Damaged { key, .. } => assert_eq!(key, "agentscope:user:u2:agents"),
        other => panic!("{other}"),
    }
    assert!(err.to_string().contains("fix or delete that key"), "{err}");
}

#[tokio::test]
async fn a_history_that_diverged_in_the_destination_is_left_alone() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let keys = fixture_keys();
    load(&server, &keys).await;
    let store = SessionStore::new();
    import(&server.url, &store).await;
    let other = Msg::new("user", Role::User, vec![ContentBlock::text("written here")]);
    store
        .append_message(USER, AGENT, WITH_MESSAGES, other.clone())
        .unwrap();
    let report = import(&server.url, &store).await;
    assert_eq!(report.issues.len(), 1, "{report}");
    assert_eq!(report.issues[0].kind, IssueKind::Diverged);
    assert!(report.issues[0].key.ends_with(":messages"));
    assert_eq!(report.messages, counts(0, 0, 2));
    let got = store.messages(USER, AGENT, WITH_MESSAGES, 0, 100).unwrap();
    assert_eq!(*got[2], other, "left as it is");

    // A session changed in the destination is reported, not overwritten.
    store
        .update(USER, AGENT, "7587e3681f7b45df8ebc4d862e058619", |r| {
            r.config.name = "changed here".into();
        })
        .unwrap();
    let report = import(&server.url, &store).await;
    assert!(report
        .issues
        .iter()
        .any(|i| i.kind == IssueKind::Differs
            && i.key.ends_with(":7587e3681f7b45df8ebc4d862e058619")));
    let rec = store
        .get(USER, AGENT, "7587e3681f7b45df8ebc4d862e058619")
        .unwrap();
    assert_eq!(rec.config.name, "changed here");
}

#[tokio::test]
async fn sessions_of_an_agent_without_a_record_are_imported() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let keys = fixture_keys();
    load(&server, &keys).await;
    // user-2 has no agent set and no agent record: only a session index and a session.
    let mut rec: Value = match &keys
        .iter()
        .find(|(k, _)| k.ends_with(":session:e977347b43ad4704afd609d0816a490b"))
        .unwrap()
        .1
    {
        Stored::String(raw) => json(raw),
        _ => unreachable!(),
    };
    rec["user_id"] = "user:2".into(); // a user id with a colon
    rec["agent_id"] = "ghost".into();
    rec["id"] = "s-2".into();
    let raw = rec.to_string();
    redis_cmd(
        &server,
        &["SET", "agentscope:user:user:2:session:s-2", &raw],
    )
    .await;
    redis_cmd(
        &server,
        &["SADD", "agentscope:user:user:2:agent:ghost:sessions", "s-2"],
    )
    .await;
    let store = SessionStore::new();
    let report = import(&server.url, &store).await;
    assert!(report.is_clean(), "{report}");
    assert_eq!(report.users, counts(2, 0, 0));
    assert_eq!(report.sessions, counts(4, 0, 0));
    assert!(store.agent("user:2", "ghost").is_none());
    assert!(store.agent_known("user:2", "ghost"), "known by its session");
    let got = store.get("user:2", "ghost", "s-2").unwrap();
    assert_eq!(
        normalise_record(serde_json::to_value(&*got).unwrap()),
        normalise_record(rec)
    );
}

#[tokio::test]
async fn a_silent_server_times_out_and_bad_urls_say_what_to_do() {
    // Accepts connections and never answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("redis://127.0.0.1:{}", silent.local_addr().unwrap().port());
    let options = ImportOptions::default().timeout(Duration::from_millis(300));
    let started = Instant::now();
    let err = import_agentscope_redis(&url, &SessionStore::new(), &options)
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(3), "bounded");
    assert!(
        matches!(
            err,
            ImportError::Connect { .. } | ImportError::Timeout { .. }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("300ms"), "{err}");
    drop(silent);

    let err = import_agentscope_redis("http://x", &SessionStore::new(), &options)
        .await
        .unwrap_err();
    assert!(matches!(err, ImportError::InvalidUrl { .. }), "{err:?}");
    assert!(err.to_string().contains("redis://"), "{err}");

    // Nothing listens there (the port was just freed); the password is not shown.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("redis://:hunter2@127.0.0.1:{port}");
    let err = import_agentscope_redis(&url, &SessionStore::new(), &options)
        .await
        .unwrap_err();
    assert!(matches!(err, ImportError::Connect { .. }), "{err:?}");
    assert!(!err.to_string().contains("hunter2"), "{err}");
}

#[test]
fn the_import_future_is_send() {
    fn send<T: Send>(_: &T) {}
    let store = SessionStore::new();
    let options = ImportOptions::default();
    let fut = import_agentscope_redis("redis://127.0.0.1:1", &store, &options);
    send(&fut);
}

/// One request as user `user`; the status and the body as JSON (or as a string).
#[cfg(feature = "server")]
fn http_call(method: &str, url: &str, user: &str, body: Option<Value>) -> (u16, Value) {
    let http: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let mut req = ureq::http::Request::builder()
        .method(method)
        .uri(url)
        .header("x-user-id", user);
    let bytes = match body {
        Some(b) => {
            req = req.header("content-type", "application/json");
            serde_json::to_vec(&b).unwrap()
        }
        None => Vec::new(),
    };
    let mut resp = http
        .run(req.body(bytes).unwrap())
        .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().unwrap();
    let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, json)
}

/// The reference's base URL and its Redis URL from the environment; `None` (skip) when
/// unset, a failure when `CI=true` and `AGENT_SESSIONS_REQUIRE_REF=1`.
#[cfg(feature = "server")]
fn reference_urls() -> Option<(String, String)> {
    if let (Ok(url), Ok(redis)) = (
        std::env::var("AGENT_SESSIONS_AGENTSCOPE_REF_URL"),
        std::env::var("AGENT_SESSIONS_AGENTSCOPE_REF_REDIS_URL"),
    ) {
        return Some((url, redis));
    }
    let required = std::env::var("AGENT_SESSIONS_REQUIRE_REF").is_ok_and(|v| v == "1");
    assert!(
        !(ci() && required),
        "CI=true and AGENT_SESSIONS_REQUIRE_REF=1, but AGENT_SESSIONS_AGENTSCOPE_REF_URL and \
         AGENT_SESSIONS_AGENTSCOPE_REF_REDIS_URL are not set: run \
         scripts/agentscope-import-check.sh"
    );
    eprintln!("skipped: AGENT_SESSIONS_AGENTSCOPE_REF_URL / _REDIS_URL not set");
    None
}

/// Against the real AgentScope 2.0.0 server and its Redis (`scripts/agentscope-import-check.sh`
/// starts them and sets the variables): sessions made and renamed through its HTTP API,
/// imported from its Redis, then served by our server, answer `GET /sessions/?agent_id=`
/// exactly as the reference does.
#[cfg(feature = "server")]
#[test]
fn reference_redis_imports_to_the_same_list_answer() {
    use agent_sessions::server::TestServer;

    let Some((ref_url, ref_redis)) = reference_urls() else {
        return;
    };
    let user = format!("import-check-{}", agent_sessions::model::new_id());
    let call = |method: &str, path: &str, body: Option<Value>| {
        http_call(method, &format!("{ref_url}{path}"), &user, body)
    };

    let (status, agent) = call("POST", "/agent/", Some(json!({"name": "bot"})));
    assert_eq!(status, 201, "{agent}");
    let agent = agent["agent_id"].as_str().unwrap().to_owned();
    let mut ids = Vec::new();
    for body in [
        json!({"agent_id": agent, "name": "first", "workspace_id": "ws-1"}),
        json!({"agent_id": agent}),
        json!({"agent_id": agent, "name": "third"}),
        json!({"agent_id": agent, "name": "fourth"}),
    ] {
        let (status, created) = call("POST", "/sessions/", Some(body));
        assert_eq!(status, 201, "{created}");
        ids.push(created["session_id"].as_str().unwrap().to_owned());
        std::thread::sleep(Duration::from_millis(5));
    }
    for (id, patch) in [
        (&ids[0], json!({"name": "renamed"})),
        (&ids[0], json!({"permission_mode": "explore"})),
        (&ids[2], json!({"name": "third, renamed"})),
        (&ids[0], json!({"name": "renamed twice"})),
    ] {
        let (status, patched) = call(
            "PATCH",
            &format!("/sessions/{id}?agent_id={agent}"),
            Some(patch),
        );
        assert_eq!(status, 200, "{patched}");
    }
    let (status, theirs) = call("GET", &format!("/sessions/?agent_id={agent}"), None);
    assert_eq!(status, 200, "{theirs}");

    let store = SessionStore::new();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let report = runtime
        .block_on(import_agentscope_redis(
            &ref_redis,
            &store,
            &ImportOptions::default(),
        ))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(report.is_clean(), "{report}");
    assert!(report.sessions.imported >= 4, "{report}");
    let again = runtime
        .block_on(import_agentscope_redis(
            &ref_redis,
            &store,
            &ImportOptions::default(),
        ))
        .unwrap();
    assert!(!again.wrote_anything(), "{again}");
    eprintln!("first import of the reference's Redis:\n{report}");

    let server = TestServer::start(store).unwrap();
    let url = format!("{}/sessions/?agent_id={agent}", server.base_url());
    let (status, ours) = http_call("GET", &url, &user, None);
    assert_eq!(status, 200, "{ours}");

    let list_ids = |v: &Value| -> Vec<String> {
        v["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(list_ids(&ours), list_ids(&theirs), "same ids, same order");
    assert_eq!(ours["total"], theirs["total"]);
    assert_eq!(ours["total"], 4);
    let mut want = ids.clone();
    want.reverse();
    assert_eq!(list_ids(&ours), want, "newest first");
    for (o, t) in ours["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .zip(theirs["sessions"].as_array().unwrap())
    {
        assert_eq!(normalise_record(o.clone()), normalise_record(t.clone()));
    }
    let names: Vec<&str> = theirs["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["config"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        (names[0], names[1], names[3]),
        ("fourth", "third, renamed", "renamed twice")
    );
}
