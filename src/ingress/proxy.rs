//! One gRPC call through the gateway: admission, the request for the backend, the deadline.

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::response::Response;
use bytes::{BufMut, Bytes, BytesMut};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Version, request::Parts};
use http_body_util::BodyExt;
use tokio::time::Instant;
use tonic::Status;
use tower::{BoxError, ServiceExt as _};

use super::body::{CallBody, RequestBody};
use super::status::error_response;
use super::{GrpcIngress, GrpcMethod};
use crate::error::GatewayError;
use crate::grpc::GRPC_TIMEOUT;
use crate::grpc::metadata::{IDENTITY_METADATA, skip_indexing_per_call_values};
use crate::grpc::timeout::encode_grpc_timeout;
use crate::grpc::timeout::parse_grpc_timeout;
use crate::schema::MethodKind;
use crate::security::{self, Authenticator, Identity};
use crate::telemetry::LogFields;
use crate::telemetry::metrics as telemetry_metrics;
use crate::transcode::metadata;

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const GRPC_STATUS: HeaderName = HeaderName::from_static("grpc-status");

/// A caller let through: who it is and the rate-limit headers of its answer.
struct Admitted {
    identity: Option<Identity>,
    peer: Option<SocketAddr>,
    limit_headers: Vec<(HeaderName, HeaderValue)>,
}

