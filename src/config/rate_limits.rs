//! `[rate_limits]` (where buckets live) and the quota a `[[routes]]` entry sets.

use std::time::Duration;

use serde::Deserialize;

/// `[rate_limits]`: where the buckets of `[[routes]] rate_limit` live.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitsConfig {
    /// `"memory"` (default: each process counts alone) or `"redis://host:port[/db]"`: every
    /// replica using the same Redis shares each quota.
    pub store: String,
    /// What a call gets while the store is unreachable or slow: `"allow"` (default) or `"deny"`
    /// (503 `RATE_LIMIT_UNAVAILABLE`).
    pub on_store_error: StoreErrorPolicy,
    /// Budget for one decision in the store; past it, `on_store_error` applies. Default 5 ms.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
}

/// Default `[rate_limits] timeout`.
pub const DEFAULT_RATE_LIMIT_STORE_TIMEOUT: Duration = Duration::from_millis(5);

impl Default for RateLimitsConfig {
    fn default() -> Self {
        RateLimitsConfig {
            store: "memory".into(),
            on_store_error: StoreErrorPolicy::Allow,
            timeout: DEFAULT_RATE_LIMIT_STORE_TIMEOUT,
        }
    }
}

impl RateLimitsConfig {
    pub(super) fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.store != "memory" {
            if !self.store.starts_with("redis://") {
                return Err((
                    "store",
                    format!(
                        "{:?} must be \"memory\" or redis://host:port (TLS is not supported)",
                        self.store
                    ),
                ));
            }
            redis::Client::open(self.store.as_str()).map_err(|e| ("store", e.to_string()))?;
        }
        if self.timeout.is_zero() {
            return Err(("timeout", "must be greater than 0".into()));
        }
        Ok(())
    }
}

/// `[rate_limits] on_store_error`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreErrorPolicy {
    Allow,
    Deny,
}

/// A rate limit: a token bucket (GCRA) per key.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Sustained rate; exactly one of `per_second` and `per_minute`.
    #[serde(default)]
    pub per_second: Option<u32>,
    #[serde(default)]
    pub per_minute: Option<u32>,
    /// Calls allowed at once after a quiet spell. Default: the per-second or per-minute count.
    #[serde(default)]
    pub burst: Option<u32>,
    /// What the limit counts by. Default `ip`.
    #[serde(default)]
    pub key: RateLimitKey,
}

/// What a rate limit counts by.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RateLimitKey {
    /// The client address (see `trusted_proxies`).
    #[default]
    Ip,
    /// The authenticated subject (JWT `sub` or API key name); the client address when the call
    /// has none.
    Subject,
    /// The API key's name; the client address when the call has none.
    ApiKey,
}

impl RateLimitConfig {
    /// Checks the quota; returns the reason when it cannot work.
    pub(super) fn validate(&self) -> Result<(), String> {
        match (self.per_second, self.per_minute) {
            (Some(n), None) | (None, Some(n)) if n > 0 => {}
            (Some(_), Some(_)) => return Err("set per_second or per_minute, not both".into()),
            _ => return Err("set per_second or per_minute to a number above 0".into()),
        }
        if self.burst == Some(0) {
            return Err("burst must be greater than 0".into());
        }
        Ok(())
    }
}
