//! The request's ids for log lines: a task-local set around each request, and the log format
//! that writes it.
//!
//! A log line written while a request is handled says which request it was:
//!
//! ```text
//! 2026-11-29T17:38:18.123456Z  WARN request{request_id="…" trace_id="…" method="GET" route="/api/users/{user_id}"}: gatehouse::error: request failed …
//! ```
//!
//! This is the text tracing-subscriber writes for a span of that name and those fields, but no
//! span is made for it. A `tracing` span per request costs its registry entry, its fields
//! formatted into text when it starts (whether or not a line is ever logged inside it) and its
//! bookkeeping on every poll: about 8 % of the gateway's instructions per REST request. The ids
//! are kept here instead, as they are, and written out only when a line is. The request span is
//! still made when it is exported (`super::export`); the log leaves it out, since this writes
//! the same ids.

use std::cell::OnceCell;
use std::fmt;

use http::HeaderValue;
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::{Format, Full, Writer};
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use super::metrics::SharedString;
use super::trace::{TraceId, printable_request_id};

tokio::task_local! {
    static REQUEST: RequestContext;
}

/// What log lines say about the request being handled.
#[derive(Debug)]
pub struct RequestContext {
    /// The request id header, when there is one ([`printable_request_id`] reads it).
    request_id: Option<HeaderValue>,
    trace_id: TraceId,
    method: &'static str,
    /// The matched route's template, once the handler has matched one.
    route: OnceCell<SharedString>,
}

impl RequestContext {
    pub fn new(request_id: Option<&HeaderValue>, trace_id: TraceId, method: &'static str) -> Self {
        RequestContext {
            request_id: request_id.cloned(),
            trace_id,
            method,
            route: OnceCell::new(),
        }
    }

    /// Runs `future` with this as the request being handled.
    pub fn scope<F: Future>(self, future: F) -> tokio::task::futures::TaskLocalFuture<Self, F> {
        REQUEST.scope(self, future)
    }

    /// `request{request_id="…" trace_id="…" method="…" route="…"}:`, the route only once
    /// known, painted as tracing-subscriber paints a span.
    fn write(&self, writer: &mut Writer<'_>, ansi: bool) -> fmt::Result {
        let request_id = self
            .request_id
            .as_ref()
            .and_then(printable_request_id)
            .unwrap_or("-");
        let route = self.route.get().map(|route| &**route);
        write!(
            writer,
            "{}{}",
            Paint(ansi, BOLD, "request"),
            Paint(ansi, BOLD, "{")
        )?;
        let fields = [
            ("request_id", Some(request_id)),
            ("trace_id", Some(self.trace_id.as_str())),
            ("method", Some(self.method)),
            ("route", route),
        ];
        let mut separator = "";
        for (name, value) in fields {
            let Some(value) = value else { continue };
            write!(
                writer,
                "{separator}{}{}{value:?}",
                Paint(ansi, ITALIC, name),
                Paint(ansi, DIMMED, "=")
            )?;
            separator = " ";
        }
        write!(
            writer,
            "{}{}",
            Paint(ansi, BOLD, "}"),
            Paint(ansi, DIMMED, ":")
        )
    }
}

/// Records the route the handler matched for the request being handled, in its log lines and,
/// when it is exported, in its span.
pub fn record_route(route: &SharedString) {
    let _ = REQUEST.try_with(|request| request.route.set(route.clone()));
    if super::export::exporting() {
        tracing::Span::current().record("route", &**route);
    }
}

/// The log's line format: tracing-subscriber's full format, with the request being handled (if
/// any) written where its span would be.
#[derive(Debug)]
pub struct LogFormat {
    /// Writes the rest of the line: other spans, the target and the fields.
    rest: Format<Full, ()>,
}

impl Default for LogFormat {
    fn default() -> Self {
        LogFormat {
            rest: Format::default().without_time().with_level(false),
        }
    }
}

impl<S, N> FormatEvent<S, N> for LogFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let ansi = writer.has_ansi_escapes();
        if ansi {
            writer.write_str(DIMMED)?;
        }
        if SystemTime.format_time(&mut writer).is_err() {
            writer.write_str("<unknown time>")?;
        }
        if ansi {
            writer.write_str(RESET)?;
        }
        let level = *event.metadata().level();
        write!(
            writer,
            " {} ",
            Paint(ansi, level_colour(level), level_text(level))
        )?;
        let written = REQUEST.try_with(|request| request.write(&mut writer, ansi));
        if let Ok(result) = written {
            result?;
            // The other spans follow without a space, as spans do; the target after one.
            let more_spans = ctx
                .event_scope()
                .is_some_and(|scope| scope.from_root().next().is_some());
            if !more_spans {
                writer.write_char(' ')?;
            }
        }
        self.rest.format_event(ctx, writer, event)
    }
}

const RESET: &str = "\x1b[0m";
const BOLD: &str = "\x1b[1m";
const DIMMED: &str = "\x1b[2m";
const ITALIC: &str = "\x1b[3m";

/// `text` in `style` when `.0` (the writer takes ANSI escapes), else as it is.
struct Paint<'a>(bool, &'static str, &'a str);

impl fmt::Display for Paint<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Paint(ansi, style, text) = *self;
        if ansi {
            write!(f, "{style}{text}{RESET}")
        } else {
            f.write_str(text)
        }
    }
}

