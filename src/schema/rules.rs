//! Reading `google.api.http` rules from descriptors, and checking them against the messages.
//!
//! One reader for both sources of a schema: build.rs includes this file with `#[path]` to
//! generate the compiled-in tables, and `sources` calls it on protos loaded at run time, so a
//! rule means the same, and is refused with the same words, wherever its proto came from. It
//! names only `prost_reflect` and `crate::http_rule`, which both crates have.

use prost_reflect::{
    DescriptorPool, DynamicMessage, FieldDescriptor, Kind, MessageDescriptor, MethodDescriptor,
    ServiceDescriptor, Value,
};

use crate::http_rule::PathTemplate;

/// One HTTP binding of one RPC method.
pub struct Rule {
    pub method: MethodDescriptor,
    pub http_method: String,
    pub template: PathTemplate,
    pub template_text: String,
    pub body: Option<String>,
    pub response_body: Option<String>,
    /// No annotation: the default `POST /pkg.Service/Method` binding.
    pub implicit: bool,
}

impl Rule {
    /// `file: pkg.Service.Method: rule `GET /v1/x``, for messages.
    pub fn describe(&self) -> String {
        format!(
            "{}: {}: rule `{} {}`",
            self.method.parent_file().name(),
            self.method.full_name(),
            self.http_method,
            self.template_text
        )
    }

    /// Proto and JSON names of the `body` field, when it names one.
    pub fn body_field_names(&self) -> Vec<String> {
        let Some(name) = self.body.as_deref().filter(|b| *b != "*") else {
            return Vec::new();
        };
        let mut names = vec![name.to_string()];
        if let Some(field) = self.method.input().get_field_by_name(name)
            && field.json_name() != name
        {
            names.push(field.json_name().to_string());
        }
        names
    }
}

/// Every rule of every service in `pool`, validated.
pub fn collect(pool: &DescriptorPool) -> Result<Vec<Rule>, String> {
    collect_services(pool, pool.services())
}

/// Every rule of these services, validated.
pub fn collect_services(
    pool: &DescriptorPool,
    services: impl IntoIterator<Item = ServiceDescriptor>,
) -> Result<Vec<Rule>, String> {
    // Files that never import google/api/annotations.proto have no rules: every method gets
    // its default binding.
    let http = pool.get_extension_by_name("google.api.http");
    let mut rules = Vec::new();
    for service in services {
        for method in service.methods() {
            let options = method.options();
            let Some(http) = http.as_ref().filter(|h| options.has_extension(h)) else {
                rules.push(implicit_rule(&method)?);
                continue;
            };
            let Value::Message(rule) = options.get_extension(http).into_owned() else {
                return Err(format!(
                    "{}: google.api.http is not a message",
                    method.full_name()
                ));
            };
            read_rule(&method, &rule, true, &mut rules)?;
        }
    }
    for rule in &rules {
        validate(rule)?;
    }
    // Within one service only: which services share a path is a property of what one config
    // serves, checked when a gateway is built (a user's proto may reuse a path of the demo's).
    for (i, a) in rules.iter().enumerate() {
        for b in &rules[i + 1..] {
            if a.method.parent_service() == b.method.parent_service()
                && a.http_method == b.http_method
                && a.template.equivalent(&b.template)
            {
                return Err(format!(
                    "{}: the same HTTP method and path as {}",
                    b.describe(),
                    a.describe()
                ));
            }
        }
    }
    Ok(rules)
}

/// The method's proto `idempotency_level` is NO_SIDE_EFFECTS (1) or IDEMPOTENT (2).
pub fn is_idempotent(method: &MethodDescriptor) -> bool {
    method
        .method_descriptor_proto()
        .options
        .as_ref()
        .and_then(|o| o.idempotency_level)
        .is_some_and(|level| level == 1 || level == 2)
}

