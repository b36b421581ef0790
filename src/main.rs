//! The `gatehouse` command: serve, demo, routes, check, openapi.

use std::future::Future;
use std::io::{self, IsTerminal, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use clap::{Parser, Subcommand};
use gatehouse::admin::{self, Readiness};
use gatehouse::config::{Config, DEFAULT_LISTEN};
use gatehouse::demo::{self, DemoStore};
use gatehouse::gateway::{self, Handle};
use gatehouse::schema::{RouteSpec, Schema};
use gatehouse::sources;
use gatehouse::telemetry::export::{self, Exporter};
use gatehouse::telemetry::request_context::LogFormat;
use gatehouse::transcode::compiled;
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::oneshot;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, layer::SubscriberExt};

/// jemalloc rather than glibc's malloc, for memory first: after a burst of requests glibc keeps
/// the pages the burst used, so a gateway holding many idle keep-alive connections stays at its
/// peak; jemalloc gives them back. It also takes fewer instructions per request.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, read when it starts: a background thread returns freed pages to the
/// system about a second after they were last used, rather than at some later allocation.
/// (jemalloc reads a `const char *` under this name; a reference to the first byte is one.)
#[unsafe(export_name = "_rjem_malloc_conf")]
static JEMALLOC_OPTIONS: &std::ffi::c_char =
    // SAFETY: the pointer is to the first byte of a static C string.
    unsafe { &*c"background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0".as_ptr() };

/// How long the runtime waits, once the command is done, for blocking work still under way
/// (a DNS lookup) before the process exits anyway.
const RUNTIME_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(1);

/// The demo's admin listener: any free loopback port, printed at start-up. Not `serve`'s
/// 9901, which Envoy's admin listener (or a running gatehouse) may already hold, and the demo
/// is the first thing a new user runs.
const DEMO_ADMIN_LISTEN: &str = "127.0.0.1:0";

