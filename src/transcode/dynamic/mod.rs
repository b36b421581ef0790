//! The codec of a method known only by its descriptors (protos compiled at start-up,
//! descriptor sets, backend reflection): a second [`MethodCodec`], made from prost-reflect
//! descriptors, which behaves exactly as the generated one (`UnaryCodec`).
//!
//! "Exactly" means: for the same request, the same message (the same fields set to the same
//! values); for the same response, the same JSON bytes; for a bad request, the same
//! `GatewayError` naming the same field. It holds because the dynamic codec reproduces, rule
//! for rule, what the compiled one is made of:
//!
//! - request bodies: the pbjson-generated `Deserialize` impls (`de.rs`), read through the same
//!   `json::from_slice_with` (fast path, `null` rule, error paths);
//! - path variables and query parameters: the generated `FieldSet` impls (`text.rs`), applied
//!   by the same `codec::bind_request`;
//! - responses: read from the wire by prost's own decoding functions (`wire.rs`), written as
//!   the pbjson-generated `Serialize` impls after build.rs's fixes write them, and as
//!   `codegen::table::render_field` writes a `response_body` (`ser.rs`);
//! - well-known types: the same Rust types, `crate::wkt` and pbjson-types (`wkt.rs`).
//!
//! Everything per message (field order, JSON names, shapes, setters) is planned once, when the
//! codec is made (`plan.rs`); a request walks no descriptors beyond what building and encoding
//! its `DynamicMessage` needs, and a reply none (no `DynamicMessage` either: its strings are
//! borrowed from the reply, the well-known types decoded as their Rust types).
//!
//! One difference: map entries (and `google.protobuf.Struct` members) are written sorted by
//! key, where the compiled codec writes them in its hash maps' order, which varies from one
//! message to the next.

mod de;
mod plan;
mod ser;
mod text;
mod wire;
mod wkt;

#[cfg(test)]
mod tests;

use bytes::Bytes;
use prost::Message;
use prost_reflect::{DynamicMessage, Kind, MethodDescriptor, Value};

use super::codec::{bind_fields, bind_request, undecodable, unrenderable};
use super::json;
use crate::error::GatewayError;
use crate::schema::{MethodCodec, RequestParts, RouteSpec};
use de::{ListReader, MessageReader};
use plan::{Element, MessageId, Plans, Text};
use text::Fields;

pub use ser::JsonOptions;

impl JsonOptions {
    /// The options of what `selects` picks out of `config`, each by the rule of every route
    /// key: the last selecting `[[routes]]` entry whose `json` sets it, else `[server.json]`,
    /// else off.
    pub fn resolve(
        config: &crate::config::Config,
        selects: impl Fn(&crate::config::RouteConfig) -> bool,
    ) -> JsonOptions {
        let server = &config.server.json;
        let option = |key: fn(&crate::config::JsonOutputConfig) -> Option<bool>| {
            config
                .route_setting(&selects, |r| r.json.as_ref().and_then(key))
                .or(key(server))
                .unwrap_or(false)
        };
        JsonOptions {
            emit_defaults: option(|j| j.emit_defaults),
            enums_as_numbers: option(|j| j.enums_as_numbers),
            proto_names: option(|j| j.proto_names),
        }
    }
}

/// The codec of one HTTP binding of a method described at run time. `Send + Sync`; made once
/// per binding, when a schema is loaded.
pub struct DynamicCodec {
    plans: Plans,
    /// The plan ids of the request and response messages.
    input: MessageId,
    output: MessageId,
    body: BodyBinding,
    /// `response_body`: the index of the response field, in its message's plan.
    response_field: Option<usize>,
    /// How responses are written; the default is the generated codec's output.
    options: JsonOptions,
}

/// What the request body sets.
enum BodyBinding {
    /// No `body`: the body is ignored.
    Ignored,
    /// `body: "*"`: the whole message.
    Whole,
    /// `body: "<message field>"`; `at` is its JSON name, which error paths start with.
    Message { index: usize, at: String },
    /// `body: "<repeated message field>"`.
    Messages { index: usize, at: String },
    /// `body: "<scalar field>"`: the JSON scalar(s) go through the text setter.
    Scalar { name: String },
}

