//! The demo's token issuer: a fresh Ed25519 key, its JWKS document and a token signer, so the
//! walkthrough can show authenticated calls without an identity provider.

use std::fmt;
use std::time::Duration;

use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, ThumbprintHash};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

/// The PKCS#8 v1 DER prefix of an Ed25519 private key; the 32-byte seed follows it.
const ED25519_PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// For the demo: an issuer with a fresh Ed25519 key, its JWKS and a token signer.
pub struct DemoIssuer {
    issuer: String,
    audience: String,
    kid: String,
    public_x: String,
    key: EncodingKey,
}

impl DemoIssuer {
    /// Makes a new key from 32 bytes of the system's random source. Fails when that cannot be
    /// read.
    pub fn generate(issuer: &str, audience: &str) -> Result<DemoIssuer, String> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed)
            .map_err(|e| format!("cannot read the system's random source: {e}"))?;
        let key = EncodingKey::from_ed_der(&[&ED25519_PKCS8_PREFIX[..], &seed].concat());
        let jwk = Jwk::from_encoding_key(&key, Algorithm::EdDSA)
            .map_err(|e| format!("cannot derive the demo public key: {e}"))?;
        let AlgorithmParameters::OctetKeyPair(params) = &jwk.algorithm else {
            return Err("the demo key is not an Ed25519 key".into());
        };
        let kid = jwk
            .thumbprint(ThumbprintHash::SHA256)
            .map_err(|e| format!("cannot compute the demo key id: {e}"))?;
        let demo = DemoIssuer {
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            kid,
            public_x: params.x.clone(),
            key,
        };
        // Sign once here so that `token` cannot fail later.
        demo.sign(&json!({}))
            .map_err(|e| format!("the demo key cannot sign: {e}"))?;
        Ok(demo)
    }

    /// The public JWKS document: one OKP/Ed25519 key with its `kid` and `alg` "EdDSA".
    pub fn jwks_json(&self) -> String {
        json!({
            "keys": [{
                "kty": "OKP",
                "crv": "Ed25519",
                "x": self.public_x,
                "kid": self.kid,
                "alg": "EdDSA",
                "use": "sig",
            }]
        })
        .to_string()
    }

    /// A signed token with `sub`, `roles` (array), `iss`, `aud`, `iat` and
    /// `exp` = now + `valid_for`.
    pub fn token(&self, subject: &str, roles: &[&str], valid_for: Duration) -> String {
        let now = jsonwebtoken::get_current_timestamp();
        let claims = json!({
            "iss": self.issuer,
            "aud": self.audience,
            "sub": subject,
            "roles": roles,
            "iat": now,
            "exp": now.saturating_add(valid_for.as_secs()),
        });
        self.sign(&claims)
            .expect("the demo key signed when generated")
    }

    /// The key id tokens name in their header.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The signing key, for tests that sign tokens of their own with it.
    pub fn encoding_key(&self) -> &EncodingKey {
        &self.key
    }

    fn sign(&self, claims: &Value) -> jsonwebtoken::errors::Result<String> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.key)
    }
}

impl fmt::Debug for DemoIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DemoIssuer")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}
