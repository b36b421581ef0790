//! `google.api.http` path templates: parsing and request routing.
//!
//! A rule such as `get: "/v1/{name=shelves/*/books/*}"` is parsed once into a
//! [`PathTemplate`]; every route is then inserted into a [`RouteMatcher`], which maps an HTTP
//! method and raw request path to the most specific route and the variable values to bind.
//!
//! This module uses the standard library only and names its siblings through `super::`:
//! `build.rs` includes it with `#[path]` to check the rules of the service descriptors.
//!
//! # Grammar
//!
//! From `google/api/http.proto`:
//!
//! ```text
//! Template  = "/" Segments [ Verb ] ;
//! Segments  = Segment { "/" Segment } ;
//! Segment   = "*" | "**" | LITERAL | Variable ;
//! Variable  = "{" FieldPath [ "=" Segments ] "}" ;
//! FieldPath = IDENT { "." IDENT } ;
//! Verb      = ":" LITERAL ;
//! ```
//!
//! - `{var}` means `{var=*}`. Variables do not nest, and one field path is bound at most once.
//! - `**` must be the last segment (before the verb), also inside a variable.
//! - IDENT is `[A-Za-z_][A-Za-z0-9_]*`.
//! - LITERAL is a non-empty run of RFC 3986 path characters (`pchar`) other than `*`; `%XX`
//!   escapes are allowed and decoded when parsed. A literal `.` or `..` is refused: such a
//!   request path is never routed.
//! - The verb follows the last `:` of the last segment. A `:` inside braces or in an earlier
//!   segment is part of a literal (`/v1/a:b/c` has none).
//!
//! # Matching
//!
//! The raw path is split on `/` before decoding, so `%2F` never separates segments.
//!
//! - A literal matches a segment whose percent-decoded text equals it.
//! - `*` and a single-segment variable match exactly one non-empty segment.
//! - `**` matches zero or more segments, empty ones included (`/v1/**` matches `/v1`, `/v1/`
//!   and `/v1/a//b`).
//! - A path whose last segment holds a `:` is tried twice: split at that `:` against templates
//!   with that verb, and whole against templates without one (`/v1/{id}` matches `/v1/a:b`
//!   with `id = "a:b"`).
//!
//! When several templates match, the most specific wins: compared segment by segment, a
//! literal beats `*` or a single-segment variable, which beats `**`; then a template with a
//! verb beats one without; then the longer template wins; then the first inserted.
//!
//! A path is refused outright ([`PathMatch::BadPath`]) when it does not start with `/`, has a
//! malformed `%` escape, has a segment that is not UTF-8 once decoded, or has a `.` or `..`
//! segment, also percent-encoded (`%2e%2E`) or left after splitting off the verb (`..:run`).
//!
//! # Percent-decoding of bound values
//!
//! - A single-segment variable (`{var}`, `{var=*}`, `{var=literal}`) decodes every escape,
//!   `%2F` included.
//! - A multi-segment variable (`{var=foo/*}`, `{var=**}`) decodes every escape except those of
//!   RFC 6570 reserved characters (`:/?#[]@!$&'()*+,;=`), which stay exactly as received. This
//!   is Envoy's default, so `/v1/{name=**}` on `/v1/a%2Fb/c` binds `a%2Fb/c`.

mod matcher;
pub mod percent;
mod template;

pub use matcher::{Binding, Found, PathError, PathErrorKind, PathMatch, RouteMatcher};
pub use template::{PathTemplate, Segment, TemplateError, Variable};
