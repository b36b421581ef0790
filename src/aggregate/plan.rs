//! An aggregate's plan, compiled from `[[aggregates]]` against the descriptors build.rs
//! compiled: every method, request field and response reference is checked, conversions are
//! typed, and the calls form a DAG. A config that cannot work fails at start-up (and in
//! `gatehouse check`) with the aggregate, call and key named.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use prost_reflect::{FieldDescriptor, Kind, MessageDescriptor};

use crate::config::AggregateConfig;
use crate::http_rule::PathTemplate;
use crate::schema::{MethodCodec, MethodKind, MethodSpec, Schema};
use crate::transcode::JsonOptions;
use crate::transcode::dynamic::{self, DynamicCodec};

/// Names a reference or a call may not take: `errors` is the answer's list of failed calls,
/// `query` introduces query parameters.
const RESERVED: [&str; 2] = ["errors", "query"];
/// The query parameter that selects calls (`?fields=user,orders`).
pub const FIELDS_PARAMETER: &str = "fields";

/// A compiled aggregate.
pub struct Plan {
    pub http_method: String,
    pub template: PathTemplate,
    /// `VERB /template` as configured.
    pub route: String,
    pub timeout: Option<Duration>,
    pub calls: Vec<PlannedCall>,
}

/// One call of a plan.
pub struct PlannedCall {
    pub name: String,
    pub method: Arc<MethodSpec>,
    pub required: bool,
    pub fields: Vec<PlannedField>,
    /// Calls whose responses this one reads.
    pub deps: Vec<usize>,
    /// Whether another call reads this one's response.
    pub referenced: bool,
    /// `response_body`: the one field of the response the answer shows.
    pub contributes: Option<Contribution>,
    /// Writes the answer with the route's JSON output options when they are not the default
    /// (the method's own codec writes it otherwise, and always writes what references read).
    pub render: Option<Arc<dyn MethodCodec>>,
}

/// The response field a call contributes to the answer.
pub struct Contribution {
    pub field: FieldDescriptor,
    /// Its proto name, and its member name in the rendered response (the JSON name, or the
    /// proto name with `proto_names`).
    pub name: String,
    pub member: String,
    /// The JSON of its default value, shown when the response leaves it out.
    pub default: String,
}

/// One request field and where its values come from.
pub struct PlannedField {
    pub path: Vec<String>,
    pub source: Source,
}

#[derive(Debug)]
pub enum Source {
    /// Values written in the config (several for a repeated field).
    Literal(Vec<String>),
    /// A path variable of the aggregate's route.
    PathVariable(String),
    /// A query parameter of the request (every value, for a repeated field).
    Query(String),
    /// Values read from another call's response.
    Response { call: usize, steps: Vec<Step> },
}

/// One field of a response reference, by its JSON name; `each` walks every element of a
/// repeated field (`[*]`).
#[derive(Debug)]
pub struct Step {
    pub json_name: String,
    pub each: bool,
}

/// Where in the aggregate's config (".calls[1].request.ids") and why.
type Failure = (String, String);

fn failure(key: impl Into<String>, reason: impl Into<String>) -> Failure {
    (key.into(), reason.into())
}

impl Plan {
    /// Compiles and checks one `[[aggregates]]` entry.
    pub fn compile(config: &AggregateConfig, schema: &Schema) -> Result<Plan, Failure> {
        let (verb, template_text) = config.route.split_once(' ').ok_or_else(|| {
            failure(
                ".route",
                "write \"VERB /template\", e.g. \"GET /api/x/{id}\"",
            )
        })?;
        if verb.is_empty() || !verb.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(failure(".route", format!("{verb:?} is not an HTTP method")));
        }
        let http_method = verb.to_ascii_uppercase();
        let template = PathTemplate::parse(template_text.trim())
            .map_err(|e| failure(".route", format!("{:?}: {e}", template_text.trim())))?;
        let variables: Vec<String> = template
            .variables()
            .iter()
            .map(|v| v.field_path().join("."))
            .collect();
        if config.calls.is_empty() {
            return Err(failure(".calls", "must list at least one call"));
        }
        let names: Vec<&str> = config.calls.iter().map(|c| c.name.as_str()).collect();
        for (j, name) in names.iter().enumerate() {
            let at = format!(".calls[{j}].name");
            let identifier = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !identifier {
                return Err(failure(
                    at,
                    format!("{name:?} must be a name like user_orders"),
                ));
            }
            if RESERVED.contains(name) || *name == FIELDS_PARAMETER {
                return Err(failure(at, format!("{name:?} is reserved")));
            }
            if names[..j].contains(name) {
                return Err(failure(at, format!("{name:?} is used by two calls")));
            }
            if variables.iter().any(|v| v == name) {
                return Err(failure(
                    at,
                    format!("{name:?} is also a path variable; `{{{name}}}` would be ambiguous"),
                ));
            }
        }

