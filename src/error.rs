//! The one rescue point: every failure becomes a `GatewayError`, and `GatewayError` becomes the
//! one JSON error shape `{"code", "message", "details"}` with its HTTP status.
//!
//! Each variant is given its HTTP status, google.rpc.Code and stable machine code in one
//! exhaustive `match`, so a new variant forces a decision. Errors made by the gateway carry a
//! `google.rpc.ErrorInfo` detail with `reason` = the machine code and `domain` = "gatehouse".
//! Errors from a backend keep the backend's details, except `google.rpc.DebugInfo` (stack
//! traces), and the messages of UNKNOWN, INTERNAL and DATA_LOSS statuses are replaced by a
//! generic one so backend internals do not leak.
//!
//! The same parts can be written as RFC 9457 problem details instead (`[server] errors =
//! "problem"`): an error response keeps its [`ErrorParts`] as an extension, and
//! [`as_problem`] rewrites the body when the stack knows the config asks for it, so that
//! making an error answer never needs the config.

use axum::response::{IntoResponse, Response};
use base64::Engine;
use http::{HeaderValue, StatusCode, header};
use prost::Message;
use serde::Serialize;
use serde_json::{Value, json};
use tonic::Code;

/// Everything that can go wrong with one request.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("no route matches this path")]
    RouteNotFound,
    #[error("method not allowed; allowed: {}", allowed.join(", "))]
    MethodNotAllowed { allowed: Vec<String> },
    #[error("invalid path: {0}")]
    BadPath(String),
    #[error("invalid JSON: {0}")]
    InvalidJson(String),
    #[error("invalid value for field {field:?}: {reason}")]
    InvalidField { field: String, reason: String },
    #[error("unknown field {field:?}")]
    UnknownField { field: String },
    #[error("unsupported content type {content_type:?}: send {expected}")]
    UnsupportedMediaType {
        /// As the request sent it; empty when it sent none.
        content_type: String,
        /// The types the binding takes, as a phrase (`image/png or image/*`).
        expected: String,
    },
    #[error("invalid form: {0}")]
    InvalidForm(String),
    /// A native gRPC request message the gateway must read and cannot.
    #[error("invalid request message: {0}")]
    InvalidMessage(String),
    #[error("request body larger than the limit of {limit} bytes")]
    BodyTooLarge { limit: usize },
    #[error("invalid Grpc-Timeout header {0:?}")]
    BadTimeout(String),
    #[error("{0}")]
    StreamingNotSupported(&'static str),
    /// A bidirectional method called with a plain HTTP request: it is served over a WebSocket
    /// opened on the same path.
    #[error(
        "bidi-streaming methods are served over a WebSocket opened on this path, not over plain HTTP"
    )]
    WebSocketRequired,
    #[error("{}", .0.message())]
    Backend(tonic::Status),
    #[error("upstream unavailable")]
    UpstreamUnavailable,
    #[error("no healthy upstream")]
    NoHealthyUpstream { retry_after: u64 },
    #[error("upstream overloaded: too many calls in flight")]
    UpstreamOverloaded,
    /// The client is told only that the response was invalid; `cause` says how, for the log.
    #[error("upstream sent an invalid response")]
    UpstreamBadResponse { cause: String },
    #[error("deadline exceeded")]
    DeadlineExceeded,
    #[error("{message}")]
    Unauthenticated {
        message: String,
        /// A credential was sent but is not valid (RFC 6750 `error="invalid_token"`).
        invalid_token: bool,
    },
    #[error("{0}")]
    PermissionDenied(String),
    #[error("rate limit exceeded; retry after {retry_after} s")]
    RateLimited {
        retry_after: u64,
        /// `RateLimit-*` and `Retry-After`.
        headers: Vec<(http::HeaderName, HeaderValue)>,
    },
    #[error("the rate-limit store cannot be reached; retry later")]
    RateLimitUnavailable,
    #[error("{0}")]
    HeadersTooLarge(String),
    #[error("JSON nested deeper than {limit} levels")]
    JsonTooDeep { limit: usize },
    #[error("the gateway is handling too many requests; retry later")]
    Overloaded,
    #[error("the request headers were not received in time")]
    HeaderTimeout,
    #[error("the token issuer's keys cannot be fetched now; retry later")]
    AuthUnavailable {
        /// Seconds until the keys are fetched again.
        retry_after: u64,
    },
    #[error("the request body was not received in time")]
    BodyTimeout,
    #[error("internal error")]
    Internal(String),
    /// A WebSocket used against its protocol: a handshake without the `gatehouse.v1`
    /// subprotocol, a binary frame, a message where none may come.
    #[error("{0}")]
    WebSocketMisuse(String),
    /// What was wrong with one message of a WebSocket call, and which client frame (counted
    /// from 1) carried it. Answered as the error it wraps, the frame number added to the message.
    #[error("frame {frame}: {error}")]
    InvalidFrame {
        frame: u64,
        error: Box<GatewayError>,
    },
}

