//! The accept loop: HTTP/1.1 and h2c on one port, or HTTPS (HTTP/2 or HTTP/1.1 by ALPN) when
//! `[server.tls]` is set, with the connection-level limits hyper enforces (header read time,
//! header buffer, HTTP/2 header list size) and a graceful stop.
//!
//! The stop is a drain with a deadline (`serve_with_drain`): the port closes, every connection
//! is told to finish (GOAWAY for HTTP/2, `Connection: close` and no keep-alive for HTTP/1.1),
//! and whatever is still open at the deadline is dropped. Connection tasks live in a `JoinSet`
//! owned by the accept loop, so nothing outlives the serve future.
//!
//! axum's `serve` does not expose hyper's builder, so connections are served here. Each
//! request gets the TCP peer as `ConnectInfo<SocketAddr>`, as axum's own would. The TLS
//! handshake runs in the connection's own task, bounded by the header read timeout, so a
//! client that never completes it holds neither the accept loop nor its connection for long.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::response::Response;
use http::HeaderValue;
use http::header::CONNECTION;
use hyper::body::Incoming;
use hyper::server::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tower::util::Oneshot;
use tower::{Service, ServiceExt};

use crate::error::{GatewayError, PROBLEM_JSON};
pub use crate::gateway::ConnectionLimits;

/// The hyper builders a connection is served with, under `limits`.
fn builders(limits: &ConnectionLimits) -> Builders {
    // hyper-util's builder, limited to HTTP/1.1: its connections can be upgraded (WebSockets)
    // and still take part in the graceful stop, which hyper's own upgradeable ones cannot.
    let mut http1 = auto::Builder::new(TokioExecutor::new()).http1_only();
    http1
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_headers(limits.max_headers.saturating_mul(2).max(100))
        .max_buf_size(limits.max_header_bytes.saturating_mul(4).max(64 * 1024));
    let mut http2 = http2::Builder::new(TokioExecutor::new());
    http2.timer(TokioTimer::new()).max_header_list_size(
        u32::try_from(limits.max_header_bytes.saturating_mul(4)).unwrap_or(u32::MAX),
    );
    Builders { http1, http2 }
}

/// hyper's connection builders for the two protocols one port speaks.
struct Builders {
    http1: auto::Builder<TokioExecutor>,
    http2: http2::Builder<TokioExecutor>,
}

/// What a listener serves: the gateway's `crate::stack::GatewayService`, or an axum `Router`
/// (the admin listener).
pub trait App:
    Service<
        http::Request<Incoming>,
        Response = Response,
        Error = Infallible,
        Future: Send + 'static,
    > + Clone
    + Send
    + Sync
    + 'static
{
}

impl<T> App for T where
    T: Service<
            http::Request<Incoming>,
            Response = Response,
            Error = Infallible,
            Future: Send + 'static,
        > + Clone
        + Send
        + Sync
        + 'static
{
}

/// Serves `app` on `listener` until `shutdown` completes; then stops accepting, lets every
/// connection finish its requests, however long they take, and returns. `serve_with_drain`
/// without a deadline.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: impl App,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    serve_with_drain(listener, app, limits, shutdown, None).await
}

