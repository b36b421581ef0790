//! Server-streaming methods over REST: NDJSON by default, server-sent events when `Accept`
//! asks; errors before the first message keep their HTTP status, later ones end the stream
//! with an error object; the client's pace and departure reach the backend, and the deadline
//! covers the whole stream.
//!
//! The echo backend's `EchoStream` (`GET /v1/stream/{string_field}`) sends the request
//! `int32Field` times, `delayMs` apart, then `fail` if set, and counts what it produced and
//! which streams were dropped before their end.

mod common;

use std::time::{Duration, Instant};

use common::{Echo, EchoServer, TestGateway, error_reason, expect_error, expect_status, json_ok};
use serde_json::Value;

const NDJSON: &str = "application/x-ndjson";
const SSE: &str = "text/event-stream";

/// A gateway in front of an echo backend whose stream counters the test can read.
async fn start() -> (TestGateway, EchoServer) {
    let echo = Echo::spawn().await;
    let gw = TestGateway::builder()
        .echo_at(format!("http://{}", echo.addr))
        .start()
        .await;
    (gw, echo)
}

/// Waits (bounded) until `done`; the message names what never happened.
async fn eventually(what: &str, done: impl Fn() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "gave up waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .map_or("", |v| v.to_str().unwrap_or_default())
}

/// The NDJSON lines of a body, each parsed; every line must end with `\n`.
fn ndjson(body: &str) -> Vec<Value> {
    assert!(body.is_empty() || body.ends_with('\n'), "{body:?}");
    body.lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|e| panic!("line {line:?} is not JSON: {e}"))
        })
        .collect()
}

#[tokio::test]
async fn messages_are_ndjson_lines_by_default() {
    let (gw, _echo) = start().await;
    let unary = json_ok(gw.get("/v1/echo/hi?int32Field=3").send().await.unwrap()).await;

    let response = gw.get("/v1/stream/hi?int32Field=3").send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "content-type"), "application/x-ndjson");
    assert_eq!(header(&response, "cache-control"), "no-cache");
    assert_eq!(header(&response, "grpc-metadata-x-backend"), "echo");
    let lines = ndjson(&response.text().await.unwrap());
    assert_eq!(lines.len(), 3);
    for line in lines {
        // Rendered exactly as the unary method renders the same message.
        assert_eq!(line, unary);
    }
}

#[tokio::test]
async fn a_stream_without_messages_is_an_empty_body() {
    let (gw, _echo) = start().await;
    let response = gw.get("/v1/stream/hi?int32Field=0").send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "content-type"), "application/x-ndjson");
    assert_eq!(response.text().await.unwrap(), "");
}

#[tokio::test]
async fn messages_are_server_sent_events_when_accept_asks() {
    let (gw, _echo) = start().await;
    let unary = gw.get("/v1/echo/hi?int32Field=2").send().await.unwrap();
    let unary = unary.text().await.unwrap();

    let response = gw
        .get("/v1/stream/hi?int32Field=2")
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "content-type"), "text/event-stream");
    assert_eq!(header(&response, "cache-control"), "no-cache");
    let body = response.text().await.unwrap();
    assert_eq!(body, format!("data: {unary}\n\n").repeat(2));
}

#[tokio::test]
async fn accept_q_values_choose_the_format() {
    let (gw, _echo) = start().await;
    let table = [
        ("*/*", NDJSON),
        ("application/json", NDJSON),
        ("text/event-stream, application/x-ndjson", SSE),
        ("application/x-ndjson, text/event-stream", NDJSON),
        ("application/x-ndjson;q=0.5, text/event-stream", SSE),
        ("text/event-stream;q=0.5, application/x-ndjson", NDJSON),
        ("text/event-stream;q=0, */*", NDJSON),
        ("*/*;q=0.8, text/event-stream;charset=utf-8", SSE),
    ];
    for (accept, expected) in table {
        let response = gw
            .get("/v1/stream/hi?int32Field=1")
            .header("accept", accept)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "Accept: {accept}");
        assert_eq!(
            header(&response, "content-type"),
            expected,
            "Accept: {accept}"
        );
    }
}

#[tokio::test]
async fn an_error_before_the_first_message_has_its_own_status() {
    let (gw, _echo) = start().await;
    // No message to send first: the backend answers trailers-only.
    let path = "/v1/stream/hi?int32Field=0&fail.code=5&fail.message=no+such+thing";
    let response = gw.get(path).send().await.unwrap();
    let body = expect_status(response, 404, 5).await;
    assert_eq!(body["message"], "no such thing");

    // Whatever format was asked for, an error before any message is the one JSON shape.
    let response = gw
        .get(path)
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    expect_status(response, 404, 5).await;
}

#[tokio::test]
async fn a_backend_that_cannot_be_reached_is_a_503() {
    // Bound and closed again: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let gw = TestGateway::builder()
        .echo_at(format!("http://127.0.0.1:{port}"))
        .start()
        .await;
    let response = gw.get("/v1/stream/hi?int32Field=2").send().await.unwrap();
    expect_status(response, 503, 14).await;
}

#[tokio::test]
async fn an_error_after_messages_ends_the_ndjson_stream_with_an_error_object() {
    let (gw, _echo) = start().await;
    let response = gw
        .get("/v1/stream/hi?int32Field=2&fail.code=9&fail.message=stock+ran+out")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let lines = ndjson(&response.text().await.unwrap());
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert_eq!(lines[0]["stringField"], "hi");
    assert_eq!(lines[1]["stringField"], "hi");
    let error = &lines[2]["error"];
    assert_eq!(error["code"], 9, "{error}");
    assert_eq!(error["message"], "stock ran out", "{error}");
    assert!(error["details"].is_array(), "{error}");
}

