//! Request bodies: proto3 JSON in, proto3 JSON out, `body: "*"` and `body: "<field>"`,
//! `response_body`, and every way a body can be refused.

mod common;

use std::convert::Infallible;

use bytes::Bytes;
use common::{RawResponse, TestGateway, expect_error, field_violations, http1, json_ok};
use http_body_util::StreamBody;
use hyper::body::{Body as _, Frame};
use serde_json::json;

#[tokio::test]
async fn whole_body_accepts_every_json_form_and_renders_canonical_json() {
    let gw = TestGateway::start().await;
    let request = r#"{
        "stringField": "s",
        "int64Field": "-5",
        "sint64_field": 7,
        "uint64Field": 18446744073709551615,
        "fixed64Field": "9",
        "int32Field": "12",
        "doubleField": "1.5",
        "floatField": 2.5,
        "bool_field": true,
        "bytesField": "aGk=",
        "enumField": "COLOR_RED",
        "repeatedEnum": ["COLOR_GREEN", 1],
        "custom_json": "proto name",
        "nested": {"id": "n", "child": {"count": 2}},
        "repeatedNested": [{"id": "a"}, {"count": 1}],
        "repeated_int64": [1, "-2"],
        "labels": {"k": "v"},
        "choiceText": "t",
        "optionalString": "",
        "timestamp": "2024-01-02T04:04:05.25+01:00",
        "duration": "3s",
        "stringWrapper": "w",
        "int64Wrapper": 9,
        "boolWrapper": false,
        "structField": {"a": [1, "x", null, {"b": true}]},
        "valueField": "v"
    }"#;
    let body = json_ok(gw.post_json("/v1/echo", request).send().await.unwrap()).await;
    assert_eq!(
        body,
        json!({
            "stringField": "s",
            "int64Field": "-5",
            "sint64Field": "7",
            "uint64Field": "18446744073709551615",
            "fixed64Field": "9",
            "int32Field": 12,
            "doubleField": 1.5,
            "floatField": 2.5,
            "boolField": true,
            "bytesField": "aGk=",
            "enumField": "COLOR_RED",
            "repeatedEnum": ["COLOR_GREEN", "COLOR_RED"],
            "customJSON": "proto name",
            "nested": {"id": "n", "child": {"count": 2}},
            "repeatedNested": [{"id": "a"}, {"count": 1}],
            "repeatedInt64": ["1", "-2"],
            "labels": {"k": "v"},
            "choiceText": "t",
            "optionalString": "",
            "timestamp": "2024-01-02T03:04:05.250Z",
            "duration": "3s",
            "stringWrapper": "w",
            "int64Wrapper": "9",
            "boolWrapper": false,
            "structField": {"a": [1.0, "x", null, {"b": true}]},
            "valueField": "v",
        })
    );
}

#[tokio::test]
async fn timestamps_render_in_utc_with_z() {
    let gw = TestGateway::start().await;
    let request = r#"{"timestamp": "1999-12-31T23:00:00-02:00"}"#;
    let body = json_ok(gw.post_json("/v1/echo", request).send().await.unwrap()).await;
    assert_eq!(body["timestamp"], "2000-01-01T01:00:00Z");
}

#[tokio::test]
async fn null_means_unset_for_message_oneof_and_optional_fields() {
    let gw = TestGateway::start().await;
    let request = r#"{"nested": null, "choiceText": null, "optionalString": null,
                      "timestamp": null, "duration": null, "stringWrapper": null,
                      "structField": null, "fieldMask": null, "int32Field": 1}"#;
    let body = json_ok(gw.post_json("/v1/echo", request).send().await.unwrap()).await;
    assert_eq!(body, json!({"int32Field": 1}));
}

#[tokio::test]
async fn null_means_the_default_value_for_every_field() {
    let gw = TestGateway::start().await;
    let request = r#"{"stringField": null, "int32Field": null, "int64Field": null,
                      "boolField": null, "bytesField": null, "doubleField": null,
                      "enumField": null, "repeatedString": null, "repeatedNested": null,
                      "labels": null, "nested": null}"#;
    let body = json_ok(gw.post_json("/v1/echo", request).send().await.unwrap()).await;
    assert_eq!(body, json!({}));
}

