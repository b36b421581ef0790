//! `google.api.HttpBody` on the wire, without building messages: written after an encoded
//! request (protobuf merges a field that appears again, so an appended field is as good as one
//! set while building), and read out of an encoded reply with its bytes shared, not copied.

use bytes::{BufMut, Bytes};
use prost::encoding::{
    DecodeContext, WireType, decode_key, decode_varint, encode_key, encode_varint,
    encoded_len_varint, skip_field,
};

/// `google.api.HttpBody.content_type` and `.data`.
const CONTENT_TYPE: u32 = 1;
const DATA: u32 = 2;

/// How a raw value is written: into an `HttpBody` with this content type, or as the bytes of a
/// `bytes` field.
pub enum Raw<'a> {
    HttpBody { content_type: &'a str },
    Bytes,
}

impl Raw<'_> {
    /// The encoded length of the value with `data_len` bytes of data (what a length prefix
    /// counts).
    fn len(&self, data_len: usize) -> usize {
        match self {
            Raw::HttpBody { content_type } => {
                let mut len = 0;
                if !content_type.is_empty() {
                    len += field_len(CONTENT_TYPE, content_type.len());
                }
                if data_len > 0 {
                    len += field_len(DATA, data_len);
                }
                len
            }
            Raw::Bytes => data_len,
        }
    }

    /// Writes what comes before the data.
    fn write_head(&self, data_len: usize, out: &mut Vec<u8>) {
        if let Raw::HttpBody { content_type } = self {
            if !content_type.is_empty() {
                write_prefix(CONTENT_TYPE, content_type.len(), out);
                out.put_slice(content_type.as_bytes());
            }
            if data_len > 0 {
                write_prefix(DATA, data_len, out);
            }
        }
    }
}

/// The encoded length of a length-delimited field `number` holding `len` bytes.
fn field_len(number: u32, len: usize) -> usize {
    prost::encoding::key_len(number) + encoded_len_varint(len as u64) + len
}

fn write_prefix(number: u32, len: usize, out: &mut Vec<u8>) {
    encode_key(number, WireType::LengthDelimited, out);
    encode_varint(len as u64, out);
}

/// The encoding of `data` written as `raw` at the field path `numbers` (each a message field
/// of the one before, the last the field itself); with no numbers, the `HttpBody`'s own fields
/// (the message is one).
pub fn encode_at(numbers: &[u32], raw: &Raw<'_>, data: &[u8], out: &mut Vec<u8>) {
    head_at(numbers, raw, data.len(), out);
    out.put_slice(data);
}

/// [`encode_at`] but for the data itself, `data_len` bytes which are to follow as they are.
pub fn head_at(numbers: &[u32], raw: &Raw<'_>, data_len: usize, out: &mut Vec<u8>) {
    // The length of what each field of the path holds, innermost last.
    let mut lens = vec![0; numbers.len()];
    let mut inner = raw.len(data_len);
    for (i, &number) in numbers.iter().enumerate().rev() {
        lens[i] = inner;
        inner = field_len(number, inner);
    }
    out.reserve(inner - data_len);
    for (&number, &len) in numbers.iter().zip(&lens) {
        write_prefix(number, len, out);
    }
    raw.write_head(data_len, out);
}

/// The `content_type` and `data` of the `HttpBody` at the field path `numbers` of `message`
/// (with no numbers, `message` is the `HttpBody`); the last value on the wire wins, as when
/// decoding, and an absent one is empty. `data` shares `message`'s buffer.
pub fn read_http_body(message: &Bytes, numbers: &[u32]) -> Result<(String, Bytes), String> {
    let mut content_type = Bytes::new();
    let mut data = Bytes::new();
    read_into(message, message, numbers, &mut content_type, &mut data)?;
    let content_type = String::from_utf8(content_type.to_vec())
        .map_err(|_| "HttpBody.content_type is not UTF-8".to_string())?;
    Ok((content_type, data))
}

