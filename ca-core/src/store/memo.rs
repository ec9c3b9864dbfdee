//! What nearly every request reads (the settings, and the state of the user it comes from),
//! kept in memory while the log's settings counter (see [`super::changes`]) reads the same, so
//! that a request reads it from the log only when something was committed since that could
//! have changed it.
//!
//! Each value was read after a look at the counter that read the value the memo is tagged
//! with, and is handed out only while a look made after the request arrived reads that same
//! value: any commit by any process (a setting changed, a user disabled) in between makes the
//! next request read the log again, so what it gets is what the log holds. The one exception
//! is this process's own issuance groups, written by its writer thread, which the counter
//! knows to write no setting and no user (see [`super::changes::Vouches`]). Without a counter
//! (PostgreSQL, where a commit may come from another node) every read goes to the log.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// The most users' states kept; past it the memo starts over.
const MAX_USERS: usize = 1024;

/// The settings and users' states read since the counter last moved. The lock is never held
/// across a read of the log (a read waits for a connection of the pool, which a caller
/// waiting for this lock may hold).
#[derive(Debug, Default)]
pub(super) struct Memo {
    kept: Mutex<Kept>,
}

#[derive(Debug, Default)]
struct Kept {
    /// The change counter the values were read after.
    version: Option<i64>,
    /// Every row of the settings table.
    settings: Option<Arc<Vec<(String, String)>>>,
    /// A user's generation and whether it is disabled, by name (`None`: no such user).
    users: HashMap<String, Option<(i64, bool)>>,
}

impl Memo {
    /// The values kept for the counter `version`, emptied first when it moved.
    fn at(&self, version: i64) -> MutexGuard<'_, Kept> {
        let mut kept = self
            .kept
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if kept.version != Some(version) {
            kept.version = Some(version);
            kept.settings = None;
            kept.users.clear();
        }
        kept
    }

    /// Every setting, if kept for `version` (read by a look that began after the request
    /// arrived).
    pub(super) fn settings(&self, version: i64) -> Option<Arc<Vec<(String, String)>>> {
        self.at(version).settings.clone()
    }

    /// Keeps every setting, read from the log after a look that read `version`.
    pub(super) fn keep_settings(&self, version: i64, settings: Arc<Vec<(String, String)>>) {
        self.at(version).settings = Some(settings);
    }

    /// A user's state, if kept for `version`: `Some(None)` when the user did not exist.
    pub(super) fn user(&self, version: i64, name: &str) -> Option<Option<(i64, bool)>> {
        self.at(version).users.get(name).copied()
    }

    /// Keeps a user's state, read from the log after a look that read `version`, making room
    /// when the memo is full.
    pub(super) fn keep_user(&self, version: i64, name: &str, state: Option<(i64, bool)>) {
        let mut kept = self.at(version);
        if kept.users.len() >= MAX_USERS {
            kept.users.clear();
        }
        kept.users.insert(name.to_owned(), state);
    }
}
