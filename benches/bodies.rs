//! Large bodies through the real gateway binary: how long they take and how much of them the
//! gateway holds. It prints figures; nothing is asserted except that the setup worked.
//!
//! `cargo bench --bench bodies` runs, over loopback, a `gatehouse.media.v1.MediaService`
//! backend (tonic, in this process), `gatehouse serve` (release, its own process; uploads to
//! `PUT /v1/media/{name}` and `POST /v1/media/{name}:upload` allowed up to 300 MiB) and a
//! reqwest client (in this process) that drops what it downloads as it arrives. The rows, in
//! [`ROWS`]: a streamed download (`DownloadStream`, 256 MiB as 4,096 messages of 64 KiB), which
//! the gateway should hold a message at a time; a unary raw download (`Download`, one message of
//! 32 MiB, under the backend's `max_response_message` of 40 MiB), held whole;
//! a raw upload (`PutBlob`, body "file") and a multipart upload (`Upload`, one file part) of
//! 64 MiB each. The backend answers an upload with the size it received (as the blob's name).
//!
//! Memory is the gateway's `VmRSS` before each row and `VmHWM` after it (`/proc/<pid>/status`).
//! `VmHWM` is the peak over the process's life, so the streamed row runs first and each later
//! row's peak is the largest so far. Every row runs twice, each time in a new gateway: as
//! configured, then with jemalloc returning freed pages to the system at once (it otherwise
//! keeps them about 10 s for reuse), which shows what the gateway itself holds.
#![forbid(unsafe_code)]

// The e2e benchmark's `/proc` readers; this one needs only the memory and the machine.
#[allow(dead_code)]
#[path = "e2e/procfs.rs"]
mod procfs;

use std::fs::{self, File};
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use futures_util::Stream;
use gatehouse::proto::gatehouse::media::v1::media_service_server::{
    MediaService, MediaServiceServer,
};
use gatehouse::proto::gatehouse::media::v1::{
    Blob, ChunkReport, DownloadRequest, UpdateItemRequest,
};
use gatehouse::proto::google::api::HttpBody;
use reqwest::{Client, RequestBuilder, multipart};
use tonic::transport::{Server, server::TcpIncoming};
use tonic::{Request, Response, Status};

const MIB: usize = 1024 * 1024;
/// Each message of the streamed download.
const CHUNK: usize = 64 * 1024;
const STREAMED: usize = 256 * MIB;
const UPLOAD: usize = 64 * MIB;
/// What the backend decodes: above the uploads and their framing.
const BACKEND_MAX_MESSAGE: usize = 300 * MIB;
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// The second gateway's jemalloc settings (its allocator reads them under this name).
const RETURN_AT_ONCE: (&str, &str) = ("_RJEM_MALLOC_CONF", "dirty_decay_ms:0,muzzy_decay_ms:0");

/// The rows, in the order they run.
const ROWS: [(&str, Transfer); 4] = [
    ("streamed download, 64 KiB messages", Transfer::Streamed),
    ("unary raw download", Transfer::Unary(32 * MIB)),
    ("raw upload (PutBlob)", Transfer::RawUpload),
    ("multipart upload (Upload)", Transfer::FormUpload),
];

#[derive(Clone, Copy)]
enum Transfer {
    Streamed,
    /// `Download` of this many bytes in one message.
    Unary(usize),
    RawUpload,
    FormUpload,
}

impl Transfer {
    fn bytes(self) -> usize {
        match self {
            Transfer::Streamed => STREAMED,
            Transfer::Unary(len) => len,
            Transfer::RawUpload | Transfer::FormUpload => UPLOAD,
        }
    }

    /// The request, its body built before the clock starts.
    fn request(self, client: &Client, base: &str) -> Result<RequestBuilder, String> {
        let chunks = STREAMED / CHUNK;
        Ok(match self {
            Transfer::Streamed => client.get(format!(
                "{base}/big:stream?chunks={chunks}&chunkSize={CHUNK}"
            )),
            Transfer::Unary(len) => client.get(format!("{base}/big?chunkSize={len}")),
            Transfer::RawUpload => client
                .put(format!("{base}/blob"))
                .header("content-type", "application/octet-stream")
                .body(vec![0x5a; UPLOAD]),
            Transfer::FormUpload => {
                let part = multipart::Part::bytes(vec![0x5a; UPLOAD])
                    .file_name("big.bin")
                    .mime_str("application/octet-stream")
                    .map_err(|e| e.to_string())?;
                let form = multipart::Form::new().part("file", part);
                client.post(format!("{base}/form:upload")).multipart(form)
            }
        })
    }

