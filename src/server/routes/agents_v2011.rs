//! `/agent/` list and create as AgentScope 2.0.11 answers them (the server's 2.0.11 mode);
//! update and delete answer as in 2.0.0 (`agents.rs`).
//!
//! A 2.0.11 agent's `data` is `{id, name, system_prompt, chat_config}`, `chat_config` holding
//! `context_config`, `react_config` and `invite_config`, with 2.0.11's defaults (captured
//! from that server) for what the request leaves out: each sub-config sent is laid over its
//! defaults, and the deprecated top-level `context_config`, `react_config` and
//! `invite_config` over `chat_config`'s. A list item is an `AgentView`: the record with
//! `source` (`user`) after `user_id`, and `editable` (`true`: every agent listed is the
//! user's own). As on the session routes, a request without `x-user-id` is a 401.

use std::sync::LazyLock;

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Map, Value};

use super::sessions_v2011::user;
use super::shared::{finish, internal};
use super::Ctx;
use crate::model::{new_id, AgentRecord};
use crate::server::errors::{json_response, ApiError};
use crate::server::extract::BodyInput;
use crate::server::validate::{Errors, Field, IfAbsent, Ty};
use crate::server::App;

/// `system_prompt` and `chat_config` of an agent made with only a name, captured from 2.0.11.
static DEFAULT_DATA: LazyLock<Value> = LazyLock::new(|| {
    serde_json::from_str(include_str!("../default_agent_data_2_0_11.json")).unwrap_or(Value::Null)
});

/// The sub-configs of `chat_config`.
const SUB_CONFIGS: [&str; 3] = ["context_config", "react_config", "invite_config"];

const fn optional(name: &'static str, ty: &'static Ty) -> Field {
    Field {
        name,
        ty: Ty::Optional(ty),
        default: IfAbsent::Null,
    }
}

/// 2.0.11's `CreateAgentRequest` (its configs checked as objects, their fields kept).
const CREATE_AGENT: &[Field] = &[
    Field {
        name: "name",
        ty: Ty::Str,
        default: IfAbsent::Required,
    },
    optional("system_prompt", &Ty::Str),
    optional("chat_config", &Ty::Dict),
    optional("context_config", &Ty::Dict),
    optional("react_config", &Ty::Dict),
    optional("invite_config", &Ty::Dict),
];

/// `over` laid over `base`: `base`'s keys in order with `over`'s values, then `over`'s others.
fn laid_over(base: &Value, over: &Value) -> Value {
    let mut out = base.as_object().cloned().unwrap_or_default();
    if let Some(over) = over.as_object() {
        for (k, v) in over {
            out.insert(k.clone(), v.clone());
        }
    }
    Value::Object(out)
}

/// `POST /agent/`: registers an agent with 2.0.11's data; 201 `{"agent_id"}`.
pub(super) async fn create(app: &App, ctx: Ctx) -> Result<Response, ApiError> {
    let body = BodyInput::read(ctx.body, &ctx.parts.headers, app).await?;
    let mut errors = Errors::default();
    let user = user(&ctx.parts, &mut errors)?;
    let fields = body.validate(CREATE_AGENT, &mut errors);
    let (user, fields) = finish(errors, user.zip(fields))?;
    let given = |key: &str| fields.get(key).filter(|v| !v.is_null());
    let mut chat = Map::new();
    for key in SUB_CONFIGS {
        let default = &DEFAULT_DATA["chat_config"][key];
        let mut sub = given("chat_config")
            .and_then(|c| c.get(key))
            .map_or_else(|| default.clone(), |c| laid_over(default, c));
        if let Some(deprecated) = given(key) {
            sub = laid_over(&sub, deprecated);
        }
        chat.insert(key.to_owned(), sub);
    }
    let mut data = Map::new();
    data.insert("id".into(), Value::String(new_id()));
    data.insert(
        "name".into(),
        fields.get("name").cloned().unwrap_or_default(),
    );
    let prompt = given("system_prompt").unwrap_or(&DEFAULT_DATA["system_prompt"]);
    data.insert("system_prompt".into(), prompt.clone());
    data.insert("chat_config".into(), Value::Object(chat));
    let agent = app
        .backend
        .register_agent(AgentRecord::new(user, data))
        .await?;
    let body = serde_json::to_vec(&json!({ "agent_id": agent.id })).map_err(|_| internal())?;
    Ok(json_response(StatusCode::CREATED, body))
}

/// `GET /agent/`: the user's agents as `AgentView`s, `{"agents": [...], "total": n}`.
pub(super) async fn list(app: &App, ctx: Ctx) -> Result<Response, ApiError> {
    let mut errors = Errors::default();
    let user = user(&ctx.parts, &mut errors)?;
    let user = finish(errors, user)?;
    let agents = app.backend.agents(&user).await?;
    let mut views = Vec::with_capacity(agents.len());
    for agent in &agents {
        let mut view = Map::new();
        view.insert("id".into(), Value::from(agent.id.as_str()));
        for (key, t) in [
            ("updated_at", &agent.updated_at),
            ("created_at", &agent.created_at),
        ] {
            view.insert(key.into(), Value::from(app.timestamps.format(t)));
        }
        view.insert("user_id".into(), Value::from(agent.user_id.as_str()));
        let source = agent.extra.get("source").cloned();
        view.insert("source".into(), source.unwrap_or_else(|| json!("user")));
        view.insert("data".into(), Value::Object(agent.data.clone()));
        for (k, v) in &agent.extra {
            view.entry(k.clone()).or_insert_with(|| v.clone());
        }
        view.insert("editable".into(), Value::Bool(true));
        views.push(Value::Object(view));
    }
    let body = serde_json::to_vec(&json!({ "agents": views, "total": agents.len() }))
        .map_err(|_| internal())?;
    Ok(json_response(StatusCode::OK, body))
}
