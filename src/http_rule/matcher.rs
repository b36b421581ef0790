//! Routing of `(method, raw path)` to the most specific template (rules in the module docs).

use std::cmp::Ordering;
use std::collections::HashMap;
use std::error::Error;
use std::fmt;

use super::percent::{self, Decode, DecodeError};
use super::template::{PathTemplate, Segment, Variable};

/// Routes keyed by HTTP method and path template.
///
/// Templates are indexed in a trie over their segments, so a lookup only walks the branches
/// the request path can follow; it allocates nothing but what it returns.
#[derive(Clone, Debug)]
pub struct RouteMatcher<T> {
    routes: Vec<Route<T>>,
    root: Node,
}

/// The result of [`RouteMatcher::find`].
#[derive(Debug)]
pub enum PathMatch<'a, T> {
    /// The most specific template for this method matched.
    Found(Found<'a, T>),
    /// No template matches under this method, but some do under the `allowed` ones (sorted,
    /// deduplicated): answer 405 with an `Allow` header.
    MethodNotAllowed { allowed: Vec<&'a str> },
    /// No template matches the path under any method.
    NotFound,
    /// The path is unsafe or malformed whatever the routes: answer 400.
    BadPath(PathError),
}

/// A matched route.
#[derive(Debug)]
pub struct Found<'a, T> {
    /// The value inserted with the route.
    pub value: &'a T,
    /// The template that matched.
    pub template: &'a PathTemplate,
    /// One per template variable, in template order.
    pub bindings: Vec<Binding<'a>>,
}

/// A variable's value taken from the request path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Binding<'a> {
    /// The variable's field path, e.g. `["sub", "subfield"]`.
    pub field_path: &'a [String],
    /// Percent-decoded: fully for a single-segment variable; for a multi-segment one,
    /// escapes of RFC 6570 reserved characters (`%2F` included) are kept as received.
    pub value: String,
}

/// Why a request path was rejected before any route was tried.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathError {
    kind: PathErrorKind,
    offset: usize,
}

/// The kinds of [`PathError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathErrorKind {
    /// The path is empty or does not start with `/`.
    MissingLeadingSlash,
    /// A `%` not followed by two hex digits.
    MalformedEscape,
    /// A segment that is not UTF-8 once percent-decoded.
    InvalidUtf8,
    /// A `.` or `..` segment, literal or percent-encoded; matching around it could let a
    /// request reach a route the client did not name.
    DotSegment,
}

#[derive(Clone, Debug)]
struct Route<T> {
    method: String,
    template: PathTemplate,
    value: T,
}

/// A trie node: the templates that share the segments leading here.
#[derive(Clone, Debug, Default)]
struct Node {
    /// Children by decoded literal. The keys come from the templates; a request's segment is
    /// only looked up, so a fast hash needs no protection from chosen keys.
    literals: HashMap<String, Node, foldhash::fast::RandomState>,
    single: Option<Box<Node>>,
    /// Routes whose template ends at this node.
    ends: Vec<usize>,
    /// Routes whose template ends with `**` at this node.
    tails: Vec<usize>,
}

impl<T> RouteMatcher<T> {
    /// An empty matcher: every path is [`PathMatch::NotFound`] (or [`PathMatch::BadPath`]).
    pub fn new() -> Self {
        RouteMatcher {
            routes: Vec::new(),
            root: Node::default(),
        }
    }

    /// Adds a route. `method` is the HTTP method as written in the rule (`GET`, or a custom
    /// kind such as `HEAD`); it is compared case-sensitively, as RFC 9110 requires.
    ///
    /// Equivalent templates under one method are all kept; the first inserted wins at match
    /// time, so reject such duplicates when loading (see [`PathTemplate::equivalent`]).
    pub fn insert(&mut self, method: &str, template: PathTemplate, value: T) {
        let id = self.routes.len();
        slot(&mut self.root, template.segments()).push(id);
        self.routes.push(Route {
            method: method.to_owned(),
            template,
            value,
        });
    }

    /// The number of routes inserted.
    pub fn len(&self) -> usize {
        self.routes.len()
    }

