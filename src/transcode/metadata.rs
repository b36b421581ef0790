//! HTTP headers ⇄ gRPC metadata.
//!
//! Request: `Grpc-Metadata-<Name>` headers become metadata `<name>`; a short allowlist of
//! ordinary headers passes as it is; `x-forwarded-for` and `x-forwarded-host` are added.
//! Response: backend headers and trailers come back as `Grpc-Metadata-<Name>` headers.

use std::net::IpAddr;

use http::Uri;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use tonic::metadata::MetadataMap;

use crate::grpc::metadata::{IDENTITY_METADATA, METADATA_PREFIX, reserved};
use crate::security::Identity;

/// Headers forwarded as metadata under their own name.
pub const DEFAULT_FORWARDED_HEADERS: &[&str] =
    &["authorization", "x-request-id", "traceparent", "tracestate"];

/// What is percent-encoded in identity metadata: anything a header value cannot carry, `%`
/// itself, and the `,` that separates roles.
const IDENTITY_ESCAPES: &AsciiSet = &CONTROLS.add(b'%').add(b',');

/// The request metadata for the backend call. The verified caller, if any, is sent as
/// `x-user-id` and `x-user-roles` (comma-separated); a client's own copies never pass.
pub fn request_metadata(
    headers: &HeaderMap,
    uri: &Uri,
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
        } else if forwarded.contains(name) && !IDENTITY_METADATA.contains(&name_str) {
            out.append(name.clone(), value.clone());
        }
    }
    add_edge_metadata(&mut out, headers, uri, peer, identity);
    MetadataMap::from_headers(out)
}

/// Adds what the gateway vouches for to a call's metadata `out`: the verified caller
/// (`x-user-id`, `x-user-roles`), the forwarding chain from `client`'s `X-Forwarded-For` and
/// the `peer`, and the host the client asked for as `x-forwarded-host` (its `Host` header, or
/// the authority of its `uri`, which is where HTTP/2 carries it).
pub fn add_edge_metadata(
    out: &mut HeaderMap,
    client: &HeaderMap,
    uri: &Uri,
    peer: Option<IpAddr>,
    identity: Option<&Identity>,
) {
    if let Some(identity) = identity {
        let subject = utf8_percent_encode(&identity.subject, IDENTITY_ESCAPES).to_string();
        let roles: Vec<String> = identity
            .roles
            .iter()
            .map(|r| utf8_percent_encode(r, IDENTITY_ESCAPES).to_string())
            .collect();
        if let Ok(value) = HeaderValue::from_str(&subject) {
            out.insert(X_USER_ID, value);
        }
        if let Ok(value) = HeaderValue::from_str(&roles.join(",")) {
            out.insert(X_USER_ROLES, value);
        }
    }
    if let Some(peer) = peer {
        let previous = client
            .get_all(X_FORWARDED_FOR)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
            .join(", ");
        let chain = if previous.is_empty() {
            peer_value(peer)
        } else {
            HeaderValue::from_str(&format!("{previous}, {peer}")).ok()
        };
        if let Some(value) = chain {
            out.insert(X_FORWARDED_FOR, value);
        }
    }
    let host = match client.get(http::header::HOST) {
        Some(host) => Some(host.clone()),
        None => uri
            .authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok()),
    };
    if let Some(host) = host {
        out.insert(X_FORWARDED_HOST, host);
    }
}

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const X_USER_ID: HeaderName = HeaderName::from_static("x-user-id");
const X_USER_ROLES: HeaderName = HeaderName::from_static("x-user-roles");

/// `peer` as a header value. An IPv4 address is written digit by digit: `Display` goes through
/// the formatting machinery, about 1.5k instructions on every request.
fn peer_value(peer: IpAddr) -> Option<HeaderValue> {
    let IpAddr::V4(v4) = peer else {
        return HeaderValue::from_str(&peer.to_string()).ok();
    };
    let mut text = [0u8; 15];
    let mut len = 0;
    for (i, octet) in v4.octets().into_iter().enumerate() {
        let digits = [octet / 100, octet / 10 % 10, octet % 10];
        let skip = match octet {
            0..=9 => 2,
            10..=99 => 1,
            _ => 0,
        };
        if i > 0 {
            text[len] = b'.';
            len += 1;
        }
        for digit in &digits[skip..] {
            text[len] = b'0' + digit;
            len += 1;
        }
    }
    HeaderValue::from_bytes(&text[..len]).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_host_header_the_authority_is_the_forwarded_host() {
        let uri = Uri::from_static("http://api.example.com:8443/v1/x");
        let md = request_metadata(&HeaderMap::new(), &uri, &[], None, None);
        assert_eq!(md.get("x-forwarded-host").unwrap(), "api.example.com:8443");
        let mut headers = HeaderMap::new();
        headers.insert(http::header::HOST, HeaderValue::from_static("host.example"));
        let md = request_metadata(&headers, &uri, &[], None, None);
        assert_eq!(md.get("x-forwarded-host").unwrap(), "host.example");
    }

    #[test]
    fn peer_values_read_as_the_address_does() {
        let mut addresses: Vec<IpAddr> = vec![
            "0.0.0.0".parse().unwrap(),
            "255.255.255.255".parse().unwrap(),
            "10.0.100.9".parse().unwrap(),
            "::1".parse().unwrap(),
            "2001:db8::ff00:42:8329".parse().unwrap(),
        ];
        let mut rng = fastrand::Rng::with_seed(11);
        addresses.extend((0..1000).map(|_| IpAddr::from(rng.u32(..).to_be_bytes())));
        for address in addresses {
            assert_eq!(peer_value(address).unwrap(), address.to_string().as_str());
        }
    }

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
            &Uri::from_static("/v1/x"),
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