/// The level as tracing-subscriber writes it: five characters wide.
fn level_text(level: Level) -> &'static str {
    match level {
        Level::TRACE => "TRACE",
        Level::DEBUG => "DEBUG",
        Level::INFO => " INFO",
        Level::WARN => " WARN",
        Level::ERROR => "ERROR",
    }
}

/// The level's colour as tracing-subscriber paints it.
fn level_colour(level: Level) -> &'static str {
    match level {
        Level::TRACE => "\x1b[35m",
        Level::DEBUG => "\x1b[34m",
        Level::INFO => "\x1b[32m",
        Level::WARN => "\x1b[33m",
        Level::ERROR => "\x1b[31m",
    }
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::{Arc, Mutex};

    use http::HeaderMap;
    use tracing_subscriber::fmt::MakeWriter;

    use super::*;
    use crate::telemetry::trace::ensure_traceparent;

    const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

    /// Log output gathered in memory.
    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Lines {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl MakeWriter<'_> for Lines {
        type Writer = Lines;

        fn make_writer(&self) -> Lines {
            self.clone()
        }
    }

    impl Lines {
        /// The text written, each line without its timestamp (which ends in the first `Z`).
        fn untimed(&self) -> String {
            let text = String::from_utf8(self.0.lock().unwrap().clone()).unwrap();
            assert!(!text.is_empty(), "nothing was logged");
            text.lines()
                .map(|line| line.split_once('Z').unwrap().1.to_string() + "\n")
                .collect()
        }
    }

    fn context(request_id: Option<&'static str>) -> RequestContext {
        let mut headers = HeaderMap::new();
        let traceparent = format!("00-{TRACE}-00f067aa0ba902b7-01");
        headers.insert("traceparent", traceparent.parse().unwrap());
        let trace = ensure_traceparent(&mut headers);
        let id = request_id.map(HeaderValue::from_static);
        RequestContext::new(id.as_ref(), trace, "GET")
    }

    /// What the lines logged by `log` look like with tracing-subscriber's own format, in a
    /// real span named `request` with these fields.
    fn in_a_span(ansi: bool, request_id: &str, route: Option<&str>, log: fn()) -> String {
        let lines = Lines::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(lines.clone())
            .with_ansi(ansi)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!(
                "request",
                request_id,
                trace_id = TRACE,
                method = "GET",
                route = tracing::field::Empty,
            );
            let _entered = span.enter();
            if let Some(route) = route {
                span.record("route", route);
            }
            log();
        });
        lines.untimed()
    }

    /// What the lines logged by `log` look like with [`LogFormat`], in the request's scope.
    fn in_the_context(
        ansi: bool,
        request_id: Option<&'static str>,
        route: Option<&'static str>,
        log: fn(),
    ) -> String {
        let lines = Lines::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(lines.clone())
            .with_ansi(ansi)
            .event_format(LogFormat::default())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            REQUEST.sync_scope(context(request_id), || {
                if let Some(route) = route {
                    record_route(&SharedString::const_str(route));
                }
                log();
            });
        });
        lines.untimed()
    }

    fn one_warning() {
        tracing::warn!(target: "gatehouse::error", code = 14, cause = "a \"quoted\" cause", "request failed");
    }

    fn in_an_inner_span() {
        let inner = tracing::info_span!("inner", attempt = 2);
        let _entered = inner.enter();
        tracing::error!("inside");
        tracing::info!(target: "gatehouse::other", "plain");
    }

    #[test]
    fn a_line_names_its_request_as_a_span_of_those_fields_would() {
        for ansi in [false, true] {
            let route = Some("/v1/things/{id}");
            assert_eq!(
                in_the_context(ansi, Some("r-1"), route, one_warning),
                in_a_span(ansi, "r-1", route, one_warning),
                "ansi {ansi}"
            );
            assert_eq!(
                in_the_context(ansi, Some("r-1"), route, in_an_inner_span),
                in_a_span(ansi, "r-1", route, in_an_inner_span),
                "ansi {ansi}"
            );
        }
    }

    #[test]
    fn the_route_is_named_once_matched_and_odd_request_ids_are_escaped() {
        let line = in_the_context(false, Some("a\"b"), None, one_warning);
        assert_eq!(line, in_a_span(false, "a\"b", None, one_warning));
        assert!(
            line.starts_with(&format!(
                "  WARN request{{request_id=\"a\\\"b\" trace_id=\"{TRACE}\" method=\"GET\"}}: \
                 gatehouse::error: request failed"
            )),
            "{line}"
        );
        // No request id, or one that cannot be printed as it is: a dash.
        assert_eq!(
            in_the_context(false, None, None, one_warning),
            in_a_span(false, "-", None, one_warning)
        );
    }

    #[test]
    fn a_line_outside_a_request_is_tracing_subscribers_own() {
        let lines = Lines::default();
        let ours = tracing_subscriber::fmt()
            .with_writer(lines.clone())
            .event_format(LogFormat::default())
            .finish();
        tracing::subscriber::with_default(ours, one_warning);
        let theirs = Lines::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(theirs.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, one_warning);
        assert_eq!(lines.untimed(), theirs.untimed());
    }
}
