//! How a binding's successful answer is dressed: the status it declares (`[[routes]] status`:
//! 201, 202, 204...), the status a backend asks for one answer (`x-http-code` metadata), and a
//! `Location` header built from the response's fields (`[[routes]] location`).

use http::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderValue, LOCATION};
use http::{HeaderMap, StatusCode};
use prost_reflect::{DynamicMessage, FieldDescriptor, Kind, MessageDescriptor, Value};
use tonic::metadata::MetadataMap;

use crate::config::{LocationPart, parse_location};
use crate::grpc::metadata::backend_status;
use crate::http_rule::percent;

/// The success status and `Location` of one binding, planned once.
#[derive(Debug)]
pub struct AnswerPlan {
    status: StatusCode,
    location: Option<Location>,
}

#[derive(Debug)]
struct Location {
    output: MessageDescriptor,
    parts: Vec<Part>,
}

#[derive(Debug)]
enum Part {
    Literal(String),
    /// The descriptors along the field path; all but the last are singular messages.
    Field(Vec<FieldDescriptor>),
}

impl Default for AnswerPlan {
    fn default() -> Self {
        AnswerPlan {
            status: StatusCode::OK,
            location: None,
        }
    }
}

impl AnswerPlan {
    /// The plan of a binding answering `output` messages. Err says why `status` or `location`
    /// cannot be: a status that is not 200–204, a template naming no field of `output`, or one
    /// that is repeated, a map or a message.
    pub fn new(
        status: Option<u16>,
        location: Option<&str>,
        output: &MessageDescriptor,
    ) -> Result<AnswerPlan, String> {
        let status = match status {
            None => StatusCode::OK,
            Some(code @ 200..=204) => StatusCode::from_u16(code).map_err(|e| e.to_string())?,
            Some(code) => return Err(format!("{code} is not a success status")),
        };
        let location = match location {
            None => None,
            Some(text) => {
                let parts = parse_location(text)?
                    .into_iter()
                    .map(|part| match part {
                        LocationPart::Literal(text) => Ok(Part::Literal(text)),
                        LocationPart::Field(path) => field_path(output, &path).map(Part::Field),
                    })
                    .collect::<Result<_, String>>()?;
                Some(Location {
                    output: output.clone(),
                    parts,
                })
            }
        };
        Ok(AnswerPlan { status, location })
    }

    /// Whether answers are sent as they come: 200, no `Location`.
    pub fn is_plain(&self) -> bool {
        self.status == StatusCode::OK && self.location.is_none()
    }

    /// The status of an answer whose reply carried `metadata`: the backend's `x-http-code`
    /// when it is a 2xx or 3xx, else the declared one.
    pub fn status(&self, metadata: &MetadataMap) -> StatusCode {
        backend_status(metadata).unwrap_or(self.status)
    }

    /// Sets the status of an answer to the reply `message` with `metadata`, and its `Location`.
    /// A status that allows no content (204, 304) drops the body's headers; the caller sends no
    /// body then.
    pub fn dress(
        &self,
        headers: &mut HeaderMap,
        metadata: &MetadataMap,
        message: &[u8],
    ) -> StatusCode {
        let status = self.status(metadata);
        if let Some(location) = &self.location
            && let Some(value) = location.render(message)
        {
            headers.insert(LOCATION, value);
        }
        if !allows_body(status) {
            headers.remove(CONTENT_TYPE);
            headers.remove(CONTENT_LENGTH);
        }
        status
    }
}

/// Whether an answer with `status` may carry content (RFC 9110: not 204, 304).
pub fn allows_body(status: StatusCode) -> bool {
    status != StatusCode::NO_CONTENT && status != StatusCode::NOT_MODIFIED
}

impl Location {
    /// The header's value for one reply; none when the reply does not decode or leaves a field
    /// of the template empty (a `Location` pointing at `/api/orders/` would mislead).
    fn render(&self, message: &[u8]) -> Option<HeaderValue> {
        let reply = DynamicMessage::decode(self.output.clone(), message).ok()?;
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(text) => out.push_str(text),
                Part::Field(path) => {
                    let text = field_text(&reply, path)?;
                    if text.is_empty() {
                        tracing::debug!("a Location field is empty: the header is left out");
                        return None;
                    }
                    percent::encode(&mut out, &text, true).ok()?;
                }
            }
        }
        HeaderValue::try_from(out).ok()
    }
}

/// The text of the scalar at `path` in `message` (its default when unset).
fn field_text(message: &DynamicMessage, path: &[FieldDescriptor]) -> Option<String> {
    let (leaf, parents) = path.split_last()?;
    let mut at = std::borrow::Cow::Borrowed(message);
    for parent in parents {
        let next = match at.get_field(parent).into_owned() {
            Value::Message(next) => next,
            _ => return None,
        };
        at = std::borrow::Cow::Owned(next);
    }
    Some(match &*at.get_field(leaf) {
        Value::String(text) => text.clone(),
        Value::Bool(flag) => flag.to_string(),
        Value::I32(n) => n.to_string(),
        Value::I64(n) => n.to_string(),
        Value::U32(n) => n.to_string(),
        Value::U64(n) => n.to_string(),
        Value::EnumNumber(n) => match leaf.kind() {
            Kind::Enum(e) => e
                .get_value(*n)
                .map_or_else(|| n.to_string(), |v| v.name().to_string()),
            _ => n.to_string(),
        },
        _ => return None,
    })
}

/// The descriptors of the field path `path` (proto names) in `message`.
fn field_path(
    message: &MessageDescriptor,
    path: &[String],
) -> Result<Vec<FieldDescriptor>, String> {
    let shown = path.join(".");
    let mut at = message.clone();
    let mut fields = Vec::with_capacity(path.len());
    for (i, name) in path.iter().enumerate() {
        let field = at
            .get_field_by_name(name)
            .ok_or_else(|| format!("{{{shown}}}: {name:?} is not a field of {}", at.full_name()))?;
        if field.is_list() || field.is_map() {
            return Err(format!(
                "{{{shown}}}: {name:?} is repeated; name a single value"
            ));
        }
        let last = i + 1 == path.len();
        match field.kind() {
            Kind::Message(next) if !last => at = next,
            Kind::Message(_) => {
                return Err(format!(
                    "{{{shown}}} is a message; name one of its fields ({shown}.<field>)"
                ));
            }
            Kind::Float | Kind::Double | Kind::Bytes => {
                return Err(format!(
                    "{{{shown}}} is a {:?} field; name a string, integer, bool or enum",
                    field.kind()
                ));
            }
            _ if !last => return Err(format!("{{{shown}}}: {name:?} is not a message")),
            _ => {}
        }
        fields.push(field);
    }
    Ok(fields)
}
