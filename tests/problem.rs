//! `[server] errors = "problem"`: REST errors as RFC 9457 problem details, over real sockets.
//! Every error keeps its status and headers and answers `application/problem+json` with
//! `type`, `title`, `status`, `detail` and the google.rpc `code` and `details`; backend
//! internals stay redacted; gRPC answers are not affected; the default stays the status shape;
//! a reload switches the format.

mod common;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use common::tokens::JwksFile;
use common::{
    ECHO_SERVICE, Echo, STACK_TRACE, TestGateway, VIOLATION_DESCRIPTION, VIOLATION_FIELD,
    expect_error, field_violations,
};
use gatehouse::config::Config;
use gatehouse::error::GatewayError;
use gatehouse::gateway::{Gateway, Handle};
use serde_json::{Value, json};

const PROBLEM: &str = "[server]\nerrors = \"problem\"\n";

/// Asserts a problem details answer with this status, type suffix and google.rpc code, and
/// every member; returns the body.
async fn expect_problem(response: reqwest::Response, status: u16, kind: &str, code: i32) -> Value {
    assert_eq!(response.status(), status, "{:?}", response.headers());
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let title = response
        .status()
        .canonical_reason()
        .unwrap_or("Client Closed Request");
    let text = response.text().await.unwrap();
    assert!(
        text.starts_with("{\"type\":\"urn:gatehouse:error:"),
        "members in the RFC's order: {text}"
    );
    let body: Value = serde_json::from_str(&text).expect("a JSON body");
    let members: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut sorted = members.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        ["code", "detail", "details", "status", "title", "type"],
        "{body}"
    );
    assert_eq!(
        body["type"],
        format!("urn:gatehouse:error:{kind}"),
        "{body}"
    );
    assert_eq!(body["title"], title, "{body}");
    assert_eq!(body["status"], status, "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert!(body["detail"].is_string(), "{body}");
    assert!(body["details"].is_array(), "{body}");
    body
}

/// The `reason` of the gatehouse ErrorInfo in `details`.
fn error_info_reason(body: &Value) -> Option<&str> {
    body["details"]
        .as_array()?
        .iter()
        .find(|d| d["@type"] == "type.googleapis.com/google.rpc.ErrorInfo")?["reason"]
        .as_str()
}

