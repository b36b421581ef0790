//! Per-message plans, built once per codec from the descriptors: every message the method's
//! request and response can reach, with its fields in the order pbjson writes them, their JSON
//! names, shapes and element kinds, and how a path or query value sets each one.

use std::collections::HashMap;

use foldhash::fast::RandomState;
use prost_reflect::{Cardinality, EnumDescriptor, FieldDescriptor, Kind, MessageDescriptor};

/// Index of a message in its [`Plans`].
pub type MessageId = usize;
/// Index of an enum in its [`Plans`].
pub type EnumId = usize;

/// Every message and enum one codec reaches.
#[derive(Default)]
pub struct Plans {
    messages: Vec<MessagePlan>,
    enums: Vec<EnumPlan>,
}

pub struct MessagePlan {
    pub descriptor: MessageDescriptor,
    /// What pbjson's visitor expects: `struct pkg.Message`.
    pub expecting: String,
    /// pbjson's order: the fields outside real oneofs in declaration order (proto3 `optional`
    /// ones included), then the members of each oneof, oneof by oneof.
    pub fields: Vec<FieldPlan>,
    /// Proto name and JSON name → index in `fields`.
    pub by_name: HashMap<Box<str>, usize, RandomState>,
    pub oneofs: Vec<OneofPlan>,
    /// Duplicate detection: one slot per field outside oneofs, one per oneof.
    pub slots: usize,
    /// A well-known type with a JSON form of its own.
    pub wkt: Option<Wkt>,
    /// Generated into gatehouse, where build.rs opens enums and writes non-finite floats as
    /// strings; false for `google.protobuf` messages, which pbjson-types serializes as is.
    pub proto3_fixes: bool,
    /// `(field number, index in fields)`, sorted by number.
    pub numbers: Vec<(u32, usize)>,
    /// A proto2 `required` field: written even when absent.
    pub has_required: bool,
}

pub struct OneofPlan {
    pub name: String,
    /// Indexes in [`MessagePlan::fields`].
    pub members: Vec<usize>,
}

pub struct FieldPlan {
    pub descriptor: FieldDescriptor,
    pub json_name: Box<str>,
    pub shape: Shape,
    /// The element: the field's type, the item type of a list, the value type of a map.
    pub element: Element,
    /// How a path variable or query parameter sets it.
    pub text: Text,
    pub slot: usize,
    /// Index in [`MessagePlan::oneofs`] of a real oneof.
    pub oneof: Option<usize>,
    /// The protobuf type of the element, as the wire encodes it.
    pub wire: Wire,
    /// The protobuf type of a map's key.
    pub key_wire: Wire,
}

