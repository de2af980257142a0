//! `/agent/`: the minimal agent registry (list, create, update, delete).
//!
//! An agent's `data` is what the reference writes: `{id, name, system_prompt,
//! context_config, react_config}`, with the reference's defaults for what the request leaves
//! out and its validation of what it sets.

use std::sync::LazyLock;

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value};

use super::shared::{finish, internal, no_content};
use super::Ctx;
use crate::model::{new_id, AgentRecord};
use crate::server::errors::{json_response, ApiError};
use crate::server::extract::{user, BodyInput};
use crate::server::validate::{Errors, Field, IfAbsent, Ty};
use crate::server::App;
use crate::StoreError;

/// The `data` of an agent made with only a name, captured from the reference.
static DEFAULT_DATA: LazyLock<Value> = LazyLock::new(|| {
    serde_json::from_str(include_str!("../default_agent_data.json")).unwrap_or(Value::Null)
});

/// The reference's default for `data.<path>`.
fn default_at(path: &[&str]) -> Value {
    path.iter()
        .try_fold(&*DEFAULT_DATA, |v, key| v.get(key))
        .cloned()
        .unwrap_or(Value::Null)
}

/// `ContextConfig`.
const CONTEXT_CONFIG: &[Field] = &[
    Field {
        name: "trigger_ratio",
        ty: Ty::Float {
            gt: Some(0.0),
            lt: Some(0.9),
        },
        default: IfAbsent::Value(|| default_at(&["context_config", "trigger_ratio"])),
    },
    Field {
        name: "reserve_ratio",
        ty: Ty::Float {
            gt: Some(0.0),
            lt: Some(0.9),
        },
        default: IfAbsent::Value(|| default_at(&["context_config", "reserve_ratio"])),
    },
    Field {
        name: "compression_prompt",
        ty: Ty::Str,
        default: IfAbsent::Value(|| default_at(&["context_config", "compression_prompt"])),
    },
    Field {
        name: "summary_template",
        ty: Ty::Str,
        default: IfAbsent::Value(|| default_at(&["context_config", "summary_template"])),
    },
    Field {
        name: "summary_schema",
        ty: Ty::Dict,
        default: IfAbsent::Value(|| default_at(&["context_config", "summary_schema"])),
    },
    Field {
        name: "tool_result_limit",
        ty: Ty::Int { ge: None, le: None },
        default: IfAbsent::Value(|| default_at(&["context_config", "tool_result_limit"])),
    },
];

/// `ReActConfig`.
const REACT_CONFIG: &[Field] = &[
    Field {
        name: "max_iters",
        ty: Ty::Int { ge: None, le: None },
        default: IfAbsent::Value(|| default_at(&["react_config", "max_iters"])),
    },
    Field {
        name: "stop_on_reject",
        ty: Ty::Bool,
        default: IfAbsent::Value(|| default_at(&["react_config", "stop_on_reject"])),
    },
];

/// `CreateAgentRequest`.
const CREATE_AGENT: &[Field] = &[
    Field {
        name: "name",
        ty: Ty::Str,
        default: IfAbsent::Required,
    },
    Field {
        name: "system_prompt",
        ty: Ty::Str,
        default: IfAbsent::Value(|| default_at(&["system_prompt"])),
    },
    Field {
        name: "context_config",
        ty: Ty::Model(CONTEXT_CONFIG),
        default: IfAbsent::Value(|| default_at(&["context_config"])),
    },
    Field {
        name: "react_config",
        ty: Ty::Model(REACT_CONFIG),
        default: IfAbsent::Value(|| default_at(&["react_config"])),
    },
];

/// `UpdateAgentRequest`: `null` or absent keeps the current value.
const UPDATE_AGENT: &[Field] = &[
    Field {
        name: "name",
        ty: Ty::Optional(&Ty::Str),
        default: IfAbsent::Null,
    },
    Field {
        name: "system_prompt",
        ty: Ty::Optional(&Ty::Str),
        default: IfAbsent::Null,
    },
    Field {
        name: "context_config",
        ty: Ty::Optional(&Ty::Model(CONTEXT_CONFIG)),
        default: IfAbsent::Null,
    },
    Field {
        name: "react_config",
        ty: Ty::Optional(&Ty::Model(REACT_CONFIG)),
        default: IfAbsent::Null,
    },
];

/// `GET /agent/`: the user's registered agents, `{"agents": [...], "total": n}`.
pub(super) async fn list(app: &App, ctx: Ctx) -> Result<Response, ApiError> {
    let mut errors = Errors::default();
    let user = user(&ctx.parts, &mut errors)?;
    let user = finish(errors, user)?;
    let agents = app.backend.agents(&user).await?;
    let answer = serde_json::json!({ "agents": agents, "total": agents.len() });
    let body = serde_json::to_vec(&answer).map_err(|_| internal())?;
    Ok(json_response(StatusCode::OK, body))
}

/// `POST /agent/`: registers an agent; 201 `{"agent_id"}`.
pub(super) async fn create(app: &App, ctx: Ctx) -> Result<Response, ApiError> {
    let body = BodyInput::read(ctx.body, &ctx.parts.headers, app).await?;
    let mut errors = Errors::default();
    let user = user(&ctx.parts, &mut errors)?;
    let fields = body.validate(CREATE_AGENT, &mut errors);
    let (user, fields) = finish(errors, user.zip(fields))?;
    let mut data = Map::new();
    data.insert("id".into(), Value::String(new_id()));
    data.extend(fields);
    let agent = app
        .backend
        .register_agent(AgentRecord::new(user, data))
        .await?;
    let body =
        serde_json::to_vec(&serde_json::json!({ "agent_id": agent.id })).map_err(|_| internal())?;
    Ok(json_response(StatusCode::CREATED, body))
}

/// `PATCH /agent/{id}`: changes what the body sets; 200 with the whole record.
pub(super) async fn patch(app: &App, ctx: Ctx) -> Result<Response, ApiError> {
    let body = BodyInput::read(ctx.body, &ctx.parts.headers, app).await?;
    let mut errors = Errors::default();
    let user = user(&ctx.parts, &mut errors)?;
    let fields = body.validate(UPDATE_AGENT, &mut errors);
    let (user, fields) = finish(errors, user.zip(fields))?;
    let changes: Vec<(String, Value)> = fields.into_iter().filter(|(_, v)| !v.is_null()).collect();
    let mut change = |data: &mut crate::model::Object| {
        for (k, v) in &changes {
            data.insert(k.clone(), v.clone());
        }
    };
    let agent = app
        .backend
        .update_agent(&user, &ctx.id, &mut change)
        .await?;
    let body = serde_json::to_vec(&*agent).map_err(|_| internal())?;
    Ok(json_response(StatusCode::OK, body))
}

/// `DELETE /agent/{id}`: unregisters the agent and deletes its sessions; 204. An agent known
/// only by its sessions (seeded) is deleted the same way.
pub(super) async fn delete(app: &App, ctx: Ctx) -> Result<Response, ApiError> {
    let mut errors = Errors::default();
    let user = user(&ctx.parts, &mut errors)?;
    let user = finish(errors, user)?;
    match app.backend.unregister_agent(&user, &ctx.id).await {
        Ok(_) => Ok(no_content()),
        Err(StoreError::AgentNotFound { .. }) if app.backend.count(&user, &ctx.id).await? > 0 => {
            app.backend.delete_agent(&user, &ctx.id).await?;
            Ok(no_content())
        }
        Err(e) => Err(e.into()),
    }
}
