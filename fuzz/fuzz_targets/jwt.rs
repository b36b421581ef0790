//! JWT verification: `JwtVerifier::verify` of any token against any JWKS document
//! (`JwtVerifier::from_jwks_json`, which parses the keys as a `jwks_file` is parsed).
//!
//! Input: one control byte, then the JWKS document, a 0xFF byte (never in UTF-8 text), and the
//! token. Control bits 0-1 pick the issuer's settings (audiences, leeway, roles claim). With
//! bit 2 clear the token is taken as it is (lossily as UTF-8). With bit 2 set it is
//! `header JSON 0xFF claims JSON [0xFF signature]`: the target base64url-encodes both and, when
//! no signature is given, signs them with the fixture key bits 4-5 pick (RS256, ES256, EdDSA,
//! or HS256 keyed with the RSA public key: the algorithm confusion), so mutated claims still
//! carry a valid signature and reach the claim checks.
//!
//! Invariants: nothing panics, and a token is accepted only if it checks out on its own
//! terms, recomputed here: its signature verifies under its header `alg` (RS256, ES256 or
//! EdDSA: never `none` nor HS256, which no JWKS key has) with a JWK of the document of the
//! matching type and, when the header names a `kid`, that `kid`; and it has the configured
//! `iss`, one of the audiences, an unexpired numeric `exp` and the `sub` answered.
#![no_main]

use std::sync::OnceLock;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gatehouse::config::JwtConfig;
use gatehouse::security::jwt::{JwtVerifier, Verified};
use gatehouse_fuzz::keys::{self, AUDIENCE, ISSUER};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

const SEPARATOR: u8 = 0xff;

/// Issuer settings the control byte picks from: `(audiences, leeway s, roles claim)`.
const SETTINGS: [(&[&str], u64, &str); 4] = [
    (&[AUDIENCE], 30, "roles"),
    (&["other", AUDIENCE], 0, "realm_access.roles"),
    (&[AUDIENCE], 300, "https://example.com/roles"),
    (&["other"], 30, "scope"),
];

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a Tokio runtime")
    })
}

fn config(control: u8) -> JwtConfig {
    let (audiences, leeway, roles_claim) = SETTINGS[usize::from(control & 3)];
    JwtConfig {
        issuer: ISSUER.into(),
        audiences: audiences.iter().map(|a| a.to_string()).collect(),
        jwks_file: Some("jwks.json".into()),
        jwks_url: None,
        hs256_secret_env: None,
        leeway: Duration::from_secs(leeway),
        jwks_refresh: Duration::from_secs(300),
        roles_claim: roles_claim.into(),
    }
}

/// The token the input describes (see the module doc).
fn token(control: u8, input: &[u8]) -> String {
    if control & 4 == 0 {
        return String::from_utf8_lossy(input).into_owned();
    }
    let mut parts = input.splitn(3, |&b| b == SEPARATOR);
    let header = parts.next().unwrap_or_default();
    let claims = parts.next().unwrap_or_default();
    if let Some(signature) = parts.next() {
        return format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(claims),
            String::from_utf8_lossy(signature)
        );
    }
    let signed = match (control >> 4) & 3 {
        3 => {
            let secret =
                EncodingKey::from_secret(keys::RSA_PUBLIC_PEM.as_bytes()).expect("an HS256 secret");
            keys::sign_raw(header, claims, &secret, Algorithm::HS256)
        }
        i => {
            let key = &keys::signing_keys()[usize::from(i)];
            keys::sign_raw(header, claims, &key.key, key.alg)
        }
    };
    signed.expect("the fixture keys sign")
}

/// The JWK types each accepted algorithm needs.
fn key_type(alg: &str) -> Option<(&'static str, Option<&'static str>)> {
    match alg {
        "RS256" => Some(("RSA", None)),
        "ES256" => Some(("EC", Some("P-256"))),
        "EdDSA" => Some(("OKP", Some("Ed25519"))),
        _ => None,
    }
}

