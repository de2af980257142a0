//! `GET /openapi.json`: the reference's own `OpenAPI` document for the routes this server has,
//! with this server's extensions added.
//!
//! `openapi_reference.json` holds the paths `/sessions/...` and `/agent/...` of the document
//! AgentScope 2.0.0 serves, those of `GET /credential/` and the workspace routes, and the
//! schemas they use, as captured. The extensions (list paging and views, `ETag` / `If-Match`,
//! 412 and 413, the workspace routes' 503, `/healthz`, `/metrics`) are added here, so the
//! captured part stays as the reference wrote it.

use std::sync::LazyLock;

use serde_json::{json, Value};

/// The document's bytes, built once.
pub(crate) static DOCUMENT: LazyLock<Vec<u8>> =
    LazyLock::new(|| serde_json::to_vec(&document()).unwrap_or_default());

/// The document: the reference's, plus this server's extensions.
pub(crate) fn document() -> Value {
    let mut doc: Value = serde_json::from_str(include_str!("openapi_reference.json"))
        .unwrap_or_else(|_| json!({"openapi": "3.1.0", "paths": {}}));
    doc["info"] = json!({
        "title": "agent-sessions",
        "version": env!("CARGO_PKG_VERSION"),
        "description": "An in-memory AgentScope 2.0.0 session service. Answers as AgentScope \
            2.0.0 does on these routes; the parameters and headers marked as extensions are \
            this server's own and change nothing unless used.",
    });
    let list = &mut doc["paths"]["/sessions/"]["get"];
    if let Some(params) = list["parameters"].as_array_mut() {
        let at = params.len().saturating_sub(1); // before the x-user-id header
        let ext = [
            query_int(
                "limit",
                1,
                "Extension: at most this many sessions (default: all).",
            ),
            query_int(
                "offset",
                0,
                "Extension: skip this many sessions first (default 0).",
            ),
            json!({
                "name": "cursor", "in": "query", "required": false,
                "schema": {"type": "string", "title": "Cursor"},
                "description": "Extension: continue after this position (a `next_cursor` of an \
                    earlier page; empty for the first page). With it, the answer has \
                    `next_cursor`: the cursor of the next page, or null after the last."
            }),
            json!({
                "name": "order", "in": "query", "required": false,
                "schema": {"type": "string", "title": "Order", "default": "created_desc",
                    "enum": ["created_desc", "created_asc", "updated_desc", "updated_asc"]},
                "description": "Extension: the order (ties by id)."
            }),
            json!({
                "name": "view", "in": "query", "required": false,
                "schema": {"type": "string", "title": "View", "default": "full",
                    "enum": ["full", "summary"]},
                "description": "Extension: `summary` leaves out state.context, state.summary \
                    and state.tool_context."
            }),
        ];
        for (i, p) in ext.into_iter().enumerate() {
            params.insert(at + i, p);
        }
    }
    let patch = &mut doc["paths"]["/sessions/{session_id}"]["patch"];
    if let Some(params) = patch["parameters"].as_array_mut() {
        params.push(json!({
            "name": "if-match", "in": "header", "required": false,
            "schema": {"type": "string", "title": "If-Match"},
            "description": "Extension: change the session only if it is still at this ETag."
        }));
    }
    patch["responses"]["200"]["headers"] = json!({
        "ETag": {"description": "Extension: the session's version.", "schema": {"type": "string"}}
    });
    patch["responses"]["412"] =
        json!({"description": "Extension: If-Match names an older version"});
    for (path, method) in [
        ("/sessions/", "post"),
        ("/sessions/{session_id}", "patch"),
        ("/agent/", "post"),
        ("/agent/{agent_id}", "patch"),
    ] {
        doc["paths"][path][method]["responses"]["413"] =
            json!({"description": "Extension: the body is over the server's size limit"});
    }
    for (path, method) in [
        ("/workspace/mcp", "get"),
        ("/workspace/mcp", "post"),
        ("/workspace/mcp/{mcp_name}", "delete"),
        ("/workspace/skill", "get"),
        ("/workspace/skill/{skill_name}", "delete"),
        ("/workspace/skill", "post"),
    ] {
        doc["paths"][path][method]["responses"]["503"] = json!({"description":
            "Always on this server, as AgentScope 2.0.0 without a workspace manager: \
             {\"detail\": \"Workspace manager is not configured.\"}"});
    }
    doc["paths"]["/metrics"] = json!({"get": {
        "tags": ["meta"],
        "summary": "Metrics",
        "operationId": "metrics",
        "responses": {"200": {"description": "The server's metrics, in the OpenMetrics text \
            format", "content": {"application/openmetrics-text": {"schema": {"type": "string"}}}}}
    }});
    doc["paths"]["/healthz"] = json!({"get": {
        "tags": ["meta"],
        "summary": "Liveness",
        "operationId": "healthz",
        "responses": {"200": {"description": "The server is up: {\"status\": \"ok\"}",
            "content": {"application/json": {"schema": {"type": "object"}}}}}
    }});
    doc
}

fn query_int(name: &str, minimum: i64, description: &str) -> Value {
    let title: String = name[..1].to_uppercase() + &name[1..];
    json!({
        "name": name, "in": "query", "required": false,
        "schema": {"type": "integer", "minimum": minimum, "title": title},
        "description": description
    })
}
