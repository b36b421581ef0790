//! One backend: its endpoints behind one tonic channel, and the unary call every route makes.

use std::time::Duration;

use bytes::Bytes;
use http::uri::PathAndQuery;
use tonic::metadata::MetadataMap;
use tonic::transport::{Channel, Endpoint};

use super::{RawCodec, ResponseGuard};
use crate::error::GatewayError;

/// How long to wait for a TCP connection to a backend endpoint.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// A named backend. Cloning is cheap (the channel is a handle).
#[derive(Clone, Debug)]
pub struct Backend {
    name: String,
    channel: ResponseGuard<Channel>,
}

impl Backend {
    /// Connects lazily: no connection is made until the first call, and a failed connection
    /// is retried on the next call. Several endpoints are spread over by tonic's balancer.
    pub fn new(name: &str, endpoints: &[Endpoint]) -> Backend {
        let endpoints: Vec<Endpoint> = endpoints
            .iter()
            .map(|e| {
                e.clone()
                    .connect_timeout(DEFAULT_CONNECT_TIMEOUT)
                    .tcp_nodelay(true)
            })
            .collect();
        let channel = match endpoints.as_slice() {
            [one] => one.connect_lazy(),
            many => Channel::balance_list(many.iter().cloned()),
        };
        Backend {
            name: name.to_string(),
            channel: ResponseGuard::new(channel),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// One unary call with an encoded request. The deadline is sent as `grpc-timeout` and
    /// enforced here too; dropping the returned future cancels the call.
    pub async fn unary(
        &self,
        path: PathAndQuery,
        metadata: MetadataMap,
        message: Bytes,
        deadline: Duration,
    ) -> Result<tonic::Response<Bytes>, GatewayError> {
        let mut grpc = tonic::client::Grpc::new(self.channel.clone());
        let mut request =
            tonic::Request::from_parts(metadata, tonic::Extensions::default(), message);
        request.set_timeout(deadline);
        let call = async move {
            grpc.ready()
                .await
                .map_err(|e| GatewayError::from_status(tonic::Status::from_error(e)))?;
            grpc.unary(request, path, RawCodec)
                .await
                .map_err(GatewayError::from_status)
        };
        tokio::time::timeout(deadline, call)
            .await
            .map_err(|_| GatewayError::DeadlineExceeded)?
    }
}
