//! The compile step: one function, [`compile`], turns a `Config` and a `Schema` into the
//! running gateway's parts, and the [`Handle`] swaps whole gateways on reload.
//!
//! Everything decided per method is decided here, once, by one rule (`settings`): the deadline,
//! idempotency, the credential, roles and rate limit. The route table holds only the bindings
//! of the services the config serves; two that claim the same HTTP method and path are
//! refused here, naming both. Start-up, hot reload and `gatehouse check` all call [`compile`],
//! so `check` accepts exactly what `serve` accepts.

pub mod check;
mod routes;
mod settings;

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use bytes::Bytes;
use http::HeaderMap;
use http::header::HeaderName;
use tokio_rustls::rustls::ServerConfig;
use tower_http::cors::CorsLayer;

use crate::aggregate::Plan;
use crate::config::{Config, ConfigError, CorsConfig};
use crate::error::GatewayError;
use crate::ingress::{GrpcIngress, GrpcMethod, GrpcService, MethodTable};
use crate::schema::Schema;
use crate::security::client_ip::ClientIp;
use crate::security::{Authenticator, Identity, RoutePolicy, take_rate_limit};
use crate::transcode::metadata;
use crate::upstream::Backend;

pub use routes::{AggregateEntry, RouteEntry, RouteTable, RouteTarget};
pub use settings::{MethodSettings, Settings};

/// Why a config cannot be served: the file, the key and the reason.
pub type CompileError = ConfigError;

/// The gateway's state: the route table, the credential checks and the per-request limits,
/// built once.
pub struct Gateway {
    pub(crate) routes: RouteTable,
    pub(crate) backends: Vec<Backend>,
    pub(crate) authenticator: Arc<Authenticator>,
    pub(crate) client_ip: ClientIp,
    pub(crate) max_timeout: Duration,
    pub(crate) ignore_unknown_query: bool,
    pub(crate) forwarded_headers: Vec<HeaderName>,
    pub(crate) max_headers: usize,
    pub(crate) max_header_bytes: usize,
    pub(crate) max_json_depth: usize,
    pub(crate) body_timeout: Duration,
    /// `[server] stream_buffer`: messages of a client stream in flight to its backend.
    pub(crate) stream_buffer: usize,
    pub(crate) max_concurrent_requests: usize,
    pub(crate) cors: Option<CorsConfig>,
    /// The OpenAPI document, when `[server] openapi` serves it.
    pub(crate) openapi: Option<Bytes>,
    pub(crate) api_key_header: HeaderName,
    pub(crate) connection_limits: ConnectionLimits,
    /// gRPC and gRPC-Web calls, reflection; sharing the routes' rate limits.
    pub(crate) grpc: GrpcService,
    /// The config it was built from (a reload compares what changed).
    pub(crate) config: Config,
}

/// What hyper itself enforces on each connection, and the TLS it is served with. The
/// configured header limits are checked again per request (with the JSON error shape); hyper's
/// caps sit above them and only stop requests so large that reading them at all would be the
/// attack.
#[derive(Clone, Debug)]
pub struct ConnectionLimits {
    /// Also bounds the TLS handshake.
    pub header_read_timeout: Duration,
    pub max_headers: usize,
    pub max_header_bytes: usize,
    /// Serve HTTPS with this config (see `crate::tls::server_config`); plain HTTP/1.1 and h2c
    /// when `None`.
    pub tls: Option<Arc<ServerConfig>>,
    /// Write the 408 for headers that never arrived, which the listener answers itself, as
    /// problem details (`[server] errors = "problem"` when the listener started).
    pub problem_details: bool,
}

/// Builds the gateway for a validated `config` over `schema`: one backend pool per
/// `[[backends]]` entry (connections are made on first use), the routes of the services they
/// serve with their policies, the aggregate plans, the issuers' keys and the TLS certificates
/// (a file that cannot be used fails it, named). Must be called inside a Tokio runtime: DNS
/// refresh, health checks and JWKS refresh run as tasks.
pub fn compile(config: &Config, schema: &Schema) -> Result<Gateway, CompileError> {
    let plans = check::against_schema(config, schema)?;
    build(config, schema, plans).map_err(|reason| ConfigError {
        file: config.file.clone(),
        key: String::new(),
        reason,
    })
}

