//! The CSV the demo's downloads are written in (RFC 4180: comma-separated, CRLF line ends,
//! fields quoted only when they need it).

use std::borrow::Cow;

/// The media type of every CSV document the demo sends.
pub(crate) const CSV_CONTENT_TYPE: &str = "text/csv; charset=utf-8";

/// One CSV line, CRLF included, of `fields`.
pub(crate) fn row<'a>(fields: impl IntoIterator<Item = &'a str>) -> String {
    let mut line = String::new();
    for (i, field) in fields.into_iter().enumerate() {
        if i > 0 {
            line.push(',');
        }
        line.push_str(&quote(field));
    }
    line.push_str("\r\n");
    line
}

/// `field` as it goes between the commas: quoted, with quotes doubled, when it holds a comma, a
/// quote or a line break.
fn quote(field: &str) -> Cow<'_, str> {
    if field.contains([',', '"', '\r', '\n']) {
        Cow::Owned(format!("\"{}\"", field.replace('"', "\"\"")))
    } else {
        Cow::Borrowed(field)
    }
}

/// An amount in cents as a decimal, e.g. `-12.05` for -1205.
pub(crate) fn amount(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let cents = cents.unsigned_abs();
    format!("{sign}{}.{:02}", cents / 100, cents % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_quoted_only_when_needed() {
        assert_eq!(row(["a", "b c", ""]), "a,b c,\r\n");
        assert_eq!(
            row(["x,y", "say \"hi\"", "two\nlines"]),
            "\"x,y\",\"say \"\"hi\"\"\",\"two\nlines\"\r\n"
        );
    }

    #[test]
    fn amounts_have_two_decimals() {
        for (cents, text) in [
            (0, "0.00"),
            (5, "0.05"),
            (8_999, "89.99"),
            (-1_205, "-12.05"),
            (i64::MIN, "-92233720368547758.08"),
        ] {
            assert_eq!(amount(cents), text, "{cents}");
        }
    }
}
