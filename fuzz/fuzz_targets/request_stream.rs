//! A client stream's body → its JSON texts: `MessageSplitter` fed the body in chunks.
//!
//! Input: one control byte (bit 0: NDJSON or array framing; bits 1–3 pick the chunk size, 1 to
//! 128 bytes), one byte for the per-text limit (1 to 256), then the body, any bytes.
//! Invariants: nothing panics; the texts and the error are the same whatever the chunking
//! (compared with the body fed whole); no text is empty, longer than the limit or (NDJSON) holds
//! a line break; numbers only grow; and an array body that serde_json reads as an array of
//! values splits into exactly those values, or fails only on a text over the limit.
#![no_main]

use gatehouse::transcode::request_stream::{MessageSplitter, StreamFraming, StreamText};
use libfuzzer_sys::fuzz_target;

/// What the splitter made of `body` fed in chunks of `size`: the texts, then the error if any.
fn split(
    framing: StreamFraming,
    limit: usize,
    body: &[u8],
    size: usize,
) -> (Vec<StreamText>, Option<String>) {
    let mut splitter = MessageSplitter::new(framing, limit);
    let mut texts = Vec::new();
    let mut chunks = body.chunks(size);
    loop {
        let more = match chunks.next() {
            Some(chunk) => {
                splitter.push(chunk);
                true
            }
            None => {
                splitter.end();
                false
            }
        };
        loop {
            match splitter.next_message() {
                Ok(Some(text)) => texts.push(text),
                Ok(None) => break,
                Err(error) => return (texts, Some(error.to_string())),
            }
        }
        if !more {
            return (texts, None);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let [control, limit, body @ ..] = data else {
        return;
    };
    let framing = if control & 1 == 0 {
        StreamFraming::NdJson
    } else {
        StreamFraming::Array
    };
    let size = 1 << ((control >> 1) & 7);
    let limit = usize::from(*limit) + 1;
    let (texts, error) = split(framing, limit, body, size);
    let (whole, whole_error) = split(framing, limit, body, body.len().max(1));
    assert_eq!(texts, whole, "chunks of {size}");
    assert_eq!(error, whole_error, "chunks of {size}");
    let mut last = 0;
    for text in &texts {
        assert!(!text.text.is_empty() && text.text.len() <= limit);
        assert!(text.number > last);
        last = text.number;
        if framing == StreamFraming::NdJson {
            assert!(!text.text.contains(&b'\n'));
        }
    }
    // What serde_json reads as an array splits into its elements, unless one is too long.
    if framing == StreamFraming::Array
        && let Ok(serde_json::Value::Array(values)) = serde_json::from_slice(body)
    {
        match &error {
            None => {
                assert_eq!(texts.len(), values.len());
                for (text, value) in texts.iter().zip(&values) {
                    let read: serde_json::Value =
                        serde_json::from_slice(&text.text).expect("an element is a value");
                    assert_eq!(&read, value);
                }
            }
            Some(error) => assert!(error.ends_with("bytes"), "{error}"),
        }
    }
});
