//! `PoolChannel`: a backend's pool as the transport of generated tonic clients, so Rust code
//! calls backends the way the gateway's routes do: `UserServiceClient::new(backend.channel())`.
//!
//! Each call is sent to the endpoint the pool picks when the call is made, through
//! `ResponseGuard`, and how it ended is reported for health checks and ejection as
//! `Backend::unary` reports it: on the response headers, since a streaming body may run for
//! long. The lease on the connection travels inside the response body, so a call counts as in
//! flight until its last frame is read or the response is dropped, streams included.
//!
//! Unlike `Backend::unary`, a call is never retried (its request body is a stream the first
//! attempt consumed) and the backend's `max_pending` cap does not apply. The deadline is the
//! caller's: `tonic::Request::set_timeout` sends `grpc-timeout`, and dropping the call's future
//! cancels it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::sync::watch;
use tonic::Status;
use tower::{BoxError, Service, ServiceExt as _};

use super::ResponseGuard;
use super::failure::classify;
use super::pool::{EndpointReport, Lease, Pool};
use crate::telemetry::Upstream;
use crate::telemetry::metrics::{self, CallOutcome};

type Request = http::Request<tonic::body::Body>;
type Response = http::Response<tonic::body::Body>;

/// A backend's pool as a tonic transport (a drop-in for `tonic::transport::Channel` in
/// generated clients). Cloning is cheap; `poll_ready` is always ready.
///
/// A call fails with UNAVAILABLE "no healthy upstream" when no endpoint can take it (waiting
/// first for the backend's first DNS resolution, if that is still running), and otherwise with
/// the status tonic makes of the transport error or non-gRPC reply. Nothing is retried.
#[derive(Clone)]
pub struct PoolChannel {
    pool: Arc<Pool>,
    /// True once the backend's hostname endpoints have been resolved the first time.
    resolved: watch::Receiver<bool>,
}

impl std::fmt::Debug for PoolChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PoolChannel")
            .field("backend", &self.pool.name())
            .finish_non_exhaustive()
    }
}

impl PoolChannel {
    pub(super) fn new(pool: Arc<Pool>, resolved: watch::Receiver<bool>) -> PoolChannel {
        PoolChannel { pool, resolved }
    }
}

impl Service<Request> for PoolChannel {
    type Response = Response;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        // The endpoint is chosen when the call is made, not here: a client may sit ready for
        // long, and the pool's choice must reflect the load at the time of the call.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let pool = self.pool.clone();
        let resolved = self.resolved.clone();
        Box::pin(async move {
            let lease = pick(&pool, resolved).await?;
            let guarded = ResponseGuard::new(lease.connection().clone());
            let sent = std::time::Instant::now();
            let labels = &lease.endpoint.labels;
            match guarded.oneshot(request).await {
                Ok(mut response) => {
                    // A trailers-only reply carries its status in the headers; any other
                    // reply has not said how the call ended yet and counts as answered.
                    let status = Status::from_header_map(response.headers());
                    let (outcome, metric) = match &status {
                        None => (EndpointReport::Answered, CallOutcome::Ok),
                        Some(status) if status.code() == tonic::Code::Ok => {
                            (EndpointReport::Answered, CallOutcome::Ok)
                        }
                        Some(status) => {
                            let failure = classify(status);
                            (failure.endpoint_outcome(), failure.call_outcome())
                        }
                    };
                    metrics::record_upstream_call(labels, metric, sent.elapsed());
                    pool.report(&lease, outcome);
                    response
                        .extensions_mut()
                        .insert(Upstream(labels.endpoint.clone()));
                    Ok(response.map(|inner| {
                        tonic::body::Body::new(LeasedBody {
                            inner,
                            lease: Some(lease),
                        })
                    }))
                }
                Err(error) => {
                    // The status tonic would make of the error anyway, so the client sees
                    // the same one.
                    let status = Status::from_error(error);
                    let failure = classify(&status);
                    metrics::record_upstream_call(labels, failure.call_outcome(), sent.elapsed());
                    pool.report(&lease, failure.endpoint_outcome());
                    Err(status.into())
                }
            }
        })
    }
}

/// A connection for one call; waits for the first resolution of hostname endpoints.
async fn pick(pool: &Pool, mut resolved: watch::Receiver<bool>) -> Result<Lease, BoxError> {
    if let Ok(lease) = pool.pick(&[]) {
        return Ok(lease);
    }
    if !*resolved.borrow() {
        // An error means the backend is gone, and the pick below fails.
        let _ = resolved.wait_for(|done| *done).await;
        if let Ok(lease) = pool.pick(&[]) {
            return Ok(lease);
        }
    }
    Err(Status::unavailable("no healthy upstream").into())
}

/// A response body that keeps its call in flight on the pool until the body ends or is dropped.
struct LeasedBody<B> {
    inner: B,
    lease: Option<Lease>,
}

impl<B> Body for LeasedBody<B>
where
    B: Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let frame = ready!(Pin::new(&mut self.inner).poll_frame(cx));
        // Trailers are the last frame of a gRPC response, and tonic stops reading there: the
        // call is over even though the client may keep the body for a while.
        let ended = match &frame {
            Some(Ok(frame)) => frame.is_trailers(),
            Some(Err(_)) | None => true,
        };
        if ended {
            self.lease = None;
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
