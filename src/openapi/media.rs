//! Bodies beyond JSON, as the gateway serves them: `google.api.HttpBody` requests and responses
//! (raw bytes with their own media type), multipart uploads into messages that carry files, and
//! the PATCH mask the gateway takes from the body. Everything is read from the descriptors, so
//! compiled-in and run-time services are described alike.

use prost_reflect::{FieldDescriptor, Kind, MessageDescriptor};
use serde_json::{Map, Value, json};

use super::schema::{self, Schemas};
use super::{comments, json_path};
use crate::schema::MethodKind;
use crate::transcode::body::{BodyPlan, is_http_body};

/// The media range documented for a raw body when the route accepts any.
const ANY_MEDIA: &str = "*/*";
/// The description of a PATCH mask the gateway fills from the body.
const MASK_DEFAULT: &str = "Optional: without it the gateway names the fields the body sets \
    (proto names, in body order), so only those are updated.";

/// A body of raw bytes.
fn binary() -> Value {
    json!({ "type": "string", "format": "binary" })
}

/// The `requestBody` of a binding whose `body` is `body` (`plan` says how the gateway reads
/// it): raw bytes of each `accept` range (any when empty) when it fills a
/// `google.api.HttpBody`; otherwise JSON, and a multipart form too when the message a form
/// fills carries a file (a `bytes` or `HttpBody` field at top level).
pub fn request_body(
    plan: &BodyPlan,
    input: &MessageDescriptor,
    body: &str,
    accept: &[String],
    schemas: &mut Schemas,
) -> Value {
    if plan.raw_request() {
        return json!({
            "required": false,
            "description": "The raw body, as it is: its Content-Type header is passed on with it.",
            "content": raw_content(accept),
        });
    }
    let json_schema = if body == "*" {
        schemas.message(input)
    } else {
        input
            .get_field_by_name(body)
            .map(|f| schemas.field(&f))
            .unwrap_or_else(|| json!({}))
    };
    let mut content = json!({ "application/json": { "schema": json_schema } });
    if let Some(message) = plan.form_message().filter(|m| carries_file(m)) {
        content["multipart/form-data"] = multipart(message, accept, schemas);
    }
    json!({ "required": false, "content": content })
}

/// Raw bytes under each `accept` range (any media type when it is empty).
fn raw_content(accept: &[String]) -> Map<String, Value> {
    media_ranges(accept)
        .into_iter()
        .map(|range| (range, json!({ "schema": binary() })))
        .collect()
}

/// `accept`, or any media type when it is empty.
fn media_ranges(accept: &[String]) -> Vec<String> {
    if accept.is_empty() {
        vec![ANY_MEDIA.to_string()]
    } else {
        accept.to_vec()
    }
}

/// The `requestBody` of a client-streaming binding: the body is the stream of requests, NDJSON
/// or a JSON array of the message `body` binds, or raw bytes sent in chunks when it fills a
/// `google.api.HttpBody`.
pub fn stream_request_body(
    plan: &BodyPlan,
    input: &MessageDescriptor,
    body: &str,
    accept: &[String],
    schemas: &mut Schemas,
) -> Value {
    if plan.raw_request() {
        return json!({
            "required": false,
            "description": "The request stream is the raw body: each chunk of at most 64 KiB \
                is one message, the first also carrying the Content-Type.",
            "content": raw_content(accept),
        });
    }
    let message = if body == "*" {
        schemas.message(input)
    } else {
        input
            .get_field_by_name(body)
            .map(|f| schemas.field(&f))
            .unwrap_or_else(|| json!({}))
    };
    json!({
        "required": false,
        "description": "The request stream: one JSON message per line (application/x-ndjson, \
            also application/jsonl), or a JSON array of messages (application/json). Each \
            message is sent to the backend as soon as it is read; path and query fill every \
            message, and the size limit applies to each. A malformed message cancels the call \
            and is answered 400 naming its line or element.",
        "content": {
            "application/x-ndjson": { "schema": message.clone() },
            "application/json": { "schema": { "type": "array", "items": message } },
        },
    })
}

/// Whether `message` has a `bytes` or `google.api.HttpBody` field of its own.
fn carries_file(message: &MessageDescriptor) -> bool {
    message.fields().any(|field| is_file(&field))
}

fn is_file(field: &FieldDescriptor) -> bool {
    match field.kind() {
        Kind::Bytes => true,
        Kind::Message(_) => is_http_body(field),
        _ => false,
    }
}

/// The multipart/form-data media type of an upload into `message`: one property per part name
/// the gateway takes (dotted JSON paths into singular messages), files as binary strings, the
/// media types `accept` allows named as each file's encoding.
fn multipart(message: &MessageDescriptor, accept: &[String], schemas: &mut Schemas) -> Value {
    let mut properties = Map::new();
    form_fields(message, "", schemas, &mut properties, 0);
    let mut media = json!({ "schema": { "type": "object", "properties": properties } });
    if !accept.is_empty() {
        let mut encoding = Map::new();
        for field in message.fields() {
            if is_http_body(&field) {
                encoding.insert(
                    field.json_name().to_string(),
                    json!({ "contentType": accept.join(", ") }),
                );
            }
        }
        if !encoding.is_empty() {
            media["encoding"] = Value::Object(encoding);
        }
    }
    media
}

/// The form parts that set fields of `message` under the proto-named `prefix`.
fn form_fields(
    message: &MessageDescriptor,
    prefix: &str,
    schemas: &mut Schemas,
    out: &mut Map<String, Value>,
    depth: usize,
) {
    for field in message.fields() {
        if field.is_map() {
            continue;
        }
        let name = json_path(prefix, &field);
        let kind = field.kind();
        let single = if is_file(&field) {
            binary()
        } else if let Kind::Message(inner) = &kind
            && !schema::is_text_like(inner)
        {
            // Into singular messages a few levels deep, as a query string goes.
            if !field.is_list() && schema::well_known(inner).is_none() && depth < 3 {
                let prefix = format!("{prefix}{}.", field.name());
                form_fields(inner, &prefix, schemas, out, depth + 1);
            }
            continue;
        } else {
            schemas.single(&kind)
        };
        let mut property = if field.is_list() {
            json!({ "type": "array", "items": single })
        } else {
            single
        };
        if let (Some(text), Value::Object(object)) = (comments(&field), &mut property)
            && !object.contains_key("$ref")
        {
            object.insert("description".into(), text.into());
        }
        out.insert(name, property);
    }
}

/// The 200 answer of a binding whose response (or `response_body` field) is a
/// `google.api.HttpBody`: raw bytes of whatever type the backend names; `None` otherwise.
pub fn raw_response(kind: MethodKind, plan: &BodyPlan) -> Option<Value> {
    if !plan.raw_response() {
        return None;
    }
    let description = match kind {
        MethodKind::ServerStreaming => {
            "The raw body, streamed: the Content-Type of the first message, then the bytes of \
             every message as they arrive. An error after the first message cuts the body short."
        }
        _ => "The raw body, with the Content-Type the backend names.",
    };
    Some(json!({
        "description": description,
        "content": { ANY_MEDIA: { "schema": binary() } },
    }))
}

/// Says on the query parameter `name` that it defaults to the body's fields.
pub fn describe_mask_default(parameters: &mut [Value], name: &str) {
    for parameter in parameters.iter_mut() {
        if parameter["in"] == "query" && parameter["name"] == name {
            let text = match parameter["description"].as_str() {
                Some(own) => format!("{own}\n{MASK_DEFAULT}"),
                None => MASK_DEFAULT.to_string(),
            };
            parameter["description"] = text.into();
        }
    }
}
