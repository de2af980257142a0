//! `/sessions/` as AgentScope 2.0.11 answers it (the server's [`AgentScope::V2_0_11`] mode):
//! list, create, update, delete, a session's messages and its status.
//!
//! What differs from 2.0.0 (`sessions.rs`):
//! - records are answered in 2.0.11's shape, 2.0.0 records converted as 2.0.11 reads them
//!   ([`SessionRecord::to_agentscope_2_0_11`]), with the server's timestamp format;
//! - a list item is `{"session", "is_running", "status", "team"}`, its record trimmed
//!   (`state.context` `[]`, `summary` `""`, `tool_context` the default), `status` derived
//!   from the context's last message as 2.0.11 derives it;
//! - create takes 2.0.11's model configs, sets `naming.auto` when no name is given, and a
//!   session created without a workspace joins the workspace of the (user, agent)'s oldest
//!   session (2.0.11's per-agent workspace policy), else a fresh one;
//! - PATCH sets only the fields sent (`null` clears them), a rename settles `naming.auto`
//!   to `false`, and the record is saved in 2.0.11's shape (as 2.0.11 writes a record back);
//!   it would answer 409 while a run holds the session, but nothing runs sessions here;
//! - a session is looked up under the request's `agent_id` only;
//! - messages take a `before` cursor (`offset` is accepted and ignored) and answer
//!   `{"messages", "event_cursor", "is_running", "has_more"}`, the newest page first;
//! - `GET /sessions/{id}/status` answers `{"session_id", "status"}`;
//! - a request without `x-user-id` is a 401, as an empty one;
//! - `GET /openapi.json` is 2.0.11's document, as that server answers it (it describes
//!   routes of 2.0.11 that this server does not have).
//!
//! Nothing runs agents here, so `is_running` is always `false`, `status` is never
//! `running`, `event_cursor` is `null` and `team` is `null`.

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Map, Value};

use super::sessions::{chat_model_config, take_str, CHAT_MODEL_CONFIG};
use super::shared::{finish, internal, no_content};
use super::{Ctx, Endpoint};
use crate::backend::ListQuery;
use crate::model::{
    new_id, now, ContentBlock, Msg, PermissionMode, Role, SessionRecord, TextOrBlocks,
    ToolCallState, ToolContext,
};
use crate::server::errors::{json_response, ApiError};
use crate::server::extract::BodyInput;
use crate::server::json::Json;
use crate::server::validate::{Errors, Field, IfAbsent, Ty};
use crate::server::{AgentScope, App};
use crate::{NewSession, Order};

/// Whether the 2.0.11 mode answers `endpoint` here (the agent registry and the meta routes
/// answer as in 2.0.0).
pub(super) fn answers(endpoint: Endpoint) -> bool {
    matches!(
        endpoint,
        Endpoint::ListSessions
            | Endpoint::CreateSession
            | Endpoint::PatchSession
            | Endpoint::DeleteSession
            | Endpoint::ListMessages
            | Endpoint::SessionStatus
            | Endpoint::OpenApi
            | Endpoint::ListAgents
            | Endpoint::CreateAgent
    )
}

/// 2.0.11's user dependency: the `x-user-id` header, missing or empty a 401 at once (2.0.0
/// answers a missing one 422). In JWT mode, the user the verified token named.
pub(super) fn user(
    parts: &axum::http::request::Parts,
    errors: &mut Errors,
) -> Result<Option<String>, ApiError> {
    match crate::server::extract::user(parts, errors)? {
        Some(user) => Ok(Some(user)),
        None => Err(ApiError::user_required()),
    }
}

/// Runs a 2.0.11 session endpoint (or the `OpenAPI` document, 2.0.11's own).
pub(super) async fn dispatch(
    app: &App,
    endpoint: Endpoint,
    ctx: Ctx,
) -> Result<Response, ApiError> {
    debug_assert_eq!(app.agentscope, AgentScope::V2_0_11);
    match endpoint {
        Endpoint::ListSessions => list(app, ctx).await,
        Endpoint::CreateSession => create(app, ctx).await,
        Endpoint::PatchSession => patch(app, ctx).await,
        Endpoint::DeleteSession => delete(app, ctx).await,
        Endpoint::ListMessages => messages(app, ctx).await,
        Endpoint::SessionStatus => status(app, ctx).await,
        Endpoint::OpenApi => Ok(json_response(
            StatusCode::OK,
            include_bytes!("../openapi_reference_2_0_11.json").to_vec(),
        )),
        Endpoint::ListAgents => super::agents_v2011::list(app, ctx).await,
        Endpoint::CreateAgent => super::agents_v2011::create(app, ctx).await,
        _ => Err(ApiError::not_found()),
    }
}

