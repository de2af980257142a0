//! Helpers shared by the HTTP tests: sending requests through `router(..).oneshot(..)`, and
//! comparing answers with the reference's recorded ones, ids and timestamps normalised.

#![allow(dead_code)] // each test file uses its own part

pub mod binary;
pub mod jwt;
pub mod redis_env;

use std::collections::HashMap;

use agent_sessions::model::parse_timestamp;
use axum::body::Body;
use axum::http::{Request, StatusCode};
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
