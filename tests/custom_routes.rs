//! Hand-written routes mounted with `stack::service_with`: tried before the generated
//! routes, behind the same layers, and a handler that panics is answered in the JSON error
//! shape while the gateway keeps serving.

mod common;

use axum::routing::get;
use common::{ECHO_SERVICE, Echo, EchoServer, expect_error, json_ok};
use gatehouse::config::Config;
use gatehouse::gateway::Gateway;

struct Running {
    base: String,
    client: reqwest::Client,
    _echo: EchoServer,
}

impl Running {
    async fn get(&self, path: &str) -> reqwest::Response {
        let url = format!("{}{path}", self.base);
        self.client.get(url).send().await.unwrap()
    }
}

async fn boom() -> &'static str {
    panic!("a custom handler panics")
}

async fn start() -> Running {
    let echo = Echo::spawn().await;
    let toml = format!(
        "[[backends]]\nname = \"echo\"\nservices = [\"{ECHO_SERVICE}\"]\n\
         endpoints = [\"http://{}\"]\n\n[telemetry]\naccess_log = \"off\"\n",
        echo.addr
    );
    let config = Config::parse("custom.toml", &toml).unwrap();
    let gateway = Gateway::new(&config).unwrap();
    let limits = gateway.connection_limits();
    let custom = axum::Router::new()
        .route(
            "/custom/hello",
            get(|| async { "hello from a custom route" }),
        )
        .route("/custom/boom", get(boom));
    let service = gatehouse::stack::service_with(gateway, custom);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(gatehouse::listener::serve(
        listener,
        service,
        limits,
        std::future::pending(),
    ));
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    Running {
        base,
        client,
        _echo: echo,
    }
}

#[tokio::test]
async fn custom_routes_come_first_and_generated_routes_still_answer() {
    let gw = start().await;
    let response = gw.get("/custom/hello").await;
    assert_eq!(response.status(), 200);
    // Behind the same layers: the request id is set on the response.
    assert!(response.headers().contains_key("x-request-id"));
    assert_eq!(response.text().await.unwrap(), "hello from a custom route");

    let echoed = json_ok(gw.get("/v1/echo/hi").await).await;
    assert_eq!(echoed["stringField"], "hi", "{echoed}");

    let missing = gw.get("/custom/nope").await;
    expect_error(missing, 404, 5, "ROUTE_NOT_FOUND").await;
}

#[tokio::test]
async fn a_panicking_custom_handler_is_a_json_500_and_the_gateway_keeps_serving() {
    let gw = start().await;
    for _ in 0..2 {
        let response = gw.get("/custom/boom").await;
        assert!(response.headers().contains_key("x-request-id"));
        let body = expect_error(response, 500, 13, "INTERNAL").await;
        let text = body.to_string();
        assert!(!text.contains("a custom handler panics"), "{text}");
    }
    let response = gw.get("/custom/hello").await;
    assert_eq!(response.status(), 200);
}
