//! Dynamic messages written as proto3 JSON, byte for byte as the compiled codec writes the
//! same message: pbjson's member order (fields in declaration order, then oneofs), JSON names,
//! default values left out, 64-bit integers as strings, bytes as padded standard base64, enums
//! by name (by number when unknown), and build.rs's fixes (`open_enums`, `proto_floats`).
//! Written through serde_json's serializer, so numbers and strings are formatted by the same
//! code as the generated `Serialize` impls. Map entries are written sorted by key, one of the
//! orders the compiled codec's hash maps may produce.

use prost_reflect::{DynamicMessage, MapKey, Value};
use serde::ser::{Error as _, SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};

use super::plan::{Element, FieldPlan, MessageId, Plans, Scalar, Shape};
use super::wkt;
use crate::wkt::ProtoFloat;

/// A whole message.
pub struct MessageJson<'a> {
    pub plans: &'a Plans,
    pub id: MessageId,
    pub message: &'a DynamicMessage,
}

impl Serialize for MessageJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let plan = self.plans.message(self.id);
        if let Some(kind) = plan.wkt {
            return wkt::write(kind, self.message, serializer);
        }
        let mut map = serializer.serialize_map(None)?;
        for field in &plan.fields {
            let descriptor = &field.descriptor;
            let value = match field.shape {
                Shape::Implicit => {
                    let value = self.message.get_field(descriptor);
                    if is_default(&value) {
                        continue;
                    }
                    value
                }
                Shape::Explicit | Shape::Oneof => {
                    if !self.message.has_field(descriptor) {
                        continue;
                    }
                    self.message.get_field(descriptor)
                }
                Shape::Repeated | Shape::Map { .. } => {
                    let value = self.message.get_field(descriptor);
                    if matches!(&*value, Value::List(l) if l.is_empty())
                        || matches!(&*value, Value::Map(m) if m.is_empty())
                    {
                        continue;
                    }
                    value
                }
                Shape::Required => {
                    if !self.message.has_field(descriptor)
                        && matches!(field.element, Element::Message(_))
                    {
                        // pbjson writes the `Option` prost holds a required message in.
                        map.serialize_entry(&*field.json_name, &())?;
                        continue;
                    }
                    self.message.get_field(descriptor)
                }
            };
            map.serialize_entry(
                &*field.json_name,
                &ValueJson {
                    plans: self.plans,
                    field,
                    value: &value,
                    in_map: false,
                    proto3_fixes: plan.proto3_fixes,
                },
            )?;
        }
        map.end()
    }
}

/// pbjson's "is empty" test for fields without presence (`-0.0` counts as `0.0`).
fn is_default(value: &Value) -> bool {
    match value {
        Value::Bool(b) => !b,
        Value::I32(n) => *n == 0,
        Value::I64(n) => *n == 0,
        Value::U32(n) => *n == 0,
        Value::U64(n) => *n == 0,
        Value::F32(n) => *n == 0.0,
        Value::F64(n) => *n == 0.0,
        Value::String(s) => s.is_empty(),
        Value::Bytes(b) => b.is_empty(),
        Value::EnumNumber(n) => *n == 0,
        Value::Message(_) => false,
        Value::List(l) => l.is_empty(),
        Value::Map(m) => m.is_empty(),
    }
}

/// One field's value (or one element or map value of it).
struct ValueJson<'a> {
    plans: &'a Plans,
    field: &'a FieldPlan,
    value: &'a Value,
    /// pbjson leaves floats in map values as serde writes them (`null` when not finite).
    in_map: bool,
    proto3_fixes: bool,
}

impl ValueJson<'_> {
    fn with<'b>(&'b self, value: &'b Value, in_map: bool) -> ValueJson<'b> {
        ValueJson {
            plans: self.plans,
            field: self.field,
            value,
            in_map,
            proto3_fixes: self.proto3_fixes,
        }
    }
}