/// Rebuilds a JWK's key from its base64url components, through jsonwebtoken's own
/// constructors (not the gateway's parser). Curve points of the wrong size are left out:
/// jsonwebtoken's Ed25519 verifier panics on a short key, and the gateway refuses them.
fn decoding_key(jwk: &Value, kty: &str) -> Option<DecodingKey> {
    let field = |name: &str| jwk.get(name).and_then(Value::as_str);
    let point = |name: &str| {
        let text = field(name)?;
        let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
        (bytes.len() == 32).then_some(text)
    };
    match kty {
        "RSA" => DecodingKey::from_rsa_components(field("n")?, field("e")?).ok(),
        "EC" => DecodingKey::from_ec_components(point("x")?, point("y")?).ok(),
        "OKP" => DecodingKey::from_ed_components(point("x")?).ok(),
        _ => None,
    }
}

/// Panics unless `token` deserves `verified` (see the module doc).
fn check_accepted(token: &str, jwks: &[u8], config: &JwtConfig, verified: &Verified) {
    let segments: Vec<&str> = token.split('.').collect();
    let [header, claims, signature] = segments[..] else {
        panic!("accepted a token of {} segments", segments.len());
    };
    let decode = |segment: &str| -> Value {
        let bytes = URL_SAFE_NO_PAD
            .decode(segment)
            .expect("accepted a segment that is not base64url");
        serde_json::from_slice(&bytes).expect("accepted a segment that is not JSON")
    };
    let (header_json, claims_json) = (decode(header), decode(claims));

    let alg_name = header_json["alg"].as_str().unwrap_or_default();
    let Some((kty, crv)) = key_type(alg_name) else {
        panic!("accepted alg {:?}", header_json["alg"]);
    };
    let alg: Algorithm = alg_name.parse().expect("a known algorithm");
    // A `"kid": null` is no `kid`, as the gateway reads it.
    let kid = header_json.get("kid").filter(|kid| !kid.is_null());
    let document: Value =
        serde_json::from_slice(jwks).expect("accepted with a JWKS that is not JSON");
    let message = format!("{header}.{claims}");
    let signed_by_a_key = document["keys"]
        .as_array()
        .expect("accepted with a JWKS without keys")
        .iter()
        .filter(|jwk| jwk["kty"] == kty && crv.is_none_or(|crv| jwk["crv"] == crv))
        .filter(|jwk| kid.is_none_or(|kid| jwk.get("kid") == Some(kid)))
        .filter_map(|jwk| decoding_key(jwk, kty))
        .any(|key| {
            jsonwebtoken::crypto::verify(signature, message.as_bytes(), &key, alg).unwrap_or(false)
        });
    assert!(
        signed_by_a_key,
        "accepted a token no {kty} key of the JWKS signed"
    );

    assert_eq!(claims_json["iss"], ISSUER, "accepted a foreign iss");
    assert_eq!(verified.issuer, ISSUER);
    let audience_ok = |aud: &Value| {
        aud.as_str()
            .is_some_and(|aud| config.audiences.iter().any(|a| a == aud))
    };
    let aud = &claims_json["aud"];
    assert!(
        audience_ok(aud)
            || aud
                .as_array()
                .is_some_and(|auds| auds.iter().any(audience_ok)),
        "accepted aud {aud}"
    );
    let exp = claims_json["exp"]
        .as_u64()
        .expect("accepted a token without a numeric exp");
    let now = jsonwebtoken::get_current_timestamp();
    assert!(
        exp.saturating_add(config.leeway.as_secs()) >= now,
        "accepted a token expired at {exp}"
    );
    assert_eq!(claims_json["sub"].as_str(), Some(verified.subject.as_str()));
    assert!(!verified.subject.is_empty(), "accepted an empty sub");
}

fuzz_target!(|data: &[u8]| {
    let Some((&control, rest)) = data.split_first() else {
        return;
    };
    let Some(split) = rest.iter().position(|&b| b == SEPARATOR) else {
        return;
    };
    let (jwks, token_input) = (&rest[..split], &rest[split + 1..]);
    let config = config(control);
    let Ok(verifier) = JwtVerifier::from_jwks_json(&config, jwks) else {
        return;
    };
    let token = token(control, token_input);
    if let Ok(verified) = runtime().block_on(verifier.verify(&token)) {
        check_accepted(&token, jwks, &config, &verified);
    }
});
