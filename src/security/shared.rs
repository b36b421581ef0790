//! Rate limits shared by every replica (`[rate_limits] store = "redis://…"`): the same GCRA as
//! the in-process limiter, decided in Redis by one script call per request.
//!
//! - **Atomic.** The script reads the bucket's theoretical arrival time, decides, and writes
//!   it back in one step on the server, with the server's clock (`TIME`), so replicas never
//!   race each other and their clocks do not matter.
//! - **Keys.** `gatehouse:rl:` and a hash of the route policy and the caller's key: the same on
//!   every replica with the same config, bounded in length, and no address or subject is
//!   stored in clear. A bucket expires once it would be full again.
//! - **Failure.** Redis unreachable, or slower than `timeout`: `on_store_error` decides at once
//!   (allow without `RateLimit-*` headers, or 503 `RATE_LIMIT_UNAVAILABLE`), the failure is
//!   counted (`gatehouse_rate_limit_store_errors_total`) and logged at most every 10 s. The
//!   connection manager reconnects by itself.

use std::fmt::Write as _;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use sha2::{Digest, Sha256};

use super::ratelimit::{Allowed, Limited};
use crate::config::{RateLimitsConfig, StoreErrorPolicy};
use crate::log_budget::LogBudget;

/// GCRA over microseconds. KEYS[1]: the bucket. ARGV: the emission interval and the burst.
/// Returns {1, remaining, µs until full} or {0, µs until allowed, µs until full}.
const GCRA: &str = r"
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local tolerance = interval * (burst - 1)
if tat - now > tolerance then
  return {0, tat - tolerance - now, tat - now}
end
local next = tat + interval
redis.call('SET', KEYS[1], next, 'PX', math.ceil((next - now) / 1000) + 1)
local remaining = math.floor((tolerance - (next - now)) / interval) + 1
if remaining < 0 then remaining = 0 end
return {1, remaining, next - now}
";

/// At most one log line about store failures in each 10 s window.
static FAILURE_LOG: LogBudget = LogBudget::new(1, 10);

/// The Redis store of one gateway config, shared by its rate limits.
pub struct SharedStore {
    connection: ConnectionManager,
    script: redis::Script,
    timeout: Duration,
    on_error: StoreErrorPolicy,
}

/// What the store decided, or that it could not.
pub enum Decision {
    Allowed(Allowed),
    Limited(Limited),
    /// The store failed and `on_store_error = "allow"`: let the call through, with no
    /// `RateLimit-*` headers (nothing is known about the bucket).
    AllowedUnchecked,
    /// The store failed and `on_store_error = "deny"`.
    Unavailable,
}

impl SharedStore {
    /// The store `config` names, or `None` for `"memory"`. Connects lazily: a Redis that is
    /// down at start-up costs the policy's answers until it is up, not the start.
    pub fn new(config: &RateLimitsConfig) -> Result<Option<SharedStore>, String> {
        if config.store == "memory" {
            return Ok(None);
        }
        let client = redis::Client::open(config.store.as_str())
            .map_err(|e| format!("rate_limits.store: {e}"))?;
        // No response timeout in the client: the call's own timeout bounds each decision, and
        // a slow answer must not count as a broken connection (which would reconnect).
        let manager = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(config.timeout.max(Duration::from_millis(100))))
            .set_response_timeout(None)
            .set_max_delay(Duration::from_secs(1))
            .set_number_of_retries(2);
        let connection = ConnectionManager::new_lazy_with_config(client, manager)
            .map_err(|e| format!("rate_limits.store: {e}"))?;
        Ok(Some(SharedStore {
            connection,
            script: redis::Script::new(GCRA),
            timeout: config.timeout,
            on_error: config.on_store_error,
        }))
    }

    /// Takes one call from the bucket of `scope` (the route policy) and `key`, whose limit is
    /// `limit` calls at once, earning one back every `interval`.
    pub async fn check(&self, scope: &str, key: &str, limit: u32, interval: Duration) -> Decision {
        let bucket = bucket_key(scope, key);
        let interval_us = interval.as_micros().max(1) as u64;
        let mut connection = self.connection.clone();
        let mut call = self.script.key(bucket);
        call.arg(interval_us).arg(limit);
        let result = tokio::time::timeout(
            self.timeout,
            call.invoke_async::<(u8, u64, u64)>(&mut connection),
        )
        .await;
        match result {
            Ok(Ok((1, remaining, full_us))) => Decision::Allowed(Allowed {
                limit,
                remaining: u32::try_from(remaining).unwrap_or(u32::MAX),
                reset: Duration::from_micros(full_us),
            }),
            Ok(Ok((_, wait_us, full_us))) => Decision::Limited(Limited {
                limit,
                retry_after: Duration::from_micros(wait_us),
                // Full once the wait is over and `limit - 1` more intervals have passed; the
                // script's own figure is the same, to the microsecond.
                reset: Duration::from_micros(full_us),
            }),
            Ok(Err(error)) => self.failed(&error.to_string()),
            Err(_) => self.failed("no answer within rate_limits.timeout"),
        }
    }

    fn failed(&self, why: &str) -> Decision {
        let policy = match self.on_error {
            StoreErrorPolicy::Allow => "allow",
            StoreErrorPolicy::Deny => "deny",
        };
        crate::telemetry::metrics::record_rate_limit_store_error(policy);
        log_failure(why, policy);
        match self.on_error {
            StoreErrorPolicy::Allow => Decision::AllowedUnchecked,
            StoreErrorPolicy::Deny => Decision::Unavailable,
        }
    }
}

/// `gatehouse:rl:` and 32 hex digits of SHA-256 over the policy and the key.
fn bucket_key(scope: &str, key: &str) -> String {
    let mut hash = Sha256::new();
    hash.update(scope.as_bytes());
    hash.update([0]);
    hash.update(key.as_bytes());
    let digest = hash.finalize();
    let mut out = String::with_capacity(13 + 32);
    out.push_str("gatehouse:rl:");
    for byte in &digest[..16] {
        // Writing to a String cannot fail.
        let _ = write!(out, "{byte:02x}");
    }
    out
}

/// Logs a store failure, unless one was already logged in this 10 s window.
fn log_failure(why: &str, policy: &str) {
    if let Some(left_out) = FAILURE_LOG.admit() {
        tracing::warn!(
            error = why,
            on_store_error = policy,
            left_out,
            "rate-limit store failed; the configured policy applies (logged once per 10 s at most)"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_keys_are_bounded_stable_and_separate_policies() {
        let a = bucket_key("0:GET /v1/users/*", "ip:10.0.0.1");
        assert_eq!(a, bucket_key("0:GET /v1/users/*", "ip:10.0.0.1"));
        assert_eq!(a.len(), "gatehouse:rl:".len() + 32);
        assert!(!a.contains("10.0.0.1"));
        assert_ne!(a, bucket_key("1:GET /v1/users/*", "ip:10.0.0.1"));
        // The separator keeps "ab"+"c" and "a"+"bc" apart.
        assert_ne!(bucket_key("ab", "c"), bucket_key("a", "bc"));
        assert_eq!(bucket_key("x", &"k".repeat(10_000)).len(), a.len());
    }
}
