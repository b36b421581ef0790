//! Rate limits: one GCRA bucket per key (governor), read on tokio's clock, with a bounded
//! number of keys.
//!
//! - **Key type.** `String`. governor's `check_key` takes `&K`, so each check builds one from
//!   the caller's `&str`: one small allocation, which an `Arc<str>` would cost too (an inline
//!   key would need another crate). The table clones it only when the key is new.
//! - **Clock.** `TokioClock` reads `tokio::time::Instant`, so tests pause and advance time
//!   instead of sleeping; outside a paused runtime it is the monotonic clock.
//! - **Bounded keys.** At most `max_keys` keys get a bucket of their own. A new key that finds
//!   the table full first triggers a sweep of idle keys; if the table is still full, its calls
//!   count against one shared overflow bucket (same quota), so a flood of new keys is limited
//!   as one client and never costs memory. The overflow bucket lives outside the table and so
//!   cannot collide with any key.
//! - **Eviction without a background task.** A sweep (governor's `retain_recent`, one pass over
//!   the table) runs on the request path when the key count reaches a threshold that doubles
//!   with what the last sweep left (from `MIN_SWEEP_LEN` up to `max_keys`), so each sweep is
//!   paid for by the keys added since the one before; and at most once per `SWEEP_GAP` (1 s), so a
//!   full table under a key flood costs one pass per gap, not one per request.
//! - **Idle.** governor drops a key once its bucket has been full for one more emission
//!   interval: a key used once is gone two intervals later.

use std::fmt;
use std::num::NonZeroU32;
use std::ops::Add;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::Duration;

use super::shared::{Decision, SharedStore};
use governor::clock::{Clock, Reference};
use governor::middleware::StateInformationMiddleware;
use governor::nanos::Nanos;
use governor::state::keyed::{DashMapStateStore, ShrinkableKeyedStateStore};
use governor::state::{InMemoryState, NotKeyed, StateStore};
use governor::{Quota, RateLimiter};
use http::{HeaderName, HeaderValue, header::RETRY_AFTER};

use crate::config::RateLimitConfig;

/// Keys tracked per limit by [`RateLimit::new`].
pub const DEFAULT_MAX_KEYS: usize = 100_000;

/// Largest burst honoured: governor keeps `interval × burst` in u64 nanoseconds, and a larger
/// burst is unlimited in practice anyway.
pub const MAX_BURST: u32 = 100_000_000;

/// Below this many keys, idle keys are left in place.
const MIN_SWEEP_LEN: usize = 1024;

/// Least time between two sweeps of one limit's keys.
const SWEEP_GAP: Duration = Duration::from_secs(1);

/// Response headers of the IETF `RateLimit` fields draft (the separate-fields form).
pub const RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
pub const RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
pub const RATELIMIT_RESET: HeaderName = HeaderName::from_static("ratelimit-reset");

type Limiter = RateLimiter<String, KeyStore, TokioClock, StateInformationMiddleware>;

/// One route policy's limit, shared by every request it covers: counted in this process, or
/// in the shared store (`[rate_limits] store`) when it has one.
pub struct RateLimit {
    /// The shared store and this limit's scope in it (the route policy).
    shared: Option<(Arc<SharedStore>, String)>,
    limiter: Limiter,
    limit: u32,
    /// Time to earn back one call (governor's emission interval, at least 1 ns).
    interval: Duration,
    max_keys: usize,
    /// Sweep idle keys once this many are tracked.
    sweep_at: AtomicUsize,
    /// No sweep before this time, in nanoseconds since `epoch`.
    next_sweep: AtomicU64,
    epoch: TokioInstant,
}

impl RateLimit {
    /// The limit of a validated config, tracking up to [`DEFAULT_MAX_KEYS`] keys.
    pub fn new(config: &RateLimitConfig) -> RateLimit {
        RateLimit::with_capacity(config, DEFAULT_MAX_KEYS)
    }

    /// The limit of a validated config, giving at most `max_keys` keys a bucket of their own
    /// (0: every call shares the overflow bucket). A config that sets no rate, or 0, fails
    /// closed as 1 per minute; `per_second` wins if both are set; burst is capped at
    /// [`MAX_BURST`].
    pub fn with_capacity(config: &RateLimitConfig, max_keys: usize) -> RateLimit {
        let quota = quota(config);
        let clock = TokioClock;
        let epoch = clock.now();
        let store = KeyStore {
            keys: DashMapStateStore::default(),
            len: AtomicUsize::new(0),
            max_keys,
            overflow: InMemoryState::default(),
        };
        RateLimit {
            shared: None,
            limiter: Limiter::new(quota, store, clock),
            limit: quota.burst_size().get(),
            interval: quota.replenish_interval().max(Duration::from_nanos(1)),
            max_keys,
            sweep_at: AtomicUsize::new(MIN_SWEEP_LEN.min(max_keys)),
            next_sweep: AtomicU64::new(0),
            epoch,
        }
    }

