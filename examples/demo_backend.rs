//! Serves one demo backend on its own until Ctrl-C.
//!
//! ```text
//! cargo run --example demo_backend -- users 127.0.0.1:50051
//! ```
//!
//! The service is one of `users`, `orders`, `products`, `payments`; the address defaults to
//! `127.0.0.1:0` (a free port). The backend has its own copy of the seed data.

use std::net::SocketAddr;
use std::process::ExitCode;

use gatehouse::demo::{self, DemoService, DemoStore};

const USAGE: &str = "usage: demo_backend <users|orders|products|payments> [ADDR]";

#[tokio::main]
async fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(service) = args.next().as_deref().and_then(DemoService::from_name) else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let addr: SocketAddr = match args.next().as_deref().unwrap_or("127.0.0.1:0").parse() {
        Ok(addr) => addr,
        Err(error) => {
            eprintln!("bad address: {error}\n{USAGE}");
            return ExitCode::from(2);
        }
    };

    let backend = match demo::spawn(service, addr, DemoStore::seeded()).await {
        Ok(backend) => backend,
        Err(error) => {
            eprintln!("cannot bind {addr}: {error}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "{} ({}) listening on http://{}",
        service.name(),
        service.grpc_service(),
        backend.addr
    );

    if let Err(error) = tokio::signal::ctrl_c().await {
        eprintln!("cannot wait for Ctrl-C: {error}");
    }
    backend.shutdown().await;
    ExitCode::SUCCESS
}
