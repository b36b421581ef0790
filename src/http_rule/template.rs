//! Parser for `google.api.http` path templates (grammar in the module docs).

use std::error::Error;
use std::fmt::{self, Write as _};
use std::ops::Range;

use super::percent::{self, Decode, DecodeError};

/// A parsed path template: its segments with every variable replaced by its pattern, the
/// variables that capture runs of those segments, and the optional verb.
///
/// Templates that differ only in spelling are equal (`/v1/{id}` == `/v1/{id=*}`,
/// `/v1/%41` == `/v1/A`); [`PathTemplate::equivalent`] also ignores variable names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathTemplate {
    segments: Vec<Segment>,
    variables: Vec<Variable>,
    verb: Option<String>,
}

/// One segment of a template, after variables are replaced by their patterns.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Segment {
    /// Matches a path segment whose percent-decoded text is exactly this (stored decoded).
    Literal(String),
    /// `*`: exactly one non-empty segment.
    Single,
    /// `**`: zero or more segments; only ever the last segment.
    Multi,
}

/// A `{field.path=pattern}` capture.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Variable {
    field_path: Vec<String>,
    segments: Range<usize>,
    multi_segment: bool,
}

/// Why a template was rejected; `Display` names the template, the reason and the byte offset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TemplateError {
    template: String,
    offset: usize,
    reason: String,
}

impl PathTemplate {
    /// Parses a template such as `/v1/{name=shelves/*/books/*}:read`.
    ///
    /// # Errors
    /// Anything outside the grammar: a missing leading `/`, an empty segment, `**` before
    /// the last segment, nested or unclosed braces, a bad field name, a field path bound
    /// twice, an empty verb, `*` mixed with other characters, a character that is not a
    /// URL path character, a malformed `%` escape, or a `.`/`..` literal (no request path
    /// with a dot-segment is ever matched).
    pub fn parse(text: &str) -> Result<PathTemplate, TemplateError> {
        Parser {
            text,
            at: 0,
            segments: Vec::new(),
            variables: Vec::new(),
            multi_at: None,
        }
        .parse()
    }

    /// The segments, variables expanded into their patterns.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// The variables, in order of appearance.
    pub fn variables(&self) -> &[Variable] {
        &self.variables
    }

    /// The verb after the final `:`, percent-decoded.
    pub fn verb(&self) -> Option<&str> {
        self.verb.as_deref()
    }

    /// Whether both templates match exactly the same paths: same segments once variables are
    /// replaced by their patterns, and the same verb. `/v1/{name=shelves/*}` is equivalent to
    /// `/v1/shelves/{id}`.
    pub fn equivalent(&self, other: &PathTemplate) -> bool {
        self.segments == other.segments && self.verb == other.verb
    }

    fn write_variable(&self, out: &mut fmt::Formatter<'_>, variable: &Variable) -> fmt::Result {
        out.write_char('{')?;
        for (index, name) in variable.field_path.iter().enumerate() {
            if index > 0 {
                out.write_char('.')?;
            }
            out.write_str(name)?;
        }
        let pattern = self
            .segments
            .get(variable.segments.clone())
            .unwrap_or_default();
        if pattern != [Segment::Single] {
            out.write_char('=')?;
            for (index, segment) in pattern.iter().enumerate() {
                if index > 0 {
                    out.write_char('/')?;
                }
                // Inside braces a `:` is part of the literal, never the verb separator.
                write_segment(out, segment, true)?;
            }
        }
        out.write_char('}')
    }
}

/// The canonical text: `{var=*}` is written `{var}`, literals and the verb are percent-encoded
/// where they must be, everything else as parsed. Parsing it again gives an equal template.
impl fmt::Display for PathTemplate {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut variables = self.variables.iter().peekable();
        let mut index = 0;
        while let Some(segment) = self.segments.get(index) {
            out.write_char('/')?;
            match variables.next_if(|variable| variable.segments.start == index) {
                Some(variable) => {
                    self.write_variable(out, variable)?;
                    index = variable.segments.end.max(index + 1);
                }
                None => {
                    // A `:` in the last top-level literal would read as the verb separator.
                    write_segment(out, segment, index + 1 < self.segments.len())?;
                    index += 1;
                }
            }
        }
        if let Some(verb) = &self.verb {
            out.write_char(':')?;
            percent::encode(out, verb, false)?;
        }
        Ok(())
    }
}