    /// Whether no route was inserted.
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    /// Finds the most specific route for `method` and `path`, the raw (still percent-encoded)
    /// request path without its query string.
    ///
    /// The path is checked first: no leading `/`, a malformed escape, a segment that is not
    /// UTF-8 once decoded, or a dot-segment gives [`PathMatch::BadPath`] whatever the routes.
    pub fn find(&self, method: &str, path: &str) -> PathMatch<'_, T> {
        let body = match check_path(path) {
            Ok(body) => body,
            Err(error) => return PathMatch::BadPath(error),
        };
        // `/a/b:run` reads both as `/a/b:run` without a verb and as `/a/b` with verb `run`.
        let readings = [
            Some((body, None)),
            split_verb(body).map(|(base, verb)| (base, Some(verb))),
        ];

        let mut best: Option<(usize, &str)> = None;
        for (body, verb) in readings.into_iter().flatten() {
            self.walk(&self.root, Some(body), verb, &mut |id| {
                if self.routes[id].method != method {
                    return false;
                }
                if best.is_none_or(|(best, _)| self.outranks(id, best)) {
                    best = Some((id, body));
                }
                true
            });
        }

        let Some((id, body)) = best else {
            let mut allowed = Vec::new();
            for (body, verb) in readings.into_iter().flatten() {
                self.walk(&self.root, Some(body), verb, &mut |id| {
                    allowed.push(self.routes[id].method.as_str());
                    false
                });
            }
            if allowed.is_empty() {
                return PathMatch::NotFound;
            }
            allowed.sort_unstable();
            allowed.dedup();
            return PathMatch::MethodNotAllowed { allowed };
        };

        let route = &self.routes[id];
        match bind(&route.template, body) {
            Ok(bindings) => PathMatch::Found(Found {
                value: &route.value,
                template: &route.template,
                bindings,
            }),
            Err(error) => PathMatch::BadPath(error),
        }
    }

    /// Calls `visit` with every route whose template matches `rest` (the path still to match,
    /// `None` once every segment is consumed) below `node`, and whose verb is `verb`.
    ///
    /// `visit` says whether it accepted the route. Once a literal branch yields an accepted
    /// route, the `*` and `**` branches are skipped: anything there is less specific.
    fn walk<F>(&self, node: &Node, rest: Option<&str>, verb: Option<&str>, visit: &mut F) -> bool
    where
        F: FnMut(usize) -> bool,
    {
        let Some(rest) = rest else {
            // Ends and zero-segment `**` tails differ only after the common prefix: `visit`
            // must see both to rank them.
            return self.visit_all(node.ends.iter().chain(&node.tails), verb, visit);
        };
        let (segment, tail) = match rest.split_once('/') {
            Some((segment, tail)) => (segment, Some(tail)),
            None => (rest, None),
        };
        if let Some(child) = literal_child(node, segment)
            && self.walk(child, tail, verb, visit)
        {
            return true;
        }
        if !segment.is_empty()
            && let Some(child) = &node.single
            && self.walk(child, tail, verb, visit)
        {
            return true;
        }
        self.visit_all(node.tails.iter(), verb, visit)
    }

    fn visit_all<'i, F>(
        &self,
        ids: impl Iterator<Item = &'i usize>,
        verb: Option<&str>,
        visit: &mut F,
    ) -> bool
    where
        F: FnMut(usize) -> bool,
    {
        let mut accepted = false;
        for &id in ids {
            let wanted = match (self.routes[id].template.verb(), verb) {
                (None, None) => true,
                (Some(expected), Some(raw)) => percent::decoded_eq(raw, expected),
                _ => false,
            };
            if wanted && visit(id) {
                accepted = true;
            }
        }
        accepted
    }

    /// Whether route `a` beats route `b` when both match one path.
    fn outranks(&self, a: usize, b: usize) -> bool {
        match compare_specificity(&self.routes[a].template, &self.routes[b].template) {
            Ordering::Greater => true,
            Ordering::Less => false,
            Ordering::Equal => a < b,
        }
    }
}

impl<T> Default for RouteMatcher<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// The list in the trie that `segments` lead to, creating nodes on the way.
fn slot<'n>(mut node: &'n mut Node, segments: &[Segment]) -> &'n mut Vec<usize> {
    for segment in segments {
        node = match segment {
            Segment::Literal(text) => node.literals.entry(text.clone()).or_default(),
            Segment::Single => node.single.get_or_insert_default(),
            // The parser only accepts `**` as the last segment.
            Segment::Multi => return &mut node.tails,
        };
    }
    &mut node.ends
}

fn literal_child<'n>(node: &'n Node, segment: &str) -> Option<&'n Node> {
    if !segment.contains('%') {
        return node.literals.get(segment);
    }
    // Keys are decoded and distinct, so at most one matches.
    node.literals
        .iter()
        .find(|(literal, _)| percent::decoded_eq(segment, literal))
        .map(|(_, child)| child)
}

