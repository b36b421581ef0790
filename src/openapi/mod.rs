//! The OpenAPI 3.1 description of what a config serves, generated from the compiled protos and
//! their `google.api.http` rules: every binding and aggregate, typed parameters and bodies in the
//! proto3 JSON mapping, proto comments as summaries, the one error shape on every operation (or
//! problem details, with `[server] errors = "problem"`), and the security each route's policy
//! asks for. Raw bodies, uploads and PATCH masks: [`media`]. Swagger UI shows it at `/docs`:
//! [`explorer`].

pub mod explorer;
mod media;
pub mod schema;

use std::collections::BTreeMap;

use prost_reflect::{FieldDescriptor, Kind, MessageDescriptor};
use serde_json::{Map, Value, json};

use crate::aggregate::{FIELDS_PARAMETER, Plan, Source};
use crate::config::{Config, ErrorFormat, RouteConfig};
use crate::http_rule::{PathTemplate, Segment};
use crate::media_type::MediaRange;
use crate::schema::{MethodKind, RouteSpec, Schema};
use crate::security::RoutePolicy;
use crate::transcode::JsonOptions;
use crate::transcode::body::BodyPlan;
pub use schema::Schemas;

/// Statuses any operation can answer, each with the one JSON error shape: the gateway's own
/// refusals and every HTTP status a backend's gRPC code maps to.
const ERROR_STATUSES: [(&str, &str); 16] = [
    (
        "400",
        "Invalid request: path, query, body or Grpc-Timeout (or the backend's INVALID_ARGUMENT, FAILED_PRECONDITION, OUT_OF_RANGE).",
    ),
    ("401", "No valid credential (WWW-Authenticate says why)."),
    (
        "403",
        "The caller lacks a required role (or the backend's PERMISSION_DENIED).",
    ),
    ("404", "The backend's NOT_FOUND."),
    ("408", "The request body did not arrive in time."),
    ("409", "The backend's ALREADY_EXISTS or ABORTED."),
    ("413", "The request body is larger than allowed."),
    (
        "415",
        "The request body's media type is not one the route accepts.",
    ),
    (
        "429",
        "Rate limited (Retry-After and RateLimit-* say when to come back), or the backend's RESOURCE_EXHAUSTED.",
    ),
    ("431", "Too many or too large request headers."),
    ("499", "The call was cancelled."),
    (
        "500",
        "The backend's INTERNAL, UNKNOWN or DATA_LOSS (message redacted).",
    ),
    ("501", "The backend's UNIMPLEMENTED."),
    ("502", "The backend's reply was not valid gRPC."),
    (
        "503",
        "No backend could take the call (Retry-After), the gateway is overloaded, or the backend's UNAVAILABLE.",
    ),
    ("504", "The deadline passed."),
];

