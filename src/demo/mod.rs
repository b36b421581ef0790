//! In-memory gRPC backends for the four demo services.
//!
//! `gatehouse demo`, the examples and the integration tests need real backends to put behind the
//! gateway. Each [`DemoService`] is a real tonic server on a loopback port that also answers
//! `grpc.health.v1.Health` (SERVING for its own service and for the server as a whole). All four
//! share one [`DemoStore`], so cross-references hold: orders name existing users and products,
//! payments name existing orders, and paying or cancelling an order is seen by every service.
//!
//! Errors follow the google.rpc error model, with typed details packed in
//! `google.rpc.Status.details` (the `grpc-status-details-bin` trailer):
//!
//! | situation                                   | code                | detail                 |
//! |---------------------------------------------|---------------------|------------------------|
//! | malformed field, bad page token, bad mask   | INVALID_ARGUMENT    | `BadRequest`           |
//! | unknown id                                  | NOT_FOUND           | `ResourceInfo`         |
//! | duplicate email, reused idempotency key     | ALREADY_EXISTS      | `ErrorInfo`            |
//! | cancel a shipped order, pay a paid order    | FAILED_PRECONDITION | `PreconditionFailure`  |
//!
//! The seed data ([`DemoStore::seeded`]) is deterministic: users `123`–`126`, products
//! `p-100`–`p-107`, orders `o-1001`–`o-1005` and payments `pay-5001`–`pay-5003`.

mod csv;
mod gateway;
mod issuer;
mod orders;
mod payments;
mod products;
mod store;
mod users;

pub use gateway::{
    DASHBOARD, DEMO_AUDIENCE, DEMO_IMAGE_TYPES, DEMO_ISSUER, DEMO_ROLES, DEMO_SUBJECT, demo_config,
    demo_issuer, demo_token, described_config,
};
pub use issuer::DemoIssuer;

use std::net::SocketAddr;
use std::time::Duration;

use prost::Message;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tonic::{Code, Status};

use crate::proto::google::rpc;
use crate::proto::orders::v1::order_service_server::OrderServiceServer;
use crate::proto::payments::v1::payment_service_server::PaymentServiceServer;
use crate::proto::products::v1::product_service_server::ProductServiceServer;
use crate::proto::users::v1::user_service_server::UserServiceServer;

pub use orders::OrderBackend;
pub use payments::PaymentBackend;
pub use products::ProductBackend;
pub use store::DemoStore;
pub use users::UserBackend;

/// How long [`RunningBackend::shutdown`] waits for in-flight calls before aborting the server.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// One of the four demo services.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DemoService {
    /// `users.v1.UserService`.
    Users,
    /// `orders.v1.OrderService`.
    Orders,
    /// `products.v1.ProductService`.
    Products,
    /// `payments.v1.PaymentService`.
    Payments,
}

impl DemoService {
    /// Every demo service, in a fixed order.
    pub const ALL: [DemoService; 4] = [
        DemoService::Users,
        DemoService::Orders,
        DemoService::Products,
        DemoService::Payments,
    ];

    /// Short lower-case name, as used on the command line and as a backend name: `"users"`, ...
    pub fn name(self) -> &'static str {
        match self {
            DemoService::Users => "users",
            DemoService::Orders => "orders",
            DemoService::Products => "products",
            DemoService::Payments => "payments",
        }
    }

    /// Fully qualified gRPC service name, e.g. `"users.v1.UserService"`.
    pub fn grpc_service(self) -> &'static str {
        match self {
            DemoService::Users => "users.v1.UserService",
            DemoService::Orders => "orders.v1.OrderService",
            DemoService::Products => "products.v1.ProductService",
            DemoService::Payments => "payments.v1.PaymentService",
        }
    }

    /// The service whose [`name`](Self::name) is `name` (exact, lower case); `None` otherwise.
    pub fn from_name(name: &str) -> Option<DemoService> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// A demo backend serving on a bound loopback port.
///
/// Dropping it signals the server to stop in the background; [`shutdown`](Self::shutdown) also
/// waits for it to finish.
#[derive(Debug)]
pub struct RunningBackend {
    /// The service being served.
    pub service: DemoService,
    /// The address actually bound (the real port when 0 was asked for).
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl RunningBackend {
    /// Stops accepting connections, lets in-flight calls finish for up to five seconds, then
    /// aborts whatever is left.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            // An error only means the server already stopped.
            let _ = stop.send(());
        }
        if let Some(mut task) = self.task.take()
            && tokio::time::timeout(SHUTDOWN_GRACE, &mut task)
                .await
                .is_err()
        {
            task.abort();
        }
    }
}

