//! Helpers shared by the HTTP tests: sending requests through `router(..).oneshot(..)`, and
//! comparing answers with the reference's recorded ones, ids and timestamps normalised.

#![allow(dead_code)] // each test file uses its own part

pub mod binary;
pub mod jwt;
pub mod redis_env;
pub mod store_files;

use std::collections::HashMap;

use agent_sessions::model::parse_timestamp;
use axum::body::Body;
use axum::http::{HeaderValue, Request, StatusCode};
use serde_json::Value;
use tower::ServiceExt as _;

/// What a request got back.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub content_type: Option<String>,
    pub location: Option<String>,
    pub headers: axum::http::HeaderMap,
    pub body: Vec<u8>,
}

impl Answer {
    /// The body as JSON (panics with the body if it is not).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends one request through the router.
pub async fn send(app: &axum::Router, request: Request<Body>) -> Answer {
    let response = app
        .clone()
        .oneshot(request)
        .await
        .expect("the router never fails");
    let (parts, body) = response.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .expect("a body")
        .to_vec();
    let header = |name| {
        parts
            .headers
            .get(name)
            .map(|v| v.to_str().expect("ASCII header").to_owned())
    };
    Answer {
        status: parts.status,
        content_type: header("content-type"),
        location: header("location"),
        headers: parts.headers.clone(),
        body,
    }
}

/// A request with an optional user and JSON body.
pub fn request(
    method: &str,
    path: &str,
    user: Option<&str>,
    body: Option<&Value>,
) -> Request<Body> {
    let mut b = Request::builder().method(method).uri(path);
    if let Some(user) = user {
        b = b.header("x-user-id", user);
    }
    match body {
        Some(body) => b
            .header("content-type", "application/json")
            .body(Body::from(serde_json::to_vec(body).unwrap()))
            .unwrap(),
        None => b.body(Body::empty()).unwrap(),
    }
}

/// Ids the reference generated, mapped to the ids this server generated in their place.
#[derive(Default, Debug)]
pub struct IdMap {
    ours: HashMap<String, String>,
    theirs: HashMap<String, String>,
}

impl IdMap {
    /// `text` with every mapped reference id replaced by ours.
    pub fn apply(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for (theirs, ours) in &self.ours {
            out = out.replace(theirs, ours);
        }
        out
    }

    /// A JSON value with every mapped id in its strings replaced.
    pub fn apply_value(&self, v: &Value) -> Value {
        match v {
            Value::String(s) => Value::String(self.apply(s)),
            Value::Array(a) => Value::Array(a.iter().map(|v| self.apply_value(v)).collect()),
            Value::Object(o) => Value::Object(
                o.iter()
                    .map(|(k, v)| (k.clone(), self.apply_value(v)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    /// Compares a recorded value with ours: equal, except that timestamps match any
    /// timestamp, default names (`YYYY-MM-DD HH:MM:SS`) any such name, and a uuid-hex id of
    /// the reference the id of ours in the same place (the first time it is seen, it is
    /// mapped; after that it must be the same). Key order counts.
    pub fn compare(&mut self, path: &str, theirs: &Value, ours: &Value) -> Result<(), String> {
        match (theirs, ours) {
            (Value::Object(t), Value::Object(o)) => {
                let tk: Vec<&String> = t.keys().collect();
                let ok: Vec<&String> = o.keys().collect();
                if tk != ok {
                    return Err(format!("{path}: keys {tk:?} != ours {ok:?}"));
                }
                for (k, tv) in t {
                    self.compare(&format!("{path}.{k}"), tv, &o[k])?;
                }
                Ok(())
            }
            (Value::Array(t), Value::Array(o)) => {
                if t.len() != o.len() {
                    return Err(format!("{path}: {} items != ours {}", t.len(), o.len()));
                }
                for (i, (tv, ov)) in t.iter().zip(o).enumerate() {
                    self.compare(&format!("{path}[{i}]"), tv, ov)?;
                }
                Ok(())
            }
            (Value::String(t), Value::String(o)) => {
                let t = self.apply(t);
                if &t == o
                    || (parse_timestamp(&t).is_some() && parse_timestamp(o).is_some())
                    || (is_default_name(&t) && is_default_name(o))
                {
                    return Ok(());
                }
                if is_uuid_hex(&t) && is_uuid_hex(o) && !self.theirs.contains_key(o) {
                    self.ours.insert(t.clone(), o.clone());
                    self.theirs.insert(o.clone(), t);
                    return Ok(());
                }
                Err(format!("{path}: {t:?} != ours {o:?}"))
            }
            (t, o) if t == o => Ok(()),
            (t, o) => Err(format!("{path}: {t} != ours {o}")),
        }
    }
}

/// A uuid4 in 32 hex digits, as AgentScope makes ids.
pub fn is_uuid_hex(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `YYYY-MM-DD HH:MM:SS`, AgentScope's default session name.
pub fn is_default_name(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 19
        && b.iter().enumerate().all(|(i, &c)| match i {
            4 | 7 => c == b'-',
            10 => c == b' ',
            13 | 16 => c == b':',
            _ => c.is_ascii_digit(),
        })
}

/// Runs each named `async fn(Arc<dyn SessionBackend>)` of the calling file as a test on every
/// backend: in memory, and (feature `redis`) on the shared Redis and Redis Cluster, each test
/// with a key prefix of its own (skipped with a printed line where no Redis is configured,
/// outside CI).
#[macro_export]
macro_rules! on_every_backend {
    ($($name:ident),+ $(,)?) => {
        mod in_memory {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(std::sync::Arc::new(agent_sessions::SessionStore::new())).await;
                }
            )+
        }
        #[cfg(feature = "redis")]
        mod on_redis {
            $(
                #[tokio::test]
                async fn $name() {
                    if let Some(b) = $crate::common::redis_env::standalone().await {
                        super::$name(std::sync::Arc::new(b)).await;
                    }
                }
            )+
        }
        #[cfg(feature = "redis")]
        mod on_cluster {
            $(
                #[tokio::test]
                async fn $name() {
                    if let Some(b) = $crate::common::redis_env::cluster().await {
                        super::$name(std::sync::Arc::new(b)).await;
                    }
                }
            )+
        }
    };
}

// Replaying recorded exchanges (`http_exchanges*.rs`).

/// The recorded request, with the reference's ids replaced by ours.
pub fn recorded_request(req: &Value, ids: &IdMap, host: &str) -> Request<Body> {
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

/// Compares our answer with the recorded one: status, content type, `Location`, `allow`,
/// the body's bytes where they were recorded, and its JSON value (ids mapped).
pub fn check_recorded(
    want: &Value,
    got: &Answer,
    head: bool,
    ids: &mut IdMap,
) -> Result<(), String> {
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

pub fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}