/// How a field's element type (the item type of a repeated field) is set from one text value
/// (a path variable or query parameter).
pub enum TextForm {
    /// A scalar, an enum, or a well-known type with a text form (Timestamp, Duration,
    /// FieldMask, the wrappers).
    Scalar,
    /// A message with fields of its own: set through a nested path.
    Message,
    /// Cannot be set from text; the reason names the type.
    Unsupported(&'static str),
}

/// The text form of `field`'s element type.
pub fn text_form(field: &FieldDescriptor) -> TextForm {
    match field.kind() {
        Kind::Enum(e) if e.full_name() == "google.protobuf.NullValue" => {
            TextForm::Unsupported("a google.protobuf.NullValue field")
        }
        Kind::Message(m) => match m.full_name().strip_prefix("google.protobuf.") {
            None => TextForm::Message,
            Some(
                "Timestamp" | "Duration" | "FieldMask" | "DoubleValue" | "FloatValue"
                | "Int64Value" | "UInt64Value" | "Int32Value" | "UInt32Value" | "BoolValue"
                | "StringValue" | "BytesValue",
            ) => TextForm::Scalar,
            Some("Struct") => TextForm::Unsupported("a google.protobuf.Struct field"),
            Some("Value") => TextForm::Unsupported("a google.protobuf.Value field"),
            Some("ListValue") => TextForm::Unsupported("a google.protobuf.ListValue field"),
            Some("Any") => TextForm::Unsupported("a google.protobuf.Any field"),
            Some(_) => TextForm::Unsupported("this well-known type"),
        },
        _ => TextForm::Scalar,
    }
}

/// Whether a response field of this kind is written as JSON exactly as serde writes the Rust
/// value (strings, booleans, 32-bit integers), so `response_body` may name it.
pub fn json_native(field: &FieldDescriptor) -> bool {
    matches!(
        field.kind(),
        Kind::String
            | Kind::Bool
            | Kind::Int32
            | Kind::Sint32
            | Kind::Sfixed32
            | Kind::Uint32
            | Kind::Fixed32
    )
}

fn implicit_rule(method: &MethodDescriptor) -> Result<Rule, String> {
    let text = format!("/{}/{}", method.parent_service().full_name(), method.name());
    let template = PathTemplate::parse(&text).map_err(|e| format!("{text}: {e}"))?;
    Ok(Rule {
        method: method.clone(),
        http_method: "POST".into(),
        template,
        template_text: text,
        body: Some("*".into()),
        response_body: None,
        implicit: true,
    })
}

fn text_field(message: &DynamicMessage, name: &str) -> String {
    message
        .get_field_by_name(name)
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn read_rule(
    method: &MethodDescriptor,
    rule: &DynamicMessage,
    top_level: bool,
    out: &mut Vec<Rule>,
) -> Result<(), String> {
    let context = || format!("{}: {}", method.parent_file().name(), method.full_name());
    let mut pattern = None;
    for verb in ["get", "put", "post", "delete", "patch"] {
        if rule.has_field_by_name(verb) {
            pattern = Some((verb.to_ascii_uppercase(), text_field(rule, verb)));
        }
    }
    if rule.has_field_by_name("custom")
        && let Some(Value::Message(custom)) =
            rule.get_field_by_name("custom").map(|v| v.into_owned())
    {
        let kind = text_field(&custom, "kind");
        if kind.is_empty() || !kind.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(format!(
                "{}: custom rule kind {kind:?} is not an HTTP method",
                context()
            ));
        }
        pattern = Some((kind.to_ascii_uppercase(), text_field(&custom, "path")));
    }
    let Some((http_method, template_text)) = pattern else {
        return Err(format!(
            "{}: google.api.http rule has no HTTP method and path",
            context()
        ));
    };
    let template = PathTemplate::parse(&template_text)
        .map_err(|e| format!("{}: rule `{http_method} {template_text}`: {e}", context()))?;
    let non_empty = |s: String| (!s.is_empty()).then_some(s);
    out.push(Rule {
        method: method.clone(),
        http_method,
        template,
        template_text,
        body: non_empty(text_field(rule, "body")),
        response_body: non_empty(text_field(rule, "response_body")),
        implicit: false,
    });
    if let Some(Value::List(more)) = rule
        .get_field_by_name("additional_bindings")
        .map(|v| v.into_owned())
    {
        if !more.is_empty() && !top_level {
            return Err(format!("{}: additional_bindings may not nest", context()));
        }
        for binding in more {
            if let Value::Message(binding) = binding {
                read_rule(method, &binding, false, out)?;
            }
        }
    }
    Ok(())
}

/// Checks variables, body and response_body against the request and response messages.
fn validate(rule: &Rule) -> Result<(), String> {
    let input = rule.method.input();
    for variable in rule.template.variables() {
        let path = variable.field_path();
        let field = resolve(&input, path)
            .map_err(|e| format!("{}: variable {{{}}}: {e}", rule.describe(), path.join(".")))?;
        let scalar = matches!(text_form(&field), TextForm::Scalar)
            && !matches!(field.kind(), Kind::Message(_));
        if field.is_list() || field.is_map() || !scalar {
            return Err(format!(
                "{}: variable {{{}}} must name a singular scalar or enum field",
                rule.describe(),
                path.join(".")
            ));
        }
    }
    if let Some(body) = rule.body.as_deref().filter(|b| *b != "*") {
        let field = input.get_field_by_name(body).ok_or_else(|| {
            format!(
                "{}: body field {body:?} is not a field of {}",
                rule.describe(),
                input.full_name()
            )
        })?;
        if field.is_map()
            || matches!(text_form(&field), TextForm::Unsupported(_))
                && !matches!(field.kind(), Kind::Message(_))
        {
            return Err(format!(
                "{}: body field {body:?} cannot be bound to a body",
                rule.describe()
            ));
        }
    }
    if let Some(name) = &rule.response_body {
        let output = rule.method.output();
        let field = output.get_field_by_name(name).ok_or_else(|| {
            format!(
                "{}: response_body {name:?} is not a field of {}",
                rule.describe(),
                output.full_name()
            )
        })?;
        check_response_field(&field)
            .map_err(|e| format!("{}: response_body {name:?}: {e}", rule.describe()))?;
    }
    Ok(())
}

/// Whether `field` can be the whole response body.
fn check_response_field(field: &FieldDescriptor) -> Result<(), &'static str> {
    if field.containing_oneof().is_some_and(|o| !o.is_synthetic()) || field.is_map() {
        return Err("oneof members and maps cannot be the response body");
    }
    if matches!(field.kind(), Kind::Message(_)) || json_native(field) {
        return Ok(());
    }
    Err("only message, string, bool and 32-bit integer fields can be the response body")
}

/// Follows a dotted proto field path through singular message fields.
fn resolve(message: &MessageDescriptor, path: &[String]) -> Result<FieldDescriptor, String> {
    let mut current = message.clone();
    for (i, name) in path.iter().enumerate() {
        let field = current
            .get_field_by_name(name)
            .ok_or_else(|| format!("{name:?} is not a field of {}", current.full_name()))?;
        if i + 1 == path.len() {
            return Ok(field);
        }
        match field.kind() {
            Kind::Message(next) if !field.is_list() && !field.is_map() => current = next,
            _ => return Err(format!("{name:?} is not a singular message field")),
        }
    }
    Err("empty field path".into())
}
