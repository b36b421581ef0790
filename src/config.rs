//! `gatehouse.toml`: schema, defaults and validation.
//!
//! Unknown keys are refused, and so are services that were not compiled from proto/, endpoint
//! URIs that are not `http://host:port`, and limits that cannot work. Every error names the
//! file, the key and the reason.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use crate::http_rule::PathTemplate;

/// Where the gateway listens unless told otherwise.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// Largest request body read (bytes).
pub const DEFAULT_MAX_BODY: u64 = 4 * 1024 * 1024;
/// Deadline of a backend call when neither the client nor the config sets one.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);
/// Largest deadline a client may ask for with `Grpc-Timeout`.
pub const DEFAULT_MAX_TIMEOUT: Duration = Duration::from_secs(60);
/// Most request headers.
pub const DEFAULT_MAX_HEADERS: usize = 100;
/// Largest total size of request headers (bytes).
pub const DEFAULT_MAX_HEADER_BYTES: u64 = 16 * 1024;
/// Deepest JSON nesting in a request body.
pub const DEFAULT_MAX_JSON_DEPTH: usize = 64;
/// Requests handled at once by the gateway.
pub const DEFAULT_MAX_CONCURRENT_REQUESTS: usize = 10_000;
/// Time to send the request headers.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Time to send the request body.
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// Leeway on a JWT's `exp` and `nbf` for clocks that disagree.
pub const DEFAULT_JWT_LEEWAY: Duration = Duration::from_secs(30);
/// How often keys from a `jwks_url` are fetched again.
pub const DEFAULT_JWKS_REFRESH: Duration = Duration::from_secs(300);
/// The header an API key is sent in.
pub const DEFAULT_API_KEY_HEADER: &str = "x-api-key";

/// HTTP/2 connections per backend endpoint: two let a multi-threaded backend work on two
/// connections at once and keep one connection's flow control from limiting the other.
pub const DEFAULT_CONNECTIONS_PER_ENDPOINT: usize = 2;
/// Calls to one backend in flight at once (retries included) before new ones get 503.
pub const DEFAULT_MAX_PENDING: usize = 1024;
/// How long to wait for a TCP connection to a backend endpoint.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How often a hostname endpoint is resolved again.
pub const DEFAULT_DNS_REFRESH: Duration = Duration::from_secs(5);

/// The whole configuration file.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub backends: Vec<BackendConfig>,
    #[serde(default)]
    pub auth: AuthConfig,
    #[serde(default)]
    pub routes: Vec<RouteConfig>,
    /// `[[aggregates]]`: routes that combine several calls into one answer.
    #[serde(default)]
    pub aggregates: Vec<AggregateConfig>,
    /// `[admin]`: the operators' listener (metrics, health).
    #[serde(default)]
    pub admin: AdminConfig,
    /// `[telemetry]`: access log and trace export.
    #[serde(default)]
    pub telemetry: TelemetryConfig,
    /// `[rate_limits]`: where rate-limit buckets live.
    #[serde(default)]
    pub rate_limits: RateLimitsConfig,
    /// The folder of the config file: relative paths in it are relative to this.
    #[serde(skip)]
    pub base_dir: std::path::PathBuf,
    /// The file it was read from, as errors name it.
    #[serde(skip)]
    pub file: String,
}

/// `[server]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address of the REST listener. Default `127.0.0.1:8080`.
    pub listen: SocketAddr,
    /// Largest request body, e.g. `"4MiB"`; larger bodies get 413. Default 4 MiB.
    pub max_body: bytesize::ByteSize,
    /// Default deadline of backend calls, e.g. `"15s"`.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Cap on the deadline a client asks for with `Grpc-Timeout`. Default 60 s.
    #[serde(with = "humantime_serde")]
    pub max_timeout: Duration,
    /// Serve methods without a google.api.http annotation at `POST /pkg.Service/Method`.
    /// Default true.
    pub implicit_routes: bool,
    /// Ignore query parameters that name no field instead of answering 400. Default false.
    pub ignore_unknown_query_parameters: bool,
    /// Request headers passed to backends as metadata in addition to `authorization`,
    /// `x-request-id`, `traceparent` and `tracestate`.
    pub forward_headers: Vec<String>,
    /// Peers whose `X-Forwarded-For` is believed (CIDR blocks or addresses). Default none:
    /// the client is always the TCP peer.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Most request headers; more get 431. Default 100.
    pub max_headers: usize,
    /// Largest total size of the request headers (names and values); larger get 431.
    /// Default 16 KiB.
    pub max_header_bytes: bytesize::ByteSize,
    /// Deepest JSON nesting accepted in a body; deeper gets 400. Default 64.
    pub max_json_depth: usize,
    /// Requests handled at once by the whole gateway; more get 503 with `Retry-After`.
    /// Default 10000.
    pub max_concurrent_requests: usize,
    /// Time a client has to send the request headers; slower connections are closed.
    /// Default 10 s.
    #[serde(with = "humantime_serde")]
    pub header_read_timeout: Duration,
    /// Time a client has to send the request body; slower gets 408. Default 30 s.
    #[serde(with = "humantime_serde")]
    pub body_timeout: Duration,
    /// Cross-origin requests from browsers; none allowed when absent.
    pub cors: Option<CorsConfig>,
    /// `[server.tls]`: serve HTTPS (HTTP/1.1 and HTTP/2 by ALPN) instead of plain HTTP and h2c.
    pub tls: Option<ServerTlsConfig>,
    /// Proxy native gRPC and gRPC-Web requests (`content-type: application/grpc*`) for the
    /// configured services on the same port. Default true.
    pub grpc: bool,
    /// Serve gRPC server reflection (v1 and v1alpha) for every compiled service. Default true.
    pub reflection: bool,
    /// Serve the OpenAPI document at `/openapi.json` and the API page at `/docs`. Default true.
    pub openapi: bool,
}

