//! Replies as a backend may really encode them: fields repeated, merged, packed or not, in any
//! order, unknown fields, and broken encodings. Both codecs decode them alike.

use prost::Message;

use super::messages::rich;
use super::render::{assert_same_render, assert_same_render_value, render};
use crate::proto::gatehouse::echo::v1::{Kitchen, Nested, kitchen::Choice};
use crate::transcode::compiled::schema;
use crate::transcode::dynamic::DynamicCodec;

fn echo() -> (&'static dyn crate::schema::MethodCodec, DynamicCodec) {
    let spec = schema()
        .method("gatehouse.echo.v1.EchoService/Echo")
        .expect("compiled in");
    let descriptor = super::method(&spec.service, &spec.method);
    let codec = DynamicCodec::new(&descriptor, None, None).expect("codec");
    (spec.codec.as_ref(), codec)
}

fn concat(parts: &[Kitchen]) -> Vec<u8> {
    parts.iter().flat_map(Message::encode_to_vec).collect()
}

fn nested(id: &str, count: i32, child: Option<Nested>) -> Nested {
    Nested {
        id: id.into(),
        count,
        child: child.map(Box::new),
    }
}

#[test]
fn repeated_occurrences_merge_as_prost_merges_them() {
    let (compiled, dynamic) = echo();
    let k = |f: fn(&mut Kitchen)| {
        let mut kitchen = Kitchen::default();
        f(&mut kitchen);
        kitchen
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "a message given twice merges",
            concat(&[
                k(|k| k.nested = Some(nested("a", 1, None))),
                k(|k| k.nested = Some(nested("", 2, Some(nested("c", 0, None))))),
            ]),
        ),
        (
            "scalars given twice: the last wins, a default included",
            concat(&[
                k(|k| {
                    k.string_field = "first".into();
                    k.int64_field = 5;
                    k.optional_string = Some("x".into());
                }),
                k(|k| {
                    k.string_field = "second".into();
                    k.optional_string = Some(String::new());
                }),
            ]),
        ),
        (
            "lists given in parts are joined",
            concat(&[
                k(|k| {
                    k.repeated_int64 = vec![1, 2];
                    k.repeated_nested = vec![nested("a", 0, None)];
                    k.repeated_enum = vec![1, 9];
                }),
                k(|k| {
                    k.repeated_int64 = vec![3];
                    k.repeated_nested = vec![nested("b", 0, None)];
                    k.repeated_enum = vec![2];
                }),
            ]),
        ),
        (
            "a oneof member replaces another",
            concat(&[
                k(|k| k.choice = Some(Choice::ChoiceNested(nested("n", 1, None)))),
                k(|k| k.choice = Some(Choice::ChoiceText("t".into()))),
            ]),
        ),
        (
            "the same oneof message member merges",
            concat(&[
                k(|k| k.choice = Some(Choice::ChoiceNested(nested("n", 0, None)))),
                k(|k| k.choice = Some(Choice::ChoiceNested(nested("", 3, None)))),
            ]),
        ),
        (
            "a oneof member set to its default after another",
            concat(&[
                k(|k| k.choice = Some(Choice::ChoiceText("t".into()))),
                k(|k| k.choice = Some(Choice::ChoiceNumber(0))),
            ]),
        ),
        (
            "well-known types given twice merge",
            concat(&[
                k(|k| {
                    k.timestamp = Some(crate::wkt::Timestamp {
                        seconds: 10,
                        nanos: 0,
                    });
                    k.field_mask = Some(crate::wkt::FieldMask {
                        paths: vec!["a".into()],
                    });
                    k.string_wrapper = Some(pbjson_types::StringValue { value: "w".into() });
                }),
                k(|k| {
                    k.timestamp = Some(crate::wkt::Timestamp {
                        seconds: 0,
                        nanos: 5_000_000,
                    });
                    k.field_mask = Some(crate::wkt::FieldMask {
                        paths: vec!["b_c".into()],
                    });
                    k.string_wrapper = Some(pbjson_types::StringValue::default());
                }),
            ]),
        ),
        (
            "map entries with the same key: the last wins",
            concat(&[
                k(|k| k.labels = [("a".to_string(), "1".to_string())].into()),
                k(|k| k.labels = [("a".to_string(), "2".to_string())].into()),
            ]),
        ),
    ];
    for (what, reply) in cases {
        assert_same_render(what, compiled, &dynamic, &reply);
    }
}

