//! One HTTP/1.1 exchange with hyper's client, for requests reqwest would change on the way: the
//! request target goes out exactly as written (reqwest's URL parsing resolves `..` and `%2e%2e`),
//! and a body of unknown length goes out chunked.

use std::error::Error;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::BodyExt as _;
use hyper::body::Body;
use hyper::client::conn::http1::handshake;
use hyper::header::{HOST, HeaderValue};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

pub type BoxError = Box<dyn Error + Send + Sync>;

/// Sends `request` on a new connection to `addr` and reads the whole response, adding a `Host`
/// naming `addr` when the request has none.
///
/// The connection is driven by this future, not by a spawned task: dropping the future (or
/// aborting the task running it) closes the connection, as a client that gives up does.
pub async fn send<B>(addr: SocketAddr, mut request: Request<B>) -> Result<Response<Bytes>, BoxError>
where
    B: Body + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let host = HeaderValue::try_from(addr.to_string())?;
    request.headers_mut().entry(HOST).or_insert(host);
    let stream = TcpStream::connect(addr).await?;
    let (mut sender, connection) = handshake(TokioIo::new(stream)).await?;
    let exchange = async move {
        let (head, body) = sender.send_request(request).await?.into_parts();
        let body = body.collect().await?.to_bytes();
        // `sender` goes here, which lets `connection` close once the exchange is over.
        Ok(Response::from_parts(head, body))
    };
    // What the connection ends with (the server closing first, say) matters only if it kept
    // the response from coming, and then `exchange` holds that error.
    let (response, _) = tokio::join!(exchange, connection);
    response
}
