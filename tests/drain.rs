//! SIGTERM drains the real binary: `/readyz` turns 503 at once, the REST port refuses new
//! connections, requests in flight finish (HTTP/1.1 told `Connection: close`, HTTP/2 told
//! GOAWAY) up to `[admin] drain_timeout`, and the process exits 0.

mod common;

use std::time::{Duration, Instant};

use common::{Gatehouse, Instance, PATIENCE};
use serde_json::Value;

/// How long every call to the slow backend takes.
const SLOW: Duration = Duration::from_millis(1500);

/// `gatehouse serve` in front of one backend instance, with `[admin] drain_timeout` as given.
fn start(name: &str, backend: &Instance, drain_timeout: &str) -> Gatehouse {
    Gatehouse::start(
        &format!("drain-{name}"),
        &format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n\n\
             [admin]\nlisten = \"127.0.0.1:0\"\ndrain_timeout = \"{drain_timeout}\"\n\n\
             [telemetry]\naccess_log = \"off\"\n\n\
             [[backends]]\nname = \"echo\"\nservices = [\"{}\"]\nendpoints = [\"{}\"]\n",
            common::ECHO_SERVICE,
            backend.endpoint()
        ),
    )
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// Waits until `n` calls have reached `backend`: they are in flight in the gateway.
async fn in_flight(backend: &Instance, n: usize) {
    let start = Instant::now();
    while backend.served() < n {
        assert!(
            start.elapsed() < PATIENCE,
            "the calls never reached the backend"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn sigterm_lets_requests_in_flight_finish_and_exits_zero() {
    let backend = Instance::start(0).await;
    backend.set_delay(SLOW);
    let mut gatehouse = start("finish", &backend, "10s");
    let http = client();
    assert_eq!(gatehouse.readyz(&http).await.0, 200);

    // Two clients, so two connections, each with a slow call under way.
    let slow: Vec<_> = (0..2)
        .map(|i| {
            let url = format!("http://{}/v1/echo/slow-{i}", gatehouse.rest);
            tokio::spawn(async move { client().get(url).send().await })
        })
        .collect();
    in_flight(&backend, 2).await;
    gatehouse.terminate();

    // The signal is handled a moment after `kill` returns.
    let start = Instant::now();
    let body = loop {
        match gatehouse.readyz(&http).await {
            (503, body) => break body,
            (status, body) => assert!(start.elapsed() < PATIENCE, "/readyz: {status} {body}"),
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(body["draining"], true, "{body}");
    gatehouse.refuses_connections().await;

    for (i, call) in slow.into_iter().enumerate() {
        let response = call.await.unwrap().expect("the slow call is answered");
        assert_eq!(response.status(), 200);
        // Told not to send another request on this connection.
        assert_eq!(response.headers()["connection"], "close");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["stringField"], format!("slow-{i}"));
    }
    let status = gatehouse.exited().await;
    assert!(
        status.success(),
        "exit status {status}\n{}",
        gatehouse.log()
    );
    assert!(
        gatehouse
            .log()
            .contains("drained: every connection finished")
    );
}

#[tokio::test]
async fn the_drain_timeout_ends_requests_that_take_longer() {
    let backend = Instance::start(0).await;
    backend.set_delay(Duration::from_secs(60));
    let mut gatehouse = start("timeout", &backend, "1s");

    let url = format!("http://{}/v1/echo/forever", gatehouse.rest);
    let call = tokio::spawn(async move { client().get(url).send().await });
    in_flight(&backend, 1).await;
    gatehouse.terminate();

    let status = gatehouse.exited().await;
    assert!(
        status.success(),
        "exit status {status}\n{}",
        gatehouse.log()
    );
    assert!(
        call.await.unwrap().is_err(),
        "a call cut off by the drain gets no answer"
    );
    assert!(gatehouse.log().contains("drain timeout reached"));
}

#[tokio::test]
async fn http2_clients_get_goaway_and_their_streams_finish() {
    let backend = Instance::start(0).await;
    backend.set_delay(SLOW);
    let mut gatehouse = start("h2", &backend, "10s");

    let tcp = tokio::net::TcpStream::connect(gatehouse.rest)
        .await
        .unwrap();
    let (client, connection) = h2::client::handshake(tcp).await.unwrap();
    let mut connection = tokio::spawn(connection);
    let mut client = client.ready().await.unwrap();
    let request = http::Request::get(format!("http://{}/v1/echo/h2", gatehouse.rest))
        .body(())
        .unwrap();
    let (response, _) = client.send_request(request, true).unwrap();
    in_flight(&backend, 1).await;
    gatehouse.terminate();

    // The server says GOAWAY while the stream is still under way: no new stream may open.
    let start = Instant::now();
    let goaway = loop {
        match client.clone().ready().await {
            Err(error) => break error,
            Ok(_) => assert!(start.elapsed() < PATIENCE, "no GOAWAY arrives"),
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert!(goaway.is_go_away() && goaway.is_remote(), "{goaway}");
    assert_eq!(goaway.reason(), Some(h2::Reason::NO_ERROR));

    let response = response.await.expect("the stream under way is answered");
    assert_eq!(response.status(), 200);
    let mut body = response.into_body();
    let mut bytes = Vec::new();
    while let Some(chunk) = body.data().await {
        bytes.extend_from_slice(&chunk.unwrap());
    }
    let body: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(body["stringField"], "h2");

    // GOAWAY, then the server closes the connection: the client's side ends cleanly.
    let ended = tokio::time::timeout(PATIENCE, &mut connection).await;
    let ended = ended.expect("the server closes the HTTP/2 connection");
    assert!(ended.unwrap().is_ok(), "the connection ends without error");
    let status = gatehouse.exited().await;
    assert!(
        status.success(),
        "exit status {status}\n{}",
        gatehouse.log()
    );
}

#[tokio::test]
async fn the_access_log_is_written_out_before_the_process_exits() {
    let backend = Instance::start(0).await;
    let mut gatehouse = Gatehouse::start(
        "drain-access-log",
        &format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n\n\
             [admin]\nlisten = \"127.0.0.1:0\"\n\n\
             [telemetry]\naccess_log = \"json\"\n\n\
             [[backends]]\nname = \"echo\"\nservices = [\"{}\"]\nendpoints = [\"{}\"]\n",
            common::ECHO_SERVICE,
            backend.endpoint()
        ),
    );
    let client = client();
    for i in 0..50 {
        let url = format!("http://{}/v1/echo/line-{i}", gatehouse.rest);
        assert_eq!(client.get(url).send().await.unwrap().status(), 200);
    }
    // Straight away: lines still gathering in the writer must not be lost.
    gatehouse.terminate();
    assert!(gatehouse.exited().await.success(), "{}", gatehouse.log());
    // The reading thread may still be taking the last lines off the pipe.
    let start = Instant::now();
    let lines = loop {
        let lines = gatehouse.stdout_lines();
        if lines.len() >= 50 || start.elapsed() > Duration::from_secs(2) {
            break lines;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let logged = lines
        .iter()
        .filter(|l| l.contains("\"route\":\"/v1/echo/{string_field}\""))
        .count();
    assert_eq!(logged, 50, "{lines:#?}");
}