#[tokio::test]
async fn empty_body_means_an_empty_message() {
    let gw = TestGateway::start().await;
    let response = gw
        .request("POST", "/v1/echo")
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(json_ok(response).await, json!({}));
}

#[tokio::test]
async fn unknown_field_is_refused_naming_its_path() {
    let gw = TestGateway::start().await;
    for (request, field) in [
        (r#"{"bogus": 1}"#, "bogus"),
        (r#"{"nested": {"id": "n", "bogus": 1}}"#, "nested.bogus"),
        (
            r#"{"repeatedNested": [{"id": "a"}, {"bogus": 1}]}"#,
            "repeatedNested[1].bogus",
        ),
    ] {
        let response = gw.post_json("/v1/echo", request).send().await.unwrap();
        let body = expect_error(response, 400, 3, "UNKNOWN_FIELD").await;
        assert_eq!(field_violations(&body)[0].0, field, "{request}: {body}");
    }
}

#[tokio::test]
async fn wrong_type_is_refused_naming_its_path() {
    let gw = TestGateway::start().await;
    for (request, field) in [
        (r#"{"int32Field": true}"#, "int32Field"),
        (r#"{"int32Field": 1.5}"#, "int32Field"),
        (r#"{"nested": {"count": "abc"}}"#, "nested.count"),
        (r#"{"enumField": "COLOR_PURPLE"}"#, "enumField"),
        (r#"{"timestamp": "yesterday"}"#, "timestamp"),
        (r#"{"stringField": 5}"#, "stringField"),
    ] {
        let response = gw.post_json("/v1/echo", request).send().await.unwrap();
        let body = expect_error(response, 400, 3, "INVALID_FIELD").await;
        assert_eq!(field_violations(&body)[0].0, field, "{request}: {body}");
    }
}

#[tokio::test]
async fn two_members_of_a_oneof_are_refused() {
    let gw = TestGateway::start().await;
    let response = gw
        .post_json("/v1/echo", r#"{"choiceText": "a", "choiceNumber": 1}"#)
        .send()
        .await
        .unwrap();
    let body = common::expect_status(response, 400, 3).await;
    assert!(
        body["message"].as_str().unwrap().contains("choiceNumber"),
        "{body}"
    );
}

#[tokio::test]
async fn syntax_errors_are_invalid_json() {
    let gw = TestGateway::start().await;
    for request in [r#"{"stringField": "#, "{,}", "not json", "[]"] {
        let response = gw.post_json("/v1/echo", request).send().await.unwrap();
        let body = expect_error(response, 400, 3, "INVALID_JSON").await;
        assert!(field_violations(&body).is_empty(), "{request}: {body}");
    }
}

#[tokio::test]
async fn field_body_binds_only_that_field_and_path_and_query_fill_the_rest() {
    let gw = TestGateway::start().await;
    let response = gw
        .send_json(
            "PUT",
            "/v1/echo/s/nested?int32Field=4",
            r#"{"id": "n", "count": 2}"#,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        json_ok(response).await,
        json!({"stringField": "s", "int32Field": 4, "nested": {"id": "n", "count": 2}})
    );

    // Field paths in errors are prefixed with the bound field.
    let response = gw
        .send_json("PUT", "/v1/echo/s/nested", r#"{"bogus": 1}"#)
        .send()
        .await
        .unwrap();
    let body = expect_error(response, 400, 3, "UNKNOWN_FIELD").await;
    assert_eq!(field_violations(&body)[0].0, "nested.bogus", "{body}");

    // The body's field cannot also come from the query.
    let response = gw
        .send_json("PUT", "/v1/echo/s/nested?nested.id=x", r#"{"id": "n"}"#)
        .send()
        .await
        .unwrap();
    let body = expect_error(response, 400, 3, "INVALID_FIELD").await;
    assert_eq!(field_violations(&body)[0].0, "nested.id", "{body}");
}

#[tokio::test]
async fn response_body_returns_just_that_field() {
    let gw = TestGateway::start().await;
    let response = gw
        .get("/v1/nested/s?nested.id=n&nested.count=3&int32Field=9")
        .send()
        .await
        .unwrap();
    assert_eq!(json_ok(response).await, json!({"id": "n", "count": 3}));
}

#[tokio::test]
async fn the_path_wins_over_the_body() {
    let gw = TestGateway::start().await;
    let response = gw
        .post_json(
            "/v1/shelves/7:archive",
            r#"{"name": "shelves/evil", "stringField": "kept"}"#,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        json_ok(response).await,
        json!({"name": "shelves/7", "stringField": "kept"})
    );
}

#[tokio::test]
async fn json_content_types_are_accepted() {
    let gw = TestGateway::start().await;
    for content_type in [
        "application/json",
        "application/json; charset=utf-8",
        "Application/JSON",
        "application/merge-patch+json",
    ] {
        let response = gw
            .request("POST", "/v1/echo")
            .header("content-type", content_type)
            .body(r#"{"stringField": "ok"}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(
            json_ok(response).await,
            json!({"stringField": "ok"}),
            "{content_type}"
        );
    }
}

#[tokio::test]
async fn other_content_types_are_unsupported() {
    let gw = TestGateway::start().await;
    // (application/grpc* is not REST at all: it goes to the gRPC ingress, tests/grpc_ingress.rs.
    // Forms are bodies too: tests/media.rs.)
    for content_type in ["text/plain", "application/xml; charset=utf-8", "json"] {
        let response = gw
            .request("POST", "/v1/echo")
            .header("content-type", content_type)
            .body(r#"{"stringField": "x"}"#)
            .send()
            .await
            .unwrap();
        let error = expect_error(response, 415, 3, "UNSUPPORTED_MEDIA_TYPE").await;
        assert_eq!(
            error["message"],
            format!(
                "unsupported content type {content_type:?}: send application/json, \
                 multipart/form-data or application/x-www-form-urlencoded"
            )
        );
    }
}

const ONE_KIB: &str = "[server]\nmax_body = \"1KiB\"";

/// `{"stringField": "xxx…"}` of exactly `len` bytes.
fn body_of_len(len: usize) -> String {
    let padding = len - r#"{"stringField": ""}"#.len();
    format!(r#"{{"stringField": "{}"}}"#, "x".repeat(padding))
}

#[tokio::test]
async fn body_at_the_limit_is_read() {
    let gw = TestGateway::with_config(ONE_KIB).await;
    let response = gw
        .post_json("/v1/echo", &body_of_len(1024))
        .send()
        .await
        .unwrap();
    let body = json_ok(response).await;
    assert_eq!(body["stringField"].as_str().unwrap().len(), 1024 - 19);
}

#[tokio::test]
async fn body_over_the_limit_with_content_length_is_refused() {
    let gw = TestGateway::with_config(ONE_KIB).await;
    let response = gw
        .post_json("/v1/echo", &body_of_len(1025))
        .send()
        .await
        .unwrap();
    expect_error(response, 413, 8, "BODY_TOO_LARGE").await;
}

#[tokio::test]
async fn chunked_body_over_the_limit_is_refused() {
    let gw = TestGateway::with_config(ONE_KIB).await;
    let json = body_of_len(3000);
    let chunks: Vec<Result<Frame<Bytes>, Infallible>> = json
        .as_bytes()
        .chunks(500)
        .map(|chunk| Ok(Frame::data(Bytes::copy_from_slice(chunk))))
        .collect();
    let body = StreamBody::new(futures_util::stream::iter(chunks));
    // No Content-Length announced: hyper sends a body of unknown length chunked.
    assert_eq!(body.size_hint().exact(), None);
    let request = hyper::Request::post("/v1/echo")
        .header("content-type", "application/json")
        .body(body)
        .unwrap();
    let response = RawResponse::from(http1::send(gw.addr, request).await.unwrap());
    assert_eq!(response.status, 413, "{response:?}");
    assert_eq!(response.body["code"], 8, "{response:?}");
    assert_eq!(
        common::error_reason(&response.body),
        Some("BODY_TOO_LARGE"),
        "{response:?}"
    );
}
