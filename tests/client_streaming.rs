//! Client-streaming methods over plain HTTP: the body is the request stream, as NDJSON lines
//! or the elements of a JSON array (or, for an `HttpBody` stream, the raw bytes in chunks);
//! each message is built as a unary body is and sent as soon as it is read; the answer is the
//! method's one response.
//!
//! The echo backend's `EchoCollect` (`POST /v1/collect/{string_field}`) answers the last
//! request with `int32Field` = how many arrived, and counts the calls that ended without the
//! caller's half-close; one whose first message has `stringField` "stall" stops reading.

mod common;
#[allow(dead_code)]
#[path = "common/misbehaving.rs"]
mod misbehaving;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{Echo, EchoServer, TestGateway, expect_error, expect_status, json_ok};
use futures_util::StreamExt;
use misbehaving::{Misbehaving, STATUS_OK, Step};
use serde_json::{Value, json};

const NDJSON: &str = "application/x-ndjson";
const ECHO: &str = "gatehouse.echo.v1.EchoService";

/// A gateway in front of an echo backend whose counters the test can read, with `toml` added.
async fn start(toml: &str) -> (TestGateway, EchoServer) {
    let echo = Echo::spawn().await;
    let gw = TestGateway::builder()
        .echo_at(format!("http://{}", echo.addr))
        .config(toml)
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

async fn collect(
    gw: &TestGateway,
    path: &str,
    content_type: &str,
    body: &str,
) -> reqwest::Response {
    gw.request("POST", path)
        .header("content-type", content_type)
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

/// A request body the test writes piece by piece, with a count of the bytes the client has
/// taken from it so far.
struct BodyWriter {
    sender: tokio::sync::mpsc::Sender<Result<Vec<u8>, std::io::Error>>,
}

fn streamed_body() -> (BodyWriter, reqwest::Body) {
    let (sender, receiver) = tokio::sync::mpsc::channel(1);
    let stream = futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|chunk| (chunk, receiver))
    });
    (BodyWriter { sender }, reqwest::Body::wrap_stream(stream))
}

impl BodyWriter {
    async fn write(&self, text: &str) {
        self.sender
            .send(Ok(text.as_bytes().to_vec()))
            .await
            .expect("the client still reads the body");
    }
}

#[tokio::test]
async fn ndjson_lines_are_the_request_stream() {
    let (gw, _echo) = start("").await;
    let body = "{\"int64Field\":\"7\"}\n\n{\"boolField\":true}\r\n  \n{\"doubleField\":2.5}";
    let answer = json_ok(collect(&gw, "/v1/collect/hi", NDJSON, body).await).await;
    // Three messages, the last one answered, the path variable in it.
    assert_eq!(answer["int32Field"], 3, "{answer}");
    assert_eq!(answer["doubleField"], 2.5, "{answer}");
    assert_eq!(answer["stringField"], "hi", "{answer}");
    assert!(answer.get("boolField").is_none(), "{answer}");
    // JSON Lines is the same framing.
    let answer =
        json_ok(collect(&gw, "/v1/collect/x", "application/jsonl", "{}\n{}\n").await).await;
    assert_eq!(answer["int32Field"], 2, "{answer}");
}

#[tokio::test]
async fn the_path_fills_every_message() {
    let (gw, _echo) = start("").await;
    // Each message of an array carries the path variable, over what the body says.
    let body = r#"[{"int64Field":"1"}, {"boolField":true, "stringField":"body"}]"#;
    let answer = json_ok(collect(&gw, "/v1/collect/both", "application/json", body).await).await;
    assert_eq!(
        answer,
        json!({"stringField": "both", "int32Field": 2, "boolField": true})
    );
}

#[tokio::test]
async fn array_elements_are_the_request_stream() {
    let (gw, _echo) = start("").await;
    let body = r#" [ {"repeatedString":["a,]", "}{"]}, {"nested":{"id":"[x"}} ] "#;
    let answer = json_ok(collect(&gw, "/v1/collect/arr", "application/json", body).await).await;
    assert_eq!(answer["int32Field"], 2, "{answer}");
    assert_eq!(answer["nested"]["id"], "[x", "{answer}");
}

