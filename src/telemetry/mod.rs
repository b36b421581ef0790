//! What the gateway tells operators about its traffic: Prometheus metrics (`metrics`), one
//! JSON access-log line per request (`access_log`), W3C trace context (`trace`), the request's
//! ids in log lines (`request_context`) and, when configured, OpenTelemetry export of request
//! spans (`export`).
//!
//! ```text
//! request ─▶ SetRequestId ─▶ RequestSpanLayer ─────────▶ AccessLogLayer ─▶ … handler
//!                            (ids set for log lines;     │ times the request,  │ puts LogFields
//!                             traceparent kept, started, │ counts it in flight │ (route, subject)
//!                             or the exported span's)    ▼                     │ and Upstream in
//!     requests_total, duration, one JSON line, span outcome ◀── response extensions ◀┘ the response
//! ```
//!
//! Labels are bounded: route templates (never raw paths), method and status labels from fixed
//! sets, backend names and endpoint addresses from the config and DNS. Nothing a client sends
//! becomes a label or reaches the access log except the request id.

pub mod access_log;
pub mod export;
pub mod metrics;
pub mod request_context;
pub mod request_span;
pub mod trace;

pub use access_log::{AccessLogLayer, LogFields, Upstream};
pub use request_span::RequestSpanLayer;
pub use trace::ensure_traceparent;