impl GrpcIngress {
    /// Admits the call and proxies it; every failure is a gRPC status, and every answer on a
    /// rate-limited method carries its `RateLimit-*` headers.
    pub(super) async fn call<B>(
        &self,
        authenticator: &Authenticator,
        rate_limit: &super::RateLimiter,
        method: &GrpcMethod,
        request: Request<B>,
    ) -> Response
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let started = Instant::now();
        let route = method.label.clone();
        crate::telemetry::request_context::record_route(&route);
        let mut fields = LogFields {
            route: Some(route),
            subject: None,
        };
        let (parts, body) = request.into_parts();
        let admitted = match self.admit(authenticator, rate_limit, method, &parts).await {
            Ok(admitted) => admitted,
            Err(error) => {
                let mut response = error_response(&error);
                response.extensions_mut().insert(fields);
                return response;
            }
        };
        fields.subject = admitted.identity.as_ref().map(|i| i.subject.clone());
        let mut response = self
            .forward(method, parts, body, &admitted, started)
            .await
            .unwrap_or_else(|error| error_response(&error));
        response.extensions_mut().insert(fields);
        let headers = response.headers_mut();
        for (name, value) in admitted.limit_headers {
            headers.insert(name, value);
        }
        response
    }

    /// The REST edge, in the REST order: header limits, credential, roles, rate limit.
    async fn admit(
        &self,
        authenticator: &Authenticator,
        rate_limit: &super::RateLimiter,
        method: &GrpcMethod,
        parts: &Parts,
    ) -> Result<Admitted, GatewayError> {
        security::check_header_limits(&parts.headers, self.max_headers, self.max_header_bytes)?;
        let identity = authenticator.authenticate(&parts.headers).await?;
        method.policy.authorize(identity.as_ref())?;
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0);
        let client = peer.map(|p| self.client_ip.client(p.ip(), &parts.headers));
        let limit_headers = match rate_limit(&method.policy, identity.as_ref(), client) {
            None => Vec::new(),
            Some(taking) => taking.await.inspect_err(|error| {
                if let (GatewayError::RateLimited { .. }, Some((_, key))) =
                    (error, &method.policy.rate_limit)
                {
                    let route = method.label.clone();
                    telemetry_metrics::record_rate_limited(&route, *key);
                }
            })?,
        };
        Ok(Admitted {
            identity,
            peer,
            limit_headers,
        })
    }

    /// Sends the call to the backend's pool and streams its answer back within the deadline.
    async fn forward<B>(
        &self,
        method: &GrpcMethod,
        parts: Parts,
        body: B,
        admitted: &Admitted,
        started: Instant,
    ) -> Result<Response, GatewayError>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let deadline = started + self.deadline(&parts.headers, method.timeout)?;
        let remaining = deadline.saturating_duration_since(Instant::now());
        let headers = self.backend_headers(&parts.headers, &parts.uri, admitted, remaining);
        let body = match &method.identity_fields {
            None => tonic::body::Body::new(RequestBody::new(body)),
            // Pins on a client stream apply to each message over REST, which reads them;
            // gRPC frames pass through unread, so such a call is refused rather than pinned
            // in part.
            Some(_) if method.spec.kind == MethodKind::ClientStreaming => {
                return Err(GatewayError::StreamingNotSupported(
                    "fields set from the credential on a client stream are applied over REST \
                     only; call this method over REST",
                ));
            }
            Some(pinned) => {
                let read = read_message(body, method.max_message);
                let message = tokio::time::timeout_at(deadline, read)
                    .await
                    .map_err(|_| GatewayError::DeadlineExceeded)??;
                let message = pinned.apply(admitted.identity.as_ref(), &message)?;
                let mut framed = BytesMut::with_capacity(message.len() + 5);
                framed.put_u8(0);
                let length =
                    u32::try_from(message.len()).map_err(|_| GatewayError::BodyTooLarge {
                        limit: method.max_message,
                    })?;
                framed.put_u32(length);
                framed.extend_from_slice(&message);
                tonic::body::Body::new(http_body_util::Full::new(framed.freeze()))
            }
        };
        let mut request = Request::new(body);
        *request.method_mut() = parts.method;
        // The pool's channel sets the backend's scheme and authority.
        *request.uri_mut() = parts.uri;
        *request.version_mut() = Version::HTTP_2;
        *request.headers_mut() = headers;
        let call = method.channel.clone().oneshot(request);
        let response = match tokio::time::timeout_at(deadline, call).await {
            Err(_) => return Err(GatewayError::DeadlineExceeded),
            Ok(Err(error)) => return Err(crate::upstream::status_error(Status::from_error(error))),
            Ok(Ok(response)) => response,
        };
        let (mut head, body) = response.into_parts();
        remove_hop_by_hop(&mut head.headers);
        head.headers.remove(header::CONTENT_LENGTH);
        let body = if head.headers.contains_key(&GRPC_STATUS) {
            // Trailers-only: the call is over. Sent as one HEADERS frame that ends the stream;
            // clients other than tonic (grpc-core) do not read a status from headers followed
            // by an empty DATA frame.
            Body::empty()
        } else {
            Body::new(CallBody::new(body, deadline))
        };
        Ok(Response::from_parts(head, body))
    }

    /// As for REST: min(the client's `grpc-timeout` capped by `max_timeout`, the method's
    /// timeout); the method's timeout when the client sends none.
    fn deadline(&self, headers: &HeaderMap, method: Duration) -> Result<Duration, GatewayError> {
        let Some(value) = headers.get(GRPC_TIMEOUT) else {
            return Ok(method);
        };
        let asked = parse_grpc_timeout(value.to_str().unwrap_or_default()).ok_or_else(|| {
            GatewayError::BadTimeout(String::from_utf8_lossy(value.as_bytes()).into())
        })?;
        Ok(asked.min(self.max_timeout).min(method))
    }

    /// The client's metadata for the backend: without hop-by-hop headers, the identity and
    /// forwarding headers only the gateway may set, the API key it consumed and the browser's
    /// cookies (as REST); with the verified caller, the forwarding chain and the time left.
    fn backend_headers(
        &self,
        client: &HeaderMap,
        uri: &http::Uri,
        admitted: &Admitted,
        remaining: Duration,
    ) -> HeaderMap {
        // One pass that leaves out what is not passed on (cheaper than a copy and a removal
        // per name: each removal hashes).
        let hop_by_hop = HopByHop::of(client);
        let mut out = HeaderMap::with_capacity(client.len() + 4);
        for (name, value) in client {
            let dropped = hop_by_hop.names(name)
                || IDENTITY_METADATA.contains(&name.as_str())
                || NOT_PASSED_ON.contains(name)
                || self.api_key_header.as_ref() == Some(name);
            if !dropped {
                out.append(name.clone(), value.clone());
            }
        }
        // gRPC requires it; HTTP/2 allows no other value.
        out.insert(header::TE, HeaderValue::from_static("trailers"));
        out.insert(GRPC_TIMEOUT, encode_grpc_timeout(remaining));
        // The caller and the forwarding chain exactly as REST calls send them.
        let peer = admitted.peer.map(|p| p.ip());
        metadata::add_edge_metadata(&mut out, client, uri, peer, admitted.identity.as_ref());
        skip_indexing_per_call_values(&mut out);
        out
    }
}

