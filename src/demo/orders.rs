//! `orders.v1.OrderService` over the demo store.

use std::pin::Pin;
use std::time::Duration;

use futures_util::{Stream, StreamExt as _, stream};
use tonic::{Request, Response, Status};

use super::store::{self, DemoStore};
use super::{Violations, bad_field, failed_precondition, not_found};
use crate::proto::orders::v1::order_service_server::OrderService;
use crate::proto::orders::v1::{
    CancelOrderRequest, CancelOrderResponse, CreateOrderRequest, CreateOrderResponse,
    GetOrderRequest, GetOrderResponse, LineItem, ListOrdersRequest, ListOrdersResponse, Order,
    OrderStatus, WatchOrdersRequest, WatchOrdersResponse,
};
use crate::proto::payments::v1::PaymentStatus;

const RESOURCE: &str = "orders.v1.Order";
/// Most line items one order may have.
const MAX_LINE_ITEMS: usize = 50;
/// Most units of one product per line item.
const MAX_QUANTITY: i32 = 1_000;
/// `WatchOrders` waits this long between two orders, so `curl -N` visibly streams.
const WATCH_PAUSE: Duration = Duration::from_millis(200);

/// The demo `orders.v1.OrderService`.
///
/// Placing an order checks that the user and every product exist and that enough stock is left,
/// takes the stock and prices the order in USD. Cancelling returns the stock and marks any
/// payment refunded; it fails once the order has shipped.
#[derive(Clone, Debug)]
pub struct OrderBackend {
    store: DemoStore,
}

impl OrderBackend {
    /// A service over `store`.
    pub fn new(store: DemoStore) -> Self {
        Self { store }
    }
}

/// The finite stream returned by `WatchOrders`.
pub type OrderUpdates = Pin<Box<dyn Stream<Item = Result<WatchOrdersResponse, Status>> + Send>>;

#[tonic::async_trait]
impl OrderService for OrderBackend {
    async fn create_order(
        &self,
        request: Request<CreateOrderRequest>,
    ) -> Result<Response<CreateOrderResponse>, Status> {
        let request = request.into_inner();
        validate_create(&request)?;

        let mut tables = self.store.lock();
        if !tables.users.contains_key(&request.user_id) {
            return Err(not_found("users.v1.User", &request.user_id));
        }
        let mut line_items = Vec::with_capacity(request.line_items.len());
        let mut total_cents: i64 = 0;
        for item in &request.line_items {
            let product = tables
                .products
                .get(&item.product_id)
                .ok_or_else(|| not_found("products.v1.Product", &item.product_id))?;
            let wanted: i32 = request
                .line_items
                .iter()
                .filter(|other| other.product_id == item.product_id)
                .map(|other| other.quantity)
                .sum();
            if wanted > product.stock {
                return Err(failed_precondition(
                    format!(
                        "product {:?} has {} in stock, {wanted} requested",
                        item.product_id, product.stock
                    ),
                    "STOCK",
                    &format!("products/{}", item.product_id),
                ));
            }
            let line_total = product
                .price_cents
                .checked_mul(i64::from(item.quantity))
                .and_then(|line| total_cents.checked_add(line));
            total_cents = line_total.ok_or_else(|| bad_field("line_items", "total too large"))?;
            line_items.push(LineItem {
                product_id: item.product_id.clone(),
                quantity: item.quantity,
                unit_price_cents: product.price_cents,
            });
        }
        for item in &line_items {
            if let Some(product) = tables.products.get_mut(&item.product_id) {
                product.stock -= item.quantity;
            }
        }
        let order = Order {
            order_id: tables.new_order_id(),
            user_id: request.user_id,
            line_items,
            status: OrderStatus::Pending as i32,
            total_cents,
            currency: "USD".to_owned(),
            create_time: Some(store::now()),
        };
        tables.orders.insert(order.order_id.clone(), order.clone());
        Ok(Response::new(CreateOrderResponse { order: Some(order) }))
    }

    async fn get_order(
        &self,
        request: Request<GetOrderRequest>,
    ) -> Result<Response<GetOrderResponse>, Status> {
        let order_id = request.into_inner().order_id;
        if order_id.is_empty() {
            return Err(bad_field("order_id", "is required"));
        }
        let order = self
            .store
            .order(&order_id)
            .ok_or_else(|| not_found(RESOURCE, &order_id))?;
        Ok(Response::new(GetOrderResponse { order: Some(order) }))
    }

