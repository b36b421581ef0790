//! The well-known types with a JSON form of their own, read and written through the very types
//! the compiled codec uses (`crate::wkt` and pbjson-types), so both codecs accept, refuse and
//! write them alike. Struct, Value and ListValue are written here, their object keys sorted.

use base64::display::Base64Display;
use base64::engine::GeneralPurpose;
use base64::engine::general_purpose::STANDARD;
use prost_reflect::{DynamicMessage, MapKey, MessageDescriptor, Value};
use serde::de::Error as _;
use serde::ser::{Error as _, SerializeMap, SerializeSeq};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::plan::{Scalar, Wkt};
use crate::transcode::{FieldError, parse};

/// The message `value` holds, as a dynamic message of `descriptor`.
fn to_dynamic<T: prost::Message>(
    descriptor: &MessageDescriptor,
    value: &T,
) -> Result<DynamicMessage, prost::DecodeError> {
    let mut message = DynamicMessage::new(descriptor.clone());
    message.transcode_from(value)?;
    Ok(message)
}

/// Reads the JSON form of a well-known type, as its generated `Deserialize` does.
pub fn read<'de, D: Deserializer<'de>>(
    wkt: Wkt,
    descriptor: &MessageDescriptor,
    deserializer: D,
) -> Result<DynamicMessage, D::Error> {
    fn via<'de, T, D>(
        descriptor: &MessageDescriptor,
        deserializer: D,
    ) -> Result<DynamicMessage, D::Error>
    where
        T: prost::Message + Deserialize<'de>,
        D: Deserializer<'de>,
    {
        let value = T::deserialize(deserializer)?;
        to_dynamic(descriptor, &value).map_err(D::Error::custom)
    }
    use pbjson_types as pb;
    match wkt {
        Wkt::Timestamp => via::<crate::wkt::Timestamp, D>(descriptor, deserializer),
        Wkt::Duration => via::<pb::Duration, D>(descriptor, deserializer),
        Wkt::FieldMask => via::<crate::wkt::FieldMask, D>(descriptor, deserializer),
        Wkt::Struct => via::<pb::Struct, D>(descriptor, deserializer),
        Wkt::Value => via::<pb::Value, D>(descriptor, deserializer),
        Wkt::ListValue => via::<pb::ListValue, D>(descriptor, deserializer),
        Wkt::Wrapper(Scalar::Double) => via::<pb::DoubleValue, D>(descriptor, deserializer),
        Wkt::Wrapper(Scalar::Float) => via::<pb::FloatValue, D>(descriptor, deserializer),
        Wkt::Wrapper(Scalar::Int64) => via::<pb::Int64Value, D>(descriptor, deserializer),
        Wkt::Wrapper(Scalar::Uint64) => via::<pb::UInt64Value, D>(descriptor, deserializer),
        Wkt::Wrapper(Scalar::Int32) => via::<pb::Int32Value, D>(descriptor, deserializer),
        Wkt::Wrapper(Scalar::Uint32) => via::<pb::UInt32Value, D>(descriptor, deserializer),
        Wkt::Wrapper(Scalar::Bool) => via::<pb::BoolValue, D>(descriptor, deserializer),
        Wkt::Wrapper(Scalar::String) => via::<pb::StringValue, D>(descriptor, deserializer),
        Wkt::Wrapper(Scalar::Bytes) => via::<pb::BytesValue, D>(descriptor, deserializer),
    }
}

/// Parses the text form of a Timestamp, Duration, FieldMask or wrapper (a path or query value),
/// with the parsers the generated setters call.
pub fn from_text(
    wkt: Wkt,
    descriptor: &MessageDescriptor,
    text: &str,
) -> Result<DynamicMessage, FieldError> {
    let message = match wkt {
        Wkt::Timestamp => to_dynamic(descriptor, &parse::timestamp(text)?),
        Wkt::Duration => to_dynamic(descriptor, &parse::duration(text)?),
        Wkt::FieldMask => to_dynamic(descriptor, &parse::field_mask(text)?),
        Wkt::Wrapper(scalar) => {
            let mut message = DynamicMessage::new(descriptor.clone());
            message
                .try_set_field_by_number(1, super::text::scalar(scalar, text)?)
                .map_err(|e| FieldError::Invalid(e.to_string()))?;
            return Ok(message);
        }
        Wkt::Struct | Wkt::Value | Wkt::ListValue => {
            return Err(FieldError::Unsupported("this well-known type"));
        }
    };
    message.map_err(|e| FieldError::Invalid(e.to_string()))
}

fn get(message: &DynamicMessage, number: u32) -> Option<std::borrow::Cow<'_, Value>> {
    message.get_field_by_number(number)
}

fn int64(message: &DynamicMessage, number: u32) -> i64 {
    get(message, number).and_then(|v| v.as_i64()).unwrap_or(0)
}

fn int32(message: &DynamicMessage, number: u32) -> i32 {
    get(message, number).and_then(|v| v.as_i32()).unwrap_or(0)
}

