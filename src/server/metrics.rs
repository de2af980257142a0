//! `GET /metrics`: the server's metrics in the `OpenMetrics` text format (which Prometheus
//! scrapes), made with `prometheus-client`, the Prometheus project's own Rust client: its
//! registry is a value, not a global, so each router counts for itself (and tests running
//! several routers in one process see their own counts), and label sets are typed.
//!
//! | metric | labels | what |
//! |---|---|---|
//! | `agent_sessions_http_requests_total` | `method`, `route`, `status` | requests answered |
//! | `agent_sessions_http_request_duration_seconds` | `method`, `route` | time to the answer's head |
//! | `agent_sessions_http_rejected_total` | `reason` | answers of status 400 and above, by why |
//! | `agent_sessions_store_write_duration_seconds` | `op` | each backend write, as the server awaited it |
//! | `agent_sessions_store_conflicts_total` | `error` | `version` (`VersionConflict`), `duplicate`, `identity` |
//! | `agent_sessions_sessions` | | sessions held, where the backend can tell cheaply (the in-memory and durable store; not Redis) |
//! | `agent_sessions_journal_fsync_duration_seconds` | | each fsync of a durable store's journal |
//! | `agent_sessions_journal_group_commit_lines` | | journal lines each fsync made durable |
//!
//! `route` is the route's template (`/sessions/{session_id}`), never the raw path, so label
//! values are bounded: requests that no route answered (unknown paths, 405s, redirects, CORS
//! preflights) count under `route="unrouted"`, methods outside the standard ones under
//! `method="other"`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use super::routes::RouteTemplate;
use crate::{HistogramSnapshot, SessionBackend, StoreError};

