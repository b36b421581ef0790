//! `Backend::channel()` as the transport of a generated tonic client, over real sockets: calls
//! are balanced over the pool, streams work, a dead instance is avoided, and a call counts as
//! in flight exactly as long as its response body lives.

mod common;

use common::{ECHO_SERVICE, Fleet};
use gatehouse::config::Config;
use gatehouse::proto::gatehouse::echo::v1::Kitchen;
use gatehouse::proto::gatehouse::echo::v1::echo_service_client::EchoServiceClient;
use gatehouse::upstream::{Backend, PoolChannel};
use tonic::Code;

/// A backend over `fleet`'s instances, with `keys` (TOML) added to its `[[backends]]` entry.
fn backend(fleet: &Fleet, keys: &str) -> Backend {
    let toml = format!(
        "[[backends]]\nname = \"echo\"\nservices = [\"{ECHO_SERVICE}\"]\nendpoints = {}\n{keys}\n",
        fleet.endpoints_toml()
    );
    let config = Config::parse("t.toml", &toml)
        .unwrap_or_else(|e| panic!("test config is invalid: {e}\n{toml}"));
    Backend::new(&config.backends[0]).expect("backend builds")
}

fn client(backend: &Backend) -> EchoServiceClient<PoolChannel> {
    EchoServiceClient::new(backend.channel())
}

fn kitchen(text: &str, times: i32) -> Kitchen {
    Kitchen {
        string_field: text.into(),
        int32_field: times,
        ..Kitchen::default()
    }
}

/// Calls in flight on each endpoint of `backend`.
fn in_flight(backend: &Backend) -> Vec<usize> {
    let endpoints = backend.pool().endpoints();
    endpoints.iter().map(|e| e.in_flight()).collect()
}

#[tokio::test]
async fn unary_calls_spread_over_the_pool() {
    let fleet = Fleet::start(2).await;
    let backend = backend(&fleet, "");
    let mut client = client(&backend);
    for i in 0..50 {
        let text = format!("call {i}");
        let reply = client.echo(kitchen(&text, 0)).await.expect("echo answers");
        assert_eq!(reply.into_inner().string_field, text);
    }
    let served = fleet.served();
    eprintln!("50 calls through the pool channel: served {served:?}");
    assert_eq!(served.iter().sum::<usize>(), 50);
    assert!(served.iter().all(|&n| n > 0), "{served:?}");
    assert_eq!(in_flight(&backend), [0, 0]);
}

#[tokio::test]
async fn server_streaming_calls_work() {
    let fleet = Fleet::start(2).await;
    let backend = backend(&fleet, "");
    let mut stream = client(&backend)
        .echo_stream(kitchen("again", 3))
        .await
        .expect("the stream starts")
        .into_inner();
    let mut received = Vec::new();
    while let Some(message) = stream.message().await.expect("a message or the end") {
        received.push(message.string_field);
    }
    assert_eq!(received, ["again", "again", "again"]);
}

#[tokio::test]
async fn a_dead_instance_is_avoided_after_its_first_failures() {
    let fleet = Fleet::start(2).await;
    // Ejected after one failure, for longer than the test runs: which calls reach the dead
    // instance then depends on what the channel reported, not on how fast the calls are.
    let backend = backend(
        &fleet,
        "[backends.outlier]\nconsecutive_failures = 1\nbase_ejection_time = \"1m\"\n",
    );
    let mut client = client(&backend);
    client.echo(kitchen("warm", 0)).await.expect("both serve");
    fleet.instances[0].kill();

    // Each call has even odds of reaching the dead instance until the pool has seen it fail
    // (30 successes in a row would be a 1 in 2^30 chance).
    let mut first_failure = None;
    for i in 0..30 {
        if let Err(status) = client.echo(kitchen("probe", 0)).await {
            eprintln!("call {i} met the dead instance: {status:?}");
            first_failure = Some(status);
            break;
        }
    }
    assert!(first_failure.is_some(), "no call reached the dead instance");

    let served = fleet.instances[1].served();
    for i in 0..20 {
        if let Err(status) = client.echo(kitchen("after", 0)).await {
            panic!("call {i} after the pool saw the failure: {status:?}");
        }
    }
    assert_eq!(fleet.instances[1].served(), served + 20);
}

#[tokio::test]
async fn no_reachable_endpoint_fails_fast_with_unavailable() {
    let fleet = Fleet::start(1).await;
    let backend = backend(&fleet, "");
    let mut client = client(&backend);
    fleet.instances[0].kill();
    // The first call finds the port closed, which puts the endpoint in reconnect backoff.
    let first = client
        .echo(kitchen("x", 0))
        .await
        .expect_err("the port is closed");
    assert_eq!(first.code(), Code::Unavailable, "{first:?}");
    let second = client
        .echo(kitchen("x", 0))
        .await
        .expect_err("nothing to call");
    assert_eq!(second.code(), Code::Unavailable, "{second:?}");
    assert_eq!(second.message(), "no healthy upstream");
}

#[tokio::test]
async fn a_stream_is_in_flight_until_read_to_the_end() {
    let fleet = Fleet::start(2).await;
    let backend = backend(&fleet, "");
    let mut stream = client(&backend)
        .echo_stream(kitchen("s", 3))
        .await
        .expect("the stream starts")
        .into_inner();
    stream.message().await.expect("first message");
    assert_eq!(in_flight(&backend).iter().sum::<usize>(), 1);
    while stream
        .message()
        .await
        .expect("a message or the end")
        .is_some()
    {}
    // Still holding the stream: the call ended with its trailers.
    assert_eq!(in_flight(&backend), [0, 0]);
}

#[tokio::test]
async fn a_stream_dropped_half_read_is_no_longer_in_flight() {
    let fleet = Fleet::start(2).await;
    let backend = backend(&fleet, "");
    let mut stream = client(&backend)
        .echo_stream(kitchen("s", 3))
        .await
        .expect("the stream starts")
        .into_inner();
    stream.message().await.expect("first message");
    assert_eq!(in_flight(&backend).iter().sum::<usize>(), 1);
    drop(stream);
    assert_eq!(in_flight(&backend), [0, 0]);
}