/// Writes the JSON form of a well-known type, as its `Serialize` does.
pub fn write<S: Serializer>(
    wkt: Wkt,
    message: &DynamicMessage,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match wkt {
        Wkt::Timestamp => crate::wkt::Timestamp {
            seconds: int64(message, 1),
            nanos: int32(message, 2),
        }
        .serialize(serializer),
        Wkt::Duration => pbjson_types::Duration {
            seconds: int64(message, 1),
            nanos: int32(message, 2),
        }
        .serialize(serializer),
        Wkt::FieldMask => {
            let paths = get(message, 1)
                .and_then(|v| {
                    v.as_list().map(|l| {
                        l.iter()
                            .filter_map(|p| p.as_str().map(String::from))
                            .collect()
                    })
                })
                .unwrap_or_default();
            crate::wkt::FieldMask { paths }.serialize(serializer)
        }
        Wkt::Struct => write_struct(message, serializer),
        Wkt::Value => write_value(message, serializer),
        Wkt::ListValue => write_list(message, serializer),
        Wkt::Wrapper(scalar) => {
            let value = get(message, 1);
            let value = value.as_deref();
            match scalar {
                Scalar::Double => value
                    .and_then(Value::as_f64)
                    .unwrap_or(0.0)
                    .serialize(serializer),
                Scalar::Float => value
                    .and_then(Value::as_f32)
                    .unwrap_or(0.0)
                    .serialize(serializer),
                Scalar::Int64 => {
                    serializer.collect_str(&value.and_then(Value::as_i64).unwrap_or(0))
                }
                Scalar::Uint64 => {
                    serializer.collect_str(&value.and_then(Value::as_u64).unwrap_or(0))
                }
                Scalar::Int32 => {
                    serializer.serialize_i32(value.and_then(Value::as_i32).unwrap_or(0))
                }
                Scalar::Uint32 => {
                    serializer.serialize_u32(value.and_then(Value::as_u32).unwrap_or(0))
                }
                Scalar::Bool => {
                    serializer.serialize_bool(value.and_then(Value::as_bool).unwrap_or(false))
                }
                Scalar::String => {
                    serializer.serialize_str(value.and_then(Value::as_str).unwrap_or(""))
                }
                Scalar::Bytes => {
                    let bytes = value
                        .and_then(Value::as_bytes)
                        .map(|b| &b[..])
                        .unwrap_or(&[]);
                    serializer.collect_str(&base64(bytes))
                }
            }
        }
    }
}

/// `google.protobuf.Struct`: an object (pbjson-types writes its keys in hash order; sorted
/// here, one of the orders it may write).
fn write_struct<S: Serializer>(message: &DynamicMessage, serializer: S) -> Result<S::Ok, S::Error> {
    let fields = get(message, 1);
    let mut entries: Vec<(&str, &DynamicMessage)> = fields
        .as_deref()
        .and_then(Value::as_map)
        .map(|map| {
            map.iter()
                .filter_map(|(k, v)| match (k, v) {
                    (MapKey::String(k), Value::Message(v)) => Some((k.as_str(), v)),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    entries.sort_unstable_by_key(|(k, _)| *k);
    let mut map = serializer.serialize_map(Some(entries.len()))?;
    for (key, value) in entries {
        map.serialize_entry(key, &ValueJson(value))?;
    }
    map.end()
}

/// `google.protobuf.ListValue`: an array.
fn write_list<S: Serializer>(message: &DynamicMessage, serializer: S) -> Result<S::Ok, S::Error> {
    let values = get(message, 1);
    let items = values.as_deref().and_then(Value::as_list).unwrap_or(&[]);
    let mut seq = serializer.serialize_seq(Some(items.len()))?;
    for item in items {
        if let Value::Message(item) = item {
            seq.serialize_element(&ValueJson(item))?;
        }
    }
    seq.end()
}

/// `google.protobuf.Value`: whichever member of `kind` is set, `null` when none is.
fn write_value<S: Serializer>(message: &DynamicMessage, serializer: S) -> Result<S::Ok, S::Error> {
    let Some(number) = (1..=6).find(|&n| message.has_field_by_number(n)) else {
        return serializer.serialize_none();
    };
    let Some(value) = get(message, number) else {
        return serializer.serialize_none();
    };
    match (number, &*value) {
        (1, _) => serializer.serialize_unit(),
        (2, Value::F64(n)) if n.is_nan() => Err(S::Error::custom(
            "Cannot serialize NaN as google.protobuf.Value.number_value",
        )),
        (2, Value::F64(n)) if n.is_infinite() => Err(S::Error::custom(
            "Cannot serialize infinity as google.protobuf.Value.number_value",
        )),
        (2, Value::F64(n)) => serializer.serialize_f64(*n),
        (3, Value::String(s)) => serializer.serialize_str(s),
        (4, Value::Bool(b)) => serializer.serialize_bool(*b),
        (5, Value::Message(s)) => write_struct(s, serializer),
        (6, Value::Message(l)) => write_list(l, serializer),
        _ => serializer.serialize_none(),
    }
}

struct ValueJson<'a>(&'a DynamicMessage);

impl Serialize for ValueJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        write_value(self.0, serializer)
    }
}

/// Bytes as pbjson writes them (`base64::encode`): the standard alphabet, padded.
pub fn base64(bytes: &[u8]) -> Base64Display<'_, 'static, GeneralPurpose> {
    Base64Display::new(bytes, &STANDARD)
}
