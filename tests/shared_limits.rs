//! `[rate_limits] store = "redis://…"`: gateways sharing one real `redis-server` share each
//! quota exactly; while Redis is down, `on_store_error` decides at once; when it is back, the
//! sharing resumes by itself.

mod common;

use std::time::{Duration, Instant};

use common::{RedisServer, TestGateway, expect_error};

/// Calls allowed at once per client by the test route.
const QUOTA: usize = 5;
/// Bound on anything that could hang, so a hang fails the test instead.
const PATIENCE: Duration = Duration::from_secs(10);

async fn gateway(store: &str, on_store_error: &str) -> TestGateway {
    // The loopback peer is a trusted proxy, so X-Forwarded-For names the client (the key).
    TestGateway::with_config(&format!(
        "[server]\ntrusted_proxies = [\"127.0.0.1/32\"]\n\n\
         [rate_limits]\nstore = \"{store}\"\non_store_error = \"{on_store_error}\"\n\
         timeout = \"250ms\"\n\n\
         [[routes]]\nmethod = \"gatehouse.echo.v1.EchoService/Echo\"\n\
         rate_limit = {{ per_minute = {QUOTA}, burst = {QUOTA} }}\n"
    ))
    .await
}

/// One call through `gw` from client 10.0.0.1: its status and `RateLimit-Remaining`, if any.
async fn call(gw: &TestGateway) -> (u16, Option<u32>, reqwest::Response) {
    call_from(gw, "10.0.0.1").await
}

async fn call_from(gw: &TestGateway, client: &str) -> (u16, Option<u32>, reqwest::Response) {
    let response = gw
        .get("/v1/echo/hi")
        .header("x-forwarded-for", client)
        .send()
        .await
        .unwrap();
    let remaining = response
        .headers()
        .get("ratelimit-remaining")
        .map(|v| v.to_str().unwrap().parse().unwrap());
    (response.status().as_u16(), remaining, response)
}

#[tokio::test]
async fn two_gateways_on_one_redis_let_exactly_the_quota_through() {
    let redis = RedisServer::start().await;
    let a = gateway(&redis.url(), "deny").await;
    let b = gateway(&redis.url(), "deny").await;
    let mut allowed = Vec::new();
    let mut limited = 0;
    for i in 0..4 * QUOTA {
        let gw = if i % 2 == 0 { &a } else { &b };
        match call(gw).await {
            (200, Some(remaining), _) => allowed.push(remaining),
            (429, _, response) => {
                assert!(response.headers().contains_key("retry-after"));
                expect_error(response, 429, 8, "RATE_LIMITED").await;
                limited += 1;
            }
            (status, _, response) => panic!("{status}: {:?}", response.text().await),
        }
    }
    // One bucket: the count goes down across both gateways.
    assert_eq!(allowed, [4, 3, 2, 1, 0]);
    assert_eq!(limited, 3 * QUOTA);
    // Another client has a bucket of its own, shared the same way.
    let mut other = Vec::new();
    for i in 0..2 * QUOTA {
        let gw = if i % 2 == 0 { &b } else { &a };
        let (status, remaining, _) = call_from(gw, "10.0.0.2").await;
        other.push((status, remaining));
    }
    let allowed: Vec<_> = other
        .iter()
        .filter(|(s, _)| *s == 200)
        .map(|(_, r)| *r)
        .collect();
    assert_eq!(allowed, [Some(4), Some(3), Some(2), Some(1), Some(0)]);
    assert_eq!(other.iter().filter(|(s, _)| *s == 429).count(), QUOTA);
}

#[tokio::test]
async fn in_memory_each_gateway_counts_alone() {
    // The control: the same two gateways without the shared store let twice the quota through.
    let a = gateway("memory", "deny").await;
    let b = gateway("memory", "deny").await;
    let mut ok = 0;
    for i in 0..4 * QUOTA {
        let gw = if i % 2 == 0 { &a } else { &b };
        if call(gw).await.0 == 200 {
            ok += 1;
        }
    }
    assert_eq!(ok, 2 * QUOTA);
}

#[tokio::test]
async fn while_redis_is_down_allow_lets_calls_through_unmetered() {
    let metrics = gatehouse::telemetry::metrics::install();
    let mut redis = RedisServer::start().await;
    let gw = gateway(&redis.url(), "allow").await;
    assert_eq!(call(&gw).await.0, 200);
    redis.stop().await;
    let start = Instant::now();
    for _ in 0..3 * QUOTA {
        let (status, remaining, _) = call(&gw).await;
        assert_eq!(status, 200);
        assert_eq!(remaining, None, "nothing is known about the bucket");
    }
    assert!(start.elapsed() < PATIENCE, "calls waited on the dead store");
    let failures: f64 = metrics
        .render()
        .lines()
        .find_map(|l| l.strip_prefix("gatehouse_rate_limit_store_errors_total{policy=\"allow\"} "))
        .and_then(|v| v.parse().ok())
        .unwrap_or_default();
    assert!(failures >= (3 * QUOTA) as f64, "{failures}");
}

#[tokio::test]
async fn while_redis_is_down_deny_answers_503_and_sharing_resumes_after() {
    let mut redis = RedisServer::start().await;
    let a = gateway(&redis.url(), "deny").await;
    let b = gateway(&redis.url(), "deny").await;
    assert_eq!(call(&a).await.1, Some(4));
    redis.stop().await;
    for gw in [&a, &b] {
        let (status, _, response) = call(gw).await;
        assert_eq!(status, 503);
        assert!(response.headers().contains_key("retry-after"));
        expect_error(response, 503, 14, "RATE_LIMIT_UNAVAILABLE").await;
    }

    // Back, empty: each gateway reconnects by itself, and the two share a fresh quota.
    redis.restart().await;
    let start = Instant::now();
    let mut allowed = Vec::new();
    let mut i = 0;
    while allowed.len() < QUOTA {
        assert!(
            start.elapsed() < PATIENCE,
            "sharing did not resume: {allowed:?}"
        );
        let gw = if i % 2 == 0 { &a } else { &b };
        i += 1;
        match call(gw).await {
            (200, Some(remaining), _) => allowed.push(remaining),
            // Still reconnecting.
            (503, _, _) => tokio::time::sleep(Duration::from_millis(50)).await,
            (status, remaining, _) => panic!("{status} {remaining:?} after {allowed:?}"),
        }
    }
    assert_eq!(allowed, [4, 3, 2, 1, 0]);
    assert_eq!(call(&a).await.0, 429);
    assert_eq!(call(&b).await.0, 429);
}

#[test]
fn store_settings_are_checked() {
    for (setting, key) in [
        (
            "store = \"memcached://127.0.0.1:11211\"",
            "rate_limits.store",
        ),
        ("store = \"rediss://127.0.0.1:6379\"", "rate_limits.store"),
        ("store = \"redis://\"", "rate_limits.store"),
        ("timeout = \"0s\"", "rate_limits.timeout"),
        ("on_store_error = \"maybe\"", "on_store_error"),
    ] {
        common::check_refuses(
            "shared-limits-check",
            &format!("[rate_limits]\n{setting}\n"),
            key,
        );
    }
}
