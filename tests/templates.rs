//! Path templates: every google.api.http template form binds the fields it names.

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
