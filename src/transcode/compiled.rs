//! The compiled-in source of the schema: the tables build.rs generated from `proto/` (one
//! `UnaryCodec` per binding over the generated types, and a `FieldSet` per message), turned
//! into a [`Schema`] once.

use std::sync::{Arc, LazyLock};

use bytes::Bytes;

use crate::error::GatewayError;
use crate::schema::{
    MethodCodec, MethodKind, MethodSpec, RequestParts, RouteSpec, Schema, ServiceSpec,
};

// Generated code is checked by the tests, not held to clippy's style lints.
#[allow(clippy::all)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/gatehouse_routes.rs"));
}

pub use generated::{METHODS, ROUTES, SERVICES};

/// One HTTP binding as build.rs wrote it (see [`RouteSpec`]).
pub struct StaticRoute {
    pub http_method: &'static str,
    pub template: &'static str,
    pub service: &'static str,
    pub method: &'static str,
    pub grpc_path: &'static str,
    pub body: Option<&'static str>,
    pub response_body: Option<&'static str>,
    pub body_field_names: &'static [&'static str],
    pub proto_file: &'static str,
    pub kind: MethodKind,
    pub idempotent: bool,
    pub implicit: bool,
    pub codec: &'static dyn MethodCodec,
}

/// One method as build.rs wrote it (see [`MethodSpec`]).
pub struct StaticMethod {
    pub service: &'static str,
    pub method: &'static str,
    pub grpc_path: &'static str,
    pub input: &'static str,
    pub output: &'static str,
    pub kind: MethodKind,
    pub idempotent: bool,
    pub codec: &'static dyn MethodCodec,
}

/// One service as build.rs wrote it (see [`ServiceSpec`]).
pub struct StaticService {
    pub name: &'static str,
    pub proto_file: &'static str,
    pub methods: &'static [&'static str],
}

/// How the services of this source are named in messages.
pub const SOURCE: &str = "compiled in";

/// The schema of every proto compiled into this build, made once.
pub fn schema() -> &'static Schema {
    static SCHEMA: LazyLock<Schema> = LazyLock::new(|| {
        let bindings = ROUTES.iter().map(|r| RouteSpec {
            http_method: r.http_method.into(),
            template: r.template.into(),
            service: r.service.into(),
            method: r.method.into(),
            grpc_path: r.grpc_path.into(),
            body: r.body.map(Into::into),
            response_body: r.response_body.map(Into::into),
            body_field_names: r.body_field_names.iter().map(|&n| n.into()).collect(),
            proto_file: r.proto_file.into(),
            kind: r.kind,
            idempotent: r.idempotent,
            implicit: r.implicit,
            codec: Arc::new(Compiled(r.codec)),
        });
        let methods = METHODS.iter().map(|m| MethodSpec {
            service: m.service.into(),
            method: m.method.into(),
            grpc_path: m.grpc_path.into(),
            input: m.input.into(),
            output: m.output.into(),
            kind: m.kind,
            idempotent: m.idempotent,
            codec: Arc::new(Compiled(m.codec)),
        });
        let services = SERVICES.iter().map(|s| ServiceSpec {
            name: s.name.into(),
            proto_file: s.proto_file.into(),
            methods: s.methods.iter().map(|&m| m.into()).collect(),
            source: SOURCE.into(),
        });
        Schema::new(
            SOURCE,
            bindings,
            methods,
            services,
            Bytes::from_static(crate::FILE_DESCRIPTOR_SET),
        )
        .expect("build.rs wrote a valid descriptor set")
    });
    &SCHEMA
}

/// A generated codec, shared by the schema's bindings as the generated tables share it.
struct Compiled(&'static dyn MethodCodec);

impl MethodCodec for Compiled {
    fn build_request(
        &self,
        route: &RouteSpec,
        parts: RequestParts<'_>,
    ) -> Result<Bytes, GatewayError> {
        self.0.build_request(route, parts)
    }

    fn render_response(&self, message: &[u8], out: &mut Vec<u8>) -> Result<(), GatewayError> {
        self.0.render_response(message, out)
    }

    fn build_from_fields(&self, fields: &[(&[String], &[String])]) -> Result<Bytes, GatewayError> {
        self.0.build_from_fields(fields)
    }
}