/// The document of what `config` serves out of `schema`, with `plans`, the compiled plans of
/// its aggregates (as the compile step made them).
pub fn document(config: &Config, schema: &Schema, plans: &[Plan]) -> Value {
    let pool = schema.descriptors();
    let mut schemas = Schemas::default();
    let mut paths: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    let mut operation_ids: BTreeMap<String, usize> = BTreeMap::new();
    let mut tags = Vec::new();
    let no_limits = Vec::new();

    for spec in schema.bindings() {
        if spec.implicit && !config.server.implicit_routes {
            continue;
        }
        if config.backend_for(&spec.service).is_none() {
            continue;
        }
        let Some(method) = pool
            .get_service_by_name(&spec.service)
            .and_then(|s| s.methods().find(|m| m.name() == spec.method))
        else {
            continue;
        };
        if !tags.iter().any(|t: &Value| t["name"] == spec.service) {
            let mut tag = json!({ "name": spec.service });
            if let Some(service) = pool.get_service_by_name(&spec.service)
                && let Some(text) = comments(&service)
            {
                tag["description"] = text.into();
            }
            tags.push(tag);
        }
        let Ok(template) = PathTemplate::parse(&spec.template) else {
            continue;
        };
        let input = method.input();
        let (path, mut parameters, bound) = path_parameters(&template, &input, &mut schemas);
        if spec.body.as_deref() != Some("*") {
            let skip: Vec<&str> = bound
                .iter()
                .map(String::as_str)
                .chain(spec.body.as_deref())
                .collect();
            query_parameters(&input, "", &skip, &mut schemas, &mut parameters, 0);
        }
        let output = method.output();
        let plan = BodyPlan::new(spec, &input, &output, None);
        if let Some(mask) = plan.mask_field() {
            media::describe_mask_default(&mut parameters, mask);
        }
        let id = operation_id(&mut operation_ids, &spec.service, &spec.method);
        let mut operation = json!({
            "operationId": id,
            "tags": [spec.service],
            "parameters": parameters,
        });
        if let Some(text) = comments(&method) {
            let summary = text.lines().next().unwrap_or_default().to_string();
            operation["summary"] = summary.into();
            operation["description"] = text.into();
        }
        if let Some(body) = spec.body.as_deref() {
            let accept = accepted_media(config, spec);
            operation["requestBody"] = if spec.kind == MethodKind::ClientStreaming {
                media::stream_request_body(&plan, &input, body, &accept, &mut schemas)
            } else {
                media::request_body(&plan, &input, body, &accept, &mut schemas)
            };
        }
        let json = JsonOptions::resolve(config, |r| {
            r.selects_binding(
                &spec.http_method,
                &spec.template,
                Some((&spec.service, &spec.method)),
            )
        });
        operation["responses"] =
            schemas.answer(json, |schemas| responses(spec, &plan, &output, schemas));
        let answer = config.answer_settings(
            &spec.http_method,
            &spec.template,
            Some((&spec.service, &spec.method)),
        );
        declare_answer(
            &mut operation["responses"],
            answer.status.map(|(_, s)| s),
            answer.location.is_some(),
        );
        let policy = RoutePolicy::resolve(config, &no_limits, |r| {
            r.selects_binding(
                &spec.http_method,
                &spec.template,
                Some((&spec.service, &spec.method)),
            )
        });
        if let Some(security) = security(config, &policy) {
            operation["security"] = security;
        }
        let pinned = config.from_identity(|r| {
            r.selects_binding(
                &spec.http_method,
                &spec.template,
                Some((&spec.service, &spec.method)),
            )
        });
        if let Some((_, fields)) = pinned {
            describe_pins(&mut operation, &fields);
        }
        if spec.kind != MethodKind::Unary {
            let request = schemas.message(&input);
            let response = schemas.message(&output);
            describe_websocket(&mut operation, spec.kind, request, response);
        }
        let entry = paths.entry(path).or_default();
        let verb = spec.http_method.to_ascii_lowercase();
        if is_openapi_method(&verb) && !entry.contains_key(&verb) {
            entry.insert(verb, operation);
        }
    }

    for plan in plans {
        let (path, operation) = aggregate_operation(config, schema, plan, &mut schemas, &no_limits);
        let verb = plan.http_method.to_ascii_lowercase();
        if is_openapi_method(&verb) {
            paths.entry(path).or_default().insert(verb, operation);
        }
    }

    let problem = config.server.errors == ErrorFormat::Problem;
    if problem {
        as_problem_details(&mut paths);
    }
    let mut components = json!({ "schemas": {}, "securitySchemes": {} });
    for (name, schema) in schemas.schemas {
        components["schemas"][name] = schema;
    }
    if problem {
        components["schemas"]["gatehouse.Problem"] = problem_schema();
    } else {
        components["schemas"]["gatehouse.Error"] = error_schema();
    }
    let errors = if problem {
        "Every error is RFC 9457 problem details (application/problem+json)."
    } else {
        "Every error is {code, message, details}."
    };
    if !config.auth.jwt.is_empty() {
        components["securitySchemes"]["bearer"] = json!({
            "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
        });
    }
    if !config.auth.api_keys.is_empty() {
        components["securitySchemes"]["apiKey"] = json!({
            "type": "apiKey", "in": "header", "name": config.auth.api_key_header,
        });
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "gatehouse",
            "version": env!("CARGO_PKG_VERSION"),
            "description": format!("REST/JSON in front of gRPC services, generated from their \
                protos and google.api.http rules. {errors}"),
        },
        "servers": [{ "url": "/" }],
        "tags": tags,
        "paths": paths,
        "components": components,
    })
}

