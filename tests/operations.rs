//! What operators see: metrics after known traffic, trace context reaching backends, and the
//! access log of the real binary.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::{Gatehouse, Instance, TestGateway};
use gatehouse::proto::gatehouse::echo::v1::Kitchen;
use gatehouse::proto::gatehouse::echo::v1::echo_service_client::EchoServiceClient;
use gatehouse::telemetry::trace::is_valid_traceparent;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tonic::transport::Channel;

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// The value of one series in Prometheus text.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test]
async fn requests_are_counted_by_route_and_traced_to_the_backend() {
    let metrics = gatehouse::telemetry::metrics::install();
    let gw = TestGateway::with_config(
        "[[routes]]\nmethod = \"gatehouse.echo.v1.EchoService/EchoFile\"\n\
         rate_limit = { per_minute = 1, burst = 1 }\n",
    )
    .await;
    // No traceparent: the gateway starts one and the backend receives it.
    for _ in 0..2 {
        let response = gw.get("/v1/echo/hi").send().await.unwrap();
        assert_eq!(response.status(), 200);
        let sent = response.headers()["grpc-metadata-echo-traceparent"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(is_valid_traceparent(sent.as_bytes()), "{sent}");
    }
    // A valid one passes as it is, with its tracestate; an invalid one is replaced.
    let response = gw
        .get("/v1/echo/hi")
        .header("traceparent", TRACEPARENT)
        .header("tracestate", "vendor=1")
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["grpc-metadata-echo-traceparent"],
        TRACEPARENT
    );
    assert_eq!(
        response.headers()["grpc-metadata-echo-tracestate"],
        "vendor=1"
    );
    let response = gw
        .get("/v1/echo/hi")
        .header("traceparent", "garbage")
        .header("tracestate", "vendor=1")
        .send()
        .await
        .unwrap();
    assert_ne!(
        response.headers()["grpc-metadata-echo-traceparent"],
        "garbage"
    );
    assert!(
        response
            .headers()
            .get("grpc-metadata-echo-tracestate")
            .is_none()
    );

    // gRPC through the ingress: counted by method path, traced the same way.
    let channel = Channel::from_shared(gw.url(""))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = EchoServiceClient::new(channel);
    let mut request = tonic::Request::new(Kitchen::default());
    request
        .metadata_mut()
        .insert("traceparent", TRACEPARENT.parse().unwrap());
    let reply = client.echo(request).await.unwrap();
    assert_eq!(
        reply.metadata().get("echo-traceparent").unwrap(),
        TRACEPARENT
    );
    client.echo(Kitchen::default()).await.unwrap();

    // Rate limited: counted with its route and key kind.
    assert_eq!(gw.get("/v1/files/a").send().await.unwrap().status(), 200);
    assert_eq!(gw.get("/v1/files/a").send().await.unwrap().status(), 429);

    let text = metrics.render();
    let rest = "gatehouse_requests_total{protocol=\"rest\",route=\"/v1/echo/{string_field}\",\
                method=\"GET\",status=\"200\"}";
    assert_eq!(value(&text, rest), Some(4.0), "{text}");
    let grpc = "gatehouse_requests_total{protocol=\"grpc\",\
                route=\"/gatehouse.echo.v1.EchoService/Echo\",method=\"POST\",status=\"OK\"}";
    assert_eq!(value(&text, grpc), Some(2.0), "{text}");
    let limited = "gatehouse_rate_limited_total{route=\"/v1/files/{path=**}\",key=\"ip\"}";
    assert_eq!(value(&text, limited), Some(1.0), "{text}");
    assert_eq!(
        value(&text, "gatehouse_requests_in_flight{protocol=\"rest\"}"),
        Some(0.0)
    );
    assert_eq!(
        value(&text, "gatehouse_requests_in_flight{protocol=\"grpc\"}"),
        Some(0.0)
    );
    assert!(
        text.contains("gatehouse_upstream_calls_total{backend=\"echo\""),
        "{text}"
    );
    assert!(
        text.contains("gatehouse_request_duration_seconds_bucket"),
        "{text}"
    );
    assert!(text.contains("gatehouse_build_info{version="), "{text}");
}

