//! The integration-test harness: a gateway on a loopback port in front of real tonic backends,
//! a real HTTP client, and assertions for the JSON error shape.
//!
//! ```ignore
//! let gw = TestGateway::start().await;                    // Echo backend + gateway
//! let gw = TestGateway::builder().config("[server]\nmax_body = \"1KiB\"").start().await;
//! let body = json_ok(gw.get("/v1/echo/hi").send().await.unwrap()).await;
//! ```
// Every test file uses a different part of the harness.
#![allow(dead_code, unused_imports)]

mod echo;
mod errors;
mod fleet;
pub mod http1;
pub mod media;
mod process;
mod raw;
mod redis;
pub mod tokens;
pub mod typescript;
mod webdriver;

use std::fmt::Write as _;
use std::net::SocketAddr;

use gatehouse::config::Config;
use gatehouse::gateway::Gateway;
use gatehouse::listener::serve_gateway as serve;
use tokio::sync::oneshot;

pub use echo::{
    Echo, EchoServer, GatedEcho, STACK_TRACE, VIOLATION_DESCRIPTION, VIOLATION_FIELD,
    received_request,
};
pub use errors::{error_reason, expect_error, expect_status, field_violations, json_ok};
pub use fleet::{Fleet, Instance, RefusingServer};
pub use media::{MEDIA_SERVICE, Media, MediaServer};
pub use process::{Gatehouse, PATIENCE, check_refuses, run_to_exit};
pub use raw::RawResponse;
pub use redis::RedisServer;
pub use webdriver::Browser;

/// The proto service the echo backend serves.
pub const ECHO_SERVICE: &str = "gatehouse.echo.v1.EchoService";

/// A gateway serving on `127.0.0.1:<port>`; dropping it stops the gateway and its echo backend.
pub struct TestGateway {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    _stop: oneshot::Sender<()>,
    _echo: Option<EchoServer>,
    _media: Option<MediaServer>,
}

/// Where the echo service's `[[backends]]` entry points.
enum EchoBackend {
    /// Start an `Echo` server for it.
    Spawn,
    /// Point it at this endpoint and start nothing (fault tests).
    At(String),
    /// Point it at these endpoints (a TOML array) with these keys added to the entry.
    Pool { endpoints: String, keys: String },
    /// No entry at all.
    Absent,
}

/// Builds the config of a [`TestGateway`].
pub struct GatewayBuilder {
    echo: EchoBackend,
    /// Start a [`Media`] server and name it in a `media` backend entry.
    media: bool,
    backends: String,
    extra: String,
}

impl TestGateway {
    /// The echo backend and a gateway with the default config.
    pub async fn start() -> TestGateway {
        TestGateway::builder().start().await
    }

    /// The echo backend and a gateway with `toml` added to its config.
    pub async fn with_config(toml: &str) -> TestGateway {
        TestGateway::builder().config(toml).start().await
    }

    pub fn builder() -> GatewayBuilder {
        GatewayBuilder {
            echo: EchoBackend::Spawn,
            media: false,
            backends: String::new(),
            extra: String::new(),
        }
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.client.get(self.url(path))
    }

    /// A request with any method, custom ones (`PURGE`) included.
    pub fn request(&self, method: &str, path: &str) -> reqwest::RequestBuilder {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("an HTTP method");
        self.client.request(method, self.url(path))
    }

    /// `method path` with a JSON body.
    pub fn send_json(&self, method: &str, path: &str, json: &str) -> reqwest::RequestBuilder {
        self.request(method, path)
            .header("content-type", "application/json")
            .body(json.to_string())
    }

    pub fn post_json(&self, path: &str, json: &str) -> reqwest::RequestBuilder {
        self.send_json("POST", path, json)
    }
}

impl GatewayBuilder {
    /// Adds TOML (whole tables, e.g. `[server]` or `[[routes]]`) to the config.
    pub fn config(mut self, toml: &str) -> Self {
        self.extra.push_str(toml);
        self.extra.push('\n');
        self
    }

    /// Points the echo service's backend at `endpoint` instead of starting an echo server.
    pub fn echo_at(mut self, endpoint: impl Into<String>) -> Self {
        self.echo = EchoBackend::At(endpoint.into());
        self
    }

    /// Points the echo service's backend at `endpoints` (a TOML array such as
    /// `Fleet::endpoints_toml()`), with `keys` (TOML: `max_pending = 2`, `[backends.health]`
    /// tables, ...) added to its `[[backends]]` entry.
    pub fn echo_pool(mut self, endpoints: &str, keys: &str) -> Self {
        self.echo = EchoBackend::Pool {
            endpoints: endpoints.to_string(),
            keys: keys.to_string(),
        };
        self
    }

