//! `/sessions/`: list, create, update, delete, and a session's messages.
//!
//! Every endpoint checks, in the reference's order: the JSON body's syntax, the `x-user-id`
//! header, the query, the body's fields; then whether the agent or session exists.
//!
//! As in the reference, a session is found by user and id alone: `agent_id` is required on
//! `PATCH`, `DELETE` and `messages`, but a session of the same user under another agent is
//! still found (the reference keys sessions by user and id).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use serde_json::{Map, Value};

use super::shared::{finish, internal, no_content};
use super::Ctx;
use crate::model::{ChatModelConfig, PermissionMode};
use crate::server::errors::{json_response, ApiError};
use crate::server::extract::{header as header_text, user, BodyInput, Query};
use crate::server::json::Json;
use crate::server::validate::{Errors, Field, IfAbsent, Loc, Ty};
use crate::server::App;
use crate::{Cursor, ListQuery, NewSession, Order, StoreError, Versioned};

/// `ChatModelConfig`: every field required; unknown fields dropped.
pub(super) const CHAT_MODEL_CONFIG: &[Field] = &[
    Field {
        name: "type",
        ty: Ty::Str,
        default: IfAbsent::Required,
    },
    Field {
        name: "credential_id",
        ty: Ty::Str,
        default: IfAbsent::Required,
    },
    Field {
        name: "model",
        ty: Ty::Str,
        default: IfAbsent::Required,
    },
    Field {
        name: "parameters",
        ty: Ty::Dict,
        default: IfAbsent::Required,
    },
];

/// `CreateSessionRequest`.
const CREATE_SESSION: &[Field] = &[
    Field {
        name: "agent_id",
        ty: Ty::Str,
        default: IfAbsent::Required,
    },
    Field {
        name: "workspace_id",
        ty: Ty::Optional(&Ty::Str),
        default: IfAbsent::Null,
    },
    Field {
        name: "name",
        ty: Ty::Optional(&Ty::Str),
        default: IfAbsent::Null,
    },
    Field {
        name: "chat_model_config",
        ty: Ty::Optional(&Ty::Model(CHAT_MODEL_CONFIG)),
        default: IfAbsent::Null,
    },
];

/// `UpdateSessionRequest`: `null` or absent keeps the current value.
const UPDATE_SESSION: &[Field] = &[
    Field {
        name: "name",
        ty: Ty::Optional(&Ty::Str),
        default: IfAbsent::Null,
    },
    Field {
        name: "chat_model_config",
        ty: Ty::Optional(&Ty::Model(CHAT_MODEL_CONFIG)),
        default: IfAbsent::Null,
    },
    Field {
        name: "permission_mode",
        ty: Ty::Optional(&Ty::Enum(PermissionMode::KNOWN)),
        default: IfAbsent::Null,
    },
];

const VIEWS: &[&str] = &["full", "summary"];

