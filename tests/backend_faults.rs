//! Backends that break a reply halfway: streams reset before, after or inside a message,
//! connections cut or sent away (GOAWAY) under a call, replies without a status or with a
//! message cut short, compressed or too large, stalls past the deadline, and garbage instead
//! of HTTP/2. Each fault has its status, leaves as the one JSON error shape (or as a gRPC
//! status on the gRPC ingress) without a word about the backend's connection, and the gateway
//! goes on serving.
//!
//! The misbehaving backend (`common/misbehaving.rs`) serves `orders.v1.OrderService`; the echo
//! backend the harness starts stays healthy, and every test ends by calling it.
//!
//! Which status: a backend that answered and then broke its reply (any RST_STREAM but
//! REFUSED_STREAM, no `grpc-status`, a cut or unreadable message) is 502 UPSTREAM_BAD_RESPONSE,
//! and a connection that broke or never spoke HTTP/2 is 503 UPSTREAM_UNAVAILABLE, as Envoy
//! answers a reset and a connection failure. A stall is 504 at the call's deadline.

mod common;
#[allow(dead_code)]
#[path = "common/misbehaving.rs"]
mod misbehaving;

use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use common::{TestGateway, error_reason, expect_error, json_ok};
use gatehouse::proto::orders::v1::order_service_client::OrderServiceClient;
use gatehouse::proto::orders::v1::{GetOrderRequest, GetOrderResponse, Order, WatchOrdersResponse};
use gatehouse::upstream::MAX_RESPONSE_MESSAGE;
use h2::Reason;
use misbehaving::{Misbehaving, STATUS_OK, Step, grpc_frame};
use prost::Message;
use serde_json::Value;
use tonic::Code;

const ORDERS: &str = "orders.v1.OrderService";
const GET_ORDER: &str = "/api/orders/o-1";
const WATCH_ORDERS: &str = "/api/orders:watch?userId=u-1";

/// No test waits longer than this for an answer: a fault must never hang a request.
const NO_HANG: Duration = Duration::from_secs(10);

/// A gateway with the misbehaving backend as `orders` (one connection, so that a reconnect
/// shows as a second one) and a healthy echo backend.
async fn gateway(backend: &Misbehaving) -> TestGateway {
    TestGateway::builder()
        .config(&orders_backend(backend))
        .start()
        .await
}

fn orders_backend(backend: &Misbehaving) -> String {
    format!(
        "[[backends]]\nname = \"orders\"\nservices = [\"{ORDERS}\"]\n\
         endpoints = [\"{backend}\"]\nconnections_per_endpoint = 1\n"
    )
}

fn order(id: &str) -> Order {
    Order {
        order_id: id.into(),
        user_id: "u-1".into(),
        ..Order::default()
    }
}

/// A GetOrder reply message, framed.
fn get_order_reply() -> Bytes {
    grpc_frame(
        &GetOrderResponse {
            order: Some(order("o-1")),
        }
        .encode_to_vec(),
    )
}

/// A WatchOrders stream message, framed.
fn watch_message(id: &str) -> Bytes {
    grpc_frame(
        &WatchOrdersResponse {
            order: Some(order(id)),
        }
        .encode_to_vec(),
    )
}

/// A proper reply to GetOrder.
fn healthy() -> Vec<Step> {
    vec![
        Step::Headers(&[]),
        Step::Data(get_order_reply()),
        Step::Trailers(STATUS_OK),
    ]
}

/// The 5-byte prefix of a message of `len` bytes with compressed-flag `flag`, and `body`.
fn prefixed(flag: u8, len: u32, body: &[u8]) -> Bytes {
    let mut frame = BytesMut::with_capacity(5 + body.len());
    frame.put_u8(flag);
    frame.put_u32(len);
    frame.put_slice(body);
    frame.freeze()
}

/// A message whose prefix claims 100 bytes, of which 10 come.
fn cut_message() -> Bytes {
    prefixed(0, 100, &[0; 10])
}

