//! End-to-end load benchmark: the real gateway binary between a load generator and a demo
//! backend, each in its own process, on pinned cores. It prints figures; nothing is asserted
//! except that the setup worked.
//!
//! Run it with `scripts/bench.sh` (installs nginx and taskset when missing, raises the file
//! descriptor limit) or `cargo bench --bench e2e -- [options]` (`--help` lists them;
//! `--quick` gives a smoke run of about 3 s per row).
//!
//! # What runs
//!
//! - **Backend process:** this binary re-executed with `--serve-backend <ready-file>`. It serves
//!   the four demo gRPC backends of `gatehouse::demo` on one seeded store and, on its own port, a
//!   plain HTTP/1.1 endpoint (`GET /users/{id}`, hyper) answering the same user as proto3 JSON,
//!   for the nginx reference row.
//! - **Gateway:** the real `gatehouse serve` binary with a generated config: the four backends,
//!   the demo's dashboard aggregate, no `[auth]` (every route public, so no token is sent), no
//!   rate limits, no health checks, `access_log = "off"`; everything else at its default. One row
//!   runs a second gateway with `access_log = "json"` (written to a file).
//! - **nginx** (when installed): one worker, HTTP/1.1 keep-alive to the plain endpoint, no
//!   transcoding: the price of a plain reverse proxy, as a reference.
//! - **Driver:** this process, the load generator, on one thread. It keeps a fixed number of
//!   requests in flight (64 by default). HTTP: one worker per connection, each looping request →
//!   response on its keep-alive HTTP/1.1 connection (as wrk does), with a small HTTP/1.1 client
//!   written here. gRPC: the 64 calls multiplexed on 4 HTTP/2 connections, by a raw `h2` client
//!   that encodes the request once (`--grpc-client tonic` uses the generated tonic client, which
//!   costs the generator about 15 % more per call). Each row warms up for 2 s, then measures
//!   10 s; latencies go into an HDR histogram.
//!
//! # Rows
//!
//! Direct gRPC to the backend (`users.v1.UserService/GetUser`, the baseline of `vs gRPC`);
//! REST via the gateway (`GET /api/users/123`), also with the access log on; gRPC via the
//! gateway (the same call to its port, `content-type: application/grpc`); the dashboard
//! aggregate (`GET /api/user-dashboard/123`) and the three sequential REST calls it replaces
//! (user, orders, products: one "request" of that row is all three); plain HTTP/1.1 straight to
//! the backend's JSON endpoint; and nginx in front of that endpoint.
//!
//! # Placement
//!
//! Backend, gateway and nginx share the first allowed CPU ("core 0"); the driver is alone on the
//! second ("core 1"). Both go through `taskset`; the driver re-executes itself under it at start.
//! Without `taskset` or a second CPU everything runs unpinned and the output says so.
//!
//! # Columns
//!
//! `req/s` counts answered requests (errors included) over the measured window; `errors` are
//! non-2xx answers, non-OK gRPC statuses and broken connections. `vs gRPC` divides req/s by the
//! direct gRPC row's. `core0 µs/req` is the CPU time of the processes on the request's path
//! (backend, plus the gateway or nginx) from `/proc/<pid>/stat` utime + stime, over the window,
//! per request; `core0 %` is that time over the window (near 100 % means core 0 was the limit);
//! `gen %` is the driver's own CPU (near 100 % means the generator was the limit).
//!
//! # Memory
//!
//! Gateway RSS (`VmRSS` in `/proc/<pid>/status`) just started, idle after the load rows, with
//! 1,000 open keep-alive HTTP/1.1 connections that each made one request, and with 10,000
//! concurrent connections that each make one request at the same moment (opened at most 256 at a
//! time, then all requests sent together), with the errors counted by kind and the peak
//! (`VmHWM`). The 10,000 go once to the gateway as configured (each pool admits
//! `max_pending` = 1024 calls at once) and once to a second, warmed gateway whose pools admit
//! them all, so both limits show.
#![forbid(unsafe_code)]

use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo bench --bench e2e -- [options]
  --quick                 smoke run: 1 s warm-up and 2 s measured per row
  --duration SECS         measured time per row (default 10)
  --warm-up SECS          warm-up per row (default 2)
  --in-flight N           concurrent requests (default 64)
  --grpc-connections N    HTTP/2 connections carrying the gRPC calls (default 4)
  --grpc-client h2|tonic  gRPC load client: raw h2 with the request encoded once (default),
                          or the generated tonic client
  --no-nginx              skip the nginx reference row
  --no-access-log-row     skip the row with the gateway's access log on
  --no-memory             skip the memory section";

/// The user every row asks for (Ada Lovelace in the seed data).
const USER_ID: &str = "123";
/// Connections opened at once by the memory section (the rest wait for a slot).
const CONNECT_CONCURRENCY: usize = 256;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match options::parse(&args) {
        Err(message) => {
            eprintln!("error: {message}\n\n{USAGE}");
            ExitCode::from(2)
        }
        Ok(options::Role::Help) => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Ok(options::Role::Backend { ready_file }) => backend::run(&ready_file),
        Ok(options::Role::Driver(options)) => match options.placement.clone() {
            // First start: come back pinned, with a raised file descriptor limit.
            None => placement::reexec(&args),
            Some(placement) => driver::run(options, placement),
        },
    }
}

/// Command-line options.
mod options {
    use std::path::PathBuf;
    use std::time::Duration;

    use crate::load::GrpcClient;
    use crate::placement::Placement;

    /// What this process is.
    pub enum Role {
        Help,
        Driver(Options),
        /// The backend process, started by the driver.
        Backend {
            ready_file: PathBuf,
        },
    }

    #[derive(Clone)]
    pub struct Options {
        pub warm_up: Duration,
        pub duration: Duration,
        pub in_flight: usize,
        pub grpc_connections: usize,
        pub grpc_client: GrpcClient,
        pub nginx: bool,
        pub access_log_row: bool,
        pub memory: bool,
        pub keep_alive_connections: usize,
        pub burst_connections: usize,
        /// Set by the driver when it re-executes itself (see `placement::reexec`).
        pub placement: Option<Placement>,
    }

    impl Default for Options {
        fn default() -> Self {
            Options {
                warm_up: Duration::from_secs(2),
                duration: Duration::from_secs(10),
                in_flight: 64,
                grpc_connections: 4,
                grpc_client: GrpcClient::H2,
                nginx: true,
                access_log_row: true,
                memory: true,
                keep_alive_connections: 1_000,
                burst_connections: 10_000,
                placement: None,
            }
        }
    }

