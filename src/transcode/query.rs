//! Query strings: `name=value` pairs separated by `&`, decoded as HTML forms encode them (`+`
//! is a space, `%XX` a byte).
//!
//! Unlike `form_urlencoded::parse`, which replaces bytes that are not UTF-8 by U+FFFD, a name
//! or value that is not UTF-8 once decoded is refused (400 `INVALID_FIELD`): a changed value
//! must never reach a backend as if the client had sent it, and path variables are refused the
//! same way.

use std::borrow::Cow;

use percent_encoding::percent_decode;

use crate::error::GatewayError;

/// One decoded `name=value` pair.
pub type Pair<'a> = (Cow<'a, str>, Cow<'a, str>);

/// The decoded pairs of `query`, in order; empty pairs (`a=1&&b=2`) are skipped, and a pair
/// without `=` has an empty value.
pub fn pairs(query: &str) -> Result<Vec<Pair<'_>>, GatewayError> {
    let mut out = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let name = decode(name).map_err(|shown| GatewayError::InvalidField {
            field: shown,
            reason: "the query parameter name is not UTF-8 once percent-decoded".into(),
        })?;
        let value = decode(value).map_err(|_| GatewayError::InvalidField {
            field: name.clone().into_owned(),
            reason: "the value is not UTF-8 once percent-decoded".into(),
        })?;
        out.push((name, value));
    }
    Ok(out)
}

/// `text` with `+` as a space and `%XX` decoded; borrowed when there is nothing to decode. On
/// bytes that are not UTF-8, the text shown in the error (lossily decoded).
fn decode(text: &str) -> Result<Cow<'_, str>, String> {
    if !text.contains(['+', '%']) {
        return Ok(Cow::Borrowed(text));
    }
    let spaced = text.replace('+', " ");
    let bytes: Vec<u8> = percent_decode(spaced.as_bytes()).collect();
    String::from_utf8(bytes)
        .map(Cow::Owned)
        .map_err(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoded(query: &str) -> Vec<(String, String)> {
        pairs(query)
            .unwrap()
            .into_iter()
            .map(|(n, v)| (n.into_owned(), v.into_owned()))
            .collect()
    }

    #[test]
    fn pairs_decode_as_forms_do() {
        let owned = |n: &str, v: &str| (n.to_string(), v.to_string());
        assert_eq!(
            decoded("a=1&&b=x+y&c=%E2%82%AC&d&e=%2B%26%3D&a=2"),
            [
                owned("a", "1"),
                owned("b", "x y"),
                owned("c", "€"),
                owned("d", ""),
                owned("e", "+&="),
                owned("a", "2"),
            ]
        );
        // A malformed escape is kept as it is, as browsers and form_urlencoded do.
        assert_eq!(decoded("a=%zz%4"), [owned("a", "%zz%4")]);
        assert!(decoded("").is_empty());
    }

    #[test]
    fn bytes_that_are_not_utf8_are_refused_not_replaced() {
        for query in ["a=%FF", "a=ok&b=%E2%82", "a=%C0%AF"] {
            let error = pairs(query).unwrap_err();
            assert!(
                matches!(&error, GatewayError::InvalidField { reason, .. } if reason.contains("value")),
                "{query}: {error:?}"
            );
        }
        let error = pairs("%FF=1").unwrap_err();
        assert!(
            matches!(&error, GatewayError::InvalidField { reason, .. } if reason.contains("name")),
            "{error:?}"
        );
    }
}
