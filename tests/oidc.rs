//! OIDC discovery, over real sockets: an `[[auth.jwt]]` issuer configured by its URL alone
//! takes its keys from the `jwks_uri` of `<issuer>/.well-known/openid-configuration`, served
//! here by a small identity provider on 127.0.0.1. A document naming another issuer, or one
//! that cannot be used, leaves the issuer without keys: its tokens get 503 AUTH_UNAVAILABLE,
//! exactly as when a `jwks_url` cannot be fetched.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{StatusCode, Uri};
use common::tokens::{AUDIENCE, JwksFile, claims, sign};
use common::{TestGateway, expect_error, json_ok};
use gatehouse::demo::DemoIssuer;
use jsonwebtoken::Algorithm;
use serde_json::json;

const DISCOVERY: &str = "/realms/test/.well-known/openid-configuration";
const PRIVATE: &str = "/v1/echo/x";

/// What the identity provider answers: the discovery document, and JWKS documents by path.
/// Every other path is 404.
struct Answers {
    discovery: (u16, String),
    keys: HashMap<String, String>,
}

/// An identity provider on 127.0.0.1 whose issuer is `http://<addr>/realms/test`, counting
/// the requests of each path.
struct IdentityProvider {
    base: String,
    answers: Arc<Mutex<Answers>>,
    hits: Arc<Mutex<HashMap<String, usize>>>,
}

impl IdentityProvider {
    async fn start() -> IdentityProvider {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let answers = Arc::new(Mutex::new(Answers {
            discovery: (404, String::new()),
            keys: HashMap::new(),
        }));
        let hits = Arc::new(Mutex::new(HashMap::new()));
        let (served, counted) = (Arc::clone(&answers), Arc::clone(&hits));
        let app = axum::Router::new().fallback(move |uri: Uri| {
            let (answers, hits) = (Arc::clone(&served), Arc::clone(&counted));
            async move {
                let path = uri.path().to_string();
                *hits.lock().unwrap().entry(path.clone()).or_insert(0) += 1;
                let answers = answers.lock().unwrap();
                let (status, body) = if path == DISCOVERY {
                    answers.discovery.clone()
                } else if let Some(keys) = answers.keys.get(&path) {
                    (200, keys.clone())
                } else {
                    (404, String::new())
                };
                (
                    StatusCode::from_u16(status).unwrap(),
                    [("content-type", "application/json")],
                    body,
                )
            }
        });
        tokio::spawn(async move { axum::serve(listener, app).await });
        IdentityProvider {
            base,
            answers,
            hits,
        }
    }

    /// The issuer the gateway is configured with.
    fn issuer(&self) -> String {
        format!("{}/realms/test", self.base)
    }

    /// Serves `document` (any text) as the discovery document.
    fn discovery(&self, status: u16, document: String) {
        self.answers.lock().unwrap().discovery = (status, document);
    }

    /// Serves a discovery document naming `issuer` and the JWKS at `keys_path`.
    fn discover(&self, issuer: &str, keys_path: &str) {
        let document = json!({
            "issuer": issuer,
            "jwks_uri": format!("{}{keys_path}", self.base),
            "authorization_endpoint": format!("{}/auth", self.base),
            "id_token_signing_alg_values_supported": ["RS256", "EdDSA"],
        });
        self.discovery(200, document.to_string());
    }

    /// Serves `jwks` at `path`; `None` makes the path 404.
    fn keys(&self, path: &str, jwks: Option<String>) {
        let mut answers = self.answers.lock().unwrap();
        match jwks {
            Some(jwks) => answers.keys.insert(path.to_string(), jwks),
            None => answers.keys.remove(path),
        };
    }

    fn hits(&self, path: &str) -> usize {
        self.hits.lock().unwrap().get(path).copied().unwrap_or(0)
    }

    /// A gateway where every route needs a credential, trusting this issuer by discovery.
    async fn gateway(&self) -> TestGateway {
        TestGateway::with_config(&format!(
            "[auth]\ndefault = \"authenticated\"\n\n[[auth.jwt]]\nissuer = \"{}\"\n\
             audiences = [\"{AUDIENCE}\"]\n",
            self.issuer()
        ))
        .await
    }
}

/// The public keys of the test fixtures (tests/common/tokens.rs), as a JWKS document.
fn fixture_jwks() -> String {
    let file = JwksFile::write();
    std::fs::read_to_string(&file.path).unwrap()
}

/// An RS256 token of the fixture key, issued by `issuer`.
fn fixture_token(issuer: &str, subject: &str) -> String {
    let mut claims = claims(subject, &[]);
    claims["iss"] = json!(issuer);
    sign(Algorithm::RS256, &claims)
}

async fn call(gw: &TestGateway, token: &str) -> reqwest::Response {
    gw.get(PRIVATE)
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap()
}

/// Asserts the answer of an issuer whose keys could not be fetched: 503 AUTH_UNAVAILABLE,
/// with a Retry-After.
async fn expect_keys_unavailable(response: reqwest::Response) {
    assert!(
        response.headers().contains_key("retry-after"),
        "{:?}",
        response.headers()
    );
    expect_error(response, 503, 14, "AUTH_UNAVAILABLE").await;
}

