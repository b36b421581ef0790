//! Parity of the dynamic codec with the compiled one, over every method and binding compiled
//! into this crate (the echo service's `Kitchen` has a field of every kind; the demo and
//! google.rpc protos add their own shapes).
//!
//! Responses: the same encoded message rendered by both codecs gives the same bytes (the same
//! JSON value when a map holds several keys, whose order the compiled codec leaves to its hash
//! maps). Requests: the same path, query and body give the same message (compared decoded,
//! since encodings may order fields differently), or the same error, variant, field and reason.

mod build;
mod messages;
mod render;
mod runtime;
mod wire;

use std::sync::Arc;

use prost_reflect::{MessageDescriptor, MethodDescriptor};

use super::DynamicCodec;
use super::plan::{Plans, Shape, Text};
use crate::schema::RouteSpec;
use crate::transcode::compiled::schema;

fn method(service: &str, name: &str) -> MethodDescriptor {
    schema()
        .descriptors()
        .get_service_by_name(service)
        .and_then(|s| s.methods().find(|m| m.name() == name))
        .unwrap_or_else(|| panic!("{service}/{name} is compiled in"))
}

fn route(http_method: &str, template: &str) -> &'static Arc<RouteSpec> {
    schema()
        .bindings()
        .iter()
        .find(|r| r.http_method == http_method && r.template == template)
        .unwrap_or_else(|| panic!("{http_method} {template} is compiled in"))
}

fn dynamic(route: &RouteSpec) -> DynamicCodec {
    DynamicCodec::new(
        &method(&route.service, &route.method),
        route.body.as_deref(),
        route.response_body.as_deref(),
    )
    .unwrap_or_else(|e| panic!("{} {}: {e}", route.http_method, route.template))
}

fn kitchen() -> MessageDescriptor {
    schema()
        .descriptors()
        .get_message_by_name("gatehouse.echo.v1.Kitchen")
        .expect("compiled in")
}

#[test]
fn every_binding_and_method_gets_a_dynamic_codec() {
    for route in schema().bindings() {
        dynamic(route);
    }
    for spec in schema().methods() {
        DynamicCodec::new(&method(&spec.service, &spec.method), None, None)
            .unwrap_or_else(|e| panic!("{}: {e}", spec.qualified_method()));
    }
}

/// The setter plans mirror `codegen::setters` for every field of every compiled message.
#[test]
fn setter_kinds_mirror_the_generated_ones() {
    let (plans, roots) = Plans::build(&[&kitchen()]);
    let plan = plans.message(roots[0]);
    let text_of = |name: &str| plan.fields[plan.by_name[name]].text;
    assert!(matches!(
        text_of("labels"),
        Text::Unsupported("a map field")
    ));
    assert!(matches!(
        text_of("repeated_nested"),
        Text::Unsupported("a repeated message field")
    ));
    assert!(matches!(
        text_of("struct_field"),
        Text::Unsupported("a google.protobuf.Struct field")
    ));
    assert!(matches!(text_of("timestamp"), Text::WellKnown(_)));
    assert!(matches!(text_of("nested"), Text::Message(_)));
    assert!(matches!(text_of("choiceNested"), Text::Message(_)));
    assert_eq!(plan.fields[plan.by_name["choice_text"]].shape, Shape::Oneof);
    assert_eq!(
        plan.fields[plan.by_name["optional_string"]].shape,
        Shape::Explicit
    );
    // pbjson's order: declaration order, the oneof's members last.
    let order: Vec<&str> = plan.fields.iter().map(|f| f.descriptor.name()).collect();
    assert_eq!(
        &order[order.len() - 3..],
        ["choice_text", "choice_number", "choice_nested"]
    );
    assert_eq!(order[0], "string_field");
}
