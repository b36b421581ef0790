//! Authentication and authorization at the edge, over real sockets: every way a credential can
//! be missing, forged, stale or ambiguous gets 401 (or 403 for a valid caller without the
//! role), in the one JSON error shape; the verified caller reaches the backend as metadata the
//! client cannot forge.

mod common;

use common::tokens::{JwksFile, at, claims, confused_token, forge, sign, token};
use common::{TestGateway, expect_error, json_ok};
use jsonwebtoken::Algorithm;
use serde_json::json;
use sha2::{Digest, Sha256};

const API_KEY: &str = "k3y-for-the-reporting-job";

/// Every echo method needs a credential except EchoBook (public); EchoDelete needs the role
/// "admin"; one API key with the role "reports".
async fn gateway(jwks: &JwksFile) -> TestGateway {
    let key_hash = hex::encode(Sha256::digest(API_KEY.as_bytes()));
    TestGateway::with_config(&format!(
        "{}\n[[auth.api_keys]]\nname = \"reporting\"\nsha256 = \"{key_hash}\"\nroles = [\"reports\"]\n\n\
         [[routes]]\nmethod = \"gatehouse.echo.v1.EchoService/EchoBook\"\nauth = \"public\"\n\n\
         [[routes]]\nmethod = \"gatehouse.echo.v1.EchoService/EchoDelete\"\nroles = [\"admin\"]\n",
        jwks.auth_toml()
    ))
    .await
}

const PRIVATE: &str = "/v1/echo/x";
const PUBLIC: &str = "/v1/shelves/s/books/b";

async fn with_bearer(gw: &TestGateway, path: &str, token: &str) -> reqwest::Response {
    gw.get(path)
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap()
}

