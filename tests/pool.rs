//! The backend pool over real sockets: several echo instances behind one `[[backends]]` entry,
//! and what clients see as instances slow down, fail, die and come back.
//!
//! Figures (distribution, failures while an instance dies) are printed for the record; the
//! assertions are on counts and shares, never on how long anything took.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{
    Fleet, Instance, RefusingServer, TestGateway, error_reason, expect_error, expect_status,
};
use futures_util::StreamExt;
use tonic::Code;

/// Idempotent (NO_SIDE_EFFECTS in echo.proto).
const GET: &str = "/v1/echo/x";
/// Not idempotent (no idempotency_level): EchoArchive.
const POST: &str = "/v1/shelves/s:archive";

/// A gateway whose echo backend is `endpoints` (a TOML array) with `keys` added to its entry.
async fn gateway(endpoints: &str, keys: &str) -> TestGateway {
    TestGateway::builder()
        .echo_pool(endpoints, keys)
        .start()
        .await
}

/// One answer: HTTP status and the instance that answered, if one did.
#[derive(Debug, Clone, Copy)]
struct Answer {
    status: u16,
    instance: Option<usize>,
}

async fn call(gw: &TestGateway, method: &str, path: &str) -> Answer {
    let request = match method {
        "GET" => gw.get(path),
        _ => gw.post_json(path, "{}"),
    };
    let response = request.send().await.expect("the gateway answers");
    Answer {
        status: response.status().as_u16(),
        instance: response
            .headers()
            .get("grpc-metadata-x-instance")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok()),
    }
}

/// `total` calls, `concurrency` at a time.
async fn load(
    gw: &TestGateway,
    method: &str,
    path: &str,
    total: usize,
    concurrency: usize,
) -> Vec<Answer> {
    futures_util::stream::iter(0..total)
        .map(|_| call(gw, method, path))
        .buffer_unordered(concurrency)
        .collect()
        .await
}

fn per_instance(answers: &[Answer]) -> BTreeMap<usize, usize> {
    let mut counts = BTreeMap::new();
    for answer in answers {
        if let Some(i) = answer.instance {
            *counts.entry(i).or_default() += 1;
        }
    }
    counts
}

