//! The metric families, by name, and the one place each is recorded from.
//!
//! | family | labels |
//! |---|---|
//! | `gatehouse_requests_total` (counter) | `protocol`, `route`, `method`, `status` |
//! | `gatehouse_request_duration_seconds` (histogram) | `protocol`, `route`, `method` |
//! | `gatehouse_requests_in_flight` (gauge) | `protocol` |
//! | `gatehouse_upstream_calls_total` (counter) | `backend`, `endpoint`, `outcome` |
//! | `gatehouse_upstream_call_duration_seconds` (histogram) | `backend` |
//! | `gatehouse_upstream_retries_total` (counter) | `backend`, `reason` |
//! | `gatehouse_upstream_ejections_total` (counter) | `backend`, `endpoint` |
//! | `gatehouse_upstream_in_flight` (gauge) | `backend` |
//! | `gatehouse_pool_endpoints` (gauge) | `backend`, `state` |
//! | `gatehouse_auth_failures_total` (counter) | `reason` |
//! | `gatehouse_rate_limited_total` (counter) | `route`, `key` |
//! | `gatehouse_config_reloads_total` (counter) | `result` |
//! | `gatehouse_access_log_dropped_total` (counter) | — |
//! | `gatehouse_build_info` (gauge, always 1) | `version` |
//!
//! `protocol` is `rest`, `grpc` or `grpc-web`. `route` is the matched template
//! (`/v1/users/{user_id}`) or the gRPC method path (`/users.v1.UserService/GetUser`), `-` when
//! nothing matched. `method` is the HTTP method, `OTHER` for extension methods. `status` is the
//! HTTP status for REST and for gRPC answers that are not HTTP 200, else the gRPC code name
//! (`OK`, `NOT_FOUND`, ...). Upstream `outcome` and retry `reason` are [`CallOutcome`]s;
//! `endpoint` is the endpoint's `ip:port`. An upstream attempt is counted when its response
//! headers arrive: a unary call of `Backend::unary` knows its status by then, but a stream, or
//! a call through `PoolChannel` (the gRPC ingress), that answers with headers counts as `ok`
//! even if its trailers later carry an error (tonic sends early errors trailers-only, which are
//! seen). The request families see the final status.
//!
//! Every recording goes through the `metrics` facade, so it lands in whichever recorder is
//! current: the global one [`install`] sets, or a test's local one (`metrics::with_local_recorder`
//! with [`recorder`]). Without either, recording costs a branch and nothing is kept. Labels
//! are `&'static str` or shared strings built once (`SharedString` over an `Arc<str>`), so
//! recording never copies a label's text; a family whose labels are all fixed uses a static key.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{LazyLock, OnceLock, PoisonError, RwLock};
use std::time::Duration;

use http::{Method, StatusCode};
use metrics::{
    Counter, Gauge, Histogram, Unit, counter, describe_counter, describe_gauge, describe_histogram,
    gauge, histogram,
};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};

pub use metrics::SharedString;

use crate::config::RateLimitKey;
use crate::grpc::Protocol;

pub const REQUESTS_TOTAL: &str = "gatehouse_requests_total";
pub const REQUEST_DURATION_SECONDS: &str = "gatehouse_request_duration_seconds";
pub const REQUESTS_IN_FLIGHT: &str = "gatehouse_requests_in_flight";
pub const UPSTREAM_CALLS_TOTAL: &str = "gatehouse_upstream_calls_total";
pub const UPSTREAM_CALL_DURATION_SECONDS: &str = "gatehouse_upstream_call_duration_seconds";
pub const UPSTREAM_RETRIES_TOTAL: &str = "gatehouse_upstream_retries_total";
pub const UPSTREAM_EJECTIONS_TOTAL: &str = "gatehouse_upstream_ejections_total";
pub const UPSTREAM_IN_FLIGHT: &str = "gatehouse_upstream_in_flight";
pub const POOL_ENDPOINTS: &str = "gatehouse_pool_endpoints";
pub const AUTH_FAILURES_TOTAL: &str = "gatehouse_auth_failures_total";
pub const RATE_LIMITED_TOTAL: &str = "gatehouse_rate_limited_total";
pub const RATE_LIMIT_STORE_ERRORS_TOTAL: &str = "gatehouse_rate_limit_store_errors_total";
pub const CONFIG_RELOADS_TOTAL: &str = "gatehouse_config_reloads_total";
pub const ACCESS_LOG_DROPPED_TOTAL: &str = "gatehouse_access_log_dropped_total";
pub const BUILD_INFO: &str = "gatehouse_build_info";

