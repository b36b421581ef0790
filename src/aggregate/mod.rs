//! Aggregates: one HTTP route answered by several backend calls. Calls that do not read each
//! other's responses run concurrently; a call that reads another's response starts when that
//! one has answered. The answer is one JSON object keyed by call name, plus an `errors` list
//! for optional calls that failed.
//!
//! Each call is admitted like a direct call of its method would be (credential, roles, rate
//! limit), so an aggregate can never reach what its caller could not reach directly.

mod plan;

use std::collections::HashMap;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use http::uri::PathAndQuery;
use prost_reflect::Kind;
use serde_json::{Value, json};
use tonic::metadata::MetadataMap;

use crate::error::GatewayError;
use crate::http_rule::Binding;
use crate::security::identity_fields::IdentityFields;
use crate::security::{Identity, RoutePolicy};
use crate::transcode::query;
use crate::upstream::Backend;
pub use plan::{FIELDS_PARAMETER, Plan, PlannedCall, Source, Step};

/// Whether a call may go, for the caller of the aggregate: its roles and the call's rate
/// limit, as a direct call of the method would be checked.
pub type Admission =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), GatewayError>> + Send>>;

/// A compiled aggregate with the backends and policies of its calls.
pub struct Aggregate {
    pub plan: Plan,
    /// Per call, in plan order.
    pub targets: Vec<CallTarget>,
    /// Deadline of the whole plan when the client asks for none.
    pub timeout: Duration,
}

/// Where one call goes and what a direct call of its method would have to pass.
pub struct CallTarget {
    pub backend: Backend,
    pub policy: RoutePolicy,
    /// Whether the call may be sent again after UNAVAILABLE (proto or `[[routes]]`).
    pub idempotent: bool,
    /// The gRPC request path of the call's method.
    pub path: PathAndQuery,
    /// The request fields the caller's credential sets (`[[routes]] from_identity`).
    pub identity_fields: Option<Arc<IdentityFields>>,
}

/// What one request brings to a plan.
pub struct Inputs<'a> {
    pub bindings: &'a [Binding<'a>],
    pub query: Option<&'a str>,
    /// Request metadata every call is sent (forwarded headers, the verified caller).
    pub metadata: &'a MetadataMap,
    pub deadline: Duration,
    /// The verified caller, whose credential sets pinned fields.
    pub identity: Option<&'a Identity>,
}

/// How a call ended.
enum Outcome {
    Answered {
        json: Vec<u8>,
        /// Parsed, when another call reads it.
        value: Option<Value>,
    },
    Failed(GatewayError),
    /// Not run: a call it reads failed.
    Skipped {
        needs: usize,
        code: tonic::Code,
    },
}

impl Aggregate {
    /// Runs the plan (or the calls `?fields=` names, and what they read) and writes the
    /// answer. `admit` checks a call's method policy for this caller. A required call that
    /// fails ends the request with its error, cancelling the calls still running.
    pub async fn run(
        &self,
        inputs: Inputs<'_>,
        admit: impl Fn(&RoutePolicy) -> Admission,
    ) -> Result<Vec<u8>, GatewayError> {
        let started = Instant::now();
        let calls = &self.plan.calls;
        let shown = self.selected(inputs.query)?;
        let needed = self.with_dependencies(&shown);
        let mut outcomes: Vec<Option<Outcome>> = (0..calls.len()).map(|_| None).collect();
        let mut started_calls = vec![false; calls.len()];
        let mut running = FuturesUnordered::new();
        loop {
            let mut progress = false;
            for i in needed.iter().copied() {
                if started_calls[i] || !calls[i].deps.iter().all(|&d| outcomes[d].is_some()) {
                    continue;
                }
                started_calls[i] = true;
                progress = true;
                let failed_dep = calls[i]
                    .deps
                    .iter()
                    .copied()
                    .find_map(|d| match &outcomes[d] {
                        Some(Outcome::Failed(e)) => Some((d, e.grpc_code())),
                        Some(Outcome::Skipped { code, .. }) => Some((d, *code)),
                        _ => None,
                    });
                if let Some((needs, code)) = failed_dep {
                    if calls[i].required {
                        // It cannot run, so the request fails with the failure it inherits.
                        return Err(take_origin(&mut outcomes, needs));
                    }
                    outcomes[i] = Some(Outcome::Skipped { needs, code });
                    continue;
                }
                let remaining = inputs.deadline.saturating_sub(started.elapsed());
                match self.prepare(i, &inputs, &outcomes, remaining, &admit).await {
                    Ok(message) => {
                        let call = self.send(i, message, inputs.metadata, remaining);
                        running.push(async move { (i, call.await) });
                    }
                    Err(error) if calls[i].required => return Err(error),
                    Err(error) => outcomes[i] = Some(Outcome::Failed(error)),
                }
            }
            let Some((i, result)) = running.next().await else {
                // Nothing runs: done, unless a skip above unblocked another call.
                if progress && !needed.iter().all(|&i| outcomes[i].is_some()) {
                    continue;
                }
                break;
            };
            match result {
                Ok((json, value)) => outcomes[i] = Some(Outcome::Answered { json, value }),
                // Returning drops `running`: the calls still in flight are cancelled.
                Err(error) if calls[i].required => return Err(error),
                Err(error) => outcomes[i] = Some(Outcome::Failed(error)),
            }
        }
        Ok(self.answer(&shown, &outcomes))
    }