/// Asserts 401 UNAUTHENTICATED with a Bearer challenge; returns the message.
async fn expect_401(response: reqwest::Response) -> String {
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    assert!(
        challenge.starts_with("Bearer realm=\"gatehouse\""),
        "{challenge:?}"
    );
    let body = expect_error(response, 401, 16, "UNAUTHENTICATED").await;
    body["message"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn no_credential_is_401_with_a_bearer_challenge() {
    let jwks = JwksFile::write();
    let gw = gateway(&jwks).await;
    let response = gw.get(PRIVATE).send().await.unwrap();
    assert_eq!(
        response.headers()["www-authenticate"],
        "Bearer realm=\"gatehouse\""
    );
    expect_401(response).await;
}

#[tokio::test]
async fn valid_tokens_of_each_algorithm_pass() {
    let jwks = JwksFile::write();
    let gw = gateway(&jwks).await;
    for alg in [Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA] {
        let response = with_bearer(&gw, PRIVATE, &sign(alg, &claims("alice", &["customer"]))).await;
        json_ok(response).await;
    }
}

#[tokio::test]
async fn forged_and_stale_tokens_are_401() {
    let jwks = JwksFile::write();
    let gw = gateway(&jwks).await;
    let valid = token("alice", &["customer"]);
    let mut cases: Vec<(&str, String)> = Vec::new();

    // alg "none": no signature at all.
    cases.push((
        "alg none",
        forge(
            &json!({"alg": "none", "typ": "JWT"}),
            &claims("alice", &["admin"]),
            b"",
        ),
    ));
    // HS256 keyed with the RSA public key (algorithm confusion).
    cases.push(("RS256 to HS256 confusion", confused_token("alice")));
    // A valid signature over other claims.
    let (head, _) = valid.split_once('.').unwrap();
    let signature = valid.rsplit('.').next().unwrap();
    let other_claims = forge(&json!({}), &claims("mallory", &["admin"]), b"");
    let other_payload = other_claims.split('.').nth(1).unwrap();
    cases.push((
        "wrong signature",
        format!("{head}.{other_payload}.{signature}"),
    ));
    let mut expired = claims("alice", &[]);
    expired["exp"] = json!(at(-3600));
    cases.push(("expired", sign(Algorithm::RS256, &expired)));
    let mut early = claims("alice", &[]);
    early["nbf"] = json!(at(3600));
    cases.push(("nbf in the future", sign(Algorithm::RS256, &early)));
    let mut issuer = claims("alice", &[]);
    issuer["iss"] = json!("https://evil.test");
    cases.push(("wrong issuer", sign(Algorithm::RS256, &issuer)));
    let mut audience = claims("alice", &[]);
    audience["aud"] = json!("someone-else");
    cases.push(("wrong audience", sign(Algorithm::RS256, &audience)));
    let mut no_exp = claims("alice", &[]);
    no_exp.as_object_mut().unwrap().remove("exp");
    cases.push(("no exp", sign(Algorithm::RS256, &no_exp)));
    let unknown_kid = {
        let mut header = jsonwebtoken::Header::new(Algorithm::RS256);
        header.kid = Some("not-a-key".into());
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(
            include_str!("fixtures/jwt/rsa.pem").as_bytes(),
        )
        .unwrap();
        jsonwebtoken::encode(&header, &claims("alice", &[]), &key).unwrap()
    };
    cases.push(("unknown kid", unknown_kid));
    cases.push(("garbage", "not.a.token".into()));

    for (what, token) in cases {
        let message = expect_401(with_bearer(&gw, PRIVATE, &token).await).await;
        eprintln!("{what}: {message}");
        assert!(
            message.starts_with("invalid bearer token"),
            "{what}: {message}"
        );
        // Never echoed back: the message names the problem, not the token.
        assert!(!message.contains(&token), "{what}");
    }
}

#[tokio::test]
async fn an_invalid_token_is_refused_even_on_a_public_route() {
    let jwks = JwksFile::write();
    let gw = gateway(&jwks).await;
    json_ok(gw.get(PUBLIC).send().await.unwrap()).await;
    expect_401(with_bearer(&gw, PUBLIC, "garbage.token.here").await).await;
}

#[tokio::test]
async fn ambiguous_credentials_are_401() {
    let jwks = JwksFile::write();
    let gw = gateway(&jwks).await;
    let valid = token("alice", &["customer"]);
    let two_headers = gw
        .get(PRIVATE)
        .header("authorization", format!("Bearer {valid}"))
        .header(
            "authorization",
            format!("Bearer {}", token("mallory", &["admin"])),
        )
        .send()
        .await
        .unwrap();
    let message = expect_401(two_headers).await;
    assert!(message.contains("one credential"), "{message}");

    let token_and_key = gw
        .get(PRIVATE)
        .header("authorization", format!("Bearer {valid}"))
        .header("x-api-key", API_KEY)
        .send()
        .await
        .unwrap();
    expect_401(token_and_key).await;

    let basic = gw
        .get(PRIVATE)
        .header("authorization", "Basic YWxpY2U6c2VjcmV0")
        .send()
        .await
        .unwrap();
    expect_401(basic).await;
}

#[tokio::test]
async fn a_valid_caller_without_the_role_is_403() {
    let jwks = JwksFile::write();
    let gw = gateway(&jwks).await;
    let customer = token("alice", &["customer"]);
    let response = gw
        .request("DELETE", "/v1/echo/x")
        .header("authorization", format!("Bearer {customer}"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["www-authenticate"],
        "Bearer realm=\"gatehouse\", error=\"insufficient_scope\""
    );
    expect_error(response, 403, 7, "PERMISSION_DENIED").await;

    let admin = token("root", &["admin"]);
    let response = gw
        .request("DELETE", "/v1/echo/x")
        .header("authorization", format!("Bearer {admin}"))
        .send()
        .await
        .unwrap();
    json_ok(response).await;
}

#[tokio::test]
async fn api_keys_authenticate_by_their_hash() {
    let jwks = JwksFile::write();
    let gw = gateway(&jwks).await;
    let response = gw
        .get(PRIVATE)
        .header("x-api-key", API_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["grpc-metadata-echo-x-user-id"],
        "reporting"
    );
    assert_eq!(
        response.headers()["grpc-metadata-echo-x-user-roles"],
        "reports"
    );
    json_ok(response).await;

    let response = gw
        .get(PRIVATE)
        .header("x-api-key", "k3y-for-the-reporting-jo")
        .send()
        .await
        .unwrap();
    let message = expect_401(response).await;
    assert!(!message.contains("k3y"), "{message}");
}

#[tokio::test]
async fn the_verified_caller_reaches_the_backend_and_cannot_be_forged() {
    let jwks = JwksFile::write();
    let gw = gateway(&jwks).await;
    let response = gw
        .get(PRIVATE)
        .header(
            "authorization",
            format!("Bearer {}", token("alice", &["customer", "reader"])),
        )
        .header("x-user-id", "mallory")
        .header("grpc-metadata-x-user-id", "mallory")
        .header("grpc-metadata-x-user-roles", "admin")
        .header("grpc-metadata-authorization", "Bearer smuggled")
        .send()
        .await
        .unwrap();
    let headers = response.headers().clone();
    json_ok(response).await;
    let all = |name: &str| -> Vec<String> {
        headers
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(all("grpc-metadata-echo-x-user-id"), ["alice"]);
    assert_eq!(all("grpc-metadata-echo-x-user-roles"), ["customer,reader"]);
    assert_eq!(all("grpc-metadata-echo-authorization").len(), 1);
    assert!(!all("grpc-metadata-echo-authorization")[0].contains("smuggled"));

    // No credential on a public route: the backend hears of no user at all.
    let response = gw
        .get(PUBLIC)
        .header("x-user-id", "mallory")
        .header("grpc-metadata-x-user-id", "mallory")
        .send()
        .await
        .unwrap();
    assert!(
        response
            .headers()
            .get("grpc-metadata-echo-x-user-id")
            .is_none()
    );
    json_ok(response).await;
}

#[tokio::test]
async fn a_policy_can_name_one_http_binding() {
    let jwks = JwksFile::write();
    // Echo has two bindings; only the GET one is made public (the variable name differs from
    // the proto's, as any equivalent template may).
    let gw = TestGateway::with_config(&format!(
        "{}\n[[routes]]\nroute = \"GET /v1/echo/{{anything}}\"\nauth = \"public\"\n",
        jwks.auth_toml()
    ))
    .await;
    json_ok(gw.get(PRIVATE).send().await.unwrap()).await;
    let response = gw.post_json("/v1/echo", "{}").send().await.unwrap();
    expect_401(response).await;
}
