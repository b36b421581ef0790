//! `[server]`: the REST listener, request limits, CORS, TLS.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;

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
    /// Serve the OpenAPI document at `/openapi.json` and Swagger UI at `/docs`. Default true.
    pub openapi: bool,
    /// `[server.json]`: how answers are written as JSON; every option off by default (proto3
    /// JSON as the generated code writes it). `[[routes]] json` overrides it key by key.
    pub json: JsonOutputConfig,
    /// The body of REST error answers: `"status"` (google.rpc.Status JSON) or `"problem"`
    /// (RFC 9457 `application/problem+json`). gRPC and gRPC-Web answers are not affected.
    /// Default `"status"`; follows a reload.
    pub errors: ErrorFormat,
    /// Messages a streaming call (a client stream over HTTP, a WebSocket) holds in flight in
    /// each direction before it stops reading more: a slow reader or writer never makes the
    /// gateway buffer without bound. Default 8.
    pub stream_buffer: usize,
    /// A WebSocket call with no message in either direction for this long is ended
    /// (DEADLINE_EXCEEDED). Default 60 s.
    #[serde(with = "humantime_serde")]
    pub stream_idle_timeout: Duration,
}

/// Messages in flight each way on a streaming call.
pub const DEFAULT_STREAM_BUFFER: usize = 8;
/// Time a WebSocket call may pass without a message.
pub const DEFAULT_STREAM_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// `[server.json]`, `[[routes]] json`: options of the JSON answers (not of error bodies, gRPC
/// answers or raw `google.api.HttpBody` answers). A key left out is decided elsewhere: by an
/// earlier `[[routes]]` entry, then `[server.json]`, then false.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct JsonOutputConfig {
    /// Write every field, also one that holds its default value (protojson's
    /// EmitUnpopulated): `0`, `""`, `[]`, `{}`, `null` for an unset message. Unset oneof
    /// members and proto3 `optional` fields stay out.
    #[serde(default)]
    pub emit_defaults: Option<bool>,
    /// Write enum values as their numbers instead of their names.
    #[serde(default)]
    pub enums_as_numbers: Option<bool>,
    /// Name members by their proto field names (`order_id`) instead of lowerCamelCase.
    #[serde(default)]
    pub proto_names: Option<bool>,
}

/// `[server] errors`: how REST error answers are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ErrorFormat {
    /// `{"code", "message", "details"}`: a google.rpc.Status in proto3 JSON.
    #[default]
    Status,
    /// RFC 9457 problem details: `type`, `title`, `status`, `detail`, and the google.rpc
    /// `code` and `details` as extension members.
    Problem,
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
            json: JsonOutputConfig::default(),
            errors: ErrorFormat::Status,
            stream_buffer: DEFAULT_STREAM_BUFFER,
            stream_idle_timeout: DEFAULT_STREAM_IDLE_TIMEOUT,
        }
    }
}

impl ServerConfig {
    /// Checks the request limits and CORS; an error is (key under `server`, reason).
    pub(super) fn validate_limits(&self) -> Result<(), (String, String)> {
        let positive = |key: &str| Err((key.to_string(), "must be greater than 0".to_string()));
        if self.max_headers == 0 {
            return positive("max_headers");
        }
        if self.max_header_bytes.as_u64() < 1024 {
            return Err(("max_header_bytes".into(), "must be at least 1KiB".into()));
        }
        if !(1..=1024).contains(&self.stream_buffer) {
            return Err(("stream_buffer".into(), "must be between 1 and 1024".into()));
        }
        if self.stream_idle_timeout < Duration::from_millis(100) {
            return Err((
                "stream_idle_timeout".into(),
                "must be at least 100ms".into(),
            ));
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
    pub(super) fn validate(&self) -> Result<(), (&'static str, String)> {
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