    /// Admits call `i` for this caller and builds its request from the config, the request and
    /// the responses it reads (all known by now).
    async fn prepare(
        &self,
        i: usize,
        inputs: &Inputs<'_>,
        outcomes: &[Option<Outcome>],
        remaining: Duration,
        admit: &impl Fn(&RoutePolicy) -> Admission,
    ) -> Result<Bytes, GatewayError> {
        let planned = &self.plan.calls[i];
        admit(&self.targets[i].policy).await?;
        if remaining.is_zero() {
            return Err(GatewayError::DeadlineExceeded);
        }
        let values: Vec<(&[String], Vec<String>)> = planned
            .fields
            .iter()
            .map(|f| (f.path.as_slice(), self.values(&f.source, inputs, outcomes)))
            .filter(|(_, v)| !v.is_empty())
            .collect();
        let pairs: Vec<(&[String], &[String])> =
            values.iter().map(|(p, v)| (*p, v.as_slice())).collect();
        let message = planned.method.codec.build_from_fields(&pairs)?;
        match &self.targets[i].identity_fields {
            Some(pinned) => pinned.apply(inputs.identity, &message),
            None => Ok(message),
        }
    }

    /// Calls the backend and renders the response as JSON (parsed too when another call reads
    /// it).
    async fn send(
        &self,
        i: usize,
        message: Bytes,
        metadata: &MetadataMap,
        remaining: Duration,
    ) -> Result<(Vec<u8>, Option<Value>), GatewayError> {
        let planned = &self.plan.calls[i];
        let method = &planned.method;
        let target = &self.targets[i];
        let reply = target
            .backend
            .unary(
                target.path.clone(),
                metadata.clone(),
                message.into(),
                remaining,
                self.targets[i].idempotent,
            )
            .await?;
        let mut json = Vec::with_capacity(reply.get_ref().len() * 2 + 16);
        let shaped = planned.render.as_ref().unwrap_or(&method.codec);
        shaped.render_response(reply.get_ref(), &mut json)?;
        let parse = |json: &[u8]| {
            serde_json::from_slice::<Value>(json).map_err(|e| {
                GatewayError::bad_response(format_args!("the reply's JSON does not parse: {e}"))
            })
        };
        // References read the default form (JSON names, enums by name), whatever the
        // route's JSON options write: written once more in it when they differ.
        let value = match planned.referenced {
            false => None,
            true if planned.render.is_none() => Some(parse(&json)?),
            true => {
                let mut canonical = Vec::with_capacity(json.len());
                method
                    .codec
                    .render_response(reply.get_ref(), &mut canonical)?;
                Some(parse(&canonical)?)
            }
        };
        let Some(contributes) = &planned.contributes else {
            return Ok((json, value));
        };
        // The answer shows one field, as rendered (its members in proto order); references
        // read the whole response.
        let members: HashMap<&str, &serde_json::value::RawValue> = serde_json::from_slice(&json)
            .map_err(|e| {
                GatewayError::bad_response(format_args!("the reply's JSON does not parse: {e}"))
            })?;
        // With `emit_defaults` an unset message is written `null`; shown, it is its default
        // value, as a binding's `response_body` shows it.
        let unset = |member: &serde_json::value::RawValue| {
            member.get() == "null" && matches!(contributes.field.kind(), Kind::Message(_))
        };
        let shown = match members.get(contributes.member.as_str()) {
            Some(member) if !unset(member) => member.get().as_bytes().to_vec(),
            _ => contributes.default.as_bytes().to_vec(),
        };
        Ok((shown, value))
    }

