//! JSON bodies read straight into dynamic messages, one pass, no `serde_json::Value` tree.
//!
//! Each reader does what the pbjson-generated `Deserialize` of the same message does, call for
//! call: the same serde entry points (`deserialize_struct`, `_option`, `_seq`, `_map`, `_any`),
//! the same value types for scalars (`pbjson::private::NumberDeserialize`,
//! `BytesDeserialize`, `String`, `bool`), the same well-known types, the same `expecting`
//! texts and duplicate-field checks. So a body is accepted, refused (and refused with the same
//! words at the same path) exactly as by the compiled codec, and `json::from_slice_with`
//! applies the same `null` rule to both.

use std::collections::HashMap;
use std::fmt;

use pbjson::private::{BytesDeserialize, NumberDeserialize};
use prost_reflect::{DynamicMessage, MapKey, Value};
use serde::Deserialize;
use serde::de::{
    self, DeserializeSeed, Deserializer, Error as _, MapAccess, SeqAccess, Unexpected, Visitor,
};

use super::plan::{Element, FieldPlan, MessageId, MessagePlan, Plans, Scalar, Shape};
use super::wkt;
use crate::transcode::json::JsonReader;

/// Reads one message (a whole body, or the message a body field binds).
#[derive(Clone, Copy)]
pub struct MessageReader<'p> {
    pub plans: &'p Plans,
    pub id: MessageId,
}

impl JsonReader for MessageReader<'_> {
    type Output = DynamicMessage;
    fn read<'de, D: Deserializer<'de>>(self, deserializer: D) -> Result<DynamicMessage, D::Error> {
        self.deserialize(deserializer)
    }
}

impl<'de> DeserializeSeed<'de> for MessageReader<'_> {
    type Value = DynamicMessage;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        let plan = self.plans.message(self.id);
        match plan.wkt {
            Some(kind) => wkt::read(kind, &plan.descriptor, deserializer),
            // serde_json ignores the name and field list pbjson passes.
            None => deserializer.deserialize_struct(
                "",
                &[],
                MessageVisitor {
                    plans: self.plans,
                    plan,
                },
            ),
        }
    }
}

/// Reads a list of messages (a body bound to a repeated message field).
#[derive(Clone, Copy)]
pub struct ListReader<'p> {
    pub plans: &'p Plans,
    pub element: Element,
}

impl JsonReader for ListReader<'_> {
    type Output = Vec<Value>;
    fn read<'de, D: Deserializer<'de>>(self, deserializer: D) -> Result<Vec<Value>, D::Error> {
        deserializer.deserialize_seq(ListVisitor(ElementSeed {
            plans: self.plans,
            element: self.element,
        }))
    }
}

struct MessageVisitor<'p> {
    plans: &'p Plans,
    plan: &'p MessagePlan,
}

impl<'de> Visitor<'de> for MessageVisitor<'_> {
    type Value = DynamicMessage;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.plan.expecting)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<DynamicMessage, A::Error> {
        let plan = self.plan;
        let mut message = DynamicMessage::new(plan.descriptor.clone());
        let mut seen = Seen::new(plan.slots);
        while let Some(index) = map.next_key_seed(FieldName(plan))? {
            let field = &plan.fields[index];
            if seen.get(field.slot) {
                // A oneof counts as one field, as in pbjson.
                return Err(A::Error::custom(format_args!(
                    "duplicate field `{}`",
                    field.json_name
                )));
            }
            let value = map.next_value_seed(FieldSeed {
                plans: self.plans,
                field,
            })?;
            // A `null` for a field with presence leaves it unset, and free to be given again.
            if let Some(value) = value {
                seen.set(field.slot);
                message
                    .try_set_field(&field.descriptor, value)
                    .map_err(A::Error::custom)?;
            }
        }
        for field in plan.fields.iter().filter(|f| f.shape == Shape::Required) {
            if !seen.get(field.slot) {
                return Err(A::Error::custom(format_args!(
                    "missing field `{}`",
                    field.json_name
                )));
            }
        }
        Ok(message)
    }
}

/// Which slots (fields, or oneofs) a message's JSON object has given.
enum Seen {
    Few(u64),
    Many(Vec<bool>),
}

impl Seen {
    fn new(slots: usize) -> Seen {
        if slots <= 64 {
            Seen::Few(0)
        } else {
            Seen::Many(vec![false; slots])
        }
    }

    fn get(&self, slot: usize) -> bool {
        match self {
            Seen::Few(bits) => bits & (1 << slot) != 0,
            Seen::Many(seen) => seen[slot],
        }
    }

    fn set(&mut self, slot: usize) {
        match self {
            Seen::Few(bits) => *bits |= 1 << slot,
            Seen::Many(seen) => seen[slot] = true,
        }
    }
}

/// A member name (proto or JSON name) → the field's index.
struct FieldName<'p>(&'p MessagePlan);

impl<'de> DeserializeSeed<'de> for FieldName<'_> {
    type Value = usize;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<usize, D::Error> {
        deserializer.deserialize_identifier(self)
    }
}

impl Visitor<'_> for FieldName<'_> {
    type Value = usize;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a field name")
    }

    fn visit_str<E: de::Error>(self, name: &str) -> Result<usize, E> {
        // The list of expected names only goes to the error's wording, which the gateway
        // does not show for an unknown field (`json::explain` names the field instead).
        self.0
            .by_name
            .get(name)
            .copied()
            .ok_or_else(|| E::unknown_field(name, &[]))
    }
}

/// The value of one member: `None` for a `null` the field takes as unset.
struct FieldSeed<'p> {
    plans: &'p Plans,
    field: &'p FieldPlan,
}

