//! Per-method settings: what a binding, a gRPC method or an aggregate's call is given by the
//! config, resolved once at compile time by one rule.
//!
//! The rule: for each key, the last `[[routes]]` entry that selects the method (or binding)
//! and sets the key wins (`Config::route_setting`); a key no entry sets falls back to the
//! backend's setting, then `[server]` or `[auth]`, or to the proto (`idempotency_level`). REST
//! bindings are selected by entries that name their method or the binding itself; gRPC calls
//! and aggregate calls, which have no binding, only by entries that name the method.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::aggregate::Plan;
use crate::config::{AnswerSettings, Config, RouteConfig};
use crate::media_type::MediaRange;
use crate::schema::{MethodSpec, RouteSpec};
use crate::security::RoutePolicy;
use crate::security::ratelimit::RateLimit;
use crate::security::shared::SharedStore;
use crate::transcode::JsonOptions;

/// What a call of one method, by one way in, is given.
pub struct MethodSettings {
    /// The deadline when the client sends none (and the cap on the one it sends).
    pub timeout: Duration,
    /// Whether a call that may have run may be sent again.
    pub idempotent: bool,
    /// Credential, roles and rate limit.
    pub policy: RoutePolicy,
    /// `from_identity`: the request fields set from the credential, and the `[[routes]]`
    /// entry that set them.
    pub from_identity: Option<(usize, BTreeMap<String, String>)>,
}

/// The config's settings, with one rate limiter per `[[routes]]` entry that sets one.
pub struct Settings<'a> {
    config: &'a Config,
    /// `limits[i]` is the rate limit of `[[routes]]` entry `i`: one limiter shared by every
    /// binding and method the entry selects, whichever way they are called.
    limits: Vec<Option<Arc<RateLimit>>>,
}

impl<'a> Settings<'a> {
    /// The settings of `config`; fails when the shared rate-limit store cannot be set up.
    pub fn new(config: &'a Config) -> Result<Settings<'a>, String> {
        // In the shared store, each entry's buckets are named by its place and selector, the
        // same on every replica.
        let store = SharedStore::new(&config.rate_limits)?.map(Arc::new);
        let limits = config
            .routes
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let limit = RateLimit::new(r.rate_limit.as_ref()?);
                Some(Arc::new(match &store {
                    Some(store) => {
                        let selector = r.method.as_deref().or(r.route.as_deref()).unwrap_or("");
                        limit.shared(store.clone(), format!("{i}:{selector}"))
                    }
                    None => limit,
                }))
            })
            .collect();
        Ok(Settings { config, limits })
    }

    /// A REST binding's settings.
    pub fn binding(&self, spec: &RouteSpec) -> MethodSettings {
        self.resolve(
            |r| {
                r.selects_binding(
                    &spec.http_method,
                    &spec.template,
                    Some((&spec.service, &spec.method)),
                )
            },
            &spec.service,
            spec.idempotent,
        )
    }

    /// A REST binding's request-body settings: the most bytes its body may have, and the
    /// media ranges a raw body may have (any when `None`).
    pub fn body(&self, spec: &RouteSpec) -> (usize, Option<Vec<MediaRange>>) {
        let config = self.config;
        let selects = |r: &RouteConfig| {
            r.selects_binding(
                &spec.http_method,
                &spec.template,
                Some((&spec.service, &spec.method)),
            )
        };
        let max_body = config
            .route_setting(selects, |r| r.max_body)
            .unwrap_or(config.server.max_body);
        // Validated with the config, so every range parses.
        let accept = config
            .route_setting(selects, |r| r.accept.clone())
            .map(|ranges| {
                ranges
                    .iter()
                    .filter_map(|r| MediaRange::parse(r).ok())
                    .collect()
            });
        (
            usize::try_from(max_body.as_u64()).unwrap_or(usize::MAX),
            accept,
        )
    }

    /// A REST binding's (or an aggregate route's, with `method` None) success status and
    /// `Location` template.
    pub fn answer(
        &self,
        http_method: &str,
        template: &str,
        method: Option<(&str, &str)>,
    ) -> AnswerSettings {
        self.config.answer_settings(http_method, template, method)
    }

    /// A method's own settings, as gRPC calls and aggregate calls get them.
    pub fn method(&self, spec: &MethodSpec) -> MethodSettings {
        self.resolve(
            |r| r.selects_method(&spec.service, &spec.method),
            &spec.service,
            spec.idempotent,
        )
    }

    /// An aggregate route's own policy (each of its calls also passes its method's).
    pub fn aggregate(&self, plan: &Plan) -> RoutePolicy {
        let template = plan.template.to_string();
        self.policy(|r| r.selects_binding(&plan.http_method, &template, None))
    }

    fn resolve(
        &self,
        selects: impl Fn(&RouteConfig) -> bool,
        service: &str,
        proto_idempotent: bool,
    ) -> MethodSettings {
        let config = self.config;
        let backend_timeout = config.backend_for(service).and_then(|b| b.timeout);
        MethodSettings {
            timeout: config
                .route_setting(&selects, |r| r.timeout)
                .or(backend_timeout)
                .unwrap_or(config.server.timeout),
            idempotent: config
                .route_setting(&selects, |r| r.idempotent)
                .unwrap_or(proto_idempotent),
            from_identity: config.from_identity(&selects),
            policy: self.policy(selects),
        }
    }

    fn policy(&self, selects: impl Fn(&RouteConfig) -> bool) -> RoutePolicy {
        RoutePolicy::resolve(self.config, &self.limits, selects)
    }

    /// A REST binding's JSON output options.
    pub fn json(&self, spec: &RouteSpec) -> JsonOptions {
        self.json_options(|r| {
            r.selects_binding(
                &spec.http_method,
                &spec.template,
                Some((&spec.service, &spec.method)),
            )
        })
    }

    /// An aggregate route's JSON output options, for the answers of all its calls: entries
    /// that name its route (`route = "VERB /template"`), else `[server.json]`.
    pub fn aggregate_json(&self, plan: &Plan) -> JsonOptions {
        let template = plan.template.to_string();
        self.json_options(|r| r.selects_binding(&plan.http_method, &template, None))
    }

    fn json_options(&self, selects: impl Fn(&RouteConfig) -> bool) -> JsonOptions {
        JsonOptions::resolve(self.config, selects)
    }
}
