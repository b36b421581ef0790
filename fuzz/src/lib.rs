//! What the targets share. Here: the echo service's bindings (every request is a
//! `gatehouse.echo.v1.Kitchen`, which has a field of every proto3 JSON kind), routed the way
//! `Gateway::call` routes them. [`echo`]: the echo backend `whole_stack` serves in process.
//! [`keys`]: the test issuer's keys, which sign the tokens of `jwt` and `whole_stack`.

pub mod echo;
pub mod keys;

use std::sync::OnceLock;

use gatehouse::http_rule::{Binding, PathMatch, PathTemplate, RouteMatcher};
use gatehouse::schema::{MethodKind, RequestBody, RequestParts, RouteSpec};
use gatehouse::transcode::compiled::schema;

/// The proto service of the echo backend.
pub const ECHO_SERVICE: &str = "gatehouse.echo.v1.EchoService";

/// Every REST binding of the echo service the gateway transcodes (client and bidi streams
/// answer 501 before a request is built, so they are left out).
pub fn echo_routes() -> &'static RouteMatcher<&'static RouteSpec> {
    static TABLE: OnceLock<RouteMatcher<&'static RouteSpec>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut matcher = RouteMatcher::new();
        for spec in schema().bindings().iter().filter(|spec| {
            spec.service == ECHO_SERVICE
                && matches!(spec.kind, MethodKind::Unary | MethodKind::ServerStreaming)
        }) {
            let template = PathTemplate::parse(&spec.template)
                .unwrap_or_else(|e| panic!("compiled template {}: {e}", spec.template));
            matcher.insert(&spec.http_method, template, &**spec);
        }
        matcher
    })
}

/// The binding `method path` routes to with its path variables, or `None` when it does not
/// route (404, 405 or 400).
pub fn route(method: &str, path: &str) -> Option<(&'static RouteSpec, Vec<Binding<'static>>)> {
    match echo_routes().find(method, path) {
        PathMatch::Found(found) => Some((*found.value, found.bindings)),
        _ => None,
    }
}

/// Builds the request message as the REST handler does. Errors are the 400s the client would
/// get; only a panic is a finding.
pub fn build(
    spec: &RouteSpec,
    bindings: &[Binding<'_>],
    query: Option<&str>,
    body: &[u8],
    ignore_unknown_query: bool,
) {
    let parts = RequestParts {
        bindings,
        query,
        body: RequestBody::Json(body),
        ignore_unknown_query,
    };
    let _ = spec.codec.build_request(spec, parts);
}
