//! JSON output options (`[server.json]`, `[[routes]] json`): fields holding their default
//! value, enums as numbers, proto field names. The defaults write what the generated code
//! writes; any option is written by the dynamic renderer, for compiled-in and run-time
//! services alike. Answers are compared as text: member order and number forms included.

mod common;

use common::{TestGateway, json_ok};
use serde_json::{Value, json};

const ECHO: &str = "gatehouse.echo.v1.EchoService";

/// A `Kitchen` with a few fields set: a default-valued oneof member and `optional` field, an
/// enum, a nested message, a map, a well-known type.
const PARTLY_FILLED: &str = r#"{"stringField":"s","int64Field":"5","enumField":"COLOR_RED",
    "nested":{"id":"n"},"repeatedEnum":["COLOR_GREEN"],"labels":{"k":"v"},"choiceNumber":0,
    "optionalString":"","timestamp":"2024-01-02T03:04:05Z"}"#;

/// `PARTLY_FILLED` as proto3 JSON is written by default.
const PARTLY_FILLED_DEFAULT: &str = r#"{"stringField":"s","int64Field":"5","enumField":"COLOR_RED","nested":{"id":"n"},"repeatedEnum":["COLOR_GREEN"],"labels":{"k":"v"},"optionalString":"","timestamp":"2024-01-02T03:04:05Z","choiceNumber":0}"#;

/// Answers the gateway wrote as text (200 only).
async fn text(response: reqwest::Response) -> String {
    let status = response.status();
    let body = response.text().await.unwrap();
    assert_eq!(status, 200, "{body}");
    body
}

async fn echo(gw: &TestGateway, body: &str) -> String {
    text(gw.post_json("/v1/echo", body).send().await.unwrap()).await
}

#[tokio::test]
async fn the_defaults_write_what_they_wrote_before() {
    let plain = TestGateway::start().await;
    assert_eq!(echo(&plain, PARTLY_FILLED).await, PARTLY_FILLED_DEFAULT);
    assert_eq!(echo(&plain, "{}").await, "{}");
    // Every option named and off is the same as none named.
    let off = TestGateway::with_config(
        "[server.json]\nemit_defaults = false\nenums_as_numbers = false\nproto_names = false\n",
    )
    .await;
    assert_eq!(echo(&off, PARTLY_FILLED).await, PARTLY_FILLED_DEFAULT);
    assert_eq!(echo(&off, "{}").await, "{}");
}

