//! The gateway's hot pieces, in process and without sockets, each through the same calls the
//! REST handler (`Gateway::call` in `src/rest/mod.rs`) makes:
//!
//! - route match: `RouteMatcher::find` over 270 templates (the 30 compiled bindings and 240
//!   synthetic ones of realistic shapes), for a typical hit, a late deep hit, a `**` tail, a
//!   deep 404 and a 405;
//! - request build: path bindings + query string + JSON body → encoded request message, by the
//!   binding's generated `MethodCodec::build_request`;
//! - response render: encoded response → proto3 JSON body, by `MethodCodec::render_response`,
//!   for GetUser and for ListOrders with 20 orders;
//! - error mapping: a backend's `tonic::Status` → `upstream::status_error` → the JSON error
//!   response (`into_response`), for several codes;
//! - the whole transcode path: match + build + render, everything but the backend call.
//!
//! Request build, response render and the transcode path are measured twice: with the
//! generated codec, and with the dynamic codec a run-time schema would use for the same
//! binding (`transcode::dynamic::DynamicCodec`), whose budget is 1.25x the generated one.
//!
//! Before criterion runs, a counting global allocator gives the allocations and bytes per
//! operation of each piece, averaged over 10,000 operations, printed as a table.
//!
//! `cargo bench --bench hot_path` prints the figures; no figure is asserted (only that each
//! case routes as its name says). Short runs:
//! `cargo bench --bench hot_path -- --warm-up-time 1 --measurement-time 3`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use bytes::Bytes;
use criterion::{BatchSize, Criterion};
use gatehouse::http_rule::{Binding, PathMatch, PathTemplate, RouteMatcher};
use gatehouse::proto::google::rpc;
use gatehouse::proto::orders::v1::{LineItem, ListOrdersResponse, Order, OrderStatus};
use gatehouse::proto::users::v1::{GetUserResponse, User, UserTier};
use gatehouse::schema::{MethodCodec, RequestBody, RequestParts, RouteSpec};
use gatehouse::transcode::compiled::schema;
use gatehouse::transcode::dynamic::DynamicCodec;
use gatehouse::wkt::Timestamp;
use prost::Message;
use tonic::{Code, Status};

/// Operations averaged per row of the allocation table.
const COUNTED_OPS: u64 = 10_000;
/// Uncounted runs first, so one-time work (lazy statics, first-use caches) is not averaged in.
const WARM_UP_OPS: u64 = 100;

// ---------------------------------------------------------------------------------------------
// Allocation counting

/// `System`, counting allocations and the bytes asked for while `COUNTING` is on. Off, it costs
/// one relaxed load per call, so the criterion timings are not skewed by the counting.
struct CountingAllocator;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
static ALLOCATED_BYTES: AtomicU64 = AtomicU64::new(0);

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

impl CountingAllocator {
    fn record(size: usize) {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
            ALLOCATED_BYTES.fetch_add(size as u64, Ordering::Relaxed);
        }
    }
}

// SAFETY: every call is forwarded unchanged to `System`, which upholds the `GlobalAlloc`
// contract; the counters are atomics and never allocate.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        Self::record(layout.size());
        // SAFETY: the caller's guarantees for `layout` are passed on as they are.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        Self::record(layout.size());
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    /// A growth or shrink counts as one allocation of the new size: what it would cost as a
    /// fresh allocation.
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        Self::record(new_size);
        // SAFETY: `ptr` was allocated by `System` with `layout` (every allocation goes there).
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as for `realloc`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// Allocations and bytes per operation.
struct AllocationsPerOp {
    allocations: f64,
    bytes: f64,
}

/// Runs `op` on a fresh `setup()` input `COUNTED_OPS` times, counting only what `op` allocates
/// (not the setup, not the drop of its output). Single-threaded: nothing else runs yet.
fn allocations_per_op<I, O>(
    mut setup: impl FnMut() -> I,
    mut op: impl FnMut(I) -> O,
) -> AllocationsPerOp {
    for _ in 0..WARM_UP_OPS {
        black_box(op(setup()));
    }
    ALLOCATIONS.store(0, Ordering::SeqCst);
    ALLOCATED_BYTES.store(0, Ordering::SeqCst);
    for _ in 0..COUNTED_OPS {
        let input = setup();
        COUNTING.store(true, Ordering::SeqCst);
        let output = op(black_box(input));
        COUNTING.store(false, Ordering::SeqCst);
        drop(black_box(output));
    }
    AllocationsPerOp {
        allocations: ALLOCATIONS.load(Ordering::SeqCst) as f64 / COUNTED_OPS as f64,
        bytes: ALLOCATED_BYTES.load(Ordering::SeqCst) as f64 / COUNTED_OPS as f64,
    }
}

