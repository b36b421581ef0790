//! Replies written as proto3 JSON, byte for byte as the compiled codec writes the same reply:
//! pbjson's member order (fields in declaration order, then oneofs), JSON names, default
//! values left out, 64-bit integers as strings, bytes as padded standard base64, enums by name
//! (by number when unknown), and build.rs's fixes (`open_enums`, `proto_floats`). Written
//! through serde_json's serializer, so numbers and strings are formatted by the same code as
//! the generated `Serialize` impls. Map entries are written sorted by key, one of the orders
//! the compiled codec's hash maps may produce.
//!
//! [`JsonOptions`] change that output where a config asks for it (`[server.json]`,
//! `[[routes]] json`); their default writes exactly the above.

use serde::ser::{Error as _, SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};

use super::plan::{Element, FieldPlan, MessageId, Plans, Scalar, Shape, Wire};
use super::wire::{Entries, Item, Known, Reader, Record, Slot};
use super::wkt;
use crate::wkt::ProtoFloat;

/// How replies are written beyond the proto3 JSON mapping's defaults. The default (all false)
/// is the generated codec's output, byte for byte.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct JsonOptions {
    /// Every field, also when it holds its default value, as protojson's EmitUnpopulated:
    /// scalars as their default, lists as `[]`, maps as `{}`, unset messages (well-known
    /// types too) as `null`; unset oneof members and proto3 `optional` fields stay out.
    pub emit_defaults: bool,
    /// Enum values as their numbers.
    pub enums_as_numbers: bool,
    /// Members named by the proto field name instead of the JSON name.
    pub proto_names: bool,
}

impl JsonOptions {
    /// Whether these are the generated codec's options.
    pub fn is_default(&self) -> bool {
        *self == JsonOptions::default()
    }

    /// The member name of `field` in a written message.
    pub fn member_name<'f>(&self, field: &'f prost_reflect::FieldDescriptor) -> &'f str {
        if self.proto_names {
            field.name()
        } else {
            field.json_name()
        }
    }
}

/// Why a reply could not be written.
pub enum Failure {
    Decode(prost::DecodeError),
    Render(serde_json::Error),
}

/// Writes the reply `reply`, a message of plan `id`, or only its field `field`
/// (`response_body`), into `out`.
pub fn render(
    plans: &Plans,
    id: MessageId,
    field: Option<usize>,
    reply: &[u8],
    out: &mut Vec<u8>,
    options: JsonOptions,
) -> Result<(), Failure> {
    let mut serializer = serde_json::Serializer::new(out);
    let plan = plans.message(id);
    if let Some(kind) = plan.wkt {
        // A method that answers with a well-known type (its fields are no response body).
        let known = Known::decode(kind, reply).map_err(Failure::Decode)?;
        return known.serialize(&mut serializer).map_err(Failure::Render);
    }
    let reader = Reader {
        plans,
        source: reply,
    };
    let record = Record::decode(&reader, id).map_err(Failure::Decode)?;
    match field {
        None => RecordJson(&record, options).serialize(&mut serializer),
        Some(index) => FieldJson {
            record: &record,
            index,
            options,
        }
        .serialize(&mut serializer),
    }
    .map_err(Failure::Render)
}

/// A whole message.
struct RecordJson<'r, 'a>(&'r Record<'a>, JsonOptions);

impl Serialize for RecordJson<'_, '_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let record = self.0;
        let plan = record.plans().message(record.id());
        let mut map = serializer.serialize_map(None)?;
        if self.1.emit_defaults {
            for (index, field) in plan.fields.iter().enumerate() {
                let name = self.name(field);
                match record.get(index) {
                    Some(slot) => map.serialize_entry(name, &self.slot(field, slot))?,
                    None if has_presence(field) => {}
                    None if unset_is_null(field) => map.serialize_entry(name, &())?,
                    None => map.serialize_entry(name, &Absent(record, field, self.1))?,
                }
            }
            return map.end();
        }
        if plan.has_required {
            // proto2: a `required` field is written even when absent (pbjson writes what
            // prost holds: the default, or `null` for a message).
            for (index, field) in plan.fields.iter().enumerate() {
                match record.get(index) {
                    Some(slot) if !is_empty(field, slot) => {
                        map.serialize_entry(self.name(field), &self.slot(field, slot))?;
                    }
                    None if field.shape == Shape::Required => {
                        map.serialize_entry(self.name(field), &Absent(record, field, self.1))?;
                    }
                    _ => {}
                }
            }
            return map.end();
        }
        for (index, slot) in &record.fields {
            let field = &plan.fields[*index as usize];
            if !is_empty(field, slot) {
                map.serialize_entry(self.name(field), &self.slot(field, slot))?;
            }
        }
        map.end()
    }
}

