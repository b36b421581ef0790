//! The tower services: the split between REST and gRPC, the gRPC-Web translation, and the
//! ingress itself.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::Request;
use axum::response::IntoResponse as _;
use axum::response::Response;
use bytes::Bytes;
use futures_util::FutureExt as _;
use futures_util::future::{BoxFuture, Map};
use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderValue, Method};
use http_body::Body as _;
use tonic::Code;
use tonic_web::{GrpcWebLayer, GrpcWebService};
use tower::load_shed::error::Overloaded;
use tower::util::{Either, Oneshot};
use tower::{BoxError, Layer as _, Service, ServiceExt as _};

use super::status::{error_response, status_response};
use super::{GrpcIngress, RateLimiter};
use crate::error::GatewayError;
use crate::grpc::{Protocol, protocol};
use crate::security::Authenticator;

/// The content types tonic-web translates (it compares them exactly).
const GRPC_WEB_TYPES: [&str; 4] = [
    "application/grpc-web",
    "application/grpc-web+proto",
    "application/grpc-web-text",
    "application/grpc-web-text+proto",
];

/// Sends gRPC and gRPC-Web requests to `grpc`, everything else to `rest`, and answers a
/// side's error in the request's protocol: a JSON error or a gRPC status. The one error the
/// sides have is `Overloaded`, from the load shedding in front of the concurrency limit.
#[derive(Clone)]
pub struct ProtocolSplit<R, G> {
    rest: R,
    grpc: G,
}

impl<R, G> ProtocolSplit<R, G> {
    pub fn new(rest: R, grpc: G) -> ProtocolSplit<R, G> {
        ProtocolSplit { rest, grpc }
    }
}

/// How one side's error is answered.
type ErrorAnswer = fn(Result<Response, BoxError>) -> Result<Response, Infallible>;

impl<R, G> Service<Request> for ProtocolSplit<R, G>
where
    R: Service<Request, Response = Response, Error = BoxError> + Clone,
    G: Service<Request, Response = Response, Error = BoxError> + Clone,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Map<Oneshot<Either<R, G>, Request>, ErrorAnswer>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // Which side is asked is known only with the request: each is made ready for it.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let (side, answer): (_, ErrorAnswer) = match protocol(request.headers()) {
            Protocol::Rest if request.method() == Method::HEAD => {
                (Either::Left(self.rest.clone()), |result| {
                    Ok(without_body(rest_answer(result)))
                })
            }
            Protocol::Rest => (Either::Left(self.rest.clone()), |result| {
                Ok(rest_answer(result))
            }),
            Protocol::Grpc | Protocol::GrpcWeb => (Either::Right(self.grpc.clone()), |result| {
                Ok(result.unwrap_or_else(|e| error_response(&side_error(e))))
            }),
        };
        side.oneshot(request).map(answer)
    }
}

fn rest_answer(result: Result<Response, BoxError>) -> Response {
    result.unwrap_or_else(|e| side_error(e).into_response())
}

/// The answer to a HEAD request: the GET answer's headers, with the length of the body it
/// would have had, and no body. hyper leaves the body out of an HTTP/1.1 answer itself, but
/// would send it on HTTP/2.
fn without_body(mut response: Response) -> Response {
    if !response.headers().contains_key(CONTENT_LENGTH)
        && let Some(length) = response.body().size_hint().exact()
    {
        response
            .headers_mut()
            .insert(CONTENT_LENGTH, HeaderValue::from(length));
    }
    response.map(|_| Body::empty())
}

/// A side's error as the gateway's: `Overloaded` is the only one its layers make.
fn side_error(error: BoxError) -> GatewayError {
    if error.is::<Overloaded>() {
        GatewayError::Overloaded
    } else {
        GatewayError::Internal(error.to_string())
    }
}

/// Every gRPC and gRPC-Web request: gRPC-Web is translated to gRPC and back by tonic-web's
/// `GrpcWebLayer` around the [`IngressService`]; native gRPC goes to it directly (tonic-web
/// would refuse native gRPC over HTTP/1.1 with a bare 400).
#[derive(Clone)]
pub struct GrpcService {
    native: IngressService,
    web: GrpcWebService<IngressService>,
}

impl GrpcService {
    pub(super) fn new(native: IngressService) -> GrpcService {
        GrpcService {
            web: GrpcWebLayer::new().layer(native.clone()),
            native,
        }
    }
}

impl Service<Request> for GrpcService {
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request) -> Self::Future {
        if protocol(request.headers()) != Protocol::GrpcWeb {
            return Box::pin(self.native.clone().oneshot(request));
        }
        let content_type = request
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if !GRPC_WEB_TYPES.contains(&content_type) {
            let message = format!(
                "gRPC-Web content type {content_type:?} is not supported; send \
                 application/grpc-web(+proto) or application/grpc-web-text(+proto)"
            );
            return Box::pin(std::future::ready(Ok(status_response(
                Code::Unimplemented,
                &message,
            ))));
        }
        if request.method() != Method::POST {
            // tonic-web would answer a bare 405; a gRPC-Web client reads a status.
            return Box::pin(std::future::ready(Ok(status_response(
                Code::Unimplemented,
                "gRPC-Web calls are POST requests",
            ))));
        }
        let web = self.web.clone();
        Box::pin(async move {
            let response = web.oneshot(request).await?;
            Ok(response.map(Body::new))
        })
    }
}

/// The ingress: reflection, unknown methods, and calls proxied to the backends.
#[derive(Clone)]
pub struct IngressService {
    ingress: Arc<GrpcIngress>,
    authenticator: Arc<Authenticator>,
    rate_limit: RateLimiter,
}

impl IngressService {
    pub(super) fn new(
        ingress: Arc<GrpcIngress>,
        authenticator: Arc<Authenticator>,
        rate_limit: RateLimiter,
    ) -> IngressService {
        IngressService {
            ingress,
            authenticator,
            rate_limit,
        }
    }

    async fn handle<B>(self, request: http::Request<B>) -> Response
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let ingress = &*self.ingress;
        let path = request.uri().path();
        if let Some(reflection) = ingress.reflection_for(path) {
            return match reflection.clone().oneshot(request).await {
                Ok(response) => response.map(Body::new),
                Err(never) => match never {},
            };
        }
        if !ingress.proxy {
            return status_response(
                Code::Unimplemented,
                "gRPC calls are not served by this gateway",
            );
        }
        let method = match ingress.methods.find(path) {
            Ok(method) => method,
            Err(unknown) => return status_response(Code::Unimplemented, &unknown.to_string()),
        };
        ingress
            .call(&self.authenticator, &self.rate_limit, method, request)
            .await
    }
}

impl<B> Service<http::Request<B>> for IngressService
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move { Ok(this.handle(request).await) })
    }
}