/// Segment by segment, a literal beats `*`, which beats `**`; then a verb beats none; then
/// the longer template wins.
fn compare_specificity(a: &PathTemplate, b: &PathTemplate) -> Ordering {
    fn rank(segment: &Segment) -> u8 {
        match segment {
            Segment::Literal(_) => 2,
            Segment::Single => 1,
            Segment::Multi => 0,
        }
    }
    let segments = a.segments().iter().zip(b.segments());
    segments
        .map(|(x, y)| rank(x).cmp(&rank(y)))
        .find(|order| order.is_ne())
        .unwrap_or(Ordering::Equal)
        .then_with(|| a.verb().is_some().cmp(&b.verb().is_some()))
        .then_with(|| a.segments().len().cmp(&b.segments().len()))
}

/// Rejects paths that must never be routed; returns the path after its leading `/`.
fn check_path(path: &str) -> Result<&str, PathError> {
    let body = path
        .strip_prefix('/')
        .ok_or(PathError::new(PathErrorKind::MissingLeadingSlash, 0))?;
    let mut offset = 1;
    for segment in body.split('/') {
        percent::validate(segment).map_err(|error| PathError::decode(error, offset))?;
        if percent::is_dot_segment(segment) {
            return Err(PathError::new(PathErrorKind::DotSegment, offset));
        }
        offset += segment.len() + 1;
    }
    // With the verb split off, the last segment must not become a dot-segment either.
    if let Some((base, _)) = split_verb(body) {
        let last = base.rfind('/').map_or(0, |slash| slash + 1);
        if percent::is_dot_segment(base.get(last..).unwrap_or_default()) {
            return Err(PathError::new(PathErrorKind::DotSegment, 1 + last));
        }
    }
    Ok(body)
}

/// Splits a non-empty verb off the last segment at its last raw `:` (`%3A` never splits).
fn split_verb(body: &str) -> Option<(&str, &str)> {
    let last = body.rfind('/').map_or(0, |slash| slash + 1);
    let colon = last + body.get(last..)?.rfind(':')?;
    let (base, verb) = (body.get(..colon)?, body.get(colon + 1..)?);
    (!verb.is_empty()).then_some((base, verb))
}

/// The bindings of `template`'s variables in `body`, the path it matched (after the leading
/// `/`, verb removed).
fn bind<'a>(template: &'a PathTemplate, body: &str) -> Result<Vec<Binding<'a>>, PathError> {
    let segments = template.segments();
    let bind_one = |variable: &'a Variable| {
        let range = variable.segment_range();
        let start = segment_start(body, range.start);
        let end = if range.end == segments.len() && segments.last() == Some(&Segment::Multi) {
            body.len()
        } else {
            segment_end(body, range.end.saturating_sub(1))
        };
        let raw = body.get(start..end).unwrap_or_default();
        let mode = if variable.is_multi_segment() {
            Decode::KeepReserved
        } else {
            Decode::All
        };
        let value =
            percent::decode(raw, mode).map_err(|error| PathError::decode(error, 1 + start))?;
        Ok(Binding {
            field_path: variable.field_path(),
            value,
        })
    };
    template.variables().iter().map(bind_one).collect()
}

/// Byte offset of segment `index` in `body`; `body.len()` past the last segment (where a
/// `**` that matched nothing starts).
fn segment_start(body: &str, index: usize) -> usize {
    match index.checked_sub(1) {
        None => 0,
        Some(slashes) => body
            .match_indices('/')
            .nth(slashes)
            .map_or(body.len(), |(slash, _)| slash + 1),
    }
}

fn segment_end(body: &str, index: usize) -> usize {
    let start = segment_start(body, index);
    body.get(start..)
        .and_then(|rest| rest.find('/'))
        .map_or(body.len(), |length| start + length)
}

impl PathError {
    fn new(kind: PathErrorKind, offset: usize) -> Self {
        PathError { kind, offset }
    }

    fn decode(error: DecodeError, offset: usize) -> Self {
        match error {
            DecodeError::MalformedEscape(at) => {
                PathError::new(PathErrorKind::MalformedEscape, offset + at)
            }
            DecodeError::InvalidUtf8 => PathError::new(PathErrorKind::InvalidUtf8, offset),
        }
    }

    /// What is wrong with the path.
    pub fn kind(&self) -> PathErrorKind {
        self.kind
    }