// ---------------------------------------------------------------------------------------------
// The route table

/// The value stored with each route: the compiled binding, or `None` for a synthetic route
/// (those are only ever matched, never transcoded).
type Target = Option<&'static RouteSpec>;

/// Resource collections of the synthetic API, one per fictitious service. None is a collection
/// the compiled protos already route under `/v1` (echo, files, shelves, ...).
const RESOURCES: [&str; 20] = [
    "accounts",
    "invoices",
    "subscriptions",
    "customers",
    "suppliers",
    "warehouses",
    "shipments",
    "returns",
    "coupons",
    "campaigns",
    "tickets",
    "agents",
    "reports",
    "dashboards",
    "alerts",
    "webhooks",
    "tenants",
    "regions",
    "clusters",
    "zones",
];

/// The bindings each synthetic service declares (`$r` is its collection): the shapes of
/// Google-style resource APIs, with every template form the grammar has.
const SHAPES: [(&str, &str); 12] = [
    ("GET", "/v1/$r"),
    ("POST", "/v1/$r"),
    ("GET", "/v1/$r/{id}"),
    ("PATCH", "/v1/$r/{resource.id}"),
    ("DELETE", "/v1/$r/{id}"),
    ("POST", "/v1/$r/{id}:archive"),
    ("GET", "/v1/$r:batchGet"),
    ("PUT", "/v1/$r/{id}/labels/{key}"),
    ("GET", "/v1/$r/{id}/attachments/{path=**}"),
    ("GET", "/v1/{parent=projects/*/locations/*}/$r"),
    ("GET", "/v1/{name=projects/*/locations/*/$r/*}"),
    ("POST", "/v1/{name=projects/*/locations/*/$r/*}:restore"),
];

/// Every compiled binding first (as `RouteTable::build` inserts them for a config serving
/// every service but the test directory, whose paths repeat the demo's and the echo
/// service's), then the synthetic services in `RESOURCES` order.
///
/// `RouteTable` itself needs a config and live backend pools, so the bench fills the
/// `RouteMatcher` that `RouteTable::find` delegates to; the lookup code is the same.
fn route_table() -> RouteMatcher<Target> {
    let compiled = schema()
        .bindings()
        .iter()
        .filter(|spec| spec.service != "gatehouse.directory.v1.DirectoryService")
        .map(|spec| {
            (
                spec.http_method.clone(),
                spec.template.clone(),
                Some(&**spec),
            )
        });
    let synthetic = RESOURCES.iter().flat_map(|resource| {
        SHAPES
            .iter()
            .map(move |(method, shape)| (method.to_string(), shape.replace("$r", resource), None))
    });
    let mut routes: Vec<(String, PathTemplate, Target)> = Vec::new();
    for (method, template, target) in compiled.chain(synthetic) {
        let template =
            PathTemplate::parse(&template).unwrap_or_else(|e| panic!("{method} {template}: {e}"));
        // The first inserted of two equivalent templates would shadow the other.
        let duplicate = routes
            .iter()
            .any(|(m, t, _)| *m == method && t.equivalent(&template));
        assert!(!duplicate, "{method} {template} is declared twice");
        routes.push((method, template, target));
    }
    let mut matcher = RouteMatcher::new();
    for (method, template, target) in routes {
        matcher.insert(&method, template, target);
    }
    matcher
}

