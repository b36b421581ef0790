//! The `Grpc-Timeout` header: `parse_grpc_timeout` on any text.
//!
//! Invariants: nothing panics, and a parsed timeout is the spec's `1*8DIGIT unit` value,
//! recomputed here independently in nanoseconds (so it is finite and at most 99,999,999 hours).
#![no_main]

use std::time::Duration;

use gatehouse::grpc::timeout::parse_grpc_timeout;
use libfuzzer_sys::fuzz_target;

/// The value the spec gives `value`, in nanoseconds; `None` when it is not `1*8DIGIT unit`.
fn spec_nanos(value: &str) -> Option<u128> {
    // Bytes, not chars: the unit is one ASCII byte, and a multi-byte last char is no unit.
    let (digits, unit) = value.as_bytes().split_at(value.len().checked_sub(1)?);
    if !(1..=8).contains(&digits.len()) || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let amount = digits
        .iter()
        .fold(0u128, |n, d| n * 10 + u128::from(d - b'0'));
    let nanos_per_unit: u128 = match unit {
        b"H" => 3_600_000_000_000,
        b"M" => 60_000_000_000,
        b"S" => 1_000_000_000,
        b"m" => 1_000_000,
        b"u" => 1_000,
        b"n" => 1,
        _ => return None,
    };
    Some(amount * nanos_per_unit)
}

fuzz_target!(|data: &[u8]| {
    let Ok(value) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = parse_grpc_timeout(value);
    assert_eq!(
        parsed.map(|d| d.as_nanos()),
        spec_nanos(value),
        "Grpc-Timeout {value:?}"
    );
    if let Some(timeout) = parsed {
        assert!(timeout <= Duration::from_secs(99_999_999 * 3600));
        // Deadline arithmetic the server does must not overflow.
        let _ = std::time::Instant::now().checked_add(timeout);
    }
});
