//! Proto messages and enums as TypeScript types, exactly as the gateway writes and reads their
//! JSON: 64-bit integers and bytes as `string`, enums as unions of their names, well-known
//! types in their JSON forms, maps as `Record`, and each oneof as a union whose members exclude
//! each other.
//!
//! A message is written in flavors: as a request reads it (JSON names, fields marked
//! `(google.api.field_behavior) = REQUIRED` present), and as each set of JSON output options
//! writes it. A flavor gets a name of its own only where it differs: `LineItemInput` when
//! `LineItem` has a required field, `OrderWithDefaults` for `emit_defaults`.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use prost_reflect::{
    EnumDescriptor, FieldDescriptor, Kind, MessageDescriptor, ReflectMessage, Value,
};

use crate::openapi::comments;
use crate::transcode::JsonOptions;

/// The number of `REQUIRED` in `google.api.FieldBehavior`.
const REQUIRED: i32 = 2;

/// Names the runtime and the generated module declare, which no proto type may take.
const TAKEN: &[&str] = &[
    "AggregateCallError",
    "AggregateOptions",
    "AnyMessage",
    "ApiError",
    "Array",
    "BidiCall",
    "Blob",
    "CallOptions",
    "ClientOptions",
    "Date",
    "DistributiveOmit",
    "Error",
    "Gatehouse",
    "Iterable",
    "AsyncIterable",
    "AsyncGenerator",
    "JsonValue",
    "Map",
    "Object",
    "Omit",
    "Partial",
    "PathPart",
    "Pick",
    "Promise",
    "ProtoFloat",
    "Record",
    "Route",
    "Set",
    "Transport",
    "WithRawBody",
    "WithRequired",
];

/// How a message is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Flavor {
    /// As a request reads it.
    Input,
    /// As an answer is written with these options.
    Output(JsonOptions),
}

/// The TypeScript declarations of the proto types the client uses, named once each.
pub struct Types {
    /// TypeScript base name by full proto name, for every message and enum the client names.
    names: HashMap<String, String>,
    /// Whether a message, or one it holds, has a required field.
    required: HashMap<String, bool>,
    /// Declarations by TypeScript name; empty while being written.
    declared: BTreeMap<String, String>,
    /// The messages named but not yet declared.
    queue: Vec<(MessageDescriptor, Flavor)>,
}

impl Types {
    /// Types for `roots` (the messages the client's calls take and give) and everything they
    /// reach. Two protos' types with the same short name are both named with their package
    /// (`OrdersV1Item`, `StockV2Item`); so is one whose name the runtime takes.
    pub fn new(roots: &[MessageDescriptor], reserved: &BTreeSet<String>) -> Types {
        let mut reached = BTreeMap::new();
        for root in roots {
            reach_message(root, &mut reached);
        }
        let mut by_short: HashMap<String, Vec<(String, String)>> = HashMap::new();
        for (full, package) in &reached {
            let short = short_name(full, package);
            by_short
                .entry(short)
                .or_default()
                .push((full.clone(), package.clone()));
        }
        let mut names = HashMap::new();
        for (short, owners) in by_short {
            let clash =
                owners.len() > 1 || TAKEN.contains(&short.as_str()) || reserved.contains(&short);
            for (full, package) in owners {
                let name = if clash {
                    format!("{}{short}", pascal(&package.replace('.', "_")))
                } else {
                    short.clone()
                };
                names.insert(full, name);
            }
        }
        Types {
            names,
            required: HashMap::new(),
            declared: BTreeMap::new(),
            queue: Vec::new(),
        }
    }

    /// Every declaration, in name order, written out.
    pub fn finish(mut self) -> String {
        while let Some((message, flavor)) = self.queue.pop() {
            let (name, text) = self.declare(&message, flavor);
            self.declared.insert(name, text);
        }
        let mut out = String::new();
        for text in self.declared.values() {
            out.push_str(text);
            out.push('\n');
        }
        out
    }

