//! Shapes no compiled-in proto has (a well-known type as the whole reply, proto2 `required`
//! fields, maps keyed by integers and booleans), from protos compiled at run time as a
//! `sources::protos` schema would be; expected JSON as pbjson writes the same shapes.

use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage, MapKey, MethodDescriptor, Value};

use crate::schema::MethodCodec;
use crate::transcode::dynamic::DynamicCodec;

const PROTO2: &str = r#"
syntax = "proto2";
package rt.v1;
import "google/protobuf/empty.proto";
import "google/protobuf/struct.proto";

message Inner { optional int32 a = 1; }
message Old {
  required int32 id = 1;
  required Inner inner = 2;
  optional string note = 3 [default = "x"];
  repeated int32 packed = 4 [packed = true];
}
service Legacy {
  rpc Get(google.protobuf.Empty) returns (google.protobuf.Struct);
  rpc Echo(Old) returns (Old);
}
"#;

const PROTO3: &str = r#"
syntax = "proto3";
package rt.v1;

enum Color { C0 = 0; C1 = 1; }
message Keys {
  map<int64, string> by_long = 1;
  map<bool, int32> by_bool = 2;
  map<uint32, Color> by_unsigned = 3;
  map<sint32, double> floats = 4;
  map<string, bytes> blobs = 5;
}
service Maps { rpc Echo(Keys) returns (Keys); }
"#;

fn pool() -> DescriptorPool {
    let dir = tempfile::tempdir().expect("a temporary folder");
    std::fs::write(dir.path().join("legacy.proto"), PROTO2).expect("written");
    std::fs::write(dir.path().join("keys.proto"), PROTO3).expect("written");
    let mut compiler = protox::Compiler::new([dir.path()]).expect("a compiler");
    compiler.include_imports(true);
    compiler
        .open_files(["legacy.proto", "keys.proto"])
        .expect("the protos compile");
    DescriptorPool::decode(compiler.encode_file_descriptor_set().as_slice()).expect("decodes")
}

fn method(pool: &DescriptorPool, service: &str, name: &str) -> MethodDescriptor {
    pool.get_service_by_name(service)
        .and_then(|s| s.methods().find(|m| m.name() == name))
        .expect("declared")
}

fn render(codec: &DynamicCodec, reply: &[u8]) -> String {
    let mut out = Vec::new();
    codec.render_response(reply, &mut out).expect("renders");
    String::from_utf8(out).expect("UTF-8")
}

#[test]
fn a_well_known_type_is_a_whole_reply() {
    let pool = pool();
    let codec =
        DynamicCodec::new(&method(&pool, "rt.v1.Legacy", "Get"), None, None).expect("codec");
    let reply = pbjson_types::Struct {
        fields: [
            (
                "b".to_string(),
                pbjson_types::Value::from(vec![true.into(), ().into()]),
            ),
            ("a".to_string(), pbjson_types::Value::from(1.5)),
        ]
        .into(),
    };
    assert_eq!(
        render(&codec, &reply.encode_to_vec()),
        r#"{"a":1.5,"b":[true,null]}"#
    );
    // A reply that does not decode is refused.
    let mut out = Vec::new();
    assert!(codec.render_response(&[0xff], &mut out).is_err());
}

#[test]
fn proto2_required_fields_are_always_written() {
    let pool = pool();
    let codec =
        DynamicCodec::new(&method(&pool, "rt.v1.Legacy", "Echo"), None, None).expect("codec");
    // prost holds `id` as 0 and `inner` as None; pbjson writes both.
    assert_eq!(render(&codec, &[]), r#"{"id":0,"inner":null}"#);
    let old = pool.get_message_by_name("rt.v1.Old").expect("declared");
    let mut message = DynamicMessage::new(old);
    message.set_field_by_name("id", Value::I32(0));
    message.set_field_by_name("note", Value::String(String::new()));
    message.set_field_by_name("packed", Value::List(vec![Value::I32(-1), Value::I32(2)]));
    assert_eq!(
        render(&codec, &message.encode_to_vec()),
        r#"{"id":0,"inner":null,"note":"","packed":[-1,2]}"#
    );
}

#[test]
fn map_keys_of_every_kind_are_written_as_strings_in_key_order() {
    let pool = pool();
    let codec = DynamicCodec::new(&method(&pool, "rt.v1.Maps", "Echo"), None, None).expect("codec");
    let keys = pool.get_message_by_name("rt.v1.Keys").expect("declared");
    let mut message = DynamicMessage::new(keys);
    let map = |entries: Vec<(MapKey, Value)>| Value::Map(entries.into_iter().collect());
    message.set_field_by_name(
        "by_long",
        map(vec![
            (MapKey::I64(7), Value::String("b".into())),
            (MapKey::I64(-5), Value::String("a".into())),
        ]),
    );
    message.set_field_by_name(
        "by_bool",
        map(vec![
            (MapKey::Bool(true), Value::I32(2)),
            (MapKey::Bool(false), Value::I32(1)),
        ]),
    );
    message.set_field_by_name(
        "by_unsigned",
        map(vec![
            (MapKey::U32(10), Value::EnumNumber(1)),
            (MapKey::U32(9), Value::EnumNumber(5)),
        ]),
    );
    message.set_field_by_name(
        "floats",
        map(vec![
            (MapKey::I32(-1), Value::F64(f64::NAN)),
            (MapKey::I32(1), Value::F64(0.5)),
        ]),
    );
    message.set_field_by_name(
        "blobs",
        map(vec![(
            MapKey::String("k".into()),
            Value::Bytes(vec![0xfb, 0xff].into()),
        )]),
    );
    assert_eq!(
        render(&codec, &message.encode_to_vec()),
        concat!(
            r#"{"byLong":{"-5":"a","7":"b"},"byBool":{"false":1,"true":2},"#,
            r#""byUnsigned":{"9":5,"10":"C1"},"floats":{"-1":null,"1":0.5},"#,
            r#""blobs":{"k":"+/8="}}"#
        )
    );
}
