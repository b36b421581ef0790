//! A client stream's messages cut out of an HTTP body as it arrives: NDJSON (one JSON text per
//! line) or one JSON array (one message per element). Pure: chunks go in with
//! [`MessageSplitter::push`], complete JSON texts come out of [`MessageSplitter::next_message`],
//! each as soon as its last byte has arrived.
//!
//! The splitter only finds where a text ends; it does not validate it (the method's codec
//! parses each text once, when it builds the message). For an array it follows strings,
//! escapes and nesting with a small state machine. It holds at most the text being cut plus
//! the chunk being scanned: a text longer than the limit is refused before it is complete.

use std::fmt;

use bytes::{Bytes, BytesMut};

/// How the body frames its messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamFraming {
    /// `application/x-ndjson`, `application/jsonl`: one text per line; blank lines are
    /// skipped, and a last line without a line break counts. The limit applies to a line as
    /// sent (its whitespace included, a `\r` before the line break not).
    NdJson,
    /// `application/json`: one array, each element one message.
    Array,
}

/// One message's JSON text and where it stood in the body.
#[derive(Debug, PartialEq, Eq)]
pub struct StreamText {
    /// The line (NDJSON) or element (array), from 1.
    pub number: usize,
    pub text: Bytes,
}

/// Why the body is not a stream of JSON texts.
#[derive(Debug, PartialEq, Eq)]
pub struct SplitError {
    pub framing: StreamFraming,
    /// The line or element it concerns, from 1 (0: the body as a whole).
    pub number: usize,
    pub kind: SplitErrorKind,
}

#[derive(Debug, PartialEq, Eq)]
pub enum SplitErrorKind {
    /// One text is longer than the limit, in bytes.
    TooLarge { limit: usize },
    /// The framing is broken (the texts themselves are checked by the codec).
    Syntax(&'static str),
}

impl fmt::Display for SplitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.number > 0 {
            write!(f, "{}: ", position(self.framing, self.number))?;
        }
        match &self.kind {
            SplitErrorKind::TooLarge { limit } => write!(f, "longer than {limit} bytes"),
            SplitErrorKind::Syntax(reason) => f.write_str(reason),
        }
    }
}

/// `line 3` or `element 3`.
pub fn position(framing: StreamFraming, number: usize) -> String {
    match framing {
        StreamFraming::NdJson => format!("line {number}"),
        StreamFraming::Array => format!("element {number}"),
    }
}

/// Where the array scanner stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ArrayState {
    /// Before the `[`.
    Open,
    /// After `[` or `,`: an element (or, right after `[`, the `]`) comes next.
    Element,
    /// Inside an element.
    Inside,
    /// After an element: `,` or `]`.
    Separator,
    /// After the `]`: only whitespace may follow.
    Closed,
}

/// Cuts JSON texts out of a body that arrives in chunks.
#[derive(Debug)]
pub struct MessageSplitter {
    framing: StreamFraming,
    limit: usize,
    /// Bytes not yet given out; the text being cut starts at 0.
    buffer: BytesMut,
    /// How far `buffer` has been scanned.
    scanned: usize,
    /// The number of the text being cut (lines count blank ones too).
    number: usize,
    ended: bool,
    failed: bool,
    // The array scanner.
    state: ArrayState,
    depth: usize,
    in_string: bool,
    escaped: bool,
}

impl MessageSplitter {
    /// A splitter refusing any text longer than `limit` bytes.
    pub fn new(framing: StreamFraming, limit: usize) -> MessageSplitter {
        MessageSplitter {
            framing,
            limit,
            buffer: BytesMut::new(),
            scanned: 0,
            number: 1,
            ended: false,
            failed: false,
            state: ArrayState::Open,
            depth: 0,
            in_string: false,
            escaped: false,
        }
    }

    /// Adds the next chunk of the body.
    pub fn push(&mut self, chunk: &[u8]) {
        self.buffer.extend_from_slice(chunk);
    }

    /// Says the body has ended: what is left must complete the stream.
    pub fn end(&mut self) {
        self.ended = true;
    }

