//! The request span layer: starts each request's `tracing` span, makes the request's trace
//! context what backends should get (see `super::trace::start_request`), and runs the rest of
//! the stack inside the span.
//!
//! The span covers the handling up to the response head. A response body is polled outside it;
//! the access log holds the span until the body ends when the span is exported, so exported
//! durations cover whole streams. (tower-http's `TraceLayer` would do the same with callbacks
//! per response and per body frame that this gateway does not use.)

use std::task::{Context, Poll};

use http::Request;
use tower::{Layer, Service};
use tracing::Instrument;
use tracing::instrument::Instrumented;

use super::trace;

/// Put it inside `SetRequestIdLayer` (the span carries the request id) and outside the access
/// log (which reads the trace context and tells the span how the request ended).
#[derive(Clone, Copy, Debug, Default)]
pub struct RequestSpanLayer;

impl<S> Layer<S> for RequestSpanLayer {
    type Service = RequestSpan<S>;

    fn layer(&self, inner: S) -> RequestSpan<S> {
        RequestSpan { inner }
    }
}

/// See [`RequestSpanLayer`].
#[derive(Clone, Debug)]
pub struct RequestSpan<S> {
    inner: S,
}

impl<S, B> Service<Request<B>> for RequestSpan<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Instrumented<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let span = trace::start_request(&mut request);
        // Inside the span, so that the layers below find it as the current span.
        let future = span.in_scope(|| self.inner.call(request));
        future.instrument(span)
    }
}
