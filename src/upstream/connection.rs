//! One HTTP/2 connection to a backend endpoint, spoken through the `h2` crate.
//!
//! A call opens its stream from its own task: the request's headers and a message that is
//! ready go out in one write, the reply is read straight from the stream, and only a request
//! body that is still being produced (a client stream) gets a task of its own to pipe it.
//! tonic's `Channel` put a `tower::buffer` task, hyper's dispatch task and a task per call
//! between the caller and the stream, and wrote a unary call's headers and message apart.
//!
//! The connection is made on first use and again once it has ended (GOAWAY, a failed read or
//! write). Making it is bounded by the backend's `connect_timeout`, once for TCP and once for
//! the TLS handshake; a connect that fails is a [`ConnectFailed`], which the pool backs off
//! from. A call that finds the connection gone before its stream opened makes a new one and
//! goes there: nothing had been sent.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use h2::client::SendRequest;
use h2::{RecvStream, SendStream};
use http::uri::{Authority, Scheme};
use http::{HeaderMap, Request, Response, Uri};
use http_body::{Body, Frame, SizeHint};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::ServerName;
use tower::{BoxError, Service};

/// HTTP/2 settings, as hyper's client has them (tonic used those).
const STREAM_WINDOW: u32 = 2 * 1024 * 1024;
const CONNECTION_WINDOW: u32 = 5 * 1024 * 1024;
const MAX_SEND_BUFFER: usize = 1024 * 1024;
/// Largest header block of a reply (a larger one resets the stream: a bad reply).
const MAX_HEADER_LIST: u32 = 16 * 1024;
/// Streams opened before the backend's SETTINGS say how many it takes (RFC 9113 §6.5.2
/// recommends it allow at least 100).
const INITIAL_MAX_STREAMS: usize = 100;