/// Each lookup the route benches make, with the outcome it must have.
const LOOKUPS: [(&str, &str, &str, Outcome); 5] = [
    // The demo's most common call, on a route inserted early.
    ("typical_hit", "GET", "/api/users/123", Outcome::Found),
    // Seven segments to a multi-segment variable of the last synthetic service.
    (
        "late_deep_hit",
        "GET",
        "/v1/projects/p-7/locations/europe-west4/zones/z-42",
        Outcome::Found,
    ),
    // A `**` variable binding six segments, of the last synthetic service.
    (
        "double_star_tail",
        "GET",
        "/v1/zones/z-42/attachments/2024/q4/eu/west/summary/final.pdf",
        Outcome::Found,
    ),
    // Deep, nothing matches at the end, and the `:` makes the matcher try two readings.
    (
        "not_found_deep",
        "GET",
        "/v1/projects/p-7/locations/europe-west4/zones/z-42/snapshots/s-1:compare",
        Outcome::NotFound,
    ),
    // Matches only under GET: the second walk collects the allowed methods.
    (
        "method_not_allowed",
        "DELETE",
        "/v1/projects/p-7/locations/europe-west4/zones/z-42",
        Outcome::MethodNotAllowed,
    ),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Found,
    NotFound,
    MethodNotAllowed,
}

fn outcome(found: &PathMatch<'_, Target>) -> Option<Outcome> {
    match found {
        PathMatch::Found(_) => Some(Outcome::Found),
        PathMatch::NotFound => Some(Outcome::NotFound),
        PathMatch::MethodNotAllowed { .. } => Some(Outcome::MethodNotAllowed),
        PathMatch::BadPath(_) => None,
    }
}

// ---------------------------------------------------------------------------------------------
// Transcoding, as `Gateway::call` does it

/// The compiled binding `method template` (of the demo: the test directory repeats its paths).
fn compiled(method: &str, template: &str) -> &'static RouteSpec {
    schema()
        .bindings()
        .iter()
        .filter(|spec| spec.service != "gatehouse.directory.v1.DirectoryService")
        .find(|spec| spec.http_method == method && spec.template == template)
        .unwrap_or_else(|| panic!("no compiled binding {method} {template}"))
}

/// Which codec a bench runs.
#[derive(Clone, Copy)]
enum Codec {
    /// The binding's generated codec.
    Compiled,
    /// A `DynamicCodec` of the same binding, as a run-time schema would have.
    Dynamic,
}

impl Codec {
    fn name(self) -> &'static str {
        match self {
            Codec::Compiled => "compiled",
            Codec::Dynamic => "dynamic",
        }
    }
}

/// The dynamic codec of every compiled binding, made once (as a run-time schema makes them).
fn dynamic_codecs() -> Vec<DynamicCodec> {
    let pool = schema().descriptors();
    schema()
        .bindings()
        .iter()
        .map(|spec| {
            let method = pool
                .get_service_by_name(&spec.service)
                .and_then(|s| s.methods().find(|m| m.name() == spec.method))
                .expect("the binding's method is described");
            DynamicCodec::new(&method, spec.body.as_deref(), spec.response_body.as_deref())
                .expect("every compiled binding has a dynamic codec")
        })
        .collect()
}

/// The codec `codec` names for `spec` (for the dynamic one, a scan of the 30 compiled
/// bindings' addresses: a few nanoseconds of the transcode path).
fn codec_of<'a>(fx: &'a Fixtures, spec: &'a RouteSpec, codec: Codec) -> &'a dyn MethodCodec {
    match codec {
        Codec::Compiled => spec.codec.as_ref(),
        Codec::Dynamic => {
            let index = schema()
                .bindings()
                .iter()
                .position(|s| std::ptr::eq(&**s, spec))
                .expect("a compiled binding");
            &fx.dynamic[index]
        }
    }
}

/// The request message for `spec`, from the path bindings, query string and body.
fn build_request(
    codec: &dyn MethodCodec,
    spec: &RouteSpec,
    bindings: &[Binding<'_>],
    query: Option<&str>,
    body: &[u8],
) -> Bytes {
    let parts = RequestParts {
        bindings,
        query,
        body: RequestBody::Json(body),
        // The `[server]` default.
        ignore_unknown_query: false,
    };
    codec
        .build_request(spec, parts)
        .expect("the bench requests are valid")
}

/// The JSON body for the encoded response `message`.
fn render_response(codec: &dyn MethodCodec, message: &[u8]) -> Vec<u8> {
    // Sized as `Gateway::call` sizes it.
    let mut out = Vec::with_capacity(message.len() * 2 + 16);
    codec
        .render_response(message, &mut out)
        .expect("the bench responses render");
    out
}

/// The compiled binding `request` matches, its path bindings and its query string.
fn route<'t>(
    table: &'t RouteMatcher<Target>,
    request: &Request,
) -> (&'static RouteSpec, Vec<Binding<'t>>, Option<&'static str>) {
    let (path, query) = request.path_and_query();
    let PathMatch::Found(found) = table.find(request.method, path) else {
        panic!("{} {path} is routed", request.method);
    };
    let spec = found.value.expect("a compiled binding");
    (spec, found.bindings, query)
}

