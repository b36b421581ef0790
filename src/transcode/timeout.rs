//! The `Grpc-Timeout` header: `1*8DIGIT` followed by a unit (`H M S m u n`), as in the gRPC
//! over HTTP/2 specification.

use std::time::Duration;

/// Parses a gRPC timeout value; `None` when it is malformed.
pub fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    let bytes = value.as_bytes();
    let (digits, unit) = bytes.split_at(bytes.len().checked_sub(1)?);
    if digits.is_empty() || digits.len() > 8 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let amount: u64 = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some(match unit {
        b"H" => Duration::from_secs(amount.checked_mul(3600)?),
        b"M" => Duration::from_secs(amount.checked_mul(60)?),
        b"S" => Duration::from_secs(amount),
        b"m" => Duration::from_millis(amount),
        b"u" => Duration::from_micros(amount),
        b"n" => Duration::from_nanos(amount),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_examples_and_rejections() {
        let cases: &[(&str, Option<Duration>)] = &[
            ("2S", Some(Duration::from_secs(2))),
            ("500m", Some(Duration::from_millis(500))),
            ("1H", Some(Duration::from_secs(3600))),
            ("3M", Some(Duration::from_secs(180))),
            ("250u", Some(Duration::from_micros(250))),
            ("99999999n", Some(Duration::from_nanos(99_999_999))),
            ("123456789S", None),
            ("S", None),
            ("", None),
            ("10", None),
            ("10s", None),
            ("-1S", None),
            ("1.5S", None),
            (" 1S", None),
            ("1é", None),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_grpc_timeout(text), *expected, "{text:?}");
        }
    }
}
