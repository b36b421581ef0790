//! HTTP headers ⇄ gRPC metadata.
//!
//! Request: `Grpc-Metadata-<Name>` headers become metadata `<name>`; a short allowlist of
//! ordinary headers passes as it is; `x-forwarded-for` and `x-forwarded-host` are added.
//! Response: backend headers and trailers come back as `Grpc-Metadata-<Name>` headers.

use std::net::IpAddr;

use http::header::{HeaderMap, HeaderName, HeaderValue};
use tonic::metadata::MetadataMap;

/// Headers forwarded as metadata under their own name.
pub const DEFAULT_FORWARDED_HEADERS: &[&str] =
    &["authorization", "x-request-id", "traceparent", "tracestate"];

const METADATA_PREFIX: &str = "grpc-metadata-";

/// Metadata names a client may not set: gRPC's own and HTTP/2 connection headers.
fn reserved(name: &str) -> bool {
    name.starts_with("grpc-")
        || matches!(
            name,
            "content-type"
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

/// The request metadata for the backend call.
pub fn request_metadata(
    headers: &HeaderMap,
    forwarded: &[HeaderName],
    peer: Option<IpAddr>,
) -> MetadataMap {
    let mut out = HeaderMap::with_capacity(8);
    for (name, value) in headers {
        let name_str = name.as_str();
        if let Some(stripped) = name_str.strip_prefix(METADATA_PREFIX) {
            if stripped.is_empty() || reserved(stripped) {
                continue;
            }
            if let Ok(target) = HeaderName::from_bytes(stripped.as_bytes()) {
                out.append(target, value.clone());
            }
        } else if forwarded.contains(name) {
            out.append(name.clone(), value.clone());
        }
    }
    if let Some(peer) = peer {
        let previous = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
            .join(", ");
        let chain = if previous.is_empty() {
            peer.to_string()
        } else {
            format!("{previous}, {peer}")
        };
        if let Ok(value) = HeaderValue::from_str(&chain) {
            out.insert("x-forwarded-for", value);
        }
    }
    if let Some(host) = headers.get(http::header::HOST) {
        out.insert("x-forwarded-host", host.clone());
    }
    MetadataMap::from_headers(out)
}

/// Copies backend metadata (headers and trailers) into `Grpc-Metadata-<Name>` response headers,
/// leaving out the gRPC protocol's own entries.
pub fn response_headers(metadata: &MetadataMap, out: &mut HeaderMap) {
    for (name, value) in metadata.as_ref() {
        let name = name.as_str();
        if reserved(name) || name == "date" || name == "server" {
            continue;
        }
        let prefixed = format!("{METADATA_PREFIX}{name}");
        if let Ok(target) = HeaderName::from_bytes(prefixed.as_bytes()) {
            out.append(target, value.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixed_and_allowlisted_headers_become_metadata() {
        let mut headers = HeaderMap::new();
        headers.insert("grpc-metadata-tenant", HeaderValue::from_static("acme"));
        headers.insert("grpc-metadata-grpc-status", HeaderValue::from_static("0"));
        headers.insert("authorization", HeaderValue::from_static("Bearer x"));
        headers.insert("cookie", HeaderValue::from_static("secret"));
        headers.insert("x-forwarded-for", HeaderValue::from_static("10.0.0.1"));
        headers.insert("host", HeaderValue::from_static("api.example.com"));
        let forwarded: Vec<HeaderName> = DEFAULT_FORWARDED_HEADERS
            .iter()
            .map(|h| HeaderName::from_static(h))
            .collect();
        let md = request_metadata(&headers, &forwarded, Some("127.0.0.1".parse().unwrap()));
        assert_eq!(md.get("tenant").unwrap(), "acme");
        assert_eq!(md.get("authorization").unwrap(), "Bearer x");
        assert!(md.get("cookie").is_none());
        assert!(md.get("grpc-status").is_none());
        assert_eq!(md.get("x-forwarded-for").unwrap(), "10.0.0.1, 127.0.0.1");
        assert_eq!(md.get("x-forwarded-host").unwrap(), "api.example.com");
    }
}