/// Serves `app` on `listener` until `shutdown` completes, then drains: the listening socket is
/// closed at once (new connections are refused), idle connections are closed, HTTP/2 clients
/// get GOAWAY, HTTP/1.1 responses still to be sent carry `Connection: close`, and requests in
/// flight may finish for up to `drain_timeout` (`None`: no limit). Connections still open at
/// the deadline are dropped and it returns. Dropping the future drops every connection too.
pub async fn serve_with_drain(
    listener: tokio::net::TcpListener,
    app: impl App,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
    drain_timeout: Option<Duration>,
) -> io::Result<()> {
    let address = listener.local_addr()?;
    let builders = Arc::new(builders(&limits));
    let acceptor = limits.tls.clone().map(TlsAcceptor::from);
    let handshake_timeout = limits.header_read_timeout;
    let problem_details = limits.problem_details;
    let graceful = GracefulShutdown::new();
    let draining = Arc::new(AtomicBool::new(false));
    // The connection tasks belong to this function, so that returning ends those still open.
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: wait a little rather than spin.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            // Reaped as they end, so the set holds only open connections.
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let service = ConnectionService {
            app: app.clone(),
            peer,
            draining: draining.clone(),
        };
        let builders = builders.clone();
        let acceptor = acceptor.clone();
        // Taken now, so that a stop waits for handshakes under way as for connections.
        let watcher = graceful.watcher();
        connections.spawn(async move {
            let (io, reply) = match acceptor {
                None => {
                    let (read, write) = stream.into_split();
                    SlowHeaderGuard::new(Box::pin(read), Box::pin(write))
                }
                Some(acceptor) => {
                    let handshake = acceptor.accept(stream);
                    let stream = match tokio::time::timeout(handshake_timeout, handshake).await {
                        Ok(Ok(stream)) => stream,
                        Ok(Err(error)) => {
                            tracing::debug!(%peer, %error, "TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!(%peer, "TLS handshake timed out");
                            return;
                        }
                    };
                    let (read, write) = tokio::io::split(stream);
                    SlowHeaderGuard::new(Box::pin(read), Box::pin(write))
                }
            };
            // The first bytes say which protocol the client speaks. They are bounded by the
            // header read timeout like the headers that follow them.
            let mut io = Replay::new(io);
            let protocol = match tokio::time::timeout(handshake_timeout, io.sniff()).await {
                Ok(Ok(protocol)) => protocol,
                Ok(Err(_)) => return,
                Err(_) => {
                    drop(io);
                    reply.after_error(true, problem_details).await;
                    return;
                }
            };
            let io = TokioIo::new(io);
            // `Some(timed out)` when the connection failed.
            let failed = match protocol {
                HttpVersion::Http1 => {
                    let connection = builders.http1.serve_connection_with_upgrades(io, service);
                    watcher.watch(connection).await.err().map(|error| {
                        error
                            .downcast_ref::<hyper::Error>()
                            .is_some_and(hyper::Error::is_timeout)
                    })
                }
                // Many streams share the connection: their responses are written together.
                HttpVersion::Http2 => {
                    let connection = builders.http2.serve_connection(io, service);
                    let served = crate::batched::batched_writes(watcher.watch(connection)).await;
                    served.err().map(|error| error.is_timeout())
                }
            };
            if let Some(timed_out) = failed {
                reply.after_error(timed_out, problem_details).await;
            }
        });
    }
    // Before the connections hear of the stop, so that no HTTP/1.1 response written after it
    // lacks `Connection: close`.
    draining.store(true, Relaxed);
    drop(listener);
    while connections.try_join_next().is_some() {}
    tracing::info!(
        %address,
        connections = connections.len(),
        timeout = ?drain_timeout,
        "stopped accepting; draining open connections"
    );
    // Idle connections close now, HTTP/2 ones get GOAWAY, busy HTTP/1.1 ones close after their
    // response; this waits until all of them have.
    let drained = graceful.shutdown();
    let finished = match drain_timeout {
        Some(limit) => tokio::time::timeout(limit, drained).await.is_ok(),
        None => {
            drained.await;
            true
        }
    };
    if finished {
        tracing::info!(%address, "drained: every connection finished");
    } else {
        while connections.try_join_next().is_some() {}
        tracing::warn!(
            %address,
            connections = connections.len(),
            "drain timeout reached; closing the connections still open"
        );
    }
    connections.shutdown().await;
    Ok(())
}

/// `app` as one connection serves it: each request gets the TCP peer as
/// `ConnectInfo<SocketAddr>`, and once the listener drains, HTTP/1.x responses get
/// `Connection: close` so that the client does not send another request on the connection.
/// A hyper service itself, so that a request clones `app` once (tower's `oneshot` needs its
/// own) rather than once more for hyper's adapter.
#[derive(Clone)]
struct ConnectionService<A> {
    app: A,
    peer: SocketAddr,
    draining: Arc<AtomicBool>,
}

impl<A: App> hyper::service::Service<http::Request<Incoming>> for ConnectionService<A> {
    type Response = Response;
    type Error = Infallible;
    type Future = Answer<Oneshot<A, http::Request<Incoming>>>;

    fn call(&self, mut request: http::Request<Incoming>) -> Self::Future {
        request.extensions_mut().insert(ConnectInfo(self.peer));
        let draining = (request.version() < http::Version::HTTP_2).then(|| self.draining.clone());
        Answer {
            response: self.app.clone().oneshot(request),
            draining,
        }
    }
}

pin_project_lite::pin_project! {
    /// The response of [`ConnectionService`].
    struct Answer<F> {
        #[pin]
        response: F,
        // For an HTTP/1.x request: whether the listener is draining.
        draining: Option<Arc<AtomicBool>>,
    }
}

impl<F: Future<Output = Result<Response, Infallible>>> Future for Answer<F> {
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Ok(mut response) = ready!(this.response.poll(cx));
        if this.draining.as_ref().is_some_and(|d| d.load(Relaxed)) {
            response
                .headers_mut()
                .insert(CONNECTION, HeaderValue::from_static("close"));
        }
        Poll::Ready(Ok(response))
    }
}

/// One half of a connection's stream, plain TCP or TLS.
type ReadHalf = Pin<Box<dyn AsyncRead + Send>>;
type WriteHalf = Pin<Box<dyn AsyncWrite + Send>>;