/// `[server.tls]`: the listener's certificate.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerTlsConfig {
    /// PEM certificate chain, leaf first (relative to the config file).
    pub cert_file: std::path::PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: std::path::PathBuf,
}

/// `[backends.tls]`: how `https://` endpoints are reached.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackendTlsConfig {
    /// PEM CA certificates to trust instead of the public web roots.
    pub ca_file: Option<std::path::PathBuf>,
    /// Client certificate chain and key, for backends that require mutual TLS.
    pub cert_file: Option<std::path::PathBuf>,
    pub key_file: Option<std::path::PathBuf>,
    /// The name to verify the backend's certificate against, when it is not the endpoint's
    /// host (for example an IP endpoint with a certificate for a name).
    pub domain: Option<String>,
}

/// `[server.cors]`: which browser origins may call the API.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorsConfig {
    /// Exact origins, e.g. `https://app.example.com`; `"*"` alone allows any origin (not
    /// with `credentials`).
    pub origins: Vec<String>,
    /// Allow cookies and `Authorization` from those origins (`Access-Control-Allow-Credentials`).
    #[serde(default)]
    pub credentials: bool,
    /// How long a browser may cache a preflight answer. Default 1 h.
    #[serde(default = "default_cors_max_age", with = "humantime_serde")]
    pub max_age: Duration,
    /// Request headers allowed besides `authorization`, `content-type`, `grpc-timeout`, the API
    /// key header, `x-request-id`, `x-grpc-web` and `x-user-agent`.
    #[serde(default)]
    pub allow_headers: Vec<String>,
    /// Response headers a page may read besides `x-request-id`, `retry-after`,
    /// `www-authenticate`, `ratelimit-*`, `grpc-status`, `grpc-message` and
    /// `grpc-status-details-bin` (`grpc-metadata-*` cannot be listed by pattern: name them here).
    #[serde(default)]
    pub expose_headers: Vec<String>,
}

fn default_cors_max_age() -> Duration {
    Duration::from_secs(3600)
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: DEFAULT_LISTEN
                .parse()
                .expect("DEFAULT_LISTEN is an address"),
            max_body: bytesize::ByteSize::b(DEFAULT_MAX_BODY),
            timeout: DEFAULT_TIMEOUT,
            max_timeout: DEFAULT_MAX_TIMEOUT,
            implicit_routes: true,
            ignore_unknown_query_parameters: false,
            forward_headers: Vec::new(),
            trusted_proxies: Vec::new(),
            max_headers: DEFAULT_MAX_HEADERS,
            max_header_bytes: bytesize::ByteSize::b(DEFAULT_MAX_HEADER_BYTES),
            max_json_depth: DEFAULT_MAX_JSON_DEPTH,
            max_concurrent_requests: DEFAULT_MAX_CONCURRENT_REQUESTS,
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            body_timeout: DEFAULT_BODY_TIMEOUT,
            cors: None,
            tls: None,
            grpc: true,
            reflection: true,
            openapi: true,
        }
    }
}

/// `[[backends]]`: a set of endpoints serving some gRPC services.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackendConfig {
    pub name: String,
    /// Full proto service names, e.g. `users.v1.UserService`.
    pub services: Vec<String>,
    /// `http://host:port` URIs.
    pub endpoints: Vec<String>,
    /// Default deadline for this backend's calls; `[server] timeout` when absent.
    #[serde(default, with = "humantime_serde")]
    pub timeout: Option<Duration>,
    /// HTTP/2 connections to each endpoint.
    #[serde(default = "default_connections_per_endpoint")]
    pub connections_per_endpoint: usize,
    /// Calls in flight at once (retries included); more get 503 with `Retry-After`.
    #[serde(default = "default_max_pending")]
    pub max_pending: usize,
    /// How long a TCP connect may take.
    #[serde(default = "default_connect_timeout", with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// How often hostname endpoints are resolved again.
    #[serde(default = "default_dns_refresh", with = "humantime_serde")]
    pub dns_refresh: Duration,
    /// `[backends.health]`: active grpc.health.v1 checks; none when absent.
    #[serde(default)]
    pub health: Option<HealthConfig>,
    /// `[backends.outlier]`: passive ejection of failing endpoints.
    #[serde(default)]
    pub outlier: OutlierConfig,
    /// `[backends.retry]`: when a failed call is sent again.
    #[serde(default)]
    pub retry: RetryConfig,
    /// `[backends.tls]`: CA, client certificate and name for `https://` endpoints.
    #[serde(default)]
    pub tls: Option<BackendTlsConfig>,
}

fn default_connections_per_endpoint() -> usize {
    DEFAULT_CONNECTIONS_PER_ENDPOINT
}

fn default_max_pending() -> usize {
    DEFAULT_MAX_PENDING
}

fn default_connect_timeout() -> Duration {
    DEFAULT_CONNECT_TIMEOUT
}

fn default_dns_refresh() -> Duration {
    DEFAULT_DNS_REFRESH
}

/// `[backends.health]`: grpc.health.v1.Health/Check sent to every endpoint.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthConfig {
    /// Time between checks of one endpoint. Default 5 s.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// A check not answered in this time failed. Default 1 s.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Failed checks in a row that make a healthy endpoint unhealthy. Default 3.
    pub unhealthy_threshold: u32,
    /// Passed checks in a row that make an unhealthy endpoint healthy again. Default 2.
    pub healthy_threshold: u32,
    /// The service name sent in the check; "" asks about the whole server. Default "".
    pub service: String,
}

impl Default for HealthConfig {
    fn default() -> Self {
        HealthConfig {
            interval: Duration::from_secs(5),
            timeout: Duration::from_secs(1),
            unhealthy_threshold: 3,
            healthy_threshold: 2,
            service: String::new(),
        }
    }
}

