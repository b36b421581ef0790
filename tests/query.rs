//! Query parameters: every field kind the proto3 JSON mapping has a text form for can be set
//! from the query string, by proto name or JSON name, dotted into nested messages.

mod common;

use common::{TestGateway, expect_error, field_violations, json_ok};
use serde_json::{Value, json};

/// `GET /v1/echo/q?<query>` and the echoed request, which must be 200.
async fn echo_query(gw: &TestGateway, query: &str) -> Value {
    let response = gw.get(&format!("/v1/echo/q?{query}")).send().await.unwrap();
    json_ok(response).await
}

#[tokio::test]
async fn every_scalar_kind_parses_from_its_text_form() {
    let gw = TestGateway::start().await;
    let body = echo_query(
        &gw,
        "int32Field=-3&int64Field=-9223372036854775808&uint32Field=4294967295\
         &uint64Field=18446744073709551615&sint32Field=-6&sint64Field=-7&fixed32Field=8\
         &fixed64Field=9&sfixed32Field=-10&sfixed64Field=-11&floatField=1.5&doubleField=-2.25\
         &boolField=true&bytesField=aGk%3D",
    )
    .await;
    assert_eq!(
        body,
        json!({
            "stringField": "q",
            "int32Field": -3,
            "int64Field": "-9223372036854775808",
            "uint32Field": 4294967295u32,
            "uint64Field": "18446744073709551615",
            "sint32Field": -6,
            "sint64Field": "-7",
            "fixed32Field": 8,
            "fixed64Field": "9",
            "sfixed32Field": -10,
            "sfixed64Field": "-11",
            "floatField": 1.5,
            "doubleField": -2.25,
            "boolField": true,
            "bytesField": "aGk=",
        })
    );
}

#[tokio::test]
async fn float_specials_parse_from_text() {
    // Accepted as proto3 JSON spells them; how they render is checked by
    // `floats_take_nan_and_infinities`.
    let gw = TestGateway::start().await;
    for query in [
        "doubleField=NaN",
        "floatField=Infinity",
        "doubleField=-Infinity",
    ] {
        let response = gw.get(&format!("/v1/echo/q?{query}")).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 200, "{query}");
    }
}

#[tokio::test]
async fn floats_take_nan_and_infinities() {
    let gw = TestGateway::start().await;
    let body = echo_query(&gw, "doubleField=NaN&floatField=Infinity").await;
    assert_eq!(body["doubleField"], "NaN");
    assert_eq!(body["floatField"], "Infinity");
    let body = echo_query(&gw, "doubleField=-Infinity").await;
    assert_eq!(body["doubleField"], "-Infinity");
}

#[tokio::test]
async fn bytes_take_standard_and_url_safe_base64() {
    let gw = TestGateway::start().await;
    // 0xfb 0xff: "+/8=" in the standard alphabet, "-_8" URL-safe without padding.
    let standard = echo_query(&gw, "bytesField=%2B%2F8%3D").await;
    assert_eq!(standard["bytesField"], "+/8=");
    let url_safe = echo_query(&gw, "bytesField=-_8").await;
    assert_eq!(url_safe["bytesField"], "+/8=");
}

#[tokio::test]
async fn out_of_range_and_malformed_numbers_are_refused_naming_the_parameter() {
    let gw = TestGateway::start().await;
    for (query, field) in [
        ("int32Field=2147483648", "int32Field"),
        ("uint32_field=-1", "uint32_field"),
        ("int64Field=1.5", "int64Field"),
        ("doubleField=inf", "doubleField"),
        ("boolField=1", "boolField"),
        ("bytesField=!!", "bytesField"),
        ("enumField=COLOR_PURPLE", "enumField"),
    ] {
        let response = gw.get(&format!("/v1/echo/q?{query}")).send().await.unwrap();
        let body = expect_error(response, 400, 3, "INVALID_FIELD").await;
        assert_eq!(field_violations(&body)[0].0, field, "{query}: {body}");
    }
}

#[tokio::test]
async fn enums_take_names_and_numbers() {
    let gw = TestGateway::start().await;
    let body = echo_query(
        &gw,
        "enumField=COLOR_GREEN&repeatedEnum=COLOR_RED&repeatedEnum=2",
    )
    .await;
    assert_eq!(body["enumField"], "COLOR_GREEN");
    assert_eq!(body["repeatedEnum"], json!(["COLOR_RED", "COLOR_GREEN"]));
    let body = echo_query(&gw, "enum_field=1").await;
    assert_eq!(body["enumField"], "COLOR_RED");
}

#[tokio::test]
async fn repeated_fields_take_one_value_per_repetition() {
    let gw = TestGateway::start().await;
    let body = echo_query(
        &gw,
        "repeatedString=a&repeatedString=b&repeated_int64=1&repeated_int64=-2",
    )
    .await;
    assert_eq!(body["repeatedString"], json!(["a", "b"]));
    assert_eq!(body["repeatedInt64"], json!(["1", "-2"]));
}

#[tokio::test]
async fn dotted_paths_set_nested_fields() {
    let gw = TestGateway::start().await;
    let body = echo_query(
        &gw,
        "nested.id=n1&nested.child.count=4&nested.child.child.id=deep",
    )
    .await;
    assert_eq!(
        body["nested"],
        json!({"id": "n1", "child": {"count": 4, "child": {"id": "deep"}}})
    );
}

#[tokio::test]
async fn json_name_and_proto_name_both_work() {
    let gw = TestGateway::start().await;
    assert_eq!(echo_query(&gw, "customJSON=a").await["customJSON"], "a");
    assert_eq!(echo_query(&gw, "custom_json=b").await["customJSON"], "b");
    assert_eq!(echo_query(&gw, "int32_field=7").await["int32Field"], 7);
}