/// The one request message of a call whose fields the credential sets: read whole, at most
/// `limit` bytes, uncompressed (a compressed one cannot be checked).
async fn read_message<B>(body: B, limit: usize) -> Result<Bytes, GatewayError>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let body = http_body_util::Limited::new(body, limit.saturating_add(5))
        .collect()
        .await
        .map_err(|error| {
            if error
                .downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                GatewayError::BodyTooLarge { limit }
            } else {
                GatewayError::InvalidMessage("the request could not be read".into())
            }
        })?
        .to_bytes();
    let [flag, a, b, c, d, ..] = body[..] else {
        return Err(GatewayError::InvalidMessage(
            "the call carries no request message".into(),
        ));
    };
    if flag != 0 {
        return Err(GatewayError::InvalidMessage(
            "this method's fields are set from the credential, so its request message must \
             be sent uncompressed"
                .into(),
        ));
    }
    let length = u32::from_be_bytes([a, b, c, d]) as usize;
    if body.len() - 5 != length {
        return Err(GatewayError::InvalidMessage(
            "the call must carry exactly one request message".into(),
        ));
    }
    Ok(body.slice(5..))
}

/// Client headers the gateway sets itself for the backend or keeps from it (as REST does):
/// the body's length, the browser's cookies, the forwarding chain, the time left.
const NOT_PASSED_ON: [HeaderName; 5] = [
    header::CONTENT_LENGTH,
    header::COOKIE,
    X_FORWARDED_FOR,
    X_FORWARDED_HOST,
    GRPC_TIMEOUT,
];

/// Headers that belong to one connection (RFC 9110 §7.6.1), which HTTP/2 forbids.
const HOP_BY_HOP: [HeaderName; 9] = [
    header::CONNECTION,
    header::HOST,
    header::TE,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::PROXY_AUTHORIZATION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    HeaderName::from_static("http2-settings"),
];

/// The hop-by-hop headers of one message: the fixed list and those its `Connection` header
/// names.
struct HopByHop {
    named: Vec<HeaderName>,
}

impl HopByHop {
    fn of(headers: &HeaderMap) -> HopByHop {
        let named = headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|token| HeaderName::from_bytes(token.trim().as_bytes()).ok())
            .collect();
        HopByHop { named }
    }

    fn names(&self, name: &HeaderName) -> bool {
        HOP_BY_HOP.contains(name) || self.named.contains(name)
    }
}

/// Removes the hop-by-hop headers.
fn remove_hop_by_hop(headers: &mut HeaderMap) {
    let hop_by_hop = HopByHop::of(headers);
    let found: Vec<HeaderName> = headers
        .keys()
        .filter(|name| hop_by_hop.names(name))
        .cloned()
        .collect();
    for name in found {
        headers.remove(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers_are_removed() {
        let mut headers = HeaderMap::new();
        headers.insert("connection", HeaderValue::from_static("keep-alive, x-hop"));
        headers.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        headers.insert("x-hop", HeaderValue::from_static("1"));
        headers.insert("host", HeaderValue::from_static("gw"));
        headers.insert("te", HeaderValue::from_static("trailers"));
        headers.insert("grpc-encoding", HeaderValue::from_static("gzip"));
        headers.insert("tenant", HeaderValue::from_static("acme"));
        remove_hop_by_hop(&mut headers);
        let mut left: Vec<&str> = headers.keys().map(HeaderName::as_str).collect();
        left.sort();
        assert_eq!(left, ["grpc-encoding", "tenant"]);
    }
}