/// No connection to the endpoint could be made (refused, timed out, TLS or HTTP/2 handshake
/// failed): the call was not sent.
#[derive(Debug, thiserror::Error)]
#[error("cannot connect to the backend")]
pub struct ConnectFailed(#[source] pub BoxError);

/// How an endpoint is reached.
pub(crate) struct Dial {
    pub address: SocketAddr,
    /// `:scheme` and `:authority` of every request.
    pub scheme: Scheme,
    pub authority: Authority,
    pub connect_timeout: Duration,
    /// For `https://` endpoints: the connector and the name verified.
    pub tls: Option<(TlsConnector, ServerName<'static>)>,
}

/// One HTTP/2 connection to an endpoint (cheap to clone: the clones share it).
#[derive(Clone)]
pub(crate) struct Connection {
    shared: Arc<Shared>,
}

struct Shared {
    dial: Dial,
    /// The live connection and its number (so that a caller only drops the one it saw fail).
    live: Mutex<Option<(u64, SendRequest<Bytes>)>>,
    /// Held while connecting, so that calls waiting for a connection share one attempt;
    /// counts the connections made.
    connecting: tokio::sync::Mutex<u64>,
    /// Connect attempts that failed.
    failed: AtomicU64,
}

impl Connection {
    /// Connects on first use.
    pub(crate) fn lazy(dial: Dial) -> Connection {
        Connection {
            shared: Arc::new(Shared {
                dial,
                live: Mutex::new(None),
                connecting: tokio::sync::Mutex::new(0),
                failed: AtomicU64::new(0),
            }),
        }
    }

    fn live(&self) -> Option<(u64, SendRequest<Bytes>)> {
        self.shared
            .live
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    fn forget(&self, generation: u64) {
        let mut live = self
            .shared
            .live
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if live.as_ref().is_some_and(|(g, _)| *g == generation) {
            *live = None;
        }
    }

    /// The live connection, once it has room for a stream; none when there is no live
    /// connection or it takes no more streams (it is then forgotten).
    async fn live_ready(&self) -> Option<SendRequest<Bytes>> {
        let (generation, sender) = self.live()?;
        match sender.ready().await {
            Ok(sender) => Some(sender),
            Err(_) => {
                self.forget(generation);
                None
            }
        }
    }

    /// A sender ready to open a stream: on the live connection if it still takes streams,
    /// else on a new one (see [`Connection::reconnect`]).
    async fn ready(&self) -> Result<SendRequest<Bytes>, BoxError> {
        if let Some(sender) = self.live_ready().await {
            return Ok(sender);
        }
        // Boxed: connecting is rare, and its future, inline, would make every call's future
        // (which is moved as it is built and boxed) several times larger.
        Box::pin(self.reconnect()).await
    }

    /// A sender on a new connection. Calls that waited for an attempt that failed fail with
    /// it, rather than each trying again in turn.
    async fn reconnect(&self) -> Result<SendRequest<Bytes>, BoxError> {
        let failed = self.shared.failed.load(Relaxed);
        let mut made = self.shared.connecting.lock().await;
        // Another call may have connected while this one waited, or failed to.
        if let Some(sender) = self.live_ready().await {
            return Ok(sender);
        }
        if self.shared.failed.load(Relaxed) != failed {
            let error = "the connect attempt this call waited for failed".into();
            return Err(unavailable(Box::new(ConnectFailed(error))));
        }
        let sender = match connect(&self.shared.dial).await {
            Ok(sender) => sender,
            Err(error) => {
                self.shared.failed.fetch_add(1, Relaxed);
                return Err(unavailable(Box::new(ConnectFailed(error))));
            }
        };
        *made += 1;
        *self
            .shared
            .live
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some((*made, sender.clone()));
        drop(made);
        sender.ready().await.map_err(Into::into)
    }

    async fn send(self, request: Request<tonic::body::Body>) -> Result<Response<H2Body>, BoxError> {
        let mut sender = self.ready().await?;
        let (mut parts, body) = request.into_parts();
        let dial = &self.shared.dial;
        let mut uri = http::uri::Parts::default();
        uri.scheme = Some(dial.scheme.clone());
        uri.authority = Some(dial.authority.clone());
        uri.path_and_query = parts.uri.path_and_query().cloned();
        parts.uri = Uri::from_parts(uri)?;
        strip_connection_headers(&mut parts.headers);
        let head = Request::from_parts(parts, ());
        let (response, stream) = sender.send_request(head, body.is_end_stream())?;
        // The caller holds `caller` (this future, then the reply's body): once it lets go, a
        // request body still being piped is reset, not ended as if it were whole.
        let (caller, gone) = oneshot::channel::<Infallible>();
        if !body.is_end_stream() {
            send_body(body, stream, gone).await;
        }
        let response = response.await?;
        Ok(response.map(|recv| H2Body {
            recv,
            data_done: false,
            _caller: caller,
        }))
    }
}

/// A connect failure as the status tonic gives a connect failure (UNAVAILABLE), keeping it as
/// the source the gateway classifies by.
fn unavailable(error: BoxError) -> BoxError {
    let mut status = tonic::Status::unavailable("backend unavailable");
    status.set_source(Arc::from(error));
    Box::new(status)
}

/// TCP (and TLS) to the endpoint, then the HTTP/2 handshake; the connection's task runs
/// until it ends.
async fn connect(dial: &Dial) -> Result<SendRequest<Bytes>, BoxError> {
    let timeout = dial.connect_timeout;
    let tcp = tokio::time::timeout(timeout, TcpStream::connect(dial.address))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out"))??;
    tcp.set_nodelay(true)?;
    match &dial.tls {
        None => handshake(tcp).await,
        Some((connector, name)) => {
            let tls = tokio::time::timeout(timeout, connector.connect(name.clone(), tcp))
                .await
                .map_err(|_| {
                    std::io::Error::new(std::io::ErrorKind::TimedOut, "TLS handshake timed out")
                })??;
            if tls.get_ref().1.alpn_protocol() != Some(b"h2") {
                return Err("the backend did not agree to HTTP/2 by ALPN".into());
            }
            handshake(tls).await
        }
    }
}

async fn handshake<T>(io: T) -> Result<SendRequest<Bytes>, BoxError>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, connection) = h2::client::Builder::new()
        .enable_push(false)
        .initial_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW)
        .max_send_buffer_size(MAX_SEND_BUFFER)
        .max_header_list_size(MAX_HEADER_LIST)
        .initial_max_send_streams(INITIAL_MAX_STREAMS)
        .handshake::<T, Bytes>(io)
        .await?;
    // Its errors reach the calls on it, as their streams' errors.
    tokio::spawn(crate::batched::batched_writes(connection));
    Ok(sender)
}

