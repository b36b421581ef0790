//! Services that are not compiled in: a folder of `.proto` files (`[schema] protos`), a
//! descriptor set file (`[schema] descriptor_sets`) and a backend's reflection service
//! (`reflection = true`) are served over REST by the real `gatehouse` binary, and a change of
//! a proto reloads them live, or, when it does not compile, keeps the old schema serving.
//!
//! The backend is a real tonic server for a service gatehouse was never built with
//! (`acme.inventory.v1.InventoryService`): every method answers with its request message.

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{Gatehouse, PATIENCE, run_to_exit};
use gatehouse::config::Config;
use gatehouse::upstream::RawCodec;
use serde_json::{Value, json};
use tonic::server::NamedService;
use tonic::transport::server::TcpIncoming;

const BIN: &str = env!("CARGO_BIN_EXE_gatehouse");
const SERVICE: &str = "acme.inventory.v1.InventoryService";

/// The user's proto, with `extra` methods added to the service.
fn inventory_proto(extra: &str) -> String {
    format!(
        r#"syntax = "proto3";

package acme.inventory.v1;

import "google/api/annotations.proto";
import "google/protobuf/timestamp.proto";

// Items in stock.
service InventoryService {{
  // One item.
  rpc GetItem(Item) returns (Item) {{
    option (google.api.http) = {{get: "/v1/items/{{id}}"}};
  }}
  // Replaces an item.
  rpc PutItem(Item) returns (Item) {{
    option (google.api.http) = {{
      put: "/v1/items/{{id}}"
      body: "*"
    }};
  }}
{extra}}}

// An item in stock.
message Item {{
  string id = 1;
  int64 count = 2;
  google.protobuf.Timestamp updated = 3;
  double price = 4;
  Shelf shelf = 5;
}}

// Where an item is.
enum Shelf {{
  SHELF_UNSPECIFIED = 0;
  SHELF_TOP = 1;
}}
"#
    )
}

const DELETE_METHOD: &str = r#"  // Removes an item.
  rpc DeleteItem(Item) returns (Item) {
    option (google.api.http) = {delete: "/v1/items/{id}"};
  }
  // Archives an item, on a path of its own.
  rpc ArchiveItem(Item) returns (Item) {
    option (google.api.http) = {
      post: "/v1/archive/{id}"
      body: "*"
    };
  }
"#;

/// A fresh folder `<name>` under the test temp dir, with the inventory proto at
/// `protos/acme/inventory/v1/inventory.proto`; returns the folder and the proto's path.
fn workspace(name: &str, proto: &str) -> (PathBuf, PathBuf) {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("runtime-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    let file = dir.join("protos/acme/inventory/v1/inventory.proto");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, proto).unwrap();
    (dir, file)
}

/// The user's protos compiled as `buf build -o` would: an encoded FileDescriptorSet.
fn descriptor_set(protos: &Path) -> Vec<u8> {
    gatehouse::sources::protos::compile(&[protos.to_path_buf()]).unwrap_or_else(|e| panic!("{e}"))
}

/// Every method of [`SERVICE`]: the request comes back as the response.
#[derive(Clone)]
struct Mirror;

impl NamedService for Mirror {
    const NAME: &'static str = SERVICE;
}

struct Reflect;

impl tonic::server::UnaryService<Bytes> for Reflect {
    type Response = Bytes;
    type Future = std::future::Ready<Result<tonic::Response<Bytes>, tonic::Status>>;

    fn call(&mut self, request: tonic::Request<Bytes>) -> Self::Future {
        std::future::ready(Ok(tonic::Response::new(request.into_inner())))
    }
}

impl tower::Service<http::Request<tonic::body::Body>> for Mirror {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Self::Response, Infallible>> + Send>,
    >;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        Box::pin(async move {
            let mut grpc = tonic::server::Grpc::new(RawCodec);
            Ok(grpc.unary(Reflect, request).await)
        })
    }
}

/// The mirror backend on a loopback port; with `descriptors`, also the grpc.reflection service
/// describing them.
async fn backend(descriptors: Option<Vec<u8>>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut routes = tonic::service::Routes::new(Mirror);
    if let Some(set) = descriptors {
        let set: &'static [u8] = Box::leak(set.into_boxed_slice());
        let reflection = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(set)
            .build_v1()
            .unwrap();
        routes = routes.add_service(reflection);
    }
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_routes(routes)
            .serve_with_incoming(TcpIncoming::from(listener)),
    );
    addr
}

fn config(schema: &str, backend: SocketAddr, backend_keys: &str) -> String {
    format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n[admin]\nlisten = \"127.0.0.1:0\"\n\
         [telemetry]\naccess_log = \"off\"\n{schema}\n\
         [[backends]]\nname = \"inventory\"\nservices = [\"{SERVICE}\"]\n\
         endpoints = [\"http://{backend}\"]\n{backend_keys}\n"
    )
}

