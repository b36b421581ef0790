//! Backends that are down or do not speak gRPC: the gateway answers 503 or 502 with a generic
//! message, and never crashes or leaks connection details.

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use common::{TestGateway, expect_error, expect_status};
use http::{HeaderMap, HeaderValue, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use prost::Message;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

type Body = BoxBody<Bytes, Infallible>;
type Reply = Arc<dyn Fn() -> Response<Body> + Send + Sync>;

/// An HTTP/2-only server (prior knowledge, as gRPC clients connect) answering every request
/// with `reply()`.
async fn spawn_h2(reply: impl Fn() -> Response<Body> + Send + Sync + 'static) -> SocketAddr {
    let reply: Reply = Arc::new(reply);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let reply = reply.clone();
            tokio::spawn(async move {
                let service = service_fn(move |_request| {
                    let response = reply();
                    async move { Ok::<_, Infallible>(response) }
                });
                let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

/// A server that answers whatever arrives with one HTTP/1.1 HTML page and closes.
async fn spawn_http1_html() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buffer = [0u8; 1024];
                let _ = stream.read(&mut buffer).await;
                let page = "<html>hello</html>";
                let response = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\
                     Connection: close\r\n\r\n{page}",
                    page.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    addr
}

/// One gRPC length-prefixed, uncompressed message.
fn grpc_frame(message: &[u8]) -> Bytes {
    let mut frame = Vec::with_capacity(message.len() + 5);
    frame.push(0);
    frame.extend_from_slice(&u32::try_from(message.len()).unwrap().to_be_bytes());
    frame.extend_from_slice(message);
    frame.into()
}

fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).boxed()
}

/// 200 `application/grpc` with `body`, then `trailers` (none when empty).
fn grpc_reply(body: Bytes, trailers: HeaderMap) -> Response<Body> {
    let body = if trailers.is_empty() {
        full(body)
    } else {
        Full::new(body)
            .with_trailers(async move { Some(Ok(trailers)) })
            .boxed()
    };
    Response::builder()
        .header("content-type", "application/grpc")
        .body(body)
        .unwrap()
}

fn grpc_ok_trailers() -> HeaderMap {
    let mut trailers = HeaderMap::new();
    trailers.insert("grpc-status", HeaderValue::from_static("0"));
    trailers
}

async fn gateway_in_front_of(addr: SocketAddr) -> TestGateway {
    TestGateway::builder()
        .echo_at(format!("http://{addr}"))
        .start()
        .await
}

#[tokio::test]
async fn nothing_listening_is_503_with_a_generic_message() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap().port()
    };
    let gw = TestGateway::builder()
        .echo_at(format!("http://127.0.0.1:{port}"))
        .start()
        .await;
    let response = gw.get("/v1/echo/x").send().await.unwrap();
    let body = expect_error(response, 503, 14, "UPSTREAM_UNAVAILABLE").await;
    let text = body.to_string().to_lowercase();
    for leak in ["tcp", "connect", "refused", "127.0.0.1", &port.to_string()] {
        assert!(!text.contains(leak), "{leak:?} leaked: {body}");
    }
}

/// An HTTP/1.1 server answers the HTTP/2 preface with a page and hangs up: to the gateway the
/// connection broke under the call, as when a backend dies, and that is 503.
#[tokio::test]
async fn http1_backend_is_503() {
    let gw = gateway_in_front_of(spawn_http1_html().await).await;
    let response = gw.get("/v1/echo/x").send().await.unwrap();
    let body = expect_error(response, 503, 14, "UPSTREAM_UNAVAILABLE").await;
    assert!(!body.to_string().contains("hello"), "{body}");
}

#[tokio::test]
async fn h2_backend_answering_html_is_502() {
    let addr = spawn_h2(|| {
        Response::builder()
            .header("content-type", "text/html")
            .body(full("<html>maintenance</html>"))
            .unwrap()
    })
    .await;
    let gw = gateway_in_front_of(addr).await;
    let response = gw.get("/v1/echo/x").send().await.unwrap();
    let body = expect_error(response, 502, 14, "UPSTREAM_BAD_RESPONSE").await;
    assert!(!body.to_string().contains("maintenance"), "{body}");
}

