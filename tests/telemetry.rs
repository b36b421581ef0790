//! Telemetry: the access-log line and request metrics of `AccessLogLayer` around stand-in
//! services (REST, gRPC, gRPC-Web, streams, clients that leave), trace context before the log
//! reads it, and the upstream and auth metrics a real gateway records over real sockets.
//!
//! Each test records into a Prometheus recorder of its own, made the thread's default: a
//! `#[tokio::test]` runs the gateway, backends and client on that one thread.

mod common;

use std::convert::Infallible;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use bytes::Bytes;
use common::{Echo, Fleet, TestGateway};
use futures_util::{StreamExt, stream};
use gatehouse::telemetry::metrics::{self as telemetry_metrics, SharedString};
use gatehouse::telemetry::{AccessLogLayer, LogFields, RequestSpanLayer, Upstream};
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tower::{ServiceBuilder, ServiceExt, service_fn};

// ----- Harness -----

/// A recorder of the test's own, the thread's default until the test ends.
struct Metrics {
    handle: PrometheusHandle,
    _local: metrics::LocalRecorderGuard<'static>,
}

impl Metrics {
    fn record() -> Metrics {
        let recorder = Box::leak(Box::new(telemetry_metrics::recorder()));
        Metrics {
            handle: recorder.handle(),
            _local: metrics::set_default_local_recorder(recorder),
        }
    }

    /// The value of one series (`name{labels}`), if recorded.
    fn value(&self, series: &str) -> Option<f64> {
        self.handle.render().lines().find_map(|line| {
            let value = line.strip_prefix(series)?.strip_prefix(' ')?;
            value.parse().ok()
        })
    }

    fn text(&self) -> String {
        self.handle.render()
    }
}

/// Where the layer's lines go.
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<u8>>>);

impl Write for Lines {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Lines {
    fn raw(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).expect("lines are UTF-8")
    }

