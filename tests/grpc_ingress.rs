//! Native gRPC through the gateway's port: the generated echo client pointed at the gateway
//! makes unary, server-, client- and bidi-streaming calls, which pass the same edge as REST
//! (credential, roles, the shared rate limits, deadlines) and are balanced over the pool; every
//! refusal is a gRPC status.

mod common;

use std::time::Duration;

use common::tokens::{JwksFile, token};
use common::{Fleet, TestGateway};
use gatehouse::grpc::timeout::parse_grpc_timeout;
use gatehouse::proto::gatehouse::echo::v1::echo_service_client::EchoServiceClient;
use gatehouse::proto::gatehouse::echo::v1::{Failure, Kitchen};
use gatehouse::proto::users::v1::GetUserRequest;
use gatehouse::proto::users::v1::user_service_client::UserServiceClient;
use http::uri::PathAndQuery;
use prost::Message as _;
use tonic::codegen::tokio_stream::wrappers::ReceiverStream;
use tonic::codegen::tokio_stream::{self, StreamExt as _};
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;
use tonic::{Code, Request};

const ECHO_RATE_LIMIT: &str = "[[routes]]\nmethod = \"gatehouse.echo.v1.EchoService/Echo\"\n\
                               rate_limit = { per_minute = 2 }\n";

async fn channel(gw: &TestGateway) -> Channel {
    Channel::from_shared(gw.url(""))
        .expect("gateway URI")
        .connect()
        .await
        .expect("connect to the gateway")
}

async fn echo_client(gw: &TestGateway) -> EchoServiceClient<Channel> {
    EchoServiceClient::new(channel(gw).await)
}

fn kitchen(text: &str) -> Kitchen {
    Kitchen {
        string_field: text.into(),
        ..Kitchen::default()
    }
}

fn bearer(message: Kitchen, token: &str) -> Request<Kitchen> {
    let mut request = Request::new(message);
    let value = MetadataValue::try_from(format!("Bearer {token}")).expect("ASCII token");
    request.metadata_mut().insert("authorization", value);
    request
}

#[tokio::test]
async fn unary_call_passes_through_with_metadata() {
    let gw = TestGateway::start().await;
    let mut client = echo_client(&gw).await;
    let sent = Kitchen {
        string_field: "hello".into(),
        int64_field: -7,
        repeated_string: vec!["a".into(), "b".into()],
        ..Kitchen::default()
    };
    let mut request = Request::new(sent.clone());
    request
        .metadata_mut()
        .insert("tenant", MetadataValue::from_static("acme"));
    let response = client.echo(request).await.expect("echo answers");
    let metadata = response.metadata().clone();
    assert_eq!(response.into_inner(), sent);
    assert_eq!(metadata.get("x-backend").unwrap(), "echo");
    assert_eq!(metadata.get("echo-tenant").unwrap(), "acme");
    assert_eq!(metadata.get("echo-x-forwarded-for").unwrap(), "127.0.0.1");
    // The request id the gateway set travels with the call and comes back.
    let id = metadata.get("x-request-id").expect("request id");
    assert_eq!(metadata.get("echo-x-request-id").unwrap(), id);

    // What only the gateway may say is its own; cookies stay at the edge, as for REST.
    let mut request = Request::new(sent.clone());
    for (name, value) in [
        ("cookie", "session=1"),
        ("x-user-roles", "admin"),
        ("x-forwarded-for", "10.9.8.7"),
        ("x-forwarded-host", "evil.example"),
        ("tenant", "acme"),
    ] {
        request
            .metadata_mut()
            .insert(name, MetadataValue::from_static(value));
    }
    let response = client.echo(request).await.expect("echo answers");
    let metadata = response.metadata();
    assert_eq!(metadata.get("echo-tenant").unwrap(), "acme");
    assert!(metadata.get("echo-cookie").is_none());
    assert!(metadata.get("echo-x-user-roles").is_none());
    assert_eq!(
        metadata.get("echo-x-forwarded-for").unwrap(),
        "10.9.8.7, 127.0.0.1"
    );
    // HTTP/2 carries the host in the authority, which the client's header does not replace.
    let authority = gw.url("").trim_start_matches("http://").to_string();
    assert_eq!(
        metadata.get("echo-x-forwarded-host").unwrap(),
        authority.as_str()
    );
    let timeout = metadata.get("echo-grpc-timeout").expect("the time left");
    assert!(parse_grpc_timeout(timeout.to_str().unwrap()).is_some());
}