impl Drop for RunningBackend {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Starts all four demo backends on free loopback ports, sharing `store`.
pub async fn spawn_all(store: DemoStore) -> std::io::Result<Vec<RunningBackend>> {
    let mut running = Vec::with_capacity(DemoService::ALL.len());
    for service in DemoService::ALL {
        running.push(
            spawn(
                service,
                SocketAddr::from(([127, 0, 0, 1], 0)),
                store.clone(),
            )
            .await?,
        );
    }
    Ok(running)
}

/// Binds `addr` (port 0 picks a free port) and serves `service`, plus `grpc.health.v1.Health`,
/// backed by `store`.
///
/// Fails only if the address cannot be bound. Errors of the running server are logged with
/// `tracing` and end it.
pub async fn spawn(
    service: DemoService,
    addr: SocketAddr,
    store: DemoStore,
) -> std::io::Result<RunningBackend> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));

    let (health, health_server) = tonic_health::server::health_reporter();
    health
        .set_service_status(service.grpc_service(), tonic_health::ServingStatus::Serving)
        .await;

    let mut builder = Server::builder();
    let router = builder.add_service(health_server);
    let router = match service {
        DemoService::Users => router.add_service(UserServiceServer::new(UserBackend::new(store))),
        DemoService::Orders => {
            router.add_service(OrderServiceServer::new(OrderBackend::new(store)))
        }
        DemoService::Products => router.add_service(
            ProductServiceServer::new(ProductBackend::new(store))
                .max_decoding_message_size(products::MAX_REQUEST_BYTES),
        ),
        DemoService::Payments => {
            router.add_service(PaymentServiceServer::new(PaymentBackend::new(store)))
        }
    };

    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        // Keep the reporter alive for as long as the server runs.
        let _health = health;
        let signal = async {
            // Fires on an explicit stop and when the sender is dropped.
            let _ = stopped.await;
        };
        if let Err(error) = router.serve_with_incoming_shutdown(incoming, signal).await {
            tracing::error!(service = service.name(), %addr, %error, "demo backend failed");
        }
    });

    Ok(RunningBackend {
        service,
        addr,
        stop: Some(stop),
        task: Some(task),
    })
}

// ---------------------------------------------------------------------------------------------
// google.rpc error details shared by the four services.

/// Type URL prefix for packed error details.
const TYPE_URL_PREFIX: &str = "type.googleapis.com/";

/// Collects `google.rpc.BadRequest` field violations while a request is validated.
#[derive(Debug, Default)]
pub(crate) struct Violations(Vec<rpc::bad_request::FieldViolation>);

impl Violations {
    /// Records that `field` is invalid because of `description`.
    pub(crate) fn add(&mut self, field: impl Into<String>, description: impl Into<String>) {
        self.0.push(rpc::bad_request::FieldViolation {
            field: field.into(),
            description: description.into(),
            ..Default::default()
        });
    }

    /// `Ok` when nothing was recorded, otherwise INVALID_ARGUMENT carrying every violation.
    pub(crate) fn check(self) -> Result<(), Status> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(self.into_status())
        }
    }

    /// INVALID_ARGUMENT carrying the recorded violations as `google.rpc.BadRequest`.
    fn into_status(self) -> Status {
        let message = match self.0.as_slice() {
            [one] => format!("invalid {}: {}", one.field, one.description),
            many => format!("{} invalid fields", many.len()),
        };
        let detail = rpc::BadRequest {
            field_violations: self.0,
        };
        with_details(
            Code::InvalidArgument,
            message,
            pack("google.rpc.BadRequest", &detail),
        )
    }
}

/// INVALID_ARGUMENT with a single `BadRequest` field violation.
pub(crate) fn bad_field(field: &str, description: impl Into<String>) -> Status {
    let mut violations = Violations::default();
    violations.add(field, description);
    violations.into_status()
}

/// NOT_FOUND for `resource_type` (a full proto name) `name`, carrying `google.rpc.ResourceInfo`.
pub(crate) fn not_found(resource_type: &str, name: &str) -> Status {
    let detail = rpc::ResourceInfo {
        resource_type: resource_type.to_owned(),
        resource_name: name.to_owned(),
        description: "no such resource".to_owned(),
        ..Default::default()
    };
    let short = resource_type.rsplit('.').next().unwrap_or(resource_type);
    with_details(
        Code::NotFound,
        format!("{short} {name:?} not found"),
        pack("google.rpc.ResourceInfo", &detail),
    )
}

