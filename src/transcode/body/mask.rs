//! PATCH with the field mask taken from the body: when the request's `FieldMask` is not set in
//! the query, it becomes the paths the JSON body sets, read in one pass over the body without
//! building a value tree.
//!
//! A JSON object given for a message field is walked into (`size.width`); anything else is one
//! leaf path: a scalar, `null` (which clears the field), a list, a map, a `google.protobuf`
//! type (`Struct`, `Timestamp`, ...), and an empty object (which replaces the message).

use std::fmt;

use bytes::Bytes;
use prost::Message;
use prost_reflect::{FieldDescriptor, Kind, MessageDescriptor};
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::wire::{self, Raw};
use crate::error::GatewayError;
use crate::transcode::query;
use crate::wkt::FieldMask;

const FIELD_MASK: &str = "google.protobuf.FieldMask";

/// The request's mask field and the message the body fills.
pub(super) struct MaskPlan {
    number: u32,
    /// Its proto and JSON names, as the query may spell them.
    proto_name: String,
    json_name: String,
    body: MessageDescriptor,
}

impl MaskPlan {
    /// The plan for a request `input` whose body fills `body`: its top-level `FieldMask` named
    /// `update_mask`, else its only one; `None` when it has none (or several, none of them
    /// `update_mask`).
    pub(super) fn new(input: &MessageDescriptor, body: &MessageDescriptor) -> Option<MaskPlan> {
        let masks: Vec<FieldDescriptor> = input
            .fields()
            .filter(|f| {
                !f.is_list() && matches!(f.kind(), Kind::Message(m) if m.full_name() == FIELD_MASK)
            })
            .collect();
        let field = match masks.iter().find(|f| f.name() == "update_mask") {
            Some(field) => field,
            None if masks.len() == 1 => &masks[0],
            None => return None,
        };
        Some(MaskPlan {
            number: field.number(),
            proto_name: field.name().to_string(),
            json_name: field.json_name().to_string(),
            body: body.clone(),
        })
    }

    /// The mask field's JSON name.
    pub(super) fn json_name(&self) -> &str {
        &self.json_name
    }

    /// `message` with the mask the body implies, unless the query sets one; a mask in the
    /// query must name fields of the body's message.
    pub(super) fn apply(
        &self,
        message: Bytes,
        query: Option<&str>,
        body: &[u8],
    ) -> Result<Bytes, GatewayError> {
        let mut given = false;
        for (name, value) in query.map(query::pairs).transpose()?.unwrap_or_default() {
            if name != self.proto_name && name != self.json_name {
                continue;
            }
            given = true;
            // A value that does not parse was already refused when the message was built.
            let Some(mask) = FieldMask::from_json_text(&value) else {
                continue;
            };
            for path in &mask.paths {
                self.check(path)
                    .map_err(|reason| GatewayError::InvalidField {
                        field: name.to_string(),
                        reason,
                    })?;
            }
        }
        if given || body.iter().all(u8::is_ascii_whitespace) {
            return Ok(message);
        }
        let mut paths = Vec::new();
        let mut reader = serde_json::Deserializer::from_slice(body);
        Walk {
            message: &self.body,
            prefix: "",
            paths: &mut paths,
        }
        .deserialize(&mut reader)
        .map_err(|e| GatewayError::InvalidJson(e.to_string()))?;
        if paths.is_empty() {
            return Ok(message);
        }
        let mask = FieldMask { paths }.encode_to_vec();
        let mut out = Vec::with_capacity(message.len() + mask.len() + 8);
        out.extend_from_slice(&message);
        wire::encode_at(&[self.number], &Raw::Bytes, &mask, &mut out);
        Ok(out.into())
    }

    /// Whether `path` (proto names, dotted) names a field of the body's message: `*` alone,
    /// or fields through singular message fields.
    fn check(&self, path: &str) -> Result<(), String> {
        if path == "*" {
            return Ok(());
        }
        let mut message = self.body.clone();
        let mut segments = path.split('.').peekable();
        while let Some(segment) = segments.next() {
            let Some(field) = message.get_field_by_name(segment) else {
                return Err(format!(
                    "path {path:?} names no field of {}",
                    message.full_name()
                ));
            };
            if segments.peek().is_none() {
                break;
            }
            match field.kind() {
                Kind::Message(nested)
                    if !field.is_list() && !field.is_map() && !is_well_known(&nested) =>
                {
                    message = nested;
                }
                _ => {
                    return Err(format!(
                        "path {path:?} goes past {}, which has no fields to name",
                        field.full_name()
                    ));
                }
            }
        }
        Ok(())
    }
}

/// A `google.protobuf` type: its JSON is not an object of its fields.
fn is_well_known(message: &MessageDescriptor) -> bool {
    message.package_name() == "google.protobuf"
}

/// The members of one JSON object of `message`: each member's path is added, or walked into.
struct Walk<'a> {
    message: &'a MessageDescriptor,
    /// The path of the object, with a trailing `.`; empty at the top.
    prefix: &'a str,
    paths: &'a mut Vec<String>,
}

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = usize;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<usize, D::Error> {
        deserializer.deserialize_map(self)
    }
}

