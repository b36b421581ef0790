//! An internal service calling `users.v1.UserService/GetUser` with the generated tonic client,
//! twice: directly against the users backend, and through the gateway's port, where the call
//! passes the gateway's edge (bearer token, rate limit, deadline) and is balanced over the
//! backend's pool.
//!
//! ```text
//! cargo run --example internal_client
//! ```
//!
//! It starts the four demo backends and a gateway with the demo config on free loopback ports,
//! prints both answers, and exits.

use gatehouse::demo::{self, DemoService, DemoStore};
use gatehouse::gateway::Gateway;
use gatehouse::listener::serve_gateway as serve;
use gatehouse::proto::users::v1::GetUserRequest;
use gatehouse::proto::users::v1::user_service_client::UserServiceClient;
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;

type Error = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let backends = demo::spawn_all(DemoStore::seeded()).await?;
    let users = backends
        .iter()
        .find(|b| b.service == DemoService::Users)
        .ok_or("the demo has a users backend")?
        .addr;

    // The demo issuer's key lives in this process; the gateway reads its public half from a file.
    let issuer = demo::demo_issuer()?;
    let jwks_file =
        std::env::temp_dir().join(format!("internal-client-{}.jwks", std::process::id()));
    std::fs::write(&jwks_file, issuer.jwks_json())?;
    let config = demo::demo_config(&backends, &jwks_file);
    let gateway = Gateway::new(&config)?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let gateway_addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, gateway, async {
        let _ = stopped.await;
    }));

    let token = demo::demo_token(&issuer);
    let answers = call_both(
        &format!("http://{users}"),
        &format!("http://{gateway_addr}"),
        &token,
    )
    .await;

    let _ = stop.send(());
    let _ = server.await;
    let _ = std::fs::remove_file(&jwks_file);
    for backend in backends {
        backend.shutdown().await;
    }
    answers
}

async fn call_both(backend: &str, gateway: &str, token: &str) -> Result<(), Error> {
    // 1. Straight to the backend: no gateway, no credential.
    let mut direct =
        UserServiceClient::new(Channel::from_shared(backend.to_string())?.connect().await?);
    let user = direct
        .get_user(GetUserRequest {
            user_id: demo::DEMO_SUBJECT.into(),
        })
        .await?
        .into_inner()
        .user;
    println!("direct to {backend}:\n  {user:?}");

    // 2. The same client through the gateway's port, with the demo bearer token.
    let mut through =
        UserServiceClient::new(Channel::from_shared(gateway.to_string())?.connect().await?);
    let mut request = tonic::Request::new(GetUserRequest {
        user_id: demo::DEMO_SUBJECT.into(),
    });
    request.metadata_mut().insert(
        "authorization",
        MetadataValue::try_from(format!("Bearer {token}"))?,
    );
    let response = through.get_user(request).await?;
    let remaining = response
        .metadata()
        .get("ratelimit-remaining")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_string();
    let user = response.into_inner().user;
    println!("through the gateway at {gateway} (rate limit remaining: {remaining}):\n  {user:?}");

    // Without the token the gateway refuses the call with a gRPC status.
    let refused = through
        .get_user(GetUserRequest {
            user_id: demo::DEMO_SUBJECT.into(),
        })
        .await
        .err()
        .ok_or("the gateway should ask for a token")?;
    println!(
        "through the gateway without a token:\n  {:?}: {}",
        refused.code(),
        refused.message()
    );
    Ok(())
}
