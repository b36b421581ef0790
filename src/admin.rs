//! The admin listener: what operators and orchestrators ask the gateway, on a port of its own
//! (`[admin] listen`, loopback by default). Every route is a read; nothing here changes state.
//!
//! - `GET /metrics`: the Prometheus text exposition of every metric the process records.
//! - `GET /healthz`: 200 while the process runs (liveness). It stays 200 during a drain, so an
//!   orchestrator does not kill a gateway that is finishing its requests.
//! - `GET /readyz`: 200 when every configured backend has an endpoint that takes calls and the
//!   gateway is not draining; 503 otherwise, with a body naming why (readiness). A drain turns
//!   it 503 at once, so load balancers stop sending new traffic first.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::json;

use crate::config::{DEFAULT_HEADER_READ_TIMEOUT, DEFAULT_MAX_HEADER_BYTES, DEFAULT_MAX_HEADERS};
use crate::listener::{self, ConnectionLimits};
use crate::upstream::Backend;

/// The content type of the Prometheus text exposition format.
pub const PROMETHEUS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// How long admin requests may take to finish once the admin listener stops: they only read
/// memory, so anything still open by then is a scraper holding an idle connection.
const ADMIN_DRAIN_TIMEOUT: Duration = Duration::from_secs(1);

/// Where readiness finds the backends to check: called on every `/readyz`, so a reload that
/// replaces the gateway (and its backends) is seen by the next probe.
pub type BackendSource = Arc<dyn Fn() -> Vec<Backend> + Send + Sync>;

/// Whether the gateway should get traffic: not draining, and every backend has an endpoint
/// that takes calls (healthy, not ejected, not backing off). Cloning is cheap and clones share
/// the draining flag.
#[derive(Clone)]
pub struct Readiness {
    draining: Arc<AtomicBool>,
    backends: BackendSource,
}

/// The answer of one readiness check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadinessReport {
    pub draining: bool,
    /// Names of the backends none of whose endpoints takes calls now (none resolved counts).
    pub backends_without_healthy_endpoint: Vec<String>,
}

impl ReadinessReport {
    pub fn is_ready(&self) -> bool {
        !self.draining && self.backends_without_healthy_endpoint.is_empty()
    }
}

impl Readiness {
    /// Readiness from a draining flag shared with whoever starts the drain, and the current
    /// backends.
    pub fn new(draining: Arc<AtomicBool>, backends: BackendSource) -> Readiness {
        Readiness { draining, backends }
    }

    /// Marks the gateway as draining: `/readyz` answers 503 from now on. There is no way back.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    /// Checks the drain flag and every backend's pool now.
    pub fn check(&self) -> ReadinessReport {
        let backends_without_healthy_endpoint = (self.backends)()
            .iter()
            .filter(|backend| {
                let pool = backend.pool();
                !pool.endpoints().iter().any(|e| pool.is_available(e))
            })
            .map(|backend| backend.name().to_string())
            .collect();
        ReadinessReport {
            draining: self.is_draining(),
            backends_without_healthy_endpoint,
        }
    }
}

/// The admin routes; every other path is a JSON 404.
pub fn router(metrics: PrometheusHandle, readiness: Readiness) -> Router {
    Router::new()
        .route(
            "/metrics",
            get(move || {
                let text = metrics.render();
                async move { no_store(([(CONTENT_TYPE, PROMETHEUS_CONTENT_TYPE)], text)) }
            }),
        )
        .route(
            "/healthz",
            get(|| async { json_response(StatusCode::OK, &json!({"status": "ok"})) }),
        )
        .route(
            "/readyz",
            get(move || {
                let report = readiness.check();
                async move { render_readiness(&report) }
            }),
        )
        .fallback(|| async {
            let body = json!({
                "status": "not found",
                "paths": ["/metrics", "/healthz", "/readyz"],
            });
            json_response(StatusCode::NOT_FOUND, &body)
        })
}

/// Serves the admin `router` on `listener` until `shutdown` completes, then gives open admin
/// requests a second to finish and returns. Connections get the default header limits of the
/// main listener (`[server]` defaults), over plain HTTP/1.1 or h2c.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let limits = ConnectionLimits {
        header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
        max_headers: DEFAULT_MAX_HEADERS,
        max_header_bytes: usize::try_from(DEFAULT_MAX_HEADER_BYTES).unwrap_or(usize::MAX),
        tls: None,
        problem_details: false,
    };
    listener::serve_with_drain(
        listener,
        router,
        limits,
        shutdown,
        Some(ADMIN_DRAIN_TIMEOUT),
    )
    .await
}

fn render_readiness(report: &ReadinessReport) -> Response {
    if report.is_ready() {
        return json_response(StatusCode::OK, &json!({"status": "ready"}));
    }
    let body = json!({
        "status": "not ready",
        "draining": report.draining,
        "backends_without_healthy_endpoint": report.backends_without_healthy_endpoint,
    });
    json_response(StatusCode::SERVICE_UNAVAILABLE, &body)
}

fn json_response(status: StatusCode, body: &serde_json::Value) -> Response {
    let headers = [(CONTENT_TYPE, "application/json")];
    no_store((status, headers, body.to_string()))
}

/// Probes and scrapes must see the state now, never a cached answer.
fn no_store(response: impl IntoResponse) -> Response {
    let mut response = response.into_response();
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