    /// The text values a source gives for this request (none: the field is left unset).
    fn values(
        &self,
        source: &Source,
        inputs: &Inputs<'_>,
        outcomes: &[Option<Outcome>],
    ) -> Vec<String> {
        match source {
            Source::Literal(values) => values.clone(),
            Source::PathVariable(name) => inputs
                .bindings
                .iter()
                .filter(|b| b.field_path.len() == 1 && b.field_path[0] == *name)
                .map(|b| b.value.to_string())
                .collect(),
            // Checked by `selected` before any call is prepared.
            Source::Query(name) => query::pairs(inputs.query.unwrap_or(""))
                .unwrap_or_default()
                .into_iter()
                .filter(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
                .collect(),
            Source::Response { call, steps } => match &outcomes[*call] {
                Some(Outcome::Answered {
                    value: Some(value), ..
                }) => {
                    let mut found = Vec::new();
                    collect(value, steps, &mut found);
                    let mut seen = HashSet::new();
                    found.retain(|v| seen.insert(v.clone()));
                    found
                }
                _ => Vec::new(),
            },
        }
    }

    /// The calls to show: all, or those `?fields=a,b` names.
    fn selected(&self, query: Option<&str>) -> Result<Vec<usize>, GatewayError> {
        let mut named = Vec::new();
        for (key, value) in query::pairs(query.unwrap_or(""))? {
            if key != FIELDS_PARAMETER {
                continue;
            }
            for name in value.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                let i = self
                    .plan
                    .call(name)
                    .ok_or_else(|| GatewayError::InvalidField {
                        field: FIELDS_PARAMETER.into(),
                        reason: format!(
                            "{name:?} is not a call of this route (calls: {})",
                            self.plan
                                .calls
                                .iter()
                                .map(|c| c.name.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    })?;
                if !named.contains(&i) {
                    named.push(i);
                }
            }
        }
        if named.is_empty() {
            return Ok((0..self.plan.calls.len()).collect());
        }
        named.sort_unstable();
        Ok(named)
    }

    /// `shown` and every call they read, directly or not.
    fn with_dependencies(&self, shown: &[usize]) -> Vec<usize> {
        let mut needed: Vec<usize> = shown.to_vec();
        let mut i = 0;
        while i < needed.len() {
            for &dep in &self.plan.calls[needed[i]].deps {
                if !needed.contains(&dep) {
                    needed.push(dep);
                }
            }
            i += 1;
        }
        needed.sort_unstable();
        needed
    }

    /// `{"<call>": <response>, ..., "errors": [...]}` in plan order.
    fn answer(&self, shown: &[usize], outcomes: &[Option<Outcome>]) -> Vec<u8> {
        let mut out = Vec::with_capacity(1024);
        out.push(b'{');
        let mut errors = Vec::new();
        for &i in shown {
            let name = &self.plan.calls[i].name;
            match &outcomes[i] {
                Some(Outcome::Answered { json, .. }) => {
                    out.extend_from_slice(Value::from(name.as_str()).to_string().as_bytes());
                    out.push(b':');
                    out.extend_from_slice(json);
                    out.push(b',');
                }
                Some(Outcome::Failed(error)) => {
                    // Logged as a failed request is: the answer is a 200 that lists it, so
                    // nothing else would log it.
                    error.log("aggregate call failed", Some(name));
                    errors.push(json!({
                        "call": name,
                        "code": error.grpc_code() as i32,
                        "message": error.public_message(),
                    }));
                }
                Some(Outcome::Skipped { needs, code }) => errors.push(json!({
                    "call": name,
                    "code": *code as i32,
                    "message": format!(
                        "not run: it reads {:?}, which failed",
                        self.plan.calls[*needs].name
                    ),
                })),
                None => {}
            }
        }
        out.extend_from_slice(b"\"errors\":");
        out.extend_from_slice(Value::Array(errors).to_string().as_bytes());
        out.push(b'}');
        out
    }
}

/// The failure a skipped call inherits: the first failed call up its chain of dependencies.
fn take_origin(outcomes: &mut [Option<Outcome>], mut at: usize) -> GatewayError {
    loop {
        match outcomes[at].take() {
            Some(Outcome::Failed(error)) => return error,
            Some(Outcome::Skipped { needs, .. }) => at = needs,
            _ => {
                return GatewayError::Internal("a skipped call without a failed dependency".into());
            }
        }
    }
}

/// Follows `steps` through a response's JSON, collecting the leaf values as text.
fn collect(value: &Value, steps: &[Step], out: &mut Vec<String>) {
    let Some((step, rest)) = steps.split_first() else {
        match value {
            Value::String(s) => out.push(s.clone()),
            Value::Number(n) => out.push(n.to_string()),
            Value::Bool(b) => out.push(b.to_string()),
            _ => {}
        }
        return;
    };
    let Some(field) = value.get(&step.json_name) else {
        return;
    };
    if step.each {
        for item in field.as_array().into_iter().flatten() {
            collect(item, rest, out);
        }
    } else {
        collect(field, rest, out);
    }
}
