//! gRPC-Web through the gateway's port, framed by hand over HTTP/1.1 as a browser library
//! frames it: a request body of 5-byte frame headers and protobuf messages, answered by data
//! frames (flag 0x00) and a trailer frame (flag 0x80) that carries the status; in binary and in
//! the base64 `-text` variant.

mod common;

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use common::TestGateway;
use gatehouse::proto::gatehouse::echo::v1::{Failure, Kitchen};
use prost::Message as _;

const ECHO: &str = "/gatehouse.echo.v1.EchoService/Echo";
const ECHO_STREAM: &str = "/gatehouse.echo.v1.EchoService/EchoStream";
const BINARY: &str = "application/grpc-web+proto";
const TEXT: &str = "application/grpc-web-text";

/// One gRPC-Web frame: `flag`, then the length (big endian), then `payload`.
fn frame(flag: u8, payload: &[u8]) -> Vec<u8> {
    let length = u32::try_from(payload.len()).expect("small payload");
    let mut out = Vec::with_capacity(5 + payload.len());
    out.push(flag);
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// What a gRPC-Web response body holds.
#[derive(Debug, Default)]
struct Frames {
    messages: Vec<Kitchen>,
    trailers: HashMap<String, String>,
}

fn parse_frames(mut body: &[u8]) -> Frames {
    let mut frames = Frames::default();
    while !body.is_empty() {
        assert!(body.len() >= 5, "truncated frame header: {body:?}");
        let flag = body[0];
        let length = u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize;
        let payload = &body[5..5 + length];
        match flag {
            0x00 => frames
                .messages
                .push(Kitchen::decode(payload).expect("a Kitchen")),
            0x80 => {
                let text = std::str::from_utf8(payload).expect("trailers are text");
                for line in text.split("\r\n").filter(|l| !l.is_empty()) {
                    let (name, value) = line.split_once(':').expect("name:value");
                    frames
                        .trailers
                        .insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
                }
            }
            other => panic!("unexpected frame flag {other:#x}"),
        }
        body = &body[5 + length..];
    }
    frames
}

/// Decodes a `-text` body: every chunk the server sent is padded base64 on its own, so the
/// body is read four characters at a time.
fn decode_text(body: &[u8]) -> Vec<u8> {
    body.chunks(4)
        .flat_map(|group| STANDARD.decode(group).expect("base64 group"))
        .collect()
}

async fn call(
    gw: &TestGateway,
    path: &str,
    content_type: &str,
    body: Vec<u8>,
) -> reqwest::Response {
    gw.client
        .post(gw.url(path))
        .header("content-type", content_type)
        .header("accept", content_type)
        .header("x-grpc-web", "1")
        .body(body)
        .send()
        .await
        .expect("the gateway answers")
}

fn kitchen(text: &str, times: i32) -> Kitchen {
    Kitchen {
        string_field: text.into(),
        int32_field: times,
        ..Kitchen::default()
    }
}

#[tokio::test]
async fn unary_call_over_http1() {
    let gw = TestGateway::start().await;
    let sent = kitchen("web", 0);
    let response = call(&gw, ECHO, BINARY, frame(0, &sent.encode_to_vec())).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.version(), reqwest::Version::HTTP_11);
    assert_eq!(response.headers()["content-type"], BINARY);
    let frames = parse_frames(&response.bytes().await.unwrap());
    assert_eq!(frames.messages, [sent]);
    assert_eq!(frames.trailers["grpc-status"], "0", "{frames:?}");
}

#[tokio::test]
async fn server_streaming_call_over_http1() {
    let gw = TestGateway::start().await;
    let sent = kitchen("again", 3);
    let response = call(&gw, ECHO_STREAM, BINARY, frame(0, &sent.encode_to_vec())).await;
    assert_eq!(response.status(), 200);
    let frames = parse_frames(&response.bytes().await.unwrap());
    assert_eq!(frames.messages.len(), 3, "{frames:?}");
    assert!(frames.messages.iter().all(|m| m.string_field == "again"));
    assert_eq!(frames.trailers["grpc-status"], "0", "{frames:?}");
}