/// Counts the members that name a field.
impl<'de> Visitor<'de> for Walk<'_> {
    type Value = usize;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a JSON object of {}", self.message.full_name())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<usize, A::Error> {
        let mut known = 0;
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            let field = self
                .message
                .get_field_by_json_name(&key)
                .or_else(|| self.message.get_field_by_name(&key));
            let Some(field) = field else {
                // Unknown members were refused (or let through on purpose) by the codec.
                map.next_value::<IgnoredAny>()?;
                continue;
            };
            known += 1;
            let path = format!("{}{}", self.prefix, field.name());
            match field.kind() {
                Kind::Message(nested)
                    if !field.is_list() && !field.is_map() && !is_well_known(&nested) =>
                {
                    map.next_value_seed(Member {
                        message: &nested,
                        path,
                        paths: self.paths,
                    })?;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                    push(self.paths, path);
                }
            }
        }
        Ok(known)
    }
}

/// The value of a message field: walked into when it is a non-empty object, else one path.
struct Member<'a> {
    message: &'a MessageDescriptor,
    path: String,
    paths: &'a mut Vec<String>,
}

impl Member<'_> {
    fn leaf<E>(self) -> Result<(), E> {
        push(self.paths, self.path);
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for Member<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Member<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a JSON value of {}", self.message.full_name())
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        let prefix = format!("{}.", self.path);
        let known = Walk {
            message: self.message,
            prefix: &prefix,
            paths: self.paths,
        }
        .visit_map(map)?;
        if known == 0 {
            // `{}` (or only unknown members): the message as a whole.
            push(self.paths, self.path);
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        self.leaf()
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        self.leaf()
    }

    fn visit_none<E>(self) -> Result<(), E> {
        self.leaf()
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        self.leaf()
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        self.leaf()
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        self.leaf()
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        self.leaf()
    }

    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        self.leaf()
    }
}

/// Adds `path` once.
fn push(paths: &mut Vec<String>, path: String) {
    if !paths.contains(&path) {
        paths.push(path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> MaskPlan {
        let pool = crate::transcode::compiled::schema().descriptors();
        let input = pool
            .get_message_by_name("gatehouse.media.v1.UpdateItemRequest")
            .unwrap();
        let body = pool.get_message_by_name("gatehouse.media.v1.Item").unwrap();
        MaskPlan::new(&input, &body).unwrap()
    }

    fn paths(body: &str) -> Vec<String> {
        let built = plan().apply(Bytes::new(), None, body.as_bytes()).unwrap();
        crate::proto::gatehouse::media::v1::UpdateItemRequest::decode(built)
            .unwrap()
            .update_mask
            .map(|m| m.paths)
            .unwrap_or_default()
    }

    #[test]
    fn the_body_members_become_paths_in_body_order() {
        let body = r#"{"title": "t", "size": {"width": 2, "height": null}, "labels": {"a": "b"},
            "attributes": {"x": {"y": 1}}, "tags": ["q"], "published": "2024-01-01T00:00:00Z",
            "description": null, "size": {"width": 3}, "unknown": {"a": 1}}"#;
        assert_eq!(
            paths(body),
            [
                "title",
                "size.width",
                "size.height",
                "labels",
                "attributes",
                "tags",
                "published",
                "description"
            ]
        );
        assert_eq!(paths(r#"{"size": {}, "name": "n"}"#), ["size", "name"]);
        assert_eq!(paths(r#"{"size": {"nope": 1}}"#), ["size"]);
        assert!(paths("{}").is_empty());
        assert!(paths("  ").is_empty());
    }

    #[test]
    fn a_mask_in_the_query_wins_and_must_name_fields() {
        let plan = plan();
        let body = br#"{"title": "t"}"#;
        let built = plan
            .apply(
                Bytes::new(),
                Some("updateMask=size.width,description"),
                body,
            )
            .unwrap();
        assert!(built.is_empty(), "the query's mask is the codec's to set");
        assert!(
            plan.apply(Bytes::new(), Some("update_mask=*"), body)
                .is_ok()
        );
        for (query, reason) in [
            (
                "updateMask=nope",
                "path \"nope\" names no field of gatehouse.media.v1.Item",
            ),
            (
                "updateMask=size.depth",
                "path \"size.depth\" names no field of gatehouse.media.v1.Size",
            ),
            (
                "update_mask=title.x",
                "path \"title.x\" goes past gatehouse.media.v1.Item.title, which has no fields to name",
            ),
            (
                "updateMask=labels.a",
                "path \"labels.a\" goes past gatehouse.media.v1.Item.labels, which has no fields to name",
            ),
        ] {
            let error = plan.apply(Bytes::new(), Some(query), body).unwrap_err();
            let field = query.split('=').next().unwrap();
            assert!(
                matches!(&error, GatewayError::InvalidField { field: f, reason: r } if f == field && r == reason),
                "{query}: {error:?}"
            );
        }
    }
}
