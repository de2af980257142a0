//! `GET /metrics`: parsed with a strict `OpenMetrics` text parser (below), and its counters
//! checked to move as requests are made: requests by route template and status, latency
//! histograms, refusals by reason, version conflicts, store writes, the session count, and a
//! durable store's fsyncs and group commits.

#![cfg(feature = "server")]

mod common;

use std::collections::{BTreeMap, HashMap};

use agent_sessions::server::{self, Identity, JwtAuth, Options};
use agent_sessions::{FsyncPolicy, SessionStore};
use axum::body::Body;
use axum::http::Request;
use common::{request, send};
use serde_json::json;

/// One sample: its name and labels (sorted).
type Key = (String, BTreeMap<String, String>);

/// A parsed exposition: every sample's value, and every family's type.
#[derive(Debug, Default)]
struct Exposition {
    samples: HashMap<Key, f64>,
    types: HashMap<String, String>,
}

impl Exposition {
    /// The value of `name{labels}` (labels given must match all of the sample's), or 0 when
    /// no such sample is exposed (a counter not yet created).
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let want: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        self.samples
            .get(&(name.to_owned(), want))
            .copied()
            .unwrap_or(0.0)
    }

    /// A count: the value of `name{labels}` as a whole number (0 when not exposed).
    fn n(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        let v = self.get(name, labels);
        assert!(
            v >= 0.0 && v.fract() == 0.0 && v < 1e15,
            "{name}: {v} is no count"
        );
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // checked above
        let n = v as u64;
        n
    }

    /// Every label value of every sample.
    fn label_values(&self) -> impl Iterator<Item = &str> {
        self.samples
            .keys()
            .flat_map(|(_, labels)| labels.values().map(String::as_str))
    }
}

/// Parses `OpenMetrics` text strictly: `# HELP` / `# TYPE` / `# UNIT` lines, samples of a
/// declared family only (with the suffixes of its type), well-formed labels and values, no
/// sample twice, and `# EOF` as the last line. Panics with the line on any deviation.
fn parse(text: &str) -> Exposition {
    let mut out = Exposition::default();
    let mut ended = false;
    for line in text.lines() {
        assert!(!ended, "content after # EOF: {line:?}");
        if line == "# EOF" {
            ended = true;
            continue;
        }
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let (kind, name) = (parts.next().unwrap(), parts.next().expect(line));
            assert!(valid_name(name), "bad metric name in {line:?}");
            match kind {
                "TYPE" => {
                    let ty = parts.next().expect(line);
                    assert!(
                        ["counter", "gauge", "histogram", "info", "unknown"].contains(&ty),
                        "{line:?}"
                    );
                    assert!(
                        out.types.insert(name.to_owned(), ty.to_owned()).is_none(),
                        "family declared twice: {line:?}"
                    );
                }
                "HELP" | "UNIT" => {}
                _ => panic!("unknown comment {line:?}"),
            }
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect(line);
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v
                .parse()
                .unwrap_or_else(|_| panic!("bad value in {line:?}")),
        };
        let (name, labels) = match series.split_once('{') {
            None => (series, BTreeMap::new()),
            Some((name, rest)) => (name, parse_labels(rest.strip_suffix('}').expect(line))),
        };
        assert!(valid_name(name), "bad sample name in {line:?}");
        let family = family_of(name, &out.types).unwrap_or_else(|| panic!("no family: {line:?}"));
        if name.ends_with("_bucket") {
            assert_eq!(out.types[family], "histogram", "{line:?}");
            assert!(labels.contains_key("le"), "a bucket without le: {line:?}");
        }
        assert!(
            out.samples
                .insert((name.to_owned(), labels), value)
                .is_none(),
            "sample twice: {line:?}"
        );
    }
    assert!(ended, "no # EOF at the end");
    out
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// `k="v",k2="v2"` (values with `\\`, `\"` and `\n` escapes).
fn parse_labels(text: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    let mut rest = text;
    while !rest.is_empty() {
        let (key, after) = rest.split_once("=\"").expect(text);
        assert!(valid_name(key), "bad label name {key:?} in {text:?}");
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next().expect(text) {
                (_, '\\') => match chars.next().expect(text).1 {
                    'n' => value.push('\n'),
                    c @ ('\\' | '"') => value.push(c),
                    c => panic!("bad escape \\{c} in {text:?}"),
                },
                (i, '"') => break i,
                (_, c) => value.push(c),
            }
        };
        assert!(
            labels.insert(key.to_owned(), value).is_none(),
            "label twice in {text:?}"
        );
        rest = &after[end + 1..];
        rest = rest.strip_prefix(',').unwrap_or(rest);
    }
    labels
}

