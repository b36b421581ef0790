//! The OpenAPI document checked by tools nobody here wrote (PyPI, installed into .tools/pyenv by
//! scripts/install-test-tools.sh): `openapi-spec-validator` accepts it, and `schemathesis`
//! drives the demo from it (with the demo token) and finds no server error, no undocumented
//! status, no response outside its schema and no wrong content type.

use std::path::PathBuf;
use std::process::{Command, Output};

use gatehouse::config::JsonOutputConfig;
use gatehouse::demo::{self, DemoStore, RunningBackend};
use gatehouse::gateway::Gateway;
use gatehouse::listener::serve_gateway as serve;

fn tool(name: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(".tools/pyenv/bin")
        .join(name);
    assert!(
        path.exists(),
        "{name} is not installed: run scripts/install-test-tools.sh"
    );
    path
}

/// The demo (its security on, its rate limits off so the run reaches the backends) on a free
/// port; the address, the demo token, and the backends to keep alive.
async fn demo_gateway() -> (String, String, Vec<RunningBackend>) {
    demo_gateway_with(JsonOutputConfig::default()).await
}

/// [`demo_gateway`] writing its answers with `json` as `[server.json]`.
async fn demo_gateway_with(json: JsonOutputConfig) -> (String, String, Vec<RunningBackend>) {
    let backends = demo::spawn_all(DemoStore::seeded()).await.unwrap();
    let issuer = demo::demo_issuer().unwrap();
    let jwks = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("openapi-tools.jwks.json");
    std::fs::write(&jwks, issuer.jwks_json()).unwrap();
    let mut config = demo::demo_config(&backends, &jwks);
    config.telemetry.access_log = gatehouse::config::AccessLog::Off;
    config.server.json = json;
    for route in &mut config.routes {
        route.rate_limit = None;
    }
    let gateway = Gateway::new(&config).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve(listener, gateway, std::future::pending()));
    (
        format!("http://{addr}"),
        demo::demo_token(&issuer),
        backends,
    )
}

async fn run(mut command: Command) -> Output {
    tokio::task::spawn_blocking(move || command.output().expect("run the tool"))
        .await
        .unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[tokio::test]
async fn openapi_spec_validator_accepts_the_served_document() {
    validate(demo_gateway().await).await;
}

/// Every JSON output option on: the answers' own schemas.
fn every_json_option() -> JsonOutputConfig {
    JsonOutputConfig {
        emit_defaults: Some(true),
        enums_as_numbers: Some(true),
        proto_names: Some(true),
    }
}

#[tokio::test]
async fn openapi_spec_validator_accepts_the_document_with_json_options() {
    validate(demo_gateway_with(every_json_option()).await).await;
}

async fn validate((base, _token, _backends): (String, String, Vec<RunningBackend>)) {
    let document = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(format!("{base}/openapi.json"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("openapi.json");
    std::fs::write(&path, document).unwrap();
    let mut command = Command::new(tool("openapi-spec-validator"));
    command.arg(&path);
    let output = run(command).await;
    assert!(output.status.success(), "{}", text(&output));
    assert!(text(&output).contains("OK"), "{}", text(&output));
}

#[tokio::test]
async fn schemathesis_finds_no_failure_in_the_demo() {
    schemathesis(demo_gateway().await).await;
}

/// The answers written with every option hold to the schemas described for them.
#[tokio::test]
async fn schemathesis_finds_no_failure_in_the_demo_with_json_options() {
    schemathesis(demo_gateway_with(every_json_option()).await).await;
}

async fn schemathesis((base, token, _backends): (String, String, Vec<RunningBackend>)) {
    let mut command = Command::new(tool("st"));
    command
        .arg("run")
        .arg(format!("{base}/openapi.json"))
        .arg("--header")
        .arg(format!("Authorization: Bearer {token}"))
        .arg("--checks")
        .arg("not_a_server_error,status_code_conformance,response_schema_conformance,content_type_conformance")
        // Bounded: a fixed number of examples per operation and a fixed seed, so the run takes
        // the same time and explores the same inputs every time.
        .arg("--max-examples")
        .arg("30")
        .arg("--seed")
        .arg("20261129")
        .arg("--request-timeout")
        .arg("10")
        .env("NO_PROXY", "*")
        .env("SCHEMATHESIS_TELEMETRY", "false");
    let output = run(command).await;
    let report = text(&output);
    let summary = report
        .rsplit_once("SUMMARY")
        .map_or(report.as_str(), |(_, tail)| tail);
    eprintln!("schemathesis summary:{summary}");
    assert!(output.status.success(), "{report}");
}
