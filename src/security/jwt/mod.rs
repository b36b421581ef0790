//! JWT verification: bearer tokens from the issuers of `[[auth.jwt]]`.
//!
//! A token is checked in this order, and the first failure is the answer:
//!
//! 1. At most [`MAX_TOKEN_BYTES`], three base64url segments, JSON header and payload.
//! 2. The header `alg` is one this module accepts at all (RS256, ES256, EdDSA, HS256); `none`
//!    and everything else are refused.
//! 3. The issuer is chosen by the payload's `iss` (read before the signature is checked, but
//!    only used to pick keys), then the key by the header `kid`. The algorithm is the key's,
//!    never the token's: a JWK's `alg`, else the one its type implies; an `hs256_secret_env`
//!    issuer has one HS256 key. A header `alg` that differs is refused, which is what stops the
//!    RS256→HS256 confusion (a token MACed with the RSA public key). Keys in the token itself
//!    (`jwk`, `jku`, `x5u`, `x5c`) are never used.
//! 4. Signature, then `exp` (required), `nbf` (when present), `iss` (exact), `aud` (required,
//!    one of the configured audiences) with the issuer's leeway, then a non-empty `sub`.
//!
//! Keys of a `jwks_url` issuer are fetched in a background task and again every
//! `jwks_refresh`; a token naming an unknown `kid` makes one early fetch, at most once per
//! [`UNKNOWN_KID_REFETCH_INTERVAL`] per issuer, shared by the callers waiting for it. A fetch
//! that fails keeps the keys already held.
//!
//! An issuer with no key source at all is found by OIDC discovery: each of those fetches first
//! reads `<issuer>/.well-known/openid-configuration`, whose `issuer` must be the configured one
//! exactly, and then the JWKS at its `jwks_uri`. A discovery that fails is a failed fetch.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use jsonwebtoken::{Algorithm, Validation};
use serde_json::{Map, Value};
use tokio::sync::{Mutex, watch};

use crate::config::JwtConfig;

mod discovery;
mod jwks;
mod keys;
mod token;

use jwks::*;
use keys::*;
use token::*;

pub use token::claim_at;

/// Longest token looked at; longer ones are refused as malformed before any decoding.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;
/// Shortest HS256 secret accepted (RFC 7518 §3.2: at least the hash size).
pub const MIN_HS256_SECRET_BYTES: usize = 32;
/// Largest JWKS or discovery document read over HTTP.
pub const MAX_JWKS_BYTES: usize = 1024 * 1024;
/// Time one HTTP fetch of a JWKS or discovery document may take, connection and body included.
pub const JWKS_FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Least time between two fetches of one issuer's keys caused by tokens (an unknown `kid`,
/// or keys never fetched yet), so forged `kid`s cannot make the gateway hammer the issuer.
pub const UNKNOWN_KID_REFETCH_INTERVAL: Duration = Duration::from_secs(30);
/// Smallest RSA modulus accepted, in bits.
const MIN_RSA_BITS: usize = 2048;
/// Largest RSA modulus accepted, in bits (the `rsa` crate's own limit).
const MAX_RSA_BITS: usize = 8192;
/// Redirects a `jwks_url` fetch follows (never to another scheme).
const MAX_JWKS_REDIRECTS: usize = 3;
/// Floor on `jwks_refresh`, against a tight loop when config validation was skipped.
const MIN_JWKS_REFRESH: Duration = Duration::from_millis(100);

/// A verified caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    pub issuer: String,
    pub subject: String,
    pub roles: Vec<String>,
    /// Every claim of the token, for fields set from the credential.
    pub claims: Arc<Map<String, Value>>,
}

