//! Path templates: every google.api.http template form routes the request and binds the fields
//! it names, with the documented percent-decoding; bad paths are refused.

mod common;

use common::{TestGateway, expect_error, field_violations, json_ok};
use serde_json::json;

#[tokio::test]
async fn simple_variable_binds_its_field() {
    let gw = TestGateway::start().await;
    let body = json_ok(gw.get("/v1/echo/hello").send().await.unwrap()).await;
    assert_eq!(body, json!({"stringField": "hello"}));
}

#[tokio::test]
async fn multi_segment_variable_binds_the_whole_resource_name() {
    let gw = TestGateway::start().await;
    let body = json_ok(gw.get("/v1/shelves/1/books/2").send().await.unwrap()).await;
    assert_eq!(body, json!({"name": "shelves/1/books/2"}));
}

#[tokio::test]
async fn double_star_variable_binds_every_remaining_segment() {
    let gw = TestGateway::start().await;
    let body = json_ok(gw.get("/v1/files/a/b/c.txt").send().await.unwrap()).await;
    assert_eq!(body, json!({"path": "a/b/c.txt"}));
}

#[tokio::test]
async fn custom_verb_routes_and_binds_the_name_before_it() {
    let gw = TestGateway::start().await;
    let response = gw
        .post_json("/v1/shelves/7:archive", r#"{"stringField": "from body"}"#)
        .send()
        .await
        .unwrap();
    let body = json_ok(response).await;
    assert_eq!(
        body,
        json!({"name": "shelves/7", "stringField": "from body"})
    );
}

#[tokio::test]
async fn nested_and_typed_variables_parse_as_their_field_types() {
    let gw = TestGateway::start().await;
    let body = json_ok(
        gw.get("/v1/typed/abc/-5/true/COLOR_RED")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        body,
        json!({
            "nested": {"id": "abc"},
            "int64Field": "-5",
            "boolField": true,
            "enumField": "COLOR_RED",
        })
    );
}

#[tokio::test]
async fn enum_variable_accepts_a_number() {
    let gw = TestGateway::start().await;
    let body = json_ok(gw.get("/v1/typed/abc/7/false/2").send().await.unwrap()).await;
    assert_eq!(
        body,
        json!({"nested": {"id": "abc"}, "int64Field": "7", "enumField": "COLOR_GREEN"})
    );
}

#[tokio::test]
async fn enum_variable_with_an_unnamed_number_echoes_the_number() {
    let gw = TestGateway::start().await;
    let body = json_ok(gw.get("/v1/typed/abc/1/false/7").send().await.unwrap()).await;
    assert_eq!(
        body,
        json!({"nested": {"id": "abc"}, "int64Field": "1", "enumField": 7})
    );
}

#[tokio::test]
async fn unbound_star_segment_matches_any_single_segment() {
    let gw = TestGateway::start().await;
    let body = json_ok(gw.get("/v1/wild/anything/x").send().await.unwrap()).await;
    assert_eq!(body, json!({"stringField": "x"}));

    // `*` needs exactly one segment.
    let missing = gw.get("/v1/wild/x").send().await.unwrap();
    expect_error(missing, 404, 5, "ROUTE_NOT_FOUND").await;
}

#[tokio::test]
async fn custom_http_method_is_routed() {
    let gw = TestGateway::start().await;
    let response = gw.request("PURGE", "/v1/cache/key-1").send().await.unwrap();
    assert_eq!(json_ok(response).await, json!({"stringField": "key-1"}));
}

#[tokio::test]
async fn delete_routes_to_its_own_method() {
    let gw = TestGateway::start().await;
    let response = gw.request("DELETE", "/v1/echo/gone").send().await.unwrap();
    assert_eq!(json_ok(response).await, json!({"stringField": "gone"}));
}

#[tokio::test]
async fn unannotated_method_is_served_at_its_grpc_path_with_the_whole_body() {
    let gw = TestGateway::start().await;
    let response = gw
        .post_json(
            "/gatehouse.echo.v1.EchoService/EchoUnmapped",
            r#"{"stringField": "u", "int32Field": 3}"#,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        json_ok(response).await,
        json!({"stringField": "u", "int32Field": 3})
    );
}

#[tokio::test]
async fn single_segment_variable_decodes_every_escape() {
    let gw = TestGateway::start().await;
    let body = json_ok(gw.get("/v1/echo/a%2Fb%20c%3A").send().await.unwrap()).await;
    assert_eq!(body, json!({"stringField": "a/b c:"}));
}

#[tokio::test]
async fn multi_segment_variable_keeps_reserved_escapes() {
    let gw = TestGateway::start().await;
    let body = json_ok(gw.get("/v1/files/dir/a%2Fb%20c").send().await.unwrap()).await;
    assert_eq!(body, json!({"path": "dir/a%2Fb c"}));
}

#[tokio::test]
async fn dot_segments_are_refused() {
    let gw = TestGateway::start().await;
    for path in [
        "/v1/echo/../echo/x",
        "/v1/files/./a",
        "/v1/files/a/..",
        "/v1/files/%2e%2E/secret",
        "/v1/shelves/..:archive",
    ] {
        let response = gw.raw_get(path).await;
        assert_eq!(response.status, 400, "{path}: {response:?}");
        assert_eq!(response.body["code"], 3, "{path}: {response:?}");
        assert_eq!(
            common::error_reason(&response.body),
            Some("INVALID_PATH"),
            "{path}: {response:?}"
        );
    }
}

#[tokio::test]
async fn bad_typed_path_value_names_the_field() {
    let gw = TestGateway::start().await;
    let response = gw
        .get("/v1/typed/a/notanumber/true/1")
        .send()
        .await
        .unwrap();
    let body = expect_error(response, 400, 3, "INVALID_FIELD").await;
    let violations = field_violations(&body);
    assert_eq!(violations.len(), 1, "{body}");
    assert_eq!(violations[0].0, "int64_field", "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("int64_field"),
        "{body}"
    );

    let response = gw.get("/v1/typed/a/1/yes/1").send().await.unwrap();
    let body = expect_error(response, 400, 3, "INVALID_FIELD").await;
    assert_eq!(field_violations(&body)[0].0, "bool_field", "{body}");
}
