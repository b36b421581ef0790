//! What the schema holds: services, methods and their HTTP bindings, each with its codec.

use std::fmt;
use std::sync::Arc;

use super::MethodCodec;

/// How a method streams.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MethodKind {
    Unary,
    ServerStreaming,
    ClientStreaming,
    BidiStreaming,
}

impl MethodKind {
    /// How `method` streams.
    pub fn of(method: &prost_reflect::MethodDescriptor) -> MethodKind {
        match (method.is_client_streaming(), method.is_server_streaming()) {
            (false, false) => MethodKind::Unary,
            (false, true) => MethodKind::ServerStreaming,
            (true, false) => MethodKind::ClientStreaming,
            (true, true) => MethodKind::BidiStreaming,
        }
    }
}

impl fmt::Display for MethodKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MethodKind::Unary => "unary",
            MethodKind::ServerStreaming => "server-streaming",
            MethodKind::ClientStreaming => "client-streaming",
            MethodKind::BidiStreaming => "bidi-streaming",
        })
    }
}

/// One HTTP binding of one RPC method (a `google.api.http` rule or additional binding, or the
/// implicit `POST /pkg.Service/Method` of a method without one).
pub struct RouteSpec {
    /// `GET`, `POST`, ... or a custom method.
    pub http_method: String,
    /// The path template as written in the proto.
    pub template: String,
    /// Full service name, `users.v1.UserService`.
    pub service: String,
    /// Method name, `GetUser`.
    pub method: String,
    /// The gRPC request path, `/users.v1.UserService/GetUser`.
    pub grpc_path: String,
    /// `None`, `Some("*")` or `Some(field)`.
    pub body: Option<String>,
    /// The response field returned as the body, if not the whole message.
    pub response_body: Option<String>,
    /// Proto and JSON names of the `body` field (query parameters may not set it).
    pub body_field_names: Vec<String>,
    /// The proto file, relative to its import root.
    pub proto_file: String,
    pub kind: MethodKind,
    /// The method's proto `idempotency_level` is NO_SIDE_EFFECTS or IDEMPOTENT: a call that
    /// failed with UNAVAILABLE may be sent again.
    pub idempotent: bool,
    /// True for the default binding of a method without annotation.
    pub implicit: bool,
    pub codec: Arc<dyn MethodCodec>,
}

impl RouteSpec {
    /// `users.v1.UserService/GetUser`, the name config patterns match.
    pub fn qualified_method(&self) -> String {
        format!("{}/{}", self.service, self.method)
    }

    /// Whether the query parameter whose path starts with `field` names the body field (or
    /// `body` is `*`): such parameters may not set it.
    pub fn body_binds(&self, field: &str) -> bool {
        self.body.as_deref() == Some("*") || self.body_field_names.iter().any(|n| n == field)
    }
}

/// A service.
pub struct ServiceSpec {
    /// Full name, `users.v1.UserService`.
    pub name: String,
    /// The proto file, relative to its import root.
    pub proto_file: String,
    /// Its methods' names.
    pub methods: Vec<String>,
    /// Where its definition came from, for messages: `compiled in`, `[schema] protos`, a
    /// descriptor set file, a backend's reflection service.
    pub source: String,
}

/// One RPC method, whatever its HTTP bindings: what aggregates and gRPC clients call.
pub struct MethodSpec {
    /// Full service name, `users.v1.UserService`.
    pub service: String,
    /// Method name, `GetUser`.
    pub method: String,
    /// The gRPC request path, `/users.v1.UserService/GetUser`.
    pub grpc_path: String,
    /// Full names of the request and response messages.
    pub input: String,
    pub output: String,
    pub kind: MethodKind,
    /// Proto `idempotency_level` NO_SIDE_EFFECTS or IDEMPOTENT.
    pub idempotent: bool,
    /// Builds the whole request from fields; renders the whole response.
    pub codec: Arc<dyn MethodCodec>,
}

impl MethodSpec {
    /// `users.v1.UserService/GetUser`.
    pub fn qualified_method(&self) -> String {
        format!("{}/{}", self.service, self.method)
    }
}