/// Why a token was refused. The text is safe to show a client: it never holds key material
/// or any part of the token.
#[derive(Clone, Copy, Debug, thiserror::Error, PartialEq, Eq)]
pub enum JwtError {
    /// Too long, not three base64url segments, or a header or payload that is not JSON.
    #[error("malformed token")]
    Malformed,
    #[error("token issuer not accepted")]
    UnknownIssuer,
    /// `none` or an algorithm other than RS256, ES256, EdDSA and HS256.
    #[error("token signing algorithm not supported")]
    UnsupportedAlgorithm,
    /// The header `alg` is not the algorithm of the key that must check it.
    #[error("token algorithm does not match the signing key")]
    AlgorithmMismatch,
    /// No key with the token's `kid`, or no `kid` and no single key for its algorithm.
    #[error("unknown signing key")]
    UnknownKey,
    #[error("invalid token signature")]
    BadSignature,
    #[error("token expired")]
    Expired,
    #[error("token not yet valid")]
    NotYetValid,
    #[error("token audience not accepted")]
    WrongAudience,
    /// Absent, or of a type that cannot hold it (jsonwebtoken reports a string `exp` as
    /// missing), or an empty `sub`.
    #[error("token lacks a valid `{0}` claim")]
    MissingClaim(&'static str),
    /// A registered claim present with the wrong type, e.g. a string `nbf` or an array `iss`.
    #[error("token claim `{0}` is invalid")]
    InvalidClaim(&'static str),
    /// The issuer's keys could not be fetched yet; retrying later may succeed.
    #[error("signing keys of the token issuer are unavailable")]
    KeysUnavailable,
}

/// Checks bearer tokens against the configured issuers. Cheap to share behind an `Arc`.
pub struct JwtVerifier {
    issuers: HashMap<String, Issuer>,
    /// Dropped with the verifier, which ends the `jwks_url` refresh tasks.
    _stop_refresh: watch::Sender<()>,
}

impl JwtVerifier {
    /// Loads every issuer's keys: reads `jwks_file` (relative to `base_dir`) and the HS256
    /// secret from its environment variable now. A `jwks_url`, or the keys an issuer with no
    /// key source discovers, are fetched in a background task (first at once, then every
    /// `jwks_refresh`), so this must be called inside a tokio runtime; the task ends when the
    /// verifier is dropped.
    ///
    /// Fails with a message naming the issuer and the problem: file missing, not a JWKS, no
    /// usable key, variable unset or shorter than [`MIN_HS256_SECRET_BYTES`].
    pub fn new(issuers: &[JwtConfig], base_dir: &Path) -> Result<JwtVerifier, String> {
        // The one place this module reads the environment.
        Self::with_env(issuers, base_dir, &|name| std::env::var(name))
    }

    fn with_env(
        configs: &[JwtConfig],
        base_dir: &Path,
        env: &dyn Fn(&str) -> Result<String, std::env::VarError>,
    ) -> Result<JwtVerifier, String> {
        let (stop_refresh, stop_rx) = watch::channel(());
        let mut client: Option<reqwest::Client> = None;
        let mut issuers = HashMap::with_capacity(configs.len());
        for config in configs {
            let name = &config.issuer;
            let fail = |reason: String| format!("jwt issuer {name:?}: {reason}");
            // Keys fetched over HTTP by a task of their own, with the client all issuers share.
            let mut remote = |location: JwksLocation| -> Result<Arc<RemoteJwks>, String> {
                let runtime = tokio::runtime::Handle::try_current()
                    .map_err(|_| format!("fetching keys from {location} needs a tokio runtime"))?;
                let client = match &client {
                    Some(client) => client.clone(),
                    None => client.insert(jwks_client()?).clone(),
                };
                let remote = Arc::new(RemoteJwks {
                    issuer: name.clone(),
                    location,
                    client,
                    refresh: config.jwks_refresh.max(MIN_JWKS_REFRESH),
                    keys: ArcSwap::from_pointee(KeySet::not_loaded()),
                    log: Mutex::new(FetchLog::default()),
                });
                runtime.spawn(refresh_loop(Arc::downgrade(&remote), stop_rx.clone()));
                Ok(remote)
            };
            let source = match (
                &config.jwks_file,
                &config.jwks_url,
                &config.hs256_secret_env,
            ) {
                (Some(file), None, None) => KeySource::Fixed(Arc::new(
                    read_jwks_file(&base_dir.join(file)).map_err(fail)?,
                )),
                (None, None, Some(var)) => {
                    KeySource::Fixed(Arc::new(read_secret(var, env).map_err(fail)?))
                }
                (None, Some(url), None) => {
                    let location = JwksLocation::Url(url.clone());
                    KeySource::Remote(remote(location).map_err(fail)?)
                }
                (None, None, None) => {
                    let location = JwksLocation::Discovery(discovery::discovery_url(name));
                    KeySource::Remote(remote(location).map_err(fail)?)
                }
                _ => {
                    return Err(fail(
                        "set at most one of jwks_file, jwks_url and hs256_secret_env".into(),
                    ));
                }
            };
            if issuers
                .insert(name.clone(), Issuer::new(config, source))
                .is_some()
            {
                return Err(fail("configured twice".into()));
            }
        }
        Ok(JwtVerifier {
            issuers,
            _stop_refresh: stop_refresh,
        })
    }

    /// A verifier for the one issuer `config` names, holding the keys of the JWKS `document`
    /// as if `config.jwks_file` held it (the key source fields of `config` are not read). For
    /// the `jwt` fuzz target, which makes a JWKS per input; the keys are parsed and the issuer
    /// built as for a `jwks_file`. Fails as loading that file would.
    #[doc(hidden)]
    pub fn from_jwks_json(config: &JwtConfig, document: &[u8]) -> Result<JwtVerifier, String> {
        let keys = parse_jwks(document)
            .map_err(|reason| format!("jwt issuer {:?}: {reason}", config.issuer))?;
        let issuer = Issuer::new(config, KeySource::Fixed(Arc::new(keys)));
        Ok(JwtVerifier {
            issuers: HashMap::from([(config.issuer.clone(), issuer)]),
            _stop_refresh: watch::channel(()).0,
        })
    }

    /// Checks a compact JWS token (without the `Bearer ` prefix).
    pub async fn verify(&self, token: &str) -> Result<Verified, JwtError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(JwtError::Malformed);
        }
        let peek = Peek::read(token)?;
        let alg = accepted_algorithm(&peek.alg)?;
        let issuer = self.issuers.get(&peek.iss).ok_or(JwtError::UnknownIssuer)?;
        let keys = issuer.source.keys_for(peek.kid.as_deref()).await;
        let key = keys.select(alg, peek.kid.as_deref())?;

        let mut validation = issuer.validation.clone();
        validation.algorithms = vec![key.alg];
        let claims = jsonwebtoken::decode::<Map<String, Value>>(token, &key.key, &validation)
            .map_err(|e| refusal(e.into_kind()))?
            .claims;
        let subject = match claims.get("sub") {
            Some(Value::String(sub)) if !sub.is_empty() => sub.clone(),
            _ => return Err(JwtError::MissingClaim("sub")),
        };
        Ok(Verified {
            issuer: issuer.name.clone(),
            subject,
            roles: roles_at(&claims, &issuer.roles_claim),
            claims: Arc::new(claims),
        })
    }
}

