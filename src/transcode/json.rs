//! JSON request bodies: one pass with the generated pbjson `Deserialize` (or the dynamic codec's
//! descriptor-driven reader); only when that fails is the body read again with path tracking,
//! so the error can name the field.

use std::marker::PhantomData;

use serde::Deserializer;
use serde::de::DeserializeOwned;

use super::FieldSet;
use crate::error::GatewayError;

/// Reads one JSON document into a value: a generated type ([`Typed`]) or the dynamic codec's
/// reader. It is cloned because a body that fails is read again: to retry without refused
/// `null`s, and to find the path of the error.
pub trait JsonReader: Clone {
    type Output;
    fn read<'de, D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Output, D::Error>;
}

/// The generated serde `Deserialize` of `T`.
pub struct Typed<T>(PhantomData<fn() -> T>);

impl<T> Typed<T> {
    pub fn new() -> Self {
        Typed(PhantomData)
    }
}

impl<T> Default for Typed<T> {
    fn default() -> Self {
        Typed::new()
    }
}

impl<T> Clone for Typed<T> {
    fn clone(&self) -> Self {
        Typed::new()
    }
}

impl<T: DeserializeOwned> JsonReader for Typed<T> {
    type Output = T;
    fn read<'de, D: Deserializer<'de>>(self, deserializer: D) -> Result<T, D::Error> {
        T::deserialize(deserializer)
    }
}

/// Deserializes `body` as `T`. `at` is the JSON name of the field the body binds (empty for
/// the whole message), used to prefix field paths in errors.
pub fn from_slice<T: DeserializeOwned>(body: &[u8], at: &str) -> Result<T, GatewayError> {
    from_slice_with(Typed::<T>::new(), body, at)
}

/// [`from_slice`] with any reader: the same fast path, `null` rule and error shapes.
pub fn from_slice_with<R: JsonReader>(
    reader: R,
    body: &[u8],
    at: &str,
) -> Result<R::Output, GatewayError> {
    // What `serde_json::from_slice` does, with a reader instead of a `Deserialize` type.
    let mut de = serde_json::Deserializer::from_slice(body);
    let first = reader.clone().read(&mut de).and_then(|message| {
        de.end()?;
        Ok(message)
    });
    match first {
        Ok(message) => Ok(message),
        Err(first) if first.is_data() => without_refused_nulls(reader.clone(), body)
            .ok_or_else(|| explain(reader, body, at, first)),
        Err(first) => Err(explain(reader, body, at, first)),
    }
}

/// Most `null`s a body may carry in fields whose generated deserializer refuses them.
const MAX_NULL_FIELDS: usize = 64;

/// In proto3 JSON `null` means the field's default. pbjson accepts it for messages, oneofs
/// and wrappers but not for scalars, enums, lists and maps; this removes exactly the `null`
/// members that are refused (a `null` inside a `google.protobuf.Struct` is accepted and stays)
/// and tries again. Only bodies that failed on the fast path come here.
fn without_refused_nulls<R: JsonReader>(reader: R, body: &[u8]) -> Option<R::Output> {
    let mut tree: serde_json::Value = serde_json::from_slice(body).ok()?;
    for _ in 0..MAX_NULL_FIELDS {
        let error = match read_tracked(reader.clone(), &tree) {
            Ok(message) => return Some(message),
            Err(error) => error,
        };
        // Only a refusal at a `null` member is ours to fix (pbjson words it in several ways).
        remove_null_member(&mut tree, error.path())?;
    }
    None
}

/// `serde_path_to_error::deserialize`, for a reader.
fn read_tracked<'de, R: JsonReader, D: Deserializer<'de>>(
    reader: R,
    deserializer: D,
) -> Result<R::Output, serde_path_to_error::Error<D::Error>> {
    let mut track = serde_path_to_error::Track::new();
    reader
        .read(serde_path_to_error::Deserializer::new(
            deserializer,
            &mut track,
        ))
        .map_err(|e| serde_path_to_error::Error::new(track.path(), e))
}

/// Removes the `null` object member at `path`; `None` when the path ends elsewhere.
fn remove_null_member(
    tree: &mut serde_json::Value,
    path: &serde_path_to_error::Path,
) -> Option<()> {
    use serde_path_to_error::Segment;
    let segments: Vec<&Segment> = path.iter().collect();
    let (last, parents) = segments.split_last()?;
    let mut node = tree;
    for segment in parents {
        node = match segment {
            Segment::Map { key } => node.get_mut(key.as_str())?,
            Segment::Seq { index } => node.get_mut(*index)?,
            _ => return None,
        };
    }
    match last {
        Segment::Map { key } => {
            let object = node.as_object_mut()?;
            if !object.get(key.as_str())?.is_null() {
                return None;
            }
            object.remove(key.as_str()).map(|_| ())
        }
        _ => None,
    }
}

fn explain<R: JsonReader>(
    reader: R,
    body: &[u8],
    at: &str,
    first: serde_json::Error,
) -> GatewayError {
    if first.is_syntax() || first.is_eof() || first.is_io() {
        return GatewayError::InvalidJson(first.to_string());
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let Err(tracked) = read_tracked(reader, &mut de) else {
        return GatewayError::InvalidJson(first.to_string());
    };
    let inner = tracked.inner().to_string();
    let field = join(at, &tracked.path().to_string());
    if unknown_field_name(&inner).is_some() {
        // The tracked path already ends with the unknown key.
        return GatewayError::UnknownField { field };
    }
    let reason = strip_position(&inner).to_string();
    if field.is_empty() {
        // The body as a whole has the wrong shape (`null`, an array, a number).
        return GatewayError::InvalidJson(reason);
    }
    GatewayError::InvalidField { field, reason }
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
            .map_err(|e| super::field_error(field, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::gatehouse::echo::v1::Kitchen;

    #[test]
    fn refused_nulls_mean_defaults() {
        let body = br#"{"stringField": null, "int64Field": null, "labels": null, "repeatedString": null, "int32Field": 3}"#;
        let kitchen: Kitchen = from_slice(body, "").unwrap();
        assert_eq!(kitchen.int32_field, 3);
        assert!(kitchen.string_field.is_empty());
    }
}
