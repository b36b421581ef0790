//! An encoded request message as the pieces it was made of: a large raw body stays the one
//! buffer it was read into, and the message is sent piece by piece, never joined.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};

/// An encoded message: one buffer, or several sent one after another. Cloning shares them.
#[derive(Clone, Debug)]
pub enum Payload {
    One(Bytes),
    Pieces(Arc<[Bytes]>),
}

impl Payload {
    /// The message's length in bytes.
    pub fn len(&self) -> usize {
        self.pieces().iter().map(Bytes::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The pieces, in order.
    pub fn pieces(&self) -> &[Bytes] {
        match self {
            Payload::One(one) => std::slice::from_ref(one),
            Payload::Pieces(pieces) => pieces,
        }
    }

    /// The message in one buffer (a copy, unless it is one already).
    pub fn join(&self) -> Bytes {
        match self {
            Payload::One(one) => one.clone(),
            Payload::Pieces(pieces) => {
                let mut joined = BytesMut::with_capacity(self.len());
                for piece in pieces.iter() {
                    joined.extend_from_slice(piece);
                }
                joined.freeze()
            }
        }
    }
}

impl Default for Payload {
    fn default() -> Payload {
        Payload::One(Bytes::new())
    }
}

impl From<Bytes> for Payload {
    fn from(one: Bytes) -> Payload {
        Payload::One(one)
    }
}

impl From<Vec<Bytes>> for Payload {
    fn from(pieces: Vec<Bytes>) -> Payload {
        Payload::Pieces(pieces.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_join_in_order() {
        let payload = Payload::from(vec![
            Bytes::from_static(b"ab"),
            Bytes::new(),
            Bytes::from_static(b"c"),
        ]);
        assert_eq!(payload.len(), 3);
        assert_eq!(payload.join(), Bytes::from_static(b"abc"));
        let one = Payload::from(Bytes::from_static(b"xyz"));
        assert_eq!((one.len(), one.pieces().len()), (3, 1));
        assert!(Payload::default().is_empty());
    }
}
