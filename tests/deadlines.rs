//! Deadlines: the client's `Grpc-Timeout`, capped by `[server] max_timeout`, or the route's
//! timeout when the client sends none; a call past its deadline is 504.
//!
//! Status codes only: how long anything took is never asserted.

mod common;

use std::time::Duration;

use common::{TestGateway, expect_error, json_ok};

const ECHO_ROUTE_100MS: &str =
    "[[routes]]\nmethod = \"gatehouse.echo.v1.EchoService/*\"\ntimeout = \"100ms\"";

/// The deadline the backend was sent (its `grpc-timeout` metadata, echoed back).
fn sent_deadline(response: &reqwest::Response) -> Duration {
    let value = response.headers()["grpc-metadata-echo-grpc-timeout"]
        .to_str()
        .unwrap();
    let (digits, unit) = value.split_at(value.len() - 1);
    let amount: u64 = digits.parse().unwrap();
    match unit {
        "H" => Duration::from_secs(amount * 3600),
        "M" => Duration::from_secs(amount * 60),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => panic!("grpc-timeout {value:?}"),
    }
}

#[tokio::test]
async fn client_timeout_shorter_than_the_call_is_504() {
    let gw = TestGateway::start().await;
    let response = gw
        .get("/v1/echo/x?delayMs=2000")
        .header("Grpc-Timeout", "100m")
        .send()
        .await
        .unwrap();
    expect_error(response, 504, 4, "DEADLINE_EXCEEDED").await;
}

#[tokio::test]
async fn client_timeout_is_sent_to_the_backend() {
    let gw = TestGateway::start().await;
    let response = gw
        .get("/v1/echo/x")
        .header("Grpc-Timeout", "3S")
        .send()
        .await
        .unwrap();
    let sent = sent_deadline(&response);
    assert!(
        sent <= Duration::from_secs(3) && sent > Duration::from_secs(1),
        "{sent:?}"
    );
    json_ok(response).await;
}

#[tokio::test]
async fn malformed_grpc_timeout_is_refused() {
    let gw = TestGateway::start().await;
    for value in ["10s", "abc", "1.5S", "-1S", "123456789S", "S", "10"] {
        let response = gw
            .get("/v1/echo/x")
            .header("Grpc-Timeout", value)
            .send()
            .await
            .unwrap();
        let body = expect_error(response, 400, 3, "INVALID_TIMEOUT").await;
        assert!(body["message"].as_str().unwrap().contains(value), "{body}");
    }
}

#[tokio::test]
async fn max_timeout_caps_what_the_client_asks_for() {
    let gw =
        TestGateway::with_config("[server]\ntimeout = \"200ms\"\nmax_timeout = \"200ms\"").await;
    let response = gw
        .get("/v1/echo/x?delayMs=2000")
        .header("Grpc-Timeout", "1H")
        .send()
        .await
        .unwrap();
    expect_error(response, 504, 4, "DEADLINE_EXCEEDED").await;

    let response = gw
        .get("/v1/echo/x")
        .header("Grpc-Timeout", "1H")
        .send()
        .await
        .unwrap();
    assert!(sent_deadline(&response) <= Duration::from_millis(200));
    json_ok(response).await;
}

#[tokio::test]
async fn route_timeout_applies_when_the_client_sends_none() {
    let gw = TestGateway::with_config(ECHO_ROUTE_100MS).await;
    let response = gw.get("/v1/echo/x?delayMs=2000").send().await.unwrap();
    expect_error(response, 504, 4, "DEADLINE_EXCEEDED").await;

    let response = gw.get("/v1/echo/x").send().await.unwrap();
    assert!(sent_deadline(&response) <= Duration::from_millis(100));
    json_ok(response).await;
}

#[tokio::test]
async fn route_timeout_still_applies_when_the_client_asks_for_longer() {
    let gw = TestGateway::with_config(ECHO_ROUTE_100MS).await;
    let response = gw
        .get("/v1/echo/x?delayMs=1000")
        .header("Grpc-Timeout", "5S")
        .send()
        .await
        .unwrap();
    expect_error(response, 504, 4, "DEADLINE_EXCEEDED").await;

    // And the shorter route deadline is what the backend is sent.
    let response = gw
        .get("/v1/echo/x")
        .header("Grpc-Timeout", "5S")
        .send()
        .await
        .unwrap();
    assert!(sent_deadline(&response) <= Duration::from_millis(100));
    json_ok(response).await;
}

#[tokio::test]
async fn default_server_timeout_is_sent_when_nothing_else_applies() {
    let gw = TestGateway::with_config("[server]\ntimeout = \"7s\"").await;
    let response = gw.get("/v1/echo/x").send().await.unwrap();
    let sent = sent_deadline(&response);
    assert!(
        sent <= Duration::from_secs(7) && sent > Duration::from_secs(3),
        "{sent:?}"
    );
    json_ok(response).await;
}
