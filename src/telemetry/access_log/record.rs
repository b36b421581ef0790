//! One request's record: what is known when it arrives, what its answer adds, and the metrics
//! and log line made of both.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use axum::body::Body;
use axum::extract::ConnectInfo;
use chrono::{DateTime, SecondsFormat, Utc};
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use http_body::Body as _;
use serde::Serialize;

use super::body::{RecordedBody, TrailerWatch};
use super::sink::LineSink;
use super::{LogFields, Upstream};
use crate::grpc::{self, Protocol};
use crate::telemetry::metrics::{self, InFlight};
use crate::telemetry::{export, trace};

/// What is known when the request arrives.
pub(super) struct Record {
    started: Instant,
    protocol: Protocol,
    method: &'static str,
    _in_flight: InFlight,
    /// Present when the access log is on.
    log: Option<LogStart>,
    /// The request span, present when it is exported: told how the request ended.
    span: Option<tracing::Span>,
}

/// What only the log line needs, copied from the request.
struct LogStart {
    sink: Arc<LineSink>,
    time: SystemTime,
    client: Option<SocketAddr>,
    request_id: Option<HeaderValue>,
    traceparent: Option<HeaderValue>,
}

/// What the answer adds.
#[derive(Default)]
pub(super) struct Answer {
    pub(super) status: StatusCode,
    pub(super) grpc_status: Option<i32>,
    pub(super) fields: LogFields,
    pub(super) upstream: Option<Upstream>,
    pub(super) bytes_out: Option<u64>,
    /// The client went away before the response ended.
    pub(super) aborted: bool,
}

impl Record {
    pub(super) fn start<B>(request: &Request<B>, sink: Option<&Arc<LineSink>>) -> Record {
        let headers = request.headers();
        let protocol = grpc::protocol(headers);
        let log = sink.map(|sink| LogStart {
            sink: sink.clone(),
            time: SystemTime::now(),
            client: request
                .extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0),
            request_id: headers.get(trace::REQUEST_ID).cloned(),
            traceparent: headers.get(trace::TRACEPARENT).cloned(),
        });
        Record {
            started: Instant::now(),
            protocol,
            method: metrics::method_label(request.method()),
            _in_flight: InFlight::request(protocol),
            log,
            // The layer runs inside the request span.
            span: export::exporting().then(tracing::Span::current),
        }
    }

    /// Counts the request and writes its line.
    pub(super) fn finish(self, answer: Answer) {
        let latency = self.started.elapsed();
        let status = match (self.protocol, answer.grpc_status) {
            (Protocol::Rest, _) => metrics::status_label(answer.status),
            (_, Some(code)) => metrics::grpc_code_label(code),
            (_, None) if answer.status == StatusCode::OK => "UNKNOWN",
            (_, None) => metrics::status_label(answer.status),
        };
        let route = answer.fields.route.as_ref();
        metrics::record_request(self.protocol, route, self.method, status, latency);
        if let Some(span) = &self.span {
            export::record_outcome(
                span,
                export::Outcome {
                    method: self.method,
                    route: route.map(|r| &**r),
                    status: answer.status.as_u16(),
                    grpc_status: answer.grpc_status,
                    upstream: answer.upstream.as_ref().map(|u| &*u.0),
                },
            );
        }
        let Some(log) = self.log else { return };
        let line = Line {
            time: DateTime::<Utc>::from(log.time).to_rfc3339_opts(SecondsFormat::Millis, true),
            request_id: log
                .request_id
                .as_ref()
                .and_then(trace::printable_request_id)
                .unwrap_or("-"),
            trace_id: log
                .traceparent
                .as_ref()
                .and_then(trace::trace_id_of)
                .unwrap_or("-"),
            client: log.client,
            protocol: metrics::protocol_label(self.protocol),
            method: self.method,
            route: route.map_or("-", |r| &**r),
            status: answer.status.as_u16(),
            grpc_status: answer.grpc_status,
            // Microsecond resolution.
            latency_ms: (latency.as_micros() as f64) / 1000.0,
            upstream: answer.upstream.as_ref().map(|u| &*u.0),
            subject: answer.fields.subject.as_deref(),
            bytes_out: answer.bytes_out,
            aborted: answer.aborted,
        };
        let mut text = Vec::with_capacity(320);
        if serde_json::to_writer(&mut text, &line).is_ok() {
            text.push(b'\n');
            log.sink.send(text);
        }
    }
}

/// A record waiting for its response; recorded as abandoned if dropped first.
pub(super) struct Pending(Option<Record>);

impl Pending {
    pub(super) fn new(record: Record) -> Pending {
        Pending(Some(record))
    }

    /// Takes what the response says. A response whose length is known is recorded now; any
    /// other body is recorded when it ends (see the module docs).
    pub(super) fn answered(mut self, mut response: Response<Body>) -> Response<Body> {
        let Some(record) = self.0.take() else {
            return response;
        };
        let status = response.status();
        let extensions = response.extensions_mut();
        let mut answer = Answer {
            status,
            fields: extensions.remove::<LogFields>().unwrap_or_default(),
            upstream: extensions.remove::<Upstream>(),
            grpc_status: grpc_status(response.headers()),
            ..Answer::default()
        };
        let length = response.body().size_hint().exact();
        if length.is_some() || answer.grpc_status.is_some() {
            answer.bytes_out = length;
            record.finish(answer);
            return response;
        }
        answer.bytes_out = Some(0);
        let watch = TrailerWatch::for_response(record.protocol, response.headers());
        response.map(|body| Body::new(RecordedBody::new(body, record, answer, watch)))
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if let Some(record) = self.0.take() {
            // No response was sent: nginx's "client closed request".
            let grpc = record.protocol != Protocol::Rest;
            record.finish(Answer {
                status: StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
                grpc_status: grpc.then_some(tonic::Code::Cancelled as i32),
                aborted: true,
                ..Answer::default()
            });
        }
    }
}

/// The `grpc-status` of a header or trailer block.
const GRPC_STATUS: http::HeaderName = http::HeaderName::from_static("grpc-status");

pub(super) fn grpc_status(headers: &HeaderMap) -> Option<i32> {
    headers
        .get(&GRPC_STATUS)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

#[derive(Serialize)]
struct Line<'a> {
    time: String,
    request_id: &'a str,
    trace_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    client: Option<SocketAddr>,
    protocol: &'static str,
    method: &'static str,
    route: &'a str,
    status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    grpc_status: Option<i32>,
    latency_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    upstream: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    subject: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bytes_out: Option<u64>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    aborted: bool,
}