/// The stream hyper reads and writes, with a second handle on the write half, so that when
/// hyper gives up on a client that started a request but did not finish its headers in time,
/// the client is told so (408 in the JSON error shape) before the connection closes.
struct SlowHeaderGuard {
    read: ReadHalf,
    write: Arc<Mutex<WriteHalf>>,
    /// Bytes arrived since the last response was written: a request has begun.
    started: Arc<AtomicBool>,
}

/// The handle kept outside hyper.
struct TimeoutReply {
    write: Arc<Mutex<WriteHalf>>,
    started: Arc<AtomicBool>,
}

impl SlowHeaderGuard {
    fn new(read: ReadHalf, write: WriteHalf) -> (SlowHeaderGuard, TimeoutReply) {
        let write = Arc::new(Mutex::new(write));
        let started = Arc::new(AtomicBool::new(false));
        let reply = TimeoutReply {
            write: write.clone(),
            started: started.clone(),
        };
        (
            SlowHeaderGuard {
                read,
                write,
                started,
            },
            reply,
        )
    }
}

impl TimeoutReply {
    /// Answers 408 when hyper closed the connection because a started request's headers did
    /// not arrive in time, as problem details if `problem_details`; every other connection
    /// error just closes it.
    async fn after_error(self, timed_out: bool, problem_details: bool) {
        if !timed_out || !self.started.load(Relaxed) {
            return;
        }
        let (content_type, body) = if problem_details {
            (PROBLEM_JSON, GatewayError::HeaderTimeout.problem_body())
        } else {
            ("application/json", GatewayError::HeaderTimeout.json_body())
        };
        let head = format!(
            "HTTP/1.1 408 Request Timeout\r\ncontent-type: {content_type}\r\n\
             content-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        );
        let Ok(write) = Arc::try_unwrap(self.write) else {
            return;
        };
        let Ok(mut write) = write.into_inner() else {
            return;
        };
        let reply = async {
            write.write_all(head.as_bytes()).await?;
            write.write_all(body.as_bytes()).await?;
            write.shutdown().await
        };
        let _ = tokio::time::timeout(Duration::from_secs(1), reply).await;
    }
}

impl AsyncRead for SlowHeaderGuard {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = self.read.as_mut().poll_read(cx, buf);
        if buf.filled().len() > before {
            self.started.store(true, Relaxed);
        }
        result
    }
}

impl AsyncWrite for SlowHeaderGuard {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.started.store(false, Relaxed);
        let mut write = self.write.lock().unwrap_or_else(|e| e.into_inner());
        write.as_mut().poll_write(cx, data)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.started.store(false, Relaxed);
        let mut write = self.write.lock().unwrap_or_else(|e| e.into_inner());
        write.as_mut().poll_write_vectored(cx, data)
    }

    fn is_write_vectored(&self) -> bool {
        let write = self.write.lock().unwrap_or_else(|e| e.into_inner());
        write.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut write = self.write.lock().unwrap_or_else(|e| e.into_inner());
        write.as_mut().poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut write = self.write.lock().unwrap_or_else(|e| e.into_inner());
        write.as_mut().poll_shutdown(cx)
    }
}

/// The connection preface every HTTP/2 client sends first (RFC 9113 §3.4).
const H2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Which protocol a connection speaks, told by its first bytes (over TLS as well: a client that
/// negotiated `h2` by ALPN sends the preface).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum HttpVersion {
    Http1,
    /// h2c with prior knowledge, as gRPC clients connect; or HTTP/2 negotiated over TLS.
    Http2,
}

/// A connection's stream that first reads just enough to tell HTTP/2 from HTTP/1.x, then gives
/// those bytes back to hyper ahead of the stream.
///
/// This is hyper_util's `auto` builder's job, done here for memory: `auto` hands the sniffed
/// bytes to hyper in a read of their own, so hyper's first read of a request is partial and
/// its read buffer grows from 8 KiB to 16 KiB on the next one, for the connection's lifetime.
/// `Replay` returns the sniffed bytes together with whatever the stream has ready in the same
/// read, so a request that arrived whole is read whole, into the first 8 KiB.
struct Replay<I> {
    inner: I,
    sniffed: [u8; H2_PREFACE.len()],
    /// `sniffed[start..end]` is yet to be given to hyper.
    start: usize,
    end: usize,
}

impl<I: AsyncRead + Unpin> Replay<I> {
    fn new(inner: I) -> Replay<I> {
        Replay {
            inner,
            sniffed: [0; H2_PREFACE.len()],
            start: 0,
            end: 0,
        }
    }