async fn get_order(gw: &TestGateway) -> reqwest::Response {
    let call = gw.get(GET_ORDER).send();
    tokio::time::timeout(NO_HANG, call)
        .await
        .expect("the gateway answered in time")
        .unwrap()
}

/// Asserts that the error message says nothing of how the backend failed or where it is.
fn assert_no_leak(body: &Value, backend: &Misbehaving) {
    let text = body.to_string();
    for leak in ["127.0.0.1".to_string(), backend.addr.port().to_string()] {
        assert!(!text.contains(&leak), "{leak:?} leaked: {body}");
    }
    let message = body["message"].as_str().unwrap().to_lowercase();
    let words: Vec<&str> = message
        .split(|c: char| !c.is_ascii_alphanumeric())
        .collect();
    for leak in [
        "h2",
        "http2",
        "stream",
        "reset",
        "rst",
        "goaway",
        "frame",
        "protocol",
        "tcp",
        "connection",
        "eof",
        "tonic",
        "hyper",
        "compressed",
        "decoded",
    ] {
        assert!(!words.contains(&leak), "{leak:?} leaked: {body}");
    }
}

/// 502 UPSTREAM_BAD_RESPONSE, without backend details.
async fn expect_bad_reply(response: reqwest::Response, backend: &Misbehaving) {
    let body = expect_error(response, 502, 14, "UPSTREAM_BAD_RESPONSE").await;
    assert_no_leak(&body, backend);
}

/// 503 UPSTREAM_UNAVAILABLE, without backend details.
async fn expect_unavailable(response: reqwest::Response, backend: &Misbehaving) {
    let body = expect_error(response, 503, 14, "UPSTREAM_UNAVAILABLE").await;
    assert_no_leak(&body, backend);
}

/// The gateway still serves: the healthy echo backend answers through it.
async fn still_serving(gw: &TestGateway) {
    let response = tokio::time::timeout(NO_HANG, gw.get("/v1/echo/alive").send())
        .await
        .expect("the gateway answered in time")
        .unwrap();
    let body = json_ok(response).await;
    assert_eq!(body["stringField"], "alive");
}

/// A gateway in front of a backend that plays `steps` in reply to GetOrder: the call gets 502
/// UPSTREAM_BAD_RESPONSE and the gateway serves on. Both are returned for further checks.
async fn bad_reply_to(steps: Vec<Step>) -> (Misbehaving, TestGateway) {
    let backend = Misbehaving::spawn(steps).await;
    let gw = gateway(&backend).await;
    expect_bad_reply(get_order(&gw).await, &backend).await;
    still_serving(&gw).await;
    (backend, gw)
}

/// The misbehaving backend, once told to behave, answers through the gateway.
async fn recovers(gw: &TestGateway, backend: &Misbehaving) {
    backend.play(healthy());
    let body = json_ok(get_order(gw).await).await;
    assert_eq!(body["orderId"], "o-1", "{body}");
}

#[tokio::test]
async fn the_misbehaving_backend_answers_properly_when_told_to() {
    // Without this, every test below could pass on a backend that never worked.
    let backend = Misbehaving::spawn(healthy()).await;
    let gw = gateway(&backend).await;
    recovers(&gw, &backend).await;
    still_serving(&gw).await;
}

#[tokio::test]
async fn a_stream_reset_after_the_response_headers_is_502() {
    // hyper reads CANCEL and NO_ERROR as a quiet end of the body, the others as errors: both
    // are a reply broken off before its status.
    for reason in [Reason::INTERNAL_ERROR, Reason::CANCEL, Reason::NO_ERROR] {
        let (backend, gw) = bad_reply_to(vec![Step::Headers(&[]), Step::Reset(reason)]).await;
        recovers(&gw, &backend).await;
    }
}

#[tokio::test]
async fn a_stream_reset_inside_a_message_is_502() {
    for reason in [Reason::INTERNAL_ERROR, Reason::CANCEL] {
        bad_reply_to(vec![
            Step::Headers(&[]),
            Step::Data(cut_message()),
            Step::Reset(reason),
        ])
        .await;
    }
}