    pub fn parse(args: &[String]) -> Result<Role, String> {
        let mut options = Options::default();
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            let mut value = |name: &str| {
                args.next()
                    .cloned()
                    .ok_or_else(|| format!("{name} needs a value"))
            };
            match arg.as_str() {
                // cargo bench passes it to every bench binary.
                "--bench" => {}
                "-h" | "--help" => return Ok(Role::Help),
                "--serve-backend" => {
                    let ready_file = PathBuf::from(value(arg)?);
                    return Ok(Role::Backend { ready_file });
                }
                "--placement" => options.placement = Some(Placement::parse(&value(arg)?)?),
                "--quick" => {
                    options.warm_up = Duration::from_secs(1);
                    options.duration = Duration::from_secs(2);
                }
                "--duration" => options.duration = seconds(arg, &value(arg)?)?,
                "--warm-up" => options.warm_up = seconds(arg, &value(arg)?)?,
                "--in-flight" => options.in_flight = count(arg, &value(arg)?)?,
                "--grpc-connections" => options.grpc_connections = count(arg, &value(arg)?)?,
                "--grpc-client" => {
                    options.grpc_client = match value(arg)?.as_str() {
                        "h2" => GrpcClient::H2,
                        "tonic" => GrpcClient::Tonic,
                        other => {
                            return Err(format!("--grpc-client: {other:?} is not h2 or tonic"));
                        }
                    }
                }
                "--no-nginx" => options.nginx = false,
                "--no-access-log-row" => options.access_log_row = false,
                "--no-memory" => options.memory = false,
                other => return Err(format!("unknown option {other:?}")),
            }
        }
        Ok(Role::Driver(options))
    }

    fn seconds(name: &str, value: &str) -> Result<Duration, String> {
        match value.parse::<f64>() {
            Ok(secs) if secs > 0.0 && secs.is_finite() => Ok(Duration::from_secs_f64(secs)),
            _ => Err(format!(
                "{name}: {value:?} is not a positive number of seconds"
            )),
        }
    }

    fn count(name: &str, value: &str) -> Result<usize, String> {
        match value.parse::<usize>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(format!("{name}: {value:?} is not a positive integer")),
        }
    }
}

/// Which CPUs the processes run on, and the re-execution that puts the driver on its own.
mod placement {
    use std::process::{Command, ExitCode};

    /// Raises the soft file descriptor limit (to 65536, or the hard limit if that is lower) for
    /// the driver and everything it starts, then runs the rest of the command line.
    const RAISE_FD_LIMIT: &str =
        r#"ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$@""#;

    #[derive(Clone, Debug)]
    pub enum Placement {
        /// Backend and proxies on `server`, the driver alone on `driver`.
        Pinned { server: usize, driver: usize },
        /// Everything wherever the scheduler puts it, for this reason.
        Unpinned(String),
    }

    impl Placement {
        /// The `--placement` value: `0,1` or `unpinned:<reason>`.
        pub fn parse(text: &str) -> Result<Placement, String> {
            if let Some(reason) = text.strip_prefix("unpinned:") {
                return Ok(Placement::Unpinned(reason.to_string()));
            }
            let (server, driver) = text
                .split_once(',')
                .and_then(|(s, d)| Some((s.parse().ok()?, d.parse().ok()?)))
                .ok_or_else(|| format!("--placement: {text:?} is not SERVER_CPU,DRIVER_CPU"))?;
            Ok(Placement::Pinned { server, driver })
        }

        fn to_arg(&self) -> String {
            match self {
                Placement::Pinned { server, driver } => format!("{server},{driver}"),
                Placement::Unpinned(reason) => format!("unpinned:{reason}"),
            }
        }

        /// `program` to be run on the server CPU.
        pub fn server_command(&self, program: &std::path::Path) -> Command {
            match self {
                Placement::Pinned { server, .. } => {
                    let mut command = Command::new("taskset");
                    command.arg("-c").arg(server.to_string()).arg(program);
                    command
                }
                Placement::Unpinned(_) => Command::new(program),
            }
        }

        pub fn describe(&self) -> String {
            match self {
                Placement::Pinned { server, driver } => format!(
                    "backend + proxy on core {server}, load generator alone on core {driver} \
                     (taskset)"
                ),
                Placement::Unpinned(reason) => format!("UNPINNED ({reason})"),
            }
        }

        /// The CPU whose processes the `core0` columns account for.
        pub fn server_cpu_label(&self) -> String {
            match self {
                Placement::Pinned { server, .. } => format!("core {server}"),
                Placement::Unpinned(_) => "any core".to_string(),
            }
        }
    }

    /// Runs this binary again, pinned to the second allowed CPU (or unpinned, saying why), under
    /// a raised file descriptor limit, and exits with its status.
    pub fn reexec(args: &[String]) -> ExitCode {
        let exe = match std::env::current_exe() {
            Ok(exe) => exe,
            Err(e) => {
                eprintln!("error: cannot find this executable: {e}");
                return ExitCode::FAILURE;
            }
        };
        let placement = choose();
        let mut command = Command::new("sh");
        command.arg("-c").arg(RAISE_FD_LIMIT).arg("sh");
        if let Placement::Pinned { driver, .. } = placement {
            command.arg("taskset").arg("-c").arg(driver.to_string());
        }
        command
            .arg(exe)
            .args(args)
            .arg("--placement")
            .arg(placement.to_arg());
        match command.status() {
            Ok(status) if status.success() => ExitCode::SUCCESS,
            Ok(status) => ExitCode::from(status.code().unwrap_or(1).clamp(1, 255) as u8),
            Err(e) => {
                eprintln!("error: cannot run {command:?}: {e}");
                ExitCode::FAILURE
            }
        }
    }

    fn choose() -> Placement {
        let taskset = Command::new("taskset")
            .arg("--version")
            .output()
            .is_ok_and(|out| out.status.success());
        if !taskset {
            return Placement::Unpinned("taskset not found; install util-linux".into());
        }
        match allowed_cpus().as_deref() {
            Some([server, driver, ..]) => Placement::Pinned {
                server: *server,
                driver: *driver,
            },
            Some(_) => Placement::Unpinned("fewer than 2 CPUs allowed".into()),
            None => Placement::Unpinned("cannot read Cpus_allowed_list".into()),
        }
    }

    /// The CPUs this process may run on, from `Cpus_allowed_list` (`0-3,6`).
    fn allowed_cpus() -> Option<Vec<usize>> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let list = status
            .lines()
            .find_map(|line| line.strip_prefix("Cpus_allowed_list:"))?;
        let mut cpus = Vec::new();
        for part in list.trim().split(',') {
            match part.split_once('-') {
                Some((from, to)) => cpus.extend(from.parse::<usize>().ok()?..=to.parse().ok()?),
                None => cpus.push(part.parse().ok()?),
            }
        }
        Some(cpus)
    }
}

/// What `/proc` says about processes and the machine.
mod procfs {
    use std::fs;
    use std::process::Command;

    /// CPU time (user + system, all threads) of `pid`, in clock ticks.
    pub fn cpu_ticks(pid: u32) -> Result<u64, String> {
        let fields = stat_fields(pid)?;
        // After the command name: state is field 3 of stat(5), utime 14 and stime 15.
        let tick = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
        match (tick(11), tick(12)) {
            (Some(user), Some(system)) => Ok(user + system),
            _ => Err(format!("/proc/{pid}/stat: no utime/stime")),
        }
    }