    async fn run(self, request: RequestBuilder) -> Result<(), String> {
        let response = request.send().await.map_err(|e| e.to_string())?;
        let status = response.status();
        if !status.is_success() {
            let body: String = response
                .text()
                .await
                .unwrap_or_default()
                .chars()
                .take(300)
                .collect();
            return Err(format!("{status}: {body}"));
        }
        let received = match self {
            Transfer::Streamed | Transfer::Unary(_) => drain(response).await?,
            Transfer::RawUpload | Transfer::FormUpload => {
                let blob: serde_json::Value = response.json().await.map_err(|e| e.to_string())?;
                blob["name"]
                    .as_str()
                    .unwrap_or_default()
                    .parse()
                    .unwrap_or(0)
            }
        };
        let expected = self.bytes();
        if received != expected {
            return Err(format!("{received} bytes went through, not {expected}"));
        }
        Ok(())
    }
}

/// Reads the body chunk by chunk as it arrives and drops it; how many bytes came.
async fn drain(mut response: reqwest::Response) -> Result<usize, String> {
    let mut received = 0;
    while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
        received += chunk.len();
    }
    Ok(received)
}

/// One row of one gateway; memory in KiB.
struct Row {
    secs: f64,
    rss_before: u64,
    peak_after: u64,
    outcome: Result<(), String>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let Err(e) = run().await else {
        return ExitCode::SUCCESS;
    };
    eprintln!("bodies: {e}");
    ExitCode::FAILURE
}

async fn run() -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| format!("scratch directory: {e}"))?;
    let backend = spawn_backend().await?;
    // Only ever talk to the loopback gateway, whatever the environment's proxy says.
    let client = Client::builder()
        .no_proxy()
        .build()
        .map_err(|e| e.to_string())?;
    println!("{}; every figure is from a single run", procfs::machine());
    let (idle, rows) = pass(dir.path(), backend, &client, None).await?;
    let (lean_idle, lean) = pass(dir.path(), backend, &client, Some(RETURN_AT_ONCE)).await?;

    println!(
        "\n| row | bytes | s | MiB/s | RSS before | peak after | peak − idle | same, freed pages returned at once |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for (((name, transfer), row), lean) in ROWS.iter().zip(&rows).zip(&lean) {
        let bytes = transfer.bytes();
        let (secs, rate) = match row.outcome {
            Ok(()) => (
                format!("{:.2}", row.secs),
                format!("{:.0}", bytes as f64 / MIB as f64 / row.secs),
            ),
            Err(_) => ("failed".into(), "–".into()),
        };
        println!(
            "| {name} | {bytes} | {secs} | {rate} | {} | {} | {} | {} |",
            mib(row.rss_before),
            mib(row.peak_after),
            mib(row.peak_after.saturating_sub(idle)),
            mib(lean.peak_after.saturating_sub(lean_idle)),
        );
    }
    for ((name, _), row) in ROWS.iter().zip(&rows) {
        if let Err(e) = &row.outcome {
            println!("{name} failed: {e}");
        }
    }
    Ok(())
}

