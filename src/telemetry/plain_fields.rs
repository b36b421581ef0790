//! How log lines write fields: exactly as tracing-subscriber's `DefaultFields` does, with a
//! shortcut for the common case.
//!
//! The fmt layer formats a span's fields into text when the span starts, whether or not any
//! line is ever logged inside it, and every request has a span (`request_id`, `trace_id`,
//! `method`, `route`). `DefaultFields` writes a string through `str`'s `Debug`, which looks at
//! each character to escape it. `PlainFields` writes a string that needs no escaping (printable
//! ASCII without quotes or backslashes, which request ids, trace ids, methods and routes are)
//! as `name="value"` directly, the same text `Debug` gives, gathering such fields on the stack
//! so that the span's text grows once rather than a few bytes at a time. Every other field,
//! every value that needs escaping and all coloured output go through `DefaultFields`' own
//! visitor.

use std::fmt;

use tracing::field::{Field, Visit};
use tracing_subscriber::field::{MakeVisitor, VisitFmt, VisitOutput};
use tracing_subscriber::fmt::format::{DefaultVisitor, Writer};

/// Field formatting for the fmt layer (`.fmt_fields(PlainFields)`).
#[derive(Clone, Copy, Debug, Default)]
pub struct PlainFields;

impl<'a> MakeVisitor<Writer<'a>> for PlainFields {
    type Visitor = PlainVisitor<'a>;

    fn make_visitor(&self, writer: Writer<'a>) -> PlainVisitor<'a> {
        PlainVisitor {
            writer,
            is_empty: true,
            result: Ok(()),
            pending: [0; PENDING],
            pending_len: 0,
        }
    }
}

/// See [`PlainFields`].
pub struct PlainVisitor<'a> {
    writer: Writer<'a>,
    /// Whether nothing has been written yet (the next field needs no space before it).
    is_empty: bool,
    result: fmt::Result,
    /// Plain fields not yet written (whole `str`s, so valid UTF-8).
    pending: [u8; PENDING],
    pending_len: usize,
}

/// Room for a request span's plain fields (about 130 bytes) on the stack.
const PENDING: usize = 256;

/// Whether `DefaultVisitor` writes nothing for a field of this name: log metadata that
/// tracing-log (a default feature of tracing-subscriber) already put in the line.
fn skipped_field(name: &str) -> bool {
    name.starts_with("log.")
}

/// Whether `str`'s `Debug` writes `value` unchanged between its quotes.
fn needs_no_escaping(value: &str) -> bool {
    // A fold without short cuts, which the compiler turns into checks of many bytes at once.
    value.bytes().fold(true, |plain, b| {
        plain & (b' '..=b'~').contains(&b) & (b != b'"') & (b != b'\\') & (b != b'\'')
    })
}

impl Visit for PlainVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        let name = field.name();
        let plain = !self.writer.has_ansi_escapes()
            && name != "message"
            && !name.starts_with("r#")
            && !skipped_field(name)
            && needs_no_escaping(value);
        if !plain {
            let skipped = skipped_field(name);
            self.delegate_field(skipped, |v| v.record_str(field, value));
            return;
        }
        if self.result.is_err() {
            return;
        }
        let separator = if self.is_empty { "" } else { " " };
        self.is_empty = false;
        for part in [separator, name, "=\"", value, "\""] {
            self.push(part);
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        let skipped = skipped_field(field.name());
        self.delegate_field(skipped, |v| v.record_error(field, value));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let skipped = skipped_field(field.name());
        self.delegate_field(skipped, |v| v.record_debug(field, value));
    }
}