    /// This limit, counted in `store` under `scope` (which names the route policy the same way
    /// on every replica) instead of in this process.
    pub fn shared(mut self, store: Arc<SharedStore>, scope: String) -> RateLimit {
        self.shared = Some((store, scope));
        self
    }

    /// Takes one call for `key` from the shared store if there is one, else from this
    /// process's bucket.
    pub async fn decide(&self, key: &str) -> Decision {
        match &self.shared {
            Some((store, scope)) => store.check(scope, key, self.limit, self.interval).await,
            None => match self.check(key) {
                Ok(allowed) => Decision::Allowed(allowed),
                Err(limited) => Decision::Limited(limited),
            },
        }
    }

    /// Takes one call for `key` from this process's bucket, or says when the next one will be
    /// allowed.
    pub fn check(&self, key: &str) -> Result<Allowed, Limited> {
        if self.limiter.len() >= self.sweep_at.load(Relaxed) {
            self.sweep();
        }
        match self.limiter.check_key(&key.to_owned()) {
            Ok(state) => {
                let remaining = state.remaining_burst_capacity();
                // governor tells the whole calls left, not the fraction of the next one, so
                // this is the latest the bucket can be full: exact when calls land on whole
                // intervals, otherwise late by less than one interval (never early).
                let reset = self.interval * self.limit.saturating_sub(remaining);
                Ok(Allowed {
                    limit: self.limit,
                    remaining,
                    reset,
                })
            }
            Err(not_until) => {
                let retry_after = not_until.wait_time_from(self.limiter.clock().now());
                // The call that would be allowed at `retry_after` is the first of a full
                // bucket's worth; the rest follow one interval apart.
                let reset = retry_after + self.interval * (self.limit - 1);
                Err(Limited {
                    limit: self.limit,
                    retry_after,
                    reset,
                })
            }
        }
    }

    /// Keys tracked now (the overflow bucket is not one of them).
    pub fn len(&self) -> usize {
        self.limiter.len()
    }

    /// Whether no key is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops idle keys, unless another sweep ran less than `SWEEP_GAP` ago.
    fn sweep(&self) {
        let now = self
            .limiter
            .clock()
            .now()
            .duration_since(self.epoch)
            .as_u64();
        let due = self.next_sweep.load(Relaxed);
        if now < due {
            return;
        }
        let next = now.saturating_add(Nanos::from(SWEEP_GAP).as_u64());
        // One caller sweeps; the others carry on.
        if self
            .next_sweep
            .compare_exchange(due, next, Relaxed, Relaxed)
            .is_err()
        {
            return;
        }
        let before = self.limiter.len();
        self.limiter.retain_recent();
        let left = self.limiter.len();
        if left < before / 4 {
            self.limiter.shrink_to_fit();
        }
        self.sweep_at.store(
            left.saturating_mul(2).max(MIN_SWEEP_LEN).min(self.max_keys),
            Relaxed,
        );
        if left >= self.max_keys {
            tracing::warn!(
                max_keys = self.max_keys,
                "rate limit key table full of active keys; new keys share one overflow bucket"
            );
        }
    }
}

impl fmt::Debug for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimit")
            .field("limit", &self.limit)
            .field("interval", &self.interval)
            .field("max_keys", &self.max_keys)
            .field("keys", &self.len())
            .finish_non_exhaustive()
    }
}

/// governor's quota for `config`; see [`RateLimit::with_capacity`] for the fallbacks.
fn quota(config: &RateLimitConfig) -> Quota {
    let per_second = config.per_second.and_then(NonZeroU32::new);
    let per_minute = config.per_minute.and_then(NonZeroU32::new);
    let quota = match (per_second, per_minute) {
        (Some(n), _) => Quota::per_second(n),
        (None, Some(n)) => Quota::per_minute(n),
        (None, None) => Quota::per_minute(NonZeroU32::MIN),
    };
    let burst = config
        .burst
        .filter(|&b| b > 0)
        .unwrap_or(quota.burst_size().get())
        .min(MAX_BURST);
    quota.allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN))
}

