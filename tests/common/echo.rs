//! `Echo`: the test backend for `gatehouse.echo.v1.EchoService`.
//!
//! Every unary method answers with the request it received, so a test can see exactly what
//! the gateway built from path, query and body. The request itself steers the backend:
//! `fail` answers with that status instead, `delay_ms` waits first. Request metadata comes back
//! as response metadata `echo-<name>` (the gateway shows it as `Grpc-Metadata-Echo-<Name>`),
//! and every answer carries `x-backend: echo`.
//!
//! `EchoStream` sends the request `int32_field` times, waiting `delay_ms` before each, then
//! ends with `fail` if it is set (with no message to send first, `fail` is a trailers-only
//! reply). The server's [`StreamStats`] count the messages produced and the streams dropped
//! before their end.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use gatehouse::proto::gatehouse::echo::v1::echo_service_server::{EchoService, EchoServiceServer};
use gatehouse::proto::gatehouse::echo::v1::{Failure, Kitchen};
use gatehouse::proto::google::rpc;
use prost::Message;
use tokio::sync::oneshot;
use tonic::codegen::tokio_stream::Stream;
use tonic::metadata::{AsciiMetadataKey, AsciiMetadataValue, KeyAndValueRef, MetadataMap};
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};
use tonic::{Code, Request, Response, Status, Streaming};

/// The message of the BadRequest field violation `fail.with_details` attaches.
pub const VIOLATION_FIELD: &str = "string_field";
pub const VIOLATION_DESCRIPTION: &str = "must not be empty";
/// The fake stack trace of the DebugInfo `fail.with_details` attaches (must never reach a client).
pub const STACK_TRACE: &str = "at secret::internal::frame (db.rs:42)";

/// The echo service.
#[derive(Clone, Debug, Default)]
pub struct Echo {
    streams: Arc<StreamStats>,
}

/// A running echo server; dropping it stops the server.
pub struct EchoServer {
    pub addr: SocketAddr,
    /// What its `EchoStream` calls did.
    pub streams: Arc<StreamStats>,
    _stop: oneshot::Sender<()>,
}

/// Counts of the echo server's `EchoStream`, `EchoChat` and `EchoCollect` calls, over all its
/// streams.
#[derive(Debug, Default)]
pub struct StreamStats {
    produced: AtomicUsize,
    cancelled: AtomicUsize,
    chat_replies: AtomicUsize,
    chats_cancelled: AtomicUsize,
    collects_cut: AtomicUsize,
    collected: AtomicUsize,
    /// Wakes the `EchoCollect` calls that stall.
    release: tokio::sync::Notify,
}

impl StreamStats {
    /// Messages handed to tonic to send.
    pub fn produced(&self) -> usize {
        self.produced.load(Ordering::SeqCst)
    }

    /// Streams dropped before they ended: the caller cancelled them.
    pub fn cancelled(&self) -> usize {
        self.cancelled.load(Ordering::SeqCst)
    }

    /// `EchoChat` replies handed to tonic to send.
    pub fn chat_replies(&self) -> usize {
        self.chat_replies.load(Ordering::SeqCst)
    }

    /// `EchoChat` calls dropped before the caller ended its stream: the caller cancelled them.
    pub fn chats_cancelled(&self) -> usize {
        self.chats_cancelled.load(Ordering::SeqCst)
    }

    /// `EchoCollect` calls that ended without the caller's half-close (cancelled).
    pub fn collects_cut(&self) -> usize {
        self.collects_cut.load(Ordering::SeqCst)
    }

    /// Messages `EchoCollect` calls have read, over all of them.
    pub fn collected(&self) -> usize {
        self.collected.load(Ordering::SeqCst)
    }

    /// Lets every stalled `EchoCollect` call go on reading.
    pub fn release_stalled(&self) {
        self.release.notify_waiters();
    }
}