/// Waits until `done` holds, up to `limit` (a bound so a broken build fails instead of
/// hanging; not a performance assertion).
async fn eventually(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "gave up waiting: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

const NO_EJECTION: &str = "[backends.outlier]\nconsecutive_failures = 0\n";

#[tokio::test]
async fn traffic_spreads_evenly_over_three_instances() {
    let fleet = Fleet::start(3).await;
    let gw = gateway(&fleet.endpoints_toml(), "").await;
    let total = 3000;
    let answers = load(&gw, "GET", GET, total, 8).await;
    assert!(answers.iter().all(|a| a.status == 200));
    let seen = per_instance(&answers);
    let served = fleet.served();
    eprintln!("distribution of {total} calls: answered by {seen:?}, served {served:?}");
    assert_eq!(served.iter().sum::<usize>(), total);
    let even = total as f64 / 3.0;
    for (i, &n) in served.iter().enumerate() {
        assert_eq!(seen.get(&i), Some(&n), "instance {i}");
        assert!(
            (n as f64 - even).abs() <= even * 0.15,
            "instance {i} served {n} of {total}: {served:?}"
        );
    }
}

#[tokio::test]
async fn a_slow_instance_gets_little_traffic() {
    let fleet = Fleet::start(3).await;
    fleet.instances[0].set_delay(Duration::from_millis(50));
    let gw = gateway(&fleet.endpoints_toml(), "").await;
    let total = 900;
    let answers = load(&gw, "GET", GET, total, 12).await;
    assert!(answers.iter().all(|a| a.status == 200));
    let served = fleet.served();
    eprintln!("one instance 50 ms slower: served {served:?} of {total}");
    // An even share would be a third; p2c on calls in flight sends the slow one far less.
    assert!(served[0] * 10 < total, "{served:?}");
}

#[tokio::test]
async fn a_killed_instance_is_ejected_and_gets_traffic_again_once_restarted() {
    let fleet = Arc::new(Fleet::start(3).await);
    let gw = Arc::new(
        gateway(
            &fleet.endpoints_toml(),
            "[backends.outlier]\nconsecutive_failures = 3\nbase_ejection_time = \"1s\"\n",
        )
        .await,
    );
    // Six clients call in a loop until told to stop, three with an idempotent GET and three
    // with a POST; every answer is logged with its time and method.
    type Log = Mutex<Vec<(Instant, &'static str, Answer)>>;
    let log: Arc<Log> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut clients = Vec::new();
    for (method, path) in [("GET", GET), ("POST", POST)].repeat(3) {
        let (gw, log, stop) = (gw.clone(), log.clone(), stop.clone());
        clients.push(tokio::spawn(async move {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let answer = call(&gw, method, path).await;
                log.lock().unwrap().push((Instant::now(), method, answer));
            }
        }));
    }
    let victim = &fleet.instances[0];
    eventually(Duration::from_secs(10), "steady traffic", || {
        victim.served() > 50
    })
    .await;
    let killed_at = Instant::now();
    victim.kill();
    let served_when_killed = victim.served();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        victim.served(),
        served_when_killed,
        "a dead instance served"
    );
    victim.restart().await;
    let restarted_at = Instant::now();
    eventually(
        Duration::from_secs(20),
        "the restarted instance serves",
        || victim.served() > served_when_killed + 20,
    )
    .await;
    let back_after = restarted_at.elapsed();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for client in clients {
        client.await.unwrap();
    }

    let log = log.lock().unwrap();
    let failures: Vec<_> = log
        .iter()
        .filter(|(_, _, a)| a.status != 200)
        .map(|(at, method, a)| (at.saturating_duration_since(killed_at), *method, a.status))
        .collect();
    let after_kill = log.iter().filter(|(at, _, _)| *at >= killed_at).count();
    eprintln!(
        "kill under load: {} calls in all, {after_kill} after the kill, {} failed {failures:?}; \
         the restarted instance had traffic again {back_after:?} after the restart",
        log.len(),
        failures.len()
    );
    // GET is idempotent: a call on the dying instance is retried on another one. A POST may
    // have run, so one in flight on the dying instance fails (503); three POST clients, so
    // three at most. Later calls never reach the dead instance or are retried unsent.
    assert!(
        failures.iter().all(|(_, method, _)| *method == "POST"),
        "{failures:?}"
    );
    assert!(failures.len() <= 3, "{failures:?}");
    assert!(
        failures.iter().all(|(_, _, status)| *status == 503),
        "{failures:?}"
    );
    let window = Duration::from_secs(1);
    assert!(
        failures.iter().all(|(since, _, _)| *since < window),
        "failures after the ejection window: {failures:?}"
    );
}

#[tokio::test]
async fn unavailable_is_retried_for_idempotent_methods_only() {
    let fleet = Fleet::start(2).await;
    fleet.instances[0].set_failure(Some(Code::Unavailable));
    let gw = gateway(&fleet.endpoints_toml(), NO_EJECTION).await;

    let answers = load(&gw, "GET", GET, 60, 1).await;
    let served = fleet.served();
    assert!(answers.iter().all(|a| a.status == 200), "{answers:?}");
    assert!(answers.iter().all(|a| a.instance == Some(1)));
    assert!(
        served[0] > 0,
        "the failing instance was never tried: {served:?}"
    );
    assert_eq!(served[1], 60);

    let before = fleet.served();
    let answers = load(&gw, "POST", POST, 60, 1).await;
    let after = fleet.served();
    let failing = after[0] - before[0];
    eprintln!("POST over one UNAVAILABLE instance: {failing} of 60 reached it");
    // Every POST reached exactly one instance; the ones that met the failing one failed.
    assert_eq!(after[0] + after[1] - before[0] - before[1], 60);
    assert!(failing > 0);
    assert_eq!(answers.iter().filter(|a| a.status == 503).count(), failing);
}