/// ALREADY_EXISTS carrying `google.rpc.ErrorInfo` with a stable `reason`.
pub(crate) fn already_exists(message: String, reason: &str, domain: &str) -> Status {
    let detail = rpc::ErrorInfo {
        reason: reason.to_owned(),
        domain: domain.to_owned(),
        ..Default::default()
    };
    with_details(
        Code::AlreadyExists,
        message,
        pack("google.rpc.ErrorInfo", &detail),
    )
}

/// FAILED_PRECONDITION carrying one `google.rpc.PreconditionFailure` violation.
pub(crate) fn failed_precondition(message: String, kind: &str, subject: &str) -> Status {
    let detail = rpc::PreconditionFailure {
        violations: vec![rpc::precondition_failure::Violation {
            r#type: kind.to_owned(),
            subject: subject.to_owned(),
            description: message.clone(),
        }],
    };
    with_details(
        Code::FailedPrecondition,
        message,
        pack("google.rpc.PreconditionFailure", &detail),
    )
}

/// Packs `message` into an `Any` under its full proto name.
fn pack<M: Message>(full_name: &str, message: &M) -> pbjson_types::Any {
    pbjson_types::Any {
        type_url: format!("{TYPE_URL_PREFIX}{full_name}"),
        value: message.encode_to_vec().into(),
    }
}

/// A tonic status whose details are an encoded `google.rpc.Status` holding `detail`.
fn with_details(code: Code, message: String, detail: pbjson_types::Any) -> Status {
    let status = rpc::Status {
        code: code as i32,
        message: message.clone(),
        details: vec![detail],
    };
    Status::with_details(code, message, status.encode_to_vec().into())
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;

    use super::*;
    use crate::proto::users::v1::GetUserRequest;
    use crate::proto::users::v1::user_service_client::UserServiceClient;

    #[test]
    fn names_round_trip() {
        for service in DemoService::ALL {
            assert_eq!(DemoService::from_name(service.name()), Some(service));
        }
        assert_eq!(DemoService::from_name("Users"), None);
    }

    #[tokio::test]
    async fn spawned_backend_serves_calls_errors_and_health() {
        let loopback = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        let backend = spawn(DemoService::Users, loopback, DemoStore::seeded())
            .await
            .expect("bind");
        let url = format!("http://{}", backend.addr);
        let channel = tonic::transport::Endpoint::from_shared(url)
            .expect("url")
            .connect()
            .await
            .expect("connect");

        let mut users = UserServiceClient::new(channel.clone());
        let get = |id: &str| GetUserRequest {
            user_id: id.to_owned(),
        };
        let user = users.get_user(get("123")).await.expect("get").into_inner();
        assert_eq!(user.user.expect("user").email, "ada@example.com");

        let err = users.get_user(get("999")).await.expect_err("unknown");
        assert_eq!(err.code(), Code::NotFound);
        let status = rpc::Status::decode(err.details()).expect("google.rpc.Status");
        assert_eq!(status.code, Code::NotFound as i32);
        assert_eq!(
            status.details[0].type_url,
            "type.googleapis.com/google.rpc.ResourceInfo"
        );

        let mut health = HealthClient::new(channel);
        for name in ["", "users.v1.UserService"] {
            let check = HealthCheckRequest {
                service: name.to_owned(),
            };
            let reply = health.check(check).await.expect("health").into_inner();
            assert_eq!(reply.status, ServingStatus::Serving as i32, "{name:?}");
        }
        backend.shutdown().await;
    }

    #[test]
    fn bad_request_details_name_every_field() {
        let mut violations = Violations::default();
        violations.add("user.email", "bad");
        violations.add("user.tier", "bad");
        let err = violations.check().expect_err("two violations");
        let status = rpc::Status::decode(err.details()).expect("google.rpc.Status");
        let any = &status.details[0];
        assert_eq!(any.type_url, "type.googleapis.com/google.rpc.BadRequest");
        let detail = rpc::BadRequest::decode(any.value.clone()).expect("BadRequest");
        let fields: Vec<_> = detail
            .field_violations
            .iter()
            .map(|v| v.field.as_str())
            .collect();
        assert_eq!(fields, ["user.email", "user.tier"]);
    }
}
