//! The backend process: the four demo gRPC backends and the plain HTTP/1.1 user endpoint.

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
