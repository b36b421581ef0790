//! Hostile input over real sockets: what a client that does not play by the rules gets, and that
//! the gateway keeps serving afterwards (every test ends with a normal `GET /v1/echo/ok`).
//!
//! Request targets reqwest would normalise (dot segments, encoded dots and slashes) go out as
//! written through hyper's client; what no client would send (raw bytes, smuggling shapes,
//! control characters in headers, trickled bytes) goes over raw TCP. What the HTTP/1.1
//! parser itself cannot read (bad framing, control characters, floods far beyond the limits) is
//! refused by hyper with a bare 400 or 431, no JSON body, and the connection is closed.
//!
//! Covered elsewhere and not repeated here: the plain 431 for `max_headers`/`max_header_bytes`
//! and `JSON_TOO_DEEP` at a small `max_json_depth` (tests/limits.rs), 408 for headers or a body
//! that stop arriving (tests/limits.rs), 413 for a body over `max_body` sent with its
//! `Content-Length` or chunked (tests/body.rs), and refused dot segments such as
//! `/v1/files/%2e%2E/secret` (tests/templates.rs).

mod common;

use std::time::Duration;

use common::{RawResponse, TestGateway, error_reason, expect_error, json_ok};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const OK: &str = "/v1/echo/ok";
/// How long a raw exchange waits for the gateway to close the connection.
const PATIENCE: Duration = Duration::from_secs(10);

/// The gateway still answers a normal request.
async fn still_serves(gw: &TestGateway) {
    let body = json_ok(gw.get(OK).send().await.unwrap()).await;
    assert_eq!(body, json!({"stringField": "ok"}));
}

/// Asserts a raw response is the JSON error shape with this status, code and reason.
fn expect_raw_error(response: &RawResponse, http: u16, code: i32, reason: &str) {
    assert_eq!(response.status, http, "{response:?}");
    assert_eq!(response.body["code"], code, "{response:?}");
    assert!(response.body["message"].is_string(), "{response:?}");
    assert_eq!(error_reason(&response.body), Some(reason), "{response:?}");
}

/// Sends `request` on a new connection and returns everything the gateway answers until it
/// closes the connection (or `PATIENCE` passes).
async fn exchange(gw: &TestGateway, request: &[u8]) -> String {
    let mut socket = TcpStream::connect(gw.addr).await.unwrap();
    // The gateway may refuse and close before reading everything; the answer is what counts.
    let _ = socket.write_all(request).await;
    read_until_closed(&mut socket).await
}

