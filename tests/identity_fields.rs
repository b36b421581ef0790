//! Request fields set from the caller's verified credential (`[[routes]] from_identity`): the
//! echo backend answers with the request it received, so each test sees the value the backend
//! got; a request that contradicts the credential is refused with 403 and, as the echo server's
//! record of request ids shows, never reaches the backend. REST, aggregates and native gRPC
//! apply the same rule.

mod common;

use common::tokens::{JwksFile, claims, sign};
use common::{ECHO_SERVICE, TestGateway, check_refuses, expect_error, json_ok, received_request};
use gatehouse::proto::gatehouse::echo::v1::Kitchen;
use gatehouse::proto::gatehouse::echo::v1::echo_service_client::EchoServiceClient;
use jsonwebtoken::Algorithm;
use serde_json::Value;
use sha2::Digest;
use tonic::Code;
use tonic::metadata::MetadataValue;

/// `string_field` is the token's `tenant` claim and `int64_field` its `org` number, on every
/// binding of `Echo`; the aggregate at `/agg/{id}` calls `Echo` with `string_field = {id}`.
fn pinned_config(jwks: &JwksFile) -> String {
    let key = hex::encode(sha2::Sha256::digest(b"key-of-robot"));
    format!(
        "{}\n[[auth.api_keys]]\nname = \"robot\"\nsha256 = \"{key}\"\n\n\
         [[routes]]\nmethod = \"gatehouse.echo.v1.EchoService/Echo\"\n\
         from_identity = {{ string_field = \"claim:tenant\", int64_field = \"claim:org\" }}\n\n\
         [[routes]]\nmethod = \"gatehouse.echo.v1.EchoService/EchoDelete\"\n\
         from_identity = {{ string_field = \"api_key\", \"nested.id\" = \"subject\" }}\n\n\
         [[routes]]\nmethod = \"gatehouse.echo.v1.EchoService/EchoCollect\"\n\
         from_identity = {{ string_field = \"claim:tenant\", int64_field = \"claim:org\" }}\n\n\
         [[aggregates]]\nroute = \"GET /agg/{{id}}\"\n\
         [[aggregates.calls]]\nname = \"echo\"\nmethod = \"gatehouse.echo.v1.EchoService/Echo\"\n\
         request = {{ string_field = \"{{id}}\" }}\n\n\
         [[aggregates]]\nroute = \"GET /agg-free\"\n\
         [[aggregates.calls]]\nname = \"echo\"\nmethod = \"gatehouse.echo.v1.EchoService/Echo\"\n",
        jwks.auth_toml()
    )
}

/// A token of tenant "acme", org 7.
fn acme_token() -> String {
    let mut claims = claims("ada", &[]);
    claims["tenant"] = "acme".into();
    claims["org"] = 7.into();
    sign(Algorithm::RS256, &claims)
}

async fn start(jwks: &JwksFile) -> TestGateway {
    TestGateway::with_config(&pinned_config(jwks)).await
}

/// A fresh request id, so the test can ask the echo server whether it saw the request.
fn request_id(name: &str) -> String {
    format!("{name}-{}", std::process::id())
}

