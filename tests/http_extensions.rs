//! The server's own extensions, off unless asked for: list paging, cursors, orders and the
//! summary view; `ETag` and `If-Match`; the body limit; store errors as statuses; `/healthz`
//! and `/openapi.json`. On every backend (in memory, Redis, Redis Cluster) where the test is
//! about what the server answers over the backend's data.

#![cfg(feature = "server")]

mod common;

use agent_sessions::model::{parse_timestamp, AgentRecord, SessionRecord};
use agent_sessions::server::{self, Options};
use std::sync::Arc;

use agent_sessions::{ListQuery, SessionBackend, SessionStore};
use axum::body::Body;
use axum::http::Request;
use common::{request, send};
use serde_json::{json, Value};

type Backend = Arc<dyn SessionBackend>;

/// Five sessions of ("u", "a"), created a minute apart, put into `store`: s0 oldest ... s4
/// newest.
async fn with_five(store: Backend) -> Backend {
    for i in 0..5 {
        let rec: SessionRecord = serde_json::from_value(json!({
            "id": format!("s{i}"), "user_id": "u", "agent_id": "a",
            "created_at": format!("2026-01-01T00:0{i}:00"),
            "updated_at": format!("2026-01-01T00:0{}:00", 9 - i),
            "config": {"workspace_id": "w", "name": format!("n{i}")},
            "state": {"summary": "long", "context": [{"name": "u", "role": "user", "content": [{"type": "text", "text": "hi", "id": "b"}]}]}
        }))
        .unwrap();
        store.insert(rec).await.unwrap();
    }
    store
}

fn ids(v: &Value) -> Vec<String> {
    v["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect()
}

on_every_backend!(
    without_extensions_the_answer_is_the_stores_bytes,
    limit_offset_order_and_view,
    a_cursor_walk_sees_every_session_once,
    bad_extension_values_are_fastapi_422s,
    etags_and_if_match,
);

async fn without_extensions_the_answer_is_the_stores_bytes(store: Backend) {
    let store = with_five(store).await;
    let app = server::router(store.clone());
    let got = send(
        &app,
        request("GET", "/sessions/?agent_id=a", Some("u"), None),
    )
    .await;
    assert_eq!(
        got.body,
        store.list_json(&ListQuery::new("u", "a")).await.unwrap()
    );
    assert_eq!(ids(&got.json()), ["s4", "s3", "s2", "s1", "s0"]);
    assert!(got.json().get("next_cursor").is_none());
}

async fn limit_offset_order_and_view(store: Backend) {
    let app = server::router(with_five(store).await);
    let get = |q: &str| {
        let app = app.clone();
        let q = q.to_owned();
        async move {
            send(
                &app,
                request(
                    "GET",
                    &format!("/sessions/?agent_id=a&{q}"),
                    Some("u"),
                    None,
                ),
            )
            .await
        }
    };
    let page = get("limit=2").await.json();
    assert_eq!(
        (ids(&page), page["total"].clone()),
        (vec!["s4".to_owned(), "s3".to_owned()], json!(5))
    );
    assert!(page.get("next_cursor").is_none());
    assert_eq!(ids(&get("limit=2&offset=4").await.json()), ["s0"]);
    assert_eq!(
        ids(&get("order=created_asc").await.json()),
        ["s0", "s1", "s2", "s3", "s4"]
    );
    assert_eq!(ids(&get("order=updated_desc&limit=1").await.json()), ["s0"]);

    let summary = get("view=summary&limit=1").await.json();
    let state = summary["sessions"][0]["state"].as_object().unwrap();
    assert!(
        !state.contains_key("context")
            && !state.contains_key("summary")
            && !state.contains_key("tool_context")
    );
    assert!(state.contains_key("permission_context") && state.contains_key("session_id"));
    let full = get("view=full&limit=1").await.json();
    assert_eq!(full["sessions"][0]["state"]["summary"], "long");
}

async fn a_cursor_walk_sees_every_session_once(store: Backend) {
    let store = with_five(store).await;
    let app = server::router(store.clone());
    let mut seen = Vec::new();
    let mut cursor = String::new();
    for _ in 0..10 {
        let page = send(
            &app,
            request(
                "GET",
                &format!("/sessions/?agent_id=a&limit=2&cursor={cursor}"),
                Some("u"),
                None,
            ),
        )
        .await
        .json();
        assert_eq!(page["total"], if seen.len() < 2 { 5 } else { 6 }); // counts the insert
        seen.extend(ids(&page));
        match &page["next_cursor"] {
            Value::String(next) => cursor = next.clone(),
            Value::Null => break,
            other => panic!("next_cursor {other}"),
        }
        // An insert between pages moves nothing the walk has not yet seen.
        if seen.len() == 2 {
            let rec: SessionRecord = serde_json::from_value(json!({
                "id": "new", "user_id": "u", "agent_id": "a", "config": {"workspace_id": "w"}
            }))
            .unwrap();
            store.insert(rec).await.unwrap();
        }
    }
    assert_eq!(seen, ["s4", "s3", "s2", "s1", "s0"]);
}

async fn bad_extension_values_are_fastapi_422s(store: Backend) {
    let app = server::router(with_five(store).await);
    let got = send(
        &app,
        request(
            "GET",
            "/sessions/?limit=0&offset=abc&cursor=zzz&order=sideways&view=x",
            Some("u"),
            None,
        ),
    )
    .await;
    assert_eq!(got.status, 422);
    let detail = got.json()["detail"].clone();
    let kinds: Vec<(&str, &str)> = detail
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["loc"][1].as_str().unwrap(), e["type"].as_str().unwrap()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("agent_id", "missing"),
            ("limit", "greater_than_equal"),
            ("offset", "int_parsing"),
            ("cursor", "value_error"),
            ("order", "enum"),
            ("view", "enum")
        ]
    );
    assert_eq!(
        detail[4]["msg"],
        "Input should be 'created_desc', 'created_asc', 'updated_desc' or 'updated_asc'"
    );
}

