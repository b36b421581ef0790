//! Media types as `Content-Type` headers carry them, and the media ranges (`image/*`) a route's
//! `accept` lists: parsed, compared without case, parameters set aside.

use std::fmt;

/// The `type/subtype` of a `Content-Type` value, without its parameters (compare it without
/// case); `None` when the value is not `token/token`.
pub fn essence(content_type: &str) -> Option<&str> {
    let essence = content_type.split(';').next()?.trim();
    let (kind, subtype) = essence.split_once('/')?;
    (is_token(kind) && is_token(subtype)).then_some(essence)
}

/// A media range: `type/subtype`, `type/*` or `*/*`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MediaRange {
    /// Lower-cased; `*` for any.
    kind: String,
    subtype: String,
}

impl MediaRange {
    /// Parses `type/subtype`, `type/*` or `*/*`; parameters are not allowed.
    pub fn parse(text: &str) -> Result<MediaRange, String> {
        let text = text.trim();
        let Some((kind, subtype)) = text.split_once('/') else {
            return Err(format!(
                "{text:?} is not a media range such as \"image/png\" or \"image/*\""
            ));
        };
        let valid = |part: &str| part == "*" || is_token(part);
        if !valid(kind) || !valid(subtype) || (kind == "*" && subtype != "*") {
            return Err(format!(
                "{text:?} is not a media range such as \"image/png\" or \"image/*\""
            ));
        }
        Ok(MediaRange {
            kind: kind.to_ascii_lowercase(),
            subtype: subtype.to_ascii_lowercase(),
        })
    }

    /// Whether the `Content-Type` value `content_type` falls in this range.
    pub fn matches(&self, content_type: &str) -> bool {
        let Some(essence) = essence(content_type) else {
            return false;
        };
        let (kind, subtype) = essence.split_once('/').unwrap_or_default();
        (self.kind == "*" || self.kind.eq_ignore_ascii_case(kind))
            && (self.subtype == "*" || self.subtype.eq_ignore_ascii_case(subtype))
    }
}

impl fmt::Display for MediaRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.kind, self.subtype)
    }
}

/// An RFC 9110 token: one or more of the characters a type or subtype may hold.
fn is_token(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_match_types_without_case_or_parameters() {
        let png = MediaRange::parse("image/png").unwrap();
        let images = MediaRange::parse("Image/*").unwrap();
        let any = MediaRange::parse("*/*").unwrap();
        assert!(png.matches("image/png"));
        assert!(png.matches("IMAGE/PNG; q=1"));
        assert!(!png.matches("image/jpeg"));
        assert!(images.matches("image/jpeg"));
        assert!(!images.matches("text/plain"));
        assert!(any.matches("text/plain; charset=utf-8"));
        assert!(!any.matches("not a type"));
        assert!(!any.matches(""));
        assert_eq!(images.to_string(), "image/*");
    }

    #[test]
    fn malformed_ranges_are_refused() {
        for text in [
            "image",
            "*/png",
            "image/",
            "/png",
            "image/png; q=1",
            "im age/png",
        ] {
            assert!(MediaRange::parse(text).is_err(), "{text:?}");
        }
    }

    #[test]
    fn essence_drops_parameters() {
        assert_eq!(essence(" Text/CSV ; charset=utf-8"), Some("Text/CSV"));
        assert_eq!(
            essence("multipart/form-data; boundary=x"),
            Some("multipart/form-data")
        );
        assert_eq!(essence("nonsense"), None);
        assert_eq!(essence(""), None);
    }
}
