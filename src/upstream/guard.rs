//! `ResponseGuard`: checks that a backend's reply is gRPC before tonic reads it.
//!
//! tonic infers a status from an HTTP error page and treats a stream that ends without
//! `grpc-status` per its own rules, and it panics on a `grpc-status-details-bin` that is not
//! base64. The guard answers all three the same way: a non-200 or non-`application/grpc`
//! reply, or a body that ends without `grpc-status`, becomes an `UpstreamFault` error (502 to
//! the client); undecodable details are dropped.
//!
//! When the gateway decodes the reply itself (REST calls), the guard also reads the message
//! framing as it passes. tonic reports a bad frame with a status of its own making, which the
//! gateway cannot tell from one the backend sent: a compressed message as INTERNAL (a 500),
//! an unknown `grpc-encoding` as UNIMPLEMENTED (501), an over-large message as OUT_OF_RANGE
//! (400, as if the client were at fault), each with tonic's text as the message. The guard
//! refuses these replies first, as `UpstreamFault`s, so they are answered as every other bad
//! reply is.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use base64::Engine;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use tower::{BoxError, Service};

/// A backend reply that is not valid gRPC.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamFault {
    #[error("upstream answered HTTP {0} instead of gRPC")]
    HttpStatus(StatusCode),
    #[error("upstream answered a content type other than application/grpc")]
    ContentType,
    #[error("upstream response ended without grpc-status")]
    MissingStatus,
    #[error("upstream response is compressed, which the gateway never asks for")]
    Compressed,
    #[error("upstream message has an invalid compressed-flag {0}")]
    InvalidFlag(u8),
    #[error("upstream message of {len} bytes is larger than the limit of {limit} bytes")]
    MessageTooLarge { len: usize, limit: usize },
    #[error("upstream response ended inside a message")]
    TruncatedMessage,
    #[error("upstream sent more than one message in reply to a unary call")]
    ExtraMessage,
    #[error("upstream answered a unary call with no message")]
    MissingMessage,
}

/// Wraps a gRPC transport service (a pool connection).
#[derive(Clone, Debug)]
pub struct ResponseGuard<S> {
    inner: S,
    /// The framing checked, when the gateway decodes the reply itself.
    decoding: Option<Decoding>,
}

/// What a reply the gateway decodes may hold.
#[derive(Clone, Copy, Debug)]
pub struct Decoding {
    /// The largest message, in bytes.
    pub max_message: usize,
    /// A unary call's reply: one message at most (gRPC clients fail a second one, rather
    /// than answer with the first and drop the rest).
    pub unary: bool,
}

impl<S> ResponseGuard<S> {
    /// Checks the status of a reply whose messages pass on as they are (gRPC ingress,
    /// generated clients).
    pub fn new(inner: S) -> Self {
        ResponseGuard {
            inner,
            decoding: None,
        }
    }

    /// Also checks the framing of a reply the gateway decodes: uncompressed messages (the
    /// gateway sends no `grpc-accept-encoding`) of at most `max_message` bytes, none cut off
    /// by the end of the body, and only one for a unary call. Meant for a tonic client with
    /// the same decoding limit.
    pub fn decoding(inner: S, decoding: Decoding) -> Self {
        ResponseGuard {
            inner,
            decoding: Some(decoding),
        }
    }
}

// The names the guard reads, besides `content-type`.
const DETAILS: HeaderName = HeaderName::from_static("grpc-status-details-bin");
const GRPC_STATUS: HeaderName = HeaderName::from_static("grpc-status");
const GRPC_ENCODING: HeaderName = HeaderName::from_static("grpc-encoding");
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// What the guard reads in a reply's headers or trailers: the first value of each name, as
/// `HeaderMap::get` gives it. Read in one pass over their few names, where a lookup per name
/// would hash each one.
#[derive(Default)]
struct Head<'a> {
    content_type: Option<&'a HeaderValue>,
    encoding: Option<&'a HeaderValue>,
    details: Option<&'a HeaderValue>,
    status: bool,
}

impl Head<'_> {
    fn read(headers: &HeaderMap) -> Head<'_> {
        let mut head = Head::default();
        for (name, value) in headers {
            let slot = if name == CONTENT_TYPE {
                &mut head.content_type
            } else if name == GRPC_ENCODING {
                &mut head.encoding
            } else if name == DETAILS {
                &mut head.details
            } else {
                head.status |= name == GRPC_STATUS;
                continue;
            };
            slot.get_or_insert(value);
        }
        head
    }
}