fn read_into(
    whole: &Bytes,
    message: &[u8],
    numbers: &[u32],
    content_type: &mut Bytes,
    data: &mut Bytes,
) -> Result<(), String> {
    let mut buf = message;
    while !buf.is_empty() {
        let (number, wire_type) = decode_key(&mut buf).map_err(|e| e.to_string())?;
        if wire_type != WireType::LengthDelimited {
            skip_field(wire_type, number, &mut buf, DecodeContext::default())
                .map_err(|e| e.to_string())?;
            continue;
        }
        let len = decode_varint(&mut buf).map_err(|e| e.to_string())?;
        let len = usize::try_from(len)
            .ok()
            .filter(|&len| len <= buf.len())
            .ok_or("a field runs past the end of the message")?;
        let (value, rest) = buf.split_at(len);
        buf = rest;
        match numbers {
            [first, inner @ ..] if *first == number => {
                read_into(whole, value, inner, content_type, data)?;
            }
            [] if number == CONTENT_TYPE => *content_type = whole.slice_ref(value),
            [] if number == DATA => *data = whole.slice_ref(value),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;
    use crate::proto::gatehouse::media::v1::{Blob, Details};
    use crate::proto::google::api::HttpBody;

    #[test]
    fn an_http_body_written_at_a_path_decodes_as_if_set() {
        let mut out = Blob {
            name: "n".into(),
            ..Blob::default()
        }
        .encode_to_vec();
        let png = Raw::HttpBody {
            content_type: "image/png",
        };
        encode_at(&[2], &png, b"\x89PNG", &mut out);
        encode_at(&[7, 3], &Raw::Bytes, b"thumb", &mut out);
        encode_at(&[8], &Raw::Bytes, b"", &mut out);
        let blob = Blob::decode(&*out).unwrap();
        assert_eq!(blob.name, "n");
        let file = blob.file.unwrap();
        assert_eq!(
            (file.content_type.as_str(), &file.data[..]),
            ("image/png", &b"\x89PNG"[..])
        );
        assert_eq!(
            blob.details,
            Some(Details {
                thumbnail: b"thumb".to_vec(),
                ..Details::default()
            })
        );
        assert_eq!(blob.attachments, vec![Vec::<u8>::new()]);
    }

    #[test]
    fn the_head_and_the_data_are_the_whole_encoding() {
        let raw = Raw::HttpBody {
            content_type: "text/plain",
        };
        let (mut whole, mut head) = (Vec::new(), Vec::new());
        encode_at(&[7, 2], &raw, b"hello", &mut whole);
        head_at(&[7, 2], &raw, 5, &mut head);
        head.extend_from_slice(b"hello");
        assert_eq!(head, whole);
    }

    #[test]
    fn a_whole_http_body_is_read_with_the_last_value_winning() {
        let first = HttpBody {
            content_type: "text/plain".into(),
            data: b"old".to_vec(),
            extensions: vec![],
        };
        let mut wire = first.encode_to_vec();
        encode_at(&[], &Raw::HttpBody { content_type: "" }, b"new", &mut wire);
        let wire = Bytes::from(wire);
        let (content_type, data) = read_http_body(&wire, &[]).unwrap();
        assert_eq!(
            (content_type.as_str(), &data[..]),
            ("text/plain", &b"new"[..])
        );
    }

    #[test]
    fn a_nested_http_body_is_read_and_a_truncated_one_refused() {
        let blob = Blob {
            count: 3,
            file: Some(HttpBody {
                content_type: "text/csv".into(),
                data: b"a,b".to_vec(),
                extensions: vec![],
            }),
            ..Blob::default()
        };
        let wire = Bytes::from(blob.encode_to_vec());
        let (content_type, data) = read_http_body(&wire, &[2]).unwrap();
        assert_eq!(
            (content_type.as_str(), &data[..]),
            ("text/csv", &b"a,b"[..])
        );
        let (content_type, data) = read_http_body(&wire, &[4]).unwrap();
        assert_eq!((content_type.as_str(), data.len()), ("", 0));
        let cut = wire.slice(..wire.len() - 1);
        assert!(read_http_body(&cut, &[2]).is_err());
    }
}
