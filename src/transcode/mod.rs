//! REST ⇄ gRPC transcoding: request messages built from path, query and body; responses and
//! errors rendered as proto3 JSON; headers mapped to and from gRPC metadata.
//!
//! Two codecs implement `schema::MethodCodec`: for compiled-in services, build.rs generates
//! the per-method work (`FieldSet` impls and one `UnaryCodec` per binding) over the generic
//! parts here; for services described at run time, [`dynamic::DynamicCodec`] does the same
//! from descriptors, with the same results.

pub mod answer;
pub mod body;
pub mod codec;
pub mod compiled;
pub mod dynamic;
mod fields;
pub mod json;
pub mod metadata;
pub mod parse;
pub mod query;
pub mod request_stream;
pub mod stream;

pub use codec::UnaryCodec;
pub use dynamic::JsonOptions;
pub use fields::{FieldError, FieldSet, field_error};

use crate::error::GatewayError;

/// Why a request could not be turned into a gRPC message (always the client's fault: 400).
pub type TranscodeError = GatewayError;
