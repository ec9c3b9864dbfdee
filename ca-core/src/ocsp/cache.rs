//! The responses signed ahead that answers were last given from, in memory, so that an answer
//! is a lookup and not a query of the log. They are found by the request's DER as it came:
//! clients send the same bytes for the same certificate, and a hit needs no parsing.
//!
//! Each entry was read from the log after the log's change counter (see the store's `changes`
//! module) read the value the cache is tagged with; an entry is handed out only while a look
//! made after the request arrived reads that same value. Any commit by any process (a
//! revocation by a command, a response signed anew, a second server on the same log) changes
//! the counter, and the cache starts over: a revocation is answered at once, as from the log.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use time::OffsetDateTime;

use crate::revoke::Revocation;
use crate::store::PresignedResponse;

/// The most responses kept in memory (about 1 KiB each); past it the cache starts over.
const CAPACITY: usize = 8192;

/// A response signed ahead, its SHA-256, and the revocation the log held when it was read.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) revocation: Option<Revocation>,
    pub(crate) kept: PresignedResponse,
    pub(crate) sha256: [u8; 32],
}

impl Entry {
    /// True while the response may be handed out: the rule of the log (`is_current`).
    pub(crate) fn is_current(&self, now: OffsetDateTime) -> bool {
        self.kept.is_current(self.revocation.as_ref(), now)
    }
}

/// Responses by the DER of the request (one certificate, no nonce) they answer.
#[derive(Debug, Default)]
pub(crate) struct AnswerCache {
    kept: Mutex<Kept>,
}

#[derive(Debug, Default)]
struct Kept {
    /// The change counter every entry was read after.
    version: Option<i64>,
    entries: HashMap<Box<[u8]>, Arc<Entry>>,
}

impl AnswerCache {
    /// The entry for `request`, when the log's change counter, read after the request
    /// arrived, is still `version`. A new `version` empties the cache.
    pub(crate) fn get(&self, version: i64, request: &[u8]) -> Option<Arc<Entry>> {
        let mut kept = self.kept.lock().ok()?;
        if kept.version != Some(version) {
            kept.entries.clear();
            kept.version = Some(version);
            return None;
        }
        kept.entries.get(request).cloned()
    }

    /// Keeps `entry` for `request`: it was read from the log after the change counter read
    /// `version`. Dropped when the cache has moved on to another version.
    pub(crate) fn insert(&self, version: i64, request: &[u8], entry: Entry) {
        let Ok(mut kept) = self.kept.lock() else {
            return;
        };
        if kept.version != Some(version) {
            return;
        }
        if kept.entries.len() >= CAPACITY {
            kept.entries.clear();
        }
        kept.entries.insert(request.into(), Arc::new(entry));
    }

    /// How many responses it holds, for tests.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.kept.lock().map(|kept| kept.entries.len()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use time::Duration;

    use super::*;

    fn entry() -> Entry {
        let this_update = OffsetDateTime::now_utc() - Duration::hours(1);
        Entry {
            revocation: None,
            kept: PresignedResponse {
                der: vec![0x30, 0x00],
                this_update,
                next_update: this_update + Duration::days(4),
                revoked_at: None,
                reason: None,
            },
            sha256: [0; 32],
        }
    }

    #[test]
    fn entries_hold_only_while_the_log_reads_the_same() {
        let cache = AnswerCache::default();
        assert!(cache.get(7, b"id").is_none());
        cache.insert(7, b"id", entry());
        assert!(cache.get(7, b"id").is_some());
        assert!(cache.get(7, b"other").is_none());
        assert!(cache.get(8, b"id").is_none(), "the log changed");
        assert!(cache.get(8, b"id").is_none(), "and it started over");
    }

    #[test]
    fn an_entry_read_before_the_log_changed_is_not_kept() {
        let cache = AnswerCache::default();
        assert!(cache.get(7, b"id").is_none());
        // Another request saw the log change while this one read it.
        assert!(cache.get(8, b"id").is_none());
        cache.insert(7, b"id", entry());
        assert!(cache.get(8, b"id").is_none());
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn a_full_cache_starts_over() {
        let cache = AnswerCache::default();
        cache.get(1, b"");
        for n in 0..CAPACITY {
            cache.insert(1, &n.to_be_bytes(), entry());
        }
        assert_eq!(cache.len(), CAPACITY);
        cache.insert(1, b"one more", entry());
        assert_eq!(cache.len(), 1);
        assert!(cache.get(1, b"one more").is_some());
    }
}
