//! One backend: its pool, and the unary call every route makes, with its deadline, admission
//! cap and retries.
//!
//! A failed attempt is sent again, on another endpoint when there is one, only when that is
//! safe: the request never reached a backend (the connect failed, or the stream was refused
//! with REFUSED_STREAM), or the method is idempotent and the attempt failed with UNAVAILABLE
//! or a broken connection. Every retry is paid for from a budget that refills with traffic
//! (tower's `TpsBudget`), so retries cannot multiply the load on a backend that is failing.

use std::borrow::Borrow;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::FutureExt;
use http::uri::PathAndQuery;
use http_body_util::BodyExt;
use tokio::sync::watch;
use tonic::body::Body;
use tonic::metadata::MetadataMap;
use tonic::{Code, Status};
use tower::ServiceExt;
use tower::retry::budget::{Budget, TpsBudget};

use super::codec::{SingleMessageBody, framed_request};
use super::connection::Connection;
use super::discovery::{self, Resolver, Source};
use super::failure::{Failure, classify};
use super::pool::{EndpointReport, Lease, NoEndpoint, Pool, PoolEndpoint};
use super::{Decoding, RawCodec, ResponseGuard, UpstreamFault, health};
use crate::config::BackendConfig;
use crate::error::GatewayError;
use crate::grpc::metadata::skip_indexing_per_call_values;
use crate::grpc::timeout::encode_grpc_timeout;
use crate::grpc::{GRPC_TIMEOUT, Payload};
use crate::telemetry::Upstream;
use crate::telemetry::metrics::{self, CallOutcome};

/// Wait before retrying an attempt that reached a backend: doubles with each retry, ±50 %
/// jitter. Attempts that never reached one are retried at once.
pub const RETRY_BACKOFF_BASE: Duration = Duration::from_millis(25);

/// The largest response message the gateway reads from a backend by default, in bytes (tonic's
/// default, made explicit; `[[backends]] max_response_message` changes it). A larger one is
/// refused at its length prefix, before any of it is buffered, and the call fails as a bad
/// reply (502): the backend sent it, the client asked nothing wrong.
pub const MAX_RESPONSE_MESSAGE: usize = crate::config::DEFAULT_MAX_RESPONSE_MESSAGE as usize;

/// How long the retry budget remembers calls.
const BUDGET_WINDOW: Duration = Duration::from_secs(10);

/// A named backend. Cloning is cheap.
#[derive(Clone)]
pub struct Backend {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Arc<Pool>,
    /// True once hostname endpoints have been resolved the first time.
    resolved: watch::Receiver<bool>,
    max_pending: usize,
    pending: AtomicUsize,
    max_retries: usize,
    budget: TpsBudget,
    /// The largest reply message read, in bytes.
    max_message: usize,
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backend")
            .field("name", &self.name())
            .finish_non_exhaustive()
    }
}

impl Backend {
    /// A backend whose hostname endpoints are resolved by the system resolver.
    pub fn new(config: &BackendConfig) -> Result<Backend, String> {
        Backend::with_resolver(config, discovery::system_resolver())
    }