/// Upper bounds (seconds) of every latency histogram's buckets: fine around a gateway hop's
/// half a millisecond, coarse up to the longest deadlines.
pub const LATENCY_BUCKETS: [f64; 17] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0, 300.0,
];

/// How often histogram samples are folded into their buckets when nobody scrapes (a scrape
/// does it too); keeps memory bounded between scrapes.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// The label of a route that matched nothing.
pub const NO_ROUTE: SharedString = SharedString::const_str("-");

static GLOBAL: OnceLock<PrometheusHandle> = OnceLock::new();

/// Handles of recorded series by their label values, kept once the global recorder is
/// installed. A recording is then a read-locked lookup of a few words, instead of building the
/// series' key (a label list, sorted and hashed) and finding it in the recorder's registry on
/// every request. The maps hold no more entries than there are series. Sound because the
/// recorder never drops a series (no idle timeout in [`builder`]): a kept handle always points
/// at the series the exposition shows.
/// The keys are label values from the config and fixed sets, so a fast hash will do.
struct SeriesCache<K, V>(LazyLock<RwLock<HashMap<K, V, foldhash::fast::RandomState>>>);

impl<K: Hash + Eq, V: Clone> SeriesCache<K, V> {
    const fn new() -> Self {
        SeriesCache(LazyLock::new(Default::default))
    }

    /// The handles for `key`, made by `register` the first time. Without the global recorder
    /// (tests record with a local one per test), `register` is asked every time, so the
    /// handles always belong to the current recorder.
    fn get(&self, key: K, register: impl FnOnce() -> V) -> V {
        if GLOBAL.get().is_none() {
            return register();
        }
        if let Some(found) = self
            .0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
        {
            return found.clone();
        }
        let made = register();
        self.0
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key, made.clone());
        made
    }
}

/// `gatehouse_requests_total` and `_duration_seconds` by protocol, route, method and status.
type RequestKey = (&'static str, SharedString, &'static str, &'static str);
static REQUEST_SERIES: SeriesCache<RequestKey, (Counter, Histogram)> = SeriesCache::new();

/// `gatehouse_upstream_calls_total` and `_call_duration_seconds` by backend, endpoint, outcome.
type UpstreamKey = (SharedString, SharedString, &'static str);
static UPSTREAM_SERIES: SeriesCache<UpstreamKey, (Counter, Histogram)> = SeriesCache::new();

/// `gatehouse_upstream_in_flight` by backend.
static UPSTREAM_IN_FLIGHT_SERIES: SeriesCache<SharedString, Gauge> = SeriesCache::new();

/// Installs the Prometheus recorder as the process's global recorder, once, and returns its
/// handle (`handle.render()` is the text exposition). Later calls return the same handle, so
/// tests and reloads may call it freely. Sets `gatehouse_build_info` and starts a thread that
/// folds histogram samples every 5 s. If another recorder was installed first, it stays, a
/// warning is logged and the handle renders nothing.
pub fn install() -> PrometheusHandle {
    GLOBAL
        .get_or_init(|| {
            let recorder = builder().build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("another metrics recorder is installed; /metrics stays empty");
            }
            describe();
            let upkeep = handle.clone();
            let started = std::thread::Builder::new()
                .name("metrics-upkeep".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(UPKEEP_INTERVAL);
                        upkeep.run_upkeep();
                    }
                });
            if let Err(error) = started {
                tracing::warn!(%error, "no metrics upkeep thread; scrapes do its work");
            }
            handle
        })
        .clone()
}