/// `GET /sessions/?agent_id=`: the user's sessions with the agent, newest first. With any of
/// the extension parameters (`limit`, `offset`, `cursor`, `order`, `view`) the page is
/// shaped by them; without, the answer is the reference's, from cached bytes.
pub(super) async fn list(app: &App, ctx: Ctx) -> Result<Response, ApiError> {
    let mut errors = Errors::default();
    let user = user(&ctx.parts, &mut errors)?;
    let agent_id = ctx.query.required("agent_id", &mut errors);
    let page = Page::parse(&ctx.query, &mut errors);
    let (user, agent_id) = finish(errors, user.zip(agent_id))?;
    if !app.backend.agent_known(&user, &agent_id).await? {
        return Err(ApiError::agent_not_found(&agent_id));
    }
    let mut query = ListQuery::new(user, agent_id);
    let Some(page) = page.filter(Page::is_asked) else {
        return Ok(json_response(
            StatusCode::OK,
            app.backend.list_json(&query).await?,
        ));
    };
    query.order = page.order.unwrap_or_default();
    query.limit = page.limit;
    query.offset = page.offset.unwrap_or(0);
    if let Some(CursorParam(Some(cursor))) = page.cursor.clone() {
        query = query.cursor(cursor);
    }
    let answer = app.backend.list(&query).await?;
    let mut out = Map::new();
    let sessions = answer
        .sessions
        .iter()
        .map(|r| {
            let mut v = serde_json::to_value(&**r).map_err(|_| internal())?;
            if page.summary {
                if let Some(state) = v.get_mut("state").and_then(Value::as_object_mut) {
                    state.shift_remove("context");
                    state.shift_remove("summary");
                    state.shift_remove("tool_context");
                }
            }
            Ok(v)
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    out.insert("sessions".into(), Value::Array(sessions));
    out.insert("total".into(), Value::from(answer.total));
    if page.cursor.is_some() {
        let next = query
            .next_page(&answer)
            .and_then(|q| q.cursor)
            .map_or(Value::Null, |c| Value::String(c.to_string()));
        out.insert("next_cursor".into(), next);
    }
    let body = serde_json::to_vec(&out).map_err(|_| internal())?;
    Ok(json_response(StatusCode::OK, body))
}

/// A `cursor` parameter: a position, or none (empty: the first page).
#[derive(Clone)]
struct CursorParam(Option<Cursor>);

/// The list extensions a request asked for.
#[derive(Default)]
struct Page {
    limit: Option<usize>,
    offset: Option<usize>,
    /// `cursor` was given: an empty one (`None`) starts a cursor walk.
    cursor: Option<CursorParam>,
    order: Option<Order>,
    summary: bool,
    asked: bool,
}

impl Page {
    fn parse(query: &Query, errors: &mut Errors) -> Option<Page> {
        let before = errors.0.len();
        let mut page = Page {
            asked: ["limit", "offset", "cursor", "order", "view"]
                .iter()
                .any(|n| query.get(n).is_some()),
            ..Page::default()
        };
        page.limit = query
            .int("limit", Some(1), None, errors)
            .map(|n| usize::try_from(n).unwrap_or(usize::MAX));
        page.offset = query
            .int("offset", Some(0), None, errors)
            .map(|n| usize::try_from(n).unwrap_or(usize::MAX));
        if let Some(raw) = query.get("cursor") {
            page.cursor = match raw {
                "" => Some(CursorParam(None)),
                raw => match raw.parse::<Cursor>() {
                    Ok(c) => Some(CursorParam(Some(c))),
                    Err(e) => {
                        let loc = [Loc::from("query"), Loc::from("cursor")];
                        let reason = match &e {
                            StoreError::InvalidCursor { reason } => *reason,
                            _ => "it is damaged",
                        };
                        let ctx = Json::dict([("error", Json::str(reason))]);
                        errors.push(
                            "value_error",
                            &loc,
                            format!("Value error, {e}"),
                            Json::str(raw),
                            Some(ctx),
                        );
                        None
                    }
                },
            };
        }
        page.order = enum_param(query, "order", &Order::NAMES, errors).and_then(|o| o.parse().ok());
        page.summary = enum_param(query, "view", VIEWS, errors).as_deref() == Some("summary");
        (errors.0.len() == before).then_some(page)
    }

    fn is_asked(&self) -> bool {
        self.asked
    }
}

/// An optional string-enum query parameter; a value outside `values` adds a 422 entry.
fn enum_param(
    query: &Query,
    name: &str,
    values: &'static [&'static str],
    errors: &mut Errors,
) -> Option<String> {
    let raw = query.get(name)?;
    let mut loc = vec![Loc::from("query"), Loc::from(name)];
    crate::server::validate::validate(&Ty::Enum(values), &Json::str(raw), &mut loc, errors)
        .and_then(|v| v.as_str().map(str::to_owned))
}

/// `POST /sessions/`: a new session for a known agent; 201 `{"session_id"}`.
///
/// The reference also refuses a `chat_model_config` whose credential it does not hold; this
/// server has no credential registry and accepts any.
pub(super) async fn create(app: &App, ctx: Ctx) -> Result<Response, ApiError> {
    let body = BodyInput::read(ctx.body, &ctx.parts.headers, app).await?;
    let mut errors = Errors::default();
    let user = user(&ctx.parts, &mut errors)?;
    let fields = body.validate(CREATE_SESSION, &mut errors);
    let (user, mut fields) = finish(errors, user.zip(fields))?;
    let agent_id = take_str(&mut fields, "agent_id").unwrap_or_default();
    if !app.backend.agent_known(&user, &agent_id).await? {
        return Err(ApiError::agent_not_found(&agent_id));
    }
    let mut new = NewSession::new(user, agent_id);
    // As the reference: an empty workspace id gets a fresh one; an empty name stays empty.
    if let Some(ws) = take_str(&mut fields, "workspace_id").filter(|w| !w.is_empty()) {
        new = new.workspace_id(ws);
    }
    if let Some(name) = take_str(&mut fields, "name") {
        new = new.name(name);
    }
    if let Some(config) = chat_model_config(&mut fields)? {
        new = new.chat_model_config(config);
    }
    let created = app.backend.create(new).await?;
    let body = serde_json::to_vec(&serde_json::json!({ "session_id": created.record.id }))
        .map_err(|_| internal())?;
    Ok(json_response(StatusCode::CREATED, body))
}

/// `PATCH /sessions/{id}?agent_id=`: changes name, chat model and permission mode (absent or
/// `null` keeps them); 200 with the whole record and its `ETag`. With `If-Match`, the change
/// is made only if the session is still at that version, else 412.
pub(super) async fn patch(app: &App, ctx: Ctx) -> Result<Response, ApiError> {
    let body = BodyInput::read(ctx.body, &ctx.parts.headers, app).await?;
    let mut errors = Errors::default();
    let user = user(&ctx.parts, &mut errors)?;
    let agent_id = ctx.query.required("agent_id", &mut errors);
    let fields = body.validate(UPDATE_SESSION, &mut errors);
    let ((user, agent_id), mut fields) = finish(errors, user.zip(agent_id).zip(fields))?;
    let found = find(app, &user, &agent_id, &ctx.id).await?;
    let name = take_str(&mut fields, "name");
    let model = chat_model_config(&mut fields)?;
    let mode = take_str(&mut fields, "permission_mode").map(|m| PermissionMode::from(m.as_str()));
    let mut change = |r: &mut crate::SessionRecord| {
        if let Some(name) = &name {
            r.config.name.clone_from(name);
        }
        if let Some(model) = &model {
            r.config.chat_model_config = Some(Box::new(model.clone()));
        }
        if let Some(mode) = &mode {
            r.state.permission_context.mode = mode.clone();
        }
    };
    let agent = found.record.agent_id.as_str();
    let updated = match if_match(&ctx.parts.headers) {
        IfMatch::Absent | IfMatch::Any => {
            app.backend
                .update(&user, agent, &ctx.id, &mut change)
                .await?
        }
        IfMatch::Tags(tags) if tags.contains(&found.version) => {
            app.backend
                .update_if_version(&user, agent, &ctx.id, found.version, &mut change)
                .await?
        }
        IfMatch::Tags(_) => return Err(ApiError::stale(&ctx.id)),
    };
    record_response(&updated)
}

/// `DELETE /sessions/{id}?agent_id=`: 204, or 404 if the user has no such session.
pub(super) async fn delete(app: &App, ctx: Ctx) -> Result<Response, ApiError> {
    let mut errors = Errors::default();
    let user = user(&ctx.parts, &mut errors)?;
    let agent_id = ctx.query.required("agent_id", &mut errors);
    let (user, agent_id) = finish(errors, user.zip(agent_id))?;
    let found = find(app, &user, &agent_id, &ctx.id).await?;
    app.backend
        .delete(&user, &found.record.agent_id, &ctx.id)
        .await?;
    Ok(no_content())
}

/// `GET /sessions/{id}/messages?agent_id=&offset=&limit=`: the history, oldest first;
/// `limit` 1..=200 (50 by default), `offset` from 0.
pub(super) async fn messages(app: &App, ctx: Ctx) -> Result<Response, ApiError> {
    let mut errors = Errors::default();
    let user = user(&ctx.parts, &mut errors)?;
    let agent_id = ctx.query.required("agent_id", &mut errors);
    let offset = ctx
        .query
        .int("offset", Some(0), None, &mut errors)
        .unwrap_or(0);
    let limit = ctx
        .query
        .int("limit", Some(1), Some(200), &mut errors)
        .unwrap_or(50);
    let (user, agent_id) = finish(errors, user.zip(agent_id))?;
    let found = find(app, &user, &agent_id, &ctx.id).await?;
    let offset = usize::try_from(offset).unwrap_or(usize::MAX);
    let limit = usize::try_from(limit).unwrap_or(50);
    let messages = app
        .backend
        .messages(&user, &found.record.agent_id, &ctx.id, offset, limit)
        .await?;
    let answer = serde_json::json!({ "messages": messages, "is_running": false });
    let body = serde_json::to_vec(&answer).map_err(|_| internal())?;
    Ok(json_response(StatusCode::OK, body))
}

/// The user's session `id`: under `agent_id` first, then under the user's other agents.
async fn find(app: &App, user: &str, agent_id: &str, id: &str) -> Result<Versioned, ApiError> {
    app.backend
        .find_session(user, agent_id, id)
        .await?
        .ok_or_else(|| ApiError::session_not_found(id))
}

/// 200 with a record and its `ETag` (the store version, a strong tag).
fn record_response(v: &Versioned) -> Result<Response, ApiError> {
    let body = serde_json::to_vec(&*v.record).map_err(|_| internal())?;
    let mut response = json_response(StatusCode::OK, body);
    if let Ok(tag) = HeaderValue::from_str(&format!("\"{}\"", v.version)) {
        response.headers_mut().insert(header::ETAG, tag);
    }
    Ok(response)
}

/// What an `If-Match` header asks for.
enum IfMatch {
    Absent,
    Any,
    /// The versions of its strong tags; weak tags never match (RFC 9110 strong comparison).
    Tags(Vec<u64>),
}

fn if_match(headers: &axum::http::HeaderMap) -> IfMatch {
    let Some(raw) = header_text(headers, "if-match") else {
        return IfMatch::Absent;
    };
    if raw.trim() == "*" {
        return IfMatch::Any;
    }
    IfMatch::Tags(
        raw.split(',')
            .filter_map(|t| t.trim().strip_prefix('"')?.strip_suffix('"')?.parse().ok())
            .collect(),
    )
}

/// The validated `chat_model_config`, if the body set one.
pub(super) fn chat_model_config(
    fields: &mut Map<String, Value>,
) -> Result<Option<ChatModelConfig>, ApiError> {
    match fields.remove("chat_model_config") {
        None | Some(Value::Null) => Ok(None),
        Some(v) => serde_json::from_value(v).map(Some).map_err(|_| internal()),
    }
}

pub(super) fn take_str(fields: &mut Map<String, Value>, name: &str) -> Option<String> {
    match fields.remove(name) {
        Some(Value::String(s)) => Some(s),
        _ => None,
    }
}
