//! gRPC ingress: native gRPC and gRPC-Web clients call the configured services through the
//! gateway's one port, behind the same edge as REST.
//!
//! ```text
//! request ─▶ layers (request id, trace, CORS, concurrency, panic guard)
//!              │ content-type application/grpc*            │ anything else
//!              ▼                                            ▼
//!            GrpcService                                 REST dispatcher
//!              │ application/grpc-web*: tonic-web's GrpcWebLayer turns it into gRPC and the
//!              │ answer back into gRPC-Web (HTTP/1.1 included)
//!              ▼
//!            IngressService
//!              ├ grpc.reflection.v1 / v1alpha ServerReflection: answered here
//!              ├ unknown service or method: UNIMPLEMENTED
//!              └ header limits → credential → the method's roles → its rate limit (the very
//!                buckets REST uses) → deadline → the backend's pool (`PoolChannel`)
//! ```
//!
//! Messages are never decoded: the request and response bodies pass frame by frame, so unary,
//! server-, client- and bidi-streaming calls all work, and the backend's trailers reach the
//! client as sent. The backend gets the client's metadata without hop-by-hop headers, without
//! the credential the gateway consumed when it is an API key, and with the verified caller as
//! `x-user-id` / `x-user-roles` (a client's own copies are dropped) and the effective
//! `grpc-timeout`: as for REST, the client's capped by `[server] max_timeout` and by the
//! method's configured timeout (which also applies when the client sends none; streams that
//! should live longer need a longer `[[routes]] timeout`). The gateway enforces that deadline itself, on the response headers and
//! on the rest of the stream.
//!
//! Every failure the gateway answers is a gRPC status, never an HTTP error page: a trailers-only
//! response (HTTP 200, `grpc-status`, percent-encoded `grpc-message`) made by [`error_response`]
//! from the same [`GatewayError`](crate::error::GatewayError) REST renders as JSON; a stream that fails after its headers
//! ends with the same status as trailers.

mod body;
mod methods;
mod proxy;
mod service;
mod status;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderName;

use crate::config::Config;
use crate::schema::Schema;
use crate::security::client_ip::ClientIp;
use crate::security::{Authenticator, Identity, RoutePolicy};

pub use methods::{GrpcMethod, MethodTable, UnknownMethod};
pub use service::{GrpcService, IngressService, ProtocolSplit};
pub use status::{error_response, error_trailers, grpc_message, status_response};

/// Takes one call from a policy's rate limit: the `RateLimit-*` headers for the answer, or
/// `GatewayError::RateLimited`. The gateway passes its own REST step, so a call is counted
/// under the same key in the same bucket whichever protocol it comes by.
pub type RateLimiter = Arc<
    dyn Fn(
            &RoutePolicy,
            Option<&Identity>,
            Option<IpAddr>,
        ) -> Option<crate::security::RateLimitFuture>
        + Send
        + Sync,
>;

/// Path prefixes of the reflection services the gateway answers itself.
const REFLECTION_PREFIXES: [&str; 2] = [
    "/grpc.reflection.v1.ServerReflection/",
    "/grpc.reflection.v1alpha.ServerReflection/",
];

/// What the gRPC ingress needs, built once from the config.
pub struct GrpcIngress {
    methods: MethodTable,
    /// `[server] grpc`: proxy calls to the configured services. When false every call is
    /// answered UNIMPLEMENTED (reflection aside, which has its own switch).
    proxy: bool,
    /// `[server] reflection`: reflection v1 and v1alpha over every service of the schema.
    reflection: Option<tonic::service::Routes>,
    client_ip: ClientIp,
    max_timeout: Duration,
    max_headers: usize,
    max_header_bytes: usize,
    /// The API key header, when API keys are configured: the gateway consumes that credential,
    /// so it is not passed on.
    api_key_header: Option<HeaderName>,
}

impl GrpcIngress {
    /// The ingress for a validated config, proxying to `methods` (built by the compile step,
    /// with the settings REST uses and the same rate limiters). `client_ip` reads the caller's
    /// address as REST does; `api_key_header` is the header API keys come in, when any are
    /// configured. Fails only if the schema's descriptors cannot be served by reflection.
    pub fn new(
        config: &Config,
        schema: &Schema,
        methods: MethodTable,
        client_ip: ClientIp,
        api_key_header: Option<HeaderName>,
    ) -> Result<GrpcIngress, String> {
        let server = &config.server;
        let reflection = if server.reflection {
            Some(reflection_routes(schema)?)
        } else {
            None
        };
        Ok(GrpcIngress {
            methods,
            proxy: server.grpc,
            reflection,
            client_ip,
            max_timeout: server.max_timeout,
            max_headers: server.max_headers,
            max_header_bytes: usize::try_from(server.max_header_bytes.as_u64())
                .unwrap_or(usize::MAX),
            api_key_header,
        })
    }

    /// The methods calls are proxied to.
    pub fn methods(&self) -> &MethodTable {
        &self.methods
    }

    /// The service answering every gRPC and gRPC-Web request, checking credentials with
    /// `authenticator` and taking calls from rate limits with `rate_limit`.
    pub fn service(
        self: Arc<Self>,
        authenticator: Arc<Authenticator>,
        rate_limit: impl Fn(
            &RoutePolicy,
            Option<&Identity>,
            Option<IpAddr>,
        ) -> Option<crate::security::RateLimitFuture>
        + Send
        + Sync
        + 'static,
    ) -> GrpcService {
        GrpcService::new(IngressService::new(
            self,
            authenticator,
            Arc::new(rate_limit),
        ))
    }

    /// The reflection service for `path`, if it names one and reflection is on.
    fn reflection_for(&self, path: &str) -> Option<&tonic::service::Routes> {
        let reflection = self.reflection.as_ref()?;
        REFLECTION_PREFIXES
            .iter()
            .any(|prefix| path.starts_with(prefix))
            .then_some(reflection)
    }
}

/// Reflection v1 and v1alpha over every file of the schema, with the descriptors as build.rs wrote
/// them (custom options such as `google.api.http` included).
fn reflection_routes(schema: &Schema) -> Result<tonic::service::Routes, String> {
    let builder = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(schema.encoded_descriptors())
    };
    let v1 = builder()
        .build_v1()
        .map_err(|e| format!("reflection: {e}"))?;
    let v1alpha = builder()
        .build_v1alpha()
        .map_err(|e| format!("reflection: {e}"))?;
    Ok(tonic::service::Routes::new(v1).add_service(v1alpha))
}
