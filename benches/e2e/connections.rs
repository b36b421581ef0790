//! Connection counts against the gateway: its memory, and whether everyone is served.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::http1::Connection;
use crate::procfs;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Time given to the gateway to settle before its memory is read.
const SETTLE: Duration = Duration::from_millis(500);
/// How long the connections are held open before their memory is read again: the allocator
/// gives pages a burst used back to the system after a second or so, and what stays is what
/// the open connections cost.
pub const HELD: Duration = Duration::from_secs(10);

pub struct Outcome {
    pub connections: usize,
    pub ok: usize,
    /// What went wrong, by kind (status and reason, connect error, ...): how often, and the
    /// first message of that kind.
    pub errors: BTreeMap<String, (usize, String)>,
    /// From the first request sent to the last response read.
    pub elapsed: Duration,
    /// Gateway VmRSS before the first connection (KiB).
    pub rss_before_kib: u64,
    /// Gateway VmRSS with every connection still open, and its peak so far (KiB).
    pub rss_open_kib: u64,
    pub hwm_kib: u64,
    /// Gateway VmRSS after the connections were held open for [`HELD`].
    pub rss_held_kib: u64,
    /// Gateway VmRSS a moment after they closed.
    pub rss_closed_kib: u64,
}

impl Outcome {
    pub fn error_count(&self) -> usize {
        self.errors.values().map(|(count, _)| count).sum()
    }
}

/// Opens `count` connections to `addr` (at most `concurrency` connecting at once), then
/// sends `request` on all of them at the same moment, reads every answer, and reads the
/// memory of `gateway_pid` while they are all still open.
pub async fn open_and_ask(
    addr: SocketAddr,
    count: usize,
    concurrency: usize,
    request: Vec<u8>,
    gateway_pid: u32,
) -> Result<Outcome, String> {
    let (rss_before_kib, _) = procfs::memory_kib(gateway_pid)?;
    let mut errors = BTreeMap::<String, (usize, String)>::new();
    let mut count_error = |kind: String, message: String| {
        errors.entry(kind).or_insert((0, message)).0 += 1;
    };
    let slots = Arc::new(Semaphore::new(concurrency));
    let mut connecting = JoinSet::new();
    for _ in 0..count {
        let slots = slots.clone();
        connecting.spawn(async move {
            let _slot = slots.acquire_owned().await;
            tokio::time::timeout(CONNECT_TIMEOUT, Connection::connect(addr)).await
        });
    }
    let mut open = Vec::with_capacity(count);
    while let Some(done) = connecting.join_next().await {
        match done.map_err(|e| e.to_string())? {
            Ok(Ok(connection)) => open.push(connection),
            Ok(Err(e)) => count_error(format!("connect: {e}"), String::new()),
            Err(_) => count_error("connect timed out".into(), String::new()),
        }
    }

    let request = Arc::new(request);
    let started = Instant::now();
    let mut asking = JoinSet::new();
    for mut connection in open {
        let request = request.clone();
        asking.spawn(async move {
            let result = tokio::time::timeout(REQUEST_TIMEOUT, connection.fetch(&request)).await;
            (connection, result)
        });
    }
    let mut ok = 0;
    let mut held = Vec::with_capacity(count);
    while let Some(done) = asking.join_next().await {
        let (connection, result) = done.map_err(|e| e.to_string())?;
        match result {
            Ok(Ok((status, _))) if (200..300).contains(&status) => ok += 1,
            Ok(Ok((status, body))) => {
                let (reason, message) = error_reason(&body);
                count_error(format!("HTTP {status} {reason}"), message);
            }
            Ok(Err(e)) => count_error(e.to_string(), String::new()),
            Err(_) => count_error("no answer in time".into(), String::new()),
        }
        held.push(connection);
    }
    let elapsed = started.elapsed();

    tokio::time::sleep(SETTLE).await;
    let (rss_open_kib, hwm_kib) = procfs::memory_kib(gateway_pid)?;
    tokio::time::sleep(HELD).await;
    let (rss_held_kib, _) = procfs::memory_kib(gateway_pid)?;
    drop(held);
    tokio::time::sleep(SETTLE * 2).await;
    let (rss_closed_kib, _) = procfs::memory_kib(gateway_pid)?;
    Ok(Outcome {
        connections: count,
        ok,
        errors,
        elapsed,
        rss_before_kib,
        rss_open_kib,
        hwm_kib,
        rss_held_kib,
        rss_closed_kib,
    })
}

/// The stable machine code (`google.rpc.ErrorInfo.reason`) and the message of a gateway
/// error body; empty when the body is not one.
fn error_reason(body: &[u8]) -> (String, String) {
    let error: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let reason = error["details"]
        .as_array()
        .into_iter()
        .flatten()
        .find_map(|detail| detail["reason"].as_str())
        .unwrap_or_default();
    let message = error["message"].as_str().unwrap_or_default();
    (reason.to_string(), message.to_string())
}