/// The declared family a sample name belongs to.
fn family_of<'a>(name: &'a str, types: &HashMap<String, String>) -> Option<&'a str> {
    let suffixes: &[(&str, &[&str])] = &[
        ("counter", &["_total", "_created"]),
        ("histogram", &["_bucket", "_sum", "_count", "_created"]),
        ("gauge", &[""]),
        ("info", &["_info"]),
        ("unknown", &[""]),
    ];
    for (ty, ends) in suffixes {
        for end in *ends {
            if let Some(family) = name.strip_suffix(end) {
                if types.get(family).map(String::as_str) == Some(*ty) {
                    return Some(family);
                }
            }
        }
    }
    None
}

async fn scrape(app: &axum::Router) -> Exposition {
    let got = send(app, Request::get("/metrics").body(Body::empty()).unwrap()).await;
    assert_eq!(got.status, 200);
    if std::env::var_os("SHOW_METRICS").is_some() {
        eprintln!("{}", got.text());
    }
    assert_eq!(
        got.content_type.as_deref(),
        Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
    );
    parse(&got.text())
}

const REQUESTS: &str = "agent_sessions_http_requests_total";
const DURATIONS: &str = "agent_sessions_http_request_duration_seconds_count";
const REJECTED: &str = "agent_sessions_http_rejected_total";

