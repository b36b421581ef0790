//! The `gatehouse` binary: `routes` prints the compiled route table, `check` validates a config
//! file and names the file, key and reason of what is wrong, and `serve` names the key that
//! moves a listener whose address is taken.

mod common;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Output};

use common::run_to_exit;

const BIN: &str = env!("CARGO_BIN_EXE_gatehouse");

/// Writes `toml` to a file of its own under the target's temp dir.
fn config_file(name: &str, toml: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("cli-{name}.toml"));
    std::fs::write(&path, toml).expect("write the config file");
    path
}

fn check(path: &PathBuf) -> Output {
    Command::new(BIN)
        .arg("check")
        .arg("--config")
        .arg(path)
        .env("RUST_LOG", "off")
        .output()
        .expect("run gatehouse check")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Asserts `check` fails and says `expected` (file name first) on stderr.
fn assert_check_fails(name: &str, toml: &str, expected: &[&str]) {
    let path = config_file(name, toml);
    let output = check(&path);
    let stderr = text(&output.stderr);
    assert!(!output.status.success(), "check accepted {name}: {stderr}");
    assert!(
        stderr.contains(&path.display().to_string()),
        "no file name: {stderr}"
    );
    for needle in expected {
        assert!(stderr.contains(needle), "{needle:?} missing from: {stderr}");
    }
}

const USERS_BACKEND: &str = "[[backends]]\nname = \"users\"\n\
    services = [\"users.v1.UserService\"]\nendpoints = [\"http://127.0.0.1:50051\"]\n";

#[test]
fn routes_lists_the_route_table() {
    let output = Command::new(BIN)
        .arg("routes")
        .env("RUST_LOG", "off")
        .output()
        .expect("run gatehouse routes");
    assert!(output.status.success());
    let stdout = text(&output.stdout);
    let row = |method: &str, template: &str, grpc: &str| {
        stdout.lines().any(|line| {
            let columns: Vec<&str> = line.split_whitespace().collect();
            columns.len() >= 3
                && columns[0] == method
                && columns[1] == template
                && columns[2] == grpc
        })
    };
    assert!(
        row(
            "GET",
            "/api/users/{user_id}",
            "users.v1.UserService/GetUser"
        ),
        "{stdout}"
    );
    assert!(
        row("POST", "/api/orders", "orders.v1.OrderService/CreateOrder"),
        "{stdout}"
    );
    assert!(
        row(
            "PURGE",
            "/v1/cache/{string_field}",
            "gatehouse.echo.v1.EchoService/EchoWild"
        ),
        "{stdout}"
    );
    assert!(
        row(
            "POST",
            "/gatehouse.echo.v1.EchoService/EchoUnmapped",
            "gatehouse.echo.v1.EchoService/EchoUnmapped"
        ),
        "{stdout}"
    );
}

#[test]
fn check_accepts_a_valid_config() {
    let toml = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\nmax_body = \"1MiB\"\ntimeout = \"5s\"\n\n{USERS_BACKEND}\n\
         [[routes]]\nmethod = \"users.v1.UserService/*\"\ntimeout = \"1s\"\n"
    );
    let path = config_file("valid", &toml);
    let output = check(&path);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(
        text(&output.stdout).contains("ok"),
        "{}",
        text(&output.stdout)
    );
}

#[test]
fn check_refuses_an_unknown_key() {
    assert_check_fails(
        "unknown-key",
        "[server]\nlisen = \"127.0.0.1:1\"\n",
        &["lisen"],
    );
    assert_check_fails(
        "unknown-backend-key",
        &format!("{USERS_BACKEND}endpoint = \"http://127.0.0.1:1\"\n"),
        &["endpoint"],
    );
}

#[test]
fn check_refuses_an_unknown_service() {
    assert_check_fails(
        "unknown-service",
        "[[backends]]\nname = \"a\"\nservices = [\"nope.v1.Nope\"]\n\
         endpoints = [\"http://127.0.0.1:1\"]\n",
        &[
            "backends[0].services[0]",
            "nope.v1.Nope",
            "is not a service",
        ],
    );
}

#[test]
fn check_refuses_a_bad_endpoint() {
    for (name, endpoint, reason) in [
        (
            "no-scheme",
            "127.0.0.1:1",
            "must start with http:// or https://",
        ),
        (
            "scheme",
            "ftp://127.0.0.1:1",
            "must start with http:// or https://",
        ),
        ("no-port", "http://127.0.0.1", "has no port"),
        (
            "with-path",
            "http://127.0.0.1:1/api",
            "must not have a path",
        ),
    ] {
        assert_check_fails(
            &format!("endpoint-{name}"),
            &format!(
                "[[backends]]\nname = \"a\"\nservices = [\"users.v1.UserService\"]\n\
                 endpoints = [\"http://127.0.0.1:2\", \"{endpoint}\"]\n"
            ),
            &["backends[0].endpoints[1]", reason],
        );
    }
}

#[test]
fn check_refuses_a_missing_file() {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cli-does-not-exist.toml");
    let output = check(&path);
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert!(stderr.contains(&path.display().to_string()), "{stderr}");
    assert!(stderr.contains("cannot read"), "{stderr}");
}

#[test]
fn check_refuses_a_missing_jwks_file() {
    assert_check_fails(
        "missing-jwks",
        "[[auth.jwt]]\nissuer = \"https://id.example.com\"\naudiences = [\"gatehouse\"]\n\
         jwks_file = \"no-such-jwks.json\"\n",
        &[
            "cli-missing-jwks.toml",
            "https://id.example.com",
            "no-such-jwks.json",
        ],
    );
}

#[test]
fn check_refuses_an_aggregate_that_cannot_work() {
    assert_check_fails(
        "bad-aggregate",
        &format!(
            "{USERS_BACKEND}\n[[aggregates]]\nroute = \"GET /api/x/{{id}}\"\n\
             [[aggregates.calls]]\nname = \"user\"\nmethod = \"users.v1.UserService/GetUser\"\n\
             request = {{ user_id = \"{{id}}\", no_such_field = 1 }}\n"
        ),
        &[
            "aggregates[0].calls[0].request.no_such_field",
            "has no field",
        ],
    );
}

#[test]
fn check_refuses_a_backend_mixing_http_and_https() {
    assert_check_fails(
        "mixed-schemes",
        "[[backends]]\nname = \"a\"\nservices = [\"users.v1.UserService\"]\n\
         endpoints = [\"http://127.0.0.1:2\", \"https://127.0.0.1:3\"]\n",
        &["backends[0].endpoints", "mixes http:// and https://"],
    );
}

#[test]
fn serve_names_the_key_that_moves_a_taken_admin_port() {
    let held = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = held.local_addr().unwrap().to_string();
    let path = config_file(
        "admin-port-taken",
        &format!("[server]\nlisten = \"127.0.0.1:0\"\n\n[admin]\nlisten = \"{address}\"\n"),
    );
    let (status, stderr) = run_to_exit(Command::new(BIN).arg("serve").arg("--config").arg(&path));
    assert!(!status.success(), "{stderr}");
    assert!(stderr.contains(&address), "{stderr}");
    assert!(stderr.contains("admin.listen"), "{stderr}");
    assert!(
        stderr.contains(&path.display().to_string()),
        "no file name: {stderr}"
    );
}