#[tokio::test]
async fn server_streaming_call_streams() {
    let gw = TestGateway::start().await;
    let mut client = echo_client(&gw).await;
    let mut request = kitchen("again");
    request.int32_field = 3;
    let stream = client
        .echo_stream(request)
        .await
        .expect("stream opens")
        .into_inner();
    let received: Vec<Kitchen> = stream.map(|m| m.expect("a message")).collect().await;
    assert_eq!(received.len(), 3);
    assert!(received.iter().all(|m| m.string_field == "again"));
}

#[tokio::test]
async fn client_streaming_call_collects() {
    let gw = TestGateway::start().await;
    let mut client = echo_client(&gw).await;
    let outbound = tokio_stream::iter(["one", "two", "three"].map(kitchen));
    let reply = client
        .echo_collect(outbound)
        .await
        .expect("collect answers")
        .into_inner();
    assert_eq!(reply.int32_field, 3);
    assert_eq!(reply.string_field, "three");
}

#[tokio::test]
async fn bidi_call_answers_each_message_as_it_arrives() {
    let gw = TestGateway::start().await;
    let mut client = echo_client(&gw).await;
    let (send, outbound) = tokio::sync::mpsc::channel(4);
    let mut inbound = client
        .echo_chat(ReceiverStream::new(outbound))
        .await
        .expect("chat opens")
        .into_inner();
    // Each answer arrives before the next message is sent: nothing is buffered whole.
    for text in ["ping", "pong", "done"] {
        send.send(kitchen(text)).await.expect("send");
        let answer = inbound.message().await.expect("answer").expect("a message");
        assert_eq!(answer.string_field, text);
    }
    drop(send);
    assert!(inbound.message().await.expect("clean end").is_none());
}

#[tokio::test]
async fn credential_and_roles_are_checked_and_the_caller_reaches_the_backend() {
    let jwks = JwksFile::write();
    let gw = TestGateway::builder()
        .config(&jwks.auth_toml())
        .config(
            "[[routes]]\nmethod = \"gatehouse.echo.v1.EchoService/EchoDelete\"\n\
             roles = [\"admin\"]\n",
        )
        .start()
        .await;
    let mut client = echo_client(&gw).await;

    let status = client.echo(kitchen("x")).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert_eq!(
        status.message(),
        "this route needs a bearer token or an API key"
    );

    let status = client.echo(bearer(kitchen("x"), "not.a.jwt")).await;
    assert_eq!(status.unwrap_err().code(), Code::Unauthenticated);

    let alice = token("alice", &["reader"]);
    let mut request = bearer(kitchen("x"), &alice);
    // A client's own identity metadata never reaches the backend.
    request
        .metadata_mut()
        .insert("x-user-id", MetadataValue::from_static("mallory"));
    let response = client.echo(request).await.expect("a valid token passes");
    let metadata = response.metadata();
    assert_eq!(metadata.get("echo-x-user-id").unwrap(), "alice");
    assert_eq!(metadata.get("echo-x-user-roles").unwrap(), "reader");

    let status = client
        .echo_delete(bearer(kitchen("x"), &alice))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    let admin = token("root", &["admin"]);
    client
        .echo_delete(bearer(kitchen("x"), &admin))
        .await
        .expect("the role passes");
}

