//! Route conflicts are a property of what one config serves. The test proto
//! `gatehouse/directory/v1/directory.proto` binds the demo's `GET /api/users/{user_id}` and the
//! echo service's `/v1/{name=shelves/*/books/*}`, as a user's own proto might: it builds, it
//! serves those paths when the config serves it alone, and a config that serves it beside the
//! other owner of a path is refused at start-up and by `gatehouse check`, naming both methods
//! and their proto files.

mod common;

use std::net::SocketAddr;
use std::process::Command;

use common::{TestGateway, json_ok};
use gatehouse::config::Config;
use gatehouse::gateway::Gateway;
use gatehouse::proto::gatehouse::directory::v1::directory_service_server::{
    DirectoryService, DirectoryServiceServer,
};
use gatehouse::proto::gatehouse::directory::v1::{
    GetBookRequest, GetBookResponse, GetPersonRequest, GetPersonResponse,
};
use tokio::sync::oneshot;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};

const DIRECTORY: &str = "gatehouse.directory.v1.DirectoryService";

/// Answers every person with `source = "directory"`, so a test sees which backend answered.
struct Directory;

#[tonic::async_trait]
impl DirectoryService for Directory {
    async fn get_person(
        &self,
        request: Request<GetPersonRequest>,
    ) -> Result<Response<GetPersonResponse>, Status> {
        Ok(Response::new(GetPersonResponse {
            user_id: request.into_inner().user_id,
            source: "directory".into(),
        }))
    }

    async fn get_book(
        &self,
        request: Request<GetBookRequest>,
    ) -> Result<Response<GetBookResponse>, Status> {
        Ok(Response::new(GetBookResponse {
            name: request.into_inner().name,
        }))
    }
}

/// Serves the directory on a loopback port until the sender is dropped.
async fn spawn_directory() -> (SocketAddr, oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the directory backend");
    let addr = listener.local_addr().expect("directory address");
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        Server::builder()
            .add_service(DirectoryServiceServer::new(Directory))
            .serve_with_incoming_shutdown(TcpIncoming::from(listener), async {
                let _ = stopped.await;
            })
            .await
            .expect("directory backend serves");
    });
    (addr, stop)
}

fn backend(name: &str, service: &str) -> String {
    format!(
        "[[backends]]\nname = \"{name}\"\nservices = [\"{service}\"]\n\
         endpoints = [\"http://127.0.0.1:1\"]\n\n"
    )
}

#[tokio::test]
async fn a_proto_that_shares_paths_with_the_demo_and_the_echo_service_serves_them() {
    let (addr, _stop) = spawn_directory().await;
    let gateway = TestGateway::builder()
        .without_echo()
        .backend("directory", DIRECTORY, addr)
        .start()
        .await;

    let person = json_ok(gateway.get("/api/users/7").send().await.unwrap()).await;
    assert_eq!(person["userId"], "7");
    assert_eq!(person["source"], "directory");

    let book = json_ok(gateway.get("/v1/shelves/1/books/2").send().await.unwrap()).await;
    assert_eq!(book["name"], "shelves/1/books/2");
}

#[tokio::test]
async fn serving_two_owners_of_one_path_is_refused_naming_both() {
    let text = format!(
        "{}{}",
        backend("users", "users.v1.UserService"),
        backend("directory", DIRECTORY)
    );
    let config = Config::parse("gatehouse.toml", &text).expect("valid as data");
    let error = Gateway::new(&config).err().expect("a conflict").to_string();
    assert!(
        error.starts_with("gatehouse.toml: backends[1].services[0]: \"GET /api/users/{user_id}\""),
        "{error}"
    );
    for named in [
        "gatehouse.directory.v1.DirectoryService/GetPerson (gatehouse/directory/v1/directory.proto)",
        "users.v1.UserService/GetUser (users/v1/users.proto)",
        "backends[0].services[0]",
    ] {
        assert!(error.contains(named), "{named} missing from: {error}");
    }

    // The echo service's shelves binding conflicts too, in the other order.
    let text = format!(
        "{}{}",
        backend("directory", DIRECTORY),
        backend("echo", "gatehouse.echo.v1.EchoService")
    );
    let config = Config::parse("gatehouse.toml", &text).expect("valid as data");
    let error = Gateway::new(&config).err().expect("a conflict").to_string();
    assert!(
        error.starts_with(
            "gatehouse.toml: backends[1].services[0]: \"GET /v1/{name=shelves/*/books/*}\""
        ),
        "{error}"
    );
    assert!(
        error.contains("gatehouse.echo.v1.EchoService/EchoBook")
            && error.contains("gatehouse.directory.v1.DirectoryService/GetBook"),
        "{error}"
    );
}

#[test]
fn check_refuses_what_start_up_refuses_and_accepts_what_it_accepts() {
    let dir = tempfile::Builder::new()
        .prefix("gatehouse-conflicts")
        .tempdir()
        .expect("a temporary directory");
    let check = |name: &str, text: &str| {
        let file = dir.path().join(name);
        std::fs::write(&file, text).expect("write the config");
        Command::new(env!("CARGO_BIN_EXE_gatehouse"))
            .arg("check")
            .arg("--config")
            .arg(&file)
            .output()
            .expect("run gatehouse check")
    };

    let both = check(
        "both.toml",
        &format!(
            "{}{}",
            backend("users", "users.v1.UserService"),
            backend("directory", DIRECTORY)
        ),
    );
    assert!(!both.status.success());
    let stderr = String::from_utf8_lossy(&both.stderr);
    assert!(
        stderr.contains("backends[1].services[0]")
            && stderr.contains("users.v1.UserService/GetUser")
            && stderr.contains("DirectoryService/GetPerson"),
        "{stderr}"
    );

    let alone = check("alone.toml", &backend("directory", DIRECTORY));
    assert!(
        alone.status.success(),
        "{}",
        String::from_utf8_lossy(&alone.stderr)
    );
}

#[tokio::test]
async fn an_aggregate_may_take_a_path_only_an_unserved_service_binds() {
    let aggregate = "[[aggregates]]\nroute = \"GET /api/users/{id}\"\n\
                     [[aggregates.calls]]\nname = \"a\"\n\
                     method = \"gatehouse.echo.v1.EchoService/Echo\"\n";
    let served = Config::parse(
        "gatehouse.toml",
        &format!(
            "{}{}{aggregate}",
            backend("echo", "gatehouse.echo.v1.EchoService"),
            backend("users", "users.v1.UserService")
        ),
    )
    .expect("valid as data");
    let error = Gateway::new(&served).err().expect("a conflict").to_string();
    assert!(
        error.starts_with("gatehouse.toml: aggregates[0].route: ")
            && error.contains("is already the binding of users.v1.UserService/GetUser"),
        "{error}"
    );

    let unserved = Config::parse(
        "gatehouse.toml",
        &format!(
            "{}{aggregate}",
            backend("echo", "gatehouse.echo.v1.EchoService")
        ),
    )
    .expect("valid as data");
    Gateway::new(&unserved).expect("users.v1.UserService is not served");
}
