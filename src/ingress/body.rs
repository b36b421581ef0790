//! The backend's response body on its way to the client.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http_body::{Body, Frame};
use tokio::time::{Instant, Sleep};

use super::status::error_trailers;
use crate::error::GatewayError;

/// Passes the backend's frames on as they come, and always ends with a gRPC status: when the
/// deadline passes first, the call ends with DEADLINE_EXCEEDED trailers and the backend stream
/// is dropped (the backend sees it cancelled); when the backend stream breaks, with the status
/// of that failure (UNAVAILABLE for a connection lost or a reply that is not gRPC).
pub(super) struct CallBody {
    inner: tonic::body::Body,
    /// None once the call has ended.
    deadline: Option<Pin<Box<Sleep>>>,
    done: bool,
}

impl CallBody {
    pub(super) fn new(inner: tonic::body::Body, deadline: Instant) -> CallBody {
        CallBody {
            inner,
            deadline: Some(Box::pin(tokio::time::sleep_until(deadline))),
            done: false,
        }
    }

    /// Ends the call with `error` as trailers, dropping the backend stream.
    fn fail(&mut self, error: &GatewayError) -> Frame<Bytes> {
        self.done = true;
        self.deadline = None;
        self.inner = tonic::body::Body::empty();
        Frame::trailers(error_trailers(error))
    }
}

impl Body for CallBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.done {
            return Poll::Ready(None);
        }
        if let Some(deadline) = self.deadline.as_mut()
            && deadline.as_mut().poll(cx).is_ready()
        {
            return Poll::Ready(Some(Ok(self.fail(&GatewayError::DeadlineExceeded))));
        }
        let frame = match ready!(Pin::new(&mut self.inner).poll_frame(cx)) {
            Some(Ok(frame)) => frame,
            Some(Err(status)) => {
                let error = crate::upstream::status_error(status);
                return Poll::Ready(Some(Ok(self.fail(&error))));
            }
            None => {
                self.done = true;
                return Poll::Ready(None);
            }
        };
        if frame.is_trailers() {
            // The backend's status: the call is over.
            self.done = true;
            self.deadline = None;
        }
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.done
    }
}

/// The client's request body on its way to the backend, with no size announced. Frames pass
/// as they are; the size hint is dropped because hyper turns an exact one into
/// `content-length`, and tonic-web's decoder for `-text` requests reports the base64 length,
/// not the decoded one (the backend would reset the stream as malformed).
pub(super) struct RequestBody<B> {
    inner: Pin<Box<B>>,
}

impl<B> RequestBody<B> {
    pub(super) fn new(inner: B) -> RequestBody<B> {
        RequestBody {
            inner: Box::pin(inner),
        }
    }
}

impl<B: Body> Body for RequestBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        self.inner.as_mut().poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }
}