    /// Byte offset in the request path of the offending escape or segment.
    pub fn offset(&self) -> usize {
        self.offset
    }
}

impl fmt::Display for PathError {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        let offset = self.offset;
        match self.kind {
            PathErrorKind::MissingLeadingSlash => {
                write!(out, "request path does not start with '/'")
            }
            PathErrorKind::MalformedEscape => {
                write!(
                    out,
                    "malformed percent-escape at byte {offset} of the request path"
                )
            }
            PathErrorKind::InvalidUtf8 => write!(
                out,
                "request path segment at byte {offset} is not UTF-8 once percent-decoded"
            ),
            PathErrorKind::DotSegment => {
                write!(
                    out,
                    "request path has a '.' or '..' segment at byte {offset}"
                )
            }
        }
    }
}

impl Error for PathError {}

#[cfg(test)]
mod tests {
    use super::*;

    /// A matcher whose values are the insertion indexes.
    fn matcher(routes: &[(&str, &str)]) -> RouteMatcher<usize> {
        let mut matcher = RouteMatcher::new();
        for (index, (method, template)) in routes.iter().enumerate() {
            let template = PathTemplate::parse(template).unwrap_or_else(|error| panic!("{error}"));
            matcher.insert(method, template, index);
        }
        matcher
    }

    /// The matched index and bindings as `field.path=value`, or the reason for no match.
    fn outcome(
        matcher: &RouteMatcher<usize>,
        method: &str,
        path: &str,
    ) -> Result<(usize, Vec<String>), String> {
        match matcher.find(method, path) {
            PathMatch::Found(found) => {
                let bindings = found
                    .bindings
                    .iter()
                    .map(|b| format!("{}={}", b.field_path.join("."), b.value))
                    .collect();
                Ok((*found.value, bindings))
            }
            PathMatch::MethodNotAllowed { allowed } => Err(format!("405 {}", allowed.join(","))),
            PathMatch::NotFound => Err("404".to_owned()),
            PathMatch::BadPath(error) => Err(format!("400 {:?}@{}", error.kind(), error.offset())),
        }
    }

    #[test]
    fn binds_the_http_proto_examples() {
        let cases: &[(&str, &str, &[&str])] = &[
            (
                "/v1/messages/{message_id}",
                "/v1/messages/123456",
                &["message_id=123456"],
            ),
            (
                "/v1/{name=messages/*}",
                "/v1/messages/123456",
                &["name=messages/123456"],
            ),
            (
                "/v1/messages/{message_id}/{sub.subfield}",
                "/v1/messages/123456/foo",
                &["message_id=123456", "sub.subfield=foo"],
            ),
            (
                "/v1/users/{user_id}/messages/{message_id}",
                "/v1/users/me/messages/123456",
                &["user_id=me", "message_id=123456"],
            ),
            (
                "/v1/{name=shelves/*/books/*}",
                "/v1/shelves/s1/books/b2",
                &["name=shelves/s1/books/b2"],
            ),
            (
                "/v1/{resource=**}:getIamPolicy",
                "/v1/projects/p1/topics/t1:getIamPolicy",
                &["resource=projects/p1/topics/t1"],
            ),
            (
                "/v1/{resource=projects/*/topics/*}:setIamPolicy",
                "/v1/projects/p1/topics/t1:setIamPolicy",
                &["resource=projects/p1/topics/t1"],
            ),
            ("/v1/{name=**}", "/v1/a/b/c", &["name=a/b/c"]),
            ("/v1/{name=**}", "/v1/a", &["name=a"]),
            ("/v1/{name=**}", "/v1", &["name="]),
            ("/v1/{name=**}", "/v1/", &["name="]),
            ("/v1/{name=**}", "/v1/a//b/", &["name=a//b/"]),
            ("/v1/{name=**}:run", "/v1:run", &["name="]),
            ("/v1/{name=a/**}", "/v1/a", &["name=a"]),
            ("/v1/{name=a/**}", "/v1/a/b/c", &["name=a/b/c"]),
            ("/{path=**}", "/", &["path="]),
            ("/{path=**}", "/x/y", &["path=x/y"]),
            (
                "/v1/{name=projects/*/locations/*}/**",
                "/v1/projects/p/locations/l/x/y",
                &["name=projects/p/locations/l"],
            ),
            ("/v1/{x=foo}", "/v1/foo", &["x=foo"]),
            ("/api/users/{user_id}", "/api/users/42", &["user_id=42"]),
            (
                "/api/orders/{order_id}:cancel",
                "/api/orders/42:cancel",
                &["order_id=42"],
            ),
            ("/api/products:batchGet", "/api/products:batchGet", &[]),
            // The last segment of a path without a verb template keeps its `:`.
            ("/v1/{id}", "/v1/a:b", &["id=a:b"]),
            ("/v1/{id}", "/v1/a:", &["id=a:"]),
            // Literals compare against the decoded segment; verbs too.
            ("/v1/messages/{id}", "/v1/m%65ssages/1", &["id=1"]),
            ("/v1/a%2Fb", "/v1/a%2fb", &[]),
            ("/api/products:batchGet", "/api/products:batch%47et", &[]),
            ("/v1/caf%C3%A9", "/v1/café", &[]),
        ];
        for (template, path, bindings) in cases {
            let matcher = matcher(&[("GET", template)]);
            let expected = bindings.iter().map(|b| b.to_string()).collect();
            assert_eq!(
                outcome(&matcher, "GET", path),
                Ok((0, expected)),
                "{template} {path}"
            );
        }
    }