    /// A backend whose hostname endpoints are resolved by `resolver`. Must be called inside a
    /// Tokio runtime: discovery and health checks run as tasks, which end with the backend.
    pub fn with_resolver(config: &BackendConfig, resolver: Resolver) -> Result<Backend, String> {
        let sources = config
            .endpoints
            .iter()
            .map(|e| Source::parse(e))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("backend {:?}: {e}", config.name))?;
        let pool = Arc::new(Pool::new(config)?);
        let resolved = discovery::start(&pool, sources, resolver, config.dns_refresh);
        health::start(&pool);
        let retry = &config.retry;
        Ok(Backend {
            inner: Arc::new(Inner {
                pool,
                resolved,
                max_pending: config.max_pending,
                pending: AtomicUsize::new(0),
                max_retries: retry.max_retries as usize,
                budget: TpsBudget::new(
                    BUDGET_WINDOW,
                    retry.min_retries_per_second,
                    retry.budget_percent as f32 / 100.0,
                ),
                max_message: usize::try_from(config.max_response_message.as_u64())
                    .unwrap_or(usize::MAX),
            }),
        })
    }

    pub fn name(&self) -> &str {
        self.inner.pool.name()
    }

    /// The endpoints and their state.
    pub fn pool(&self) -> &Pool {
        &self.inner.pool
    }

    /// One unary call with an encoded request, retried when safe (`idempotent` says whether
    /// the method may run twice). The time left of `deadline` is sent as `grpc-timeout` with
    /// each attempt; dropping the returned future cancels the call.
    pub async fn unary(
        &self,
        path: PathAndQuery,
        metadata: MetadataMap,
        message: Payload,
        deadline: Duration,
        idempotent: bool,
    ) -> Result<tonic::Response<Bytes>, GatewayError> {
        let _admitted = self.inner.admit()?;
        let max_message = self.inner.max_message;
        let call = |lease: &Lease, remaining| {
            attempt(
                lease.connection().clone(),
                path.clone(),
                metadata.clone(),
                message.clone(),
                remaining,
                max_message,
            )
        };
        self.with_retries(deadline, idempotent, |lease| lease, call)
            .await
    }

    /// This backend's pool as the transport of a generated tonic client:
    /// `UserServiceClient::new(backend.channel())`. Each call goes to the endpoint the pool
    /// picks when it is made and is recorded for health like `unary`'s, but is never retried
    /// and not counted against `max_pending`; see [`super::PoolChannel`].
    pub fn channel(&self) -> super::PoolChannel {
        super::PoolChannel::new(self.inner.pool.clone(), self.inner.resolved.clone())
    }

    /// Opens one server-streaming call with an encoded request. The time left of `deadline` is
    /// sent as `grpc-timeout` and bounds the wait for the response headers; bounding the
    /// messages is the caller's part. A call that never reached a backend (the connect failed,
    /// or the stream was refused) is sent to another endpoint as `unary` sends it; nothing is
    /// retried once a backend has answered. The call counts against `max_pending` and as in
    /// flight on its connection until its stream has ended or is dropped; dropping the stream
    /// cancels the call. A trailers-only error reply fails here, as a unary call would. (A
    /// message in pieces is joined: tonic's encoder copies it into its own buffer anyway.)
    pub async fn server_streaming(
        &self,
        path: PathAndQuery,
        metadata: MetadataMap,
        message: Payload,
        deadline: Duration,
    ) -> Result<tonic::Response<tonic::Streaming<Bytes>>, GatewayError> {
        let message = message.join();
        let admitted = Arc::new(StreamAdmitted::new(&self.inner)?);
        let max_message = self.inner.max_message;
        // The stream holds its lease: how it ends is not waited for (it may run for long), so
        // its metrics and the endpoint's record count the opening, to the response headers.
        let call = |lease: &Arc<Lease>, remaining| {
            let hold = StreamHold {
                _lease: lease.clone(),
                _admitted: admitted.clone(),
            };
            open_stream(
                lease.connection().clone(),
                hold,
                path.clone(),
                metadata.clone(),
                message.clone(),
                remaining,
                max_message,
            )
        };
        // Nothing is sent again once a backend may have seen it: a stream is not idempotent.
        self.with_retries(deadline, false, Arc::new, call).await
    }

    /// Opens one call whose requests are a stream (client-streaming and bidirectional methods):
    /// each item of `requests` is one encoded message, sent as it comes; the end of `requests`
    /// half-closes the call. The reply is a stream of messages (one for a client-streaming
    /// method). The time left of `deadline` is sent as `grpc-timeout` and bounds the wait for
    /// the response headers, which a backend may send only once it has read every request.
    /// Never sent again, not even when no backend saw it: the stream the first attempt took
    /// cannot be replayed. It counts against `max_pending` and as in flight on its connection
    /// until its reply has ended or is dropped; dropping the reply (or failing `requests`)
    /// cancels the call.
    pub async fn streaming<S>(
        &self,
        path: PathAndQuery,
        metadata: MetadataMap,
        requests: S,
        deadline: Duration,
    ) -> Result<tonic::Response<tonic::Streaming<Bytes>>, GatewayError>
    where
        S: futures_util::Stream<Item = Bytes> + Send + 'static,
    {
        let inner = &*self.inner;
        let admitted = Arc::new(StreamAdmitted::new(&self.inner)?);
        let started = Instant::now();
        let lease = loop {
            match inner.pool.pick(&[]) {
                Ok(lease) => break Arc::new(lease),
                Err(none) if *inner.resolved.borrow() => return Err(no_healthy_upstream(none)),
                Err(_) => {
                    let remaining = deadline.saturating_sub(started.elapsed());
                    if remaining.is_zero() {
                        return Err(GatewayError::DeadlineExceeded);
                    }
                    let mut resolved = inner.resolved.clone();
                    let _ = tokio::time::timeout(remaining, resolved.wait_for(|r| *r)).await;
                }
            }
        };
        let remaining = deadline.saturating_sub(started.elapsed());
        let hold = StreamHold {
            _lease: lease.clone(),
            _admitted: admitted,
        };
        let call = open_duplex(
            lease.connection().clone(),
            hold,
            path,
            metadata,
            requests,
            remaining,
            inner.max_message,
        );
        match inner.settle(&lease, remaining, call).await {
            Ok(response) => Ok(response),
            Err(None) => Err(GatewayError::DeadlineExceeded),
            Err(Some((status, failure))) => Err(failure.into_error(status)),
        }
    }

    /// The one retry loop, of unary calls and stream openings: `call` makes an attempt on an
    /// endpoint the pool picks (`hold` wraps its lease as the attempt keeps it) until one is
    /// answered, the deadline passes, or the failure may not be sent again. A call that never
    /// reached a backend may always be sent again, one that may have run only when
    /// `idempotent` (after a jittered backoff); each retry goes to an endpoint not tried yet,
    /// within `max_retries` and the retry budget.
    async fn with_retries<L, T, F>(
        &self,
        deadline: Duration,
        idempotent: bool,
        hold: fn(Lease) -> L,
        mut call: impl FnMut(&L, Duration) -> F,
    ) -> Result<tonic::Response<T>, GatewayError>
    where
        L: Borrow<Lease>,
        F: Future<Output = Result<tonic::Response<T>, Status>>,
    {
        let inner = &*self.inner;
        let started = Instant::now();
        inner.budget.deposit();
        let mut tried: Vec<Arc<PoolEndpoint>> = Vec::new();
        let mut last_error = None;
        loop {
            let remaining = deadline.saturating_sub(started.elapsed());
            if remaining.is_zero() {
                return Err(last_error.unwrap_or(GatewayError::DeadlineExceeded));
            }
            let lease = match inner.pool.pick(&tried) {
                Ok(lease) => hold(lease),
                Err(none) => {
                    if !*inner.resolved.borrow() {
                        let mut resolved = inner.resolved.clone();
                        let _ = tokio::time::timeout(remaining, resolved.wait_for(|r| *r)).await;
                        continue;
                    }
                    return Err(last_error.unwrap_or_else(|| no_healthy_upstream(none)));
                }
            };
            let attempt = call(&lease, remaining);
            let (status, failure) = match inner.settle(lease.borrow(), remaining, attempt).await {
                Ok(response) => return Ok(response),
                Err(None) => return Err(GatewayError::DeadlineExceeded),
                Err(Some(failed)) => failed,
            };
            let endpoint = &lease.borrow().endpoint;
            let safe = failure.never_sent() || (failure.maybe_ran() && idempotent);
            let retries = tried.len();
            if !safe || retries >= inner.max_retries || !inner.budget.withdraw() {
                return Err(failure.into_error(status));
            }
            metrics::record_retry(&endpoint.labels.backend, failure.call_outcome());
            tracing::debug!(
                backend = %self.name(),
                endpoint = %endpoint.target,
                ?failure,
                "sending the call to another endpoint"
            );
            tried.push(endpoint.clone());
            drop(lease);
            last_error = Some(failure.into_error(status));
            if failure.maybe_ran() {
                let wait = RETRY_BACKOFF_BASE
                    .saturating_mul(1 << retries.min(8))
                    .mul_f64(0.5 + fastrand::f64());
                tokio::time::sleep(wait.min(deadline.saturating_sub(started.elapsed()))).await;
            }
        }
    }
}