#[tokio::test]
async fn rate_limit_is_shared_with_the_rest_route() {
    let gw = TestGateway::with_config(ECHO_RATE_LIMIT).await;
    let mut client = echo_client(&gw).await;

    let rest = gw.get("/v1/echo/a").send().await.unwrap();
    assert_eq!(rest.status(), 200);
    assert_eq!(rest.headers()["ratelimit-remaining"], "1");

    let response = client.echo(kitchen("b")).await.expect("second call passes");
    assert_eq!(response.metadata().get("ratelimit-remaining").unwrap(), "0");

    let status = client.echo(kitchen("c")).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(status.metadata().get("retry-after").is_some(), "{status:?}");
    assert_eq!(status.metadata().get("ratelimit-limit").unwrap(), "2");

    let rest = gw.get("/v1/echo/d").send().await.unwrap();
    assert_eq!(rest.status(), 429);
    // Other methods have no limit.
    client
        .echo_book(kitchen("e"))
        .await
        .expect("unlimited method");
}

#[tokio::test]
async fn calls_are_balanced_over_the_pool() {
    let fleet = Fleet::start(2).await;
    let gw = TestGateway::builder()
        .echo_pool(&fleet.endpoints_toml(), "")
        .start()
        .await;
    let mut client = echo_client(&gw).await;
    for i in 0..30 {
        let text = format!("call {i}");
        let reply = client.echo(kitchen(&text)).await.expect("echo answers");
        assert_eq!(reply.into_inner().string_field, text);
    }
    let served = fleet.served();
    assert_eq!(served.iter().sum::<usize>(), 30);
    assert!(served.iter().all(|&n| n > 0), "{served:?}");
}

#[tokio::test]
async fn unknown_service_and_method_are_unimplemented() {
    let gw = TestGateway::start().await;
    let channel = channel(&gw).await;

    // The users service is compiled in but this gateway has no backend for it.
    let mut users = UserServiceClient::new(channel.clone());
    let status = users
        .get_user(GetUserRequest {
            user_id: "1".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented, "{status:?}");
    assert_eq!(status.message(), "unknown service users.v1.UserService");

    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.expect("ready");
    let status = grpc
        .unary(
            Request::new(kitchen("x")),
            PathAndQuery::from_static("/gatehouse.echo.v1.EchoService/Nope"),
            tonic_prost::ProstCodec::<Kitchen, Kitchen>::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented, "{status:?}");
    assert_eq!(
        status.message(),
        "unknown method Nope for service gatehouse.echo.v1.EchoService"
    );
}

#[tokio::test]
async fn grpc_off_answers_unimplemented_and_rest_still_works() {
    let gw = TestGateway::with_config("[server]\ngrpc = false").await;
    let mut client = echo_client(&gw).await;
    let status = client.echo(kitchen("x")).await.unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented, "{status:?}");
    let rest = gw.get("/v1/echo/x").send().await.unwrap();
    assert_eq!(rest.status(), 200);
}

#[tokio::test]
async fn unreachable_backend_is_unavailable() {
    let gw = TestGateway::builder()
        .echo_at("http://127.0.0.1:1")
        .start()
        .await;
    let mut client = echo_client(&gw).await;
    let status = client.echo(kitchen("x")).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
}

/// The deadline tests use a fleet instance: it never enforces `grpc-timeout` itself, so the
/// status seen is the gateway's.
#[tokio::test]
async fn client_deadline_is_capped_by_max_timeout_and_enforced() {
    let fleet = Fleet::start(1).await;
    let gw = TestGateway::builder()
        .echo_pool(&fleet.endpoints_toml(), "")
        .config("[server]\ntimeout = \"200ms\"\nmax_timeout = \"300ms\"")
        .start()
        .await;
    let mut client = echo_client(&gw).await;

    // The time left is sent on, capped.
    let mut request = Request::new(kitchen("quick"));
    request.set_timeout(Duration::from_secs(10));
    let response = client.echo(request).await.expect("a quick call passes");
    let sent = response.metadata().get("echo-grpc-timeout").unwrap();
    let sent = parse_grpc_timeout(sent.to_str().unwrap()).unwrap();
    assert!(sent <= Duration::from_millis(300), "{sent:?}");

    // The client would wait 10 s; the gateway gives up at 300 ms.
    let mut slow = kitchen("slow");
    slow.delay_ms = 5_000;
    let mut request = Request::new(slow);
    request.set_timeout(Duration::from_secs(10));
    let status = client.echo(request).await.unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
}

