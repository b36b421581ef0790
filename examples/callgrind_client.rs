//! The client of `scripts/callgrind.sh`: sends one kind of request to a gateway, a fixed number
//! at a time, in two phases the script brackets with `callgrind_control`.
//!
//! ```text
//! cargo run --example callgrind_client -- <rest|grpc> ADDR IN_FLIGHT WARM_UP COUNT
//! ```
//!
//! `rest` is `GET /api/users/123` on IN_FLIGHT keep-alive HTTP/1.1 connections; `grpc` is
//! `users.v1.UserService/GetUser` for user "123" as IN_FLIGHT concurrent streams on one HTTP/2
//! connection (prior knowledge, `content-type: application/grpc`). IN_FLIGHT lanes each send
//! their share of the requests one after another, so that many are in flight at any time. The
//! client connects, sends WARM_UP requests, prints `warm` and waits for a line on stdin; then
//! sends COUNT requests, prints `sent COUNT` and waits for another line before it closes its
//! connections. So connection setup and teardown fall outside the measured window. Any answer
//! other than a success ends it with an error.

use std::net::SocketAddr;

use bytes::Bytes;
use gatehouse::proto::users::v1::GetUserRequest;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use prost::Message;
use tokio::io::{AsyncBufReadExt, BufReader, Lines, Stdin};
use tokio::net::TcpStream;

type Error = Box<dyn std::error::Error + Send + Sync>;

const USAGE: &str = "usage: callgrind_client <rest|grpc> ADDR IN_FLIGHT WARM_UP COUNT";
/// The seed data's first user (Ada Lovelace).
const USER_ID: &str = "123";

/// The sending half of a client's HTTP/1.1 connection.
type Http1Sender = hyper::client::conn::http1::SendRequest<Empty<Bytes>>;

/// One lane: a connection (or, for gRPC, a handle on the shared one) and the request it repeats.
enum Lane {
    Rest(Http1Sender, http::Uri),
    Grpc(h2::client::SendRequest<Bytes>, http::Uri, Bytes),
}

// One thread: the client's own scheduling stays the same from run to run.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [kind, addr, in_flight, warm_up, count] = args.as_slice() else {
        return Err(USAGE.into());
    };
    let addr: SocketAddr = addr.parse()?;
    let in_flight: u64 = in_flight.parse()?;
    let (warm_up, count): (u64, u64) = (warm_up.parse()?, count.parse()?);
    if in_flight == 0 {
        return Err(USAGE.into());
    }
    let mut lanes = match kind.as_str() {
        "rest" => Lane::rest(addr, in_flight).await?,
        "grpc" => Lane::grpc(addr, in_flight).await?,
        _ => return Err(USAGE.into()),
    };
    let mut stdin = BufReader::new(tokio::io::stdin()).lines();

    send(&mut lanes, warm_up).await?;
    println!("warm");
    wait_for_line(&mut stdin).await?;
    send(&mut lanes, count).await?;
    println!("sent {count}");
    wait_for_line(&mut stdin).await?;
    Ok(())
}

/// Sends `n` requests, shared out between the lanes as evenly as they divide; each lane sends
/// its next request once its previous answer has been read to the end.
async fn send(lanes: &mut [Lane], n: u64) -> Result<(), Error> {
    let k = lanes.len() as u64;
    let shares = lanes
        .iter_mut()
        .zip(0..)
        .map(|(lane, i)| lane.send(n / k + u64::from(i < n % k)));
    futures_util::future::try_join_all(shares).await?;
    Ok(())
}

impl Lane {
    /// `n` lanes, each on its own connection: HTTP/1.1 has one request in flight per connection.
    async fn rest(addr: SocketAddr, n: u64) -> Result<Vec<Lane>, Error> {
        let uri: http::Uri = format!("http://{addr}/api/users/{USER_ID}").parse()?;
        let mut lanes = Vec::new();
        for _ in 0..n {
            let tcp = TcpStream::connect(addr).await?;
            tcp.set_nodelay(true)?;
            let (sender, connection) =
                hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await?;
            tokio::spawn(connection);
            lanes.push(Lane::Rest(sender, uri.clone()));
        }
        Ok(lanes)
    }

    /// `n` lanes on one HTTP/2 connection, as a gRPC client multiplexes its calls.
    async fn grpc(addr: SocketAddr, n: u64) -> Result<Vec<Lane>, Error> {
        let tcp = TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        let (sender, connection) = h2::client::handshake(tcp).await?;
        tokio::spawn(connection);
        let uri: http::Uri = format!("http://{addr}/users.v1.UserService/GetUser").parse()?;
        // A gRPC message: not compressed (0), its length in four big-endian bytes, protobuf.
        let message = GetUserRequest {
            user_id: USER_ID.into(),
        }
        .encode_to_vec();
        let mut framed = vec![0];
        framed.extend_from_slice(&u32::try_from(message.len())?.to_be_bytes());
        framed.extend_from_slice(&message);
        let message = Bytes::from(framed);
        Ok((0..n)
            .map(|_| Lane::Grpc(sender.clone(), uri.clone(), message.clone()))
            .collect())
    }

    /// Sends `n` requests, each after the previous answer has been read to its end.
    async fn send(&mut self, n: u64) -> Result<(), Error> {
        for _ in 0..n {
            match self {
                Lane::Rest(sender, uri) => rest_call(sender, uri).await?,
                Lane::Grpc(sender, uri, message) => grpc_call(sender, uri, message).await?,
            }
        }
        Ok(())
    }
}

async fn rest_call(sender: &mut Http1Sender, uri: &http::Uri) -> Result<(), Error> {
    sender.ready().await?;
    let request = http::Request::get(uri.clone())
        .header(
            http::header::HOST,
            uri.authority().map_or("", |a| a.as_str()),
        )
        .body(Empty::new())?;
    let response = sender.send_request(request).await?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    if status != http::StatusCode::OK || body.is_empty() {
        return Err(format!("GET {uri}: {status} {}", String::from_utf8_lossy(&body)).into());
    }
    Ok(())
}

async fn grpc_call(
    sender: &mut h2::client::SendRequest<Bytes>,
    uri: &http::Uri,
    message: &Bytes,
) -> Result<(), Error> {
    let mut sender = sender.clone().ready().await?;
    let request = http::Request::post(uri.clone())
        .header(http::header::CONTENT_TYPE, "application/grpc")
        .header(http::header::TE, "trailers")
        .body(())?;
    let (response, mut stream) = sender.send_request(request, false)?;
    stream.send_data(message.clone(), true)?;
    let (head, mut body) = response.await?.into_parts();
    let mut received = 0;
    while let Some(chunk) = body.data().await {
        let chunk = chunk?;
        received += chunk.len();
        body.flow_control().release_capacity(chunk.len())?;
    }
    let trailers = body.trailers().await?;
    // A trailers-only answer carries grpc-status in its headers.
    let status = trailers
        .as_ref()
        .and_then(|t| t.get("grpc-status"))
        .or_else(|| head.headers.get("grpc-status"));
    if head.status != http::StatusCode::OK || status.is_none_or(|s| s != "0") || received <= 5 {
        return Err(format!("{uri}: HTTP {}, grpc-status {status:?}", head.status).into());
    }
    Ok(())
}

async fn wait_for_line(stdin: &mut Lines<BufReader<Stdin>>) -> Result<(), Error> {
    match stdin.next_line().await? {
        Some(_) => Ok(()),
        None => Err("stdin closed before the script said to go on".into()),
    }
}