        let mut calls = Vec::with_capacity(config.calls.len());
        for (j, call) in config.calls.iter().enumerate() {
            let method = schema.method(&call.method).ok_or_else(|| {
                failure(
                    format!(".calls[{j}].method"),
                    format!(
                        "{:?} is not a compiled method (write pkg.Service/Method)",
                        call.method
                    ),
                )
            })?;
            if method.kind != MethodKind::Unary {
                return Err(failure(
                    format!(".calls[{j}].method"),
                    format!(
                        "{} is {}; aggregates call unary methods",
                        call.method, method.kind
                    ),
                ));
            }
            let contributes = match &call.response_body {
                None => None,
                Some(name) => {
                    let output = message(schema, &method.output);
                    let field = output.get_field_by_name(name).ok_or_else(|| {
                        failure(
                            format!(".calls[{j}].response_body"),
                            format!("{name:?} is not a field of {}", output.full_name()),
                        )
                    })?;
                    Some(Contribution {
                        name: field.name().to_string(),
                        member: field.json_name().to_string(),
                        default: default_json(&field, JsonOptions::default()),
                        field,
                    })
                }
            };
            let input = message(schema, &method.input);
            let mut fields = Vec::new();
            let mut literal_fields: Vec<(Vec<String>, Vec<String>)> = Vec::new();
            for (key, value) in flatten(&call.request) {
                let at = format!(".calls[{j}].request.{key}");
                let target = target_field(&input, &key).map_err(|reason| failure(&at, reason))?;
                let path: Vec<String> = key.split('.').map(str::to_string).collect();
                let source = match reference(&value) {
                    Some(text) => {
                        let mut source = parse_reference(text, &variables, &names, j)
                            .map_err(|reason| failure(&at, reason))?;
                        check_conversion(schema, &mut source, &target, &config.calls[..], &names)
                            .map_err(|reason| failure(&at, reason))?;
                        source
                    }
                    None => {
                        let values = literal(&value).map_err(|reason| failure(&at, reason))?;
                        if values.len() > 1 && !target.is_list() {
                            return Err(failure(
                                &at,
                                format!("{} values for a field that is not repeated", values.len()),
                            ));
                        }
                        literal_fields.push((path.clone(), values.clone()));
                        Source::Literal(values)
                    }
                };
                fields.push(PlannedField { path, source });
            }
            // Literals are parsed now, by the same code that sets them on every call.
            let pairs: Vec<(&[String], &[String])> = literal_fields
                .iter()
                .map(|(p, v)| (p.as_slice(), v.as_slice()))
                .collect();
            if let Err(e) = method.codec.build_from_fields(&pairs) {
                return Err(failure(format!(".calls[{j}].request"), e.to_string()));
            }
            let mut deps: Vec<usize> = fields
                .iter()
                .filter_map(|f| match f.source {
                    Source::Response { call, .. } => Some(call),
                    _ => None,
                })
                .collect();
            deps.sort_unstable();
            deps.dedup();
            calls.push(PlannedCall {
                name: call.name.clone(),
                method: method.clone(),
                required: call.required,
                fields,
                deps,
                referenced: false,
                contributes,
                render: None,
            });
        }
        check_acyclic(&calls)?;
        for j in 0..calls.len() {
            let deps = calls[j].deps.clone();
            for dep in deps {
                calls[dep].referenced = true;
            }
        }
        Ok(Plan {
            http_method,
            template,
            route: config.route.clone(),
            timeout: config.timeout,
            calls,
        })
    }

    /// This plan writing its calls' answers with `options`: each call gets a codec that writes
    /// them (made from its method's descriptors), and a contributed field its member name and
    /// default as written. Fails only if a codec cannot be made, which the schema rules out.
    pub fn with_json(mut self, options: JsonOptions, schema: &Schema) -> Result<Plan, String> {
        if options.is_default() {
            return Ok(self);
        }
        for call in &mut self.calls {
            let spec = &call.method;
            let method = schema
                .descriptors()
                .get_service_by_name(&spec.service)
                .and_then(|s| s.methods().find(|m| m.name() == spec.method))
                .ok_or_else(|| format!("{}: no descriptor", spec.qualified_method()))?;
            let codec = DynamicCodec::new(&method, None, None)
                .map_err(|e| format!("{}: {e}", call.name))?;
            call.render = Some(Arc::new(codec.with_options(options)));
            if let Some(contribution) = &mut call.contributes {
                contribution.member = options.member_name(&contribution.field).to_string();
                contribution.default = default_json(&contribution.field, options);
            }
        }
        Ok(self)
    }

    /// The call of this name.
    pub fn call(&self, name: &str) -> Option<usize> {
        self.calls.iter().position(|c| c.name == name)
    }
}

