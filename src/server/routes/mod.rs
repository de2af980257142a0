//! Routing as the reference's Starlette router does it.
//!
//! Routes are tried in the reference's order on the percent-decoded path. A path that matches
//! with another method answers 405 with the `allow` header of the first such route (each
//! `FastAPI` route has one method, and none answers `HEAD`). A path that matches nothing is
//! tried once more with its trailing slash added or removed; if that matches any route, the
//! answer is a 307 redirect there (query kept), else 404 `{"detail":"Not Found"}`.

mod agents;
mod agents_v2011;
mod meta;
mod sessions;
mod sessions_v2011;
mod shared;
mod workspace;

use std::fmt::Write as _;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, request::Parts, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};

use super::auth::VerifiedUser;
use super::errors::ApiError;
use super::extract::{decode_path, header, Query};
use super::{AgentScope, App, Identity};

/// What the client asked for, once routed.
pub(super) struct Ctx {
    pub parts: Parts,
    pub query: Query,
    /// The `{id}` path parameter, decoded, where the route has one.
    pub id: String,
    pub body: Body,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Endpoint {
    OpenApi,
    ListAgents,
    CreateAgent,
    PatchAgent,
    DeleteAgent,
    ListSessions,
    CreateSession,
    DeleteSession,
    PatchSession,
    ListMessages,
    SessionStatus,
    Healthz,
    Credentials,
    /// A workspace route, by its template.
    Workspace(&'static str),
    Metrics,
}

impl Endpoint {
    /// The route's path template, as the `OpenAPI` document writes it: a label of bounded
    /// cardinality for metrics.
    pub(super) fn template(self) -> &'static str {
        match self {
            Endpoint::OpenApi => "/openapi.json",
            Endpoint::ListAgents | Endpoint::CreateAgent => "/agent/",
            Endpoint::PatchAgent | Endpoint::DeleteAgent => "/agent/{agent_id}",
            Endpoint::ListSessions | Endpoint::CreateSession => "/sessions/",
            Endpoint::DeleteSession | Endpoint::PatchSession => "/sessions/{session_id}",
            Endpoint::ListMessages => "/sessions/{session_id}/messages",
            Endpoint::SessionStatus => "/sessions/{session_id}/status",
            Endpoint::Healthz => "/healthz",
            Endpoint::Credentials => "/credential/",
            Endpoint::Workspace(template) => template,
            Endpoint::Metrics => "/metrics",
        }
    }
}

/// A route's path: a literal, or `{prefix}{id}{suffix}` with an id of one or more characters
/// other than `/`.
#[derive(Clone, Copy)]
enum Pat {
    Lit(&'static str),
    Id(&'static str, &'static str),
}

impl Pat {
    /// The `{id}` of `path` if it matches (empty for a literal).
    fn matches(self, path: &str) -> Option<&str> {
        match self {
            Pat::Lit(lit) => (path == lit).then_some(""),
            Pat::Id(prefix, suffix) => {
                let id = path.strip_prefix(prefix)?.strip_suffix(suffix)?;
                (!id.is_empty() && !id.contains('/')).then_some(id)
            }
        }
    }
}

/// A route: the methods it answers, its path, and what answers it.
struct Route {
    methods: &'static [Method],
    pat: Pat,
    endpoint: Endpoint,
}

const fn r(methods: &'static [Method], pat: Pat, endpoint: Endpoint) -> Route {
    Route {
        methods,
        pat,
        endpoint,
    }
}

const GET: &[Method] = &[Method::GET];
/// Starlette's own route (`/openapi.json`) answers `HEAD` too, and so does ours (`/healthz`).
const GET_HEAD: &[Method] = &[Method::GET, Method::HEAD];

/// The reference's routes that this server has, in the reference's order, then ours.
#[rustfmt::skip]
const ROUTES: &[Route] = &[
    r(GET_HEAD, Pat::Lit("/openapi.json"), Endpoint::OpenApi),
    r(GET, Pat::Lit("/agent/"), Endpoint::ListAgents),
    r(&[Method::POST], Pat::Lit("/agent/"), Endpoint::CreateAgent),
    r(&[Method::PATCH], Pat::Id("/agent/", ""), Endpoint::PatchAgent),
    r(&[Method::DELETE], Pat::Id("/agent/", ""), Endpoint::DeleteAgent),
    r(GET, Pat::Lit("/credential/"), Endpoint::Credentials),
    r(GET, Pat::Lit("/sessions/"), Endpoint::ListSessions),
    r(&[Method::POST], Pat::Lit("/sessions/"), Endpoint::CreateSession),
    r(&[Method::DELETE], Pat::Id("/sessions/", ""), Endpoint::DeleteSession),
    r(&[Method::PATCH], Pat::Id("/sessions/", ""), Endpoint::PatchSession),
    r(GET, Pat::Id("/sessions/", "/messages"), Endpoint::ListMessages),
    r(GET, Pat::Lit("/workspace/mcp"), Endpoint::Workspace("/workspace/mcp")),
    r(&[Method::POST], Pat::Lit("/workspace/mcp"), Endpoint::Workspace("/workspace/mcp")),
    r(&[Method::DELETE], Pat::Id("/workspace/mcp/", ""), Endpoint::Workspace("/workspace/mcp/{mcp_name}")),
    r(GET, Pat::Lit("/workspace/skill"), Endpoint::Workspace("/workspace/skill")),
    r(&[Method::POST], Pat::Lit("/workspace/skill"), Endpoint::Workspace("/workspace/skill")),
    r(&[Method::DELETE], Pat::Id("/workspace/skill/", ""), Endpoint::Workspace("/workspace/skill/{skill_name}")),
    r(GET_HEAD, Pat::Lit("/healthz"), Endpoint::Healthz),
    r(GET_HEAD, Pat::Lit("/metrics"), Endpoint::Metrics),
];

/// The routes AgentScope 2.0.11 adds that this server has, tried after [`ROUTES`] when the
/// server speaks 2.0.11.
const ROUTES_2_0_11: &[Route] = &[r(
    GET,
    Pat::Id("/sessions/", "/status"),
    Endpoint::SessionStatus,
)];

/// The routes of `version`, in the order they are tried.
fn routes(version: AgentScope) -> impl Iterator<Item = &'static Route> {
    let added: &[Route] = match version {
        AgentScope::V2_0_11 => ROUTES_2_0_11,
        _ => &[],
    };
    ROUTES.iter().chain(added)
}

enum Routed<'p> {
    Found(Endpoint, &'p str),
    /// The path has a route, not with this method: these are the first such route's.
    WrongMethod(&'static [Method]),
    Nowhere,
}

fn route<'p>(version: AgentScope, method: &Method, path: &'p str) -> Routed<'p> {
    let mut partial = None;
    for Route {
        methods,
        pat,
        endpoint,
    } in routes(version)
    {
        if let Some(id) = pat.matches(path) {
            if methods.contains(method) {
                return Routed::Found(*endpoint, id);
            }
            partial = partial.or(Some(*methods));
        }
    }
    partial.map_or(Routed::Nowhere, Routed::WrongMethod)
}