    #[test]
    fn decodes_single_segment_values_fully_and_multi_segment_values_but_reserved() {
        const RESERVED: &str = "%3A%2F%3F%23%5B%5D%40%21%24%26%27%28%29%2A%2B%2C%3B%3D";
        let cases = [
            ("/v1/{id}", "/v1/a%2Fb%20c", "id=a/b c".to_owned()),
            (
                "/v1/{id=*}",
                &format!("/v1/{RESERVED}"),
                "id=:/?#[]@!$&'()*+,;=".to_owned(),
            ),
            ("/v1/{id}", "/v1/caf%C3%A9", "id=café".to_owned()),
            ("/v1/{id}", "/v1/café", "id=café".to_owned()),
            ("/v1/{id}", "/v1/a+b", "id=a+b".to_owned()),
            ("/v1/{id}", "/v1/100%25%20sure", "id=100% sure".to_owned()),
            ("/v1/{id=foo}", "/v1/f%6Fo", "id=foo".to_owned()),
            (
                "/v1/{name=**}",
                "/v1/a%2Fb/c%20d",
                "name=a%2Fb/c d".to_owned(),
            ),
            ("/v1/{name=**}", "/v1/a%2fb", "name=a%2fb".to_owned()),
            (
                "/v1/{name=**}",
                &format!("/v1/{RESERVED}"),
                format!("name={RESERVED}"),
            ),
            (
                "/v1/{name=**}",
                "/v1/%7E%2D%2E%5F%25%41",
                "name=~-._%A".to_owned(),
            ),
            (
                "/v1/{name=shelves/*}",
                "/v1/shelves/x%2Fy%3Az%7E",
                "name=shelves/x%2Fy%3Az~".to_owned(),
            ),
            (
                "/v1/{name=shelves/*}",
                "/v1/sh%65lves/caf%C3%A9",
                "name=shelves/café".to_owned(),
            ),
        ];
        for (template, path, binding) in cases {
            let matcher = matcher(&[("GET", template)]);
            assert_eq!(
                outcome(&matcher, "GET", path),
                Ok((0, vec![binding])),
                "{template} {path}"
            );
        }
    }

    #[test]
    fn misses() {
        let cases = [
            ("/v1/messages/{id}", "/v1/messages/"),
            ("/v1/messages/{id}", "/v1/messages"),
            ("/v1/messages/{id}", "/v1/messages//"),
            ("/v1/messages/{id}", "/v1/messages/1/2"),
            ("/v1/messages/{id}", "/v1/Messages/1"),
            ("/v1/messages/{id}", "/v1//messages/1"),
            ("/v1/{name=messages/*}", "/v1/messages"),
            ("/v1/*/**", "/v1"),
            ("/v1/*/**", "/v1/"),
            ("/api/products:batchGet", "/api/products"),
            ("/api/products:batchGet", "/api/products:batchget"),
            ("/api/products:batchGet", "/api/products:"),
            // `%3A` never splits off a verb, nor `%2F` a segment.
            ("/api/products:batchGet", "/api/products%3AbatchGet"),
            ("/v1/a/b", "/v1/a%2Fb"),
            ("/v1/{id}:run", "/v1/x"),
            ("/v1/{id}:run", "/v1/:run"),
            ("/v1", "/"),
            ("/v1", "/v1/"),
        ];
        for (template, path) in cases {
            let matcher = matcher(&[("GET", template)]);
            assert_eq!(
                outcome(&matcher, "GET", path),
                Err("404".to_owned()),
                "{template} {path}"
            );
        }
    }