/// One REST call without the backend: match, build the request, render `response` as if the
/// backend had answered it.
fn transcode(fx: &Fixtures, codec: Codec, request: &Request, response: &[u8]) -> Vec<u8> {
    let (spec, bindings, query) = route(&fx.table, request);
    let codec = codec_of(fx, spec, codec);
    black_box(build_request(codec, spec, &bindings, query, request.body));
    render_response(codec, response)
}

/// A request of the bench: method, path with query, body.
struct Request {
    method: &'static str,
    target: &'static str,
    body: &'static [u8],
}

impl Request {
    /// The path and the query string, split as `http::Uri` splits them.
    fn path_and_query(&self) -> (&'static str, Option<&'static str>) {
        match self.target.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (self.target, None),
        }
    }
}

/// PATCH with a path variable, a query parameter (the field mask) and a body ("user").
const UPDATE_USER: Request = Request {
    method: "PATCH",
    target: "/api/users/123?updateMask=displayName,email",
    body: br#"{"displayName": "Ada King", "email": "ada.king@example.com"}"#,
};

/// POST with body "*": the whole request message, three line items.
const CREATE_ORDER: Request = Request {
    method: "POST",
    target: "/api/orders",
    body: br#"{"userId": "123", "lineItems": [
        {"productId": "p-100", "quantity": 2},
        {"productId": "p-103", "quantity": 1},
        {"productId": "p-107", "quantity": "5"}]}"#,
};

const GET_USER: Request = Request {
    method: "GET",
    target: "/api/users/123",
    body: b"",
};

const LIST_ORDERS: Request = Request {
    method: "GET",
    target: "/api/orders?userId=123&pageSize=20",
    body: b"",
};

/// 2024-12-16T09:00:00Z.
const CREATED: Timestamp = Timestamp {
    seconds: 1_734_339_600,
    nanos: 0,
};

/// What the users backend answers to GetUser.
fn get_user_response() -> Vec<u8> {
    GetUserResponse {
        user: Some(User {
            user_id: "123".into(),
            email: "ada@example.com".into(),
            display_name: "Ada Lovelace".into(),
            tier: UserTier::Pro as i32,
            create_time: Some(CREATED),
            login_count: 42,
        }),
    }
    .encode_to_vec()
}

/// A full page of ListOrders: 20 orders of one to three line items each.
fn list_orders_response() -> Vec<u8> {
    let orders = (0..20)
        .map(|i: i64| {
            let line_items: Vec<LineItem> = (0..1 + i % 3)
                .map(|j| LineItem {
                    product_id: format!("p-{}", 100 + (i + j) % 8),
                    quantity: 1 + (j as i32),
                    unit_price_cents: 1999 + 250 * j,
                })
                .collect();
            Order {
                order_id: format!("o-{}", 1001 + i),
                user_id: "123".into(),
                total_cents: line_items
                    .iter()
                    .map(|item| item.unit_price_cents * i64::from(item.quantity))
                    .sum(),
                line_items,
                status: OrderStatus::Paid as i32,
                currency: "USD".into(),
                create_time: Some(Timestamp {
                    seconds: CREATED.seconds + 3600 * i,
                    nanos: 250_000_000,
                }),
            }
        })
        .collect();
    ListOrdersResponse {
        orders,
        next_page_token: "bzEwMjEKb3JkZXJz".into(),
    }
    .encode_to_vec()
}

// ---------------------------------------------------------------------------------------------
// Backend errors

