use std::io::Write;
use std::sync::Arc;

use tower::Layer;

use super::service::AccessLog;
use super::sink::LineSink;

/// Records every request: the request metrics always, a JSON access-log line when enabled.
/// Put it outside everything that may answer a request (CORS, limits, panic guards) and
/// inside `SetRequestIdLayer`, so it sees every response and the request id.
#[derive(Clone)]
pub struct AccessLogLayer {
    sink: Option<Arc<LineSink>>,
}

impl AccessLogLayer {
    /// Lines go to stdout when `enabled` (`[telemetry] access_log = "json"`), through one writer
    /// thread shared by every layer of the process.
    pub fn new(enabled: bool) -> AccessLogLayer {
        AccessLogLayer {
            sink: enabled.then(LineSink::stdout),
        }
    }

    /// Lines go to `writer`, through a writer thread of its own that ends when the last clone
    /// of the layer (and of its services) is dropped.
    pub fn with_writer(writer: impl Write + Send + 'static) -> AccessLogLayer {
        AccessLogLayer {
            sink: Some(LineSink::spawn(writer)),
        }
    }
}

impl<S> Layer<S> for AccessLogLayer {
    type Service = AccessLog<S>;

    fn layer(&self, inner: S) -> AccessLog<S> {
        AccessLog::new(inner, self.sink.clone())
    }
}
