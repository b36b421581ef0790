//! WebSockets on streaming bindings, over real sockets with a tokio-tungstenite client: each
//! text frame one JSON message, the empty frame the client's half-close, the status as the last
//! frame and the close code (1000, or 4000 + the gRPC code). Refusals before the upgrade are the
//! usual JSON errors; a client that goes away or breaks the protocol cancels the backend call;
//! a client that stops reading stops the backend.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::tokens::{JwksFile, claims, sign};
use common::{Echo, EchoServer, TestGateway};
use futures_util::{SinkExt, StreamExt};
use jsonwebtoken::Algorithm;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::Response;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;
type Handshake = Result<(Socket, Response<Option<Vec<u8>>>), tungstenite::Error>;

/// Opens `path` offering `protocols` as `Sec-WebSocket-Protocol`.
async fn open(gw: &TestGateway, path: &str, protocols: &str) -> Handshake {
    let mut request = format!("ws://{}{path}", gw.addr)
        .into_client_request()
        .unwrap();
    if !protocols.is_empty() {
        let value = protocols.parse().unwrap();
        request
            .headers_mut()
            .insert("sec-websocket-protocol", value);
    }
    tokio_tungstenite::connect_async(request).await
}

async fn connect(gw: &TestGateway, path: &str) -> Socket {
    open(gw, path, "gatehouse.v1").await.expect("handshake").0
}

/// The HTTP answer that refused a handshake, and its JSON body.
async fn refused(handshake: Handshake) -> (u16, Value) {
    match handshake {
        Err(tungstenite::Error::Http(response)) => {
            let body = response.body().clone().unwrap_or_default();
            let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
            (response.status().as_u16(), json)
        }
        Err(other) => panic!("refused with {other}"),
        Ok(_) => panic!("the handshake was accepted"),
    }
}

async fn send(socket: &mut Socket, text: &str) {
    socket.send(Message::text(text)).await.unwrap();
}

/// The next text frame, as JSON.
async fn next_json(socket: &mut Socket) -> Value {
    loop {
        match socket.next().await {
            Some(Ok(Message::Text(text))) => return serde_json::from_str(&text).unwrap(),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            other => panic!("expected a text frame, got {other:?}"),
        }
    }
}

/// The status frame, then the close: the status JSON, the close code and reason.
async fn ending(socket: &mut Socket) -> (Value, u16, String) {
    let status = next_json(socket).await;
    assert_eq!(
        status["@type"], "type.googleapis.com/google.rpc.Status",
        "{status}"
    );
    match socket.next().await {
        Some(Ok(Message::Close(Some(frame)))) => {
            (status, u16::from(frame.code), frame.reason.to_string())
        }
        other => panic!("expected a close frame, got {other:?}"),
    }
}

/// Waits until `done` holds: what the backend saw arrives after the client's own view.
async fn eventually(what: &str, done: impl Fn() -> bool) {
    for _ in 0..500 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("never: {what}");
}

/// An echo server of the test's own (to read its stream counts) and a gateway in front.
async fn with_echo(config: &str) -> (EchoServer, TestGateway) {
    let echo = Echo::spawn().await;
    let gw = TestGateway::builder()
        .echo_at(format!("http://{}", echo.addr))
        .config(config)
        .start()
        .await;
    (echo, gw)
}

