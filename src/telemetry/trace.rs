//! W3C Trace Context (<https://www.w3.org/TR/trace-context/>): every request leaves the
//! gateway with a valid `traceparent`, and gets a `tracing` span carrying its ids.
//!
//! Without export, the gateway does not take part in traces: a valid `traceparent` passes to
//! the backend unchanged, with its `tracestate`. An invalid one is dropped with its
//! `tracestate` and, like a missing one, replaced by a new trace (random ids, sampled). With
//! `[telemetry] otlp_endpoint`, the request span joins the trace and backends get it as their
//! parent (see `super::export`). Backends get both headers as metadata: REST through
//! `transcode::metadata::DEFAULT_FORWARDED_HEADERS`, gRPC with the rest of the client's
//! metadata.

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Request};
use tracing::Span;

use super::export;
use super::request_context::RequestContext;

pub const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
pub const TRACESTATE: HeaderName = HeaderName::from_static("tracestate");

/// The request id header (set by `SetRequestIdLayer` when the client sent none).
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Length of a version-00 `traceparent`: `00-<32 hex>-<16 hex>-<2 hex>`.
const TRACEPARENT_LEN: usize = 55;

/// Longest request id copied into spans and log lines; ours are 36-character UUIDs.
pub(crate) const MAX_REQUEST_ID_LEN: usize = 128;

/// Makes sure `headers` carry one valid `traceparent`: a valid one is kept with its
/// `tracestate`; an invalid one, or several, are removed with every `tracestate` and a new
/// trace is started, as when there is none. Returns the trace id of the one they carry.
pub fn ensure_traceparent(headers: &mut HeaderMap) -> TraceId {
    let mut values = headers.get_all(TRACEPARENT).iter();
    if let (Some(value), None) = (values.next(), values.next())
        && is_valid_traceparent(value.as_bytes())
    {
        return TraceId::of_valid(value.as_bytes());
    }
    headers.remove(TRACESTATE);
    let traceparent = new_traceparent();
    let id = TraceId::of_valid(traceparent.as_bytes());
    headers.insert(TRACEPARENT, traceparent);
    id
}

/// A trace id: the 32 lowercase hex digits of a valid `traceparent`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceId([u8; 32]);

impl TraceId {
    /// The trace id of `traceparent`, which [`is_valid_traceparent`] accepted.
    fn of_valid(traceparent: &[u8]) -> TraceId {
        let mut id = [0; 32];
        id.copy_from_slice(&traceparent[3..35]);
        TraceId(id)
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("a valid traceparent's trace id is hex digits")
    }
}

/// Marks the request id "never indexed" for HPACK. It differs on every request, and the
/// response echoes it: on an HTTP/2 client connection each one would enter the connection's
/// header table and push out the values that repeat (`content-type`, `grpc-status: 0`), which
/// then had to be sent in full again.
fn skip_indexing_request_id(headers: &mut HeaderMap) {
    if let Some(id) = headers.get_mut(REQUEST_ID) {
        id.set_sensitive(true);
    }
}

/// Starts the request: makes its `traceparent` the one backends get, and returns what its log
/// lines say of it and its span, which is made only when it is exported (otherwise
/// `Span::none()`). Backends get the exported span's own context (the caller's trace context
/// becomes its parent); otherwise [`ensure_traceparent`]'s.
///
/// An exported span carries `request_id`, `trace_id`, `method`, `route` (recorded by
/// `request_context::record_route`) and what OpenTelemetry reads (`otel.kind`, and
/// `otel.name`, which `export::record_outcome` replaces by `METHOD /route` when the request
/// ends).
pub fn start_request<B>(request: &mut Request<B>) -> (RequestContext, Span) {
    let method = super::metrics::method_label(request.method());
    skip_indexing_request_id(request.headers_mut());
    let headers = request.headers_mut();
    if !export::exporting() {
        let trace = ensure_traceparent(headers);
        let context = RequestContext::new(headers.get(REQUEST_ID), trace, method);
        return (context, Span::none());
    }
    let span = tracing::info_span!(
        target: export::REQUEST_TARGET,
        "request",
        request_id = request_id(headers).unwrap_or("-"),
        trace_id = tracing::field::Empty,
        method,
        route = tracing::field::Empty,
        otel.kind = "server",
        otel.name = method,
        http.request.method = method,
    );
    export::adopt_parent(&span, headers);
    // The span's own context when it has one, else the caller's or a new trace.
    export::propagate(&span, headers);
    let trace = ensure_traceparent(headers);
    span.record("trace_id", trace.as_str());
    let context = RequestContext::new(headers.get(REQUEST_ID), trace, method);
    (context, span)
}

