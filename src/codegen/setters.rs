//! `FieldSet` impls: for every message, a `match` from field name (proto name or json_name) to
//! a typed assignment, so path variables and query parameters are set without reflection.

use std::fmt::Write;

use prost_reflect::{DescriptorPool, FieldDescriptor, Kind, MessageDescriptor};

use super::names;
use crate::rules::TextForm;

const PARSE: &str = "crate::transcode::parse";

/// How a field's element type is set from one text value.
pub enum Element {
    /// A Rust expression that turns `value: &str` into the element (ends in `?`).
    Text(String),
    /// A message with fields of its own: set through a nested path.
    Message,
    /// Cannot be set from text; the reason names the type.
    Unsupported(&'static str),
}

/// The element of a field (the item type for repeated fields).
pub fn element(field: &FieldDescriptor) -> Element {
    match crate::rules::text_form(field) {
        TextForm::Unsupported(reason) => return Element::Unsupported(reason),
        TextForm::Message => return Element::Message,
        TextForm::Scalar => {}
    }
    let scalar = |f: &str| Element::Text(format!("{PARSE}::{f}(value)?"));
    let wrapper = |name: &str, parse: &str| {
        Element::Text(format!(
            "::pbjson_types::{name} {{ value: {PARSE}::{parse}(value)?.into() }}"
        ))
    };
    match field.kind() {
        Kind::Double => scalar("f64"),
        Kind::Float => scalar("f32"),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => scalar("i32"),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => scalar("i64"),
        Kind::Uint32 | Kind::Fixed32 => scalar("u32"),
        Kind::Uint64 | Kind::Fixed64 => scalar("u64"),
        Kind::Bool => scalar("bool"),
        Kind::String => scalar("string"),
        Kind::Bytes => scalar("bytes"),
        Kind::Enum(e) => Element::Text(format!(
            "{PARSE}::enumeration(value, {}::from_str_name)?",
            names::enum_path(&e)
        )),
        // The well-known types `text_form` calls scalars.
        Kind::Message(m) => match m.name() {
            "Timestamp" => scalar("timestamp"),
            "Duration" => scalar("duration"),
            "FieldMask" => scalar("field_mask"),
            "DoubleValue" => wrapper("DoubleValue", "f64"),
            "FloatValue" => wrapper("FloatValue", "f32"),
            "Int64Value" => wrapper("Int64Value", "i64"),
            "UInt64Value" => wrapper("UInt64Value", "u64"),
            "Int32Value" => wrapper("Int32Value", "i32"),
            "UInt32Value" => wrapper("UInt32Value", "u32"),
            "BoolValue" => wrapper("BoolValue", "bool"),
            "StringValue" => wrapper("StringValue", "string"),
            "BytesValue" => wrapper("BytesValue", "bytes"),
            _ => Element::Unsupported("this well-known type"),
        },
    }
}

/// The Rust type of a message field (prost may box it; `.into()` covers both).
fn nested_type(field: &FieldDescriptor) -> String {
    match field.kind() {
        Kind::Message(m) => names::message_path(&m),
        _ => "()".to_string(),
    }
}

/// Whether a singular field of this kind is stored as `Option<T>` by prost.
fn is_optional(field: &FieldDescriptor) -> bool {
    matches!(field.kind(), Kind::Message(_))
        || (field.supports_presence()
            && field.cardinality() != prost_reflect::Cardinality::Required)
}

pub fn write_field_sets(out: &mut String, pool: &DescriptorPool, packages: &[String]) {
    for message in pool.all_messages() {
        if message.is_map_entry() || !packages.iter().any(|p| p == message.package_name()) {
            continue;
        }
        write_field_set(out, &message);
    }
}

fn write_field_set(out: &mut String, message: &MessageDescriptor) {
    let _ = writeln!(
        out,
        "impl crate::transcode::FieldSet for {} {{\n    \
         #[allow(unused_variables, unused_imports, clippy::match_single_binding)]\n    \
         fn set_field<S: AsRef<str>>(&mut self, path: &[S], value: &str) -> Result<(), crate::transcode::FieldError> {{\n        \
         use crate::transcode::{{FieldError, FieldSet}};\n        \
         let Some((head, rest)) = path.split_first() else {{ return Err(FieldError::NotALeaf) }};\n        \
         match head.as_ref() {{",
        names::message_path(message)
    );
    for field in message.fields() {
        let mut labels = vec![format!("{:?}", field.name())];
        if field.json_name() != field.name() {
            labels.push(format!("{:?}", field.json_name()));
        }
        let _ = writeln!(
            out,
            "            {} => {{ {} }}",
            labels.join(" | "),
            setter(message, &field)
        );
    }
    out.push_str("            _ => Err(FieldError::Unknown),\n        }\n    }\n}\n\n");
}

/// The body of one match arm: checks the remaining path and assigns.
fn setter(message: &MessageDescriptor, field: &FieldDescriptor) -> String {
    const LEAF: &str = "if !rest.is_empty() { return Err(FieldError::NotAMessage) }";
    const BRANCH: &str = "if rest.is_empty() { return Err(FieldError::NotALeaf) }";
    let ident = names::snake(field.name());
    if field.is_map() {
        return "Err(FieldError::Unsupported(\"a map field\"))".to_string();
    }
    let element = element(field);
    if let Element::Unsupported(reason) = element {
        return format!("Err(FieldError::Unsupported({reason:?}))");
    }
    if field.is_list() {
        return match element {
            Element::Text(expr) => format!("{LEAF} self.{ident}.push({expr}); Ok(())"),
            _ => "Err(FieldError::Unsupported(\"a repeated message field\"))".to_string(),
        };
    }
    if let Some(oneof) = field.containing_oneof().filter(|o| !o.is_synthetic()) {
        let slot = names::snake(oneof.name());
        let variant = format!(
            "{}::{}::{}",
            names::message_module(message),
            names::upper_camel(oneof.name()),
            names::upper_camel(field.name())
        );
        let conflict = format!(
            "Err(FieldError::OneofConflict(::std::borrow::Cow::Borrowed({:?})))",
            oneof.name()
        );
        return match element {
            Element::Text(expr) => format!(
                "{LEAF} let v = {expr}; match &self.{slot} {{ \
                 None | Some({variant}(_)) => {{ self.{slot} = Some({variant}(v)); Ok(()) }} \
                 Some(_) => {conflict} }}"
            ),
            _ => format!(
                "{BRANCH} match &mut self.{slot} {{ \
                 Some({variant}(m)) => m.set_field(rest, value), \
                 None => {{ let mut m = {ty}::default(); m.set_field(rest, value)?; self.{slot} = Some({variant}(m.into())); Ok(()) }} \
                 Some(_) => {conflict} }}",
                ty = nested_type(field)
            ),
        };
    }
    match element {
        Element::Text(expr) if is_optional(field) => {
            format!("{LEAF} self.{ident} = Some({expr}); Ok(())")
        }
        Element::Text(expr) => format!("{LEAF} self.{ident} = {expr}; Ok(())"),
        // The message is only created once a field of it is set, so a rejected or ignored
        // parameter leaves it unset.
        _ => format!(
            "{BRANCH} match &mut self.{ident} {{ Some(m) => m.set_field(rest, value), \
             None => {{ let mut m = {ty}::default(); m.set_field(rest, value)?; self.{ident} = Some(m.into()); Ok(()) }} }}",
            ty = nested_type(field)
        ),
    }
}