#[tokio::test]
async fn a_chat_echoes_each_message_and_ends_with_ok() {
    let gw = TestGateway::start().await;
    let (mut socket, response) = open(&gw, "/v1/chat/room1", "gatehouse.v1").await.unwrap();
    assert_eq!(response.status().as_u16(), 101);
    assert_eq!(response.headers()["sec-websocket-protocol"], "gatehouse.v1");
    assert!(response.headers().contains_key("x-request-id"));
    send(&mut socket, r#"{"boolField": true, "int64Field": "5"}"#).await;
    let first = next_json(&mut socket).await;
    assert_eq!(
        first["stringField"], "room1",
        "the path fills every message"
    );
    assert_eq!(first["boolField"], true);
    assert_eq!(first["int64Field"], "5");
    // The path wins over the message.
    send(&mut socket, r#"{"stringField": "elsewhere"}"#).await;
    assert_eq!(next_json(&mut socket).await["stringField"], "room1");
    send(&mut socket, "").await;
    let (status, code, reason) = ending(&mut socket).await;
    assert_eq!(status["code"], 0);
    assert_eq!(status["message"], "");
    assert_eq!(status["details"], json!([]));
    assert_eq!((code, reason.as_str()), (1000, ""));
}

#[tokio::test]
async fn replies_follow_the_json_output_options() {
    let gw =
        TestGateway::with_config("[server.json]\nemit_defaults = true\nproto_names = true\n").await;
    let mut socket = connect(&gw, "/v1/chat/r").await;
    send(&mut socket, "{}").await;
    let reply = next_json(&mut socket).await;
    assert_eq!(reply["string_field"], "r");
    assert_eq!(reply["int32_field"], 0, "{reply}");
}

#[tokio::test]
async fn a_backend_error_is_the_status_frame_and_the_close_code() {
    let gw = TestGateway::start().await;
    let mut socket = connect(&gw, "/v1/chat/r").await;
    send(
        &mut socket,
        r#"{"fail": {"code": 5, "message": "no such room"}}"#,
    )
    .await;
    let (status, code, reason) = ending(&mut socket).await;
    assert_eq!(status["code"], 5);
    assert_eq!(status["message"], "no such room");
    assert_eq!((code, reason.as_str()), (4005, "no such room"));
}

#[tokio::test]
async fn a_server_stream_starts_with_the_empty_frame() {
    let gw = TestGateway::start().await;
    let mut socket = connect(&gw, "/v1/stream/hello?int32Field=2").await;
    send(&mut socket, "").await;
    for _ in 0..2 {
        assert_eq!(next_json(&mut socket).await["stringField"], "hello");
    }
    let (status, code, _) = ending(&mut socket).await;
    assert_eq!((status["code"].clone(), code), (json!(0), 1000));
}

#[tokio::test]
async fn a_server_stream_error_after_messages_closes_with_its_code() {
    let gw = TestGateway::start().await;
    let path = "/v1/stream/x?int32Field=1&fail.code=9&fail.message=not%20now";
    let mut socket = connect(&gw, path).await;
    send(&mut socket, "").await;
    assert_eq!(next_json(&mut socket).await["stringField"], "x");
    let (status, code, reason) = ending(&mut socket).await;
    assert_eq!(status["code"], 9);
    assert_eq!((code, reason.as_str()), (4009, "not now"));
}

#[tokio::test]
async fn a_body_on_a_binding_without_one_is_refused() {
    let gw = TestGateway::start().await;
    let mut socket = connect(&gw, "/v1/stream/x").await;
    send(&mut socket, r#"{"int32Field": 1}"#).await;
    let (status, code, _) = ending(&mut socket).await;
    assert_eq!((status["code"].clone(), code), (json!(3), 4003));
    assert!(status["message"].as_str().unwrap().starts_with("frame 1:"));
}

#[tokio::test]
async fn a_client_stream_gets_its_one_reply() {
    let gw = TestGateway::start().await;
    let mut socket = connect(&gw, "/v1/collect/c1").await;
    for i in 1..=3 {
        send(&mut socket, &format!(r#"{{"int64Field": "{i}"}}"#)).await;
    }
    send(&mut socket, "").await;
    let reply = next_json(&mut socket).await;
    assert_eq!(reply["int32Field"], 3, "how many arrived: {reply}");
    assert_eq!(reply["int64Field"], "3", "the last one");
    assert_eq!(reply["stringField"], "c1");
    let (status, code, _) = ending(&mut socket).await;
    assert_eq!((status["code"].clone(), code), (json!(0), 1000));
}

#[tokio::test]
async fn a_malformed_frame_ends_the_call_and_cancels_the_backend() {
    let (echo, gw) = with_echo("").await;
    let mut socket = connect(&gw, "/v1/chat/r").await;
    send(&mut socket, "{}").await;
    next_json(&mut socket).await;
    send(&mut socket, "{not json").await;
    let (status, code, reason) = ending(&mut socket).await;
    assert_eq!(status["code"], 3);
    let message = status["message"].as_str().unwrap();
    assert!(message.starts_with("frame 2: "), "{message}");
    assert_eq!(code, 4003);
    assert!(reason.starts_with("frame 2: ") && reason.len() <= 123);
    let reasons: Vec<&str> = status["details"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d["reason"].as_str())
        .collect();
    assert_eq!(reasons, ["INVALID_JSON"]);
    eventually("the backend call is cancelled", || {
        echo.streams.chats_cancelled() == 1
    })
    .await;
}

#[tokio::test]
async fn a_binary_frame_is_invalid_argument() {
    let gw = TestGateway::start().await;
    let mut socket = connect(&gw, "/v1/chat/r").await;
    socket.send(Message::binary(vec![1, 2, 3])).await.unwrap();
    let (status, code, _) = ending(&mut socket).await;
    assert_eq!((status["code"].clone(), code), (json!(3), 4003));
    assert!(status["message"].as_str().unwrap().contains("text frame"));
}

#[tokio::test]
async fn a_client_that_goes_away_cancels_the_backend_call() {
    let (echo, gw) = with_echo("").await;
    let mut socket = connect(&gw, "/v1/chat/r").await;
    send(&mut socket, "{}").await;
    next_json(&mut socket).await;
    drop(socket);
    eventually("the backend call is cancelled", || {
        echo.streams.chats_cancelled() == 1
    })
    .await;
    // A close frame does the same.
    let mut socket = connect(&gw, "/v1/chat/r").await;
    send(&mut socket, "{}").await;
    next_json(&mut socket).await;
    socket.close(None).await.unwrap();
    // The gateway answers the close.
    assert!(matches!(socket.next().await, Some(Ok(Message::Close(_)))));
    eventually("the second call is cancelled", || {
        echo.streams.chats_cancelled() == 2
    })
    .await;
}

#[tokio::test]
async fn a_message_over_max_body_is_refused() {
    let gw = TestGateway::with_config("[server]\nmax_body = \"1KiB\"\n").await;
    let mut socket = connect(&gw, "/v1/chat/r").await;
    let big = format!(r#"{{"stringField": "{}"}}"#, "x".repeat(2048));
    // The gateway may close before the whole message is written.
    let _ = socket.send(Message::text(big)).await;
    let (status, code, _) = ending(&mut socket).await;
    assert_eq!((status["code"].clone(), code), (json!(3), 4003));
    assert!(status["message"].as_str().unwrap().contains("size limit"));
}

#[tokio::test]
async fn the_token_may_come_as_a_subprotocol_and_is_never_echoed() {
    let jwks = JwksFile::write();
    let gw = TestGateway::with_config(&jwks.auth_toml()).await;
    let token = sign(Algorithm::RS256, &claims("ada", &[]));
    let offered = format!("gatehouse.v1, bearer.{token}");
    let (mut socket, response) = open(&gw, "/v1/chat/r", &offered).await.unwrap();
    assert_eq!(response.headers()["sec-websocket-protocol"], "gatehouse.v1");
    for (_, value) in response.headers() {
        assert!(!value.to_str().unwrap_or_default().contains(&token));
    }
    send(&mut socket, "{}").await;
    assert_eq!(next_json(&mut socket).await["stringField"], "r");

    // Without a credential: 401 in the JSON shape, no upgrade.
    let (status, body) = refused(open(&gw, "/v1/chat/r", "gatehouse.v1").await).await;
    assert_eq!((status, body["code"].clone()), (401, json!(16)));
    // A forged token is no better.
    let forged = "gatehouse.v1, bearer.eyJhbGciOiJub25lIn0.e30.";
    let (status, _) = refused(open(&gw, "/v1/chat/r", forged).await).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn a_handshake_without_the_subprotocol_is_refused() {
    let gw = TestGateway::start().await;
    let (status, body) = refused(open(&gw, "/v1/chat/r", "").await).await;
    assert_eq!((status, body["code"].clone()), (400, json!(3)));
    assert!(body["message"].as_str().unwrap().contains("gatehouse.v1"));
    let (status, _) = refused(open(&gw, "/v1/chat/r", "chat, superchat").await).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn paths_that_are_not_streaming_bindings_are_answered_as_usual() {
    let gw = TestGateway::start().await;
    // A unary method's GET: its normal answer.
    let (status, body) = refused(open(&gw, "/v1/echo/x", "gatehouse.v1").await).await;
    assert_eq!((status, body["stringField"].clone()), (200, json!("x")));
    let (status, _) = refused(open(&gw, "/v1/nowhere", "gatehouse.v1").await).await;
    assert_eq!(status, 404);
    // POST-only unary binding: 405.
    let (status, _) = refused(open(&gw, "/v1/echo", "gatehouse.v1").await).await;
    assert_eq!(status, 405);
}

#[tokio::test]
async fn a_websocket_call_takes_one_from_the_rate_limit() {
    let gw = TestGateway::with_config(
        "[[routes]]\nmethod = \"gatehouse.echo.v1.EchoService/EchoChat\"\n\
         rate_limit = { per_minute = 1, burst = 1, key = \"ip\" }\n",
    )
    .await;
    let mut socket = connect(&gw, "/v1/chat/r").await;
    for _ in 0..3 {
        send(&mut socket, "{}").await;
        next_json(&mut socket).await;
    }
    let (status, body) = refused(open(&gw, "/v1/chat/r", "gatehouse.v1").await).await;
    assert_eq!((status, body["code"].clone()), (429, json!(8)));
}

#[tokio::test]
async fn a_call_with_no_message_for_the_idle_timeout_ends() {
    let gw = TestGateway::with_config("[server]\nstream_idle_timeout = \"200ms\"\n").await;
    let mut socket = connect(&gw, "/v1/chat/r").await;
    let (status, code, _) = ending(&mut socket).await;
    assert_eq!((status["code"].clone(), code), (json!(4), 4004));
}

#[tokio::test]
async fn the_timeout_parameter_bounds_the_whole_call() {
    let gw = TestGateway::start().await;
    let mut socket = connect(&gw, "/v1/chat/r?timeout=300m").await;
    send(&mut socket, "{}").await;
    // The parameter is not a field of the message.
    assert_eq!(next_json(&mut socket).await["stringField"], "r");
    let (status, code, _) = ending(&mut socket).await;
    assert_eq!((status["code"].clone(), code), (json!(4), 4004));

    let (status, body) = refused(open(&gw, "/v1/chat/r?timeout=soon", "gatehouse.v1").await).await;
    assert_eq!((status, body["code"].clone()), (400, json!(3)));
}

#[tokio::test]
async fn a_reader_that_stalls_stops_the_backend() {
    let (echo, gw) = with_echo("").await;
    // 100 000 messages of 4 KiB each: far more than the socket buffers on the way can hold.
    let wanted = 100_000;
    let name = "n".repeat(4096);
    let mut socket = connect(&gw, &format!("/v1/stream/{name}?int32Field={wanted}")).await;
    send(&mut socket, "").await;
    assert_eq!(next_json(&mut socket).await["stringField"], name.as_str());
    // The client reads nothing more: the backend stops once the buffers are full.
    let streams = Arc::clone(&echo.streams);
    let mut last = 0;
    let mut still = 0;
    while still < 5 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let produced = streams.produced();
        still = if produced == last { still + 1 } else { 0 };
        last = produced;
        assert!(produced < wanted, "the backend was never held back");
    }
    // Socket buffers (a few MiB each way on loopback) and HTTP/2 windows, not the stream.
    assert!(last < wanted / 10, "{last} messages left the backend");
    eprintln!("a stalled reader held the backend at {last} messages of 4 KiB");
    drop(socket);
    eventually("the stalled stream is cancelled", || {
        streams.cancelled() == 1
    })
    .await;
}

#[tokio::test]
async fn pinned_fields_come_from_the_credential() {
    let jwks = JwksFile::write();
    let gw = TestGateway::with_config(&format!(
        "{}\n[[routes]]\nmethod = \"gatehouse.echo.v1.EchoService/EchoStream\"\n\
         from_identity = {{ int64_field = \"claim:org\" }}\n",
        jwks.auth_toml()
    ))
    .await;
    let mut claims = claims("ada", &[]);
    claims["org"] = 7.into();
    let token = sign(Algorithm::RS256, &claims);
    let offered = format!("gatehouse.v1, bearer.{token}");
    let (mut socket, _) = open(&gw, "/v1/stream/p?int32Field=1", &offered)
        .await
        .unwrap();
    send(&mut socket, "").await;
    assert_eq!(next_json(&mut socket).await["int64Field"], "7");
    // Another value from the query is refused before the upgrade, as over REST.
    let path = "/v1/stream/p?int32Field=1&int64Field=99";
    let (status, body) = refused(open(&gw, path, &offered).await).await;
    assert_eq!((status, body["code"].clone()), (403, json!(7)));
}

#[tokio::test]
async fn a_message_larger_than_the_read_buffer_goes_through() {
    let gw = TestGateway::start().await;
    let mut socket = connect(&gw, "/v1/chat/r").await;
    let long = "y".repeat(200 * 1024);
    send(&mut socket, &format!(r#"{{"repeatedString": ["{long}"]}}"#)).await;
    assert_eq!(
        next_json(&mut socket).await["repeatedString"][0],
        long.as_str()
    );
}

#[tokio::test]
async fn a_message_after_the_half_close_is_invalid_argument() {
    let gw = TestGateway::start().await;
    // A server stream whose backend waits a minute before its message: the call is still on.
    let mut socket = connect(&gw, "/v1/stream/x?int32Field=1&delayMs=60000").await;
    send(&mut socket, "").await;
    send(&mut socket, "{}").await;
    let (status, code, _) = ending(&mut socket).await;
    assert_eq!((status["code"].clone(), code), (json!(3), 4003));
    let message = status["message"].as_str().unwrap();
    assert!(message.starts_with("frame 2: ") && message.contains("half-close"));
}

#[tokio::test]
async fn the_grpc_timeout_header_bounds_the_call() {
    let gw = TestGateway::start().await;
    let mut request = format!("ws://{}/v1/chat/r", gw.addr)
        .into_client_request()
        .unwrap();
    let headers = request.headers_mut();
    headers.insert("sec-websocket-protocol", "gatehouse.v1".parse().unwrap());
    headers.insert("grpc-timeout", "200m".parse().unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let (status, code, _) = ending(&mut socket).await;
    assert_eq!((status["code"].clone(), code), (json!(4), 4004));
}

#[tokio::test]
async fn a_client_that_sends_without_reading_is_held_back_too() {
    let (echo, gw) = with_echo("").await;
    let socket = connect(&gw, "/v1/chat/r").await;
    // The client writes 2,000 messages of 64 KiB and reads nothing: the replies fill the way
    // back, the backend stops reading, the gateway's channel fills and it stops reading the
    // socket, and the client's writes block.
    let wanted = 2000;
    let (mut sink, unread) = socket.split();
    let sent = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = sent.clone();
    let writer = tokio::spawn(async move {
        let message = format!(r#"{{"bytesField": "{}"}}"#, "QUFB".repeat(16 * 1024));
        for _ in 0..wanted {
            if sink.send(Message::text(message.clone())).await.is_err() {
                return;
            }
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    });
    let mut last = 0;
    let mut still = 0;
    while still < 5 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = sent.load(std::sync::atomic::Ordering::SeqCst);
        still = if now == last { still + 1 } else { 0 };
        last = now;
        assert!(now < wanted, "the client was never held back");
    }
    let replies = echo.streams.chat_replies();
    assert!(last < wanted / 2, "{last} messages were taken");
    eprintln!(
        "a client that does not read could write {last} messages of 64 KiB; {replies} replies left the backend"
    );
    writer.abort();
    drop(unread);
}
