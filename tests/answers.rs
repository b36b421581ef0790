//! Success answers shaped per route: `[[routes]] status` (201, 202, 204 with no body) and
//! `location` (a `Location` header built from the response's fields), and a backend setting
//! one answer's status through the `x-http-code` response metadata (2xx and 3xx only).

mod common;

use common::{ECHO_SERVICE, TestGateway, check_refuses, json_ok};
use serde_json::{Value, json};

const CREATED: &str = "[[routes]]\nroute = \"POST /v1/echo\"\nstatus = 201\n\
                       location = \"/v1/echo/{string_field}?n={nested.count}\"\n\n\
                       [[routes]]\nroute = \"DELETE /v1/echo/{string_field}\"\nstatus = 204\n";

#[tokio::test]
async fn a_declared_status_and_location_dress_the_answer() {
    let gw = TestGateway::with_config(CREATED).await;
    let response = gw
        .post_json(
            "/v1/echo",
            r#"{"stringField": "a/b c", "nested": {"count": 7}}"#,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    // Each value is percent-encoded as one path segment.
    assert_eq!(response.headers()["location"], "/v1/echo/a%2Fb%20c?n=7");
    assert_eq!(response.headers()["content-type"], "application/json");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["stringField"], "a/b c");

    // The other binding of the same method keeps 200 and no Location.
    let response = gw.get("/v1/echo/plain").send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers().get("location").is_none());
}

#[tokio::test]
async fn an_empty_location_field_leaves_the_header_out() {
    let gw = TestGateway::with_config(CREATED).await;
    let response = gw
        .post_json("/v1/echo", r#"{"nested": {"count": 7}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    assert!(response.headers().get("location").is_none());
}

#[tokio::test]
async fn status_204_drops_the_body() {
    let gw = TestGateway::with_config(CREATED).await;
    let response = gw.request("DELETE", "/v1/echo/gone").send().await.unwrap();
    assert_eq!(response.status(), 204);
    assert!(response.headers().get("content-type").is_none());
    assert_eq!(response.bytes().await.unwrap().len(), 0);
    // Errors are errors still.
    let response = gw
        .request("DELETE", "/v1/echo/gone?fail.code=5&fail.message=no")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
}

#[tokio::test]
async fn a_backend_sets_one_answers_status_with_x_http_code() {
    let gw = TestGateway::with_config(CREATED).await;
    let with_code = |code: &str| {
        gw.get("/v1/echo/code")
            .header("grpc-metadata-want-http-code", code)
            .send()
    };
    let response = with_code("202").await.unwrap();
    assert_eq!(response.status(), 202);
    // The metadata sets the status; it is not shown as a header.
    assert!(
        response
            .headers()
            .get("grpc-metadata-x-http-code")
            .is_none()
    );
    assert_eq!(json_ok_any(response).await["stringField"], "code");

    let response = with_code("303").await.unwrap();
    assert_eq!(response.status(), 303);

    // A backend chooses among successes only: anything else is ignored.
    for ignored in ["500", "404", "199", "abc", "2000"] {
        let response = with_code(ignored).await.unwrap();
        assert_eq!(response.status(), 200, "x-http-code {ignored}");
        assert!(
            response
                .headers()
                .get("grpc-metadata-x-http-code")
                .is_none()
        );
    }

    // The backend's status wins over the declared one, 204 included.
    let response = gw
        .post_json("/v1/echo", r#"{"stringField": "x"}"#)
        .header("grpc-metadata-want-http-code", "204")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(response.bytes().await.unwrap().len(), 0);
}

/// The JSON body of a success answer, whatever its 2xx status.
async fn json_ok_any(response: reqwest::Response) -> Value {
    assert!(response.status().is_success(), "{}", response.status());
    response.json().await.unwrap()
}

#[tokio::test]
async fn an_aggregate_route_takes_a_declared_status() {
    let gw = TestGateway::with_config(
        "[[aggregates]]\nroute = \"POST /agg/make/{id}\"\n\
         [[aggregates.calls]]\nname = \"made\"\nmethod = \"gatehouse.echo.v1.EchoService/Echo\"\n\
         request = { string_field = \"{id}\" }\n\n\
         [[routes]]\nroute = \"POST /agg/make/{id}\"\nstatus = 202\n",
    )
    .await;
    let response = gw.request("POST", "/agg/make/7").send().await.unwrap();
    assert_eq!(response.status(), 202);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["made"]["stringField"], "7");
}

#[tokio::test]
async fn the_openapi_document_shows_the_declared_answers() {
    let gw = TestGateway::with_config(CREATED).await;
    let document = json_ok(gw.get("/openapi.json").send().await.unwrap()).await;
    let post = &document["paths"]["/v1/echo"]["post"]["responses"];
    assert!(post.get("200").is_none(), "{post}");
    assert_eq!(
        post["201"]["headers"]["Location"]["schema"],
        json!({"type": "string"})
    );
    assert!(post["201"]["content"]["application/json"].is_object());
    let delete = &document["paths"]["/v1/echo/{string_field}"]["delete"]["responses"];
    assert!(delete.get("200").is_none(), "{delete}");
    assert!(delete["204"].get("content").is_none(), "{delete}");
    let get = &document["paths"]["/v1/echo/{string_field}"]["get"]["responses"];
    assert!(get["200"].is_object());
}

fn served(extra: &str) -> String {
    format!(
        "[[backends]]\nname = \"echo\"\nservices = [\"{ECHO_SERVICE}\"]\n\
         endpoints = [\"http://127.0.0.1:1\"]\n\n{extra}"
    )
}

#[test]
fn check_refuses_answers_that_cannot_be() {
    let cases = [
        (
            "[[routes]]\nroute = \"POST /v1/echo\"\nstatus = 404\n",
            "routes[0].status: 404 is not a success status",
        ),
        (
            "[[routes]]\nroute = \"POST /v1/echo\"\nlocation = \"/v1/echo/{nope}\"\n",
            "routes[0].location: {nope}: \"nope\" is not a field of gatehouse.echo.v1.Kitchen",
        ),
        (
            "[[routes]]\nroute = \"POST /v1/echo\"\nlocation = \"/v1/echo/{nested}\"\n",
            "routes[0].location: {nested} is a message",
        ),
        (
            "[[routes]]\nroute = \"POST /v1/echo\"\nlocation = \"/v1/echo/{repeated_string}\"\n",
            "is repeated",
        ),
        (
            "[[routes]]\nroute = \"POST /v1/echo\"\nlocation = \"v1/echo/{string_field\"\n",
            "routes[0].location",
        ),
        (
            "[[routes]]\nroute = \"GET /v1/stream/{string_field}\"\nstatus = 201\n",
            "routes[0].status: applies to unary methods",
        ),
        (
            "[[aggregates]]\nroute = \"POST /agg/x\"\n[[aggregates.calls]]\nname = \"a\"\n\
             method = \"gatehouse.echo.v1.EchoService/Echo\"\n\n\
             [[routes]]\nroute = \"POST /agg/x\"\nlocation = \"/x/{string_field}\"\n",
            "routes[0].location: \"POST /agg/x\" is an aggregate",
        ),
    ];
    for (i, (extra, expected)) in cases.into_iter().enumerate() {
        check_refuses(&format!("answers-{i}"), &served(extra), expected);
    }
}
