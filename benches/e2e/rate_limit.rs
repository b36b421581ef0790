//! The rate-limit rows' check: what their gateway counted (requests answered, calls the limit
//! refused, decisions the store failed to make: its admin `/metrics`) and, for the Redis row,
//! the script calls Redis ran, read before and after the row.

use std::net::SocketAddr;

use gatehouse::telemetry::metrics::{
    RATE_LIMIT_STORE_ERRORS_TOTAL, RATE_LIMITED_TOTAL, REQUESTS_TOTAL,
};

use crate::http1::{self, Connection};
use crate::redis::{Commands, RedisCli};

/// How far Redis' script calls may stray from the requests answered (the window's edges):
/// a fraction of them.
const EVALSHA_TOLERANCE: f64 = 0.02;

/// Where a rate-limit row's counters are.
pub struct Probe {
    /// The gateway's admin listener.
    pub admin: SocketAddr,
    /// The Redis holding the buckets, for the Redis row.
    pub redis: Option<RedisCli>,
}

/// A rate-limit row's counters, or their growth over the row.
#[derive(Clone, Copy)]
pub struct Counts {
    /// `gatehouse_requests_total`: every request the gateway answered.
    pub requests: u64,
    /// `gatehouse_rate_limited_total`: calls the limit refused (429).
    pub limited: u64,
    /// `gatehouse_rate_limit_store_errors_total`: calls let through unchecked because Redis
    /// failed or was slower than `timeout`.
    pub store_errors: u64,
    pub redis: Option<Commands>,
}

impl Probe {
    pub async fn read(&self) -> Result<Counts, String> {
        let metrics = scrape(self.admin).await?;
        let redis = match &self.redis {
            Some(cli) => Some(cli.commands()?),
            None => None,
        };
        Ok(Counts {
            requests: counter(&metrics, REQUESTS_TOTAL),
            limited: counter(&metrics, RATE_LIMITED_TOTAL),
            store_errors: counter(&metrics, RATE_LIMIT_STORE_ERRORS_TOTAL),
            redis,
        })
    }
}

impl Counts {
    pub fn since(self, before: Counts) -> Counts {
        Counts {
            requests: self.requests.saturating_sub(before.requests),
            limited: self.limited.saturating_sub(before.limited),
            store_errors: self.store_errors.saturating_sub(before.store_errors),
            redis: self.redis.zip(before.redis).map(|(a, b)| a.since(b)),
        }
    }

    /// What says the row did not measure what it claims: every call checked (in Redis, for
    /// the Redis row), none refused.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.requests == 0 {
            problems.push("the gateway counted no requests".to_string());
        }
        if self.limited > 0 {
            problems.push(format!("refused by the limit: {}", self.limited));
        }
        if self.store_errors > 0 {
            problems.push(format!(
                "let through unchecked (Redis failed or was slower than the timeout): {}",
                self.store_errors
            ));
        }
        if let Some(redis) = self.redis {
            let per_request = redis.evalsha as f64 / self.requests.max(1) as f64;
            if (per_request - 1.0).abs() > EVALSHA_TOLERANCE {
                problems.push(format!(
                    "Redis ran {} EVALSHA for {} requests, not one each",
                    redis.evalsha, self.requests
                ));
            }
        }
        problems
    }
}

/// The gateway's `/metrics` text.
async fn scrape(admin: SocketAddr) -> Result<String, String> {
    let mut connection = Connection::connect(admin)
        .await
        .map_err(|e| format!("cannot connect to the admin listener {admin}: {e}"))?;
    let (status, body) = connection
        .fetch(&http1::get(admin, "/metrics"))
        .await
        .map_err(|e| format!("GET /metrics on {admin}: {e}"))?;
    let text = String::from_utf8_lossy(&body).into_owned();
    if status != 200 {
        return Err(format!("GET /metrics on {admin}: {status} {text}"));
    }
    Ok(text)
}

/// The sum of a counter's samples over all its labels; 0 when it is absent (nothing counted
/// yet).
fn counter(metrics: &str, name: &str) -> u64 {
    metrics
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let rest = line.strip_prefix(name)?;
            // `name{labels} value` or `name value`, not a longer name that starts the same.
            if !rest.starts_with(['{', ' ']) {
                return None;
            }
            rest.rsplit(' ').next()?.parse::<f64>().ok()
        })
        .sum::<f64>() as u64
}