/// The Prometheus text exposition of the global recorder ([`install`]s it if needed).
pub fn render() -> String {
    install().render()
}

/// A recorder configured as the global one (buckets, descriptions, build info) but not
/// installed: for `metrics::with_local_recorder` in tests, or to embed elsewhere. Its upkeep
/// is the caller's (rendering does it).
pub fn recorder() -> PrometheusRecorder {
    let recorder = builder().build_recorder();
    metrics::with_local_recorder(&recorder, describe);
    recorder
}

fn builder() -> PrometheusBuilder {
    PrometheusBuilder::new()
        .set_buckets(&LATENCY_BUCKETS)
        .expect("LATENCY_BUCKETS is not empty")
}

/// The HELP lines, and the build info gauge.
fn describe() {
    describe_counter!(
        REQUESTS_TOTAL,
        Unit::Count,
        "Requests answered, by route and status."
    );
    describe_histogram!(
        REQUEST_DURATION_SECONDS,
        Unit::Seconds,
        "Time from request to response headers; to the end of the body for streams."
    );
    describe_gauge!(REQUESTS_IN_FLIGHT, "Requests being served now.");
    describe_counter!(
        UPSTREAM_CALLS_TOTAL,
        Unit::Count,
        "Attempts sent to backend endpoints, by outcome."
    );
    describe_histogram!(
        UPSTREAM_CALL_DURATION_SECONDS,
        Unit::Seconds,
        "Time of one attempt on a backend, to its response headers."
    );
    describe_counter!(
        UPSTREAM_RETRIES_TOTAL,
        Unit::Count,
        "Attempts sent again, by the failure that caused it."
    );
    describe_counter!(
        UPSTREAM_EJECTIONS_TOTAL,
        Unit::Count,
        "Endpoints ejected by outlier detection."
    );
    describe_gauge!(UPSTREAM_IN_FLIGHT, "Calls on backend connections now.");
    describe_gauge!(
        POOL_ENDPOINTS,
        "Endpoints of each backend: healthy, unhealthy (active checks) or ejected."
    );
    describe_counter!(
        AUTH_FAILURES_TOTAL,
        Unit::Count,
        "Requests refused by authentication or authorization."
    );
    describe_counter!(
        RATE_LIMITED_TOTAL,
        Unit::Count,
        "Requests refused by a rate limit."
    );
    describe_counter!(
        RATE_LIMIT_STORE_ERRORS_TOTAL,
        Unit::Count,
        "Rate-limit decisions the shared store failed to make, by the policy applied."
    );
    describe_counter!(
        CONFIG_RELOADS_TOTAL,
        Unit::Count,
        "Config reloads, by result."
    );
    describe_counter!(
        ACCESS_LOG_DROPPED_TOTAL,
        Unit::Count,
        "Access-log lines dropped because the writer fell behind."
    );
    describe_gauge!(BUILD_INFO, "Always 1; the version is a label.");
    gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
}

// ----- Requests -----

/// The `protocol` label.
pub fn protocol_label(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Rest => "rest",
        Protocol::Grpc => "grpc",
        Protocol::GrpcWeb => "grpc-web",
    }
}

/// The `method` label: the standard methods by name, anything else `OTHER`.
pub fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "OTHER",
    }
}

/// An HTTP status as a label (`"404"`), without formatting it per request.
pub fn status_label(status: StatusCode) -> &'static str {
    static LABELS: LazyLock<Vec<String>> =
        LazyLock::new(|| (100..1000).map(|code: u16| code.to_string()).collect());
    // `StatusCode` is always within 100..=999.
    LABELS
        .get(usize::from(status.as_u16().saturating_sub(100)))
        .map_or("-", String::as_str)
}