    /// The next complete text, `Ok(None)` when more of the body is needed (or, after
    /// [`end`](Self::end), when the stream is over). After an error the splitter stays failed.
    pub fn next_message(&mut self) -> Result<Option<StreamText>, SplitError> {
        if self.failed {
            return Ok(None);
        }
        let found = match self.framing {
            StreamFraming::NdJson => self.next_line(),
            StreamFraming::Array => self.next_element(),
        };
        if found.is_err() {
            self.failed = true;
            self.buffer.clear();
        }
        found
    }

    fn error(&self, number: usize, kind: SplitErrorKind) -> SplitError {
        SplitError {
            framing: self.framing,
            number,
            kind,
        }
    }

    fn too_large(&self) -> SplitError {
        self.error(self.number, SplitErrorKind::TooLarge { limit: self.limit })
    }

    fn next_line(&mut self) -> Result<Option<StreamText>, SplitError> {
        loop {
            let line_end = self.buffer[self.scanned..]
                .iter()
                .position(|&b| b == b'\n')
                .map(|at| self.scanned + at);
            let (line, number) = match line_end {
                Some(end) => {
                    let mut line = self.buffer.split_to(end + 1);
                    line.truncate(end);
                    self.scanned = 0;
                    let number = self.number;
                    self.number += 1;
                    (line, number)
                }
                None if self.ended && !self.buffer.is_empty() => {
                    self.scanned = 0;
                    (self.buffer.split(), self.number)
                }
                None => {
                    self.scanned = self.buffer.len();
                    // The line can only grow: refused now, it would be refused whole.
                    if line_len(&self.buffer) > self.limit {
                        return Err(self.too_large());
                    }
                    return Ok(None);
                }
            };
            // Measured as it came, blank or not, so that what is refused never depends on
            // how the body was cut into chunks.
            if line_len(&line) > self.limit {
                return Err(self.error(number, SplitErrorKind::TooLarge { limit: self.limit }));
            }
            let text = trim(&line);
            if text.is_empty() {
                continue;
            }
            let text = trim_bytes(line.freeze());
            return Ok(Some(StreamText { number, text }));
        }
    }

    fn next_element(&mut self) -> Result<Option<StreamText>, SplitError> {
        use ArrayState::*;
        while self.scanned < self.buffer.len() {
            let byte = self.buffer[self.scanned];
            match self.state {
                Open | Element | Separator | Closed if is_space(byte) => {
                    // Whitespace between elements is dropped, not kept.
                    let _ = self.buffer.split_to(self.scanned + 1);
                    self.scanned = 0;
                    continue;
                }
                Open if byte == b'[' => self.state = Element,
                Open => {
                    return Err(self.error(
                        0,
                        SplitErrorKind::Syntax(
                            "a client stream takes a JSON array of messages, or NDJSON",
                        ),
                    ));
                }
                Element if byte == b']' && self.number == 1 => self.state = Closed,
                Element if byte == b']' || byte == b',' => {
                    return Err(self.error(
                        self.number,
                        SplitErrorKind::Syntax("no message between the separators"),
                    ));
                }
                Element => {
                    self.state = Inside;
                    // The element starts here: drop what came before it.
                    let _ = self.buffer.split_to(self.scanned);
                    self.scanned = 0;
                    continue;
                }
                Inside => {
                    if let Some(end) = self.scan_inside(byte)? {
                        if end > self.limit {
                            return Err(self.too_large());
                        }
                        let number = self.number;
                        self.number += 1;
                        self.state = Separator;
                        let text = self.buffer.split_to(end).freeze();
                        self.scanned = 0;
                        return Ok(Some(StreamText {
                            number,
                            text: trim_bytes(text),
                        }));
                    }
                }
                Separator if byte == b',' => self.state = Element,
                Separator if byte == b']' => self.state = Closed,
                Separator => {
                    return Err(self.error(
                        self.number - 1,
                        SplitErrorKind::Syntax("expected `,` or `]` after it"),
                    ));
                }
                Closed => {
                    return Err(self.error(0, SplitErrorKind::Syntax("text after the array")));
                }
            }
            self.scanned += 1;
            if self.state == Inside && self.scanned > self.limit {
                return Err(self.too_large());
            }
        }
        if !self.ended {
            return Ok(None);
        }
        match self.state {
            Closed => Ok(None),
            Open => Err(self.error(
                0,
                SplitErrorKind::Syntax(
                    "a client stream takes a JSON array of messages, or NDJSON; the body is empty",
                ),
            )),
            Inside | Element => Err(self.error(
                self.number,
                SplitErrorKind::Syntax("the body ends before the element does"),
            )),
            Separator => Err(self.error(
                self.number - 1,
                SplitErrorKind::Syntax("the body ends before the array's `]`"),
            )),
        }
    }

