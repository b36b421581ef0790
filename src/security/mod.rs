//! The edge: who is calling (`jwt`, API keys), what they may call (route policies), how often
//! (`ratelimit`, keyed by `client_ip` or identity), and the request limits that keep hostile
//! input from costing more than a rejection.
//!
//! A request is checked in this order, each step answering in the one JSON error shape:
//! header limits (431), route (404/405), credential (401), roles (403), rate limit (429), then
//! body limits (413, 408, 400) as the body is read.

pub mod client_ip;
pub mod cors;
pub mod identity_fields;
pub mod jwt;
pub mod ratelimit;
pub mod shared;

/// What taking a call from a route's rate limit gives: the `RateLimit-*` headers for the
/// response, or the error to answer with. Owns what it needs, so it can be awaited anywhere.
pub type RateLimitFuture = std::pin::Pin<
    Box<
        dyn std::future::Future<
                Output = Result<
                    Vec<(http::HeaderName, http::HeaderValue)>,
                    crate::error::GatewayError,
                >,
            > + Send,
    >,
>;

use std::sync::Arc;

use http::{HeaderMap, HeaderName, header};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::{AuthPolicy, Config, RateLimitKey, RouteConfig};
use crate::error::GatewayError;
use crate::telemetry::metrics::{AuthFailure, record_auth_failure};
use jwt::JwtVerifier;
use ratelimit::RateLimit;
use shared::Decision;

/// A verified caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// JWT `sub`, or the API key's name.
    pub subject: String,
    pub roles: Vec<String>,
    /// The API key's name when the caller used one.
    pub api_key: Option<String>,
    /// The claims of the caller's JWT, when it sent one.
    pub claims: Option<Arc<serde_json::Map<String, serde_json::Value>>>,
}

/// One configured API key.
struct ApiKey {
    name: String,
    sha256: [u8; 32],
    roles: Vec<String>,
}

/// Reads and checks the credential of a request.
pub struct Authenticator {
    jwt: Option<JwtVerifier>,
    api_keys: Vec<ApiKey>,
    api_key_header: HeaderName,
}

