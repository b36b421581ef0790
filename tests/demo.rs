//! The four demo services behind one gateway, through the routes their protos annotate.

mod common;

use common::{TestGateway, expect_status, field_violations, json_ok};
use gatehouse::demo::{self, DemoStore, RunningBackend};
use serde_json::{Value, json};

/// The gateway and the demo backends it calls (which stop when dropped).
struct Demo {
    gw: TestGateway,
    _backends: Vec<RunningBackend>,
}

async fn start_demo() -> Demo {
    let backends = demo::spawn_all(DemoStore::seeded())
        .await
        .expect("demo backends start");
    let mut builder = TestGateway::builder().without_echo();
    for backend in &backends {
        let service = backend.service;
        builder = builder.backend(service.name(), service.grpc_service(), backend.addr);
    }
    Demo {
        gw: builder.start().await,
        _backends: backends,
    }
}

impl Demo {
    async fn get(&self, path: &str) -> Value {
        json_ok(self.gw.get(path).send().await.unwrap()).await
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let response = self
            .gw
            .post_json(path, &body.to_string())
            .send()
            .await
            .unwrap();
        json_ok(response).await
    }

    async fn stock(&self, product_id: &str) -> i64 {
        self.get(&format!("/api/products/{product_id}")).await["stock"]
            .as_i64()
            .unwrap()
    }
}

#[tokio::test]
async fn get_user_returns_the_user() {
    let demo = start_demo().await;
    let user = demo.get("/api/users/123").await;
    assert_eq!(user["userId"], "123");
    assert_eq!(user["email"], "ada@example.com");
    assert_eq!(user["displayName"], "Ada Lovelace");
    assert_eq!(user["tier"], "USER_TIER_PRO");
    assert_eq!(user["loginCount"], "42");
    assert!(
        user["createTime"].as_str().unwrap().ends_with('Z'),
        "{user}"
    );
}

#[tokio::test]
async fn unknown_user_is_404_with_resource_info() {
    let demo = start_demo().await;
    let response = demo.gw.get("/api/users/999").send().await.unwrap();
    let body = expect_status(response, 404, 5).await;
    assert_eq!(body["message"], "User \"999\" not found");
    assert_eq!(
        body["details"],
        json!([{
            "@type": "type.googleapis.com/google.rpc.ResourceInfo",
            "resourceType": "users.v1.User",
            "resourceName": "999",
            "description": "no such resource",
        }])
    );
}

#[tokio::test]
async fn order_lifecycle_create_get_cancel() {
    let demo = start_demo().await;
    assert_eq!(demo.stock("p-100").await, 25);

    let order = demo
        .post(
            "/api/orders",
            json!({"userId": "123", "lineItems": [{"productId": "p-100", "quantity": 2}]}),
        )
        .await;
    let order_id = order["orderId"].as_str().unwrap().to_string();
    assert!(!order_id.is_empty());
    assert_eq!(order["userId"], "123");
    assert_eq!(order["status"], "ORDER_STATUS_PENDING");
    assert_eq!(order["totalCents"], "17998");
    assert_eq!(order["currency"], "USD");
    assert_eq!(
        order["lineItems"],
        json!([{"productId": "p-100", "quantity": 2, "unitPriceCents": "8999"}])
    );
    assert_eq!(demo.stock("p-100").await, 23);

    let fetched = demo.get(&format!("/api/orders/{order_id}")).await;
    assert_eq!(fetched, order);

    let cancelled = demo
        .post(
            &format!("/api/orders/{order_id}:cancel"),
            json!({"reason": "changed my mind"}),
        )
        .await;
    assert_eq!(cancelled["orderId"], order_id.as_str());
    assert_eq!(cancelled["status"], "ORDER_STATUS_CANCELLED");
    assert_eq!(demo.stock("p-100").await, 25);
}

#[tokio::test]
async fn cancelling_a_shipped_order_is_a_failed_precondition() {
    let demo = start_demo().await;
    let response = demo
        .gw
        .post_json("/api/orders/o-1002:cancel", "{}")
        .send()
        .await
        .unwrap();
    let body = expect_status(response, 400, 9).await;
    assert_eq!(
        body["details"][0]["@type"],
        "type.googleapis.com/google.rpc.PreconditionFailure"
    );
    assert_eq!(
        body["details"][0]["violations"][0]["subject"],
        "orders/o-1002"
    );
}

#[tokio::test]
async fn list_users_pages_with_page_size_and_next_page_token() {
    let demo = start_demo().await;
    let first = demo.get("/api/users?pageSize=2").await;
    let ids: Vec<&str> = first["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["userId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["123", "124"]);
    let token = first["nextPageToken"].as_str().unwrap();
    assert!(!token.is_empty());

    let second = demo
        .get(&format!("/api/users?page_size=2&pageToken={token}"))
        .await;
    let ids: Vec<&str> = second["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["userId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["125", "126"]);
    // The last page has no token (the empty string is the default and is left out).
    assert_eq!(second.get("nextPageToken"), None, "{second}");

    let response = demo
        .gw
        .get("/api/users?pageToken=garbage")
        .send()
        .await
        .unwrap();
    let body = expect_status(response, 400, 3).await;
    assert_eq!(field_violations(&body)[0].0, "page_token");
}

