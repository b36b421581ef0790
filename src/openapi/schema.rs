//! Proto types as JSON Schema (OpenAPI 3.1 is JSON Schema 2020-12), following the proto3 JSON
//! mapping the gateway speaks: lowerCamelCase `json_name` properties, 64-bit integers as
//! strings, enums by name, well-known types in their JSON forms, maps as objects, and at most one
//! field of a oneof.
//!
//! An answer written with JSON output options (`[server.json]`, `[[routes]] json`) is described
//! by schemas of its own, named with a suffix (`pkg.Message-proto_names`): proto names, enums
//! as integers, and with `emit_defaults` the fields always written listed as `required` (an
//! unset message being `null`).

use std::collections::BTreeMap;

use prost_reflect::{FieldDescriptor, Kind, MessageDescriptor};
use serde_json::{Map, Value, json};

use super::comments;
use crate::transcode::JsonOptions;

/// `#/components/schemas/<name>`.
fn reference(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

/// A message's component name: its full name, with a suffix naming the options it is written
/// with when they are not the default.
fn component_name(message: &MessageDescriptor, options: JsonOptions) -> String {
    let mut name = message.full_name().to_string();
    let flags = [
        (options.emit_defaults, "emit_defaults"),
        (options.enums_as_numbers, "enums_as_numbers"),
        (options.proto_names, "proto_names"),
    ];
    for (_, flag) in flags.iter().filter(|(on, _)| *on) {
        name.push('-');
        name.push_str(flag);
    }
    name
}

/// Collects schemas by component name: the messages reached from the ones added, once each.
#[derive(Default)]
pub struct Schemas {
    pub schemas: BTreeMap<String, Value>,
    /// The JSON output options of the answer being described; the default for requests.
    output: JsonOptions,
}

impl Schemas {
    /// What `describe` adds, described as an answer written with `options`.
    pub fn answer<T>(&mut self, options: JsonOptions, describe: impl FnOnce(&mut Self) -> T) -> T {
        let before = std::mem::replace(&mut self.output, options);
        let described = describe(self);
        self.output = before;
        described
    }

    /// The schema of a value of `message`: a `$ref` for ordinary messages (whose schema is added
    /// to the components), the inline JSON form for well-known types.
    pub fn message(&mut self, message: &MessageDescriptor) -> Value {
        if let Some(inline) = well_known(message) {
            return inline;
        }
        let name = component_name(message, self.output);
        if !self.schemas.contains_key(&name) {
            // Placeholder first, so recursive messages end.
            self.schemas.insert(name.clone(), Value::Null);
            let schema = self.object(message);
            self.schemas.insert(name.clone(), schema);
        }
        reference(&name)
    }

    /// An ordinary message as an object schema.
    fn object(&mut self, message: &MessageDescriptor) -> Value {
        let options = self.output;
        let mut properties = Map::new();
        let mut always = Vec::new();
        for field in message.fields() {
            let mut schema = self.field(&field);
            let name = options.member_name(&field).to_string();
            if options.emit_defaults && field.containing_oneof().is_none() {
                // Written even when unset: a message (or a proto2 `optional` scalar) as `null`.
                let no_value = json!({ "type": "null" });
                let nullable = schema.as_object().is_some_and(|o| o.is_empty())
                    || schema["anyOf"]
                        .as_array()
                        .is_some_and(|a| a.contains(&no_value));
                if field.supports_presence() && !nullable {
                    schema = json!({ "anyOf": [schema, no_value] });
                }
                always.push(Value::from(name.clone()));
            }
            if let (Some(text), Value::Object(object)) = (comments(&field), &mut schema)
                && !object.contains_key("$ref")
            {
                // An enum written as numbers keeps its names in the description.
                let text = match object.get("description").and_then(Value::as_str) {
                    Some(names) => format!("{text}\n\n{names}"),
                    None => text,
                };
                object.insert("description".into(), text.into());
            }
            properties.insert(name, schema);
        }
        let mut schema = json!({ "type": "object", "properties": properties });
        if let Some(text) = comments(message) {
            schema["description"] = text.into();
        }
        if !always.is_empty() {
            schema["required"] = Value::Array(always);
        }
        let oneofs: Vec<Vec<String>> = message
            .oneofs()
            .filter(|o| !o.is_synthetic())
            .map(|o| {
                o.fields()
                    .map(|f| options.member_name(&f).to_string())
                    .collect()
            })
            .collect();
        if !oneofs.is_empty() {
            // At most one field of each oneof: exactly one of them, or none.
            let rules: Vec<Value> = oneofs
                .iter()
                .map(|names| {
                    let each: Vec<Value> =
                        names.iter().map(|n| json!({ "required": [n] })).collect();
                    let mut choices = each.clone();
                    choices.push(json!({ "not": { "anyOf": each } }));
                    json!({ "oneOf": choices })
                })
                .collect();
            schema["allOf"] = Value::Array(rules);
        }
        schema
    }

    /// A field's schema: repeated as an array, map as an object with `additionalProperties`.
    pub fn field(&mut self, field: &FieldDescriptor) -> Value {
        if field.is_map() {
            let Kind::Message(entry) = field.kind() else {
                return json!({ "type": "object" });
            };
            let value = entry.map_entry_value_field();
            return json!({ "type": "object", "additionalProperties": self.single(&value.kind()) });
        }
        let single = self.single(&field.kind());
        if field.is_list() {
            json!({ "type": "array", "items": single })
        } else {
            single
        }
    }

    /// One value of `kind`.
    pub fn single(&mut self, kind: &Kind) -> Value {
        match kind {
            Kind::Double | Kind::Float => float(),
            Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => {
                json!({ "type": "integer", "format": "int32" })
            }
            Kind::Uint32 | Kind::Fixed32 => {
                json!({ "type": "integer", "minimum": 0, "maximum": 4294967295u64 })
            }
            Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => {
                json!({ "type": "string", "format": "int64", "pattern": "^-?[0-9]+$" })
            }
            Kind::Uint64 | Kind::Fixed64 => {
                json!({ "type": "string", "format": "uint64", "pattern": "^[0-9]+$" })
            }
            Kind::Bool => json!({ "type": "boolean" }),
            Kind::String => json!({ "type": "string" }),
            Kind::Bytes => {
                json!({ "type": "string", "format": "byte", "contentEncoding": "base64" })
            }
            Kind::Enum(e) if self.output.enums_as_numbers => {
                let mut numbers: Vec<i32> = Vec::new();
                let mut names = Vec::new();
                for value in e.values() {
                    if !numbers.contains(&value.number()) {
                        numbers.push(value.number());
                    }
                    names.push(format!("{} = {}", value.name(), value.number()));
                }
                json!({
                    "type": "integer",
                    "format": "int32",
                    "enum": numbers,
                    "description": names.join(", "),
                })
            }
            Kind::Enum(e) => {
                let names: Vec<String> = e.values().map(|v| v.name().to_string()).collect();
                // A number the build does not know is written as a number.
                json!({ "anyOf": [
                    { "type": "string", "enum": names },
                    { "type": "integer", "format": "int32" },
                ]})
            }
            Kind::Message(m) => self.message(m),
        }
    }
}

/// float and double: a number, or one of the strings proto3 JSON uses for non-finite values.
fn float() -> Value {
    json!({ "anyOf": [
        { "type": "number" },
        { "type": "string", "enum": ["NaN", "Infinity", "-Infinity"] },
    ]})
}

/// Whether a value of `message` is written as one string in a query string or a form field
/// (Timestamp, Duration, FieldMask, the wrappers), as opposed to a JSON structure or a message
/// whose fields are set one by one.
pub fn is_text_like(message: &MessageDescriptor) -> bool {
    well_known(message).is_some()
        && !matches!(
            message.full_name(),
            "google.protobuf.Struct"
                | "google.protobuf.Value"
                | "google.protobuf.ListValue"
                | "google.protobuf.Any"
                | "google.protobuf.Empty"
        )
}

/// The JSON form of a well-known type, inline; `None` for other messages.
pub fn well_known(message: &MessageDescriptor) -> Option<Value> {
    let nullable = |schema: Value| json!({ "anyOf": [schema, { "type": "null" }] });
    Some(match message.full_name() {
        "google.protobuf.Timestamp" => json!({ "type": "string", "format": "date-time" }),
        "google.protobuf.Duration" => {
            json!({ "type": "string", "pattern": "^-?[0-9]+(\\.[0-9]{1,9})?s$", "example": "1.5s" })
        }
        "google.protobuf.FieldMask" => {
            json!({ "type": "string", "description": "Comma-separated field paths, lowerCamelCase." })
        }
        "google.protobuf.Struct" => json!({ "type": "object", "additionalProperties": true }),
        "google.protobuf.Value" => json!({}),
        "google.protobuf.ListValue" => json!({ "type": "array", "items": {} }),
        "google.protobuf.Empty" => json!({ "type": "object", "additionalProperties": false }),
        "google.protobuf.Any" => json!({
            "type": "object",
            "properties": { "@type": { "type": "string" } },
            "required": ["@type"],
            "additionalProperties": true,
        }),
        "google.protobuf.StringValue" => nullable(json!({ "type": "string" })),
        "google.protobuf.BytesValue" => {
            nullable(json!({ "type": "string", "format": "byte", "contentEncoding": "base64" }))
        }
        "google.protobuf.BoolValue" => nullable(json!({ "type": "boolean" })),
        "google.protobuf.Int32Value" => nullable(json!({ "type": "integer", "format": "int32" })),
        "google.protobuf.UInt32Value" => {
            nullable(json!({ "type": "integer", "minimum": 0, "maximum": 4294967295u64 }))
        }
        "google.protobuf.Int64Value" => {
            nullable(json!({ "type": "string", "format": "int64", "pattern": "^-?[0-9]+$" }))
        }
        "google.protobuf.UInt64Value" => {
            nullable(json!({ "type": "string", "format": "uint64", "pattern": "^[0-9]+$" }))
        }
        "google.protobuf.FloatValue" | "google.protobuf.DoubleValue" => nullable(float()),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn descriptors() -> &'static prost_reflect::DescriptorPool {
        crate::transcode::compiled::schema().descriptors()
    }

    fn kitchen() -> MessageDescriptor {
        descriptors()
            .get_message_by_name("gatehouse.echo.v1.Kitchen")
            .expect("the echo test proto is compiled")
    }

    /// The schema of one Kitchen field, by its proto name.
    fn field(name: &str) -> Value {
        let kitchen = kitchen();
        let field = kitchen.get_field_by_name(name).unwrap();
        Schemas::default().field(&field)
    }

    #[test]
    fn scalars_follow_proto3_json() {
        assert_eq!(field("string_field"), json!({ "type": "string" }));
        assert_eq!(field("bool_field"), json!({ "type": "boolean" }));
        assert_eq!(field("int32_field")["format"], "int32");
        assert_eq!(field("int64_field")["type"], "string");
        assert_eq!(field("int64_field")["format"], "int64");
        assert_eq!(field("bytes_field")["format"], "byte");
        assert_eq!(field("double_field")["anyOf"][0]["type"], "number");
        assert_eq!(field("float_field")["anyOf"][1]["enum"][0], "NaN");
        let enum_names = &field("enum_field")["anyOf"][0]["enum"];
        assert!(
            enum_names
                .as_array()
                .unwrap()
                .contains(&json!("COLOR_UNSPECIFIED"))
        );
    }

    #[test]
    fn every_scalar_kind_has_a_schema() {
        let mut schemas = Schemas::default();
        for (kind, ty, format) in [
            (Kind::Int32, "integer", Some("int32")),
            (Kind::Sint32, "integer", Some("int32")),
            (Kind::Sfixed32, "integer", Some("int32")),
            (Kind::Uint32, "integer", None),
            (Kind::Fixed32, "integer", None),
            (Kind::Int64, "string", Some("int64")),
            (Kind::Sint64, "string", Some("int64")),
            (Kind::Sfixed64, "string", Some("int64")),
            (Kind::Uint64, "string", Some("uint64")),
            (Kind::Fixed64, "string", Some("uint64")),
            (Kind::Bool, "boolean", None),
            (Kind::String, "string", None),
            (Kind::Bytes, "string", Some("byte")),
        ] {
            let schema = schemas.single(&kind);
            assert_eq!(schema["type"], ty, "{kind:?}");
            if let Some(format) = format {
                assert_eq!(schema["format"], format, "{kind:?}");
            }
        }
    }

    #[test]
    fn repeated_maps_messages_and_json_names() {
        assert_eq!(field("repeated_string")["type"], "array");
        assert_eq!(field("repeated_string")["items"]["type"], "string");
        assert_eq!(field("repeated_int64")["items"]["format"], "int64");
        assert_eq!(
            field("repeated_nested")["items"]["$ref"],
            "#/components/schemas/gatehouse.echo.v1.Nested"
        );
        assert_eq!(field("labels")["type"], "object");
        assert_eq!(field("labels")["additionalProperties"]["type"], "string");
        let mut schemas = Schemas::default();
        schemas.message(&kitchen());
        let kitchen = &schemas.schemas["gatehouse.echo.v1.Kitchen"];
        assert!(
            kitchen["properties"].get("customJSON").is_some(),
            "json_name is used"
        );
        assert!(kitchen["properties"].get("stringField").is_some());
        // Nested is recursive (Nested.child): it is described once and referenced.
        assert!(schemas.schemas.contains_key("gatehouse.echo.v1.Nested"));
        assert_eq!(
            schemas.schemas["gatehouse.echo.v1.Nested"]["properties"]["child"]["$ref"],
            "#/components/schemas/gatehouse.echo.v1.Nested"
        );
    }

    #[test]
    fn a_oneof_allows_at_most_one_field() {
        let mut schemas = Schemas::default();
        schemas.message(&kitchen());
        let rules = &schemas.schemas["gatehouse.echo.v1.Kitchen"]["allOf"][0]["oneOf"];
        let rules = rules.as_array().unwrap();
        assert!(rules.contains(&json!({ "required": ["choiceText"] })));
        assert!(rules.last().unwrap().get("not").is_some());
    }

    #[test]
    fn well_known_types_have_their_json_forms() {
        assert_eq!(
            field("timestamp"),
            json!({ "type": "string", "format": "date-time" })
        );
        assert_eq!(field("duration")["type"], "string");
        assert_eq!(field("field_mask")["type"], "string");
        assert_eq!(field("struct_field")["type"], "object");
        assert_eq!(field("value_field"), json!({}));
        assert_eq!(field("string_wrapper")["anyOf"][1]["type"], "null");
        assert_eq!(field("bool_wrapper")["anyOf"][0]["type"], "boolean");
        let pool = descriptors();
        for (name, check) in [
            ("google.protobuf.ListValue", "array"),
            ("google.protobuf.Any", "object"),
        ] {
            let message = pool.get_message_by_name(name).unwrap();
            assert_eq!(well_known(&message).unwrap()["type"], check, "{name}");
        }
        for name in [
            "google.protobuf.Int32Value",
            "google.protobuf.UInt32Value",
            "google.protobuf.Int64Value",
            "google.protobuf.UInt64Value",
            "google.protobuf.FloatValue",
            "google.protobuf.DoubleValue",
            "google.protobuf.BytesValue",
        ] {
            let message = pool.get_message_by_name(name).unwrap();
            assert_eq!(
                well_known(&message).unwrap()["anyOf"][1]["type"],
                "null",
                "{name}"
            );
        }
    }
}
