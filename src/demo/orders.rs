//! `orders.v1.OrderService` over the demo store.

use std::ops::Bound;
use std::pin::Pin;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat};
use futures_util::{Stream, StreamExt as _, future, stream};
use tokio::sync::broadcast;
use tonic::{Request, Response, Status, Streaming};

use super::csv::{self, CSV_CONTENT_TYPE};
use super::store::{self, DemoStore, Tables};
use super::{Violations, bad_field, failed_precondition, not_found};
use crate::proto::google::api::HttpBody;
use crate::proto::orders::v1::order_service_server::OrderService;
use crate::proto::orders::v1::{
    CancelOrderRequest, CancelOrderResponse, CreateOrderRequest, CreateOrderResponse,
    ExportOrdersRequest, FollowOrdersRequest, FollowOrdersResponse, GetInvoiceRequest,
    GetOrderRequest, GetOrderResponse, LineItem, ListOrdersRequest, ListOrdersResponse, Order,
    OrderEvent, OrderStatus, WatchOrdersRequest, WatchOrdersResponse,
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
/// The stream of `FollowOrders`.
pub type OrderFeed = Pin<Box<dyn Stream<Item = Result<FollowOrdersResponse, Status>> + Send>>;

/// Messages of a `FollowOrders` call waiting for the client.
const FEED_BUFFER: usize = 16;

/// The orders that match `filter` now, in id order; NOT_FOUND for a user that does not exist.
fn current_orders(store: &DemoStore, filter: &FollowOrdersRequest) -> Result<Vec<Order>, Status> {
    let tables = store.lock();
    if !filter.user_id.is_empty() && !tables.users.contains_key(&filter.user_id) {
        return Err(not_found("users.v1.User", &filter.user_id));
    }
    Ok(tables
        .orders
        .values()
        .filter(|order| matches(filter, order))
        .cloned()
        .collect())
}

/// Whether `order` is one `filter` follows.
fn matches(filter: &FollowOrdersRequest, order: &Order) -> bool {
    (filter.user_id.is_empty() || filter.user_id == order.user_id)
        && (filter.status == OrderStatus::Unspecified as i32 || filter.status == order.status)
}

fn follow(event: OrderEvent, order: Order) -> FollowOrdersResponse {
    FollowOrdersResponse {
        event: event as i32,
        order: Some(order),
    }
}

/// The CSV document `ExportOrders` streams, one piece per message.
pub type OrderExport = Pin<Box<dyn Stream<Item = Result<HttpBody, Status>> + Send>>;

/// The columns of an invoice: one row per line item, then a `total` row.
const INVOICE_HEADER: [&str; 6] = [
    "product_id",
    "name",
    "quantity",
    "unit_price",
    "amount",
    "currency",
];
/// The columns of an export: one row per order.
const EXPORT_HEADER: [&str; 7] = [
    "order_id",
    "user_id",
    "status",
    "items",
    "total",
    "currency",
    "create_time",
];

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
        self.store.order_changed(OrderEvent::Created, &order);
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
        self.store.order_changed(OrderEvent::Changed, order);
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

    type FollowOrdersStream = OrderFeed;

    /// Sends the orders matching each filter the client sets, then every change that matches
    /// the latest one, until the client ends its requests or goes away.
    async fn follow_orders(
        &self,
        request: Request<Streaming<FollowOrdersRequest>>,
    ) -> Result<Response<Self::FollowOrdersStream>, Status> {
        let mut requests = request.into_inner();
        // Subscribed before the first snapshot, so no change falls between the two.
        let mut changes = self.store.order_changes();
        let store = self.store.clone();
        let (out, feed) = tokio::sync::mpsc::channel(FEED_BUFFER);
        tokio::spawn(async move {
            let mut filter: Option<FollowOrdersRequest> = None;
            loop {
                let sent = tokio::select! {
                    request = requests.message() => match request {
                        Ok(Some(wanted)) => match current_orders(&store, &wanted) {
                            Ok(now) => {
                                filter = Some(wanted);
                                let mut sent = true;
                                for order in now {
                                    let event = OrderEvent::Current;
                                    sent = out.send(Ok(follow(event, order))).await.is_ok();
                                    if !sent {
                                        break;
                                    }
                                }
                                sent
                            }
                            Err(status) => {
                                let _ = out.send(Err(status)).await;
                                false
                            }
                        },
                        // The client ended its requests (or the call broke): the call ends.
                        Ok(None) | Err(_) => false,
                    },
                    change = changes.recv() => match change {
                        Ok((event, order)) if filter.as_ref().is_some_and(|f| matches(f, &order)) => {
                            out.send(Ok(follow(event, order))).await.is_ok()
                        }
                        // Not wanted, or this follower fell behind and skips what it missed.
                        Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => true,
                        Err(broadcast::error::RecvError::Closed) => false,
                    },
                };
                if !sent {
                    return;
                }
            }
        });
        let feed = tonic::codegen::tokio_stream::wrappers::ReceiverStream::new(feed);
        Ok(Response::new(Box::pin(feed)))
    }

    async fn get_invoice(
        &self,
        request: Request<GetInvoiceRequest>,
    ) -> Result<Response<HttpBody>, Status> {
        let order_id = request.into_inner().order_id;
        if order_id.is_empty() {
            return Err(bad_field("order_id", "is required"));
        }
        let tables = self.store.lock();
        let order = tables
            .orders
            .get(&order_id)
            .ok_or_else(|| not_found(RESOURCE, &order_id))?;
        Ok(Response::new(csv_body(invoice(order, &tables))))
    }

    type ExportOrdersStream = OrderExport;

    /// The header row, then one row per order, each looked up after the previous one was taken:
    /// nothing is copied ahead of the reader, and orders placed meanwhile with a higher id are
    /// included.
    async fn export_orders(
        &self,
        request: Request<ExportOrdersRequest>,
    ) -> Result<Response<Self::ExportOrdersStream>, Status> {
        let user_id = request.into_inner().user_id;
        if !user_id.is_empty() && self.store.user(&user_id).is_none() {
            return Err(not_found("users.v1.User", &user_id));
        }
        let header = csv_body(csv::row(EXPORT_HEADER));
        let store = self.store.clone();
        let rows = stream::unfold(Bound::Unbounded, move |after: Bound<String>| {
            let next = next_export_row(&store.lock(), &user_id, after);
            future::ready(next.map(|(row, order_id)| {
                let piece = HttpBody {
                    data: row.into_bytes(),
                    ..HttpBody::default()
                };
                (Ok(piece), Bound::Excluded(order_id))
            }))
        });
        let export = stream::once(future::ready(Ok(header))).chain(rows);
        Ok(Response::new(Box::pin(export)))
    }
}