#[tokio::test]
async fn config_can_declare_a_method_idempotent() {
    let fleet = Fleet::start(2).await;
    fleet.instances[0].set_failure(Some(Code::Unavailable));
    let gw = TestGateway::builder()
        .echo_pool(&fleet.endpoints_toml(), NO_EJECTION)
        .config(
            "[[routes]]\nmethod = \"gatehouse.echo.v1.EchoService/EchoArchive\"\nidempotent = true",
        )
        .start()
        .await;
    let answers = load(&gw, "POST", POST, 40, 1).await;
    assert!(answers.iter().all(|a| a.status == 200), "{answers:?}");
    assert!(fleet.served()[0] > 0);
}

#[tokio::test]
async fn other_statuses_are_not_retried() {
    let fleet = Fleet::start(2).await;
    fleet.instances[0].set_failure(Some(Code::Internal));
    let gw = gateway(&fleet.endpoints_toml(), NO_EJECTION).await;
    let answers = load(&gw, "GET", GET, 40, 1).await;
    let served = fleet.served();
    assert_eq!(served.iter().sum::<usize>(), 40);
    assert_eq!(
        answers.iter().filter(|a| a.status == 500).count(),
        served[0]
    );
}

#[tokio::test]
async fn requests_that_never_reached_a_backend_are_retried_even_for_post() {
    // A port nothing listens on: the connect is refused.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let live = Instance::start(0).await;
    let gw = gateway(
        &format!("[\"http://{closed}\", \"{}\"]", live.endpoint()),
        "",
    )
    .await;
    let answers = load(&gw, "POST", POST, 30, 1).await;
    assert!(answers.iter().all(|a| a.status == 200), "{answers:?}");
    assert_eq!(live.served(), 30);

    // A server that refuses every stream with REFUSED_STREAM: not processed, so retried.
    let refusing = RefusingServer::start().await;
    let live = Instance::start(1).await;
    let gw = gateway(
        &format!("[\"{}\", \"{}\"]", refusing.endpoint(), live.endpoint()),
        NO_EJECTION,
    )
    .await;
    let answers = load(&gw, "POST", POST, 30, 1).await;
    eprintln!(
        "POST with a REFUSED_STREAM endpoint: {} refused, all retried",
        refusing.refused()
    );
    assert!(answers.iter().all(|a| a.status == 200), "{answers:?}");
    assert!(refusing.refused() > 0);
    assert_eq!(live.served(), 30);
}

/// A backend that resets the call's stream (other than REFUSED_STREAM) may have begun it: an
/// idempotent call is retried on another endpoint, any other fails with 502.
#[tokio::test]
async fn a_reset_stream_is_retried_for_idempotent_methods_only() {
    let resetting = RefusingServer::resetting_with(h2::Reason::INTERNAL_ERROR).await;
    let live = Instance::start(1).await;
    let gw = gateway(
        &format!("[\"{}\", \"{}\"]", resetting.endpoint(), live.endpoint()),
        NO_EJECTION,
    )
    .await;

    let answers = load(&gw, "GET", GET, 30, 1).await;
    assert!(answers.iter().all(|a| a.status == 200), "{answers:?}");
    assert!(
        resetting.refused() > 0,
        "the resetting endpoint was never tried"
    );
    assert_eq!(live.served(), 30);

    let (reset_before, served_before) = (resetting.refused(), live.served());
    let answers = load(&gw, "POST", POST, 30, 1).await;
    let reset = resetting.refused() - reset_before;
    // Every POST went to one endpoint once; the ones that met the reset failed.
    assert!(reset > 0, "the resetting endpoint was never tried");
    assert_eq!(reset + live.served() - served_before, 30);
    assert_eq!(answers.iter().filter(|a| a.status == 502).count(), reset);
}