/// A gRPC status code as a label: its name in the gRPC spec; codes outside it are `UNKNOWN`,
/// as clients read them.
pub fn grpc_code_label(code: i32) -> &'static str {
    const NAMES: [&str; 17] = [
        "OK",
        "CANCELLED",
        "UNKNOWN",
        "INVALID_ARGUMENT",
        "DEADLINE_EXCEEDED",
        "NOT_FOUND",
        "ALREADY_EXISTS",
        "PERMISSION_DENIED",
        "RESOURCE_EXHAUSTED",
        "FAILED_PRECONDITION",
        "ABORTED",
        "OUT_OF_RANGE",
        "UNIMPLEMENTED",
        "INTERNAL",
        "UNAVAILABLE",
        "DATA_LOSS",
        "UNAUTHENTICATED",
    ];
    usize::try_from(code)
        .ok()
        .and_then(|i| NAMES.get(i))
        .copied()
        .unwrap_or("UNKNOWN")
}

/// Counts one answered request and its latency. `route` is `None` when nothing matched.
pub fn record_request(
    protocol: Protocol,
    route: Option<&SharedString>,
    method: &'static str,
    status: &'static str,
    latency: Duration,
) {
    let protocol = protocol_label(protocol);
    let route = route.cloned().unwrap_or(NO_ROUTE);
    let key = (protocol, route.clone(), method, status);
    let (total, duration) = REQUEST_SERIES.get(key, || {
        (
            counter!(
                REQUESTS_TOTAL,
                "protocol" => protocol,
                "route" => route.clone(),
                "method" => method,
                "status" => status
            ),
            histogram!(
                REQUEST_DURATION_SECONDS,
                "protocol" => protocol,
                "route" => route,
                "method" => method
            ),
        )
    });
    total.increment(1);
    duration.record(latency.as_secs_f64());
}

/// One unit of an in-flight gauge, given back on drop. Holds the gauge's handle, so the
/// decrement looks nothing up.
#[must_use = "the gauge goes down when this is dropped"]
pub struct InFlight(Gauge);

impl InFlight {
    /// A request being served (`gatehouse_requests_in_flight`).
    pub fn request(protocol: Protocol) -> InFlight {
        // Literal labels: a static key, no allocation.
        let gauge = match protocol {
            Protocol::Rest => gauge!(REQUESTS_IN_FLIGHT, "protocol" => "rest"),
            Protocol::Grpc => gauge!(REQUESTS_IN_FLIGHT, "protocol" => "grpc"),
            Protocol::GrpcWeb => gauge!(REQUESTS_IN_FLIGHT, "protocol" => "grpc-web"),
        };
        InFlight::enter(gauge)
    }

    /// A call on one of `backend`'s connections (`gatehouse_upstream_in_flight`).
    pub fn upstream(backend: &SharedString) -> InFlight {
        let gauge = UPSTREAM_IN_FLIGHT_SERIES.get(
            backend.clone(),
            || gauge!(UPSTREAM_IN_FLIGHT, "backend" => backend.clone()),
        );
        InFlight::enter(gauge)
    }

    fn enter(gauge: Gauge) -> InFlight {
        gauge.increment(1.0);
        InFlight(gauge)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.decrement(1.0);
    }
}

// ----- Upstream -----

/// The labels of one backend endpoint, built when the endpoint joins its pool.
#[derive(Clone, Debug)]
pub struct EndpointLabels {
    pub backend: SharedString,
    /// `ip:port`.
    pub endpoint: SharedString,
}

impl EndpointLabels {
    pub fn new(backend: &SharedString, address: std::net::SocketAddr) -> EndpointLabels {
        EndpointLabels {
            backend: backend.clone(),
            endpoint: shared(address.to_string()),
        }
    }
}

/// A label text shared by every recording that uses it: cloning it is a reference count.
pub fn shared(text: impl Into<std::sync::Arc<str>>) -> SharedString {
    SharedString::from(text.into())
}

/// How one attempt on a backend ended (`outcome`), or why one was sent again (`reason`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallOutcome {
    /// The backend answered OK.
    Ok,
    /// The backend answered another status (UNAVAILABLE aside).
    BackendError,
    /// The backend answered UNAVAILABLE, or the connection broke with the call on it.
    Unavailable,
    /// No connection could be made; nothing was sent.
    ConnectFailed,
    /// The backend refused the stream (REFUSED_STREAM) before processing it.
    Refused,
    /// The deadline passed before the backend answered.
    Timeout,
    /// The reply was not gRPC (an HTTP error page, no `grpc-status`).
    BadResponse,
}