impl Inner {
    /// Waits up to `remaining` for one attempt on `lease` and records how it went (metrics, the
    /// endpoint's health). The response, tagged with the endpoint that answered; `Err(None)`
    /// when the time ran out; otherwise the failed status and what it means.
    ///
    /// Not an `async fn`: one would hold `call` twice, as its argument and inside the
    /// timeout, and every call's future (moved as it is built and boxed) would carry both.
    fn settle<'a, T>(
        &'a self,
        lease: &'a Lease,
        remaining: Duration,
        call: impl Future<Output = Result<tonic::Response<T>, Status>> + 'a,
    ) -> impl Future<Output = Result<tonic::Response<T>, Option<(Status, Failure)>>> + 'a {
        let sent = Instant::now();
        tokio::time::timeout(remaining, call).map(move |outcome| {
            let labels = &lease.endpoint.labels;
            match outcome {
                Err(_) => {
                    metrics::record_upstream_call(labels, CallOutcome::Timeout, sent.elapsed());
                    self.pool.report(lease, EndpointReport::Abandoned);
                    Err(None)
                }
                Ok(Ok(mut response)) => {
                    metrics::record_upstream_call(labels, CallOutcome::Ok, sent.elapsed());
                    self.pool.report(lease, EndpointReport::Answered);
                    response
                        .extensions_mut()
                        .insert(Upstream(labels.endpoint.clone()));
                    Ok(response)
                }
                Ok(Err(status)) => {
                    let failure = classify(&status);
                    metrics::record_upstream_call(labels, failure.call_outcome(), sent.elapsed());
                    self.pool.report(lease, failure.endpoint_outcome());
                    Err(Some((status, failure)))
                }
            }
        })
    }

    /// Counts the call against `max_pending` until the guard drops.
    fn admit(&self) -> Result<Admitted<'_>, GatewayError> {
        if self.pending.fetch_add(1, Relaxed) >= self.max_pending {
            self.pending.fetch_sub(1, Relaxed);
            return Err(GatewayError::UpstreamOverloaded);
        }
        Ok(Admitted(&self.pending))
    }
}