#[tokio::test]
async fn the_retry_budget_caps_retries() {
    let fleet = Fleet::start(2).await;
    for instance in &fleet.instances {
        instance.set_failure(Some(Code::Unavailable));
    }
    // No share of traffic, one retry per second of reserve: 10 retries in the 10 s window.
    let keys = format!(
        "{NO_EJECTION}[backends.retry]\nmax_retries = 2\nbudget_percent = 0\nmin_retries_per_second = 1\n"
    );
    let gw = gateway(&fleet.endpoints_toml(), &keys).await;
    let calls = 50;
    let answers = load(&gw, "GET", GET, calls, 1).await;
    assert!(answers.iter().all(|a| a.status == 503));
    let retries = fleet.served().iter().sum::<usize>() - calls;
    eprintln!("{calls} calls to an all-UNAVAILABLE backend: {retries} retries");
    assert!((1..=10).contains(&retries), "{retries} retries");
}

#[tokio::test]
async fn all_endpoints_down_is_503_with_retry_after() {
    let closed: Vec<_> = (0..2)
        .map(|_| {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            format!("\"http://{}\"", listener.local_addr().unwrap())
        })
        .collect();
    let gw = gateway(&format!("[{}]", closed.join(", ")), "").await;
    let mut reasons = Vec::new();
    for _ in 0..20 {
        let response = gw.get(GET).send().await.unwrap();
        assert!(response.headers().contains_key("retry-after"));
        let body = expect_status(response, 503, 14).await;
        let reason = error_reason(&body).unwrap_or_default().to_string();
        let fast_fail = reason == "NO_HEALTHY_UPSTREAM";
        reasons.push(reason);
        if fast_fail {
            break;
        }
    }
    // The first call finds every connect refused; the next ones fail fast while the
    // endpoints back off.
    assert_eq!(reasons[0], "UPSTREAM_UNAVAILABLE", "{reasons:?}");
    assert_eq!(
        reasons.last().map(String::as_str),
        Some("NO_HEALTHY_UPSTREAM"),
        "{reasons:?}"
    );
}

const FAST_HEALTH: &str =
    "[backends.health]\ninterval = \"50ms\"\nunhealthy_threshold = 2\nhealthy_threshold = 1\n";

#[tokio::test]
async fn instances_failing_health_checks_get_no_traffic() {
    let fleet = Fleet::start(2).await;
    let gw = gateway(&fleet.endpoints_toml(), FAST_HEALTH).await;
    let sick = &fleet.instances[0];
    sick.set_serving(false).await;
    let checks = sick.health_checks();
    eventually(Duration::from_secs(10), "health checks", || {
        sick.health_checks() >= checks + 3
    })
    .await;
    let before = sick.served();
    let answers = load(&gw, "GET", GET, 50, 4).await;
    assert!(answers.iter().all(|a| a.status == 200));
    assert_eq!(sick.served(), before, "an unhealthy instance got traffic");

    sick.set_serving(true).await;
    let checks = sick.health_checks();
    eventually(Duration::from_secs(10), "health checks", || {
        sick.health_checks() >= checks + 2
    })
    .await;
    load(&gw, "GET", GET, 50, 4).await;
    assert!(
        sick.served() > before,
        "a healthy-again instance got no traffic"
    );
}

#[tokio::test]
async fn no_healthy_endpoint_fails_fast_with_retry_after() {
    let fleet = Fleet::start(2).await;
    let gw = gateway(&fleet.endpoints_toml(), FAST_HEALTH).await;
    for instance in &fleet.instances {
        instance.set_serving(false).await;
    }
    let checks: Vec<usize> = fleet
        .instances
        .iter()
        .map(Instance::health_checks)
        .collect();
    eventually(Duration::from_secs(10), "health checks", || {
        fleet
            .instances
            .iter()
            .zip(&checks)
            .all(|(i, &c)| i.health_checks() >= c + 3)
    })
    .await;
    let response = gw.get(GET).send().await.unwrap();
    assert!(response.headers().contains_key("retry-after"));
    expect_error(response, 503, 14, "NO_HEALTHY_UPSTREAM").await;
    assert_eq!(fleet.served(), vec![0, 0]);
}