/// `[backends.outlier]`: an endpoint that keeps failing is left out for a while.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutlierConfig {
    /// Transport failures or UNAVAILABLE answers in a row that eject an endpoint; 0 turns
    /// ejection off. Default 5.
    pub consecutive_failures: u32,
    /// First ejection time; each further ejection of the same endpoint adds this much.
    /// Default 30 s.
    #[serde(with = "humantime_serde")]
    pub base_ejection_time: Duration,
    /// Longest ejection. Default 300 s.
    #[serde(with = "humantime_serde")]
    pub max_ejection_time: Duration,
    /// Most endpoints ejected at once, as a percentage of the pool; at least one endpoint
    /// of a pool of two or more may always be ejected, and never all of them. Default 50.
    pub max_ejected_percent: u32,
}

impl Default for OutlierConfig {
    fn default() -> Self {
        OutlierConfig {
            consecutive_failures: 5,
            base_ejection_time: Duration::from_secs(30),
            max_ejection_time: Duration::from_secs(300),
            max_ejected_percent: 50,
        }
    }
}

/// `[backends.retry]`: failed calls are sent again only when that is safe.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    /// Extra attempts per call. Default 2; 0 turns retries off.
    pub max_retries: u32,
    /// Retries allowed, as a percentage of the calls of the last 10 seconds. Default 20.
    pub budget_percent: u32,
    /// Retries allowed per second whatever the traffic (so a quiet backend can still be
    /// retried). Default 10.
    pub min_retries_per_second: u32,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            max_retries: 2,
            budget_percent: 20,
            min_retries_per_second: 10,
        }
    }
}

/// `[auth]`: who may call, checked before any backend is.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// The policy of routes that set none.
    pub default: AuthPolicy,
    /// `[[auth.jwt]]`: issuers whose bearer tokens are accepted.
    pub jwt: Vec<JwtConfig>,
    /// `[[auth.api_keys]]`: API keys, by the SHA-256 of the key.
    pub api_keys: Vec<ApiKeyConfig>,
    /// The request header an API key is sent in. Default `x-api-key`.
    pub api_key_header: String,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            default: AuthPolicy::Public,
            jwt: Vec::new(),
            api_keys: Vec::new(),
            api_key_header: DEFAULT_API_KEY_HEADER.to_string(),
        }
    }
}

/// Whether a route needs a credential.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthPolicy {
    #[default]
    Public,
    Authenticated,
}

/// `[[auth.jwt]]`: one issuer. Exactly one of `jwks_file`, `jwks_url`, `hs256_secret_env`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtConfig {
    /// The exact `iss` of its tokens.
    pub issuer: String,
    /// Accepted `aud` values; a token must name one of them.
    pub audiences: Vec<String>,
    /// A JWKS document on disk (relative to the config file).
    #[serde(default)]
    pub jwks_file: Option<std::path::PathBuf>,
    /// A JWKS document over HTTP(S), cached and fetched again every `jwks_refresh`.
    #[serde(default)]
    pub jwks_url: Option<String>,
    /// The environment variable holding an HS256 secret.
    #[serde(default)]
    pub hs256_secret_env: Option<String>,
    /// Leeway on `exp` and `nbf`. Default 30 s.
    #[serde(default = "default_jwt_leeway", with = "humantime_serde")]
    pub leeway: Duration,
    /// How often a `jwks_url` is fetched again. Default 5 min.
    #[serde(default = "default_jwks_refresh", with = "humantime_serde")]
    pub jwks_refresh: Duration,
    /// The claim holding the caller's roles: an array of strings or a space-separated string.
    /// A claim with exactly this name wins (`https://example.com/roles`); otherwise dots walk
    /// into objects (`realm_access.roles`). Default `roles`.
    #[serde(default = "default_roles_claim")]
    pub roles_claim: String,
}

fn default_jwt_leeway() -> Duration {
    DEFAULT_JWT_LEEWAY
}

fn default_jwks_refresh() -> Duration {
    DEFAULT_JWKS_REFRESH
}

fn default_roles_claim() -> String {
    "roles".to_string()
}

/// `[[auth.api_keys]]`: one API key, stored as its SHA-256 only.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyConfig {
    /// Who the key belongs to; sent to backends as the subject.
    pub name: String,
    /// Lowercase or uppercase hex of SHA-256(key).
    pub sha256: String,
    #[serde(default)]
    pub roles: Vec<String>,
}

/// `[admin] listen` when the config does not set it: loopback only. (`gatehouse demo` takes a
/// free port instead, unless `--admin-listen` names one.)
pub const DEFAULT_ADMIN_LISTEN: &str = "127.0.0.1:9901";
/// How long in-flight requests may take to finish after SIGTERM.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(20);

/// `[admin]`: `/metrics`, `/healthz` and `/readyz`; nothing here changes state.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// Address of the admin listener. Default `127.0.0.1:9901`.
    pub listen: SocketAddr,
    /// After SIGTERM, how long in-flight requests and streams may take to finish. Default 20 s.
    #[serde(with = "humantime_serde")]
    pub drain_timeout: Duration,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            listen: DEFAULT_ADMIN_LISTEN
                .parse()
                .expect("DEFAULT_ADMIN_LISTEN is an address"),
            drain_timeout: DEFAULT_DRAIN_TIMEOUT,
        }
    }
}

/// `[telemetry]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetryConfig {
    /// One JSON line per request on stdout (`"json"`, default) or none (`"off"`).
    pub access_log: AccessLog,
    /// OTLP/gRPC collector that receives one span per request, e.g. `"http://127.0.0.1:4317"`.
    /// Empty (default): no export.
    pub otlp_endpoint: String,
    /// `service.name` of the exported spans. Default `"gatehouse"`.
    pub otlp_service_name: String,
    /// Share of the traces started here that are sampled (0.0 to 1.0, default 1.0). A caller's
    /// `traceparent` decides for its own trace.
    pub otlp_sample_ratio: f64,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        TelemetryConfig {
            access_log: AccessLog::Json,
            otlp_endpoint: String::new(),
            otlp_service_name: "gatehouse".into(),
            otlp_sample_ratio: 1.0,
        }
    }
}

