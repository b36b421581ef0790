//! The load generator: a fixed number of requests in flight, latencies in a histogram, and the
//! CPU the processes under test spent in the measured window.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gatehouse::proto::users::v1::GetUserRequest;
use gatehouse::proto::users::v1::user_service_client::UserServiceClient;
use hdrhistogram::Histogram;
use tokio::task::JoinSet;
use tonic::transport::{Channel, Endpoint};

use crate::http1::Connection;
use crate::{procfs, raw_grpc};

/// Highest latency the histogram holds (longer ones count as this), in microseconds.
const MAX_LATENCY_MICROS: u64 = 60_000_000;
/// Pause after a failed connect, so a refusing server is not spun against.
const RECONNECT_PAUSE: Duration = Duration::from_millis(10);

/// Which gRPC client sends the calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GrpcClient {
    /// Raw HTTP/2 (`h2`) with the request encoded once: the least work per call.
    H2,
    /// The generated tonic client, as a Rust service would call.
    Tonic,
}

/// What is sent.
pub enum Traffic {
    /// `users.v1.UserService/GetUser` over HTTP/2 connections to `addr`.
    Grpc {
        addr: SocketAddr,
        connections: usize,
        client: GrpcClient,
    },
    /// These requests one after another on a keep-alive connection: one "request" of the
    /// row (one for most rows, three for the sequential dashboard calls).
    Http {
        addr: SocketAddr,
        requests: Arc<Vec<Vec<u8>>>,
    },
}

/// Warm-up until `measure_from`, measurement until `end`: a request counts if it started
/// in the measured window.
struct Window {
    measure_from: Instant,
    end: Instant,
}

pub struct Tally {
    pub completed: u64,
    pub errors: u64,
    pub latency: Histogram<u64>,
}

impl Tally {
    fn new() -> Tally {
        Tally {
            completed: 0,
            errors: 0,
            latency: Histogram::new_with_bounds(1, MAX_LATENCY_MICROS, 3)
                .expect("constant histogram bounds are valid"),
        }
    }

    fn record(&mut self, window: &Window, started: Instant, ok: bool) {
        if started < window.measure_from {
            return;
        }
        let micros = started.elapsed().as_micros().max(1) as u64;
        self.latency.saturating_record(micros);
        self.completed += 1;
        self.errors += u64::from(!ok);
    }

    fn merge(&mut self, other: &Tally) {
        self.completed += other.completed;
        self.errors += other.errors;
        self.latency
            .add(&other.latency)
            .expect("histograms with the same bounds merge");
    }
}

/// One row's measurement.
pub struct Measured {
    pub tally: Tally,
    pub window: Duration,
    /// CPU ticks in the window: of the backend process, of the proxy's processes (none when
    /// the row has no proxy), and of this driver.
    pub backend_ticks: u64,
    pub proxy_ticks: Option<u64>,
    pub driver_ticks: u64,
}

