//! Text forms of field values, as proto3 JSON writes them in strings: what path variables and
//! query parameters carry. Every function fails with `FieldError::Invalid` naming the type.

use base64::Engine;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};

use super::FieldError;

fn invalid(expected: &str, value: &str) -> FieldError {
    let shown: String = value.chars().take(64).collect();
    FieldError::Invalid(format!("expected {expected}, got {shown:?}"))
}

pub fn string(value: &str) -> Result<String, FieldError> {
    Ok(value.to_owned())
}

pub fn bool(value: &str) -> Result<bool, FieldError> {
    match value {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(invalid("true or false", value)),
    }
}

macro_rules! integer {
    ($name:ident, $ty:ty, $what:literal) => {
        pub fn $name(value: &str) -> Result<$ty, FieldError> {
            value.parse().map_err(|_| invalid($what, value))
        }
    };
}
integer!(i32, i32, "a 32-bit integer");
integer!(i64, i64, "a 64-bit integer");
integer!(u32, u32, "an unsigned 32-bit integer");
integer!(u64, u64, "an unsigned 64-bit integer");

pub fn f64(value: &str) -> Result<f64, FieldError> {
    match value {
        "NaN" => Ok(f64::NAN),
        "Infinity" => Ok(f64::INFINITY),
        "-Infinity" => Ok(f64::NEG_INFINITY),
        // Rust also parses "inf" and "nan"; proto3 JSON spells them as above only.
        _ if value
            .bytes()
            .any(|b| b.is_ascii_alphabetic() && b != b'e' && b != b'E') =>
        {
            Err(invalid("a number", value))
        }
        _ => value.parse().map_err(|_| invalid("a number", value)),
    }
}

pub fn f32(value: &str) -> Result<f32, FieldError> {
    let wide = f64(value).map_err(|_| invalid("a number", value))?;
    let narrow = wide as f32;
    if wide.is_finite() && !narrow.is_finite() {
        return Err(invalid("a 32-bit float", value));
    }
    Ok(narrow)
}

/// Standard or URL-safe base64, with or without padding (proto3 JSON accepts both).
pub fn bytes(value: &str) -> Result<Vec<u8>, FieldError> {
    const LENIENT: GeneralPurposeConfig =
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    const STANDARD: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::STANDARD, LENIENT);
    const URL_SAFE: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::URL_SAFE, LENIENT);
    STANDARD
        .decode(value)
        .or_else(|_| URL_SAFE.decode(value))
        .map_err(|_| invalid("base64 bytes", value))
}

/// An enum value by name, or by number (proto3 enums are open).
pub fn enumeration<E: Into<i32>>(
    value: &str,
    from_name: fn(&str) -> Option<E>,
) -> Result<i32, FieldError> {
    enumeration_by(value, |name| from_name(name).map(Into::into))
}

/// [`enumeration`] with the names looked up by `number_of` (the dynamic codec's enums).
pub fn enumeration_by(
    value: &str,
    number_of: impl FnOnce(&str) -> Option<i32>,
) -> Result<i32, FieldError> {
    if let Some(known) = number_of(value) {
        return Ok(known);
    }
    value
        .parse::<i32>()
        .map_err(|_| invalid("an enum value name or number", value))
}

/// A serde `Deserialize` type read from a JSON string (the well-known types' text forms).
fn from_json_string<T: serde::de::DeserializeOwned>(
    value: &str,
    expected: &str,
) -> Result<T, FieldError> {
    let de = serde::de::value::StrDeserializer::<serde::de::value::Error>::new(value);
    T::deserialize(de).map_err(|_| invalid(expected, value))
}

pub fn timestamp(value: &str) -> Result<crate::wkt::Timestamp, FieldError> {
    from_json_string(value, "an RFC 3339 timestamp")
}

pub fn duration(value: &str) -> Result<pbjson_types::Duration, FieldError> {
    from_json_string(value, "a duration such as \"1.5s\"")
}

/// Comma-separated lowerCamelCase paths, as proto3 JSON writes a FieldMask.
pub fn field_mask(value: &str) -> Result<crate::wkt::FieldMask, FieldError> {
    crate::wkt::FieldMask::from_json_text(value)
        .ok_or_else(|| invalid("a field mask such as \"displayName,email\"", value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_follow_proto3_json() {
        assert_eq!(i64("-9223372036854775808"), Ok(i64::MIN));
        assert!(i32("2147483648").is_err());
        assert!(u32("-1").is_err());
        assert!(f64("NaN").unwrap().is_nan());
        assert_eq!(f64("-Infinity"), Ok(f64::NEG_INFINITY));
        assert!(f64("inf").is_err());
        assert_eq!(f64("1e3"), Ok(1000.0));
        assert!(f32("1e40").is_err());
        assert!(bool("1").is_err());
    }

    #[test]
    fn bytes_accept_both_alphabets_and_padding() {
        assert_eq!(bytes("aGk="), Ok(b"hi".to_vec()));
        assert_eq!(bytes("aGk"), Ok(b"hi".to_vec()));
        assert_eq!(bytes("-_8"), Ok(vec![0xfb, 0xff]));
        assert!(bytes("!!").is_err());
    }

    #[test]
    fn well_known_types_parse_from_text() {
        let t = timestamp("1970-01-01T00:00:01.5Z").unwrap();
        assert_eq!((t.seconds, t.nanos), (1, 500_000_000));
        let d = duration("1.5s").unwrap();
        assert_eq!((d.seconds, d.nanos), (1, 500_000_000));
        assert!(duration("1.5").is_err());
        let mask = field_mask("displayName,email").unwrap();
        assert_eq!(mask.paths, vec!["display_name", "email"]);
        assert_eq!(field_mask("*").unwrap().paths, vec!["*"]);
        assert!(field_mask("display_name").is_err());
    }
}
