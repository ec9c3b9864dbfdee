//! How fast one client address may make what anyone may make without signing in: ACME
//! accounts (without a binding to a user) and orders, each of which the log keeps. Without a
//! limit, one client made 200 accounts with a 100-name order each in seconds (16 MB of log).
//!
//! A bucket per address (IPv6 addresses by their /64, as [`crate::throttle`] counts them)
//! holds up to the hourly limit and fills at that rate: a client may make the whole hour's
//! share at once (a LAN's servers set up together), then one more as each share comes back.
//! The buckets live in this server's memory: each server of several on one log counts its
//! own, and a restart empties them all.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The period a limit is given for.
const HOUR: Duration = Duration::from_secs(3600);
/// The most addresses a table follows; when full, a full bucket (an address idle for an
/// hour, as good as new) goes first, else the one used least recently.
const CAPACITY: usize = 4096;

/// What an address has left, and when it last took from it.
#[derive(Clone, Copy, Debug)]
struct Bucket {
    left: f64,
    at: Instant,
}

/// The buckets of one kind of thing made, by client address.
#[derive(Default)]
pub(crate) struct Rate {
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

impl Rate {
    /// Takes one from `addr`'s bucket of `per_hour` (0: no limit), or says how long until
    /// there is one.
    pub(crate) fn take(&self, addr: IpAddr, per_hour: u32) -> Result<(), Duration> {
        self.take_at(addr, per_hour, Instant::now())
    }

    fn take_at(&self, addr: IpAddr, per_hour: u32, now: Instant) -> Result<(), Duration> {
        if per_hour == 0 {
            return Ok(());
        }
        let full = f64::from(per_hour);
        let per_second = full / HOUR.as_secs_f64();
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let key = crate::throttle::client(addr);
        if !buckets.contains_key(&key) && buckets.len() >= CAPACITY {
            let idle = buckets
                .iter()
                .find(|(_, b)| now.saturating_duration_since(b.at) >= HOUR)
                .map(|(k, _)| *k);
            let oldest = || buckets.iter().min_by_key(|(_, b)| b.at).map(|(k, _)| *k);
            if let Some(gone) = idle.or_else(oldest) {
                buckets.remove(&gone);
            }
        }
        let bucket = buckets.entry(key).or_insert(Bucket {
            left: full,
            at: now,
        });
        let refilled = now.saturating_duration_since(bucket.at).as_secs_f64() * per_second;
        bucket.left = (bucket.left + refilled).min(full);
        bucket.at = now;
        if bucket.left >= 1.0 {
            bucket.left -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.left) / per_second))
        }
    }
}

/// The rates of what ACME clients make.
#[derive(Default)]
pub(crate) struct AcmeRates {
    pub accounts: Rate,
    pub orders: Rate,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn an_address_makes_its_hours_share_at_once_then_one_as_each_comes_back() {
        let rate = Rate::default();
        let start = Instant::now();
        for _ in 0..3 {
            rate.take_at(ip("192.0.2.1"), 3, start).unwrap();
        }
        // Empty: the next share comes back in a third of an hour.
        let wait = rate.take_at(ip("192.0.2.1"), 3, start).unwrap_err();
        assert_eq!(wait.as_secs(), 1200);
        // Another address has its own bucket; an IPv6 network is one client.
        rate.take_at(ip("192.0.2.2"), 3, start).unwrap();
        for last in [1, 2, 3] {
            rate.take_at(ip(&format!("2001:db8::{last}")), 3, start)
                .unwrap();
        }
        assert!(rate.take_at(ip("2001:db8::ffff"), 3, start).is_err());
        // After twenty minutes, one more; after an hour, a full share, never more.
        let later = start + Duration::from_secs(1200);
        rate.take_at(ip("192.0.2.1"), 3, later).unwrap();
        assert!(rate.take_at(ip("192.0.2.1"), 3, later).is_err());
        let much_later = later + Duration::from_secs(10 * 3600);
        for _ in 0..3 {
            rate.take_at(ip("192.0.2.1"), 3, much_later).unwrap();
        }
        assert!(rate.take_at(ip("192.0.2.1"), 3, much_later).is_err());
        // No limit: anything goes.
        for _ in 0..100 {
            rate.take_at(ip("192.0.2.1"), 0, much_later).unwrap();
        }
    }

    #[test]
    fn the_table_stays_bounded() {
        let rate = Rate::default();
        let now = Instant::now();
        for n in 0..(CAPACITY as u32 + 100) {
            rate.take_at(IpAddr::V4(n.into()), 5, now).unwrap();
        }
        assert_eq!(rate.buckets.lock().unwrap().len(), CAPACITY);
    }
}
