//! HTTP headers ⇄ gRPC metadata.
//!
//! Request: `Grpc-Metadata-<Name>` headers become metadata `<name>`; a short allowlist of
//! ordinary headers passes as it is; `x-forwarded-for` and `x-forwarded-host` are added.
//! Response: backend headers and trailers come back as `Grpc-Metadata-<Name>` headers.

use std::net::IpAddr;

use http::header::{HeaderMap, HeaderName, HeaderValue};
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use tonic::metadata::MetadataMap;

use crate::security::Identity;

/// Headers forwarded as metadata under their own name.
pub const DEFAULT_FORWARDED_HEADERS: &[&str] =
    &["authorization", "x-request-id", "traceparent", "tracestate"];

const METADATA_PREFIX: &str = "grpc-metadata-";

/// Metadata whose value differs on every call. HPACK would add each to the connection's
/// dynamic table, evicting the values that do repeat (`content-type`, `te`, `user-agent`, the
/// caller's identity) for nothing; sent as literals "never indexed" instead.
const PER_CALL_VALUES: [HeaderName; 3] = [
    HeaderName::from_static("x-request-id"),
    HeaderName::from_static("traceparent"),
    HeaderName::from_static("grpc-timeout"),
];

/// Marks the values in `headers` that differ on every call so HPACK does not index them (see
/// [`PER_CALL_VALUES`]). Call it last, once `grpc-timeout` is set.
pub fn skip_indexing_per_call_values(headers: &mut HeaderMap) {
    for name in &PER_CALL_VALUES {
        if let Some(value) = headers.get_mut(name) {
            value.set_sensitive(true);
        }
    }
}

/// What is percent-encoded in identity metadata: anything a header value cannot carry, `%`
/// itself, and the `,` that separates roles.
const IDENTITY_ESCAPES: &AsciiSet = &CONTROLS.add(b'%').add(b',');

/// Metadata names a client may not set through `Grpc-Metadata-*`: gRPC's own, HTTP/2
/// connection headers, and the ones the gateway vouches for (the credential it checked, the
/// forwarding chain, the verified identity).
fn reserved(name: &str) -> bool {
    name.starts_with("grpc-")
        || crate::security::IDENTITY_METADATA.contains(&name)
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

/// The request metadata for the backend call. The verified caller, if any, is sent as
/// `x-user-id` and `x-user-roles` (comma-separated); a client's own copies never pass.
pub fn request_metadata(
    headers: &HeaderMap,
    forwarded: &[HeaderName],
    peer: Option<IpAddr>,
    identity: Option<&Identity>,
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
        } else if forwarded.contains(name)
            && !crate::security::IDENTITY_METADATA.contains(&name_str)
        {
            out.append(name.clone(), value.clone());
        }
    }
    if let Some(identity) = identity {
        let subject = utf8_percent_encode(&identity.subject, IDENTITY_ESCAPES).to_string();
        let roles: Vec<String> = identity
            .roles
            .iter()
            .map(|r| utf8_percent_encode(r, IDENTITY_ESCAPES).to_string())
            .collect();
        if let Ok(value) = HeaderValue::from_str(&subject) {
            out.insert("x-user-id", value);
        }
        if let Ok(value) = HeaderValue::from_str(&roles.join(",")) {
            out.insert("x-user-roles", value);
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
        let md = request_metadata(
            &headers,
            &forwarded,
            Some("127.0.0.1".parse().unwrap()),
            None,
        );
        assert_eq!(md.get("tenant").unwrap(), "acme");
        assert_eq!(md.get("authorization").unwrap(), "Bearer x");
        assert!(md.get("cookie").is_none());
        assert!(md.get("grpc-status").is_none());
        assert_eq!(md.get("x-forwarded-for").unwrap(), "10.0.0.1, 127.0.0.1");
        assert_eq!(md.get("x-forwarded-host").unwrap(), "api.example.com");
    }
}
