//! The gRPC wire, as the gateway needs it everywhere: which protocol a request speaks, the
//! `grpc-timeout` header, metadata names, and the gRPC → HTTP status mapping. Pure functions
//! over `http` and `tonic` types; nothing here looks at the rest of the gateway.

pub mod metadata;
mod payload;
pub mod timeout;

pub use payload::Payload;

use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderName, StatusCode};
use tonic::Code;

/// `grpc-timeout`: the deadline a client gives, and the one the gateway sends a backend.
pub const GRPC_TIMEOUT: HeaderName = HeaderName::from_static("grpc-timeout");

/// The protocol a request speaks, by its `content-type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    Rest,
    /// `application/grpc`, `application/grpc+proto`, ...
    Grpc,
    /// `application/grpc-web(-text)(+proto)`, ...
    GrpcWeb,
}

/// What `headers` say the request is (case-insensitive; no content type is REST).
pub fn protocol(headers: &HeaderMap) -> Protocol {
    let Some(content_type) = headers.get(CONTENT_TYPE) else {
        return Protocol::Rest;
    };
    let starts_with = |prefix: &[u8]| {
        content_type
            .as_bytes()
            .get(..prefix.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
    };
    if starts_with(b"application/grpc-web") {
        Protocol::GrpcWeb
    } else if starts_with(b"application/grpc") {
        Protocol::Grpc
    } else {
        Protocol::Rest
    }
}

/// The gRPC → HTTP status mapping (google.rpc.Code comments; as grpc-gateway and Envoy map).
pub fn http_status(code: Code) -> StatusCode {
    match code {
        Code::Ok => StatusCode::OK,
        Code::Cancelled => StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
        Code::Unknown => StatusCode::INTERNAL_SERVER_ERROR,
        Code::InvalidArgument => StatusCode::BAD_REQUEST,
        Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::AlreadyExists => StatusCode::CONFLICT,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        Code::FailedPrecondition => StatusCode::BAD_REQUEST,
        Code::Aborted => StatusCode::CONFLICT,
        Code::OutOfRange => StatusCode::BAD_REQUEST,
        Code::Unimplemented => StatusCode::NOT_IMPLEMENTED,
        Code::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Code::DataLoss => StatusCode::INTERNAL_SERVER_ERROR,
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_type_decides_the_protocol() {
        let cases = [
            (None, Protocol::Rest),
            (Some("application/json"), Protocol::Rest),
            (Some("text/plain"), Protocol::Rest),
            (Some("application/grpc"), Protocol::Grpc),
            (Some("application/grpc+proto"), Protocol::Grpc),
            (Some("Application/GRPC"), Protocol::Grpc),
            (Some("application/grpc-web"), Protocol::GrpcWeb),
            (Some("application/grpc-web+proto"), Protocol::GrpcWeb),
            (Some("application/grpc-web-text"), Protocol::GrpcWeb),
            (Some("application/grpc-web-text+proto"), Protocol::GrpcWeb),
            (Some("application/grpc-web+json"), Protocol::GrpcWeb),
        ];
        for (content_type, expected) in cases {
            let mut headers = HeaderMap::new();
            if let Some(value) = content_type {
                headers.insert(CONTENT_TYPE, value.parse().unwrap());
            }
            assert_eq!(protocol(&headers), expected, "{content_type:?}");
        }
    }
}