struct Admitted<'a>(&'a AtomicUsize);

impl Drop for Admitted<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Relaxed);
    }
}

fn no_healthy_upstream(none: NoEndpoint) -> GatewayError {
    GatewayError::NoHealthyUpstream {
        retry_after: none.retry_after.as_secs_f64().ceil().max(1.0) as u64,
    }
}

/// The request of one attempt: the message, the metadata with per-call values left out of
/// HPACK's table, and what is left of the deadline as `grpc-timeout`.
fn call_request(metadata: MetadataMap, message: Bytes, timeout: Duration) -> tonic::Request<Bytes> {
    let mut request = tonic::Request::from_parts(metadata, tonic::Extensions::default(), message);
    // Set here rather than by `set_timeout`, which looks the name up from a `&str`.
    let headers = request.metadata_mut().as_mut();
    headers.insert(GRPC_TIMEOUT, encode_grpc_timeout(timeout));
    skip_indexing_per_call_values(headers);
    request
}

/// Ends the request body with its one message (see [`SingleMessageBody`]).
fn single_message(
    message_len: usize,
) -> impl Fn(http::Request<tonic::body::Body>) -> http::Request<tonic::body::Body> + Clone {
    move |request| request.map(|body| Body::new(SingleMessageBody::new(body, message_len)))
}

/// `connection` behind the guard that checks the reply's framing, for a unary call or a stream.
fn guarded(connection: Connection, unary: bool, max_message: usize) -> ResponseGuard<Connection> {
    let decoding = Decoding { max_message, unary };
    ResponseGuard::decoding(connection, decoding)
}