/// Hand-written encodings: packed and unpacked lists, map entries without a key or a value,
/// unknown fields of every wire type.
#[test]
fn encodings_prost_accepts_are_read_alike() {
    let (compiled, dynamic) = echo();
    let cases: [(&str, &[u8]); 9] = [
        // repeated_int64 (19): unpacked 1, packed [2, 3], unpacked 4, packed empty.
        (
            "packed and unpacked",
            &[
                0x98, 0x01, 0x01, 0x9a, 0x01, 0x02, 0x02, 0x03, 0x98, 0x01, 0x04, 0x9a, 0x01, 0x00,
            ],
        ),
        // repeated_enum (21) packed with an unnamed number.
        ("packed enums", &[0xaa, 0x01, 0x03, 0x01, 0x63, 0x02]),
        // labels (22): an entry without a key, one without a value, one with both twice.
        (
            "partial map entries",
            &[
                0xb2, 0x01, 0x03, 0x12, 0x01, b'v', // value only
                0xb2, 0x01, 0x03, 0x0a, 0x01, b'k', // key only
                0xb2, 0x01, 0x0c, 0x0a, 0x01, b'x', 0x12, 0x01, b'1', 0x0a, 0x01, b'y', 0x12, 0x01,
                b'2',
            ],
        ),
        // A map entry with an unknown field inside.
        (
            "unknown field in a map entry",
            &[
                0xb2, 0x01, 0x08, 0x0a, 0x01, b'k', 0x18, 0x07, 0x12, 0x01, b'v',
            ],
        ),
        // Unknown fields 100 (varint), 101 (fixed64), 102 (bytes), 103 (group), 104 (fixed32).
        (
            "unknown fields",
            &[
                0xa0, 0x06, 0x96, 0x01, // 100: varint 150
                0xa9, 0x06, 1, 2, 3, 4, 5, 6, 7, 8, // 101: fixed64
                0xb2, 0x06, 0x02, 0xff, 0xfe, // 102: bytes that are not UTF-8
                0xbb, 0x06, 0x08, 0x01, 0xbc, 0x06, // 103: group { 1: 1 }
                0xc5, 0x06, 1, 2, 3, 4, // 104: fixed32
                0x0a, 0x01, b's', // string_field "s"
            ],
        ),
        // int32_field (2) as a 10-byte varint of -1, uint32_field (4) with high bits set.
        (
            "wide varints",
            &[
                0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x20, 0xff, 0xff,
                0xff, 0xff, 0xff, 0x01,
            ],
        ),
        // bool_field (14) as 2: true.
        ("a bool of 2", &[0x70, 0x02]),
        // sint32 (6) and sint64 (7) zigzag.
        ("zigzag", &[0x30, 0x03, 0x38, 0x04]),
        ("nothing", &[]),
    ];
    for (what, reply) in cases {
        assert_same_render_value(what, compiled, &dynamic, reply);
    }
}

/// Broken encodings: each refused by both (or, where prost is lenient, accepted by both).
#[test]
fn broken_encodings_are_refused_alike() {
    let (compiled, dynamic) = echo();
    let cases: [&[u8]; 18] = [
        &[0x0a, 0x02, 0xc3, 0x28],                   // string not UTF-8
        &[0x92, 0x01, 0x01, 0xff],                   // repeated string not UTF-8
        &[0xb2, 0x01, 0x04, 0x0a, 0x02, 0xc3, 0x28], // map key not UTF-8
        &[0x08, 0x01],                               // string_field as a varint
        &[0x15, 1, 2, 3, 4],                         // int32_field as fixed32
        &[0xa2, 0x01, 0x01],                         // repeated_nested as a varint... truncated
        &[0xa0, 0x01, 0x01],                         // repeated_nested as a varint
        &[0xb0, 0x01, 0x01],                         // labels (map) as a varint
        &[0x8a, 0x01, 0x05, 0x0a],                   // nested, length past the end
        &[0x8a, 0x01, 0x02, 0x0a, 0x05],             // nested: a field past its end
        &[0x0a],                                     // a length missing
        &[0x00],                                     // tag 0
        &[0x0f],                                     // wire type 7
        &[0x0c],                                     // an end group never started
        &[0x9a, 0x01, 0x01, 0x80],                   // packed varint cut short
        &[
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
        ], // bad varint
        &[0xda, 0x01, 0x02, 0x08, 0x01],             // a valid timestamp (27), for contrast
        &[0x8a, 0x02, 0x06, 0x0a, 0x04, 0x0a, 0x02, 0xc3, 0x28], // struct_field (33): key not UTF-8
    ];
    for reply in cases {
        assert_same_render(&format!("{reply:x?}"), compiled, &dynamic, reply);
    }
}

/// prost refuses messages nested more than 100 deep; so does the dynamic codec, at the same
/// depth.
#[test]
fn the_recursion_limit_is_prosts() {
    let (compiled, dynamic) = echo();
    let mut accepted = Vec::new();
    for depth in 96..=103 {
        let mut chain = nested("leaf", 1, None);
        for _ in 0..depth {
            chain = nested("", 0, Some(chain));
        }
        let reply = Kitchen {
            nested: Some(chain),
            ..Kitchen::default()
        }
        .encode_to_vec();
        assert_same_render(&format!("depth {depth}"), compiled, &dynamic, &reply);
        accepted.push(render(&dynamic, &reply).is_ok());
    }
    // The limit falls inside the range tried.
    assert!(accepted.first() == Some(&true) && accepted.last() == Some(&false));
}

/// Rich replies with bytes changed, dropped or cut: both codecs accept the same ones, and
/// write the same JSON for them.
#[test]
fn damaged_replies_are_read_alike() {
    let (compiled, dynamic) = echo();
    let descriptor = super::kitchen();
    let mut random = fastrand::Rng::with_seed(7);
    let mut accepted = 0;
    for round in 0..4000 {
        let mut reply = rich(&descriptor, round % 12, 2, 2).encode_to_vec();
        for _ in 0..1 + round % 3 {
            if reply.is_empty() {
                break;
            }
            let at = random.usize(..reply.len());
            match random.u8(..3) {
                0 => reply[at] = random.u8(..),
                1 => {
                    reply.remove(at);
                }
                _ => reply.truncate(at),
            }
        }
        assert_same_render_value(&format!("round {round}"), compiled, &dynamic, &reply);
        accepted += usize::from(render(&dynamic, &reply).is_ok());
    }
    // Both kinds of outcome are well represented.
    assert!(
        (200..3800).contains(&accepted),
        "{accepted} of 4000 accepted"
    );
}
