//! The `gatehouse` command: serve, demo, routes, check.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use gatehouse::config::{BackendConfig, Config, DEFAULT_LISTEN, HealthConfig};
use gatehouse::demo::{self, DemoStore};
use gatehouse::routes::ROUTES;
use gatehouse::server::{self, Gateway};
use tracing_subscriber::EnvFilter;

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
    /// Serve the services a config names.
    Serve {
        #[arg(long, default_value = "gatehouse.toml")]
        config: PathBuf,
    },
    /// Start the four demo backends in-process and the gateway in front of them.
    Demo {
        #[arg(long, default_value = DEFAULT_LISTEN)]
        listen: SocketAddr,
    },
    /// Print the route table compiled from proto/.
    Routes,
    /// Validate a config file and exit non-zero with the file, key and reason if it is wrong.
    Check {
        #[arg(long, default_value = "gatehouse.toml")]
        config: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match cli.command {
        Command::Routes => {
            print_routes();
            ExitCode::SUCCESS
        }
        Command::Check { config: path } => match Config::load(&path) {
            Ok(config) => {
                let served: usize = config.backends.iter().map(|b| b.services.len()).sum();
                println!(
                    "{}: ok ({} backends, {served} services)",
                    path.display(),
                    config.backends.len()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Serve { config } => run(async move {
            let config = Config::load(&config).map_err(|e| e.to_string())?;
            serve(config, None).await
        }),
        Command::Demo { listen } => run(demo(listen)),
    }
}

fn run(job: impl std::future::Future<Output = Result<(), String>>) -> ExitCode {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(job) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config, banner: Option<String>) -> Result<(), String> {
    let listen = config.server.listen;
    let gateway = Gateway::new(&config)?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    println!(
        "gatehouse listening on http://{bound} ({} routes)",
        gateway.route_count()
    );
    if let Some(banner) = banner {
        println!("{}", banner.replace("{addr}", &bound.to_string()));
    }
    server::serve(listener, gateway, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
    .map_err(|e| e.to_string())
}

async fn demo(listen: SocketAddr) -> Result<(), String> {
    let store = DemoStore::seeded();
    let mut config = Config::default();
    config.server.listen = listen;
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
        let mut entry = BackendConfig::new(
            service.name(),
            service.grpc_service(),
            &format!("http://{}", backend.addr),
        );
        // The demo backends serve grpc.health.v1: check each for its own service.
        entry.health = Some(HealthConfig {
            service: service.grpc_service().to_string(),
            ..HealthConfig::default()
        });
        config.backends.push(entry);
    }
    config.validate("demo").map_err(|e| e.to_string())?;
    let banner = "Try:\n  \
        curl http://{addr}/api/users/123\n  \
        curl 'http://{addr}/api/users?page_size=2'\n  \
        curl 'http://{addr}/api/products?filter=lamp'\n  \
        curl 'http://{addr}/api/products:batchGet?ids=p-100&ids=p-101'\n  \
        curl -X POST http://{addr}/api/orders -H 'content-type: application/json' \\\n       \
        -d '{\"userId\": \"123\", \"lineItems\": [{\"productId\": \"p-100\", \"quantity\": 2}]}'\n  \
        curl http://{addr}/api/users/999   # NOT_FOUND -> 404 with the JSON error shape\n\
        Press Ctrl-C to stop.";
    let result = serve(config, Some(banner.to_string())).await;
    for backend in running {
        backend.shutdown().await;
    }
    result
}

fn print_routes() {
    let width = ROUTES.iter().map(|r| r.template.len()).max().unwrap_or(0);
    println!(
        "{:<7} {:<width$}  {:<50} {:<8} {:<10} KIND",
        "METHOD", "TEMPLATE", "GRPC METHOD", "BODY", "RESPONSE"
    );
    for route in ROUTES {
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
            route.body.unwrap_or("-"),
            route.response_body.unwrap_or("-"),
        );
    }
}