/// Statuses as backends send them: with and without `google.rpc` details, and one whose
/// message the gateway masks.
fn backend_statuses() -> Vec<(&'static str, Status)> {
    let not_found = rpc::ResourceInfo {
        resource_type: "users.v1.User".into(),
        resource_name: "999".into(),
        description: "no such resource".into(),
        ..Default::default()
    };
    let bad_request = rpc::BadRequest {
        field_violations: vec![rpc::bad_request::FieldViolation {
            field: "line_items[0].quantity".into(),
            description: "must be at least 1".into(),
            ..Default::default()
        }],
    };
    vec![
        (
            "not_found_with_details",
            with_details(
                Code::NotFound,
                "User \"999\" not found",
                "google.rpc.ResourceInfo",
                not_found.encode_to_vec(),
            ),
        ),
        (
            "invalid_argument_with_details",
            with_details(
                Code::InvalidArgument,
                "invalid line_items[0].quantity: must be at least 1",
                "google.rpc.BadRequest",
                bad_request.encode_to_vec(),
            ),
        ),
        (
            "permission_denied",
            Status::permission_denied("order o-1003 belongs to another user"),
        ),
        ("unavailable", Status::unavailable("shutting down")),
        (
            "internal_masked",
            Status::internal("db: connection reset by peer"),
        ),
    ]
}

/// A status carrying one detail, encoded in `grpc-status-details-bin` as backends do.
fn with_details(code: Code, message: &str, type_name: &str, detail: Vec<u8>) -> Status {
    let status = rpc::Status {
        code: code as i32,
        message: message.into(),
        details: vec![pbjson_types::Any {
            type_url: format!("type.googleapis.com/{type_name}"),
            value: detail.into(),
        }],
    };
    Status::with_details(code, message, status.encode_to_vec().into())
}

/// The JSON error response for a backend status, as the REST handler answers it.
fn map_error(status: Status) -> axum::response::Response {
    axum::response::IntoResponse::into_response(gatehouse::upstream::status_error(status))
}

// ---------------------------------------------------------------------------------------------
// The runs