impl Authenticator {
    /// Loads the issuers' keys and the API key hashes of a validated config.
    pub fn new(config: &Config) -> Result<Authenticator, String> {
        let auth = &config.auth;
        let jwt = if auth.jwt.is_empty() {
            None
        } else {
            Some(JwtVerifier::new(&auth.jwt, &config.base_dir)?)
        };
        let api_keys = auth
            .api_keys
            .iter()
            .map(|key| {
                Ok(ApiKey {
                    name: key.name.clone(),
                    sha256: decode_sha256(&key.sha256)
                        .ok_or_else(|| format!("API key {:?}: sha256 is not hex", key.name))?,
                    roles: key.roles.clone(),
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        let api_key_header = HeaderName::from_bytes(auth.api_key_header.as_bytes())
            .map_err(|e| format!("auth.api_key_header: {e}"))?;
        Ok(Authenticator {
            jwt,
            api_keys,
            api_key_header,
        })
    }

    /// The header API keys are read from (`[auth] api_key_header`).
    pub fn api_key_header(&self) -> &HeaderName {
        &self.api_key_header
    }

    /// The verified caller, `None` when the request carries no credential. A credential that
    /// is present but not valid, or ambiguous (two `Authorization` headers, a token and a key)
    /// is refused, even on public routes. Only the kinds of credential configured are read:
    /// with no `[[auth.jwt]]`, `Authorization` is not the gateway's business and passes to the
    /// backend untouched (proving nothing here); likewise the API key header without keys.
    /// Every refusal is counted in `gatehouse_auth_failures_total` by reason.
    pub async fn authenticate(
        &self,
        headers: &HeaderMap,
    ) -> Result<Option<Identity>, GatewayError> {
        let (mut bearer_headers, mut key_headers) = (
            headers.get_all(header::AUTHORIZATION).iter(),
            headers.get_all(&self.api_key_header).iter(),
        );
        let bearer = bearer_headers.next().filter(|_| self.jwt.is_some());
        let key = key_headers.next().filter(|_| !self.api_keys.is_empty());
        let repeated = (bearer.is_some() && bearer_headers.next().is_some())
            || (key.is_some() && key_headers.next().is_some());
        if repeated {
            return Err(refuse(
                AuthFailure::Ambiguous,
                "send one credential, in one header",
            ));
        }
        match (bearer, key) {
            (None, None) => Ok(None),
            (Some(_), Some(_)) => Err(refuse(
                AuthFailure::Ambiguous,
                "send either a bearer token or an API key, not both",
            )),
            (Some(value), None) => {
                let token = value
                    .to_str()
                    .ok()
                    .and_then(|v| {
                        let (scheme, token) = v.split_once(' ')?;
                        scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
                    })
                    .filter(|t| !t.is_empty())
                    .ok_or_else(|| {
                        refuse(
                            AuthFailure::InvalidToken,
                            "the Authorization header must be \"Bearer <token>\"",
                        )
                    })?;
                let Some(verifier) = &self.jwt else {
                    return Err(refuse(
                        AuthFailure::InvalidToken,
                        "bearer tokens are not accepted here",
                    ));
                };
                let verified = verifier.verify(token).await.map_err(|e| match e {
                    // The issuer's keys could not be fetched: not the caller's fault.
                    jwt::JwtError::KeysUnavailable => {
                        record_auth_failure(AuthFailure::KeysUnavailable);
                        GatewayError::AuthUnavailable {
                            retry_after: jwt::UNKNOWN_KID_REFETCH_INTERVAL.as_secs(),
                        }
                    }
                    e => refuse(
                        AuthFailure::InvalidToken,
                        &format!("invalid bearer token: {e}"),
                    ),
                })?;
                Ok(Some(Identity {
                    subject: verified.subject,
                    roles: verified.roles,
                    api_key: None,
                    claims: Some(verified.claims),
                }))
            }
            (None, Some(value)) => {
                let digest: [u8; 32] = Sha256::digest(value.as_bytes()).into();
                // Every configured key is compared, in constant time, so timing does not tell
                // how much of a guess was right or which key it was near.
                let mut found = None;
                for key in &self.api_keys {
                    if bool::from(key.sha256[..].ct_eq(&digest)) {
                        found = Some(key);
                    }
                }
                let key =
                    found.ok_or_else(|| refuse(AuthFailure::UnknownApiKey, "unknown API key"))?;
                Ok(Some(Identity {
                    subject: key.name.clone(),
                    roles: key.roles.clone(),
                    api_key: Some(key.name.clone()),
                    claims: None,
                }))
            }
        }
    }
}

/// A refused credential (401), counted by `reason`.
fn refuse(reason: AuthFailure, message: &str) -> GatewayError {
    record_auth_failure(reason);
    GatewayError::Unauthenticated {
        message: message.to_string(),
        invalid_token: true,
    }
}

/// A SHA-256 written as 64 hex digits, either case; `None` for any other length or digit.
fn decode_sha256(digits: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(digits, &mut out).ok()?;
    Some(out)
}

/// What one method requires, resolved from `[auth]` and `[[routes]]` at start-up.
#[derive(Clone, Default)]
pub struct RoutePolicy {
    pub authenticated: bool,
    /// Any one of these roles is enough; empty means no role is needed.
    pub roles: Vec<String>,
    pub rate_limit: Option<(Arc<RateLimit>, RateLimitKey)>,
}

impl RoutePolicy {
    /// The policy from the entries `selects` accepts, by `Config::route_setting`'s rule;
    /// `limits[i]` is the limit of `routes[i]`, if it has one (shared by everything that entry
    /// selects).
    pub fn resolve(
        config: &Config,
        limits: &[Option<Arc<RateLimit>>],
        selects: impl Fn(&RouteConfig) -> bool,
    ) -> RoutePolicy {
        let roles = config
            .route_setting(&selects, |r| r.roles.clone())
            .unwrap_or_default();
        let auth = config
            .route_setting(&selects, |r| r.auth)
            .unwrap_or(config.auth.default);
        let rate_limit = config
            .route_setting_at(&selects, |r| r.rate_limit.as_ref().map(|l| l.key))
            .and_then(|(i, key)| Some((limits.get(i).cloned().flatten()?, key)));
        // Fields set from the credential need one.
        let pinned = config
            .route_setting(&selects, |r| {
                r.from_identity.as_ref().map(|f| !f.is_empty())
            })
            .unwrap_or(false);
        RoutePolicy {
            authenticated: auth == AuthPolicy::Authenticated || !roles.is_empty() || pinned,
            roles,
            rate_limit,
        }
    }

    /// 401 when a credential is needed and missing, 403 when the caller lacks every role;
    /// both counted in `gatehouse_auth_failures_total` (`missing`, `forbidden`).
    pub fn authorize(&self, identity: Option<&Identity>) -> Result<(), GatewayError> {
        let Some(identity) = identity else {
            if self.authenticated {
                record_auth_failure(AuthFailure::Missing);
                return Err(GatewayError::Unauthenticated {
                    message: "this route needs a bearer token or an API key".into(),
                    invalid_token: false,
                });
            }
            return Ok(());
        };
        if !self.roles.is_empty() && !self.roles.iter().any(|r| identity.roles.contains(r)) {
            record_auth_failure(AuthFailure::Forbidden);
            return Err(GatewayError::PermissionDenied(format!(
                "this route needs one of the roles: {}",
                self.roles.join(", ")
            )));
        }
        Ok(())
    }
}

/// Takes one call from `policy`'s rate limit, if it has one (`None` otherwise, at no cost):
/// the `RateLimit-*` headers for the response, or 429. Shared by REST and the gRPC ingress.
pub fn take_rate_limit(
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

/// Whether JSON `body` nests arrays and objects deeper than `limit`. A linear scan that knows
/// strings and escapes; it does not validate (the parser does that afterwards).
pub fn json_too_deep(body: &[u8], limit: usize) -> bool {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &byte in body {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > limit {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// 431 when a request has more headers, or more header bytes, than allowed.
pub fn check_header_limits(
    headers: &HeaderMap,
    max_headers: usize,
    max_bytes: usize,
) -> Result<(), GatewayError> {
    if headers.len() > max_headers {
        return Err(GatewayError::HeadersTooLarge(format!(
            "more than {max_headers} request headers"
        )));
    }
    let bytes: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if bytes > max_bytes {
        return Err(GatewayError::HeadersTooLarge(format!(
            "request headers larger than {max_bytes} bytes"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_depth_counts_brackets_outside_strings() {
        assert!(!json_too_deep(b"{\"a\":[1,{\"b\":2}]}", 3));
        assert!(json_too_deep(b"{\"a\":[1,{\"b\":[2]}]}", 3));
        assert!(!json_too_deep(b"{\"a\":\"[[[[[[\"}", 1));
        assert!(!json_too_deep(b"{\"a\":\"\\\"[[[[\"}", 1));
        assert!(json_too_deep(&[b'['; 65], 64));
        assert!(!json_too_deep(&[b'['; 64], 64));
    }

    #[test]
    fn sha256_hex_decodes() {
        let hex = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
        let bytes = decode_sha256(hex).unwrap();
        assert_eq!(bytes[0], 0x9f);
        assert_eq!(bytes[31], 0x08);
        assert_eq!(decode_sha256(&hex.to_uppercase()), Some(bytes));
        assert!(decode_sha256("zz").is_none());
        assert!(decode_sha256(&"g".repeat(64)).is_none());
    }
}