/// The `allow` header of a 405: a route's methods, as Starlette writes them.
fn allow(methods: &[Method]) -> String {
    let names: Vec<&str> = methods.iter().map(Method::as_str).collect();
    names.join(", ")
}

/// The template of the route that answered (on its response's extensions), for metrics.
#[derive(Clone, Copy, Debug)]
pub(super) struct RouteTemplate(pub &'static str);

/// The address the server listens on, for redirects of requests without a `Host` header.
#[derive(Clone, Copy, Debug)]
pub(super) struct LocalAddr(pub std::net::SocketAddr);

/// The one handler: routes, runs the endpoint, renders any refusal.
pub(super) async fn dispatch(State(app): State<App>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let path = decode_path(parts.uri.path());
    let (endpoint, id) = match route(app.agentscope, &parts.method, &path) {
        Routed::Found(endpoint, id) => (endpoint, id.to_owned()),
        Routed::WrongMethod(methods) => {
            return ApiError::method_not_allowed(&allow(methods)).into_response()
        }
        Routed::Nowhere => return redirect_or_not_found(app.agentscope, &parts, &path),
    };
    let mut parts = parts;
    if let Identity::Jwt(jwt) = &app.identity {
        let open = matches!(
            endpoint,
            Endpoint::OpenApi | Endpoint::Healthz | Endpoint::Metrics
        ) && jwt.meta_is_open();
        if !open {
            match jwt.user(&parts.headers) {
                Ok(user) => {
                    parts.extensions.insert(VerifiedUser(user));
                }
                Err(refused) => {
                    let mut response = refused.into_response();
                    response
                        .extensions_mut()
                        .insert(RouteTemplate(endpoint.template()));
                    return response;
                }
            }
        }
    }
    let ctx = Ctx {
        query: Query::parse(parts.uri.query()),
        parts,
        id,
        body,
    };
    let result = if app.agentscope == AgentScope::V2_0_11 && sessions_v2011::answers(endpoint) {
        sessions_v2011::dispatch(&app, endpoint, ctx).await
    } else {
        answer(&app, endpoint, ctx).await
    };
    let mut response = result.unwrap_or_else(IntoResponse::into_response);
    response
        .extensions_mut()
        .insert(RouteTemplate(endpoint.template()));
    response
}

/// The 2.0.0 answer of `endpoint`.
async fn answer(app: &App, endpoint: Endpoint, ctx: Ctx) -> Result<Response, ApiError> {
    match endpoint {
        Endpoint::OpenApi => Ok(meta::openapi()),
        Endpoint::Healthz => Ok(meta::healthz(app).await),
        Endpoint::ListAgents => agents::list(app, ctx).await,
        Endpoint::CreateAgent => agents::create(app, ctx).await,
        Endpoint::PatchAgent => agents::patch(app, ctx).await,
        Endpoint::DeleteAgent => agents::delete(app, ctx).await,
        Endpoint::ListSessions => sessions::list(app, ctx).await,
        Endpoint::CreateSession => sessions::create(app, ctx).await,
        Endpoint::DeleteSession => sessions::delete(app, ctx).await,
        Endpoint::PatchSession => sessions::patch(app, ctx).await,
        Endpoint::ListMessages => sessions::messages(app, ctx).await,
        Endpoint::Credentials => workspace::credentials(&ctx),
        Endpoint::Workspace(_) => workspace::workspace(app, ctx).await,
        Endpoint::Metrics => Ok(app.metrics.render()),
        // Routed only in 2.0.11 mode, which answers it above.
        Endpoint::SessionStatus => Err(ApiError::not_found()),
    }
}

/// Starlette's `redirect_slashes`: 307 to the path with its trailing slash toggled when that
/// path has a route (whatever the method), else 404.
fn redirect_or_not_found(version: AgentScope, parts: &Parts, path: &str) -> Response {
    if path == "/" {
        return ApiError::not_found().into_response();
    }
    let other = match path.strip_suffix('/') {
        Some(_) => path.trim_end_matches('/').to_owned(),
        None => format!("{path}/"),
    };
    if matches!(route(version, &parts.method, &other), Routed::Nowhere) {
        return ApiError::not_found().into_response();
    }
    let mut url = match (
        header(&parts.headers, "host"),
        parts.extensions.get::<LocalAddr>(),
    ) {
        (Some(host), _) => format!("http://{host}{other}"),
        (None, Some(LocalAddr(addr))) if addr.port() == 80 => {
            format!("http://{}{other}", addr.ip())
        }
        (None, Some(LocalAddr(addr))) => format!("http://{}:{}{other}", addr.ip(), addr.port()),
        (None, None) => other,
    };
    if let Some(q) = parts.uri.query().filter(|q| !q.is_empty()) {
        url.push('?');
        url.push_str(q);
    }
    let location = quote_url(&url);
    let mut response = StatusCode::TEMPORARY_REDIRECT.into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// `urllib.parse.quote(url, safe=":/%#?=@[]!$&'()*+,;")`, as Starlette's `RedirectResponse`.
fn quote_url(url: &str) -> String {
    const SAFE: &[u8] = b":/%#?=@[]!$&'()*+,;_.-~";
    let mut out = String::with_capacity(url.len());
    for &b in url.as_bytes() {
        if b.is_ascii_alphanumeric() || SAFE.contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `allow` header a 405 answers for `method` on `path`.
    fn allowed(method: &Method, path: &str) -> Option<String> {
        match route(AgentScope::V2_0_0, method, path) {
            Routed::WrongMethod(methods) => Some(allow(methods)),
            _ => None,
        }
    }

    #[test]
    fn routes_as_starlette() {
        assert!(matches!(
            route(AgentScope::V2_0_0, &Method::GET, "/sessions/"),
            Routed::Found(Endpoint::ListSessions, "")
        ));
        assert!(matches!(
            route(AgentScope::V2_0_0, &Method::PATCH, "/sessions/x"),
            Routed::Found(Endpoint::PatchSession, "x")
        ));
        assert_eq!(
            allowed(&Method::GET, "/sessions/x").as_deref(),
            Some("DELETE")
        );
        assert_eq!(allowed(&Method::GET, "/agent/x").as_deref(), Some("PATCH"));
        assert_eq!(allowed(&Method::HEAD, "/sessions/").as_deref(), Some("GET"));
        assert!(matches!(
            route(AgentScope::V2_0_0, &Method::GET, "/sessions/x/messages"),
            Routed::Found(Endpoint::ListMessages, "x")
        ));
        assert_eq!(
            allowed(&Method::POST, "/healthz").as_deref(),
            Some("GET, HEAD")
        );
        assert!(matches!(
            route(AgentScope::V2_0_0, &Method::GET, "/sessions"),
            Routed::Nowhere
        ));
        assert!(matches!(
            route(AgentScope::V2_0_0, &Method::GET, "/sessions//messages"),
            Routed::Nowhere
        ));
    }

    #[test]
    fn quoting_as_python() {
        assert_eq!(
            quote_url("http://h/sessions/a b?x=é"),
            "http://h/sessions/a%20b?x=%C3%A9"
        );
        assert_eq!(
            quote_url("/sessions/?agent_id=a%20b&c"),
            "/sessions/?agent_id=a%20b&c"
        );
    }
}
