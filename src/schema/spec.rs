//! The shape of the generated route table.

use std::fmt;

use super::MethodCodec;

/// How a method streams.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MethodKind {
    Unary,
    ServerStreaming,
    ClientStreaming,
    BidiStreaming,
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
    pub http_method: &'static str,
    /// The path template as written in the proto.
    pub template: &'static str,
    /// Full service name, `users.v1.UserService`.
    pub service: &'static str,
    /// Method name, `GetUser`.
    pub method: &'static str,
    /// The gRPC request path, `/users.v1.UserService/GetUser`.
    pub grpc_path: &'static str,
    /// `None`, `Some("*")` or `Some(field)`.
    pub body: Option<&'static str>,
    /// The response field returned as the body, if not the whole message.
    pub response_body: Option<&'static str>,
    /// Proto and JSON names of the `body` field (query parameters may not set it).
    pub body_field_names: &'static [&'static str],
    /// The proto file, relative to `proto/`.
    pub proto_file: &'static str,
    pub kind: MethodKind,
    /// The method's proto `idempotency_level` is NO_SIDE_EFFECTS or IDEMPOTENT: a call that
    /// failed with UNAVAILABLE may be sent again.
    pub idempotent: bool,
    /// True for the default binding of a method without annotation.
    pub implicit: bool,
    pub codec: &'static dyn MethodCodec,
}

impl RouteSpec {
    /// `users.v1.UserService/GetUser`, the name config patterns match.
    pub fn qualified_method(&self) -> String {
        format!("{}/{}", self.service, self.method)
    }
}

/// A compiled service.
pub struct ServiceSpec {
    pub name: &'static str,
    pub proto_file: &'static str,
    pub methods: &'static [&'static str],
}

/// One RPC method, whatever its HTTP bindings: what aggregates call.
pub struct MethodSpec {
    /// Full service name, `users.v1.UserService`.
    pub service: &'static str,
    /// Method name, `GetUser`.
    pub method: &'static str,
    /// The gRPC request path, `/users.v1.UserService/GetUser`.
    pub grpc_path: &'static str,
    /// Full names of the request and response messages.
    pub input: &'static str,
    pub output: &'static str,
    pub kind: MethodKind,
    /// Proto `idempotency_level` NO_SIDE_EFFECTS or IDEMPOTENT.
    pub idempotent: bool,
    /// Builds the whole request from fields; renders the whole response.
    pub codec: &'static dyn MethodCodec,
}

impl MethodSpec {
    /// `users.v1.UserService/GetUser`.
    pub fn qualified_method(&self) -> String {
        format!("{}/{}", self.service, self.method)
    }
}
