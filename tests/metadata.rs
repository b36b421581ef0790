//! Headers ⇄ gRPC metadata: what reaches the backend, and what comes back.
//!
//! The echo backend returns every metadata entry it received as `echo-<name>`, which the
//! gateway hands back as the response header `Grpc-Metadata-Echo-<Name>`.

mod common;

use common::{TestGateway, json_ok};
use reqwest::header::HeaderMap;

/// What the backend received as metadata `name`, if anything.
fn seen_by_backend<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(format!("grpc-metadata-echo-{name}"))
        .map(|v| v.to_str().expect("ASCII metadata"))
}

#[tokio::test]
async fn grpc_metadata_headers_reach_the_backend_without_the_prefix() {
    let gw = TestGateway::start().await;
    let response = gw
        .get("/v1/echo/x")
        .header("Grpc-Metadata-Tenant", "acme")
        .header("Grpc-Metadata-Trace-Level", "debug")
        .send()
        .await
        .unwrap();
    let headers = response.headers().clone();
    json_ok(response).await;
    assert_eq!(seen_by_backend(&headers, "tenant"), Some("acme"));
    assert_eq!(seen_by_backend(&headers, "trace-level"), Some("debug"));
}

#[tokio::test]
async fn reserved_names_cannot_be_smuggled_as_metadata() {
    let gw = TestGateway::start().await;
    let response = gw
        .get("/v1/echo/x")
        .header("Grpc-Metadata-Grpc-Custom", "1")
        .header("Grpc-Metadata-Content-Type", "text/plain")
        .header("Grpc-Metadata-Te", "gzip")
        .send()
        .await
        .unwrap();
    let headers = response.headers().clone();
    json_ok(response).await;
    assert_eq!(seen_by_backend(&headers, "grpc-custom"), None);
    assert_eq!(
        seen_by_backend(&headers, "content-type"),
        Some("application/grpc")
    );
    assert_eq!(seen_by_backend(&headers, "te"), Some("trailers"));
}

#[tokio::test]
async fn allowlisted_headers_are_forwarded_and_others_are_not() {
    let gw = TestGateway::start().await;
    let traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let response = gw
        .get("/v1/echo/x")
        .header("Authorization", "Bearer t0ken")
        .header("X-Request-Id", "req-1")
        .header("Traceparent", traceparent)
        .header("Tracestate", "vendor=1")
        .header("Cookie", "session=secret")
        .header("X-Custom", "nope")
        .send()
        .await
        .unwrap();
    let headers = response.headers().clone();
    json_ok(response).await;
    assert_eq!(
        seen_by_backend(&headers, "authorization"),
        Some("Bearer t0ken")
    );
    assert_eq!(seen_by_backend(&headers, "x-request-id"), Some("req-1"));
    assert_eq!(seen_by_backend(&headers, "traceparent"), Some(traceparent));
    assert_eq!(seen_by_backend(&headers, "tracestate"), Some("vendor=1"));
    assert_eq!(seen_by_backend(&headers, "cookie"), None);
    assert_eq!(seen_by_backend(&headers, "x-custom"), None);
}

#[tokio::test]
async fn forward_headers_config_adds_to_the_allowlist() {
    let gw = TestGateway::with_config("[server]\nforward_headers = [\"x-custom\"]").await;
    let response = gw
        .get("/v1/echo/x")
        .header("X-Custom", "yes")
        .header("Cookie", "session=secret")
        .send()
        .await
        .unwrap();
    let headers = response.headers().clone();
    json_ok(response).await;
    assert_eq!(seen_by_backend(&headers, "x-custom"), Some("yes"));
    assert_eq!(seen_by_backend(&headers, "cookie"), None);
}

#[tokio::test]
async fn forwarded_for_and_host_are_added() {
    let gw = TestGateway::start().await;
    let response = gw.get("/v1/echo/x").send().await.unwrap();
    let headers = response.headers().clone();
    json_ok(response).await;
    assert_eq!(
        seen_by_backend(&headers, "x-forwarded-for"),
        Some("127.0.0.1")
    );
    let host = gw.addr.to_string();
    assert_eq!(
        seen_by_backend(&headers, "x-forwarded-host"),
        Some(host.as_str())
    );
}

#[tokio::test]
async fn forwarded_for_appends_the_peer_to_an_incoming_chain() {
    let gw = TestGateway::start().await;
    let response = gw
        .get("/v1/echo/x")
        .header("X-Forwarded-For", "203.0.113.7, 10.0.0.1")
        .send()
        .await
        .unwrap();
    let headers = response.headers().clone();
    json_ok(response).await;
    assert_eq!(
        seen_by_backend(&headers, "x-forwarded-for"),
        Some("203.0.113.7, 10.0.0.1, 127.0.0.1")
    );
}

#[tokio::test]
async fn backend_response_metadata_comes_back_prefixed() {
    let gw = TestGateway::start().await;
    let response = gw.get("/v1/echo/x").send().await.unwrap();
    assert_eq!(response.headers()["grpc-metadata-x-backend"], "echo");
    // gRPC's own headers and trailers stay behind.
    assert!(
        response
            .headers()
            .get("grpc-metadata-grpc-status")
            .is_none()
    );
    assert!(
        response
            .headers()
            .get("grpc-metadata-content-type")
            .is_none()
    );
    json_ok(response).await;
}

#[tokio::test]
async fn backend_metadata_comes_back_on_errors_too() {
    let gw = TestGateway::start().await;
    let response = gw
        .get("/v1/echo/x?fail.code=5&fail.message=gone")
        .header("Grpc-Metadata-Tenant", "acme")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["grpc-metadata-x-backend"], "echo");
    assert_eq!(seen_by_backend(response.headers(), "tenant"), Some("acme"));
    common::expect_status(response, 404, 5).await;
}

#[tokio::test]
async fn every_request_gets_a_request_id_the_backend_also_sees() {
    let gw = TestGateway::start().await;
    let response = gw.get("/v1/echo/x").send().await.unwrap();
    let id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(!id.is_empty());
    assert_eq!(
        seen_by_backend(response.headers(), "x-request-id"),
        Some(id.as_str())
    );

    let response = gw
        .get("/v1/echo/x")
        .header("X-Request-Id", "mine")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "mine");
}