    async fn list_orders(
        &self,
        request: Request<ListOrdersRequest>,
    ) -> Result<Response<ListOrdersResponse>, Status> {
        let request = request.into_inner();
        let user_id = request.user_id.as_str();
        let tables = self.store.lock();
        let page = store::page(
            &tables.orders,
            |order| user_id.is_empty() || order.user_id == user_id,
            &format!("orders user_id={user_id}"),
            request.page_size,
            &request.page_token,
        )?;
        Ok(Response::new(ListOrdersResponse {
            orders: page.items,
            next_page_token: page.next_page_token,
        }))
    }

    async fn cancel_order(
        &self,
        request: Request<CancelOrderRequest>,
    ) -> Result<Response<CancelOrderResponse>, Status> {
        let request = request.into_inner();
        if request.order_id.is_empty() {
            return Err(bad_field("order_id", "is required"));
        }
        if request.reason.chars().count() > 500 {
            return Err(bad_field("reason", "must be at most 500 characters"));
        }
        let mut tables = self.store.lock();
        let order = tables
            .orders
            .get(&request.order_id)
            .cloned()
            .ok_or_else(|| not_found(RESOURCE, &request.order_id))?;
        match OrderStatus::try_from(order.status) {
            // Cancelling twice is harmless: answer with the order as it is.
            Ok(OrderStatus::Cancelled) => {
                return Ok(Response::new(CancelOrderResponse { order: Some(order) }));
            }
            Ok(OrderStatus::Pending | OrderStatus::Paid) => {}
            Ok(status) => {
                return Err(failed_precondition(
                    format!(
                        "order {:?} is {} and can no longer be cancelled",
                        order.order_id,
                        status.as_str_name()
                    ),
                    "ORDER_STATUS",
                    &format!("orders/{}", order.order_id),
                ));
            }
            Err(_) => {
                return Err(Status::internal(format!(
                    "order {:?} has an unknown status",
                    order.order_id
                )));
            }
        }
        for item in &order.line_items {
            if let Some(product) = tables.products.get_mut(&item.product_id) {
                product.stock = product.stock.saturating_add(item.quantity);
            }
        }
        for payment in tables.payments.values_mut() {
            if payment.order_id == order.order_id
                && payment.status == PaymentStatus::Succeeded as i32
            {
                payment.status = PaymentStatus::Refunded as i32;
            }
        }
        let order = tables
            .orders
            .get_mut(&request.order_id)
            .ok_or_else(|| not_found(RESOURCE, &request.order_id))?;
        order.status = OrderStatus::Cancelled as i32;
        Ok(Response::new(CancelOrderResponse {
            order: Some(order.clone()),
        }))
    }

    type WatchOrdersStream = OrderUpdates;

    /// Streams the user's orders as they are now, in id order, `WATCH_PAUSE` apart, then ends.
    async fn watch_orders(
        &self,
        request: Request<WatchOrdersRequest>,
    ) -> Result<Response<Self::WatchOrdersStream>, Status> {
        let user_id = request.into_inner().user_id;
        if user_id.is_empty() {
            return Err(bad_field("user_id", "is required"));
        }
        let tables = self.store.lock();
        if !tables.users.contains_key(&user_id) {
            return Err(not_found("users.v1.User", &user_id));
        }
        let updates: Vec<_> = tables
            .orders
            .values()
            .filter(|order| order.user_id == user_id)
            .map(|order| {
                Ok(WatchOrdersResponse {
                    order: Some(order.clone()),
                })
            })
            .collect();
        let paced = stream::iter(updates)
            .enumerate()
            .then(|(i, update)| async move {
                if i > 0 {
                    tokio::time::sleep(WATCH_PAUSE).await;
                }
                update
            });
        Ok(Response::new(Box::pin(paced)))
    }
}