/// Headers that belong to one HTTP/1 connection and are malformed in HTTP/2 (RFC 9113
/// §8.2.2).
const CONNECTION_HEADERS: [http::HeaderName; 5] = [
    http::header::CONNECTION,
    http::header::TRANSFER_ENCODING,
    http::header::UPGRADE,
    http::HeaderName::from_static("keep-alive"),
    http::HeaderName::from_static("proxy-connection"),
];

/// Removes the [`CONNECTION_HEADERS`], and `te` unless it says `trailers` (the only value
/// HTTP/2 allows). Calls rarely carry any: one look at each name is cheaper than a lookup
/// (which hashes the name) per header that could be there.
fn strip_connection_headers(headers: &mut HeaderMap) {
    let te_ok = |headers: &HeaderMap| {
        headers
            .get(http::header::TE)
            .is_none_or(|te| te.as_bytes() == b"trailers")
    };
    let found = headers.keys().any(|name| CONNECTION_HEADERS.contains(name));
    if !found && te_ok(headers) {
        return;
    }
    for name in CONNECTION_HEADERS {
        headers.remove(name);
    }
    if !te_ok(headers) {
        headers.remove(http::header::TE);
    }
}

/// Sends what of `body` is ready now on `stream`, ending the stream with it when the body
/// has ended; the rest, if any, is piped by a task of its own.
async fn send_body(
    mut body: tonic::body::Body,
    mut stream: SendStream<Bytes>,
    gone: oneshot::Receiver<Infallible>,
) {
    let mut held: Option<Bytes> = None;
    loop {
        let next = std::future::poll_fn(|cx| match Pin::new(&mut body).poll_frame(cx) {
            Poll::Pending => Poll::Ready(None),
            Poll::Ready(frame) => Poll::Ready(Some(frame)),
        })
        .await;
        match next {
            // Not ready: what is held goes now, the rest from a task.
            None => {
                if let Some(data) = held.take()
                    && stream.send_data(data, false).is_err()
                {
                    return;
                }
                tokio::spawn(pipe(body, stream, gone));
                return;
            }
            Some(None) => {
                let _ = stream.send_data(held.take().unwrap_or_default(), true);
                return;
            }
            Some(Some(Err(_))) => {
                stream.send_reset(h2::Reason::CANCEL);
                return;
            }
            Some(Some(Ok(frame))) => match frame.into_data() {
                Ok(data) => {
                    if let Some(previous) = held.replace(data)
                        && stream.send_data(previous, false).is_err()
                    {
                        return;
                    }
                }
                Err(frame) => {
                    if let Some(data) = held.take()
                        && stream.send_data(data, false).is_err()
                    {
                        return;
                    }
                    if let Ok(trailers) = frame.into_trailers() {
                        let _ = stream.send_trailers(trailers);
                    }
                    return;
                }
            },
        }
    }
}

