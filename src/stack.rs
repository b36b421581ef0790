//! The tower stack every request goes through, as one service with a name.
//!
//! From the outside in: the request id is set, the request span starts, the id is echoed, the
//! access log records, CORS answers preflights and decorates responses, REST errors become
//! problem details if the config asks (`crate::rest::ProblemDetails`), then the content type
//! splits REST from gRPC. Both sides share one concurrency limit, shed load beyond it, and catch a
//! handler's panic; the split answers both in the request's protocol (JSON error or gRPC
//! status). REST goes to the custom routes, if any, and then to the dispatcher that matches
//! the generated routes; gRPC goes to the ingress of the gateway in service.
//!
//! The stack is built from tower and tower-http layers directly rather than from nested axum
//! routers: a router per level cost a route lookup, a boxed service clone and a boxed future
//! per request, for routing that only ever had one answer.

use std::any::Any;
use std::convert::Infallible;
use std::task::{Context, Poll};

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::FutureExt as _;
use futures_util::future::BoxFuture;
use tower::limit::{ConcurrencyLimit, GlobalConcurrencyLimitLayer};
use tower::load_shed::LoadShed;
use tower::util::{Either, MapResponse};
use tower::{BoxError, Service, ServiceBuilder};
use tower_http::body::UnsyncBoxBody;
use tower_http::catch_panic::{CatchPanic, CatchPanicLayer};
use tower_http::cors::Cors;
use tower_http::request_id::{PropagateRequestId, SetRequestId};
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};

use crate::error::GatewayError;
use crate::gateway::{Gateway, Handle};
use crate::ingress::{self, ProtocolSplit};
use crate::rest::{ProblemDetails, ProblemDetailsLayer};
use crate::telemetry::access_log::AccessLog;
use crate::telemetry::request_span::RequestSpan;
use crate::telemetry::trace::{MakeRequestId, REQUEST_ID};
use crate::telemetry::{AccessLogLayer, RequestSpanLayer};

/// What a side answers when its handler panicked.
type PanicAnswer = fn(Box<dyn Any + Send + 'static>) -> Response;
/// `CatchPanic` boxes the body; the stack's responses carry axum's.
type AxumBody = fn(Response<UnsyncBoxBody<Bytes, BoxError>>) -> Response;

/// One side of the split, behind the shared concurrency limit and its panic guard. Its one
/// error, `Overloaded`, is answered by the split.
type Guarded<S> = LoadShed<ConcurrencyLimit<MapResponse<CatchPanic<S, PanicAnswer>, AxumBody>>>;
type Split = ProtocolSplit<Guarded<Either<Router, Dispatch>>, Guarded<Ingress>>;
type Stack = SetRequestId<
    RequestSpan<
        PropagateRequestId<AccessLog<Either<Cors<ProblemDetails<Split>>, ProblemDetails<Split>>>>,
    >,
    MakeRequestId,
>;

/// Everything the gateway serves on its listener, as one tower service: see the module docs.
/// Made by [`service`] or [`for_handle`]; served by `crate::listener::serve`.
#[derive(Clone)]
pub struct GatewayService {
    stack: Stack,
}

impl<B> Service<http::Request<B>> for GatewayService
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = <Stack as Service<Request>>::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.stack.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        self.stack.call(request.map(Body::new))
    }
}

/// Everything `gateway` serves: the whole stack over a [`Handle`] of its own.
pub fn service(gateway: Gateway) -> GatewayService {
    build(&Handle::new(gateway), None)
}

/// [`service`] with `custom` routes tried first and the generated routes after, all behind
/// the same layers (request id, tracing, CORS, the concurrency limit, panic guard). gRPC and
/// gRPC-Web requests (`content-type: application/grpc*`) go to the gRPC ingress
/// (`crate::ingress`) instead, behind the same layers; they never reach `custom`.
pub fn service_with(gateway: Gateway, custom: Router) -> GatewayService {
    build(&Handle::new(gateway), Some(custom))
}

/// Everything the listener serves, over the gateway in service in `handle` (a reload swaps
/// it; see `crate::reload`).
pub fn for_handle(handle: &Handle) -> GatewayService {
    build(handle, None)
}

/// [`for_handle`] with `custom` routes tried before the generated ones, behind the same
/// layers.
pub fn for_handle_with(handle: &Handle, custom: Router) -> GatewayService {
    build(handle, Some(custom))
}

/// The stack over `handle`, with `custom` routes tried before the generated ones. The
/// listener's settings (CORS, the concurrency limit, the access log switch) are those of the
/// gateway in service now.
fn build(handle: &Handle, custom: Option<Router>) -> GatewayService {
    let first = handle.load();
    // One concurrency limit for REST and gRPC together.
    let limit = GlobalConcurrencyLimitLayer::new(first.max_concurrent_requests());
    let dispatch = Dispatch {
        handle: handle.clone(),
    };
    let rest = match custom {
        Some(custom) => Either::Left(custom.fallback_service(dispatch)),
        None => Either::Right(dispatch),
    };
    let rest = guarded(rest, &limit, rest_panicked);
    let grpc = Ingress {
        handle: handle.clone(),
    };
    let grpc = guarded(grpc, &limit, grpc_panicked);
    let cors = first.cors_layer();
    let stack = ServiceBuilder::new()
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestId))
        // Sets the trace context the log and the backends read, and marks the request id so
        // that HPACK does not index it, before it is copied to the response.
        .layer(RequestSpanLayer)
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        // Outside everything that answers: sees every response. Inside the span, which it
        // tells how the request ended.
        .layer(AccessLogLayer::new(first.access_log_on()))
        // Outside the split: every response, even one from a panic or the overload guard,
        // carries the CORS headers.
        .option_layer(cors)
        // Outside the split: the overload guard's 503 and the panic guard's 500 are REST
        // errors too. It rewrites only what `GatewayError` answered, never a gRPC status.
        .layer(ProblemDetailsLayer::new(handle.clone()))
        .service(ProtocolSplit::new(rest, grpc));
    GatewayService { stack }
}

fn guarded<S>(service: S, limit: &GlobalConcurrencyLimitLayer, panicked: PanicAnswer) -> Guarded<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    ServiceBuilder::new()
        .load_shed()
        .layer(limit.clone())
        .map_response(axum_body as AxumBody)
        .layer(CatchPanicLayer::custom(panicked))
        .service(service)
}

fn axum_body(response: Response<UnsyncBoxBody<Bytes, BoxError>>) -> Response {
    response.map(Body::new)
}

fn rest_panicked(_: Box<dyn Any + Send + 'static>) -> Response {
    GatewayError::Internal("handler panicked".into()).into_response()
}

fn grpc_panicked(_: Box<dyn Any + Send + 'static>) -> Response {
    ingress::error_response(&GatewayError::Internal("handler panicked".into()))
}

/// The generated routes, matched by the gateway in service when the request arrives.
#[derive(Clone)]
pub struct Dispatch {
    handle: Handle,
}

impl Service<Request> for Dispatch {
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request) -> Self::Future {
        crate::rest::dispatch(self.handle.load(), request)
            .map(Ok)
            .boxed()
    }
}

/// gRPC and gRPC-Web, to the ingress of the gateway in service when the request arrives.
#[derive(Clone)]
pub struct Ingress {
    handle: Handle,
}

impl Service<Request> for Ingress {
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request) -> Self::Future {
        // Always ready, like the ingress it holds.
        self.handle.load().grpc_service().call(request)
    }
}