/// A tonic client over `transport` whose decoding limit is the guard's: the guard refuses a
/// larger message first, so tonic's own refusal (OUT_OF_RANGE, a client error) never happens.
fn decoding_client<T>(transport: T, max_message: usize) -> tonic::client::Grpc<T> {
    tonic::client::Grpc::new(transport).max_decoding_message_size(max_message)
}

/// One attempt on one connection: the request is the message behind its 5-byte prefix, ending
/// the stream; the reply is read whole. What tonic's unary client would answer, without its
/// streaming decoder: a status in the headers (trailers-only) or the trailers ends the call, and
/// the reply's metadata is its headers and trailers.
async fn attempt(
    connection: Connection,
    path: PathAndQuery,
    metadata: MetadataMap,
    message: Payload,
    timeout: Duration,
    max_message: usize,
) -> Result<tonic::Response<Bytes>, Status> {
    let mut headers = metadata.into_headers();
    // Rarely there: one look at each name rather than a lookup (which hashes) per name.
    if headers
        .keys()
        .any(|name| NOT_CLIENT_METADATA.contains(name))
    {
        for name in &NOT_CLIENT_METADATA {
            headers.remove(name);
        }
    }
    headers.insert(http::header::TE, http::HeaderValue::from_static("trailers"));
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/grpc"),
    );
    headers.insert(GRPC_TIMEOUT, encode_grpc_timeout(timeout));
    skip_indexing_per_call_values(&mut headers);
    let mut request = http::Request::new(Body::new(framed_request(&message)?));
    *request.method_mut() = http::Method::POST;
    *request.uri_mut() = http::Uri::from(path);
    *request.headers_mut() = headers;
    let response = guarded(connection, true, max_message)
        .oneshot(request)
        .await
        .map_err(Status::from_error)?;
    let (parts, mut body) = response.into_parts();
    let mut reply = MetadataMap::from_headers(parts.headers);
    if let Some(status) = Status::from_header_map(reply.as_ref()) {
        // Trailers-only: the call ended with its headers.
        if status.code() != Code::Ok {
            return Err(status);
        }
        return Err(missing_message());
    }
    // A reply usually comes in one DATA frame, kept as it is; more are joined, into a buffer
    // of the size the message's prefix gives (which the guard has checked), so a large reply
    // is never copied as its buffer grows.
    let mut first = Bytes::new();
    let mut joined: Option<bytes::BytesMut> = None;
    let mut trailers = None;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(Status::from_error)?;
        match frame.into_data() {
            Ok(chunk) if first.is_empty() && joined.is_none() => first = chunk,
            Ok(chunk) => joined
                .get_or_insert_with(|| {
                    let framed = match first.get(1..5) {
                        Some(&[a, b, c, d]) => 5 + u32::from_be_bytes([a, b, c, d]) as usize,
                        _ => 0,
                    };
                    let capacity = framed.min(5 + max_message).max(first.len() + chunk.len());
                    let mut buffer = bytes::BytesMut::with_capacity(capacity);
                    buffer.extend_from_slice(&first);
                    buffer
                })
                .extend_from_slice(&chunk),
            Err(frame) => trailers = frame.into_trailers().ok(),
        }
    }
    let data = joined.map_or(first, bytes::BytesMut::freeze);
    // The guard made sure a status came, in one of the two.
    let trailers = trailers.unwrap_or_default();
    // `grpc-status: 0` needs no decoding (tonic's copies the trailers to build the status).
    let ok = trailers
        .get(GRPC_STATUS)
        .is_some_and(|code| code.as_bytes() == b"0");
    if !ok
        && let Some(mut status) = Status::from_header_map(&trailers)
        && status.code() != Code::Ok
    {
        status.metadata_mut().as_mut().extend(reply.into_headers());
        return Err(status);
    }
    // The guard checked the framing: at most one uncompressed message, whole.
    if data.len() < 5 {
        return Err(missing_message());
    }
    let message = data.slice(5..);
    reply.as_mut().extend(trailers);
    Ok(tonic::Response::from_parts(
        reply,
        message,
        parts.extensions,
    ))
}

/// An OK answer to a unary call without its message: a bad reply (tonic's client says
/// INTERNAL, which would read as the backend's own failure).
fn missing_message() -> Status {
    Status::from_error(Box::new(UpstreamFault::MissingMessage))
}