#[derive(Parser)]
#[command(
    name = "gatehouse",
    version,
    about = "REST/JSON gateway in front of gRPC services"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the services a config names. SIGHUP or a change of the file reloads it; SIGTERM
    /// or Ctrl-C drains (up to `[admin] drain_timeout`) and exits 0, a second one at once.
    Serve {
        #[arg(long, default_value = "gatehouse.toml")]
        config: PathBuf,
    },
    /// Start the four demo backends in-process and the gateway in front of them.
    Demo {
        #[arg(long, default_value = DEFAULT_LISTEN)]
        listen: SocketAddr,
        /// Where `/metrics`, `/healthz` and `/readyz` are served; by default a free port,
        /// printed at start-up.
        #[arg(long, default_value = DEMO_ADMIN_LISTEN)]
        admin_listen: SocketAddr,
    },
    /// Print the HTTP routes: of every compiled-in service, or of the services a config
    /// serves (its protos, descriptor sets and backends' reflection included).
    Routes {
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Validate a config file and exit non-zero with the file, key and reason if it is wrong.
    Check {
        #[arg(long, default_value = "gatehouse.toml")]
        config: PathBuf,
    },
    /// Print the OpenAPI 3.1 document of what a config serves (every compiled service when no
    /// config is given).
    Openapi {
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Write a client of what a config serves (every compiled-in service when no config is
    /// given, the demo's API with --demo).
    Client {
        #[command(subcommand)]
        language: ClientLanguage,
    },
}

#[derive(Subcommand)]
enum ClientLanguage {
    /// A TypeScript ES module that needs nothing but fetch: `index.ts` (the API's types and
    /// calls) and `runtime.ts`, written into --out.
    Typescript {
        /// The directory to write into; made if missing, its two files replaced.
        #[arg(long)]
        out: PathBuf,
        #[arg(long, conflicts_with = "demo")]
        config: Option<PathBuf>,
        /// The API `gatehouse demo` serves (its routes, answers and aggregates).
        #[arg(long)]
        demo: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // `serve` sets up its logging once it has read the config, which may add span export.
    if !matches!(cli.command, Command::Serve { .. }) {
        logging().init();
    }
    match cli.command {
        Command::Routes { config: None } => {
            print_routes(compiled::schema().bindings().iter());
            ExitCode::SUCCESS
        }
        Command::Routes { config: Some(path) } => run(async move {
            let (config, schema) = load(&path).await?;
            let served: Vec<&str> = config
                .backends
                .iter()
                .flat_map(|b| b.services.iter().map(String::as_str))
                .collect();
            print_routes(
                schema
                    .bindings()
                    .iter()
                    .filter(|r| served.contains(&r.service.as_str())),
            );
            Ok(())
        }),
        Command::Openapi { config: None } => {
            let schema = compiled::schema();
            let config = gatehouse::openapi::all_services_config(schema);
            print_openapi(&config, schema, &[]);
            ExitCode::SUCCESS
        }
        Command::Openapi { config: Some(path) } => run(async move {
            let (config, schema) = load(&path).await?;
            // The aggregates' plans as the compile step checks and compiles them.
            let plans =
                gateway::check::against_schema(&config, &schema).map_err(|e| e.to_string())?;
            print_openapi(&config, &schema, &plans);
            Ok(())
        }),
        Command::Client {
            language: ClientLanguage::Typescript { out, config, demo },
        } => run(async move {
            let (config, schema, source) = match config {
                Some(path) => {
                    let (config, schema) = load(&path).await?;
                    (config, schema, path.display().to_string())
                }
                None if demo => (
                    demo::described_config(),
                    compiled::schema().clone(),
                    "the demo's config".to_string(),
                ),
                None => {
                    // Every binding, as `openapi` without a config: routes that clash are
                    // each described, and there are no aggregates to check.
                    let schema = compiled::schema().clone();
                    let config = gatehouse::openapi::all_services_config(&schema);
                    let files = gatehouse::clientgen::typescript(
                        &config,
                        &schema,
                        &[],
                        "every compiled-in service",
                    );
                    return write_client(&out, files);
                }
            };
            // The aggregates' plans as the compile step checks and compiles them.
            let plans =
                gateway::check::against_schema(&config, &schema).map_err(|e| e.to_string())?;
            write_client(
                &out,
                gatehouse::clientgen::typescript(&config, &schema, &plans, &source),
            )
        }),
        Command::Check { config: path } => run(async move {
            let (config, schema) = load(&path).await?;
            // Exactly what `serve` builds: the files and variables the config names must be
            // there too.
            gateway::compile(&config, &schema).map_err(|e| e.to_string())?;
            let served: usize = config.backends.iter().map(|b| b.services.len()).sum();
            println!(
                "{}: ok ({} backends, {served} services)",
                path.display(),
                config.backends.len()
            );
            Ok(())
        }),
        Command::Serve { config: path } => run(async move {
            let config = Config::load(&path).map_err(|e| e.to_string())?;
            // Inside the runtime: the exporter's gRPC client lives on it.
            let exporter = match Exporter::start(&config.telemetry)? {
                Some((exporter, layer)) => {
                    logging().with(layer).init();
                    Some(exporter)
                }
                None => {
                    logging().init();
                    None
                }
            };
            let settings = ListenSettings::config_file(&path);
            let served = serve(config, Some(path), settings, None).await;
            if let Some(exporter) = exporter {
                exporter.shutdown().await;
            }
            served
        }),
        Command::Demo {
            listen,
            admin_listen,
        } => run(demo(listen, admin_listen)),
    }
}

/// Log lines on stderr, at the level `RUST_LOG` sets (default info), in colour only on a
/// terminal (files and journald get plain text, which is also cheaper to write). Lines written
/// while a request is handled name it (`LogFormat`); its exported span, which names the same,
/// is left out. The filter is the log's own, so that it does not decide which spans other
/// layers see.
fn logging() -> impl tracing::Subscriber + for<'a> LookupSpan<'a> + Send + Sync {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info"))
        .add_directive(
            format!("{}=off", export::REQUEST_TARGET)
                .parse()
                .expect("a target and a level form a directive"),
        );
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    tracing_subscriber::registry().with(
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(colour)
            .event_format(LogFormat::default())
            .with_filter(filter),
    )
}

/// The config at `path` and the schema it describes (the compiled-in protos and the run-time
/// sources it names).
async fn load(path: &Path) -> Result<(Config, Schema), String> {
    let config = Config::load(path).map_err(|e| e.to_string())?;
    let schema = sources::load(&config).await.map_err(|e| e.to_string())?;
    Ok((config, schema))
}

fn print_openapi(config: &Config, schema: &Schema, plans: &[gatehouse::aggregate::Plan]) {
    let document = gatehouse::openapi::document(config, schema, plans);
    let text = serde_json::to_string_pretty(&document).unwrap_or_default();
    // A closed pipe (`| head`) is not an error worth a panic.
    let _ = writeln!(std::io::stdout(), "{text}");
}

/// Writes a generated client's files into `out` and says where.
fn write_client(out: &Path, files: Vec<gatehouse::clientgen::GeneratedFile>) -> Result<(), String> {
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    for file in files {
        let path = out.join(file.name);
        std::fs::write(&path, file.text).map_err(|e| format!("{}: {e}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

fn run(job: impl Future<Output = Result<(), String>>) -> ExitCode {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(job);
    runtime.shutdown_timeout(RUNTIME_SHUTDOWN_TIMEOUT);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Serves `config` until SIGTERM or Ctrl-C, then drains: `/readyz` turns 503, the REST
/// listener closes, requests in flight get up to `[admin] drain_timeout` to finish, and the admin
/// listener stops last. A second signal ends the drain at once. With `config_file`, SIGHUP and
/// changes of the file reload it. A listener that cannot bind its address fails the start with
/// the setting that moves it, from `settings`.
async fn serve(
    config: Config,
    config_file: Option<PathBuf>,
    settings: ListenSettings,
    banner: Option<String>,
) -> Result<(), String> {
    // Listened for before anything is bound, so that no stop request is missed.
    let mut signals = StopSignals::new()?;
    let metrics = gatehouse::telemetry::metrics::install();
    let schema = sources::load(&config).await.map_err(|e| e.to_string())?;
    let gateway = gateway::compile(&config, &schema).map_err(|e| e.to_string())?;
    let limits = gateway.connection_limits();
    let routes = gateway.route_count();
    let handle = Handle::new(gateway);
    let rest_listener = bind(config.server.listen, "REST listener", &settings.rest).await?;
    let admin_listener = bind(config.admin.listen, "admin listener", &settings.admin).await?;
    let rest_addr = local_addr(&rest_listener)?;
    let admin_addr = local_addr(&admin_listener)?;
    log_summary(&config, rest_addr, admin_addr, routes);
    let scheme = if config.server.tls.is_some() {
        "https"
    } else {
        "http"
    };
    println!("gatehouse listening on {scheme}://{rest_addr} ({routes} routes)");
    println!("admin listening on http://{admin_addr} (/metrics, /healthz, /readyz)");
    if let Some(banner) = banner {
        println!("{}", banner.replace("{addr}", &rest_addr.to_string()));
    }

    let readiness = Readiness::new(Arc::new(AtomicBool::new(false)), {
        // Read on every probe: after a reload, the new gateway's backends count.
        let handle = handle.clone();
        Arc::new(move || handle.load().backends())
    });
    let (stop_admin, admin_stopped) = oneshot::channel::<()>();
    let admin_task = tokio::spawn(admin::serve(
        admin_listener,
        admin::router(metrics, readiness.clone()),
        async {
            let _ = admin_stopped.await;
        },
    ));
    // Dropped on the way out, which stops the watcher.
    let (_stop_reload, reload_stopped) = oneshot::channel::<()>();
    if let Some(path) = config_file {
        tokio::spawn(gatehouse::reload::watch(handle.clone(), path, async {
            let _ = reload_stopped.await;
        }));
    }

    let drain_timeout = config.admin.drain_timeout;
    let (start_drain, drain_started) = oneshot::channel::<()>();
    let rest = gatehouse::listener::serve_with_drain(
        rest_listener,
        gatehouse::stack::for_handle(&handle),
        limits,
        async {
            let _ = drain_started.await;
        },
        Some(drain_timeout),
    );
    let served = until_stopped(rest, &mut signals, &readiness, start_drain, drain_timeout).await;
    // The admin listener goes last, so that probes see the drain until the end.
    let _ = stop_admin.send(());
    match admin_task.await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => tracing::warn!(%error, "admin listener failed"),
        Err(error) => tracing::warn!(%error, "admin listener task failed"),
    }
    // The access log's last lines, before the process exits.
    gatehouse::telemetry::access_log::flush_stdout();
    tracing::info!("stopped");
    served.map_err(|e| format!("serving {rest_addr}: {e}"))
}

/// Runs `rest` until the first stop signal; then marks the gateway draining, starts the drain,
/// and runs it to its end, or until a second signal drops whatever is still open.
async fn until_stopped(
    rest: impl Future<Output = io::Result<()>>,
    signals: &mut StopSignals,
    readiness: &Readiness,
    start_drain: oneshot::Sender<()>,
    drain_timeout: Duration,
) -> io::Result<()> {
    tokio::pin!(rest);
    let name = tokio::select! {
        served = &mut rest => return served,
        name = signals.next() => name,
    };
    // Before the port closes: from the first moment of the drain, probes say not ready.
    readiness.start_draining();
    tracing::info!(
        signal = name,
        timeout = ?drain_timeout,
        "draining: /readyz answers 503, new connections are refused, requests in flight may \
         finish (a second signal stops at once)"
    );
    let _ = start_drain.send(());
    tokio::select! {
        served = &mut rest => served,
        name = signals.next() => {
            tracing::warn!(signal = name, "second signal: stopping without finishing the drain");
            Ok(())
        }
    }
}

/// What sets each listener's address, as a user would change it: a config key for `serve`,
/// a flag for `demo`. Named when the address cannot be bound (most often: the port is taken).
struct ListenSettings {
    rest: String,
    admin: String,
}

impl ListenSettings {
    fn config_file(path: &Path) -> ListenSettings {
        let file = path.display();
        ListenSettings {
            rest: format!("set `server.listen` in {file}"),
            admin: format!("set `admin.listen` in {file}"),
        }
    }

    fn demo_flags() -> ListenSettings {
        ListenSettings {
            rest: "pass `--listen ADDR`".into(),
            admin: "pass `--admin-listen ADDR`".into(),
        }
    }
}

/// Binds `listener`'s `address`; the error names the address, the reason and, as `setting`,
/// how to choose another.
async fn bind(
    address: SocketAddr,
    listener: &str,
    setting: &str,
) -> Result<tokio::net::TcpListener, String> {
    tokio::net::TcpListener::bind(address).await.map_err(|e| {
        format!(
            "cannot listen on {address} for the {listener}: {e}; {setting} to use another address"
        )
    })
}

fn local_addr(listener: &tokio::net::TcpListener) -> Result<SocketAddr, String> {
    listener.local_addr().map_err(|e| e.to_string())
}

/// What the process serves, where, and in front of what: one line per listener and backend.
fn log_summary(config: &Config, rest: SocketAddr, admin: SocketAddr, routes: usize) {
    tracing::info!(
        address = %rest,
        routes,
        tls = config.server.tls.is_some(),
        grpc = config.server.grpc,
        "REST listener"
    );
    tracing::info!(address = %admin, "admin listener (/metrics, /healthz, /readyz)");
    for backend in &config.backends {
        tracing::info!(
            backend = %backend.name,
            endpoints = %backend.endpoints.join(", "),
            services = backend.services.len(),
            health_checks = backend.health.is_some(),
            "backend"
        );
    }
}

/// SIGTERM and SIGINT (Ctrl-C), the requests to stop.
struct StopSignals {
    terminate: Signal,
    interrupt: Signal,
}

impl StopSignals {
    fn new() -> Result<StopSignals, String> {
        let listen = |kind: SignalKind, name: &str| {
            signal(kind).map_err(|e| format!("cannot listen for {name}: {e}"))
        };
        Ok(StopSignals {
            terminate: listen(SignalKind::terminate(), "SIGTERM")?,
            interrupt: listen(SignalKind::interrupt(), "SIGINT")?,
        })
    }

    /// Waits for the next one and names it.
    async fn next(&mut self) -> &'static str {
        tokio::select! {
            _ = self.terminate.recv() => "SIGTERM",
            _ = self.interrupt.recv() => "SIGINT",
        }
    }
}

async fn demo(listen: SocketAddr, admin_listen: SocketAddr) -> Result<(), String> {
    let store = DemoStore::seeded();
    let running = demo::spawn_all(store)
        .await
        .map_err(|e| format!("cannot start the demo backends: {e}"))?;
    for backend in &running {
        let service = backend.service;
        println!(
            "demo backend {:<8} {} on {}",
            service.name(),
            service.grpc_service(),
            backend.addr
        );
    }
    // The demo issuer's key lives in this process; its public half is written where the
    // gateway reads JWKS files, and removed on the way out.
    let issuer = demo::demo_issuer()?;
    let jwks_file =
        std::env::temp_dir().join(format!("gatehouse-demo-{}.jwks.json", std::process::id()));
    std::fs::write(&jwks_file, issuer.jwks_json())
        .map_err(|e| format!("cannot write {}: {e}", jwks_file.display()))?;
    let mut config = demo::demo_config(&running, &jwks_file);
    config.server.listen = listen;
    config.admin.listen = admin_listen;
    config.validate("demo").map_err(|e| e.to_string())?;
    let token = demo::demo_token(&issuer);
    let banner = format!(
        "Products are public (uploading an image is not); users, orders and payments need the demo \
         token (user 123, role customer, valid 24 h):\n\n\
         export TOKEN={token}\n\n\
         Try:\n  \
         curl http://{{addr}}/api/products/p-100\n  \
         curl 'http://{{addr}}/api/products:batchGet?ids=p-100&ids=p-101'\n  \
         curl http://{{addr}}/api/users/123          # 401: no token\n  \
         curl -H \"Authorization: Bearer $TOKEN\" http://{{addr}}/api/users/123\n  \
         curl -H \"Authorization: Bearer $TOKEN\" -X POST http://{{addr}}/api/orders \\\n       \
         -H 'content-type: application/json' \\\n       \
         -d '{{\"userId\": \"123\", \"lineItems\": [{{\"productId\": \"p-100\", \"quantity\": 2}}]}}'\n\
         gRPC clients use the same port (reflection is on): grpcurl -plaintext {{addr}} list\n\
         Swagger UI: http://{{addr}}/docs (Authorize with the token); a TypeScript client: \
         gatehouse client typescript --demo --out web/api\n\
         Press Ctrl-C to stop."
    );
    let result = serve(config, None, ListenSettings::demo_flags(), Some(banner)).await;
    let _ = std::fs::remove_file(&jwks_file);
    for backend in running {
        backend.shutdown().await;
    }
    result
}

fn print_routes<'a>(routes: impl Iterator<Item = &'a Arc<RouteSpec>>) {
    let routes: Vec<_> = routes.collect();
    let width = routes.iter().map(|r| r.template.len()).max().unwrap_or(0);
    println!(
        "{:<7} {:<width$}  {:<50} {:<8} {:<10} KIND",
        "METHOD", "TEMPLATE", "GRPC METHOD", "BODY", "RESPONSE"
    );
    for route in routes {
        let kind = if route.implicit {
            format!("{} (default binding)", route.kind)
        } else {
            route.kind.to_string()
        };
        println!(
            "{:<7} {:<width$}  {:<50} {:<8} {:<10} {kind}",
            route.http_method,
            route.template,
            route.qualified_method(),
            route.body.as_deref().unwrap_or("-"),
            route.response_body.as_deref().unwrap_or("-"),
        );
    }
}
