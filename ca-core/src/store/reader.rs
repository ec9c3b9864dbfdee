//! Reads of many rows from a SQLite log (lists, the CRL's revocations) on one connection of
//! their own (rusqlite), on a blocking thread: through sqlx's SQLite driver every value of
//! every row is copied and the row handed from the connection's worker thread to the caller,
//! which cost a list of thousands of rows more than SQLite's own work. The connection is
//! opened at the first read and kept. A log this connection cannot read (a read-only folder,
//! where SQLite cannot make the write-ahead log's index) is read through the pool instead.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::error::{Error, Result, StoreError};

/// How long a read waits for SQLite's locks, as the pool's connections do.
const BUSY_TIMEOUT: Duration = Duration::from_secs(60);

/// The reading connection of one SQLite log.
#[derive(Clone, Debug)]
pub(super) struct Reader {
    path: PathBuf,
    /// `None` inside until opened; `Some(None)` once opening failed.
    connection: Arc<Mutex<Option<Option<Connection>>>>,
}

impl Reader {
    pub(super) fn new(path: &Path) -> Self {
        Reader {
            path: path.to_owned(),
            connection: Arc::default(),
        }
    }

    /// Runs `read` on the connection, on a blocking thread; `None` when the log cannot be
    /// read this way (the caller reads it through the pool).
    ///
    /// On a current-thread runtime (a command's, not the server's) the read runs on the
    /// caller's thread: that thread has nothing else to do meanwhile, and a thread of its own
    /// would build the rows in a heap of its own, which glibc grows a page at a time (a
    /// thousand `mprotect` calls for a list of thousands of rows).
    pub(super) async fn read<T, F>(&self, read: F) -> Result<Option<T>>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let path = self.path.clone();
        let connection = self.connection.clone();
        let run = move || {
            let mut slot = connection
                .lock()
                .map_err(|_| StoreError::Read("the reader failed before".into()))?;
            let open = slot.get_or_insert_with(|| open(&path));
            match open {
                Some(connection) => read(connection).map(Some),
                None => Ok(None),
            }
        };
        if crate::on_current_thread() {
            return run();
        }
        tokio::task::spawn_blocking(run)
            .await
            .map_err(|err| Error::from(StoreError::Read(err.to_string())))?
    }

    /// Closes the connection (see [`super::changes::Changes::close`]); reads after it go
    /// through the pool.
    pub(super) fn close(&self) {
        if let Ok(mut slot) = self.connection.lock() {
            *slot = Some(None);
        }
    }
}

/// A read-only connection to the log at `path` that can read it, or `None`.
fn open(path: &Path) -> Option<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let connection = Connection::open_with_flags(path, flags).ok()?;
    connection.busy_timeout(BUSY_TIMEOUT).ok()?;
    connection
        .query_row("SELECT 1 FROM sqlite_master LIMIT 1", [], |_| Ok(()))
        .ok()?;
    Some(connection)
}

/// A SQLite error of a read, as the store reports it.
pub(super) fn failed(err: &rusqlite::Error) -> Error {
    StoreError::Read(err.to_string()).into()
}
