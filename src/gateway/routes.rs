//! The REST route table: the bindings of the services a config serves and its aggregate
//! routes, each with its settings resolved, in one matcher built by the compile step.

use std::sync::Arc;
use std::time::Duration;

use http::uri::PathAndQuery;

use crate::aggregate::{Aggregate, CallTarget, Plan};
use crate::config::Config;
use crate::http_rule::{PathMatch, PathTemplate, RouteMatcher};
use crate::security::RoutePolicy;
use crate::security::ratelimit::RateLimit;
use crate::security::shared::SharedStore;
use crate::upstream::Backend;

use crate::schema::{RouteSpec, Schema};

/// Everything a request on one binding needs, decided once.
pub struct RouteEntry {
    pub spec: &'static RouteSpec,
    pub backend: Backend,
    /// The gRPC request path.
    pub path: PathAndQuery,
    /// Deadline when the client sends none: `[[routes]]`, then the backend, then `[server]`.
    pub timeout: Duration,
    /// Whether a call that failed with UNAVAILABLE may be sent again: `[[routes]]
    /// idempotent`, else the proto `idempotency_level`.
    pub idempotent: bool,
    /// Credential, roles and rate limit.
    pub policy: RoutePolicy,
}

/// What a matched route leads to: one method, or an aggregate of calls.
pub enum RouteTarget {
    Method(RouteEntry),
    Aggregate(AggregateEntry),
}

/// An aggregate route and its own policy (each call also passes its method's).
pub struct AggregateEntry {
    pub aggregate: Aggregate,
    pub policy: RoutePolicy,
}

/// All served bindings and aggregate routes.
pub struct RouteTable {
    matcher: RouteMatcher<RouteTarget>,
    /// `limits[i]` is the rate limit of `[[routes]]` entry `i`, if it sets one.
    limits: Vec<Option<Arc<RateLimit>>>,
}

impl RouteTable {
    /// Builds the table for `config` over `schema`, with the compiled `plans` of its
    /// aggregates; `backend(name)` gives the backend of that name. Fails if a template does
    /// not parse, which the schema's source already rules out.
    pub fn build(
        config: &Config,
        schema: &Schema,
        plans: Vec<Plan>,
        backend: impl Fn(&str) -> Option<Backend>,
    ) -> Result<RouteTable, String> {
        let mut matcher = RouteMatcher::new();
        // One limiter per `[[routes]]` entry, shared by every method it selects; in the shared
        // store, named by the entry's place and selector, the same on every replica.
        let store = SharedStore::new(&config.rate_limits)?.map(Arc::new);
        let limits: Vec<Option<Arc<RateLimit>>> = config
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
        for &spec in schema.bindings() {
            if spec.implicit && !config.server.implicit_routes {
                continue;
            }
            let Some(backend_config) = config.backend_for(spec.service) else {
                continue;
            };
            let Some(backend) = backend(&backend_config.name) else {
                continue;
            };
            let template = PathTemplate::parse(spec.template)
                .map_err(|e| format!("{} {}: {e}", spec.http_method, spec.template))?;
            // The last `[[routes]]` entry that selects the method and sets the key wins.
            let selecting = || config.routes.iter().rev().filter(|r| selects(r, spec));
            let timeout = selecting()
                .find_map(|r| r.timeout)
                .or(backend_config.timeout)
                .unwrap_or(config.server.timeout);
            let idempotent = selecting()
                .find_map(|r| r.idempotent)
                .unwrap_or(spec.idempotent);
            let entry = RouteEntry {
                spec,
                backend,
                path: PathAndQuery::from_static(spec.grpc_path),
                timeout,
                idempotent,
                policy: RoutePolicy::resolve(config, &limits, |r| selects(r, spec)),
            };
            matcher.insert(spec.http_method, template, RouteTarget::Method(entry));
        }
        for (i, plan) in plans.into_iter().enumerate() {
            let mut targets = Vec::with_capacity(plan.calls.len());
            for call in &plan.calls {
                let method = call.method;
                let backend = config
                    .backend_for(method.service)
                    .and_then(|b| backend(&b.name))
                    .ok_or_else(|| {
                        format!("aggregates[{i}]: no backend serves {}", method.service)
                    })?;
                let idempotent = config
                    .routes
                    .iter()
                    .rev()
                    .filter(|r| r.selects_method(method.service, method.method))
                    .find_map(|r| r.idempotent)
                    .unwrap_or(method.idempotent);
                targets.push(CallTarget {
                    backend,
                    policy: RoutePolicy::for_method(config, &limits, method.service, method.method),
                    idempotent,
                });
            }
            let policy = RoutePolicy::resolve(config, &limits, |r| {
                r.selects_binding(&plan.http_method, &plan.template.to_string(), None)
            });
            let http_method = plan.http_method.clone();
            let template = plan.template.clone();
            let entry = AggregateEntry {
                aggregate: Aggregate {
                    timeout: plan.timeout.unwrap_or(config.server.timeout),
                    plan,
                    targets,
                },
                policy,
            };
            matcher.insert(&http_method, template, RouteTarget::Aggregate(entry));
        }
        Ok(RouteTable { matcher, limits })
    }

    /// The rate limit of each `[[routes]]` entry (`None` for entries without one), as the
    /// routes use them: a policy resolved against these shares its buckets with the routes.
    pub fn rate_limits(&self) -> &[Option<Arc<RateLimit>>] {
        &self.limits
    }

    pub fn find(&self, method: &str, path: &str) -> PathMatch<'_, RouteTarget> {
        self.matcher.find(method, path)
    }

    pub fn len(&self) -> usize {
        self.matcher.len()
    }

    pub fn is_empty(&self) -> bool {
        self.matcher.is_empty()
    }
}

/// Whether `[[routes]]` entry `route` selects the binding `spec`.
fn selects(route: &crate::config::RouteConfig, spec: &RouteSpec) -> bool {
    route.selects_binding(
        spec.http_method,
        spec.template,
        Some((spec.service, spec.method)),
    )
}
