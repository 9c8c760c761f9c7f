//! Where time comes from. Every timeout decision reads a [`Clock`], so tests (Tessera's and its
//! users') can move time by hand with [`ManualClock`] instead of sleeping.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, the unit of every timestamp in Tessera.
pub type UnixMillis = u64;

/// A source of the current time.
pub trait Clock: Send + Sync + 'static {
    /// Now, in milliseconds since the Unix epoch.
    fn now(&self) -> UnixMillis;
}

/// The operating system's wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> UnixMillis {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            // A clock set before 1970 is treated as the epoch rather than panicking.
            .unwrap_or(0)
    }
}

/// A clock that only moves when told to. Clones share the same time.
///
/// ```
/// use std::time::Duration;
/// use tessera::{Clock, ManualClock};
/// let clock = ManualClock::new(1_000);
/// let view = clock.clone();
/// clock.advance(Duration::from_secs(2));
/// assert_eq!(view.now(), 3_000);
/// ```
#[derive(Clone)]
pub struct ManualClock(Arc<AtomicU64>);

impl ManualClock {
    /// A clock reading `start` milliseconds since the epoch.
    pub fn new(start: UnixMillis) -> Self {
        ManualClock(Arc::new(AtomicU64::new(start)))
    }

    /// Move time forward by `by` (saturating).
    pub fn advance(&self, by: Duration) {
        self.advance_millis(u64::try_from(by.as_millis()).unwrap_or(u64::MAX));
    }

    /// Move time forward by `ms` milliseconds (saturating).
    pub fn advance_millis(&self, ms: u64) {
        let _ = self
            .0
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |t| {
                Some(t.saturating_add(ms))
            });
    }

    /// Set the time; it may move backwards, which only a test would want.
    pub fn set(&self, now: UnixMillis) {
        self.0.store(now, Ordering::SeqCst);
    }
}

impl Default for ManualClock {
    /// Starts at 2023-11-14T22:13:20Z (1.7e12 ms), a round value the conformance corpus uses.
    fn default() -> Self {
        ManualClock::new(1_700_000_000_000)
    }
}

impl Clock for ManualClock {
    fn now(&self) -> UnixMillis {
        self.0.load(Ordering::SeqCst)
    }
}

impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ManualClock({})", self.now())
    }
}

pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_clock_is_after_2024() {
        assert!(SystemClock.now() > 1_704_067_200_000);
    }

    #[test]
    fn manual_clock_moves_only_when_told_and_saturates() {
        let c = ManualClock::new(5);
        assert_eq!(c.now(), 5);
        c.advance_millis(10);
        assert_eq!(c.now(), 15);
        c.advance(Duration::MAX);
        assert_eq!(c.now(), u64::MAX);
        c.set(7);
        assert_eq!(c.now(), 7);
    }
}
