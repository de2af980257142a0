//! The routes AgentScope's web UI calls besides sessions and agents, answered as an AgentScope
//! 2.0.0 server with nothing configured but its storage answers them:
//!
//! - `GET /credential/`: `{"credentials":[],"total":0}` (this server stores no model
//!   credentials), after the same user check as every route.
//! - `GET|POST /workspace/mcp`, `DELETE /workspace/mcp/{name}`, and the same under
//!   `/workspace/skill`: 503 `{"detail":"Workspace manager is not configured."}`, as the
//!   reference without a workspace manager. Its dependency raises the 503 while `FastAPI`
//!   still collects parameter errors, so only what is refused before it is refused here
//!   too: a body that is not JSON (422 `json_invalid`, 400 when not UTF-8), an empty
//!   `x-user-id` (401). Missing parameters or a missing header do not matter.
//!
//! The answers are compared with the reference's in `tests/http_exchanges.rs`
//! (`webui_probes.json`).

use axum::http::{Method, StatusCode};
use axum::response::Response;

use super::shared::finish;
use super::Ctx;
use crate::server::errors::{json_response, ApiError};
use crate::server::extract::{user, BodyInput};
use crate::server::validate::Errors;
use crate::server::App;

/// `GET /credential/`: none stored.
pub(super) fn credentials(ctx: &Ctx) -> Result<Response, ApiError> {
    let mut errors = Errors::default();
    let user = user(&ctx.parts, &mut errors)?;
    finish(errors, user)?;
    Ok(json_response(
        StatusCode::OK,
        br#"{"credentials":[],"total":0}"#.to_vec(),
    ))
}

/// The workspace routes: 503, once the body (on a `POST`) and the user header pass the checks
/// the reference makes first.
pub(super) async fn workspace(app: &App, ctx: Ctx) -> Result<Response, ApiError> {
    if ctx.parts.method == Method::POST {
        BodyInput::read(ctx.body, &ctx.parts.headers, app).await?;
    }
    user(&ctx.parts, &mut Errors::default())?;
    Err(ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "Workspace manager is not configured.",
    ))
}
