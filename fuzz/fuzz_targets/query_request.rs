//! Query string → request message: `MethodCodec::build_request` of the echo service's GET
//! bindings, whose request (`Kitchen`) has a field of every kind, with the query and the path
//! variables from the input.
//!
//! Input: one control byte (bit 0: `ignore_unknown_query_parameters`), then UTF-8
//! `path?query`. A path that routes to no echo GET/DELETE binding is replaced by
//! `/v1/echo/q`, so every input reaches the query parser. Invariant: nothing panics (a bad
//! query is a `GatewayError`, a 400).
#![no_main]

use gatehouse_fuzz::{build, route};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&control, rest)) = data.split_first() else {
        return;
    };
    let Ok(target) = std::str::from_utf8(rest) else {
        return;
    };
    // As `http::Uri` splits a request target.
    let (path, query) = match target.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (target, None),
    };
    let ignore_unknown = control & 1 == 1;
    let routed = ["GET", "DELETE"]
        .iter()
        .find_map(|method| route(method, path))
        .or_else(|| route("GET", "/v1/echo/q"));
    let Some((spec, bindings)) = routed else {
        panic!("/v1/echo/q does not route");
    };
    build(spec, &bindings, query, b"", ignore_unknown);
});