fn message(schema: &Schema, full_name: &str) -> MessageDescriptor {
    schema
        .descriptors()
        .get_message_by_name(full_name)
        .expect("every compiled method's messages are in the descriptor set")
}

/// `{ a = 1, b = { c = "x" } }` → `[("a", 1), ("b.c", "x")]`.
fn flatten(table: &toml::Table) -> Vec<(String, toml::Value)> {
    let mut out = Vec::new();
    for (key, value) in table {
        match value {
            toml::Value::Table(inner) => {
                for (sub, value) in flatten(inner) {
                    out.push((format!("{key}.{sub}"), value));
                }
            }
            other => out.push((key.clone(), other.clone())),
        }
    }
    out
}

/// The text inside `"{...}"` when the whole string is one reference.
fn reference(value: &toml::Value) -> Option<&str> {
    let text = value.as_str()?;
    text.strip_prefix('{')?.strip_suffix('}')
}

/// A literal's values as text, the way a query parameter carries them.
fn literal(value: &toml::Value) -> Result<Vec<String>, String> {
    Ok(match value {
        toml::Value::String(s) => vec![s.clone()],
        toml::Value::Integer(n) => vec![n.to_string()],
        toml::Value::Float(f) => vec![f.to_string()],
        toml::Value::Boolean(b) => vec![b.to_string()],
        toml::Value::Datetime(d) => vec![d.to_string()],
        toml::Value::Array(items) => {
            let mut out = Vec::new();
            for item in items {
                if item.is_array() || item.is_table() {
                    return Err("arrays may only hold plain values".into());
                }
                out.extend(literal(item)?);
            }
            out
        }
        toml::Value::Table(_) => return Err("a table here cannot be a value".into()),
    })
}

/// The field a request key names (proto or JSON names, dotted through singular messages).
fn target_field(input: &MessageDescriptor, key: &str) -> Result<FieldDescriptor, String> {
    let segments: Vec<&str> = key.split('.').collect();
    let mut message = input.clone();
    for (i, segment) in segments.iter().enumerate() {
        let field = message
            .get_field_by_name(segment)
            .or_else(|| message.get_field_by_json_name(segment))
            .ok_or_else(|| format!("{} has no field {segment:?}", message.full_name()))?;
        if i + 1 == segments.len() {
            if field.is_map() {
                return Err(format!("{segment:?} is a map, which cannot be set here"));
            }
            return Ok(field);
        }
        match field.kind() {
            Kind::Message(inner) if !field.is_list() && !field.is_map() => message = inner,
            _ => {
                return Err(format!(
                    "{segment:?} is not a singular message, so it has no field {:?}",
                    segments[i + 1]
                ));
            }
        }
    }
    Err("empty field name".into())
}

/// Parses the text of a reference: `var`, `query.name` or `call.field[*].field`.
fn parse_reference(
    text: &str,
    variables: &[String],
    calls: &[&str],
    this: usize,
) -> Result<Source, String> {
    let segments: Vec<&str> = text.split('.').collect();
    let first = segments[0];
    if first == "query" {
        return match segments.as_slice() {
            [_, name] if !name.is_empty() && *name != FIELDS_PARAMETER => {
                Ok(Source::Query((*name).into()))
            }
            [_, name] if *name == FIELDS_PARAMETER => Err(format!(
                "`{FIELDS_PARAMETER}` is the gateway's own query parameter"
            )),
            _ => Err(format!(
                "{{{text}}}: write {{query.NAME}} for a query parameter"
            )),
        };
    }
    if segments.len() == 1 && variables.iter().any(|v| v == first) {
        return Ok(Source::PathVariable(first.into()));
    }
    let Some(call) = calls.iter().position(|c| *c == first) else {
        return Err(format!(
            "{{{text}}}: {first:?} is not a path variable ({}), a call, or query.NAME",
            variables.join(", ")
        ));
    };
    if call == this {
        return Err(format!("{{{text}}}: a call cannot read its own response"));
    }
    if segments.len() == 1 {
        return Err(format!("{{{text}}}: name a field of {first:?}'s response"));
    }
    // Steps are checked against the response type in `check_conversion`.
    let steps = segments[1..]
        .iter()
        .map(|s| match s.strip_suffix("[*]") {
            Some(name) => Step {
                json_name: name.to_string(),
                each: true,
            },
            None => Step {
                json_name: (*s).to_string(),
                each: false,
            },
        })
        .collect();
    Ok(Source::Response { call, steps })
}

