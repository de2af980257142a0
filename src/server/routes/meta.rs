//! `GET /healthz` and `GET /openapi.json`.

use axum::http::StatusCode;
use axum::response::Response;

use crate::server::errors::json_response;
use crate::server::openapi::DOCUMENT;

/// 200 `{"status":"ok"}`.
pub(super) fn healthz() -> Response {
    json_response(StatusCode::OK, br#"{"status":"ok"}"#.to_vec())
}

/// The `OpenAPI` document.
pub(super) fn openapi() -> Response {
    json_response(StatusCode::OK, DOCUMENT.clone())
}
