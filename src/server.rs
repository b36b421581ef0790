//! The HTTP front end: the gateway's state and the dispatcher that every REST request reaches.
//!
//! axum's router cannot express google.api.http templates, so the dispatcher matches every
//! request against the `RouteTable` itself; `crate::stack` puts it behind the layers.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::header::{self, CONTENT_LENGTH, CONTENT_TYPE, HeaderName, HeaderValue};
use http::{HeaderMap, Method, request::Parts};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::aggregate::{Admission, Inputs};
use crate::config::{Config, CorsConfig, RateLimitKey};
use crate::error::GatewayError;
use crate::grpc::timeout::parse_grpc_timeout;
use crate::http_rule::{Binding, PathMatch};
use crate::ingress::{GrpcIngress, GrpcService};
use crate::listener::ConnectionLimits;
use crate::routes::{AggregateEntry, MethodKind, RouteEntry, RouteTable, RouteTarget};
use crate::security::client_ip::ClientIp;
use crate::security::shared::Decision;
use crate::security::{self, Authenticator, Identity, RateLimitFuture, RoutePolicy};
use crate::stack::{self, GatewayService};
use crate::telemetry::metrics::{self as telemetry_metrics, SharedString};
use crate::telemetry::{LogFields, Upstream};
use crate::transcode::codec::RequestParts;
use crate::transcode::metadata;
use crate::upstream::Backend;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const GRPC_TIMEOUT: HeaderName = HeaderName::from_static("grpc-timeout");

/// The gateway's state: the route table, the credential checks and the per-request limits,
/// built once.
pub struct Gateway {
    routes: RouteTable,
    backends: Vec<Backend>,
    authenticator: Arc<Authenticator>,
    client_ip: ClientIp,
    max_body: usize,
    max_timeout: Duration,
    ignore_unknown_query: bool,
    forwarded_headers: Vec<HeaderName>,
    max_headers: usize,
    max_header_bytes: usize,
    max_json_depth: usize,
    body_timeout: Duration,
    max_concurrent_requests: usize,
    cors: Option<CorsConfig>,
    /// The OpenAPI document, when `[server] openapi` serves it.
    openapi: Option<Bytes>,
    api_key_header: HeaderName,
    connection_limits: ConnectionLimits,
    /// gRPC and gRPC-Web calls, reflection; sharing the routes' rate limits.
    grpc: GrpcService,
    /// The config it was built from (a reload compares what changed).
    config: Config,
}

impl Gateway {
    /// Builds the gateway for a validated config: one backend pool per `[[backends]]` entry
    /// (connections are made on first use), the routes of the services they serve with their
    /// policies, the issuers' keys and the TLS certificates (a file that cannot be used fails
    /// it, named). Must be called inside a Tokio runtime: DNS refresh, health checks and JWKS
    /// refresh run as tasks.
    pub fn new(config: &Config) -> Result<Gateway, String> {
        let backends = config
            .backends
            .iter()
            .map(|backend| Backend::new(&crate::tls::rebase(backend, &config.base_dir)))
            .collect::<Result<Vec<_>, _>>()?;
        let routes = RouteTable::build(config, |name| {
            backends.iter().find(|b| b.name() == name).cloned()
        })?;
        let grpc = GrpcIngress::new(config, routes.rate_limits(), |name| {
            backends.iter().find(|b| b.name() == name).cloned()
        })?;
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
        let max_header_bytes =
            usize::try_from(server.max_header_bytes.as_u64()).unwrap_or(usize::MAX);
        let authenticator = Arc::new(Authenticator::new(config)?);
        Ok(Gateway {
            routes,
            backends,
            client_ip: ClientIp::new(&server.trusted_proxies),
            max_body: usize::try_from(server.max_body.as_u64()).unwrap_or(usize::MAX),
            max_timeout: server.max_timeout,
            ignore_unknown_query: server.ignore_unknown_query_parameters,
            forwarded_headers,
            max_headers: server.max_headers,
            max_header_bytes,
            max_json_depth: server.max_json_depth,
            body_timeout: server.body_timeout,
            max_concurrent_requests: server.max_concurrent_requests,
            cors: server.cors.clone(),
            openapi: server
                .openapi
                .then(|| crate::openapi::document(config).to_string().into()),
            api_key_header: HeaderName::from_bytes(config.auth.api_key_header.as_bytes())
                .map_err(|e| format!("auth.api_key_header: {e}"))?,
            connection_limits: ConnectionLimits {
                header_read_timeout: server.header_read_timeout,
                max_headers: server.max_headers,
                max_header_bytes,
                tls: match &server.tls {
                    Some(tls) => Some(crate::tls::server_config(tls, &config.base_dir)?),
                    None => None,
                },
            },
            // gRPC calls pass the same credential check and take from the same rate limits,
            // under the same keys, as REST requests.
            grpc: Arc::new(grpc).service(authenticator.clone(), take_rate_limit),
            authenticator,
            config: config.clone(),
        })
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
        Some(cors_layer(config, self.api_key_header.clone()))
    }

