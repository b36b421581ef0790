//! `google.api.http` path templates: `PathTemplate::parse` on any text, then
//! `RouteMatcher::find` on any paths, over a few real templates plus the fuzzed one.
//!
//! Input: UTF-8 lines. The first is the template (inserted under GET); each later line is a
//! raw request path, looked up under GET, POST and DELETE, as is the fuzzed template's own text.
//! Invariants: nothing panics, and a match binds one value per variable of the template that
//! matched (`Found::bindings`).
#![no_main]

use std::sync::OnceLock;

use gatehouse::http_rule::{PathMatch, PathTemplate, RouteMatcher};
use libfuzzer_sys::fuzz_target;

/// Shapes from the compiled protos and the google.api.http examples: literals, `*`, `**`,
/// nested fields, variables with patterns, custom verbs.
const BASE: [(&str, &str); 10] = [
    ("GET", "/v1/echo/{string_field}"),
    ("POST", "/v1/echo"),
    ("GET", "/v1/{name=shelves/*/books/*}"),
    ("GET", "/v1/files/{path=**}"),
    ("POST", "/v1/{name=shelves/*}:archive"),
    (
        "GET",
        "/v1/typed/{nested.id}/{int64_field}/{bool_field}/{enum_field}",
    ),
    ("GET", "/v1/wild/*/{string_field}"),
    ("DELETE", "/v1/echo/{string_field}"),
    ("GET", "/v1/**:stream"),
    ("GET", "/v1/a%2Fb/{x=c/**}"),
];

fn base() -> &'static RouteMatcher<usize> {
    static MATCHER: OnceLock<RouteMatcher<usize>> = OnceLock::new();
    MATCHER.get_or_init(|| {
        let mut matcher = RouteMatcher::new();
        for (i, (method, text)) in BASE.iter().enumerate() {
            let template =
                PathTemplate::parse(text).unwrap_or_else(|e| panic!("base template {text}: {e}"));
            matcher.insert(method, template, i);
        }
        matcher
    })
}

fn check(matcher: &RouteMatcher<usize>, path: &str) {
    for method in ["GET", "POST", "DELETE"] {
        if let PathMatch::Found(found) = matcher.find(method, path) {
            assert_eq!(
                found.bindings.len(),
                found.template.variables().len(),
                "{method} {path} bound a wrong number of variables of {}",
                found.template
            );
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut lines = text.split('\n');
    let template_text = lines.next().unwrap_or_default();

    let mut matcher = base().clone();
    let parsed = PathTemplate::parse(template_text);
    if let Ok(template) = parsed {
        // Rendering a parsed template must not panic either; the rendering is also a path of
        // the template's own shape, which reaches deeper into the trie than random text.
        let shown = template.to_string();
        let _ = template.equivalent(&template);
        matcher.insert("GET", template, BASE.len());
        check(&matcher, &shown);
    }
    check(&matcher, template_text);
    for path in lines {
        check(&matcher, path);
    }
});
