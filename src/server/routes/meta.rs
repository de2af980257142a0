//! `GET /healthz` and `GET /openapi.json`.

use axum::http::StatusCode;
use axum::response::Response;

use crate::server::errors::json_response;
use crate::server::openapi::DOCUMENT;
use crate::server::App;

/// 200 `{"status":"ok"}` when the backend can serve; else 503 `{"status":"unavailable",
/// "detail": why}`, for readiness probes and operators.
pub(super) async fn healthz(app: &App) -> Response {
    match app.backend.health_check().await {
        Ok(()) => json_response(StatusCode::OK, br#"{"status":"ok"}"#.to_vec()),
        Err(e) => {
            let body = serde_json::json!({ "status": "unavailable", "detail": e.to_string() });
            json_response(
                StatusCode::SERVICE_UNAVAILABLE,
                serde_json::to_vec(&body).unwrap_or_default(),
            )
        }
    }
}

/// The `OpenAPI` document.
pub(super) fn openapi() -> Response {
    json_response(StatusCode::OK, DOCUMENT.clone())
}