    /// `[telemetry] access_log = "json"`.
    pub(crate) fn access_log_on(&self) -> bool {
        self.config.telemetry.access_log == crate::config::AccessLog::Json
    }

    pub(crate) fn grpc_service(&self) -> GrpcService {
        self.grpc.clone()
    }

    /// The gateway's own pages, when `[server] openapi` serves them: the OpenAPI document and
    /// the page that shows it. Other methods than GET and HEAD get the JSON 405 a generated
    /// route answers.
    fn own_page(&self, request: &Request) -> Option<Response> {
        let document = self.openapi.as_ref()?;
        let page = match request.uri().path() {
            "/openapi.json" => (
                [(CONTENT_TYPE, "application/json")],
                Body::from(document.clone()),
            )
                .into_response(),
            "/docs" => (
                [(CONTENT_TYPE, "text/html; charset=utf-8")],
                crate::openapi::DOCS_PAGE,
            )
                .into_response(),
            _ => return None,
        };
        if request.method() != Method::GET && request.method() != Method::HEAD {
            let allowed = vec!["GET".into(), "HEAD".into()];
            return Some(GatewayError::MethodNotAllowed { allowed }.into_response());
        }
        Some(page)
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

    /// The credential check of this gateway, for handlers mounted with `into_service_with`.
    pub fn guard(&self) -> Guard {
        Guard {
            authenticator: self.authenticator.clone(),
        }
    }

    /// Everything the listener serves: the whole tower stack (see `crate::stack`).
    pub fn into_service(self) -> GatewayService {
        Handle::new(self).service()
    }

    /// [`Gateway::into_service`] with `custom` routes tried first and the generated routes
    /// after, all behind the same layers (request id, tracing, CORS, the concurrency limit,
    /// panic guard). gRPC and gRPC-Web requests (`content-type: application/grpc*`) go to the
    /// gRPC ingress (`crate::ingress`) instead, behind the same layers; they never reach
    /// `custom`.
    pub fn into_service_with(self, custom: Router) -> GatewayService {
        Handle::new(self).service_with(custom)
    }

    async fn handle(
        &self,
        peer: Option<SocketAddr>,
        request: Request,
        fields: &mut LogFields,
    ) -> Result<Response, GatewayError> {
        let (parts, body) = request.into_parts();
        security::check_header_limits(&parts.headers, self.max_headers, self.max_header_bytes)?;
        let found = match self.routes.find(parts.method.as_str(), parts.uri.path()) {
            PathMatch::Found(found) => found,
            PathMatch::MethodNotAllowed { allowed } => {
                return Err(GatewayError::MethodNotAllowed {
                    allowed: allowed.into_iter().map(str::to_string).collect(),
                });
            }
            PathMatch::NotFound => return Err(GatewayError::RouteNotFound),
            PathMatch::BadPath(e) => return Err(GatewayError::BadPath(e.to_string())),
        };
        let target = found.value;
        let (policy, route) = match target {
            RouteTarget::Method(entry) => {
                (&entry.policy, SharedString::const_str(entry.spec.template))
            }
            RouteTarget::Aggregate(entry) => (
                &entry.policy,
                telemetry_metrics::shared(entry.aggregate.plan.template.to_string()),
            ),
        };
        crate::telemetry::request_context::record_route(&route);
        fields.route = Some(route.clone());
        let identity = self.authenticator.authenticate(&parts.headers).await?;
        fields.subject = identity.as_ref().map(|i| i.subject.clone());
        policy.authorize(identity.as_ref())?;
        let client = peer.map(|p| self.client_ip.client(p.ip(), &parts.headers));
        let limit_headers = match take_rate_limit(policy, identity.as_ref(), client) {
            None => Vec::new(),
            Some(taking) => taking.await.inspect_err(|error| {
                if let (GatewayError::RateLimited { .. }, Some((_, key))) =
                    (error, &policy.rate_limit)
                {
                    telemetry_metrics::record_rate_limited(&route, *key);
                }
            })?,
        };
        let identity = identity.as_ref();
        let answer = match target {
            RouteTarget::Method(entry) => {
                self.call(entry, &found.bindings, &parts, body, peer, identity)
                    .await
            }
            RouteTarget::Aggregate(entry) => {
                self.aggregate(entry, &found.bindings, &parts, peer, identity, client)
                    .await
            }
        };
        // Every answer on a limited route says where the caller stands, errors included.
        let mut response = answer.unwrap_or_else(IntoResponse::into_response);
        let headers = response.headers_mut();
        for (name, value) in limit_headers {
            headers.insert(name, value);
        }
        Ok(response)
    }

    /// Transcodes the admitted request, calls the backend and transcodes its answer.
    async fn call(
        &self,
        entry: &RouteEntry,
        bindings: &[Binding<'_>],
        parts: &Parts,
        body: Body,
        peer: Option<SocketAddr>,
        identity: Option<&Identity>,
    ) -> Result<Response, GatewayError> {
        let spec = entry.spec;
        match spec.kind {
            MethodKind::Unary | MethodKind::ServerStreaming => {}
            MethodKind::ClientStreaming => {
                return Err(GatewayError::StreamingNotSupported("client-streaming"));
            }
            MethodKind::BidiStreaming => {
                return Err(GatewayError::StreamingNotSupported("bidi-streaming"));
            }
        }
        let deadline = self.deadline(&parts.headers, entry.timeout)?;
        let body = match spec.body {
            Some(_) => self.read_body(parts, body).await?,
            None => Bytes::new(),
        };
        let message = spec.codec.build_request(
            spec,
            RequestParts {
                bindings,
                query: parts.uri.query(),
                body: &body,
                ignore_unknown_query: self.ignore_unknown_query,
            },
        )?;
        let metadata = metadata::request_metadata(
            &parts.headers,
            &parts.uri,
            &self.forwarded_headers,
            peer.map(|p| p.ip()),
            identity,
        );
        if spec.kind == MethodKind::ServerStreaming {
            use crate::transcode::stream::{self, StreamFormat};
            let started = tokio::time::Instant::now();
            let format = StreamFormat::negotiate(&parts.headers);
            let reply = entry
                .backend
                .server_streaming(entry.path.clone(), metadata, message, deadline)
                .await?;
            let upstream = reply.extensions().get::<Upstream>().cloned();
            let mut response =
                stream::respond(reply, spec.codec, format, started, deadline).await?;
            if let Some(upstream) = upstream {
                response.extensions_mut().insert(upstream);
            }
            return Ok(response);
        }
        let reply = entry
            .backend
            .unary(
                entry.path.clone(),
                metadata,
                message,
                deadline,
                entry.idempotent,
            )
            .await?;
        let (reply_metadata, reply_message, reply_extensions) = reply.into_parts();
        let mut out = Vec::with_capacity(reply_message.len() * 2 + 16);
        spec.codec.render_response(&reply_message, &mut out)?;
        let mut response = Response::new(Body::from(out));
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        crate::grpc::metadata::response_headers(&reply_metadata, headers);
        if let Some(upstream) = reply_extensions.get::<Upstream>() {
            response.extensions_mut().insert(upstream.clone());
        }
        Ok(response)
    }

    /// Runs an aggregate: every call is admitted as a direct call of its method would be,
    /// and sent the caller's identity and forwarded headers.
    async fn aggregate(
        &self,
        entry: &AggregateEntry,
        bindings: &[Binding<'_>],
        parts: &Parts,
        peer: Option<SocketAddr>,
        identity: Option<&Identity>,
        client: Option<std::net::IpAddr>,
    ) -> Result<Response, GatewayError> {
        let deadline = self.deadline(&parts.headers, entry.aggregate.timeout)?;
        let metadata = metadata::request_metadata(
            &parts.headers,
            &parts.uri,
            &self.forwarded_headers,
            peer.map(|p| p.ip()),
            identity,
        );
        let inputs = Inputs {
            bindings,
            query: parts.uri.query(),
            metadata: &metadata,
            deadline,
        };
        let admit = |policy: &RoutePolicy| -> Admission {
            if let Err(denied) = policy.authorize(identity) {
                return Box::pin(std::future::ready(Err(denied)));
            }
            match take_rate_limit(policy, identity, client) {
                Some(taking) => Box::pin(async move { taking.await.map(drop) }),
                None => Box::pin(std::future::ready(Ok(()))),
            }
        };
        let out = entry.aggregate.run(inputs, admit).await?;
        let mut response = Response::new(Body::from(out));
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        Ok(response)
    }

    /// min(client `Grpc-Timeout`, the route's deadline); `max_timeout` caps both.
    fn deadline(&self, headers: &HeaderMap, route: Duration) -> Result<Duration, GatewayError> {
        let Some(value) = headers.get(&GRPC_TIMEOUT) else {
            return Ok(route);
        };
        let text = value.to_str().unwrap_or_default();
        let asked = parse_grpc_timeout(text).ok_or_else(|| {
            GatewayError::BadTimeout(String::from_utf8_lossy(value.as_bytes()).into())
        })?;
        Ok(asked.min(self.max_timeout).min(route))
    }

    /// Reads a JSON body up to `max_body` bytes.
    async fn read_body(&self, parts: &Parts, body: Body) -> Result<Bytes, GatewayError> {
        if let Some(content_type) = parts.headers.get(CONTENT_TYPE) {
            let essence = content_type
                .to_str()
                .unwrap_or_default()
                .split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase();
            if essence != "application/json" && !essence.ends_with("+json") {
                return Err(GatewayError::UnsupportedMediaType(
                    String::from_utf8_lossy(content_type.as_bytes()).into(),
                ));
            }
        }
        let too_large = GatewayError::BodyTooLarge {
            limit: self.max_body,
        };
        let declared = parts
            .headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > self.max_body as u64) {
            return Err(too_large);
        }
        let read = Limited::new(body, self.max_body).collect();
        let body = match tokio::time::timeout(self.body_timeout, read).await {
            Err(_) => return Err(GatewayError::BodyTimeout),
            Ok(Ok(collected)) => collected.to_bytes(),
            Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => return Err(too_large),
            Ok(Err(_)) => {
                return Err(GatewayError::InvalidJson(
                    "the request body could not be read".into(),
                ));
            }
        };
        if security::json_too_deep(&body, self.max_json_depth) {
            return Err(GatewayError::JsonTooDeep {
                limit: self.max_json_depth,
            });
        }
        Ok(body)
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

/// A REST request the custom routes did not take. It keeps `gateway`, the one in service when
/// it arrived, even if a reload replaces it meanwhile.
pub(crate) async fn dispatch(gateway: Arc<Gateway>, request: Request) -> Response {
    if let Some(page) = gateway.own_page(&request) {
        return page;
    }
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let mut fields = LogFields::default();
    let mut response = match gateway.handle(peer, request, &mut fields).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    };
    response.extensions_mut().insert(fields);
    response
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

    /// Puts `gateway` in service; the previous one is dropped once its last request ends.
    pub fn replace(&self, gateway: Gateway) {
        self.current.store(Arc::new(gateway));
    }

    /// Everything the listener serves (see `crate::stack`), over the gateway in service.
    pub fn service(&self) -> GatewayService {
        stack::build(self, None)
    }

    /// [`Handle::service`] with `custom` routes tried before the generated ones, behind the
    /// same layers.
    pub fn service_with(&self, custom: Router) -> GatewayService {
        stack::build(self, Some(custom))
    }
}

/// Serves `gateway` on `listener` until `shutdown` completes, then finishes in-flight requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    gateway: Gateway,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = gateway.connection_limits();
    crate::listener::serve(listener, gateway.into_service(), limits, shutdown).await
}

/// CORS for the configured origins. Preflights are answered here, before any credential is
/// asked for; every other response gets the CORS headers, errors included, so a page can read
/// why its call failed.
fn cors_layer(config: &CorsConfig, api_key_header: HeaderName) -> CorsLayer {
    let origin = if config.origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(
            config
                .origins
                .iter()
                .filter_map(|o| HeaderValue::from_str(o).ok()),
        )
    };
    let allow_headers: Vec<HeaderName> = [
        header::AUTHORIZATION,
        header::CONTENT_TYPE,
        HeaderName::from_static("grpc-timeout"),
        api_key_header,
        REQUEST_ID,
        // Sent by gRPC-Web clients.
        HeaderName::from_static("x-grpc-web"),
        HeaderName::from_static("x-user-agent"),
    ]
    .into_iter()
    .chain(
        config
            .allow_headers
            .iter()
            .filter_map(|h| HeaderName::from_bytes(h.as_bytes()).ok()),
    )
    .collect();
    let expose_headers: Vec<HeaderName> = [
        REQUEST_ID,
        header::RETRY_AFTER,
        header::WWW_AUTHENTICATE,
        HeaderName::from_static("ratelimit-limit"),
        HeaderName::from_static("ratelimit-remaining"),
        HeaderName::from_static("ratelimit-reset"),
        // A gRPC-Web status in the headers (trailers-only answers) must be readable.
        HeaderName::from_static("grpc-status"),
        HeaderName::from_static("grpc-message"),
        HeaderName::from_static("grpc-status-details-bin"),
    ]
    .into_iter()
    .chain(
        config
            .expose_headers
            .iter()
            .filter_map(|h| HeaderName::from_bytes(h.as_bytes()).ok()),
    )
    .collect();
    CorsLayer::new()
        .allow_origin(origin)
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers(allow_headers)
        .expose_headers(expose_headers)
        .allow_credentials(config.credentials)
        .max_age(config.max_age)
}

/// Takes one call from `policy`'s rate limit, if it has one (`None` otherwise, at no cost):
/// the `RateLimit-*` headers for the response, or 429. Shared by REST and the gRPC ingress.
fn take_rate_limit(
    policy: &RoutePolicy,
    identity: Option<&Identity>,
    client: Option<std::net::IpAddr>,
) -> Option<RateLimitFuture> {
    let (limit, by) = policy.rate_limit.as_ref()?;
    // Namespaced, so a subject named like an address cannot share an address's bucket; a
    // call without the identity the limit counts by falls back to its address.
    let ip = || format!("ip:{}", client.map_or_else(String::new, |c| c.to_string()));
    let key = match (by, identity) {
        (RateLimitKey::Subject, Some(identity)) => format!("sub:{}", identity.subject),
        (
            RateLimitKey::ApiKey,
            Some(Identity {
                api_key: Some(name),
                ..
            }),
        ) => {
            format!("key:{name}")
        }
        _ => ip(),
    };
    let limit = limit.clone();
    Some(Box::pin(async move {
        match limit.decide(&key).await {
            Decision::Allowed(allowed) => Ok(allowed.headers().into_iter().collect()),
            Decision::AllowedUnchecked => Ok(Vec::new()),
            Decision::Limited(limited) => Err(GatewayError::RateLimited {
                retry_after: limited.retry_after_secs(),
                headers: limited.headers().into_iter().collect(),
            }),
            Decision::Unavailable => Err(GatewayError::RateLimitUnavailable),
        }
    }))
}