fn build(config: &Config, schema: &Schema, plans: Vec<Plan>) -> Result<Gateway, String> {
    let backends = config
        .backends
        .iter()
        .map(|backend| Backend::new(&crate::tls::rebase(backend, &config.base_dir)))
        .collect::<Result<Vec<_>, _>>()?;
    let backend = |name: &str| backends.iter().find(|b| b.name() == name).cloned();
    // One resolution of every per-method setting, and one set of rate limiters, for REST, gRPC
    // and aggregates alike.
    let settings = Settings::new(config)?;
    // Described before the route table takes the plans.
    let openapi = config.server.openapi.then(|| {
        crate::openapi::document(config, schema, &plans)
            .to_string()
            .into()
    });
    let routes = RouteTable::build(config, schema, plans, &settings, backend)?;
    let mut grpc_methods = Vec::new();
    for spec in schema.methods() {
        let Some(backend) = config
            .backend_for(&spec.service)
            .and_then(|b| backend(&b.name))
        else {
            continue;
        };
        let MethodSettings {
            timeout,
            policy,
            from_identity,
            ..
        } = settings.method(spec);
        let input = schema
            .descriptors()
            .get_message_by_name(&spec.input)
            .ok_or_else(|| format!("{}: no descriptor", spec.input))?;
        grpc_methods.push(GrpcMethod {
            spec: spec.clone(),
            label: crate::telemetry::metrics::shared(spec.grpc_path.as_str()),
            channel: backend.channel(),
            timeout,
            policy,
            identity_fields: routes::identity_fields(&input, from_identity)?,
            max_message: usize::try_from(config.server.max_body.as_u64()).unwrap_or(usize::MAX),
        });
    }
    let methods = MethodTable::new(grpc_methods);
    let authenticator = Arc::new(Authenticator::new(config)?);
    let client_ip = ClientIp::new(&config.server.trusted_proxies);
    // The gateway consumes an API key credential, so the ingress does not pass it on.
    let consumed_key_header =
        (!config.auth.api_keys.is_empty()).then(|| authenticator.api_key_header().clone());
    let grpc = GrpcIngress::new(
        config,
        schema,
        methods,
        client_ip.clone(),
        consumed_key_header,
    )?;
    let forwarded_headers = metadata::DEFAULT_FORWARDED_HEADERS
        .iter()
        .map(|h| HeaderName::from_static(h))
        .chain(
            config
                .server
                .forward_headers
                .iter()
                .filter_map(|h| HeaderName::from_bytes(h.as_bytes()).ok()),
        )
        .collect();
    let server = &config.server;
    let max_header_bytes = usize::try_from(server.max_header_bytes.as_u64()).unwrap_or(usize::MAX);
    Ok(Gateway {
        routes,
        backends,
        client_ip,
        max_timeout: server.max_timeout,
        ignore_unknown_query: server.ignore_unknown_query_parameters,
        forwarded_headers,
        max_headers: server.max_headers,
        max_header_bytes,
        max_json_depth: server.max_json_depth,
        body_timeout: server.body_timeout,
        stream_buffer: server.stream_buffer,
        max_concurrent_requests: server.max_concurrent_requests,
        cors: server.cors.clone(),
        openapi,
        api_key_header: authenticator.api_key_header().clone(),
        connection_limits: ConnectionLimits {
            header_read_timeout: server.header_read_timeout,
            max_headers: server.max_headers,
            max_header_bytes,
            tls: match &server.tls {
                Some(tls) => Some(crate::tls::server_config(tls, &config.base_dir)?),
                None => None,
            },
            problem_details: server.errors == crate::config::ErrorFormat::Problem,
        },
        // gRPC calls pass the same credential check and take from the same rate limits,
        // under the same keys, as REST requests.
        grpc: Arc::new(grpc).service(authenticator.clone(), take_rate_limit),
        authenticator,
        config: config.clone(),
    })
}