/// Field checks for CreateOrder that need no data.
fn validate_create(request: &CreateOrderRequest) -> Result<(), Status> {
    let mut violations = Violations::default();
    if request.user_id.is_empty() {
        violations.add("user_id", "is required");
    }
    if request.line_items.is_empty() {
        violations.add("line_items", "at least one item is required");
    } else if request.line_items.len() > MAX_LINE_ITEMS {
        violations.add(
            "line_items",
            format!("at most {MAX_LINE_ITEMS} items per order"),
        );
    }
    for (i, item) in request.line_items.iter().enumerate() {
        if item.product_id.is_empty() {
            violations.add(format!("line_items[{i}].product_id"), "is required");
        }
        if !(1..=MAX_QUANTITY).contains(&item.quantity) {
            violations.add(
                format!("line_items[{i}].quantity"),
                format!("must be between 1 and {MAX_QUANTITY}"),
            );
        }
    }
    violations.check()
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt;
    use tonic::Code;

    use super::*;

    fn item(product_id: &str, quantity: i32) -> LineItem {
        LineItem {
            product_id: product_id.to_owned(),
            quantity,
            unit_price_cents: 0,
        }
    }

    fn create(user_id: &str, items: Vec<LineItem>) -> Request<CreateOrderRequest> {
        Request::new(CreateOrderRequest {
            user_id: user_id.to_owned(),
            line_items: items,
        })
    }

    #[tokio::test]
    async fn create_prices_order_and_takes_stock() {
        let store = DemoStore::seeded();
        let backend = OrderBackend::new(store.clone());
        let order = backend
            .create_order(create("124", vec![item("p-101", 2), item("p-102", 1)]))
            .await
            .expect("created")
            .into_inner()
            .order
            .expect("order");
        assert_eq!(order.order_id, "o-1006");
        assert_eq!(order.total_cents, 2 * 2_999 + 1_299);
        assert_eq!(order.status, OrderStatus::Pending as i32);
        assert_eq!(store.product("p-101").expect("p-101").stock, 118);
    }

    #[tokio::test]
    async fn create_checks_references() {
        let backend = OrderBackend::new(DemoStore::seeded());
        let cases = [
            (create("999", vec![item("p-100", 1)]), Code::NotFound),
            (create("123", vec![item("p-999", 1)]), Code::NotFound),
            (
                create("123", vec![item("p-106", 1)]),
                Code::FailedPrecondition,
            ),
            (create("123", vec![item("p-100", 0)]), Code::InvalidArgument),
            (create("", vec![]), Code::InvalidArgument),
        ];
        for (request, code) in cases {
            let err = backend.create_order(request).await.expect_err("must fail");
            assert_eq!(err.code(), code, "{}", err.message());
        }
    }

    #[tokio::test]
    async fn cancel_follows_the_life_cycle() {
        let store = DemoStore::seeded();
        let backend = OrderBackend::new(store.clone());
        let cancel = |id: &str| {
            Request::new(CancelOrderRequest {
                order_id: id.to_owned(),
                reason: String::new(),
            })
        };
        let err = backend
            .cancel_order(cancel("o-1002"))
            .await
            .expect_err("shipped");
        assert_eq!(err.code(), Code::FailedPrecondition);

        let order = backend.cancel_order(cancel("o-1004")).await.expect("paid");
        let order = order.into_inner().order.expect("order");
        assert_eq!(order.status, OrderStatus::Cancelled as i32);
        let refunded = store.payment("pay-5003").expect("payment").status;
        assert_eq!(refunded, PaymentStatus::Refunded as i32);
        assert_eq!(store.product("p-103").expect("p-103").stock, 10);
    }

    #[tokio::test]
    async fn list_filters_by_user_and_watch_streams_the_same_orders() {
        let backend = OrderBackend::new(DemoStore::seeded());
        let listed = backend
            .list_orders(Request::new(ListOrdersRequest {
                user_id: "123".into(),
                page_size: 0,
                page_token: String::new(),
            }))
            .await
            .expect("list")
            .into_inner();
        let listed: Vec<_> = listed.orders.into_iter().map(|o| o.order_id).collect();
        assert_eq!(listed, ["o-1001", "o-1002", "o-1003"]);

        let watched = backend
            .watch_orders(Request::new(WatchOrdersRequest {
                user_id: "123".into(),
            }))
            .await
            .expect("watch")
            .into_inner()
            .map(|update| update.expect("update").order.expect("order").order_id)
            .collect::<Vec<_>>()
            .await;
        assert_eq!(watched, listed);
    }
}
