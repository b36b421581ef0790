//! Responses: the same reply, the same bytes.

use prost::Message;

use super::messages::rich;
use super::{dynamic, method, route};
use crate::error::GatewayError;
use crate::proto::gatehouse::echo::v1::{Color, Kitchen, Nested, kitchen::Choice};
use crate::schema::MethodCodec;
use crate::transcode::compiled::schema;
use crate::transcode::dynamic::DynamicCodec;
use crate::transcode::dynamic::plan::Plans;
use crate::transcode::dynamic::ser;

/// What a codec made of a reply: the JSON text, or the error (a bad response only by kind:
/// its cause, for the log, quotes the decoder's own words).
pub(super) fn render(codec: &dyn MethodCodec, reply: &[u8]) -> Result<String, String> {
    let mut out = Vec::new();
    match codec.render_response(reply, &mut out) {
        Ok(()) => Ok(String::from_utf8(out).expect("JSON is UTF-8")),
        Err(GatewayError::UpstreamBadResponse { .. }) => Err("UpstreamBadResponse".into()),
        Err(e) => Err(format!("{e:?}")),
    }
}

pub(super) fn assert_same_render(
    what: &str,
    compiled: &dyn MethodCodec,
    dynamic: &DynamicCodec,
    reply: &[u8],
) {
    let expected = render(compiled, reply);
    let actual = render(dynamic, reply);
    assert_eq!(actual, expected, "{what}");
}

/// As [`assert_same_render`], comparing JSON values (map members in any order).
pub(super) fn assert_same_render_value(
    what: &str,
    compiled: &dyn MethodCodec,
    dynamic: &DynamicCodec,
    reply: &[u8],
) {
    let parse = |r: Result<String, String>| {
        r.map(|text| serde_json::from_str::<serde_json::Value>(&text).expect("valid JSON"))
    };
    let expected = parse(render(compiled, reply));
    let actual = parse(render(dynamic, reply));
    assert_eq!(actual, expected, "{what}");
}

#[test]
fn rich_responses_render_the_same_bytes_for_every_method() {
    for spec in schema().methods() {
        let descriptor = method(&spec.service, &spec.method);
        let codec = DynamicCodec::new(&descriptor, None, None).expect("a codec");
        for seed in 0..12 {
            for depth in [0, 1, 3] {
                let reply = rich(&descriptor.output(), seed, depth, 1).encode_to_vec();
                let what = format!("{} seed {seed} depth {depth}", spec.qualified_method());
                assert_same_render(&what, spec.codec.as_ref(), &codec, &reply);
            }
        }
        assert_same_render("empty reply", spec.codec.as_ref(), &codec, &[]);
    }
}

#[test]
fn rich_responses_render_the_same_response_body_for_every_binding() {
    for route in schema()
        .bindings()
        .iter()
        .filter(|r| r.response_body.is_some())
    {
        let descriptor = method(&route.service, &route.method);
        let codec = dynamic(route);
        for seed in 0..8 {
            let reply = rich(&descriptor.output(), seed, 2, 1).encode_to_vec();
            let what = format!("{} {} seed {seed}", route.http_method, route.template);
            assert_same_render(&what, route.codec.as_ref(), &codec, &reply);
        }
        assert_same_render("empty reply", route.codec.as_ref(), &codec, &[]);
    }
}

#[test]
fn maps_and_structs_with_several_keys_render_the_same_members() {
    for spec in schema().methods() {
        let descriptor = method(&spec.service, &spec.method);
        let codec = DynamicCodec::new(&descriptor, None, None).expect("a codec");
        for seed in 0..6 {
            let reply = rich(&descriptor.output(), seed, 3, 4).encode_to_vec();
            let what = format!("{} seed {seed}", spec.qualified_method());
            assert_same_render_value(&what, spec.codec.as_ref(), &codec, &reply);
        }
    }
}