const fn optional(name: &'static str, ty: &'static Ty) -> Field {
    Field {
        name,
        ty: Ty::Optional(ty),
        default: IfAbsent::Null,
    }
}

const MODEL: Ty = Ty::Model(CHAT_MODEL_CONFIG);

/// The config fields a create or a PATCH sets verbatim, in 2.0.11's order.
const MODEL_CONFIGS: [&str; 4] = [
    "fallback_chat_model_config",
    "tts_model_config",
    "realtime_model_config",
    "knowledge_config",
];

/// 2.0.11's `CreateSessionRequest`.
const CREATE_SESSION: &[Field] = &[
    Field {
        name: "agent_id",
        ty: Ty::Str,
        default: IfAbsent::Required,
    },
    optional("workspace_id", &Ty::Str),
    optional("name", &Ty::Str),
    optional("chat_model_config", &MODEL),
    optional("fallback_chat_model_config", &MODEL),
    optional("tts_model_config", &Ty::Dict),
    optional("realtime_model_config", &Ty::Dict),
    optional("knowledge_config", &Ty::Dict),
];

/// 2.0.11's `UpdateSessionRequest`.
const UPDATE_SESSION: &[Field] = &[
    optional("name", &Ty::Str),
    optional("chat_model_config", &MODEL),
    optional("fallback_chat_model_config", &MODEL),
    optional("tts_model_config", &Ty::Dict),
    optional("realtime_model_config", &Ty::Dict),
    optional("knowledge_config", &Ty::Dict),
    optional("permission_mode", &Ty::Enum(PermissionMode::KNOWN)),
    optional("cwd", &Ty::Str),
];

/// `record` as 2.0.11 writes it, timestamps in the server's format.
fn shaped(app: &App, record: &SessionRecord) -> SessionRecord {
    let mut out = record.to_agentscope_2_0_11();
    out.timestamp_format = app.timestamps;
    out
}

fn to_value(record: &SessionRecord) -> Result<Value, ApiError> {
    serde_json::to_value(record).map_err(|_| internal())
}

fn ok_json(status: StatusCode, value: &Value) -> Result<Response, ApiError> {
    let body = serde_json::to_vec(value).map_err(|_| internal())?;
    Ok(json_response(status, body))
}

/// 2.0.11's `SessionService.derive_parked_status`: from the context's last message, when it
/// is the assistant's and has tool calls: `awaiting_permission` if one is asking,
/// `awaiting_external_result` if one is submitted, else `idle`.
fn parked_status(context: &[Arc<Msg>]) -> &'static str {
    let Some(last) = context.last() else {
        return "idle";
    };
    if last.role != Some(Role::Assistant) {
        return "idle";
    }
    let states: Vec<&ToolCallState> = last
        .content
        .iter()
        .filter_map(|b| match b {
            ContentBlock::ToolCall(call) => Some(&call.state),
            _ => None,
        })
        .collect();
    if states.contains(&&ToolCallState::Asking) {
        "awaiting_permission"
    } else if states.contains(&&ToolCallState::Submitted) {
        "awaiting_external_result"
    } else {
        "idle"
    }
}