/// An OK status with no message is no answer to a unary call.
#[tokio::test]
async fn an_ok_reply_without_a_message_is_502() {
    bad_reply_to(vec![Step::Headers(&[]), Step::Trailers(STATUS_OK)]).await;
    // Trailers-only: the status in the headers.
    bad_reply_to(vec![Step::Headers(STATUS_OK), Step::End]).await;
}

/// A reply whose header block is larger than the gateway reads (16 KiB) is refused as a bad
/// reply, and the connection keeps serving.
#[tokio::test]
async fn response_headers_over_the_limit_are_502() {
    let big: &'static str = Box::leak("x".repeat(20 * 1024).into_boxed_str());
    let headers: &'static [(&'static str, &'static str)] =
        Box::leak(vec![("x-big", big)].into_boxed_slice());
    let (backend, gw) = bad_reply_to(vec![
        Step::Headers(headers),
        Step::Data(get_order_reply()),
        Step::Trailers(STATUS_OK),
    ])
    .await;
    recovers(&gw, &backend).await;
}

#[tokio::test]
async fn a_stream_reset_before_the_response_headers_is_502() {
    // CANCEL from the backend is not the client's deadline: tonic makes it CANCELLED.
    for reason in [
        Reason::INTERNAL_ERROR,
        Reason::CANCEL,
        Reason::PROTOCOL_ERROR,
    ] {
        bad_reply_to(vec![Step::Reset(reason)]).await;
    }
}

#[tokio::test]
async fn a_refused_stream_is_503() {
    // REFUSED_STREAM says the call was not processed: the backend is unavailable for it.
    let backend = Misbehaving::spawn(vec![Step::Reset(Reason::REFUSED_STREAM)]).await;
    let gw = gateway(&backend).await;
    expect_unavailable(get_order(&gw).await, &backend).await;
    still_serving(&gw).await;
}

#[tokio::test]
async fn a_connection_closed_mid_reply_is_503_and_the_next_call_reconnects() {
    let cases = [
        vec![Step::Headers(&[]), Step::Close],
        vec![Step::Headers(&[]), Step::Data(cut_message()), Step::Close],
        vec![Step::Close],
    ];
    for steps in cases {
        let backend = Misbehaving::spawn(steps.clone()).await;
        let gw = gateway(&backend).await;
        expect_unavailable(get_order(&gw).await, &backend).await;
        still_serving(&gw).await;
        // The backend closed the connection: the call that recovers went on a new one.
        recovers(&gw, &backend).await;
        assert!(backend.connections() >= 2, "{steps:?}");
    }
}

#[tokio::test]
async fn goaway_with_a_call_in_flight_fails_it_and_the_next_call_reconnects() {
    let backend = Misbehaving::spawn(vec![Step::GoAway(Reason::NO_ERROR), Step::Stall]).await;
    let gw = gateway(&backend).await;
    expect_unavailable(get_order(&gw).await, &backend).await;
    still_serving(&gw).await;
    recovers(&gw, &backend).await;
    assert!(backend.connections() >= 2);
}

#[tokio::test]
async fn a_graceful_goaway_lets_the_call_in_flight_finish_and_the_next_call_reconnects() {
    let mut steps = vec![Step::GracefulGoAway];
    steps.extend(healthy());
    let backend = Misbehaving::spawn(steps).await;
    let gw = gateway(&backend).await;
    let body = json_ok(get_order(&gw).await).await;
    assert_eq!(body["orderId"], "o-1", "{body}");
    recovers(&gw, &backend).await;
    assert_eq!(backend.connections(), 2);
}

#[tokio::test]
async fn a_body_that_ends_without_trailers_is_502() {
    bad_reply_to(vec![
        Step::Headers(&[]),
        Step::Data(get_order_reply()),
        Step::End,
    ])
    .await;
}

/// gRPC clients fail a unary reply with a second message rather than answer with the first.
#[tokio::test]
async fn a_unary_reply_with_two_messages_is_502() {
    let mut two = BytesMut::new();
    two.put(get_order_reply());
    two.put(get_order_reply());
    bad_reply_to(vec![
        Step::Headers(&[]),
        Step::Data(two.freeze()),
        Step::Trailers(STATUS_OK),
    ])
    .await;
}