impl TelemetryConfig {
    fn validate(&self) -> Result<(), (&'static str, String)> {
        if !self.otlp_endpoint.is_empty() {
            let uri: http::Uri = self
                .otlp_endpoint
                .parse()
                .map_err(|e| ("otlp_endpoint", format!("{:?}: {e}", self.otlp_endpoint)))?;
            if uri.scheme_str() != Some("http") || uri.host().is_none() {
                return Err((
                    "otlp_endpoint",
                    format!(
                        "{:?} must be http://host:port (OTLP/gRPC without TLS, as to a \
                         collector next to the gateway)",
                        self.otlp_endpoint
                    ),
                ));
            }
        }
        if self.otlp_service_name.trim().is_empty() {
            return Err(("otlp_service_name", "must not be empty".into()));
        }
        if !(0.0..=1.0).contains(&self.otlp_sample_ratio) {
            return Err((
                "otlp_sample_ratio",
                format!("{} is not between 0.0 and 1.0", self.otlp_sample_ratio),
            ));
        }
        Ok(())
    }
}

/// `[rate_limits]`: where the buckets of `[[routes]] rate_limit` live.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitsConfig {
    /// `"memory"` (default: each process counts alone) or `"redis://host:port[/db]"`: every
    /// replica using the same Redis shares each quota.
    pub store: String,
    /// What a call gets while the store is unreachable or slow: `"allow"` (default) or `"deny"`
    /// (503 `RATE_LIMIT_UNAVAILABLE`).
    pub on_store_error: StoreErrorPolicy,
    /// Budget for one decision in the store; past it, `on_store_error` applies. Default 5 ms.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
}

/// Default `[rate_limits] timeout`.
pub const DEFAULT_RATE_LIMIT_STORE_TIMEOUT: Duration = Duration::from_millis(5);

impl Default for RateLimitsConfig {
    fn default() -> Self {
        RateLimitsConfig {
            store: "memory".into(),
            on_store_error: StoreErrorPolicy::Allow,
            timeout: DEFAULT_RATE_LIMIT_STORE_TIMEOUT,
        }
    }
}

impl RateLimitsConfig {
    fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.store != "memory" {
            if !self.store.starts_with("redis://") {
                return Err((
                    "store",
                    format!(
                        "{:?} must be \"memory\" or redis://host:port (TLS is not supported)",
                        self.store
                    ),
                ));
            }
            redis::Client::open(self.store.as_str()).map_err(|e| ("store", e.to_string()))?;
        }
        if self.timeout.is_zero() {
            return Err(("timeout", "must be greater than 0".into()));
        }
        Ok(())
    }
}

/// `[rate_limits] on_store_error`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreErrorPolicy {
    Allow,
    Deny,
}

/// The access log's format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccessLog {
    Json,
    Off,
}

/// `[[aggregates]]`: one HTTP route answered by several backend calls, run concurrently where
/// they do not depend on each other.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AggregateConfig {
    /// `VERB /template`, e.g. `GET /api/user-dashboard/{user_id}`.
    pub route: String,
    /// Deadline of the whole plan; `[server] timeout` when absent.
    #[serde(default, with = "humantime_serde")]
    pub timeout: Option<Duration>,
    /// `[[aggregates.calls]]`.
    pub calls: Vec<AggregateCallConfig>,
}

/// `[[aggregates.calls]]`: one backend call of an aggregate.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AggregateCallConfig {
    /// The call's key in the answer, and how other calls refer to its response.
    pub name: String,
    /// `pkg.Service/Method`, a unary method.
    pub method: String,
    /// Request fields (dotted paths or nested tables) and their values: literals, or one
    /// reference as the whole string: `"{path_variable}"`, `"{query.name}"` or
    /// `"{call.field[*].field}"`.
    #[serde(default)]
    pub request: toml::Table,
    /// A required call failing fails the whole request; an optional one is reported in
    /// `errors`. Default false.
    #[serde(default)]
    pub required: bool,
}

/// A rate limit: a token bucket (GCRA) per key.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Sustained rate; exactly one of `per_second` and `per_minute`.
    #[serde(default)]
    pub per_second: Option<u32>,
    #[serde(default)]
    pub per_minute: Option<u32>,
    /// Calls allowed at once after a quiet spell. Default: the per-second or per-minute count.
    #[serde(default)]
    pub burst: Option<u32>,
    /// What the limit counts by. Default `ip`.
    #[serde(default)]
    pub key: RateLimitKey,
}

/// What a rate limit counts by.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RateLimitKey {
    /// The client address (see `trusted_proxies`).
    #[default]
    Ip,
    /// The authenticated subject (JWT `sub` or API key name); the client address when the call
    /// has none.
    Subject,
    /// The API key's name; the client address when the call has none.
    ApiKey,
}

/// `[[routes]]`: settings for the bindings it selects, by gRPC method (`method`) or by HTTP
/// binding (`route`); exactly one of the two.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// `pkg.Service/Method` or `pkg.Service/*`: every HTTP binding of those methods.
    #[serde(default)]
    pub method: Option<String>,
    /// `VERB /template`, e.g. `GET /api/users/{user_id}`: the one binding with that HTTP method
    /// and an equivalent template (variable names may differ).
    #[serde(default)]
    pub route: Option<String>,
    /// Deadline for these methods' calls.
    #[serde(default, with = "humantime_serde")]
    pub timeout: Option<Duration>,
    /// Whether a call that failed with UNAVAILABLE may be sent again, overriding the
    /// method's proto `idempotency_level`.
    #[serde(default)]
    pub idempotent: Option<bool>,
    /// Whether these methods need a credential; `[auth] default` when absent.
    #[serde(default)]
    pub auth: Option<AuthPolicy>,
    /// The caller must hold one of these roles (implies `auth = "authenticated"`).
    #[serde(default)]
    pub roles: Option<Vec<String>>,
    /// Calls allowed per key.
    #[serde(default)]
    pub rate_limit: Option<RateLimitConfig>,
}

