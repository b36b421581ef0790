//! `[[aggregates]]`: routes answered by several backend calls.

use std::time::Duration;

use serde::Deserialize;

/// `[[aggregates]]`: one HTTP route answered by several backend calls, run concurrently where
/// they do not depend on each other.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AggregateConfig {
    /// `VERB /template`, e.g. `GET /api/user-dashboard/{user_id}`.
    pub route: String,
    /// Deadline of the whole plan; `[server] timeout` when absent.
    #[serde(default, with = "humantime_serde")]
    pub timeout: Option<Duration>,
    /// `[[aggregates.calls]]`.
    pub calls: Vec<AggregateCallConfig>,
}

/// `[[aggregates.calls]]`: one backend call of an aggregate.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AggregateCallConfig {
    /// The call's key in the answer, and how other calls refer to its response.
    pub name: String,
    /// `pkg.Service/Method`, a unary method.
    pub method: String,
    /// Request fields (dotted paths or nested tables) and their values: literals, or one
    /// reference as the whole string: `"{path_variable}"`, `"{query.name}"` or
    /// `"{call.field[*].field}"`.
    #[serde(default)]
    pub request: toml::Table,
    /// A required call failing fails the whole request; an optional one is reported in
    /// `errors`. Default false.
    #[serde(default)]
    pub required: bool,
    /// The response field the call contributes to the answer (as a binding's `response_body`
    /// does); the whole response when absent. References still read the whole response.
    #[serde(default)]
    pub response_body: Option<String>,
}