    #[test]
    fn most_specific_template_wins() {
        let matcher = matcher(&[
            ("GET", "/v1/{name=**}"),                     // 0
            ("GET", "/v1/shelves/{shelf}"),               // 1
            ("GET", "/v1/shelves/special"),               // 2
            ("GET", "/v1/{name=shelves/*}/books/{book}"), // 3
            ("GET", "/v1/shelves/*/books/**"),            // 4
            ("GET", "/v1/{name=**}:get"),                 // 5
            ("GET", "/v1/shelves/{shelf}:get"),           // 6
            ("GET", "/v1/*/**"),                          // 7
            ("GET", "/v2/{a}"),                           // 8
            ("GET", "/v2/{b}"),                           // 9: equivalent, inserted later
            ("GET", "/v3/*"),                             // 10
            ("GET", "/v3/*/**"),                          // 11: longer
            ("GET", "/v4/**"),                            // 12
            ("GET", "/v4/**:x"),                          // 13: has a verb
        ]);
        let cases = [
            ("/v1/shelves/special", 2),
            ("/v1/shelves/other", 1),
            ("/v1/shelves/a/books/b", 3),
            ("/v1/shelves/a/books/b/c", 4),
            // `**` matching zero segments still beats a `*` further left.
            ("/v1/shelves/a/books", 4),
            ("/v1/shelves/a/books/", 4),
            ("/v1/shelves", 7),
            ("/v1/other/x", 7),
            ("/v1", 0),
            ("/v1/", 0),
            // A verb beats no verb once the segments tie...
            ("/v1/shelves/x:get", 6),
            ("/v1/shelves/special:get", 6),
            // ...but not before: `*` at the second segment beats `**`.
            ("/v1/a/b:get", 7),
            ("/v1:get", 5),
            ("/v1/shelves/x:other", 1),
            ("/v2/x", 8),
            ("/v3/x", 11),
            ("/v4/a:x", 13),
            ("/v4/a:y", 12),
        ];
        for (path, winner) in cases {
            assert_eq!(
                outcome(&matcher, "GET", path).map(|(index, _)| index),
                Ok(winner),
                "{path}"
            );
        }
    }

    #[test]
    fn verb_and_plain_templates_share_a_path() {
        let matcher = matcher(&[
            ("GET", "/api/orders/{order_id}"),
            ("POST", "/api/orders/{order_id}:cancel"),
        ]);
        let cases = [
            (
                "GET",
                "/api/orders/42",
                Ok((0, vec!["order_id=42".to_owned()])),
            ),
            (
                "GET",
                "/api/orders/42:cancel",
                Ok((0, vec!["order_id=42:cancel".to_owned()])),
            ),
            (
                "POST",
                "/api/orders/42:cancel",
                Ok((1, vec!["order_id=42".to_owned()])),
            ),
            ("POST", "/api/orders/42", Err("405 GET".to_owned())),
            (
                "DELETE",
                "/api/orders/42:cancel",
                Err("405 GET,POST".to_owned()),
            ),
        ];
        for (method, path, expected) in cases {
            assert_eq!(outcome(&matcher, method, path), expected, "{method} {path}");
        }
    }

    #[test]
    fn method_not_allowed_lists_the_methods_that_match() {
        let matcher = matcher(&[
            ("GET", "/v1/shelves/{shelf}"),
            ("DELETE", "/v1/shelves/{shelf}"),
            ("POST", "/v1/shelves"),
            ("POST", "/v1/shelves/{shelf}:archive"),
            ("HEAD", "/v1/shelves/{shelf}"),
            ("GET", "/v1/{name=shelves/*}"),
            ("PATCH", "/v1/{name=**}"),
        ]);
        let cases = [
            ("PUT", "/v1/shelves/1", "405 DELETE,GET,HEAD,PATCH"),
            ("POST", "/v1/shelves/1", "405 DELETE,GET,HEAD,PATCH"),
            (
                "PUT",
                "/v1/shelves/1:archive",
                "405 DELETE,GET,HEAD,PATCH,POST",
            ),
            ("GET", "/v1/shelves", "405 PATCH,POST"),
            // Methods are case-sensitive tokens.
            ("get", "/v1/shelves/1", "405 DELETE,GET,HEAD,PATCH"),
            ("GET", "/v2/shelves", "404"),
        ];
        for (method, path, expected) in cases {
            assert_eq!(
                outcome(&matcher, method, path),
                Err(expected.to_owned()),
                "{method} {path}"
            );
        }
        assert!(matches!(
            outcome(&matcher, "POST", "/v1/shelves/1:archive"),
            Ok((3, _))
        ));
        assert!(matches!(
            outcome(&matcher, "PATCH", "/v1/anything/at/all"),
            Ok((6, _))
        ));
    }

