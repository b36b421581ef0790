//! One TypeScript function per HTTP binding a config serves, grouped in a class per service,
//! and one per aggregate: each takes the request message and describes to the runtime how the
//! gateway reads it (path segments and the fields they bind, the body, raw bytes), so that the
//! path, query and body it sends are the ones the binding maps onto the message.

use std::collections::{BTreeMap, BTreeSet};

use prost_reflect::{FieldDescriptor, Kind, MessageDescriptor, MethodDescriptor};

use super::types::{Flavor, Types, camel, doc, is_required, pascal, property_key, quote};
use crate::aggregate::{Plan, Source};
use crate::config::Config;
use crate::http_rule::{PathTemplate, Segment};
use crate::openapi::{comments, schema::is_text_like};
use crate::schema::{MethodKind, RouteSpec, Schema};
use crate::transcode::JsonOptions;
use crate::transcode::body::BodyPlan;

/// A binding the client calls.
pub struct Binding<'a> {
    pub spec: &'a RouteSpec,
    pub method: MethodDescriptor,
    pub template: PathTemplate,
}

/// The bindings `config` serves out of `schema` that a client can call, in the schema's order.
pub fn served<'a>(config: &Config, schema: &'a Schema) -> Vec<Binding<'a>> {
    let pool = schema.descriptors();
    schema
        .bindings()
        .iter()
        .filter(|spec| !spec.implicit || config.server.implicit_routes)
        .filter(|spec| config.backend_for(&spec.service).is_some())
        .filter_map(|spec| {
            let method = pool
                .get_service_by_name(&spec.service)?
                .methods()
                .find(|m| m.name() == spec.method)?;
            let template = PathTemplate::parse(&spec.template).ok()?;
            Some(Binding {
                spec,
                method,
                template,
            })
        })
        .collect()
}