/// Within the limit: what the `RateLimit-*` response headers say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Allowed {
    /// The burst size.
    pub limit: u32,
    /// Calls that could be made right now.
    pub remaining: u32,
    /// Time until the bucket is full again.
    pub reset: Duration,
}

impl Allowed {
    /// `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset` (seconds, rounded up).
    pub fn headers(&self) -> [(HeaderName, HeaderValue); 3] {
        [
            (RATELIMIT_LIMIT, HeaderValue::from(self.limit)),
            (RATELIMIT_REMAINING, HeaderValue::from(self.remaining)),
            (RATELIMIT_RESET, HeaderValue::from(ceil_secs(self.reset))),
        ]
    }
}

/// Over the limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limited {
    /// The burst size.
    pub limit: u32,
    /// Time until the next call would be allowed.
    pub retry_after: Duration,
    /// Time until the bucket is full again.
    pub reset: Duration,
}

impl Limited {
    /// `Retry-After` in whole seconds: rounded up, at least 1.
    pub fn retry_after_secs(&self) -> u64 {
        ceil_secs(self.retry_after).max(1)
    }

    /// `RateLimit-Limit`, `RateLimit-Remaining` (0), `RateLimit-Reset` and `Retry-After`
    /// (seconds, rounded up; `Retry-After` at least 1).
    pub fn headers(&self) -> [(HeaderName, HeaderValue); 4] {
        [
            (RATELIMIT_LIMIT, HeaderValue::from(self.limit)),
            (RATELIMIT_REMAINING, HeaderValue::from(0u32)),
            (RATELIMIT_RESET, HeaderValue::from(ceil_secs(self.reset))),
            (RETRY_AFTER, HeaderValue::from(self.retry_after_secs())),
        ]
    }
}

fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// The keyed state: a bucket per key up to `max_keys`, then one shared overflow bucket.
struct KeyStore {
    keys: DashMapStateStore<String>,
    /// `keys.len()`, counted here so the hot path does not lock every shard to learn it.
    /// Approximate under concurrency; set exactly after each sweep.
    len: AtomicUsize,
    max_keys: usize,
    overflow: InMemoryState,
}

impl StateStore for KeyStore {
    type Key = String;

    fn measure_and_replace<T, F, E>(&self, key: &String, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        if let Some(state) = self.keys.get(key) {
            return state.measure_and_replace(&NotKeyed::NonKey, f);
        }
        if self.len.load(Relaxed) < self.max_keys {
            let state = self.keys.entry(key.clone()).or_insert_with(|| {
                self.len.fetch_add(1, Relaxed);
                InMemoryState::default()
            });
            return state.measure_and_replace(&NotKeyed::NonKey, f);
        }
        self.overflow.measure_and_replace(&NotKeyed::NonKey, f)
    }
}

impl ShrinkableKeyedStateStore<String> for KeyStore {
    fn retain_recent(&self, drop_below: Nanos) {
        self.keys.retain_recent(drop_below);
        self.len.store(self.keys.len(), Relaxed);
    }

    fn shrink_to_fit(&self) {
        self.keys.shrink_to_fit();
    }

