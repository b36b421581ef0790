//! The test issuer: the fixture keys of `tests/fixtures/jwt` (RSA, EC P-256, Ed25519), their
//! public JWKS, and token signing with any header and claims.

use std::sync::OnceLock;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};

/// The `iss` and `aud` the targets configure (as the unit tests of `security::jwt` do).
pub const ISSUER: &str = "https://issuer.test";
pub const AUDIENCE: &str = "gatehouse";

const RSA_PEM: &str = include_str!("../../tests/fixtures/jwt/rsa.pem");
/// What an attacker can fetch from the JWKS, and MAC an HS256 token with (RS256 → HS256
/// confusion).
pub const RSA_PUBLIC_PEM: &str = include_str!("../../tests/fixtures/jwt/rsa.pub.pem");
const EC_PEM: &str = include_str!("../../tests/fixtures/jwt/ec.pem");
const ED_PEM: &str = include_str!("../../tests/fixtures/jwt/ed25519.pem");

/// One signing key of the issuer.
pub struct SigningKey {
    pub alg: Algorithm,
    /// Its `kid` in [`jwks_json`].
    pub kid: &'static str,
    pub key: EncodingKey,
}

/// The RSA, EC and Ed25519 keys, in that order.
pub fn signing_keys() -> &'static [SigningKey; 3] {
    static KEYS: OnceLock<[SigningKey; 3]> = OnceLock::new();
    KEYS.get_or_init(|| {
        let key = |alg, kid, key: jsonwebtoken::errors::Result<EncodingKey>| SigningKey {
            alg,
            kid,
            key: key.expect("fixture key"),
        };
        [
            key(
                Algorithm::RS256,
                "rsa",
                EncodingKey::from_rsa_pem(RSA_PEM.as_bytes()),
            ),
            key(
                Algorithm::ES256,
                "ec",
                EncodingKey::from_ec_pem(EC_PEM.as_bytes()),
            ),
            key(
                Algorithm::EdDSA,
                "ed",
                EncodingKey::from_ed_pem(ED_PEM.as_bytes()),
            ),
        ]
    })
}

/// The public JWKS of the three keys, each with its `kid`, `alg` and `use` "sig".
pub fn jwks_json() -> String {
    let keys: Vec<Value> = signing_keys()
        .iter()
        .map(|k| {
            let mut jwk = serde_json::to_value(
                Jwk::from_encoding_key(&k.key, k.alg).expect("fixture public key"),
            )
            .expect("a JWK is JSON");
            jwk["kid"] = json!(k.kid);
            jwk["use"] = json!("sig");
            jwk
        })
        .collect();
    json!({ "keys": keys }).to_string()
}

/// `header.claims.signature`: both parts base64url-encoded as given (any bytes), signed with
/// `key` as `alg`. Fails only when the key cannot sign as `alg`.
pub fn sign_raw(
    header: &[u8],
    claims: &[u8],
    key: &EncodingKey,
    alg: Algorithm,
) -> jsonwebtoken::errors::Result<String> {
    let message = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(claims)
    );
    let signature = jsonwebtoken::crypto::sign(message.as_bytes(), key, alg)?;
    Ok(format!("{message}.{signature}"))
}

/// A valid token of the issuer, signed with its Ed25519 key: `sub`, `roles`, and `exp` an
/// hour from now.
pub fn valid_token(subject: &str, roles: &[&str]) -> String {
    let key = &signing_keys()[2];
    let header = json!({ "alg": "EdDSA", "typ": "JWT", "kid": key.kid });
    let claims = json!({
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": subject,
        "roles": roles,
        "exp": jsonwebtoken::get_current_timestamp() + 3600,
    });
    sign_raw(
        header.to_string().as_bytes(),
        claims.to_string().as_bytes(),
        &key.key,
        key.alg,
    )
    .expect("the Ed25519 fixture signs")
}
