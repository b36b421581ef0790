//! The per-binding request builder and response renderer, generic over the generated types.

use bytes::Bytes;
use prost::Message;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{FieldSet, json};
use crate::error::GatewayError;
use crate::schema::{MethodCodec, RequestBody, RequestParts, RouteSpec};

/// The generated codec of one binding: how the body binds, how the response renders.
pub struct UnaryCodec<Req, Resp> {
    pub bind_body: fn(&mut Req, &[u8]) -> Result<(), GatewayError>,
    pub render: fn(&Resp, &mut Vec<u8>) -> serde_json::Result<()>,
}

/// `body` not set: the body is ignored.
pub fn no_body<Req>(_: &mut Req, _: &[u8]) -> Result<(), GatewayError> {
    Ok(())
}

/// `body: "*"`: the whole message.
pub fn whole_body<Req: DeserializeOwned>(
    message: &mut Req,
    body: &[u8],
) -> Result<(), GatewayError> {
    *message = json::from_slice(body, "")?;
    Ok(())
}

/// No `response_body`: the whole response message.
pub fn whole_response<Resp: Serialize>(
    response: &Resp,
    out: &mut Vec<u8>,
) -> serde_json::Result<()> {
    serde_json::to_writer(out, response)
}

impl<Req, Resp> MethodCodec for UnaryCodec<Req, Resp>
where
    Req: Message + Default + FieldSet + Send + Sync + 'static,
    Resp: Message + Default + Send + Sync + 'static,
{
    fn build_request(
        &self,
        route: &RouteSpec,
        parts: RequestParts<'_>,
    ) -> Result<Bytes, GatewayError> {
        let mut message = Req::default();
        bind_request(&mut message, route, parts, self.bind_body)?;
        Ok(message.encode_to_vec().into())
    }

    fn build_from_fields(&self, fields: &[(&[String], &[String])]) -> Result<Bytes, GatewayError> {
        let mut message = Req::default();
        bind_fields(&mut message, fields)?;
        Ok(message.encode_to_vec().into())
    }

    fn render_response(&self, message: &[u8], out: &mut Vec<u8>) -> Result<(), GatewayError> {
        let response = Resp::decode(message).map_err(undecodable)?;
        (self.render)(&response, out).map_err(unrenderable)
    }
}

/// A reply that is not a valid encoding of the response message.
pub(super) fn undecodable(error: prost::DecodeError) -> GatewayError {
    GatewayError::bad_response(format_args!("the reply does not decode: {error}"))
}

/// A reply with no proto3 JSON form: for example an out-of-range Timestamp, or an enum number
/// a closed enum does not know.
pub(super) fn unrenderable(error: serde_json::Error) -> GatewayError {
    GatewayError::bad_response(format_args!(
        "the reply cannot be rendered as JSON: {error}"
    ))
}

/// Body first, then query parameters, then path variables (so the path always wins); a JSON
/// body of only whitespace counts as none. Both codecs build requests with this.
pub(super) fn bind_request<M: FieldSet>(
    message: &mut M,
    route: &RouteSpec,
    parts: RequestParts<'_>,
    bind_body: impl FnOnce(&mut M, &[u8]) -> Result<(), GatewayError>,
) -> Result<(), GatewayError> {
    match parts.body {
        RequestBody::Json(body)
            if route.body.is_some() && !body.iter().all(u8::is_ascii_whitespace) =>
        {
            bind_body(message, body)?;
        }
        RequestBody::Json(_) => {}
        RequestBody::Fields(fields) => {
            for (path, value) in fields {
                message
                    .set_field(path, value)
                    .map_err(|e| super::field_error(&path.join("."), e))?;
            }
        }
    }
    if let Some(query) = parts.query {
        bind_query(message, route, query, parts.ignore_unknown_query)?;
    }
    for binding in parts.bindings {
        message
            .set_field(binding.field_path, &binding.value)
            .map_err(|e| super::field_error(&binding.field_path.join("."), e))?;
    }
    Ok(())
}

/// `(field path, values)` pairs, each value set as a query parameter's would be.
pub(super) fn bind_fields<M: FieldSet>(
    message: &mut M,
    fields: &[(&[String], &[String])],
) -> Result<(), GatewayError> {
    for (path, values) in fields {
        for value in *values {
            message
                .set_field(path, value)
                .map_err(|e| super::field_error(&path.join("."), e))?;
        }
    }
    Ok(())
}

/// Every query parameter names a field by its dotted path; repeated fields repeat the name.
fn bind_query<M: FieldSet>(
    message: &mut M,
    route: &RouteSpec,
    query: &str,
    ignore_unknown: bool,
) -> Result<(), GatewayError> {
    for (name, value) in super::query::pairs(query)? {
        if name.is_empty() {
            continue;
        }
        let path: Vec<&str> = name.split('.').collect();
        let bound_by_body = route.body_binds(path[0]);
        if bound_by_body {
            if ignore_unknown {
                continue;
            }
            return Err(GatewayError::InvalidField {
                field: name.into_owned(),
                reason: "this field is carried by the request body, not the query string".into(),
            });
        }
        match message.set_field(&path, &value) {
            Err(super::FieldError::Unknown) if ignore_unknown => {}
            Err(e) => return Err(super::field_error(&name, e)),
            Ok(()) => {}
        }
    }
    Ok(())
}