#[tokio::test]
#[allow(clippy::too_many_lines)] // one walk, checked as it goes
async fn requests_are_counted_by_route_template_and_status() {
    let app = server::router(SessionStore::new());
    // Families appear with their first sample: a fresh server reports only its sessions.
    let before = scrape(&app).await;
    assert!(!before.types.contains_key("agent_sessions_http_requests"));
    assert_eq!(before.n("agent_sessions_sessions", &[]), 0);

    let agent = send(
        &app,
        request("POST", "/agent/", Some("u"), Some(&json!({"name": "b"}))),
    )
    .await;
    let agent = agent.json()["agent_id"].as_str().unwrap().to_owned();
    let mut ids = Vec::new();
    for name in ["one", "two"] {
        let body = json!({"agent_id": agent, "name": name});
        let got = send(&app, request("POST", "/sessions/", Some("u"), Some(&body))).await;
        assert_eq!(got.status, 201);
        ids.push(got.json()["session_id"].as_str().unwrap().to_owned());
    }
    for id in &ids {
        let path = format!("/sessions/{id}?agent_id={agent}");
        let got = send(
            &app,
            request("PATCH", &path, Some("u"), Some(&json!({"name": "x"}))),
        )
        .await;
        assert_eq!(got.status, 200);
    }
    let list = format!("/sessions/?agent_id={agent}");
    send(&app, request("GET", &list, Some("u"), None)).await;
    send(&app, request("GET", "/nope/secret-path-1", Some("u"), None)).await; // 404
    send(&app, request("GET", "/sessions/", Some("u"), None)).await; // 422: no agent_id
    send(&app, request("GET", "/sessions/", Some(""), None)).await; // 401
    send(&app, request("PUT", "/sessions/", Some("u"), None)).await; // 405
    let body = json!({"agent_id": "nope"});
    send(&app, request("POST", "/sessions/", Some("u"), Some(&body))).await; // 404
    send(&app, request("GET", "/workspace/mcp", Some("u"), None)).await; // 503
    let skill = "/workspace/skill/secret-path-2?agent_id=a&session_id=s";
    send(&app, request("DELETE", skill, Some("u"), None)).await; // 503

    let m = scrape(&app).await;
    assert_eq!(m.types["agent_sessions_http_requests"], "counter");
    assert_eq!(
        m.types["agent_sessions_http_request_duration_seconds"],
        "histogram"
    );
    let requests = |method, route, status| {
        m.n(
            REQUESTS,
            &[("method", method), ("route", route), ("status", status)],
        )
    };
    assert_eq!(requests("POST", "/agent/", "201"), 1);
    assert_eq!(requests("POST", "/sessions/", "201"), 2);
    assert_eq!(requests("PATCH", "/sessions/{session_id}", "200"), 2);
    assert_eq!(requests("GET", "/sessions/", "200"), 1);
    assert_eq!(requests("GET", "/sessions/", "422"), 1);
    assert_eq!(requests("GET", "/sessions/", "401"), 1);
    assert_eq!(requests("POST", "/sessions/", "404"), 1);
    assert_eq!(requests("GET", "/workspace/mcp", "503"), 1);
    assert_eq!(
        requests("DELETE", "/workspace/skill/{skill_name}", "503"),
        1
    );
    assert_eq!(requests("GET", "unrouted", "404"), 1);
    assert_eq!(requests("PUT", "unrouted", "405"), 1);
    // The first scrape counts too.
    assert_eq!(requests("GET", "/metrics", "200"), 1);
    // Latency: one observation per request, by route template.
    let patched = m.n(
        DURATIONS,
        &[("method", "PATCH"), ("route", "/sessions/{session_id}")],
    );
    assert_eq!(patched, 2);
    let inf = m.n(
        "agent_sessions_http_request_duration_seconds_bucket",
        &[
            ("method", "PATCH"),
            ("route", "/sessions/{session_id}"),
            ("le", "+Inf"),
        ],
    );
    assert_eq!(inf, 2);
    // Refusals by reason.
    assert_eq!(m.n(REJECTED, &[("reason", "not_found")]), 2);
    assert_eq!(m.n(REJECTED, &[("reason", "invalid")]), 1);
    assert_eq!(m.n(REJECTED, &[("reason", "unauthenticated")]), 1);
    assert_eq!(m.n(REJECTED, &[("reason", "method_not_allowed")]), 1);
    assert_eq!(m.n(REJECTED, &[("reason", "unavailable")]), 2);
    // Raw paths and ids never become label values.
    for value in m.label_values() {
        assert!(!value.contains("secret-path"), "{value}");
        assert!(!ids.iter().any(|id| value.contains(id.as_str())), "{value}");
        assert!(!value.contains(&agent), "{value}");
    }
    // Store writes, and the session count.
    let writes = "agent_sessions_store_write_duration_seconds_count";
    assert_eq!(m.n(writes, &[("op", "create")]), 2);
    assert_eq!(m.n(writes, &[("op", "update")]), 2);
    assert_eq!(m.n(writes, &[("op", "register_agent")]), 1);
    assert_eq!(m.n("agent_sessions_sessions", &[]), 2);

    // One more request moves its counter by one, and nothing else of its kind.
    let path = format!("/sessions/{}?agent_id={agent}", ids[0]);
    send(&app, request("DELETE", &path, Some("u"), None)).await;
    let after = scrape(&app).await;
    let deleted = [
        ("method", "DELETE"),
        ("route", "/sessions/{session_id}"),
        ("status", "204"),
    ];
    assert_eq!(after.n(REQUESTS, &deleted), 1);
    assert_eq!(
        after.n(
            REQUESTS,
            &[
                ("method", "POST"),
                ("route", "/sessions/"),
                ("status", "201")
            ]
        ),
        2
    );
    assert_eq!(after.n("agent_sessions_sessions", &[]), 1);
    assert_eq!(after.n(writes, &[("op", "delete")]), 1);
    assert_eq!(
        requests("GET", "/metrics", "200") + 1,
        after.n(
            REQUESTS,
            &[("method", "GET"), ("route", "/metrics"), ("status", "200")]
        )
    );
}

