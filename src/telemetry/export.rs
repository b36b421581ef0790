//! OpenTelemetry export (`[telemetry] otlp_endpoint`): one server span per request, sent over
//! OTLP/gRPC in batches.
//!
//! With export on, the gateway takes part in the trace instead of passing the caller's
//! `traceparent` through: the request span is a child of the caller's span (or the root of a
//! new trace), and backends receive a `traceparent` naming the request span as their parent, so
//! their spans hang under the gateway's. A caller's sampling decision is followed; traces that
//! start here are sampled at `otlp_sample_ratio`.
//!
//! Only the request span is exported (see [`REQUEST_TARGET`]): log events and the gateway's other
//! spans never are. The span is named `METHOD /route/template` and carries
//! `http.request.method`, `http.route`, `http.response.status_code`, `rpc.grpc.status_code`
//! for gRPC, and `upstream.address` (the backend endpoint that answered).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use http::{HeaderMap, HeaderValue};
use opentelemetry::trace::{
    SpanContext, SpanId, Status, TraceContextExt, TraceFlags, TraceId, TraceState,
    TracerProvider as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::registry::LookupSpan;

use super::trace::{TRACEPARENT, TRACESTATE, is_valid_traceparent};
use crate::config::TelemetryConfig;

/// Target of the request span, the one span that is exported.
pub const REQUEST_TARGET: &str = "gatehouse::request";

/// Bound on one batch export; a collector slower than this loses the batch, not requests.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(5);

/// Bound on the final flush when the process stops.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// Set once the exporting layer is installed: from then on request spans carry the fields and
/// parent that export needs. Never cleared (the layer lives as long as the process).
static EXPORTING: AtomicBool = AtomicBool::new(false);

/// Whether request spans are exported.
pub fn exporting() -> bool {
    EXPORTING.load(Ordering::Relaxed)
}

/// The running exporter; [`Exporter::shutdown`] sends what is still queued.
pub struct Exporter {
    provider: SdkTracerProvider,
}

impl Exporter {
    /// When `config` names an endpoint: the exporter, and the `tracing` layer that feeds it.
    /// Must be called inside the Tokio runtime (the gRPC client lives there). Connecting is
    /// lazy: an unreachable collector costs dropped batches and a warning, never a request.
    pub fn start<S>(config: &TelemetryConfig) -> Result<Option<(Exporter, impl Layer<S>)>, String>
    where
        S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    {
        if config.otlp_endpoint.is_empty() {
            return Ok(None);
        }
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(config.otlp_endpoint.clone())
            .with_timeout(EXPORT_TIMEOUT)
            .build()
            .map_err(|e| format!("telemetry.otlp_endpoint: {e}"))?;
        let resource = Resource::builder()
            .with_service_name(config.otlp_service_name.clone())
            .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
            .build();
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
                config.otlp_sample_ratio,
            ))))
            .with_resource(resource)
            .build();
        let layer = tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("gatehouse"))
            .with_location(false)
            .with_threads(false)
            .with_target(false)
            .with_level(false)
            .with_tracked_inactivity(false)
            .with_context_activation(false)
            .with_filter(filter_fn(|meta| {
                meta.is_span() && meta.target() == REQUEST_TARGET
            }));
        EXPORTING.store(true, Ordering::Relaxed);
        Ok(Some((Exporter { provider }, layer)))
    }

    /// Exports the spans still queued, waiting at most a few seconds for the collector.
    pub async fn shutdown(self) {
        let provider = self.provider;
        let flushed =
            tokio::task::spawn_blocking(move || provider.shutdown_with_timeout(SHUTDOWN_TIMEOUT))
                .await;
        match flushed {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(%error, "the last spans were not exported"),
            Err(error) => tracing::warn!(%error, "the span exporter's shutdown failed"),
        }
    }
}

/// Makes the caller's `traceparent`, when it is one valid header, the parent of `span`. Called
/// before the span is first entered.
pub(super) fn adopt_parent(span: &Span, headers: &HeaderMap) {
    let mut values = headers.get_all(TRACEPARENT).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return;
    };
    let Some(parent) = remote_context(value, headers.get(TRACESTATE)) else {
        return;
    };
    // Only fails once the span has started, which it has not.
    let _ = span.set_parent(Context::new().with_remote_span_context(parent));
}