impl PlainVisitor<'_> {
    /// Adds `text` to the pending plain fields, writing them first when it does not fit.
    fn push(&mut self, text: &str) {
        if self.pending_len + text.len() > PENDING {
            self.flush();
        }
        if text.len() > PENDING {
            self.result = self.result.and_then(|()| self.writer.write_str(text));
            return;
        }
        let end = self.pending_len + text.len();
        self.pending[self.pending_len..end].copy_from_slice(text.as_bytes());
        self.pending_len = end;
    }

    /// Writes the pending plain fields.
    fn flush(&mut self) {
        if self.pending_len == 0 {
            return;
        }
        let pending = &self.pending[..self.pending_len];
        self.pending_len = 0;
        if self.result.is_ok() {
            // Whole `str`s only were pushed.
            self.result = match std::str::from_utf8(pending) {
                Ok(text) => self.writer.write_str(text),
                Err(_) => Err(fmt::Error),
            };
        }
    }

    /// Hands one field to `DefaultFields`' visitor, continuing where this one is.
    fn delegate_field(&mut self, skipped: bool, visit: impl FnOnce(&mut DefaultVisitor<'_>)) {
        self.flush();
        if self.result.is_err() {
            return;
        }
        let mut default = DefaultVisitor::new(self.writer.by_ref(), self.is_empty);
        visit(&mut default);
        self.result = default.finish();
        if !skipped {
            self.is_empty = false;
        }
    }
}

impl VisitOutput<fmt::Result> for PlainVisitor<'_> {
    fn finish(mut self) -> fmt::Result {
        self.flush();
        self.result
    }
}

impl VisitFmt for PlainVisitor<'_> {
    fn writer(&mut self) -> &mut dyn fmt::Write {
        self.flush();
        &mut self.writer
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::fmt::MakeWriter;
    use tracing_subscriber::fmt::format::{DefaultFields, FormatFields};

    use super::*;

    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Lines {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Lines {
        type Writer = Lines;
        fn make_writer(&'a self) -> Lines {
            self.clone()
        }
    }

    /// What the fmt layer writes, with `fields`, for spans and lines with every kind of value.
    fn log_with<F>(fields: F, ansi: bool) -> String
    where
        F: for<'w> FormatFields<'w> + Send + Sync + 'static,
    {
        let lines = Lines::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(lines.clone())
            .without_time()
            .with_ansi(ansi)
            .fmt_fields(fields)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!(
                "request",
                request_id = "0b6c1f4e-9c1d-4f7a-8e2b-5d3f0a9c7e11",
                trace_id = "-",
                method = "GET",
                route = tracing::field::Empty,
                r#type = "raw",
            );
            span.record("route", "/api/users/{user_id}");
            span.in_scope(|| {
                tracing::warn!(
                    quoted = "say \"hi\"",
                    slash = "a\\b",
                    apostrophe = "it's",
                    newline = "two\nlines",
                    tab = "a\tb",
                    unicode = "café",
                    escape = "\u{1b}[31mred",
                    empty = "",
                    number = 42u64,
                    signed = -7i64,
                    flag = true,
                    debug = ?Some("x"),
                    shown = %"displayed",
                    "a message with \"quotes\" and {}",
                    "an argument"
                );
                let error = std::io::Error::other("disk full");
                tracing::error!(
                    error = &error as &(dyn std::error::Error + 'static),
                    "failed"
                );
                // Longer than the stack buffer, and long enough to fill it part way.
                let long = "l".repeat(PENDING + 1);
                let medium = "m".repeat(PENDING / 2);
                tracing::info!(
                    a = medium.as_str(),
                    b = medium.as_str(),
                    c = long.as_str(),
                    d = "e"
                );
                tracing::info!(
                    a = medium.as_str(),
                    b = "\"",
                    c = medium.as_str(),
                    d = medium.as_str()
                );
            });
        });
        let bytes = lines.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn lines_are_the_same_as_with_the_default_fields() {
        for ansi in [false, true] {
            let plain = log_with(PlainFields, ansi);
            let default = log_with(DefaultFields::new(), ansi);
            assert_eq!(plain, default, "ansi: {ansi}");
        }
        let plain = log_with(PlainFields, false);
        let span = "request{request_id=\"0b6c1f4e-9c1d-4f7a-8e2b-5d3f0a9c7e11\" trace_id=\"-\" \
                    method=\"GET\" type=\"raw\" route=\"/api/users/{user_id}\"}";
        assert_eq!(plain.matches(span).count(), 4, "{plain}");
    }

    #[test]
    fn only_printable_ascii_without_quotes_skips_escaping() {
        assert!(needs_no_escaping("0b6c1f4e-9c1d GET /api/{id=**}:x"));
        assert!(needs_no_escaping(""));
        for value in ["\"", "\\", "'", "\n", "\t", "\u{7f}", "é", "\u{1b}"] {
            assert!(!needs_no_escaping(value), "{value:?}");
        }
    }
}
