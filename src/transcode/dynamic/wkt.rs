//! The well-known types with a JSON form of their own, read and written through the very types
//! the compiled codec uses (`crate::wkt` and pbjson-types), so both codecs accept, refuse and
//! write them alike; only Struct members are written in key order here.

use base64::display::Base64Display;
use base64::engine::GeneralPurpose;
use base64::engine::general_purpose::STANDARD;
use prost_reflect::{DynamicMessage, MessageDescriptor};
use serde::de::Error as _;
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::plan::{Scalar, Wkt};
use super::wire::Known;
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

impl Serialize for Known {
    /// As the type's own `Serialize` does; Struct members sorted by key.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Known::Timestamp(v) => v.serialize(serializer),
            Known::Duration(v) => v.serialize(serializer),
            Known::FieldMask(v) => v.serialize(serializer),
            Known::Struct(v) => StructJson(v).serialize(serializer),
            Known::Value(v) => ValueJson(v).serialize(serializer),
            Known::ListValue(v) => ListJson(v).serialize(serializer),
            Known::Double(v) => v.serialize(serializer),
            Known::Float(v) => v.serialize(serializer),
            Known::Int64(v) => v.serialize(serializer),
            Known::Uint64(v) => v.serialize(serializer),
            Known::Int32(v) => v.serialize(serializer),
            Known::Uint32(v) => v.serialize(serializer),
            Known::Bool(v) => v.serialize(serializer),
            Known::String(v) => v.serialize(serializer),
            Known::Bytes(v) => v.serialize(serializer),
        }
    }
}

/// `google.protobuf.Struct`: an object (pbjson-types writes its keys in hash order; sorted
/// here, one of the orders it may write).
struct StructJson<'a>(&'a pbjson_types::Struct);

impl Serialize for StructJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut entries: Vec<_> = self.0.fields.iter().collect();
        entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let mut map = serializer.serialize_map(Some(entries.len()))?;
        for (key, value) in entries {
            map.serialize_entry(key, &ValueJson(value))?;
        }
        map.end()
    }
}

/// `google.protobuf.ListValue`: an array.
struct ListJson<'a>(&'a pbjson_types::ListValue);

impl Serialize for ListJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.values.iter().map(ValueJson))
    }
}

/// `google.protobuf.Value`, as pbjson-types writes it but for Struct members' order.
struct ValueJson<'a>(&'a pbjson_types::Value);

impl Serialize for ValueJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use pbjson_types::value::Kind;
        match &self.0.kind {
            None => serializer.serialize_none(),
            Some(Kind::StructValue(s)) => StructJson(s).serialize(serializer),
            Some(Kind::ListValue(l)) => ListJson(l).serialize(serializer),
            Some(kind) => kind.serialize(serializer),
        }
    }
}

/// Bytes as pbjson writes them (`base64::encode`): the standard alphabet, padded.
pub fn base64(bytes: &[u8]) -> Base64Display<'_, 'static, GeneralPurpose> {
    Base64Display::new(bytes, &STANDARD)
}