impl<'de> DeserializeSeed<'de> for FieldSeed<'_> {
    type Value = Option<Value>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        let element = ElementSeed {
            plans: self.plans,
            element: self.field.element,
        };
        match self.field.shape {
            // `Some(map_.next_value::<T>()?)`: a `null` is refused.
            Shape::Implicit | Shape::Required => element.deserialize(deserializer).map(Some),
            // `map_.next_value::<Option<T>>()?`.
            Shape::Explicit | Shape::Oneof => {
                deserializer.deserialize_option(OptionVisitor(element))
            }
            Shape::Repeated => deserializer
                .deserialize_seq(ListVisitor(element))
                .map(|items| Some(Value::List(items))),
            Shape::Map { key } => deserializer
                .deserialize_map(MapVisitor { key, element })
                .map(|entries| Some(Value::Map(entries))),
        }
    }
}

/// One element: a scalar, an enum or a message.
#[derive(Clone, Copy)]
struct ElementSeed<'p> {
    plans: &'p Plans,
    element: Element,
}

impl<'de> DeserializeSeed<'de> for ElementSeed<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        Ok(match self.element {
            Element::Scalar(scalar) => match scalar {
                Scalar::Double => {
                    Value::F64(NumberDeserialize::<f64>::deserialize(deserializer)?.0)
                }
                Scalar::Float => Value::F32(NumberDeserialize::<f32>::deserialize(deserializer)?.0),
                Scalar::Int32 => Value::I32(NumberDeserialize::<i32>::deserialize(deserializer)?.0),
                Scalar::Int64 => Value::I64(NumberDeserialize::<i64>::deserialize(deserializer)?.0),
                Scalar::Uint32 => {
                    Value::U32(NumberDeserialize::<u32>::deserialize(deserializer)?.0)
                }
                Scalar::Uint64 => {
                    Value::U64(NumberDeserialize::<u64>::deserialize(deserializer)?.0)
                }
                Scalar::Bool => Value::Bool(bool::deserialize(deserializer)?),
                Scalar::String => Value::String(String::deserialize(deserializer)?),
                Scalar::Bytes => {
                    let bytes = BytesDeserialize::<Vec<u8>>::deserialize(deserializer)?.0;
                    Value::Bytes(bytes.into())
                }
            },
            Element::Enum(id) => Value::EnumNumber(
                deserializer.deserialize_any(EnumVisitor(self.plans.enumeration(id)))?,
            ),
            Element::NullValue => {
                pbjson_types::NullValue::deserialize(deserializer)?;
                Value::EnumNumber(0)
            }
            Element::Message(id) => Value::Message(
                MessageReader {
                    plans: self.plans,
                    id,
                }
                .deserialize(deserializer)?,
            ),
        })
    }
}

/// `Option<T>`: `null` is `None`.
struct OptionVisitor<'p>(ElementSeed<'p>);

impl<'de> Visitor<'de> for OptionVisitor<'_> {
    type Value = Option<Value>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("option")
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        self.0.deserialize(deserializer).map(Some)
    }
}

/// `Vec<T>`.
struct ListVisitor<'p>(ElementSeed<'p>);

impl<'de> Visitor<'de> for ListVisitor<'_> {
    type Value = Vec<Value>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a sequence")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Value>, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(item) = seq.next_element_seed(self.0)? {
            items.push(item);
        }
        Ok(items)
    }
}

/// `HashMap<K, V>`: a later duplicate key wins.
struct MapVisitor<'p> {
    key: Scalar,
    element: ElementSeed<'p>,
}

impl<'de> Visitor<'de> for MapVisitor<'_> {
    type Value = HashMap<MapKey, Value>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a map")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut entries = HashMap::with_capacity(map.size_hint().unwrap_or(0).min(1024));
        while let Some(key) = map.next_key_seed(KeySeed(self.key))? {
            let value = map.next_value_seed(self.element)?;
            entries.insert(key, value);
        }
        Ok(entries)
    }
}

/// A map key, read as pbjson reads it: strings and booleans as themselves, integers through
/// `NumberDeserialize`.
struct KeySeed(Scalar);

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = MapKey;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<MapKey, D::Error> {
        Ok(match self.0 {
            Scalar::Bool => MapKey::Bool(bool::deserialize(deserializer)?),
            Scalar::Int32 => MapKey::I32(NumberDeserialize::<i32>::deserialize(deserializer)?.0),
            Scalar::Int64 => MapKey::I64(NumberDeserialize::<i64>::deserialize(deserializer)?.0),
            Scalar::Uint32 => MapKey::U32(NumberDeserialize::<u32>::deserialize(deserializer)?.0),
            Scalar::Uint64 => MapKey::U64(NumberDeserialize::<u64>::deserialize(deserializer)?.0),
            // Protobuf allows no other key types.
            _ => MapKey::String(String::deserialize(deserializer)?),
        })
    }
}

/// pbjson's enum visitor: a known name or a known number.
struct EnumVisitor<'p>(&'p super::plan::EnumPlan);

impl Visitor<'_> for EnumVisitor<'_> {
    type Value = i32;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0.expecting)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<i32, E> {
        i32::try_from(v)
            .ok()
            .filter(|&n| self.0.name(n).is_some())
            .ok_or_else(|| E::invalid_value(Unexpected::Signed(v), &self))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<i32, E> {
        i32::try_from(v)
            .ok()
            .filter(|&n| self.0.name(n).is_some())
            .ok_or_else(|| E::invalid_value(Unexpected::Unsigned(v), &self))
    }

    fn visit_str<E: de::Error>(self, name: &str) -> Result<i32, E> {
        self.0
            .number(name)
            .ok_or_else(|| E::custom(format_args!("unknown variant `{name}`, {}", self.0.unknown)))
    }
}