/// Starts `gatehouse serve` on `toml`, written beside the protos as `<dir>/gatehouse.toml`
/// (its relative paths are relative to it).
fn serve(dir: &Path, toml: &str) -> Gatehouse {
    let name = dir.file_name().unwrap().to_str().unwrap();
    // Gatehouse::start writes `<tmp>/<name>.toml`: the workspace folder is beside it.
    let toml = toml.replace("\"protos\"", &format!("\"{name}/protos\""));
    let toml = toml.replace("\"api.binpb\"", &format!("\"{name}/api.binpb\""));
    Gatehouse::start(name, &toml)
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

async fn call(method: &str, url: String, body: Option<Value>) -> (u16, Value) {
    let mut request = client().request(method.parse().unwrap(), url);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("the gateway answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// What every source must give: the run-time service's routes, with proto3 JSON both ways.
async fn assert_inventory_served(gw: &Gatehouse) {
    let base = format!("http://{}", gw.rest);
    let (status, body) = call(
        "GET",
        format!("{base}/v1/items/42?count=7&shelf=SHELF_TOP"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"id": "42", "count": "7", "shelf": "SHELF_TOP"})
    );

    let item = json!({"count": 3, "updated": "2026-01-02T03:04:05.5+01:00", "price": "NaN"});
    let (status, body) = call("PUT", format!("{base}/v1/items/a-1"), Some(item)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"id": "a-1", "count": "3", "updated": "2026-01-02T02:04:05.500Z", "price": "NaN"})
    );

    let (status, body) = call(
        "PUT",
        format!("{base}/v1/items/a-1"),
        Some(json!({"colour": "red"})),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("colour"),
        "{body}"
    );
}

#[tokio::test]
async fn a_protos_folder_is_compiled_at_start_up_and_served() {
    let (dir, _) = workspace("protos", &inventory_proto(""));
    let addr = backend(None).await;
    let gw = serve(&dir, &config("[schema]\nprotos = [\"protos\"]", addr, ""));
    assert_inventory_served(&gw).await;
}

#[tokio::test]
async fn a_descriptor_set_file_is_served() {
    let (dir, _) = workspace("descriptor-set", &inventory_proto(""));
    std::fs::write(dir.join("api.binpb"), descriptor_set(&dir.join("protos"))).unwrap();
    // Only the descriptor set: the protos folder is not named.
    std::fs::remove_dir_all(dir.join("protos")).unwrap();
    let addr = backend(None).await;
    let gw = serve(
        &dir,
        &config("[schema]\ndescriptor_sets = [\"api.binpb\"]", addr, ""),
    );
    assert_inventory_served(&gw).await;
}

// Two threads: the gateway asks the backend while `serve` waits for it to start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_reflection_service_describes_its_services() {
    let (dir, _) = workspace("reflection", &inventory_proto(""));
    let addr = backend(Some(descriptor_set(&dir.join("protos")))).await;
    // No [schema] at all: the descriptors come from the backend.
    let gw = serve(&dir, &config("", addr, "reflection = true"));
    assert_inventory_served(&gw).await;
}

