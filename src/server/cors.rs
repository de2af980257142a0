//! CORS (off by default, as in the reference): with origins in
//! [`Options::cors_origins`](super::Options::cors_origins), tower-http's `CorsLayer` answers
//! preflights (`OPTIONS` with `Access-Control-Request-Method`) and adds
//! `Access-Control-Allow-Origin` to the answers for those origins, so a web UI served from
//! another origin (AgentScope's, say) can call the API. Without origins nothing changes: a
//! preflight answers 405 as the reference does. An `OPTIONS` request that is no preflight
//! (no `Origin` or no `Access-Control-Request-Method`) is routed as without CORS (405), as
//! Starlette's CORS middleware does; tower-http's layer alone would answer it as a preflight.

use std::time::Duration;

use axum::extract::Request;
use axum::http::{header, HeaderName, HeaderValue, Method};
use axum::Router;
use tower::ServiceExt as _;
use tower_http::cors::{AllowOrigin, CorsLayer};

/// What a browser may send: the reference's user header, JSON bodies, this server's JWTs
/// and `If-Match`.
const ALLOWED_HEADERS: [HeaderName; 4] = [
    header::CONTENT_TYPE,
    HeaderName::from_static("x-user-id"),
    header::AUTHORIZATION,
    header::IF_MATCH,
];

/// How long a browser may cache a preflight's answer.
const MAX_AGE: Duration = Duration::from_secs(600);

/// Checks an origin for [`Options::cors_origins`](super::Options::cors_origins): `*`, or
/// `scheme://host[:port]` as a browser sends it in `Origin` (no path, no trailing slash).
pub(crate) fn check_origin(origin: &str) -> Result<(), String> {
    if origin == "*" {
        return Ok(());
    }
    let why = || {
        format!(
            "invalid CORS origin {origin:?}: expected `*` or scheme://host[:port], as a \
             browser sends it (no path, no trailing slash)"
        )
    };
    let uri: axum::http::Uri = origin.parse().map_err(|_| why())?;
    let bare = uri.scheme().is_some()
        && uri.authority().is_some()
        && uri.path_and_query().is_none_or(|p| p.as_str() == "/")
        && !origin.ends_with('/');
    if bare && HeaderValue::from_str(origin).is_ok() {
        Ok(())
    } else {
        Err(why())
    }
}

/// `router` with CORS for `origins`, or `router` as it is when there are none. Origins that
/// do not pass [`check_origin`] are left out, with a warning.
pub(crate) fn apply(router: Router, origins: &[String]) -> Router {
    if origins.is_empty() {
        return router;
    }
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        let values: Vec<HeaderValue> = origins
            .iter()
            .filter(|o| match check_origin(o) {
                Ok(()) => true,
                Err(why) => {
                    tracing::warn!("{why}: ignored");
                    false
                }
            })
            .filter_map(|o| HeaderValue::from_str(o).ok())
            .collect();
        AllowOrigin::list(values)
    };
    let layer = CorsLayer::new()
        .allow_origin(allow)
        .allow_methods([
            Method::GET,
            Method::HEAD,
            Method::POST,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers(ALLOWED_HEADERS)
        .expose_headers([header::ETAG, header::LOCATION])
        .max_age(MAX_AGE);
    let with_cors = router.clone().layer(layer);
    Router::new().fallback_service(tower::service_fn(move |request: Request| {
        let to = if request.method() != Method::OPTIONS || is_preflight(&request) {
            with_cors.clone()
        } else {
            router.clone()
        };
        to.oneshot(request)
    }))
}

/// A CORS preflight: `OPTIONS` with `Origin` and `Access-Control-Request-Method`.
fn is_preflight(request: &Request) -> bool {
    let headers = request.headers();
    request.method() == Method::OPTIONS
        && headers.contains_key(header::ORIGIN)
        && headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
}

#[cfg(test)]
mod tests {
    use super::check_origin;

    #[test]
    fn origins_as_browsers_send_them() {
        for ok in [
            "*",
            "http://localhost:5173",
            "https://ui.example.com",
            "http://127.0.0.1",
        ] {
            assert_eq!(check_origin(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "localhost:5173",
            "http://localhost:5173/",
            "http://h/ui",
            "http://h?x=1",
            "**",
        ] {
            assert!(check_origin(bad).is_err(), "{bad}");
        }
    }
}