fn write_segment(out: &mut fmt::Formatter<'_>, segment: &Segment, keep_colon: bool) -> fmt::Result {
    match segment {
        Segment::Literal(text) => percent::encode(out, text, keep_colon),
        Segment::Single => out.write_char('*'),
        Segment::Multi => out.write_str("**"),
    }
}

impl Variable {
    /// The message field the variable binds, e.g. `["sub", "subfield"]` for `{sub.subfield}`.
    pub fn field_path(&self) -> &[String] {
        &self.field_path
    }

    /// Whether the pattern can span more than one segment (`{x=shelves/*}`, `{x=**}`); such
    /// values keep reserved characters percent-encoded, single-segment values decode everything.
    pub fn is_multi_segment(&self) -> bool {
        self.multi_segment
    }

    /// The indexes into [`PathTemplate::segments`] this variable captures.
    pub fn segment_range(&self) -> Range<usize> {
        self.segments.clone()
    }
}

impl TemplateError {
    /// The byte offset in the template where the problem was found.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// The reason alone, without the template text.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for TemplateError {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            out,
            "invalid path template `{}`: {} (at byte {})",
            self.template, self.reason, self.offset
        )
    }
}

impl Error for TemplateError {}

/// Recursive-descent parser. It only ever steps over ASCII bytes, so `at` is always a char
/// boundary.
struct Parser<'a> {
    text: &'a str,
    at: usize,
    segments: Vec<Segment>,
    variables: Vec<Variable>,
    /// Where a `**` was parsed: any later segment is an error.
    multi_at: Option<usize>,
}