/// How an error is answered.
struct Disposition {
    status: StatusCode,
    code: Code,
    reason: &'static str,
}

impl GatewayError {
    fn disposition(&self) -> Disposition {
        use GatewayError::*;
        let (status, code, reason) = match self {
            InvalidFrame { error, .. } => return error.disposition(),
            WebSocketMisuse(_) => (
                StatusCode::BAD_REQUEST,
                Code::InvalidArgument,
                "WEBSOCKET_PROTOCOL",
            ),
            RouteNotFound => (StatusCode::NOT_FOUND, Code::NotFound, "ROUTE_NOT_FOUND"),
            MethodNotAllowed { .. } => (
                StatusCode::METHOD_NOT_ALLOWED,
                Code::Unimplemented,
                "METHOD_NOT_ALLOWED",
            ),
            BadPath(_) => (
                StatusCode::BAD_REQUEST,
                Code::InvalidArgument,
                "INVALID_PATH",
            ),
            InvalidJson(_) => (
                StatusCode::BAD_REQUEST,
                Code::InvalidArgument,
                "INVALID_JSON",
            ),
            InvalidField { .. } => (
                StatusCode::BAD_REQUEST,
                Code::InvalidArgument,
                "INVALID_FIELD",
            ),
            UnknownField { .. } => (
                StatusCode::BAD_REQUEST,
                Code::InvalidArgument,
                "UNKNOWN_FIELD",
            ),
            InvalidForm(_) => (
                StatusCode::BAD_REQUEST,
                Code::InvalidArgument,
                "INVALID_FORM",
            ),
            InvalidMessage(_) => (
                StatusCode::BAD_REQUEST,
                Code::InvalidArgument,
                "INVALID_MESSAGE",
            ),
            UnsupportedMediaType { .. } => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                Code::InvalidArgument,
                "UNSUPPORTED_MEDIA_TYPE",
            ),
            BodyTooLarge { .. } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                Code::ResourceExhausted,
                "BODY_TOO_LARGE",
            ),
            BadTimeout(_) => (
                StatusCode::BAD_REQUEST,
                Code::InvalidArgument,
                "INVALID_TIMEOUT",
            ),
            StreamingNotSupported(_) => (
                StatusCode::NOT_IMPLEMENTED,
                Code::Unimplemented,
                "STREAMING_NOT_SUPPORTED",
            ),
            WebSocketRequired => (
                StatusCode::UPGRADE_REQUIRED,
                Code::Unimplemented,
                "WEBSOCKET_REQUIRED",
            ),
            Backend(status) => (
                crate::grpc::http_status(status.code()),
                status.code(),
                "BACKEND_STATUS",
            ),
            UpstreamUnavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                Code::Unavailable,
                "UPSTREAM_UNAVAILABLE",
            ),
            NoHealthyUpstream { .. } => (
                StatusCode::SERVICE_UNAVAILABLE,
                Code::Unavailable,
                "NO_HEALTHY_UPSTREAM",
            ),
            UpstreamOverloaded => (
                StatusCode::SERVICE_UNAVAILABLE,
                Code::Unavailable,
                "UPSTREAM_OVERLOADED",
            ),
            UpstreamBadResponse { .. } => (
                StatusCode::BAD_GATEWAY,
                Code::Unavailable,
                "UPSTREAM_BAD_RESPONSE",
            ),
            DeadlineExceeded => (
                StatusCode::GATEWAY_TIMEOUT,
                Code::DeadlineExceeded,
                "DEADLINE_EXCEEDED",
            ),
            Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                Code::Internal,
                "INTERNAL",
            ),
            Unauthenticated { .. } => (
                StatusCode::UNAUTHORIZED,
                Code::Unauthenticated,
                "UNAUTHENTICATED",
            ),
            PermissionDenied(_) => (
                StatusCode::FORBIDDEN,
                Code::PermissionDenied,
                "PERMISSION_DENIED",
            ),
            RateLimited { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                Code::ResourceExhausted,
                "RATE_LIMITED",
            ),
            RateLimitUnavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                Code::Unavailable,
                "RATE_LIMIT_UNAVAILABLE",
            ),
            HeadersTooLarge(_) => (
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                Code::ResourceExhausted,
                "HEADERS_TOO_LARGE",
            ),
            JsonTooDeep { .. } => (
                StatusCode::BAD_REQUEST,
                Code::InvalidArgument,
                "JSON_TOO_DEEP",
            ),
            Overloaded => (
                StatusCode::SERVICE_UNAVAILABLE,
                Code::Unavailable,
                "OVERLOADED",
            ),
            AuthUnavailable { .. } => (
                StatusCode::SERVICE_UNAVAILABLE,
                Code::Unavailable,
                "AUTH_UNAVAILABLE",
            ),
            HeaderTimeout => (
                StatusCode::REQUEST_TIMEOUT,
                Code::DeadlineExceeded,
                "HEADER_TIMEOUT",
            ),
            BodyTimeout => (
                StatusCode::REQUEST_TIMEOUT,
                Code::DeadlineExceeded,
                "BODY_TIMEOUT",
            ),
        };
        Disposition {
            status,
            code,
            reason,
        }
    }

    /// [`GatewayError::UpstreamBadResponse`] for the reason `cause`.
    pub fn bad_response(cause: impl std::fmt::Display) -> GatewayError {
        GatewayError::UpstreamBadResponse {
            cause: cause.to_string(),
        }
    }

    /// What the log line of a failure adds to the error the client sees: how an upstream
    /// response was invalid.
    fn logged_cause(&self) -> Option<&str> {
        match self {
            GatewayError::UpstreamBadResponse { cause } => Some(cause),
            _ => None,
        }
    }

    /// Logs a failure the gateway answers with: an internal error always, at ERROR with its
    /// cause; one on the gateway's or a backend's side (5xx) at WARN as `message`, with the
    /// aggregate `call` it came from if any, at most 10 a second (`log_budget`). Client errors
    /// are left to the access log.
    pub(crate) fn log(&self, message: &'static str, call: Option<&str>) {
        let Disposition { status, code, .. } = self.disposition();
        if let GatewayError::Internal(cause) = self {
            tracing::error!(%cause, "internal error");
        } else if status.is_server_error()
            && let Some(left_out) = crate::log_budget::FAILED_REQUESTS.admit()
        {
            let cause = self.logged_cause();
            tracing::warn!(call, error = %self, cause, ?code, left_out, "{message}");
        }
    }

    /// The JSON error body, as sent.
    pub fn json_body(&self) -> String {
        let Disposition { code, reason, .. } = self.disposition();
        self.json_with(code, reason)
    }

    /// The body as problem details (`application/problem+json`).
    pub fn problem_body(&self) -> String {
        self.parts().problem_json()
    }

    /// What its answer is made of.
    fn parts(&self) -> ErrorParts {
        let Disposition {
            status,
            code,
            reason,
        } = self.disposition();
        ErrorParts {
            status,
            code,
            reason,
            message: self.public_message(),
            details: self.details(reason),
        }
    }

    fn json_with(&self, code: Code, reason: &'static str) -> String {
        status_json(code, &self.public_message(), &self.details(reason))
    }

    /// The google.rpc code of this error, as the JSON error shape carries it.
    pub fn grpc_code(&self) -> Code {
        self.disposition().code
    }

    /// The message a client sees (backend internals redacted).
    pub fn public_message(&self) -> String {
        match self {
            GatewayError::Backend(status) => match status.code() {
                Code::Unknown | Code::Internal | Code::DataLoss => "internal error".into(),
                _ => status.message().to_string(),
            },
            GatewayError::InvalidFrame { frame, error } => {
                format!("frame {frame}: {}", error.public_message())
            }
            other => other.to_string(),
        }
    }

    fn details(&self, reason: &'static str) -> Vec<Value> {
        let mut details = Vec::new();
        match self {
            GatewayError::Backend(status) => return backend_details(status.details()),
            GatewayError::InvalidFrame { error, .. } => return error.details(reason),
            GatewayError::InvalidField { field, reason: why } => details.push(json!({
                "@type": "type.googleapis.com/google.rpc.BadRequest",
                "fieldViolations": [{"field": field, "description": why}],
            })),
            GatewayError::UnknownField { field } => details.push(json!({
                "@type": "type.googleapis.com/google.rpc.BadRequest",
                "fieldViolations": [{"field": field, "description": "no such field"}],
            })),
            _ => {}
        }
        details.push(json!({
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": reason,
            "domain": "gatehouse",
        }));
        details
    }
}