    /// Follows one byte of an element; `Some(end)` when the element ends before `end` (the
    /// byte at `scanned` included when it closes the element, excluded when it follows it).
    fn scan_inside(&mut self, byte: u8) -> Result<Option<usize>, SplitError> {
        if self.in_string {
            match byte {
                _ if self.escaped => self.escaped = false,
                b'\\' => self.escaped = true,
                b'"' => {
                    self.in_string = false;
                    if self.depth == 0 {
                        return Ok(Some(self.scanned + 1));
                    }
                }
                _ => {}
            }
            return Ok(None);
        }
        match byte {
            b'"' => self.in_string = true,
            b'{' | b'[' => self.depth += 1,
            b'}' | b']' if self.depth > 0 => {
                self.depth -= 1;
                if self.depth == 0 {
                    return Ok(Some(self.scanned + 1));
                }
            }
            // A bare value (number, true, false, null) ends where the array goes on; the
            // separator is then read in its own state.
            b']' | b',' if self.depth == 0 => return Ok(Some(self.scanned)),
            b'}' => {
                return Err(self.error(self.number, SplitErrorKind::Syntax("unexpected `}`")));
            }
            _ if is_space(byte) && self.depth == 0 => return Ok(Some(self.scanned)),
            _ => {}
        }
        Ok(None)
    }
}

/// A line's length: its bytes before the line break, less a `\r` that ends them.
fn line_len(line: &[u8]) -> usize {
    line.len() - usize::from(line.last() == Some(&b'\r'))
}

fn is_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\r' | b'\n')
}

fn trim(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|&b| !is_space(b))
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|&b| !is_space(b))
        .map_or(start, |i| i + 1);
    &bytes[start..end]
}

