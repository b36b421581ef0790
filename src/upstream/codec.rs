//! A tonic codec that moves encoded messages as bytes: the transcoder has already encoded the
//! request, and renders the response from its bytes.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tonic::Status;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

use crate::grpc::Payload;

/// Bytes in, bytes out.
#[derive(Clone, Copy, Debug, Default)]
pub struct RawCodec;

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> Self::Encoder {
        RawCodec
    }

    fn decoder(&mut self) -> Self::Decoder {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Bytes;
    type Error = Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

/// Length of the gRPC message prefix: a compression flag and a 4-byte length.
const MESSAGE_PREFIX_LEN: usize = 5;

/// Pieces of a message up to this size are copied behind its prefix; larger ones are sent
/// from their own buffers.
const COPY_LIMIT: usize = 16 * 1024;

/// The request body of a unary call: `message` behind its 5-byte prefix. A small message goes
/// as one chunk (one DATA frame, which ends the stream); a large one's big pieces are sent as
/// they are, so the gateway never holds a second copy of a large upload.
pub fn framed_request(message: &Payload) -> Result<FramedRequest, Status> {
    let len = u32::try_from(message.len())
        .map_err(|_| Status::invalid_argument("request message too large"))?;
    let pieces = message.pieces();
    let copied = pieces
        .iter()
        .take_while(|piece| piece.len() <= COPY_LIMIT)
        .count();
    let head_len: usize = pieces[..copied].iter().map(Bytes::len).sum();
    let mut head = BytesMut::with_capacity(MESSAGE_PREFIX_LEN + head_len);
    head.put_u8(0);
    head.put_u32(len);
    for piece in &pieces[..copied] {
        head.put_slice(piece);
    }
    Ok(FramedRequest {
        head: Some(head.freeze()),
        message: message.clone(),
        next: copied,
    })
}

/// A framed request: the prefix with the message's small first pieces, then the other pieces
/// as they are; the last chunk ends the stream.
pub struct FramedRequest {
    head: Option<Bytes>,
    message: Payload,
    /// The next piece of `message` to send.
    next: usize,
}

impl FramedRequest {
    /// The pieces not sent yet.
    fn rest(&self) -> &[Bytes] {
        let pieces = self.message.pieces();
        &pieces[self.next.min(pieces.len())..]
    }
}

impl http_body::Body for FramedRequest {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Infallible>>> {
        let this = &mut *self;
        if let Some(head) = this.head.take() {
            return Poll::Ready(Some(Ok(http_body::Frame::data(head))));
        }
        let piece = this.rest().iter().position(|p| !p.is_empty()).map(|i| {
            let piece = this.rest()[i].clone();
            this.next += i + 1;
            piece
        });
        Poll::Ready(piece.map(|p| Ok(http_body::Frame::data(p))))
    }

    fn is_end_stream(&self) -> bool {
        self.head.is_none() && self.rest().iter().all(Bytes::is_empty)
    }

    fn size_hint(&self) -> http_body::SizeHint {
        let head = self.head.as_ref().map_or(0, Bytes::len);
        let rest: usize = self.rest().iter().map(Bytes::len).sum();
        http_body::SizeHint::with_exact((head + rest) as u64)
    }
}

/// The request body of a call that sends one message: tonic's encoded body, ended as soon as
/// the framed message has passed.
///
/// tonic only learns that its message stream is over when it polls it again, so hyper sends
/// the message in a DATA frame without END_STREAM and ends the stream with an empty frame.
/// Knowing the length up front, this body reports its end with the message, which then goes as
/// one final DATA frame: a frame less per call, and none of the small non-final DATA frames
/// that h2 servers count against a flood budget per connection (a burst of thousands of calls
/// on one connection made a tonic backend answer GOAWAY ENHANCE_YOUR_CALM).
pub struct SingleMessageBody {
    inner: tonic::body::Body,
    /// Bytes of the framed message not yet passed on.
    remaining: usize,
}

impl SingleMessageBody {
    /// `inner` is tonic's body for one uncompressed message of `message_len` bytes.
    pub fn new(inner: tonic::body::Body, message_len: usize) -> SingleMessageBody {
        SingleMessageBody {
            inner,
            remaining: MESSAGE_PREFIX_LEN + message_len,
        }
    }
}

impl http_body::Body for SingleMessageBody {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Status>>> {
        if self.remaining == 0 {
            return std::task::Poll::Ready(None);
        }
        let frame = std::task::ready!(std::pin::Pin::new(&mut self.inner).poll_frame(cx));
        if let Some(Ok(data)) = frame.as_ref().map(|f| f.as_ref().map(|f| f.data_ref())) {
            let len = data.map_or(0, Bytes::len);
            self.remaining = self.remaining.saturating_sub(len);
        }
        std::task::Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }
}

#[cfg(test)]
mod framing_tests {
    use http_body_util::BodyExt;

    use super::*;

    async fn chunks(message: Payload) -> Vec<Bytes> {
        let mut body = framed_request(&message).unwrap();
        let mut out = Vec::new();
        while let Some(frame) = body.frame().await {
            out.push(frame.unwrap().into_data().unwrap());
        }
        assert!(http_body::Body::is_end_stream(&body));
        out
    }

    #[tokio::test]
    async fn a_small_message_is_one_chunk_behind_its_prefix() {
        let sent = chunks(Bytes::from_static(b"abc").into()).await;
        assert_eq!(sent, [Bytes::from_static(b"\0\0\0\0\x03abc")]);
    }

    #[tokio::test]
    async fn a_large_piece_is_sent_from_its_own_buffer() {
        let large = Bytes::from(vec![7; COPY_LIMIT + 1]);
        let message = Payload::from(vec![
            Bytes::from_static(b"head"),
            large.clone(),
            Bytes::new(),
            Bytes::from_static(b"tail"),
        ]);
        let sent = chunks(message.clone()).await;
        let len = u32::try_from(message.len()).unwrap().to_be_bytes();
        let mut head = vec![0];
        head.extend_from_slice(&len);
        head.extend_from_slice(b"head");
        assert_eq!(sent.len(), 3);
        assert_eq!(sent[0], head);
        assert_eq!(sent[1].as_ptr(), large.as_ptr(), "not copied");
        assert_eq!(sent[2], Bytes::from_static(b"tail"));
    }
}
