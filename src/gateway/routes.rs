//! The REST route table: the bindings of the services a config serves and its aggregate
//! routes, each with its settings resolved, in one matcher built by the compile step.

use std::sync::Arc;
use std::time::Duration;

use http::uri::PathAndQuery;

use crate::aggregate::{Aggregate, CallTarget, Plan};
use crate::config::Config;
use crate::http_rule::{PathMatch, PathTemplate, RouteMatcher};
use crate::schema::{MethodCodec, RouteSpec, Schema};
use crate::security::RoutePolicy;
use crate::security::identity_fields::IdentityFields;
use crate::telemetry::metrics::{self, SharedString};
use crate::transcode::JsonOptions;
use crate::transcode::answer::AnswerPlan;
use crate::transcode::body::BodyPlan;
use crate::transcode::dynamic::DynamicCodec;
use crate::upstream::Backend;

use super::settings::{MethodSettings, Settings};

/// Everything a request on one binding needs, decided once.
pub struct RouteEntry {
    pub spec: Arc<RouteSpec>,
    /// The binding's template, as the `route` label of metrics and logs.
    pub label: SharedString,
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
    /// The most bytes the request body may have: `[[routes]] max_body`, else `[server]`.
    pub max_body: usize,
    /// Raw bodies, forms and masks.
    pub body: Arc<BodyPlan>,
    /// The success status and `Location`.
    pub answer: AnswerPlan,
    /// The request fields the caller's credential sets.
    pub identity_fields: Option<Arc<IdentityFields>>,
    /// Writes the JSON answers: the binding's own codec, or, when the binding's JSON output
    /// options are not the default, a dynamic codec that writes with them.
    pub render: Arc<dyn MethodCodec>,
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
    /// `[[routes]] status` of the aggregate's route.
    pub status: http::StatusCode,
}

/// All served bindings and aggregate routes.
pub struct RouteTable {
    matcher: RouteMatcher<RouteTarget>,
}

impl RouteTable {
    /// Builds the table of the bindings `config` serves out of `schema`, and of its aggregates
    /// (their compiled `plans`), each with its `settings`; `backend(name)` gives the backend of
    /// that name. Fails if a template does not parse, which the schema's source already rules
    /// out.
    pub fn build(
        config: &Config,
        schema: &Schema,
        plans: Vec<Plan>,
        settings: &Settings<'_>,
        backend: impl Fn(&str) -> Option<Backend>,
    ) -> Result<RouteTable, String> {
        let mut matcher = RouteMatcher::new();
        for spec in schema.bindings() {
            if spec.implicit && !config.server.implicit_routes {
                continue;
            }
            let Some(backend) = config
                .backend_for(&spec.service)
                .and_then(|b| backend(&b.name))
            else {
                continue;
            };
            let template = PathTemplate::parse(&spec.template)
                .map_err(|e| format!("{} {}: {e}", spec.http_method, spec.template))?;
            let path = PathAndQuery::try_from(spec.grpc_path.as_str())
                .map_err(|e| format!("{}: {e}", spec.grpc_path))?;
            let MethodSettings {
                timeout,
                idempotent,
                policy,
                from_identity,
            } = settings.binding(spec);
            let (max_body, accept) = settings.body(spec);
            let method = schema
                .descriptors()
                .get_service_by_name(&spec.service)
                .and_then(|s| s.methods().find(|m| m.name() == spec.method))
                .ok_or_else(|| format!("{}: no descriptor", spec.qualified_method()))?;
            let body = Arc::new(BodyPlan::new(
                spec,
                &method.input(),
                &method.output(),
                accept,
            ));
            let answer = settings.answer(
                &spec.http_method,
                &spec.template,
                Some((&spec.service, &spec.method)),
            );
            let answer = AnswerPlan::new(
                answer.status.map(|(_, s)| s),
                answer.location.as_ref().map(|(_, l)| l.as_str()),
                &method.output(),
            )
            .map_err(|e| format!("{} {}: {e}", spec.http_method, spec.template))?;
            let identity_fields = identity_fields(&method.input(), from_identity)?;
            let render = render_codec(spec, &method, settings.json(spec))?;
            let entry = RouteEntry {
                spec: spec.clone(),
                label: metrics::shared(spec.template.as_str()),
                backend,
                path,
                timeout,
                idempotent,
                policy,
                max_body,
                body,
                answer,
                identity_fields,
                render,
            };
            matcher.insert(&spec.http_method, template, RouteTarget::Method(entry));
        }
        for (i, plan) in plans.into_iter().enumerate() {
            let json = settings.aggregate_json(&plan);
            let plan = plan
                .with_json(json, schema)
                .map_err(|e| format!("aggregates[{i}]: {e}"))?;
            let mut targets = Vec::with_capacity(plan.calls.len());
            for call in &plan.calls {
                let method = &call.method;
                let backend = config
                    .backend_for(&method.service)
                    .and_then(|b| backend(&b.name))
                    .ok_or_else(|| {
                        format!("aggregates[{i}]: no backend serves {}", method.service)
                    })?;
                let MethodSettings {
                    idempotent,
                    policy,
                    from_identity,
                    ..
                } = settings.method(method);
                let input = schema
                    .descriptors()
                    .get_message_by_name(&method.input)
                    .ok_or_else(|| format!("{}: no descriptor", method.input))?;
                let identity_fields = identity_fields(&input, from_identity)?;
                let path = PathAndQuery::try_from(method.grpc_path.as_str())
                    .map_err(|e| format!("{}: {e}", method.grpc_path))?;
                targets.push(CallTarget {
                    backend,
                    policy,
                    idempotent,
                    path,
                    identity_fields,
                });
            }
            let policy = settings.aggregate(&plan);
            let http_method = plan.http_method.clone();
            let template = plan.template.clone();
            let status = settings
                .answer(&http_method, &template.to_string(), None)
                .status
                .and_then(|(_, s)| http::StatusCode::from_u16(s).ok())
                .unwrap_or(http::StatusCode::OK);
            let entry = AggregateEntry {
                aggregate: Aggregate {
                    timeout: plan.timeout.unwrap_or(config.server.timeout),
                    plan,
                    targets,
                },
                policy,
                status,
            };
            matcher.insert(&http_method, template, RouteTarget::Aggregate(entry));
        }
        Ok(RouteTable { matcher })
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

/// The request fields of a method of input `input` that the credential sets, planned; Err
/// names the `[[routes]]` entry that asks for one that cannot be.
pub(super) fn identity_fields(
    input: &prost_reflect::MessageDescriptor,
    from_identity: Option<(usize, std::collections::BTreeMap<String, String>)>,
) -> Result<Option<Arc<IdentityFields>>, String> {
    let Some((i, fields)) = from_identity else {
        return Ok(None);
    };
    IdentityFields::new(input, &fields)
        .map(|f| Some(Arc::new(f)))
        .map_err(|e| format!("routes[{i}].from_identity: {e}"))
}

/// The codec that writes a binding's answers with `options`: its own when they are the
/// default (the fast path stays as it is), else one made from the method's descriptors,
/// whatever the binding's source, since the generated code writes only the default.
fn render_codec(
    spec: &RouteSpec,
    method: &prost_reflect::MethodDescriptor,
    options: JsonOptions,
) -> Result<Arc<dyn MethodCodec>, String> {
    if options.is_default() {
        return Ok(spec.codec.clone());
    }
    let codec = DynamicCodec::new(method, None, spec.response_body.as_deref())
        .map_err(|e| format!("{} {}: {e}", spec.http_method, spec.template))?;
    Ok(Arc::new(codec.with_options(options)))
}