#[tokio::test]
async fn emit_defaults_writes_every_field_at_every_level() {
    let gw = TestGateway::with_config("[server.json]\nemit_defaults = true\n").await;
    // Unset oneof members and `optional` fields stay out; unset messages and well-known types
    // are null; 64-bit integers "0"; enums by their zero value's name.
    assert_eq!(
        echo(&gw, "{}").await,
        concat!(
            r#"{"stringField":"","int32Field":0,"int64Field":"0","uint32Field":0,"#,
            r#""uint64Field":"0","sint32Field":0,"sint64Field":"0","fixed32Field":0,"#,
            r#""fixed64Field":"0","sfixed32Field":0,"sfixed64Field":"0","floatField":0.0,"#,
            r#""doubleField":0.0,"boolField":false,"bytesField":"","#,
            r#""enumField":"COLOR_UNSPECIFIED","nested":null,"repeatedString":[],"#,
            r#""repeatedInt64":[],"repeatedNested":[],"repeatedEnum":[],"labels":{},"#,
            r#""timestamp":null,"duration":null,"fieldMask":null,"stringWrapper":null,"#,
            r#""int64Wrapper":null,"boolWrapper":null,"structField":null,"valueField":null,"#,
            r#""customJSON":"","name":"","path":"","fail":null,"delayMs":0}"#
        )
    );
    // Set members with presence are written, default value or not; nested messages get
    // their defaults too.
    assert_eq!(
        echo(&gw, PARTLY_FILLED).await,
        concat!(
            r#"{"stringField":"s","int32Field":0,"int64Field":"5","uint32Field":0,"#,
            r#""uint64Field":"0","sint32Field":0,"sint64Field":"0","fixed32Field":0,"#,
            r#""fixed64Field":"0","sfixed32Field":0,"sfixed64Field":"0","floatField":0.0,"#,
            r#""doubleField":0.0,"boolField":false,"bytesField":"","enumField":"COLOR_RED","#,
            r#""nested":{"id":"n","count":0,"child":null},"repeatedString":[],"#,
            r#""repeatedInt64":[],"repeatedNested":[],"repeatedEnum":["COLOR_GREEN"],"#,
            r#""labels":{"k":"v"},"optionalString":"","timestamp":"2024-01-02T03:04:05Z","#,
            r#""duration":null,"fieldMask":null,"stringWrapper":null,"int64Wrapper":null,"#,
            r#""boolWrapper":null,"structField":null,"valueField":null,"customJSON":"","#,
            r#""name":"","path":"","fail":null,"delayMs":0,"choiceNumber":0}"#
        )
    );
    // A `response_body` answer: the field's message with its defaults, set or not.
    let nested = gw.get("/v1/nested/x?nested.id=a").send().await.unwrap();
    assert_eq!(text(nested).await, r#"{"id":"a","count":0,"child":null}"#);
    let unset = gw.get("/v1/nested/x").send().await.unwrap();
    assert_eq!(text(unset).await, r#"{"id":"","count":0,"child":null}"#);
}

#[tokio::test]
async fn enums_as_numbers_and_proto_names() {
    let numbers = TestGateway::with_config("[server.json]\nenums_as_numbers = true\n").await;
    assert_eq!(
        echo(&numbers, PARTLY_FILLED).await,
        PARTLY_FILLED_DEFAULT
            .replace(r#""COLOR_RED""#, "1")
            .replace(r#"["COLOR_GREEN"]"#, "[2]")
    );
    let names = TestGateway::with_config("[server.json]\nproto_names = true\n").await;
    assert_eq!(
        echo(&names, PARTLY_FILLED).await,
        concat!(
            r#"{"string_field":"s","int64_field":"5","enum_field":"COLOR_RED","#,
            r#""nested":{"id":"n"},"repeated_enum":["COLOR_GREEN"],"labels":{"k":"v"},"#,
            r#""optional_string":"","timestamp":"2024-01-02T03:04:05Z","choice_number":0}"#
        )
    );
    // A custom json_name gives way to the proto name; requests still take both names.
    let custom = r#"{"customJSON":"a","repeated_string":["b"]}"#;
    assert_eq!(
        echo(&names, custom).await,
        r#"{"repeated_string":["b"],"custom_json":"a"}"#
    );
}

#[tokio::test]
async fn a_route_entry_overrides_the_server_key_by_key() {
    let gw = TestGateway::with_config(&format!(
        "[server.json]\nenums_as_numbers = true\n\
         [[routes]]\nmethod = \"{ECHO}/Echo\"\njson = {{ proto_names = true }}\n\
         [[routes]]\nroute = \"POST /v1/echo\"\njson = {{ proto_names = false }}\n\
         [[routes]]\nmethod = \"{ECHO}/EchoBook\"\njson = {{ enums_as_numbers = false }}\n"
    ))
    .await;
    // Both bindings of Echo: proto names from the first entry, the POST binding's later
    // entry turns them off again; enums as numbers from [server.json].
    let get = gw
        .get("/v1/echo/s?enumField=COLOR_RED")
        .send()
        .await
        .unwrap();
    assert_eq!(text(get).await, r#"{"string_field":"s","enum_field":1}"#);
    let post = r#"{"stringField":"s","enumField":"COLOR_RED"}"#;
    assert_eq!(
        echo(&gw, post).await,
        r#"{"stringField":"s","enumField":1}"#
    );
    // EchoBook: its entry turns enums back into names.
    let book = gw.get("/v1/shelves/1/books/2?enumField=COLOR_RED");
    assert_eq!(
        text(book.send().await.unwrap()).await,
        r#"{"enumField":"COLOR_RED","name":"shelves/1/books/2"}"#
    );
    // A route the entries do not select keeps the server's options.
    let file = gw.get("/v1/files/a/b?enumField=COLOR_GREEN");
    assert_eq!(
        text(file.send().await.unwrap()).await,
        r#"{"enumField":2,"path":"a/b"}"#
    );
}

#[tokio::test]
async fn a_stream_writes_each_message_with_the_options() {
    let gw = TestGateway::with_config(&format!(
        "[[routes]]\nmethod = \"{ECHO}/EchoStream\"\n\
         json = {{ proto_names = true, enums_as_numbers = true, emit_defaults = true }}\n"
    ))
    .await;
    let response = gw
        .get("/v1/stream/hi?int32Field=2&enumField=COLOR_GREEN&nested.count=3")
        .send()
        .await
        .unwrap();
    let body = text(response).await;
    let line = concat!(
        r#"{"string_field":"hi","int32_field":2,"int64_field":"0","uint32_field":0,"#,
        r#""uint64_field":"0","sint32_field":0,"sint64_field":"0","fixed32_field":0,"#,
        r#""fixed64_field":"0","sfixed32_field":0,"sfixed64_field":"0","float_field":0.0,"#,
        r#""double_field":0.0,"bool_field":false,"bytes_field":"","enum_field":2,"#,
        r#""nested":{"id":"","count":3,"child":null},"repeated_string":[],"#,
        r#""repeated_int64":[],"repeated_nested":[],"repeated_enum":[],"labels":{},"#,
        r#""timestamp":null,"duration":null,"field_mask":null,"string_wrapper":null,"#,
        r#""int64_wrapper":null,"bool_wrapper":null,"struct_field":null,"value_field":null,"#,
        r#""custom_json":"","name":"","path":"","fail":null,"delay_ms":0}"#
    );
    assert_eq!(body, format!("{line}\n{line}\n"));
}

#[tokio::test]
async fn an_aggregate_follows_its_route_and_its_references_still_read() {
    let aggregate = format!(
        "[[aggregates]]\nroute = \"GET /agg/json/{{id}}\"\n\
         [[aggregates.calls]]\nname = \"first\"\nmethod = \"{ECHO}/Echo\"\n\
         request = {{ string_field = \"{{id}}\", enum_field = \"COLOR_RED\", nested = {{ id = \"{{query.tag}}\", count = 7 }} }}\n\
         [[aggregates.calls]]\nname = \"second\"\nmethod = \"{ECHO}/EchoBook\"\n\
         request = {{ string_field = \"{{first.nested.id}}\", enum_field = \"{{first.enum_field}}\", int64_field = \"{{first.nested.count}}\" }}\n\
         [[aggregates.calls]]\nname = \"shown\"\nmethod = \"{ECHO}/Echo\"\n\
         request = {{ nested = {{ id = \"{{first.string_field}}\" }} }}\nresponse_body = \"nested\"\n\
         [[aggregates.calls]]\nname = \"left_out\"\nmethod = \"{ECHO}/Echo\"\nresponse_body = \"enum_field\"\n\
         [[aggregates]]\nroute = \"GET /agg/plain/{{id}}\"\n\
         [[aggregates.calls]]\nname = \"first\"\nmethod = \"{ECHO}/Echo\"\n\
         request = {{ string_field = \"{{id}}\", enum_field = \"COLOR_RED\" }}\n\
         [[aggregates.calls]]\nname = \"empty\"\nmethod = \"{ECHO}/Echo\"\nresponse_body = \"nested\"\n\
         [[routes]]\nroute = \"GET /agg/json/{{id}}\"\n\
         json = {{ proto_names = true, enums_as_numbers = true }}\n\
         [[routes]]\nroute = \"GET /agg/plain/{{id}}\"\njson = {{ emit_defaults = true }}\n"
    );
    let gw = TestGateway::with_config(&aggregate).await;
    let answer = gw.get("/agg/json/42?tag=t").send().await.unwrap();
    assert_eq!(
        text(answer).await,
        concat!(
            r#"{"first":{"string_field":"42","enum_field":1,"nested":{"id":"t","count":7}},"#,
            r#""second":{"string_field":"t","int64_field":"7","enum_field":1},"#,
            r#""shown":{"id":"42"},"left_out":0,"errors":[]}"#
        )
    );
    // The methods' own routes are not the aggregate's: they keep the default.
    let direct = gw
        .get("/v1/echo/42?enumField=COLOR_RED")
        .send()
        .await
        .unwrap();
    assert_eq!(
        text(direct).await,
        r#"{"stringField":"42","enumField":"COLOR_RED"}"#
    );
    // An unset message shown with emit_defaults: its default value, every field written.
    let plain: Value = json_ok(gw.get("/agg/plain/x").send().await.unwrap()).await;
    assert_eq!(
        plain["empty"],
        serde_json::json!({ "id": "", "count": 0, "child": null })
    );
    assert_eq!(plain["first"]["enumField"], "COLOR_RED");
    assert_eq!(plain["first"]["nested"], Value::Null);
    assert_eq!(plain["first"]["repeatedNested"], serde_json::json!([]));
}

#[tokio::test]
async fn the_openapi_document_describes_each_binding_as_it_is_written() {
    let gw = TestGateway::with_config(
        "[[routes]]\nroute = \"GET /v1/echo/{string_field}\"\n\
         json = { proto_names = true, enums_as_numbers = true, emit_defaults = true }\n\
         [[aggregates]]\nroute = \"GET /agg/json/{id}\"\n\
         [[aggregates.calls]]\nname = \"first\"\nmethod = \"gatehouse.echo.v1.EchoService/Echo\"\n\
         [[routes]]\nroute = \"GET /agg/json/{id}\"\njson = { proto_names = true }\n",
    )
    .await;
    let doc: Value = json_ok(gw.get("/openapi.json").send().await.unwrap()).await;
    let schemas = &doc["components"]["schemas"];
    let response = |path: &str, verb: &str| {
        doc["paths"][path][verb]["responses"]["200"]["content"]["application/json"]["schema"]
            ["$ref"]
            .clone()
    };
    let suffix = "-emit_defaults-enums_as_numbers-proto_names";
    assert_eq!(
        response("/v1/echo/{string_field}", "get"),
        format!("#/components/schemas/gatehouse.echo.v1.Kitchen{suffix}")
    );
    // The other binding of the same method, and the request body, keep the default schema.
    assert_eq!(
        response("/v1/echo", "post"),
        "#/components/schemas/gatehouse.echo.v1.Kitchen"
    );
    let kitchen = &schemas[format!("gatehouse.echo.v1.Kitchen{suffix}")];
    let required: Vec<&str> = kitchen["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    // Every field but the oneof members and the `optional` one, by proto name.
    let mut expected: Vec<&str> = vec![
        "string_field",
        "int32_field",
        "int64_field",
        "uint32_field",
        "uint64_field",
        "sint32_field",
        "sint64_field",
        "fixed32_field",
        "fixed64_field",
        "sfixed32_field",
        "sfixed64_field",
        "float_field",
        "double_field",
        "bool_field",
        "bytes_field",
        "enum_field",
        "nested",
        "repeated_string",
        "repeated_int64",
        "repeated_nested",
        "repeated_enum",
        "labels",
        "timestamp",
        "duration",
        "field_mask",
        "string_wrapper",
        "int64_wrapper",
        "bool_wrapper",
        "struct_field",
        "value_field",
        "custom_json",
        "name",
        "path",
        "fail",
        "delay_ms",
    ];
    expected.sort_unstable();
    let mut required = required;
    required.sort_unstable();
    assert_eq!(required, expected);
    let properties = &kitchen["properties"];
    assert_eq!(
        properties["enum_field"],
        json!({
            "type": "integer", "format": "int32", "enum": [0, 1, 2],
            "description": "COLOR_UNSPECIFIED = 0, COLOR_RED = 1, COLOR_GREEN = 2",
        })
    );
    assert_eq!(
        properties["nested"],
        json!({
            "anyOf": [
                { "$ref": format!("#/components/schemas/gatehouse.echo.v1.Nested{suffix}") },
                { "type": "null" },
            ],
            "description": "Messages, repeated fields and maps.",
        })
    );
    assert_eq!(
        properties["string_wrapper"],
        json!({ "anyOf": [{ "type": "string" }, { "type": "null" }] })
    );
    assert_eq!(
        properties["timestamp"],
        json!({
            "anyOf": [{ "type": "string", "format": "date-time" }, { "type": "null" }],
            "description": "Well-known types.",
        })
    );
    assert!(properties.get("stringField").is_none());
    assert_eq!(
        kitchen["allOf"][0]["oneOf"][0],
        json!({ "required": ["choice_text"] })
    );
    // An aggregate's calls are described with its route's options.
    let aggregate = &doc["paths"]["/agg/json/{id}"]["get"]["responses"]["200"]["content"]["application/json"]
        ["schema"]["properties"]["first"];
    assert_eq!(
        aggregate["$ref"],
        "#/components/schemas/gatehouse.echo.v1.Kitchen-proto_names"
    );
    assert!(
        schemas["gatehouse.echo.v1.Kitchen-proto_names"]["properties"]["string_field"].is_object()
    );
    // The default schema is as it was: JSON names, enums by name, nothing required.
    let plain = &schemas["gatehouse.echo.v1.Kitchen"];
    assert!(plain.get("required").is_none());
    assert_eq!(
        plain["properties"]["enumField"]["anyOf"][0],
        json!({ "type": "string", "enum": ["COLOR_UNSPECIFIED", "COLOR_RED", "COLOR_GREEN"] })
    );
    assert!(plain["properties"].get("enum_field").is_none());
}

#[test]
fn an_unknown_json_key_is_refused() {
    use gatehouse::config::Config;
    for text in [
        "[server.json]\nemit_default = true\n",
        "[[routes]]\nmethod = \"gatehouse.echo.v1.EchoService/*\"\njson = { camel_case = true }\n",
    ] {
        let error = Config::parse("test.toml", text).unwrap_err().to_string();
        assert!(error.contains("unknown field"), "{error}");
    }
    let error = Config::parse("test.toml", "[server.json]\nproto_names = \"yes\"\n")
        .unwrap_err()
        .to_string();
    assert!(error.contains("invalid type"), "{error}");
}