    #[test]
    fn bad_paths_are_refused_before_matching() {
        use PathErrorKind::*;
        let matcher = matcher(&[
            ("GET", "/{path=**}"),
            ("GET", "/v1/{id}"),
            ("GET", "/v1/{id}:get"),
        ]);
        let cases = [
            ("", MissingLeadingSlash, 0),
            ("v1/x", MissingLeadingSlash, 0),
            ("*", MissingLeadingSlash, 0),
            ("http://host/v1", MissingLeadingSlash, 0),
            ("/v1/%", MalformedEscape, 4),
            ("/v1/a%2", MalformedEscape, 5),
            ("/v1/%zz", MalformedEscape, 4),
            ("/v1/ok/%%41", MalformedEscape, 7),
            ("/v1/%FF", InvalidUtf8, 4),
            ("/v1/x/%C3", InvalidUtf8, 6),
            ("/v1/%C3%28", InvalidUtf8, 4),
            ("/v1/%ED%A0%80", InvalidUtf8, 4),
            ("/v1/.", DotSegment, 4),
            ("/v1/..", DotSegment, 4),
            ("/v1/../admin", DotSegment, 4),
            ("/./v1", DotSegment, 1),
            ("/v1/%2e", DotSegment, 4),
            ("/v1/%2e%2E", DotSegment, 4),
            ("/v1/.%2E/x", DotSegment, 4),
            ("/v1/..:get", DotSegment, 4),
            ("/v1/x/.:get", DotSegment, 6),
        ];
        for (path, kind, offset) in cases {
            let expected = format!("400 {kind:?}@{offset}");
            assert_eq!(outcome(&matcher, "GET", path), Err(expected), "{path:?}");
            let error = match RouteMatcher::<()>::new().find("GET", path) {
                PathMatch::BadPath(error) => error,
                other => panic!("{path:?}: {other:?}"),
            };
            assert!(
                error.to_string().contains(&offset.to_string()) || kind == MissingLeadingSlash,
                "{error}"
            );
        }
        // Not dot-segments.
        for path in [
            "/v1/...",
            "/v1/.a",
            "/v1/a.",
            "/v1/%2e%2e%2e",
            "/v1/.:",
            "/v1/x:..",
        ] {
            assert!(
                matches!(matcher.find("GET", path), PathMatch::Found(_)),
                "{path}"
            );
        }
    }

    #[test]
    fn path_error_messages() {
        let messages = [
            ("x", "request path does not start with '/'"),
            (
                "/a/%4",
                "malformed percent-escape at byte 3 of the request path",
            ),
            (
                "/a/%FF",
                "request path segment at byte 3 is not UTF-8 once percent-decoded",
            ),
            ("/a/..", "request path has a '.' or '..' segment at byte 3"),
        ];
        for (path, message) in messages {
            match RouteMatcher::<()>::new().find("GET", path) {
                PathMatch::BadPath(error) => assert_eq!(error.to_string(), message),
                other => panic!("{path}: {other:?}"),
            }
        }
    }

    #[test]
    fn len_and_found_fields() {
        let mut matcher = RouteMatcher::default();
        assert!(matcher.is_empty());
        let template = PathTemplate::parse("/v1/{sub.field}").unwrap();
        matcher.insert("GET", template.clone(), "value");
        assert_eq!(matcher.len(), 1);
        let PathMatch::Found(found) = matcher.find("GET", "/v1/x") else {
            panic!("no match")
        };
        assert_eq!(*found.value, "value");
        assert_eq!(found.template, &template);
        assert_eq!(
            found.bindings,
            vec![Binding {
                field_path: &["sub".to_owned(), "field".to_owned()],
                value: "x".to_owned()
            }]
        );
    }

