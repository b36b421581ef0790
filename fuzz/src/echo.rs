//! The echo backend of `whole_stack`, served on a loopback port inside the fuzz process.
//!
//! As the integration tests' echo (`tests/common/echo.rs`): every unary method answers with the
//! request, and the request's `fail` makes it answer with that status instead (with
//! `with_details`: a BadRequest and a DebugInfo, which must never reach a client). Request
//! metadata comes back as `echo-<name>`. Unlike the tests' echo it never sleeps (`delay_ms` is
//! ignored) and `EchoStream` sends at most [`MAX_STREAM_MESSAGES`], so no input can make the
//! backend slow or the answer unbounded.

use std::net::SocketAddr;
use std::pin::Pin;

use gatehouse::proto::gatehouse::echo::v1::echo_service_server::{EchoService, EchoServiceServer};
use gatehouse::proto::gatehouse::echo::v1::{Failure, Kitchen};
use gatehouse::proto::google::rpc;
use prost::Message;
use tonic::codegen::tokio_stream::{self, Stream};
use tonic::metadata::{AsciiMetadataKey, KeyAndValueRef, MetadataMap};
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tonic::{Code, Request, Response, Status, Streaming};

/// Most messages one `EchoStream` call sends, whatever `int32_field` asks for.
pub const MAX_STREAM_MESSAGES: usize = 4;

/// The echo service.
#[derive(Clone, Copy, Debug, Default)]
pub struct Echo;

impl Echo {
    /// Serves it on a free loopback port for as long as the runtime runs; must be called
    /// inside a Tokio runtime.
    pub async fn spawn() -> std::io::Result<SocketAddr> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        tokio::spawn(
            Server::builder()
                .add_service(EchoServiceServer::new(Echo))
                .serve_with_incoming(TcpIncoming::from(listener)),
        );
        Ok(addr)
    }
}

fn echoed_metadata(received: &MetadataMap) -> MetadataMap {
    let mut out = MetadataMap::new();
    for entry in received.iter() {
        if let KeyAndValueRef::Ascii(name, value) = entry
            && let Ok(echo) = AsciiMetadataKey::from_bytes(format!("echo-{name}").as_bytes())
        {
            out.append(echo, value.clone());
        }
    }
    out
}

fn failure_status(fail: &Failure, metadata: MetadataMap) -> Status {
    let code = Code::from_i32(fail.code);
    let mut status = if fail.with_details {
        let any = |type_url: &str, value: Vec<u8>| pbjson_types::Any {
            type_url: type_url.into(),
            value: value.into(),
        };
        let bad_request = rpc::BadRequest {
            field_violations: vec![rpc::bad_request::FieldViolation {
                field: "string_field".into(),
                description: fail.message.clone(),
                ..Default::default()
            }],
        };
        let debug_info = rpc::DebugInfo {
            stack_entries: vec!["at secret::frame (db.rs:42)".into()],
            detail: "debug detail".into(),
        };
        let details = rpc::Status {
            code: fail.code,
            message: fail.message.clone(),
            details: vec![
                any(
                    "type.googleapis.com/google.rpc.BadRequest",
                    bad_request.encode_to_vec(),
                ),
                any(
                    "type.googleapis.com/google.rpc.DebugInfo",
                    debug_info.encode_to_vec(),
                ),
            ],
        };
        Status::with_details(code, fail.message.clone(), details.encode_to_vec().into())
    } else {
        Status::new(code, fail.message.clone())
    };
    *status.metadata_mut() = metadata;
    status
}

fn echo(request: Request<Kitchen>) -> Result<Response<Kitchen>, Status> {
    let (metadata, _, kitchen) = request.into_parts();
    let echoed = echoed_metadata(&metadata);
    if let Some(fail) = kitchen.fail.as_ref().filter(|f| f.code != 0) {
        return Err(failure_status(fail, echoed));
    }
    let mut response = Response::new(kitchen);
    *response.metadata_mut() = echoed;
    Ok(response)
}