/// Checks that a reference can fill `target`, and turns its steps' names into the JSON names
/// the response is read by.
fn check_conversion(
    schema: &Schema,
    source: &mut Source,
    target: &FieldDescriptor,
    configs: &[crate::config::AggregateCallConfig],
    names: &[&str],
) -> Result<(), String> {
    if is_message(target) && !text_like(target) {
        return Err(format!(
            "{} is a message; name one of its fields",
            target.name()
        ));
    }
    let Source::Response { call, steps } = source else {
        // Path and query values are text, parsed when the call is made.
        return Ok(());
    };
    let method = schema
        .method(&configs[*call].method)
        .ok_or_else(|| format!("call {:?} names no compiled method", names[*call]))?;
    let mut message = message(schema, &method.output);
    let mut leaf = None;
    let mut many = false;
    let count = steps.len();
    let next_names: Vec<String> = steps.iter().skip(1).map(|s| s.json_name.clone()).collect();
    for (i, step) in steps.iter_mut().enumerate() {
        let field = message
            .get_field_by_name(&step.json_name)
            .or_else(|| message.get_field_by_json_name(&step.json_name))
            .ok_or_else(|| {
                format!(
                    "{}'s response {} has no field {:?}",
                    names[*call],
                    message.full_name(),
                    step.json_name
                )
            })?;
        if field.is_map() {
            return Err(format!(
                "{:?} is a map; maps cannot be read here",
                step.json_name
            ));
        }
        if field.is_list() != step.each {
            return Err(if field.is_list() {
                format!(
                    "{:?} is repeated: write {}[*]",
                    step.json_name, step.json_name
                )
            } else {
                format!("{:?} is not repeated: drop the [*]", step.json_name)
            });
        }
        many |= step.each;
        if i + 1 < count {
            match field.kind() {
                Kind::Message(inner) => message = inner,
                _ => {
                    return Err(format!(
                        "{:?} is not a message, so it has no field {:?}",
                        step.json_name, next_names[i]
                    ));
                }
            }
        }
        step.json_name = field.json_name().to_string();
        leaf = Some(field);
    }
    let leaf = leaf.ok_or("empty reference")?;
    if is_message(&leaf) && !text_like(&leaf) {
        return Err(format!(
            "{:?} is a message; name one of its fields",
            leaf.name()
        ));
    }
    if many && !target.is_list() {
        return Err(format!(
            "the reference fans out to many values, so {} must be a repeated field",
            target.name()
        ));
    }
    if !convertible(&leaf.kind(), &target.kind()) {
        return Err(format!(
            "cannot convert {} ({}) to {} ({})",
            leaf.name(),
            kind_name(&leaf.kind()),
            target.name(),
            kind_name(&target.kind())
        ));
    }
    Ok(())
}

fn is_message(field: &FieldDescriptor) -> bool {
    matches!(field.kind(), Kind::Message(_))
}

/// Messages whose proto3 JSON is one string or number (and so fill a field like a scalar).
fn text_like(field: &FieldDescriptor) -> bool {
    match field.kind() {
        Kind::Message(m) => matches!(
            m.full_name(),
            "google.protobuf.Timestamp"
                | "google.protobuf.Duration"
                | "google.protobuf.FieldMask"
                | "google.protobuf.StringValue"
                | "google.protobuf.BoolValue"
                | "google.protobuf.Int32Value"
                | "google.protobuf.Int64Value"
                | "google.protobuf.UInt32Value"
                | "google.protobuf.UInt64Value"
                | "google.protobuf.FloatValue"
                | "google.protobuf.DoubleValue"
        ),
        _ => true,
    }
}

