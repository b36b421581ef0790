//! The fleet harness itself: its instances and refusing server, called over real sockets with
//! a plain tonic client, without a gateway in between.

mod common;

use std::time::Duration;

use common::{ECHO_SERVICE, Fleet, Instance, RefusingServer};
use gatehouse::proto::gatehouse::echo::v1::Kitchen;
use gatehouse::proto::gatehouse::echo::v1::echo_service_client::EchoServiceClient;
use tonic::Code;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

async fn connect(endpoint: String) -> Result<Channel, tonic::transport::Error> {
    Channel::from_shared(endpoint)
        .expect("a valid endpoint")
        .connect()
        .await
}

async fn client(endpoint: String) -> EchoServiceClient<Channel> {
    EchoServiceClient::new(connect(endpoint).await.expect("connect"))
}

fn hello() -> Kitchen {
    Kitchen {
        string_field: "hello".into(),
        ..Default::default()
    }
}

fn instance_tag(metadata: &tonic::metadata::MetadataMap) -> Option<&str> {
    metadata.get("x-instance").and_then(|v| v.to_str().ok())
}

/// Polls `condition` for up to five seconds.
async fn eventually(what: &str, condition: impl Fn() -> bool) {
    for _ in 0..500 {
        if condition() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{what} did not happen");
}

#[tokio::test]
async fn each_instance_counts_its_calls_and_names_itself() {
    let fleet = Fleet::start(3).await;
    let mut second = client(fleet.instances[1].endpoint()).await;
    for _ in 0..2 {
        let response = second.echo(hello()).await.expect("echo");
        assert_eq!(instance_tag(response.metadata()), Some("1"));
        assert_eq!(response.get_ref().string_field, "hello");
    }
    assert_eq!(fleet.served(), [0, 2, 0]);

    let endpoints: Vec<String> = fleet
        .instances
        .iter()
        .map(|i| format!("\"http://{}\"", i.addr))
        .collect();
    assert_eq!(
        fleet.endpoints_toml(),
        format!("[{}]", endpoints.join(", "))
    );
}

#[tokio::test]
async fn a_failing_instance_answers_the_code_it_was_given() {
    let instance = Instance::start(4).await;
    let mut client = client(instance.endpoint()).await;
    instance.set_failure(Some(Code::Unavailable));
    let status = client.echo(hello()).await.expect_err("a failure");
    assert_eq!(status.code(), Code::Unavailable);
    assert_eq!(status.message(), "instance 4 failing");
    assert_eq!(instance_tag(status.metadata()), Some("4"));

    instance.set_failure(None);
    client.echo(hello()).await.expect("echo again");
    assert_eq!(instance.served(), 2);
}

#[tokio::test]
async fn a_killed_instance_refuses_connections_until_it_restarts() {
    let instance = Instance::start(0).await;
    let mut before = client(instance.endpoint()).await;
    before.echo(hello()).await.expect("echo");

    instance.set_delay(Duration::from_secs(30));
    let mut in_flight = before.clone();
    let call = tokio::spawn(async move { in_flight.echo(hello()).await });
    eventually("the slow call arriving", || instance.served() == 2).await;
    instance.kill();

    let status = call
        .await
        .expect("the call task")
        .expect_err("killed mid-call");
    println!("call in flight during kill: {status:?}");
    let error = connect(instance.endpoint()).await.expect_err("killed");
    println!("connect to a killed instance: {error:?}");
    let status = before.echo(hello()).await.expect_err("killed");
    println!("call on the old channel after kill: {status:?}");

    instance.set_delay(Duration::ZERO);
    instance.restart().await;
    let mut after = client(instance.endpoint()).await;
    let response = after.echo(hello()).await.expect("echo after restart");
    assert_eq!(instance_tag(response.metadata()), Some("0"));
    assert_eq!(instance.served(), 3);
}

#[tokio::test]
async fn a_dropped_instance_closes_its_port() {
    let fleet = Fleet::start(2).await;
    let endpoints: Vec<String> = fleet.instances.iter().map(Instance::endpoint).collect();
    drop(fleet);
    for endpoint in endpoints {
        connect(endpoint).await.expect_err("dropped");
    }
}

#[tokio::test]
async fn set_serving_flips_the_health_status() {
    let instance = Instance::start(0).await;
    let mut health = HealthClient::new(connect(instance.endpoint()).await.expect("connect"));
    let mut check = async |service: &str| {
        let request = HealthCheckRequest {
            service: service.into(),
        };
        health
            .check(request)
            .await
            .expect("check")
            .into_inner()
            .status()
    };
    assert_eq!(check("").await, ServingStatus::Serving);
    assert_eq!(check(ECHO_SERVICE).await, ServingStatus::Serving);

    instance.set_serving(false).await;
    assert_eq!(check("").await, ServingStatus::NotServing);
    assert_eq!(check(ECHO_SERVICE).await, ServingStatus::NotServing);

    instance.set_serving(true).await;
    assert_eq!(check(ECHO_SERVICE).await, ServingStatus::Serving);
    assert_eq!(instance.health_checks(), 5);
    assert_eq!(instance.served(), 0);
}

#[tokio::test]
async fn a_call_dropped_mid_delay_counts_as_cancelled() {
    let instance = Instance::start(0).await;
    instance.set_delay(Duration::from_secs(30));
    let mut client = client(instance.endpoint()).await;
    tokio::select! {
        _ = client.echo(hello()) => panic!("answered despite the delay"),
        () = eventually("the call arriving", || instance.served() == 1) => {}
    }
    // The call's future is dropped here, which resets its stream.
    eventually("the handler being dropped", || instance.cancelled() == 1).await;
}

#[tokio::test]
async fn a_refused_stream_fails_the_call() {
    let server = RefusingServer::start().await;
    let mut client = client(server.endpoint()).await;
    let status = client.echo(hello()).await.expect_err("refused");
    println!("call to a refusing server: {status:?}");
    assert_eq!(server.refused(), 1);
}
