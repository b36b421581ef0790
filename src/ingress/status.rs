//! Errors as gRPC statuses: the gRPC counterpart of `GatewayError`'s JSON rendering.

use axum::body::Body;
use axum::response::Response;
use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderValue};
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use tonic::Code;

use crate::error::GatewayError;

/// What `grpc-message` escapes besides non-ASCII bytes: everything outside `%x20-%x7E`, and
/// `%` itself (gRPC over HTTP/2, "Responses").
const GRPC_MESSAGE_ESCAPES: &AsciiSet = &CONTROLS.add(b'%');

/// `message` percent-encoded as `grpc-message` carries it.
pub fn grpc_message(message: &str) -> HeaderValue {
    let encoded = utf8_percent_encode(message, GRPC_MESSAGE_ESCAPES).to_string();
    // Only visible ASCII is left after encoding.
    HeaderValue::try_from(encoded).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The status that ends a call failed with `error`: `grpc-status` (`GatewayError::grpc_code`),
/// `grpc-message` (its public message) and the headers the error carries (`RateLimit-*` and
/// `Retry-After` when rate limited). As headers of a trailers-only response, or as trailers.
pub fn error_trailers(error: &GatewayError) -> HeaderMap {
    let code = error.grpc_code();
    error.log("gRPC call failed", None);
    let mut headers = status_headers(code, &error.public_message());
    if let GatewayError::RateLimited {
        headers: limits, ..
    } = error
    {
        for (name, value) in limits {
            headers.insert(name.clone(), value.clone());
        }
    }
    headers
}

/// A trailers-only gRPC response for `error`: HTTP 200, `content-type: application/grpc` and
/// [`error_trailers`] as headers, no body.
pub fn error_response(error: &GatewayError) -> Response {
    trailers_only(error_trailers(error))
}

/// A trailers-only gRPC response with `code` and `message`, for statuses that are not a
/// `GatewayError` (an unknown gRPC service or method).
pub fn status_response(code: Code, message: &str) -> Response {
    trailers_only(status_headers(code, message))
}

fn status_headers(code: Code, message: &str) -> HeaderMap {
    let mut headers = HeaderMap::with_capacity(4);
    headers.insert("grpc-status", HeaderValue::from(code as i32));
    if !message.is_empty() {
        headers.insert("grpc-message", grpc_message(message));
    }
    headers
}

fn trailers_only(status: HeaderMap) -> Response {
    let mut response = Response::new(Body::empty());
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    headers.extend(status);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_message_escapes_percent_controls_and_non_ascii() {
        let cases = [
            ("plain text, kept: ~!", "plain text, kept: ~!"),
            ("100%", "100%25"),
            ("line\nbreak\ttab", "line%0Abreak%09tab"),
            ("naïve ☃", "na%C3%AFve %E2%98%83"),
            ("", ""),
        ];
        for (message, expected) in cases {
            assert_eq!(grpc_message(message), expected, "{message:?}");
        }
    }

    #[test]
    fn errors_become_trailers_only_responses() {
        let response = error_response(&GatewayError::DeadlineExceeded);
        assert_eq!(response.status(), http::StatusCode::OK);
        let headers = response.headers();
        assert_eq!(headers["content-type"], "application/grpc");
        assert_eq!(headers["grpc-status"], "4");
        assert_eq!(headers["grpc-message"], "deadline exceeded");

        let limited = GatewayError::RateLimited {
            retry_after: 3,
            headers: vec![(http::header::RETRY_AFTER, HeaderValue::from_static("3"))],
        };
        let headers = error_trailers(&limited);
        assert_eq!(headers["grpc-status"], "8");
        assert_eq!(headers["retry-after"], "3");

        let unknown = status_response(Code::Unimplemented, "unknown service x.Y");
        assert_eq!(unknown.headers()["grpc-status"], "12");
        assert_eq!(unknown.headers()["grpc-message"], "unknown service x.Y");
    }
}
