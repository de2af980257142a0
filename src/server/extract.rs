//! Reading a request as the reference's stack (uvicorn, Starlette, `FastAPI`) reads it.
//!
//! - Header values are Latin-1 text (any bytes are accepted, as in Starlette); a repeated
//!   header counts by its first value.
//! - The query string is split as `urllib.parse.parse_qsl(keep_blank_values=True)` splits it;
//!   a repeated parameter counts by its last value.
//! - The path is percent-decoded (as UTF-8, invalid bytes replaced) before routing.
//! - A body is JSON only when its `content-type` is `application/json` or `application/*+json`;
//!   any other non-empty body is validated as a string, and so refused.

use axum::body::Body;
use axum::http::request::Parts;
use axum::http::HeaderMap;
use http_body_util::BodyExt;

use super::auth::VerifiedUser;
use super::errors::ApiError;
use super::json::{parse_body, parse_cost, BodyError, Json};
use super::limits::{self, Bodies, Reservation};
use super::validate::{validate_model, Errors, Field, Loc};
use super::App;

/// A header's first value as Latin-1 text.
pub(crate) fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .map(|v| v.as_bytes().iter().map(|&b| char::from(b)).collect())
}

/// The reference's user dependency: the `x-user-id` header. Missing adds a 422 entry (and
/// `None`); empty is a 401 at once, before any other parameter is looked at. In JWT mode,
/// the user the verified token named (see `auth`).
pub(crate) fn user(parts: &Parts, errors: &mut Errors) -> Result<Option<String>, ApiError> {
    if let Some(VerifiedUser(user)) = parts.extensions.get::<VerifiedUser>() {
        return Ok(Some(user.clone()));
    }
    match header(&parts.headers, "x-user-id") {
        None => {
            errors.missing(&[Loc::from("header"), Loc::from("x-user-id")], Json::Null);
            Ok(None)
        }
        Some(u) if u.is_empty() => Err(ApiError::user_required()),
        Some(u) => Ok(Some(u)),
    }
}

/// Percent-decodes a path as uvicorn does (`urllib.parse.unquote`).
pub(crate) fn decode_path(raw: &str) -> String {
    unquote(raw.as_bytes())
}

/// `urllib.parse.unquote` of Latin-1 text given as its bytes: runs of ASCII are
/// percent-decoded and read as UTF-8 (invalid bytes replaced); other characters stay.
fn unquote(raw: &[u8]) -> String {
    if !raw.contains(&b'%') {
        return raw.iter().map(|&b| char::from(b)).collect();
    }
    let mut out = String::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if !raw[i].is_ascii() {
            out.push(char::from(raw[i]));
            i += 1;
            continue;
        }
        let start = i;
        while i < raw.len() && raw[i].is_ascii() {
            i += 1;
        }
        let run = &raw[start..i];
        let mut bytes = Vec::with_capacity(run.len());
        let mut j = 0;
        while j < run.len() {
            let hex = |k: usize| run.get(k).and_then(|&c| char::from(c).to_digit(16));
            match (run[j], hex(j + 1), hex(j + 2)) {
                (b'%', Some(hi), Some(lo)) => {
                    bytes.push(u8::try_from(hi * 16 + lo).unwrap_or(b'?'));
                    j += 3;
                }
                (b, _, _) => {
                    bytes.push(b);
                    j += 1;
                }
            }
        }
        out.push_str(&String::from_utf8_lossy(&bytes));
    }
    out
}

/// The query parameters, in order.
#[derive(Debug, Default)]
pub(crate) struct Query(Vec<(String, String)>);

impl Query {
    /// Splits a raw query string as Starlette does.
    pub(crate) fn parse(raw: Option<&str>) -> Self {
        let Some(raw) = raw else {
            return Self::default();
        };
        let pairs = raw
            .split('&')
            .filter(|part| !part.is_empty())
            .map(|part| {
                let (name, value) = part.split_once('=').unwrap_or((part, ""));
                let plus = |s: &str| unquote(s.replace('+', " ").as_bytes());
                (plus(name), plus(value))
            })
            .collect();
        Self(pairs)
    }

    /// The last value of `name`.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// A required string parameter; absent adds a 422 entry.
    pub(crate) fn required(&self, name: &str, errors: &mut Errors) -> Option<String> {
        let value = self.get(name).map(str::to_owned);
        if value.is_none() {
            errors.missing(&[Loc::from("query"), Loc::from(name)], Json::Null);
        }
        value
    }

    /// An optional integer parameter with bounds; a bad value adds a 422 entry.
    pub(crate) fn int(
        &self,
        name: &str,
        ge: Option<i64>,
        le: Option<i64>,
        errors: &mut Errors,
    ) -> Option<i128> {
        let raw = self.get(name)?;
        let loc = [Loc::from("query"), Loc::from(name)];
        super::validate::validate_int(&Json::str(raw), ge, le, &loc, errors)
    }
}