#[tokio::test]
async fn an_empty_stream_is_zero_messages() {
    let (gw, _echo) = start("").await;
    for (content_type, body) in [(NDJSON, ""), (NDJSON, "\n \n"), ("application/json", "[]")] {
        let answer = json_ok(collect(&gw, "/v1/collect/none", content_type, body).await).await;
        // The backend's answer for none: an empty message with a count of 0.
        assert_eq!(answer, json!({}), "{content_type} {body:?}");
    }
}

#[tokio::test]
async fn a_json_body_must_be_an_array() {
    let (gw, echo) = start("").await;
    for body in [r#"{"int64Field":"1"}"#, "", "7"] {
        let response = collect(&gw, "/v1/collect/x", "application/json", body).await;
        let error = expect_error(response, 400, 3, "INVALID_JSON").await;
        let message = error["message"].as_str().unwrap();
        assert!(message.contains("JSON array"), "{body:?}: {error}");
        assert!(message.contains("NDJSON"), "{body:?}: {error}");
    }
    assert_eq!(echo.streams.collected(), 0);
}

/// The backend stalls after the first message, so the call is still open when the bad line
/// comes. (A tonic backend that is reading when the call is cancelled reads the reset as the
/// end of the requests: hyper ends a request body on RST_STREAM(CANCEL); the answer it then
/// sends goes nowhere.)
#[tokio::test]
async fn a_malformed_line_cancels_the_call_and_names_the_line() {
    let (gw, echo) = start("").await;
    let (writer, body) = streamed_body();
    let request = gw
        .request("POST", "/v1/collect/stall")
        .header("content-type", NDJSON)
        .body(body)
        .send();
    let response = tokio::spawn(request);
    writer.write("{\"int64Field\":\"1\"}\n").await;
    eventually("the first message at the backend", || {
        echo.streams.collected() == 1
    })
    .await;
    writer.write("{}\n{\"int64Field\": nope}\n{}\n").await;
    let response = response.await.unwrap().unwrap();
    let error = expect_error(response, 400, 3, "INVALID_JSON").await;
    let message = error["message"].as_str().unwrap();
    assert!(message.contains(": line 3: "), "{error}");
    // The backend's call ended without a half-close, and it never answered.
    eventually("the backend seeing the cancel", || {
        echo.streams.collects_cut() == 1
    })
    .await;
    assert_eq!(echo.streams.collected(), 1);
}

#[tokio::test]
async fn a_bad_element_is_named() {
    let (gw, echo) = start("").await;
    let body = r#"[{}, {}, {"int32Field": "not a number"}]"#;
    let response = collect(&gw, "/v1/collect/x", "application/json", body).await;
    let (status, error) = (response.status(), response.json::<Value>().await.unwrap());
    assert_eq!(status, 400, "{error}");
    assert!(error.to_string().contains("element 3"), "{error}");
    // Whatever reached the backend, its call never completed.
    assert!(echo.streams.collected() <= 2);
    let body = r#"[{}, {"unknownField": 1}]"#;
    let response = collect(&gw, "/v1/collect/x", "application/json", body).await;
    assert_eq!(response.status(), 400);
    let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
    let body = format!("{{}}\n{{\"nested\":{{\"id\":{deep}}}}}\n");
    let response = collect(&gw, "/v1/collect/x", NDJSON, &body).await;
    expect_error(response, 400, 3, "JSON_TOO_DEEP").await;
}

#[tokio::test]
async fn max_body_bounds_each_message_not_the_stream() {
    let route = format!("[[routes]]\nmethod = \"{ECHO}/EchoCollect\"\nmax_body = \"64B\"\n");
    let (gw, _echo) = start(&route).await;
    // 100 messages of 20 bytes: far more than 64 bytes in all.
    let body = "{\"int64Field\":\"12\"}\n".repeat(100);
    let answer = json_ok(collect(&gw, "/v1/collect/x", NDJSON, &body).await).await;
    assert_eq!(answer["int32Field"], 100, "{answer}");
    let long = format!("{{}}\n{{\"nested\":{{\"id\":\"{}\"}}}}\n", "x".repeat(80));
    let response = collect(&gw, "/v1/collect/x", NDJSON, &long).await;
    expect_error(response, 413, 8, "BODY_TOO_LARGE").await;
    let long = format!("[{{}}, {{\"nested\":{{\"id\":\"{}\"}}}}]", "x".repeat(80));
    let response = collect(&gw, "/v1/collect/x", "application/json", &long).await;
    expect_error(response, 413, 8, "BODY_TOO_LARGE").await;
}

