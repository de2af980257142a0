//! What every route's handler uses to finish: the 422 check, the answer for a state
//! validation cannot reach, and the empty answer of a delete.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::server::errors::ApiError;
use crate::server::validate::Errors;

/// 422 if anything failed; else the values, all present.
pub(super) fn finish<T>(errors: Errors, values: Option<T>) -> Result<T, ApiError> {
    ApiError::check(errors)?;
    values.ok_or_else(internal)
}

/// A state validation cannot reach (a value checked, then missing).
pub(super) fn internal() -> ApiError {
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
}

/// 204 with `content-type: application/json` and no body, as the reference deletes.
pub(super) fn no_content() -> Response {
    (
        StatusCode::NO_CONTENT,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
    )
        .into_response()
}