    /// The type of a value of `message` in `flavor`: a name (declared later), or the JSON
    /// form of a well-known type.
    pub fn message(&mut self, message: &MessageDescriptor, flavor: Flavor) -> String {
        if let Some(inline) = well_known(message) {
            return inline.to_string();
        }
        let flavor = self.settle(message, flavor);
        let name = self.flavored_name(message, flavor);
        if !self.declared.contains_key(&name) {
            self.declared.insert(name.clone(), String::new());
            self.queue.push((message.clone(), flavor));
        }
        name
    }

    /// The type of `field`'s value in `flavor` (a list, a map or one value).
    pub fn field(&mut self, field: &FieldDescriptor, flavor: Flavor) -> String {
        if field.is_map() {
            let Kind::Message(entry) = field.kind() else {
                return "Record<string, unknown>".into();
            };
            let value = self.single(&entry.map_entry_value_field().kind(), flavor);
            return format!("Record<string, {value}>");
        }
        let single = self.single(&field.kind(), flavor);
        if field.is_list() {
            if single.contains(' ') {
                format!("({single})[]")
            } else {
                format!("{single}[]")
            }
        } else {
            single
        }
    }

    /// Whether the request flavor of `message` has its own declaration.
    fn settle(&mut self, message: &MessageDescriptor, flavor: Flavor) -> Flavor {
        match flavor {
            Flavor::Input if !self.has_required(message) => Flavor::Output(JsonOptions::default()),
            other => other,
        }
    }

    /// Whether `message`, or a message it holds at any depth, has a required field.
    fn has_required(&mut self, message: &MessageDescriptor) -> bool {
        if let Some(known) = self.required.get(message.full_name()) {
            return *known;
        }
        let mut seen = BTreeSet::new();
        let mut stack = vec![message.clone()];
        let mut found = false;
        while let Some(next) = stack.pop() {
            if !seen.insert(next.full_name().to_string()) {
                continue;
            }
            for field in next.fields() {
                if is_required(&field) {
                    found = true;
                } else if let Kind::Message(inner) = field.kind()
                    && !field.is_map()
                {
                    stack.push(inner);
                }
            }
            if found {
                break;
            }
        }
        self.required.insert(message.full_name().to_string(), found);
        found
    }

    fn base_name(&self, full_name: &str) -> String {
        self.names
            .get(full_name)
            .cloned()
            .unwrap_or_else(|| full_name.replace('.', "_"))
    }

    fn flavored_name(&self, message: &MessageDescriptor, flavor: Flavor) -> String {
        let mut name = self.base_name(message.full_name());
        match flavor {
            Flavor::Input => name.push_str("Input"),
            Flavor::Output(options) => {
                if options.emit_defaults {
                    name.push_str("WithDefaults");
                }
                if options.enums_as_numbers {
                    name.push_str("EnumNumbers");
                }
                if options.proto_names {
                    name.push_str("ProtoNames");
                }
            }
        }
        name
    }

    /// One value of `kind`.
    fn single(&mut self, kind: &Kind, flavor: Flavor) -> String {
        match kind {
            Kind::Double | Kind::Float => "ProtoFloat".into(),
            Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 | Kind::Uint32 | Kind::Fixed32 => {
                "number".into()
            }
            Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 | Kind::Uint64 | Kind::Fixed64 => {
                "string".into()
            }
            Kind::Bool => "boolean".into(),
            Kind::String | Kind::Bytes => "string".into(),
            Kind::Enum(e) => match flavor {
                Flavor::Output(options) if options.enums_as_numbers => {
                    let mut numbers: Vec<i32> = e.values().map(|v| v.number()).collect();
                    numbers.sort_unstable();
                    numbers.dedup();
                    let numbers: Vec<String> = numbers.iter().map(i32::to_string).collect();
                    numbers.join(" | ")
                }
                _ => self.enum_name(e),
            },
            Kind::Message(m) => self.message(m, flavor),
        }
    }

    fn enum_name(&mut self, e: &EnumDescriptor) -> String {
        let name = self.base_name(e.full_name());
        if !self.declared.contains_key(&name) {
            let names: Vec<String> = e.values().map(|v| quote(v.name())).collect();
            let mut text = doc(comments(e).as_deref(), "");
            text.push_str(&format!("export type {name} = {};\n", names.join(" | ")));
            self.declared.insert(name.clone(), text);
        }
        name
    }