/// Everything the benches use, built once.
struct Fixtures {
    table: RouteMatcher<Target>,
    /// Indexed as `schema().bindings()`.
    dynamic: Vec<DynamicCodec>,
    get_user: Vec<u8>,
    list_orders: Vec<u8>,
    statuses: Vec<(&'static str, Status)>,
}

impl Fixtures {
    fn new() -> Fixtures {
        let table = route_table();
        // Every lookup must end as its bench says, or the bench measures something else.
        for (name, method, path, expected) in LOOKUPS {
            let got = outcome(&table.find(method, path));
            assert_eq!(got, Some(expected), "{name}: {method} {path}");
        }
        Fixtures {
            table,
            dynamic: dynamic_codecs(),
            get_user: get_user_response(),
            list_orders: list_orders_response(),
            statuses: backend_statuses(),
        }
    }
}

/// One row of the allocation table.
fn print_row(what: &str, counted: AllocationsPerOp) {
    println!(
        "  {what:<48} {:>10.2} {:>12.1}",
        counted.allocations, counted.bytes
    );
}

/// The allocation table: one row per piece and case.
fn print_allocations(fx: &Fixtures) {
    println!(
        "allocations per operation, averaged over {COUNTED_OPS} operations \
         ({} routes in the table)",
        fx.table.len()
    );
    println!(
        "  {:<48} {:>10} {:>12}",
        "operation", "allocs/op", "bytes/op"
    );

    for (name, method, path, _) in LOOKUPS {
        let counted = allocations_per_op(|| (), |()| fx.table.find(method, path));
        print_row(&format!("route match: {name}"), counted);
    }

    for codec in [Codec::Compiled, Codec::Dynamic] {
        for (name, request) in [
            ("update_user", &UPDATE_USER),
            ("create_order", &CREATE_ORDER),
        ] {
            let (spec, bindings, query) = route(&fx.table, request);
            let run = codec_of(fx, spec, codec);
            let counted = allocations_per_op(
                || (),
                |()| build_request(run, spec, &bindings, query, request.body),
            );
            print_row(
                &format!("request build ({}): {name}", codec.name()),
                counted,
            );
        }
    }

    for codec in [Codec::Compiled, Codec::Dynamic] {
        let get_user = codec_of(fx, compiled("GET", "/api/users/{user_id}"), codec);
        let list_orders = codec_of(fx, compiled("GET", "/api/orders"), codec);
        let counted = allocations_per_op(|| (), |()| render_response(get_user, &fx.get_user));
        print_row(
            &format!("response render ({}): get_user", codec.name()),
            counted,
        );
        let counted = allocations_per_op(|| (), |()| render_response(list_orders, &fx.list_orders));
        print_row(
            &format!("response render ({}): list_orders (20)", codec.name()),
            counted,
        );
    }

    for (name, status) in &fx.statuses {
        // The clone is setup, not counted: the handler owns the status it maps.
        let counted = allocations_per_op(|| status.clone(), map_error);
        print_row(&format!("error mapping: {name}"), counted);
    }

    for codec in [Codec::Compiled, Codec::Dynamic] {
        for (name, request, response) in [
            ("get_user", &GET_USER, &fx.get_user),
            ("list_orders (20)", &LIST_ORDERS, &fx.list_orders),
        ] {
            let counted = allocations_per_op(|| (), |()| transcode(fx, codec, request, response));
            print_row(
                &format!("transcode path ({}): {name}", codec.name()),
                counted,
            );
        }
    }
    println!();
}

fn bench_route_match(c: &mut Criterion, fx: &Fixtures) {
    let mut group = c.benchmark_group("route_match");
    for (name, method, path, _) in LOOKUPS {
        group.bench_function(name, |b| {
            b.iter(|| fx.table.find(black_box(method), black_box(path)))
        });
    }
    group.finish();
}

fn bench_request_build(c: &mut Criterion, fx: &Fixtures) {
    for codec in [Codec::Compiled, Codec::Dynamic] {
        let mut group = c.benchmark_group(format!("request_build_{}", codec.name()));
        for (name, request) in [
            ("update_user", &UPDATE_USER),
            ("create_order", &CREATE_ORDER),
        ] {
            let (spec, bindings, query) = route(&fx.table, request);
            let run = codec_of(fx, spec, codec);
            group.bench_function(name, |b| {
                b.iter(|| {
                    build_request(
                        run,
                        spec,
                        &bindings,
                        black_box(query),
                        black_box(request.body),
                    )
                })
            });
        }
        group.finish();
    }
}

fn bench_response_render(c: &mut Criterion, fx: &Fixtures) {
    for codec in [Codec::Compiled, Codec::Dynamic] {
        let mut group = c.benchmark_group(format!("response_render_{}", codec.name()));
        let get_user = codec_of(fx, compiled("GET", "/api/users/{user_id}"), codec);
        let list_orders = codec_of(fx, compiled("GET", "/api/orders"), codec);
        group.bench_function("get_user", |b| {
            b.iter(|| render_response(get_user, black_box(&fx.get_user)))
        });
        group.bench_function("list_orders_20", |b| {
            b.iter(|| render_response(list_orders, black_box(&fx.list_orders)))
        });
        group.finish();
    }
}

fn bench_error_mapping(c: &mut Criterion, fx: &Fixtures) {
    let mut group = c.benchmark_group("error_mapping");
    for (name, status) in &fx.statuses {
        group.bench_function(*name, |b| {
            b.iter_batched(|| status.clone(), map_error, BatchSize::SmallInput)
        });
    }
    group.finish();
}

fn bench_transcode(c: &mut Criterion, fx: &Fixtures) {
    for codec in [Codec::Compiled, Codec::Dynamic] {
        let mut group = c.benchmark_group(format!("transcode_path_{}", codec.name()));
        for (name, request, response) in [
            ("get_user", &GET_USER, &fx.get_user),
            ("list_orders_20", &LIST_ORDERS, &fx.list_orders),
        ] {
            group.bench_function(name, |b| {
                b.iter(|| transcode(fx, codec, black_box(request), response))
            });
        }
        group.finish();
    }
}

fn main() {
    let fixtures = Fixtures::new();
    // First, while this is the only thread: the counters are process-wide.
    print_allocations(&fixtures);

    let mut criterion = Criterion::default().configure_from_args();
    bench_route_match(&mut criterion, &fixtures);
    bench_request_build(&mut criterion, &fixtures);
    bench_response_render(&mut criterion, &fixtures);
    bench_error_mapping(&mut criterion, &fixtures);
    bench_transcode(&mut criterion, &fixtures);
    criterion.final_summary();
}
