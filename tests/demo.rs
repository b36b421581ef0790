//! The four demo services behind one gateway, through the routes their protos annotate.

mod common;

use common::{TestGateway, expect_error, expect_status, field_violations, json_ok};
use gatehouse::demo::{self, DemoService, DemoStore, RunningBackend};
use serde_json::{Value, json};

/// The gateway and the demo backends it calls (which stop when dropped).
struct Demo {
    gw: TestGateway,
    _backends: Vec<RunningBackend>,
}

async fn start_demo() -> Demo {
    start_demo_with(&image_routes()).await
}

/// The demo's `[[routes]]` entry for its image uploads, as `demo_config` sets it.
fn image_routes() -> String {
    let types: Vec<String> = demo::DEMO_IMAGE_TYPES
        .iter()
        .map(|t| format!("{t:?}"))
        .collect();
    format!(
        "[[routes]]\nmethod = \"products.v1.ProductService/SetProductImage\"\n\
         accept = [{}]\nmax_body = \"8MiB\"\n",
        types.join(", ")
    )
}

/// The demo's backends behind a gateway whose config also has `toml`.
async fn start_demo_with(toml: &str) -> Demo {
    let backends = demo::spawn_all(DemoStore::seeded())
        .await
        .expect("demo backends start");
    let mut builder = TestGateway::builder().without_echo().config(toml);
    for backend in &backends {
        let service = backend.service;
        let (name, grpc) = (service.name(), service.grpc_service());
        builder = match service {
            // As `demo_config` sets it: a product image is downloaded in one reply message.
            DemoService::Products => {
                builder.backend_with(name, grpc, backend.addr, "max_response_message = \"9MiB\"")
            }
            _ => builder.backend(name, grpc, backend.addr),
        };
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

/// The `Content-Type` of a response.
fn content_type(response: &reqwest::Response) -> &str {
    response.headers()["content-type"].to_str().unwrap()
}

#[tokio::test]
async fn the_invoice_downloads_as_csv() {
    let demo = start_demo().await;
    let response = demo
        .gw
        .get("/api/orders/o-1001/invoice")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(content_type(&response), "text/csv; charset=utf-8");
    assert_eq!(
        response.text().await.unwrap(),
        "product_id,name,quantity,unit_price,amount,currency\r\n\
         p-100,Mechanical keyboard,1,89.99,89.99,USD\r\n\
         p-102,USB-C cable,2,12.99,25.98,USD\r\n\
         total,,3,,115.97,USD\r\n"
    );

    let response = demo
        .gw
        .get("/api/orders/o-404/invoice")
        .send()
        .await
        .unwrap();
    let body = expect_status(response, 404, 5).await;
    assert_eq!(body["message"], "Order \"o-404\" not found");
}

#[tokio::test]
async fn the_orders_export_streams_one_csv_row_per_order() {
    let demo = start_demo().await;
    let response = demo.gw.get("/api/orders:export").send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(content_type(&response), "text/csv; charset=utf-8");
    // Streamed: chunked, no length known up front.
    assert!(response.headers().get("content-length").is_none());
    assert_eq!(response.headers()["transfer-encoding"], "chunked");
    let body = response.text().await.unwrap();
    let lines: Vec<&str> = body.split_terminator("\r\n").collect();
    assert_eq!(
        lines[0],
        "order_id,user_id,status,items,total,currency,create_time"
    );
    assert_eq!(
        lines[1],
        "o-1001,123,delivered,3,115.97,USD,2025-01-16T09:00:00Z"
    );
    let ids: Vec<&str> = lines[1..]
        .iter()
        .map(|line| line.split(',').next().unwrap())
        .collect();
    assert_eq!(ids, ["o-1001", "o-1002", "o-1003", "o-1004", "o-1005"]);

    // The query fills the request; an error before the first message is the JSON error.
    let mine = demo
        .gw
        .get("/api/orders:export?userId=124")
        .send()
        .await
        .unwrap();
    assert_eq!(mine.text().await.unwrap().matches("\r\n").count(), 2);
    let response = demo
        .gw
        .get("/api/orders:export?userId=999")
        .send()
        .await
        .unwrap();
    expect_status(response, 404, 5).await;
}

/// A multipart/form-data body of `(name, content type, bytes)` parts, and its Content-Type.
fn multipart(parts: &[(&str, Option<&str>, &[u8])]) -> (String, Vec<u8>) {
    const BOUNDARY: &str = "gatehouse-demo-boundary";
    let mut body = Vec::new();
    for (name, content_type, data) in parts {
        body.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
        body.extend_from_slice(
            format!("Content-Disposition: form-data; name=\"{name}\"; filename=\"{name}.bin\"\r\n")
                .as_bytes(),
        );
        if let Some(content_type) = content_type {
            body.extend_from_slice(format!("Content-Type: {content_type}\r\n").as_bytes());
        }
        body.extend_from_slice(b"\r\n");
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={BOUNDARY}"), body)
}

/// The first bytes of a PNG file, and some more.
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR not really a picture";

#[tokio::test]
async fn a_product_image_uploads_raw_or_as_a_form_and_downloads_as_sent() {
    let demo = start_demo().await;
    let response = demo
        .gw
        .get("/api/products/p-100/image")
        .send()
        .await
        .unwrap();
    expect_status(response, 404, 5).await;

    // curl -T photo.png -H 'Content-Type: image/png'
    let response = demo
        .gw
        .request("PUT", "/api/products/p-100/image")
        .header("content-type", "image/png")
        .body(PNG)
        .send()
        .await
        .unwrap();
    let stored = json_ok(response).await;
    assert_eq!(
        stored,
        json!({"productId": "p-100", "contentType": "image/png", "sizeBytes": PNG.len().to_string()})
    );
    let image = demo
        .gw
        .get("/api/products/p-100/image")
        .send()
        .await
        .unwrap();
    assert_eq!(image.status(), 200);
    assert_eq!(content_type(&image), "image/png");
    assert_eq!(image.bytes().await.unwrap(), PNG);

    // curl -F image=@photo.gif: the part's own Content-Type goes with it.
    let gif = b"GIF89a\x01\0\x01\0 still not a picture";
    let (form_type, form) = multipart(&[("image", Some("image/gif"), gif)]);
    let response = demo
        .gw
        .request("POST", "/api/products/p-101/image")
        .header("content-type", form_type)
        .body(form)
        .send()
        .await
        .unwrap();
    assert_eq!(json_ok(response).await["contentType"], "image/gif");
    let image = demo
        .gw
        .get("/api/products/p-101/image")
        .send()
        .await
        .unwrap();
    assert_eq!(content_type(&image), "image/gif");
    assert_eq!(image.bytes().await.unwrap().as_ref(), gif);
    // The other product's image is untouched.
    let image = demo
        .gw
        .get("/api/products/p-100/image")
        .send()
        .await
        .unwrap();
    assert_eq!(image.bytes().await.unwrap(), PNG);
}

#[tokio::test]
async fn a_non_image_upload_is_refused() {
    let demo = start_demo().await;
    // The route's `accept` refuses it before the backend is called.
    let response = demo
        .gw
        .request("PUT", "/api/products/p-100/image")
        .header("content-type", "text/plain")
        .body("hello")
        .send()
        .await
        .unwrap();
    let body = expect_error(response, 415, 3, "UNSUPPORTED_MEDIA_TYPE").await;
    let message = body["message"].as_str().unwrap();
    assert!(
        message.starts_with("unsupported content type \"text/plain\": send image/png"),
        "{message}"
    );
    // ... and in a form's part.
    let (form_type, form) = multipart(&[("image", Some("application/pdf"), b"%PDF-1.7")]);
    let response = demo
        .gw
        .request("POST", "/api/products/p-100/image")
        .header("content-type", form_type)
        .body(form)
        .send()
        .await
        .unwrap();
    expect_error(response, 415, 3, "UNSUPPORTED_MEDIA_TYPE").await;
    // A body beyond the route's max_body, refused on its announced length (the gateway answers
    // and closes without reading it, so a client still writing it may see a broken pipe).
    let response = demo
        .gw
        .raw(
            format!(
                "PUT /api/products/p-100/image HTTP/1.1\r\nHost: 127.0.0.1\r\n\
                 Content-Type: image/png\r\nContent-Length: {}\r\n\r\n",
                8 * 1024 * 1024 + 1
            )
            .as_bytes(),
        )
        .await;
    assert_eq!(response.status, 413, "{response:?}");
    assert_eq!(response.body["code"], 8, "{response:?}");
    let response = demo
        .gw
        .get("/api/products/p-100/image")
        .send()
        .await
        .unwrap();
    expect_status(response, 404, 5).await;

    // Without `accept`, the backend refuses it itself, naming the field.
    let demo = start_demo_with("").await;
    let response = demo
        .gw
        .request("PUT", "/api/products/p-100/image")
        .header("content-type", "text/plain")
        .body("hello")
        .send()
        .await
        .unwrap();
    let body = expect_status(response, 400, 3).await;
    let violations = field_violations(&body);
    assert_eq!(violations[0].0, "image.content_type", "{body}");
    assert!(violations[0].1.contains("\"text/plain\""), "{body}");
}

#[tokio::test]
async fn patch_without_a_mask_updates_only_the_fields_in_the_body() {
    let demo = start_demo().await;
    let response = demo
        .gw
        .send_json("PATCH", "/api/users/123", r#"{"displayName": "Ada King"}"#)
        .send()
        .await
        .unwrap();
    let user = json_ok(response).await;
    assert_eq!(user["displayName"], "Ada King");
    assert_eq!(user["email"], "ada@example.com");
    assert_eq!(user["tier"], "USER_TIER_PRO");
    assert_eq!(demo.get("/api/users/123").await, user);
}

#[tokio::test]
async fn a_url_encoded_form_fills_the_body_like_json() {
    let demo = start_demo().await;
    let response = demo
        .gw
        .request("POST", "/api/users")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("email=barbara%40example.com&displayName=Barbara+Liskov&tier=USER_TIER_PRO")
        .send()
        .await
        .unwrap();
    let user = json_ok(response).await;
    assert_eq!(user["email"], "barbara@example.com");
    assert_eq!(user["displayName"], "Barbara Liskov");
    assert_eq!(user["tier"], "USER_TIER_PRO");

    // A key that names no field of the body's message.
    let response = demo
        .gw
        .request("POST", "/api/users")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("email=b%40example.com&nickname=bee")
        .send()
        .await
        .unwrap();
    let body = expect_error(response, 400, 3, "UNKNOWN_FIELD").await;
    assert_eq!(field_violations(&body)[0].0, "nickname", "{body}");
}

/// Up to the route's 8 MiB, an image comes back as it went in.
#[tokio::test]
async fn a_large_image_round_trips() {
    let demo = start_demo().await;
    let mut image = PNG.to_vec();
    image.resize(6 * 1024 * 1024, 7);
    let response = demo
        .gw
        .request("PUT", "/api/products/p-100/image")
        .header("content-type", "image/png")
        .body(image.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(
        json_ok(response).await["sizeBytes"],
        image.len().to_string()
    );
    let response = demo
        .gw
        .get("/api/products/p-100/image")
        .send()
        .await
        .unwrap();
    let status = response.status();
    let bytes = response.bytes().await.unwrap();
    assert_eq!(
        status,
        200,
        "{}",
        String::from_utf8_lossy(&bytes[..bytes.len().min(300)])
    );
    assert_eq!(bytes.len(), image.len());
}

/// `FollowOrders` straight to the orders backend over gRPC (the gateway's WebSocket path is
/// tested in tests/websocket.rs): a filter answers the orders that match it now, then each
/// change that matches, as it happens; a new filter replaces the old; half-closing ends it.
#[tokio::test]
async fn follow_orders_sends_the_matching_orders_then_their_changes() {
    use gatehouse::proto::orders::v1::order_service_client::OrderServiceClient;
    use gatehouse::proto::orders::v1::{FollowOrdersRequest, OrderEvent, OrderStatus};

    let demo = start_demo().await;
    let orders = demo
        ._backends
        .iter()
        .find(|b| b.service == DemoService::Orders)
        .unwrap();
    let mut client = OrderServiceClient::connect(format!("http://{}", orders.addr))
        .await
        .unwrap();
    let (filters, requests) = tokio::sync::mpsc::channel(4);
    let requests = tonic::codegen::tokio_stream::wrappers::ReceiverStream::new(requests);
    let mut feed = client.follow_orders(requests).await.unwrap().into_inner();
    let mut next = async || {
        let message = feed.message().await.unwrap().expect("a message");
        let order = message.order.unwrap();
        (
            OrderEvent::try_from(message.event).unwrap(),
            order.order_id,
            order.status,
        )
    };

    filters
        .send(FollowOrdersRequest {
            user_id: "123".into(),
            status: OrderStatus::Unspecified as i32,
        })
        .await
        .unwrap();
    let mut now = Vec::new();
    for _ in 0..3 {
        now.push(next().await);
    }
    let ids: Vec<&str> = now.iter().map(|(_, id, _)| id.as_str()).collect();
    assert_eq!(ids, ["o-1001", "o-1002", "o-1003"]);
    assert!(
        now.iter()
            .all(|(event, _, _)| *event == OrderEvent::Current)
    );

    // An order placed for user 124 is not followed; one for 123 is.
    demo.post(
        "/api/orders",
        json!({"userId": "124", "lineItems": [{"productId": "p-100", "quantity": 1}]}),
    )
    .await;
    let placed = demo
        .post(
            "/api/orders",
            json!({"userId": "123", "lineItems": [{"productId": "p-100", "quantity": 1}]}),
        )
        .await;
    let placed_id = placed["orderId"].as_str().unwrap().to_string();
    assert_eq!(
        next().await,
        (
            OrderEvent::Created,
            placed_id.clone(),
            OrderStatus::Pending as i32
        )
    );
    demo.post(&format!("/api/orders/{placed_id}:cancel"), json!({}))
        .await;
    assert_eq!(
        next().await,
        (
            OrderEvent::Changed,
            placed_id,
            OrderStatus::Cancelled as i32
        )
    );

    // A new filter: only pending orders, of every user.
    filters
        .send(FollowOrdersRequest {
            user_id: String::new(),
            status: OrderStatus::Pending as i32,
        })
        .await
        .unwrap();
    let (event, id, status) = next().await;
    assert_eq!(
        (event, id.as_str(), status),
        (OrderEvent::Current, "o-1003", OrderStatus::Pending as i32)
    );
    let (_, id, _) = next().await;
    assert_ne!(id, "o-1003", "the 124 order placed above is pending too");

    // Ending the requests ends the call, with OK.
    drop(filters);
    assert!(feed.message().await.unwrap().is_none());
}

#[tokio::test]
async fn follow_orders_of_an_unknown_user_is_not_found() {
    use gatehouse::proto::orders::v1::FollowOrdersRequest;
    use gatehouse::proto::orders::v1::order_service_client::OrderServiceClient;

    let demo = start_demo().await;
    let orders = demo
        ._backends
        .iter()
        .find(|b| b.service == DemoService::Orders)
        .unwrap();
    let mut client = OrderServiceClient::connect(format!("http://{}", orders.addr))
        .await
        .unwrap();
    let request = FollowOrdersRequest {
        user_id: "999".into(),
        status: 0,
    };
    let requests = tonic::codegen::tokio_stream::iter(vec![request]);
    let mut feed = client.follow_orders(requests).await.unwrap().into_inner();
    let status = feed.message().await.expect_err("no such user");
    assert_eq!(status.code(), tonic::Code::NotFound);
}