impl CallOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            CallOutcome::Ok => "ok",
            CallOutcome::BackendError => "backend_error",
            CallOutcome::Unavailable => "unavailable",
            CallOutcome::ConnectFailed => "connect_failed",
            CallOutcome::Refused => "refused",
            CallOutcome::Timeout => "timeout",
            CallOutcome::BadResponse => "bad_response",
        }
    }
}

/// Counts one attempt on an endpoint and its latency.
pub fn record_upstream_call(labels: &EndpointLabels, outcome: CallOutcome, latency: Duration) {
    let key = (
        labels.backend.clone(),
        labels.endpoint.clone(),
        outcome.as_str(),
    );
    let (calls, duration) = UPSTREAM_SERIES.get(key, || {
        (
            counter!(
                UPSTREAM_CALLS_TOTAL,
                "backend" => labels.backend.clone(),
                "endpoint" => labels.endpoint.clone(),
                "outcome" => outcome.as_str()
            ),
            histogram!(UPSTREAM_CALL_DURATION_SECONDS, "backend" => labels.backend.clone()),
        )
    });
    calls.increment(1);
    duration.record(latency.as_secs_f64());
}

/// Counts one attempt sent again after a failed one (`reason`: how that one ended).
pub fn record_retry(backend: &SharedString, reason: CallOutcome) {
    counter!(
        UPSTREAM_RETRIES_TOTAL,
        "backend" => backend.clone(),
        "reason" => reason.as_str()
    )
    .increment(1);
}

/// Counts one ejection of an endpoint.
pub fn record_ejection(labels: &EndpointLabels) {
    counter!(
        UPSTREAM_EJECTIONS_TOTAL,
        "backend" => labels.backend.clone(),
        "endpoint" => labels.endpoint.clone()
    )
    .increment(1);
}

/// A backend's endpoints by state, as counted now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EndpointStates {
    /// Passing active checks (or none configured) and not ejected.
    pub healthy: usize,
    /// Failing active checks.
    pub unhealthy: usize,
    /// Healthy but ejected by outlier detection.
    pub ejected: usize,
}

/// Sets `gatehouse_pool_endpoints` for `backend`.
pub fn set_pool_endpoints(backend: &SharedString, states: EndpointStates) {
    for (state, count) in [
        ("healthy", states.healthy),
        ("unhealthy", states.unhealthy),
        ("ejected", states.ejected),
    ] {
        gauge!(POOL_ENDPOINTS, "backend" => backend.clone(), "state" => state).set(count as f64);
    }
}

// ----- Security -----

/// Why a request was refused by authentication or authorization (`reason`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthFailure {
    /// The route needs a credential and none was sent (401).
    Missing,
    /// A bearer token that is malformed, expired or not signed by a configured issuer (401).
    InvalidToken,
    /// An API key that matches no configured key (401).
    UnknownApiKey,
    /// Two credentials, or one header twice (401).
    Ambiguous,
    /// A valid credential without any of the route's roles (403).
    Forbidden,
    /// The issuer's keys could not be fetched (503).
    KeysUnavailable,
}

/// Counts one refused credential.
pub fn record_auth_failure(reason: AuthFailure) {
    // Literal labels: a static key per reason, no allocation.
    let counter = match reason {
        AuthFailure::Missing => counter!(AUTH_FAILURES_TOTAL, "reason" => "missing"),
        AuthFailure::InvalidToken => counter!(AUTH_FAILURES_TOTAL, "reason" => "invalid_token"),
        AuthFailure::UnknownApiKey => {
            counter!(AUTH_FAILURES_TOTAL, "reason" => "unknown_api_key")
        }
        AuthFailure::Ambiguous => counter!(AUTH_FAILURES_TOTAL, "reason" => "ambiguous"),
        AuthFailure::Forbidden => counter!(AUTH_FAILURES_TOTAL, "reason" => "forbidden"),
        AuthFailure::KeysUnavailable => {
            counter!(AUTH_FAILURES_TOTAL, "reason" => "keys_unavailable")
        }
    };
    counter.increment(1);
}