impl<'r, 'a> RecordJson<'r, 'a> {
    fn slot(&self, field: &'r FieldPlan, slot: &'r Slot<'a>) -> SlotJson<'r, 'a> {
        let plans = self.0.plans();
        SlotJson {
            plans,
            field,
            slot,
            proto3_fixes: plans.message(self.0.id()).proto3_fixes,
            options: self.1,
        }
    }

    fn name<'f>(&self, field: &'f FieldPlan) -> &'f str {
        if self.1.proto_names {
            field.descriptor.name()
        } else {
            &field.json_name
        }
    }
}

/// With `emit_defaults`, whether an unset field stays out, as protojson leaves it out: a
/// oneof member or a proto3 `optional` field (in its synthetic oneof).
fn has_presence(field: &FieldPlan) -> bool {
    field.shape == Shape::Oneof || field.descriptor.containing_oneof().is_some()
}

/// With `emit_defaults`, whether an unset field is written `null`, as protojson writes it: a
/// singular message (well-known types too) or a proto2 `optional` scalar.
fn unset_is_null(field: &FieldPlan) -> bool {
    match field.shape {
        Shape::Explicit => true,
        Shape::Required => matches!(field.element, Element::Message(_)),
        _ => false,
    }
}

/// pbjson's "is empty" test: a default value of a field without presence, an empty list or
/// map (`-0.0` counts as `0.0`).
fn is_empty(field: &FieldPlan, slot: &Slot<'_>) -> bool {
    match slot {
        Slot::List(items) => items.is_empty(),
        Slot::Map(entries) => entries.len() == 0,
        Slot::One(item) => field.shape == Shape::Implicit && is_default(item),
    }
}

fn is_default(item: &Item<'_>) -> bool {
    match item {
        Item::Bool(b) => !b,
        Item::I32(n) | Item::Enum(n) => *n == 0,
        Item::I64(n) => *n == 0,
        Item::U32(n) => *n == 0,
        Item::U64(n) => *n == 0,
        Item::F32(n) => *n == 0.0,
        Item::F64(n) => *n == 0.0,
        Item::Str(s) => s.is_empty(),
        Item::Bytes(b) => b.is_empty(),
        Item::Message(_) | Item::Timestamp(_) | Item::Known(_) => false,
    }
}

/// A field's value: one item, a list or a map.
struct SlotJson<'r, 'a> {
    plans: &'r Plans,
    field: &'r FieldPlan,
    slot: &'r Slot<'a>,
    proto3_fixes: bool,
    options: JsonOptions,
}

impl<'r, 'a> SlotJson<'r, 'a> {
    fn item(&self, item: &'r Item<'a>, in_map: bool) -> ItemJson<'r, 'a> {
        ItemJson {
            plans: self.plans,
            element: self.field.element,
            item,
            // pbjson leaves floats in map values as serde writes them (`null` if not finite).
            floats_as_text: self.proto3_fixes && !in_map,
            proto3_fixes: self.proto3_fixes,
            options: self.options,
        }
    }
}

impl Serialize for SlotJson<'_, '_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.slot {
            Slot::One(item) => self.item(item, false).serialize(serializer),
            Slot::List(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(&self.item(item, false))?;
                }
                seq.end()
            }
            Slot::Map(entries) => {
                let mut map = serializer.serialize_map(Some(entries.len()))?;
                // Keys through serde_json's key serializer, as a `HashMap<K, V>`'s are.
                macro_rules! sorted {
                    ($entries:expr) => {{
                        let mut sorted: Vec<_> = $entries.iter().collect();
                        sorted.sort_unstable_by(|a, b| a.0.cmp(b.0));
                        for (key, value) in sorted {
                            map.serialize_entry(key, &self.item(value, true))?;
                        }
                    }};
                }
                match &**entries {
                    Entries::Str(e) => sorted!(e),
                    Entries::Bool(e) => sorted!(e),
                    Entries::I32(e) => sorted!(e),
                    Entries::I64(e) => sorted!(e),
                    Entries::U32(e) => sorted!(e),
                    Entries::U64(e) => sorted!(e),
                }
                map.end()
            }
        }
    }
}