impl Echo {
    /// Serves `Echo` on a free loopback port.
    pub async fn spawn() -> EchoServer {
        Echo::spawn_on(Server::builder()).await
    }

    /// Serves `Echo` over TLS with `identity`; with `client_ca`, only to clients presenting a
    /// certificate that CA signed (mutual TLS).
    pub async fn spawn_tls(identity: Identity, client_ca: Option<Certificate>) -> EchoServer {
        let mut tls = ServerTlsConfig::new().identity(identity);
        if let Some(ca) = client_ca {
            tls = tls.client_ca_root(ca);
        }
        let server = Server::builder()
            .tls_config(tls)
            .expect("echo backend TLS config");
        Echo::spawn_on(server).await
    }

    async fn spawn_on(mut server: Server) -> EchoServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the echo backend");
        let addr = listener.local_addr().expect("echo backend address");
        let (stop, stopped) = oneshot::channel::<()>();
        let echo = Echo::default();
        let streams = echo.streams.clone();
        tokio::spawn(async move {
            server
                .add_service(EchoServiceServer::new(echo))
                .serve_with_incoming_shutdown(TcpIncoming::from(listener), async {
                    let _ = stopped.await;
                })
                .await
                .expect("echo backend serves");
        });
        EchoServer {
            addr,
            streams,
            _stop: stop,
        }
    }
}

/// The request metadata as `echo-<name>` entries, plus `x-backend: echo`.
fn echoed_metadata(received: &MetadataMap) -> MetadataMap {
    let mut out = MetadataMap::new();
    for entry in received.iter() {
        if let KeyAndValueRef::Ascii(name, value) = entry
            && let Ok(echo) = AsciiMetadataKey::from_bytes(format!("echo-{name}").as_bytes())
        {
            out.append(echo, value.clone());
        }
    }
    out.insert("x-backend", AsciiMetadataValue::from_static("echo"));
    out
}

/// The status `fail` asks for.
fn failure_status(fail: &Failure) -> Status {
    let code = Code::from_i32(fail.code);
    if !fail.with_details {
        return Status::new(code, fail.message.clone());
    }
    let bad_request = rpc::BadRequest {
        field_violations: vec![rpc::bad_request::FieldViolation {
            field: VIOLATION_FIELD.into(),
            description: VIOLATION_DESCRIPTION.into(),
            ..Default::default()
        }],
    };
    let debug_info = rpc::DebugInfo {
        stack_entries: vec![STACK_TRACE.into()],
        detail: "debug detail".into(),
    };
    let status = rpc::Status {
        code: fail.code,
        message: fail.message.clone(),
        details: vec![
            pbjson_types::Any {
                type_url: "type.googleapis.com/google.rpc.BadRequest".into(),
                value: bad_request.encode_to_vec().into(),
            },
            pbjson_types::Any {
                type_url: "type.googleapis.com/google.rpc.DebugInfo".into(),
                value: debug_info.encode_to_vec().into(),
            },
        ],
    };
    Status::with_details(code, fail.message.clone(), status.encode_to_vec().into())
}

/// The `x-request-id` of every unary call any echo server of this test process received.
static RECEIVED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// Whether an echo server received a unary call with this `x-request-id`: the way a test
/// proves the gateway did, or did not, call the backend for one request.
pub fn received_request(id: &str) -> bool {
    RECEIVED.lock().unwrap().iter().any(|seen| seen == id)
}

/// What every unary method does.
pub(super) async fn echo(request: Request<Kitchen>) -> Result<Response<Kitchen>, Status> {
    let (metadata, _, kitchen) = request.into_parts();
    if let Some(id) = metadata.get("x-request-id").and_then(|v| v.to_str().ok()) {
        RECEIVED.lock().unwrap().push(id.to_string());
    }
    if let Some(code) = metadata.get("want-http-code") {
        // The status the test wants the gateway to answer with, as a backend sets it.
        let mut response = Response::new(kitchen);
        response.metadata_mut().insert("x-http-code", code.clone());
        return Ok(response);
    }
    if kitchen.delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(
            kitchen.delay_ms.unsigned_abs().into(),
        ))
        .await;
    }
    let echoed = echoed_metadata(&metadata);
    if let Some(fail) = kitchen.fail.as_ref().filter(|f| f.code != 0) {
        let mut status = failure_status(fail);
        *status.metadata_mut() = echoed;
        return Err(status);
    }
    let mut response = Response::new(kitchen);
    *response.metadata_mut() = echoed;
    Ok(response)
}