type KitchenStream = Pin<Box<dyn Stream<Item = Result<Kitchen, Status>> + Send>>;

#[tonic::async_trait]
impl EchoService for Echo {
    async fn echo(&self, request: Request<Kitchen>) -> Result<Response<Kitchen>, Status> {
        echo(request)
    }
    async fn echo_book(&self, request: Request<Kitchen>) -> Result<Response<Kitchen>, Status> {
        echo(request)
    }
    async fn echo_file(&self, request: Request<Kitchen>) -> Result<Response<Kitchen>, Status> {
        echo(request)
    }
    async fn echo_archive(&self, request: Request<Kitchen>) -> Result<Response<Kitchen>, Status> {
        echo(request)
    }
    async fn echo_typed(&self, request: Request<Kitchen>) -> Result<Response<Kitchen>, Status> {
        echo(request)
    }
    async fn echo_nested_body(
        &self,
        request: Request<Kitchen>,
    ) -> Result<Response<Kitchen>, Status> {
        echo(request)
    }
    async fn echo_response_body(
        &self,
        request: Request<Kitchen>,
    ) -> Result<Response<Kitchen>, Status> {
        echo(request)
    }
    async fn echo_wild(&self, request: Request<Kitchen>) -> Result<Response<Kitchen>, Status> {
        echo(request)
    }
    async fn echo_delete(&self, request: Request<Kitchen>) -> Result<Response<Kitchen>, Status> {
        echo(request)
    }
    async fn echo_unmapped(&self, request: Request<Kitchen>) -> Result<Response<Kitchen>, Status> {
        echo(request)
    }

    type EchoStreamStream = KitchenStream;

    /// The request `int32_field` times (at most [`MAX_STREAM_MESSAGES`]), then `fail` if set.
    async fn echo_stream(
        &self,
        request: Request<Kitchen>,
    ) -> Result<Response<KitchenStream>, Status> {
        let (metadata, _, kitchen) = request.into_parts();
        let echoed = echoed_metadata(&metadata);
        let fail = kitchen.fail.clone().filter(|f| f.code != 0);
        let count = usize::try_from(kitchen.int32_field)
            .unwrap_or(0)
            .min(MAX_STREAM_MESSAGES);
        if count == 0
            && let Some(fail) = &fail
        {
            return Err(failure_status(fail, echoed));
        }
        let messages = std::iter::repeat_n(kitchen, count).map(Ok);
        let end = fail.map(|fail| Err(failure_status(&fail, MetadataMap::new())));
        let stream: KitchenStream = Box::pin(tokio_stream::iter(messages.chain(end)));
        let mut response = Response::new(stream);
        *response.metadata_mut() = echoed;
        Ok(response)
    }

    /// The last request received, with `int32_field` set to how many arrived (gRPC only).
    async fn echo_collect(
        &self,
        request: Request<Streaming<Kitchen>>,
    ) -> Result<Response<Kitchen>, Status> {
        let (metadata, _, mut incoming) = request.into_parts();
        let (mut last, mut count) = (Kitchen::default(), 0);
        while let Some(kitchen) = incoming.message().await? {
            last = kitchen;
            count += 1;
        }
        last.int32_field = count;
        let mut response = Response::new(last);
        *response.metadata_mut() = echoed_metadata(&metadata);
        Ok(response)
    }

    type EchoChatStream = KitchenStream;

    /// Every request back as it arrives (gRPC only).
    async fn echo_chat(
        &self,
        request: Request<Streaming<Kitchen>>,
    ) -> Result<Response<KitchenStream>, Status> {
        let (metadata, _, incoming) = request.into_parts();
        let mut response = Response::new(Box::pin(incoming) as KitchenStream);
        *response.metadata_mut() = echoed_metadata(&metadata);
        Ok(response)
    }
}
