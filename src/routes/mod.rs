//! The route table: what build.rs compiled from the protos (`ROUTES`, `SERVICES`), and the
//! matcher built from it at start-up for the services a config serves.

mod spec;
mod table;

pub use spec::{MethodKind, MethodSpec, RouteSpec, ServiceSpec};
pub use table::{AggregateEntry, RouteEntry, RouteTable, RouteTarget};

// Generated code is checked by the tests, not held to clippy's style lints.
#[allow(clippy::all)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/gatehouse_routes.rs"));
}

pub use generated::{METHODS, ROUTES, SERVICES};

/// The descriptors of every compiled proto (with their comments), decoded once.
pub fn descriptors() -> &'static prost_reflect::DescriptorPool {
    static POOL: std::sync::LazyLock<prost_reflect::DescriptorPool> =
        std::sync::LazyLock::new(|| {
            prost_reflect::DescriptorPool::decode(crate::FILE_DESCRIPTOR_SET)
                .expect("build.rs wrote a valid descriptor set")
        });
    &POOL
}

/// The compiled method `pkg.Service/Method`.
pub fn method(qualified: &str) -> Option<&'static MethodSpec> {
    let (service, method) = qualified.split_once('/')?;
    METHODS
        .iter()
        .find(|m| m.service == service && m.method == method)
}

/// The compiled service with this full name.
pub fn service(name: &str) -> Option<&'static ServiceSpec> {
    SERVICES.iter().find(|s| s.name == name)
}
