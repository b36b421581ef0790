//! `LogBudget`: at most so many log lines per window for a message that traffic can repeat.
//!
//! A failing backend or a client hammering a broken route would otherwise write one WARN line
//! per request: tens of thousands a second, which costs the gateway CPU it needs for traffic
//! and buries everything else in the log. Every such request is still counted in the metrics
//! and, when enabled, the access log; the WARN lines are for a human, who needs the first few
//! and how many were left out, not all of them.
//!
//! Windows are whole seconds of wall time, so the budget is a few atomics and no lock. A
//! window's count is reset by whichever caller first sees the new window; callers racing at the
//! boundary may let a line or two more through, which is harmless.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{SystemTime, UNIX_EPOCH};

/// The WARN lines about requests that failed on the gateway's or a backend's side (5xx):
/// 10 a second, REST and gRPC together.
pub static FAILED_REQUESTS: LogBudget = LogBudget::new(10, 1);

/// Lets through at most `lines` log lines every `seconds` seconds and counts the rest.
pub struct LogBudget {
    lines: u64,
    seconds: u64,
    /// The current window's number (seconds since the epoch / `seconds`).
    window: AtomicU64,
    /// Lines asked for in the current window.
    used: AtomicU64,
    /// Lines refused since the last line let through.
    dropped: AtomicU64,
}

impl LogBudget {
    /// A budget of `lines` lines per window of `seconds` (at least 1) seconds.
    pub const fn new(lines: u64, seconds: u64) -> LogBudget {
        LogBudget {
            lines,
            seconds: if seconds == 0 { 1 } else { seconds },
            window: AtomicU64::new(0),
            used: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        }
    }

    /// `Some(n)` when a line may be written now, `n` being how many were refused since the last
    /// one let through (to be logged with it); `None` when this window's budget is spent.
    pub fn admit(&self) -> Option<u64> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        self.admit_at(now / self.seconds)
    }

    fn admit_at(&self, window: u64) -> Option<u64> {
        let seen = self.window.load(Relaxed);
        if seen != window
            && self
                .window
                .compare_exchange(seen, window, Relaxed, Relaxed)
                .is_ok()
        {
            self.used.store(0, Relaxed);
        }
        if self.used.fetch_add(1, Relaxed) < self.lines {
            Some(self.dropped.swap(0, Relaxed))
        } else {
            self.dropped.fetch_add(1, Relaxed);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lets_through_the_budget_then_counts_what_it_refused() {
        let budget = LogBudget::new(2, 1);
        assert_eq!(budget.admit_at(100), Some(0));
        assert_eq!(budget.admit_at(100), Some(0));
        assert_eq!(budget.admit_at(100), None);
        assert_eq!(budget.admit_at(100), None);
        // A new window: the first line carries the count of those left out.
        assert_eq!(budget.admit_at(101), Some(2));
        assert_eq!(budget.admit_at(101), Some(0));
        assert_eq!(budget.admit_at(101), None);
        assert_eq!(budget.admit_at(105), Some(1));
    }

    #[test]
    fn a_zero_second_window_is_one_second() {
        assert_eq!(LogBudget::new(1, 0).seconds, 1);
    }
}