impl RouteConfig {
    /// Settings for the methods `pattern` selects (`pkg.Service/Method` or `pkg.Service/*`).
    pub fn for_method(pattern: &str) -> RouteConfig {
        RouteConfig {
            method: Some(pattern.to_string()),
            ..RouteConfig::default()
        }
    }

    /// Whether this entry selects the HTTP binding `http_method template`, which calls
    /// `method` (`None` for an aggregate route).
    pub fn selects_binding(
        &self,
        http_method: &str,
        template: &str,
        method: Option<(&str, &str)>,
    ) -> bool {
        if self.method.is_some() {
            return method.is_some_and(|(service, method)| self.selects_method(service, method));
        }
        let Some((verb, wanted)) = self.route.as_deref().and_then(|r| r.split_once(' ')) else {
            return false;
        };
        let (Ok(wanted), Ok(bound)) = (
            PathTemplate::parse(wanted.trim()),
            PathTemplate::parse(template),
        ) else {
            return false;
        };
        verb.eq_ignore_ascii_case(http_method) && wanted.equivalent(&bound)
    }

    /// Whether this entry's `method` pattern selects `service/method` (entries that name an
    /// HTTP binding select no method as such).
    pub fn selects_method(&self, service: &str, method: &str) -> bool {
        match self.method.as_deref().and_then(|p| p.split_once('/')) {
            Some((s, "*")) => s == service,
            Some((s, m)) => s == service && m == method,
            None => false,
        }
    }
}

/// A configuration that cannot be used: where and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: String,
    pub key: String,
    pub reason: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            write!(f, "{}: {}", self.file, self.reason)
        } else {
            write!(f, "{}: {}: {}", self.file, self.key, self.reason)
        }
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Reads, parses and validates a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: file.clone(),
            key: String::new(),
            reason: format!("cannot read: {e}"),
        })?;
        let mut config = Config::parse(&file, &text)?;
        config.base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Ok(config)
    }

    /// Parses and validates config text; `file` is used in error messages.
    pub fn parse(file: &str, text: &str) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| ConfigError {
            file: file.to_string(),
            key: String::new(),
            reason: e.to_string().trim_end().to_string(),
        })?;
        config.validate(file)?;
        Ok(Config {
            file: file.to_string(),
            ..config
        })
    }

    /// Checks everything serde cannot: names, URIs, limits.
    pub fn validate(&self, file: &str) -> Result<(), ConfigError> {
        let fail = |key: String, reason: String| ConfigError {
            file: file.to_string(),
            key,
            reason,
        };
        let server = &self.server;
        if server.max_body.as_u64() == 0 {
            return Err(fail(
                "server.max_body".into(),
                "must be greater than 0".into(),
            ));
        }
        if server.timeout.is_zero() {
            return Err(fail(
                "server.timeout".into(),
                "must be greater than 0".into(),
            ));
        }
        if server.max_timeout < server.timeout {
            return Err(fail(
                "server.max_timeout".into(),
                "must not be smaller than server.timeout".into(),
            ));
        }
        for (i, header) in server.forward_headers.iter().enumerate() {
            if http::HeaderName::from_bytes(header.as_bytes()).is_err() {
                return Err(fail(
                    format!("server.forward_headers[{i}]"),
                    format!("{header:?} is not a valid header name"),
                ));
            }
            if crate::grpc::metadata::IDENTITY_METADATA
                .contains(&header.to_ascii_lowercase().as_str())
            {
                return Err(fail(
                    format!("server.forward_headers[{i}]"),
                    format!("{header:?} carries the verified caller; the gateway sets it"),
                ));
            }
        }
        server
            .validate_limits()
            .map_err(|(key, reason)| fail(format!("server.{key}"), reason))?;
        self.auth
            .validate()
            .map_err(|(key, reason)| fail(format!("auth.{key}"), reason))?;
        self.telemetry
            .validate()
            .map_err(|(key, reason)| fail(format!("telemetry.{key}"), reason))?;
        self.rate_limits
            .validate()
            .map_err(|(key, reason)| fail(format!("rate_limits.{key}"), reason))?;
        let credentials = !self.auth.jwt.is_empty() || !self.auth.api_keys.is_empty();
        if self.auth.default == AuthPolicy::Authenticated && !credentials {
            return Err(fail(
                "auth.default".into(),
                "\"authenticated\" needs a credential to check: add [[auth.jwt]] or \
                 [[auth.api_keys]]"
                    .into(),
            ));
        }

        let mut owners: HashMap<&str, &str> = HashMap::new();
        let mut names: HashMap<&str, usize> = HashMap::new();
        for (i, backend) in self.backends.iter().enumerate() {
            let at = |key: &str| format!("backends[{i}].{key}");
            if backend.name.trim().is_empty() {
                return Err(fail(at("name"), "must not be empty".into()));
            }
            if let Some(first) = names.insert(&backend.name, i) {
                return Err(fail(
                    at("name"),
                    format!("{:?} is also the name of backends[{first}]", backend.name),
                ));
            }
            if backend.services.is_empty() {
                return Err(fail(
                    at("services"),
                    "must name at least one service".into(),
                ));
            }
            for (j, service) in backend.services.iter().enumerate() {
                if let Some(other) = owners.insert(service, &backend.name) {
                    return Err(fail(
                        format!("backends[{i}].services[{j}]"),
                        format!("{service:?} is already served by backend {other:?}"),
                    ));
                }
            }
            if backend.endpoints.is_empty() {
                return Err(fail(
                    at("endpoints"),
                    "must list at least one endpoint".into(),
                ));
            }
            for (j, endpoint) in backend.endpoints.iter().enumerate() {
                check_endpoint(endpoint)
                    .map_err(|reason| fail(format!("backends[{i}].endpoints[{j}]"), reason))?;
            }
            if let Some(timeout) = backend.timeout
                && (timeout.is_zero() || timeout > server.max_timeout)
            {
                return Err(fail(
                    at("timeout"),
                    "must be greater than 0 and at most server.max_timeout".into(),
                ));
            }
            backend
                .validate_pool()
                .map_err(|(key, reason)| fail(at(key), reason))?;
            let schemes: HashSet<&str> = backend
                .endpoints
                .iter()
                .filter_map(|e| e.split_once("://").map(|(scheme, _)| scheme))
                .collect();
            if schemes.len() > 1 {
                return Err(fail(
                    at("endpoints"),
                    "mixes http:// and https://; a backend is reached one way".into(),
                ));
            }
            if let Some(tls) = &backend.tls {
                if !schemes.contains("https") {
                    return Err(fail(
                        at("tls"),
                        "is set but the endpoints are http://; use https:// endpoints".into(),
                    ));
                }
                if tls.cert_file.is_some() != tls.key_file.is_some() {
                    return Err(fail(
                        at("tls"),
                        "cert_file and key_file go together (a client certificate needs its key)"
                            .into(),
                    ));
                }
            }
        }

        for (i, route) in self.routes.iter().enumerate() {
            match (&route.method, &route.route) {
                (Some(_), Some(_)) | (None, None) => {
                    return Err(fail(
                        format!("routes[{i}]"),
                        "set exactly one of method (\"pkg.Service/Method\") and route \
                         (\"GET /v1/things/{id}\")"
                            .into(),
                    ));
                }
                _ => {}
            }
            if let Some(timeout) = route.timeout
                && (timeout.is_zero() || timeout > server.max_timeout)
            {
                return Err(fail(
                    format!("routes[{i}].timeout"),
                    "must be greater than 0 and at most server.max_timeout".into(),
                ));
            }
            let needs_credential = route.auth == Some(AuthPolicy::Authenticated)
                || route.roles.as_ref().is_some_and(|r| !r.is_empty());
            if needs_credential && !credentials {
                return Err(fail(
                    format!("routes[{i}]"),
                    "requires authentication, and no [[auth.jwt]] or [[auth.api_keys]] is \
                     configured"
                        .into(),
                ));
            }
            if route.auth == Some(AuthPolicy::Public)
                && route.roles.as_ref().is_some_and(|r| !r.is_empty())
            {
                return Err(fail(
                    format!("routes[{i}].roles"),
                    "roles need a credential: a public route cannot require them".into(),
                ));
            }
            if let Some(roles) = &route.roles
                && roles.iter().any(|r| r.trim().is_empty())
            {
                return Err(fail(
                    format!("routes[{i}].roles"),
                    "must not contain an empty role".into(),
                ));
            }
            if let Some(limit) = &route.rate_limit {
                limit
                    .validate()
                    .map_err(|reason| fail(format!("routes[{i}].rate_limit"), reason))?;
            }
        }
        Ok(())
    }

    /// What the last `[[routes]]` entry that `selects` accepts and that sets `key` gives it:
    /// the one rule by which `[[routes]]` settings combine.
    pub fn route_setting<T>(
        &self,
        selects: impl Fn(&RouteConfig) -> bool,
        key: impl Fn(&RouteConfig) -> Option<T>,
    ) -> Option<T> {
        self.route_setting_at(selects, key).map(|(_, value)| value)
    }

    /// [`Config::route_setting`] with the index of the entry that set it.
    pub fn route_setting_at<T>(
        &self,
        selects: impl Fn(&RouteConfig) -> bool,
        key: impl Fn(&RouteConfig) -> Option<T>,
    ) -> Option<(usize, T)> {
        self.routes
            .iter()
            .enumerate()
            .rev()
            .filter(|(_, r)| selects(r))
            .find_map(|(i, r)| key(r).map(|value| (i, value)))
    }

    /// The backend that serves `service`, if any.
    pub fn backend_for(&self, service: &str) -> Option<&BackendConfig> {
        self.backends
            .iter()
            .find(|b| b.services.iter().any(|s| s == service))
    }
}