/// Protobuf types as the wire encodes them (what `Scalar` merges: `sint32` and `int32` are
/// both `Int32` to JSON but not to the decoder).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wire {
    Double,
    Float,
    Int32,
    Int64,
    Uint32,
    Uint64,
    Sint32,
    Sint64,
    Fixed32,
    Fixed64,
    Sfixed32,
    Sfixed64,
    Bool,
    String,
    Bytes,
    Enum,
    Message,
    Group,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// proto3 scalar without presence: omitted when default.
    Implicit,
    /// Messages, proto3 `optional` and proto2 `optional`: written when set.
    Explicit,
    /// proto2 `required`: always written.
    Required,
    /// A member of a real oneof.
    Oneof,
    Repeated,
    Map {
        key: Scalar,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scalar {
    Double,
    Float,
    Int32,
    Int64,
    Uint32,
    Uint64,
    Bool,
    String,
    Bytes,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Element {
    Scalar(Scalar),
    Enum(EnumId),
    /// `google.protobuf.NullValue`: `null` in JSON.
    NullValue,
    Message(MessageId),
}

/// The well-known types whose JSON form is not that of their fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wkt {
    Timestamp,
    Duration,
    FieldMask,
    Struct,
    Value,
    ListValue,
    /// `google.protobuf.Int64Value` and the like: the JSON of their `value`.
    Wrapper(Scalar),
}

/// What `codegen::setters::element` decides for the generated setters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Text {
    Scalar(Scalar),
    Enum(EnumId),
    /// Timestamp, Duration, FieldMask or a wrapper, parsed from its JSON text form.
    WellKnown(MessageId),
    /// A singular message: set through a nested path.
    Message(MessageId),
    Unsupported(&'static str),
}

pub struct EnumPlan {
    /// The first name of each number, in declaration order (pbjson and prost skip aliases).
    pub values: Vec<(Box<str>, i32)>,
    /// pbjson's `expecting`: `expected one of: ["A", "B"]`.
    pub expecting: String,
    /// serde's words after "unknown variant `x`, ".
    pub unknown: String,
}

impl MessagePlan {
    /// The index in `fields` of the field numbered `number`.
    pub fn field_index(&self, number: u32) -> Option<usize> {
        match self.numbers.binary_search_by_key(&number, |&(n, _)| n) {
            Ok(at) => Some(self.numbers[at].1),
            Err(_) => None,
        }
    }
}

impl EnumPlan {
    pub fn number(&self, name: &str) -> Option<i32> {
        self.values.iter().find(|(n, _)| &**n == name).map(|v| v.1)
    }

    pub fn name(&self, number: i32) -> Option<&str> {
        self.values
            .iter()
            .find(|v| v.1 == number)
            .map(|(n, _)| &**n)
    }
}

impl Plans {
    /// The plans of every message reachable from `roots`, and the roots' ids.
    pub fn build(roots: &[&MessageDescriptor]) -> (Plans, Vec<MessageId>) {
        let mut builder = Builder::default();
        let ids = roots.iter().map(|root| builder.message(root)).collect();
        let mut next = 0;
        while next < builder.plans.messages.len() {
            builder.fill(next);
            next += 1;
        }
        (builder.plans, ids)
    }

    pub fn message(&self, id: MessageId) -> &MessagePlan {
        &self.messages[id]
    }

    pub fn enumeration(&self, id: EnumId) -> &EnumPlan {
        &self.enums[id]
    }
}

#[derive(Default)]
struct Builder {
    plans: Plans,
    message_ids: HashMap<String, MessageId>,
    enum_ids: HashMap<String, EnumId>,
}

impl Builder {
    /// The id of `descriptor`, with an empty plan that [`Builder::fill`] completes.
    fn message(&mut self, descriptor: &MessageDescriptor) -> MessageId {
        if let Some(&id) = self.message_ids.get(descriptor.full_name()) {
            return id;
        }
        let id = self.plans.messages.len();
        self.message_ids
            .insert(descriptor.full_name().to_string(), id);
        self.plans.messages.push(MessagePlan {
            descriptor: descriptor.clone(),
            expecting: format!("struct {}", descriptor.full_name()),
            fields: Vec::new(),
            by_name: HashMap::default(),
            oneofs: Vec::new(),
            slots: 0,
            wkt: well_known(descriptor),
            proto3_fixes: descriptor.package_name() != "google.protobuf",
            numbers: Vec::new(),
            has_required: false,
        });
        id
    }

    fn enumeration(&mut self, descriptor: &EnumDescriptor) -> EnumId {
        if let Some(&id) = self.enum_ids.get(descriptor.full_name()) {
            return id;
        }
        let mut values: Vec<(Box<str>, i32)> = Vec::new();
        for value in descriptor.values() {
            if !values.iter().any(|v| v.1 == value.number()) {
                values.push((value.name().into(), value.number()));
            }
        }
        let names: Vec<&str> = values.iter().map(|(n, _)| &**n).collect();
        let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
        let unknown = match quoted.len() {
            0 => "there are no variants".to_string(),
            1 => format!("expected {}", quoted[0]),
            2 => format!("expected {} or {}", quoted[0], quoted[1]),
            _ => format!("expected one of {}", quoted.join(", ")),
        };
        let plan = EnumPlan {
            expecting: format!("expected one of: {names:?}"),
            unknown,
            values,
        };
        let id = self.plans.enums.len();
        self.enum_ids.insert(descriptor.full_name().to_string(), id);
        self.plans.enums.push(plan);
        id
    }

    fn fill(&mut self, id: MessageId) {
        let descriptor = self.plans.messages[id].descriptor.clone();
        let real_oneofs: Vec<_> = descriptor.oneofs().filter(|o| !o.is_synthetic()).collect();
        let mut fields = Vec::new();
        let mut slots = 0;
        for field in descriptor.fields() {
            if field.containing_oneof().is_some_and(|o| !o.is_synthetic()) {
                continue;
            }
            fields.push(self.field(&field, slots, None));
            slots += 1;
        }
        let mut oneofs = Vec::new();
        for (index, oneof) in real_oneofs.iter().enumerate() {
            let mut members = Vec::new();
            for field in oneof.fields() {
                members.push(fields.len());
                fields.push(self.field(&field, slots, Some(index)));
            }
            oneofs.push(OneofPlan {
                name: oneof.name().to_string(),
                members,
            });
            slots += 1;
        }
        let mut by_name: HashMap<Box<str>, usize, RandomState> = HashMap::default();
        for (index, field) in fields.iter().enumerate() {
            by_name
                .entry(field.descriptor.name().into())
                .or_insert(index);
            by_name.entry(field.json_name.clone()).or_insert(index);
        }
        let mut numbers: Vec<(u32, usize)> = fields
            .iter()
            .enumerate()
            .map(|(index, f)| (f.descriptor.number(), index))
            .collect();
        numbers.sort_unstable();
        let plan = &mut self.plans.messages[id];
        plan.has_required = fields.iter().any(|f| f.shape == Shape::Required);
        plan.numbers = numbers;
        plan.fields = fields;
        plan.by_name = by_name;
        plan.oneofs = oneofs;
        plan.slots = slots;
    }

    fn field(&mut self, field: &FieldDescriptor, slot: usize, oneof: Option<usize>) -> FieldPlan {
        let entry = match field.kind() {
            Kind::Message(entry) if field.is_map() => Some(entry),
            _ => None,
        };
        let (shape, element, wire, key_wire) = if let Some(entry) = entry {
            let key = entry.map_entry_key_field();
            let value = entry.map_entry_value_field();
            let key_scalar = scalar(&key.kind()).unwrap_or(Scalar::String);
            let element = self.element(&value.kind());
            (
                Shape::Map { key: key_scalar },
                element,
                wire(&value),
                wire(&key),
            )
        } else {
            let shape = if field.is_list() {
                Shape::Repeated
            } else if oneof.is_some() {
                Shape::Oneof
            } else if field.cardinality() == Cardinality::Required {
                Shape::Required
            } else if field.supports_presence() {
                Shape::Explicit
            } else {
                Shape::Implicit
            };
            (shape, self.element(&field.kind()), wire(field), Wire::Int32)
        };
        FieldPlan {
            descriptor: field.clone(),
            json_name: field.json_name().into(),
            shape,
            element,
            text: self.text(field, shape, element),
            slot,
            oneof,
            wire,
            key_wire,
        }
    }

    fn element(&mut self, kind: &Kind) -> Element {
        match kind {
            Kind::Enum(e) if e.full_name() == "google.protobuf.NullValue" => Element::NullValue,
            Kind::Enum(e) => Element::Enum(self.enumeration(e)),
            Kind::Message(m) => Element::Message(self.message(m)),
            // Every other kind is a scalar.
            other => Element::Scalar(scalar(other).unwrap_or(Scalar::Bytes)),
        }
    }

    /// Mirrors `codegen::setters::{setter, element}`: maps first, then the element, then lists.
    fn text(&self, field: &FieldDescriptor, shape: Shape, element: Element) -> Text {
        if matches!(shape, Shape::Map { .. }) {
            return Text::Unsupported("a map field");
        }
        let text = match element {
            Element::Scalar(s) => Text::Scalar(s),
            Element::Enum(e) => Text::Enum(e),
            Element::NullValue => Text::Unsupported("a google.protobuf.NullValue field"),
            Element::Message(id) => {
                let message = &self.plans.messages[id].descriptor;
                match message.full_name().strip_prefix("google.protobuf.") {
                    None => Text::Message(id),
                    Some(name) => match name {
                        "Timestamp" | "Duration" | "FieldMask" | "DoubleValue" | "FloatValue"
                        | "Int64Value" | "UInt64Value" | "Int32Value" | "UInt32Value"
                        | "BoolValue" | "StringValue" | "BytesValue" => Text::WellKnown(id),
                        "Struct" => Text::Unsupported("a google.protobuf.Struct field"),
                        "Value" => Text::Unsupported("a google.protobuf.Value field"),
                        "ListValue" => Text::Unsupported("a google.protobuf.ListValue field"),
                        "Any" => Text::Unsupported("a google.protobuf.Any field"),
                        _ => Text::Unsupported("this well-known type"),
                    },
                }
            }
        };
        match text {
            Text::Message(_) if field.is_list() => Text::Unsupported("a repeated message field"),
            text => text,
        }
    }
}

fn wire(field: &FieldDescriptor) -> Wire {
    match field.kind() {
        Kind::Double => Wire::Double,
        Kind::Float => Wire::Float,
        Kind::Int32 => Wire::Int32,
        Kind::Int64 => Wire::Int64,
        Kind::Uint32 => Wire::Uint32,
        Kind::Uint64 => Wire::Uint64,
        Kind::Sint32 => Wire::Sint32,
        Kind::Sint64 => Wire::Sint64,
        Kind::Fixed32 => Wire::Fixed32,
        Kind::Fixed64 => Wire::Fixed64,
        Kind::Sfixed32 => Wire::Sfixed32,
        Kind::Sfixed64 => Wire::Sfixed64,
        Kind::Bool => Wire::Bool,
        Kind::String => Wire::String,
        Kind::Bytes => Wire::Bytes,
        Kind::Enum(_) => Wire::Enum,
        Kind::Message(_) if field.is_group() => Wire::Group,
        Kind::Message(_) => Wire::Message,
    }
}

fn scalar(kind: &Kind) -> Option<Scalar> {
    Some(match kind {
        Kind::Double => Scalar::Double,
        Kind::Float => Scalar::Float,
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => Scalar::Int32,
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => Scalar::Int64,
        Kind::Uint32 | Kind::Fixed32 => Scalar::Uint32,
        Kind::Uint64 | Kind::Fixed64 => Scalar::Uint64,
        Kind::Bool => Scalar::Bool,
        Kind::String => Scalar::String,
        Kind::Bytes => Scalar::Bytes,
        Kind::Enum(_) | Kind::Message(_) => return None,
    })
}

/// The well-known types gatehouse (src/wkt.rs) or pbjson-types give a JSON form of their own;
/// the other `google.protobuf` messages (Any, Empty, ...) are written field by field.
fn well_known(message: &MessageDescriptor) -> Option<Wkt> {
    Some(
        match message.full_name().strip_prefix("google.protobuf.")? {
            "Timestamp" => Wkt::Timestamp,
            "Duration" => Wkt::Duration,
            "FieldMask" => Wkt::FieldMask,
            "Struct" => Wkt::Struct,
            "Value" => Wkt::Value,
            "ListValue" => Wkt::ListValue,
            "DoubleValue" => Wkt::Wrapper(Scalar::Double),
            "FloatValue" => Wkt::Wrapper(Scalar::Float),
            "Int64Value" => Wkt::Wrapper(Scalar::Int64),
            "UInt64Value" => Wkt::Wrapper(Scalar::Uint64),
            "Int32Value" => Wkt::Wrapper(Scalar::Int32),
            "UInt32Value" => Wkt::Wrapper(Scalar::Uint32),
            "BoolValue" => Wkt::Wrapper(Scalar::Bool),
            "StringValue" => Wkt::Wrapper(Scalar::String),
            "BytesValue" => Wkt::Wrapper(Scalar::Bytes),
            _ => return None,
        },
    )
}
