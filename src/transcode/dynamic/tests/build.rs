//! Requests: the same path, query and body, the same message or the same error.

use prost::Message;
use prost_reflect::{DynamicMessage, Kind, MessageDescriptor, ReflectMessage, Value};

use super::messages::rich;
use super::{dynamic, kitchen, method, route};
use crate::error::GatewayError;
use crate::http_rule::Binding;
use crate::proto::gatehouse::echo::v1::{Kitchen, Nested};
use crate::schema::{MethodCodec, RequestBody, RequestParts, RouteSpec};
use crate::transcode::compiled::schema;
use crate::transcode::dynamic::DynamicCodec;
use crate::transcode::dynamic::plan::Plans;
use crate::transcode::dynamic::ser;
use crate::transcode::json;

/// A request message as both codecs should agree on it: only the fields that are set (a
/// default written explicitly is the same as none), NaN made comparable.
fn canonical(message: &DynamicMessage) -> DynamicMessage {
    let mut out = DynamicMessage::new(message.descriptor());
    for (field, value) in message.fields() {
        out.set_field(&field, canonical_value(value));
    }
    out
}

fn canonical_value(value: &Value) -> Value {
    match value {
        Value::F64(n) if n.is_nan() => Value::F64(f64::MIN_POSITIVE),
        Value::F32(n) if n.is_nan() => Value::F32(f32::MIN_POSITIVE),
        Value::Message(m) => Value::Message(canonical(m)),
        Value::List(items) => Value::List(items.iter().map(canonical_value).collect()),
        Value::Map(map) => Value::Map(
            map.iter()
                .map(|(k, v)| (k.clone(), canonical_value(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// A built request: its canonical message, or the error's debug form.
#[derive(PartialEq)]
struct Built(DynamicMessage);

impl std::fmt::Debug for Built {
    // `DynamicMessage`'s own `Debug` prints descriptors, endlessly for recursive messages.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        fn show(value: &Value, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            match value {
                Value::Message(m) => {
                    f.write_str("{")?;
                    for (field, value) in m.fields() {
                        write!(f, "{}: ", field.name())?;
                        show(value, f)?;
                        f.write_str(", ")?;
                    }
                    f.write_str("}")
                }
                Value::List(items) => {
                    f.write_str("[")?;
                    for item in items {
                        show(item, f)?;
                        f.write_str(", ")?;
                    }
                    f.write_str("]")
                }
                Value::Map(map) => {
                    let mut entries: Vec<_> = map.iter().collect();
                    entries.sort_by(|a, b| a.0.cmp(b.0));
                    f.write_str("{")?;
                    for (key, value) in entries {
                        write!(f, "{key:?} => ")?;
                        show(value, f)?;
                        f.write_str(", ")?;
                    }
                    f.write_str("}")
                }
                other => write!(f, "{other:?}"),
            }
        }
        show(&Value::Message(self.0.clone()), f)
    }
}

impl std::ops::Deref for Built {
    type Target = DynamicMessage;
    fn deref(&self) -> &DynamicMessage {
        &self.0
    }
}

type Outcome = Result<Built, String>;

fn outcome(input: &MessageDescriptor, built: Result<bytes::Bytes, GatewayError>) -> Outcome {
    match built {
        Ok(bytes) => {
            let message = DynamicMessage::decode(input.clone(), bytes).expect("a valid request");
            Ok(Built(canonical(&message)))
        }
        Err(e) => Err(format!("{e:?}")),
    }
}

/// One request through both codecs of `route`: path variables, query, body.
#[derive(Default)]
struct Request<'a> {
    bindings: &'a [(&'a str, &'a str)],
    query: Option<&'a str>,
    body: &'a str,
    ignore_unknown_query: bool,
}

fn build(
    codec: &dyn MethodCodec,
    route: &RouteSpec,
    request: &Request<'_>,
) -> Result<bytes::Bytes, GatewayError> {
    let paths: Vec<Vec<String>> = request
        .bindings
        .iter()
        .map(|(path, _)| path.split('.').map(String::from).collect())
        .collect();
    let bindings: Vec<Binding<'_>> = paths
        .iter()
        .zip(request.bindings)
        .map(|(path, (_, value))| Binding {
            field_path: path,
            value: value.to_string(),
        })
        .collect();
    codec.build_request(
        route,
        RequestParts {
            bindings: &bindings,
            query: request.query,
            body: RequestBody::Json(request.body.as_bytes()),
            ignore_unknown_query: request.ignore_unknown_query,
        },
    )
}

/// Asserts both codecs build the same message or fail the same way; returns the outcome.
fn same_request(route: &RouteSpec, codec: &DynamicCodec, request: &Request<'_>) -> Outcome {
    let input = method(&route.service, &route.method).input();
    let expected = outcome(&input, build(route.codec.as_ref(), route, request));
    let actual = outcome(&input, build(codec, route, request));
    assert_eq!(
        actual, expected,
        "{} {}: bindings {:?} query {:?} body {}",
        route.http_method, route.template, request.bindings, request.query, request.body
    );
    expected
}

fn body(route: &RouteSpec, codec: &DynamicCodec, body: &str) -> Outcome {
    same_request(
        route,
        codec,
        &Request {
            body,
            ..Request::default()
        },
    )
}

fn query(route: &RouteSpec, codec: &DynamicCodec, query: &str) -> Outcome {
    same_request(
        route,
        codec,
        &Request {
            query: Some(query),
            ..Request::default()
        },
    )
}

fn error_of(outcome: Outcome) -> String {
    outcome.expect_err("an error")
}

#[test]
fn whole_bodies_build_the_same_message() {
    let route = route("POST", "/v1/echo");
    let codec = dynamic(route);
    let accepted = [
        "",
        " \n\t ",
        "{}",
        r#"{"stringField": "a", "int32Field": 1, "int64Field": "-9223372036854775808",
            "uint32Field": "4294967295", "uint64Field": 18446744073709551615, "sint32Field": -2,
            "sint64Field": "3", "fixed32Field": 4, "fixed64Field": "5", "sfixed32Field": -6,
            "sfixed64Field": -7, "floatField": "NaN", "doubleField": "-Infinity",
            "boolField": true, "bytesField": "-_8", "enumField": "COLOR_GREEN",
            "nested": {"id": "n", "count": "3", "child": {"child": {}}},
            "repeatedString": ["a", "b"], "repeatedInt64": ["1", 2], "repeatedNested": [{}, {"id": "x"}],
            "repeatedEnum": [1, "COLOR_RED", 0], "labels": {"k": "v", "": ""},
            "choiceNested": {"id": "c"}, "optionalString": "",
            "timestamp": "2024-02-29T23:59:60.5+01:00", "duration": "-1.000000001s",
            "fieldMask": "displayName,a.bC", "stringWrapper": "", "int64Wrapper": "7",
            "boolWrapper": false, "structField": {"a": [1, "x", null, {"b": false}], "c": {}},
            "valueField": [1.5, "s"], "customJSON": "c", "name": "n", "path": "p",
            "fail": {"code": 3}, "delayMs": 0}"#,
        r#"{"string_field": "snake", "custom_json": "x", "repeated_nested": [], "enum_field": 2,
            "choice_number": 0, "optional_string": null, "float_field": 3.4e38,
            "double_field": 1e-320, "bytes_field": "aGk"}"#,
        r#"{"customJSON": "c", "timestamp": "1970-01-01T00:00:00Z", "duration": "0s", "fieldMask": ""}"#,
        // proto3 JSON: null is the default, whatever the field.
        r#"{"stringField": null, "int64Field": null, "labels": null, "repeatedString": null,
            "nested": null, "valueField": null, "optionalString": null,
            "choiceNumber": 5, "enumField": null, "timestamp": null, "stringWrapper": null,
            "structField": null, "repeatedNested": null, "bytesField": null, "floatField": null}"#,
        r#"{"nested": null, "nested": {"id": "second"}}"#,
        r#"{"int32Field": null, "int32Field": 4}"#,
        r#"{"labels": {"a": null, "b": "x"}}"#,
        r#"{"valueField": {"a": null}, "structField": {"n": null}}"#,
        r#"{"choiceNested": null, "choiceText": "t"}"#,
    ];
    for text in accepted {
        body(route, &codec, text).unwrap_or_else(|e| panic!("{text}: {e}"));
    }
}

