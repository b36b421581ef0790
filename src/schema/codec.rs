//! What a method's codec does: the one interface the REST front end and aggregates use,
//! whichever source the method came from.

use bytes::Bytes;

use super::RouteSpec;
use crate::error::GatewayError;
use crate::http_rule::Binding;

/// What the HTTP request contributes to the gRPC request message.
pub struct RequestParts<'a> {
    pub bindings: &'a [Binding<'a>],
    pub query: Option<&'a str>,
    pub body: RequestBody<'a>,
    /// Drop query parameters that name no field instead of answering 400.
    pub ignore_unknown_query: bool,
}

/// What the HTTP body sets, when the binding has a `body`.
#[derive(Clone, Copy)]
pub enum RequestBody<'a> {
    /// proto3 JSON of what `body` names; empty or only whitespace counts as no body.
    Json(&'a [u8]),
    /// A form's text fields: `(field path from the request message, value)`, each value set
    /// as a query parameter's would be.
    Fields(&'a [(Vec<String>, String)]),
}

/// Builds encoded request messages and renders encoded responses for one binding.
pub trait MethodCodec: Send + Sync + 'static {
    /// Body first, then query parameters, then path variables (so the path always wins).
    fn build_request(
        &self,
        route: &RouteSpec,
        parts: RequestParts<'_>,
    ) -> Result<Bytes, GatewayError>;
    /// Decodes one response message and writes its proto3 JSON (or its `response_body` field).
    fn render_response(&self, message: &[u8], out: &mut Vec<u8>) -> Result<(), GatewayError>;
    /// Builds a request from `(field path, values)` pairs, each value parsed as a query
    /// parameter's would be; a repeated field takes every value, in order.
    fn build_from_fields(&self, fields: &[(&[String], &[String])]) -> Result<Bytes, GatewayError>;
}
