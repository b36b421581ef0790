//! `[telemetry] otlp_endpoint`: the real binary exports one server span per request to a real
//! OTLP/gRPC collector (a tonic `TraceService` here), joins the caller's trace, follows its
//! sampling decision, and hands backends its own span as their parent.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use common::{Echo, Gatehouse};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};

/// A span and the attributes of its resource.
type Received = (Span, Vec<KeyValue>);

/// A collector that keeps every span it is sent, with its resource's attributes.
#[derive(Clone, Default)]
struct Collector {
    spans: Arc<Mutex<Vec<Received>>>,
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let mut spans = self.spans.lock().unwrap();
        for resource_spans in request.into_inner().resource_spans {
            let resource = resource_spans.resource.unwrap_or_default().attributes;
            for scope in resource_spans.scope_spans {
                for span in scope.spans {
                    spans.push((span, resource.clone()));
                }
            }
        }
        Ok(Response::new(ExportTraceServiceResponse::default()))
    }
}

impl Collector {
    async fn spawn() -> (Collector, SocketAddr) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let collector = Collector::default();
        let service = TraceServiceServer::new(collector.clone());
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(TcpIncoming::from(listener)),
        );
        (collector, addr)
    }

    fn spans(&self) -> Vec<Received> {
        self.spans.lock().unwrap().clone()
    }
}

/// The attributes as text (ints printed), by key.
fn attributes(list: &[KeyValue]) -> HashMap<String, String> {
    list.iter()
        .map(|kv| {
            let value = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(AnyValue::StringValue(s)) => s.clone(),
                Some(AnyValue::IntValue(i)) => i.to_string(),
                Some(AnyValue::BoolValue(b)) => b.to_string(),
                other => format!("{other:?}"),
            };
            (kv.key.clone(), value)
        })
        .collect()
}

/// The `traceparent` the echo backend received, which it hands back as response metadata.
fn backend_traceparent(response: &reqwest::Response) -> String {
    response.headers()["grpc-metadata-echo-traceparent"]
        .to_str()
        .unwrap()
        .to_string()
}

const CALLER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";
const UNSAMPLED_TRACE: &str = "0af7651916cd43dd8448eb211c80319c";

