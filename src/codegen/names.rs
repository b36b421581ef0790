//! Rust names of proto items, following prost-build's conventions.

use heck::{ToSnakeCase, ToUpperCamelCase};
use prost_reflect::{EnumDescriptor, MessageDescriptor};

/// prost's escaping of identifiers that collide with Rust keywords.
fn sanitize(ident: String) -> String {
    const RAW: &[&str] = &[
        "as", "break", "const", "continue", "else", "enum", "false", "fn", "for", "if", "impl",
        "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref", "return", "static",
        "struct", "trait", "true", "type", "unsafe", "use", "where", "while", "dyn", "abstract",
        "become", "box", "do", "final", "macro", "override", "priv", "typeof", "unsized",
        "virtual", "yield", "async", "await", "try", "gen",
    ];
    const SUFFIXED: &[&str] = &["_", "super", "self", "Self", "extern", "crate"];
    if RAW.contains(&ident.as_str()) {
        format!("r#{ident}")
    } else if SUFFIXED.contains(&ident.as_str()) {
        format!("{ident}_")
    } else if ident.starts_with(|c: char| c.is_ascii_digit()) {
        format!("_{ident}")
    } else {
        ident
    }
}

/// A field or module name: `displayName` → `display_name`.
pub fn snake(name: &str) -> String {
    sanitize(name.to_snake_case())
}

/// A type or variant name: `order_status` → `OrderStatus`.
pub fn upper_camel(name: &str) -> String {
    sanitize(name.to_upper_camel_case())
}

/// Where the well-known types live (see `EXTERN_PATHS` in build.rs).
fn well_known(full_name: &str) -> Option<String> {
    let name = full_name.strip_prefix("google.protobuf.")?;
    Some(match name {
        "Timestamp" | "FieldMask" => format!("crate::wkt::{name}"),
        _ => format!("::pbjson_types::{name}"),
    })
}

/// `crate::proto::users::v1` for package `users.v1`, plus parent-message modules.
fn scope(package: &str, parent: Option<MessageDescriptor>) -> String {
    let mut path = String::from("crate::proto");
    for part in package.split('.').filter(|p| !p.is_empty()) {
        path.push_str("::");
        path.push_str(&snake(part));
    }
    let mut parents = Vec::new();
    let mut next = parent;
    while let Some(message) = next {
        parents.push(snake(message.name()));
        next = message.parent_message();
    }
    for module in parents.iter().rev() {
        path.push_str("::");
        path.push_str(module);
    }
    path
}

/// The Rust type path of a message.
pub fn message_path(message: &MessageDescriptor) -> String {
    if let Some(path) = well_known(message.full_name()) {
        return path;
    }
    format!(
        "{}::{}",
        scope(message.package_name(), message.parent_message()),
        upper_camel(message.name())
    )
}

/// The Rust type path of an enum.
pub fn enum_path(enumeration: &EnumDescriptor) -> String {
    if let Some(path) = well_known(enumeration.full_name()) {
        return path;
    }
    format!(
        "{}::{}",
        scope(enumeration.package_name(), enumeration.parent_message()),
        upper_camel(enumeration.name())
    )
}

/// A message's path relative to its package module, as pbjson writes it: `bad_request::FieldViolation`.
pub fn relative_path(message: &MessageDescriptor) -> String {
    let mut parts = vec![upper_camel(message.name())];
    let mut next = message.parent_message();
    while let Some(parent) = next {
        parts.push(snake(parent.name()));
        next = parent.parent_message();
    }
    parts.reverse();
    parts.join("::")
}

/// The module that holds a message's nested types and oneof enums.
pub fn message_module(message: &MessageDescriptor) -> String {
    format!(
        "{}::{}",
        scope(message.package_name(), message.parent_message()),
        snake(message.name())
    )
}