/// The comments written above a descriptor in its .proto file, trimmed.
pub fn comments(descriptor: &impl Described) -> Option<String> {
    let file = descriptor.file();
    let info = file.file_descriptor_proto().source_code_info.as_ref()?;
    let location = info
        .location
        .iter()
        .find(|l| l.path == descriptor.source_path())?;
    let text = location.leading_comments.as_deref()?.trim();
    // `buf:lint:ignore RULE` lines talk to the linter, not to the API's readers.
    let text: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.starts_with("buf:lint:ignore"))
        .collect();
    let text = text.join("\n");
    (!text.is_empty()).then_some(text)
}

/// Descriptors that have source locations.
pub trait Described {
    fn file(&self) -> prost_reflect::FileDescriptor;
    fn source_path(&self) -> &[i32];
}

macro_rules! described {
    ($($ty:ty),*) => {$(
        impl Described for $ty {
            fn file(&self) -> prost_reflect::FileDescriptor {
                self.parent_file()
            }
            fn source_path(&self) -> &[i32] {
                self.path()
            }
        }
    )*};
}

described!(
    MessageDescriptor,
    prost_reflect::EnumDescriptor,
    FieldDescriptor,
    prost_reflect::MethodDescriptor,
    prost_reflect::ServiceDescriptor
);

fn is_openapi_method(verb: &str) -> bool {
    matches!(
        verb,
        "get" | "put" | "post" | "delete" | "options" | "head" | "patch" | "trace"
    )
}

/// `Service_Method`, then `Service_Method_2`, ... for further bindings of the same method.
fn operation_id(seen: &mut BTreeMap<String, usize>, service: &str, method: &str) -> String {
    let short = service.rsplit('.').next().unwrap_or(service);
    let base = format!("{short}_{method}");
    let count = seen.entry(base.clone()).or_insert(0);
    *count += 1;
    if *count == 1 {
        base
    } else {
        format!("{base}_{count}")
    }
}

/// The OpenAPI path of a template (`/v1/{name}` for `/v1/{name=shelves/*}`), its path
/// parameters, and the fields they bind (dotted proto names).
fn path_parameters(
    template: &PathTemplate,
    input: &MessageDescriptor,
    schemas: &mut Schemas,
) -> (String, Vec<Value>, Vec<String>) {
    let variables = template.variables();
    let mut path = String::new();
    let mut parameters = Vec::new();
    let mut bound = Vec::new();
    let mut anonymous = 0;
    let segments = template.segments();
    let mut i = 0;
    while i < segments.len() {
        path.push('/');
        if let Some(variable) = variables.iter().find(|v| v.segment_range().start == i) {
            // Dots would read as formatting in many tools' path templates: `{user.user_id}`
            // becomes `{user_user_id}` (the description names the field).
            let field_name = variable.field_path().join(".");
            let name = variable.field_path().join("_");
            let field = leaf_field(input, variable.field_path());
            let mut schema = field
                .as_ref()
                .map(|f| schemas.single(&f.kind()))
                .unwrap_or_else(|| json!({ "type": "string" }));
            let range = variable.segment_range();
            if variable.is_multi_segment() {
                let pattern: Vec<String> = segments[range.clone()]
                    .iter()
                    .map(|s| match s {
                        Segment::Literal(text) => text.clone(),
                        Segment::Single => "*".into(),
                        Segment::Multi => "**".into(),
                    })
                    .collect();
                schema = json!({
                    "type": "string",
                    "description": format!("Matches {}; slashes stay as they are.", pattern.join("/")),
                });
            }
            let mut parameter = json!({
                "name": name,
                "in": "path",
                "required": true,
                "schema": schema,
            });
            let mut description = format!("Sets `{field_name}`.");
            if let Some(text) = field.as_ref().and_then(comments) {
                description = format!("{description} {text}");
            }
            parameter["description"] = description.into();
            parameters.push(parameter);
            path.push_str(&format!("{{{name}}}"));
            bound.push(field_name);
            i = range.end.max(i + 1);
            continue;
        }
        match &segments[i] {
            Segment::Literal(text) => path.push_str(text),
            Segment::Single | Segment::Multi => {
                anonymous += 1;
                let name = format!("_{anonymous}");
                parameters.push(json!({
                    "name": name,
                    "in": "path",
                    "required": true,
                    "description": "Any one path segment (an unnamed `*` in the template).",
                    "schema": { "type": "string" },
                }));
                path.push_str(&format!("{{{name}}}"));
            }
        }
        i += 1;
    }
    if path.is_empty() {
        path.push('/');
    }
    if let Some(verb) = template.verb() {
        path.push(':');
        path.push_str(verb);
    }
    (path, parameters, bound)
}

