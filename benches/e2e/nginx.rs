//! nginx as the reference proxy: one master and one worker on the server CPU, no logs on the
//! request path, no transcoding, keep-alive connections to its upstream or, as a second
//! reference, nginx's own upstream defaults (a new connection per request). One instance per
//! protocol and upstream setting, each in a directory of its own.

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::placement::Placement;
use crate::processes::Process;

/// What an nginx instance proxies.
#[derive(Clone, Copy)]
pub enum NginxProxy {
    /// HTTP/1.1 keep-alive from clients and to the upstream (`proxy_pass`).
    Http1,
    /// gRPC: cleartext HTTP/2 with prior knowledge from clients, HTTP/2 to the upstream
    /// (`grpc_pass`).
    Grpc,
    /// `Http1` with nginx's upstream defaults: HTTP/1.0 and a new connection per request.
    Http1Defaults,
    /// `Grpc` with nginx's upstream default: a new HTTP/2 connection per call.
    GrpcDefaults,
}

impl NginxProxy {
    /// Its process name and directory.
    pub fn name(self) -> &'static str {
        match self {
            NginxProxy::Http1 => "nginx-http1",
            NginxProxy::Grpc => "nginx-grpc",
            NginxProxy::Http1Defaults => "nginx-http1-defaults",
            NginxProxy::GrpcDefaults => "nginx-grpc-defaults",
        }
    }

    /// How the report names it.
    pub fn label(self) -> &'static str {
        match self {
            NginxProxy::Http1 => "nginx HTTP/1.1",
            NginxProxy::Grpc => "nginx grpc_pass",
            NginxProxy::Http1Defaults => "nginx HTTP/1.1 (upstream defaults)",
            NginxProxy::GrpcDefaults => "nginx grpc_pass (upstream defaults)",
        }
    }

    /// Whether clients speak gRPC to it.
    pub fn grpc(self) -> bool {
        matches!(self, NginxProxy::Grpc | NginxProxy::GrpcDefaults)
    }

    fn server_block(self) -> &'static str {
        match self {
            NginxProxy::Http1 => HTTP1_SERVER,
            NginxProxy::Grpc | NginxProxy::GrpcDefaults => GRPC_SERVER,
            NginxProxy::Http1Defaults => HTTP1_DEFAULTS_SERVER,
        }
    }

    /// The upstream block's connection reuse.
    fn upstream_keepalive(self) -> &'static str {
        match self {
            NginxProxy::Http1 | NginxProxy::Grpc => UPSTREAM_KEEPALIVE,
            NginxProxy::Http1Defaults | NginxProxy::GrpcDefaults => "",
        }
    }
}

/// One worker, no logs on the request path; `{server}` is the proxy's server block and
/// `{keepalive}` what connections to `{upstream}` are kept.
const CONF: &str = "\
daemon off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/nginx-error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path {dir}/nginx-client-body;
    proxy_temp_path {dir}/nginx-proxy;
    fastcgi_temp_path {dir}/nginx-fastcgi;
    uwsgi_temp_path {dir}/nginx-uwsgi;
    scgi_temp_path {dir}/nginx-scgi;
    upstream backend {
        server {upstream};{keepalive}
    }
{server}
}
";

const UPSTREAM_KEEPALIVE: &str = "
        keepalive 64;
        keepalive_requests 1000000;";

const HTTP1_SERVER: &str = "    server {
        listen {listen};
        keepalive_requests 1000000;
        location / {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection \"\";
        }
    }";

/// Clients keep their connections as with `HTTP1_SERVER`; upstream, nginx's defaults
/// (`proxy_http_version 1.0`, `Connection: close`).
const HTTP1_DEFAULTS_SERVER: &str = "    server {
        listen {listen};
        keepalive_requests 1000000;
        location / {
            proxy_pass http://backend;
        }
    }";

/// nginx does not multiplex upstream: each call in flight holds one upstream connection, which
/// `keepalive 64` keeps for the next. `keepalive_requests` also bounds the streams of a client
/// HTTP/2 connection (nginx ≥ 1.19.7); at its default of 1000 nginx would close the load's
/// connections within the first second.
const GRPC_SERVER: &str = "    server {
        listen {listen} http2;
        keepalive_requests 1000000;
        location / {
            grpc_pass grpc://backend;
        }
    }";

/// Where nginx is, if installed.
pub fn find() -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    path.split(':')
        .chain(["/usr/sbin", "/sbin", "/usr/local/sbin"])
        .map(|dir| Path::new(dir).join("nginx"))
        .find(|candidate| candidate.is_file())
}

/// Starts nginx (master and one worker) on the server CPU as `proxy` in front of `upstream`;
/// answers its address. The port is found free and then given to nginx.
pub fn start(
    placement: &Placement,
    dir: &Path,
    nginx: &Path,
    proxy: NginxProxy,
    upstream: SocketAddr,
) -> Result<(Process, SocketAddr), String> {
    let listen = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("no free port for nginx: {e}"))?;
    let dir = dir.join(proxy.name());
    fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let conf = CONF
        .replace("{server}", proxy.server_block())
        .replace("{keepalive}", proxy.upstream_keepalive())
        .replace("{dir}", &dir.display().to_string())
        .replace("{upstream}", &upstream.to_string())
        .replace("{listen}", &listen.to_string());
    let conf_file = dir.join("nginx.conf");
    fs::write(&conf_file, conf).map_err(|e| format!("{}: {e}", conf_file.display()))?;
    let mut command = placement.server_command(nginx);
    command
        .arg("-p")
        .arg(&dir)
        .arg("-c")
        .arg(&conf_file)
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    let mut process = Process::spawn(proxy.name(), command, dir.join("nginx.log"))?;
    process.wait_for(|| std::net::TcpStream::connect(listen).ok())?;
    Ok((process, listen))
}
