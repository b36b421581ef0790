//! Assertions on responses: proto3 JSON success bodies and the one error shape
//! `{"code", "message", "details"}`.

use serde_json::Value;

/// Asserts 200 with a JSON body and returns the body.
pub async fn json_ok(response: reqwest::Response) -> Value {
    let (status, body) = read(response).await;
    assert_eq!(status, 200, "expected 200, got {status}: {body}");
    body
}

/// Asserts the HTTP status, the body `code` and the gateway's ErrorInfo `reason`; returns the
/// body for further checks.
pub async fn expect_error(
    response: reqwest::Response,
    http: u16,
    code: i32,
    reason: &str,
) -> Value {
    let body = expect_status(response, http, code).await;
    assert_eq!(
        error_reason(&body),
        Some(reason),
        "expected ErrorInfo reason {reason}: {body}"
    );
    body
}

/// Asserts the HTTP status and the body `code` of an error (with or without ErrorInfo), and
/// that it has the error shape; returns the body.
pub async fn expect_status(response: reqwest::Response, http: u16, code: i32) -> Value {
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap_or_default().to_string());
    let (status, body) = read(response).await;
    assert_eq!(status, http, "expected HTTP {http}, got {status}: {body}");
    assert_eq!(content_type.as_deref(), Some("application/json"), "{body}");
    assert_eq!(body["code"], code, "expected code {code}: {body}");
    assert!(body["message"].is_string(), "message: {body}");
    assert!(body["details"].is_array(), "details: {body}");
    body
}

/// The `reason` of the `google.rpc.ErrorInfo` detail, if there is one.
pub fn error_reason(body: &Value) -> Option<&str> {
    details_of(body, "google.rpc.ErrorInfo")
        .next()
        .and_then(|d| d["reason"].as_str())
}

/// `(field, description)` of every `google.rpc.BadRequest` field violation.
pub fn field_violations(body: &Value) -> Vec<(String, String)> {
    details_of(body, "google.rpc.BadRequest")
        .flat_map(|d| d["fieldViolations"].as_array().cloned().unwrap_or_default())
        .map(|v| {
            (
                v["field"].as_str().unwrap_or_default().to_string(),
                v["description"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn details_of<'a>(body: &'a Value, type_name: &'a str) -> impl Iterator<Item = &'a Value> {
    let url = format!("type.googleapis.com/{type_name}");
    body["details"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(move |d| d["@type"] == url.as_str())
}

async fn read(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.expect("read the response body");
    let body = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("HTTP {status} body is not JSON ({e}): {text:?}"));
    (status, body)
}
