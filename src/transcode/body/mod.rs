//! Bodies beyond JSON, planned once per binding from its messages' descriptors (so they work
//! the same for compiled-in services and those described at run time):
//!
//! - raw bodies: a request that is, or whose `body` field is, a `google.api.HttpBody` takes
//!   the HTTP body and its `Content-Type` as they came; a response that is (or whose
//!   `response_body` field is) one answers with its `content_type` and raw `data`;
//! - forms: `multipart/form-data` and `application/x-www-form-urlencoded` bodies fill the
//!   message the body binds, part by part (`form.rs`);
//! - PATCH masks: the paths a JSON body sets become the request's `FieldMask` when the query
//!   names none (`mask.rs`).
//!
//! The message is built by the binding's codec from everything else; what is raw (an
//! `HttpBody`, a file's bytes, the mask) is then written after it on the wire (`wire.rs`),
//! where protobuf merges it as if it had been set while building.

mod form;
mod mask;
mod wire;

use bytes::Bytes;
use http::HeaderMap;
use http::header::{CONTENT_TYPE, HeaderValue, X_CONTENT_TYPE_OPTIONS};
use prost_reflect::{FieldDescriptor, Kind, MessageDescriptor};

pub use form::Form;
use mask::MaskPlan;
use wire::Raw;

use crate::error::GatewayError;
use crate::grpc::Payload;
use crate::media_type::MediaRange;
use crate::schema::RouteSpec;

/// The full name of the raw body message.
const HTTP_BODY: &str = "google.api.HttpBody";

/// How one binding's bodies map onto its messages beyond proto3 JSON.
pub struct BodyPlan {
    /// The field-number path of the `HttpBody` a raw request body fills (empty: the request
    /// message is one); `None` when the body is JSON (or a form).
    raw_request: Option<Vec<u32>>,
    /// The field-number path of the `HttpBody` the response is rendered from.
    raw_response: Option<Vec<u32>>,
    /// What a form fills: the message the body binds and its path from the request.
    form: Option<FormTarget>,
    mask: Option<MaskPlan>,
    /// `[[routes]] accept`: the types a raw body may have; any when `None`.
    accept: Option<Vec<MediaRange>>,
}

/// The message a form's names are relative to.
struct FormTarget {
    message: MessageDescriptor,
    /// Proto names of the fields from the request message down to it (empty for `body: "*"`).
    prefix: Vec<String>,
    /// Field numbers of the same path.
    numbers: Vec<u32>,
}

impl BodyPlan {
    /// The plan of `spec`, a binding of a method taking `input` and returning `output`;
    /// `accept` is the binding's `[[routes]] accept`, already validated.
    pub fn new(
        spec: &RouteSpec,
        input: &MessageDescriptor,
        output: &MessageDescriptor,
        accept: Option<Vec<MediaRange>>,
    ) -> BodyPlan {
        let body_field = match spec.body.as_deref() {
            None | Some("*") => None,
            Some(name) => input.get_field_by_name(name),
        };
        let raw_request = match (spec.body.as_deref(), &body_field) {
            (Some("*"), _) if input.full_name() == HTTP_BODY => Some(Vec::new()),
            (_, Some(field)) if is_http_body(field) && !field.is_list() => {
                Some(vec![field.number()])
            }
            _ => None,
        };
        let raw_response = match spec.response_body.as_deref() {
            None => (output.full_name() == HTTP_BODY).then(Vec::new),
            Some(name) => output
                .get_field_by_name(name)
                .filter(|f| is_http_body(f) && !f.is_list())
                .map(|f| vec![f.number()]),
        };
        let form = match (spec.body.as_deref(), &body_field) {
            _ if raw_request.is_some() => None,
            (Some("*"), _) => Some(FormTarget {
                message: input.clone(),
                prefix: Vec::new(),
                numbers: Vec::new(),
            }),
            (_, Some(field)) if !field.is_list() && !field.is_map() => match field.kind() {
                Kind::Message(message) => Some(FormTarget {
                    message,
                    prefix: vec![field.name().to_string()],
                    numbers: vec![field.number()],
                }),
                _ => None,
            },
            _ => None,
        };
        let mask = match (&body_field, &form) {
            (Some(_), Some(target)) if spec.http_method.eq_ignore_ascii_case("PATCH") => {
                MaskPlan::new(input, &target.message)
            }
            _ => None,
        };
        BodyPlan {
            raw_request,
            raw_response,
            form,
            mask,
            accept,
        }
    }