    /// Reads until the bytes seen so far either are the whole HTTP/2 preface or differ from
    /// it. A stream that ends before that is HTTP/1.x, whose parser then answers the partial
    /// request; one that ends before its first byte is an error.
    async fn sniff(&mut self) -> io::Result<HttpVersion> {
        use tokio::io::AsyncReadExt as _;
        while self.end < H2_PREFACE.len() {
            let read = self.inner.read(&mut self.sniffed[self.end..]).await?;
            if read == 0 {
                return if self.end == 0 {
                    Err(io::ErrorKind::UnexpectedEof.into())
                } else {
                    Ok(HttpVersion::Http1)
                };
            }
            self.end += read;
            if self.sniffed[..self.end] != H2_PREFACE[..self.end] {
                return Ok(HttpVersion::Http1);
            }
        }
        Ok(HttpVersion::Http2)
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for Replay<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.start == this.end {
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        }
        let replayed = (this.end - this.start).min(buf.remaining());
        buf.put_slice(&this.sniffed[this.start..this.start + replayed]);
        this.start += replayed;
        if this.start == this.end && buf.remaining() > 0 {
            // Whatever else has arrived joins the replayed bytes. When the stream has nothing
            // yet, the waker is registered; when it fails, the next read sees the failure or
            // the end of the stream.
            let _ = Pin::new(&mut this.inner).poll_read(cx, buf);
        }
        Poll::Ready(Ok(()))
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Replay<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, data)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, data)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Serves `gateway` on `listener` until `shutdown` completes, then finishes in-flight requests.
pub async fn serve_gateway(
    listener: tokio::net::TcpListener,
    gateway: crate::gateway::Gateway,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let limits = gateway.connection_limits();
    serve(listener, crate::stack::service(gateway), limits, shutdown).await
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::*;

    const REQUEST: &[u8] = b"GET /v1/users/123 HTTP/1.1\r\nhost: gatehouse\r\n\r\n";

    /// A `Replay` over a stream that has already received `bytes` (and is then closed).
    async fn replay_of(bytes: &[u8]) -> Replay<tokio::io::DuplexStream> {
        let (mut client, server) = tokio::io::duplex(1024);
        client.write_all(bytes).await.unwrap();
        drop(client);
        Replay::new(server)
    }

    #[tokio::test]
    async fn a_request_that_arrived_whole_is_read_whole_after_the_sniff() {
        let mut replay = replay_of(REQUEST).await;
        assert_eq!(replay.sniff().await.unwrap(), HttpVersion::Http1);
        // One read, as hyper's first: the sniffed bytes and the rest together.
        let mut buf = vec![0; 8192];
        let read = replay.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..read], REQUEST);
        assert_eq!(replay.read(&mut buf).await.unwrap(), 0);
    }

    #[tokio::test]
    async fn the_preface_is_http2_and_is_given_back() {
        let mut stream = H2_PREFACE.to_vec();
        stream.extend_from_slice(b"\0\0\0\x04\0\0\0\0\0");
        let mut replay = replay_of(&stream).await;
        assert_eq!(replay.sniff().await.unwrap(), HttpVersion::Http2);
        let mut read = Vec::new();
        replay.read_to_end(&mut read).await.unwrap();
        assert_eq!(read, stream);
    }

    #[tokio::test]
    async fn the_first_byte_that_differs_decides_http1() {
        // "PRI" as an HTTP/1.1 method shares the preface's first bytes.
        let mut replay = replay_of(b"PRI /x HTTP/1.1\r\n\r\n").await;
        assert_eq!(replay.sniff().await.unwrap(), HttpVersion::Http1);
        let mut read = Vec::new();
        replay.read_to_end(&mut read).await.unwrap();
        assert_eq!(read, b"PRI /x HTTP/1.1\r\n\r\n");
    }

    #[tokio::test]
    async fn a_stream_that_ends_early_is_http1_or_nothing() {
        // Part of the preface, then the end: hyper's HTTP/1.1 parser sees the partial request.
        let mut replay = replay_of(&H2_PREFACE[..10]).await;
        assert_eq!(replay.sniff().await.unwrap(), HttpVersion::Http1);
        let mut read = Vec::new();
        replay.read_to_end(&mut read).await.unwrap();
        assert_eq!(read, &H2_PREFACE[..10]);

        let mut empty = replay_of(b"").await;
        assert_eq!(
            empty.sniff().await.unwrap_err().kind(),
            io::ErrorKind::UnexpectedEof
        );
    }

    #[tokio::test]
    async fn a_small_read_buffer_gets_the_sniffed_bytes_in_parts() {
        let mut replay = replay_of(REQUEST).await;
        replay.sniff().await.unwrap();
        let mut read = Vec::new();
        let mut buf = [0; 5];
        loop {
            let n = replay.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            read.extend_from_slice(&buf[..n]);
        }
        assert_eq!(read, REQUEST);
    }
}
