//! A tonic codec that moves encoded messages as bytes: the transcoder has already encoded the
//! request, and renders the response from its bytes.

use bytes::{Buf, BufMut, Bytes};
use tonic::Status;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

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