/// Polls `url` until it answers `status`, for at most [`PATIENCE`].
async fn wait_for(method: &str, url: &str, status: u16) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let (now, _) = call(method, url.to_string(), None).await;
        if now == status {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{method} {url} still answers {now}, not {status}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_changed_proto_reloads_live_and_a_broken_one_keeps_the_old_schema() {
    let (dir, proto) = workspace("reload", &inventory_proto(""));
    let addr = backend(None).await;
    let gw = serve(&dir, &config("[schema]\nprotos = [\"protos\"]", addr, ""));
    let base = format!("http://{}", gw.rest);
    // The path has GET and PUT routes, not DELETE; nothing is at /v1/archive/.
    let (status, _) = call("DELETE", format!("{base}/v1/items/1"), None).await;
    assert_eq!(status, 405, "no DeleteItem yet");
    let (status, _) = call("POST", format!("{base}/v1/archive/1"), Some(json!({}))).await;
    assert_eq!(status, 404, "no ArchiveItem yet");

    // Methods added to the proto: the watcher compiles it and their routes answer.
    std::fs::write(&proto, inventory_proto(DELETE_METHOD)).unwrap();
    wait_for("DELETE", &format!("{base}/v1/items/1"), 200).await;
    let (status, body) = call(
        "POST",
        format!("{base}/v1/archive/7"),
        Some(json!({"count": 2})),
    )
    .await;
    assert_eq!((status, body), (200, json!({"id": "7", "count": "2"})));

    // A proto that does not compile: the running schema stays, the log says where.
    let broken = inventory_proto(DELETE_METHOD).replace("int64 count = 2;", "int64 count = ;");
    let line = broken
        .lines()
        .position(|l| l.contains("count = ;"))
        .unwrap()
        + 1;
    std::fs::write(&proto, &broken).unwrap();
    let deadline = Instant::now() + PATIENCE;
    let place = format!("inventory.proto:{line}:");
    while !gw.log().contains("config reload refused") {
        assert!(
            Instant::now() < deadline,
            "no refused reload in the log:\n{}",
            gw.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        gw.log().contains(&place),
        "{place} missing from:\n{}",
        gw.log()
    );
    let (status, body) = call("DELETE", format!("{base}/v1/items/1"), None).await;
    assert_eq!(status, 200, "the old schema still serves: {body}");
    let metrics = gw.metrics(&client()).await;
    assert!(
        metrics.contains("gatehouse_config_reloads_total{result=\"error\"} 1"),
        "{metrics}"
    );

    // Fixed, without the methods: their routes are gone.
    std::fs::write(&proto, inventory_proto("")).unwrap();
    wait_for("DELETE", &format!("{base}/v1/items/1"), 405).await;
    let (status, _) = call("POST", format!("{base}/v1/archive/1"), Some(json!({}))).await;
    assert_eq!(status, 404, "ArchiveItem is gone");
    let (status, body) = call("GET", format!("{base}/v1/items/1"), None).await;
    assert_eq!(status, 200, "{body}");
}

#[test]
fn check_reports_a_proto_error_with_file_line_and_column_and_routes_lists_the_routes() {
    let (dir, proto) = workspace("check", &inventory_proto(""));
    let file = dir.join("gatehouse.toml");
    std::fs::write(
        &file,
        config(
            "[schema]\nprotos = [\"protos\"]",
            "127.0.0.1:1".parse().unwrap(),
            "",
        ),
    )
    .unwrap();

    let output = Command::new(BIN)
        .args(["routes", "--config"])
        .arg(&file)
        .env("RUST_LOG", "off")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.contains("/v1/items/{id}"), "{stdout}");
    assert!(stdout.contains(&format!("{SERVICE}/PutItem")), "{stdout}");
    // Only what the config serves: no compiled-in demo routes.
    assert!(!stdout.contains("/api/users"), "{stdout}");

    let (status, stderr) = run_to_exit(Command::new(BIN).args(["check", "--config"]).arg(&file));
    assert!(status.success(), "{stderr}");

    let broken =
        inventory_proto("").replace("message Item {", "message Item {\n  strin label = 9;");
    std::fs::write(&proto, &broken).unwrap();
    let (status, stderr) = run_to_exit(Command::new(BIN).args(["check", "--config"]).arg(&file));
    assert!(!status.success());
    let line = broken
        .lines()
        .position(|l| l.contains("strin label"))
        .unwrap()
        + 1;
    assert!(stderr.contains("schema.protos"), "{stderr}");
    assert!(
        stderr.contains(&format!("acme/inventory/v1/inventory.proto:{line}:3")),
        "{stderr}"
    );
}

/// `sources::load` on `toml` (written as `<dir>/gatehouse.toml`), with the compiled-in schema.
async fn load(dir: &Path, toml: &str) -> Result<gatehouse::schema::Schema, String> {
    let file = dir.join("gatehouse.toml");
    std::fs::write(&file, toml).unwrap();
    let config = Config::load(&file).map_err(|e| e.to_string())?;
    gatehouse::sources::load(&config)
        .await
        .map_err(|e| e.to_string())
}

#[tokio::test]
async fn a_service_defined_by_two_sources_is_refused_naming_both() {
    // The echo test service is compiled in; a proto that defines it again at run time.
    let echo = "syntax = \"proto3\";\npackage gatehouse.echo.v1;\n\
                service EchoService { rpc Echo(Ping) returns (Ping); }\nmessage Ping {}\n";
    let (dir, _) = workspace("twice-compiled", &inventory_proto(""));
    std::fs::create_dir_all(dir.join("protos/mine")).unwrap();
    std::fs::write(dir.join("protos/mine/echo.proto"), echo).unwrap();
    let error = load(&dir, "[schema]\nprotos = [\"protos\"]\n")
        .await
        .err()
        .expect("a service defined twice");
    assert!(error.contains("gatehouse.echo.v1.EchoService"), "{error}");
    assert!(error.contains("compiled in"), "{error}");
    assert!(
        error.contains("[schema] protos (mine/echo.proto)"),
        "{error}"
    );

    // The inventory service from a folder and from a descriptor set.
    let (dir, _) = workspace("twice-runtime", &inventory_proto(""));
    std::fs::write(dir.join("api.binpb"), descriptor_set(&dir.join("protos"))).unwrap();
    let error = load(
        &dir,
        "[schema]\nprotos = [\"protos\"]\ndescriptor_sets = [\"api.binpb\"]\n",
    )
    .await
    .err()
    .expect("a service defined twice");
    assert!(error.contains(SERVICE), "{error}");
    assert!(error.contains("[schema] protos"), "{error}");
    assert!(error.contains("descriptor set api.binpb"), "{error}");

    // One source only is fine.
    load(&dir, "[schema]\ndescriptor_sets = [\"api.binpb\"]\n")
        .await
        .expect("one definition");
}