#[tokio::test]
async fn a_stale_if_match_is_counted_as_a_version_conflict() {
    let app = server::router(SessionStore::new());
    let agent = send(
        &app,
        request("POST", "/agent/", Some("u"), Some(&json!({"name": "b"}))),
    )
    .await;
    let agent = agent.json()["agent_id"].as_str().unwrap().to_owned();
    let body = json!({"agent_id": agent});
    let created = send(&app, request("POST", "/sessions/", Some("u"), Some(&body))).await;
    let id = created.json()["session_id"].as_str().unwrap().to_owned();
    let patch = |tag: Option<&str>| {
        let mut b = Request::patch(format!("/sessions/{id}?agent_id={agent}"))
            .header("x-user-id", "u")
            .header("content-type", "application/json");
        if let Some(tag) = tag {
            b = b.header("if-match", tag);
        }
        b.body(Body::from(r#"{"name":"n"}"#)).unwrap()
    };
    let first = send(&app, patch(None)).await;
    let old = first.headers["etag"].to_str().unwrap().to_owned();
    assert_eq!(send(&app, patch(None)).await.status, 200);
    let got = send(&app, patch(Some(&old))).await;
    assert_eq!(got.status, 412, "{}", got.text());
    let m = scrape(&app).await;
    assert_eq!(m.n(REJECTED, &[("reason", "version_conflict")]), 1);
    let patched = [
        ("method", "PATCH"),
        ("route", "/sessions/{session_id}"),
        ("status", "412"),
    ];
    assert_eq!(m.n(REQUESTS, &patched), 1);
    // The handler saw the stale tag before writing: no write was refused by the store (a
    // store's `VersionConflict`, from a race, is counted by the unit test in `metered.rs`).
    assert_eq!(
        m.n(
            "agent_sessions_store_conflicts_total",
            &[("error", "version")]
        ),
        0
    );
    let writes = "agent_sessions_store_write_duration_seconds_count";
    assert_eq!(m.n(writes, &[("op", "update")]), 2);
}

#[tokio::test]
async fn a_durable_store_reports_its_fsyncs_and_group_commits() {
    let dir = tempfile::tempdir().unwrap();
    let store = SessionStore::builder()
        .fsync(FsyncPolicy::Always)
        .open(dir.path())
        .unwrap();
    let app = server::router(store.clone());
    let fresh = scrape(&app).await;
    assert_eq!(
        fresh.types["agent_sessions_journal_fsync_duration_seconds"],
        "histogram"
    );
    let fsyncs_before = fresh.n("agent_sessions_journal_fsync_duration_seconds_count", &[]);
    let agent = send(
        &app,
        request("POST", "/agent/", Some("u"), Some(&json!({"name": "b"}))),
    )
    .await;
    let agent = agent.json()["agent_id"].as_str().unwrap().to_owned();
    for _ in 0..3 {
        let body = json!({"agent_id": agent});
        let got = send(&app, request("POST", "/sessions/", Some("u"), Some(&body))).await;
        assert_eq!(got.status, 201);
    }
    let m = scrape(&app).await;
    let fsyncs = m.n("agent_sessions_journal_fsync_duration_seconds_count", &[]);
    assert!(fsyncs > fsyncs_before, "{fsyncs_before} -> {fsyncs}");
    assert!(m.get("agent_sessions_journal_fsync_duration_seconds_sum", &[]) > 0.0);
    // Every line written (an agent, three sessions) was made durable by some fsync.
    let lines = m.n("agent_sessions_journal_group_commit_lines_sum", &[]);
    assert!(lines >= 4, "{lines}");
    let groups = m.n("agent_sessions_journal_group_commit_lines_count", &[]);
    assert_eq!(groups, fsyncs, "one group per fsync");
    assert_eq!(m.n("agent_sessions_sessions", &[]), 3);
    drop(app);
    store.close().unwrap();
}

#[tokio::test]
async fn an_in_memory_store_reports_no_journal() {
    let app = server::router(SessionStore::new());
    let m = scrape(&app).await;
    assert!(!m
        .types
        .contains_key("agent_sessions_journal_fsync_duration_seconds"));
    assert_eq!(m.types["agent_sessions_sessions"], "gauge");
}

#[tokio::test]
async fn metrics_stay_open_in_jwt_mode_as_healthz() {
    let jwt = JwtAuth::hs256_secret(&[7; 32]).unwrap();
    let options = Options::default().identity(Identity::Jwt(jwt.into()));
    let app = server::router_with(SessionStore::new(), &options);
    let got = send(&app, request("GET", "/agent/", Some("u"), None)).await;
    assert_eq!(got.status, 401);
    let m = scrape(&app).await;
    assert_eq!(m.n(REJECTED, &[("reason", "unauthenticated")]), 1);
    assert_eq!(
        m.n(
            REQUESTS,
            &[("method", "GET"), ("route", "/agent/"), ("status", "401")]
        ),
        1
    );
}

#[test]
fn the_parser_is_strict() {
    let ok = "# TYPE a counter\n# HELP a x\na_total{k=\"v\\\"\"} 1\n# EOF\n";
    assert_eq!(parse(ok).n("a_total", &[("k", "v\"")]), 1);
    for bad in [
        "# TYPE a counter\na_total 1\n",             // no EOF
        "a_total 1\n# EOF\n",                        // no family
        "# TYPE a counter\na 1\n# EOF\n",            // a counter's sample without _total
        "# TYPE a counter\na_total{k=v} 1\n# EOF\n", // unquoted label
        "# TYPE a counter\na_total one\n# EOF\n",    // not a number
        "# TYPE a counter\na_total 1\n# EOF\nb 1\n", // after EOF
    ] {
        let caught = std::panic::catch_unwind(|| parse(bad));
        assert!(caught.is_err(), "accepted {bad:?}");
    }
}
