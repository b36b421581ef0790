//! The shared in-memory tables, the deterministic seed data and the paging helper.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::wkt::Timestamp;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use tokio::sync::broadcast;
use tonic::Status;

use super::bad_field;
use crate::proto::google::api::HttpBody;
use crate::proto::orders::v1::{LineItem, Order, OrderEvent, OrderStatus};
use crate::proto::payments::v1::{Payment, PaymentStatus};
use crate::proto::products::v1::Product;
use crate::proto::users::v1::{User, UserTier};

/// Page size used when a list request asks for 0.
pub(crate) const DEFAULT_PAGE_SIZE: usize = 10;
/// Larger page sizes are capped to this.
pub(crate) const MAX_PAGE_SIZE: usize = 100;

/// Seed timestamps count from 2025-01-15T09:00:00Z.
const SEED_EPOCH: i64 = 1_736_931_600;
const DAY: i64 = 86_400;

/// Shared in-memory data behind the demo backends.
///
/// Cloning is cheap and every clone sees the same data. [`DemoStore::seeded`] gives the
/// deterministic seed data; [`DemoStore::empty`] gives empty tables. A panic while the data is
/// locked does not poison it: later calls go on with the data as it was left.
#[derive(Clone, Debug)]
pub struct DemoStore {
    tables: Arc<Mutex<Tables>>,
    /// Every order placed or changed, for `FollowOrders`.
    changes: broadcast::Sender<OrderChange>,
}

/// An order just placed or changed, as followers see it.
pub(crate) type OrderChange = (OrderEvent, Order);

/// Changes kept for a follower that reads slowly; one that falls further behind skips them.
const CHANGES_KEPT: usize = 256;

impl Default for DemoStore {
    fn default() -> Self {
        DemoStore {
            tables: Arc::default(),
            changes: broadcast::channel(CHANGES_KEPT).0,
        }
    }
}

/// Everything the four services hold, keyed by id (so lists are ordered by id).
#[derive(Debug, Default)]
pub(crate) struct Tables {
    pub(crate) users: BTreeMap<String, User>,
    pub(crate) products: BTreeMap<String, Product>,
    /// Product id → its image, as uploaded.
    pub(crate) product_images: BTreeMap<String, HttpBody>,
    pub(crate) orders: BTreeMap<String, Order>,
    pub(crate) payments: BTreeMap<String, Payment>,
    /// Idempotency key → payment id.
    pub(crate) payment_requests: HashMap<String, String>,
    next_user: u64,
    next_order: u64,
    next_payment: u64,
}

impl Tables {
    /// A fresh user id such as `"127"`.
    pub(crate) fn new_user_id(&mut self) -> String {
        next_id(&mut self.next_user, "", &self.users)
    }

    /// A fresh order id such as `"o-1006"`.
    pub(crate) fn new_order_id(&mut self) -> String {
        next_id(&mut self.next_order, "o-", &self.orders)
    }

    /// A fresh payment id such as `"pay-5004"`.
    pub(crate) fn new_payment_id(&mut self) -> String {
        next_id(&mut self.next_payment, "pay-", &self.payments)
    }
}

/// Skips counter values already taken, so an empty store and a seeded one both work.
fn next_id<T>(counter: &mut u64, prefix: &str, taken: &BTreeMap<String, T>) -> String {
    loop {
        *counter += 1;
        let id = format!("{prefix}{counter}");
        if !taken.contains_key(&id) {
            return id;
        }
    }
}

impl DemoStore {
    /// Empty tables; new ids start at `1`, `o-1`, `pay-1`.
    pub fn empty() -> Self {
        Self::default()
    }

    /// The deterministic seed data (see the [module docs](super)):
    ///
    /// - users `123` (Ada Lovelace, has orders), `124`, `125` (have orders), `126` (no orders);
    /// - products `p-100`–`p-107` in USD; `p-106` is out of stock;
    /// - orders `o-1001` (user 123, delivered), `o-1002` (123, shipped), `o-1003` (123, pending),
    ///   `o-1004` (124, paid), `o-1005` (125, cancelled);
    /// - payments `pay-5001`, `pay-5002`, `pay-5003` for `o-1001`, `o-1002`, `o-1004`.
    ///
    /// New ids continue at `127`, `o-1006` and `pay-5004`.
    pub fn seeded() -> Self {
        let store = Self::default();
        seed(&mut store.lock());
        store
    }

