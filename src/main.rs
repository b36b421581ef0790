//! The `gatehouse` command: serve, demo, routes, check, openapi.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use gatehouse::config::{Config, DEFAULT_LISTEN};
use gatehouse::demo::{self, DemoStore};
use gatehouse::routes::ROUTES;
use gatehouse::security::Authenticator;
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
    /// Print the OpenAPI 3.1 document of what a config serves (every compiled service when no
    /// config is given).
    Openapi {
        #[arg(long)]
        config: Option<PathBuf>,
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
        Command::Openapi { config } => {
            let config = match config {
                Some(path) => match Config::load(&path) {
                    Ok(config) => config,
                    Err(e) => {
                        eprintln!("error: {e}");
                        return ExitCode::FAILURE;
                    }
                },
                None => gatehouse::openapi::all_services_config(),
            };
            let document = gatehouse::openapi::document(&config);
            let text = serde_json::to_string_pretty(&document).unwrap_or_default();
            // A closed pipe (`| head`) is not an error worth a panic.
            let _ = writeln!(std::io::stdout(), "{text}");
            ExitCode::SUCCESS
        }
        Command::Check { config: path } => run(async move {
            let config = Config::load(&path).map_err(|e| e.to_string())?;
            // The files and variables the config names must be there too.
            Authenticator::new(&config).map_err(|e| format!("{}: {e}", path.display()))?;
            gatehouse::tls::check(&config).map_err(|e| format!("{}: {e}", path.display()))?;
            let served: usize = config.backends.iter().map(|b| b.services.len()).sum();
            println!(
                "{}: ok ({} backends, {served} services)",
                path.display(),
                config.backends.len()
            );
            Ok(())
        }),
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
    config.validate("demo").map_err(|e| e.to_string())?;
    let token = demo::demo_token(&issuer);
    let banner = format!(
        "Products are public; users, orders and payments need the demo token (user 123, role \
         customer, valid 24 h):\n\n\
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
         Press Ctrl-C to stop."
    );
    let result = serve(config, Some(banner)).await;
    let _ = std::fs::remove_file(&jwks_file);
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
