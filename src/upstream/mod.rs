//! Calls to backends. A `Backend` is what a route calls: today one tonic channel over the
//! backend's endpoints (the balanced pool of a later change fills the same interface), wrapped
//! in `ResponseGuard`, which turns non-gRPC replies and missing `grpc-status` into errors
//! instead of letting them pass as statuses a backend never sent.

mod backend;
mod codec;
mod guard;

pub use backend::Backend;
pub use codec::RawCodec;
pub use guard::{ResponseGuard, UpstreamFault};