/// The status of a call as the proto3 JSON of a `google.protobuf.Any` holding a
/// google.rpc.Status, the last frame of a WebSocket call: code 0 and no details for `None` (OK),
/// else the code, message and details the JSON error shape carries, redacted the same way.
pub fn status_any_json(error: Option<&GatewayError>) -> String {
    let (code, message, details) = match error {
        None => (Code::Ok, String::new(), Vec::new()),
        Some(error) => {
            let parts = error.parts();
            (parts.code, parts.message, parts.details)
        }
    };
    json!({
        "@type": "type.googleapis.com/google.rpc.Status",
        "code": code as i32,
        "message": message,
        "details": details,
    })
    .to_string()
}

/// The google.rpc.Status JSON body.
fn status_json(code: Code, message: &str, details: &[Value]) -> String {
    json!({
        "code": code as i32,
        "message": message,
        "details": details,
    })
    .to_string()
}

/// The media type of RFC 9457 problem details.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// What an error answer was made of, kept on the response as an extension so that it can be
/// written again as problem details ([`as_problem`]).
#[derive(Clone, Debug)]
pub struct ErrorParts {
    status: StatusCode,
    code: Code,
    reason: &'static str,
    message: String,
    details: Vec<Value>,
}

/// An RFC 9457 problem details object, members in the order the RFC lists them; `instance`
/// is left out.
#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    status: u16,
    detail: &'a str,
    /// Extension member: the google.rpc.Code.
    code: i32,
    /// Extension member: the google.rpc.Status details, as in the status shape.
    details: &'a [Value],
}

