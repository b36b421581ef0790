//! A backend's reflection service as a schema source (`gatehouse::sources::reflection::fetch`):
//! real tonic servers on loopback serving tonic-reflection over the compiled-in descriptors,
//! reached through a `tonic::transport::Channel`.

use std::net::SocketAddr;

use gatehouse::sources::reflection::fetch;
use prost::Message as _;
use prost_reflect::prost_types::{FileDescriptorProto, FileDescriptorSet, ServiceDescriptorProto};
use prost_reflect::{DescriptorPool, Value};
use tokio::sync::oneshot;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Channel, Server};

const ECHO: &str = "gatehouse.echo.v1.EchoService";

/// Which reflection versions a test server offers.
#[derive(Clone, Copy)]
enum Offers {
    Both,
    V1AlphaOnly,
    Nothing,
}

/// A server on a loopback port, serving until dropped.
struct Backend {
    channel: Channel,
    _stop: oneshot::Sender<()>,
}

impl Backend {
    async fn start(offers: Offers) -> Backend {
        Backend::serving(offers, gatehouse::FILE_DESCRIPTOR_SET).await
    }

    /// A backend whose reflection serves `descriptors`, an encoded FileDescriptorSet.
    async fn serving(offers: Offers, descriptors: &[u8]) -> Backend {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the backend");
        let addr: SocketAddr = listener.local_addr().expect("backend address");
        let reflection = || {
            tonic_reflection::server::Builder::configure()
                .register_encoded_file_descriptor_set(descriptors)
        };
        // Health only, when there is to be no reflection: a server needs one service.
        let (_, health) = tonic_health::server::health_reporter();
        let router = match offers {
            Offers::Both => Server::builder()
                .add_service(reflection().build_v1().expect("v1 reflection"))
                .add_service(reflection().build_v1alpha().expect("v1alpha reflection")),
            Offers::V1AlphaOnly => Server::builder()
                .add_service(reflection().build_v1alpha().expect("v1alpha reflection")),
            Offers::Nothing => Server::builder().add_service(health),
        };
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            router
                .serve_with_incoming_shutdown(TcpIncoming::from(listener), async {
                    let _ = stopped.await;
                })
                .await
                .expect("backend serves");
        });
        let channel = Channel::from_shared(format!("http://{addr}"))
            .expect("backend URI")
            .connect()
            .await
            .expect("connect to the backend");
        Backend {
            channel,
            _stop: stop,
        }
    }

    async fn fetch(&self, services: &[&str]) -> Result<DescriptorPool, String> {
        let services: Vec<String> = services.iter().map(|s| s.to_string()).collect();
        let encoded = fetch(self.channel.clone(), &services).await?;
        Ok(DescriptorPool::decode(encoded.as_slice()).expect("the fetched set decodes"))
    }
}

/// The echo service, its methods, and the `google.api.http` rule of `Echo`, as compiled in.
fn assert_echo_is_whole(pool: &DescriptorPool) {
    let service = pool.get_service_by_name(ECHO).expect("the echo service");
    let methods: Vec<String> = service.methods().map(|m| m.name().to_owned()).collect();
    for expected in ["Echo", "EchoBook", "EchoFile"] {
        assert!(
            methods.iter().any(|m| m == expected),
            "{expected} missing: {methods:?}"
        );
    }
    let http = pool
        .get_extension_by_name("google.api.http")
        .expect("google/api/annotations.proto came along");
    let echo = service
        .methods()
        .find(|m| m.name() == "Echo")
        .expect("Echo");
    let rule = echo.options().get_extension(&http).into_owned();
    let Value::Message(rule) = rule else {
        panic!("google.api.http is not a message: {rule:?}");
    };
    assert_eq!(
        rule.get_field_by_name("get").as_deref(),
        Some(&Value::String("/v1/echo/{string_field}".into()))
    );
}