#[tokio::test]
async fn a_message_cut_short_before_an_ok_status_is_502() {
    let (backend, gw) = bad_reply_to(vec![
        Step::Headers(&[]),
        Step::Data(cut_message()),
        Step::Trailers(STATUS_OK),
    ])
    .await;
    // A prefix cut short is a message cut short too.
    backend.play(vec![
        Step::Headers(&[]),
        Step::Data(Bytes::from_static(&[0, 0, 0])),
        Step::Trailers(STATUS_OK),
    ]);
    expect_bad_reply(get_order(&gw).await, &backend).await;
}

#[tokio::test]
async fn a_compressed_message_without_grpc_encoding_is_502() {
    let message = GetOrderResponse::default().encode_to_vec();
    let len = u32::try_from(message.len()).unwrap();
    for flag in [1, 2, 0x80] {
        bad_reply_to(vec![
            Step::Headers(&[]),
            Step::Data(prefixed(flag, len, &message)),
            Step::Trailers(STATUS_OK),
        ])
        .await;
    }
}

#[tokio::test]
async fn a_reply_in_an_encoding_the_gateway_never_asked_for_is_502() {
    // The gateway sends no grpc-accept-encoding: any compression is the backend's mistake.
    let encodings: [&'static [(&str, &str)]; 3] = [
        &[("grpc-encoding", "snappy")],
        &[("grpc-encoding", "gzip")],
        &[("grpc-encoding", "")],
    ];
    for headers in encodings {
        let backend = Misbehaving::spawn(vec![
            Step::Headers(headers),
            Step::Data(get_order_reply()),
            Step::Trailers(STATUS_OK),
        ])
        .await;
        let gw = gateway(&backend).await;
        let response = get_order(&gw).await;
        assert!(
            !response
                .headers()
                .contains_key("grpc-metadata-grpc-accept-encoding"),
            "{headers:?}: {:?}",
            response.headers()
        );
        expect_bad_reply(response, &backend).await;
        still_serving(&gw).await;
    }
    // identity is no compression.
    let backend = Misbehaving::spawn(vec![
        Step::Headers(&[("grpc-encoding", "identity")]),
        Step::Data(get_order_reply()),
        Step::Trailers(STATUS_OK),
    ])
    .await;
    let gw = gateway(&backend).await;
    json_ok(get_order(&gw).await).await;
}

#[tokio::test]
async fn a_message_larger_than_the_limit_is_502_and_is_not_read() {
    // An over-large reply is the backend's fault, not a bad request (tonic's own check says
    // OUT_OF_RANGE, which would be a 400). The backend tries to send 64 MiB.
    let body = vec![0u8; 64 << 20];
    let len = u32::try_from(MAX_RESPONSE_MESSAGE + 1).unwrap();
    let backend = Misbehaving::spawn(vec![
        Step::Headers(&[]),
        Step::Data(prefixed(0, len, &body)),
        Step::Trailers(STATUS_OK),
    ])
    .await;
    let gw = gateway(&backend).await;
    expect_bad_reply(get_order(&gw).await, &backend).await;
    // The gateway stopped reading at the prefix: flow control held the rest back.
    assert!(
        backend.sent() < 16 << 20,
        "the gateway read {} bytes of a refused reply",
        backend.sent()
    );
    still_serving(&gw).await;
}

#[tokio::test]
async fn a_message_at_the_limit_is_rendered() {
    // Field 6 (currency) filled to make the whole GetOrderResponse exactly the limit.
    let mut response = GetOrderResponse {
        order: Some(order("o-1")),
    };
    let fill = MAX_RESPONSE_MESSAGE - response.encoded_len() - 16;
    response.order.as_mut().unwrap().currency = "x".repeat(fill);
    let pad = MAX_RESPONSE_MESSAGE - response.encoded_len();
    response.order.as_mut().unwrap().currency = "x".repeat(fill + pad);
    assert_eq!(response.encoded_len(), MAX_RESPONSE_MESSAGE);
    let backend = Misbehaving::spawn(vec![
        Step::Headers(&[]),
        Step::Data(grpc_frame(&response.encode_to_vec())),
        Step::Trailers(STATUS_OK),
    ])
    .await;
    let gw = gateway(&backend).await;
    let body = json_ok(get_order(&gw).await).await;
    assert_eq!(body["orderId"], "o-1");
}

