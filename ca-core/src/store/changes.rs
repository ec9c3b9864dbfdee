//! Whether the log changed: SQLite's `PRAGMA data_version`, read on one connection of its own
//! that never writes, changes whenever any other connection, of this process or another,
//! commits. What the authority keeps in memory from the log (the OCSP answers) holds for as
//! long as it reads the same.
//!
//! The connection is opened with rusqlite, not through the pool: a query through sqlx's
//! worker thread costs more than the lookup it guards, where this is a call of a few
//! microseconds on the caller's thread.

use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};

/// How long a look waits for SQLite's locks before the caller reads the log instead.
const LOOK_TIMEOUT: Duration = Duration::from_secs(1);

/// The change counter of one log, its connection opened at the first look.
#[derive(Clone, Debug, Default)]
pub(super) struct Changes {
    watch: Arc<OnceLock<Option<Mutex<Watch>>>>,
}

#[derive(Debug)]
struct Watch {
    connection: Connection,
    /// When the last look began, and what it read.
    looked: Option<(Instant, i64)>,
}

impl Changes {
    /// The counter as a look that began after `since` read it; `None` when it cannot be read.
    /// Callers that arrive while a look is under way share the next one, so that one
    /// connection serves any number of them.
    pub(super) fn read(&self, path: &Path, since: Instant) -> Option<i64> {
        let watch = self.watch.get_or_init(|| open(path).map(Mutex::new));
        let mut watch = watch.as_ref()?.lock().ok()?;
        if let Some((began, version)) = watch.looked
            && began > since
        {
            return Some(version);
        }
        let began = Instant::now();
        let read = watch
            .connection
            .prepare_cached("PRAGMA data_version")
            .and_then(|mut statement| statement.query_row([], |row| row.get::<_, i64>(0)));
        match read {
            Ok(version) => {
                watch.looked = Some((began, version));
                Some(version)
            }
            Err(err) => {
                tracing::debug!(%err, "could not read the log's data version");
                watch.looked = None;
                None
            }
        }
    }
}

/// A read-only connection to the log at `path`; `None` when SQLite cannot open one (the
/// answers are then read from the log each time).
fn open(path: &Path) -> Option<Watch> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let opened = Connection::open_with_flags(path, flags).and_then(|connection| {
        connection.busy_timeout(LOOK_TIMEOUT)?;
        Ok(connection)
    });
    match opened {
        Ok(connection) => Some(Watch {
            connection,
            looked: None,
        }),
        Err(err) => {
            tracing::warn!(%err, path = %path.display(), "could not open the log to watch for changes; OCSP answers are read from it each time");
            None
        }
    }
}