    /// The declaration of `message` in `flavor`.
    fn declare(&mut self, message: &MessageDescriptor, flavor: Flavor) -> (String, String) {
        let name = self.flavored_name(message, flavor);
        let mut text = doc(comments(message).as_deref(), "");
        let plain: Vec<FieldDescriptor> = message
            .fields()
            .filter(|f| real_oneof(f).is_none())
            .collect();
        let oneofs: Vec<Vec<FieldDescriptor>> = message
            .oneofs()
            .filter(|o| !o.is_synthetic())
            .map(|o| o.fields().collect())
            .collect();
        if plain.is_empty() && oneofs.is_empty() {
            text.push_str(&format!("export type {name} = Record<string, never>;\n"));
            return (name, text);
        }
        let mut members = String::new();
        for field in &plain {
            members.push_str(&self.member(field, flavor, false));
        }
        if oneofs.is_empty() {
            text.push_str(&format!("export interface {name} {{\n{members}}}\n"));
            return (name, text);
        }
        text.push_str(&format!("export type {name} = {{\n{members}}}"));
        for fields in &oneofs {
            // Each choice sets one member and forbids the others; none set is a choice too.
            text.push_str(" & (\n");
            let mut choices = Vec::new();
            for chosen in fields {
                let mut choice = String::from("  | {\n");
                for field in fields {
                    if field == chosen {
                        let member = self.member(field, flavor, true);
                        for line in member.lines() {
                            choice.push_str(&format!("    {line}\n"));
                        }
                    } else {
                        let key = self.key(field, flavor);
                        choice.push_str(&format!("      {key}?: never;\n"));
                    }
                }
                choice.push_str("    }\n");
                choices.push(choice);
            }
            text.push_str(&choices.concat());
            text.push(')');
        }
        text.push_str(";\n");
        (name, text)
    }

    fn key(&self, field: &FieldDescriptor, flavor: Flavor) -> String {
        let name = match flavor {
            Flavor::Input => field.json_name(),
            Flavor::Output(options) => options.member_name(field),
        };
        property_key(name)
    }

    /// One member of a message's declaration, with its comment.
    fn member(&mut self, field: &FieldDescriptor, flavor: Flavor, in_oneof: bool) -> String {
        let mut ty = self.field(field, flavor);
        let present = match flavor {
            Flavor::Input => is_required(field),
            // Written even when unset: a message (or a field with presence) as null.
            Flavor::Output(options) => options.emit_defaults && field.containing_oneof().is_none(),
        };
        if let Flavor::Output(options) = flavor
            && options.emit_defaults
            && present
            && field.supports_presence()
            && !ty.contains("null")
            && ty != "JsonValue"
        {
            ty.push_str(" | null");
        }
        let optional = if present && !in_oneof { "" } else { "?" };
        let mut text = doc(comments(field).as_deref(), "  ");
        text.push_str(&format!("  {}{optional}: {ty};\n", self.key(field, flavor)));
        text
    }
}

/// The oneof `field` belongs to, unless it is the synthetic one of a proto3 `optional`.
fn real_oneof(field: &FieldDescriptor) -> Option<prost_reflect::OneofDescriptor> {
    field.containing_oneof().filter(|o| !o.is_synthetic())
}

/// Whether `field` is marked `(google.api.field_behavior) = REQUIRED`.
pub fn is_required(field: &FieldDescriptor) -> bool {
    let options = field.options();
    let Some(extension) = options
        .descriptor()
        .parent_pool()
        .get_extension_by_name("google.api.field_behavior")
    else {
        return false;
    };
    if !options.has_extension(&extension) {
        return false;
    }
    match options.get_extension(&extension).as_ref() {
        Value::List(values) => values
            .iter()
            .any(|v| matches!(v, Value::EnumNumber(n) if *n == REQUIRED)),
        Value::EnumNumber(n) => *n == REQUIRED,
        _ => false,
    }
}

