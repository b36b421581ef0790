//! Verifying keys: HS256 secrets from the environment, and JWKS documents (a file, or
//! fetched) parsed into keys by `kid`.

use std::path::Path;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;
use serde_json::Value;

use super::*;

/// One key able to check tokens, with the only algorithm it checks.
pub(super) struct VerifyingKey {
    pub(super) kid: Option<String>,
    pub(super) alg: Algorithm,
    pub(super) key: DecodingKey,
}

/// An issuer's keys as last loaded.
pub(super) struct KeySet {
    pub(super) keys: Vec<VerifyingKey>,
    /// False until a `jwks_url` was fetched once.
    pub(super) loaded: bool,
    /// False for an HS256 secret: its one key has no id, and a token's `kid` is ignored.
    pub(super) match_kid: bool,
}

impl KeySet {
    pub(super) fn not_loaded() -> KeySet {
        KeySet {
            keys: Vec::new(),
            loaded: false,
            match_kid: true,
        }
    }

    pub(super) fn has_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|key| key.kid.as_deref() == Some(kid))
    }

    /// The key for a token: by `kid` when it names one, else the only key of `alg`.
    pub(super) fn select(
        &self,
        alg: Algorithm,
        kid: Option<&str>,
    ) -> Result<&VerifyingKey, JwtError> {
        if !self.loaded {
            return Err(JwtError::KeysUnavailable);
        }
        let kid = kid.filter(|_| self.match_kid);
        let candidates = || {
            self.keys
                .iter()
                .filter(move |key| kid.is_none() || key.kid.as_deref() == kid)
        };
        let mut matching = candidates().filter(|key| key.alg == alg);
        match (matching.next(), matching.next()) {
            (Some(key), None) => Ok(key),
            // Two keys of one algorithm and no `kid` (or a JWKS repeating a `kid`): guessing
            // would let one key stand in for another.
            (Some(_), Some(_)) => Err(JwtError::UnknownKey),
            (None, _) if candidates().next().is_some() => Err(JwtError::AlgorithmMismatch),
            (None, _) => Err(JwtError::UnknownKey),
        }
    }
}

pub(super) enum KeySource {
    /// From `jwks_file` or `hs256_secret_env`, loaded once.
    Fixed(Arc<KeySet>),
    Remote(Arc<RemoteJwks>),
}

impl KeySource {
    pub(super) async fn keys_for(&self, kid: Option<&str>) -> Arc<KeySet> {
        match self {
            KeySource::Fixed(keys) => Arc::clone(keys),
            KeySource::Remote(remote) => remote.keys_for(kid).await,
        }
    }
}

pub(super) fn read_secret(
    var: &str,
    env: &dyn Fn(&str) -> Result<String, std::env::VarError>,
) -> Result<KeySet, String> {
    let secret = env(var).map_err(|e| match e {
        std::env::VarError::NotPresent => format!("environment variable {var} is not set"),
        std::env::VarError::NotUnicode(_) => format!("environment variable {var} is not UTF-8"),
    })?;
    if secret.len() < MIN_HS256_SECRET_BYTES {
        return Err(format!(
            "the HS256 secret in {var} is {} bytes; it must be at least {MIN_HS256_SECRET_BYTES}",
            secret.len()
        ));
    }
    let key = DecodingKey::from_secret(secret.as_bytes())
        .map_err(|e| format!("the HS256 secret in {var} is unusable: {e}"))?;
    Ok(KeySet {
        keys: vec![VerifyingKey {
            kid: None,
            alg: Algorithm::HS256,
            key,
        }],
        loaded: true,
        match_kid: false,
    })
}

pub(super) fn read_jwks_file(path: &Path) -> Result<KeySet, String> {
    let text = std::fs::read(path)
        .map_err(|e| format!("cannot read JWKS file {}: {e}", path.display()))?;
    parse_jwks(&text).map_err(|e| format!("JWKS file {}: {e}", path.display()))
}

