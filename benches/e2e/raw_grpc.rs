//! A lean unary gRPC client for the load: the request is encoded once, each call is one HTTP/2
//! stream on a shared connection (`h2`), and the answer is checked by its `grpc-status` and
//! the presence of a message, without decoding it. (tonic's client adds a buffer task, tower
//! layers and a codec per call; that cost lands on the generator's core.)

use std::net::SocketAddr;

use bytes::Bytes;
use gatehouse::proto::users::v1::GetUserRequest;
use h2::client::SendRequest;
use http::header::{CONTENT_TYPE, TE};
use prost::Message;
use tokio::net::TcpStream;

/// A handle on one HTTP/2 connection; clones share it.
pub type Sender = SendRequest<Bytes>;

/// Opens an HTTP/2 connection (prior knowledge, as gRPC over plain TCP does) and drives it
/// in a task of its own.
pub async fn connect(addr: SocketAddr) -> Result<Sender, String> {
    let tcp = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    tcp.set_nodelay(true).map_err(|e| e.to_string())?;
    let (sender, connection) = h2::client::handshake(tcp)
        .await
        .map_err(|e| format!("HTTP/2 handshake with {addr}: {e}"))?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}

/// One unary method and its encoded request.
pub struct UnaryCall {
    uri: http::Uri,
    /// The length-prefixed message: flag 0 (not compressed), big-endian length, protobuf.
    body: Bytes,
}

impl UnaryCall {
    /// `users.v1.UserService/GetUser` for the benchmark's user, on `addr`.
    pub fn get_user(addr: SocketAddr) -> UnaryCall {
        let message = GetUserRequest {
            user_id: crate::USER_ID.to_string(),
        }
        .encode_to_vec();
        let mut body = Vec::with_capacity(5 + message.len());
        body.push(0);
        body.extend_from_slice(&(message.len() as u32).to_be_bytes());
        body.extend_from_slice(&message);
        let uri = format!("http://{addr}/users.v1.UserService/GetUser")
            .parse()
            .expect("an address makes a valid URI");
        UnaryCall {
            uri,
            body: body.into(),
        }
    }

    /// Makes the call: `Ok(true)` for grpc-status 0 with a message, `Ok(false)` for any
    /// other answer, `Err` when the connection failed.
    pub async fn send(&self, sender: Sender) -> Result<bool, h2::Error> {
        let mut sender = sender.ready().await?;
        let request = http::Request::post(self.uri.clone())
            .header(CONTENT_TYPE, "application/grpc")
            .header(TE, "trailers")
            .body(())
            .expect("a request of constant parts");
        let (response, mut stream) = sender.send_request(request, false)?;
        stream.send_data(self.body.clone(), true)?;
        let (head, mut body) = response.await?.into_parts();
        let mut received = 0;
        while let Some(chunk) = body.data().await {
            let chunk = chunk?;
            received += chunk.len();
            // Give the window back, or the connection stalls after 64 KiB.
            let _ = body.flow_control().release_capacity(chunk.len());
        }
        let trailers = body.trailers().await?;
        // A trailers-only answer carries grpc-status in the headers.
        let status = trailers
            .as_ref()
            .and_then(|t| t.get("grpc-status"))
            .or_else(|| head.headers.get("grpc-status"));
        Ok(head.status == http::StatusCode::OK && status.is_some_and(|s| s == "0") && received > 5)
    }
}
