//! The `Grpc-Timeout` header: `1*8DIGIT` followed by a unit (`H M S m u n`), as in the gRPC
//! over HTTP/2 specification.

use std::time::Duration;

use http::HeaderValue;

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

/// `remaining` as a `grpc-timeout` value: the finest unit that fits in eight digits, rounded
/// down so the backend never waits longer than the gateway.
pub fn encode_grpc_timeout(remaining: Duration) -> HeaderValue {
    const MAX: u128 = 99_999_999;
    const UNITS: [(u128, u8); 6] = [
        (1, b'n'),
        (1_000, b'u'),
        (1_000_000, b'm'),
        (1_000_000_000, b'S'),
        (60_000_000_000, b'M'),
        (3_600_000_000_000, b'H'),
    ];
    let nanos = remaining.as_nanos();
    let (amount, unit) = UNITS
        .iter()
        .map(|&(per, unit)| (nanos / per, unit))
        .find(|&(amount, _)| amount <= MAX)
        .unwrap_or((MAX, b'H'));
    // Written by hand: `format!` costs about a thousand instructions on every call.
    let mut text = [0u8; 9];
    let mut start = 8;
    // At most eight digits: in `u64`, whose division by ten is a multiplication, where `u128`
    // calls a division routine for each digit.
    let mut rest = amount as u64;
    loop {
        start -= 1;
        text[start] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    text[8] = unit;
    HeaderValue::from_bytes(&text[start..]).expect("digits and a unit letter form a header value")
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

    #[test]
    fn grpc_timeout_uses_the_finest_unit_that_fits() {
        let cases = [
            (Duration::ZERO, "0n"),
            (Duration::from_nanos(99_999_999), "99999999n"),
            (Duration::from_millis(100), "100000u"),
            (Duration::from_secs(15), "15000000u"),
            (Duration::from_secs(99_999), "99999000m"),
            (Duration::from_secs(100_000), "100000S"),
            (Duration::from_secs(100_000_000 * 60), "1666666H"),
            (Duration::MAX, "99999999H"),
        ];
        for (remaining, expected) in cases {
            assert_eq!(encode_grpc_timeout(remaining), expected, "{remaining:?}");
        }
    }

    #[test]
    fn grpc_timeout_round_trips_without_growing() {
        for millis in [1, 7, 999, 1_000, 60_000, 3_600_000, 123_456_789] {
            let remaining = Duration::from_millis(millis) + Duration::from_nanos(17);
            let text = encode_grpc_timeout(remaining);
            let parsed = parse_grpc_timeout(text.to_str().unwrap()).unwrap();
            assert!(parsed <= remaining, "{remaining:?} → {text:?}");
            assert!(remaining - parsed < remaining / 1000 + Duration::from_micros(1));
        }
    }
}