impl Serialize for ValueJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let floats_as_text = self.proto3_fixes && !self.in_map;
        match self.value {
            Value::String(s) => serializer.serialize_str(s),
            Value::Bool(b) => serializer.serialize_bool(*b),
            Value::I32(n) => serializer.serialize_i32(*n),
            Value::U32(n) => serializer.serialize_u32(*n),
            Value::I64(n) => serializer.collect_str(n),
            Value::U64(n) => serializer.collect_str(n),
            Value::F32(n) if floats_as_text => ProtoFloat(n).serialize(serializer),
            Value::F32(n) => serializer.serialize_f32(*n),
            Value::F64(n) if floats_as_text => ProtoFloat(n).serialize(serializer),
            Value::F64(n) => serializer.serialize_f64(*n),
            Value::Bytes(b) => serializer.collect_str(&wkt::base64(b)),
            Value::EnumNumber(n) => {
                let name = match self.field.element {
                    Element::NullValue if *n == 0 => return serializer.serialize_unit(),
                    Element::Enum(id) => self.plans.enumeration(id).name(*n),
                    _ => None,
                };
                match name {
                    Some(name) => serializer.serialize_str(name),
                    // `codegen::open_enums`: a number this schema does not name.
                    None if self.proto3_fixes => serializer.serialize_i32(*n),
                    None => Err(S::Error::custom(format_args!("Invalid variant {n}"))),
                }
            }
            Value::Message(message) => match self.field.element {
                Element::Message(id) => MessageJson {
                    plans: self.plans,
                    id,
                    message,
                }
                .serialize(serializer),
                _ => Err(S::Error::custom("a message where the schema has none")),
            },
            Value::List(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(&self.with(item, false))?;
                }
                seq.end()
            }
            Value::Map(entries) => {
                let mut sorted: Vec<(&MapKey, &Value)> = entries.iter().collect();
                sorted.sort_unstable_by(|a, b| a.0.cmp(b.0));
                let mut map = serializer.serialize_map(Some(sorted.len()))?;
                for (key, value) in sorted {
                    // Keys through serde_json's key serializer, as a `HashMap<K, V>`'s are.
                    match key {
                        MapKey::Bool(k) => map.serialize_key(k)?,
                        MapKey::I32(k) => map.serialize_key(k)?,
                        MapKey::I64(k) => map.serialize_key(k)?,
                        MapKey::U32(k) => map.serialize_key(k)?,
                        MapKey::U64(k) => map.serialize_key(k)?,
                        MapKey::String(k) => map.serialize_key(k)?,
                    }
                    map.serialize_value(&self.with(value, true))?;
                }
                map.end()
            }
        }
    }
}

/// One field of a message as the whole response body (`response_body`), as
/// `codegen::rules::render_field` writes it: its value even when default, `null` for an unset
/// `optional` scalar, the default message for an unset message.
pub struct FieldJson<'a> {
    pub plans: &'a Plans,
    pub id: MessageId,
    pub index: usize,
    pub message: &'a DynamicMessage,
}

impl Serialize for FieldJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let plan = self.plans.message(self.id);
        let field = &plan.fields[self.index];
        let scalar = matches!(field.element, Element::Scalar(_));
        if field.shape == Shape::Explicit && scalar && !self.message.has_field(&field.descriptor) {
            return serializer.serialize_none();
        }
        let value = self.message.get_field(&field.descriptor);
        ValueJson {
            plans: self.plans,
            field,
            value: &value,
            in_map: false,
            proto3_fixes: plan.proto3_fixes,
        }
        .serialize(serializer)
    }
}

/// Whether `render_field` can write this field: messages (singular or repeated), and
/// scalars serde writes as JSON natively (strings, booleans, 32-bit integers).
pub fn renderable(field: &FieldPlan) -> Result<(), String> {
    if field.oneof.is_some() || matches!(field.shape, Shape::Map { .. }) {
        return Err("oneof members and maps cannot be the response body".into());
    }
    match field.element {
        Element::Message(_) => Ok(()),
        Element::Scalar(Scalar::String | Scalar::Bool | Scalar::Int32 | Scalar::Uint32) => Ok(()),
        _ => Err(
            "only message, string, bool and 32-bit integer fields can be the response body".into(),
        ),
    }
}