fn is_integer(kind: &Kind) -> bool {
    matches!(
        kind,
        Kind::Int32
            | Kind::Int64
            | Kind::Uint32
            | Kind::Uint64
            | Kind::Sint32
            | Kind::Sint64
            | Kind::Fixed32
            | Kind::Fixed64
            | Kind::Sfixed32
            | Kind::Sfixed64
    )
}

/// Whether a value of `from` can fill a field of `to`: the same type; anything but bytes into
/// a string; integers into integers (range checked when the call is made) or floats.
fn convertible(from: &Kind, to: &Kind) -> bool {
    match (from, to) {
        (Kind::Message(a), Kind::Message(b)) => a.full_name() == b.full_name(),
        (Kind::Enum(a), Kind::Enum(b)) => a.full_name() == b.full_name(),
        (Kind::Bytes, Kind::Bytes) => true,
        (Kind::Bytes, _) => false,
        (_, Kind::String) => true,
        (a, b) if is_integer(a) && is_integer(b) => true,
        (a, Kind::Double | Kind::Float) => is_integer(a) || matches!(a, Kind::Double | Kind::Float),
        (Kind::Bool, Kind::Bool) => true,
        _ => false,
    }
}

fn kind_name(kind: &Kind) -> String {
    match kind {
        Kind::Message(m) => m.full_name().to_string(),
        Kind::Enum(e) => e.full_name().to_string(),
        other => format!("{other:?}").to_lowercase(),
    }
}

/// Fails when the calls' references form a cycle, naming it.
fn check_acyclic(calls: &[PlannedCall]) -> Result<(), Failure> {
    // Kahn's algorithm: whatever cannot be ordered is on or behind a cycle.
    let mut waiting: Vec<usize> = calls.iter().map(|c| c.deps.len()).collect();
    let mut ready: Vec<usize> = (0..calls.len()).filter(|&i| waiting[i] == 0).collect();
    let mut done = HashSet::new();
    while let Some(i) = ready.pop() {
        done.insert(i);
        for (j, call) in calls.iter().enumerate() {
            if call.deps.contains(&i) {
                waiting[j] -= 1;
                if waiting[j] == 0 {
                    ready.push(j);
                }
            }
        }
    }
    if done.len() == calls.len() {
        return Ok(());
    }
    // Walk back from a blocked call until a call repeats: that is the cycle.
    let mut path = Vec::new();
    let mut at = (0..calls.len()).find(|i| !done.contains(i)).unwrap_or(0);
    while !path.contains(&at) {
        path.push(at);
        at = calls[at]
            .deps
            .iter()
            .copied()
            .find(|d| !done.contains(d))
            .unwrap_or(at);
    }
    let start = path.iter().position(|&c| c == at).unwrap_or(0);
    let mut cycle: Vec<&str> = path[start..]
        .iter()
        .map(|&c| calls[c].name.as_str())
        .collect();
    cycle.push(calls[at].name.as_str());
    Err(failure(
        ".calls",
        format!(
            "the calls depend on each other in a cycle: {}",
            cycle.join(" → ")
        ),
    ))
}

/// The JSON a field's default value is rendered as with `options`, when a response leaves it
/// out (with `emit_defaults`, only a oneof member or an `optional` field can be left out).
pub fn default_json(field: &FieldDescriptor, options: JsonOptions) -> String {
    let text = if field.is_list() {
        "[]"
    } else if field.is_map() {
        "{}"
    } else {
        match field.kind() {
            // The well-known types have their own JSON forms; an unset one is no value.
            Kind::Message(m) if m.package_name() == "google.protobuf" => "null",
            // The default message as the options write it (all its fields with
            // `emit_defaults`); a message the renderer cannot plan is no value.
            Kind::Message(m) if !options.is_default() => {
                return dynamic::default_json(&m, options).unwrap_or_else(|_| "null".into());
            }
            Kind::Message(_) => "{}",
            Kind::String | Kind::Bytes => "\"\"",
            Kind::Bool => "false",
            Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 | Kind::Uint64 | Kind::Fixed64 => "\"0\"",
            Kind::Enum(_) if options.enums_as_numbers => "0",
            Kind::Enum(e) => {
                return e
                    .get_value(0)
                    .map_or_else(|| "0".into(), |v| format!("{:?}", v.name()));
            }
            _ => "0",
        }
    };
    text.to_string()
}
