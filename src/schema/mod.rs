//! The schema: every service, method and HTTP binding the gateway could serve, with their
//! codecs and descriptors, as one value.
//!
//! A [`Schema`] is made from a source (today the tables build.rs compiled from `proto/`, see
//! `transcode::compiled`) and handed to the compile step with a config; it owns what it holds,
//! so a schema made at run time is no different, and nothing above it reaches for a global
//! table. Which of its services are served is the config's business.

mod codec;
pub mod rules;
mod spec;

use std::sync::Arc;

use prost_reflect::DescriptorPool;

pub use codec::{MethodCodec, RequestParts};
pub use spec::{MethodKind, MethodSpec, RouteSpec, ServiceSpec};

/// Services, methods, bindings and descriptors: what a config can choose to serve.
pub struct Schema {
    bindings: Vec<Arc<RouteSpec>>,
    methods: Vec<Arc<MethodSpec>>,
    services: Vec<Arc<ServiceSpec>>,
    descriptors: DescriptorPool,
    /// The encoded `FileDescriptorSet` of `descriptors`, as reflection serves it (custom
    /// options such as `google.api.http` included).
    encoded_descriptors: bytes::Bytes,
}

impl Schema {
    /// A schema of these bindings, methods and services, described by the encoded
    /// `FileDescriptorSet` `encoded`; fails when the set does not decode.
    pub fn new(
        bindings: impl IntoIterator<Item = RouteSpec>,
        methods: impl IntoIterator<Item = MethodSpec>,
        services: impl IntoIterator<Item = ServiceSpec>,
        encoded: bytes::Bytes,
    ) -> Result<Schema, String> {
        let descriptors = DescriptorPool::decode(encoded.clone())
            .map_err(|e| format!("reading descriptors: {e}"))?;
        Ok(Schema {
            bindings: bindings.into_iter().map(Arc::new).collect(),
            methods: methods.into_iter().map(Arc::new).collect(),
            services: services.into_iter().map(Arc::new).collect(),
            descriptors,
            encoded_descriptors: encoded,
        })
    }

    /// Every HTTP binding, in proto order.
    pub fn bindings(&self) -> &[Arc<RouteSpec>] {
        &self.bindings
    }

    /// Every method, in proto order.
    pub fn methods(&self) -> &[Arc<MethodSpec>] {
        &self.methods
    }

    /// Every service.
    pub fn services(&self) -> &[Arc<ServiceSpec>] {
        &self.services
    }

    /// The method `pkg.Service/Method`.
    pub fn method(&self, qualified: &str) -> Option<&Arc<MethodSpec>> {
        let (service, method) = qualified.split_once('/')?;
        self.methods
            .iter()
            .find(|m| m.service == service && m.method == method)
    }

    /// The service with this full name.
    pub fn service(&self, name: &str) -> Option<&Arc<ServiceSpec>> {
        self.services.iter().find(|s| s.name == name)
    }

    /// The descriptors of every file, with their comments.
    pub fn descriptors(&self) -> &DescriptorPool {
        &self.descriptors
    }

    /// The descriptors as an encoded `FileDescriptorSet`.
    pub fn encoded_descriptors(&self) -> &bytes::Bytes {
        &self.encoded_descriptors
    }
}