fn leaf_field(message: &MessageDescriptor, path: &[String]) -> Option<FieldDescriptor> {
    let (first, rest) = path.split_first()?;
    let field = message.get_field_by_name(first)?;
    if rest.is_empty() {
        return Some(field);
    }
    match field.kind() {
        Kind::Message(inner) => leaf_field(&inner, rest),
        _ => None,
    }
}

/// Query parameters for every field a query string can set (dotted JSON names through
/// singular messages), except those in `skip` (bound by the path or the body).
fn query_parameters(
    message: &MessageDescriptor,
    prefix: &str,
    skip: &[&str],
    schemas: &mut Schemas,
    out: &mut Vec<Value>,
    depth: usize,
) {
    for field in message.fields() {
        let proto_path = format!("{prefix}{}", field.name());
        if skip.contains(&proto_path.as_str()) {
            continue;
        }
        let json_path = json_path(prefix, &field);
        if field.is_map() {
            continue;
        }
        let kind = field.kind();
        let text_like = match &kind {
            Kind::Message(m) => schema::is_text_like(m),
            _ => true,
        };
        if let Kind::Message(inner) = &kind
            && !text_like
        {
            // Into singular messages a few levels deep (recursive types end there).
            if !field.is_list() && schema::well_known(inner).is_none() && depth < 3 {
                query_parameters(
                    inner,
                    &format!("{proto_path}."),
                    skip,
                    schemas,
                    out,
                    depth + 1,
                );
            }
            continue;
        }
        let single = schemas.single(&kind);
        let schema = if field.is_list() {
            json!({ "type": "array", "items": single })
        } else {
            single
        };
        let mut parameter = json!({
            "name": json_path,
            "in": "query",
            "required": false,
            "schema": schema,
        });
        if field.is_list() {
            parameter["style"] = "form".into();
            parameter["explode"] = true.into();
        }
        if let Some(text) = comments(&field) {
            parameter["description"] = text.into();
        }
        out.push(parameter);
    }
}

/// The dotted JSON name of `field` under the proto-named `prefix`.
fn json_path(prefix: &str, field: &FieldDescriptor) -> String {
    let outer: Vec<String> = prefix
        .split('.')
        .filter(|s| !s.is_empty())
        .map(lower_camel)
        .collect();
    let mut parts = outer;
    parts.push(field.json_name().to_string());
    parts.join(".")
}