impl Parser<'_> {
    fn parse(mut self) -> Result<PathTemplate, TemplateError> {
        if self.peek() != Some(b'/') {
            return Err(self.error(0, "a template must start with '/'"));
        }
        self.at = 1;
        self.parse_segments(false)?;
        let verb = match self.peek() {
            None => None,
            Some(b':') => Some(self.parse_verb()?),
            Some(b'}') => return Err(self.error(self.at, "'}' has no matching '{'")),
            Some(_) => return Err(self.error(self.at, format!("unexpected {}", self.found()))),
        };
        Ok(PathTemplate {
            segments: self.segments,
            variables: self.variables,
            verb,
        })
    }

    fn parse_segments(&mut self, in_variable: bool) -> Result<(), TemplateError> {
        loop {
            self.parse_segment(in_variable)?;
            if self.peek() != Some(b'/') {
                return Ok(());
            }
            self.at += 1;
        }
    }

    fn parse_segment(&mut self, in_variable: bool) -> Result<(), TemplateError> {
        if let Some(multi_at) = self.multi_at {
            return Err(self.error(multi_at, "'**' must be the last segment"));
        }
        match self.peek() {
            None | Some(b'/') => Err(self.error(self.at, "empty segment")),
            Some(b'}') if in_variable => Err(self.error(self.at, "empty segment")),
            Some(b'}') => Err(self.error(self.at, "'}' has no matching '{'")),
            Some(b'*') => self.parse_wildcard(in_variable),
            Some(b'{') if in_variable => Err(self.error(self.at, "variables cannot nest")),
            Some(b'{') => self.parse_variable(),
            Some(_) => self.parse_literal(in_variable),
        }
    }

    fn parse_wildcard(&mut self, in_variable: bool) -> Result<(), TemplateError> {
        let start = self.at;
        self.at += 1;
        let segment = if self.peek() == Some(b'*') {
            self.at += 1;
            self.multi_at = Some(start);
            Segment::Multi
        } else {
            Segment::Single
        };
        if !self.at_segment_end(in_variable) {
            return Err(self.segment_end_error(start, in_variable, "'*'", &['/', '}']));
        }
        self.segments.push(segment);
        Ok(())
    }

    fn parse_variable(&mut self) -> Result<(), TemplateError> {
        let start = self.at;
        self.at += 1;
        let field_path = self.parse_field_path()?;
        let first = self.segments.len();
        match self.peek() {
            Some(b'}') => self.segments.push(Segment::Single),
            Some(b'=') => {
                self.at += 1;
                self.parse_segments(true)?;
            }
            None => return Err(self.error(start, "'{' is never closed")),
            Some(_) => {
                let found = self.found();
                let reason = format!("expected '=' or '}}' after the field path, found {found}");
                return Err(self.error(self.at, reason));
            }
        }
        if self.peek() != Some(b'}') {
            return Err(self.error(start, "'{' is never closed"));
        }
        self.at += 1;
        if self
            .variables
            .iter()
            .any(|other| other.field_path == field_path)
        {
            let name = field_path.join(".");
            return Err(self.error(start, format!("variable `{name}` is bound twice")));
        }
        if !self.at_segment_end(false) {
            return Err(self.segment_end_error(start, false, "a variable", &['/']));
        }
        let segments = first..self.segments.len();
        let multi_segment = segments.len() > 1 || self.segments.last() == Some(&Segment::Multi);
        self.variables.push(Variable {
            field_path,
            segments,
            multi_segment,
        });
        Ok(())
    }

    fn parse_field_path(&mut self) -> Result<Vec<String>, TemplateError> {
        let mut field_path = Vec::new();
        loop {
            let start = self.at;
            if !matches!(self.peek(), Some(b) if b.is_ascii_alphabetic() || b == b'_') {
                let reason = format!("expected a field name, found {}", self.found());
                return Err(self.error(start, reason));
            }
            while matches!(self.peek(), Some(b) if b.is_ascii_alphanumeric() || b == b'_') {
                self.at += 1;
            }
            field_path.push(self.slice(start).to_owned());
            if self.peek() != Some(b'.') {
                return Ok(field_path);
            }
            self.at += 1;
        }
    }

    fn parse_literal(&mut self, in_variable: bool) -> Result<(), TemplateError> {
        let start = self.at;
        while let Some(byte) = self.peek() {
            match byte {
                b'/' | b'}' => break,
                b':' if !in_variable && self.is_verb_colon() => break,
                b'{' => {
                    let found = self.segment_text(start, &['/']);
                    let reason = format!("'{{' must start a segment, found `{found}`");
                    return Err(self.error(self.at, reason));
                }
                b'*' => {
                    let found = self.segment_text(start, &['/', '}']);
                    let reason = format!("'*' must be a whole segment, found `{found}`");
                    return Err(self.error(self.at, reason));
                }
                b'%' => self.skip_escape()?,
                _ if percent::is_literal_byte(byte) => self.at += 1,
                _ => {
                    let reason = format!("{} is not allowed in a path literal", self.found());
                    return Err(self.error(self.at, reason));
                }
            }
        }
        let raw = self.slice(start);
        if raw.is_empty() {
            return Err(self.error(start, "empty segment before the verb"));
        }
        let literal = self.decode(raw, start)?;
        if literal == "." || literal == ".." {
            let reason = format!("dot-segment `{raw}` can never match a request path");
            return Err(self.error(start, reason));
        }
        self.segments.push(Segment::Literal(literal));
        Ok(())
    }

    /// Parses the verb; the parser stands on its `:`.
    fn parse_verb(&mut self) -> Result<String, TemplateError> {
        let colon = self.at;
        self.at += 1;
        while let Some(byte) = self.peek() {
            match byte {
                b':' => return Err(self.error(self.at, "a verb cannot contain ':'")),
                b'%' => self.skip_escape()?,
                _ if percent::is_literal_byte(byte) => self.at += 1,
                _ => {
                    let reason = format!("{} is not allowed in a verb", self.found());
                    return Err(self.error(self.at, reason));
                }
            }
        }
        let raw = self.slice(colon + 1);
        if raw.is_empty() {
            return Err(self.error(colon, "empty verb after ':'"));
        }
        self.decode(raw, colon + 1)
    }

    fn skip_escape(&mut self) -> Result<(), TemplateError> {
        if percent::escape_at(self.text.as_bytes(), self.at).is_some() {
            self.at += 3;
            return Ok(());
        }
        let escape: String = self.rest().chars().take(3).collect();
        let reason = format!("malformed percent-escape `{escape}`");
        Err(self.error(self.at, reason))
    }

    fn decode(&self, raw: &str, start: usize) -> Result<String, TemplateError> {
        percent::decode(raw, Decode::All).map_err(|error| match error {
            DecodeError::MalformedEscape(at) => {
                self.error(start + at, format!("malformed percent-escape in `{raw}`"))
            }
            DecodeError::InvalidUtf8 => {
                self.error(start, format!("`{raw}` is not UTF-8 once percent-decoded"))
            }
        })
    }

    /// Whether a segment may end here: at the end, before `/`, before `}` inside a variable,
    /// or before the verb's `:` at top level.
    fn at_segment_end(&self, in_variable: bool) -> bool {
        match self.peek() {
            None | Some(b'/') => true,
            Some(b'}') => in_variable,
            Some(b':') => !in_variable && !self.rest().contains('/'),
            Some(_) => false,
        }
    }

    /// The error for a segment that does not end where it must: an unmatched `}`, or `what`
    /// run together with more text.
    fn segment_end_error(
        &self,
        start: usize,
        in_variable: bool,
        what: &str,
        stops: &[char],
    ) -> TemplateError {
        if self.peek() == Some(b'}') && !in_variable {
            return self.error(self.at, "'}' has no matching '{'");
        }
        let found = self.segment_text(start, stops);
        self.error(
            start,
            format!("{what} must be a whole segment, found `{found}`"),
        )
    }

    /// Whether the `:` under the parser, inside a top-level literal, starts the verb: the
    /// verb follows the last `:` of the last segment.
    fn is_verb_colon(&self) -> bool {
        !self
            .rest()
            .get(1..)
            .unwrap_or_default()
            .contains(['/', ':'])
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    fn rest(&self) -> &str {
        self.text.get(self.at..).unwrap_or_default()
    }

    /// The text from `start` up to the parser.
    fn slice(&self, start: usize) -> &str {
        self.text.get(start..self.at).unwrap_or_default()
    }

    /// The text from `start` up to the first of `stops`, for error messages.
    fn segment_text(&self, start: usize, stops: &[char]) -> &str {
        let text = self.text.get(start..).unwrap_or_default();
        text.split(stops).next().unwrap_or(text)
    }

    /// The character under the parser, for error messages.
    fn found(&self) -> String {
        match self.rest().chars().next() {
            Some(c) => format!("{c:?}"),
            None => "the end of the template".to_owned(),
        }
    }

    fn error(&self, offset: usize, reason: impl Into<String>) -> TemplateError {
        TemplateError {
            template: self.text.to_owned(),
            offset,
            reason: reason.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> PathTemplate {
        PathTemplate::parse(text).unwrap_or_else(|error| panic!("{error}"))
    }

    fn lit(text: &str) -> Segment {
        Segment::Literal(text.to_owned())
    }

    /// (field path, segment range, multi-segment) of every variable.
    fn variables(template: &PathTemplate) -> Vec<(String, Range<usize>, bool)> {
        template
            .variables()
            .iter()
            .map(|v| {
                (
                    v.field_path().join("."),
                    v.segment_range(),
                    v.is_multi_segment(),
                )
            })
            .collect()
    }

    #[test]
    fn parses_the_http_proto_examples() {
        use Segment::{Multi, Single};
        #[allow(clippy::type_complexity)]
        let cases: &[(
            &str,
            &[Segment],
            &[(&str, Range<usize>, bool)],
            Option<&str>,
        )] = &[
            (
                "/v1/messages/{message_id}",
                &[lit("v1"), lit("messages"), Single],
                &[("message_id", 2..3, false)],
                None,
            ),
            (
                "/v1/{name=messages/*}",
                &[lit("v1"), lit("messages"), Single],
                &[("name", 1..3, true)],
                None,
            ),
            (
                "/v1/messages/{message_id}/{sub.subfield}",
                &[lit("v1"), lit("messages"), Single, Single],
                &[("message_id", 2..3, false), ("sub.subfield", 3..4, false)],
                None,
            ),
            (
                "/v1/users/{user_id}/messages/{message_id}",
                &[lit("v1"), lit("users"), Single, lit("messages"), Single],
                &[("user_id", 2..3, false), ("message_id", 4..5, false)],
                None,
            ),
            (
                "/v1/{name=shelves/*/books/*}",
                &[lit("v1"), lit("shelves"), Single, lit("books"), Single],
                &[("name", 1..5, true)],
                None,
            ),
            (
                "/v1/{resource=**}:getIamPolicy",
                &[lit("v1"), Multi],
                &[("resource", 1..2, true)],
                Some("getIamPolicy"),
            ),
            (
                "/v1/{name=**}",
                &[lit("v1"), Multi],
                &[("name", 1..2, true)],
                None,
            ),
            (
                "/v1/{name=projects/*/locations/*}/**",
                &[
                    lit("v1"),
                    lit("projects"),
                    Single,
                    lit("locations"),
                    Single,
                    Multi,
                ],
                &[("name", 1..5, true)],
                None,
            ),
            (
                "/v1/{var=*}",
                &[lit("v1"), Single],
                &[("var", 1..2, false)],
                None,
            ),
            (
                "/v1/{var=foo}",
                &[lit("v1"), lit("foo")],
                &[("var", 1..2, false)],
                None,
            ),
            ("/v1/*/**", &[lit("v1"), Single, Multi], &[], None),
            ("/**", &[Multi], &[], None),
            (
                "/api/users/{user_id}",
                &[lit("api"), lit("users"), Single],
                &[("user_id", 2..3, false)],
                None,
            ),
            (
                "/api/orders/{order_id}:cancel",
                &[lit("api"), lit("orders"), Single],
                &[("order_id", 2..3, false)],
                Some("cancel"),
            ),
            (
                "/api/products:batchGet",
                &[lit("api"), lit("products")],
                &[],
                Some("batchGet"),
            ),
            (
                "/v1/*:undelete",
                &[lit("v1"), Single],
                &[],
                Some("undelete"),
            ),
            ("/v1/**:run", &[lit("v1"), Multi], &[], Some("run")),
            // A `:` outside the last segment is part of its literal; inside braces too.
            ("/v1/a:b/c", &[lit("v1"), lit("a:b"), lit("c")], &[], None),
            ("/v1/a:b:c", &[lit("v1"), lit("a:b")], &[], Some("c")),
            (
                "/v1/{x=a:b}",
                &[lit("v1"), lit("a:b")],
                &[("x", 1..2, false)],
                None,
            ),
            // Literals are stored decoded and may use any RFC 3986 pchar.
            ("/v1/m%65ssages", &[lit("v1"), lit("messages")], &[], None),
            ("/v1/a%2Fb", &[lit("v1"), lit("a/b")], &[], None),
            (
                "/v1/a=b/@x/~-._!$&'()+,;",
                &[lit("v1"), lit("a=b"), lit("@x"), lit("~-._!$&'()+,;")],
                &[],
                None,
            ),
            (
                "/_A9/{_a.B_9}",
                &[lit("_A9"), Single],
                &[("_a.B_9", 1..2, false)],
                None,
            ),
        ];
        for (text, segments, vars, verb) in cases {
            let template = parse(text);
            assert_eq!(template.segments(), *segments, "{text}");
            let expected: Vec<_> = vars
                .iter()
                .map(|(n, r, m)| (n.to_string(), r.clone(), *m))
                .collect();
            assert_eq!(variables(&template), expected, "{text}");
            assert_eq!(template.verb(), *verb, "{text}");
        }
    }

    #[test]
    fn rejects_with_a_precise_reason() {
        let cases = [
            ("", "must start with '/'", 0),
            ("v1/messages", "must start with '/'", 0),
            ("/", "empty segment", 1),
            ("/v1//messages", "empty segment", 4),
            ("/v1/messages/", "empty segment", 13),
            ("/v1/{name=}", "empty segment", 10),
            ("/v1/{name=a/}", "empty segment", 12),
            ("/v1/:verb", "empty segment before the verb", 4),
            ("/v1/**/messages", "'**' must be the last segment", 4),
            (
                "/v1/{name=**}/messages",
                "'**' must be the last segment",
                10,
            ),
            ("/v1/**/**", "'**' must be the last segment", 4),
            ("/v1/{name=a/**/b}", "'**' must be the last segment", 12),
            ("/v1/{a={b}}", "variables cannot nest", 7),
            ("/v1/{a", "'{' is never closed", 4),
            ("/v1/{a=b", "'{' is never closed", 4),
            ("/v1/{a=b/*", "'{' is never closed", 4),
            ("/v1/a}", "'}' has no matching '{'", 5),
            ("/v1/}", "'}' has no matching '{'", 4),
            ("/v1/{a}}", "'}' has no matching '{'", 7),
            ("/v1/*}", "'}' has no matching '{'", 5),
            ("/v1/**}", "'}' has no matching '{'", 6),
            ("/v1/{}", "expected a field name, found '}'", 5),
            ("/v1/{1a}", "expected a field name, found '1'", 5),
            ("/v1/{a.}", "expected a field name, found '}'", 7),
            ("/v1/{a..b}", "expected a field name, found '.'", 7),
            ("/v1/{.a}", "expected a field name, found '.'", 5),
            (
                "/v1/{a-b}",
                "expected '=' or '}' after the field path, found '-'",
                6,
            ),
            (
                "/v1/{a b}",
                "expected '=' or '}' after the field path, found ' '",
                6,
            ),
            ("/v1/{é}", "expected a field name, found 'é'", 5),
            ("/v1/{a}/{a}", "variable `a` is bound twice", 8),
            ("/v1/{a.b}/{a.b=x/*}", "variable `a.b` is bound twice", 10),
            ("/v1/a:", "empty verb after ':'", 5),
            ("/v1/*:", "empty verb after ':'", 5),
            ("/v1/{a}:", "empty verb after ':'", 7),
            ("/v1/*:a:b", "a verb cannot contain ':'", 7),
            ("/v1/a*", "'*' must be a whole segment, found `a*`", 5),
            ("/v1/*a", "'*' must be a whole segment, found `*a`", 4),
            ("/v1/***", "'*' must be a whole segment, found `***`", 4),
            ("/v1/**a/b", "'*' must be a whole segment, found `**a`", 4),
            ("/v1/{x=a*}", "'*' must be a whole segment, found `a*`", 8),
            ("/v1/{x=*a}", "'*' must be a whole segment, found `*a`", 7),
            ("/v1/*:a/b", "'*' must be a whole segment, found `*:a`", 4),
            ("/v1/a{b}", "'{' must start a segment, found `a{b}`", 5),
            (
                "/v1/{a}b",
                "a variable must be a whole segment, found `{a}b`",
                4,
            ),
            (
                "/v1/{a}{b}",
                "a variable must be a whole segment, found `{a}{b}`",
                4,
            ),
            (
                "/v1/{a}:b/c",
                "a variable must be a whole segment, found `{a}:b`",
                4,
            ),
            ("/v1/a b", "' ' is not allowed in a path literal", 5),
            ("/v1/a?b", "'?' is not allowed in a path literal", 5),
            ("/v1/a#b", "'#' is not allowed in a path literal", 5),
            ("/v1/caf\u{e9}", "'é' is not allowed in a path literal", 7),
            ("/v1/a:b c", "' ' is not allowed in a verb", 7),
            ("/v1/a:b*", "'*' is not allowed in a verb", 7),
            ("/v1/%", "malformed percent-escape `%`", 4),
            ("/v1/a%2", "malformed percent-escape `%2`", 5),
            ("/v1/%zz", "malformed percent-escape `%zz`", 4),
            ("/v1/a:%g1", "malformed percent-escape `%g1`", 6),
            ("/v1/%FF", "`%FF` is not UTF-8 once percent-decoded", 4),
            ("/v1/..", "dot-segment `..` can never match", 4),
            ("/v1/./x", "dot-segment `.` can never match", 4),
            ("/v1/%2e%2E", "dot-segment `%2e%2E` can never match", 4),
            ("/v1/{x=..}", "dot-segment `..` can never match", 7),
        ];
        for (text, reason, offset) in cases {
            let error = match PathTemplate::parse(text) {
                Ok(template) => panic!("{text:?} parsed as {template:?}"),
                Err(error) => error,
            };
            let message = error.to_string();
            assert!(message.contains(reason), "{text:?}: {message}");
            assert!(
                message.contains(&format!("`{text}`")),
                "{text:?}: {message}"
            );
            assert_eq!(error.offset(), offset, "{text:?}: {message}");
        }
    }

    #[test]
    fn display_is_canonical_and_round_trips() {
        let cases = [
            ("/v1/messages/{message_id}", "/v1/messages/{message_id}"),
            ("/v1/{message_id=*}", "/v1/{message_id}"),
            ("/v1/{name=messages/*}", "/v1/{name=messages/*}"),
            (
                "/v1/{name=shelves/*/books/*}",
                "/v1/{name=shelves/*/books/*}",
            ),
            (
                "/v1/messages/{message_id}/{sub.subfield}",
                "/v1/messages/{message_id}/{sub.subfield}",
            ),
            (
                "/v1/{resource=**}:getIamPolicy",
                "/v1/{resource=**}:getIamPolicy",
            ),
            ("/v1/{x=foo}", "/v1/{x=foo}"),
            ("/v1/*/**", "/v1/*/**"),
            ("/api/products:batchGet", "/api/products:batchGet"),
            ("/v1/m%65ssages", "/v1/messages"),
            ("/v1/a%2fb", "/v1/a%2Fb"),
            ("/v1/%2A%25", "/v1/%2A%25"),
            ("/v1/caf%c3%a9", "/v1/caf%C3%A9"),
            // `:` stays where it cannot be taken for the verb separator.
            ("/v1/a:b/c", "/v1/a:b/c"),
            ("/v1/a:b:c", "/v1/a%3Ab:c"),
            ("/v1/a%3Ab", "/v1/a%3Ab"),
            ("/v1/{x=a:b}", "/v1/{x=a:b}"),
            ("/v1/x:a%3Ab", "/v1/x:a%3Ab"),
        ];
        for (text, canonical) in cases {
            let template = parse(text);
            assert_eq!(template.to_string(), canonical, "{text}");
            assert_eq!(parse(canonical), template, "{text}");
        }
    }

    #[test]
    fn equivalence_ignores_variables_but_not_patterns_or_verbs() {
        let cases = [
            ("/v1/{name=shelves/*}", "/v1/shelves/{id}", true),
            ("/v1/{id}", "/v1/*", true),
            ("/v1/{a}", "/v1/{b=*}", true),
            ("/v1/{name=**}", "/v1/**", true),
            ("/v1/{a}/{b}", "/v1/{x=*/*}", true),
            ("/v1/messages", "/v1/m%65ssages", true),
            ("/v1/{a}:run", "/v1/*:run", true),
            ("/v1/{name=shelves/*}", "/v1/shelves/{id}/books", false),
            ("/v1/{id}", "/v1/{id=**}", false),
            ("/v1/{id}", "/v1/{id}:run", false),
            ("/v1/{id}:run", "/v1/{id}:stop", false),
            ("/v1/shelves", "/v1/Shelves", false),
            ("/v1/*", "/v2/*", false),
        ];
        for (a, b, equivalent) in cases {
            let (a_template, b_template) = (parse(a), parse(b));
            assert_eq!(a_template.equivalent(&b_template), equivalent, "{a} ~ {b}");
            assert_eq!(b_template.equivalent(&a_template), equivalent, "{b} ~ {a}");
        }
    }

    #[test]
    fn equality_follows_meaning_not_spelling() {
        assert_eq!(parse("/v1/{id}"), parse("/v1/{id=*}"));
        assert_ne!(parse("/v1/{id}"), parse("/v1/{other}"));
    }

    /// Random templates from a grammar-heavy alphabet: the parser never panics, and whatever
    /// it accepts prints to text that parses back to the same template.
    #[test]
    fn never_panics_and_round_trips_on_random_input() {
        const ALPHABET: &[&str] = &[
            "/", "/", "{", "}", "=", "*", "**", ":", ".", "a", "b1", "_", "%2F", "%", "%e9", "é",
            " ", "%2e",
        ];
        let mut state = 0x9E37_79B9_7F4A_7C15_u64;
        let mut accepted = 0;
        for _ in 0..50_000 {
            let mut text = String::new();
            for _ in 0..(next(&mut state) % 12) {
                text.push_str(ALPHABET[(next(&mut state) % ALPHABET.len() as u64) as usize]);
            }
            if let Ok(template) = PathTemplate::parse(&text) {
                accepted += 1;
                let printed = template.to_string();
                assert_eq!(
                    PathTemplate::parse(&printed).as_ref(),
                    Ok(&template),
                    "{text} -> {printed}"
                );
            }
        }
        assert!(accepted > 100, "only {accepted} random templates parsed");
    }

    fn next(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }
}