#[tokio::test]
async fn calls_beyond_max_pending_get_503_at_once() {
    let instance = Instance::start(0).await;
    instance.set_delay(Duration::from_secs(2));
    let gw = Arc::new(
        gateway(
            &format!("[\"{}\"]", instance.endpoint()),
            "max_pending = 2\n",
        )
        .await,
    );
    let slow: Vec<_> = (0..2)
        .map(|_| {
            let gw = gw.clone();
            tokio::spawn(async move { call(&gw, "GET", GET).await })
        })
        .collect();
    eventually(Duration::from_secs(10), "two calls in flight", || {
        instance.served() == 2
    })
    .await;
    let response = gw.get(GET).send().await.unwrap();
    assert_eq!(response.headers()["retry-after"], "1");
    expect_error(response, 503, 14, "UPSTREAM_OVERLOADED").await;
    assert_eq!(instance.served(), 2);
    for call in slow {
        assert_eq!(call.await.unwrap().status, 200);
    }
    // Capacity is given back when calls end.
    instance.set_delay(Duration::ZERO);
    assert_eq!(call(&gw, "GET", GET).await.status, 200);
}

#[tokio::test]
async fn a_client_that_disconnects_cancels_the_backend_call() {
    let instance = Instance::start(0).await;
    let gw = gateway(&format!("[\"{}\"]", instance.endpoint()), "").await;
    let request = hyper::Request::get("/v1/echo/x?delayMs=30000")
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    let client = tokio::spawn(common::http1::send(gw.addr, request));
    eventually(
        Duration::from_secs(10),
        "the call reaches the backend",
        || instance.served() == 1,
    )
    .await;
    assert_eq!(instance.cancelled(), 0);
    // The client gives up: its connection is dropped with the task that drives it.
    client.abort();
    eventually(
        Duration::from_secs(10),
        "the backend sees the cancel",
        || instance.cancelled() == 1,
    )
    .await;
}

#[tokio::test]
async fn a_retry_gets_what_is_left_of_the_deadline() {
    let fleet = Fleet::start(2).await;
    fleet.instances[0].set_failure(Some(Code::Unavailable));
    fleet.instances[0].set_delay(Duration::from_millis(400));
    let gw = gateway(&fleet.endpoints_toml(), NO_EJECTION).await;
    let mut retried = 0;
    for _ in 0..30 {
        let tried_failing = fleet.instances[0].served();
        let response = gw
            .get(GET)
            .header("Grpc-Timeout", "3S")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        if fleet.instances[0].served() == tried_failing {
            continue;
        }
        // This call went to the failing instance first: the retry was sent the deadline minus
        // the time the first attempt took.
        retried += 1;
        let sent = response.headers()["grpc-metadata-echo-grpc-timeout"]
            .to_str()
            .unwrap()
            .to_string();
        let sent = parse_grpc_timeout(&sent);
        assert!(sent <= Duration::from_millis(2600), "retry sent {sent:?}");
    }
    assert!(retried > 0);
}

fn parse_grpc_timeout(value: &str) -> Duration {
    gatehouse::grpc::timeout::parse_grpc_timeout(value).expect("a grpc-timeout value")
}

#[tokio::test]
async fn a_hostname_endpoint_is_resolved() {
    let instance = Instance::start(0).await;
    let port = instance.addr.port();
    let gw = gateway(&format!("[\"http://localhost:{port}\"]"), "").await;
    assert_eq!(call(&gw, "GET", GET).await.status, 200);
    assert_eq!(instance.served(), 1);
}