    /// The fields of `/proc/<pid>/stat` after the command name (which may hold spaces).
    fn stat_fields(pid: u32) -> Result<Vec<String>, String> {
        let stat = fs::read_to_string(format!("/proc/{pid}/stat"))
            .map_err(|e| format!("/proc/{pid}/stat: {e}"))?;
        let rest = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest)
            .ok_or_else(|| format!("/proc/{pid}/stat: no command name"))?;
        Ok(rest.split_whitespace().map(str::to_string).collect())
    }

    /// Processes whose parent is `pid` (nginx's workers).
    pub fn children(pid: u32) -> Vec<u32> {
        let Ok(entries) = fs::read_dir("/proc") else {
            return Vec::new();
        };
        entries
            .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .filter(|&child| {
                stat_fields(child)
                    .is_ok_and(|f| f.get(1).is_some_and(|ppid| *ppid == pid.to_string()))
            })
            .collect()
    }

    /// `VmRSS` and `VmHWM` (peak RSS) of `pid`, in KiB.
    pub fn memory_kib(pid: u32) -> Result<(u64, u64), String> {
        let status = fs::read_to_string(format!("/proc/{pid}/status"))
            .map_err(|e| format!("/proc/{pid}/status: {e}"))?;
        let field = |name: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        };
        match (field("VmRSS:"), field("VmHWM:")) {
            (Some(rss), Some(hwm)) => Ok((rss, hwm)),
            _ => Err(format!("/proc/{pid}/status: no VmRSS/VmHWM")),
        }
    }

    /// Clock ticks per second (`getconf CLK_TCK`; 100 on every common Linux).
    pub fn ticks_per_second() -> u64 {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|out| String::from_utf8(out.stdout).ok()?.trim().parse().ok())
            .unwrap_or(100)
    }

    /// The soft limit on open files of this process.
    pub fn open_files_limit() -> Option<u64> {
        let limits = fs::read_to_string("/proc/self/limits").ok()?;
        let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
        line.split_whitespace().nth(3)?.parse().ok()
    }

    /// "2 CPUs, AMD EPYC, Linux 6.1.0".
    pub fn machine() -> String {
        let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpus = cpuinfo
            .lines()
            .filter(|l| l.starts_with("processor"))
            .count();
        let model = ["model name", "Hardware", "cpu model"]
            .iter()
            .find_map(|key| {
                cpuinfo
                    .lines()
                    .find(|l| l.starts_with(key))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, v)| v.trim().to_string())
            })
            .unwrap_or_else(|| "unknown CPU".into());
        let kernel = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        format!("{cpus} CPUs, {model}, Linux {}", kernel.trim())
    }
}

/// The backend process: the four demo gRPC backends and the plain HTTP/1.1 user endpoint.
mod backend {
    use std::convert::Infallible;
    use std::io::Read;
    use std::path::Path;
    use std::process::ExitCode;

    use bytes::Bytes;
    use gatehouse::demo::{self, DemoStore};
    use http_body_util::Full;
    use hyper::body::Incoming;
    use hyper::{Request, Response, StatusCode};
    use hyper_util::rt::TokioIo;
    use tokio::net::TcpListener;

    /// The name of the plain endpoint in the ready file (the others are demo service names).
    pub const PLAIN: &str = "plain";

    /// Serves until stdin closes (the driver holds the other end), after writing one
    /// `name address` line per listener to `ready_file`.
    pub fn run(ready_file: &Path) -> ExitCode {
        // One worker per allowed CPU: one when pinned, as for the gateway.
        let runtime = match tokio::runtime::Runtime::new() {
            Ok(runtime) => runtime,
            Err(e) => {
                eprintln!("backend: cannot start the runtime: {e}");
                return ExitCode::FAILURE;
            }
        };
        match runtime.block_on(serve(ready_file)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("backend: {e}");
                ExitCode::FAILURE
            }
        }
    }

    async fn serve(ready_file: &Path) -> Result<(), String> {
        let store = DemoStore::seeded();
        let running = demo::spawn_all(store.clone())
            .await
            .map_err(|e| format!("cannot start the demo backends: {e}"))?;
        let plain = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| format!("cannot bind the plain endpoint: {e}"))?;
        let plain_addr = plain.local_addr().map_err(|e| e.to_string())?;
        tokio::spawn(serve_plain(plain, store));

        let mut ready = String::new();
        for backend in &running {
            ready.push_str(&format!("{} {}\n", backend.service.name(), backend.addr));
        }
        ready.push_str(&format!("{PLAIN} {plain_addr}\n"));
        // Written aside and renamed, so the driver never reads half a file.
        let partial = ready_file.with_extension("partial");
        std::fs::write(&partial, ready)
            .and_then(|()| std::fs::rename(&partial, ready_file))
            .map_err(|e| format!("cannot write {}: {e}", ready_file.display()))?;

        tokio::task::spawn_blocking(|| {
            let _ = std::io::stdin().read_to_end(&mut Vec::new());
        })
        .await
        .map_err(|e| e.to_string())?;
        Ok(())
    }

    /// `GET /users/{id}`: the user as proto3 JSON (pbjson), looked up in the store per request,
    /// as the gRPC backend does before encoding protobuf.
    async fn serve_plain(listener: TcpListener, store: DemoStore) {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let store = store.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request| {
                    let reply = answer(&store, &request);
                    async move { Ok::<_, Infallible>(reply) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    }

    fn answer(store: &DemoStore, request: &Request<Incoming>) -> Response<Full<Bytes>> {
        let user = request
            .uri()
            .path()
            .strip_prefix("/users/")
            .and_then(|id| store.user(id));
        let (status, body) = match user.map(|user| serde_json::to_vec(&user)) {
            Some(Ok(body)) => (StatusCode::OK, body),
            _ => (
                StatusCode::NOT_FOUND,
                br#"{"code":5,"message":"not found"}"#.to_vec(),
            ),
        };
        let mut response = Response::new(Full::new(Bytes::from(body)));
        *response.status_mut() = status;
        response.headers_mut().insert(
            hyper::header::CONTENT_TYPE,
            hyper::header::HeaderValue::from_static("application/json"),
        );
        response
    }
}

/// The processes the driver starts, each stopped when its handle is dropped.
mod processes {
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
        fn spawn(name: &str, mut command: Command, log: PathBuf) -> Result<Process, String> {
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
        fn wait_for<T>(&mut self, mut ready: impl FnMut() -> Option<T>) -> Result<T, String> {
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
    pub fn start_backend(
        placement: &Placement,
        dir: &Path,
    ) -> Result<(Process, BackendAddrs), String> {
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

    /// Which gateway config: they differ from the default in one setting each.
    #[derive(Clone, Copy, PartialEq, Eq)]
    pub enum GatewayKind {
        /// `access_log = "off"`, every other setting at its default.
        Default,
        /// `access_log = "json"`, written to a file.
        AccessLog,
        /// `access_log = "off"` and every pool's `max_pending` at [`RAISED_MAX_PENDING`].
        RaisedMaxPending,
    }

    impl GatewayKind {
        fn name(self) -> &'static str {
            match self {
                GatewayKind::Default => "gateway",
                GatewayKind::AccessLog => "gateway-access-log",
                GatewayKind::RaisedMaxPending => "gateway-raised-max-pending",
            }
        }
    }

    /// The gateway config: every demo backend, the dashboard aggregate, no auth, no rate limits,
    /// no health checks, listeners on free ports.
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
        toml::to_string(&config).map_err(|e| e.to_string())
    }

    /// Starts `gatehouse serve` on the server CPU; answers its REST/gRPC address.
    pub fn start_gateway(
        placement: &Placement,
        dir: &Path,
        backends: &BackendAddrs,
        kind: GatewayKind,
    ) -> Result<(Process, SocketAddr), String> {
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
        let mut command = placement.server_command(Path::new(env!("CARGO_BIN_EXE_gatehouse")));
        command
            .arg("serve")
            .arg("--config")
            .arg(&config_file)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(stdout);
        let mut process = Process::spawn(name, command, dir.join(format!("{name}.log")))?;
        let addr = process.wait_for(|| {
            let out = fs::read_to_string(&stdout_file).ok()?;
            let rest = out.split("gatehouse listening on http://").nth(1)?;
            rest.split_whitespace().next()?.parse::<SocketAddr>().ok()
        })?;
        Ok((process, addr))
    }

    /// Where nginx is, if installed.
    pub fn find_nginx() -> Option<PathBuf> {
        let path = std::env::var("PATH").unwrap_or_default();
        path.split(':')
            .chain(["/usr/sbin", "/sbin", "/usr/local/sbin"])
            .map(|dir| Path::new(dir).join("nginx"))
            .find(|candidate| candidate.is_file())
    }

    /// One nginx worker proxying HTTP/1.1 keep-alive to `upstream`, no logs on the request path.
    const NGINX_CONF: &str = "\
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
        server {upstream};
        keepalive 64;
        keepalive_requests 1000000;
    }
    server {
        listen {listen};
        keepalive_requests 1000000;
        location / {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection \"\";
        }
    }
}
";

    /// Starts nginx (master and one worker) on the server CPU in front of `upstream`; answers
    /// its address. The port is found free and then given to nginx.
    pub fn start_nginx(
        placement: &Placement,
        dir: &Path,
        nginx: &Path,
        upstream: SocketAddr,
    ) -> Result<(Process, SocketAddr), String> {
        let listen = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("no free port for nginx: {e}"))?;
        let dir_text = dir.display().to_string();
        let conf = NGINX_CONF
            .replace("{dir}", &dir_text)
            .replace("{upstream}", &upstream.to_string())
            .replace("{listen}", &listen.to_string());
        let conf_file = dir.join("nginx.conf");
        fs::write(&conf_file, conf).map_err(|e| format!("{}: {e}", conf_file.display()))?;
        let mut command = placement.server_command(nginx);
        command
            .arg("-p")
            .arg(dir)
            .arg("-c")
            .arg(&conf_file)
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        let mut process = Process::spawn("nginx", command, dir.join("nginx.log"))?;
        process.wait_for(|| std::net::TcpStream::connect(listen).ok())?;
        Ok((process, listen))
    }
}

