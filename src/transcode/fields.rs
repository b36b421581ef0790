//! Typed field setters: the trait build.rs implements for every message.

use std::borrow::Cow;

use crate::error::GatewayError;

/// Sets one field of a message, named by a path of proto or JSON field names, from the text
/// form of its value (a path variable or a query parameter). Repeated fields append.
pub trait FieldSet {
    /// Fails when the path names no field, stops at a message or goes past a scalar, when the
    /// field cannot be set from text (maps, repeated messages, Struct), or the value does not
    /// parse as the field's type.
    fn set_field<S: AsRef<str>>(&mut self, path: &[S], value: &str) -> Result<(), FieldError>;
}

/// Why a field could not be set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldError {
    /// No field has this name.
    Unknown,
    /// The path ends at a message; a field of it must be named.
    NotALeaf,
    /// The path continues past a field that is not a message.
    NotAMessage,
    /// The field's type cannot be set from a single text value.
    Unsupported(&'static str),
    /// Another member of this oneof is already set (a literal in the generated setters, the
    /// descriptor's name in the dynamic codec).
    OneofConflict(Cow<'static, str>),
    /// The value does not parse as the field's type.
    Invalid(String),
}

/// The error for a path variable, query parameter or body field that could not be set.
pub fn field_error(field: &str, error: FieldError) -> GatewayError {
    let field = field.to_string();
    match error {
        FieldError::Unknown => GatewayError::UnknownField { field },
        FieldError::NotALeaf => GatewayError::InvalidField {
            field,
            reason: "names a message; name one of its fields".into(),
        },
        FieldError::NotAMessage => GatewayError::UnknownField { field },
        FieldError::Unsupported(what) => GatewayError::InvalidField {
            field,
            reason: format!("{what} cannot be set from a path or query value"),
        },
        FieldError::OneofConflict(oneof) => GatewayError::InvalidField {
            field,
            reason: format!("another field of oneof {oneof:?} is already set"),
        },
        FieldError::Invalid(reason) => GatewayError::InvalidField { field, reason },
    }
}
