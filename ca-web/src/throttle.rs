//! Failed sign-ins slow down whoever makes them: per client address and per user name, with
//! delays that grow with each failure, in tables of bounded size.
//!
//! - Per address (IPv6 addresses by their /64, which one client is usually given whole), the
//!   delay grows to five minutes: one machine guessing gets a handful of checks per quarter
//!   hour, whatever names it tries.
//! - Per name, the delay is deliberately soft: it stops at `MAX_NAME_DELAY` (15 s). Guesses at
//!   one name from many addresses (a botnet) are still held to one check per 15 s, but they
//!   cannot lock the name's owner out for minutes from an address the server has not seen
//!   her sign in from (those it has seen are spared the name's delay altogether; that list
//!   lives in memory only, so after a restart every address is new).
//! - A throttled attempt is refused before any argon2 check, and again after it waited for
//!   its turn at the check (the single argon2 permit): attempts sent all at once are checked
//!   no faster than attempts sent one after another.
//! - The attempts of one address wait in a line of their own, and only its first waits for
//!   the check with everyone else's: one machine sending many attempts at once cannot fill
//!   the queue that everyone's sign-in waits in. At most `MAX_QUEUED` attempts of one address
//!   stand in its line; more are refused at once. (Many people behind one address signing in
//!   together are served: after the first check of a password, the same password is known.)

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Failures allowed before the first delay.
const FREE_FAILURES: u32 = 3;
/// The first delay, doubled with every further failure.
const FIRST_DELAY: Duration = Duration::from_secs(1);
/// The longest delay of an address.
const MAX_DELAY: Duration = Duration::from_secs(300);
/// The longest delay of a user name: short, so that guesses at a name from many addresses
/// cannot keep its owner out for long (see the module documentation).
const MAX_NAME_DELAY: Duration = Duration::from_secs(15);
/// Attempts of one address that may wait for the argon2 check at once: room for an office
/// behind one NAT address signing in together, not for a flood.
const MAX_QUEUED: u32 = 64;
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
    /// How long after the last failure the next attempt must wait, at most `max`.
    fn delay(&self, max: Duration) -> Duration {
        match self.count.checked_sub(FREE_FAILURES + 1) {
            None => Duration::ZERO,
            Some(extra) => FIRST_DELAY
                .saturating_mul(2u32.saturating_pow(extra.min(16)))
                .min(max),
        }
    }

    fn wait(&self, now: Instant, max: Duration) -> Option<Duration> {
        let until = self.last + self.delay(max);
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
    /// The line of each address with attempts waiting for the argon2 check now.
    queued: HashMap<IpAddr, Line>,
}

/// The attempts of one address waiting for the argon2 check: how many, and the turn they
/// take one at a time.
struct Line {
    waiting: u32,
    turn: Arc<tokio::sync::Mutex<()>>,
}

/// The throttle of a server.
pub(crate) struct Throttle {
    tables: Mutex<Tables>,
}

/// The client an address stands for: an IPv4 address, or the /64 of an IPv6 one (RFC 6177:
/// a site is given a /64 at least, so one machine may hold any address in it).
pub(crate) fn client(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V4(_) => addr,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !u128::from(u64::MAX)).into()),
        },
    }
}

impl Throttle {
    pub(crate) fn new() -> Self {
        Throttle {
            tables: Mutex::new(Tables {
                by_addr: Table::new(MEMORY),
                by_name: Table::new(MEMORY),
                trusted: Table::new(TRUST),
                queued: HashMap::new(),
            }),
        }
    }

    /// How long `addr` must wait before trying `name` again; `None` when it may try now.
    pub(crate) fn wait(&self, name: &str, addr: IpAddr) -> Option<Duration> {
        self.wait_at(name, addr, Instant::now())
    }

    fn wait_at(&self, name: &str, addr: IpAddr, now: Instant) -> Option<Duration> {
        let addr = client(addr);
        let tables = self.tables.lock().ok()?;
        let by_addr = tables
            .by_addr
            .get(&addr, now)
            .and_then(|f| f.wait(now, MAX_DELAY));
        let trusted = tables.trusted.get(&(name.to_owned(), addr), now).is_some();
        let by_name = if trusted {
            None
        } else {
            tables
                .by_name
                .get(&name.to_owned(), now)
                .and_then(|f| f.wait(now, MAX_NAME_DELAY))
        };
        by_addr.max(by_name)
    }

    /// How long `addr` must wait before its next attempt at a secret that is no one's (the
    /// metrics token): only its own failures count, so wrong guesses from elsewhere never
    /// lock out the holder of the secret.
    pub(crate) fn wait_from(&self, addr: IpAddr) -> Option<Duration> {
        let now = Instant::now();
        let tables = self.tables.lock().ok()?;
        tables
            .by_addr
            .get(&client(addr), now)
            .and_then(|f| f.wait(now, MAX_DELAY))
    }

    /// Records a failed attempt of `addr` at a secret that is no one's (see [`Self::wait_from`]).
    pub(crate) fn failed_from(&self, addr: IpAddr) {
        if let Ok(mut tables) = self.tables.lock() {
            tables.by_addr.fail(&client(addr), Instant::now());
        }
    }