/// Whether `value` is a `traceparent` this gateway passes on: version `00` exactly as the
/// spec draws it, or a later version (not `ff`) that starts like one and goes on after a `-`.
/// Hex is lowercase; neither id may be all zeros.
pub fn is_valid_traceparent(value: &[u8]) -> bool {
    if value.len() < TRACEPARENT_LEN {
        return false;
    }
    let hex = |range: std::ops::Range<usize>| {
        value[range]
            .iter()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
    };
    let zeros = |range: std::ops::Range<usize>| value[range].iter().all(|&b| b == b'0');
    let version = &value[0..2];
    let shape = hex(0..2)
        && version != b"ff"
        && value[2] == b'-'
        && hex(3..35)
        && !zeros(3..35)
        && value[35] == b'-'
        && hex(36..52)
        && !zeros(36..52)
        && value[52] == b'-'
        && hex(53..55);
    let length = if version == b"00" {
        value.len() == TRACEPARENT_LEN
    } else {
        value.len() == TRACEPARENT_LEN || value[TRACEPARENT_LEN] == b'-'
    };
    shape && length
}

/// The trace id of the request's `traceparent`, if it has a valid one.
pub fn trace_id(headers: &HeaderMap) -> Option<&str> {
    headers.get(TRACEPARENT).and_then(trace_id_of)
}

/// The trace id of `traceparent`, if it is valid.
pub fn trace_id_of(traceparent: &HeaderValue) -> Option<&str> {
    if !is_valid_traceparent(traceparent.as_bytes()) {
        return None;
    }
    // Validated: ASCII.
    traceparent.to_str().ok().map(|v| &v[3..35])
}

/// A new trace: random trace and parent ids, sampled.
fn new_traceparent() -> HeaderValue {
    let mut text = *b"00-________________________________-________________-01";
    write_hex(&mut text[3..35], fastrand::u128(1..));
    write_hex(&mut text[36..52], u128::from(fastrand::u64(1..)));
    HeaderValue::from_bytes(&text).expect("hex digits and dashes form a header value")
}

/// Writes the low `out.len()` hex digits of `value` into `out`, lowercase, most significant
/// first (what `format!("{value:0N$x}")` gives, without making a `String`).
fn write_hex(out: &mut [u8], mut value: u128) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for byte in out.iter_mut().rev() {
        *byte = DIGITS[(value & 0xf) as usize];
        value >>= 4;
    }
}

/// Request ids for `SetRequestIdLayer`: random (version 4) UUIDs, from the thread's fast
/// generator rather than the operating system's, which would cost a system call per request.
/// A request id names a request in logs; it is not a secret.
#[derive(Clone, Copy, Debug, Default)]
pub struct MakeRequestId;

impl tower_http::request_id::MakeRequestId for MakeRequestId {
    fn make_request_id<B>(&mut self, _: &Request<B>) -> Option<tower_http::request_id::RequestId> {
        let uuid = uuid::Builder::from_random_bytes(fastrand::u128(..).to_le_bytes()).into_uuid();
        let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
        uuid.hyphenated().encode_lower(&mut text);
        // Owned by the `Bytes`: the copies made for the backend, the response and the log are
        // counted references, where a copied-in value is moved to a shared one on first copy.
        HeaderValue::from_maybe_shared(Bytes::from_owner(text))
            .ok()
            .map(Into::into)
    }
}

/// The request id the request carries (set by `SetRequestIdLayer` when the client sent none),
/// if it is printable and not overly long.
pub fn request_id(headers: &HeaderMap) -> Option<&str> {
    headers.get(REQUEST_ID).and_then(printable_request_id)
}

