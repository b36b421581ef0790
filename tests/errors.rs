//! Errors: routing failures, every backend gRPC code, message masking and detail filtering,
//! all in the one JSON shape `{"code", "message", "details"}`.

mod common;

use common::{
    STACK_TRACE, TestGateway, VIOLATION_DESCRIPTION, VIOLATION_FIELD, error_reason, expect_error,
    expect_status,
};
use serde_json::json;

/// POST /v1/echo asking the echo backend to fail with `code` and `message`.
async fn backend_failure(
    gw: &TestGateway,
    code: i32,
    message: &str,
    with_details: bool,
) -> reqwest::Response {
    let request = json!({
        "fail": {"code": code, "message": message, "withDetails": with_details},
    });
    gw.post_json("/v1/echo", &request.to_string())
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn unknown_path_is_route_not_found() {
    let gw = TestGateway::start().await;
    for path in ["/", "/nope", "/v1", "/v1/echo/a/b/c", "/v2/echo/x"] {
        let response = gw.get(path).send().await.unwrap();
        let body = expect_error(response, 404, 5, "ROUTE_NOT_FOUND").await;
        assert_eq!(body["details"][0]["domain"], "gatehouse", "{body}");
    }
}

#[tokio::test]
async fn known_path_with_another_method_is_405_with_allow() {
    let gw = TestGateway::start().await;
    let response = gw.get("/v1/echo").send().await.unwrap();
    assert_eq!(response.headers()["allow"], "POST");
    expect_error(response, 405, 12, "METHOD_NOT_ALLOWED").await;

    let response = gw.request("PATCH", "/v1/echo/x").send().await.unwrap();
    let allow = response.headers()["allow"].to_str().unwrap().to_string();
    let mut allowed: Vec<&str> = allow.split(',').map(str::trim).collect();
    allowed.sort_unstable();
    assert_eq!(allowed, ["DELETE", "GET"], "{allow}");
    expect_error(response, 405, 12, "METHOD_NOT_ALLOWED").await;
}

#[tokio::test]
async fn every_grpc_code_maps_to_its_http_status() {
    let gw = TestGateway::start().await;
    let expected = [
        (1, 499),
        (2, 500),
        (3, 400),
        (4, 504),
        (5, 404),
        (6, 409),
        (7, 403),
        (8, 429),
        (9, 400),
        (10, 409),
        (11, 400),
        (12, 501),
        (13, 500),
        (14, 503),
        (15, 500),
        (16, 401),
    ];
    for (code, http) in expected {
        let response = backend_failure(&gw, code, &format!("failure {code}"), false).await;
        let body = expect_status(response, http, code).await;
        // A backend status is passed on as it is: no gateway ErrorInfo is added.
        assert_eq!(body["details"], json!([]), "code {code}: {body}");
    }
}

#[tokio::test]
async fn backend_messages_pass_through() {
    let gw = TestGateway::start().await;
    for (code, http) in [(3, 400), (5, 404), (6, 409), (7, 403), (9, 400), (16, 401)] {
        let message = format!("widget 42 is out of stock ({code})");
        let response = backend_failure(&gw, code, &message, false).await;
        let body = expect_status(response, http, code).await;
        assert_eq!(body["message"], message.as_str(), "{body}");
    }
}

#[tokio::test]
async fn unknown_internal_and_data_loss_messages_are_masked() {
    let gw = TestGateway::start().await;
    for (code, http) in [(2, 500), (13, 500), (15, 500)] {
        let response = backend_failure(&gw, code, "db password is hunter2", false).await;
        let body = expect_status(response, http, code).await;
        assert_eq!(body["message"], "internal error", "{body}");
        assert!(!body.to_string().contains("hunter2"), "{body}");
    }
}

#[tokio::test]
async fn bad_request_details_are_kept_and_debug_info_dropped() {
    let gw = TestGateway::start().await;
    let response = backend_failure(&gw, 3, "invalid request", true).await;
    let body = expect_status(response, 400, 3).await;
    assert_eq!(
        body,
        json!({
            "code": 3,
            "message": "invalid request",
            "details": [{
                "@type": "type.googleapis.com/google.rpc.BadRequest",
                "fieldViolations": [{
                    "field": VIOLATION_FIELD,
                    "description": VIOLATION_DESCRIPTION,
                }],
            }],
        })
    );
    assert_eq!(error_reason(&body), None);
    assert!(!body.to_string().contains(STACK_TRACE), "{body}");
}

#[tokio::test]
async fn details_of_a_masked_status_still_drop_debug_info() {
    let gw = TestGateway::start().await;
    let response = backend_failure(&gw, 13, "panic in handler", true).await;
    let body = expect_status(response, 500, 13).await;
    assert_eq!(body["message"], "internal error");
    let text = body.to_string();
    assert!(!text.contains(STACK_TRACE), "{body}");
    assert!(!text.contains("DebugInfo"), "{body}");
}

#[tokio::test]
async fn bidi_streaming_route_is_not_served_over_rest() {
    let gw = TestGateway::start().await;
    // A bidi method is served over a WebSocket on its binding (tests/websocket.rs), never as
    // a plain request on it.
    let response = gw.post_json("/v1/chat/room1", "{}").send().await.unwrap();
    let body = expect_error(response, 426, 12, "WEBSOCKET_REQUIRED").await;
    let message = body["message"].as_str().unwrap();
    assert!(message.contains("bidi-streaming"), "{body}");
    assert!(message.contains("WebSocket"), "{body}");
}

/// What an HTTP/2 client gets for `method path`: the status, the declared length and the
/// number of body bytes that came.
async fn over_http2(gw: &TestGateway, method: &str, path: &str) -> (u16, usize, usize) {
    let tcp = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    let (client, connection) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(connection);
    let mut client = client.ready().await.unwrap();
    let request = http::Request::builder()
        .method(method)
        .uri(gw.url(path))
        .body(())
        .unwrap();
    let (response, _) = client.send_request(request, true).unwrap();
    let response = response.await.unwrap();
    let status = response.status().as_u16();
    let declared = response.headers()["content-length"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let mut body = response.into_body();
    let mut received = 0;
    while let Some(chunk) = body.data().await {
        let length = chunk.unwrap().len();
        received += length;
        // The document is larger than HTTP/2's initial window.
        body.flow_control().release_capacity(length).unwrap();
    }
    (status, declared, received)
}

/// Found by the `whole_stack` fuzz target (fuzz/regressions/whole_stack/head_error_body): a
/// HEAD answer is the GET answer's headers with no body, success or error. hyper leaves the
/// body out on HTTP/1.1 by itself but not on HTTP/2, so this asks over HTTP/2.
#[tokio::test]
async fn head_answers_have_the_get_answers_length_and_no_body_over_http2() {
    let gw = TestGateway::start().await;
    for (path, status) in [
        ("/openapi.json", 200),
        ("/docs", 200),
        ("/docs/swagger-ui.css", 200),
        ("/v1/nowhere", 404),
    ] {
        let (got, length, received) = over_http2(&gw, "GET", path).await;
        assert_eq!((got, received), (status, length), "GET {path}");
        assert!(length > 0, "GET {path}");
        let head = over_http2(&gw, "HEAD", path).await;
        assert_eq!(head, (status, length, 0), "HEAD {path}");
    }
    // Generated routes answer HEAD with the JSON 405: its length, without it.
    let (status, length, received) = over_http2(&gw, "HEAD", "/v1/echo/hi").await;
    assert_eq!((status, received), (405, 0));
    assert!(length > 0);
}
