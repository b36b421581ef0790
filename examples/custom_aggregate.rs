//! A hand-written endpoint mounted on the gateway: `GET /api/custom-dashboard/{user_id}`
//! answers a user, their orders and the products in them, from three backends.
//!
//! ```text
//! cargo run --example custom_aggregate [-- 127.0.0.1:8080]
//! ```
//!
//! The handler is plain axum. Mounted with `stack::service_with`, it runs behind the same
//! layers as the generated routes (request id, tracing, CORS, the concurrency limit), checks
//! credentials with the gateway's `Guard`, and calls the backends with generated tonic clients
//! over `Backend::channel()`, so its calls are balanced and health-checked like the routes'.
//! (A dashboard like this one can also be declared in the config as an `[[aggregates]]` entry;
//! code is for what a declaration cannot say.)

use std::time::Duration;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use gatehouse::demo::{self, DemoStore};
use gatehouse::error::GatewayError;
use gatehouse::gateway::{Gateway, Guard};
use gatehouse::proto::orders::v1::order_service_client::OrderServiceClient;
use gatehouse::proto::orders::v1::{ListOrdersRequest, Order};
use gatehouse::proto::products::v1::product_service_client::ProductServiceClient;
use gatehouse::proto::products::v1::{BatchGetProductsRequest, Product};
use gatehouse::proto::users::v1::user_service_client::UserServiceClient;
use gatehouse::proto::users::v1::{GetUserRequest, User};
use gatehouse::upstream::PoolChannel;
use http::HeaderMap;
use http::header::CONTENT_TYPE;

/// The whole dashboard, all calls included; dropping the handler's future cancels them.
const DASHBOARD_TIMEOUT: Duration = Duration::from_secs(2);

/// What the handler needs, cloned into each request (clients over pools are cheap to clone).
#[derive(Clone)]
struct Dashboard {
    guard: Guard,
    users: UserServiceClient<PoolChannel>,
    orders: OrderServiceClient<PoolChannel>,
    products: ProductServiceClient<PoolChannel>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt::init();
    let addr = std::env::args().nth(1).unwrap_or("127.0.0.1:8080".into());

    // The four demo backends, and the demo config: a [[backends]] entry for each, bearer
    // tokens from a demo issuer whose public key is written to a JWKS file.
    let backends = demo::spawn_all(DemoStore::seeded()).await?;
    let issuer = demo::demo_issuer()?;
    let jwks_file = std::env::temp_dir().join(format!("custom-agg-{}.jwks", std::process::id()));
    std::fs::write(&jwks_file, issuer.jwks_json())?;
    let config = demo::demo_config(&backends, &jwks_file);
    config.validate("custom_aggregate")?;
    let gateway = Gateway::new(&config)?;

    // Clients over the gateway's own backend pools, taken before the gateway becomes a router.
    let channel = |name: &str| {
        gateway
            .backend(name)
            .map(|b| b.channel())
            .ok_or(name.to_string())
    };
    let state = Dashboard {
        guard: gateway.guard(),
        users: UserServiceClient::new(channel("users")?),
        orders: OrderServiceClient::new(channel("orders")?),
        products: ProductServiceClient::new(channel("products")?),
    };
    let custom = axum::Router::new()
        .route("/api/custom-dashboard/{user_id}", get(dashboard))
        .with_state(state);
    let limits = gateway.connection_limits();
    let router = gatehouse::stack::service_with(gateway, custom);

    let listener = tokio::net::TcpListener::bind(&addr).await?;
    let addr = listener.local_addr()?;
    let token = demo::demo_token(&issuer);
    println!("Try (user 123 is the token's subject):\n");
    println!("  curl -H 'Authorization: Bearer {token}' http://{addr}/api/custom-dashboard/123\n");
    println!("Press Ctrl-C to stop.");
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let served = gatehouse::listener::serve(listener, router, limits, shutdown).await;
    let _ = std::fs::remove_file(&jwks_file);
    Ok(served?)
}

/// `GET /api/custom-dashboard/{user_id}`: every failure becomes the gateway's JSON error.
async fn dashboard(
    State(clients): State<Dashboard>,
    Path(user_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let built = tokio::time::timeout(DASHBOARD_TIMEOUT, build(clients, user_id, &headers)).await;
    built
        .unwrap_or(Err(GatewayError::DeadlineExceeded))
        .unwrap_or_else(IntoResponse::into_response)
}

/// The answer. The generated messages serialize as proto3 JSON (camelCase names, RFC 3339
/// times, 64-bit integers as strings).
#[derive(serde::Serialize)]
struct DashboardBody {
    user: Option<User>,
    orders: Vec<Order>,
    products: Vec<Product>,
}

async fn build(
    mut clients: Dashboard,
    user_id: String,
    headers: &HeaderMap,
) -> Result<Response, GatewayError> {
    // A custom route is not covered by the config's [[routes]] policies: check the caller
    // here. Customers only, and only their own dashboard.
    let caller = clients.guard.authorize(headers, &["customer"]).await?;
    if caller.is_none_or(|identity| identity.subject != user_id) {
        return Err(GatewayError::PermissionDenied(
            "a dashboard is only shown to its user".into(),
        ));
    }

    // The user and their orders at the same time...
    let (user, orders) = tokio::join!(
        clients.users.get_user(GetUserRequest {
            user_id: user_id.clone(),
        }),
        clients.orders.list_orders(ListOrdersRequest {
            user_id,
            page_size: 20,
            ..Default::default()
        }),
    );
    let user = user
        .map_err(gatehouse::upstream::status_error)?
        .into_inner();
    let orders = orders
        .map_err(gatehouse::upstream::status_error)?
        .into_inner();

    // ...then the products named in those orders, in one batch call.
    let mut ids: Vec<String> = orders
        .orders
        .iter()
        .flat_map(|order| &order.line_items)
        .map(|item| item.product_id.clone())
        .collect();
    ids.sort();
    ids.dedup();
    let products = clients
        .products
        .batch_get_products(BatchGetProductsRequest { ids })
        .await
        .map_err(gatehouse::upstream::status_error)?
        .into_inner();

    let body = DashboardBody {
        user: user.user,
        orders: orders.orders,
        products: products.products,
    };
    let json = serde_json::to_string(&body).map_err(|e| GatewayError::Internal(e.to_string()))?;
    Ok(([(CONTENT_TYPE, "application/json")], json).into_response())
}