#[tokio::test]
async fn other_content_types_are_refused() {
    let (gw, echo) = start("").await;
    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/ndjson+xml",
    ] {
        let response = collect(&gw, "/v1/collect/x", content_type, "{}\n").await;
        let error = expect_error(response, 415, 3, "UNSUPPORTED_MEDIA_TYPE").await;
        assert!(
            error["message"]
                .as_str()
                .unwrap()
                .contains("application/x-ndjson"),
            "{error}"
        );
    }
    assert_eq!(echo.streams.collected(), 0);
}

#[tokio::test]
async fn a_bad_grpc_timeout_is_refused_before_the_call() {
    let (gw, _echo) = start("").await;
    let body = "{}\n";
    let response = gw
        .request("POST", "/v1/collect/x")
        .header("content-type", NDJSON)
        .header("grpc-timeout", "nonsense")
        .body(body)
        .send()
        .await
        .unwrap();
    expect_error(response, 400, 3, "INVALID_TIMEOUT").await;
}

#[tokio::test]
async fn bidi_streaming_over_plain_http_points_to_the_websocket() {
    let (gw, _echo) = start("").await;
    let response = gw.post_json("/v1/chat/x", "[{}]").send().await.unwrap();
    assert_eq!(response.headers()["upgrade"], "websocket");
    let error = expect_error(response, 426, 12, "WEBSOCKET_REQUIRED").await;
    let message = error["message"].as_str().unwrap();
    assert!(message.contains("WebSocket"), "{error}");
}

/// A backend that stops reading stops the gateway reading the body: what the client has been
/// allowed to send stays bounded (socket buffers, one h2 window, `stream_buffer` messages),
/// far below what it offers.
#[tokio::test]
async fn a_stalled_backend_stops_the_body_being_read() {
    let (gw, echo) = start("[server]\nstream_buffer = 2\n").await;
    const OFFERED: usize = 256 << 20;
    let taken = Arc::new(AtomicUsize::new(0));
    let line: &'static [u8] = b"{\"int64Field\":\"1\",\"nested\":{\"id\":\"0123456789012345678901234567890123456789012345678901234567890123456789\"}}\n";
    let counter = taken.clone();
    // Chunks of 64 KiB of lines, counted as the client takes them.
    let chunk: bytes::Bytes = line.repeat((64 << 10) / line.len()).into();
    let chunks = futures_util::stream::iter(std::iter::repeat_n(chunk, OFFERED / (64 << 10))).map(
        move |chunk| {
            counter.fetch_add(chunk.len(), Ordering::SeqCst);
            Ok::<_, std::io::Error>(chunk)
        },
    );
    // Every message is "stall"; the backend stops after the first.
    let request = gw
        .request("POST", "/v1/collect/stall")
        .header("content-type", NDJSON)
        .body(reqwest::Body::wrap_stream(chunks))
        .send();
    let call = tokio::spawn(request);
    eventually("the first message at the backend", || {
        echo.streams.collected() == 1
    })
    .await;
    // Wait until the client makes no more progress (checked, not timed: the figure only has to
    // stop moving).
    let mut last = 0;
    let mut still = 0;
    while still < 10 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let now = taken.load(Ordering::SeqCst);
        if now == last {
            still += 1;
        } else {
            still = 0;
            last = now;
        }
    }
    println!("the client was allowed to send {last} bytes of {OFFERED}");
    assert!(last < 64 << 20, "{last} bytes taken from the client");
    assert_eq!(echo.streams.collected(), 1);
    call.abort();
}

/// A gateway in front of a media backend, with `toml` added.
async fn start_media(toml: &str) -> TestGateway {
    TestGateway::builder().media().config(toml).start().await
}