    #[test]
    fn huge_and_hostile_paths() {
        let matcher = matcher(&[
            ("GET", "/v1/{name=**}"),
            ("GET", "/v1/*/x"),
            ("GET", "/{a}/{b}/{c}"),
        ]);
        let deep = format!("/v1{}", "/a".repeat(100_000));
        assert!(matches!(outcome(&matcher, "GET", &deep), Ok((0, _))));
        let long = format!("/v1/{}", "é".repeat(500_000));
        assert!(matches!(outcome(&matcher, "GET", &long), Ok((0, _))));
        let slashes = "/".repeat(100_000);
        assert_eq!(outcome(&matcher, "GET", &slashes), Err("404".to_owned()));
        let escapes = format!("/v1/{}", "%2F".repeat(100_000));
        assert!(matches!(outcome(&matcher, "GET", &escapes), Ok((0, _))));
        let colons = format!("/v1/{}", ":".repeat(100_000));
        assert!(matches!(outcome(&matcher, "GET", &colons), Ok((0, _))));
    }

    /// Random route tables and paths, checked against a brute-force matcher that tries every
    /// template; also proves `find` never panics.
    #[test]
    fn agrees_with_brute_force_on_random_input() {
        const TEMPLATES: &[&str] = &[
            "/a",
            "/a/b",
            "/a/*",
            "/*/b",
            "/*",
            "/**",
            "/a/**",
            "/*/**",
            "/a/*/c",
            "/a/b/**",
            "/*/*/*",
            "/a:v",
            "/a/*:v",
            "/**:v",
            "/*/b:w",
            "/a/{x=b/*}",
            "/{x=**}:w",
            "/a%3Ab",
            "/a/b%2Fc",
            "/%2E%2E%2E",
        ];
        const PIECES: &[&str] = &[
            "/", "/", "/", "a", "b", "c", ":", "v", "w", "%2F", "%3A", "%2e", ".", "%", "%C3%A9",
            "é", "%61",
        ];
        const METHODS: &[&str] = &["GET", "POST"];
        let mut state = 0x2545_F491_4F6C_DD1D_u64;
        let mut found = 0;
        for _ in 0..300 {
            let routes: Vec<(&str, &str)> = (0..(next(&mut state) % 8 + 1))
                .map(|_| (pick(&mut state, METHODS), pick(&mut state, TEMPLATES)))
                .collect();
            let matcher = matcher(&routes);
            for _ in 0..100 {
                // Mostly rooted paths, so that many match.
                let mut path = String::from(if next(&mut state).is_multiple_of(8) {
                    ""
                } else {
                    "/"
                });
                for _ in 0..(next(&mut state) % 8) {
                    path.push_str(pick(&mut state, PIECES));
                }
                let method = pick(&mut state, METHODS);
                let result = outcome(&matcher, method, &path);
                let expected = brute_force(&matcher, method, &path);
                assert_eq!(
                    result.as_ref().map(|(index, _)| *index).map_err(|_| ()),
                    expected,
                    "{routes:?} {method} {path}"
                );
                found += usize::from(result.is_ok());
            }
        }
        assert!(found > 2000, "only {found} random paths matched");
    }

    fn brute_force(matcher: &RouteMatcher<usize>, method: &str, path: &str) -> Result<usize, ()> {
        let body = check_path(path).map_err(drop)?;
        let readings = [
            Some((body, None)),
            split_verb(body).map(|(base, verb)| (base, Some(verb))),
        ];
        let mut best: Option<usize> = None;
        for (id, route) in matcher.routes.iter().enumerate() {
            let matches = readings.into_iter().flatten().any(|(body, verb)| {
                let verb_ok = match (route.template.verb(), verb) {
                    (None, None) => true,
                    (Some(expected), Some(raw)) => percent::decoded_eq(raw, expected),
                    _ => false,
                };
                verb_ok && segments_match(route.template.segments(), Some(body))
            });
            if route.method == method
                && matches
                && best.is_none_or(|best| matcher.outranks(id, best))
            {
                best = Some(id);
            }
        }
        best.ok_or(())
    }

    fn segments_match(segments: &[Segment], rest: Option<&str>) -> bool {
        let Some((first, others)) = segments.split_first() else {
            return rest.is_none();
        };
        if *first == Segment::Multi {
            return true;
        }
        let Some(rest) = rest else { return false };
        let (segment, tail) = match rest.split_once('/') {
            Some((segment, tail)) => (segment, Some(tail)),
            None => (rest, None),
        };
        let head_ok = match first {
            Segment::Literal(text) => percent::decoded_eq(segment, text),
            _ => !segment.is_empty(),
        };
        head_ok && segments_match(others, tail)
    }

    fn pick<'a>(state: &mut u64, items: &[&'a str]) -> &'a str {
        items[(next(state) % items.len() as u64) as usize]
    }

    fn next(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }
}
