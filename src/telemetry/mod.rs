//! What the gateway tells operators about its traffic: Prometheus metrics (`metrics`), one
//! JSON access-log line per request (`access_log`) and W3C trace context (`trace`).
//!
//! ```text
//! request ─▶ SetRequestId ─▶ trace context ─▶ AccessLogLayer ─▶ request span ─▶ … handler
//!                          (traceparent made    │ times the request,            │ puts LogFields
//!                           valid or started)   │ counts it in flight           │ (route, subject)
//!                                               ▼                               │ and Upstream in
//!            requests_total, duration, one JSON line ◀── response extensions ◀──┘ the response
//! ```
//!
//! Labels are bounded: route templates (never raw paths), method and status labels from fixed
//! sets, backend names and endpoint addresses from the config and DNS. Nothing a client sends
//! becomes a label or reaches the access log except the request id.

pub mod access_log;
pub mod metrics;
pub mod trace;

pub use access_log::{AccessLogLayer, LogFields, Upstream};
pub use trace::{ensure_traceparent, request_span, with_traceparent};
