//! Keys from a `jwks_url` or found by OIDC discovery: fetched in the background, refreshed,
//! and fetched early (at most once per interval) for a token naming an unknown `kid`.

use std::fmt;
use std::sync::{Arc, Weak};
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::sync::{Mutex, watch};
use tokio::time::Instant;

use super::discovery::jwks_uri;
use super::*;

/// Keys fetched from a `jwks_url` or the `jwks_uri` of the issuer's discovery document.
pub(super) struct RemoteJwks {
    pub(super) issuer: String,
    pub(super) location: JwksLocation,
    pub(super) client: reqwest::Client,
    pub(super) refresh: Duration,
    pub(super) keys: ArcSwap<KeySet>,
    /// Held for the length of a fetch, so callers wanting one wait for it instead of
    /// starting another.
    pub(super) log: Mutex<FetchLog>,
}

/// Where a remote issuer's keys are found.
pub(super) enum JwksLocation {
    /// `jwks_url`: the JWKS itself.
    Url(String),
    /// The issuer alone: this discovery document names the JWKS, and is read before each fetch.
    Discovery(String),
}

impl fmt::Display for JwksLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JwksLocation::Url(url) | JwksLocation::Discovery(url) => f.write_str(url),
        }
    }
}

#[derive(Default)]
pub(super) struct FetchLog {
    pub(super) last_attempt: Option<Instant>,
    pub(super) last_failed: bool,
    /// The last fetch caused by an unknown `kid`.
    pub(super) last_on_demand: Option<Instant>,
}

impl RemoteJwks {
    /// The keys to check a token naming `kid` with, fetching them again first when they do
    /// not have it (or were never fetched) and the rate limit allows.
    pub(super) async fn keys_for(&self, kid: Option<&str>) -> Arc<KeySet> {
        let wanting = |keys: &KeySet| !keys.loaded || kid.is_some_and(|kid| !keys.has_kid(kid));
        let keys = self.keys.load_full();
        if !wanting(&keys) {
            return keys;
        }
        let mut log = self.log.lock().await;
        // A fetch may have finished while this caller waited for the lock.
        let keys = self.keys.load_full();
        if !wanting(&keys) {
            return keys;
        }
        let now = Instant::now();
        let recent = |at: Option<Instant>| {
            at.is_some_and(|at| now.duration_since(at) < UNKNOWN_KID_REFETCH_INTERVAL)
        };
        if keys.loaded {
            if recent(log.last_on_demand) {
                return keys;
            }
            log.last_on_demand = Some(now);
        } else if recent(log.last_attempt) {
            return keys;
        }
        self.fetch(&mut log).await;
        self.keys.load_full()
    }

    /// Fetches when the refresh is due; returns when the next one is.
    pub(super) async fn refresh_if_due(&self) -> Instant {
        let mut log = self.log.lock().await;
        if self
            .next_refresh(&log)
            .is_none_or(|due| due <= Instant::now())
        {
            self.fetch(&mut log).await;
        }
        self.next_refresh(&log).unwrap_or_else(Instant::now)
    }

    pub(super) fn next_refresh(&self, log: &FetchLog) -> Option<Instant> {
        // After a failure, try again sooner than a full refresh period.
        let wait = if log.last_failed {
            self.refresh.min(UNKNOWN_KID_REFETCH_INTERVAL)
        } else {
            self.refresh
        };
        let at = log.last_attempt?;
        Some(
            at.checked_add(wait)
                .unwrap_or(at + Duration::from_secs(86_400)),
        )
    }

    pub(super) async fn fetch(&self, log: &mut FetchLog) {
        log.last_attempt = Some(Instant::now());
        match self.download().await {
            Ok(keys) => {
                tracing::debug!(issuer = %self.issuer, keys = keys.keys.len(), "JWKS fetched");
                log.last_failed = false;
                self.keys.store(Arc::new(keys));
            }
            Err(error) => {
                tracing::warn!(
                    issuer = %self.issuer,
                    url = %self.location,
                    %error,
                    "JWKS fetch failed; keeping the keys already held"
                );
                log.last_failed = true;
            }
        }
    }

    pub(super) async fn download(&self) -> Result<KeySet, String> {
        let discovered;
        let url = match &self.location {
            JwksLocation::Url(url) => url,
            JwksLocation::Discovery(document) => {
                discovered = jwks_uri(&self.client, &self.issuer, document).await?;
                &discovered
            }
        };
        let body = get_bounded(
            &self.client,
            url,
            "application/jwk-set+json, application/json",
        )
        .await
        .map_err(|e| match &self.location {
            JwksLocation::Url(_) => e,
            JwksLocation::Discovery(_) => format!("jwks_uri {url}: {e}"),
        })?;
        parse_jwks(&body)
    }
}

/// GETs `url` and reads its body, refusing an answer other than 2xx and a body larger than
/// [`MAX_JWKS_BYTES`].
pub(super) async fn get_bounded(
    client: &reqwest::Client,
    url: &str,
    accept: &str,
) -> Result<Vec<u8>, String> {
    let mut response = client
        .get(url)
        .header(reqwest::header::ACCEPT, accept)
        .send()
        .await
        .map_err(|e| format!("request failed: {e}"))?;
    if !response.status().is_success() {
        return Err(format!("answered {}", response.status()));
    }
    let too_large = || format!("document larger than {MAX_JWKS_BYTES} bytes");
    if response
        .content_length()
        .is_some_and(|len| len > MAX_JWKS_BYTES as u64)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| format!("reading the body failed: {e}"))?
    {
        if body.len() + chunk.len() > MAX_JWKS_BYTES {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The client shared by every `jwks_url` and discovery document: bounded in time, never
/// leaving the URL's scheme, and ignoring proxy variables so that the environment is read in one
/// place only.
pub(super) fn jwks_client() -> Result<reqwest::Client, String> {
    let redirects = reqwest::redirect::Policy::custom(|attempt| {
        let first = attempt
            .previous()
            .first()
            .map(|url| url.scheme().to_owned());
        if first.as_deref() != Some(attempt.url().scheme()) {
            attempt.error("JWKS redirect to another scheme")
        } else if attempt.previous().len() > MAX_JWKS_REDIRECTS {
            attempt.error("too many JWKS redirects")
        } else {
            attempt.follow()
        }
    });
    reqwest::Client::builder()
        .timeout(JWKS_FETCH_TIMEOUT)
        .connect_timeout(JWKS_FETCH_TIMEOUT)
        .redirect(redirects)
        .no_proxy()
        .build()
        .map_err(|e| format!("cannot build the JWKS HTTP client: {e}"))
}

/// Fetches `remote` at once and then whenever due, until the verifier is dropped. Holds only
/// a `Weak` between fetches so the task never keeps the keys alive.
pub(super) async fn refresh_loop(remote: Weak<RemoteJwks>, mut stop: watch::Receiver<()>) {
    loop {
        let Some(jwks) = remote.upgrade() else { return };
        let next = tokio::select! {
            next = jwks.refresh_if_due() => next,
            _ = stop.changed() => return,
        };
        drop(jwks);
        tokio::select! {
            () = tokio::time::sleep_until(next) => {}
            _ = stop.changed() => return,
        }
    }
}
