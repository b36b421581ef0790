//! How an upstream attempt failed, decided once per failed status: what it says about the
//! endpoint (health), the metric it counts as, whether it may be sent again, and the error the
//! client sees. One reading of a status, so these can never disagree.

use std::error::Error;

use tonic::{Code, Status};

use super::{ConnectFailed, UpstreamFault};

use crate::error::GatewayError;
use crate::telemetry::metrics::CallOutcome;

use super::pool::EndpointReport;
/// Why an attempt failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// No connection could be made: nothing was sent.
    Connect,
    /// The backend refused the stream (REFUSED_STREAM) before processing it.
    Refused,
    /// The connection broke with the call on it (reset, aborted, timed out, GOAWAY, a TLS or
    /// IO failure): it may or may not have run.
    Transport,
    /// The call's stream was reset (by the backend, or by h2 for a malformed frame of the
    /// backend's): the reply is broken, and the call may or may not have run.
    Reset,
    /// The connection failed in a way the transport does not name; tonic's code says what it
    /// amounts to.
    Unrecognized,
    /// The backend answered UNAVAILABLE.
    Unavailable,
    /// The reply was not gRPC (an HTTP error page, no `grpc-status`).
    NotGrpc,
    /// The backend answered another status.
    Other,
}

/// Reads a failed attempt's status. Statuses decoded from a backend's `grpc-status` have no
/// source; the ones tonic made from a transport error keep it.
pub fn classify(status: &Status) -> Failure {
    let Some(source) = status.source() else {
        return match status.code() {
            Code::Unavailable => Failure::Unavailable,
            _ => Failure::Other,
        };
    };
    let mut cause: Option<&(dyn Error + 'static)> = Some(source);
    while let Some(error) = cause {
        if error.is::<ConnectFailed>() {
            return Failure::Connect;
        }
        if let Some(io) = error.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::*;
            match io.kind() {
                ConnectionRefused => return Failure::Connect,
                // TLS failed on a connection that seemed made (with TLS 1.3 a backend that
                // refuses the client certificate says so after the handshake); h2 keeps only
                // the kind and text of an IO error, so the rustls error cannot be matched.
                ConnectionReset | ConnectionAborted | BrokenPipe | NotConnected | TimedOut
                | InvalidData => return Failure::Transport,
                _ => {}
            }
        }
        if error.is::<UpstreamFault>() {
            return Failure::NotGrpc;
        }
        // tonic codes h2 failures per the gRPC spec, and its CANCELLED for a stream the
        // backend cancelled would read as the client's deadline here.
        if let Some(h2) = error.downcast_ref::<h2::Error>() {
            return match h2.reason() {
                Some(h2::Reason::REFUSED_STREAM) => Failure::Refused,
                _ if h2.is_reset() => Failure::Reset,
                // GOAWAY from either side, its IO, bytes that are not HTTP/2.
                _ => Failure::Transport,
            };
        }
        cause = error.source();
    }
    Failure::Unrecognized
}

impl Failure {
    /// What the failure says about the endpoint, for its health record.
    pub(super) fn endpoint_outcome(self) -> EndpointReport {
        match self {
            Failure::Connect => EndpointReport::ConnectFailed,
            Failure::Refused => EndpointReport::Refused,
            Failure::Transport
            | Failure::Reset
            | Failure::Unrecognized
            | Failure::Unavailable
            | Failure::NotGrpc => EndpointReport::Failed,
            Failure::Other => EndpointReport::Answered,
        }
    }

    /// The attempt's outcome for metrics.
    pub(super) fn call_outcome(self) -> CallOutcome {
        match self {
            Failure::Connect => CallOutcome::ConnectFailed,
            Failure::Refused => CallOutcome::Refused,
            Failure::Transport | Failure::Reset | Failure::Unrecognized | Failure::Unavailable => {
                CallOutcome::Unavailable
            }
            Failure::NotGrpc => CallOutcome::BadResponse,
            Failure::Other => CallOutcome::BackendError,
        }
    }

    /// Whether the call never reached a backend, so that sending it again is always safe.
    pub(super) fn never_sent(self) -> bool {
        matches!(self, Failure::Connect | Failure::Refused)
    }

    /// Whether the call may have run: sent again only for idempotent methods.
    pub(super) fn maybe_ran(self) -> bool {
        matches!(
            self,
            Failure::Transport | Failure::Reset | Failure::Unrecognized | Failure::Unavailable
        )
    }

    /// The error the client sees for `status`, which failed this way.
    pub fn into_error(self, status: Status) -> GatewayError {
        match self {
            Failure::Connect | Failure::Refused | Failure::Transport => {
                GatewayError::UpstreamUnavailable
            }
            Failure::Reset => GatewayError::bad_response(format_args!(
                "the reply's stream was reset: {}",
                reset_reason(&status)
            )),
            Failure::NotGrpc => GatewayError::bad_response(fault_text(&status)),
            Failure::Unavailable | Failure::Other => GatewayError::Backend(status),
            Failure::Unrecognized => match status.code() {
                Code::Unavailable => GatewayError::UpstreamUnavailable,
                Code::Cancelled | Code::DeadlineExceeded => GatewayError::DeadlineExceeded,
                _ => GatewayError::bad_response(format_args!(
                    "{}: {}",
                    status.message(),
                    status.source().map(ToString::to_string).unwrap_or_default()
                )),
            },
        }
    }
}

/// The error for a failed status, classified here.
pub fn status_error(status: Status) -> GatewayError {
    classify(&status).into_error(status)
}

/// The text of the h2 error in `status`' sources.
fn reset_reason(status: &Status) -> String {
    find_source::<h2::Error>(status).map_or_else(String::new, ToString::to_string)
}

/// The text of the `UpstreamFault` in `status`' sources.
fn fault_text(status: &Status) -> String {
    find_source::<UpstreamFault>(status).map_or_else(String::new, ToString::to_string)
}

fn find_source<E: Error + 'static>(status: &Status) -> Option<&E> {
    let mut cause: Option<&(dyn Error + 'static)> = status.source();
    while let Some(error) = cause {
        if let Some(found) = error.downcast_ref::<E>() {
            return Some(found);
        }
        cause = error.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn h2_failures_are_not_read_by_the_code_tonic_gives_them() {
        // tonic codes this CANCELLED; resets (which only h2 can make) are in
        // tests/backend_faults.rs.
        let error = h2::Error::from(h2::Reason::CANCEL);
        let status = tonic::Status::from_error(Box::new(error));
        assert_eq!(status.code(), Code::Cancelled);
        assert!(matches!(
            status_error(status),
            GatewayError::UpstreamUnavailable
        ));
        // The statuses tonic makes without a transport error keep their meaning.
        assert!(matches!(
            status_error(tonic::Status::cancelled("gone")),
            GatewayError::Backend(_)
        ));
    }
}
