//! `[[routes]]`: settings for the bindings and methods an entry selects.

use std::time::Duration;

use serde::Deserialize;

use crate::http_rule::PathTemplate;

use super::{AuthPolicy, JsonOutputConfig, RateLimitConfig};

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
    /// The most bytes a request body may have, overriding `[server] max_body`.
    #[serde(default)]
    pub max_body: Option<bytesize::ByteSize>,
    /// The media ranges (`image/png`, `image/*`) a raw body (`google.api.HttpBody`) may have,
    /// in the request or in an upload's part; any when absent.
    #[serde(default)]
    pub accept: Option<Vec<String>>,
    /// JSON output options for these bindings, key by key over `[server.json]`.
    #[serde(default)]
    pub json: Option<JsonOutputConfig>,
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