/// Request headers tonic's client takes out of a call's metadata, besides `te` and
/// `content-type`, which the call sets.
const NOT_CLIENT_METADATA: [http::HeaderName; 4] = [
    http::header::USER_AGENT,
    http::HeaderName::from_static("grpc-message"),
    http::HeaderName::from_static("grpc-message-type"),
    GRPC_STATUS,
];

const GRPC_STATUS: http::HeaderName = http::HeaderName::from_static("grpc-status");

/// A stream's place under `max_pending`, given back when the stream's body goes.
struct StreamAdmitted(Arc<Inner>);

impl StreamAdmitted {
    fn new(inner: &Arc<Inner>) -> Result<StreamAdmitted, GatewayError> {
        // The count `admit` takes now belongs to this guard, which outlives the borrow.
        std::mem::forget(inner.admit()?);
        Ok(StreamAdmitted(inner.clone()))
    }
}

impl Drop for StreamAdmitted {
    fn drop(&mut self) {
        self.0.pending.fetch_sub(1, Relaxed);
    }
}

/// What keeps a streaming call counted, in flight on its connection and under `max_pending`.
#[derive(Clone)]
struct StreamHold {
    _lease: Arc<super::pool::Lease>,
    _admitted: Arc<StreamAdmitted>,
}

/// One attempt at opening a stream; on success the response body owns `hold`.
async fn open_stream(
    connection: Connection,
    hold: StreamHold,
    path: PathAndQuery,
    metadata: MetadataMap,
    message: Bytes,
    timeout: Duration,
    max_message: usize,
) -> Result<tonic::Response<tonic::Streaming<Bytes>>, Status> {
    // `map_response` wants a `Clone` function; the one call made clones `hold` once.
    let transport = tower::ServiceBuilder::new()
        .map_response(move |response: http::Response<_>| {
            response.map(|inner| HeldBody {
                inner,
                hold: Some(hold),
            })
        })
        .map_request(single_message(message.len()))
        .service(guarded(connection, false, max_message));
    let mut grpc = decoding_client(transport, max_message);
    let request = call_request(metadata, message, timeout);
    grpc.ready().await.map_err(Status::from_error)?;
    grpc.server_streaming(request, path, RawCodec).await
}

/// The one attempt at a call whose requests are a stream; on success the response body owns
/// `hold`.
async fn open_duplex<S>(
    connection: Connection,
    hold: StreamHold,
    path: PathAndQuery,
    metadata: MetadataMap,
    requests: S,
    timeout: Duration,
    max_message: usize,
) -> Result<tonic::Response<tonic::Streaming<Bytes>>, Status>
where
    S: futures_util::Stream<Item = Bytes> + Send + 'static,
{
    let transport = tower::ServiceBuilder::new()
        .map_response(move |response: http::Response<_>| {
            response.map(|inner| HeldBody {
                inner,
                hold: Some(hold),
            })
        })
        .service(guarded(connection, false, max_message));
    let mut grpc = decoding_client(transport, max_message);
    let mut request = tonic::Request::from_parts(metadata, tonic::Extensions::default(), requests);
    let headers = request.metadata_mut().as_mut();
    headers.insert(GRPC_TIMEOUT, encode_grpc_timeout(timeout));
    skip_indexing_per_call_values(headers);
    grpc.ready().await.map_err(Status::from_error)?;
    grpc.streaming(request, path, RawCodec).await
}

/// A streaming response body that keeps its call counted until the body ends or is dropped.
struct HeldBody<B> {
    inner: B,
    hold: Option<StreamHold>,
}

impl<B> http_body::Body for HeldBody<B>
where
    B: http_body::Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, B::Error>>> {
        let frame = std::task::ready!(std::pin::Pin::new(&mut self.inner).poll_frame(cx));
        // Trailers end a gRPC response; tonic reads no further.
        let ended = match &frame {
            Some(Ok(frame)) => frame.is_trailers(),
            Some(Err(_)) | None => true,
        };
        if ended {
            self.hold = None;
        }
        std::task::Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