/// Records `message` and every message and enum it reaches (well-known types are written
/// inline), with their packages.
fn reach_message(message: &MessageDescriptor, reached: &mut BTreeMap<String, String>) {
    if well_known(message).is_some() || reached.contains_key(message.full_name()) {
        return;
    }
    reached.insert(
        message.full_name().to_string(),
        message.package_name().to_string(),
    );
    for field in message.fields() {
        let kind = if field.is_map() {
            match field.kind() {
                Kind::Message(entry) => entry.map_entry_value_field().kind(),
                other => other,
            }
        } else {
            field.kind()
        };
        match kind {
            Kind::Message(inner) => reach_message(&inner, reached),
            Kind::Enum(e) => {
                reached
                    .entry(e.full_name().to_string())
                    .or_insert_with(|| e.package_name().to_string());
            }
            _ => {}
        }
    }
}

/// `Order`, `Order_Item` for a nested `Order.Item`: the full name without its package.
fn short_name(full_name: &str, package: &str) -> String {
    let local = if package.is_empty() {
        full_name
    } else {
        full_name
            .strip_prefix(package)
            .and_then(|rest| rest.strip_prefix('.'))
            .unwrap_or(full_name)
    };
    local.replace('.', "_")
}

/// `orders_v1` → `OrdersV1`; `user_dashboard` → `UserDashboard`; `-` counts as `_`.
pub fn pascal(text: &str) -> String {
    let mut out = String::new();
    let mut upper = true;
    for c in text.chars() {
        if c == '_' || c == '-' || c == '.' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// `GetUser` → `getUser`; `user-dashboard` → `userDashboard`.
pub fn camel(text: &str) -> String {
    let pascal = pascal(text);
    let mut chars = pascal.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The inline TypeScript of a well-known type's JSON form; `None` for other messages.
pub fn well_known(message: &MessageDescriptor) -> Option<&'static str> {
    Some(match message.full_name() {
        "google.protobuf.Timestamp" | "google.protobuf.Duration" | "google.protobuf.FieldMask" => {
            "string"
        }
        "google.protobuf.Struct" => "{ [key: string]: JsonValue }",
        "google.protobuf.Value" => "JsonValue",
        "google.protobuf.ListValue" => "JsonValue[]",
        "google.protobuf.Empty" => "Record<string, never>",
        "google.protobuf.Any" => "AnyMessage",
        "google.protobuf.StringValue" | "google.protobuf.BytesValue" => "string | null",
        "google.protobuf.Int64Value" | "google.protobuf.UInt64Value" => "string | null",
        "google.protobuf.Int32Value" | "google.protobuf.UInt32Value" => "number | null",
        "google.protobuf.BoolValue" => "boolean | null",
        "google.protobuf.FloatValue" | "google.protobuf.DoubleValue" => "ProtoFloat | null",
        _ => return None,
    })
}

/// A property name: bare when it is an identifier, quoted otherwise.
pub fn property_key(name: &str) -> String {
    let mut chars = name.chars();
    let identifier = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$');
    if identifier {
        name.to_string()
    } else {
        quote(name)
    }
}

/// A TypeScript string literal.
pub fn quote(text: &str) -> String {
    serde_json::Value::from(text).to_string()
}

/// A doc comment of `text` indented by `indent`; nothing when there is no text.
pub fn doc(text: Option<&str>, indent: &str) -> String {
    let Some(text) = text.filter(|t| !t.trim().is_empty()) else {
        return String::new();
    };
    let text = text.replace("*/", "*\\/");
    let lines: Vec<&str> = text.lines().collect();
    if lines.len() == 1 {
        return format!("{indent}/** {} */\n", lines[0].trim());
    }
    let mut out = format!("{indent}/**\n");
    for line in lines {
        let line = line.trim_end();
        if line.is_empty() {
            out.push_str(&format!("{indent} *\n"));
        } else {
            out.push_str(&format!("{indent} * {line}\n"));
        }
    }
    out.push_str(&format!("{indent} */\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(name: &str) -> MessageDescriptor {
        crate::transcode::compiled::schema()
            .descriptors()
            .get_message_by_name(name)
            .expect("compiled in")
    }

    #[test]
    fn required_fields_are_read_from_field_behavior() {
        let item = message("orders.v1.LineItem");
        let field = item.get_field_by_name("product_id").unwrap();
        assert!(is_required(&field));
        assert!(!is_required(
            &item.get_field_by_name("unit_price_cents").unwrap()
        ));
    }
}