fn lower_camel(name: &str) -> String {
    let mut out = String::new();
    let mut upper = false;
    for c in name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// The 200 answer for the binding's kind, and every error status.
fn responses(
    spec: &RouteSpec,
    plan: &BodyPlan,
    output: &MessageDescriptor,
    schemas: &mut Schemas,
) -> Value {
    if let Some(raw) = media::raw_response(spec.kind, plan) {
        let mut responses = error_responses();
        responses["200"] = raw;
        return responses;
    }
    let body = match spec.response_body.as_deref() {
        Some(name) => output
            .get_field_by_name(name)
            .map(|f| schemas.field(&f))
            .unwrap_or_else(|| json!({})),
        None => schemas.message(output),
    };
    let mut responses = error_responses();
    match spec.kind {
        MethodKind::Unary | MethodKind::ClientStreaming => {
            responses["200"] = json!({
                "description": "The response message.",
                "content": { "application/json": { "schema": body } },
            });
        }
        MethodKind::ServerStreaming => {
            responses["200"] = json!({
                "description": "The response stream: one JSON message per line (NDJSON), or \
                    Server-Sent Events when Accept asks for text/event-stream. An error after the \
                    first message ends the stream with {\"error\": <error>} (an `error` event).",
                "content": {
                    "application/x-ndjson": { "schema": body },
                    "text/event-stream": { "schema": { "type": "string" } },
                },
            });
        }
        MethodKind::BidiStreaming => {}
    }
    responses
}

/// Says how to call a streaming method over a WebSocket, in the description (which Swagger UI
/// at /docs shows) and in `x-gatehouse-websocket` (the message schemas each way): OpenAPI has no
/// model of a WebSocket.
fn describe_websocket(operation: &mut Value, kind: MethodKind, request: Value, response: Value) {
    let plain = match kind {
        MethodKind::BidiStreaming => {
            "This method streams both ways, which plain HTTP does not carry (it answers 426): \
             call it over a WebSocket."
        }
        _ => "It can also be called over a WebSocket.",
    };
    let note = format!(
        "{plain} Open one with GET on this path and `Sec-WebSocket-Protocol: gatehouse.v1` \
         (from a browser, which cannot set `Authorization`, offer the token as a second \
         protocol, `bearer.<token>`). Path variables and the query fill every request. Each \
         text frame is one JSON message each way; send an empty text frame to end your side. \
         The last frame is the call's status, `{{\"@type\": \
         \"type.googleapis.com/google.rpc.Status\", \"code\", \"message\", \"details\"}}`, \
         then the socket closes with 1000 (OK) or 4000 + the code."
    );
    let text = match operation["description"].as_str() {
        Some(text) => format!("{text}\n\n{note}"),
        None => note,
    };
    operation["description"] = text.into();
    operation["x-gatehouse-websocket"] = json!({
        "subprotocol": "gatehouse.v1",
        "request": request,
        "response": response,
    });
    if kind == MethodKind::BidiStreaming {
        operation["responses"]["426"] = json!({
            "description": "A plain HTTP request: this method is served over a WebSocket opened \
                on this path (`Upgrade: websocket`).",
            "headers": { "Upgrade": { "schema": { "type": "string", "const": "websocket" } } },
            "content": { "application/json": {
                "schema": { "$ref": "#/components/schemas/gatehouse.Error" },
            }},
        });
    }
}

/// Says in the operation's description which request fields the credential sets
/// (`[[routes]] from_identity`).
fn describe_pins(operation: &mut Value, fields: &BTreeMap<String, String>) {
    let list: Vec<String> = fields
        .iter()
        .map(|(field, source)| format!("`{field}` ({source})"))
        .collect();
    let note = format!(
        "Set from the caller's credential: {}. A request that sends another value is refused \
         with 403; one that sends none is given the credential's.",
        list.join(", ")
    );
    let text = match operation["description"].as_str() {
        Some(text) => format!("{text}\n\n{note}"),
        None => note,
    };
    operation["description"] = text.into();
}

/// Moves the success answer to the status the route declares (`[[routes]] status`): a 204
/// has no content; a route with a `location` template sends a `Location` header.
fn declare_answer(responses: &mut Value, status: Option<u16>, location: bool) {
    let Some(mut success) = responses.as_object_mut().and_then(|r| r.remove("200")) else {
        return;
    };
    let status = status.unwrap_or(200);
    if status == 204 {
        success = json!({ "description": "Done; the answer has no content." });
    }
    if location {
        success["headers"] = json!({ "Location": {
            "description": "Where the resource the call made or named can be found.",
            "schema": { "type": "string" },
        }});
    }
    responses[status.to_string()] = success;
}

fn error_responses() -> Value {
    let mut responses = Map::new();
    for (status, description) in ERROR_STATUSES {
        let mut response = json!({
            "description": description,
            "content": { "application/json": { "schema": { "$ref": "#/components/schemas/gatehouse.Error" } } },
        });
        match status {
            "401" => {
                response["headers"] =
                    json!({ "WWW-Authenticate": { "schema": { "type": "string" } } });
            }
            "429" | "503" => {
                response["headers"] = json!({ "Retry-After": { "schema": { "type": "integer" } } });
            }
            _ => {}
        }
        responses.insert(status.into(), response);
    }
    Value::Object(responses)
}

fn error_schema() -> Value {
    json!({
        "type": "object",
        "description": "Every failure: a google.rpc.Status in JSON.",
        "required": ["code", "message", "details"],
        "properties": {
            "code": { "type": "integer", "format": "int32", "description": "google.rpc.Code" },
            "message": { "type": "string" },
            "details": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["@type"],
                    "properties": { "@type": { "type": "string" } },
                    "additionalProperties": true,
                },
            },
        },
    })
}