/// One value.
struct ItemJson<'r, 'a> {
    plans: &'r Plans,
    element: Element,
    item: &'r Item<'a>,
    floats_as_text: bool,
    proto3_fixes: bool,
    options: JsonOptions,
}

impl Serialize for ItemJson<'_, '_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.item {
            Item::Str(s) => serializer.serialize_str(s),
            Item::Bool(b) => serializer.serialize_bool(*b),
            Item::I32(n) => serializer.serialize_i32(*n),
            Item::U32(n) => serializer.serialize_u32(*n),
            Item::I64(n) => serializer.collect_str(n),
            Item::U64(n) => serializer.collect_str(n),
            Item::F32(n) if self.floats_as_text => ProtoFloat(n).serialize(serializer),
            Item::F32(n) => serializer.serialize_f32(*n),
            Item::F64(n) if self.floats_as_text => ProtoFloat(n).serialize(serializer),
            Item::F64(n) => serializer.serialize_f64(*n),
            Item::Bytes(b) => serializer.collect_str(&wkt::base64(b)),
            Item::Enum(n) => {
                let name = match self.element {
                    Element::NullValue if *n == 0 => return serializer.serialize_unit(),
                    Element::Enum(_) if self.options.enums_as_numbers => {
                        return serializer.serialize_i32(*n);
                    }
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
            Item::Message(record) => RecordJson(record, self.options).serialize(serializer),
            Item::Timestamp(time) => time.serialize(serializer),
            Item::Known(known) => known.serialize(serializer),
        }
    }
}

/// A field the reply does not have, written as prost's default of it.
struct Absent<'r, 'a>(&'r Record<'a>, &'r FieldPlan, JsonOptions);

impl Serialize for Absent<'_, '_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let Absent(record, field, options) = *self;
        let plans = record.plans();
        let item = match (field.element, field.shape) {
            (_, Shape::Repeated) => return serializer.collect_seq(std::iter::empty::<()>()),
            (_, Shape::Map { .. }) => {
                return serializer.collect_map(std::iter::empty::<((), ())>());
            }
            // pbjson writes the `Option` prost holds a required message in.
            (Element::Message(_), Shape::Required) => return serializer.serialize_unit(),
            (Element::Message(id), _) => match plans.message(id).wkt {
                Some(kind) => return Known::default_of(kind).serialize(serializer),
                None => {
                    let empty = Record::new(record.reader, id);
                    return RecordJson(&empty, options).serialize(serializer);
                }
            },
            (Element::Scalar(_) | Element::Enum(_) | Element::NullValue, _) => default(field.wire),
        };
        ItemJson {
            plans,
            element: field.element,
            item: &item,
            floats_as_text: plans.message(record.id()).proto3_fixes,
            proto3_fixes: plans.message(record.id()).proto3_fixes,
            options,
        }
        .serialize(serializer)
    }
}

fn default(wire: Wire) -> Item<'static> {
    match wire {
        Wire::Double => Item::F64(0.0),
        Wire::Float => Item::F32(0.0),
        Wire::Int32 | Wire::Sint32 | Wire::Sfixed32 => Item::I32(0),
        Wire::Int64 | Wire::Sint64 | Wire::Sfixed64 => Item::I64(0),
        Wire::Uint32 | Wire::Fixed32 => Item::U32(0),
        Wire::Uint64 | Wire::Fixed64 => Item::U64(0),
        Wire::Bool => Item::Bool(false),
        Wire::String => Item::Str("".into()),
        Wire::Bytes => Item::Bytes((&[][..]).into()),
        Wire::Enum | Wire::Message | Wire::Group => Item::Enum(0),
    }
}

/// One field of a message as the whole response body (`response_body`), as
/// `codegen::table::render_field` writes it: its value even when default, `null` for an unset
/// `optional` scalar, the default message for an unset message.
struct FieldJson<'r, 'a> {
    record: &'r Record<'a>,
    index: usize,
    options: JsonOptions,
}

impl Serialize for FieldJson<'_, '_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let record = self.record;
        let field = &record.plans().message(record.id()).fields[self.index];
        match record.get(self.index) {
            Some(slot) => RecordJson(record, self.options)
                .slot(field, slot)
                .serialize(serializer),
            None if field.shape == Shape::Explicit
                && matches!(field.element, Element::Scalar(_)) =>
            {
                serializer.serialize_none()
            }
            None => Absent(record, field, self.options).serialize(serializer),
        }
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
