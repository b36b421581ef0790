//! Request fields set from the caller's verified credential (`[[routes]] from_identity`): a
//! multi-tenant API pins `tenant_id` to the token's `tenant` claim once, here, instead of in
//! every backend.
//!
//! The rule is applied to the encoded request message, whichever way it was built (REST, an
//! aggregate's call, a native gRPC call): the message is decoded against its descriptor, each
//! pinned field is compared with the credential's value, and the message is encoded again
//! with the credential's value set. A request that sent another value is refused (403) and the
//! backend never sees it; one that sent none (or the field's default) is given the value. What
//! the backend receives is the gateway's encoding, so no trick of the wire format (a field
//! repeated, a message split in two, an unusual varint) can carry a value past the check.

use bytes::Bytes;
use prost::Message;
use prost_reflect::{DynamicMessage, FieldDescriptor, Kind, MessageDescriptor, Value};

use super::Identity;
use crate::config::IdentitySource;
use crate::error::GatewayError;

/// The fields of one method's request that the credential sets.
#[derive(Debug)]
pub struct IdentityFields {
    input: MessageDescriptor,
    fields: Vec<PinnedField>,
}

#[derive(Debug)]
struct PinnedField {
    /// `tenant_id` or `owner.tenant_id`, as configured.
    name: String,
    /// The descriptors along the path; all but the last are singular messages.
    path: Vec<FieldDescriptor>,
    source: IdentitySource,
}

impl IdentityFields {
    /// The pins of `(field path, source)` on requests of type `input`; Err says why one cannot
    /// be: no such field, a repeated field or map on the way, a type a credential's value cannot
    /// fill (only strings, integers and booleans can).
    pub fn new<'a>(
        input: &MessageDescriptor,
        pins: impl IntoIterator<Item = (&'a String, &'a String)>,
    ) -> Result<IdentityFields, String> {
        let mut fields = Vec::new();
        for (name, source) in pins {
            let source = IdentitySource::parse(source)?;
            let mut message = input.clone();
            let mut path = Vec::new();
            let segments: Vec<&str> = name.split('.').collect();
            for (i, segment) in segments.iter().enumerate() {
                let field = message.get_field_by_name(segment).ok_or_else(|| {
                    format!("{segment:?} is not a field of {}", message.full_name())
                })?;
                if field.is_list() || field.is_map() {
                    return Err(format!(
                        "{name:?} is repeated; only a single value can be set from a credential"
                    ));
                }
                let last = i + 1 == segments.len();
                match (field.kind(), last) {
                    (Kind::Message(next), false) => message = next,
                    (_, false) => {
                        return Err(format!("{segment:?} of {name:?} is not a message"));
                    }
                    (
                        Kind::String
                        | Kind::Bool
                        | Kind::Int32
                        | Kind::Sint32
                        | Kind::Sfixed32
                        | Kind::Int64
                        | Kind::Sint64
                        | Kind::Sfixed64
                        | Kind::Uint32
                        | Kind::Fixed32
                        | Kind::Uint64
                        | Kind::Fixed64,
                        true,
                    ) => {}
                    (_, true) => {
                        return Err(format!(
                            "{name:?} must be a string, integer or bool field to hold a \
                             credential's value"
                        ));
                    }
                }
                path.push(field);
            }
            fields.push(PinnedField {
                name: name.clone(),
                path,
                source,
            });
        }
        Ok(IdentityFields {
            input: input.clone(),
            fields,
        })
    }

    /// The request `message` with every pinned field set from `identity`; refused (403) when it
    /// carries another value, or when the credential has no value for a field.
    pub fn apply(
        &self,
        identity: Option<&Identity>,
        message: &[u8],
    ) -> Result<Bytes, GatewayError> {
        let identity = identity.ok_or_else(|| GatewayError::Unauthenticated {
            message: "this route needs a credential".into(),
            invalid_token: false,
        })?;
        let mut request = DynamicMessage::decode(self.input.clone(), message).map_err(|_| {
            GatewayError::InvalidField {
                field: String::new(),
                reason: "the request message does not decode".into(),
            }
        })?;
        for pinned in &self.fields {
            let wanted = pinned.value(identity)?;
            let (leaf, parents) = pinned.path.split_last().expect("a path has a field");
            let mut at = &mut request;
            for parent in parents {
                let Value::Message(next) = at.get_field_mut(parent) else {
                    return Err(GatewayError::Internal(
                        "a pinned path left its messages".into(),
                    ));
                };
                at = next;
            }
            if at.has_field(leaf) && *at.get_field(leaf) != wanted {
                return Err(GatewayError::PermissionDenied(format!(
                    "field {} is set from your credential; a request may not send another value",
                    pinned.name
                )));
            }
            at.set_field(leaf, wanted);
        }
        Ok(request.encode_to_vec().into())
    }
}

impl PinnedField {
    /// The credential's value, as a value of the field's type.
    fn value(&self, identity: &Identity) -> Result<Value, GatewayError> {
        let missing = |what: &str| {
            GatewayError::PermissionDenied(format!(
                "field {} is set from the credential's {what}, and yours has none",
                self.name
            ))
        };
        let text = match &self.source {
            IdentitySource::Subject => identity.subject.clone(),
            IdentitySource::ApiKey => identity.api_key.clone().ok_or_else(|| missing("API key"))?,
            IdentitySource::Claim(claim) => {
                let claims = identity.claims.as_deref();
                match claims.and_then(|c| super::jwt::claim_at(c, claim)) {
                    Some(serde_json::Value::String(text)) => text.clone(),
                    Some(serde_json::Value::Number(number)) => number.to_string(),
                    Some(serde_json::Value::Bool(flag)) => flag.to_string(),
                    _ => return Err(missing(&format!("{claim:?} claim"))),
                }
            }
        };
        let leaf = self.path.last().expect("a path has a field");
        let unfit = || {
            GatewayError::PermissionDenied(format!(
                "field {} is set from your credential, whose value does not fit it",
                self.name
            ))
        };
        Ok(match leaf.kind() {
            Kind::String => Value::String(text),
            Kind::Bool => Value::Bool(text.parse().map_err(|_| unfit())?),
            Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => {
                Value::I32(text.parse().map_err(|_| unfit())?)
            }
            Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => {
                Value::I64(text.parse().map_err(|_| unfit())?)
            }
            Kind::Uint32 | Kind::Fixed32 => Value::U32(text.parse().map_err(|_| unfit())?),
            Kind::Uint64 | Kind::Fixed64 => Value::U64(text.parse().map_err(|_| unfit())?),
            _ => return Err(unfit()),
        })
    }
}