/// `GET /sessions/?agent_id=`: the user's sessions with the agent, newest first, as
/// `SessionView`s with their records trimmed.
async fn list(app: &App, ctx: Ctx) -> Result<Response, ApiError> {
    let mut errors = Errors::default();
    let user = user(&ctx.parts, &mut errors)?;
    let agent_id = ctx.query.required("agent_id", &mut errors);
    let (user, agent_id) = finish(errors, user.zip(agent_id))?;
    if !app.backend.agent_known(&user, &agent_id).await? {
        return Err(ApiError::agent_not_found(&agent_id));
    }
    let answer = app.backend.list(&ListQuery::new(user, agent_id)).await?;
    let mut views = Vec::with_capacity(answer.sessions.len());
    for record in &answer.sessions {
        let status = parked_status(&record.state.context);
        let mut trimmed = shaped(app, record);
        trimmed.state.context = Vec::new();
        trimmed.state.summary = TextOrBlocks::default();
        trimmed.state.tool_context = ToolContext::default();
        views.push(json!({
            "session": to_value(&trimmed)?,
            "is_running": false,
            "status": status,
            "team": null,
        }));
    }
    ok_json(
        StatusCode::OK,
        &json!({ "sessions": views, "total": answer.total }),
    )
}

/// `POST /sessions/`: a new session for a known agent, in 2.0.11's shape; 201
/// `{"session_id"}`.
async fn create(app: &App, ctx: Ctx) -> Result<Response, ApiError> {
    let body = BodyInput::read(ctx.body, &ctx.parts.headers, app).await?;
    let mut errors = Errors::default();
    let user = user(&ctx.parts, &mut errors)?;
    let fields = body.validate(CREATE_SESSION, &mut errors);
    let (user, mut fields) = finish(errors, user.zip(fields))?;
    let agent_id = take_str(&mut fields, "agent_id").unwrap_or_default();
    if !app.backend.agent_known(&user, &agent_id).await? {
        return Err(ApiError::agent_not_found(&agent_id));
    }
    let workspace =
        if let Some(ws) = take_str(&mut fields, "workspace_id").filter(|w| !w.is_empty()) {
            ws
        } else {
            let oldest = ListQuery::new(user.clone(), agent_id.clone())
                .order(Order::CreatedAsc)
                .limit(1);
            let page = app.backend.list(&oldest).await?;
            page.sessions
                .first()
                .map_or_else(new_id, |r| r.config.workspace_id.clone())
        };
    let mut new = NewSession::new(user, agent_id).workspace_id(workspace);
    let name = take_str(&mut fields, "name");
    if let Some(name) = &name {
        new = new.name(name.clone());
    }
    if let Some(config) = chat_model_config(&mut fields)? {
        new = new.chat_model_config(config);
    }
    let mut record = new.into_record(now()).to_agentscope_2_0_11();
    let config = &mut record.config.extra;
    config.insert("naming".into(), json!({ "auto": name.is_none() }));
    for key in MODEL_CONFIGS {
        if let Some(v) = fields.remove(key) {
            config.insert(key.into(), v);
        }
    }
    let created = app.backend.insert(record).await?;
    ok_json(
        StatusCode::CREATED,
        &json!({ "session_id": created.record.id }),
    )
}

/// The user's session `id` under `agent_id`, or 404.
async fn find(app: &App, user: &str, agent_id: &str, id: &str) -> Result<SessionRecord, ApiError> {
    match app.backend.get(user, agent_id, id).await? {
        Some(v) => Ok(SessionRecord::clone(&v.record)),
        None => Err(ApiError::session_not_found(id)),
    }
}

/// Whether the body has the key `name` (sent, even as `null`).
fn sent(body: &BodyInput, name: &str) -> bool {
    matches!(body, BodyInput::Json(Json::Dict(map), _) if map.contains_key(name))
}