#[tokio::test]
async fn a_token_signed_with_the_discovered_keys_is_accepted() {
    let idp = IdentityProvider::start().await;
    idp.discover(&idp.issuer(), "/keys");
    idp.keys("/keys", Some(fixture_jwks()));
    let gw = idp.gateway().await;

    json_ok(call(&gw, &fixture_token(&idp.issuer(), "alice")).await).await;
    assert_eq!(idp.hits(DISCOVERY), 1);
    assert_eq!(idp.hits("/keys"), 1);

    // Keys the issuer does not publish are refused as with any other key source.
    let stranger = DemoIssuer::generate(&idp.issuer(), AUDIENCE).unwrap();
    let response = call(&gw, &stranger.token("eve", &[], Duration::from_secs(60))).await;
    let body = expect_error(response, 401, 16, "UNAUTHENTICATED").await;
    assert_eq!(body["message"], "invalid bearer token: unknown signing key");
    // Tokens of another issuer are refused before any key is looked at.
    let response = call(&gw, &fixture_token("https://issuer.test", "alice")).await;
    expect_error(response, 401, 16, "UNAUTHENTICATED").await;
}

#[tokio::test]
async fn a_discovery_document_naming_another_issuer_is_refused() {
    let idp = IdentityProvider::start().await;
    let issuer = idp.issuer();
    // Another issuer, and the configured one with a trailing slash: the match must be exact.
    for named in [
        "https://evil.test/realms/test".to_string(),
        format!("{issuer}/"),
    ] {
        idp.discover(&named, "/keys");
        idp.keys("/keys", Some(fixture_jwks()));
        let gw = idp.gateway().await;
        expect_keys_unavailable(call(&gw, &fixture_token(&issuer, "alice")).await).await;
        assert_eq!(
            idp.hits("/keys"),
            0,
            "keys were fetched from a document naming {named:?}"
        );
    }
    assert_eq!(idp.hits(DISCOVERY), 2);
}

#[tokio::test]
async fn an_unusable_discovery_document_leaves_the_issuer_without_keys() {
    let idp = IdentityProvider::start().await;
    let issuer = idp.issuer();
    idp.keys("/keys", Some(fixture_jwks()));
    let keys_url = format!("{}/keys", idp.base);
    let cases = [
        ("absent", 404, String::new()),
        (
            "failing",
            500,
            json!({"issuer": issuer, "jwks_uri": keys_url}).to_string(),
        ),
        ("not JSON", 200, "<html>sign in</html>".to_string()),
        ("a JSON array", 200, json!([issuer]).to_string()),
        ("no jwks_uri", 200, json!({"issuer": issuer}).to_string()),
        ("no issuer", 200, json!({"jwks_uri": keys_url}).to_string()),
        (
            "a jwks_uri of another scheme",
            200,
            json!({"issuer": issuer, "jwks_uri": "file:///etc/jwks.json"}).to_string(),
        ),
        (
            "a jwks_uri that is not a string",
            200,
            json!({"issuer": issuer, "jwks_uri": 7}).to_string(),
        ),
    ];
    for (case, status, document) in cases {
        idp.discovery(status, document);
        let gw = idp.gateway().await;
        let response = call(&gw, &fixture_token(&issuer, "alice")).await;
        assert_eq!(response.status(), 503, "{case}");
        expect_keys_unavailable(response).await;
    }
    assert_eq!(idp.hits("/keys"), 0);

    // A jwks_uri that answers 404 is a failed fetch too.
    idp.discover(&issuer, "/moved");
    let gw = idp.gateway().await;
    expect_keys_unavailable(call(&gw, &fixture_token(&issuer, "alice")).await).await;
    assert_eq!(idp.hits("/moved"), 1);
}

#[tokio::test]
async fn a_rotated_key_is_found_by_reading_the_discovery_document_again() {
    let idp = IdentityProvider::start().await;
    let issuer = idp.issuer();
    idp.discover(&issuer, "/keys-1");
    idp.keys("/keys-1", Some(fixture_jwks()));
    let gw = idp.gateway().await;
    json_ok(call(&gw, &fixture_token(&issuer, "alice")).await).await;

    // The issuer rotates to a new key and publishes it at another URL.
    let rotated = DemoIssuer::generate(&issuer, AUDIENCE).unwrap();
    idp.keys("/keys-1", None);
    idp.keys("/keys-2", Some(rotated.jwks_json()));
    idp.discover(&issuer, "/keys-2");
    let token = rotated.token("bob", &[], Duration::from_secs(60));
    json_ok(call(&gw, &token).await).await;
    assert_eq!(
        idp.hits(DISCOVERY),
        2,
        "the unknown kid re-read the document"
    );
    assert_eq!((idp.hits("/keys-1"), idp.hits("/keys-2")), (1, 1));

    // The old key is gone with the old JWKS.
    let response = call(&gw, &fixture_token(&issuer, "alice")).await;
    expect_error(response, 401, 16, "UNAUTHENTICATED").await;
    json_ok(call(&gw, &token).await).await;
}