#[test]
fn bad_whole_bodies_fail_the_same_way() {
    let route = route("POST", "/v1/echo");
    let codec = dynamic(route);
    let refused = [
        "{",
        "{}x",
        "[]",
        "null",
        "3",
        "\"s\"",
        r#"{"bogus": 1}"#,
        r#"{"nested": {"bogus": 1}}"#,
        r#"{"repeatedNested": [{}, {"bogus": 1}]}"#,
        r#"{"nested": {"child": {"child": {"bogus": 1}}}}"#,
        r#"{"int32Field": "abc"}"#,
        r#"{"int32Field": 2147483648}"#,
        r#"{"int32Field": 1.5}"#,
        r#"{"int32Field": 1.0}"#,
        r#"{"uint32Field": -1}"#,
        r#"{"int64Field": "9223372036854775808"}"#,
        r#"{"int64Field": "1e3"}"#,
        r#"{"boolField": 1}"#,
        r#"{"boolField": "true"}"#,
        r#"{"stringField": 5}"#,
        r#"{"floatField": "nope"}"#,
        r#"{"doubleField": 1e400}"#,
        r#"{"bytesField": "!!"}"#,
        r#"{"bytesField": 5}"#,
        r#"{"enumField": "COLOR_PURPLE"}"#,
        r#"{"enumField": 7}"#,
        r#"{"enumField": -1}"#,
        r#"{"enumField": 1.0}"#,
        r#"{"enumField": true}"#,
        r#"{"repeatedEnum": ["COLOR_RED", "BLUE"]}"#,
        r#"{"nested": 5}"#,
        r#"{"nested": []}"#,
        r#"{"nested": {"count": "x"}}"#,
        r#"{"repeatedString": "x"}"#,
        r#"{"repeatedString": [1]}"#,
        r#"{"repeatedString": [null]}"#,
        r#"{"repeatedNested": [null]}"#,
        r#"{"repeatedNested": {}}"#,
        r#"{"repeatedInt64": ["x"]}"#,
        r#"{"labels": []}"#,
        r#"{"labels": {"a": 1}}"#,
        r#"{"timestamp": "yesterday"}"#,
        r#"{"timestamp": "10000-01-01T00:00:00Z"}"#,
        r#"{"timestamp": 5}"#,
        r#"{"duration": "1.5"}"#,
        r#"{"duration": "1.0000000001s"}"#,
        r#"{"fieldMask": "a-b"}"#,
        r#"{"fieldMask": ["a"]}"#,
        r#"{"stringWrapper": 5}"#,
        r#"{"int64Wrapper": "x"}"#,
        r#"{"boolWrapper": {}}"#,
        r#"{"structField": []}"#,
        r#"{"structField": 1}"#,
        r#"{"valueField": 9007199254740993}"#,
        r#"{"stringField": "a", "string_field": "b"}"#,
        r#"{"choiceText": "a", "choiceNumber": 1}"#,
        r#"{"stringField": "\ud800"}"#,
    ];
    for text in refused {
        error_of(body(route, &codec, text));
    }
    // A repeated key fails the fast path, and the retry without refused nulls reads the body
    // through a `serde_json::Value`, which keeps the last one: accepted, by both.
    for text in [
        r#"{"stringField": "a", "stringField": "b"}"#,
        r#"{"nested": {}, "nested": {}}"#,
        r#"{"optionalString": "a", "optionalString": null}"#,
        r#"{"nested": {"id": "a", "id": "b"}}"#,
        // Refused at first (the oneof is given twice); the retry reads members in key order.
        r#"{"choiceText": "a", "choiceNested": null}"#,
        // An unknown member that is `null` is removed by the retry like a refused `null`.
        r#"{"fail": {"code": 1, "bogus": null}}"#,
    ] {
        body(route, &codec, text).unwrap_or_else(|e| panic!("{text}: {e}"));
    }
    let deep = format!("{}{}", r#"{"nested":"#.repeat(200), "}".repeat(200));
    error_of(body(route, &codec, &deep));
}

/// Every field of `Kitchen` (and of `Nested` inside it), by either name, given each of many
/// JSON values: both codecs take or refuse each alike.
#[test]
fn every_field_given_every_json_shape_builds_or_fails_the_same() {
    let route = route("POST", "/v1/echo");
    let codec = dynamic(route);
    let values = [
        "null",
        "0",
        "-1",
        "1.5",
        "1e400",
        "9223372036854775808",
        "18446744073709551616",
        "\"\"",
        "\"x\"",
        "\"1\"",
        "\"-1\"",
        "\"1.5\"",
        "\"NaN\"",
        "\"Infinity\"",
        "\"AQI=\"",
        "\"COLOR_RED\"",
        "\"1970-01-01T00:00:01Z\"",
        "\"1.5s\"",
        "\"a,bC\"",
        "\"9223372036854775808\"",
        "true",
        "[]",
        "[1]",
        "[\"COLOR_RED\", 2]",
        "[null]",
        "[{}]",
        "{}",
        "{\"a\": 1}",
        "{\"1\": \"x\"}",
        "{\"id\": \"i\"}",
    ];
    let descriptor = kitchen();
    let mut names = Vec::new();
    for field in descriptor.fields() {
        names.push(field.name().to_string());
        names.push(field.json_name().to_string());
    }
    for name in &names {
        for value in values {
            let _ = body(route, &codec, &format!("{{\"{name}\": {value}}}"));
            let _ = body(
                route,
                &codec,
                &format!("{{\"nested\": {{\"{name}\": {value}}}}}"),
            );
            let _ = body(
                route,
                &codec,
                &format!("{{\"{name}\": {value}, \"{name}\": {value}}}"),
            );
        }
    }
}

#[test]
fn a_body_field_binds_the_same_way() {
    let route = route("PUT", "/v1/echo/{string_field}/nested");
    let codec = dynamic(route);
    for text in [
        r#"{"id": "a", "child": {"count": 2}}"#,
        "{}",
        "",
        r#"{"bogus": 1}"#,
        r#"{"child": {"bogus": 1}}"#,
        "null",
        "[]",
        "5",
        "{",
        r#"{"count": null}"#,
    ] {
        let _ = same_request(
            route,
            &codec,
            &Request {
                bindings: &[("string_field", "s")],
                body: text,
                ..Request::default()
            },
        );
        let _ = same_request(
            route,
            &codec,
            &Request {
                bindings: &[("string_field", "s")],
                query: Some("int32Field=3&stringField=q"),
                body: text,
                ..Request::default()
            },
        );
    }
    // The query may not set the body's field, by either name.
    for text in ["nested.id=x", "nested=x", "nested.child.count=1"] {
        let error = error_of(query(route, &codec, text));
        assert!(error.contains("carried by the request body"), "{error}");
    }
}

/// Body fields of kinds no compiled binding uses: the dynamic codec against what the
/// generated binder of each kind calls (`codegen::table::bind_field`).
#[test]
fn body_fields_of_other_kinds_bind_as_generated_binders_do() {
    let descriptor = method("gatehouse.echo.v1.EchoService", "Echo");
    let route = route("POST", "/v1/echo");
    let same = |field: &str, body: &str, expected: Result<Kitchen, GatewayError>| {
        let codec = DynamicCodec::new(&descriptor, Some(field), None).expect("bindable");
        let built = codec.build_from_body(route, body);
        let expected = outcome(&kitchen(), expected.map(|k| k.encode_to_vec().into()));
        assert_eq!(outcome(&kitchen(), built), expected, "{field}: {body}");
    };
    let scalar = |field: &str, json: &str| {
        let mut kitchen = Kitchen::default();
        json::bind_scalar_body(&mut kitchen, field, json.as_bytes()).map(|()| kitchen)
    };
    for (field, bodies) in [
        (
            "string_field",
            &[
                "\"a\"",
                "5",
                "true",
                "null",
                "[\"a\", \"b\"]",
                "{}",
                "[[1]]",
                "x",
            ][..],
        ),
        (
            "repeated_int64",
            &["[1, \"2\", null]", "\"x\"", "1.5", "[]"],
        ),
        ("enum_field", &["\"COLOR_RED\"", "2", "7", "\"nope\""]),
        ("bool_field", &["true", "\"false\"", "1"]),
        ("double_field", &["\"NaN\"", "1e5", "-0.5"]),
        ("bytes_field", &["\"aGk\"", "\"!\""]),
        ("repeated_enum", &["[\"COLOR_GREEN\", 1]"]),
    ] {
        for text in bodies {
            same(field, text, scalar(field, text));
        }
    }
    for text in [
        r#"[{"id": "a"}, {}]"#,
        "[]",
        "{}",
        "null",
        r#"[{"bogus": 1}]"#,
        "[null]",
    ] {
        let expected =
            json::from_slice::<Vec<Nested>>(text.as_bytes(), "repeatedNested").map(|items| {
                Kitchen {
                    repeated_nested: items,
                    ..Kitchen::default()
                }
            });
        same("repeated_nested", text, expected);
    }
    for text in ["\"1970-01-01T00:00:01Z\"", "\"x\"", "null", "5"] {
        let expected =
            json::from_slice::<crate::wkt::Timestamp>(text.as_bytes(), "timestamp").map(|t| {
                Kitchen {
                    timestamp: Some(t),
                    ..Kitchen::default()
                }
            });
        same("timestamp", text, expected);
    }
    for text in [r#"{"a": [1, null]}"#, "[]", "null"] {
        let expected = json::from_slice::<pbjson_types::Struct>(text.as_bytes(), "structField")
            .map(|s| Kitchen {
                struct_field: Some(s),
                ..Kitchen::default()
            });
        same("struct_field", text, expected);
    }
    for refused in ["labels", "nope"] {
        assert!(
            DynamicCodec::new(&descriptor, Some(refused), None).is_err(),
            "{refused}"
        );
    }
}

impl DynamicCodec {
    /// `build_request` with only a body, for a codec made outside the compiled schema.
    fn build_from_body(&self, route: &RouteSpec, body: &str) -> Result<bytes::Bytes, GatewayError> {
        build(
            self,
            route,
            &Request {
                body,
                ..Request::default()
            },
        )
    }
}

#[test]
fn query_strings_build_the_same_message() {
    let route = route("GET", "/v1/echo/{string_field}");
    let codec = dynamic(route);
    let accepted = [
        "",
        "int32Field=5&repeated_string=a&repeated_string=b&nested.id=x&nested.child.count=3",
        "enumField=COLOR_RED&repeatedEnum=2&repeatedEnum=COLOR_GREEN&repeatedEnum=9&enum_field=7",
        "timestamp=1970-01-01T00:00:01.5Z&duration=-1.5s&fieldMask=displayName,a.bC",
        "stringWrapper=x&int64Wrapper=-5&boolWrapper=true&optionalString=",
        "choiceText=q&choice_text=r",
        "choiceNested.id=a&choiceNested.child.id=b",
        "floatField=NaN&doubleField=-Infinity&bytesField=aGk&uint64Field=18446744073709551615",
        "&&=2",
        "name=a+b%2Fc&path=%E2%82%AC",
        "customJSON=x&custom_json=y",
        "fail.code=3&fail.with_details=true&fail.withDetails=false",
    ];
    for text in accepted {
        query(route, &codec, text).unwrap_or_else(|e| panic!("{text}: {e}"));
    }
    let refused = [
        "bogus=1",
        "nested=x",
        "nested.bogus=1",
        "int32Field.x=1",
        "timestamp.seconds=1",
        "labels=x",
        "labels.k=x",
        "repeatedNested.id=x",
        "structField=x",
        "structField.a=x",
        "valueField=1",
        "choiceText=a&choiceNumber=1",
        "choiceText=a&choiceNested.id=x",
        "choiceNested.id=a&choiceText=x",
        "choiceNumber=x&choiceText=a",
        "enumField=COLOR_PURPLE",
        "boolField=1",
        "int32Field=2147483648",
        "floatField=1e40",
        "doubleField=inf",
        "bytesField=!!",
        "timestamp=yesterday",
        "duration=1.5",
        "fieldMask=a-b",
        "int64Wrapper=x",
        "nested.child.bogus=1",
        "nested.child=1",
        "a=%FF",
        "%FF=1",
    ];
    for text in refused {
        error_of(query(route, &codec, text));
    }
    // Unknown names may be ignored; other errors may not.
    for (text, ok) in [
        ("bogus=1&int32Field=2", true),
        ("nested.bogus=1", true),
        ("int32Field.x=1", false),
        ("nested=x", false),
        ("labels=x", false),
    ] {
        let result = same_request(
            route,
            &codec,
            &Request {
                query: Some(text),
                ignore_unknown_query: true,
                ..Request::default()
            },
        );
        assert_eq!(result.is_ok(), ok, "{text}");
    }
    // A nested message is created only once a field of it is set.
    let built = query(route, &codec, "").expect("empty");
    assert!(!built.has_field_by_name("nested"));
}

#[test]
fn a_query_may_not_set_a_whole_body_field() {
    let route = route("POST", "/v1/echo");
    let codec = dynamic(route);
    for (text, body) in [
        ("stringField=a", "{}"),
        ("bogus=1", ""),
        ("nested.id=x", "{}"),
    ] {
        let _ = same_request(
            route,
            &codec,
            &Request {
                query: Some(text),
                body,
                ..Request::default()
            },
        );
        let _ = same_request(
            route,
            &codec,
            &Request {
                query: Some(text),
                body,
                ignore_unknown_query: true,
                ..Request::default()
            },
        );
    }
}

#[test]
fn path_variables_win_and_fail_the_same_way() {
    let typed = route(
        "GET",
        "/v1/typed/{nested.id}/{int64_field}/{bool_field}/{enum_field}",
    );
    let codec = dynamic(typed);
    let variables = ["nested.id", "int64_field", "bool_field", "enum_field"];
    for values in [
        ["a", "-9223372036854775808", "true", "COLOR_RED"],
        ["a/b", "1", "false", "2"],
        ["", "0", "false", "99"],
        ["a", "x", "true", "COLOR_RED"],
        ["a", "1", "yes", "COLOR_RED"],
        ["a", "1", "true", "PURPLE"],
    ] {
        let bindings: Vec<(&str, &str)> = variables.iter().copied().zip(values).collect();
        for text in [None, Some("nested.id=q&int64Field=5&nested.count=2")] {
            let _ = same_request(
                typed,
                &codec,
                &Request {
                    bindings: &bindings,
                    query: text,
                    ..Request::default()
                },
            );
        }
    }
    let echo = route("POST", "/v1/{name=shelves/*}:archive");
    let codec = dynamic(echo);
    let won = same_request(
        echo,
        &codec,
        &Request {
            bindings: &[("name", "shelves/1")],
            body: r#"{"name": "from the body", "int32Field": 1}"#,
            ..Request::default()
        },
    )
    .expect("builds");
    assert_eq!(
        won.get_field_by_name("name")
            .and_then(|v| v.as_str().map(String::from)),
        Some("shelves/1".into())
    );
}

#[test]
fn build_from_fields_agrees_for_every_method() {
    // Per method: every field path of its request (two levels deep), by either name, given
    // each of a set of text values; then a few combinations.
    let texts = [
        "",
        "1",
        "-1",
        "x",
        "true",
        "1.5",
        "NaN",
        "AQI=",
        "COLOR_RED",
        "1970-01-01T00:00:01Z",
        "1.5s",
        "a,bC",
        "9223372036854775808",
        "USER_TIER_PRO",
        "ORDER_STATUS_PAID",
    ];
    for spec in schema().methods() {
        let descriptor = method(&spec.service, &spec.method);
        let codec = DynamicCodec::new(&descriptor, None, None).expect("codec");
        let input = descriptor.input();
        let mut paths: Vec<Vec<String>> = vec![vec!["nope".into()], vec![]];
        collect_paths(&input, &mut Vec::new(), 2, &mut paths);
        for path in &paths {
            for text in texts {
                let values = [text.to_string(), "2".to_string()];
                let fields: [(&[String], &[String]); 1] = [(&path[..], &values[..])];
                let expected = outcome(&input, spec.codec.build_from_fields(&fields));
                let actual = outcome(&input, codec.build_from_fields(&fields));
                assert_eq!(
                    actual,
                    expected,
                    "{}: {path:?} = {text}",
                    spec.qualified_method()
                );
            }
        }
    }
}

fn collect_paths(
    message: &MessageDescriptor,
    prefix: &mut Vec<String>,
    depth: usize,
    out: &mut Vec<Vec<String>>,
) {
    for field in message.fields() {
        for name in [field.name(), field.json_name()] {
            prefix.push(name.to_string());
            out.push(prefix.clone());
            prefix.push("nope".into());
            out.push(prefix.clone());
            prefix.pop();
            if let Kind::Message(nested) = field.kind()
                && depth > 0
                && !field.is_list()
                && !field.is_map()
            {
                collect_paths(&nested, prefix, depth - 1, out);
            }
            prefix.pop();
        }
    }
}

/// Every binding with a body: the JSON of a rich request message (as the dynamic codec writes
/// it; its rendering is checked against the compiled codec's above) read back by both codecs.
#[test]
fn rich_request_bodies_build_the_same_message_for_every_binding() {
    for route in schema().bindings().iter().filter(|r| r.body.is_some()) {
        let descriptor = method(&route.service, &route.method);
        let codec = dynamic(route);
        let (plans, roots) = Plans::build(&[&descriptor.input()]);
        for seed in 0..8 {
            let message = rich(&descriptor.input(), seed, 2, 3);
            let field = route.body.as_deref().filter(|b| *b != "*").map(|name| {
                let plan = plans.message(roots[0]);
                let field = plan.fields.iter().position(|f| f.descriptor.name() == name);
                field.expect("the body field")
            });
            let mut text = Vec::new();
            let written = ser::render(
                &plans,
                roots[0],
                field,
                &message.encode_to_vec(),
                &mut text,
                ser::JsonOptions::default(),
            );
            if written.is_err() {
                continue; // no JSON form (a non-finite number in a Value)
            }
            let text = String::from_utf8(text).expect("UTF-8");
            let _ = body(route, &codec, &text);
        }
    }
}
