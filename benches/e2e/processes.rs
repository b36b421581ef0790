//! The processes the driver starts, each stopped when its handle is dropped.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use gatehouse::demo::{DASHBOARD, DemoService};

use crate::backend::PLAIN;
use crate::placement::Placement;

/// How long a process may take to be ready.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a stopped process may take to exit before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(3);

/// A child process; dropping it sends SIGTERM, then SIGKILL if it does not exit.
pub struct Process {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Process {
    pub fn spawn(name: &str, mut command: Command, log: PathBuf) -> Result<Process, String> {
        let stderr = File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        command.stderr(stderr);
        let child = command
            .spawn()
            .map_err(|e| format!("cannot start {name} ({command:?}): {e}"))?;
        Ok(Process {
            name: name.to_string(),
            child,
            log,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// An error naming the process and the end of its log if it has exited.
    fn check_running(&mut self) -> Result<(), String> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(format!(
                "{} exited ({status}); its log ends:\n{}",
                self.name,
                self.log_tail()
            )),
            Err(e) => Err(format!("{}: {e}", self.name)),
        }
    }

    /// The last lines of the process's stderr (the file goes with the scratch directory).
    fn log_tail(&self) -> String {
        let log = fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Polls `ready` until it gives a value, failing if the process exits or time runs out.
    pub fn wait_for<T>(&mut self, mut ready: impl FnMut() -> Option<T>) -> Result<T, String> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(value) = ready() {
                return Ok(value);
            }
            self.check_running()?;
            if Instant::now() > deadline {
                return Err(format!(
                    "{} not ready after {START_TIMEOUT:?}; its log ends:\n{}",
                    self.name,
                    self.log_tail()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        // The backend also ends when its stdin closes.
        drop(self.child.stdin.take());
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + STOP_GRACE;
        while Instant::now() < deadline {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where the backend process listens.
pub struct BackendAddrs {
    pub grpc: BTreeMap<&'static str, (DemoService, SocketAddr)>,
    pub plain: SocketAddr,
}

impl BackendAddrs {
    pub fn users(&self) -> SocketAddr {
        self.grpc[DemoService::Users.name()].1
    }
}

/// Starts this binary as the backend process on the server CPU.
pub fn start_backend(placement: &Placement, dir: &Path) -> Result<(Process, BackendAddrs), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let ready_file = dir.join("backend.ready");
    let mut command = placement.server_command(&exe);
    command
        .arg("--serve-backend")
        .arg(&ready_file)
        .stdin(Stdio::piped())
        .stdout(Stdio::null());
    let mut process = Process::spawn("backend", command, dir.join("backend.log"))?;
    let text = process.wait_for(|| fs::read_to_string(&ready_file).ok())?;
    let mut grpc = BTreeMap::new();
    let mut plain = None;
    for line in text.lines() {
        let (name, addr) = line
            .split_once(' ')
            .and_then(|(name, addr)| Some((name, addr.parse::<SocketAddr>().ok()?)))
            .ok_or_else(|| format!("backend ready file: bad line {line:?}"))?;
        match DemoService::from_name(name) {
            Some(service) => {
                grpc.insert(service.name(), (service, addr));
            }
            None if name == PLAIN => plain = Some(addr),
            None => return Err(format!("backend ready file: unknown name {name:?}")),
        }
    }
    let plain = plain.ok_or("backend ready file: no plain endpoint")?;
    if grpc.len() != DemoService::ALL.len() {
        return Err("backend ready file: a demo service is missing".into());
    }
    Ok((process, BackendAddrs { grpc, plain }))
}

/// `max_pending` of every backend pool in [`GatewayKind::RaisedMaxPending`]: above the
/// memory section's 10,000 requests at once.
pub const RAISED_MAX_PENDING: usize = 20_000;

/// The method whose calls the rate-limit gateways limit (`GET /api/users/{user_id}` in REST).
pub const RATE_LIMITED_METHOD: &str = "users.v1.UserService/GetUser";
/// Their limit, per second and at once, per client address: far above what one core serves,
/// so every call is checked and none refused.
pub const RATE_LIMIT: i64 = 1_000_000;
/// `[rate_limits] timeout` of the Redis row. Not the default 5 ms: Redis shares a saturated
/// core with the gateway and the backend, so a reply can wait that long for the scheduler
/// (about one call in 30,000 did), and the call would pass unchecked. The row measures what
/// deciding in Redis costs, so every call must be decided there.
pub const REDIS_TIMEOUT: &str = "100ms";

/// Which gateway config: each differs from the default in one respect.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum GatewayKind {
    /// `access_log = "off"`, every other setting at its default.
    Default,
    /// `access_log = "json"`, written to a file.
    AccessLog,
    /// A [`RATE_LIMIT`] on [`RATE_LIMITED_METHOD`], counted in the gateway's memory.
    RateLimitMemory,
    /// The same limit, counted in the Redis at this address (`on_store_error = "allow"`,
    /// `timeout` [`REDIS_TIMEOUT`]).
    RateLimitRedis(SocketAddr),
    /// `access_log = "off"` and every pool's `max_pending` at [`RAISED_MAX_PENDING`].
    RaisedMaxPending,
    /// The same services, their protos (this repository's `proto/`) compiled when the gateway
    /// starts instead of built in: every call goes through the dynamic codec.
    RuntimeProtos,
}

impl GatewayKind {
    fn name(self) -> &'static str {
        match self {
            GatewayKind::Default => "gateway",
            GatewayKind::AccessLog => "gateway-access-log",
            GatewayKind::RateLimitMemory => "gateway-rate-limit-memory",
            GatewayKind::RateLimitRedis(_) => "gateway-rate-limit-redis",
            GatewayKind::RaisedMaxPending => "gateway-raised-max-pending",
            GatewayKind::RuntimeProtos => "gateway-runtime-protos",
        }
    }
}

/// A running gateway and where it listens.
pub struct Gateway {
    pub process: Process,
    /// REST and gRPC.
    pub addr: SocketAddr,
    /// The admin listener: `/metrics`, `/healthz`, `/readyz`.
    pub admin: SocketAddr,
}

impl Gateway {
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }
}

/// The gateway config: every demo backend, the dashboard aggregate, no auth, no rate limits
/// (but in the rate-limit kinds), no health checks, listeners on free ports.
fn gateway_config(backends: &BackendAddrs, kind: GatewayKind) -> Result<String, String> {
    use toml::{Table, Value};
    let mut server = Table::new();
    server.insert("listen".into(), "127.0.0.1:0".into());
    let mut admin = Table::new();
    admin.insert("listen".into(), "127.0.0.1:0".into());
    let mut telemetry = Table::new();
    let log = if kind == GatewayKind::AccessLog {
        "json"
    } else {
        "off"
    };
    telemetry.insert("access_log".into(), log.into());
    let entries = backends
        .grpc
        .values()
        .map(|(service, addr)| {
            let mut entry = Table::new();
            entry.insert("name".into(), service.name().into());
            entry.insert("services".into(), vec![service.grpc_service()].into());
            entry.insert("endpoints".into(), vec![format!("http://{addr}")].into());
            if kind == GatewayKind::RaisedMaxPending {
                entry.insert("max_pending".into(), (RAISED_MAX_PENDING as i64).into());
            }
            Value::Table(entry)
        })
        .collect::<Vec<_>>();
    let dashboard: Table = DASHBOARD
        .parse()
        .map_err(|e| format!("the demo dashboard: {e}"))?;

    let mut config = Table::new();
    config.insert("server".into(), server.into());
    config.insert("admin".into(), admin.into());
    config.insert("telemetry".into(), telemetry.into());
    config.insert("backends".into(), entries.into());
    config.insert("aggregates".into(), vec![Value::Table(dashboard)].into());
    if let GatewayKind::RateLimitMemory | GatewayKind::RateLimitRedis(_) = kind {
        let mut limit = Table::new();
        limit.insert("per_second".into(), RATE_LIMIT.into());
        limit.insert("burst".into(), RATE_LIMIT.into());
        let mut route = Table::new();
        route.insert("method".into(), RATE_LIMITED_METHOD.into());
        route.insert("rate_limit".into(), limit.into());
        config.insert("routes".into(), vec![Value::Table(route)].into());
    }
    if kind == GatewayKind::RuntimeProtos {
        let mut schema = Table::new();
        schema.insert("compiled_in".into(), false.into());
        let protos = Path::new(env!("CARGO_MANIFEST_DIR")).join("proto");
        schema.insert("protos".into(), vec![protos.display().to_string()].into());
        config.insert("schema".into(), schema.into());
    }
    if let GatewayKind::RateLimitRedis(redis) = kind {
        let mut store = Table::new();
        store.insert("store".into(), format!("redis://{redis}").into());
        store.insert("on_store_error".into(), "allow".into());
        store.insert("timeout".into(), REDIS_TIMEOUT.into());
        config.insert("rate_limits".into(), store.into());
    }
    toml::to_string(&config).map_err(|e| e.to_string())
}

/// Starts `gatehouse serve` on the server CPU and waits until both listeners are up.
/// The gateway binary the rows run: this build's, or `GATEHOUSE_E2E_GATEWAY` (another build of
/// gatehouse, to compare two versions on the same machine with the same load).
pub fn gateway_binary() -> PathBuf {
    std::env::var_os("GATEHOUSE_E2E_GATEWAY")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_gatehouse")))
}

pub fn start_gateway(
    placement: &Placement,
    dir: &Path,
    backends: &BackendAddrs,
    kind: GatewayKind,
) -> Result<Gateway, String> {
    let name = kind.name();
    let config_file = dir.join(format!("{name}.toml"));
    fs::write(&config_file, gateway_config(backends, kind)?)
        .map_err(|e| format!("{}: {e}", config_file.display()))?;
    // Refused here with the gateway's own message rather than by a child that exits.
    gatehouse::config::Config::load(&config_file).map_err(|e| e.to_string())?;

    // stdout carries the ready line, then the access log (when on): a file, as a log
    // collector would read it.
    let stdout_file = dir.join(format!("{name}.out"));
    let stdout = File::create(&stdout_file).map_err(|e| e.to_string())?;
    let mut command = placement.server_command(&gateway_binary());
    command
        .arg("serve")
        .arg("--config")
        .arg(&config_file)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(stdout);
    let mut process = Process::spawn(name, command, dir.join(format!("{name}.log")))?;
    let (addr, admin) = process.wait_for(|| {
        let out = fs::read_to_string(&stdout_file).ok()?;
        let after = |line: &str| {
            let rest = out.split(line).nth(1)?;
            rest.split_whitespace().next()?.parse::<SocketAddr>().ok()
        };
        Some((
            after("gatehouse listening on http://")?,
            after("admin listening on http://")?,
        ))
    })?;
    Ok(Gateway {
        process,
        addr,
        admin,
    })
}
