//! `ResponseGuard`: checks that a backend's reply is gRPC before tonic reads it.
//!
//! tonic infers a status from an HTTP error page and treats a stream that ends without
//! `grpc-status` per its own rules, and it panics on a `grpc-status-details-bin` that is not
//! base64. The guard answers all three the same way: a non-200 or non-`application/grpc`
//! reply, or a body that ends without `grpc-status`, becomes an `UpstreamFault` error (502 to
//! the client); undecodable details are dropped.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use base64::Engine;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use tower::Service;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A backend reply that is not valid gRPC.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamFault {
    #[error("upstream answered HTTP {0} instead of gRPC")]
    HttpStatus(StatusCode),
    #[error("upstream answered a content type other than application/grpc")]
    ContentType,
    #[error("upstream response ended without grpc-status")]
    MissingStatus,
}

/// Wraps a gRPC transport service (a tonic `Channel`).
#[derive(Clone, Debug)]
pub struct ResponseGuard<S> {
    inner: S,
}

impl<S> ResponseGuard<S> {
    pub fn new(inner: S) -> Self {
        ResponseGuard { inner }
    }
}

const DETAILS: &str = "grpc-status-details-bin";
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Drops `grpc-status-details-bin` when it is not base64; says whether `grpc-status` is there.
fn sanitize(headers: &mut HeaderMap) -> bool {
    if let Some(details) = headers.get(DETAILS)
        && BASE64.decode(details.as_bytes()).is_err()
    {
        headers.remove(DETAILS);
    }
    headers.contains_key("grpc-status")
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for ResponseGuard<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
    ResBody: Body<Data = Bytes> + Unpin,
    ResBody::Error: Into<BoxError>,
{
    type Response = Response<GuardedBody<ResBody>>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let call = self.inner.call(request);
        Box::pin(async move {
            let mut response = call.await.map_err(Into::into)?;
            if response.status() != StatusCode::OK {
                return Err(UpstreamFault::HttpStatus(response.status()).into());
            }
            let grpc = response
                .headers()
                .get(http::header::CONTENT_TYPE)
                .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"));
            if !grpc {
                return Err(UpstreamFault::ContentType.into());
            }
            let status_seen = sanitize(response.headers_mut());
            Ok(response.map(|inner| GuardedBody {
                inner,
                status_seen,
                done: false,
            }))
        })
    }
}

/// A response body that must end with `grpc-status` (in trailers, or in the headers of a
/// trailers-only reply).
pub struct GuardedBody<B> {
    inner: B,
    status_seen: bool,
    done: bool,
}

impl<B> Body for GuardedBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if self.done {
            return Poll::Ready(None);
        }
        match ready!(Pin::new(&mut self.inner).poll_frame(cx)) {
            Some(Ok(frame)) => {
                let frame = match frame.into_trailers() {
                    Ok(mut trailers) => {
                        self.status_seen |= sanitize(&mut trailers);
                        Frame::trailers(trailers)
                    }
                    Err(frame) => frame,
                };
                Poll::Ready(Some(Ok(frame)))
            }
            Some(Err(e)) => Poll::Ready(Some(Err(e.into()))),
            None => {
                self.done = true;
                if self.status_seen {
                    Poll::Ready(None)
                } else {
                    Poll::Ready(Some(Err(UpstreamFault::MissingStatus.into())))
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