    /// Whether the request body is taken raw, whatever its type.
    pub fn raw_request(&self) -> bool {
        self.raw_request.is_some()
    }

    /// Whether the response is an `HttpBody`, answered raw.
    pub fn raw_response(&self) -> bool {
        self.raw_response.is_some()
    }

    /// Whether forms may fill the body.
    pub fn takes_forms(&self) -> bool {
        self.form.is_some()
    }

    /// The message a form fills (the request for `body: "*"`, else the body field's), when
    /// the binding takes forms.
    pub fn form_message(&self) -> Option<&MessageDescriptor> {
        self.form.as_ref().map(|target| &target.message)
    }

    /// The JSON name of the `FieldMask` field this binding fills from its JSON body, if any.
    pub fn mask_field(&self) -> Option<&str> {
        self.mask.as_ref().map(MaskPlan::json_name)
    }

    /// Refuses a raw body whose `Content-Type` (`None` when absent) the binding's `accept`
    /// does not list.
    pub fn check_raw_type(&self, content_type: Option<&str>) -> Result<(), GatewayError> {
        let Some(accept) = &self.accept else {
            return Ok(());
        };
        let sent = content_type.unwrap_or_default();
        if accept.iter().any(|range| range.matches(sent)) {
            return Ok(());
        }
        let listed: Vec<String> = accept.iter().map(ToString::to_string).collect();
        Err(GatewayError::UnsupportedMediaType {
            content_type: sent.to_string(),
            expected: or_list(&listed),
        })
    }

    /// `message` (encoded, built from the path and query) with the raw request body and its
    /// content type written into the `HttpBody`; the body stays a piece of its own.
    pub fn with_raw_body(&self, message: Bytes, content_type: &str, body: Bytes) -> Payload {
        let Some(numbers) = &self.raw_request else {
            return message.into();
        };
        let mut pieces = vec![message];
        append_raw(&mut pieces, numbers, Some(content_type), vec![body]);
        pieces.into()
    }

    /// The `content_type` and `data` of a raw response (the content type
    /// `application/octet-stream` when the backend left it empty).
    pub fn raw_reply(&self, reply: &Bytes) -> Result<(String, Bytes), GatewayError> {
        let numbers = self.raw_response.as_deref().unwrap_or_default();
        let (mut content_type, data) = wire::read_http_body(reply, numbers).map_err(|e| {
            GatewayError::bad_response(format_args!("the reply does not decode: {e}"))
        })?;
        if content_type.is_empty() {
            content_type = "application/octet-stream".into();
        }
        Ok((content_type, data))
    }

    /// The `FieldMask` the JSON `body` implies, written after `message`, when the query does
    /// not set the mask (which must then name fields of the body's message).
    pub fn with_mask(
        &self,
        message: Bytes,
        query: Option<&str>,
        body: &[u8],
    ) -> Result<Bytes, GatewayError> {
        let Some(mask) = &self.mask else {
            return Ok(message);
        };
        mask.apply(message, query, body)
    }
}

/// Adds the pieces that write `data` (the concatenation of its chunks, kept as they are) at the
/// field path `numbers`: into an `HttpBody` with `content_type` when there is one, else as a
/// `bytes` field.
fn append_raw(
    pieces: &mut Vec<Bytes>,
    numbers: &[u32],
    content_type: Option<&str>,
    data: Vec<Bytes>,
) {
    let raw = match content_type {
        Some(content_type) => Raw::HttpBody { content_type },
        None => Raw::Bytes,
    };
    let mut head = Vec::new();
    wire::head_at(numbers, &raw, data.iter().map(Bytes::len).sum(), &mut head);
    pieces.push(head.into());
    pieces.extend(data);
}

/// The headers of a raw body: its type, which browsers must not second-guess (the bytes may
/// be a user's upload, served back under the type it was stored with).
pub fn raw_headers(headers: &mut HeaderMap, content_type: HeaderValue) {
    headers.insert(CONTENT_TYPE, content_type);
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
}

/// Whether `field` holds a `google.api.HttpBody` (or a list of them).
pub fn is_http_body(field: &FieldDescriptor) -> bool {
    matches!(field.kind(), Kind::Message(m) if m.full_name() == HTTP_BODY)
}

/// `a`, `a or b`, `a, b or c`.
fn or_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}