/// The content type of the answer: `OpenMetrics` text.
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Bounds of request and store-write durations, in seconds: 100 µs to 10 s.
const SECONDS: [f64; 15] = [
    0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    10.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    route: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: &'static str,
    route: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OpLabels {
    op: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ConflictLabels {
    error: &'static str,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

fn seconds_histogram() -> Histogram {
    Histogram::new(SECONDS)
}

/// The server's metrics: what the middleware and the metered backend count, and the registry
/// that renders them with what the backend reports at scrape time.
#[derive(Debug)]
pub(crate) struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    durations: Histograms<RouteLabels>,
    rejected: Family<ReasonLabels, Counter>,
    writes: Histograms<OpLabels>,
    conflicts: Family<ConflictLabels, Counter>,
}

impl Metrics {
    /// Metrics for a server over `backend` (read at each scrape for what it reports itself).
    pub(crate) fn new(backend: Arc<dyn SessionBackend>) -> Self {
        let requests = Family::<RequestLabels, Counter>::default();
        let durations: Histograms<RouteLabels> = Family::new_with_constructor(seconds_histogram);
        let rejected = Family::<ReasonLabels, Counter>::default();
        let writes: Histograms<OpLabels> = Family::new_with_constructor(seconds_histogram);
        let conflicts = Family::<ConflictLabels, Counter>::default();
        let mut registry = Registry::default();
        registry.register(
            "agent_sessions_http_requests",
            "HTTP requests answered, by method, route template and status",
            requests.clone(),
        );
        registry.register(
            "agent_sessions_http_request_duration_seconds",
            "Time from a request to its answer's head, by method and route template",
            durations.clone(),
        );
        registry.register(
            "agent_sessions_http_rejected",
            "Requests answered with a status of 400 or above, by reason",
            rejected.clone(),
        );
        registry.register(
            "agent_sessions_store_write_duration_seconds",
            "Duration of each backend write the server awaited, by operation",
            writes.clone(),
        );
        registry.register(
            "agent_sessions_store_conflicts",
            "Writes the backend refused as conflicting: version (a stale If-Match), duplicate \
             (an id taken), identity (a change of a session's identity)",
            conflicts.clone(),
        );
        registry.register_collector(Box::new(BackendCollector { backend }));
        Self {
            registry,
            requests,
            durations,
            rejected,
            writes,
            conflicts,
        }
    }

    /// Counts one answered request.
    fn observe(&self, method: &'static str, route: &'static str, status: StatusCode, took: f64) {
        self.requests
            .get_or_create(&RequestLabels {
                method,
                route,
                status: status.as_u16(),
            })
            .inc();
        self.durations
            .get_or_create(&RouteLabels { method, route })
            .observe(took);
        if let Some(reason) = rejection(status) {
            self.rejected.get_or_create(&ReasonLabels { reason }).inc();
        }
    }

    /// Counts one backend write and how it ended.
    pub(crate) fn write_done<T>(
        &self,
        op: &'static str,
        took: Duration,
        result: &Result<T, StoreError>,
    ) {
        self.writes
            .get_or_create(&OpLabels { op })
            .observe(took.as_secs_f64());
        let error = match result {
            Err(StoreError::VersionConflict { .. }) => "version",
            Err(StoreError::DuplicateId { .. } | StoreError::DuplicateAgent { .. }) => "duplicate",
            Err(StoreError::IdentityChanged { .. }) => "identity",
            _ => return,
        };
        self.conflicts
            .get_or_create(&ConflictLabels { error })
            .inc();
    }

    /// The `GET /metrics` answer.
    pub(crate) fn render(&self) -> Response {
        let mut text = String::new();
        if prometheus_client::encoding::text::encode(&mut text, &self.registry).is_err() {
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
        let mut response = text.into_response();
        response.headers_mut().insert(
            axum::http::header::CONTENT_TYPE,
            HeaderValue::from_static(CONTENT_TYPE),
        );
        response
    }
}

/// The reason label of a refused request, by status.
fn rejection(status: StatusCode) -> Option<&'static str> {
    if status.as_u16() < 400 {
        return None;
    }
    Some(match status.as_u16() {
        400 => "bad_request",
        401 => "unauthenticated",
        403 => "forbidden",
        404 => "not_found",
        405 => "method_not_allowed",
        409 => "conflict",
        412 => "version_conflict",
        413 => "too_large",
        422 => "invalid",
        500 => "internal",
        503 => "unavailable",
        code if code < 500 => "other_client_error",
        _ => "other_server_error",
    })
}

/// A method as a label of bounded cardinality.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// The middleware that counts every request (the outermost layer, so CORS preflights and
/// refusals count too).
pub(crate) async fn track(
    State(metrics): State<Arc<Metrics>>,
    request: Request,
    next: Next,
) -> Response {
    let method = method_label(request.method());
    let started = Instant::now();
    let response = next.run(request).await;
    let route = response
        .extensions()
        .get::<RouteTemplate>()
        .map_or("unrouted", |t| t.0);
    metrics.observe(
        method,
        route,
        response.status(),
        started.elapsed().as_secs_f64(),
    );
    response
}

/// What the backend reports itself, read at each scrape.
#[derive(Debug)]
struct BackendCollector {
    backend: Arc<dyn SessionBackend>,
}

impl Collector for BackendCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        if let Some(n) = self.backend.session_count() {
            let gauge = ConstGauge::new(i64::try_from(n).unwrap_or(i64::MAX));
            let metric = encoder.encode_descriptor(
                "agent_sessions_sessions",
                "Sessions the store holds",
                None,
                gauge.metric_type(),
            )?;
            gauge.encode(metric)?;
        }
        if let Some(stats) = self.backend.journal_stats() {
            encode_histogram(
                &mut encoder,
                "agent_sessions_journal_fsync_duration_seconds",
                "Duration of each fsync of the durable store's journal",
                &stats.fsync_seconds,
            )?;
            encode_histogram(
                &mut encoder,
                "agent_sessions_journal_group_commit_lines",
                "Journal lines each fsync made durable (the size of a group commit)",
                &stats.group_commit_lines,
            )?;
        }
        Ok(())
    }
}

fn encode_histogram(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    h: &HistogramSnapshot,
) -> Result<(), std::fmt::Error> {
    // prometheus-client writes `+Inf` for the bound `f64::MAX`.
    let buckets: Vec<(f64, u64)> = h
        .buckets
        .iter()
        .map(|&(bound, n)| (if bound.is_finite() { bound } else { f64::MAX }, n))
        .collect();
    let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Histogram)?;
    metric.encode_histogram::<NoLabelSet>(h.sum, h.count, &buckets, None)
}