/// POST /v1/echo asking the echo backend to fail with `code` and `message`, with its
/// BadRequest and DebugInfo details.
async fn backend_failure(gw: &TestGateway, code: i32, message: &str) -> reqwest::Response {
    let request = json!({ "fail": {"code": code, "message": message, "withDetails": true} });
    gw.post_json("/v1/echo", &request.to_string())
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn gateway_errors_are_problem_details() {
    let gw = TestGateway::with_config(PROBLEM).await;

    let body = expect_problem(
        gw.get("/nope").send().await.unwrap(),
        404,
        "route-not-found",
        5,
    )
    .await;
    assert_eq!(body["detail"], "no route matches this path");
    assert_eq!(error_info_reason(&body), Some("ROUTE_NOT_FOUND"));
    assert_eq!(body["details"][0]["domain"], "gatehouse");

    let response = gw.get("/v1/echo").send().await.unwrap();
    assert_eq!(response.headers()["allow"], "POST");
    expect_problem(response, 405, "method-not-allowed", 12).await;

    let response = gw.get("/v1/echo/x?int32Field=abc").send().await.unwrap();
    let body = expect_problem(response, 400, "invalid-field", 3).await;
    assert_eq!(
        body["details"][0]["@type"],
        "type.googleapis.com/google.rpc.BadRequest"
    );
    assert_eq!(field_violations(&body)[0].0, "int32Field", "{body}");
    assert_eq!(error_info_reason(&body), Some("INVALID_FIELD"));
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .starts_with("invalid value for field \"int32Field\""),
        "{body}"
    );

    let response = gw
        .post_json("/v1/echo", r#"{"int32Field": "#)
        .send()
        .await
        .unwrap();
    expect_problem(response, 400, "invalid-json", 3).await;
}

#[tokio::test]
async fn backend_statuses_are_problem_details_with_their_details() {
    let gw = TestGateway::with_config(PROBLEM).await;

    let response = backend_failure(&gw, 5, "widget 42 does not exist").await;
    let body = expect_problem(response, 404, "backend-status", 5).await;
    assert_eq!(
        body,
        json!({
            "type": "urn:gatehouse:error:backend-status",
            "title": "Not Found",
            "status": 404,
            "detail": "widget 42 does not exist",
            "code": 5,
            "details": [{
                "@type": "type.googleapis.com/google.rpc.BadRequest",
                "fieldViolations": [{
                    "field": VIOLATION_FIELD,
                    "description": VIOLATION_DESCRIPTION,
                }],
            }],
        })
    );

    // INTERNAL: the message is still redacted, and DebugInfo still dropped.
    let response = backend_failure(&gw, 13, "db password is hunter2").await;
    let body = expect_problem(response, 500, "backend-status", 13).await;
    assert_eq!(body["detail"], "internal error");
    assert_eq!(body["title"], "Internal Server Error");
    let text = body.to_string();
    assert!(
        !text.contains("hunter2") && !text.contains(STACK_TRACE),
        "{body}"
    );

    // CANCELLED maps to 499, which has no standard reason phrase.
    let response = backend_failure(&gw, 1, "the caller went away").await;
    expect_problem(response, 499, "backend-status", 1).await;
}

#[tokio::test]
async fn credential_and_rate_limit_errors_keep_their_headers() {
    let jwks = JwksFile::write();
    let gw = TestGateway::with_config(&format!(
        "{PROBLEM}\n{}\n[[routes]]\nmethod = \"gatehouse.echo.v1.EchoService/EchoBook\"\n\
         auth = \"public\"\nrate_limit = {{ per_minute = 1, burst = 1 }}\n",
        jwks.auth_toml()
    ))
    .await;

    let response = gw.get("/v1/echo/x").send().await.unwrap();
    assert_eq!(
        response.headers()["www-authenticate"],
        "Bearer realm=\"gatehouse\""
    );
    let body = expect_problem(response, 401, "unauthenticated", 16).await;
    assert_eq!(
        body["detail"],
        "this route needs a bearer token or an API key"
    );

    let book = "/v1/shelves/s/books/b";
    assert_eq!(gw.get(book).send().await.unwrap().status(), 200);
    let response = gw.get(book).send().await.unwrap();
    let headers = response.headers().clone();
    assert!(headers.contains_key("retry-after"), "{headers:?}");
    assert_eq!(headers["ratelimit-limit"], "1");
    assert_eq!(headers["ratelimit-remaining"], "0");
    expect_problem(response, 429, "rate-limited", 8).await;
}

#[tokio::test]
async fn an_unreachable_backend_is_a_problem_with_retry_after() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let gw = TestGateway::builder()
        .echo_at(format!("http://127.0.0.1:{port}"))
        .config(PROBLEM)
        .start()
        .await;
    let response = gw.get("/v1/echo/x").send().await.unwrap();
    assert_eq!(response.headers()["retry-after"], "1");
    let body = expect_problem(response, 503, "upstream-unavailable", 14).await;
    assert_eq!(body["title"], "Service Unavailable");
    assert!(!body.to_string().contains(&port.to_string()), "{body}");
}

#[tokio::test]
async fn a_head_answer_has_the_problem_length_and_no_body() {
    let gw = TestGateway::with_config(PROBLEM).await;
    let get = gw.get("/nope").send().await.unwrap().bytes().await.unwrap();
    let response = gw.request("HEAD", "/nope").send().await.unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    assert_eq!(
        response.headers()["content-length"],
        get.len().to_string().as_str()
    );
    assert!(response.bytes().await.unwrap().is_empty());
}