type KitchenStream = std::pin::Pin<Box<dyn Stream<Item = Result<Kitchen, Status>> + Send>>;

#[tonic::async_trait]
impl EchoService for Echo {
    type EchoChatStream = KitchenStream;

    async fn echo_collect(
        &self,
        request: Request<Streaming<Kitchen>>,
    ) -> Result<Response<Kitchen>, Status> {
        collect_counted(request, self.streams.clone()).await
    }
    async fn echo_chat(
        &self,
        request: Request<Streaming<Kitchen>>,
    ) -> Result<Response<KitchenStream>, Status> {
        counted_chat(request, self.streams.clone())
    }
    async fn echo(&self, request: Request<Kitchen>) -> Result<Response<Kitchen>, Status> {
        echo(request).await
    }
    async fn echo_book(&self, request: Request<Kitchen>) -> Result<Response<Kitchen>, Status> {
        echo(request).await
    }
    async fn echo_file(&self, request: Request<Kitchen>) -> Result<Response<Kitchen>, Status> {
        echo(request).await
    }
    async fn echo_archive(&self, request: Request<Kitchen>) -> Result<Response<Kitchen>, Status> {
        echo(request).await
    }
    async fn echo_typed(&self, request: Request<Kitchen>) -> Result<Response<Kitchen>, Status> {
        echo(request).await
    }
    async fn echo_nested_body(
        &self,
        request: Request<Kitchen>,
    ) -> Result<Response<Kitchen>, Status> {
        echo(request).await
    }
    async fn echo_response_body(
        &self,
        request: Request<Kitchen>,
    ) -> Result<Response<Kitchen>, Status> {
        echo(request).await
    }
    async fn echo_wild(&self, request: Request<Kitchen>) -> Result<Response<Kitchen>, Status> {
        echo(request).await
    }
    async fn echo_delete(&self, request: Request<Kitchen>) -> Result<Response<Kitchen>, Status> {
        echo(request).await
    }
    async fn echo_unmapped(&self, request: Request<Kitchen>) -> Result<Response<Kitchen>, Status> {
        echo(request).await
    }

    type EchoStreamStream = KitchenStream;

    async fn echo_stream(
        &self,
        request: Request<Kitchen>,
    ) -> Result<Response<KitchenStream>, Status> {
        let (metadata, _, kitchen) = request.into_parts();
        let echoed = echoed_metadata(&metadata);
        let fail = kitchen.fail.clone().filter(|f| f.code != 0);
        let left = usize::try_from(kitchen.int32_field).unwrap_or(0);
        if left == 0
            && let Some(fail) = &fail
        {
            let mut status = failure_status(fail);
            *status.metadata_mut() = echoed;
            return Err(status);
        }
        let producer = Producer {
            stats: self.streams.clone(),
            delay: Duration::from_millis(kitchen.delay_ms.unsigned_abs().into()),
            kitchen,
            left,
            fail,
            ended: false,
        };
        let stream: KitchenStream =
            Box::pin(futures_util::stream::unfold(producer, Producer::next));
        let mut response = Response::new(stream);
        *response.metadata_mut() = echoed;
        Ok(response)
    }
}

/// One `EchoStream` call's messages; counts itself cancelled when dropped before its end.
struct Producer {
    stats: Arc<StreamStats>,
    kitchen: Kitchen,
    left: usize,
    delay: Duration,
    fail: Option<Failure>,
    ended: bool,
}

