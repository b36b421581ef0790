//! Well-known types whose proto3 JSON form pbjson-types gets wrong, with their own serde:
//!
//! - `Timestamp`: RFC 3339 in UTC with a `Z` and 0, 3, 6 or 9 fraction digits (pbjson-types
//!   writes `+00:00`). Input accepts any RFC 3339 offset. Years 0001–9999 only.
//! - `FieldMask`: one string of comma-separated lowerCamelCase paths (pbjson-types writes an
//!   object with a `paths` list).

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A point in time: seconds and nanoseconds since the Unix epoch, in UTC.
#[derive(Clone, Copy, PartialEq, Eq, Hash, ::prost::Message)]
pub struct Timestamp {
    /// Seconds since 1970-01-01T00:00:00Z.
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    /// Nanoseconds within the second, 0 to 999,999,999.
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

/// 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z.
const MIN_SECONDS: i64 = -62_135_596_800;
const MAX_SECONDS: i64 = 253_402_300_799;

impl Timestamp {
    fn to_datetime(self) -> Option<DateTime<Utc>> {
        if !(MIN_SECONDS..=MAX_SECONDS).contains(&self.seconds) {
            return None;
        }
        DateTime::from_timestamp(self.seconds, u32::try_from(self.nanos).ok()?)
    }
}

impl From<DateTime<Utc>> for Timestamp {
    fn from(value: DateTime<Utc>) -> Self {
        Timestamp {
            seconds: value.timestamp(),
            nanos: value.timestamp_subsec_nanos() as i32,
        }
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let time = self
            .to_datetime()
            .ok_or_else(|| serde::ser::Error::custom("timestamp out of range"))?;
        serializer.serialize_str(&time.to_rfc3339_opts(SecondsFormat::AutoSi, true))
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        let time = DateTime::parse_from_rfc3339(&text).map_err(serde::de::Error::custom)?;
        let stamp = Timestamp::from(time.with_timezone(&Utc));
        if !(MIN_SECONDS..=MAX_SECONDS).contains(&stamp.seconds) {
            return Err(serde::de::Error::custom("timestamp out of range"));
        }
        Ok(stamp)
    }
}

/// An enum value as proto3 JSON writes it: the name when the number has one, else the number.
/// The generated serializers use it (see `codegen::open_enums` in build.rs).
pub struct OpenEnum<E> {
    number: i32,
    known: std::marker::PhantomData<E>,
}

impl<E> OpenEnum<E> {
    pub fn new(number: i32) -> Self {
        OpenEnum {
            number,
            known: std::marker::PhantomData,
        }
    }
}

impl<E: TryFrom<i32> + Serialize> Serialize for OpenEnum<E> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match E::try_from(self.number) {
            Ok(known) => known.serialize(serializer),
            Err(_) => serializer.serialize_i32(self.number),
        }
    }
}

/// A float, double or list of them as proto3 JSON writes it: non-finite values as the strings
/// "NaN", "Infinity" and "-Infinity". The generated serializers use it (`codegen::proto_floats`).
pub struct ProtoFloat<'a, T: ?Sized>(pub &'a T);

fn serialize_float<S: Serializer>(
    value: f64,
    single: bool,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    if value.is_nan() {
        serializer.serialize_str("NaN")
    } else if value.is_infinite() {
        serializer.serialize_str(if value > 0.0 { "Infinity" } else { "-Infinity" })
    } else if single {
        serializer.serialize_f32(value as f32)
    } else {
        serializer.serialize_f64(value)
    }
}

impl Serialize for ProtoFloat<'_, f64> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serialize_float(*self.0, false, serializer)
    }
}

impl Serialize for ProtoFloat<'_, f32> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serialize_float(f64::from(*self.0), true, serializer)
    }
}

impl<T> Serialize for ProtoFloat<'_, Vec<T>>
where
    for<'b> ProtoFloat<'b, T>: Serialize,
{
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(ProtoFloat))
    }
}

/// A set of field paths, stored in proto (snake_case) form.
#[derive(Clone, PartialEq, Eq, Hash, ::prost::Message)]
pub struct FieldMask {
    /// Paths such as `display_name` or `address.city`.
    #[prost(string, repeated, tag = "1")]
    pub paths: Vec<String>,
}