#[tokio::test]
async fn request_spans_reach_the_collector_and_parent_the_backend_calls() {
    let (collector, collector_addr) = Collector::spawn().await;
    let echo = Echo::spawn().await;
    // Spans are exported whatever the log level.
    let mut gatehouse = Gatehouse::start_logging(
        "otlp",
        &format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n\n\
             [admin]\nlisten = \"127.0.0.1:0\"\n\n\
             [telemetry]\naccess_log = \"off\"\n\
             otlp_endpoint = \"http://{collector_addr}\"\notlp_service_name = \"edge-test\"\n\n\
             [[backends]]\nname = \"echo\"\nservices = [\"{}\"]\nendpoints = [\"http://{}\"]\n",
            common::ECHO_SERVICE,
            echo.addr
        ),
        "warn",
    );
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let url = |path: &str| format!("http://{}{path}", gatehouse.rest);

    // A caller in a sampled trace, with vendor state.
    let joined = client
        .get(url("/v1/echo/joined"))
        .header("traceparent", format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01"))
        .header("tracestate", "vendor=1")
        .send()
        .await
        .unwrap();
    assert_eq!(joined.status(), 200);
    let joined_parent = backend_traceparent(&joined);
    assert_eq!(
        joined.headers()["grpc-metadata-echo-tracestate"],
        "vendor=1"
    );
    // A caller with no trace: the gateway's span is the root.
    let rooted = client.get(url("/v1/echo/rooted")).send().await.unwrap();
    assert_eq!(rooted.status(), 200);
    let rooted_parent = backend_traceparent(&rooted);
    // A caller that decided not to sample: nothing exported, the decision passed on.
    let unsampled = client
        .get(url("/v1/echo/unsampled"))
        .header(
            "traceparent",
            format!("00-{UNSAMPLED_TRACE}-{CALLER_SPAN}-00"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(unsampled.status(), 200);
    let unsampled_parent = backend_traceparent(&unsampled);
    // A backend failure.
    let failed = client
        .get(url("/v1/echo/failed?fail.code=14&fail.message=down"))
        .header("x-request-id", "failed-1")
        .send()
        .await
        .unwrap();
    assert_eq!(failed.status(), 503);

    // The last batch leaves when the process stops.
    gatehouse.terminate();
    assert!(gatehouse.exited().await.success(), "{}", gatehouse.log());
    let spans = collector.spans();
    assert_eq!(
        spans.len(),
        3,
        "one span per sampled request and nothing else: {spans:#?}"
    );

    // The backend's parent is the gateway's span, in the caller's trace.
    let (joined_prefix, joined_span_id) = joined_parent.split_at(36);
    assert_eq!(joined_prefix, format!("00-{CALLER_TRACE}-"));
    let joined_span_id = &joined_span_id[..16];
    assert_ne!(joined_span_id, CALLER_SPAN);
    assert!(joined_parent.ends_with("-01"), "{joined_parent}");
    let (span, resource) = spans
        .iter()
        .find(|(s, _)| hex::encode(&s.trace_id) == CALLER_TRACE)
        .expect("the joined request's span");
    assert_eq!(hex::encode(&span.span_id), joined_span_id);
    assert_eq!(hex::encode(&span.parent_span_id), CALLER_SPAN);
    assert_eq!(span.name, "GET /v1/echo/{string_field}", "{span:?}");
    assert_eq!(span.kind, SpanKind::Server as i32);
    let attrs = attributes(&span.attributes);
    assert_eq!(attrs["http.request.method"], "GET");
    assert_eq!(attrs["http.route"], "/v1/echo/{string_field}");
    assert_eq!(attrs["http.response.status_code"], "200");
    assert_eq!(attrs["upstream.address"], echo.addr.to_string());
    assert!(
        !attrs.values().any(|v| v.contains("joined")),
        "no raw path in the span: {attrs:?}"
    );
    assert_ne!(
        span.status.as_ref().map(|s| s.code),
        Some(StatusCode::Error as i32)
    );
    assert!(span.end_time_unix_nano >= span.start_time_unix_nano);
    let resource = attributes(resource);
    assert_eq!(resource["service.name"], "edge-test");
    assert_eq!(resource["service.version"], env!("CARGO_PKG_VERSION"));

    // The root: a new trace, no parent, and the backend under it.
    let rooted_trace = &rooted_parent[3..35];
    let (span, _) = spans
        .iter()
        .find(|(s, _)| hex::encode(&s.trace_id) == rooted_trace)
        .expect("the rooted request's span");
    assert!(span.parent_span_id.is_empty(), "{span:?}");
    assert_eq!(hex::encode(&span.span_id), &rooted_parent[36..52]);
    assert!(rooted_parent.ends_with("-01"), "{rooted_parent}");

    // Unsampled: the trace goes on, unsampled, and nothing of it was exported.
    assert!(
        unsampled_parent.starts_with(&format!("00-{UNSAMPLED_TRACE}-")),
        "{unsampled_parent}"
    );
    assert!(unsampled_parent.ends_with("-00"), "{unsampled_parent}");
    assert!(
        !spans
            .iter()
            .any(|(s, _)| hex::encode(&s.trace_id) == UNSAMPLED_TRACE)
    );

    // The failure is marked as one.
    let (span, _) = spans
        .iter()
        .find(|(s, _)| attributes(&s.attributes)["http.response.status_code"] == "503")
        .expect("the failed request's span");
    assert_eq!(
        span.status.as_ref().map(|s| s.code),
        Some(StatusCode::Error as i32)
    );
    // Its log line names the request once, with the exported span's trace.
    let log = gatehouse.log();
    let line = log
        .lines()
        .find(|l| l.contains("request failed"))
        .unwrap_or_else(|| panic!("no line for the failure:\n{log}"));
    let named = format!(
        " WARN request{{request_id=\"failed-1\" trace_id=\"{}\" method=\"GET\" \
         route=\"/v1/echo/{{string_field}}\"}}: gatehouse::error: ",
        hex::encode(&span.trace_id)
    );
    assert!(line.contains(&named), "{line}");
    assert_eq!(line.matches("request{").count(), 1, "{line}");
}

#[tokio::test]
async fn export_settings_are_checked() {
    for (setting, key) in [
        (
            "otlp_endpoint = \"https://collector.example:4317\"",
            "telemetry.otlp_endpoint",
        ),
        (
            "otlp_endpoint = \"collector:4317\"",
            "telemetry.otlp_endpoint",
        ),
        ("otlp_sample_ratio = 1.5", "telemetry.otlp_sample_ratio"),
        ("otlp_service_name = \" \"", "telemetry.otlp_service_name"),
    ] {
        common::check_refuses("otlp-check", &format!("[telemetry]\n{setting}\n"), key);
    }
}

#[tokio::test]
async fn an_unreachable_collector_costs_spans_not_requests() {
    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let echo = Echo::spawn().await;
    let mut gatehouse = Gatehouse::start(
        "otlp-unreachable",
        &format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n\n\
             [admin]\nlisten = \"127.0.0.1:0\"\n\n\
             [telemetry]\naccess_log = \"off\"\notlp_endpoint = \"http://{closed}\"\n\n\
             [[backends]]\nname = \"echo\"\nservices = [\"{}\"]\nendpoints = [\"http://{}\"]\n",
            common::ECHO_SERVICE,
            echo.addr
        ),
    );
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    for i in 0..20 {
        let response = client
            .get(format!("http://{}/v1/echo/n{i}", gatehouse.rest))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    gatehouse.terminate();
    assert!(gatehouse.exited().await.success(), "{}", gatehouse.log());
    let log = gatehouse.log();
    assert!(
        log.contains("ExportError"),
        "the failed export is logged:\n{log}"
    );
}