/// The error answers of every operation in `paths` described as problem details: each
/// `application/json` content of `gatehouse.Error` becomes `application/problem+json` of
/// `gatehouse.Problem`. Done on the finished paths, so that every way an operation is described
/// follows.
fn as_problem_details(paths: &mut BTreeMap<String, Map<String, Value>>) {
    let error = json!({ "$ref": "#/components/schemas/gatehouse.Error" });
    let problem = json!({ "schema": { "$ref": "#/components/schemas/gatehouse.Problem" } });
    let operations = paths.values_mut().flat_map(|item| item.values_mut());
    for responses in operations.filter_map(|op| op.get_mut("responses")?.as_object_mut()) {
        for content in responses
            .values_mut()
            .filter_map(|r| r.get_mut("content")?.as_object_mut())
        {
            if content
                .get("application/json")
                .is_some_and(|json| json["schema"] == error)
            {
                content.remove("application/json");
                content.insert(crate::error::PROBLEM_JSON.into(), problem.clone());
            }
        }
    }
}

fn problem_schema() -> Value {
    json!({
        "type": "object",
        "description": "Every failure, as RFC 9457 problem details; `code` and `details` are \
            those of the google.rpc.Status the default error shape would carry.",
        "required": ["type", "title", "status", "detail", "code", "details"],
        "properties": {
            "type": {
                "type": "string",
                "format": "uri",
                "description": "urn:gatehouse:error:<reason>, the machine reason in lowercase \
                    with - for _ (urn:gatehouse:error:route-not-found, \
                    urn:gatehouse:error:backend-status).",
            },
            "title": { "type": "string", "description": "The HTTP status's reason phrase." },
            "status": { "type": "integer", "format": "int32" },
            "detail": { "type": "string" },
            "code": { "type": "integer", "format": "int32", "description": "google.rpc.Code" },
            "details": error_schema()["properties"]["details"].clone(),
        },
    })
}

/// The security requirement of a policy: any configured credential, when one is needed.
fn security(config: &Config, policy: &RoutePolicy) -> Option<Value> {
    if !policy.authenticated {
        return None;
    }
    let mut options = Vec::new();
    if !config.auth.jwt.is_empty() {
        options.push(json!({ "bearer": [] }));
    }
    if !config.auth.api_keys.is_empty() {
        options.push(json!({ "apiKey": [] }));
    }
    Some(Value::Array(options))
}