async fn etags_and_if_match(store: Backend) {
    let store = with_five(store).await;
    let app = server::router(store.clone());
    let patch = |if_match: Option<&str>, name: &str| {
        let mut b = Request::builder()
            .method("PATCH")
            .uri("/sessions/s1?agent_id=a")
            .header("x-user-id", "u")
            .header("content-type", "application/json");
        if let Some(tag) = if_match {
            b = b.header("if-match", tag);
        }
        b.body(Body::from(
            serde_json::to_vec(&json!({"name": name})).unwrap(),
        ))
        .unwrap()
    };
    let first = send(&app, patch(None, "one")).await;
    let etag = first.headers["etag"].to_str().unwrap().to_owned();
    let version = store.get("u", "a", "s1").await.unwrap().unwrap().version;
    assert_eq!(etag, format!("\"{version}\""));

    let ok = send(&app, patch(Some(&format!("\"1\", {etag}")), "two")).await;
    assert_eq!(ok.status, 200);
    assert_ne!(ok.headers["etag"], first.headers["etag"]);
    for stale in [etag.as_str(), "W/\"1\"", "garbage"] {
        let refused = send(&app, patch(Some(stale), "lost")).await;
        assert_eq!(refused.status, 412, "{stale}");
        assert_eq!(refused.content_type.as_deref(), Some("application/json"));
    }
    assert_eq!(send(&app, patch(Some("*"), "three")).await.status, 200);
    let now = store.get("u", "a", "s1").await.unwrap().unwrap();
    assert_eq!(now.record.config.name, "three");
    // Validation and existence come first, as without If-Match.
    let missing = Request::builder()
        .method("PATCH")
        .uri("/sessions/nope?agent_id=a")
        .header("x-user-id", "u")
        .header("if-match", "\"1\"")
        .header("content-type", "application/json")
        .body(Body::from("{}"))
        .unwrap();
    assert_eq!(send(&app, missing).await.status, 404);
}

#[tokio::test]
async fn limits_answer_413() {
    let store = SessionStore::builder().max_record_bytes(4096).build();
    store
        .register_agent(AgentRecord {
            id: "a".into(),
            ..AgentRecord::new("u", serde_json::Map::default())
        })
        .unwrap();
    let app = server::router_with(store.clone(), &Options::default().max_body_bytes(2048));
    let big = json!({"agent_id": "a", "name": "x".repeat(4096)});
    let got = send(&app, request("POST", "/sessions/", Some("u"), Some(&big))).await;
    assert_eq!(got.status, 413);
    assert_eq!(
        got.json(),
        json!({"detail": "Request body is too large: the limit is 2048 bytes."})
    );

    // Under the body limit, over the store's record limit: also 413, and nothing is stored.
    let app = server::router(store.clone());
    let got = send(&app, request("POST", "/sessions/", Some("u"), Some(&big))).await;
    assert_eq!(got.status, 413, "{}", got.text());
    assert!(got.json()["detail"]
        .as_str()
        .unwrap()
        .contains("over the store's limit of 4096 bytes"));
    assert!(store.is_empty());
    let long_user = "u".repeat(2000);
    let got = send(
        &app,
        request(
            "POST",
            "/agent/",
            Some(&long_user),
            Some(&json!({"name": "x"})),
        ),
    )
    .await;
    assert_eq!(got.status, 422);
    assert!(got.json()["detail"]
        .as_str()
        .unwrap()
        .contains("user_id is 2000 bytes"));
}

