//! The access log: one JSON line per request on stdout, and the request metrics
//! (`gatehouse_requests_total`, `_duration_seconds`, `_in_flight`), both from one record of
//! each request taken by [`AccessLogLayer`].
//!
//! ```json
//! {"time":"2025-01-31T12:00:00.123Z","request_id":"6f1c…","trace_id":"4bf9…","client":"10.0.0.7:53124",
//!  "protocol":"rest","method":"GET","route":"/v1/users/{user_id}","status":200,"latency_ms":1.234,
//!  "upstream":"10.0.1.5:50051","subject":"alice","bytes_out":87}
//! ```
//!
//! `route` is the matched template or gRPC method path (`-` when nothing matched), `grpc_status`
//! appears for gRPC answers whose status the gateway saw, `upstream` when a backend endpoint
//! answered, `subject` when the caller was authenticated, `aborted: true` when the client went
//! away first (`status` is then 499 when no response was sent). Never logged: credentials,
//! query strings, header values other than the request id, bodies.
//!
//! **When.** A response whose length is known when its headers are produced (every REST answer
//! but streams, every trailers-only gRPC answer) is recorded then. Any other response body (REST
//! streams, gRPC calls) is recorded when it ends, so its latency covers the whole stream and a
//! gRPC call's status is read from its trailers (for gRPC-Web, from the trailer frame).
//!
//! **Where the data comes from.** The layer reads the method, protocol, request id,
//! `traceparent` and peer address from the request; the handler adds what only it knows by
//! inserting [`LogFields`] (route, subject) and [`Upstream`] into the response's extensions.
//!
//! **Writing.** Lines go through a bounded queue to one writer thread, which writes them in
//! batches gathered over 10 ms. A request never waits for stdout: when the
//! queue is full the line is dropped and counted (`gatehouse_access_log_dropped_total`).

mod body;
mod layer;
mod record;
mod service;
mod sink;

pub use layer::AccessLogLayer;
pub use service::AccessLog;
pub use sink::flush_stdout;

use super::metrics::SharedString;

/// What the handler knows about a request, for its log line and metrics: insert it into the
/// response's extensions. A response without it is logged with route `-`.
#[derive(Clone, Debug, Default)]
pub struct LogFields {
    /// The matched route template (`/v1/users/{user_id}`), or for gRPC the method path
    /// (`/users.v1.UserService/GetUser`). A bounded set: never the request path.
    pub route: Option<SharedString>,
    /// The authenticated caller (JWT `sub`, or the API key's name).
    pub subject: Option<String>,
}

/// The backend endpoint (`ip:port`) that answered: set by the upstream pool on the responses
/// it returns (tonic responses of `Backend::unary`/`server_streaming`, HTTP responses of
/// `PoolChannel`); a handler passes it on by inserting it into its own response's extensions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Upstream(pub SharedString);