    /// A place for an attempt of `addr` in its address's line for the argon2 check, held
    /// until the returned guard is dropped; `None` when `MAX_QUEUED` attempts of that address
    /// wait already (or the throttle cannot tell). [`Queued::turn`] waits for the front.
    pub(crate) fn queue(&self, addr: IpAddr) -> Option<Queued<'_>> {
        let addr = client(addr);
        let mut tables = self.tables.lock().ok()?;
        let line = tables.queued.entry(addr).or_insert_with(|| Line {
            waiting: 0,
            turn: Arc::new(tokio::sync::Mutex::new(())),
        });
        if line.waiting >= MAX_QUEUED {
            return None;
        }
        line.waiting += 1;
        Some(Queued {
            throttle: self,
            addr,
            turn: Arc::clone(&line.turn),
        })
    }

    /// Records a failed sign-in.
    pub(crate) fn failed(&self, name: &str, addr: IpAddr) {
        self.failed_at(name, addr, Instant::now());
    }

    fn failed_at(&self, name: &str, addr: IpAddr, now: Instant) {
        let addr = client(addr);
        if let Ok(mut tables) = self.tables.lock() {
            tables.by_addr.fail(&addr, now);
            tables.by_name.fail(&name.to_owned(), now);
        }
    }

    /// Records a successful sign-in: this address is trusted for this name from now on.
    pub(crate) fn succeeded(&self, name: &str, addr: IpAddr) {
        let addr = client(addr);
        if let Ok(mut tables) = self.tables.lock() {
            tables
                .trusted
                .fail(&(name.to_owned(), addr), Instant::now());
        }
    }
}

/// An attempt's place in its address's line for the argon2 check (see [`Throttle::queue`]).
pub(crate) struct Queued<'a> {
    throttle: &'a Throttle,
    addr: IpAddr,
    turn: Arc<tokio::sync::Mutex<()>>,
}

impl Queued<'_> {
    /// Waits until the attempts of this address before this one are done (first come, first
    /// served), and holds the front of the line until the returned guard is dropped.
    pub(crate) async fn turn(&self) -> tokio::sync::OwnedMutexGuard<()> {
        Arc::clone(&self.turn).lock_owned().await
    }
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        if let Ok(mut tables) = self.throttle.tables.lock()
            && let Some(line) = tables.queued.get_mut(&self.addr)
        {
            line.waiting = line.waiting.saturating_sub(1);
            if line.waiting == 0 {
                tables.queued.remove(&self.addr);
            }
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
    fn guesses_at_one_name_from_everywhere_keep_its_owner_out_for_seconds_only() {
        let throttle = Throttle::new();
        let now = Instant::now();
        // A botnet: two hundred addresses, each guessing alice's password twice.
        for n in 0..200u32 {
            let addr = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + n));
            throttle.failed_at("alice", addr, now);
            throttle.failed_at("alice", addr, now);
        }
        // Alice, from an address never seen before, waits at most the name's cap ...
        let wait = throttle.wait_at("alice", ip(7), now).unwrap();
        assert_eq!(wait, MAX_NAME_DELAY);
        assert!(MAX_NAME_DELAY <= Duration::from_secs(30));
        assert_eq!(throttle.wait_at("alice", ip(7), now + MAX_NAME_DELAY), None);
        // ... while one address guessing many names is held for minutes.
        for n in 0..40 {
            throttle.failed_at(&format!("user{n}"), ip(1), now);
        }
        assert_eq!(throttle.wait_at("bob", ip(1), now), Some(MAX_DELAY));
    }

    #[test]
    fn the_addresses_of_one_ipv6_network_are_one_client() {
        let throttle = Throttle::new();
        let now = Instant::now();
        for n in 0..10u16 {
            let addr = IpAddr::from([0x2001, 0xdb8, 0, 1, 0, 0, 0, n]);
            throttle.failed_at(&format!("user{n}"), addr, now);
        }
        let same_net = IpAddr::from([0x2001, 0xdb8, 0, 1, 0xffff, 1, 2, 3]);
        let other_net = IpAddr::from([0x2001, 0xdb8, 0, 2, 0, 0, 0, 1]);
        assert!(throttle.wait_at("carol", same_net, now).is_some());
        assert_eq!(throttle.wait_at("carol", other_net, now), None);
    }

    #[tokio::test]
    async fn the_attempts_of_one_address_take_their_turn_one_at_a_time() {
        let throttle = Throttle::new();
        let (first, second) = (
            throttle.queue(ip(1)).unwrap(),
            throttle.queue(ip(1)).unwrap(),
        );
        let front = first.turn().await;
        // The second waits while the first holds the front; another address does not.
        let waited = tokio::time::timeout(Duration::from_millis(50), second.turn()).await;
        assert!(
            waited.is_err(),
            "two attempts of one address at the check at once"
        );
        let other = throttle.queue(ip(2)).unwrap();
        let _other_front = tokio::time::timeout(Duration::from_millis(50), other.turn())
            .await
            .unwrap();
        drop(front);
        let _second_front = tokio::time::timeout(Duration::from_millis(50), second.turn())
            .await
            .unwrap();
    }

    #[test]
    fn an_address_may_have_only_a_few_attempts_waiting_for_the_check() {
        let throttle = Throttle::new();
        let held: Vec<_> = (0..MAX_QUEUED)
            .map(|_| throttle.queue(ip(1)).unwrap())
            .collect();
        assert!(throttle.queue(ip(1)).is_none());
        // Other addresses still queue.
        assert!(throttle.queue(ip(2)).is_some());
        drop(held);
        assert!(throttle.queue(ip(1)).is_some());
        assert!(throttle.tables.lock().unwrap().queued.is_empty());
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