/// The class of every service, and of the aggregates; returns the declarations and the
/// members of the `Gatehouse` class (property name, class name, comment).
pub fn classes(
    config: &Config,
    schema: &Schema,
    bindings: &[Binding<'_>],
    plans: &[Plan],
    types: &mut Types,
    class_names: &BTreeMap<String, String>,
) -> (String, Vec<(String, String)>) {
    let mut out = String::new();
    let mut members = Vec::new();
    let mut services: Vec<&str> = Vec::new();
    for binding in bindings {
        if !services.contains(&binding.spec.service.as_str()) {
            services.push(&binding.spec.service);
        }
    }
    for service in services {
        let class = &class_names[service];
        let descriptor = schema.descriptors().get_service_by_name(service);
        let mut text = doc(descriptor.as_ref().and_then(comments).as_deref(), "");
        text.push_str(&format!("export class {class} {{\n"));
        text.push_str(TRANSPORT_FIELD);
        let mut taken: BTreeMap<String, usize> = BTreeMap::new();
        for binding in bindings.iter().filter(|b| b.spec.service == service) {
            let base = camel(&binding.spec.method);
            let count = taken.entry(base.clone()).or_insert(0);
            *count += 1;
            let name = if *count == 1 {
                base
            } else {
                format!("{base}_{count}")
            };
            text.push_str(&function(config, binding, &name, types));
        }
        text.push_str("}\n\n");
        out.push_str(&text);
        members.push((camel(class.trim_end_matches("Client")), class.clone()));
    }
    if !plans.is_empty() {
        out.push_str(&aggregates(config, schema, plans, types));
        members.push(("aggregates".into(), "Aggregates".into()));
    }
    (out, members)
}

/// Every class holds the transport its calls go through.
const TRANSPORT_FIELD: &str = "  private readonly t: Transport;\n\n  constructor(transport: Transport) {\n    this.t = transport;\n  }\n";

/// The class name of every service: `UserServiceClient`, with the package when two services
/// share a name.
pub fn class_names(bindings: &[Binding<'_>]) -> BTreeMap<String, String> {
    let mut services: BTreeSet<&str> = BTreeSet::new();
    for binding in bindings {
        services.insert(&binding.spec.service);
    }
    let short = |service: &str| service.rsplit('.').next().unwrap_or(service).to_string();
    let mut names = BTreeMap::new();
    for service in &services {
        let clash = services
            .iter()
            .filter(|other| short(other) == short(service))
            .count()
            > 1;
        let name = if clash {
            pascal(&service.replace('.', "_"))
        } else {
            short(service)
        };
        names.insert(service.to_string(), format!("{name}Client"));
    }
    names
}

/// The function of one binding.
fn function(config: &Config, binding: &Binding<'_>, name: &str, types: &mut Types) -> String {
    let spec = binding.spec;
    let input = binding.method.input();
    let output = binding.method.output();
    let plan = BodyPlan::new(spec, &input, &output, None);
    let selects = |r: &crate::config::RouteConfig| {
        r.selects_binding(
            &spec.http_method,
            &spec.template,
            Some((&spec.service, &spec.method)),
        )
    };
    let options = JsonOptions::resolve(config, selects);
    let answer = config.answer_settings(
        &spec.http_method,
        &spec.template,
        Some((&spec.service, &spec.method)),
    );
    let no_content = answer.status.map(|(_, s)| s) == Some(204);

    let (path, bound) = path_parts(&binding.template, &input);
    let wildcards = binding
        .template
        .segments()
        .iter()
        .enumerate()
        .filter(|(i, s)| {
            !matches!(s, Segment::Literal(_))
                && !binding
                    .template
                    .variables()
                    .iter()
                    .any(|v| v.segment_range().contains(i))
        })
        .count();
    let whole_raw = plan.raw_request() && spec.body.as_deref() == Some("*");
    let body_member = match spec.body.as_deref() {
        None => None,
        Some("*") if whole_raw => Some("body".to_string()),
        Some("*") => Some("*".to_string()),
        Some(field) => input
            .get_field_by_name(field)
            .map(|f| f.json_name().to_string()),
    };

    // The request: its input flavor, less what this binding cannot carry, with the fields
    // the path needs required and a raw body as a Blob.
    let mut request = types.message(&input, Flavor::Input);
    let unsendable = unsendable(&input, spec.body.as_deref());
    if !unsendable.is_empty() {
        request = format!("DistributiveOmit<{request}, {}>", union(&unsendable));
    }
    if plan.raw_request()
        && !whole_raw
        && let Some(member) = &body_member
    {
        request = format!("WithRawBody<{request}, {}>", quote(member));
    }
    let required: Vec<String> = bound
        .iter()
        .filter(|path| path.len() == 1)
        .filter(|path| {
            input
                .fields()
                .find(|f| f.json_name() == path[0])
                .is_some_and(|f| f.containing_oneof().is_none() && !is_required(&f))
        })
        .map(|path| path[0].clone())
        .collect();
    if !required.is_empty() {
        request = format!("WithRequired<{request}, {}>", union(&required));
    }
    if whole_raw {
        request = "Blob".into();
    }

    let response = match spec.response_body.as_deref() {
        Some(field) => output
            .get_field_by_name(field)
            .map(|f| types.field(&f, Flavor::Output(options)))
            .unwrap_or_else(|| "unknown".into()),
        None => types.message(&output, Flavor::Output(options)),
    };

    let mut route = format!(
        "{{ name: {}, method: {}, path: [{}]",
        quote(&format!("{}.{}", spec.service, spec.method)),
        quote(&spec.http_method),
        path.join(", ")
    );
    if let Some(verb) = binding.template.verb() {
        route.push_str(&format!(", verb: {}", quote(verb)));
    }
    if let Some(member) = &body_member {
        route.push_str(&format!(", body: {}", quote(member)));
    }
    if plan.raw_request() {
        route.push_str(", raw: true");
    }
    route.push_str(" }");

    let mut about = comments(&binding.method).unwrap_or_default();
    if !about.is_empty() {
        about.push_str("\n\n");
    }
    about.push_str(&format!("`{} {}`", spec.http_method, spec.template));
    let kind = if plan.raw_request() && spec.kind == MethodKind::ClientStreaming {
        // The raw body is the stream: the gateway cuts it into messages.
        MethodKind::Unary
    } else {
        spec.kind
    };
    let (wild_param, wild_arg) = if wildcards > 0 {
        let tuple = vec!["string"; wildcards].join(", ");
        (format!(", segments: [{tuple}]"), ", segments".to_string())
    } else {
        (String::new(), String::new())
    };
    let request_arg = if whole_raw {
        "{ body: request }"
    } else {
        "request"
    };
    let (signature, call) = match kind {
        MethodKind::Unary if plan.raw_response() => (
            format!("request: {request}{wild_param}, options?: CallOptions): Promise<Blob>"),
            format!("this.t.blob({route}, {request_arg}, options{wild_arg})"),
        ),
        MethodKind::Unary => {
            let response = if no_content { "void".into() } else { response };
            (
                format!(
                    "request: {request}{wild_param}, options?: CallOptions): Promise<{response}>"
                ),
                format!("this.t.unary<{response}>({route}, {request_arg}, options{wild_arg})"),
            )
        }
        MethodKind::ServerStreaming if plan.raw_response() => {
            about.push_str("\n\nThe stream's bytes, whole, as one Blob of their type.");
            (
                format!("request: {request}{wild_param}, options?: CallOptions): Promise<Blob>"),
                format!("this.t.blob({route}, {request_arg}, options{wild_arg})"),
            )
        }
        MethodKind::ServerStreaming => {
            about.push_str(
                "\n\nThe responses as they arrive (NDJSON); leaving the loop early cancels the call.",
            );
            (
                format!(
                    "request: {request}{wild_param}, options?: CallOptions): AsyncGenerator<{response}, void, undefined>"
                ),
                format!(
                    "this.t.serverStream<{response}>({route}, {request_arg}, options{wild_arg})"
                ),
            )
        }
        MethodKind::ClientStreaming => {
            about.push_str(
                "\n\nEvery message goes in one NDJSON body; the path and the query come from the first.",
            );
            (
                format!(
                    "requests: Iterable<{request}> | AsyncIterable<{request}>{wild_param}, options?: CallOptions): Promise<{response}>"
                ),
                format!("this.t.clientStream<{response}>({route}, requests, options{wild_arg})"),
            )
        }
        MethodKind::BidiStreaming => {
            about.push_str(
                "\n\nOver a WebSocket: `params` fills the path and the query, and through them every message.",
            );
            let message = match body_member.as_deref() {
                Some(member) if member != "*" => input
                    .fields()
                    .find(|f| f.json_name() == member)
                    .map(|f| types.field(&f, Flavor::Input))
                    .unwrap_or_else(|| "unknown".into()),
                _ => types.message(&input, Flavor::Input),
            };
            let params = types.message(&input, Flavor::Input);
            (
                format!(
                    "params: Partial<{params}>{wild_param}, options?: CallOptions): BidiCall<{message}, {response}>"
                ),
                format!("this.t.bidi<{message}, {response}>({route}, params, options{wild_arg})"),
            )
        }
    };
    format!(
        "\n{}  {name}({signature} {{\n    return {call};\n  }}\n",
        doc(Some(&about), "  ")
    )
}

/// The path segments of `template` as the runtime reads them, and the JSON-named field paths
/// the variables bind.
fn path_parts(
    template: &PathTemplate,
    input: &MessageDescriptor,
) -> (Vec<String>, Vec<Vec<String>>) {
    let mut parts = Vec::new();
    let mut bound = Vec::new();
    let segments = template.segments();
    let variables = template.variables();
    let mut wildcard = 0;
    let mut i = 0;
    while i < segments.len() {
        if let Some(variable) = variables.iter().find(|v| v.segment_range().start == i) {
            let path = json_path(input, variable.field_path());
            let names: Vec<String> = path.iter().map(|n| quote(n)).collect();
            let multi = if variable.is_multi_segment() {
                ", multi: true"
            } else {
                ""
            };
            parts.push(format!("{{ field: [{}]{multi} }}", names.join(", ")));
            bound.push(path);
            i = variable.segment_range().end.max(i + 1);
            continue;
        }
        match &segments[i] {
            Segment::Literal(text) => parts.push(quote(text)),
            Segment::Single => {
                parts.push(format!("{{ wildcard: {wildcard} }}"));
                wildcard += 1;
            }
            Segment::Multi => {
                parts.push(format!("{{ wildcard: {wildcard}, multi: true }}"));
                wildcard += 1;
            }
        }
        i += 1;
    }
    (parts, bound)
}

/// The JSON names along a proto-named field path.
fn json_path(message: &MessageDescriptor, path: &[String]) -> Vec<String> {
    let mut names = Vec::new();
    let mut here = Some(message.clone());
    for name in path {
        let field = here.as_ref().and_then(|m| m.get_field_by_name(name));
        match field {
            Some(field) => {
                names.push(field.json_name().to_string());
                here = match field.kind() {
                    Kind::Message(inner) => Some(inner),
                    _ => None,
                };
            }
            None => {
                names.push(name.clone());
                here = None;
            }
        }
    }
    names
}

/// The top-level fields a request of this binding cannot carry: with no body or one field as
/// the body, the others go in the query string, which holds no map, no list of messages and
/// no JSON structure.
fn unsendable(input: &MessageDescriptor, body: Option<&str>) -> Vec<String> {
    if body == Some("*") {
        return Vec::new();
    }
    input
        .fields()
        .filter(|field| Some(field.name()) != body)
        .filter(|field| !in_query(field))
        .map(|field| field.json_name().to_string())
        .collect()
}

fn in_query(field: &FieldDescriptor) -> bool {
    if field.is_map() {
        return false;
    }
    match field.kind() {
        Kind::Message(m) if is_text_like(&m) => true,
        Kind::Message(m) => !field.is_list() && crate::openapi::schema::well_known(&m).is_none(),
        _ => true,
    }
}

fn union(names: &[String]) -> String {
    names
        .iter()
        .map(|n| quote(n))
        .collect::<Vec<_>>()
        .join(" | ")
}

/// The `Aggregates` class: one function per aggregate, and its answer's type.
fn aggregates(config: &Config, schema: &Schema, plans: &[Plan], types: &mut Types) -> String {
    let mut declarations = String::new();
    let mut functions = String::new();
    for (plan, name) in plans.iter().zip(aggregate_names(plans)) {
        let answer = answer_name(&name);
        let template = plan.template.to_string();
        let options = JsonOptions::resolve(config, |r| {
            r.selects_binding(&plan.http_method, &template, None)
        });
        let call_names: Vec<String> = plan.calls.iter().map(|c| quote(&c.name)).collect();
        let keys = call_names.join(" | ");

        let mut members = String::new();
        for call in &plan.calls {
            let Some(output) = schema
                .descriptors()
                .get_message_by_name(&call.method.output)
            else {
                continue;
            };
            let ty = match &call.contributes {
                Some(contribution) => {
                    let mut ty = types.field(&contribution.field, Flavor::Output(options));
                    let unset_is_null = matches!(contribution.field.kind(),
                        Kind::Message(m) if m.package_name() == "google.protobuf")
                        && !contribution.field.is_list()
                        && !contribution.field.is_map();
                    if unset_is_null && !ty.contains("null") && ty != "JsonValue" {
                        ty.push_str(" | null");
                    }
                    ty
                }
                None => types.message(&output, Flavor::Output(options)),
            };
            let method = format!("{}/{}", call.method.service, call.method.method);
            let (optional, note) = if call.required {
                (
                    "",
                    format!("`{method}`: required, present whenever selected."),
                )
            } else {
                (
                    "?",
                    format!(
                        "`{method}`: absent when it failed (see `errors`) or was not selected."
                    ),
                )
            };
            members.push_str(&doc(Some(&note), "  "));
            members.push_str(&format!(
                "  {}{optional}: {ty};\n",
                property_key(&call.name)
            ));
        }
        members.push_str("  /** The optional calls that failed or could not run. */\n");
        members.push_str(&format!("  errors: AggregateCallError<{keys}>[];\n"));
        declarations.push_str(&doc(Some(&format!("The answer of `{}`.", plan.route)), ""));
        declarations.push_str(&format!("export interface {answer} {{\n{members}}}\n\n"));

        let mut params = Vec::new();
        let mut path = Vec::new();
        let segments = plan.template.segments();
        let variables = plan.template.variables();
        let mut i = 0;
        while i < segments.len() {
            if let Some(variable) = variables.iter().find(|v| v.segment_range().start == i) {
                let variable_name = variable.field_path().join(".");
                let multi = if variable.is_multi_segment() {
                    ", multi: true"
                } else {
                    ""
                };
                path.push(format!("{{ field: [{}]{multi} }}", quote(&variable_name)));
                params.push(format!("{}: string", property_key(&variable_name)));
                i = variable.segment_range().end.max(i + 1);
                continue;
            }
            if let Segment::Literal(text) = &segments[i] {
                path.push(quote(text));
            }
            i += 1;
        }
        let mut query: Vec<&str> = Vec::new();
        for call in &plan.calls {
            for field in &call.fields {
                if let Source::Query(name) = &field.source
                    && !query.contains(&name.as_str())
                {
                    query.push(name);
                    params.push(format!("{}?: string", property_key(name)));
                }
            }
        }
        let params_type = if params.is_empty() {
            "Record<string, never>".to_string()
        } else {
            format!("{{ {} }}", params.join("; "))
        };
        let mut route = format!(
            "{{ name: {}, method: {}, path: [{}]",
            quote(&plan.route),
            quote(&plan.http_method),
            path.join(", ")
        );
        if let Some(verb) = plan.template.verb() {
            route.push_str(&format!(", verb: {}", quote(verb)));
        }
        route.push_str(" }");
        let names: Vec<&str> = plan.calls.iter().map(|c| c.name.as_str()).collect();
        let about = format!(
            "`{}`: {} in one call. `fields` runs and shows only the calls it names (and runs \
             what they read).",
            plan.route,
            names.join(", ")
        );
        functions.push_str(&format!(
            "\n{}  {name}<K extends {keys} = {keys}>(params: {params_type}, options?: AggregateOptions<K>): Promise<Pick<{answer}, K | \"errors\">> {{\n    return this.t.aggregate<Pick<{answer}, K | \"errors\">>({route}, params, options);\n  }}\n",
            doc(Some(&about), "  ")
        ));
    }
    format!(
        "{declarations}/** The aggregate routes: several backend calls in one answer. */\nexport class Aggregates {{\n{TRANSPORT_FIELD}{functions}}}\n\n"
    )
}

/// The function name of each aggregate: its path's literal segments (`apiUserDashboard` for
/// `GET /api/user-dashboard/{user_id}`), after its method unless that is GET.
pub fn aggregate_names(plans: &[Plan]) -> Vec<String> {
    let mut taken: BTreeMap<String, usize> = BTreeMap::new();
    let mut names = Vec::new();
    for plan in plans {
        let literals: Vec<&str> = plan
            .template
            .segments()
            .iter()
            .filter_map(|s| match s {
                Segment::Literal(text) => Some(text.as_str()),
                _ => None,
            })
            .collect();
        let mut base = camel(&literals.join("_"));
        if !plan.http_method.eq_ignore_ascii_case("GET") {
            base = camel(&format!("{}_{base}", plan.http_method.to_ascii_lowercase()));
        }
        let count = taken.entry(base.clone()).or_insert(0);
        *count += 1;
        names.push(if *count == 1 {
            base
        } else {
            format!("{base}_{count}")
        });
    }
    names
}

/// The answer type of the aggregate whose function is `name`.
pub fn answer_name(name: &str) -> String {
    format!("{}Answer", pascal(name))
}
