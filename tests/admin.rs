//! The admin listener on real sockets: `/healthz` while the process runs, `/readyz` from the
//! backends' pools and the drain flag, `/metrics` in the Prometheus text format.

mod common;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use common::{Fleet, Instance};
use gatehouse::admin::{self, Readiness};
use gatehouse::config::Config;
use gatehouse::gateway::{Gateway, Handle};
use serde_json::{Value, json};
use tokio::sync::oneshot;

/// Active checks fast enough that a dead instance is out within a few tenths of a second.
const FAST_HEALTH: &str =
    "[backends.health]\ninterval = \"50ms\"\nunhealthy_threshold = 1\nhealthy_threshold = 1\n";
/// How long a test waits for the pool to notice a change before it gives up.
const PATIENCE: Duration = Duration::from_secs(10);

/// A gateway in front of `fleet` (with `keys` added to its backend entry) and its admin
/// listener; dropping it stops both.
struct Running {
    gateway: String,
    admin: String,
    readiness: Readiness,
    client: reqwest::Client,
    _stop: Vec<oneshot::Sender<()>>,
}

impl Running {
    async fn start(fleet: &Fleet, keys: &str) -> Running {
        let toml = format!(
            "[[backends]]\nname = \"echo\"\nservices = [\"{}\"]\nendpoints = {}\n{keys}\n",
            common::ECHO_SERVICE,
            fleet.endpoints_toml()
        );
        let config = Config::parse("admin.toml", &toml).expect("test config is valid");
        let gateway = Gateway::new(&config).expect("gateway builds");
        let limits = gateway.connection_limits();
        let handle = Handle::new(gateway);
        let readiness = Readiness::new(Arc::new(AtomicBool::new(false)), {
            let handle = handle.clone();
            Arc::new(move || handle.load().backends())
        });

        let (stop_gateway, gateway_stopped) = oneshot::channel::<()>();
        let listener = bind().await;
        let gateway = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(gatehouse::listener::serve(
            listener,
            gatehouse::stack::for_handle(&handle),
            limits,
            async {
                let _ = gateway_stopped.await;
            },
        ));

        let (stop_admin, admin_stopped) = oneshot::channel::<()>();
        let listener = bind().await;
        let admin = format!("http://{}", listener.local_addr().unwrap());
        let router = admin::router(gatehouse::telemetry::metrics::install(), readiness.clone());
        tokio::spawn(admin::serve(listener, router, async {
            let _ = admin_stopped.await;
        }));

        Running {
            gateway,
            admin,
            readiness,
            client: reqwest::Client::builder().no_proxy().build().unwrap(),
            _stop: vec![stop_gateway, stop_admin],
        }
    }

    /// Status and JSON body of an admin path.
    async fn probe(&self, path: &str) -> (u16, Value) {
        let response = self
            .client
            .get(format!("{}{path}", self.admin))
            .send()
            .await
            .expect("the admin listener answers");
        let status = response.status().as_u16();
        assert_eq!(response.headers()["content-type"], "application/json");
        assert_eq!(response.headers()["cache-control"], "no-store");
        (status, response.json().await.expect("a JSON body"))
    }

    /// Probes `/readyz` until it answers `status`, and returns its body.
    async fn readyz_becomes(&self, status: u16) -> Value {
        let start = Instant::now();
        loop {
            let (now, body) = self.probe("/readyz").await;
            if now == status {
                return body;
            }
            assert!(
                start.elapsed() < PATIENCE,
                "/readyz still answers {now} {body}, not {status}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn echo(&self) -> reqwest::StatusCode {
        let url = format!("{}/v1/echo/hi", self.gateway);
        self.client.get(url).send().await.unwrap().status()
    }
}

async fn bind() -> tokio::net::TcpListener {
    tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap()
}

/// Waits until `instance` has answered `n` more health checks.
async fn checked(instance: &Instance, n: usize) {
    let target = instance.health_checks() + n;
    let start = Instant::now();
    while instance.health_checks() < target {
        assert!(start.elapsed() < PATIENCE, "no health checks arrive");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn healthz_answers_while_the_process_runs() {
    let fleet = Fleet::start(1).await;
    let running = Running::start(&fleet, "").await;
    assert_eq!(
        running.probe("/healthz").await,
        (200, json!({"status": "ok"}))
    );

    // Liveness is not readiness: a drain does not make the process look dead.
    running.readiness.start_draining();
    assert_eq!(
        running.probe("/healthz").await,
        (200, json!({"status": "ok"}))
    );
}

#[tokio::test]
async fn readyz_is_ready_while_every_backend_has_a_live_endpoint() {
    let fleet = Fleet::start(2).await;
    let running = Running::start(&fleet, FAST_HEALTH).await;
    assert_eq!(
        running.probe("/readyz").await,
        (200, json!({"status": "ready"}))
    );
    assert_eq!(running.echo().await, 200);

    // One endpoint out of two failing its checks leaves the backend ready.
    fleet.instances[0].set_serving(false).await;
    checked(&fleet.instances[0], 3).await;
    assert_eq!(
        running.probe("/readyz").await,
        (200, json!({"status": "ready"}))
    );
}

#[tokio::test]
async fn readyz_names_the_backend_whose_endpoints_are_all_down() {
    let fleet = Fleet::start(2).await;
    let running = Running::start(&fleet, FAST_HEALTH).await;
    running.readyz_becomes(200).await;

    for instance in &fleet.instances {
        instance.kill();
    }
    let body = running.readyz_becomes(503).await;
    assert_eq!(
        body,
        json!({
            "status": "not ready",
            "draining": false,
            "backends_without_healthy_endpoint": ["echo"],
        })
    );

    // Back as soon as one endpoint passes its checks again.
    fleet.instances[1].restart().await;
    running.readyz_becomes(200).await;
    assert_eq!(running.echo().await, 200);
}

#[tokio::test]
async fn readyz_is_unavailable_while_draining() {
    let fleet = Fleet::start(1).await;
    let running = Running::start(&fleet, "").await;
    running.readyz_becomes(200).await;

    running.readiness.start_draining();
    assert_eq!(
        running.probe("/readyz").await,
        (
            503,
            json!({
                "status": "not ready",
                "draining": true,
                "backends_without_healthy_endpoint": [],
            })
        )
    );
}

#[tokio::test]
async fn metrics_are_prometheus_text() {
    let fleet = Fleet::start(1).await;
    let running = Running::start(&fleet, "").await;
    assert_eq!(running.echo().await, 200);

    let response = running
        .client
        .get(format!("{}/metrics", running.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().unwrap();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let text = response.text().await.unwrap();
    assert!(text.contains("gatehouse_build_info"), "{text}");
}

#[tokio::test]
async fn the_admin_listener_changes_nothing_and_knows_only_its_paths() {
    let fleet = Fleet::start(1).await;
    let running = Running::start(&fleet, "").await;
    let response = running
        .client
        .post(format!("{}/readyz", running.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);

    let (status, body) = running.probe("/admin/shutdown").await;
    assert_eq!(status, 404);
    assert_eq!(body["paths"], json!(["/metrics", "/healthz", "/readyz"]));
}
