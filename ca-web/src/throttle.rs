//! Failed sign-ins slow down whoever makes them: per client address and per user name, with
//! delays that grow with each failure, in tables of bounded size. An address that once signed
//! in as a user is not slowed down by failures for that user from elsewhere, so an attacker
//! guessing a password cannot lock its owner out; and a throttled attempt is refused before
//! any argon2 check, so guessing cannot starve the checks of everyone else.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures allowed before the first delay.
const FREE_FAILURES: u32 = 3;
/// The first delay, doubled with every further failure.
const FIRST_DELAY: Duration = Duration::from_secs(1);
/// The longest delay.
const MAX_DELAY: Duration = Duration::from_secs(300);
/// Failures older than this are forgotten.
const MEMORY: Duration = Duration::from_secs(15 * 60);
/// The most entries of each table.
const CAPACITY: usize = 4096;

/// The failures of one address or one name.
#[derive(Clone, Copy, Debug)]
struct Failures {
    count: u32,
    last: Instant,
}

impl Failures {
    /// How long after the last failure the next attempt must wait.
    fn delay(&self) -> Duration {
        match self.count.checked_sub(FREE_FAILURES + 1) {
            None => Duration::ZERO,
            Some(extra) => FIRST_DELAY
                .saturating_mul(2u32.saturating_pow(extra.min(16)))
                .min(MAX_DELAY),
        }
    }

    fn wait(&self, now: Instant) -> Option<Duration> {
        let until = self.last + self.delay();
        (until > now).then(|| until - now)
    }
}

/// How long a sign-in keeps its address trusted for its user.
const TRUST: Duration = Duration::from_secs(30 * 24 * 3600);

/// A table that forgets entries after `memory`, and its oldest entries when full.
struct Table<K> {
    entries: HashMap<K, Failures>,
    memory: Duration,
}

impl<K: Eq + Hash + Clone> Table<K> {
    fn new(memory: Duration) -> Self {
        Table {
            entries: HashMap::new(),
            memory,
        }
    }

    fn get(&self, key: &K, now: Instant) -> Option<Failures> {
        self.entries
            .get(key)
            .copied()
            .filter(|f| now.duration_since(f.last) < self.memory)
    }

    fn fail(&mut self, key: &K, now: Instant) {
        let count = self.get(key, now).map_or(0, |f| f.count) + 1;
        if self.entries.len() >= CAPACITY && !self.entries.contains_key(key) {
            let memory = self.memory;
            self.entries
                .retain(|_, f| now.duration_since(f.last) < memory);
            if self.entries.len() >= CAPACITY
                && let Some(oldest) = self
                    .entries
                    .iter()
                    .min_by_key(|(_, f)| f.last)
                    .map(|(k, _)| k.clone())
            {
                self.entries.remove(&oldest);
            }
        }
        self.entries
            .insert(key.clone(), Failures { count, last: now });
    }
}

struct Tables {
    by_addr: Table<IpAddr>,
    by_name: Table<String>,
    /// (name, address) pairs that signed in: spared the name's delay.
    trusted: Table<(String, IpAddr)>,
}

/// The throttle of a server.
pub(crate) struct Throttle {
    tables: Mutex<Tables>,
}

impl Throttle {
    pub(crate) fn new() -> Self {
        Throttle {
            tables: Mutex::new(Tables {
                by_addr: Table::new(MEMORY),
                by_name: Table::new(MEMORY),
                trusted: Table::new(TRUST),
            }),
        }
    }

    /// How long `addr` must wait before trying `name` again; `None` when it may try now.
    pub(crate) fn wait(&self, name: &str, addr: IpAddr) -> Option<Duration> {
        self.wait_at(name, addr, Instant::now())
    }

    fn wait_at(&self, name: &str, addr: IpAddr, now: Instant) -> Option<Duration> {
        let tables = self.tables.lock().ok()?;
        let by_addr = tables.by_addr.get(&addr, now).and_then(|f| f.wait(now));
        let trusted = tables.trusted.get(&(name.to_owned(), addr), now).is_some();
        let by_name = if trusted {
            None
        } else {
            tables
                .by_name
                .get(&name.to_owned(), now)
                .and_then(|f| f.wait(now))
        };
        by_addr.max(by_name)
    }

    /// Records a failed sign-in.
    pub(crate) fn failed(&self, name: &str, addr: IpAddr) {
        self.failed_at(name, addr, Instant::now());
    }

    fn failed_at(&self, name: &str, addr: IpAddr, now: Instant) {
        if let Ok(mut tables) = self.tables.lock() {
            tables.by_addr.fail(&addr, now);
            tables.by_name.fail(&name.to_owned(), now);
        }
    }

    /// Records a successful sign-in: this address is trusted for this name from now on.
    pub(crate) fn succeeded(&self, name: &str, addr: IpAddr) {
        if let Ok(mut tables) = self.tables.lock() {
            tables
                .trusted
                .fail(&(name.to_owned(), addr), Instant::now());
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, last])
    }

    #[test]
    fn delays_grow_after_the_free_failures() {
        let throttle = Throttle::new();
        let now = Instant::now();
        for _ in 0..FREE_FAILURES {
            assert_eq!(throttle.wait_at("alice", ip(1), now), None);
            throttle.failed_at("alice", ip(1), now);
        }
        // The fourth failure must wait a second, the fifth two, ...
        throttle.failed_at("alice", ip(1), now);
        assert_eq!(throttle.wait_at("alice", ip(1), now), Some(FIRST_DELAY));
        throttle.failed_at("alice", ip(1), now);
        assert_eq!(throttle.wait_at("alice", ip(1), now), Some(2 * FIRST_DELAY));
        assert_eq!(
            throttle.wait_at("alice", ip(1), now + 2 * FIRST_DELAY),
            None
        );
        // ... never more than the cap, and all forgotten after a while.
        for _ in 0..40 {
            throttle.failed_at("alice", ip(1), now);
        }
        assert_eq!(throttle.wait_at("alice", ip(1), now), Some(MAX_DELAY));
        assert_eq!(throttle.wait_at("alice", ip(1), now + MEMORY), None);
    }

    #[test]
    fn an_address_and_a_name_are_throttled_separately() {
        let throttle = Throttle::new();
        let now = Instant::now();
        // One address guessing many names is slowed down.
        for n in 0..5 {
            throttle.failed_at(&format!("user{n}"), ip(1), now);
        }
        assert!(throttle.wait_at("someone", ip(1), now).is_some());
        assert_eq!(throttle.wait_at("someone", ip(2), now), None);
        // Many addresses guessing one name slow that name down ...
        for last in 10..15 {
            throttle.failed_at("alice", ip(last), now);
        }
        assert!(throttle.wait_at("alice", ip(3), now).is_some());
        // ... but not for an address that signed in as that user before.
        throttle.succeeded("alice", ip(4));
        assert_eq!(throttle.wait_at("alice", ip(4), now), None);
    }

    #[test]
    fn the_tables_stay_bounded() {
        let throttle = Throttle::new();
        let now = Instant::now();
        for n in 0..(CAPACITY + 100) {
            throttle.failed_at(&format!("user{n}"), ip(1), now);
        }
        let tables = throttle.tables.lock().unwrap();
        assert!(tables.by_name.entries.len() <= CAPACITY);
        assert_eq!(tables.by_addr.entries.len(), 1);
    }
}
