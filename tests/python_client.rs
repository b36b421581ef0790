//! A client nobody here wrote: Python `grpcio` (with `grpcio-reflection`, from PyPI, installed
//! into .tools/pyenv by scripts/install-test-tools.sh) discovers the demo services through the
//! gateway's reflection and calls one through the gateway's gRPC port.

use std::path::PathBuf;
use std::process::Command;

use gatehouse::demo::{self, DemoStore};
use gatehouse::gateway::Gateway;
use gatehouse::listener::serve_gateway as serve;
use serde_json::Value;

fn python() -> PathBuf {
    let python = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".tools/pyenv/bin/python");
    assert!(
        python.exists(),
        "the Python gRPC client is not installed: run scripts/install-test-tools.sh"
    );
    python
}

#[tokio::test]
async fn grpcio_lists_services_and_calls_through_the_gateway() {
    let backends = demo::spawn_all(DemoStore::seeded()).await.unwrap();
    let issuer = demo::demo_issuer().unwrap();
    let jwks = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("python-client.jwks.json");
    std::fs::write(&jwks, issuer.jwks_json()).unwrap();
    let mut config = demo::demo_config(&backends, &jwks);
    config.telemetry.access_log = gatehouse::config::AccessLog::Off;
    let gateway = Gateway::new(&config).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve(listener, gateway, std::future::pending()));

    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/grpc_client.py");
    let token = demo::demo_token(&issuer);
    let output = tokio::task::spawn_blocking(move || {
        Command::new(python())
            .arg(script)
            .arg(addr.to_string())
            .arg(token)
            .env("no_proxy", "*")
            .output()
            .expect("run the Python client")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "python failed: {}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    let result: Value = serde_json::from_str(stdout.trim()).expect("one JSON line");
    let services: Vec<&str> = result["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    for service in [
        "users.v1.UserService",
        "orders.v1.OrderService",
        "products.v1.ProductService",
        "payments.v1.PaymentService",
    ] {
        assert!(services.contains(&service), "{service} not in {services:?}");
    }
    assert_eq!(result["user"]["user"]["displayName"], "Ada Lovelace");
    assert_eq!(result["without_token"], "UNAUTHENTICATED");
    assert_eq!(result["unknown_user"], "NOT_FOUND");
}