#[tokio::test]
async fn list_orders_filters_by_user() {
    let demo = start_demo().await;
    let page = demo.get("/api/orders?userId=123&pageSize=10").await;
    let ids: Vec<&str> = page["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["orderId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["o-1001", "o-1002", "o-1003"]);
}

#[tokio::test]
async fn batch_get_products_takes_repeated_ids() {
    let demo = start_demo().await;
    let batch = demo.get("/api/products:batchGet?ids=p-101&ids=p-100").await;
    let products = batch["products"].as_array().unwrap();
    assert_eq!(products.len(), 2);
    assert_eq!(products[0]["productId"], "p-101");
    assert_eq!(products[0]["name"], "Wireless mouse");
    assert_eq!(products[0]["priceCents"], "2999");
    assert_eq!(products[1]["productId"], "p-100");
    assert_eq!(products[1]["tags"], json!(["hardware", "input"]));

    let response = demo
        .gw
        .get("/api/products:batchGet?ids=p-100&ids=p-999")
        .send()
        .await
        .unwrap();
    expect_status(response, 404, 5).await;
}

#[tokio::test]
async fn create_user_validates_and_assigns_an_id() {
    let demo = start_demo().await;
    let response = demo
        .gw
        .post_json(
            "/api/users",
            r#"{"email": "not an email", "displayName": " "}"#,
        )
        .send()
        .await
        .unwrap();
    let body = expect_status(response, 400, 3).await;
    let mut fields: Vec<String> = field_violations(&body)
        .into_iter()
        .map(|(f, _)| f)
        .collect();
    fields.sort();
    assert_eq!(fields, ["user.display_name", "user.email"], "{body}");

    let user = demo
        .post(
            "/api/users",
            json!({"email": "barbara@example.com", "displayName": "Barbara Liskov"}),
        )
        .await;
    let user_id = user["userId"].as_str().unwrap();
    assert!(!user_id.is_empty());
    assert_eq!(user["tier"], "USER_TIER_FREE");
    assert_eq!(demo.get(&format!("/api/users/{user_id}")).await, user);

    // The same email again.
    let response = demo
        .gw
        .post_json(
            "/api/users",
            r#"{"email": "barbara@example.com", "displayName": "B"}"#,
        )
        .send()
        .await
        .unwrap();
    expect_status(response, 409, 6).await;
}

#[tokio::test]
async fn update_user_applies_the_mask_from_the_query() {
    let demo = start_demo().await;
    let response = demo
        .gw
        .send_json(
            "PATCH",
            "/api/users/124?updateMask=displayName",
            r#"{"displayName": "Rear Admiral Hopper", "email": "ignored@example.com"}"#,
        )
        .send()
        .await
        .unwrap();
    let user = json_ok(response).await;
    assert_eq!(user["userId"], "124");
    assert_eq!(user["displayName"], "Rear Admiral Hopper");
    assert_eq!(user["email"], "grace@example.com");
}

#[tokio::test]
async fn payments_reference_orders() {
    let demo = start_demo().await;
    let order = demo
        .post(
            "/api/orders",
            json!({"userId": "125", "lineItems": [{"productId": "p-107", "quantity": 1}]}),
        )
        .await;
    let order_id = order["orderId"].as_str().unwrap();

    let payment = demo
        .post(
            "/api/payments",
            json!({"orderId": order_id, "amountCents": "3900", "currency": "USD", "requestId": "r-1"}),
        )
        .await;
    assert_eq!(payment["orderId"], order_id);
    assert_eq!(payment["amountCents"], "3900");
    assert_eq!(payment["status"], "PAYMENT_STATUS_SUCCEEDED");
    let payment_id = payment["paymentId"].as_str().unwrap();
    assert_eq!(
        demo.get(&format!("/api/payments/{payment_id}")).await,
        payment
    );
    assert_eq!(
        demo.get(&format!("/api/orders/{order_id}")).await["status"],
        "ORDER_STATUS_PAID"
    );

    // Unknown order, wrong amount.
    let response = demo
        .gw
        .post_json(
            "/api/payments",
            r#"{"orderId": "o-404", "amountCents": 1, "currency": "USD", "requestId": "r-2"}"#,
        )
        .send()
        .await
        .unwrap();
    expect_status(response, 404, 5).await;
    let response = demo
        .gw
        .post_json(
            "/api/payments",
            r#"{"orderId": "o-1003", "amountCents": 1, "currency": "USD", "requestId": "r-3"}"#,
        )
        .send()
        .await
        .unwrap();
    let body = expect_status(response, 400, 3).await;
    assert_eq!(field_violations(&body)[0].0, "amount_cents", "{body}");
}

#[tokio::test]
async fn watch_orders_streams_the_users_orders_as_ndjson() {
    let demo = start_demo().await;
    let response = demo
        .gw
        .get("/api/orders:watch?userId=123")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/x-ndjson");
    let body = response.text().await.unwrap();
    let orders: Vec<Value> = body
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap()["order"].clone())
        .collect();
    let ids: Vec<&str> = orders
        .iter()
        .filter_map(|o| o["orderId"].as_str())
        .collect();
    assert_eq!(ids, ["o-1001", "o-1002", "o-1003"], "{body}");
    assert!(orders.iter().all(|o| o["userId"] == "123"), "{body}");
}