/// A request id header's value, if printable and not overly long.
pub fn printable_request_id(value: &HeaderValue) -> Option<&str> {
    value
        .to_str()
        .ok()
        .filter(|v| v.len() <= MAX_REQUEST_ID_LEN)
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn traceparent_validation_follows_the_spec() {
        let cases = [
            (VALID, true),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
                true,
            ),
            // Unknown flags are kept.
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-ff",
                true,
            ),
            // A later version may carry more fields after a dash.
            (
                "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
                true,
            ),
            (
                "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                true,
            ),
            // Version 00 has exactly four fields.
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
                false,
            ),
            (
                "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",
                false,
            ),
            (
                "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                false,
            ),
            (
                "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
                false,
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
                false,
            ),
            (
                "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01",
                false,
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01",
                false,
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0",
                false,
            ),
            (
                "0-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                false,
            ),
            (
                "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",
                false,
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902g7-01",
                false,
            ),
            ("", false),
        ];
        for (value, valid) in cases {
            assert_eq!(is_valid_traceparent(value.as_bytes()), valid, "{value}");
        }
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(*name, HeaderValue::from_static(value));
        }
        headers
    }

    #[test]
    fn a_valid_traceparent_and_its_tracestate_are_kept() {
        let mut map = headers(&[("traceparent", VALID), ("tracestate", "vendor=1")]);
        let id = ensure_traceparent(&mut map);
        assert_eq!(map.get(TRACEPARENT).unwrap(), VALID);
        assert_eq!(map.get(TRACESTATE).unwrap(), "vendor=1");
        assert_eq!(trace_id(&map), Some("4bf92f3577b34da6a3ce929d0e0e4736"));
        assert_eq!(id.as_str(), "4bf92f3577b34da6a3ce929d0e0e4736");
    }

    #[test]
    fn an_invalid_traceparent_starts_a_new_trace_without_tracestate() {
        let invalid = "00-00000000000000000000000000000000-00f067aa0ba902b7-01";
        let mut map = headers(&[("traceparent", invalid), ("tracestate", "vendor=1")]);
        let id = ensure_traceparent(&mut map);
        assert_eq!(
            trace_id(&map),
            Some(id.as_str()),
            "the new trace's id is returned"
        );
        let value = map.get(TRACEPARENT).unwrap();
        assert_ne!(value, invalid);
        assert!(is_valid_traceparent(value.as_bytes()), "{value:?}");
        assert!(value.to_str().unwrap().ends_with("-01"), "sampled");
        assert!(map.get(TRACESTATE).is_none());
    }

    #[test]
    fn several_traceparents_count_as_invalid() {
        let mut map = headers(&[("traceparent", VALID), ("traceparent", VALID)]);
        ensure_traceparent(&mut map);
        assert_eq!(map.get_all(TRACEPARENT).iter().count(), 1);
        assert_ne!(map.get(TRACEPARENT).unwrap(), VALID);
    }

    #[test]
    fn a_missing_traceparent_is_started_fresh_each_time() {
        let mut first = HeaderMap::new();
        let mut second = headers(&[("tracestate", "orphan=1")]);
        ensure_traceparent(&mut first);
        ensure_traceparent(&mut second);
        let (a, b) = (trace_id(&first).unwrap(), trace_id(&second).unwrap());
        assert_ne!(a, b);
        assert!(second.get(TRACESTATE).is_none());
    }

    #[test]
    fn hex_is_written_as_format_writes_it() {
        for value in [
            0u128,
            1,
            0xabc,
            u128::MAX,
            0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736,
        ] {
            let mut out = [0u8; 32];
            write_hex(&mut out, value);
            assert_eq!(std::str::from_utf8(&out).unwrap(), format!("{value:032x}"));
        }
        let mut short = [0u8; 16];
        write_hex(&mut short, 0x00f0_67aa_0ba9_02b7);
        assert_eq!(&short, b"00f067aa0ba902b7");
    }

    #[test]
    fn request_ids_are_version_4_uuids_and_differ() {
        use tower_http::request_id::MakeRequestId as _;
        let request = Request::new(());
        let mut make = MakeRequestId;
        let first = make.make_request_id(&request).unwrap();
        let second = make.make_request_id(&request).unwrap();
        let first = first.header_value().to_str().unwrap().to_string();
        let parsed = uuid::Uuid::parse_str(&first).unwrap();
        assert_eq!(parsed.get_version_num(), 4);
        assert_eq!(first, parsed.hyphenated().to_string());
        assert_ne!(first, second.header_value().to_str().unwrap());
    }

    #[test]
    fn request_ids_are_read_only_when_printable_and_short() {
        assert_eq!(
            request_id(&headers(&[("x-request-id", "abc")])),
            Some("abc")
        );
        let long: &'static str = Box::leak("x".repeat(MAX_REQUEST_ID_LEN + 1).into_boxed_str());
        assert_eq!(request_id(&headers(&[("x-request-id", long)])), None);
        let mut map = HeaderMap::new();
        map.insert(REQUEST_ID, HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap());
        assert_eq!(request_id(&map), None);
    }
}
