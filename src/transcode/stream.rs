//! Server-streaming methods over HTTP: each message of the backend's stream is rendered as a
//! unary response would be, and sent as one line of NDJSON (`application/x-ndjson`, the
//! default) or as one server-sent event (`text/event-stream`, when `Accept` prefers it).
//!
//! The status line waits for the first message or the end of the stream, so an error before
//! any message is answered like any other error, with its own HTTP status. Once a message has
//! gone out the status is 200, and an error ends the stream with one last object in the one
//! JSON error shape: the NDJSON line `{"error": {...}}`, or the event `event: error`. The
//! call's deadline covers the whole stream.
//!
//! A stream of `google.api.HttpBody` is a download instead: its `Content-Type` is the first
//! message's, its body the `data` of every message in turn, and an error after the first
//! message aborts the body (the client sees it cut short), since nothing can be appended to
//! raw bytes to say what went wrong.
//!
//! A message is read from the backend only when the HTTP body is polled for more: a slow client
//! slows the backend down through HTTP/2 flow control instead of filling the gateway's memory,
//! and a client that goes away drops the body, which cancels the backend's call.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use futures_util::Stream;
use http::header::{ACCEPT, CACHE_CONTROL, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use tokio::time::{Instant, Sleep};
use tonic::Streaming;

use super::body::BodyPlan;
use crate::error::GatewayError;
use crate::schema::MethodCodec;

/// Most bytes of messages that are already waiting put into one body chunk; a message that
/// is not waiting is never waited for.
const MAX_CHUNK: usize = 32 * 1024;

/// How the messages of a stream are framed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamFormat {
    /// `application/x-ndjson`: one JSON message per line.
    NdJson,
    /// `text/event-stream`: each message one event with a single `data:` line.
    EventStream,
}

impl StreamFormat {
    const NDJSON: (&'static str, &'static str) = ("application", "x-ndjson");
    const EVENT_STREAM: (&'static str, &'static str) = ("text", "event-stream");

    /// The format `Accept` prefers: server-sent events when `text/event-stream` has a higher
    /// q-value than `application/x-ndjson`, or the same one from a range listed earlier;
    /// NDJSON otherwise, also when `Accept` is absent or accepts neither (never 406).
    pub fn negotiate(headers: &HeaderMap) -> StreamFormat {
        let ranges: Vec<MediaRange<'_>> = headers
            .get_all(ACCEPT)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .filter_map(MediaRange::parse)
            .collect();
        let sse = preference(&ranges, Self::EVENT_STREAM);
        let ndjson = preference(&ranges, Self::NDJSON);
        match (sse, ndjson) {
            (Some(sse), Some(ndjson)) if sse.is_better_than(&ndjson) => StreamFormat::EventStream,
            (Some(sse), None) if sse.quality > 0 => StreamFormat::EventStream,
            _ => StreamFormat::NdJson,
        }
    }

    pub fn content_type(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            StreamFormat::NdJson => "application/x-ndjson",
            StreamFormat::EventStream => "text/event-stream",
        })
    }

    /// Appends one message rendered by `codec`; on error `out` is left as it was.
    fn write_message(
        self,
        codec: &dyn MethodCodec,
        message: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), GatewayError> {
        let mark = out.len();
        if self == StreamFormat::EventStream {
            out.extend_from_slice(b"data: ");
        }
        // Compact JSON escapes every line break, so a message is one line, and one data line.
        if let Err(error) = codec.render_response(message, out) {
            out.truncate(mark);
            return Err(error);
        }
        out.extend_from_slice(match self {
            StreamFormat::NdJson => b"\n",
            StreamFormat::EventStream => b"\n\n",
        });
        Ok(())
    }

    /// Appends the error object that ends a stream.
    fn write_error(self, error: &GatewayError, out: &mut Vec<u8>) {
        let body = error.json_body();
        match self {
            StreamFormat::NdJson => {
                out.extend_from_slice(b"{\"error\":");
                out.extend_from_slice(body.as_bytes());
                out.extend_from_slice(b"}\n");
            }
            StreamFormat::EventStream => {
                out.extend_from_slice(b"event: error\ndata: ");
                out.extend_from_slice(body.as_bytes());
                out.extend_from_slice(b"\n\n");
            }
        }
    }
}