fn trim_bytes(bytes: Bytes) -> Bytes {
    let trimmed = trim(&bytes);
    let start = trimmed.as_ptr() as usize - bytes.as_ptr() as usize;
    let len = trimmed.len();
    bytes.slice(start..start + len)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every text of `body` fed in chunks of `size`, or the error as the client reads it.
    fn split(framing: StreamFraming, limit: usize, body: &[u8], size: usize) -> Vec<String> {
        let mut splitter = MessageSplitter::new(framing, limit);
        let mut out = Vec::new();
        let mut chunks = body.chunks(size.max(1)).peekable();
        loop {
            match chunks.next() {
                Some(chunk) => splitter.push(chunk),
                None => splitter.end(),
            }
            loop {
                match splitter.next_message() {
                    Ok(Some(StreamText { number, text })) => {
                        out.push(format!("{number}:{}", String::from_utf8_lossy(&text)));
                    }
                    Ok(None) => break,
                    Err(error) => {
                        out.push(format!("error {error}"));
                        return out;
                    }
                }
            }
            if chunks.peek().is_none() && splitter.ended {
                return out;
            }
        }
    }

    fn check(framing: StreamFraming, table: &[(&str, &[&str])]) {
        for (body, expected) in table {
            for size in [usize::MAX, 1, 2, 3, 7] {
                let got = split(framing, 32, body.as_bytes(), size);
                assert_eq!(got, *expected, "{framing:?} {body:?} in chunks of {size}");
            }
        }
    }

    #[test]
    fn ndjson_lines_are_messages() {
        check(
            StreamFraming::NdJson,
            &[
                ("", &[]),
                ("\n\n  \r\n", &[]),
                ("{}", &["1:{}"]),
                ("{\"a\":1}\n{\"a\":2}\n", &["1:{\"a\":1}", "2:{\"a\":2}"]),
                // Blank lines count as lines, and a last line needs no break.
                ("{}\r\n\n  {\"b\" : [1]}  ", &["1:{}", "3:{\"b\" : [1]}"]),
                // What a line holds is the codec's business.
                ("{\n]x\n", &["1:{", "2:]x"]),
                (
                    "{\"s\":\"0123456789012345678901234567890123\"}\n{}",
                    &["error line 1: longer than 32 bytes"],
                ),
                (
                    "{}\n{\"s\":\"0123456789012345678901234567890123\"",
                    &["1:{}", "error line 2: longer than 32 bytes"],
                ),
                // Found by the fuzz target: whitespace counts, whatever the chunks, and a
                // `\r` before the line break does not.
                ("{}                              \r\n", &["1:{}"]),
                (
                    "{}                               \r\n",
                    &["error line 1: longer than 32 bytes"],
                ),
                (
                    "{}\n                                 \n",
                    &["1:{}", "error line 2: longer than 32 bytes"],
                ),
            ],
        );
    }

    #[test]
    fn array_elements_are_messages() {
        check(
            StreamFraming::Array,
            &[
                ("[]", &[]),
                (" [ ] \n", &[]),
                ("[{}]", &["1:{}"]),
                (
                    "[{\"a\":[1,{\"b\":\"],}\\\"[\"}]} , {\"c\":2}]",
                    &["1:{\"a\":[1,{\"b\":\"],}\\\"[\"}]}", "2:{\"c\":2}"],
                ),
                (
                    "[1, \"x,]\" ,null,[2]]",
                    &["1:1", "2:\"x,]\"", "3:null", "4:[2]"],
                ),
                ("[{}] x", &["1:{}", "error text after the array"]),
                (
                    "{}",
                    &["error a client stream takes a JSON array of messages, or NDJSON"],
                ),
                (
                    "",
                    &[
                        "error a client stream takes a JSON array of messages, or NDJSON; the body \
                       is empty",
                    ],
                ),
                (
                    "[{},,{}]",
                    &["1:{}", "error element 2: no message between the separators"],
                ),
                (
                    "[{},]",
                    &["1:{}", "error element 2: no message between the separators"],
                ),
                (
                    "[,]",
                    &["error element 1: no message between the separators"],
                ),
                (
                    "[{} {}]",
                    &["1:{}", "error element 1: expected `,` or `]` after it"],
                ),
                (
                    "[{}",
                    &[
                        "1:{}",
                        "error element 1: the body ends before the array's `]`",
                    ],
                ),
                (
                    "[{}, {\"a\":",
                    &[
                        "1:{}",
                        "error element 2: the body ends before the element does",
                    ],
                ),
                ("[}]", &["error element 1: unexpected `}`"]),
                (
                    "[{}, {\"s\":\"0123456789012345678901234567890123\"}]",
                    &["1:{}", "error element 2: longer than 32 bytes"],
                ),
                // Found by the fuzz target: an element that ends on the byte past the limit.
                (
                    "[\"0123456789012345678901234567890\"]",
                    &["error element 1: longer than 32 bytes"],
                ),
                (
                    "[\"012345678901234567890123456789\"]",
                    &["1:\"012345678901234567890123456789\""],
                ),
            ],
        );
    }

    #[test]
    fn a_failed_splitter_gives_nothing_more() {
        let mut splitter = MessageSplitter::new(StreamFraming::Array, 8);
        splitter.push(b"{} [{}]");
        assert!(splitter.next_message().is_err());
        splitter.end();
        assert_eq!(splitter.next_message(), Ok(None));
    }
}