    /// Locks the tables. Holders never await, so a plain mutex is enough.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Tables> {
        self.tables.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Tells the followers of orders that `order` was placed or changed.
    pub(crate) fn order_changed(&self, event: OrderEvent, order: &Order) {
        // No follower is no error.
        let _ = self.changes.send((event, order.clone()));
    }

    /// The orders placed or changed from now on.
    pub(crate) fn order_changes(&self) -> broadcast::Receiver<OrderChange> {
        self.changes.subscribe()
    }

    /// A copy of user `user_id`, if it exists.
    pub fn user(&self, user_id: &str) -> Option<User> {
        self.lock().users.get(user_id).cloned()
    }

    /// A copy of product `product_id`, if it exists.
    pub fn product(&self, product_id: &str) -> Option<Product> {
        self.lock().products.get(product_id).cloned()
    }

    /// A copy of order `order_id`, if it exists.
    pub fn order(&self, order_id: &str) -> Option<Order> {
        self.lock().orders.get(order_id).cloned()
    }

    /// A copy of payment `payment_id`, if it exists.
    pub fn payment(&self, payment_id: &str) -> Option<Payment> {
        self.lock().payments.get(payment_id).cloned()
    }
}

/// The current wall-clock time as a protobuf timestamp.
pub(crate) fn now() -> Timestamp {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Timestamp {
        seconds: i64::try_from(since_epoch.as_secs()).unwrap_or(i64::MAX),
        // Always below 1e9, so it fits.
        nanos: i32::try_from(since_epoch.subsec_nanos()).unwrap_or(0),
    }
}

fn seed_time(days: i64) -> Option<Timestamp> {
    Some(Timestamp {
        seconds: SEED_EPOCH + days * DAY,
        nanos: 0,
    })
}

/// Users: id, email, display name, tier, login count.
#[rustfmt::skip]
const SEED_USERS: [(&str, &str, &str, UserTier, i64); 4] = [
    ("123", "ada@example.com",    "Ada Lovelace",    UserTier::Pro,        42),
    ("124", "grace@example.com",  "Grace Hopper",    UserTier::Enterprise, 7),
    ("125", "alan@example.com",   "Alan Turing",     UserTier::Free,       1),
    ("126", "edsger@example.com", "Edsger Dijkstra", UserTier::Free,       0),
];

/// A seed product (all USD): id, name, description, price in cents, stock, tags.
type SeedProduct = (
    &'static str,
    &'static str,
    &'static str,
    i64,
    i32,
    &'static [&'static str],
);

#[rustfmt::skip]
const SEED_PRODUCTS: [SeedProduct; 8] = [
    ("p-100", "Mechanical keyboard", "Tenkeyless, brown switches", 8_999, 25, &["hardware", "input"]),
    ("p-101", "Wireless mouse", "Two buttons and a wheel", 2_999, 120, &["hardware", "input"]),
    ("p-102", "USB-C cable", "Two metres, 100 W", 1_299, 500, &["accessory", "cable"]),
    ("p-103", "27-inch monitor", "2560x1440, 144 Hz", 32_900, 8, &["hardware", "display"]),
    ("p-104", "Laptop stand", "Aluminium, adjustable", 4_550, 40, &["accessory"]),
    ("p-105", "Noise-cancelling headphones", "Over-ear, 30 h battery", 24_900, 15, &["audio", "hardware"]),
    ("p-106", "Webcam", "1080p with privacy shutter", 6_900, 0, &["hardware", "video"]),
    ("p-107", "Desk lamp", "Warm white LED", 3_900, 60, &["accessory", "lighting"]),
];

/// A seed order: id, user, (product, quantity) items, status, days after the seed epoch.
type SeedOrder = (
    &'static str,
    &'static str,
    &'static [(&'static str, i32)],
    OrderStatus,
    i64,
);

