//! JSON body → request message: `MethodCodec::build_request` of the echo service's bindings
//! that take a body (`body: "*"` and `body: "nested"`), the body being the input.
//!
//! Input: one control byte (its value modulo 4 picks the binding), then the body, any bytes.
//! The JSON depth check the server runs first (`security::json_too_deep`) runs too, but the
//! request is built whatever it says, so the builder itself is held to any body. Invariant:
//! nothing panics (a bad body is a `GatewayError`, a 400).
#![no_main]

use gatehouse::config::DEFAULT_MAX_JSON_DEPTH;
use gatehouse::security::json_too_deep;
use gatehouse_fuzz::{build, route};
use libfuzzer_sys::fuzz_target;

/// The echo bindings with a body, as `(method, a path they route)`.
const WITH_BODY: [(&str, &str); 4] = [
    ("POST", "/v1/echo"),
    ("POST", "/v1/shelves/s1:archive"),
    ("PUT", "/v1/echo/s/nested"),
    ("POST", "/gatehouse.echo.v1.EchoService/EchoUnmapped"),
];

fuzz_target!(|data: &[u8]| {
    let Some((&control, body)) = data.split_first() else {
        return;
    };
    let (method, path) = WITH_BODY[usize::from(control) % WITH_BODY.len()];
    let Some((spec, bindings)) = route(method, path) else {
        panic!("{method} {path} does not route");
    };
    let _ = json_too_deep(body, DEFAULT_MAX_JSON_DEPTH);
    build(spec, &bindings, None, body, false);
});