#[tokio::test]
async fn a_backend_that_never_answers_is_504_at_the_deadline() {
    let backend = Misbehaving::spawn(vec![Step::Stall]).await;
    let gw = gateway(&backend).await;
    let started = Instant::now();
    let response = gw
        .get(GET_ORDER)
        .header("grpc-timeout", "200m")
        .send()
        .await
        .unwrap();
    let body = expect_error(response, 504, 4, "DEADLINE_EXCEEDED").await;
    assert!(started.elapsed() < NO_HANG);
    assert_no_leak(&body, &backend);
    still_serving(&gw).await;
}

#[tokio::test]
async fn a_backend_that_stalls_after_its_headers_is_504_at_the_route_deadline() {
    let backend = Misbehaving::spawn(vec![Step::Headers(&[]), Step::Stall]).await;
    let gw = TestGateway::builder()
        .config(&orders_backend(&backend))
        .config("[[routes]]\nmethod = \"orders.v1.OrderService/*\"\ntimeout = \"200ms\"")
        .start()
        .await;
    let started = Instant::now();
    let response = gw.get(GET_ORDER).send().await.unwrap();
    let body = expect_error(response, 504, 4, "DEADLINE_EXCEEDED").await;
    assert!(started.elapsed() < NO_HANG);
    assert_no_leak(&body, &backend);
    // The same for a stream waiting for its first message.
    let started = Instant::now();
    let response = gw.get(WATCH_ORDERS).send().await.unwrap();
    expect_error(response, 504, 4, "DEADLINE_EXCEEDED").await;
    assert!(started.elapsed() < NO_HANG);
    still_serving(&gw).await;
}

#[tokio::test]
async fn garbage_instead_of_http2_is_503_without_a_hang() {
    let addr = Misbehaving::spawn_garbage().await;
    let gw = TestGateway::builder()
        .backend("orders", ORDERS, addr)
        .start()
        .await;
    let started = Instant::now();
    let response = get_order(&gw).await;
    let body = expect_error(response, 503, 14, "UPSTREAM_UNAVAILABLE").await;
    assert!(started.elapsed() < NO_HANG);
    assert!(
        !body.to_string().contains(&addr.port().to_string()),
        "{body}"
    );
    still_serving(&gw).await;
}

/// The NDJSON lines of a streamed body.
async fn ndjson(response: reqwest::Response) -> Vec<Value> {
    let status = response.status();
    let body = tokio::time::timeout(NO_HANG, response.text())
        .await
        .expect("the stream ended in time")
        .unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.ends_with('\n'), "{body:?}");
    body.lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

#[tokio::test]
async fn a_stream_broken_after_messages_ends_with_an_error_line() {
    let breaks = [
        vec![Step::Reset(Reason::INTERNAL_ERROR)],
        vec![Step::Reset(Reason::CANCEL)],
        vec![
            Step::Data(cut_message()),
            Step::Reset(Reason::INTERNAL_ERROR),
        ],
        vec![Step::End],
    ];
    for ending in breaks {
        let mut steps = vec![
            Step::Headers(&[]),
            Step::Data(watch_message("o-1")),
            Step::Data(watch_message("o-2")),
        ];
        steps.extend(ending.clone());
        let backend = Misbehaving::spawn(steps).await;
        let gw = gateway(&backend).await;
        let response = gw.get(WATCH_ORDERS).send().await.unwrap();
        let lines = ndjson(response).await;
        assert_eq!(lines.len(), 3, "{ending:?}: {lines:?}");
        assert_eq!(lines[0]["order"]["orderId"], "o-1");
        assert_eq!(lines[1]["order"]["orderId"], "o-2");
        let error = &lines[2]["error"];
        assert_eq!(error["code"], 14, "{ending:?}: {error}");
        assert_eq!(
            error_reason(error),
            Some("UPSTREAM_BAD_RESPONSE"),
            "{ending:?}"
        );
        assert_no_leak(error, &backend);
        still_serving(&gw).await;
    }
}