/// A small HTTP/1.1 client connection: one request at a time, keep-alive, no allocation per
/// request beyond the read buffer's growth. Written here so the generator costs little and
/// does exactly what is measured (no pool, no redirects, no decompression).
mod http1 {
    use std::io;
    use std::net::SocketAddr;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    /// Longest response head accepted.
    const MAX_HEAD: usize = 64 * 1024;

    /// `GET path` with the headers a plain client sends.
    pub fn get(addr: SocketAddr, path: &str) -> Vec<u8> {
        format!(
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: gatehouse-e2e\r\n\
             Accept: application/json\r\n\r\n"
        )
        .into_bytes()
    }

    pub struct Connection {
        stream: TcpStream,
        buf: Vec<u8>,
        /// False once the server said `Connection: close`.
        reusable: bool,
    }

    /// Where a response's parts are in the read buffer.
    struct Framed {
        status: u16,
        body_start: usize,
        body: BodyLength,
    }

    enum BodyLength {
        Fixed(usize),
        Chunked,
        /// Until the server closes the connection.
        ToClose,
    }

    impl Connection {
        pub async fn connect(addr: SocketAddr) -> io::Result<Connection> {
            let stream = TcpStream::connect(addr).await?;
            stream.set_nodelay(true)?;
            Ok(Connection {
                stream,
                buf: Vec::with_capacity(8 * 1024),
                reusable: true,
            })
        }

        /// False once the server has asked to close; make a new connection then.
        pub fn is_reusable(&self) -> bool {
            self.reusable
        }

        /// Sends `request` and reads the whole response; answers its status.
        pub async fn round_trip(&mut self, request: &[u8]) -> io::Result<u16> {
            let (status, _) = self.exchange(request).await?;
            Ok(status)
        }

        /// Sends `request`; answers the status and the (de-chunked) body.
        pub async fn fetch(&mut self, request: &[u8]) -> io::Result<(u16, Vec<u8>)> {
            self.exchange(request).await
        }

        async fn exchange(&mut self, request: &[u8]) -> io::Result<(u16, Vec<u8>)> {
            self.stream.write_all(request).await?;
            let framed = loop {
                if let Some(framed) = self.parse_head()? {
                    break framed;
                }
                if self.buf.len() > MAX_HEAD {
                    return Err(invalid("response head too large"));
                }
                self.fill().await?;
            };
            let (end, body) = match framed.body {
                BodyLength::Fixed(length) => {
                    let end = framed.body_start + length;
                    while self.buf.len() < end {
                        self.fill().await?;
                    }
                    (end, self.buf[framed.body_start..end].to_vec())
                }
                BodyLength::Chunked => loop {
                    if let Some((end, body)) = dechunk(&self.buf[framed.body_start..])? {
                        break (framed.body_start + end, body);
                    }
                    self.fill().await?;
                },
                BodyLength::ToClose => {
                    self.reusable = false;
                    self.stream.read_to_end(&mut self.buf).await?;
                    let end = self.buf.len();
                    (end, self.buf[framed.body_start..].to_vec())
                }
            };
            self.buf.drain(..end);
            Ok((framed.status, body))
        }

        async fn fill(&mut self) -> io::Result<()> {
            self.buf.reserve(8 * 1024);
            if self.stream.read_buf(&mut self.buf).await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            Ok(())
        }

        /// The status line and the headers that frame the body, once the head is complete.
        fn parse_head(&mut self) -> io::Result<Option<Framed>> {
            let Some(head_end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                return Ok(None);
            };
            let head = std::str::from_utf8(&self.buf[..head_end])
                .map_err(|_| invalid("response head is not UTF-8"))?;
            let mut lines = head.split("\r\n");
            let status = lines
                .next()
                .filter(|line| line.starts_with("HTTP/1."))
                .and_then(|line| line.get(9..12))
                .and_then(|code| code.parse::<u16>().ok())
                .ok_or_else(|| invalid("bad status line"))?;
            let mut body = BodyLength::ToClose;
            for line in lines {
                let Some((name, value)) = line.split_once(':') else {
                    continue;
                };
                let value = value.trim();
                if name.eq_ignore_ascii_case("content-length") {
                    let length = value.parse().map_err(|_| invalid("bad content-length"))?;
                    body = BodyLength::Fixed(length);
                } else if name.eq_ignore_ascii_case("transfer-encoding")
                    && value.to_ascii_lowercase().contains("chunked")
                {
                    body = BodyLength::Chunked;
                } else if name.eq_ignore_ascii_case("connection")
                    && value.eq_ignore_ascii_case("close")
                {
                    self.reusable = false;
                }
            }
            if status == 204 || status == 304 || (100..200).contains(&status) {
                body = BodyLength::Fixed(0);
            }
            Ok(Some(Framed {
                status,
                body_start: head_end + 4,
                body,
            }))
        }
    }

