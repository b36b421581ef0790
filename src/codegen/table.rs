//! Writes the route table of the rules `crate::rules` read and checked, with one `UnaryCodec`
//! (body binder + response renderer) per distinct binding.

use std::fmt::Write;

use prost_reflect::{DescriptorPool, FieldDescriptor, Kind, MethodDescriptor};

use super::names;
use crate::rules::{Rule, is_idempotent, json_native};

/// The body of a response renderer that writes one field of the response.
/// (`crate::rules` has checked that it can be.)
fn render_field(field: &FieldDescriptor) -> Result<String, String> {
    let ident = names::snake(field.name());
    match field.kind() {
        // Lists of messages or JSON-native scalars, and JSON-native scalars, serialize as is.
        Kind::Message(_) if field.is_list() => {
            Ok(format!("serde_json::to_writer(out, &r.{ident})"))
        }
        _ if json_native(field) => Ok(format!("serde_json::to_writer(out, &r.{ident})")),
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
        let body_names: Vec<String> = rule
            .body_field_names()
            .iter()
            .map(|n| format!("{n:?}"))
            .collect();
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