#[tokio::test]
async fn an_error_after_messages_ends_the_event_stream_with_an_error_event() {
    let (gw, _echo) = start().await;
    let response = gw
        .get("/v1/stream/hi?int32Field=1&fail.code=9&fail.message=stock+ran+out")
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body = response.text().await.unwrap();
    let events: Vec<&str> = body.split_terminator("\n\n").collect();
    assert_eq!(events.len(), 2, "{body:?}");
    assert!(events[0].starts_with("data: {"), "{body:?}");
    let data = events[1]
        .strip_prefix("event: error\ndata: ")
        .unwrap_or_else(|| panic!("not an error event: {:?}", events[1]));
    let error: Value = serde_json::from_str(data).unwrap();
    assert_eq!(error["code"], 9, "{error}");
    assert_eq!(error["message"], "stock ran out", "{error}");
}

#[tokio::test]
async fn a_client_that_leaves_cancels_the_backend_stream() {
    let (gw, echo) = start().await;
    let mut response = gw
        .get("/v1/stream/hi?int32Field=100000&delayMs=10")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let first = response.chunk().await.unwrap().expect("a first message");
    assert!(first.ends_with(b"\n"));
    assert_eq!(echo.streams.cancelled(), 0);
    drop(response);
    eventually("the backend seeing the cancel", || {
        echo.streams.cancelled() == 1
    })
    .await;
}

#[tokio::test]
async fn a_client_that_does_not_read_holds_the_backend_back() {
    const MESSAGES: usize = 100_000;
    let (gw, echo) = start().await;
    let big = "x".repeat(1024);
    let mut response = gw
        .get(&format!("/v1/stream/{big}?int32Field={MESSAGES}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let first = response.chunk().await.unwrap().expect("a first chunk");
    // The client now reads nothing. Wait until the backend stops producing: every buffer
    // between it and the client is full.
    let mut produced = echo.streams.produced();
    let mut quiet = 0;
    let start = Instant::now();
    while quiet < 10 && produced < MESSAGES {
        assert!(start.elapsed() < Duration::from_secs(30), "never settled");
        tokio::time::sleep(Duration::from_millis(50)).await;
        let now = echo.streams.produced();
        quiet = if now == produced { quiet + 1 } else { 0 };
        produced = now;
    }
    println!(
        "backpressure: first chunk {} bytes; the backend produced {produced} of {MESSAGES} \
         messages of 1 KiB before it had to wait",
        first.len(),
    );
    assert!(
        produced < MESSAGES / 4,
        "the backend ran ahead of a client that reads nothing: {produced} messages"
    );
    drop(response);
    eventually("the backend seeing the cancel", || {
        echo.streams.cancelled() == 1
    })
    .await;
}

#[tokio::test]
async fn the_deadline_covers_the_whole_stream() {
    let (gw, echo) = start().await;
    let response = gw
        .get("/v1/stream/hi?int32Field=1000&delayMs=50")
        .header("grpc-timeout", "1S")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let lines = ndjson(&response.text().await.unwrap());
    assert!(lines.len() >= 2, "{lines:?}");
    let (error, messages) = lines.split_last().unwrap();
    assert!(messages.iter().all(|m| m["stringField"] == "hi"));
    let error = &error["error"];
    assert_eq!(error["code"], 4, "{error}");
    assert_eq!(error_reason(error), Some("DEADLINE_EXCEEDED"), "{error}");
    eventually("the backend seeing the cancel", || {
        echo.streams.cancelled() == 1
    })
    .await;
}

#[tokio::test]
async fn a_deadline_before_the_first_message_is_a_504() {
    let (gw, _echo) = start().await;
    let response = gw
        .get("/v1/stream/hi?int32Field=1&delayMs=10000")
        .header("grpc-timeout", "200m")
        .send()
        .await
        .unwrap();
    expect_error(response, 504, 4, "DEADLINE_EXCEEDED").await;
}

#[tokio::test]
async fn an_open_stream_counts_against_max_pending() {
    let echo = Echo::spawn().await;
    let gw = TestGateway::builder()
        .echo_pool(&format!("[\"http://{}\"]", echo.addr), "max_pending = 1")
        .start()
        .await;
    let mut response = gw
        .get("/v1/stream/hi?int32Field=100000&delayMs=10")
        .send()
        .await
        .unwrap();
    response.chunk().await.unwrap().expect("a first message");
    let refused = gw.get("/v1/echo/hi").send().await.unwrap();
    expect_error(refused, 503, 14, "UPSTREAM_OVERLOADED").await;

    drop(response);
    eventually("the backend seeing the cancel", || {
        echo.streams.cancelled() == 1
    })
    .await;
    // The stream's place is given back once its body is gone.
    let start = Instant::now();
    loop {
        let response = gw.get("/v1/echo/hi").send().await.unwrap();
        if response.status() == 200 {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "still refused");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn client_streaming_takes_the_body_as_its_stream() {
    // tests/client_streaming.rs has the rest.
    let (gw, _echo) = start().await;
    let response = gw
        .post_json("/v1/collect/x", "[{}, {}]")
        .send()
        .await
        .unwrap();
    let body = json_ok(response).await;
    assert_eq!(body["int32Field"], 2, "{body}");
}
