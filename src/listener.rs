//! The accept loop: HTTP/1.1 and h2c on one port, with the connection-level limits hyper
//! enforces (header read time, header buffer, HTTP/2 header list size) and a graceful stop.
//!
//! axum's `serve` does not expose hyper's builder, so connections are served here. Each
//! request gets the TCP peer as `ConnectInfo<SocketAddr>`, as axum's own would.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tower::ServiceExt;

use crate::error::GatewayError;

/// What hyper itself enforces on each connection. The configured header limits are checked
/// again per request (with the JSON error shape); hyper's caps sit above them and only stop
/// requests so large that reading them at all would be the attack.
#[derive(Clone, Copy, Debug)]
pub struct ConnectionLimits {
    pub header_read_timeout: Duration,
    pub max_headers: usize,
    pub max_header_bytes: usize,
}

impl ConnectionLimits {
    fn builder(&self) -> auto::Builder<TokioExecutor> {
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(self.header_read_timeout)
            .max_headers(self.max_headers.saturating_mul(2).max(100))
            .max_buf_size(self.max_header_bytes.saturating_mul(4).max(64 * 1024));
        builder
            .http2()
            .timer(TokioTimer::new())
            .max_header_list_size(
                u32::try_from(self.max_header_bytes.saturating_mul(4)).unwrap_or(u32::MAX),
            );
        builder
    }
}

/// Serves `app` on `listener` until `shutdown` completes; then stops accepting, lets every
/// connection finish its requests, and returns.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let builder = Arc::new(limits.builder());
    let graceful = GracefulShutdown::new();
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
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let service = app
            .clone()
            .map_request(move |mut request: http::Request<Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                request
            });
        let (io, reply) = SlowHeaderGuard::new(stream);
        let builder = builder.clone();
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(io), TowerToHyperService::new(service))
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                let timed_out = error
                    .downcast_ref::<hyper::Error>()
                    .is_some_and(hyper::Error::is_timeout);
                reply.after_error(timed_out).await;
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// The TCP stream hyper reads and writes, with a second handle on the write half, so that
/// when hyper gives up on a client that started a request but did not finish its headers in
/// time, the client is told so (408 in the JSON error shape) before the connection closes.
struct SlowHeaderGuard {
    read: OwnedReadHalf,
    write: Arc<Mutex<OwnedWriteHalf>>,
    /// Bytes arrived since the last response was written: a request has begun.
    started: Arc<AtomicBool>,
}

/// The handle kept outside hyper.
struct TimeoutReply {
    write: Arc<Mutex<OwnedWriteHalf>>,
    started: Arc<AtomicBool>,
}

impl SlowHeaderGuard {
    fn new(stream: TcpStream) -> (SlowHeaderGuard, TimeoutReply) {
        let (read, write) = stream.into_split();
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
    /// not arrive in time; every other connection error just closes it.
    async fn after_error(self, timed_out: bool) {
        if !timed_out || !self.started.load(Relaxed) {
            return;
        }
        let body = GatewayError::HeaderTimeout.json_body();
        let head = format!(
            "HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n\
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
        let result = Pin::new(&mut self.read).poll_read(cx, buf);
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
        Pin::new(&mut *write).poll_write(cx, data)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.started.store(false, Relaxed);
        let mut write = self.write.lock().unwrap_or_else(|e| e.into_inner());
        Pin::new(&mut *write).poll_write_vectored(cx, data)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut write = self.write.lock().unwrap_or_else(|e| e.into_inner());
        Pin::new(&mut *write).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut write = self.write.lock().unwrap_or_else(|e| e.into_inner());
        Pin::new(&mut *write).poll_shutdown(cx)
    }
}
