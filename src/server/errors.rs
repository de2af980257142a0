//! The one error shape of the server: `FastAPI`'s `{"detail": ...}`.
//!
//! Validation failures answer 422 with `{"detail": [{type, loc, msg, input[, ctx]}, ...]}`;
//! every other refusal answers `{"detail": "<text>"}` with its status. Store failures are
//! mapped deliberately: what the client can fix says so; what it cannot (I/O, a poisoned
//! journal) answers 503 with a generic text, never the error itself. That error rides on the
//! response's extensions to [`log_store_errors`], the layer that logs it (with `tracing`).

use std::sync::Arc;

use axum::http::{header, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use super::json::Json;
use super::validate::Errors;
use crate::StoreError;

/// A refusal, rendered as `FastAPI` renders it.
#[derive(Debug)]
pub(crate) enum ApiError {
    /// 422 with one entry per failed parameter or field.
    Validation(Vec<Json>),
    /// Any status with a text detail, and extra headers (`allow` on a 405).
    Detail {
        status: StatusCode,
        detail: String,
        headers: Vec<(HeaderName, HeaderValue)>,
    },
    /// 503 for a store failure the client can do nothing about; the failure is logged, not
    /// answered.
    Unavailable(StoreError),
}

/// A store failure behind a 503, in the response's extensions for [`log_store_errors`].
#[derive(Clone, Debug)]
struct StoreFailure(Arc<StoreError>);

/// The layer that logs the store failure behind a 503 (see [`ApiError::Unavailable`]).
pub(crate) async fn log_store_errors(method: Method, uri: Uri, response: Response) -> Response {
    if let Some(StoreFailure(err)) = response.extensions().get() {
        tracing::error!(%method, path = uri.path(), error = %err, "the session store failed");
    }
    response
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        ApiError::Detail {
            status,
            detail: detail.into(),
            headers: Vec::new(),
        }
    }

    /// 401 for an empty `x-user-id`, as the reference's dependency says it.
    pub(crate) fn user_required() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "X-User-ID header is required.")
    }

    pub(crate) fn agent_not_found(agent_id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            format!("Agent '{agent_id}' not found."),
        )
    }

    pub(crate) fn session_not_found(session_id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            format!("Session '{session_id}' not found."),
        )
    }

    /// 412: the session is not at the version `If-Match` names.
    pub(crate) fn stale(session_id: &str) -> Self {
        Self::new(
            StatusCode::PRECONDITION_FAILED,
            format!(
                "Session '{session_id}' has changed since the version in If-Match: read it \
                 again and retry."
            ),
        )
    }

    pub(crate) fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "Not Found")
    }

    /// 405 with the methods the path allows (method names: always a valid header value).
    pub(crate) fn method_not_allowed(allow: &str) -> Self {
        ApiError::Detail {
            status: StatusCode::METHOD_NOT_ALLOWED,
            detail: "Method Not Allowed".into(),
            headers: HeaderValue::from_str(allow)
                .map(|v| (header::ALLOW, v))
                .into_iter()
                .collect(),
        }
    }

    /// 400, as the reference answers a JSON body that is not UTF-8 text.
    pub(crate) fn unreadable_body() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "There was an error parsing the body",
        )
    }

    pub(crate) fn body_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("Request body is too large: the limit is {limit} bytes."),
        )
    }

    /// 422 when `errors` holds anything.
    pub(crate) fn check(errors: Errors) -> Result<(), Self> {
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(errors.0))
        }
    }

    /// Maps a store error to what the client is told.
    pub(crate) fn from_store(err: StoreError) -> Self {
        use StatusCode as S;
        match err {
            StoreError::NotFound { id, .. } => Self::session_not_found(&id),
            StoreError::AgentNotFound { id, .. } => Self::agent_not_found(&id),
            StoreError::VersionConflict { id, .. } => Self::stale(&id),
            StoreError::RecordTooLarge { id, size, limit } => Self::new(
                S::PAYLOAD_TOO_LARGE,
                format!(
                    "Session '{id}' would be {size} bytes of JSON, over the store's limit of \
                     {limit} bytes."
                ),
            ),
            StoreError::TooDeep { depth, limit, .. } => Self::new(
                S::BAD_REQUEST,
                format!("The document nests {depth} levels deep, over the limit of {limit}."),
            ),
            StoreError::EmptyId { field } => Self::new(
                S::UNPROCESSABLE_ENTITY,
                format!("{field} must not be empty."),
            ),
            StoreError::IdTooLong { field, len, limit } => Self::new(
                S::UNPROCESSABLE_ENTITY,
                format!("{field} is {len} bytes, over the limit of {limit} bytes."),
            ),
            StoreError::DuplicateId { id, .. } => {
                Self::new(S::CONFLICT, format!("Session '{id}' already exists."))
            }
            StoreError::DuplicateAgent { id, .. } => {
                Self::new(S::CONFLICT, format!("Agent '{id}' already exists."))
            }
            StoreError::IdentityChanged { id, .. } => Self::new(
                S::CONFLICT,
                format!("Session '{id}' cannot change its identity."),
            ),
            StoreError::InvalidCursor { reason } => Self::new(
                S::UNPROCESSABLE_ENTITY,
                format!("Invalid cursor: {reason}."),
            ),
            // I/O, a damaged or locked directory, a poisoned journal: nothing the client can
            // fix, and nothing it should see.
            other => Self::Unavailable(other),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        Self::from_store(err)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::Validation(entries) => {
                let body = Json::dict([("detail", Json::List(entries))]);
                json_response(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    body.to_python_string().into_bytes(),
                )
            }
            ApiError::Detail {
                status,
                detail,
                headers,
            } => {
                let body = Json::dict([("detail", Json::Str(detail))]);
                let mut response = json_response(status, body.to_python_string().into_bytes());
                response.headers_mut().extend(headers);
                response
            }
            ApiError::Unavailable(err) => {
                let mut response = Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "The session store is unavailable; try again later.",
                )
                .into_response();
                response
                    .extensions_mut()
                    .insert(StoreFailure(Arc::new(err)));
                response
            }
        }
    }
}