/// `text` as a CSV body.
fn csv_body(text: String) -> HttpBody {
    HttpBody {
        content_type: CSV_CONTENT_TYPE.to_owned(),
        data: text.into_bytes(),
        extensions: Vec::new(),
    }
}

/// The invoice of `order`, naming its products as `tables` has them now.
fn invoice(order: &Order, tables: &Tables) -> String {
    let mut text = csv::row(INVOICE_HEADER);
    let mut units: i64 = 0;
    for item in &order.line_items {
        let name = tables
            .products
            .get(&item.product_id)
            .map_or("", |p| p.name.as_str());
        let amount = item
            .unit_price_cents
            .saturating_mul(i64::from(item.quantity));
        units += i64::from(item.quantity);
        text.push_str(&csv::row([
            item.product_id.as_str(),
            name,
            &item.quantity.to_string(),
            &csv::amount(item.unit_price_cents),
            &csv::amount(amount),
            &order.currency,
        ]));
    }
    text.push_str(&csv::row([
        "total",
        "",
        &units.to_string(),
        "",
        &csv::amount(order.total_cents),
        &order.currency,
    ]));
    text
}

/// The export row of the first order after `after` (of `user_id`, unless empty), and its id.
fn next_export_row(
    tables: &Tables,
    user_id: &str,
    after: Bound<String>,
) -> Option<(String, String)> {
    let (order_id, order) = tables
        .orders
        .range::<String, _>((after, Bound::Unbounded))
        .find(|(_, order)| user_id.is_empty() || order.user_id == user_id)?;
    let status = OrderStatus::try_from(order.status).map_or_else(
        |_| order.status.to_string(),
        |s| {
            let name = s.as_str_name();
            name.strip_prefix("ORDER_STATUS_")
                .unwrap_or(name)
                .to_ascii_lowercase()
        },
    );
    let items: i64 = order.line_items.iter().map(|i| i64::from(i.quantity)).sum();
    let created = order
        .create_time
        .and_then(|t| DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).ok()?))
        .map(|t| t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
        .unwrap_or_default();
    let row = csv::row([
        order_id.as_str(),
        &order.user_id,
        &status,
        &items.to_string(),
        &csv::amount(order.total_cents),
        &order.currency,
        &created,
    ]);
    Some((row, order_id.clone()))
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

    fn text(body: &HttpBody) -> &str {
        std::str::from_utf8(&body.data).expect("UTF-8")
    }

    #[tokio::test]
    async fn invoice_lists_the_items_and_the_total_as_csv() {
        let backend = OrderBackend::new(DemoStore::seeded());
        let invoice = |id: &str| {
            Request::new(GetInvoiceRequest {
                order_id: id.to_owned(),
            })
        };
        let body = backend
            .get_invoice(invoice("o-1001"))
            .await
            .expect("invoice")
            .into_inner();
        assert_eq!(body.content_type, "text/csv; charset=utf-8");
        assert_eq!(
            text(&body),
            "product_id,name,quantity,unit_price,amount,currency\r\n\
             p-100,Mechanical keyboard,1,89.99,89.99,USD\r\n\
             p-102,USB-C cable,2,12.99,25.98,USD\r\n\
             total,,3,,115.97,USD\r\n"
        );

        let err = backend
            .get_invoice(invoice("o-404"))
            .await
            .expect_err("unknown");
        assert_eq!(err.code(), Code::NotFound);
        let err = backend.get_invoice(invoice("")).await.expect_err("empty");
        assert_eq!(err.code(), Code::InvalidArgument);
    }

    #[tokio::test]
    async fn export_streams_a_header_then_one_row_per_order() {
        let backend = OrderBackend::new(DemoStore::seeded());
        let export = |user_id: &str| {
            Request::new(ExportOrdersRequest {
                user_id: user_id.to_owned(),
            })
        };
        let pieces: Vec<HttpBody> = backend
            .export_orders(export(""))
            .await
            .expect("export")
            .into_inner()
            .map(|piece| piece.expect("piece"))
            .collect()
            .await;
        assert_eq!(pieces.len(), 6);
        assert_eq!(pieces[0].content_type, "text/csv; charset=utf-8");
        assert_eq!(
            text(&pieces[0]),
            "order_id,user_id,status,items,total,currency,create_time\r\n"
        );
        assert_eq!(
            text(&pieces[1]),
            "o-1001,123,delivered,3,115.97,USD,2025-01-16T09:00:00Z\r\n"
        );
        assert!(pieces[1..].iter().all(|p| p.content_type.is_empty()));
        let ids: Vec<&str> = pieces[1..]
            .iter()
            .map(|p| text(p).split(',').next().expect("id"))
            .collect();
        assert_eq!(ids, ["o-1001", "o-1002", "o-1003", "o-1004", "o-1005"]);

        let rows = backend
            .export_orders(export("124"))
            .await
            .expect("export")
            .into_inner()
            .count()
            .await;
        assert_eq!(rows, 2, "the header and o-1004");
        let err = backend
            .export_orders(export("999"))
            .await
            .err()
            .expect("unknown user");
        assert_eq!(err.code(), Code::NotFound);
    }

    #[tokio::test]
    async fn export_reads_each_order_only_when_it_is_sent() {
        let store = DemoStore::seeded();
        let backend = OrderBackend::new(store.clone());
        let mut pieces = backend
            .export_orders(Request::new(ExportOrdersRequest::default()))
            .await
            .expect("export")
            .into_inner();
        for _ in 0..2 {
            pieces.next().await.expect("piece").expect("ok");
        }
        backend
            .create_order(create("126", vec![item("p-107", 1)]))
            .await
            .expect("created while exporting");
        let rest: Vec<String> = pieces
            .map(|p| text(&p.expect("piece")).to_owned())
            .collect()
            .await;
        assert_eq!(rest.len(), 5, "{rest:?}");
        assert!(
            rest[4].starts_with("o-1006,126,pending,1,39.00,USD,"),
            "{rest:?}"
        );
    }
}
