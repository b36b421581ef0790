use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use futures_util::future::BoxFuture;
use http::{Request, Response};
use tower::Service;

use super::record::{Pending, Record};
use super::sink::LineSink;

/// The service of [`super::AccessLogLayer`].
#[derive(Clone)]
pub struct AccessLog<S> {
    inner: S,
    sink: Option<Arc<LineSink>>,
}

impl<S> AccessLog<S> {
    pub(super) fn new(inner: S, sink: Option<Arc<LineSink>>) -> AccessLog<S> {
        AccessLog { inner, sink }
    }
}

impl<S, B> Service<Request<B>> for AccessLog<S>
where
    S: Service<Request<B>, Response = Response<Body>>,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Response<Body>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        // Recorded as abandoned if the future is dropped before the response is produced.
        let pending = Pending::new(Record::start(&request, self.sink.as_ref()));
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = response.await?;
            Ok(pending.answered(response))
        })
    }
}