#[tokio::test]
async fn h2_backend_answering_an_http_error_page_is_502() {
    for status in [
        StatusCode::NOT_FOUND,
        StatusCode::SERVICE_UNAVAILABLE,
        StatusCode::UNAUTHORIZED,
    ] {
        let addr = spawn_h2(move || {
            Response::builder()
                .status(status)
                .header("content-type", "text/html")
                .body(full("<html>error</html>"))
                .unwrap()
        })
        .await;
        let gw = gateway_in_front_of(addr).await;
        let response = gw.get("/v1/echo/x").send().await.unwrap();
        expect_error(response, 502, 14, "UPSTREAM_BAD_RESPONSE").await;
    }
}

#[tokio::test]
async fn grpc_reply_without_grpc_status_is_502() {
    let addr = spawn_h2(|| {
        let message = gatehouse::proto::gatehouse::echo::v1::Kitchen {
            string_field: "never trusted".into(),
            ..Default::default()
        };
        grpc_reply(grpc_frame(&message.encode_to_vec()), HeaderMap::new())
    })
    .await;
    let gw = gateway_in_front_of(addr).await;
    let response = gw.get("/v1/echo/x").send().await.unwrap();
    expect_error(response, 502, 14, "UPSTREAM_BAD_RESPONSE").await;
}

#[tokio::test]
async fn status_details_that_are_not_base64_are_dropped() {
    let addr = spawn_h2(|| {
        // A trailers-only reply: the status travels in the headers.
        Response::builder()
            .header("content-type", "application/grpc")
            .header("grpc-status", "5")
            .header("grpc-message", "no such widget")
            .header("grpc-status-details-bin", "!!! not base64 !!!")
            .body(full(Bytes::new()))
            .unwrap()
    })
    .await;
    let gw = gateway_in_front_of(addr).await;
    for _ in 0..2 {
        let response = gw.get("/v1/echo/x").send().await.unwrap();
        let body = expect_status(response, 404, 5).await;
        assert_eq!(body["message"], "no such widget");
        assert_eq!(body["details"], serde_json::json!([]));
    }
}

#[tokio::test]
async fn status_details_in_trailers_that_are_not_base64_are_dropped() {
    let addr = spawn_h2(|| {
        let mut trailers = HeaderMap::new();
        trailers.insert("grpc-status", HeaderValue::from_static("5"));
        trailers.insert("grpc-message", HeaderValue::from_static("gone"));
        trailers.insert("grpc-status-details-bin", HeaderValue::from_static("%%%"));
        grpc_reply(Bytes::new(), trailers)
    })
    .await;
    let gw = gateway_in_front_of(addr).await;
    let response = gw.get("/v1/echo/x").send().await.unwrap();
    let body = expect_status(response, 404, 5).await;
    assert_eq!(body["message"], "gone");
}

#[tokio::test]
async fn response_message_that_does_not_decode_is_502() {
    let addr = spawn_h2(|| {
        // Field 1 (string) claims 100 bytes and has 2.
        grpc_reply(grpc_frame(&[0x0a, 100, b'h', b'i']), grpc_ok_trailers())
    })
    .await;
    let gw = gateway_in_front_of(addr).await;
    let response = gw.get("/v1/echo/x").send().await.unwrap();
    expect_error(response, 502, 14, "UPSTREAM_BAD_RESPONSE").await;
}

#[tokio::test]
async fn a_well_formed_fake_reply_is_rendered() {
    // The fake server itself is sound: a proper reply comes through as 200.
    let addr = spawn_h2(|| {
        let message = gatehouse::proto::gatehouse::echo::v1::Kitchen {
            string_field: "from fake".into(),
            ..Default::default()
        };
        grpc_reply(grpc_frame(&message.encode_to_vec()), grpc_ok_trailers())
    })
    .await;
    let gw = gateway_in_front_of(addr).await;
    let body = common::json_ok(gw.get("/v1/echo/x").send().await.unwrap()).await;
    assert_eq!(body, serde_json::json!({"stringField": "from fake"}));
}