impl ServerConfig {
    /// Checks the request limits and CORS; an error is (key under `server`, reason).
    fn validate_limits(&self) -> Result<(), (String, String)> {
        let positive = |key: &str| Err((key.to_string(), "must be greater than 0".to_string()));
        if self.max_headers == 0 {
            return positive("max_headers");
        }
        if self.max_header_bytes.as_u64() < 1024 {
            return Err(("max_header_bytes".into(), "must be at least 1KiB".into()));
        }
        if !(1..=1000).contains(&self.max_json_depth) {
            return Err(("max_json_depth".into(), "must be between 1 and 1000".into()));
        }
        if self.max_concurrent_requests == 0 {
            return positive("max_concurrent_requests");
        }
        if self.header_read_timeout.is_zero() {
            return positive("header_read_timeout");
        }
        if self.body_timeout.is_zero() {
            return positive("body_timeout");
        }
        if let Some(cors) = &self.cors {
            cors.validate()
                .map_err(|(key, reason)| (format!("cors.{key}"), reason))?;
        }
        Ok(())
    }
}

impl CorsConfig {
    fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.origins.is_empty() {
            return Err(("origins", "must list at least one origin".into()));
        }
        let any = self.origins.iter().any(|o| o == "*");
        if any && self.origins.len() > 1 {
            return Err(("origins", "\"*\" must be the only origin".into()));
        }
        if any && self.credentials {
            return Err((
                "credentials",
                "cannot be true with origins = [\"*\"]: browsers refuse credentials for any \
                 origin; list the origins"
                    .into(),
            ));
        }
        for origin in self.origins.iter().filter(|o| *o != "*") {
            let uri: http::Uri = origin
                .parse()
                .map_err(|_| ("origins", format!("{origin:?} is not an origin")))?;
            let plain = matches!(uri.scheme_str(), Some("http" | "https"))
                && uri.authority().is_some()
                && origin.trim_end_matches('/') == origin.as_str()
                && matches!(uri.path(), "" | "/")
                && uri.query().is_none();
            if !plain {
                return Err((
                    "origins",
                    format!("{origin:?} is not an origin like https://app.example.com"),
                ));
            }
        }
        for header in self.allow_headers.iter().chain(&self.expose_headers) {
            if http::HeaderName::from_bytes(header.as_bytes()).is_err() {
                return Err(("allow_headers", format!("{header:?} is not a header name")));
            }
        }
        Ok(())
    }
}