#[tokio::test]
async fn an_http_body_stream_takes_the_raw_body_in_chunks() {
    let gw = start_media("").await;
    const TOTAL: usize = 3 * 1024 * 1024 + 12345;
    let data = common::media::pattern("chunks", TOTAL);
    // The client sends pieces of several sizes, some larger than a message may carry.
    let sizes = [1, 100_000, 65_536, 7, 300_000];
    let mut pieces = Vec::new();
    let mut at = 0;
    for size in sizes.iter().cycle() {
        if at == TOTAL {
            break;
        }
        let end = (at + size).min(TOTAL);
        pieces.push(Ok::<_, std::io::Error>(bytes::Bytes::copy_from_slice(
            &data[at..end],
        )));
        at = end;
    }
    let body = reqwest::Body::wrap_stream(futures_util::stream::iter(pieces));
    let response = gw
        .request("POST", "/v1/media/chunks")
        .header("content-type", "image/png")
        .body(body)
        .send()
        .await
        .unwrap();
    let report = json_ok(response).await;
    assert_eq!(report["contentType"], "image/png", "{report}");
    assert_eq!(report["typedChunks"], 1, "{report}");
    let sizes: Vec<u64> = report["sizes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_u64().unwrap())
        .collect();
    assert!(sizes.iter().all(|&s| s > 0 && s <= 64 * 1024), "{sizes:?}");
    assert_eq!(sizes.iter().sum::<u64>(), TOTAL as u64);
    let checksum = common::media::fnv1a(common::media::FNV_START, &data);
    assert_eq!(report["checksum"], checksum.to_string(), "{report}");
}

#[tokio::test]
async fn an_http_body_stream_checks_accept() {
    let route = "[[routes]]\nmethod = \"gatehouse.media.v1.MediaService/UploadChunks\"\n\
                 accept = [\"image/*\"]\n";
    let gw = start_media(route).await;
    let response = gw
        .request("POST", "/v1/media/chunks")
        .header("content-type", "text/plain")
        .body("hello")
        .send()
        .await
        .unwrap();
    let error = expect_error(response, 415, 3, "UNSUPPORTED_MEDIA_TYPE").await;
    assert!(
        error["message"].as_str().unwrap().contains("image/*"),
        "{error}"
    );
    // An empty body is a stream of no chunks.
    let response = gw
        .request("POST", "/v1/media/chunks")
        .header("content-type", "image/gif")
        .send()
        .await
        .unwrap();
    let report = json_ok(response).await;
    assert!(report.get("sizes").is_none(), "{report}");
}

/// A backend that plays `steps` to every call, behind the echo service's routes.
async fn start_misbehaving(steps: Vec<Step>) -> (TestGateway, Misbehaving) {
    let backend = Misbehaving::spawn(steps).await;
    let gw = TestGateway::builder()
        .echo_at(format!("http://{}", backend.addr))
        .start()
        .await;
    (gw, backend)
}

#[tokio::test]
async fn an_ok_without_a_response_is_a_bad_reply() {
    let (gw, _backend) =
        start_misbehaving(vec![Step::Headers(&[]), Step::Trailers(STATUS_OK)]).await;
    let response = collect(&gw, "/v1/collect/x", NDJSON, "{}\n{}\n").await;
    expect_error(response, 502, 14, "UPSTREAM_BAD_RESPONSE").await;
}

#[tokio::test]
async fn a_backend_error_keeps_its_status() {
    let (gw, _backend) = start_misbehaving(vec![
        Step::Headers(&[]),
        Step::Trailers(&[("grpc-status", "9"), ("grpc-message", "not now")]),
    ])
    .await;
    let response = collect(&gw, "/v1/collect/x", NDJSON, "{}\n").await;
    let error = expect_status(response, 400, 9).await;
    assert_eq!(error["message"], "not now", "{error}");
}

#[tokio::test]
async fn a_client_that_leaves_cancels_the_call() {
    let (gw, echo) = start("").await;
    let (writer, body) = streamed_body();
    let request = gw
        .request("POST", "/v1/collect/stall")
        .header("content-type", NDJSON)
        .body(body)
        .send();
    let call = tokio::spawn(request);
    writer.write("{}\n").await;
    eventually("the first message at the backend", || {
        echo.streams.collected() == 1
    })
    .await;
    // The client goes away mid-body.
    call.abort();
    drop(writer);
    eventually("the backend seeing the cancel", || {
        echo.streams.collects_cut() == 1
    })
    .await;
}