/// The span context a valid `traceparent` (and its `tracestate`) describe.
fn remote_context(
    traceparent: &HeaderValue,
    tracestate: Option<&HeaderValue>,
) -> Option<SpanContext> {
    let bytes = traceparent.as_bytes();
    if !is_valid_traceparent(bytes) {
        return None;
    }
    // Validated: ASCII hex at fixed places.
    let text = traceparent.to_str().ok()?;
    let trace_id = TraceId::from_hex(&text[3..35]).ok()?;
    let span_id = SpanId::from_hex(&text[36..52]).ok()?;
    let flags = u8::from_str_radix(&text[53..55], 16).ok()?;
    let state = tracestate
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<TraceState>().ok())
        .unwrap_or_default();
    Some(SpanContext::new(
        trace_id,
        span_id,
        TraceFlags::new(flags) & TraceFlags::SAMPLED,
        true,
        state,
    ))
}

/// Writes `span`'s own context into `headers` as `traceparent` and `tracestate`, so that
/// backends see the request span as their parent. When the span has no context (it is
/// disabled), `headers` are left alone.
pub(super) fn propagate(span: &Span, headers: &mut HeaderMap) {
    let context = span.context();
    let own = context.span();
    let own = own.span_context();
    if !own.is_valid() {
        return;
    }
    let traceparent = format!(
        "00-{}-{}-{:02x}",
        own.trace_id(),
        own.span_id(),
        own.trace_flags().to_u8()
    );
    let Ok(traceparent) = HeaderValue::try_from(traceparent) else {
        return;
    };
    headers.insert(TRACEPARENT, traceparent);
    let state = own.trace_state().header();
    match HeaderValue::try_from(state) {
        Ok(state) if !state.is_empty() => {
            headers.insert(TRACESTATE, state);
        }
        _ => {
            headers.remove(TRACESTATE);
        }
    }
}

/// How a request ended, as the span records it.
pub(super) struct Outcome<'a> {
    pub method: &'a str,
    pub route: Option<&'a str>,
    pub status: u16,
    pub grpc_status: Option<i32>,
    pub upstream: Option<&'a str>,
}

/// Names `span` after the route and records how the request ended. Failures are those the
/// OpenTelemetry conventions count for a server: HTTP 5xx, and the gRPC codes that mean the
/// server failed.
pub(super) fn record_outcome(span: &Span, outcome: Outcome<'_>) {
    if let Some(route) = outcome.route {
        // The span has started, so `otel.name` can no longer rename it; the span itself can.
        span.context()
            .span()
            .update_name(format!("{} {route}", outcome.method));
        span.set_attribute("http.route", route.to_string());
    }
    span.set_attribute("http.response.status_code", i64::from(outcome.status));
    if let Some(code) = outcome.grpc_status {
        span.set_attribute("rpc.grpc.status_code", i64::from(code));
    }
    if let Some(upstream) = outcome.upstream {
        span.set_attribute("upstream.address", upstream.to_string());
    }
    // UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS.
    let grpc_failed = matches!(outcome.grpc_status, Some(2 | 4 | 12 | 13 | 14 | 15));
    if outcome.status >= 500 || grpc_failed {
        span.set_status(Status::error(""));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_remote_parent_keeps_its_ids_state_and_sampled_flag_only() {
        let traceparent =
            HeaderValue::from_static("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03");
        let state = HeaderValue::from_static("vendor=1,other=2");
        let parent = remote_context(&traceparent, Some(&state)).unwrap();
        assert_eq!(
            parent.trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_eq!(parent.span_id().to_string(), "00f067aa0ba902b7");
        assert!(parent.is_sampled());
        assert_eq!(parent.trace_flags(), TraceFlags::SAMPLED);
        assert!(parent.is_remote());
        assert_eq!(parent.trace_state().header(), "vendor=1,other=2");

        let unsampled =
            HeaderValue::from_static("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
        assert!(!remote_context(&unsampled, None).unwrap().is_sampled());
        let invalid =
            HeaderValue::from_static("00-00000000000000000000000000000000-00f067aa0ba902b7-01");
        assert!(remote_context(&invalid, None).is_none());
    }
}
