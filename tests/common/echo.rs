//! `Echo`: the test backend for `gatehouse.echo.v1.EchoService`.
//!
//! Every unary method answers with the request it received, so a test can see exactly what
//! the gateway built from path, query and body. The request itself steers the backend:
//! `fail` answers with that status instead, `delay_ms` waits first. Request metadata comes back
//! as response metadata `echo-<name>` (the gateway shows it as `Grpc-Metadata-Echo-<Name>`),
//! and every answer carries `x-backend: echo`.

use std::net::SocketAddr;
use std::time::Duration;

use gatehouse::proto::gatehouse::echo::v1::echo_service_server::{EchoService, EchoServiceServer};
use gatehouse::proto::gatehouse::echo::v1::{Failure, Kitchen};
use gatehouse::proto::google::rpc;
use prost::Message;
use tokio::sync::oneshot;
use tonic::codegen::tokio_stream::{self, Stream};
use tonic::metadata::{AsciiMetadataKey, AsciiMetadataValue, KeyAndValueRef, MetadataMap};
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tonic::{Code, Request, Response, Status};

/// The message of the BadRequest field violation `fail.with_details` attaches.
pub const VIOLATION_FIELD: &str = "string_field";
pub const VIOLATION_DESCRIPTION: &str = "must not be empty";
/// The fake stack trace of the DebugInfo `fail.with_details` attaches (must never reach a client).
pub const STACK_TRACE: &str = "at secret::internal::frame (db.rs:42)";

/// The echo service.
#[derive(Clone, Copy, Debug, Default)]
pub struct Echo;

/// A running echo server; dropping it stops the server.
pub struct EchoServer {
    pub addr: SocketAddr,
    _stop: oneshot::Sender<()>,
}

impl Echo {
    /// Serves `Echo` on a free loopback port.
    pub async fn spawn() -> EchoServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the echo backend");
        let addr = listener.local_addr().expect("echo backend address");
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            Server::builder()
                .add_service(EchoServiceServer::new(Echo))
                .serve_with_incoming_shutdown(TcpIncoming::from(listener), async {
                    let _ = stopped.await;
                })
                .await
                .expect("echo backend serves");
        });
        EchoServer { addr, _stop: stop }
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

/// What every unary method does.
pub(super) async fn echo(request: Request<Kitchen>) -> Result<Response<Kitchen>, Status> {
    let (metadata, _, kitchen) = request.into_parts();
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
        let kitchen = request.into_inner();
        let times = usize::try_from(kitchen.int32_field).unwrap_or(0);
        let items = std::iter::repeat_n(kitchen, times).map(Ok);
        Ok(Response::new(Box::pin(tokio_stream::iter(items))))
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
        EchoServer { addr, _stop: stop }
    }

    async fn pass(&self, request: Request<Kitchen>) -> Result<Response<Kitchen>, Status> {
        self.gate.wait().await;
        echo(request).await
    }
}

#[tonic::async_trait]
impl EchoService for GatedEcho {
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
