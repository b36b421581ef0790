//! Forms as request bodies: `multipart/form-data` (uploads) and
//! `application/x-www-form-urlencoded`.
//!
//! Each part's name (each key) is a field path, dotted, in proto or JSON names, relative to
//! the message the body binds. A part for a `bytes` field gives its raw bytes, one for a
//! `google.api.HttpBody` field its bytes and its own `Content-Type`; any other part is text,
//! set as a query parameter's value would be. In URL-encoded forms every value is text.

use bytes::Bytes;
use futures_util::Stream;
use http::header::CONTENT_TYPE;
use http_body_util::LengthLimitError;
use prost_reflect::Kind;

use super::{BodyPlan, FormTarget, append_raw, is_http_body};
use crate::error::GatewayError;
use crate::grpc::Payload;
use crate::transcode::query;

/// What a form sets.
#[derive(Default)]
pub struct Form {
    /// Text values, by field path from the request message: set by the codec, as query
    /// parameters are.
    pub fields: Vec<(Vec<String>, String)>,
    /// Raw values, written after the built message.
    files: Vec<File>,
}

/// A raw value for a `bytes` or `HttpBody` field.
struct File {
    /// Field numbers from the request message.
    numbers: Vec<u32>,
    /// `Some` (the part's `Content-Type`, possibly empty) for an `HttpBody`.
    content_type: Option<String>,
    /// The part's bytes, in the chunks they were read in.
    data: Vec<Bytes>,
}

/// What a part's name leads to.
enum Leaf {
    Text,
    Bytes,
    HttpBody,
}

/// A part's field: its proto path and field numbers from the request message, and its kind.
struct Resolved {
    path: Vec<String>,
    numbers: Vec<u32>,
    leaf: Leaf,
}

impl FormTarget {
    /// The field `name` names; `UNKNOWN_FIELD` naming it as sent when there is none.
    fn resolve(&self, name: &str) -> Result<Resolved, GatewayError> {
        let unknown = || GatewayError::UnknownField { field: name.into() };
        let mut message = self.message.clone();
        let mut path = self.prefix.clone();
        let mut numbers = self.numbers.clone();
        let mut segments = name.split('.').peekable();
        while let Some(segment) = segments.next() {
            let field = message
                .get_field_by_name(segment)
                .or_else(|| message.get_field_by_json_name(segment))
                .ok_or_else(unknown)?;
            path.push(field.name().to_string());
            numbers.push(field.number());
            if segments.peek().is_none() {
                let leaf = match field.kind() {
                    _ if field.is_map() => Leaf::Text,
                    Kind::Bytes => Leaf::Bytes,
                    _ if is_http_body(&field) => Leaf::HttpBody,
                    _ => Leaf::Text,
                };
                return Ok(Resolved {
                    path,
                    numbers,
                    leaf,
                });
            }
            match field.kind() {
                Kind::Message(nested) if !field.is_list() && !field.is_map() => message = nested,
                _ => return Err(unknown()),
            }
        }
        Err(unknown())
    }
}

impl BodyPlan {
    /// Reads a `multipart/form-data` body from its `chunks` as they arrive (a file is
    /// gathered once, by the parser); `content_type` carries the boundary. A chunk error that
    /// is http-body-util's length limit is the body limit, `limit`.
    pub async fn read_multipart<S, E>(
        &self,
        content_type: &str,
        chunks: S,
        limit: usize,
    ) -> Result<Form, GatewayError>
    where
        S: Stream<Item = Result<Bytes, E>> + Send + 'static,
        E: Into<Box<dyn std::error::Error + Send + Sync>> + 'static,
    {
        let target = self.form_target()?;
        let boundary = multer::parse_boundary(content_type).map_err(|e| invalid_form(e, limit))?;
        let mut multipart = multer::Multipart::new(chunks, boundary);
        let mut form = Form::default();
        while let Some(mut part) = multipart
            .next_field()
            .await
            .map_err(|e| invalid_form(e, limit))?
        {
            let Some(name) = part.name().filter(|n| !n.is_empty()).map(str::to_string) else {
                return Err(GatewayError::InvalidForm("a part has no name".into()));
            };
            let part_type = part
                .headers()
                .get(CONTENT_TYPE)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
            let resolved = target.resolve(&name)?;
            // Kept in the chunks the parser hands out, so a file is never copied whole.
            let mut data = Vec::new();
            while let Some(chunk) = part.chunk().await.map_err(|e| invalid_form(e, limit))? {
                data.push(chunk);
            }
            match resolved.leaf {
                Leaf::Bytes => form.files.push(File {
                    numbers: resolved.numbers,
                    content_type: None,
                    data,
                }),
                Leaf::HttpBody => {
                    self.check_raw_type(part_type.as_deref())?;
                    form.files.push(File {
                        numbers: resolved.numbers,
                        content_type: Some(part_type.unwrap_or_default()),
                        data,
                    });
                }
                Leaf::Text => {
                    let text = String::from_utf8(data.concat()).map_err(|_| {
                        GatewayError::InvalidField {
                            field: name,
                            reason: "the part's value is not UTF-8".into(),
                        }
                    })?;
                    form.fields.push((resolved.path, text));
                }
            }
        }
        Ok(form)
    }

    /// Reads an `application/x-www-form-urlencoded` body: every value is text.
    pub fn read_urlencoded(&self, body: &[u8]) -> Result<Form, GatewayError> {
        let target = self.form_target()?;
        let text = std::str::from_utf8(body)
            .map_err(|_| GatewayError::InvalidForm("the form is not UTF-8".into()))?;
        let mut form = Form::default();
        for (name, value) in query::pairs(text.trim())? {
            if name.is_empty() {
                continue;
            }
            let resolved = target.resolve(&name)?;
            form.fields.push((resolved.path, value.into_owned()));
        }
        Ok(form)
    }

    /// `message` (encoded, built from the form's text, the query and the path) with the
    /// form's raw values written after it, each file a piece of its own.
    pub fn with_files(&self, message: Bytes, form: Form) -> Payload {
        if form.files.is_empty() {
            return message.into();
        }
        let mut pieces = vec![message];
        for file in form.files {
            append_raw(
                &mut pieces,
                &file.numbers,
                file.content_type.as_deref(),
                file.data,
            );
        }
        pieces.into()
    }

    fn form_target(&self) -> Result<&FormTarget, GatewayError> {
        self.form
            .as_ref()
            .ok_or_else(|| GatewayError::Internal("a form on a binding that takes none".into()))
    }
}

/// A multipart body that does not parse, or could not be read.
fn invalid_form(error: multer::Error, limit: usize) -> GatewayError {
    match error {
        multer::Error::StreamReadFailed(cause) if cause.is::<LengthLimitError>() => {
            GatewayError::BodyTooLarge { limit }
        }
        multer::Error::StreamReadFailed(_) => {
            GatewayError::InvalidForm("the request body could not be read".into())
        }
        error => GatewayError::InvalidForm(error.to_string()),
    }
}