    /// Waits for the writer thread to have written `count` lines; returns them parsed.
    async fn wait_for(&self, count: usize) -> Vec<Value> {
        for _ in 0..500 {
            let raw = self.raw();
            if raw.lines().count() >= count {
                return raw
                    .lines()
                    .map(|line| serde_json::from_str(line).expect("each line is JSON"))
                    .collect();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("expected {count} lines, got:\n{}", self.raw());
    }
}

fn peer() -> SocketAddr {
    "10.1.2.3:45678".parse().unwrap()
}

fn request(method: &str, uri: &str, headers: &[(&str, &str)]) -> Request<Body> {
    let mut request = Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let mut request = request.body(Body::empty()).unwrap();
    request.extensions_mut().insert(ConnectInfo(peer()));
    request
}

/// A response whose body is sent frame by frame (its length unknown up front).
fn streamed(
    status: StatusCode,
    headers: &[(&'static str, &str)],
    frames: Vec<Frame<Bytes>>,
) -> Response<Body> {
    let body = StreamBody::new(stream::iter(frames.into_iter().map(Ok::<_, Infallible>)));
    let mut response = Response::new(Body::new(body));
    *response.status_mut() = status;
    for (name, value) in headers {
        response
            .headers_mut()
            .insert(*name, HeaderValue::from_str(value).unwrap());
    }
    response
}

fn trailers(pairs: &[(&'static str, &'static str)]) -> Frame<Bytes> {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.insert(*name, HeaderValue::from_static(value));
    }
    Frame::trailers(map)
}

/// Serves every request with a clone of `answer()` through `layer`.
async fn serve_one(
    layer: AccessLogLayer,
    request: Request<Body>,
    answer: impl Fn() -> Response<Body> + Clone + Send + 'static,
) -> Response<Body> {
    let service = service_fn(move |_: Request<Body>| {
        let answer = answer.clone();
        async move { Ok::<_, Infallible>(answer()) }
    });
    ServiceBuilder::new()
        .layer(layer)
        .service(service)
        .oneshot(request)
        .await
        .unwrap()
}

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

// ----- The access-log line and request metrics -----

#[tokio::test]
async fn a_rest_request_is_one_json_line_with_no_secrets() {
    let metrics = Metrics::record();
    let lines = Lines::default();
    let request = request(
        "GET",
        "/v1/users/42?api_key=query-secret",
        &[
            ("x-request-id", "req-1"),
            ("traceparent", TRACEPARENT),
            ("authorization", "Bearer token-secret"),
            ("x-api-key", "key-secret"),
        ],
    );
    let response = serve_one(AccessLogLayer::with_writer(lines.clone()), request, || {
        let mut response = Response::new(Body::from("{\"id\":\"42\"}"));
        response.extensions_mut().insert(LogFields {
            route: Some(SharedString::const_str("/v1/users/{user_id}")),
            subject: Some("alice".into()),
        });
        response
            .extensions_mut()
            .insert(Upstream(SharedString::const_str("10.0.0.9:50051")));
        response
    })
    .await;
    assert_eq!(response.status(), 200);
    // The handler's fields are taken, not left on the response.
    assert!(response.extensions().get::<LogFields>().is_none());

    let line = &lines.wait_for(1).await[0];
    // Every field, in this order in the line.
    let raw = lines.raw();
    let keys = [
        "time",
        "request_id",
        "trace_id",
        "client",
        "protocol",
        "method",
        "route",
        "status",
        "latency_ms",
        "upstream",
        "subject",
        "bytes_out",
    ];
    assert_eq!(line.as_object().unwrap().len(), keys.len(), "{raw}");
    let positions: Vec<usize> = keys
        .iter()
        .map(|key| raw.find(&format!("\"{key}\":")).expect(key))
        .collect();
    assert!(positions.is_sorted(), "{raw}");
    let time = line["time"].as_str().unwrap();
    assert!(time.ends_with('Z'), "{time}");
    chrono::DateTime::parse_from_rfc3339(time).expect("time is RFC 3339");
    assert_eq!(line["request_id"], "req-1");
    assert_eq!(line["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(line["client"], "10.1.2.3:45678");
    assert_eq!(line["protocol"], "rest");
    assert_eq!(line["method"], "GET");
    assert_eq!(line["route"], "/v1/users/{user_id}");
    assert_eq!(line["status"], 200);
    assert!(line["latency_ms"].as_f64().unwrap() >= 0.0);
    assert_eq!(line["upstream"], "10.0.0.9:50051");
    assert_eq!(line["subject"], "alice");
    assert_eq!(line["bytes_out"], 11);
    for secret in ["secret", "api_key", "42?", "Bearer"] {
        assert!(!raw.contains(secret), "{secret} leaked: {raw}");
    }

    let series = "{protocol=\"rest\",route=\"/v1/users/{user_id}\",method=\"GET\"";
    assert_eq!(
        metrics.value(&format!(
            "gatehouse_requests_total{series},status=\"200\"}}"
        )),
        Some(1.0),
        "{}",
        metrics.text()
    );
    assert_eq!(
        metrics.value(&format!(
            "gatehouse_request_duration_seconds_count{series}}}"
        )),
        Some(1.0)
    );
    assert_eq!(
        metrics.value("gatehouse_requests_in_flight{protocol=\"rest\"}"),
        Some(0.0)
    );
}

#[tokio::test]
async fn an_unmatched_request_has_route_dash_and_bounded_labels() {
    let metrics = Metrics::record();
    let lines = Lines::default();
    let request = request("BREW", "/coffee/pot-1234", &[]);
    serve_one(AccessLogLayer::with_writer(lines.clone()), request, || {
        let mut response = Response::new(Body::from("{}"));
        *response.status_mut() = StatusCode::NOT_FOUND;
        response
    })
    .await;
    let line = &lines.wait_for(1).await[0];
    assert_eq!(line["route"], "-");
    assert_eq!(line["method"], "OTHER");
    assert_eq!(line["status"], 404);
    assert_eq!(line["request_id"], "-");
    for absent in ["upstream", "subject", "grpc_status", "aborted"] {
        assert!(line.get(absent).is_none(), "{absent}: {line}");
    }
    assert_eq!(
        metrics.value(
            "gatehouse_requests_total{protocol=\"rest\",route=\"-\",method=\"OTHER\",status=\"404\"}"
        ),
        Some(1.0),
        "{}",
        metrics.text()
    );
    assert!(!metrics.text().contains("pot-1234"));
}

#[tokio::test]
async fn a_grpc_call_is_recorded_when_its_trailers_arrive() {
    let metrics = Metrics::record();
    let lines = Lines::default();
    let request = request(
        "POST",
        "/users.v1.UserService/GetUser",
        &[("content-type", "application/grpc")],
    );
    let response = serve_one(AccessLogLayer::with_writer(lines.clone()), request, || {
        let mut response = streamed(
            StatusCode::OK,
            &[("content-type", "application/grpc")],
            vec![
                Frame::data(Bytes::from_static(b"\0\0\0\0\x03abc")),
                trailers(&[("grpc-status", "5"), ("grpc-message", "no such user")]),
            ],
        );
        response.extensions_mut().insert(LogFields {
            route: Some(SharedString::const_str("/users.v1.UserService/GetUser")),
            subject: None,
        });
        response
    })
    .await;
    let series = "{protocol=\"grpc\",route=\"/users.v1.UserService/GetUser\",method=\"POST\"";
    let total = format!("gatehouse_requests_total{series},status=\"NOT_FOUND\"}}");
    // Headers produced, body not read yet: still in flight, not counted.
    assert_eq!(metrics.value(&total), None);
    assert_eq!(
        metrics.value("gatehouse_requests_in_flight{protocol=\"grpc\"}"),
        Some(1.0)
    );

    let collected = response.into_body().collect().await.unwrap();
    assert_eq!(collected.trailers().unwrap()["grpc-status"], "5");
    assert_eq!(metrics.value(&total), Some(1.0), "{}", metrics.text());
    assert_eq!(
        metrics.value("gatehouse_requests_in_flight{protocol=\"grpc\"}"),
        Some(0.0)
    );
    let line = &lines.wait_for(1).await[0];
    assert_eq!(line["protocol"], "grpc");
    assert_eq!(line["status"], 200);
    assert_eq!(line["grpc_status"], 5);
    assert_eq!(line["bytes_out"], 8);
    assert!(line.get("aborted").is_none());
}

#[tokio::test]
async fn a_trailers_only_grpc_answer_is_recorded_at_once() {
    let metrics = Metrics::record();
    let request = request(
        "POST",
        "/users.v1.UserService/GetUser",
        &[("content-type", "application/grpc")],
    );
    serve_one(AccessLogLayer::new(false), request, || {
        let mut response = Response::new(Body::empty());
        let headers = response.headers_mut();
        headers.insert("content-type", HeaderValue::from_static("application/grpc"));
        headers.insert("grpc-status", HeaderValue::from_static("16"));
        response
    })
    .await;
    // Counted without reading the (empty) body, and with the access log off.
    assert_eq!(
        metrics.value(
            "gatehouse_requests_total{protocol=\"grpc\",route=\"-\",method=\"POST\",\
             status=\"UNAUTHENTICATED\"}"
        ),
        Some(1.0),
        "{}",
        metrics.text()
    );
}

#[tokio::test]
async fn grpc_web_status_is_read_from_the_trailer_frame() {
    let metrics = Metrics::record();
    let lines = Lines::default();
    let request = request(
        "POST",
        "/users.v1.UserService/GetUser",
        &[("content-type", "application/grpc-web+proto")],
    );
    let mut trailer_frame = vec![0x80, 0, 0, 0, 15];
    trailer_frame.extend_from_slice(b"grpc-status:0\r\n");
    let response = serve_one(
        AccessLogLayer::with_writer(lines.clone()),
        request,
        move || {
            streamed(
                StatusCode::OK,
                &[("content-type", "application/grpc-web+proto")],
                vec![
                    Frame::data(Bytes::from_static(b"\0\0\0\0\x01z")),
                    Frame::data(Bytes::from(trailer_frame.clone())),
                ],
            )
        },
    )
    .await;
    response.into_body().collect().await.unwrap();
    let line = &lines.wait_for(1).await[0];
    assert_eq!(line["protocol"], "grpc-web");
    assert_eq!(line["grpc_status"], 0);
    assert_eq!(line["bytes_out"], 26);
    assert_eq!(
        metrics.value(
            "gatehouse_requests_total{protocol=\"grpc-web\",route=\"-\",method=\"POST\",status=\"OK\"}"
        ),
        Some(1.0),
        "{}",
        metrics.text()
    );
}

#[tokio::test]
async fn a_rest_stream_is_recorded_when_it_ends() {
    let metrics = Metrics::record();
    let lines = Lines::default();
    let request = request("GET", "/v1/watch", &[]);
    let response = serve_one(AccessLogLayer::with_writer(lines.clone()), request, || {
        streamed(
            StatusCode::OK,
            &[("content-type", "application/x-ndjson")],
            vec![
                Frame::data(Bytes::from_static(b"{\"n\":1}\n")),
                Frame::data(Bytes::from_static(b"{\"n\":2}\n")),
            ],
        )
    })
    .await;
    let total =
        "gatehouse_requests_total{protocol=\"rest\",route=\"-\",method=\"GET\",status=\"200\"}";
    assert_eq!(metrics.value(total), None);
    response.into_body().collect().await.unwrap();
    assert_eq!(metrics.value(total), Some(1.0));
    let line = &lines.wait_for(1).await[0];
    assert_eq!(line["bytes_out"], 16);
    assert!(line.get("aborted").is_none());
}

#[tokio::test]
async fn a_client_that_leaves_before_the_answer_is_logged_as_aborted() {
    let metrics = Metrics::record();
    let lines = Lines::default();
    let service =
        service_fn(|_: Request<Body>| std::future::pending::<Result<Response<Body>, Infallible>>());
    let call = ServiceBuilder::new()
        .layer(AccessLogLayer::with_writer(lines.clone()))
        .service(service)
        .oneshot(request("GET", "/v1/slow", &[]));
    // The client gives up (the server drops the request's future).
    assert!(
        tokio::time::timeout(Duration::from_millis(20), call)
            .await
            .is_err()
    );
    let line = &lines.wait_for(1).await[0];
    assert_eq!(line["status"], 499);
    assert_eq!(line["aborted"], true);
    assert_eq!(
        metrics.value(
            "gatehouse_requests_total{protocol=\"rest\",route=\"-\",method=\"GET\",status=\"499\"}"
        ),
        Some(1.0)
    );
    assert_eq!(
        metrics.value("gatehouse_requests_in_flight{protocol=\"rest\"}"),
        Some(0.0)
    );
}

#[tokio::test]
async fn a_grpc_stream_dropped_midway_is_cancelled() {
    let metrics = Metrics::record();
    let lines = Lines::default();
    let request = request(
        "POST",
        "/users.v1.UserService/WatchUsers",
        &[("content-type", "application/grpc")],
    );
    let response = serve_one(AccessLogLayer::with_writer(lines.clone()), request, || {
        let frames = stream::iter([Ok::<_, Infallible>(Frame::data(Bytes::from_static(
            b"\0\0\0\0\x01a",
        )))])
        .chain(stream::pending());
        Response::new(Body::new(StreamBody::new(frames)))
    })
    .await;
    let mut body = response.into_body();
    body.frame().await.unwrap().unwrap();
    drop(body);
    let line = &lines.wait_for(1).await[0];
    assert_eq!(line["aborted"], true);
    assert_eq!(line["grpc_status"], 1);
    assert_eq!(line["bytes_out"], 6);
    assert_eq!(
        metrics.value(
            "gatehouse_requests_total{protocol=\"grpc\",route=\"-\",method=\"POST\",status=\"CANCELLED\"}"
        ),
        Some(1.0),
        "{}",
        metrics.text()
    );
}

#[tokio::test]
async fn trace_context_is_made_valid_before_the_log_reads_it() {
    let _metrics = Metrics::record();
    let lines = Lines::default();
    // The service answers with the trace headers it was given.
    let service = service_fn(|request: Request<Body>| async move {
        let mut response = Response::new(Body::empty());
        for name in ["traceparent", "tracestate"] {
            if let Some(value) = request.headers().get(name) {
                response.headers_mut().insert(name, value.clone());
            }
        }
        Ok::<_, Infallible>(response)
    });
    let stack = ServiceBuilder::new()
        .layer(RequestSpanLayer)
        .layer(AccessLogLayer::with_writer(lines.clone()))
        .service(service);

    let kept = stack
        .clone()
        .oneshot(request(
            "GET",
            "/",
            &[("traceparent", TRACEPARENT), ("tracestate", "vendor=1")],
        ))
        .await
        .unwrap();
    assert_eq!(kept.headers()["traceparent"], TRACEPARENT);
    assert_eq!(kept.headers()["tracestate"], "vendor=1");

    let forged = stack
        .oneshot(request(
            "GET",
            "/",
            &[
                (
                    "traceparent",
                    "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
                ),
                ("tracestate", "vendor=1"),
            ],
        ))
        .await
        .unwrap();
    let started = forged.headers()["traceparent"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        gatehouse::telemetry::trace::is_valid_traceparent(started.as_bytes()),
        "{started}"
    );
    assert!(forged.headers().get("tracestate").is_none());

    let logged = lines.wait_for(2).await;
    assert_eq!(logged[0]["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(logged[1]["trace_id"], &started[3..35]);
}

// ----- Through a real gateway -----

#[tokio::test]
async fn upstream_calls_are_counted_per_endpoint() {
    let metrics = Metrics::record();
    let echo = Echo::spawn().await;
    let gw = TestGateway::builder()
        .echo_at(format!("http://{}", echo.addr))
        .start()
        .await;
    for _ in 0..3 {
        let response = gw.get("/v1/echo/hi").send().await.unwrap();
        assert_eq!(response.status(), 200);
    }
    let endpoint = echo.addr.to_string();
    let text = metrics.text();
    assert_eq!(
        metrics.value(&format!(
            "gatehouse_upstream_calls_total{{backend=\"echo\",endpoint=\"{endpoint}\",outcome=\"ok\"}}"
        )),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        metrics.value("gatehouse_upstream_call_duration_seconds_count{backend=\"echo\"}"),
        Some(3.0)
    );
    assert_eq!(
        metrics.value("gatehouse_upstream_in_flight{backend=\"echo\"}"),
        Some(0.0)
    );
    assert_eq!(
        metrics.value("gatehouse_pool_endpoints{backend=\"echo\",state=\"healthy\"}"),
        Some(1.0),
        "{text}"
    );
}

#[tokio::test]
async fn connect_failures_are_counted_and_retried() {
    let metrics = Metrics::record();
    let fleet = Fleet::start(1).await;
    // A port nothing listens on.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let endpoints = format!(
        "[\"http://{closed}\", \"{}\"]",
        fleet.instances[0].endpoint()
    );
    let gw = TestGateway::builder()
        .echo_pool(&endpoints, "")
        .start()
        .await;
    // Each call draws one of the two endpoints first; 40 calls all miss the closed one with
    // probability 2^-40.
    for _ in 0..40 {
        let response = gw.get("/v1/echo/x").send().await.unwrap();
        assert_eq!(response.status(), 200);
        if metrics
            .value(&format!(
                "gatehouse_upstream_calls_total{{backend=\"echo\",endpoint=\"{closed}\",\
                 outcome=\"connect_failed\"}}"
            ))
            .is_some()
        {
            break;
        }
    }
    let text = metrics.text();
    assert!(
        metrics
            .value("gatehouse_upstream_retries_total{backend=\"echo\",reason=\"connect_failed\"}")
            .is_some_and(|n| n >= 1.0),
        "{text}"
    );
}

#[tokio::test]
async fn ejections_and_pool_states_are_published() {
    let metrics = Metrics::record();
    let fleet = Fleet::start(2).await;
    fleet.instances[0].set_failure(Some(tonic::Code::Unavailable));
    let failing = fleet.instances[0].endpoint().replace("http://", "");
    // Two UNAVAILABLE answers in a row eject the failing instance for a minute; idempotent
    // calls it fails are sent to the other one.
    let keys = "[backends.outlier]\nconsecutive_failures = 2\nbase_ejection_time = \"60s\"\n\
                max_ejected_percent = 50\n";
    let gw = TestGateway::builder()
        .echo_pool(&fleet.endpoints_toml(), keys)
        .start()
        .await;
    let ejections =
        format!("gatehouse_upstream_ejections_total{{backend=\"echo\",endpoint=\"{failing}\"}}");
    for _ in 0..40 {
        let response = gw.get("/v1/echo/x").send().await.unwrap();
        assert_eq!(response.status(), 200);
        if metrics.value(&ejections).is_some() {
            break;
        }
    }
    let text = metrics.text();
    assert_eq!(metrics.value(&ejections), Some(1.0), "{text}");
    let state = |state: &str| {
        metrics.value(&format!(
            "gatehouse_pool_endpoints{{backend=\"echo\",state=\"{state}\"}}"
        ))
    };
    assert_eq!(
        (state("healthy"), state("ejected"), state("unhealthy")),
        (Some(1.0), Some(1.0), Some(0.0)),
        "{text}"
    );
    assert_eq!(
        metrics.value(&format!(
            "gatehouse_upstream_calls_total{{backend=\"echo\",endpoint=\"{failing}\",\
             outcome=\"unavailable\"}}"
        )),
        Some(2.0),
        "{text}"
    );
    assert!(
        metrics
            .value("gatehouse_upstream_retries_total{backend=\"echo\",reason=\"unavailable\"}")
            .is_some_and(|n| n >= 2.0),
        "{text}"
    );
}

#[tokio::test]
async fn auth_failures_are_counted_by_reason() {
    let metrics = Metrics::record();
    let key = "k3y-for-the-telemetry-test";
    let hash: String = Sha256::digest(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let gw = TestGateway::with_config(&format!(
        "[auth]\ndefault = \"authenticated\"\n\n\
         [[auth.api_keys]]\nname = \"job\"\nsha256 = \"{hash}\"\nroles = [\"reports\"]\n\n\
         [[routes]]\nmethod = \"gatehouse.echo.v1.EchoService/EchoDelete\"\nroles = [\"admin\"]\n"
    ))
    .await;
    let status = |response: reqwest::Response| response.status().as_u16();
    assert_eq!(status(gw.get("/v1/echo/x").send().await.unwrap()), 401);
    let wrong = gw.get("/v1/echo/x").header("x-api-key", "guess");
    assert_eq!(status(wrong.send().await.unwrap()), 401);
    let twice = gw
        .get("/v1/echo/x")
        .header("x-api-key", key)
        .header("x-api-key", key);
    assert_eq!(status(twice.send().await.unwrap()), 401);
    let without_role = gw.request("DELETE", "/v1/echo/x").header("x-api-key", key);
    assert_eq!(status(without_role.send().await.unwrap()), 403);
    let allowed = gw.get("/v1/echo/x").header("x-api-key", key);
    assert_eq!(status(allowed.send().await.unwrap()), 200);

    let text = metrics.text();
    for reason in ["missing", "unknown_api_key", "ambiguous", "forbidden"] {
        assert_eq!(
            metrics.value(&format!(
                "gatehouse_auth_failures_total{{reason=\"{reason}\"}}"
            )),
            Some(1.0),
            "{reason}\n{text}"
        );
    }
    assert!(!text.contains(key) && !text.contains("guess"));
}

/// The request id differs on every request, so the stack marks it "never indexed" (HPACK's
/// sensitive flag, which h2 honours when it encodes and does not report when it decodes): in an
/// HTTP/2 client's header table it would push out the headers that repeat. The id the gateway
/// makes and the one the client sends are both echoed that way.
#[tokio::test]
async fn the_echoed_request_id_is_marked_not_to_be_indexed() {
    let config = gatehouse::config::Config::parse("ids.toml", "").unwrap();
    let service = gatehouse::stack::service(gatehouse::gateway::Gateway::new(&config).unwrap());
    for sent in [None, Some("client-chosen-id")] {
        let mut request = Request::get("/nowhere");
        if let Some(id) = sent {
            request = request.header("x-request-id", id);
        }
        let response = service
            .clone()
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        let id = &response.headers()["x-request-id"];
        if let Some(sent) = sent {
            assert_eq!(id, sent);
        }
        assert!(id.is_sensitive(), "{id:?} may be indexed");
    }
}
