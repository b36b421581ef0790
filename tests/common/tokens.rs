//! Test issuers and tokens: a JWKS file holding an RSA, an EC P-256 and an Ed25519 key (the
//! fixtures in tests/fixtures/jwt), and tokens signed with them, or forged.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

pub const ISSUER: &str = "https://issuer.test";
pub const AUDIENCE: &str = "gatehouse-test";

const RSA_PEM: &str = include_str!("../fixtures/jwt/rsa.pem");
/// The RSA public key, as an attacker can fetch it from the JWKS.
pub const RSA_PUBLIC_PEM: &str = include_str!("../fixtures/jwt/rsa.pub.pem");
const EC_PEM: &str = include_str!("../fixtures/jwt/ec.pem");
const ED_PEM: &str = include_str!("../fixtures/jwt/ed25519.pem");

/// The signing keys of the test issuer, by algorithm, with their `kid`.
fn signing_key(alg: Algorithm) -> (EncodingKey, &'static str) {
    match alg {
        Algorithm::RS256 => (
            EncodingKey::from_rsa_pem(RSA_PEM.as_bytes()).expect("RSA fixture"),
            "rsa-1",
        ),
        Algorithm::ES256 => (
            EncodingKey::from_ec_pem(EC_PEM.as_bytes()).expect("EC fixture"),
            "ec-1",
        ),
        Algorithm::EdDSA => (
            EncodingKey::from_ed_pem(ED_PEM.as_bytes()).expect("Ed25519 fixture"),
            "ed-1",
        ),
        other => panic!("no test key for {other:?}"),
    }
}

/// A JWKS file with the public halves of the three keys, in a fresh temporary folder that is
/// removed when dropped.
pub struct JwksFile {
    _dir: tempfile::TempDir,
    pub path: PathBuf,
}

impl JwksFile {
    pub fn write() -> JwksFile {
        let dir = tempfile::Builder::new()
            .prefix("gatehouse-test-jwks")
            .tempdir()
            .expect("temp dir");
        let keys = [Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA]
            .into_iter()
            .map(|alg| {
                let (key, kid) = signing_key(alg);
                let mut jwk = Jwk::from_encoding_key(&key, alg).expect("public JWK");
                jwk.common.key_id = Some(kid.to_string());
                jwk
            })
            .collect();
        let path = dir.path().join("jwks.json");
        let set = JwkSet { keys };
        std::fs::write(&path, serde_json::to_string(&set).unwrap()).expect("write JWKS");
        JwksFile { _dir: dir, path }
    }

    /// The `[auth]` config accepting this issuer; every route needs a credential.
    pub fn auth_toml(&self) -> String {
        auth_toml(&self.path)
    }
}

fn auth_toml(jwks: &Path) -> String {
    format!(
        "[auth]\ndefault = \"authenticated\"\n\n[[auth.jwt]]\nissuer = \"{ISSUER}\"\n\
         audiences = [\"{AUDIENCE}\"]\njwks_file = {:?}\n",
        jwks.display().to_string()
    )
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Valid claims for `subject` with `roles`, expiring in ten minutes.
pub fn claims(subject: &str, roles: &[&str]) -> Value {
    json!({
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": subject,
        "roles": roles,
        "iat": now(),
        "exp": now() + 600,
    })
}

/// `claims` signed with the test key of `alg`, with its `kid`.
pub fn sign(alg: Algorithm, claims: &Value) -> String {
    let (key, kid) = signing_key(alg);
    let mut header = Header::new(alg);
    header.kid = Some(kid.to_string());
    jsonwebtoken::encode(&header, claims, &key).expect("sign")
}

/// A valid RS256 token.
pub fn token(subject: &str, roles: &[&str]) -> String {
    sign(Algorithm::RS256, &claims(subject, roles))
}

/// `header.payload.signature` with the given parts, base64url-encoded as they are.
pub fn forge(header: &Value, claims: &Value, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        URL_SAFE_NO_PAD.encode(signature)
    )
}

/// An HS256 token whose HMAC secret is the RSA public key: the algorithm-confusion attack on
/// verifiers that take the algorithm from the token.
pub fn confused_token(subject: &str) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("rsa-1".into());
    let key = EncodingKey::from_secret(RSA_PUBLIC_PEM.as_bytes()).expect("an HMAC key");
    jsonwebtoken::encode(&header, &claims(subject, &["admin"]), &key).expect("sign")
}

/// Seconds since the epoch, `offset` from now.
pub fn at(offset: i64) -> u64 {
    now().saturating_add_signed(offset)
}