#[tokio::test]
async fn a_oneof_member_can_be_set() {
    let gw = TestGateway::start().await;
    assert_eq!(echo_query(&gw, "choiceText=t").await["choiceText"], "t");
    assert_eq!(echo_query(&gw, "choice_number=5").await["choiceNumber"], 5);
    assert_eq!(
        echo_query(&gw, "choiceNested.id=z").await["choiceNested"],
        json!({"id": "z"})
    );
}

#[tokio::test]
async fn setting_two_members_of_a_oneof_is_refused() {
    let gw = TestGateway::start().await;
    let response = gw
        .get("/v1/echo/q?choiceText=t&choiceNumber=5")
        .send()
        .await
        .unwrap();
    let body = expect_error(response, 400, 3, "INVALID_FIELD").await;
    assert_eq!(field_violations(&body)[0].0, "choiceNumber", "{body}");
}

#[tokio::test]
async fn proto3_optional_keeps_presence_of_an_empty_value() {
    let gw = TestGateway::start().await;
    let body = echo_query(&gw, "optionalString=").await;
    assert_eq!(body, json!({"stringField": "q", "optionalString": ""}));
    let absent = echo_query(&gw, "").await;
    assert_eq!(absent, json!({"stringField": "q"}));
}

#[tokio::test]
async fn well_known_types_parse_from_their_json_strings() {
    let gw = TestGateway::start().await;
    let body = echo_query(
        &gw,
        "timestamp=2024-01-02T04:04:05.5%2B01:00&duration=1.5s&stringWrapper=hi&int64Wrapper=-5&boolWrapper=false",
    )
    .await;
    assert_eq!(body["timestamp"], "2024-01-02T03:04:05.500Z");
    assert_eq!(body["duration"], "1.500s");
    assert_eq!(body["stringWrapper"], "hi");
    assert_eq!(body["int64Wrapper"], "-5");
    // A wrapper holding the default value is still present.
    assert_eq!(body["boolWrapper"], false);

    let response = gw.get("/v1/echo/q?duration=1.5").send().await.unwrap();
    let body = expect_error(response, 400, 3, "INVALID_FIELD").await;
    assert_eq!(field_violations(&body)[0].0, "duration", "{body}");
}

#[tokio::test]
async fn field_mask_parses_and_renders_as_a_comma_separated_string() {
    let gw = TestGateway::start().await;
    let body = echo_query(&gw, "fieldMask=nested.id,customJson").await;
    assert_eq!(body["fieldMask"], "nested.id,customJson");
}

#[tokio::test]
async fn unknown_parameter_is_refused_naming_it() {
    let gw = TestGateway::start().await;
    let response = gw.get("/v1/echo/q?bogus=1").send().await.unwrap();
    let body = expect_error(response, 400, 3, "UNKNOWN_FIELD").await;
    assert_eq!(field_violations(&body)[0].0, "bogus", "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("bogus"),
        "{body}"
    );

    let response = gw.get("/v1/echo/q?nested.bogus=1").send().await.unwrap();
    let body = expect_error(response, 400, 3, "UNKNOWN_FIELD").await;
    assert_eq!(field_violations(&body)[0].0, "nested.bogus", "{body}");
}

#[tokio::test]
async fn unknown_parameters_can_be_ignored_by_config() {
    let gw = TestGateway::with_config("[server]\nignore_unknown_query_parameters = true").await;
    let body = echo_query(&gw, "bogus=1&int32Field=3").await;
    assert_eq!(body, json!({"stringField": "q", "int32Field": 3}));
}

#[tokio::test]
async fn an_ignored_nested_parameter_leaves_the_message_unset() {
    let gw = TestGateway::with_config("[server]\nignore_unknown_query_parameters = true").await;
    let body = echo_query(&gw, "nested.bogus=2&int32Field=3").await;
    assert_eq!(body, json!({"stringField": "q", "int32Field": 3}));
}

#[tokio::test]
async fn fields_without_a_text_form_are_refused() {
    let gw = TestGateway::start().await;
    for (query, field) in [
        ("labels.k=v", "labels.k"),
        ("labels=v", "labels"),
        ("repeatedNested.id=1", "repeatedNested.id"),
        ("structField=x", "structField"),
    ] {
        let response = gw.get(&format!("/v1/echo/q?{query}")).send().await.unwrap();
        let body = common::expect_status(response, 400, 3).await;
        assert_eq!(field_violations(&body)[0].0, field, "{query}: {body}");
    }
}

#[tokio::test]
async fn plus_and_percent_20_decode_to_a_space() {
    let gw = TestGateway::start().await;
    let body = echo_query(&gw, "customJSON=a+b%20c&repeatedString=%2B").await;
    assert_eq!(body["customJSON"], "a b c");
    assert_eq!(body["repeatedString"], json!(["+"]));
}

#[tokio::test]
async fn the_path_wins_over_the_query() {
    let gw = TestGateway::start().await;
    let body = json_ok(gw.get("/v1/echo/p?stringField=q").send().await.unwrap()).await;
    assert_eq!(body, json!({"stringField": "p"}));
}

#[tokio::test]
async fn a_query_parameter_for_a_field_the_body_carries_is_refused() {
    let gw = TestGateway::start().await;
    let response = gw
        .post_json("/v1/echo?int32Field=1", "{}")
        .send()
        .await
        .unwrap();
    let body = expect_error(response, 400, 3, "INVALID_FIELD").await;
    assert_eq!(field_violations(&body)[0].0, "int32Field", "{body}");
}