    /// A chunked body at the start of `buf`: its length on the wire and its content, once it
    /// is complete (trailers are skipped).
    fn dechunk(buf: &[u8]) -> io::Result<Option<(usize, Vec<u8>)>> {
        let mut body = Vec::new();
        let mut at = 0;
        loop {
            let Some(line_len) = buf[at..].windows(2).position(|w| w == b"\r\n") else {
                return Ok(None);
            };
            let line = std::str::from_utf8(&buf[at..at + line_len])
                .map_err(|_| invalid("bad chunk size"))?;
            let size_text = line.split(';').next().unwrap_or_default().trim();
            let size =
                usize::from_str_radix(size_text, 16).map_err(|_| invalid("bad chunk size"))?;
            at += line_len + 2;
            if size == 0 {
                // Trailers, then an empty line.
                loop {
                    let Some(len) = buf[at..].windows(2).position(|w| w == b"\r\n") else {
                        return Ok(None);
                    };
                    at += len + 2;
                    if len == 0 {
                        return Ok(Some((at, body)));
                    }
                }
            }
            if buf.len() < at + size + 2 {
                return Ok(None);
            }
            body.extend_from_slice(&buf[at..at + size]);
            at += size + 2;
        }
    }

    fn invalid(message: &str) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, message.to_string())
    }
}

