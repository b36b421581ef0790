//! The request span layer: gives each request what its log lines say of it
//! (`super::request_context`), makes its trace context what backends should get (see
//! `super::trace::start_request`) and, when spans are exported, runs the rest of the stack
//! inside the request's span.
//!
//! Both cover the handling up to the response head. A response body is polled outside them;
//! the access log holds an exported span until the body ends, so exported durations cover
//! whole streams. (tower-http's `TraceLayer` would do the same with callbacks per response and
//! per body frame that this gateway does not use.)

use std::task::{Context, Poll};

use http::Request;
use tokio::task::futures::TaskLocalFuture;
use tower::{Layer, Service};
use tracing::Instrument;
use tracing::instrument::Instrumented;

use super::request_context::RequestContext;
use super::trace;

/// Put it inside `SetRequestIdLayer` (log lines and the span carry the request id) and outside
/// the access log (which reads the trace context and tells the span how the request ended).
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
    type Future = TaskLocalFuture<RequestContext, Instrumented<S::Future>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let (context, span) = trace::start_request(&mut request);
        // Inside the span, so that the layers below find it as the current span (when there is
        // one). The context is set while the future is polled, which is where the layers below
        // and the handlers do their work and log.
        let future = span.in_scope(|| self.inner.call(request));
        context.scope(future.instrument(span))
    }
}