async fn read_until_closed(socket: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let _ = tokio::time::timeout(PATIENCE, socket.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

/// The status of every response in `answer`, in order.
fn statuses(answer: &str) -> Vec<u16> {
    answer
        .match_indices("HTTP/1.1 ")
        .filter_map(|(at, prefix)| answer.get(at + prefix.len()..at + prefix.len() + 3))
        .filter_map(|code| code.parse().ok())
        .collect()
}

/// Writes `head` at once, then `trickled` one byte every 50 ms, while reading the answer; the
/// trickle alone lasts far longer than `PATIENCE`.
async fn trickle(gw: &TestGateway, head: &[u8], trickled: &[u8]) -> String {
    let socket = TcpStream::connect(gw.addr).await.unwrap();
    let (mut read, mut write) = socket.into_split();
    let head = head.to_vec();
    let trickled = trickled.to_vec();
    let writer = tokio::spawn(async move {
        write.write_all(&head).await?;
        for byte in trickled {
            tokio::time::sleep(Duration::from_millis(50)).await;
            write.write_all(&[byte]).await?;
        }
        Ok::<_, std::io::Error>(())
    });
    let mut out = Vec::new();
    let _ = tokio::time::timeout(PATIENCE, read.read_to_end(&mut out)).await;
    writer.abort();
    String::from_utf8_lossy(&out).into_owned()
}

/// Asserts `answer` is exactly one response with `status` and the connection closed after it.
/// Requests the HTTP parser cannot read are refused by hyper itself: a bare status, no body.
fn expect_one_refusal(answer: &str, status: u16) {
    assert_eq!(statuses(answer), [status], "{answer:.300}");
    assert!(
        answer.contains("\r\nconnection: close\r\n"),
        "{answer:.300}"
    );
}

/// The JSON body of the first response in `answer`.
fn first_body(answer: &str) -> Value {
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    serde_json::from_str(body).unwrap_or(Value::Null)
}

// ---- JSON nesting ----

#[tokio::test]
async fn nesting_far_beyond_the_default_depth_is_refused_not_a_crash() {
    let gw = TestGateway::start().await;
    let depth = 100_000;
    for (field, open, close) in [("valueField", "[", "]"), ("structField", "{\"a\":", "}")] {
        let deep = format!(
            "{{\"{field}\": {{\"a\": {}1{}}}}}",
            open.repeat(depth),
            close.repeat(depth)
        );
        let response = gw.post_json("/v1/echo", &deep).send().await.unwrap();
        expect_error(response, 400, 3, "JSON_TOO_DEEP").await;
        still_serves(&gw).await;
    }
}

#[tokio::test]
async fn a_recursive_message_nested_beyond_max_json_depth_is_refused() {
    let gw = TestGateway::start().await;
    let nested = |depth: usize| {
        format!(
            "{{\"nested\": {}{{\"id\": \"leaf\"}}{}}}",
            "{\"child\": ".repeat(depth),
            "}".repeat(depth)
        )
    };
    let response = gw.post_json("/v1/echo", &nested(200)).send().await.unwrap();
    expect_error(response, 400, 3, "JSON_TOO_DEEP").await;
    // The same shape within the default 64 levels is an ordinary message.
    let body = json_ok(gw.post_json("/v1/echo", &nested(10)).send().await.unwrap()).await;
    assert!(
        body["nested"]["child"]["child"]["child"].is_object(),
        "{body}"
    );
    still_serves(&gw).await;
}

// ---- Bodies larger than max_body ----

#[tokio::test]
async fn a_huge_content_length_is_refused_before_any_body_is_sent() {
    let gw = TestGateway::with_config("[server]\nmax_body = \"1KiB\"").await;
    // Ten GiB announced, not a byte sent: the answer cannot wait for the body.
    let response = tokio::time::timeout(
        PATIENCE,
        gw.raw(
            b"POST /v1/echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
              Content-Length: 10737418240\r\n\r\n",
        ),
    )
    .await
    .expect("413 without waiting for the body");
    expect_raw_error(&response, 413, 8, "BODY_TOO_LARGE");
    still_serves(&gw).await;
}

#[tokio::test]
async fn a_content_length_beyond_u64_is_400() {
    let gw = TestGateway::start().await;
    let answer = exchange(
        &gw,
        b"POST /v1/echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
          Content-Length: 99999999999999999999999\r\n\r\n{}",
    )
    .await;
    expect_one_refusal(&answer, 400);
    still_serves(&gw).await;
}

#[tokio::test]
async fn a_chunk_size_beyond_u64_is_refused() {
    let gw = TestGateway::start().await;
    let answer = exchange(
        &gw,
        b"POST /v1/echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
          Transfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFFFF\r\n{}\r\n0\r\n\r\n",
    )
    .await;
    assert_eq!(statuses(&answer), [400], "{answer}");
    let body = first_body(&answer);
    assert_eq!(body["code"], 3, "{answer}");
    assert_eq!(error_reason(&body), Some("INVALID_JSON"), "{answer}");
    still_serves(&gw).await;
}

// ---- Invalid UTF-8 ----

#[tokio::test]
async fn invalid_utf8_in_a_json_body_is_400() {
    let gw = TestGateway::start().await;
    for bytes in [
        &b"{\"stringField\": \"\xff\"}"[..],
        &b"{\"stringField\": \"\xc3\"}"[..],
        &b"{\"string\xffField\": \"a\"}"[..],
    ] {
        let response = gw
            .request("POST", "/v1/echo")
            .header("content-type", "application/json")
            .body(bytes.to_vec())
            .send()
            .await
            .unwrap();
        expect_error(response, 400, 3, "INVALID_JSON").await;
        still_serves(&gw).await;
    }
}

#[tokio::test]
async fn invalid_utf8_in_a_path_variable_is_400() {
    let gw = TestGateway::start().await;
    for path in ["/v1/echo/%FF", "/v1/echo/a%C3", "/v1/echo/%C0%AF"] {
        let response = gw.raw_get(path).await;
        expect_raw_error(&response, 400, 3, "INVALID_PATH");
        still_serves(&gw).await;
    }
}

#[tokio::test]
async fn raw_non_ascii_bytes_in_the_request_target_are_400() {
    let gw = TestGateway::start().await;
    let answer = exchange(
        &gw,
        b"GET /v1/echo/\xff\xfe HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    )
    .await;
    expect_one_refusal(&answer, 400);
    still_serves(&gw).await;
}

#[tokio::test]
async fn invalid_utf8_in_a_query_parameter_name_is_400() {
    let gw = TestGateway::start().await;
    let response = gw.get(&format!("{OK}?%FF=1")).send().await.unwrap();
    expect_error(response, 400, 3, "INVALID_FIELD").await;
    still_serves(&gw).await;
}

#[tokio::test]
async fn invalid_utf8_in_a_query_value_is_400() {
    let gw = TestGateway::start().await;
    for query in ["nested.id=%FF", "repeatedString=a&repeatedString=%E2%82"] {
        let response = gw.get(&format!("{OK}?{query}")).send().await.unwrap();
        expect_error(response, 400, 3, "INVALID_FIELD").await;
        still_serves(&gw).await;
    }
}

// ---- Encoded dots and slashes ----

#[tokio::test]
async fn an_encoded_slash_stays_inside_a_single_segment_variable() {
    let gw = TestGateway::start().await;
    // `{string_field}` matches one raw segment; its value is decoded, `%2F` included, after
    // routing, so `../admin` is data and never a path.
    for (path, value) in [
        ("/v1/echo/%2e%2e%2fadmin", "../admin"),
        ("/v1/echo/..%2F", "../"),
        ("/v1/echo/%2F..%2F..%2Fadmin", "/../../admin"),
    ] {
        let response = gw.raw_get(path).await;
        assert_eq!(response.status, 200, "{path}: {response:?}");
        assert_eq!(response.body, json!({"stringField": value}), "{path}");
        still_serves(&gw).await;
    }
}

#[tokio::test]
async fn an_encoded_slash_in_a_multi_segment_variable_stays_encoded() {
    let gw = TestGateway::start().await;
    let response = gw.raw_get("/v1/files/a%2F..%2Fadmin").await;
    assert_eq!(response.status, 200, "{response:?}");
    assert_eq!(response.body, json!({"path": "a%2F..%2Fadmin"}));
    still_serves(&gw).await;
}

#[tokio::test]
async fn an_encoded_slash_never_splits_a_literal_segment() {
    let gw = TestGateway::start().await;
    // `/v1/echo%2Fok` is two segments, `v1` and `echo%2Fok`: not `/v1/echo/ok`.
    let response = gw.raw_get("/v1/echo%2Fok").await;
    expect_raw_error(&response, 404, 5, "ROUTE_NOT_FOUND");
    still_serves(&gw).await;
}

// ---- Control characters in headers ----

#[tokio::test]
async fn control_characters_in_header_values_are_400() {
    let gw = TestGateway::start().await;
    for header in [
        &b"X-Test: a\x00b"[..],
        &b"X-Test: a\rb"[..],
        &b"X-Test: a\x01b"[..],
        &b"X-Test: a\x7fb"[..],
        // obs-fold: a continuation line.
        &b"X-Test: a\r\n b"[..],
        &b"X-Te\x00st: a"[..],
    ] {
        let mut request = b"GET /v1/echo/ok HTTP/1.1\r\nHost: 127.0.0.1\r\n".to_vec();
        request.extend_from_slice(header);
        request.extend_from_slice(b"\r\n\r\n");
        let answer = exchange(&gw, &request).await;
        expect_one_refusal(&answer, 400);
        still_serves(&gw).await;
    }
}

// ---- Header floods far beyond the limits ----

#[tokio::test]
async fn a_header_flood_far_beyond_the_limits_is_431() {
    let gw = TestGateway::start().await;
    let mut many = String::from("GET /v1/echo/ok HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    for i in 0..5_000 {
        many.push_str(&format!("X-Flood-{i}: 1\r\n"));
    }
    many.push_str("\r\n");
    let huge = format!(
        "GET /v1/echo/ok HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Huge: {}\r\n\r\n",
        "a".repeat(4 << 20)
    );
    for request in [many, huge] {
        let answer = exchange(&gw, request.as_bytes()).await;
        expect_one_refusal(&answer, 431);
        still_serves(&gw).await;
    }
}

#[tokio::test]
async fn a_header_line_that_never_ends_is_431() {
    let gw = TestGateway::start().await;
    // 4 MiB of one header line with no end: the buffer limit refuses it, nothing waits for more.
    let mut request = b"GET /v1/echo/ok HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Endless: ".to_vec();
    request.resize(request.len() + (4 << 20), b'a');
    let answer = exchange(&gw, &request).await;
    expect_one_refusal(&answer, 431);
    still_serves(&gw).await;
}

// ---- Request smuggling shapes ----

/// A second request hidden after the first one's body; it must never be answered.
const SMUGGLED: &str = "GET /v1/echo/smuggled HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

#[tokio::test]
async fn content_length_with_chunked_is_read_as_chunked_once_and_the_connection_closes() {
    let gw = TestGateway::start().await;
    // A front proxy going by Content-Length sees one request whose body holds the second; the
    // gateway goes by Transfer-Encoding (RFC 9112 §6.1) and must then close the connection, so
    // the rest is never read as a request.
    let chunked = "17\r\n{\"stringField\":\"front\"}\r\n0\r\n\r\n";
    let body = format!("{chunked}{SMUGGLED}");
    let length = format!("Content-Length: {}", body.len());
    let chunked_header = "Transfer-Encoding: chunked";
    for (first, second) in [(&*length, chunked_header), (chunked_header, &*length)] {
        let request = format!(
            "POST /v1/echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
             {first}\r\n{second}\r\n\r\n{body}"
        );
        let answer = exchange(&gw, request.as_bytes()).await;
        let statuses = statuses(&answer);
        assert!(statuses == [200] || statuses == [400], "{answer}");
        assert!(!answer.contains("smuggled"), "{answer}");
        assert!(answer.contains("\r\nconnection: close\r\n"), "{answer}");
        if statuses == [200] {
            assert_eq!(first_body(&answer), json!({"stringField": "front"}));
        }
        still_serves(&gw).await;
    }
}

#[tokio::test]
async fn ambiguous_body_framing_is_400_and_nothing_is_smuggled() {
    let gw = TestGateway::start().await;
    let body = "{\"stringField\":\"front\"}";
    for framing in [
        // Two different lengths, on two lines or in one list.
        "Content-Length: 23\r\nContent-Length: 5",
        "Content-Length: 23, 5",
        "Content-Length: +23",
        "Content-Length: 0x17",
        // Chunked not last: the body has no end the gateway could agree on.
        "Transfer-Encoding: chunked, identity",
        "Transfer-Encoding: chunked\r\nTransfer-Encoding: identity",
        "Transfer-Encoding: identity",
        "Transfer-Encoding: xchunked",
        // Whitespace before the colon (RFC 9112 §5.1: MUST be rejected).
        "Transfer-Encoding : chunked",
        "Content-Length : 23",
    ] {
        let request = format!(
            "POST /v1/echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
             {framing}\r\n\r\n{body}{SMUGGLED}"
        );
        let answer = exchange(&gw, request.as_bytes()).await;
        assert_eq!(statuses(&answer), [400], "{framing:?}: {answer}");
        expect_one_refusal(&answer, 400);
        assert!(!answer.contains("smuggled"), "{framing:?}: {answer}");
        still_serves(&gw).await;
    }
}

#[tokio::test]
async fn transfer_encoding_in_http_1_0_is_400() {
    let gw = TestGateway::start().await;
    let request = format!(
        "POST /v1/echo HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\n\r\n2\r\n{{}}\r\n0\r\n\r\n{SMUGGLED}"
    );
    let answer = exchange(&gw, request.as_bytes()).await;
    expect_one_refusal(&answer, 400);
    assert!(!answer.contains("smuggled"), "{answer}");
    still_serves(&gw).await;
}

// ---- Method override headers ----

const OVERRIDES: [&str; 3] = [
    "x-http-method-override",
    "x-method-override",
    "x-http-method",
];

/// DELETE on the echo path needs a credential; GET does not.
async fn delete_needs_a_credential() -> TestGateway {
    TestGateway::with_config(&format!(
        "[[auth.api_keys]]\nname = \"admin\"\nsha256 = \"{}\"\n\n\
         [[routes]]\nroute = \"DELETE /v1/echo/{{string_field}}\"\nauth = \"authenticated\"\n",
        "0".repeat(64)
    ))
    .await
}

#[tokio::test]
async fn method_override_headers_do_not_turn_a_get_into_a_delete() {
    let gw = delete_needs_a_credential().await;
    // The guard works: a real DELETE is refused without a credential.
    let response = gw.request("DELETE", OK).send().await.unwrap();
    expect_error(response, 401, 16, "UNAUTHENTICATED").await;
    for header in OVERRIDES {
        let response = gw.get(OK).header(header, "DELETE").send().await.unwrap();
        let body = json_ok(response).await;
        assert_eq!(body, json!({"stringField": "ok"}), "{header}");
        still_serves(&gw).await;
    }
}

#[tokio::test]
async fn method_override_headers_do_not_reach_routes_of_other_methods() {
    let gw = TestGateway::start().await;
    for header in OVERRIDES {
        // Only PURGE is bound at /v1/cache/{string_field}.
        let response = gw
            .get("/v1/cache/x")
            .header(header, "PURGE")
            .send()
            .await
            .unwrap();
        expect_error(response, 405, 12, "METHOD_NOT_ALLOWED").await;
        // POST is bound at /v1/echo only; GET and DELETE at /v1/echo/{string_field}.
        let response = gw
            .post_json(OK, "{}")
            .header(header, "GET")
            .send()
            .await
            .unwrap();
        expect_error(response, 405, 12, "METHOD_NOT_ALLOWED").await;
        still_serves(&gw).await;
    }
}

// ---- Slow clients that keep sending ----

#[tokio::test]
async fn headers_trickled_byte_by_byte_still_time_out_with_408() {
    let gw = TestGateway::with_config("[server]\nheader_read_timeout = \"300ms\"").await;
    // Every byte arrives well within the timeout of the one before; the headers as a whole
    // would take 20 s.
    let answer = trickle(
        &gw,
        b"GET /v1/echo/ok HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ",
        &[b'a'; 400],
    )
    .await;
    assert_eq!(statuses(&answer), [408], "{answer}");
    assert_eq!(error_reason(&first_body(&answer)), Some("HEADER_TIMEOUT"));
    still_serves(&gw).await;
}

#[tokio::test]
async fn a_body_trickled_byte_by_byte_still_times_out_with_408() {
    let gw = TestGateway::with_config("[server]\nbody_timeout = \"300ms\"").await;
    let answer = trickle(
        &gw,
        b"POST /v1/echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
          Content-Length: 400\r\n\r\n",
        &[b' '; 400],
    )
    .await;
    assert_eq!(statuses(&answer), [408], "{answer}");
    assert_eq!(error_reason(&first_body(&answer)), Some("BODY_TIMEOUT"));
    still_serves(&gw).await;
}

/// Found by the `whole_stack` fuzz target (fuzz/regressions/whole_stack/openapi_post): other
/// methods on the gateway's own pages got axum's empty 405 instead of the JSON error.
#[tokio::test]
async fn another_method_on_the_gateways_own_pages_is_the_json_405() {
    let gw = TestGateway::start().await;
    for path in ["/openapi.json", "/docs", "/docs/", "/docs/swagger-ui.css"] {
        let response = gw.request("POST", path).send().await.unwrap();
        assert_eq!(response.headers()["allow"], "GET, HEAD");
        expect_error(response, 405, 12, "METHOD_NOT_ALLOWED").await;
        still_serves(&gw).await;
    }
}