/// The load generator: a fixed number of requests in flight, latencies in a histogram, and the
/// CPU the processes under test spent in the measured window.
mod load {
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
        /// CPU ticks of the processes under test, and of this driver, in the window.
        pub server_ticks: u64,
        pub driver_ticks: u64,
    }

    /// Sends `traffic` with `in_flight` requests at once for `warm_up` then `duration`,
    /// accounting the CPU of `server_pids` over the measured part.
    pub async fn run(
        traffic: &Traffic,
        in_flight: usize,
        warm_up: Duration,
        duration: Duration,
        server_pids: &[u32],
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

        let server_ticks = || -> Result<u64, String> {
            server_pids.iter().map(|&pid| procfs::cpu_ticks(pid)).sum()
        };
        let own_ticks = || procfs::cpu_ticks(std::process::id());
        tokio::time::sleep_until(window.measure_from.into()).await;
        let (server_before, driver_before) = (server_ticks()?, own_ticks()?);
        let measured_from = Instant::now();
        tokio::time::sleep_until(window.end.into()).await;
        let (server_after, driver_after) = (server_ticks()?, own_ticks()?);
        let measured = measured_from.elapsed();

        let mut tally = Tally::new();
        while let Some(worker) = workers.join_next().await {
            tally.merge(&worker.map_err(|e| format!("a load worker failed: {e}"))?);
        }
        Ok(Measured {
            tally,
            window: measured,
            server_ticks: server_after.saturating_sub(server_before),
            driver_ticks: driver_after.saturating_sub(driver_before),
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

    async fn http_worker(
        addr: SocketAddr,
        requests: Arc<Vec<Vec<u8>>>,
        window: Arc<Window>,
    ) -> Tally {
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
}

/// A lean unary gRPC client for the load: the request is encoded once, each call is one HTTP/2
/// stream on a shared connection (`h2`), and the answer is checked by its `grpc-status` and
/// the presence of a message, without decoding it. (tonic's client adds a buffer task, tower
/// layers and a codec per call; that cost lands on the generator's core.)
mod raw_grpc {
    use std::net::SocketAddr;

    use bytes::Bytes;
    use gatehouse::proto::users::v1::GetUserRequest;
    use h2::client::SendRequest;
    use http::header::{CONTENT_TYPE, TE};
    use prost::Message;
    use tokio::net::TcpStream;

    /// A handle on one HTTP/2 connection; clones share it.
    pub type Sender = SendRequest<Bytes>;

    /// Opens an HTTP/2 connection (prior knowledge, as gRPC over plain TCP does) and drives it
    /// in a task of its own.
    pub async fn connect(addr: SocketAddr) -> Result<Sender, String> {
        let tcp = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
        tcp.set_nodelay(true).map_err(|e| e.to_string())?;
        let (sender, connection) = h2::client::handshake(tcp)
            .await
            .map_err(|e| format!("HTTP/2 handshake with {addr}: {e}"))?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(sender)
    }

    /// One unary method and its encoded request.
    pub struct UnaryCall {
        uri: http::Uri,
        /// The length-prefixed message: flag 0 (not compressed), big-endian length, protobuf.
        body: Bytes,
    }

    impl UnaryCall {
        /// `users.v1.UserService/GetUser` for the benchmark's user, on `addr`.
        pub fn get_user(addr: SocketAddr) -> UnaryCall {
            let message = GetUserRequest {
                user_id: crate::USER_ID.to_string(),
            }
            .encode_to_vec();
            let mut body = Vec::with_capacity(5 + message.len());
            body.push(0);
            body.extend_from_slice(&(message.len() as u32).to_be_bytes());
            body.extend_from_slice(&message);
            let uri = format!("http://{addr}/users.v1.UserService/GetUser")
                .parse()
                .expect("an address makes a valid URI");
            UnaryCall {
                uri,
                body: body.into(),
            }
        }

        /// Makes the call: `Ok(true)` for grpc-status 0 with a message, `Ok(false)` for any
        /// other answer, `Err` when the connection failed.
        pub async fn send(&self, sender: Sender) -> Result<bool, h2::Error> {
            let mut sender = sender.ready().await?;
            let request = http::Request::post(self.uri.clone())
                .header(CONTENT_TYPE, "application/grpc")
                .header(TE, "trailers")
                .body(())
                .expect("a request of constant parts");
            let (response, mut stream) = sender.send_request(request, false)?;
            stream.send_data(self.body.clone(), true)?;
            let (head, mut body) = response.await?.into_parts();
            let mut received = 0;
            while let Some(chunk) = body.data().await {
                let chunk = chunk?;
                received += chunk.len();
                // Give the window back, or the connection stalls after 64 KiB.
                let _ = body.flow_control().release_capacity(chunk.len());
            }
            let trailers = body.trailers().await?;
            // A trailers-only answer carries grpc-status in the headers.
            let status = trailers
                .as_ref()
                .and_then(|t| t.get("grpc-status"))
                .or_else(|| head.headers.get("grpc-status"));
            Ok(head.status == http::StatusCode::OK
                && status.is_some_and(|s| s == "0")
                && received > 5)
        }
    }
}

/// Connection counts against the gateway: its memory, and whether everyone is served.
mod connections {
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
                let result =
                    tokio::time::timeout(REQUEST_TIMEOUT, connection.fetch(&request)).await;
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
}

/// The driver: starts everything, checks it answers, runs the rows, prints the report.
mod driver {
    use std::net::SocketAddr;
    use std::path::{Path, PathBuf};
    use std::process::ExitCode;
    use std::sync::Arc;
    use std::time::{Duration, SystemTime};

    use serde_json::Value;

    use crate::connections;
    use crate::http1::{self, Connection};
    use crate::load::{self, Measured, Traffic};
    use crate::options::Options;
    use crate::placement::Placement;
    use crate::processes::{self, BackendAddrs, GatewayKind, Process};
    use crate::{CONNECT_CONCURRENCY, USER_ID, procfs, raw_grpc, report};

    /// Time given to a gateway to settle after start before its memory is read.
    const SETTLE: Duration = Duration::from_millis(500);
    /// Requests sent to the raised-`max_pending` gateway before its burst.
    const WARM_REQUESTS: usize = 100;

    /// A row to run: its name, what to send, and the processes on its path.
    pub struct Row {
        pub name: String,
        pub traffic: Traffic,
        pub server_pids: Vec<u32>,
    }

    /// A row's name and figures.
    pub struct RowResult {
        pub name: String,
        pub measured: Measured,
    }

    /// Removes the scratch directory on the way out (after the processes using it stopped).
    struct ScratchDir(PathBuf);

    impl Drop for ScratchDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    pub fn run(options: Options, placement: Placement) -> ExitCode {
        // One thread: the generator is measured as one core's worth of work.
        let runtime = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime,
            Err(e) => {
                eprintln!("error: cannot start the runtime: {e}");
                return ExitCode::FAILURE;
            }
        };
        match runtime.block_on(drive(options, placement)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        }
    }

    async fn drive(options: Options, placement: Placement) -> Result<(), String> {
        let dir = std::env::temp_dir().join(format!("gatehouse-e2e-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let scratch = ScratchDir(dir);
        let dir = scratch.0.as_path();

        report::header(&options, &placement);
        progress("starting the backend process and the gateway");
        let (backend, addrs) = processes::start_backend(&placement, dir)?;
        let (gateway, gateway_addr) =
            processes::start_gateway(&placement, dir, &addrs, GatewayKind::Default)?;
        tokio::time::sleep(SETTLE).await;
        let (rss_fresh_kib, _) = procfs::memory_kib(gateway.pid())?;
        let setup = check_setup(&addrs, gateway_addr).await?;

        // The other proxies idle on the same core until their row.
        let logging = match options.access_log_row {
            true => Some(processes::start_gateway(
                &placement,
                dir,
                &addrs,
                GatewayKind::AccessLog,
            )?),
            false => None,
        };
        let nginx = start_nginx_if_wanted(&options, &placement, dir, &addrs).await;
        let mut notes = setup.notes.clone();
        if let Err(reason) = &nginx {
            progress(&format!("nginx row {reason}"));
            notes.push(format!("nginx row {reason}"));
        }

        let targets = Targets {
            options: &options,
            addrs: &addrs,
            setup: &setup,
            backend: backend.pid(),
            gateway: (gateway.pid(), gateway_addr),
            logging: logging.as_ref().map(|(p, addr)| (p.pid(), *addr)),
            nginx: nginx.as_ref().ok().map(|(p, addr)| {
                // The master and its worker.
                let mut pids = vec![p.pid()];
                pids.extend(procfs::children(p.pid()));
                (pids, *addr)
            }),
        };
        let mut results = Vec::new();
        for row in plan_rows(&targets) {
            results.push(measure(&options, row).await?);
        }
        drop(nginx);
        drop(logging);
        report::table(&results, &placement, &notes);

        if options.memory {
            let gateway = (gateway.pid(), gateway_addr);
            memory(&options, &placement, dir, &addrs, gateway, rss_fresh_kib).await?;
        }
        Ok(())
    }

    fn progress(message: &str) {
        eprintln!("[e2e] {message}");
    }

    async fn measure(options: &Options, row: Row) -> Result<RowResult, String> {
        let total = options.warm_up + options.duration;
        progress(&format!("{} ({:.0} s)", row.name, total.as_secs_f64()));
        let measured = load::run(
            &row.traffic,
            options.in_flight,
            options.warm_up,
            options.duration,
            &row.server_pids,
        )
        .await?;
        Ok(RowResult {
            name: row.name,
            measured,
        })
    }

    fn http_traffic(addr: SocketAddr, paths: &[String]) -> Traffic {
        let requests = paths.iter().map(|path| http1::get(addr, path)).collect();
        Traffic::Http {
            addr,
            requests: Arc::new(requests),
        }
    }

    /// Everything the rows point at: addresses, and the processes on each path.
    struct Targets<'a> {
        options: &'a Options,
        addrs: &'a BackendAddrs,
        setup: &'a Setup,
        backend: u32,
        gateway: (u32, SocketAddr),
        /// The gateway with its access log on, when that row runs.
        logging: Option<(u32, SocketAddr)>,
        /// nginx's processes and address, when it runs.
        nginx: Option<(Vec<u32>, SocketAddr)>,
    }

    /// The rows, in the order they run and are printed.
    fn plan_rows(targets: &Targets) -> Vec<Row> {
        let user_route = format!("/api/users/{USER_ID}");
        let plain_path = format!("/users/{USER_ID}");
        let backend_only = vec![targets.backend];
        let (gateway_pid, gateway) = targets.gateway;
        let via_gateway = vec![targets.backend, gateway_pid];
        let grpc = |addr| Traffic::Grpc {
            addr,
            connections: targets.options.grpc_connections,
            client: targets.options.grpc_client,
        };
        let mut rows = vec![
            Row {
                name: "direct gRPC → backend (GetUser)".into(),
                traffic: grpc(targets.addrs.users()),
                server_pids: backend_only.clone(),
            },
            Row {
                name: format!("REST via gatehouse (GET {user_route})"),
                traffic: http_traffic(gateway, std::slice::from_ref(&user_route)),
                server_pids: via_gateway.clone(),
            },
        ];
        if let Some((logging_pid, logging)) = targets.logging {
            rows.push(Row {
                name: "REST via gatehouse, access log on (json → file)".into(),
                traffic: http_traffic(logging, std::slice::from_ref(&user_route)),
                server_pids: vec![targets.backend, logging_pid],
            });
        }
        rows.extend([
            Row {
                name: "gRPC via gatehouse (native ingress, GetUser)".into(),
                traffic: grpc(gateway),
                server_pids: via_gateway.clone(),
            },
            Row {
                name: "dashboard aggregate via gatehouse (1 call)".into(),
                traffic: http_traffic(gateway, &[format!("/api/user-dashboard/{USER_ID}")]),
                server_pids: via_gateway.clone(),
            },
            Row {
                name: "dashboard as 3 sequential REST calls via gatehouse".into(),
                traffic: http_traffic(gateway, &targets.setup.sequential_paths),
                server_pids: via_gateway,
            },
            Row {
                name: "plain HTTP/1.1 JSON → backend (no proxy)".into(),
                traffic: http_traffic(targets.addrs.plain, std::slice::from_ref(&plain_path)),
                server_pids: backend_only,
            },
        ]);
        if let Some((nginx_pids, nginx)) = &targets.nginx {
            let mut pids = vec![targets.backend];
            pids.extend(nginx_pids);
            rows.push(Row {
                name: "nginx plain HTTP/1.1 reverse proxy (no transcoding)".into(),
                traffic: http_traffic(*nginx, &[plain_path]),
                server_pids: pids,
            });
        }
        rows
    }

    /// What the setup check learned.
    struct Setup {
        /// The three calls the dashboard replaces: user, orders, the products in them.
        sequential_paths: Vec<String>,
        /// Remarks for the report.
        notes: Vec<String>,
    }

    /// Every target answers before any load: gRPC direct and through the gateway, the REST
    /// routes, the aggregate and the plain endpoint.
    async fn check_setup(addrs: &BackendAddrs, gateway: SocketAddr) -> Result<Setup, String> {
        for (what, addr) in [("the backend", addrs.users()), ("the gateway", gateway)] {
            let channel = load::grpc_channel(addr).await?;
            let mut client =
                gatehouse::proto::users::v1::user_service_client::UserServiceClient::new(channel);
            let reply = client
                .get_user(load::get_user_request())
                .await
                .map_err(|e| format!("GetUser via {what} failed: {e}"))?;
            if reply.get_ref().user.is_none() {
                return Err(format!("GetUser via {what} answered no user"));
            }
            // And with the raw client the gRPC rows use.
            let sender = raw_grpc::connect(addr).await?;
            let answered = raw_grpc::UnaryCall::get_user(addr).send(sender).await;
            if !matches!(answered, Ok(true)) {
                return Err(format!("raw GetUser via {what} failed: {answered:?}"));
            }
        }

        let user = get_json(gateway, &format!("/api/users/{USER_ID}")).await?;
        let orders_path = format!("/api/orders?userId={USER_ID}&pageSize=20");
        let orders = get_json(gateway, &orders_path).await?;
        // The products a client would ask for next, found once here as a client would.
        let mut ids: Vec<&str> = Vec::new();
        for order in orders["orders"].as_array().into_iter().flatten() {
            for item in order["lineItems"].as_array().into_iter().flatten() {
                if let Some(id) = item["productId"].as_str()
                    && !ids.contains(&id)
                {
                    ids.push(id);
                }
            }
        }
        let query: Vec<String> = ids.iter().map(|id| format!("ids={id}")).collect();
        let products_path = format!("/api/products:batchGet?{}", query.join("&"));
        get_json(gateway, &products_path).await?;

        let dashboard = get_json(gateway, &format!("/api/user-dashboard/{USER_ID}")).await?;
        if dashboard["errors"].as_array().is_none_or(|e| !e.is_empty()) {
            return Err(format!("the dashboard reported errors: {dashboard}"));
        }

        let mut notes = Vec::new();
        let plain = get_json(addrs.plain, &format!("/users/{USER_ID}")).await?;
        if plain != user {
            notes.push(format!(
                "the plain endpoint's JSON differs from the gateway's: {plain} vs {user}"
            ));
        }
        if ids.is_empty() {
            notes.push("user 123 has no orders: the products call asks for nothing".into());
        }
        Ok(Setup {
            sequential_paths: vec![format!("/api/users/{USER_ID}"), orders_path, products_path],
            notes,
        })
    }

    async fn get_json(addr: SocketAddr, path: &str) -> Result<Value, String> {
        let mut connection = Connection::connect(addr)
            .await
            .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
        let (status, body) = connection
            .fetch(&http1::get(addr, path))
            .await
            .map_err(|e| format!("GET {path} on {addr}: {e}"))?;
        let text = String::from_utf8_lossy(&body);
        if !(200..300).contains(&status) {
            return Err(format!("GET {path} on {addr}: {status} {text}"));
        }
        serde_json::from_slice(&body).map_err(|e| format!("GET {path} on {addr}: {e}: {text}"))
    }

    /// nginx in front of the plain endpoint, or why there is none.
    async fn start_nginx_if_wanted(
        options: &Options,
        placement: &Placement,
        dir: &Path,
        addrs: &BackendAddrs,
    ) -> Result<(Process, SocketAddr), String> {
        if !options.nginx {
            return Err("skipped (--no-nginx)".into());
        }
        let nginx = processes::find_nginx().ok_or(
            "skipped: nginx is not installed (scripts/bench.sh installs the Debian package nginx)",
        )?;
        let (process, addr) = processes::start_nginx(placement, dir, &nginx, addrs.plain)
            .map_err(|e| format!("skipped: nginx did not start: {e}"))?;
        get_json(addr, &format!("/users/{USER_ID}"))
            .await
            .map_err(|e| format!("skipped: nginx does not proxy: {e}"))?;
        Ok((process, addr))
    }

    /// The memory section: the gateway idle, holding many keep-alive connections, and taking a
    /// burst of concurrent ones; then the burst again on a second gateway whose pools admit it.
    async fn memory(
        options: &Options,
        placement: &Placement,
        dir: &Path,
        addrs: &BackendAddrs,
        (gateway_pid, gateway_addr): (u32, SocketAddr),
        rss_fresh_kib: u64,
    ) -> Result<(), String> {
        let path = format!("/api/users/{USER_ID}");
        let (rss_idle_kib, _) = procfs::memory_kib(gateway_pid)?;
        progress(&format!(
            "{} keep-alive connections",
            options.keep_alive_connections
        ));
        let keep_alive = connections::open_and_ask(
            gateway_addr,
            options.keep_alive_connections,
            CONNECT_CONCURRENCY,
            http1::get(gateway_addr, &path),
            gateway_pid,
        )
        .await?;

        // Each connection holds a descriptor here and one in the gateway.
        let needed = options.burst_connections as u64 + 200;
        let (burst, burst_raised) = match procfs::open_files_limit() {
            Some(limit) if limit < needed => {
                let reason = format!(
                    "skipped: the open files limit is {limit}, {needed} needed (ulimit -n)"
                );
                (Err(reason.clone()), Err(reason))
            }
            _ => {
                progress(&format!(
                    "{} concurrent connections",
                    options.burst_connections
                ));
                let burst = connections::open_and_ask(
                    gateway_addr,
                    options.burst_connections,
                    CONNECT_CONCURRENCY,
                    http1::get(gateway_addr, &path),
                    gateway_pid,
                )
                .await?;
                progress(&format!(
                    "{} concurrent connections, second gateway with max_pending = {}",
                    options.burst_connections,
                    processes::RAISED_MAX_PENDING
                ));
                let kind = GatewayKind::RaisedMaxPending;
                let (raised, raised_addr) = processes::start_gateway(placement, dir, addrs, kind)?;
                // Warm, as the first gateway is: its pools connected, its allocator used.
                for _ in 0..WARM_REQUESTS {
                    get_json(raised_addr, &path).await?;
                }
                tokio::time::sleep(SETTLE).await;
                let burst_raised = connections::open_and_ask(
                    raised_addr,
                    options.burst_connections,
                    CONNECT_CONCURRENCY,
                    http1::get(raised_addr, &path),
                    raised.pid(),
                )
                .await?;
                (Ok(burst), Ok(burst_raised))
            }
        };
        report::memory(&report::Memory {
            rss_fresh_kib,
            rss_idle_kib,
            keep_alive,
            burst,
            burst_raised,
        });
        Ok(())
    }

    /// Today's date for the report header.
    pub fn now_utc() -> String {
        let secs = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or_default();
        chrono::DateTime::from_timestamp(secs, 0)
            .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
            .unwrap_or_default()
    }
}

/// Printing: the header, the table, the memory section.
mod report {
    use std::time::Duration;

    use gatehouse::config::DEFAULT_MAX_PENDING;

    use crate::connections::Outcome;
    use crate::driver;
    use crate::load::{GrpcClient, Measured};
    use crate::options::Options;
    use crate::placement::Placement;
    use crate::processes::RAISED_MAX_PENDING;
    use crate::procfs;

    pub fn header(options: &Options, placement: &Placement) {
        println!("gatehouse end-to-end load benchmark");
        println!("  date       {}", driver::now_utc());
        println!("  machine    {}", procfs::machine());
        println!("  placement  {}", placement.describe());
        println!(
            "  load       {} requests in flight, {} s warm-up + {} s measured per row",
            options.in_flight,
            options.warm_up.as_secs_f64(),
            options.duration.as_secs_f64(),
        );
        let grpc_client = match options.grpc_client {
            GrpcClient::H2 => "raw h2, request encoded once",
            GrpcClient::Tonic => "the generated tonic client",
        };
        println!(
            "             gRPC: {grpc_client}, over {} HTTP/2 connections; HTTP/1.1: one \
             keep-alive connection per request in flight",
            options.grpc_connections
        );
        println!(
            "  gateway    gatehouse serve (release): no [auth] (routes public, no token), no \
             rate limits,"
        );
        println!("             no health checks, access_log off, other settings default");
        println!();
    }

    pub fn table(results: &[driver::RowResult], placement: &Placement, notes: &[String]) {
        let ticks_per_second = procfs::ticks_per_second() as f64;
        let baseline = results.first().map(|r| rate(&r.measured)).unwrap_or(0.0);
        let width = results
            .iter()
            .map(|r| r.name.chars().count())
            .max()
            .unwrap_or(10);
        let core = placement.server_cpu_label();
        println!(
            "{:<width$}  {:>9}  {:>9}  {:>9}  {:>6}  {:>7}  {:>12}  {:>7}  {:>5}",
            "target",
            "req/s",
            "p50",
            "p99",
            "errors",
            "vs gRPC",
            "core0 µs/req",
            "core0 %",
            "gen %"
        );
        for result in results {
            let m = &result.measured;
            let completed = m.tally.completed.max(1) as f64;
            let window = m.window.as_secs_f64();
            let server_secs = m.server_ticks as f64 / ticks_per_second;
            let driver_secs = m.driver_ticks as f64 / ticks_per_second;
            println!(
                "{:<width$}  {:>9.0}  {:>9}  {:>9}  {:>6}  {:>6.2}x  {:>12.1}  {:>6.0}%  {:>4.0}%",
                result.name,
                rate(m),
                micros(m.tally.latency.value_at_quantile(0.50)),
                micros(m.tally.latency.value_at_quantile(0.99)),
                m.tally.errors,
                if baseline > 0.0 {
                    rate(m) / baseline
                } else {
                    0.0
                },
                server_secs * 1e6 / completed,
                server_secs * 100.0 / window,
                driver_secs * 100.0 / window,
            );
        }
        println!();
        println!(
            "  core0 = {core}: CPU of the backend process plus the proxy on the path (gateway, \
             or nginx master + worker), /proc/<pid>/stat utime+stime over the measured window."
        );
        println!(
            "  gen % = the load generator's own CPU (one thread); near 100 % it, not the \
             server, was the limit."
        );
        println!(
            "  The sequential row counts one request per three calls (user, orders, products), \
             so its req/s and latency compare directly with the aggregate row."
        );
        println!(
            "  The plain HTTP row is the nginx row's baseline: the same user JSON from the \
             backend process (hyper), with no proxy."
        );
        for note in notes {
            println!("  note: {note}");
        }
        println!();
    }

    /// The memory section's figures.
    pub struct Memory {
        pub rss_fresh_kib: u64,
        pub rss_idle_kib: u64,
        pub keep_alive: Outcome,
        /// The burst on the gateway with default pools, and on a fresh one with `max_pending`
        /// raised (or why they were skipped).
        pub burst: Result<Outcome, String>,
        pub burst_raised: Result<Outcome, String>,
    }

    pub fn memory(memory: &Memory) {
        println!("gateway memory (VmRSS of the gatehouse process, /proc/<pid>/status)");
        println!(
            "  idle, just started            {}",
            mib(memory.rss_fresh_kib)
        );
        println!(
            "  idle, after the load rows     {}",
            mib(memory.rss_idle_kib)
        );
        let keep_alive = &memory.keep_alive;
        connections(
            &format!(
                "{} keep-alive HTTP/1.1 connections, one request each, all held open",
                thousands(keep_alive.connections)
            ),
            keep_alive,
        );
        let bursts = [
            (
                format!("default max_pending = {DEFAULT_MAX_PENDING} per backend pool"),
                &memory.burst,
            ),
            (
                format!("a second gateway, warmed, with max_pending = {RAISED_MAX_PENDING}"),
                &memory.burst_raised,
            ),
        ];
        for (config, burst) in bursts {
            match burst {
                Ok(burst) => connections(
                    &format!(
                        "{} concurrent connections, one request each, sent together ({config})",
                        thousands(burst.connections)
                    ),
                    burst,
                ),
                Err(reason) => println!("  concurrent connections ({config}): {reason}"),
            }
        }
    }

    fn connections(what: &str, outcome: &Outcome) {
        let growth = outcome.rss_open_kib.saturating_sub(outcome.rss_before_kib);
        println!("  {what}:");
        println!(
            "      RSS {} before, {} with them open ({:.1} KiB per connection), peak {}, {} \
             after they closed",
            mib(outcome.rss_before_kib),
            mib(outcome.rss_open_kib),
            growth as f64 / outcome.connections as f64,
            mib(outcome.hwm_kib),
            mib(outcome.rss_closed_kib),
        );
        println!(
            "      answered 2xx: {}, errors: {}; all answers in {}",
            thousands(outcome.ok),
            thousands(outcome.error_count()),
            seconds(outcome.elapsed)
        );
        for (kind, (count, message)) in &outcome.errors {
            let example = match message.is_empty() {
                true => String::new(),
                false => format!(", e.g. {message:?}"),
            };
            println!("        {} × {kind}{example}", thousands(*count));
        }
    }

    fn rate(measured: &Measured) -> f64 {
        measured.tally.completed as f64 / measured.window.as_secs_f64()
    }

    fn micros(value: u64) -> String {
        if value < 1000 {
            format!("{value} µs")
        } else {
            format!("{:.2} ms", value as f64 / 1000.0)
        }
    }

    fn mib(kib: u64) -> String {
        format!("{:.1} MiB", kib as f64 / 1024.0)
    }

    fn seconds(duration: Duration) -> String {
        format!("{:.2} s", duration.as_secs_f64())
    }

    fn thousands(n: usize) -> String {
        let digits = n.to_string();
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(c);
        }
        out
    }
}
