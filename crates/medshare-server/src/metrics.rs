//! Prometheus metrics (`prometheus-client`, OpenMetrics text at `/metrics`): request counts and
//! latency per route *template* (`/v1/documents/{id}`, never the path a client sent), requests
//! in flight, audit append latency, queue depths (staged uploads, patient notices and channel
//! notifications waiting), notification deliveries by channel kind and result, consult
//! escalations and retention. Labels are methods, templates, status codes and fixed
//! kinds: never an identifier, a handle, a token or anything from a record.
//!
//! One registry per process, as Prometheus scrapes a process. `/metrics` answers only with
//! the bearer token `metrics.token` names (404 while it is unset), since request volumes say
//! something about the hospitals using the hub.

use crate::state::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::LazyLock;
use std::time::Instant;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    /// The route template, or `unmatched`.
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeliveryLabels {
    /// The channel kind (`webhook`, `web-push`, ...).
    kind: &'static str,
    /// `delivered`, `retry`, `failed`, `gone` or `postponed`.
    result: &'static str,
}

struct Metrics {
    registry: Registry,
    requests: Family<StatusLabels, Counter>,
    latency: Family<RouteLabels, Histogram>,
    in_flight: Gauge,
    audit_append: Histogram,
    audit_batch: Histogram,
    queue: Family<KindLabels, Gauge>,
    purged: Family<KindLabels, Counter>,
    deliveries: Family<DeliveryLabels, Counter>,
    escalations: Family<KindLabels, Counter>,
}

static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let mut registry = Registry::with_prefix("medshare");
    let requests = Family::<StatusLabels, Counter>::default();
    registry.register(
        "http_requests",
        "HTTP requests answered, by method, route template and status",
        requests.clone(),
    );
    let latency = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
        Histogram::new(exponential_buckets(0.001, 2.0, 16))
    });
    registry.register(
        "http_request_duration_seconds",
        "Time to the response head, by method and route template",
        latency.clone(),
    );
    let in_flight = Gauge::default();
    registry.register(
        "http_requests_in_flight",
        "Requests being handled",
        in_flight.clone(),
    );
    let audit_append = Histogram::new(exponential_buckets(0.0005, 2.0, 14));
    registry.register(
        "audit_append_seconds",
        "Time to write one batch of audit entries durably",
        audit_append.clone(),
    );
    let audit_batch = Histogram::new(exponential_buckets(1.0, 2.0, 11));
    registry.register(
        "audit_batch_entries",
        "Entries per audit batch",
        audit_batch.clone(),
    );
    let queue = Family::<KindLabels, Gauge>::default();
    registry.register(
        "queue_depth",
        "Work waiting: staged uploads not yet committed, patient notices and channel notifications not yet delivered",
        queue.clone(),
    );
    let purged = Family::<KindLabels, Counter>::default();
    registry.register(
        "retention_purged",
        "Rows deleted by the retention job, by kind",
        purged.clone(),
    );
    let deliveries = Family::<DeliveryLabels, Counter>::default();
    registry.register(
        "notify_deliveries",
        "Notification delivery attempts, by channel kind and result",
        deliveries.clone(),
    );
    let escalations = Family::<KindLabels, Counter>::default();
    registry.register(
        "consult_escalations",
        "Consult windows that passed: escalated to the next person, or unanswered at the end",
        escalations.clone(),
    );
    Metrics {
        registry,
        deliveries,
        escalations,
        requests,
        latency,
        in_flight,
        audit_append,
        audit_batch,
        queue,
        purged,
    }
});

/// Middleware: counts and times every request by its route template.
pub async fn track(req: Request, next: Next) -> Response {
    let m = &*METRICS;
    let method = req.method().as_str().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_string();
    m.in_flight.inc();
    let started = Instant::now();
    let res = next.run(req).await;
    m.in_flight.dec();
    m.latency
        .get_or_create(&RouteLabels {
            method: method.clone(),
            route: route.clone(),
        })
        .observe(started.elapsed().as_secs_f64());
    m.requests
        .get_or_create(&StatusLabels {
            method,
            route,
            status: res.status().as_u16(),
        })
        .inc();
    res
}

/// One audit batch written (entries, seconds).
pub fn audit_appended(entries: usize, secs: f64) {
    METRICS.audit_append.observe(secs);
    METRICS.audit_batch.observe(entries as f64);
}

/// What a retention pass deleted.
pub fn retention_purged(p: &medshare_store::Purged) {
    for (kind, n) in [
        ("sessions", p.sessions),
        ("events", p.events),
        ("nonces", p.nonces),
        ("notices", p.notices),
        ("notifications", p.notifications),
        ("consults", p.consults),
    ] {
        METRICS.purged.get_or_create(&KindLabels { kind }).inc_by(n);
    }
}

/// One notification delivery attempt on a channel of `kind` (a fixed kind name) ended in
/// `result` (a fixed word).
pub fn notification_attempt(kind: &'static str, result: &'static str) {
    METRICS
        .deliveries
        .get_or_create(&DeliveryLabels { kind, result })
        .inc();
}

/// A consult's window passed: `kind` is `escalated` or `unanswered`.
pub fn consult_escalated(kind: &'static str) {
    METRICS
        .escalations
        .get_or_create(&KindLabels { kind })
        .inc();
}

/// `GET /metrics`: the OpenMetrics text, with the configured bearer token only.
pub async fn scrape(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let token = &state.config.metrics.token;
    if token.is_empty() {
        return StatusCode::NOT_FOUND.into_response();
    }
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    // Digests compared, so the time taken says nothing about the token.
    use sha2::Digest;
    if sha2::Sha256::digest(given.as_bytes()) != sha2::Sha256::digest(token.as_bytes()) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    match state.store.queue_depths().await {
        Ok(q) => {
            let m = &*METRICS;
            m.queue
                .get_or_create(&KindLabels {
                    kind: "staged_uploads",
                })
                .set(q.staged_uploads);
            m.queue
                .get_or_create(&KindLabels {
                    kind: "patient_notices",
                })
                .set(q.notices_pending);
            m.queue
                .get_or_create(&KindLabels {
                    kind: "notifications",
                })
                .set(q.notifications_pending);
        }
        Err(e) => tracing::warn!(error = %e, "metrics: queue depths unavailable"),
    }
    let mut out = String::new();
    if prometheus_client::encoding::text::encode(&mut out, &METRICS.registry).is_err() {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        out,
    )
        .into_response()
}