#[tokio::test]
async fn the_binary_writes_one_json_access_line_per_request_without_secrets() {
    let backend = Instance::start(0).await;
    let key = "an-api-key-that-must-not-be-logged";
    let hash: String = Sha256::digest(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let config = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n[admin]\nlisten = \"127.0.0.1:0\"\n\
         [[backends]]\nname = \"echo\"\nservices = [\"gatehouse.echo.v1.EchoService\"]\n\
         endpoints = [\"{}\"]\n[[auth.api_keys]]\nname = \"reporting\"\nsha256 = \"{hash}\"\n",
        backend.endpoint()
    );
    let path = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("access-log.toml");
    std::fs::write(&path, config).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(["serve", "--config"])
        .arg(&path)
        .env("RUST_LOG", "off")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let base = loop {
        let line = lines.next().expect("a banner").unwrap();
        if let Some(rest) = line.strip_prefix("gatehouse listening on ") {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let response = http
        .get(format!("{base}/v1/echo/hi?choiceText=query-value"))
        .header("x-api-key", key)
        .send()
        .await
        .unwrap();
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(response.status(), 200);
    let missing = http.get(format!("{base}/nowhere")).send().await.unwrap();
    assert_eq!(missing.status(), 404);

    // Read access lines until both requests are there (the log is written off the request path).
    let reader = std::thread::spawn(move || {
        let mut found = Vec::new();
        for line in lines.map_while(Result::ok) {
            if let Ok(entry) = serde_json::from_str::<Value>(&line) {
                found.push((line, entry));
                if found.len() == 2 {
                    break;
                }
            }
        }
        found
    });
    let found = tokio::task::spawn_blocking(move || reader.join().unwrap())
        .await
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let (raw, ok) = found
        .iter()
        .find(|(_, e)| e["status"] == 200)
        .expect("the 200 is logged");
    assert_eq!(ok["route"], "/v1/echo/{string_field}");
    assert_eq!(ok["method"], "GET");
    assert_eq!(ok["request_id"], request_id.as_str());
    assert_eq!(ok["subject"], "reporting");
    assert_eq!(ok["upstream"], backend.addr.to_string());
    assert!(ok["latency_ms"].is_number() && ok["time"].is_string() && ok["client"].is_string());
    for secret in [key, "query-value", "choiceText"] {
        assert!(!raw.contains(secret), "{secret} in {raw}");
    }
    let (_, missing) = found
        .iter()
        .find(|(_, e)| e["status"] == 404)
        .expect("the 404 is logged");
    assert_eq!(missing["route"], "-");
}

/// A backend that is down fails every request with 503, but the WARN line for a failed
/// request is written at most 10 times a second: the log stays readable and the gateway does
/// not spend its CPU on it. Every failure is still in the metrics.
#[tokio::test]
async fn failed_requests_are_logged_within_a_budget() {
    // A port nothing listens on.
    let down = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut gatehouse = Gatehouse::start_logging(
        "failure-log-budget",
        &format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n\n\
             [admin]\nlisten = \"127.0.0.1:0\"\n\n\
             [telemetry]\naccess_log = \"off\"\n\n\
             [[backends]]\nname = \"echo\"\nservices = [\"{}\"]\nendpoints = [\"http://{}\"]\n",
            common::ECHO_SERVICE,
            down
        ),
        "warn",
    );
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    const REQUESTS: usize = 300;
    let started = std::time::Instant::now();
    for _ in 0..REQUESTS {
        let response = client
            .get(format!("http://{}/v1/echo/down", gatehouse.rest))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 503);
    }
    let windows = started.elapsed().as_secs() as usize + 2;
    let metrics = gatehouse.metrics(&client).await;
    gatehouse.terminate();
    assert!(gatehouse.exited().await.success());

    let log = gatehouse.log();
    let lines = log.lines().filter(|l| l.contains("request failed")).count();
    assert!(lines >= 1, "no failure logged:\n{log}");
    assert!(
        lines <= 10 * windows && lines < REQUESTS,
        "{lines} failure lines for {REQUESTS} requests in at most {windows} seconds"
    );
    let counted: f64 = metrics
        .lines()
        .filter(|l| l.starts_with("gatehouse_requests_total{") && l.contains("status=\"503\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(counted, REQUESTS as f64, "{metrics}");
}