/// One Echo call straight through a `Backend` (no gateway); the instance that answered.
async fn unary(backend: &gatehouse::upstream::Backend) -> usize {
    use prost::Message;
    let message = gatehouse::proto::gatehouse::echo::v1::Kitchen::default().encode_to_vec();
    let response = backend
        .unary(
            http::uri::PathAndQuery::from_static("/gatehouse.echo.v1.EchoService/Echo"),
            tonic::metadata::MetadataMap::new(),
            bytes::Bytes::from(message).into(),
            Duration::from_secs(5),
            true,
        )
        .await
        .expect("the call succeeds");
    response
        .metadata()
        .get("x-instance")
        .expect("x-instance metadata")
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn endpoints_follow_what_dns_answers() {
    use gatehouse::upstream::{Backend, Resolver};
    use std::net::SocketAddr;

    let fleet = Fleet::start(3).await;
    let address = |i: usize| fleet.instances[i].addr;
    // What "DNS" answers for echo.internal; the test changes it while the backend runs.
    let answer: Arc<Mutex<Vec<SocketAddr>>> = Arc::new(Mutex::new(vec![address(0)]));
    let asked: Arc<Mutex<Vec<String>>> = Arc::default();
    let resolver: Resolver = {
        let (answer, asked) = (answer.clone(), asked.clone());
        Arc::new(move |host, port| {
            asked.lock().unwrap().push(format!("{host}:{port}"));
            let addresses = answer.lock().unwrap().clone();
            Box::pin(async move { Ok(addresses) })
        })
    };
    let config = gatehouse::config::Config::parse(
        "test.toml",
        "[[backends]]\nname = \"echo\"\nservices = [\"gatehouse.echo.v1.EchoService\"]\n\
         endpoints = [\"http://echo.internal:50051\"]\ndns_refresh = \"100ms\"\n",
    )
    .unwrap();
    let backend = Backend::with_resolver(&config.backends[0], resolver).unwrap();

    for _ in 0..10 {
        assert_eq!(unary(&backend).await, 0);
    }
    assert_eq!(asked.lock().unwrap()[0], "echo.internal:50051");
    let endpoints = backend.pool().endpoints();
    assert_eq!(endpoints.len(), 1);
    assert_eq!(
        endpoints[0].target.authority.as_deref(),
        Some("echo.internal:50051")
    );

    // The name now points at two other addresses: the first is dropped, both new ones used.
    *answer.lock().unwrap() = vec![address(1), address(2)];
    eventually(Duration::from_secs(10), "the new answer is used", || {
        let mut now: Vec<SocketAddr> = backend
            .pool()
            .endpoints()
            .iter()
            .map(|e| e.target.address)
            .collect();
        now.sort();
        let mut want = vec![address(1), address(2)];
        want.sort();
        now == want
    })
    .await;
    let mut answered = BTreeMap::new();
    for _ in 0..60 {
        *answered.entry(unary(&backend).await).or_insert(0) += 1;
    }
    eprintln!("after the DNS change: {answered:?}");
    assert_eq!(answered.keys().copied().collect::<Vec<_>>(), vec![1, 2]);
    assert_eq!(fleet.instances[0].served(), 10);

    // A failed lookup keeps the last answer rather than emptying the pool.
    answer.lock().unwrap().clear();
    let lookups = asked.lock().unwrap().len();
    eventually(Duration::from_secs(10), "another lookup", || {
        asked.lock().unwrap().len() > lookups + 1
    })
    .await;
    assert_eq!(backend.pool().endpoints().len(), 2);
    assert!(matches!(unary(&backend).await, 1 | 2));
}

#[tokio::test]
async fn ejection_never_empties_the_pool() {
    let fleet = Fleet::start(2).await;
    for instance in &fleet.instances {
        instance.set_failure(Some(Code::Unavailable));
    }
    // Two failures in a row eject for a minute, and the cap is every endpoint: still at most
    // one of the two is ejected, so calls keep reaching a backend and get its own answer.
    let keys = "[backends.outlier]\nconsecutive_failures = 2\nbase_ejection_time = \"60s\"\n\
                max_ejected_percent = 100\n[backends.retry]\nmax_retries = 0\n";
    let gw = gateway(&fleet.endpoints_toml(), keys).await;
    let mut reasons = BTreeMap::new();
    for _ in 0..40 {
        let response = gw.get(GET).send().await.unwrap();
        let body = expect_status(response, 503, 14).await;
        let reason = error_reason(&body)
            .unwrap_or("none (the backend's status)")
            .to_string();
        *reasons.entry(reason).or_insert(0) += 1;
    }
    let served = fleet.served();
    eprintln!("both instances failing: {reasons:?}, served {served:?}");
    assert_eq!(
        served.iter().sum::<usize>(),
        40,
        "every call reached a backend"
    );
    assert_eq!(reasons.len(), 1, "{reasons:?}");
    // One instance was ejected early on and got nothing after; the other took the rest.
    assert!(served.iter().any(|&n| n <= 3), "{served:?}");
}
