//! JSON request bodies: one pass with the generated pbjson `Deserialize`; only when that fails
//! is the body read again with path tracking, so the error can name the field.

use serde::de::DeserializeOwned;

use super::FieldSet;
use crate::error::GatewayError;

/// Deserializes `body` as `T`. `at` is the JSON name of the field the body binds (empty for
/// the whole message), used to prefix field paths in errors.
pub fn from_slice<T: DeserializeOwned>(body: &[u8], at: &str) -> Result<T, GatewayError> {
    serde_json::from_slice(body).map_err(|first| explain::<T>(body, at, first))
}

fn explain<T: DeserializeOwned>(body: &[u8], at: &str, first: serde_json::Error) -> GatewayError {
    if first.is_syntax() || first.is_eof() || first.is_io() {
        return GatewayError::InvalidJson(first.to_string());
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let Err(tracked) = serde_path_to_error::deserialize::<_, T>(&mut de) else {
        return GatewayError::InvalidJson(first.to_string());
    };
    let inner = tracked.inner().to_string();
    let field = join(at, &tracked.path().to_string());
    if unknown_field_name(&inner).is_some() {
        // The tracked path already ends with the unknown key.
        return GatewayError::UnknownField { field };
    }
    GatewayError::InvalidField {
        field,
        reason: strip_position(&inner).to_string(),
    }
}

fn join(a: &str, b: &str) -> String {
    match (a.is_empty() || a == ".", b.is_empty() || b == ".") {
        (true, _) => b.trim_start_matches('.').to_string(),
        (false, true) => a.to_string(),
        (false, false) => format!("{a}.{b}"),
    }
}

/// serde's "unknown field `x`, expected ..." message → `x`.
fn unknown_field_name(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("unknown field `")?;
    rest.split('`').next()
}

/// serde_json appends " at line L column C"; the field path says more.
fn strip_position(message: &str) -> &str {
    match message.rfind(" at line ") {
        Some(i) => &message[..i],
        None => message,
    }
}

/// Binds a body that carries one scalar or repeated-scalar field (`body: "count"`): the JSON
/// string, number or boolean (or array of them) goes through the field's text setter.
pub fn bind_scalar_body<M: FieldSet>(
    message: &mut M,
    field: &str,
    body: &[u8],
) -> Result<(), GatewayError> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| GatewayError::InvalidJson(e.to_string()))?;
    let items = match value {
        serde_json::Value::Array(items) => items,
        one => vec![one],
    };
    for item in items {
        let text = match item {
            serde_json::Value::String(s) => s,
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::Bool(b) => b.to_string(),
            serde_json::Value::Null => continue,
            _ => {
                return Err(GatewayError::InvalidField {
                    field: field.to_string(),
                    reason: "expected a string, number or boolean".into(),
                });
            }
        };
        message
            .set_field(&[field], &text)
            .map_err(|e| GatewayError::from_field_error(field, e))?;
    }
    Ok(())
}
