//! `[[backends]]`: who serves which services, at which endpoints, with which pool settings.

use std::time::Duration;

use serde::Deserialize;

/// HTTP/2 connections per backend endpoint: two let a multi-threaded backend work on two
/// connections at once and keep one connection's flow control from limiting the other.
pub const DEFAULT_CONNECTIONS_PER_ENDPOINT: usize = 2;
/// Calls to one backend in flight at once (retries included) before new ones get 503.
pub const DEFAULT_MAX_PENDING: usize = 1024;
/// How long to wait for a TCP connection to a backend endpoint.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How often a hostname endpoint is resolved again.
pub const DEFAULT_DNS_REFRESH: Duration = Duration::from_secs(5);

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

/// `[[backends]]`: a set of endpoints serving some gRPC services.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackendConfig {
    pub name: String,
    /// Full proto service names, e.g. `users.v1.UserService`.
    pub services: Vec<String>,
    /// `http://host:port` URIs.
    pub endpoints: Vec<String>,
    /// Take the descriptors of `services` from the backend's own grpc.reflection service, at
    /// start-up and on every reload.
    #[serde(default)]
    pub reflection: bool,
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
    /// The largest reply message read from this backend (a raw download sent whole is one
    /// message); a larger one fails the call with 502.
    #[serde(default = "default_max_response_message")]
    pub max_response_message: bytesize::ByteSize,
}

/// gRPC's customary limit on a received message, tonic's default.
pub const DEFAULT_MAX_RESPONSE_MESSAGE: u64 = 4 * 1024 * 1024;

fn default_max_response_message() -> bytesize::ByteSize {
    bytesize::ByteSize::b(DEFAULT_MAX_RESPONSE_MESSAGE)
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

impl BackendConfig {
    /// One service at one endpoint, every other key at its default.
    pub fn new(name: &str, service: &str, endpoint: &str) -> BackendConfig {
        BackendConfig {
            name: name.to_string(),
            services: vec![service.to_string()],
            endpoints: vec![endpoint.to_string()],
            reflection: false,
            timeout: None,
            connections_per_endpoint: DEFAULT_CONNECTIONS_PER_ENDPOINT,
            max_pending: DEFAULT_MAX_PENDING,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            dns_refresh: DEFAULT_DNS_REFRESH,
            health: None,
            outlier: OutlierConfig::default(),
            retry: RetryConfig::default(),
            tls: None,
            max_response_message: default_max_response_message(),
        }
    }

    /// Checks the pool settings; an error is (key under `backends[i]`, reason).
    pub(super) fn validate_pool(&self) -> Result<(), (&'static str, String)> {
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
        // The gRPC length prefix is 32 bits.
        if !(1..=u64::from(u32::MAX)).contains(&self.max_response_message.as_u64()) {
            return Err((
                "max_response_message",
                "must be greater than 0 and less than 4 GiB".into(),
            ));
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

pub(super) fn check_endpoint(endpoint: &str) -> Result<(), String> {
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
