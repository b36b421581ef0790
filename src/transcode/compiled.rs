//! The compiled-in source of the schema: the tables build.rs generated from `proto/` (one
//! `UnaryCodec` per binding over the generated types, and a `FieldSet` per message).

use std::sync::LazyLock;

use crate::schema::Schema;

// Generated code is checked by the tests, not held to clippy's style lints.
#[allow(clippy::all)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/gatehouse_routes.rs"));
}

pub use generated::{METHODS, ROUTES, SERVICES};

/// The schema of every proto compiled into this build, made once.
pub fn schema() -> &'static Schema {
    static SCHEMA: LazyLock<Schema> = LazyLock::new(|| {
        Schema::new(
            ROUTES,
            METHODS,
            SERVICES,
            bytes::Bytes::from_static(crate::FILE_DESCRIPTOR_SET),
        )
        .expect("build.rs wrote a valid descriptor set")
    });
    &SCHEMA
}