    fn len(&self) -> usize {
        self.len.load(Relaxed)
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// governor's clock over `tokio::time::Instant`.
#[derive(Clone, Copy, Debug, Default)]
struct TokioClock;

impl Clock for TokioClock {
    type Instant = TokioInstant;

    fn now(&self) -> TokioInstant {
        TokioInstant(tokio::time::Instant::now())
    }
}

/// A reading of [`TokioClock`] (governor's traits cannot be implemented on tokio's type here).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct TokioInstant(tokio::time::Instant);

impl Add<Nanos> for TokioInstant {
    type Output = TokioInstant;

    fn add(self, nanos: Nanos) -> TokioInstant {
        TokioInstant(self.0 + Duration::from(nanos))
    }
}

impl Reference for TokioInstant {
    fn duration_since(&self, earlier: TokioInstant) -> Nanos {
        self.0.saturating_duration_since(earlier.0).into()
    }

    fn saturating_sub(&self, nanos: Nanos) -> TokioInstant {
        self.0.checked_sub(nanos.into()).map_or(*self, TokioInstant)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::config::RateLimitKey;
    use tokio::time::advance;

    fn per_minute(n: u32, burst: Option<u32>) -> RateLimitConfig {
        RateLimitConfig {
            per_second: None,
            per_minute: Some(n),
            burst,
            key: RateLimitKey::Ip,
        }
    }

    fn per_second(n: u32, burst: Option<u32>) -> RateLimitConfig {
        RateLimitConfig {
            per_second: Some(n),
            per_minute: None,
            burst,
            key: RateLimitKey::Ip,
        }
    }

    fn allowed(limit: u32, remaining: u32, reset_ms: u64) -> Result<Allowed, Limited> {
        Ok(Allowed {
            limit,
            remaining,
            reset: Duration::from_millis(reset_ms),
        })
    }

    fn limited(limit: u32, retry_ms: u64, reset_ms: u64) -> Result<Allowed, Limited> {
        Err(Limited {
            limit,
            retry_after: Duration::from_millis(retry_ms),
            reset: Duration::from_millis(reset_ms),
        })
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<RateLimit>();
    }

    #[tokio::test(start_paused = true)]
    async fn burst_then_exact_boundary() {
        let limit = RateLimit::new(&per_minute(60, Some(3)));
        assert_eq!(limit.check("a"), allowed(3, 2, 1000));
        assert_eq!(limit.check("a"), allowed(3, 1, 2000));
        assert_eq!(limit.check("a"), allowed(3, 0, 3000));
        assert_eq!(limit.check("a"), limited(3, 1000, 3000));
        advance(ms(999)).await;
        assert_eq!(limit.check("a"), limited(3, 1, 2001));
        advance(ms(1)).await;
        assert_eq!(limit.check("a"), allowed(3, 0, 3000));
        assert_eq!(limit.check("a"), limited(3, 1000, 3000));
    }

    #[tokio::test(start_paused = true)]
    async fn bucket_refills_one_call_per_interval() {
        let limit = RateLimit::new(&per_minute(60, Some(3)));
        for _ in 0..3 {
            assert!(limit.check("a").is_ok());
        }
        advance(ms(2500)).await;
        // Full again at 4 s, 1.5 s away; whole calls left: 1, so reset says 2 s.
        assert_eq!(limit.check("a"), allowed(3, 1, 2000));
        assert_eq!(limit.check("a"), allowed(3, 0, 3000));
        // Limited answers are exact.
        assert_eq!(limit.check("a"), limited(3, 500, 2500));
    }

    #[tokio::test(start_paused = true)]
    async fn keys_are_isolated() {
        let limit = RateLimit::new(&per_minute(60, Some(3)));
        for _ in 0..3 {
            assert!(limit.check("a").is_ok());
        }
        assert!(limit.check("a").is_err());
        assert_eq!(limit.check("b"), allowed(3, 2, 1000));
        assert_eq!(limit.len(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn per_second_with_default_burst() {
        let limit = RateLimit::new(&per_second(10, None));
        for remaining in (0..10).rev() {
            assert_eq!(
                limit.check("a").map(|a| a.remaining),
                Ok(remaining),
                "remaining {remaining}"
            );
        }
        assert_eq!(limit.check("a"), limited(10, 100, 1000));
        advance(ms(100)).await;
        assert_eq!(limit.check("a"), allowed(10, 0, 1000));
    }

    #[tokio::test(start_paused = true)]
    async fn per_minute_default_burst_is_the_count() {
        let limit = RateLimit::new(&per_minute(2, None));
        assert_eq!(limit.check("a"), allowed(2, 1, 30_000));
        assert_eq!(limit.check("a"), allowed(2, 0, 60_000));
        assert_eq!(limit.check("a"), limited(2, 30_000, 60_000));
    }

    #[tokio::test(start_paused = true)]
    async fn missing_rate_fails_closed() {
        let config = RateLimitConfig {
            per_second: Some(0),
            per_minute: None,
            burst: Some(0),
            key: RateLimitKey::Ip,
        };
        let limit = RateLimit::new(&config);
        assert_eq!(limit.check("a"), allowed(1, 0, 60_000));
        assert_eq!(limit.check("a"), limited(1, 60_000, 60_000));
    }

    #[test]
    fn huge_burst_is_capped() {
        let limit = RateLimit::new(&per_minute(1, Some(u32::MAX)));
        assert_eq!(limit.check("a").map(|a| a.limit), Ok(MAX_BURST));
    }

    #[test]
    fn header_values() {
        let allowed = Allowed {
            limit: 3,
            remaining: 2,
            reset: ms(1000),
        };
        let text = |headers: &[(HeaderName, HeaderValue)]| -> Vec<(String, String)> {
            headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_string()))
                .collect()
        };
        let pairs = |list: &[(&str, &str)]| -> Vec<(String, String)> {
            list.iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect()
        };
        assert_eq!(
            text(&allowed.headers()),
            pairs(&[
                ("ratelimit-limit", "3"),
                ("ratelimit-remaining", "2"),
                ("ratelimit-reset", "1"),
            ])
        );
        let limited = Limited {
            limit: 3,
            retry_after: ms(1),
            reset: ms(2001),
        };
        assert_eq!(
            text(&limited.headers()),
            pairs(&[
                ("ratelimit-limit", "3"),
                ("ratelimit-remaining", "0"),
                ("ratelimit-reset", "3"),
                ("retry-after", "1"),
            ])
        );
        let zero = Limited {
            retry_after: Duration::ZERO,
            ..limited
        };
        assert_eq!(zero.retry_after_secs(), 1);
        let long = Limited {
            retry_after: ms(1500),
            ..limited
        };
        assert_eq!(long.retry_after_secs(), 2);
        assert_eq!(ceil_secs(ms(2000)), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn key_flood_is_bounded_and_shares_the_overflow_bucket() {
        let limit = RateLimit::with_capacity(&per_minute(60, Some(3)), 10);
        let mut passed = 0;
        for i in 0..1000 {
            let outcome = limit.check(&format!("k{i}"));
            assert!(limit.len() <= 10, "{} keys after {i}", limit.len());
            if i < 10 {
                assert_eq!(outcome, allowed(3, 2, 1000), "k{i} has its own bucket");
            } else if outcome.is_ok() {
                passed += 1;
            }
        }
        // The 990 keys that found no room shared one bucket of 3.
        assert_eq!(passed, 3);
        // Keys already tracked keep their own buckets.
        assert_eq!(limit.check("k0"), allowed(3, 1, 2000));
    }

    #[tokio::test(start_paused = true)]
    async fn no_keys_means_one_shared_bucket() {
        let limit = RateLimit::with_capacity(&per_minute(60, Some(2)), 0);
        assert!(limit.check("a").is_ok());
        assert!(limit.check("b").is_ok());
        assert!(limit.check("c").is_err());
        assert_eq!(limit.len(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn idle_keys_make_room_once_their_bucket_refills() {
        let fill = || {
            let limit = RateLimit::with_capacity(&per_minute(60, Some(3)), 10);
            for i in 0..10 {
                assert!(limit.check(&format!("k{i}")).is_ok());
            }
            limit
        };
        let (early, on_time) = (fill(), fill());
        // Each bucket is full again at 1 s; governor drops it one interval later.
        advance(ms(1999)).await;
        assert!(early.check("late").is_ok());
        assert_eq!(early.len(), 10, "not idle yet: `late` went to overflow");
        advance(ms(1)).await;
        assert_eq!(on_time.check("new"), allowed(3, 2, 1000));
        assert_eq!(on_time.len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn full_table_is_swept_at_most_once_per_gap() {
        let limit = RateLimit::with_capacity(&per_second(10, Some(1)), 10);
        for i in 0..10 {
            assert!(limit.check(&format!("k{i}")).is_ok());
        }
        // Sweeps (nothing idle yet) and starts the gap.
        let _ = limit.check("x");
        advance(ms(500)).await;
        // Every key is idle now, but the gap has not passed.
        let _ = limit.check("y");
        assert_eq!(limit.len(), 10);
        advance(SWEEP_GAP - ms(500)).await;
        let _ = limit.check("z");
        assert_eq!(limit.len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn growing_table_sweeps_before_it_is_full() {
        let limit = RateLimit::new(&per_minute(60, Some(3)));
        for i in 0..MIN_SWEEP_LEN {
            assert!(limit.check(&format!("k{i}")).is_ok());
        }
        assert_eq!(limit.len(), MIN_SWEEP_LEN);
        advance(ms(2000)).await;
        assert!(limit.check("new").is_ok());
        assert_eq!(limit.len(), 1);
    }

    #[test]
    fn works_outside_a_runtime() {
        let limit = RateLimit::new(&per_minute(60, Some(1)));
        assert!(limit.check("a").is_ok());
        let Err(limited) = limit.check("a") else {
            panic!("second call allowed");
        };
        assert!(limited.retry_after <= ms(1000) && limited.retry_after > ms(900));
    }
}