impl Producer {
    async fn next(mut self) -> Option<(Result<Kitchen, Status>, Producer)> {
        if self.ended {
            return None;
        }
        if self.left == 0 {
            self.ended = true;
            let status = failure_status(&self.fail.take()?);
            return Some((Err(status), self));
        }
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        self.left -= 1;
        self.stats.produced.fetch_add(1, Ordering::SeqCst);
        Some((Ok(self.kitchen.clone()), self))
    }
}

impl Drop for Producer {
    fn drop(&mut self) {
        if !self.ended {
            self.stats.cancelled.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// `EchoCollect`: the last request received (an empty one if none), with `int32_field` set to
/// how many arrived; the request metadata comes back as for unary calls.
pub(super) async fn collect(
    request: Request<Streaming<Kitchen>>,
) -> Result<Response<Kitchen>, Status> {
    collect_counted(request, Arc::default()).await
}

/// `collect`, counting into `stats`. A call whose first message has `string_field` "stall"
/// stops reading after it until [`StreamStats::release_stalled`].
pub(super) async fn collect_counted(
    request: Request<Streaming<Kitchen>>,
    stats: Arc<StreamStats>,
) -> Result<Response<Kitchen>, Status> {
    let (metadata, _, mut incoming) = request.into_parts();
    let mut last = Kitchen::default();
    let mut count = 0;
    let mut call = CollectCall {
        stats: stats.clone(),
        half_closed: false,
    };
    while let Some(kitchen) = incoming.message().await? {
        stats.collected.fetch_add(1, Ordering::SeqCst);
        if count == 0 && kitchen.string_field == "stall" {
            stats.release.notified().await;
        }
        last = kitchen;
        count += 1;
    }
    call.half_closed = true;
    last.int32_field = count;
    let mut response = Response::new(last);
    *response.metadata_mut() = echoed_metadata(&metadata);
    Ok(response)
}

/// One `EchoCollect` call; counts itself cut when it ends before the caller's half-close.
struct CollectCall {
    stats: Arc<StreamStats>,
    half_closed: bool,
}

impl Drop for CollectCall {
    fn drop(&mut self) {
        if !self.half_closed {
            self.stats.collects_cut.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// `EchoChat`: every request back as soon as it arrives, until the caller ends its stream.
pub(super) fn chat(
    request: Request<Streaming<Kitchen>>,
) -> Result<Response<KitchenStream>, Status> {
    let (metadata, _, incoming) = request.into_parts();
    let stream: KitchenStream = Box::pin(incoming);
    let mut response = Response::new(stream);
    *response.metadata_mut() = echoed_metadata(&metadata);
    Ok(response)
}

/// `EchoChat` counted in `stats`: every request back as it arrives; a request with `fail` set
/// ends the call with that status instead.
fn counted_chat(
    request: Request<Streaming<Kitchen>>,
    stats: Arc<StreamStats>,
) -> Result<Response<KitchenStream>, Status> {
    let (metadata, _, incoming) = request.into_parts();
    let replies = ChatReplies {
        incoming,
        stats,
        ended: false,
    };
    let stream: KitchenStream = Box::pin(replies);
    let mut response = Response::new(stream);
    *response.metadata_mut() = echoed_metadata(&metadata);
    Ok(response)
}

/// One `EchoChat` call's replies; counts itself cancelled when dropped before its end.
struct ChatReplies {
    incoming: Streaming<Kitchen>,
    stats: Arc<StreamStats>,
    ended: bool,
}

impl Stream for ChatReplies {
    type Item = Result<Kitchen, Status>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        if self.ended {
            return std::task::Poll::Ready(None);
        }
        let next = std::task::ready!(std::pin::Pin::new(&mut self.incoming).poll_next(cx));
        let reply = match next {
            Some(Ok(kitchen)) => match kitchen.fail.as_ref().filter(|f| f.code != 0) {
                Some(fail) => {
                    self.ended = true;
                    Some(Err(failure_status(fail)))
                }
                None => {
                    self.stats.chat_replies.fetch_add(1, Ordering::SeqCst);
                    Some(Ok(kitchen))
                }
            },
            Some(Err(status)) => Some(Err(status)),
            None => {
                self.ended = true;
                None
            }
        };
        std::task::Poll::Ready(reply)
    }
}

impl Drop for ChatReplies {
    fn drop(&mut self) {
        if !self.ended {
            self.stats.chats_cancelled.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// An echo service whose unary methods all wait at `gate` first: a call answers only once as
/// many calls as the barrier counts have arrived, so calls made one after another never do.
#[derive(Clone)]
pub struct GatedEcho {
    gate: std::sync::Arc<tokio::sync::Barrier>,
}

impl GatedEcho {
    /// Serves it on a free loopback port.
    pub async fn spawn(gate: std::sync::Arc<tokio::sync::Barrier>) -> EchoServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the gated echo backend");
        let addr = listener.local_addr().expect("gated echo address");
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            Server::builder()
                .add_service(EchoServiceServer::new(GatedEcho { gate }))
                .serve_with_incoming_shutdown(TcpIncoming::from(listener), async {
                    let _ = stopped.await;
                })
                .await
                .expect("gated echo backend serves");
        });
        EchoServer {
            addr,
            streams: Arc::default(),
            _stop: stop,
        }
    }

    async fn pass(&self, request: Request<Kitchen>) -> Result<Response<Kitchen>, Status> {
        self.gate.wait().await;
        echo(request).await
    }
}

#[tonic::async_trait]
impl EchoService for GatedEcho {
    type EchoChatStream = KitchenStream;

    async fn echo_collect(
        &self,
        _request: Request<Streaming<Kitchen>>,
    ) -> Result<Response<Kitchen>, Status> {
        Err(Status::unimplemented("the gated echo does not stream"))
    }
    async fn echo_chat(
        &self,
        _request: Request<Streaming<Kitchen>>,
    ) -> Result<Response<KitchenStream>, Status> {
        Err(Status::unimplemented("the gated echo does not stream"))
    }
    async fn echo(&self, request: Request<Kitchen>) -> Result<Response<Kitchen>, Status> {
        self.pass(request).await
    }
    async fn echo_book(&self, request: Request<Kitchen>) -> Result<Response<Kitchen>, Status> {
        self.pass(request).await
    }
    async fn echo_file(&self, request: Request<Kitchen>) -> Result<Response<Kitchen>, Status> {
        self.pass(request).await
    }
    async fn echo_archive(&self, request: Request<Kitchen>) -> Result<Response<Kitchen>, Status> {
        self.pass(request).await
    }
    async fn echo_typed(&self, request: Request<Kitchen>) -> Result<Response<Kitchen>, Status> {
        self.pass(request).await
    }
    async fn echo_nested_body(
        &self,
        request: Request<Kitchen>,
    ) -> Result<Response<Kitchen>, Status> {
        self.pass(request).await
    }
    async fn echo_response_body(
        &self,
        request: Request<Kitchen>,
    ) -> Result<Response<Kitchen>, Status> {
        self.pass(request).await
    }
    async fn echo_wild(&self, request: Request<Kitchen>) -> Result<Response<Kitchen>, Status> {
        self.pass(request).await
    }
    async fn echo_delete(&self, request: Request<Kitchen>) -> Result<Response<Kitchen>, Status> {
        self.pass(request).await
    }
    async fn echo_unmapped(&self, request: Request<Kitchen>) -> Result<Response<Kitchen>, Status> {
        self.pass(request).await
    }

    type EchoStreamStream = KitchenStream;

    async fn echo_stream(
        &self,
        _request: Request<Kitchen>,
    ) -> Result<Response<KitchenStream>, Status> {
        Err(Status::unimplemented("the gated echo does not stream"))
    }
}