impl ErrorParts {
    /// `urn:gatehouse:error:<reason>`, the machine reason lowercased with `-` for `_`
    /// (`urn:gatehouse:error:route-not-found`).
    pub fn problem_type(&self) -> String {
        format!(
            "urn:gatehouse:error:{}",
            self.reason.to_ascii_lowercase().replace('_', "-")
        )
    }

    /// The `application/problem+json` body: `type`, `title` (the status's reason phrase),
    /// `status`, `detail` (the public message) and the extension members `code` and `details`.
    pub fn problem_json(&self) -> String {
        let title = self
            .status
            .canonical_reason()
            .unwrap_or(match self.status.as_u16() {
                499 => "Client Closed Request",
                _ => "Error",
            });
        let problem = Problem {
            kind: self.problem_type(),
            title,
            status: self.status.as_u16(),
            detail: &self.message,
            code: self.code as i32,
            details: &self.details,
        };
        serde_json::to_string(&problem)
            .unwrap_or_else(|_| status_json(self.code, &self.message, &[]))
    }
}

/// `response` with its body as problem details, when it is an error answer made by
/// [`GatewayError`] (it carries [`ErrorParts`]); any other response as it is. Status and
/// headers are kept, except `Content-Type` (`application/problem+json`) and, for the answer to
/// a HEAD request (`head`, whose body is already left out), `Content-Length`.
pub fn as_problem(mut response: Response, head: bool) -> Response {
    let Some(parts) = response.extensions().get::<ErrorParts>() else {
        return response;
    };
    let body = parts.problem_json();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    if head {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
        return response;
    }
    headers.remove(header::CONTENT_LENGTH);
    *response.body_mut() = axum::body::Body::from(body);
    response
}