#[test]
fn map_entries_are_written_sorted_by_key() {
    let kitchen = Kitchen {
        labels: [("b", "2"), ("a", "1"), ("c", "3")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..Kitchen::default()
    };
    let codec = dynamic(route("POST", "/v1/echo"));
    assert_eq!(
        render(&codec, &kitchen.encode_to_vec()),
        Ok(r#"{"labels":{"a":"1","b":"2","c":"3"}}"#.to_string())
    );
}

/// Every message compiled into this crate (google.rpc error details included), rendered by
/// the generated code through `render_any`, which builds a JSON value.
#[test]
fn every_compiled_message_renders_the_same_json_value() {
    let pool = schema().descriptors();
    for message in pool.all_messages() {
        if message.is_map_entry() || message.package_name() == "google.protobuf" {
            continue;
        }
        let (plans, roots) = Plans::build(&[&message]);
        // Seeds whose floats a JSON value holds exactly.
        for seed in 0..3 {
            let reply = rich(&message, seed, 2, 3);
            let expected = crate::proto::render_any(message.full_name(), &reply.encode_to_vec());
            let mut out = Vec::new();
            let written = ser::render(
                &plans,
                roots[0],
                None,
                &reply.encode_to_vec(),
                &mut out,
                ser::JsonOptions::default(),
            );
            let actual = written
                .ok()
                .map(|()| serde_json::from_slice::<serde_json::Value>(&out).expect("valid JSON"));
            assert_eq!(actual, expected, "{} seed {seed}", message.full_name());
        }
    }
}

/// JSON output options over every compiled message: a reply the default writes is written
/// with any options too; with `emit_defaults` every field without presence is a member, even
/// of an empty reply; with `proto_names` every member is a proto field name.
#[test]
fn every_compiled_message_renders_with_every_option() {
    let pool = schema().descriptors();
    let all = ser::JsonOptions {
        emit_defaults: true,
        enums_as_numbers: true,
        proto_names: true,
    };
    for message in pool.all_messages() {
        if message.is_map_entry() || message.package_name() == "google.protobuf" {
            continue;
        }
        let (plans, roots) = Plans::build(&[&message]);
        let always: Vec<String> = message
            .fields()
            .filter(|f| f.containing_oneof().is_none())
            .map(|f| f.name().to_string())
            .collect();
        let proto_names: Vec<String> = message.fields().map(|f| f.name().to_string()).collect();
        for seed in 0..3 {
            let reply = rich(&message, seed, 2, 3).encode_to_vec();
            for (reply, what) in [(&reply[..], "rich"), (&[][..], "empty")] {
                let write = |options| {
                    let mut out = Vec::new();
                    ser::render(&plans, roots[0], None, reply, &mut out, options)
                        .ok()
                        .map(|()| serde_json::from_slice::<serde_json::Value>(&out).unwrap())
                };
                let Some(_) = write(ser::JsonOptions::default()) else {
                    continue; // no JSON form (a non-finite number in a Value)
                };
                let name = message.full_name();
                let written = write(all).unwrap_or_else(|| panic!("{name} {what} seed {seed}"));
                let members = written.as_object().expect("an object");
                for field in &always {
                    assert!(members.contains_key(field), "{name} {what}: no {field}");
                }
                for member in members.keys() {
                    assert!(proto_names.contains(member), "{name} {what}: {member}");
                }
            }
        }
    }
}

#[test]
fn edge_values_render_the_same_bytes() {
    let spec = schema()
        .method("gatehouse.echo.v1.EchoService/Echo")
        .expect("compiled in");
    let codec = DynamicCodec::new(&method(&spec.service, &spec.method), None, None).expect("codec");
    let same = |what: &str, kitchen: Kitchen| {
        assert_same_render(what, spec.codec.as_ref(), &codec, &kitchen.encode_to_vec());
    };
    let nested = |id: &str| Nested {
        id: id.into(),
        count: 0,
        child: None,
    };
    same(
        "defaults in a oneof are written",
        Kitchen {
            choice: Some(Choice::ChoiceNumber(0)),
            ..Kitchen::default()
        },
    );
    same(
        "an empty oneof string",
        Kitchen {
            choice: Some(Choice::ChoiceText(String::new())),
            ..Kitchen::default()
        },
    );
    same(
        "an empty oneof message",
        Kitchen {
            choice: Some(Choice::ChoiceNested(nested(""))),
            ..Kitchen::default()
        },
    );
    same(
        "an empty optional string",
        Kitchen {
            optional_string: Some(String::new()),
            ..Kitchen::default()
        },
    );
    same(
        "negative zero is a default",
        Kitchen {
            double_field: -0.0,
            float_field: -0.0,
            ..Kitchen::default()
        },
    );
    same(
        "unknown enum numbers",
        Kitchen {
            enum_field: 7,
            repeated_enum: vec![Color::Red as i32, 9, 0],
            ..Kitchen::default()
        },
    );
    same(
        "empty wrappers and messages are written",
        Kitchen {
            nested: Some(nested("")),
            string_wrapper: Some(pbjson_types::StringValue::default()),
            int64_wrapper: Some(pbjson_types::Int64Value { value: i64::MIN }),
            bool_wrapper: Some(pbjson_types::BoolValue::default()),
            struct_field: Some(pbjson_types::Struct::default()),
            value_field: Some(pbjson_types::Value::default()),
            timestamp: Some(crate::wkt::Timestamp::default()),
            duration: Some(pbjson_types::Duration::default()),
            field_mask: Some(crate::wkt::FieldMask::default()),
            fail: Some(Default::default()),
            ..Kitchen::default()
        },
    );
    same(
        "timestamps with 3, 6 and 9 digits",
        Kitchen {
            timestamp: Some(crate::wkt::Timestamp {
                seconds: 1,
                nanos: 1,
            }),
            repeated_nested: vec![nested("a"), nested("b")],
            ..Kitchen::default()
        },
    );
    same(
        "a timestamp out of range",
        Kitchen {
            timestamp: Some(crate::wkt::Timestamp {
                seconds: 253_402_300_800,
                nanos: 0,
            }),
            ..Kitchen::default()
        },
    );
    same(
        "a negative nanosecond count",
        Kitchen {
            timestamp: Some(crate::wkt::Timestamp {
                seconds: 0,
                nanos: -1,
            }),
            ..Kitchen::default()
        },
    );
    same(
        "a duration with mixed signs",
        Kitchen {
            duration: Some(pbjson_types::Duration {
                seconds: 1,
                nanos: -1,
            }),
            ..Kitchen::default()
        },
    );
    same(
        "a field mask path with no JSON form",
        Kitchen {
            field_mask: Some(crate::wkt::FieldMask {
                paths: vec!["a__b".into()],
            }),
            ..Kitchen::default()
        },
    );
    for number in [f64::NAN, f64::INFINITY] {
        same(
            "a non-finite Value number",
            Kitchen {
                value_field: Some(pbjson_types::Value {
                    kind: Some(pbjson_types::value::Kind::NumberValue(number)),
                }),
                ..Kitchen::default()
            },
        );
    }
    same(
        "a Value null with an unnamed number",
        Kitchen {
            value_field: Some(pbjson_types::Value {
                kind: Some(pbjson_types::value::Kind::NullValue(3)),
            }),
            ..Kitchen::default()
        },
    );
    same(
        "recursion",
        Kitchen {
            nested: Some(Nested {
                id: "a".into(),
                count: -1,
                child: Some(Box::new(Nested {
                    id: String::new(),
                    count: 2,
                    child: Some(Box::new(nested("c"))),
                })),
            }),
            ..Kitchen::default()
        },
    );
    // Defaults a backend may still put on the wire (Go writes a -0.0): each as the compiled
    // codec sees it, a default, left out.
    let explicit_defaults: &[u8] = &[
        0x0a, 0x00, // string_field ""
        0x10, 0x00, // int32_field 0
        0x65, 0, 0, 0, 0x80, // float_field -0.0
        0x69, 0, 0, 0, 0, 0, 0, 0, 0x80, // double_field -0.0
        0x70, 0x00, // bool_field false
        0x80, 0x01, 0x00, // enum_field 0
        0x9a, 0x01, 0x00, // repeated_int64, packed, empty
    ];
    assert_same_render(
        "explicit defaults",
        spec.codec.as_ref(),
        &codec,
        explicit_defaults,
    );
    for garbage in [
        &[0xff][..],
        &[0x0a, 0x05, b'a'],
        &[0x7a, 0x02, 0xc3, 0x28],
        &[0x80, 0x01, 0x00],
    ] {
        assert_same_render(
            "a reply that does not decode",
            spec.codec.as_ref(),
            &codec,
            garbage,
        );
    }
}

#[test]
fn response_body_fields_of_every_kind_render_as_render_field_writes_them() {
    let descriptor = method("gatehouse.echo.v1.EchoService", "Echo");
    let full = Kitchen {
        string_field: "s".into(),
        int32_field: -3,
        uint32_field: 4,
        bool_field: true,
        nested: Some(Nested {
            id: "n".into(),
            count: 1,
            child: None,
        }),
        repeated_string: vec!["a".into(), "b".into()],
        repeated_nested: vec![Nested::default()],
        optional_string: Some("o".into()),
        timestamp: Some(crate::wkt::Timestamp {
            seconds: 5,
            nanos: 0,
        }),
        value_field: Some(pbjson_types::Value {
            kind: Some(pbjson_types::value::Kind::BoolValue(true)),
        }),
        fixed32_field: 9,
        sint32_field: -9,
        ..Kitchen::default()
    };
    // What the generated renderers write (codegen::table::render_field), by hand.
    let expected = |k: &Kitchen, name: &str| -> String {
        match name {
            "string_field" => serde_json::to_string(&k.string_field),
            "int32_field" => serde_json::to_string(&k.int32_field),
            "uint32_field" => serde_json::to_string(&k.uint32_field),
            "fixed32_field" => serde_json::to_string(&k.fixed32_field),
            "sint32_field" => serde_json::to_string(&k.sint32_field),
            "bool_field" => serde_json::to_string(&k.bool_field),
            "repeated_string" => serde_json::to_string(&k.repeated_string),
            "repeated_nested" => serde_json::to_string(&k.repeated_nested),
            "optional_string" => serde_json::to_string(&k.optional_string),
            "nested" => serde_json::to_string(&k.nested.clone().unwrap_or_default()),
            "timestamp" => serde_json::to_string(&k.timestamp.unwrap_or_default()),
            "value_field" => serde_json::to_string(&k.value_field.clone().unwrap_or_default()),
            "struct_field" => serde_json::to_string(&k.struct_field.clone().unwrap_or_default()),
            _ => unreachable!(),
        }
        .expect("renders")
    };
    let names = [
        "string_field",
        "int32_field",
        "uint32_field",
        "fixed32_field",
        "sint32_field",
        "bool_field",
        "repeated_string",
        "repeated_nested",
        "optional_string",
        "nested",
        "timestamp",
        "value_field",
        "struct_field",
    ];
    for name in names {
        let codec = DynamicCodec::new(&descriptor, None, Some(name)).expect("renderable");
        for kitchen in [&full, &Kitchen::default()] {
            assert_eq!(
                render(&codec, &kitchen.encode_to_vec()),
                Ok(expected(kitchen, name)),
                "{name}"
            );
        }
    }
    for refused in [
        "labels",
        "choice_text",
        "int64_field",
        "enum_field",
        "bytes_field",
        "double_field",
        "nope",
    ] {
        assert!(
            DynamicCodec::new(&descriptor, None, Some(refused)).is_err(),
            "{refused}"
        );
    }
}