#[tokio::test]
async fn v1_serves_a_service_with_its_imports_and_options() {
    let backend = Backend::start(Offers::Both).await;
    let pool = backend.fetch(&[ECHO]).await.expect("fetched");
    assert_echo_is_whole(&pool);
    assert!(
        pool.get_file_by_name("google/protobuf/descriptor.proto")
            .is_some()
    );
}

#[tokio::test]
async fn a_server_with_only_v1alpha_is_asked_in_v1alpha() {
    let backend = Backend::start(Offers::V1AlphaOnly).await;
    let pool = backend.fetch(&[ECHO]).await.expect("fetched");
    assert_echo_is_whole(&pool);
}

#[tokio::test]
async fn no_services_means_every_listed_one_but_reflection() {
    let backend = Backend::start(Offers::Both).await;
    let pool = backend.fetch(&[]).await.expect("fetched");
    assert_echo_is_whole(&pool);
    assert!(pool.get_service_by_name("users.v1.UserService").is_some());
    assert!(
        pool.services()
            .all(|s| !s.full_name().starts_with("grpc.reflection.")),
        "reflection is left out"
    );
}

#[tokio::test]
async fn an_unknown_service_is_named() {
    let backend = Backend::start(Offers::Both).await;
    let error = backend
        .fetch(&[ECHO, "nope.v1.NoService"])
        .await
        .expect_err("refused");
    assert!(
        error.starts_with("service nope.v1.NoService: NotFound"),
        "{error}"
    );
}

#[tokio::test]
async fn a_server_without_reflection_is_refused() {
    let backend = Backend::start(Offers::Nothing).await;
    let error = backend.fetch(&[ECHO]).await.expect_err("refused");
    assert!(error.contains("does not offer gRPC reflection"), "{error}");
}

#[tokio::test]
async fn a_missing_import_is_named_with_its_importer() {
    let compiled = FileDescriptorSet::decode(gatehouse::FILE_DESCRIPTOR_SET).expect("decodes");
    let echo = compiled
        .file
        .into_iter()
        .find(|f| f.name() == "gatehouse/echo/v1/echo.proto")
        .expect("echo.proto");
    let alone = FileDescriptorSet { file: vec![echo] }.encode_to_vec();
    let backend = Backend::serving(Offers::Both, &alone).await;
    let error = backend.fetch(&[ECHO]).await.expect_err("refused");
    assert!(
        error.starts_with(
            "file google/api/annotations.proto (imported by gatehouse/echo/v1/echo.proto): NotFound"
        ),
        "{error}"
    );
}

#[tokio::test]
async fn an_import_cycle_is_fetched_once() {
    let file = |name: &str, imports: &str, service: Option<&str>| FileDescriptorProto {
        name: Some(name.into()),
        package: Some("cycle".into()),
        dependency: vec![imports.into()],
        service: service
            .map(|name| ServiceDescriptorProto {
                name: Some(name.into()),
                ..Default::default()
            })
            .into_iter()
            .collect(),
        ..Default::default()
    };
    let set = FileDescriptorSet {
        file: vec![
            file("a.proto", "b.proto", Some("Loop")),
            file("b.proto", "a.proto", None),
        ],
    }
    .encode_to_vec();
    let backend = Backend::serving(Offers::Both, &set).await;
    let services = vec!["cycle.Loop".to_owned()];
    let fetched = fetch(backend.channel.clone(), &services)
        .await
        .expect("fetched");
    let names: Vec<String> = FileDescriptorSet::decode(fetched.as_slice())
        .expect("decodes")
        .file
        .iter()
        .map(|f| f.name().to_owned())
        .collect();
    assert_eq!(names, ["a.proto", "b.proto"]);
}

/// The caller runs fetch on a spawned task.
#[tokio::test]
async fn the_fetch_future_is_send() {
    fn assert_send<F: Send>(_: F) {}
    let channel = Channel::from_static("http://127.0.0.1:1").connect_lazy();
    assert_send(fetch(channel, &[]));
}