/// Drops `grpc-status-details-bin` when it is not base64; says whether `grpc-status` is there.
fn sanitize(headers: &mut HeaderMap) -> bool {
    let head = Head::read(headers);
    let status = head.status;
    let bad_details = head
        .details
        .is_some_and(|details| BASE64.decode(details.as_bytes()).is_err());
    if bad_details {
        headers.remove(&DETAILS);
    }
    status
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for ResponseGuard<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
    ResBody: Body<Data = Bytes> + Unpin,
    ResBody::Error: Into<BoxError>,
{
    type Response = Response<GuardedBody<ResBody>>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let call = self.inner.call(request);
        let framing = self.decoding.map(Framing::new);
        Box::pin(async move {
            let mut response = call.await.map_err(Into::into)?;
            if response.status() != StatusCode::OK {
                return Err(UpstreamFault::HttpStatus(response.status()).into());
            }
            let head = Head::read(response.headers());
            let grpc = head
                .content_type
                .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"));
            if !grpc {
                return Err(UpstreamFault::ContentType.into());
            }
            let compressed = head.encoding.is_some_and(|v| v != "identity");
            let status_seen = sanitize(response.headers_mut());
            // A trailers-only reply has no message to decode, whatever it says of encodings.
            if framing.is_some() && compressed && !status_seen {
                return Err(UpstreamFault::Compressed.into());
            }
            Ok(response.map(|inner| GuardedBody {
                inner,
                status_seen,
                framing,
                done: false,
            }))
        })
    }
}

/// A response body that must end with `grpc-status` (in trailers, or in the headers of a
/// trailers-only reply).
pub struct GuardedBody<B> {
    inner: B,
    status_seen: bool,
    /// Where the body is in its messages, when the framing is checked.
    framing: Option<Framing>,
    done: bool,
}

/// Follows the length-prefixed messages of a body across DATA frames, reading only the
/// 5-byte prefixes.
#[derive(Debug)]
struct Framing {
    decoding: Decoding,
    /// Messages begun.
    messages: usize,
    prefix: [u8; PREFIX_LEN],
    /// Bytes of the current prefix seen.
    prefix_seen: usize,
    /// Bytes of the current message still to come.
    message_left: usize,
}

/// A compressed-flag byte and a big-endian `u32` length.
const PREFIX_LEN: usize = 5;

impl Framing {
    fn new(decoding: Decoding) -> Framing {
        Framing {
            decoding,
            messages: 0,
            prefix: [0; PREFIX_LEN],
            prefix_seen: 0,
            message_left: 0,
        }
    }

    /// Reads the next bytes of the body.
    fn check(&mut self, mut data: &[u8]) -> Result<(), UpstreamFault> {
        while !data.is_empty() {
            if self.message_left > 0 {
                let skipped = self.message_left.min(data.len());
                self.message_left -= skipped;
                data = &data[skipped..];
                continue;
            }
            let taken = (PREFIX_LEN - self.prefix_seen).min(data.len());
            self.prefix[self.prefix_seen..][..taken].copy_from_slice(&data[..taken]);
            self.prefix_seen += taken;
            data = &data[taken..];
            if self.prefix_seen < PREFIX_LEN {
                break;
            }
            self.prefix_seen = 0;
            match self.prefix[0] {
                0 => {}
                1 => return Err(UpstreamFault::Compressed),
                flag => return Err(UpstreamFault::InvalidFlag(flag)),
            }
            self.messages += 1;
            if self.decoding.unary && self.messages > 1 {
                return Err(UpstreamFault::ExtraMessage);
            }
            let [_, length @ ..] = self.prefix;
            let len = u32::from_be_bytes(length) as usize;
            let limit = self.decoding.max_message;
            if len > limit {
                return Err(UpstreamFault::MessageTooLarge { len, limit });
            }
            self.message_left = len;
        }
        Ok(())
    }

    /// Whether the body is inside a message (or its prefix).
    fn inside_message(&self) -> bool {
        self.prefix_seen > 0 || self.message_left > 0
    }
}

impl<B> GuardedBody<B> {
    /// The body ends here (trailers or its end): not inside a message.
    fn check_end(&self) -> Result<(), UpstreamFault> {
        match &self.framing {
            Some(framing) if framing.inside_message() => Err(UpstreamFault::TruncatedMessage),
            _ => Ok(()),
        }
    }
}