/// Counts one request refused by the rate limit of `route`, which counts calls by `key` (the
/// configured key: a call without that identity is counted by address, but labelled by it).
pub fn record_rate_limited(route: &SharedString, key: RateLimitKey) {
    let key = match key {
        RateLimitKey::Ip => "ip",
        RateLimitKey::Subject => "subject",
        RateLimitKey::ApiKey => "api_key",
    };
    counter!(RATE_LIMITED_TOTAL, "route" => route.clone(), "key" => key).increment(1);
}

/// Counts one decision the shared rate-limit store failed to make, and the policy applied.
pub fn record_rate_limit_store_error(policy: &'static str) {
    counter!(RATE_LIMIT_STORE_ERRORS_TOTAL, "policy" => policy).increment(1);
}

// ----- Process -----

/// Counts one config reload, applied (`ok`) or refused (`error`).
pub fn record_config_reload(applied: bool) {
    let counter = if applied {
        counter!(CONFIG_RELOADS_TOTAL, "result" => "ok")
    } else {
        counter!(CONFIG_RELOADS_TOTAL, "result" => "error")
    };
    counter.increment(1);
}

/// Counts one access-log line the writer had no room for.
pub(crate) fn record_access_log_dropped() {
    counter!(ACCESS_LOG_DROPPED_TOTAL).increment(1);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `record` against a fresh local recorder and renders what it kept.
    fn rendered(record: impl FnOnce()) -> String {
        let recorder = recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, record);
        handle.render()
    }

    #[test]
    fn requests_are_counted_by_route_method_and_status() {
        let route = shared("/v1/users/{user_id}");
        let text = rendered(|| {
            for _ in 0..3 {
                record_request(
                    Protocol::Rest,
                    Some(&route),
                    "GET",
                    status_label(StatusCode::OK),
                    Duration::from_micros(700),
                );
            }
            record_request(
                Protocol::Grpc,
                None,
                "POST",
                grpc_code_label(5),
                Duration::from_millis(3),
            );
        });
        assert!(
            text.contains(
                "gatehouse_requests_total{protocol=\"rest\",route=\"/v1/users/{user_id}\",\
                 method=\"GET\",status=\"200\"} 3"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "gatehouse_requests_total{protocol=\"grpc\",route=\"-\",method=\"POST\",\
                 status=\"NOT_FOUND\"} 1"
            ),
            "{text}"
        );
        // 0.7 ms falls in the 1 ms bucket, not the 0.5 ms one.
        let bucket = |le: &str| {
            format!(
                "gatehouse_request_duration_seconds_bucket{{protocol=\"rest\",\
                 route=\"/v1/users/{{user_id}}\",method=\"GET\",le=\"{le}\"}}"
            )
        };
        assert!(text.contains(&format!("{} 0", bucket("0.0005"))), "{text}");
        assert!(text.contains(&format!("{} 3", bucket("0.001"))), "{text}");
        assert!(text.contains("# TYPE gatehouse_request_duration_seconds histogram"));
        assert!(text.contains("# HELP gatehouse_requests_total"));
    }

    #[test]
    fn in_flight_goes_back_down_on_drop() {
        let recorder = recorder();
        let handle = recorder.handle();
        let _local = metrics::set_default_local_recorder(&recorder);
        let gauges = || {
            let text = handle.render();
            let value = |series: &str| {
                text.lines()
                    .find_map(|line| line.strip_prefix(series)?.trim().parse::<f64>().ok())
            };
            (
                value("gatehouse_requests_in_flight{protocol=\"grpc-web\"}"),
                value("gatehouse_upstream_in_flight{backend=\"users\"}"),
            )
        };
        let backend = shared("users");
        let first = InFlight::request(Protocol::GrpcWeb);
        let second = InFlight::request(Protocol::GrpcWeb);
        let call = InFlight::upstream(&backend);
        assert_eq!(gauges(), (Some(2.0), Some(1.0)));
        drop(first);
        assert_eq!(gauges(), (Some(1.0), Some(1.0)));
        drop((second, call));
        assert_eq!(gauges(), (Some(0.0), Some(0.0)));
    }

    #[test]
    fn upstream_families_carry_backend_and_endpoint() {
        let backend = shared("users");
        let labels = EndpointLabels::new(&backend, "127.0.0.1:50051".parse().unwrap());
        let text = rendered(|| {
            record_upstream_call(&labels, CallOutcome::Ok, Duration::from_millis(2));
            record_upstream_call(
                &labels,
                CallOutcome::ConnectFailed,
                Duration::from_millis(1),
            );
            record_retry(&backend, CallOutcome::ConnectFailed);
            record_ejection(&labels);
            set_pool_endpoints(
                &backend,
                EndpointStates {
                    healthy: 2,
                    unhealthy: 1,
                    ejected: 0,
                },
            );
        });
        for line in [
            "gatehouse_upstream_calls_total{backend=\"users\",endpoint=\"127.0.0.1:50051\",\
             outcome=\"ok\"} 1",
            "gatehouse_upstream_calls_total{backend=\"users\",endpoint=\"127.0.0.1:50051\",\
             outcome=\"connect_failed\"} 1",
            "gatehouse_upstream_call_duration_seconds_count{backend=\"users\"} 2",
            "gatehouse_upstream_retries_total{backend=\"users\",reason=\"connect_failed\"} 1",
            "gatehouse_upstream_ejections_total{backend=\"users\",endpoint=\"127.0.0.1:50051\"} 1",
            "gatehouse_pool_endpoints{backend=\"users\",state=\"healthy\"} 2",
            "gatehouse_pool_endpoints{backend=\"users\",state=\"unhealthy\"} 1",
            "gatehouse_pool_endpoints{backend=\"users\",state=\"ejected\"} 0",
        ] {
            assert!(text.contains(line), "missing {line}\n{text}");
        }
    }

    #[test]
    fn security_and_process_families() {
        let route = shared("/v1/orders");
        let text = rendered(|| {
            record_auth_failure(AuthFailure::Missing);
            record_auth_failure(AuthFailure::Missing);
            record_auth_failure(AuthFailure::KeysUnavailable);
            record_rate_limited(&route, RateLimitKey::ApiKey);
            record_config_reload(true);
            record_config_reload(false);
            record_config_reload(false);
        });
        for line in [
            "gatehouse_auth_failures_total{reason=\"missing\"} 2",
            "gatehouse_auth_failures_total{reason=\"keys_unavailable\"} 1",
            "gatehouse_rate_limited_total{route=\"/v1/orders\",key=\"api_key\"} 1",
            "gatehouse_config_reloads_total{result=\"ok\"} 1",
            "gatehouse_config_reloads_total{result=\"error\"} 2",
        ] {
            assert!(text.contains(line), "missing {line}\n{text}");
        }
    }

    #[test]
    fn build_info_is_set_by_the_recorder() {
        let text = rendered(|| {});
        let line = format!(
            "gatehouse_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        );
        assert!(text.contains(&line), "{text}");
    }

    #[test]
    fn install_is_idempotent() {
        let first = install();
        let second = install();
        first.render();
        assert_eq!(first.render(), second.render());
    }

    #[test]
    fn labels_come_from_fixed_sets() {
        assert_eq!(status_label(StatusCode::NOT_FOUND), "404");
        assert_eq!(status_label(StatusCode::CONTINUE), "100");
        assert_eq!(status_label(StatusCode::from_u16(999).unwrap()), "999");
        assert_eq!(grpc_code_label(0), "OK");
        assert_eq!(grpc_code_label(16), "UNAUTHENTICATED");
        assert_eq!(grpc_code_label(17), "UNKNOWN");
        assert_eq!(grpc_code_label(-1), "UNKNOWN");
        assert_eq!(method_label(&Method::DELETE), "DELETE");
        assert_eq!(method_label(&Method::from_bytes(b"BREW").unwrap()), "OTHER");
    }
}