/// A response with `content-type: application/json` (no charset, as Starlette writes it).
pub(crate) fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    /// A log sink for one test.
    #[derive(Clone, Default)]
    struct Sink(Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// What the logging layer writes for the answer to `err`.
    fn logged(err: StoreError) -> String {
        let sink = Sink::default();
        let writer = sink.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let response = ApiError::from_store(err).into_response();
            block_on(log_store_errors(
                Method::PATCH,
                Uri::from_static("/sessions/s1"),
                response,
            ))
        });
        let bytes = sink.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn the_layer_logs_what_a_503_hides_and_nothing_else() {
        let io = StoreError::Io {
            path: "/secret/journal".into(),
            source: std::io::Error::other("disk full"),
        };
        let log = logged(io);
        assert!(log.contains("ERROR"), "{log}");
        assert!(
            log.contains("/secret/journal") && log.contains("disk full"),
            "{log}"
        );
        assert!(
            log.contains("PATCH") && log.contains("/sessions/s1"),
            "{log}"
        );
        let not_found = StoreError::NotFound {
            user_id: "u".into(),
            agent_id: "a".into(),
            id: "s".into(),
        };
        assert_eq!(logged(not_found), "");
    }

    fn rendered(err: StoreError) -> (u16, String) {
        let response = ApiError::from_store(err).into_response();
        let status = response.status().as_u16();
        let body = block_on(axum::body::to_bytes(response.into_body(), usize::MAX)).unwrap();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    #[test]
    fn store_errors_map_to_statuses_without_leaking_internals() {
        let io = StoreError::Io {
            path: "/secret/journal".into(),
            source: std::io::Error::other("disk full"),
        };
        let (status, detail) = rendered(io);
        assert_eq!(status, 503);
        assert!(
            !detail.contains("secret") && !detail.contains("disk"),
            "{detail}"
        );
        let poisoned = StoreError::Poisoned {
            reason: "disk full".into(),
        };
        assert_eq!(rendered(poisoned).0, 503);
        let not_found = StoreError::NotFound {
            user_id: "u".into(),
            agent_id: "a".into(),
            id: "s".into(),
        };
        assert_eq!(rendered(not_found).0, 404);
        let dup = StoreError::DuplicateAgent {
            user_id: "u".into(),
            id: "a".into(),
        };
        assert_eq!(rendered(dup).0, 409);
        let big = StoreError::RecordTooLarge {
            id: "s".into(),
            size: 2,
            limit: 1,
        };
        assert_eq!(rendered(big).0, 413);
        let stale = StoreError::VersionConflict {
            id: "s".into(),
            expected: 1,
            actual: 2,
        };
        assert_eq!(rendered(stale).0, 412);
    }
}
