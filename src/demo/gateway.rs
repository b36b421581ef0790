//! The gateway config `gatehouse demo` runs: the four demo backends with health checks, an
//! issuer whose key the demo generates, products public and everything else behind a bearer
//! token, the seed's rate limits, product images limited to common web formats of at most
//! 8 MiB, and CORS open to any page (bearer tokens, no cookies).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use super::DemoIssuer;
use crate::config::{
    AggregateConfig, AuthPolicy, BackendConfig, Config, CorsConfig, DEFAULT_JWKS_REFRESH,
    HealthConfig, JwtConfig, RateLimitConfig, RateLimitKey, RouteConfig,
};

use super::products::MAX_IMAGE_BYTES;
use super::{DemoService, RunningBackend};

/// `iss` of the demo's tokens.
pub const DEMO_ISSUER: &str = "https://demo.gatehouse.local";
/// `aud` of the demo's tokens.
pub const DEMO_AUDIENCE: &str = "gatehouse-demo";
/// The user the printed token is for (Ada Lovelace in the seed data).
pub const DEMO_SUBJECT: &str = "123";
/// Roles in the printed token.
pub const DEMO_ROLES: [&str; 1] = ["customer"];
/// How long the printed token is valid.
pub const DEMO_TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 3600);
/// The media types a product image may have: `[[routes]] accept` of its upload routes.
pub const DEMO_IMAGE_TYPES: [&str; 4] = ["image/png", "image/jpeg", "image/gif", "image/webp"];

/// The demo's config, for `running` backends, with the issuer's public keys at `jwks_file`.
pub fn demo_config(running: &[RunningBackend], jwks_file: &Path) -> Config {
    let endpoints: Vec<(DemoService, String)> = running
        .iter()
        .map(|b| (b.service, format!("http://{}", b.addr)))
        .collect();
    config_at(&endpoints, jwks_file)
}

/// What the demo serves, as its config says, with no backend running: its routes, answers and
/// aggregates, for `gatehouse client typescript --demo`. The endpoints lead nowhere.
pub fn described_config() -> Config {
    let endpoints: Vec<(DemoService, String)> = DemoService::ALL
        .into_iter()
        .map(|s| (s, "http://127.0.0.1:1".to_string()))
        .collect();
    config_at(&endpoints, Path::new("demo-jwks.json"))
}

fn config_at(endpoints: &[(DemoService, String)], jwks_file: &Path) -> Config {
    let mut config = Config::default();
    for (service, endpoint) in endpoints {
        let service = *service;
        let mut entry = BackendConfig::new(service.name(), service.grpc_service(), endpoint);
        // The demo backends serve grpc.health.v1: check each for its own service.
        entry.health = Some(HealthConfig {
            service: service.grpc_service().to_string(),
            ..HealthConfig::default()
        });
        if service == DemoService::Products {
            // A product image is downloaded whole, in one reply message.
            entry.max_response_message = bytesize::ByteSize::b(MAX_IMAGE_BYTES as u64 + 64 * 1024);
        }
        config.backends.push(entry);
    }
    config.auth.default = AuthPolicy::Authenticated;
    config.auth.jwt.push(JwtConfig {
        issuer: DEMO_ISSUER.into(),
        audiences: vec![DEMO_AUDIENCE.into()],
        jwks_file: Some(jwks_file.to_path_buf()),
        jwks_url: None,
        hs256_secret_env: None,
        leeway: crate::config::DEFAULT_JWT_LEEWAY,
        jwks_refresh: DEFAULT_JWKS_REFRESH,
        roles_claim: "roles".into(),
    });
    let limit = |per_minute, burst, key| RateLimitConfig {
        per_second: None,
        per_minute: Some(per_minute),
        burst,
        key,
    };
    config.routes = vec![
        route(
            "products.v1.ProductService/*",
            Some(AuthPolicy::Public),
            None,
            limit(600, Some(100), RateLimitKey::Ip),
        ),
        route(
            "users.v1.UserService/*",
            None,
            None,
            limit(100, None, RateLimitKey::Subject),
        ),
        route(
            "orders.v1.OrderService/*",
            None,
            Some(vec!["customer".into()]),
            limit(50, None, RateLimitKey::Subject),
        ),
        // Both upload bindings (PUT raw, POST multipart): for token holders, web image formats
        // only, and more room than `[server] max_body` gives a JSON body.
        RouteConfig {
            auth: Some(AuthPolicy::Authenticated),
            accept: Some(DEMO_IMAGE_TYPES.map(String::from).to_vec()),
            max_body: Some(bytesize::ByteSize::b(MAX_IMAGE_BYTES as u64)),
            ..RouteConfig::for_method("products.v1.ProductService/SetProductImage")
        },
        // Placing an order answers 201 with where the order is, and the order is always the
        // caller's: `user_id` is the token's subject.
        RouteConfig {
            route: Some("POST /api/orders".into()),
            status: Some(201),
            location: Some("/api/orders/{order.order_id}".into()),
            from_identity: Some(BTreeMap::from([("user_id".into(), "subject".into())])),
            ..RouteConfig::default()
        },
        RouteConfig {
            route: Some("DELETE /api/users/{user_id}".into()),
            status: Some(204),
            ..RouteConfig::default()
        },
    ];
    config.aggregates.push(dashboard());
    config.server.cors = Some(CorsConfig {
        origins: vec!["*".into()],
        credentials: false,
        max_age: Duration::from_secs(3600),
        allow_headers: Vec::new(),
        expose_headers: Vec::new(),
    });
    config
}

/// `GET /api/user-dashboard/{user_id}`: the user, their orders and the products in them, in
/// one round trip. The user is required; orders and products are optional.
pub const DASHBOARD: &str = r#"
route = "GET /api/user-dashboard/{user_id}"
timeout = "1s"

[[calls]]
name = "user"
method = "users.v1.UserService/GetUser"
request = { user_id = "{user_id}" }
required = true
response_body = "user"

[[calls]]
name = "orders"
method = "orders.v1.OrderService/ListOrders"
request = { user_id = "{user_id}", page_size = 20 }
response_body = "orders"

# References read a call's whole response: `orders.orders` is ListOrdersResponse.orders.
[[calls]]
name = "products"
method = "products.v1.ProductService/BatchGetProducts"
request = { ids = "{orders.orders[*].line_items[*].product_id}" }
response_body = "products"
"#;

fn dashboard() -> AggregateConfig {
    toml::from_str(DASHBOARD).expect("the demo dashboard is valid TOML")
}

/// A fresh demo issuer: its key exists only in this process.
pub fn demo_issuer() -> Result<DemoIssuer, String> {
    DemoIssuer::generate(DEMO_ISSUER, DEMO_AUDIENCE)
}

/// A token for the demo user, as `gatehouse demo` prints it.
pub fn demo_token(issuer: &DemoIssuer) -> String {
    issuer.token(DEMO_SUBJECT, &DEMO_ROLES, DEMO_TOKEN_LIFETIME)
}

fn route(
    method: &str,
    auth: Option<AuthPolicy>,
    roles: Option<Vec<String>>,
    rate_limit: RateLimitConfig,
) -> RouteConfig {
    RouteConfig {
        auth,
        roles,
        rate_limit: Some(rate_limit),
        ..RouteConfig::for_method(method)
    }
}