/// The details of a backend status (`grpc-status-details-bin`: an encoded google.rpc.Status),
/// rendered as proto3 JSON; types not compiled into gatehouse keep their bytes in base64.
fn backend_details(encoded: &[u8]) -> Vec<Value> {
    if encoded.is_empty() {
        return Vec::new();
    }
    let Ok(status) = crate::proto::google::rpc::Status::decode(encoded) else {
        return Vec::new();
    };
    status
        .details
        .iter()
        .filter_map(|any| {
            let type_name = any.type_url.rsplit('/').next().unwrap_or_default();
            if type_name == "google.rpc.DebugInfo" {
                return None;
            }
            let mut object = match crate::proto::render_any(type_name, &any.value) {
                Some(Value::Object(fields)) => fields,
                _ => {
                    let mut fields = serde_json::Map::new();
                    fields.insert(
                        "value".into(),
                        base64::engine::general_purpose::STANDARD
                            .encode(&any.value)
                            .into(),
                    );
                    fields
                }
            };
            object.insert("@type".into(), any.type_url.clone().into());
            Some(Value::Object(object))
        })
        .collect()
}

impl IntoResponse for GatewayError {
    fn into_response(self) -> Response {
        self.log("request failed", None);
        let parts = self.parts();
        let body = status_json(parts.code, &parts.message, &parts.details);
        let mut response = (parts.status, body).into_response();
        response.extensions_mut().insert(parts);
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        match &self {
            GatewayError::MethodNotAllowed { allowed } => {
                if let Ok(value) = HeaderValue::from_str(&allowed.join(", ")) {
                    headers.insert(header::ALLOW, value);
                }
            }
            GatewayError::Backend(status) => {
                crate::grpc::metadata::response_headers(status.metadata(), headers);
            }
            // The gateway's own 503s say when trying again makes sense.
            GatewayError::UpstreamUnavailable | GatewayError::UpstreamOverloaded => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(1));
            }
            GatewayError::NoHealthyUpstream { retry_after } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after));
            }
            GatewayError::Overloaded | GatewayError::RateLimitUnavailable => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(1));
            }
            GatewayError::AuthUnavailable { retry_after } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after));
            }
            GatewayError::RateLimited {
                headers: limits, ..
            } => {
                for (name, value) in limits {
                    headers.insert(name.clone(), value.clone());
                }
            }
            GatewayError::Unauthenticated { invalid_token, .. } => {
                let challenge = if *invalid_token {
                    "Bearer realm=\"gatehouse\", error=\"invalid_token\""
                } else {
                    "Bearer realm=\"gatehouse\""
                };
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(challenge),
                );
            }
            GatewayError::PermissionDenied(_) => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(
                        "Bearer realm=\"gatehouse\", error=\"insufficient_scope\"",
                    ),
                );
            }
            // RFC 9110: a 426 names the protocol to switch to.
            GatewayError::WebSocketRequired => {
                headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
            }
            GatewayError::HeaderTimeout | GatewayError::BodyTimeout => {
                headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            _ => {}
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The gRPC → HTTP table is checked end to end in tests/errors.rs.

    #[test]
    fn internal_backend_messages_are_masked() {
        let err = GatewayError::Backend(tonic::Status::internal("db password is hunter2"));
        assert_eq!(err.public_message(), "internal error");
        let err = GatewayError::Backend(tonic::Status::not_found("no user 7"));
        assert_eq!(err.public_message(), "no user 7");
    }

    #[test]
    fn problem_details_carry_the_status_parts_in_the_rfcs_order() {
        let body = GatewayError::RouteNotFound.problem_body();
        assert_eq!(
            body,
            r#"{"type":"urn:gatehouse:error:route-not-found","title":"Not Found","status":404,"detail":"no route matches this path","code":5,"details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","domain":"gatehouse","reason":"ROUTE_NOT_FOUND"}]}"#
        );
        let cancelled = GatewayError::Backend(tonic::Status::cancelled("gone")).parts();
        assert_eq!(
            cancelled.problem_type(),
            "urn:gatehouse:error:backend-status"
        );
        let problem: Value = serde_json::from_str(&cancelled.problem_json()).unwrap();
        assert_eq!(
            (&problem["title"], &problem["status"]),
            (&json!("Client Closed Request"), &json!(499))
        );
    }

    #[test]
    fn only_error_answers_become_problems() {
        let plain = (StatusCode::NOT_FOUND, "not an error of ours").into_response();
        let kept = as_problem(plain, false);
        assert!(kept.headers().get(header::CONTENT_TYPE).unwrap() != PROBLEM_JSON);

        let error = GatewayError::UpstreamUnavailable.into_response();
        let problem = as_problem(error, false);
        assert_eq!(problem.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(problem.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
        assert_eq!(problem.headers()[header::RETRY_AFTER], "1");
    }
}
