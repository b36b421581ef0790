//! Reads `google.api.http` rules, validates them against the messages, and writes the route
//! table with one `UnaryCodec` (body binder + response renderer) per distinct binding.

use std::fmt::Write;

use prost_reflect::{
    DescriptorPool, DynamicMessage, FieldDescriptor, Kind, MessageDescriptor, MethodDescriptor,
    Value,
};

use super::names;
use super::setters::{self, Element};
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
    fn describe(&self) -> String {
        format!(
            "{}: {}: rule `{} {}`",
            self.method.parent_file().name(),
            self.method.full_name(),
            self.http_method,
            self.template_text
        )
    }
}

/// Every rule of every service, validated.
pub fn collect(pool: &DescriptorPool) -> Result<Vec<Rule>, String> {
    let http = pool
        .get_extension_by_name("google.api.http")
        .ok_or("proto/google/api/annotations.proto must define the google.api.http option")?;
    let mut rules = Vec::new();
    for service in pool.services() {
        for method in service.methods() {
            let options = method.options();
            if !options.has_extension(&http) {
                rules.push(implicit_rule(&method)?);
                continue;
            }
            let Value::Message(rule) = options.get_extension(&http).into_owned() else {
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
        let scalar = matches!(setters::element(&field), Element::Text(_))
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
            || matches!(setters::element(&field), Element::Unsupported(_))
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
        render_field(&field)
            .map_err(|e| format!("{}: response_body {name:?}: {e}", rule.describe()))?;
    }
    Ok(())
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

/// The body of a response renderer that writes one field of the response.
fn render_field(field: &FieldDescriptor) -> Result<String, String> {
    let ident = names::snake(field.name());
    if field.containing_oneof().is_some_and(|o| !o.is_synthetic()) || field.is_map() {
        return Err("oneof members and maps cannot be the response body".into());
    }
    let json_native = matches!(
        field.kind(),
        Kind::String
            | Kind::Bool
            | Kind::Int32
            | Kind::Sint32
            | Kind::Sfixed32
            | Kind::Uint32
            | Kind::Fixed32
    );
    match field.kind() {
        // Lists of messages or JSON-native scalars, and JSON-native scalars, serialize as is.
        Kind::Message(_) if field.is_list() => {
            Ok(format!("serde_json::to_writer(out, &r.{ident})"))
        }
        _ if json_native => Ok(format!("serde_json::to_writer(out, &r.{ident})")),
        Kind::Message(m) => Ok(format!(
            "match &r.{ident} {{ Some(v) => serde_json::to_writer(out, v), None => serde_json::to_writer(out, &{}::default()) }}",
            names::message_path(&m)
        )),
        _ => Err(
            "only message, string, bool and 32-bit integer fields can be the response body".into(),
        ),
    }
}

/// The body of a body binder that sets one field from the request body.
fn bind_field(field: &FieldDescriptor) -> String {
    let ident = names::snake(field.name());
    let json = "crate::transcode::json";
    match field.kind() {
        Kind::Message(m) if field.is_list() => format!(
            "m.{ident} = {json}::from_slice::<Vec<{}>>(body, {:?})?; Ok(())",
            names::message_path(&m),
            field.json_name()
        ),
        Kind::Message(m) => format!(
            "m.{ident} = Some({json}::from_slice::<{}>(body, {:?})?.into()); Ok(())",
            names::message_path(&m),
            field.json_name()
        ),
        _ => format!("{json}::bind_scalar_body(m, {:?}, body)", field.name()),
    }
}

/// `Unary`, `ServerStreaming`, ...: the `MethodKind` variant of `method`.
fn method_kind(method: &MethodDescriptor) -> &'static str {
    match (method.is_client_streaming(), method.is_server_streaming()) {
        (false, false) => "Unary",
        (false, true) => "ServerStreaming",
        (true, false) => "ClientStreaming",
        (true, true) => "BidiStreaming",
    }
}

/// google.protobuf.MethodOptions.IdempotencyLevel is NO_SIDE_EFFECTS (1) or IDEMPOTENT (2).
fn is_idempotent(method: &MethodDescriptor) -> bool {
    method
        .method_descriptor_proto()
        .options
        .as_ref()
        .and_then(|o| o.idempotency_level)
        .is_some_and(|level| level == 1 || level == 2)
}

/// Writes `ROUTES`, `METHODS`, `SERVICES` and the codecs they point at.
pub fn write_table(out: &mut String, pool: &DescriptorPool, rules: &[Rule]) -> Result<(), String> {
    let mut codecs: Vec<(String, Option<String>, Option<String>)> = Vec::new();
    let mut table = String::from(
        "/// Every HTTP binding compiled from proto/, in proto order.\npub static ROUTES: &[crate::transcode::compiled::StaticRoute] = &[\n",
    );
    for rule in rules {
        let key = (
            rule.method.full_name().to_string(),
            rule.body.clone(),
            rule.response_body.clone(),
        );
        let index = match codecs.iter().position(|c| *c == key) {
            Some(i) => i,
            None => {
                write_codec(
                    out,
                    &rule.method,
                    rule.body.as_deref(),
                    rule.response_body.as_deref(),
                    codecs.len(),
                )?;
                codecs.push(key);
                codecs.len() - 1
            }
        };
        let kind = method_kind(&rule.method);
        let idempotent = is_idempotent(&rule.method);
        let body_names: Vec<String> = match rule.body.as_deref() {
            Some(name) if name != "*" => {
                let field = rule.method.input().get_field_by_name(name);
                let mut names = vec![format!("{name:?}")];
                if let Some(json) = field
                    .map(|f| f.json_name().to_string())
                    .filter(|j| j != name)
                {
                    names.push(format!("{json:?}"));
                }
                names
            }
            _ => Vec::new(),
        };
        let _ = writeln!(
            table,
            "    crate::transcode::compiled::StaticRoute {{ http_method: {:?}, template: {:?}, service: {:?}, method: {:?}, \
             grpc_path: \"/{}/{}\", body: {:?}, response_body: {:?}, body_field_names: &[{}], \
             proto_file: {:?}, kind: crate::schema::MethodKind::{kind}, idempotent: {idempotent}, implicit: {}, \
             codec: &CODEC_{index} }},",
            rule.http_method,
            rule.template_text,
            rule.method.parent_service().full_name(),
            rule.method.name(),
            rule.method.parent_service().full_name(),
            rule.method.name(),
            rule.body,
            rule.response_body,
            body_names.join(", "),
            rule.method.parent_file().name(),
            rule.implicit,
        );
    }
    table.push_str("];\n\n");
    out.push_str(&table);

    // Every method, with a codec that builds its whole request from fields and renders its
    // whole response (aggregates call methods this way, whatever their HTTP bindings).
    let mut methods = String::from(
        "/// Every method compiled from proto/, in proto order.\npub static METHODS: &[crate::transcode::compiled::StaticMethod] = &[\n",
    );
    for service in pool.services() {
        for method in service.methods() {
            let key = (method.full_name().to_string(), None, None);
            let index = match codecs.iter().position(|c| *c == key) {
                Some(i) => i,
                None => {
                    write_codec(out, &method, None, None, codecs.len())?;
                    codecs.push(key);
                    codecs.len() - 1
                }
            };
            let _ = writeln!(
                methods,
                "    crate::transcode::compiled::StaticMethod {{ service: {:?}, method: {:?}, grpc_path: \"/{}/{}\", \
                 input: {:?}, output: {:?}, kind: crate::schema::MethodKind::{}, idempotent: {}, \
                 codec: &CODEC_{index} }},",
                service.full_name(),
                method.name(),
                service.full_name(),
                method.name(),
                method.input().full_name(),
                method.output().full_name(),
                method_kind(&method),
                is_idempotent(&method),
            );
        }
    }
    methods.push_str("];\n\n");
    out.push_str(&methods);

    out.push_str("/// Every service compiled from proto/, with its methods.\npub static SERVICES: &[crate::transcode::compiled::StaticService] = &[\n");
    for service in pool.services() {
        let methods: Vec<String> = service
            .methods()
            .map(|m| format!("{:?}", m.name()))
            .collect();
        let _ = writeln!(
            out,
            "    crate::transcode::compiled::StaticService {{ name: {:?}, proto_file: {:?}, methods: &[{}] }},",
            service.full_name(),
            service.parent_file().name(),
            methods.join(", ")
        );
    }
    out.push_str("];\n\n");
    Ok(())
}

fn write_codec(
    out: &mut String,
    method: &MethodDescriptor,
    body: Option<&str>,
    response_body: Option<&str>,
    index: usize,
) -> Result<(), String> {
    let request = names::message_path(&method.input());
    let response = names::message_path(&method.output());
    let bind = match body {
        None => "crate::transcode::codec::no_body".to_string(),
        Some("*") => "crate::transcode::codec::whole_body".to_string(),
        Some(name) => {
            let field = method
                .input()
                .get_field_by_name(name)
                .ok_or("body field vanished")?;
            let _ = writeln!(
                out,
                "fn bind_body_{index}(m: &mut {request}, body: &[u8]) -> Result<(), crate::transcode::TranscodeError> {{ {} }}",
                bind_field(&field)
            );
            format!("bind_body_{index}")
        }
    };
    let render = match response_body {
        None => "crate::transcode::codec::whole_response".to_string(),
        Some(name) => {
            let field = method
                .output()
                .get_field_by_name(name)
                .ok_or("response field vanished")?;
            let _ = writeln!(
                out,
                "fn render_{index}(r: &{response}, out: &mut Vec<u8>) -> serde_json::Result<()> {{ {} }}",
                render_field(&field)?
            );
            format!("render_{index}")
        }
    };
    let _ = writeln!(
        out,
        "static CODEC_{index}: crate::transcode::codec::UnaryCodec<{request}, {response}> = \
         crate::transcode::codec::UnaryCodec {{ bind_body: {bind}, render: {render} }};\n"
    );
    Ok(())
}