#[tokio::test]
async fn a_stream_whose_connection_is_cut_after_messages_ends_with_an_error_line() {
    let backend = Misbehaving::spawn(vec![
        Step::Headers(&[]),
        Step::Data(watch_message("o-1")),
        Step::Close,
    ])
    .await;
    let gw = gateway(&backend).await;
    let lines = ndjson(gw.get(WATCH_ORDERS).send().await.unwrap()).await;
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0]["order"]["orderId"], "o-1");
    let error = &lines[1]["error"];
    assert_eq!(error_reason(error), Some("UPSTREAM_UNAVAILABLE"), "{error}");
    assert_no_leak(error, &backend);
    still_serving(&gw).await;
}

#[tokio::test]
async fn a_stream_message_larger_than_the_limit_ends_the_stream_with_an_error_line() {
    let len = u32::try_from(MAX_RESPONSE_MESSAGE + 1).unwrap();
    let backend = Misbehaving::spawn(vec![
        Step::Headers(&[]),
        Step::Data(watch_message("o-1")),
        Step::Data(prefixed(0, len, &[0; 1024])),
        Step::Stall,
    ])
    .await;
    let gw = gateway(&backend).await;
    let lines = ndjson(gw.get(WATCH_ORDERS).send().await.unwrap()).await;
    assert_eq!(lines.len(), 2, "{lines:?}");
    let error = &lines[1]["error"];
    assert_eq!(
        error_reason(error),
        Some("UPSTREAM_BAD_RESPONSE"),
        "{error}"
    );
    still_serving(&gw).await;
}

#[tokio::test]
async fn a_stream_reset_before_its_first_message_is_502() {
    let backend = Misbehaving::spawn(vec![
        Step::Headers(&[]),
        Step::Reset(Reason::INTERNAL_ERROR),
    ])
    .await;
    let gw = gateway(&backend).await;
    let response = gw.get(WATCH_ORDERS).send().await.unwrap();
    expect_bad_reply(response, &backend).await;
    still_serving(&gw).await;
}

/// GetOrder through the gateway's gRPC ingress: the status it ends with.
async fn grpc_get_order(gw: &TestGateway) -> tonic::Status {
    let channel = tonic::transport::Channel::from_shared(gw.url(""))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = OrderServiceClient::new(channel);
    let call = client.get_order(GetOrderRequest {
        order_id: "o-1".into(),
    });
    match tokio::time::timeout(NO_HANG, call).await {
        Ok(Ok(reply)) => panic!("a broken reply came through: {reply:?}"),
        Ok(Err(status)) => status,
        Err(_) => panic!("the gRPC call hung"),
    }
}

#[tokio::test]
async fn grpc_ingress_ends_broken_replies_with_a_status() {
    let cases = [
        vec![Step::Reset(Reason::INTERNAL_ERROR)],
        vec![Step::Reset(Reason::CANCEL)],
        vec![Step::Headers(&[]), Step::Reset(Reason::INTERNAL_ERROR)],
        vec![
            Step::Headers(&[]),
            Step::Data(cut_message()),
            Step::Reset(Reason::CANCEL),
        ],
        vec![Step::Headers(&[]), Step::Data(get_order_reply()), Step::End],
        vec![Step::Headers(&[]), Step::Close],
    ];
    for steps in cases {
        let backend = Misbehaving::spawn(steps.clone()).await;
        let gw = gateway(&backend).await;
        let status = grpc_get_order(&gw).await;
        assert_eq!(status.code(), Code::Unavailable, "{steps:?}: {status:?}");
        let body = serde_json::json!({ "message": status.message() });
        assert_no_leak(&body, &backend);
        still_serving(&gw).await;
    }
}