/// The client learns only that the response was invalid; the log line of the failure says
/// how, for REST, a gRPC call through the ingress and an aggregate's optional call alike, and
/// names the request it was.
#[tokio::test]
async fn the_log_says_how_a_response_was_invalid() {
    let addr = spawn_h2(|| {
        Response::builder()
            .status(StatusCode::SERVICE_UNAVAILABLE)
            .header("content-type", "text/html")
            .body(full("<html>down for maintenance</html>"))
            .unwrap()
    })
    .await;
    let gatehouse = common::Gatehouse::start_logging(
        "bad-response-cause",
        &format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n\n\
             [admin]\nlisten = \"127.0.0.1:0\"\n\n\
             [telemetry]\naccess_log = \"off\"\n\n\
             [[backends]]\nname = \"echo\"\nservices = [\"{}\"]\nendpoints = [\"http://{addr}\"]\n\n\
             [[aggregates]]\nroute = \"GET /v1/twice/{{text}}\"\n\n\
             [[aggregates.calls]]\nname = \"echo\"\nmethod = \"{}/Echo\"\n\
             request = {{ string_field = \"{{text}}\" }}\n",
            common::ECHO_SERVICE,
            common::ECHO_SERVICE,
        ),
        "warn",
    );
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let response = client
        .get(format!("http://{}/v1/echo/x", gatehouse.rest))
        .header("x-request-id", "rest-1")
        .send()
        .await
        .unwrap();
    let body = expect_error(response, 502, 14, "UPSTREAM_BAD_RESPONSE").await;
    assert_eq!(body["message"], "upstream sent an invalid response");

    // The optional call's failure is in the answer, which is still a 200.
    let response = client
        .get(format!("http://{}/v1/twice/x", gatehouse.rest))
        .header("x-request-id", "aggregate-1")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["errors"][0]["call"], "echo", "{body}");
    assert_eq!(
        body["errors"][0]["message"],
        "upstream sent an invalid response"
    );

    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", gatehouse.rest))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut grpc =
        gatehouse::proto::gatehouse::echo::v1::echo_service_client::EchoServiceClient::new(channel);
    let mut call = tonic::Request::new(gatehouse::proto::gatehouse::echo::v1::Kitchen::default());
    call.metadata_mut()
        .insert("x-request-id", "grpc-1".parse().unwrap());
    let status = grpc.echo(call).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unavailable);
    assert_eq!(status.message(), "upstream sent an invalid response");

    gatehouse.terminate();
    let log = gatehouse.log();
    let cause = "cause=\"upstream answered HTTP 503 Service Unavailable instead of gRPC\"";
    let echo = format!("/{}/Echo", common::ECHO_SERVICE);
    for (failed, id, method, route) in [
        ("request failed", "rest-1", "GET", "/v1/echo/{string_field}"),
        ("gRPC call failed", "grpc-1", "POST", echo.as_str()),
        (
            "aggregate call failed",
            "aggregate-1",
            "GET",
            "/v1/twice/{text}",
        ),
    ] {
        let request = format!(
            " WARN request{{request_id=\"{id}\" trace_id=\"{{}}\" method=\"{method}\" \
             route=\"{route}\"}}: gatehouse::error: {failed} "
        );
        let (before, after) = request.split_once("{}").unwrap();
        assert!(
            log.lines().any(|l| {
                // The trace id is the one the gateway started: 32 hex digits.
                let named = l.split_once(before).and_then(|(_, rest)| {
                    let (trace, rest) = rest.split_at_checked(32)?;
                    let hex = trace.bytes().all(|b| b.is_ascii_hexdigit());
                    (hex && rest.starts_with(after)).then_some(())
                });
                named.is_some() && l.contains(cause)
            }),
            "no {failed:?} line for {id} with {cause}:\n{log}"
        );
    }
    assert!(!log.contains("maintenance"), "{log}");
}