impl fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("issuers", &self.issuers.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

struct Issuer {
    name: String,
    /// Everything but `algorithms`, which comes from the chosen key.
    validation: Validation,
    roles_claim: String,
    source: KeySource,
}

impl Issuer {
    fn new(config: &JwtConfig, source: KeySource) -> Issuer {
        Issuer {
            name: config.issuer.clone(),
            validation: base_validation(config),
            roles_claim: config.roles_claim.clone(),
            source,
        }
    }
}

fn base_validation(config: &JwtConfig) -> Validation {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.leeway = config.leeway.as_secs();
    validation.validate_exp = true;
    // jsonwebtoken leaves `nbf` unchecked unless asked, and `aud` optional unless required.
    validation.validate_nbf = true;
    validation.validate_aud = true;
    validation.set_issuer(&[&config.issuer]);
    validation.set_audience(&config.audiences);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    validation
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use jsonwebtoken::{EncodingKey, Header, encode, get_current_timestamp};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use jsonwebtoken::DecodingKey;
    use jsonwebtoken::jwk::Jwk;
    use serde_json::json;
    use tokio::time::Instant;

    use crate::demo::DemoIssuer;

    const RSA_PEM: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/jwt/rsa.pem"
    ));
    const RSA_PUBLIC_PEM: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/jwt/rsa.pub.pem"
    ));
    const EC_PEM: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/jwt/ec.pem"
    ));
    const ED_PEM: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/jwt/ed25519.pem"
    ));
    const ISS: &str = "https://issuer.test";
    const AUD: &str = "gatehouse";
    const SECRET_VAR: &str = "TEST_JWT_SECRET";
    const SECRET: &str = "an HS256 secret of at least 32 bytes!";

    fn encoding_key(alg: Algorithm) -> EncodingKey {
        match alg {
            Algorithm::RS256 => EncodingKey::from_rsa_pem(RSA_PEM.as_bytes()),
            Algorithm::ES256 => EncodingKey::from_ec_pem(EC_PEM.as_bytes()),
            Algorithm::EdDSA => EncodingKey::from_ed_pem(ED_PEM.as_bytes()),
            Algorithm::HS256 => EncodingKey::from_secret(SECRET.as_bytes()),
            other => panic!("no fixture key for {other:?}"),
        }
        .expect("fixture key")
    }

    /// The public JWK of a fixture key, with `kid` "rsa", "ec" or "ed" and `use` "sig".
    fn jwk(alg: Algorithm) -> Value {
        let mut jwk =
            serde_json::to_value(Jwk::from_encoding_key(&encoding_key(alg), alg).unwrap()).unwrap();
        let kid = match alg {
            Algorithm::RS256 => "rsa",
            Algorithm::ES256 => "ec",
            _ => "ed",
        };
        jwk["kid"] = json!(kid);
        jwk["use"] = json!("sig");
        jwk
    }

    fn jwks(keys: &[Value]) -> String {
        json!({ "keys": keys }).to_string()
    }

    fn claims() -> Value {
        json!({
            "iss": ISS,
            "aud": AUD,
            "sub": "alice",
            "exp": get_current_timestamp() + 300,
            "roles": ["reader", "writer"],
        })
    }

    fn sign(alg: Algorithm, kid: Option<&str>, claims: &Value) -> String {
        let mut header = Header::new(alg);
        header.kid = kid.map(str::to_owned);
        encode(&header, claims, &encoding_key(alg)).unwrap()
    }

    /// A token from raw header and payload JSON and a signature segment.
    fn raw_token(header: &Value, claims: &Value, signature: &str) -> String {
        let part = |value: &Value| URL_SAFE_NO_PAD.encode(value.to_string());
        format!("{}.{}.{signature}", part(header), part(claims))
    }

    fn config() -> JwtConfig {
        JwtConfig {
            issuer: ISS.into(),
            audiences: vec!["other".into(), AUD.into()],
            jwks_file: None,
            jwks_url: None,
            hs256_secret_env: None,
            leeway: Duration::from_secs(30),
            jwks_refresh: Duration::from_secs(300),
            roles_claim: "roles".into(),
        }
    }

    fn env(name: &str) -> Result<String, std::env::VarError> {
        match name {
            SECRET_VAR => Ok(SECRET.into()),
            "SHORT_SECRET" => Ok("too short".into()),
            _ => Err(std::env::VarError::NotPresent),
        }
    }

    /// A temporary folder, removed on drop.
    fn temp_dir() -> tempfile::TempDir {
        tempfile::Builder::new()
            .prefix("gatehouse-jwt-")
            .tempdir()
            .unwrap()
    }

    fn build(configs: &[JwtConfig], dir: &Path) -> Result<JwtVerifier, String> {
        JwtVerifier::with_env(configs, dir, &env)
    }

    /// A verifier for one issuer whose `jwks_file` holds `document`.
    fn file_verifier(document: &str, tweak: impl FnOnce(&mut JwtConfig)) -> JwtVerifier {
        let dir = temp_dir();
        std::fs::write(dir.path().join("jwks.json"), document).unwrap();
        let mut config = config();
        config.jwks_file = Some("jwks.json".into());
        tweak(&mut config);
        build(&[config], dir.path()).unwrap()
    }

    /// A verifier with the RSA, EC (no `alg` in its JWK) and Ed25519 fixture keys.
    fn all_keys_verifier() -> JwtVerifier {
        let mut ec = jwk(Algorithm::ES256);
        ec.as_object_mut().unwrap().remove("alg");
        let keys = [jwk(Algorithm::RS256), ec, jwk(Algorithm::EdDSA)];
        file_verifier(&jwks(&keys), |_| {})
    }

    fn secret_verifier() -> JwtVerifier {
        let mut config = config();
        config.hs256_secret_env = Some(SECRET_VAR.into());
        build(&[config], Path::new(".")).unwrap()
    }

    fn alice() -> Verified {
        Verified {
            issuer: ISS.into(),
            subject: "alice".into(),
            roles: vec!["reader".into(), "writer".into()],
            claims: Arc::default(),
        }
    }

    /// A verified caller without the claims it carried (which hold times), to compare.
    fn without_claims(verified: Verified) -> Verified {
        Verified {
            claims: Arc::default(),
            ..verified
        }
    }

    #[tokio::test]
    async fn jwks_tokens_of_each_algorithm_are_accepted() {
        let verifier = all_keys_verifier();
        for (alg, kid) in [
            (Algorithm::RS256, "rsa"),
            (Algorithm::ES256, "ec"),
            (Algorithm::EdDSA, "ed"),
        ] {
            let token = sign(alg, Some(kid), &claims());
            assert_eq!(
                verifier.verify(&token).await.map(without_claims),
                Ok(alice()),
                "{alg:?}"
            );
            // Without a `kid`, the one key of the token's algorithm is used.
            let token = sign(alg, None, &claims());
            assert_eq!(
                verifier.verify(&token).await.map(without_claims),
                Ok(alice()),
                "{alg:?} without kid"
            );
        }
    }

    #[tokio::test]
    async fn hs256_secret_tokens_are_accepted() {
        let verifier = secret_verifier();
        assert_eq!(
            verifier
                .verify(&sign(Algorithm::HS256, None, &claims()))
                .await
                .map(without_claims),
            Ok(alice())
        );
        // A `kid` means nothing to a secret issuer.
        let token = sign(Algorithm::HS256, Some("whatever"), &claims());
        assert_eq!(
            verifier.verify(&token).await.map(without_claims),
            Ok(alice())
        );
    }

    #[tokio::test]
    async fn alg_none_is_refused() {
        let verifier = all_keys_verifier();
        for (alg, kid) in [
            ("none", json!("rsa")),
            ("None", json!(null)),
            ("NONE", json!("ed")),
        ] {
            let header = json!({ "alg": alg, "typ": "JWT", "kid": kid });
            for signature in ["", "e30"] {
                let token = raw_token(&header, &claims(), signature);
                assert_eq!(
                    verifier.verify(&token).await,
                    Err(JwtError::UnsupportedAlgorithm),
                    "{alg} {signature:?}"
                );
            }
        }
        let secrets = secret_verifier();
        let token = raw_token(&json!({ "alg": "none" }), &claims(), "");
        assert_eq!(
            secrets.verify(&token).await,
            Err(JwtError::UnsupportedAlgorithm)
        );
    }

    #[tokio::test]
    async fn rsa_public_key_used_as_hmac_secret_is_refused() {
        // The forged token: HS256 with the issuer's public RSA key as the secret. A verifier
        // taking the algorithm from the token would accept it, as this shows.
        let forge_key = EncodingKey::from_secret(RSA_PUBLIC_PEM.as_bytes()).unwrap();
        let naive_key = DecodingKey::from_secret(RSA_PUBLIC_PEM.as_bytes()).unwrap();
        let mut naive = Validation::new(Algorithm::HS256);
        naive.set_audience(&[AUD]);
        for kid in [Some("rsa"), None] {
            let mut header = Header::new(Algorithm::HS256);
            header.kid = kid.map(str::to_owned);
            let forged = encode(&header, &claims(), &forge_key).unwrap();
            assert!(jsonwebtoken::decode::<Value>(&forged, &naive_key, &naive).is_ok());

            let only_rsa = file_verifier(&jwks(&[jwk(Algorithm::RS256)]), |_| {});
            assert_eq!(
                only_rsa.verify(&forged).await,
                Err(JwtError::AlgorithmMismatch),
                "kid {kid:?}"
            );
            assert_eq!(
                all_keys_verifier().verify(&forged).await,
                Err(JwtError::AlgorithmMismatch),
                "kid {kid:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_token_must_use_its_keys_algorithm() {
        let verifier = all_keys_verifier();
        // Signed by the EC key, but naming the RSA key's id.
        let token = sign(Algorithm::ES256, Some("rsa"), &claims());
        assert_eq!(
            verifier.verify(&token).await,
            Err(JwtError::AlgorithmMismatch)
        );
        // A secret issuer takes HS256 only.
        let token = sign(Algorithm::RS256, None, &claims());
        assert_eq!(
            secret_verifier().verify(&token).await,
            Err(JwtError::AlgorithmMismatch)
        );
        // A JWK whose `alg` says RS256 checks RS256 only, whatever else RSA could do.
        let token = raw_token(&json!({ "alg": "PS256", "kid": "rsa" }), &claims(), "AAAA");
        assert_eq!(
            verifier.verify(&token).await,
            Err(JwtError::UnsupportedAlgorithm)
        );
        let token = raw_token(&json!({ "alg": "RS384", "kid": "rsa" }), &claims(), "AAAA");
        assert_eq!(
            verifier.verify(&token).await,
            Err(JwtError::UnsupportedAlgorithm)
        );
    }

    #[tokio::test]
    async fn wrong_signatures_are_refused() {
        let verifier = all_keys_verifier();
        // Another Ed25519 key, claiming the fixture key's id.
        let other = DemoIssuer::generate(ISS, AUD).unwrap();
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some("ed".into());
        let token = encode(&header, &claims(), other.encoding_key()).unwrap();
        assert_eq!(verifier.verify(&token).await, Err(JwtError::BadSignature));

        // A valid signature over other claims.
        for (alg, kid) in [
            (Algorithm::RS256, "rsa"),
            (Algorithm::ES256, "ec"),
            (Algorithm::EdDSA, "ed"),
        ] {
            let genuine = sign(alg, Some(kid), &claims());
            let mut promoted = claims();
            promoted["roles"] = json!(["admin"]);
            let forged = sign(alg, Some(kid), &promoted);
            let (head, _) = forged.rsplit_once('.').unwrap();
            let (_, signature) = genuine.rsplit_once('.').unwrap();
            let token = format!("{head}.{signature}");
            assert_eq!(
                verifier.verify(&token).await,
                Err(JwtError::BadSignature),
                "{alg:?}"
            );
        }
        let mut other_secret = claims();
        other_secret["sub"] = json!("mallory");
        let token = encode(
            &Header::new(Algorithm::HS256),
            &other_secret,
            &EncodingKey::from_secret(b"another secret that is 32 bytes long").unwrap(),
        )
        .unwrap();
        assert_eq!(
            secret_verifier().verify(&token).await,
            Err(JwtError::BadSignature)
        );
    }

    #[tokio::test]
    async fn expiry_allows_the_leeway_and_no_more() {
        let verifier = all_keys_verifier();
        let now = get_current_timestamp();
        // Beyond the configured 30 s, though within jsonwebtoken's default of 60 s.
        let mut expired = claims();
        expired["exp"] = json!(now - 45);
        let token = sign(Algorithm::EdDSA, Some("ed"), &expired);
        assert_eq!(verifier.verify(&token).await, Err(JwtError::Expired));

        let mut within_leeway = claims();
        within_leeway["exp"] = json!(now - 10);
        let token = sign(Algorithm::EdDSA, Some("ed"), &within_leeway);
        assert_eq!(
            verifier.verify(&token).await.map(without_claims),
            Ok(alice())
        );

        let mut no_exp = claims();
        no_exp.as_object_mut().unwrap().remove("exp");
        let token = sign(Algorithm::EdDSA, Some("ed"), &no_exp);
        assert_eq!(
            verifier.verify(&token).await,
            Err(JwtError::MissingClaim("exp"))
        );

        let mut text_exp = claims();
        text_exp["exp"] = json!("tomorrow");
        let token = sign(Algorithm::EdDSA, Some("ed"), &text_exp);
        assert_eq!(
            verifier.verify(&token).await,
            Err(JwtError::MissingClaim("exp"))
        );
    }

    #[tokio::test]
    async fn not_before_is_checked_with_the_leeway() {
        let verifier = all_keys_verifier();
        let now = get_current_timestamp();
        let mut future = claims();
        future["nbf"] = json!(now + 45);
        let token = sign(Algorithm::ES256, Some("ec"), &future);
        assert_eq!(verifier.verify(&token).await, Err(JwtError::NotYetValid));

        future["nbf"] = json!(now + 10);
        let token = sign(Algorithm::ES256, Some("ec"), &future);
        assert_eq!(
            verifier.verify(&token).await.map(without_claims),
            Ok(alice())
        );

        future["nbf"] = json!("now");
        let token = sign(Algorithm::ES256, Some("ec"), &future);
        assert_eq!(
            verifier.verify(&token).await,
            Err(JwtError::InvalidClaim("nbf"))
        );
    }

    #[tokio::test]
    async fn issuer_must_be_configured_exactly() {
        let verifier = all_keys_verifier();
        for iss in [
            json!("https://evil.test"),
            json!("https://issuer.test/"),
            json!(""),
        ] {
            let mut other = claims();
            other["iss"] = iss.clone();
            let token = sign(Algorithm::EdDSA, Some("ed"), &other);
            assert_eq!(
                verifier.verify(&token).await,
                Err(JwtError::UnknownIssuer),
                "{iss}"
            );
        }
        let mut array = claims();
        array["iss"] = json!([ISS]);
        let token = sign(Algorithm::EdDSA, Some("ed"), &array);
        assert_eq!(
            verifier.verify(&token).await,
            Err(JwtError::InvalidClaim("iss"))
        );

        let mut none = claims();
        none.as_object_mut().unwrap().remove("iss");
        let token = sign(Algorithm::EdDSA, Some("ed"), &none);
        assert_eq!(
            verifier.verify(&token).await,
            Err(JwtError::MissingClaim("iss"))
        );
    }

    #[tokio::test]
    async fn audience_must_name_a_configured_one() {
        let verifier = all_keys_verifier();
        let with_aud = |aud: Value| {
            let mut claims = claims();
            claims["aud"] = aud;
            sign(Algorithm::RS256, Some("rsa"), &claims)
        };
        assert_eq!(
            verifier.verify(&with_aud(json!("billing"))).await,
            Err(JwtError::WrongAudience)
        );
        assert_eq!(
            verifier
                .verify(&with_aud(json!(["billing", "reports"])))
                .await,
            Err(JwtError::WrongAudience)
        );
        assert_eq!(
            verifier.verify(&with_aud(json!([]))).await,
            Err(JwtError::WrongAudience)
        );
        assert_eq!(
            verifier
                .verify(&with_aud(json!(["billing", AUD])))
                .await
                .map(without_claims),
            Ok(alice())
        );
        assert_eq!(
            verifier
                .verify(&with_aud(json!("other")))
                .await
                .map(without_claims),
            Ok(alice())
        );

        let mut none = claims();
        none.as_object_mut().unwrap().remove("aud");
        let token = sign(Algorithm::RS256, Some("rsa"), &none);
        assert_eq!(
            verifier.verify(&token).await,
            Err(JwtError::MissingClaim("aud"))
        );
    }

    #[tokio::test]
    async fn unknown_or_ambiguous_keys_are_refused() {
        let verifier = all_keys_verifier();
        let token = sign(Algorithm::EdDSA, Some("retired"), &claims());
        assert_eq!(verifier.verify(&token).await, Err(JwtError::UnknownKey));

        // Two Ed25519 keys and a token naming neither.
        let mut second =
            serde_json::from_str::<Value>(&DemoIssuer::generate(ISS, AUD).unwrap().jwks_json())
                .unwrap()["keys"][0]
                .clone();
        second["kid"] = json!("ed2");
        let two = file_verifier(&jwks(&[jwk(Algorithm::EdDSA), second]), |_| {});
        let token = sign(Algorithm::EdDSA, None, &claims());
        assert_eq!(two.verify(&token).await, Err(JwtError::UnknownKey));
        let token = sign(Algorithm::EdDSA, Some("ed"), &claims());
        assert_eq!(two.verify(&token).await.map(without_claims), Ok(alice()));
    }

    #[tokio::test]
    async fn subject_is_required() {
        let verifier = all_keys_verifier();
        for sub in [None, Some(json!("")), Some(json!(42)), Some(json!(null))] {
            let mut claims = claims();
            match &sub {
                Some(sub) => claims["sub"] = sub.clone(),
                None => {
                    claims.as_object_mut().unwrap().remove("sub");
                }
            }
            let token = sign(Algorithm::EdDSA, Some("ed"), &claims);
            assert_eq!(
                verifier.verify(&token).await,
                Err(JwtError::MissingClaim("sub")),
                "{sub:?}"
            );
        }
    }

    #[tokio::test]
    async fn roles_come_from_the_configured_claim() {
        let cases = [
            ("roles", json!({ "roles": ["a", "b"] }), vec!["a", "b"]),
            ("roles", json!({ "roles": "a  b\tc" }), vec!["a", "b", "c"]),
            (
                "scope",
                json!({ "scope": "read:users write:users" }),
                vec!["read:users", "write:users"],
            ),
            (
                "realm_access.roles",
                json!({ "realm_access": { "roles": ["admin"] } }),
                vec!["admin"],
            ),
            (
                "https://example.com/roles",
                json!({ "https://example.com/roles": ["ops"] }),
                vec!["ops"],
            ),
            ("roles", json!({ "roles": ["a", 1] }), vec![]),
            ("roles", json!({ "roles": { "a": true } }), vec![]),
            ("roles", json!({ "roles": 7 }), vec![]),
            ("roles", json!({}), vec![]),
            (
                "realm_access.roles",
                json!({ "realm_access": ["admin"] }),
                vec![],
            ),
            (
                "realm_access.roles",
                json!({ "realm_access": "admin" }),
                vec![],
            ),
        ];
        for (path, extra, expected) in cases {
            let verifier = file_verifier(&jwks(&[jwk(Algorithm::EdDSA)]), |config| {
                config.roles_claim = path.into();
            });
            let mut claims = claims();
            claims.as_object_mut().unwrap().remove("roles");
            for (name, value) in extra.as_object().unwrap() {
                claims[name] = value.clone();
            }
            let token = sign(Algorithm::EdDSA, Some("ed"), &claims);
            let verified = verifier.verify(&token).await.unwrap();
            assert_eq!(verified.roles, expected, "{path} {extra}");
        }
    }

    #[tokio::test]
    async fn oversized_tokens_are_refused_before_decoding() {
        let verifier = all_keys_verifier();
        let mut big = claims();
        big["padding"] = json!("x".repeat(MAX_TOKEN_BYTES));
        let token = sign(Algorithm::EdDSA, Some("ed"), &big);
        assert!(token.len() > MAX_TOKEN_BYTES);
        assert_eq!(verifier.verify(&token).await, Err(JwtError::Malformed));
        // Just under the limit is still looked at.
        let room = MAX_TOKEN_BYTES - sign(Algorithm::EdDSA, Some("ed"), &claims()).len();
        let mut fits = claims();
        fits["padding"] = json!("x".repeat(room * 3 / 4 - 20));
        let token = sign(Algorithm::EdDSA, Some("ed"), &fits);
        assert!(token.len() <= MAX_TOKEN_BYTES);
        assert_eq!(
            verifier.verify(&token).await.map(without_claims),
            Ok(alice())
        );
    }

    #[tokio::test]
    async fn garbage_is_refused_without_panicking() {
        let verifier = all_keys_verifier();
        let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"EdDSA","kid":"ed"}"#);
        let payload = URL_SAFE_NO_PAD.encode(claims().to_string());
        let fixed = [
            String::new(),
            ".".into(),
            "..".into(),
            "...".into(),
            "a.b".into(),
            "a.b.c".into(),
            "a.b.c.d".into(),
            "a.b.c.d.e".into(),
            format!("{header}.{payload}"),
            format!("{header}.{payload}.sig.extra"),
            format!("{header}=.{payload}.AAAA"),
            format!("{header}.{payload}=.AAAA"),
            format!("{header}.{payload}.!!!!"),
            format!("{header}.{payload}.AAA"),
            format!("{header}.%%%.AAAA"),
            format!("{}.{payload}.AAAA", URL_SAFE_NO_PAD.encode("not json")),
            format!("{}.{payload}.AAAA", URL_SAFE_NO_PAD.encode("[]")),
            format!("{}.{payload}.AAAA", URL_SAFE_NO_PAD.encode(r#"{"alg":7}"#)),
            format!(
                "{}.{payload}.AAAA",
                URL_SAFE_NO_PAD.encode(r#"{"alg":"EdDSA","kid":1}"#)
            ),
            format!("{header}.{}.AAAA", URL_SAFE_NO_PAD.encode("null")),
            format!(
                "{header}.{}.AAAA",
                URL_SAFE_NO_PAD.encode(r#"{"iss":"a","iss":"b"}"#)
            ),
            format!("{header}.{}.AAAA", URL_SAFE_NO_PAD.encode("[".repeat(3000))),
            "\u{0}\u{1}.\u{fffd}.é".into(),
            "Bearer x.y.z".into(),
        ];
        for token in &fixed {
            assert!(verifier.verify(token).await.is_err(), "{token:?}");
        }
        let mut random = fastrand::Rng::with_seed(7);
        let alphabet: Vec<char> =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ \u{e9}"
                .chars()
                .collect();
        for _ in 0..2000 {
            let len = random.usize(0..200);
            let token: String = (0..len)
                .map(|_| alphabet[random.usize(..alphabet.len())])
                .collect();
            assert!(verifier.verify(&token).await.is_err(), "{token:?}");
            let bytes: Vec<u8> = (0..len).map(|_| random.u8(..)).collect();
            let token = String::from_utf8_lossy(&bytes);
            assert!(verifier.verify(&token).await.is_err(), "{token:?}");
        }
        // Every one-character change of a valid token is refused.
        let token = sign(Algorithm::EdDSA, Some("ed"), &claims());
        assert!(verifier.verify(&token).await.is_ok());
        for i in 0..token.len() {
            for replacement in ['A', 'z', '_', '.'] {
                if token.as_bytes()[i] == replacement as u8 {
                    continue;
                }
                let mut changed = token.clone();
                changed.replace_range(i..=i, replacement.encode_utf8(&mut [0; 4]));
                assert!(verifier.verify(&changed).await.is_err(), "{changed}");
            }
        }
    }

    #[test]
    fn loading_fails_with_the_issuer_and_the_reason() {
        let dir = temp_dir();
        let with_file = |name: &str, content: Option<&str>| {
            if let Some(content) = content {
                std::fs::write(dir.path().join(name), content).unwrap();
            }
            let mut config = config();
            config.jwks_file = Some(name.into());
            build(&[config], dir.path()).unwrap_err()
        };
        let error = with_file("missing.json", None);
        assert!(
            error.contains(ISS) && error.contains("cannot read JWKS file"),
            "{error}"
        );
        let error = with_file("list.json", Some("[1, 2]"));
        assert!(
            error.contains(ISS) && error.contains("not a JWKS"),
            "{error}"
        );
        let error = with_file("text.json", Some("hello"));
        assert!(error.contains("not a JWKS"), "{error}");

        let mut encryption = jwk(Algorithm::RS256);
        encryption["use"] = json!("enc");
        let mut rs384 = jwk(Algorithm::RS256);
        rs384["alg"] = json!("RS384");
        let mut mislabelled = jwk(Algorithm::ES256);
        mislabelled["alg"] = json!("HS256");
        let mut verify_only_not = jwk(Algorithm::EdDSA);
        verify_only_not["key_ops"] = json!(["encrypt"]);
        let mut short = jwk(Algorithm::EdDSA);
        short["x"] = json!("AAAA");
        let mut off_curve = jwk(Algorithm::ES256);
        off_curve["y"] = json!(URL_SAFE_NO_PAD.encode([1u8; 32]));
        let mut small_rsa = jwk(Algorithm::RS256);
        small_rsa["n"] = json!(URL_SAFE_NO_PAD.encode([0xffu8; 128]));
        let unusable = [
            encryption,
            rs384,
            mislabelled,
            verify_only_not,
            short,
            off_curve,
            small_rsa,
            json!({ "kty": "oct", "k": "c2VjcmV0", "kid": "hmac" }),
            json!({ "kty": "EC", "crv": "P-384", "x": "AA", "y": "AA" }),
            json!({ "kty": "OKP", "crv": "Ed448", "x": "AA" }),
            json!({ "kid": "no-kty" }),
            json!("not an object"),
        ];
        let error = with_file("unusable.json", Some(&jwks(&unusable)));
        assert!(
            error.contains(ISS) && error.contains("no usable key"),
            "{error}"
        );

        let mut config = config();
        config.hs256_secret_env = Some("UNSET_SECRET".into());
        let error = build(&[config.clone()], dir.path()).unwrap_err();
        assert!(
            error.contains(ISS) && error.contains("UNSET_SECRET is not set"),
            "{error}"
        );
        config.hs256_secret_env = Some("SHORT_SECRET".into());
        let error = build(&[config.clone()], dir.path()).unwrap_err();
        assert!(
            error.contains(ISS) && error.contains("at least 32"),
            "{error}"
        );

        config.jwks_file = Some("jwks.json".into());
        let error = build(&[config], dir.path()).unwrap_err();
        assert!(error.contains("at most one"), "{error}");
    }

    #[test]
    fn jwks_url_needs_a_runtime() {
        let mut config = config();
        config.jwks_url = Some("http://127.0.0.1:9/jwks".into());
        let error = build(&[config], Path::new(".")).unwrap_err();
        assert!(error.contains("tokio runtime"), "{error}");
    }

    #[tokio::test]
    async fn a_jwks_document_verifies_as_the_same_jwks_file() {
        let keys = [jwk(Algorithm::RS256), jwk(Algorithm::EdDSA)];
        let document = jwks(&keys);
        let verifier = JwtVerifier::from_jwks_json(&config(), document.as_bytes()).unwrap();
        let from_file = file_verifier(&document, |_| {});
        let tokens = [
            sign(Algorithm::RS256, Some("rsa"), &claims()),
            sign(Algorithm::EdDSA, None, &claims()),
            sign(Algorithm::ES256, Some("ec"), &claims()),
        ];
        for token in &tokens {
            assert_eq!(verifier.verify(token).await, from_file.verify(token).await);
        }
        assert!(verifier.verify(&tokens[0]).await.is_ok());
        let error = JwtVerifier::from_jwks_json(&config(), b"[1, 2]").unwrap_err();
        assert!(
            error.contains(ISS) && error.contains("not a JWKS"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn a_demo_issuer_signs_tokens_its_jwks_verifies() {
        let demo = DemoIssuer::generate(ISS, AUD).unwrap();
        let jwks_json: Value = serde_json::from_str(&demo.jwks_json()).unwrap();
        let key = &jwks_json["keys"][0];
        assert_eq!(
            (&key["kty"], &key["crv"], &key["alg"]),
            (&json!("OKP"), &json!("Ed25519"), &json!("EdDSA"))
        );
        assert!(
            key.get("d").is_none(),
            "the JWKS must hold the public key only"
        );

        let verifier = file_verifier(&demo.jwks_json(), |_| {});
        let token = demo.token("bob", &["admin"], Duration::from_secs(60));
        let expected = Verified {
            issuer: ISS.into(),
            subject: "bob".into(),
            roles: vec!["admin".into()],
            claims: Arc::default(),
        };
        assert_eq!(
            verifier.verify(&token).await.map(without_claims),
            Ok(expected)
        );
        let expired = demo.token("bob", &[], Duration::ZERO);
        assert!(verifier.verify(&expired).await.is_ok(), "within the leeway");

        let other = DemoIssuer::generate(ISS, AUD).unwrap();
        assert_ne!(other.kid(), demo.kid());
        assert_eq!(
            verifier
                .verify(&other.token("bob", &[], Duration::from_secs(60)))
                .await,
            Err(JwtError::UnknownKey)
        );
    }

    #[test]
    fn verifier_is_send_and_sync() {
        fn shareable<T: Send + Sync>() {}
        shareable::<JwtVerifier>();
        shareable::<DemoIssuer>();
    }

    /// A JWKS endpoint on 127.0.0.1 answering every request with the current status and
    /// body, and counting requests.
    struct JwksServer {
        url: String,
        answer: Arc<std::sync::Mutex<(u16, String)>>,
        requests: Arc<AtomicUsize>,
    }

    impl JwksServer {
        async fn start(body: String) -> JwksServer {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!(
                "http://{}/.well-known/jwks.json",
                listener.local_addr().unwrap()
            );
            let answer = Arc::new(std::sync::Mutex::new((200, body)));
            let requests = Arc::new(AtomicUsize::new(0));
            let (served, counted) = (Arc::clone(&answer), Arc::clone(&requests));
            tokio::spawn(async move {
                while let Ok((mut socket, _)) = listener.accept().await {
                    let (answer, requests) = (Arc::clone(&served), Arc::clone(&counted));
                    tokio::spawn(async move {
                        let mut request = Vec::new();
                        let mut buf = [0; 1024];
                        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                            match socket.read(&mut buf).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => request.extend_from_slice(&buf[..n]),
                            }
                        }
                        requests.fetch_add(1, Ordering::SeqCst);
                        let (status, body) = answer.lock().unwrap().clone();
                        let response = format!(
                            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n\
                             content-length: {}\r\nconnection: close\r\n\r\n{body}",
                            body.len()
                        );
                        let _ = socket.write_all(response.as_bytes()).await;
                        let _ = socket.shutdown().await;
                    });
                }
            });
            JwksServer {
                url,
                answer,
                requests,
            }
        }

        fn serve(&self, status: u16, body: String) {
            *self.answer.lock().unwrap() = (status, body);
        }

        fn requests(&self) -> usize {
            self.requests.load(Ordering::SeqCst)
        }

        fn verifier(&self, refresh: Duration) -> JwtVerifier {
            let mut config = config();
            config.jwks_url = Some(self.url.clone());
            config.jwks_refresh = refresh;
            build(&[config], Path::new(".")).unwrap()
        }
    }

    fn hour() -> Duration {
        Duration::from_secs(3600)
    }

    #[tokio::test]
    async fn jwks_url_unknown_kid_refetches_once_per_interval() {
        let first = DemoIssuer::generate(ISS, AUD).unwrap();
        let server = JwksServer::start(first.jwks_json()).await;
        let verifier = server.verifier(hour());
        let token = first.token("alice", &["reader"], hour());
        assert_eq!(verifier.verify(&token).await.unwrap().subject, "alice");
        assert_eq!(
            server.requests(),
            1,
            "the first fetch is shared by the refresh task"
        );
        assert!(verifier.verify(&token).await.is_ok());
        assert_eq!(server.requests(), 1);

        // The issuer rotates its key: the new kid is unknown, so the keys are fetched again.
        let second = DemoIssuer::generate(ISS, AUD).unwrap();
        server.serve(200, second.jwks_json());
        let token = second.token("bob", &[], hour());
        assert_eq!(verifier.verify(&token).await.unwrap().subject, "bob");
        assert_eq!(server.requests(), 2);

        // Another unknown kid within 30 s does not fetch.
        let stranger = DemoIssuer::generate(ISS, AUD).unwrap();
        let token = stranger.token("eve", &[], hour());
        assert_eq!(verifier.verify(&token).await, Err(JwtError::UnknownKey));
        assert_eq!(verifier.verify(&token).await, Err(JwtError::UnknownKey));
        assert_eq!(server.requests(), 2);
    }

    #[tokio::test]
    async fn jwks_url_concurrent_callers_share_one_refetch() {
        let first = DemoIssuer::generate(ISS, AUD).unwrap();
        let server = JwksServer::start(first.jwks_json()).await;
        let verifier = Arc::new(server.verifier(hour()));
        assert!(
            verifier
                .verify(&first.token("a", &[], hour()))
                .await
                .is_ok()
        );
        let second = DemoIssuer::generate(ISS, AUD).unwrap();
        server.serve(200, second.jwks_json());
        let token = second.token("b", &[], hour());
        let mut calls = tokio::task::JoinSet::new();
        for _ in 0..8 {
            let (verifier, token) = (Arc::clone(&verifier), token.clone());
            calls.spawn(async move { verifier.verify(&token).await });
        }
        while let Some(result) = calls.join_next().await {
            assert_eq!(result.unwrap().map(|v| v.subject), Ok("b".into()));
        }
        assert_eq!(server.requests(), 2);
    }

    #[tokio::test]
    async fn jwks_url_failures_keep_the_previous_keys() {
        let first = DemoIssuer::generate(ISS, AUD).unwrap();
        let server = JwksServer::start(first.jwks_json()).await;
        let verifier = server.verifier(hour());
        let token = first.token("a", &[], hour());
        assert!(verifier.verify(&token).await.is_ok());

        server.serve(500, "oops".into());
        let stranger = DemoIssuer::generate(ISS, AUD).unwrap();
        let unknown = stranger.token("eve", &[], hour());
        assert_eq!(verifier.verify(&unknown).await, Err(JwtError::UnknownKey));
        assert_eq!(server.requests(), 2);
        assert!(
            verifier.verify(&token).await.is_ok(),
            "old keys kept after a failed fetch"
        );
    }

    #[tokio::test]
    async fn jwks_url_unreachable_or_oversized_means_keys_unavailable() {
        let demo = DemoIssuer::generate(ISS, AUD).unwrap();
        let server = JwksServer::start("x".repeat(MAX_JWKS_BYTES + 1)).await;
        let verifier = server.verifier(hour());
        let token = demo.token("a", &[], hour());
        assert_eq!(
            verifier.verify(&token).await,
            Err(JwtError::KeysUnavailable)
        );
        assert_eq!(
            verifier.verify(&token).await,
            Err(JwtError::KeysUnavailable)
        );
        assert_eq!(
            server.requests(),
            1,
            "failed first fetches are rate-limited too"
        );

        // Nothing listening: refused connection.
        let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut config = config();
        config.jwks_url = Some(format!("http://{}/jwks", closed.local_addr().unwrap()));
        drop(closed);
        let verifier = build(&[config], Path::new(".")).unwrap();
        assert_eq!(
            verifier.verify(&token).await,
            Err(JwtError::KeysUnavailable)
        );
    }

    #[tokio::test]
    async fn jwks_url_refreshes_until_the_verifier_is_dropped() {
        let demo = DemoIssuer::generate(ISS, AUD).unwrap();
        let server = JwksServer::start(demo.jwks_json()).await;
        let verifier = server.verifier(Duration::from_millis(100));
        let deadline = Instant::now() + Duration::from_secs(10);
        while server.requests() < 3 {
            assert!(Instant::now() < deadline, "no periodic refresh");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        drop(verifier);
        tokio::time::sleep(Duration::from_millis(100)).await;
        let after_drop = server.requests();
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(
            server.requests(),
            after_drop,
            "refresh task outlived the verifier"
        );
    }

    #[test]
    fn error_messages_say_what_is_wrong() {
        let cases = [
            (JwtError::Malformed, "malformed token"),
            (JwtError::UnknownIssuer, "token issuer not accepted"),
            (
                JwtError::UnsupportedAlgorithm,
                "token signing algorithm not supported",
            ),
            (
                JwtError::AlgorithmMismatch,
                "token algorithm does not match the signing key",
            ),
            (JwtError::UnknownKey, "unknown signing key"),
            (JwtError::BadSignature, "invalid token signature"),
            (JwtError::Expired, "token expired"),
            (JwtError::NotYetValid, "token not yet valid"),
            (JwtError::WrongAudience, "token audience not accepted"),
            (
                JwtError::MissingClaim("sub"),
                "token lacks a valid `sub` claim",
            ),
            (
                JwtError::InvalidClaim("exp"),
                "token claim `exp` is invalid",
            ),
            (
                JwtError::KeysUnavailable,
                "signing keys of the token issuer are unavailable",
            ),
        ];
        for (error, text) in cases {
            assert_eq!(error.to_string(), text);
        }
    }
}
