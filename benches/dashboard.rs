//! One aggregate call against the three sequential REST calls a client would otherwise make
//! for the same dashboard (user, then orders, then the products in them), over loopback with
//! the demo backends, the demo's security on and rate limits off.
//!
//! `cargo bench --bench dashboard` prints the figures; nothing is asserted.

use std::time::{Duration, Instant};

use gatehouse::demo::{self, DemoStore};
use gatehouse::gateway::Gateway;
use gatehouse::listener::serve_gateway as serve;
use serde_json::Value;

const WARM_UP: usize = 200;
const ROUNDS: usize = 2000;

#[tokio::main]
async fn main() {
    let backends = demo::spawn_all(DemoStore::seeded())
        .await
        .expect("demo backends");
    let issuer = demo::demo_issuer().expect("demo issuer");
    let jwks =
        std::env::temp_dir().join(format!("gatehouse-bench-{}.jwks.json", std::process::id()));
    std::fs::write(&jwks, issuer.jwks_json()).expect("write the JWKS");
    let mut config = demo::demo_config(&backends, &jwks);
    config.telemetry.access_log = gatehouse::config::AccessLog::Off;
    for route in &mut config.routes {
        route.rate_limit = None;
    }
    let gateway = Gateway::new(&config).expect("gateway");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(serve(listener, gateway, std::future::pending()));

    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let bearer = format!("Bearer {}", demo::demo_token(&issuer));
    let get = |path: String| {
        let request = client
            .get(format!("{base}{path}"))
            .header("authorization", &bearer);
        async move {
            let response = request.send().await.expect("the gateway answers");
            assert!(response.status().is_success(), "{}", response.status());
            response.json::<Value>().await.expect("JSON")
        }
    };

    let aggregate = || async { get("/api/user-dashboard/123".into()).await };
    let sequential = || async {
        let user = get("/api/users/123".into()).await;
        let orders = get("/api/orders?userId=123&pageSize=20".into()).await;
        let mut ids: Vec<String> = Vec::new();
        for order in orders["orders"].as_array().into_iter().flatten() {
            for item in order["lineItems"].as_array().into_iter().flatten() {
                let id = item["productId"].as_str().unwrap_or_default().to_string();
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
        }
        let query: Vec<String> = ids.iter().map(|id| format!("ids={id}")).collect();
        let products = get(format!("/api/products:batchGet?{}", query.join("&"))).await;
        (user, orders, products)
    };

    // Same answer both ways, checked once.
    let one = aggregate().await;
    let (user, _, products) = sequential().await;
    // GET /api/users/{id} answers the user itself (response_body "user"), as the aggregate's
    // user call shows it; its products call shows BatchGetProducts' `products`.
    assert_eq!(one["user"], user);
    assert_eq!(one["products"], products["products"]);

    for _ in 0..WARM_UP {
        aggregate().await;
        sequential().await;
    }
    let mut aggregated = Vec::with_capacity(ROUNDS);
    let mut three_calls = Vec::with_capacity(ROUNDS);
    // Interleaved, so both see the same machine conditions.
    for _ in 0..ROUNDS {
        let start = Instant::now();
        aggregate().await;
        aggregated.push(start.elapsed());
        let start = Instant::now();
        sequential().await;
        three_calls.push(start.elapsed());
    }
    let a = Summary::of(&mut aggregated);
    let s = Summary::of(&mut three_calls);
    println!("dashboard over loopback, {ROUNDS} rounds each, one client, demo security on");
    println!("  one aggregate call:        {a}");
    println!("  three sequential calls:    {s}");
    println!(
        "  aggregate is {:.2}x faster at the median, {:.2}x at p99",
        s.p50.as_secs_f64() / a.p50.as_secs_f64(),
        s.p99.as_secs_f64() / a.p99.as_secs_f64()
    );
    let _ = std::fs::remove_file(&jwks);
}

struct Summary {
    mean: Duration,
    p50: Duration,
    p99: Duration,
}

impl Summary {
    fn of(samples: &mut [Duration]) -> Summary {
        samples.sort_unstable();
        let at = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize];
        Summary {
            mean: samples.iter().sum::<Duration>() / samples.len() as u32,
            p50: at(0.5),
            p99: at(0.99),
        }
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "mean {:>7.1} µs   p50 {:>7.1} µs   p99 {:>7.1} µs",
            self.mean.as_secs_f64() * 1e6,
            self.p50.as_secs_f64() * 1e6,
            self.p99.as_secs_f64() * 1e6
        )
    }
}
