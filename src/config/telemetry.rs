//! `[telemetry]`: access log and trace export.

use serde::Deserialize;

/// `[telemetry]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetryConfig {
    /// One JSON line per request on stdout (`"json"`, default) or none (`"off"`).
    pub access_log: AccessLog,
    /// OTLP/gRPC collector that receives one span per request, e.g. `"http://127.0.0.1:4317"`.
    /// Empty (default): no export.
    pub otlp_endpoint: String,
    /// `service.name` of the exported spans. Default `"gatehouse"`.
    pub otlp_service_name: String,
    /// Share of the traces started here that are sampled (0.0 to 1.0, default 1.0). A caller's
    /// `traceparent` decides for its own trace.
    pub otlp_sample_ratio: f64,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        TelemetryConfig {
            access_log: AccessLog::Json,
            otlp_endpoint: String::new(),
            otlp_service_name: "gatehouse".into(),
            otlp_sample_ratio: 1.0,
        }
    }
}

impl TelemetryConfig {
    pub(super) fn validate(&self) -> Result<(), (&'static str, String)> {
        if !self.otlp_endpoint.is_empty() {
            let uri: http::Uri = self
                .otlp_endpoint
                .parse()
                .map_err(|e| ("otlp_endpoint", format!("{:?}: {e}", self.otlp_endpoint)))?;
            if uri.scheme_str() != Some("http") || uri.host().is_none() {
                return Err((
                    "otlp_endpoint",
                    format!(
                        "{:?} must be http://host:port (OTLP/gRPC without TLS, as to a \
                         collector next to the gateway)",
                        self.otlp_endpoint
                    ),
                ));
            }
        }
        if self.otlp_service_name.trim().is_empty() {
            return Err(("otlp_service_name", "must not be empty".into()));
        }
        if !(0.0..=1.0).contains(&self.otlp_sample_ratio) {
            return Err((
                "otlp_sample_ratio",
                format!("{} is not between 0.0 and 1.0", self.otlp_sample_ratio),
            ));
        }
        Ok(())
    }
}

/// The access log's format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccessLog {
    Json,
    Off,
}