/// A request body as `FastAPI` hands it to validation.
#[derive(Debug)]
pub(crate) enum BodyInput {
    /// No body (or an empty one).
    Missing,
    /// A JSON body, and the memory its parse holds against the bodies' budget (until the
    /// answer is made).
    Json(Json, #[allow(dead_code)] Reservation),
    /// A body that was not declared JSON: validated as a string, so refused.
    Text(String),
}

impl BodyInput {
    /// Reads and decodes the body; a body over `app`'s limit is refused with 413, one that
    /// does not arrive in time with 408, one whose parse would cost too much memory with 413
    /// (503 while other bodies hold it), a JSON body that is not JSON with `FastAPI`'s 422
    /// `json_invalid`, one that is not UTF-8 with 400.
    pub(crate) async fn read(body: Body, headers: &HeaderMap, app: &App) -> Result<Self, ApiError> {
        let limit = app.max_body_bytes;
        let declared = headers
            .get(axum::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > limit as u64) {
            return Err(ApiError::body_too_large(limit));
        }
        let mut held = app.bodies.reservation();
        let timeout = app.bodies.read_timeout;
        let read = collect(body, limit, declared, &mut held);
        let bytes = tokio::time::timeout(timeout, read)
            .await
            .map_err(|_| limits::body_timeout(timeout))??;
        if bytes.is_empty() {
            return Ok(BodyInput::Missing);
        }
        let content_type = header(headers, "content-type").unwrap_or_default();
        if !is_json(&content_type) {
            return Ok(BodyInput::Text(
                String::from_utf8_lossy(&bytes).into_owned(),
            ));
        }
        let cost = parse_cost(&bytes);
        let allowed = Bodies::cost_limit(bytes.len());
        if cost > allowed {
            return Err(limits::too_costly(allowed));
        }
        held.grow_to(bytes.len().saturating_add(cost))?;
        match parse_body(&bytes) {
            Ok(json) => Ok(BodyInput::Json(json, held)),
            Err(BodyError::Unreadable) => Err(ApiError::unreadable_body()),
            Err(BodyError::Decode(e)) => {
                let mut errors = Errors::default();
                let pos = Loc::Index(e.pos);
                errors.push(
                    "json_invalid",
                    &[Loc::from("body"), pos],
                    "JSON decode error",
                    Json::dict::<&str>([]),
                    Some(Json::dict([("error", Json::str(e.msg))])),
                );
                Err(ApiError::Validation(errors.0))
            }
        }
    }

    /// Validates the body as the model `fields`; failures go to `errors` under `body`.
    pub(crate) fn validate(
        &self,
        fields: &[Field],
        errors: &mut Errors,
    ) -> Option<serde_json::Map<String, serde_json::Value>> {
        let mut loc = vec![Loc::from("body")];
        let text;
        let input = match self {
            BodyInput::Missing => {
                errors.missing(&loc, Json::Null);
                return None;
            }
            BodyInput::Text(s) => {
                text = Json::str(s.as_str());
                &text
            }
            BodyInput::Json(json, _) => json,
        };
        validate_model(fields, input, &mut loc, errors)
    }
}

/// Reads a body of at most `limit` bytes into one buffer, holding its capacity against the
/// bodies' budget as it grows: a body declared large but sent slowly holds only what came.
/// The buffer doubles, up to the declared length (or the limit), so a body is copied few times.
async fn collect(
    mut body: Body,
    limit: usize,
    declared: Option<u64>,
    held: &mut Reservation,
) -> Result<Vec<u8>, ApiError> {
    const FIRST: usize = 64 * 1024;
    let cap = declared.map_or(limit, |n| usize::try_from(n).unwrap_or(limit).min(limit));
    let mut bytes = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| ApiError::unreadable_body())?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        let needed = bytes.len() + data.len();
        if needed > limit {
            return Err(ApiError::body_too_large(limit));
        }
        if bytes.capacity() < needed {
            let grown = needed
                .max(bytes.capacity().saturating_mul(2))
                .max(FIRST)
                .min(cap.max(needed));
            held.grow_to(grown)?;
            bytes.reserve_exact(grown - bytes.len());
        }
        bytes.extend_from_slice(&data);
    }
    Ok(bytes)
}

/// Whether a `content-type` is JSON as `FastAPI` decides it (`email.message` parsing: the media
/// type before any `;`, lower-cased; `application/json` or `application/*+json`).
fn is_json(content_type: &str) -> bool {
    let media = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let mut parts = media.split('/');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("application"), Some(sub), None) => sub == "json" || sub.ends_with("+json"),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_as_starlette() {
        let q = Query::parse(Some("agent_id=a&agent_id=b&x&y=&z=%C3%A9+%2B&w=%zz"));
        assert_eq!(q.get("agent_id"), Some("b"));
        assert_eq!(q.get("x"), Some(""));
        assert_eq!(q.get("y"), Some(""));
        assert_eq!(q.get("z"), Some("é +"));
        assert_eq!(q.get("w"), Some("%zz"));
        assert_eq!(q.get("v"), None);
        assert_eq!(Query::parse(Some("a=%ff")).get("a"), Some("\u{fffd}"));
    }

    #[test]
    fn json_content_types() {
        for ct in [
            "application/json",
            "Application/JSON; charset=utf-8",
            "application/vnd.api+json",
        ] {
            assert!(is_json(ct), "{ct}");
        }
        for ct in [
            "",
            "text/plain",
            "application/json/x",
            "application/x-json",
            "json",
        ] {
            assert!(!is_json(ct), "{ct}");
        }
    }

    #[test]
    fn paths_decoded() {
        assert_eq!(decode_path("/sessions/a%20b"), "/sessions/a b");
        assert_eq!(decode_path("/sessions/%E4%B8%AD"), "/sessions/中");
        assert_eq!(decode_path("/sessions/%ff"), "/sessions/\u{fffd}");
    }
}