#[rustfmt::skip]
const SEED_ORDERS: [SeedOrder; 5] = [
    ("o-1001", "123", &[("p-100", 1), ("p-102", 2)], OrderStatus::Delivered, 1),
    ("o-1002", "123", &[("p-105", 1)],               OrderStatus::Shipped,   2),
    ("o-1003", "123", &[("p-101", 1), ("p-104", 1)], OrderStatus::Pending,   3),
    ("o-1004", "124", &[("p-103", 2)],               OrderStatus::Paid,      4),
    ("o-1005", "125", &[("p-107", 1)],               OrderStatus::Cancelled, 5),
];

/// Payments (each settles its order in full): id, order.
const SEED_PAYMENTS: [(&str, &str); 3] = [
    ("pay-5001", "o-1001"),
    ("pay-5002", "o-1002"),
    ("pay-5003", "o-1004"),
];

fn seed(t: &mut Tables) {
    for (day, (id, email, name, tier, logins)) in (0..).zip(SEED_USERS) {
        t.users.insert(
            id.to_owned(),
            User {
                user_id: id.to_owned(),
                email: email.to_owned(),
                display_name: name.to_owned(),
                tier: tier as i32,
                create_time: seed_time(day - 30),
                login_count: logins,
            },
        );
    }
    t.next_user = 126;

    for (id, name, description, price, stock, tags) in SEED_PRODUCTS {
        t.products.insert(
            id.to_owned(),
            Product {
                product_id: id.to_owned(),
                name: name.to_owned(),
                description: description.to_owned(),
                price_cents: price,
                currency: "USD".to_owned(),
                stock,
                tags: tags.iter().map(|tag| (*tag).to_owned()).collect(),
            },
        );
    }

    for (id, user_id, items, status, day) in SEED_ORDERS {
        let line_items: Vec<LineItem> = items
            .iter()
            .map(|&(product_id, quantity)| LineItem {
                product_id: product_id.to_owned(),
                quantity,
                unit_price_cents: t.products.get(product_id).map_or(0, |p| p.price_cents),
            })
            .collect();
        let total_cents = line_items
            .iter()
            .map(|item| item.unit_price_cents * i64::from(item.quantity))
            .sum();
        t.orders.insert(
            id.to_owned(),
            Order {
                order_id: id.to_owned(),
                user_id: user_id.to_owned(),
                line_items,
                status: status as i32,
                total_cents,
                currency: "USD".to_owned(),
                create_time: seed_time(day),
            },
        );
    }
    t.next_order = 1005;

    for (id, order_id) in SEED_PAYMENTS {
        let Some(order) = t.orders.get(order_id) else {
            continue;
        };
        let request_id = format!("seed-{id}");
        t.payment_requests.insert(request_id.clone(), id.to_owned());
        let payment = Payment {
            payment_id: id.to_owned(),
            order_id: order_id.to_owned(),
            amount_cents: order.total_cents,
            currency: order.currency.clone(),
            status: PaymentStatus::Succeeded as i32,
            request_id,
            create_time: order.create_time,
        };
        t.payments.insert(id.to_owned(), payment);
    }
    t.next_payment = 5003;
}

/// One page of a list, with the token for the next one (empty on the last page).
#[derive(Debug)]
pub(crate) struct Page<T> {
    pub(crate) items: Vec<T>,
    pub(crate) next_page_token: String,
}