impl<B> Body for GuardedBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if self.done {
            return Poll::Ready(None);
        }
        let this = &mut *self;
        let checked = match ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
            Some(Ok(frame)) => match frame.into_trailers() {
                Ok(mut trailers) => {
                    this.status_seen |= sanitize(&mut trailers);
                    this.check_end().map(|()| Frame::trailers(trailers))
                }
                Err(frame) => match (frame.data_ref(), this.framing.as_mut()) {
                    (Some(data), Some(framing)) => framing.check(data).map(|()| frame),
                    _ => Ok(frame),
                },
            },
            Some(Err(e)) => return Poll::Ready(Some(Err(e.into()))),
            None => {
                this.done = true;
                match this.check_end() {
                    Ok(()) if this.status_seen => return Poll::Ready(None),
                    Ok(()) => Err(UpstreamFault::MissingStatus),
                    Err(fault) => Err(fault),
                }
            }
        };
        Poll::Ready(Some(checked.map_err(|fault| {
            // Nothing after a bad frame is read.
            this.done = true;
            fault.into()
        })))
    }

    fn is_end_stream(&self) -> bool {
        self.done
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: usize = 100;

    /// The framing of `frames` read in order: the first fault, or whether it ended inside a
    /// message.
    fn read(frames: &[&[u8]]) -> Result<bool, UpstreamFault> {
        read_as(false, frames)
    }

    fn read_as(unary: bool, frames: &[&[u8]]) -> Result<bool, UpstreamFault> {
        let mut framing = Framing::new(Decoding {
            max_message: LIMIT,
            unary,
        });
        for frame in frames {
            framing.check(frame)?;
        }
        Ok(framing.inside_message())
    }

    #[test]
    fn the_head_is_read_as_lookups_would_read_it() {
        let mut headers = HeaderMap::new();
        headers.append(
            CONTENT_TYPE,
            HeaderValue::from_static("application/grpc+proto"),
        );
        headers.append(CONTENT_TYPE, HeaderValue::from_static("text/html"));
        headers.append("grpc-encoding", HeaderValue::from_static("gzip"));
        headers.append("grpc-message", HeaderValue::from_static("ok"));
        let head = Head::read(&headers);
        assert_eq!(head.content_type, headers.get(CONTENT_TYPE));
        assert_eq!(head.encoding.unwrap(), "gzip");
        assert!(head.details.is_none());
        assert!(!head.status, "no grpc-status");

        headers.append("grpc-status", HeaderValue::from_static("5"));
        assert!(Head::read(&headers).status);
    }

    #[test]
    fn details_that_are_not_base64_are_dropped_and_others_kept() {
        for (details, kept) in [("CAUSCm5vdCBmb3VuZA", true), ("not base64!", false)] {
            let mut trailers = HeaderMap::new();
            trailers.insert("grpc-status", HeaderValue::from_static("5"));
            trailers.insert(DETAILS, HeaderValue::from_static(details));
            assert!(sanitize(&mut trailers), "grpc-status is there");
            assert_eq!(trailers.contains_key(DETAILS), kept, "{details}");
        }
        let mut headers = HeaderMap::new();
        assert!(!sanitize(&mut headers));
    }

    #[test]
    fn framing_follows_messages_across_frames() {
        let table: &[(&[&[u8]], bool)] = &[
            (&[], false),
            (&[&[0, 0, 0, 0, 0]], false),
            (&[&[0, 0, 0, 0, 2, 7, 7]], false),
            (&[&[0, 0, 0, 0, 2, 7, 7, 0, 0, 0, 0, 1, 9]], false),
            // A prefix and a message split anywhere.
            (&[&[0, 0], &[0, 0, 2], &[7], &[7]], false),
            (&[&[0, 0, 0, 0, 2, 7], &[7, 0, 0, 0], &[0, 0]], false),
            (&[&[0, 0, 0, 0, LIMIT as u8], &[0; LIMIT]], false),
            // Cut off: in the prefix or in the message.
            (&[&[0, 0, 0]], true),
            (&[&[0, 0, 0, 0, 2, 7]], true),
            (&[&[0, 0, 0, 0, 2, 7, 7, 0]], true),
        ];
        for (frames, inside) in table {
            assert_eq!(read(frames).unwrap(), *inside, "{frames:?}");
        }
    }

    #[test]
    fn framing_refuses_compression_bad_flags_and_large_messages() {
        assert!(matches!(
            read(&[&[1, 0, 0, 0, 1, 0]]),
            Err(UpstreamFault::Compressed)
        ));
        assert!(matches!(
            read(&[&[0, 0, 0, 0, 1, 0], &[0x80, 0, 0, 0, 0]]),
            Err(UpstreamFault::InvalidFlag(0x80))
        ));
        assert!(matches!(
            read(&[&[0, 0, 0], &[0, LIMIT as u8 + 1]]),
            Err(UpstreamFault::MessageTooLarge {
                len: 101,
                limit: LIMIT
            })
        ));
        assert!(matches!(
            read(&[&[0, 0xff, 0xff, 0xff, 0xff]]),
            Err(UpstreamFault::MessageTooLarge { .. })
        ));
    }

    #[test]
    fn a_unary_reply_has_one_message_at_most() {
        assert!(!read_as(true, &[&[0, 0, 0, 0, 1, 7]]).unwrap());
        assert!(!read_as(true, &[]).unwrap());
        assert!(matches!(
            read_as(true, &[&[0, 0, 0, 0, 1, 7, 0], &[0, 0, 0, 0]]),
            Err(UpstreamFault::ExtraMessage)
        ));
        // A stream may have any number.
        assert!(!read(&[&[0, 0, 0, 0, 1, 7, 0, 0, 0, 0, 0]]).unwrap());
    }
}
