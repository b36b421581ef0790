//! gRPC metadata on the wire: the names the gateway reserves, and the backend's metadata as
//! HTTP response headers (`Grpc-Metadata-<Name>`).

use http::header::{HeaderMap, HeaderName};
use tonic::metadata::MetadataMap;

/// The prefix of request headers that carry metadata, and of response headers that carry the
/// backend's.
pub const METADATA_PREFIX: &str = "grpc-metadata-";

/// Metadata names that carry the verified caller to backends. A client can never set them:
/// copies sent as headers or `Grpc-Metadata-*` are dropped before the gateway sets its own.
pub const IDENTITY_METADATA: [&str; 2] = ["x-user-id", "x-user-roles"];

/// Metadata whose value differs on every call. HPACK would add each to the connection's
/// dynamic table, evicting the values that do repeat (`content-type`, `te`, `user-agent`, the
/// caller's identity) for nothing; sent as literals "never indexed" instead.
const PER_CALL_VALUES: [HeaderName; 3] = [
    HeaderName::from_static("x-request-id"),
    HeaderName::from_static("traceparent"),
    HeaderName::from_static("grpc-timeout"),
];

/// Marks the values in `headers` that differ on every call so HPACK does not index them (see
/// `PER_CALL_VALUES`). Call it last, once `grpc-timeout` is set.
pub fn skip_indexing_per_call_values(headers: &mut HeaderMap) {
    for name in &PER_CALL_VALUES {
        if let Some(value) = headers.get_mut(name) {
            value.set_sensitive(true);
        }
    }
}

/// Metadata names a client may not set through `Grpc-Metadata-*`: gRPC's own, HTTP/2
/// connection headers, and the ones the gateway vouches for (the credential it checked, the
/// forwarding chain, the verified identity).
pub fn reserved(name: &str) -> bool {
    name.starts_with("grpc-")
        || IDENTITY_METADATA.contains(&name)
        || matches!(
            name,
            "authorization"
                | "x-forwarded-for"
                | "x-forwarded-host"
                | "content-type"
                | "te"
                | "host"
                | "connection"
                | "content-length"
                | "transfer-encoding"
                | "upgrade"
                | "keep-alive"
                | "proxy-connection"
                | "user-agent"
        )
}

/// The response metadata by which a backend sets the HTTP status of one REST answer.
pub const HTTP_CODE_METADATA: &str = "x-http-code";

/// The status a backend asked for with `x-http-code`, when it is a 2xx or 3xx: a backend may
/// choose among successes, never turn a success into an error or the reverse.
pub fn backend_status(metadata: &MetadataMap) -> Option<http::StatusCode> {
    let value = metadata.get(HTTP_CODE_METADATA)?.to_str().ok()?;
    let code: u16 = value.trim().parse().ok()?;
    (200..400)
        .contains(&code)
        .then(|| http::StatusCode::from_u16(code).ok())
        .flatten()
}

/// Copies backend metadata (headers and trailers) into `Grpc-Metadata-<Name>` response headers,
/// leaving out the gRPC protocol's own entries and `x-http-code`, which sets the status.
pub fn response_headers(metadata: &MetadataMap, out: &mut HeaderMap) {
    for (name, value) in metadata.as_ref() {
        let name = name.as_str();
        if reserved(name) || name == "date" || name == "server" || name == HTTP_CODE_METADATA {
            continue;
        }
        let prefixed = format!("{METADATA_PREFIX}{name}");
        if let Ok(target) = HeaderName::from_bytes(prefixed.as_bytes()) {
            out.append(target, value.clone());
        }
    }
}