/// Sends `traffic` with `in_flight` requests at once for `warm_up` then `duration`,
/// accounting the CPU of the backend's and the proxy's processes over the measured part.
pub async fn run(
    traffic: &Traffic,
    in_flight: usize,
    warm_up: Duration,
    duration: Duration,
    backend_pid: u32,
    proxy_pids: &[u32],
) -> Result<Measured, String> {
    let start = Instant::now();
    let window = Arc::new(Window {
        measure_from: start + warm_up,
        end: start + warm_up + duration,
    });
    let mut workers = JoinSet::new();
    match traffic {
        Traffic::Grpc {
            addr,
            connections,
            client: GrpcClient::Tonic,
        } => {
            let mut channels = Vec::with_capacity(*connections);
            for _ in 0..*connections {
                channels.push(grpc_channel(*addr).await?);
            }
            for i in 0..in_flight {
                let client = UserServiceClient::new(channels[i % channels.len()].clone());
                workers.spawn(grpc_worker(client, window.clone()));
            }
        }
        Traffic::Grpc {
            addr,
            connections,
            client: GrpcClient::H2,
        } => {
            let mut senders = Vec::with_capacity(*connections);
            for _ in 0..*connections {
                senders.push(raw_grpc::connect(*addr).await?);
            }
            let call = Arc::new(raw_grpc::UnaryCall::get_user(*addr));
            for i in 0..in_flight {
                let sender = senders[i % senders.len()].clone();
                workers.spawn(raw_grpc_worker(sender, call.clone(), window.clone()));
            }
        }
        Traffic::Http { addr, requests } => {
            for _ in 0..in_flight {
                workers.spawn(http_worker(*addr, requests.clone(), window.clone()));
            }
        }
    }

    let proxy_ticks =
        || -> Result<u64, String> { proxy_pids.iter().map(|&pid| procfs::cpu_ticks(pid)).sum() };
    let backend_ticks = || procfs::cpu_ticks(backend_pid);
    let own_ticks = || procfs::cpu_ticks(std::process::id());
    tokio::time::sleep_until(window.measure_from.into()).await;
    let before = (backend_ticks()?, proxy_ticks()?, own_ticks()?);
    let measured_from = Instant::now();
    tokio::time::sleep_until(window.end.into()).await;
    let after = (backend_ticks()?, proxy_ticks()?, own_ticks()?);
    let measured = measured_from.elapsed();

    let mut tally = Tally::new();
    while let Some(worker) = workers.join_next().await {
        tally.merge(&worker.map_err(|e| format!("a load worker failed: {e}"))?);
    }
    Ok(Measured {
        tally,
        window: measured,
        backend_ticks: after.0.saturating_sub(before.0),
        proxy_ticks: (!proxy_pids.is_empty()).then(|| after.1.saturating_sub(before.1)),
        driver_ticks: after.2.saturating_sub(before.2),
    })
}

pub async fn grpc_channel(addr: SocketAddr) -> Result<Channel, String> {
    Endpoint::from_shared(format!("http://{addr}"))
        .map_err(|e| e.to_string())?
        .tcp_nodelay(true)
        .connect()
        .await
        .map_err(|e| format!("cannot connect gRPC to {addr}: {e}"))
}

pub fn get_user_request() -> GetUserRequest {
    GetUserRequest {
        user_id: crate::USER_ID.to_string(),
    }
}

async fn grpc_worker(mut client: UserServiceClient<Channel>, window: Arc<Window>) -> Tally {
    let mut tally = Tally::new();
    loop {
        let started = Instant::now();
        if started >= window.end {
            return tally;
        }
        let ok = match client.get_user(get_user_request()).await {
            Ok(reply) => reply.get_ref().user.is_some(),
            Err(_) => false,
        };
        tally.record(&window, started, ok);
    }
}

async fn raw_grpc_worker(
    sender: raw_grpc::Sender,
    call: Arc<raw_grpc::UnaryCall>,
    window: Arc<Window>,
) -> Tally {
    let mut tally = Tally::new();
    loop {
        let started = Instant::now();
        if started >= window.end {
            return tally;
        }
        match call.send(sender.clone()).await {
            Ok(ok) => tally.record(&window, started, ok),
            Err(_) => {
                // The connection is gone: every later call fails at once, so do not spin.
                tally.record(&window, started, false);
                tokio::time::sleep(RECONNECT_PAUSE).await;
            }
        }
    }
}

async fn http_worker(addr: SocketAddr, requests: Arc<Vec<Vec<u8>>>, window: Arc<Window>) -> Tally {
    let mut tally = Tally::new();
    let mut connection: Option<Connection> = None;
    loop {
        let started = Instant::now();
        if started >= window.end {
            return tally;
        }
        let conn = match connection.as_mut() {
            Some(conn) => conn,
            None => match Connection::connect(addr).await {
                Ok(conn) => connection.insert(conn),
                Err(_) => {
                    tally.record(&window, started, false);
                    tokio::time::sleep(RECONNECT_PAUSE).await;
                    continue;
                }
            },
        };
        let mut ok = true;
        for request in requests.iter() {
            match conn.round_trip(request).await {
                Ok(status) => ok &= (200..300).contains(&status),
                Err(_) => {
                    ok = false;
                    break;
                }
            }
        }
        tally.record(&window, started, ok);
        // A broken or closing connection is replaced on the next round.
        if !ok || !conn.is_reusable() {
            connection = None;
        }
    }
}