/// `PATCH /sessions/{id}?agent_id=`: sets the fields sent (`null` clears); 200 with the whole
/// record.
async fn patch(app: &App, ctx: Ctx) -> Result<Response, ApiError> {
    let body = BodyInput::read(ctx.body, &ctx.parts.headers, app).await?;
    let mut errors = Errors::default();
    let user = user(&ctx.parts, &mut errors)?;
    let agent_id = ctx.query.required("agent_id", &mut errors);
    let fields = body.validate(UPDATE_SESSION, &mut errors);
    let ((user, agent_id), mut fields) = finish(errors, user.zip(agent_id).zip(fields))?;
    find(app, &user, &agent_id, &ctx.id).await?;
    // A `name` of `null` is not a name: it leaves the name (and its naming) alone.
    let name = take_str(&mut fields, "name");
    let model = sent(&body, "chat_model_config")
        .then(|| chat_model_config(&mut fields))
        .transpose()?;
    let mode = take_str(&mut fields, "permission_mode").map(|m| PermissionMode::from(m.as_str()));
    let verbatim: Map<String, Value> = MODEL_CONFIGS
        .iter()
        .chain(&["cwd"])
        .filter(|key| sent(&body, key))
        .filter_map(|key| Some(((*key).to_owned(), fields.remove(*key)?)))
        .collect();
    let mut change = |r: &mut SessionRecord| {
        *r = r.to_agentscope_2_0_11();
        if let Some(name) = &name {
            r.config.name.clone_from(name);
            let naming = r.config.extra.entry("naming").or_insert_with(|| json!({}));
            match naming.as_object_mut() {
                Some(naming) => {
                    naming.insert("auto".into(), Value::Bool(false));
                }
                None => *naming = json!({"auto": false}),
            }
        }
        if let Some(model) = &model {
            r.config.chat_model_config = model.clone().map(Box::new);
        }
        for (key, value) in &verbatim {
            r.config.extra.insert(key.clone(), value.clone());
        }
        if let Some(mode) = &mode {
            r.state.permission_context.mode = mode.clone();
        }
    };
    let updated = app
        .backend
        .update(&user, &agent_id, &ctx.id, &mut change)
        .await?;
    ok_json(StatusCode::OK, &to_value(&shaped(app, &updated.record))?)
}

/// `DELETE /sessions/{id}?agent_id=`: 204, or 404 if the user has no such session.
async fn delete(app: &App, ctx: Ctx) -> Result<Response, ApiError> {
    let mut errors = Errors::default();
    let user = user(&ctx.parts, &mut errors)?;
    let agent_id = ctx.query.required("agent_id", &mut errors);
    let (user, agent_id) = finish(errors, user.zip(agent_id))?;
    find(app, &user, &agent_id, &ctx.id).await?;
    app.backend.delete(&user, &agent_id, &ctx.id).await?;
    Ok(no_content())
}

/// `GET /sessions/{id}/messages?agent_id=&before=&limit=`: the newest `limit` messages
/// older than `before` (all when absent), oldest first; `has_more` when older ones remain.
/// An unknown `before` answers an empty page. `offset` is validated and ignored.
async fn messages(app: &App, ctx: Ctx) -> Result<Response, ApiError> {
    let mut errors = Errors::default();
    let user = user(&ctx.parts, &mut errors)?;
    let agent_id = ctx.query.required("agent_id", &mut errors);
    let _ = ctx.query.int("offset", None, None, &mut errors);
    let limit = ctx
        .query
        .int("limit", Some(1), Some(200), &mut errors)
        .unwrap_or(50);
    let (user, agent_id) = finish(errors, user.zip(agent_id))?;
    find(app, &user, &agent_id, &ctx.id).await?;
    let all = app
        .backend
        .messages(&user, &agent_id, &ctx.id, 0, usize::MAX)
        .await?;
    let end = match ctx.query.get("before") {
        None => Some(all.len()),
        Some(before) => all.iter().position(|m| m.id == before),
    };
    let limit = usize::try_from(limit).unwrap_or(50);
    let (page, has_more) = match end {
        Some(end) if end > 0 => {
            let start = end.saturating_sub(limit);
            (&all[start..end], start > 0)
        }
        _ => (&all[..0], false),
    };
    let page: Vec<Msg> = page.iter().map(|m| m.to_agentscope_2_0_11()).collect();
    ok_json(
        StatusCode::OK,
        &json!({
            "messages": page,
            "event_cursor": null,
            "is_running": false,
            "has_more": has_more,
        }),
    )
}

/// `GET /sessions/{id}/status?agent_id=`: `{"session_id", "status"}`.
async fn status(app: &App, ctx: Ctx) -> Result<Response, ApiError> {
    let mut errors = Errors::default();
    let user = user(&ctx.parts, &mut errors)?;
    let agent_id = ctx.query.required("agent_id", &mut errors);
    let (user, agent_id) = finish(errors, user.zip(agent_id))?;
    let record = find(app, &user, &agent_id, &ctx.id).await?;
    ok_json(
        StatusCode::OK,
        &json!({
            "session_id": ctx.id,
            "status": parked_status(&record.state.context),
        }),
    )
}