/// One media range of an `Accept` header, its q-value in thousandths.
struct MediaRange<'a> {
    kind: &'a str,
    subtype: &'a str,
    quality: u16,
}

impl<'a> MediaRange<'a> {
    /// `type/subtype *(; param)`; `None` for an empty or malformed range, which is skipped.
    fn parse(range: &'a str) -> Option<MediaRange<'a>> {
        let mut parts = range.split(';');
        let (kind, subtype) = parts.next()?.trim().split_once('/')?;
        let (kind, subtype) = (kind.trim(), subtype.trim());
        if kind.is_empty() || subtype.is_empty() || (kind == "*" && subtype != "*") {
            return None;
        }
        let mut quality = 1000;
        for parameter in parts {
            let Some((name, value)) = parameter.split_once('=') else {
                continue;
            };
            if name.trim().eq_ignore_ascii_case("q") {
                quality = parse_quality(value.trim())?;
            }
        }
        Some(MediaRange {
            kind,
            subtype,
            quality,
        })
    }

    /// 2 for an exact match, 1 for `type/*`, 0 for `*/*`; `None` when it does not match.
    fn specificity(&self, (kind, subtype): (&str, &str)) -> Option<u8> {
        let kind_matches = self.kind == "*" || self.kind.eq_ignore_ascii_case(kind);
        let subtype_matches = self.subtype == "*" || self.subtype.eq_ignore_ascii_case(subtype);
        if !(kind_matches && subtype_matches) {
            return None;
        }
        Some(u8::from(self.kind != "*") + u8::from(self.subtype != "*"))
    }
}

/// RFC 9110 qvalue: `0`, `1`, or up to three decimals (`0.5`, `1.000`), in thousandths.
fn parse_quality(value: &str) -> Option<u16> {
    let (whole, fraction) = value.split_once('.').unwrap_or((value, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths = format!("{fraction:0<3}").parse::<u16>().ok()?;
    match whole {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

/// How much the client wants one media type: the q-value of the most specific range that
/// matches it, and where that range stands in the header.
struct Preference {
    quality: u16,
    position: usize,
}

impl Preference {
    fn is_better_than(&self, other: &Preference) -> bool {
        self.quality > 0
            && (self.quality > other.quality
                || (self.quality == other.quality && self.position < other.position))
    }
}

fn preference(ranges: &[MediaRange<'_>], media: (&str, &str)) -> Option<Preference> {
    let mut best: Option<(u8, Preference)> = None;
    for (position, range) in ranges.iter().enumerate() {
        let Some(specificity) = range.specificity(media) else {
            continue;
        };
        if best.as_ref().is_none_or(|(s, _)| specificity > *s) {
            let quality = range.quality;
            best = Some((specificity, Preference { quality, position }));
        }
    }
    best.map(|(_, preference)| preference)
}

/// How the messages of a stream become the HTTP body.
#[derive(Clone)]
pub enum Framing {
    /// Each message rendered by the codec, framed as `format` says.
    Json {
        codec: Arc<dyn MethodCodec>,
        format: StreamFormat,
    },
    /// `google.api.HttpBody` messages: their raw `data`, one after another.
    Raw(Arc<BodyPlan>),
}

impl Framing {
    /// Appends one message; on error `out` is left as it was.
    fn write_message(&self, message: &Bytes, out: &mut Vec<u8>) -> Result<(), GatewayError> {
        match self {
            Framing::Json { codec, format } => format.write_message(&**codec, message, out),
            Framing::Raw(plan) => {
                let (_, data) = plan.raw_reply(message)?;
                out.extend_from_slice(&data);
                Ok(())
            }
        }
    }
}

/// The HTTP response for an opened stream: waits for the first message (or the end) until
/// `started + deadline`, then answers 200 with a body that reads the rest as it is polled.
/// An error before the first message is returned, to be answered with its own status.
pub async fn respond(
    reply: tonic::Response<Streaming<Bytes>>,
    framing: Framing,
    started: Instant,
    deadline: Duration,
) -> Result<Response, GatewayError> {
    // A deadline too far to represent is none at all; a year stands in for it.
    let ends = started
        .checked_add(deadline)
        .unwrap_or_else(|| Instant::now() + Duration::from_secs(365 * 24 * 3600));
    let (reply_metadata, mut messages, _) = reply.into_parts();
    let first = match tokio::time::timeout_at(ends, messages.message()).await {
        Err(_) => return Err(GatewayError::DeadlineExceeded),
        Ok(Err(status)) => return Err(crate::upstream::status_error(status)),
        Ok(Ok(first)) => first,
    };
    let mut out = Vec::new();
    let content_type = match (&framing, &first) {
        (Framing::Json { format, .. }, first) => {
            if let Some(message) = first {
                framing.write_message(message, &mut out)?;
            }
            format.content_type()
        }
        // The first message gives the type, and its data starts the body.
        (Framing::Raw(plan), Some(message)) => {
            let (content_type, data) = plan.raw_reply(message)?;
            out.extend_from_slice(&data);
            HeaderValue::try_from(content_type).map_err(|_| {
                GatewayError::bad_response("the stream's content_type is not a valid header value")
            })?
        }
        (Framing::Raw(_), None) => HeaderValue::from_static("application/octet-stream"),
    };
    let event_stream = matches!(
        framing,
        Framing::Json {
            format: StreamFormat::EventStream,
            ..
        }
    );
    let raw = matches!(framing, Framing::Raw(_));
    let frames = Frames {
        messages: first.is_some().then_some(messages),
        waiting: out,
        deadline: Box::pin(tokio::time::sleep_until(ends)),
        framing,
        aborted: None,
        paused: false,
    };
    let mut response = Response::new(Body::from_stream(frames));
    let headers = response.headers_mut();
    if raw {
        super::body::raw_headers(headers, content_type);
    } else {
        headers.insert(CONTENT_TYPE, content_type);
    }
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if event_stream {
        // Asks nginx-style proxies in front not to hold events back.
        headers.insert(
            HeaderName::from_static("x-accel-buffering"),
            HeaderValue::from_static("no"),
        );
    }
    crate::grpc::metadata::response_headers(&reply_metadata, headers);
    Ok(response)
}

/// The body of a stream: the messages that are already waiting at each poll, rendered.
struct Frames {
    /// `None` once the stream has ended; dropping it cancels the call.
    messages: Option<Streaming<Bytes>>,
    /// Rendered and not yet sent (the first message).
    waiting: Vec<u8>,
    deadline: Pin<Box<Sleep>>,
    framing: Framing,
    /// A raw stream's error, ending the body once what came before it is sent.
    aborted: Option<GatewayError>,
    /// Whether the body has paused once since its last data, so that the server writes that
    /// data out before an abort closes the connection.
    paused: bool,
}

/// The error that cuts a raw download short.
#[derive(Debug, thiserror::Error)]
#[error("the download failed after it started: {0}")]
pub struct DownloadFailed(GatewayError);

impl Frames {
    /// Ends the stream, with `error` as its last object if there is one (or, for a raw
    /// stream, as the error that aborts the body).
    fn end(&mut self, error: Option<GatewayError>, out: &mut Vec<u8>) {
        self.messages = None;
        let Some(error) = error else {
            return;
        };
        tracing::debug!(%error, "stream ended by an error after its first message");
        match &self.framing {
            Framing::Json { format, .. } => format.write_error(&error, out),
            Framing::Raw(_) => self.aborted = Some(error),
        }
    }
}

impl Stream for Frames {
    type Item = Result<Bytes, DownloadFailed>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let mut out = std::mem::take(&mut this.waiting);
        if this.messages.is_some() && this.deadline.as_mut().poll(cx).is_ready() {
            this.end(Some(GatewayError::DeadlineExceeded), &mut out);
        }
        while out.len() < MAX_CHUNK {
            let Some(messages) = this.messages.as_mut() else {
                break;
            };
            match Pin::new(messages).poll_next(cx) {
                Poll::Pending => break,
                Poll::Ready(Some(Ok(message))) => {
                    if let Err(error) = this.framing.write_message(&message, &mut out) {
                        this.end(Some(error), &mut out);
                    }
                }
                Poll::Ready(Some(Err(status))) => {
                    this.end(Some(crate::upstream::status_error(status)), &mut out);
                }
                Poll::Ready(None) => this.end(None, &mut out),
            }
        }
        if !out.is_empty() {
            this.paused = false;
            Poll::Ready(Some(Ok(Bytes::from(out))))
        } else if this.aborted.is_some() && !this.paused {
            // hyper drops what it has not yet written when a body fails: let it flush first.
            this.paused = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        } else if let Some(error) = this.aborted.take() {
            Poll::Ready(Some(Err(DownloadFailed(error))))
        } else if this.messages.is_none() {
            Poll::Ready(None)
        } else {
            Poll::Pending
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn negotiate(accept: &[&str]) -> StreamFormat {
        let mut headers = HeaderMap::new();
        for value in accept {
            headers.append(ACCEPT, HeaderValue::from_str(value).unwrap());
        }
        StreamFormat::negotiate(&headers)
    }

    #[test]
    fn accept_chooses_the_format() {
        use StreamFormat::{EventStream as Sse, NdJson as Nd};
        let table: &[(&[&str], StreamFormat)] = &[
            (&[], Nd),
            (&["*/*"], Nd),
            (&["application/json"], Nd),
            (&["text/event-stream"], Sse),
            (&["TEXT/Event-Stream"], Sse),
            (&["text/*"], Sse),
            (&["application/x-ndjson"], Nd),
            // Listed first wins a tie.
            (&["text/event-stream, application/x-ndjson"], Sse),
            (&["application/x-ndjson, text/event-stream"], Nd),
            (&["application/x-ndjson", "text/event-stream"], Nd),
            (&["text/event-stream", "application/x-ndjson"], Sse),
            // A higher q wins.
            (&["application/x-ndjson;q=0.2, text/event-stream"], Sse),
            (&["text/event-stream;q=0.5, application/x-ndjson"], Nd),
            (
                &["text/event-stream; charset=utf-8 ; Q=0.9, */*;q=0.8"],
                Sse,
            ),
            (&["*/*;q=0.1, text/event-stream"], Sse),
            (&["text/event-stream;q=0.1, */*"], Nd),
            // q=0 means not acceptable, and the most specific range decides.
            (&["text/event-stream;q=0"], Nd),
            (&["text/*, text/event-stream;q=0"], Nd),
            (&["text/event-stream;q=0, text/*"], Nd),
            (&["text/event-stream;q=0.000"], Nd),
            // Malformed ranges and q-values are skipped.
            (&["text/event-stream;q=2"], Nd),
            (&["text/event-stream;q=0.5x"], Nd),
            (&["*/event-stream"], Nd),
            (&["event-stream, ,;,text/event-stream;q=1.0"], Sse),
        ];
        for (accept, expected) in table {
            assert_eq!(negotiate(accept), *expected, "Accept: {accept:?}");
        }
    }

    #[test]
    fn qvalues_parse_as_the_rfc_writes_them() {
        let table = [
            ("0", Some(0)),
            ("1", Some(1000)),
            ("0.5", Some(500)),
            ("0.125", Some(125)),
            ("1.000", Some(1000)),
            ("1.", Some(1000)),
            ("1.001", None),
            ("0.1234", None),
            ("-0", None),
            ("", None),
            ("0.5e1", None),
        ];
        for (text, expected) in table {
            assert_eq!(parse_quality(text), expected, "q={text}");
        }
    }
}
