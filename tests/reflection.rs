//! gRPC server reflection on the gateway's port, answered by the gateway itself: v1 and v1alpha
//! list every compiled service and serve the file that defines a symbol, so grpcurl, grpcui and
//! Postman can discover the services and call them through the gateway.

mod common;

use common::TestGateway;
use prost::Message as _;
use prost_reflect::prost_types::FileDescriptorProto;
use tonic::Code;
use tonic::codegen::tokio_stream;
use tonic::transport::Channel;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
use tonic_reflection::pb::v1::{ServerReflectionRequest, ServerReflectionResponse};
use tonic_reflection::pb::v1alpha;

const DEMO_SERVICES: [&str; 4] = [
    "users.v1.UserService",
    "orders.v1.OrderService",
    "products.v1.ProductService",
    "payments.v1.PaymentService",
];

async fn channel(gw: &TestGateway) -> Channel {
    Channel::from_shared(gw.url(""))
        .expect("gateway URI")
        .connect()
        .await
        .expect("connect to the gateway")
}

/// One v1 request, its one answer.
async fn ask(channel: Channel, request: MessageRequest) -> Result<MessageResponse, tonic::Status> {
    let mut client = ServerReflectionClient::new(channel);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(request),
    };
    let mut answers = client
        .server_reflection_info(tokio_stream::iter([request]))
        .await?
        .into_inner();
    let answer: ServerReflectionResponse = answers.message().await?.expect("one answer");
    Ok(answer.message_response.expect("an answer"))
}

#[tokio::test]
async fn v1_lists_every_compiled_service() {
    let gw = TestGateway::start().await;
    let answer = ask(
        channel(&gw).await,
        MessageRequest::ListServices(String::new()),
    )
    .await
    .expect("reflection answers");
    let MessageResponse::ListServicesResponse(list) = answer else {
        panic!("not a service list: {answer:?}");
    };
    let names: Vec<&str> = list.service.iter().map(|s| s.name.as_str()).collect();
    for expected in ["gatehouse.echo.v1.EchoService"]
        .iter()
        .chain(&DEMO_SERVICES)
    {
        assert!(
            names.contains(expected),
            "{expected} missing from {names:?}"
        );
    }
}

#[tokio::test]
async fn v1_serves_the_file_defining_a_method() {
    let gw = TestGateway::start().await;
    let symbol = "gatehouse.echo.v1.EchoService.Echo".to_string();
    let answer = ask(
        channel(&gw).await,
        MessageRequest::FileContainingSymbol(symbol),
    )
    .await
    .expect("reflection answers");
    let MessageResponse::FileDescriptorResponse(files) = answer else {
        panic!("not a file: {answer:?}");
    };
    let files: Vec<FileDescriptorProto> = files
        .file_descriptor_proto
        .iter()
        .map(|bytes| FileDescriptorProto::decode(bytes.as_slice()).expect("a file descriptor"))
        .collect();
    let echo_file = files
        .iter()
        .find(|f| f.package() == "gatehouse.echo.v1")
        .expect("the echo file");
    assert_eq!(echo_file.name(), "gatehouse/echo/v1/echo.proto");
    let service = echo_file
        .service
        .iter()
        .find(|s| s.name() == "EchoService")
        .expect("EchoService");
    let echo = service
        .method
        .iter()
        .find(|m| m.name() == "Echo")
        .expect("the Echo method");
    assert_eq!(echo.input_type(), ".gatehouse.echo.v1.Kitchen");
    assert_eq!(echo.output_type(), ".gatehouse.echo.v1.Kitchen");
    let chat = service
        .method
        .iter()
        .find(|m| m.name() == "EchoChat")
        .expect("the EchoChat method");
    assert!(chat.client_streaming() && chat.server_streaming());
}

#[tokio::test]
async fn v1alpha_lists_services_too() {
    let gw = TestGateway::start().await;
    let mut client =
        v1alpha::server_reflection_client::ServerReflectionClient::new(channel(&gw).await);
    let request = v1alpha::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(
            v1alpha::server_reflection_request::MessageRequest::ListServices(String::new()),
        ),
    };
    let mut answers = client
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .expect("v1alpha answers")
        .into_inner();
    let answer = answers
        .message()
        .await
        .expect("an answer")
        .and_then(|a| a.message_response);
    let Some(v1alpha::server_reflection_response::MessageResponse::ListServicesResponse(list)) =
        answer
    else {
        panic!("not a service list: {answer:?}");
    };
    let names: Vec<&str> = list.service.iter().map(|s| s.name.as_str()).collect();
    assert!(
        names.contains(&"gatehouse.echo.v1.EchoService"),
        "{names:?}"
    );
    assert!(names.contains(&"users.v1.UserService"), "{names:?}");
}

#[tokio::test]
async fn reflection_off_is_unimplemented() {
    let gw = TestGateway::with_config("[server]\nreflection = false").await;
    let status = ask(
        channel(&gw).await,
        MessageRequest::ListServices(String::new()),
    )
    .await
    .unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented, "{status:?}");
}

#[tokio::test]
async fn reflection_has_its_own_switch() {
    // With proxying off, reflection still answers (it is the gateway's own service).
    let gw = TestGateway::with_config("[server]\ngrpc = false").await;
    let answer = ask(
        channel(&gw).await,
        MessageRequest::ListServices(String::new()),
    )
    .await
    .expect("reflection answers");
    assert!(matches!(answer, MessageResponse::ListServicesResponse(_)));
}