#[tokio::test]
async fn text_variant_is_base64_both_ways() {
    let gw = TestGateway::start().await;
    let sent = kitchen("in base64", 0);
    let body = STANDARD.encode(frame(0, &sent.encode_to_vec()));
    let response = call(&gw, ECHO, TEXT, body.into_bytes()).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/grpc-web-text+proto"
    );
    let frames = parse_frames(&decode_text(&response.bytes().await.unwrap()));
    assert_eq!(frames.messages, [sent]);
    assert_eq!(frames.trailers["grpc-status"], "0", "{frames:?}");
}

/// Found by the `whole_stack` fuzz target (fuzz/regressions/whole_stack/grpc_web_not_post):
/// a gRPC-Web request that is not a POST got tonic-web's bare 405, with no status to read.
#[tokio::test]
async fn a_grpc_web_request_that_is_not_a_post_gets_a_status() {
    let gw = TestGateway::start().await;
    for method in ["GET", "PUT", "DELETE"] {
        let response = gw
            .client
            .request(method.parse().unwrap(), gw.url(ECHO))
            .header("content-type", BINARY)
            .body(frame(0, &[]))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{method}");
        assert_eq!(response.headers()["grpc-status"], "12", "{method}");
    }
    // And the gateway goes on serving gRPC-Web.
    let sent = kitchen("after", 0);
    let response = call(&gw, ECHO, BINARY, frame(0, &sent.encode_to_vec())).await;
    assert_eq!(
        parse_frames(&response.bytes().await.unwrap()).messages,
        [sent]
    );
}

#[tokio::test]
async fn failures_are_grpc_statuses_in_the_headers() {
    let jwks = common::tokens::JwksFile::write();
    let gw = TestGateway::builder()
        .config(&jwks.auth_toml())
        .start()
        .await;
    // Refused by the gateway: a trailers-only answer, the status in the HTTP headers.
    let response = call(&gw, ECHO, BINARY, frame(0, &[])).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["grpc-status"], "16");
    let response = call(
        &gw,
        "/gatehouse.echo.v1.EchoService/Nope",
        BINARY,
        frame(0, &[]),
    )
    .await;
    assert_eq!(response.headers()["grpc-status"], "12");

    // Refused by the backend: its status passes through.
    let token = common::tokens::token("alice", &[]);
    let failing = Kitchen {
        fail: Some(Failure {
            code: 5,
            message: "no such thing: 100%".into(),
            with_details: false,
        }),
        ..Kitchen::default()
    };
    let response = gw
        .client
        .post(gw.url(ECHO))
        .header("content-type", BINARY)
        .header("authorization", format!("Bearer {token}"))
        .body(frame(0, &failing.encode_to_vec()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    let frames = parse_frames(&response.bytes().await.unwrap());
    let status = headers
        .get("grpc-status")
        .map(|v| v.to_str().unwrap().to_string())
        .or_else(|| frames.trailers.get("grpc-status").cloned());
    assert_eq!(status.as_deref(), Some("5"), "{headers:?} {frames:?}");
}

#[tokio::test]
async fn browser_preflight_allows_grpc_web_headers() {
    let gw = TestGateway::with_config("[server.cors]\norigins = [\"https://app.example\"]").await;
    let preflight = gw
        .request("OPTIONS", ECHO)
        .header("origin", "https://app.example")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type,x-grpc-web,x-user-agent,grpc-timeout",
        )
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success(), "{}", preflight.status());
    let allowed = preflight.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    for name in ["content-type", "x-grpc-web", "x-user-agent", "grpc-timeout"] {
        assert!(allowed.contains(name), "{name} not in {allowed}");
    }

    let sent = kitchen("cors", 0);
    let response = gw
        .client
        .post(gw.url(ECHO))
        .header("origin", "https://app.example")
        .header("content-type", BINARY)
        .header("x-grpc-web", "1")
        .body(frame(0, &sent.encode_to_vec()))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    let exposed = response.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    for name in ["grpc-status", "grpc-message"] {
        assert!(exposed.contains(name), "{name} not in {exposed}");
    }
}