#[tokio::test]
async fn method_timeout_is_the_default_deadline() {
    let fleet = Fleet::start(1).await;
    let gw = TestGateway::builder()
        .echo_pool(&fleet.endpoints_toml(), "")
        .config("[[routes]]\nmethod = \"gatehouse.echo.v1.EchoService/Echo\"\ntimeout = \"150ms\"")
        .start()
        .await;
    let mut client = echo_client(&gw).await;
    let response = client.echo(kitchen("quick")).await.expect("passes");
    let sent = response.metadata().get("echo-grpc-timeout").unwrap();
    let sent = parse_grpc_timeout(sent.to_str().unwrap()).unwrap();
    assert!(sent <= Duration::from_millis(150), "{sent:?}");

    let mut slow = kitchen("slow");
    slow.delay_ms = 5_000;
    let status = client.echo(slow).await.unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
}

#[tokio::test]
async fn deadline_ends_an_open_stream() {
    let fleet = Fleet::start(1).await;
    let gw = TestGateway::builder()
        .echo_pool(&fleet.endpoints_toml(), "")
        .start()
        .await;
    let mut client = echo_client(&gw).await;
    let (send, outbound) = tokio::sync::mpsc::channel(1);
    let mut request = Request::new(ReceiverStream::new(outbound));
    request.set_timeout(Duration::from_millis(300));
    let mut inbound = client
        .echo_chat(request)
        .await
        .expect("chat opens")
        .into_inner();
    send.send(kitchen("first")).await.expect("send");
    let first = inbound.message().await.expect("answer").expect("a message");
    assert_eq!(first.string_field, "first");
    // The stream stays open with nothing to say until the gateway's deadline ends it.
    let status = inbound.message().await.unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    drop(send);
}

#[tokio::test]
async fn malformed_grpc_timeout_is_invalid_argument() {
    let gw = TestGateway::start().await;
    let mut client = echo_client(&gw).await;
    let mut request = Request::new(kitchen("x"));
    request
        .metadata_mut()
        .insert("grpc-timeout", MetadataValue::from_static("soon"));
    let status = client.echo(request).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
}

/// What a gRPC client other than tonic needs (grpc-core reads a status from the headers only
/// when they end the stream): an answer with no message, the gateway's or the backend's, is
/// one HEADERS frame with END_STREAM.
#[tokio::test]
async fn trailers_only_answers_end_the_stream_with_their_headers() {
    let gw = TestGateway::start().await;
    let tcp = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    let (client, connection) = h2::client::handshake(tcp).await.expect("h2 handshake");
    tokio::spawn(connection);
    let failing = Kitchen {
        fail: Some(Failure {
            code: Code::NotFound as i32,
            message: "gone".into(),
            with_details: false,
        }),
        ..Kitchen::default()
    };
    for (path, status) in [
        ("/gatehouse.echo.v1.EchoService/Echo", "5"),
        ("/gatehouse.echo.v1.EchoService/Nope", "12"),
    ] {
        let mut client = client.clone().ready().await.expect("h2 ready");
        let request = http::Request::post(gw.url(path))
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .body(())
            .unwrap();
        let (response, mut send) = client.send_request(request, false).expect("send");
        let message = failing.encode_to_vec();
        let mut frame = vec![0];
        frame.extend_from_slice(&u32::try_from(message.len()).unwrap().to_be_bytes());
        frame.extend_from_slice(&message);
        send.send_data(frame.into(), true)
            .expect("send the message");
        let response = response.await.expect("an answer");
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["grpc-status"], status, "{path}");
        assert!(
            response.body().is_end_stream(),
            "{path}: headers did not end the stream"
        );
    }
}