/// An aggregate route: its parameters, and an answer with one property per call plus `errors`.
fn aggregate_operation(
    config: &Config,
    schema: &Schema,
    plan: &Plan,
    schemas: &mut Schemas,
    no_limits: &[Option<std::sync::Arc<crate::security::ratelimit::RateLimit>>],
) -> (String, Value) {
    let mut path = String::new();
    let mut parameters = Vec::new();
    let variables = plan.template.variables();
    let segments = plan.template.segments();
    let mut i = 0;
    while i < segments.len() {
        path.push('/');
        if let Some(variable) = variables.iter().find(|v| v.segment_range().start == i) {
            let name = variable.field_path().join(".");
            parameters.push(json!({
                "name": name, "in": "path", "required": true, "schema": { "type": "string" },
            }));
            path.push_str(&format!("{{{name}}}"));
            i = variable.segment_range().end.max(i + 1);
            continue;
        }
        if let Segment::Literal(text) = &segments[i] {
            path.push_str(text);
        }
        i += 1;
    }
    if let Some(verb) = plan.template.verb() {
        path.push(':');
        path.push_str(verb);
    }
    let names: Vec<&str> = plan.calls.iter().map(|c| c.name.as_str()).collect();
    parameters.push(json!({
        "name": FIELDS_PARAMETER,
        "in": "query",
        "required": false,
        "description": "Run and show only these calls (and run what they read).",
        "style": "form",
        "explode": false,
        "schema": { "type": "array", "items": { "type": "string", "enum": names } },
    }));
    let mut query_names = Vec::new();
    for call in &plan.calls {
        for field in &call.fields {
            if let Source::Query(name) = &field.source
                && !query_names.contains(name)
            {
                query_names.push(name.clone());
                parameters.push(json!({
                    "name": name, "in": "query", "required": false, "schema": { "type": "string" },
                }));
            }
        }
    }
    let template = plan.template.to_string();
    let json = JsonOptions::resolve(config, |r| {
        r.selects_binding(&plan.http_method, &template, None)
    });
    let mut properties = Map::new();
    for call in &plan.calls {
        if let Some(output) = schema
            .descriptors()
            .get_message_by_name(&call.method.output)
        {
            let contributed = call
                .contributes
                .as_ref()
                .and_then(|c| output.get_field_by_name(&c.name));
            let mut schema = schemas.answer(json, |schemas| match contributed {
                Some(field) => schemas.field(&field),
                None => schemas.message(&output),
            });
            if let Value::Object(object) = &mut schema
                && call.required
            {
                object.insert(
                    "description".into(),
                    "Required: always present in a 200.".into(),
                );
            }
            properties.insert(call.name.clone(), schema);
        }
    }
    properties.insert(
        "errors".into(),
        json!({
            "type": "array",
            "description": "Optional calls that failed or could not run; their keys are absent.",
            "items": {
                "type": "object",
                "required": ["call", "code", "message"],
                "properties": {
                    "call": { "type": "string", "enum": names },
                    "code": { "type": "integer", "format": "int32" },
                    "message": { "type": "string" },
                },
            },
        }),
    );
    // Only `errors` is always there: `?fields=` may leave any call out, required ones too.
    let required = ["errors"];
    let mut responses = error_responses();
    responses["200"] = json!({
        "description": "One property per call (those `fields` selects), each the call's response.",
        "content": { "application/json": { "schema": {
            "type": "object",
            "properties": properties,
            "required": required,
        }}},
    });
    let template = plan.template.to_string();
    let answer = config.answer_settings(&plan.http_method, &template, None);
    declare_answer(&mut responses, answer.status.map(|(_, s)| s), false);
    let id = format!(
        "aggregate_{}",
        path.trim_matches('/')
            .replace(['/', '{', '}', ':', '-', '.'], "_")
    );
    let mut operation = json!({
        "operationId": id,
        "tags": ["aggregates"],
        "summary": format!("Aggregate of {}", names.join(", ")),
        "parameters": parameters,
        "responses": responses,
    });
    let policy = RoutePolicy::resolve(config, no_limits, |r| {
        r.selects_binding(&plan.http_method, &plan.template.to_string(), None)
    });
    if let Some(security) = security(config, &policy) {
        operation["security"] = security;
    }
    (path, operation)
}

/// The media ranges `[[routes]] accept` allows for the binding's body; empty when any goes.
fn accepted_media(config: &Config, spec: &RouteSpec) -> Vec<String> {
    let selects = |r: &RouteConfig| {
        r.selects_binding(
            &spec.http_method,
            &spec.template,
            Some((&spec.service, &spec.method)),
        )
    };
    let accept = config.route_setting(selects, |r| r.accept.clone());
    // Validated with the config: every range parses; written as the gateway matches it.
    accept
        .unwrap_or_default()
        .iter()
        .filter_map(|range| MediaRange::parse(range).ok())
        .map(|range| range.to_string())
        .collect()
}

/// Used by `gatehouse openapi` without a config: every service of `schema`, public.
pub fn all_services_config(schema: &Schema) -> Config {
    let mut config = Config::default();
    for service in schema.services() {
        config.backends.push(crate::config::BackendConfig::new(
            &service.name,
            &service.name,
            "http://127.0.0.1:1",
        ));
    }
    config
}