impl FieldMask {
    /// Parses the JSON form: `"displayName,address.city"` → `display_name`, `address.city`;
    /// a path of `*` (every field, AIP-134's full replacement) is kept as it is.
    pub fn from_json_text(text: &str) -> Option<FieldMask> {
        let mut paths = Vec::new();
        for path in text.split(',').filter(|p| !p.is_empty()) {
            if path == "*" {
                paths.push(path.to_string());
                continue;
            }
            if !path.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.') {
                return None;
            }
            let mut snake = String::with_capacity(path.len() + 4);
            for c in path.chars() {
                if c.is_ascii_uppercase() {
                    snake.push('_');
                    snake.push(c.to_ascii_lowercase());
                } else {
                    snake.push(c);
                }
            }
            paths.push(snake);
        }
        Some(FieldMask { paths })
    }

    /// The JSON form; `None` for a path that has no lowerCamelCase spelling (`a__b`, `a_1`).
    pub fn to_json_text(&self) -> Option<String> {
        let mut out = String::new();
        for (i, path) in self.paths.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let mut upper = false;
            for c in path.chars() {
                match c {
                    '_' if upper => return None,
                    '_' => upper = true,
                    c if upper && !c.is_ascii_lowercase() => return None,
                    c if upper => {
                        out.push(c.to_ascii_uppercase());
                        upper = false;
                    }
                    c if c.is_ascii_uppercase() => return None,
                    c => out.push(c),
                }
            }
            if upper {
                return None;
            }
        }
        Some(out)
    }
}

impl Serialize for FieldMask {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let text = self
            .to_json_text()
            .ok_or_else(|| serde::ser::Error::custom("field mask path has no JSON form"))?;
        serializer.serialize_str(&text)
    }
}

impl<'de> Deserialize<'de> for FieldMask {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        FieldMask::from_json_text(&text).ok_or_else(|| {
            serde::de::Error::custom("expected comma-separated lowerCamelCase paths")
        })
    }
}

/// The proto3 JSON of `value` decoded as `T`, with the `@type` member first; used for the
/// details of error statuses. `None` when the bytes do not decode.
pub fn any_to_json<T>(value: &[u8]) -> Option<serde_json::Value>
where
    T: prost::Message + Default + serde::Serialize,
{
    let message = T::decode(value).ok()?;
    serde_json::to_value(&message).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_finite_floats_are_strings() {
        let doubles = vec![1.5, f64::NAN, f64::INFINITY, f64::NEG_INFINITY];
        assert_eq!(
            serde_json::to_string(&ProtoFloat(&doubles)).unwrap(),
            r#"[1.5,"NaN","Infinity","-Infinity"]"#
        );
        assert_eq!(
            serde_json::to_string(&ProtoFloat(&0.25f32)).unwrap(),
            "0.25"
        );
    }

    #[test]
    fn field_masks_round_trip_through_their_json_form() {
        let mask = FieldMask::from_json_text("displayName,address.zipCode").unwrap();
        assert_eq!(mask.paths, vec!["display_name", "address.zip_code"]);
        assert_eq!(
            serde_json::to_string(&mask).unwrap(),
            "\"displayName,address.zipCode\""
        );
        assert_eq!(
            FieldMask::from_json_text("").unwrap().paths,
            Vec::<String>::new()
        );
        assert!(FieldMask::from_json_text("a-b").is_none());
        let odd = FieldMask {
            paths: vec!["a__b".into()],
        };
        assert!(serde_json::to_string(&odd).is_err());
    }

    fn json(seconds: i64, nanos: i32) -> String {
        serde_json::to_string(&Timestamp { seconds, nanos }).unwrap()
    }

    #[test]
    fn output_is_z_normalized_with_3_6_or_9_digits() {
        assert_eq!(json(0, 0), "\"1970-01-01T00:00:00Z\"");
        assert_eq!(json(1, 500_000_000), "\"1970-01-01T00:00:01.500Z\"");
        assert_eq!(json(1, 1_000), "\"1970-01-01T00:00:01.000001Z\"");
        assert_eq!(json(1, 1), "\"1970-01-01T00:00:01.000000001Z\"");
        assert!(
            serde_json::to_string(&Timestamp {
                seconds: MAX_SECONDS + 1,
                nanos: 0
            })
            .is_err()
        );
        assert!(
            serde_json::to_string(&Timestamp {
                seconds: 0,
                nanos: -1
            })
            .is_err()
        );
    }

    #[test]
    fn input_accepts_offsets() {
        let t: Timestamp = serde_json::from_str("\"1970-01-01T01:00:00+01:00\"").unwrap();
        assert_eq!(
            t,
            Timestamp {
                seconds: 0,
                nanos: 0
            }
        );
        assert!(serde_json::from_str::<Timestamp>("\"10000-01-01T00:00:00Z\"").is_err());
        assert!(serde_json::from_str::<Timestamp>("\"yesterday\"").is_err());
    }
}