impl Gateway {
    /// [`compile`] with the schema compiled into this build: the gateway for `config` as
    /// `gatehouse serve` would build it, when the config names no run-time sources. One that
    /// does (`[schema]`, a backend's `reflection`) is refused rather than served without
    /// them: load its schema with `sources::load`, then [`compile`].
    pub fn new(config: &Config) -> Result<Gateway, CompileError> {
        let schema = &config.schema;
        let reflection = config.backends.iter().any(|b| b.reflection);
        if !schema.protos.is_empty()
            || !schema.descriptor_sets.is_empty()
            || !schema.compiled_in
            || reflection
        {
            return Err(ConfigError {
                file: config.file.clone(),
                key: "schema".into(),
                reason: "Gateway::new serves the compiled-in protos only; load this config's \
                         schema with sources::load and build with gateway::compile"
                    .into(),
            });
        }
        compile(config, crate::transcode::compiled::schema())
    }

    /// The config this gateway was built from.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Every backend pool.
    pub fn backends(&self) -> Vec<Backend> {
        self.backends.clone()
    }

    /// What the listener enforces on each connection.
    pub fn connection_limits(&self) -> ConnectionLimits {
        self.connection_limits.clone()
    }

    pub(crate) fn max_concurrent_requests(&self) -> usize {
        self.max_concurrent_requests
    }

    /// CORS for `[server.cors]`, if configured.
    pub(crate) fn cors_layer(&self) -> Option<CorsLayer> {
        let config = self.cors.as_ref()?;
        Some(crate::security::cors::cors_layer(
            config,
            self.api_key_header.clone(),
        ))
    }

    /// `[server] errors = "problem"`.
    pub(crate) fn problem_details(&self) -> bool {
        self.config.server.errors == crate::config::ErrorFormat::Problem
    }

    /// `[telemetry] access_log = "json"`.
    pub(crate) fn access_log_on(&self) -> bool {
        self.config.telemetry.access_log == crate::config::AccessLog::Json
    }

    pub(crate) fn grpc_service(&self) -> GrpcService {
        self.grpc.clone()
    }

    /// Number of served bindings.
    pub fn route_count(&self) -> usize {
        self.routes.len()
    }

    /// The pool of the `[[backends]]` entry `name`: `backend.channel()` runs generated
    /// clients over it.
    pub fn backend(&self, name: &str) -> Option<Backend> {
        self.backends.iter().find(|b| b.name() == name).cloned()
    }

    /// The credential check of this gateway, for handlers mounted with `stack::service_with`.
    pub fn guard(&self) -> Guard {
        Guard {
            authenticator: self.authenticator.clone(),
        }
    }
}

/// Checks credentials and roles for hand-written handlers, as configured routes do.
#[derive(Clone)]
pub struct Guard {
    authenticator: Arc<Authenticator>,
}

impl Guard {
    /// The caller, if the request carries a valid credential; 401 when `roles` is not empty
    /// and there is none, 403 when the caller holds none of `roles`.
    pub async fn authorize(
        &self,
        headers: &HeaderMap,
        roles: &[&str],
    ) -> Result<Option<Identity>, GatewayError> {
        let identity = self.authenticator.authenticate(headers).await?;
        let policy = RoutePolicy {
            authenticated: !roles.is_empty(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            rate_limit: None,
        };
        policy.authorize(identity.as_ref())?;
        Ok(identity)
    }
}

/// The gateway requests are served by, replaced whole by a reload: a request holds the one it
/// started with until it ends, new requests get the new one. The listener's own settings
/// (address, TLS, header limits, concurrency limit, CORS) are taken from the first gateway;
/// changing them needs a restart.
#[derive(Clone)]
pub struct Handle {
    current: Arc<ArcSwap<Gateway>>,
}

impl Handle {
    pub fn new(gateway: Gateway) -> Handle {
        Handle {
            current: Arc::new(ArcSwap::from_pointee(gateway)),
        }
    }

    /// The gateway now in service.
    pub fn load(&self) -> Arc<Gateway> {
        self.current.load_full()
    }

    /// Whether the gateway now in service answers REST errors as problem details; read
    /// without taking a reference to it.
    pub(crate) fn problem_details(&self) -> bool {
        self.current.load().problem_details()
    }

    /// Puts `gateway` in service; the previous one is dropped once its last request ends.
    pub fn replace(&self, gateway: Gateway) {
        self.current.store(Arc::new(gateway));
    }
}
