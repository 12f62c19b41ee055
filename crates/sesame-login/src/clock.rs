//! Time as a dependency. Polling, expiry and refresh take a [`Clock`] so that tests of a
//! two-minute timeout run in milliseconds with [`FakeClock`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The future [`Clock::sleep`] returns; boxed so that `Clock` can be a trait object.
pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Where the login flows read the time and wait: [`SystemClock`] in the program, [`FakeClock`] in
/// tests.
pub trait Clock: Send + Sync {
    /// The current time.
    fn now(&self) -> SystemTime;
    /// Waits for `duration`; a [`FakeClock`] returns at once after moving its time forward.
    fn sleep(&self, duration: Duration) -> Sleep;
}

/// The wall clock and tokio's timer.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }

    fn sleep(&self, duration: Duration) -> Sleep {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// A clock whose `sleep` returns at once after moving time forward.
#[derive(Debug)]
pub struct FakeClock {
    now: Mutex<SystemTime>,
    slept: Mutex<Vec<Duration>>,
}

impl FakeClock {
    /// A fake clock standing at `secs` seconds after the Unix epoch, with no sleeps recorded.
    pub fn at_unix(secs: u64) -> Self {
        FakeClock {
            now: Mutex::new(UNIX_EPOCH + Duration::from_secs(secs)),
            slept: Mutex::new(Vec::new()),
        }
    }

    /// Moves the fake time forward by `by` without recording a sleep.
    pub fn advance(&self, by: Duration) {
        *self
            .now
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) += by;
    }

    /// Every duration passed to `sleep`, in order.
    pub fn sleeps(&self) -> Vec<Duration> {
        self.slept
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

impl Clock for FakeClock {
    fn now(&self) -> SystemTime {
        *self
            .now
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn sleep(&self, duration: Duration) -> Sleep {
        self.advance(duration);
        self.slept
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(duration);
        Box::pin(tokio::task::yield_now())
    }
}

/// Seconds since the Unix epoch (negative before it).
pub fn unix_seconds(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    }
}

/// "1h05m", "2m00s", "45s": a duration as a person reads it.
pub fn human_duration(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 86_400 {
        format!("{}d{:02}h", s / 86_400, (s % 86_400) / 3600)
    } else if s >= 3600 {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

/// `2026-11-22 10:05:17 UTC` for a Unix time; a time no calendar holds (from a damaged file or
/// a hostile token) is shown as the number it is.
pub fn format_utc(unix: i64) -> String {
    match chrono::DateTime::from_timestamp(unix, 0) {
        Some(t) => t.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        None => format!("{unix} (Unix time, out of range)"),
    }
}

/// RFC 3339 in UTC (`2030-03-17T17:46:40Z`), as Kubernetes wants timestamps; `None` out of
/// chrono's range.
pub fn rfc3339_utc(unix: i64) -> Option<String> {
    chrono::DateTime::from_timestamp(unix, 0)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_dates() {
        assert_eq!(format_utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(format_utc(1_795_341_917), "2026-11-22 10:05:17 UTC");
        assert_eq!(format_utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert!(format_utc(i64::MAX).contains("out of range"));
        assert!(format_utc(i64::MIN).contains("out of range"));
    }

    #[test]
    fn human_durations() {
        assert_eq!(human_duration(Duration::from_secs(45)), "45s");
        assert_eq!(human_duration(Duration::from_secs(120)), "2m00s");
        assert_eq!(human_duration(Duration::from_secs(3900)), "1h05m");
        assert_eq!(human_duration(Duration::from_secs(90_000)), "1d01h");
    }

    #[tokio::test]
    async fn fake_clock_sleep_advances_time() {
        let c = FakeClock::at_unix(100);
        c.sleep(Duration::from_secs(5)).await;
        assert_eq!(unix_seconds(c.now()), 105);
        assert_eq!(c.sleeps(), vec![Duration::from_secs(5)]);
    }
}
