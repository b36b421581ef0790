//! The gateway's memory with many WebSocket calls whose clients read nothing.
//!
//! `cargo bench --bench websocket` starts the echo test backend in this process and `gatehouse
//! serve` as a child, opens STREAMS bidirectional WebSockets on `EchoChat`, has each client send
//! MESSAGES messages of about 1 KiB that the backend echoes, and never read a reply. It prints
//! the gateway's resident memory (VmRSS) idle, with every stream open and stalled, and per
//! stream. Arguments: `[streams] [messages]`.

#[allow(dead_code)]
#[path = "../tests/common/echo.rs"]
mod echo;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::SinkExt;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const STREAMS: usize = 1000;
const MESSAGES: usize = 4;
/// How long the backend may take to send every reply.
const PATIENCE: Duration = Duration::from_secs(120);

/// The gateway process, killed when dropped.
struct Gateway {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_gateway(backend: SocketAddr, dir: &std::path::Path) -> Gateway {
    let config = dir.join("websocket-bench.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\nstream_idle_timeout = \"10m\"\nmax_timeout = \"10m\"\n\n\
             [admin]\nlisten = \"127.0.0.1:0\"\n\n\
             [telemetry]\naccess_log = \"off\"\n\n\
             [[backends]]\nname = \"echo\"\nservices = [\"gatehouse.echo.v1.EchoService\"]\n\
             endpoints = [\"http://{backend}\"]\nconnections_per_endpoint = 8\n\
             max_pending = 4096\ntimeout = \"10m\"\n"
        ),
    )
    .expect("write the config");
    let mut child = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(["serve", "--config"])
        .arg(&config)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .expect("start gatehouse serve");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let line = lines
        .next()
        .and_then(Result::ok)
        .expect("gatehouse prints its address");
    let addr = line
        .strip_prefix("gatehouse listening on ")
        .and_then(|rest| rest.split_whitespace().next())
        .map(|url| url.trim_start_matches("http://"))
        .and_then(|addr| addr.parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line: {line}"));
    // The rest of its output must not fill the pipe.
    std::thread::spawn(move || lines.map_while(Result::ok).for_each(drop));
    Gateway { child, addr }
}

/// VmRSS of `pid`, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .expect("VmRSS")
}

fn main() {
    // `cargo bench` passes `--bench`; the numbers are the optional arguments.
    let numbers: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let streams = numbers.first().copied().unwrap_or(STREAMS);
    let messages = numbers.get(1).copied().unwrap_or(MESSAGES);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(run(streams, messages));
}

async fn run(streams: usize, messages: usize) {
    let backend = echo::Echo::spawn().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let gateway = start_gateway(backend.addr, dir.path());
    let pid = gateway.child.id();
    // One call first, so that the idle figure includes the backend connection and warm code.
    let mut sockets = Vec::with_capacity(streams);
    sockets.push(open(gateway.addr).await);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle = rss_kib(pid);

    let payload = format!(r#"{{"bytesField": "{}"}}"#, "QUFB".repeat(256));
    let started = Instant::now();
    for _ in 1..streams {
        sockets.push(open(gateway.addr).await);
    }
    for socket in &mut sockets {
        for _ in 0..messages {
            socket
                .send(Message::text(payload.clone()))
                .await
                .expect("send");
        }
    }
    // Every reply has left the backend: the gateway has written it to a client that reads
    // nothing, or holds it.
    let wanted = streams * messages;
    while backend.streams.chat_replies() < wanted {
        assert!(
            started.elapsed() < PATIENCE,
            "only {} of {wanted} replies were sent",
            backend.streams.chat_replies()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let open = rss_kib(pid);
    let per_stream = (open.saturating_sub(idle)) as f64 / streams as f64;
    println!("websocket: {streams} bidi streams, {messages} replies of ~1 KiB each unread");
    println!("websocket: gateway RSS idle (one stream)  {idle:>8} KiB");
    println!("websocket: gateway RSS with {streams} streams {open:>8} KiB");
    println!("websocket: per stream                      {per_stream:>8.1} KiB");
    drop(sockets);
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn open(addr: SocketAddr) -> Socket {
    let mut request = format!("ws://{addr}/v1/chat/bench")
        .into_client_request()
        .expect("request");
    let protocol = "gatehouse.v1".parse().expect("header value");
    request
        .headers_mut()
        .insert("sec-websocket-protocol", protocol);
    tokio_tungstenite::connect_async(request)
        .await
        .expect("handshake")
        .0
}
