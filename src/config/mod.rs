//! `gatehouse.toml`: plain data, one file per section, with defaults and the checks that need
//! nothing but the data.
//!
//! Unknown keys are refused, and so are endpoint URIs that are not `http://host:port` and
//! limits that cannot work. Every error names the file, the key and the reason. What needs the
//! schema (which services exist, which bindings a `[[routes]]` entry selects, aggregate plans,
//! routes two served services both claim) is checked by the compile step (`crate::gateway`),
//! which `serve`, reload and `gatehouse check` all run.

mod admin;
mod aggregates;
mod auth;
mod backends;
mod rate_limits;
mod routes;
mod schema;
mod server;
mod telemetry;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::Path;

use serde::Deserialize;

pub use admin::*;
pub use aggregates::*;
pub use auth::*;
pub use backends::*;
pub use rate_limits::*;
pub use routes::*;
pub use schema::*;
pub use server::*;
pub use telemetry::*;

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
    /// `[schema]`: protos and descriptor sets read at run time.
    #[serde(default)]
    pub schema: SchemaConfig,
    /// The folder of the config file: relative paths in it are relative to this.
    #[serde(skip)]
    pub base_dir: std::path::PathBuf,
    /// The file it was read from, as errors name it.
    #[serde(skip)]
    pub file: String,
}

/// A configuration that cannot be used: where and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: String,
    pub key: String,
    pub reason: String,
}

impl fmt::Display for ConfigError {
    /// `file: key: reason`, leaving out the parts that are empty (a config built in code has
    /// no file).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for part in [&self.file, &self.key] {
            if !part.is_empty() {
                write!(f, "{part}: ")?;
            }
        }
        f.write_str(&self.reason)
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
                || route.roles.as_ref().is_some_and(|r| !r.is_empty())
                || route.from_identity.as_ref().is_some_and(|f| !f.is_empty());
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
            if route.auth == Some(AuthPolicy::Public)
                && route.from_identity.as_ref().is_some_and(|f| !f.is_empty())
            {
                return Err(fail(
                    format!("routes[{i}].from_identity"),
                    "fields set from the credential need one: a public route cannot have them"
                        .into(),
                ));
            }
            if let Some(status) = route.status
                && !(200..=204).contains(&status)
            {
                return Err(fail(
                    format!("routes[{i}].status"),
                    format!("{status} is not a success status: use 200, 201, 202, 203 or 204"),
                ));
            }
            if let Some(location) = &route.location {
                routes::parse_location(location)
                    .map_err(|reason| fail(format!("routes[{i}].location"), reason))?;
            }
            for (field, source) in route.from_identity.iter().flatten() {
                let at = || format!("routes[{i}].from_identity.{field}");
                let identifier = |p: &str| {
                    p.chars()
                        .next()
                        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                        && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                };
                if !field.split('.').all(identifier) {
                    return Err(fail(
                        at(),
                        format!(
                            "{field:?} is not a field path (write tenant_id or owner.tenant_id)"
                        ),
                    ));
                }
                crate::config::IdentitySource::parse(source)
                    .map_err(|reason| fail(at(), reason))?;
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
            if route.max_body.is_some_and(|b| b.as_u64() == 0) {
                return Err(fail(
                    format!("routes[{i}].max_body"),
                    "must be greater than 0".into(),
                ));
            }
            if let Some(accept) = &route.accept {
                if accept.is_empty() {
                    return Err(fail(
                        format!("routes[{i}].accept"),
                        "must list at least one media range; leave it out to accept any".into(),
                    ));
                }
                for range in accept {
                    crate::media_type::MediaRange::parse(range)
                        .map_err(|reason| fail(format!("routes[{i}].accept"), reason))?;
                }
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn error(text: &str) -> String {
        Config::parse("gatehouse.toml", text)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn an_error_leaves_out_what_it_does_not_know() {
        let error = |file: &str, key: &str| {
            ConfigError {
                file: file.into(),
                key: key.into(),
                reason: "why".into(),
            }
            .to_string()
        };
        assert_eq!(
            error("g.toml", "server.listen"),
            "g.toml: server.listen: why"
        );
        assert_eq!(error("g.toml", ""), "g.toml: why");
        assert_eq!(error("", "server.listen"), "server.listen: why");
        assert_eq!(error("", ""), "why");
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
    fn a_jwt_issuer_has_at_most_one_key_source_or_discovers_its_keys() {
        let jwt = |issuer: &str, source: &str| {
            format!("[[auth.jwt]]\nissuer = \"{issuer}\"\naudiences = [\"gatehouse\"]\n{source}")
        };
        for issuer in [
            "https://id.example.com",
            "https://id.example.com/",
            "http://127.0.0.1:8081/realms/main",
        ] {
            Config::parse("t.toml", &jwt(issuer, "")).unwrap();
        }
        for issuer in [
            "foo",
            "id.example.com",
            "ftp://id.example.com",
            "https://",
            "https://id.example.com/?tenant=1",
            "https://id.example.com/#x",
        ] {
            let message = error(&jwt(issuer, ""));
            assert!(message.contains("auth.jwt[0].issuer"), "{message}");
            assert!(
                message.contains(&format!(
                    "{issuer:?} must be an http(s) URL to discover its keys; or set jwks_file, \
                     jwks_url or hs256_secret_env"
                )),
                "{message}"
            );
        }
        // A key source makes the issuer any string, as before.
        Config::parse("t.toml", &jwt("foo", "hs256_secret_env = \"S\"\n")).unwrap();
        let two = error(&jwt(
            "https://id.example.com",
            "jwks_file = \"k.json\"\njwks_url = \"https://id.example.com/k\"\n",
        ));
        assert!(two.contains("auth.jwt[0]: set at most one of"), "{two}");
    }

    #[test]
    fn a_service_belongs_to_one_backend() {
        let text = "[[backends]]\nname = \"a\"\nservices = [\"users.v1.UserService\"]\nendpoints = [\"http://127.0.0.1:1\"]\n\
                    [[backends]]\nname = \"b\"\nservices = [\"users.v1.UserService\"]\nendpoints = [\"http://127.0.0.1:2\"]\n";
        assert!(error(text).contains("already served by backend \"a\""));
    }
}
