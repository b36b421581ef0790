//! `[server] errors = "problem"`: REST error answers as RFC 9457 problem details.
//!
//! Errors are answered in many places (the dispatcher, custom routes, the overload guard, the
//! panic guard), none of which needs the config: each [`GatewayError`] answer carries its
//! parts, and this layer, around everything that answers REST, rewrites the body
//! (`crate::error::as_problem`) when the gateway in service when the request arrived asks
//! for problem details. gRPC answers never carry those parts and pass untouched.
//!
//! [`GatewayError`]: crate::error::GatewayError

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use axum::extract::Request;
use axum::response::Response;
use http::Method;
use tower::{Layer, Service};

use crate::gateway::Handle;

/// Adds [`ProblemDetails`] over a service, reading the format from `handle` per request.
#[derive(Clone)]
pub struct ProblemDetailsLayer {
    handle: Handle,
}

impl ProblemDetailsLayer {
    pub fn new(handle: Handle) -> ProblemDetailsLayer {
        ProblemDetailsLayer { handle }
    }
}

impl<S> Layer<S> for ProblemDetailsLayer {
    type Service = ProblemDetails<S>;

    fn layer(&self, inner: S) -> ProblemDetails<S> {
        ProblemDetails {
            inner,
            handle: self.handle.clone(),
        }
    }
}

/// Answers the errors of `inner` as problem details when the config says so.
#[derive(Clone)]
pub struct ProblemDetails<S> {
    inner: S,
    handle: Handle,
}

impl<S> Service<Request> for ProblemDetails<S>
where
    S: Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = ProblemFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        // Decided now, like the dispatcher's gateway: a reload meanwhile does not change it.
        let problem = self.handle.problem_details();
        let head = request.method() == Method::HEAD;
        ProblemFuture {
            inner: self.inner.call(request),
            problem,
            head,
        }
    }
}

pin_project_lite::pin_project! {
    /// The answer of [`ProblemDetails`].
    pub struct ProblemFuture<F> {
        #[pin]
        inner: F,
        problem: bool,
        head: bool,
    }
}

impl<F, E> Future for ProblemFuture<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = ready!(this.inner.poll(cx))?;
        Poll::Ready(Ok(if *this.problem {
            crate::error::as_problem(response, *this.head)
        } else {
            response
        }))
    }
}