#[tokio::test]
async fn grpc_answers_are_not_affected() {
    let gw = TestGateway::with_config(PROBLEM).await;
    let client = reqwest::Client::builder()
        .no_proxy()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let response = client
        .post(gw.url("/gatehouse.echo.v1.EchoService/Nope"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(vec![0u8, 0, 0, 0, 0])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["grpc-status"], "12");
    assert_ne!(
        response.headers().get("content-type").unwrap(),
        "application/problem+json"
    );
}

#[tokio::test]
async fn the_default_is_the_status_shape() {
    let gw = TestGateway::start().await;
    let response = gw.get("/nope").send().await.unwrap();
    let body = expect_error(response, 404, 5, "ROUTE_NOT_FOUND").await;
    assert_eq!(
        body.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["code", "details", "message"]
    );
}

#[tokio::test]
async fn a_reload_switches_the_format() {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("problem-reload.toml");
    std::fs::write(&path, "[telemetry]\naccess_log = \"off\"\n").unwrap();
    let gateway = Gateway::new(&Config::load(&path).unwrap()).unwrap();
    let limits = gateway.connection_limits();
    let handle = Handle::new(gateway);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/nope", listener.local_addr().unwrap());
    tokio::spawn(gatehouse::listener::serve(
        listener,
        gatehouse::stack::for_handle(&handle),
        limits,
        std::future::pending(),
    ));
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let content_type = |response: &reqwest::Response| {
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_string()
    };

    let response = client.get(&url).send().await.unwrap();
    assert_eq!(content_type(&response), "application/json");

    std::fs::write(
        &path,
        format!("{PROBLEM}[telemetry]\naccess_log = \"off\"\n"),
    )
    .unwrap();
    let restart = gatehouse::reload::reload(&handle, &path).await.unwrap();
    assert!(restart.is_empty(), "{restart:?}");
    let response = client.get(&url).send().await.unwrap();
    expect_problem(response, 404, "route-not-found", 5).await;

    std::fs::write(&path, "[telemetry]\naccess_log = \"off\"\n").unwrap();
    gatehouse::reload::reload(&handle, &path).await.unwrap();
    let response = client.get(&url).send().await.unwrap();
    assert_eq!(content_type(&response), "application/json");
}

/// Reads what the gateway answers on `socket` until it closes, up to 10 s.
async fn read_all(socket: &mut tokio::net::TcpStream) -> String {
    use tokio::io::AsyncReadExt as _;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), socket.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

/// The body of the one HTTP/1.1 answer in `answer`, as JSON.
fn answer_body(answer: &str) -> Value {
    let (_, body) = answer.split_once("\r\n\r\n").expect("a head and a body");
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {answer}"))
}

#[tokio::test]
async fn the_listeners_and_the_bodys_408_are_problem_details() {
    use tokio::io::AsyncWriteExt as _;
    let gw = TestGateway::with_config(&format!(
        "{PROBLEM}header_read_timeout = \"200ms\"\nbody_timeout = \"200ms\"\n"
    ))
    .await;

    // Headers that never end: the listener answers before any request exists.
    let mut socket = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    socket
        .write_all(b"GET /v1/echo/x HTTP/1.1\r\nhost: gatehouse\r\n")
        .await
        .unwrap();
    let answer = read_all(&mut socket).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        answer.contains("content-type: application/problem+json\r\n"),
        "{answer}"
    );
    let body = answer_body(&answer);
    assert_eq!(body["type"], "urn:gatehouse:error:header-timeout", "{body}");
    assert_eq!((&body["status"], &body["code"]), (&json!(408), &json!(4)));

    // A body that never ends: answered by the dispatcher.
    let mut socket = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    socket
        .write_all(
            b"POST /v1/echo HTTP/1.1\r\nhost: gatehouse\r\ncontent-type: application/json\r\n\
              content-length: 100\r\n\r\n{\"stringField\":",
        )
        .await
        .unwrap();
    let answer = read_all(&mut socket).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        answer.contains("content-type: application/problem+json\r\n"),
        "{answer}"
    );
    let body = answer_body(&answer);
    assert_eq!(body["type"], "urn:gatehouse:error:body-timeout", "{body}");
    assert_eq!(body["title"], "Request Timeout");
}

