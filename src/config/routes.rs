//! `[[routes]]`: settings for the bindings and methods an entry selects.

use std::time::Duration;

use serde::Deserialize;

use crate::http_rule::PathTemplate;

use super::{AuthPolicy, Config, JsonOutputConfig, RateLimitConfig};

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
    /// The status of a successful answer instead of 200: 201, 202 or 204 (no body), say.
    /// A backend may still set one answer's status through the `x-http-code` metadata.
    #[serde(default)]
    pub status: Option<u16>,
    /// A `Location` header for successful answers, built from the response: literal text and
    /// `{field}` or `{field.path}` naming a scalar field of the response message (proto names),
    /// e.g. `/api/orders/{id}`. Values are percent-encoded as one path segment.
    #[serde(default)]
    pub location: Option<String>,
    /// Request fields set from the caller's verified credential, by field path:
    /// `{ tenant_id = "claim:tenant" }`, `"subject"` or `"api_key"`. A request that carries
    /// another value is refused (403); one that carries none is given the credential's.
    #[serde(default)]
    pub from_identity: Option<std::collections::BTreeMap<String, String>>,
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

/// One piece of a `location` template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LocationPart {
    /// Text sent as written.
    Literal(String),
    /// `{a.b}`: the value of that response field, by proto field names.
    Field(Vec<String>),
}

/// The pieces of a `location` template, or why it is not one: it must start with `/` (or be
/// an absolute `http(s)://` URL), close every `{`, and name fields with proto identifiers.
pub fn parse_location(text: &str) -> Result<Vec<LocationPart>, String> {
    if !(text.starts_with('/') || text.starts_with("https://") || text.starts_with("http://")) {
        return Err(format!(
            "{text:?} must be a path starting with \"/\" or an absolute http(s) URL"
        ));
    }
    let mut parts = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find(['{', '}']) {
        if rest.as_bytes()[open] == b'}' {
            return Err(format!("{text:?} has a \"}}\" that closes nothing"));
        }
        if open > 0 {
            parts.push(LocationPart::Literal(rest[..open].to_string()));
        }
        let Some(close) = rest[open..].find('}') else {
            return Err(format!("{text:?} has a \"{{\" that is never closed"));
        };
        let name = &rest[open + 1..open + close];
        let path: Vec<String> = name.split('.').map(str::to_string).collect();
        let identifier = |p: &String| {
            p.chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        };
        if !path.iter().all(identifier) {
            return Err(format!(
                "{{{name}}} in {text:?} is not a field path (write {{id}} or {{order.id}})"
            ));
        }
        parts.push(LocationPart::Field(path));
        rest = &rest[open + close + 1..];
    }
    if !rest.is_empty() {
        parts.push(LocationPart::Literal(rest.to_string()));
    }
    let literal_ok = |l: &str| l.bytes().all(|b| b.is_ascii_graphic());
    for part in &parts {
        if let LocationPart::Literal(l) = part
            && !literal_ok(l)
        {
            return Err(format!(
                "{text:?} holds a character a header value cannot (spaces, control or \
                 non-ASCII characters must be percent-encoded)"
            ));
        }
    }
    Ok(parts)
}

/// Where a `from_identity` field takes its value from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IdentitySource {
    /// `claim:<name>`: a claim of the caller's JWT, found as `roles_claim` is (an exact name
    /// wins, otherwise dots walk into objects). A string, number or boolean.
    Claim(String),
    /// `subject`: the JWT's `sub`, or the API key's name.
    Subject,
    /// `api_key`: the name of the caller's API key.
    ApiKey,
}

impl IdentitySource {
    pub fn parse(text: &str) -> Result<IdentitySource, String> {
        match text {
            "subject" => Ok(IdentitySource::Subject),
            "api_key" => Ok(IdentitySource::ApiKey),
            _ => match text.strip_prefix("claim:") {
                Some(name) if !name.trim().is_empty() => Ok(IdentitySource::Claim(name.into())),
                _ => Err(format!(
                    "{text:?} is no credential value: write \"claim:<name>\", \"subject\" or \
                     \"api_key\""
                )),
            },
        }
    }
}

/// How a binding's successful answers look: `status` and `location`, each with the index of the
/// `[[routes]]` entry that set it.
pub struct AnswerSettings {
    pub status: Option<(usize, u16)>,
    pub location: Option<(usize, String)>,
}

impl Config {
    /// The `status` and `location` of the binding `http_method template` of `method` (`None`
    /// for an aggregate route).
    pub fn answer_settings(
        &self,
        http_method: &str,
        template: &str,
        method: Option<(&str, &str)>,
    ) -> AnswerSettings {
        let selects = |r: &RouteConfig| r.selects_binding(http_method, template, method);
        AnswerSettings {
            status: self.route_setting_at(selects, |r| r.status),
            location: self.route_setting_at(selects, |r| r.location.clone()),
        }
    }

    /// The `from_identity` of what `selects` selects, with the entry that set it; an empty
    /// table sets none.
    pub fn from_identity(
        &self,
        selects: impl Fn(&RouteConfig) -> bool,
    ) -> Option<(usize, std::collections::BTreeMap<String, String>)> {
        self.route_setting_at(selects, |r| r.from_identity.clone())
            .filter(|(_, fields)| !fields.is_empty())
    }
}
