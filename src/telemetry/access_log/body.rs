//! A response body recorded when it ends: REST streams and gRPC calls.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use axum::body::Body;
use base64::Engine as _;
use bytes::Bytes;
use http::HeaderMap;
use http::header::CONTENT_TYPE;
use http_body::{Body as _, Frame, SizeHint};

use super::record::{Answer, Record, grpc_status};
use crate::grpc::Protocol;

/// The longest gRPC-Web trailer frame looked into; a status line is a few dozen bytes.
const MAX_WEB_TRAILER_FRAME: usize = 4096;

/// Where a body's gRPC status shows up, if anywhere.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum TrailerWatch {
    /// REST: the body has no status.
    Nothing,
    /// gRPC: HTTP/2 trailers.
    Trailers,
    /// gRPC-Web: a trailer frame (flag 0x80) in the body, which tonic-web sends as one chunk.
    WebFrame,
    /// gRPC-Web text: the same frame, base64-encoded.
    WebTextFrame,
}

impl TrailerWatch {
    pub(super) fn for_response(protocol: Protocol, headers: &HeaderMap) -> TrailerWatch {
        match protocol {
            Protocol::Rest => TrailerWatch::Nothing,
            Protocol::Grpc => TrailerWatch::Trailers,
            Protocol::GrpcWeb => {
                let text = headers
                    .get(CONTENT_TYPE)
                    .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc-web-text"));
                if text {
                    TrailerWatch::WebTextFrame
                } else {
                    TrailerWatch::WebFrame
                }
            }
        }
    }
}

/// Passes the body through, counting its bytes and watching for its gRPC status; records the
/// request when the body ends, or as aborted when it is dropped before.
pub(super) struct RecordedBody {
    inner: Body,
    pending: Option<(Record, Answer)>,
    watch: TrailerWatch,
}

impl RecordedBody {
    pub(super) fn new(
        inner: Body,
        record: Record,
        answer: Answer,
        watch: TrailerWatch,
    ) -> RecordedBody {
        RecordedBody {
            inner,
            pending: Some((record, answer)),
            watch,
        }
    }

    fn finish(&mut self) {
        if let Some((record, answer)) = self.pending.take() {
            record.finish(answer);
        }
    }

    fn observe(&mut self, frame: &Frame<Bytes>) {
        let watch = self.watch;
        let Some((_, answer)) = &mut self.pending else {
            return;
        };
        if let Some(data) = frame.data_ref() {
            answer.bytes_out = Some(answer.bytes_out.unwrap_or(0) + data.len() as u64);
            let status = match watch {
                TrailerWatch::WebFrame => web_trailer_status(data),
                TrailerWatch::WebTextFrame => web_text_trailer_status(data),
                TrailerWatch::Nothing | TrailerWatch::Trailers => None,
            };
            if status.is_some() {
                answer.grpc_status = status;
            }
        } else if let Some(trailers) = frame.trailers_ref() {
            answer.grpc_status = grpc_status(trailers).or(answer.grpc_status);
        }
    }
}

impl http_body::Body for RecordedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let frame = ready!(Pin::new(&mut self.inner).poll_frame(cx));
        match &frame {
            Some(Ok(frame)) => {
                self.observe(frame);
                // Trailers end a response; a server may also stop polling once the body says
                // it has ended.
                if frame.is_trailers() || self.inner.is_end_stream() {
                    self.finish();
                }
            }
            Some(Err(_)) => {
                if let Some((_, answer)) = &mut self.pending {
                    answer.aborted = true;
                }
                self.finish();
            }
            None => self.finish(),
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for RecordedBody {
    fn drop(&mut self) {
        let ended = self.inner.is_end_stream();
        if let Some((_, answer)) = &mut self.pending
            && !ended
        {
            // The client went away (or the server gave up on the stream) before its end.
            answer.aborted = true;
            if self.watch != TrailerWatch::Nothing && answer.grpc_status.is_none() {
                answer.grpc_status = Some(tonic::Code::Cancelled as i32);
            }
        }
        self.finish();
    }
}

/// The `grpc-status` of a gRPC-Web trailer frame: flag byte 0x80, a 4-byte length, then
/// `name:value\r\n` lines. `None` for anything else (message frames start with 0x00 or 0x01).
fn web_trailer_status(chunk: &[u8]) -> Option<i32> {
    let (&flags, rest) = chunk.split_first()?;
    if flags != 0x80 || rest.len() < 4 {
        return None;
    }
    let (length, block) = rest.split_at(4);
    let length = u32::from_be_bytes(length.try_into().ok()?) as usize;
    if length != block.len() || length > MAX_WEB_TRAILER_FRAME {
        return None;
    }
    block.split(|&b| b == b'\n').find_map(|line| {
        let (name, value) = line.split_at(line.iter().position(|&b| b == b':')?);
        if !name.trim_ascii().eq_ignore_ascii_case(b"grpc-status") {
            return None;
        }
        std::str::from_utf8(&value[1..]).ok()?.trim().parse().ok()
    })
}

/// The same for gRPC-Web text, where every chunk is base64; a trailer frame's encoding starts
/// with `gA` (0x80 then the length's high byte 0).
fn web_text_trailer_status(chunk: &[u8]) -> Option<i32> {
    if !chunk.starts_with(b"gA") || chunk.len() > MAX_WEB_TRAILER_FRAME * 2 {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(chunk)
        .ok()?;
    web_trailer_status(&decoded)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trailer_frame(block: &[u8]) -> Vec<u8> {
        let mut frame = vec![0x80];
        frame.extend_from_slice(&(block.len() as u32).to_be_bytes());
        frame.extend_from_slice(block);
        frame
    }

    #[test]
    fn grpc_web_trailer_frames_give_their_status() {
        let frame = trailer_frame(b"grpc-status:5\r\ngrpc-message:no%20such%20user\r\n");
        assert_eq!(web_trailer_status(&frame), Some(5));
        let frame = trailer_frame(b"grpc-message:x\r\nGrpc-Status: 0\r\n");
        assert_eq!(web_trailer_status(&frame), Some(0));
        let text = base64::engine::general_purpose::STANDARD.encode(&frame);
        assert_eq!(web_text_trailer_status(text.as_bytes()), Some(0));
    }

    #[test]
    fn other_chunks_are_not_trailer_frames() {
        let mut message = vec![0x00, 0, 0, 0, 3];
        message.extend_from_slice(b"abc");
        assert_eq!(web_trailer_status(&message), None);
        // A length that does not match the chunk: part of something else.
        let mut frame = trailer_frame(b"grpc-status:5\r\n");
        frame.push(b'x');
        assert_eq!(web_trailer_status(&frame), None);
        assert_eq!(
            web_trailer_status(&trailer_frame(b"grpc-message:x\r\n")),
            None
        );
        assert_eq!(web_trailer_status(&[0x80]), None);
        assert_eq!(web_text_trailer_status(b"AAAAAAM="), None);
        assert_eq!(web_text_trailer_status(b"gA!!"), None);
    }
}
