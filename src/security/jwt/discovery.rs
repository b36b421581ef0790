//! OIDC discovery (OpenID Connect Discovery 1.0, §4): an issuer configured alone publishes the
//! URL of its keys as `jwks_uri` in `<issuer>/.well-known/openid-configuration`. The document
//! is read again before every key fetch, so a `jwks_uri` that moves is followed.

use serde::Deserialize;

use super::jwks::get_bounded;

/// Where the discovery document of `issuer` lives: the issuer without its trailing `/`, then
/// `/.well-known/openid-configuration`.
pub(super) fn discovery_url(issuer: &str) -> String {
    format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    )
}

/// The two members of the provider metadata the gateway reads.
#[derive(Deserialize)]
struct ProviderMetadata {
    issuer: Option<String>,
    jwks_uri: Option<String>,
}

/// Reads the discovery document at `document_url` and returns its `jwks_uri`. Fails when the
/// document cannot be fetched or is not JSON, when its `issuer` is not exactly `issuer` (the
/// check that stops one issuer from vouching for another's keys), or when `jwks_uri` is
/// missing, not an http(s) URL, or plain http for an https issuer.
pub(super) async fn jwks_uri(
    client: &reqwest::Client,
    issuer: &str,
    document_url: &str,
) -> Result<String, String> {
    let body = get_bounded(client, document_url, "application/json").await?;
    let metadata: ProviderMetadata = serde_json::from_slice(&body)
        .map_err(|e| format!("the discovery document is not OIDC provider metadata: {e}"))?;
    match metadata.issuer {
        Some(named) if named == issuer => {}
        Some(named) => {
            return Err(format!(
                "the discovery document names issuer {named:?}, not the configured {issuer:?}"
            ));
        }
        None => return Err("the discovery document has no `issuer`".into()),
    }
    let url = metadata
        .jwks_uri
        .ok_or("the discovery document has no `jwks_uri`")?;
    let uri: http::Uri = url
        .parse()
        .map_err(|_| format!("the discovery document's jwks_uri {url:?} is not a URL"))?;
    let scheme = uri.scheme_str();
    if !matches!(scheme, Some("http" | "https")) || uri.host().is_none() {
        return Err(format!(
            "the discovery document's jwks_uri {url:?} is not an http(s) URL"
        ));
    }
    let https_issuer = issuer
        .parse::<http::Uri>()
        .is_ok_and(|issuer| issuer.scheme_str() == Some("https"));
    if scheme == Some("http") && https_issuer {
        return Err(format!(
            "the discovery document's jwks_uri {url:?} is plain http for an https issuer"
        ));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_sits_under_the_issuer() {
        for (issuer, url) in [
            (
                "https://id.example.com",
                "https://id.example.com/.well-known/openid-configuration",
            ),
            (
                "https://id.example.com/",
                "https://id.example.com/.well-known/openid-configuration",
            ),
            (
                "https://id.example.com/realms/main",
                "https://id.example.com/realms/main/.well-known/openid-configuration",
            ),
        ] {
            assert_eq!(discovery_url(issuer), url);
        }
    }
}