#[tokio::test]
async fn a_full_gateway_sheds_load_as_a_problem() {
    let gw = Arc::new(
        TestGateway::with_config(&format!("{PROBLEM}max_concurrent_requests = 1\n")).await,
    );
    let slow = {
        let gw = gw.clone();
        tokio::spawn(async move {
            let response = gw.get("/v1/echo/x?delayMs=1500").send().await.unwrap();
            response.status().as_u16()
        })
    };
    // Wait until the slow call holds the one slot: then the next call is shed.
    let mut shed = None;
    for _ in 0..100 {
        let response = gw.get("/v1/echo/x").send().await.unwrap();
        if response.status() == 503 {
            shed = Some(response);
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let response = shed.expect("a call beyond the limit is shed");
    assert_eq!(response.headers()["retry-after"], "1");
    expect_problem(response, 503, "overloaded", 14).await;
    assert_eq!(slow.await.unwrap(), 200);
}

async fn boom() -> &'static str {
    panic!("a custom handler panics")
}

#[tokio::test]
async fn custom_routes_errors_and_panics_are_problem_details() {
    let echo = Echo::spawn().await;
    let toml = format!(
        "{PROBLEM}\n[[backends]]\nname = \"echo\"\nservices = [\"{ECHO_SERVICE}\"]\n\
         endpoints = [\"http://{}\"]\n\n[telemetry]\naccess_log = \"off\"\n",
        echo.addr
    );
    let gateway = Gateway::new(&Config::parse("custom.toml", &toml).unwrap()).unwrap();
    let limits = gateway.connection_limits();
    let custom = axum::Router::new()
        .route(
            "/custom/forbidden",
            get(|| async { Err::<String, _>(GatewayError::PermissionDenied("not yours".into())) }),
        )
        .route("/custom/boom", get(boom));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(gatehouse::listener::serve(
        listener,
        gatehouse::stack::service_with(gateway, custom),
        limits,
        std::future::pending(),
    ));
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let get_path = |path: &str| client.get(format!("{base}{path}")).send();

    let response = get_path("/custom/forbidden").await.unwrap();
    let body = expect_problem(response, 403, "permission-denied", 7).await;
    assert_eq!(body["detail"], "not yours");

    let response = get_path("/custom/boom").await.unwrap();
    let body = expect_problem(response, 500, "internal", 13).await;
    assert_eq!(body["detail"], "internal error");
    assert!(!body.to_string().contains("panics"), "{body}");

    // Generated routes behind the custom ones follow too.
    expect_problem(get_path("/nope").await.unwrap(), 404, "route-not-found", 5).await;
}

#[tokio::test]
async fn a_stream_error_before_the_first_message_is_a_problem_and_after_it_stays_in_stream() {
    let gw = TestGateway::with_config(PROBLEM).await;
    let before = "/v1/stream/hi?int32Field=0&fail.code=5&fail.message=no+such+thing";
    for accept in ["application/x-ndjson", "text/event-stream"] {
        let response = gw
            .get(before)
            .header("accept", accept)
            .send()
            .await
            .unwrap();
        let body = expect_problem(response, 404, "backend-status", 5).await;
        assert_eq!(body["detail"], "no such thing");
    }

    let after = "/v1/stream/hi?int32Field=1&fail.code=9&fail.message=stock+ran+out";
    let response = gw.get(after).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    let last: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(
        last,
        json!({"error": {"code": 9, "message": "stock ran out", "details": []}}),
        "{text}"
    );
}
