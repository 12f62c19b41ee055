//! Slowing down token guessing (RFC 8628 §5.2): polls of tokens the server does not know are
//! counted per client address in a fixed window; past the allowance, 429 with `Retry-After`.
//! Per replica, which is enough to make guessing 40-character tokens pointless.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Unknown-token polls allowed per address per window.
pub const ALLOWANCE: u32 = 30;
pub const WINDOW: Duration = Duration::from_secs(60);
/// Addresses tracked at most; past this the oldest windows are dropped.
const MAX_TRACKED: usize = 100_000;

#[derive(Debug)]
pub struct Guesses {
    allowance: u32,
    windows: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl Default for Guesses {
    fn default() -> Self {
        Guesses::new(ALLOWANCE)
    }
}

impl Guesses {
    /// `allowance` unknown-token polls per address per [`WINDOW`] (`serve --max-unknown-polls`).
    pub fn new(allowance: u32) -> Self {
        Guesses {
            allowance,
            windows: Mutex::default(),
        }
    }

    /// Counts an unknown-token poll from `ip`; `Some(wait)` when it is over the allowance.
    pub fn unknown(&self, ip: IpAddr) -> Option<Duration> {
        self.unknown_at(ip, Instant::now())
    }

    fn unknown_at(&self, ip: IpAddr, now: Instant) -> Option<Duration> {
        let mut w = self
            .windows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if w.len() >= MAX_TRACKED {
            w.retain(|_, (start, _)| now.duration_since(*start) < WINDOW);
        }
        let entry = w.entry(ip).or_insert((now, 0));
        if now.duration_since(entry.0) >= WINDOW {
            *entry = (now, 0);
        }
        entry.1 = entry.1.saturating_add(1);
        (entry.1 > self.allowance).then(|| WINDOW.saturating_sub(now.duration_since(entry.0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowance_then_wait_then_a_new_window() {
        let g = Guesses::default();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let t0 = Instant::now();
        for _ in 0..ALLOWANCE {
            assert_eq!(g.unknown_at(ip, t0), None);
        }
        let wait = g.unknown_at(ip, t0 + Duration::from_secs(10)).unwrap();
        assert_eq!(wait, Duration::from_secs(50));
        assert_eq!(
            g.unknown_at("192.0.2.2".parse().unwrap(), t0),
            None,
            "per address"
        );
        assert_eq!(g.unknown_at(ip, t0 + WINDOW), None, "a new window");
    }
}