/// Pipes the rest of a request body, one frame at a time as the stream has room for it, until
/// the caller is `gone` (which resets the stream: the call is cancelled).
async fn pipe(
    mut body: tonic::body::Body,
    mut stream: SendStream<Bytes>,
    mut gone: oneshot::Receiver<Infallible>,
) {
    loop {
        let frame = std::future::poll_fn(|cx| {
            if Pin::new(&mut gone).poll(cx).is_ready() {
                stream.send_reset(h2::Reason::CANCEL);
                return Poll::Ready(None);
            }
            // A backend that reset the stream wants no more of it.
            if stream.poll_reset(cx).is_ready() {
                return Poll::Ready(None);
            }
            Pin::new(&mut body).poll_frame(cx).map(Some)
        })
        .await;
        let frame = match frame {
            None => return,
            Some(None) => {
                let _ = stream.send_data(Bytes::new(), true);
                return;
            }
            Some(Some(Err(_))) => {
                stream.send_reset(h2::Reason::CANCEL);
                return;
            }
            Some(Some(Ok(frame))) => frame,
        };
        match frame.into_data() {
            Ok(data) => {
                let end = body.is_end_stream();
                if !data.is_empty() {
                    stream.reserve_capacity(data.len());
                    let room = std::future::poll_fn(|cx| {
                        if Pin::new(&mut gone).poll(cx).is_ready() {
                            return Poll::Ready(None);
                        }
                        match stream.capacity() {
                            0 => stream.poll_capacity(cx),
                            n => Poll::Ready(Some(Ok(n))),
                        }
                    })
                    .await;
                    if !matches!(room, Some(Ok(_))) {
                        stream.send_reset(h2::Reason::CANCEL);
                        return;
                    }
                }
                if stream.send_data(data, end).is_err() || end {
                    return;
                }
            }
            Err(frame) => {
                if let Ok(trailers) = frame.into_trailers() {
                    let _ = stream.send_trailers(trailers);
                }
                return;
            }
        }
    }
}

impl Service<Request<tonic::body::Body>> for Connection {
    type Response = Response<H2Body>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Response<H2Body>, BoxError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        // Readiness (a connection, room for a stream) is waited for in the call.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<tonic::body::Body>) -> Self::Future {
        Box::pin(self.clone().send(request))
    }
}

/// A reply's body: its DATA frames (their flow-control window given back as they are read),
/// then its trailers.
pub(crate) struct H2Body {
    recv: RecvStream,
    data_done: bool,
    /// Dropped with the body: a request still being piped is then reset.
    _caller: oneshot::Sender<Infallible>,
}

impl Body for H2Body {
    type Data = Bytes;
    type Error = h2::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, h2::Error>>> {
        if !self.data_done {
            match ready!(self.recv.poll_data(cx)) {
                Some(Ok(data)) => {
                    let _ = self.recv.flow_control().release_capacity(data.len());
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                Some(Err(e)) => return Poll::Ready(Some(Err(e))),
                None => self.data_done = true,
            }
        }
        match ready!(self.recv.poll_trailers(cx)) {
            Ok(Some(trailers)) => Poll::Ready(Some(Ok(Frame::trailers(trailers)))),
            Ok(None) => Poll::Ready(None),
            Err(e) => Poll::Ready(Some(Err(e))),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.recv.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn names(headers: &HeaderMap) -> Vec<&str> {
        let mut names: Vec<&str> = headers.keys().map(|n| n.as_str()).collect();
        names.sort_unstable();
        names
    }

    #[test]
    fn connection_headers_are_stripped_and_te_kept_only_as_trailers() {
        let mut headers = HeaderMap::new();
        headers.insert("te", HeaderValue::from_static("trailers"));
        headers.insert("x-request-id", HeaderValue::from_static("1"));
        strip_connection_headers(&mut headers);
        assert_eq!(names(&headers), ["te", "x-request-id"]);

        headers.insert("connection", HeaderValue::from_static("keep-alive"));
        headers.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        headers.insert("proxy-connection", HeaderValue::from_static("keep-alive"));
        headers.insert("transfer-encoding", HeaderValue::from_static("chunked"));
        headers.insert("upgrade", HeaderValue::from_static("h2c"));
        strip_connection_headers(&mut headers);
        assert_eq!(names(&headers), ["te", "x-request-id"]);

        headers.insert("te", HeaderValue::from_static("gzip"));
        strip_connection_headers(&mut headers);
        assert_eq!(names(&headers), ["x-request-id"]);
    }
}