#[tokio::test]
async fn a_request_without_the_field_gets_the_credentials_value() {
    let jwks = JwksFile::write();
    let gw = start(&jwks).await;
    let body = json_ok(
        gw.post_json("/v1/echo", r#"{"boolField": true}"#)
            .bearer_auth(acme_token())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(body["stringField"], "acme");
    assert_eq!(body["int64Field"], "7");
    assert_eq!(body["boolField"], true);
}

#[tokio::test]
async fn the_same_value_as_the_credential_passes() {
    let jwks = JwksFile::write();
    let gw = start(&jwks).await;
    let body = json_ok(
        gw.get("/v1/echo/acme?int64Field=7")
            .bearer_auth(acme_token())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(body["stringField"], "acme");
    assert_eq!(body["int64Field"], "7");
}

#[tokio::test]
async fn a_contradicting_path_query_or_body_is_refused_before_the_backend() {
    let jwks = JwksFile::write();
    let gw = start(&jwks).await;
    let cases = [
        ("path", gw.get("/v1/echo/globex")),
        ("query", gw.get("/v1/echo/acme?int64Field=8")),
        (
            "body",
            gw.post_json("/v1/echo", r#"{"stringField": "globex"}"#),
        ),
        (
            "body-number",
            gw.post_json("/v1/echo", r#"{"int64Field": "8"}"#),
        ),
    ];
    for (name, request) in cases {
        let id = request_id(&format!("contradiction-{name}"));
        let response = request
            .bearer_auth(acme_token())
            .header("x-request-id", &id)
            .send()
            .await
            .unwrap();
        let body = expect_error(response, 403, 7, "PERMISSION_DENIED").await;
        let message = body["message"].as_str().unwrap();
        assert!(
            message.contains("is set from your credential"),
            "{name}: {body}"
        );
        // The credential's value is not shown.
        assert!(!message.contains("acme"), "{name}: {body}");
        assert!(!received_request(&id), "{name}: the backend was called");
    }
    // The same requests with the credential's values reach the backend.
    let id = request_id("agreement");
    let response = gw
        .get("/v1/echo/acme")
        .bearer_auth(acme_token())
        .header("x-request-id", &id)
        .send()
        .await
        .unwrap();
    assert_eq!(json_ok(response).await["stringField"], "acme");
    assert!(received_request(&id));
}

#[tokio::test]
async fn a_credential_without_the_value_is_refused() {
    let jwks = JwksFile::write();
    let gw = start(&jwks).await;
    // No `tenant` claim.
    let plain = sign(Algorithm::RS256, &claims("ada", &[]));
    let response = gw
        .get("/v1/echo/acme")
        .bearer_auth(&plain)
        .send()
        .await
        .unwrap();
    let body = expect_error(response, 403, 7, "PERMISSION_DENIED").await;
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("claim, and yours has none"),
        "{body}"
    );
    // An `org` claim that is no integer does not fit int64_field.
    let mut claims = claims("ada", &[]);
    claims["tenant"] = "acme".into();
    claims["org"] = "seven".into();
    let response = gw
        .get("/v1/echo/acme")
        .bearer_auth(sign(Algorithm::RS256, &claims))
        .send()
        .await
        .unwrap();
    expect_error(response, 403, 7, "PERMISSION_DENIED").await;
    // An API key has no claims at all.
    let response = gw
        .get("/v1/echo/acme")
        .header("x-api-key", "key-of-robot")
        .send()
        .await
        .unwrap();
    expect_error(response, 403, 7, "PERMISSION_DENIED").await;
    // No credential: a pinned route needs one.
    let response = gw.get("/v1/echo/acme").send().await.unwrap();
    expect_error(response, 401, 16, "UNAUTHENTICATED").await;
}

#[tokio::test]
async fn an_api_keys_name_and_the_subject_fill_fields() {
    let jwks = JwksFile::write();
    let gw = start(&jwks).await;
    let body = json_ok(
        gw.request("DELETE", "/v1/echo/robot")
            .header("x-api-key", "key-of-robot")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(body["stringField"], "robot");
    assert_eq!(body["nested"]["id"], "robot");
    let response = gw
        .request("DELETE", "/v1/echo/someone-else")
        .header("x-api-key", "key-of-robot")
        .send()
        .await
        .unwrap();
    expect_error(response, 403, 7, "PERMISSION_DENIED").await;
    // A JWT caller has no API key name to give.
    let response = gw
        .request("DELETE", "/v1/echo/robot")
        .bearer_auth(acme_token())
        .send()
        .await
        .unwrap();
    expect_error(response, 403, 7, "PERMISSION_DENIED").await;
}

#[tokio::test]
async fn aggregate_calls_apply_the_same_pins() {
    let jwks = JwksFile::write();
    let gw = start(&jwks).await;
    // The call's request names no tenant: it gets the caller's.
    let body = json_ok(
        gw.get("/agg-free")
            .bearer_auth(acme_token())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(body["echo"]["stringField"], "acme");
    assert_eq!(body["echo"]["int64Field"], "7");
    // The path gives the same tenant: fine.
    let body = json_ok(
        gw.get("/agg/acme")
            .bearer_auth(acme_token())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(body["echo"]["stringField"], "acme");
    // The path gives another: the call is refused, as a direct call would be.
    let id = request_id("aggregate-contradiction");
    let response = gw
        .get("/agg/globex")
        .bearer_auth(acme_token())
        .header("x-request-id", &id)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert!(!received_request(&id), "the backend was called: {body}");
    let refused = if status == 200 {
        body["errors"][0]["code"].clone()
    } else {
        body["code"].clone()
    };
    assert_eq!(refused, 7, "{status} {body}");
}

async fn grpc_client(gw: &TestGateway) -> EchoServiceClient<tonic::transport::Channel> {
    let channel = tonic::transport::Channel::from_shared(gw.url(""))
        .unwrap()
        .connect()
        .await
        .unwrap();
    EchoServiceClient::new(channel)
}

fn with_token(message: Kitchen, id: &str) -> tonic::Request<Kitchen> {
    let mut request = tonic::Request::new(message);
    let bearer = MetadataValue::try_from(format!("Bearer {}", acme_token())).unwrap();
    request.metadata_mut().insert("authorization", bearer);
    request
        .metadata_mut()
        .insert("x-request-id", MetadataValue::try_from(id).unwrap());
    request
}

#[tokio::test]
async fn native_grpc_calls_apply_the_same_pins() {
    let jwks = JwksFile::write();
    let gw = start(&jwks).await;
    let mut client = grpc_client(&gw).await;
    let filled = client
        .echo(with_token(
            Kitchen {
                bool_field: true,
                ..Kitchen::default()
            },
            &request_id("grpc-filled"),
        ))
        .await
        .expect("a request without the fields")
        .into_inner();
    assert_eq!(filled.string_field, "acme");
    assert_eq!(filled.int64_field, 7);
    assert!(filled.bool_field);

    let id = request_id("grpc-contradiction");
    let refused = client
        .echo(with_token(
            Kitchen {
                string_field: "globex".into(),
                ..Kitchen::default()
            },
            &id,
        ))
        .await
        .expect_err("another tenant");
    assert_eq!(refused.code(), Code::PermissionDenied);
    assert!(!received_request(&id));

    // A compressed message cannot be checked, so it is refused (the flag byte says gzip).
    let http2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let mut framed = vec![1u8, 0, 0, 0, 3];
    framed.extend_from_slice(&[1, 2, 3]);
    let response = http2
        .post(gw.url("/gatehouse.echo.v1.EchoService/Echo"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .header("grpc-encoding", "gzip")
        .bearer_auth(acme_token())
        .body(framed)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["grpc-status"],
        "3",
        "{:?}",
        response.headers()
    );
}

fn served(extra: &str) -> String {
    let jwks = "[[auth.jwt]]\nissuer = \"https://issuer.test\"\naudiences = [\"a\"]\n\
                hs256_secret_env = \"NOPE\"\n";
    format!(
        "[[backends]]\nname = \"echo\"\nservices = [\"{ECHO_SERVICE}\"]\n\
         endpoints = [\"http://127.0.0.1:1\"]\n\n{jwks}\n{extra}"
    )
}

#[test]
fn check_refuses_pins_that_cannot_be() {
    let echo = "gatehouse.echo.v1.EchoService";
    let cases = [
        (
            format!(
                "[[routes]]\nmethod = \"{echo}/Echo\"\nfrom_identity = {{ nope = \"subject\" }}\n"
            ),
            "routes[0].from_identity: \"nope\" is not a field of gatehouse.echo.v1.Kitchen",
        ),
        (
            format!(
                "[[routes]]\nmethod = \"{echo}/Echo\"\nfrom_identity = {{ repeated_string = \"subject\" }}\n"
            ),
            "is repeated",
        ),
        (
            format!(
                "[[routes]]\nmethod = \"{echo}/Echo\"\nfrom_identity = {{ nested = \"subject\" }}\n"
            ),
            "must be a string, integer or bool field",
        ),
        (
            format!(
                "[[routes]]\nmethod = \"{echo}/EchoChat\"\nfrom_identity = {{ string_field = \"subject\" }}\n"
            ),
            "is bidirectional",
        ),
        (
            format!(
                "[[routes]]\nmethod = \"{echo}/Echo\"\nfrom_identity = {{ string_field = \"claims.tenant\" }}\n"
            ),
            "is no credential value",
        ),
        (
            format!(
                "[[routes]]\nmethod = \"{echo}/Echo\"\nauth = \"public\"\nfrom_identity = {{ string_field = \"subject\" }}\n"
            ),
            "a public route cannot have them",
        ),
    ];
    for (i, (extra, expected)) in cases.into_iter().enumerate() {
        check_refuses(&format!("pins-{i}"), &served(&extra), expected);
    }
}

#[tokio::test]
async fn the_openapi_document_names_the_pinned_fields() {
    let jwks = JwksFile::write();
    let gw = start(&jwks).await;
    let document = json_ok(gw.get("/openapi.json").send().await.unwrap()).await;
    let description = document["paths"]["/v1/echo/{string_field}"]["get"]["description"]
        .as_str()
        .unwrap();
    assert!(
        description.ends_with(
            "Set from the caller's credential: `int64_field` (claim:org), `string_field` \
             (claim:tenant). A request that sends another value is refused with 403; one that \
             sends none is given the credential's."
        ),
        "{description}"
    );
    // Not on a method without pins.
    let other = &document["paths"]["/v1/stream/{string_field}"]["get"]["description"];
    assert!(!other.to_string().contains("credential"), "{other}");
}

#[tokio::test]
async fn every_message_of_a_client_stream_is_pinned() {
    let jwks = JwksFile::write();
    let gw = start(&jwks).await;
    let collect = |body: &'static str| {
        gw.request("POST", "/v1/collect/ignored")
            .header("content-type", "application/x-ndjson")
            .bearer_auth(acme_token())
            .body(body)
            .send()
    };
    // The path sets string_field in every message too, so it must agree with the credential.
    let body = json_ok(
        gw.request("POST", "/v1/collect/acme")
            .header("content-type", "application/x-ndjson")
            .bearer_auth(acme_token())
            .body("{}\n{\"boolField\": true}\n")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(body["stringField"], "acme", "{body}");
    assert_eq!(body["int64Field"], "7", "{body}");
    assert_eq!(body["int32Field"], 2, "{body}");
    // A path that contradicts the credential is refused at the first message.
    let response = collect("{}\n").await.unwrap();
    expect_error(response, 403, 7, "PERMISSION_DENIED").await;
    // So is a later message that does.
    let response = gw
        .request("POST", "/v1/collect/acme")
        .header("content-type", "application/x-ndjson")
        .bearer_auth(acme_token())
        .body("{}\n{\"int64Field\": \"8\"}\n")
        .send()
        .await
        .unwrap();
    expect_error(response, 403, 7, "PERMISSION_DENIED").await;
    // Without a credential there is nothing to pin with.
    let response = gw
        .request("POST", "/v1/collect/acme")
        .header("content-type", "application/x-ndjson")
        .body("{}\n")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn a_pinned_client_stream_is_refused_over_native_grpc() {
    let jwks = JwksFile::write();
    let gw = start(&jwks).await;
    let mut client = grpc_client(&gw).await;
    let mut request = tonic::Request::new(tokio_stream_of(vec![Kitchen::default()]));
    let bearer = MetadataValue::try_from(format!("Bearer {}", acme_token())).unwrap();
    request.metadata_mut().insert("authorization", bearer);
    let status = client.echo_collect(request).await.unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented, "{status:?}");
    assert!(status.message().contains("over REST"), "{status:?}");
}

fn tokio_stream_of(
    messages: Vec<Kitchen>,
) -> impl tonic::codegen::tokio_stream::Stream<Item = Kitchen> {
    tonic::codegen::tokio_stream::iter(messages)
}
