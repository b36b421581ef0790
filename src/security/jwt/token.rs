//! Reading a token before its signature is checked: the segments, the header's algorithm
//! and the claims that choose the issuer and key; and the claims read after.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use jsonwebtoken::errors::ErrorKind;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::*;

/// What is read from a token before its signature is checked: only enough to pick the key.
pub(super) struct Peek {
    pub(super) alg: String,
    pub(super) kid: Option<String>,
    pub(super) iss: String,
}

#[derive(Deserialize)]
pub(super) struct PeekHeader {
    pub(super) alg: String,
    #[serde(default)]
    pub(super) kid: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct PeekClaims {
    #[serde(default)]
    pub(super) iss: Option<Value>,
}

impl Peek {
    pub(super) fn read(token: &str) -> Result<Peek, JwtError> {
        let mut segments = token.split('.');
        let (Some(header), Some(payload), Some(_signature), None) = (
            segments.next(),
            segments.next(),
            segments.next(),
            segments.next(),
        ) else {
            return Err(JwtError::Malformed);
        };
        let header: PeekHeader = decode_segment(header)?;
        let claims: PeekClaims = decode_segment(payload)?;
        let iss = match claims.iss {
            Some(Value::String(iss)) => iss,
            None => return Err(JwtError::MissingClaim("iss")),
            Some(_) => return Err(JwtError::InvalidClaim("iss")),
        };
        Ok(Peek {
            alg: header.alg,
            kid: header.kid,
            iss,
        })
    }
}

pub(super) fn decode_segment<T: serde::de::DeserializeOwned>(segment: &str) -> Result<T, JwtError> {
    let json = URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| JwtError::Malformed)?;
    serde_json::from_slice(&json).map_err(|_| JwtError::Malformed)
}

/// The algorithms a token may name at all; which one a given token must use is the key's.
pub(super) fn accepted_algorithm(name: &str) -> Result<Algorithm, JwtError> {
    match name {
        "RS256" => Ok(Algorithm::RS256),
        "ES256" => Ok(Algorithm::ES256),
        "EdDSA" => Ok(Algorithm::EdDSA),
        "HS256" => Ok(Algorithm::HS256),
        _ => Err(JwtError::UnsupportedAlgorithm),
    }
}

/// Turns a jsonwebtoken failure into the reason given to the client.
pub(super) fn refusal(kind: ErrorKind) -> JwtError {
    match kind {
        ErrorKind::InvalidSignature => JwtError::BadSignature,
        ErrorKind::ExpiredSignature => JwtError::Expired,
        ErrorKind::ImmatureSignature => JwtError::NotYetValid,
        ErrorKind::InvalidAudience => JwtError::WrongAudience,
        ErrorKind::InvalidIssuer => JwtError::UnknownIssuer,
        ErrorKind::InvalidAlgorithm => JwtError::AlgorithmMismatch,
        ErrorKind::UnsupportedAlgorithm
        | ErrorKind::InvalidAlgorithmName
        | ErrorKind::MissingAlgorithm => JwtError::UnsupportedAlgorithm,
        ErrorKind::MissingRequiredClaim(claim) => JwtError::MissingClaim(claim_name(&claim)),
        ErrorKind::InvalidClaimFormat(claim) => JwtError::InvalidClaim(claim_name(&claim)),
        // Keys are checked when loaded; a key the crypto backend still refuses cannot have
        // signed this token.
        ErrorKind::InvalidEcdsaKey
        | ErrorKind::InvalidEddsaKey
        | ErrorKind::InvalidRsaKey(_)
        | ErrorKind::InvalidKeyFormat => JwtError::BadSignature,
        _ => JwtError::Malformed,
    }
}

pub(super) fn claim_name(claim: &str) -> &'static str {
    match claim {
        "exp" => "exp",
        "nbf" => "nbf",
        "iss" => "iss",
        "aud" => "aud",
        "sub" => "sub",
        _ => "registered claim",
    }
}

/// The roles at `path`: the claim named exactly `path` if there is one (namespaced claims
/// such as `https://example.com/roles` contain dots), else the dots walk into objects.
/// An array of strings or a space-separated string; anything else means no roles.
pub(super) fn roles_at(claims: &Map<String, Value>, path: &str) -> Vec<String> {
    match claim_at(claims, path) {
        Some(Value::String(roles)) => roles.split_whitespace().map(str::to_owned).collect(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| item.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// The claim named `path`: a claim with exactly that name wins; otherwise dots walk into
/// objects (`realm_access.roles`).
pub fn claim_at<'c>(claims: &'c Map<String, Value>, path: &str) -> Option<&'c Value> {
    claims.get(path).or_else(|| {
        let mut segments = path.split('.');
        let first = claims.get(segments.next()?)?;
        segments.try_fold(first, |value, segment| value.as_object()?.get(segment))
    })
}