/// Every row, in order, through one new gateway (with `env` set when given); its idle RSS
/// and the rows.
async fn pass(
    dir: &Path,
    backend: SocketAddr,
    client: &Client,
    env: Option<(&str, &str)>,
) -> Result<(u64, Vec<Row>), String> {
    let gateway = Gateway::start(dir, backend, env).await?;
    let pid = gateway.child.id();
    let base = format!("http://{}/v1/media", gateway.addr);
    let (started, _) = procfs::memory_kib(pid)?;
    // One small call, so the backend connection exists before idle is read.
    let warm = client.get(format!("{base}/warm:stream?chunks=1&chunkSize={CHUNK}"));
    drain(warm.send().await.map_err(|e| e.to_string())?).await?;
    let (idle, _) = procfs::memory_kib(pid)?;
    let how = env.map_or("as configured".into(), |(k, v)| format!("with {k}={v}"));
    println!(
        "gateway {how}: RSS {} just started, {} idle after one 64 KiB download",
        mib(started),
        mib(idle)
    );
    let mut rows = Vec::new();
    for (_, transfer) in ROWS {
        let request = transfer.request(client, &base)?;
        let (rss_before, _) = procfs::memory_kib(pid)?;
        let start = Instant::now();
        let outcome = transfer.run(request).await;
        let secs = start.elapsed().as_secs_f64();
        let (_, peak_after) = procfs::memory_kib(pid)?;
        rows.push(Row {
            secs,
            rss_before,
            peak_after,
            outcome,
        });
    }
    Ok((idle, rows))
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// The backend: real bodies for the four methods the rows call, UNIMPLEMENTED for the rest.
struct Media;

type BodyStream = Pin<Box<dyn Stream<Item = Result<HttpBody, Status>> + Send>>;
type Reply<T> = Result<Response<T>, Status>;

fn octets(len: i32) -> HttpBody {
    HttpBody {
        content_type: "application/octet-stream".into(),
        data: vec![0xa5; usize::try_from(len).unwrap_or(0)],
        extensions: Vec::new(),
    }
}

/// A reply that names the size received instead of echoing it.
fn size_reply(request: Request<Blob>) -> Reply<Blob> {
    let blob = request.get_ref();
    let received = blob.file.as_ref().map_or(0, |file| file.data.len()) + blob.data.len();
    let name = received.to_string();
    Ok(Response::new(Blob {
        name,
        ..Default::default()
    }))
}

fn unimplemented<T>() -> Reply<T> {
    Err(Status::unimplemented("not in this benchmark"))
}

#[tonic::async_trait]
impl MediaService for Media {
    async fn echo_raw(&self, _: Request<HttpBody>) -> Reply<HttpBody> {
        unimplemented()
    }

    async fn put_blob(&self, request: Request<Blob>) -> Reply<Blob> {
        size_reply(request)
    }

    async fn download(&self, request: Request<DownloadRequest>) -> Reply<HttpBody> {
        Ok(Response::new(octets(request.get_ref().chunk_size)))
    }

    type DownloadStreamStream = BodyStream;

    async fn download_stream(&self, request: Request<DownloadRequest>) -> Reply<BodyStream> {
        // One buffer, cloned as each message is sent.
        let message = octets(request.get_ref().chunk_size);
        let messages = (0..request.get_ref().chunks.max(0)).map(move |_| Ok(message.clone()));
        let stream = futures_util::stream::iter(messages);
        Ok(Response::new(Box::pin(stream)))
    }

    async fn upload(&self, request: Request<Blob>) -> Reply<Blob> {
        size_reply(request)
    }

    async fn upload_details(&self, _: Request<Blob>) -> Reply<Blob> {
        unimplemented()
    }

    async fn update_item(&self, _: Request<UpdateItemRequest>) -> Reply<UpdateItemRequest> {
        unimplemented()
    }

    async fn upload_chunks(&self, _: Request<tonic::Streaming<HttpBody>>) -> Reply<ChunkReport> {
        unimplemented()
    }
}

async fn spawn_backend() -> Result<SocketAddr, String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("bind the backend: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let service = MediaServiceServer::new(Media).max_decoding_message_size(BACKEND_MAX_MESSAGE);
    let server = Server::builder().add_service(service);
    tokio::spawn(server.serve_with_incoming(TcpIncoming::from(listener)));
    Ok(addr)
}

/// `gatehouse serve` in its own process; killed when dropped.
struct Gateway {
    child: Child,
    addr: SocketAddr,
}

impl Gateway {
    /// Starts the gateway, with `env` set when given, and waits until it listens.
    async fn start(
        dir: &Path,
        backend: SocketAddr,
        env: Option<(&str, &str)>,
    ) -> Result<Gateway, String> {
        let config = dir.join("gatehouse.toml");
        let toml = format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n\n[admin]\nlisten = \"127.0.0.1:0\"\n\n\
             [telemetry]\naccess_log = \"off\"\n\n\
             [[backends]]\nname = \"media\"\nservices = [\"gatehouse.media.v1.MediaService\"]\n\
             endpoints = [\"http://{backend}\"]\nmax_response_message = \"40MiB\"\n\n\
             [[routes]]\nroute = \"PUT /v1/media/{{name}}\"\nmax_body = \"300MiB\"\n\n\
             [[routes]]\nroute = \"POST /v1/media/{{name}}:upload\"\nmax_body = \"300MiB\"\n"
        );
        fs::write(&config, toml).map_err(|e| format!("{}: {e}", config.display()))?;
        // Refused here with the gateway's own message rather than by a child that exits.
        gatehouse::config::Config::load(&config).map_err(|e| e.to_string())?;

        let (out, log) = (dir.join("gateway.out"), dir.join("gateway.log"));
        let file = |path: &Path| File::create(path).map_err(|e| format!("{}: {e}", path.display()));
        let child = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
            .args(["serve", "--config"])
            .arg(&config)
            .env("RUST_LOG", "warn")
            .envs(env)
            .stdin(Stdio::null())
            .stdout(file(&out)?)
            .stderr(file(&log)?)
            .spawn()
            .map_err(|e| format!("cannot start gatehouse: {e}"))?;
        let mut gateway = Gateway {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let text = fs::read_to_string(&out).unwrap_or_default();
            let listening = text.split("gatehouse listening on http://").nth(1);
            if let Some(addr) =
                listening.and_then(|rest| rest.split_whitespace().next()?.parse().ok())
            {
                gateway.addr = addr;
                return Ok(gateway);
            }
            let exited = gateway.child.try_wait().map_err(|e| e.to_string())?;
            if exited.is_some() || Instant::now() > deadline {
                let log = fs::read_to_string(&log).unwrap_or_default();
                return Err(format!("the gateway did not start ({exited:?}):\n{log}"));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