#[tokio::test]
async fn healthz_openapi_and_agent_records() {
    let app = server::router(SessionStore::new());
    let health = send(&app, request("GET", "/healthz", None, None)).await;
    assert_eq!(
        (health.status.as_u16(), health.text()),
        (200, r#"{"status":"ok"}"#.to_owned())
    );
    let head = send(&app, request("HEAD", "/healthz", None, None)).await;
    assert_eq!(head.status, 200);
    let doc = send(&app, request("GET", "/openapi.json", None, None))
        .await
        .json();
    assert_eq!(doc["openapi"], "3.1.0");
    let params: Vec<&str> = doc["paths"]["/sessions/"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        params,
        [
            "agent_id",
            "limit",
            "offset",
            "cursor",
            "order",
            "view",
            "x-user-id"
        ]
    );
    assert!(doc["components"]["schemas"]["SessionRecord"].is_object());
    assert!(doc["paths"]["/healthz"]["get"].is_object());
    assert!(doc["paths"]["/metrics"]["get"].is_object());
    // The reference's own entries for the web UI's other routes, and the 503 they answer.
    assert!(doc["paths"]["/credential/"]["get"].is_object());
    assert!(doc["paths"]["/credential/"]["post"].is_null());
    for (path, method) in [
        ("/workspace/mcp", "get"),
        ("/workspace/skill/{skill_name}", "delete"),
    ] {
        let op = &doc["paths"][path][method];
        assert!(op["responses"]["503"].is_object(), "{path} {method}");
        assert_eq!(op["tags"][0], "workspace");
    }
    assert!(doc["components"]["schemas"]["ListCredentialsResponse"].is_object());

    // Agent records carry the store's timestamps (RFC 3339, Z) and the reference's defaults.
    let created = send(
        &app,
        request("POST", "/agent/", Some("u"), Some(&json!({"name": "bot"}))),
    )
    .await
    .json();
    let list = send(&app, request("GET", "/agent/", Some("u"), None))
        .await
        .json();
    let agent = &list["agents"][0];
    assert_eq!(agent["id"], created["agent_id"]);
    let ts = agent["created_at"].as_str().unwrap();
    assert!(ts.ends_with('Z') && parse_timestamp(ts).is_some(), "{ts}");
    let keys: Vec<&String> = agent["data"].as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "id",
            "name",
            "system_prompt",
            "context_config",
            "react_config"
        ]
    );
    assert_ne!(agent["data"]["id"], agent["id"]);
    assert_eq!(
        agent["data"]["react_config"],
        json!({"max_iters": 20, "stop_on_reject": false})
    );
}

/// `{"a": {"a": ... {}}}`, `levels` objects deep.
fn nested(levels: usize) -> Value {
    (1..levels).fold(json!({}), |inner, _| json!({ "a": inner }))
}

/// A body may nest 100 levels (the README's limit): a `chat_model_config` that does is stored,
/// though the record holds it one level deeper (under `config`); one level more is refused.
#[tokio::test]
async fn a_body_nested_exactly_100_levels_is_stored() {
    let store = SessionStore::new();
    store
        .register_agent(AgentRecord::new("u", serde_json::Map::new()))
        .unwrap();
    let agent = store.agents("u")[0].id.clone();
    let app = server::router(store.clone());
    // body (1) > chat_model_config (2) > parameters (3) > 97 more: 100 levels.
    let body = |levels: usize| {
        json!({"agent_id": agent, "chat_model_config": {"type": "t", "credential_id": "c",
            "model": "m", "parameters": nested(levels - 2)}})
    };
    let created = send(
        &app,
        request("POST", "/sessions/", Some("u"), Some(&body(100))),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.text());
    let too_deep = send(
        &app,
        request("POST", "/sessions/", Some("u"), Some(&body(101))),
    )
    .await;
    assert_eq!(too_deep.status, 400, "{}", too_deep.text());
}

/// pydantic refuses a whole float beyond `i64` for an integer field (`int_parsing_size`);
/// it used to be stored as another number (`1e308` as `1.7014118346046923e+38`).
#[tokio::test]
async fn an_integer_field_refuses_a_float_it_cannot_hold() {
    let app = server::router(SessionStore::new());
    let body = json!({"name": "a", "context_config": {"tool_result_limit": 1e308}});
    let got = send(&app, request("POST", "/agent/", Some("u"), Some(&body))).await;
    assert_eq!(got.status, 422, "{}", got.text());
    assert_eq!(
        got.json(),
        json!({"detail": [{"type": "int_parsing_size",
            "loc": ["body", "context_config", "tool_result_limit"],
            "msg": "Unable to parse input string as an integer, exceeded maximum size",
            "input": 1e308}]})
    );
}