impl DynamicCodec {
    /// The codec of one binding of `method`: `body` is None, Some("*") or Some(field name);
    /// `response_body` None or Some(field name). Both were already validated against the
    /// messages (by `schema::rules`); Err(String) says why one is not usable anyway (no such
    /// field, a map, a type that cannot be a body or response body).
    pub fn new(
        method: &MethodDescriptor,
        body: Option<&str>,
        response_body: Option<&str>,
    ) -> Result<DynamicCodec, String> {
        let input = method.input();
        let output = method.output();
        let (plans, roots) = Plans::build(&[&input, &output]);
        let (input_id, output_id) = (roots[0], roots[1]);
        let body = match body {
            None => BodyBinding::Ignored,
            Some("*") => BodyBinding::Whole,
            Some(name) => {
                let field = input.get_field_by_name(name).ok_or_else(|| {
                    format!(
                        "body field {name:?} is not a field of {}",
                        input.full_name()
                    )
                })?;
                let plan = plans.message(input_id);
                let index = plan
                    .field_index(field.number())
                    .ok_or("body field vanished")?;
                let planned = &plan.fields[index];
                let at = planned.json_name.to_string();
                match (field.kind(), planned.text) {
                    _ if field.is_map() => {
                        return Err(format!("body field {name:?} cannot be bound to a body"));
                    }
                    (Kind::Message(_), _) if field.is_list() => BodyBinding::Messages { index, at },
                    (Kind::Message(_), _) => BodyBinding::Message { index, at },
                    (_, Text::Unsupported(_)) => {
                        return Err(format!("body field {name:?} cannot be bound to a body"));
                    }
                    _ => BodyBinding::Scalar {
                        name: field.name().to_string(),
                    },
                }
            }
        };
        let response_field = match response_body {
            None => None,
            Some(name) => {
                let field = output.get_field_by_name(name).ok_or_else(|| {
                    format!(
                        "response_body {name:?} is not a field of {}",
                        output.full_name()
                    )
                })?;
                let plan = plans.message(output_id);
                let index = plan
                    .field_index(field.number())
                    .ok_or("response field vanished")?;
                ser::renderable(&plan.fields[index])
                    .map_err(|e| format!("response_body {name:?}: {e}"))?;
                Some(index)
            }
        };
        Ok(DynamicCodec {
            plans,
            input: input_id,
            output: output_id,
            body,
            response_field,
            options: JsonOptions::default(),
        })
    }

    /// This codec writing its responses with `options` (requests are read as before).
    pub fn with_options(mut self, options: JsonOptions) -> DynamicCodec {
        self.options = options;
        self
    }

    fn bind_body(&self, target: &mut Fields<'_>, body: &[u8]) -> Result<(), GatewayError> {
        let plans = &self.plans;
        let fields = &plans.message(self.input).fields;
        match &self.body {
            BodyBinding::Ignored => Ok(()),
            BodyBinding::Whole => {
                *target.message = json::from_slice_with(
                    MessageReader {
                        plans,
                        id: self.input,
                    },
                    body,
                    "",
                )?;
                Ok(())
            }
            BodyBinding::Message { index, at } => {
                let field = &fields[*index];
                let Element::Message(id) = field.element else {
                    return Err(GatewayError::Internal("body field is not a message".into()));
                };
                let message = json::from_slice_with(MessageReader { plans, id }, body, at)?;
                set(target.message, field, Value::Message(message))
            }
            BodyBinding::Messages { index, at } => {
                let field = &fields[*index];
                let reader = ListReader {
                    plans,
                    element: field.element,
                };
                let items = json::from_slice_with(reader, body, at)?;
                set(target.message, field, Value::List(items))
            }
            BodyBinding::Scalar { name } => json::bind_scalar_body(target, name, body),
        }
    }

    fn empty_request(&self) -> DynamicMessage {
        DynamicMessage::new(self.plans.message(self.input).descriptor.clone())
    }
}

/// The JSON of an empty `message` (its default value) written with `options`.
pub fn default_json(
    message: &prost_reflect::MessageDescriptor,
    options: JsonOptions,
) -> Result<String, String> {
    let (plans, roots) = Plans::build(&[message]);
    let mut out = Vec::new();
    match ser::render(&plans, roots[0], None, &[], &mut out, options) {
        Ok(()) => String::from_utf8(out).map_err(|e| e.to_string()),
        Err(ser::Failure::Decode(e)) => Err(e.to_string()),
        Err(ser::Failure::Render(e)) => Err(e.to_string()),
    }
}

fn set(
    message: &mut DynamicMessage,
    field: &plan::FieldPlan,
    value: Value,
) -> Result<(), GatewayError> {
    message
        .try_set_field(&field.descriptor, value)
        .map_err(|e| GatewayError::Internal(format!("setting the body field: {e}")))
}

impl MethodCodec for DynamicCodec {
    fn build_request(
        &self,
        route: &RouteSpec,
        parts: RequestParts<'_>,
    ) -> Result<Bytes, GatewayError> {
        let mut message = self.empty_request();
        let mut target = Fields {
            plans: &self.plans,
            id: self.input,
            message: &mut message,
        };
        bind_request(&mut target, route, parts, |target, body| {
            self.bind_body(target, body)
        })?;
        Ok(message.encode_to_vec().into())
    }

    fn build_from_fields(&self, fields: &[(&[String], &[String])]) -> Result<Bytes, GatewayError> {
        let mut message = self.empty_request();
        let mut target = Fields {
            plans: &self.plans,
            id: self.input,
            message: &mut message,
        };
        bind_fields(&mut target, fields)?;
        Ok(message.encode_to_vec().into())
    }

    fn render_response(&self, message: &[u8], out: &mut Vec<u8>) -> Result<(), GatewayError> {
        let (plans, output, field) = (&self.plans, self.output, self.response_field);
        match ser::render(plans, output, field, message, out, self.options) {
            Ok(()) => Ok(()),
            Err(ser::Failure::Decode(e)) => Err(undecodable(e)),
            Err(ser::Failure::Render(e)) => Err(unrenderable(e)),
        }
    }
}
