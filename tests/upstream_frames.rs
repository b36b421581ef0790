//! A unary call leaves the gateway as HEADERS and one DATA frame that ends the stream, never a
//! DATA frame followed by an empty one. h2 servers count small DATA frames that do not end
//! their stream against a flood budget per connection: a burst of thousands of calls on one
//! connection exhausted it and the backend answered GOAWAY ENHANCE_YOUR_CALM, failing every
//! call on the connection. The backend here reads the frames off the socket itself.

mod common;

use std::time::Duration;

use common::TestGateway;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
const SETTINGS: u8 = 0x4;
const END_STREAM: u8 = 0x1;
const ACK: u8 = 0x1;

/// One frame's header: type, flags, stream, payload length.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Frame {
    kind: u8,
    flags: u8,
    stream: u32,
    len: usize,
}

/// Accepts one connection, acts as an HTTP/2 server just enough for a client to send a
/// request (SETTINGS both ways), and returns the frames of the first stream up to the one
/// that ends it. Then hangs up.
async fn first_request_frames(listener: TcpListener) -> Vec<Frame> {
    let (mut socket, _) = listener.accept().await.unwrap();
    let mut preface = [0u8; 24];
    socket.read_exact(&mut preface).await.unwrap();
    assert_eq!(preface, PREFACE);
    socket
        .write_all(&[0, 0, 0, SETTINGS, 0, 0, 0, 0, 0])
        .await
        .unwrap();
    let mut frames = Vec::new();
    loop {
        let mut head = [0u8; 9];
        socket.read_exact(&mut head).await.unwrap();
        let frame = Frame {
            kind: head[3],
            flags: head[4],
            stream: u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff,
            len: usize::from(head[0]) << 16 | usize::from(head[1]) << 8 | usize::from(head[2]),
        };
        let mut payload = vec![0u8; frame.len];
        socket.read_exact(&mut payload).await.unwrap();
        if frame.kind == SETTINGS && frame.flags & ACK == 0 {
            socket
                .write_all(&[0, 0, 0, SETTINGS, ACK, 0, 0, 0, 0])
                .await
                .unwrap();
        }
        if frame.stream == 0 {
            continue;
        }
        frames.push(frame);
        if matches!(frame.kind, DATA | HEADERS) && frame.flags & END_STREAM != 0 {
            return frames;
        }
    }
}

#[tokio::test]
async fn a_unary_request_goes_as_one_data_frame_that_ends_the_stream() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let backend = format!("http://{}", listener.local_addr().unwrap());
    let (seen, frames) = oneshot::channel();
    tokio::spawn(async move {
        let _ = seen.send(first_request_frames(listener).await);
    });
    let gw = TestGateway::builder().echo_at(backend).start().await;
    // The backend never answers; the call itself is not what this test looks at.
    let call = gw.get("/v1/echo/hello?int32Field=7").send();
    let frames = tokio::select! {
        frames = frames => frames.unwrap(),
        _ = call => panic!("the gateway answered before the backend saw the request"),
        _ = tokio::time::sleep(Duration::from_secs(10)) => panic!("no request reached the backend"),
    };
    let kinds: Vec<u8> = frames.iter().map(|f| f.kind).collect();
    assert_eq!(kinds, [HEADERS, DATA], "{frames:?}");
    let data = frames[1];
    assert_ne!(
        data.flags & END_STREAM,
        0,
        "the message ends the stream: {data:?}"
    );
    // The 5-byte gRPC prefix and the message (string_field "hello", int32_field 7).
    assert!(data.len > 5 + "hello".len(), "{data:?}");
}