impl AuthConfig {
    /// Checks issuers and keys; an error is (key under `auth`, reason).
    fn validate(&self) -> Result<(), (String, String)> {
        let header = self.api_key_header.to_ascii_lowercase();
        if http::HeaderName::from_bytes(header.as_bytes()).is_err() || header == "authorization" {
            return Err((
                "api_key_header".into(),
                format!("{:?} is not a usable header name", self.api_key_header),
            ));
        }
        for (i, jwt) in self.jwt.iter().enumerate() {
            let at = |key: &str| format!("jwt[{i}].{key}");
            if jwt.issuer.trim().is_empty() {
                return Err((at("issuer"), "must not be empty".into()));
            }
            if self.jwt[..i].iter().any(|other| other.issuer == jwt.issuer) {
                return Err((
                    at("issuer"),
                    format!("{:?} is configured twice", jwt.issuer),
                ));
            }
            if jwt.audiences.is_empty() || jwt.audiences.iter().any(|a| a.is_empty()) {
                return Err((
                    at("audiences"),
                    "must list at least one non-empty audience".into(),
                ));
            }
            let sources = [
                jwt.jwks_file.is_some(),
                jwt.jwks_url.is_some(),
                jwt.hs256_secret_env.is_some(),
            ];
            if sources.iter().filter(|s| **s).count() != 1 {
                return Err((
                    format!("jwt[{i}]"),
                    "set exactly one of jwks_file, jwks_url and hs256_secret_env".into(),
                ));
            }
            if let Some(url) = &jwt.jwks_url {
                let uri: http::Uri = url
                    .parse()
                    .map_err(|_| (at("jwks_url"), format!("{url:?} is not a URL")))?;
                if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
                    return Err((at("jwks_url"), format!("{url:?} must be an http(s) URL")));
                }
            }
            if jwt.hs256_secret_env.as_deref().is_some_and(str::is_empty) {
                return Err((at("hs256_secret_env"), "must name a variable".into()));
            }
            if jwt.leeway > Duration::from_secs(300) {
                return Err((at("leeway"), "must be at most 5m".into()));
            }
            if jwt.jwks_refresh < Duration::from_secs(10) {
                return Err((at("jwks_refresh"), "must be at least 10s".into()));
            }
            if jwt.roles_claim.is_empty() {
                return Err((at("roles_claim"), "must not be empty".into()));
            }
        }
        for (i, key) in self.api_keys.iter().enumerate() {
            let at = |k: &str| format!("api_keys[{i}].{k}");
            if key.name.trim().is_empty() {
                return Err((at("name"), "must not be empty".into()));
            }
            if self.api_keys[..i]
                .iter()
                .any(|other| other.name == key.name)
            {
                return Err((at("name"), format!("{:?} is used twice", key.name)));
            }
            if key.sha256.len() != 64 || !key.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err((
                    at("sha256"),
                    "must be the 64 hex digits of the key's SHA-256 (never the key itself)".into(),
                ));
            }
            if self.api_keys[..i]
                .iter()
                .any(|other| other.sha256.eq_ignore_ascii_case(&key.sha256))
            {
                return Err((at("sha256"), "the same key is configured twice".into()));
            }
        }
        Ok(())
    }
}

impl RateLimitConfig {
    /// Checks the quota; returns the reason when it cannot work.
    fn validate(&self) -> Result<(), String> {
        match (self.per_second, self.per_minute) {
            (Some(n), None) | (None, Some(n)) if n > 0 => {}
            (Some(_), Some(_)) => return Err("set per_second or per_minute, not both".into()),
            _ => return Err("set per_second or per_minute to a number above 0".into()),
        }
        if self.burst == Some(0) {
            return Err("burst must be greater than 0".into());
        }
        Ok(())
    }
}

impl BackendConfig {
    /// One service at one endpoint, every other key at its default.
    pub fn new(name: &str, service: &str, endpoint: &str) -> BackendConfig {
        BackendConfig {
            name: name.to_string(),
            services: vec![service.to_string()],
            endpoints: vec![endpoint.to_string()],
            timeout: None,
            connections_per_endpoint: DEFAULT_CONNECTIONS_PER_ENDPOINT,
            max_pending: DEFAULT_MAX_PENDING,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            dns_refresh: DEFAULT_DNS_REFRESH,
            health: None,
            outlier: OutlierConfig::default(),
            retry: RetryConfig::default(),
            tls: None,
        }
    }

