//! Calls to backends. A `Backend` is what a route calls: a pool of endpoints × HTTP/2
//! connections balanced by power-of-two-choices on calls in flight (`pool`), filled from the
//! config and DNS (`discovery`), checked actively (`health`) and passively (outlier
//! ejection), with the retries and admission cap of `backend`. Every connection is wrapped in
//! `ResponseGuard`, which turns non-gRPC replies and missing `grpc-status` into errors instead
//! of letting them pass as statuses a backend never sent.

mod backend;
mod channel;
mod codec;
mod connection;
mod discovery;
mod failure;
mod guard;
mod health;
mod pool;

pub use backend::{Backend, MAX_RESPONSE_MESSAGE, RETRY_BACKOFF_BASE};
pub use channel::PoolChannel;
pub use codec::RawCodec;
pub use connection::ConnectFailed;
pub use discovery::{Resolver, Source, system_resolver};
pub use failure::{Failure, classify, status_error};
pub use guard::{Decoding, ResponseGuard, UpstreamFault};
pub use pool::{
    EndpointReport, NoEndpoint, Pool, PoolEndpoint, RECONNECT_BACKOFF_BASE, RECONNECT_BACKOFF_MAX,
    Target,
};