    /// Leaves the echo service out of the config.
    pub fn without_echo(mut self) -> Self {
        self.echo = EchoBackend::Absent;
        self
    }

    /// Starts a [`Media`] server too, with a `media` backend entry for [`MEDIA_SERVICE`]; a
    /// test that needs the server itself (a held one) passes its address to
    /// [`GatewayBuilder::backend`] instead.
    pub fn media(mut self) -> Self {
        self.media = true;
        self
    }

    /// Adds a `[[backends]]` entry serving `service` at `addr`.
    pub fn backend(mut self, name: &str, service: &str, addr: SocketAddr) -> Self {
        push_backend(&mut self.backends, name, service, &format!("http://{addr}"));
        self
    }

    /// Adds a `[[backends]]` entry serving `service` at `addr`, with the TOML lines `keys`.
    pub fn backend_with(mut self, name: &str, service: &str, addr: SocketAddr, keys: &str) -> Self {
        push_backend(&mut self.backends, name, service, &format!("http://{addr}"));
        // The entry ends with a blank line; its keys go before it.
        self.backends.pop();
        self.backends.push_str(keys.trim_end());
        self.backends.push_str("\n\n");
        self
    }

    /// Starts the backends it owns and the gateway.
    pub async fn start(self) -> TestGateway {
        let mut toml = self.backends;
        let media = if self.media {
            let server = Media::spawn().await;
            push_backend(
                &mut toml,
                "media",
                MEDIA_SERVICE,
                &format!("http://{}", server.addr),
            );
            Some(server)
        } else {
            None
        };
        let echo = match self.echo {
            EchoBackend::Spawn => {
                let server = Echo::spawn().await;
                push_backend(
                    &mut toml,
                    "echo",
                    ECHO_SERVICE,
                    &format!("http://{}", server.addr),
                );
                Some(server)
            }
            EchoBackend::At(endpoint) => {
                push_backend(&mut toml, "echo", ECHO_SERVICE, &endpoint);
                None
            }
            EchoBackend::Pool { endpoints, keys } => {
                let _ = write!(
                    toml,
                    "[[backends]]\nname = \"echo\"\nservices = [\"{ECHO_SERVICE}\"]\n\
                     endpoints = {endpoints}\n{keys}\n"
                );
                None
            }
            EchoBackend::Absent => None,
        };
        // Tests read responses, not the access log; keep it off the test output.
        toml.push_str("[telemetry]\naccess_log = \"off\"\n\n");
        toml.push_str(&self.extra);
        let config = Config::parse("test.toml", &toml)
            .unwrap_or_else(|e| panic!("test config is invalid: {e}\n{toml}"));
        let gateway = gatehouse::gateway::compile(&config, schema_under_test())
            .unwrap_or_else(|e| panic!("gateway builds: {e}"));

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the gateway");
        let addr = listener.local_addr().expect("gateway address");
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            serve(listener, gateway, async {
                let _ = stopped.await;
            })
            .await
            .expect("gateway serves");
        });
        let client = reqwest::Client::builder()
            // Only ever talk to the loopback gateway, whatever the environment's proxy says.
            .no_proxy()
            .build()
            .expect("HTTP client");
        TestGateway {
            addr,
            client,
            _stop: stop,
            _echo: echo,
            _media: media,
        }
    }
}

/// The schema a [`TestGateway`] serves. By default the compiled-in one (generated codecs); with
/// `GATEHOUSE_TEST_SCHEMA=runtime` the same protos under proto/ compiled at run time, as
/// `[schema] protos` would load them (dynamic codecs, and none of the compiled-in services), so
/// that one set of tests proves both codecs behave the same.
pub fn schema_under_test() -> &'static gatehouse::schema::Schema {
    static RUNTIME: std::sync::OnceLock<gatehouse::schema::Schema> = std::sync::OnceLock::new();
    match std::env::var("GATEHOUSE_TEST_SCHEMA").as_deref() {
        Ok("runtime") => RUNTIME.get_or_init(|| {
            let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("proto");
            let encoded = gatehouse::sources::protos::compile(&[root])
                .unwrap_or_else(|e| panic!("proto/ compiles at run time: {e}"));
            gatehouse::sources::from_descriptors(encoded.into(), "[schema] protos", None)
                .unwrap_or_else(|e| panic!("proto/ makes a schema at run time: {e}"))
        }),
        Ok("compiled") | Err(_) => gatehouse::transcode::compiled::schema(),
        Ok(other) => panic!("GATEHOUSE_TEST_SCHEMA is {other:?}: use runtime or compiled"),
    }
}

fn push_backend(toml: &mut String, name: &str, service: &str, endpoint: &str) {
    let _ = write!(
        toml,
        "[[backends]]\nname = \"{name}\"\nservices = [\"{service}\"]\nendpoints = [\"{endpoint}\"]\n\n"
    );
}