    /// Checks the pool settings; an error is (key under `backends[i]`, reason).
    fn validate_pool(&self) -> Result<(), (&'static str, String)> {
        let positive = "must be greater than 0".to_string();
        if !(1..=64).contains(&self.connections_per_endpoint) {
            return Err((
                "connections_per_endpoint",
                "must be between 1 and 64".into(),
            ));
        }
        if self.max_pending == 0 {
            return Err(("max_pending", positive));
        }
        if self.connect_timeout.is_zero() {
            return Err(("connect_timeout", positive));
        }
        if self.dns_refresh < Duration::from_millis(100) {
            return Err(("dns_refresh", "must be at least 100ms".into()));
        }
        if let Some(health) = &self.health {
            if health.interval.is_zero() {
                return Err(("health.interval", positive));
            }
            if health.timeout.is_zero() {
                return Err(("health.timeout", positive));
            }
            if health.unhealthy_threshold == 0 {
                return Err(("health.unhealthy_threshold", positive));
            }
            if health.healthy_threshold == 0 {
                return Err(("health.healthy_threshold", positive));
            }
        }
        let outlier = &self.outlier;
        if outlier.base_ejection_time.is_zero() {
            return Err(("outlier.base_ejection_time", positive));
        }
        if outlier.max_ejection_time < outlier.base_ejection_time {
            return Err((
                "outlier.max_ejection_time",
                "must not be smaller than outlier.base_ejection_time".into(),
            ));
        }
        if outlier.max_ejected_percent > 100 {
            return Err(("outlier.max_ejected_percent", "must be at most 100".into()));
        }
        if self.retry.max_retries > 10 {
            return Err(("retry.max_retries", "must be at most 10".into()));
        }
        if self.retry.budget_percent > 100 {
            return Err(("retry.budget_percent", "must be at most 100".into()));
        }
        if self.retry.min_retries_per_second > 1_000_000 {
            return Err((
                "retry.min_retries_per_second",
                "must be at most 1000000".into(),
            ));
        }
        Ok(())
    }
}

fn check_endpoint(endpoint: &str) -> Result<(), String> {
    let uri: http::Uri = endpoint
        .parse()
        .map_err(|e| format!("{endpoint:?} is not a URI: {e}"))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => return Err(format!("{endpoint:?} must start with http:// or https://")),
    }
    let authority = uri
        .authority()
        .ok_or_else(|| format!("{endpoint:?} has no host"))?;
    if authority.host().is_empty() {
        return Err(format!("{endpoint:?} has no host"));
    }
    if authority.port_u16().is_none() {
        return Err(format!("{endpoint:?} has no port"));
    }
    if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
        return Err(format!("{endpoint:?} must not have a path or query"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(text: &str) -> String {
        Config::parse("gatehouse.toml", text)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn defaults_apply() {
        let config = Config::parse("t.toml", "").unwrap();
        assert_eq!(config.server.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(config.server.max_body.as_u64(), DEFAULT_MAX_BODY);
        assert!(config.server.implicit_routes);
    }

    #[test]
    fn errors_name_file_key_and_reason() {
        let unknown = error("[server]\nlisten = \"127.0.0.1:1\"\nlisen = 1\n");
        assert!(unknown.starts_with("gatehouse.toml: "), "{unknown}");
        assert!(unknown.contains("unknown field `lisen`"), "{unknown}");

        let endpoint = error(
            "[[backends]]\nname = \"a\"\nservices = [\"users.v1.UserService\"]\nendpoints = [\"127.0.0.1:1\"]\n",
        );
        assert!(endpoint.contains("backends[0].endpoints[0]"), "{endpoint}");

        let auth = error("[auth]\ndefault = \"authenticated\"\n");
        assert!(auth.contains("auth.default"), "{auth}");
        assert!(auth.contains("needs a credential"), "{auth}");

        let both =
            error("[[routes]]\nmethod = \"users.v1.UserService/*\"\nroute = \"GET /api/users\"\n");
        assert!(both.contains("exactly one of method"), "{both}");
        Config::parse("t.toml", "[[routes]]\nroute = \"get /api/users/{id}\"\n").unwrap();

        let limits = error("[server]\ntimeout = \"10s\"\nmax_timeout = \"1s\"\n");
        assert!(limits.contains("server.max_timeout"), "{limits}");
    }

    #[test]
    fn pool_keys_have_defaults_and_are_checked() {
        let base = "[[backends]]\nname = \"a\"\nservices = [\"users.v1.UserService\"]\nendpoints = [\"http://users.internal:1\"]\n";
        let config = Config::parse("t.toml", base).unwrap();
        let backend = &config.backends[0];
        assert_eq!(
            backend.connections_per_endpoint,
            DEFAULT_CONNECTIONS_PER_ENDPOINT
        );
        assert_eq!(backend.max_pending, DEFAULT_MAX_PENDING);
        assert!(backend.health.is_none());
        assert_eq!(backend.outlier.consecutive_failures, 5);
        assert_eq!(backend.retry.max_retries, 2);

        let health = Config::parse("t.toml", &format!("{base}[backends.health]\n")).unwrap();
        assert_eq!(
            health.backends[0].health.as_ref().unwrap().interval,
            Duration::from_secs(5)
        );

        for (keys, key) in [
            (
                "connections_per_endpoint = 0\n",
                "backends[0].connections_per_endpoint",
            ),
            ("max_pending = 0\n", "backends[0].max_pending"),
            (
                "[backends.health]\nunhealthy_threshold = 0\n",
                "backends[0].health.unhealthy_threshold",
            ),
            (
                "[backends.outlier]\nmax_ejected_percent = 101\n",
                "backends[0].outlier.max_ejected_percent",
            ),
            (
                "[backends.outlier]\nbase_ejection_time = \"10s\"\nmax_ejection_time = \"1s\"\n",
                "backends[0].outlier.max_ejection_time",
            ),
            (
                "[backends.retry]\nbudget_percent = 500\n",
                "backends[0].retry.budget_percent",
            ),
        ] {
            let message = error(&format!("{base}{keys}"));
            assert!(message.contains(key), "{keys}: {message}");
        }
        assert!(error(&format!("{base}[backends.retry]\nattempts = 3\n")).contains("attempts"));
    }

    #[test]
    fn a_service_belongs_to_one_backend() {
        let text = "[[backends]]\nname = \"a\"\nservices = [\"users.v1.UserService\"]\nendpoints = [\"http://127.0.0.1:1\"]\n\
                    [[backends]]\nname = \"b\"\nservices = [\"users.v1.UserService\"]\nendpoints = [\"http://127.0.0.1:2\"]\n";
        assert!(error(text).contains("already served by backend \"a\""));
    }
}