/// Parses a JWKS document, keeping the keys this module can use. Fails when the document is
/// not a JWKS or holds no usable key.
pub(super) fn parse_jwks(document: &[u8]) -> Result<KeySet, String> {
    #[derive(Deserialize)]
    struct Document {
        keys: Vec<Value>,
    }
    let document: Document = serde_json::from_slice(document)
        .map_err(|e| format!("not a JWKS document (a JSON object with a \"keys\" array): {e}"))?;
    let mut keys = Vec::with_capacity(document.keys.len());
    for (i, jwk) in document.keys.iter().enumerate() {
        match parse_jwk(jwk) {
            Ok(key) => keys.push(key),
            Err(reason) => {
                let kid = jwk.get("kid").and_then(Value::as_str).unwrap_or("");
                tracing::debug!(index = i, kid, reason, "JWK skipped");
            }
        }
    }
    if keys.is_empty() {
        return Err(format!(
            "no usable key among {} (need an RS256, ES256 or EdDSA signing key)",
            document.keys.len()
        ));
    }
    Ok(KeySet {
        keys,
        loaded: true,
        match_kid: true,
    })
}

/// One JWK as a verifying key, or why it cannot be one.
pub(super) fn parse_jwk(jwk: &Value) -> Result<VerifyingKey, String> {
    let field = |name: &str| jwk.get(name).and_then(Value::as_str);
    let base64_field = |name: &str| -> Result<Vec<u8>, String> {
        let text = field(name).ok_or_else(|| format!("no \"{name}\""))?;
        URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|_| format!("\"{name}\" is not base64url"))
    };
    if jwk.get("use").is_some_and(|usage| *usage != "sig") {
        return Err("\"use\" is not \"sig\"".into());
    }
    if let Some(ops) = jwk.get("key_ops")
        && !ops
            .as_array()
            .is_some_and(|ops| ops.iter().any(|op| *op == "verify"))
    {
        return Err("\"key_ops\" lacks \"verify\"".into());
    }
    let kid = match jwk.get("kid") {
        None => None,
        Some(Value::String(kid)) => Some(kid.clone()),
        Some(_) => return Err("\"kid\" is not a string".into()),
    };
    let (alg, key) = match (field("kty"), field("crv")) {
        (Some("RSA"), _) => {
            let n = base64_field("n")?;
            let e = base64_field("e")?;
            let bits = bit_length(&n);
            if !(MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bits) {
                return Err(format!(
                    "RSA modulus of {bits} bits (need {MIN_RSA_BITS} to {MAX_RSA_BITS})"
                ));
            }
            if e.is_empty() || e.len() > 8 {
                return Err("RSA exponent out of range".into());
            }
            (
                Algorithm::RS256,
                DecodingKey::from_rsa_raw_components(&n, &e),
            )
        }
        (Some("EC"), Some("P-256")) => {
            let (x, y) = (base64_field("x")?, base64_field("y")?);
            if x.len() != 32 || y.len() != 32 {
                return Err("P-256 coordinates are not 32 bytes".into());
            }
            let point = [&[0x04][..], &x, &y].concat();
            (Algorithm::ES256, DecodingKey::from_ec_der(&point))
        }
        (Some("OKP"), Some("Ed25519")) => {
            // Checked here because jsonwebtoken slices the first 32 bytes without a length
            // check and would panic on a short key.
            let x = base64_field("x")?;
            if x.len() != 32 {
                return Err("Ed25519 key is not 32 bytes".into());
            }
            (Algorithm::EdDSA, DecodingKey::from_ed_der(&x))
        }
        (Some(kty), crv) => {
            return Err(format!("unsupported key type {kty} {}", crv.unwrap_or("")));
        }
        (None, _) => return Err("no \"kty\"".into()),
    };
    match jwk.get("alg") {
        None => {}
        Some(Value::String(declared)) if accepted_algorithm(declared) == Ok(alg) => {}
        Some(declared) => return Err(format!("\"alg\" {declared} does not fit the key")),
    }
    // Building a verifier parses the key (EC point on the curve, Ed25519 point decodes); a
    // bad key fails here rather than on every token. RSA keys are parsed per token instead,
    // so their size was checked above.
    jsonwebtoken::crypto::verify("", b"", &key, alg).map_err(|e| format!("bad key: {e}"))?;
    Ok(VerifyingKey { kid, alg, key })
}

pub(super) fn bit_length(big_endian: &[u8]) -> usize {
    match big_endian.iter().position(|byte| *byte != 0) {
        Some(first) => (big_endian.len() - first) * 8 - big_endian[first].leading_zeros() as usize,
        None => 0,
    }
}
