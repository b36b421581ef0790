//! `[auth]`: JWT issuers, API keys and the default policy.

use std::time::Duration;

use serde::Deserialize;

/// Leeway on a JWT's `exp` and `nbf` for clocks that disagree.
pub const DEFAULT_JWT_LEEWAY: Duration = Duration::from_secs(30);
/// How often keys from a `jwks_url` or OIDC discovery are fetched again.
pub const DEFAULT_JWKS_REFRESH: Duration = Duration::from_secs(300);
/// The header an API key is sent in.
pub const DEFAULT_API_KEY_HEADER: &str = "x-api-key";

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

/// `[[auth.jwt]]`: one issuer. At most one of `jwks_file`, `jwks_url`, `hs256_secret_env`; with
/// none, the keys are found by OIDC discovery from the issuer's
/// `/.well-known/openid-configuration`, whose `issuer` must equal this one exactly.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtConfig {
    /// The exact `iss` of its tokens; an http(s) URL when the keys are discovered.
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
    /// How often a `jwks_url` (or the discovery document and its `jwks_uri`) is fetched again.
    /// Default 5 min.
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

/// Whether OIDC discovery can start from `issuer`: an http(s) URL with a host, and no query or
/// fragment (which the discovery path could not be appended to).
fn discoverable(issuer: &str) -> bool {
    issuer.parse::<http::Uri>().is_ok_and(|uri| {
        matches!(uri.scheme_str(), Some("http" | "https"))
            && uri.host().is_some_and(|host| !host.is_empty())
            && uri.query().is_none()
    }) && !issuer.contains('#')
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

impl AuthConfig {
    /// Checks issuers and keys; an error is (key under `auth`, reason).
    pub(super) fn validate(&self) -> Result<(), (String, String)> {
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
            match sources.iter().filter(|s| **s).count() {
                0 if !discoverable(&jwt.issuer) => {
                    return Err((
                        at("issuer"),
                        format!(
                            "{:?} must be an http(s) URL to discover its keys; or set jwks_file, \
                             jwks_url or hs256_secret_env",
                            jwt.issuer
                        ),
                    ));
                }
                0 | 1 => {}
                _ => {
                    return Err((
                        format!("jwt[{i}]"),
                        "set at most one of jwks_file, jwks_url and hs256_secret_env".into(),
                    ));
                }
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