/// Takes the page of `rows` (ordered by id) that `page_token` points at, keeping only rows for
/// which `keep` holds.
///
/// `scope` describes the request's filters; a token is refused (INVALID_ARGUMENT) when it was
/// issued for another scope, so changing the filter between pages is an error rather than a
/// silently wrong page. Tokens are opaque to clients: base64url of the last id and the scope.
pub(crate) fn page<T: Clone>(
    rows: &BTreeMap<String, T>,
    keep: impl Fn(&T) -> bool,
    scope: &str,
    page_size: i32,
    page_token: &str,
) -> Result<Page<T>, Status> {
    let size = match usize::try_from(page_size) {
        Ok(0) => DEFAULT_PAGE_SIZE,
        Ok(n) => n.min(MAX_PAGE_SIZE),
        Err(_) => return Err(bad_field("page_size", "must not be negative")),
    };
    let start = if page_token.is_empty() {
        Bound::Unbounded
    } else {
        Bound::Excluded(decode_token(page_token, scope)?)
    };

    let mut matching = rows
        .range::<String, _>((start, Bound::Unbounded))
        .filter(|(_, row)| keep(row));
    let mut items = Vec::with_capacity(size);
    let mut last_id = None;
    for (id, row) in matching.by_ref().take(size) {
        items.push(row.clone());
        last_id = Some(id);
    }
    let next_page_token = match (last_id, matching.next()) {
        (Some(last_id), Some(_)) => encode_token(last_id, scope),
        _ => String::new(),
    };
    Ok(Page {
        items,
        next_page_token,
    })
}

fn encode_token(last_id: &str, scope: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{last_id}\n{scope}"))
}

fn decode_token(token: &str, scope: &str) -> Result<String, Status> {
    let invalid = || bad_field("page_token", "not a page token issued by this service");
    let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let (last_id, token_scope) = text.split_once('\n').ok_or_else(invalid)?;
    if token_scope != scope {
        return Err(bad_field(
            "page_token",
            "issued for a request with different filters",
        ));
    }
    Ok(last_id.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(n: usize) -> BTreeMap<String, usize> {
        (0..n).map(|i| (format!("k{i:02}"), i)).collect()
    }

    #[test]
    fn pages_cover_every_row_once() {
        let rows = rows(7);
        let mut seen = Vec::new();
        let mut token = String::new();
        loop {
            let page = page(&rows, |_| true, "all", 3, &token).expect("page");
            seen.extend(page.items);
            if page.next_page_token.is_empty() {
                break;
            }
            token = page.next_page_token;
        }
        assert_eq!(seen, (0..7).collect::<Vec<_>>());
    }

    #[test]
    fn exact_multiple_has_no_trailing_empty_page() {
        let first = page(&rows(4), |_| true, "all", 2, "").expect("page");
        let second = page(&rows(4), |_| true, "all", 2, &first.next_page_token).expect("page");
        assert_eq!(second.items, vec![2, 3]);
        assert!(second.next_page_token.is_empty());
    }

    #[test]
    fn filter_applies_across_pages() {
        let first = page(&rows(10), |i| i % 3 == 0, "odd", 2, "").expect("page");
        assert_eq!(first.items, vec![0, 3]);
        let second = page(&rows(10), |i| i % 3 == 0, "odd", 2, &first.next_page_token);
        assert_eq!(second.expect("page").items, vec![6, 9]);
    }

    #[test]
    fn bad_tokens_and_sizes_are_invalid_argument() {
        let rows = rows(5);
        let token = page(&rows, |_| true, "a", 1, "")
            .expect("page")
            .next_page_token;
        for (size, token) in [(1, "%%%"), (1, "aGVsbG8"), (1, token.as_str()), (-1, "")] {
            let err = page(&rows, |_| true, "b", size, token).expect_err("must fail");
            assert_eq!(err.code(), tonic::Code::InvalidArgument, "{size} {token}");
        }
    }

    #[test]
    fn seed_is_consistent() {
        let store = DemoStore::seeded();
        let t = store.lock();
        for order in t.orders.values() {
            assert!(t.users.contains_key(&order.user_id), "{}", order.order_id);
            for item in &order.line_items {
                assert!(t.products.contains_key(&item.product_id));
            }
        }
        for payment in t.payments.values() {
            let order = &t.orders[&payment.order_id];
            assert_eq!(payment.amount_cents, order.total_cents);
        }
        assert_eq!(t.orders["o-1001"].total_cents, 8_999 + 2 * 1_299);
    }

    #[test]
    fn new_ids_continue_after_the_seed() {
        let store = DemoStore::seeded();
        let mut t = store.lock();
        assert_eq!(t.new_user_id(), "127");
        assert_eq!(t.new_order_id(), "o-1006");
        assert_eq!(t.new_payment_id(), "pay-5004");
    }
}
